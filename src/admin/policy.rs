//! `easd policy show|set|inherit|keys`: the security policy at its four levels (global, domain,
//! user, device). A level inherits every setting from the one above until it is customised;
//! `inherit` removes a level's customisation (one setting or all of them). `show` prints every
//! setting, its effective value at that level and the level it comes from.

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::policy::{self, EffectivePolicy, Kind, PolicyError};
use crate::store::{PolicyLevel, Store, StoreError};

/// show and change the security policy (global, per domain, user or device)
#[derive(FromArgs)]
#[argh(
    subcommand,
    name = "policy",
    note = "Levels: --global (the default), --domain D, --user EMAIL, --device ID (add --user to \
pick the owner when several users have that DeviceId). A level inherits from the one above until a \
setting is set there; `inherit` reverts it. Nothing is enforced while every EASProvisionDoc setting \
has its neutral value.\n\nKeys (case-insensitive; `easd policy keys` prints each with its values and meaning): \
DevicePasswordEnabled AlphanumericDevicePasswordRequired RequireStorageCardEncryption \
PasswordRecoveryEnabled DocumentBrowseEnabled AttachmentsEnabled MinDevicePasswordLength \
MaxInactivityTimeDeviceLock MaxDevicePasswordFailedAttempts MaxAttachmentSize \
AllowSimpleDevicePassword DevicePasswordExpiration DevicePasswordHistory AllowStorageCard \
AllowCamera RequireDeviceEncryption AllowUnsignedApplications AllowUnsignedInstallationPackages \
MinDevicePasswordComplexCharacters AllowWiFi AllowTextMessaging AllowPOPIMAPEmail AllowBluetooth \
AllowIrDA RequireManualSyncWhenRoaming AllowDesktopSync MaxCalendarAgeFilter AllowHTMLEmail \
MaxEmailAgeFilter MaxEmailBodyTruncationSize MaxEmailHTMLBodyTruncationSize \
RequireSignedSMIMEMessages RequireEncryptedSMIMEMessages RequireSignedSMIMEAlgorithm \
RequireEncryptionSMIMEAlgorithm AllowSMIMEEncryptionAlgorithmNegotiation AllowSMIMESoftCerts \
AllowBrowser AllowConsumerEmail AllowRemoteDesktop AllowInternetSharing \
UnapprovedInROMApplicationList ApprovedApplicationList allow-non-provisionable refresh-interval \
max-protocol-version",
    example = "easd policy set DevicePasswordEnabled 1\neasd policy set --domain example.com MaxEmailAgeFilter 3\neasd policy show --user kim@example.com\neasd policy inherit --device ApplDNQX1234 AllowHTMLEmail"
)]
pub struct PolicyArgs {
    #[argh(subcommand)]
    action: PolicyAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum PolicyAction {
    Show(ShowArgs),
    Set(SetArgs),
    Inherit(InheritArgs),
    Keys(KeysArgs),
}

/// list every setting with its values and meaning
#[derive(FromArgs)]
#[argh(subcommand, name = "keys")]
struct KeysArgs {}

/// print every setting, its effective value and the level it comes from
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
struct ShowArgs {
    /// the global level (the default)
    #[argh(switch)]
    global: bool,
    /// a mail domain
    #[argh(option)]
    domain: Option<String>,
    /// a user, by e-mail address
    #[argh(option)]
    user: Option<String>,
    /// a device, by DeviceId
    #[argh(option)]
    device: Option<String>,
}

/// customise one setting at a level: KEY VALUE (see `easd policy --help` for the keys)
#[derive(FromArgs)]
#[argh(subcommand, name = "set")]
struct SetArgs {
    /// the setting, e.g. DevicePasswordEnabled
    #[argh(positional)]
    key: String,
    /// its value (`unlimited` or an empty string for "no limit" where allowed)
    #[argh(positional)]
    value: String,
    /// the global level (the default)
    #[argh(switch)]
    global: bool,
    /// a mail domain
    #[argh(option)]
    domain: Option<String>,
    /// a user, by e-mail address
    #[argh(option)]
    user: Option<String>,
    /// a device, by DeviceId
    #[argh(option)]
    device: Option<String>,
}

/// make a level inherit again: one setting, or all of them without KEY
#[derive(FromArgs)]
#[argh(subcommand, name = "inherit")]
struct InheritArgs {
    /// the setting to inherit (default: every setting of the level)
    #[argh(positional)]
    key: Option<String>,
    /// the global level (the default; inheriting there restores the neutral default)
    #[argh(switch)]
    global: bool,
    /// a mail domain
    #[argh(option)]
    domain: Option<String>,
    /// a user, by e-mail address
    #[argh(option)]
    user: Option<String>,
    /// a device, by DeviceId
    #[argh(option)]
    device: Option<String>,
}

/// The level the options name, with the levels above it (most general first).
struct Target {
    level: PolicyLevel,
    chain: Vec<PolicyLevel>,
    label: String,
}

/// Resolves `--global/--domain/--user/--device` into a level; `Err` is the exit code.
fn target(
    store: &Store,
    global: bool,
    domain: Option<&str>,
    user: Option<&str>,
    device: Option<&str>,
) -> Result<Target, i32> {
    let named = usize::from(global) + usize::from(domain.is_some());
    if named > 1 || (named == 1 && (user.is_some() || device.is_some())) {
        eprintln!("easd: name one level: --global, --domain D, --user EMAIL or --device ID");
        return Err(exit::USAGE);
    }
    let fail = |e: StoreError| {
        eprintln!("easd: {e}");
        exit::SOFTWARE
    };
    if let Some(domain) = domain {
        let domain = domain.trim().to_ascii_lowercase();
        if !store.domain_exists(&domain).map_err(fail)? {
            eprintln!("easd: no such domain: {domain}");
            return Err(exit::NOUSER);
        }
        return Ok(Target {
            level: PolicyLevel::Domain(domain.clone()),
            chain: vec![PolicyLevel::Global, PolicyLevel::Domain(domain.clone())],
            label: format!("domain {domain}"),
        });
    }
    let owner = match user {
        Some(email) => match store.user_by_email(email.trim()).map_err(fail)? {
            Some(owner) => Some(owner),
            None => {
                eprintln!("easd: no such user: {email}");
                return Err(exit::NOUSER);
            }
        },
        None => None,
    };
    if let Some(device_id) = device {
        let owners: Vec<_> = store
            .all_devices()
            .map_err(fail)?
            .into_iter()
            .filter(|(u, d)| {
                d.device_id == device_id && owner.as_ref().is_none_or(|o| o.id == u.id)
            })
            .map(|(u, _)| u)
            .collect();
        let user = match owners.as_slice() {
            [one] => one.clone(),
            [] => {
                eprintln!("easd: no device {device_id:?} has connected yet");
                return Err(exit::NOUSER);
            }
            _ => {
                eprintln!(
                    "easd: several users have a device {device_id:?}: add --user EMAIL to pick one"
                );
                return Err(exit::USAGE);
            }
        };
        return Ok(Target {
            level: PolicyLevel::Device(device_id.to_string()),
            chain: vec![
                PolicyLevel::Global,
                PolicyLevel::Domain(user.domain.clone()),
                PolicyLevel::User(user.email.clone()),
                PolicyLevel::Device(device_id.to_string()),
            ],
            label: format!("device {device_id} of {}", user.email),
        });
    }
    if let Some(user) = owner {
        return Ok(Target {
            level: PolicyLevel::User(user.email.clone()),
            chain: vec![
                PolicyLevel::Global,
                PolicyLevel::Domain(user.domain.clone()),
                PolicyLevel::User(user.email.clone()),
            ],
            label: format!("user {}", user.email),
        });
    }
    Ok(Target {
        level: PolicyLevel::Global,
        chain: vec![PolicyLevel::Global],
        label: "global".to_string(),
    })
}

pub fn run(config: &Config, args: PolicyArgs) -> i32 {
    if let PolicyAction::Keys(_) = args.action {
        print!("{}", policy::keys_help());
        return exit::OK;
    }
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let result = match args.action {
        PolicyAction::Show(a) => target(
            &store,
            a.global,
            a.domain.as_deref(),
            a.user.as_deref(),
            a.device.as_deref(),
        )
        .and_then(|t| show(&store, &t)),
        PolicyAction::Set(a) => target(
            &store,
            a.global,
            a.domain.as_deref(),
            a.user.as_deref(),
            a.device.as_deref(),
        )
        .and_then(|t| set(&store, &t, &a.key, &a.value)),
        PolicyAction::Inherit(a) => target(
            &store,
            a.global,
            a.domain.as_deref(),
            a.user.as_deref(),
            a.device.as_deref(),
        )
        .and_then(|t| inherit(&store, &t, a.key.as_deref())),
        PolicyAction::Keys(_) => Ok(()),
    };
    match result {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

fn store_failure(e: StoreError) -> i32 {
    eprintln!("easd: {e}");
    exit::SOFTWARE
}

fn show(store: &Store, target: &Target) -> Result<(), i32> {
    let policy: EffectivePolicy = store
        .effective_policy_of(&target.chain)
        .map_err(store_failure)?;
    let customised = store
        .policy_overrides(&target.level)
        .map_err(store_failure)?
        .len();
    println!(
        "policy of {} ({customised} setting(s) customised at this level; {})",
        target.label,
        if policy.is_neutral() {
            "neutral: nothing is enforced"
        } else {
            "enforced"
        }
    );
    println!("{:<42} {:<20} FROM", "SETTING", "VALUE");
    for (def, value, source) in policy.entries() {
        println!(
            "{:<42} {:<20} {}",
            def.name,
            display_value(def.kind, value),
            source.as_str()
        );
    }
    Ok(())
}

/// How a value is printed: "unlimited" for an empty limit, "-" for an empty list.
fn display_value(kind: Kind, value: &str) -> &str {
    match (kind, value.is_empty()) {
        (Kind::Number { .. } | Kind::Version, true) => "unlimited",
        (_, true) => "-",
        _ => value,
    }
}

fn set(store: &Store, target: &Target, key: &str, value: &str) -> Result<(), i32> {
    let (def, value) = match policy::normalise(key, value) {
        Ok(found) => found,
        Err(e @ PolicyError::UnknownKey(_)) => {
            eprintln!("easd: {e}");
            return Err(exit::USAGE);
        }
        Err(e) => {
            eprintln!("easd: {e}");
            return Err(exit::DATAERR);
        }
    };
    store
        .set_policy_value(&target.level, def.name, &value)
        .map_err(store_failure)?;
    println!(
        "{}: {} = {}",
        target.label,
        def.name,
        display_value(def.kind, &value)
    );
    Ok(())
}

fn inherit(store: &Store, target: &Target, key: Option<&str>) -> Result<(), i32> {
    let name = match key {
        Some(key) => match policy::setting(key) {
            Some(def) => Some(def.name),
            None => {
                eprintln!("easd: {}", PolicyError::UnknownKey(key.to_string()));
                return Err(exit::USAGE);
            }
        },
        None => None,
    };
    let removed = store
        .inherit_policy(&target.level, name)
        .map_err(store_failure)?;
    match name {
        Some(name) => println!(
            "{}: {name} {}",
            target.label,
            if removed > 0 {
                "now inherits"
            } else {
                "was not customised"
            }
        ),
        None => println!(
            "{}: {removed} customised setting(s) removed; everything inherits",
            target.label
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_note_lists_every_key() {
        let help = match PolicyArgs::from_args(&["easd", "policy"], &["--help"]) {
            Err(early) => early.output,
            Ok(_) => panic!("--help must exit early"),
        };
        for def in policy::SETTINGS {
            assert!(help.contains(def.name), "{} missing from --help", def.name);
        }
    }
}
