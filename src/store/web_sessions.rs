//! The web page's sign-in sessions and the admin mark of users.
//!
//! A session is known by the SHA-256 of its cookie token, so the database (and its backups)
//! never hold a token that could be replayed. Each session has its own CSRF token, which every
//! form of the page carries. Changing the password through the page ends the user's other
//! sessions in the same transaction.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{accounts, now, random_hex, Store, StoreError, User, UserId};

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSession {
    pub user: User,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub expires: i64,
}

/// The stored form of a cookie token.
fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Starts a session for `user` lasting `lifetime_secs`; returns the cookie token and the
    /// session. Expired sessions of everybody are dropped in the same transaction.
    pub fn start_web_session(
        &self,
        user: &User,
        lifetime_secs: i64,
    ) -> Result<(String, WebSession), StoreError> {
        let token = random_hex(32);
        let csrf = random_hex(16);
        let created = now();
        let expires = created + lifetime_secs;
        let tx = self.write_transaction()?;
        tx.execute("DELETE FROM web_sessions WHERE expires <= ?1", [created])?;
        tx.execute(
            "INSERT INTO web_sessions (token_hash, user_id, csrf, created, expires)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash(&token), user.id, csrf, created, expires],
        )?;
        tx.commit()?;
        Ok((
            token,
            WebSession {
                user: user.clone(),
                csrf,
                expires,
            },
        ))
    }

    /// The live session of a cookie token, if any.
    pub fn web_session(&self, token: &str) -> Result<Option<WebSession>, StoreError> {
        let found: Option<(UserId, String, i64)> = self
            .connection()
            .query_row(
                "SELECT user_id, csrf, expires FROM web_sessions
                 WHERE token_hash = ?1 AND expires > ?2",
                params![token_hash(token), now()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((user_id, csrf, expires)) = found else {
            return Ok(None);
        };
        Ok(self.user_by_id(user_id)?.map(|user| WebSession {
            user,
            csrf,
            expires,
        }))
    }

    /// Ends the session of a cookie token (sign-out).
    pub fn end_web_session(&self, token: &str) -> Result<(), StoreError> {
        self.connection().execute(
            "DELETE FROM web_sessions WHERE token_hash = ?1",
            [token_hash(token)],
        )?;
        Ok(())
    }

    /// Sets the user's password and ends all the user's sessions except the one of
    /// `keep_token`, in one transaction.
    pub fn change_password_keeping_session(
        &self,
        user: UserId,
        password: &str,
        keep_token: &str,
    ) -> Result<(), StoreError> {
        let password_hash = accounts::checked_hash(password)?;
        let tx = self.write_transaction()?;
        let changed = tx.execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            params![password_hash, user],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        tx.execute(
            "DELETE FROM web_sessions WHERE user_id = ?1 AND token_hash <> ?2",
            params![user, token_hash(keep_token)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Whether the user is marked as an administrator of the web page.
    pub fn is_admin(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .connection()
            .query_row("SELECT admin FROM users WHERE id = ?1", [user], |row| {
                row.get::<_, bool>(0)
            })
            .optional()?
            .unwrap_or(false))
    }

    /// Marks or unmarks the user as an administrator of the web page.
    pub fn set_admin(&self, email: &str, admin: bool) -> Result<(), StoreError> {
        let email = email.trim().to_lowercase();
        let changed = self.connection().execute(
            "UPDATE users SET admin = ?1 WHERE email = ?2",
            params![admin, email],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {email}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_user() -> (Store, User) {
        let store = Store::open_in_memory().unwrap();
        let user = store
            .add_user("ann@example.org", "Ann", "old password")
            .unwrap();
        (store, user)
    }

    #[test]
    fn a_session_is_found_by_its_token_only() {
        let (store, user) = store_with_user();
        let (token, session) = store.start_web_session(&user, 3600).unwrap();
        assert_eq!(store.web_session(&token).unwrap(), Some(session.clone()));
        assert_eq!(store.web_session("not the token").unwrap(), None);
        let stored: String = store
            .connection()
            .query_row("SELECT token_hash FROM web_sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, token, "the raw token is never stored");
        store.end_web_session(&token).unwrap();
        assert_eq!(store.web_session(&token).unwrap(), None);
    }

    #[test]
    fn an_expired_session_is_not_found() {
        let (store, user) = store_with_user();
        let (token, _) = store.start_web_session(&user, -1).unwrap();
        assert_eq!(store.web_session(&token).unwrap(), None);
    }

    #[test]
    fn a_password_change_ends_the_other_sessions() {
        let (store, user) = store_with_user();
        let (kept, _) = store.start_web_session(&user, 3600).unwrap();
        let (other, _) = store.start_web_session(&user, 3600).unwrap();
        store
            .change_password_keeping_session(user.id, "new password", &kept)
            .unwrap();
        assert!(store.web_session(&kept).unwrap().is_some());
        assert_eq!(store.web_session(&other).unwrap(), None);
        let changed = store.user_by_id(user.id).unwrap().unwrap();
        assert!(crate::store::verify_password(
            "new password",
            &changed.password_hash
        ));
    }

    #[test]
    fn the_admin_mark_is_set_and_cleared() {
        let (store, user) = store_with_user();
        assert!(!store.is_admin(user.id).unwrap());
        store.set_admin("ANN@example.org", true).unwrap();
        assert!(store.is_admin(user.id).unwrap());
        store.set_admin("ann@example.org", false).unwrap();
        assert!(!store.is_admin(user.id).unwrap());
        assert!(matches!(
            store.set_admin("nobody@example.org", true),
            Err(StoreError::NotFound(_))
        ));
    }
}
