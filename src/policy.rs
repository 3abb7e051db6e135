//! The security policy: every setting of MS-ASPROV's EASProvisionDoc plus easd's own
//! (`allow-non-provisionable`, `refresh-interval`, `max-protocol-version`), their values, the
//! neutral provision, the effective policy a device gets after inheritance (global → domain →
//! user → device), and the caps commands apply. Pure data: the documents a device receives
//! (EASProvisionDoc, the 2.5 WAP document) are written from it by `eas::provision_doc`.
//!
//! Values are kept as canonical text: `0`/`1` for booleans, decimal numbers, the empty string
//! for "no limit" where MS-ASPROV allows an empty element, comma-separated lists for the
//! application lists. The store keeps per-level overrides (`store::policies`); this module
//! validates them and resolves them.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::protocol_version::ProtocolVersion;

/// The kinds of values a setting takes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Bool,
    /// A whole number in `min..=max`; `unlimited` allows the empty value ("no limit").
    Number {
        min: i64,
        max: i64,
        unlimited: bool,
    },
    /// One of these numbers.
    Choice(&'static [i64]),
    /// A comma-separated list of application names or hashes (may be empty).
    List,
    /// A protocol version, or empty for "no limit".
    Version,
}

/// One setting of the policy.
#[derive(Debug)]
pub struct Setting {
    /// The name used on the command line: the MS-ASPROV element name, or easd's own kebab-case
    /// name for settings the server alone applies.
    pub name: &'static str,
    /// Sent to devices as the EASProvisionDoc element of the same name; `false` for easd's
    /// own settings.
    pub in_provision_doc: bool,
    /// The first protocol version whose EASProvisionDoc carries it.
    pub since: ProtocolVersion,
    pub kind: Kind,
    /// The value of the neutral provision (no requirement at all).
    pub neutral: &'static str,
    pub help: &'static str,
}

const V12_0: ProtocolVersion = ProtocolVersion::V12_0;
const V12_1: ProtocolVersion = ProtocolVersion::V12_1;

const fn doc(
    name: &'static str,
    since: ProtocolVersion,
    kind: Kind,
    neutral: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        in_provision_doc: true,
        since,
        kind,
        neutral,
        help,
    }
}

const BOOL: Kind = Kind::Bool;
const fn num(min: i64, max: i64) -> Kind {
    Kind::Number {
        min,
        max,
        unlimited: false,
    }
}
const fn limit(min: i64, max: i64) -> Kind {
    Kind::Number {
        min,
        max,
        unlimited: true,
    }
}

/// Every setting, EASProvisionDoc elements in token order, then easd's own.
pub const SETTINGS: &[Setting] = &[
    doc("DevicePasswordEnabled", V12_0, BOOL, "0", "a device password is required"),
    doc("AlphanumericDevicePasswordRequired", V12_0, BOOL, "0", "the password must hold letters and digits"),
    doc("RequireStorageCardEncryption", V12_0, BOOL, "0", "storage cards must be encrypted"),
    doc("PasswordRecoveryEnabled", V12_0, BOOL, "0", "the device may store a recovery password on the server"),
    doc("DocumentBrowseEnabled", V12_0, BOOL, "1", "file shares may be browsed"),
    doc("AttachmentsEnabled", V12_0, BOOL, "1", "attachments may be downloaded (0: the server withholds them)"),
    doc("MinDevicePasswordLength", V12_0, limit(1, 16), "", "shortest password (empty: no minimum)"),
    doc("MaxInactivityTimeDeviceLock", V12_0, limit(1, 9999), "", "seconds before the device locks (empty: no limit)"),
    doc("MaxDevicePasswordFailedAttempts", V12_0, limit(4, 16), "", "failed unlocks before the device wipes itself (empty: never)"),
    doc("MaxAttachmentSize", V12_0, limit(0, u32::MAX as i64), "", "largest attachment in bytes (empty: no limit; the server withholds larger ones)"),
    doc("AllowSimpleDevicePassword", V12_0, BOOL, "1", "simple passwords such as 1234 are allowed"),
    doc("DevicePasswordExpiration", V12_0, limit(0, 730), "", "days before the password expires (empty: never)"),
    doc("DevicePasswordHistory", V12_0, num(0, 50), "0", "earlier passwords that may not be reused"),
    doc("AllowStorageCard", V12_1, BOOL, "1", "storage cards may be used"),
    doc("AllowCamera", V12_1, BOOL, "1", "the camera may be used"),
    doc("RequireDeviceEncryption", V12_1, BOOL, "0", "the device must be encrypted"),
    doc("AllowUnsignedApplications", V12_1, BOOL, "1", "unsigned applications may run"),
    doc("AllowUnsignedInstallationPackages", V12_1, BOOL, "1", "unsigned packages may be installed"),
    doc("MinDevicePasswordComplexCharacters", V12_1, num(1, 4), "1", "character groups the password must use (1-4)"),
    doc("AllowWiFi", V12_1, BOOL, "1", "Wi-Fi may be used"),
    doc("AllowTextMessaging", V12_1, BOOL, "1", "text messaging is allowed"),
    doc("AllowPOPIMAPEmail", V12_1, BOOL, "1", "POP/IMAP accounts are allowed"),
    doc("AllowBluetooth", V12_1, Kind::Choice(&[0, 1, 2]), "2", "Bluetooth: 0 off, 1 hands-free only, 2 allowed"),
    doc("AllowIrDA", V12_1, BOOL, "1", "infrared is allowed"),
    doc("RequireManualSyncWhenRoaming", V12_1, BOOL, "0", "no push while roaming"),
    doc("AllowDesktopSync", V12_1, BOOL, "1", "desktop synchronisation is allowed"),
    doc("MaxCalendarAgeFilter", V12_1, Kind::Choice(&[0, 4, 5, 6, 7]), "0", "oldest calendar items as a FilterType (0 all, 4 2 weeks, 5 1 month, 6 3 months, 7 6 months); caps Sync"),
    doc("AllowHTMLEmail", V12_1, BOOL, "1", "HTML mail (0: the server sends plain text)"),
    doc("MaxEmailAgeFilter", V12_1, Kind::Choice(&[0, 1, 2, 3, 4, 5]), "0", "oldest mail as a FilterType (0 all, 1 day, 2 3 days, 3 week, 4 2 weeks, 5 month); caps Sync"),
    doc("MaxEmailBodyTruncationSize", V12_1, num(-1, 1 << 20), "-1", "largest plain-text body in KB (-1: whole); caps Sync"),
    doc("MaxEmailHTMLBodyTruncationSize", V12_1, num(-1, 1 << 20), "-1", "largest HTML body in KB (-1: whole); caps Sync"),
    doc("RequireSignedSMIMEMessages", V12_1, BOOL, "0", "outgoing mail must be signed"),
    doc("RequireEncryptedSMIMEMessages", V12_1, BOOL, "0", "outgoing mail must be encrypted"),
    doc("RequireSignedSMIMEAlgorithm", V12_1, Kind::Choice(&[0, 1]), "0", "signing algorithm: 0 SHA-1, 1 MD5"),
    doc("RequireEncryptionSMIMEAlgorithm", V12_1, Kind::Choice(&[0, 1, 2, 3, 4]), "0", "encryption: 0 3DES, 1 DES, 2 RC2-128, 3 RC2-64, 4 RC2-40"),
    doc("AllowSMIMEEncryptionAlgorithmNegotiation", V12_1, Kind::Choice(&[0, 1, 2]), "2", "algorithm negotiation: 0 none, 1 strong only, 2 any"),
    doc("AllowSMIMESoftCerts", V12_1, BOOL, "1", "soft certificates are allowed"),
    doc("AllowBrowser", V12_1, BOOL, "1", "the browser may be used"),
    doc("AllowConsumerEmail", V12_1, BOOL, "1", "consumer mail accounts are allowed"),
    doc("AllowRemoteDesktop", V12_1, BOOL, "1", "remote desktop is allowed"),
    doc("AllowInternetSharing", V12_1, BOOL, "1", "internet sharing is allowed"),
    doc("UnapprovedInROMApplicationList", V12_1, Kind::List, "", "built-in applications that may not run (comma-separated names)"),
    doc("ApprovedApplicationList", V12_1, Kind::List, "", "applications that may be installed (comma-separated SHA-1 hashes)"),
    Setting {
        name: "allow-non-provisionable",
        in_provision_doc: false,
        since: ProtocolVersion::V2_5,
        kind: Kind::Bool,
        neutral: "0",
        help: "devices that do not support provisioning (or decline the policy) are let in",
    },
    Setting {
        name: "refresh-interval",
        in_provision_doc: false,
        since: ProtocolVersion::V2_5,
        kind: Kind::Number { min: 0, max: 8760, unlimited: false },
        neutral: "0",
        help: "hours after which a device must provision again (0: only when the policy changes)",
    },
    Setting {
        name: "max-protocol-version",
        in_provision_doc: false,
        since: ProtocolVersion::V2_5,
        kind: Kind::Version,
        neutral: "",
        help: "newest EAS version offered (2.5 … 16.1; empty: all)",
    },
];

/// Where a policy value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nobody set it: the neutral provision's value.
    Default,
    Global,
    Domain,
    User,
    Device,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Global => "global",
            Source::Domain => "domain",
            Source::User => "user",
            Source::Device => "device",
        }
    }
}

/// Why a setting could not be set.
#[derive(Debug, PartialEq, Eq)]
pub enum PolicyError {
    UnknownKey(String),
    BadValue { key: &'static str, reason: String },
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::UnknownKey(key) => {
                write!(
                    f,
                    "unknown policy setting {key:?} (see `easd policy --help`)"
                )
            }
            PolicyError::BadValue { key, reason } => write!(f, "bad value for {key}: {reason}"),
        }
    }
}

/// The setting named `name` (case-insensitive).
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Checks `value` for the setting `name` and returns the setting and the canonical value.
pub fn normalise(name: &str, value: &str) -> Result<(&'static Setting, String), PolicyError> {
    let def = setting(name).ok_or_else(|| PolicyError::UnknownKey(name.to_string()))?;
    let bad = |reason: String| PolicyError::BadValue {
        key: def.name,
        reason,
    };
    let value = value.trim();
    let canonical = match def.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => "1".to_string(),
            "0" | "false" | "no" | "off" => "0".to_string(),
            _ => return Err(bad(format!("{value:?} is not 0 or 1"))),
        },
        Kind::Number {
            min,
            max,
            unlimited,
        } => {
            if unlimited && (value.is_empty() || value.eq_ignore_ascii_case("unlimited")) {
                String::new()
            } else {
                let n: i64 = value
                    .parse()
                    .map_err(|_| bad(format!("{value:?} is not a whole number")))?;
                if !(min..=max).contains(&n) {
                    let extra = if unlimited { " or unlimited" } else { "" };
                    return Err(bad(format!("{n} is outside {min}..{max}{extra}")));
                }
                n.to_string()
            }
        }
        Kind::Choice(choices) => {
            let n: i64 = value
                .parse()
                .map_err(|_| bad(format!("{value:?} is not a number")))?;
            if !choices.contains(&n) {
                return Err(bad(format!("{n} is not one of {choices:?}")));
            }
            n.to_string()
        }
        Kind::List => {
            let items: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.iter().any(|i| i.chars().any(char::is_control)) {
                return Err(bad("control characters in a list item".into()));
            }
            items.join(",")
        }
        Kind::Version => {
            if value.is_empty() || value.eq_ignore_ascii_case("unlimited") {
                String::new()
            } else {
                ProtocolVersion::parse(value)
                    .ok_or_else(|| bad(format!("{value:?} is not an EAS version (2.5 … 16.1)")))?
                    .as_str()
                    .to_string()
            }
        }
    };
    Ok((def, canonical))
}

/// The policy in force for one device: each setting's value and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePolicy {
    /// Neutral values borrow the setting table; only overridden ones are allocated (the
    /// policy is resolved on every request).
    values: Vec<(Cow<'static, str>, Source)>,
}

impl Default for EffectivePolicy {
    /// The neutral provision.
    fn default() -> Self {
        EffectivePolicy {
            values: SETTINGS
                .iter()
                .map(|s| (Cow::Borrowed(s.neutral), Source::Default))
                .collect(),
        }
    }
}

impl EffectivePolicy {
    /// Resolves the overrides of each level, most general first (global, domain, user,
    /// device): a lower level's value wins. Stored values that no longer validate (a setting
    /// removed, a range narrowed) are ignored rather than sent to a phone.
    pub fn resolve(layers: &[(Source, Vec<(String, String)>)]) -> EffectivePolicy {
        let mut policy = EffectivePolicy::default();
        for (source, overrides) in layers {
            for (key, value) in overrides {
                if let Ok((def, value)) = normalise(key, value) {
                    if let Some(index) = SETTINGS.iter().position(|s| std::ptr::eq(s, def)) {
                        policy.values[index] = (Cow::Owned(value), *source);
                    }
                }
            }
        }
        policy
    }

    /// Every setting with its value and source, in [`SETTINGS`] order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static Setting, &str, Source)> {
        SETTINGS
            .iter()
            .zip(self.values.iter())
            .map(|(def, (value, source))| (def, value.as_ref(), *source))
    }

    /// The value of the setting `name`; `""` for an unknown name.
    pub fn value(&self, name: &str) -> &str {
        SETTINGS
            .iter()
            .position(|s| s.name == name)
            .map_or("", |i| self.values[i].0.as_ref())
    }

    /// The value of the setting `name` as a number, if it has one.
    pub fn number(&self, name: &str) -> Option<i64> {
        self.value(name).parse().ok()
    }

    /// Whether the boolean setting `name` is on.
    pub fn flag(&self, name: &str) -> bool {
        self.value(name) == "1"
    }

    /// True when every EASProvisionDoc setting has its neutral value: nothing is required of
    /// devices and nothing is enforced (easd's own settings do not count).
    pub fn is_neutral(&self) -> bool {
        self.entries()
            .all(|(def, value, _)| !def.in_provision_doc || value == def.neutral)
    }

    /// A fingerprint of what devices are sent; any change of an EASProvisionDoc setting
    /// changes it, which makes every device provision again.
    pub fn hash(&self) -> String {
        let mut digest = Sha256::new();
        for (def, value, _) in self.entries().filter(|(d, _, _)| d.in_provision_doc) {
            digest.update(def.name.as_bytes());
            digest.update(b"=");
            digest.update(value.as_bytes());
            digest.update(b"\n");
        }
        let bytes = digest.finalize();
        let mut text = String::with_capacity(16);
        for b in &bytes[..8] {
            let _ = write!(text, "{b:02x}");
        }
        text
    }

    pub fn allows_non_provisionable(&self) -> bool {
        self.flag("allow-non-provisionable")
    }

    /// Hours after which a device provisions again; `None` when there is no such interval.
    pub fn refresh_hours(&self) -> Option<i64> {
        self.number("refresh-interval").filter(|&h| h > 0)
    }

    /// The newest protocol version devices may use.
    pub fn max_version(&self) -> ProtocolVersion {
        ProtocolVersion::parse(self.value("max-protocol-version"))
            .unwrap_or(ProtocolVersion::NEWEST)
    }

    /// The `MS-ASProtocolVersions` value under this policy.
    pub fn versions_header(&self) -> String {
        let max = self.max_version();
        let names: Vec<&str> = ProtocolVersion::ALL
            .iter()
            .filter(|v| **v <= max)
            .map(|v| v.as_str())
            .collect();
        names.join(",")
    }

    /// The FilterType cap for mail; `None` when unlimited.
    pub fn max_email_filter(&self) -> Option<u8> {
        self.number("MaxEmailAgeFilter")
            .filter(|&f| f > 0)
            .and_then(|f| u8::try_from(f).ok())
    }

    /// The FilterType cap for calendars; `None` when unlimited.
    pub fn max_calendar_filter(&self) -> Option<u8> {
        self.number("MaxCalendarAgeFilter")
            .filter(|&f| f > 0)
            .and_then(|f| u8::try_from(f).ok())
    }

    /// The largest plain-text body in bytes; `None` when bodies are sent whole.
    pub fn max_plain_body_bytes(&self) -> Option<u64> {
        kilobytes(self.number("MaxEmailBodyTruncationSize"))
    }

    /// The largest HTML body in bytes; `None` when bodies are sent whole.
    pub fn max_html_body_bytes(&self) -> Option<u64> {
        kilobytes(self.number("MaxEmailHTMLBodyTruncationSize"))
    }

    pub fn allows_html(&self) -> bool {
        self.flag("AllowHTMLEmail")
    }

    /// Whether an attachment of `size` bytes may be sent to the device.
    pub fn allows_attachment(&self, size: u64) -> bool {
        self.flag("AttachmentsEnabled")
            && self
                .number("MaxAttachmentSize")
                .is_none_or(|max| size <= max.max(0) as u64)
    }
}

/// A truncation size in KB (-1: none) as bytes.
fn kilobytes(value: Option<i64>) -> Option<u64> {
    value
        .filter(|&kb| kb >= 0)
        .map(|kb| (kb as u64).saturating_mul(1024))
}

/// The `--help` text listing every key.
pub fn keys_help() -> String {
    let mut text = String::from("Settings (KEY VALUE):\n");
    for def in SETTINGS {
        let values = match def.kind {
            Kind::Bool => "0|1".to_string(),
            Kind::Number {
                min,
                max,
                unlimited,
            } => format!("{min}..{max}{}", if unlimited { "|unlimited" } else { "" }),
            Kind::Choice(c) => c.iter().map(i64::to_string).collect::<Vec<_>>().join("|"),
            Kind::List => "a,b,…".to_string(),
            Kind::Version => "2.5..16.1|unlimited".to_string(),
        };
        text.push_str(&format!("  {:<42} {:<18} {}\n", def.name, values, def.help));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(source: Source, pairs: &[(&str, &str)]) -> (Source, Vec<(String, String)>) {
        (
            source,
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_default_is_neutral_and_lower_levels_win() {
        let neutral = EffectivePolicy::default();
        assert!(neutral.is_neutral());
        let policy = EffectivePolicy::resolve(&[
            layer(
                Source::Global,
                &[("DevicePasswordEnabled", "1"), ("MaxEmailAgeFilter", "3")],
            ),
            layer(Source::User, &[("maxemailagefilter", "2")]),
        ]);
        assert!(!policy.is_neutral());
        assert_ne!(policy.hash(), neutral.hash());
        assert_eq!(policy.max_email_filter(), Some(2));
        let sources: Vec<_> = policy
            .entries()
            .filter(|(_, _, s)| *s != Source::Default)
            .map(|(d, v, s)| (d.name, v.to_string(), s))
            .collect();
        assert_eq!(
            sources,
            [
                ("DevicePasswordEnabled", "1".to_string(), Source::Global),
                ("MaxEmailAgeFilter", "2".to_string(), Source::User)
            ]
        );
        // easd's own settings do not make a policy enforcing.
        let own = EffectivePolicy::resolve(&[layer(Source::Global, &[("refresh-interval", "4")])]);
        assert!(own.is_neutral());
        assert_eq!(own.refresh_hours(), Some(4));
    }

    #[test]
    fn values_are_checked_and_made_canonical() {
        assert_eq!(normalise("allowhtmlemail", "no").unwrap().1, "0");
        assert_eq!(normalise("MaxAttachmentSize", "unlimited").unwrap().1, "");
        assert_eq!(normalise("max-protocol-version", "14").unwrap().1, "14.0");
        assert_eq!(
            normalise("ApprovedApplicationList", " a , ,b").unwrap().1,
            "a,b"
        );
        assert!(matches!(
            normalise("Nope", "1"),
            Err(PolicyError::UnknownKey(_))
        ));
        assert!(matches!(
            normalise("AllowBluetooth", "3"),
            Err(PolicyError::BadValue { .. })
        ));
        assert!(matches!(
            normalise("DevicePasswordHistory", "x"),
            Err(PolicyError::BadValue { .. })
        ));
        assert!(matches!(
            normalise("DevicePasswordHistory", ""),
            Err(PolicyError::BadValue { .. })
        ));
    }

    #[test]
    fn caps_read_their_settings() {
        let policy = EffectivePolicy::resolve(&[layer(
            Source::Global,
            &[
                ("MaxEmailBodyTruncationSize", "1"),
                ("MaxAttachmentSize", "100"),
                ("max-protocol-version", "14.0"),
            ],
        )]);
        assert_eq!(policy.max_plain_body_bytes(), Some(1024));
        assert_eq!(policy.max_html_body_bytes(), None);
        assert!(policy.allows_attachment(100));
        assert!(!policy.allows_attachment(101));
        assert_eq!(policy.versions_header(), "2.5,12.0,12.1,14.0");
    }
}
