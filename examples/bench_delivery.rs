//! Benchmark of mail arrival: `easd deliver` throughput (one process per message, as an MTA
//! runs it, against the database of a running server), `easd import` throughput for a
//! generated mbox, and one 50 MB delivery — with the peak memory of the CLI processes.
//!
//! Run: `cargo run --release --example bench_delivery -- [--deliveries N] [--messages M]
//! [--easd PATH]`. It starts its own server on loopback with a temporary database and
//! prints one figure per line.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bench_util::mib;
use common::TestServer;

const ACCOUNT: &str = "bench@example.com";

const USAGE: &str = "usage: bench_delivery [--deliveries N] [--messages M] [--easd PATH]
  --deliveries N  messages delivered one `easd deliver` process each (default 1000)
  --messages M    messages in the generated mbox for `easd import` (default 10000)
  --easd PATH     the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

struct Options {
    deliveries: u64,
    messages: u64,
    easd: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        deliveries: 1000,
        messages: 10_000,
        easd: None,
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--deliveries" => options.deliveries = flag.positive()?,
            "--messages" => options.messages = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_delivery", USAGE, parse_options, run)
}

/// A typical small message (about 3.5 KB): Received trail, multipart/alternative with a
/// plain and an HTML part, threading headers on every other one.
fn sample_message(n: u64) -> Vec<u8> {
    let mut text = String::new();
    for line in 0..20 {
        let _ = writeln!(
            text,
            "Line {line} of message {n}: the quick brown fox jumps over the lazy dog."
        );
    }
    let html = text
        .lines()
        .map(|l| format!("<p>{l}</p>"))
        .collect::<Vec<_>>()
        .join("\n");
    let threading = if n % 2 == 1 {
        format!(
            "In-Reply-To: <bench-{}@example.net>\r\nReferences: <bench-{}@example.net>\r\n",
            n - 1,
            n - 1
        )
    } else {
        String::new()
    };
    format!(
        "Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n\
         \tby mail.example.com (Postfix) with ESMTPS id {n:X}\r\n\
         \tfor <{ACCOUNT}>; Mon, 01 Jan 2024 10:{:02}:{:02} +0000\r\n\
         From: \"Sender {n}\" <sender{n}@example.net>\r\n\
         To: \"Bench\" <{ACCOUNT}>\r\n\
         Subject: =?utf-8?q?Benchmark_message_{n}_=E2=9C=93?=\r\n\
         Date: Mon, 01 Jan 2024 10:{:02}:{:02} +0000\r\n\
         Message-ID: <bench-{n}@example.net>\r\n{threading}\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b{n}\"\r\n\r\n\
         --b{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --b{n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>\n{html}\n</body></html>\r\n\
         --b{n}--\r\n",
        (n / 60) % 60,
        n % 60,
        (n / 60) % 60,
        n % 60
    )
    .into_bytes()
}

/// One message of about `size` bytes: a base64 attachment of pseudo-random bytes.
fn big_message(size: usize) -> Vec<u8> {
    let mut message = b"Subject: big\r\nMessage-ID: <big@example.net>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
attached\r\n--B\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    while message.len() < size {
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            message.push(ALPHABET[(state >> 58) as usize]);
        }
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(b"--B--\r\n");
    message
}

/// How one CLI run went.
struct Run {
    code: Option<i32>,
    elapsed: Duration,
    /// Peak resident set size of the process.
    max_rss_kib: u64,
    stderr: String,
}

/// What `easd` reads on standard input.
enum Input<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// How a child is started.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spawn {
    /// std's default (posix_spawn, vfork-like): cheapest, for timing.
    Fast,
    /// A plain fork, for memory figures (see [`run_measured`]).
    ForMemory,
}

/// Runs `easd --config CONFIG args…` with `input` on stdin and measures its peak memory
/// with wait4(2). Linux counts the memory the child had before exec in its peak: after a
/// vfork that is this process's own high-water mark, after a plain fork this process's
/// current size. So memory is measured with [`Spawn::ForMemory`], large inputs are passed
/// as files and dropped here first, and the figures cannot go below this process's size
/// (printed as the floor).
fn run_measured(
    binary: &Path,
    config: &Path,
    args: &[&str],
    input: Input<'_>,
    spawn: Spawn,
) -> Result<Run, String> {
    let stderr_path =
        std::env::temp_dir().join(format!("easd-bench-delivery-{}.stderr", std::process::id()));
    let stderr_file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let stdin = match input {
        Input::Bytes(_) => Stdio::piped(),
        Input::File(path) => {
            Stdio::from(std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
    };
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(stderr_file);
    if spawn == Spawn::ForMemory {
        // SAFETY: the hook does nothing; its presence makes std fork instead of vfork.
        unsafe {
            command.pre_exec(|| Ok(()));
        }
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("start easd: {e}"))?;
    if let (Input::Bytes(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .map_err(|e| format!("write stdin: {e}"))?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child, which
    // std has not reaped (we never call wait on `child`).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if reaped != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);
    Ok(Run {
        code,
        elapsed,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        stderr,
    })
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;

    bench_util::print_header(
        "delivery",
        args,
        &format!(
            "deliveries={} messages={} easd={}",
            options.deliveries,
            options.messages,
            binary.display()
        ),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} CPU cores; a running server shares the database throughout");

    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let own = bench_util::process_stats(std::process::id()).map_err(|e| e.to_string())?;
    println!(
        "peak RSS floor (this process, whose copy each child starts as): {}",
        mib(own.rss_kib)
    );

    // --- 1. easd deliver, one process per message ------------------------------------
    let messages: Vec<Vec<u8>> = (0..options.deliveries).map(sample_message).collect();
    let average = messages.iter().map(Vec::len).sum::<usize>() / messages.len().max(1);
    let mut latencies = Vec::with_capacity(messages.len());
    let started = Instant::now();
    for message in &messages {
        let run = run_measured(
            &binary,
            &server.config,
            &["deliver", ACCOUNT],
            Input::Bytes(message),
            Spawn::Fast,
        )?;
        if run.code != Some(0) {
            return Err(format!("deliver exited {:?}: {}", run.code, run.stderr));
        }
        latencies.push(run.elapsed);
    }
    let elapsed = started.elapsed();
    let mut peak_rss = 0;
    for message in messages.iter().take(20) {
        let run = run_measured(
            &binary,
            &server.config,
            &["deliver", ACCOUNT],
            Input::Bytes(message),
            Spawn::ForMemory,
        )?;
        if run.code != Some(0) {
            return Err(format!("deliver exited {:?}: {}", run.code, run.stderr));
        }
        peak_rss = peak_rss.max(run.max_rss_kib);
    }
    latencies.sort();
    println!();
    println!(
        "[1] easd deliver: {} messages of ~{average} bytes, one process each",
        options.deliveries
    );
    println!(
        "deliver throughput: {:.0} messages/s ({:.2} s in all)",
        options.deliveries as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "deliver latency: p50 {} p99 {}",
        bench_util::millis(bench_util::percentile(&latencies, 50.0)),
        bench_util::millis(bench_util::percentile(&latencies, 99.0))
    );
    println!("deliver peak RSS (20 more deliveries): {}", mib(peak_rss));

    // --- 2. easd import of a generated mbox -------------------------------------------
    let mbox_path = server.dir.join("bench.mbox");
    let mut mbox = Vec::new();
    for n in 0..options.messages {
        let _ = writeln!(mbox, "From sender{n}@example.net Mon Jan  1 10:00:00 2024");
        let message = sample_message(1_000_000 + n);
        // Message bodies never start a line with "From " here; mbox uses LF line ends.
        mbox.extend(message.iter().filter(|&&b| b != b'\r'));
        mbox.push(b'\n');
    }
    std::fs::write(&mbox_path, &mbox).map_err(|e| e.to_string())?;
    let mbox_len = mbox.len() as u64;
    drop(mbox);
    let mbox_arg = mbox_path.to_str().ok_or("temp path is not UTF-8")?;
    let import = [
        "import",
        ACCOUNT,
        mbox_arg,
        "--folder",
        "Imported",
        "--progress",
        "0",
    ];
    let run = run_measured(
        &binary,
        &server.config,
        &import,
        Input::Bytes(b""),
        Spawn::ForMemory,
    )?;
    if run.code != Some(0) {
        return Err(format!("import exited {:?}: {}", run.code, run.stderr));
    }
    println!();
    println!(
        "[2] easd import: mbox of {} messages, {}",
        options.messages,
        mib(mbox_len / 1024)
    );
    println!(
        "import throughput: {:.0} messages/s ({:.2} s in all, {:.1} MiB/s)",
        options.messages as f64 / run.elapsed.as_secs_f64(),
        run.elapsed.as_secs_f64(),
        mbox_len as f64 / (1024.0 * 1024.0) / run.elapsed.as_secs_f64()
    );
    println!("import peak RSS: {}", mib(run.max_rss_kib));
    println!("import says: {}", run.stderr.trim());
    let again = run_measured(
        &binary,
        &server.config,
        &import,
        Input::Bytes(b""),
        Spawn::Fast,
    )?;
    if again.code != Some(0) || !again.stderr.contains("0 messages stored") {
        return Err(format!("re-import: {:?} {}", again.code, again.stderr));
    }
    println!(
        "re-import (all duplicates): {:.0} messages/s ({:.2} s)",
        options.messages as f64 / again.elapsed.as_secs_f64(),
        again.elapsed.as_secs_f64()
    );

    // --- 3. One 50 MB message ----------------------------------------------------------
    let big_path = server.dir.join("big.eml");
    let big_len = {
        let big = big_message(50 * 1024 * 1024);
        std::fs::write(&big_path, &big).map_err(|e| e.to_string())?;
        big.len() as u64
    };
    let run = run_measured(
        &binary,
        &server.config,
        &["deliver", ACCOUNT],
        Input::File(&big_path),
        Spawn::ForMemory,
    )?;
    if run.code != Some(0) {
        return Err(format!("big deliver exited {:?}: {}", run.code, run.stderr));
    }
    println!();
    println!("[3] easd deliver of one {} message", mib(big_len / 1024));
    println!("big deliver time: {:.2} s", run.elapsed.as_secs_f64());
    println!("big deliver peak RSS: {}", mib(run.max_rss_kib));
    let db_size = std::fs::metadata(&server.db).map(|m| m.len()).unwrap_or(0);
    println!();
    println!("database size at the end: {}", mib(db_size / 1024));
    Ok(())
}
