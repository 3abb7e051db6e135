//! Out-of-office replies (RFC 3834), sent by `easd deliver` after a message is filed: while
//! the recipient's Oof (Settings command) is on, each sender gets one automatic reply per
//! period (a new Oof Set starts a new period), and never mailing lists, bulk mail, other
//! automatic mail or addresses that cannot answer.
//!
//! Which message: a sender of the user's own domain gets the internal one; an external
//! sender the user has written to (a To/Cc recipient of a message in the user's Sent Items)
//! gets the "known external" one; everyone else the "unknown external" one. A disabled
//! message means no reply for that audience.
//!
//! The reply goes to the envelope sender (`--sender`, else `Return-Path`, else `From`) with
//! an empty envelope sender of its own (RFC 3834 §3.3), so a bounce of it cannot loop. It is
//! written in the transaction that files the message and records the sender as answered
//! ([`write_reply`]): a local address gets it in its Inbox directly; for others it is queued
//! in the outbox, then tried at once through `submission-command` after the commit
//! ([`send_written`]); a refusal leaves it to the server's retries (`crate::outbox`).

use base64::Engine;

use crate::mime::{self, ParsedMessage};
use crate::store::oof::Audience;
use crate::store::{random_hex, FolderType, NewMessage, Store, StoreError, User};

/// What happened to one delivered message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The user's out-of-office is off (or outside its time window).
    Off,
    /// No reply is due (the reason is for the log).
    Skipped(&'static str),
    /// A reply went to this address.
    Replied(String),
    /// A reply to this address was refused by the mail system for now (the error): it waits
    /// in the outbox and the server tries again.
    Queued(String, String),
}

/// Converts a reply text between `Text` and `HTML`.
pub fn convert_body(text: &str, from: &str, to: &str) -> String {
    match (
        from.eq_ignore_ascii_case("html"),
        to.eq_ignore_ascii_case("html"),
    ) {
        (false, true) => mime::text_to_html(text),
        (true, false) => mime::html_to_text(text),
        _ => text.to_string(),
    }
}

/// The out-of-office reply to a message being delivered, as written in the delivery's
/// transaction: what is left to do once it commits.
#[derive(Debug)]
pub enum Written {
    /// Nothing was written (the reply is not due, or this says why).
    Nothing(Outcome),
    /// The reply to `sender` was filed in this local user's Inbox.
    Filed { local: String, sender: String },
    /// The reply to `sender` waits in the outbox as this entry.
    Queued { id: i64, sender: String },
}

/// Writes the out-of-office reply to a message being filed for `user`, when the user's
/// out-of-office says so: records the sender as answered and files the reply (a local
/// sender) or queues it (anyone else). Called inside the transaction that files the
/// message, so the message, the answered sender and the reply commit together. On an error
/// its own writes are undone (a savepoint) and the caller's stay: the delivery does not
/// depend on the reply. `envelope_sender` is what the MTA passed (`$SENDER`), if anything.
pub fn write_reply(
    store: &Store,
    user: &User,
    raw: &[u8],
    envelope_sender: Option<&str>,
    now: i64,
) -> Result<Written, StoreError> {
    let oof = store.oof(user.id)?;
    if !oof.active_at(now) {
        return Ok(Written::Nothing(Outcome::Off));
    }
    let headers = mime::raw_headers(raw);
    if let Some(reason) = automatic_or_bulk(&headers) {
        return Ok(Written::Nothing(Outcome::Skipped(reason)));
    }
    let parsed = mime::parse(raw);
    let Some(sender) = reply_address(envelope_sender, &headers, &parsed) else {
        return Ok(Written::Nothing(Outcome::Skipped("no sender address")));
    };
    if let Some(reason) = unanswerable(&sender, user) {
        return Ok(Written::Nothing(Outcome::Skipped(reason)));
    }
    let audience = audience_of(store, user, &sender)?;
    let message = oof.message(audience);
    if !message.enabled || message.reply.trim().is_empty() {
        return Ok(Written::Nothing(Outcome::Skipped(
            "no reply for this kind of sender",
        )));
    }
    let reply = compose_reply(
        user,
        &sender,
        &parsed,
        &message.reply,
        &message.body_type,
        now,
    );
    // Answered and reply (filed or queued) are one write: the reply exists exactly when the
    // sender counts as answered.
    store.atomically(|| -> Result<Written, StoreError> {
        if !store.claim_oof_reply(user.id, &sender, now)? {
            return Ok(Written::Nothing(Outcome::Skipped(
                "already answered in this period",
            )));
        }
        file_or_queue(store, user, sender, &reply, now)
    })
}

/// Finishes a reply [`write_reply`] wrote, after its transaction committed: tells the local
/// recipient's phones, or hands the queued reply to the mail system at once (a refusal
/// leaves it to the server's retries). Errors are for the log.
pub fn send_written(
    store: &Store,
    written: Written,
    submission_command: &[String],
    notify: Option<std::net::SocketAddr>,
    now: i64,
) -> Result<Outcome, String> {
    match written {
        Written::Nothing(outcome) => Ok(outcome),
        Written::Filed { local, sender } => {
            if let Some(addr) = notify {
                crate::push::notify(addr, &local);
            }
            Ok(Outcome::Replied(sender))
        }
        Written::Queued { id, sender } => {
            let backoff = crate::outbox::backoff_from_env();
            let sent = crate::outbox::attempt_claimed(
                store,
                id,
                submission_command,
                &backoff,
                notify,
                now,
            )
            .map_err(|e| e.to_string())?;
            match sent {
                crate::outbox::Attempt::Sent(_) => Ok(Outcome::Replied(sender)),
                _ => {
                    let error = store
                        .queued_mail(id)
                        .ok()
                        .flatten()
                        .and_then(|m| m.last_error)
                        .unwrap_or_default();
                    Ok(Outcome::Queued(sender, error))
                }
            }
        }
    }
}

/// Why a message is automatic or bulk mail that must not be answered (RFC 3834 §2).
fn automatic_or_bulk(headers: &[(String, String)]) -> Option<&'static str> {
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_ascii_lowercase();
        if name.starts_with("list-") {
            return Some("mailing list");
        }
        match name.as_str() {
            "precedence" if ["bulk", "list", "junk"].contains(&value.as_str()) => {
                return Some("bulk mail")
            }
            "auto-submitted" if value != "no" => return Some("automatic mail"),
            "x-auto-response-suppress" if value.contains("oof") || value.contains("all") => {
                return Some("the sender asked for no automatic replies")
            }
            "x-autoreply" | "x-autorespond" => return Some("automatic mail"),
            _ => {}
        }
    }
    None
}

/// Where a reply goes: the envelope sender, else `Return-Path`, else `From`. `None` for the
/// null sender (bounces) or no address at all.
fn reply_address(
    envelope_sender: Option<&str>,
    headers: &[(String, String)],
    parsed: &ParsedMessage,
) -> Option<String> {
    let bare = |text: &str| {
        text.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_lowercase()
    };
    let return_path = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("return-path"))
        .map(|(_, value)| value.as_str());
    let address = match envelope_sender.or(return_path) {
        Some(given) => bare(given),
        None => parsed.from.as_ref().map(|m| bare(&m.email))?,
    };
    (address.contains('@') && !address.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then_some(address)
}

/// Why an address must not get an automatic reply.
fn unanswerable(sender: &str, user: &User) -> Option<&'static str> {
    if sender.eq_ignore_ascii_case(&user.email) {
        return Some("the user's own mail");
    }
    let local = sender.split('@').next().unwrap_or_default();
    let robot = ["mailer-daemon", "postmaster", "listserv", "majordomo"].contains(&local)
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
        || local.replace(['-', '_', '.'], "").starts_with("noreply")
        || local.replace(['-', '_', '.'], "").starts_with("donotreply");
    robot.then_some("an address that does not read replies")
}

fn audience_of(store: &Store, user: &User, sender: &str) -> Result<Audience, StoreError> {
    let domain = sender.rsplit_once('@').map_or("", |(_, d)| d);
    Ok(if domain.eq_ignore_ascii_case(&user.domain) {
        Audience::Internal
    } else if store.has_written_to(user.id, sender)? {
        Audience::ExternalKnown
    } else {
        Audience::ExternalUnknown
    })
}

/// `=?UTF-8?B?…?=` for a header text that is not plain ASCII.
fn header_text(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        clean
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
        )
    }
}

/// The reply message, RFC 3834 shaped.
fn compose_reply(
    user: &User,
    to: &str,
    original: &ParsedMessage,
    text: &str,
    body_type: &str,
    now: i64,
) -> Vec<u8> {
    let from = if user.display_name.trim().is_empty() {
        user.email.clone()
    } else {
        format!(
            "{} <{}>",
            header_text(&user.display_name.replace('"', "")),
            user.email
        )
    };
    let subject = if original.subject.trim().is_empty() {
        "Automatic reply".to_string()
    } else {
        format!("Automatic reply: {}", original.subject.trim())
    };
    let mut head = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <oof.{}@{}>\r\n",
        header_text(&subject),
        crate::clock::rfc5322_date(now),
        random_hex(12),
        user.domain
    );
    if let Some(id) = &original.message_id {
        head.push_str(&format!("In-Reply-To: <{id}>\r\n"));
        let mut references: Vec<String> = original
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect();
        references.push(format!("<{id}>"));
        head.push_str(&format!("References: {}\r\n", references.join(" ")));
    }
    let subtype = if body_type.eq_ignore_ascii_case("html") {
        "html"
    } else {
        "plain"
    };
    head.push_str(&format!(
        "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/{subtype}; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    ));
    let mut message = head.into_bytes();
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    for line in encoded.as_bytes().chunks(76) {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }
    message
}

/// Files the reply in a local user's Inbox, or queues it with an empty envelope sender.
fn file_or_queue(
    store: &Store,
    user: &User,
    to: String,
    reply: &[u8],
    now: i64,
) -> Result<Written, StoreError> {
    if let Some(local) = store.user_by_email(&to)? {
        let inbox = store
            .folders_of(local.id)?
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .ok_or_else(|| StoreError::NotFound(format!("the Inbox of {}", local.email)))?;
        let filed = NewMessage {
            received_at: Some(now),
            recipient: Some(&local.email),
            ..NewMessage::new(reply)
        };
        store.add_message(local.id, inbox.id, &filed)?;
        return Ok(Written::Filed {
            local: local.email,
            sender: to,
        });
    }
    let recipients = [to.clone()];
    let queued = crate::store::Outgoing {
        user: user.id,
        sender: "<>",
        recipients: &recipients,
        message: reply,
    };
    // Claimed for `send_written`'s attempt right after the commit; the server, told of the
    // delivery, would otherwise take it at the same moment.
    let lease = crate::outbox::backoff_from_env().claim_lease;
    let id = store.enqueue_claimed_mail(&queued, now, lease)?;
    Ok(Written::Queued { id, sender: to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(text: &str) -> Vec<(String, String)> {
        mime::raw_headers(text.as_bytes())
    }

    #[test]
    fn lists_bulk_and_automatic_mail_are_not_answered() {
        assert!(automatic_or_bulk(&headers("List-Id: <x.lists>\r\n\r\n")).is_some());
        assert!(automatic_or_bulk(&headers("List-Unsubscribe: <m>\r\n\r\n")).is_some());
        assert!(automatic_or_bulk(&headers("Precedence: Bulk\r\n\r\n")).is_some());
        assert!(automatic_or_bulk(&headers("Precedence: junk\r\n\r\n")).is_some());
        assert!(automatic_or_bulk(&headers("Auto-Submitted: auto-replied\r\n\r\n")).is_some());
        assert!(automatic_or_bulk(&headers("Auto-Submitted: no\r\nSubject: x\r\n\r\n")).is_none());
        assert!(automatic_or_bulk(&headers("Precedence: first-class\r\n\r\n")).is_none());
    }

    #[test]
    fn robots_and_the_user_are_not_answered() {
        let user = User {
            id: 1,
            email: "me@example.com".into(),
            display_name: String::new(),
            domain: "example.com".into(),
            password_hash: String::new(),
            created: 0,
        };
        for address in [
            "mailer-daemon@x.org",
            "no-reply@x.org",
            "noreply@x.org",
            "do_not_reply@x.org",
            "owner-list@x.org",
            "list-request@x.org",
            "me@example.com",
        ] {
            assert!(unanswerable(address, &user).is_some(), "{address}");
        }
        assert!(unanswerable("friend@x.org", &user).is_none());
    }

    #[test]
    fn the_reply_address_prefers_the_envelope() {
        let raw = b"Return-Path: <bounce@x.org>\r\nFrom: A <a@x.org>\r\n\r\n";
        let parsed = mime::parse(raw);
        let h = mime::raw_headers(raw);
        assert_eq!(
            reply_address(Some("env@x.org"), &h, &parsed).as_deref(),
            Some("env@x.org")
        );
        assert_eq!(
            reply_address(None, &h, &parsed).as_deref(),
            Some("bounce@x.org")
        );
        assert_eq!(reply_address(Some("<>"), &h, &parsed), None);
        let raw = b"From: A <A@x.org>\r\n\r\n";
        let parsed = mime::parse(raw);
        assert_eq!(
            reply_address(None, &mime::raw_headers(raw), &parsed).as_deref(),
            Some("a@x.org")
        );
    }

    #[test]
    fn bodies_convert_between_text_and_html() {
        assert_eq!(convert_body("a", "Text", "Text"), "a");
        assert!(convert_body("a < b", "Text", "HTML").contains("&lt;"));
        assert_eq!(convert_body("<p>hi</p>", "HTML", "Text").trim(), "hi");
    }
}
