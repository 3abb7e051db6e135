//! Crash consistency: kills `easd serve` with SIGKILL at random points of a burst of
//! deliveries (`easd deliver`, one process per message, as an MTA runs it), client changes
//! (Read flags, Deletes) and Syncs of two devices, restarts it on the same database, and checks
//! after every restart:
//!
//! - `PRAGMA integrity_check` is `ok`;
//! - every `deliver` that exited 0 is in the mailbox exactly once, one that failed is not there
//!   at all (the MTA will retry it), and one killed with the server (half the kills also hit the
//!   delivery running then) is there once or not at all;
//! - each device's next Sync, from the key it holds, is consistent: no Add of an item it already
//!   has, no Change or Delete of one it does not, Deletes it re-sends after a lost answer are
//!   answered, and once it is up to date it holds exactly the items of the Inbox.
//!
//! Run: `cargo run --release --example crash_consistency -- [--kills N] [--seed S]
//! [--easd PATH]`. Seeded (xorshift), so a failing run can be repeated; prints figures and exits
//! non-zero on the first inconsistency. `CRASH_TRACE=1` prints every request and answer.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use easd::wbxml::tag::{airsync, email, folder_hierarchy as fh};
use easd::wbxml::{self, Element};

const ACCOUNT: &str = "crash@example.com";
const PASSWORD: &str = "crash consistency";
const DEVICES: [&str; 2] = ["crashphone1", "crashphone2"];

const USAGE: &str = "usage: crash_consistency [--kills N] [--seed S] [--easd PATH]
  --kills N    server kills (default 200)
  --seed S     seed of the random schedule (default 1)
  --easd PATH  the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

/// xorshift64*: small, seeded, good enough for a schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Options {
    kills: u64,
    seed: u64,
    easd: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        kills: 200,
        seed: 1,
        easd: None,
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--help" || word == "-h" {
            return Err(String::new());
        }
        let value = words
            .next()
            .ok_or_else(|| format!("{word} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{word} needs a whole number, not {value:?}"))
        };
        match word.as_str() {
            "--kills" => options.kills = number()?,
            "--seed" => options.seed = number()?.max(1),
            "--easd" => options.easd = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {word}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let options = match parse_options(args.get(1..).unwrap_or_default()) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("crash_consistency: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let binary = options.easd.clone().unwrap_or_else(common::easd_binary);
    let dir = std::env::temp_dir().join(format!("easd-crash-{}", std::process::id()));
    let outcome = run(&binary, &dir, &options);
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("crash_consistency: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The server and its files, restarted on the same database.
struct Server {
    binary: PathBuf,
    config: PathBuf,
    db: PathBuf,
    run_dir: PathBuf,
    child: Option<Child>,
    http: Option<SocketAddr>,
}

impl Server {
    fn start(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            // The private runtime directory a killed server leaves behind goes under ours.
            .env("TMPDIR", &self.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start easd: {e}"))?;
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut http = None;
        let mut line = String::new();
        while http.is_none() {
            line.clear();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                let _ = child.wait();
                return Err("easd exited before listening".into());
            }
            if let Some(rest) = line.trim().strip_prefix("easd: listening on http://") {
                http = rest.split('/').next().and_then(|a| a.parse().ok());
            }
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        self.child = Some(child);
        self.http = http;
        Ok(())
    }

    fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .and_then(|child| i32::try_from(child.id()).ok())
            .unwrap_or(0)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    fn cli(&self, args: &[&str], input: Option<&[u8]>) -> std::io::Result<std::process::Output> {
        let mut command = Command::new(&self.binary);
        command.arg("--config").arg(&self.config).args(args);
        command.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn()?;
        if let Some(bytes) = input {
            child.stdin.take().expect("stdin").write_all(bytes)?;
        }
        child.wait_with_output()
    }
}

/// Runs one `easd deliver` for the message `id`, publishing its pid while it runs.
fn deliver(binary: &Path, config: &Path, id: &str, delivering: &Mutex<i32>) -> Outcome {
    let child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["deliver", ACCOUNT])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Outcome::Failed;
    };
    *delivering.lock().expect("lock") = i32::try_from(child.id()).unwrap_or(0);
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&message(id));
    }
    // Wait without reaping, so the pid cannot be reused while the killer may still see it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with WNOWAIT; `info` is a valid siginfo_t.
    unsafe {
        libc::waitid(
            libc::P_PID,
            child.id(),
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    // The killer signals under this lock, so it never signals a reaped (reusable) pid.
    *delivering.lock().expect("lock") = 0;
    match child.wait() {
        Ok(status) if status.success() => Outcome::Stored,
        Ok(status) if status.signal() == Some(libc::SIGKILL) => Outcome::Killed,
        _ => Outcome::Failed,
    }
}

/// One EAS request on a fresh connection; `None` when the server did not answer (killed).
fn post(addr: SocketAddr, cmd: &str, device: &str, doc: &Element) -> Option<Element> {
    let body = wbxml::encode(doc);
    let head = format!(
        "POST /Microsoft-Server-ActiveSync?Cmd={cmd}&User={}&DeviceId={device}&DeviceType=CrashPhone HTTP/1.1\r\n\
         Host: localhost\r\nAuthorization: {}\r\nMS-ASProtocolVersion: 14.1\r\n\
         Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        common::percent(ACCOUNT),
        common::basic_auth(ACCOUNT, PASSWORD),
        body.len()
    );
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&body).ok()?;
    let response = common::read_response(&mut stream).ok()??;
    if response.status != 200 {
        return None;
    }
    wbxml::decode(&response.body).ok()
}

/// What a device believes: its key and the Inbox items it holds.
struct Device {
    id: &'static str,
    inbox: String,
    key: String,
    items: BTreeSet<String>,
    /// Deletes sent whose answer was lost: sent again with the next Sync, as phones do.
    pending_deletes: BTreeSet<String>,
}

#[derive(Default)]
struct Figures {
    syncs: u64,
    adds: u64,
    deletes: u64,
    changes: u64,
    lost_answers: u64,
}

/// One Sync round trip. `Ok(true)`: more is available; `Err`: an inconsistency.
fn sync_once(
    addr: SocketAddr,
    device: &mut Device,
    rng: &mut Rng,
    figures: &mut Figures,
    change: bool,
) -> Result<Option<bool>, String> {
    let mut doc = Element::new(airsync::SYNC);
    let collection = doc
        .push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION));
    collection
        .push_text(airsync::SYNC_KEY, device.key.clone())
        .push_text(airsync::COLLECTION_ID, device.inbox.clone());
    let mut deleting = device.pending_deletes.clone();
    if device.key != "0" {
        collection.push_text(airsync::WINDOW_SIZE, "25");
        let mut commands = Element::new(airsync::COMMANDS);
        if change && !device.items.is_empty() && rng.below(3) == 0 {
            let pick = rng.below(device.items.len() as u64) as usize;
            let id = device.items.iter().nth(pick).cloned().unwrap_or_default();
            if rng.below(20) == 0 {
                deleting.insert(id);
            } else if !deleting.contains(&id) {
                let command = commands.push(Element::new(airsync::CHANGE));
                command.push_text(airsync::SERVER_ID, id);
                command
                    .push(Element::new(airsync::APPLICATION_DATA))
                    .push_text(email::READ, "1");
            }
        }
        for id in &deleting {
            commands
                .push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, id.clone());
        }
        if !commands.children.is_empty() {
            collection.push(commands);
        }
    }
    figures.syncs += 1;
    let trace = std::env::var_os("CRASH_TRACE").is_some();
    if trace {
        println!(
            "TRACE {} send key={} deletes={deleting:?} doc={}",
            device.id,
            device.key,
            wbxml::xml::to_xml(&doc).replace('\n', "")
        );
    }
    let Some(answer) = post(addr, "Sync", device.id, &doc) else {
        if trace {
            println!("TRACE {} lost", device.id);
        }
        figures.lost_answers += 1;
        device.pending_deletes = deleting;
        return Ok(None);
    };
    if trace {
        println!(
            "TRACE {} answer {}",
            device.id,
            wbxml::xml::to_xml(&answer).replace('\n', "")
        );
    }
    let Some(collection) = answer
        .child(airsync::COLLECTIONS)
        .and_then(|c| c.child(airsync::COLLECTION))
    else {
        return Err(format!(
            "{}: Sync answer without a Collection: {answer:?}",
            device.id
        ));
    };
    let status = collection.child_text(airsync::STATUS).unwrap_or_default();
    if status != "1" {
        return Err(format!(
            "{}: Sync with key {} answered Status {status}",
            device.id, device.key
        ));
    }
    device.key = collection
        .child_text(airsync::SYNC_KEY)
        .ok_or_else(|| format!("{}: no SyncKey in the answer", device.id))?;
    device.pending_deletes.clear();
    for id in &deleting {
        device.items.remove(id);
    }
    if let Some(commands) = collection.child(airsync::COMMANDS) {
        for command in commands.elements() {
            let id = command.child_text(airsync::SERVER_ID).unwrap_or_default();
            if command.tag == airsync::ADD {
                figures.adds += 1;
                if !device.items.insert(id.clone()) {
                    return Err(format!(
                        "{}: Add of {id}, which it already holds",
                        device.id
                    ));
                }
            } else if command.tag == airsync::DELETE || command.tag == airsync::SOFT_DELETE {
                figures.deletes += 1;
                if !device.items.remove(&id) && !deleting.contains(&id) {
                    return Err(format!("{}: Delete of {id}, which it never had", device.id));
                }
            } else if command.tag == airsync::CHANGE {
                figures.changes += 1;
                if !device.items.contains(&id) {
                    return Err(format!("{}: Change of {id}, which it never had", device.id));
                }
            }
        }
    }
    Ok(Some(collection.child(airsync::MORE_AVAILABLE).is_some()))
}

/// Syncs until up to date (the server must answer every request here).
fn catch_up(
    addr: SocketAddr,
    device: &mut Device,
    rng: &mut Rng,
    figures: &mut Figures,
) -> Result<(), String> {
    for _ in 0..1000 {
        match sync_once(addr, device, rng, figures, false)? {
            Some(true) => continue,
            Some(false) if device.key == "0" => continue,
            Some(false) => return Ok(()),
            None => {
                return Err(format!(
                    "{}: the restarted server did not answer",
                    device.id
                ))
            }
        }
    }
    Err(format!(
        "{}: still MoreAvailable after 1000 Syncs",
        device.id
    ))
}

fn inbox_id(addr: SocketAddr, device: &str) -> Result<String, String> {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    let answer = post(addr, "FolderSync", device, &doc).ok_or("FolderSync unanswered")?;
    let changes = answer
        .child(fh::CHANGES)
        .ok_or("FolderSync without Changes")?;
    let inbox = changes
        .children_with(fh::ADD)
        .find(|add| add.child_text(fh::TYPE).as_deref() == Some("2"))
        .and_then(|add| add.child_text(fh::SERVER_ID));
    inbox.ok_or_else(|| "no Inbox in FolderSync".to_string())
}

fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.net>\r\nTo: <{ACCOUNT}>\r\nSubject: {id}\r\n\
         Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{id}@example.net>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {id}.\r\n"
    )
    .into_bytes()
}

fn open_read_only(db: &Path) -> Result<rusqlite::Connection, String> {
    let connection = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    connection.busy_timeout(Duration::from_secs(10)).ok();
    Ok(connection)
}

/// How one `easd deliver` ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Exit 0: the MTA forgets the message, so it must be stored exactly once.
    Stored,
    /// Any other exit: the MTA retries, so it must not be stored at all.
    Failed,
    /// Killed with SIGKILL along with the server: stored once or not at all, never half.
    Killed,
}

/// The database right after a restart: integrity, and the copies of each delivered message.
fn check_database(db: &Path, delivered: &[(String, Outcome)]) -> Result<(), String> {
    let connection = open_read_only(db)?;
    let integrity: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if integrity != "ok" {
        return Err(format!("integrity_check: {integrity}"));
    }
    let mut count = connection
        .prepare("SELECT count(*) FROM messages WHERE message_id = ?1")
        .map_err(|e| e.to_string())?;
    for (id, outcome) in delivered {
        let copies: i64 = count
            .query_row([format!("{id}@example.net")], |row| row.get(0))
            .map_err(|e| e.to_string())?;
        let fine = match outcome {
            Outcome::Stored => copies == 1,
            Outcome::Failed => copies == 0,
            Outcome::Killed => copies <= 1,
        };
        if !fine {
            return Err(format!(
                "message {id}: {copies} copies, deliver {outcome:?}"
            ));
        }
    }
    Ok(())
}

/// The item ids in the Inbox.
fn inbox_items(db: &Path, inbox: &str) -> Result<BTreeSet<String>, String> {
    let connection = open_read_only(db)?;
    let mut items = connection
        .prepare("SELECT id FROM items WHERE folder_id = ?1")
        .map_err(|e| e.to_string())?;
    let ids = items
        .query_map([inbox], |row| row.get::<_, i64>(0))
        .map_err(|e| e.to_string())?
        .map(|id| id.map(|id| id.to_string()))
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(ids)
}

fn run(binary: &Path, dir: &Path, options: &Options) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let db = dir.join("easd.db");
    let config = dir.join("easd.conf");
    std::fs::write(
        &config,
        format!(
            "database = {}\nhostname = localhost\nhttps = 127.0.0.1:0\nhttp = 127.0.0.1:0\n",
            db.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let mut server = Server {
        binary: binary.to_path_buf(),
        config,
        db,
        run_dir,
        child: None,
        http: None,
    };
    let added = server
        .cli(&["user", "add", ACCOUNT, "--password", PASSWORD], None)
        .map_err(|e| e.to_string())?;
    if !added.status.success() {
        return Err(format!("user add: {added:?}"));
    }
    server.start()?;
    let addr = server.http.expect("http");
    let inbox = inbox_id(addr, DEVICES[0])?;
    let mut devices: Vec<Device> = DEVICES
        .iter()
        .map(|id| Device {
            id,
            inbox: inbox.clone(),
            key: "0".to_string(),
            items: BTreeSet::new(),
            pending_deletes: BTreeSet::new(),
        })
        .collect();
    for device in &devices {
        inbox_id(addr, device.id)?;
    }

    let mut rng = Rng(options.seed);
    let mut figures = Figures::default();
    let delivered: Arc<Mutex<Vec<(String, Outcome)>>> = Arc::default();
    // The deliver process running now (0: none), for the killer.
    let delivering = Arc::new(Mutex::new(0));
    let started = Instant::now();
    let mut kill_delays_ms = 0u64;
    for cycle in 0..options.kills {
        let addr = server.http.expect("http");
        // The burst: deliveries in their own processes, the devices' Syncs and changes here.
        let stop = Arc::new(AtomicBool::new(false));
        let deliveries = 1 + rng.below(6);
        let deliverer = {
            let binary = server.binary.clone();
            let config = server.config.clone();
            let delivered = Arc::clone(&delivered);
            let delivering = Arc::clone(&delivering);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for n in 0..deliveries {
                    if stop.load(Ordering::Relaxed) && n > 0 {
                        break;
                    }
                    let id = format!("crash-{cycle}-{n}");
                    let outcome = deliver(&binary, &config, &id, &delivering);
                    delivered.lock().expect("lock").push((id, outcome));
                }
            })
        };
        let kill_after = Duration::from_millis(rng.below(400));
        kill_delays_ms += kill_after.as_millis() as u64;
        // The kill comes from another thread, so it lands anywhere: inside a request, between
        // requests, inside a delivery's transaction.
        // Half the time the delivery running at that moment is killed too.
        let pid = server.pid();
        let kill_delivery = rng.below(2) == 0;
        let killer = {
            let delivering = Arc::clone(&delivering);
            std::thread::spawn(move || {
                std::thread::sleep(kill_after);
                let deliver_pid = delivering.lock().expect("lock");
                for target in [pid, if kill_delivery { *deliver_pid } else { 0 }] {
                    if target > 0 {
                        // SAFETY: signals our own children, none reaped yet: the server is
                        // reaped after this thread is joined, a deliver only after its pid
                        // was cleared under the lock held here (see `deliver`).
                        unsafe { libc::kill(target, libc::SIGKILL) };
                    }
                }
            })
        };
        let mut turn = 0usize;
        loop {
            let count = devices.len();
            let device = &mut devices[turn % count];
            turn += 1;
            if sync_once(addr, device, &mut rng, &mut figures, true)?.is_none() {
                break;
            }
        }
        killer.join().map_err(|_| "killer panicked")?;
        server.kill();
        if std::env::var_os("CRASH_TRACE").is_some() {
            println!("TRACE kill {cycle}");
        }
        stop.store(true, Ordering::Relaxed);
        deliverer.join().map_err(|_| "deliverer panicked")?;

        // After the restart: the database, then each device from the key it holds.
        server.start()?;
        let addr = server.http.expect("http");
        check_database(&server.db, &delivered.lock().expect("lock"))?;
        // First every device re-sends what it lost (its Deletes), then all catch up on those.
        for pass in 0..2 {
            for device in &mut devices {
                catch_up(addr, device, &mut rng, &mut figures)
                    .map_err(|e| format!("kill {cycle}, pass {pass}: {e}"))?;
            }
        }
        let truth = inbox_items(&server.db, &inbox)?;
        for device in &devices {
            let held: HashSet<&String> = device.items.iter().collect();
            let there: HashSet<&String> = truth.iter().collect();
            if held != there {
                let lost: Vec<_> = there.difference(&held).collect();
                let extra: Vec<_> = held.difference(&there).collect();
                return Err(format!(
                    "kill {cycle}: {} is inconsistent after its Sync: missing {lost:?}, extra {extra:?}",
                    device.id
                ));
            }
        }
        if (cycle + 1) % 20 == 0 {
            println!(
                "{} kills: {} messages delivered, {} in the Inbox, {} Syncs",
                cycle + 1,
                delivered.lock().expect("lock").len(),
                truth.len(),
                figures.syncs
            );
        }
    }
    server.kill();

    let delivered = delivered.lock().expect("lock");
    let with = |wanted: Outcome| delivered.iter().filter(|(_, o)| *o == wanted).count();
    println!("seed: {}", options.seed);
    println!("server kills (SIGKILL): {}", options.kills);
    println!(
        "mean kill point: {} ms into the burst",
        kill_delays_ms / options.kills.max(1)
    );
    println!(
        "deliveries: {} ({} exited 0, each stored exactly once; {} failed, none stored; \
         {} killed with the server, none stored twice)",
        delivered.len(),
        with(Outcome::Stored),
        with(Outcome::Failed),
        with(Outcome::Killed)
    );
    println!(
        "Syncs: {} ({} answers lost to a kill), Adds {}, Changes {}, Deletes {} received",
        figures.syncs, figures.lost_answers, figures.adds, figures.changes, figures.deletes
    );
    println!("integrity_check: ok after every restart; devices consistent after every restart");
    println!("elapsed: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
