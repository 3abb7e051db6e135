//! Provision (MS-ASCMD 2.2.1.14, MS-ASPROV): the two-phase policy exchange and remote wipe.
//!
//! Phase one: the device asks for a policy type and gets the effective policy
//! (`MS-EAS-Provisioning-WBXML`: an EASProvisionDoc with every setting its version knows;
//! `MS-WAP-Provisioning-XML` for 2.5: the characteristic document as Data) with a temporary
//! policy key. Phase two: the device acknowledges that key with a Status and gets its final
//! key, which later requests carry (see [`super::policy_gate`]). Keys are random non-zero
//! u32s; a repeated phase one under the same policy gets the same temporary key.
//!
//! A device with a wipe waiting gets RemoteWipe (or AccountOnlyRemoteWipe, 16.1) instead;
//! its acknowledgment marks it wiped and files the confirmation in the owner's Inbox.
//! DeviceInformation (14.1+) inside the request is stored on the device.

use argon2::password_hash::rand_core::{OsRng, RngCore};

use super::{CommandError, Reply, Request};
use crate::notice::{self, Notice};
use crate::store::{DeviceInformation, WipeStatus};
use crate::wbxml::tag::{provision as prov, settings};
use crate::wbxml::Element;

/// The policy type of 12.0 and later.
pub const EAS_POLICY_TYPE: &str = "MS-EAS-Provisioning-WBXML";
/// The policy type of 2.5.
pub const WAP_POLICY_TYPE: &str = "MS-WAP-Provisioning-XML";

/// Provision Status values (MS-ASPROV 2.2.2.54.2).
mod status {
    pub const SUCCESS: &str = "1";
    pub const PROTOCOL_ERROR: &str = "2";
}

/// Policy Status values (MS-ASPROV 2.2.2.54.1).
mod policy_status {
    pub const SUCCESS: &str = "1";
    pub const UNKNOWN_POLICY_TYPE: &str = "3";
    pub const WRONG_POLICY_KEY: &str = "5";
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == prov::PROVISION) else {
        return Ok(Reply::Document(top_status(status::PROTOCOL_ERROR)));
    };
    let store = request.store;
    let device = request.device;
    let state = store.provisioning(device.id)?;

    // The acknowledgment of a wipe.
    let wipe_ack = body
        .child(prov::REMOTE_WIPE)
        .or_else(|| body.child(prov::ACCOUNT_ONLY_REMOTE_WIPE))
        .and_then(|w| w.child_text(prov::STATUS));
    if let Some(ack) = wipe_ack {
        if state.wipe == WipeStatus::Waiting && ack.trim() == "1" {
            notice::file_wipe_confirmation(
                store,
                request.user,
                device,
                state.wipe_account_only,
                request.admin_email,
            )?;
            log::info!(
                "device {} of {} confirmed its remote wipe",
                crate::logsafe::escaped(&device.device_id),
                request.user.email
            );
            request.notify_user(&request.user.email);
        }
        return Ok(Reply::Document(top_status(status::SUCCESS)));
    }

    let mut answer = top_status(status::SUCCESS);
    if let Some(info) = body.child(settings::DEVICE_INFORMATION) {
        if let Some(set) = info.child(settings::SET) {
            store.set_device_information(device.id, &device_information(set))?;
        }
        answer
            .push(Element::new(settings::DEVICE_INFORMATION))
            .push_text(settings::STATUS, "1");
    }

    if state.wipe == WipeStatus::Waiting {
        answer.push_empty(if state.wipe_account_only {
            prov::ACCOUNT_ONLY_REMOTE_WIPE
        } else {
            prov::REMOTE_WIPE
        });
        return Ok(Reply::Document(answer));
    }

    let Some(policy) = body
        .child(prov::POLICIES)
        .and_then(|p| p.child(prov::POLICY))
    else {
        return Ok(Reply::Document(top_status(status::PROTOCOL_ERROR)));
    };
    let policy_type = policy.child_text(prov::POLICY_TYPE).unwrap_or_default();
    let policy_type = policy_type.trim();
    let mut reply_policy = Element::new(prov::POLICY);
    reply_policy.push_text(prov::POLICY_TYPE, policy_type);
    // 2.5 devices ask for the WAP document, later ones for the EASProvisionDoc; each gets
    // the type it asked for.
    let known_type = policy_type == EAS_POLICY_TYPE || policy_type == WAP_POLICY_TYPE;
    if !known_type {
        reply_policy.push_text(prov::STATUS, policy_status::UNKNOWN_POLICY_TYPE);
        answer.push(Element::new(prov::POLICIES)).push(reply_policy);
        return Ok(Reply::Document(answer));
    }

    let hash = request.policy.hash();
    match policy.child_text(prov::STATUS) {
        // Phase two: the acknowledgment.
        Some(ack) => {
            let sent_key: Option<u32> = policy
                .child_text(prov::POLICY_KEY)
                .and_then(|k| k.trim().parse().ok());
            let ack: u8 = ack.trim().parse().unwrap_or(0);
            let repeated = sent_key.is_some() && sent_key == state.policy_key;
            let acknowledged_hash = match (&state.pending_key, &state.pending_hash) {
                (Some(pending), Some(pending_hash)) if sent_key == Some(*pending) => {
                    Some(pending_hash.clone())
                }
                _ => None,
            };
            let final_key = if let Some(acknowledged_hash) = acknowledged_hash {
                let key = new_key(state.pending_key);
                store.acknowledge_policy(
                    device.id,
                    key,
                    &acknowledged_hash,
                    ack,
                    crate::store::now(),
                )?;
                if ack != 1 {
                    log::info!(
                        "device {} of {} did not apply the policy (Status {ack})",
                        crate::logsafe::escaped(&device.device_id),
                        request.user.email
                    );
                    if !request.policy.is_neutral() && !request.policy.allows_non_provisionable() {
                        let filed = notice::file_refusal(
                            store,
                            Notice::Declined,
                            request.user,
                            device,
                            &state.notice,
                            request.admin_email,
                        )?;
                        if filed {
                            request.notify_user(&request.user.email);
                        }
                    }
                }
                key
            } else if repeated {
                // The answer to an acknowledgment got lost: the same final key again.
                state.policy_key.unwrap_or_default()
            } else {
                reply_policy.push_text(prov::STATUS, policy_status::WRONG_POLICY_KEY);
                answer.push(Element::new(prov::POLICIES)).push(reply_policy);
                return Ok(Reply::Document(answer));
            };
            reply_policy
                .push_text(prov::STATUS, policy_status::SUCCESS)
                .push_text(prov::POLICY_KEY, final_key.to_string());
        }
        // Phase one: the policy and a temporary key.
        None => {
            let key = match (state.pending_key, state.pending_hash.as_deref()) {
                (Some(key), Some(pending)) if pending == hash => key,
                _ => {
                    let key = new_key(state.policy_key);
                    store.issue_temporary_policy_key(device.id, key, &hash)?;
                    key
                }
            };
            reply_policy
                .push_text(prov::STATUS, policy_status::SUCCESS)
                .push_text(prov::POLICY_KEY, key.to_string());
            let data = reply_policy.push(Element::new(prov::DATA));
            if policy_type == WAP_POLICY_TYPE {
                data.children.push(crate::wbxml::Node::Text(
                    super::provision_doc::wap_provisioning_doc(request.policy),
                ));
            } else {
                data.push(super::provision_doc::eas_provision_doc(
                    request.policy,
                    request.version,
                ));
            }
        }
    }
    answer.push(Element::new(prov::POLICIES)).push(reply_policy);
    Ok(Reply::Document(answer))
}

/// `<Provision><Status>code</Status></Provision>`.
fn top_status(code: &str) -> Element {
    let mut doc = Element::new(prov::PROVISION);
    doc.push_text(prov::STATUS, code);
    doc
}

/// A random non-zero key different from `other`.
fn new_key(other: Option<u32>) -> u32 {
    loop {
        let key = OsRng.next_u32();
        if key != 0 && Some(key) != other {
            return key;
        }
    }
}

fn device_information(set: &Element) -> DeviceInformation {
    let text = |tag| set.child_text(tag).unwrap_or_default();
    DeviceInformation {
        model: text(settings::MODEL),
        imei: text(settings::IMEI),
        friendly_name: text(settings::FRIENDLY_NAME),
        os: text(settings::OS),
        os_language: text(settings::OS_LANGUAGE),
        phone_number: text(settings::PHONE_NUMBER),
        mobile_operator: text(settings::MOBILE_OPERATOR),
        user_agent: text(settings::USER_AGENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_never_zero_nor_the_other_key() {
        for _ in 0..100 {
            let key = new_key(Some(5));
            assert_ne!(key, 0);
            assert_ne!(key, 5);
        }
    }
}
