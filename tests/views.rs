//! Folder views through the real server (`easd device set … tasks-as-events | notes-as-events
//! | folders all-groupware-as-email`): the device with the setting gets an extra folder whose
//! items are converted, another device of the same user does not; toggling the setting adds
//! and removes the folder at the next FolderSync (and a waiting Ping says so); a task changed
//! on another phone reaches the view as a Change (and a Ping on the view hears of it); a
//! Change of a task's event is written back to the task, other writes to a view are refused
//! and change nothing; a task without dates is not shown; groupware
//! folders as mail carry the item's vCard/iCalendar, fetched by ItemOperations (14.1) and
//! GetAttachment (12.1). Every answer is also decoded by libwbxml where it is installed.

mod class_sync;
mod common;

use class_sync::*;
use common::TestDevice;
use easd::store::FolderType;
use easd::wbxml::tag::{
    airsync, airsyncbase as base, calendar as cal, email, folder_hierarchy as fh,
    item_estimate as ie, item_operations as io, notes as n, ping, tasks as t,
};
use easd::wbxml::Element;

fn view_key(device: &mut TestDevice, id: &str) -> String {
    let answer = sync_one(device, collection("0", id, |_| {}));
    assert_eq!(status(&answer), "1", "{answer:?}");
    key(&answer)
}

fn view_pull(device: &mut TestDevice, key_now: &str, id: &str) -> (String, Vec<Element>) {
    let answer = sync_one(device, collection(key_now, id, |_| {}));
    assert_eq!(status(&answer), "1", "{answer:?}");
    (key(&answer), commands(&answer))
}

fn set(server: &common::TestServer, device: &str, key: &str, value: &str) {
    let out = server.easd(&["device", "set", ALICE, device, key, value]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn task_due_midnight(d: &mut Element, subject: &str) {
    d.push_text(t::SUBJECT, subject)
        .push_text(t::COMPLETE, "0")
        .push_text(t::DUE_DATE, "2024-01-04T00:00:00.000Z")
        .push_text(t::UTC_DUE_DATE, "2024-01-03T23:00:00.000Z");
}

#[test]
fn tasks_as_events_appear_for_one_device_follow_changes_write_back_edits_and_refuse_the_rest() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "a", "14.1");
    let mut b = phone(&server, "b", "16.1");
    let (ka, _) = folder_sync(&mut a);
    let (kb, _) = folder_sync(&mut b);
    let kt = first_key(&mut b, tasks, |_| {});
    let answer = send(
        &mut b,
        &kt,
        tasks,
        vec![add("t1", |d| task_due_midnight(d, "Bins"))],
    );
    let task_id = added_id(&answer);
    let kt = key(&answer);

    set(&server, "a", "tasks-as-events", "all");
    // A gets the extra calendar (the task folder's name, type 13); B, without the setting,
    // gets nothing.
    let (ka, adds, deletes) = folder_changes(&mut a, &ka);
    let view = format!("ta{tasks}");
    assert_eq!(
        adds,
        vec![(view.clone(), "Tasks".to_string(), "13".to_string())]
    );
    assert!(deletes.is_empty());
    let (ka, adds, _) = folder_changes(&mut a, &ka);
    assert!(adds.is_empty(), "told once: {adds:?}");
    // The view is the server's folder: the device cannot delete it.
    let mut doc = Element::new(fh::FOLDER_DELETE);
    doc.push_text(fh::SYNC_KEY, ka.clone())
        .push_text(fh::SERVER_ID, view.clone());
    let refused = a.command("FolderDelete", Some(&doc));
    assert_eq!(refused.doc().child_text(fh::STATUS).as_deref(), Some("3"));
    let (_, adds, _) = folder_changes(&mut b, &kb);
    assert!(adds.is_empty(), "{adds:?}");
    let refused = sync_one(&mut b, collection("0", &view, |_| {}));
    assert_eq!(
        status(&refused),
        "12",
        "B is not offered the view: {refused:?}"
    );

    // The task as an all-day event on its due day.
    let kv = view_key(&mut a, &view);
    let (kv, got) = view_pull(&mut a, &kv, &view);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag, airsync::ADD);
    assert_eq!(
        got[0].child_text(airsync::SERVER_ID).as_deref(),
        Some(task_id.as_str())
    );
    let d = data(&got[0]);
    assert_eq!(d.child_text(cal::SUBJECT).as_deref(), Some("Bins"));
    assert_eq!(d.child_text(cal::ALL_DAY_EVENT).as_deref(), Some("1"));
    assert_eq!(
        d.child_text(cal::START_TIME).as_deref(),
        Some("20240104T000000Z")
    );
    assert_eq!(
        d.child_text(cal::END_TIME).as_deref(),
        Some("20240105T000000Z")
    );
    assert_eq!(d.child_text(cal::BUSY_STATUS).as_deref(), Some("0"));

    // B completes and renames the task: A's view gets a Change.
    let answer = send(
        &mut b,
        &kt,
        tasks,
        vec![change(&task_id, |d| {
            task_due_midnight(d, "Bins out");
            d.child_mut(t::COMPLETE).unwrap().children = vec![easd::wbxml::Node::Text("1".into())];
        })],
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let kt = key(&answer);
    // A Ping on the view hears of the task's change at once.
    let mut doc = Element::new(ping::PING);
    doc.push_text(ping::HEARTBEAT_INTERVAL, "300");
    doc.push(Element::new(ping::FOLDERS))
        .push(Element::new(ping::FOLDER))
        .push_text(ping::ID, view.clone())
        .push_text(ping::CLASS, "Calendar");
    let answer = a.command("Ping", Some(&doc));
    let pinged = answer.doc();
    assert_eq!(
        pinged.child_text(ping::STATUS).as_deref(),
        Some("2"),
        "{pinged:?}"
    );
    assert_eq!(
        pinged
            .child(ping::FOLDERS)
            .and_then(|f| f.child_text(ping::FOLDER))
            .as_deref(),
        Some(view.as_str())
    );
    let (kv, got) = view_pull(&mut a, &kv, &view);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag, airsync::CHANGE);
    assert_eq!(
        data(&got[0]).child_text(cal::SUBJECT).as_deref(),
        Some("✓ Bins out")
    );

    // A Change of the event is written back to the task where the mapping is clear (subject,
    // due date from the start): A gets the event as the view now shows it, B the task.
    let answer = sync_one(
        &mut a,
        collection(&kv, &view, |c| {
            let list = c.push(Element::new(airsync::COMMANDS));
            list.push(change(&task_id, |d| {
                d.push_text(cal::SUBJECT, "✓ Bins, later")
                    .push_text(cal::START_TIME, "20240110T090000Z")
                    .push_text(cal::END_TIME, "20240110T100000Z")
                    .push_text(cal::ALL_DAY_EVENT, "0");
            }));
        }),
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let back = commands(&answer);
    assert_eq!(back.len(), 1, "{answer:?}");
    assert_eq!(back[0].tag, airsync::CHANGE);
    let d = data(&back[0]);
    assert_eq!(d.child_text(cal::SUBJECT).as_deref(), Some("✓ Bins, later"));
    assert_eq!(
        d.child_text(cal::START_TIME).as_deref(),
        Some("20240110T090000Z")
    );
    assert_eq!(
        d.child_text(cal::END_TIME).as_deref(),
        Some("20240110T093000Z")
    );
    let kv = key(&answer);
    let (kt, got) = pull(&mut b, &kt, tasks);
    assert_eq!(got.len(), 1, "{got:?}");
    let d = data(&got[0]);
    assert_eq!(d.child_text(t::SUBJECT).as_deref(), Some("Bins, later"));
    assert_eq!(
        d.child_text(t::UTC_DUE_DATE).as_deref(),
        Some("2024-01-10T09:00:00.000Z")
    );
    assert_eq!(d.child_text(t::COMPLETE).as_deref(), Some("1"));

    // Other writes are refused and change nothing: a Delete loses (Status 7) and the event
    // is sent again as an Add; an Add is not created (Status 6).
    let answer = sync_one(
        &mut a,
        collection(&kv, &view, |c| {
            let list = c.push(Element::new(airsync::COMMANDS));
            list.push(delete(&task_id));
            list.push(add("new", |d| {
                d.push_text(cal::SUBJECT, "Not here");
            }));
        }),
    );
    assert_eq!(status(&response(&answer, airsync::DELETE).unwrap()), "7");
    assert_eq!(status(&response(&answer, airsync::ADD).unwrap()), "6");
    let back = commands(&answer);
    assert_eq!(back.len(), 1, "{answer:?}");
    assert_eq!(back[0].tag, airsync::ADD);
    let kv = key(&answer);
    // The task is still there and the Tasks folder has nothing new.
    let (_, got) = pull(&mut b, &kt, tasks);
    assert!(got.is_empty(), "{got:?}");
    let (_, records) = store
        .record_item(user, task_id.parse().unwrap())
        .unwrap()
        .expect("the task");
    assert_eq!(records.text("Subject"), Some("Bins, later"));

    // GetItemEstimate of the view: nothing pending.
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    let c = doc
        .push(Element::new(ie::COLLECTIONS))
        .push(Element::new(ie::COLLECTION));
    c.push_text(airsync::SYNC_KEY, kv.clone())
        .push_text(ie::COLLECTION_ID, view.clone());
    let answer = a.command("GetItemEstimate", Some(&doc));
    let r = answer.doc().child(ie::RESPONSE).expect("Response");
    assert_eq!(r.child_text(ie::STATUS).as_deref(), Some("1"), "{r:?}");
    let estimate = r
        .child(ie::COLLECTION)
        .and_then(|c| c.child_text(ie::ESTIMATE));
    assert_eq!(estimate.as_deref(), Some("0"));

    // Turned off: a Ping learns the folders changed, FolderSync deletes the view, and a Sync
    // of it is refused as for a deleted folder.
    set(&server, "a", "tasks-as-events", "no");
    let mut doc = Element::new(ping::PING);
    doc.push_text(ping::HEARTBEAT_INTERVAL, "300");
    let f = doc
        .push(Element::new(ping::FOLDERS))
        .push(Element::new(ping::FOLDER));
    f.push_text(ping::ID, view.clone())
        .push_text(ping::CLASS, "Calendar");
    let answer = a.command("Ping", Some(&doc));
    assert_eq!(answer.doc().child_text(ping::STATUS).as_deref(), Some("7"));
    let (_, adds, deletes) = folder_changes(&mut a, &ka);
    assert!(adds.is_empty());
    assert_eq!(deletes, vec![view.clone()]);
    let gone = sync_one(&mut a, collection(&kv, &view, |_| {}));
    assert_eq!(status(&gone), "12");
}

#[test]
fn incomplete_tasks_only_leave_out_completed_ones_and_switching_replaces_the_folder() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "a", "16.1");
    let (ka, _) = folder_sync(&mut a);
    let kt = first_key(&mut a, tasks, |_| {});
    send(
        &mut a,
        &kt,
        tasks,
        vec![
            add("open", |d| task_due_midnight(d, "Open")),
            add("done", |d| {
                task_due_midnight(d, "Done");
                d.child_mut(t::COMPLETE).unwrap().children =
                    vec![easd::wbxml::Node::Text("1".into())];
            }),
        ],
    );
    set(&server, "a", "tasks-as-events", "all");
    let (ka, adds, _) = folder_changes(&mut a, &ka);
    assert_eq!(adds.len(), 1);
    let all = adds[0].0.clone();
    let kv = view_key(&mut a, &all);
    let (_, got) = view_pull(&mut a, &kv, &all);
    assert_eq!(got.len(), 2);

    set(&server, "a", "tasks-as-events", "incomplete");
    let (_, adds, deletes) = folder_changes(&mut a, &ka);
    assert_eq!(deletes, vec![all]);
    assert_eq!(adds.len(), 1);
    let open = adds[0].0.clone();
    assert_eq!(open, format!("ti{tasks}"));
    let kv = view_key(&mut a, &open);
    let (_, got) = view_pull(&mut a, &kv, &open);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        data(&got[0]).child_text(cal::SUBJECT).as_deref(),
        Some("Open")
    );

    // `easd device show` lists the setting and the view's sync state.
    let out = server.easd(&["device", "show", ALICE, "a"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("tasks-as-events ") && l.contains("incomplete (changed)")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Tasks (tasks-as-events view) [{open}]")),
        "{text}"
    );
}

#[test]
fn notes_as_events_reach_a_device_too_old_for_notes() {
    let (server, store, user) = start();
    let notes = folder(&store, user, FolderType::Notes);
    let mut writer = phone(&server, "writer", "16.1");
    let mut old = phone(&server, "old", "12.1");
    let (ko, listed) = folder_sync(&mut old);
    assert!(!listed.iter().any(|f| f.0 == notes.to_string()));
    let kn = first_key(&mut writer, notes, |_| {});
    send(
        &mut writer,
        &kn,
        notes,
        vec![add("n1", |d| {
            d.push_text(n::SUBJECT, "Milk");
            d.push(Element::new(base::BODY))
                .push_text(base::TYPE, "1")
                .push_text(base::DATA, "Two litres");
        })],
    );
    set(&server, "old", "notes-as-events", "yes");
    let (_, adds, _) = folder_changes(&mut old, &ko);
    let view = format!("ne{notes}");
    assert_eq!(
        adds,
        vec![(view.clone(), "Notes".to_string(), "13".to_string())]
    );
    let kv = view_key(&mut old, &view);
    let (kv, got) = view_pull(&mut old, &kv, &view);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(d.child_text(cal::SUBJECT).as_deref(), Some("Milk"));
    assert_eq!(d.child_text(cal::ALL_DAY_EVENT).as_deref(), Some("1"));
    let body = d.child(base::BODY).expect("Body");
    assert_eq!(body.child_text(base::DATA).as_deref(), Some("Two litres"));

    // Notes as events are read-only: a Change loses and the event comes back as it was.
    let id = got[0].child_text(airsync::SERVER_ID).unwrap();
    let answer = sync_one(
        &mut old,
        collection(&kv, &view, |c| {
            let list = c.push(Element::new(airsync::COMMANDS));
            list.push(change(&id, |d| {
                d.push_text(cal::SUBJECT, "Cheese");
            }));
        }),
    );
    assert_eq!(status(&response(&answer, airsync::CHANGE).unwrap()), "7");
    let back = commands(&answer);
    assert_eq!(back.len(), 1);
    assert_eq!(
        data(&back[0]).child_text(cal::SUBJECT).as_deref(),
        Some("Milk")
    );
}

#[test]
fn groupware_folders_as_mail_are_readable_messages() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "a", "14.1");
    let mut other = phone(&server, "other", "14.1");
    let (ka, _) = folder_sync(&mut a);
    let (ko, _) = folder_sync(&mut other);
    let kc = first_key(&mut a, contacts, |_| {});
    use easd::wbxml::tag::contacts as c;
    send(
        &mut a,
        &kc,
        contacts,
        vec![add("c1", |d| {
            d.push_text(c::FILE_AS, "Doe, Jo")
                .push_text(c::FIRST_NAME, "Jo")
                .push_text(c::LAST_NAME, "Doe")
                .push_text(c::EMAIL1_ADDRESS, "jo@example.org");
            d.push(Element::new(c::CATEGORIES))
                .push_text(c::CATEGORY, "Family");
        })],
    );
    set(&server, "a", "folders", "all-groupware-as-email");
    let (_, adds, _) = folder_changes(&mut a, &ka);
    let mail_views: Vec<_> = adds.iter().filter(|f| f.2 == "12").collect();
    assert_eq!(
        mail_views.len(),
        4,
        "contacts, calendar, tasks, notes: {adds:?}"
    );
    let (_, adds, _) = folder_changes(&mut other, &ko);
    assert!(adds.is_empty());

    let view = format!("gc{contacts}");
    let kv = view_key(&mut a, &view);
    let (kv, got) = view_pull(&mut a, &kv, &view);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(d.child_text(email::SUBJECT).as_deref(), Some("Doe, Jo"));
    assert_eq!(d.child_text(email::READ).as_deref(), Some("1"));
    let from = d.child_text(email::FROM).unwrap();
    assert!(from.contains("Family") && from.contains(ALICE), "{from}");
    let body = d
        .child(base::BODY)
        .and_then(|b| b.child_text(base::DATA))
        .unwrap_or_default();
    assert!(body.contains("Email1 address: jo@example.org"), "{body}");
    assert!(body.contains("First name: Jo"), "{body}");

    // The contact is attached as a vCard, fetched with ItemOperations.
    let attachment = d
        .child(base::ATTACHMENTS)
        .and_then(|l| l.child(base::ATTACHMENT))
        .expect("an attachment");
    assert_eq!(
        attachment.child_text(base::DISPLAY_NAME).as_deref(),
        Some("Doe, Jo.vcf")
    );
    let reference = attachment.child_text(base::FILE_REFERENCE).unwrap();
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    doc.push(Element::new(io::FETCH))
        .push_text(io::STORE, "Mailbox")
        .push_text(base::FILE_REFERENCE, reference.clone());
    let answer = a.command("ItemOperations", Some(&doc));
    common::libwbxml_agrees(&answer.http.body, "ItemOperations");
    let fetched = answer
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .cloned()
        .expect("a Fetch");
    assert_eq!(
        fetched.child_text(io::STATUS).as_deref(),
        Some("1"),
        "{fetched:?}"
    );
    let properties = fetched.child(io::PROPERTIES).unwrap();
    assert_eq!(
        properties.child_text(base::CONTENT_TYPE).as_deref(),
        Some("text/vcard")
    );
    use base64::Engine;
    let card = base64::engine::general_purpose::STANDARD
        .decode(properties.child_text(io::DATA).unwrap())
        .unwrap();
    let card = String::from_utf8(card).unwrap();
    assert!(card.starts_with("BEGIN:VCARD\r\n"), "{card}");
    assert!(card.contains("EMAIL"), "{card}");
    assert!(card.contains("jo@example.org"), "{card}");

    // The whole message through ItemOperations, named by the view's collection.
    let id = got[0].child_text(airsync::SERVER_ID).unwrap();
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    doc.push(Element::new(io::FETCH))
        .push_text(io::STORE, "Mailbox")
        .push_text(airsync::COLLECTION_ID, view.clone())
        .push_text(airsync::SERVER_ID, id.clone());
    let answer = a.command("ItemOperations", Some(&doc));
    let fetched = answer
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .cloned()
        .expect("a Fetch");
    assert_eq!(
        fetched.child_text(io::STATUS).as_deref(),
        Some("1"),
        "{fetched:?}"
    );
    assert_eq!(fetched.child_text(airsync::CLASS).as_deref(), Some("Email"));
    let properties = fetched.child(io::PROPERTIES).unwrap();
    assert_eq!(
        properties.child_text(email::SUBJECT).as_deref(),
        Some("Doe, Jo")
    );

    // Writes to a mail view change nothing: marking the message unread loses.
    let answer = sync_one(
        &mut a,
        collection(&kv, &view, |c| {
            let list = c.push(Element::new(airsync::COMMANDS));
            let id = got[0].child_text(airsync::SERVER_ID).unwrap();
            list.push(change(&id, |d| {
                d.push_text(email::READ, "0");
            }));
        }),
    );
    assert_eq!(status(&response(&answer, airsync::CHANGE).unwrap()), "7");
}

#[test]
fn tasks_without_dates_are_not_shown_and_one_losing_its_date_leaves_the_view() {
    let (server, store, user) = start();
    let tasks = folder(&store, user, FolderType::Tasks);
    let mut a = phone(&server, "a", "16.1");
    let (ka, _) = folder_sync(&mut a);
    let kt = first_key(&mut a, tasks, |_| {});
    let answer = send(
        &mut a,
        &kt,
        tasks,
        vec![
            add("dated", |d| task_due_midnight(d, "Dated")),
            add("undated", |d| {
                d.push_text(t::SUBJECT, "Someday")
                    .push_text(t::COMPLETE, "0");
            }),
        ],
    );
    let kt = key(&answer);
    let dated = answer
        .child(airsync::RESPONSES)
        .unwrap()
        .children_with(airsync::ADD)
        .find(|r| r.child_text(airsync::CLIENT_ID).as_deref() == Some("dated"))
        .and_then(|r| r.child_text(airsync::SERVER_ID))
        .unwrap();
    set(&server, "a", "tasks-as-events", "all");
    let (_, adds, _) = folder_changes(&mut a, &ka);
    let view = adds[0].0.clone();
    let kv = view_key(&mut a, &view);

    // GetItemEstimate counts what the view shows: one event, not two.
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    let c = doc
        .push(Element::new(ie::COLLECTIONS))
        .push(Element::new(ie::COLLECTION));
    c.push_text(airsync::SYNC_KEY, kv.clone())
        .push_text(ie::COLLECTION_ID, view.clone());
    let answer = a.command("GetItemEstimate", Some(&doc));
    let estimate = answer
        .doc()
        .child(ie::RESPONSE)
        .and_then(|r| r.child(ie::COLLECTION))
        .and_then(|c| c.child_text(ie::ESTIMATE));
    assert_eq!(estimate.as_deref(), Some("1"));
    let (kv, got) = view_pull(&mut a, &kv, &view);
    assert_eq!(got.len(), 1);
    assert_eq!(
        data(&got[0]).child_text(cal::SUBJECT).as_deref(),
        Some("Dated")
    );

    // The task loses its due date: the view's event goes (SoftDelete).
    send(
        &mut a,
        &kt,
        tasks,
        vec![change(&dated, |d| {
            d.push_text(t::SUBJECT, "Dated").push_text(t::COMPLETE, "0");
        })],
    );
    let (_, got) = view_pull(&mut a, &kv, &view);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag, airsync::SOFT_DELETE);
    assert_eq!(
        got[0].child_text(airsync::SERVER_ID).as_deref(),
        Some(dated.as_str())
    );
}

#[test]
fn a_12_1_mail_client_gets_an_event_as_a_message_and_its_ics_by_get_attachment() {
    let (server, store, user) = start();
    let calendar = folder(&store, user, FolderType::Calendar);
    let mut writer = phone(&server, "writer", "16.1");
    let kc = first_key(&mut writer, calendar, |_| {});
    send(
        &mut writer,
        &kc,
        calendar,
        vec![add("e1", |d| {
            d.push_text(cal::SUBJECT, "Dentist")
                .push_text(cal::START_TIME, "20250312T090000Z")
                .push_text(cal::END_TIME, "20250312T100000Z")
                .push_text(cal::ALL_DAY_EVENT, "0")
                .push_text(cal::BUSY_STATUS, "2");
        })],
    );
    let mut old = phone(&server, "old", "12.1");
    let (ko, _) = folder_sync(&mut old);
    set(&server, "old", "folders", "all-groupware-as-email");
    let (_, adds, _) = folder_changes(&mut old, &ko);
    let view = format!("ge{calendar}");
    assert!(adds.iter().any(|f| f.0 == view && f.2 == "12"), "{adds:?}");
    let kv = view_key(&mut old, &view);
    let (_, got) = view_pull(&mut old, &kv, &view);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(d.child_text(email::SUBJECT).as_deref(), Some("Dentist"));
    assert_eq!(
        d.child_text(email::DATE_RECEIVED).as_deref(),
        Some("2025-03-12T09:00:00.000Z")
    );
    let reference = d
        .child(base::ATTACHMENTS)
        .and_then(|l| l.child(base::ATTACHMENT))
        .and_then(|a| a.child_text(base::FILE_REFERENCE))
        .expect("a FileReference");

    let auth = common::basic_auth(&old.login, &old.password);
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}&AttachmentName={}",
        old.query("GetAttachment"),
        common::percent(&reference)
    );
    let headers = [
        ("Authorization", auth.as_str()),
        ("MS-ASProtocolVersion", "12.1"),
        ("Content-Type", "application/vnd.ms-sync.wbxml"),
    ];
    let answer = old.http.request("POST", &target, &headers, b"");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Content-Type"), Some("text/calendar"));
    let ics = String::from_utf8(answer.body).unwrap();
    assert!(ics.contains("BEGIN:VEVENT\r\n"), "{ics}");
    assert!(ics.contains("SUMMARY:Dentist\r\n"), "{ics}");
    assert!(ics.contains("DTSTART:20250312T090000Z\r\n"), "{ics}");
}
