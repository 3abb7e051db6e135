//! The MS-ASHTTP request-line query: which command a request carries and for which device.
//!
//! Owns both spellings of the query value (MS-ASHTTP 2.2.1.1.1): the plain-text form
//! (`Cmd=Sync&User=…&DeviceId=…&DeviceType=…`, section 2.2.1.1.1.2) and the base64-encoded
//! byte sequence (section 2.2.1.1.1.1) that packs the protocol version, command code, locale,
//! device ID, policy key, device type and tagged command parameters. Both become one
//! [`EasQuery`]; headers (`MS-ASProtocolVersion`, `X-MS-PolicyKey`, `MS-ASAcceptMultiPart`)
//! stay the caller's business.
//!
//! Everything here parses untrusted network input: every malformed query is a [`QueryError`],
//! never a panic.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// An ActiveSync command with its MS-ASHTTP command code (section 2.2.1.1.1.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    Sync = 0,
    SendMail = 1,
    SmartForward = 2,
    SmartReply = 3,
    GetAttachment = 4,
    GetHierarchy = 5,
    CreateCollection = 6,
    DeleteCollection = 7,
    MoveCollection = 8,
    FolderSync = 9,
    FolderCreate = 10,
    FolderDelete = 11,
    FolderUpdate = 12,
    MoveItems = 13,
    GetItemEstimate = 14,
    MeetingResponse = 15,
    Search = 16,
    Settings = 17,
    Ping = 18,
    ItemOperations = 19,
    Provision = 20,
    ResolveRecipients = 21,
    ValidateCert = 22,
    Find = 23,
}

impl Command {
    /// Every command, indexed by its command code (`ALL[c.code()] == c`).
    pub const ALL: &'static [Command] = &[
        Command::Sync,
        Command::SendMail,
        Command::SmartForward,
        Command::SmartReply,
        Command::GetAttachment,
        Command::GetHierarchy,
        Command::CreateCollection,
        Command::DeleteCollection,
        Command::MoveCollection,
        Command::FolderSync,
        Command::FolderCreate,
        Command::FolderDelete,
        Command::FolderUpdate,
        Command::MoveItems,
        Command::GetItemEstimate,
        Command::MeetingResponse,
        Command::Search,
        Command::Settings,
        Command::Ping,
        Command::ItemOperations,
        Command::Provision,
        Command::ResolveRecipients,
        Command::ValidateCert,
        Command::Find,
    ];

    /// The command for a base64-form command code.
    pub fn from_code(code: u8) -> Option<Command> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The base64-form command code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The command for a plain-form `Cmd=` value; case-insensitive.
    pub fn from_name(name: &str) -> Option<Command> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The command's canonical name, as MS-ASCMD spells it.
    pub fn name(self) -> &'static str {
        match self {
            Command::Sync => "Sync",
            Command::SendMail => "SendMail",
            Command::SmartForward => "SmartForward",
            Command::SmartReply => "SmartReply",
            Command::GetAttachment => "GetAttachment",
            Command::GetHierarchy => "GetHierarchy",
            Command::CreateCollection => "CreateCollection",
            Command::DeleteCollection => "DeleteCollection",
            Command::MoveCollection => "MoveCollection",
            Command::FolderSync => "FolderSync",
            Command::FolderCreate => "FolderCreate",
            Command::FolderDelete => "FolderDelete",
            Command::FolderUpdate => "FolderUpdate",
            Command::MoveItems => "MoveItems",
            Command::GetItemEstimate => "GetItemEstimate",
            Command::MeetingResponse => "MeetingResponse",
            Command::Search => "Search",
            Command::Settings => "Settings",
            Command::Ping => "Ping",
            Command::ItemOperations => "ItemOperations",
            Command::Provision => "Provision",
            Command::ResolveRecipients => "ResolveRecipients",
            Command::ValidateCert => "ValidateCert",
            Command::Find => "Find",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which of the two MS-ASHTTP spellings the query used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryEncoding {
    Plain,
    Base64,
}

/// A command parameter of the query (MS-ASHTTP 2.2.1.1.1.1.3 and 2.2.1.1.1.2.5).
///
/// `User`, `Options` and `SaveInSent` are decoded into [`EasQuery`]'s own fields and never
/// appear in [`EasQuery::params`]; they are listed here because they are parameters of the wire
/// format.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueryParam {
    AttachmentName,
    CollectionId,
    /// Binary tag 2; only used by protocol versions before 12.1 but still accepted.
    CollectionName,
    ItemId,
    LongId,
    /// Binary tag 5; only used by protocol versions before 12.1 but still accepted.
    ParentId,
    Occurrence,
    Options,
    User,
    SaveInSent,
    /// A parameter easd does not know: the plain-form name as sent, or `Tag<N>` for an unknown
    /// binary tag.
    Other(String),
}

impl QueryParam {
    /// The tag of this parameter in the base64 form; `None` for parameters that only exist in
    /// the plain form.
    pub fn tag(&self) -> Option<u8> {
        match self {
            QueryParam::AttachmentName => Some(0),
            QueryParam::CollectionId => Some(1),
            QueryParam::CollectionName => Some(2),
            QueryParam::ItemId => Some(3),
            QueryParam::LongId => Some(4),
            QueryParam::ParentId => Some(5),
            QueryParam::Occurrence => Some(6),
            QueryParam::Options => Some(7),
            QueryParam::User => Some(8),
            QueryParam::SaveInSent | QueryParam::Other(_) => None,
        }
    }

    /// The parameter for a base64-form tag; unknown tags become `Other("Tag<N>")`.
    pub fn from_tag(tag: u8) -> QueryParam {
        match tag {
            0 => QueryParam::AttachmentName,
            1 => QueryParam::CollectionId,
            2 => QueryParam::CollectionName,
            3 => QueryParam::ItemId,
            4 => QueryParam::LongId,
            5 => QueryParam::ParentId,
            6 => QueryParam::Occurrence,
            7 => QueryParam::Options,
            8 => QueryParam::User,
            other => QueryParam::Other(format!("Tag{other}")),
        }
    }

    /// The parameter for a plain-form name; case-insensitive.
    pub fn from_name(name: &str) -> QueryParam {
        const KNOWN: &[QueryParam] = &[
            QueryParam::AttachmentName,
            QueryParam::CollectionId,
            QueryParam::CollectionName,
            QueryParam::ItemId,
            QueryParam::LongId,
            QueryParam::ParentId,
            QueryParam::Occurrence,
            QueryParam::Options,
            QueryParam::User,
            QueryParam::SaveInSent,
        ];
        KNOWN
            .iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| QueryParam::Other(name.to_string()))
    }

    /// The plain-form name.
    pub fn name(&self) -> &str {
        match self {
            QueryParam::AttachmentName => "AttachmentName",
            QueryParam::CollectionId => "CollectionId",
            QueryParam::CollectionName => "CollectionName",
            QueryParam::ItemId => "ItemId",
            QueryParam::LongId => "LongId",
            QueryParam::ParentId => "ParentId",
            QueryParam::Occurrence => "Occurrence",
            QueryParam::Options => "Options",
            QueryParam::User => "User",
            QueryParam::SaveInSent => "SaveInSent",
            QueryParam::Other(name) => name,
        }
    }
}

/// The decoded request-line query of one ActiveSync request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EasQuery {
    pub command: Command,
    /// `User=` (plain form) or tag 8 (base64 form); usually absent in the base64 form, where
    /// the Authorization header names the user.
    pub user: Option<String>,
    pub device_id: String,
    pub device_type: String,
    /// Base64 form only (e.g. "14.1"); in the plain form the `MS-ASProtocolVersion` header
    /// carries it.
    pub protocol_version: Option<String>,
    /// Base64 form only: the Windows locale ID (e.g. 0x0409); `None` when the client sent 0.
    pub locale: Option<u16>,
    /// Base64 form field, or the non-standard plain `PolicyKey=` some clients send.
    pub policy_key: Option<u32>,
    /// The command parameters in the order sent (never `User`, `Options` or `SaveInSent`).
    pub params: Vec<(QueryParam, String)>,
    /// Base64 `Options` bit 0x02; the plain form uses the `MS-ASAcceptMultiPart` header.
    pub accept_multipart: bool,
    /// Plain `SaveInSent=T` or base64 `Options` bit 0x01.
    pub save_in_sent: bool,
    pub encoding: QueryEncoding,
}

impl EasQuery {
    /// The value of the first parameter `param`, if sent.
    pub fn param(&self, param: &QueryParam) -> Option<&str> {
        self.params
            .iter()
            .find(|(p, _)| p == param)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a query could not be understood. Every variant means HTTP 400 for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// A required parameter (`Cmd`, `DeviceId`, `DeviceType`) is absent.
    Missing(&'static str),
    /// There is no `Cmd=` parameter and the query is not base64 either.
    BadBase64,
    /// The base64 byte sequence ends in the middle of a field.
    Truncated,
    /// The command name or code is not an ActiveSync command.
    UnknownCommand(String),
    /// The named field has a value easd cannot accept.
    BadValue(&'static str),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Missing(name) => write!(f, "missing query parameter {name}"),
            QueryError::BadBase64 => {
                f.write_str("query has no Cmd parameter and is not valid base64 either")
            }
            QueryError::Truncated => f.write_str("base64 query ends in the middle of a field"),
            QueryError::UnknownCommand(cmd) => write!(f, "unknown command {cmd:?}"),
            QueryError::BadValue(name) => write!(f, "invalid value for {name}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Base64 `Options` bit: save the sent message in Sent Items.
const OPTION_SAVE_IN_SENT: u8 = 0x01;
/// Base64 `Options` bit: answer ItemOperations as multipart.
const OPTION_ACCEPT_MULTIPART: u8 = 0x02;

/// Longest device ID or device type easd stores. MS-ASHTTP sets no hard limit (real devices
/// send up to 32 characters); the bound keeps junk out of the database and the logs.
const MAX_DEVICE_FIELD_CHARS: usize = 128;

/// Version byte written by [`encode_base64_query`] when the query carries no version.
const DEFAULT_ENCODE_VERSION: u8 = 141;

/// Lenient decoder: MS-ASHTTP uses RFC 2045 base64, but clients differ on padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Parses the query value (the part of the request target after `?`) in either spelling.
///
/// The plain form is recognised by a `Cmd=` parameter; anything else must be the base64 form.
pub fn parse_query(query: &str) -> Result<EasQuery, QueryError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    if has_cmd_parameter(query) {
        return parse_plain(query);
    }
    if looks_like_base64(query) {
        return parse_base64(query);
    }
    if query.contains('=') {
        // A plain query that simply lacks Cmd: name the missing parameter.
        return parse_plain(query);
    }
    Err(if query.is_empty() {
        QueryError::Missing("Cmd")
    } else {
        QueryError::BadBase64
    })
}

fn has_cmd_parameter(query: &str) -> bool {
    query.split('&').any(|pair| {
        pair.split_once('=')
            .is_some_and(|(name, _)| percent_decode(name, false).eq_ignore_ascii_case(b"cmd"))
    })
}

/// True when the (percent-decoded) query consists of base64 characters only, `=` padding at
/// the end at most.
fn looks_like_base64(query: &str) -> bool {
    let decoded = percent_decode(query, false);
    let body_len = decoded.len() - decoded.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && decoded[..body_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`). A `%` that does not start a
/// valid escape is kept literally: being liberal here costs nothing.
fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&h| (h as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|&l| (l as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        // Both digits are < 16, so the value fits a byte.
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn decode_component(text: &str, field: &'static str) -> Result<String, QueryError> {
    String::from_utf8(percent_decode(text, true)).map_err(|_| QueryError::BadValue(field))
}

fn parse_plain(query: &str) -> Result<EasQuery, QueryError> {
    let mut command = None;
    let mut user = None;
    let mut device_id = None;
    let mut device_type = None;
    let mut policy_key = None;
    let mut save_in_sent = false;
    let mut params = Vec::new();

    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component(raw_name, "parameter name")?;
        let value = decode_component(raw_value, "parameter value")?;
        // The first occurrence of a standard parameter wins; later duplicates are ignored.
        if name.eq_ignore_ascii_case("Cmd") {
            if command.is_none() {
                command = Some(
                    Command::from_name(&value).ok_or(QueryError::UnknownCommand(value.clone()))?,
                );
            }
        } else if name.eq_ignore_ascii_case("User") {
            if user.is_none() && !value.is_empty() {
                user = Some(value);
            }
        } else if name.eq_ignore_ascii_case("DeviceId") {
            if device_id.is_none() {
                device_id = Some(validate_device_field(value, "DeviceId")?);
            }
        } else if name.eq_ignore_ascii_case("DeviceType") {
            if device_type.is_none() {
                device_type = Some(validate_device_field(value, "DeviceType")?);
            }
        } else if name.eq_ignore_ascii_case("PolicyKey") {
            if policy_key.is_none() {
                policy_key = Some(
                    value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| QueryError::BadValue("PolicyKey"))?,
                );
            }
        } else if name.eq_ignore_ascii_case("SaveInSent") {
            save_in_sent = match value.as_str() {
                v if v.eq_ignore_ascii_case("T") => true,
                v if v.eq_ignore_ascii_case("F") => false,
                _ => return Err(QueryError::BadValue("SaveInSent")),
            };
        } else {
            params.push((QueryParam::from_name(&name), value));
        }
    }

    Ok(EasQuery {
        command: command.ok_or(QueryError::Missing("Cmd"))?,
        user,
        device_id: device_id.ok_or(QueryError::Missing("DeviceId"))?,
        device_type: device_type.ok_or(QueryError::Missing("DeviceType"))?,
        protocol_version: None,
        locale: None,
        policy_key,
        params,
        accept_multipart: false,
        save_in_sent,
        encoding: QueryEncoding::Plain,
    })
}

/// Device IDs and types become database keys and log text: non-empty, bounded, no control
/// characters.
fn validate_device_field(value: String, field: &'static str) -> Result<String, QueryError> {
    if value.is_empty()
        || value.chars().count() > MAX_DEVICE_FIELD_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(QueryError::BadValue(field));
    }
    Ok(value)
}

/// Reads the base64 byte sequence field by field.
struct ByteCursor<'a> {
    rest: &'a [u8],
}

impl<'a> ByteCursor<'a> {
    fn byte(&mut self) -> Result<u8, QueryError> {
        let (&first, rest) = self.rest.split_first().ok_or(QueryError::Truncated)?;
        self.rest = rest;
        Ok(first)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], QueryError> {
        if self.rest.len() < len {
            return Err(QueryError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// A length byte followed by that many bytes.
    fn counted(&mut self) -> Result<&'a [u8], QueryError> {
        let len = self.byte()?;
        self.take(usize::from(len))
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

fn parse_base64(query: &str) -> Result<EasQuery, QueryError> {
    let text = percent_decode(query, false);
    // URL-safe characters are not in MS-ASHTTP, but mapping them costs nothing.
    let text: Vec<u8> = text
        .into_iter()
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    let bytes = BASE64_LENIENT
        .decode(&text)
        .map_err(|_| QueryError::BadBase64)?;
    let mut cursor = ByteCursor { rest: &bytes };

    let version = cursor.byte()?;
    // 2.0 is below every ActiveSync version; smaller values mean this is not a query at all.
    if version < 20 {
        return Err(QueryError::BadValue("protocol version"));
    }
    let protocol_version = format!("{}.{}", version / 10, version % 10);

    let code = cursor.byte()?;
    let command = Command::from_code(code).ok_or(QueryError::UnknownCommand(code.to_string()))?;

    let &[locale_low, locale_high] = cursor.take(2)? else {
        return Err(QueryError::Truncated);
    };
    let locale = match u16::from_le_bytes([locale_low, locale_high]) {
        0 => None,
        lcid => Some(lcid),
    };

    let device_id_bytes = cursor.counted()?;
    if device_id_bytes.is_empty() {
        return Err(QueryError::Missing("DeviceId"));
    }
    let device_id = validate_device_field(render_device_id(device_id_bytes), "DeviceId")?;

    let policy_key = match cursor.counted()? {
        [] => None,
        &[a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => return Err(QueryError::BadValue("policy key length")),
    };

    let device_type_bytes = cursor.counted()?;
    if device_type_bytes.is_empty() {
        return Err(QueryError::Missing("DeviceType"));
    }
    let device_type = std::str::from_utf8(device_type_bytes)
        .map_err(|_| QueryError::BadValue("DeviceType"))?
        .to_string();
    let device_type = validate_device_field(device_type, "DeviceType")?;

    let mut user = None;
    let mut options = 0u8;
    let mut params = Vec::new();
    while !cursor.is_empty() {
        let tag = cursor.byte()?;
        let value = cursor.counted()?;
        match QueryParam::from_tag(tag) {
            QueryParam::Options => match value {
                &[bits] => options = bits,
                _ => return Err(QueryError::BadValue("Options")),
            },
            QueryParam::User => {
                let name = std::str::from_utf8(value).map_err(|_| QueryError::BadValue("User"))?;
                if !name.is_empty() {
                    user = Some(name.to_string());
                }
            }
            param => {
                let text = std::str::from_utf8(value)
                    .map_err(|_| QueryError::BadValue("parameter value"))?;
                params.push((param, text.to_string()));
            }
        }
    }

    Ok(EasQuery {
        command,
        user,
        device_id,
        device_type,
        protocol_version: Some(protocol_version),
        locale,
        policy_key,
        params,
        accept_multipart: options & OPTION_ACCEPT_MULTIPART != 0,
        save_in_sent: options & OPTION_SAVE_IN_SENT != 0,
        encoding: QueryEncoding::Base64,
    })
}

/// The device ID field is a string for most clients but a raw GUID for Windows Mobile: keep
/// printable ASCII as text, render anything else as uppercase hex so it stays a stable key.
fn render_device_id(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic()) {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// Builds the base64 form of `q` (standard alphabet, padded, not percent-encoded).
///
/// Round-trips with [`parse_query`] for every query that form can express: a missing protocol
/// version is written as 14.1, a missing locale as 0, and parameters without a binary tag
/// (`Other`) are left out. Fields longer than 255 bytes are cut to 255.
pub fn encode_base64_query(q: &EasQuery) -> String {
    fn push_counted(out: &mut Vec<u8>, value: &[u8]) {
        let len = value.len().min(usize::from(u8::MAX));
        out.push(len as u8); // len <= 255 by the line above
        out.extend_from_slice(value.get(..len).unwrap_or_default());
    }

    let mut out = Vec::new();
    out.push(
        q.protocol_version
            .as_deref()
            .and_then(version_byte)
            .unwrap_or(DEFAULT_ENCODE_VERSION),
    );
    out.push(q.command.code());
    out.extend_from_slice(&q.locale.unwrap_or(0).to_le_bytes());
    push_counted(&mut out, q.device_id.as_bytes());
    match q.policy_key {
        Some(key) => push_counted(&mut out, &key.to_le_bytes()),
        None => out.push(0),
    }
    push_counted(&mut out, q.device_type.as_bytes());
    for (param, value) in &q.params {
        if let Some(tag) = param.tag() {
            out.push(tag);
            push_counted(&mut out, value.as_bytes());
        }
    }
    if let Some(user) = &q.user {
        out.push(8);
        push_counted(&mut out, user.as_bytes());
    }
    let options = (if q.save_in_sent {
        OPTION_SAVE_IN_SENT
    } else {
        0
    }) | (if q.accept_multipart {
        OPTION_ACCEPT_MULTIPART
    } else {
        0
    });
    if options != 0 {
        out.extend_from_slice(&[7, 1, options]);
    }
    STANDARD.encode(out)
}

/// "14.1" → 141; `None` for anything that does not fit the one-byte version field.
fn version_byte(version: &str) -> Option<u8> {
    let (major, minor) = version.split_once('.')?;
    let major: u8 = major.parse().ok()?;
    let minor: u8 = minor.parse().ok()?;
    if minor > 9 {
        return None;
    }
    major.checked_mul(10)?.checked_add(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_query() -> EasQuery {
        EasQuery {
            command: Command::Sync,
            user: None,
            device_id: "v140Device".into(),
            device_type: "SmartPhone".into(),
            protocol_version: Some("14.0".into()),
            locale: Some(0x0409),
            policy_key: None,
            params: Vec::new(),
            accept_multipart: false,
            save_in_sent: false,
            encoding: QueryEncoding::Base64,
        }
    }

    #[test]
    fn command_codes_match_ms_ashttp() {
        for (index, command) in Command::ALL.iter().enumerate() {
            assert_eq!(usize::from(command.code()), index, "{command}");
            assert_eq!(Command::from_code(command.code()), Some(*command));
            assert_eq!(Command::from_name(command.name()), Some(*command));
        }
        assert_eq!(Command::ALL.len(), 24);
        assert_eq!(Command::Sync.code(), 0);
        assert_eq!(Command::FolderSync.code(), 9);
        assert_eq!(Command::Ping.code(), 18);
        assert_eq!(Command::Provision.code(), 20);
        assert_eq!(Command::Find.code(), 23);
        assert_eq!(Command::from_code(24), None);
        assert_eq!(Command::from_name("foldersync"), Some(Command::FolderSync));
        assert_eq!(Command::from_name("FOLDERSYNC"), Some(Command::FolderSync));
        assert_eq!(Command::from_name("Autodiscover"), None);
    }

    #[test]
    fn parameter_tags_match_ms_ashttp() {
        let expected = [
            (0, QueryParam::AttachmentName),
            (1, QueryParam::CollectionId),
            (2, QueryParam::CollectionName),
            (3, QueryParam::ItemId),
            (4, QueryParam::LongId),
            (5, QueryParam::ParentId),
            (6, QueryParam::Occurrence),
            (7, QueryParam::Options),
            (8, QueryParam::User),
        ];
        for (tag, param) in expected {
            assert_eq!(QueryParam::from_tag(tag), param);
            assert_eq!(param.tag(), Some(tag));
            assert_eq!(QueryParam::from_name(&param.name().to_lowercase()), param);
        }
        assert_eq!(QueryParam::from_tag(9), QueryParam::Other("Tag9".into()));
        assert_eq!(QueryParam::SaveInSent.tag(), None);
        assert_eq!(
            QueryParam::from_name("Foo"),
            QueryParam::Other("Foo".into())
        );
    }

    #[test]
    fn plain_query_with_escapes() {
        let q =
            parse_query("Cmd=Sync&User=rm%40example.com&DeviceId=v140Device&DeviceType=SmartPhone")
                .unwrap();
        assert_eq!(q.command, Command::Sync);
        assert_eq!(q.user.as_deref(), Some("rm@example.com"));
        assert_eq!(q.device_id, "v140Device");
        assert_eq!(q.device_type, "SmartPhone");
        assert_eq!(q.protocol_version, None);
        assert_eq!(q.locale, None);
        assert_eq!(q.policy_key, None);
        assert!(q.params.is_empty());
        assert!(!q.save_in_sent && !q.accept_multipart);
        assert_eq!(q.encoding, QueryEncoding::Plain);
    }

    #[test]
    fn plain_query_example_from_ms_ashttp() {
        let q =
            parse_query("Cmd=Sync&User=rmjones&DeviceId=v140Device&DeviceType=SmartPhone").unwrap();
        assert_eq!(q.command, Command::Sync);
        assert_eq!(q.user.as_deref(), Some("rmjones"));
    }

    #[test]
    fn plain_names_are_case_insensitive_and_plus_is_space() {
        let q = parse_query(
            "cmd=smartreply&user=DOMAIN%5Cbob&deviceid=ABC123&devicetype=iPhone\
             &itemid=5%3A12&collectionid=5&saveinsent=t&Occurrence=2024-01-01T00%3A00%3A00.000Z\
             &AttachmentName=a+b&Extra=x",
        )
        .unwrap();
        assert_eq!(q.command, Command::SmartReply);
        assert_eq!(q.user.as_deref(), Some("DOMAIN\\bob"));
        assert_eq!(q.device_id, "ABC123");
        assert!(q.save_in_sent);
        assert_eq!(q.param(&QueryParam::ItemId), Some("5:12"));
        assert_eq!(q.param(&QueryParam::CollectionId), Some("5"));
        assert_eq!(
            q.param(&QueryParam::Occurrence),
            Some("2024-01-01T00:00:00.000Z")
        );
        assert_eq!(q.param(&QueryParam::AttachmentName), Some("a b"));
        assert_eq!(q.param(&QueryParam::Other("Extra".into())), Some("x"));
        assert_eq!(q.param(&QueryParam::LongId), None);
    }

    #[test]
    fn plain_user_may_be_absent_and_policy_key_is_read() {
        let q =
            parse_query("Cmd=Ping&DeviceId=d1&DeviceType=Android&PolicyKey=3942919513").unwrap();
        assert_eq!(q.user, None);
        assert_eq!(q.policy_key, Some(3_942_919_513));
        assert_eq!(
            parse_query("Cmd=Ping&DeviceId=d1&DeviceType=Android&PolicyKey=x"),
            Err(QueryError::BadValue("PolicyKey"))
        );
        let q = parse_query("Cmd=Ping&User=&DeviceId=d1&DeviceType=Android").unwrap();
        assert_eq!(q.user, None);
    }

    #[test]
    fn plain_missing_and_bad_fields() {
        assert_eq!(
            parse_query("User=a&DeviceId=d&DeviceType=t"),
            Err(QueryError::Missing("Cmd"))
        );
        assert_eq!(
            parse_query("Cmd=Sync&User=a&DeviceType=t"),
            Err(QueryError::Missing("DeviceId"))
        );
        assert_eq!(
            parse_query("Cmd=Sync&User=a&DeviceId=d"),
            Err(QueryError::Missing("DeviceType"))
        );
        assert_eq!(
            parse_query("Cmd=Frobnicate&DeviceId=d&DeviceType=t"),
            Err(QueryError::UnknownCommand("Frobnicate".into()))
        );
        assert_eq!(
            parse_query("Cmd=Sync&DeviceId=&DeviceType=t"),
            Err(QueryError::BadValue("DeviceId"))
        );
        assert_eq!(
            parse_query("Cmd=Sync&DeviceId=a%0Ab&DeviceType=t"),
            Err(QueryError::BadValue("DeviceId"))
        );
        let long = "x".repeat(129);
        assert_eq!(
            parse_query(&format!("Cmd=Sync&DeviceId={long}&DeviceType=t")),
            Err(QueryError::BadValue("DeviceId"))
        );
        assert!(parse_query(&format!(
            "Cmd=Sync&DeviceId={}&DeviceType=t",
            "x".repeat(128)
        ))
        .is_ok());
        assert_eq!(
            parse_query("Cmd=Sync&DeviceId=d&DeviceType=t&SaveInSent=yes"),
            Err(QueryError::BadValue("SaveInSent"))
        );
        assert_eq!(
            parse_query("Cmd=Sync&DeviceId=%FF&DeviceType=t"),
            Err(QueryError::BadValue("parameter value"))
        );
        assert_eq!(parse_query(""), Err(QueryError::Missing("Cmd")));
        assert_eq!(parse_query("!!!"), Err(QueryError::BadBase64));
    }

    #[test]
    fn plain_first_occurrence_wins_and_bad_escapes_are_literal() {
        let q = parse_query("Cmd=Sync&Cmd=Ping&DeviceId=a%zz&DeviceId=b&DeviceType=t").unwrap();
        assert_eq!(q.command, Command::Sync);
        assert_eq!(q.device_id, "a%zz");
    }

    #[test]
    fn base64_example_from_ms_ashttp() {
        let q = parse_query("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l").unwrap();
        assert_eq!(q, base_query());
        assert_eq!(
            encode_base64_query(&q),
            "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l"
        );
    }

    #[test]
    fn base64_every_field() {
        let mut q = base_query();
        q.command = Command::SmartForward;
        q.protocol_version = Some("16.1".into());
        q.locale = Some(0x0407);
        q.user = Some("bob@example.com".into());
        q.policy_key = Some(0xDEAD_BEEF);
        q.save_in_sent = true;
        q.accept_multipart = true;
        q.params = vec![
            (QueryParam::AttachmentName, "5:1:0".into()),
            (QueryParam::CollectionId, "5".into()),
            (QueryParam::CollectionName, "Inbox".into()),
            (QueryParam::ItemId, "5:17".into()),
            (QueryParam::LongId, "RgAAAAB".into()),
            (QueryParam::ParentId, "0".into()),
            (QueryParam::Occurrence, "2024-05-01T10:00:00.000Z".into()),
        ];
        let encoded = encode_base64_query(&q);
        let bytes = STANDARD.decode(&encoded).unwrap();
        // Fixed header: version, command, locale (little-endian).
        assert_eq!(&bytes[..4], &[161, 2, 0x07, 0x04]);
        // Policy key, little-endian, after the device ID.
        let pk_at = 4 + 1 + q.device_id.len();
        assert_eq!(&bytes[pk_at..pk_at + 5], &[4, 0xEF, 0xBE, 0xAD, 0xDE]);
        // Options tag with both bits, last.
        assert_eq!(&bytes[bytes.len() - 3..], &[7, 1, 0x03]);

        let parsed = parse_query(&encoded).unwrap();
        assert_eq!(parsed, q);
    }

    #[test]
    fn base64_options_bits_separately() {
        for (bits, save, multi) in [(0u8, false, false), (1, true, false), (2, false, true)] {
            let mut bytes = STANDARD
                .decode("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l")
                .unwrap();
            bytes.extend_from_slice(&[7, 1, bits]);
            let q = parse_query(&STANDARD.encode(&bytes)).unwrap();
            assert_eq!((q.save_in_sent, q.accept_multipart), (save, multi));
            assert!(q.params.is_empty());
        }
    }

    #[test]
    fn base64_percent_encoded_and_unpadded() {
        let mut q = base_query();
        q.device_id = "dev~?>".into(); // produces '+' or '/' in the encoding
        q.params = vec![(QueryParam::ItemId, "x".into())];
        let encoded = encode_base64_query(&q);
        let escaped = encoded
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert_eq!(parse_query(&escaped).unwrap(), q);
        assert_eq!(parse_query(encoded.trim_end_matches('=')).unwrap(), q);
    }

    #[test]
    fn base64_binary_device_id_is_hex() {
        let mut bytes = vec![141, 9, 0, 0, 16];
        bytes.extend((0u8..16).map(|b| b.wrapping_mul(17)));
        bytes.extend_from_slice(&[0, 3]);
        bytes.extend_from_slice(b"WM6");
        let q = parse_query(&STANDARD.encode(&bytes)).unwrap();
        assert_eq!(q.device_id, "00112233445566778899AABBCCDDEEFF");
        assert_eq!(q.command, Command::FolderSync);
        assert_eq!(q.protocol_version.as_deref(), Some("14.1"));
        assert_eq!(q.locale, None);
    }

    #[test]
    fn base64_unknown_tag_is_kept() {
        let mut bytes = STANDARD
            .decode("jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l")
            .unwrap();
        bytes.extend_from_slice(&[42, 2, b'h', b'i']);
        let q = parse_query(&STANDARD.encode(&bytes)).unwrap();
        assert_eq!(
            q.params,
            vec![(QueryParam::Other("Tag42".into()), "hi".into())]
        );
    }

    #[test]
    fn base64_truncated_at_every_length_is_an_error() {
        let mut q = base_query();
        q.policy_key = Some(7);
        q.user = Some("u".into());
        q.params = vec![(QueryParam::ItemId, "5:1".into())];
        let full = STANDARD.decode(encode_base64_query(&q)).unwrap();
        // Cutting between two tagged parameters leaves a valid, shorter query.
        let header_end = 4 + 1 + q.device_id.len() + 5 + 1 + q.device_type.len();
        let item_end = header_end + 2 + 3;
        for len in 1..full.len() {
            let result = parse_query(&STANDARD.encode(&full[..len]));
            if len == header_end || len == item_end {
                assert!(result.is_ok(), "length {len}: {result:?}");
            } else {
                assert!(result.is_err(), "length {len} parsed: {result:?}");
            }
        }
        assert_eq!(
            parse_query(&STANDARD.encode(&full[..3])),
            Err(QueryError::Truncated)
        );
    }

    #[test]
    fn base64_bad_fields() {
        let header = |cmd: u8| vec![141, cmd, 9, 4];
        let mut unknown = header(99);
        unknown.extend_from_slice(&[1, b'd', 0, 1, b't']);
        assert_eq!(
            parse_query(&STANDARD.encode(&unknown)),
            Err(QueryError::UnknownCommand("99".into()))
        );

        let mut bad_pk = header(0);
        bad_pk.extend_from_slice(&[1, b'd', 2, 1, 2, 1, b't']);
        assert_eq!(
            parse_query(&STANDARD.encode(&bad_pk)),
            Err(QueryError::BadValue("policy key length"))
        );

        let mut no_device = header(0);
        no_device.extend_from_slice(&[0, 0, 1, b't']);
        assert_eq!(
            parse_query(&STANDARD.encode(&no_device)),
            Err(QueryError::Missing("DeviceId"))
        );

        let mut no_type = header(0);
        no_type.extend_from_slice(&[1, b'd', 0, 0]);
        assert_eq!(
            parse_query(&STANDARD.encode(&no_type)),
            Err(QueryError::Missing("DeviceType"))
        );

        let mut bad_options = header(0);
        bad_options.extend_from_slice(&[1, b'd', 0, 1, b't', 7, 2, 1, 1]);
        assert_eq!(
            parse_query(&STANDARD.encode(&bad_options)),
            Err(QueryError::BadValue("Options"))
        );

        let mut bad_version = header(0);
        bad_version[0] = 5;
        bad_version.extend_from_slice(&[1, b'd', 0, 1, b't']);
        assert_eq!(
            parse_query(&STANDARD.encode(&bad_version)),
            Err(QueryError::BadValue("protocol version"))
        );
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "A", "AA", "AAA", "AAAA", "====", "%", "%2", "%2B", "////", "++++", "&&&", "=", "Cmd",
            "Cmd=", "a=b=c", "jAAJ", "\u{fffd}", "%FF%FE",
        ];
        for sample in samples {
            let _ = parse_query(sample);
        }
        // Every short byte sequence.
        for a in [0u8, 20, 121, 140, 255] {
            for b in [0u8, 9, 23, 24, 255] {
                for tail in [&[][..], &[0], &[255, 255], &[1, 0, 0, 0, 1, b'x'], &[5, 1]] {
                    let mut bytes = vec![a, b, 0, 0];
                    bytes.extend_from_slice(tail);
                    let _ = parse_query(&STANDARD.encode(&bytes));
                }
            }
        }
    }

    #[test]
    fn random_byte_sequences_never_panic() {
        // xorshift: deterministic, no extra crate.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 48) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half the time start with a plausible header so the deeper fields get exercised.
            if next() % 2 == 0 && bytes.len() >= 2 {
                bytes[0] = 141;
                bytes[1] %= 25;
            }
            let _ = parse_query(&STANDARD.encode(&bytes));
            let _ = parse_query(&String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn encode_defaults_and_limits() {
        let mut q = base_query();
        q.protocol_version = None;
        q.locale = None;
        q.params = vec![(QueryParam::Other("Foo".into()), "bar".into())];
        let bytes = STANDARD.decode(encode_base64_query(&q)).unwrap();
        assert_eq!(&bytes[..4], &[141, 0, 0, 0]);
        let parsed = parse_query(&encode_base64_query(&q)).unwrap();
        assert!(parsed.params.is_empty());
        assert_eq!(version_byte("16.1"), Some(161));
        assert_eq!(version_byte("2.5"), Some(25));
        assert_eq!(version_byte("12.10"), None);
        assert_eq!(version_byte("30.0"), None);
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(
            QueryError::Missing("DeviceId").to_string(),
            "missing query parameter DeviceId"
        );
        assert_eq!(
            QueryError::UnknownCommand("Foo".into()).to_string(),
            "unknown command \"Foo\""
        );
        assert!(QueryError::Truncated.to_string().contains("base64"));
    }
}
