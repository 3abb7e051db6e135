//! Deadlines of the event loop: a min-heap of `(instant, item)` entries whose earliest
//! entry becomes the `mio::Poll` timeout, so an idle process sleeps until something is due.
//!
//! Entries are never removed early; owners re-check their real deadline when an entry
//! fires (lazy cancellation), which keeps re-arming a timer O(log n) and allocation-free.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

struct Entry<T> {
    at: Instant,
    sequence: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.sequence == other.sequence
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // The sequence number keeps entries with equal instants in insertion order.
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

/// A min-heap of deadlines carrying an item each.
pub(crate) struct TimerHeap<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_sequence: u64,
}

impl<T> TimerHeap<T> {
    pub(crate) fn new() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            next_sequence: 0,
        }
    }

    /// Adds an entry due at `at`.
    pub(crate) fn schedule(&mut self, at: Instant, item: T) {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.heap.push(Reverse(Entry { at, sequence, item }));
    }

    /// The earliest pending instant, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| (entry.at, entry.item))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// Timers wake the loop on multiples of this, so deadlines that fall close together are
/// handled in one wake-up. 10,000 phones reconnecting within seconds leave 10,000 deadlines a
/// few hundred microseconds apart; waking for each cost 0.09 s of CPU. Deadlines here are
/// seconds to minutes long (heartbeats, timeouts), so being up to this late is harmless.
const TIMER_SLACK_MILLIS: u128 = 50;

/// The poll timeout that wakes the loop at `deadline`, never before it (epoll counts whole
/// milliseconds; waking early would spin), rounded up to [`TIMER_SLACK_MILLIS`].
pub(crate) fn poll_timeout(now: Instant, deadline: Option<Instant>) -> Option<Duration> {
    let deadline = deadline?;
    let wait = deadline.saturating_duration_since(now);
    let millis = wait
        .as_nanos()
        .div_ceil(1_000_000)
        .next_multiple_of(TIMER_SLACK_MILLIS);
    Some(Duration::from_millis(
        u64::try_from(millis).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_entries_in_deadline_order_only_when_due() {
        let start = Instant::now();
        let mut timers = TimerHeap::new();
        timers.schedule(start + Duration::from_secs(3), "c");
        timers.schedule(start + Duration::from_secs(1), "a");
        timers.schedule(start + Duration::from_secs(2), "b");
        assert_eq!(timers.len(), 3);
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_secs(1)));

        assert!(timers.pop_due(start).is_none());
        let now = start + Duration::from_secs(2);
        assert_eq!(timers.pop_due(now).map(|(_, item)| item), Some("a"));
        assert_eq!(timers.pop_due(now).map(|(_, item)| item), Some("b"));
        assert!(timers.pop_due(now).is_none());
        assert_eq!(timers.len(), 1);
        let later = start + Duration::from_secs(10);
        assert_eq!(timers.pop_due(later).map(|(_, item)| item), Some("c"));
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn equal_deadlines_keep_insertion_order() {
        let at = Instant::now();
        let mut timers = TimerHeap::new();
        for item in 0..5 {
            timers.schedule(at, item);
        }
        let order: Vec<i32> =
            std::iter::from_fn(|| timers.pop_due(at).map(|(_, item)| item)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn poll_timeout_rounds_up_to_the_slack_and_never_goes_negative() {
        let now = Instant::now();
        assert_eq!(poll_timeout(now, None), None);
        assert_eq!(
            poll_timeout(now, Some(now + Duration::from_micros(1))),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            poll_timeout(now, Some(now + Duration::from_millis(250))),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            poll_timeout(now, Some(now + Duration::from_millis(251))),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            poll_timeout(now + Duration::from_secs(1), Some(now)),
            Some(Duration::ZERO)
        );
    }
}
