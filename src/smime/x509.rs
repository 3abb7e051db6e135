//! Reading the few fields of an X.509 certificate (RFC 5280) that easd shows or decides on:
//! validity, subject common name, e-mail addresses (subject `emailAddress` and
//! subjectAltName `rfc822Name`), key usage, extended key usage and the CA flag. A small DER
//! walker over the `tbsCertificate`; signatures and chains are `webpki`'s job
//! ([`super::trust`]), this only reads.

use chrono::NaiveDate;

/// OID 1.2.840.113549.1.9.1 (PKCS #9 emailAddress), content octets.
const OID_EMAIL_ADDRESS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
/// OID 2.5.4.3 (commonName).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// OID 2.5.29.15 (keyUsage).
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// OID 2.5.29.17 (subjectAltName).
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// OID 2.5.29.19 (basicConstraints).
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// OID 2.5.29.37 (extKeyUsage).
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// OID 1.3.6.1.5.5.7.3.4 (id-kp-emailProtection).
pub const OID_EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
/// OID 2.5.29.37.0 (anyExtendedKeyUsage).
const OID_ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// keyUsage bits (RFC 5280 4.2.1.3), as read from the BIT STRING's first byte.
pub mod key_usage {
    pub const DIGITAL_SIGNATURE: u8 = 0x80;
    pub const NON_REPUDIATION: u8 = 0x40;
    pub const KEY_ENCIPHERMENT: u8 = 0x20;
}

/// What easd reads from one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The subject's common name (empty without one).
    pub common_name: String,
    /// Addresses the certificate names, lower-cased.
    pub emails: Vec<String>,
    /// The keyUsage bits' first byte, `None` without the extension.
    pub key_usage: Option<u8>,
    /// The extKeyUsage purposes (OID content octets), `None` without the extension.
    pub extended_key_usage: Option<Vec<Vec<u8>>>,
    /// basicConstraints cA.
    pub is_ca: bool,
}

impl CertificateInfo {
    /// Whether the certificate may protect mail: an end-entity certificate whose extended
    /// key usage, if it has one, includes e-mail protection (or any purpose).
    pub fn allows_email_protection(&self) -> bool {
        !self.is_ca
            && self.extended_key_usage.as_ref().is_none_or(|purposes| {
                purposes
                    .iter()
                    .any(|p| p == OID_EMAIL_PROTECTION || p == OID_ANY_EXTENDED_KEY_USAGE)
            })
    }

    /// Whether the key may sign (digital signature or non-repudiation), if the certificate
    /// restricts its key's usage at all.
    pub fn allows_signing(&self) -> bool {
        self.key_usage.is_none_or(|bits| {
            bits & (key_usage::DIGITAL_SIGNATURE | key_usage::NON_REPUDIATION) != 0
        })
    }

    /// Whether `now` (Unix seconds) is inside the validity period.
    pub fn is_current(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Valid for S/MIME with a recipient at `now`: current and meant for mail.
    pub fn usable_for_smime(&self, now: i64) -> bool {
        self.is_current(now) && self.allows_email_protection()
    }
}

/// One DER element: its tag and its content.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads DER elements one after the other from a slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element; `None` for anything not DER-shaped (high tag numbers, indefinite
    /// or overlong lengths, content past the end).
    fn next(&mut self) -> Option<Tlv<'a>> {
        let (&tag, rest) = self.rest.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        if rest.len() < length {
            return None;
        }
        let (content, after) = rest.split_at(length);
        self.rest = after;
        Some(Tlv { tag, content })
    }

    /// The next element, which must carry `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let element = self.next()?;
        (element.tag == tag).then_some(element.content)
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// Unix seconds (RFC 5280 4.1.2.5: always UTC, always with seconds).
fn time(element: Tlv<'_>) -> Option<i64> {
    let text = element.content;
    let (year, rest) = match element.tag {
        UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])? as i32;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])? as i32, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let date = NaiveDate::from_ymd_opt(year, field(0)?, field(2)?)?;
    let at = date.and_hms_opt(field(4)?, field(6)?, field(8)?)?;
    Some(at.and_utc().timestamp())
}

/// The text of a directory string or IA5String value, lossily.
fn text(content: &[u8]) -> String {
    String::from_utf8_lossy(content).into_owned()
}

/// Reads a Name (RDNSequence): the common name and any emailAddress values.
fn read_name(name: &[u8], info: &mut CertificateInfo) -> Option<()> {
    let mut rdns = Reader::new(name);
    while !rdns.is_empty() {
        let mut set = Reader::new(rdns.expect(SET)?);
        while !set.is_empty() {
            let mut attribute = Reader::new(set.expect(SEQUENCE)?);
            let oid = attribute.expect(OID)?;
            let value = attribute.next()?;
            if oid == OID_COMMON_NAME && info.common_name.is_empty() {
                info.common_name = text(value.content);
            } else if oid == OID_EMAIL_ADDRESS {
                push_email(info, &text(value.content));
            }
        }
    }
    Some(())
}

fn push_email(info: &mut CertificateInfo, address: &str) {
    let address = address.trim().to_lowercase();
    if !address.is_empty() && !info.emails.contains(&address) {
        info.emails.push(address);
    }
}

fn read_extension(oid: &[u8], value: &[u8], info: &mut CertificateInfo) -> Option<()> {
    match oid {
        OID_KEY_USAGE => {
            let bits = Reader::new(value).expect(BIT_STRING)?;
            info.key_usage = Some(bits.get(1).copied().unwrap_or(0));
        }
        OID_EXT_KEY_USAGE => {
            let mut purposes = Reader::new(Reader::new(value).expect(SEQUENCE)?);
            let mut list = Vec::new();
            while !purposes.is_empty() {
                list.push(purposes.expect(OID)?.to_vec());
            }
            info.extended_key_usage = Some(list);
        }
        OID_SUBJECT_ALT_NAME => {
            let mut names = Reader::new(Reader::new(value).expect(SEQUENCE)?);
            while !names.is_empty() {
                let name = names.next()?;
                // rfc822Name is [1] IMPLICIT IA5String.
                if name.tag == 0x81 {
                    push_email(info, &text(name.content));
                }
            }
        }
        OID_BASIC_CONSTRAINTS => {
            let mut constraints = Reader::new(Reader::new(value).expect(SEQUENCE)?);
            if constraints.peek_tag() == Some(BOOLEAN) {
                info.is_ca = constraints
                    .expect(BOOLEAN)?
                    .first()
                    .is_some_and(|&b| b != 0);
            }
        }
        _ => {}
    }
    Some(())
}

/// Reads a DER certificate; `None` when it is not one.
pub fn read(der: &[u8]) -> Option<CertificateInfo> {
    let mut outer = Reader::new(der);
    let certificate = outer.expect(SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let mut parts = Reader::new(certificate);
    let mut tbs = Reader::new(parts.expect(SEQUENCE)?);
    if tbs.peek_tag() == Some(0xa0) {
        tbs.next()?; // version
    }
    tbs.expect(0x02)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Reader::new(tbs.expect(SEQUENCE)?);
    let mut info = CertificateInfo {
        not_before: time(validity.next()?)?,
        not_after: time(validity.next()?)?,
        common_name: String::new(),
        emails: Vec::new(),
        key_usage: None,
        extended_key_usage: None,
        is_ca: false,
    };
    read_name(tbs.expect(SEQUENCE)?, &mut info)?;
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    while let Some(element) = tbs.next() {
        if element.tag != 0xa3 {
            continue; // issuer/subject unique ids
        }
        let mut extensions = Reader::new(Reader::new(element.content).expect(SEQUENCE)?);
        while !extensions.is_empty() {
            let mut extension = Reader::new(extensions.expect(SEQUENCE)?);
            let oid = extension.expect(OID)?;
            if extension.peek_tag() == Some(BOOLEAN) {
                extension.next()?;
            }
            let value = extension.expect(OCTET_STRING)?;
            read_extension(oid, value, &mut info)?;
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(
        configure: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (Vec<u8>, CertificateInfo) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Alice Example");
        configure(&mut params);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let info = read(&der).expect("readable");
        (der, info)
    }

    #[test]
    fn validity_names_and_usages_are_read() {
        let (_, info) = generated(|p| {
            p.not_before = rcgen::date_time_ymd(2024, 1, 2);
            p.not_after = rcgen::date_time_ymd(2051, 3, 4);
            p.subject_alt_names = vec![rcgen::SanType::Rfc822Name(
                "Alice@Example.org".try_into().unwrap(),
            )];
            p.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment];
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::EmailProtection];
        });
        assert_eq!(info.not_before, 1_704_153_600);
        // 2051 is past UTCTime's range: GeneralizedTime.
        assert_eq!(info.not_after, 2_561_500_800);
        assert_eq!(info.common_name, "Alice Example");
        assert_eq!(info.emails, ["alice@example.org"]);
        assert_eq!(info.key_usage, Some(key_usage::KEY_ENCIPHERMENT));
        assert!(!info.allows_signing());
        assert!(info.allows_email_protection());
        assert!(info.usable_for_smime(1_800_000_000));
        assert!(!info.usable_for_smime(1_700_000_000));
    }

    #[test]
    fn server_only_and_ca_certificates_are_not_for_mail() {
        let (_, server) = generated(|p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        });
        assert!(!server.allows_email_protection());
        let (_, ca) = generated(|p| {
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        });
        assert!(ca.is_ca && !ca.allows_email_protection());
        let (_, plain) = generated(|_| {});
        assert!(plain.allows_email_protection() && plain.allows_signing());
        assert_eq!(plain.key_usage, None);
    }

    #[test]
    fn damaged_input_is_refused_not_misread() {
        let (der, _) = generated(|_| {});
        assert!(read(&der[..der.len() - 1]).is_none());
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(read(&trailing).is_none());
        assert!(read(b"").is_none());
        assert!(read(b"-----BEGIN CERTIFICATE-----").is_none());
        for cut in [1, 4, 10, 40, der.len() / 2] {
            let _ = read(&der[..cut]);
        }
    }
}
