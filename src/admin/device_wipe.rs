//! `easd device wipe EMAIL DEVICEID [--cancel] [--account-only]`: remote wipe.
//!
//! The wipe waits (status Waiting) until the device's next request, which is answered with
//! HTTP 449 (below 14.0) or Status 140 and leads the device to Provision, where it gets
//! RemoteWipe (AccountOnlyRemoteWipe with `--account-only`, EAS 16.1 only). Its acknowledgment
//! marks it Wiped and files a confirmation in the owner's Inbox (administrator in Cc). The
//! user's devices are notified after the commit, so a device waiting in Ping asks at once.
//! A device that never provisions cannot be wiped: it becomes Unsupported and is refused every
//! request from then on. `--cancel` works only while the wipe is Waiting.

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::eas::ProtocolVersion;
use crate::store::{StoreError, WipeStatus};

/// wipe a lost or stolen device at its next connection (or cancel a waiting wipe)
#[derive(FromArgs)]
#[argh(subcommand, name = "wipe")]
pub struct WipeArgs {
    /// the owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the device's DeviceId
    #[argh(positional)]
    device_id: String,
    /// cancel a wipe that is still waiting
    #[argh(switch)]
    cancel: bool,
    /// remove only this account's data from the device (EAS 16.1 devices)
    #[argh(switch)]
    account_only: bool,
}

pub fn run(config: &Config, args: WipeArgs) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let user = match store.user_by_email(args.email.trim()) {
        Ok(Some(user)) => user,
        Ok(None) => {
            eprintln!("easd: no such user: {}", args.email);
            return exit::NOUSER;
        }
        Err(e) => return failure(&e),
    };
    let device = match store.device(user.id, &args.device_id) {
        Ok(Some(device)) => device,
        Ok(None) => {
            eprintln!("easd: {} has no device {:?}", user.email, args.device_id);
            return exit::NOUSER;
        }
        Err(e) => return failure(&e),
    };
    if args.cancel {
        if args.account_only {
            eprintln!("easd: --cancel and --account-only do not go together");
            return exit::USAGE;
        }
        return match store.cancel_wipe(user.id, &device.device_id) {
            Ok(()) => {
                println!("wipe of {} ({}) cancelled", device.device_id, user.email);
                exit::OK
            }
            Err(e) => failure(&e),
        };
    }
    if args.account_only
        && ProtocolVersion::parse(&device.protocol_version)
            .is_none_or(|v| v < ProtocolVersion::V16_1)
    {
        eprintln!(
            "easd: an account-only wipe needs EAS 16.1; {} speaks {}",
            device.device_id,
            if device.protocol_version.is_empty() {
                "an unknown version"
            } else {
                &device.protocol_version
            }
        );
        return exit::DATAERR;
    }
    match store.request_wipe(user.id, &device.device_id, args.account_only) {
        Ok(WipeStatus::Unsupported) => {
            println!(
                "{} ({}) has never provisioned and cannot receive a wipe: status Unsupported; \
                 the device is refused from now on",
                device.device_id, user.email
            );
            exit::OK
        }
        Ok(_) => {
            // Committed: a Ping of that device wakes and is told to provision.
            crate::push::notify(config.notify, &user.email);
            println!(
                "{}wipe of {} ({}) waiting for the device's next request",
                if args.account_only {
                    "account-only "
                } else {
                    ""
                },
                device.device_id,
                user.email
            );
            exit::OK
        }
        Err(e) => failure(&e),
    }
}

fn failure(e: &StoreError) -> i32 {
    eprintln!("easd: {e}");
    match e {
        StoreError::NotFound(_) => exit::NOUSER,
        StoreError::Invalid(_) | StoreError::Conflict(_) => exit::DATAERR,
        _ => exit::TEMPFAIL,
    }
}
