//! The Contacts class (MS-ASCNTC): every Contacts and Contacts2 property as one field table,
//! the body (the 2.5 Contacts:Body, AirSyncBase:Body from 12.0), and the Picture (base64 on
//! the wire, at most 36 KB of image: 48 KB of base64). Contacts have no date window; their
//! storage, ghosting and Picture limits are [`DataClass`]'s.

use super::class::{Field, FieldKind};
use super::data_class::{as_sent, no_window, undated, unrevised, DataClass};
use crate::eas::ProtocolVersion::{V12_0, V14_0, V2_5};
use crate::store::ItemClass;
use crate::wbxml::tag::{airsyncbase, contacts, contacts2};

use FieldKind::{Base64, Body, Date, Int, List, PlainBody, Text};

/// Largest Picture in bytes (MS-ASCNTC 2.2.2.58: 48 KB once base64-encoded).
pub const MAX_PICTURE_BYTES: usize = 48 * 1024 / 4 * 3;

/// Contacts ApplicationData, in token order, then the body and the Contacts2 properties.
static FIELDS: &[Field] = &[
    Field::new(contacts::ANNIVERSARY, Date, V2_5),
    Field::new(contacts::ASSISTANT_NAME, Text, V2_5),
    Field::new(contacts::ASSISTANT_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::BIRTHDAY, Date, V2_5),
    Field::new(contacts::BUSINESS2_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::BUSINESS_ADDRESS_CITY, Text, V2_5),
    Field::new(contacts::BUSINESS_ADDRESS_COUNTRY, Text, V2_5),
    Field::new(contacts::BUSINESS_ADDRESS_POSTAL_CODE, Text, V2_5),
    Field::new(contacts::BUSINESS_ADDRESS_STATE, Text, V2_5),
    Field::new(contacts::BUSINESS_ADDRESS_STREET, Text, V2_5),
    Field::new(contacts::BUSINESS_FAX_NUMBER, Text, V2_5),
    Field::new(contacts::BUSINESS_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::CAR_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::CATEGORIES, List(contacts::CATEGORY), V2_5),
    Field::new(contacts::CHILDREN, List(contacts::CHILD), V2_5),
    Field::new(contacts::COMPANY_NAME, Text, V2_5),
    Field::new(contacts::DEPARTMENT, Text, V2_5),
    Field::new(contacts::EMAIL1_ADDRESS, Text, V2_5),
    Field::new(contacts::EMAIL2_ADDRESS, Text, V2_5),
    Field::new(contacts::EMAIL3_ADDRESS, Text, V2_5),
    Field::new(contacts::FILE_AS, Text, V2_5),
    Field::new(contacts::FIRST_NAME, Text, V2_5),
    Field::new(contacts::HOME2_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::HOME_ADDRESS_CITY, Text, V2_5),
    Field::new(contacts::HOME_ADDRESS_COUNTRY, Text, V2_5),
    Field::new(contacts::HOME_ADDRESS_POSTAL_CODE, Text, V2_5),
    Field::new(contacts::HOME_ADDRESS_STATE, Text, V2_5),
    Field::new(contacts::HOME_ADDRESS_STREET, Text, V2_5),
    Field::new(contacts::HOME_FAX_NUMBER, Text, V2_5),
    Field::new(contacts::HOME_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::JOB_TITLE, Text, V2_5),
    Field::new(contacts::LAST_NAME, Text, V2_5),
    Field::new(contacts::MIDDLE_NAME, Text, V2_5),
    Field::new(contacts::MOBILE_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::OFFICE_LOCATION, Text, V2_5),
    Field::new(contacts::OTHER_ADDRESS_CITY, Text, V2_5),
    Field::new(contacts::OTHER_ADDRESS_COUNTRY, Text, V2_5),
    Field::new(contacts::OTHER_ADDRESS_POSTAL_CODE, Text, V2_5),
    Field::new(contacts::OTHER_ADDRESS_STATE, Text, V2_5),
    Field::new(contacts::OTHER_ADDRESS_STREET, Text, V2_5),
    Field::new(contacts::PAGER_NUMBER, Text, V2_5),
    Field::new(contacts::RADIO_PHONE_NUMBER, Text, V2_5),
    Field::new(contacts::SPOUSE, Text, V2_5),
    Field::new(contacts::SUFFIX, Text, V2_5),
    Field::new(contacts::TITLE, Text, V2_5),
    Field::new(contacts::WEB_PAGE, Text, V2_5),
    Field::new(contacts::YOMI_COMPANY_NAME, Text, V2_5),
    Field::new(contacts::YOMI_FIRST_NAME, Text, V2_5),
    Field::new(contacts::YOMI_LAST_NAME, Text, V2_5),
    Field::new(contacts::PICTURE, Base64, V2_5),
    Field::new(contacts::ALIAS, Text, V14_0),
    Field::new(contacts::WEIGHTED_RANK, Int, V14_0),
    Field::new(contacts::BODY, PlainBody, V2_5).until(V12_0),
    Field::new(airsyncbase::BODY, Body, V12_0),
    Field::new(contacts2::CUSTOMER_ID, Text, V2_5),
    Field::new(contacts2::GOVERNMENT_ID, Text, V2_5),
    Field::new(contacts2::IM_ADDRESS, Text, V2_5),
    Field::new(contacts2::IM_ADDRESS2, Text, V2_5),
    Field::new(contacts2::IM_ADDRESS3, Text, V2_5),
    Field::new(contacts2::MANAGER_NAME, Text, V2_5),
    Field::new(contacts2::COMPANY_MAIN_PHONE, Text, V2_5),
    Field::new(contacts2::ACCOUNT_NAME, Text, V2_5),
    Field::new(contacts2::NICK_NAME, Text, V2_5),
    Field::new(contacts2::MMS, Text, V2_5),
];

/// The Contacts class.
pub static CONTACTS: DataClass = DataClass {
    class: ItemClass::Contacts,
    fields: FIELDS,
    // Contacts have no window; clients that send a FilterType anyway get everything.
    filters: &[0, 1, 2, 3, 4, 5, 6, 7],
    cutoff: no_window,
    sort_date: undated,
    prepare: as_sent,
    max_binary: MAX_PICTURE_BYTES,
    revise: unrevised,
};

/// The Contacts field table (vCard import and export map onto it).
pub fn fields() -> &'static [Field] {
    FIELDS
}
