//! ValidateCert (MS-ASCMD 2.2.1.22): the client sends the certificates of S/MIME signers
//! (Certificates) and the intermediate certificates to build their chains with
//! (CertificateChain); each certificate is validated against the configured trust store
//! (`smime-trust-store`, the system's CA bundle by default) by [`crate::smime::trust`] and
//! answered with its own Status.
//!
//! CheckCRL: easd fetches no revocation lists. With CheckCRL 0 (the default) the spec lets the
//! server ignore an unverifiable revocation status; with CheckCRL 1 it must not, so an
//! otherwise valid certificate is answered 16, "the revocation status cannot be validated".

use base64::Engine;
use log::warn;

use super::{CommandError, Reply, Request};
use crate::smime::trust::{validate, TrustStore, Verdict};
use crate::wbxml::{tag::validate_cert as vc, Element};

/// ValidateCert Status values (MS-ASCMD 2.2.3.177.18).
mod status {
    pub const SUCCESS: &str = "1";
    pub const PROTOCOL_ERROR: &str = "2";
    pub const SIGNATURE_INVALID: &str = "3";
    pub const UNTRUSTED_SOURCE: &str = "4";
    pub const NOT_VALID_FOR_SIGNING: &str = "6";
    pub const EXPIRED: &str = "7";
    pub const INFORMATION_INCORRECT: &str = "10";
    pub const INCORRECT_ROLE_IN_CHAIN: &str = "11";
    pub const REVOCATION_UNVERIFIABLE: &str = "16";
    pub const SERVER_ERROR: &str = "17";
}

/// Most certificates (signers plus chain) one request may carry.
const MAX_CERTIFICATES: usize = 50;

fn status_of(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => status::SUCCESS,
        Verdict::BadSignature => status::SIGNATURE_INVALID,
        Verdict::Untrusted => status::UNTRUSTED_SOURCE,
        Verdict::OutsideValidity => status::EXPIRED,
        Verdict::NotForSigningMail => status::NOT_VALID_FOR_SIGNING,
        Verdict::MisplacedInChain => status::INCORRECT_ROLE_IN_CHAIN,
        Verdict::Malformed => status::INFORMATION_INCORRECT,
        Verdict::RevocationUnknown => status::REVOCATION_UNVERIFIABLE,
    }
}

/// A Certificate element's DER: base64 text as the spec says, or raw bytes sent as opaque.
fn der_of(element: &Element) -> Option<Vec<u8>> {
    let text = element.text()?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        Ok(der) if !der.is_empty() => Some(der),
        _ => element.bytes().filter(|b| b.first() == Some(&0x30)),
    }
}

fn answer(code: &str, certificates: &[&str]) -> Reply {
    let mut doc = Element::new(vc::VALIDATE_CERT);
    doc.push_text(vc::STATUS, code);
    for certificate_status in certificates {
        let mut certificate = Element::new(vc::CERTIFICATE);
        certificate.push_text(vc::STATUS, *certificate_status);
        doc.push(certificate);
    }
    Reply::Document(doc)
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == vc::VALIDATE_CERT) else {
        return Ok(Reply::HttpStatus(400));
    };
    let signers: Vec<&Element> = body
        .children_with(vc::CERTIFICATES)
        .flat_map(|c| c.children_with(vc::CERTIFICATE))
        .collect();
    let chain: Vec<&Element> = body
        .children_with(vc::CERTIFICATE_CHAIN)
        .flat_map(|c| c.children_with(vc::CERTIFICATE))
        .collect();
    let check_crl = match body.child_text(vc::CHECK_CRL).as_deref().map(str::trim) {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Ok(answer(status::PROTOCOL_ERROR, &[])),
    };
    if signers.is_empty() || signers.len() + chain.len() > MAX_CERTIFICATES {
        return Ok(answer(status::PROTOCOL_ERROR, &[]));
    }
    let Some(intermediates) = chain.iter().map(|c| der_of(c)).collect::<Option<Vec<_>>>() else {
        return Ok(answer(status::PROTOCOL_ERROR, &[]));
    };
    let store = match TrustStore::load(request.smime_trust_store) {
        Ok(store) => store,
        Err(e) => {
            warn!(
                "ValidateCert: cannot read the trust store {}: {e}",
                request.smime_trust_store.display()
            );
            return Ok(answer(status::SERVER_ERROR, &[]));
        }
    };
    let now = crate::store::now();
    let statuses: Vec<&str> = signers
        .iter()
        .map(|signer| match der_of(signer) {
            Some(der) => status_of(validate(&der, &intermediates, &store, now, check_crl)),
            None => status::INFORMATION_INCORRECT,
        })
        .collect();
    Ok(answer(status::SUCCESS, &statuses))
}
