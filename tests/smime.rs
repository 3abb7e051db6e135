//! S/MIME certificates through the real server. The tests make their own certificates
//! (rcgen): a test root CA, written to a PEM file the server is configured to trust
//! (`smime-trust-store`), never the machine's store.
//!
//! - ValidateCert: a good signer (directly under the root, and under an intermediate sent in
//!   CertificateChain), expired, untrusted (another root; an intermediate left out), meant
//!   for TLS servers only, a key that may not sign, CheckCRL honestly answered 16, garbage and
//!   empty requests.
//! - `easd user cert add|list|remove` and ResolveRecipients CertificateRetrieval 1, 2, 3 and
//!   MaxCertificates: only a user's certificates that are valid now, only for a resolved
//!   recipient.
//!
//! Every answer is also decoded by libwbxml.

mod common;

use base64::Engine;
use common::{TestDevice, TestServer};
use easd::wbxml::tag::{resolve_recipients as rr, validate_cert as vc};
use easd::wbxml::Element;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// A certificate authority the tests sign with.
struct Authority {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn root(name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let certificate = authority_params(name).self_signed(&key).unwrap();
        Authority { certificate, key }
    }

    fn intermediate(&self, name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let certificate = authority_params(name)
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        Authority { certificate, key }
    }

    /// A personal certificate for `email`, changed by `adjust`, as DER.
    fn issue(&self, email: &str, adjust: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, email);
        params.subject_alt_names = vec![SanType::Rfc822Name(email.try_into().unwrap())];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap()
            .der()
            .to_vec()
    }

    fn der(&self) -> Vec<u8> {
        self.certificate.der().to_vec()
    }
}

fn authority_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2095, 1, 1);
    params
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "easd-smime-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server that trusts only `root`.
fn server_trusting(root: &Authority) -> TestServer {
    let store = temp_dir().join("trusted.pem");
    std::fs::write(&store, root.certificate.pem()).unwrap();
    let server = TestServer::start_with(&format!("smime-trust-store = {}", store.display()));
    server.add_user(ALICE);
    server.add_user(BOB);
    server
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Sends ValidateCert; returns the command Status and each certificate's Status.
fn validate(
    device: &mut TestDevice,
    signers: &[&[u8]],
    chain: &[&[u8]],
    check_crl: Option<&str>,
) -> (String, Vec<String>) {
    let mut doc = Element::new(vc::VALIDATE_CERT);
    if !chain.is_empty() {
        let mut element = Element::new(vc::CERTIFICATE_CHAIN);
        for der in chain {
            element.push_text(vc::CERTIFICATE, b64(der));
        }
        doc.push(element);
    }
    let mut element = Element::new(vc::CERTIFICATES);
    for der in signers {
        element.push_text(vc::CERTIFICATE, b64(der));
    }
    if !signers.is_empty() {
        doc.push(element);
    }
    if let Some(check) = check_crl {
        doc.push_text(vc::CHECK_CRL, check);
    }
    let response = device.command("ValidateCert", Some(&doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ValidateCert");
    let doc = response.doc();
    let statuses = doc
        .children_with(vc::CERTIFICATE)
        .map(|c| c.child_text(vc::STATUS).unwrap_or_default())
        .collect();
    (doc.child_text(vc::STATUS).unwrap_or_default(), statuses)
}

#[test]
fn validate_cert_answers_each_certificate_with_the_specs_status() {
    let root = Authority::root("easd test root");
    let server = server_trusting(&root);
    let mut device = server.device(ALICE, "alice-validate");

    let good = root.issue(ALICE, |_| {});
    let expired = root.issue(ALICE, |p| {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let stranger = Authority::root("someone else's root").issue(ALICE, |_| {});
    let server_only = root.issue(ALICE, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let no_signing = root.issue(ALICE, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    });
    let (status, statuses) = validate(
        &mut device,
        &[
            &good,
            &expired,
            &stranger,
            &server_only,
            &no_signing,
            b"garbage",
        ],
        &[],
        None,
    );
    assert_eq!(status, "1");
    assert_eq!(statuses, ["1", "7", "4", "6", "6", "10"]);

    // Under an intermediate: valid with the chain sent, untrusted without it.
    let intermediate = root.intermediate("easd test intermediate");
    let leaf = intermediate.issue(ALICE, |_| {});
    let (_, with_chain) = validate(&mut device, &[&leaf], &[&intermediate.der()], None);
    assert_eq!(with_chain, ["1"]);
    let (_, without_chain) = validate(&mut device, &[&leaf], &[], None);
    assert_eq!(without_chain, ["4"]);
    // A CA certificate is no signer.
    let (_, authority) = validate(&mut device, &[&intermediate.der()], &[], None);
    assert_eq!(authority, ["11"]);

    // CheckCRL 1: easd fetches no revocation lists, so it cannot say the certificate is not
    // revoked, and says so; CheckCRL 0 lets it ignore that.
    assert_eq!(validate(&mut device, &[&good], &[], Some("1")).1, ["16"]);
    assert_eq!(validate(&mut device, &[&good], &[], Some("0")).1, ["1"]);
    // An expired certificate stays expired whatever CheckCRL says.
    assert_eq!(validate(&mut device, &[&expired], &[], Some("1")).1, ["7"]);

    // No certificate at all, or a CheckCRL that is no boolean: protocol error.
    assert_eq!(validate(&mut device, &[], &[], None), ("2".into(), vec![]));
    assert_eq!(
        validate(&mut device, &[&good], &[], Some("yes")),
        ("2".into(), vec![])
    );
}

#[test]
fn a_missing_trust_store_is_a_server_error_not_a_pass() {
    let server = TestServer::start_with("smime-trust-store = /nonexistent/easd-trust.pem");
    server.add_user(ALICE);
    let root = Authority::root("root");
    let mut device = server.device(ALICE, "alice-notrust");
    let (status, statuses) = validate(&mut device, &[&root.issue(ALICE, |_| {})], &[], None);
    assert_eq!(status, "17");
    assert!(statuses.is_empty());
}

fn resolve(device: &mut TestDevice, to: &str, options: &[(easd::wbxml::Tag, &str)]) -> Element {
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    doc.push_text(rr::TO, to);
    let mut element = Element::new(rr::OPTIONS);
    for (tag, value) in options {
        element.push_text(*tag, *value);
    }
    doc.push(element);
    let response = device.command("ResolveRecipients", Some(&doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ResolveRecipients");
    let doc = response.doc().clone();
    assert_eq!(doc.child_text(rr::STATUS).as_deref(), Some("1"));
    doc
}

fn certificates_of(doc: &Element) -> Option<Element> {
    doc.child(rr::RESPONSE)?
        .child(rr::RECIPIENT)?
        .child(rr::CERTIFICATES)
        .cloned()
}

fn write_pem(name: &str, ders: &[&[u8]]) -> std::path::PathBuf {
    let pem: String = ders
        .iter()
        .map(|der| {
            let body = b64(der);
            let lines: Vec<&str> = body
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect();
    let path = temp_dir().join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn stored_certificates_reach_senders_through_resolve_recipients() {
    let root = Authority::root("easd test root");
    let server = server_trusting(&root);
    let good = root.issue(ALICE, |_| {});
    let expired = root.issue(ALICE, |p| {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });

    // The administrator stores Alice's certificates: a PEM with her certificate and the root
    // (the root is skipped), and an old one as DER. Bob's certificate is refused for Alice.
    let pem = write_pem("alice.pem", &[&good, &root.der()]);
    let out = server.easd(&["user", "cert", "add", ALICE, pem.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let der = temp_dir().join("alice-old.cer");
    std::fs::write(&der, &expired).unwrap();
    let out = server.easd(&["user", "cert", "add", ALICE, der.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let bobs = write_pem("bob.pem", &[&root.issue(BOB, |_| {})]);
    let out = server.easd(&["user", "cert", "add", ALICE, bobs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
    let garbage = temp_dir().join("garbage.pem");
    std::fs::write(&garbage, b"not a certificate").unwrap();
    let out = server.easd(&["user", "cert", "add", ALICE, garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
    let listed = server.easd(&["user", "cert", "list", ALICE]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("\tvalid\t") && listed.contains("\texpired\t"),
        "{listed}"
    );

    let mut bob = server.device(BOB, "bob-phone");

    // 2: every valid certificate (the expired one is not offered).
    let doc = resolve(&mut bob, ALICE, &[(rr::CERTIFICATE_RETRIEVAL, "2")]);
    let certificates = certificates_of(&doc).expect("Certificates");
    assert_eq!(certificates.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(
        certificates.child_text(rr::CERTIFICATE_COUNT).as_deref(),
        Some("1")
    );
    assert_eq!(
        certificates.child_text(rr::RECIPIENT_COUNT).as_deref(),
        Some("1")
    );
    assert_eq!(
        certificates.child_text(rr::CERTIFICATE).as_deref(),
        Some(b64(&good).as_str())
    );
    assert!(certificates.child(rr::MINI_CERTIFICATE).is_none());

    // 3: one, as the MiniCertificate.
    let doc = resolve(&mut bob, ALICE, &[(rr::CERTIFICATE_RETRIEVAL, "3")]);
    let mini = certificates_of(&doc).expect("Certificates");
    assert_eq!(mini.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(
        mini.child_text(rr::MINI_CERTIFICATE).as_deref(),
        Some(b64(&good).as_str())
    );
    assert!(mini.child(rr::CERTIFICATE).is_none());

    // 1: none asked for, none sent.
    let doc = resolve(&mut bob, ALICE, &[(rr::CERTIFICATE_RETRIEVAL, "1")]);
    assert!(certificates_of(&doc).is_none());

    // MaxCertificates 0: over the limit (Status 8), with how many were left out.
    let doc = resolve(
        &mut bob,
        ALICE,
        &[
            (rr::CERTIFICATE_RETRIEVAL, "2"),
            (rr::MAX_CERTIFICATES, "0"),
        ],
    );
    let limited = certificates_of(&doc).expect("Certificates");
    assert_eq!(limited.child_text(rr::STATUS).as_deref(), Some("8"));
    assert_eq!(
        limited.child_text(rr::CERTIFICATE_COUNT).as_deref(),
        Some("1")
    );
    assert!(limited.child(rr::CERTIFICATE).is_none());

    // Bob has none: Status 7. A CertificateRetrieval outside 1–3 is a protocol error.
    let mut alice = server.device(ALICE, "alice-phone");
    let doc = resolve(&mut alice, BOB, &[(rr::CERTIFICATE_RETRIEVAL, "2")]);
    let none = certificates_of(&doc).expect("Certificates");
    assert_eq!(none.child_text(rr::STATUS).as_deref(), Some("7"));
    assert_eq!(none.child_text(rr::CERTIFICATE_COUNT).as_deref(), Some("0"));
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    doc.push_text(rr::TO, BOB);
    let mut options = Element::new(rr::OPTIONS);
    options.push_text(rr::CERTIFICATE_RETRIEVAL, "4");
    doc.push(options);
    let response = alice.command("ResolveRecipients", Some(&doc));
    assert_eq!(response.doc().child_text(rr::STATUS).as_deref(), Some("5"));

    // Removing the valid certificate leaves Alice with none to give.
    let fingerprint = listed
        .lines()
        .find(|l| l.contains("\tvalid\t"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_string();
    let out = server.easd(&["user", "cert", "remove", ALICE, &fingerprint[..12]]);
    assert!(out.status.success(), "{out:?}");
    let doc = resolve(&mut bob, ALICE, &[(rr::CERTIFICATE_RETRIEVAL, "2")]);
    let gone = certificates_of(&doc).expect("Certificates");
    assert_eq!(gone.child_text(rr::STATUS).as_deref(), Some("7"));
}
