//! Helpers shared by the benchmark examples: a process's memory, thread, file-descriptor and
//! CPU figures read from /proc, the open-files limit (read and raised), latency percentiles,
//! the lines that report memory against a target, the location of the `easd` binary next to
//! the example's own executable, command-line flags and generated mail. The helpers that speak
//! to a test server as a phone are in `device.rs` beside this file.
// Each benchmark uses a different subset of these helpers.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A snapshot of one process, from /proc/PID/{status,stat,fd}.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessStats {
    /// Resident set size (VmRSS).
    pub rss_kib: u64,
    /// Peak resident set size since the process started (VmHWM).
    pub peak_rss_kib: u64,
    /// Threads of the process (Threads).
    pub threads: u64,
    /// Open file descriptors (entries of /proc/PID/fd).
    pub open_fds: usize,
    /// User plus system CPU time, in clock ticks (see [`clock_ticks_per_second`]).
    pub cpu_ticks: u64,
}

/// Reads the current figures of process `pid`.
pub fn process_stats(pid: u32) -> io::Result<ProcessStats> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(proc_dir.join("status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    let stat = std::fs::read_to_string(proc_dir.join("stat"))?;
    Ok(ProcessStats {
        rss_kib: field("VmRSS")?,
        peak_rss_kib: field("VmHWM")?,
        threads: field("Threads")?,
        open_fds: std::fs::read_dir(proc_dir.join("fd"))?.count(),
        cpu_ticks: cpu_ticks_from_stat(&stat)
            .ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat")))?,
    })
}

/// utime + stime from the text of /proc/PID/stat. The command name (field 2) may hold spaces
/// and parentheses, so the fields are counted from the last ')'.
fn cpu_ticks_from_stat(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11); // field 3 (state) is index 0
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The kernel's clock ticks per second for /proc CPU times (`getconf CLK_TCK`, usually 100).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks: &u64| ticks > 0)
        .unwrap_or(100)
}

/// A soft and hard resource limit; `None` stands for "unlimited".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |value: Option<u64>| value.map_or("unlimited".to_string(), |v| v.to_string());
        write!(f, "soft {}, hard {}", show(self.soft), show(self.hard))
    }
}

/// The "Max open files" limit of process `pid` (or "self"), from /proc/PID/limits.
pub fn open_files_limit(pid: &str) -> io::Result<Limit> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(parse_limit_values)
        .ok_or_else(|| io::Error::other(format!("no open-files limit in /proc/{pid}/limits")))
}

fn parse_limit_values(rest: &str) -> Option<Limit> {
    let mut values = rest.split_whitespace().map(|word| match word {
        "unlimited" => Some(None),
        number => number.parse().ok().map(Some),
    });
    Some(Limit {
        soft: values.next()??,
        hard: values.next()??,
    })
}

/// Raises this process's open-files soft limit to its hard limit with util-linux `prlimit`
/// (the examples have no libc binding), returning the limit before and after.
pub fn raise_own_open_files_limit() -> io::Result<(Limit, Limit)> {
    let before = open_files_limit("self")?;
    if before.soft == before.hard {
        return Ok((before, before));
    }
    let hard = before
        .hard
        .map_or("unlimited".to_string(), |v| v.to_string());
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!("prlimit failed: {status}")));
    }
    Ok((before, open_files_limit("self")?))
}

/// The value at percentile `p` (0–100) of `sorted` (ascending), by the nearest-rank method.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `kib` as mebibytes with one decimal, e.g. "12.3 MiB".
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `d` in milliseconds with three decimals, e.g. "0.412 ms".
pub fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The `easd` binary of the same build profile as the running example: examples live in
/// target/PROFILE/examples/, the binary in target/PROFILE/.
pub fn easd_beside_current_exe() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| io::Error::other(format!("{} has no profile directory", exe.display())))?;
    Ok(profile_dir.join("easd"))
}

/// When the example was started by `cargo run`, (re)builds the `easd` binary in the example's
/// profile so a benchmark never measures a stale server. Without cargo it does nothing.
pub fn build_easd_with_cargo(manifest_dir: &str) -> io::Result<()> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let exe = std::env::current_exe()?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .map(|name| if name == "debug" { "dev" } else { name })
        .ok_or_else(|| io::Error::other("cannot tell the build profile"))?
        .to_string();
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--bin", "easd", "--profile", &profile])
        .arg("--manifest-path")
        .arg(Path::new(manifest_dir).join("Cargo.toml"))
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cargo build of easd failed: {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (easd (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 100 0";
        assert_eq!(cpu_ticks_from_stat(stat), Some(12));
        assert_eq!(cpu_ticks_from_stat("42 (easd) S 1"), None);
    }

    #[test]
    fn open_files_limits_parse_numbers_and_unlimited() {
        assert_eq!(
            parse_limit_values("            1024                 4096                 files"),
            Some(Limit {
                soft: Some(1024),
                hard: Some(4096)
            })
        );
        assert_eq!(
            parse_limit_values(" unlimited unlimited files"),
            Some(Limit {
                soft: None,
                hard: None
            })
        );
        assert_eq!(parse_limit_values(" many files"), None);
        let own = open_files_limit("self").expect("own limits");
        assert!(own.soft.is_some_and(|soft| soft > 0));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&sorted[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn own_process_stats_are_plausible() {
        let stats = process_stats(std::process::id()).expect("own stats");
        assert!(stats.rss_kib > 0 && stats.peak_rss_kib >= stats.rss_kib);
        assert!(stats.threads >= 1);
        assert!(stats.open_fds >= 3);
    }
}

/// The `main` of a benchmark: its options from the command line (a message, the usage and
/// exit code 2 when they do not parse; an empty message prints only the usage), then the run
/// (`NAME: FAILED: …` and exit code 1 when it fails).
pub fn bench_main<O>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(&[String]) -> Result<O, String>,
    run: impl FnOnce(&[String], &O) -> Result<(), String>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let options = match parse(args.get(1..).unwrap_or_default()) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{name}: {message}");
            }
            eprintln!("{usage}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args, &options) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: FAILED: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The easd binary a benchmark measures: `given` (`--easd PATH`), else the release build
/// beside this benchmark, built now when `build` is set. It is exported as `EASD_BIN`, which
/// the test-side server (tests/common) starts.
pub fn easd_under_test(given: Option<&Path>, build: bool) -> Result<PathBuf, String> {
    let binary = match given {
        Some(path) => path.to_path_buf(),
        None => {
            if build {
                build_easd_with_cargo(env!("CARGO_MANIFEST_DIR")).map_err(|e| e.to_string())?;
            }
            easd_beside_current_exe().map_err(|e| e.to_string())?
        }
    };
    if !binary.is_file() {
        return Err(format!(
            "no easd binary at {} (build it with `cargo build --release` or pass --easd PATH)",
            binary.display()
        ));
    }
    std::env::set_var("EASD_BIN", &binary);
    Ok(binary)
}

/// One `--flag value` pair of a benchmark's command line.
pub struct Flag<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl Flag<'_> {
    /// The value as a whole number (0 allowed).
    pub fn whole<T: std::str::FromStr>(&self) -> Result<T, String> {
        self.value
            .parse()
            .map_err(|_| format!("{} needs a whole number, not {:?}", self.name, self.value))
    }

    /// The value as a whole number above 0.
    pub fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(&self) -> Result<T, String> {
        self.value
            .parse()
            .ok()
            .filter(|n: &T| *n > T::from(0))
            .ok_or_else(|| {
                format!(
                    "{} needs a positive number, not {:?}",
                    self.name, self.value
                )
            })
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.value)
    }
}

/// Reads a benchmark's `--flag value` pairs: `set` takes each and answers whether it knows the
/// flag. `--help`/`-h` asks for the usage (an empty error, see [`bench_main`]); a flag without
/// a value or one `set` does not know is an error.
pub fn read_flags(
    args: &[String],
    mut set: impl FnMut(&Flag) -> Result<bool, String>,
) -> Result<(), String> {
    let mut words = args.iter();
    while let Some(name) = words.next() {
        if name == "--help" || name == "-h" {
            return Err(String::new());
        }
        let value = words
            .next()
            .ok_or_else(|| format!("{name} needs a value"))?;
        if !set(&Flag { name, value })? {
            return Err(format!("unknown option {name}"));
        }
    }
    Ok(())
}

/// An mbox of `count` messages to `account`, a minute apart, each multipart/alternative with
/// `paragraphs` paragraphs of plain text and the same as HTML (5 make about 2 KB, 8 about 3 KB).
/// The benchmarks that sync it use FilterType 0, so the dates only order the messages.
pub fn write_report_mbox(
    path: &Path,
    account: &str,
    count: usize,
    paragraphs: usize,
) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    let paragraph = "The quarterly figures are in and the team has reviewed them. \
                     We will discuss the details on Thursday; please bring your notes.\n";
    let text: String = paragraph.repeat(paragraphs);
    let html = format!(
        "<html><body><p>{}</p></body></html>",
        text.replace('\n', "<br>")
    );
    for n in 0..count {
        let date = format!(
            "Tue, 14 Nov 2023 {:02}:{:02}:00 +0000",
            (n / 60) % 24,
            n % 60
        );
        write!(
            out,
            "From sender{m}@example.org Mon Jan  1 00:00:00 2024\n\
             From: Sender {m} <sender{m}@example.org>\n\
             To: Bench <{account}>\n\
             Subject: Report number {n}\n\
             Date: {date}\n\
             Message-ID: <bench-{n}@example.org>\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"b{n}\"\n\
             \n\
             --b{n}\n\
             Content-Type: text/plain; charset=utf-8\n\
             \n\
             {text}\n\
             --b{n}\n\
             Content-Type: text/html; charset=utf-8\n\
             \n\
             {html}\n\
             --b{n}--\n\
             \n",
            m = n % 50
        )?;
    }
    out.flush()
}

/// [`process_stats`] with the error as the benchmarks report it.
pub fn stats(pid: u32) -> Result<ProcessStats, String> {
    process_stats(pid).map_err(|e| format!("reading /proc/{pid}: {e}"))
}

/// Forgets a process's peak resident memory so far, so that VmHWM measures what follows.
pub fn reset_peak_rss(pid: u32) -> Result<(), String> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .map_err(|e| format!("resetting the peak RSS of {pid}: {e}"))
}

/// How a figure compares with its target, as the report lines end.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The line after one phase of syncs: the server's memory when the phase started, its peak
/// during it and that peak over the memory before all phases.
pub fn print_phase_rss(phase_before: &ProcessStats, phase_after: &ProcessStats, growth: u64) {
    println!(
        "    server RSS {} at the start of this phase, peak {} (growth over the start of all syncs: {})",
        mib(phase_before.rss_kib),
        mib(phase_after.peak_rss_kib),
        mib(growth)
    );
}

/// The closing line of the sync benchmarks: the server's memory before and after the syncs and
/// the largest peak growth of a phase against its target.
pub fn print_rss_summary(
    before: &ProcessStats,
    after: &ProcessStats,
    growth: u64,
    target_kib: u64,
) {
    println!(
        "server RSS: {} before the syncs, {} after, peak growth {} (target under {}) {}",
        mib(before.rss_kib),
        mib(after.rss_kib),
        mib(growth),
        mib(target_kib),
        verdict(growth < target_kib)
    );
}

/// The first lines of a benchmark's report: what it measures, its command line and settings.
pub fn print_header(title: &str, args: &[String], settings: &str) {
    println!("easd {title} benchmark");
    println!("command: {}", args.join(" "));
    println!("settings: {settings}");
}

/// The options of a benchmark that takes none.
pub fn no_options(words: &[String]) -> Result<(), String> {
    if words.is_empty() {
        Ok(())
    } else {
        Err(String::new())
    }
}

/// Runs `measure` on a database path in a fresh temporary directory (`easd-bench-NAME-PID`),
/// removed afterwards whatever the outcome.
pub fn with_temp_database(
    name: &str,
    measure: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("easd-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = measure(&dir.join("easd.db"));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The options of a benchmark whose only flag is `--easd PATH`.
pub fn parse_easd_flag(words: &[String]) -> Result<Option<PathBuf>, String> {
    let mut easd = None;
    read_flags(words, |flag| {
        if flag.name != "--easd" {
            return Ok(false);
        }
        easd = Some(flag.path());
        Ok(true)
    })?;
    Ok(easd)
}

/// The folder of `email`'s account that `wanted` picks (`what` names it in the error).
pub fn folder_of(
    store: &easd::store::Store,
    email: &str,
    what: &str,
    wanted: impl Fn(&easd::store::Folder) -> bool,
) -> Result<easd::store::FolderId, String> {
    let user = store
        .user_by_email(email)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account {email}"))?
        .id;
    store
        .folders_of(user)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|f| wanted(f))
        .map(|f| f.id)
        .ok_or_else(|| format!("no {what} of {email}"))
}

/// A message to `to` with an attachment of `bytes` incompressible bytes (rounded up to whole
/// groups of 3), base64 in 76-column lines.
pub fn big_attachment_message(to: &str, bytes: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut message = format!(
        "From: Sender <sender@example.org>\r\nTo: {to}\r\n\
         Subject: The big one\r\nMessage-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n\
         Content-Type: text/plain\r\n\r\nSee the attachment.\r\n--big\r\n\
         Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    // Every 3 bytes become 4 characters; a simple xorshift gives bytes that do not compress.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut line = 0;
    for _ in 0..bytes.div_ceil(3) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for shift in [0, 6, 12, 18] {
            message.push(ALPHABET[((state >> shift) & 63) as usize]);
        }
        line += 4;
        if line == 76 {
            message.extend_from_slice(b"\r\n");
            line = 0;
        }
    }
    message.extend_from_slice(b"\r\n--big--\r\n");
    message
}
