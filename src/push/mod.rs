//! Change notifications for DirectPush, the sending side: every writer of easd (the
//! request loop after a client change, `easd deliver`, `easd import`) tells the running
//! server that a user's data changed by sending one UDP datagram to the loopback `notify`
//! address. The receiving side is `http::notify` in the front door.
//!
//! Datagram format (also documented in README, so a mail system's hook can send one): the
//! user's e-mail address in lower case, UTF-8, optionally followed by one newline.
//! Datagrams are best effort by design: a lost one only delays a phone until its heartbeat
//! ends, and a writer must never fail because no server is running.

use std::net::{SocketAddr, UdpSocket};

/// Longest datagram the server reads; an e-mail address is at most 254 bytes.
pub const MAX_DATAGRAM: usize = 512;

/// Tells the server at `addr` that `email`'s data changed. Never fails: problems are only
/// logged at debug level (no server running is the normal case for a stopped service).
pub fn notify(addr: SocketAddr, email: &str) {
    let local: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    };
    let payload = datagram(email);
    let outcome = UdpSocket::bind(local).and_then(|socket| socket.send_to(&payload, addr));
    if let Err(error) = outcome {
        log::debug!("change notification for {email} to {addr} not sent: {error}");
    }
}

/// The datagram for `email`.
pub fn datagram(email: &str) -> Vec<u8> {
    let mut bytes = email.trim().to_lowercase().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The user a received datagram names, lower-cased; `None` for anything that is not one
/// plausible address.
pub fn parse_datagram(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty()
        || text.len() > 254
        || !text.contains('@')
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(text.to_lowercase())
}

/// The runtime settings of DirectPush (database settings, `easd config`): name, default,
/// meaning. Read on every request, so a change takes effect without a restart.
pub const SETTINGS: &[(&str, u64, &str)] = &[
    (
        HEARTBEAT_MIN,
        60,
        "shortest Ping/Sync heartbeat a device may ask for, seconds",
    ),
    (
        HEARTBEAT_MAX,
        1800,
        "longest Ping/Sync heartbeat a device may ask for, seconds",
    ),
    (MAX_FOLDERS, 300, "most folders one Ping may watch"),
];

/// Setting: shortest heartbeat, seconds.
pub const HEARTBEAT_MIN: &str = "push.heartbeat-min";
/// Setting: longest heartbeat, seconds.
pub const HEARTBEAT_MAX: &str = "push.heartbeat-max";
/// Setting: most folders in one Ping.
pub const MAX_FOLDERS: &str = "push.max-folders";

/// The default of a known push setting; `None` for an unknown name.
pub fn default_of(key: &str) -> Option<u64> {
    SETTINGS
        .iter()
        .find(|(name, _, _)| *name == key)
        .map(|(_, default, _)| *default)
}

/// Checks a value for a known push setting: a whole number of at least 1.
pub fn validate(key: &str, value: &str) -> Result<u64, String> {
    if default_of(key).is_none() {
        return Err(format!("unknown setting {key:?}"));
    }
    match value.trim().parse::<u64>() {
        Ok(number) if number >= 1 => Ok(number),
        _ => Err(format!(
            "{key} must be a whole number of at least 1, not {value:?}"
        )),
    }
}

/// The effective value of a known push setting: the stored one when valid, else the default.
pub fn setting(store: &crate::store::Store, key: &str) -> Result<u64, crate::store::StoreError> {
    let default = default_of(key).unwrap_or(1);
    Ok(match store.setting(key)? {
        Some(text) => match validate(key, &text) {
            Ok(value) => value,
            Err(reason) => {
                log::warn!("ignoring stored setting: {reason}; using {default}");
                default
            }
        },
        None => default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_round_trip_and_bad_ones_are_refused() {
        assert_eq!(datagram(" Alice@Example.org"), b"alice@example.org\n");
        assert_eq!(
            parse_datagram(b"alice@example.org\n").as_deref(),
            Some("alice@example.org")
        );
        assert_eq!(
            parse_datagram(b"Bob@Example.org").as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(
            parse_datagram(b"bob@example.org\r\n").as_deref(),
            Some("bob@example.org")
        );
        for bad in [
            &b""[..],
            b"\n",
            b"no-at-sign",
            b"two words@x",
            b"\xff@x",
            b"a@b\n\n",
        ] {
            assert_eq!(parse_datagram(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn notify_reaches_a_listening_socket() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        notify(receiver.local_addr().unwrap(), "carol@example.org");
        let mut buffer = [0u8; MAX_DATAGRAM];
        let (len, _) = receiver.recv_from(&mut buffer).unwrap();
        assert_eq!(
            parse_datagram(&buffer[..len]).as_deref(),
            Some("carol@example.org")
        );
    }
}
