//! HTTP Basic authentication against the store: the login cache, the throttle, and equal cost
//! for unknown and known login names.
//!
//! Password hashes are deliberately slow (argon2id); phones authenticate every request, so a
//! login that succeeded recently is remembered as SHA-256(stored hash, password) for a few
//! minutes. The stored hash is part of the digest, so changing the password (even from another
//! process, through the CLI) invalidates the cached entry at once.
//!
//! Every other login costs one hash, also for a login name that does not exist (it is checked
//! against a dummy hash of the same parameters), so the time and the answer do not tell which
//! names exist. Failed logins go to the [`Throttle`], which refuses a locked address or login
//! name, or a hash beyond the budget of failed hashes, before anything is looked up or hashed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::throttle::{AddressKey, Locked, LoginKey, Refusal, Throttle, ThrottleSettings};
use crate::store::{decoy_hash, verify_password, Store, StoreError, User};

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

/// Logs a failed login and the locks it started. The fail2ban filter
/// (packaging/fail2ban/filter.d/easd.conf) matches the first line, for EAS and the web page alike.
pub fn log_failure(peer: Option<IpAddr>, login: &str, locked: &[Locked]) {
    use crate::logsafe::escaped;
    let from = peer.map_or_else(|| "-".to_string(), |ip| ip.to_string());
    log::warn!("auth failure from {from} user \"{}\"", escaped(login));
    for lock in locked {
        let (what, seconds) = match lock {
            Locked::Address(d) => (format!("address {from}"), d.as_secs()),
            Locked::Login(d) => (format!("login \"{}\"", escaped(login)), d.as_secs()),
        };
        log::warn!("login throttled: {what} refused for {seconds} s after failed logins");
    }
}

/// What became of one login.
#[derive(Debug)]
pub enum Outcome {
    Accepted(User),
    /// Unknown login name or wrong password (the same to the caller). `locked` lists the locks
    /// this failure started, for the log.
    Failed {
        locked: Vec<Locked>,
    },
    /// Not checked: throttled, see the refusal.
    Refused(Refusal),
}

/// The request loop's logins: recent successes, the throttle, and the dummy hash.
pub struct Logins {
    verified: HashMap<[u8; 32], Instant>,
    throttle: Throttle,
    /// Checked instead of a stored hash for login names that do not exist.
    dummy_hash: String,
}

impl Logins {
    pub fn new(settings: ThrottleSettings) -> Logins {
        Logins {
            verified: HashMap::new(),
            throttle: Throttle::new(settings, Instant::now()),
            dummy_hash: decoy_hash(),
        }
    }

    /// Checks `credentials` from the client address `peer`.
    pub fn authenticate(
        &mut self,
        store: &Store,
        credentials: &Credentials,
        peer: Option<IpAddr>,
    ) -> Result<Outcome, StoreError> {
        let address = peer.map(AddressKey::new);
        let login = LoginKey::new(&credentials.login);
        if let Err(refusal) = self.throttle.check_locks(address, login, Instant::now()) {
            return Ok(Outcome::Refused(refusal));
        }
        let user = store.find_login(&credentials.login)?;
        let digest = user
            .as_ref()
            .map(|user| cache_digest(&user.password_hash, &credentials.password));
        if let (Some(user), Some(digest)) = (&user, &digest) {
            if let Some(verified_at) = self.verified.get(digest) {
                if verified_at.elapsed() < CACHE_TTL {
                    self.throttle.succeeded(address, login, Instant::now());
                    return Ok(Outcome::Accepted(user.clone()));
                }
            }
        }
        if let Err(refusal) = self.throttle.check_budget(address, login, Instant::now()) {
            return Ok(Outcome::Refused(refusal));
        }
        let started = thread_cpu_time();
        let stored_hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let matches = verify_password(&credentials.password, stored_hash);
        let hashing = thread_cpu_time().saturating_sub(started);
        let now = Instant::now();
        match (user, digest) {
            (Some(user), Some(digest)) if matches => {
                if self.verified.len() >= CACHE_MAX {
                    self.evict(now);
                }
                self.verified.insert(digest, now);
                self.throttle.succeeded(address, login, now);
                Ok(Outcome::Accepted(user))
            }
            _ => {
                let locked = self.throttle.failed(address, login, hashing, now);
                Ok(Outcome::Failed { locked })
            }
        }
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

/// The CPU time this thread has used: what a hash costs the loop, without the time other
/// processes of a busy machine took meanwhile (which would make the budget refuse early).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        // Never on Linux; should it happen, wall time is the safe side (it only overcharges).
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        return EPOCH.get_or_init(Instant::now).elapsed();
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
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

    fn accepted(outcome: Outcome) -> bool {
        matches!(outcome, Outcome::Accepted(_))
    }

    #[test]
    fn caches_success_and_forgets_it_when_the_password_changes() {
        let store = Store::open_in_memory().expect("store");
        store
            .add_user("alice@example.com", "Alice", "secret")
            .expect("user");
        let mut logins = Logins::new(ThrottleSettings::default());
        let good = Credentials {
            login: "alice@example.com".into(),
            password: "secret".into(),
        };
        let bad = Credentials {
            login: "alice@example.com".into(),
            password: "wrong".into(),
        };
        let peer = Some(IpAddr::from([192, 0, 2, 1]));
        assert!(accepted(
            logins.authenticate(&store, &good, peer).expect("auth")
        ));
        assert_eq!(logins.verified.len(), 1);
        assert!(matches!(
            logins.authenticate(&store, &bad, peer).expect("auth"),
            Outcome::Failed { .. }
        ));
        // Served from the cache now; after a password change the old one must fail.
        assert!(accepted(
            logins.authenticate(&store, &good, peer).expect("auth")
        ));
        store
            .set_password("alice@example.com", "other")
            .expect("passwd");
        assert!(!accepted(
            logins.authenticate(&store, &good, peer).expect("auth")
        ));
        let unknown = Credentials {
            login: "bob@example.com".into(),
            password: "secret".into(),
        };
        assert!(matches!(
            logins.authenticate(&store, &unknown, peer).expect("auth"),
            Outcome::Failed { .. }
        ));
    }

    #[test]
    fn a_locked_login_is_refused_even_with_the_right_password() {
        let store = Store::open_in_memory().expect("store");
        store
            .add_user("alice@example.com", "Alice", "secret")
            .expect("user");
        let settings = ThrottleSettings {
            failures_per_address: 100,
            failures_per_account: 2,
            ..ThrottleSettings::default()
        };
        let mut logins = Logins::new(settings);
        let peer = Some(IpAddr::from([192, 0, 2, 1]));
        let with = |password: &str| Credentials {
            login: "Alice@example.com".into(),
            password: password.into(),
        };
        assert!(matches!(
            logins.authenticate(&store, &with("x"), peer).expect("auth"),
            Outcome::Failed { ref locked } if locked.is_empty()
        ));
        assert!(matches!(
            logins.authenticate(&store, &with("y"), peer).expect("auth"),
            Outcome::Failed { ref locked } if locked == &[Locked::Login(Duration::from_secs(60))]
        ));
        assert!(matches!(
            logins
                .authenticate(&store, &with("secret"), peer)
                .expect("auth"),
            Outcome::Refused(Refusal::LoginLocked(_))
        ));
    }
}
