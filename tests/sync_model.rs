//! Sync's invariants under seeded random schedules (see `model/mod.rs`): every item a device
//! lacks arrives as an Add, Change/Delete/SoftDelete name only items it holds, nothing twice,
//! and a device that caught up holds exactly what the server holds for it — across windows,
//! FilterType changes, moves, deletes, lost answers replayed with the previous key, key
//! resets, folders deleted and made again, and writers beside the server.
//!
//! A failure prints its seed; `EASD_MODEL_SEED=N EASD_MODEL_STEPS=M cargo test --test
//! sync_model` runs that schedule alone. `cargo run --example sync_soak` runs long ones.

mod common;
mod model;

use common::TestServer;
use easd::store::{FolderType, MessageChange, NewMessage};
use easd::wbxml::tag::airsync;
use easd::wbxml::Element;
use model::Simulation;

fn run_seed(seed: u64, steps: usize) {
    let server = TestServer::start();
    let mut simulation = Simulation::new(&server, seed, 3);
    if let Err(failure) = simulation.run(steps) {
        panic!(
            "seed {seed} broke a Sync invariant: {failure}\n{:?}\nreproduce: \
             EASD_MODEL_SEED={seed} EASD_MODEL_STEPS={steps} cargo test --test sync_model",
            simulation.stats
        );
    }
    eprintln!("seed {seed}: {:?}", simulation.stats);
    // The schedule did exercise what it is about.
    let stats = &simulation.stats;
    assert!(
        stats.adds > 0 && stats.changes > 0 && stats.deletes > 0,
        "{stats:?}"
    );
    assert!(
        stats.replays > 0 && stats.checks > 0 && stats.client_adds > 0,
        "{stats:?}"
    );
}

#[test]
fn random_schedules_keep_every_device_consistent() {
    let steps = std::env::var("EASD_MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    match std::env::var("EASD_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => run_seed(seed, steps),
        None => {
            for seed in [1, 2, 3, 4] {
                run_seed(seed, steps);
            }
        }
    }
}

/// The case the issue reported: a message changed after newer ones arrived reaches a phone that
/// pages with WindowSize 1 as an Add, never as a Change of something it never had.
#[test]
fn a_message_changed_before_a_paged_sync_arrives_as_an_add() {
    let server = TestServer::start();
    server.add_user(model::USER);
    let (store, user) = server.store_and_user(model::USER);
    let inbox = common::folder(&store, user, FolderType::Inbox);
    let deliver = |n: u32| {
        let raw = format!("Subject: m{n}\r\nMessage-ID: <m{n}@x>\r\n\r\nbody\r\n");
        store
            .add_message(user, inbox, &NewMessage::new(raw.as_bytes()))
            .unwrap()
            .item_id()
    };
    let mut phone = server.device(model::USER, "pager");
    let sync = |phone: &mut common::TestDevice, key: &str| -> Element {
        let mut doc = Element::new(airsync::SYNC);
        doc.push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION))
            .push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, inbox.to_string())
            .push_text(airsync::WINDOW_SIZE, "1");
        let response = phone.command("Sync", Some(&doc));
        assert_eq!(response.status(), 200);
        response
            .doc()
            .child(airsync::COLLECTIONS)
            .and_then(|c| c.child(airsync::COLLECTION))
            .cloned()
            .expect("a collection")
    };
    let mut key = sync(&mut phone, "0").child_text(airsync::SYNC_KEY).unwrap();
    let first = deliver(1);
    let _second = deliver(2);
    let _third = deliver(3);
    // Another phone replies to the first message, which marks it: its change now comes
    // after the two newer messages in the folder's change order.
    let replied = MessageChange {
        read: Some(true),
        ..MessageChange::default()
    };
    assert!(store.change_message(user, first, &replied).unwrap());
    let mut got: Vec<(easd::wbxml::Tag, i64)> = Vec::new();
    loop {
        let answer = sync(&mut phone, &key);
        key = answer.child_text(airsync::SYNC_KEY).unwrap();
        for command in answer
            .child(airsync::COMMANDS)
            .iter()
            .flat_map(|c| c.elements())
        {
            let id: i64 = command
                .child_text(airsync::SERVER_ID)
                .unwrap()
                .parse()
                .unwrap();
            got.push((command.tag, id));
        }
        if answer.child(airsync::MORE_AVAILABLE).is_none() {
            break;
        }
    }
    let adds: Vec<i64> = got
        .iter()
        .filter(|(tag, _)| *tag == airsync::ADD)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(adds.len(), 3, "{got:?}");
    assert!(adds.contains(&first), "{got:?}");
    assert_eq!(got.len(), 3, "three Adds and nothing else: {got:?}");
}
