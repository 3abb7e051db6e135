//! The autodiscover endpoint's logic: reading the client's request and writing the answer.
//!
//! Two response schemas are served:
//! - the MobileSync schema of MS-ASCMD 2.2.1.1 (`…/mobilesync/responseschema/2006`), which
//!   phones ask for and which carries the ActiveSync URL;
//! - the Outlook schema of MS-OXDSCLI (`…/outlook/responseschema/2006a`), which desktop mail
//!   programs ask for; it lists the ActiveSync URL and, when configured, IMAP/SMTP servers.
//!
//! Errors follow the specs: a request that cannot be read is answered with the framework
//! error 600 ("Invalid Request"), an AcceptableResponseSchema easd does not serve with 601;
//! an unknown or foreign e-mail address gets the schema's own error (MobileSync:
//! `Action/Error/Status` 2; Outlook: ErrorCode 500). All of these are XML bodies meant to be
//! sent with HTTP 200, as Exchange does; clients parse the body, not the status.
//! HTTP, authentication and the account lookup are the caller's business.

use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use xml::reader::{ParserConfig, XmlEvent as ReadEvent};
use xml::writer::{EmitterConfig, EventWriter, XmlEvent as WriteEvent};

use crate::config::{Config, Encryption, ProtocolEntry};

/// Namespace of the outer `Autodiscover` element of every response (and of the framework
/// `Response` that carries errors 600/601).
pub const RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
/// MobileSync request namespace (MS-ASCMD 6.3).
pub const MOBILESYNC_REQUEST_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006";
/// MobileSync response schema (MS-ASCMD 6.2), also the AcceptableResponseSchema value.
pub const MOBILESYNC_RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";
/// Outlook request namespace (MS-OXDSCLI).
pub const OUTLOOK_REQUEST_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
/// Outlook response schema (MS-OXDSCLI), also the AcceptableResponseSchema value.
pub const OUTLOOK_RESPONSE_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// Autodiscover requests are a few hundred bytes; anything far larger is not one.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// RFC 5321 limits a mailbox to 254 characters; leave room for odd clients.
const MAX_EMAIL_CHARS: usize = 320;
/// The culture easd reports; MS-ASCMD's examples use this exact spelling.
const CULTURE: &str = "en:us";

/// What the server tells autodiscover clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutodiscoverSettings {
    /// The ActiveSync endpoint, e.g. `https://mail.example.com/Microsoft-Server-ActiveSync`.
    pub mobilesync_url: String,
    /// The host clients reach easd at; its hash identifies the server in error responses.
    pub server_host: String,
    /// IMAP/SMTP/POP3 entries for the Outlook schema.
    pub extra_protocols: Vec<ProtocolEntry>,
}

impl AutodiscoverSettings {
    /// The settings implied by the start-up configuration. Protocol entries were validated
    /// when the configuration was parsed; one that is invalid anyway is left out with a warning.
    pub fn from_config(config: &Config) -> AutodiscoverSettings {
        let base = config.public_base_url();
        let server_host = base
            .split_once("://")
            .map_or(base.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let specs = [
            ("IMAP", &config.autodiscover_imap),
            ("SMTP", &config.autodiscover_smtp),
        ];
        let extra_protocols = specs
            .into_iter()
            .filter_map(|(kind, spec)| {
                let spec = spec.as_deref()?;
                ProtocolEntry::from_spec(kind, spec)
                    .map_err(|e| log::warn!("autodiscover-{}: {e}", kind.to_lowercase()))
                    .ok()
            })
            .collect();
        AutodiscoverSettings {
            mobilesync_url: config.mobilesync_url(),
            server_host,
            extra_protocols,
        }
    }
}

/// The account an autodiscover request resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    pub email: String,
    pub display_name: String,
}

/// A decoded autodiscover request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutodiscoverRequest {
    pub email: String,
    /// The AcceptableResponseSchema; when the client left it out, the response schema that
    /// belongs to the request's namespace.
    pub accept_schema: String,
}

/// The response schemas easd serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseSchema {
    MobileSync,
    Outlook,
}

impl AutodiscoverRequest {
    /// The schema the client asked for, if easd serves it.
    pub fn response_schema(&self) -> Option<ResponseSchema> {
        let wanted = self.accept_schema.trim();
        if wanted.eq_ignore_ascii_case(MOBILESYNC_RESPONSE_NS) {
            Some(ResponseSchema::MobileSync)
        } else if wanted.eq_ignore_ascii_case(OUTLOOK_RESPONSE_NS) {
            Some(ResponseSchema::Outlook)
        } else {
            None
        }
    }
}

/// Why a request body is not an autodiscover request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutodiscoverError {
    /// Not well-formed XML, or not the request document.
    Malformed(String),
    /// Larger than any autodiscover request.
    TooLarge,
}

impl AutodiscoverError {
    /// The framework error code to answer with (always 600, "Invalid Request").
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

impl fmt::Display for AutodiscoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutodiscoverError::Malformed(why) => write!(f, "malformed autodiscover request: {why}"),
            AutodiscoverError::TooLarge => write!(
                f,
                "autodiscover request larger than {MAX_REQUEST_BYTES} bytes"
            ),
        }
    }
}

impl std::error::Error for AutodiscoverError {}

/// Autodiscover error codes (MS-OXDSCLI ErrorCode; 600 and 601 also MS-ASCMD 2.2.3.64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 500: the e-mail address cannot be found.
    AddressNotFound,
    /// 600: the request is not a valid autodiscover request.
    InvalidRequest,
    /// 601: no provider for the requested AcceptableResponseSchema.
    SchemaNotSupported,
    /// 603: the server failed internally.
    InternalError,
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::AddressNotFound => 500,
            ErrorCode::InvalidRequest => 600,
            ErrorCode::SchemaNotSupported => 601,
            ErrorCode::InternalError => 603,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::AddressNotFound => "The e-mail address cannot be found.",
            ErrorCode::InvalidRequest => "Invalid Request",
            ErrorCode::SchemaNotSupported => "The requested schema version is not supported.",
            ErrorCode::InternalError => "Internal server error.",
        }
    }
}

/// Reads an autodiscover request in the MobileSync or the Outlook request namespace (or none:
/// elements are matched by local name so that sloppy clients still work).
pub fn parse_request(body: &[u8]) -> Result<AutodiscoverRequest, AutodiscoverError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(AutodiscoverError::TooLarge);
    }
    // No DTDs: they are never legitimate here and entity expansion is an attack surface.
    if body
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
    {
        return Err(malformed("document type declarations are not accepted"));
    }

    let reader = ParserConfig::new()
        .trim_whitespace(true)
        .ignore_comments(true)
        .cdata_to_characters(true)
        .coalesce_characters(true)
        .create_reader(body);

    let mut path: Vec<String> = Vec::new();
    let mut root_namespace: Option<String> = None;
    let mut email: Option<String> = None;
    let mut schema: Option<String> = None;
    let mut saw_root = false;

    for event in reader {
        let event = event.map_err(|e| malformed(&e.to_string()))?;
        match event {
            ReadEvent::StartElement { name, .. } => {
                if path.is_empty() {
                    if saw_root {
                        return Err(malformed("more than one root element"));
                    }
                    if name.local_name != "Autodiscover" {
                        return Err(malformed(&format!(
                            "root element is {:?}, not Autodiscover",
                            name.local_name
                        )));
                    }
                    saw_root = true;
                    root_namespace = name.namespace.clone();
                }
                if path.len() > 16 {
                    return Err(malformed("elements nested too deeply"));
                }
                path.push(name.local_name);
            }
            ReadEvent::EndElement { .. } => {
                path.pop();
            }
            ReadEvent::Characters(text) => {
                let target = match path.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["Autodiscover", "Request", "EMailAddress"] => &mut email,
                    ["Autodiscover", "Request", "AcceptableResponseSchema"] => &mut schema,
                    _ => continue,
                };
                target.get_or_insert_with(String::new).push_str(&text);
            }
            _ => {}
        }
    }
    if !saw_root {
        return Err(malformed("empty document"));
    }

    let email = email.map(|e| e.trim().to_string()).unwrap_or_default();
    if email.is_empty() {
        return Err(malformed("no Request/EMailAddress"));
    }
    if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(char::is_control) {
        return Err(malformed("EMailAddress is not an e-mail address"));
    }
    let accept_schema = match schema.map(|s| s.trim().to_string()) {
        Some(schema) if !schema.is_empty() => schema,
        _ => match root_namespace.as_deref() {
            Some(ns) if ns == OUTLOOK_REQUEST_NS => OUTLOOK_RESPONSE_NS.to_string(),
            Some(ns) if ns == MOBILESYNC_REQUEST_NS => MOBILESYNC_RESPONSE_NS.to_string(),
            _ => String::new(),
        },
    };
    Ok(AutodiscoverRequest {
        email,
        accept_schema,
    })
}

fn malformed(why: &str) -> AutodiscoverError {
    AutodiscoverError::Malformed(why.to_string())
}

/// The response body for `req`. `user` is the account the authenticated caller resolved the
/// request to; `None`, or an account whose address differs from the requested one (compared
/// case-insensitively), yields the schema's "address not found" error.
pub fn respond(
    req: &AutodiscoverRequest,
    user: Option<&AccountInfo>,
    settings: &AutodiscoverSettings,
) -> String {
    let Some(schema) = req.response_schema() else {
        return error_response(ErrorCode::SchemaNotSupported, settings);
    };
    let account = user.filter(|a| a.email.trim().eq_ignore_ascii_case(req.email.trim()));
    let written = match (schema, account) {
        (ResponseSchema::MobileSync, Some(account)) => {
            write_document(|w| mobilesync_settings(w, account, settings))
        }
        (ResponseSchema::MobileSync, None) => write_document(|w| mobilesync_not_found(w, req)),
        (ResponseSchema::Outlook, Some(account)) => {
            write_document(|w| outlook_settings(w, account, settings))
        }
        (ResponseSchema::Outlook, None) => write_document(|w| {
            framework_error(
                w,
                Some(OUTLOOK_RESPONSE_NS),
                ErrorCode::AddressNotFound,
                settings,
                &current_time_of_day(),
            )
        }),
    };
    written.unwrap_or_else(|_| internal_error_fallback())
}

/// A framework error response (`Response/Error` with `ErrorCode`), as sent for 600, 601 and
/// 603, which do not depend on the requested schema.
pub fn error_response(code: ErrorCode, settings: &AutodiscoverSettings) -> String {
    error_response_at(code, settings, &current_time_of_day())
}

fn error_response_at(code: ErrorCode, settings: &AutodiscoverSettings, time: &str) -> String {
    write_document(|w| framework_error(w, None, code, settings, time))
        .unwrap_or_else(|_| internal_error_fallback())
}

type Writer = EventWriter<Vec<u8>>;
type WriteResult = xml::writer::Result<()>;

/// Writes `<Autodiscover xmlns=RESPONSE_NS>` around `body` and returns the document.
fn write_document(body: impl FnOnce(&mut Writer) -> WriteResult) -> xml::writer::Result<String> {
    let mut w = EmitterConfig::new()
        .perform_indent(true)
        .create_writer(Vec::new());
    w.write(WriteEvent::StartDocument {
        version: xml::common::XmlVersion::Version10,
        encoding: Some("utf-8"),
        standalone: None,
    })?;
    w.write(WriteEvent::start_element("Autodiscover").default_ns(RESPONSE_NS))?;
    body(&mut w)?;
    w.write(WriteEvent::end_element())?;
    // The emitter only produces UTF-8 from &str input.
    Ok(String::from_utf8_lossy(&w.into_inner()).into_owned())
}

/// Only reached if the XML writer itself fails, which it does not for in-memory output.
fn internal_error_fallback() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{RESPONSE_NS}\">\
         <Response><Error><ErrorCode>603</ErrorCode><Message>Internal server error.</Message>\
         </Error></Response></Autodiscover>"
    )
}

fn start(w: &mut Writer, name: &str) -> WriteResult {
    w.write(WriteEvent::start_element(name))
}

fn end(w: &mut Writer) -> WriteResult {
    w.write(WriteEvent::end_element())
}

/// `<name>text</name>`, with text reduced to characters XML 1.0 can carry.
fn text_element(w: &mut Writer, name: &str, text: &str) -> WriteResult {
    start(w, name)?;
    let text = xml_safe(text);
    if !text.is_empty() {
        w.write(WriteEvent::characters(&text))?;
    }
    end(w)
}

/// Drops characters that XML 1.0 forbids (most C0 controls, U+FFFE, U+FFFF); the writer
/// escapes `<`, `&` and friends itself.
fn xml_safe(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| allowed(c)).collect())
    }
}

fn mobilesync_settings(
    w: &mut Writer,
    account: &AccountInfo,
    settings: &AutodiscoverSettings,
) -> WriteResult {
    w.write(WriteEvent::start_element("Response").default_ns(MOBILESYNC_RESPONSE_NS))?;
    text_element(w, "Culture", CULTURE)?;
    start(w, "User")?;
    if !account.display_name.trim().is_empty() {
        text_element(w, "DisplayName", &account.display_name)?;
    }
    text_element(w, "EMailAddress", &account.email)?;
    end(w)?;
    start(w, "Action")?;
    start(w, "Settings")?;
    start(w, "Server")?;
    text_element(w, "Type", "MobileSync")?;
    text_element(w, "Url", &settings.mobilesync_url)?;
    text_element(w, "Name", &settings.mobilesync_url)?;
    end(w)?; // Server
    end(w)?; // Settings
    end(w)?; // Action
    end(w) // Response
}

/// MS-ASCMD has only Status 2 ("protocol error") for failures inside the MobileSync provider.
fn mobilesync_not_found(w: &mut Writer, req: &AutodiscoverRequest) -> WriteResult {
    w.write(WriteEvent::start_element("Response").default_ns(MOBILESYNC_RESPONSE_NS))?;
    text_element(w, "Culture", CULTURE)?;
    start(w, "User")?;
    text_element(w, "EMailAddress", &req.email)?;
    end(w)?;
    start(w, "Action")?;
    start(w, "Error")?;
    text_element(w, "Status", "2")?;
    text_element(w, "Message", ErrorCode::AddressNotFound.message())?;
    end(w)?; // Error
    end(w)?; // Action
    end(w) // Response
}

fn outlook_settings(
    w: &mut Writer,
    account: &AccountInfo,
    settings: &AutodiscoverSettings,
) -> WriteResult {
    w.write(WriteEvent::start_element("Response").default_ns(OUTLOOK_RESPONSE_NS))?;
    start(w, "User")?;
    if !account.display_name.trim().is_empty() {
        text_element(w, "DisplayName", &account.display_name)?;
    }
    text_element(w, "AutoDiscoverSMTPAddress", &account.email)?;
    end(w)?;
    start(w, "Account")?;
    text_element(w, "AccountType", "email")?;
    text_element(w, "Action", "settings")?;

    start(w, "Protocol")?;
    text_element(w, "Type", "MobileSync")?;
    text_element(w, "Server", &settings.mobilesync_url)?;
    text_element(w, "LoginName", &account.email)?;
    end(w)?;

    for entry in &settings.extra_protocols {
        let login = if entry.login_name_is_email {
            account.email.as_str()
        } else {
            account
                .email
                .split_once('@')
                .map_or(account.email.as_str(), |(local, _)| local)
        };
        let on_off = |flag: bool| if flag { "on" } else { "off" };
        start(w, "Protocol")?;
        text_element(w, "Type", &entry.kind)?;
        text_element(w, "Server", &entry.server)?;
        text_element(w, "Port", &entry.port.to_string())?;
        text_element(w, "DomainRequired", "off")?;
        text_element(w, "LoginName", login)?;
        text_element(w, "SPA", "off")?;
        text_element(w, "SSL", on_off(entry.encryption != Encryption::None))?;
        text_element(
            w,
            "Encryption",
            match entry.encryption {
                Encryption::None => "None",
                Encryption::Ssl => "SSL",
                Encryption::Tls => "TLS",
            },
        )?;
        text_element(w, "AuthRequired", "on")?;
        end(w)?;
    }
    end(w)?; // Account
    end(w) // Response
}

/// `<Response><Error Time Id><ErrorCode/><Message/><DebugData/></Error></Response>`; the
/// Response is in `namespace` (Outlook schema) or inherits the framework namespace.
fn framework_error(
    w: &mut Writer,
    namespace: Option<&str>,
    code: ErrorCode,
    settings: &AutodiscoverSettings,
    time: &str,
) -> WriteResult {
    match namespace {
        Some(ns) => w.write(WriteEvent::start_element("Response").default_ns(ns))?,
        None => start(w, "Response")?,
    }
    let id = server_id(&settings.server_host).to_string();
    w.write(
        WriteEvent::start_element("Error")
            .attr("Time", time)
            .attr("Id", &id),
    )?;
    text_element(w, "ErrorCode", &code.code().to_string())?;
    text_element(w, "Message", code.message())?;
    text_element(w, "DebugData", "")?;
    end(w)?; // Error
    end(w) // Response
}

/// The error's `Id` attribute: an unsigned number naming this server, stable across restarts
/// (FNV-1a of the host name).
fn server_id(host: &str) -> u32 {
    host.bytes().fold(0x811C_9DC5u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The `Time` attribute: UTC time of day as `HH:MM:SS.fffffff` (MS-ASCMD 2.2.3.63).
fn current_time_of_day() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_time_of_day(since_epoch.as_secs(), since_epoch.subsec_nanos())
}

fn format_time_of_day(epoch_secs: u64, nanos: u32) -> String {
    let secs = epoch_secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:07}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AutodiscoverSettings {
        AutodiscoverSettings {
            mobilesync_url: "https://mail.example.com/Microsoft-Server-ActiveSync".into(),
            server_host: "mail.example.com".into(),
            extra_protocols: Vec::new(),
        }
    }

    fn alice() -> AccountInfo {
        AccountInfo {
            email: "alice@example.com".into(),
            display_name: "Alice Liddell".into(),
        }
    }

    fn request_xml(namespace: &str, email: &str, schema: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <Autodiscover xmlns=\"{namespace}\">\n  <Request>\n    \
             <EMailAddress>{email}</EMailAddress>\n    \
             <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>\n  \
             </Request>\n</Autodiscover>"
        )
        .into_bytes()
    }

    /// A parsed response as (path, text) pairs plus (path, attribute, value) for checking.
    struct Parsed {
        texts: Vec<(String, String)>,
        namespaces: Vec<(String, String)>,
        attributes: Vec<(String, String, String)>,
    }

    impl Parsed {
        fn text(&self, path: &str) -> Option<&str> {
            self.texts
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.as_str())
        }

        fn all(&self, path: &str) -> Vec<&str> {
            self.texts
                .iter()
                .filter(|(p, _)| p == path)
                .map(|(_, t)| t.as_str())
                .collect()
        }

        fn namespace(&self, path: &str) -> Option<&str> {
            self.namespaces
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, n)| n.as_str())
        }

        fn has(&self, path: &str) -> bool {
            self.namespaces.iter().any(|(p, _)| p == path)
        }
    }

    fn parse_response(xml: &str) -> Parsed {
        let mut path: Vec<String> = Vec::new();
        let mut parsed = Parsed {
            texts: Vec::new(),
            namespaces: Vec::new(),
            attributes: Vec::new(),
        };
        for event in ParserConfig::new()
            .trim_whitespace(true)
            .create_reader(xml.as_bytes())
        {
            match event.expect("response must be well-formed XML") {
                ReadEvent::StartElement {
                    name, attributes, ..
                } => {
                    path.push(name.local_name.clone());
                    let joined = path.join("/");
                    parsed
                        .namespaces
                        .push((joined.clone(), name.namespace.unwrap_or_default()));
                    for a in attributes {
                        parsed
                            .attributes
                            .push((joined.clone(), a.name.local_name, a.value));
                    }
                }
                ReadEvent::EndElement { .. } => {
                    path.pop();
                }
                ReadEvent::Characters(text) => parsed.texts.push((path.join("/"), text)),
                _ => {}
            }
        }
        parsed
    }

    #[test]
    fn parses_mobilesync_request() {
        let req = parse_request(&request_xml(
            MOBILESYNC_REQUEST_NS,
            " alice@example.com ",
            MOBILESYNC_RESPONSE_NS,
        ))
        .unwrap();
        assert_eq!(req.email, "alice@example.com");
        assert_eq!(req.accept_schema, MOBILESYNC_RESPONSE_NS);
        assert_eq!(req.response_schema(), Some(ResponseSchema::MobileSync));
    }

    #[test]
    fn parses_outlook_request() {
        let req = parse_request(&request_xml(
            OUTLOOK_REQUEST_NS,
            "alice@example.com",
            OUTLOOK_RESPONSE_NS,
        ))
        .unwrap();
        assert_eq!(req.response_schema(), Some(ResponseSchema::Outlook));
    }

    #[test]
    fn missing_schema_follows_request_namespace() {
        for (ns, expected) in [
            (OUTLOOK_REQUEST_NS, Some(ResponseSchema::Outlook)),
            (MOBILESYNC_REQUEST_NS, Some(ResponseSchema::MobileSync)),
            ("urn:other", None),
        ] {
            let body = format!(
                "<Autodiscover xmlns=\"{ns}\"><Request><EMailAddress>a@b</EMailAddress>\
                 </Request></Autodiscover>"
            );
            let req = parse_request(body.as_bytes()).unwrap();
            assert_eq!(req.response_schema(), expected, "{ns}");
        }
    }

    #[test]
    fn prefixed_and_unnamespaced_requests_are_accepted() {
        let body = format!(
            "<a:Autodiscover xmlns:a=\"{MOBILESYNC_REQUEST_NS}\"><a:Request>\
             <a:EMailAddress>x@y.z</a:EMailAddress><a:AcceptableResponseSchema>\
             {MOBILESYNC_RESPONSE_NS}</a:AcceptableResponseSchema></a:Request></a:Autodiscover>"
        );
        assert_eq!(parse_request(body.as_bytes()).unwrap().email, "x@y.z");
        let body = "<Autodiscover><Request><EMailAddress>x@y.z</EMailAddress></Request>\
                    </Autodiscover>";
        assert_eq!(parse_request(body.as_bytes()).unwrap().email, "x@y.z");
    }

    #[test]
    fn malformed_requests_are_errors() {
        let cases: [&[u8]; 10] = [
            b"",
            b"not xml at all",
            b"<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request>",
            b"<Other><Request><EMailAddress>a@b</EMailAddress></Request></Other>",
            b"<Autodiscover><Request></Request></Autodiscover>",
            b"<Autodiscover><Request><EMailAddress>  </EMailAddress></Request></Autodiscover>",
            b"<Autodiscover><EMailAddress>a@b</EMailAddress></Autodiscover>",
            b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><Autodiscover/>",
            b"<Autodiscover><Request><EMailAddress>a&#1;b</EMailAddress></Request></Autodiscover>",
            b"\xff\xfe\x00<",
        ];
        for body in cases {
            let err = parse_request(body).unwrap_err();
            assert!(
                matches!(err, AutodiscoverError::Malformed(_)),
                "{:?}: {err:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.error_code(), ErrorCode::InvalidRequest);
        }
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(parse_request(&huge), Err(AutodiscoverError::TooLarge));
    }

    #[test]
    fn mangled_requests_never_panic() {
        let valid = request_xml(
            MOBILESYNC_REQUEST_NS,
            "alice@example.com",
            MOBILESYNC_RESPONSE_NS,
        );
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let mut body = valid.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() % body.len() as u64) as usize;
                match next() % 3 {
                    0 => body[at] = next() as u8,
                    1 => body.truncate(at),
                    _ => body.insert(at, b"<>&;/'"[(next() % 6) as usize]),
                }
                if body.is_empty() {
                    break;
                }
            }
            if let Ok(req) = parse_request(&body) {
                let _ = respond(&req, Some(&alice()), &settings());
            }
        }
    }

    #[test]
    fn mobilesync_response_has_the_spec_shape() {
        let req = AutodiscoverRequest {
            email: "Alice@Example.com".into(),
            accept_schema: MOBILESYNC_RESPONSE_NS.into(),
        };
        let xml = respond(&req, Some(&alice()), &settings());
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
            "{xml}"
        );
        let p = parse_response(&xml);
        assert_eq!(p.namespace("Autodiscover"), Some(RESPONSE_NS));
        assert_eq!(
            p.namespace("Autodiscover/Response"),
            Some(MOBILESYNC_RESPONSE_NS)
        );
        assert_eq!(
            p.namespace("Autodiscover/Response/Action/Settings/Server/Url"),
            Some(MOBILESYNC_RESPONSE_NS)
        );
        assert_eq!(p.text("Autodiscover/Response/Culture"), Some("en:us"));
        assert_eq!(
            p.text("Autodiscover/Response/User/DisplayName"),
            Some("Alice Liddell")
        );
        assert_eq!(
            p.text("Autodiscover/Response/User/EMailAddress"),
            Some("alice@example.com")
        );
        let server = "Autodiscover/Response/Action/Settings/Server";
        assert_eq!(p.text(&format!("{server}/Type")), Some("MobileSync"));
        assert_eq!(
            p.text(&format!("{server}/Url")),
            Some("https://mail.example.com/Microsoft-Server-ActiveSync")
        );
        assert_eq!(
            p.text(&format!("{server}/Name")),
            Some("https://mail.example.com/Microsoft-Server-ActiveSync")
        );
        assert!(!p.has("Autodiscover/Response/Action/Error"));
    }

    #[test]
    fn mobilesync_unknown_user_gets_action_error() {
        let req = AutodiscoverRequest {
            email: "bob@example.com".into(),
            accept_schema: MOBILESYNC_RESPONSE_NS.into(),
        };
        for user in [None, Some(&alice())] {
            let p = parse_response(&respond(&req, user, &settings()));
            assert_eq!(
                p.namespace("Autodiscover/Response"),
                Some(MOBILESYNC_RESPONSE_NS)
            );
            assert_eq!(
                p.text("Autodiscover/Response/Action/Error/Status"),
                Some("2")
            );
            assert!(p
                .text("Autodiscover/Response/Action/Error/Message")
                .is_some());
            assert_eq!(
                p.text("Autodiscover/Response/User/EMailAddress"),
                Some("bob@example.com")
            );
            assert!(!p.has("Autodiscover/Response/Action/Settings"));
        }
    }

    #[test]
    fn outlook_response_lists_protocols() {
        let mut settings = settings();
        settings.extra_protocols = vec![
            ProtocolEntry::from_spec("imap", "imap.example.com:993").unwrap(),
            ProtocolEntry {
                login_name_is_email: false,
                ..ProtocolEntry::from_spec("SMTP", "smtp.example.com:587:starttls").unwrap()
            },
        ];
        let req = AutodiscoverRequest {
            email: "alice@example.com".into(),
            accept_schema: OUTLOOK_RESPONSE_NS.into(),
        };
        let p = parse_response(&respond(&req, Some(&alice()), &settings));
        assert_eq!(p.namespace("Autodiscover"), Some(RESPONSE_NS));
        assert_eq!(
            p.namespace("Autodiscover/Response"),
            Some(OUTLOOK_RESPONSE_NS)
        );
        assert_eq!(
            p.text("Autodiscover/Response/User/DisplayName"),
            Some("Alice Liddell")
        );
        assert_eq!(
            p.text("Autodiscover/Response/User/AutoDiscoverSMTPAddress"),
            Some("alice@example.com")
        );
        let account = "Autodiscover/Response/Account";
        assert_eq!(p.text(&format!("{account}/AccountType")), Some("email"));
        assert_eq!(p.text(&format!("{account}/Action")), Some("settings"));
        let protocol = format!("{account}/Protocol");
        assert_eq!(
            p.all(&format!("{protocol}/Type")),
            ["MobileSync", "IMAP", "SMTP"]
        );
        assert_eq!(
            p.all(&format!("{protocol}/Server")),
            [
                "https://mail.example.com/Microsoft-Server-ActiveSync",
                "imap.example.com",
                "smtp.example.com"
            ]
        );
        assert_eq!(p.all(&format!("{protocol}/Port")), ["993", "587"]);
        assert_eq!(
            p.all(&format!("{protocol}/LoginName")),
            ["alice@example.com", "alice@example.com", "alice"]
        );
        assert_eq!(p.all(&format!("{protocol}/SSL")), ["on", "on"]);
        assert_eq!(p.all(&format!("{protocol}/Encryption")), ["SSL", "TLS"]);
        assert_eq!(p.all(&format!("{protocol}/AuthRequired")), ["on", "on"]);
    }

    #[test]
    fn outlook_unknown_user_gets_error_500() {
        let req = AutodiscoverRequest {
            email: "nobody@example.com".into(),
            accept_schema: OUTLOOK_RESPONSE_NS.into(),
        };
        let p = parse_response(&respond(&req, None, &settings()));
        assert_eq!(
            p.namespace("Autodiscover/Response"),
            Some(OUTLOOK_RESPONSE_NS)
        );
        assert_eq!(p.text("Autodiscover/Response/Error/ErrorCode"), Some("500"));
        assert!(!p.has("Autodiscover/Response/Account"));
        let attrs: Vec<&str> = p
            .attributes
            .iter()
            .filter(|(path, _, _)| path == "Autodiscover/Response/Error")
            .map(|(_, name, _)| name.as_str())
            .collect();
        assert_eq!(attrs, ["Time", "Id"]);
    }

    #[test]
    fn unsupported_schema_gets_601() {
        let req = AutodiscoverRequest {
            email: "alice@example.com".into(),
            accept_schema: "http://example.com/some/other/schema".into(),
        };
        let p = parse_response(&respond(&req, Some(&alice()), &settings()));
        assert_eq!(p.namespace("Autodiscover/Response"), Some(RESPONSE_NS));
        assert_eq!(p.text("Autodiscover/Response/Error/ErrorCode"), Some("601"));
        assert!(p.text("Autodiscover/Response/Error/Message").is_some());
    }

    #[test]
    fn invalid_request_response_is_600_with_time_and_id() {
        let xml = error_response_at(ErrorCode::InvalidRequest, &settings(), "16:56:32.6164027");
        let p = parse_response(&xml);
        assert_eq!(p.namespace("Autodiscover/Response"), Some(RESPONSE_NS));
        assert_eq!(p.text("Autodiscover/Response/Error/ErrorCode"), Some("600"));
        assert_eq!(
            p.text("Autodiscover/Response/Error/Message"),
            Some("Invalid Request")
        );
        assert!(p.has("Autodiscover/Response/Error/DebugData"));
        let id = server_id("mail.example.com").to_string();
        assert!(p.attributes.contains(&(
            "Autodiscover/Response/Error".into(),
            "Time".into(),
            "16:56:32.6164027".into()
        )));
        assert!(p
            .attributes
            .contains(&("Autodiscover/Response/Error".into(), "Id".into(), id)));
        // The live variant produces the same shape.
        let live = parse_response(&error_response(ErrorCode::InvalidRequest, &settings()));
        assert_eq!(
            live.text("Autodiscover/Response/Error/ErrorCode"),
            Some("600")
        );
    }

    #[test]
    fn display_names_are_escaped() {
        let account = AccountInfo {
            email: "alice@example.com".into(),
            display_name: "Alice <\"&'> \u{1}Liddell\u{FFFF}".into(),
        };
        for schema in [MOBILESYNC_RESPONSE_NS, OUTLOOK_RESPONSE_NS] {
            let req = AutodiscoverRequest {
                email: "alice@example.com".into(),
                accept_schema: schema.into(),
            };
            let xml = respond(&req, Some(&account), &settings());
            assert!(!xml.contains("<\"&"), "{xml}");
            let p = parse_response(&xml);
            assert_eq!(
                p.text("Autodiscover/Response/User/DisplayName"),
                Some("Alice <\"&'> Liddell")
            );
        }
    }

    #[test]
    fn hostile_requested_address_is_escaped_in_the_error() {
        let body = request_xml(
            MOBILESYNC_REQUEST_NS,
            "&lt;/EMailAddress&gt;&lt;x&gt;@evil",
            MOBILESYNC_RESPONSE_NS,
        );
        let req = parse_request(&body).unwrap();
        assert_eq!(req.email, "</EMailAddress><x>@evil");
        let p = parse_response(&respond(&req, None, &settings()));
        assert_eq!(
            p.text("Autodiscover/Response/User/EMailAddress"),
            Some("</EMailAddress><x>@evil")
        );
    }

    #[test]
    fn empty_display_name_is_left_out() {
        let account = AccountInfo {
            email: "alice@example.com".into(),
            display_name: " ".into(),
        };
        let req = AutodiscoverRequest {
            email: "alice@example.com".into(),
            accept_schema: MOBILESYNC_RESPONSE_NS.into(),
        };
        let p = parse_response(&respond(&req, Some(&account), &settings()));
        assert!(!p.has("Autodiscover/Response/User/DisplayName"));
        assert!(p.has("Autodiscover/Response/User/EMailAddress"));
    }

    #[test]
    fn protocol_specs() {
        let imap = ProtocolEntry::from_spec("IMAP", "imap.example.com:993").unwrap();
        assert_eq!(imap.kind, "IMAP");
        assert_eq!(imap.server, "imap.example.com");
        assert_eq!(imap.port, 993);
        assert_eq!(imap.encryption, Encryption::Ssl);
        assert!(imap.login_name_is_email);
        assert_eq!(
            ProtocolEntry::from_spec("smtp", "mx:587")
                .unwrap()
                .encryption,
            Encryption::Tls
        );
        assert_eq!(
            ProtocolEntry::from_spec("smtp", "mx:465")
                .unwrap()
                .encryption,
            Encryption::Ssl
        );
        assert_eq!(
            ProtocolEntry::from_spec("imap", "mx:143:plain")
                .unwrap()
                .encryption,
            Encryption::None
        );
        assert_eq!(
            ProtocolEntry::from_spec("imap", "mx:1993:SSL")
                .unwrap()
                .encryption,
            Encryption::Ssl
        );
        let v6 = ProtocolEntry::from_spec("imap", "[2001:db8::1]:993:ssl").unwrap();
        assert_eq!(v6.server, "[2001:db8::1]");
        for bad in [
            "mx",
            "mx:",
            "mx:0",
            "mx:70000",
            ":993",
            "mx:993:quantum",
            "bad host:993",
            "2001:db8::1:993",
            "[zz]:993",
        ] {
            assert!(ProtocolEntry::from_spec("IMAP", bad).is_err(), "{bad}");
        }
        assert!(ProtocolEntry::from_spec("NNTP", "news:119").is_err());
    }

    #[test]
    fn settings_from_config() {
        let config = Config::parse(
            "public-url = https://mail.example.com:8443/\n\
             autodiscover-imap = imap.example.com:993\n\
             autodiscover-smtp = smtp.example.com:587",
            std::path::Path::new("/test.conf"),
        )
        .unwrap();
        let settings = AutodiscoverSettings::from_config(&config);
        assert_eq!(
            settings.mobilesync_url,
            "https://mail.example.com:8443/Microsoft-Server-ActiveSync"
        );
        assert_eq!(settings.server_host, "mail.example.com:8443");
        let kinds: Vec<&str> = settings
            .extra_protocols
            .iter()
            .map(|p| p.kind.as_str())
            .collect();
        assert_eq!(kinds, ["IMAP", "SMTP"]);
    }

    #[test]
    fn time_of_day_format() {
        assert_eq!(format_time_of_day(0, 0), "00:00:00.0000000");
        assert_eq!(
            format_time_of_day(86_400 * 3 + 16 * 3600 + 56 * 60 + 32, 616_402_700),
            "16:56:32.6164027"
        );
    }
}
