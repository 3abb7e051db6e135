//! Request bodies collected by the front door before forwarding: kept in memory up to
//! [`MEMORY_BODY_LIMIT`], beyond that spilled to an already-unlinked file in the spool
//! directory (so nothing is left behind on a crash) and later streamed from there.
//! The spool files of answers waiting for a slow client (`outgoing.rs`) are made here too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bodies up to this size stay in memory.
pub(crate) const MEMORY_BODY_LIMIT: usize = 256 * 1024;

/// A complete request body.
#[derive(Debug, Default)]
pub(crate) enum Body {
    #[default]
    Empty,
    Memory(Vec<u8>),
    Spooled {
        file: File,
        len: u64,
    },
}

impl Body {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Memory(bytes) => bytes.len() as u64,
            Body::Spooled { len, .. } => *len,
        }
    }

    /// Copies body bytes starting at `offset` into `buf`; returns how many were copied
    /// (0 only at the end). Positional reads leave the body re-readable for a resumed
    /// parked request.
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty => Ok(0),
            Body::Memory(bytes) => {
                let start = usize::try_from(offset).map_or(bytes.len(), |o| o.min(bytes.len()));
                let rest = &bytes[start..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
            Body::Spooled { file, len } => {
                if offset >= *len {
                    return Ok(0);
                }
                let want = usize::try_from(*len - offset).map_or(buf.len(), |r| r.min(buf.len()));
                let n = file.read_at(&mut buf[..want], offset)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "spooled request body is shorter than recorded",
                    ));
                }
                Ok(n)
            }
        }
    }
}

/// Accumulates a body as it arrives, spilling to disk past [`MEMORY_BODY_LIMIT`].
#[derive(Debug, Default)]
pub(crate) struct BodyCollector {
    body: Body,
}

impl BodyCollector {
    pub(crate) fn new() -> Self {
        BodyCollector::default()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.body.len()
    }

    pub(crate) fn push(&mut self, data: &[u8], spool_dir: &Path) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        match &mut self.body {
            Body::Empty => {
                if data.len() > MEMORY_BODY_LIMIT {
                    let mut file = create_spool_file(spool_dir, "body")?;
                    file.write_all(data)?;
                    self.body = Body::Spooled {
                        file,
                        len: data.len() as u64,
                    };
                } else {
                    self.body = Body::Memory(data.to_vec());
                }
            }
            Body::Memory(bytes) => {
                if bytes.len() + data.len() > MEMORY_BODY_LIMIT {
                    let mut file = create_spool_file(spool_dir, "body")?;
                    file.write_all(bytes)?;
                    file.write_all(data)?;
                    let len = (bytes.len() + data.len()) as u64;
                    self.body = Body::Spooled { file, len };
                } else {
                    bytes.extend_from_slice(data);
                }
            }
            Body::Spooled { file, len } => {
                file.write_all(data)?;
                *len += data.len() as u64;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Body {
        match self.body {
            Body::Memory(mut bytes) => {
                bytes.shrink_to_fit();
                Body::Memory(bytes)
            }
            other => other,
        }
    }
}

/// Creates a private file in `spool_dir` and unlinks it at once; the open handle keeps
/// the data reachable until it is dropped. `kind` only names the file while it is made.
pub(crate) fn create_spool_file(spool_dir: &Path, kind: &str) -> io::Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    loop {
        let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = spool_dir.join(format!(".easd-{kind}-{pid}-{serial}"));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("easd-body-test-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_all(body: &Body, piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = body.read_at(out.len() as u64, &mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let dir = temp_dir("small");
        let mut collector = BodyCollector::new();
        collector.push(b"hello ", &dir).unwrap();
        collector.push(b"world", &dir).unwrap();
        assert_eq!(collector.len(), 11);
        let body = collector.finish();
        assert!(matches!(body, Body::Memory(_)));
        assert_eq!(read_all(&body, 4), b"hello world");
        assert_eq!(body.read_at(100, &mut [0u8; 8]).unwrap(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn large_bodies_spill_to_an_unlinked_file_and_read_back_repeatedly() {
        let dir = temp_dir("large");
        let piece: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let mut collector = BodyCollector::new();
        for _ in 0..3 {
            collector.push(&piece, &dir).unwrap();
        }
        let body = collector.finish();
        assert!(matches!(body, Body::Spooled { .. }));
        assert_eq!(body.len(), 300_000);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "spool file must be unlinked"
        );
        let expected: Vec<u8> = piece.repeat(3);
        assert_eq!(read_all(&body, 65_536), expected);
        assert_eq!(read_all(&body, 7_000), expected);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_single_huge_push_goes_straight_to_disk() {
        let dir = temp_dir("huge");
        let mut collector = BodyCollector::new();
        collector
            .push(&vec![1u8; MEMORY_BODY_LIMIT + 1], &dir)
            .unwrap();
        let body = collector.finish();
        assert!(matches!(body, Body::Spooled { len, .. } if len == MEMORY_BODY_LIMIT as u64 + 1));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_spool_directory_is_an_error() {
        let mut collector = BodyCollector::new();
        let missing = std::env::temp_dir().join("easd-no-such-spool-dir/sub");
        assert!(collector
            .push(&vec![0u8; MEMORY_BODY_LIMIT + 1], &missing)
            .is_err());
    }
}
