//! EAS protocol versions: parsing the `MS-ASProtocolVersion` value and ordering versions, so
//! commands can ask "is this 14.0 or later?" instead of comparing strings. A neutral module
//! (it uses nothing of easd): the protocol layer (`eas`, which re-exports it) and the policy
//! model (`policy`, whose settings start at a version) both name versions.

use std::fmt;

/// One of the protocol versions easd speaks, in protocol order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    V2_5,
    V12_0,
    V12_1,
    V14_0,
    V14_1,
    V16_0,
    V16_1,
}

impl ProtocolVersion {
    /// Every supported version, oldest first; the `MS-ASProtocolVersions` header is made from it.
    pub const ALL: [ProtocolVersion; 7] = [
        ProtocolVersion::V2_5,
        ProtocolVersion::V12_0,
        ProtocolVersion::V12_1,
        ProtocolVersion::V14_0,
        ProtocolVersion::V14_1,
        ProtocolVersion::V16_0,
        ProtocolVersion::V16_1,
    ];

    /// The newest version, announced in the `MS-Server-ActiveSync` header.
    pub const NEWEST: ProtocolVersion = ProtocolVersion::V16_1;

    /// Parses the dotted form a client sends ("14.1"); also "2.5" and "12.0" written as "12".
    pub fn parse(text: &str) -> Option<ProtocolVersion> {
        Some(match text.trim() {
            "2.5" => ProtocolVersion::V2_5,
            "12.0" | "12" => ProtocolVersion::V12_0,
            "12.1" => ProtocolVersion::V12_1,
            "14.0" | "14" => ProtocolVersion::V14_0,
            "14.1" => ProtocolVersion::V14_1,
            "16.0" | "16" => ProtocolVersion::V16_0,
            "16.1" => ProtocolVersion::V16_1,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2_5 => "2.5",
            ProtocolVersion::V12_0 => "12.0",
            ProtocolVersion::V12_1 => "12.1",
            ProtocolVersion::V14_0 => "14.0",
            ProtocolVersion::V14_1 => "14.1",
            ProtocolVersion::V16_0 => "16.0",
            ProtocolVersion::V16_1 => "16.1",
        }
    }

    /// The comma-separated list for the `MS-ASProtocolVersions` header.
    pub fn header_list() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        names.join(",")
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_advertised_version_and_orders_them() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::parse(v.as_str()), Some(v));
        }
        assert!(ProtocolVersion::V12_1 < ProtocolVersion::V14_0);
        assert_eq!(ProtocolVersion::parse("12"), Some(ProtocolVersion::V12_0));
        assert_eq!(ProtocolVersion::parse("15.0"), None);
        assert_eq!(ProtocolVersion::parse(""), None);
        assert_eq!(
            ProtocolVersion::header_list(),
            "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
        );
    }
}
