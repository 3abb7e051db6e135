//! Interchange formats that know no protocol: iCalendar written from stored records
//! ([`ics`]) and vCard read and written ([`vcard`]). The command line imports and exports
//! with them; the groupware-as-mail view attaches an item in its native format.

pub mod ics;
pub mod vcard;
