//! The WBXML writer: an [`Element`] tree into the bytes EAS clients expect.
//!
//! Output is what `xml2wbxml -n -a` writes for the same document: header `03 01 6A 00` (WBXML 1.3,
//! public id 1 "unknown", UTF-8, no string table), SWITCH_PAGE only where the code page changes
//! (also before the root when its page is not 0), the content bit only on elements with children,
//! text as STR_I and opaque data as OPAQUE. A NUL inside text would end the STR_I early and corrupt
//! everything after it, so NULs are left out.

use super::tree::{Element, Node};

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const STR_I: u8 = 0x03;
const OPAQUE: u8 = 0xC3;
const WITH_CONTENT: u8 = 0x40;
const TOKEN_MASK: u8 = 0x3F;

/// WBXML 1.3, public id 1 (unknown), charset 106 (UTF-8), empty string table.
const HEADER: [u8; 4] = [0x03, 0x01, 0x6A, 0x00];

/// Encodes `root` as a WBXML document.
pub fn encode(root: &Element) -> Vec<u8> {
    let mut writer = Writer {
        out: Vec::with_capacity(estimated_size(root)),
        page: 0,
    };
    writer.out.extend_from_slice(&HEADER);
    writer.start(root);
    if root.children.is_empty() {
        return writer.out;
    }
    // Iterative walk: children still to write, per open element.
    let mut open = vec![root.children.iter()];
    while let Some(children) = open.last_mut() {
        match children.next() {
            None => {
                writer.out.push(END);
                open.pop();
            }
            Some(Node::Text(text)) => writer.text(text),
            Some(Node::Opaque(data)) => writer.opaque(data),
            Some(Node::Element(element)) => {
                writer.start(element);
                if !element.children.is_empty() {
                    open.push(element.children.iter());
                }
            }
        }
    }
    writer.out
}

struct Writer {
    out: Vec<u8>,
    page: u8,
}

impl Writer {
    /// The tag of `element`, preceded by SWITCH_PAGE if its page is not the current one.
    fn start(&mut self, element: &Element) {
        if element.tag.page != self.page {
            self.out.push(SWITCH_PAGE);
            self.out.push(element.tag.page);
            self.page = element.tag.page;
        }
        debug_assert!(
            (0x05..=TOKEN_MASK).contains(&element.tag.token),
            "tag token {:#04X} is outside 0x05..=0x3F",
            element.tag.token
        );
        let mut byte = element.tag.token & TOKEN_MASK;
        if !element.children.is_empty() {
            byte |= WITH_CONTENT;
        }
        self.out.push(byte);
    }

    fn text(&mut self, text: &str) {
        self.out.push(STR_I);
        let bytes = text.as_bytes();
        if bytes.contains(&0) {
            self.out.extend(bytes.iter().copied().filter(|&b| b != 0));
        } else {
            self.out.extend_from_slice(bytes);
        }
        self.out.push(0);
    }

    fn opaque(&mut self, data: &[u8]) {
        // An EAS document never carries 4 GiB; past that only the first 4 GiB - 1 could be framed.
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.out.push(OPAQUE);
        write_mb_u_int32(&mut self.out, length);
        self.out
            .extend_from_slice(data.get(..length as usize).unwrap_or(data));
    }
}

/// A WBXML mb_u_int32: 7 bits per byte, most significant first, high bit set on all but the last.
fn write_mb_u_int32(out: &mut Vec<u8>, value: u32) {
    let mut started = false;
    for shift in [28u32, 21, 14, 7] {
        let group = ((value >> shift) & 0x7F) as u8;
        if group != 0 || started {
            out.push(group | 0x80);
            started = true;
        }
    }
    out.push((value & 0x7F) as u8);
}

/// A quick upper-bound-ish guess of the output size, to allocate once for large documents.
fn estimated_size(root: &Element) -> usize {
    let mut size = HEADER.len();
    let mut pending = vec![root];
    while let Some(element) = pending.pop() {
        size += 4;
        for node in &element.children {
            match node {
                Node::Element(child) => pending.push(child),
                Node::Text(text) => size += text.len() + 2,
                Node::Opaque(data) => size += data.len() + 6,
            }
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mb_u_int32_groups_of_seven_bits() {
        let cases: [(u32, &[u8]); 6] = [
            (0, &[0x00]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (0xA0, &[0x81, 0x20]),
            (0x3FFF, &[0xFF, 0x7F]),
            (u32::MAX, &[0x8F, 0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            write_mb_u_int32(&mut out, value);
            assert_eq!(out, expected, "{value}");
        }
    }
}
