//! Security policy overrides per level (global, domain, user, device): which settings a level
//! customises and to what. Resolving them into the policy a device gets is
//! [`crate::policy::EffectivePolicy::resolve`]; validating values is [`crate::policy::normalise`].

use rusqlite::params;

use super::{Store, StoreError, User};
use crate::policy::{EffectivePolicy, Source};

/// One level of the policy hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyLevel {
    Global,
    /// A mail domain (lower-case).
    Domain(String),
    /// A user's e-mail address (lower-case).
    User(String),
    /// A client DeviceId, as the device sends it.
    Device(String),
}

impl PolicyLevel {
    fn key(&self) -> (&'static str, &str) {
        match self {
            PolicyLevel::Global => ("global", ""),
            PolicyLevel::Domain(d) => ("domain", d),
            PolicyLevel::User(u) => ("user", u),
            PolicyLevel::Device(d) => ("device", d),
        }
    }

    /// The source a value set at this level shows.
    pub fn source(&self) -> Source {
        match self {
            PolicyLevel::Global => Source::Global,
            PolicyLevel::Domain(_) => Source::Domain,
            PolicyLevel::User(_) => Source::User,
            PolicyLevel::Device(_) => Source::Device,
        }
    }
}

impl Store {
    /// The settings this level customises, ordered by name.
    pub fn policy_overrides(
        &self,
        level: &PolicyLevel,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (level, scope) = level.key();
        let mut statement = self.conn.prepare_cached(
            "SELECT key, value FROM policy_settings WHERE level = ?1 AND scope = ?2 ORDER BY key",
        )?;
        let rows = statement
            .query_map(params![level, scope], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Customises one setting at a level (the value is already validated).
    pub fn set_policy_value(
        &self,
        level: &PolicyLevel,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let (level, scope) = level.key();
        self.conn.execute(
            "INSERT INTO policy_settings (level, scope, key, value, updated)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (level, scope, key) DO UPDATE SET value = excluded.value,
                 updated = excluded.updated",
            params![level, scope, key, value, super::now()],
        )?;
        Ok(())
    }

    /// Makes a level inherit again: one setting, or (`None`) all of them. Returns how many
    /// customisations were removed.
    pub fn inherit_policy(
        &self,
        level: &PolicyLevel,
        key: Option<&str>,
    ) -> Result<usize, StoreError> {
        let (level, scope) = level.key();
        let removed = match key {
            Some(key) => self.conn.execute(
                "DELETE FROM policy_settings WHERE level = ?1 AND scope = ?2 AND key = ?3",
                params![level, scope, key],
            )?,
            None => self.conn.execute(
                "DELETE FROM policy_settings WHERE level = ?1 AND scope = ?2",
                params![level, scope],
            )?,
        };
        Ok(removed)
    }

    /// The policy in force for `user` on the device `device_id` (or for the user alone).
    pub fn effective_policy(
        &self,
        user: &User,
        device_id: Option<&str>,
    ) -> Result<EffectivePolicy, StoreError> {
        let mut levels = vec![
            PolicyLevel::Global,
            PolicyLevel::Domain(user.domain.to_ascii_lowercase()),
            PolicyLevel::User(user.email.to_ascii_lowercase()),
        ];
        if let Some(device) = device_id {
            levels.push(PolicyLevel::Device(device.to_string()));
        }
        self.effective_policy_of(&levels)
    }

    /// The policy that results from these levels, most general first.
    pub fn effective_policy_of(
        &self,
        levels: &[PolicyLevel],
    ) -> Result<EffectivePolicy, StoreError> {
        let Some(sql) = LEVELS_QUERIES.get(levels.len()) else {
            // More levels than the prepared forms cover: one query each, in one snapshot
            // (one consistent policy, one read lock).
            let snapshot = self.read_snapshot()?;
            let mut layers = Vec::with_capacity(levels.len());
            for level in levels {
                layers.push((level.source(), self.policy_overrides(level)?));
            }
            snapshot.end()?;
            return Ok(EffectivePolicy::resolve(&layers));
        };
        // One statement for every level (one consistent policy, one lookup per request
        // rather than a query per level): each row names the level it belongs to.
        let mut layers: Vec<_> = levels
            .iter()
            .map(|level| (level.source(), Vec::new()))
            .collect();
        let mut statement = self.conn.prepare_cached(sql)?;
        for (position, level) in levels.iter().enumerate() {
            let (name, scope) = level.key();
            statement.raw_bind_parameter(2 * position + 1, name)?;
            statement.raw_bind_parameter(2 * position + 2, scope)?;
        }
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next()? {
            let position: i64 = row.get(0)?;
            let layer = usize::try_from(position)
                .ok()
                .and_then(|position| layers.get_mut(position));
            if let Some((_, overrides)) = layer {
                overrides.push((row.get(1)?, row.get(2)?));
            }
        }
        Ok(EffectivePolicy::resolve(&layers))
    }
}

/// [`Store::effective_policy_of`]'s statement for 0, 1, 2, 3 and 4 levels: each level's
/// settings in key order, tagged with the level's position.
const LEVELS_QUERIES: [&str; 5] = [
    "SELECT 0, '', '' WHERE 0",
    "SELECT 0, key, value FROM policy_settings WHERE level = ?1 AND scope = ?2",
    "SELECT 0, key, value FROM policy_settings WHERE level = ?1 AND scope = ?2 \
     UNION ALL SELECT 1, key, value FROM policy_settings WHERE level = ?3 AND scope = ?4",
    "SELECT 0, key, value FROM policy_settings WHERE level = ?1 AND scope = ?2 \
     UNION ALL SELECT 1, key, value FROM policy_settings WHERE level = ?3 AND scope = ?4 \
     UNION ALL SELECT 2, key, value FROM policy_settings WHERE level = ?5 AND scope = ?6",
    "SELECT 0, key, value FROM policy_settings WHERE level = ?1 AND scope = ?2 \
     UNION ALL SELECT 1, key, value FROM policy_settings WHERE level = ?3 AND scope = ?4 \
     UNION ALL SELECT 2, key, value FROM policy_settings WHERE level = ?5 AND scope = ?6 \
     UNION ALL SELECT 3, key, value FROM policy_settings WHERE level = ?7 AND scope = ?8",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_for_the_levels_resolves_as_a_query_per_level_does() {
        let store = Store::open_in_memory().unwrap();
        let levels = [
            PolicyLevel::Global,
            PolicyLevel::Domain("example.com".into()),
            PolicyLevel::User("kim@example.com".into()),
            PolicyLevel::Device("D1".into()),
            PolicyLevel::User("kim@example.com".into()),
        ];
        for (level, key, value) in [
            (&levels[0], "MaxEmailAgeFilter", "3"),
            (&levels[0], "AllowHTMLEmail", "0"),
            (&levels[1], "MaxEmailAgeFilter", "2"),
            (&levels[2], "AllowHTMLEmail", "1"),
            (&levels[3], "MaxEmailAgeFilter", "5"),
            (&PolicyLevel::Device("D2".into()), "MaxEmailAgeFilter", "1"),
        ] {
            store.set_policy_value(level, key, value).unwrap();
        }
        for count in 0..=levels.len() {
            let layers: Vec<_> = levels[..count]
                .iter()
                .map(|level| (level.source(), store.policy_overrides(level).unwrap()))
                .collect();
            let expected: Vec<_> = EffectivePolicy::resolve(&layers)
                .entries()
                .map(|(def, value, source)| (def.name, value.to_string(), source))
                .collect();
            let got: Vec<_> = store
                .effective_policy_of(&levels[..count])
                .unwrap()
                .entries()
                .map(|(def, value, source)| (def.name, value.to_string(), source))
                .collect();
            assert_eq!(got, expected, "{count} levels");
        }
    }

    #[test]
    fn levels_inherit_until_customised() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("kim@example.com", "Kim", "pw").unwrap();
        assert!(store
            .effective_policy(&user, Some("D1"))
            .unwrap()
            .is_neutral());

        store
            .set_policy_value(&PolicyLevel::Global, "MaxEmailAgeFilter", "3")
            .unwrap();
        store
            .set_policy_value(
                &PolicyLevel::Domain("example.com".into()),
                "MaxEmailAgeFilter",
                "2",
            )
            .unwrap();
        store
            .set_policy_value(&PolicyLevel::Device("D1".into()), "AllowHTMLEmail", "0")
            .unwrap();
        let policy = store.effective_policy(&user, Some("D1")).unwrap();
        assert_eq!(policy.value("MaxEmailAgeFilter"), "2");
        assert!(!policy.allows_html());
        assert!(store
            .effective_policy(&user, Some("D2"))
            .unwrap()
            .allows_html());

        assert_eq!(
            store
                .inherit_policy(&PolicyLevel::Domain("example.com".into()), None)
                .unwrap(),
            1
        );
        let policy = store.effective_policy(&user, Some("D1")).unwrap();
        assert_eq!(policy.value("MaxEmailAgeFilter"), "3");
        assert_eq!(
            store
                .inherit_policy(&PolicyLevel::Device("D1".into()), Some("AllowHTMLEmail"))
                .unwrap(),
            1
        );
        assert!(store
            .effective_policy(&user, Some("D1"))
            .unwrap()
            .allows_html());
    }
}
