//! The EAS code pages of MS-ASWBXML (pages 0–25, every tag up to protocol 16.1) as data tables.
//!
//! One list, written once in the `code_pages!` invocation at the bottom of this file, produces
//! both the static tables the codec and the XML bridge use ([`PAGES`]) and the public constants in
//! [`tag`] (`tag::airsync::SYNC_KEY`, `tag::folder_hierarchy::FOLDER_SYNC`, ...).
//!
//! Each tag carries its MS-ASWBXML name (what [`Tag::name`] returns and what the constant is named
//! after), the spelling libwbxml 0.11.8 uses for the same token (written by
//! [`crate::wbxml::xml::to_xml`] so that `xml2wbxml` reads our XML back), and further aliases that
//! [`Tag::lookup`] accepts (older MS names, libwbxml's duplicates). Tokens that only protocol 2.5
//! used are kept too, so that an old client's request still decodes with names.

use std::fmt;

/// A WBXML tag: code page and token (0x05..=0x3F, without the content and attribute bits).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Tag {
    pub page: u8,
    pub token: u8,
}

/// One entry of a code page table.
#[derive(Copy, Clone, Debug)]
pub(crate) struct TagDef {
    pub token: u8,
    /// The MS-ASWBXML element name.
    pub name: &'static str,
    /// libwbxml's name for this token where it differs from `name` (see [`TagDef::xml_name`]);
    /// `None` for the nine in ten that agree costs no pointer to relocate at load time.
    libwbxml_name: Option<&'static str>,
    /// Further names accepted when reading XML.
    pub aliases: &'static [&'static str],
    /// libwbxml writes this element's OPAQUE content as base64 and reads its XML content as base64.
    pub base64: bool,
    /// Name of the generated constant, for the naming test only: in the server it would be
    /// 644 dead strings, each with a load-time relocation (26 KB of the binary).
    #[cfg(test)]
    pub constant: &'static str,
}

impl TagDef {
    /// libwbxml's name for this token: `name` where libwbxml agrees or lacks the token.
    pub fn xml_name(&self) -> &'static str {
        self.libwbxml_name.unwrap_or(self.name)
    }
}

/// One code page: its names and its tags.
pub(crate) struct CodePage {
    pub number: u8,
    /// The namespace as the MS-AS* specifications write it (`AirSync`, `GetItemEstimate`, `GAL`).
    pub name: &'static str,
    /// libwbxml's namespace (`Gal` for page 16), written as `xmlns="<xml_namespace>:"`.
    pub xml_namespace: &'static str,
    /// Further namespace names accepted when reading XML (older libwbxml/z-push names).
    pub aliases: &'static [&'static str],
    /// Name of the generated `tag::<module>`, kept for documentation and tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub module: &'static str,
    pub tags: &'static [TagDef],
    /// token -> 1 + index into `tags`; 0 where the page has no such token.
    by_token: [u8; 64],
}

impl CodePage {
    /// Builds a page and its token index; a duplicate or out-of-range token stops the build.
    const fn new(
        number: u8,
        name: &'static str,
        xml_namespace: &'static str,
        aliases: &'static [&'static str],
        module: &'static str,
        tags: &'static [TagDef],
    ) -> CodePage {
        let mut by_token = [0u8; 64];
        let mut i = 0;
        while i < tags.len() {
            let token = tags[i].token;
            assert!(token >= 0x05 && token <= 0x3F, "token outside 0x05..=0x3F");
            assert!(
                by_token[token as usize] == 0,
                "token listed twice on one code page"
            );
            assert!(i < 255, "too many tags on one code page");
            by_token[token as usize] = (i + 1) as u8;
            i += 1;
        }
        CodePage {
            number,
            name,
            xml_namespace,
            aliases,
            module,
            tags,
            by_token,
        }
    }

    /// The table entry for `token`, if this page defines it.
    pub fn tag(&self, token: u8) -> Option<&'static TagDef> {
        let slot = *self.by_token.get(usize::from(token))?;
        let tags: &'static [TagDef] = self.tags;
        tags.get(usize::from(slot).checked_sub(1)?)
    }

    /// Finds a tag of this page by any of its names: the MS name, libwbxml's name, an alias, then
    /// the same ignoring ASCII case, then the `Unknown0xNN` form [`Tag::name`] gives unknown tokens.
    pub fn tag_by_name(&self, name: &str) -> Option<Tag> {
        let names_of = |def: &TagDef| {
            [def.name, def.xml_name()]
                .into_iter()
                .chain(def.aliases.iter().copied())
        };
        let found = self
            .tags
            .iter()
            .find(|def| names_of(def).any(|n| n == name))
            .or_else(|| {
                self.tags
                    .iter()
                    .find(|def| names_of(def).any(|n| n.eq_ignore_ascii_case(name)))
            });
        match found {
            Some(def) => Some(Tag {
                page: self.number,
                token: def.token,
            }),
            None => parse_unknown_name(name).map(|token| Tag {
                page: self.number,
                token,
            }),
        }
    }

    /// Whether `namespace` names this page (MS name, libwbxml name or alias, any ASCII case).
    fn is_named(&self, namespace: &str) -> bool {
        [self.name, self.xml_namespace]
            .into_iter()
            .chain(self.aliases.iter().copied())
            .any(|n| n.eq_ignore_ascii_case(namespace))
    }
}

/// The code page numbered `page`, if EAS defines it.
pub(crate) fn code_page(page: u8) -> Option<&'static CodePage> {
    PAGES.get(usize::from(page))
}

/// The code page a namespace names. Accepts `AirSync`, `AirSync:`, libwbxml's and older names in
/// any ASCII case, and the `http://synce.org/formats/airsync_wm5/<page>` namespaces of libwbxml's
/// AIRSYNC language.
pub(crate) fn code_page_by_namespace(namespace: &str) -> Option<&'static CodePage> {
    let trimmed = namespace.trim();
    let bare = trimmed.strip_suffix(':').unwrap_or(trimmed);
    let bare = bare.strip_prefix(SYNCE_NAMESPACE_PREFIX).unwrap_or(bare);
    PAGES.iter().find(|page| page.is_named(bare))
}

/// libwbxml's AIRSYNC language writes namespaces as this prefix plus the lower-case page name.
const SYNCE_NAMESPACE_PREFIX: &str = "http://synce.org/formats/airsync_wm5/";

/// Tokens without a table entry are named `Unknown0xNN`, so a decoded document stays lossless
/// through XML and logs.
const UNKNOWN_PREFIX: &str = "Unknown0x";

/// `Unknown0x05` .. `Unknown0x3F` as static bytes (index = token), built at compile time.
static UNKNOWN_NAMES: [[u8; 11]; 64] = unknown_names();

const fn unknown_names() -> [[u8; 11]; 64] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let prefix = UNKNOWN_PREFIX.as_bytes();
    let mut names = [[0u8; 11]; 64];
    let mut token = 0;
    while token < 64 {
        let mut i = 0;
        while i < prefix.len() {
            names[token][i] = prefix[i];
            i += 1;
        }
        names[token][9] = HEX[token >> 4];
        names[token][10] = HEX[token & 0x0F];
        token += 1;
    }
    names
}

fn unknown_name(token: u8) -> &'static str {
    match UNKNOWN_NAMES.get(usize::from(token)) {
        Some(bytes) => std::str::from_utf8(bytes).unwrap_or("Unknown"),
        None => "Unknown",
    }
}

/// `Unknown0xNN` (any case of the hex digits) -> NN, for tokens 0x05..=0x3F.
fn parse_unknown_name(name: &str) -> Option<u8> {
    let digits = name.strip_prefix(UNKNOWN_PREFIX)?;
    if digits.len() != 2 {
        return None;
    }
    let token = u8::from_str_radix(digits, 16).ok()?;
    (0x05..=0x3F).contains(&token).then_some(token)
}

impl Tag {
    /// The MS-ASWBXML element name, or `Unknown0xNN` for a token its page does not define.
    pub fn name(self) -> &'static str {
        match code_page(self.page).and_then(|page| page.tag(self.token)) {
            Some(def) => def.name,
            None => unknown_name(self.token),
        }
    }

    /// The code page's namespace (`AirSync`, `FolderHierarchy`, `GetItemEstimate`, `GAL`, ...),
    /// or `Unknown` for a page EAS does not define.
    pub fn namespace(self) -> &'static str {
        code_page(self.page).map_or("Unknown", |page| page.name)
    }

    /// Finds a tag by namespace and element name. Accepts the MS-ASWBXML names, libwbxml's older
    /// names (`POOMMAIL`, `Gal`, `FlagStatus`, `Recurrence_DayOfMonth`, `UTCStartDate`, ...), a
    /// trailing `:` on the namespace, ASCII case differences and `Unknown0xNN`.
    pub fn lookup(namespace: &str, name: &str) -> Option<Tag> {
        code_page_by_namespace(namespace)?.tag_by_name(name)
    }

    /// The table entry, if the page defines this token.
    pub(crate) fn def(self) -> Option<&'static TagDef> {
        code_page(self.page)?.tag(self.token)
    }

    /// The element name libwbxml uses (what [`crate::wbxml::xml::to_xml`] writes).
    pub(crate) fn xml_name(self) -> &'static str {
        self.def()
            .map_or_else(|| unknown_name(self.token), TagDef::xml_name)
    }
}

impl fmt::Display for Tag {
    /// `Namespace:Name`, e.g. `AirSync:SyncKey`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace(), self.name())
    }
}

/// Generates the public `tag` constants and the `PAGE_LIST` table from one list.
///
/// Page: `module = number, "Namespace" [xml "libwbxml namespace"] [alias "name"]* { tags }`.
/// Tag: `CONSTANT token "MS name" [xml "libwbxml name"] [alias "name"]* [[base64]];`
macro_rules! code_pages {
    ( $(
        $module:ident = $number:literal, $ns:literal $(xml $ns_xml:literal)? $(alias $ns_alias:literal)* {
            $( $konst:ident $token:literal $name:literal $(xml $xml:literal)? $(alias $alias:literal)* $([$flag:ident])? ; )*
        }
    )* ) => {
        /// Tag constants, one module per code page, named after the MS-ASWBXML element names.
        pub mod tag {
            $(
                #[doc = concat!("Code page ", stringify!($number), ": ", $ns, ".")]
                pub mod $module {
                    use super::super::Tag;
                    $(
                        #[doc = concat!("`", $ns, ":", $name, "` (token ", stringify!($token), ").")]
                        pub const $konst: Tag = Tag { page: $number, token: $token };
                    )*
                }
            )*
        }

        const PAGE_LIST: &[CodePage] = &[ $(
            CodePage::new(
                $number,
                $ns,
                first_of!($($ns_xml,)? $ns),
                &[$($ns_alias),*],
                stringify!($module),
                &[ $(
                    TagDef {
                        token: $token,
                        name: $name,
                        libwbxml_name: first_of!($(Some($xml),)? None),
                        aliases: &[$($alias),*],
                        base64: flag_set!($($flag)?),
                        #[cfg(test)]
                        constant: stringify!($konst),
                    },
                )* ],
            ),
        )* ];
    };
}

macro_rules! first_of {
    ($first:expr $(, $rest:expr)*) => {
        $first
    };
}

macro_rules! flag_set {
    () => {
        false
    };
    (base64) => {
        true
    };
}

/// All code pages, indexed by page number.
pub(crate) static PAGES: &[CodePage] = PAGE_LIST;

const _: () = {
    assert!(PAGE_LIST.len() == 26, "EAS defines code pages 0 to 25");
    let mut i = 0;
    while i < PAGE_LIST.len() {
        assert!(
            PAGE_LIST[i].number as usize == i,
            "code pages must be listed in page order"
        );
        i += 1;
    }
};

// The tables. Names: MS-ASWBXML (protocol 16.1) as primary; `xml`: libwbxml 0.11.8's spelling of
// the same token; `[base64]`: the elements whose content libwbxml converts between OPAQUE and base64.
code_pages! {
    airsync = 0, "AirSync" {
        SYNC 0x05 "Sync";
        RESPONSES 0x06 "Responses";
        ADD 0x07 "Add";
        CHANGE 0x08 "Change";
        DELETE 0x09 "Delete";
        FETCH 0x0A "Fetch";
        SYNC_KEY 0x0B "SyncKey";
        CLIENT_ID 0x0C "ClientId";
        SERVER_ID 0x0D "ServerId";
        STATUS 0x0E "Status";
        COLLECTION 0x0F "Collection";
        CLASS 0x10 "Class";
        VERSION 0x11 "Version";
        COLLECTION_ID 0x12 "CollectionId";
        GET_CHANGES 0x13 "GetChanges";
        MORE_AVAILABLE 0x14 "MoreAvailable";
        WINDOW_SIZE 0x15 "WindowSize";
        COMMANDS 0x16 "Commands";
        OPTIONS 0x17 "Options";
        FILTER_TYPE 0x18 "FilterType";
        TRUNCATION 0x19 "Truncation";
        RTF_TRUNCATION 0x1A "RTFTruncation";
        CONFLICT 0x1B "Conflict";
        COLLECTIONS 0x1C "Collections";
        APPLICATION_DATA 0x1D "ApplicationData";
        DELETES_AS_MOVES 0x1E "DeletesAsMoves";
        NOTIFY_GUID 0x1F "NotifyGUID";
        SUPPORTED 0x20 "Supported";
        SOFT_DELETE 0x21 "SoftDelete";
        MIME_SUPPORT 0x22 "MIMESupport";
        MIME_TRUNCATION 0x23 "MIMETruncation";
        WAIT 0x24 "Wait";
        LIMIT 0x25 "Limit";
        PARTIAL 0x26 "Partial";
        CONVERSATION_MODE 0x27 "ConversationMode";
        MAX_ITEMS 0x28 "MaxItems";
        HEARTBEAT_INTERVAL 0x29 "HeartbeatInterval";
    }
    contacts = 1, "Contacts" alias "POOMCONTACTS" {
        ANNIVERSARY 0x05 "Anniversary";
        ASSISTANT_NAME 0x06 "AssistantName";
        ASSISTANT_PHONE_NUMBER 0x07 "AssistantPhoneNumber" xml "AssistantTelephoneNumber";
        BIRTHDAY 0x08 "Birthday";
        BODY 0x09 "Body";
        BODY_SIZE 0x0A "BodySize";
        BODY_TRUNCATED 0x0B "BodyTruncated";
        BUSINESS2_PHONE_NUMBER 0x0C "Business2PhoneNumber";
        BUSINESS_ADDRESS_CITY 0x0D "BusinessAddressCity" xml "BusinessCity";
        BUSINESS_ADDRESS_COUNTRY 0x0E "BusinessAddressCountry" xml "BusinessCountry";
        BUSINESS_ADDRESS_POSTAL_CODE 0x0F "BusinessAddressPostalCode" xml "BusinessPostalCode";
        BUSINESS_ADDRESS_STATE 0x10 "BusinessAddressState" xml "BusinessState";
        BUSINESS_ADDRESS_STREET 0x11 "BusinessAddressStreet" xml "BusinessStreet";
        BUSINESS_FAX_NUMBER 0x12 "BusinessFaxNumber";
        BUSINESS_PHONE_NUMBER 0x13 "BusinessPhoneNumber";
        CAR_PHONE_NUMBER 0x14 "CarPhoneNumber";
        CATEGORIES 0x15 "Categories";
        CATEGORY 0x16 "Category";
        CHILDREN 0x17 "Children";
        CHILD 0x18 "Child";
        COMPANY_NAME 0x19 "CompanyName";
        DEPARTMENT 0x1A "Department";
        EMAIL1_ADDRESS 0x1B "Email1Address";
        EMAIL2_ADDRESS 0x1C "Email2Address";
        EMAIL3_ADDRESS 0x1D "Email3Address";
        FILE_AS 0x1E "FileAs";
        FIRST_NAME 0x1F "FirstName";
        HOME2_PHONE_NUMBER 0x20 "Home2PhoneNumber";
        HOME_ADDRESS_CITY 0x21 "HomeAddressCity" xml "HomeCity";
        HOME_ADDRESS_COUNTRY 0x22 "HomeAddressCountry" xml "HomeCountry";
        HOME_ADDRESS_POSTAL_CODE 0x23 "HomeAddressPostalCode" xml "HomePostalCode";
        HOME_ADDRESS_STATE 0x24 "HomeAddressState" xml "HomeState";
        HOME_ADDRESS_STREET 0x25 "HomeAddressStreet" xml "HomeStreet";
        HOME_FAX_NUMBER 0x26 "HomeFaxNumber";
        HOME_PHONE_NUMBER 0x27 "HomePhoneNumber";
        JOB_TITLE 0x28 "JobTitle";
        LAST_NAME 0x29 "LastName";
        MIDDLE_NAME 0x2A "MiddleName";
        MOBILE_PHONE_NUMBER 0x2B "MobilePhoneNumber";
        OFFICE_LOCATION 0x2C "OfficeLocation";
        OTHER_ADDRESS_CITY 0x2D "OtherAddressCity" xml "OtherCity";
        OTHER_ADDRESS_COUNTRY 0x2E "OtherAddressCountry" xml "OtherCountry";
        OTHER_ADDRESS_POSTAL_CODE 0x2F "OtherAddressPostalCode" xml "OtherPostalCode";
        OTHER_ADDRESS_STATE 0x30 "OtherAddressState" xml "OtherState";
        OTHER_ADDRESS_STREET 0x31 "OtherAddressStreet" xml "OtherStreet";
        PAGER_NUMBER 0x32 "PagerNumber";
        RADIO_PHONE_NUMBER 0x33 "RadioPhoneNumber";
        SPOUSE 0x34 "Spouse";
        SUFFIX 0x35 "Suffix";
        TITLE 0x36 "Title";
        WEB_PAGE 0x37 "WebPage";
        YOMI_COMPANY_NAME 0x38 "YomiCompanyName";
        YOMI_FIRST_NAME 0x39 "YomiFirstName";
        YOMI_LAST_NAME 0x3A "YomiLastName";
        COMPRESSED_RTF 0x3B "CompressedRTF";
        PICTURE 0x3C "Picture";
        ALIAS 0x3D "Alias";
        WEIGHTED_RANK 0x3E "WeightedRank";
    }
    email = 2, "Email" alias "POOMMAIL" {
        ATTACHMENT 0x05 "Attachment";
        ATTACHMENTS 0x06 "Attachments";
        ATT_NAME 0x07 "AttName";
        ATT_SIZE 0x08 "AttSize";
        ATT_OID 0x09 "AttOid" xml "AttOId" alias "Att0Id";
        ATT_METHOD 0x0A "AttMethod";
        ATT_REMOVED 0x0B "AttRemoved";
        BODY 0x0C "Body";
        BODY_SIZE 0x0D "BodySize";
        BODY_TRUNCATED 0x0E "BodyTruncated";
        DATE_RECEIVED 0x0F "DateReceived";
        DISPLAY_NAME 0x10 "DisplayName";
        DISPLAY_TO 0x11 "DisplayTo";
        IMPORTANCE 0x12 "Importance";
        MESSAGE_CLASS 0x13 "MessageClass";
        SUBJECT 0x14 "Subject";
        READ 0x15 "Read";
        TO 0x16 "To";
        CC 0x17 "Cc";
        FROM 0x18 "From";
        REPLY_TO 0x19 "ReplyTo" xml "Reply-To";
        ALL_DAY_EVENT 0x1A "AllDayEvent";
        CATEGORIES 0x1B "Categories";
        CATEGORY 0x1C "Category";
        DT_STAMP 0x1D "DtStamp" xml "DTStamp";
        END_TIME 0x1E "EndTime";
        INSTANCE_TYPE 0x1F "InstanceType";
        BUSY_STATUS 0x20 "BusyStatus";
        LOCATION 0x21 "Location";
        MEETING_REQUEST 0x22 "MeetingRequest";
        ORGANIZER 0x23 "Organizer";
        RECURRENCE_ID 0x24 "RecurrenceId";
        REMINDER 0x25 "Reminder";
        RESPONSE_REQUESTED 0x26 "ResponseRequested";
        RECURRENCES 0x27 "Recurrences";
        RECURRENCE 0x28 "Recurrence";
        TYPE 0x29 "Type" xml "Recurrence_Type";
        UNTIL 0x2A "Until" xml "Recurrence_Until";
        OCCURRENCES 0x2B "Occurrences" xml "Recurrence_Occurrences";
        INTERVAL 0x2C "Interval" xml "Recurrence_Interval";
        DAY_OF_WEEK 0x2D "DayOfWeek" xml "Recurrence_DayOfWeek";
        DAY_OF_MONTH 0x2E "DayOfMonth" xml "Recurrence_DayOfMonth";
        WEEK_OF_MONTH 0x2F "WeekOfMonth" xml "Recurrence_WeekOfMonth";
        MONTH_OF_YEAR 0x30 "MonthOfYear" xml "Recurrence_MonthOfYear";
        START_TIME 0x31 "StartTime";
        SENSITIVITY 0x32 "Sensitivity";
        TIME_ZONE 0x33 "TimeZone";
        GLOBAL_OBJ_ID 0x34 "GlobalObjId";
        THREAD_TOPIC 0x35 "ThreadTopic";
        MIME_DATA 0x36 "MIMEData";
        MIME_TRUNCATED 0x37 "MIMETruncated";
        MIME_SIZE 0x38 "MIMESize";
        INTERNET_CPID 0x39 "InternetCPID";
        FLAG 0x3A "Flag";
        STATUS 0x3B "Status" xml "FlagStatus";
        CONTENT_CLASS 0x3C "ContentClass";
        FLAG_TYPE 0x3D "FlagType";
        COMPLETE_TIME 0x3E "CompleteTime";
        DISALLOW_NEW_TIME_PROPOSAL 0x3F "DisallowNewTimeProposal";
    }
    airnotify = 3, "AirNotify" {
        NOTIFY 0x05 "Notify";
        NOTIFICATION 0x06 "Notification";
        VERSION 0x07 "Version";
        LIFE_TIME 0x08 "LifeTime";
        DEVICE_INFO 0x09 "DeviceInfo";
        ENABLE 0x0A "Enable";
        FOLDER 0x0B "Folder";
        SERVER_ID 0x0C "ServerId";
        DEVICE_ADDRESS 0x0D "DeviceAddress";
        VALID_CARRIER_PROFILES 0x0E "ValidCarrierProfiles";
        CARRIER_PROFILE 0x0F "CarrierProfile";
        STATUS 0x10 "Status";
        RESPONSES 0x11 "Responses";
        DEVICES 0x12 "Devices";
        DEVICE 0x13 "Device";
        ID 0x14 "Id";
        EXPIRY 0x15 "Expiry";
        NOTIFY_GUID 0x16 "NotifyGUID";
        DEVICE_FRIENDLY_NAME 0x17 "DeviceFriendlyName";
    }
    calendar = 4, "Calendar" alias "POOMCAL" {
        TIMEZONE 0x05 "Timezone" xml "TimeZone";
        ALL_DAY_EVENT 0x06 "AllDayEvent";
        ATTENDEES 0x07 "Attendees";
        ATTENDEE 0x08 "Attendee";
        EMAIL 0x09 "Email" xml "Attendee_Email";
        NAME 0x0A "Name" xml "Attendee_Name";
        BODY 0x0B "Body";
        BODY_TRUNCATED 0x0C "BodyTruncated";
        BUSY_STATUS 0x0D "BusyStatus";
        CATEGORIES 0x0E "Categories";
        CATEGORY 0x0F "Category";
        COMPRESSED_RTF 0x10 "CompressedRTF" xml "Compressed_RTF";
        DT_STAMP 0x11 "DtStamp" xml "DTStamp";
        END_TIME 0x12 "EndTime";
        EXCEPTION 0x13 "Exception";
        EXCEPTIONS 0x14 "Exceptions";
        DELETED 0x15 "Deleted" xml "Exception_Deleted";
        EXCEPTION_START_TIME 0x16 "ExceptionStartTime" xml "Exception_StartTime";
        LOCATION 0x17 "Location";
        MEETING_STATUS 0x18 "MeetingStatus";
        ORGANIZER_EMAIL 0x19 "OrganizerEmail" xml "Organizer_Email";
        ORGANIZER_NAME 0x1A "OrganizerName" xml "Organizer_Name";
        RECURRENCE 0x1B "Recurrence";
        TYPE 0x1C "Type" xml "Recurrence_Type";
        UNTIL 0x1D "Until" xml "Recurrence_Until";
        OCCURRENCES 0x1E "Occurrences" xml "Recurrence_Occurrences";
        INTERVAL 0x1F "Interval" xml "Recurrence_Interval";
        DAY_OF_WEEK 0x20 "DayOfWeek" xml "Recurrence_DayOfWeek";
        DAY_OF_MONTH 0x21 "DayOfMonth" xml "Recurrence_DayOfMonth";
        WEEK_OF_MONTH 0x22 "WeekOfMonth" xml "Recurrence_WeekOfMonth";
        MONTH_OF_YEAR 0x23 "MonthOfYear" xml "Recurrence_MonthOfYear";
        REMINDER 0x24 "Reminder";
        SENSITIVITY 0x25 "Sensitivity";
        SUBJECT 0x26 "Subject";
        START_TIME 0x27 "StartTime";
        UID 0x28 "UID";
        ATTENDEE_STATUS 0x29 "AttendeeStatus" xml "Attendee_Status";
        ATTENDEE_TYPE 0x2A "AttendeeType" xml "Attendee_Type";
        DISALLOW_NEW_TIME_PROPOSAL 0x33 "DisallowNewTimeProposal";
        RESPONSE_REQUESTED 0x34 "ResponseRequested";
        APPOINTMENT_REPLY_TIME 0x35 "AppointmentReplyTime";
        RESPONSE_TYPE 0x36 "ResponseType";
        CALENDAR_TYPE 0x37 "CalendarType";
        IS_LEAP_MONTH 0x38 "IsLeapMonth";
        FIRST_DAY_OF_WEEK 0x39 "FirstDayOfWeek";
        ONLINE_MEETING_CONF_LINK 0x3A "OnlineMeetingConfLink";
        ONLINE_MEETING_EXTERNAL_LINK 0x3B "OnlineMeetingExternalLink";
        CLIENT_UID 0x3C "ClientUid";
    }
    move_items = 5, "Move" alias "MoveItems" {
        MOVE_ITEMS 0x05 "MoveItems";
        MOVE 0x06 "Move";
        SRC_MSG_ID 0x07 "SrcMsgId";
        SRC_FLD_ID 0x08 "SrcFldId";
        DST_FLD_ID 0x09 "DstFldId";
        RESPONSE 0x0A "Response";
        STATUS 0x0B "Status";
        DST_MSG_ID 0x0C "DstMsgId";
    }
    item_estimate = 6, "GetItemEstimate" alias "ItemEstimate" {
        GET_ITEM_ESTIMATE 0x05 "GetItemEstimate";
        VERSION 0x06 "Version";
        COLLECTIONS 0x07 "Collections";
        COLLECTION 0x08 "Collection";
        CLASS 0x09 "Class";
        COLLECTION_ID 0x0A "CollectionId";
        DATE_TIME 0x0B "DateTime";
        ESTIMATE 0x0C "Estimate";
        RESPONSE 0x0D "Response";
        STATUS 0x0E "Status";
    }
    folder_hierarchy = 7, "FolderHierarchy" {
        FOLDERS 0x05 "Folders";
        FOLDER 0x06 "Folder";
        DISPLAY_NAME 0x07 "DisplayName";
        SERVER_ID 0x08 "ServerId";
        PARENT_ID 0x09 "ParentId";
        TYPE 0x0A "Type";
        RESPONSE 0x0B "Response";
        STATUS 0x0C "Status";
        CONTENT_CLASS 0x0D "ContentClass";
        CHANGES 0x0E "Changes";
        ADD 0x0F "Add";
        DELETE 0x10 "Delete";
        UPDATE 0x11 "Update";
        SYNC_KEY 0x12 "SyncKey";
        FOLDER_CREATE 0x13 "FolderCreate";
        FOLDER_DELETE 0x14 "FolderDelete";
        FOLDER_UPDATE 0x15 "FolderUpdate";
        FOLDER_SYNC 0x16 "FolderSync";
        COUNT 0x17 "Count";
        VERSION 0x18 "Version";
    }
    meeting_response = 8, "MeetingResponse" {
        CALENDAR_ID 0x05 "CalendarId";
        COLLECTION_ID 0x06 "CollectionId";
        MEETING_RESPONSE 0x07 "MeetingResponse";
        REQUEST_ID 0x08 "RequestId";
        REQUEST 0x09 "Request";
        RESULT 0x0A "Result";
        STATUS 0x0B "Status";
        USER_RESPONSE 0x0C "UserResponse";
        VERSION 0x0D "Version";
        INSTANCE_ID 0x0E "InstanceId";
        PROPOSED_START_TIME 0x10 "ProposedStartTime";
        PROPOSED_END_TIME 0x11 "ProposedEndTime";
        SEND_RESPONSE 0x12 "SendResponse";
    }
    tasks = 9, "Tasks" alias "POOMTASKS" {
        BODY 0x05 "Body";
        BODY_SIZE 0x06 "BodySize";
        BODY_TRUNCATED 0x07 "BodyTruncated";
        CATEGORIES 0x08 "Categories";
        CATEGORY 0x09 "Category";
        COMPLETE 0x0A "Complete";
        DATE_COMPLETED 0x0B "DateCompleted";
        DUE_DATE 0x0C "DueDate";
        UTC_DUE_DATE 0x0D "UtcDueDate" xml "UTCDueDate";
        IMPORTANCE 0x0E "Importance";
        RECURRENCE 0x0F "Recurrence";
        TYPE 0x10 "Type" xml "Recurrence_Type";
        START 0x11 "Start" xml "Recurrence_Start";
        UNTIL 0x12 "Until" xml "Recurrence_Until";
        OCCURRENCES 0x13 "Occurrences" xml "Recurrence_Occurrences";
        INTERVAL 0x14 "Interval" xml "Recurrence_Interval";
        DAY_OF_MONTH 0x15 "DayOfMonth" xml "Recurrence_DayOfMonth";
        DAY_OF_WEEK 0x16 "DayOfWeek" xml "Recurrence_DayOfWeek";
        WEEK_OF_MONTH 0x17 "WeekOfMonth" xml "Recurrence_WeekOfMonth";
        MONTH_OF_YEAR 0x18 "MonthOfYear" xml "Recurrence_MonthOfYear";
        REGENERATE 0x19 "Regenerate" xml "Recurrence_Regenerate";
        DEAD_OCCUR 0x1A "DeadOccur" xml "Recurrence_DeadOccur";
        REMINDER_SET 0x1B "ReminderSet";
        REMINDER_TIME 0x1C "ReminderTime";
        SENSITIVITY 0x1D "Sensitivity";
        START_DATE 0x1E "StartDate";
        UTC_START_DATE 0x1F "UtcStartDate" xml "UTCStartDate";
        SUBJECT 0x20 "Subject";
        COMPRESSED_RTF 0x21 "CompressedRTF";
        ORDINAL_DATE 0x22 "OrdinalDate";
        SUB_ORDINAL_DATE 0x23 "SubOrdinalDate";
        CALENDAR_TYPE 0x24 "CalendarType";
        IS_LEAP_MONTH 0x25 "IsLeapMonth";
        FIRST_DAY_OF_WEEK 0x26 "FirstDayOfWeek";
    }
    resolve_recipients = 10, "ResolveRecipients" {
        RESOLVE_RECIPIENTS 0x05 "ResolveRecipients";
        RESPONSE 0x06 "Response";
        STATUS 0x07 "Status";
        TYPE 0x08 "Type";
        RECIPIENT 0x09 "Recipient";
        DISPLAY_NAME 0x0A "DisplayName";
        EMAIL_ADDRESS 0x0B "EmailAddress";
        CERTIFICATES 0x0C "Certificates";
        CERTIFICATE 0x0D "Certificate";
        MINI_CERTIFICATE 0x0E "MiniCertificate";
        OPTIONS 0x0F "Options";
        TO 0x10 "To";
        CERTIFICATE_RETRIEVAL 0x11 "CertificateRetrieval";
        RECIPIENT_COUNT 0x12 "RecipientCount";
        MAX_CERTIFICATES 0x13 "MaxCertificates";
        MAX_AMBIGUOUS_RECIPIENTS 0x14 "MaxAmbiguousRecipients";
        CERTIFICATE_COUNT 0x15 "CertificateCount";
        AVAILABILITY 0x16 "Availability";
        START_TIME 0x17 "StartTime";
        END_TIME 0x18 "EndTime";
        MERGED_FREE_BUSY 0x19 "MergedFreeBusy";
        PICTURE 0x1A "Picture";
        MAX_SIZE 0x1B "MaxSize";
        DATA 0x1C "Data" [base64];
        MAX_PICTURES 0x1D "MaxPictures";
    }
    validate_cert = 11, "ValidateCert" {
        VALIDATE_CERT 0x05 "ValidateCert";
        CERTIFICATES 0x06 "Certificates";
        CERTIFICATE 0x07 "Certificate";
        CERTIFICATE_CHAIN 0x08 "CertificateChain";
        CHECK_CRL 0x09 "CheckCrl" xml "CheckCRL";
        STATUS 0x0A "Status";
    }
    contacts2 = 12, "Contacts2" alias "POOMCONTACTS2" {
        CUSTOMER_ID 0x05 "CustomerId";
        GOVERNMENT_ID 0x06 "GovernmentId";
        IM_ADDRESS 0x07 "IMAddress";
        IM_ADDRESS2 0x08 "IMAddress2";
        IM_ADDRESS3 0x09 "IMAddress3";
        MANAGER_NAME 0x0A "ManagerName";
        COMPANY_MAIN_PHONE 0x0B "CompanyMainPhone";
        ACCOUNT_NAME 0x0C "AccountName";
        NICK_NAME 0x0D "NickName";
        MMS 0x0E "MMS";
    }
    ping = 13, "Ping" {
        PING 0x05 "Ping";
        AUTD_STATE 0x06 "AutdState";
        STATUS 0x07 "Status";
        HEARTBEAT_INTERVAL 0x08 "HeartbeatInterval";
        FOLDERS 0x09 "Folders";
        FOLDER 0x0A "Folder";
        ID 0x0B "Id";
        CLASS 0x0C "Class";
        MAX_FOLDERS 0x0D "MaxFolders";
    }
    provision = 14, "Provision" {
        PROVISION 0x05 "Provision";
        POLICIES 0x06 "Policies";
        POLICY 0x07 "Policy";
        POLICY_TYPE 0x08 "PolicyType";
        POLICY_KEY 0x09 "PolicyKey";
        DATA 0x0A "Data";
        STATUS 0x0B "Status";
        REMOTE_WIPE 0x0C "RemoteWipe";
        EAS_PROVISION_DOC 0x0D "EASProvisionDoc";
        DEVICE_PASSWORD_ENABLED 0x0E "DevicePasswordEnabled";
        ALPHANUMERIC_DEVICE_PASSWORD_REQUIRED 0x0F "AlphanumericDevicePasswordRequired";
        REQUIRE_STORAGE_CARD_ENCRYPTION 0x10 "RequireStorageCardEncryption" xml "DeviceEncryptionEnabled";
        PASSWORD_RECOVERY_ENABLED 0x11 "PasswordRecoveryEnabled";
        DOCUMENT_BROWSE_ENABLED 0x12 "DocumentBrowseEnabled";
        ATTACHMENTS_ENABLED 0x13 "AttachmentsEnabled";
        MIN_DEVICE_PASSWORD_LENGTH 0x14 "MinDevicePasswordLength";
        MAX_INACTIVITY_TIME_DEVICE_LOCK 0x15 "MaxInactivityTimeDeviceLock";
        MAX_DEVICE_PASSWORD_FAILED_ATTEMPTS 0x16 "MaxDevicePasswordFailedAttempts";
        MAX_ATTACHMENT_SIZE 0x17 "MaxAttachmentSize";
        ALLOW_SIMPLE_DEVICE_PASSWORD 0x18 "AllowSimpleDevicePassword";
        DEVICE_PASSWORD_EXPIRATION 0x19 "DevicePasswordExpiration";
        DEVICE_PASSWORD_HISTORY 0x1A "DevicePasswordHistory";
        ALLOW_STORAGE_CARD 0x1B "AllowStorageCard";
        ALLOW_CAMERA 0x1C "AllowCamera";
        REQUIRE_DEVICE_ENCRYPTION 0x1D "RequireDeviceEncryption";
        ALLOW_UNSIGNED_APPLICATIONS 0x1E "AllowUnsignedApplications";
        ALLOW_UNSIGNED_INSTALLATION_PACKAGES 0x1F "AllowUnsignedInstallationPackages";
        MIN_DEVICE_PASSWORD_COMPLEX_CHARACTERS 0x20 "MinDevicePasswordComplexCharacters";
        ALLOW_WI_FI 0x21 "AllowWiFi";
        ALLOW_TEXT_MESSAGING 0x22 "AllowTextMessaging";
        ALLOW_POPIMAP_EMAIL 0x23 "AllowPOPIMAPEmail";
        ALLOW_BLUETOOTH 0x24 "AllowBluetooth";
        ALLOW_IR_DA 0x25 "AllowIrDA";
        REQUIRE_MANUAL_SYNC_WHEN_ROAMING 0x26 "RequireManualSyncWhenRoaming";
        ALLOW_DESKTOP_SYNC 0x27 "AllowDesktopSync";
        MAX_CALENDAR_AGE_FILTER 0x28 "MaxCalendarAgeFilter";
        ALLOW_HTML_EMAIL 0x29 "AllowHTMLEmail";
        MAX_EMAIL_AGE_FILTER 0x2A "MaxEmailAgeFilter";
        MAX_EMAIL_BODY_TRUNCATION_SIZE 0x2B "MaxEmailBodyTruncationSize";
        MAX_EMAIL_HTML_BODY_TRUNCATION_SIZE 0x2C "MaxEmailHTMLBodyTruncationSize";
        REQUIRE_SIGNED_SMIME_MESSAGES 0x2D "RequireSignedSMIMEMessages";
        REQUIRE_ENCRYPTED_SMIME_MESSAGES 0x2E "RequireEncryptedSMIMEMessages";
        REQUIRE_SIGNED_SMIME_ALGORITHM 0x2F "RequireSignedSMIMEAlgorithm";
        REQUIRE_ENCRYPTION_SMIME_ALGORITHM 0x30 "RequireEncryptionSMIMEAlgorithm";
        ALLOW_SMIME_ENCRYPTION_ALGORITHM_NEGOTIATION 0x31 "AllowSMIMEEncryptionAlgorithmNegotiation";
        ALLOW_SMIME_SOFT_CERTS 0x32 "AllowSMIMESoftCerts";
        ALLOW_BROWSER 0x33 "AllowBrowser";
        ALLOW_CONSUMER_EMAIL 0x34 "AllowConsumerEmail";
        ALLOW_REMOTE_DESKTOP 0x35 "AllowRemoteDesktop";
        ALLOW_INTERNET_SHARING 0x36 "AllowInternetSharing";
        UNAPPROVED_IN_ROM_APPLICATION_LIST 0x37 "UnapprovedInROMApplicationList";
        APPLICATION_NAME 0x38 "ApplicationName";
        APPROVED_APPLICATION_LIST 0x39 "ApprovedApplicationList";
        HASH 0x3A "Hash";
        ACCOUNT_ONLY_REMOTE_WIPE 0x3B "AccountOnlyRemoteWipe";
    }
    search = 15, "Search" {
        SEARCH 0x05 "Search";
        STORE 0x07 "Store";
        NAME 0x08 "Name";
        QUERY 0x09 "Query";
        OPTIONS 0x0A "Options";
        RANGE 0x0B "Range";
        STATUS 0x0C "Status";
        RESPONSE 0x0D "Response";
        RESULT 0x0E "Result";
        PROPERTIES 0x0F "Properties";
        TOTAL 0x10 "Total";
        EQUAL_TO 0x11 "EqualTo";
        VALUE 0x12 "Value";
        AND 0x13 "And";
        OR 0x14 "Or";
        FREE_TEXT 0x15 "FreeText";
        DEEP_TRAVERSAL 0x17 "DeepTraversal";
        LONG_ID 0x18 "LongId";
        REBUILD_RESULTS 0x19 "RebuildResults";
        LESS_THAN 0x1A "LessThan";
        GREATER_THAN 0x1B "GreaterThan";
        SCHEMA 0x1C "Schema";
        SUPPORTED 0x1D "Supported";
        USER_NAME 0x1E "UserName";
        PASSWORD 0x1F "Password";
        CONVERSATION_ID 0x20 "ConversationId" [base64];
        PICTURE 0x21 "Picture";
        MAX_SIZE 0x22 "MaxSize";
        MAX_PICTURES 0x23 "MaxPictures";
    }
    gal = 16, "GAL" xml "Gal" {
        DISPLAY_NAME 0x05 "DisplayName";
        PHONE 0x06 "Phone";
        OFFICE 0x07 "Office";
        TITLE 0x08 "Title";
        COMPANY 0x09 "Company";
        ALIAS 0x0A "Alias";
        FIRST_NAME 0x0B "FirstName";
        LAST_NAME 0x0C "LastName";
        HOME_PHONE 0x0D "HomePhone";
        MOBILE_PHONE 0x0E "MobilePhone";
        EMAIL_ADDRESS 0x0F "EmailAddress";
        PICTURE 0x10 "Picture";
        STATUS 0x11 "Status";
        DATA 0x12 "Data" [base64];
    }
    airsyncbase = 17, "AirSyncBase" {
        BODY_PREFERENCE 0x05 "BodyPreference";
        TYPE 0x06 "Type";
        TRUNCATION_SIZE 0x07 "TruncationSize";
        ALL_OR_NONE 0x08 "AllOrNone";
        BODY 0x0A "Body";
        DATA 0x0B "Data";
        ESTIMATED_DATA_SIZE 0x0C "EstimatedDataSize";
        TRUNCATED 0x0D "Truncated";
        ATTACHMENTS 0x0E "Attachments";
        ATTACHMENT 0x0F "Attachment";
        DISPLAY_NAME 0x10 "DisplayName";
        FILE_REFERENCE 0x11 "FileReference";
        METHOD 0x12 "Method";
        CONTENT_ID 0x13 "ContentId";
        CONTENT_LOCATION 0x14 "ContentLocation";
        IS_INLINE 0x15 "IsInline";
        NATIVE_BODY_TYPE 0x16 "NativeBodyType";
        CONTENT_TYPE 0x17 "ContentType";
        PREVIEW 0x18 "Preview";
        BODY_PART_PREFERENCE 0x19 "BodyPartPreference";
        BODY_PART 0x1A "BodyPart";
        STATUS 0x1B "Status";
        ADD 0x1C "Add";
        DELETE 0x1D "Delete";
        CLIENT_ID 0x1E "ClientId";
        CONTENT 0x1F "Content" [base64];
        LOCATION 0x20 "Location";
        ANNOTATION 0x21 "Annotation";
        STREET 0x22 "Street";
        CITY 0x23 "City";
        STATE 0x24 "State";
        COUNTRY 0x25 "Country";
        POSTAL_CODE 0x26 "PostalCode";
        LATITUDE 0x27 "Latitude";
        LONGITUDE 0x28 "Longitude";
        ACCURACY 0x29 "Accuracy";
        ALTITUDE 0x2A "Altitude";
        ALTITUDE_ACCURACY 0x2B "AltitudeAccuracy";
        LOCATION_URI 0x2C "LocationUri";
        INSTANCE_ID 0x2D "InstanceId";
    }
    settings = 18, "Settings" {
        SETTINGS 0x05 "Settings";
        STATUS 0x06 "Status";
        GET 0x07 "Get";
        SET 0x08 "Set";
        OOF 0x09 "Oof";
        OOF_STATE 0x0A "OofState";
        START_TIME 0x0B "StartTime";
        END_TIME 0x0C "EndTime";
        OOF_MESSAGE 0x0D "OofMessage";
        APPLIES_TO_INTERNAL 0x0E "AppliesToInternal";
        APPLIES_TO_EXTERNAL_KNOWN 0x0F "AppliesToExternalKnown";
        APPLIES_TO_EXTERNAL_UNKNOWN 0x10 "AppliesToExternalUnknown";
        ENABLED 0x11 "Enabled";
        REPLY_MESSAGE 0x12 "ReplyMessage";
        BODY_TYPE 0x13 "BodyType";
        DEVICE_PASSWORD 0x14 "DevicePassword";
        PASSWORD 0x15 "Password";
        DEVICE_INFORMATION 0x16 "DeviceInformation";
        MODEL 0x17 "Model";
        IMEI 0x18 "IMEI";
        FRIENDLY_NAME 0x19 "FriendlyName";
        OS 0x1A "OS";
        OS_LANGUAGE 0x1B "OSLanguage";
        PHONE_NUMBER 0x1C "PhoneNumber";
        USER_INFORMATION 0x1D "UserInformation";
        EMAIL_ADDRESSES 0x1E "EmailAddresses";
        SMTP_ADDRESS 0x1F "SmtpAddress";
        USER_AGENT 0x20 "UserAgent";
        ENABLE_OUTBOUND_SMS 0x21 "EnableOutboundSMS";
        MOBILE_OPERATOR 0x22 "MobileOperator";
        PRIMARY_SMTP_ADDRESS 0x23 "PrimarySmtpAddress";
        ACCOUNTS 0x24 "Accounts";
        ACCOUNT 0x25 "Account";
        ACCOUNT_ID 0x26 "AccountId";
        ACCOUNT_NAME 0x27 "AccountName";
        USER_DISPLAY_NAME 0x28 "UserDisplayName";
        SEND_DISABLED 0x29 "SendDisabled";
        RIGHTS_MANAGEMENT_INFORMATION 0x2B "RightsManagementInformation" xml "ihsManagementInformation";
    }
    document_library = 19, "DocumentLibrary" {
        LINK_ID 0x05 "LinkId";
        DISPLAY_NAME 0x06 "DisplayName";
        IS_FOLDER 0x07 "IsFolder";
        CREATION_DATE 0x08 "CreationDate";
        LAST_MODIFIED_DATE 0x09 "LastModifiedDate";
        IS_HIDDEN 0x0A "IsHidden";
        CONTENT_LENGTH 0x0B "ContentLength";
        CONTENT_TYPE 0x0C "ContentType";
    }
    item_operations = 20, "ItemOperations" {
        ITEM_OPERATIONS 0x05 "ItemOperations";
        FETCH 0x06 "Fetch";
        STORE 0x07 "Store";
        OPTIONS 0x08 "Options";
        RANGE 0x09 "Range";
        TOTAL 0x0A "Total";
        PROPERTIES 0x0B "Properties";
        DATA 0x0C "Data";
        STATUS 0x0D "Status";
        RESPONSE 0x0E "Response";
        VERSION 0x0F "Version";
        SCHEMA 0x10 "Schema";
        PART 0x11 "Part";
        EMPTY_FOLDER_CONTENTS 0x12 "EmptyFolderContents";
        DELETE_SUB_FOLDERS 0x13 "DeleteSubFolders";
        USER_NAME 0x14 "UserName";
        PASSWORD 0x15 "Password";
        MOVE 0x16 "Move";
        DST_FLD_ID 0x17 "DstFldId";
        CONVERSATION_ID 0x18 "ConversationId" [base64];
        MOVE_ALWAYS 0x19 "MoveAlways";
    }
    compose_mail = 21, "ComposeMail" {
        SEND_MAIL 0x05 "SendMail";
        SMART_FORWARD 0x06 "SmartForward";
        SMART_REPLY 0x07 "SmartReply";
        SAVE_IN_SENT_ITEMS 0x08 "SaveInSentItems";
        REPLACE_MIME 0x09 "ReplaceMime";
        SOURCE 0x0B "Source";
        FOLDER_ID 0x0C "FolderId";
        ITEM_ID 0x0D "ItemId";
        LONG_ID 0x0E "LongId";
        INSTANCE_ID 0x0F "InstanceId";
        MIME 0x10 "Mime" xml "MIME" [base64];
        CLIENT_ID 0x11 "ClientId";
        STATUS 0x12 "Status";
        ACCOUNT_ID 0x13 "AccountId";
        FORWARDEES 0x15 "Forwardees";
        FORWARDEE 0x16 "Forwardee";
        FORWARDEE_NAME 0x17 "ForwardeeName" alias "Name";
        FORWARDEE_EMAIL 0x18 "ForwardeeEmail" alias "Email";
    }
    email2 = 22, "Email2" alias "POOMMAIL2" {
        UM_CALLER_ID 0x05 "UmCallerID";
        UM_USER_NOTES 0x06 "UmUserNotes";
        UM_ATT_DURATION 0x07 "UmAttDuration";
        UM_ATT_ORDER 0x08 "UmAttOrder";
        CONVERSATION_ID 0x09 "ConversationId" [base64];
        CONVERSATION_INDEX 0x0A "ConversationIndex" [base64];
        LAST_VERB_EXECUTED 0x0B "LastVerbExecuted";
        LAST_VERB_EXECUTION_TIME 0x0C "LastVerbExecutionTime";
        RECEIVED_AS_BCC 0x0D "ReceivedAsBcc";
        SENDER 0x0E "Sender";
        CALENDAR_TYPE 0x0F "CalendarType";
        IS_LEAP_MONTH 0x10 "IsLeapMonth";
        ACCOUNT_ID 0x11 "AccountId";
        FIRST_DAY_OF_WEEK 0x12 "FirstDayOfWeek";
        MEETING_MESSAGE_TYPE 0x13 "MeetingMessageType";
        IS_DRAFT 0x15 "IsDraft";
        BCC 0x16 "Bcc";
        SEND 0x17 "Send";
    }
    notes = 23, "Notes" {
        SUBJECT 0x05 "Subject";
        MESSAGE_CLASS 0x06 "MessageClass";
        LAST_MODIFIED_DATE 0x07 "LastModifiedDate";
        CATEGORIES 0x08 "Categories";
        CATEGORY 0x09 "Category";
    }
    rights_management = 24, "RightsManagement" {
        RIGHTS_MANAGEMENT_SUPPORT 0x05 "RightsManagementSupport";
        RIGHTS_MANAGEMENT_TEMPLATES 0x06 "RightsManagementTemplates";
        RIGHTS_MANAGEMENT_TEMPLATE 0x07 "RightsManagementTemplate";
        RIGHTS_MANAGEMENT_LICENSE 0x08 "RightsManagementLicense";
        EDIT_ALLOWED 0x09 "EditAllowed";
        REPLY_ALLOWED 0x0A "ReplyAllowed";
        REPLY_ALL_ALLOWED 0x0B "ReplyAllAllowed";
        FORWARD_ALLOWED 0x0C "ForwardAllowed";
        MODIFY_RECIPIENTS_ALLOWED 0x0D "ModifyRecipientsAllowed";
        EXTRACT_ALLOWED 0x0E "ExtractAllowed";
        PRINT_ALLOWED 0x0F "PrintAllowed";
        EXPORT_ALLOWED 0x10 "ExportAllowed";
        PROGRAMMATIC_ACCESS_ALLOWED 0x11 "ProgrammaticAccessAllowed";
        OWNER 0x12 "Owner" xml "RMOwner";
        CONTENT_EXPIRY_DATE 0x13 "ContentExpiryDate";
        TEMPLATE_ID 0x14 "TemplateID";
        TEMPLATE_NAME 0x15 "TemplateName";
        TEMPLATE_DESCRIPTION 0x16 "TemplateDescription";
        CONTENT_OWNER 0x17 "ContentOwner";
        REMOVE_RIGHTS_MANAGEMENT_PROTECTION 0x18 "RemoveRightsManagementProtection" xml "RemoveRightsManagementDistribution";
    }
    find = 25, "Find" {
        FIND 0x05 "Find";
        SEARCH_ID 0x06 "SearchId";
        EXECUTE_SEARCH 0x07 "ExecuteSearch";
        MAIL_BOX_SEARCH_CRITERION 0x08 "MailBoxSearchCriterion";
        QUERY 0x09 "Query";
        STATUS 0x0A "Status";
        FREE_TEXT 0x0B "FreeText";
        OPTIONS 0x0C "Options";
        RANGE 0x0D "Range";
        DEEP_TRAVERSAL 0x0E "DeepTraversal";
        RESPONSE 0x11 "Response";
        RESULT 0x12 "Result";
        PROPERTIES 0x13 "Properties";
        PREVIEW 0x14 "Preview";
        HAS_ATTACHMENTS 0x15 "HasAttachments";
        TOTAL 0x16 "Total";
        DISPLAY_CC 0x17 "DisplayCc";
        DISPLAY_BCC 0x18 "DisplayBcc";
        GAL_SEARCH_CRITERION 0x19 "GalSearchCriterion";
        MAX_PICTURES 0x20 "MaxPictures";
        MAX_SIZE 0x21 "MaxSize";
        PICTURE 0x22 "Picture";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SCREAMING_SNAKE_CASE as the constants are named: a word starts at an upper-case letter
    /// after a lower-case letter or digit, or at the last capital of an acronym (`MIMESupport`).
    fn screaming_snake(name: &str) -> String {
        let chars: Vec<char> = name.chars().collect();
        let mut out = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if c == '-' {
                out.push('_');
                continue;
            }
            if i > 0 && c.is_ascii_uppercase() {
                let prev = chars[i - 1];
                let next = chars.get(i + 1).copied().unwrap_or(' ');
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next.is_ascii_lowercase())
                {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn constants_are_named_after_the_ms_names() {
        for page in PAGES {
            for def in page.tags {
                assert_eq!(
                    def.constant,
                    screaming_snake(def.name),
                    "{}:{}",
                    page.name,
                    def.name
                );
            }
        }
        assert_eq!(screaming_snake("MIMESupport"), "MIME_SUPPORT");
        assert_eq!(screaming_snake("Email1Address"), "EMAIL1_ADDRESS");
        assert_eq!(screaming_snake("UmCallerID"), "UM_CALLER_ID");
    }

    #[test]
    fn every_name_identifies_one_tag_per_page_even_ignoring_case() {
        for page in PAGES {
            for (i, def) in page.tags.iter().enumerate() {
                let names = [def.name, def.xml_name()]
                    .into_iter()
                    .chain(def.aliases.iter().copied());
                for name in names {
                    for other in &page.tags[i + 1..] {
                        let clash = [other.name, other.xml_name()]
                            .into_iter()
                            .chain(other.aliases.iter().copied())
                            .any(|n| n.eq_ignore_ascii_case(name));
                        assert!(
                            !clash,
                            "{}: {} and {} share a name",
                            page.name, def.name, other.name
                        );
                    }
                    let found = page.tag_by_name(name);
                    assert_eq!(
                        found,
                        Some(Tag {
                            page: page.number,
                            token: def.token
                        }),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn pages_are_complete_and_indexed() {
        let total: usize = PAGES.iter().map(|page| page.tags.len()).sum();
        // Every MS-ASWBXML 16.1 tag plus the 2.5-only tokens libwbxml still knows.
        assert_eq!(total, 644);
        for page in PAGES {
            for token in 0..64u8 {
                let listed = page.tags.iter().find(|def| def.token == token);
                assert_eq!(page.tag(token).map(|d| d.token), listed.map(|d| d.token));
            }
        }
        let modules: Vec<&str> = PAGES.iter().map(|p| p.module).collect();
        assert_eq!(
            modules,
            [
                "airsync",
                "contacts",
                "email",
                "airnotify",
                "calendar",
                "move_items",
                "item_estimate",
                "folder_hierarchy",
                "meeting_response",
                "tasks",
                "resolve_recipients",
                "validate_cert",
                "contacts2",
                "ping",
                "provision",
                "search",
                "gal",
                "airsyncbase",
                "settings",
                "document_library",
                "item_operations",
                "compose_mail",
                "email2",
                "notes",
                "rights_management",
                "find"
            ]
        );
    }

    #[test]
    fn hand_checked_tokens_from_ms_aswbxml() {
        let expected = [
            (tag::airsync::SYNC, 0, 0x05),
            (tag::airsync::SYNC_KEY, 0, 0x0B),
            (tag::airsync::HEARTBEAT_INTERVAL, 0, 0x29),
            (tag::contacts::WEIGHTED_RANK, 1, 0x3E),
            (tag::email::FLAG, 2, 0x3A),
            (tag::email::STATUS, 2, 0x3B),
            (tag::email::DISALLOW_NEW_TIME_PROPOSAL, 2, 0x3F),
            (tag::calendar::CLIENT_UID, 4, 0x3C),
            (tag::item_estimate::ESTIMATE, 6, 0x0C),
            (tag::folder_hierarchy::FOLDER_SYNC, 7, 0x16),
            (tag::meeting_response::PROPOSED_START_TIME, 8, 0x10),
            (tag::meeting_response::SEND_RESPONSE, 8, 0x12),
            (tag::tasks::UTC_START_DATE, 9, 0x1F),
            (tag::provision::REQUIRE_STORAGE_CARD_ENCRYPTION, 14, 0x10),
            (tag::provision::ACCOUNT_ONLY_REMOTE_WIPE, 14, 0x3B),
            (tag::gal::DATA, 16, 0x12),
            (tag::airsyncbase::LOCATION, 17, 0x20),
            (tag::airsyncbase::INSTANCE_ID, 17, 0x2D),
            (tag::settings::RIGHTS_MANAGEMENT_INFORMATION, 18, 0x2B),
            (tag::compose_mail::MIME, 21, 0x10),
            (tag::compose_mail::FORWARDEE_EMAIL, 21, 0x18),
            (tag::email2::SEND, 22, 0x17),
            (
                tag::rights_management::REMOVE_RIGHTS_MANAGEMENT_PROTECTION,
                24,
                0x18,
            ),
            (tag::find::GAL_SEARCH_CRITERION, 25, 0x19),
            (tag::find::MAX_PICTURES, 25, 0x20),
            (tag::find::PICTURE, 25, 0x22),
        ];
        for (tag, page, token) in expected {
            assert_eq!((tag.page, tag.token), (page, token), "{tag}");
        }
    }

    #[test]
    fn names_and_namespaces() {
        assert_eq!(tag::airsync::SYNC_KEY.name(), "SyncKey");
        assert_eq!(tag::airsync::SYNC_KEY.namespace(), "AirSync");
        assert_eq!(
            tag::item_estimate::GET_ITEM_ESTIMATE.namespace(),
            "GetItemEstimate"
        );
        assert_eq!(tag::gal::PICTURE.namespace(), "GAL");
        assert_eq!(tag::email::STATUS.xml_name(), "FlagStatus");
        assert_eq!(tag::airsync::SYNC_KEY.to_string(), "AirSync:SyncKey");
        let unknown = Tag {
            page: 0,
            token: 0x3F,
        };
        assert_eq!(unknown.name(), "Unknown0x3F");
        assert_eq!(unknown.xml_name(), "Unknown0x3F");
        assert_eq!(
            Tag {
                page: 200,
                token: 0x05
            }
            .namespace(),
            "Unknown"
        );
        assert_eq!(
            Tag {
                page: 200,
                token: 0x05
            }
            .name(),
            "Unknown0x05"
        );
    }

    #[test]
    fn lookup_accepts_ms_and_libwbxml_names() {
        let cases = [
            ("AirSync", "SyncKey", tag::airsync::SYNC_KEY),
            ("AirSync:", "synckey", tag::airsync::SYNC_KEY),
            ("Email", "FlagStatus", tag::email::STATUS),
            ("POOMMAIL", "Reply-To", tag::email::REPLY_TO),
            ("Calendar", "TimeZone", tag::calendar::TIMEZONE),
            (
                "Calendar",
                "Recurrence_DayOfMonth",
                tag::calendar::DAY_OF_MONTH,
            ),
            ("Calendar", "Attendee_Email", tag::calendar::EMAIL),
            ("Tasks", "UTCStartDate", tag::tasks::UTC_START_DATE),
            ("Tasks", "UtcStartDate", tag::tasks::UTC_START_DATE),
            ("GetItemEstimate", "Estimate", tag::item_estimate::ESTIMATE),
            ("ItemEstimate", "Estimate", tag::item_estimate::ESTIMATE),
            ("Gal", "Picture", tag::gal::PICTURE),
            ("GAL:", "Picture", tag::gal::PICTURE),
            (
                "Contacts",
                "BusinessCity",
                tag::contacts::BUSINESS_ADDRESS_CITY,
            ),
            (
                "Provision",
                "DeviceEncryptionEnabled",
                tag::provision::REQUIRE_STORAGE_CARD_ENCRYPTION,
            ),
            (
                "Settings",
                "ihsManagementInformation",
                tag::settings::RIGHTS_MANAGEMENT_INFORMATION,
            ),
            ("ComposeMail", "MIME", tag::compose_mail::MIME),
            ("ComposeMail", "Name", tag::compose_mail::FORWARDEE_NAME),
            ("RightsManagement", "RMOwner", tag::rights_management::OWNER),
            (
                "Find",
                "MailBoxSearchCriterion",
                tag::find::MAIL_BOX_SEARCH_CRITERION,
            ),
            (
                "http://synce.org/formats/airsync_wm5/folderhierarchy",
                "FolderSync",
                tag::folder_hierarchy::FOLDER_SYNC,
            ),
            (
                "AirSync",
                "Unknown0x3F",
                Tag {
                    page: 0,
                    token: 0x3F,
                },
            ),
        ];
        for (namespace, name, expected) in cases {
            assert_eq!(
                Tag::lookup(namespace, name),
                Some(expected),
                "{namespace} {name}"
            );
        }
        assert_eq!(Tag::lookup("AirSync", "NoSuchTag"), None);
        assert_eq!(Tag::lookup("NoSuchPage", "Sync"), None);
        assert_eq!(Tag::lookup("AirSync", "Unknown0x04"), None);
        assert_eq!(Tag::lookup("AirSync", "Unknown0x40"), None);
    }
}
