//! Setting up a phone: the CA certificate with its fingerprint, the iOS configuration profile
//! for the signed-in user ([`super::profile`]), the values to type on Android and in Outlook,
//! and a QR code of the server address (inline SVG drawn from the `qrcodegen` matrix).

use std::fmt::Write;

use qrcodegen::{QrCode, QrCodeEcc};

use super::profile::{mobileconfig, ProfileInput};
use super::{html, Page, Visitor, WebEnv};

/// The CA certificate, DER, when easd's private CA signs the served certificate.
fn ca_der(env: &WebEnv) -> Option<Vec<u8>> {
    let path = env.settings.ca_cert.as_ref()?;
    let pem = std::fs::read_to_string(path).ok()?;
    crate::ca::pem_der(&pem)
}

pub fn page(env: &mut WebEnv, visitor: &Visitor) -> Page {
    let user = &visitor.session.user;
    let host = &env.settings.server_host;
    let (host_name, port) = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => (name, port),
        _ => (host.as_str(), "443"),
    };
    let certificate = match ca_der(env) {
        Some(der) => format!(
            "<p>Phones trust this server once they trust its own small certificate \
             authority. Compare the fingerprint with what the phone shows before you trust it.</p>\
             <p><a class=\"button\" href=\"/web/setup/easd-ca.cer\" download>Download the \
             certificate authority</a></p><dl><dt>SHA-256 fingerprint</dt><dd><code>{}</code></dd></dl>",
            crate::ca::sha256_fingerprint(&der)
        ),
        None => "<p>This server's certificate is not issued by easd's own certificate \
                 authority; phones trust it as they trust any other web site (or, for an \
                 older self-signed easd certificate, ask your administrator to run \
                 <code>easd cert self-signed --force</code>).</p>"
            .to_string(),
    };
    let content = format!(
        "<section class=\"card\"><h2>Certificate</h2>{certificate}</section>\
         <section class=\"card\"><h2>iPhone, iPad and Mac</h2>\
         <p>Open this page on the device and install the profile: it adds the Exchange account \
         for {email} and trusts the certificate authority. You enter your password on the \
         device; the profile does not contain it.</p>\
         <p><a class=\"button\" href=\"/web/setup/easd.mobileconfig\">Install the profile</a></p>\
         <p>On iPhone and iPad, then open Settings → Profile Downloaded → Install, and for the \
         certificate authority Settings → General → About → Certificate Trust Settings.</p></section>\
         <section class=\"card\"><h2>Android and Outlook</h2>\
         <p>Add an “Exchange” or “Exchange ActiveSync” account and type:</p>\
         <dl><dt>E-mail address</dt><dd>{email}</dd><dt>User name</dt><dd>{email}</dd>\
         <dt>Password</dt><dd>your password</dd><dt>Domain</dt><dd>(leave empty)</dd>\
         <dt>Server</dt><dd>{host_name}</dd><dt>Port</dt><dd>{port}</dd>\
         <dt>Security</dt><dd>SSL/TLS (do not accept all certificates; install the \
         certificate authority instead)</dd></dl>\
         <p>Or scan the server address:</p>{qr}<p><code>{url}</code></p></section>",
        email = html::escape(&user.email),
        host_name = html::escape(host_name),
        port = html::escape(port),
        url = html::escape(&env.settings.base_url),
        qr = qr_svg(&env.settings.base_url),
    );
    Page::html(200, html::layout("Set up a phone", Some(visitor), &content))
}

pub fn ca_certificate(env: &mut WebEnv) -> Page {
    match ca_der(env) {
        Some(der) => Page {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/x-x509-ca-cert".into()),
                (
                    "Content-Disposition".into(),
                    "attachment; filename=\"easd-ca.cer\"".into(),
                ),
            ],
            body: der,
        },
        None => Page::problem(
            404,
            "No certificate authority",
            "This server's certificate is not issued by easd's own certificate authority.",
        ),
    }
}

pub fn profile(env: &mut WebEnv, visitor: &Visitor) -> Page {
    let user = &visitor.session.user;
    let ca = ca_der(env);
    let body = mobileconfig(&ProfileInput {
        server_host: &env.settings.server_host,
        email: &user.email,
        display_name: &user.display_name,
        ca_der: ca.as_deref(),
    });
    Page {
        status: 200,
        headers: vec![
            (
                "Content-Type".into(),
                "application/x-apple-aspen-config".into(),
            ),
            (
                "Content-Disposition".into(),
                "attachment; filename=\"easd.mobileconfig\"".into(),
            ),
        ],
        body: body.into_bytes(),
    }
}

/// The QR code of `text` as inline SVG, one unit per module and a quiet zone of four.
fn qr_svg(text: &str) -> String {
    let Ok(code) = QrCode::encode_text(text, QrCodeEcc::Medium) else {
        return String::new();
    };
    let size = code.size();
    let full = size + 8;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + 4, y + 4);
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" width=\"200\" \
         height=\"200\" role=\"img\" aria-label=\"QR code of {}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{full}\" height=\"{full}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        html::escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_matrix_with_a_quiet_zone() {
        let svg = qr_svg("https://mail.example.org:8443");
        assert!(svg.starts_with("<svg"), "{svg}");
        // 29 bytes at error correction level M need version 3 (29 modules), plus 8 for the
        // quiet zone.
        assert!(svg.contains("viewBox=\"0 0 37 37\""), "{svg}");
        // The top-left finder pattern starts at the quiet zone's edge.
        assert!(svg.contains("M4,4h1v1h-1z"), "{svg}");
        assert!(!svg.contains("M3,3"), "{svg}");
    }
}
