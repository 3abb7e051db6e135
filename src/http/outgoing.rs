//! What the front door still has to send to one client. A small *window* is handed to the
//! socket (or rustls) directly; behind it a *backlog* holds the rest of an answer, so the
//! front door can take a whole answer from the request loop at the loop's speed and give it
//! to the phone at the phone's. The backlog stays in memory within a budget per connection
//! and in total ([`ResponseBudget`]); past that it goes to an already-unlinked file in the
//! spool directory, like large request bodies (`body.rs`), and is read back a window at a
//! time. Bytes always leave in the order they were queued. The spool files of all
//! connections together have a budget too; past it a queue [`accepts_more`] only while its
//! window has room, so the answer comes from the request loop at the client's pace again.
//!
//! [`accepts_more`]: Outgoing::accepts_more

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::body::create_spool_file;

/// Bytes kept ready for the socket; the backlog refills the window up to this.
pub(crate) const WINDOW: usize = 64 * 1024;
/// Already-sent window bytes are compacted away once they exceed this.
const COMPACT_AT: usize = 32 * 1024;

/// The memory all backlogs together may use, where they spill to beyond it, and how much
/// they may spill.
#[derive(Debug)]
pub(crate) struct ResponseBudget {
    spool_dir: PathBuf,
    per_connection: usize,
    total: usize,
    in_use: AtomicUsize,
    spool_total: u64,
    /// Bytes written to spool files still open (a file's space is freed when it closes).
    spooled: AtomicU64,
}

impl ResponseBudget {
    pub(crate) fn new(
        spool_dir: PathBuf,
        per_connection: usize,
        total: usize,
        spool_total: u64,
    ) -> Self {
        ResponseBudget {
            spool_dir,
            per_connection,
            total,
            in_use: AtomicUsize::new(0),
            spool_total,
            spooled: AtomicU64::new(0),
        }
    }

    /// Bytes in open spool files of all connections right now.
    #[cfg(test)]
    pub(crate) fn spooled(&self) -> u64 {
        self.spooled.load(Ordering::Relaxed)
    }

    fn spool_has_room(&self) -> bool {
        self.spooled.load(Ordering::Relaxed) < self.spool_total
    }

    fn add_spooled(&self, n: u64) {
        self.spooled.fetch_add(n, Ordering::Relaxed);
    }

    fn remove_spooled(&self, n: u64) {
        let used = self.spooled.load(Ordering::Relaxed);
        self.spooled
            .store(used.saturating_sub(n), Ordering::Relaxed);
    }

    /// Backlog bytes held in memory by all connections right now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Reserves `n` bytes if the total budget allows it.
    fn try_charge(&self, n: usize) -> bool {
        // Only the event loop's thread charges, so load-then-store cannot race.
        let used = self.in_use.load(Ordering::Relaxed);
        if used.saturating_add(n) > self.total {
            return false;
        }
        self.in_use.store(used + n, Ordering::Relaxed);
        true
    }

    fn release(&self, n: usize) {
        let used = self.in_use.load(Ordering::Relaxed);
        self.in_use.store(used.saturating_sub(n), Ordering::Relaxed);
    }
}

/// The part of the output beyond the window.
#[derive(Debug)]
enum Backlog {
    Empty,
    /// `bytes[taken..]` is waiting; exactly that many bytes are charged to the budget.
    Memory {
        bytes: Vec<u8>,
        taken: usize,
    },
    /// Bytes `read..written` of the unlinked file are waiting.
    File {
        file: File,
        written: u64,
        read: u64,
    },
}

/// The output queue of one client connection.
#[derive(Debug)]
pub(crate) struct Outgoing {
    window: Vec<u8>,
    /// `window[..sent]` has already been handed on.
    sent: usize,
    backlog: Backlog,
    budget: Arc<ResponseBudget>,
}

impl Outgoing {
    pub(crate) fn new(budget: Arc<ResponseBudget>) -> Self {
        Outgoing {
            window: Vec::new(),
            sent: 0,
            backlog: Backlog::Empty,
            budget,
        }
    }

    /// Bytes queued and not yet handed on, window and backlog together.
    pub(crate) fn pending(&self) -> u64 {
        (self.window.len() - self.sent) as u64 + self.backlog_len()
    }

    fn backlog_len(&self) -> u64 {
        match &self.backlog {
            Backlog::Empty => 0,
            Backlog::Memory { bytes, taken } => (bytes.len() - taken) as u64,
            Backlog::File { written, read, .. } => written - read,
        }
    }

    /// True while part of the backlog lives in a spool file.
    pub(crate) fn is_spooled(&self) -> bool {
        matches!(self.backlog, Backlog::File { .. })
    }

    /// Whether more of an answer should be taken in now: always while the spool budget has
    /// room, else only while the window does (the client sets the pace). One more read may
    /// still overshoot the spool budget by its size.
    pub(crate) fn accepts_more(&self) -> bool {
        self.budget.spool_has_room() || self.pending() < WINDOW as u64
    }

    /// The window bytes not yet handed on.
    pub(crate) fn unsent(&self) -> &[u8] {
        self.window.get(self.sent..).unwrap_or_default()
    }

    /// Marks `n` window bytes as handed on.
    pub(crate) fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.window.len());
        if self.sent == self.window.len() {
            self.window.clear();
            self.sent = 0;
        }
    }

    /// Queues `data` behind everything already queued: into the window while it has room
    /// and nothing waits behind it, then into the backlog (memory within the budget, else
    /// the spool file). An error means the bytes could not be kept; the answer is lost.
    pub(crate) fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        if matches!(self.backlog, Backlog::Empty) {
            self.compact();
            let room = WINDOW.saturating_sub(self.window.len() - self.sent);
            let (now, later) = data.split_at(room.min(data.len()));
            self.window.extend_from_slice(now);
            data = later;
        }
        if data.is_empty() {
            return Ok(());
        }
        let budget = Arc::clone(&self.budget);
        match &mut self.backlog {
            Backlog::Empty => {
                if data.len() <= budget.per_connection && budget.try_charge(data.len()) {
                    self.backlog = Backlog::Memory {
                        bytes: data.to_vec(),
                        taken: 0,
                    };
                    return Ok(());
                }
                self.spill(&[data])
            }
            Backlog::Memory { bytes, taken } => {
                let waiting = bytes.len() - *taken;
                if waiting + data.len() <= budget.per_connection && budget.try_charge(data.len()) {
                    if *taken >= COMPACT_AT && *taken * 2 >= bytes.len() {
                        bytes.drain(..*taken);
                        *taken = 0;
                    }
                    bytes.extend_from_slice(data);
                    return Ok(());
                }
                let held = std::mem::take(bytes);
                let start = *taken;
                let result = self.spill(&[held.get(start..).unwrap_or_default(), data]);
                budget.release(held.len() - start);
                if result.is_err() {
                    // Nothing is queued in a broken state: the memory part is gone too.
                    self.backlog = Backlog::Empty;
                }
                result
            }
            Backlog::File { file, written, .. } => {
                file.write_all_at(data, *written)?;
                *written += data.len() as u64;
                budget.add_spooled(data.len() as u64);
                Ok(())
            }
        }
    }

    /// Starts a spool file holding `parts` as the backlog.
    fn spill(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let file = create_spool_file(&self.budget.spool_dir, "answer")?;
        let mut written = 0u64;
        for part in parts {
            file.write_all_at(part, written)?;
            written += part.len() as u64;
        }
        self.budget.add_spooled(written);
        self.backlog = Backlog::File {
            file,
            written,
            read: 0,
        };
        Ok(())
    }

    /// Tops the window up from the backlog, at most to [`WINDOW`] unsent bytes; the spool
    /// file is closed (its space freed) as soon as it has been read to the end.
    pub(crate) fn refill(&mut self) -> io::Result<()> {
        let unsent = self.window.len() - self.sent;
        if unsent >= WINDOW || matches!(self.backlog, Backlog::Empty) {
            return Ok(());
        }
        self.compact();
        let room = WINDOW - unsent;
        let mut drained = false;
        match &mut self.backlog {
            Backlog::Empty => {}
            Backlog::Memory { bytes, taken } => {
                let n = room.min(bytes.len() - *taken);
                self.window
                    .extend_from_slice(bytes.get(*taken..*taken + n).unwrap_or_default());
                *taken += n;
                self.budget.release(n);
                drained = *taken >= bytes.len();
            }
            Backlog::File {
                file,
                written,
                read,
            } => {
                let n = usize::try_from(*written - *read).map_or(room, |left| left.min(room));
                let start = self.window.len();
                self.window.resize(start + n, 0);
                let mut filled = 0;
                while filled < n {
                    let got = file.read_at(&mut self.window[start + filled..], *read)?;
                    if got == 0 {
                        self.window.truncate(start + filled);
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the spooled answer is shorter than what was written",
                        ));
                    }
                    filled += got;
                    *read += got as u64;
                }
                drained = *read >= *written;
                if drained {
                    self.budget.remove_spooled(*written);
                }
            }
        }
        if drained {
            self.backlog = Backlog::Empty;
        }
        Ok(())
    }

    /// Drops already-sent bytes from the front of the window once they add up.
    fn compact(&mut self) {
        if self.sent >= COMPACT_AT {
            self.window.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// Gives the window's memory back while nothing is queued (idle or parked connection).
    pub(crate) fn release_memory(&mut self) {
        if self.pending() == 0 {
            self.window = Vec::new();
            self.sent = 0;
        }
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        match &self.backlog {
            Backlog::Empty => {}
            Backlog::Memory { bytes, taken } => self.budget.release(bytes.len() - taken),
            Backlog::File { written, .. } => self.budget.remove_spooled(*written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("easd-outgoing-test-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn budget(dir: &Dir, per_connection: usize, total: usize) -> Arc<ResponseBudget> {
        Arc::new(ResponseBudget::new(
            dir.0.clone(),
            per_connection,
            total,
            u64::MAX,
        ))
    }

    fn pattern(start: usize, len: usize) -> Vec<u8> {
        (start..start + len).map(|i| (i % 251) as u8).collect()
    }

    /// Hands everything on in pieces of `piece` bytes, as a socket would take it.
    fn drain(out: &mut Outgoing, piece: usize) -> Vec<u8> {
        let mut received = Vec::new();
        loop {
            out.refill().unwrap();
            let unsent = out.unsent();
            if unsent.is_empty() {
                assert_eq!(out.pending(), 0);
                return received;
            }
            let n = unsent.len().min(piece);
            received.extend_from_slice(&unsent[..n]);
            out.consume(n);
        }
    }

    #[test]
    fn small_answers_stay_in_the_window() {
        let dir = Dir::new("small");
        let shared = budget(&dir, 1024 * 1024, 4 * 1024 * 1024);
        let mut out = Outgoing::new(Arc::clone(&shared));
        out.push(b"HTTP/1.1 200 OK\r\n\r\nhello").unwrap();
        assert_eq!(out.unsent(), b"HTTP/1.1 200 OK\r\n\r\nhello");
        assert_eq!(shared.in_use(), 0);
        assert!(!out.is_spooled());
        out.consume(5);
        assert_eq!(out.pending(), 19);
    }

    #[test]
    fn answers_within_the_budget_wait_in_memory_and_arrive_in_order() {
        let dir = Dir::new("memory");
        let shared = budget(&dir, 1024 * 1024, 4 * 1024 * 1024);
        let mut out = Outgoing::new(Arc::clone(&shared));
        let whole = pattern(0, 900 * 1024);
        for piece in whole.chunks(10_000) {
            out.push(piece).unwrap();
        }
        assert!(!out.is_spooled());
        assert_eq!(shared.in_use(), whole.len() - WINDOW);
        assert_eq!(out.pending(), whole.len() as u64);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        assert!(drain(&mut out, 7_000) == whole);
        assert_eq!(shared.in_use(), 0, "the charge is released as bytes leave");
    }

    #[test]
    fn answers_past_the_connection_budget_spill_to_an_unlinked_file() {
        let dir = Dir::new("spill");
        let shared = budget(&dir, 256 * 1024, 4 * 1024 * 1024);
        let mut out = Outgoing::new(Arc::clone(&shared));
        let whole = pattern(0, 3 * 1024 * 1024 + 17);
        for piece in whole.chunks(65_536) {
            out.push(piece).unwrap();
        }
        assert!(out.is_spooled());
        assert_eq!(shared.in_use(), 0, "spooled bytes cost no memory budget");
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "unlinked");
        // Part of it leaves; more arrives behind the spooled part, still in order.
        let mut received = Vec::new();
        for _ in 0..10 {
            out.refill().unwrap();
            let n = out.unsent().len();
            received.extend_from_slice(out.unsent());
            out.consume(n);
        }
        let more = pattern(whole.len(), 1000);
        out.push(&more).unwrap();
        received.extend(drain(&mut out, 50_000));
        assert!(!out.is_spooled(), "the file is closed once read to the end");
        let mut expected = whole.clone();
        expected.extend_from_slice(&more);
        assert!(received == expected);

        // Once empty, the next answer uses memory again.
        out.push(&pattern(0, 100_000)).unwrap();
        assert!(!out.is_spooled());
        assert_eq!(shared.in_use(), 100_000 - WINDOW);
    }

    #[test]
    fn the_total_budget_is_shared_by_all_connections() {
        let dir = Dir::new("total");
        let shared = budget(&dir, 512 * 1024, 600 * 1024);
        let mut first = Outgoing::new(Arc::clone(&shared));
        let mut second = Outgoing::new(Arc::clone(&shared));
        first.push(&pattern(0, WINDOW + 400 * 1024)).unwrap();
        assert!(!first.is_spooled());
        second.push(&pattern(0, WINDOW + 400 * 1024)).unwrap();
        assert!(
            second.is_spooled(),
            "the total budget was used up by the first"
        );
        assert_eq!(shared.in_use(), 400 * 1024);
        drop(first);
        assert_eq!(
            shared.in_use(),
            0,
            "a dropped connection gives its charge back"
        );
        let mut third = Outgoing::new(Arc::clone(&shared));
        third.push(&pattern(0, WINDOW + 400 * 1024)).unwrap();
        assert!(!third.is_spooled());
        assert!(drain(&mut second, 65_536) == pattern(0, WINDOW + 400 * 1024));
    }

    #[test]
    fn a_missing_spool_directory_is_an_error_that_keeps_nothing_half_queued() {
        let dir = Dir::new("missing");
        let shared = Arc::new(ResponseBudget::new(
            dir.0.join("no/such/dir"),
            128 * 1024,
            1024 * 1024,
            u64::MAX,
        ));
        let mut out = Outgoing::new(Arc::clone(&shared));
        out.push(&pattern(0, WINDOW + 100 * 1024)).unwrap();
        assert!(out.push(&pattern(0, 100 * 1024)).is_err());
        assert_eq!(shared.in_use(), 0);
        assert_eq!(out.pending(), WINDOW as u64);
    }

    #[test]
    fn past_the_spool_budget_a_queue_takes_more_only_while_its_window_has_room() {
        let dir = Dir::new("spool-budget");
        let shared = Arc::new(ResponseBudget::new(
            dir.0.clone(),
            64 * 1024,
            1024 * 1024,
            1024 * 1024,
        ));
        let mut first = Outgoing::new(Arc::clone(&shared));
        let mut second = Outgoing::new(Arc::clone(&shared));
        let mut pushed = 0;
        while first.accepts_more() {
            first.push(&pattern(pushed, 65_536)).unwrap();
            pushed += 65_536;
        }
        assert!(first.is_spooled());
        let spooled = shared.spooled();
        assert!(
            (1024 * 1024..1024 * 1024 + 65_536).contains(&spooled),
            "{spooled}"
        );
        assert!(second.accepts_more(), "an empty window still takes bytes");
        second.push(&pattern(0, WINDOW)).unwrap();
        assert!(!second.accepts_more(), "a full window waits for its client");
        // Reading the first queue to the end closes its file and gives the budget back.
        assert!(drain(&mut first, 65_536) == pattern(0, pushed));
        assert_eq!(shared.spooled(), 0);
        assert!(first.accepts_more() && second.accepts_more());
        // A dropped queue gives its spool budget back too.
        let mut third = Outgoing::new(Arc::clone(&shared));
        third.push(&pattern(0, 2 * 1024 * 1024)).unwrap();
        assert!(shared.spooled() > 0);
        drop(third);
        assert_eq!(shared.spooled(), 0);
    }
}
