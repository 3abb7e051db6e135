//! TLS material for the front door: loading a certificate chain and private key from PEM
//! files into a rustls server configuration (ring provider, HTTP/1.1 ALPN), writing a
//! self-signed certificate for first start-up, and inspecting a certificate for the
//! operator (validity dates, SHA-256 fingerprint, host name, key match).

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
/// private key (PKCS#8, PKCS#1 or SEC1). Offers ALPN `http/1.1`, no client auth. A key that
/// does not belong to the certificate is refused (rustls compares the public keys).
pub fn load_server_config(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = read_certificate_chain(cert_pem)?;
    let key = read_private_key(key_pem)?;

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

/// Reads a PEM certificate chain, leaf first; a file without any certificate is an error.
pub fn read_certificate_chain(cert_pem: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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
    Ok(certs)
}

/// Reads the first (leaf) certificate of a PEM chain.
pub fn read_leaf_certificate(cert_pem: &Path) -> Result<CertificateDer<'static>, TlsError> {
    read_certificate_chain(cert_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::Pem {
            path: cert_pem.to_path_buf(),
            reason: "no CERTIFICATE block found".into(),
        })
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn read_private_key(key_pem: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key_text = read_file(key_pem)?;
    PrivateKeyDer::from_pem_slice(&key_text).map_err(|error| TlsError::Pem {
        path: key_pem.to_path_buf(),
        reason: format!("no usable private key: {error}"),
    })
}

/// Checks that `key` is the private key of the leaf certificate of `chain`, the way rustls
/// does when it builds a server configuration (`InconsistentKeys` when they differ).
pub fn check_key_matches(
    chain: &[CertificateDer<'static>],
    key: PrivateKeyDer<'static>,
) -> Result<(), TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain.to_vec(), key, &provider)
        .map(|_| ())
        .map_err(TlsError::Rustls)
}

/// Checks that the certificate is valid for `host` (a DNS name or an IP address) by its
/// subject alternative names, as a phone checks it. The error says why not.
pub fn check_names_host(certificate: &CertificateDer<'_>, host: &str) -> Result<(), String> {
    let name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|_| format!("{host:?} is not a valid DNS name or IP address"))?;
    let parsed = rustls::server::ParsedCertificate::try_from(certificate)
        .map_err(|error| format!("the certificate cannot be parsed: {error}"))?;
    rustls::client::verify_server_name(&parsed, &name).map_err(|error| match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            ..
        }) => format!("the certificate is not valid for {host}"),
        other => other.to_string(),
    })
}

/// Certificates expiring within this many days get a warning (at start, daily, on reload
/// and from `easd doctor`): enough time to notice a renewal job that stopped working.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The validity period of a certificate, Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// How a certificate's end of validity compares with now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Past `not_after`: clients refuse it.
    Expired { days_ago: i64 },
    /// Within [`EXPIRY_WARNING_DAYS`].
    Soon { days_left: i64 },
    /// Further away than that.
    Fine { days_left: i64 },
}

impl Validity {
    /// Where `now` (Unix seconds) stands relative to the end of validity.
    pub fn expiry(&self, now: i64) -> Expiry {
        const DAY: i64 = 86_400;
        if now > self.not_after {
            Expiry::Expired {
                days_ago: (now - self.not_after) / DAY,
            }
        } else {
            let days_left = (self.not_after - now) / DAY;
            if self.not_after - now < EXPIRY_WARNING_DAYS * DAY {
                Expiry::Soon { days_left }
            } else {
                Expiry::Fine { days_left }
            }
        }
    }
}

/// Reads the validity period from an X.509 certificate (DER).
///
/// A deliberately small DER walk instead of an X.509 crate: it only steps over
/// `Certificate → tbsCertificate → [version], serialNumber, signature, issuer` to `validity`
/// and decodes the two times (RFC 5280 §4.1.2.5: UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`). Malformed input is an error, never a panic.
pub fn certificate_validity(certificate: &[u8]) -> Result<Validity, String> {
    let (certificate, _) = der::expect(certificate, der::SEQUENCE, "Certificate")?;
    let (tbs, _) = der::expect(certificate, der::SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    let (tag, _, after) = der::element(rest)?;
    if tag == der::VERSION {
        rest = after;
    }
    let (_, rest) = der::expect(rest, der::INTEGER, "serialNumber")?;
    let (_, rest) = der::expect(rest, der::SEQUENCE, "signature")?;
    let (_, rest) = der::expect(rest, der::SEQUENCE, "issuer")?;
    let (validity, _) = der::expect(rest, der::SEQUENCE, "validity")?;
    let (not_before, rest) = der::time(validity)?;
    let (not_after, _) = der::time(rest)?;
    Ok(Validity {
        not_before,
        not_after,
    })
}

/// Just enough DER to reach and read the validity field of a certificate.
mod der {
    pub(super) const INTEGER: u8 = 0x02;
    pub(super) const SEQUENCE: u8 = 0x30;
    /// `[0] EXPLICIT Version` of tbsCertificate.
    pub(super) const VERSION: u8 = 0xA0;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;

    /// One element: (tag, contents, what follows it).
    pub(super) fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
        let (&tag, rest) = input.split_first().ok_or("the certificate ends early")?;
        if tag & 0x1f == 0x1f {
            return Err("unexpected multi-byte DER tag".into());
        }
        let (&first, rest) = rest.split_first().ok_or("the certificate ends early")?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            // Four length bytes describe 4 GiB, far beyond any certificate.
            if count == 0 || count > 4 || rest.len() < count {
                return Err("bad DER length".into());
            }
            let length = rest[..count]
                .iter()
                .fold(0usize, |acc, &byte| (acc << 8) | usize::from(byte));
            (length, &rest[count..])
        };
        if rest.len() < length {
            return Err("the certificate ends early".into());
        }
        Ok((tag, &rest[..length], &rest[length..]))
    }

    /// The next element, which must carry `tag`: (contents, what follows).
    pub(super) fn expect<'a>(
        input: &'a [u8],
        tag: u8,
        what: &str,
    ) -> Result<(&'a [u8], &'a [u8]), String> {
        let (found, contents, rest) = element(input)?;
        if found != tag {
            return Err(format!("expected {what}, found DER tag {found:#04x}"));
        }
        Ok((contents, rest))
    }

    /// A UTCTime or GeneralizedTime in the RFC 5280 forms, as Unix seconds.
    pub(super) fn time(input: &[u8]) -> Result<(i64, &[u8]), String> {
        let (tag, contents, rest) = element(input)?;
        let (year, digits) = match (tag, contents.len()) {
            (UTC_TIME, 13) => {
                let yy = two_digits(contents, 0)?;
                // RFC 5280: YY >= 50 is 19YY, otherwise 20YY.
                let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
                (year, &contents[2..])
            }
            (GENERALIZED_TIME, 15) => {
                let year = two_digits(contents, 0)? * 100 + two_digits(contents, 2)?;
                (year, &contents[4..])
            }
            _ => return Err("the validity time is not in RFC 5280 form".into()),
        };
        if digits.last() != Some(&b'Z') {
            return Err("the validity time is not in UTC".into());
        }
        let month = two_digits(digits, 0)?;
        let day = two_digits(digits, 2)?;
        let hour = two_digits(digits, 4)?;
        let minute = two_digits(digits, 6)?;
        let second = two_digits(digits, 8)?;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err("the validity time is not a real date".into());
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Ok((seconds, rest))
    }

    fn two_digits(text: &[u8], at: usize) -> Result<i64, String> {
        match text.get(at..at + 2) {
            Some([tens @ b'0'..=b'9', ones @ b'0'..=b'9']) => {
                Ok(i64::from(tens - b'0') * 10 + i64::from(ones - b'0'))
            }
            _ => Err("the validity time has a non-digit".into()),
        }
    }

    fn days_in_month(year: i64, month: i64) -> i64 {
        match month {
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil, the inverse
    /// of the arithmetic in `crate::clock`).
    pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let shifted_month = if month > 2 { month - 3 } else { month + 9 };
        let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
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

    /// A certificate for `names` whose validity `set_dates` chooses (rcgen, for the DER tests;
    /// rcgen does not export its date type, so the dates are set on its parameters).
    fn certificate_with(
        names: &[&str],
        set_dates: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (CertificateDer<'static>, rcgen::KeyPair) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        set_dates(&mut params);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        (certificate.der().clone(), key)
    }

    /// A certificate valid from 2020 to 2030.
    fn certificate_for(names: &[&str]) -> (CertificateDer<'static>, rcgen::KeyPair) {
        certificate_with(names, |params| {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        })
    }

    #[test]
    fn validity_is_read_from_utc_and_generalized_times() {
        // 2024-02-29 00:00:00 UTC is 1709164800; 2051-03-01 12:34:56 UTC is 2561286896.
        let (der, _) = certificate_with(&["a.example"], |params| {
            params.not_before = rcgen::date_time_ymd(2024, 2, 29);
            params.not_after =
                rcgen::date_time_ymd(2051, 3, 1) + Duration::from_secs(12 * 3600 + 34 * 60 + 56);
        });
        // Dates before 2050 are UTCTime (tag 0x17), from 2050 on GeneralizedTime (0x18).
        assert!(der.windows(2).any(|w| w == [0x17, 13]));
        assert!(der.windows(2).any(|w| w == [0x18, 15]));
        let validity = certificate_validity(&der).unwrap();
        assert_eq!(validity.not_before, 1_709_164_800);
        assert_eq!(validity.not_after, 2_561_286_896);
        assert_eq!(
            crate::clock::iso_date(validity.not_after),
            "2051-03-01 12:34:56"
        );
    }

    #[test]
    fn validity_of_the_generated_self_signed_certificate() {
        let dir = temp_dir("validity");
        let cert = dir.join("cert.pem");
        write_self_signed(&cert, &dir.join("key.pem"), &["nas".into()]).unwrap();
        let chain = read_certificate_chain(&cert).unwrap();
        let validity = certificate_validity(&chain[0]).unwrap();
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        assert!(
            (now - validity.not_before - 86_400).abs() < 120,
            "{validity:?}"
        );
        assert_eq!(validity.not_after - validity.not_before, 825 * 86_400);
        // Yesterday plus 825 days is 824 days from now (823 once a second has passed).
        assert!(
            matches!(
                validity.expiry(now),
                Expiry::Fine {
                    days_left: 823 | 824
                }
            ),
            "{:?}",
            validity.expiry(now)
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn expiry_is_classified_against_fourteen_days() {
        let validity = Validity {
            not_before: 0,
            not_after: 100 * 86_400,
        };
        assert_eq!(validity.expiry(0), Expiry::Fine { days_left: 100 });
        assert_eq!(validity.expiry(86 * 86_400), Expiry::Fine { days_left: 14 });
        assert_eq!(
            validity.expiry(86 * 86_400 + 1),
            Expiry::Soon { days_left: 13 }
        );
        assert_eq!(validity.expiry(100 * 86_400), Expiry::Soon { days_left: 0 });
        assert_eq!(
            validity.expiry(103 * 86_400),
            Expiry::Expired { days_ago: 3 }
        );
    }

    #[test]
    fn malformed_certificates_are_errors_not_panics() {
        let (der, _) = certificate_for(&["a.example"]);
        for cut in 0..der.len() {
            assert!(certificate_validity(&der[..cut]).is_err(), "cut at {cut}");
        }
        assert!(certificate_validity(b"").is_err());
        assert!(certificate_validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(certificate_validity(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
        // Every single-byte corruption either parses to some date or is an error.
        for index in 0..der.len() {
            let mut corrupt = der.to_vec();
            corrupt[index] ^= 0xff;
            let _ = certificate_validity(&corrupt);
        }
        // A time that is not a real date.
        let mut bad_date = der.to_vec();
        let at = bad_date.windows(2).position(|w| w == [0x17, 13]).unwrap();
        bad_date[at + 4..at + 6].copy_from_slice(b"13"); // month 13
        assert!(certificate_validity(&bad_date)
            .unwrap_err()
            .contains("real date"));
    }

    #[test]
    fn days_from_civil_inverts_the_clock_module() {
        for unix in [0i64, 951_782_400, 1_709_164_800, 4_102_444_800, -86_400] {
            let text = crate::clock::iso_date(unix);
            let year: i64 = text[0..4].parse().unwrap();
            let month: i64 = text[5..7].parse().unwrap();
            let day: i64 = text[8..10].parse().unwrap();
            assert_eq!(
                der::days_from_civil(year, month, day) * 86_400,
                unix - unix.rem_euclid(86_400)
            );
        }
    }

    #[test]
    fn a_foreign_key_is_recognised_as_not_matching() {
        let (der, key) = certificate_for(&["a.example"]);
        let own = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        assert!(check_key_matches(std::slice::from_ref(&der), own).is_ok());
        let other = rcgen::KeyPair::generate().unwrap();
        let foreign = PrivateKeyDer::try_from(other.serialize_der()).unwrap();
        let error = check_key_matches(&[der], foreign).unwrap_err();
        assert!(
            matches!(
                error,
                TlsError::Rustls(rustls::Error::InconsistentKeys(
                    rustls::InconsistentKeys::KeyMismatch
                ))
            ),
            "{error:?}"
        );
    }

    #[test]
    fn host_names_are_checked_against_the_subject_alternative_names() {
        let (der, _) = certificate_for(&["mail.example.org", "*.example.net", "192.0.2.7"]);
        assert_eq!(check_names_host(&der, "mail.example.org"), Ok(()));
        assert_eq!(check_names_host(&der, "MAIL.example.org"), Ok(()));
        assert_eq!(check_names_host(&der, "nas.example.net"), Ok(()));
        assert_eq!(check_names_host(&der, "192.0.2.7"), Ok(()));
        let error = check_names_host(&der, "other.example.org").unwrap_err();
        assert_eq!(error, "the certificate is not valid for other.example.org");
        assert!(check_names_host(&der, "192.0.2.8").is_err());
        assert!(check_names_host(&der, "bad host").is_err());
    }
}
