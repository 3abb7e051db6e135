//! `easd serve`: opens the database, prepares TLS (a self-signed certificate when none is
//! configured), starts the blocking request loop on a private Unix socket and runs the mio
//! front door on the main thread until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argh::FromArgs;
use log::{info, warn};

use super::{exit, open_store};
use crate::autodiscover::AutodiscoverSettings;
use crate::config::Config;
use crate::http::{self, FrontDoor, FrontDoorConfig, Limits, ListenerSpec};
use crate::server::{Backend, BackendSettings};

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
    outcome
}

fn serve_with(
    mut config: Config,
    store: crate::store::Store,
    tls: Option<Arc<rustls::ServerConfig>>,
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

    let mut listeners = Vec::new();
    for addr in &config.https {
        listeners.push(ListenerSpec {
            addr: *addr,
            tls: tls.clone(),
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
        spool_dir: run_dir.to_path_buf(),
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

    let settings = BackendSettings {
        max_body_bytes: config.max_body_bytes,
        debug_wire: config.debug_wire,
        autodiscover: AutodiscoverSettings::from_config(&config),
    };
    let loop_server = Arc::clone(&tiny);
    let request_loop = std::thread::Builder::new()
        .name("easd-requests".into())
        .spawn(move || {
            let mut backend = Backend::new(store, settings);
            backend.run(&loop_server);
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

/// Loads the configured certificate, or creates and uses a self-signed one next to the database.
fn server_tls(config: &Config) -> Result<Arc<rustls::ServerConfig>, i32> {
    let (cert, key) = config.cert_paths();
    if config.cert.is_none() && !(cert.exists() && key.exists()) {
        let names = vec![config.hostname.clone()];
        if let Err(e) = http::tls::write_self_signed(&cert, &key, &names) {
            eprintln!("easd: cannot create a self-signed certificate: {e}");
            return Err(exit::CANTCREAT);
        }
        info!(
            "created a self-signed certificate for {} in {}",
            config.hostname,
            cert.display()
        );
    }
    http::tls::load_server_config(&cert, &key).map_err(|e| {
        eprintln!("easd: TLS certificate {}: {e}", cert.display());
        exit::CONFIG
    })
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
    let log_config = simplelog::ConfigBuilder::new()
        .add_filter_allow_str("easd")
        .set_time_format_rfc3339()
        .build();
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
