//! The mailbox queries of Search (Store=Mailbox) and Find (MailBoxSearchCriterion) read into
//! the store's neutral [`MailQuery`]: And (nested Ands are flattened), FreeText, Class,
//! CollectionId, ConversationId, GreaterThan / LessThan on email:DateReceived; and the
//! folders searched — the named collections (with their subfolders under DeepTraversal) or
//! every mail folder, never one hidden from the device by its settings. What the query
//! cannot mean is a [`Problem`], which each command answers with its own status.

use std::collections::HashSet;

use super::device_view;
use super::sync::class::parse_eas_datetime;
use super::Request;
use crate::store::mail_search::{query_terms, TermsError, MAX_QUERY_TERMS};
use crate::store::{Folder, FolderId, ItemClass, MailQuery, StoreError};
use crate::wbxml::tag::{airsync, email, search};
use crate::wbxml::{Element, Tag};

/// Deepest nesting of And this server reads (And inside And inside the Query).
const MAX_AND_DEPTH: usize = 2;

/// Why a query is not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An element or value the query may not have (Search Store Status 2).
    Invalid,
    /// More than this server evaluates: Or, deep nesting, too many words (Status 8).
    TooComplex,
    /// A CollectionId the device should not know: not the user's, or hidden from this
    /// device (the device's hierarchy is out of date; Status 11, Find Status 3).
    UnknownFolder,
}

/// A query as read from the request: the criteria, and the collections it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Everything but the folders, which [`searched_folders`] resolves.
    pub query: MailQuery,
    pub collections: Vec<String>,
}

/// Reads the children of a Query element. `free_text` is the FreeText tag of the command
/// (Search and Find each have their own).
pub fn parse(query: &Element, free_text: Tag) -> Result<ParsedQuery, Problem> {
    if query.elements().next().is_none() {
        return Err(Problem::Invalid);
    }
    let mut parsed = ParsedQuery::default();
    read_criteria(query, free_text, 0, &mut parsed)?;
    Ok(parsed)
}

fn read_criteria(
    element: &Element,
    free_text: Tag,
    depth: usize,
    parsed: &mut ParsedQuery,
) -> Result<(), Problem> {
    // A Query carries elements only; text (a GAL-style query string) means nothing here.
    if element.elements().count() != element.children.len() {
        return Err(Problem::Invalid);
    }
    for child in element.elements() {
        let tag = child.tag;
        if tag == search::AND {
            if depth >= MAX_AND_DEPTH {
                return Err(Problem::TooComplex);
            }
            read_criteria(child, free_text, depth + 1, parsed)?;
        } else if tag == search::OR {
            return Err(Problem::TooComplex);
        } else if tag == free_text {
            let text = child.text().unwrap_or_default();
            let terms = query_terms(&text).map_err(|e| match e {
                TermsError::Empty => Problem::Invalid,
                TermsError::TooMany => Problem::TooComplex,
            })?;
            parsed.query.terms.extend(terms);
            if parsed.query.terms.len() > MAX_QUERY_TERMS {
                return Err(Problem::TooComplex);
            }
        } else if tag == airsync::CLASS {
            if child.text().as_deref().map(str::trim) != Some(ItemClass::Email.as_str()) {
                return Err(Problem::Invalid);
            }
        } else if tag == airsync::COLLECTION_ID {
            let id = child.text().unwrap_or_default().trim().to_string();
            if id.is_empty() {
                return Err(Problem::Invalid);
            }
            parsed.collections.push(id);
        } else if tag == search::CONVERSATION_ID {
            let id = child.bytes().filter(|b| !b.is_empty());
            parsed.query.conversation_id = Some(id.ok_or(Problem::Invalid)?);
        } else if tag == search::GREATER_THAN {
            let after = date_bound(child)?;
            let current = parsed.query.received_after.get_or_insert(after);
            *current = (*current).max(after);
        } else if tag == search::LESS_THAN {
            let before = date_bound(child)?;
            let current = parsed.query.received_before.get_or_insert(before);
            *current = (*current).min(before);
        } else {
            return Err(Problem::Invalid);
        }
    }
    Ok(())
}

/// The time of a GreaterThan / LessThan: it must compare email:DateReceived with a Value.
fn date_bound(comparison: &Element) -> Result<i64, Problem> {
    if comparison.child(email::DATE_RECEIVED).is_none() || comparison.elements().count() != 2 {
        return Err(Problem::Invalid);
    }
    comparison
        .child_text(search::VALUE)
        .as_deref()
        .and_then(parse_eas_datetime)
        .ok_or(Problem::Invalid)
}

/// The folders a query searches for this request's device: the named collections (and,
/// with `deep`, their subfolders), or with none named every mail folder of the user —
/// always leaving out the folders hidden from the device. `None` stands for every mail
/// folder of the user (nothing named, nothing hidden), which the index answers fastest.
pub fn searched_folders(
    request: &Request,
    collections: &[String],
    deep: bool,
) -> Result<Result<Option<Vec<FolderId>>, Problem>, StoreError> {
    let user = request.user.id;
    let folders = request.store.folders_of(user)?;
    let hidden = device_view::hidden_folders(request.store, user, request.device)?;
    let visible: Vec<_> = folders.iter().filter(|f| !hidden.contains(&f.id)).collect();
    if collections.is_empty() {
        let is_mail =
            |f: &&Folder| ItemClass::for_folder_type(f.folder_type) == Some(ItemClass::Email);
        if !folders
            .iter()
            .filter(is_mail)
            .any(|f| hidden.contains(&f.id))
        {
            return Ok(Ok(None));
        }
        return Ok(Ok(Some(
            visible
                .iter()
                .copied()
                .filter(is_mail)
                .map(|f| f.id)
                .collect(),
        )));
    }
    let mut chosen: HashSet<FolderId> = HashSet::new();
    for collection in collections {
        let found = collection
            .parse::<FolderId>()
            .ok()
            .filter(|id| visible.iter().any(|f| f.id == *id));
        let Some(id) = found else {
            return Ok(Err(Problem::UnknownFolder));
        };
        chosen.insert(id);
    }
    if deep {
        // Subfolders of chosen folders, until nothing is added (hierarchies are shallow).
        loop {
            let before = chosen.len();
            for folder in &visible {
                if folder.parent_id.is_some_and(|p| chosen.contains(&p)) {
                    chosen.insert(folder.id);
                }
            }
            if chosen.len() == before {
                break;
            }
        }
    }
    let mut ids: Vec<FolderId> = chosen.into_iter().collect();
    ids.sort_unstable();
    Ok(Ok(Some(ids)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wbxml::tag::find;

    fn query(children: Vec<Element>) -> Element {
        let mut query = Element::new(search::QUERY);
        for child in children {
            query.push(child);
        }
        query
    }

    fn and(children: Vec<Element>) -> Element {
        let mut and = Element::new(search::AND);
        for child in children {
            and.push(child);
        }
        and
    }

    fn compare(tag: Tag, value: &str) -> Element {
        let mut element = Element::new(tag);
        element.push(Element::new(email::DATE_RECEIVED));
        element.push_text(search::VALUE, value);
        element
    }

    #[test]
    fn a_typical_phone_query_is_read_whole() {
        let q = query(vec![and(vec![
            Element::with_text(airsync::CLASS, "Email"),
            Element::with_text(airsync::COLLECTION_ID, "7"),
            Element::with_text(search::FREE_TEXT, "Invoice 2023"),
            compare(search::GREATER_THAN, "2023-01-01T00:00:00.000Z"),
            compare(search::LESS_THAN, "2024-01-01T00:00:00.000Z"),
        ])]);
        let parsed = parse(&q, search::FREE_TEXT).unwrap();
        assert_eq!(parsed.collections, vec!["7"]);
        assert_eq!(parsed.query.terms, vec!["invoice", "2023"]);
        assert_eq!(parsed.query.received_after, Some(1_672_531_200));
        assert_eq!(parsed.query.received_before, Some(1_704_067_200));
        assert_eq!(parsed.query.conversation_id, None);
    }

    #[test]
    fn conversation_ids_are_bytes() {
        let q = query(vec![and(vec![Element::new(search::CONVERSATION_ID)])]);
        assert_eq!(parse(&q, search::FREE_TEXT), Err(Problem::Invalid));
        let q = query(vec![and(vec![Element::with_opaque(
            search::CONVERSATION_ID,
            vec![9; 16],
        )])]);
        let parsed = parse(&q, search::FREE_TEXT).unwrap();
        assert_eq!(parsed.query.conversation_id, Some(vec![9; 16]));
    }

    #[test]
    fn what_is_not_understood_is_invalid_and_what_is_too_much_is_too_complex() {
        let invalid = [
            query(vec![]),
            query(vec![Element::with_text(airsync::CLASS, "Contacts")]),
            query(vec![Element::with_text(search::FREE_TEXT, " !? ")]),
            query(vec![compare(search::GREATER_THAN, "yesterday")]),
            query(vec![{
                let mut e = Element::new(search::LESS_THAN);
                e.push_text(search::VALUE, "2024-01-01T00:00:00.000Z");
                e
            }]),
            query(vec![Element::with_text(search::EQUAL_TO, "x")]),
            Element::with_text(search::QUERY, "bob"),
        ];
        for q in invalid {
            assert_eq!(parse(&q, search::FREE_TEXT), Err(Problem::Invalid), "{q:?}");
        }
        let words = vec!["word"; MAX_QUERY_TERMS + 1].join(" ");
        let complex = [
            query(vec![Element::new(search::OR)]),
            query(vec![and(vec![and(vec![and(vec![])])])]),
            query(vec![Element::with_text(search::FREE_TEXT, words)]),
        ];
        for q in complex {
            assert_eq!(
                parse(&q, search::FREE_TEXT),
                Err(Problem::TooComplex),
                "{q:?}"
            );
        }
    }

    #[test]
    fn nested_ands_and_repeated_bounds_narrow() {
        let q = query(vec![and(vec![
            and(vec![Element::with_text(search::FREE_TEXT, "a")]),
            Element::with_text(search::FREE_TEXT, "b"),
            compare(search::GREATER_THAN, "2023-01-01T00:00:00.000Z"),
            compare(search::GREATER_THAN, "2023-06-01T00:00:00.000Z"),
        ])]);
        let parsed = parse(&q, search::FREE_TEXT).unwrap();
        assert_eq!(parsed.query.terms, vec!["a", "b"]);
        assert_eq!(parsed.query.received_after, Some(1_685_577_600));
    }

    #[test]
    fn find_queries_use_their_own_free_text() {
        let mut q = Element::new(find::QUERY);
        q.push_text(airsync::CLASS, "Email");
        q.push_text(find::FREE_TEXT, "lisbon");
        let parsed = parse(&q, find::FREE_TEXT).unwrap();
        assert_eq!(parsed.query.terms, vec!["lisbon"]);
        // Search's FreeText is not Find's.
        let mut q = Element::new(find::QUERY);
        q.push_text(search::FREE_TEXT, "lisbon");
        assert_eq!(parse(&q, find::FREE_TEXT), Err(Problem::Invalid));
    }
}
