//! Conformance of the WBXML codec (`easd::wbxml`) against things nobody here wrote: the requests a
//! third-party EAS client library sent (with libwbxml's decoding of each), libwbxml's own
//! ActiveSync test documents, and libwbxml's `xml2wbxml` / `wbxml2xml` tools run both ways over a
//! generated corpus that holds every tag of every code page.
//!
//! The conformance data is in `tests/fixtures/` (origin and licence in its README). The libwbxml tools (Debian `libwbxml2-utils`) must be installed; when
//! they are not, the tests that need them print why and pass without checking anything.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use easd::wbxml::{self, tag, xml, Element, Node, Tag};

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Files in `dir` (under the conformance directory) ending in `extension`, sorted.
fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let dir = conformance_dir().join(dir);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("conformance data missing at {} ({error})", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .{extension} files in {}",
        dir.display()
    );
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether libwbxml's tools are installed; if not, says so (once per test) for the log.
fn libwbxml_tools_available(test: &str) -> bool {
    let available = ["wbxml2xml", "xml2wbxml"]
        .iter()
        .all(|tool| Command::new(tool).output().is_ok());
    if !available {
        println!("SKIPPED {test}: libwbxml's wbxml2xml/xml2wbxml are not installed (apt install libwbxml2-utils)");
    }
    available
}

/// A scratch file path unique to this process and call.
fn scratch(extension: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("easd-wbxml-{}-{n}.{extension}", std::process::id()))
}

/// `xml2wbxml -n -a`: no string table, anonymous (public id 1), as EAS clients expect.
fn libwbxml_encode(xml_text: &str) -> Result<Vec<u8>, String> {
    let (input, output) = (scratch("xml"), scratch("wbxml"));
    fs::write(&input, xml_text).map_err(|e| e.to_string())?;
    let result = Command::new("xml2wbxml")
        .args(["-n", "-a", "-o"])
        .arg(&output)
        .arg(&input)
        .output();
    let bytes = fs::read(&output);
    let _ = fs::remove_file(&input);
    let _ = fs::remove_file(&output);
    let result = result.map_err(|e| e.to_string())?;
    if !result.status.success() {
        return Err(String::from_utf8_lossy(&result.stderr).into_owned());
    }
    bytes.map_err(|e| format!("xml2wbxml wrote nothing: {e}"))
}

/// `wbxml2xml -l ACTIVESYNC`.
fn libwbxml_decode(bytes: &[u8]) -> Result<String, String> {
    let (input, output) = (scratch("wbxml"), scratch("xml"));
    fs::write(&input, bytes).map_err(|e| e.to_string())?;
    let result = Command::new("wbxml2xml")
        .args(["-l", "ACTIVESYNC", "-o"])
        .arg(&output)
        .arg(&input)
        .output();
    let text = fs::read_to_string(&output);
    let _ = fs::remove_file(&input);
    let _ = fs::remove_file(&output);
    let result = result.map_err(|e| e.to_string())?;
    if !result.status.success() {
        return Err(String::from_utf8_lossy(&result.stderr).into_owned());
    }
    text.map_err(|e| format!("wbxml2xml wrote nothing: {e}"))
}

/// The tree as it reads back from wbxml2xml's XML: wbxml2xml trims the whitespace around text.
fn as_libwbxml_writes_it(element: &Element) -> Element {
    let children = element
        .children
        .iter()
        .filter_map(|node| match node {
            Node::Element(child) => Some(Node::Element(as_libwbxml_writes_it(child))),
            Node::Text(text) => {
                let text = text.trim();
                (!text.is_empty()).then(|| Node::Text(text.to_owned()))
            }
            Node::Opaque(data) => Some(Node::Opaque(data.clone())),
        })
        .collect();
    Element {
        tag: element.tag,
        children,
    }
}

/// pyactivesync 0.17's Find request: libwbxml 0.11.8 has no code page 25, so its `.xml` is bogus.
const FIND_REQUEST: &str = "074-Find";
/// A draft whose body ends in CRLF, which wbxml2xml trims away; we write text as it is.
/// (The README there warns that XML parsers turn its CRLFs into LF; xml-rs keeps them.)
const TRIMMED_BY_LIBWBXML: &str = "092-Sync";

#[test]
fn client_requests_decode_re_encode_and_match_libwbxml_decoding() {
    let mut checked = 0;
    for path in files("pyactivesync-requests", "wbxml") {
        let name = stem(&path);
        let bytes = fs::read(&path).expect("readable");
        let root = wbxml::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(wbxml::encode(&root), bytes, "{name}: re-encoding differs");
        if name == FIND_REQUEST {
            continue;
        }
        let libwbxml_text = fs::read_to_string(path.with_extension("xml")).expect("matching .xml");
        if name != TRIMMED_BY_LIBWBXML {
            assert_eq!(
                xml::to_xml(&root),
                libwbxml_text,
                "{name}: our XML differs from wbxml2xml's"
            );
        }
        let from_libwbxml = xml::from_xml(&libwbxml_text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            from_libwbxml,
            as_libwbxml_writes_it(&root),
            "{name}: trees differ"
        );
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} requests checked");
}

#[test]
fn the_find_request_decodes_with_the_ms_aswbxml_table() {
    let path = conformance_dir()
        .join("pyactivesync-requests")
        .join(format!("{FIND_REQUEST}.wbxml"));
    let root = wbxml::decode(&fs::read(&path).expect("074-Find.wbxml")).expect("decodes");
    assert_eq!(root.tag, tag::find::FIND);
    assert_eq!(
        root.child_text(tag::find::SEARCH_ID).as_deref(),
        Some("c1a84439-1165-4e71-a4b5-689ef1c98b18")
    );
    let criterion = root
        .child(tag::find::EXECUTE_SEARCH)
        .and_then(|search| search.child(tag::find::MAIL_BOX_SEARCH_CRITERION))
        .expect("ExecuteSearch/MailBoxSearchCriterion");
    let query = criterion.child(tag::find::QUERY).expect("Query");
    assert_eq!(
        query.child_text(tag::find::FREE_TEXT).as_deref(),
        Some("46c386cc8a")
    );
    assert_eq!(
        query.child_text(tag::airsync::CLASS).as_deref(),
        Some("Email")
    );
    assert_eq!(
        query.child_text(tag::airsync::COLLECTION_ID).as_deref(),
        Some("1")
    );
    let options = criterion.child(tag::find::OPTIONS).expect("Options");
    assert_eq!(options.child_text(tag::find::RANGE).as_deref(), Some("0-9"));
    // And through our own XML and back.
    assert_eq!(xml::from_xml(&xml::to_xml(&root)), Ok(root));
}

#[test]
fn libwbxml_encodings_of_every_xml_document_round_trip() {
    if !libwbxml_tools_available("libwbxml_encodings_of_every_xml_document_round_trip") {
        return;
    }
    let mut documents = files("libwbxml-activesync", "xml");
    documents.extend(
        files("pyactivesync-requests", "xml")
            .into_iter()
            .filter(|p| stem(p) != FIND_REQUEST),
    );
    for path in documents {
        let name = stem(&path);
        let text = fs::read_to_string(&path).expect("readable");
        let libwbxml_bytes =
            libwbxml_encode(&text).unwrap_or_else(|e| panic!("{name}: xml2wbxml: {e}"));
        let root = wbxml::decode(&libwbxml_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = wbxml::encode(&root);
        assert_eq!(
            ours, libwbxml_bytes,
            "{name}: our encoding differs from xml2wbxml's"
        );
        let libwbxml_text =
            libwbxml_decode(&ours).unwrap_or_else(|e| panic!("{name}: wbxml2xml: {e}"));
        if name != TRIMMED_BY_LIBWBXML {
            assert_eq!(
                xml::to_xml(&root),
                libwbxml_text,
                "{name}: our XML differs from wbxml2xml's"
            );
        }
        let reread = xml::from_xml(&libwbxml_text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reread, as_libwbxml_writes_it(&root), "{name}: trees differ");
    }
}

/// Tokens libwbxml 0.11.8 does not know (besides all of code page 25): checked by hand-made byte
/// vectors in the unit tests of `src/wbxml/mod.rs` instead.
const UNKNOWN_TO_LIBWBXML: [Tag; 3] = [
    tag::meeting_response::PROPOSED_START_TIME,
    tag::meeting_response::PROPOSED_END_TIME,
    tag::provision::ACCOUNT_ONLY_REMOTE_WIPE,
];
const FIND_PAGE: u8 = 25;

/// Every tag of `page` that libwbxml knows (tags without a table entry are named `Unknown0xNN`).
fn tags_of_page(page: u8) -> Vec<Tag> {
    (0x05..=0x3Fu8)
        .map(|token| Tag { page, token })
        .filter(|tag| !tag.name().starts_with("Unknown0x") && !UNKNOWN_TO_LIBWBXML.contains(tag))
        .collect()
}

/// The elements whose content libwbxml converts between OPAQUE and base64 (found by probing
/// xml2wbxml with every tag); their content cannot be child elements.
fn is_binary(tag: Tag) -> bool {
    matches!(
        (tag.namespace(), tag.name()),
        ("ComposeMail", "Mime")
            | ("ResolveRecipients", "Data")
            | ("GAL", "Data")
            | ("AirSyncBase", "Content")
            | ("Search" | "ItemOperations" | "Email2", "ConversationId")
            | ("Email2", "ConversationIndex")
    )
}

/// A tag of the page that may hold child elements, taken from the end of the page.
fn container_of(tags: &[Tag]) -> Tag {
    tags.iter()
        .rev()
        .copied()
        .find(|&tag| !is_binary(tag))
        .unwrap_or(tag::airsync::SYNC)
}

/// Content libwbxml carries both ways: opaque bytes where it uses base64, else non-blank text
/// (it trims leading and trailing whitespace).
fn leaf(tag: Tag) -> Element {
    if is_binary(tag) {
        let mut element = Element::new(tag);
        element
            .children
            .push(Node::Opaque(vec![tag.token, 0x00, 0xFF, b'<', 0x0A]));
        element
    } else {
        Element::with_text(
            tag,
            format!("{} 0x{:02X} <&>\"' \u{e9}\u{20ac}", tag.name(), tag.token),
        )
    }
}

/// For one code page: every tag with content, every tag empty, and some nesting.
fn page_document(page: u8) -> Element {
    let tags = tags_of_page(page);
    let mut root = Element::new(tags[0]);
    for &tag in &tags {
        root.push(leaf(tag));
        root.push_empty(tag);
    }
    let nested = root.push(Element::new(container_of(&tags)));
    nested.push(Element::new(tags[0])).push(leaf(tags[1]));
    nested.push_text(tag::airsync::STATUS, "1");
    nested.push(leaf(tags[tags.len() / 2]));
    root
}

/// Every code page inside AirSync elements, switching pages back and forth.
fn all_pages_document() -> Element {
    let mut root = Element::new(tag::airsync::SYNC);
    for page in (0..FIND_PAGE).rev() {
        let tags = tags_of_page(page);
        let holder = root.push(Element::new(tag::airsync::APPLICATION_DATA));
        let inner = holder.push(Element::new(container_of(&tags)));
        inner.push_text(tag::airsync::SYNC_KEY, format!("{page}"));
        inner.push(leaf(tags[0]));
        holder.push_empty(tags[0]);
    }
    root
}

#[test]
fn every_tag_of_every_page_round_trips_through_libwbxml_both_ways() {
    if !libwbxml_tools_available("every_tag_of_every_page_round_trips_through_libwbxml_both_ways") {
        return;
    }
    let mut documents: Vec<(String, Element)> = (0..FIND_PAGE)
        .map(|page| (format!("code page {page}"), page_document(page)))
        .collect();
    documents.push(("all code pages".into(), all_pages_document()));
    let mut covered = HashSet::new();
    for (name, document) in documents {
        collect_tags(&document, &mut covered);
        // Ours -> libwbxml.
        let ours = wbxml::encode(&document);
        let libwbxml_text =
            libwbxml_decode(&ours).unwrap_or_else(|e| panic!("{name}: wbxml2xml: {e}"));
        assert_eq!(
            xml::to_xml(&document),
            libwbxml_text,
            "{name}: our XML differs from wbxml2xml's"
        );
        assert_eq!(
            xml::from_xml(&libwbxml_text).as_ref(),
            Ok(&document),
            "{name}: libwbxml read something else"
        );
        // libwbxml -> ours.
        let libwbxml_bytes = libwbxml_encode(&xml::to_xml(&document))
            .unwrap_or_else(|e| panic!("{name}: xml2wbxml: {e}"));
        assert_eq!(
            ours, libwbxml_bytes,
            "{name}: xml2wbxml encodes differently"
        );
        assert_eq!(
            wbxml::decode(&libwbxml_bytes).as_ref(),
            Ok(&document),
            "{name}: we read something else"
        );
    }
    let expected: HashSet<Tag> = (0..FIND_PAGE).flat_map(tags_of_page).collect();
    assert_eq!(covered, expected, "tags not covered");
    assert!(covered.len() > 600, "{} tags", covered.len());
}

fn collect_tags(element: &Element, tags: &mut HashSet<Tag>) {
    tags.insert(element.tag);
    for child in element.elements() {
        collect_tags(child, tags);
    }
}

#[test]
fn libwbxml_really_lacks_what_is_excluded() {
    if !libwbxml_tools_available("libwbxml_really_lacks_what_is_excluded") {
        return;
    }
    let mut excluded: Vec<Tag> = UNKNOWN_TO_LIBWBXML.to_vec();
    excluded.push(tag::find::FIND);
    for tag in excluded {
        let document = Element::with_text(tag, "x");
        let ours = wbxml::encode(&document);
        let libwbxml_read = libwbxml_decode(&ours)
            .ok()
            .and_then(|text| xml::from_xml(&text).ok());
        assert_ne!(
            libwbxml_read,
            Some(document.clone()),
            "{tag}: libwbxml knows it; test it above"
        );
        let libwbxml_wrote = libwbxml_encode(&xml::to_xml(&document));
        assert_ne!(
            libwbxml_wrote.as_ref(),
            Ok(&ours),
            "{tag}: libwbxml knows it; test it above"
        );
    }
}
