//! ResolveRecipients (MS-ASCMD 2.2.1.15): each To is resolved against the user's address book
//! (GAL, [`crate::store::gal`]) and the user's own contacts. One match (or an exact address)
//! resolves; several are answered as ambiguous suggestions, capped by MaxAmbiguousRecipients;
//! none as unresolved. Options:
//!
//! - CertificateRetrieval: the S/MIME certificates stored for the recipient (by the
//!   administrator or the user, [`crate::store::certificates`]) that are valid now — all of
//!   them (2) or one as the MiniCertificate (3), within MaxCertificates for the whole answer.
//!   Only a resolved recipient gets certificates, never a suggestion.
//! - Availability (14.0+): for a resolved recipient who is a user of the requester's domain
//!   on this server, the MergedFreeBusy of StartTime..EndTime from that user's calendars
//!   ([`crate::calendar::free_busy`]: times and busy levels only); anyone else gets the
//!   "free/busy could not be retrieved" status. A range longer than the 32 KB a
//!   MergedFreeBusy may hold is a protocol error.
//! - Picture (14.1+), MaxAmbiguousRecipients.
//!
//! The MiniCertificate blob's format is not published (MS-ASCMD only names it); easd sends the
//! recipient's current certificate there, DER in base64, which is what a client can use.

use base64::Engine;

use super::picture::PictureBudget;
use super::sync::class::parse_eas_datetime;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::calendar::free_busy::{busy_intervals, merged_free_busy, slot_count};
use crate::store::certificates::StoredCertificate;
use crate::store::gal::{bare_address, GalEntry};
use crate::wbxml::{tag::resolve_recipients as rr, Element};

/// ResolveRecipients Status values (MS-ASCMD 2.2.3.177.11).
mod status {
    pub const SUCCESS: &str = "1";
    pub const AMBIGUOUS: &str = "2";
    pub const AMBIGUOUS_PARTIAL: &str = "3";
    pub const UNRESOLVED: &str = "4";
    pub const PROTOCOL_ERROR: &str = "5";
    /// Certificates: the recipient has no valid S/MIME certificate.
    pub const NO_VALID_CERTIFICATE: &str = "7";
    /// Certificates: MaxCertificates for the whole answer was reached.
    pub const CERTIFICATE_LIMIT: &str = "8";
    /// Availability: more than 100 recipients asked for.
    pub const TOO_MANY_FOR_AVAILABILITY: &str = "160";
    /// Availability: free/busy data could not be retrieved.
    pub const FREE_BUSY_FAILED: &str = "163";
}

/// Most To elements one request may carry (MS-ASCMD: more than 1000 is undefined).
const MAX_TO: usize = 1000;
/// Most To elements that get free/busy data (MS-ASCMD: Status 160 beyond).
const MAX_AVAILABILITY_TO: usize = 100;
/// Longest MergedFreeBusy (MS-ASCMD 2.2.3.107: 32 KB, one digit per 30 minutes).
const MAX_FREE_BUSY_SLOTS: i64 = 32 * 1024;
/// The largest MaxCertificates (MS-ASCMD: 0 to 9999), also the default.
const LIMIT_MAX_CERTIFICATES: usize = 9999;
/// Suggestions for an ambiguous name when the client sets no MaxAmbiguousRecipients.
const DEFAULT_MAX_AMBIGUOUS: usize = 20;
/// The largest MaxAmbiguousRecipients honoured (MS-ASCMD: 0 to 9999).
const LIMIT_MAX_AMBIGUOUS: usize = 9999;

/// Type of a Recipient: from the GAL or from the user's contacts.
const TYPE_GAL: &str = "1";
const TYPE_CONTACT: &str = "2";

/// What CertificateRetrieval asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retrieval {
    None,
    Full,
    Mini,
}

struct Options {
    retrieval: Retrieval,
    /// Certificates still allowed in this answer (MaxCertificates).
    certificates_left: usize,
    max_ambiguous: usize,
    /// The free/busy range asked for (Unix seconds, end exclusive).
    availability: Option<(i64, i64)>,
    /// More To elements than free/busy is given for.
    too_many_for_availability: bool,
    picture: Option<PictureBudget>,
    now: i64,
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == rr::RESOLVE_RECIPIENTS) else {
        return Ok(Reply::HttpStatus(400));
    };
    let names: Vec<String> = body
        .children_with(rr::TO)
        .map(|to| to.text().unwrap_or_default().trim().to_string())
        .collect();
    let Some(mut options) = parse_options(request, body.child(rr::OPTIONS)) else {
        return Ok(protocol_error());
    };
    options.too_many_for_availability = names.len() > MAX_AVAILABILITY_TO;
    if names.is_empty() || names.len() > MAX_TO || names.iter().any(String::is_empty) {
        return Ok(protocol_error());
    }
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    doc.push_text(rr::STATUS, status::SUCCESS);
    for name in &names {
        let response = resolve(request, name, &mut options)?;
        doc.push(response);
    }
    Ok(Reply::Document(doc))
}

fn protocol_error() -> Reply {
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    doc.push_text(rr::STATUS, status::PROTOCOL_ERROR);
    Reply::Document(doc)
}

/// `None` when an option is out of range or not a number where one is required, or the
/// Availability range is missing, reversed or too long.
fn parse_options(request: &Request, options: Option<&Element>) -> Option<Options> {
    let mut parsed = Options {
        retrieval: Retrieval::None,
        certificates_left: LIMIT_MAX_CERTIFICATES,
        max_ambiguous: DEFAULT_MAX_AMBIGUOUS,
        availability: None,
        too_many_for_availability: false,
        picture: None,
        now: crate::store::now(),
    };
    let Some(options) = options else {
        return Some(parsed);
    };
    let number = |tag| -> Result<Option<usize>, ()> {
        match options.child_text(tag) {
            Some(text) => text.trim().parse().map(Some).map_err(|_| ()),
            None => Ok(None),
        }
    };
    parsed.retrieval = match number(rr::CERTIFICATE_RETRIEVAL).ok()? {
        None | Some(1) => Retrieval::None,
        Some(2) => Retrieval::Full,
        Some(3) => Retrieval::Mini,
        Some(_) => return None,
    };
    if let Some(max) = number(rr::MAX_CERTIFICATES).ok()? {
        if max > LIMIT_MAX_CERTIFICATES {
            return None;
        }
        parsed.certificates_left = max;
    }
    parsed.max_ambiguous = number(rr::MAX_AMBIGUOUS_RECIPIENTS)
        .ok()?
        .unwrap_or(DEFAULT_MAX_AMBIGUOUS)
        .min(LIMIT_MAX_AMBIGUOUS);
    if let Some(availability) = options
        .child(rr::AVAILABILITY)
        .filter(|_| request.version >= ProtocolVersion::V14_0)
    {
        let time = |tag| parse_eas_datetime(availability.child_text(tag)?.trim());
        let (start, end) = (time(rr::START_TIME)?, time(rr::END_TIME)?);
        if end <= start || slot_count(start, end) > MAX_FREE_BUSY_SLOTS {
            return None;
        }
        parsed.availability = Some((start, end));
    }
    parsed.picture = options
        .child(rr::PICTURE)
        .filter(|_| request.version >= ProtocolVersion::V14_1)
        .map(|p| PictureBudget::new(p.child_text(rr::MAX_SIZE), p.child_text(rr::MAX_PICTURES)));
    Some(parsed)
}

/// The candidates for one name: GAL entries first, then own contacts with another address.
fn candidates(
    request: &Request,
    name: &str,
) -> Result<Vec<(&'static str, GalEntry)>, CommandError> {
    let address = bare_address(name);
    let query = if address.contains('@') {
        address.as_str()
    } else {
        name
    };
    let mut found: Vec<(&'static str, GalEntry)> = Vec::new();
    // Every match: ambiguity and the exact address need them all.
    let gal = request
        .store
        .gal_search(request.user, query, 0, usize::MAX)?
        .entries;
    let contacts = request
        .store
        .own_contacts_matching(request.user.id, query)?;
    let tagged = gal
        .into_iter()
        .map(|e| (TYPE_GAL, e))
        .chain(contacts.into_iter().map(|e| (TYPE_CONTACT, e)));
    for (kind, entry) in tagged {
        if entry.email.is_empty() || found.iter().any(|(_, e)| e.email == entry.email) {
            continue;
        }
        found.push((kind, entry));
    }
    // An exact address names one person, however many others share its prefix.
    if let Some(exact) = found.iter().position(|(_, e)| e.email == address) {
        let chosen = found.swap_remove(exact);
        return Ok(vec![chosen]);
    }
    Ok(found)
}

fn resolve(request: &Request, name: &str, options: &mut Options) -> Result<Element, CommandError> {
    let found = candidates(request, name)?;
    let (code, shown) = match found.len() {
        0 => (status::UNRESOLVED, &found[..0]),
        1 => (status::SUCCESS, &found[..]),
        n if n <= options.max_ambiguous => (status::AMBIGUOUS, &found[..]),
        _ => (status::AMBIGUOUS_PARTIAL, &found[..options.max_ambiguous]),
    };
    let mut response = Element::new(rr::RESPONSE);
    response.push_text(rr::TO, name);
    response.push_text(rr::STATUS, code);
    response.push_text(rr::RECIPIENT_COUNT, shown.len().to_string());
    for (kind, entry) in shown {
        let mut recipient = Element::new(rr::RECIPIENT);
        recipient.push_text(rr::TYPE, *kind);
        recipient.push_text(rr::DISPLAY_NAME, entry.display_name.as_str());
        recipient.push_text(rr::EMAIL_ADDRESS, entry.email.as_str());
        // Free/busy and certificates go only with a resolved recipient, never with
        // suggestions.
        if code == status::SUCCESS {
            if let Some(range) = options.availability {
                recipient.push(availability(request, entry, range, options)?);
            }
            if options.retrieval != Retrieval::None {
                recipient.push(certificates(request, entry, options)?);
            }
        }
        if let Some(budget) = options.picture.as_mut() {
            let (picture_status, data) = budget.take(entry.photo.as_deref());
            let mut picture = Element::new(rr::PICTURE);
            picture.push_text(rr::STATUS, picture_status);
            if let Some(data) = data {
                picture.push_opaque(rr::DATA, data.to_vec());
            }
            recipient.push(picture);
        }
        response.push(recipient);
    }
    Ok(response)
}

/// The Availability of a resolved recipient: the MergedFreeBusy of a user of the requester's
/// domain, or the status that it could not be retrieved.
fn availability(
    request: &Request,
    entry: &GalEntry,
    (start, end): (i64, i64),
    options: &Options,
) -> Result<Element, CommandError> {
    let mut element = Element::new(rr::AVAILABILITY);
    if options.too_many_for_availability {
        element.push_text(rr::STATUS, status::TOO_MANY_FOR_AVAILABILITY);
        return Ok(element);
    }
    let local = request
        .store
        .user_by_email(&entry.email)?
        .filter(|user| user.domain == request.user.domain);
    let Some(user) = local else {
        element.push_text(rr::STATUS, status::FREE_BUSY_FAILED);
        return Ok(element);
    };
    let busy = busy_intervals(request.store, user.id, start, end)?;
    element.push_text(rr::STATUS, status::SUCCESS);
    element.push_text(rr::MERGED_FREE_BUSY, merged_free_busy(&busy, start, end));
    Ok(element)
}

/// The Certificates of a resolved recipient: the stored certificates valid now, all or one
/// (MiniCertificate), within what MaxCertificates leaves for this answer.
fn certificates(
    request: &Request,
    entry: &GalEntry,
    options: &mut Options,
) -> Result<Element, CommandError> {
    let valid: Vec<StoredCertificate> = request
        .store
        .certificates_of_address(&entry.email)?
        .into_iter()
        .filter(|c| c.is_valid_at(options.now))
        .collect();
    let chosen: &[StoredCertificate] = match options.retrieval {
        Retrieval::Mini => &valid[..valid.len().min(1)],
        _ => &valid,
    };
    let mut element = Element::new(rr::CERTIFICATES);
    let base64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    if chosen.is_empty() {
        element.push_text(rr::STATUS, status::NO_VALID_CERTIFICATE);
        element.push_text(rr::CERTIFICATE_COUNT, "0");
        element.push_text(rr::RECIPIENT_COUNT, "1");
    } else if chosen.len() > options.certificates_left {
        // Over the answer's limit: none of them, and how many were left out.
        element.push_text(rr::STATUS, status::CERTIFICATE_LIMIT);
        element.push_text(rr::CERTIFICATE_COUNT, chosen.len().to_string());
        element.push_text(rr::RECIPIENT_COUNT, "1");
    } else {
        options.certificates_left -= chosen.len();
        element.push_text(rr::STATUS, status::SUCCESS);
        element.push_text(rr::CERTIFICATE_COUNT, chosen.len().to_string());
        element.push_text(rr::RECIPIENT_COUNT, "1");
        for certificate in chosen {
            let tag = match options.retrieval {
                Retrieval::Mini => rr::MINI_CERTIFICATE,
                _ => rr::CERTIFICATE,
            };
            element.push_text(tag, base64(&certificate.der));
        }
    }
    Ok(element)
}
