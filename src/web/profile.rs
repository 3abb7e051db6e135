//! The iOS / iPadOS / macOS configuration profile (.mobileconfig): an Exchange ActiveSync
//! account payload (`com.apple.eas.account`) pre-filled with the server, address and user
//! name — never the password, which the phone asks for — and, when easd's private CA signs
//! the server certificate, the CA as a `com.apple.security.root` payload, in one unsigned
//! property list. Identifiers and UUIDs derive from the server and the address, so installing
//! the profile again replaces the earlier one instead of adding a second account.

use base64::Engine;
use sha2::{Digest, Sha256};

/// What goes into a profile.
pub struct ProfileInput<'a> {
    /// `host` or `host:port`, as the phone should reach the server.
    pub server_host: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    /// The CA certificate, DER, to install with the account.
    pub ca_der: Option<&'a [u8]>,
}

/// A UUID (version 4 layout) derived from `seed`, stable across calls.
fn stable_uuid(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn key_string(key: &str, value: &str) -> String {
    format!("<key>{key}</key><string>{}</string>\n", xml_escape(value))
}

/// The reverse-DNS prefix of this server's payload identifiers.
fn identifier_prefix(server_host: &str) -> String {
    let host = server_host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(server_host, |(host, _)| host);
    let reversed: Vec<&str> = host.trim_matches(['[', ']']).split('.').rev().collect();
    let cleaned: String = reversed
        .join(".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{cleaned}.easd")
}

/// The profile as an XML property list.
pub fn mobileconfig(input: &ProfileInput) -> String {
    let prefix = identifier_prefix(input.server_host);
    let account_seed = format!("{}|{}", input.server_host, input.email.to_lowercase());
    let mut payloads = String::new();
    payloads.push_str("<dict>\n");
    payloads.push_str(&key_string("PayloadType", "com.apple.eas.account"));
    payloads.push_str("<key>PayloadVersion</key><integer>1</integer>\n");
    payloads.push_str(&key_string(
        "PayloadIdentifier",
        &format!("{prefix}.account.{}", stable_uuid(&account_seed)),
    ));
    payloads.push_str(&key_string(
        "PayloadUUID",
        &stable_uuid(&format!("account|{account_seed}")),
    ));
    payloads.push_str(&key_string(
        "PayloadDisplayName",
        &format!("Exchange ActiveSync ({})", input.email),
    ));
    payloads.push_str(&key_string(
        "PayloadDescription",
        "Mail, contacts, calendars, tasks and notes from easd",
    ));
    payloads.push_str(&key_string("EmailAddress", input.email));
    payloads.push_str(&key_string("UserName", input.email));
    payloads.push_str(&key_string("Host", input.server_host));
    payloads.push_str("<key>SSL</key><true/>\n");
    payloads.push_str("</dict>\n");
    if let Some(ca_der) = input.ca_der {
        let ca_seed = hex_digest(ca_der);
        payloads.push_str("<dict>\n");
        payloads.push_str(&key_string("PayloadType", "com.apple.security.root"));
        payloads.push_str("<key>PayloadVersion</key><integer>1</integer>\n");
        payloads.push_str(&key_string(
            "PayloadIdentifier",
            &format!("{prefix}.ca.{}", stable_uuid(&ca_seed)),
        ));
        payloads.push_str(&key_string(
            "PayloadUUID",
            &stable_uuid(&format!("ca|{ca_seed}")),
        ));
        payloads.push_str(&key_string(
            "PayloadDisplayName",
            &format!("easd certificate authority of {}", input.server_host),
        ));
        payloads.push_str(&key_string("PayloadCertificateFileName", "easd-ca.cer"));
        payloads.push_str(&format!(
            "<key>PayloadContent</key><data>{}</data>\n",
            base64::engine::general_purpose::STANDARD.encode(ca_der)
        ));
        payloads.push_str("</dict>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         <key>PayloadContent</key>\n<array>\n{payloads}</array>\n\
         {}{}{}{}{}{}\
         <key>PayloadVersion</key><integer>1</integer>\n\
         <key>PayloadRemovalDisallowed</key><false/>\n\
         </dict>\n</plist>\n",
        key_string("PayloadType", "Configuration"),
        key_string(
            "PayloadIdentifier",
            &format!("{prefix}.profile.{}", stable_uuid(&account_seed)),
        ),
        key_string(
            "PayloadUUID",
            &stable_uuid(&format!("profile|{account_seed}"))
        ),
        key_string(
            "PayloadDisplayName",
            &format!("Mail on {} for {}", input.server_host, input.display_name),
        ),
        key_string("PayloadOrganization", "easd"),
        key_string(
            "PayloadDescription",
            "Sets up the Exchange account (you enter the password) and trusts the server's \
             certificate authority.",
        ),
    )
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_stable_and_reverse_dns() {
        assert_eq!(
            identifier_prefix("mail.example.org:8443"),
            "org.example.mail.easd"
        );
        assert_eq!(identifier_prefix("localhost"), "localhost.easd");
        assert_eq!(stable_uuid("a"), stable_uuid("a"));
        assert_ne!(stable_uuid("a"), stable_uuid("b"));
        let uuid = stable_uuid("a");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn the_profile_never_carries_a_password_and_escapes_text() {
        let profile = mobileconfig(&ProfileInput {
            server_host: "mail.example.org",
            email: "ann@example.org",
            display_name: "Ann <&> Co",
            ca_der: Some(b"not really DER"),
        });
        assert!(!profile.contains("<key>Password</key>"));
        assert!(profile.contains("Ann &lt;&amp;&gt; Co"), "{profile}");
        assert!(profile.contains("com.apple.security.root"));
        let without_ca = mobileconfig(&ProfileInput {
            server_host: "mail.example.org",
            email: "ann@example.org",
            display_name: "Ann",
            ca_der: None,
        });
        assert!(!without_ca.contains("com.apple.security.root"));
    }
}
