//! `application/x-www-form-urlencoded` bodies and query strings, and the comparison of
//! secrets (CSRF tokens) in constant time.

/// The fields of a form or query string, in order.
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Reads `a=1&b=x+y%21`. Undecodable bytes become U+FFFD; nothing fails.
    pub fn parse(bytes: &[u8]) -> Form {
        let fields = bytes
            .split(|b| *b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut halves = pair.splitn(2, |b| *b == b'=');
                let name = decode(halves.next().unwrap_or_default());
                let value = decode(halves.next().unwrap_or_default());
                (name, value)
            })
            .collect();
        Form { fields }
    }

    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a field, or "".
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

fn decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a value for a URL's query.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a submitted secret equals the expected one, in time independent of where they
/// differ. A missing or empty secret never matches.
pub fn same_secret(given: Option<&str>, expected: &str) -> bool {
    let Some(given) = given else {
        return false;
    };
    if given.is_empty() || given.len() != expected.len() {
        return false;
    }
    given
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded() {
        let form = Form::parse(b"a=1&b=x+y%21&c=&d&e=%zz%4");
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.get("b"), Some("x y!"));
        assert_eq!(form.get("c"), Some(""));
        assert_eq!(form.get("d"), Some(""));
        assert_eq!(form.get("e"), Some("%zz%4"));
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn encoding_round_trips() {
        let text = "Ann's phone/1 & 2=3 ü";
        let form = Form::parse(format!("v={}", encode(text)).as_bytes());
        assert_eq!(form.get("v"), Some(text));
    }

    #[test]
    fn secrets_must_match_exactly() {
        assert!(same_secret(Some("abc"), "abc"));
        assert!(!same_secret(Some("abd"), "abc"));
        assert!(!same_secret(Some("ab"), "abc"));
        assert!(!same_secret(Some(""), ""));
        assert!(!same_secret(None, "abc"));
    }
}
