//! Find (MS-ASCMD 2.2.1.2, protocol 16.1): one search per request, of the user's mail
//! (MailBoxSearchCriterion: Query with FreeText, Class, CollectionId; Options Range and
//! DeepTraversal — the same query reading and index as Search Store=Mailbox) or of the
//! address book (GALSearchCriterion: Query, Options Range and Picture — the same entries as
//! Search Store=GAL). A mail result is the short summary Find defines (subject, received
//! time, To/Cc names, importance, read, draft, preview, attachments, From) with the item's
//! ServerId and CollectionId. Statuses (2.2.3.177.2): the request is invalid (2), the
//! device's folders are out of date (3), a Range not starting at 0 (4, in the Response).

use super::mail_query::{self, Problem};
use super::picture::PictureBudget;
use super::search::{gal_properties, parse_range};
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::store::{FolderType, MessageRecord};
use crate::wbxml::tag::{airsync, email, email2, find as f, item_operations as io};
use crate::wbxml::Element;

/// Find Status values (MS-ASCMD 2.2.3.177.2).
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_REQUEST: &str = "2";
    pub const FOLDER_SYNC_REQUIRED: &str = "3";
    pub const START_WITH_RANGE_ZERO: &str = "4";
}

/// The range when the client names none.
const DEFAULT_RANGE: (usize, usize) = (0, 99);
/// Most results one answer carries.
const MAX_RESULTS: usize = 100;
/// Longest GAL query accepted, as for Search.
const MAX_QUERY_CHARS: usize = 256;

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == f::FIND) else {
        return Ok(Reply::HttpStatus(400));
    };
    let outcome = if request.version < ProtocolVersion::V16_1 {
        // Find exists from 16.1 on.
        Err(status::INVALID_REQUEST)
    } else {
        run(request, body)?
    };
    let mut doc = Element::new(f::FIND);
    match outcome {
        Ok(response) => {
            doc.push_text(f::STATUS, status::SUCCESS);
            doc.push(response);
        }
        Err(code) => {
            doc.push_text(f::STATUS, code);
        }
    }
    Ok(Reply::Document(doc))
}

/// The Response element, or the Find Status of a request that cannot be run.
fn run(request: &Request, body: &Element) -> Result<Result<Element, &'static str>, CommandError> {
    let search_id = body.child_text(f::SEARCH_ID).unwrap_or_default();
    if !is_guid(search_id.trim()) {
        return Ok(Err(status::INVALID_REQUEST));
    }
    let Some(execute) = body.child(f::EXECUTE_SEARCH) else {
        return Ok(Err(status::INVALID_REQUEST));
    };
    let mailbox = execute.child(f::MAIL_BOX_SEARCH_CRITERION);
    let gal = execute.child(f::GAL_SEARCH_CRITERION);
    match (mailbox, gal) {
        (Some(criterion), None) => find_mail(request, criterion),
        (None, Some(criterion)) => find_gal(request, criterion),
        _ => Ok(Err(status::INVALID_REQUEST)),
    }
}

/// `8-4-4-4-12` hexadecimal digits (the schema's SearchId pattern).
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The Range of the criterion's Options: `Ok(None)` when it does not start at 0.
fn criterion_range(options: Option<&Element>) -> Result<Option<(usize, usize)>, ()> {
    let Some(text) = options.and_then(|o| o.child_text(f::RANGE)) else {
        return Ok(Some(DEFAULT_RANGE));
    };
    let range = parse_range(&text).ok_or(())?;
    Ok((range.0 == 0).then_some(range))
}

/// A Response with its Store and Status and nothing else.
fn response(store: &str, code: &str) -> Element {
    let mut response = Element::new(f::RESPONSE);
    response
        .push_text(io::STORE, store)
        .push_text(f::STATUS, code);
    response
}

fn find_mail(
    request: &Request,
    criterion: &Element,
) -> Result<Result<Element, &'static str>, CommandError> {
    let Some(query) = criterion.child(f::QUERY) else {
        return Ok(Err(status::INVALID_REQUEST));
    };
    let mut parsed = match mail_query::parse(query, f::FREE_TEXT) {
        Ok(parsed) => parsed,
        Err(_) => return Ok(Err(status::INVALID_REQUEST)),
    };
    let options = criterion.child(f::OPTIONS);
    let (first, last) = match criterion_range(options) {
        Ok(Some(range)) => range,
        Ok(None) => return Ok(Ok(response("Mailbox", status::START_WITH_RANGE_ZERO))),
        Err(()) => return Ok(Err(status::INVALID_REQUEST)),
    };
    let deep = options.is_some_and(|o| o.child(f::DEEP_TRAVERSAL).is_some());
    parsed.query.folders = match mail_query::searched_folders(request, &parsed.collections, deep)? {
        Ok(folders) => folders,
        Err(Problem::UnknownFolder) => return Ok(Err(status::FOLDER_SYNC_REQUIRED)),
        Err(_) => return Ok(Err(status::INVALID_REQUEST)),
    };
    let user = request.user.id;
    let count = (last - first + 1).min(MAX_RESULTS);
    let found = request
        .store
        .search_mail(user, &parsed.query, first, count)?;
    let drafts: Vec<_> = request
        .store
        .folders_of(user)?
        .into_iter()
        .filter(|folder| folder.folder_type == FolderType::Drafts)
        .map(|folder| folder.id)
        .collect();
    let mut answer = response("Mailbox", status::SUCCESS);
    let mut shown = 0;
    for hit in &found.hits {
        // `easd deliver` may have deleted it between the query and this read.
        let Some(record) = request.store.message(user, hit.item)? else {
            continue;
        };
        let mut result = Element::new(f::RESULT);
        result
            .push_text(airsync::CLASS, "Email")
            .push_text(airsync::SERVER_ID, hit.item.to_string())
            .push_text(airsync::COLLECTION_ID, hit.folder.to_string());
        result.push(mail_properties(&record, drafts.contains(&hit.folder)));
        answer.push(result);
        shown += 1;
    }
    if shown > 0 {
        answer.push_text(f::RANGE, format!("{}-{}", first, first + shown - 1));
    }
    answer.push_text(f::TOTAL, found.total.to_string());
    Ok(Ok(answer))
}

/// The Properties of a mail result, in the order of MS-ASCMD 2.2.1.2.
fn mail_properties(record: &MessageRecord, is_draft: bool) -> Element {
    let mut properties = Element::new(f::PROPERTIES);
    properties
        .push_text(email::SUBJECT, record.subject.as_str())
        .push_text(
            email::DATE_RECEIVED,
            crate::clock::eas_datetime(record.date_received),
        )
        .push_text(email::DISPLAY_TO, record.display_to.as_str());
    let cc = display_names(&record.cc);
    if !cc.is_empty() {
        properties.push_text(f::DISPLAY_CC, cc);
    }
    properties
        .push_text(email::IMPORTANCE, record.importance.as_u8().to_string())
        .push_text(email::READ, if record.read { "1" } else { "0" })
        .push_text(email2::IS_DRAFT, if is_draft { "1" } else { "0" })
        .push_text(f::PREVIEW, record.preview.as_str())
        .push_text(
            f::HAS_ATTACHMENTS,
            if record.has_attachments { "1" } else { "0" },
        )
        .push_text(email::FROM, record.from.as_str());
    properties
}

/// The display names of a stored address list (`"Name" <addr>, addr, …`) joined by `; `,
/// as DisplayTo has them: the name where there is one, else the address.
fn display_names(list: &str) -> String {
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut name: Option<String> = None;
    let mut finish = |current: &mut String, name: &mut Option<String>| {
        let entry = current.trim();
        let address = entry
            .rsplit_once('<')
            .map_or(entry, |(_, rest)| rest.trim_end_matches('>'))
            .trim();
        match name.take().filter(|n| !n.is_empty()) {
            Some(n) => names.push(n),
            None if !address.is_empty() => names.push(address.to_string()),
            None => {}
        }
        current.clear();
    };
    for c in list.chars() {
        if escaped {
            name.get_or_insert_with(String::new).push(c);
            escaped = false;
        } else if quoted {
            match c {
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => name.get_or_insert_with(String::new).push(c),
            }
        } else if c == '"' {
            quoted = true;
            name.get_or_insert_with(String::new);
        } else if c == ',' {
            finish(&mut current, &mut name);
        } else {
            current.push(c);
        }
    }
    finish(&mut current, &mut name);
    names.join("; ")
}

fn find_gal(
    request: &Request,
    criterion: &Element,
) -> Result<Result<Element, &'static str>, CommandError> {
    let query = criterion.child_text(f::QUERY).unwrap_or_default();
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Ok(Err(status::INVALID_REQUEST));
    }
    let options = criterion.child(f::OPTIONS);
    let (first, last) = match criterion_range(options) {
        Ok(Some(range)) => range,
        Ok(None) => return Ok(Ok(response("GAL", status::START_WITH_RANGE_ZERO))),
        Err(()) => return Ok(Err(status::INVALID_REQUEST)),
    };
    let mut picture = options
        .and_then(|o| o.child(f::PICTURE))
        .map(|p| PictureBudget::new(p.child_text(f::MAX_SIZE), p.child_text(f::MAX_PICTURES)));
    let count = (last - first + 1).min(MAX_RESULTS);
    let page = request
        .store
        .gal_search(request.user, query, first, count)?;
    let mut answer = response("GAL", status::SUCCESS);
    for entry in &page.entries {
        let mut result = Element::new(f::RESULT);
        result.push(gal_properties(f::PROPERTIES, entry, picture.as_mut()));
        answer.push(result);
    }
    if !page.entries.is_empty() {
        answer.push_text(
            f::RANGE,
            format!("{}-{}", first, first + page.entries.len() - 1),
        );
    }
    answer.push_text(f::TOTAL, page.total.to_string());
    Ok(Ok(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ids_are_guids() {
        assert!(is_guid("0A1B2C3D-0000-4a4b-8c8d-0123456789ab"));
        assert!(!is_guid("0A1B2C3D-0000-4a4b-8c8d-0123456789a"));
        assert!(!is_guid("not-a-guid"));
        assert!(!is_guid(""));
    }

    #[test]
    fn ranges_must_start_at_zero() {
        let options = |range: &str| {
            let mut o = Element::new(f::OPTIONS);
            o.push_text(f::RANGE, range);
            o
        };
        assert_eq!(criterion_range(None), Ok(Some(DEFAULT_RANGE)));
        assert_eq!(criterion_range(Some(&options("0-9"))), Ok(Some((0, 9))));
        assert_eq!(criterion_range(Some(&options("5-9"))), Ok(None));
        assert_eq!(criterion_range(Some(&options("9-0"))), Err(()));
    }

    #[test]
    fn cc_display_names_come_from_the_stored_list() {
        assert_eq!(
            display_names(r#""Doe, Jane" <jane@x.test>, bob@y.test, "Al \"Q\"" <al@z.test>"#),
            r#"Doe, Jane; bob@y.test; Al "Q""#
        );
        assert_eq!(display_names(""), "");
    }
}
