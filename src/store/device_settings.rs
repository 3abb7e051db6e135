//! What is known about a device besides its requests: the information it reports about itself
//! (Settings DeviceInformation), its recovery password (Settings DevicePassword), and the
//! administrator's per-device settings (`easd device set`) with their defaults.
//!
//! Settings are stored as key/value rows; a key without a row has its default, so adding a
//! setting needs no migration. [`DEVICE_SETTINGS`] is the one list of keys, values and
//! defaults that the CLI, its help and the protocol code share.

use rusqlite::{params, OptionalExtension};

use super::{clip, Store, StoreError};

/// What a device reports about itself. Empty means "not told".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInformation {
    pub model: String,
    pub imei: String,
    pub friendly_name: String,
    pub os: String,
    pub os_language: String,
    pub phone_number: String,
    pub mobile_operator: String,
    pub user_agent: String,
}

/// Longest stored DeviceInformation value (MS-ASCMD allows 1024 characters).
const MAX_INFORMATION_CHARS: usize = 1024;
/// Longest stored recovery password (MS-ASCMD: 255 characters).
pub const MAX_RECOVERY_PASSWORD_CHARS: usize = 255;

/// One per-device setting: its key, the values it takes (the first is the default) and what
/// it does.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    pub key: &'static str,
    pub values: &'static [&'static str],
    pub help: &'static str,
}

impl SettingSpec {
    pub fn default_value(&self) -> &'static str {
        self.values[0]
    }
}

/// The per-device settings of the reference guide's Device Settings dialog.
pub const DEVICE_SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "folders",
        values: &["all", "default", "all-groupware-as-email"],
        help: "which folders the device sees: all, only the default folders, or all plus \
               every contact, calendar, task and note folder offered again as a read-only \
               mail folder (each item a readable message) for mail-only clients",
    },
    SettingSpec {
        key: "mail-folders",
        values: &["all", "default"],
        help: "mail folders: all, or only Inbox, Drafts, Deleted Items, Sent Items, Outbox and \
               Junk E-mail",
    },
    SettingSpec {
        key: "archive-folder",
        values: &["yes", "no"],
        help: "show the archive folder (stored; easd has no archive folder yet)",
    },
    SettingSpec {
        key: "public-folders",
        values: &["yes", "no"],
        help: "show public folders (stored; easd has no public folders yet)",
    },
    SettingSpec {
        key: "shared-folders",
        values: &["yes", "no"],
        help: "show folders shared by other users (stored; easd has no sharing yet)",
    },
    SettingSpec {
        key: "past-mail",
        values: &["all", "1d", "3d", "1w", "2w", "1m", "3m", "6m"],
        help: "the oldest mail the device gets, whatever the device asks for",
    },
    SettingSpec {
        key: "past-calendar",
        values: &["all", "2w", "1m", "3m", "6m"],
        help: "the oldest events the device gets, whatever the device asks for",
    },
    SettingSpec {
        key: "tasks-as-events",
        values: &["no", "all", "incomplete"],
        help: "also offer each task folder as a calendar of the same name whose events are \
               the tasks (all, or incomplete ones only); editing an event edits the task",
    },
    SettingSpec {
        key: "notes-as-events",
        values: &["no", "yes"],
        help: "also offer each note folder as a read-only calendar of the same name whose \
               all-day events are the notes, on the day each last changed",
    },
];

/// The spec of a setting key.
pub fn setting_spec(key: &str) -> Option<&'static SettingSpec> {
    DEVICE_SETTINGS.iter().find(|spec| spec.key == key)
}

/// The FilterType code (MS-ASCMD 2.2.3.70.1) of a `past-mail` / `past-calendar` value; 0 for
/// "all" (no limit).
pub fn filter_type_of(value: &str) -> u8 {
    match value {
        "1d" => 1,
        "3d" => 2,
        "1w" => 3,
        "2w" => 4,
        "1m" => 5,
        "3m" => 6,
        "6m" => 7,
        _ => 0,
    }
}

/// A device's settings, every key with its value or its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSettings {
    values: Vec<(&'static str, String)>,
}

impl DeviceSettings {
    /// The value of `key` (its default when unset or unknown).
    pub fn get(&self, key: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every setting with its value, in [`DEVICE_SETTINGS`] order.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Only the default folders of every kind are shown.
    pub fn default_folders_only(&self) -> bool {
        self.get("folders") == "default"
    }

    /// Only the default mail folders are shown (user-created mail folders are hidden).
    pub fn default_mail_folders_only(&self) -> bool {
        self.get("mail-folders") == "default" || self.default_folders_only()
    }

    /// The FilterType that caps mail for this device (0: no cap).
    pub fn mail_filter_cap(&self) -> u8 {
        filter_type_of(self.get("past-mail"))
    }

    /// The FilterType that caps calendars for this device (0: no cap).
    pub fn calendar_filter_cap(&self) -> u8 {
        filter_type_of(self.get("past-calendar"))
    }
}

/// A FilterType narrowed to a cap: the narrower window of the two (0 is "everything", so the
/// widest; 1..=7 grow with the number).
pub fn capped_filter(requested: u8, cap: u8) -> u8 {
    match (requested, cap) {
        (_, 0) => requested,
        (0, cap) => cap,
        // 8 (incomplete tasks) is not a date window; only mail and calendars are capped.
        (requested, cap) if requested <= 7 => requested.min(cap),
        (requested, _) => requested,
    }
}

fn tidy(text: &str) -> String {
    let printable: String = text.chars().filter(|c| !c.is_control()).collect();
    clip(printable.trim(), MAX_INFORMATION_CHARS).to_string()
}

impl Store {
    /// What the device (by row id) reported about itself.
    pub fn device_information(&self, device: i64) -> Result<DeviceInformation, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT model, imei, friendly_name, os, os_language, phone_number,
                        mobile_operator, user_agent_info
                 FROM devices WHERE id = ?1",
            )?
            .query_row([device], |row| {
                Ok(DeviceInformation {
                    model: row.get(0)?,
                    imei: row.get(1)?,
                    friendly_name: row.get(2)?,
                    os: row.get(3)?,
                    os_language: row.get(4)?,
                    phone_number: row.get(5)?,
                    mobile_operator: row.get(6)?,
                    user_agent: row.get(7)?,
                })
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("device {device}")))
    }

    /// Stores what the device reported (Settings DeviceInformation Set): every field is
    /// replaced, an absent one with empty text, since the device sends its whole description.
    pub fn set_device_information(
        &self,
        device: i64,
        info: &DeviceInformation,
    ) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE devices SET model = ?2, imei = ?3, friendly_name = ?4, os = ?5,
                 os_language = ?6, phone_number = ?7, mobile_operator = ?8, user_agent_info = ?9
             WHERE id = ?1",
            params![
                device,
                tidy(&info.model),
                tidy(&info.imei),
                tidy(&info.friendly_name),
                tidy(&info.os),
                tidy(&info.os_language),
                tidy(&info.phone_number),
                tidy(&info.mobile_operator),
                tidy(&info.user_agent),
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("device {device}")));
        }
        Ok(())
    }

    /// The recovery password the device sent (Settings DevicePassword), if any.
    pub fn recovery_password(&self, device: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT recovery_password FROM devices WHERE id = ?1")?
            .query_row([device], |row| row.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Stores the device's recovery password (`None` forgets it).
    pub fn set_recovery_password(
        &self,
        device: i64,
        password: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(password) = password {
            if password.chars().count() > MAX_RECOVERY_PASSWORD_CHARS {
                return Err(StoreError::Invalid(format!(
                    "the recovery password is longer than {MAX_RECOVERY_PASSWORD_CHARS} characters"
                )));
            }
        }
        let changed = self.conn.execute(
            "UPDATE devices SET recovery_password = ?2 WHERE id = ?1",
            params![device, password],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("device {device}")));
        }
        Ok(())
    }

    /// The device's settings, defaults filled in.
    pub fn device_settings(&self, device: i64) -> Result<DeviceSettings, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT key, value FROM device_settings WHERE device = ?1")?;
        let stored = statement
            .query_map([device], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let values = DEVICE_SETTINGS
            .iter()
            .map(|spec| {
                let value = stored
                    .iter()
                    .find(|(key, value)| key == spec.key && spec.values.contains(&value.as_str()))
                    .map_or_else(|| spec.default_value().to_string(), |(_, v)| v.clone());
                (spec.key, value)
            })
            .collect();
        Ok(DeviceSettings { values })
    }

    /// Sets one of the device's settings; an unknown key or value is [`StoreError::Invalid`].
    /// Returns whether the value changed.
    pub fn set_device_setting(
        &self,
        device: i64,
        key: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let spec = setting_spec(key)
            .ok_or_else(|| StoreError::Invalid(format!("there is no device setting {key:?}")))?;
        if !spec.values.contains(&value) {
            return Err(StoreError::Invalid(format!(
                "{key} takes one of: {}",
                spec.values.join(", ")
            )));
        }
        let tx = self.write_transaction()?;
        let old: Option<String> = tx
            .query_row(
                "SELECT value FROM device_settings WHERE device = ?1 AND key = ?2",
                params![device, key],
                |row| row.get(0),
            )
            .optional()?;
        let old = old.unwrap_or_else(|| spec.default_value().to_string());
        tx.execute(
            "INSERT INTO device_settings (device, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (device, key) DO UPDATE SET value = excluded.value",
            params![device, key, value],
        )
        .map_err(|e| {
            if e.sqlite_error().map(|s| s.extended_code)
                == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
            {
                StoreError::NotFound(format!("device {device}"))
            } else {
                StoreError::Sqlite(e)
            }
        })?;
        tx.commit()?;
        Ok(old != value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Store, i64) {
        super::super::test_support::store_with_device("ana@example.com")
    }

    #[test]
    fn information_is_stored_replaced_and_tidied() {
        let (store, device) = setup();
        assert_eq!(
            store.device_information(device).unwrap(),
            DeviceInformation::default()
        );
        let info = DeviceInformation {
            model: " Pixel 8\r\n".into(),
            imei: "3500000".into(),
            os: "Android 14".into(),
            ..Default::default()
        };
        store.set_device_information(device, &info).unwrap();
        let stored = store.device_information(device).unwrap();
        assert_eq!(stored.model, "Pixel 8");
        assert_eq!(stored.os, "Android 14");
        assert_eq!(stored.friendly_name, "");
        assert!(matches!(
            store.set_device_information(device + 9, &info),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn settings_have_defaults_and_refuse_unknown_keys_and_values() {
        let (store, device) = setup();
        let settings = store.device_settings(device).unwrap();
        assert_eq!(settings.get("mail-folders"), "all");
        assert_eq!(settings.mail_filter_cap(), 0);
        assert!(!settings.default_mail_folders_only());
        assert!(store.set_device_setting(device, "past-mail", "2w").unwrap());
        assert!(!store.set_device_setting(device, "past-mail", "2w").unwrap());
        assert!(store
            .set_device_setting(device, "mail-folders", "default")
            .unwrap());
        let settings = store.device_settings(device).unwrap();
        assert_eq!(settings.mail_filter_cap(), 4);
        assert!(settings.default_mail_folders_only());
        assert!(matches!(
            store.set_device_setting(device, "past-mail", "2y"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.set_device_setting(device, "colour", "red"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.set_device_setting(device + 9, "past-mail", "1d"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn filter_caps_choose_the_narrower_window() {
        assert_eq!(capped_filter(0, 0), 0);
        assert_eq!(capped_filter(0, 3), 3);
        assert_eq!(capped_filter(5, 3), 3);
        assert_eq!(capped_filter(2, 3), 2);
        assert_eq!(capped_filter(8, 3), 8);
        assert_eq!(capped_filter(6, 0), 6);
    }

    #[test]
    fn recovery_password_round_trips() {
        let (store, device) = setup();
        assert_eq!(store.recovery_password(device).unwrap(), None);
        store.set_recovery_password(device, Some("1234")).unwrap();
        assert_eq!(
            store.recovery_password(device).unwrap().as_deref(),
            Some("1234")
        );
        assert!(matches!(
            store.set_recovery_password(device, Some(&"x".repeat(256))),
            Err(StoreError::Invalid(_))
        ));
    }
}
