//! easd — an Exchange ActiveSync server for routers, NAS boxes and home servers.
//!
//! The plan of the house (see `docs/ARCHITECTURE.md` for the long form):
//! - [`wbxml`]: the hand-written WBXML codec and the EAS code pages as data tables.
//! - [`http`]: the mio front door — sockets, TLS (rustls), limits, parked requests.
//! - [`server`]: the blocking tiny_http loop behind it — MS-ASHTTP query, auth, dispatch.
//! - [`eas`]: one module per EAS command.
//! - [`autodiscover`]: the autodiscover / SmartDiscover endpoint.
//! - [`mail_submit`]: outgoing mail handed to the local MTA (`submission-command`).
//! - [`mime`]: MIME parsing into the fields EAS needs; mbox and Maildir formats.
//! - [`store`]: the one SQLite file — schema, migrations, one module per kind of data.
//! - [`admin`]: the `easd` command line.
//! - [`config`]: start-up settings (`/etc/easd/easd.conf`).
//! - [`clock`]: Unix seconds to the date forms EAS and the CLI print.
//! - [`policy`]: the MS-ASPROV security policy settings, inheritance and provision documents.
//! - [`notice`]: the explanatory e-mails easd files into a user's Inbox (refusals, wipes).
//! - [`push`]: DirectPush change notifications (one UDP datagram per changed user).
//! - [`calendar`]: time zones, recurrence expansion and iTIP parsing of calendar events (pure logic).
//! - [`meetings`]: meeting mail (iMIP REQUEST/CANCEL/REPLY) applied to the recipient's calendar.

pub mod admin;
pub mod autodiscover;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod eas;
pub mod http;
pub mod mail_submit;
pub mod meetings;
pub mod mime;
pub mod notice;
pub mod oof;
pub mod policy;
pub mod push;
pub mod server;
pub mod store;
pub mod wbxml;
