//! Settings (MS-ASCMD 2.2.1.18): out-of-office (Oof Get/Set), what the device tells about
//! itself (DeviceInformation Set), the user's addresses (UserInformation Get), the device's
//! recovery password (DevicePassword Set) and the rights-management templates
//! (RightsManagementInformation Get: easd has none, so the list is empty).
//!
//! Each sub-command answers with its own Status in request order; the document's top-level
//! Status is 1 unless the request is not a Settings document at all (2, protocol error).
//! Out-of-office replies are sent by `easd deliver` (see `crate::oof`).

use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::eas::sync::class::parse_eas_datetime;
use crate::store::oof::{OofMessage, OofState};
use crate::store::{DeviceInformation, StoreError};
use crate::wbxml::{tag::rights_management as rm, tag::settings as st, Element, Tag};

/// Settings Status values (MS-ASCMD 2.2.3.177.14).
mod status {
    pub const SUCCESS: &str = "1";
    pub const PROTOCOL_ERROR: &str = "2";
    pub const INVALID_ARGUMENTS: &str = "5";
    pub const CONFLICTING_ARGUMENTS: &str = "6";
    pub const DENIED_BY_POLICY: &str = "7";
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let mut doc = Element::new(st::SETTINGS);
    let Some(body) = request.body.filter(|body| body.tag == st::SETTINGS) else {
        doc.push_text(st::STATUS, status::PROTOCOL_ERROR);
        return Ok(Reply::Document(doc));
    };
    doc.push_text(st::STATUS, status::SUCCESS);
    for part in body.elements() {
        let answer = match part.tag {
            st::OOF => oof(request, part)?,
            st::DEVICE_INFORMATION => device_information(request, part)?,
            st::USER_INFORMATION => user_information(request, part),
            st::DEVICE_PASSWORD => device_password(request, part)?,
            st::RIGHTS_MANAGEMENT_INFORMATION => rights_management(request, part),
            other => status_only(other, status::PROTOCOL_ERROR),
        };
        doc.push(answer);
    }
    Ok(Reply::Document(doc))
}

fn status_only(tag: Tag, code: &str) -> Element {
    let mut element = Element::new(tag);
    element.push_text(st::STATUS, code);
    element
}

/// `Text` or `HTML` for a BodyType value (case-insensitive), else `None`.
fn body_type(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "text" => Some("Text"),
        "html" => Some("HTML"),
        _ => None,
    }
}

fn oof(request: &Request, part: &Element) -> Result<Element, CommandError> {
    if let Some(get) = part.child(st::GET) {
        let wanted = match get.child_text(st::BODY_TYPE) {
            // BodyType is required; a client leaving it out gets plain text.
            None => "Text",
            Some(text) => match body_type(&text) {
                Some(kind) => kind,
                None => return Ok(status_only(st::OOF, status::PROTOCOL_ERROR)),
            },
        };
        let stored = request.store.oof(request.user.id)?;
        let mut answer = status_only(st::OOF, status::SUCCESS);
        let get = answer.push(Element::new(st::GET));
        get.push_text(st::OOF_STATE, (stored.state as u8).to_string());
        if let (Some(start), Some(end)) = (stored.start_time, stored.end_time) {
            get.push_text(st::START_TIME, crate::clock::eas_datetime(start))
                .push_text(st::END_TIME, crate::clock::eas_datetime(end));
        }
        for (audience, message) in [
            (st::APPLIES_TO_INTERNAL, &stored.internal),
            (st::APPLIES_TO_EXTERNAL_KNOWN, &stored.external_known),
            (st::APPLIES_TO_EXTERNAL_UNKNOWN, &stored.external_unknown),
        ] {
            let element = get.push(Element::new(st::OOF_MESSAGE));
            element
                .push_empty(audience)
                .push_text(st::ENABLED, if message.enabled { "1" } else { "0" });
            if !message.reply.is_empty() {
                element.push_text(
                    st::REPLY_MESSAGE,
                    crate::oof::convert_body(&message.reply, &message.body_type, wanted),
                );
            }
            element.push_text(st::BODY_TYPE, wanted);
        }
        return Ok(answer);
    }
    let Some(set) = part.child(st::SET) else {
        return Ok(status_only(st::OOF, status::PROTOCOL_ERROR));
    };
    let mut oof = request.store.oof(request.user.id)?;
    if let Some(state) = set.child_text(st::OOF_STATE) {
        match state.trim().parse().ok().and_then(OofState::from_code) {
            Some(state) => oof.state = state,
            None => return Ok(status_only(st::OOF, status::INVALID_ARGUMENTS)),
        }
    }
    let time = |tag| {
        set.child_text(tag)
            .map(|text| parse_eas_datetime(text.trim()))
    };
    match (time(st::START_TIME), time(st::END_TIME)) {
        (None, None) => {}
        (Some(Some(start)), Some(Some(end))) => {
            if end <= start {
                return Ok(status_only(st::OOF, status::CONFLICTING_ARGUMENTS));
            }
            (oof.start_time, oof.end_time) = (Some(start), Some(end));
        }
        _ => return Ok(status_only(st::OOF, status::INVALID_ARGUMENTS)),
    }
    if oof.state == OofState::TimeBased && (oof.start_time.is_none() || oof.end_time.is_none()) {
        return Ok(status_only(st::OOF, status::INVALID_ARGUMENTS));
    }
    for message in set.children_with(st::OOF_MESSAGE) {
        let target: &mut OofMessage = if message.child(st::APPLIES_TO_INTERNAL).is_some() {
            &mut oof.internal
        } else if message.child(st::APPLIES_TO_EXTERNAL_KNOWN).is_some() {
            &mut oof.external_known
        } else if message.child(st::APPLIES_TO_EXTERNAL_UNKNOWN).is_some() {
            &mut oof.external_unknown
        } else {
            return Ok(status_only(st::OOF, status::PROTOCOL_ERROR));
        };
        if let Some(enabled) = message.child_text(st::ENABLED) {
            target.enabled = match enabled.trim() {
                "1" => true,
                "0" => false,
                _ => return Ok(status_only(st::OOF, status::INVALID_ARGUMENTS)),
            };
        }
        if let Some(reply) = message.child_text(st::REPLY_MESSAGE) {
            target.reply = reply;
        }
        if let Some(kind) = message.child_text(st::BODY_TYPE) {
            match body_type(&kind) {
                Some(kind) => target.body_type = kind.to_string(),
                None => return Ok(status_only(st::OOF, status::INVALID_ARGUMENTS)),
            }
        }
    }
    match request.store.set_oof(request.user.id, &oof) {
        Ok(()) => Ok(status_only(st::OOF, status::SUCCESS)),
        Err(StoreError::Invalid(_)) => Ok(status_only(st::OOF, status::INVALID_ARGUMENTS)),
        Err(e) => Err(e.into()),
    }
}

fn device_information(request: &Request, part: &Element) -> Result<Element, CommandError> {
    let Some(set) = part.child(st::SET) else {
        return Ok(status_only(st::DEVICE_INFORMATION, status::PROTOCOL_ERROR));
    };
    let field = |tag| set.child_text(tag).unwrap_or_default();
    let info = DeviceInformation {
        model: field(st::MODEL),
        imei: field(st::IMEI),
        friendly_name: field(st::FRIENDLY_NAME),
        os: field(st::OS),
        os_language: field(st::OS_LANGUAGE),
        phone_number: field(st::PHONE_NUMBER),
        mobile_operator: field(st::MOBILE_OPERATOR),
        user_agent: field(st::USER_AGENT),
    };
    request
        .store
        .set_device_information(request.device.id, &info)?;
    Ok(status_only(st::DEVICE_INFORMATION, status::SUCCESS))
}

fn user_information(request: &Request, part: &Element) -> Element {
    if part.child(st::GET).is_none() {
        return status_only(st::USER_INFORMATION, status::PROTOCOL_ERROR);
    }
    let user = request.user;
    let mut answer = status_only(st::USER_INFORMATION, status::SUCCESS);
    let get = answer.push(Element::new(st::GET));
    if request.version >= ProtocolVersion::V14_1 {
        // 14.1 wraps the addresses in accounts; the primary account has no AccountId.
        let account = get
            .push(Element::new(st::ACCOUNTS))
            .push(Element::new(st::ACCOUNT));
        if !user.display_name.trim().is_empty() {
            account.push_text(st::USER_DISPLAY_NAME, user.display_name.clone());
        }
        account
            .push(Element::new(st::EMAIL_ADDRESSES))
            .push_text(st::SMTP_ADDRESS, user.email.clone())
            .push_text(st::PRIMARY_SMTP_ADDRESS, user.email.clone());
    } else {
        get.push(Element::new(st::EMAIL_ADDRESSES))
            .push_text(st::SMTP_ADDRESS, user.email.clone());
    }
    answer
}

/// Whether the policy in force lets this device store a recovery password. easd has no
/// policies in this branch, so recovery is allowed; the provisioning work decides it.
fn recovery_allowed(_request: &Request) -> bool {
    true
}

fn device_password(request: &Request, part: &Element) -> Result<Element, CommandError> {
    let Some(password) = part.child(st::SET).and_then(|set| set.child(st::PASSWORD)) else {
        return Ok(status_only(st::DEVICE_PASSWORD, status::PROTOCOL_ERROR));
    };
    if !recovery_allowed(request) {
        return Ok(status_only(st::DEVICE_PASSWORD, status::DENIED_BY_POLICY));
    }
    let text = password.text().unwrap_or_default();
    // An empty Password removes the recovery password.
    let stored = (!text.is_empty()).then_some(text.as_str());
    match request
        .store
        .set_recovery_password(request.device.id, stored)
    {
        Ok(()) => Ok(status_only(st::DEVICE_PASSWORD, status::SUCCESS)),
        Err(StoreError::Invalid(_)) => {
            Ok(status_only(st::DEVICE_PASSWORD, status::INVALID_ARGUMENTS))
        }
        Err(e) => Err(e.into()),
    }
}

fn rights_management(request: &Request, part: &Element) -> Element {
    let tag = st::RIGHTS_MANAGEMENT_INFORMATION;
    if request.version < ProtocolVersion::V14_1 || part.child(st::GET).is_none() {
        return status_only(tag, status::PROTOCOL_ERROR);
    }
    let mut answer = status_only(tag, status::SUCCESS);
    answer
        .push(Element::new(st::GET))
        .push_empty(rm::RIGHTS_MANAGEMENT_TEMPLATES);
    answer
}
