//! Accounts: mail domains, users, login-name resolution and password hashing
//! (argon2id PHC strings).
//!
//! E-mail addresses and domains are stored lower-case; every lookup
//! lower-cases its input, so addresses are case-insensitive everywhere.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{folders, is_unique_violation, now, Store, StoreError};

/// Row id of a user.
pub type UserId = i64;

/// A mailbox owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-case `local@domain`.
    pub email: String,
    pub display_name: String,
    /// Lower-case domain part of `email`.
    pub domain: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created: i64,
}

/// Longest accepted password in bytes; far above anything a person types,
/// low enough that hashing cannot be abused.
const MAX_PASSWORD_BYTES: usize = 4096;
const MAX_DISPLAY_NAME_CHARS: usize = 256;
const MAX_LOCAL_PART_BYTES: usize = 64;
const MAX_DOMAIN_BYTES: usize = 253;
const MAX_LABEL_BYTES: usize = 63;

/// OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
const PRODUCTION_COST: (u32, u32, u32) = (19456, 2, 1);
/// Unit tests hash many passwords; the PHC string records its parameters,
/// so verification works for hashes made with either set.
#[cfg(test)]
const HASH_COST: (u32, u32, u32) = (8, 1, 1);
#[cfg(not(test))]
const HASH_COST: (u32, u32, u32) = PRODUCTION_COST;

/// Refuse to verify hashes that demand more memory than this (KiB), so a
/// tampered hash cannot exhaust a small router's RAM.
const MAX_VERIFY_MEMORY_KIB: u32 = 256 * 1024;

fn hasher() -> Result<Argon2<'static>, argon2::Error> {
    let (memory_kib, passes, lanes) = HASH_COST;
    let params = Params::new(memory_kib, passes, lanes, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn try_hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    let hasher = hasher().map_err(|e| StoreError::Invalid(format!("argon2 parameters: {e}")))?;
    hasher
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

/// Hashes `password` with argon2id and a random salt, returning the PHC
/// string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
///
/// Panics only for passwords longer than 4 GiB (argon2's own limit); the
/// store's own callers reject passwords over 4 KiB before hashing.
pub fn hash_password(password: &str) -> String {
    match try_hash_password(password) {
        Ok(hash) => hash,
        Err(e) => panic!("argon2 hashing failed: {e}"),
    }
}

/// A PHC string that no password matches, with the parameters of [`hash_password`]: checking
/// a password against it costs what checking against a real hash costs, so a login name that
/// does not exist takes as long as a wrong password. Made from a random salt and a random
/// output instead of by hashing, so it costs nothing to make (the server made one by hashing
/// at every start: half the start-up time). A password hashing to those random 32 bytes is a
/// 2^-256 chance.
pub fn decoy_hash() -> String {
    let (memory_kib, passes, lanes) = HASH_COST;
    let salt = SaltString::generate(&mut OsRng);
    let mut output = [0u8; 32];
    OsRng.fill_bytes(&mut output);
    let output = base64::engine::general_purpose::STANDARD_NO_PAD.encode(output);
    format!(
        "${}$v={}$m={memory_kib},t={passes},p={lanes}${}${output}",
        argon2::ARGON2ID_IDENT,
        Version::V0x13 as u32,
        salt.as_str()
    )
}

/// Checks `password` against a PHC string in constant time. Malformed or
/// unreasonably expensive hashes never verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT
        && parsed.algorithm != argon2::ARGON2I_IDENT
        && parsed.algorithm != argon2::ARGON2D_IDENT
    {
        return false;
    }
    match Params::try_from(&parsed) {
        Ok(params) if params.m_cost() <= MAX_VERIFY_MEMORY_KIB => {}
        _ => return false,
    }
    // Algorithm, version and cost are taken from the PHC string.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A syntactically checked, lower-cased e-mail address.
struct Address {
    local_part: String,
    domain: String,
}

impl Address {
    fn email(&self) -> String {
        format!("{}@{}", self.local_part, self.domain)
    }
}

/// Validates `email` as `local@domain`: no white space or control
/// characters, none of the characters that would break Basic auth (`:`) or
/// the `DOMAIN\user` login form (`\`), and a domain of one or more
/// non-empty labels (so `localhost` is accepted).
fn parse_address(email: &str) -> Result<Address, StoreError> {
    let invalid = |why: &str| StoreError::Invalid(format!("e-mail address {email:?}: {why}"));
    let lower = email.trim().to_lowercase();
    let Some((local_part, domain)) = lower.split_once('@') else {
        return Err(invalid("missing '@'"));
    };
    if local_part.is_empty() {
        return Err(invalid("empty name before '@'"));
    }
    if local_part.len() > MAX_LOCAL_PART_BYTES {
        return Err(invalid("name before '@' is too long"));
    }
    const FORBIDDEN_IN_LOCAL: &[char] = &[
        '\\', ':', '"', ',', ';', '<', '>', '(', ')', '[', ']', '/', '@',
    ];
    if local_part
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_IN_LOCAL.contains(&c))
    {
        return Err(invalid("forbidden character before '@'"));
    }
    if local_part.starts_with('.') || local_part.ends_with('.') || local_part.contains("..") {
        return Err(invalid("misplaced '.' before '@'"));
    }
    check_domain(domain).map_err(|why| invalid(&why))?;
    Ok(Address {
        local_part: local_part.to_string(),
        domain: domain.to_string(),
    })
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain".into());
    }
    if domain.len() > MAX_DOMAIN_BYTES {
        return Err("domain is too long".into());
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("empty label in domain".into());
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err("domain label is too long".into());
        }
        if !label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err("forbidden character in domain".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("domain label starts or ends with '-'".into());
        }
    }
    Ok(())
}

/// Checks a new password and hashes it (the slow part: call before taking the write lock).
pub(crate) fn checked_hash(password: &str) -> Result<String, StoreError> {
    check_password(password)?;
    try_hash_password(password)
}

fn check_password(password: &str) -> Result<(), StoreError> {
    if password.is_empty() {
        return Err(StoreError::Invalid("the password is empty".into()));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "the password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_display_name(name: &str) -> Result<(), StoreError> {
    super::check_text_field("the display name", name, MAX_DISPLAY_NAME_CHARS)
}

const USER_COLUMNS: &str =
    "SELECT u.id, u.email, u.display_name, d.name, u.password_hash, u.created \
     FROM users u JOIN domains d ON d.id = u.domain_id";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        display_name: row.get(2)?,
        domain: row.get(3)?,
        password_hash: row.get(4)?,
        created: row.get(5)?,
    })
}

fn query_users(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<User>, StoreError> {
    let mut statement = conn.prepare_cached(&format!("{USER_COLUMNS} {filter}"))?;
    let users = statement
        .query_map(args, user_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(users)
}

/// Inserts the domain if it is new and returns its id.
fn ensure_domain(conn: &Connection, domain: &str) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO domains (name, created) VALUES (?1, ?2)",
        params![domain, now()],
    )?;
    Ok(
        conn.query_row("SELECT id FROM domains WHERE name = ?1", [domain], |row| {
            row.get(0)
        })?,
    )
}

impl Store {
    /// Creates a user with its domain (if new) and default folder hierarchy,
    /// all in one transaction. A duplicate address is a
    /// [`StoreError::Conflict`]; a bad address or empty password is
    /// [`StoreError::Invalid`].
    pub fn add_user(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, StoreError> {
        let address = parse_address(email)?;
        check_display_name(display_name)?;
        check_password(password)?;
        // Hash before taking the write lock: it is the slow part.
        let password_hash = try_hash_password(password)?;
        let email = address.email();
        let created = now();

        let tx = self.write_transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
            [&email],
            |row| row.get(0),
        )?;
        if exists {
            return Err(StoreError::Conflict(format!("user {email} already exists")));
        }
        let domain_id = ensure_domain(&tx, &address.domain)?;
        let id = tx
            .query_row(
                "INSERT INTO users (domain_id, local_part, email, display_name, password_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![domain_id, address.local_part, email, display_name, password_hash, created],
                |row| row.get(0),
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("user {email} already exists"))
                } else {
                    StoreError::Sqlite(e)
                }
            })?;
        folders::create_default_hierarchy(&tx, id)?;
        tx.commit()?;
        Ok(User {
            id,
            email,
            display_name: display_name.to_string(),
            domain: address.domain,
            password_hash,
            created,
        })
    }

    /// Replaces the user's password (hashed with fresh salt).
    pub fn set_password(&self, email: &str, password: &str) -> Result<(), StoreError> {
        check_password(password)?;
        let password_hash = try_hash_password(password)?;
        let email = email.trim().to_lowercase();
        let changed = self.conn.execute(
            "UPDATE users SET password_hash = ?1 WHERE email = ?2",
            params![password_hash, email],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {email}")));
        }
        Ok(())
    }

    /// Replaces the user's display name.
    pub fn set_display_name(&self, email: &str, name: &str) -> Result<(), StoreError> {
        check_display_name(name)?;
        let email = email.trim().to_lowercase();
        let changed = self.conn.execute(
            "UPDATE users SET display_name = ?1 WHERE email = ?2",
            params![name, email],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {email}")));
        }
        Ok(())
    }

    /// Deletes the user and, through foreign-key cascades, all their devices,
    /// sync states, folders and tombstones. The domain stays.
    pub fn delete_user(&self, email: &str) -> Result<(), StoreError> {
        let email = email.trim().to_lowercase();
        let changed = self
            .conn
            .execute("DELETE FROM users WHERE email = ?1", [&email])?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {email}")));
        }
        Ok(())
    }

    /// All users, ordered by e-mail address.
    pub fn list_users(&self) -> Result<Vec<User>, StoreError> {
        query_users(&self.conn, "ORDER BY u.email", [])
    }

    /// The user with this address (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.trim().to_lowercase();
        Ok(query_users(&self.conn, "WHERE u.email = ?1", [&email])?
            .into_iter()
            .next())
    }

    /// The user with this row id.
    pub fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(query_users(&self.conn, "WHERE u.id = ?1", [id])?
            .into_iter()
            .next())
    }

    /// Resolves the user name of an HTTP Basic login:
    /// - `user@domain`: that address;
    /// - `DOMAIN\user`: `user@DOMAIN` if that domain exists, otherwise the
    ///   user whose domain's first label is `DOMAIN`, if exactly one matches;
    /// - `user`: the one user (in any domain) with that local part, if unique.
    ///
    /// Everything is case-insensitive. Ambiguous names resolve to `None`.
    pub fn find_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let login = login.trim().to_lowercase();
        if login.is_empty() {
            return Ok(None);
        }
        if login.contains('@') {
            return self.user_by_email(&login);
        }
        if let Some((domain, local_part)) = login.split_once('\\') {
            if local_part.is_empty() {
                return Ok(None);
            }
            if domain.is_empty() {
                return self.unique_user_with_local_part(local_part, |_| true);
            }
            let domain_exists: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM domains WHERE name = ?1)",
                [domain],
                |row| row.get(0),
            )?;
            if domain_exists {
                return self.user_by_email(&format!("{local_part}@{domain}"));
            }
            return self.unique_user_with_local_part(local_part, |user| {
                user.domain.split('.').next() == Some(domain)
            });
        }
        self.unique_user_with_local_part(&login, |_| true)
    }

    fn unique_user_with_local_part(
        &self,
        local_part: &str,
        accept: impl Fn(&User) -> bool,
    ) -> Result<Option<User>, StoreError> {
        let mut matching = query_users(&self.conn, "WHERE u.local_part = ?1", [local_part])?
            .into_iter()
            .filter(|user| accept(user));
        let first = matching.next();
        if matching.next().is_some() {
            return Ok(None);
        }
        Ok(first)
    }

    /// All domain names, sorted.
    pub fn list_domains(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT name FROM domains ORDER BY name")?;
        let domains = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(domains)
    }

    /// Registers a domain without users. An existing domain is a
    /// [`StoreError::Conflict`].
    pub fn add_domain(&self, name: &str) -> Result<(), StoreError> {
        let domain = name.trim().to_lowercase();
        check_domain(&domain)
            .map_err(|why| StoreError::Invalid(format!("domain {domain:?}: {why}")))?;
        let inserted = self.conn.execute(
            "INSERT OR IGNORE INTO domains (name, created) VALUES (?1, ?2)",
            params![domain, now()],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "domain {domain} already exists"
            )));
        }
        Ok(())
    }

    /// Removes a domain that has no users; one with users is a
    /// [`StoreError::Conflict`].
    pub fn delete_domain(&self, name: &str) -> Result<(), StoreError> {
        let domain = name.trim().to_lowercase();
        let tx = self.write_transaction()?;
        let users: i64 = tx.query_row(
            "SELECT count(*) FROM users u JOIN domains d ON d.id = u.domain_id WHERE d.name = ?1",
            [&domain],
            |row| row.get(0),
        )?;
        if users > 0 {
            return Err(StoreError::Conflict(format!(
                "domain {domain} still has {users} user(s)"
            )));
        }
        let deleted = tx.execute("DELETE FROM domains WHERE name = ?1", [&domain])?;
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("domain {domain}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether the domain exists (case-insensitive).
    pub fn domain_exists(&self, name: &str) -> Result<bool, StoreError> {
        let domain = name.trim().to_lowercase();
        Ok(self
            .conn
            .query_row("SELECT 1 FROM domains WHERE name = ?1", [&domain], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::open_in_memory().unwrap()
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store
            .connection()
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn add_user_normalises_and_creates_domain_and_folders() {
        let store = store();
        let user = store
            .add_user("  Alice@Example.COM ", "Alice A.", "secret")
            .unwrap();
        assert_eq!(user.email, "alice@example.com");
        assert_eq!(user.domain, "example.com");
        assert_eq!(user.display_name, "Alice A.");
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(verify_password("secret", &user.password_hash));
        assert_eq!(store.list_domains().unwrap(), ["example.com"]);
        assert_eq!(store.folders_of(user.id).unwrap().len(), 10);
        let fetched = store.user_by_email("ALICE@example.com").unwrap().unwrap();
        assert_eq!(fetched, user);
        assert_eq!(store.user_by_id(user.id).unwrap().unwrap(), user);
    }

    #[test]
    fn duplicate_user_is_conflict_and_leaves_nothing_behind() {
        let store = store();
        store.add_user("bob@example.com", "Bob", "pw").unwrap();
        let folders_before = count(&store, "SELECT count(*) FROM folders");
        assert!(matches!(
            store.add_user("BOB@example.com", "Bob 2", "pw"),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(count(&store, "SELECT count(*) FROM users"), 1);
        assert_eq!(
            count(&store, "SELECT count(*) FROM folders"),
            folders_before
        );
    }

    #[test]
    fn invalid_input_is_rejected() {
        let store = store();
        for bad in [
            "",
            "nobody",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@exa mple.com",
            "a@@example.com",
            "a:b@example.com",
            "dom\\a@example.com",
            "a@example..com",
            "a@.example.com",
            "a@-example.com",
            ".a@example.com",
        ] {
            assert!(
                matches!(store.add_user(bad, "", "pw"), Err(StoreError::Invalid(_))),
                "{bad:?} should be invalid"
            );
        }
        assert!(matches!(
            store.add_user("a@example.com", "", ""),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.add_user("a@example.com", "bad\nname", "pw"),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(count(&store, "SELECT count(*) FROM users"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM domains"), 0);
        // Single-label domains and plus addressing are fine.
        store.add_user("root@localhost", "", "pw").unwrap();
        store
            .add_user("first.last+tag@mail.example.org", "", "pw")
            .unwrap();
    }

    #[test]
    fn set_password_and_display_name() {
        let store = store();
        store.add_user("carol@example.com", "Carol", "old").unwrap();
        store.set_password("Carol@Example.com", "new").unwrap();
        let user = store.user_by_email("carol@example.com").unwrap().unwrap();
        assert!(verify_password("new", &user.password_hash));
        assert!(!verify_password("old", &user.password_hash));
        assert!(matches!(
            store.set_password("carol@example.com", ""),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.set_password("nobody@example.com", "x"),
            Err(StoreError::NotFound(_))
        ));
        store
            .set_display_name("carol@example.com", "Carol C.")
            .unwrap();
        assert_eq!(
            store
                .user_by_email("carol@example.com")
                .unwrap()
                .unwrap()
                .display_name,
            "Carol C."
        );
        assert!(matches!(
            store.set_display_name("nobody@example.com", "x"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn delete_user_cascades_but_keeps_domain_and_other_users() {
        let store = store();
        let dave = store.add_user("dave@example.com", "Dave", "pw").unwrap();
        let erin = store.add_user("erin@example.com", "Erin", "pw").unwrap();
        let device = store
            .record_device(
                dave.id,
                &super::super::DeviceSeen {
                    device_id: "PHONE1",
                    device_type: "iPhone",
                    user_agent: "Apple-iPhone/1",
                    protocol_version: "16.1",
                    now: 1000,
                },
            )
            .unwrap();
        store
            .advance_sync_key(device.id, "", None, 1, b"x")
            .unwrap();
        let extra = store
            .create_folder(dave.id, None, "Projects", FolderType::UserMail)
            .unwrap();
        store.delete_folder(dave.id, extra.id).unwrap();

        store.delete_user("DAVE@example.com").unwrap();
        assert!(store.user_by_email("dave@example.com").unwrap().is_none());
        assert_eq!(count(&store, "SELECT count(*) FROM devices"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM sync_states"), 0);
        assert_eq!(count(&store, "SELECT count(*) FROM folder_tombstones"), 0);
        assert_eq!(
            count(
                &store,
                &format!("SELECT count(*) FROM folders WHERE user_id = {}", dave.id)
            ),
            0
        );
        assert_eq!(store.folders_of(erin.id).unwrap().len(), 10);
        assert_eq!(store.list_domains().unwrap(), ["example.com"]);
        assert!(matches!(
            store.delete_user("dave@example.com"),
            Err(StoreError::NotFound(_))
        ));
    }

    use super::super::FolderType;

    #[test]
    fn list_users_is_sorted_by_email() {
        let store = store();
        store.add_user("zed@b.example", "", "pw").unwrap();
        store.add_user("amy@c.example", "", "pw").unwrap();
        store.add_user("bea@a.example", "", "pw").unwrap();
        let emails: Vec<String> = store
            .list_users()
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(emails, ["amy@c.example", "bea@a.example", "zed@b.example"]);
        assert_eq!(
            store.list_domains().unwrap(),
            ["a.example", "b.example", "c.example"]
        );
    }

    #[test]
    fn find_login_forms() {
        let store = store();
        let frank = store.add_user("frank@corp.example.com", "", "pw").unwrap();
        let gina_corp = store.add_user("gina@corp.example.com", "", "pw").unwrap();
        let gina_home = store.add_user("gina@home.example.net", "", "pw").unwrap();
        let hans = store.add_user("hans@localhost", "", "pw").unwrap();

        let found = |login: &str| store.find_login(login).unwrap().map(|u| u.id);

        assert_eq!(found("Frank@Corp.Example.com"), Some(frank.id));
        assert_eq!(found("nobody@corp.example.com"), None);
        // DOMAIN\user where DOMAIN is a full existing domain.
        assert_eq!(found("corp.example.com\\gina"), Some(gina_corp.id));
        assert_eq!(found("LOCALHOST\\hans"), Some(hans.id));
        assert_eq!(found("localhost\\frank"), None);
        // DOMAIN\user where DOMAIN is the first label (NetBIOS style).
        assert_eq!(found("CORP\\frank"), Some(frank.id));
        assert_eq!(found("home\\gina"), Some(gina_home.id));
        assert_eq!(found("corp\\gina"), Some(gina_corp.id));
        assert_eq!(found("other\\frank"), None);
        assert_eq!(found("corp\\"), None);
        assert_eq!(found("\\frank"), Some(frank.id));
        // Bare user: only when unique across all domains.
        assert_eq!(found("frank"), Some(frank.id));
        assert_eq!(found("HANS"), Some(hans.id));
        assert_eq!(found("gina"), None);
        assert_eq!(found("nobody"), None);
        assert_eq!(found(""), None);
    }

    #[test]
    fn first_label_form_is_ambiguous_across_domains() {
        let store = store();
        store.add_user("ivan@corp.example.com", "", "pw").unwrap();
        store.add_user("ivan@corp.example.org", "", "pw").unwrap();
        assert!(store.find_login("corp\\ivan").unwrap().is_none());
        assert!(store.find_login("ivan").unwrap().is_none());
        assert!(store
            .find_login("corp.example.org\\ivan")
            .unwrap()
            .is_some());
    }

    #[test]
    fn the_decoy_hash_has_the_real_parameters_and_matches_no_password() {
        let decoy = decoy_hash();
        let real = hash_password("correct horse");
        let parameters = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(parameters(&decoy), parameters(&real));
        let parsed = PasswordHash::new(&decoy).expect("a well-formed PHC string");
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
        for password in ["", "correct horse", "password"] {
            assert!(!verify_password(password, &decoy));
        }
        assert_ne!(decoy, decoy_hash(), "salt and output are random");
    }

    #[test]
    fn password_verification() {
        let hash = hash_password("correct horse");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("", &hash));
        assert!(!verify_password("correct horse", ""));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(!verify_password(
            "correct horse",
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$"
        ));
        let truncated = &hash[..hash.len() - 4];
        assert!(!verify_password("correct horse", truncated));
        // Two hashes of one password differ (random salt) and both verify.
        let again = hash_password("correct horse");
        assert_ne!(hash, again);
        assert!(verify_password("correct horse", &again));
    }

    #[test]
    fn hashes_carry_their_parameters() {
        // A hash made with different parameters than the current ones still
        // verifies, because the PHC string records them.
        let salt = SaltString::generate(&mut OsRng);
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(16, 3, 2, None).unwrap(),
        );
        let phc = other.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(phc.contains("m=16,t=3,p=2"));
        assert!(verify_password("pw", &phc));
        assert!(!verify_password("px", &phc));
        // Production parameters are the OWASP argon2id recommendation.
        assert_eq!(PRODUCTION_COST, (19456, 2, 1));
    }

    #[test]
    fn overly_expensive_hash_is_refused() {
        let phc = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(!verify_password("pw", phc));
    }

    #[test]
    fn domains_can_be_added_and_removed_when_empty() {
        let store = store();
        store.add_domain("Example.NET").unwrap();
        assert!(store.domain_exists("example.net").unwrap());
        assert!(matches!(
            store.add_domain("example.net"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.add_domain("bad domain"),
            Err(StoreError::Invalid(_))
        ));
        store.add_user("jo@example.net", "", "pw").unwrap();
        assert!(matches!(
            store.delete_domain("example.net"),
            Err(StoreError::Conflict(_))
        ));
        store.delete_user("jo@example.net").unwrap();
        store.delete_domain("example.net").unwrap();
        assert!(!store.domain_exists("example.net").unwrap());
        assert!(matches!(
            store.delete_domain("example.net"),
            Err(StoreError::NotFound(_))
        ));
    }
}
