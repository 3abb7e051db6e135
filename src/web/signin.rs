//! Sign-in and sign-out. The address and password are checked by the request loop's
//! [`crate::server::auth::Logins`], so the page has the same argon2 check, login cache and
//! throttle (lockouts, hash budget, 503 + Retry-After) as EAS, and its failures land in the
//! same log line fail2ban watches. The sign-in form is bound to the browser that fetched it
//! by a random cookie it must echo, so another site cannot sign a visitor in (login CSRF).

use log::debug;

use super::{form, html, set_cookie, Form, Page, Visitor, WebEnv, WebRequest};
use crate::server::auth::{log_failure, Credentials, Outcome};
use crate::store::random_hex;

/// The sign-in page with a fresh form token; `problem` is shown above the form.
pub fn form_page(problem: Option<(u16, &str)>) -> Page {
    let token = random_hex(16);
    let (status, message) = match problem {
        Some((status, text)) => (status, html::error(text)),
        None => (200, String::new()),
    };
    let content = format!(
        "{message}<form method=\"post\" action=\"/web/signin\" class=\"card\">\
         <input type=\"hidden\" name=\"signin\" value=\"{token}\">\
         <label for=\"email\">E-mail address</label>\
         <input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required>\
         <p><button type=\"submit\">Sign in</button></p></form>\
         <p>Sign in with the address and password your phone uses for mail.</p>"
    );
    Page::html(status, html::layout("Sign in", None, &content)).header(
        "Set-Cookie",
        &set_cookie(super::SIGNIN_COOKIE, &token, 3600),
    )
}

pub fn submit(env: &mut WebEnv, request: &WebRequest) -> Page {
    let form = Form::parse(request.body);
    let expected = super::cookie(request.cookie_header, super::SIGNIN_COOKIE).unwrap_or_default();
    if !form::same_secret(form.get("signin"), expected) {
        return form_page(Some((
            403,
            "The sign-in form had expired. Please sign in again.",
        )));
    }
    let credentials = Credentials {
        login: form.text("email").trim().to_string(),
        password: form.text("password").to_string(),
    };
    if credentials.login.is_empty() || credentials.password.is_empty() {
        return form_page(Some((400, "Enter your e-mail address and password.")));
    }
    match env
        .logins
        .authenticate(env.store, &credentials, request.peer)
    {
        Ok(Outcome::Accepted(user)) => {
            match env
                .store
                .start_web_session(&user, super::SESSION_LIFETIME_SECS)
            {
                Ok((token, _)) => Page::see_other("/web/devices")
                    .header(
                        "Set-Cookie",
                        &set_cookie(super::SESSION_COOKIE, &token, super::SESSION_LIFETIME_SECS),
                    )
                    .header("Set-Cookie", &set_cookie(super::SIGNIN_COOKIE, "", 0)),
                Err(e) => Page::internal(&e),
            }
        }
        Ok(Outcome::Failed { locked }) => {
            log_failure(request.peer, &credentials.login, &locked);
            form_page(Some((401, "Wrong e-mail address or password.")))
        }
        Ok(Outcome::Refused(refusal)) => {
            debug!("web sign-in refused unchecked: {refusal:?}");
            let seconds = refusal.retry_after_secs();
            form_page(Some((
                503,
                &format!("Too many failed sign-ins. Please wait {seconds} seconds and try again."),
            )))
            .header("Retry-After", &seconds.to_string())
        }
        Err(e) => Page::internal(&e),
    }
}

pub fn sign_out(env: &mut WebEnv, visitor: &Visitor) -> Page {
    match env.store.end_web_session(&visitor.token) {
        Ok(()) => Page::see_other("/web/signin")
            .header("Set-Cookie", &set_cookie(super::SESSION_COOKIE, "", 0)),
        Err(e) => Page::internal(&e),
    }
}
