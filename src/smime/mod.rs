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
