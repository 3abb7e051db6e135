//! FolderCreate, FolderUpdate and FolderDelete over real HTTP, seen by a second device through
//! FolderSync, with every Status the commands can answer and isolation between users.

mod common;

use common::{TestDevice, TestServer};
use easd::wbxml::{tag::folder_hierarchy as fh, Element};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// (ServerId, DisplayName) pairs.
type Named = Vec<(String, String)>;

/// A device that keeps its hierarchy sync key between commands, as a phone does.
struct Phone {
    device: TestDevice,
    key: String,
}

impl Phone {
    fn new(server: &TestServer, email: &str, id: &str) -> Phone {
        let mut phone = Phone {
            device: server.device(email, id),
            key: "0".into(),
        };
        phone.folder_sync();
        phone
    }

    /// FolderSync; returns (added names, updated names, deleted ids).
    fn folder_sync(&mut self) -> (Named, Named, Vec<String>) {
        let mut doc = Element::new(fh::FOLDER_SYNC);
        doc.push_text(fh::SYNC_KEY, self.key.clone());
        let response = self.device.command("FolderSync", Some(&doc));
        let doc = response.doc();
        assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"));
        self.key = doc.child_text(fh::SYNC_KEY).expect("key");
        let changes = doc.child(fh::CHANGES).expect("changes");
        let pairs = |tag| {
            changes
                .children_with(tag)
                .map(|e: &Element| {
                    (
                        e.child_text(fh::SERVER_ID).unwrap_or_default(),
                        e.child_text(fh::DISPLAY_NAME).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let deleted = changes
            .children_with(fh::DELETE)
            .filter_map(|e| e.child_text(fh::SERVER_ID))
            .collect();
        (pairs(fh::ADD), pairs(fh::UPDATE), deleted)
    }

    fn id_of(&mut self, name: &str) -> String {
        let mut doc = Element::new(fh::FOLDER_SYNC);
        doc.push_text(fh::SYNC_KEY, "0");
        let response = self.device.command("FolderSync", Some(&doc));
        self.key = response.doc().child_text(fh::SYNC_KEY).expect("key");
        let id = response
            .doc()
            .child(fh::CHANGES)
            .expect("changes")
            .children_with(fh::ADD)
            .find(|a| a.child_text(fh::DISPLAY_NAME).as_deref() == Some(name))
            .and_then(|a| a.child_text(fh::SERVER_ID))
            .expect("folder id");
        id
    }

    /// Sends a folder command built by `fill` and returns (Status, the answer).
    fn folder_command(
        &mut self,
        cmd: &str,
        tag: easd::wbxml::Tag,
        fill: impl FnOnce(&mut Element),
    ) -> (String, Element) {
        let mut doc = Element::new(tag);
        doc.push_text(fh::SYNC_KEY, self.key.clone());
        fill(&mut doc);
        let response = self.device.command(cmd, Some(&doc));
        let answer = response.doc().clone();
        let status = answer.child_text(fh::STATUS).expect("status");
        if let Some(key) = answer.child_text(fh::SYNC_KEY) {
            self.key = key;
        }
        (status, answer)
    }

    fn create(&mut self, parent: &str, name: &str, kind: &str) -> (String, Element) {
        self.folder_command("FolderCreate", fh::FOLDER_CREATE, |d| {
            d.push_text(fh::PARENT_ID, parent)
                .push_text(fh::DISPLAY_NAME, name)
                .push_text(fh::TYPE, kind);
        })
    }

    fn update(&mut self, id: &str, parent: &str, name: &str) -> String {
        self.folder_command("FolderUpdate", fh::FOLDER_UPDATE, |d| {
            d.push_text(fh::SERVER_ID, id)
                .push_text(fh::PARENT_ID, parent)
                .push_text(fh::DISPLAY_NAME, name);
        })
        .0
    }

    fn delete(&mut self, id: &str) -> String {
        self.folder_command("FolderDelete", fh::FOLDER_DELETE, |d| {
            d.push_text(fh::SERVER_ID, id);
        })
        .0
    }
}

#[test]
fn a_folder_created_renamed_and_deleted_on_one_phone_reaches_the_other() {
    let server = TestServer::start();
    server.add_user(ALICE);
    let mut a = Phone::new(&server, ALICE, "phoneA");
    let mut b = Phone::new(&server, ALICE, "phoneB");

    let (status, answer) = a.create("0", "Projects", "12");
    assert_eq!(status, "1");
    let projects = answer.child_text(fh::SERVER_ID).expect("ServerId");
    let (status, answer) = a.create(&projects, "2026", "12");
    assert_eq!(status, "1");
    let year = answer.child_text(fh::SERVER_ID).expect("ServerId");

    // Phone A is up to date with its own changes; phone B gets both, parent first.
    assert_eq!(a.folder_sync(), (vec![], vec![], vec![]));
    let (added, _, _) = b.folder_sync();
    assert_eq!(
        added,
        vec![
            (projects.clone(), "Projects".into()),
            (year.clone(), "2026".into())
        ]
    );

    assert_eq!(a.update(&projects, "0", "Work"), "1");
    let (_, updated, _) = b.folder_sync();
    assert_eq!(updated, vec![(projects.clone(), "Work".to_string())]);

    assert_eq!(a.delete(&projects), "1");
    let (_, _, deleted) = b.folder_sync();
    assert!(
        deleted.contains(&projects) && deleted.contains(&year),
        "{deleted:?}"
    );
}

#[test]
fn folder_commands_answer_each_status() {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    let mut a = Phone::new(&server, ALICE, "statusA");
    let inbox = a.id_of("Inbox");

    assert_eq!(a.create("0", "Dup", "12").0, "1");
    assert_eq!(
        a.create("0", "dup", "12").0,
        "2",
        "the name exists (any case)"
    );
    assert_eq!(a.create("999999", "Orphan", "12").0, "5", "no such parent");
    assert_eq!(
        a.create("0", "Inbox2", "2").0,
        "10",
        "Type 2 cannot be created"
    );
    assert_eq!(a.update(&inbox, "0", "Renamed"), "3", "Inbox is special");
    assert_eq!(a.delete(&inbox), "3", "Inbox is special");
    assert_eq!(a.delete("999999"), "4", "no such folder");
    assert_eq!(a.update("999999", "0", "X"), "4", "no such folder");

    // A key that is not the newest: Status 9, then FolderSync and a retry works.
    let mut b = Phone::new(&server, ALICE, "statusB");
    assert_eq!(b.create("0", "FromB", "12").0, "1");
    let (status, _) = a.create("0", "FromA", "12");
    assert_eq!(status, "9", "phone A has not seen phone B's change");
    a.folder_sync();
    assert_eq!(a.create("0", "FromA", "12").0, "1");

    // Malformed: no DisplayName.
    let (status, _) = a.folder_command("FolderCreate", fh::FOLDER_CREATE, |d| {
        d.push_text(fh::PARENT_ID, "0").push_text(fh::TYPE, "12");
    });
    assert_eq!(status, "10");

    // Bob cannot touch Alice's folders, even knowing their ids.
    let mut bob = Phone::new(&server, BOB, "bobphone");
    let dup = a.id_of("Dup");
    assert_eq!(bob.delete(&dup), "4");
    assert_eq!(bob.update(&dup, "0", "Stolen"), "4");
    assert_eq!(bob.create(&dup, "Inside", "12").0, "5");
    assert!(!a.id_of("Dup").is_empty(), "Alice's folder is still there");
}
