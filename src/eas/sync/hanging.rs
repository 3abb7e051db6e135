//! The hanging Sync (MS-ASCMD 3.1.5.4): a Sync with Wait (minutes) or HeartbeatInterval
//! (seconds) that has nothing to send is held by the front door like a Ping (the parking
//! protocol in docs/ARCHITECTURE.md) and run again when the user's data changes or the wait
//! ends; a wait that ends with nothing new gets the empty Sync response.
//!
//! Only a request that changed nothing may wait: every collection answered Status 1 with
//! the key it came with and nothing else, so parking loses no answer and no new key.

use super::collection::CollectionRequest;
use super::{top_status, Reply, Request};
use crate::eas::{ProtocolVersion, Resume};
use crate::push;
use crate::store::{now, StoreError};
use crate::wbxml::{tag::airsync, Element};

/// The sync-state row holding when the device's current wait ends (Unix seconds).
const WAIT_STATE: &str = "sync-wait";

/// The largest Wait in minutes (MS-ASCMD 2.2.3.198).
const MAX_WAIT_MINUTES: u64 = 59;

/// The wait the request asks for, in seconds: `Ok(None)` for an ordinary Sync, `Err` with the
/// answer for a request that asks wrongly (both elements: Status 4; out of bounds: Status 14
/// with the Limit in the unit the client used).
pub fn requested(
    request: &Request,
    body: Option<&Element>,
) -> Result<Result<Option<u64>, Reply>, StoreError> {
    let Some(body) = body else {
        return Ok(Ok(None));
    };
    let wait = body.child_text(airsync::WAIT);
    let heartbeat = body.child_text(airsync::HEARTBEAT_INTERVAL);
    let min = push::setting(request.store, push::HEARTBEAT_MIN)?;
    let max = push::setting(request.store, push::HEARTBEAT_MAX)?.max(min);
    Ok(match (wait, heartbeat) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(top_status(super::status::PROTOCOL_ERROR)),
        (Some(minutes), None) => match minutes.trim().parse::<u64>() {
            Err(_) => Err(top_status(super::status::PROTOCOL_ERROR)),
            Ok(minutes) => {
                let low = min.div_ceil(60).max(1);
                let high = (max / 60).clamp(low, MAX_WAIT_MINUTES);
                if minutes < low {
                    Err(limit(low))
                } else if minutes > high {
                    Err(limit(high))
                } else {
                    Ok(Some(minutes * 60))
                }
            }
        },
        (None, Some(seconds)) => match seconds.trim().parse::<u64>() {
            Err(_) => Err(top_status(super::status::PROTOCOL_ERROR)),
            Ok(seconds) if seconds < min => Err(limit(min)),
            Ok(seconds) if seconds > max => Err(limit(max)),
            Ok(seconds) => Ok(Some(seconds)),
        },
    })
}

fn limit(value: u64) -> Reply {
    let mut doc = Element::new(airsync::SYNC);
    doc.push_text(airsync::STATUS, super::status::INVALID_WAIT)
        .push_text(airsync::LIMIT, value.to_string());
    Reply::Document(doc)
}

/// True when the answer says nothing the client does not know: every collection is
/// Status 1 with the key it was sent with, and nothing else.
pub fn nothing_to_say(wanted: &[CollectionRequest], answers: &Element) -> bool {
    if wanted.iter().any(|c| !c.commands.is_empty()) {
        return false;
    }
    let answered: Vec<&Element> = answers.children_with(airsync::COLLECTION).collect();
    answered.len() == wanted.len()
        && wanted.iter().zip(answered).all(|(asked, answer)| {
            answer.child_text(airsync::STATUS).as_deref() == Some(super::status::SUCCESS)
                && answer.child_text(airsync::SYNC_KEY).as_deref() == Some(&asked.sync_key)
                && answer.elements().all(|e| {
                    [
                        airsync::SYNC_KEY,
                        airsync::COLLECTION_ID,
                        airsync::STATUS,
                        airsync::CLASS,
                    ]
                    .contains(&e.tag)
                })
        })
}

/// Parks a Sync with nothing to say, or ends its wait: `None` means answer as usual
/// (a protocol version without the empty response).
pub fn park_or_end(request: &Request, seconds: u64) -> Result<Option<Reply>, StoreError> {
    let current = now();
    let deadline = if request.resume.is_none() {
        let deadline = current + seconds as i64;
        request.store.advance_sync_key(
            request.device.id,
            WAIT_STATE,
            None,
            0,
            deadline.to_string().as_bytes(),
        )?;
        deadline
    } else {
        request
            .store
            .sync_state(request.device.id, WAIT_STATE)?
            .and_then(|s| String::from_utf8_lossy(&s.data).parse::<i64>().ok())
            .unwrap_or(current)
    };
    let remaining = deadline - current;
    let waiting = matches!(request.resume, None | Some(Resume::Notify));
    if waiting && remaining > 0 {
        return Ok(Some(Reply::Park {
            seconds: remaining as u64,
        }));
    }
    Ok((request.version >= ProtocolVersion::V12_1).then_some(Reply::Empty))
}
