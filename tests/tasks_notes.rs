//! Tasks (MS-ASTASK) and Notes (MS-ASNOTE) through the real server: two phones see each
//! other's tasks with every recurrence type, reminders and completion; FilterType 8 sends only
//! incomplete tasks; notes exist from 14.0 on and older phones are not offered the folder;
//! folders of types 15 and 17; EmptyFolderContents and Ping on these folders.

mod class_sync;
mod common;

use class_sync::*;
use easd::store::FolderType;
use easd::wbxml::tag::{
    airsync, airsyncbase as base, item_estimate as ie, item_operations as io, notes as n, ping,
    tasks as t,
};
use easd::wbxml::Element;

/// A weekly task with a reminder (Thursdays, every week, until a date).
fn weekly(d: &mut Element) {
    d.push(Element::new(base::BODY))
        .push_text(base::TYPE, "1")
        .push_text(base::DATA, "Put the bins out.");
    d.push_text(t::SUBJECT, "Bins")
        .push_text(t::IMPORTANCE, "2")
        .push_text(t::SENSITIVITY, "0")
        .push_text(t::COMPLETE, "0")
        .push_text(t::START_DATE, "2024-01-04T08:00:00.000Z")
        .push_text(t::UTC_START_DATE, "2024-01-04T07:00:00.000Z")
        .push_text(t::DUE_DATE, "2024-01-04T08:00:00.000Z")
        .push_text(t::UTC_DUE_DATE, "2024-01-04T07:00:00.000Z")
        .push_text(t::REMINDER_SET, "1")
        .push_text(t::REMINDER_TIME, "2024-01-04T06:30:00.000Z");
    d.push(Element::new(t::CATEGORIES))
        .push_text(t::CATEGORY, "Home");
    d.push(Element::new(t::RECURRENCE))
        .push_text(t::TYPE, "1")
        .push_text(t::START, "2024-01-04T00:00:00.000Z")
        .push_text(t::UNTIL, "2024-12-26T00:00:00.000Z")
        .push_text(t::INTERVAL, "1")
        .push_text(t::DAY_OF_WEEK, "16")
        .push_text(t::REGENERATE, "0")
        .push_text(t::DEAD_OCCUR, "0");
}

#[test]
fn a_weekly_task_with_a_reminder_reaches_the_other_phone_and_its_completion_too() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "a", "16.1");
    let mut b = phone(&server, "b", "14.1");
    let ka = first_key(&mut a, tasks, |_| {});
    let kb = first_key(&mut b, tasks, |_| {});
    let answer = send(&mut a, &ka, tasks, vec![add("t1", weekly)]);
    let id = added_id(&answer);
    let ka = key(&answer);

    let (kb, got) = pull(&mut b, &kb, tasks);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, t::SUBJECT).as_deref(), Some("Bins"));
    assert_eq!(text(d, t::COMPLETE).as_deref(), Some("0"));
    assert_eq!(text(d, t::REMINDER_SET).as_deref(), Some("1"));
    assert_eq!(
        text(d, t::REMINDER_TIME).as_deref(),
        Some("2024-01-04T06:30:00.000Z")
    );
    let recurrence = d.child(t::RECURRENCE).expect("Recurrence");
    assert_eq!(text(recurrence, t::TYPE).as_deref(), Some("1"));
    assert_eq!(text(recurrence, t::DAY_OF_WEEK).as_deref(), Some("16"));
    assert_eq!(
        text(recurrence, t::UNTIL).as_deref(),
        Some("2024-12-26T00:00:00.000Z")
    );
    assert_eq!(text(recurrence, t::REGENERATE).as_deref(), Some("0"));
    assert!(d.child(base::BODY).is_some());

    // B completes it: A gets Complete and a DateCompleted.
    let answer = send(
        &mut b,
        &kb,
        tasks,
        vec![change(&id, |d| {
            weekly(d);
            d.child_mut(t::COMPLETE).unwrap().children = vec![easd::wbxml::Node::Text("1".into())];
        })],
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let (_, got) = pull(&mut a, &ka, tasks);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, t::COMPLETE).as_deref(), Some("1"));
    assert!(text(d, t::DATE_COMPLETED).is_some(), "{d:?}");
}

#[test]
fn every_recurrence_type_with_regenerate_and_dead_occur_round_trips() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "writer", "16.1");
    let k = first_key(&mut a, tasks, |_| {});
    // (Type, the fields that type uses)
    let shapes: [(&str, &[(easd::wbxml::Tag, &str)]); 6] = [
        ("0", &[]),
        ("1", &[(t::DAY_OF_WEEK, "42")]),
        ("2", &[(t::DAY_OF_MONTH, "15")]),
        ("3", &[(t::WEEK_OF_MONTH, "5"), (t::DAY_OF_WEEK, "2")]),
        ("5", &[(t::MONTH_OF_YEAR, "2"), (t::DAY_OF_MONTH, "29")]),
        (
            "6",
            &[
                (t::MONTH_OF_YEAR, "11"),
                (t::WEEK_OF_MONTH, "4"),
                (t::DAY_OF_WEEK, "16"),
            ],
        ),
    ];
    let adds = shapes
        .iter()
        .enumerate()
        .map(|(i, (kind, extra))| {
            add(&format!("r{i}"), |d| {
                d.push_text(t::SUBJECT, format!("type {kind}"))
                    .push_text(t::COMPLETE, "0");
                let r = d.push(Element::new(t::RECURRENCE));
                r.push_text(t::TYPE, *kind)
                    .push_text(t::START, "2024-02-29T00:00:00.000Z")
                    .push_text(t::OCCURRENCES, "10")
                    .push_text(t::INTERVAL, "2");
                for (tag, value) in extra.iter() {
                    r.push_text(*tag, *value);
                }
                r.push_text(t::REGENERATE, "1")
                    .push_text(t::DEAD_OCCUR, "1")
                    .push_text(t::CALENDAR_TYPE, "1")
                    .push_text(t::FIRST_DAY_OF_WEEK, "1");
            })
        })
        .collect();
    let answer = send(&mut a, &k, tasks, adds);
    let adds = answer.child(airsync::RESPONSES).unwrap();
    assert_eq!(adds.children_with(airsync::ADD).count(), 6);

    let mut b = phone(&server, "reader", "16.1");
    let got = pull_all(&mut b, tasks);
    assert_eq!(got.len(), 6);
    for command in &got {
        let d = data(command);
        let subject = text(d, t::SUBJECT).unwrap();
        let kind = subject.trim_start_matches("type ");
        let (_, extra) = shapes.iter().find(|(k, _)| *k == kind).unwrap();
        let r = d.child(t::RECURRENCE).expect("Recurrence");
        assert_eq!(text(r, t::TYPE).as_deref(), Some(kind));
        assert_eq!(text(r, t::OCCURRENCES).as_deref(), Some("10"));
        assert_eq!(text(r, t::INTERVAL).as_deref(), Some("2"));
        assert_eq!(text(r, t::REGENERATE).as_deref(), Some("1"));
        assert_eq!(text(r, t::DEAD_OCCUR).as_deref(), Some("1"));
        assert_eq!(text(r, t::FIRST_DAY_OF_WEEK).as_deref(), Some("1"));
        for (tag, value) in extra.iter() {
            assert_eq!(text(r, *tag).as_deref(), Some(*value), "{subject}");
        }
    }
    // A 14.0 phone reads the same recurrence without the 14.1 FirstDayOfWeek.
    let mut old = phone(&server, "old", "14.0");
    let got = pull_all(&mut old, tasks);
    let r = data(&got[0]).child(t::RECURRENCE).unwrap();
    assert!(r.child(t::FIRST_DAY_OF_WEEK).is_none());
    assert!(r.child(t::REGENERATE).is_some());
}

#[test]
fn filter_type_8_sends_only_incomplete_tasks() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "a", "16.1");
    let k = first_key(&mut a, tasks, |_| {});
    let answer = send(
        &mut a,
        &k,
        tasks,
        vec![
            add("open", |d| {
                d.push_text(t::SUBJECT, "open").push_text(t::COMPLETE, "0");
            }),
            add("done", |d| {
                d.push_text(t::SUBJECT, "done")
                    .push_text(t::COMPLETE, "1")
                    .push_text(t::DATE_COMPLETED, "2024-01-01T00:00:00.000Z");
            }),
        ],
    );
    assert_eq!(
        answer
            .child(airsync::RESPONSES)
            .unwrap()
            .children_with(airsync::ADD)
            .count(),
        2
    );
    let incomplete = |c: &mut Element| {
        c.push(Element::new(airsync::OPTIONS))
            .push_text(airsync::FILTER_TYPE, "8");
    };
    let ka = key(&answer);
    let open_id = answer
        .child(airsync::RESPONSES)
        .unwrap()
        .children_with(airsync::ADD)
        .find(|a| a.child_text(airsync::CLIENT_ID).as_deref() == Some("open"))
        .and_then(|a| a.child_text(airsync::SERVER_ID))
        .unwrap();
    let mut b = phone(&server, "b", "14.1");
    let kb = first_key(&mut b, tasks, incomplete);
    let (kb, got) = pull_with(&mut b, &kb, tasks, incomplete);
    let subjects: Vec<String> = got
        .iter()
        .filter_map(|c| text(data(c), t::SUBJECT))
        .collect();
    assert_eq!(subjects, ["open"]);

    // Completed on A: it leaves B (SoftDelete); reopened: it comes back (Add).
    let set_complete = |done: &'static str| {
        change(&open_id, move |d| {
            d.push_text(t::SUBJECT, "open").push_text(t::COMPLETE, done);
        })
    };
    let ka = key(&send(&mut a, &ka, tasks, vec![set_complete("1")]));
    let (kb, got) = pull_with(&mut b, &kb, tasks, incomplete);
    let tags: Vec<_> = got.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [airsync::SOFT_DELETE], "{got:?}");
    send(&mut a, &ka, tasks, vec![set_complete("0")]);
    let (_, got) = pull_with(&mut b, &kb, tasks, incomplete);
    let tags: Vec<_> = got.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [airsync::ADD], "{got:?}");
    // GetItemEstimate counts by the same rule: one incomplete task for a new phone.
    let mut counter = phone(&server, "counter", "14.1");
    let kc = first_key(&mut counter, tasks, incomplete);
    let mut estimate = Element::new(ie::GET_ITEM_ESTIMATE);
    let c = estimate
        .push(Element::new(ie::COLLECTIONS))
        .push(Element::new(ie::COLLECTION));
    c.push_text(airsync::SYNC_KEY, kc)
        .push_text(ie::COLLECTION_ID, tasks.to_string());
    c.push(Element::new(airsync::OPTIONS))
        .push_text(airsync::FILTER_TYPE, "8")
        .push_text(airsync::CLASS, "Tasks");
    let answer = counter.command("GetItemEstimate", Some(&estimate));
    let count = answer
        .doc()
        .child(ie::RESPONSE)
        .and_then(|r| r.child(ie::COLLECTION))
        .and_then(|c| c.child_text(ie::ESTIMATE));
    assert_eq!(count.as_deref(), Some("1"), "{:?}", answer.doc());

    // Without the filter both come.
    let mut all = phone(&server, "all", "14.1");
    let ka = first_key(&mut all, tasks, |_| {});
    assert_eq!(pull(&mut all, &ka, tasks).1.len(), 2);
    // FilterType 3 (a week of mail) means nothing for tasks: Status 4 for that collection.
    let answer = sync_one(
        &mut all,
        collection(&ka, tasks, |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, "3");
        }),
    );
    assert_eq!(status(&answer), "4");
}

#[test]
fn notes_sync_from_14_0_on_and_older_phones_are_not_offered_the_folder() {
    let (server, store, user) = start();
    let notes = folder(&store, user, FolderType::Notes);
    let mut a = phone(&server, "a", "14.1");
    let mut b = phone(&server, "b", "16.1");
    let ka = first_key(&mut a, notes, |_| {});
    let kb = first_key(&mut b, notes, |_| {});
    let answer = send(
        &mut a,
        &ka,
        notes,
        vec![add("n1", |d| {
            d.push_text(n::SUBJECT, "Shopping");
            d.push(Element::new(base::BODY))
                .push_text(base::TYPE, "1")
                .push_text(base::DATA, "milk, eggs");
            d.push(Element::new(n::CATEGORIES))
                .push_text(n::CATEGORY, "Errands");
        })],
    );
    let id = added_id(&answer);
    let (kb, got) = pull(&mut b, &kb, notes);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, n::SUBJECT).as_deref(), Some("Shopping"));
    assert_eq!(text(d, n::MESSAGE_CLASS).as_deref(), Some("IPM.StickyNote"));
    assert!(text(d, n::LAST_MODIFIED_DATE).is_some());
    assert_eq!(
        d.child(base::BODY)
            .and_then(|b| b.child_text(base::DATA))
            .as_deref(),
        Some("milk, eggs")
    );
    // B edits, A gets it; B deletes, A gets that.
    let kb = key(&send(
        &mut b,
        &kb,
        notes,
        vec![change(&id, |d| {
            d.push_text(n::SUBJECT, "Shopping list");
        })],
    ));
    let (ka, got) = pull(&mut a, &key(&answer), notes);
    assert_eq!(
        text(data(&got[0]), n::SUBJECT).as_deref(),
        Some("Shopping list")
    );
    send(&mut b, &kb, notes, vec![delete(&id)]);
    let (_, got) = pull(&mut a, &ka, notes);
    assert_eq!(got[0].tag, airsync::DELETE);

    // A 12.1 phone sees no Notes folder and cannot sync one.
    let mut old = phone(&server, "old", "12.1");
    let (_, folders) = folder_sync(&mut old);
    assert!(folders
        .iter()
        .all(|(_, _, kind)| kind != "10" && kind != "17"));
    assert!(
        folders.iter().any(|(_, _, kind)| kind == "7"),
        "tasks offered"
    );
    let answer = sync_one(&mut old, collection("0", notes, |_| {}));
    assert_eq!(status(&answer), "12");
    let (_, folders) = folder_sync(&mut a);
    assert!(folders.iter().any(|(_, _, kind)| kind == "10"));
}

#[test]
fn task_and_note_folders_are_created_emptied_and_pinged() {
    let (server, _store, _user) = start();
    let mut a = phone(&server, "a", "16.1");
    let errands = create_folder(&mut a, "Errands", "15");
    let ideas = create_folder(&mut a, "Ideas", "17");
    let ke = first_key(&mut a, errands, |_| {});
    let ki = first_key(&mut a, ideas, |_| {});
    let answer = send(
        &mut a,
        &ke,
        errands,
        vec![add("e1", |d| {
            d.push_text(t::SUBJECT, "Post office");
        })],
    );
    added_id(&answer);
    let ke = key(&answer);

    // A second phone pings both folders; a note added by the first wakes it.
    let mut b = phone(&server, "b", "16.1");
    let kbe = first_key(&mut b, errands, |_| {});
    let kbi = first_key(&mut b, ideas, |_| {});
    pull(&mut b, &kbe, errands);
    let kbi = pull(&mut b, &kbi, ideas).0;
    let mut doc = Element::new(ping::PING);
    doc.push_text(ping::HEARTBEAT_INTERVAL, "60");
    let list = doc.push(Element::new(ping::FOLDERS));
    for (id, class) in [(errands, "Tasks"), (ideas, "Notes")] {
        list.push(Element::new(ping::FOLDER))
            .push_text(ping::ID, id.to_string())
            .push_text(ping::CLASS, class);
    }
    send(
        &mut a,
        &ki,
        ideas,
        vec![add("i1", |d| {
            d.push_text(n::SUBJECT, "Idea");
        })],
    );
    let pinged = b.command("Ping", Some(&doc));
    assert_eq!(pinged.doc().child_text(ping::STATUS).as_deref(), Some("2"));
    let changed: Vec<String> = pinged
        .doc()
        .child(ping::FOLDERS)
        .map(|l| {
            l.children_with(ping::FOLDER)
                .filter_map(|f| f.text())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(changed, [ideas.to_string()]);
    let (_, got) = pull(&mut b, &kbi, ideas);
    assert_eq!(got.len(), 1);

    // EmptyFolderContents on the task folder: the other phone gets the Delete.
    let mut empty = Element::new(io::ITEM_OPERATIONS);
    empty
        .push(Element::new(io::EMPTY_FOLDER_CONTENTS))
        .push_text(airsync::COLLECTION_ID, errands.to_string());
    let emptied = a.command("ItemOperations", Some(&empty));
    let status_text = emptied
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::EMPTY_FOLDER_CONTENTS))
        .and_then(|e| e.child_text(io::STATUS));
    assert_eq!(status_text.as_deref(), Some("1"));
    let (_, got) = pull(&mut a, &ke, errands);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::DELETE);
}
