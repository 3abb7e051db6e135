//! The HTTP answer a request gets from the request loop, and the fixed headers of EAS answers.

use std::io::{Cursor, Read};

use crate::eas::{self, ProtocolVersion};

/// A complete HTTP answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// More body bytes, sent after `body` piece by piece (binary answers: a multipart
    /// answer's parts go out as they are, never joined into one buffer).
    pub tail: Vec<Vec<u8>>,
}

impl Answer {
    /// A bodiless answer with this status.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: vec![("Server".to_string(), "easd".to_string())],
            body: Vec::new(),
            tail: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn unauthorized() -> Answer {
        Answer::status(401).header("WWW-Authenticate", "Basic realm=\"easd\"")
    }

    /// The answer to OPTIONS on the EAS endpoint: what versions (`versions`, the
    /// `MS-ASProtocolVersions` value the policy allows) and commands easd offers.
    pub fn options(versions: &str) -> Answer {
        Answer::eas_empty()
            .header("Allow", "OPTIONS,POST")
            .header("Public", "OPTIONS,POST")
            .header("MS-ASProtocolVersions", versions)
            .header("MS-ASProtocolCommands", &eas::commands_header())
    }

    /// HTTP 200 with no body, with the headers every EAS answer carries.
    pub fn eas_empty() -> Answer {
        Answer::status(200)
            .header("MS-Server-ActiveSync", ProtocolVersion::NEWEST.as_str())
            .header("Cache-Control", "private")
    }

    pub fn wbxml(body: Vec<u8>) -> Answer {
        let mut answer = Answer::eas_empty().header("Content-Type", super::WBXML_CONTENT_TYPE);
        answer.body = body;
        answer
    }

    pub fn xml(status: u16, body: String) -> Answer {
        let mut answer = Answer::status(status).header("Content-Type", "text/xml; charset=utf-8");
        answer.body = body.into_bytes();
        answer
    }

    pub fn into_response(self) -> tiny_http::Response<Box<dyn Read + Send>> {
        let length = self.body.len() + self.tail.iter().map(Vec::len).sum::<usize>();
        let mut reader: Box<dyn Read + Send> = Box::new(Cursor::new(self.body));
        for piece in self.tail {
            reader = Box::new(reader.chain(Cursor::new(piece)));
        }
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, value)| {
                tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
            })
            .collect();
        tiny_http::Response::new(
            tiny_http::StatusCode(self.status),
            headers,
            reader,
            Some(length),
            None,
        )
    }
}
