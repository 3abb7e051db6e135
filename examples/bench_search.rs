//! Benchmark of mailbox search (store::mail_search, what Search Store=Mailbox and Find call)
//! and of what its full-text index costs:
//!
//! 1. files 100,000 messages of varied text (seeded, so every run files the same mail:
//!    words drawn from a Zipf-like vocabulary of common words and generated ones, subjects,
//!    names, one in five HTML and quoted-printable, one in ten with a named attachment) into
//!    one user's five mail folders (and 10% into another user's), in batches of 500, and
//!    indexes them 500 a transaction, as `easd import` does; prints the rate and the index
//!    size per message;
//! 2. runs 1,000 FreeText queries (one or two words, common and rare, and prefixes) over all
//!    folders with Range 0-99, printing p50/p99/max and checking the p99 target (< 50 ms);
//! 3. delivers 2,000 messages one transaction each (what `easd deliver` does after parsing;
//!    a delivery only queues its message for the index) and checks that delivery stays at or
//!    above 500 messages/s, then indexes them in the server's idle batches;
//! 4. takes 5,000 messages out of the index and puts them in the upgrade backlog, then times
//!    the server's idle batches (`Store::index_backlog(50)`): how long a request may wait
//!    behind one batch, and how long a 100,000-message upgrade takes to index.
//!
//! Times are the thread's CPU time (the benchmark machine may be shared); the search also
//! prints wall-clock percentiles with the load average beside them.
//!
//! Run: `cargo run --release --example bench_search [-- --messages N]`.

mod bench_util;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench_util::{millis, percentile};
use easd::store::mail_search::query_terms;
use easd::store::{FolderType, MailQuery, NewMessage, Store};

const DEFAULT_MESSAGES: usize = 100_000;
const QUERIES: usize = 1_000;
const DELIVERIES: usize = 2_000;
const BACKLOG: usize = 5_000;
/// The server's idle batch (`server::INDEX_BATCH`).
const IDLE_BATCH: usize = 50;
const P99_TARGET: Duration = Duration::from_millis(50);
const DELIVER_TARGET: f64 = 500.0;

const COMMON: &[&str] = &[
    "the",
    "and",
    "for",
    "you",
    "this",
    "that",
    "with",
    "have",
    "will",
    "are",
    "from",
    "please",
    "thanks",
    "meeting",
    "project",
    "invoice",
    "payment",
    "order",
    "report",
    "update",
    "week",
    "today",
    "tomorrow",
    "monday",
    "friday",
    "school",
    "holiday",
    "family",
    "dinner",
    "weekend",
    "photos",
    "trip",
    "flight",
    "hotel",
    "booking",
    "contract",
    "insurance",
    "doctor",
    "appointment",
    "birthday",
    "party",
    "garden",
    "house",
    "rent",
    "bank",
    "account",
    "tax",
    "return",
    "receipt",
    "delivery",
    "parcel",
    "tracking",
    "number",
    "newsletter",
    "offer",
    "discount",
    "subscription",
    "password",
    "reset",
    "security",
    "alert",
    "question",
    "answer",
    "call",
    "phone",
    "address",
    "plumbing",
    "roof",
    "repair",
    "quote",
    "estimate",
    "budget",
    "schedule",
    "agenda",
    "minutes",
    "draft",
    "review",
    "approval",
    "signed",
    "documents",
    "attached",
    "see",
    "below",
    "regards",
    "best",
    "kind",
    "hello",
    "dear",
    "team",
    "client",
    "customer",
    "support",
    "ticket",
    "issue",
    "problem",
    "solution",
    "soon",
    "later",
    "again",
    "important",
    "urgent",
    "reminder",
    "deadline",
    "january",
    "march",
    "june",
    "september",
    "december",
    "zürich",
    "lisbon",
    "café",
    "naïve",
    "résumé",
    "straße",
    "münchen",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ter", "an", "sul", "dre", "po", "vin", "ost", "el", "gar", "nu", "bri",
    "sen", "tal", "ro", "qui", "fe", "dam",
];
const FIRST: &[&str] = &[
    "Anna", "Bob", "Chloé", "David", "Émile", "Fatima", "Giulia", "Hannah", "Jürgen", "Karim",
    "Lena", "Marta", "Noah", "Olivia", "Pavel", "Rosa", "Søren", "Tom",
];
const LAST: &[&str] = &[
    "Becker", "Castillo", "Dubois", "Fischer", "García", "Jansen", "Kowalski", "Müller", "Novák",
    "Rossi", "Schäfer", "Tanaka", "Weiß", "Yılmaz",
];
const ATTACHMENTS: &[&str] = &[
    "invoice",
    "report",
    "photo",
    "contract",
    "scan",
    "ticket",
    "menu",
    "plan",
    "statement",
];

/// CPU time of this thread: the machine may be busy with other work, and a query's cost is
/// what it computes, not how long it waited for a core.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A small deterministic generator (SplitMix64), so every run files the same mail.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The words of the mail: the common words first, then 20,000 generated ones, drawn with
/// probability falling as 1/rank (as word use does in real text).
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new(rng: &mut Rng) -> Vocabulary {
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        while words.len() < COMMON.len() + 20_000 {
            let length = 2 + rng.below(3);
            let word: String = (0..length)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            words.push(word);
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn rank(&self, rng: &mut Rng) -> usize {
        let last = self.cumulative[self.cumulative.len() - 1];
        let target = (rng.next() as f64 / u64::MAX as f64) * last;
        self.cumulative
            .partition_point(|&c| c < target)
            .min(self.words.len() - 1)
    }

    fn word(&self, rng: &mut Rng) -> &str {
        &self.words[self.rank(rng)]
    }

    fn sentence(&self, rng: &mut Rng, words: usize) -> String {
        let text: Vec<&str> = (0..words).map(|_| self.word(rng)).collect();
        text.join(" ") + "."
    }
}

fn person(rng: &mut Rng) -> (String, String) {
    let first = FIRST[rng.below(FIRST.len())];
    let last = LAST[rng.below(LAST.len())];
    let address = format!(
        "{}.{}@example.org",
        first.to_lowercase(),
        last.to_lowercase()
    );
    (format!("{first} {last}"), address)
}

/// Quoted-printable of UTF-8 text (lines kept short enough).
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for byte in text.bytes() {
        let piece = if byte == b'\n' {
            line = 0;
            out.push_str("\r\n");
            continue;
        } else if byte.is_ascii_graphic() && byte != b'=' || byte == b' ' {
            (byte as char).to_string()
        } else {
            format!("={byte:02X}")
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

fn message(rng: &mut Rng, vocabulary: &Vocabulary, n: usize) -> Vec<u8> {
    let (from_name, from) = person(rng);
    let subject_words = 3 + rng.below(6);
    let subject = vocabulary.sentence(rng, subject_words);
    let subject = subject.trim_end_matches('.');
    let paragraphs = 1 + rng.below(5);
    let body: Vec<String> = (0..paragraphs)
        .map(|_| {
            let sentences = 1 + rng.below(5);
            (0..sentences)
                .map(|_| {
                    let words = 5 + rng.below(15);
                    vocabulary.sentence(rng, words)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let html = rng.below(5) == 0;
    let attachment = (rng.below(10) == 0).then(|| {
        format!(
            "{}-{}.pdf",
            ATTACHMENTS[rng.below(ATTACHMENTS.len())],
            n % 9973
        )
    });
    let mut raw = format!(
        "From: \"{from_name}\" <{from}>\r\nTo: Bench Mark <bench@example.com>\r\n\
         Subject: {subject}\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\
         Message-ID: <bench-{n}@example.org>\r\nMIME-Version: 1.0\r\n"
    );
    let text_part = if html {
        let paragraphs: String = body.iter().map(|p| format!("<p>{p}</p>\n")).collect();
        format!(
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: \
             quoted-printable\r\n\r\n{}\r\n",
            quoted_printable(&format!("<html><body>{paragraphs}</body></html>"))
        )
    } else {
        format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
            body.join("\r\n\r\n")
        )
    };
    match attachment {
        None => raw.push_str(&text_part),
        Some(name) => {
            raw.push_str("Content-Type: multipart/mixed; boundary=\"bnd\"\r\n\r\n--bnd\r\n");
            raw.push_str(&text_part);
            raw.push_str(&format!(
                "--bnd\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; \
                 filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                 JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoK\r\n--bnd--\r\n"
            ));
        }
    }
    raw.into_bytes()
}

/// The 1-minute load average, to read the wall-clock figures by.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

struct Options {
    messages: usize,
}

fn main() -> ExitCode {
    bench_util::bench_main(
        "bench_search",
        "usage: bench_search [--messages N]",
        |args| match args {
            [] => Ok(Options {
                messages: DEFAULT_MESSAGES,
            }),
            [flag, n] if flag == "--messages" => n
                .parse()
                .ok()
                .filter(|&n| n >= 1_000)
                .map(|messages| Options { messages })
                .ok_or_else(|| "--messages needs a number of at least 1000".to_string()),
            _ => Err(String::new()),
        },
        |_, options| run(options),
    )
}

fn run(options: &Options) -> Result<(), String> {
    bench_util::with_temp_database("search", |db| measure(db, options))
}

fn error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn measure(db: &std::path::Path, options: &Options) -> Result<(), String> {
    let store = Store::open(db).map_err(error)?;
    let me = store
        .add_user("bench@example.com", "Bench Mark", "bench-password")
        .map_err(error)?;
    let other = store
        .add_user("other@example.com", "Other", "bench-password")
        .map_err(error)?;
    let mut folders = vec![];
    for kind in [
        FolderType::Inbox,
        FolderType::SentItems,
        FolderType::DeletedItems,
    ] {
        let folder = store
            .folders_of(me.id)
            .map_err(error)?
            .into_iter()
            .find(|f| f.folder_type == kind)
            .ok_or("a default folder is missing")?;
        folders.push(folder.id);
    }
    for name in ["Archive", "Receipts"] {
        let folder = store
            .create_folder(me.id, None, name, FolderType::UserMail)
            .map_err(error)?;
        folders.push(folder.id);
    }
    let other_inbox = store
        .folders_of(other.id)
        .map_err(error)?
        .into_iter()
        .find(|f| f.folder_type == FolderType::Inbox)
        .ok_or("no inbox")?
        .id;

    // 1. Filing.
    let mut rng = Rng(0x5EED_0011);
    let vocabulary = Vocabulary::new(&mut rng);
    let mut raw_bytes = 0usize;
    let started = Instant::now();
    let started_cpu = thread_cpu();
    let mut batch = store.mail_batch().map_err(error)?;
    let base_time = 1_500_000_000i64;
    for n in 0..options.messages {
        let raw = message(&mut rng, &vocabulary, n);
        raw_bytes += raw.len();
        let (user, folder) = if n % 10 == 9 {
            (other.id, other_inbox)
        } else {
            (me.id, folders[rng.below(folders.len())])
        };
        let filed = NewMessage {
            received_at: Some(base_time + n as i64 * 600),
            ..NewMessage::new(&raw)
        };
        batch.add(user, folder, &filed).map_err(error)?;
        if n % 500 == 499 {
            batch.commit().map_err(error)?;
            batch = store.mail_batch().map_err(error)?;
        }
    }
    batch.commit().map_err(error)?;
    while store.index_backlog(500).map_err(error)? > 0 {}
    let filing = started.elapsed();
    let filing_cpu = thread_cpu() - started_cpu;
    let index_bytes: i64 = store
        .connection()
        .query_row(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'message_text%'",
            [],
            |row| row.get(0),
        )
        .map_err(error)?;
    println!(
        "filed {} messages ({:.0} bytes each on average) in batches of 500: {:.0} messages/s \
         of CPU time ({:.1} s wall clock) with the index, written 500 a transaction after them",
        options.messages,
        raw_bytes as f64 / options.messages as f64,
        options.messages as f64 / filing_cpu.as_secs_f64(),
        filing.as_secs_f64(),
    );
    println!(
        "index size: {:.1} MiB in all, {:.0} bytes per message",
        index_bytes as f64 / 1_048_576.0,
        index_bytes as f64 / options.messages as f64
    );

    // 2. FreeText queries over every folder of the user, Range 0-99.
    let mut times = Vec::with_capacity(QUERIES);
    let mut wall = Vec::with_capacity(QUERIES);
    let mut kinds: Vec<Vec<(Duration, usize)>> = vec![Vec::new(); 4];
    let kind_of = |q: usize| match q % 10 {
        0..=3 => 0,
        4..=6 => 1,
        7 | 8 => 2,
        _ => 3,
    };
    let mut matches = 0usize;
    for q in 0..QUERIES {
        let text = match q % 10 {
            0..=3 => vocabulary.words[20 + rng.below(2_000)].clone(),
            4..=6 => format!(
                "{} {}",
                vocabulary.words[rng.below(500)],
                vocabulary.words[rng.below(5_000)]
            ),
            7 | 8 => vocabulary.words[5_000 + rng.below(15_000)].clone(),
            _ => vocabulary.words[rng.below(3_000)].chars().take(3).collect(),
        };
        let query = MailQuery {
            terms: query_terms(&text).map_err(|e| format!("{text:?}: {e:?}"))?,
            ..MailQuery::default()
        };
        let start = Instant::now();
        let cpu = thread_cpu();
        let found = store.search_mail(me.id, &query, 0, 100).map_err(error)?;
        let spent = thread_cpu() - cpu;
        wall.push(start.elapsed());
        times.push(spent);
        kinds[kind_of(q)].push((spent, found.total));
        matches += found.total;
    }
    for (name, kind) in ["one word", "two words", "rare word", "prefix"]
        .iter()
        .zip(&mut kinds)
    {
        kind.sort();
        let worst = kind[kind.len() - 1];
        println!(
            "  {name}: CPU p50 {}, max {} ({} matches)",
            millis(kind[kind.len() / 2].0),
            millis(worst.0),
            worst.1
        );
    }
    times.sort();
    let p99 = percentile(&times, 99.0);
    println!(
        "FreeText search, {QUERIES} queries (1-2 words, common and rare, 3-letter prefixes), \
         {:.0} matches per query on average:",
        matches as f64 / QUERIES as f64
    );
    wall.sort();
    println!(
        "  CPU time: p50 {}, p99 {}, max {} (target p99 < {} ms); wall clock on this machine \
         (load {}): p50 {}, p99 {}",
        millis(percentile(&times, 50.0)),
        millis(p99),
        millis(times[times.len() - 1]),
        P99_TARGET.as_millis(),
        load_average(),
        millis(percentile(&wall, 50.0)),
        millis(percentile(&wall, 99.0)),
    );

    // 3. Delivery, one transaction per message (queued for the index), then the server's idle
    // batches index what was delivered.
    let messages: Vec<Vec<u8>> = (0..DELIVERIES)
        .map(|n| message(&mut rng, &vocabulary, 1_000_000 + n))
        .collect();
    // An empty write-ahead log to start from, so the filing does not pay for the earlier
    // phases' checkpoint.
    store
        .connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(error)?;
    let cpu = thread_cpu();
    let wall = Instant::now();
    for raw in &messages {
        store
            .add_message(me.id, folders[0], &NewMessage::new(raw))
            .map_err(error)?;
    }
    let per_second = |spent: Duration| DELIVERIES as f64 / spent.as_secs_f64();
    let (delivered, delivered_wall) = (per_second(thread_cpu() - cpu), per_second(wall.elapsed()));
    let cpu = thread_cpu();
    while store.index_backlog(IDLE_BATCH).map_err(error)? > 0 {}
    let indexing = (thread_cpu() - cpu) / DELIVERIES as u32;

    // 4. The upgrade backlog.
    store
        .connection()
        .execute_batch(&format!(
            "INSERT INTO message_text_backlog (blob_id)
                 SELECT blob_id FROM messages ORDER BY blob_id LIMIT {BACKLOG};
             DELETE FROM message_text WHERE rowid IN (SELECT key FROM message_text_keys
                 WHERE blob_id IN (SELECT blob_id FROM message_text_backlog));
             DELETE FROM message_text_keys
                 WHERE blob_id IN (SELECT blob_id FROM message_text_backlog);"
        ))
        .map_err(error)?;
    let mut batches = Vec::new();
    let start = thread_cpu();
    loop {
        let batch_start = thread_cpu();
        let remaining = store.index_backlog(IDLE_BATCH).map_err(error)?;
        batches.push(thread_cpu() - batch_start);
        if remaining == 0 {
            break;
        }
    }
    let backlog_rate = BACKLOG as f64 / (thread_cpu() - start).as_secs_f64();
    batches.sort();

    println!(
        "deliver, one transaction per message, {DELIVERIES} messages into a mailbox of {}:",
        options.messages
    );
    println!(
        "  CPU time: {delivered:.0} messages/s (target >= {DELIVER_TARGET:.0}/s; commits wait \
         for the disk besides); wall clock (load {}): {delivered_wall:.0} messages/s; indexed \
         afterwards in idle batches of {IDLE_BATCH}: {} of CPU per message",
        load_average(),
        millis(indexing)
    );
    println!(
        "upgrade backlog (CPU time): {BACKLOG} messages in idle batches of {IDLE_BATCH}: \
         {backlog_rate:.0} messages/s (100,000 in {:.0} s); one batch p50 {}, max {} (what a \
         request arriving meanwhile may wait)",
        100_000.0 / backlog_rate,
        millis(percentile(&batches, 50.0)),
        millis(batches[batches.len() - 1])
    );
    let mut failures = Vec::new();
    if p99 >= P99_TARGET {
        failures.push(format!(
            "search p99 {} is not below the target",
            millis(p99)
        ));
    }
    if delivered.min(delivered_wall) < DELIVER_TARGET {
        failures.push(format!(
            "delivery {:.0}/s is below the target",
            delivered.min(delivered_wall)
        ));
    }
    if failures.is_empty() {
        println!("targets met");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
