//! Start-up settings: the `key = value` file (`/etc/easd/easd.conf` unless `--config FILE`
//! names another) and the defaults that apply when a key is absent.
//!
//! The format is deliberately tiny: one `key = value` per line, `#` starts a comment line,
//! blank lines are ignored. There are no inline comments and no quoting, so a value is
//! everything after the first `=` (trimmed). An unknown key, a key given twice or a bad value
//! is an error naming the file and line: a typo must stop the server, not be ignored.
//! `etc/easd.conf` in the source tree documents every key with its default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The settings file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG_PATH: &str = "/etc/easd/easd.conf";

/// The database location when easd runs as root.
const SYSTEM_DATABASE: &str = "/var/lib/easd/easd.db";

/// The path of the ActiveSync endpoint, appended to the public URL.
const ACTIVESYNC_PATH: &str = "/Microsoft-Server-ActiveSync";

/// The system's CA bundle (Debian's and OpenWrt's `ca-certificates`).
pub const DEFAULT_SMIME_TRUST_STORE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Every key the settings file accepts, in the order `etc/easd.conf` documents them.
pub const KEYS: &[&str] = &[
    "database",
    "https",
    "http",
    "allow-plain-http-remote",
    "cert",
    "key",
    "hostname",
    "public-url",
    "max-body",
    "max-connections",
    "idle-timeout",
    "log-level",
    "debug-wire",
    "cache-kib",
    "autodiscover-imap",
    "autodiscover-smtp",
    "submission-command",
    "notify",
    "admin-email",
    "smime-trust-store",
    "login-failures",
    "login-failures-account",
    "login-lockout",
    "login-lockout-max",
    "login-hash-share",
];

/// The start-up settings of one easd process.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file these settings came from; `None` when only defaults apply.
    pub config_path: Option<PathBuf>,
    /// `database`: the SQLite file.
    pub database: PathBuf,
    /// `https`: TLS listeners; empty means no HTTPS listener.
    pub https: Vec<SocketAddr>,
    /// `http`: plain-HTTP listeners, meant for a reverse proxy on the same host.
    pub http: Vec<SocketAddr>,
    /// `allow-plain-http-remote`: permit plain HTTP on a non-loopback address (Basic auth
    /// would then cross the network in clear text).
    pub allow_plain_http_remote: bool,
    /// `cert`: PEM certificate chain; `None` → a self-signed one next to the database.
    pub cert: Option<PathBuf>,
    /// `key`: PEM private key; set together with `cert`.
    pub key: Option<PathBuf>,
    /// `hostname`: the name clients use; goes into the self-signed certificate and the
    /// autodiscover URLs.
    pub hostname: String,
    /// `public-url`: the URL clients reach easd at, when that is not `https://hostname:port`
    /// (reverse proxy, port mapping). Stored without a trailing `/`.
    pub public_url: Option<String>,
    /// `max-body`: the largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// `max-connections`: open connections beyond this are refused.
    pub max_connections: usize,
    /// `idle-timeout`: seconds a connection may sit idle between requests.
    pub idle_timeout_secs: u64,
    /// `log-level`.
    pub log_level: log::LevelFilter,
    /// `debug-wire`: log every request and response decoded to XML (never passwords).
    pub debug_wire: bool,
    /// `cache-kib`: the SQLite page cache, in KiB.
    pub cache_kib: u32,
    /// `autodiscover-imap`: `host:port[:ssl|:starttls|:plain]` advertised to Outlook-schema
    /// autodiscover clients.
    pub autodiscover_imap: Option<String>,
    /// `autodiscover-smtp`: like `autodiscover-imap`, for outgoing mail.
    pub autodiscover_smtp: Option<String>,
    /// `submission-command`: the program (and its first arguments, split on whitespace, no
    /// shell) that hands outgoing mail for other servers to the MTA. easd appends
    /// `-f <sender> -- <recipients…>` and writes the message to its standard input.
    pub submission_command: Vec<String>,
    /// `notify`: the loopback UDP address where the server hears change notifications (one
    /// datagram = one user's e-mail address) and where every easd writer sends them.
    pub notify: SocketAddr,
    /// `admin-email`: the administrator's address, in Cc of the notices easd files into a
    /// user's Inbox (device refused by the security policy, remote wipe confirmed).
    pub admin_email: Option<String>,
    /// `smime-trust-store`: the CA certificates (a PEM bundle file, or a directory of `.pem`
    /// / `.crt` files) that ValidateCert checks S/MIME signers' chains against.
    pub smime_trust_store: PathBuf,
    /// `login-failures`: failed logins from one client address before it is refused for a while.
    pub login_failures: u32,
    /// `login-failures-account`: failed logins for one login name (from anywhere) before it is
    /// refused for a while.
    pub login_failures_account: u32,
    /// `login-lockout`: seconds of the first refusal; each further one is twice as long.
    pub login_lockout_secs: u64,
    /// `login-lockout-max`: seconds of the longest refusal.
    pub login_lockout_max_secs: u64,
    /// `login-hash-share`: percent of the request loop's time that failed logins may spend
    /// hashing passwords.
    pub login_hash_share_percent: f64,
}

/// Why the settings could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A line that is neither blank, a comment, nor `key = value`.
    Syntax { origin: PathBuf, line: usize },
    UnknownKey {
        origin: PathBuf,
        line: usize,
        key: String,
    },
    DuplicateKey {
        origin: PathBuf,
        line: usize,
        key: String,
    },
    BadValue {
        origin: PathBuf,
        line: usize,
        key: &'static str,
        reason: String,
    },
    /// The settings are individually valid but do not fit together.
    Inconsistent { origin: PathBuf, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            ConfigError::Syntax { origin, line } => write!(
                f,
                "{}:{line}: expected `key = value`, a `#` comment or a blank line",
                origin.display()
            ),
            ConfigError::UnknownKey { origin, line, key } => {
                write!(f, "{}:{line}: unknown key {key:?}", origin.display())
            }
            ConfigError::DuplicateKey { origin, line, key } => {
                write!(f, "{}:{line}: key {key:?} is set twice", origin.display())
            }
            ConfigError::BadValue {
                origin,
                line,
                key,
                reason,
            } => write!(
                f,
                "{}:{line}: bad value for {key}: {reason}",
                origin.display()
            ),
            ConfigError::Inconsistent { origin, reason } => {
                write!(f, "{}: {reason}", origin.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The facts about the running system that the defaults depend on.
struct Environment {
    is_root: bool,
    xdg_data_home: Option<PathBuf>,
    home: Option<PathBuf>,
    hostname: String,
}

impl Environment {
    fn current() -> Environment {
        let absolute_var = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        Environment {
            is_root: effective_uid_is_root(),
            xdg_data_home: absolute_var("XDG_DATA_HOME"),
            home: absolute_var("HOME"),
            hostname: system_hostname(),
        }
    }
}

/// Whether the effective UID is root. A system call, not `/proc/self/status`: every CLI
/// command (an `easd deliver` per message) loads the configuration.
fn effective_uid_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The kernel's host name (uname), when it is a usable one; else `localhost`.
fn system_hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer.
    let read = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0);
    read.then_some(end)
        .flatten()
        .and_then(|end| std::str::from_utf8(&buffer[..end]).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| validate_hostname(name).is_ok())
        .unwrap_or_else(|| "localhost".to_string())
}

impl Config {
    /// The settings that apply when the file sets nothing.
    pub fn defaults() -> Config {
        Self::defaults_for(&Environment::current())
    }

    fn defaults_for(env: &Environment) -> Config {
        let database = if env.is_root {
            PathBuf::from(SYSTEM_DATABASE)
        } else if let Some(data) = &env.xdg_data_home {
            data.join("easd").join("easd.db")
        } else if let Some(home) = &env.home {
            home.join(".local/share/easd/easd.db")
        } else {
            // No usable home directory: keep the database in the working directory.
            PathBuf::from("easd.db")
        };
        Config {
            config_path: None,
            database,
            https: vec![SocketAddr::from(([0, 0, 0, 0], 8443))],
            http: Vec::new(),
            allow_plain_http_remote: false,
            cert: None,
            key: None,
            hostname: env.hostname.clone(),
            public_url: None,
            max_body_bytes: 32 * 1024 * 1024,
            max_connections: 10_000,
            idle_timeout_secs: 120,
            log_level: log::LevelFilter::Info,
            debug_wire: false,
            cache_kib: 2048,
            autodiscover_imap: None,
            autodiscover_smtp: None,
            submission_command: vec!["/usr/sbin/sendmail".to_string(), "-i".to_string()],
            notify: SocketAddr::from(([127, 0, 0, 1], DEFAULT_NOTIFY_PORT)),
            admin_email: None,
            smime_trust_store: PathBuf::from(DEFAULT_SMIME_TRUST_STORE),
            login_failures: 5,
            login_failures_account: 10,
            login_lockout_secs: 60,
            login_lockout_max_secs: 3600,
            login_hash_share_percent: 10.0,
        }
    }

    /// Loads the settings file `path`, or — without a path — [`DEFAULT_CONFIG_PATH`] if it
    /// exists and the defaults otherwise.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(path) => path,
            None => {
                let default = Path::new(DEFAULT_CONFIG_PATH);
                if !default.exists() {
                    return Ok(Self::defaults());
                }
                default
            }
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses settings text; `origin` names the file in errors and becomes `config_path`.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        Self::parse_with(text, origin, Self::defaults())
    }

    fn parse_with(text: &str, origin: &Path, mut config: Config) -> Result<Config, ConfigError> {
        config.config_path = Some(origin.to_path_buf());
        let mut seen: Vec<&'static str> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (raw_key, raw_value) = trimmed.split_once('=').ok_or(ConfigError::Syntax {
                origin: origin.to_path_buf(),
                line,
            })?;
            let raw_key = raw_key.trim();
            let value = raw_value.trim();
            let key = KEYS
                .iter()
                .copied()
                .find(|k| *k == raw_key)
                .ok_or_else(|| ConfigError::UnknownKey {
                    origin: origin.to_path_buf(),
                    line,
                    key: raw_key.to_string(),
                })?;
            if seen.contains(&key) {
                return Err(ConfigError::DuplicateKey {
                    origin: origin.to_path_buf(),
                    line,
                    key: key.to_string(),
                });
            }
            seen.push(key);
            config
                .apply(key, value)
                .map_err(|reason| ConfigError::BadValue {
                    origin: origin.to_path_buf(),
                    line,
                    key,
                    reason,
                })?;
        }
        config
            .validate()
            .map_err(|reason| ConfigError::Inconsistent {
                origin: origin.to_path_buf(),
                reason,
            })?;
        Ok(config)
    }

    /// Sets one key; the error is the reason the value is bad.
    fn apply(&mut self, key: &'static str, value: &str) -> Result<(), String> {
        match key {
            "database" => self.database = parse_absolute_path(value)?,
            "https" => self.https = parse_listeners(value)?,
            "http" => self.http = parse_listeners(value)?,
            "allow-plain-http-remote" => self.allow_plain_http_remote = parse_bool(value)?,
            "cert" => self.cert = Some(parse_absolute_path(value)?),
            "key" => self.key = Some(parse_absolute_path(value)?),
            "hostname" => {
                validate_hostname(value)?;
                self.hostname = value.to_string();
            }
            "public-url" => self.public_url = Some(parse_public_url(value)?),
            "max-body" => self.max_body_bytes = parse_size(value)?,
            "max-connections" => self.max_connections = parse_positive(value)?,
            "idle-timeout" => self.idle_timeout_secs = parse_positive(value)?,
            "log-level" => self.log_level = parse_log_level(value)?,
            "debug-wire" => self.debug_wire = parse_bool(value)?,
            "cache-kib" => self.cache_kib = parse_positive(value)?,
            "autodiscover-imap" => self.autodiscover_imap = parse_protocol("IMAP", value)?,
            "autodiscover-smtp" => self.autodiscover_smtp = parse_protocol("SMTP", value)?,
            "submission-command" => self.submission_command = parse_command(value)?,
            "notify" => self.notify = parse_notify(value)?,
            "admin-email" => self.admin_email = Some(parse_admin_email(value)?),
            "smime-trust-store" => self.smime_trust_store = parse_absolute_path(value)?,
            "login-failures" => self.login_failures = parse_positive(value)?,
            "login-failures-account" => self.login_failures_account = parse_positive(value)?,
            "login-lockout" => self.login_lockout_secs = parse_positive(value)?,
            "login-lockout-max" => self.login_lockout_max_secs = parse_positive(value)?,
            "login-hash-share" => self.login_hash_share_percent = parse_percent(value)?,
            other => return Err(format!("{other} has no handler")),
        }
        Ok(())
    }

    /// Checks the rules that span several keys.
    fn validate(&self) -> Result<(), String> {
        if self.https.is_empty() && self.http.is_empty() {
            return Err("no listener: set `https` or `http`".to_string());
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err("`cert` and `key` must be set together".to_string());
        }
        if self.login_lockout_max_secs < self.login_lockout_secs {
            return Err("`login-lockout-max` must not be shorter than `login-lockout`".to_string());
        }
        if !self.allow_plain_http_remote {
            if let Some(remote) = self.http.iter().find(|a| !a.ip().is_loopback()) {
                return Err(format!(
                    "plain HTTP on non-loopback address {remote} would send passwords in clear \
                     text; listen on 127.0.0.1/[::1] or set `allow-plain-http-remote = true`"
                ));
            }
        }
        Ok(())
    }

    /// The certificate and key files: the configured ones, or the self-signed pair kept next
    /// to the database.
    pub fn cert_paths(&self) -> (PathBuf, PathBuf) {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            _ => {
                let dir = self
                    .database
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                (dir.join("easd-cert.pem"), dir.join("easd-key.pem"))
            }
        }
    }

    /// The URL clients reach easd at, without a trailing `/`: `public-url`, or derived from
    /// the host name and the first HTTPS listener (port 443 left out).
    pub fn public_base_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        match self.https.first().map(SocketAddr::port) {
            Some(443) | None => format!("https://{}", self.hostname),
            Some(port) => format!("https://{}:{port}", self.hostname),
        }
    }

    /// The ActiveSync endpoint URL that autodiscover hands out.
    pub fn mobilesync_url(&self) -> String {
        format!("{}{ACTIVESYNC_PATH}", self.public_base_url())
    }
}

/// `admin-email`: one plain address, `local@domain`.
fn parse_admin_email(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
    }) && !value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
    if valid {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not an e-mail address"))
    }
}

/// The default UDP port of change notifications (`notify`).
pub const DEFAULT_NOTIFY_PORT: u16 = 2325;

/// A loopback `ip:port` with a real port: writers must know where to send.
fn parse_notify(value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value
        .parse()
        .map_err(|_| format!("{value:?} is not an ip:port address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address (notifications never leave this host)"
        ));
    }
    if addr.port() == 0 {
        return Err("the port must not be 0: writers need to know it".to_string());
    }
    Ok(addr)
}

/// A program with arguments, split on whitespace; the program must be an absolute path so
/// that what runs does not depend on the server's `PATH`.
fn parse_command(value: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
    match words.first() {
        Some(program) if Path::new(program).is_absolute() => Ok(words),
        _ => Err(format!(
            "{value:?} does not start with an absolute program path"
        )),
    }
}

fn parse_absolute_path(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if value.is_empty() || !path.is_absolute() {
        return Err(format!("{value:?} is not an absolute path"));
    }
    Ok(path)
}

/// A comma-separated list of `IP:port`; an empty value is the empty list.
fn parse_listeners(value: &str) -> Result<Vec<SocketAddr>, String> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(str::trim)
        .map(|item| {
            item.parse::<SocketAddr>().map_err(|_| {
                format!("{item:?} is not an address such as 0.0.0.0:8443 or [::]:8443")
            })
        })
        .collect()
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

/// A byte count with an optional binary suffix: `K`, `M` or `G` (case-insensitive).
fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || format!("{value:?} is not a size such as 512K, 32M or 1G");
    let (digits, multiplier) = match value.char_indices().last() {
        Some((at, suffix)) if suffix.is_ascii_alphabetic() => {
            let multiplier = match suffix.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(bad()),
            };
            (value.get(..at).unwrap_or_default(), multiplier)
        }
        _ => (value, 1),
    };
    let number: u64 = digits.trim().parse().map_err(|_| bad())?;
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{value:?} is too large"))?;
    if bytes == 0 {
        return Err("must be greater than zero".to_string());
    }
    Ok(bytes)
}

fn parse_positive<T>(value: &str) -> Result<T, String>
where
    T: std::str::FromStr + Default + PartialEq,
{
    match value.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        Ok(_) => Err("must be greater than zero".to_string()),
        Err(_) => Err(format!("{value:?} is not a whole number")),
    }
}

/// A percentage above 0 and at most 100; decimals allowed (`0.5`).
fn parse_percent(value: &str) -> Result<f64, String> {
    match value.trim_end_matches('%').trim().parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!(
            "{value:?} is not a percentage above 0 and at most 100"
        )),
    }
}

fn parse_log_level(value: &str) -> Result<log::LevelFilter, String> {
    value
        .parse::<log::LevelFilter>()
        .map_err(|_| format!("{value:?} is not one of off, error, warn, info, debug, trace"))
}

fn validate_hostname(value: &str) -> Result<(), String> {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if value.len() > 253 || !value.split('.').all(valid_label) {
        return Err(format!("{value:?} is not a host name"));
    }
    Ok(())
}

/// `https://host[:port][/path]`, stored without a trailing `/`.
fn parse_public_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| format!("{value:?} does not start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#'])
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{value:?} is not a URL such as https://mail.example.com"
        ));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// An autodiscover protocol entry; an empty value means none.
fn parse_protocol(kind: &str, value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    ProtocolEntry::from_spec(kind, value)?;
    Ok(Some(value.to_string()))
}

/// Connection security of an extra protocol entry (MS-OXDSCLI `Encryption` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// No encryption.
    None,
    /// TLS from the first byte (IMAPS 993, SMTPS 465, POP3S 995).
    Ssl,
    /// STARTTLS on the plain port.
    Tls,
}

/// A mail server advertised next to ActiveSync in Outlook-schema responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolEntry {
    /// "IMAP", "SMTP" or "POP3".
    pub kind: String,
    pub server: String,
    pub port: u16,
    pub encryption: Encryption,
    /// The login name is the whole e-mail address (else its local part).
    pub login_name_is_email: bool,
}

impl ProtocolEntry {
    /// Parses the configuration form `host:port[:ssl|:starttls|:plain]`. Without a security
    /// word, the well-known TLS ports (993, 995, 465) mean SSL and every other port STARTTLS.
    /// IPv6 hosts are written in brackets: `[2001:db8::1]:993`.
    pub fn from_spec(kind: &str, spec: &str) -> Result<ProtocolEntry, String> {
        let kind = kind.to_ascii_uppercase();
        if !matches!(kind.as_str(), "IMAP" | "SMTP" | "POP3") {
            return Err(format!("unknown protocol {kind:?}"));
        }
        let bad = || format!("{spec:?} is not host:port[:ssl|:starttls|:plain]");
        let (address, explicit) = match spec.rsplit_once(':') {
            Some((address, word)) if word.chars().all(|c| c.is_ascii_alphabetic()) => {
                let encryption = match word.to_ascii_lowercase().as_str() {
                    "ssl" | "tls" => Encryption::Ssl,
                    "starttls" => Encryption::Tls,
                    "plain" | "none" => Encryption::None,
                    _ => return Err(bad()),
                };
                (address, Some(encryption))
            }
            _ => (spec, None),
        };
        let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && if let Some(inner) = host.strip_prefix('[') {
                inner
                    .strip_suffix(']')
                    .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
            } else {
                host.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            };
        if port == 0 || !host_ok {
            return Err(bad());
        }
        let encryption = explicit.unwrap_or(match port {
            993 | 995 | 465 => Encryption::Ssl,
            _ => Encryption::Tls,
        });
        Ok(ProtocolEntry {
            kind,
            server: host.to_string(),
            port,
            encryption,
            login_name_is_email: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../etc/easd.conf");

    fn env(is_root: bool) -> Environment {
        Environment {
            is_root,
            xdg_data_home: None,
            home: Some(PathBuf::from("/home/alice")),
            hostname: "nas".to_string(),
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_with(
            text,
            Path::new("/test.conf"),
            Config::defaults_for(&env(false)),
        )
    }

    /// Turns every `# key = value` line of the sample into `key = value`.
    fn uncomment_settings(sample: &str) -> String {
        sample
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if setting_key(rest).is_some() => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The key of a `key = value` line (value possibly empty); `None` for prose.
    fn setting_key(text: &str) -> Option<&str> {
        let (key, _) = text.split_once('=')?;
        let key = key.strip_suffix(' ')?;
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '-')).then_some(key)
    }

    #[test]
    fn defaults_depend_on_the_user() {
        let root = Config::defaults_for(&env(true));
        assert_eq!(root.database, PathBuf::from("/var/lib/easd/easd.db"));
        let user = Config::defaults_for(&env(false));
        assert_eq!(
            user.database,
            PathBuf::from("/home/alice/.local/share/easd/easd.db")
        );
        let xdg = Config::defaults_for(&Environment {
            xdg_data_home: Some(PathBuf::from("/data")),
            ..env(false)
        });
        assert_eq!(xdg.database, PathBuf::from("/data/easd/easd.db"));
        let homeless = Config::defaults_for(&Environment {
            home: None,
            ..env(false)
        });
        assert_eq!(homeless.database, PathBuf::from("easd.db"));

        assert_eq!(user.https, vec!["0.0.0.0:8443".parse().unwrap()]);
        assert!(user.http.is_empty());
        assert!(!user.allow_plain_http_remote);
        assert_eq!(user.hostname, "nas");
        assert_eq!(user.max_body_bytes, 32 << 20);
        assert_eq!(user.max_connections, 10_000);
        assert_eq!(user.idle_timeout_secs, 120);
        assert_eq!(user.log_level, log::LevelFilter::Info);
        assert!(!user.debug_wire);
        assert_eq!(user.cache_kib, 2048);
        assert_eq!(user.config_path, None);
        assert_eq!(user.validate(), Ok(()));
    }

    #[test]
    fn real_defaults_are_valid() {
        let config = Config::defaults();
        assert_eq!(config.validate(), Ok(()));
        assert!(validate_hostname(&config.hostname).is_ok());
    }

    #[test]
    fn cert_paths_default_next_to_the_database() {
        let config = Config::defaults_for(&env(true));
        assert_eq!(
            config.cert_paths(),
            (
                PathBuf::from("/var/lib/easd/easd-cert.pem"),
                PathBuf::from("/var/lib/easd/easd-key.pem")
            )
        );
        let config = parse("cert = /etc/ssl/easd.pem\nkey = /etc/ssl/easd.key").unwrap();
        assert_eq!(
            config.cert_paths(),
            (
                PathBuf::from("/etc/ssl/easd.pem"),
                PathBuf::from("/etc/ssl/easd.key")
            )
        );
    }

    #[test]
    fn urls() {
        let config = parse("").unwrap();
        assert_eq!(config.public_base_url(), "https://nas:8443");
        assert_eq!(
            config.mobilesync_url(),
            "https://nas:8443/Microsoft-Server-ActiveSync"
        );
        let config = parse("https = [::]:443\nhostname = mail.example.com").unwrap();
        assert_eq!(
            config.mobilesync_url(),
            "https://mail.example.com/Microsoft-Server-ActiveSync"
        );
        let config =
            parse("public-url = https://mail.example.com/\nhttps =\nhttp = 127.0.0.1:8080")
                .unwrap();
        assert_eq!(
            config.mobilesync_url(),
            "https://mail.example.com/Microsoft-Server-ActiveSync"
        );
        assert!(parse("public-url = mail.example.com").is_err());
        assert!(parse("public-url = https://").is_err());
        assert!(parse("public-url = https://a.example/?x").is_err());
    }

    #[test]
    fn full_file_with_comments_and_blank_lines() {
        let text = "\
# a comment
   # an indented comment

database = /srv/easd/easd.db
https = 0.0.0.0:443, [::]:443
http = 127.0.0.1:8080,[::1]:8080
hostname = mail.example.com
max-body = 512k
max-connections = 200
idle-timeout = 300
log-level = DEBUG
debug-wire = yes
cache-kib = 8192
autodiscover-imap = imap.example.com:993:ssl
autodiscover-smtp = smtp.example.com:587:starttls
submission-command = /usr/bin/msmtp --read-envelope-from
";
        let config = parse(text).unwrap();
        assert_eq!(config.config_path, Some(PathBuf::from("/test.conf")));
        assert_eq!(config.database, PathBuf::from("/srv/easd/easd.db"));
        assert_eq!(
            config.https,
            vec!["0.0.0.0:443".parse().unwrap(), "[::]:443".parse().unwrap()]
        );
        assert_eq!(config.http.len(), 2);
        assert_eq!(config.hostname, "mail.example.com");
        assert_eq!(config.max_body_bytes, 512 * 1024);
        assert_eq!(config.max_connections, 200);
        assert_eq!(config.idle_timeout_secs, 300);
        assert_eq!(config.log_level, log::LevelFilter::Debug);
        assert!(config.debug_wire);
        assert_eq!(config.cache_kib, 8192);
        assert_eq!(
            config.autodiscover_imap.as_deref(),
            Some("imap.example.com:993:ssl")
        );
        assert_eq!(
            config.autodiscover_smtp.as_deref(),
            Some("smtp.example.com:587:starttls")
        );
        assert_eq!(
            config.submission_command,
            vec!["/usr/bin/msmtp", "--read-envelope-from"]
        );
        assert!(parse("submission-command = sendmail -i").is_err());
        assert!(parse("submission-command =").is_err());
    }

    #[test]
    fn size_suffixes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("32M"), Ok(32 << 20));
        assert_eq!(parse_size("32m"), Ok(32 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("0M").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12T").is_err());
        assert!(parse_size("-1K").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_size("18446744073709551615G").is_err());
    }

    #[test]
    fn empty_https_means_no_listener() {
        let config = parse("https =\nhttp = 127.0.0.1:8080").unwrap();
        assert!(config.https.is_empty());
        let err = parse("https =").unwrap_err();
        assert!(matches!(err, ConfigError::Inconsistent { .. }), "{err}");
        assert!(err.to_string().contains("no listener"));
    }

    #[test]
    fn plain_http_on_remote_address_needs_consent() {
        let err = parse("http = 0.0.0.0:8080").unwrap_err();
        assert!(err.to_string().contains("clear text"), "{err}");
        let config = parse("http = 0.0.0.0:8080\nallow-plain-http-remote = true").unwrap();
        assert!(config.allow_plain_http_remote);
        assert!(parse("http = 127.0.0.1:80, [::1]:80").is_ok());
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = parse("\n# c\nmax-bodyy = 3").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { line: 3, key, .. } if key == "max-bodyy"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "/test.conf:3: unknown key \"max-bodyy\"");

        let err = parse("max-body = lots").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::BadValue {
                line: 1,
                key: "max-body",
                ..
            }
        ));
        assert!(err
            .to_string()
            .starts_with("/test.conf:1: bad value for max-body"));

        let err = parse("hostname = a\nhostname = b").unwrap_err();
        assert!(matches!(err, ConfigError::DuplicateKey { line: 2, .. }));

        let err = parse("just words").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 1, .. }));

        for bad in [
            "https = 8443",
            "https = localhost:8443",
            "http = 127.0.0.1:8080,",
            "database = relative/easd.db",
            "database =",
            "cert = x.pem",
            "max-connections = 0",
            "max-connections = -5",
            "idle-timeout = 2m",
            "log-level = loud",
            "debug-wire = maybe",
            "hostname = bad host",
            "hostname = a..b",
            "hostname =",
            "cache-kib = 0",
            "autodiscover-imap = imap.example.com",
            "autodiscover-smtp = smtp.example.com:0",
            "autodiscover-smtp = smtp.example.com:25:quantum",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::BadValue { line: 1, .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn cert_and_key_go_together() {
        let err = parse("cert = /etc/ssl/easd.pem").unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");
    }

    #[test]
    fn empty_autodiscover_values_mean_none() {
        let config = parse("autodiscover-imap =\nautodiscover-smtp =").unwrap();
        assert_eq!(config.autodiscover_imap, None);
        assert_eq!(config.autodiscover_smtp, None);
    }

    #[test]
    fn load_reads_files_and_reports_missing_ones() {
        let dir = std::env::temp_dir().join(format!("easd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("easd.conf");
        std::fs::write(&file, "max-connections = 7\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.max_connections, 7);
        assert_eq!(config.config_path, Some(file.clone()));
        std::fs::remove_file(&file).unwrap();
        let err = Config::load(Some(&file)).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err.to_string().contains("easd.conf"));
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn sample_file_as_shipped_equals_the_defaults() {
        let config = parse(SAMPLE).unwrap();
        let mut defaults = Config::defaults_for(&env(false));
        defaults.config_path = Some(PathBuf::from("/test.conf"));
        assert_eq!(config, defaults);
    }

    #[test]
    fn sample_file_settings_are_all_valid() {
        let uncommented = uncomment_settings(SAMPLE);
        let config = parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        // The documented defaults are the real defaults.
        let defaults = Config::defaults_for(&env(true));
        assert_eq!(config.database, defaults.database);
        assert_eq!(config.https, defaults.https);
        assert_eq!(config.http, defaults.http);
        assert_eq!(
            config.allow_plain_http_remote,
            defaults.allow_plain_http_remote
        );
        assert_eq!(config.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(config.max_connections, defaults.max_connections);
        assert_eq!(config.idle_timeout_secs, defaults.idle_timeout_secs);
        assert_eq!(config.log_level, defaults.log_level);
        assert_eq!(config.debug_wire, defaults.debug_wire);
        assert_eq!(config.cache_kib, defaults.cache_kib);
    }

    #[test]
    fn sample_file_documents_every_key_once() {
        let uncommented = uncomment_settings(SAMPLE);
        let documented: Vec<&str> = uncommented.lines().filter_map(setting_key).collect();
        assert_eq!(
            documented, KEYS,
            "sample keys differ from KEYS (or their order)"
        );
    }
}
