//! `easd doctor`: the troubleshooting list as checks. Each check prints one line —
//! `ok`, `warn`, `FAIL` or `skip`, what it found and what to do — and the exit status is 0
//! unless something FAILed (then 1), so scripts and package hooks can use it.
//!
//! The doctor only looks: it never creates or migrates the database, never writes a
//! certificate, and binds test sockets only when no server is running. With a server running
//! (it holds the database lock) it connects to each listener instead and expects the answer
//! every unauthenticated OPTIONS gets: 401. The notification port is probed by trying to
//! bind it, which fails while the server holds it (a successful probe is released at once).

use std::fmt::Display;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argh::FromArgs;
use rusqlite::{Connection, OpenFlags};

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::http::tls::{self, Expiry, TlsError};
use crate::store::{lock, schema};

/// How long one connection attempt or answer may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The status line of the probe's answer must arrive within this many bytes.
const MAX_STATUS_LINE: usize = 1024;

/// check the installation: configuration, database, listeners, certificate, DNS, mail
#[derive(FromArgs)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorArgs {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

/// Prints findings as they come and counts them.
#[derive(Default)]
struct Report {
    ok: usize,
    warn: usize,
    fail: usize,
    skip: usize,
}

impl Report {
    fn say(&mut self, verdict: Verdict, check: &str, detail: impl Display) {
        println!("{:<4}  {check}: {detail}", verdict.label());
        match verdict {
            Verdict::Ok => self.ok += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Skip => self.skip += 1,
        }
    }

    fn finish(&self) -> i32 {
        println!(
            "doctor: {} ok, {} warn, {} FAIL, {} skip",
            self.ok, self.warn, self.fail, self.skip
        );
        if self.fail == 0 {
            0
        } else {
            1
        }
    }
}

/// Runs every check. Takes the global options rather than a loaded configuration, because
/// a configuration that does not load is the first thing to report.
pub fn run(config_path: Option<&Path>, database: Option<&Path>, _args: &DoctorArgs) -> i32 {
    let mut report = Report::default();
    let Some(config) = check_configuration(&mut report, config_path, database) else {
        return report.finish();
    };
    let db = check_database(&mut report, &config);
    let running = check_server(&mut report, &config);
    let served = check_listeners(&mut report, &config, running);
    check_certificate(&mut report, &config, &served);
    check_autodiscover(&mut report, db.as_ref());
    check_notification_socket(&mut report, &config, running);
    check_submission(&mut report, &config.submission_command);
    check_outbox(&mut report, db.as_ref(), crate::store::now());
    check_smime_trust_store(&mut report, &config.smime_trust_store);
    report.finish()
}

fn check_configuration(
    report: &mut Report,
    config_path: Option<&Path>,
    database: Option<&Path>,
) -> Option<Config> {
    match Config::load(config_path) {
        Ok(mut config) => {
            if let Some(database) = database {
                config.database = database.to_path_buf();
            }
            let detail = match &config.config_path {
                Some(path) => format!("{} is valid", path.display()),
                None => format!("no {DEFAULT_CONFIG_PATH}; the built-in defaults apply"),
            };
            report.say(Verdict::Ok, "configuration", detail);
            Some(config)
        }
        Err(error) => {
            report.say(
                Verdict::Fail,
                "configuration",
                format!(
                    "{error} — fix it (the sample easd.conf describes every key); the other \
                     checks need a valid configuration"
                ),
            );
            None
        }
    }
}

/// Opens the database without creating or migrating it; returns the connection when the
/// file could be read, for the checks that need its contents.
fn check_database(report: &mut Report, config: &Config) -> Option<Connection> {
    let path = &config.database;
    if !path.exists() {
        report.say(
            Verdict::Warn,
            "database",
            format!(
                "{} does not exist yet; easd serve (or easd user add) creates it",
                path.display()
            ),
        );
        return None;
    }
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(conn) => conn,
        Err(error) => {
            report.say(
                Verdict::Fail,
                "database",
                format!(
                    "{} cannot be opened: {error} — check its owner and permissions",
                    path.display()
                ),
            );
            return None;
        }
    };
    let _ = conn.busy_timeout(PROBE_TIMEOUT);
    let rows = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
    match rows {
        Ok(rows) if rows.as_slice() == ["ok"] => report.say(
            Verdict::Ok,
            "database",
            format!("{} opens; integrity_check ok", path.display()),
        ),
        Ok(rows) => {
            report.say(
                Verdict::Fail,
                "database",
                format!(
                    "integrity_check of {} reports {} problem(s), the first: {} — stop easd \
                     and restore the latest backup (easd restore FILE)",
                    path.display(),
                    rows.len(),
                    rows.first().map(String::as_str).unwrap_or("?")
                ),
            );
            return None;
        }
        Err(error) => {
            let why = match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => "is not an SQLite database".to_string(),
                _ => format!("cannot be read: {error}"),
            };
            report.say(
                Verdict::Fail,
                "database",
                format!(
                    "{} {why} — restore a backup (easd restore FILE)",
                    path.display()
                ),
            );
            return None;
        }
    }
    if let Ok(metadata) = std::fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            report.say(
                Verdict::Warn,
                "database permissions",
                format!(
                    "{} has mode {mode:04o}: other users can read the password hashes — \
                     chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
    check_schema(report, &conn);
    Some(conn)
}

fn check_schema(report: &mut Report, conn: &Connection) {
    let latest = schema::latest_version();
    match schema::user_version(conn) {
        Ok(version) if version == latest => report.say(
            Verdict::Ok,
            "schema",
            format!("version {version} (current)"),
        ),
        Ok(0) => report.say(
            Verdict::Warn,
            "schema",
            "the database is empty (no easd schema yet); easd serve sets it up at start",
        ),
        Ok(version) if version < latest => report.say(
            Verdict::Warn,
            "schema",
            format!(
                "version {version}; easd serve upgrades it to {latest} at the next start \
                 (take a backup first: easd backup FILE)"
            ),
        ),
        Ok(version) => report.say(
            Verdict::Fail,
            "schema",
            format!(
                "version {version} was written by a newer easd (this one knows up to \
                 {latest}) — install that newer easd again"
            ),
        ),
        Err(error) => report.say(
            Verdict::Fail,
            "schema",
            format!("cannot read the schema version: {error}"),
        ),
    }
}

/// Whether `easd serve` runs on this database (it holds the lock).
fn check_server(report: &mut Report, config: &Config) -> bool {
    match lock::is_held(&config.database) {
        Ok(true) => {
            report.say(
                Verdict::Ok,
                "server",
                format!(
                    "easd serve is running on this database (it holds {})",
                    lock::lock_path(&config.database).display()
                ),
            );
            true
        }
        Ok(false) => {
            report.say(
                Verdict::Ok,
                "server",
                "easd serve is not running on this database",
            );
            false
        }
        Err(error) => {
            report.say(
                Verdict::Warn,
                "server",
                format!("cannot tell whether easd serve runs: {error}"),
            );
            false
        }
    }
}

/// Checks every configured listener; returns the certificate each reachable HTTPS listener
/// served (to compare with the file on disk).
fn check_listeners(
    report: &mut Report,
    config: &Config,
    running: bool,
) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut served = Vec::new();
    let listeners = config
        .https
        .iter()
        .map(|addr| (*addr, true))
        .chain(config.http.iter().map(|addr| (*addr, false)));
    for (addr, tls) in listeners {
        let check = format!("listener {} {addr}", if tls { "https" } else { "http" });
        if addr.port() == 0 {
            report.say(
                Verdict::Skip,
                &check,
                "port 0 is chosen when the server starts; configure a fixed port to check it",
            );
            continue;
        }
        if running {
            match probe(addr, tls, &config.hostname) {
                Ok((401, certificate)) => {
                    report.say(
                        Verdict::Ok,
                        &check,
                        "reachable (OPTIONS without credentials answers 401)",
                    );
                    served.extend(certificate.map(|c| (addr, c)));
                }
                Ok((status, _)) => report.say(
                    Verdict::Fail,
                    &check,
                    format!(
                        "answers OPTIONS with HTTP {status} instead of 401 — is another \
                         program listening there?"
                    ),
                ),
                Err(why) => report.say(
                    Verdict::Fail,
                    &check,
                    format!(
                        "easd serve runs but this address does not answer ({why}) — restart it \
                         to apply the configuration, or check the firewall"
                    ),
                ),
            }
        } else {
            match TcpListener::bind(addr) {
                Ok(_) => report.say(Verdict::Ok, &check, "can be bound"),
                Err(error) => report.say(Verdict::Fail, &check, bind_advice(addr, &error)),
            }
        }
    }
    served
}

fn bind_advice(addr: SocketAddr, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot bind: another program uses port {} — find it with: ss -ltnp 'sport = :{}'",
            addr.port(),
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot bind: ports below 1024 need root or CAP_NET_BIND_SERVICE (the packaged \
             service has it) — or use a port above 1023 ({error})"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "cannot bind: no network interface has the address {} — fix https/http in the \
             configuration",
            addr.ip()
        ),
        _ => format!("cannot bind: {error}"),
    }
}

/// The address to connect to for a listener: a wildcard listener is reached on loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Sends `OPTIONS /Microsoft-Server-ActiveSync` without credentials; returns the status and,
/// over TLS, the certificate the server presented.
fn probe(addr: SocketAddr, tls: bool, host: &str) -> Result<(u16, Option<Vec<u8>>), String> {
    let target = connectable(addr);
    let tcp = TcpStream::connect_timeout(&target, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(PROBE_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(PROBE_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: {host}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if !tls {
        let mut stream = tcp;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        return read_status(&mut stream).map(|status| (status, None));
    }
    let presented = Arc::new(Mutex::new(None));
    let config = probe_tls_config(Arc::clone(&presented))?;
    let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("TLS: {e}"))?;
    let status = read_status(&mut stream)?;
    let certificate = presented.lock().ok().and_then(|mut slot| slot.take());
    Ok((status, certificate))
}

/// Reads up to the end of the status line and returns the status code.
fn read_status(stream: &mut impl Read) -> Result<u16, String> {
    let mut buffer = Vec::new();
    let mut byte = [0u8; 1];
    while !buffer.ends_with(b"\r\n") {
        if buffer.len() >= MAX_STATUS_LINE {
            return Err("no HTTP status line".into());
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err("the connection closed without an answer".into()),
            Ok(_) => buffer.push(byte[0]),
            Err(error) => return Err(error.to_string()),
        }
    }
    let line = String::from_utf8_lossy(&buffer);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/1.") => Ok(status),
        _ => Err(format!("not an HTTP answer: {:?}", line.trim_end())),
    }
}

/// A client configuration that accepts whatever certificate the local server presents and
/// records it. This probe only asks "does easd answer here?" and sends no credentials; the
/// certificate itself is judged by the certificate checks.
fn probe_tls_config(
    presented: Arc<Mutex<Option<Vec<u8>>>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier {
            provider,
            presented,
        }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    presented: Arc<Mutex<Option<Vec<u8>>>>,
}

impl rustls::client::danger::ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(end_entity.to_vec());
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn check_certificate(report: &mut Report, config: &Config, served: &[(SocketAddr, Vec<u8>)]) {
    if config.https.is_empty() {
        report.say(
            Verdict::Skip,
            "certificate",
            "no HTTPS listener: TLS ends at the reverse proxy in front of easd",
        );
        return;
    }
    let host = public_host(config);
    let (cert_path, key_path) = config.cert_paths();
    if config.cert.is_none() && !cert_path.exists() && !key_path.exists() {
        report.say(
            Verdict::Ok,
            "certificate",
            format!(
                "none yet: easd serve creates a self-signed one for {} in {} at first start",
                config.hostname,
                cert_path.display()
            ),
        );
        return;
    }
    let chain = match tls::read_certificate_chain(&cert_path) {
        Ok(chain) => chain,
        Err(error) => {
            report.say(
                Verdict::Fail,
                "certificate",
                format!(
                    "{error} — install a PEM certificate there, or make one: easd cert \
                     self-signed --host {host} --force"
                ),
            );
            return;
        }
    };
    let leaf = &chain[0];
    report.say(
        Verdict::Ok,
        "certificate",
        format!(
            "{} loads (SHA-256 {})",
            cert_path.display(),
            crate::ca::sha256_fingerprint(leaf)
        ),
    );

    match tls::read_private_key(&key_path).and_then(|key| tls::check_key_matches(&chain, key)) {
        Ok(()) => report.say(
            Verdict::Ok,
            "certificate key",
            format!("{} belongs to the certificate", key_path.display()),
        ),
        Err(TlsError::Rustls(rustls::Error::InconsistentKeys(_))) => report.say(
            Verdict::Fail,
            "certificate key",
            format!(
                "{} is not the private key of {} — install the key issued with this \
                 certificate, or make a new pair: easd cert self-signed --host {host} --force",
                key_path.display(),
                cert_path.display()
            ),
        ),
        Err(error) => report.say(
            Verdict::Fail,
            "certificate key",
            format!("{error} — install the key issued with this certificate"),
        ),
    }

    match tls::check_names_host(leaf, &host) {
        Ok(()) => report.say(Verdict::Ok, "certificate name", format!("valid for {host}")),
        Err(why) => report.say(
            Verdict::Fail,
            "certificate name",
            format!(
                "{why}: phones connecting to {host} refuse it — make one that names it \
                 (easd cert self-signed --host {host} --force) or fix `hostname`"
            ),
        ),
    }

    match tls::certificate_validity(leaf) {
        Ok(validity) => {
            let now = crate::store::now();
            let until = crate::clock::iso_date(validity.not_after);
            match validity.expiry(now) {
                Expiry::Expired { days_ago } => report.say(
                    Verdict::Fail,
                    "certificate dates",
                    format!(
                        "expired {until} UTC ({days_ago} days ago): phones refuse it — renew \
                         it, then reload: systemctl reload easd"
                    ),
                ),
                Expiry::Soon { days_left } => report.say(
                    Verdict::Warn,
                    "certificate dates",
                    format!(
                        "expires {until} UTC, in {days_left} days — renew it, then reload: \
                         systemctl reload easd"
                    ),
                ),
                Expiry::Fine { .. } if validity.not_before > now => report.say(
                    Verdict::Warn,
                    "certificate dates",
                    format!(
                        "not valid before {} UTC — check the system clock",
                        crate::clock::iso_date(validity.not_before)
                    ),
                ),
                Expiry::Fine { days_left } => report.say(
                    Verdict::Ok,
                    "certificate dates",
                    format!("valid until {until} UTC ({days_left} days)"),
                ),
            }
        }
        Err(why) => report.say(
            Verdict::Fail,
            "certificate dates",
            format!("cannot read the validity dates: {why}"),
        ),
    }

    for (addr, presented) in served {
        if presented.as_slice() != leaf.as_ref() {
            report.say(
                Verdict::Warn,
                "certificate in use",
                format!(
                    "the server on {addr} still presents another certificate (SHA-256 {}) — \
                     load the new one: systemctl reload easd (or kill -HUP <pid>)",
                    crate::ca::sha256_fingerprint(presented)
                ),
            );
        }
    }
}

/// The host name phones use: that of `public-url` when set, else `hostname`.
fn public_host(config: &Config) -> String {
    let url = config.public_base_url();
    let authority = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        }
    };
    if host.is_empty() {
        config.hostname.clone()
    } else {
        host.to_string()
    }
}

fn check_autodiscover(report: &mut Report, db: Option<&Connection>) {
    let Some(conn) = db else {
        report.say(
            Verdict::Skip,
            "autodiscover",
            "no readable database, so no user domains to check",
        );
        return;
    };
    let domains = conn
        .prepare("SELECT name FROM domains ORDER BY name")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
    let domains = match domains {
        Ok(domains) => domains,
        Err(error) => {
            report.say(
                Verdict::Skip,
                "autodiscover",
                format!("cannot read the user domains: {error}"),
            );
            return;
        }
    };
    if domains.is_empty() {
        report.say(
            Verdict::Skip,
            "autodiscover",
            "no user domains yet (add a user: easd user add you@example.com --password-stdin)",
        );
        return;
    }
    for domain in domains {
        let check = format!("autodiscover {domain}");
        let autodiscover = format!("autodiscover.{domain}");
        if let Some(ip) = resolve(&autodiscover) {
            report.say(
                Verdict::Ok,
                &check,
                format!("{autodiscover} resolves to {ip}; it must reach easd on port 443"),
            );
        } else if let Some(ip) = resolve(&domain) {
            report.say(
                Verdict::Ok,
                &check,
                format!(
                    "{domain} resolves to {ip} ({autodiscover} does not); phones try \
                     https://{domain}/autodiscover/autodiscover.xml, which must reach easd"
                ),
            );
        } else {
            report.say(
                Verdict::Warn,
                &check,
                format!(
                    "neither {autodiscover} nor {domain} resolves: phones cannot find the \
                     server from an address @{domain} — add a DNS record for {autodiscover}, \
                     or enter the server name on the phone"
                ),
            );
        }
    }
}

fn resolve(host: &str) -> Option<IpAddr> {
    (host, 443)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|addr| addr.ip())
}

/// The running server's UDP notification socket (DirectPush): taken means it listens.
fn check_notification_socket(report: &mut Report, config: &Config, running: bool) {
    let addr = config.notify;
    if !running {
        report.say(
            Verdict::Skip,
            "push notifications",
            format!("the server is not running, so nothing listens on {addr}"),
        );
        return;
    }
    match std::net::UdpSocket::bind(addr) {
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => report.say(
            Verdict::Ok,
            "push notifications",
            format!("{addr} is taken by the running server: deliveries wake waiting phones"),
        ),
        Ok(_) => report.say(
            Verdict::Fail,
            "push notifications",
            format!(
                "nothing listens on {addr}: phones see new mail only when their heartbeat \
                 ends — does the server's configuration name another `notify` address?"
            ),
        ),
        Err(error) => report.say(
            Verdict::Warn,
            "push notifications",
            format!("cannot tell whether the server listens on {addr}: {error}"),
        ),
    }
}

/// The program of `submission-command` exists and may be run.
/// ValidateCert needs CA certificates to check S/MIME signers against.
fn check_smime_trust_store(report: &mut Report, path: &Path) {
    const CHECK: &str = "S/MIME trust store";
    match crate::smime::trust::TrustStore::load(path) {
        Ok(store) if !store.is_empty() => report.say(
            Verdict::Ok,
            CHECK,
            format!(
                "{} CA certificates in {} (ValidateCert)",
                store.len(),
                path.display()
            ),
        ),
        Ok(_) => report.say(
            Verdict::Warn,
            CHECK,
            format!(
                "{} holds no CA certificate: phones validating signed mail are told no signer \
                 is trusted — install ca-certificates or set smime-trust-store",
                path.display()
            ),
        ),
        Err(e) => report.say(
            Verdict::Warn,
            CHECK,
            format!(
                "cannot read {} ({e}): ValidateCert answers a server error — install \
                 ca-certificates or set smime-trust-store",
                path.display()
            ),
        ),
    }
}

/// Mail the server owes that has waited over an hour: the mail system keeps refusing it.
fn check_outbox(report: &mut Report, db: Option<&Connection>, now: i64) {
    let Some(conn) = db else {
        report.say(Verdict::Skip, "outbox", "no readable database");
        return;
    };
    match crate::store::outbox::waiting_since(conn, now - 3600) {
        Ok(0) => report.say(
            Verdict::Ok,
            "outbox",
            "no mail has waited for the mail system over an hour",
        ),
        Ok(waiting) => report.say(
            Verdict::Warn,
            "outbox",
            format!(
                "{waiting} message(s) the server sends for users (meeting invitations, \
                 answers, out-of-office replies) have waited over an hour: the mail system \
                 refuses them — see easd outbox list and the log, fix submission-command or \
                 the MTA; the server keeps retrying for two days"
            ),
        ),
        Err(error) => report.say(
            Verdict::Skip,
            "outbox",
            format!("cannot read the outbox (schema older than this easd?): {error}"),
        ),
    }
}

fn check_submission(report: &mut Report, command: &[String]) {
    let Some(program) = command.first() else {
        report.say(
            Verdict::Fail,
            "mail submission",
            "submission-command is empty: phones cannot send mail",
        );
        return;
    };
    // The configuration only accepts an absolute program path.
    let path = PathBuf::from(program);
    let found = std::fs::metadata(&path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
        .then_some(path);
    match found {
        Some(path) => report.say(
            Verdict::Ok,
            "mail submission",
            format!(
                "{} is present: mail from phones to other servers goes through it",
                path.display()
            ),
        ),
        None => report.say(
            Verdict::Warn,
            "mail submission",
            format!(
                "{program} (submission-command) is missing: phones can send only to users of \
                 this server — install a mail transfer agent that provides it (e.g. \
                 msmtp-mta, nullmailer or postfix) or set submission-command"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_probed_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        assert_eq!(connectable(v4), "127.0.0.1:8443".parse().unwrap());
        let v6: SocketAddr = "[::]:443".parse().unwrap();
        assert_eq!(connectable(v6), "[::1]:443".parse().unwrap());
        let fixed: SocketAddr = "192.0.2.1:8443".parse().unwrap();
        assert_eq!(connectable(fixed), fixed);
    }

    #[test]
    fn the_public_host_comes_from_public_url_or_hostname() {
        let parse = |text: &str| Config::parse(text, Path::new("/t.conf")).unwrap();
        let config = parse("hostname = nas.home.arpa\nhttps = 0.0.0.0:8443");
        assert_eq!(public_host(&config), "nas.home.arpa");
        let config = parse("hostname = nas\npublic-url = https://mail.example.com:4443/easd");
        assert_eq!(public_host(&config), "mail.example.com");
        let config = parse("hostname = nas\npublic-url = https://[2001:db8::1]:443");
        assert_eq!(public_host(&config), "2001:db8::1");
    }

    #[test]
    fn status_lines_are_parsed_and_garbage_is_refused() {
        let mut answer: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n";
        assert_eq!(read_status(&mut answer), Ok(401));
        let mut garbage: &[u8] = b"SSH-2.0-OpenSSH_9.6\r\n";
        assert!(read_status(&mut garbage).is_err());
        let mut closed: &[u8] = b"HTTP/1.1 40";
        assert!(read_status(&mut closed).is_err());
        let endless = vec![b'x'; 4096];
        assert!(read_status(&mut endless.as_slice()).is_err());
    }

    #[test]
    fn mail_waiting_over_an_hour_is_a_warning() {
        let dir = crate::store::test_support::TempDir::new();
        std::fs::create_dir_all(dir.path()).unwrap();
        let path = dir.path().join("easd.db");
        let store = crate::store::Store::open(&path).unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        crate::store::test_support::queue_for_rita(&store, &ann, b"x", 10_000);
        let conn = Connection::open(&path).unwrap();
        let mut report = Report::default();
        check_outbox(&mut report, Some(&conn), 10_000 + 3000);
        assert_eq!((report.ok, report.warn), (1, 0));
        check_outbox(&mut report, Some(&conn), 10_000 + 3601);
        assert_eq!((report.ok, report.warn), (1, 1));
    }

    #[test]
    fn a_missing_submission_command_is_a_warning() {
        let mut report = Report::default();
        check_submission(&mut report, &["/nonexistent/sendmail".to_string()]);
        assert_eq!((report.ok, report.warn), (0, 1));
        let mut report = Report::default();
        // /bin/sh exists and is executable everywhere these tests run.
        check_submission(&mut report, &["/bin/sh".to_string(), "-c".to_string()]);
        assert_eq!((report.ok, report.warn), (1, 0));
        let mut report = Report::default();
        check_submission(&mut report, &[]);
        assert_eq!(report.fail, 1);
    }

    #[test]
    fn a_missing_or_empty_trust_store_is_a_warning() {
        let mut report = Report::default();
        check_smime_trust_store(&mut report, Path::new("/nonexistent/ca.pem"));
        assert_eq!((report.ok, report.warn), (0, 1));
        let empty = std::env::temp_dir().join(format!("easd-doctor-{}.pem", std::process::id()));
        std::fs::write(&empty, "no certificates here").unwrap();
        let mut report = Report::default();
        check_smime_trust_store(&mut report, &empty);
        assert_eq!((report.ok, report.warn), (0, 1));
        let _ = std::fs::remove_file(&empty);
    }

    #[test]
    fn bind_advice_names_the_remedy() {
        let addr: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let in_use = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        assert!(bind_advice(addr, &in_use).contains("ss -ltnp 'sport = :443'"));
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(bind_advice(addr, &denied).contains("CAP_NET_BIND_SERVICE"));
    }
}
