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
//! - [`policy`]: the MS-ASPROV security policy settings and their inheritance (pure data).
//! - [`protocol_version`]: the EAS protocol versions and their order (shared by `eas` and `policy`).
//! - [`notice`]: the explanatory e-mails easd files into a user's Inbox (refusals, wipes).
//! - [`push`]: DirectPush change notifications (one UDP datagram per changed user).
//! - [`logsafe`]: network-supplied values escaped and capped for log lines.
//! - [`web`]: the family's web page (own devices, wipe, out-of-office, password).
//! - [`ca`]: the private certificate authority that signs the server certificate; fingerprints.
//! - [`smime`]: S/MIME certificates: reading them and validating chains against a trust store.
//! - [`calendar`]: time zones, recurrence expansion and iTIP parsing of calendar events (pure logic).

pub mod admin;
pub mod autodiscover;
pub mod ca;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod eas;
pub mod http;
pub mod interchange;
pub mod logsafe;
pub mod mail_submit;
pub mod mime;
pub mod notice;
pub mod oof;
pub mod outbox;
pub mod policy;
pub mod protocol_version;
pub mod push;
pub mod server;
pub mod smime;
pub mod store;
pub mod wbxml;
pub mod web;
