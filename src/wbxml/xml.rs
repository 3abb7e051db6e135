//! XML in the shape libwbxml's `wbxml2xml -l ACTIVESYNC` writes, and back: for `easd wbxml
//! decode|encode`, debug logs and tests.
//!
//! [`to_xml`] writes what `wbxml2xml` writes for the same document, byte for byte: the XML
//! declaration and ActiveSync DOCTYPE, one element per line, `xmlns="Page:"` on the root and on
//! every element whose code page differs from its parent's, libwbxml's spelling of namespaces
//! (`GetItemEstimate:`, `Gal:`) and of element names (`FlagStatus`, `Recurrence_Type`, ...), and
//! base64 for the opaque content of the elements libwbxml treats as binary (`ComposeMail:MIME`,
//! conversation ids, pictures). Opaque content elsewhere is written as (lossy UTF-8) text, as
//! libwbxml does. Unlike `wbxml2xml`, text keeps its leading and trailing whitespace, and
//! carriage returns are written raw (xml-rs, which [`from_xml`] uses, keeps them, so CRLF in a
//! MIME body survives the round trip). Control characters other than CR, LF and TAB cannot be
//! carried by XML 1.0: they are shown as character references, which [`from_xml`] refuses.
//!
//! [`from_xml`] reads that shape and also the MS-ASWBXML names, prefixed and default namespaces
//! with or without the trailing colon, and pretty-printed input: whitespace-only text between
//! elements, or containing a line break, is indentation and is dropped; other text keeps its
//! whitespace. The content of the binary elements is read as base64 (whitespace ignored) into
//! opaque data; content that is not valid base64 stays text. Element nesting and count are
//! bounded by [`Limits::default`].

use std::fmt;
use std::fmt::Write as _;

use base64::Engine as _;
use xml::common::Position as _;
use xml::reader::{ParserConfig, XmlEvent};

use super::decode::Limits;
use super::pages::{code_page, code_page_by_namespace, CodePage, Tag, PAGES};
use super::tree::{Element, Node};

const PROLOG: &str = "<?xml version=\"1.0\"?>\n<!DOCTYPE ActiveSync PUBLIC \"-//MICROSOFT//DTD ActiveSync//EN\" \"http://www.microsoft.com/\">\n";

/// Why an XML document could not be read as an EAS document. Lines and columns count from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed XML (as reported by the XML parser).
    Syntax {
        line: u64,
        column: u64,
        message: String,
    },
    /// An `xmlns` that names no EAS code page.
    UnknownNamespace {
        line: u64,
        column: u64,
        namespace: String,
    },
    /// An element its code page does not define.
    UnknownElement {
        line: u64,
        column: u64,
        namespace: String,
        name: String,
    },
    /// A root element without namespace whose name no code page defines.
    MissingNamespace {
        line: u64,
        column: u64,
        name: String,
    },
    /// An attribute other than a namespace declaration; EAS has none.
    Attribute {
        line: u64,
        column: u64,
        name: String,
    },
    /// Elements nested deeper than the decoder's default limit.
    TooDeep {
        line: u64,
        column: u64,
        limit: usize,
    },
    /// More elements than the decoder's default limit.
    TooManyElements {
        line: u64,
        column: u64,
        limit: usize,
    },
    /// No root element.
    NoRootElement,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::Syntax {
                line,
                column,
                message,
            } => {
                write!(f, "XML syntax error at {line}:{column}: {message}")
            }
            XmlError::UnknownNamespace {
                line,
                column,
                namespace,
            } => {
                write!(f, "unknown EAS namespace {namespace:?} at {line}:{column}")
            }
            XmlError::UnknownElement {
                line,
                column,
                namespace,
                name,
            } => {
                write!(
                    f,
                    "unknown element {name:?} in namespace {namespace} at {line}:{column}"
                )
            }
            XmlError::MissingNamespace { line, column, name } => {
                write!(f, "root element {name:?} at {line}:{column} has no namespace and no code page defines it")
            }
            XmlError::Attribute { line, column, name } => {
                write!(
                    f,
                    "attribute {name:?} at {line}:{column}: EAS elements have no attributes"
                )
            }
            XmlError::TooDeep {
                line,
                column,
                limit,
            } => {
                write!(
                    f,
                    "element at {line}:{column} is nested deeper than {limit} levels"
                )
            }
            XmlError::TooManyElements {
                line,
                column,
                limit,
            } => {
                write!(
                    f,
                    "element at {line}:{column} exceeds the limit of {limit} elements"
                )
            }
            XmlError::NoRootElement => write!(f, "the XML document has no root element"),
        }
    }
}

impl std::error::Error for XmlError {}

/// Writes `root` as libwbxml's `wbxml2xml -l ACTIVESYNC` would.
pub fn to_xml(root: &Element) -> String {
    let mut out = String::with_capacity(PROLOG.len() + 64);
    out.push_str(PROLOG);
    write_tree(&mut out, root);
    out
}

/// One open element while writing.
struct Frame<'a> {
    element: &'a Element,
    /// Children go on lines of their own (the element holds only elements, in a pretty context).
    children_on_lines: bool,
    /// A line break follows the end tag (the parent's children go on lines of their own).
    line_after: bool,
    next_child: usize,
}

/// Writes the tree iteratively: one element per line, except inside mixed content, where added
/// line breaks would change the text.
fn write_tree(out: &mut String, root: &Element) {
    let root_on_lines = has_elements(root) && !is_mixed(root);
    start_tag(out, root, None, root_on_lines);
    if root.children.is_empty() {
        out.push('\n');
        return;
    }
    let mut open = vec![Frame {
        element: root,
        children_on_lines: root_on_lines,
        line_after: true,
        next_child: 0,
    }];
    while let Some(frame) = open.last_mut() {
        let element = frame.element;
        let on_lines = frame.children_on_lines;
        let Some(node) = element.children.get(frame.next_child) else {
            out.push_str("</");
            out.push_str(element.tag.xml_name());
            out.push('>');
            if frame.line_after {
                out.push('\n');
            }
            open.pop();
            continue;
        };
        frame.next_child += 1;
        match node {
            Node::Text(text) => escape_into(out, text),
            Node::Opaque(data) => write_opaque(out, element.tag, data),
            Node::Element(child) => {
                let child_on_lines = on_lines && has_elements(child) && !is_mixed(child);
                start_tag(out, child, Some(element.tag.page), child_on_lines);
                if child.children.is_empty() {
                    if on_lines {
                        out.push('\n');
                    }
                } else {
                    open.push(Frame {
                        element: child,
                        children_on_lines: child_on_lines,
                        line_after: on_lines,
                        next_child: 0,
                    });
                }
            }
        }
    }
}

/// `<Name xmlns="Page:">`, `<Name>` or `<Name/>`; `xmlns` where the page differs from the parent's.
fn start_tag(
    out: &mut String,
    element: &Element,
    parent_page: Option<u8>,
    children_on_lines: bool,
) {
    out.push('<');
    out.push_str(element.tag.xml_name());
    if parent_page != Some(element.tag.page) {
        out.push_str(" xmlns=\"");
        out.push_str(code_page(element.tag.page).map_or("Unknown", |page| page.xml_namespace));
        out.push_str(":\"");
    }
    if element.children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        if children_on_lines {
            out.push('\n');
        }
    }
}

fn has_elements(element: &Element) -> bool {
    element
        .children
        .iter()
        .any(|node| matches!(node, Node::Element(_)))
}

/// Text or opaque content next to child elements.
fn is_mixed(element: &Element) -> bool {
    has_elements(element)
        && element
            .children
            .iter()
            .any(|node| !matches!(node, Node::Element(_)))
}

fn write_opaque(out: &mut String, tag: Tag, data: &[u8]) {
    if tag.def().is_some_and(|def| def.base64) {
        base64::engine::general_purpose::STANDARD.encode_string(data, out);
    } else {
        escape_into(out, &String::from_utf8_lossy(data));
    }
}

/// XML-escapes text the way libwbxml does (all five predefined entities). Control characters
/// other than CR, LF and TAB are shown as character references (see the module documentation).
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// Reads an EAS document written as XML (see the module documentation for what is accepted).
pub fn from_xml(text: &str) -> Result<Element, XmlError> {
    let limits = Limits::default();
    let mut reader = ParserConfig::new()
        .trim_whitespace(false)
        .whitespace_to_characters(true)
        .cdata_to_characters(true)
        .ignore_comments(true)
        .coalesce_characters(true)
        .create_reader(text.as_bytes());
    let mut open: Vec<Element> = Vec::new();
    let mut elements = 0usize;
    loop {
        let event = reader.next();
        let position = reader.position();
        let (line, column) = (position.row + 1, position.column + 1);
        match event {
            Err(error) => {
                let position = error.position();
                return Err(XmlError::Syntax {
                    line: position.row + 1,
                    column: position.column + 1,
                    message: error.msg().to_owned(),
                });
            }
            Ok(XmlEvent::StartElement {
                name, attributes, ..
            }) => {
                if let Some(attribute) = attributes.first() {
                    return Err(XmlError::Attribute {
                        line,
                        column,
                        name: attribute.name.to_string(),
                    });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        line,
                        column,
                        limit: limits.max_elements,
                    });
                }
                if open.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        line,
                        column,
                        limit: limits.max_depth,
                    });
                }
                let parent_page = open.last().and_then(|parent| code_page(parent.tag.page));
                let tag = resolve_tag(name.namespace.as_deref(), &name.local_name, parent_page)
                    .map_err(|unresolved| unresolved.at(line, column))?;
                open.push(Element::new(tag));
            }
            Ok(XmlEvent::Characters(characters)) => {
                // Text outside the root is whitespace (the parser rejects anything else).
                if let Some(element) = open.last_mut() {
                    element.children.push(Node::Text(characters));
                }
            }
            Ok(XmlEvent::EndElement { .. }) => {
                let Some(mut element) = open.pop() else {
                    return Err(XmlError::Syntax {
                        line,
                        column,
                        message: "unbalanced end tag".into(),
                    });
                };
                tidy_content(&mut element);
                match open.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => return Ok(element),
                }
            }
            Ok(XmlEvent::EndDocument) => return Err(XmlError::NoRootElement),
            Ok(_) => {}
        }
    }
}

/// A name that could not be resolved, before its position is known.
enum Unresolved {
    Namespace(String),
    Element(String, String),
    Root(String),
}

impl Unresolved {
    fn at(self, line: u64, column: u64) -> XmlError {
        match self {
            Unresolved::Namespace(namespace) => XmlError::UnknownNamespace {
                line,
                column,
                namespace,
            },
            Unresolved::Element(namespace, name) => XmlError::UnknownElement {
                line,
                column,
                namespace,
                name,
            },
            Unresolved::Root(name) => XmlError::MissingNamespace { line, column, name },
        }
    }
}

/// The tag for an element: its namespace's page, else its parent's page; a root without a
/// namespace takes the first page that defines its name (command names are unique).
fn resolve_tag(
    namespace: Option<&str>,
    name: &str,
    parent_page: Option<&'static CodePage>,
) -> Result<Tag, Unresolved> {
    let page = match (namespace.filter(|ns| !ns.is_empty()), parent_page) {
        (Some(namespace), _) => code_page_by_namespace(namespace)
            .ok_or_else(|| Unresolved::Namespace(namespace.to_owned()))?,
        (None, Some(parent)) => parent,
        (None, None) => {
            return PAGES
                .iter()
                .find_map(|page| {
                    page.tag_by_name(name)
                        .filter(|_| !name.starts_with("Unknown0x"))
                })
                .ok_or_else(|| Unresolved::Root(name.to_owned()));
        }
    };
    page.tag_by_name(name)
        .ok_or_else(|| Unresolved::Element(page.name.to_owned(), name.to_owned()))
}

/// Drops indentation and turns the base64 content of binary elements into
/// opaque data.
fn tidy_content(element: &mut Element) {
    let has_children = has_elements(element);
    element.children.retain(|node| match node {
        Node::Text(text) => {
            let blank = text.chars().all(char::is_whitespace);
            !(blank && (has_children || text.contains('\n')))
        }
        _ => true,
    });
    if has_children || !element.tag.def().is_some_and(|def| def.base64) {
        return;
    }
    let Some(Node::Text(text)) = element.children.first() else {
        return;
    };
    if element.children.len() != 1 {
        return;
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(data) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        element.children = if data.is_empty() {
            Vec::new()
        } else {
            vec![Node::Opaque(data)]
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::pages::tag::{
        airsync, airsyncbase, calendar, compose_mail, email, folder_hierarchy, gal, item_estimate,
    };
    use super::*;

    fn sync_with_body() -> Element {
        let mut sync = Element::new(airsync::SYNC);
        let data = sync
            .push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::APPLICATION_DATA));
        data.push(Element::new(airsyncbase::BODY))
            .push_text(airsyncbase::TYPE, "1")
            .push_text(airsyncbase::DATA, "a<b & \"c\" 'd'>");
        data.push_text(email::STATUS, "2").push_empty(email::READ);
        sync.push_empty(airsync::GET_CHANGES);
        sync
    }

    #[test]
    fn writes_what_wbxml2xml_writes() {
        let expected = concat!(
            "<?xml version=\"1.0\"?>\n",
            "<!DOCTYPE ActiveSync PUBLIC \"-//MICROSOFT//DTD ActiveSync//EN\" \"http://www.microsoft.com/\">\n",
            "<Sync xmlns=\"AirSync:\">\n",
            "<Collections>\n",
            "<ApplicationData>\n",
            "<Body xmlns=\"AirSyncBase:\">\n",
            "<Type>1</Type>\n",
            "<Data>a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;</Data>\n",
            "</Body>\n",
            "<FlagStatus xmlns=\"Email:\">2</FlagStatus>\n",
            "<Read xmlns=\"Email:\"/>\n",
            "</ApplicationData>\n",
            "</Collections>\n",
            "<GetChanges/>\n",
            "</Sync>\n",
        );
        assert_eq!(to_xml(&sync_with_body()), expected);
        assert_eq!(from_xml(expected), Ok(sync_with_body()));
    }

    #[test]
    fn libwbxml_namespaces_and_an_empty_root() {
        let xml = to_xml(&Element::new(item_estimate::GET_ITEM_ESTIMATE));
        assert!(
            xml.ends_with("\n<GetItemEstimate xmlns=\"GetItemEstimate:\"/>\n"),
            "{xml}"
        );
        let mut picture = Element::new(gal::PICTURE);
        picture.push_text(gal::STATUS, "1");
        assert!(to_xml(&picture)
            .ends_with("<Picture xmlns=\"Gal:\">\n<Status>1</Status>\n</Picture>\n"));
    }

    #[test]
    fn opaque_is_base64_only_where_libwbxml_uses_it() {
        let mut mail = Element::new(compose_mail::SEND_MAIL);
        mail.push_opaque(compose_mail::MIME, b"a\0c".to_vec());
        mail.push_opaque(compose_mail::CLIENT_ID, b"id".to_vec());
        let xml = to_xml(&mail);
        assert!(
            xml.contains("<MIME>YQBj</MIME>\n<ClientId>id</ClientId>\n"),
            "{xml}"
        );
        let back = from_xml(&xml).expect("reads");
        assert_eq!(
            back.child(compose_mail::MIME).map(|m| m.children.clone()),
            Some(vec![Node::Opaque(b"a\0c".to_vec())])
        );
        assert_eq!(
            back.child(compose_mail::CLIENT_ID)
                .map(|m| m.children.clone()),
            Some(vec![Node::Text("id".into())])
        );
    }

    #[test]
    fn reads_formatted_base64_and_keeps_non_base64_as_text() {
        let xml = "<SendMail xmlns=\"ComposeMail:\">\n  <MIME>\n    YWJj\n    ZGVm\n  </MIME>\n  <Mime>not base64!</Mime>\n  <MIME></MIME>\n</SendMail>";
        let mail = from_xml(xml).expect("reads");
        let mimes: Vec<&Element> = mail.children_with(compose_mail::MIME).collect();
        assert_eq!(mimes[0].children, [Node::Opaque(b"abcdef".to_vec())]);
        assert_eq!(mimes[1].children, [Node::Text("not base64!".into())]);
        assert!(mimes[2].is_empty());
    }

    #[test]
    fn reads_ms_names_prefixes_and_bare_namespaces() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
            <!-- a comment -->
            <fh:FolderSync xmlns:fh="FolderHierarchy" xmlns:cal="POOMCAL:">
              <fh:SyncKey>0</fh:SyncKey>
              <cal:Recurrence_DayOfMonth>5</cal:Recurrence_DayOfMonth>
              <cal:DayOfMonth><![CDATA[<6>]]></cal:DayOfMonth>
              <Calendar:Timezone xmlns:Calendar="calendar">tz</Calendar:Timezone>
            </fh:FolderSync>"#;
        let mut expected = Element::new(folder_hierarchy::FOLDER_SYNC);
        expected.push_text(folder_hierarchy::SYNC_KEY, "0");
        expected
            .push_text(calendar::DAY_OF_MONTH, "5")
            .push_text(calendar::DAY_OF_MONTH, "<6>");
        expected.push_text(calendar::TIMEZONE, "tz");
        assert_eq!(from_xml(xml), Ok(expected));
    }

    #[test]
    fn whitespace_rules() {
        let xml = "<Sync xmlns=\"AirSync:\">\n  <SyncKey>  two  spaces  </SyncKey>\n  <Status> </Status>\n  <Class>\n  </Class>\n  <Collections>\n  </Collections>\n</Sync>\n";
        let mut expected = Element::new(airsync::SYNC);
        expected
            .push_text(airsync::SYNC_KEY, "  two  spaces  ")
            .push_text(airsync::STATUS, " ");
        expected
            .push_empty(airsync::CLASS)
            .push_empty(airsync::COLLECTIONS);
        assert_eq!(from_xml(xml), Ok(expected));
    }

    #[test]
    fn unqualified_names_use_the_parent_or_the_first_defining_page() {
        let root = from_xml("<FolderSync><SyncKey>1</SyncKey></FolderSync>").expect("reads");
        assert_eq!(root.tag, folder_hierarchy::FOLDER_SYNC);
        assert_eq!(
            root.child_text(folder_hierarchy::SYNC_KEY).as_deref(),
            Some("1")
        );
        assert!(matches!(
            from_xml("<NoSuchCommand/>"),
            Err(XmlError::MissingNamespace { .. })
        ));
    }

    #[test]
    fn mixed_content_round_trips() {
        let mut status = Element::new(airsync::STATUS);
        status.children.push(Node::Text(" x ".into()));
        status.push_text(airsync::SYNC_KEY, "y");
        status.children.push(Node::Text("z\t".into()));
        let mut root = Element::new(airsync::SYNC);
        root.push(status);
        let xml = to_xml(&root);
        assert!(
            xml.contains("<Status> x <SyncKey>y</SyncKey>z\t</Status>\n"),
            "{xml}"
        );
        assert_eq!(from_xml(&xml), Ok(root));
    }

    #[test]
    fn crlf_and_surrounding_whitespace_survive() {
        let root = Element::with_text(airsyncbase::DATA, " line 1\r\nline 2\r\n");
        let xml = to_xml(&root);
        assert!(xml.contains("> line 1\r\nline 2\r\n</Data>"), "{xml:?}");
        assert_eq!(from_xml(&xml), Ok(root));
    }

    #[test]
    fn control_characters_are_shown_but_are_not_xml_1_0() {
        let root = Element::with_text(airsync::SYNC_KEY, "a\u{1}b");
        let xml = to_xml(&root);
        assert!(
            xml.contains("<SyncKey xmlns=\"AirSync:\">a&#x1;b</SyncKey>"),
            "{xml}"
        );
        assert!(matches!(from_xml(&xml), Err(XmlError::Syntax { .. })));
    }

    #[test]
    fn unknown_tokens_survive_as_unknown_names() {
        let mut root = Element::new(airsync::SYNC);
        root.push_text(
            Tag {
                page: 0,
                token: 0x3F,
            },
            "u",
        );
        let xml = to_xml(&root);
        assert!(xml.contains("<Unknown0x3F>u</Unknown0x3F>"), "{xml}");
        assert_eq!(from_xml(&xml), Ok(root));
    }

    #[test]
    fn errors_say_where() {
        type Check = fn(&XmlError) -> bool;
        let cases: [(&str, Check); 7] = [
            (
                "<Sync xmlns=\"AirSync:\"><Bad/></Sync>",
                |e| matches!(e, XmlError::UnknownElement { line: 1, name, .. } if name == "Bad"),
            ),
            (
                "<Sync xmlns=\"Nope:\"/>",
                |e| matches!(e, XmlError::UnknownNamespace { namespace, .. } if namespace == "Nope:"),
            ),
            (
                "<Sync xmlns=\"AirSync:\" a=\"1\"/>",
                |e| matches!(e, XmlError::Attribute { name, .. } if name == "a"),
            ),
            ("<Sync xmlns=\"AirSync:\">\n<SyncKey></Sync>", |e| {
                matches!(e, XmlError::Syntax { line: 2, .. })
            }),
            ("", |e| {
                matches!(e, XmlError::Syntax { .. } | XmlError::NoRootElement)
            }),
            ("<?xml version=\"1.0\"?>", |e| {
                matches!(e, XmlError::Syntax { .. } | XmlError::NoRootElement)
            }),
            ("<Sync xmlns=\"AirSync:\">", |e| {
                matches!(e, XmlError::Syntax { .. })
            }),
        ];
        for (xml, expected) in cases {
            let error = from_xml(xml).expect_err(xml);
            assert!(expected(&error), "{xml}: {error:?}");
            assert!(!error.to_string().is_empty());
        }
        let deep = "<Sync xmlns=\"AirSync:\">".repeat(100);
        assert!(matches!(
            from_xml(&deep),
            Err(XmlError::TooDeep { limit: 64, .. })
        ));
    }
}
