//! Resource limits of the front door: connection counts, head and body sizes, the memory
//! answers may take while slow clients receive them, and the timeouts that keep slow or
//! idle clients from tying up memory and the backend.

use std::time::Duration;

/// Limits enforced by the front door on every client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open client connections (parked ones included) before new ones get `503`.
    pub max_connections: usize,
    /// Largest request head (request line plus headers) accepted; larger → `431`.
    pub max_head_bytes: usize,
    /// Largest request body accepted; larger → `413`.
    pub max_body_bytes: u64,
    /// Time allowed for the TLS handshake plus the complete request head, counted from
    /// the accept (first request) or from the first byte (later requests). Also the time
    /// a client may leave a response unread before the connection is dropped.
    pub head_timeout: Duration,
    /// Time allowed for the complete request body once the head has arrived.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may sit between requests.
    pub idle_timeout: Duration,
    /// Parked requests (DirectPush Ping / hanging Sync) held at once; more → `503`.
    pub max_parked: usize,
    /// Bytes of an answer one client has not taken yet that stay in memory (beyond a
    /// 64 KiB window); the rest waits in an unlinked file in the spool directory.
    pub answer_memory_per_connection: usize,
    /// The same for all connections together.
    pub answer_memory_total: usize,
    /// Bytes of answers all connections together may keep in spool files; past it an
    /// answer is taken from the request loop only as fast as its client reads it.
    pub answer_spool_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 32 * 1024 * 1024,
            head_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(120),
            max_parked: 10_000,
            answer_memory_per_connection: 1024 * 1024,
            answer_memory_total: 16 * 1024 * 1024,
            answer_spool_total: 256 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let limits = Limits::default();
        assert_eq!(limits.max_connections, 10_000);
        assert_eq!(limits.max_head_bytes, 16_384);
        assert_eq!(limits.max_body_bytes, 33_554_432);
        assert_eq!(limits.head_timeout, Duration::from_secs(30));
        assert_eq!(limits.body_timeout, Duration::from_secs(300));
        assert_eq!(limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(limits.max_parked, 10_000);
        assert_eq!(limits.answer_memory_per_connection, 1_048_576);
        assert_eq!(limits.answer_memory_total, 16_777_216);
        assert_eq!(limits.answer_spool_total, 268_435_456);
    }
}
