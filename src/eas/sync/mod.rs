//! Sync (MS-ASCMD 2.2.1.21): the request as a whole — its collections, the request-level
//! WindowSize, Partial and empty requests (answered from the device's cached last request) —
//! and one collection's turn: its sync key, the client's commands, then the server's changes.
//!
//! The parts: [`collection`] parses a Collection and keeps its state with the sync key,
//! [`client`] applies the client's commands, [`engine`] streams the server's changes for any
//! item class, [`class`] is the interface an item class implements and [`email`] (with
//! [`body`]) the Email class.
//!
//! Wait and HeartbeatInterval (a hanging Sync) are handled by [`hanging`]: a Sync with
//! nothing to send waits in the front door until the user's data changes.

pub mod body;
pub mod calendar;
pub mod class;
pub mod client;
pub mod collection;
pub mod contacts;
pub mod data_class;
pub mod drafts;
pub mod email;
pub mod engine;
pub mod hanging;
pub mod meeting_request;
pub mod notes;
pub mod tasks;
pub mod view_class;

use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::store::{now, HeldChanges, HeldView, KeyMatch, StoreError};
use crate::wbxml::{tag::airsync, Element};
use class::ReadContext;
use collection::{CollectionRequest, CollectionState};

/// Sync Status values (MS-ASCMD 2.2.3.177.17).
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_SYNC_KEY: &str = "3";
    pub const PROTOCOL_ERROR: &str = "4";
    pub const HIERARCHY_CHANGED: &str = "12";
    pub const INCOMPLETE_REQUEST: &str = "13";
    pub const INVALID_WAIT: &str = "14";
    pub const TOO_MANY_COLLECTIONS: &str = "15";
}

/// Most collections one request may name.
const MAX_COLLECTIONS: usize = 100;

/// The sync-state row that caches the device's last full request (it never names a folder).
const REQUEST_CACHE: &str = "sync-request";

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let body = match request.body {
        Some(body) if body.tag != airsync::SYNC => return Ok(top_status(status::PROTOCOL_ERROR)),
        other => other,
    };
    // The reads before the collections (the heartbeat limits, the cached request, the states
    // it names) share one snapshot, the request loop's when it left it open; it ends before
    // the cached request is written.
    let snapshot = request.read_snapshot()?;
    let wait = match hanging::requested(request, body)? {
        Ok(wait) => wait,
        Err(reply) => return Ok(reply),
    };
    let listed = body.and_then(|b| b.child(airsync::COLLECTIONS));
    let partial = body.is_some_and(|b| b.child(airsync::PARTIAL).is_some());
    let mut collections = Vec::new();
    for element in listed
        .iter()
        .flat_map(|l| l.children_with(airsync::COLLECTION))
    {
        match collection::parse(element) {
            Some(parsed) => collections.push(parsed),
            None => return Ok(top_status(status::PROTOCOL_ERROR)),
        }
    }
    let request_window = match body.and_then(|b| b.child_text(airsync::WINDOW_SIZE)) {
        None => None,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(size) => Some(collection::clamp_window(size)),
            Err(_) => return Ok(top_status(status::PROTOCOL_ERROR)),
        },
    };
    // An empty request (no body, or none of the collections) stands for the last full one;
    // a Partial one names only what changed and the rest comes from the last one too.
    let empty = listed.is_none();
    if (empty || partial) && request.version < ProtocolVersion::V12_1 {
        return Ok(top_status(status::PROTOCOL_ERROR));
    }
    let cached = cached_request(request)?;
    if empty || partial {
        for (id, window) in cached.iter().flat_map(|text| parse_cache(text)) {
            if collections.iter().any(|c| c.collection_id == id) {
                continue;
            }
            let Some(state) = request.store.sync_state(request.device.id, &id)? else {
                continue;
            };
            collections.push(CollectionRequest {
                sync_key: state.key,
                collection_id: id,
                get_changes: true,
                window_size: window,
                deletes_as_moves: true,
                options: None,
                commands: Vec::new(),
                supported: None,
            });
        }
    }
    snapshot.end()?;
    if collections.is_empty() {
        return Ok(top_status(status::INCOMPLETE_REQUEST));
    }
    if collections.len() > MAX_COLLECTIONS {
        return Ok(top_status(status::TOO_MANY_COLLECTIONS));
    }
    let text = cache_text(&collections);
    if !empty && cached.as_deref() != Some(text.as_bytes()) {
        request.store.advance_sync_key(
            request.device.id,
            REQUEST_CACHE,
            None,
            0,
            text.as_bytes(),
        )?;
    }

    let mut budget = request_window.unwrap_or(usize::MAX);
    let mut answers = Element::new(airsync::COLLECTIONS);
    let mut anything = false;
    for wanted in &collections {
        let (answer, news) = sync_collection(request, wanted, &mut budget)?;
        anything |= news;
        answers.push(answer);
    }
    if let Some(seconds) = wait {
        if hanging::nothing_to_say(&collections, &answers) {
            if let Some(reply) = hanging::park_or_end(request, seconds)? {
                return Ok(reply);
            }
        }
    }
    if empty && !anything {
        return Ok(Reply::Empty);
    }
    let mut doc = Element::new(airsync::SYNC);
    doc.push(answers);
    Ok(Reply::Document(doc))
}

fn top_status(code: &str) -> Reply {
    let mut doc = Element::new(airsync::SYNC);
    doc.push_text(airsync::STATUS, code);
    Reply::Document(doc)
}

/// The stored list of the device's last full request, if any.
fn cached_request(request: &Request) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(request
        .store
        .sync_state(request.device.id, REQUEST_CACHE)?
        .map(|state| state.data))
}

/// (collection id, window size) lines, as cached.
fn cache_text(collections: &[CollectionRequest]) -> String {
    collections
        .iter()
        .map(|c| format!("{} {}\n", c.collection_id, c.window_size))
        .collect()
}

fn parse_cache(data: &[u8]) -> Vec<(String, usize)> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|line| {
            let (id, window) = line.split_once(' ')?;
            Some((id.to_string(), window.parse().ok()?))
        })
        .collect()
}

/// One collection's answer, and whether it carries anything new for the client.
fn sync_collection(
    request: &Request,
    wanted: &CollectionRequest,
    budget: &mut usize,
) -> Result<(Element, bool), CommandError> {
    let mut answer = Element::new(airsync::COLLECTION);
    let fail = |mut answer: Element, key: &str, code: &str| {
        answer
            .push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, wanted.collection_id.clone())
            .push_text(airsync::STATUS, code);
        Ok((answer, true))
    };
    let (store, user, device) = (request.store, request.user.id, request.device.id);
    // The folder and the key are read in one snapshot (one read lock); it ends before the
    // first write (a fresh start's key, the client's commands, the new key). Without client
    // commands everything up to the new key only reads, the server's changes included.
    let snapshot = store.read_snapshot()?;
    // A folder hidden from this device by its settings is as unknown to it as a deleted one;
    // a view folder (`views`) reads its source folder through its own adapter.
    let Some(found) =
        crate::eas::device_view::collection(store, user, request.device, &wanted.collection_id)?
    else {
        return fail(answer, &wanted.sync_key, status::HIERARCHY_CHANGED);
    };
    let folder = found.folder;
    let Some(class) = found.class else {
        return fail(answer, &wanted.sync_key, status::PROTOCOL_ERROR);
    };
    let adapter = found.adapter;
    let id = wanted.collection_id.as_str();
    if request.version < ProtocolVersion::V14_0 {
        answer.push_text(airsync::CLASS, class.as_str());
    }

    if wanted.sync_key == "0" {
        // A fresh start: the first key stands for "nothing seen"; no items yet (MS-ASCMD).
        let mut state = CollectionState {
            options: wanted.options.clone().unwrap_or_default(),
            cutoff: None,
            supported: wanted.supported.clone(),
        };
        state.options.capped_by(request.policy, class);
        snapshot.end()?;
        let key = store.advance_collection_key(
            device,
            id,
            None,
            0,
            &state.to_bytes(),
            &HeldChanges::default(),
        )?;
        store.forget_client_adds(device, id)?;
        answer
            .push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, id)
            .push_text(airsync::STATUS, status::SUCCESS);
        return Ok((answer, true));
    }
    let (since, data, from, replay, generation) =
        match store.match_sync_key(device, id, &wanted.sync_key)? {
            KeyMatch::Current(state) => {
                let generation = state.generation();
                (state.seq, state.data, state.key, false, generation)
            }
            KeyMatch::Previous(state) => {
                let generation = state.previous_generation();
                match (state.previous_seq, state.previous_key) {
                    (Some(seq), Some(key)) => {
                        let data = state.previous_data.unwrap_or_default();
                        (seq, data, key, true, generation)
                    }
                    _ => return fail(answer, "0", status::INVALID_SYNC_KEY),
                }
            }
            KeyMatch::Unknown => return fail(answer, "0", status::INVALID_SYNC_KEY),
        };
    let mut snapshot = Some(snapshot);
    if !wanted.commands.is_empty() {
        end_snapshot(&mut snapshot)?;
    }
    let held = HeldView {
        device,
        collection: id,
        generation,
    };
    let mut state = CollectionState::from_bytes(&data);
    if let Some(options) = &wanted.options {
        state.options = options.clone();
    }
    if wanted.supported.is_some() {
        state.supported = wanted.supported.clone();
    }
    // Whatever the client asked for, the security policy's limits apply.
    state.options.capped_by(request.policy, class);
    if adapter.is_some_and(|a| !a.accepts_filter(state.options.filter_type)) {
        return fail(answer, &wanted.sync_key, status::PROTOCOL_ERROR);
    }

    let read = ReadContext {
        store,
        user,
        version: request.version,
        options: &state.options,
        policy: request.policy,
    };
    let client_context = client::ClientContext {
        read,
        adapter,
        folder: &folder,
        device,
        deletes_as_moves: wanted.deletes_as_moves,
        replay,
        server_wins_after: (!state.options.client_wins && !replay).then_some(since),
        supported: state.supported.as_deref(),
        request: Some(request),
    };
    let applied = client::apply(&client_context, &wanted.commands)?;
    if !wanted.commands.is_empty() {
        // The user's other devices may be waiting in Ping: they hear of it after this request.
        request.note_change();
    }
    let read = client_context.read;

    // The device's "past-mail" setting narrows the window it asked for; the cutoff is in
    // whole hours (see `window_cutoff`).
    let filter = crate::eas::device_view::effective_filter(
        store,
        request.device,
        class,
        state.options.filter_type,
    )?;
    let new_cutoff = class::class_window_cutoff(adapter, filter, now());
    let changes = if !wanted.get_changes {
        engine::ServerChanges {
            next_seq: since,
            ..Default::default()
        }
    } else if *budget == 0 {
        let current = store.folder_item_seq(user, folder.id)?;
        engine::ServerChanges {
            more_available: current > since,
            next_seq: since,
            ..Default::default()
        }
    } else {
        let cursor = engine::Cursor {
            folder: folder.id,
            since,
            old_cutoff: state.cutoff,
            new_cutoff,
            limit: wanted.window_size.min(*budget),
            held,
        };
        let changes =
            engine::server_changes(&read, adapter, &cursor, &applied.touched, &applied.held)?;
        *budget = budget.saturating_sub(changes.commands.len());
        changes
    };
    // Writes a read-only view refused: the client gets the server's version back (unless
    // the change stream already carries the item).
    let mut changes = changes;
    let mut restored = Vec::new();
    for &(id, as_add) in &applied.restore {
        let listed = changes
            .commands
            .iter()
            .any(|c| c.child_text(airsync::SERVER_ID).as_deref() == Some(id.to_string().as_str()));
        if !listed {
            restored.extend(engine::restore_command(&read, adapter, id, as_add)?);
        }
    }
    changes.commands.splice(0..0, restored);
    let old_data = data;
    if wanted.get_changes {
        state.cutoff = new_cutoff;
    }
    let new_data = state.to_bytes();
    let news =
        !changes.commands.is_empty() || changes.more_available || !applied.responses.is_empty();
    // A client that is up to date keeps its key and nothing is written.
    let unchanged = !replay
        && wanted.commands.is_empty()
        && !news
        && changes.next_seq == since
        && new_data == old_data;
    let key = if unchanged {
        from
    } else {
        // The held set moves with the key: the client's own Adds and Deletes, then ours.
        let mut marks = applied.held.clone();
        marks.added.extend(&changes.held.added);
        marks.removed.extend(&changes.held.removed);
        end_snapshot(&mut snapshot)?;
        store.advance_collection_key(
            device,
            id,
            Some(&from),
            changes.next_seq,
            &new_data,
            &marks,
        )?
    };
    answer
        .push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, id)
        .push_text(airsync::STATUS, status::SUCCESS);
    if !applied.responses.is_empty() {
        let responses = answer.push(Element::new(airsync::RESPONSES));
        for response in applied.responses {
            responses.push(response);
        }
    }
    // Before Commands: Outlook stops reading the collection at a late MoreAvailable.
    if changes.more_available {
        answer.push_empty(airsync::MORE_AVAILABLE);
    }
    if !changes.commands.is_empty() || !applied.sent_adds.is_empty() {
        let commands = answer.push(Element::new(airsync::COMMANDS));
        for command in changes.commands {
            commands.push(command);
        }
        // Drafts added and sent by this request: created and gone since the last key, so no
        // change reports them; the client has them from Responses and must drop them.
        for sent in &applied.sent_adds {
            commands
                .push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, sent.to_string());
        }
    }
    end_snapshot(&mut snapshot)?;
    Ok((answer, news || !unchanged))
}

/// Ends the read snapshot if it is still open (before a write, or at the end).
fn end_snapshot(snapshot: &mut Option<crate::store::ReadSnapshot<'_>>) -> Result<(), StoreError> {
    snapshot
        .take()
        .map_or(Ok(()), crate::store::ReadSnapshot::end)
}
