//! `easd cert self-signed`: writes a new server certificate and private key (by default
//! where `easd serve` looks for them), signed by easd's private CA ([`super::cert_ca`]), which
//! is made on first use and reused afterwards; prints the SHA-256 fingerprints, so the
//! operator can compare them with what the phone shows before trusting the CA.

use std::path::{Path, PathBuf};

use argh::FromArgs;

use super::exit;
use crate::config::Config;
use crate::http::tls;
use crate::store::lock::adopt_directory_owner;

/// manage the TLS certificate
#[derive(FromArgs)]
#[argh(subcommand, name = "cert")]
pub struct CertArgs {
    #[argh(subcommand)]
    action: CertAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum CertAction {
    SelfSigned(SelfSignedArgs),
}

/// create a server certificate and key signed by easd's private CA, made on first use next to
/// the database (valid 825 days; a running server picks them up on SIGHUP)
#[derive(FromArgs)]
#[argh(subcommand, name = "self-signed")]
struct SelfSignedArgs {
    /// a host name or IP address phones use to reach the server; repeatable (default: the
    /// configured hostname); localhost is always added
    #[argh(option)]
    host: Vec<String>,
    /// where to write the certificate, PEM (default: the configured `cert`, else
    /// easd-cert.pem next to the database)
    #[argh(option)]
    cert: Option<PathBuf>,
    /// where to write the private key, PEM, mode 0600 (default: the configured `key`, else
    /// easd-key.pem next to the database)
    #[argh(option)]
    key: Option<PathBuf>,
    /// replace existing certificate and key files
    #[argh(switch)]
    force: bool,
}

pub fn run(config: &Config, args: CertArgs) -> i32 {
    match args.action {
        CertAction::SelfSigned(args) => self_signed(config, args),
    }
}

fn self_signed(config: &Config, args: SelfSignedArgs) -> i32 {
    let (default_cert, default_key) = config.cert_paths();
    let (cert, key) = match (args.cert, args.key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => (default_cert, default_key),
        _ => {
            eprintln!("easd: --cert and --key go together");
            return exit::USAGE;
        }
    };
    if cert == key {
        eprintln!("easd: the certificate and the key need two different files");
        return exit::USAGE;
    }
    let hosts = if args.host.is_empty() {
        vec![config.hostname.clone()]
    } else {
        args.host
    };
    for host in &hosts {
        // The same parser a phone's TLS stack applies: a name it cannot match is useless.
        if rustls::pki_types::ServerName::try_from(host.as_str()).is_err() {
            eprintln!("easd: {host:?} is neither a DNS name nor an IP address");
            return exit::USAGE;
        }
    }
    if !args.force {
        if let Some(existing) = [&cert, &key].into_iter().find(|path| path.exists()) {
            eprintln!(
                "easd: {} already exists; add --force to replace the certificate and key",
                existing.display()
            );
            return exit::CANTCREAT;
        }
    }
    for path in [&cert, &key] {
        if let Err(code) = create_parent_directory(path) {
            return code;
        }
    }
    let (ca_cert, ca_key) = crate::ca::ca_paths(config);
    let issued = match crate::ca::write_ca_signed(&ca_cert, &ca_key, &cert, &key, &hosts) {
        Ok(issued) => issued,
        Err(error) => {
            eprintln!("easd: {error}");
            return exit::CANTCREAT;
        }
    };
    for path in [&cert, &key, &ca_cert, &ca_key] {
        if let Err(error) = adopt_directory_owner(path) {
            eprintln!(
                "easd: {}: cannot hand it to the directory's owner: {error}",
                path.display()
            );
            return exit::IOERR;
        }
    }
    let code = print_summary(&cert, &key);
    println!(
        "CA:          {} ({}; private key {})",
        ca_cert.display(),
        if issued.new_ca { "new" } else { "reused" },
        ca_key.display()
    );
    println!(
        "CA SHA-256:  {}",
        crate::ca::sha256_fingerprint(&issued.ca_der)
    );
    println!(
        "Phones trust the server once they trust the CA: its certificate and an iPhone \
         profile are on the web page (https://<server>/web/setup)."
    );
    code
}

/// Prints where the pair went, what it is valid for and its fingerprint.
fn print_summary(cert: &Path, key: &Path) -> i32 {
    let leaf = match tls::read_leaf_certificate(cert) {
        Ok(leaf) => leaf,
        Err(error) => {
            eprintln!("easd: the new certificate cannot be read back: {error}");
            return exit::IOERR;
        }
    };
    println!("certificate: {}", cert.display());
    println!("private key: {} (mode 0600)", key.display());
    match tls::certificate_validity(&leaf) {
        Ok(validity) => println!(
            "valid:       {} to {} UTC",
            crate::clock::iso_date(validity.not_before),
            crate::clock::iso_date(validity.not_after)
        ),
        Err(error) => eprintln!("easd: cannot read the validity dates: {error}"),
    }
    println!("SHA-256:     {}", crate::ca::sha256_fingerprint(&leaf));
    println!(
        "Compare the SHA-256 fingerprint with the one the phone shows before trusting it. \
         A running server uses the new certificate after: systemctl reload easd \
         (or kill -HUP <pid of easd serve>)."
    );
    exit::OK
}

fn create_parent_directory(path: &Path) -> Result<(), i32> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|error| {
            eprintln!("easd: cannot create {}: {error}", parent.display());
            exit::CANTCREAT
        })
}
