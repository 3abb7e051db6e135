//! GetItemEstimate (MS-ASCMD 2.2.1.9): how many commands the next Sync of each named
//! collection would send. The count comes from the Sync engine ([`engine::count_changes`])
//! with the state kept with the device's sync key, so it honours the FilterType window the
//! way Sync does; nothing is written and the key does not change.
//!
//! Both request layouts are read: 2.5/12.x put Class and FilterType directly in the
//! Collection, 14.0+ put them in an airsync:Options (one per class; the one for the folder's
//! own class applies).

use super::sync::class::{class_window_cutoff, ReadContext};
use super::sync::collection::CollectionState;
use super::sync::engine;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::store::{now, HeldView, ItemClass, KeyMatch, StoreError};
use crate::wbxml::{tag::airsync, tag::item_estimate as ie, Element};

/// GetItemEstimate Status values (MS-ASCMD 2.2.3.177.7).
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_COLLECTION: &str = "2";
    pub const NOT_PRIMED: &str = "3";
    pub const INVALID_SYNC_KEY: &str = "4";
}

/// Most collections one request may name (MS-ASCMD: Collections holds up to 300).
const MAX_COLLECTIONS: usize = 300;

/// One Collection of the request.
struct Wanted {
    collection_id: String,
    sync_key: Option<String>,
    /// The FilterType the device asks about (`None`: the one kept with its key).
    filter_type: Option<u8>,
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == ie::GET_ITEM_ESTIMATE) else {
        return Ok(Reply::HttpStatus(400));
    };
    let Some(list) = body.child(ie::COLLECTIONS) else {
        return Ok(Reply::HttpStatus(400));
    };
    let collections: Vec<&Element> = list.children_with(ie::COLLECTION).collect();
    if collections.is_empty() || collections.len() > MAX_COLLECTIONS {
        return Ok(Reply::HttpStatus(400));
    }
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    for element in collections {
        let wanted = parse(element);
        let response = estimate(request, &wanted)?;
        doc.push(response);
    }
    Ok(Reply::Document(doc))
}

fn parse(element: &Element) -> Wanted {
    let collection_id = element
        .child_text(ie::COLLECTION_ID)
        .unwrap_or_default()
        .trim()
        .to_string();
    let sync_key = element
        .child_text(airsync::SYNC_KEY)
        .map(|key| key.trim().to_string());
    // 14.0+: the Options without a Class (or for the folder's class, checked later); 12.x:
    // FilterType directly in the Collection.
    let options: Vec<&Element> = element.children_with(airsync::OPTIONS).collect();
    let chosen = options
        .iter()
        .find(|o| o.child(airsync::CLASS).is_none())
        .or_else(|| options.first())
        .copied();
    let filter_text = chosen
        .and_then(|o| o.child_text(airsync::FILTER_TYPE))
        .or_else(|| element.child_text(airsync::FILTER_TYPE));
    Wanted {
        collection_id,
        sync_key,
        filter_type: filter_text.and_then(|t| t.trim().parse().ok()),
    }
}

/// The Response element for one collection.
fn estimate(request: &Request, wanted: &Wanted) -> Result<Element, StoreError> {
    let (store, user, device) = (request.store, request.user.id, request.device.id);
    // A folder hidden from this device by its settings is as unknown as a missing one; a view
    // folder counts its source folder's items through its own adapter.
    let found = super::device_view::collection(store, user, request.device, &wanted.collection_id)?;
    let class = found.as_ref().and_then(|c| c.class);
    let adapter = found.as_ref().and_then(|c| c.adapter);
    let folder = found.map(|c| c.folder);
    let (Some(folder), Some(class)) = (folder, class) else {
        return Ok(response(
            request,
            wanted,
            None,
            status::INVALID_COLLECTION,
            None,
        ));
    };
    let id = wanted.collection_id.as_str();
    let Some(key) = wanted.sync_key.as_deref() else {
        return Ok(response(
            request,
            wanted,
            Some(class),
            status::INVALID_SYNC_KEY,
            None,
        ));
    };
    if key == "0" {
        return Ok(response(
            request,
            wanted,
            Some(class),
            status::NOT_PRIMED,
            None,
        ));
    }
    // The previous key is what a device that lost our last Sync answer holds: its next Sync
    // replays from there, so the estimate does too.
    let (since, data, generation) = match store.match_sync_key(device, id, key)? {
        KeyMatch::Current(state) => (state.seq, state.data.clone(), state.generation()),
        KeyMatch::Previous(state) => match state.previous_seq {
            Some(seq) => (
                seq,
                state.previous_data.clone().unwrap_or_default(),
                state.previous_generation(),
            ),
            None => {
                return Ok(response(
                    request,
                    wanted,
                    Some(class),
                    status::INVALID_SYNC_KEY,
                    None,
                ))
            }
        },
        KeyMatch::Unknown => {
            return Ok(response(
                request,
                wanted,
                Some(class),
                status::INVALID_SYNC_KEY,
                None,
            ))
        }
    };
    let mut state = CollectionState::from_bytes(&data);
    if let Some(filter) = wanted.filter_type {
        state.options.filter_type = filter;
    }
    state.options.capped_by(request.policy, class);
    let context = ReadContext {
        store,
        user,
        version: request.version,
        options: &state.options,
        policy: request.policy,
    };
    let cursor = engine::Cursor {
        folder: folder.id,
        since,
        old_cutoff: state.cutoff,
        new_cutoff: class_window_cutoff(
            adapter,
            super::device_view::effective_filter(
                store,
                request.device,
                class,
                state.options.filter_type,
            )?,
            now(),
        ),
        limit: usize::MAX,
        held: HeldView {
            device,
            collection: id,
            generation,
        },
    };
    let count = engine::count_changes(&context, adapter, &cursor)?;
    Ok(response(
        request,
        wanted,
        Some(class),
        status::SUCCESS,
        Some(count),
    ))
}

fn response(
    request: &Request,
    wanted: &Wanted,
    class: Option<ItemClass>,
    code: &str,
    estimate: Option<usize>,
) -> Element {
    let mut response = Element::new(ie::RESPONSE);
    response.push_text(ie::STATUS, code);
    let collection = response.push(Element::new(ie::COLLECTION));
    if request.version < ProtocolVersion::V14_0 {
        if let Some(class) = class {
            collection.push_text(ie::CLASS, class.as_str());
        }
    }
    collection.push_text(ie::COLLECTION_ID, wanted.collection_id.clone());
    if let Some(estimate) = estimate {
        collection.push_text(ie::ESTIMATE, estimate.to_string());
    }
    response
}
