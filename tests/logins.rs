//! Failed logins through the real server: lockouts per client address and per login name
//! (HTTP 503 + Retry-After, the right password refused while locked), unknown and known names
//! failing alike, the budget of failed hashes, log lines a login name cannot forge or flood,
//! and the packaged fail2ban filter run by `fail2ban-regex` over a real server log.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::process::Command;
use std::time::Duration;

use common::{basic_auth, read_response, HttpResponse, TestServer, PASSWORD};

const EAS_PATH: &str = "/Microsoft-Server-ActiveSync";

/// A TCP connection to `server` from the loopback address `source` (any of 127.0.0.0/8), so
/// one test can be several clients with addresses of their own.
fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let to_sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let SocketAddr::V4(server) = server else {
        panic!("the test server listens on IPv4 loopback");
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr structs
    // live across the calls, and the descriptor goes to exactly one TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = to_sockaddr(source, 0);
        let bound = libc::bind(fd, std::ptr::addr_of!(local).cast(), len);
        assert_eq!(
            bound,
            0,
            "bind {source}: {}",
            std::io::Error::last_os_error()
        );
        let remote = to_sockaddr(*server.ip(), server.port());
        let connected = libc::connect(fd, std::ptr::addr_of!(remote).cast(), len);
        assert_eq!(connected, 0, "connect: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// One OPTIONS request with Basic credentials from `source`, on a connection of its own.
fn login_from(server: &TestServer, source: Ipv4Addr, login: &str, password: &str) -> HttpResponse {
    let mut stream = connect_from(source, server.http);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let request = format!(
        "OPTIONS {EAS_PATH} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         Content-Length: 0\r\n\r\n",
        basic_auth(login, password)
    );
    stream.write_all(request.as_bytes()).expect("send");
    read_response(&mut stream)
        .expect("read")
        .expect("an answer")
}

const HOME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn login(server: &TestServer, login: &str, password: &str) -> HttpResponse {
    login_from(server, HOME, login, password)
}

/// The `Retry-After` seconds of a throttled answer (503), failing the test for anything else.
fn retry_after(response: &HttpResponse) -> u64 {
    assert_eq!(
        response.status, 503,
        "throttled answers are 503: {response:?}"
    );
    response
        .header("Retry-After")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("503 without Retry-After seconds: {response:?}"))
}

/// Waits out a lock whose Retry-After was `seconds`.
fn wait_out(seconds: u64) {
    std::thread::sleep(Duration::from_secs(seconds) + Duration::from_millis(200));
}

/// Settings for a test of lockouts: the hash budget is the loop's whole time, so that slow
/// hashes on a busy test machine never make it refuse (the budget has a test of its own).
fn lockouts_only(settings: &str) -> String {
    format!("login-hash-share = 100\nlogin-lockout-max = 60\n{settings}")
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

#[test]
fn an_address_is_refused_after_its_failures_and_let_in_after_the_lock() {
    let server = TestServer::start_with(&lockouts_only(
        "login-failures = 3\nlogin-failures-account = 100\nlogin-lockout = 1",
    ));
    server.add_user("ann@example.com");
    // Three failures from one address, each for another name (known or not): 401 each.
    for name in ["ann@example.com", "bob@example.com", "carl"] {
        assert_eq!(login(&server, name, "wrong").status, 401, "{name}");
    }
    // Now the address is locked: even Ann's right password is refused, without a check.
    let refused = login(&server, "ann@example.com", PASSWORD);
    let seconds = retry_after(&refused);
    assert_eq!(seconds, 1, "the first lock is login-lockout");
    // Another address is not affected.
    assert_eq!(
        login_from(&server, ELSEWHERE, "ann@example.com", PASSWORD).status,
        200
    );
    let log = server.log();
    assert_eq!(
        lines_with(&log, "login throttled: address 127.0.0.1 refused for 1 s").len(),
        1,
        "{log}"
    );
    // After the lock Ann gets in from the first address again.
    wait_out(seconds);
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
}

#[test]
fn a_login_name_is_refused_from_every_address_and_the_lock_grows() {
    let server = TestServer::start_with(&lockouts_only(
        "login-failures = 100\nlogin-failures-account = 3\nlogin-lockout = 1",
    ));
    server.add_user("ann@example.com");
    server.add_user("bob@example.com");
    for _ in 0..3 {
        assert_eq!(login(&server, "ann@example.com", "wrong").status, 401);
    }
    // Ann is locked wherever she comes from, with the right password too (in another case).
    let seconds = retry_after(&login_from(&server, ELSEWHERE, "ANN@example.com", PASSWORD));
    assert_eq!(seconds, 1);
    // Bob, from the address the failures came from, is not.
    assert_eq!(login(&server, "bob@example.com", PASSWORD).status, 200);
    wait_out(seconds);
    // After a lock, one more failure locks again, twice as long.
    assert_eq!(login(&server, "ann@example.com", "wrong").status, 401);
    assert_eq!(retry_after(&login(&server, "ann@example.com", PASSWORD)), 2);
    wait_out(2);
    // The right password gets in and clears the record: failures count from zero again.
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
    for _ in 0..2 {
        assert_eq!(login(&server, "ann@example.com", "wrong").status, 401);
    }
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
}

/// The parts of an answer a client can compare, without the date.
fn shape(response: &HttpResponse) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("Date"))
        .cloned()
        .collect();
    headers.sort();
    (response.status, headers, response.body.clone())
}

#[test]
fn unknown_and_known_login_names_fail_and_lock_alike() {
    let server = TestServer::start_with(&lockouts_only(
        "login-failures = 100\nlogin-failures-account = 2\nlogin-lockout = 30",
    ));
    server.add_user("ann@example.com");
    let known = login(&server, "ann@example.com", "wrong");
    let unknown = login(&server, "nobody@example.com", "wrong");
    assert_eq!(known.status, 401);
    assert_eq!(shape(&known), shape(&unknown));
    // The second failure locks either name the same way.
    let known = login(&server, "ann@example.com", "wrong");
    let unknown = login(&server, "nobody@example.com", "wrong");
    assert_eq!(shape(&known), shape(&unknown));
    let known = login(&server, "ann@example.com", PASSWORD);
    let unknown = login(&server, "nobody@example.com", PASSWORD);
    assert_eq!(retry_after(&known), 30);
    assert_eq!(shape(&known), shape(&unknown));
    // Both failures are logged the same way.
    let log = server.log();
    assert_eq!(
        lines_with(&log, "auth failure from 127.0.0.1 user \"ann@example.com\"").len(),
        2,
        "{log}"
    );
    assert_eq!(
        lines_with(
            &log,
            "auth failure from 127.0.0.1 user \"nobody@example.com\""
        )
        .len(),
        2,
        "{log}"
    );
}

#[test]
fn failed_hashes_beyond_the_budget_are_refused_but_known_phones_still_get_in() {
    // 0.01 % of the loop's time for failed hashes: after one failed hash the budget is in
    // debt for minutes.
    let server = TestServer::start_with("login-hash-share = 0.01\nlogin-failures = 100");
    server.add_user("ann@example.com");
    server.add_user("bob@example.com");
    // Ann's phone logs in from its address (a success costs no budget).
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
    // One failure from elsewhere spends the budget...
    assert_eq!(
        login_from(&server, ELSEWHERE, "mallory", "guess").status,
        401
    );
    // ...so a login that would need a hash is refused, from anywhere, known name or not.
    let busy = login_from(&server, ELSEWHERE, "bob@example.com", PASSWORD);
    assert!(retry_after(&busy) >= 1);
    assert!(retry_after(&login(&server, "bob@example.com", PASSWORD)) >= 1);
    // Ann's phone still gets in (cached), and may even be checked with a new password from
    // its known address: a wrong one is a plain 401, not a refusal.
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
    assert_eq!(login(&server, "ann@example.com", "typo").status, 401);
}

#[test]
fn a_login_with_a_newline_and_escape_bytes_is_one_escaped_log_line() {
    let server = TestServer::start_with(&lockouts_only(""));
    // No colon: Basic credentials end the login name at the first one. The forged line has
    // the form of a journal line, which the fail2ban filter would believe.
    let forged = "x\n[WARN] auth failure from 6.6.6.6 user \"y\"\x1b[2J";
    assert_eq!(login(&server, forged, "wrong").status, 401);
    let log = server.log();
    assert!(
        !log.contains('\x1b'),
        "an ESC byte reached the log: {log:?}"
    );
    assert!(!log.contains("from 6.6.6.6"), "{log}");
    let failures = lines_with(&log, "auth failure from ");
    assert_eq!(failures.len(), 1, "{log}");
    assert!(
        failures[0].ends_with(
            "auth failure from 127.0.0.1 user \"x\\n[WARN]\\x20auth\\x20failure\\x20from\
             \\x206.6.6.6\\x20user\\x20\\\"y\\\"\\u{1b}[2J\""
        ),
        "{}",
        failures[0]
    );
    // The per-request line shows the same escaped name, on one line.
    let requests = lines_with(&log, " OPTIONS /Microsoft-Server-ActiveSync 401 ");
    assert_eq!(requests.len(), 1, "{log}");
    assert!(
        requests[0].contains(" 127.0.0.1:") && requests[0].contains(" x\\n[WARN]\\x20auth"),
        "{}",
        requests[0]
    );
}

#[test]
fn a_huge_login_is_logged_capped() {
    let server = TestServer::start_with(&lockouts_only(""));
    // As large as the front door's 16 KiB request head allows once base64-encoded.
    let huge = "a".repeat(11 * 1024);
    let before = server.log().len();
    assert_eq!(login(&server, &huge, "wrong").status, 401);
    let log = server.log();
    let added = &log[before..];
    assert!(
        added.len() < 2048,
        "an 11 KiB login added {} bytes of log",
        added.len()
    );
    let shown = format!("{}...(+{} bytes)", "a".repeat(256), 11 * 1024 - 256);
    assert_eq!(lines_with(added, &shown).len(), 2, "{added}");
}

#[test]
fn the_packaged_fail2ban_filter_matches_each_failed_login_once() {
    let filter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/fail2ban/filter.d/easd.conf"
    );
    if Command::new("fail2ban-regex")
        .arg("--version")
        .output()
        .is_err()
    {
        // Straight to the process's standard error: the test harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the_packaged_fail2ban_filter_matches_each_failed_login_once: \
             fail2ban-regex is not installed (apt-get install fail2ban; .ci/run installs it)"
        );
        return;
    }
    let server = TestServer::start_with(&lockouts_only("login-failures = 3"));
    server.add_user("ann@example.com");
    assert_eq!(login(&server, "ann@example.com", PASSWORD).status, 200);
    for name in ["ann@example.com", "nobody", "x\"y\\z"] {
        assert_eq!(login(&server, name, "wrong").status, 401);
    }
    // Locked now: refusals are not failures and must not be matched.
    retry_after(&login(&server, "ann@example.com", "wrong"));
    let forged = "a\n[WARN] auth failure from 6.6.6.6 user \"y\"";
    assert_eq!(login_from(&server, ELSEWHERE, forged, "wrong").status, 401);
    assert_eq!(login_from(&server, ELSEWHERE, "bob", "wrong").status, 401);

    let log_file = server.dir.join("server.log");
    let run = |extra: &[&str]| {
        let out = Command::new("fail2ban-regex")
            .args(extra)
            .arg(&log_file)
            .arg(filter)
            .output()
            .expect("fail2ban-regex runs");
        assert!(out.status.success(), "fail2ban-regex failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let report = run(&[]);
    let lines = report
        .lines()
        .find(|line| line.starts_with("Lines: "))
        .unwrap_or_else(|| panic!("no Lines: summary in\n{report}"));
    assert!(lines.contains(", 5 matched,"), "{lines}\n{}", server.log());
    let mut addresses: Vec<String> = run(&["--out", "ip"]).lines().map(str::to_string).collect();
    addresses.sort();
    assert_eq!(
        addresses,
        [
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.2"
        ],
        "{}",
        server.log()
    );
}
