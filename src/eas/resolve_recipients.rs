//! ResolveRecipients (MS-ASCMD 2.2.1.15): each To is resolved against the user's address book
//! (GAL, [`crate::store::gal`]) and the user's own contacts. One match (or an exact address)
//! resolves; several are answered as ambiguous suggestions, capped by MaxAmbiguousRecipients;
//! none as unresolved. Options: CertificateRetrieval (easd stores no S/MIME certificates, so a
//! resolved recipient carries the "no valid certificate" status), Picture (14.1+) and
//! Availability (14.0+; free/busy is not served yet, so its status says it could not be
//! retrieved).

use super::picture::PictureBudget;
use super::{CommandError, ProtocolVersion, Reply, Request};
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
    /// Availability: free/busy data could not be retrieved.
    pub const FREE_BUSY_FAILED: &str = "163";
}

/// Most To elements one request may carry (MS-ASCMD: 100).
const MAX_TO: usize = 100;
/// Suggestions for an ambiguous name when the client sets no MaxAmbiguousRecipients.
const DEFAULT_MAX_AMBIGUOUS: usize = 20;
/// The largest MaxAmbiguousRecipients honoured (MS-ASCMD: 0 to 9999).
const LIMIT_MAX_AMBIGUOUS: usize = 9999;

/// Type of a Recipient: from the GAL or from the user's contacts.
const TYPE_GAL: &str = "1";
const TYPE_CONTACT: &str = "2";

struct Options {
    certificates: bool,
    max_ambiguous: usize,
    availability: bool,
    picture: Option<PictureBudget>,
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

/// `None` when an option is not a number where one is required.
fn parse_options(request: &Request, options: Option<&Element>) -> Option<Options> {
    let Some(options) = options else {
        return Some(Options {
            certificates: false,
            max_ambiguous: DEFAULT_MAX_AMBIGUOUS,
            availability: false,
            picture: None,
        });
    };
    let number = |tag| -> Result<Option<usize>, ()> {
        match options.child_text(tag) {
            Some(text) => text.trim().parse().map(Some).map_err(|_| ()),
            None => Ok(None),
        }
    };
    let retrieval = number(rr::CERTIFICATE_RETRIEVAL).ok()?;
    if retrieval.is_some_and(|r| !(1..=3).contains(&r)) {
        return None;
    }
    let max_ambiguous = number(rr::MAX_AMBIGUOUS_RECIPIENTS)
        .ok()?
        .unwrap_or(DEFAULT_MAX_AMBIGUOUS)
        .min(LIMIT_MAX_AMBIGUOUS);
    let availability =
        options.child(rr::AVAILABILITY).is_some() && request.version >= ProtocolVersion::V14_0;
    let picture = options
        .child(rr::PICTURE)
        .filter(|_| request.version >= ProtocolVersion::V14_1)
        .map(|p| PictureBudget::new(p.child_text(rr::MAX_SIZE), p.child_text(rr::MAX_PICTURES)));
    Some(Options {
        certificates: retrieval.is_some_and(|r| r > 1),
        max_ambiguous,
        availability,
        picture,
    })
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
        if options.availability {
            let mut availability = Element::new(rr::AVAILABILITY);
            availability.push_text(rr::STATUS, status::FREE_BUSY_FAILED);
            recipient.push(availability);
        }
        // Certificates go only with a resolved recipient, never with suggestions.
        if options.certificates && code == status::SUCCESS {
            let mut certificates = Element::new(rr::CERTIFICATES);
            certificates.push_text(rr::STATUS, status::NO_VALID_CERTIFICATE);
            certificates.push_text(rr::CERTIFICATE_COUNT, "0");
            recipient.push(certificates);
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
