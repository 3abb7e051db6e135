//! Text from the network made safe for a log line: one token, one line, bounded length.
//!
//! Logins, device ids, command names, paths, user agents and the like are chosen by whoever
//! sends the request. Written raw, a newline forges a second log line (which a log watcher such
//! as fail2ban would believe), ESC sequences rewrite an admin's terminal, and a 12 KB login
//! fills the log. [`escaped`] is the one way such a value enters a log line: the result has no
//! space, quote, backslash or control character of its own, is valid UTF-8, and shows at most
//! [`FIELD_CAP`] bytes of the value. [`escaped_text`] is the same for prose that quotes network
//! text (an error message, a document in the debug log): spaces and quotes stay as they are.

use std::fmt;

/// Bytes of a value shown in a log line; the rest is counted, not shown.
pub const FIELD_CAP: usize = 256;

/// A value from the network, displayed escaped and capped at [`FIELD_CAP`] bytes: one token.
pub fn escaped<T: AsRef<[u8]> + ?Sized>(value: &T) -> Escaped<'_> {
    Escaped {
        bytes: value.as_ref(),
        cap: FIELD_CAP,
        token: true,
    }
}

/// Prose containing network text, displayed on one line and capped at `cap` bytes: escaped
/// like [`escaped`] except that spaces and quotes are kept.
pub fn escaped_text<T: AsRef<[u8]> + ?Sized>(value: &T, cap: usize) -> Escaped<'_> {
    Escaped {
        bytes: value.as_ref(),
        cap,
        token: false,
    }
}

/// See [`escaped`]. Printable characters other than space, `"` and `\` appear as they are;
/// `\n`, `\r`, `\t`, `\"` and `\\` as in Rust; other whitespace and control characters as
/// `\u{…}` (space is `\x20`); bytes that are not UTF-8 as `\xNN`. A longer value ends in
/// `...(+N bytes)`.
pub struct Escaped<'a> {
    bytes: &'a [u8],
    cap: usize,
    /// Escape spaces and quotes too, so the value is one token ([`escaped`]).
    token: bool,
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(self.cap)];
        for chunk in shown.utf8_chunks() {
            for c in chunk.valid().chars() {
                write_char(f, c, self.token)?;
            }
            let invalid = chunk.invalid();
            // A character cut in two by the cap is shown as bytes, like any broken one.
            for byte in invalid {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        if self.bytes.len() > shown.len() {
            write!(f, "...(+{} bytes)", self.bytes.len() - shown.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

fn write_char(f: &mut fmt::Formatter<'_>, c: char, token: bool) -> fmt::Result {
    match c {
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        '\t' => f.write_str("\\t"),
        '\\' => f.write_str("\\\\"),
        '"' if token => f.write_str("\\\""),
        ' ' if token => f.write_str("\\x20"),
        ' ' | '"' => write!(f, "{c}"),
        // Controls (C0, DEL, C1), every other kind of space or line separator, and the
        // invisible format characters that reorder or hide text (bidi overrides, zero-width).
        c if c.is_control() || c.is_whitespace() || is_format_char(c) => {
            write!(f, "\\u{{{:x}}}", c as u32)
        }
        c => write!(f, "{c}"),
    }
}

/// Unicode "format" characters that change how the rest of a line is displayed.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064
        | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(value: &[u8]) -> String {
        escaped(value).to_string()
    }

    #[test]
    fn plain_values_are_unchanged() {
        assert_eq!(show(b"ann@example.com"), "ann@example.com");
        assert_eq!(show(b"EXAMPLE/ann"), "EXAMPLE/ann");
        assert_eq!(show("Jürgen".as_bytes()), "Jürgen");
        assert_eq!(show(b""), "");
    }

    #[test]
    fn newlines_escape_and_controls_cannot_forge_or_colour_a_line() {
        let forged = "x\n2026-01-01T00:00:00Z [WARN] auth failure from 6.6.6.6 user \"y\"\x1b[2J";
        let out = show(forged.as_bytes());
        assert!(
            !out.contains('\n') && !out.contains('\x1b') && !out.contains(' '),
            "{out}"
        );
        assert!(!out.contains('"') || out.matches("\\\"").count() == out.matches('"').count());
        assert_eq!(
            out,
            "x\\n2026-01-01T00:00:00Z\\x20[WARN]\\x20auth\\x20failure\\x20from\\x206.6.6.6\
             \\x20user\\x20\\\"y\\\"\\u{1b}[2J"
        );
        assert_eq!(show(b"a\r\tb\x7f\x00"), "a\\r\\tb\\u{7f}\\u{0}");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_so_the_value_ends_where_it_seems_to() {
        assert_eq!(show(b"DOMAIN\\ann"), "DOMAIN\\\\ann");
        assert_eq!(show(b"a\"b"), "a\\\"b");
    }

    #[test]
    fn unicode_separators_and_bidi_overrides_are_escaped() {
        assert_eq!(show("a\u{2028}b".as_bytes()), "a\\u{2028}b");
        assert_eq!(show("a\u{85}b".as_bytes()), "a\\u{85}b");
        assert_eq!(show("a\u{202e}b".as_bytes()), "a\\u{202e}b");
        assert_eq!(show("a\u{a0}b".as_bytes()), "a\\u{a0}b");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_in_hex() {
        assert_eq!(show(b"ann\xff\xfe!"), "ann\\xff\\xfe!");
        assert_eq!(show(b"\xc3"), "\\xc3");
    }

    #[test]
    fn long_values_are_capped_and_their_length_told() {
        let long = "a".repeat(12 * 1024);
        let out = show(long.as_bytes());
        assert_eq!(
            out,
            format!("{}...(+{} bytes)", "a".repeat(FIELD_CAP), 12 * 1024 - 256)
        );
        // A character cut by the cap shows its first bytes in hex, never a broken character.
        let mut cut = "a".repeat(FIELD_CAP - 1);
        cut.push('ü');
        let out = show(cut.as_bytes());
        assert!(out.ends_with("\\xc3...(+1 bytes)"), "{out}");
        // Escaping can grow a value, but never beyond six bytes per byte shown (`\u{1b}`).
        let worst = vec![0x1bu8; 10_000];
        assert!(show(&worst).len() <= FIELD_CAP * 6 + 20);
    }

    #[test]
    fn text_keeps_spaces_and_quotes_but_stays_on_one_line() {
        let out = escaped_text("bad \"x\"\nforged line\x1b", 1024).to_string();
        assert_eq!(out, "bad \"x\"\\nforged line\\u{1b}");
        assert_eq!(escaped_text("abcdef", 3).to_string(), "abc...(+3 bytes)");
    }

    #[test]
    fn debug_form_is_quoted() {
        assert_eq!(format!("{:?}", escaped("a b")), "\"a\\x20b\"");
    }
}
