//! The item-class interface of Sync: what an item class (Email, Contacts, Tasks, Notes; later
//! Calendar) provides so the generic engine can stream it.
//!
//! A class describes its ApplicationData as a **table of fields** ([`Field`]): the tag, the
//! kind of value, the protocol versions the field exists in, and whether the field is part
//! of a Change the server sends. Kinds include nested groups with their own table
//! (Recurrence), repeated groups (Attendees) and lists (Categories, Children), and the
//! AirSyncBase Body. The class's [`ClassAdapter`] reads an item into a [`Record`] (tag →
//! value) and applies client changes; the engine alone turns records into ApplicationData
//! (in table order, only the fields of the negotiated version) and client ApplicationData
//! back into records, both through [`encode`] and [`decode`].
//!
//! Classes whose items are plain property records (contacts, tasks, notes) need no code of
//! their own beyond their table: [`super::data_class::DataClass`] stores any table's records
//! in the store's neutral property format and applies Supported (ghosting) on Change. Mail
//! is its own adapter ([`super::email`]) over the parsed message store.

use super::collection::Options;
use crate::eas::{CommandError, ProtocolVersion, Request};
use crate::store::{
    ClientAdd, FolderId, FolderType, ItemClass, ItemId, PropertyRecord, Store, StoreError, User,
    UserId,
};
use crate::wbxml::{tag::airsync, tag::airsyncbase, Element, Tag};

/// The kind of value a field holds, which fixes how it is written, read and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// Unix seconds, written `yyyy-mm-ddThh:mm:ss.000Z`.
    Date,
    /// Unix seconds, written in the compact form `yyyymmddThhmmssZ` (calendar items).
    CompactDate,
    Int,
    /// Written `0`/`1`.
    Bool,
    /// Bytes (OPAQUE where libwbxml expects base64, else text).
    Opaque,
    /// Bytes written as base64 text (contacts:Picture).
    Base64,
    /// A list of texts, each in a child element with this tag (e.g. Categories/Category).
    List(Tag),
    /// One nested element whose children are described by their own table (Recurrence).
    Group(&'static [Field]),
    /// A container of repeated elements with this tag, each described by the table
    /// (Attendees/Attendee, Exceptions/Exception).
    Groups(Tag, &'static [Field]),
    /// The AirSyncBase Body (12.0+): a body type and its text, sent with the client's body
    /// preference, truncation and preview (see [`super::body::stored_body`]).
    Body,
    /// A class's own pre-12.0 body element: the same stored body as plain text.
    PlainBody,
    /// An element the adapter builds (and reads) itself: mail's Body, Attachments, Flag.
    Nested,
}

/// One ApplicationData field of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub tag: Tag,
    pub kind: FieldKind,
    /// The first protocol version with this field.
    pub since: ProtocolVersion,
    /// The first protocol version without it (`None`: still there in the newest).
    pub until: Option<ProtocolVersion>,
    /// Sent in server Change commands (the mutable state, e.g. Read and Flag for mail).
    pub in_change: bool,
    /// The name the value is stored under when it is not the tag's own (a field that a
    /// newer protocol version writes under another tag, e.g. 16.x Exception InstanceId for
    /// ExceptionStartTime).
    pub stored_as: Option<&'static str>,
    /// From this protocol version on, clients do not send the field back in a Change (16.x
    /// calendar Exceptions are edited one occurrence at a time): a Change without it keeps it.
    pub kept_from: Option<ProtocolVersion>,
}

impl Field {
    /// A field present from `since` on, not part of Change commands.
    pub const fn new(tag: Tag, kind: FieldKind, since: ProtocolVersion) -> Field {
        Field {
            tag,
            kind,
            since,
            until: None,
            in_change: false,
            stored_as: None,
            kept_from: None,
        }
    }

    /// The same field, stored under `name`.
    pub const fn stored_as(mut self, name: &'static str) -> Field {
        self.stored_as = Some(name);
        self
    }

    /// The same field, kept by a Change without it from `version` on.
    pub const fn kept_from(mut self, version: ProtocolVersion) -> Field {
        self.kept_from = Some(version);
        self
    }

    /// Whether a client of `version` leaves the field out of a Change without meaning to
    /// clear it.
    pub fn kept_in(&self, version: ProtocolVersion) -> bool {
        self.kept_from.is_some_and(|from| version >= from)
    }

    /// The same field, gone from `version` on.
    pub const fn until(mut self, version: ProtocolVersion) -> Field {
        self.until = Some(version);
        self
    }

    /// The same field, also sent in Change commands.
    pub const fn changeable(mut self) -> Field {
        self.in_change = true;
        self
    }

    pub fn exists_in(&self, version: ProtocolVersion) -> bool {
        version >= self.since && self.until.is_none_or(|until| version < until)
    }

    /// The name the field is stored under: its element name (a 2.5 body element and the
    /// AirSyncBase Body share `Body`, so both versions read the same stored body).
    pub fn stored_name(&self) -> &'static str {
        self.stored_as.unwrap_or(self.tag.name())
    }
}

/// A stored body: its AirSyncBase type (1 plain, 2 HTML, 3 RTF) and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyValue {
    pub body_type: u8,
    pub data: String,
}

/// A field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Date(i64),
    Int(i64),
    Bool(bool),
    Opaque(Vec<u8>),
    List(Vec<String>),
    Group(Record),
    Groups(Vec<Record>),
    Body(BodyValue),
    Nested(Element),
}

/// An item's values by tag (what an adapter reads, or what a client sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub values: Vec<(Tag, Value)>,
}

impl Record {
    pub fn set(&mut self, tag: Tag, value: Value) {
        match self.values.iter_mut().find(|(t, _)| *t == tag) {
            Some(slot) => slot.1 = value,
            None => self.values.push((tag, value)),
        }
    }

    pub fn get(&self, tag: Tag) -> Option<&Value> {
        self.values.iter().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }

    pub fn remove(&mut self, tag: Tag) -> Option<Value> {
        let at = self.values.iter().position(|(t, _)| *t == tag)?;
        Some(self.values.remove(at).1)
    }

    /// Like [`Record::remove`], without keeping the order of the rest.
    fn take(&mut self, tag: Tag) -> Option<Value> {
        let at = self.values.iter().position(|(t, _)| *t == tag)?;
        Some(self.values.swap_remove(at).1)
    }
}

/// What the adapter may look at when it reads (or writes) an item.
pub struct ReadContext<'a> {
    pub store: &'a Store,
    pub user: UserId,
    pub version: ProtocolVersion,
    pub options: &'a Options,
    /// The security policy in force (attachments and pictures it withholds are left out).
    pub policy: &'a crate::policy::EffectivePolicy,
}

/// The per-item outcome of a client command (MS-ASCMD Sync Status values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemStatus {
    Success = 1,
    /// The item could not be converted (also: this class does not accept it).
    ConversionError = 6,
    ObjectNotFound = 8,
    /// The server failed the item (a draft that could not be sent); the client may retry.
    ServerError = 5,
    /// The item changed on the server since the client's sync key and the server's version
    /// wins (Conflict 1, the default): the client gets that version among the changes.
    Conflict = 7,
}

impl ItemStatus {
    pub fn code(self) -> String {
        (self as u8).to_string()
    }
}

/// One item class as Sync sees it.
pub trait ClassAdapter {
    /// The class name the Class element carries.
    fn class(&self) -> ItemClass;
    /// The ApplicationData fields, in the order they are written.
    fn fields(&self) -> &'static [Field];
    /// Whether FilterType `filter` is valid for this class.
    fn accepts_filter(&self, filter: u8) -> bool;
    /// The sort date an item must have (or exceed) to be inside FilterType `filter`'s window
    /// at `now`; `None`: every item is inside. Items without a sort date are always inside.
    /// By default a window of days ending now (mail: the received date).
    fn window_cutoff(&self, filter: u8, now: i64) -> Option<i64> {
        super::collection::window_cutoff(filter, now)
    }
    /// The item's values, or `None` when it is gone or not of this class.
    fn read(&self, context: &ReadContext, item: ItemId) -> Result<Option<Record>, StoreError>;
    /// Applies a client Change of the item. `supported` is the collection's Supported list
    /// (`None`: the client did not send one): the properties it manages.
    fn change(
        &self,
        context: &ReadContext,
        item: ItemId,
        values: &Record,
        supported: Option<&[Tag]>,
    ) -> Result<ItemStatus, StoreError>;
    /// Creates an item from a client Add; `Err(status)` when the class does not accept it.
    /// `client_add` (the Add's ClientId) is recorded in the transaction that creates the
    /// item, so a retried Add never makes a second one.
    fn add(
        &self,
        context: &ReadContext,
        folder: FolderId,
        values: &Record,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<ItemId, ItemStatus>, StoreError>;
    /// The class's own handling of client Adds and Changes in folders of `folder_type`
    /// (mail in Drafts), used instead of [`ClassAdapter::add`] and the content part of
    /// [`ClassAdapter::change`]; `None` (the default) for the generic path.
    fn write_hook(&self, _folder_type: FolderType) -> Option<&'static dyn WriteHook> {
        None
    }
    /// Applies a 16.x Change of one occurrence of a recurring item (the Change's
    /// `airsyncbase:InstanceId`, the occurrence's original start); classes without
    /// occurrences refuse it.
    fn change_instance(
        &self,
        _context: &ReadContext,
        _item: ItemId,
        _instance: i64,
        _values: &Record,
    ) -> Result<ItemStatus, StoreError> {
        Ok(ItemStatus::ConversionError)
    }
    /// Deletes one occurrence of a recurring item (a 16.x Delete with an InstanceId).
    fn delete_instance(
        &self,
        _context: &ReadContext,
        _item: ItemId,
        _instance: i64,
    ) -> Result<ItemStatus, StoreError> {
        Ok(ItemStatus::ConversionError)
    }
    /// Whether a server Change of this item carries all its ApplicationData (an edited
    /// draft; every change of a property class), not only the fields marked
    /// [`Field::changeable`].
    fn changes_whole_item(&self, _record: &Record) -> bool {
        false
    }
    /// Whether clients may not send this command (`Add`, `Change`, `Delete`) here (a view
    /// of another class's folder): it is refused and changes nothing (see `client.rs`).
    fn refuses(&self, _command: Tag) -> bool {
        false
    }
    /// Whether a client's successful Change is answered with the item as the server now
    /// has it (a view writes back only what its conversion maps, and shows the result in its
    /// own way), instead of not being echoed.
    fn echoes_changes(&self) -> bool {
        false
    }
    /// Whether `read` may leave out an item that exists (a view shows only items its
    /// conversion can make: a task needs a date to be an event): a held item it no longer
    /// shows is sent as SoftDelete, and GetItemEstimate reads items to count them.
    fn may_hide_items(&self) -> bool {
        false
    }
    /// Whether a client write of this class's items (Add, Change, Delete, one occurrence) by
    /// a phone of `version` is followed by [`ClassAdapter::after_client_write`].
    fn observes_writes(&self, _version: ProtocolVersion) -> bool {
        false
    }
    /// What follows a client's write of `item` inside the write's transaction (`before`: the
    /// item's record before the write; `instance`: the occurrence of a single-occurrence
    /// edit) — the calendar's meeting mail from 16.0.
    fn after_client_write(
        &self,
        _request: &Request,
        _item: ItemId,
        _before: Option<&PropertyRecord>,
        _instance: Option<i64>,
    ) -> Result<(), CommandError> {
        Ok(())
    }
}

/// A class's own handling of client writes in some folders (mail drafts today, meeting
/// requests later): the Sync command asks the class for it ([`ClassAdapter::write_hook`]) and
/// knows nothing of what it does.
pub trait WriteHook: Sync {
    /// Whether the protocol version can write such items at all (others get Status 6).
    fn supported(&self, version: ProtocolVersion) -> bool;
    /// Whether the Add or Change asks for the item to be sent once written.
    fn wants_send(&self, command: &Element) -> bool;
    /// Whether a Change's ApplicationData edits the content (not only the state the class's
    /// own `change` applies).
    fn edits_content(&self, data: &Element) -> bool;
    /// Creates the item from a client Add (its ClientId recorded in the same transaction);
    /// also what the Add's answer carries besides the ServerId.
    fn add(
        &self,
        store: &Store,
        user: &User,
        folder: FolderId,
        data: &Element,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<(ItemId, Option<Element>), ItemStatus>, StoreError>;
    /// Rewrites the item's content from a client Change; what the answer carries.
    fn change(
        &self,
        store: &Store,
        user: &User,
        item: ItemId,
        data: &Element,
    ) -> Result<Result<Option<Element>, ItemStatus>, StoreError>;
    /// Sends the item; `false` when it could not be sent (it stays).
    fn send(&self, request: &Request, item: ItemId) -> Result<bool, CommandError>;
}

/// The adapter of a class, `None` for a class Sync cannot carry items of yet (its folders
/// sync empty and every client Add/Change there gets [`ItemStatus::ConversionError`]).
pub fn adapter_for(class: ItemClass) -> Option<&'static dyn ClassAdapter> {
    match class {
        ItemClass::Email => Some(&super::email::EmailClass),
        ItemClass::Contacts => Some(&super::contacts::CONTACTS),
        ItemClass::Tasks => Some(&super::tasks::TASKS),
        ItemClass::Notes => Some(&super::notes::NOTES),
        ItemClass::Calendar => Some(&super::calendar::CALENDAR),
    }
}

/// The window cutoff of FilterType `filter` at `now` for a class (see
/// [`ClassAdapter::window_cutoff`]); days back from now for a class Sync cannot carry.
pub fn class_window_cutoff(
    adapter: Option<&dyn ClassAdapter>,
    filter: u8,
    now: i64,
) -> Option<i64> {
    match adapter {
        Some(adapter) => adapter.window_cutoff(filter, now),
        None => super::collection::window_cutoff(filter, now),
    }
}

/// Writes ApplicationData from a record: the table's fields of `version`, in table order;
/// with `changes_only` just the fields sent in Change commands. The record is consumed: its
/// texts, bytes and elements (a message body) move into the answer instead of being copied.
pub fn encode(
    fields: &[Field],
    record: Record,
    version: ProtocolVersion,
    changes_only: bool,
) -> Element {
    let mut data = Element::new(airsync::APPLICATION_DATA);
    encode_into(&mut data, fields, record, version, changes_only);
    data
}

fn encode_into(
    data: &mut Element,
    fields: &[Field],
    mut record: Record,
    version: ProtocolVersion,
    changes_only: bool,
) {
    for field in fields {
        if !field.exists_in(version) || (changes_only && !field.in_change) {
            continue;
        }
        let Some(value) = record.take(field.tag) else {
            continue;
        };
        match value {
            Value::Text(text) => {
                data.push_text(field.tag, text);
            }
            Value::Date(unix) if field.kind == FieldKind::CompactDate => {
                data.push_text(field.tag, crate::clock::eas_compact_datetime(unix));
            }
            Value::Date(unix) => {
                data.push_text(field.tag, crate::clock::eas_datetime(unix));
            }
            Value::Int(number) => {
                data.push_text(field.tag, number.to_string());
            }
            Value::Bool(flag) => {
                data.push_text(field.tag, if flag { "1" } else { "0" });
            }
            Value::Opaque(bytes) if field.kind == FieldKind::Base64 => {
                use base64::Engine;
                let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
                data.push_text(field.tag, text);
            }
            Value::Opaque(bytes) => {
                data.push_opaque(field.tag, bytes);
            }
            Value::List(texts) => {
                let FieldKind::List(item_tag) = field.kind else {
                    continue;
                };
                let list = data.push(Element::new(field.tag));
                for text in texts {
                    list.push_text(item_tag, text);
                }
            }
            Value::Group(group) => {
                let FieldKind::Group(inner) = field.kind else {
                    continue;
                };
                let element = data.push(Element::new(field.tag));
                encode_into(element, inner, group, version, false);
            }
            Value::Groups(groups) => {
                let FieldKind::Groups(item_tag, inner) = field.kind else {
                    continue;
                };
                let list = data.push(Element::new(field.tag));
                for group in groups {
                    let element = list.push(Element::new(item_tag));
                    encode_into(element, inner, group, version, false);
                }
            }
            Value::Body(body) if field.kind == FieldKind::PlainBody => {
                data.push_text(field.tag, body.data);
            }
            Value::Body(body) => {
                // Unshaped (no preference known): the whole body in its own type.
                let size = body.data.len().to_string();
                data.push(Element::new(field.tag))
                    .push_text(airsyncbase::TYPE, body.body_type.to_string())
                    .push_text(airsyncbase::ESTIMATED_DATA_SIZE, size)
                    .push_text(airsyncbase::DATA, body.data);
            }
            Value::Nested(element) => {
                data.push(element);
            }
        }
    }
}

/// Reads a client's ApplicationData into a record: only the table's fields of `version`;
/// values that do not parse as their kind are left out.
pub fn decode(fields: &[Field], data: &Element, version: ProtocolVersion) -> Record {
    let mut record = Record::default();
    for field in fields.iter().filter(|f| f.exists_in(version)) {
        let Some(element) = data.child(field.tag) else {
            continue;
        };
        if let Some(value) = decode_value(field, element, version) {
            record.set(field.tag, value);
        }
    }
    record
}

fn decode_value(field: &Field, element: &Element, version: ProtocolVersion) -> Option<Value> {
    let text = || element.text().unwrap_or_default();
    match field.kind {
        FieldKind::Text => Some(Value::Text(text())),
        FieldKind::Date | FieldKind::CompactDate => parse_eas_datetime(&text()).map(Value::Date),
        FieldKind::Int => text().trim().parse().ok().map(Value::Int),
        FieldKind::Bool => match text().trim() {
            "1" => Some(Value::Bool(true)),
            "0" | "" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldKind::Opaque => element.bytes().map(Value::Opaque),
        FieldKind::Base64 => {
            use base64::Engine;
            let compact: String = text().chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .ok()
                .map(Value::Opaque)
        }
        FieldKind::List(item_tag) => Some(Value::List(
            element
                .children_with(item_tag)
                .map(|e| e.text().unwrap_or_default())
                .collect(),
        )),
        FieldKind::Group(inner) => Some(Value::Group(decode(inner, element, version))),
        FieldKind::Groups(item_tag, inner) => Some(Value::Groups(
            element
                .children_with(item_tag)
                .map(|e| decode(inner, e, version))
                .collect(),
        )),
        FieldKind::Body => {
            let body_type = element
                .child_text(airsyncbase::TYPE)
                .and_then(|t| t.trim().parse::<u8>().ok())
                .filter(|t| (1..=3).contains(t))
                .unwrap_or(1);
            let data = element
                .child(airsyncbase::DATA)
                .and_then(|d| d.bytes())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Some(Value::Body(BodyValue { body_type, data }))
        }
        FieldKind::PlainBody => Some(Value::Body(BodyValue {
            body_type: 1,
            data: text(),
        })),
        FieldKind::Nested => Some(Value::Nested(element.clone())),
    }
}

/// Parses MS-ASDTYPE dates (`yyyy-mm-ddThh:mm:ss[.fff]Z`, also the compact
/// `yyyymmddThhmmssZ` of older clients) to Unix seconds.
pub fn parse_eas_datetime(text: &str) -> Option<i64> {
    let digits: String = text
        .trim()
        .split('.')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() != 14 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits[range].parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(8..10)?, number(10..12)?, number(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wbxml::tag::email;

    #[test]
    fn dates_round_trip() {
        for unix in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let text = crate::clock::eas_datetime(unix);
            assert_eq!(parse_eas_datetime(&text), Some(unix), "{text}");
        }
        assert_eq!(parse_eas_datetime("20231114T221320Z"), Some(1_700_000_000));
        assert_eq!(parse_eas_datetime("yesterday"), None);
        assert_eq!(parse_eas_datetime("2023-13-01T00:00:00.000Z"), None);
    }

    #[test]
    fn repeated_groups_encode_and_decode_with_their_own_table() {
        use crate::wbxml::tag::tasks;
        const INNER: &[Field] = &[
            Field::new(tasks::SUBJECT, FieldKind::Text, ProtocolVersion::V2_5),
            Field::new(tasks::START, FieldKind::Date, ProtocolVersion::V2_5),
            Field::new(
                tasks::FIRST_DAY_OF_WEEK,
                FieldKind::Int,
                ProtocolVersion::V14_1,
            ),
        ];
        const FIELDS: &[Field] = &[Field::new(
            tasks::CATEGORIES,
            FieldKind::Groups(tasks::RECURRENCE, INNER),
            ProtocolVersion::V2_5,
        )];
        let entry = |subject: &str| {
            let mut group = Record::default();
            group.set(tasks::SUBJECT, Value::Text(subject.into()));
            group.set(tasks::START, Value::Date(1_700_000_000));
            group.set(tasks::FIRST_DAY_OF_WEEK, Value::Int(1));
            group
        };
        let mut record = Record::default();
        record.set(
            tasks::CATEGORIES,
            Value::Groups(vec![entry("one"), entry("two")]),
        );
        let wire = encode(FIELDS, record.clone(), ProtocolVersion::V16_1, false);
        let list = wire.child(tasks::CATEGORIES).unwrap();
        assert_eq!(list.children_with(tasks::RECURRENCE).count(), 2);
        assert_eq!(decode(FIELDS, &wire, ProtocolVersion::V16_1), record);
        // An older version writes and reads each entry without the newer field.
        let old = encode(FIELDS, record.clone(), ProtocolVersion::V14_0, false);
        let first = old
            .child(tasks::CATEGORIES)
            .unwrap()
            .child(tasks::RECURRENCE);
        assert!(first.unwrap().child(tasks::FIRST_DAY_OF_WEEK).is_none());
    }

    #[test]
    fn encoding_follows_the_table_and_the_version() {
        const FIELDS: &[Field] = &[
            Field::new(email::SUBJECT, FieldKind::Text, ProtocolVersion::V2_5),
            Field::new(email::READ, FieldKind::Bool, ProtocolVersion::V2_5).changeable(),
            Field::new(
                email::CATEGORIES,
                FieldKind::List(email::CATEGORY),
                ProtocolVersion::V14_0,
            ),
            Field::new(email::BODY, FieldKind::Text, ProtocolVersion::V2_5)
                .until(ProtocolVersion::V12_0),
        ];
        let mut record = Record::default();
        record.set(email::READ, Value::Bool(true));
        record.set(email::SUBJECT, Value::Text("Hi".into()));
        record.set(email::CATEGORIES, Value::List(vec!["Red".into()]));
        record.set(email::BODY, Value::Text("old body".into()));

        let new = encode(FIELDS, record.clone(), ProtocolVersion::V16_1, false);
        let tags: Vec<Tag> = new.elements().map(|e| e.tag).collect();
        assert_eq!(tags, [email::SUBJECT, email::READ, email::CATEGORIES]);
        let old = encode(FIELDS, record.clone(), ProtocolVersion::V2_5, false);
        let tags: Vec<Tag> = old.elements().map(|e| e.tag).collect();
        assert_eq!(tags, [email::SUBJECT, email::READ, email::BODY]);
        let change = encode(FIELDS, record.clone(), ProtocolVersion::V16_1, true);
        assert_eq!(change.child_text(email::READ).as_deref(), Some("1"));
        assert!(change.child(email::SUBJECT).is_none());

        let back = decode(FIELDS, &new, ProtocolVersion::V16_1);
        assert_eq!(back.get(email::READ), Some(&Value::Bool(true)));
        assert_eq!(
            back.get(email::CATEGORIES),
            Some(&Value::List(vec!["Red".into()]))
        );
        assert_eq!(back.get(email::BODY), None);
    }
}
