//! S/MIME certificates, protocol-neutral: reading certificate files (PEM or DER) and the
//! fields easd decides on ([`x509`]), and validating a signer's chain against a trust store
//! ([`trust`]). Uses nothing else of easd; the store keeps the bytes, `eas` answers with them.

pub mod trust;
pub mod x509;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The DER certificates of a file: every `CERTIFICATE` block of PEM text, or the file itself
/// when it is one DER certificate (`.cer`/`.der`). Empty when it holds neither.
pub fn certificates_in(bytes: &[u8]) -> Vec<Vec<u8>> {
    let pem: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(bytes)
        .filter_map(Result::ok)
        .map(|der| der.to_vec())
        .collect();
    if !pem.is_empty() {
        return pem;
    }
    if x509::read(bytes).is_some() {
        return vec![bytes.to_vec()];
    }
    Vec::new()
}

/// The SHA-256 fingerprint of a DER certificate, lower-case hex without separators.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a certificate file is refused as a user's own.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither PEM certificates nor one DER certificate.
    NoCertificate,
    /// Only CA certificates.
    OnlyAuthorities,
    /// A certificate names other addresses than the user's (or none).
    OtherAddress(Vec<String>),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoCertificate => f.write_str("no certificate in the file (PEM or DER)"),
            Refusal::OnlyAuthorities => {
                f.write_str("the file holds only CA certificates, no personal one")
            }
            Refusal::OtherAddress(names) if names.is_empty() => {
                f.write_str("the certificate names no e-mail address")
            }
            Refusal::OtherAddress(names) => {
                write!(f, "the certificate is for {}", names.join(", "))
            }
        }
    }
}

/// The personal (end-entity) certificates of a certificate file, each of which must name
/// `email` (lower-case); CA certificates in the file are skipped. All or nothing.
pub fn personal_certificates(
    bytes: &[u8],
    email: &str,
) -> Result<Vec<(Vec<u8>, x509::CertificateInfo)>, Refusal> {
    let all = certificates_in(bytes);
    if all.is_empty() {
        return Err(Refusal::NoCertificate);
    }
    let mut personal = Vec::new();
    for der in all {
        let info = x509::read(&der).ok_or(Refusal::NoCertificate)?;
        if info.is_ca {
            continue;
        }
        if !info.emails.iter().any(|e| e == email) {
            return Err(Refusal::OtherAddress(info.emails));
        }
        personal.push((der, info));
    }
    if personal.is_empty() {
        return Err(Refusal::OnlyAuthorities);
    }
    Ok(personal)
}
