//! S/MIME certificates of users: stored by an administrator (`easd user cert`) or by the user
//! on the web page, handed to senders by ResolveRecipients. The store keeps the DER bytes and
//! the facts the caller read from them (validity, mail usage, fingerprint); it parses nothing.

use rusqlite::{params, OptionalExtension, Row};

use super::{now, Store, StoreError, UserId};

/// Largest certificate accepted (DER bytes); real S/MIME certificates are 1–3 KB.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// Most certificates one user may have stored (old ones stay until removed).
pub const MAX_CERTIFICATES_PER_USER: usize = 20;

/// A certificate to store, with what the caller read from it.
#[derive(Clone, Debug)]
pub struct NewCertificate<'a> {
    pub der: &'a [u8],
    /// SHA-256 of `der`, lower-case hex.
    pub fingerprint: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    /// Whether its key usage allows mail protection.
    pub for_smime: bool,
    /// `admin` or `user`.
    pub added_by: &'a str,
}

/// A stored certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCertificate {
    pub id: i64,
    pub der: Vec<u8>,
    pub fingerprint: String,
    pub not_before: i64,
    pub not_after: i64,
    pub for_smime: bool,
    pub added: i64,
    pub added_by: String,
}

impl StoredCertificate {
    /// Usable for S/MIME at `now`: meant for mail and inside its validity.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.for_smime && self.not_before <= now && now <= self.not_after
    }

    /// Why it is or is not handed out at `now`, for lists shown to people.
    pub fn state_at(&self, now: i64) -> CertificateState {
        if self.is_valid_at(now) {
            CertificateState::Usable
        } else if !self.for_smime {
            CertificateState::NotForMail
        } else if self.not_after < now {
            CertificateState::Expired
        } else {
            CertificateState::NotYetValid
        }
    }
}

/// A stored certificate's state at some time (see [`StoredCertificate::state_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateState {
    Usable,
    NotForMail,
    Expired,
    NotYetValid,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredCertificate> {
    Ok(StoredCertificate {
        id: row.get(0)?,
        der: row.get(1)?,
        fingerprint: row.get(2)?,
        not_before: row.get(3)?,
        not_after: row.get(4)?,
        for_smime: row.get::<_, i64>(5)? != 0,
        added: row.get(6)?,
        added_by: row.get(7)?,
    })
}

const COLUMNS: &str = "c.id, c.der, c.fingerprint, c.not_before, c.not_after, c.for_smime, \
                       c.added, c.added_by";

impl Store {
    /// Stores a certificate for `user`, in one transaction; `false` when the user already had
    /// it. Refuses oversized certificates and more than [`MAX_CERTIFICATES_PER_USER`].
    pub fn add_user_certificate(
        &self,
        user: UserId,
        certificate: &NewCertificate<'_>,
    ) -> Result<bool, StoreError> {
        if certificate.der.is_empty() || certificate.der.len() > MAX_CERTIFICATE_BYTES {
            return Err(StoreError::Invalid(format!(
                "a certificate must be 1 to {MAX_CERTIFICATE_BYTES} bytes"
            )));
        }
        let tx = self.conn.unchecked_transaction()?;
        let known: Option<i64> = tx
            .query_row(
                "SELECT id FROM user_certificates WHERE user_id = ?1 AND fingerprint = ?2",
                params![user, certificate.fingerprint],
                |row| row.get(0),
            )
            .optional()?;
        if known.is_some() {
            return Ok(false);
        }
        let count: i64 = tx.query_row(
            "SELECT count(*) FROM user_certificates WHERE user_id = ?1",
            [user],
            |row| row.get(0),
        )?;
        if count >= MAX_CERTIFICATES_PER_USER as i64 {
            return Err(StoreError::Conflict(format!(
                "already {MAX_CERTIFICATES_PER_USER} certificates stored; remove one first"
            )));
        }
        tx.execute(
            "INSERT INTO user_certificates
                 (user_id, der, fingerprint, not_before, not_after, for_smime, added, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                user,
                certificate.der,
                certificate.fingerprint,
                certificate.not_before,
                certificate.not_after,
                i64::from(certificate.for_smime),
                now(),
                certificate.added_by
            ],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The certificates of `user`, the longest-valid first.
    pub fn user_certificates(&self, user: UserId) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM user_certificates c WHERE c.user_id = ?1
             ORDER BY c.not_after DESC, c.id"
        ))?;
        let rows = statement.query_map([user], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The certificates of the user with address `email` (none for an address that is not a
    /// user of this server), the longest-valid first.
    pub fn certificates_of_address(
        &self,
        email: &str,
    ) -> Result<Vec<StoredCertificate>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM user_certificates c JOIN users u ON u.id = c.user_id
             WHERE u.email = ?1 ORDER BY c.not_after DESC, c.id"
        ))?;
        let rows = statement.query_map([email.trim().to_lowercase()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes the certificate of `user` whose fingerprint starts with `prefix` (at least 8
    /// hex digits, case-insensitive). Not found, or several matching, changes nothing.
    pub fn remove_user_certificate(
        &self,
        user: UserId,
        prefix: &str,
    ) -> Result<String, StoreError> {
        let prefix = prefix.trim().to_lowercase().replace(':', "");
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(
                "give at least 8 hex digits of the fingerprint".into(),
            ));
        }
        let matching: Vec<String> = self
            .user_certificates(user)?
            .into_iter()
            .map(|c| c.fingerprint)
            .filter(|f| f.starts_with(&prefix))
            .collect();
        match matching.as_slice() {
            [] => Err(StoreError::NotFound(format!("no certificate {prefix}"))),
            [one] => {
                self.conn.execute(
                    "DELETE FROM user_certificates WHERE user_id = ?1 AND fingerprint = ?2",
                    params![user, one],
                )?;
                Ok(one.clone())
            }
            _ => Err(StoreError::Conflict(format!(
                "{prefix} matches several certificates; give more digits"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(der: &[u8], fingerprint: &str, not_after: i64) -> NewCertificate<'static> {
        NewCertificate {
            der: Vec::leak(der.to_vec()),
            fingerprint: String::leak(fingerprint.to_string()),
            not_before: 0,
            not_after,
            for_smime: true,
            added_by: "admin",
        }
    }

    #[test]
    fn certificates_are_kept_per_user_and_removed_by_fingerprint() {
        let store = Store::open_in_memory().unwrap();
        let alice = store.add_user("alice@example.org", "Alice", "pw").unwrap();
        let bob = store.add_user("bob@example.org", "Bob", "pw").unwrap();
        assert!(store
            .add_user_certificate(alice.id, &new(b"one", "aaaa1111bbbb", 10))
            .unwrap());
        assert!(!store
            .add_user_certificate(alice.id, &new(b"one", "aaaa1111bbbb", 10))
            .unwrap());
        store
            .add_user_certificate(alice.id, &new(b"two", "aaaa2222cccc", 20))
            .unwrap();
        let listed = store.certificates_of_address("Alice@Example.org").unwrap();
        assert_eq!(
            listed.iter().map(|c| c.der.as_slice()).collect::<Vec<_>>(),
            [b"two".as_slice(), b"one".as_slice()]
        );
        assert!(store
            .certificates_of_address("bob@example.org")
            .unwrap()
            .is_empty());
        assert!(store.user_certificates(bob.id).unwrap().is_empty());
        assert!(matches!(
            store.remove_user_certificate(alice.id, "aaaa"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.remove_user_certificate(bob.id, "aaaa1111"),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.remove_user_certificate(alice.id, "AAAA1111").unwrap(),
            "aaaa1111bbbb"
        );
        assert_eq!(store.user_certificates(alice.id).unwrap().len(), 1);
        assert!(matches!(
            store.add_user_certificate(alice.id, &new(b"", "ff", 1)),
            Err(StoreError::Invalid(_))
        ));
    }
}
