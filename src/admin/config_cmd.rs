//! `easd config get|set|unset|list`: the runtime settings kept in the database (today the
//! DirectPush settings of [`crate::push::SETTINGS`]). The running server reads them on every
//! request, so a change needs no restart. Unknown names and bad values are refused.

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::push;
use crate::store::StoreError;

/// runtime settings kept in the database (read by the running server on every request)
#[derive(FromArgs)]
#[argh(
    subcommand,
    name = "config",
    note = "Settings (default):\n  push.heartbeat-min  (60)    shortest Ping/Sync heartbeat a device may ask for, seconds\n  push.heartbeat-max  (1800)  longest Ping/Sync heartbeat a device may ask for, seconds\n  push.max-folders    (300)   most folders one Ping may watch"
)]
pub struct ConfigArgs {
    #[argh(subcommand)]
    action: ConfigAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum ConfigAction {
    Get(GetArgs),
    Set(SetArgs),
    Unset(UnsetArgs),
    List(ListArgs),
}

/// print a setting's value (the default when it is not set)
#[derive(FromArgs)]
#[argh(subcommand, name = "get")]
struct GetArgs {
    /// the setting, e.g. push.heartbeat-max
    #[argh(positional)]
    key: String,
}

/// set a setting
#[derive(FromArgs)]
#[argh(subcommand, name = "set")]
struct SetArgs {
    /// the setting, e.g. push.heartbeat-max
    #[argh(positional)]
    key: String,
    /// its new value
    #[argh(positional)]
    value: String,
}

/// return a setting to its default
#[derive(FromArgs)]
#[argh(subcommand, name = "unset")]
struct UnsetArgs {
    /// the setting, e.g. push.heartbeat-max
    #[argh(positional)]
    key: String,
}

/// list every setting with its value and whether it is the default
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
struct ListArgs {}

pub fn run(config: &Config, args: ConfigArgs) -> i32 {
    let key = match &args.action {
        ConfigAction::Get(a) => Some(a.key.as_str()),
        ConfigAction::Set(a) => Some(a.key.as_str()),
        ConfigAction::Unset(a) => Some(a.key.as_str()),
        ConfigAction::List(_) => None,
    };
    if let Some(key) = key {
        if push::default_of(key).is_none() {
            eprintln!("easd: unknown setting {key:?}; known: {}", known_keys());
            return exit::USAGE;
        }
    }
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let outcome = match args.action {
        ConfigAction::Get(a) => push::setting(&store, &a.key).map(|value| {
            println!("{value}");
        }),
        ConfigAction::Set(a) => match push::validate(&a.key, &a.value) {
            Ok(value) => store.set_setting(&a.key, &value.to_string()),
            Err(reason) => {
                eprintln!("easd: {reason}");
                return exit::USAGE;
            }
        },
        ConfigAction::Unset(a) => match store.unset_setting(&a.key) {
            Err(StoreError::NotFound(_)) => Ok(()),
            other => other,
        },
        ConfigAction::List(_) => list(&store),
    };
    match outcome {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("easd: {e}");
            exit::TEMPFAIL
        }
    }
}

fn list(store: &crate::store::Store) -> Result<(), StoreError> {
    for (key, default, meaning) in push::SETTINGS {
        let stored = store.setting(key)?;
        let value = push::setting(store, key)?;
        let origin = if stored.is_some() { "set" } else { "default" };
        println!("{key} = {value}  ({origin}, default {default}: {meaning})");
    }
    Ok(())
}

fn known_keys() -> String {
    let names: Vec<&str> = push::SETTINGS.iter().map(|(name, _, _)| *name).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_setting_with_its_default() {
        let help = match ConfigArgs::from_args(&["easd", "config"], &["--help"]) {
            Err(early) => early.output,
            Ok(_) => panic!("--help must print help"),
        };
        for (key, default, _) in push::SETTINGS {
            let line = help
                .lines()
                .find(|line| line.trim_start().starts_with(key))
                .unwrap_or_else(|| panic!("{key} missing from:\n{help}"));
            assert!(line.contains(&format!("({default})")), "{line}");
        }
    }
}
