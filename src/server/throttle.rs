//! Login throttling: what the request loop remembers about failed logins, and the budget of
//! password-hashing time that failed logins may spend.
//!
//! Failures are counted per client address and per login name. After `failures_per_address`
//! (or `failures_per_account`) failures the address (or login) is locked for `lockout`; each
//! further failure after a lockout locks it again for twice as long, up to `max_lockout`. A
//! locked address or login is refused before anything is looked up or hashed, whatever the
//! password, until its lock passes. A record is forgotten `max_lockout` after its last failure
//! or lock, and a successful login clears its login's and its address's records.
//!
//! The loop is single-threaded, so a "delay" is never a sleep: it is a refusal with the time
//! to wait. The hash budget bounds the loop time an attacker can take with guesses spread over
//! many addresses and logins: failed hashes are charged (the CPU time they took) to a bucket
//! that refills at `hash_share` of real time; while it is empty, logins that would need a hash
//! are refused without one. A login name and address that logged in successfully before are
//! exempt from the budget (not from the lockouts), so the phones already in use keep working
//! during such an attack.
//!
//! Everything lives in memory, bounded ([`MAX_RECORDS`] per table): it protects a running
//! server, and a restart forgets it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Entries per table (addresses, logins, trusted pairs); the oldest go first beyond it.
pub const MAX_RECORDS: usize = 10_000;
/// How long a successful login name + address pair stays exempt from the hash budget.
const TRUSTED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// The hash budget holds this many nanoseconds' worth of refill (5 s): a burst after a quiet time.
const BUDGET_BURST_NANOS: i128 = 5_000_000_000;

/// The limits, from the start-up configuration (`login-*` keys).
#[derive(Clone, Debug, PartialEq)]
pub struct ThrottleSettings {
    /// Failures from one address before it is locked.
    pub failures_per_address: u32,
    /// Failures for one login name (from any address) before it is locked.
    pub failures_per_account: u32,
    /// The first lock; every further one is twice as long.
    pub lockout: Duration,
    /// The longest lock, and how long a quiet record is remembered.
    pub max_lockout: Duration,
    /// Share of the loop's time (0–1) that failed password hashes may take.
    pub hash_share: f64,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            failures_per_address: 5,
            failures_per_account: 10,
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(3600),
            hash_share: 0.10,
        }
    }
}

/// The address key: IPv4 (also when mapped into IPv6) as it is, IPv6 by its /64 network,
/// since one IPv6 subscriber usually holds a whole /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    pub fn new(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    AddressKey(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

/// The login key: a digest of the login name as typed, trimmed and lower-cased. Known and
/// unknown names are counted alike (no account oracle), and a 12 KB name costs 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginKey([u8; 32]);

impl LoginKey {
    pub fn new(login: &str) -> LoginKey {
        LoginKey(Sha256::digest(login.trim().to_lowercase().as_bytes()).into())
    }
}

/// Why a login is refused without being checked, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address is locked after failed logins.
    AddressLocked(Duration),
    /// The login name is locked after failed logins.
    LoginLocked(Duration),
    /// Failed logins used up the hash budget.
    Busy(Duration),
}

impl Refusal {
    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        let wait = match self {
            Refusal::AddressLocked(d) | Refusal::LoginLocked(d) | Refusal::Busy(d) => d,
        };
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    }
}

/// A lock that a failure has just started, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    Address(Duration),
    Login(Duration),
}

/// Failures of one address or login name.
#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    /// Locks so far; after the first, every failure locks again, for longer.
    lockouts: u32,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

impl Record {
    fn remaining_lock(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Forgotten `max_lockout` after its last failure or the end of its lock.
    fn expired(&self, now: Instant, keep: Duration) -> bool {
        let quiet_since = self
            .locked_until
            .map_or(self.last_seen, |u| u.max(self.last_seen));
        now.checked_duration_since(quiet_since)
            .is_some_and(|quiet| quiet > keep)
    }
}

/// A bounded table of records keyed by address or login name.
struct Table<K> {
    records: HashMap<K, Record>,
}

impl<K: Eq + Hash + Copy> Table<K> {
    fn new() -> Table<K> {
        Table {
            records: HashMap::new(),
        }
    }

    fn remaining_lock(&self, key: &K, now: Instant) -> Option<Duration> {
        self.records.get(key)?.remaining_lock(now)
    }

    /// Counts a failure; returns the lock it starts, if any.
    fn fail(
        &mut self,
        key: K,
        limit: u32,
        settings: &ThrottleSettings,
        now: Instant,
    ) -> Option<Duration> {
        if let Some(record) = self.records.get(&key) {
            if record.expired(now, settings.max_lockout) {
                self.records.remove(&key);
            }
        }
        if !self.records.contains_key(&key) && self.records.len() >= MAX_RECORDS {
            self.make_room(now, settings.max_lockout);
        }
        let record = self.records.entry(key).or_insert(Record {
            failures: 0,
            lockouts: 0,
            locked_until: None,
            last_seen: now,
        });
        record.last_seen = now;
        if record.remaining_lock(now).is_some() {
            // Not reached through `Throttle` (locked logins are refused unchecked); a lock
            // already running is not extended by a failure that slipped past it.
            return None;
        }
        record.failures += 1;
        if record.failures < limit.max(1) && record.lockouts == 0 {
            return None;
        }
        let doubling = 2u32.saturating_pow(record.lockouts.min(31));
        let lock = settings
            .lockout
            .saturating_mul(doubling)
            .min(settings.max_lockout);
        record.lockouts = record.lockouts.saturating_add(1);
        record.failures = 0;
        record.locked_until = Some(now + lock);
        Some(lock)
    }

    fn clear(&mut self, key: &K) {
        self.records.remove(key);
    }

    /// Drops expired records, then the least recently active quarter.
    fn make_room(&mut self, now: Instant, keep: Duration) {
        self.records.retain(|_, record| !record.expired(now, keep));
        if self.records.len() < MAX_RECORDS {
            return;
        }
        let mut seen: Vec<Instant> = self.records.values().map(|r| r.last_seen).collect();
        seen.sort_unstable();
        let cutoff = seen[seen.len() / 4];
        self.records.retain(|_, record| record.last_seen > cutoff);
    }
}

/// Hashing time failed logins may still spend, refilled at `hash_share` of real time. Kept in
/// whole nanoseconds and parts per million, so the arithmetic is exact.
struct HashBudget {
    /// Nanoseconds of hashing available; negative while in debt after an expensive failure.
    balance: i128,
    /// The largest balance: [`BUDGET_BURST_SECONDS`] of refill.
    burst: i128,
    /// Refill per nanosecond of real time, in millionths.
    share_ppm: i128,
    updated: Instant,
}

impl HashBudget {
    fn new(share: f64, now: Instant) -> HashBudget {
        let share_ppm = ((share * 1e6).round() as i128).clamp(1, 1_000_000);
        let burst = BUDGET_BURST_NANOS * share_ppm / 1_000_000;
        HashBudget {
            balance: burst,
            burst,
            share_ppm,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_nanos() as i128;
        self.updated = self.updated.max(now);
        self.balance = (self.balance + elapsed * self.share_ppm / 1_000_000).min(self.burst);
    }

    fn charge(&mut self, spent: Duration) {
        self.balance -= spent.as_nanos() as i128;
    }

    /// The real time until the balance is positive again.
    fn wait(&self) -> Duration {
        let nanos = (-self.balance).max(0) * 1_000_000 / self.share_ppm;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The throttle of the request loop: lockouts, trusted pairs and the hash budget.
pub struct Throttle {
    settings: ThrottleSettings,
    addresses: Table<AddressKey>,
    logins: Table<LoginKey>,
    /// Login name + address pairs that logged in successfully: exempt from the hash budget.
    /// Keyed by the pair itself: both parts are small and fixed-size already, and this is
    /// updated on every accepted request, so no digest of them is computed.
    trusted: HashMap<(Option<AddressKey>, LoginKey), Instant>,
    budget: HashBudget,
}

impl Throttle {
    pub fn new(settings: ThrottleSettings, now: Instant) -> Throttle {
        Throttle {
            budget: HashBudget::new(settings.hash_share, now),
            settings,
            addresses: Table::new(),
            logins: Table::new(),
            trusted: HashMap::new(),
        }
    }

    /// Whether a login may be checked at all: `Err` while its address or login name is locked.
    pub fn check_locks(
        &self,
        address: Option<AddressKey>,
        login: LoginKey,
        now: Instant,
    ) -> Result<(), Refusal> {
        if let Some(left) = address.and_then(|a| self.addresses.remaining_lock(&a, now)) {
            return Err(Refusal::AddressLocked(left));
        }
        if let Some(left) = self.logins.remaining_lock(&login, now) {
            return Err(Refusal::LoginLocked(left));
        }
        Ok(())
    }

    /// Whether a password may be hashed now: `Err` while failed logins have used up the
    /// budget, unless this login name succeeded from this address before.
    pub fn check_budget(
        &mut self,
        address: Option<AddressKey>,
        login: LoginKey,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.budget.refill(now);
        if self.budget.balance > 0 {
            return Ok(());
        }
        let pair = (address, login);
        if self
            .trusted
            .get(&pair)
            .is_some_and(|at| now.saturating_duration_since(*at) < TRUSTED_FOR)
        {
            return Ok(());
        }
        Err(Refusal::Busy(self.budget.wait()))
    }

    /// Records a failed login that cost `hashing` of the loop's time; returns the locks it
    /// starts (address first).
    pub fn failed(
        &mut self,
        address: Option<AddressKey>,
        login: LoginKey,
        hashing: Duration,
        now: Instant,
    ) -> Vec<Locked> {
        self.budget.refill(now);
        self.budget.charge(hashing);
        let mut locked = Vec::new();
        if let Some(address) = address {
            let limit = self.settings.failures_per_address;
            if let Some(lock) = self.addresses.fail(address, limit, &self.settings, now) {
                locked.push(Locked::Address(lock));
            }
        }
        let limit = self.settings.failures_per_account;
        if let Some(lock) = self.logins.fail(login, limit, &self.settings, now) {
            locked.push(Locked::Login(lock));
        }
        locked
    }

    /// Records a successful login: its login name's and address's failures are forgotten,
    /// and the pair is exempt from the hash budget from now on.
    pub fn succeeded(&mut self, address: Option<AddressKey>, login: LoginKey, now: Instant) {
        if let Some(address) = address {
            self.addresses.clear(&address);
        }
        self.logins.clear(&login);
        let pair = (address, login);
        if !self.trusted.contains_key(&pair) && self.trusted.len() >= MAX_RECORDS {
            self.trusted
                .retain(|_, at| now.saturating_duration_since(*at) < TRUSTED_FOR);
            if self.trusted.len() >= MAX_RECORDS {
                let mut ages: Vec<Instant> = self.trusted.values().copied().collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 4];
                self.trusted.retain(|_, at| *at > cutoff);
            }
        }
        self.trusted.insert(pair, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            failures_per_address: 3,
            failures_per_account: 5,
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(60),
            hash_share: 0.10,
        }
    }

    fn ip(text: &str) -> Option<AddressKey> {
        Some(AddressKey::new(text.parse().unwrap()))
    }

    const HASH: Duration = Duration::from_millis(50);

    #[test]
    fn an_address_is_locked_after_its_failures_and_the_lock_doubles() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(settings(), t0);
        let addr = ip("192.0.2.1");
        for (n, login) in ["a", "b"].iter().enumerate() {
            assert!(throttle
                .failed(
                    addr,
                    LoginKey::new(login),
                    HASH,
                    t0 + Duration::from_secs(n as u64)
                )
                .is_empty());
        }
        let locks = throttle.failed(addr, LoginKey::new("c"), HASH, t0 + Duration::from_secs(2));
        assert_eq!(locks, vec![Locked::Address(Duration::from_secs(10))]);
        // Any login from that address is refused; another address is not.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(
            throttle.check_locks(addr, LoginKey::new("z"), later),
            Err(Refusal::AddressLocked(Duration::from_secs(7)))
        );
        assert_eq!(
            throttle.check_locks(ip("192.0.2.2"), LoginKey::new("z"), later),
            Ok(())
        );
        // After the lock, one more failure locks again, twice as long; then the cap.
        let after = t0 + Duration::from_secs(13);
        assert_eq!(
            throttle.check_locks(addr, LoginKey::new("z"), after),
            Ok(())
        );
        assert_eq!(
            throttle.failed(addr, LoginKey::new("d"), HASH, after),
            vec![Locked::Address(Duration::from_secs(20))]
        );
        let after = after + Duration::from_secs(21);
        assert_eq!(
            throttle.failed(addr, LoginKey::new("e"), HASH, after),
            vec![Locked::Address(Duration::from_secs(40))]
        );
        let after = after + Duration::from_secs(41);
        assert_eq!(
            throttle.failed(addr, LoginKey::new("f"), HASH, after),
            vec![Locked::Address(Duration::from_secs(60))]
        );
    }

    #[test]
    fn a_login_is_locked_whatever_the_address_and_success_clears_it() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(settings(), t0);
        let login = LoginKey::new("Ann@Example.com");
        for n in 0..4 {
            let addr = ip(&format!("198.51.100.{n}"));
            assert!(throttle.failed(addr, login, HASH, t0).is_empty());
        }
        assert_eq!(
            throttle.failed(ip("198.51.100.9"), login, HASH, t0),
            vec![Locked::Login(Duration::from_secs(10))]
        );
        // Case and surrounding spaces do not make another login name.
        assert_eq!(
            throttle.check_locks(ip("203.0.113.1"), LoginKey::new(" ann@example.COM"), t0),
            Err(Refusal::LoginLocked(Duration::from_secs(10)))
        );
        let after = t0 + Duration::from_secs(10);
        assert_eq!(
            throttle.check_locks(ip("203.0.113.1"), login, after),
            Ok(())
        );
        throttle.succeeded(ip("203.0.113.1"), login, after);
        // Forgotten: five fresh failures are needed again.
        for n in 0..4 {
            let addr = ip(&format!("203.0.113.{}", 10 + n));
            assert!(throttle.failed(addr, login, HASH, after).is_empty());
        }
    }

    #[test]
    fn quiet_records_are_forgotten_after_the_longest_lock() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(settings(), t0);
        let addr = ip("192.0.2.1");
        throttle.failed(addr, LoginKey::new("a"), HASH, t0);
        throttle.failed(addr, LoginKey::new("b"), HASH, t0);
        let later = t0 + Duration::from_secs(61);
        assert!(throttle
            .failed(addr, LoginKey::new("c"), HASH, later)
            .is_empty());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_network_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
    }

    #[test]
    fn the_hash_budget_refuses_when_spent_except_for_trusted_pairs() {
        let t0 = Instant::now();
        let mut settings = settings();
        settings.failures_per_address = 1000;
        settings.failures_per_account = 1000;
        let mut throttle = Throttle::new(settings, t0);
        let phone = ip("192.0.2.50");
        let ann = LoginKey::new("ann");
        throttle.succeeded(phone, ann, t0);
        // The burst is 0.5 s of hashing (10 % of 5 s): ten failed 50 ms hashes.
        for n in 0..10 {
            let addr = ip(&format!("203.0.113.{n}"));
            assert_eq!(
                throttle.check_budget(addr, LoginKey::new("x"), t0),
                Ok(()),
                "{n}"
            );
            throttle.failed(addr, LoginKey::new("x"), HASH, t0);
        }
        let refused = throttle.check_budget(ip("203.0.113.99"), LoginKey::new("x"), t0);
        assert!(matches!(refused, Err(Refusal::Busy(_))), "{refused:?}");
        // Ann's phone, which logged in from its address before, may still hash.
        assert_eq!(throttle.check_budget(phone, ann, t0), Ok(()));
        // Ann from elsewhere is not exempt.
        assert!(throttle.check_budget(ip("203.0.113.7"), ann, t0).is_err());
        // One more 50 ms failure puts the budget 50 ms in debt: 0.5 s of refill at 10 %.
        throttle.failed(phone, ann, HASH, t0);
        assert_eq!(
            throttle.check_budget(None, LoginKey::new("y"), t0),
            Err(Refusal::Busy(Duration::from_millis(500)))
        );
        assert_eq!(
            throttle.check_budget(None, LoginKey::new("y"), t0 + Duration::from_millis(501)),
            Ok(())
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(
            Refusal::Busy(Duration::from_millis(500)).retry_after_secs(),
            1
        );
        assert_eq!(Refusal::Busy(Duration::ZERO).retry_after_secs(), 1);
        assert_eq!(
            Refusal::LoginLocked(Duration::from_secs(60)).retry_after_secs(),
            60
        );
        assert_eq!(
            Refusal::AddressLocked(Duration::from_millis(60_001)).retry_after_secs(),
            61
        );
    }

    #[test]
    fn tables_stay_bounded() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(settings(), t0);
        for n in 0..(MAX_RECORDS as u32 + 500) {
            let addr = Some(AddressKey::new(IpAddr::from(n.to_be_bytes())));
            let now = t0 + Duration::from_millis(u64::from(n));
            throttle.failed(addr, LoginKey::new(&n.to_string()), Duration::ZERO, now);
            throttle.succeeded(None, LoginKey::new(&format!("ok{n}")), now);
        }
        assert!(throttle.addresses.records.len() <= MAX_RECORDS);
        assert!(throttle.logins.records.len() <= MAX_RECORDS);
        assert!(throttle.trusted.len() <= MAX_RECORDS);
    }
}
