//! Out-of-office on the page: on/off or a period, the reply to senders of the user's own
//! domain and the reply to outside senders (to everybody, or only to those the user has
//! written to). These are the settings Settings Oof reads and writes; saving is one
//! [`crate::store::Store::set_oof`] transaction and wakes the user's devices.

use super::{html, Form, Page, Visitor, WebEnv};
use crate::clock::{form_datetime, parse_form_datetime};
use crate::store::oof::{Oof, OofMessage, OofState, MAX_REPLY_CHARS};

pub fn show(env: &mut WebEnv, visitor: &Visitor, query: &Form) -> Page {
    let oof = match env.store.oof(visitor.session.user.id) {
        Ok(oof) => oof,
        Err(e) => return Page::internal(&e),
    };
    let mut content = if query.text("done") == "saved" {
        html::notice("Your out-of-office reply is saved.")
    } else {
        String::new()
    };
    content.push_str(&render_form(visitor, &oof));
    Page::html(200, html::layout("Out of office", Some(visitor), &content))
}

fn checked(on: bool) -> &'static str {
    if on {
        " checked"
    } else {
        ""
    }
}

fn render_form(visitor: &Visitor, oof: &Oof) -> String {
    let time = |t: Option<i64>| t.map(form_datetime).unwrap_or_default();
    let external_text = if oof.external_unknown.reply.is_empty() {
        &oof.external_known.reply
    } else {
        &oof.external_unknown.reply
    };
    let external_on = oof.external_known.enabled || oof.external_unknown.enabled;
    let everybody = oof.external_unknown.enabled || !external_on;
    format!(
        "<form method=\"post\" action=\"/web/oof\" class=\"card\">{csrf}\
         <fieldset><legend>Automatic replies</legend>\
         <input type=\"radio\" id=\"off\" name=\"state\" value=\"off\"{off}><label class=\"inline\" for=\"off\">Off</label><br>\
         <input type=\"radio\" id=\"on\" name=\"state\" value=\"on\"{on}><label class=\"inline\" for=\"on\">On until I turn them off</label><br>\
         <input type=\"radio\" id=\"period\" name=\"state\" value=\"period\"{period}><label class=\"inline\" for=\"period\">Only in this period (UTC):</label>\
         <label for=\"start\">From</label><input type=\"datetime-local\" id=\"start\" name=\"start\" value=\"{start}\">\
         <label for=\"end\">Until</label><input type=\"datetime-local\" id=\"end\" name=\"end\" value=\"{end}\">\
         </fieldset>\
         <fieldset><legend>Reply to people in your domain</legend>\
         <input type=\"checkbox\" id=\"internal_on\" name=\"internal_on\" value=\"1\"{internal_on}><label class=\"inline\" for=\"internal_on\">Send this reply</label>\
         <label for=\"internal\">Message</label><textarea id=\"internal\" name=\"internal\" maxlength=\"{max}\">{internal}</textarea>\
         </fieldset>\
         <fieldset><legend>Reply to people outside your domain</legend>\
         <input type=\"checkbox\" id=\"external_on\" name=\"external_on\" value=\"1\"{external_on}><label class=\"inline\" for=\"external_on\">Send this reply</label><br>\
         <input type=\"radio\" id=\"everybody\" name=\"external_to\" value=\"everybody\"{everybody}><label class=\"inline\" for=\"everybody\">to everybody</label><br>\
         <input type=\"radio\" id=\"known\" name=\"external_to\" value=\"known\"{known}><label class=\"inline\" for=\"known\">only to people I have written to</label>\
         <label for=\"external\">Message</label><textarea id=\"external\" name=\"external\" maxlength=\"{max}\">{external}</textarea>\
         </fieldset>\
         <button type=\"submit\">Save</button></form>",
        csrf = html::csrf_field(visitor),
        off = checked(oof.state == OofState::Disabled),
        on = checked(oof.state == OofState::Global),
        period = checked(oof.state == OofState::TimeBased),
        start = time(oof.start_time),
        end = time(oof.end_time),
        internal_on = checked(oof.internal.enabled),
        internal = html::escape(&oof.internal.reply),
        external_on = checked(external_on),
        everybody = checked(everybody),
        known = checked(!everybody),
        external = html::escape(external_text),
        max = MAX_REPLY_CHARS,
    )
}

/// The settings a submitted form asks for, and what is wrong with them if anything (the form is
/// then shown again with what was typed, so nothing is lost).
fn from_form(form: &Form, current: &Oof) -> (Oof, Option<&'static str>) {
    let mut problem = None;
    let state = match form.text("state") {
        "off" => OofState::Disabled,
        "on" => OofState::Global,
        "period" => OofState::TimeBased,
        _ => {
            problem = Some("Choose whether automatic replies are off, on, or on for a period.");
            current.state
        }
    };
    let mut time = |name: &str| match form.text(name).trim() {
        "" => None,
        text => {
            let parsed = parse_form_datetime(text);
            if parsed.is_none() {
                problem = Some("A date is not valid; use the form 2026-12-24T09:00.");
            }
            parsed
        }
    };
    let (start_time, end_time) = (time("start"), time("end"));
    if state == OofState::TimeBased && problem.is_none() {
        match (start_time, end_time) {
            (Some(start), Some(end)) if start < end => {}
            (Some(_), Some(_)) => problem = Some("The period must end after it starts."),
            _ => problem = Some("A period needs a start and an end."),
        }
    }
    // Plain text: the reply's type stays what it was (a phone may have set HTML).
    let message = |enabled: bool, reply: &str, before: &OofMessage| OofMessage {
        enabled,
        reply: reply.replace("\r\n", "\n"),
        body_type: before.body_type.clone(),
    };
    let external_on = form.get("external_on").is_some();
    let everybody = form.text("external_to") != "known";
    let external = form.text("external");
    let oof = Oof {
        state,
        start_time,
        end_time,
        internal: message(
            form.get("internal_on").is_some(),
            form.text("internal"),
            &current.internal,
        ),
        external_known: message(external_on, external, &current.external_known),
        external_unknown: message(
            external_on && everybody,
            external,
            &current.external_unknown,
        ),
    };
    (oof, problem)
}

pub fn save(env: &mut WebEnv, visitor: &Visitor, form: &Form) -> Page {
    let user = &visitor.session.user;
    let current = match env.store.oof(user.id) {
        Ok(oof) => oof,
        Err(e) => return Page::internal(&e),
    };
    let oof = match from_form(form, &current) {
        (oof, None) => oof,
        (typed, Some(problem)) => {
            let content = format!("{}{}", html::error(problem), render_form(visitor, &typed));
            return Page::html(400, html::layout("Out of office", Some(visitor), &content));
        }
    };
    match env.store.set_oof(user.id, &oof) {
        Ok(()) => {
            super::wake_devices(env, &user.email);
            Page::see_other("/web/oof?done=saved")
        }
        Err(crate::store::StoreError::Invalid(text)) => Page::problem(400, "Not saved", &text),
        Err(e) => Page::internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(text: &str) -> Form {
        Form::parse(text.as_bytes())
    }

    #[test]
    fn a_period_needs_both_ends_in_order() {
        let current = Oof::default();
        assert!(
            from_form(&form("state=period&start=2026-12-24T09%3A00"), &current)
                .1
                .is_some()
        );
        assert!(from_form(
            &form("state=period&start=2026-12-24T09%3A00&end=2026-12-23T09%3A00"),
            &current
        )
        .1
        .is_some());
        let (oof, problem) = from_form(
            &form("state=period&start=2026-12-24T09%3A00&end=2026-12-27T09%3A00"),
            &current,
        );
        assert_eq!(problem, None);
        assert_eq!(oof.state, OofState::TimeBased);
        assert_eq!(oof.end_time.unwrap() - oof.start_time.unwrap(), 3 * 86_400);
    }

    #[test]
    fn outside_replies_go_to_everybody_or_known_senders() {
        let current = Oof::default();
        let oof = from_form(
            &form("state=on&internal_on=1&internal=Away&external_on=1&external_to=known&external=Gone"),
            &current,
        )
        .0;
        assert!(oof.internal.enabled);
        assert_eq!(oof.internal.reply, "Away");
        assert!(oof.external_known.enabled);
        assert!(!oof.external_unknown.enabled);
        assert_eq!(oof.external_known.reply, "Gone");
        assert!(from_form(&form("state=sometimes"), &current).1.is_some());
    }
}
