//! The family's web page: sign-in, own devices (wipe, account-only wipe, cancel, remove),
//! out-of-office, password, S/MIME certificates, phone setup (CA certificate, iOS profile, values to type, QR code)
//! and the administrators' overview. Server-rendered HTML with one
//! small stylesheet, no JavaScript, everything in the binary; served by the request loop on
//! the paths `/` and `/web/...`, which never clash with EAS or autodiscover.
//!
//! This module owns what a page request means: the session cookie, the CSRF token of every
//! form, and which user may see what. One file per page; [`html`] holds the shared layout.
//! Sign-in uses the request loop's [`Logins`] (the same argon2 check and throttle as EAS).

mod admin;
pub mod certificates;
mod devices;
mod form;
mod html;
mod oof;
mod password;
mod profile;
mod setup;
mod signin;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use log::warn;

use crate::logsafe::escaped_text;
use crate::server::auth::Logins;
use crate::store::{Store, StoreError, WebSession};
pub use form::Form;

/// The session cookie's name.
const SESSION_COOKIE: &str = "easd_session";
/// The cookie that binds the sign-in form to the browser that fetched it.
const SIGNIN_COOKIE: &str = "easd_signin";
/// How long a session lasts after sign-in.
const SESSION_LIFETIME_SECS: i64 = 12 * 3600;
/// Largest form body read.
pub const MAX_FORM_BYTES: u64 = 128 * 1024;

/// Whether a (lower-cased, slash-trimmed) request path belongs to the web page.
pub fn is_web_path(path: &str) -> bool {
    path.is_empty() || path == "/web" || path.starts_with("/web/")
}

/// One request to the page, as the request loop hands it over.
pub struct WebRequest<'a> {
    pub method: &'a str,
    /// Lower-cased, without the query and a trailing slash.
    pub path: &'a str,
    pub query: &'a str,
    pub cookie_header: Option<&'a str>,
    /// Came in over TLS (the front door's `X-Easd-Tls`).
    pub tls: bool,
    pub peer: Option<IpAddr>,
    pub body: &'a [u8],
}

/// What the page knows from the start-up configuration.
#[derive(Clone, Debug, Default)]
pub struct WebSettings {
    /// `https://host[:port]`, the address phones use.
    pub base_url: String,
    /// `host` or `host:port` of that address.
    pub server_host: String,
    /// easd's private CA certificate (PEM), when it signs the served certificate.
    pub ca_cert: Option<PathBuf>,
}

/// What the page needs from the request loop.
pub struct WebEnv<'a> {
    pub store: &'a Store,
    pub settings: &'a WebSettings,
    pub logins: &'a mut Logins,
    /// Where change notifications go, so a parked Ping wakes after a change.
    pub notify: Option<SocketAddr>,
}

/// A complete answer of the page.
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Page {
    fn html(status: u16, body: String) -> Page {
        Page {
            status,
            headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            body: body.into_bytes(),
        }
    }

    /// 303 to `location` (after a form: the browser then GETs the page).
    fn see_other(location: &str) -> Page {
        Page {
            status: 303,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Page {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A page that only states a problem, with a way back.
    fn problem(status: u16, title: &str, text: &str) -> Page {
        Page::html(
            status,
            html::layout(
                title,
                None,
                &format!(
                    "<p>{}</p><p><a href=\"/web/devices\">Back to the page</a></p>",
                    html::escape(text)
                ),
            ),
        )
    }

    fn internal(e: &StoreError) -> Page {
        warn!("web page: {}", escaped_text(&e.to_string(), 1024));
        Page::problem(500, "Something went wrong", "The server could not do this.")
    }
}

/// The signed-in user of a request and the cookie token that proves it.
pub struct Visitor {
    pub session: WebSession,
    pub token: String,
    pub admin: bool,
}

/// Serves one request of the page. Every answer forbids caching and framing.
pub fn serve(env: &mut WebEnv, request: &WebRequest) -> Page {
    let page = route(env, request);
    page.header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
}

fn route(env: &mut WebEnv, request: &WebRequest) -> Page {
    if !request.tls {
        // The session cookie is Secure: over plain HTTP the browser would never send it back.
        return Page::problem(
            403,
            "Use HTTPS",
            "This page is served over HTTPS only. Open the https:// address of this server.",
        );
    }
    let get = request.method == "GET" || request.method == "HEAD";
    let post = request.method == "POST";
    if !get && !post {
        return Page::problem(
            405,
            "Not allowed",
            "The page is read with GET and changed with POST.",
        )
        .header("Allow", "GET, HEAD, POST");
    }
    match request.path {
        "" | "/web" => return Page::see_other("/web/devices"),
        "/web/style.css" if get => return html::stylesheet(),
        "/web/signin" if get => return signin::form_page(None),
        "/web/signin" if post => return signin::submit(env, request),
        _ => {}
    }
    let visitor = match visitor(env.store, request) {
        Ok(Some(visitor)) => visitor,
        Ok(None) if get => return Page::see_other("/web/signin"),
        Ok(None) => {
            return Page::problem(
                403,
                "Signed out",
                "Your session has ended. Sign in again and repeat the change.",
            )
        }
        Err(e) => return Page::internal(&e),
    };
    let form = if post {
        let form = Form::parse(request.body);
        // Every form carries the session's token: a page of another site cannot post here.
        if !form::same_secret(form.get("csrf"), &visitor.session.csrf) {
            return Page::problem(
                403,
                "Form refused",
                "The form did not carry this session's token. Reload the page and try again.",
            );
        }
        Some(form)
    } else {
        None
    };
    let query = Form::parse(request.query.as_bytes());
    match (request.path, form) {
        ("/web/signout", Some(_)) => signin::sign_out(env, &visitor),
        ("/web/devices", None) => devices::list(env, &visitor, &query),
        ("/web/devices/confirm", None) => devices::confirm(env, &visitor, &query),
        ("/web/devices", Some(form)) => devices::act(env, &visitor, &form),
        ("/web/oof", None) => oof::show(env, &visitor, &query),
        ("/web/oof", Some(form)) => oof::save(env, &visitor, &form),
        ("/web/password", None) => password::show(&visitor, None, false),
        ("/web/password", Some(form)) => password::change(env, &visitor, request, &form),
        ("/web/certificates", None) => certificates::show(env, &visitor, &query),
        ("/web/certificates", Some(form)) => certificates::act(env, &visitor, &form),
        ("/web/setup", None) => setup::page(env, &visitor),
        ("/web/setup/easd-ca.cer", None) => setup::ca_certificate(env),
        ("/web/setup/easd.mobileconfig", None) => setup::profile(env, &visitor),
        ("/web/admin", None) if visitor.admin => admin::overview(env, &visitor),
        ("/web/admin", None) => Page::problem(
            403,
            "Administrators only",
            "This part of the page is for administrators.",
        ),
        (_, None) => Page::problem(404, "Not found", "There is no such page."),
        (_, Some(_)) => Page::problem(405, "Not allowed", "This page takes no form."),
    }
}

/// The value of one cookie in a `Cookie` header.
fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value.trim())
    })
}

/// The signed-in user of the request, if its session cookie names a live session.
fn visitor(store: &Store, request: &WebRequest) -> Result<Option<Visitor>, StoreError> {
    let Some(token) = cookie(request.cookie_header, SESSION_COOKIE).filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let Some(session) = store.web_session(token)? else {
        return Ok(None);
    };
    let admin = store.is_admin(session.user.id)?;
    Ok(Some(Visitor {
        session,
        token: token.to_string(),
        admin,
    }))
}

/// A `Set-Cookie` value with the attributes every cookie of the page has.
fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/web; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict")
}

/// Tells the user's parked Pings that something changed (after the commit).
fn wake_devices(env: &WebEnv, email: &str) {
    if let Some(addr) = env.notify {
        crate::push::notify(addr, email);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = Some("a=1; easd_session=abc; easd_session_x=no");
        assert_eq!(cookie(header, "easd_session"), Some("abc"));
        assert_eq!(cookie(header, "easd"), None);
        assert_eq!(cookie(None, "easd_session"), None);
    }

    #[test]
    fn web_paths_never_clash_with_eas_or_autodiscover() {
        assert!(is_web_path(""));
        assert!(is_web_path("/web/devices"));
        assert!(!is_web_path("/microsoft-server-activesync"));
        assert!(!is_web_path("/autodiscover/autodiscover.xml"));
        assert!(!is_web_path("/webx"));
    }

    #[test]
    fn cookies_carry_the_protective_attributes() {
        let value = set_cookie(SESSION_COOKIE, "t", 60);
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=60",
            "Path=/web",
        ] {
            assert!(value.contains(attribute), "{value}");
        }
    }
}
