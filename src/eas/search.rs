//! Search (MS-ASCMD 2.2.1.16). Store=GAL: the address book (Query, Range, Total and the
//! Picture option, 14.1+), entries from [`crate::store::gal`]. Store=Mailbox: the user's mail
//! through the full-text index ([`crate::store::mail_search`]), the query read by
//! [`super::mail_query`] (And, FreeText, Class, CollectionId, ConversationId, GreaterThan /
//! LessThan on DateReceived), with Range, DeepTraversal, RebuildResults (every search runs
//! afresh: nothing is cached that could be stale), BodyPreference, BodyPartPreference (with a
//! ConversationId), MIMESupport and RightsManagementSupport (easd holds no
//! rights-protected mail, so there is nothing to unprotect). Each mail result is the message
//! as Sync would send it, with a LongId — the item's ServerId, which ItemOperations Fetch,
//! SmartReply and SmartForward accept. DocumentLibrary is not offered: its Store carries the
//! server-error status. This module only reads the request and writes the answer.

use super::item_operations::{item_fields, parse_options};
use super::mail_query::{self, Problem};
use super::picture::PictureBudget;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::mime::BodyKind;
use crate::store::gal::GalEntry;
use crate::store::ItemClass;
use crate::wbxml::tag::{airsync, airsyncbase as base, gal, rights_management as rm};
use crate::wbxml::{tag::search as s, Element, Tag};

/// Search Status values (MS-ASCMD 2.2.3.177.13), for the Search and the Store element.
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_REQUEST: &str = "2";
    pub const SERVER_ERROR: &str = "3";
    pub const TOO_COMPLEX: &str = "8";
    pub const FOLDER_SYNC_REQUIRED: &str = "11";
    /// The requested range starts past the last result.
    pub const END_OF_RANGE: &str = "12";
}

/// The range when the client names none (MS-ASCMD: "0-99").
const DEFAULT_RANGE: (usize, usize) = (0, 99);
/// Most entries one answer carries, whatever range is asked for.
const MAX_RESULTS: usize = 100;
/// Longest Query accepted (MS-ASCMD: up to 256 characters).
const MAX_QUERY_CHARS: usize = 256;
/// airsyncbase:BodyPart Status "success" (MS-ASAIRS 2.2.2.37).
const BODY_PART_SUCCESS: &str = "1";
/// Bytes of HTML read to make a BodyPart preview of at most 255 characters.
const PREVIEW_SOURCE_BYTES: usize = 8 * 1024;
/// The one body part type MS-ASAIRS allows: HTML.
const BODY_PART_HTML: u64 = 2;

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == s::SEARCH) else {
        return Ok(Reply::HttpStatus(400));
    };
    let Some(store) = body.child(s::STORE) else {
        return Ok(Reply::HttpStatus(400));
    };
    let name = store.child_text(s::NAME).unwrap_or_default();
    let name = name.trim();
    let store_answer = if name.eq_ignore_ascii_case("GAL") {
        search_gal(request, store)?
    } else if name.eq_ignore_ascii_case("Mailbox") {
        search_mailbox(request, store)?
    } else {
        // DocumentLibrary (UNC and SharePoint): not offered by this server.
        store_status(status::SERVER_ERROR)
    };
    let mut doc = Element::new(s::SEARCH);
    doc.push_text(s::STATUS, status::SUCCESS);
    let mut response = Element::new(s::RESPONSE);
    response.push(store_answer);
    doc.push(response);
    Ok(Reply::Document(doc))
}

fn store_status(code: &str) -> Element {
    let mut store = Element::new(s::STORE);
    store.push_text(s::STATUS, code);
    store
}

/// Parses "first-last" (both inclusive, first ≤ last).
pub(super) fn parse_range(text: &str) -> Option<(usize, usize)> {
    let (first, last) = text.trim().split_once('-')?;
    let first: usize = first.trim().parse().ok()?;
    let last: usize = last.trim().parse().ok()?;
    (first <= last).then_some((first, last))
}

fn search_gal(request: &Request, store: &Element) -> Result<Element, CommandError> {
    let query = store.child_text(s::QUERY).unwrap_or_default();
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Ok(store_status(status::INVALID_REQUEST));
    }
    let options = store.child(s::OPTIONS);
    let range = match options.and_then(|o| o.child_text(s::RANGE)) {
        Some(text) => match parse_range(&text) {
            Some(range) => range,
            None => return Ok(store_status(status::INVALID_REQUEST)),
        },
        None => DEFAULT_RANGE,
    };
    let picture = options
        .and_then(|o| o.child(s::PICTURE))
        .filter(|_| request.version >= ProtocolVersion::V14_1)
        .map(|p| PictureBudget::new(p.child_text(s::MAX_SIZE), p.child_text(s::MAX_PICTURES)));

    let (first, last) = range;
    let count = (last - first + 1).min(MAX_RESULTS);
    let page = request
        .store
        .gal_search(request.user, query, first, count)?;
    let total = page.total;
    let shown = &page.entries;

    let mut answer = store_status(status::SUCCESS);
    if shown.is_empty() {
        answer.push(Element::new(s::RESULT));
    }
    let mut budget = picture;
    for entry in shown {
        let mut result = Element::new(s::RESULT);
        result.push(gal_properties(s::PROPERTIES, entry, budget.as_mut()));
        answer.push(result);
    }
    if !shown.is_empty() {
        answer.push_text(s::RANGE, format!("{}-{}", first, first + shown.len() - 1));
    }
    answer.push_text(s::TOTAL, total.to_string());
    Ok(answer)
}

/// The gal: properties of one entry, in the order of the GAL code page, inside a
/// `properties_tag` element (Search's or Find's Properties).
pub(super) fn gal_properties(
    properties_tag: Tag,
    entry: &GalEntry,
    picture: Option<&mut PictureBudget>,
) -> Element {
    let mut properties = Element::new(properties_tag);
    properties.push_text(gal::DISPLAY_NAME, entry.display_name.as_str());
    for (tag, value) in [
        (gal::PHONE, &entry.phone),
        (gal::OFFICE, &entry.office),
        (gal::TITLE, &entry.title),
        (gal::COMPANY, &entry.company),
        (gal::ALIAS, &entry.alias),
    ] {
        if !value.is_empty() {
            properties.push_text(tag, value.as_str());
        }
    }
    // Some clients list an entry only when FirstName and LastName are present.
    properties.push_text(gal::FIRST_NAME, entry.first_name.as_str());
    properties.push_text(gal::LAST_NAME, entry.last_name.as_str());
    for (tag, value) in [
        (gal::HOME_PHONE, &entry.home_phone),
        (gal::MOBILE_PHONE, &entry.mobile_phone),
    ] {
        if !value.is_empty() {
            properties.push_text(tag, value.as_str());
        }
    }
    properties.push_text(gal::EMAIL_ADDRESS, entry.email.as_str());
    if let Some(budget) = picture {
        let (code, data) = budget.take(entry.photo.as_deref());
        let mut element = Element::new(gal::PICTURE);
        element.push_text(gal::STATUS, code);
        if let Some(data) = data {
            element.push_opaque(gal::DATA, data.to_vec());
        }
        properties.push(element);
    }
    properties
}

/// The Store status of a query that is not run.
fn problem_status(problem: Problem) -> &'static str {
    match problem {
        Problem::Invalid => status::INVALID_REQUEST,
        Problem::TooComplex => status::TOO_COMPLEX,
        Problem::UnknownFolder => status::FOLDER_SYNC_REQUIRED,
    }
}

/// What BodyPartPreference asks for (MS-ASAIRS 2.2.2.8).
struct BodyPartPreference {
    truncation_size: Option<usize>,
    all_or_none: bool,
    preview: Option<usize>,
}

fn parse_body_part_preference(element: &Element) -> Option<BodyPartPreference> {
    let number = |tag| -> Option<Option<u64>> {
        match element.child_text(tag) {
            None => Some(None),
            Some(text) => text.trim().parse().ok().map(Some),
        }
    };
    if number(base::TYPE)? != Some(BODY_PART_HTML) {
        return None;
    }
    Some(BodyPartPreference {
        truncation_size: number(base::TRUNCATION_SIZE)?.map(|n| n as usize),
        all_or_none: element.child_text(base::ALL_OR_NONE).as_deref() == Some("1"),
        preview: number(base::PREVIEW)?.map(|n| n.min(255) as usize),
    })
}

fn search_mailbox(request: &Request, store: &Element) -> Result<Element, CommandError> {
    let Some(query) = store.child(s::QUERY) else {
        return Ok(store_status(status::INVALID_REQUEST));
    };
    let mut parsed = match mail_query::parse(query, s::FREE_TEXT) {
        Ok(parsed) => parsed,
        Err(problem) => return Ok(store_status(problem_status(problem))),
    };
    let options = store.child(s::OPTIONS);
    let range = match options.and_then(|o| o.child_text(s::RANGE)) {
        Some(text) => match parse_range(&text) {
            Some(range) => range,
            None => return Ok(store_status(status::INVALID_REQUEST)),
        },
        None => DEFAULT_RANGE,
    };
    let deep = options.is_some_and(|o| o.child(s::DEEP_TRAVERSAL).is_some());
    let rights_management = options.and_then(|o| o.child_text(rm::RIGHTS_MANAGEMENT_SUPPORT));
    if rights_management.is_some_and(|v| !matches!(v.trim(), "0" | "1")) {
        return Ok(store_status(status::INVALID_REQUEST));
    }
    let body_part = match options.and_then(|o| o.child(base::BODY_PART_PREFERENCE)) {
        None => None,
        // MS-ASCMD: BodyPartPreference belongs to a search by ConversationId.
        Some(_) if parsed.query.conversation_id.is_none() => {
            return Ok(store_status(status::INVALID_REQUEST));
        }
        Some(element) => match parse_body_part_preference(element) {
            Some(preference) => Some(preference),
            None => return Ok(store_status(status::INVALID_REQUEST)),
        },
    };
    let Some(mut item_options) = parse_options(options) else {
        return Ok(store_status(status::INVALID_REQUEST));
    };
    item_options.capped_by(request.policy, ItemClass::Email);
    parsed.query.folders = match mail_query::searched_folders(request, &parsed.collections, deep)? {
        Ok(folders) => folders,
        Err(problem) => return Ok(store_status(problem_status(problem))),
    };

    let (first, last) = range;
    let count = (last - first + 1).min(MAX_RESULTS);
    let user = request.user.id;
    let found = request
        .store
        .search_mail(user, &parsed.query, first, count)?;
    if first > 0 && first >= found.total {
        let mut answer = store_status(status::END_OF_RANGE);
        answer.push_text(s::TOTAL, found.total.to_string());
        return Ok(answer);
    }
    let mut answer = store_status(status::SUCCESS);
    let mut shown = 0;
    for hit in &found.hits {
        // `easd deliver` may have deleted it between the query and this read.
        let Some(item) = request.store.item(user, hit.item)? else {
            continue;
        };
        let Some(mut fields) = item_fields(request, &item, &item_options)? else {
            continue;
        };
        if let Some(preference) = &body_part {
            fields.push(body_part_element(request, item.id, preference)?);
        }
        let mut result = Element::new(s::RESULT);
        result
            .push_text(airsync::CLASS, item.class.as_str())
            .push_text(s::LONG_ID, item.id.to_string())
            .push_text(airsync::COLLECTION_ID, item.folder_id.to_string());
        let properties = result.push(Element::new(s::PROPERTIES));
        for field in fields {
            properties.push(field);
        }
        answer.push(result);
        shown += 1;
    }
    if shown == 0 {
        answer.push(Element::new(s::RESULT));
    } else {
        answer.push_text(s::RANGE, format!("{}-{}", first, first + shown - 1));
    }
    answer.push_text(s::TOTAL, found.total.to_string());
    Ok(answer)
}

/// The airsyncbase:BodyPart of a message: its HTML text, truncated as asked.
fn body_part_element(
    request: &Request,
    item: crate::store::ItemId,
    preference: &BodyPartPreference,
) -> Result<Element, CommandError> {
    // One byte more than the truncation tells whether there is more; the preview may need
    // more text than the truncated data holds.
    let limit = preference
        .truncation_size
        .map_or(usize::MAX, |n| (n + 1).max(PREVIEW_SOURCE_BYTES));
    let html = request
        .store
        .body_text(request.user.id, item, BodyKind::Html, limit)?
        .unwrap_or_default();
    let html_size = request
        .store
        .message_bodies(request.user.id, item)?
        .iter()
        .filter(|b| b.kind == BodyKind::Html)
        .map(|b| b.size)
        .sum::<u64>();
    let mut part = Element::new(base::BODY_PART);
    part.push_text(base::STATUS, BODY_PART_SUCCESS)
        .push_text(base::TYPE, BODY_PART_HTML.to_string())
        .push_text(
            base::ESTIMATED_DATA_SIZE,
            html_size.max(html.len() as u64).to_string(),
        );
    let truncated = preference.truncation_size.is_some_and(|n| html.len() > n);
    if truncated {
        part.push_text(base::TRUNCATED, "1");
    }
    if !(truncated && preference.all_or_none) {
        let keep = preference
            .truncation_size
            .unwrap_or(html.len())
            .min(html.len());
        let cut = (0..=keep)
            .rev()
            .find(|&i| html.is_char_boundary(i))
            .unwrap_or(0);
        part.push_text(base::DATA, &html[..cut]);
    }
    if let Some(chars) = preference.preview {
        let text = crate::mime::html_to_text(&html);
        let preview: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        part.push_text(
            base::PREVIEW,
            preview.chars().take(chars).collect::<String>(),
        );
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_strictly() {
        assert_eq!(parse_range("0-9"), Some((0, 9)));
        assert_eq!(parse_range(" 5 - 5 "), Some((5, 5)));
        assert_eq!(parse_range("9-0"), None);
        assert_eq!(parse_range("x"), None);
        assert_eq!(parse_range("-3"), None);
    }

    #[test]
    fn body_part_preferences_are_html_only() {
        let mut preference = Element::new(base::BODY_PART_PREFERENCE);
        preference
            .push_text(base::TYPE, "2")
            .push_text(base::TRUNCATION_SIZE, "100")
            .push_text(base::ALL_OR_NONE, "1")
            .push_text(base::PREVIEW, "999");
        let read = parse_body_part_preference(&preference).unwrap();
        assert_eq!(read.truncation_size, Some(100));
        assert!(read.all_or_none);
        assert_eq!(read.preview, Some(255));
        let mut plain = Element::new(base::BODY_PART_PREFERENCE);
        plain.push_text(base::TYPE, "1");
        assert!(parse_body_part_preference(&plain).is_none());
        let mut garbage = Element::new(base::BODY_PART_PREFERENCE);
        garbage
            .push_text(base::TYPE, "2")
            .push_text(base::TRUNCATION_SIZE, "x");
        assert!(parse_body_part_preference(&garbage).is_none());
    }

    #[test]
    fn problems_map_to_store_statuses() {
        assert_eq!(problem_status(Problem::Invalid), "2");
        assert_eq!(problem_status(Problem::TooComplex), "8");
        assert_eq!(problem_status(Problem::UnknownFolder), "11");
    }
}
