//! Runtime settings kept in the database (e.g. `push.heartbeat-max`), set
//! with `easd config set` and read by the server. The store only keeps
//! strings; the meaning and validation of each key belong to its user.

use rusqlite::{params, OptionalExtension};

use super::{now, Store, StoreError};

const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 4096;

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::Invalid("the setting name is empty".into()));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(StoreError::Invalid(format!(
            "the setting name is longer than {MAX_KEY_CHARS} characters"
        )));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::Invalid(format!(
            "the setting name {key:?} contains white space or control characters"
        )));
    }
    Ok(())
}

impl Store {
    /// The value of a setting, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// Sets (or replaces) a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        check_key(key)?;
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(StoreError::Invalid(format!(
                "the value of {key} is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
        self.conn.execute(
            "INSERT INTO settings (key, value, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            params![key, value, now()],
        )?;
        Ok(())
    }

    /// Removes a setting; [`StoreError::NotFound`] if it was not set.
    pub fn unset_setting(&self, key: &str) -> Result<(), StoreError> {
        let deleted = self
            .conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("setting {key}")));
        }
        Ok(())
    }

    /// All settings, sorted by name.
    pub fn settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
        let pairs = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_replace_unset_list() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.setting("push.heartbeat-max").unwrap(), None);
        store.set_setting("push.heartbeat-max", "1800").unwrap();
        store.set_setting("log.level", "debug").unwrap();
        assert_eq!(
            store.setting("push.heartbeat-max").unwrap().as_deref(),
            Some("1800")
        );
        store.set_setting("push.heartbeat-max", "900").unwrap();
        assert_eq!(
            store.settings().unwrap(),
            [
                ("log.level".to_string(), "debug".to_string()),
                ("push.heartbeat-max".to_string(), "900".to_string())
            ]
        );
        store.unset_setting("log.level").unwrap();
        assert_eq!(store.setting("log.level").unwrap(), None);
        assert!(matches!(
            store.unset_setting("log.level"),
            Err(StoreError::NotFound(_))
        ));
        // Empty values are values.
        store.set_setting("motd", "").unwrap();
        assert_eq!(store.setting("motd").unwrap().as_deref(), Some(""));
    }

    #[test]
    fn bad_names_and_values_are_rejected() {
        let store = Store::open_in_memory().unwrap();
        for bad in ["", "has space", "new\nline", &"k".repeat(129)] {
            assert!(matches!(
                store.set_setting(bad, "v"),
                Err(StoreError::Invalid(_))
            ));
        }
        assert!(matches!(
            store.set_setting("big", &"v".repeat(4097)),
            Err(StoreError::Invalid(_))
        ));
        assert!(store.settings().unwrap().is_empty());
    }
}
