//! Validating an S/MIME signer's certificate chain: the trust anchors of a PEM bundle (the
//! system's `ca-certificates`, or the file or directory configured), the path built and its
//! signatures, validity periods and the e-mail protection purpose checked by `webpki`
//! (rustls' own verifier, already in the binary), and the signing key usage read here.
//!
//! Revocation is not checked: easd fetches no CRL or OCSP answer (many of its boxes are
//! offline). [`Verdict::RevocationUnknown`] says so when the client insists on it.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, Error, KeyUsage};

use super::x509::{self, OID_EMAIL_PROTECTION};

/// The trust anchors certificates are validated against.
#[derive(Debug, Default)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustStore {
    /// The anchors of a PEM bundle file, or of every `.pem`/`.crt` file of a directory.
    /// Certificates that cannot serve as anchors are skipped; an unreadable path is an error.
    pub fn load(path: &Path) -> std::io::Result<TrustStore> {
        let mut store = TrustStore::default();
        if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pem" || e == "crt"))
                .collect();
            files.sort();
            for file in files {
                if let Ok(bytes) = std::fs::read(&file) {
                    store.add_pem(&bytes);
                }
            }
        } else {
            store.add_pem(&std::fs::read(path)?);
        }
        Ok(store)
    }

    /// Adds the certificates of PEM text as anchors.
    pub fn add_pem(&mut self, pem: &[u8]) {
        for der in CertificateDer::pem_slice_iter(pem).filter_map(Result::ok) {
            self.add_der(&der);
        }
    }

    /// Adds one DER certificate as an anchor; false if it cannot be one.
    pub fn add_der(&mut self, der: &[u8]) -> bool {
        let der = CertificateDer::from(der);
        match webpki::anchor_from_trusted_cert(&der) {
            Ok(anchor) => {
                self.anchors.push(anchor.to_owned());
                true
            }
            Err(_) => false,
        }
    }

    /// How many anchors the store holds.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// The outcome of validating one certificate, most specific reason first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// A signature in the chain does not verify (or uses an algorithm not supported).
    BadSignature,
    /// No path leads to a trust anchor.
    Untrusted,
    /// A certificate of the chain is expired or not yet valid.
    OutsideValidity,
    /// The certificate is not meant for signing mail (extended key usage or key usage).
    NotForSigningMail,
    /// A certificate is used in the wrong place of the chain (a CA as the signer, an
    /// end-entity certificate as an issuer, path length or name constraints broken).
    MisplacedInChain,
    /// The certificate cannot be read.
    Malformed,
    /// Everything else holds, but revocation was asked for and cannot be checked.
    RevocationUnknown,
}

/// Validates the signer certificate `end_entity` (DER) with the `intermediates` the client
/// sent, at `now` (Unix seconds). `require_revocation`: the client does not accept an
/// unverifiable revocation status (ValidateCert CheckCRL).
pub fn validate(
    end_entity: &[u8],
    intermediates: &[Vec<u8>],
    store: &TrustStore,
    now: i64,
    require_revocation: bool,
) -> Verdict {
    let Some(info) = x509::read(end_entity) else {
        return Verdict::Malformed;
    };
    let der = CertificateDer::from(end_entity);
    let Ok(certificate) = EndEntityCert::try_from(&der) else {
        return Verdict::Malformed;
    };
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let time = UnixTime::since_unix_epoch(Duration::from_secs(now.max(0) as u64));
    let verified = certificate.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &store.anchors,
        &intermediates,
        time,
        KeyUsage::required_if_present(OID_EMAIL_PROTECTION),
        None,
        None,
    );
    if let Err(error) = verified {
        return verdict_of(&error);
    }
    if info.is_ca {
        return Verdict::MisplacedInChain;
    }
    if !info.allows_signing() {
        return Verdict::NotForSigningMail;
    }
    if require_revocation {
        return Verdict::RevocationUnknown;
    }
    Verdict::Valid
}

fn verdict_of(error: &Error) -> Verdict {
    match error {
        Error::CertExpired { .. } | Error::CertNotValidYet { .. } | Error::InvalidCertValidity => {
            Verdict::OutsideValidity
        }
        Error::UnknownIssuer | Error::CertDistrusted => Verdict::Untrusted,
        Error::RequiredEkuNotFoundContext(_) | Error::EmptyEkuExtension => {
            Verdict::NotForSigningMail
        }
        Error::CaUsedAsEndEntity
        | Error::EndEntityUsedAsCa
        | Error::PathLenConstraintViolated
        | Error::NameConstraintViolation => Verdict::MisplacedInChain,
        Error::InvalidSignatureForPublicKey
        | Error::SignatureAlgorithmMismatch
        | Error::UnsupportedSignatureAlgorithmContext(_)
        | Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => Verdict::BadSignature,
        _ => Verdict::Malformed,
    }
}
