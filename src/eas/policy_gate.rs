//! The policy gate: before any command other than Provision runs, decides whether the device
//! may have data under the effective policy, and if not, what it is told — HTTP 449 below
//! 14.0, and from 14.0 on the command's own document with a global Status (MS-ASCMD 2.2.2):
//! 140 remote wipe requested, 142 not provisioned, 143 policy refresh, 144 invalid policy
//! key, 145 externally managed devices not allowed; a device that cannot be wiped is blocked
//! (HTTP 403 / Status 129).
//!
//! Which devices "do not support provisioning": a device that sends no policy key at all
//! (neither `X-MS-PolicyKey` nor the base64 query's key, where a key of 0 still counts as
//! "I know about provisioning") and has never provisioned. Under an enforcing policy it is
//! told to provision once; if its next request again carries no key, it is taken as unable
//! to, refused, and its user is mailed once (administrator in Cc). The policy setting
//! `allow-non-provisionable` exempts such devices, and devices that declined the policy.

use super::query::Command;
use super::ProtocolVersion;
use crate::notice::{self, Notice};
use crate::policy::EffectivePolicy;
use crate::store::{Device, Provisioning, Store, StoreError, User, WipeStatus};
use crate::wbxml::tag::{
    airsync, compose_mail, folder_hierarchy, item_estimate, item_operations, move_items, ping,
    search, settings,
};
use crate::wbxml::{Element, Tag};

/// The global Status codes the gate answers with.
pub mod status {
    pub const BLOCKED: u16 = 129;
    pub const REMOTE_WIPE_REQUESTED: u16 = 140;
    pub const NOT_PROVISIONED: u16 = 142;
    pub const POLICY_REFRESH: u16 = 143;
    pub const INVALID_POLICY_KEY: u16 = 144;
    pub const EXTERNALLY_MANAGED: u16 = 145;
}

/// The gate's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refused with this global Status code.
    Refuse(u16),
}

/// What the gate looks at.
pub struct GateInput<'a> {
    pub store: &'a Store,
    pub user: &'a User,
    pub device: &'a Device,
    pub policy: &'a EffectivePolicy,
    /// The key the request carries; `None` when it carries none at all.
    pub policy_key: Option<u32>,
    pub now: i64,
    pub admin_email: Option<&'a str>,
}

/// The outcome, and whether a notice was filed (the caller then notifies the user).
pub struct GateOutcome {
    pub verdict: Verdict,
    pub notice_filed: bool,
}

/// A change of the device's state the gate's decision calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateWrite {
    /// A wipe is waiting for a device that cannot provision: it cannot be wiped.
    MarkWipeUnsupported,
    /// The device was told to provision while sending no key.
    NoteKeylessRequest,
    /// A wiped device is back, set up again.
    ForgetWipe,
    /// The device was refused as unable to provision: its user is mailed (once).
    FileNonProvisionableNotice,
}

/// The gate's decision, made from reads alone, and the writes it calls for (in order).
/// Deciding writes nothing, so it may run inside a read snapshot; [`Decision::apply`]
/// makes the writes once no snapshot is open.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    verdict: Verdict,
    writes: Vec<GateWrite>,
}

impl Decision {
    /// Whether applying the decision writes nothing.
    pub fn writes_nothing(&self) -> bool {
        self.writes.is_empty()
    }

    /// Makes the decision's writes and returns the outcome.
    pub fn apply(self, input: &GateInput, state: &Provisioning) -> Result<GateOutcome, StoreError> {
        let store = input.store;
        let device = input.device.id;
        let mut notice_filed = false;
        for write in self.writes {
            match write {
                GateWrite::MarkWipeUnsupported => store.mark_wipe_unsupported(device)?,
                GateWrite::NoteKeylessRequest => store.note_keyless_request(device)?,
                GateWrite::ForgetWipe => store.forget_wipe(device)?,
                GateWrite::FileNonProvisionableNotice => {
                    notice_filed = notice::file_refusal(
                        store,
                        Notice::NonProvisionable,
                        input.user,
                        input.device,
                        &state.notice,
                        input.admin_email,
                    )?
                }
            }
        }
        Ok(GateOutcome {
            verdict: self.verdict,
            notice_filed,
        })
    }
}

/// Decides for one request. Writes only when a device's state changes (told to provision
/// while keyless; refused and mailed; a wiped device returning).
pub fn check(input: &GateInput) -> Result<GateOutcome, StoreError> {
    let state = input.store.provisioning(input.device.id)?;
    decide(input, &state).apply(input, &state)
}

/// The decision for one request from the device's provisioning state, without writing.
pub fn decide(input: &GateInput, state: &Provisioning) -> Decision {
    let mut writes = Vec::new();
    let verdict = verdict(input, state, &mut writes);
    Decision { verdict, writes }
}

fn verdict(input: &GateInput, state: &Provisioning, writes: &mut Vec<GateWrite>) -> Verdict {
    let keyless = input.policy_key.is_none() && state.policy_key.is_none();
    match state.wipe {
        WipeStatus::Waiting => {
            if keyless && state.keyless_asked {
                // Told before and still no Provision: it cannot receive the wipe.
                writes.push(GateWrite::MarkWipeUnsupported);
                return Verdict::Refuse(status::BLOCKED);
            }
            if keyless {
                writes.push(GateWrite::NoteKeylessRequest);
            }
            return Verdict::Refuse(status::REMOTE_WIPE_REQUESTED);
        }
        WipeStatus::Unsupported => return Verdict::Refuse(status::BLOCKED),
        // Acknowledged earlier: the device is back after being set up again.
        WipeStatus::Wiped => writes.push(GateWrite::ForgetWipe),
        WipeStatus::None => {}
    }

    let policy = input.policy;
    if policy.is_neutral() {
        // Nothing is required. A device still holding a key of an earlier, enforcing policy is
        // sent the neutral provision once, which cancels what it enforced.
        let holds_old_policy = input.policy_key.is_some_and(|k| k != 0)
            && state.policy_key.is_some()
            && state.policy_hash != policy.hash();
        return if holds_old_policy {
            Verdict::Refuse(status::POLICY_REFRESH)
        } else {
            Verdict::Allow
        };
    }

    let exempt = policy.allows_non_provisionable();
    if keyless {
        if exempt {
            return Verdict::Allow;
        }
        if !state.keyless_asked {
            writes.push(GateWrite::NoteKeylessRequest);
        } else {
            writes.push(GateWrite::FileNonProvisionableNotice);
        }
        return Verdict::Refuse(status::NOT_PROVISIONED);
    }
    let key = input.policy_key.unwrap_or(0);
    if key == 0 {
        return Verdict::Refuse(status::NOT_PROVISIONED);
    }
    // A key that is not the device's final one (a temporary key, a key from before a
    // reset, someone else's).
    if state.policy_key != Some(key) {
        return Verdict::Refuse(status::INVALID_POLICY_KEY);
    }
    if state.policy_hash != policy.hash() {
        return Verdict::Refuse(status::POLICY_REFRESH);
    }
    if let (Some(hours), Some(at)) = (policy.refresh_hours(), state.provisioned_at) {
        if input.now.saturating_sub(at) >= hours.saturating_mul(3600) {
            return Verdict::Refuse(status::POLICY_REFRESH);
        }
    }
    match state.policy_status {
        Some(1) | None => Verdict::Allow,
        _ if exempt => Verdict::Allow,
        Some(4) => Verdict::Refuse(status::EXTERNALLY_MANAGED),
        Some(_) => Verdict::Refuse(status::NOT_PROVISIONED),
    }
}

/// How a refusal travels: `Err(http_status)` or the command's document with the Status.
pub fn refusal(command: Command, version: ProtocolVersion, code: u16) -> Result<Element, u16> {
    let http = if matches!(code, status::BLOCKED | status::EXTERNALLY_MANAGED) {
        403
    } else {
        449
    };
    if version < ProtocolVersion::V14_0 {
        return Err(http);
    }
    let Some((root, status_tag)) = document_of(command) else {
        return Err(http);
    };
    let mut doc = Element::new(root);
    doc.push_text(status_tag, code.to_string());
    Ok(doc)
}

/// The root element and its Status element of a command's response.
fn document_of(command: Command) -> Option<(Tag, Tag)> {
    Some(match command {
        Command::Sync => (airsync::SYNC, airsync::STATUS),
        Command::FolderSync => (folder_hierarchy::FOLDER_SYNC, folder_hierarchy::STATUS),
        Command::FolderCreate => (folder_hierarchy::FOLDER_CREATE, folder_hierarchy::STATUS),
        Command::FolderUpdate => (folder_hierarchy::FOLDER_UPDATE, folder_hierarchy::STATUS),
        Command::FolderDelete => (folder_hierarchy::FOLDER_DELETE, folder_hierarchy::STATUS),
        Command::MoveItems => (move_items::MOVE_ITEMS, move_items::STATUS),
        Command::GetItemEstimate => (item_estimate::GET_ITEM_ESTIMATE, item_estimate::STATUS),
        Command::Ping => (ping::PING, ping::STATUS),
        Command::ItemOperations => (item_operations::ITEM_OPERATIONS, item_operations::STATUS),
        Command::SendMail => (compose_mail::SEND_MAIL, compose_mail::STATUS),
        Command::SmartForward => (compose_mail::SMART_FORWARD, compose_mail::STATUS),
        Command::SmartReply => (compose_mail::SMART_REPLY, compose_mail::STATUS),
        Command::Settings => (settings::SETTINGS, settings::STATUS),
        Command::Search => (search::SEARCH, search::STATUS),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeviceSeen, PolicyLevel};

    fn setup() -> (Store, User, Device) {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("kim@example.com", "Kim", "pw").unwrap();
        let device = store
            .record_device(
                user.id,
                &DeviceSeen {
                    device_id: "D1",
                    device_type: "Phone",
                    user_agent: "ua",
                    protocol_version: "14.1",
                    now: 1,
                },
            )
            .unwrap();
        (store, user, device)
    }

    fn verdict(store: &Store, user: &User, device: &Device, key: Option<u32>, now: i64) -> Verdict {
        let policy = store
            .effective_policy(user, Some(&device.device_id))
            .unwrap();
        check(&GateInput {
            store,
            user,
            device,
            policy: &policy,
            policy_key: key,
            now,
            admin_email: None,
        })
        .unwrap()
        .verdict
    }

    #[test]
    fn neutral_allows_and_enforcing_asks_for_the_current_key() {
        let (store, user, device) = setup();
        assert_eq!(verdict(&store, &user, &device, None, 10), Verdict::Allow);
        store
            .set_policy_value(&PolicyLevel::Global, "DevicePasswordEnabled", "1")
            .unwrap();
        assert_eq!(
            verdict(&store, &user, &device, Some(0), 10),
            Verdict::Refuse(142)
        );
        let hash = store.effective_policy(&user, Some("D1")).unwrap().hash();
        store
            .acknowledge_policy(device.id, 77, &hash, 1, 10)
            .unwrap();
        assert_eq!(
            verdict(&store, &user, &device, Some(77), 10),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&store, &user, &device, Some(78), 10),
            Verdict::Refuse(144)
        );
        store
            .set_policy_value(&PolicyLevel::Global, "refresh-interval", "1")
            .unwrap();
        assert_eq!(
            verdict(&store, &user, &device, Some(77), 3609),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&store, &user, &device, Some(77), 3610),
            Verdict::Refuse(143)
        );
        store
            .set_policy_value(&PolicyLevel::Global, "AllowCamera", "0")
            .unwrap();
        assert_eq!(
            verdict(&store, &user, &device, Some(77), 20),
            Verdict::Refuse(143)
        );
        // Back to neutral: the device holding the old key is refreshed once.
        store.inherit_policy(&PolicyLevel::Global, None).unwrap();
        assert_eq!(
            verdict(&store, &user, &device, Some(77), 20),
            Verdict::Refuse(143)
        );
        assert_eq!(verdict(&store, &user, &device, None, 20), Verdict::Allow);
    }

    #[test]
    fn refusals_travel_by_version() {
        assert_eq!(
            refusal(Command::Sync, ProtocolVersion::V12_1, 142),
            Err(449)
        );
        assert_eq!(
            refusal(Command::Sync, ProtocolVersion::V12_1, 129),
            Err(403)
        );
        let doc = refusal(Command::Ping, ProtocolVersion::V16_1, 140).unwrap();
        assert_eq!(doc.child_text(ping::STATUS).as_deref(), Some("140"));
        assert_eq!(
            refusal(Command::GetAttachment, ProtocolVersion::V14_0, 142),
            Err(449)
        );
    }
}
