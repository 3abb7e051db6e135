//! `easd device list|show|delete|reset-all|set`: the devices (phones, tablets, Outlook) that
//! sync with easd, what they reported about themselves, their per-device settings and their
//! sync states, and their remote wipe (`wipe`, in [`super::device_wipe`]). Deleting a device forgets its sync state only (the user's data stays): it
//! syncs everything again at its next request, as after the reference guide's Delete Device.
//!
//! Exit codes: 0 done; 64 usage (reset-all without --yes); 65 unknown device or an invalid
//! setting; 67 unknown user or domain; 73 the database cannot be opened; 70 anything else.

use argh::FromArgs;

use super::{device_wipe, exit, open_store};
use crate::clock::iso_date;
use crate::config::Config;
use crate::eas::folder_sync::HIERARCHY;
use crate::store::device_settings::{setting_spec, DEVICE_SETTINGS};
use crate::store::provisioning::policy_and_wipe_status;
use crate::store::{Device, Store, StoreError, User};

/// manage the devices that sync with easd
#[derive(FromArgs)]
#[argh(subcommand, name = "device")]
pub struct DeviceArgs {
    #[argh(subcommand)]
    action: DeviceAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum DeviceAction {
    List(ListArgs),
    Show(ShowArgs),
    Delete(DeleteArgs),
    ResetAll(ResetAllArgs),
    Set(SetArgs),
    Wipe(device_wipe::WipeArgs),
}

/// list devices: account, device id, model, type, OS, protocol, registered, last sync
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
struct ListArgs {
    /// only the devices of this domain's users
    #[argh(option)]
    domain: Option<String>,
    /// only this user's devices
    #[argh(option)]
    user: Option<String>,
}

/// show everything known about one device: information, settings, sync states
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
struct ShowArgs {
    /// the owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the device id (as `easd device list` prints it)
    #[argh(positional)]
    device_id: String,
}

/// forget a device's sync state: it syncs everything again next time (mail is kept)
#[derive(FromArgs)]
#[argh(subcommand, name = "delete")]
struct DeleteArgs {
    /// the owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the device id
    #[argh(positional)]
    device_id: String,
}

/// forget every device of every user (each syncs everything again next time)
#[derive(FromArgs)]
#[argh(subcommand, name = "reset-all")]
struct ResetAllArgs {
    /// really do it (without it, only says how many devices would be forgotten)
    #[argh(switch)]
    yes: bool,
}

/// change one of a device's settings
#[derive(FromArgs)]
#[argh(
    subcommand,
    name = "set",
    note = "Keys and values (the first value is the default):
  folders                all | default | all-groupware-as-email
  mail-folders           all | default
  archive-folder         yes | no
  public-folders         yes | no
  shared-folders         yes | no
  past-mail              all | 1d | 3d | 1w | 2w | 1m | 3m | 6m
  past-calendar          all | 2w | 1m | 3m | 6m
  tasks-as-events        no | all | incomplete
  notes-as-events        no | yes
folders=default shows only the default folders; mail-folders=default only Inbox, Drafts,
Deleted Items, Sent Items, Outbox and Junk E-mail; folders=all-groupware-as-email adds every
contact, calendar, task and note folder again as a read-only mail folder. tasks-as-events and
notes-as-events add each task or note folder again as a calendar (only a task's event can be
edited; the edit goes to the task). A change that
hides or shows folders makes the device fetch its folder list again at its next sync; added
or removed views reach it as folder changes at its next FolderSync. past-mail and
past-calendar cap the age of the mail and events the device gets whatever it asks for.
Archive, public and shared folders do not exist in easd yet."
)]
struct SetArgs {
    /// the owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the device id
    #[argh(positional)]
    device_id: String,
    /// the setting (see below)
    #[argh(positional)]
    key: String,
    /// its new value
    #[argh(positional)]
    value: String,
}

/// Settings whose change alters the folder list a device sees.
const FOLDER_KEYS: &[&str] = &[
    "folders",
    "mail-folders",
    "archive-folder",
    "public-folders",
    "shared-folders",
];

/// A failure with its exit code.
struct Failure(i32, String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::NotFound(_) => exit::NOUSER,
            StoreError::Invalid(_) | StoreError::Conflict(_) => exit::DATAERR,
            _ => exit::SOFTWARE,
        };
        Failure(code, e.to_string())
    }
}

pub fn run(config: &Config, args: DeviceArgs) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let outcome = match args.action {
        DeviceAction::Wipe(a) => return device_wipe::run(config, a),
        DeviceAction::List(a) => list(&store, &a),
        DeviceAction::Show(a) => show(&store, &a),
        DeviceAction::Delete(a) => delete(&store, &a),
        DeviceAction::ResetAll(a) => reset_all(&store, &a),
        DeviceAction::Set(a) => set(config, &store, &a),
    };
    match outcome {
        Ok(()) => exit::OK,
        Err(Failure(code, message)) => {
            eprintln!("easd: {message}");
            code
        }
    }
}

fn user(store: &Store, email: &str) -> Result<User, Failure> {
    store
        .user_by_email(email)?
        .ok_or_else(|| Failure(exit::NOUSER, format!("no such user: {email}")))
}

fn device(store: &Store, user: &User, device_id: &str) -> Result<Device, Failure> {
    store.device(user.id, device_id)?.ok_or_else(|| {
        Failure(
            exit::DATAERR,
            format!(
                "{} has no device {device_id:?} (see: easd device list --user {})",
                user.email, user.email
            ),
        )
    })
}

fn or_dash(text: &str) -> &str {
    if text.trim().is_empty() {
        "-"
    } else {
        text
    }
}

fn list(store: &Store, args: &ListArgs) -> Result<(), Failure> {
    if let Some(email) = &args.user {
        user(store, email)?;
    }
    let domain = args.domain.as_deref().map(str::to_lowercase);
    if let Some(domain) = &domain {
        if !store.domain_exists(domain)? {
            return Err(Failure(exit::NOUSER, format!("no such domain: {domain}")));
        }
    }
    let wanted_user = args.user.as_deref().map(str::to_lowercase);
    let mut rows = vec![[
        "ACCOUNT",
        "DEVICE ID",
        "MODEL",
        "TYPE",
        "OS",
        "PROTOCOL",
        "REGISTERED",
        "LAST SYNC",
        "POLICY",
        "REMOTE WIPE",
    ]
    .map(String::from)
    .to_vec()];
    for (owner, device) in store.all_devices()? {
        if wanted_user.as_ref().is_some_and(|u| *u != owner.email)
            || domain.as_ref().is_some_and(|d| *d != owner.domain)
        {
            continue;
        }
        let info = store.device_information(device.id)?;
        let (policy, wipe) = policy_and_wipe_status(store, &owner, &device)?;
        rows.push(vec![
            owner.email.clone(),
            device.device_id.clone(),
            or_dash(&info.model).to_string(),
            or_dash(&device.device_type).to_string(),
            or_dash(&info.os).to_string(),
            or_dash(&device.protocol_version).to_string(),
            iso_date(device.first_seen),
            iso_date(device.last_seen),
            policy,
            wipe,
        ]);
    }
    if rows.len() == 1 {
        println!("no devices");
        return Ok(());
    }
    print_table(&rows);
    Ok(())
}

/// Prints rows as columns separated by two spaces, each as wide as its widest cell.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

fn show(store: &Store, args: &ShowArgs) -> Result<(), Failure> {
    let owner = user(store, &args.email)?;
    let device = device(store, &owner, &args.device_id)?;
    let info = store.device_information(device.id)?;
    let (policy, wipe) = policy_and_wipe_status(store, &owner, &device)?;
    let line = |label: &str, value: &str| println!("{label:<20}{}", or_dash(value));
    line("account", &owner.email);
    line("device id", &device.device_id);
    line("type", &device.device_type);
    line("user agent", &device.user_agent);
    line("protocol version", &device.protocol_version);
    line("registered", &iso_date(device.first_seen));
    line("last sync", &iso_date(device.last_seen));
    line("policy", &policy);
    line("remote wipe", &wipe);
    println!();
    println!("device information (reported by the device)");
    line("  model", &info.model);
    line("  IMEI", &info.imei);
    line("  friendly name", &info.friendly_name);
    line("  OS", &info.os);
    line("  OS language", &info.os_language);
    line("  phone number", &info.phone_number);
    line("  mobile operator", &info.mobile_operator);
    line("  user agent", &info.user_agent);
    line(
        "  recovery password",
        &store.recovery_password(device.id)?.unwrap_or_default(),
    );
    println!();
    println!("settings");
    let settings = store.device_settings(device.id)?;
    for (key, value) in settings.all() {
        let default = setting_spec(key).map_or("", |s| s.default_value());
        let note = if value == default { "" } else { " (changed)" };
        println!("  {key:<24}{value}{note}");
    }
    println!();
    let states = store.sync_states_of(device.id)?;
    if states.is_empty() {
        println!("sync states: none (the device syncs everything at its next request)");
    } else {
        println!("sync states");
        for (collection, key, updated) in states {
            let name = collection_name(store, &owner, &collection)?;
            println!("  {name:<30}key {key:<16}last change {}", iso_date(updated));
        }
    }
    Ok(())
}

/// A sync-state collection as a person reads it.
fn collection_name(store: &Store, owner: &User, collection: &str) -> Result<String, Failure> {
    if collection == HIERARCHY {
        return Ok("(folder list)".to_string());
    }
    let Ok(id) = collection.parse() else {
        // A view folder: the view's prefix and its source folder's id.
        let view = crate::eas::views::VIEWS.iter().find_map(|view| {
            let source = collection.strip_prefix(view.prefix)?.parse().ok()?;
            Some((view, source))
        });
        if let Some((view, source)) = view {
            let name = store
                .folder(owner.id, source)?
                .map_or_else(|| "deleted folder".to_string(), |f| f.name);
            return Ok(format!("{name} ({} view) [{collection}]", view.setting));
        }
        return Ok(format!("({collection})"));
    };
    Ok(match store.folder(owner.id, id)? {
        Some(folder) => format!("{} [{id}]", folder.name),
        None => format!("deleted folder [{id}]"),
    })
}

fn delete(store: &Store, args: &DeleteArgs) -> Result<(), Failure> {
    let owner = user(store, &args.email)?;
    let device = device(store, &owner, &args.device_id)?;
    store.delete_device(owner.id, &device.device_id)?;
    println!(
        "deleted device {} of {}: it syncs everything again at its next request",
        device.device_id, owner.email
    );
    Ok(())
}

fn reset_all(store: &Store, args: &ResetAllArgs) -> Result<(), Failure> {
    if !args.yes {
        let count = store.all_devices()?.len();
        return Err(Failure(
            exit::USAGE,
            format!(
                "this forgets all {count} device(s) of all users; each syncs everything again \
                 at its next request (mail is kept). Run again with --yes to do it."
            ),
        ));
    }
    let count = store.delete_all_devices()?;
    println!("forgot {count} device(s): each syncs everything again at its next request");
    Ok(())
}

fn set(config: &Config, store: &Store, args: &SetArgs) -> Result<(), Failure> {
    let owner = user(store, &args.email)?;
    let device = device(store, &owner, &args.device_id)?;
    let Some(spec) = setting_spec(&args.key) else {
        let keys: Vec<&str> = DEVICE_SETTINGS.iter().map(|s| s.key).collect();
        return Err(Failure(
            exit::DATAERR,
            format!(
                "there is no device setting {:?}; the settings are: {} (see easd device set --help)",
                args.key,
                keys.join(", ")
            ),
        ));
    };
    let value = args.value.to_lowercase();
    if !spec.values.contains(&value.as_str()) {
        return Err(Failure(
            exit::DATAERR,
            format!("{} takes one of: {}", spec.key, spec.values.join(", ")),
        ));
    }
    let before = store.device_settings(device.id)?.get(spec.key).to_string();
    let changed = store.set_device_setting(device.id, spec.key, &value)?;
    if !changed {
        println!(
            "{} of {} {}: {value} (unchanged)",
            spec.key, owner.email, device.device_id
        );
        return Ok(());
    }
    println!(
        "{} of {} {}: {value}",
        spec.key, owner.email, device.device_id
    );
    // Views (a folder offered again as another class) come and go as folder changes of the
    // device's next FolderSync; only a change that hides or shows real folders needs a
    // fresh folder list.
    let only_views = |v: &str| v != "default";
    let views_only = spec.key == "folders" && only_views(&before) && only_views(&value);
    if FOLDER_KEYS.contains(&spec.key) && !views_only {
        // The device must see the new folder list: forgetting its hierarchy key makes its
        // next FolderSync answer Status 9, after which it fetches the hierarchy afresh.
        store.reset_sync_state(device.id, HIERARCHY)?;
        println!("the device fetches its folder list again at its next sync");
    } else if crate::eas::views::VIEWS
        .iter()
        .any(|v| v.setting == spec.key)
    {
        println!("the device gets the changed folders at its next folder sync");
    }
    // A device waiting in Ping hears of it at once (Ping answers that the folders changed).
    crate::push::notify(config.notify, &owner.email);
    Ok(())
}
