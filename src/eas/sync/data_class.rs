//! The one adapter of every property class (contacts, tasks, notes; calendar later): a
//! [`DataClass`] is a field table plus a few rules given as data (which FilterTypes it takes,
//! which date puts an item inside a window, the values the server fills in), and stores each
//! item as a neutral property record (`store::records`), named by the table.
//!
//! Writes follow the class semantics of MS-ASCMD: an Add stores what the client sent; a Change
//! **replaces** the item's properties the client manages — every field of its protocol
//! version, or only those it listed in `Supported` when it sent that list — so a property it
//! left out is cleared, while properties it does not manage (ghosted ones, and those of newer
//! protocol versions than its own) keep their stored values. A body is never cleared by being
//! left out (clients leave out bodies they hold truncated). Binary properties (a contact's
//! Picture) count as attachments for the security policy: one larger than the policy allows
//! is not sent, and one larger than the class's limit is refused (Status 6).

use super::body;
use super::class::{
    BodyValue, ClassAdapter, Field, FieldKind, ItemStatus, ReadContext, Record, Value,
};
use crate::store::{
    ClientAdd, FolderId, ItemClass, ItemId, NewRecordItem, Property, PropertyRecord, StoreError,
};
use crate::wbxml::Tag;

/// A property class.
pub struct DataClass {
    pub class: ItemClass,
    pub fields: &'static [Field],
    /// The FilterType values the class takes.
    pub filters: &'static [u8],
    /// The cutoff of FilterType `filter`'s window at `now` (see
    /// [`ClassAdapter::window_cutoff`]).
    pub cutoff: fn(filter: u8, now: i64) -> Option<i64>,
    /// The date compared with the cutoff (`None`: inside every window).
    pub sort_date: fn(&PropertyRecord) -> Option<i64>,
    /// Fills in what the server keeps (defaults, modification dates) before each write.
    pub prepare: fn(&mut PropertyRecord, now: i64),
    /// Largest binary property the class takes (bytes), e.g. 36 KB for Picture (MS-ASCNTC:
    /// 48 KB of base64).
    pub max_binary: usize,
    /// Adjusts a record a client Change made from the record before it (a calendar series
    /// whose recurrence changed loses the exceptions the client did not resend).
    pub revise: fn(before: &PropertyRecord, after: &mut PropertyRecord),
}

/// Changes keep nothing of the record before them beyond what the table says.
pub fn unrevised(_before: &PropertyRecord, _after: &mut PropertyRecord) {}

/// No window: every item is inside (contacts, notes).
pub fn no_window(_filter: u8, _now: i64) -> Option<i64> {
    None
}

/// Items without a date.
pub fn undated(_record: &PropertyRecord) -> Option<i64> {
    None
}

/// Nothing to fill in.
pub fn as_sent(_record: &mut PropertyRecord, _now: i64) {}

/// The stored form of a record: one property per field that has a value (empty texts and
/// lists are no value), named by [`Field::stored_name`].
pub fn to_properties(fields: &[Field], record: &Record) -> PropertyRecord {
    let mut properties = PropertyRecord::default();
    for field in fields {
        let Some(value) = record.get(field.tag) else {
            continue;
        };
        if let Some(property) = to_property(field, value) {
            properties.set(field.stored_name(), property);
        }
    }
    properties
}

fn to_property(field: &Field, value: &Value) -> Option<Property> {
    Some(match value {
        Value::Text(text) if text.is_empty() => return None,
        Value::Text(text) => Property::Text(text.clone()),
        Value::Date(n) | Value::Int(n) => Property::Int(*n),
        Value::Bool(flag) => Property::Int(i64::from(*flag)),
        Value::Opaque(bytes) if bytes.is_empty() => return None,
        Value::Opaque(bytes) => Property::Bytes(bytes.clone()),
        Value::List(texts) if texts.iter().all(String::is_empty) => return None,
        Value::List(texts) => Property::List(texts.clone()),
        Value::Group(group) => {
            let FieldKind::Group(inner) = field.kind else {
                return None;
            };
            Property::Group(to_properties(inner, group))
        }
        Value::Groups(groups) => {
            let FieldKind::Groups(_, inner) = field.kind else {
                return None;
            };
            Property::Groups(groups.iter().map(|g| to_properties(inner, g)).collect())
        }
        Value::Body(body) => {
            let mut group = PropertyRecord::default();
            group.set("Type", Property::Int(body.body_type.into()));
            group.set("Data", Property::Text(body.data.clone()));
            Property::Group(group)
        }
        // Adapter-built elements have no stored form.
        Value::Nested(_) => return None,
    })
}

/// A stored record as values of the table's fields (each field whose stored property has
/// the right form).
pub fn from_properties(fields: &[Field], properties: &PropertyRecord) -> Record {
    let mut record = Record::default();
    for field in fields {
        let Some(property) = properties.get(field.stored_name()) else {
            continue;
        };
        if let Some(value) = from_property(field, property) {
            record.set(field.tag, value);
        }
    }
    record
}

fn from_property(field: &Field, property: &Property) -> Option<Value> {
    Some(match (field.kind, property) {
        (FieldKind::Text, Property::Text(text)) => Value::Text(text.clone()),
        (FieldKind::Date | FieldKind::CompactDate, Property::Int(n)) => Value::Date(*n),
        // A field that is a text in one protocol version and a group in another (calendar
        // Location: 16.x AirSyncBase Location) reads the other form: the group's first text
        // is the text, and a text fills the group's first text field.
        (FieldKind::Text, Property::Group(group)) => {
            let first = group.properties.iter().find_map(|(_, p)| match p {
                Property::Text(text) => Some(text.clone()),
                _ => None,
            })?;
            Value::Text(first)
        }
        (FieldKind::Group(inner), Property::Text(text)) => {
            let first = inner.iter().find(|f| f.kind == FieldKind::Text)?;
            let mut group = Record::default();
            group.set(first.tag, Value::Text(text.clone()));
            Value::Group(group)
        }
        (FieldKind::Int, Property::Int(n)) => Value::Int(*n),
        (FieldKind::Bool, Property::Int(n)) => Value::Bool(*n != 0),
        (FieldKind::Opaque | FieldKind::Base64, Property::Bytes(bytes)) => {
            Value::Opaque(bytes.clone())
        }
        (FieldKind::List(_), Property::List(texts)) => Value::List(texts.clone()),
        (FieldKind::Group(inner), Property::Group(group)) => {
            Value::Group(from_properties(inner, group))
        }
        (FieldKind::Groups(_, inner), Property::Groups(groups)) => Value::Groups(
            groups
                .iter()
                .map(|group| from_properties(inner, group))
                .collect(),
        ),
        (FieldKind::Body | FieldKind::PlainBody, Property::Group(group)) => {
            Value::Body(BodyValue {
                body_type: group
                    .int("Type")
                    .and_then(|t| u8::try_from(t).ok())
                    .unwrap_or(1),
                data: group.text("Data").unwrap_or_default().to_string(),
            })
        }
        _ => return None,
    })
}

/// A nested group the client replaced keeps the members its protocol version does not know
/// (a 12.1 phone's Recurrence keeps the 14.1 FirstDayOfWeek another phone set).
fn keep_unknown_members(
    field: &Field,
    before: Option<&Property>,
    sent: &Property,
    version: crate::eas::ProtocolVersion,
) -> Property {
    let (FieldKind::Group(inner), Some(Property::Group(old)), Property::Group(new)) =
        (field.kind, before, sent)
    else {
        return sent.clone();
    };
    let mut merged = new.clone();
    for member in inner.iter().filter(|m| !m.exists_in(version)) {
        let name = member.stored_name();
        if let (None, Some(value)) = (merged.get(name), old.get(name)) {
            merged.set(name, value.clone());
        }
    }
    Property::Group(merged)
}

impl DataClass {
    /// Whether every binary property fits the class's limit and the policy's attachment cap.
    fn binaries_fit(&self, properties: &PropertyRecord, context: &ReadContext) -> bool {
        self.fields
            .iter()
            .all(|field| match properties.get(field.stored_name()) {
                Some(Property::Bytes(bytes)) => {
                    bytes.len() <= self.max_binary
                        && context.policy.allows_attachment(bytes.len() as u64)
                }
                _ => true,
            })
    }

    /// Checks, completes and files a record: the sort date and what the server fills in.
    fn finish(&self, properties: &mut PropertyRecord) -> Option<i64> {
        (self.prepare)(properties, crate::store::now());
        (self.sort_date)(properties)
    }

    /// Checks and files a changed record of `item` as one change of its folder.
    fn file(
        &self,
        context: &ReadContext,
        item: ItemId,
        mut properties: PropertyRecord,
    ) -> Result<ItemStatus, StoreError> {
        if !self.binaries_fit(&properties, context) {
            return Ok(ItemStatus::ConversionError);
        }
        let sort_date = self.finish(&mut properties);
        match context
            .store
            .replace_record(context.user, item, sort_date, &properties)
        {
            Ok(_) => Ok(ItemStatus::Success),
            Err(StoreError::NotFound(_)) => Ok(ItemStatus::ObjectNotFound),
            Err(StoreError::Invalid(_)) => Ok(ItemStatus::ConversionError),
            Err(e) => Err(e),
        }
    }

    /// Edits the stored record of `item` with `edit` (which may refuse with a status) and
    /// files the result: a class's own writes beyond Add and Change (one occurrence of a
    /// series).
    pub fn rewrite(
        &self,
        context: &ReadContext,
        item: ItemId,
        edit: impl FnOnce(&mut PropertyRecord) -> Result<(), ItemStatus>,
    ) -> Result<ItemStatus, StoreError> {
        let Some(mut properties) = self.stored(context, item)? else {
            return Ok(ItemStatus::ObjectNotFound);
        };
        if let Err(status) = edit(&mut properties) {
            return Ok(status);
        }
        self.file(context, item, properties)
    }

    /// A stored record as this client gets it: bodies shaped by its preferences, binaries
    /// the policy withholds left out (also what a view of another class presents).
    pub fn present(&self, context: &ReadContext, properties: &PropertyRecord) -> Record {
        let mut record = from_properties(self.fields, properties);
        // Shape what depends on the client: bodies by its preferences, binaries by the policy.
        for field in self.fields {
            let shaped = match (field.kind, record.get(field.tag)) {
                (FieldKind::Body, Some(Value::Body(stored))) => Some(Value::Nested(
                    body::stored_body(stored, context.options, context.version),
                )),
                (FieldKind::PlainBody, Some(Value::Body(stored))) => Some(Value::Body(BodyValue {
                    body_type: 1,
                    data: body::stored_plain_body(stored, context.options),
                })),
                (FieldKind::Base64, Some(Value::Opaque(bytes)))
                    if !context.policy.allows_attachment(bytes.len() as u64) =>
                {
                    record.remove(field.tag);
                    None
                }
                _ => None,
            };
            if let Some(value) = shaped {
                record.set(field.tag, value);
            }
        }
        record
    }

    /// The record of `item`, `None` when it is gone or of another class.
    fn stored(
        &self,
        context: &ReadContext,
        item: ItemId,
    ) -> Result<Option<PropertyRecord>, StoreError> {
        context
            .store
            .record_of_class(context.user, item, self.class)
    }
}

impl ClassAdapter for DataClass {
    fn class(&self) -> ItemClass {
        self.class
    }

    fn fields(&self) -> &'static [Field] {
        self.fields
    }

    fn accepts_filter(&self, filter: u8) -> bool {
        self.filters.contains(&filter)
    }

    fn window_cutoff(&self, filter: u8, now: i64) -> Option<i64> {
        (self.cutoff)(filter, now)
    }

    fn read(&self, context: &ReadContext, item: ItemId) -> Result<Option<Record>, StoreError> {
        let Some(properties) = self.stored(context, item)? else {
            return Ok(None);
        };
        Ok(Some(self.present(context, &properties)))
    }

    fn change(
        &self,
        context: &ReadContext,
        item: ItemId,
        values: &Record,
        supported: Option<&[Tag]>,
    ) -> Result<ItemStatus, StoreError> {
        let Some(before) = self.stored(context, item)? else {
            return Ok(ItemStatus::ObjectNotFound);
        };
        let mut properties = before.clone();
        let sent = to_properties(self.fields, values);
        for field in self.fields {
            let name = field.stored_name();
            if let Some(value) = sent.get(name) {
                let value = keep_unknown_members(field, before.get(name), value, context.version);
                properties.set(name, value);
                continue;
            }
            let managed = field.exists_in(context.version)
                && !field.kept_in(context.version)
                && supported.is_none_or(|tags| tags.contains(&field.tag))
                && !matches!(field.kind, FieldKind::Body | FieldKind::PlainBody);
            // A field of another version sharing this name may have been sent.
            let sent_under_name = self
                .fields
                .iter()
                .any(|f| f.stored_name() == name && values.get(f.tag).is_some());
            if managed && !sent_under_name {
                properties.remove(name);
            }
        }
        (self.revise)(&before, &mut properties);
        self.file(context, item, properties)
    }

    fn add(
        &self,
        context: &ReadContext,
        folder: FolderId,
        values: &Record,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<ItemId, ItemStatus>, StoreError> {
        let mut properties = to_properties(self.fields, values);
        if !self.binaries_fit(&properties, context) {
            return Ok(Err(ItemStatus::ConversionError));
        }
        let sort_date = self.finish(&mut properties);
        let new = NewRecordItem {
            class: self.class,
            sort_date,
            record: &properties,
        };
        match context
            .store
            .add_record_item(context.user, folder, &new, client_add)
        {
            Ok(id) => Ok(Ok(id)),
            Err(StoreError::Invalid(_)) => Ok(Err(ItemStatus::ConversionError)),
            Err(e) => Err(e),
        }
    }

    fn changes_whole_item(&self, _record: &Record) -> bool {
        // A Change replaces the item's properties: other devices get all of them.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eas::ProtocolVersion::{V12_0, V14_0, V16_1, V2_5};
    use crate::wbxml::tag::{airsyncbase, contacts, tasks};

    static RECURRENCE: &[Field] = &[
        Field::new(tasks::TYPE, FieldKind::Int, V2_5),
        Field::new(tasks::DAY_OF_WEEK, FieldKind::Int, V2_5),
    ];
    static FIELDS: &[Field] = &[
        Field::new(contacts::FILE_AS, FieldKind::Text, V2_5),
        Field::new(contacts::BODY, FieldKind::PlainBody, V2_5).until(V12_0),
        Field::new(airsyncbase::BODY, FieldKind::Body, V12_0),
        Field::new(contacts::PICTURE, FieldKind::Base64, V2_5),
        Field::new(contacts::CHILDREN, FieldKind::List(contacts::CHILD), V2_5),
        Field::new(tasks::RECURRENCE, FieldKind::Group(RECURRENCE), V2_5),
        Field::new(contacts::ALIAS, FieldKind::Text, V14_0),
    ];

    #[test]
    fn pictures_obey_the_class_limit_and_the_policy() {
        use crate::policy::{EffectivePolicy, Source};
        use crate::store::{FolderType, Store};
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("a@example.com", "", "pw").unwrap().id;
        let folder = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Contacts)
            .unwrap()
            .id;
        let options = crate::eas::sync::collection::Options::default();
        let open = EffectivePolicy::default();
        let capped = EffectivePolicy::resolve(&[(
            Source::Global,
            vec![("MaxAttachmentSize".into(), "100".into())],
        )]);
        let context = |policy| ReadContext {
            store: &store,
            user,
            version: V16_1,
            options: &options,
            policy,
        };
        let class = &crate::eas::sync::contacts::CONTACTS;
        let with_picture = |bytes: usize| {
            let mut record = Record::default();
            record.set(contacts::FILE_AS, Value::Text("P".into()));
            record.set(contacts::PICTURE, Value::Opaque(vec![1; bytes]));
            record
        };
        let limit = crate::eas::sync::contacts::MAX_PICTURE_BYTES;
        let refused = class.add(&context(&open), folder, &with_picture(limit + 1), None);
        assert_eq!(refused.unwrap(), Err(ItemStatus::ConversionError));
        let id = class
            .add(&context(&open), folder, &with_picture(500), None)
            .unwrap()
            .unwrap();
        // Under a 100-byte attachment cap the picture is not sent; the contact is.
        let read = class.read(&context(&capped), id).unwrap().unwrap();
        assert!(read.get(contacts::PICTURE).is_none());
        assert!(read.get(contacts::FILE_AS).is_some());
        let read = class.read(&context(&open), id).unwrap().unwrap();
        assert!(read.get(contacts::PICTURE).is_some());
    }

    #[test]
    fn wire_records_and_stored_records_convert_both_ways() {
        let mut recurrence = Record::default();
        recurrence.set(tasks::TYPE, Value::Int(1));
        recurrence.set(tasks::DAY_OF_WEEK, Value::Int(4));
        let mut record = Record::default();
        record.set(contacts::FILE_AS, Value::Text("Doe, Jo".into()));
        record.set(
            airsyncbase::BODY,
            Value::Body(BodyValue {
                body_type: 1,
                data: "note".into(),
            }),
        );
        record.set(contacts::PICTURE, Value::Opaque(vec![1, 2, 3]));
        record.set(contacts::CHILDREN, Value::List(vec!["Ann".into()]));
        record.set(tasks::RECURRENCE, Value::Group(recurrence));
        record.set(contacts::ALIAS, Value::Text("jo".into()));

        let wire = crate::eas::sync::class::encode(FIELDS, record.clone(), V16_1, false);
        let decoded = crate::eas::sync::class::decode(FIELDS, &wire, V16_1);
        let stored = to_properties(FIELDS, &decoded);
        assert_eq!(stored, to_properties(FIELDS, &record));
        let back = from_properties(FIELDS, &stored);
        for (tag, value) in &record.values {
            assert_eq!(back.get(*tag), Some(value), "{tag:?}");
        }
        // A 2.5 client reads the same body from its own element and no 14.0 field.
        let old = crate::eas::sync::class::encode(FIELDS, back.clone(), V2_5, false);
        assert_eq!(old.child_text(contacts::BODY).as_deref(), Some("note"));
        assert!(old.child(airsyncbase::BODY).is_none() && old.child(contacts::ALIAS).is_none());
        let picture = old.child_text(contacts::PICTURE).unwrap();
        assert_eq!(picture, "AQID");
    }
}
