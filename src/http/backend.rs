//! The front door's side of the internal Unix-socket connections to the blocking
//! tiny_http loop: one exchange (request out, response back) at a time per connection.
//!
//! An [`Exchange`] writes the re-written request (head, optional `X-Easd-Resume`, body)
//! and turns the backend's response bytes into the bytes the client gets — or, when the
//! backend asks to park, swallows the response and reports the park instead.

use std::io::{self, IoSlice, Read, Write};
use std::ops::Range;
use std::time::Instant;

use mio::net::UnixStream;

use super::body::Body;
use super::chunked::{encode_chunk, ChunkedDecoder, LAST_CHUNK};
use super::conn::ForwardRequest;
use super::head::{
    client_response_head, parse_response_head, BadResponse, ClientFraming, ParkRequest,
    ResponseFraming, ResponseParse,
};
use super::park::ConnRef;

/// Size of the staging buffer for request bodies streamed from a spool file.
const STAGE_SIZE: usize = 64 * 1024;

/// One keep-alive connection to the backend and the exchange running on it, if any.
pub(crate) struct BackendConn {
    pub(crate) stream: Option<UnixStream>,
    pub(crate) exchange: Option<Exchange>,
    /// A read of `stream` found it empty and no readable event came since: reading again
    /// would only return `WouldBlock` (readiness is edge-triggered, so data arriving after
    /// that read is reported and clears the mark).
    pub(crate) drained: bool,
    /// The stream is registered for writability too. Only while a request is not fully
    /// written: a Unix socket reports writable each time the loop reads from it, which
    /// would wake the front door once per request for nothing.
    pub(crate) writable_interest: bool,
}

impl BackendConn {
    pub(crate) fn new() -> Self {
        BackendConn {
            stream: None,
            exchange: None,
            drained: false,
            writable_interest: false,
        }
    }

    pub(crate) fn is_free(&self) -> bool {
        self.exchange.is_none()
    }
}

/// Reads from a backend stream unless `drained` ([`BackendConn::drained`]) says it is empty;
/// a read that finds it empty sets the mark.
pub(crate) fn read_unless_drained(
    stream: &mut UnixStream,
    drained: &mut bool,
    buffer: &mut [u8],
) -> io::Result<usize> {
    if *drained {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let read = stream.read(buffer);
    if matches!(&read, Err(error) if error.kind() == io::ErrorKind::WouldBlock) {
        *drained = true;
    }
    read
}

/// How an exchange ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The response went to the client.
    Relayed {
        keep_backend: bool,
        client_keep_alive: bool,
    },
    /// The backend asked to hold the request; nothing went to the client.
    Park {
        park: ParkRequest,
        keep_backend: bool,
    },
}

/// How much of a backend response body is still to come.
#[derive(Debug)]
enum BodyLeft {
    Nothing,
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl BodyLeft {
    fn for_framing(framing: ResponseFraming) -> Self {
        match framing {
            ResponseFraming::NoBody => BodyLeft::Nothing,
            ResponseFraming::Length(n) => BodyLeft::Length(n),
            ResponseFraming::Chunked => BodyLeft::Chunked(ChunkedDecoder::new(u64::MAX)),
            ResponseFraming::UntilClose => BodyLeft::UntilClose,
        }
    }

    /// Consumes framing and payload from `input`: (bytes consumed, payload range, done).
    fn take(&mut self, input: &[u8]) -> Result<(usize, Range<usize>, bool), BadResponse> {
        match self {
            BodyLeft::Nothing => Ok((0, 0..0, true)),
            BodyLeft::Length(remaining) => {
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= take as u64;
                Ok((take, 0..take, *remaining == 0))
            }
            BodyLeft::Chunked(decoder) => {
                let step = decoder
                    .step(input)
                    .map_err(|_| BadResponse("broken chunked response body"))?;
                Ok((step.consumed, step.data, decoder.is_done()))
            }
            BodyLeft::UntilClose => Ok((input.len(), 0..input.len(), false)),
        }
    }
}

#[derive(Debug)]
enum ResponseState {
    /// Collecting the response head.
    Head(Vec<u8>),
    /// Passing the body on to the client.
    Relay {
        left: BodyLeft,
        client_framing: ClientFraming,
        client_keep_alive: bool,
        backend_keep_alive: bool,
    },
    /// Reading and dropping the body of a park instruction.
    Drain {
        left: BodyLeft,
        park: ParkRequest,
        backend_keep_alive: bool,
    },
}

/// One request/response round trip on a backend connection.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) client: ConnRef,
    /// When the request was handed to the backend: wake-ups after this moment may not
    /// have been seen by the backend yet.
    pub(crate) started: Instant,
    request: Box<ForwardRequest>,
    prelude: Vec<u8>,
    prelude_sent: usize,
    body_sent: u64,
    stage: Vec<u8>,
    stage_pos: usize,
    response: ResponseState,
}

impl Exchange {
    pub(crate) fn new(client: ConnRef, request: Box<ForwardRequest>) -> Self {
        let mut prelude = Vec::with_capacity(request.head.len() + 40);
        prelude.extend_from_slice(&request.head);
        if let Some(reason) = request.resume {
            prelude.extend_from_slice(b"X-Easd-Resume: ");
            prelude.extend_from_slice(reason.as_str().as_bytes());
            prelude.extend_from_slice(b"\r\n");
        }
        prelude.extend_from_slice(b"\r\n");
        Exchange {
            client,
            started: Instant::now(),
            request,
            prelude,
            prelude_sent: 0,
            body_sent: 0,
            stage: Vec::new(),
            stage_pos: 0,
            response: ResponseState::Head(Vec::new()),
        }
    }

    /// Hands the request back (for parking or re-queueing).
    pub(crate) fn into_request(self) -> Box<ForwardRequest> {
        self.request
    }

    pub(crate) fn request_sent(&self) -> bool {
        self.prelude_sent >= self.prelude.len() && self.body_sent >= self.request.body.len()
    }

    /// True once the response head has gone to the client: failures now truncate it.
    pub(crate) fn response_started(&self) -> bool {
        matches!(self.response, ResponseState::Relay { .. })
    }

    /// Writes as much of the request as `stream` takes; returns whether bytes moved.
    pub(crate) fn write_request<W: Write>(&mut self, stream: &mut W) -> io::Result<bool> {
        let mut progress = false;
        while self.prelude_sent < self.prelude.len() {
            let rest = self.prelude.get(self.prelude_sent..).unwrap_or_default();
            // A body held in memory goes with the head in one write: one system call, and
            // the request loop is woken once, not twice (the body is sent only after the
            // whole head, so none of it has gone yet).
            let body: &[u8] = match &self.request.body {
                Body::Memory(bytes) => bytes,
                Body::Empty | Body::Spooled { .. } => &[],
            };
            match stream.write_vectored(&[IoSlice::new(rest), IoSlice::new(body)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let head = n.min(rest.len());
                    self.prelude_sent += head;
                    self.body_sent += (n - head) as u64;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let total = self.request.body.len();
        while self.body_sent < total {
            let result = match &self.request.body {
                Body::Empty => break,
                Body::Memory(bytes) => {
                    let start = usize::try_from(self.body_sent).unwrap_or(usize::MAX);
                    stream.write(bytes.get(start..).unwrap_or_default())
                }
                Body::Spooled { .. } => {
                    if self.stage_pos >= self.stage.len() {
                        self.stage.resize(STAGE_SIZE, 0);
                        let n = self.request.body.read_at(self.body_sent, &mut self.stage)?;
                        self.stage.truncate(n);
                        self.stage_pos = 0;
                    }
                    stream.write(self.stage.get(self.stage_pos..).unwrap_or_default())
                }
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.body_sent += n as u64;
                    self.stage_pos += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.stage.is_empty() || self.stage.capacity() > 0 {
            self.stage = Vec::new();
            self.stage_pos = 0;
        }
        Ok(progress)
    }

    /// Processes response bytes from the backend, appending what the client should get
    /// to `sink`. Returns the outcome once the response is complete.
    pub(crate) fn on_response_bytes(
        &mut self,
        data: &[u8],
        sink: &mut Vec<u8>,
    ) -> Result<Option<Finish>, BadResponse> {
        if let ResponseState::Head(buffer) = &mut self.response {
            buffer.extend_from_slice(data);
            let buffer = std::mem::take(buffer);
            return match self.start_response(buffer, sink)? {
                Some(rest) => self.consume_body(&rest, sink),
                None => Ok(None),
            };
        }
        self.consume_body(data, sink)
    }

    /// The backend closed its end. That completes a close-delimited response; anything
    /// else is a failed exchange.
    pub(crate) fn on_backend_eof(&self) -> Result<Finish, BadResponse> {
        match &self.response {
            ResponseState::Relay {
                left: BodyLeft::UntilClose,
                ..
            } => Ok(Finish::Relayed {
                keep_backend: false,
                client_keep_alive: false,
            }),
            ResponseState::Drain {
                left: BodyLeft::UntilClose,
                park,
                ..
            } => Ok(Finish::Park {
                park: park.clone(),
                keep_backend: false,
            }),
            _ => Err(BadResponse(
                "backend closed the connection before the response was complete",
            )),
        }
    }

    /// Parses the head collected in `buffer`; on success switches to relaying or draining
    /// and returns the bytes that followed the head.
    fn start_response(
        &mut self,
        mut buffer: Vec<u8>,
        sink: &mut Vec<u8>,
    ) -> Result<Option<Vec<u8>>, BadResponse> {
        loop {
            match parse_response_head(&buffer, self.request.is_head_method)? {
                ResponseParse::Incomplete => {
                    self.response = ResponseState::Head(buffer);
                    return Ok(None);
                }
                ResponseParse::Interim(len) => {
                    buffer.drain(..len.min(buffer.len()));
                }
                ResponseParse::Complete(head, len) => {
                    let rest = buffer.split_off(len.min(buffer.len()));
                    let left = BodyLeft::for_framing(head.framing);
                    self.response = match head.park.clone() {
                        Some(park) => ResponseState::Drain {
                            left,
                            park,
                            backend_keep_alive: head.backend_keep_alive,
                        },
                        None => {
                            let minor = self.request.client_minor_version;
                            let client_framing = ClientFraming::for_response(head.framing, minor);
                            let client_keep_alive = self.request.client_keep_alive
                                && client_framing != ClientFraming::CloseDelimited;
                            sink.extend_from_slice(&client_response_head(
                                &head,
                                client_framing,
                                client_keep_alive,
                                minor,
                            ));
                            ResponseState::Relay {
                                left,
                                client_framing,
                                client_keep_alive,
                                backend_keep_alive: head.backend_keep_alive,
                            }
                        }
                    };
                    return Ok(Some(rest));
                }
            }
        }
    }

    fn consume_body(
        &mut self,
        data: &[u8],
        sink: &mut Vec<u8>,
    ) -> Result<Option<Finish>, BadResponse> {
        let mut position = 0;
        loop {
            let input = data.get(position..).unwrap_or_default();
            match &mut self.response {
                ResponseState::Head(_) => return Ok(None),
                ResponseState::Relay {
                    left,
                    client_framing,
                    client_keep_alive,
                    backend_keep_alive,
                } => {
                    let (consumed, range, done) = left.take(input)?;
                    let payload = input.get(range).unwrap_or_default();
                    if *client_framing == ClientFraming::Chunked {
                        encode_chunk(payload, sink);
                    } else {
                        sink.extend_from_slice(payload);
                    }
                    position += consumed;
                    if done {
                        if *client_framing == ClientFraming::Chunked {
                            sink.extend_from_slice(LAST_CHUNK);
                        }
                        return Ok(Some(Finish::Relayed {
                            keep_backend: *backend_keep_alive && position >= data.len(),
                            client_keep_alive: *client_keep_alive,
                        }));
                    }
                    if consumed == 0 || position >= data.len() {
                        return Ok(None);
                    }
                }
                ResponseState::Drain {
                    left,
                    park,
                    backend_keep_alive,
                } => {
                    let (consumed, _, done) = left.take(input)?;
                    position += consumed;
                    if done {
                        return Ok(Some(Finish::Park {
                            park: park.clone(),
                            keep_backend: *backend_keep_alive && position >= data.len(),
                        }));
                    }
                    if consumed == 0 || position >= data.len() {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::{BodyCollector, MEMORY_BODY_LIMIT};
    use crate::http::conn::ResumeReason;

    fn request(body: Body, client_minor_version: u8, keep_alive: bool) -> Box<ForwardRequest> {
        Box::new(ForwardRequest {
            head: b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n".to_vec(),
            body,
            is_head_method: false,
            client_minor_version,
            client_keep_alive: keep_alive,
            resume: None,
        })
    }

    fn client() -> ConnRef {
        ConnRef { slot: 3, serial: 9 }
    }

    /// A writer that takes at most `budget` bytes per call and then blocks once.
    struct Trickle {
        written: Vec<u8>,
        budget: usize,
        block_next: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.block_next {
                self.block_next = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.block_next = true;
            let n = buf.len().min(self.budget);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_head_resume_marker_and_body_across_would_block() {
        let mut req = request(Body::Memory(b"hello".to_vec()), 1, true);
        req.resume = Some(ResumeReason::Notify);
        let mut exchange = Exchange::new(client(), req);
        let mut out = Trickle {
            written: Vec::new(),
            budget: 7,
            block_next: false,
        };
        let mut rounds = 0;
        while !exchange.request_sent() {
            exchange.write_request(&mut out).unwrap();
            rounds += 1;
            assert!(rounds < 100);
        }
        assert_eq!(
            String::from_utf8(out.written).unwrap(),
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Easd-Resume: notify\r\n\r\nhello"
        );
    }

    /// Takes up to `budget` bytes per call from all the buffers it is given, as a socket's
    /// writev does, and counts the calls.
    struct Gather {
        written: Vec<u8>,
        budget: usize,
        calls: usize,
    }

    impl Write for Gather {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            let mut taken = 0;
            for buf in bufs {
                let n = buf.len().min(self.budget - taken);
                self.written.extend_from_slice(&buf[..n]);
                taken += n;
            }
            Ok(taken)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_body_in_memory_goes_with_the_head_in_one_write_or_resumes_where_it_stopped() {
        let expected = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let mut exchange =
            Exchange::new(client(), request(Body::Memory(b"hello".to_vec()), 1, true));
        let mut whole = Gather {
            written: Vec::new(),
            budget: usize::MAX,
            calls: 0,
        };
        exchange.write_request(&mut whole).unwrap();
        assert!(exchange.request_sent());
        assert_eq!(whole.calls, 1);
        assert_eq!(String::from_utf8(whole.written).unwrap(), expected);

        // A write that stops inside the body: the rest follows from where it stopped.
        let mut exchange =
            Exchange::new(client(), request(Body::Memory(b"hello".to_vec()), 1, true));
        let mut split = Gather {
            written: Vec::new(),
            budget: expected.len() - 3,
            calls: 0,
        };
        exchange.write_request(&mut split).unwrap();
        assert!(exchange.request_sent());
        assert_eq!(split.calls, 2);
        assert_eq!(String::from_utf8(split.written).unwrap(), expected);
    }

    #[test]
    fn a_backend_socket_found_empty_is_not_read_again_until_the_mark_is_cleared() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let mut drained = false;
        let mut buffer = [0u8; 16];
        let empty = read_unless_drained(&mut ours, &mut drained, &mut buffer);
        assert_eq!(empty.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert!(drained);
        // Data arriving now is left for the poll to report: no read while marked.
        theirs.write_all(b"HTTP/1.1").unwrap();
        let skipped = read_unless_drained(&mut ours, &mut drained, &mut buffer);
        assert_eq!(skipped.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        // A readable event clears the mark; the data is all there.
        drained = false;
        let n = read_unless_drained(&mut ours, &mut drained, &mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"HTTP/1.1");
        assert!(!drained);
    }

    #[test]
    fn spooled_bodies_are_streamed_from_disk() {
        let dir = std::env::temp_dir().join(format!("easd-backend-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let payload: Vec<u8> = (0..MEMORY_BODY_LIMIT * 2)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut collector = BodyCollector::new();
        collector.push(&payload, &dir).unwrap();
        let mut exchange = Exchange::new(client(), request(collector.finish(), 1, true));
        let mut out = Vec::new();
        exchange.write_request(&mut out).unwrap();
        assert!(exchange.request_sent());
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&out[split..], &payload[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relays_a_content_length_response_arriving_in_pieces() {
        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Easd-Note: x\r\n\r\n0123456789";
        let mut outcome = None;
        for piece in raw.chunks(6) {
            assert!(outcome.is_none());
            outcome = exchange.on_response_bytes(piece, &mut sink).unwrap();
        }
        assert_eq!(
            outcome,
            Some(Finish::Relayed {
                keep_backend: true,
                client_keep_alive: true
            })
        );
        assert_eq!(
            String::from_utf8(sink).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
        );
    }

    #[test]
    fn chunked_responses_stay_chunked_for_http11_and_are_unframed_for_http10() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";

        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        let outcome = exchange.on_response_bytes(raw, &mut sink).unwrap();
        assert!(matches!(
            outcome,
            Some(Finish::Relayed {
                client_keep_alive: true,
                ..
            })
        ));
        let text = String::from_utf8(sink).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Transfer-Encoding: chunked"));
        let mut decoder = ChunkedDecoder::new(u64::MAX);
        let mut decoded = Vec::new();
        let mut rest = body.as_bytes();
        while !decoder.is_done() {
            let step = decoder.step(rest).unwrap();
            decoded.extend_from_slice(&rest[step.data.clone()]);
            rest = &rest[step.consumed..];
        }
        assert_eq!(decoded, b"Wikipedia");

        let mut exchange = Exchange::new(client(), request(Body::Empty, 0, true));
        let mut sink = Vec::new();
        let outcome = exchange.on_response_bytes(raw, &mut sink).unwrap();
        assert_eq!(
            outcome,
            Some(Finish::Relayed {
                keep_backend: true,
                client_keep_alive: false
            })
        );
        let text = String::from_utf8(sink).unwrap();
        assert!(
            text.ends_with("Connection: close\r\n\r\nWikipedia"),
            "{text}"
        );
    }

    #[test]
    fn park_responses_are_swallowed() {
        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        let raw = b"HTTP/1.1 200 OK\r\nX-Easd-Park: 30\r\nX-Easd-Park-Key: u@x\r\n\
                    X-Easd-Park-Device: u@x/d\r\nContent-Length: 2\r\n\r\nok";
        let outcome = exchange.on_response_bytes(raw, &mut sink).unwrap();
        assert!(sink.is_empty());
        match outcome {
            Some(Finish::Park { park, keep_backend }) => {
                assert!(keep_backend);
                assert_eq!((park.seconds, park.key.as_str()), (30, "u@x"));
            }
            other => panic!("expected a park, got {other:?}"),
        }
        // The request comes back intact, ready to be re-sent when the park ends.
        assert_eq!(
            exchange.into_request().head,
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n".to_vec()
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let outcome = exchange.on_response_bytes(raw, &mut sink).unwrap();
        assert!(matches!(outcome, Some(Finish::Relayed { .. })));
        assert_eq!(sink, b"HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn backend_eof_ends_close_delimited_bodies_and_fails_others() {
        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        assert!(exchange.on_backend_eof().is_err(), "no response at all");
        let raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome bytes";
        assert_eq!(exchange.on_response_bytes(raw, &mut sink).unwrap(), None);
        assert!(exchange.response_started());
        assert_eq!(
            exchange.on_backend_eof(),
            Ok(Finish::Relayed {
                keep_backend: false,
                client_keep_alive: false
            })
        );
        assert!(String::from_utf8(sink)
            .unwrap()
            .ends_with("Connection: close\r\n\r\nsome bytes"));

        let mut exchange = Exchange::new(client(), request(Body::Empty, 1, true));
        let mut sink = Vec::new();
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntruncated";
        assert_eq!(exchange.on_response_bytes(raw, &mut sink).unwrap(), None);
        assert!(exchange.on_backend_eof().is_err());
    }
}
