//! The WBXML 1.3 reader: bytes from the network into an [`Element`] tree, within [`Limits`].
//!
//! Reads what EAS clients send: the header (any public id, including the string-table form;
//! UTF-8), SWITCH_PAGE, tags with the content bit, END, STR_I, STR_T, OPAQUE and ENTITY. Attributes,
//! literals, extensions and processing instructions do not occur in EAS and are errors. Tokens that
//! a known page does not define are kept as they are, so decoding loses nothing. Invalid UTF-8 in a
//! string is replaced (U+FFFD) rather than refused: a phone's odd byte in a subject line must not
//! fail the whole Sync. Every length is checked against the bytes that are really there before
//! anything is allocated, and nothing here panics on any input.

use std::fmt;

use super::pages::{code_page, Tag};
use super::tree::{Element, Node};

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const EXT_I_0: u8 = 0x40;
const EXT_I_1: u8 = 0x41;
const EXT_I_2: u8 = 0x42;
const PI: u8 = 0x43;
const LITERAL_C: u8 = 0x44;
const EXT_T_0: u8 = 0x80;
const EXT_T_1: u8 = 0x81;
const EXT_T_2: u8 = 0x82;
const STR_T: u8 = 0x83;
const LITERAL_A: u8 = 0x84;
const EXT_0: u8 = 0xC0;
const EXT_1: u8 = 0xC1;
const EXT_2: u8 = 0xC2;
const OPAQUE: u8 = 0xC3;
const LITERAL_AC: u8 = 0xC4;

const WITH_CONTENT: u8 = 0x40;
const WITH_ATTRIBUTES: u8 = 0x80;
const TOKEN_MASK: u8 = 0x3F;

/// IANA MIBenum of UTF-8.
const CHARSET_UTF8: u32 = 106;
/// IANA MIBenum of US-ASCII, a subset of UTF-8.
const CHARSET_US_ASCII: u32 = 3;
/// "Unknown" in WBXML; EAS documents are UTF-8.
const CHARSET_UNKNOWN: u32 = 0;

/// Bounds on what one document may make the decoder build.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting (the root is at depth 1).
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Largest document, in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    /// Depth 64, 200 000 elements, 64 MiB: far above any real EAS request (a Sync of 512 items
    /// nests about 12 deep), far below what would hurt a small box.
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_elements: 200_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a document could not be decoded. `offset` is the byte offset where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The document is larger than [`Limits::max_bytes`].
    TooLarge { size: usize, limit: usize },
    /// The document ends inside something (`expected` says what).
    UnexpectedEnd {
        offset: usize,
        expected: &'static str,
    },
    /// The WBXML version byte is not 1.1, 1.2 or 1.3.
    UnsupportedVersion { offset: usize, version: u8 },
    /// The charset is not UTF-8 (MIBenum 106; US-ASCII and "unknown" are read as UTF-8).
    UnsupportedCharset { offset: usize, charset: u32 },
    /// A multi-byte integer is longer than 32 bits.
    IntegerOverflow { offset: usize },
    /// A length (string table or OPAQUE) runs past the end of the document.
    LengthPastEnd {
        offset: usize,
        what: &'static str,
        length: u32,
        available: usize,
    },
    /// A STR_T (or the public id) points outside the string table or at an unterminated string.
    BadStringTableReference { offset: usize, index: u32 },
    /// SWITCH_PAGE to a code page EAS does not define.
    UnknownCodePage { offset: usize, page: u8 },
    /// A tag with the attribute bit: EAS has no attributes.
    AttributesNotAllowed { offset: usize, token: u8 },
    /// A WBXML token EAS does not use (LITERAL, EXT, PI) or a tag token below 0x05.
    UnsupportedToken { offset: usize, token: u8 },
    /// ENTITY naming NUL or something that is not a Unicode scalar value.
    InvalidEntity { offset: usize, code: u32 },
    /// Content or END where no element is open.
    OutsideRoot { offset: usize, what: &'static str },
    /// The body has no element.
    NoRootElement { offset: usize },
    /// Bytes after the end of the root element.
    TrailingData { offset: usize },
    /// Elements nested deeper than [`Limits::max_depth`].
    TooDeep { offset: usize, limit: usize },
    /// More elements than [`Limits::max_elements`].
    TooManyElements { offset: usize, limit: usize },
}

impl DecodeError {
    /// Byte offset of the problem (the document size for [`DecodeError::TooLarge`]).
    pub fn offset(&self) -> usize {
        match *self {
            DecodeError::TooLarge { size, .. } => size,
            DecodeError::UnexpectedEnd { offset, .. }
            | DecodeError::UnsupportedVersion { offset, .. }
            | DecodeError::UnsupportedCharset { offset, .. }
            | DecodeError::IntegerOverflow { offset }
            | DecodeError::LengthPastEnd { offset, .. }
            | DecodeError::BadStringTableReference { offset, .. }
            | DecodeError::UnknownCodePage { offset, .. }
            | DecodeError::AttributesNotAllowed { offset, .. }
            | DecodeError::UnsupportedToken { offset, .. }
            | DecodeError::InvalidEntity { offset, .. }
            | DecodeError::OutsideRoot { offset, .. }
            | DecodeError::NoRootElement { offset }
            | DecodeError::TrailingData { offset }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::TooManyElements { offset, .. } => offset,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { size, limit } => {
                write!(f, "WBXML document of {size} bytes exceeds the limit of {limit} bytes")
            }
            DecodeError::UnexpectedEnd { offset, expected } => {
                write!(f, "WBXML ends at byte {offset}, expected {expected}")
            }
            DecodeError::UnsupportedVersion { offset, version } => {
                write!(f, "unsupported WBXML version 0x{version:02X} at byte {offset}")
            }
            DecodeError::UnsupportedCharset { offset, charset } => {
                write!(f, "unsupported WBXML charset {charset} at byte {offset} (only UTF-8)")
            }
            DecodeError::IntegerOverflow { offset } => {
                write!(f, "multi-byte integer longer than 32 bits at byte {offset}")
            }
            DecodeError::LengthPastEnd { offset, what, length, available } => write!(
                f,
                "{what} of {length} bytes at byte {offset} runs past the end ({available} bytes left)"
            ),
            DecodeError::BadStringTableReference { offset, index } => {
                write!(f, "string table reference {index} at byte {offset} is invalid")
            }
            DecodeError::UnknownCodePage { offset, page } => {
                write!(f, "unknown code page {page} at byte {offset}")
            }
            DecodeError::AttributesNotAllowed { offset, token } => {
                write!(f, "tag 0x{token:02X} at byte {offset} has attributes, which EAS does not use")
            }
            DecodeError::UnsupportedToken { offset, token } => {
                write!(f, "WBXML token 0x{token:02X} at byte {offset} is not used by EAS")
            }
            DecodeError::InvalidEntity { offset, code } => {
                write!(f, "entity {code} at byte {offset} is not a Unicode character")
            }
            DecodeError::OutsideRoot { offset, what } => {
                write!(f, "{what} at byte {offset} is outside any element")
            }
            DecodeError::NoRootElement { offset } => {
                write!(f, "WBXML body has no element (ends at byte {offset})")
            }
            DecodeError::TrailingData { offset } => {
                write!(f, "data after the end of the root element at byte {offset}")
            }
            DecodeError::TooDeep { offset, limit } => {
                write!(f, "element at byte {offset} is nested deeper than {limit} levels")
            }
            DecodeError::TooManyElements { offset, limit } => {
                write!(f, "element at byte {offset} exceeds the limit of {limit} elements")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes with [`Limits::default`].
pub fn decode(bytes: &[u8]) -> Result<Element, DecodeError> {
    decode_with(bytes, &Limits::default())
}

/// Decodes one WBXML document into its root element.
pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Element, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let mut reader = Reader { bytes, pos: 0 };
    let string_table = read_header(&mut reader)?;
    let root = read_body(&mut reader, string_table, limits)?;
    if reader.pos < bytes.len() {
        return Err(DecodeError::TrailingData { offset: reader.pos });
    }
    Ok(root)
}

/// Reads the header and returns the string table.
fn read_header<'a>(reader: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let offset = reader.pos;
    let version = reader.byte("the WBXML version")?;
    if !(0x01..=0x03).contains(&version) {
        return Err(DecodeError::UnsupportedVersion { offset, version });
    }
    let public_id = reader.mb_u_int32("the public identifier")?;
    if public_id == 0 {
        // The id is a string in the string table; which one does not matter to EAS.
        reader.mb_u_int32("the public identifier index")?;
    }
    let offset = reader.pos;
    let charset = reader.mb_u_int32("the charset")?;
    if !matches!(charset, CHARSET_UTF8 | CHARSET_US_ASCII | CHARSET_UNKNOWN) {
        return Err(DecodeError::UnsupportedCharset { offset, charset });
    }
    let string_table = reader.counted("string table")?;
    Ok(string_table)
}

/// Reads the body: optional SWITCH_PAGEs, then exactly one root element.
fn read_body(
    reader: &mut Reader<'_>,
    string_table: &[u8],
    limits: &Limits,
) -> Result<Element, DecodeError> {
    let mut page: u8 = 0;
    // Open elements, innermost last.
    let mut open: Vec<Element> = Vec::new();
    let mut elements: usize = 0;
    loop {
        let offset = reader.pos;
        let Some(byte) = reader.next() else {
            return Err(if open.is_empty() {
                DecodeError::NoRootElement { offset }
            } else {
                DecodeError::UnexpectedEnd {
                    offset,
                    expected: "the END of an open element",
                }
            });
        };
        let content = match byte {
            SWITCH_PAGE => {
                let page_offset = reader.pos;
                let new_page = reader.byte("a code page number")?;
                if code_page(new_page).is_none() {
                    return Err(DecodeError::UnknownCodePage {
                        offset: page_offset,
                        page: new_page,
                    });
                }
                page = new_page;
                continue;
            }
            END => {
                let Some(finished) = open.pop() else {
                    return Err(DecodeError::OutsideRoot {
                        offset,
                        what: "END",
                    });
                };
                match open.last_mut() {
                    Some(parent) => {
                        parent.children.push(Node::Element(finished));
                        continue;
                    }
                    None => return Ok(finished),
                }
            }
            STR_I => Node::Text(lossy_string(reader.terminated("an inline string")?)),
            STR_T => {
                let index_offset = reader.pos;
                let index = reader.mb_u_int32("a string table reference")?;
                let text = table_string(string_table, index).ok_or(
                    DecodeError::BadStringTableReference {
                        offset: index_offset,
                        index,
                    },
                )?;
                Node::Text(lossy_string(text))
            }
            OPAQUE => Node::Opaque(reader.counted("OPAQUE data")?.to_vec()),
            ENTITY => {
                let code_offset = reader.pos;
                let code = reader.mb_u_int32("an entity")?;
                // NUL cannot be carried by STR_I (or XML), so it is refused like a non-character.
                let character = char::from_u32(code).filter(|&c| c != '\0').ok_or(
                    DecodeError::InvalidEntity {
                        offset: code_offset,
                        code,
                    },
                )?;
                Node::Text(character.to_string())
            }
            LITERAL | EXT_I_0 | EXT_I_1 | EXT_I_2 | PI | LITERAL_C | EXT_T_0 | EXT_T_1
            | EXT_T_2 | LITERAL_A | EXT_0 | EXT_1 | EXT_2 | LITERAL_AC => {
                return Err(DecodeError::UnsupportedToken {
                    offset,
                    token: byte,
                });
            }
            tag_byte => {
                if tag_byte & WITH_ATTRIBUTES != 0 {
                    return Err(DecodeError::AttributesNotAllowed {
                        offset,
                        token: tag_byte,
                    });
                }
                let token = tag_byte & TOKEN_MASK;
                if token < 0x05 {
                    // 0x40..=0x44 are global tokens handled above; nothing else lands here.
                    return Err(DecodeError::UnsupportedToken {
                        offset,
                        token: tag_byte,
                    });
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(DecodeError::TooManyElements {
                        offset,
                        limit: limits.max_elements,
                    });
                }
                if open.len() >= limits.max_depth {
                    return Err(DecodeError::TooDeep {
                        offset,
                        limit: limits.max_depth,
                    });
                }
                let element = Element::new(Tag { page, token });
                if tag_byte & WITH_CONTENT != 0 {
                    open.push(element);
                    continue;
                }
                Node::Element(element)
            }
        };
        match open.last_mut() {
            Some(parent) => parent.children.push(content),
            None => match content {
                Node::Element(root) => return Ok(root),
                Node::Text(_) | Node::Opaque(_) => {
                    return Err(DecodeError::OutsideRoot {
                        offset,
                        what: "content",
                    });
                }
            },
        }
    }
}

/// UTF-8 text; invalid sequences become U+FFFD instead of failing the document.
fn lossy_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The NUL-terminated string at `index` in the string table.
fn table_string(table: &[u8], index: u32) -> Option<&[u8]> {
    let rest = table.get(usize::try_from(index).ok()?..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    rest.get(..end)
}

/// A cursor over the document; every read checks the bytes that are left.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn byte(&mut self, expected: &'static str) -> Result<u8, DecodeError> {
        self.next().ok_or(DecodeError::UnexpectedEnd {
            offset: self.pos,
            expected,
        })
    }

    /// A WBXML mb_u_int32: big-endian groups of 7 bits, high bit = more follow; at most 32 bits.
    fn mb_u_int32(&mut self, expected: &'static str) -> Result<u32, DecodeError> {
        let start = self.pos;
        let mut value: u32 = 0;
        loop {
            let byte = self.byte(expected)?;
            if value > (u32::MAX >> 7) {
                return Err(DecodeError::IntegerOverflow { offset: start });
            }
            value = (value << 7) | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
    }

    /// An mb_u_int32 length followed by that many bytes.
    fn counted(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let length = self.mb_u_int32(what)?;
        let offset = self.pos;
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let split = usize::try_from(length)
            .ok()
            .and_then(|len| rest.split_at_checked(len));
        let Some((data, _)) = split else {
            return Err(DecodeError::LengthPastEnd {
                offset,
                what,
                length,
                available: rest.len(),
            });
        };
        self.pos += data.len();
        Ok(data)
    }

    /// Bytes up to the next NUL (which is consumed).
    fn terminated(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let Some(length) = rest.iter().position(|&b| b == 0) else {
            return Err(DecodeError::UnexpectedEnd {
                offset: self.bytes.len(),
                expected: what,
            });
        };
        let text = rest.get(..length).unwrap_or_default();
        self.pos += length + 1;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode;
    use super::super::pages::tag::{airsync, compose_mail, folder_hierarchy};
    use super::*;

    const HEADER: [u8; 4] = [0x03, 0x01, 0x6A, 0x00];

    fn document(body: &[u8]) -> Vec<u8> {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    /// A FolderSync request with text, opaque data, a page switch and an empty element.
    fn sample() -> Vec<u8> {
        document(&[
            0x00, 0x07, 0x56, // FolderSync
            0x52, 0x03, b'1', b'2', 0x00, 0x01, // SyncKey "12"
            0x00, 0x15, 0x50, 0xC3, 0x03, 0xFF, 0x00, 0x41, 0x01, // ComposeMail:MIME opaque
            0x00, 0x07, 0x4E, 0x0F, 0x01, // Changes { Add/ }
            0x01,
        ])
    }

    #[test]
    fn decodes_tags_pages_text_and_opaque() {
        let root = decode(&sample()).expect("decodes");
        assert_eq!(root.tag, folder_hierarchy::FOLDER_SYNC);
        assert_eq!(
            root.child_text(folder_hierarchy::SYNC_KEY).as_deref(),
            Some("12")
        );
        let mime = root.child(compose_mail::MIME).expect("mime");
        assert_eq!(mime.children, [Node::Opaque(vec![0xFF, 0x00, 0x41])]);
        let changes = root.child(folder_hierarchy::CHANGES).expect("changes");
        assert!(changes
            .child(folder_hierarchy::ADD)
            .is_some_and(Element::is_empty));
        assert_eq!(encode(&root), sample());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for end in 0..bytes.len() {
            let result = decode(&bytes[..end]);
            assert!(result.is_err(), "prefix of {end} bytes decoded: {result:?}");
        }
        assert_eq!(
            decode(&[]),
            Err(DecodeError::UnexpectedEnd {
                offset: 0,
                expected: "the WBXML version"
            })
        );
        assert_eq!(
            decode(&HEADER),
            Err(DecodeError::NoRootElement { offset: 4 })
        );
        assert_eq!(
            decode(&document(&[0x45, 0x4B])),
            Err(DecodeError::UnexpectedEnd {
                offset: 6,
                expected: "the END of an open element"
            })
        );
        assert!(matches!(
            decode(&document(&[0x45, 0x03, b'a'])),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn every_single_byte_change_decodes_or_fails_cleanly() {
        let original = sample();
        for position in 0..original.len() {
            for value in 0..=255u8 {
                let mut bytes = original.clone();
                bytes[position] = value;
                if let Ok(root) = decode(&bytes) {
                    assert_eq!(
                        decode(&encode(&root)).as_ref(),
                        Ok(&root),
                        "byte {position} = {value:#04X}"
                    );
                }
            }
        }
    }

    #[test]
    fn header_forms() {
        // Public id 0 + string-table index, a string table, STR_T into it.
        let mut bytes = vec![0x03, 0x00, 0x00, 0x6A, 0x08];
        bytes.extend_from_slice(b"abc\0def\0");
        bytes.extend_from_slice(&[0x45, 0x4B, 0x83, 0x04, 0x01, 0x01]);
        let root = decode(&bytes).expect("string table document");
        assert_eq!(root.child_text(airsync::SYNC_KEY).as_deref(), Some("def"));

        // Multi-byte public id and charset; US-ASCII and "unknown" are read as UTF-8.
        for header in [
            &[0x03, 0x81, 0x01, 0x6A, 0x00][..],
            &[0x02, 0x01, 0x03, 0x00],
            &[0x01, 0x01, 0x00, 0x00],
        ] {
            let mut bytes = header.to_vec();
            bytes.push(0x05);
            assert_eq!(decode(&bytes).map(|e| e.tag), Ok(airsync::SYNC));
        }
        assert_eq!(
            decode(&[0x04, 0x01, 0x6A, 0x00, 0x05]),
            Err(DecodeError::UnsupportedVersion {
                offset: 0,
                version: 0x04
            })
        );
        assert_eq!(
            decode(&[0x03, 0x01, 0x04, 0x00, 0x05]),
            Err(DecodeError::UnsupportedCharset {
                offset: 2,
                charset: 4
            })
        );
    }

    #[test]
    fn string_table_references_are_checked() {
        let bad = [
            vec![
                0x03, 0x01, 0x6A, 0x04, b'a', b'b', b'c', 0x00, 0x45, 0x83, 0x04, 0x01,
            ], // past the end
            vec![
                0x03, 0x01, 0x6A, 0x03, b'a', b'b', b'c', 0x45, 0x83, 0x00, 0x01,
            ], // unterminated
            vec![
                0x03, 0x01, 0x6A, 0x00, 0x45, 0x83, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01,
            ], // huge index
        ];
        for bytes in bad {
            assert!(
                matches!(
                    decode(&bytes),
                    Err(DecodeError::BadStringTableReference { .. })
                ),
                "{bytes:02X?}"
            );
        }
    }

    #[test]
    fn bad_multi_byte_integers() {
        // Six bytes, and five bytes beyond 32 bits.
        for length in [
            &[0x81, 0x80, 0x80, 0x80, 0x80, 0x00][..],
            &[0x90, 0x80, 0x80, 0x80, 0x00],
        ] {
            let mut bytes = vec![0x03];
            bytes.extend_from_slice(length);
            bytes.extend_from_slice(&[0x6A, 0x00, 0x05]);
            assert_eq!(
                decode(&bytes),
                Err(DecodeError::IntegerOverflow { offset: 1 })
            );
        }
        // The largest 32-bit value is fine (as a public id).
        assert!(decode(&[0x03, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x6A, 0x00, 0x05]).is_ok());
        // Continuation bit on the last byte of the document.
        assert!(matches!(
            decode(&[0x03, 0x81]),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn lengths_past_the_end_allocate_nothing() {
        let huge_opaque = document(&[0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0x01]);
        assert_eq!(
            decode(&huge_opaque),
            Err(DecodeError::LengthPastEnd {
                offset: 11,
                what: "OPAQUE data",
                length: u32::MAX,
                available: 2
            })
        );
        let short_opaque = document(&[0x45, 0xC3, 0x05, b'a', 0x01]);
        assert!(matches!(
            decode(&short_opaque),
            Err(DecodeError::LengthPastEnd { length: 5, .. })
        ));
        let huge_table = [0x03, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x45];
        assert!(matches!(
            decode(&huge_table),
            Err(DecodeError::LengthPastEnd {
                what: "string table",
                ..
            })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let mut bomb = HEADER.to_vec();
        bomb.extend(std::iter::repeat_n(0x45, 100_000));
        assert_eq!(
            decode(&bomb),
            Err(DecodeError::TooDeep {
                offset: 68,
                limit: 64
            })
        );

        let limits = Limits {
            max_depth: 2,
            max_elements: 3,
            max_bytes: 100,
        };
        assert!(decode_with(&document(&[0x45, 0x0B, 0x01]), &limits).is_ok());
        assert_eq!(
            decode_with(&document(&[0x45, 0x4F, 0x0B, 0x01, 0x01]), &limits),
            Err(DecodeError::TooDeep {
                offset: 6,
                limit: 2
            })
        );
        assert_eq!(
            decode_with(&document(&[0x45, 0x0B, 0x0B, 0x0B, 0x01]), &limits),
            Err(DecodeError::TooManyElements {
                offset: 7,
                limit: 3
            })
        );
        let big = document(&[0x45; 200]);
        assert_eq!(
            decode_with(&big, &limits),
            Err(DecodeError::TooLarge {
                size: 204,
                limit: 100
            })
        );
    }

    #[test]
    fn tokens_eas_does_not_use_are_rejected() {
        for (body, expected) in [
            (
                &[0x85, 0x01][..],
                DecodeError::AttributesNotAllowed {
                    offset: 4,
                    token: 0x85,
                },
            ),
            (
                &[0xC5, 0x01, 0x01],
                DecodeError::AttributesNotAllowed {
                    offset: 4,
                    token: 0xC5,
                },
            ),
            (
                &[0x45, 0x04, 0x00, 0x01],
                DecodeError::UnsupportedToken {
                    offset: 5,
                    token: 0x04,
                },
            ),
            (
                &[0x45, 0x43, 0x01],
                DecodeError::UnsupportedToken {
                    offset: 5,
                    token: 0x43,
                },
            ),
            (
                &[0x45, 0x80, 0x00, 0x01],
                DecodeError::UnsupportedToken {
                    offset: 5,
                    token: 0x80,
                },
            ),
            (
                &[0x45, 0xC0, 0x01],
                DecodeError::UnsupportedToken {
                    offset: 5,
                    token: 0xC0,
                },
            ),
            (
                &[0x00, 0x1A, 0x05],
                DecodeError::UnknownCodePage {
                    offset: 5,
                    page: 26,
                },
            ),
            (
                &[0x45, 0x02, 0x00, 0x01],
                DecodeError::InvalidEntity { offset: 6, code: 0 },
            ),
            (
                &[0x45, 0x02, 0xC4, 0x80, 0x00, 0x01],
                DecodeError::InvalidEntity {
                    offset: 6,
                    code: 0x110000,
                },
            ),
        ] {
            assert_eq!(decode(&document(body)), Err(expected), "{body:02X?}");
        }
    }

    #[test]
    fn structure_errors() {
        for (body, expected) in [
            (
                &[0x01][..],
                DecodeError::OutsideRoot {
                    offset: 4,
                    what: "END",
                },
            ),
            (
                &[0x03, b'x', 0x00, 0x05],
                DecodeError::OutsideRoot {
                    offset: 4,
                    what: "content",
                },
            ),
            (&[0x05, 0x05], DecodeError::TrailingData { offset: 5 }),
            (
                &[0x45, 0x01, 0x00, 0x00],
                DecodeError::TrailingData { offset: 6 },
            ),
            (&[0x00, 0x00], DecodeError::NoRootElement { offset: 6 }),
        ] {
            assert_eq!(decode(&document(body)), Err(expected), "{body:02X?}");
        }
    }

    #[test]
    fn text_forms() {
        // ENTITY é, invalid UTF-8 made lossy, an unknown token kept as it is.
        let bytes = document(&[
            0x45, 0x4B, 0x02, 0x81, 0x69, 0x03, b'a', 0xFF, 0x00, 0x01, 0x7F, 0x03, b'u', 0x00,
            0x01, 0x01,
        ]);
        let root = decode(&bytes).expect("decodes");
        assert_eq!(
            root.child_text(airsync::SYNC_KEY).as_deref(),
            Some("\u{e9}a\u{FFFD}")
        );
        let unknown = Tag {
            page: 0,
            token: 0x3F,
        };
        assert_eq!(root.child_text(unknown).as_deref(), Some("u"));
        assert_eq!(decode(&encode(&root)), Ok(root));
    }

    #[test]
    fn errors_describe_where_and_what() {
        let error = decode(&document(&[0x45, 0xC3, 0x09, 0x01])).expect_err("short opaque");
        assert_eq!(error.offset(), 7);
        assert_eq!(
            error.to_string(),
            "OPAQUE data of 9 bytes at byte 7 runs past the end (1 bytes left)"
        );
        let error = decode(&document(&[0x85])).expect_err("attributes");
        assert!(error.to_string().contains("byte 4"), "{error}");
    }

    #[test]
    fn a_large_document_decodes() {
        let mut commands = Element::new(airsync::COMMANDS);
        for i in 0..20_000 {
            commands
                .push(Element::new(airsync::ADD))
                .push_text(airsync::SERVER_ID, format!("1:{i}"))
                .push_text(airsync::CLASS, "Email body text of a reasonable length");
        }
        let bytes = encode(&commands);
        assert!(bytes.len() > 1_000_000);
        let started = std::time::Instant::now();
        let decoded = decode(&bytes).expect("decodes");
        let elapsed = started.elapsed();
        assert_eq!(decoded, commands);
        // Generous even for an unoptimised build on a slow box; a regression to quadratic shows.
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }
}
