//! HTTP Basic authentication against the store, with a small cache of recent successful logins.
//!
//! Password hashes are deliberately slow (argon2id); phones authenticate every request, so a
//! login that succeeded recently is remembered as SHA-256(stored hash, password) for a few
//! minutes. The stored hash is part of the digest, so changing the password (even from another
//! process, through the CLI) invalidates the cached entry at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::store::{verify_password, Store, StoreError, User};

/// How long a verified login is trusted without hashing the password again.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Bound on cached logins; the oldest half is dropped when it is reached.
const CACHE_MAX: usize = 4096;

/// Credentials from an `Authorization: Basic` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub login: String,
    pub password: String,
}

/// Parses `Basic base64(login:password)`. Anything else is `None`.
pub fn parse_basic(header: &str) -> Option<Credentials> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, password) = text.split_once(':')?;
    if login.is_empty() {
        return None;
    }
    Some(Credentials {
        login: login.to_string(),
        password: password.to_string(),
    })
}

/// Verified logins, keyed by SHA-256(stored hash, password).
#[derive(Default)]
pub struct AuthCache {
    verified: HashMap<[u8; 32], Instant>,
}

impl AuthCache {
    /// The user these credentials belong to, or `None` when the login is unknown or the
    /// password is wrong.
    pub fn authenticate(
        &mut self,
        store: &Store,
        credentials: &Credentials,
    ) -> Result<Option<User>, StoreError> {
        let Some(user) = store.find_login(&credentials.login)? else {
            return Ok(None);
        };
        let digest = cache_digest(&user.password_hash, &credentials.password);
        let now = Instant::now();
        if let Some(verified_at) = self.verified.get(&digest) {
            if now.duration_since(*verified_at) < CACHE_TTL {
                return Ok(Some(user));
            }
        }
        if !verify_password(&credentials.password, &user.password_hash) {
            return Ok(None);
        }
        if self.verified.len() >= CACHE_MAX {
            self.evict(now);
        }
        self.verified.insert(digest, now);
        Ok(Some(user))
    }

    fn evict(&mut self, now: Instant) {
        self.verified
            .retain(|_, at| now.duration_since(*at) < CACHE_TTL);
        if self.verified.len() >= CACHE_MAX / 2 {
            let mut ages: Vec<Instant> = self.verified.values().copied().collect();
            ages.sort();
            let cutoff = ages[ages.len() / 2];
            self.verified.retain(|_, at| *at > cutoff);
        }
    }
}

fn cache_digest(stored_hash: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(stored_hash.as_bytes());
    hasher.update([0u8]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(text: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    }

    #[test]
    fn parses_basic_credentials_with_colons_in_the_password() {
        let c = parse_basic(&basic("alice@example.com:pa:ss")).expect("parsed");
        assert_eq!(c.login, "alice@example.com");
        assert_eq!(c.password, "pa:ss");
        let c = parse_basic(&basic("EXAMPLE\\alice:pw")).expect("parsed");
        assert_eq!(c.login, "EXAMPLE\\alice");
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&basic("no-colon")), None);
        assert_eq!(parse_basic(&basic(":pw")), None);
        assert_eq!(parse_basic(""), None);
    }

    #[test]
    fn caches_success_and_forgets_it_when_the_password_changes() {
        let store = Store::open_in_memory().expect("store");
        store
            .add_user("alice@example.com", "Alice", "secret")
            .expect("user");
        let mut cache = AuthCache::default();
        let good = Credentials {
            login: "alice@example.com".into(),
            password: "secret".into(),
        };
        let bad = Credentials {
            login: "alice@example.com".into(),
            password: "wrong".into(),
        };
        assert!(cache.authenticate(&store, &good).expect("auth").is_some());
        assert_eq!(cache.verified.len(), 1);
        assert!(cache.authenticate(&store, &bad).expect("auth").is_none());
        // Served from the cache now; after a password change the old one must fail.
        assert!(cache.authenticate(&store, &good).expect("auth").is_some());
        store
            .set_password("alice@example.com", "other")
            .expect("passwd");
        assert!(cache.authenticate(&store, &good).expect("auth").is_none());
        let unknown = Credentials {
            login: "bob@example.com".into(),
            password: "secret".into(),
        };
        assert!(cache
            .authenticate(&store, &unknown)
            .expect("auth")
            .is_none());
    }
}
