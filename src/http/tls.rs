//! TLS material for the front door: loading a certificate chain and private key from PEM
//! files into a rustls server configuration (ring provider, HTTP/1.1 ALPN), and writing a
//! self-signed certificate for first start-up.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Validity of a generated self-signed certificate: 825 days, the longest that iOS accepts
/// for a server certificate (longer ones are refused even when the user trusts them).
const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(825 * 24 * 60 * 60);
/// Back-dating of `not_before`, so clients with a slightly late clock accept it at once.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(24 * 60 * 60);

/// Why TLS material could not be loaded or written.
#[derive(Debug)]
pub enum TlsError {
    /// Reading or writing a file failed.
    Io { path: PathBuf, source: io::Error },
    /// A PEM file held no usable certificate or key.
    Pem { path: PathBuf, reason: String },
    /// rustls refused the certificate/key combination.
    Rustls(rustls::Error),
    /// Generating the self-signed certificate failed.
    Generate(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::Pem { path, reason } => write!(f, "{}: {reason}", path.display()),
            TlsError::Rustls(error) => write!(f, "TLS configuration rejected: {error}"),
            TlsError::Generate(reason) => {
                write!(f, "cannot generate a self-signed certificate: {reason}")
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Io { source, .. } => Some(source),
            TlsError::Rustls(error) => Some(error),
            TlsError::Pem { .. } | TlsError::Generate(_) => None,
        }
    }
}

/// Builds the server configuration from a PEM certificate chain (leaf first) and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1). Offers ALPN `http/1.1`, no client auth.
pub fn load_server_config(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_text = read_file(cert_pem)?;
    let certs = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: cert_pem.to_path_buf(),
            reason: error.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_pem.to_path_buf(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    let key_text = read_file(key_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|error| TlsError::Pem {
        path: key_pem.to_path_buf(),
        reason: format!("no usable private key: {error}"),
    })?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a new self-signed certificate and its private key (file mode 0600).
///
/// The subject alternative names are `host_names` (DNS names or IP addresses) plus
/// `localhost`; the certificate is valid for 825 days from yesterday.
pub fn write_self_signed(
    cert_pem: &Path,
    key_pem: &Path,
    host_names: &[String],
) -> Result<(), TlsError> {
    let mut names: Vec<String> = Vec::with_capacity(host_names.len() + 1);
    for name in host_names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("localhost")) {
        names.push("localhost".to_string());
    }
    let common_name = names.first().cloned().unwrap_or_else(|| "localhost".into());

    let generate = |error: rcgen::Error| TlsError::Generate(error.to_string());
    let mut params = rcgen::CertificateParams::new(names).map_err(generate)?;
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, common_name);
    subject.push(rcgen::DnType::OrganizationName, "easd");
    params.distinguished_name = subject;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .saturating_sub(CLOCK_SKEW_ALLOWANCE);
    // Whole seconds keep the DER encoding of the validity dates simple.
    let not_before = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
    params.not_before = not_before;
    params.not_after = not_before + SELF_SIGNED_VALIDITY;

    let key_pair = rcgen::KeyPair::generate().map_err(generate)?;
    let certificate = params.self_signed(&key_pair).map_err(generate)?;

    write_private_file(key_pem, key_pair.serialize_pem().as_bytes())?;
    write_public_file(cert_pem, certificate.pem().as_bytes())?;
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes through a temporary file created with mode 0600, then renames it into place,
/// so the key is never readable by others, not even briefly.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    write_atomically(path, contents, 0o600)
}

fn write_public_file(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    write_atomically(path, contents, 0o644)
}

fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let io_error = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let _ = fs::remove_file(&temporary);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        // The umask may have narrowed the mode; the certificate should stay world-readable.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("easd-tls-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn self_signed_material_loads_into_a_server_config() {
        let dir = temp_dir("roundtrip");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        write_self_signed(
            &cert,
            &key,
            &["mail.example.org".into(), "192.0.2.1".into()],
        )
        .unwrap();

        let key_mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(key_mode, 0o600);
        assert!(fs::read_to_string(&cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));

        let config = load_server_config(&cert, &key).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!dir.join("key.pem.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_certificate_names_the_hosts_and_localhost() {
        let dir = temp_dir("names");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        write_self_signed(&cert, &key, &["nas.home.arpa".into(), "LOCALHOST".into()]).unwrap();
        let der = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"nas.home.arpa"));
        assert!(contains(b"LOCALHOST"));
        assert!(!contains(b"localhost"), "localhost must not be added twice");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_or_empty_files_are_reported() {
        let dir = temp_dir("errors");
        let missing = load_server_config(&dir.join("nope.pem"), &dir.join("nope.key"));
        assert!(matches!(missing, Err(TlsError::Io { .. })));
        fs::write(dir.join("empty.pem"), "").unwrap();
        let empty = load_server_config(&dir.join("empty.pem"), &dir.join("empty.pem"));
        assert!(matches!(empty, Err(TlsError::Pem { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }
}
