//! Running easd as an appliance, against the real binary: certificates (`easd cert
//! self-signed`, reload on SIGHUP, expiry warnings), `easd backup` / `easd restore` and the
//! database lock, `easd doctor`'s verdicts, and that an idle server leaves the database alone.
//! Every command shown in docs/operations.md is run here.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{basic_auth, easd_cli, read_response, tls_client_config, TestServer, PASSWORD};
use easd::http::tls;
use easd::store::Store;
use easd::wbxml::{tag::folder_hierarchy as fh, Element};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A configuration file and database directory without a running server.
struct Scratch {
    dir: PathBuf,
    config: PathBuf,
}

impl Scratch {
    fn new(name: &str, extra: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("easd-ops-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("easd.conf");
        std::fs::write(
            &config,
            format!(
                "database = {}\nhostname = localhost\n{extra}\n",
                dir.join("easd.db").display()
            ),
        )
        .expect("config");
        Scratch { dir, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        easd_cli(&self.config, args, None)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn leaf_of(path: &Path) -> Vec<u8> {
    tls::read_leaf_certificate(path)
        .expect("certificate file")
        .to_vec()
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A fresh TLS connection (its own client configuration, so no session is resumed).
fn tls_connect(addr: SocketAddr) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(tls_client_config(), name).expect("tls");
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    stream
}

fn presented_certificate(stream: &TlsStream) -> Vec<u8> {
    stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("the server presents a certificate")
        .to_vec()
}

/// One authenticated OPTIONS on an open connection; returns the status.
fn options_on(stream: &mut TlsStream, login: &str) -> u16 {
    let request = format!(
        "OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: {}\r\nContent-Length: 0\r\n\r\n",
        basic_auth(login, PASSWORD)
    );
    stream.write_all(request.as_bytes()).expect("send");
    stream.flush().expect("flush");
    read_response(stream)
        .expect("read")
        .expect("an answer on the same connection")
        .status
}

fn wait_for_log(server: &TestServer, needle: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if log.matches(needle).count() >= count {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let server = TestServer::start();
    server.add_user("pat@localhost");
    let cert_file = server.dir.join("easd-cert.pem");
    let first = leaf_of(&cert_file);

    // A keep-alive connection opened before the reload.
    let mut early = tls_connect(server.https);
    assert_eq!(presented_certificate(&early), first);
    assert_eq!(options_on(&mut early, "pat@localhost"), 200);

    // Renew: a new pair for another host name, then SIGHUP.
    let renewed = server.easd(&[
        "cert",
        "self-signed",
        "--host",
        "renewed.example",
        "--force",
    ]);
    assert!(renewed.status.success(), "{renewed:?}");
    let second = leaf_of(&cert_file);
    assert_ne!(first, second);
    assert!(tls::check_names_host(&second.clone().into(), "renewed.example").is_ok());
    send_signal("-HUP", server.pid());
    wait_for_log(&server, "SIGHUP: new connections get the certificate", 1);
    // The front door applies it a moment later, on its own thread.
    wait_for_log(&server, "the reloaded certificate is in use", 1);

    let fresh = tls_connect(server.https);
    assert_eq!(
        presented_certificate(&fresh),
        second,
        "new handshakes see the new certificate"
    );
    // The connection from before keeps its session and keeps working.
    assert_eq!(options_on(&mut early, "pat@localhost"), 200);
    assert_eq!(presented_certificate(&early), first);

    // A broken renewal (the certificate of another key) is refused; the last good one stays.
    let other = server.easd(&[
        "cert",
        "self-signed",
        "--host",
        "localhost",
        "--cert",
        server.dir.join("other-cert.pem").to_str().unwrap(),
        "--key",
        server.dir.join("other-key.pem").to_str().unwrap(),
    ]);
    assert!(other.status.success(), "{other:?}");
    std::fs::copy(server.dir.join("other-cert.pem"), &cert_file).unwrap();
    send_signal("-HUP", server.pid());
    let log = wait_for_log(
        &server,
        "SIGHUP: cannot load the certificate, still serving the previous one",
        1,
    );
    assert!(log.contains("[ERROR]"), "{log}");
    let after_failure = tls_connect(server.https);
    assert_eq!(presented_certificate(&after_failure), second);
    assert_eq!(options_on(&mut early, "pat@localhost"), 200);
    assert!(
        !log.contains("stopped"),
        "SIGHUP must not stop the server:\n{log}"
    );
}

/// PEM files of a self-signed certificate for localhost valid from yesterday for `days`
/// (negative: expired that many days ago).
fn certificate_valid_for(dir: &Path, days: i64) -> (PathBuf, PathBuf) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = epoch + Duration::from_secs(now - 30 * 86_400);
    params.not_after = epoch + Duration::from_secs(now.checked_add_signed(days * 86_400).unwrap());
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert, key_file)
}

/// The verdict (`ok`, `warn`, `FAIL`, `skip`) `easd doctor` printed for `check`.
fn verdict<'a>(report: &'a str, check: &str) -> &'a str {
    let prefix = format!("{check}: ");
    report
        .lines()
        .find(|line| line.get(6..).is_some_and(|rest| rest.starts_with(&prefix)))
        .map(|line| line[..6].trim())
        .unwrap_or_else(|| panic!("no {check:?} line in:\n{report}"))
}

/// A configuration naming the real (bound) ports of `server`, for the doctor to probe.
fn config_with_real_ports(server: &TestServer, extra: &str) -> PathBuf {
    let config = server.dir.join("doctor.conf");
    // The notification address the server was given (each test server has its own).
    let notify = std::fs::read_to_string(&server.config)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("notify") && !extra.contains("notify"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(
        &config,
        format!(
            "database = {}\nhostname = localhost\nhttps = {}\nhttp = {}\n{notify}\n{extra}\n",
            server.db.display(),
            server.https,
            server.http
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_certificate_close_to_expiry_is_reported_at_start_and_by_the_doctor() {
    let dir = std::env::temp_dir().join(format!("easd-ops-{}-expiring", std::process::id()));
    let (cert, key) = certificate_valid_for(&dir, 5);
    let extra = format!("cert = {}\nkey = {}", cert.display(), key.display());
    let server = TestServer::start_with(&extra);
    let log = wait_for_log(&server, "expires on", 1);
    assert!(log.contains("[WARN]"), "{log}");
    assert!(
        log.contains("in 4 days") || log.contains("in 5 days"),
        "{log}"
    );

    let doctor = easd_cli(&config_with_real_ports(&server, &extra), &["doctor"], None);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "certificate dates"), "warn", "{report}");
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "warnings alone pass:\n{report}"
    );

    let (expired_cert, expired_key) = certificate_valid_for(&dir.join("expired"), -2);
    let scratch = Scratch::new(
        "expired",
        &format!(
            "https = 127.0.0.1:0\ncert = {}\nkey = {}",
            expired_cert.display(),
            expired_key.display()
        ),
    );
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "certificate dates"), "FAIL", "{report}");
    assert_eq!(doctor.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cert_self_signed_prints_the_fingerprint_and_refuses_to_overwrite() {
    let scratch = Scratch::new("cert", "");
    let made = scratch.run(&["cert", "self-signed", "--host", "mail.example.org"]);
    assert!(made.status.success(), "{made:?}");
    let text = stdout(&made);
    let cert = scratch.path("easd-cert.pem");
    let key = scratch.path("easd-key.pem");
    let leaf = leaf_of(&cert);
    assert!(
        text.contains(&format!("certificate: {}", cert.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("private key: {}", key.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "SHA-256:     {}",
            easd::ca::sha256_fingerprint(&leaf)
        )),
        "{text}"
    );
    assert!(tls::check_names_host(&leaf.clone().into(), "mail.example.org").is_ok());
    assert!(tls::check_names_host(&leaf.clone().into(), "localhost").is_ok());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let again = scratch.run(&["cert", "self-signed", "--host", "mail.example.org"]);
    assert_eq!(again.status.code(), Some(73), "{again:?}");
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(
        leaf_of(&cert),
        leaf,
        "the existing certificate is untouched"
    );

    let forced = scratch.run(&[
        "cert",
        "self-signed",
        "--host",
        "mail.example.org",
        "--force",
    ]);
    assert!(forced.status.success(), "{forced:?}");
    assert_ne!(leaf_of(&cert), leaf);
    // The private CA is made once and signs every renewal, so phones that trust it keep
    // trusting the server.
    assert!(stdout(&made).contains("(new;"), "{}", stdout(&made));
    assert!(stdout(&forced).contains("(reused;"), "{}", stdout(&forced));
    let ca_line = |out: &std::process::Output| {
        stdout(out)
            .lines()
            .find(|l| l.starts_with("CA SHA-256:"))
            .map(str::to_string)
    };
    assert!(ca_line(&made).is_some());
    assert_eq!(ca_line(&made), ca_line(&forced));
    let chain = tls::read_certificate_chain(&cert).unwrap();
    assert_eq!(chain.len(), 2, "server certificate, then the CA");

    // Without --host the certificate is for the configured host name.
    std::fs::write(
        &scratch.config,
        format!(
            "database = {}\nhostname = nas.home.arpa\n",
            scratch.path("easd.db").display()
        ),
    )
    .unwrap();
    let default_host = scratch.run(&["cert", "self-signed", "--force"]);
    assert!(default_host.status.success(), "{default_host:?}");
    assert!(tls::check_names_host(&leaf_of(&cert).into(), "nas.home.arpa").is_ok());

    let bad = scratch.run(&["cert", "self-signed", "--host", "not a host", "--force"]);
    assert_eq!(bad.status.code(), Some(64), "{bad:?}");
    let half = scratch.run(&["cert", "self-signed", "--cert", "/tmp/x.pem"]);
    assert_eq!(half.status.code(), Some(64), "{half:?}");
}

fn folder_sync(key: &str) -> Element {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    doc
}

#[test]
fn backup_while_serving_holds_the_users() {
    let server = TestServer::start();
    server.add_user("ann@localhost");
    server.add_user("ben@localhost");
    let mut phone = server.device("ann@localhost", "backupphone");
    assert_eq!(
        phone
            .command("FolderSync", Some(&folder_sync("0")))
            .status(),
        200
    );

    let out = server.dir.join("backups").join("easd-backup.db");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let backup = server.easd(&["backup", out.to_str().unwrap()]);
    assert!(backup.status.success(), "{backup:?}");
    assert!(
        stdout(&backup).contains("integrity ok"),
        "{}",
        stdout(&backup)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!Path::new(&format!("{}-wal", out.display())).exists());

    let copy = Store::open(&out).expect("the backup opens as an easd store");
    assert!(copy.user_by_email("ann@localhost").unwrap().is_some());
    assert!(copy.user_by_email("ben@localhost").unwrap().is_some());
    let devices: i64 = copy
        .connection()
        .query_row(
            "SELECT count(*) FROM devices WHERE device_id = 'backupphone'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(devices, 1, "the phone synced before the backup is in it");

    // Any database, named with --db (here the server's, through an unrelated configuration).
    let elsewhere = Scratch::new("backup-db-option", "");
    let second = server.dir.join("backups").join("second.db");
    let out2 = easd_cli(
        &elsewhere.config,
        &[
            "--db",
            server.db.to_str().unwrap(),
            "backup",
            second.to_str().unwrap(),
        ],
        None,
    );
    assert!(out2.status.success(), "{out2:?}");
    let copy2 = Store::open(&second).unwrap();
    assert!(copy2.user_by_email("ben@localhost").unwrap().is_some());
    assert!(!elsewhere.path("easd.db").exists());
    // The server kept serving throughout.
    assert_eq!(phone.options().status, 200);
}

#[test]
fn restore_is_refused_while_serving_and_works_when_stopped() {
    let mut server = TestServer::start();
    server.add_user("ann@localhost");
    let backup_file = server.dir.join("monday.db");
    assert!(server
        .easd(&["backup", backup_file.to_str().unwrap()])
        .status
        .success());
    server.add_user("bob@localhost");

    let refused = server.easd(&["restore", backup_file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(75), "{refused:?}");
    assert!(
        stderr(&refused).contains("stop it first"),
        "{}",
        stderr(&refused)
    );
    // A second server on the same database is refused the same way.
    let second = server.easd(&["serve"]);
    assert_eq!(second.status.code(), Some(75), "{second:?}");

    assert!(server.stop().success());
    let restored = server.easd(&["restore", backup_file.to_str().unwrap()]);
    assert!(restored.status.success(), "{restored:?}");
    let users = stdout(&server.easd(&["user", "list"]));
    assert!(users.contains("ann@localhost"), "{users}");
    assert!(!users.contains("bob@localhost"), "{users}");

    let kept: Vec<PathBuf> = std::fs::read_dir(&server.dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("easd.db.before-restore-") && !name.ends_with("-wal")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(stdout(&restored).contains(&kept[0].display().to_string()));
    let old = Store::open(&kept[0]).unwrap();
    assert!(
        old.user_by_email("bob@localhost").unwrap().is_some(),
        "the kept database has everything up to the restore"
    );
}

#[test]
fn a_killed_server_leaves_no_stale_lock() {
    let server = TestServer::start();
    server.add_user("ann@localhost");
    let backup_file = server.dir.join("copy.db");
    assert!(server
        .easd(&["backup", backup_file.to_str().unwrap()])
        .status
        .success());
    send_signal("-KILL", server.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let restore = server.easd(&["restore", backup_file.to_str().unwrap()]);
        if restore.status.success() {
            break;
        }
        assert_eq!(restore.status.code(), Some(75), "{restore:?}");
        assert!(
            Instant::now() < deadline,
            "the lock outlived the killed server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn doctor_on_a_running_server_finds_everything_in_order() {
    let notify = format!("notify = 127.0.0.1:{}", common::free_udp_port());
    let server = TestServer::start_with(&notify);
    server.add_user("pat@localhost");
    let doctor = easd_cli(&config_with_real_ports(&server, &notify), &["doctor"], None);
    let report = stdout(&doctor);
    for check in [
        "configuration",
        "database",
        "schema",
        "server",
        &format!("listener https {}", server.https),
        &format!("listener http {}", server.http),
        "certificate",
        "certificate key",
        "certificate name",
        "certificate dates",
        "autodiscover localhost",
    ] {
        assert_eq!(verdict(&report, check), "ok", "{check}:\n{report}");
    }
    assert!(report.contains("easd serve is running"), "{report}");
    assert!(report.contains("reachable"), "{report}");
    assert_eq!(verdict(&report, "push notifications"), "ok", "{report}");
    let sendmail = if Path::new("/usr/sbin/sendmail").exists() {
        "ok"
    } else {
        "warn"
    };
    assert_eq!(verdict(&report, "mail submission"), sendmail);

    // A doctor told another notification address than the server's, and a submission
    // command that is not there: both are named.
    let other = format!(
        "notify = 127.0.0.1:{}\nsubmission-command = /nonexistent/sendmail -i",
        common::free_udp_port()
    );
    let report = stdout(&easd_cli(
        &config_with_real_ports(&server, &other),
        &["doctor"],
        None,
    ));
    assert_eq!(verdict(&report, "push notifications"), "FAIL", "{report}");
    assert_eq!(verdict(&report, "mail submission"), "warn", "{report}");
    assert!(report.contains("/nonexistent/sendmail"), "{report}");
    let found = format!("{notify}\nsubmission-command = /bin/sh -c true");
    let report = stdout(&easd_cli(
        &config_with_real_ports(&server, &found),
        &["doctor"],
        None,
    ));
    assert_eq!(verdict(&report, "mail submission"), "ok", "{report}");
    assert!(!report.contains("certificate in use"), "{report}");
    assert_eq!(doctor.status.code(), Some(0), "{report}");

    // After a renewal without reload, the doctor notices the server serves the old one.
    assert!(server
        .easd(&["cert", "self-signed", "--host", "localhost", "--force"])
        .status
        .success());
    let report = stdout(&easd_cli(
        &config_with_real_ports(&server, ""),
        &["doctor"],
        None,
    ));
    assert_eq!(verdict(&report, "certificate in use"), "warn", "{report}");
}

#[test]
fn doctor_fails_a_key_that_does_not_belong_to_the_certificate() {
    let scratch = Scratch::new("mismatch", "https = 127.0.0.1:0");
    let pair = |name: &str| {
        let (cert, key) = (
            scratch.path(&format!("{name}-cert.pem")),
            scratch.path(&format!("{name}-key.pem")),
        );
        let out = scratch.run(&[
            "cert",
            "self-signed",
            "--host",
            "localhost",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        (cert, key)
    };
    let (cert_a, _) = pair("a");
    let (_, key_b) = pair("b");
    std::fs::write(
        &scratch.config,
        format!(
            "database = {}\nhostname = mail.example.org\nhttps = 127.0.0.1:0\ncert = {}\nkey = {}\n",
            scratch.path("easd.db").display(),
            cert_a.display(),
            key_b.display()
        ),
    )
    .unwrap();
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "certificate"), "ok", "{report}");
    assert_eq!(verdict(&report, "certificate key"), "FAIL", "{report}");
    assert_eq!(verdict(&report, "certificate name"), "FAIL", "{report}");
    assert!(report.contains("mail.example.org"), "{report}");
    assert_eq!(verdict(&report, "listener https 127.0.0.1:0"), "skip");
    // No database yet: a warning, and the domain check says there is nothing to check.
    assert_eq!(verdict(&report, "database"), "warn", "{report}");
    assert_eq!(verdict(&report, "autodiscover"), "skip", "{report}");
    assert_eq!(doctor.status.code(), Some(1));
    assert!(
        !scratch.path("easd.db").exists(),
        "the doctor creates nothing"
    );
}

#[test]
fn doctor_fails_a_port_taken_by_another_program() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    let scratch = Scratch::new("port", &format!("https =\nhttp = {taken}"));
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    let check = format!("listener http {taken}");
    assert_eq!(verdict(&report, &check), "FAIL", "{report}");
    assert!(
        report.contains(&format!("sport = :{}", taken.port())),
        "{report}"
    );
    assert_eq!(verdict(&report, "certificate"), "skip", "{report}");
    assert_eq!(doctor.status.code(), Some(1));

    drop(squatter);
    let report = stdout(&scratch.run(&["doctor"]));
    assert_eq!(verdict(&report, &check), "ok", "{report}");
}

#[test]
fn doctor_reports_a_broken_configuration() {
    let scratch = Scratch::new("badconf", "max-connections = lots");
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "configuration"), "FAIL", "{report}");
    assert!(report.contains("max-connections"), "{report}");
    assert_eq!(doctor.status.code(), Some(1));
}

#[test]
fn doctor_warns_about_a_database_others_can_read() {
    let scratch = Scratch::new("perms", "https = 127.0.0.1:0");
    let add = scratch.run(&["user", "add", "ann@localhost", "--password", PASSWORD]);
    assert!(add.status.success(), "{add:?}");
    let report = stdout(&scratch.run(&["doctor"]));
    assert_eq!(verdict(&report, "database"), "ok", "{report}");
    assert!(!report.contains("database permissions"), "{report}");

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        scratch.path("easd.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "database permissions"), "warn", "{report}");
    assert!(report.contains("chmod 600"), "{report}");
    assert_eq!(verdict(&report, "autodiscover localhost"), "ok", "{report}");
    assert_eq!(doctor.status.code(), Some(0), "{report}");
}

#[test]
fn doctor_fails_a_damaged_database() {
    let scratch = Scratch::new("damaged", "https = 127.0.0.1:0");
    std::fs::write(scratch.path("easd.db"), vec![0x42u8; 8192]).unwrap();
    let doctor = scratch.run(&["doctor"]);
    let report = stdout(&doctor);
    assert_eq!(verdict(&report, "database"), "FAIL", "{report}");
    assert!(report.contains("not an SQLite database"), "{report}");
    assert_eq!(doctor.status.code(), Some(1));
}

/// Sizes and modification times of the database and its write-ahead log.
fn database_files(db: &Path) -> Vec<(PathBuf, Option<(u64, SystemTime)>)> {
    [
        db.to_path_buf(),
        PathBuf::from(format!("{}-wal", db.display())),
    ]
    .into_iter()
    .map(|path| {
        let state = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap()));
        (path, state)
    })
    .collect()
}

#[test]
fn an_idle_server_and_an_up_to_date_phone_write_nothing() {
    let server = TestServer::start();
    server.add_user("ann@localhost");
    let mut phone = server.device("ann@localhost", "quietphone");
    let untouched = database_files(&server.db);
    let first = phone.command("FolderSync", Some(&folder_sync("0")));
    assert_eq!(first.status(), 200);
    let key = first.doc().child_text(fh::SYNC_KEY).expect("sync key");

    let before = database_files(&server.db);
    // The measurement sees writes: the first sync (a new device, a new sync key) wrote.
    assert_ne!(
        before, untouched,
        "the first FolderSync should have written"
    );
    assert!(before[1].1.is_some(), "the server keeps its WAL open");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(database_files(&server.db), before, "an idle server wrote");

    // A phone that is up to date: same key back, and still nothing written (the device
    // record is refreshed at most once a minute).
    for _ in 0..3 {
        let again = phone.command("FolderSync", Some(&folder_sync(&key)));
        assert_eq!(again.doc().child_text(fh::STATUS).as_deref(), Some("1"));
        assert_eq!(
            again.doc().child_text(fh::SYNC_KEY).as_deref(),
            Some(key.as_str())
        );
        assert_eq!(phone.options().status, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        database_files(&server.db),
        before,
        "a steady-state FolderSync wrote"
    );
}
