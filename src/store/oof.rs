//! Out-of-office: each user's Oof settings (Settings Oof Get/Set) and the senders already
//! answered in the current period, so `easd deliver` replies once per sender. Every Oof Set
//! starts a new period (the answered senders are forgotten in the same transaction).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError, UserId};

/// OofState (MS-ASCMD 2.2.3.119).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OofState {
    Disabled = 0,
    Global = 1,
    TimeBased = 2,
}

impl OofState {
    pub fn from_code(code: i64) -> Option<OofState> {
        match code {
            0 => Some(OofState::Disabled),
            1 => Some(OofState::Global),
            2 => Some(OofState::TimeBased),
            _ => None,
        }
    }
}

/// Who a reply is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Senders of the user's own domain.
    Internal,
    /// External senders the user has written to.
    ExternalKnown,
    /// Every other external sender.
    ExternalUnknown,
}

/// The reply for one audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OofMessage {
    pub enabled: bool,
    pub reply: String,
    /// `Text` or `HTML`.
    pub body_type: String,
}

impl Default for OofMessage {
    fn default() -> Self {
        OofMessage {
            enabled: false,
            reply: String::new(),
            body_type: "Text".into(),
        }
    }
}

/// A user's out-of-office settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oof {
    pub state: OofState,
    /// Unix seconds; used with [`OofState::TimeBased`].
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub internal: OofMessage,
    pub external_known: OofMessage,
    pub external_unknown: OofMessage,
}

impl Default for Oof {
    fn default() -> Self {
        Oof {
            state: OofState::Disabled,
            start_time: None,
            end_time: None,
            internal: OofMessage::default(),
            external_known: OofMessage::default(),
            external_unknown: OofMessage::default(),
        }
    }
}

/// Longest stored reply text.
pub const MAX_REPLY_CHARS: usize = 32 * 1024;

impl Oof {
    /// Whether replies go out at `now`.
    pub fn active_at(&self, now: i64) -> bool {
        match self.state {
            OofState::Disabled => false,
            OofState::Global => true,
            OofState::TimeBased => {
                self.start_time.is_none_or(|start| start <= now)
                    && self.end_time.is_none_or(|end| now < end)
            }
        }
    }

    /// The message for an audience.
    pub fn message(&self, audience: Audience) -> &OofMessage {
        match audience {
            Audience::Internal => &self.internal,
            Audience::ExternalKnown => &self.external_known,
            Audience::ExternalUnknown => &self.external_unknown,
        }
    }
}

impl Store {
    /// The user's out-of-office settings (disabled when never set).
    pub fn oof(&self, user: UserId) -> Result<Oof, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT state, start_time, end_time,
                        internal_enabled, internal_reply, internal_body_type,
                        known_enabled, known_reply, known_body_type,
                        unknown_enabled, unknown_reply, unknown_body_type
                 FROM oof WHERE user_id = ?1",
            )?
            .query_row([user], |row| {
                let message = |at: usize| -> rusqlite::Result<OofMessage> {
                    Ok(OofMessage {
                        enabled: row.get::<_, i64>(at)? != 0,
                        reply: row.get(at + 1)?,
                        body_type: row.get(at + 2)?,
                    })
                };
                Ok(Oof {
                    state: OofState::from_code(row.get(0)?).unwrap_or(OofState::Disabled),
                    start_time: row.get(1)?,
                    end_time: row.get(2)?,
                    internal: message(3)?,
                    external_known: message(6)?,
                    external_unknown: message(9)?,
                })
            })
            .optional()?;
        Ok(found.unwrap_or_default())
    }

    /// Replaces the user's out-of-office settings and starts a new period: senders answered
    /// before will be answered again.
    pub fn set_oof(&self, user: UserId, oof: &Oof) -> Result<(), StoreError> {
        for message in [&oof.internal, &oof.external_known, &oof.external_unknown] {
            if message.reply.chars().count() > MAX_REPLY_CHARS {
                return Err(StoreError::Invalid(format!(
                    "the reply message is longer than {MAX_REPLY_CHARS} characters"
                )));
            }
        }
        let tx = self.write_transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO oof
                 (user_id, state, start_time, end_time,
                  internal_enabled, internal_reply, internal_body_type,
                  known_enabled, known_reply, known_body_type,
                  unknown_enabled, unknown_reply, unknown_body_type, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                user,
                oof.state as i64,
                oof.start_time,
                oof.end_time,
                oof.internal.enabled,
                oof.internal.reply,
                oof.internal.body_type,
                oof.external_known.enabled,
                oof.external_known.reply,
                oof.external_known.body_type,
                oof.external_unknown.enabled,
                oof.external_unknown.reply,
                oof.external_unknown.body_type,
                super::now(),
            ],
        )
        .map_err(|e| {
            if e.sqlite_error().map(|s| s.extended_code)
                == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
            {
                StoreError::NotFound(format!("user {user}"))
            } else {
                StoreError::Sqlite(e)
            }
        })?;
        tx.execute("DELETE FROM oof_replied WHERE user_id = ?1", [user])?;
        tx.commit()?;
        Ok(())
    }

    /// Records that `sender` got this period's automatic reply; `false` if it had one already
    /// (nothing is written then).
    pub fn claim_oof_reply(
        &self,
        user: UserId,
        sender: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO oof_replied (user_id, sender, sent) VALUES (?1, ?2, ?3)",
            params![user, sender.to_lowercase(), now],
        )?;
        Ok(inserted == 1)
    }

    /// Whether the user has sent mail to `address` (a recipient of a message in Sent Items).
    pub fn has_written_to(&self, user: UserId, address: &str) -> Result<bool, StoreError> {
        let address = address.to_lowercase();
        // Address lists are stored formatted (`"Name" <a@b>, …`); match the bracketed or the
        // bare form. Sent Items is one folder, so this scan is bounded by the user's sent mail.
        let pattern_bracketed = format!("%<{}>%", like_escape(&address));
        let pattern_bare = like_escape(&address);
        let found: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM messages m
                 JOIN items i ON i.id = m.item_id
                 JOIN folders f ON f.id = i.folder_id
                 WHERE i.user_id = ?1 AND f.folder_type = 5
                   AND (lower(m.to_addrs) LIKE ?2 ESCAPE '\\' OR lower(m.cc_addrs) LIKE ?2 ESCAPE '\\'
                        OR lower(m.to_addrs) = ?3 OR lower(m.cc_addrs) = ?3)
                 LIMIT 1",
            )?
            .query_row(params![user, pattern_bracketed, pattern_bare], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(found.is_some())
    }
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oof_round_trips_and_a_new_set_starts_a_new_period() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("ida@example.com", "", "pw").unwrap().id;
        assert_eq!(store.oof(user).unwrap(), Oof::default());
        let oof = Oof {
            state: OofState::TimeBased,
            start_time: Some(100),
            end_time: Some(200),
            external_unknown: OofMessage {
                enabled: true,
                reply: "away".into(),
                body_type: "HTML".into(),
            },
            ..Oof::default()
        };
        store.set_oof(user, &oof).unwrap();
        assert_eq!(store.oof(user).unwrap(), oof);
        assert!(!oof.active_at(99));
        assert!(oof.active_at(100));
        assert!(!oof.active_at(200));

        assert!(store.claim_oof_reply(user, "A@x.org", 1).unwrap());
        assert!(!store.claim_oof_reply(user, "a@x.org", 2).unwrap());
        store.set_oof(user, &oof).unwrap();
        assert!(store.claim_oof_reply(user, "a@x.org", 3).unwrap());
    }
}
