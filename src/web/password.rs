//! Changing one's password. The old password is checked through the request loop's logins
//! (the same throttle as sign-in, so a left-open session cannot be used to guess it); the
//! change ends the user's other sessions in the same transaction. Phones keep working only
//! after they are given the new password.

use super::{html, Form, Page, Visitor, WebEnv, WebRequest};
use crate::server::auth::{log_failure, Credentials, Outcome};
use crate::store::StoreError;

/// Shortest new password the page accepts.
const MIN_PASSWORD_CHARS: usize = 8;

pub fn show(visitor: &Visitor, problem: Option<(u16, &str)>, done: bool) -> Page {
    let (status, mut content) = match problem {
        Some((status, text)) => (status, html::error(text)),
        None => (200, String::new()),
    };
    if done {
        content.push_str(&html::notice(
            "Your password is changed. Enter the new password on your phones and tablets too.",
        ));
    }
    content.push_str(&format!(
        "<form method=\"post\" action=\"/web/password\" class=\"card\">{}\
         <label for=\"old\">Current password</label>\
         <input type=\"password\" id=\"old\" name=\"old\" autocomplete=\"current-password\" required>\
         <label for=\"new\">New password (at least {MIN_PASSWORD_CHARS} characters)</label>\
         <input type=\"password\" id=\"new\" name=\"new\" autocomplete=\"new-password\" \
         minlength=\"{MIN_PASSWORD_CHARS}\" required>\
         <label for=\"repeat\">New password again</label>\
         <input type=\"password\" id=\"repeat\" name=\"repeat\" autocomplete=\"new-password\" required>\
         <p><button type=\"submit\">Change password</button></p></form>",
        html::csrf_field(visitor)
    ));
    Page::html(
        status,
        html::layout("Change password", Some(visitor), &content),
    )
}

pub fn change(env: &mut WebEnv, visitor: &Visitor, request: &WebRequest, form: &Form) -> Page {
    let new = form.text("new");
    if new != form.text("repeat") {
        return show(visitor, Some((400, "The two new passwords differ.")), false);
    }
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return show(
            visitor,
            Some((400, "The new password is too short.")),
            false,
        );
    }
    let user = &visitor.session.user;
    let credentials = Credentials {
        login: user.email.clone(),
        password: form.text("old").to_string(),
    };
    match env
        .logins
        .authenticate(env.store, &credentials, request.peer)
    {
        Ok(Outcome::Accepted(checked)) if checked.id == user.id => {}
        Ok(Outcome::Accepted(_)) => {
            return show(
                visitor,
                Some((403, "The current password is wrong.")),
                false,
            )
        }
        Ok(Outcome::Failed { locked }) => {
            log_failure(request.peer, &credentials.login, &locked);
            return show(
                visitor,
                Some((403, "The current password is wrong.")),
                false,
            );
        }
        Ok(Outcome::Refused(refusal)) => {
            let seconds = refusal.retry_after_secs();
            return show(
                visitor,
                Some((
                    503,
                    &format!("Too many wrong passwords. Please wait {seconds} seconds."),
                )),
                false,
            )
            .header("Retry-After", &seconds.to_string());
        }
        Err(e) => return Page::internal(&e),
    }
    match env
        .store
        .change_password_keeping_session(user.id, new, &visitor.token)
    {
        Ok(()) => {
            log::info!("web: password of {} changed by its owner", user.email);
            show(visitor, None, true)
        }
        Err(StoreError::Invalid(text)) => show(visitor, Some((400, &text)), false),
        Err(e) => Page::internal(&e),
    }
}
