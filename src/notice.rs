//! The e-mails easd itself writes into a user's Inbox: a device refused because it cannot (or
//! would not) apply the security policy, and the confirmation of a remote wipe. The
//! administrator (config `admin-email`) is in Cc. Each is filed together with the device
//! state that makes it go out once per device and event; the caller sends the push
//! notification after the commit.

use crate::store::{provisioning, Store, StoreError, User};

/// Why a notice is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The device does not support provisioning and no level exempts it.
    NonProvisionable,
    /// The device declined (or could only partly apply) the policy.
    Declined,
    /// The device confirmed a remote wipe.
    Wiped { account_only: bool },
}

impl Notice {
    /// The `policy_notice` value that records a refusal notice; `None` for a wipe.
    fn marker(self) -> Option<&'static str> {
        match self {
            Notice::NonProvisionable => Some("non-provisionable"),
            Notice::Declined => Some("declined"),
            Notice::Wiped { .. } => None,
        }
    }

    fn subject_and_text(self, device_id: &str, device_type: &str) -> (String, String) {
        let device = if device_type.is_empty() {
            format!("device {device_id}")
        } else {
            format!("{device_type} device {device_id}")
        };
        match self {
            Notice::NonProvisionable => (
                format!("Your {device} could not connect"),
                format!(
                    "Your {device} could not connect to the mail server: it does not support \
                     the security policy the administrator requires.\r\n\r\nUse a device that \
                     supports Exchange ActiveSync security policies, or ask the administrator \
                     to allow this one.\r\n"
                ),
            ),
            Notice::Declined => (
                format!("Your {device} could not connect"),
                format!(
                    "Your {device} could not connect to the mail server: the security policy \
                     was not accepted or could not be applied on the device.\r\n\r\nAccept the \
                     policy when the device asks, or contact the administrator.\r\n"
                ),
            ),
            Notice::Wiped { account_only } => (
                format!("Remote wipe of your {device} completed"),
                if account_only {
                    format!(
                        "Your {device} confirmed the remote wipe requested by the administrator: \
                         the data of this account was removed from it.\r\n"
                    )
                } else {
                    format!(
                        "Your {device} confirmed the remote wipe requested by the administrator: \
                         it was reset to its factory state and all data on it was erased.\r\n"
                    )
                },
            ),
        }
    }
}

/// The message as filed: From the administrator (or the server), To the user, Cc the admin.
pub fn message(
    notice: Notice,
    user: &User,
    device_id: &str,
    device_type: &str,
    admin: Option<&str>,
) -> Vec<u8> {
    let (subject, text) = notice.subject_and_text(clean(device_id), clean(device_type));
    let from = admin.map_or_else(|| format!("postmaster@{}", user.domain), |a| a.to_string());
    let now = crate::store::now();
    let mut raw = format!("From: Mail server <{from}>\r\nTo: <{}>\r\n", user.email);
    if let Some(admin) = admin {
        raw.push_str(&format!("Cc: <{admin}>\r\n"));
    }
    raw.push_str(&format!(
        "Subject: {subject}\r\nDate: {}\r\nMessage-ID: <easd.{}@{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}",
        crate::clock::rfc5322_date(now),
        crate::store::random_hex(12),
        user.domain
    ));
    raw.into_bytes()
}

/// Header-safe: a DeviceId or type never breaks a header line.
fn clean(text: &str) -> &str {
    if text.chars().all(|c| !c.is_control()) {
        text
    } else {
        "(unnamed)"
    }
}

/// Files a refusal notice unless this device was already told about this refusal. Returns
/// whether a message was filed (the caller then notifies the user's devices).
pub fn file_refusal(
    store: &Store,
    notice: Notice,
    user: &User,
    device: &crate::store::Device,
    already: &str,
    admin: Option<&str>,
) -> Result<bool, StoreError> {
    let Some(marker) = notice.marker() else {
        return Ok(false);
    };
    if already == marker {
        return Ok(false);
    }
    let raw = message(notice, user, &device.device_id, &device.device_type, admin);
    store.file_notice(user.id, &raw, |conn| {
        provisioning::set_notice(conn, device.id, marker)
    })?;
    Ok(true)
}

/// Completes a wipe the device acknowledged and files the confirmation, in one transaction.
pub fn file_wipe_confirmation(
    store: &Store,
    user: &User,
    device: &crate::store::Device,
    account_only: bool,
    admin: Option<&str>,
) -> Result<(), StoreError> {
    let raw = message(
        Notice::Wiped { account_only },
        user,
        &device.device_id,
        &device.device_type,
        admin,
    );
    store.file_notice(user.id, &raw, |conn| {
        provisioning::complete_wipe(conn, device.id, crate::store::now())
    })
}
