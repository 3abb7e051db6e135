//! Crash consistency: the server is killed with SIGKILL at random points of a burst of
//! deliveries (`easd deliver`, as an MTA runs it), client changes and syncs, and started
//! again. After every restart:
//!
//! - every `easd deliver` that exited 0 is in the mailbox exactly once;
//! - `PRAGMA integrity_check` answers ok;
//! - every phone of the Sync model (tests/model) catches up consistently: its requests cut off
//!   by the kill are sent again with their key, and what it then holds equals what the
//!   server holds for it, with no Add twice and no Change or Delete of what it never had.
//!
//!     cargo build --release && cargo run --release --example crash_consistency -- [KILLS] [SEED]
//!
//! Defaults: 200 kills, seed 7. Prints figures; exits 1 at the first broken promise.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/model/mod.rs"]
mod model;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use model::{Rng, Simulation};

/// Where the MTA delivers during the bursts.
const MAILBOX: &str = "mta-target@example.com";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: KILLS SEED"))
        .collect();
    let kills = args.first().copied().unwrap_or(200);
    let seed = args.get(1).copied().unwrap_or(7);
    if std::env::var_os("EASD_BIN").is_none() {
        std::env::set_var("EASD_BIN", "target/release/easd");
    }
    // Requests cut off by the kill panic inside the test client; they are expected here.
    std::panic::set_hook(Box::new(|_| {}));

    let started = Instant::now();
    let mut server = TestServer::start();
    let mut simulation = Simulation::new(&server, seed, 2);
    // The MTA delivers to a second mailbox, which the phones' schedule never deletes from.
    server.add_user(MAILBOX);
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut delivered: HashMap<String, u32> = HashMap::new();
    let (mut deliveries_ok, mut deliveries_failed, mut cut_requests) = (0u64, 0u64, 0u64);
    for round in 0..kills {
        let killed = Arc::new(AtomicBool::new(false));
        // Deliveries beside the server, as an MTA runs them.
        let burst = 3 + rng.below(8) as usize;
        let config = server.config.clone();
        let subjects: Vec<String> = (0..burst).map(|n| format!("crash-{round}-{n}")).collect();
        let mta = {
            let subjects = subjects.clone();
            std::thread::spawn(move || {
                subjects
                    .into_iter()
                    .map(|subject| {
                        let ok = deliver(&config, &subject);
                        (subject, ok)
                    })
                    .collect::<Vec<_>>()
            })
        };
        // The kill, at a random point of the burst.
        let pid = server.pid();
        let delay = Duration::from_millis(rng.below(250));
        let killer = {
            let killed = killed.clone();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                killed.store(true, Ordering::SeqCst);
                // SAFETY: signals the server process this program started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            })
        };
        // Phones sync, change and delete until the server is gone.
        while !killed.load(Ordering::SeqCst) {
            match catch_unwind(AssertUnwindSafe(|| simulation.step())) {
                Ok(Ok(())) => {}
                Ok(Err(failure)) => fail(round, seed, &failure),
                Err(_) if killed.load(Ordering::SeqCst) => {
                    cut_requests += 1;
                    break;
                }
                Err(_) => fail(round, seed, "a request failed while the server was running"),
            }
        }
        killer.join().expect("killer");
        for (subject, ok) in mta.join().expect("deliveries") {
            if ok {
                deliveries_ok += 1;
                *delivered.entry(subject).or_default() += 1;
            } else {
                deliveries_failed += 1;
            }
        }
        server.kill_and_restart();
        simulation.reconnect(&server);

        let integrity: String = rusqlite::Connection::open(&server.db)
            .and_then(|db| db.query_row("PRAGMA integrity_check", [], |row| row.get(0)))
            .unwrap_or_else(|e| fail(round, seed, &format!("integrity_check: {e}")));
        if integrity != "ok" {
            fail(round, seed, &format!("integrity_check: {integrity}"));
        }
        let counts = subject_counts(&simulation);
        for (subject, _) in delivered.iter() {
            let present = counts.get(subject).copied().unwrap_or(0);
            if present != 1 {
                fail(
                    round,
                    seed,
                    &format!("{subject} was delivered (exit 0) but is present {present} times"),
                );
            }
        }
        if let Err(failure) = simulation.catch_up() {
            fail(round, seed, &failure);
        }
    }
    let stats = &simulation.stats;
    println!(
        "{kills} kills in {:.1} s: {deliveries_ok} deliveries exited 0 (each present once), \
         {deliveries_failed} failed, {cut_requests} requests cut off and replayed; \
         {} model steps, {} syncs, {} consistency checks; integrity_check ok after every restart",
        started.elapsed().as_secs_f64(),
        stats.steps,
        stats.syncs,
        stats.checks
    );
}

/// Runs `easd deliver` for one message; whether it exited 0.
fn deliver(config: &std::path::Path, subject: &str) -> bool {
    use std::io::Write;
    let message = format!(
        "From: MTA <mta@example.net>\r\nTo: <{}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.net>\r\n\r\nbody of {subject}\r\n",
        MAILBOX
    );
    let child = Command::new(common::easd_binary())
        .arg("--config")
        .arg(config)
        .args(["deliver", MAILBOX])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(message.as_bytes());
    }
    child.wait().map(|status| status.success()).unwrap_or(false)
}

/// How often each `crash-…` subject is in the MTA's mailbox, every folder counted.
fn subject_counts(simulation: &Simulation) -> HashMap<String, u32> {
    let store = simulation.store();
    let user = store
        .user_by_email(MAILBOX)
        .expect("read")
        .expect("user")
        .id;
    let mut counts = HashMap::new();
    for folder in store.folders_of(user).expect("folders") {
        for item in store.items_in_window(user, folder.id, None).expect("items") {
            if let Some(message) = store.message(user, item.id).expect("message") {
                if message.subject.starts_with("crash-") {
                    *counts.entry(message.subject).or_default() += 1;
                }
            }
        }
    }
    counts
}

fn fail(round: u64, seed: u64, what: &str) -> ! {
    println!("round {round} (seed {seed}): FAILED: {what}");
    std::process::exit(1);
}
