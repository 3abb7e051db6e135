//! HTTP/1.x message heads as the front door sees them: parsing and validating client
//! request heads (framing, keep-alive, limits), re-writing them for the backend, parsing
//! backend response heads (framing, parking instructions) and re-writing them for clients.
//!
//! Everything here is pure byte-in/byte-out so it can be tested without sockets.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// Most header lines accepted in one request or response head.
const MAX_HEADERS: usize = 128;
/// Largest response head accepted from the backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Longest park the backend may ask for; longer requests are clamped.
const MAX_PARK_SECONDS: u64 = 2 * 60 * 60;

/// Header prefix reserved for the front door and the backend talking to each other.
const INTERNAL_PREFIX: &str = "x-easd-";

/// Headers that only describe one connection and are never forwarded in either direction
/// (framing headers are rebuilt by the front door).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "proxy-authorization",
    "proxy-authenticate",
];

/// How a request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A validated client request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor_version: u8,
    pub(crate) is_head_method: bool,
    /// The client allows another request on this connection after the response.
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) framing: BodyFraming,
    /// Request line (as HTTP/1.1) and the end-to-end headers, each line ending in CRLF.
    pub(crate) forward_prefix: Vec<u8>,
}

/// Why a request head was refused; each maps to the status sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestError {
    HeadTooLarge,
    BadRequest,
    UnsupportedTransferCoding,
    ExpectationFailed,
    VersionNotSupported,
}

impl RequestError {
    pub(crate) fn status(self) -> u16 {
        match self {
            RequestError::HeadTooLarge => 431,
            RequestError::BadRequest => 400,
            RequestError::UnsupportedTransferCoding => 501,
            RequestError::ExpectationFailed => 417,
            RequestError::VersionNotSupported => 505,
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete (and still within `max_head_bytes`),
/// otherwise the head and its length in bytes.
pub(crate) fn parse_request_head(
    buf: &[u8],
    max_head_bytes: usize,
    forwarded: Option<&[&str]>,
) -> Result<Option<(RequestHead, usize)>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > max_head_bytes {
                Err(RequestError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(httparse::Error::Version) if names_another_http_version(buf) => {
            return Err(RequestError::VersionNotSupported)
        }
        Err(_) => return Err(RequestError::BadRequest),
    };
    if head_len > max_head_bytes {
        return Err(RequestError::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor_version)) =
        (request.method, request.path, request.version)
    else {
        return Err(RequestError::BadRequest);
    };
    // The backend only understands ASCII heads; reject here rather than have it drop
    // the backend connection.
    if !target.is_ascii() || target.is_empty() {
        return Err(RequestError::BadRequest);
    }
    let headers = &*request.headers;
    if headers.iter().any(|h| !is_clean_value(h.value)) {
        return Err(RequestError::BadRequest);
    }

    let connection_tokens: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| comma_tokens(h.value))
        .collect();
    let keep_alive = if minor_version >= 1 {
        !connection_tokens.iter().any(|t| t == "close")
    } else {
        connection_tokens.iter().any(|t| t == "keep-alive")
    };

    let framing = request_framing(headers, minor_version)?;

    let mut expect_continue = false;
    for header in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("expect"))
    {
        if trim(header.value).eq_ignore_ascii_case(b"100-continue") {
            expect_continue = minor_version >= 1;
        } else {
            return Err(RequestError::ExpectationFailed);
        }
    }

    if minor_version >= 1 {
        let hosts = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("host"))
            .count();
        if hosts != 1 {
            return Err(RequestError::BadRequest);
        }
    }

    let mut forward_prefix = Vec::with_capacity(head_len + 64);
    forward_prefix.extend_from_slice(method.as_bytes());
    forward_prefix.push(b' ');
    forward_prefix.extend_from_slice(target.as_bytes());
    forward_prefix.extend_from_slice(b" HTTP/1.1\r\n");
    for header in headers {
        let name = header.name;
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case("expect")
            || is_internal(name)
            || connection_tokens
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t))
            || forwarded.is_some_and(|names| !names.iter().any(|n| name.eq_ignore_ascii_case(n)))
        {
            continue;
        }
        forward_prefix.extend_from_slice(name.as_bytes());
        forward_prefix.extend_from_slice(b": ");
        forward_prefix.extend_from_slice(trim(header.value));
        forward_prefix.extend_from_slice(b"\r\n");
    }

    Ok(Some((
        RequestHead {
            minor_version,
            is_head_method: method == "HEAD",
            keep_alive,
            expect_continue,
            framing,
            forward_prefix,
        },
        head_len,
    )))
}

/// True when the request line ends in a well-formed `HTTP/x.y` other than 1.0/1.1.
fn names_another_http_version(buf: &[u8]) -> bool {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(..line_end).unwrap_or_default();
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

fn request_framing(
    headers: &[httparse::Header<'_>],
    minor_version: u8,
) -> Result<BodyFraming, RequestError> {
    let mut codings: Vec<String> = Vec::new();
    let mut saw_transfer_encoding = false;
    let mut length: Option<u64> = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            saw_transfer_encoding = true;
            codings.extend(comma_tokens(header.value));
        } else if header.name.eq_ignore_ascii_case("content-length") {
            for part in header.value.split(|&b| b == b',') {
                let value = parse_content_length(trim(part)).ok_or(RequestError::BadRequest)?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(RequestError::BadRequest);
                }
                length = Some(value);
            }
        }
    }
    if saw_transfer_encoding {
        // Both framings at once is the classic smuggling vector; HTTP/1.0 has no chunking.
        if length.is_some() || minor_version == 0 {
            return Err(RequestError::BadRequest);
        }
        return match codings.last().map(String::as_str) {
            Some("chunked") if codings.len() == 1 => Ok(BodyFraming::Chunked),
            Some("chunked") => Err(RequestError::UnsupportedTransferCoding),
            _ => Err(RequestError::BadRequest),
        };
    }
    Ok(match length {
        Some(0) | None => BodyFraming::None,
        Some(n) => BodyFraming::Length(n),
    })
}

/// Completes a forwarded head: the de-chunked length and the front door's own headers.
/// The result still lacks the blank line so a resume header can be appended.
pub(crate) fn forwarded_head(
    forward_prefix: &[u8],
    body_len: u64,
    peer: SocketAddr,
    tls: bool,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(forward_prefix.len() + 96);
    head.extend_from_slice(forward_prefix);
    let mut extra = String::with_capacity(96);
    let _ = write!(
        extra,
        "Content-Length: {body_len}\r\nX-Easd-Peer: {peer}\r\nX-Easd-Tls: {}\r\n",
        if tls { 1 } else { 0 }
    );
    head.extend_from_slice(extra.as_bytes());
    head
}

/// How the backend frames a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    NoBody,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The backend's request to hold the client connection (DirectPush).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParkRequest {
    pub(crate) seconds: u64,
    /// The user the park belongs to (lower-case), for wake-ups.
    pub(crate) key: String,
    /// User plus device: a newer park with the same value supersedes the older one.
    pub(crate) device: String,
}

/// A parsed backend response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) framing: ResponseFraming,
    /// Content-Length as sent by the backend (informative for HEAD and 304).
    pub(crate) declared_length: Option<u64>,
    /// False when the backend will close its side after this response.
    pub(crate) backend_keep_alive: bool,
    pub(crate) park: Option<ParkRequest>,
    reason: String,
    /// End-to-end headers for the client, each line ending in CRLF.
    kept_headers: Vec<u8>,
}

/// Outcome of parsing the start of a backend response.
#[derive(Debug)]
pub(crate) enum ResponseParse {
    Incomplete,
    /// An interim 1xx response of this many bytes, to be skipped.
    Interim(usize),
    Complete(ResponseHead, usize),
}

/// The backend sent something that is not a usable HTTP/1.1 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadResponse(pub(crate) &'static str);

pub(crate) fn parse_response_head(
    buf: &[u8],
    request_was_head: bool,
) -> Result<ResponseParse, BadResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(BadResponse("response head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(ResponseParse::Incomplete),
        Err(_) => return Err(BadResponse("unparsable response head")),
    };
    let status = response.code.ok_or(BadResponse("missing status"))?;
    if status == 101 {
        return Err(BadResponse("protocol upgrade from the backend"));
    }
    if (100..200).contains(&status) {
        return Ok(ResponseParse::Interim(head_len));
    }
    let minor_version = response.version.unwrap_or(1);
    let reason = response
        .reason
        .filter(|r| {
            r.bytes()
                .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        })
        .unwrap_or("")
        .to_string();
    let headers = &*response.headers;

    let connection_tokens: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| comma_tokens(h.value))
        .collect();
    let backend_keep_alive = if minor_version >= 1 {
        !connection_tokens.iter().any(|t| t == "close")
    } else {
        connection_tokens.iter().any(|t| t == "keep-alive")
    };

    let mut codings: Vec<String> = Vec::new();
    let mut declared_length: Option<u64> = None;
    let mut park_seconds: Option<&[u8]> = None;
    let mut park_key: Option<&[u8]> = None;
    let mut park_device: Option<&[u8]> = None;
    let mut kept_headers = Vec::with_capacity(head_len);
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(comma_tokens(header.value));
        } else if name.eq_ignore_ascii_case("content-length") {
            let value = parse_content_length(trim(header.value))
                .ok_or(BadResponse("invalid Content-Length"))?;
            if declared_length.is_some_and(|seen| seen != value) {
                return Err(BadResponse("conflicting Content-Length"));
            }
            declared_length = Some(value);
        } else if name.eq_ignore_ascii_case("x-easd-park") {
            park_seconds = Some(trim(header.value));
        } else if name.eq_ignore_ascii_case("x-easd-park-key") {
            park_key = Some(trim(header.value));
        } else if name.eq_ignore_ascii_case("x-easd-park-device") {
            park_device = Some(trim(header.value));
        }
        if is_hop_by_hop(name)
            || is_internal(name)
            || connection_tokens
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t))
            || !is_clean_value(header.value)
        {
            continue;
        }
        kept_headers.extend_from_slice(name.as_bytes());
        kept_headers.extend_from_slice(b": ");
        kept_headers.extend_from_slice(trim(header.value));
        kept_headers.extend_from_slice(b"\r\n");
    }

    let framing = if request_was_head || status == 204 || status == 304 {
        ResponseFraming::NoBody
    } else if !codings.is_empty() {
        if codings.last().map(String::as_str) == Some("chunked") {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        }
    } else {
        match declared_length {
            Some(0) => ResponseFraming::NoBody,
            Some(n) => ResponseFraming::Length(n),
            None => ResponseFraming::UntilClose,
        }
    };
    let backend_keep_alive = backend_keep_alive && framing != ResponseFraming::UntilClose;

    let park = match (park_seconds, park_key, park_device) {
        (Some(seconds), Some(key), Some(device)) => parse_park(seconds, key, device),
        (None, _, _) => None,
        _ => {
            log::warn!("backend asked to park without X-Easd-Park-Key/-Device; relaying");
            None
        }
    };

    Ok(ResponseParse::Complete(
        ResponseHead {
            status,
            framing,
            declared_length,
            backend_keep_alive,
            park,
            reason,
            kept_headers,
        },
        head_len,
    ))
}

fn parse_park(seconds: &[u8], key: &[u8], device: &[u8]) -> Option<ParkRequest> {
    let seconds = std::str::from_utf8(seconds).ok()?.parse::<u64>().ok()?;
    let key = std::str::from_utf8(key).ok()?;
    let device = std::str::from_utf8(device).ok()?;
    if key.is_empty() || device.is_empty() {
        return None;
    }
    Some(ParkRequest {
        seconds: seconds.clamp(1, MAX_PARK_SECONDS),
        key: key.to_ascii_lowercase(),
        device: device.to_string(),
    })
}

/// How the front door frames a relayed body towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientFraming {
    NoBody,
    Length(u64),
    Chunked,
    /// HTTP/1.0 style: the body ends when the connection closes.
    CloseDelimited,
}

impl ClientFraming {
    /// The client framing for a backend framing, given the client's HTTP minor version.
    pub(crate) fn for_response(framing: ResponseFraming, client_minor_version: u8) -> Self {
        match framing {
            ResponseFraming::NoBody => ClientFraming::NoBody,
            ResponseFraming::Length(n) => ClientFraming::Length(n),
            ResponseFraming::Chunked if client_minor_version >= 1 => ClientFraming::Chunked,
            ResponseFraming::Chunked | ResponseFraming::UntilClose => ClientFraming::CloseDelimited,
        }
    }
}

/// The response head sent to the client for a relayed backend response.
pub(crate) fn client_response_head(
    response: &ResponseHead,
    framing: ClientFraming,
    keep_alive: bool,
    client_minor_version: u8,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(response.kept_headers.len() + 128);
    let reason = if response.reason.is_empty() {
        reason_phrase(response.status)
    } else {
        response.reason.as_str()
    };
    let mut line = String::with_capacity(64);
    let _ = write!(line, "HTTP/1.1 {} {}\r\n", response.status, reason);
    head.extend_from_slice(line.as_bytes());
    head.extend_from_slice(&response.kept_headers);
    line.clear();
    match framing {
        ClientFraming::Length(n) => {
            let _ = write!(line, "Content-Length: {n}\r\n");
        }
        ClientFraming::Chunked => line.push_str("Transfer-Encoding: chunked\r\n"),
        ClientFraming::NoBody => {
            // HEAD and 304 may announce the representation's length; 204 must not.
            if let (Some(n), true) = (response.declared_length, response.status != 204) {
                let _ = write!(line, "Content-Length: {n}\r\n");
            }
        }
        ClientFraming::CloseDelimited => {}
    }
    if !keep_alive {
        line.push_str("Connection: close\r\n");
    } else if client_minor_version == 0 {
        line.push_str("Connection: keep-alive\r\n");
    }
    line.push_str("\r\n");
    head.extend_from_slice(line.as_bytes());
    head
}

/// A complete response generated by the front door itself; it always closes.
pub(crate) fn error_response(status: u16, retry_after_seconds: Option<u32>) -> Vec<u8> {
    let reason = reason_phrase(status);
    let body = format!("{status} {reason}\n");
    let mut response = String::with_capacity(160);
    let _ = write!(
        response,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(seconds) = retry_after_seconds {
        let _ = write!(response, "Retry-After: {seconds}\r\n");
    }
    response.push_str("\r\n");
    response.push_str(&body);
    response.into_bytes()
}

/// The interim response sent when a client waits with `Expect: 100-continue`.
pub(crate) const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

fn is_internal(name: &str) -> bool {
    name.as_bytes()
        .get(..INTERNAL_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(INTERNAL_PREFIX.as_bytes()))
}

/// Printable ASCII, space and tab only: what the backend accepts in a header value.
fn is_clean_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &value[start..end]
}

/// Lower-cased, trimmed, non-empty comma-separated tokens of a header value.
fn comma_tokens(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).to_ascii_lowercase())
}

fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, RequestError> {
        parse_request_head(raw.as_bytes(), 16 * 1024, None)
    }

    fn parsed(raw: &str) -> RequestHead {
        let (head, len) = parse(raw).unwrap().unwrap();
        assert_eq!(len, raw.find("\r\n\r\n").unwrap() + 4);
        head
    }

    #[test]
    fn incomplete_heads_wait_and_oversized_heads_fail() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n", "a".repeat(100));
        assert_eq!(
            parse_request_head(big.as_bytes(), 64, None),
            Err(RequestError::HeadTooLarge)
        );
        let complete = format!("{big}Host: a\r\n\r\n");
        assert_eq!(
            parse_request_head(complete.as_bytes(), 64, None),
            Err(RequestError::HeadTooLarge)
        );
        let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            Err(RequestError::HeadTooLarge)
        );
    }

    #[test]
    fn rewrites_the_head_for_the_backend() {
        let head = parsed(
            "POST /Microsoft-Server-ActiveSync?Cmd=Sync HTTP/1.1\r\n\
             Host: mail.example.org\r\n\
             Connection: keep-alive, X-Private\r\n\
             X-Private: hop\r\n\
             Keep-Alive: timeout=5\r\n\
             X-Easd-Peer: 6.6.6.6:1\r\n\
             x-EASD-tls: 1\r\n\
             Expect: 100-continue\r\n\
             TE: trailers\r\n\
             Upgrade: h2c\r\n\
             Authorization:   Basic dXNlcjpwdw==  \r\n\
             Content-Length: 4\r\n\r\n",
        );
        assert_eq!(head.framing, BodyFraming::Length(4));
        assert!(head.keep_alive && head.expect_continue && !head.is_head_method);
        assert_eq!(
            String::from_utf8(head.forward_prefix.clone()).unwrap(),
            "POST /Microsoft-Server-ActiveSync?Cmd=Sync HTTP/1.1\r\n\
             Host: mail.example.org\r\n\
             Authorization: Basic dXNlcjpwdw==\r\n"
        );
        let peer: SocketAddr = "192.0.2.7:5123".parse().unwrap();
        let full = forwarded_head(&head.forward_prefix, 4, peer, true);
        assert!(String::from_utf8(full)
            .unwrap()
            .ends_with("Content-Length: 4\r\nX-Easd-Peer: 192.0.2.7:5123\r\nX-Easd-Tls: 1\r\n"));
    }

    #[test]
    fn only_the_headers_the_backend_reads_are_forwarded_when_it_names_them() {
        let raw = "POST /x HTTP/1.1\r\n\
                   Host: mail.example.org\r\n\
                   Accept-Language: en\r\n\
                   authorization: Basic dXNlcjpwdw==\r\n\
                   X-Easd-Peer: 6.6.6.6:1\r\n\
                   Content-Length: 0\r\n\r\n";
        let (head, _) = parse_request_head(raw.as_bytes(), 1024, Some(&["Authorization"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(head.forward_prefix).unwrap(),
            "POST /x HTTP/1.1\r\nauthorization: Basic dXNlcjpwdw==\r\n"
        );
        // A dropped header is still checked: a bad value is refused, not left out.
        assert_eq!(
            parse_request_head(
                b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n",
                1024,
                Some(&["Authorization"])
            ),
            Err(RequestError::BadRequest)
        );
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        assert!(parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.0\r\n\r\n").keep_alive);
        let old = parsed("HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(old.keep_alive && old.is_head_method && old.minor_version == 0);
    }

    #[test]
    fn body_framing_rules() {
        assert_eq!(
            parsed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").framing,
            BodyFraming::Chunked
        );
        assert_eq!(
            parsed(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n"
            )
            .framing,
            BodyFraming::Length(7)
        );
        assert_eq!(
            parsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").framing,
            BodyFraming::None
        );
        let bad = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for raw in bad {
            assert_eq!(parse(raw), Err(RequestError::BadRequest), "{raw}");
        }
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(RequestError::UnsupportedTransferCoding)
        );
    }

    #[test]
    fn rejects_other_malformed_heads() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n"),
            Err(RequestError::ExpectationFailed)
        );
        assert_eq!(
            parse_request_head(
                "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(),
                1024,
                None
            ),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            parse_request_head(
                b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n",
                1024,
                None
            ),
            Err(RequestError::BadRequest)
        );
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n"),
            Err(RequestError::VersionNotSupported)
        );
        assert_eq!(parse("GARBAGE\r\n\r\n"), Err(RequestError::BadRequest));
        assert_eq!(
            parse("NOT HTTP AT ALL\r\n\r\n"),
            Err(RequestError::BadRequest)
        );
    }

    fn response(raw: &str, head_request: bool) -> (ResponseHead, usize) {
        match parse_response_head(raw.as_bytes(), head_request).unwrap() {
            ResponseParse::Complete(head, len) => (head, len),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn response_framing_and_header_filtering() {
        let raw = "HTTP/1.1 200 OK\r\nServer: tiny-http (Rust)\r\nTransfer-Encoding: chunked\r\n\
             X-Easd-Debug: secret\r\nContent-Type: application/vnd.ms-sync.wbxml\r\n\r\nrest";
        let (head, len) = response(raw, false);
        assert_eq!(len, raw.len() - "rest".len());
        assert_eq!(head.framing, ResponseFraming::Chunked);
        assert!(head.backend_keep_alive && head.park.is_none());
        let to_new = client_response_head(&head, ClientFraming::Chunked, true, 1);
        assert_eq!(
            String::from_utf8(to_new).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: tiny-http (Rust)\r\n\
             Content-Type: application/vnd.ms-sync.wbxml\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            ClientFraming::for_response(head.framing, 0),
            ClientFraming::CloseDelimited
        );
        let to_old = client_response_head(&head, ClientFraming::CloseDelimited, false, 0);
        assert!(String::from_utf8(to_old)
            .unwrap()
            .ends_with("wbxml\r\nConnection: close\r\n\r\n"));

        let (head, _) = response("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false);
        assert_eq!(head.framing, ResponseFraming::Length(12));
        let (head, _) = response("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true);
        assert_eq!(head.framing, ResponseFraming::NoBody);
        let text =
            String::from_utf8(client_response_head(&head, ClientFraming::NoBody, true, 0)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
        );
        let (head, _) = response(
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(head.framing, ResponseFraming::NoBody);
        let (head, _) = response("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false);
        assert_eq!(head.framing, ResponseFraming::UntilClose);
        assert!(!head.backend_keep_alive);
    }

    #[test]
    fn interim_and_broken_responses() {
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", false),
            Ok(ResponseParse::Interim(25))
        ));
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nContent-", false),
            Ok(ResponseParse::Incomplete)
        ));
        assert!(parse_response_head(b"HTTP/1.1 101 Switching\r\n\r\n", false).is_err());
        assert!(parse_response_head(b"NONSENSE\r\n\r\n", false).is_err());
        assert!(parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false
        )
        .is_err());
    }

    #[test]
    fn park_instructions_are_read_and_never_relayed() {
        let (head, _) = response(
            "HTTP/1.1 200 OK\r\nX-Easd-Park: 1800\r\nX-Easd-Park-Key: Alice@Example.org\r\n\
             X-Easd-Park-Device: alice@example.org/DEV1\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(
            head.park,
            Some(ParkRequest {
                seconds: 1800,
                key: "alice@example.org".into(),
                device: "alice@example.org/DEV1".into(),
            })
        );
        let text =
            String::from_utf8(client_response_head(&head, ClientFraming::NoBody, true, 1)).unwrap();
        assert!(!text.to_ascii_lowercase().contains("x-easd"), "{text}");

        let (head, _) = response(
            "HTTP/1.1 200 OK\r\nX-Easd-Park: 0\r\nX-Easd-Park-Key: a\r\nX-Easd-Park-Device: b\r\n\r\n",
            false,
        );
        assert_eq!(head.park.map(|p| p.seconds), Some(1));
        let (head, _) = response("HTTP/1.1 200 OK\r\nX-Easd-Park: 60\r\n\r\n", false);
        assert!(head.park.is_none());
        let (head, _) = response(
            "HTTP/1.1 200 OK\r\nX-Easd-Park: soon\r\nX-Easd-Park-Key: a\r\nX-Easd-Park-Device: b\r\n\r\n",
            false,
        );
        assert!(head.park.is_none());
    }

    #[test]
    fn error_responses_close_and_carry_retry_after() {
        let text = String::from_utf8(error_response(503, Some(5))).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("\r\nRetry-After: 5\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(!String::from_utf8(error_response(413, None))
            .unwrap()
            .contains("Retry-After"));
    }
}
