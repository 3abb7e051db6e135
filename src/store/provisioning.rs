//! Each device's provisioning state (policy keys, the policy it acknowledged, refusals it was
//! told about), its remote wipe state, and the DeviceInformation a 14.1+ Provision carries.
//! The policy gate and the Provision command read and write it; `easd device wipe` requests
//! and cancels wipes.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Device, FolderType, NewMessage, Store, StoreError, User, UserId};

/// The remote wipe state of a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WipeStatus {
    #[default]
    None,
    /// Requested; the device is told at its next request.
    Waiting,
    /// The device acknowledged the wipe.
    Wiped,
    /// The device cannot be wiped: it never provisions. It is refused every request.
    Unsupported,
}

impl WipeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WipeStatus::None => "none",
            WipeStatus::Waiting => "waiting",
            WipeStatus::Wiped => "wiped",
            WipeStatus::Unsupported => "unsupported",
        }
    }

    fn parse(text: &str) -> WipeStatus {
        match text {
            "waiting" => WipeStatus::Waiting,
            "wiped" => WipeStatus::Wiped,
            "unsupported" => WipeStatus::Unsupported,
            _ => WipeStatus::None,
        }
    }
}

/// What the server remembers about a device's provisioning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// The final key of the latest acknowledged policy.
    pub policy_key: Option<u32>,
    /// `EffectivePolicy::hash` of that policy.
    pub policy_hash: String,
    /// The acknowledgment's Status (1 applied, 2 partly, 3 not applied, 4 externally managed).
    pub policy_status: Option<u8>,
    pub provisioned_at: Option<i64>,
    /// The temporary key of phase one and the policy hash it was issued for.
    pub pending_key: Option<u32>,
    pub pending_hash: Option<String>,
    /// Told to provision once while sending no policy key at all.
    pub keyless_asked: bool,
    /// The last refusal mailed to the user (`non-provisionable`, `declined`), or empty.
    pub notice: String,
    pub wipe: WipeStatus,
    pub wipe_account_only: bool,
}

fn key_from_sql(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok())
}

/// A device's provisioning state from `policy_key, policy_hash, policy_status,
/// provisioned_at, pending_policy_key, pending_policy_hash, keyless_asked, policy_notice,
/// wipe_status, wipe_account_only`, starting at column `at`.
pub(super) fn provisioning_from_row(
    row: &rusqlite::Row,
    at: usize,
) -> rusqlite::Result<Provisioning> {
    Ok(Provisioning {
        policy_key: key_from_sql(row.get(at)?),
        policy_hash: row.get(at + 1)?,
        policy_status: row
            .get::<_, Option<i64>>(at + 2)?
            .and_then(|s| u8::try_from(s).ok()),
        provisioned_at: row.get(at + 3)?,
        pending_key: key_from_sql(row.get(at + 4)?),
        pending_hash: row.get(at + 5)?,
        keyless_asked: row.get::<_, i64>(at + 6)? != 0,
        notice: row.get(at + 7)?,
        wipe: WipeStatus::parse(&row.get::<_, String>(at + 8)?),
        wipe_account_only: row.get::<_, i64>(at + 9)? != 0,
    })
}

impl Store {
    /// The provisioning state of the device with row id `device`.
    pub fn provisioning(&self, device: i64) -> Result<Provisioning, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT policy_key, policy_hash, policy_status, provisioned_at, pending_policy_key,
                        pending_policy_hash, keyless_asked, policy_notice, wipe_status,
                        wipe_account_only
                 FROM devices WHERE id = ?1",
            )?
            .query_row([device], |row| provisioning_from_row(row, 0))
            .optional()?;
        found.ok_or_else(|| StoreError::NotFound(format!("device {device}")))
    }

    /// Phase one of Provision: remembers the temporary key and the policy it stands for.
    pub fn issue_temporary_policy_key(
        &self,
        device: i64,
        key: u32,
        hash: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET pending_policy_key = ?2, pending_policy_hash = ?3 WHERE id = ?1",
            params![device, i64::from(key), hash],
        )?;
        Ok(())
    }

    /// Phase two: the device acknowledged the policy `hash` with `status`; `key` becomes its
    /// final key. An applied policy (1) clears any refusal notice, so a later one is mailed.
    pub fn acknowledge_policy(
        &self,
        device: i64,
        key: u32,
        hash: &str,
        status: u8,
        now: i64,
    ) -> Result<(), StoreError> {
        acknowledge(&self.conn, device, key, hash, status, now)
    }

    /// Records that a device sending no policy key was told to provision.
    pub fn note_keyless_request(&self, device: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET keyless_asked = 1 WHERE id = ?1 AND keyless_asked = 0",
            [device],
        )?;
        Ok(())
    }

    /// Asks for a remote wipe of the user's device. A device that never provisioned cannot
    /// receive one: it becomes `Unsupported` (and is refused from then on). Returns the new
    /// status.
    pub fn request_wipe(
        &self,
        user: UserId,
        device_id: &str,
        account_only: bool,
    ) -> Result<WipeStatus, StoreError> {
        let tx = self.write_transaction()?;
        let found: Option<(i64, Option<i64>, i64)> = tx
            .query_row(
                "SELECT id, policy_key, keyless_asked FROM devices WHERE user_id = ?1 AND device_id = ?2",
                params![user, device_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((id, policy_key, keyless_asked)) = found else {
            return Err(StoreError::NotFound(format!("device {device_id}")));
        };
        // Known not to provision: it sent requests without any key after being told to.
        let status = if policy_key.is_none() && keyless_asked != 0 {
            WipeStatus::Unsupported
        } else {
            WipeStatus::Waiting
        };
        tx.execute(
            "UPDATE devices SET wipe_status = ?2, wipe_account_only = ?3, wipe_requested = ?4,
                 wipe_done = NULL WHERE id = ?1",
            params![id, status.as_str(), account_only, super::now()],
        )?;
        tx.commit()?;
        Ok(status)
    }

    /// Cancels a wipe that is still waiting; anything else is `Invalid`.
    pub fn cancel_wipe(&self, user: UserId, device_id: &str) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        let status: Option<String> = tx
            .query_row(
                "SELECT wipe_status FROM devices WHERE user_id = ?1 AND device_id = ?2",
                params![user, device_id],
                |row| row.get(0),
            )
            .optional()?;
        match status.as_deref().map(WipeStatus::parse) {
            None => return Err(StoreError::NotFound(format!("device {device_id}"))),
            Some(WipeStatus::Waiting) => {}
            Some(other) => {
                return Err(StoreError::Invalid(format!(
                    "the wipe can only be cancelled while it is waiting (status: {})",
                    other.as_str()
                )))
            }
        }
        tx.execute(
            "UPDATE devices SET wipe_status = 'none', wipe_account_only = 0, wipe_requested = NULL
             WHERE user_id = ?1 AND device_id = ?2",
            params![user, device_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a device that never provisions as unable to be wiped.
    pub fn mark_wipe_unsupported(&self, device: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET wipe_status = 'unsupported' WHERE id = ?1 AND wipe_status = 'waiting'",
            [device],
        )?;
        Ok(())
    }

    /// A wiped device came back (reconfigured): it starts over as a new device would.
    pub fn forget_wipe(&self, device: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET wipe_status = 'none', wipe_account_only = 0, wipe_requested = NULL,
                 wipe_done = NULL WHERE id = ?1 AND wipe_status = 'wiped'",
            [device],
        )?;
        Ok(())
    }

    /// Files `raw` into the user's Inbox and applies `update` in the same transaction (the
    /// device state that makes the notice go out once).
    pub fn file_notice(
        &self,
        user: UserId,
        raw: &[u8],
        update: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let inbox = self
            .folders_of(user)?
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .ok_or_else(|| StoreError::NotFound(format!("the Inbox of user {user}")))?;
        let message = NewMessage {
            received_at: Some(super::now()),
            ..NewMessage::new(raw)
        };
        let mut batch = self.mail_batch()?;
        batch.add(user, inbox.id, &message)?;
        update(batch.connection())?;
        batch.commit()
    }
}

/// Phase two's write (see [`Store::acknowledge_policy`]).
pub(crate) fn acknowledge(
    conn: &Connection,
    device: i64,
    key: u32,
    hash: &str,
    status: u8,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE devices SET policy_key = ?2, policy_hash = ?3, policy_status = ?4,
             provisioned_at = ?5, pending_policy_key = NULL, pending_policy_hash = NULL,
             keyless_asked = 0,
             policy_notice = CASE WHEN ?4 = 1 THEN '' ELSE policy_notice END
         WHERE id = ?1",
        params![device, i64::from(key), hash, i64::from(status), now],
    )?;
    Ok(())
}

/// Records that the user was mailed about `notice` for this device.
pub(crate) fn set_notice(conn: &Connection, device: i64, notice: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE devices SET policy_notice = ?2 WHERE id = ?1",
        params![device, notice],
    )?;
    Ok(())
}

/// The device acknowledged its wipe: it is marked wiped, its keys and sync state forgotten.
pub(crate) fn complete_wipe(conn: &Connection, device: i64, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE devices SET wipe_status = 'wiped', wipe_done = ?2, policy_key = NULL,
             policy_hash = '', policy_status = NULL, provisioned_at = NULL,
             pending_policy_key = NULL, pending_policy_hash = NULL
         WHERE id = ?1",
        params![device, now],
    )?;
    conn.execute("DELETE FROM sync_states WHERE device = ?1", [device])?;
    conn.execute("DELETE FROM sync_client_ids WHERE device = ?1", [device])?;
    conn.execute("DELETE FROM sync_held WHERE device = ?1", [device])?;
    Ok(())
}

/// The policy status and the remote-wipe status of a device, as `list` and `show` print them.
pub fn policy_and_wipe_status(
    store: &Store,
    owner: &User,
    device: &Device,
) -> Result<(String, String), StoreError> {
    let effective = store.effective_policy(owner, Some(&device.device_id))?;
    let state = store.provisioning(device.id)?;
    let policy = match state.policy_status {
        _ if state.notice == "non-provisionable" => "refused: does not provision",
        None if effective.is_neutral() => "not required",
        None if state.pending_key.is_some() => "pending acknowledgment",
        None => "not provisioned",
        Some(4) => "externally managed",
        Some(2) | Some(3) => "declined",
        Some(_) if state.policy_hash != effective.hash() => "outdated: provisions again",
        Some(_) if effective.is_neutral() => "neutral policy",
        Some(_) => "applied",
    };
    let wipe = match state.wipe {
        WipeStatus::None => "none",
        WipeStatus::Waiting if state.wipe_account_only => "Waiting (account only)",
        WipeStatus::Waiting => "Waiting",
        WipeStatus::Wiped => "Wiped",
        WipeStatus::Unsupported => "Unsupported",
    };
    Ok((policy.to_string(), wipe.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeviceSeen;

    #[test]
    fn keys_wipes_and_cancels() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("kim@example.com", "Kim", "pw").unwrap();
        let seen = DeviceSeen {
            device_id: "D1",
            device_type: "Phone",
            user_agent: "ua",
            protocol_version: "16.1",
            now: 1,
        };
        let device = store.record_device(user.id, &seen).unwrap();
        assert_eq!(
            store.provisioning(device.id).unwrap(),
            Provisioning::default()
        );
        store.issue_temporary_policy_key(device.id, 7, "h").unwrap();
        assert_eq!(store.provisioning(device.id).unwrap().pending_key, Some(7));
        store.acknowledge_policy(device.id, 9, "h", 1, 5).unwrap();
        let state = store.provisioning(device.id).unwrap();
        assert_eq!((state.policy_key, state.pending_key), (Some(9), None));
        assert_eq!(state.policy_hash, "h");

        assert!(matches!(
            store.cancel_wipe(user.id, "D1"),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            store.request_wipe(user.id, "D1", false).unwrap(),
            WipeStatus::Waiting
        );
        store.cancel_wipe(user.id, "D1").unwrap();
        assert_eq!(
            store.provisioning(device.id).unwrap().wipe,
            WipeStatus::None
        );
        assert!(matches!(
            store.request_wipe(user.id, "NOPE", false),
            Err(StoreError::NotFound(_))
        ));
    }
}
