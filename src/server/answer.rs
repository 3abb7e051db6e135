//! The HTTP answer a request gets from the request loop, and the fixed headers of EAS answers.

use std::io::{Cursor, Read};

use crate::eas::stream::PieceReader;
use crate::eas::{self, Piece, ProtocolVersion, WBXML_CONTENT_TYPE};
use crate::store::Store;

/// A complete HTTP answer: status, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// More body, sent after `body` piece by piece (binary answers: stored attachments are
    /// decoded from the database as they go out, never held whole).
    pub tail: Vec<Piece>,
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
        let mut answer = Answer::eas_empty().header("Content-Type", WBXML_CONTENT_TYPE);
        answer.body = body;
        answer
    }

    pub fn xml(status: u16, body: String) -> Answer {
        let mut answer = Answer::status(status).header("Content-Type", "text/xml; charset=utf-8");
        answer.body = body.into_bytes();
        answer
    }

    /// The tiny_http response; stored pieces of the tail are read from `store` as it is sent.
    pub fn into_response(self, store: &Store) -> tiny_http::Response<Box<dyn Read + '_>> {
        let length = self.body.len() as u64 + self.tail.iter().map(Piece::wire_len).sum::<u64>();
        let reader: Box<dyn Read + '_> = if self.tail.is_empty() {
            Box::new(Cursor::new(self.body))
        } else {
            let mut pieces = Vec::with_capacity(self.tail.len() + 1);
            pieces.push(Piece::Bytes(self.body));
            pieces.extend(self.tail);
            Box::new(PieceReader::new(store, pieces))
        };
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
            usize::try_from(length).ok(),
            None,
        )
    }
}
