//! easd's small private certificate authority: one CA certificate and key next to the
//! database (`easd-ca.pem`, `easd-ca-key.pem`) that signs the server certificate, so a phone
//! trusts the server once, by installing the CA (the web page offers it, alone and inside the
//! iOS configuration profile), and keeps trusting it when the server certificate is renewed.
//!
//! `easd cert self-signed` and the first start make the CA when it is missing and reuse it
//! otherwise. rcgen signs with an issuer *certificate*; without an X.509 parser the stored CA
//! is rebuilt from its key: the CA's name is derived from its public key, so the rebuilt
//! issuer has the same subject and key identifier as the stored certificate, and what it
//! signs chains to that certificate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// The CA lasts long: phones should not have to trust a new one every few years.
const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Apple platforms refuse TLS server certificates valid for more than 825 days.
const SERVER_VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);
/// Start dates lie this far back, for phones whose clocks run a little slow.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(24 * 3600);

/// Where the CA certificate and key live: next to the database.
pub fn ca_paths(config: &Config) -> (PathBuf, PathBuf) {
    let dir = config
        .database
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    (dir.join("easd-ca.pem"), dir.join("easd-ca-key.pem"))
}

/// What [`write_ca_signed`] did.
pub struct Issued {
    /// The CA was made now (not reused).
    pub new_ca: bool,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
}

/// Makes a server certificate for `hosts` (and localhost) signed by the CA at `ca_cert` /
/// `ca_key`, making the CA first if either file is missing. The server certificate file holds
/// the chain (server, then CA).
pub fn write_ca_signed(
    ca_cert: &Path,
    ca_key: &Path,
    cert: &Path,
    key: &Path,
    hosts: &[String],
) -> Result<Issued, String> {
    let new_ca = !(ca_cert.exists() && ca_key.exists());
    let ca_key_pair = if new_ca {
        let key_pair = KeyPair::generate().map_err(|e| e.to_string())?;
        let certificate = ca_params(&key_pair, SystemTime::now())?
            .self_signed(&key_pair)
            .map_err(|e| e.to_string())?;
        write_file(ca_key, key_pair.serialize_pem().as_bytes(), 0o600)?;
        write_file(ca_cert, certificate.pem().as_bytes(), 0o644)?;
        key_pair
    } else {
        let pem =
            std::fs::read_to_string(ca_key).map_err(|e| format!("{}: {e}", ca_key.display()))?;
        KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", ca_key.display()))?
    };
    let ca_pem =
        std::fs::read_to_string(ca_cert).map_err(|e| format!("{}: {e}", ca_cert.display()))?;
    let ca_der =
        pem_der(&ca_pem).ok_or_else(|| format!("{}: no certificate", ca_cert.display()))?;
    // The issuer as rcgen needs it: same name and key as the stored CA certificate.
    let issuer = ca_params(&ca_key_pair, SystemTime::now())?
        .self_signed(&ca_key_pair)
        .map_err(|e| e.to_string())?;

    let mut names: Vec<String> = Vec::new();
    for name in hosts.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name.to_string());
        }
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("localhost")) {
        names.push("localhost".to_string());
    }
    let mut params = CertificateParams::new(names.clone()).map_err(|e| e.to_string())?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, names[0].clone());
    subject.push(DnType::OrganizationName, "easd");
    params.distinguished_name = subject;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, SystemTime::now(), SERVER_VALIDITY);
    let server_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let server = params
        .signed_by(&server_key, &issuer, &ca_key_pair)
        .map_err(|e| e.to_string())?;
    write_file(key, server_key.serialize_pem().as_bytes(), 0o600)?;
    let chain = format!("{}{}", server.pem(), ca_pem.trim_start());
    write_file(cert, chain.as_bytes(), 0o644)?;
    Ok(Issued { new_ca, ca_der })
}

/// The CA's parameters; its name carries a digest of its public key, so it is the same every
/// time it is rebuilt from the key, and differs between servers.
fn ca_params(key: &KeyPair, now: SystemTime) -> Result<CertificateParams, String> {
    let digest = Sha256::digest(key.public_key_der());
    let id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let mut params = CertificateParams::new(Vec::new()).map_err(|e| e.to_string())?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, format!("easd private CA {id}"));
    subject.push(DnType::OrganizationName, "easd");
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, CA_VALIDITY);
    Ok(params)
}

/// Valid from a day before `now` for `lasting`.
fn set_validity(params: &mut CertificateParams, now: SystemTime, lasting: Duration) {
    let since_epoch = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .saturating_sub(CLOCK_SKEW_ALLOWANCE);
    // Whole seconds keep the DER encoding of the validity dates simple.
    let start = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
    params.not_before = start;
    params.not_after = start + lasting;
}

/// The first certificate of a PEM text, DER.
pub fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    let body: String = pem[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Writes through a temporary file created with `mode`, then renames it into place, so a key
/// is never readable by others, not even briefly, and a reader never sees half a file.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temporary = path.with_extension(format!("tmp-{}-{nanos}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: {e}", path.display())
    })
}

/// The SHA-256 fingerprint of a certificate as colon-separated upper-case hex, the form
/// `openssl x509 -fingerprint -sha256` prints and phones show when asked to trust one.
pub fn sha256_fingerprint(certificate: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(certificate);
    let mut text = String::with_capacity(digest.len() * 3);
    for (index, byte) in digest.iter().enumerate() {
        if index > 0 {
            text.push(':');
        }
        text.push_str(&format!("{byte:02X}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("easd-ca-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A rustls client that trusts only `ca_der` accepts the server certificate for `name`.
    fn verifies(ca_der: &[u8], chain_pem: &Path, name: &str) -> bool {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der.to_vec())).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let text = std::fs::read_to_string(chain_pem).unwrap();
        let chain: Vec<CertificateDer<'static>> = text
            .split_inclusive("-----END CERTIFICATE-----")
            .filter_map(pem_der)
            .map(CertificateDer::from)
            .collect();
        verifier
            .verify_server_cert(
                &chain[0],
                &chain[1..],
                &ServerName::try_from(name.to_string()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .is_ok()
    }

    #[test]
    fn the_server_certificate_chains_to_the_ca_also_when_the_ca_is_reused() {
        let dir = temp_dir();
        let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let hosts = ["mail.example.org".to_string()];
        let first = write_ca_signed(&ca_cert, &ca_key, &cert, &key, &hosts).unwrap();
        assert!(first.new_ca);
        assert!(verifies(&first.ca_der, &cert, "mail.example.org"));
        assert!(verifies(&first.ca_der, &cert, "localhost"));
        assert!(!verifies(&first.ca_der, &cert, "other.example.org"));

        // Renewed: the same CA signs, phones that trust it keep trusting the server.
        let second = write_ca_signed(&ca_cert, &ca_key, &cert, &key, &hosts).unwrap();
        assert!(!second.new_ca);
        assert_eq!(second.ca_der, first.ca_der);
        assert!(verifies(&first.ca_der, &cert, "mail.example.org"));

        // Another server's CA does not vouch for this one.
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        let foreign = write_ca_signed(
            &other.join("ca.pem"),
            &other.join("ca-key.pem"),
            &other.join("cert.pem"),
            &other.join("key.pem"),
            &hosts,
        )
        .unwrap();
        assert!(!verifies(&foreign.ca_der, &cert, "mail.example.org"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ca_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    #[test]
    fn fingerprints_are_colon_separated_sha256() {
        assert_eq!(
            sha256_fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:\
             B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }
}
