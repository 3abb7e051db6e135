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
    let temporary = path.with_extension(format!("tmp-{}", crate::store::random_hex(6)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("easd-ca-{}", crate::store::random_hex(8)));
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
        let chain = crate::http::tls::read_certificate_chain(chain_pem).unwrap();
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
}
