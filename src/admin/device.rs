//! `easd device …`: the devices of users. This branch carries only `wipe`
//! ([`super::device_wipe`]); listing, showing and deleting devices live beside it.

use argh::FromArgs;

use super::device_wipe;
use crate::config::Config;

/// manage users' devices (remote wipe)
#[derive(FromArgs)]
#[argh(subcommand, name = "device")]
pub struct DeviceArgs {
    #[argh(subcommand)]
    action: DeviceAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum DeviceAction {
    Wipe(device_wipe::WipeArgs),
}

pub fn run(config: &Config, args: DeviceArgs) -> i32 {
    match args.action {
        DeviceAction::Wipe(a) => device_wipe::run(config, a),
    }
}
