//! Search (MS-ASCMD 2.2.1.16) of the address book: Store=GAL with Query, Range, Total and the
//! Picture option (14.1+). The entries come from [`crate::store::gal`]; this module only reads
//! the request and writes the answer. Mailbox and DocumentLibrary searches are not offered by
//! this server yet: their Store carries the server-error status and no results.

use super::picture::PictureBudget;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::store::gal::GalEntry;
use crate::wbxml::{tag::gal, tag::search as s, Element};

/// Search Status values (MS-ASCMD 2.2.3.177.13), for the Search and the Store element.
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_REQUEST: &str = "2";
    pub const SERVER_ERROR: &str = "3";
}

/// The range when the client names none (MS-ASCMD: "0-99").
const DEFAULT_RANGE: (usize, usize) = (0, 99);
/// Most entries one answer carries, whatever range is asked for.
const MAX_RESULTS: usize = 100;
/// Longest Query accepted (MS-ASCMD: up to 256 characters).
const MAX_QUERY_CHARS: usize = 256;

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == s::SEARCH) else {
        return Ok(Reply::HttpStatus(400));
    };
    let Some(store) = body.child(s::STORE) else {
        return Ok(Reply::HttpStatus(400));
    };
    let name = store.child_text(s::NAME).unwrap_or_default();
    let store_answer = if name.trim().eq_ignore_ascii_case("GAL") {
        search_gal(request, store)?
    } else {
        // Mailbox and DocumentLibrary: not searchable on this server.
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
fn parse_range(text: &str) -> Option<(usize, usize)> {
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
        result.push(properties(entry, budget.as_mut()));
        answer.push(result);
    }
    if !shown.is_empty() {
        answer.push_text(s::RANGE, format!("{}-{}", first, first + shown.len() - 1));
    }
    answer.push_text(s::TOTAL, total.to_string());
    Ok(answer)
}

/// The gal: properties of one entry, in the order of the GAL code page.
fn properties(entry: &GalEntry, picture: Option<&mut PictureBudget>) -> Element {
    let mut properties = Element::new(s::PROPERTIES);
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
}
