//! Benchmark of phones that stop reading: N phones ask for a 50 MB attachment (GetAttachment)
//! and read nothing, while another device sends OPTIONS, FolderSync and Sync. It prints that
//! device's latencies without and with the stalled phones, the server's memory and spool files
//! while the phones stall, and whether each stalled phone still gets its whole answer when it
//! reads again.
//!
//! Run: `cargo run --release --example bench_slow_readers -- [--stalled N] [--rounds R]
//! [--easd PATH]`. It starts its own server on loopback with a temporary database, prints one
//! figure per line and stops the server at the end. The other device's client waits up to
//! 10 minutes for an answer, so a server that makes it wait behind the stalled phones is
//! measured rather than failed.

mod bench_util;

#[path = "bench_util/device.rs"]
mod bench_device;

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench_util::{mib, millis, percentile, reset_peak_rss, stats, verdict};
use common::{basic_auth, read_response, HttpResponse, TestDevice, TestServer, PASSWORD};
use easd::store::{FolderId, FolderType, Store};
use easd::wbxml::tag::{airsync, airsyncbase as base, folder_hierarchy as fh};
use easd::wbxml::{self, Element};

const STALLED_ACCOUNT: &str = "stalled@example.com";
const OTHER_ACCOUNT: &str = "other@example.com";
const ATTACHMENT_BYTES: usize = 50 * 1024 * 1024;
/// The attachment as [`bench_util::big_attachment_message`] writes it: whole groups of 3 bytes (4 base64 characters).
const ANSWER_BYTES: usize = ATTACHMENT_BYTES.div_ceil(3) * 3;
/// How long the other device's client waits for one answer.
const PATIENT_READ: Duration = Duration::from_secs(600);
/// The server's resident memory while the phones stall should stay under this.
const RSS_TARGET_KIB: u64 = 32 * 1024;

struct Options {
    stalled: usize,
    rounds: usize,
    easd: Option<PathBuf>,
}

const USAGE: &str = "usage: bench_slow_readers [--stalled N] [--rounds R] [--easd PATH]
  --stalled N  phones that ask for the 50 MB attachment and stop reading (default 3)
  --rounds R   rounds of OPTIONS + FolderSync + Sync by the other device (default 20)
  --easd PATH  the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        stalled: 3,
        rounds: 20,
        easd: None,
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--stalled" => options.stalled = flag.positive()?,
            "--rounds" => options.rounds = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_slow_readers", USAGE, parse_options, run)
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;
    bench_util::print_header(
        "slow-reader",
        args,
        &format!(
            "stalled={} rounds={} attachment={ATTACHMENT_BYTES} bytes easd={}",
            options.stalled,
            options.rounds,
            binary.display()
        ),
    );
    let server = TestServer::start_with(&format!(
        "log-level = warn\nnotify = 127.0.0.1:{}",
        common::free_udp_port()
    ));
    server.add_user(STALLED_ACCOUNT);
    server.add_user(OTHER_ACCOUNT);
    bench_device::measure_showing_log("bench_slow_readers", &server, || measure(&server, options))
}

/// One keep-alive connection that waits long for answers and reconnects when closed.
struct PatientClient {
    addr: SocketAddr,
    stream: Option<TcpStream>,
}

impl PatientClient {
    fn new(addr: SocketAddr) -> PatientClient {
        PatientClient { addr, stream: None }
    }

    fn send(&mut self, request: &[u8]) -> Result<HttpResponse, String> {
        for _ in 0..2 {
            if self.stream.is_none() {
                let stream = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
                stream.set_read_timeout(Some(PATIENT_READ)).ok();
                self.stream = Some(stream);
            }
            let stream = self.stream.as_mut().ok_or("no connection")?;
            let sent = stream.write_all(request).and_then(|()| stream.flush());
            match sent.and_then(|()| read_response(stream)) {
                Ok(Some(response)) => return Ok(response),
                // A keep-alive connection the server closed meanwhile: reconnect once.
                _ => self.stream = None,
            }
        }
        Err("no answer after reconnecting".into())
    }
}

/// The bytes of one EAS request as a phone sends them.
fn eas_request(device: &TestDevice, method: &str, query: Option<&str>, body: &[u8]) -> Vec<u8> {
    let target = match query {
        Some(query) => format!("/Microsoft-Server-ActiveSync?{query}"),
        None => "/Microsoft-Server-ActiveSync".to_string(),
    };
    let mut bytes = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
         MS-ASProtocolVersion: {}\r\nContent-Type: application/vnd.ms-sync.wbxml\r\n\
         Content-Length: {}\r\n\r\n",
        basic_auth(&device.login, PASSWORD),
        device.version,
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn folder_sync_doc(key: &str) -> Element {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    doc
}

fn sync_doc(key: &str, folder: FolderId) -> Element {
    common::sync_request(common::collection(key, folder, |collection| {
        if key != "0" {
            collection
                .push(Element::new(airsync::OPTIONS))
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "1");
        }
    }))
}

/// The Sync answer's collection (`None` for the empty "nothing changed" answer).
fn sync_collection(response: &HttpResponse) -> Result<Option<Element>, String> {
    if response.status != 200 {
        return Err(format!("Sync answered HTTP {}", response.status));
    }
    if response.body.is_empty() {
        return Ok(None);
    }
    let doc = wbxml::decode(&response.body).map_err(|e| format!("Sync answer: {e:?}"))?;
    Ok(doc
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .cloned())
}

fn inbox_of(store: &Store, email: &str) -> Result<FolderId, String> {
    bench_util::folder_of(store, email, "Inbox", |f| {
        f.folder_type == FolderType::Inbox
    })
}

/// The other device's work: one round is OPTIONS, FolderSync (current key) and Sync (no
/// changes). Returns the latencies per command.
struct OtherDevice {
    device: TestDevice,
    client: PatientClient,
    inbox: FolderId,
    folder_key: String,
    sync_key: String,
}

impl OtherDevice {
    fn new(server: &TestServer, inbox: FolderId) -> Result<OtherDevice, String> {
        let mut other = OtherDevice {
            device: server.device(OTHER_ACCOUNT, "other-phone"),
            client: PatientClient::new(server.http),
            inbox,
            folder_key: "0".into(),
            sync_key: "0".into(),
        };
        // Sign in and reach steady state: FolderSync and Sync keys, the login cached.
        other.folder_sync()?;
        let first = other.sync()?.ok_or("the first Sync answered nothing")?;
        other.sync_key = first.child_text(airsync::SYNC_KEY).ok_or("no SyncKey")?;
        loop {
            let answer = other.sync()?;
            let more = answer.as_ref().is_some_and(|c| {
                c.child(airsync::COMMANDS).is_some() || c.child(airsync::MORE_AVAILABLE).is_some()
            });
            if !more {
                break;
            }
        }
        Ok(other)
    }

    fn options(&mut self) -> Result<(), String> {
        let request = eas_request(&self.device, "OPTIONS", None, b"");
        let response = self.client.send(&request)?;
        match response.status {
            200 => Ok(()),
            status => Err(format!("OPTIONS answered HTTP {status}")),
        }
    }

    fn folder_sync(&mut self) -> Result<(), String> {
        let body = wbxml::encode(&folder_sync_doc(&self.folder_key));
        let request = eas_request(
            &self.device,
            "POST",
            Some(&self.device.query("FolderSync")),
            &body,
        );
        let response = self.client.send(&request)?;
        let doc = wbxml::decode(&response.body).map_err(|e| format!("FolderSync: {e:?}"))?;
        self.folder_key = doc.child_text(fh::SYNC_KEY).ok_or("no FolderSync key")?;
        Ok(())
    }

    /// One Sync with the current key; the collection when something was sent.
    fn sync(&mut self) -> Result<Option<Element>, String> {
        let body = wbxml::encode(&sync_doc(&self.sync_key, self.inbox));
        let request = eas_request(
            &self.device,
            "POST",
            Some(&self.device.query("Sync")),
            &body,
        );
        let collection = sync_collection(&self.client.send(&request)?)?;
        if let Some(key) = collection
            .as_ref()
            .and_then(|c| c.child_text(airsync::SYNC_KEY))
        {
            self.sync_key = key;
        }
        Ok(collection)
    }

    fn rounds(&mut self, count: usize) -> Result<[Vec<Duration>; 3], String> {
        let mut latencies: [Vec<Duration>; 3] = Default::default();
        for _ in 0..count {
            let started = Instant::now();
            self.options()?;
            latencies[0].push(started.elapsed());
            let started = Instant::now();
            self.folder_sync()?;
            latencies[1].push(started.elapsed());
            let started = Instant::now();
            self.sync()?;
            latencies[2].push(started.elapsed());
        }
        for list in &mut latencies {
            list.sort();
        }
        Ok(latencies)
    }
}

fn print_latencies(latencies: &[Vec<Duration>; 3]) {
    for (name, list) in ["OPTIONS", "FolderSync", "Sync"].iter().zip(latencies) {
        println!(
            "  {name:<10} p50 {:>12}  p99 {:>12}  max {:>12}",
            millis(percentile(list, 50.0)),
            millis(percentile(list, 99.0)),
            millis(list.last().copied().unwrap_or_default())
        );
    }
}

/// The server's open spool files of answers (unlinked; /proc still names them).
fn spooled_answers(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter(|target| target.to_string_lossy().contains(".easd-answer-"))
                .count()
        })
        .unwrap_or(0)
}

fn measure(server: &TestServer, options: &Options) -> Result<(), String> {
    let pid = server.pid();
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let big = bench_util::big_attachment_message(&format!("<{STALLED_ACCOUNT}>"), ATTACHMENT_BYTES);
    let out = server.easd_stdin(&["deliver", STALLED_ACCOUNT], &big);
    if !out.status.success() {
        return Err(format!(
            "easd deliver of the big message failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // The FileReference of the attachment, as a phone learns it from Sync.
    let mut owner = OtherDevice {
        device: server.device(STALLED_ACCOUNT, "owner-phone"),
        client: PatientClient::new(server.http),
        inbox: inbox_of(&store, STALLED_ACCOUNT)?,
        folder_key: "0".into(),
        sync_key: "0".into(),
    };
    let first = owner.sync()?.ok_or("the first Sync answered nothing")?;
    owner.sync_key = first.child_text(airsync::SYNC_KEY).ok_or("no SyncKey")?;
    let reference = owner
        .sync()?
        .as_ref()
        .and_then(|c| c.child(airsync::COMMANDS))
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child(airsync::APPLICATION_DATA))
        .and_then(|d| d.child(base::ATTACHMENTS))
        .and_then(|a| a.child(base::ATTACHMENT))
        .and_then(|a| a.child_text(base::FILE_REFERENCE))
        .ok_or("the Sync of the big message named no FileReference")?;

    let mut other = OtherDevice::new(server, inbox_of(&store, OTHER_ACCOUNT)?)?;
    println!();
    println!("[1] the other device alone, {} rounds", options.rounds);
    print_latencies(&other.rounds(options.rounds)?);

    // --- N phones ask for the attachment and read nothing ----------------------------------
    reset_peak_rss(pid)?;
    let before = stats(pid)?;
    let mut stalled = Vec::with_capacity(options.stalled);
    for n in 0..options.stalled {
        let mut phone = server.device(STALLED_ACCOUNT, &format!("stalled{n}"));
        phone.version = "12.1".to_string();
        let query = format!(
            "{}&AttachmentName={}",
            phone.query("GetAttachment"),
            common::percent(&reference)
        );
        let mut stream = TcpStream::connect(server.http).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(PATIENT_READ)).ok();
        stream
            .write_all(&eas_request(&phone, "POST", Some(&query), b""))
            .map_err(|e| e.to_string())?;
        stalled.push(stream);
    }
    let started = Instant::now();
    println!();
    println!(
        "[2] the other device while {} phones hold 50 MB answers unread, {} rounds",
        options.stalled, options.rounds
    );
    print_latencies(&other.rounds(options.rounds)?);
    println!(
        "  all rounds done {:.2} s after the stalled requests",
        started.elapsed().as_secs_f64()
    );
    let during = stats(pid)?;
    println!(
        "  server RSS {} (before {}), peak {}, spool files {} (target: RSS under {}) {}",
        mib(during.rss_kib),
        mib(before.rss_kib),
        mib(during.peak_rss_kib),
        spooled_answers(pid),
        mib(RSS_TARGET_KIB),
        verdict(during.peak_rss_kib < RSS_TARGET_KIB)
    );

    // --- the phones read again ----------------------------------------------------------------
    println!();
    println!("[3] the stalled phones read their answers");
    let mut complete = 0;
    for (n, mut stream) in stalled.into_iter().enumerate() {
        let started = Instant::now();
        let outcome = match read_response(&mut stream) {
            Ok(Some(answer)) if answer.status == 200 && answer.body.len() == ANSWER_BYTES => {
                complete += 1;
                format!("{} bytes", answer.body.len())
            }
            Ok(Some(answer)) => format!(
                "INCOMPLETE: HTTP {} with {} bytes",
                answer.status,
                answer.body.len()
            ),
            Ok(None) => "INCOMPLETE: closed before the answer".to_string(),
            Err(error) => format!("INCOMPLETE: {error}"),
        };
        println!(
            "  phone {n}: {outcome} in {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "  {complete} of {} answers complete; spool files left {}",
        options.stalled,
        spooled_answers(pid)
    );
    Ok(())
}
