//! `easd serve`: takes the database lock, opens the database, prepares TLS (a self-signed
//! certificate when none is configured), starts the blocking request loop on a private Unix
//! socket and runs the mio front door on the main thread until SIGINT/SIGTERM.
//!
//! Threads, all started here and fixed in number: the front door (main thread), the request
//! loop (`easd-requests`), tiny_http's accept thread and its small task pool (it only ever
//! serves the front door's 2 internal connections), ctrlc's SIGINT/SIGTERM waiter, and
//! `easd-signals`. The last one owns SIGHUP: the signal is blocked in every thread before
//! any is started, and `easd-signals` takes it with `sigtimedwait`, reloads the certificate
//! and key, and hands the new TLS configuration to the front door (new handshakes use it;
//! open connections, parked requests among them, keep theirs). Its wait times out once a day
//! to warn about a certificate that expires within 14 days, so it sleeps in the kernel
//! between events and never polls.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use log::{error, info, warn};
use rustls::pki_types::CertificateDer;

use super::{exit, open_store};
use crate::autodiscover::AutodiscoverSettings;
use crate::config::Config;
use crate::http::tls::Expiry;
use crate::http::{self, FrontDoor, FrontDoorConfig, FrontDoorHandle, Limits, ListenerSpec};
use crate::server::{Backend, BackendSettings};
use crate::store::lock::DatabaseLock;

/// run the server
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
pub struct ServeArgs {
    /// plain-HTTP listen address (for a reverse proxy on this host); repeatable
    #[argh(option)]
    http: Vec<SocketAddr>,
    /// HTTPS listen address (default 0.0.0.0:8443); repeatable
    #[argh(option)]
    https: Vec<SocketAddr>,
    /// certificate chain, PEM
    #[argh(option)]
    cert: Option<PathBuf>,
    /// private key, PEM
    #[argh(option)]
    key: Option<PathBuf>,
}

pub fn run(mut config: Config, args: ServeArgs) -> i32 {
    fix_mmap_threshold();
    // First of all, before any thread exists: every thread started later inherits the mask.
    if let Err(e) = block_reload_signal() {
        eprintln!("easd: cannot set up SIGHUP handling: {e}");
        return exit::SOFTWARE;
    }
    if !args.http.is_empty() || !args.https.is_empty() {
        // Addresses on the command line replace the configured listeners.
        config.http = args.http;
        config.https = args.https;
    }
    if args.cert.is_some() != args.key.is_some() {
        eprintln!("easd: --cert and --key go together");
        return exit::USAGE;
    }
    if let (Some(cert), Some(key)) = (args.cert, args.key) {
        config.cert = Some(cert);
        config.key = Some(key);
    }
    init_logging(&config);
    raise_open_file_limit();

    if let Some(addr) = config
        .http
        .iter()
        .find(|a| !a.ip().is_loopback())
        .filter(|_| !config.allow_plain_http_remote)
    {
        eprintln!(
            "easd: refusing plain HTTP on {addr}: passwords would cross the network in clear \
             text. Use HTTPS, a loopback address behind a reverse proxy, or set \
             allow-plain-http-remote = true."
        );
        return exit::CONFIG;
    }
    if config.http.is_empty() && config.https.is_empty() {
        eprintln!("easd: no listener configured (https and http are both empty)");
        return exit::CONFIG;
    }

    // Held until this function returns: `easd restore` and a second server test it.
    let database_lock = match DatabaseLock::try_acquire(&config.database) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            eprintln!(
                "easd: another easd serve uses {} (it holds {}); stop that one first",
                config.database.display(),
                crate::store::lock::lock_path(&config.database).display()
            );
            return exit::TEMPFAIL;
        }
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::CANTCREAT;
        }
    };

    let store = match open_store(&config) {
        Ok(store) => store,
        Err(code) => return code,
    };

    let tls = if config.https.is_empty() {
        None
    } else {
        match server_tls(&config) {
            Ok(tls) => Some(tls),
            Err(code) => return code,
        }
    };

    let run_dir = match private_run_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("easd: cannot create a private runtime directory: {e}");
            return exit::CANTCREAT;
        }
    };
    let outcome = serve_with(config, store, tls, &run_dir);
    let _ = std::fs::remove_dir_all(&run_dir);
    drop(database_lock);
    outcome
}

fn serve_with(
    mut config: Config,
    store: crate::store::Store,
    tls: Option<ServedCertificate>,
    run_dir: &Path,
) -> i32 {
    let backend_socket = run_dir.join("backend.sock");
    let tiny = match tiny_http::Server::http_unix(&backend_socket) {
        Ok(server) => Arc::new(server),
        Err(e) => {
            eprintln!("easd: cannot start the request loop: {e}");
            return exit::SOFTWARE;
        }
    };
    // Set with a wake-up of the request loop: the outbox may hold mail another process queued.
    let outbox_hint = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut listeners = Vec::new();
    for addr in &config.https {
        listeners.push(ListenerSpec {
            addr: *addr,
            tls: tls.as_ref().map(|served| Arc::clone(&served.config)),
        });
    }
    for addr in &config.http {
        listeners.push(ListenerSpec {
            addr: *addr,
            tls: None,
        });
    }
    let limits = Limits {
        max_connections: config.max_connections,
        max_body_bytes: config.max_body_bytes,
        idle_timeout: std::time::Duration::from_secs(config.idle_timeout_secs),
        ..Limits::default()
    };
    let front = match FrontDoor::bind(FrontDoorConfig {
        listeners,
        backend_socket,
        backend_connections: 2,
        limits,
        // Only what the request loop reads: tiny_http parses the forwarded head slowly.
        forwarded_request_headers: Some(crate::server::RequestHeader::FROM_CLIENTS),
        spool_dir: run_dir.to_path_buf(),
        notify: Some(config.notify),
        // A change notification may come from `easd deliver`, which may have queued mail
        // (an out-of-office reply its MTA refused) for the request loop to send: wake the
        // loop, whose idle step then re-reads the outbox.
        on_notification: Some(Arc::new({
            let tiny = Arc::clone(&tiny);
            let outbox_hint = Arc::clone(&outbox_hint);
            move || {
                outbox_hint.store(true, std::sync::atomic::Ordering::SeqCst);
                tiny.unblock();
            }
        })),
    }) {
        Ok(front) => front,
        Err(e) => {
            eprintln!("easd: cannot listen: {e}");
            return exit::CANTCREAT;
        }
    };

    // From here on the configuration names the real ports (port 0 asks the system for one).
    let bound = front.local_addrs();
    let https_count = config.https.len().min(bound.len());
    config.https = bound[..https_count].to_vec();
    config.http = bound[https_count..].to_vec();
    let no_users = store.list_users().map(|u| u.is_empty()).unwrap_or(false);
    announce(&config, no_users);

    let handle = front.handle();
    if let Err(e) = ctrlc::set_handler(move || handle.shutdown()) {
        warn!("cannot install the signal handler: {e}");
    }
    let (cert, key) = config.cert_paths();
    let watcher = CertificateWatcher {
        front: front.handle(),
        tls_listeners: if tls.is_some() { https_count } else { 0 },
        cert,
        key,
        hostname: config.hostname.clone(),
        served: tls.map(|served| served.leaf),
    };
    if let Err(e) = std::thread::Builder::new()
        .name("easd-signals".into())
        .spawn(move || watcher.run())
    {
        // Serving matters more than reloading: go on, but say what is missing.
        error!("cannot start the SIGHUP/certificate thread ({e}); SIGHUP will not reload");
    }

    let settings = BackendSettings {
        max_body_bytes: config.max_body_bytes,
        debug_wire: config.debug_wire,
        autodiscover: AutodiscoverSettings::from_config(&config),
        submission_command: config.submission_command.clone(),
        notify: Some(config.notify),
        admin_email: config.admin_email.clone(),
        smime_trust_store: config.smime_trust_store.clone(),
        throttle: login_throttle(&config),
        web: web_settings(&config),
        test_faults: crate::server::containment::test_faults_enabled(),
        outbox_backoff: crate::outbox::backoff_from_env(),
    };
    if settings.test_faults {
        warn!(
            "{}=1: test faults are enabled; never run a real server like this",
            crate::server::containment::TEST_FAULTS_ENV
        );
    }
    let loop_server = Arc::clone(&tiny);
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loop_stopping = Arc::clone(&stopping);
    let loop_outbox_hint = Arc::clone(&outbox_hint);
    let request_loop = std::thread::Builder::new()
        .name("easd-requests".into())
        .spawn(move || {
            let mut backend = Backend::new(store, settings);
            backend.run(&loop_server, &loop_stopping, &loop_outbox_hint);
            // The store (and so SQLite) closes when the backend is dropped here.
        });
    let request_loop = match request_loop {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("easd: cannot start the request loop: {e}");
            return exit::SOFTWARE;
        }
    };

    let outcome = front.run();
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    tiny.unblock();
    let _ = request_loop.join();
    match outcome {
        Ok(()) => {
            info!("stopped");
            exit::OK
        }
        Err(e) => {
            eprintln!("easd: front door failed: {e}");
            exit::SOFTWARE
        }
    }
}

/// The web page's view of the configuration: the address phones use and, when easd's own CA
/// signs the served certificate (no `cert` configured), where the CA certificate is.
/// The login throttle's limits from the start-up settings (`login-*`).
fn login_throttle(config: &Config) -> crate::server::throttle::ThrottleSettings {
    crate::server::throttle::ThrottleSettings {
        failures_per_address: config.login_failures,
        failures_per_account: config.login_failures_account,
        lockout: std::time::Duration::from_secs(config.login_lockout_secs),
        max_lockout: std::time::Duration::from_secs(config.login_lockout_max_secs),
        hash_share: config.login_hash_share_percent / 100.0,
    }
}

fn web_settings(config: &Config) -> crate::web::WebSettings {
    let autodiscover = AutodiscoverSettings::from_config(config);
    crate::web::WebSettings {
        base_url: config.public_base_url(),
        server_host: autodiscover.server_host,
        ca_cert: config.cert.is_none().then(|| crate::ca::ca_paths(config).0),
    }
}

/// The TLS configuration the front door starts with, and the certificate in it.
struct ServedCertificate {
    config: Arc<rustls::ServerConfig>,
    leaf: CertificateDer<'static>,
}

/// Loads the configured certificate, or creates one signed by easd's private CA next to the database.
fn server_tls(config: &Config) -> Result<ServedCertificate, i32> {
    let (cert, key) = config.cert_paths();
    if config.cert.is_none() && !(cert.exists() && key.exists()) {
        let names = vec![config.hostname.clone()];
        let (ca_cert, ca_key) = crate::ca::ca_paths(config);
        if let Err(e) = crate::ca::write_ca_signed(&ca_cert, &ca_key, &cert, &key, &names) {
            eprintln!("easd: cannot create a certificate: {e}");
            return Err(exit::CANTCREAT);
        }
        info!(
            "created a certificate for {} in {}, signed by easd's private CA {}",
            config.hostname,
            cert.display(),
            ca_cert.display()
        );
    }
    let loaded = http::tls::load_server_config(&cert, &key)
        .and_then(|tls| Ok((tls, http::tls::read_leaf_certificate(&cert)?)));
    match loaded {
        Ok((config, leaf)) => Ok(ServedCertificate { config, leaf }),
        Err(e) => {
            eprintln!("easd: TLS certificate {}: {e}", cert.display());
            Err(exit::CONFIG)
        }
    }
}

/// How often the served certificate's expiry is checked.
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// The state of the `easd-signals` thread: where the certificate comes from and which one the
/// front door serves.
struct CertificateWatcher {
    front: FrontDoorHandle,
    /// The HTTPS listeners are the first `tls_listeners` of the front door's listeners.
    tls_listeners: usize,
    cert: PathBuf,
    key: PathBuf,
    hostname: String,
    /// The leaf certificate being served; `None` without HTTPS.
    served: Option<CertificateDer<'static>>,
}

impl CertificateWatcher {
    /// Checks the expiry now and then daily, and reloads on every SIGHUP, until the process
    /// ends (the thread is not joined: it holds nothing that needs closing).
    fn run(mut self) {
        let mut next_check = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_check {
                self.warn_about_expiry();
                next_check = now + EXPIRY_CHECK_INTERVAL;
            }
            match wait_for_reload_signal(next_check.saturating_duration_since(now)) {
                Ok(true) => self.reload(),
                Ok(false) => {}
                Err(e) => {
                    error!("waiting for SIGHUP failed ({e}); SIGHUP will not reload any more");
                    return;
                }
            }
        }
    }

    fn reload(&mut self) {
        if self.tls_listeners == 0 {
            info!("SIGHUP: no HTTPS listener, no certificate to reload");
            return;
        }
        let loaded = http::tls::load_server_config(&self.cert, &self.key)
            .and_then(|tls| Ok((tls, http::tls::read_leaf_certificate(&self.cert)?)));
        let (tls, leaf) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                error!("SIGHUP: cannot load the certificate, still serving the previous one: {e}");
                return;
            }
        };
        for listener in 0..self.tls_listeners {
            self.front.replace_tls_config(listener, Arc::clone(&tls));
        }
        info!(
            "SIGHUP: new connections get the certificate {} (SHA-256 {})",
            self.cert.display(),
            crate::ca::sha256_fingerprint(&leaf)
        );
        if let Err(why) = http::tls::check_names_host(&leaf, &self.hostname) {
            warn!(
                "{why}: phones that connect to {} will refuse it",
                self.hostname
            );
        }
        self.served = Some(leaf);
        self.warn_about_expiry();
    }

    fn warn_about_expiry(&self) {
        let Some(leaf) = &self.served else {
            return;
        };
        let validity = match http::tls::certificate_validity(leaf) {
            Ok(validity) => validity,
            Err(why) => {
                warn!("cannot read the certificate's validity dates: {why}");
                return;
            }
        };
        let until = crate::clock::iso_date(validity.not_after);
        match validity.expiry(crate::store::now()) {
            Expiry::Expired { .. } => error!(
                "the TLS certificate {} expired on {until} UTC and phones refuse it; renew                  it and send SIGHUP (systemctl reload easd)",
                self.cert.display()
            ),
            Expiry::Soon { days_left } => warn!(
                "the TLS certificate {} expires on {until} UTC, in {days_left} days; renew                  it and send SIGHUP (systemctl reload easd)",
                self.cert.display()
            ),
            Expiry::Fine { days_left } => log::debug!(
                "the TLS certificate is valid until {until} UTC ({days_left} days)"
            ),
        }
    }
}

fn reload_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set it is given; sigaddset adds a valid signal.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGHUP in the calling thread (and the threads it starts later), so it stays
/// pending until `easd-signals` takes it: no handler runs, in particular not the ctrlc one
/// (its `termination` feature would otherwise treat SIGHUP as "stop"). Child processes
/// inherit the mask: one that should see SIGHUP must unblock it before exec.
fn block_reload_signal() -> std::io::Result<()> {
    let set = reload_signal_set();
    // SAFETY: the set is initialised; the old mask is not asked for.
    let result = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(result))
    }
}

/// Large blocks straight from the kernel, always. glibc raises its mmap threshold each time
/// a large block is freed, after which large blocks come from the heaps and leave holes
/// between long-lived small ones (parked connections, the request loop's SQLite state) that
/// are never returned. Measured with `bench_push --pings 10000`: 110 to 149 MiB RSS with the
/// sliding threshold (one run in three at the top), 91.9 MiB in every run with it fixed at
/// glibc's initial 128 KiB; idle RSS unchanged (6.3 MiB).
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Waits up to `timeout` for SIGHUP: `Ok(true)` when it came, `Ok(false)` on time-out or an
/// interruption (the caller recomputes the remaining time).
fn wait_for_reload_signal(timeout: Duration) -> std::io::Result<bool> {
    let set = reload_signal_set();
    let timeout = libc::timespec {
        // At most a day, far inside time_t.
        tv_sec: timeout.as_secs().min(EXPIRY_CHECK_INTERVAL.as_secs()) as libc::time_t,
        // Below a billion: fits c_long on 32-bit targets too (armv7's is i32).
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: both pointers refer to initialised values that outlive the call; the info
    // pointer may be null.
    let signal = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
    if signal == libc::SIGHUP {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

/// Prints where easd listens and, on a fresh database, how to add the first user.
fn announce(config: &Config, no_users: bool) {
    for addr in &config.https {
        println!("easd: listening on https://{addr}/Microsoft-Server-ActiveSync");
    }
    for addr in &config.http {
        println!("easd: listening on http://{addr}/Microsoft-Server-ActiveSync");
    }
    println!("easd: phones connect to {}", config.mobilesync_url());
    println!("easd: database {}", config.database.display());
    if no_users {
        println!(
            "easd: no users yet; add one with: easd --db {} user add you@example.com --password-stdin",
            config.database.display()
        );
    }
}

fn init_logging(config: &Config) {
    let level = if config.debug_wire {
        config.log_level.max(log::LevelFilter::Debug)
    } else {
        config.log_level
    };
    let mut builder = simplelog::ConfigBuilder::new();
    builder
        .add_filter_allow_str("easd")
        .set_time_format_rfc3339();
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        // Under systemd the journal stamps every line already.
        builder.set_time_level(log::LevelFilter::Off);
    }
    let log_config = builder.build();
    // A second initialisation (tests calling in-process) is harmless.
    let _ = simplelog::WriteLogger::init(level, log_config, std::io::stderr());
}

/// Every phone holds a socket open; raise the soft open-files limit to the hard limit so the
/// front door's `max-connections`, not a 1,024 default, decides how many phones fit.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur >= limit.rlim_max {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0
    };
    if raised {
        info!(
            "open-files limit raised from {} to {}",
            limit.rlim_cur, limit.rlim_max
        );
    } else {
        warn!(
            "could not raise the open-files limit above {}",
            limit.rlim_cur
        );
    }
}

/// A fresh directory only this process can enter, for the internal socket and spooled bodies.
fn private_run_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "easd-{}-{}",
        std::process::id(),
        crate::store::random_hex(6)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
