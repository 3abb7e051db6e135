//! The administrators' overview (users marked with `easd user set EMAIL --admin`): all users,
//! all devices with their state, the pending wipes, and each device's effective policy with
//! where each setting comes from. It only shows; the command line stays the full admin tool.

use super::{devices, html, Page, Visitor, WebEnv};
use crate::policy::Source;
use crate::store::{Store, StoreError, WipeStatus};

pub fn overview(env: &mut WebEnv, visitor: &Visitor) -> Page {
    match render(env.store) {
        Ok(content) => Page::html(200, html::layout("All users", Some(visitor), &content)),
        Err(e) => Page::internal(&e),
    }
}

fn render(store: &Store) -> Result<String, StoreError> {
    let now = crate::store::now();
    let mut users = String::from(
        "<h2>Users</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Address</th>\
         <th scope=\"col\">Name</th><th scope=\"col\">Devices</th><th scope=\"col\">Administrator</th>\
         </tr></thead><tbody>",
    );
    for user in store.list_users()? {
        users.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html::escape(&user.email),
            html::escape(&user.display_name),
            store.devices_of(user.id)?.len(),
            if store.is_admin(user.id)? {
                "yes"
            } else {
                "no"
            }
        ));
    }
    users.push_str("</tbody></table></div>");

    let mut pending = Vec::new();
    let mut cards = String::from("<h2>Devices</h2>");
    let all = store.all_devices()?;
    if all.is_empty() {
        cards.push_str("<p>No device has synced yet.</p>");
    }
    for (owner, device) in all {
        let name = devices::display_name(store, &device)?;
        let state = store.provisioning(device.id)?;
        let (policy_state, _) =
            crate::store::provisioning::policy_and_wipe_status(store, &owner, &device)?;
        let wipe = devices::wipe_words(state.wipe, state.wipe_account_only);
        if state.wipe == WipeStatus::Waiting {
            pending.push(format!(
                "<li>{} of {} ({}), requested — {}</li>",
                html::escape(&name),
                html::escape(&owner.email),
                html::escape(&device.device_id),
                html::escape(wipe)
            ));
        }
        let policy = store.effective_policy(&owner, Some(&device.device_id))?;
        let (mut settings, mut all_settings) = (String::new(), String::new());
        for (setting, value, source) in policy.entries() {
            let row = format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                html::escape(setting.name),
                html::escape(value),
                source.as_str()
            );
            if source != Source::Default {
                settings.push_str(&row);
            }
            all_settings.push_str(&row);
        }
        let settings = if settings.is_empty() {
            "<p>No policy setting is set for this device: every value is the default \
             (no requirement).</p>"
                .to_string()
        } else {
            format!(
                "<div class=\"scroll\"><table><caption>Effective policy (settings not at their \
                 default)</caption><thead><tr><th scope=\"col\">Setting</th><th scope=\"col\">\
                 Value</th><th scope=\"col\">Set for</th></tr></thead><tbody>{settings}</tbody>\
                 </table></div>"
            )
        };
        cards.push_str(&format!(
            "<section class=\"card\"><h3>{} — {}</h3><dl><dt>Device id</dt><dd>{}</dd>\
             <dt>Type</dt><dd>{}</dd><dt>Protocol</dt><dd>{}</dd><dt>Last sync</dt><dd>{} ({} UTC)</dd>\
             <dt>Security policy</dt><dd>{}</dd><dt>Remote wipe</dt><dd>{}</dd></dl>{settings}\
             <details><summary>Every policy setting and where it comes from</summary>\
             <div class=\"scroll\"><table><thead><tr><th scope=\"col\">Setting</th>\
             <th scope=\"col\">Value</th><th scope=\"col\">Set for</th></tr></thead>\
             <tbody>{all_settings}</tbody></table></div></details></section>",
            html::escape(&owner.email),
            html::escape(&name),
            html::escape(&device.device_id),
            html::escape(&device.device_type),
            html::escape(&device.protocol_version),
            html::ago(now, device.last_seen),
            crate::clock::iso_date(device.last_seen),
            html::escape(&policy_state),
            html::escape(wipe),
        ));
    }
    let pending = if pending.is_empty() {
        "<h2>Pending wipes</h2><p>None.</p>".to_string()
    } else {
        format!("<h2>Pending wipes</h2><ul>{}</ul>", pending.concat())
    };
    Ok(format!(
        "<p>Changes to users, policies and other people's devices are made with the <code>easd</code> \
         command.</p>{pending}{users}{cards}"
    ))
}
