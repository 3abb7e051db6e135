//! A model-based check of Sync's invariants: simulated devices against the real server, on a
//! seeded random schedule, with a small reference model of what each device holds.
//!
//! Each step is one thing that happens in a household: mail arrives (a writer beside the
//! server, as `easd deliver` is), the server side changes or deletes or moves a message, a
//! folder is deleted and made again, or a device syncs one collection — with a random
//! WindowSize (1–512, mostly small), sometimes a new FilterType, sometimes its own Changes
//! and Deletes, sometimes a MoveItems, sometimes starting the collection over with SyncKey 0,
//! and sometimes losing the answer, after which it sends the very same request again (with
//! the previous key), as a phone does.
//!
//! Two classes take part: mail (Inbox, Deleted Items, Drafts and a user folder; dated, so
//! FilterType windows apply) and contacts (two contact folders; undated; phones of every
//! version add them). The model of a device is the set of ServerIds it holds per collection,
//! each with a marker of its state (a message's read flag, a contact's job title), changed
//! only by what the answers say.Every answer is checked as it arrives:
//! an Add names an item the device does not hold and that is in the folder; Change, Delete
//! and SoftDelete name items it holds. Whenever a device has caught up (no MoreAvailable,
//! no lost answer pending) its view of the collection must equal what the server holds for
//! it: the folder's items inside its FilterType window, with their read state.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use super::common::{TestDevice, TestServer};
use easd::store::records::{NewRecordItem, Property, PropertyRecord};
use easd::store::{FolderId, FolderType, ItemClass, MessageChange, NewMessage, Store, UserId};
use easd::wbxml::tag::{airsync, airsyncbase, contacts, email, move_items as mv};
use easd::wbxml::{Element, Tag};

pub const USER: &str = "model@example.com";
const DAY: i64 = 86_400;

/// splitmix64: small, seedable, and good enough to draw schedules.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len() as u64) as usize])
        }
    }
}

/// The two classes of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Mail,
    Contact,
}

/// What one device believes about one collection.
#[derive(Default)]
struct CollectionView {
    key: String,
    filter: u8,
    /// ServerId → the item's state marker (see [`Simulation::marker`]).
    held: BTreeMap<i64, String>,
    /// A lost answer: the request to send again, verbatim.
    lost: Option<Element>,
    /// The last answer said MoreAvailable.
    more: bool,
}

struct SimDevice {
    device: TestDevice,
    name: String,
    /// Folder id → view; a folder the device never synced has none.
    views: BTreeMap<FolderId, CollectionView>,
}

/// Figures of a run.
#[derive(Debug, Default)]
pub struct Stats {
    pub steps: usize,
    pub syncs: usize,
    pub lost_answers: usize,
    pub replays: usize,
    pub adds: usize,
    pub changes: usize,
    pub deletes: usize,
    pub soft_deletes: usize,
    pub client_adds: usize,
    pub checks: usize,
}

/// The whole simulation: a server, its database opened beside it, the devices.
pub struct Simulation {
    store: Store,
    user: UserId,
    rng: Rng,
    devices: Vec<SimDevice>,
    inbox: FolderId,
    deleted_items: FolderId,
    /// Where 16.x phones write drafts (Sync Add with a ClientId).
    drafts: FolderId,
    /// The default Contacts folder and a created one (type 14).
    contacts: [FolderId; 2],
    client_ids: u64,
    titles: u64,
    /// A user folder that is deleted and made again now and then.
    scratch: FolderId,
    scratch_generation: u32,
    now: i64,
    delivered: u64,
    pub stats: Stats,
}

/// A failed invariant, with what led to it.
pub type Failure = String;

impl Simulation {
    /// Sets up user, folders and `devices` phones (protocol versions alternate between
    /// 14.1 and 16.1) on a fresh server.
    pub fn new(server: &TestServer, seed: u64, devices: usize) -> Simulation {
        server.add_user(USER);
        let (store, user) = server.store_and_user(USER);
        let folder = |kind| crate::common::folder(&store, user, kind);
        let (inbox, deleted_items) = (folder(FolderType::Inbox), folder(FolderType::DeletedItems));
        let drafts = folder(FolderType::Drafts);
        let family = store
            .create_folder(user, None, "Family", FolderType::UserContacts)
            .unwrap()
            .id;
        let contacts = [folder(FolderType::Contacts), family];
        let scratch = store
            .create_folder(user, None, "Scratch 0", FolderType::UserMail)
            .unwrap()
            .id;
        let devices = (0..devices)
            .map(|n| {
                let mut device = server.device(USER, &format!("model{n}"));
                device.version = if n % 2 == 0 { "16.1" } else { "14.1" }.to_string();
                SimDevice {
                    device,
                    name: format!("model{n}"),
                    views: BTreeMap::new(),
                }
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Simulation {
            store,
            user,
            rng: Rng::new(seed),
            devices,
            inbox,
            deleted_items,
            drafts,
            contacts,
            client_ids: 0,
            titles: 0,
            scratch,
            scratch_generation: 0,
            now,
            delivered: 0,
            stats: Stats::default(),
        }
    }

    fn folders(&self) -> [FolderId; 6] {
        [
            self.inbox,
            self.deleted_items,
            self.drafts,
            self.scratch,
            self.contacts[0],
            self.contacts[1],
        ]
    }

    fn kind(&self, folder: FolderId) -> Kind {
        if self.contacts.contains(&folder) {
            Kind::Contact
        } else {
            Kind::Mail
        }
    }

    /// The folders holding items of `kind`.
    fn folders_of(&self, kind: Kind) -> Vec<FolderId> {
        self.folders()
            .into_iter()
            .filter(|&f| self.kind(f) == kind)
            .collect()
    }

    /// The state marker of an item as the server holds it: `read=0|1` for a message, the job
    /// title for a contact.
    fn marker(&self, folder: FolderId, id: i64) -> Result<String, Failure> {
        Ok(match self.kind(folder) {
            Kind::Mail => {
                let read = self
                    .store
                    .message(self.user, id)
                    .map_err(|e| e.to_string())?
                    .is_some_and(|m| m.read);
                format!("read={}", u8::from(read))
            }
            Kind::Contact => self
                .store
                .record_item(self.user, id)
                .map_err(|e| e.to_string())?
                .and_then(|(_, record)| record.text("JobTitle").map(str::to_string))
                .unwrap_or_default(),
        })
    }

    /// A fresh job title.
    fn title(&mut self) -> String {
        self.titles += 1;
        format!("title {}", self.titles)
    }

    /// Runs `steps` random steps, then lets every device catch up; the first broken
    /// invariant ends the run.
    pub fn run(&mut self, steps: usize) -> Result<(), Failure> {
        for _ in 0..steps {
            self.step()?;
        }
        self.catch_up()
    }

    /// One random step.
    pub fn step(&mut self) -> Result<(), Failure> {
        let step = self.stats.steps;
        self.stats.steps += 1;
        self.random_step().map_err(|e| format!("step {step}: {e}"))
    }

    /// Every device syncs every collection it has until it has caught up (each catching-up
    /// answer is checked, and so is the end state).
    pub fn catch_up(&mut self) -> Result<(), Failure> {
        for index in 0..self.devices.len() {
            let folders: Vec<FolderId> = self.devices[index].views.keys().copied().collect();
            for folder in folders {
                for _ in 0..200 {
                    let Some(view) = self.devices[index].views.get(&folder) else {
                        break;
                    };
                    if !view.more && view.lost.is_none() {
                        break;
                    }
                    self.sync(index, folder, false)
                        .map_err(|e| format!("catching up: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// Points every device at the server again (after a restart its ports changed).
    pub fn reconnect(&mut self, server: &TestServer) {
        for device in &mut self.devices {
            device.device.http = server.client();
        }
    }

    /// The database, as the server sees it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if std::env::var_os("EASD_MODEL_TRACE").is_some() {
            eprintln!("[{}] {}", self.stats.steps, what());
        }
    }

    fn random_step(&mut self) -> Result<(), Failure> {
        match self.rng.below(100) {
            0..=19 => self.deliver(),
            20..=24 => self.server_changes_read(),
            25..=27 => self.server_deletes(),
            28..=29 => self.server_moves(),
            30 => self.recreate_scratch(),
            _ => {
                let device = self.rng.below(self.devices.len() as u64) as usize;
                let folder = *self.rng.pick(&self.folders()).unwrap();
                let lose = self.rng.chance(8);
                self.sync(device, folder, lose)
            }
        }
    }

    /// A message dated a whole number of days back plus half a day, so that it is never in
    /// the hour a window's cutoff is rounded to.
    fn deliver(&mut self) -> Result<(), Failure> {
        if self.rng.chance(30) {
            return self.file_contact();
        }
        let folder = if self.rng.chance(75) {
            self.inbox
        } else {
            self.scratch
        };
        let days_back = self.rng.below(60) as i64;
        self.delivered += 1;
        let n = self.delivered;
        let raw = format!(
            "From: Sender <sender@example.net>\r\nTo: <{USER}>\r\nSubject: model {n}\r\n\
             Message-ID: <model-{n}@example.net>\r\nContent-Type: text/plain\r\n\r\nbody {n}\r\n"
        );
        let mut message = NewMessage::new(raw.as_bytes());
        message.received_at = Some(self.now - days_back * DAY + DAY / 2);
        let id = self
            .store
            .add_message(self.user, folder, &message)
            .map_err(|e| format!("deliver: {e}"))?
            .item_id();
        self.trace(|| format!("deliver {id} to {folder}, {days_back} days back"));
        Ok(())
    }

    /// A contact arrives from elsewhere (an import, another phone's earlier answer).
    fn file_contact(&mut self) -> Result<(), Failure> {
        let folder = self.contacts[self.rng.below(2) as usize];
        let mut record = PropertyRecord::default();
        record.set(
            "FirstName",
            Property::Text(format!("Friend {}", self.titles)),
        );
        record.set("JobTitle", Property::Text(self.title()));
        let new = NewRecordItem {
            class: ItemClass::Contacts,
            sort_date: None,
            record: &record,
        };
        let id = self
            .store
            .add_record_item(self.user, folder, &new, None)
            .map_err(|e| format!("file contact: {e}"))?;
        self.trace(|| format!("contact {id} filed in {folder}"));
        Ok(())
    }

    fn random_item(&mut self, folders: &[FolderId]) -> Option<i64> {
        let folder = *self.rng.pick(folders)?;
        let items = self.store.items_in_window(self.user, folder, None).ok()?;
        self.rng.pick(&items).map(|item| item.id)
    }

    /// Another client (webmail, the other phone's earlier answer) marks a message or edits
    /// a contact.
    fn server_changes_read(&mut self) -> Result<(), Failure> {
        if self.rng.chance(40) {
            let Some(id) = self.random_item(&self.contacts.clone()) else {
                return Ok(());
            };
            let Some((item, mut record)) = self
                .store
                .record_item(self.user, id)
                .map_err(|e| e.to_string())?
            else {
                return Ok(());
            };
            let title = self.title();
            record.set("JobTitle", Property::Text(title.clone()));
            self.store
                .replace_record(self.user, id, item.sort_date, &record)
                .map_err(|e| format!("edit contact {id}: {e}"))?;
            self.trace(|| format!("server retitles {id} {title:?}"));
            return Ok(());
        }
        let Some(id) = self.random_item(&self.folders_of(Kind::Mail)) else {
            return Ok(());
        };
        let read = self.rng.chance(50);
        let change = MessageChange {
            read: Some(read),
            ..MessageChange::default()
        };
        self.store
            .change_message(self.user, id, &change)
            .map_err(|e| format!("change {id}: {e}"))?;
        self.trace(|| format!("server marks {id} read={read}"));
        Ok(())
    }

    fn server_deletes(&mut self) -> Result<(), Failure> {
        if let Some(id) = self.random_item(&self.folders()) {
            self.store
                .delete_item(self.user, id)
                .map_err(|e| format!("delete {id}: {e}"))?;
            self.trace(|| format!("server deletes {id}"));
        }
        Ok(())
    }

    fn server_moves(&mut self) -> Result<(), Failure> {
        let kind = if self.rng.chance(30) {
            Kind::Contact
        } else {
            Kind::Mail
        };
        let folders = self.folders_of(kind);
        if let Some(id) = self.random_item(&folders) {
            let target = *self.rng.pick(&folders).unwrap();
            let new_id = self
                .store
                .move_item(self.user, id, target)
                .map_err(|e| format!("move {id}: {e}"))?;
            self.trace(|| format!("server moves {id} to {target} as {new_id}"));
        }
        Ok(())
    }

    fn recreate_scratch(&mut self) -> Result<(), Failure> {
        self.trace(|| format!("scratch folder {} deleted", self.scratch));
        self.store
            .delete_folder(self.user, self.scratch)
            .map_err(|e| format!("delete folder: {e}"))?;
        self.scratch_generation += 1;
        self.scratch = self
            .store
            .create_folder(
                self.user,
                None,
                &format!("Scratch {}", self.scratch_generation),
                FolderType::UserMail,
            )
            .map_err(|e| format!("create folder: {e}"))?
            .id;
        Ok(())
    }

    /// The window cutoff of FilterType `filter` (as the server computes it).
    fn cutoff(&self, filter: u8) -> Option<i64> {
        easd::eas::sync::collection::window_cutoff(filter, self.now())
    }

    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// One Sync of one collection by one device (or its first key, or its replay).
    fn sync(&mut self, index: usize, folder: FolderId, lose: bool) -> Result<(), Failure> {
        self.stats.syncs += 1;
        let (request, replay) = match self.devices[index].views.get(&folder) {
            Some(view) if view.lost.is_some() => (view.lost.clone().unwrap(), true),
            Some(_) if self.rng.chance(3) => {
                // Start the collection over: the device drops what it had.
                self.devices[index].views.remove(&folder);
                (self.first_request(folder), false)
            }
            Some(_) => (self.next_request(index, folder), false),
            None => (self.first_request(folder), false),
        };
        if replay {
            self.stats.replays += 1;
        }
        let name = self.devices[index].name.clone();
        self.trace(|| {
            let xml = easd::wbxml::xml::to_xml(&request);
            format!("{name} sends (lose={lose}) {xml}")
        });
        // Until its answer is applied, the request counts as lost: a phone whose connection
        // broke sends it again.
        if let Some(view) = self.devices[index].views.get_mut(&folder) {
            view.lost = Some(request.clone());
        }
        let response = self.devices[index].device.command("Sync", Some(&request));
        if let Some(doc) = &response.doc {
            self.trace(|| format!("{name} gets {}", easd::wbxml::xml::to_xml(doc)));
        }
        if response.status() != 200 {
            return Err(format!("{name}: Sync answered HTTP {}", response.status()));
        }
        if lose {
            // The answer never reaches the phone; it will send the same request again (a lost
            // first key is simply asked for again).
            self.stats.lost_answers += 1;
            return Ok(());
        }
        let Some(answer) = response
            .doc
            .as_ref()
            .and_then(|d| d.child(airsync::COLLECTIONS))
            .and_then(|c| c.child(airsync::COLLECTION))
            .cloned()
        else {
            // An empty answer: nothing changed, the key stays (MS-ASCMD empty Sync response).
            if let Some(view) = self.devices[index].views.get_mut(&folder) {
                view.lost = None;
                view.more = false;
            }
            return self.check_caught_up(index, folder);
        };
        self.apply(index, folder, &request, &answer)
    }

    fn first_request(&self, folder: FolderId) -> Element {
        let mut c = Element::new(airsync::COLLECTION);
        c.push_text(airsync::SYNC_KEY, "0")
            .push_text(airsync::COLLECTION_ID, folder.to_string());
        sync_doc(c)
    }

    /// A request on the current key: random window, maybe a new FilterType, maybe the
    /// device's own changes and deletes; maybe a MoveItems first.
    fn next_request(&mut self, index: usize, folder: FolderId) -> Element {
        let window = match self.rng.below(10) {
            0..=5 => 1 + self.rng.below(3),
            6..=8 => 1 + self.rng.below(40),
            _ => 1 + self.rng.below(512),
        };
        let kind = self.kind(folder);
        // FilterType is about dates: mail only.
        let new_filter = (kind == Kind::Mail && self.rng.chance(10))
            .then(|| [0u8, 2, 3, 4, 5][self.rng.below(5) as usize]);
        let deletes_as_moves = self.rng.chance(50);
        let mut commands: Vec<Element> = Vec::new();
        let held: Vec<(i64, String)> = {
            let view = &self.devices[index].views[&folder];
            view.held.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        // What the phone's own Changes make of its items, applied locally as it sends them.
        let mut local: Vec<(i64, Option<String>)> = Vec::new();
        if !held.is_empty() && self.rng.chance(25) {
            let mut named = HashSet::new();
            for _ in 0..1 + self.rng.below(3) {
                let (id, marker) = self.rng.pick(&held).unwrap().clone();
                if !named.insert(id) {
                    continue;
                }
                if self.rng.chance(70) {
                    let mut change = Element::new(airsync::CHANGE);
                    change.push_text(airsync::SERVER_ID, id.to_string());
                    let data = change.push(Element::new(airsync::APPLICATION_DATA));
                    let new_marker = match kind {
                        Kind::Mail => {
                            let read = marker != "read=1";
                            data.push_text(email::READ, if read { "1" } else { "0" });
                            format!("read={}", u8::from(read))
                        }
                        Kind::Contact => {
                            let title = self.title();
                            data.push_text(contacts::FIRST_NAME, "Edited")
                                .push_text(contacts::JOB_TITLE, title.clone());
                            title
                        }
                    };
                    local.push((id, Some(new_marker)));
                    commands.push(change);
                } else {
                    let mut delete = Element::new(airsync::DELETE);
                    delete.push_text(airsync::SERVER_ID, id.to_string());
                    local.push((id, None));
                    commands.push(delete);
                }
            }
        }
        // A 16.x phone writes a draft: an Add with a ClientId, answered in Responses. When the
        // answer is lost, the same Add is sent again and must not make a second draft.
        if kind == Kind::Contact && self.rng.chance(30) {
            // Any phone adds contacts.
            self.client_ids += 1;
            let title = self.title();
            let mut add = Element::new(airsync::ADD);
            add.push_text(airsync::CLIENT_ID, format!("contact-{}", self.client_ids));
            add.push(Element::new(airsync::APPLICATION_DATA))
                .push_text(contacts::FIRST_NAME, format!("New {}", self.client_ids))
                .push_text(contacts::JOB_TITLE, title);
            commands.push(add);
        }
        if folder == self.drafts
            && self.devices[index].device.version == "16.1"
            && self.rng.chance(40)
        {
            self.client_ids += 1;
            let mut add = Element::new(airsync::ADD);
            add.push_text(airsync::CLIENT_ID, format!("draft-{}", self.client_ids));
            let data = add.push(Element::new(airsync::APPLICATION_DATA));
            data.push_text(email::TO, "Friend <friend@example.net>")
                .push_text(email::SUBJECT, format!("draft {}", self.client_ids));
            data.push(Element::new(airsyncbase::BODY))
                .push_text(airsyncbase::TYPE, "1")
                .push_text(airsyncbase::DATA, "draft text");
            commands.push(add);
        }
        if !held.is_empty() && self.rng.chance(4) {
            let (id, _) = self.rng.pick(&held).unwrap().clone();
            let target = *self.rng.pick(&self.folders_of(kind)).unwrap();
            self.move_items(index, folder, id, target);
        }
        let view = self.devices[index].views.get_mut(&folder).unwrap();
        // A phone applies its own commands locally when it sends them.
        for (id, marker) in local {
            match marker {
                None => {
                    view.held.remove(&id);
                }
                Some(marker) => {
                    if let Some(held) = view.held.get_mut(&id) {
                        *held = marker;
                    }
                }
            }
        }
        let mut c = Element::new(airsync::COLLECTION);
        c.push_text(airsync::SYNC_KEY, view.key.clone())
            .push_text(airsync::COLLECTION_ID, folder.to_string())
            .push_text(
                airsync::DELETES_AS_MOVES,
                if deletes_as_moves { "1" } else { "0" },
            )
            .push_text(airsync::WINDOW_SIZE, window.to_string());
        if let Some(filter) = new_filter {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, filter.to_string());
            view.filter = filter;
        }
        if !commands.is_empty() {
            let list = c.push(Element::new(airsync::COMMANDS));
            for command in commands {
                list.push(command);
            }
        }
        sync_doc(c)
    }

    /// MoveItems of a held item: per MS-ASCMD the device then receives a Delete in the
    /// source and an Add in the target when it syncs them, so its view is left as it is.
    fn move_items(&mut self, index: usize, from: FolderId, id: i64, to: FolderId) {
        let mut doc = Element::new(mv::MOVE_ITEMS);
        doc.push(Element::new(mv::MOVE))
            .push_text(mv::SRC_MSG_ID, id.to_string())
            .push_text(mv::SRC_FLD_ID, from.to_string())
            .push_text(mv::DST_FLD_ID, to.to_string());
        self.trace(|| {
            format!(
                "{} MoveItems {id} from {from} to {to}",
                self.devices[index].name
            )
        });
        let response = self.devices[index].device.command("MoveItems", Some(&doc));
        assert_eq!(response.status(), 200, "MoveItems answered");
    }

    /// Applies one collection answer to the device's view, checking every command.
    fn apply(
        &mut self,
        index: usize,
        folder: FolderId,
        request: &Element,
        answer: &Element,
    ) -> Result<(), Failure> {
        let name = self.devices[index].name.clone();
        let status = answer.child_text(airsync::STATUS).unwrap_or_default();
        let sent_key = request
            .child(airsync::COLLECTIONS)
            .and_then(|c| c.child(airsync::COLLECTION))
            .and_then(|c| c.child_text(airsync::SYNC_KEY))
            .unwrap_or_default();
        if status != "1" {
            // Folder gone (8, 12) or key unknown (3): the device starts the collection over.
            if !matches!(status.as_str(), "3" | "8" | "12") {
                return Err(format!("{name}: Sync of {folder} answered Status {status}"));
            }
            if status == "3" && self.folders().contains(&folder) {
                return Err(format!(
                    "{name}: the server forgot key {sent_key} of folder {folder}"
                ));
            }
            self.devices[index].views.remove(&folder);
            return Ok(());
        }
        let key = answer.child_text(airsync::SYNC_KEY).unwrap_or_default();
        let more = answer.child(airsync::MORE_AVAILABLE).is_some();
        let items: HashSet<i64> = self
            .store
            .items_in_window(self.user, folder, None)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|item| item.id)
            .collect();
        let kind = self.kind(folder);
        let view = self.devices[index].views.entry(folder).or_default();
        view.key = key;
        // The first key brings no items (MS-ASCMD): the device has not caught up yet.
        view.more = more || sent_key == "0";
        view.lost = None;
        // The device's own Adds: the ServerId the server gave each.
        for response in answer
            .child(airsync::RESPONSES)
            .iter()
            .flat_map(|r| r.children_with(airsync::ADD))
        {
            if response.child_text(airsync::STATUS).as_deref() != Some("1") {
                continue;
            }
            let id: i64 = response
                .child_text(airsync::SERVER_ID)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{name}: an Add response without a ServerId"))?;
            self.stats.client_adds += 1;
            let marker = self.marker(folder, id)?;
            let view = self.devices[index].views.entry(folder).or_default();
            if view.held.contains_key(&id) {
                return Err(format!(
                    "{name}: its Add became {id}, which it already holds"
                ));
            }
            view.held.insert(id, marker);
        }
        let view = self.devices[index].views.entry(folder).or_default();
        if let Some(commands) = answer.child(airsync::COMMANDS) {
            for command in commands.elements() {
                let id: i64 = command
                    .child_text(airsync::SERVER_ID)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{name}: a command without a ServerId"))?;
                let what = tag_name(command.tag);
                match command.tag {
                    airsync::ADD => {
                        self.stats.adds += 1;
                        if view.held.contains_key(&id) {
                            return Err(format!(
                                "{name}: Add of {id} in {folder}, which it already holds"
                            ));
                        }
                        if !items.contains(&id) {
                            return Err(format!(
                                "{name}: Add of {id}, which is not in folder {folder}"
                            ));
                        }
                        view.held
                            .insert(id, marker_of(kind, command).unwrap_or_default());
                    }
                    airsync::CHANGE | airsync::DELETE | airsync::SOFT_DELETE => {
                        if !view.held.contains_key(&id) {
                            return Err(format!(
                                "{name}: {what} of {id} in {folder}, which it never had"
                            ));
                        }
                        if command.tag == airsync::CHANGE {
                            self.stats.changes += 1;
                            if let Some(marker) = marker_of(kind, command) {
                                view.held.insert(id, marker);
                            }
                        } else {
                            if command.tag == airsync::DELETE {
                                self.stats.deletes += 1;
                            } else {
                                self.stats.soft_deletes += 1;
                            }
                            view.held.remove(&id);
                        }
                    }
                    other => return Err(format!("{name}: unexpected command {other:?}")),
                }
            }
        }
        self.check_caught_up(index, folder)
    }

    /// A device that caught up holds exactly the folder's items inside its window, each with
    /// the server's read state.
    fn check_caught_up(&mut self, index: usize, folder: FolderId) -> Result<(), Failure> {
        let Some(view) = self.devices[index].views.get(&folder) else {
            return Ok(());
        };
        if view.more || view.lost.is_some() {
            return Ok(());
        }
        self.stats.checks += 1;
        let cutoff = self.cutoff(view.filter);
        let mut expected = BTreeMap::new();
        for item in self
            .store
            .items_in_window(self.user, folder, cutoff)
            .map_err(|e| e.to_string())?
        {
            expected.insert(item.id, self.marker(folder, item.id)?);
        }
        if view.held != expected {
            let name = &self.devices[index].name;
            let lacks: Vec<_> = expected
                .keys()
                .filter(|id| !view.held.contains_key(id))
                .collect();
            let extra: Vec<_> = view
                .held
                .keys()
                .filter(|id| !expected.contains_key(id))
                .collect();
            let stale: Vec<_> = view
                .held
                .iter()
                .filter(|(id, read)| expected.get(id).is_some_and(|r| r != *read))
                .collect();
            return Err(format!(
                "{name} caught up on folder {folder} (filter {}) but lacks {lacks:?}, \
                 still holds {extra:?}, and has a stale state on {stale:?}",
                view.filter
            ));
        }
        Ok(())
    }
}

fn sync_doc(collection: Element) -> Element {
    let mut doc = Element::new(airsync::SYNC);
    doc.push(Element::new(airsync::COLLECTIONS))
        .push(collection);
    doc
}

/// The state marker an Add or Change carries (`None`: the command leaves it alone).
fn marker_of(kind: Kind, command: &Element) -> Option<String> {
    let data = command.child(airsync::APPLICATION_DATA)?;
    match kind {
        Kind::Mail => data
            .child_text(email::READ)
            .map(|text| format!("read={}", u8::from(text.trim() == "1"))),
        // A Change replaces a contact's properties: no JobTitle means none.
        Kind::Contact => Some(data.child_text(contacts::JOB_TITLE).unwrap_or_default()),
    }
}

fn tag_name(tag: Tag) -> &'static str {
    match tag {
        airsync::ADD => "Add",
        airsync::CHANGE => "Change",
        airsync::DELETE => "Delete",
        airsync::SOFT_DELETE => "SoftDelete",
        _ => "command",
    }
}
