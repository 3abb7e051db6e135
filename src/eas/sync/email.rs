//! The Email class of Sync (MS-ASEMAIL): its field table, reading a stored message into a
//! record (headers, state, conversation, attachments and the body of MS-ASAIRS), and the
//! client changes mail accepts (Read, Flag, Categories). Mail Adds are only meaningful for
//! drafts (16.x): the class hands writes in Drafts to [`super::drafts`] (its write hook);
//! anywhere else they are answered with a conversion error. In 16.x every message says whether it is a draft (email2:IsDraft), and a
//! draft also carries its Bcc.

use super::body;
use super::class::{
    ClassAdapter, Field, FieldKind, ItemStatus, ReadContext, Record, Value, WriteHook,
};
use crate::eas::ProtocolVersion::{V12_0, V14_0, V16_0, V2_5};
use crate::store::mail::{Flag, FlagStatus};
use crate::store::{ClientAdd, FolderId, FolderType, ItemClass, ItemId, MessageChange, StoreError};
use crate::wbxml::tag::{airsyncbase as base, email, email2, tasks};
use crate::wbxml::{Element, Tag};

use FieldKind::{Bool, Date, Int, List, Nested, Opaque, Text};

/// Email ApplicationData, in the order Exchange writes it.
static FIELDS: &[Field] = &[
    Field::new(email::TO, Text, V2_5),
    Field::new(email::CC, Text, V2_5),
    Field::new(email::FROM, Text, V2_5),
    Field::new(email::SUBJECT, Text, V2_5),
    Field::new(email::REPLY_TO, Text, V2_5),
    Field::new(email::DATE_RECEIVED, Date, V2_5),
    Field::new(email::DISPLAY_TO, Text, V2_5),
    Field::new(email::THREAD_TOPIC, Text, V2_5),
    Field::new(email::IMPORTANCE, Int, V2_5),
    Field::new(email::READ, Bool, V2_5).changeable(),
    Field::new(email::ATTACHMENTS, Nested, V2_5).until(V12_0),
    Field::new(email::MIME_TRUNCATED, Nested, V2_5).until(V12_0),
    Field::new(email::MIME_DATA, Nested, V2_5).until(V12_0),
    Field::new(email::MIME_SIZE, Nested, V2_5).until(V12_0),
    Field::new(email::BODY, Nested, V2_5).until(V12_0),
    Field::new(email::BODY_TRUNCATED, Nested, V2_5).until(V12_0),
    Field::new(base::ATTACHMENTS, Nested, V12_0),
    Field::new(base::BODY, Nested, V12_0),
    Field::new(email::MESSAGE_CLASS, Text, V2_5),
    Field::new(email::MEETING_REQUEST, Nested, V2_5),
    Field::new(email::INTERNET_CPID, Int, V12_0),
    Field::new(email::FLAG, Nested, V12_0).changeable(),
    Field::new(email::CONTENT_CLASS, Text, V12_0),
    Field::new(base::NATIVE_BODY_TYPE, Int, V12_0),
    Field::new(email::CATEGORIES, List(email::CATEGORY), V14_0).changeable(),
    Field::new(email2::CONVERSATION_ID, Opaque, V14_0),
    Field::new(email2::CONVERSATION_INDEX, Opaque, V14_0),
    Field::new(email2::LAST_VERB_EXECUTED, Int, V14_0).changeable(),
    Field::new(email2::LAST_VERB_EXECUTION_TIME, Date, V14_0).changeable(),
    Field::new(email2::RECEIVED_AS_BCC, Bool, V14_0),
    Field::new(email2::SENDER, Text, V14_0),
    Field::new(email2::IS_DRAFT, Bool, V16_0),
    Field::new(email2::BCC, Text, V16_0),
];

/// The Email class adapter.
pub struct EmailClass;

impl ClassAdapter for EmailClass {
    fn class(&self) -> ItemClass {
        ItemClass::Email
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn accepts_filter(&self, filter: u8) -> bool {
        filter <= 5
    }

    fn read(&self, context: &ReadContext, item: ItemId) -> Result<Option<Record>, StoreError> {
        let (store, user) = (context.store, context.user);
        let Some(message) = store.message(user, item)? else {
            return Ok(None);
        };
        let mut record = Record::default();
        let text = |s: &str| Value::Text(s.to_string());
        record.set(email::TO, text(&message.to));
        if !message.cc.is_empty() {
            record.set(email::CC, text(&message.cc));
        }
        record.set(email::FROM, text(&message.from));
        record.set(email::SUBJECT, text(&message.subject));
        if !message.reply_to.is_empty() {
            record.set(email::REPLY_TO, text(&message.reply_to));
        }
        record.set(email::DATE_RECEIVED, Value::Date(message.date_received));
        record.set(email::DISPLAY_TO, text(&message.display_to));
        record.set(
            email::THREAD_TOPIC,
            text(crate::mime::conversation::normalized_subject(
                &message.subject,
            )),
        );
        record.set(
            email::IMPORTANCE,
            Value::Int(message.importance.as_u8().into()),
        );
        record.set(email::READ, Value::Bool(message.read));
        record.set(email::MESSAGE_CLASS, text(&message.message_class));
        if super::meeting_request::carries_meeting(&message.message_class) {
            if let Some(meeting) =
                super::meeting_request::element(store, user, item, context.version)?
            {
                record.set(email::MEETING_REQUEST, Value::Nested(meeting));
            }
        }
        record.set(
            email::INTERNET_CPID,
            Value::Int(message.internet_cpid.into()),
        );
        record.set(email::FLAG, Value::Nested(flag_element(&message.flag)));
        record.set(email::CONTENT_CLASS, text(&message.content_class));
        record.set(
            base::NATIVE_BODY_TYPE,
            Value::Int(message.native_body_type as i64),
        );
        record.set(email::CATEGORIES, Value::List(message.categories.clone()));
        record.set(
            email2::CONVERSATION_ID,
            Value::Opaque(message.conversation_id.clone()),
        );
        record.set(
            email2::CONVERSATION_INDEX,
            Value::Opaque(message.eas_conversation_index()),
        );
        if let (Some(verb), Some(time)) = (message.last_verb, message.last_verb_time) {
            record.set(email2::LAST_VERB_EXECUTED, Value::Int(verb.as_u8().into()));
            record.set(email2::LAST_VERB_EXECUTION_TIME, Value::Date(time));
        }
        record.set(
            email2::RECEIVED_AS_BCC,
            Value::Bool(message.received_as_bcc),
        );
        if !message.sender.is_empty() && message.sender != message.from {
            record.set(email2::SENDER, text(&message.sender));
        }
        let is_draft = store
            .folder(user, message.folder_id)?
            .is_some_and(|f| f.folder_type == FolderType::Drafts);
        record.set(email2::IS_DRAFT, Value::Bool(is_draft));
        if is_draft && context.version >= V16_0 {
            let bcc = super::drafts::stored_bcc(store, user, item)?;
            if !bcc.is_empty() {
                record.set(email2::BCC, Value::Text(bcc));
            }
        }

        // Attachments the security policy withholds are not announced at all.
        let attachments: Vec<_> = store
            .message_attachments(user, item)?
            .into_iter()
            .filter(|a| context.policy.allows_attachment(a.part.size))
            .collect();
        if context.version >= V12_0 {
            record.set(
                base::BODY,
                Value::Nested(body::airsyncbase_body(
                    store,
                    user,
                    &message,
                    context.options,
                    context.version,
                )?),
            );
            if !attachments.is_empty() {
                let mut list = Element::new(base::ATTACHMENTS);
                for attachment in &attachments {
                    let part = &attachment.part;
                    let entry = list.push(Element::new(base::ATTACHMENT));
                    entry
                        .push_text(base::DISPLAY_NAME, part.display_name.clone())
                        .push_text(
                            base::FILE_REFERENCE,
                            format!("{item}:{}", attachment.position),
                        )
                        .push_text(base::METHOD, part.method.as_u8().to_string())
                        .push_text(base::ESTIMATED_DATA_SIZE, part.size.to_string());
                    if let Some(id) = &part.content_id {
                        entry.push_text(base::CONTENT_ID, id.clone());
                    }
                    if let Some(location) = &part.content_location {
                        entry.push_text(base::CONTENT_LOCATION, location.clone());
                    }
                    if part.is_inline {
                        entry.push_text(base::IS_INLINE, "1");
                    }
                }
                record.set(base::ATTACHMENTS, Value::Nested(list));
            }
        } else {
            for element in body::protocol_2_5_body(store, user, &message, context.options)? {
                record.set(element.tag, Value::Nested(element));
            }
            if !attachments.is_empty() {
                let mut list = Element::new(email::ATTACHMENTS);
                for attachment in &attachments {
                    let part = &attachment.part;
                    list.push(Element::new(email::ATTACHMENT))
                        .push_text(email::ATT_NAME, format!("{item}:{}", attachment.position))
                        .push_text(email::ATT_SIZE, part.size.to_string())
                        .push_text(email::ATT_METHOD, part.method.as_u8().to_string())
                        .push_text(email::DISPLAY_NAME, part.display_name.clone());
                }
                record.set(email::ATTACHMENTS, Value::Nested(list));
            }
        }
        Ok(Some(record))
    }

    fn change(
        &self,
        context: &ReadContext,
        item: ItemId,
        values: &Record,
        _supported: Option<&[Tag]>,
    ) -> Result<ItemStatus, StoreError> {
        // Mail keeps patch semantics: only the state the client sent changes.
        let (store, user) = (context.store, context.user);
        if store.message(user, item)?.is_none() {
            return Ok(ItemStatus::ObjectNotFound);
        }
        let mut change = MessageChange::default();
        if let Some(Value::Bool(read)) = values.get(email::READ) {
            change.read = Some(*read);
        }
        if let Some(Value::Nested(flag)) = values.get(email::FLAG) {
            change.flag = Some(parse_flag(flag));
        }
        if let Some(Value::List(categories)) = values.get(email::CATEGORIES) {
            change.categories = Some(categories.clone());
        }
        match store.change_message(user, item, &change) {
            Ok(_) => Ok(ItemStatus::Success),
            Err(StoreError::NotFound(_)) => Ok(ItemStatus::ObjectNotFound),
            // Too many or too long categories: the client's data cannot be stored.
            Err(StoreError::Invalid(_)) => Ok(ItemStatus::ConversionError),
            Err(e) => Err(e),
        }
    }

    fn add(
        &self,
        _context: &ReadContext,
        _folder: FolderId,
        _values: &Record,
        _client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<ItemId, ItemStatus>, StoreError> {
        // Only drafts may be added as mail (16.x); those are built by super::drafts, so an
        // Add that reaches here is outside Drafts or in an older version.
        Ok(Err(ItemStatus::ConversionError))
    }

    fn write_hook(&self, folder_type: FolderType) -> Option<&'static dyn WriteHook> {
        // Mail written in Drafts is a draft (16.x): built as a message, perhaps sent.
        (folder_type == FolderType::Drafts).then_some(&super::drafts::DRAFTS)
    }

    fn changes_whole_item(&self, record: &Record) -> bool {
        // An edited draft changes more than its state: other devices get all of it.
        record.get(email2::IS_DRAFT) == Some(&Value::Bool(true))
    }
}

/// The Flag element: empty when the message is not flagged.
fn flag_element(flag: &Flag) -> Element {
    let mut element = Element::new(email::FLAG);
    if flag.status == FlagStatus::Cleared {
        return element;
    }
    let date = |unix: i64| crate::clock::eas_datetime(unix);
    element.push_text(email::STATUS, flag.status.as_u8().to_string());
    if let Some(flag_type) = &flag.flag_type {
        element.push_text(email::FLAG_TYPE, flag_type.clone());
    }
    if let Some(subject) = &flag.subject {
        element.push_text(tasks::SUBJECT, subject.clone());
    }
    let dates = [
        (tasks::START_DATE, flag.start_date),
        (tasks::UTC_START_DATE, flag.utc_start_date),
        (tasks::DUE_DATE, flag.due_date),
        (tasks::UTC_DUE_DATE, flag.utc_due_date),
    ];
    for (tag, value) in dates {
        if let Some(unix) = value {
            element.push_text(tag, date(unix));
        }
    }
    element.push_text(
        tasks::REMINDER_SET,
        if flag.reminder_set { "1" } else { "0" },
    );
    if let Some(unix) = flag.reminder_time {
        element.push_text(tasks::REMINDER_TIME, date(unix));
    }
    if let Some(unix) = flag.ordinal_date {
        element.push_text(tasks::ORDINAL_DATE, date(unix));
    }
    if let Some(sub) = &flag.sub_ordinal_date {
        element.push_text(tasks::SUB_ORDINAL_DATE, sub.clone());
    }
    if let Some(unix) = flag.complete_time {
        element.push_text(email::COMPLETE_TIME, date(unix));
    }
    if let Some(unix) = flag.date_completed {
        element.push_text(tasks::DATE_COMPLETED, date(unix));
    }
    element
}

/// A client's Flag element; an empty one clears the flag.
fn parse_flag(element: &Element) -> Flag {
    let text = |tag| element.child_text(tag);
    let date = |tag| text(tag).and_then(|t| super::class::parse_eas_datetime(&t));
    let Some(status) = text(email::STATUS).and_then(|s| s.trim().parse::<u8>().ok()) else {
        return Flag::default();
    };
    Flag {
        status: FlagStatus::from_u8(status),
        flag_type: text(email::FLAG_TYPE),
        subject: text(tasks::SUBJECT),
        start_date: date(tasks::START_DATE),
        utc_start_date: date(tasks::UTC_START_DATE),
        due_date: date(tasks::DUE_DATE),
        utc_due_date: date(tasks::UTC_DUE_DATE),
        date_completed: date(tasks::DATE_COMPLETED),
        complete_time: date(email::COMPLETE_TIME),
        reminder_set: text(tasks::REMINDER_SET).as_deref() == Some("1"),
        reminder_time: date(tasks::REMINDER_TIME),
        ordinal_date: date(tasks::ORDINAL_DATE),
        sub_ordinal_date: text(tasks::SUB_ORDINAL_DATE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_and_clear() {
        let flag = Flag {
            status: FlagStatus::Active,
            flag_type: Some("Follow up".into()),
            start_date: Some(1_700_000_000),
            utc_start_date: Some(1_700_000_000),
            due_date: Some(1_700_086_400),
            utc_due_date: Some(1_700_086_400),
            reminder_set: true,
            reminder_time: Some(1_700_050_000),
            ..Flag::default()
        };
        assert_eq!(parse_flag(&flag_element(&flag)), flag);
        let cleared = flag_element(&Flag::default());
        assert!(cleared.children.is_empty());
        assert_eq!(parse_flag(&cleared), Flag::default());
    }
}
