//! Book-keeping for parked requests (DirectPush Ping and hanging Sync): which client
//! connections wait for which user (wake-ups) and for which device (superseding parks).
//! The parked requests themselves live in their connections; this index only maps keys
//! to connection references.

use std::collections::HashMap;

/// A client connection: slab slot plus the serial that tells reused slots apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConnRef {
    pub(crate) slot: usize,
    pub(crate) serial: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ParkIndex {
    by_key: HashMap<String, Vec<ConnRef>>,
    /// Device → (connection, the key it is listed under).
    by_device: HashMap<String, (ConnRef, String)>,
    count: usize,
}

impl ParkIndex {
    pub(crate) fn new() -> Self {
        ParkIndex::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Records a parked connection. Returns the connection previously parked for the
    /// same device, which the caller must resume as superseded (it is no longer indexed).
    pub(crate) fn insert(&mut self, conn: ConnRef, key: &str, device: &str) -> Option<ConnRef> {
        let previous = self
            .by_device
            .insert(device.to_string(), (conn, key.to_string()));
        if let Some((old, old_key)) = &previous {
            self.remove_from_key(*old, old_key);
        }
        self.by_key.entry(key.to_string()).or_default().push(conn);
        self.count += 1;
        previous.map(|(old, _)| old)
    }

    /// Forgets a parked connection (resumed or closed).
    pub(crate) fn remove(&mut self, conn: ConnRef, key: &str, device: &str) {
        if self.by_device.get(device).is_some_and(|(c, _)| *c == conn) {
            self.by_device.remove(device);
        }
        self.remove_from_key(conn, key);
    }

    pub(crate) fn contains_device(&self, device: &str) -> bool {
        self.by_device.contains_key(device)
    }

    /// The connections parked for `key`, in no particular order.
    pub(crate) fn connections_for_key(&self, key: &str) -> Vec<ConnRef> {
        self.by_key.get(key).cloned().unwrap_or_default()
    }

    /// Every parked connection.
    pub(crate) fn all(&self) -> Vec<ConnRef> {
        self.by_key.values().flatten().copied().collect()
    }

    fn remove_from_key(&mut self, conn: ConnRef, key: &str) {
        if let Some(list) = self.by_key.get_mut(key) {
            if let Some(position) = list.iter().position(|c| *c == conn) {
                list.swap_remove(position);
                self.count -= 1;
            }
            if list.is_empty() {
                self.by_key.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(slot: usize) -> ConnRef {
        ConnRef {
            slot,
            serial: slot as u64 * 10,
        }
    }

    #[test]
    fn wake_keys_collect_every_device_of_a_user() {
        let mut index = ParkIndex::new();
        assert_eq!(index.insert(conn(1), "alice", "alice/phone"), None);
        assert_eq!(index.insert(conn(2), "alice", "alice/tablet"), None);
        assert_eq!(index.insert(conn(3), "bob", "bob/phone"), None);
        assert_eq!(index.len(), 3);
        let mut alice = index.connections_for_key("alice");
        alice.sort_by_key(|c| c.slot);
        assert_eq!(alice, vec![conn(1), conn(2)]);
        assert!(index.connections_for_key("carol").is_empty());
        assert_eq!(index.all().len(), 3);
    }

    #[test]
    fn a_new_park_for_the_same_device_supersedes_the_old_one() {
        let mut index = ParkIndex::new();
        index.insert(conn(1), "alice", "alice/phone");
        assert_eq!(index.insert(conn(4), "alice", "alice/phone"), Some(conn(1)));
        assert_eq!(index.len(), 1);
        assert_eq!(index.connections_for_key("alice"), vec![conn(4)]);
        // Removing the superseded one later must not disturb the new one.
        index.remove(conn(1), "alice", "alice/phone");
        assert_eq!(index.len(), 1);
        assert_eq!(index.connections_for_key("alice"), vec![conn(4)]);
    }

    #[test]
    fn removal_cleans_up_both_maps() {
        let mut index = ParkIndex::new();
        index.insert(conn(1), "alice", "alice/phone");
        index.remove(conn(1), "alice", "alice/phone");
        assert_eq!(index.len(), 0);
        assert!(index.all().is_empty());
        assert_eq!(index.insert(conn(2), "alice", "alice/phone"), None);
    }
}
