//! The visitor's own devices: what each is and how it syncs, and the actions on it (wipe,
//! account-only wipe for EAS 16.1 devices, cancel a waiting wipe, remove), each behind a
//! confirmation page. A device is always looked up together with the signed-in user, so a
//! device id of somebody else's phone in a URL or form finds nothing. Every action is one
//! store transaction, after which the user's parked Pings are woken, as `easd device wipe`
//! does.

use super::{form, html, Form, Page, Visitor, WebEnv};
use crate::protocol_version::ProtocolVersion;
use crate::store::{Device, Store, StoreError, User, WipeStatus};

/// An action on a device, as named in forms and URLs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Wipe,
    WipeAccount,
    CancelWipe,
    Remove,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        match text {
            "wipe" => Some(Action::Wipe),
            "wipe-account" => Some(Action::WipeAccount),
            "cancel-wipe" => Some(Action::CancelWipe),
            "remove" => Some(Action::Remove),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Wipe => "wipe",
            Action::WipeAccount => "wipe-account",
            Action::CancelWipe => "cancel-wipe",
            Action::Remove => "remove",
        }
    }

    fn button(self) -> &'static str {
        match self {
            Action::Wipe => "Wipe…",
            Action::WipeAccount => "Remove this account from it…",
            Action::CancelWipe => "Cancel the wipe…",
            Action::Remove => "Forget this device…",
        }
    }

    /// The button's name for a screen reader, which reads it apart from its card.
    fn label(self, device: &str) -> String {
        match self {
            Action::Wipe => format!("Wipe {device}"),
            Action::WipeAccount => format!("Remove this account from {device}"),
            Action::CancelWipe => format!("Cancel the wipe of {device}"),
            Action::Remove => format!("Forget {device}"),
        }
    }

    /// The question of the confirmation page and its button.
    fn question(self) -> (&'static str, &'static str) {
        match self {
            Action::Wipe => (
                "Erase everything on this device? At its next connection it deletes all data \
                 and returns to factory settings. This cannot be undone once the device has \
                 received it.",
                "Yes, wipe the device",
            ),
            Action::WipeAccount => (
                "Remove this mail account and its data from the device? The rest of the device \
                 stays as it is.",
                "Yes, remove the account from it",
            ),
            Action::CancelWipe => (
                "Cancel the wipe? The device has not received it yet.",
                "Yes, cancel the wipe",
            ),
            Action::Remove => (
                "Forget this device? Its sync state is deleted; if it connects again it starts \
                 over as a new device.",
                "Yes, forget it",
            ),
        }
    }

    /// Whether the action makes sense for a device in this state.
    fn offered(self, device: &Device, wipe: WipeStatus) -> bool {
        match self {
            Action::Wipe => wipe == WipeStatus::None,
            Action::WipeAccount => wipe == WipeStatus::None && speaks_16_1(device),
            Action::CancelWipe => wipe == WipeStatus::Waiting,
            Action::Remove => true,
        }
    }
}

const ACTIONS: [Action; 4] = [
    Action::Wipe,
    Action::WipeAccount,
    Action::CancelWipe,
    Action::Remove,
];

fn speaks_16_1(device: &Device) -> bool {
    ProtocolVersion::parse(&device.protocol_version).is_some_and(|v| v >= ProtocolVersion::V16_1)
}

/// The name a person knows a device by: the model or friendly name it reported, else its type.
pub fn display_name(store: &Store, device: &Device) -> Result<String, StoreError> {
    let info = store.device_information(device.id)?;
    let name = [&info.friendly_name, &info.model, &device.device_type]
        .into_iter()
        .find(|text| !text.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| device.device_id.clone());
    Ok(name)
}

/// The wipe state in words.
pub fn wipe_words(state: WipeStatus, account_only: bool) -> &'static str {
    match state {
        WipeStatus::None => "none",
        WipeStatus::Waiting if account_only => "account removal pending",
        WipeStatus::Waiting => "wipe pending",
        WipeStatus::Wiped if account_only => "account removed",
        WipeStatus::Wiped => "wiped",
        WipeStatus::Unsupported => "cannot be wiped (refused from now on)",
    }
}

/// Messages after an action, by the `done` query value the action redirects with.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "wipe" => "The wipe is pending: the device receives it at its next connection.",
        "wipe-account" => "The account removal is pending until the device's next connection.",
        "unsupported" => {
            "This device never accepted a security policy, so it cannot be wiped. It is \
             refused from now on; change the password to be sure."
        }
        "cancel-wipe" => "The wipe was cancelled.",
        "remove" => "The device was forgotten.",
        _ => return None,
    })
}

pub fn list(env: &mut WebEnv, visitor: &Visitor, query: &Form) -> Page {
    match render_list(env.store, visitor, query) {
        Ok(content) => Page::html(200, html::layout("Your devices", Some(visitor), &content)),
        Err(e) => Page::internal(&e),
    }
}

fn render_list(store: &Store, visitor: &Visitor, query: &Form) -> Result<String, StoreError> {
    let user = &visitor.session.user;
    let now = crate::store::now();
    let mut content = done_message(query.text("done"))
        .map(html::notice)
        .unwrap_or_default();
    let devices = store.devices_of(user.id)?;
    if devices.is_empty() {
        content.push_str(
            "<p>No device has synced with this account yet. Set up a phone with your e-mail \
             address and password; it appears here after its first sync.</p>",
        );
    }
    for device in devices {
        content.push_str(&device_card(store, user, &device, now)?);
    }
    Ok(content)
}

fn device_card(
    store: &Store,
    user: &User,
    device: &Device,
    now: i64,
) -> Result<String, StoreError> {
    let name = display_name(store, device)?;
    let state = store.provisioning(device.id)?;
    let (policy, _) = crate::store::provisioning::policy_and_wipe_status(store, user, device)?;
    let wipe = wipe_words(state.wipe, state.wipe_account_only);
    let wipe_class = if state.wipe == WipeStatus::Waiting {
        " class=\"state-pending\""
    } else {
        ""
    };
    let row =
        |label: &str, value: &str| format!("<dt>{label}</dt><dd>{}</dd>", html::escape(value));
    let mut actions = String::new();
    for action in ACTIONS {
        if action.offered(device, state.wipe) {
            let class = match action {
                Action::Wipe | Action::WipeAccount => "button danger",
                _ => "button secondary",
            };
            actions.push_str(&format!(
                "<a class=\"{class}\" href=\"/web/devices/confirm?device={}&amp;action={}\" \
                 aria-label=\"{}\">{}</a>",
                form::encode(&device.device_id),
                action.name(),
                html::escape(&action.label(&name)),
                html::escape(action.button())
            ));
        }
    }
    Ok(format!(
        "<section class=\"card\" aria-labelledby=\"d{id}\"><h2 id=\"d{id}\">{title} — last sync {ago}</h2>\
         <dl>{}{}{}{}{}{}<dt>Remote wipe</dt><dd{wipe_class}>{}</dd>{}</dl>\
         <div class=\"actions\">{actions}</div></section>",
        row("Type", &device.device_type),
        row("Protocol", &device.protocol_version),
        row("First sync", &format!("{} UTC", crate::clock::iso_date(device.first_seen))),
        row("Last sync", &format!("{} UTC", crate::clock::iso_date(device.last_seen))),
        row("Security policy", &policy),
        row("Device id", &device.device_id),
        html::escape(wipe),
        row("Client", &device.user_agent),
        id = device.id,
        title = html::escape(&name),
        ago = html::ago(now, device.last_seen),
    ))
}

/// The visitor's device named by a form or query, or the page to answer instead.
fn own_device(store: &Store, visitor: &Visitor, fields: &Form) -> Result<Device, Page> {
    match store.device(visitor.session.user.id, fields.text("device")) {
        Ok(Some(device)) => Ok(device),
        // Somebody else's device and no device at all look the same.
        Ok(None) => Err(Page::problem(
            404,
            "No such device",
            "You have no device of that name.",
        )),
        Err(e) => Err(Page::internal(&e)),
    }
}

pub fn confirm(env: &mut WebEnv, visitor: &Visitor, query: &Form) -> Page {
    let Some(action) = Action::parse(query.text("action")) else {
        return Page::problem(404, "No such action", "There is no such action.");
    };
    let device = match own_device(env.store, visitor, query) {
        Ok(device) => device,
        Err(page) => return page,
    };
    let name = match display_name(env.store, &device) {
        Ok(name) => name,
        Err(e) => return Page::internal(&e),
    };
    let (question, yes) = action.question();
    let button_class = match action {
        Action::Wipe | Action::WipeAccount => "danger",
        _ => "",
    };
    let content = format!(
        "<form method=\"post\" action=\"/web/devices\" class=\"card\">\
         <h2>{}</h2><p>{}</p>{}\
         <input type=\"hidden\" name=\"device\" value=\"{}\">\
         <input type=\"hidden\" name=\"action\" value=\"{}\">\
         <div class=\"actions\"><button type=\"submit\" class=\"{button_class}\">{}</button>\
         <a class=\"button secondary\" href=\"/web/devices\">No, go back</a></div></form>",
        html::escape(&name),
        html::escape(question),
        html::csrf_field(visitor),
        html::escape(&device.device_id),
        action.name(),
        html::escape(yes),
    );
    Page::html(200, html::layout("Please confirm", Some(visitor), &content))
}

pub fn act(env: &mut WebEnv, visitor: &Visitor, form: &Form) -> Page {
    let Some(action) = Action::parse(form.text("action")) else {
        return Page::problem(400, "No such action", "There is no such action.");
    };
    let device = match own_device(env.store, visitor, form) {
        Ok(device) => device,
        Err(page) => return page,
    };
    let user = &visitor.session.user;
    let state = match env.store.provisioning(device.id) {
        Ok(state) => state,
        Err(e) => return Page::internal(&e),
    };
    if !action.offered(&device, state.wipe) {
        return Page::problem(
            409,
            "Not possible now",
            "This device's state has changed; look at the device list again.",
        );
    }
    let outcome = match action {
        Action::Wipe | Action::WipeAccount => env
            .store
            .request_wipe(user.id, &device.device_id, action == Action::WipeAccount)
            .map(|status| match status {
                WipeStatus::Unsupported => "unsupported",
                _ => action.name(),
            }),
        Action::CancelWipe => env
            .store
            .cancel_wipe(user.id, &device.device_id)
            .map(|()| action.name()),
        Action::Remove => env
            .store
            .delete_device(user.id, &device.device_id)
            .map(|()| action.name()),
    };
    match outcome {
        Ok(done) => {
            log::info!(
                "web: {} {} of {} by its owner",
                action.name(),
                crate::logsafe::escaped(&device.device_id),
                user.email
            );
            // Committed: a Ping of the device wakes and is told what to do.
            super::wake_devices(env, &user.email);
            Page::see_other(&format!("/web/devices?done={done}"))
        }
        Err(StoreError::Invalid(_)) | Err(StoreError::NotFound(_)) => Page::problem(
            409,
            "Not possible now",
            "This device's state has changed; look at the device list again.",
        ),
        Err(e) => Page::internal(&e),
    }
}
