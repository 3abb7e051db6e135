//! Conversation threading the way Exchange exposes it: a 16-byte ConversationId shared by
//! every message of a thread, and a ConversationIndex (MS-OXOMSG 2.2.1.3) that orders the
//! messages inside it.
//!
//! The id is derived, not stored in any header, so it must come out the same for every
//! message of a thread whatever order they arrive in: it is the first 16 bytes of SHA-256
//! over the thread's root Message-ID (the first entry of `References`, else `In-Reply-To`,
//! else the message's own Message-ID), or over the normalised subject when a message has
//! no ids at all. The index is the 22-byte header form (reserved byte, 40 bits of FILETIME,
//! 16-byte GUID) for a new thread, the parent's index plus one 5-byte response level for a
//! reply whose parent is in the mailbox, or the sender's own `Thread-Index` when Outlook
//! sent one.

use sha2::{Digest, Sha256};

/// Length of the conversation index header block.
pub const INDEX_HEADER_LEN: usize = 22;
/// Length of one response level appended per reply.
pub const RESPONSE_LEVEL_LEN: usize = 5;

/// Seconds between 1601-01-01 (the FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;
const FILETIME_TICKS_PER_SEC: i64 = 10_000_000;

/// The ConversationId for a thread root key (see [`thread_root_key`]).
pub fn conversation_id(root_key: &str) -> [u8; 16] {
    let digest = Sha256::digest(root_key.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The key that identifies a thread: its root Message-ID when the message names one (or
/// has one), else its normalised subject.
pub fn thread_root_key(
    references: &[String],
    in_reply_to: Option<&str>,
    message_id: Option<&str>,
    subject: &str,
) -> String {
    let root = references
        .first()
        .map(String::as_str)
        .or(in_reply_to)
        .or(message_id)
        .filter(|id| !id.is_empty());
    match root {
        Some(id) => format!("id:{id}"),
        None => format!("subject:{}", normalized_subject(subject).to_lowercase()),
    }
}

/// The subject without reply and forward prefixes (`Re:`, `Fwd:`, `AW:`, `WG:`, `SV:`,
/// `Re[2]:` …), repeated as often as they occur, and without surrounding blanks.
pub fn normalized_subject(subject: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "ref", "tr", "rif", "r", "odp", "res",
        "enc",
    ];
    let mut rest = subject.trim();
    loop {
        let Some(colon) = rest.find(':') else {
            return rest;
        };
        let word = rest[..colon].trim_end();
        // "Re[2]" and "Re(2)" carry a reply count.
        let word = match word.find(['[', '(']) {
            Some(open)
                if word.ends_with([']', ')'])
                    && word[open + 1..word.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit()) =>
            {
                &word[..open]
            }
            _ => word,
        };
        if PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
            rest = rest[colon + 1..].trim_start();
        } else {
            return rest;
        }
    }
}

/// A Unix time as a FILETIME (100 ns ticks since 1601), clamped to the representable range.
fn filetime(unix: i64) -> u64 {
    let secs = unix.saturating_add(FILETIME_UNIX_OFFSET_SECS).max(0);
    u64::try_from(secs.saturating_mul(FILETIME_TICKS_PER_SEC)).unwrap_or(0)
}

/// The 22-byte header block of a new thread started at `unix` with `id` as its GUID.
pub fn index_header(unix: i64, id: &[u8; 16]) -> Vec<u8> {
    let time = filetime(unix);
    let mut index = Vec::with_capacity(INDEX_HEADER_LEN);
    index.push(0x01);
    // The 40 most significant bits of the FILETIME, big-endian.
    index.extend_from_slice(&(time >> 24).to_be_bytes()[3..8]);
    index.extend_from_slice(id);
    index
}

/// Whether `index` has the shape of a conversation index: a header block and whole
/// response levels.
pub fn is_valid_index(index: &[u8]) -> bool {
    index.len() >= INDEX_HEADER_LEN
        && (index.len() - INDEX_HEADER_LEN).is_multiple_of(RESPONSE_LEVEL_LEN)
        && index[0] == 0x01
}

/// The parent's index with one response level for a reply at `unix` appended. `nonce`
/// fills the level's 4 random bits.
pub fn index_reply(parent: &[u8], unix: i64, nonce: u8) -> Vec<u8> {
    let mut header_time_bytes = [0u8; 8];
    header_time_bytes[3..8].copy_from_slice(&parent[1..6]);
    let header_time = u64::from_be_bytes(header_time_bytes) << 24;
    let difference = filetime(unix).saturating_sub(header_time);
    // DC = 0 keeps bits 49..18 of the difference; DC = 1 (differences over ~1.7 years) bits 54..23.
    let level: u32 = if difference >> 49 == 0 {
        ((difference >> 18) & 0x7fff_ffff) as u32
    } else {
        0x8000_0000 | ((difference >> 23) & 0x7fff_ffff) as u32
    };
    let mut index = Vec::with_capacity(parent.len() + RESPONSE_LEVEL_LEN);
    index.extend_from_slice(parent);
    index.extend_from_slice(&level.to_be_bytes());
    // 4 random bits, then a 4-bit sequence count (always the first response here).
    index.push((nonce & 0x0f) << 4);
    index
}

/// The form EAS sends as `email2:ConversationIndex` (MS-ASCON 2.2.2.4): the 5 time bytes
/// of the header and the response levels, without the reserved byte and the GUID.
pub fn eas_conversation_index(index: &[u8]) -> Vec<u8> {
    if !is_valid_index(index) {
        return Vec::new();
    }
    let mut eas = Vec::with_capacity(index.len() - 17);
    eas.extend_from_slice(&index[1..6]);
    eas.extend_from_slice(&index[INDEX_HEADER_LEN..]);
    eas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_normalised() {
        assert_eq!(normalized_subject("Re: Fwd: AW: Hello"), "Hello");
        assert_eq!(normalized_subject("  RE[2]: WG:  Office "), "Office");
        assert_eq!(normalized_subject("Re: Meeting: today"), "Meeting: today");
        assert_eq!(normalized_subject("Reminder: x"), "Reminder: x");
        assert_eq!(normalized_subject(""), "");
        assert_eq!(normalized_subject("Re:"), "");
    }

    #[test]
    fn thread_root_prefers_references_then_reply_then_own_id() {
        let refs = vec!["root@x".to_string(), "mid@x".to_string()];
        assert_eq!(
            thread_root_key(&refs, Some("mid@x"), Some("me@x"), "s"),
            "id:root@x"
        );
        assert_eq!(
            thread_root_key(&[], Some("mid@x"), Some("me@x"), "s"),
            "id:mid@x"
        );
        assert_eq!(thread_root_key(&[], None, Some("me@x"), "s"), "id:me@x");
        assert_eq!(
            thread_root_key(&[], None, None, "Re: Lunch"),
            "subject:lunch"
        );
        // A thread's root and a reply to it share the id.
        let root = conversation_id(&thread_root_key(&[], None, Some("a@x"), "Lunch"));
        let reply = conversation_id(&thread_root_key(
            &["a@x".to_string()],
            Some("a@x"),
            Some("b@x"),
            "Re: Lunch",
        ));
        assert_eq!(root, reply);
        assert_ne!(root, conversation_id("id:other@x"));
    }

    #[test]
    fn header_block_holds_filetime_and_guid() {
        let id = [0xabu8; 16];
        // 2014-09-08 14:26:50 UTC
        let index = index_header(1_410_186_410, &id);
        assert_eq!(index.len(), INDEX_HEADER_LEN);
        assert_eq!(index[0], 1);
        assert_eq!(&index[6..], &id);
        let ft = filetime(1_410_186_410);
        let mut top = [0u8; 8];
        top[3..].copy_from_slice(&index[1..6]);
        assert_eq!(u64::from_be_bytes(top), ft >> 24);
        assert!(is_valid_index(&index));
        assert_eq!(eas_conversation_index(&index), index[1..6].to_vec());
    }

    #[test]
    fn reply_levels_encode_the_time_difference() {
        let id = [7u8; 16];
        let start = 1_700_000_000;
        let parent = index_header(start, &id);
        let reply = index_reply(&parent, start + 3600, 0x5);
        assert_eq!(reply.len(), INDEX_HEADER_LEN + RESPONSE_LEVEL_LEN);
        assert!(is_valid_index(&reply));
        assert_eq!(&reply[..INDEX_HEADER_LEN], &parent[..]);
        let level = u32::from_be_bytes(reply[22..26].try_into().unwrap());
        assert_eq!(level & 0x8000_0000, 0, "an hour is a short difference");
        // The header time lost its low 24 bits, so the difference is at least an hour.
        let hour_ticks = 3600 * FILETIME_TICKS_PER_SEC as u64;
        let decoded = u64::from(level) << 18;
        assert!(decoded <= hour_ticks + (1 << 24) && decoded + (1 << 18) >= hour_ticks);
        assert_eq!(reply[26], 0x50);
        // Years later the DC bit switches to the coarse unit.
        let late = index_reply(&parent, start + 3 * 365 * 86_400, 0);
        assert_ne!(late[22] & 0x80, 0);
        // Replies to replies keep growing.
        let deeper = index_reply(&reply, start + 7200, 0);
        assert_eq!(deeper.len(), INDEX_HEADER_LEN + 2 * RESPONSE_LEVEL_LEN);
        assert_eq!(eas_conversation_index(&deeper).len(), 5 + 10);
    }

    #[test]
    fn invalid_indexes_are_recognised() {
        assert!(!is_valid_index(&[]));
        assert!(!is_valid_index(&[1u8; 21]));
        assert!(!is_valid_index(&[1u8; 23]));
        assert!(!is_valid_index(&[2u8; 22]));
        assert!(eas_conversation_index(&[0u8; 3]).is_empty());
    }
}
