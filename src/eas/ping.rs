//! Ping (MS-ASCMD 2.2.1.13), DirectPush: the device names folders and a heartbeat and
//! waits until one of them changes or the heartbeat ends.
//!
//! This module decides what a Ping *means*; the front door decides *when* to ask (the
//! parking protocol in docs/ARCHITECTURE.md). A Ping with nothing to report answers
//! [`Reply::Park`]; when the front door sends it again (timer, change notification,
//! superseded by a newer Ping of the device, shutdown) the folders are checked once more.
//!
//! "Changed" means the device's Sync state of a pinged folder stands for an older item
//! counter than the folder's: a change committed after the device's last Sync answers at
//! once, so nothing between Sync and Ping is missed.
//!
//! The device's last parameters (heartbeat, folders) are kept in its sync state under the
//! reserved collection name [`PING_STATE`] (folder collections are numbers), together with
//! the park deadline and the count of Pings naming a folder that no longer exists (the
//! reference guide's "folder push request" case: after three without a FolderSync the user
//! gets a message in the Inbox and the folder is no longer watched).

use super::{CommandError, Reply, Request, Resume};
use crate::push;
use crate::store::{now, FolderId, FolderType, NewMessage, StoreError};
use crate::wbxml::{tag::ping, Element};

/// The sync-state row holding the device's Ping parameters.
pub const PING_STATE: &str = "ping";

/// Pings naming a vanished folder before the user is told and the folder dropped.
const MISSING_FOLDER_ATTEMPTS: u32 = 3;

/// Ping Status values (MS-ASCMD 2.2.3.177.10).
mod status {
    pub const EXPIRED: &str = "1";
    pub const CHANGES: &str = "2";
    pub const MISSING_PARAMETERS: &str = "3";
    pub const SYNTAX_ERROR: &str = "4";
    pub const BAD_HEARTBEAT: &str = "5";
    pub const TOO_MANY_FOLDERS: &str = "6";
    pub const FOLDER_SYNC_NEEDED: &str = "7";
}

/// What is kept per device between Pings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PingState {
    heartbeat: Option<u64>,
    /// (folder id as sent, class as sent)
    folders: Option<Vec<(String, String)>>,
    /// Unix seconds when the current wait ends.
    deadline: i64,
    /// A vanished folder the device keeps naming: (id, attempts, hierarchy key then).
    missing: Option<(String, u32, String)>,
    /// Folders no longer watched after the user was told.
    dropped: Vec<String>,
}

impl PingState {
    fn parse(data: &[u8]) -> PingState {
        let mut state = PingState::default();
        for line in String::from_utf8_lossy(data).lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["heartbeat", value] => state.heartbeat = value.parse().ok(),
                ["deadline", value] => state.deadline = value.parse().unwrap_or(0),
                ["folders"] => state.folders = Some(Vec::new()),
                ["folder", id, class] => state
                    .folders
                    .get_or_insert_with(Vec::new)
                    .push((id.to_string(), class.to_string())),
                ["missing", id, count, key] => {
                    if let Ok(count) = count.parse() {
                        state.missing = Some((id.to_string(), count, key.to_string()));
                    }
                }
                ["dropped", id] => state.dropped.push(id.to_string()),
                _ => {}
            }
        }
        state
    }

    fn to_text(&self) -> String {
        let mut text = String::new();
        if let Some(heartbeat) = self.heartbeat {
            text.push_str(&format!("heartbeat {heartbeat}\n"));
        }
        text.push_str(&format!("deadline {}\n", self.deadline));
        if let Some(folders) = &self.folders {
            text.push_str("folders\n");
            for (id, class) in folders {
                text.push_str(&format!("folder {id} {class}\n"));
            }
        }
        if let Some((id, count, key)) = &self.missing {
            text.push_str(&format!("missing {id} {count} {key}\n"));
        }
        for id in &self.dropped {
            text.push_str(&format!("dropped {id}\n"));
        }
        text
    }
}

/// A word safe to keep in the line-based state (ids and classes are short tokens).
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && !text.chars().any(|c| c.is_whitespace())
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let store = request.store;
    let stored_state = store.sync_state(request.device.id, PING_STATE)?;
    let stored = stored_state
        .as_ref()
        .map(|s| PingState::parse(&s.data))
        .unwrap_or_default();
    let mut state = stored.clone();

    // The request's parameters replace the stored ones; missing ones are taken from them.
    if let Some(body) = request.body {
        if body.tag != ping::PING {
            return Ok(answer(status::SYNTAX_ERROR));
        }
        if let Some(text) = body.child_text(ping::HEARTBEAT_INTERVAL) {
            match text.trim().parse::<u64>() {
                Ok(seconds) => state.heartbeat = Some(seconds),
                Err(_) => return Ok(answer(status::SYNTAX_ERROR)),
            }
        }
        if let Some(list) = body.child(ping::FOLDERS) {
            let mut folders = Vec::new();
            for folder in list.children_with(ping::FOLDER) {
                let id = folder.child_text(ping::ID).unwrap_or_default();
                let class = folder.child_text(ping::CLASS).unwrap_or_default();
                let (id, class) = (id.trim().to_string(), class.trim().to_string());
                if !is_token(&id) || !is_token(&class) {
                    return Ok(answer(status::SYNTAX_ERROR));
                }
                folders.push((id, class));
            }
            if folders.is_empty() {
                return Ok(answer(status::SYNTAX_ERROR));
            }
            state.folders = Some(folders);
        }
    }
    let (Some(heartbeat), Some(folders)) = (state.heartbeat, state.folders.clone()) else {
        return Ok(answer(status::MISSING_PARAMETERS));
    };

    let min = push::setting(store, push::HEARTBEAT_MIN)?;
    let max = push::setting(store, push::HEARTBEAT_MAX)?.max(min);
    if heartbeat < min || heartbeat > max {
        let bound = if heartbeat < min { min } else { max };
        let mut doc = document(status::BAD_HEARTBEAT);
        doc.push_text(ping::HEARTBEAT_INTERVAL, bound.to_string());
        return Ok(Reply::Document(doc));
    }
    let max_folders = push::setting(store, push::MAX_FOLDERS)?;
    if folders.len() as u64 > max_folders {
        let mut doc = document(status::TOO_MANY_FOLDERS);
        doc.push_text(ping::MAX_FOLDERS, max_folders.to_string());
        return Ok(Reply::Document(doc));
    }

    let first_time = request.resume.is_none();
    let current = now();
    if first_time {
        state.deadline = current + heartbeat as i64;
    }

    // Folders that vanished: FolderSync needed; repeated without one, tell the user.
    // A folder hidden from this device by its settings counts as gone for it as well.
    let hidden = super::device_view::hidden_folders(store, request.user.id, request.device)?;
    let mut watched = Vec::new();
    let mut vanished = None;
    for (id, _) in &folders {
        if state.dropped.contains(id) {
            continue;
        }
        let folder = match id.parse::<FolderId>() {
            Ok(folder_id)
                if !hidden.contains(&folder_id)
                    && store.folder(request.user.id, folder_id)?.is_some() =>
            {
                Some(folder_id)
            }
            Ok(_) => None,
            // A view folder watches its source folder.
            Err(_) => super::views::view_folder(store, request.user.id, request.device, id)?
                .map(|view| view.source.id),
        };
        match folder {
            Some(folder_id) => watched.push((id.clone(), folder_id)),
            None => {
                vanished.get_or_insert_with(|| id.clone());
            }
        }
    }
    if let Some(id) = vanished {
        if first_time {
            note_vanished_folder(request, &mut state, &id)?;
        }
        save(request, &stored_state, &state)?;
        return Ok(answer(status::FOLDER_SYNC_NEEDED));
    }
    if first_time && state.missing.is_some() {
        state.missing = None;
    }
    save(request, &stored_state, &state)?;
    if view_folders_changed(request)? {
        return Ok(answer(status::FOLDER_SYNC_NEEDED));
    }

    let changed = changed_folders(request, &watched)?;
    if !changed.is_empty() {
        let mut doc = document(status::CHANGES);
        let list = doc.push(Element::new(ping::FOLDERS));
        for id in changed {
            list.push_text(ping::FOLDER, id);
        }
        return Ok(Reply::Document(doc));
    }
    match request.resume {
        Some(Resume::Timeout | Resume::Superseded | Resume::Shutdown) => {
            Ok(answer(status::EXPIRED))
        }
        None | Some(Resume::Notify) => {
            let remaining = state.deadline - current;
            if remaining <= 0 {
                Ok(answer(status::EXPIRED))
            } else {
                Ok(Reply::Park {
                    seconds: remaining as u64,
                })
            }
        }
    }
}

/// Whether the view folders the device's hierarchy key told of differ from those it is
/// offered now (a per-device setting changed): it must run FolderSync to see them.
fn view_folders_changed(request: &Request) -> Result<bool, StoreError> {
    let Some(hierarchy) = request
        .store
        .sync_state(request.device.id, super::folder_sync::HIERARCHY)?
    else {
        return Ok(false);
    };
    let now = super::views::view_folders(request.store, request.user.id, request.device)?;
    Ok(super::views::parse_listing(&hierarchy.data)
        != super::views::parse_listing(&super::views::listing(&now)))
}

/// The pinged folders whose items changed since the device's last Sync of them.
fn changed_folders(
    request: &Request,
    watched: &[(String, FolderId)],
) -> Result<Vec<String>, StoreError> {
    let mut changed = Vec::new();
    for (id, folder_id) in watched {
        let synced = request
            .store
            .sync_state(request.device.id, id)?
            .map_or(0, |state| state.seq);
        match request.store.folder_item_seq(request.user.id, *folder_id) {
            Ok(seq) if seq > synced => changed.push(id.clone()),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

/// Counts a Ping naming the vanished folder `id`; the third one without a FolderSync in
/// between puts an explanation in the user's Inbox and stops watching the folder.
fn note_vanished_folder(
    request: &Request,
    state: &mut PingState,
    id: &str,
) -> Result<(), StoreError> {
    // The hierarchy key changes when the device runs a FolderSync that learns of a change.
    let hierarchy_key = request
        .store
        .sync_state(request.device.id, "")?
        .map_or_else(|| "-".to_string(), |s| s.key);
    let attempts = match &state.missing {
        Some((same, count, key)) if same == id && *key == hierarchy_key => count + 1,
        _ => 1,
    };
    if attempts < MISSING_FOLDER_ATTEMPTS {
        state.missing = Some((id.to_string(), attempts, hierarchy_key));
        return Ok(());
    }
    state.missing = None;
    state.dropped.push(id.to_string());
    if let Some(folders) = &mut state.folders {
        folders.retain(|(folder, _)| folder != id);
    }
    tell_user_about_vanished_folder(request)?;
    Ok(())
}

fn tell_user_about_vanished_folder(request: &Request) -> Result<(), StoreError> {
    let user = request.user;
    let folders = request.store.folders_of(user.id)?;
    let Some(inbox) = folders.iter().find(|f| f.folder_type == FolderType::Inbox) else {
        log::warn!("{} has no Inbox for the folder push message", user.email);
        return Ok(());
    };
    let device = &request.device.device_id;
    let date = rfc5322_date(now());
    let raw = format!(
        "From: easd <postmaster@{domain}>\r\n\
         To: <{email}>\r\n\
         Subject: Your device {device} needs its account set up again\r\n\
         Date: {date}\r\n\
         Message-ID: <push-{device_row}-{stamp}@{domain}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Your device {device} keeps asking for changes in a folder that no longer exists\r\n\
         on the server, so it no longer learns of new mail and other changes at once.\r\n\
         \r\n\
         To fix it, remove this account from the device and add it again.\r\n",
        domain = user.domain,
        email = user.email,
        device_row = request.device.id,
        stamp = now(),
    );
    let message = NewMessage {
        received_at: Some(now()),
        recipient: Some(&user.email),
        ..NewMessage::new(raw.as_bytes())
    };
    request.store.add_message(user.id, inbox.id, &message)?;
    request.note_change();
    Ok(())
}

/// `Thu, 26 Nov 2026 17:00:59 +0000` (RFC 5322 section 3.3), UTC.
fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // iso_date gives `yyyy-mm-dd hh:mm:ss`; only the weekday needs its own arithmetic.
    let iso = crate::clock::iso_date(unix);
    let (date, time) = iso.split_once(' ').unwrap_or((&iso, "00:00:00"));
    let mut parts = date.splitn(3, '-');
    let year = parts.next().unwrap_or("1970");
    let month: usize = parts.next().and_then(|m| m.parse().ok()).unwrap_or(1);
    let day = parts.next().unwrap_or("01");
    let weekday = DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize];
    let month = MONTHS[month.clamp(1, 12) - 1];
    format!("{weekday}, {day} {month} {year} {time} +0000")
}

fn save(
    request: &Request,
    stored: &Option<crate::store::SyncState>,
    state: &PingState,
) -> Result<(), StoreError> {
    let text = state.to_text();
    if stored.as_ref().map(|s| s.data.as_slice()) == Some(text.as_bytes()) {
        return Ok(());
    }
    request
        .store
        .advance_sync_key(request.device.id, PING_STATE, None, 0, text.as_bytes())?;
    Ok(())
}

fn document(code: &str) -> Element {
    let mut doc = Element::new(ping::PING);
    doc.push_text(ping::STATUS, code);
    doc
}

fn answer(code: &str) -> Reply {
    Reply::Document(document(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_state_round_trips() {
        let state = PingState {
            heartbeat: Some(480),
            folders: Some(vec![
                ("5".to_string(), "Email".to_string()),
                ("9".to_string(), "Calendar".to_string()),
            ]),
            deadline: 1_700_000_000,
            missing: Some(("12".to_string(), 2, "abc-3".to_string())),
            dropped: vec!["13".to_string()],
        };
        assert_eq!(PingState::parse(state.to_text().as_bytes()), state);
        assert_eq!(PingState::parse(b""), PingState::default());
        assert_eq!(PingState::parse(b"garbage\nheartbeat x\n").heartbeat, None);
    }

    #[test]
    fn message_dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_712_459),
            "Thu, 26 Nov 2026 17:00:59 +0000"
        );
    }
}
