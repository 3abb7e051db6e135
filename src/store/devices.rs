//! Devices: which phones and tablets each user syncs with, and when they
//! were first and last seen.
//!
//! Every request records its device, so the common path must not write:
//! on flash storage (routers) a write per request would wear the medium and
//! cost an fsync. [`Store::record_device`] therefore reads first and writes
//! only when something besides a small `last_seen` step changed.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{clip, Provisioning, Store, StoreError, User, UserId};

/// A device of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Row id; keys the device's sync states.
    pub id: i64,
    pub user_id: UserId,
    /// The client's DeviceId.
    pub device_id: String,
    pub device_type: String,
    pub user_agent: String,
    /// The EAS protocol version of the device's latest request.
    pub protocol_version: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// What one request tells about its device.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSeen<'a> {
    pub device_id: &'a str,
    pub device_type: &'a str,
    pub user_agent: &'a str,
    pub protocol_version: &'a str,
    /// The request time, Unix seconds.
    pub now: i64,
}

/// `last_seen` moves by less than this without a write.
const LAST_SEEN_RESOLUTION_SECS: u64 = 60;
const MAX_DEVICE_ID_CHARS: usize = 128;
const MAX_DEVICE_TYPE_CHARS: usize = 64;
const MAX_USER_AGENT_CHARS: usize = 256;
const MAX_PROTOCOL_VERSION_CHARS: usize = 16;

const DEVICE_COLUMNS: &str = "d.id, d.user_id, d.device_id, d.device_type, d.user_agent, \
     d.protocol_version, d.first_seen, d.last_seen";

/// How many columns [`DEVICE_COLUMNS`] names.
const DEVICE_COLUMN_COUNT: usize = 8;

/// [`Store::device_with_provisioning`]'s statement: [`DEVICE_COLUMNS`], then
/// `provisioning::PROVISIONING_COLUMNS`.
const DEVICE_WITH_PROVISIONING: &str = "SELECT d.id, d.user_id, d.device_id, d.device_type, \
     d.user_agent, d.protocol_version, d.first_seen, d.last_seen, \
     d.policy_key, d.policy_hash, d.policy_status, d.provisioned_at, d.pending_policy_key, \
     d.pending_policy_hash, d.keyless_asked, d.policy_notice, d.wipe_status, \
     d.wipe_account_only \
     FROM devices d WHERE d.user_id = ?1 AND d.device_id = ?2";

/// The same columns unqualified: RETURNING cannot name the table alias.
const RETURNED_COLUMNS: &str =
    "id, user_id, device_id, device_type, user_agent, protocol_version, first_seen, last_seen";

fn device_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<Device> {
    Ok(Device {
        id: row.get(offset)?,
        user_id: row.get(offset + 1)?,
        device_id: row.get(offset + 2)?,
        device_type: row.get(offset + 3)?,
        user_agent: row.get(offset + 4)?,
        protocol_version: row.get(offset + 5)?,
        first_seen: row.get(offset + 6)?,
        last_seen: row.get(offset + 7)?,
    })
}

fn device_by_client_id(
    conn: &Connection,
    user: UserId,
    device_id: &str,
) -> Result<Option<Device>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.user_id = ?1 AND d.device_id = ?2"
        ))?
        .query_row(params![user, device_id], |row| device_from_row(row, 0))
        .optional()?)
}

fn check_device_id(device_id: &str) -> Result<(), StoreError> {
    if device_id.is_empty() {
        return Err(StoreError::Invalid("the device id is empty".into()));
    }
    super::check_text_field("the device id", device_id, MAX_DEVICE_ID_CHARS)
}

/// Drops control characters (they have no place in these informational
/// fields and would garble logs) and bounds the length.
fn tidy(text: &str, max_chars: usize) -> String {
    let printable: String = text.chars().filter(|c| !c.is_control()).collect();
    clip(&printable, max_chars).to_string()
}

impl Store {
    /// Records that `user` made a request from a device: creates the device
    /// on first sight, otherwise updates what changed. Empty informational
    /// fields (type, user agent, protocol version) keep the stored value.
    ///
    /// Nothing is written when only `last_seen` would move, by less than
    /// 60 seconds; the stored device is returned as it is.
    pub fn record_device(&self, user: UserId, seen: &DeviceSeen) -> Result<Device, StoreError> {
        if let Some(known) = self.device_as_recorded(user, seen)? {
            return Ok(known);
        }
        let device_type = tidy(seen.device_type, MAX_DEVICE_TYPE_CHARS);
        let user_agent = tidy(seen.user_agent, MAX_USER_AGENT_CHARS);
        let protocol_version = tidy(seen.protocol_version, MAX_PROTOCOL_VERSION_CHARS);
        // One statement, so one transaction; the CASEs keep stored values
        // when the request did not say.
        let sql = format!(
            "INSERT INTO devices AS d
                 (user_id, device_id, device_type, user_agent, protocol_version, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT (user_id, device_id) DO UPDATE SET
                 device_type = CASE WHEN excluded.device_type = '' THEN d.device_type ELSE excluded.device_type END,
                 user_agent = CASE WHEN excluded.user_agent = '' THEN d.user_agent ELSE excluded.user_agent END,
                 protocol_version = CASE WHEN excluded.protocol_version = '' THEN d.protocol_version
                                         ELSE excluded.protocol_version END,
                 last_seen = excluded.last_seen
             RETURNING {RETURNED_COLUMNS}"
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(
                params![
                    user,
                    seen.device_id,
                    device_type,
                    user_agent,
                    protocol_version,
                    seen.now
                ],
                |row| device_from_row(row, 0),
            )
            .map_err(|e| {
                if e.sqlite_error().map(|s| s.extended_code)
                    == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
                {
                    StoreError::NotFound(format!("user {user}"))
                } else {
                    StoreError::Sqlite(e)
                }
            })
    }

    /// The read-only half of [`Store::record_device`]: the stored device when recording
    /// this contact would write nothing (only `last_seen` would move, by less than 60
    /// seconds), `None` when [`Store::record_device`] has something to write. Reads only, so
    /// it can share a request's [`Store::read_snapshot`].
    pub fn device_as_recorded(
        &self,
        user: UserId,
        seen: &DeviceSeen,
    ) -> Result<Option<Device>, StoreError> {
        check_device_id(seen.device_id)?;
        let known = device_by_client_id(&self.conn, user, seen.device_id)?;
        self.as_recorded(known, seen)
    }

    /// [`Store::device_as_recorded`] for a device already read (`None`: unknown).
    pub fn as_recorded(
        &self,
        known: Option<Device>,
        seen: &DeviceSeen,
    ) -> Result<Option<Device>, StoreError> {
        check_device_id(seen.device_id)?;
        let Some(known) = known else {
            return Ok(None);
        };
        let unchanged = |new: &str, old: &str, max_chars| {
            let new = tidy(new, max_chars);
            new.is_empty() || new == old
        };
        let current = unchanged(seen.device_type, &known.device_type, MAX_DEVICE_TYPE_CHARS)
            && unchanged(seen.user_agent, &known.user_agent, MAX_USER_AGENT_CHARS)
            && unchanged(
                seen.protocol_version,
                &known.protocol_version,
                MAX_PROTOCOL_VERSION_CHARS,
            )
            && seen.now.abs_diff(known.last_seen) < LAST_SEEN_RESOLUTION_SECS;
        Ok(current.then_some(known))
    }

    /// The user's device with this client DeviceId and its provisioning state, read in one
    /// statement (the request loop needs both for the policy gate).
    pub fn device_with_provisioning(
        &self,
        user: UserId,
        device_id: &str,
    ) -> Result<Option<(Device, Provisioning)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(DEVICE_WITH_PROVISIONING)?
            .query_row(params![user, device_id], |row| {
                Ok((
                    device_from_row(row, 0)?,
                    super::provisioning::provisioning_from_row(row, DEVICE_COLUMN_COUNT)?,
                ))
            })
            .optional()?)
    }

    /// The user's device with this client DeviceId.
    pub fn device(&self, user: UserId, device_id: &str) -> Result<Option<Device>, StoreError> {
        device_by_client_id(&self.conn, user, device_id)
    }

    /// The user's devices, ordered by DeviceId.
    pub fn devices_of(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.user_id = ?1 ORDER BY d.device_id"
        ))?;
        let devices = statement
            .query_map([user], |row| device_from_row(row, 0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(devices)
    }

    /// Every device with its owner, ordered by e-mail address and DeviceId.
    pub fn all_devices(&self) -> Result<Vec<(User, Device)>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT u.id, u.email, u.display_name, dom.name, u.password_hash, u.created, {DEVICE_COLUMNS}
             FROM devices d
             JOIN users u ON u.id = d.user_id
             JOIN domains dom ON dom.id = u.domain_id
             ORDER BY u.email, d.device_id"
        ))?;
        let pairs = statement
            .query_map([], |row| {
                let user = User {
                    id: row.get(0)?,
                    email: row.get(1)?,
                    display_name: row.get(2)?,
                    domain: row.get(3)?,
                    password_hash: row.get(4)?,
                    created: row.get(5)?,
                };
                Ok((user, device_from_row(row, 6)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pairs)
    }

    /// Forgets a device and, by cascade, all its sync states.
    pub fn delete_device(&self, user: UserId, device_id: &str) -> Result<(), StoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2",
            params![user, device_id],
        )?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("device {device_id}")));
        }
        Ok(())
    }

    /// Forgets every device of every user (the database reset of `easd device reset-all`);
    /// returns how many there were.
    pub fn delete_all_devices(&self) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM devices", [])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(
        device_id: &'a str,
        user_agent: &'a str,
        protocol_version: &'a str,
        now: i64,
    ) -> DeviceSeen<'a> {
        DeviceSeen {
            device_id,
            device_type: "iPhone",
            user_agent,
            protocol_version,
            now,
        }
    }

    fn setup() -> (Store, User) {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("kim@example.com", "Kim", "pw").unwrap();
        (store, user)
    }

    #[test]
    fn device_with_provisioning_reads_what_the_two_reads_do() {
        let (store, user) = setup();
        assert_eq!(store.device_with_provisioning(user.id, "D1").unwrap(), None);
        let device = store
            .record_device(user.id, &seen("D1", "ua", "14.1", 100))
            .unwrap();
        store.issue_temporary_policy_key(device.id, 7, "h").unwrap();
        store.note_keyless_request(device.id).unwrap();
        let (read, provisioning) = store
            .device_with_provisioning(user.id, "D1")
            .unwrap()
            .unwrap();
        assert_eq!(Some(read), store.device(user.id, "D1").unwrap());
        assert_eq!(provisioning, store.provisioning(device.id).unwrap());
        assert_eq!(provisioning.pending_key, Some(7));
        assert!(provisioning.keyless_asked);
    }

    #[test]
    fn first_sight_creates_the_device() {
        let (store, user) = setup();
        let device = store
            .record_device(user.id, &seen("ABC123", "Apple-iPhone/2001", "16.1", 1000))
            .unwrap();
        assert_eq!(device.user_id, user.id);
        assert_eq!(device.device_id, "ABC123");
        assert_eq!(device.device_type, "iPhone");
        assert_eq!(device.user_agent, "Apple-iPhone/2001");
        assert_eq!(device.protocol_version, "16.1");
        assert_eq!((device.first_seen, device.last_seen), (1000, 1000));
        assert_eq!(
            store.devices_of(user.id).unwrap(),
            std::slice::from_ref(&device)
        );
        assert_eq!(store.device(user.id, "ABC123").unwrap(), Some(device));
    }

    #[test]
    fn unchanged_device_within_a_minute_does_not_write() {
        let (store, user) = setup();
        let first = store
            .record_device(user.id, &seen("ABC123", "ua/1", "16.1", 1000))
            .unwrap();
        let writes = store.connection().total_changes();
        let again = store
            .record_device(user.id, &seen("ABC123", "ua/1", "16.1", 1059))
            .unwrap();
        assert_eq!(again, first);
        // Empty fields mean "not told", not a change.
        let quiet = store
            .record_device(user.id, &seen("ABC123", "", "", 1030))
            .unwrap();
        assert_eq!(quiet, first);
        assert_eq!(store.connection().total_changes(), writes);

        // A minute later last_seen moves; first_seen stays.
        let later = store
            .record_device(user.id, &seen("ABC123", "ua/1", "16.1", 1060))
            .unwrap();
        assert_eq!((later.first_seen, later.last_seen), (1000, 1060));
        assert_eq!(store.connection().total_changes(), writes + 1);
    }

    #[test]
    fn the_read_only_check_tells_when_recording_would_write() {
        let (store, user) = setup();
        // Unknown: recording creates it.
        let contact = seen("ABC123", "ua/1", "16.1", 1000);
        assert_eq!(store.device_as_recorded(user.id, &contact).unwrap(), None);
        let first = store.record_device(user.id, &contact).unwrap();
        let writes = store.connection().total_changes();
        // Unchanged within the minute, or only control characters where a value was (they
        // are dropped, leaving "not told"): nothing to write.
        for quiet in [
            seen("ABC123", "ua/1", "16.1", 1059),
            seen("ABC123", "\u{7}", "", 1001),
        ] {
            assert_eq!(
                store.device_as_recorded(user.id, &quiet).unwrap().as_ref(),
                Some(&first)
            );
        }
        // A new agent, a new version, or a minute later: record_device must write.
        for changed in [
            seen("ABC123", "ua/2", "16.1", 1001),
            seen("ABC123", "ua/1", "14.1", 1001),
            seen("ABC123", "ua/1", "16.1", 1060),
        ] {
            assert_eq!(store.device_as_recorded(user.id, &changed).unwrap(), None);
        }
        assert_eq!(store.connection().total_changes(), writes);
        assert!(store
            .device_as_recorded(user.id, &seen("", "ua/1", "16.1", 1001))
            .is_err());
    }

    #[test]
    fn changed_fields_are_written_at_once_and_empty_ones_keep_old_values() {
        let (store, user) = setup();
        store
            .record_device(user.id, &seen("ABC123", "ua/1", "14.1", 1000))
            .unwrap();
        let upgraded = store
            .record_device(user.id, &seen("ABC123", "ua/2", "16.1", 1001))
            .unwrap();
        assert_eq!(upgraded.user_agent, "ua/2");
        assert_eq!(upgraded.protocol_version, "16.1");
        assert_eq!((upgraded.first_seen, upgraded.last_seen), (1000, 1001));
        let partial = store
            .record_device(
                user.id,
                &DeviceSeen {
                    device_id: "ABC123",
                    device_type: "",
                    user_agent: "ua/3",
                    protocol_version: "",
                    now: 1002,
                },
            )
            .unwrap();
        assert_eq!(partial.device_type, "iPhone");
        assert_eq!(partial.user_agent, "ua/3");
        assert_eq!(partial.protocol_version, "16.1");
        assert_eq!(store.devices_of(user.id).unwrap().len(), 1);
    }

    #[test]
    fn bad_device_ids_and_unknown_users_are_errors() {
        let (store, user) = setup();
        assert!(matches!(
            store.record_device(user.id, &seen("", "ua", "16.1", 1)),
            Err(StoreError::Invalid(_))
        ));
        let long = "x".repeat(129);
        assert!(matches!(
            store.record_device(user.id, &seen(&long, "ua", "16.1", 1)),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.record_device(user.id + 100, &seen("D", "ua", "16.1", 1)),
            Err(StoreError::NotFound(_))
        ));
        // Over-long informational fields are clipped, control characters dropped.
        let agent = format!("bad\r\nagent{}", "y".repeat(400));
        let device = store
            .record_device(user.id, &seen("D", &agent, "16.1", 1))
            .unwrap();
        assert!(device.user_agent.starts_with("badagent"));
        assert_eq!(device.user_agent.chars().count(), MAX_USER_AGENT_CHARS);
    }

    #[test]
    fn devices_are_per_user_and_listed_with_owners() {
        let (store, kim) = setup();
        let lee = store.add_user("lee@example.com", "Lee", "pw").unwrap();
        let kim_phone = store
            .record_device(kim.id, &seen("SAME", "ua", "16.1", 1))
            .unwrap();
        let lee_phone = store
            .record_device(lee.id, &seen("SAME", "ua", "16.1", 1))
            .unwrap();
        store
            .record_device(kim.id, &seen("A-TABLET", "ua", "16.1", 1))
            .unwrap();
        assert_ne!(kim_phone.id, lee_phone.id);
        let listing: Vec<(String, String)> = store
            .all_devices()
            .unwrap()
            .into_iter()
            .map(|(user, device)| (user.email, device.device_id))
            .collect();
        assert_eq!(
            listing,
            [
                ("kim@example.com".to_string(), "A-TABLET".to_string()),
                ("kim@example.com".to_string(), "SAME".to_string()),
                ("lee@example.com".to_string(), "SAME".to_string()),
            ]
        );
    }

    #[test]
    fn deleting_a_device_forgets_its_sync_state() {
        let (store, user) = setup();
        let device = store
            .record_device(user.id, &seen("D1", "ua", "16.1", 1))
            .unwrap();
        store
            .advance_sync_key(device.id, "", None, 3, b"state")
            .unwrap();
        store.delete_device(user.id, "D1").unwrap();
        assert!(store.devices_of(user.id).unwrap().is_empty());
        let states: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM sync_states", [], |row| row.get(0))
            .unwrap();
        assert_eq!(states, 0);
        assert!(matches!(
            store.delete_device(user.id, "D1"),
            Err(StoreError::NotFound(_))
        ));
    }
}
