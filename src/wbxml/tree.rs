//! The document tree the codec reads into and writes from: elements named by [`Tag`], with text,
//! opaque data and child elements in document order.

use super::pages::Tag;

/// One element: its tag and its content in document order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Element {
    pub tag: Tag,
    pub children: Vec<Node>,
}

/// A piece of element content.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Node {
    Element(Element),
    /// An inline string (STR_I); UTF-8.
    Text(String),
    /// Opaque data (OPAQUE): MIME blobs, conversation ids, pictures.
    Opaque(Vec<u8>),
}

impl Element {
    /// An empty element (`<tag/>`).
    pub fn new(tag: Tag) -> Element {
        Element {
            tag,
            children: Vec::new(),
        }
    }

    /// `<tag>text</tag>`. An empty string gives `<tag/>`, which is how EAS writes an empty value.
    pub fn with_text(tag: Tag, text: impl Into<String>) -> Element {
        let text = text.into();
        let children = if text.is_empty() {
            Vec::new()
        } else {
            vec![Node::Text(text)]
        };
        Element { tag, children }
    }

    /// `<tag>` holding opaque bytes; empty bytes give `<tag/>`.
    pub fn with_opaque(tag: Tag, bytes: Vec<u8>) -> Element {
        let children = if bytes.is_empty() {
            Vec::new()
        } else {
            vec![Node::Opaque(bytes)]
        };
        Element { tag, children }
    }

    /// Appends `child` and returns it, to fill it in place.
    pub fn push(&mut self, child: Element) -> &mut Element {
        self.children.push(Node::Element(child));
        match self.children.last_mut() {
            Some(Node::Element(pushed)) => pushed,
            // The element pushed on the line above is the last child.
            _ => unreachable!("the last child is the element just pushed"),
        }
    }

    /// Appends `<tag>text</tag>` and returns `self` for chaining.
    pub fn push_text(&mut self, tag: Tag, text: impl Into<String>) -> &mut Self {
        self.children
            .push(Node::Element(Element::with_text(tag, text)));
        self
    }

    /// Appends `<tag>` with opaque content and returns `self` for chaining.
    pub fn push_opaque(&mut self, tag: Tag, bytes: Vec<u8>) -> &mut Self {
        self.children
            .push(Node::Element(Element::with_opaque(tag, bytes)));
        self
    }

    /// Appends `<tag/>` and returns `self` for chaining.
    pub fn push_empty(&mut self, tag: Tag) -> &mut Self {
        self.children.push(Node::Element(Element::new(tag)));
        self
    }

    /// The first direct child element with `tag`.
    pub fn child(&self, tag: Tag) -> Option<&Element> {
        self.elements().find(|child| child.tag == tag)
    }

    /// The first direct child element with `tag`, mutable.
    pub fn child_mut(&mut self, tag: Tag) -> Option<&mut Element> {
        self.children.iter_mut().find_map(|node| match node {
            Node::Element(child) if child.tag == tag => Some(child),
            _ => None,
        })
    }

    /// All direct child elements with `tag`, in order.
    pub fn children_with(&self, tag: Tag) -> impl Iterator<Item = &Element> {
        self.elements().filter(move |child| child.tag == tag)
    }

    /// All direct child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(child) => Some(child),
            _ => None,
        })
    }

    /// The element's text: its Text and Opaque content concatenated, opaque bytes read as UTF-8
    /// (invalid sequences replaced), since clients may send a string as OPAQUE. `None` when the
    /// element has no text or opaque content.
    pub fn text(&self) -> Option<String> {
        let mut pieces = self.children.iter().filter_map(|node| match node {
            Node::Text(text) => Some(std::borrow::Cow::Borrowed(text.as_str())),
            Node::Opaque(bytes) => Some(String::from_utf8_lossy(bytes)),
            Node::Element(_) => None,
        });
        let first = pieces.next()?;
        let mut text = first.into_owned();
        for piece in pieces {
            text.push_str(&piece);
        }
        Some(text)
    }

    /// `self.child(tag)?.text()`.
    pub fn child_text(&self, tag: Tag) -> Option<String> {
        self.child(tag)?.text()
    }

    /// The element's content as bytes: its Opaque and Text content concatenated (text as UTF-8).
    /// `None` when the element has no text or opaque content.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let mut found = false;
        let mut bytes = Vec::new();
        for node in &self.children {
            match node {
                Node::Text(text) => bytes.extend_from_slice(text.as_bytes()),
                Node::Opaque(data) => bytes.extend_from_slice(data),
                Node::Element(_) => continue,
            }
            found = true;
        }
        found.then_some(bytes)
    }

    /// Whether the element has no content at all (`<tag/>`).
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::pages::tag::{airsync, compose_mail};
    use super::*;

    #[test]
    fn builders_nest_and_chain() {
        let mut sync = Element::new(airsync::SYNC);
        let collection = sync
            .push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION));
        collection
            .push_text(airsync::SYNC_KEY, "7")
            .push_empty(airsync::GET_CHANGES);
        let collection = sync
            .child(airsync::COLLECTIONS)
            .and_then(|c| c.child(airsync::COLLECTION))
            .expect("collection");
        assert_eq!(
            collection.child_text(airsync::SYNC_KEY).as_deref(),
            Some("7")
        );
        assert!(collection
            .child(airsync::GET_CHANGES)
            .is_some_and(Element::is_empty));
        assert_eq!(collection.elements().count(), 2);
    }

    #[test]
    fn empty_values_are_empty_elements() {
        assert!(Element::with_text(airsync::SYNC_KEY, "").is_empty());
        assert!(Element::with_opaque(compose_mail::MIME, Vec::new()).is_empty());
        assert_eq!(Element::new(airsync::SYNC_KEY).text(), None);
        assert_eq!(Element::new(airsync::SYNC_KEY).bytes(), None);
    }

    #[test]
    fn text_and_bytes_join_text_and_opaque() {
        let mut mime = Element::new(compose_mail::MIME);
        mime.children.push(Node::Text("ab".into()));
        mime.children.push(Node::Opaque(vec![b'c', 0xFF]));
        mime.children
            .push(Node::Element(Element::new(airsync::SYNC)));
        assert_eq!(mime.text().as_deref(), Some("abc\u{FFFD}"));
        assert_eq!(mime.bytes(), Some(vec![b'a', b'b', b'c', 0xFF]));
    }

    #[test]
    fn children_with_filters_by_tag() {
        let mut folders = Element::new(airsync::COMMANDS);
        folders
            .push_text(airsync::ADD, "1")
            .push_text(airsync::DELETE, "2")
            .push_text(airsync::ADD, "3");
        let adds: Vec<String> = folders
            .children_with(airsync::ADD)
            .filter_map(Element::text)
            .collect();
        assert_eq!(adds, ["1", "3"]);
        folders
            .child_mut(airsync::DELETE)
            .expect("delete")
            .push_empty(airsync::SERVER_ID);
        assert_eq!(
            folders.child(airsync::DELETE).map(|d| d.children.len()),
            Some(2)
        );
    }
}
