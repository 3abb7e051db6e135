//! The Notes class (MS-ASNOTE, protocol 14.0 and later): Subject, Body, MessageClass,
//! Categories and LastModifiedDate, which the server sets at every write (the time the note
//! changed on the server); MessageClass defaults to `IPM.StickyNote`. Below 14.0 the Notes
//! folders are not offered at all (FolderSync leaves them out).

use super::class::{Field, FieldKind};
use super::data_class::{no_window, undated, unrevised, DataClass};
use crate::eas::ProtocolVersion::{self, V14_0};
use crate::store::{ItemClass, Property, PropertyRecord};
use crate::wbxml::tag::{airsyncbase, notes};

use FieldKind::{Body, Date, List, Text};

/// The first protocol version with Notes.
pub const NOTES_SINCE: ProtocolVersion = V14_0;

static FIELDS: &[Field] = &[
    Field::new(notes::SUBJECT, Text, V14_0),
    Field::new(airsyncbase::BODY, Body, V14_0),
    Field::new(notes::MESSAGE_CLASS, Text, V14_0),
    Field::new(notes::CATEGORIES, List(notes::CATEGORY), V14_0),
    Field::new(notes::LAST_MODIFIED_DATE, Date, V14_0),
];

fn prepare(record: &mut PropertyRecord, now: i64) {
    record.set(notes::LAST_MODIFIED_DATE.name(), Property::Int(now));
    if record.get(notes::MESSAGE_CLASS.name()).is_none() {
        record.set(
            notes::MESSAGE_CLASS.name(),
            Property::Text("IPM.StickyNote".into()),
        );
    }
}

/// The Notes class.
pub static NOTES: DataClass = DataClass {
    class: ItemClass::Notes,
    fields: FIELDS,
    filters: &[0, 1, 2, 3, 4, 5, 6, 7],
    cutoff: no_window,
    sort_date: undated,
    prepare,
    max_binary: 0,
    revise: unrevised,
};
