//! The walls of docs/ARCHITECTURE.md, checked on the source: every `crate::X` a module of
//! `src/` names (in `use` lines and in paths, comments left out) must be a layer the table
//! below allows it. The codec knows no command, the store knows no WBXML, the front door knows
//! no item class, and `eas` never sees a socket or the request loop's types.
//!
//! The table is the one place the allowed dependencies are written; a new top-level module must
//! be added to it (the test says so) before it can be used.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the top-level modules it may name. Dependencies point
/// one way: `admin → http, server → eas → store → mime`, `eas → wbxml`; the rest are leaves
/// or services (push, mail submission, the outbox, notices, out-of-office) between `eas` and `store`.
const ALLOWED: &[(&str, &[&str])] = &[
    // The command line puts the house together: it may use everything.
    (
        "admin",
        &[
            "autodiscover",
            "ca",
            "calendar",
            "clock",
            "config",
            "eas",
            "http",
            "interchange",
            "logsafe",
            "mail_submit",
            "mime",
            "notice",
            "oof",
            "outbox",
            "policy",
            "protocol_version",
            "push",
            "server",
            "smime",
            "store",
            "wbxml",
            "web",
        ],
    ),
    ("main", &["admin"]),
    ("lib", &[]),
    // The front door: sockets, TLS, parked requests. It reads the notification datagram
    // (push) and prints dates (clock); it knows no command, item class or store.
    ("http", &["clock", "push"]),
    // The request loop: HTTP meaning of a request, dispatch to eas and autodiscover.
    (
        "server",
        &[
            "autodiscover",
            "clock",
            "eas",
            "logsafe",
            "outbox",
            "policy",
            "protocol_version",
            "push",
            "store",
            "wbxml",
            "web",
        ],
    ),
    // The family's web page: signs in through the request loop's auth, reads and writes the
    // store, wakes parked phones; never a command, the front door or the command line.
    (
        "web",
        &[
            "ca",
            "clock",
            "config",
            "logsafe",
            "policy",
            "protocol_version",
            "push",
            "server",
            "smime",
            "store",
        ],
    ),
    // Calendar logic that knows no protocol: time zones, recurrence, iCalendar.
    ("calendar", &["clock", "mime", "store"]),
    // iCalendar and vCard text from and into stored records: no protocol, no command line.
    ("interchange", &["calendar", "clock", "mime", "store"]),
    // The private CA and certificate fingerprints: files next to the database.
    ("ca", &["config"]),
    // S/MIME certificates (reading, chain validation): protocol-neutral, uses nothing.
    ("smime", &[]),
    // Escaping log values: a leaf any layer may use.
    ("logsafe", &[]),
    // The protocol: never the request loop, the front door or the command line.
    (
        "eas",
        &[
            "calendar",
            "clock",
            "interchange",
            "logsafe",
            "mail_submit",
            "mime",
            "notice",
            "oof",
            "policy",
            "protocol_version",
            "push",
            "smime",
            "store",
            "wbxml",
        ],
    ),
    ("autodiscover", &["config"]),
    ("config", &[]),
    ("mail_submit", &["clock", "mime", "store"]),
    ("notice", &["clock", "mime", "store"]),
    ("oof", &["clock", "mime", "outbox", "push", "store"]),
    // The outbox's sender: queued mail to the submission command, notes to the owner.
    ("outbox", &["clock", "mail_submit", "push", "store"]),
    ("push", &["store"]),
    // The store knows no WBXML, no protocol and no HTTP; the policy model is pure data.
    ("store", &["clock", "mime", "policy", "protocol_version"]),
    ("policy", &["protocol_version"]),
    ("protocol_version", &[]),
    ("mime", &[]),
    ("clock", &[]),
    // The codec knows nothing of the project: no command, no store.
    ("wbxml", &[]),
];

/// One reference that crosses a wall.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    module: String,
    names: String,
}

fn allowed(module: &str) -> Option<&'static [&'static str]> {
    ALLOWED
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, allowed)| *allowed)
}

/// The top-level module a file of `src/` belongs to (`src/eas/sync/engine.rs` → `eas`,
/// `src/config.rs` → `config`), and how deep below the crate root its code sits.
fn module_of(relative: &Path) -> (String, usize) {
    let parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    let file = parts.last().map(String::as_str).unwrap_or_default();
    // `x/mod.rs` is the module `x` itself; `x/y.rs` is `x::y`; `lib.rs`/`main.rs` are the root.
    let depth = match (parts.len(), file) {
        (1, "lib.rs" | "main.rs") => 0,
        (n, "mod.rs") => n - 1,
        (n, _) => n,
    };
    (top, depth)
}

/// `text` without `//` comments (doc comments included) and `/* */` blocks. String literals
/// are kept, except that a `//` inside one also ends the line here; a reference after a URL on
/// the same line would be missed, which the project's code never writes.
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let line_comment = rest.find("//");
        let block_comment = rest.find("/*");
        match (line_comment, block_comment) {
            (Some(l), b) if b.is_none_or(|b| l < b) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |end| &rest[l + end..]);
            }
            (_, Some(b)) => {
                out.push_str(&rest[..b]);
                let end = rest[b..].find("*/").map_or(rest.len(), |end| b + end + 2);
                // Keep the line count: line numbers in reports must stay right.
                out.extend(rest[b..end].chars().filter(|&c| c == '\n'));
                rest = &rest[end..];
            }
            _ => {
                out.push_str(rest);
                rest = "";
            }
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules a source text names, with the line of each: `crate::x`,
/// `crate::{x, y::z}` (over several lines too) and, from a file `depth` levels below the root,
/// `super::…::x` paths that climb to the crate root.
fn references(source: &str, depth: usize) -> Vec<(usize, String)> {
    let code = without_comments(source);
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(rest) = code.get(index..).filter(|rest| !rest.is_empty()) {
        // `$crate::` (macros) and `mycrate::` are not this crate's root.
        let at_boundary = code[..index]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident_char(c) && c != '$');
        let path = if !at_boundary {
            None
        } else if let Some(after) = rest.strip_prefix("crate::") {
            Some((after, true))
        } else if depth > 0 && rest.starts_with("super::") {
            let mut after = rest;
            let mut climbed = 0;
            while let Some(next) = after.strip_prefix("super::") {
                after = next;
                climbed += 1;
            }
            Some((after, climbed >= depth))
        } else {
            None
        };
        let Some((after, reaches_root)) = path else {
            index += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        if reaches_root {
            let line = line_of(index);
            match after.strip_prefix('{') {
                Some(group) => found.extend(group_heads(group).into_iter().map(|n| (line, n))),
                None => {
                    let name: String = after.chars().take_while(|&c| is_ident_char(c)).collect();
                    if !name.is_empty() {
                        found.push((line, name));
                    }
                }
            }
        }
        index += rest.len() - after.len();
    }
    found
}

/// The first name of each item of a `{a, b::c, d::{e, f}}` group (`group` starts after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut nesting = 0;
    let mut item_start = true;
    let mut token = String::new();
    for c in group.chars() {
        if is_ident_char(c) && item_start && nesting == 0 {
            token.push(c);
            continue;
        }
        if !token.is_empty() {
            heads.push(std::mem::take(&mut token));
            item_start = false;
        }
        match c {
            '{' => nesting += 1,
            '}' if nesting == 0 => break,
            '}' => nesting -= 1,
            ',' if nesting == 0 => item_start = true,
            _ => {}
        }
    }
    heads
}

/// Checks one file's source against the table; `top_level` lists the crate's top-level
/// modules (other names after `crate::` are items of the root, such as macros).
fn check_file(
    relative: &Path,
    source: &str,
    top_level: &BTreeSet<String>,
) -> Result<Vec<Violation>, String> {
    let (module, depth) = module_of(relative);
    let allowed = allowed(&module).ok_or_else(|| {
        format!("src/{module} is not in the table of tests/architecture.rs: place it in a layer")
    })?;
    Ok(references(source, depth)
        .into_iter()
        .filter(|(_, name)| name != &module && top_level.contains(name))
        .filter(|(_, name)| !allowed.contains(&name.as_str()))
        .map(|(line, name)| Violation {
            file: relative.display().to_string(),
            line,
            module: module.clone(),
            names: name,
        })
        .collect())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_names_only_the_layers_it_may() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let top_level: BTreeSet<String> = files
        .iter()
        .map(|file| module_of(file.strip_prefix(&src).unwrap()).0)
        .filter(|module| module != "lib" && module != "main")
        .collect();
    assert!(top_level.contains("eas") && top_level.contains("wbxml"));

    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let source = std::fs::read_to_string(file).expect("read source");
        match check_file(relative, &source, &top_level) {
            Ok(violations) => problems.extend(violations.into_iter().map(|v| {
                format!(
                    "src/{}:{}: {} must not use crate::{}",
                    v.file, v.line, v.module, v.names
                )
            })),
            Err(unknown) => problems.push(unknown),
        }
    }
    assert!(
        problems.is_empty(),
        "walls of docs/ARCHITECTURE.md broken:\n{}",
        problems.join("\n")
    );
}

/// The front door forwards only the client headers `server::RequestHeader` names, so a
/// request header read any other way than through `server::header` could be one it dropped.
/// (`.headers()` elsewhere is a MIME message's, in `mime`, or a response's.)
#[test]
fn request_headers_are_read_only_through_the_request_loops_header_function() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut readers = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let (module, _) = module_of(relative);
        if module == "mime" || module == "http" {
            continue;
        }
        let source = without_comments(&std::fs::read_to_string(file).expect("read source"));
        for (number, line) in source.lines().enumerate() {
            if line.contains(".headers()") {
                readers.push(format!("src/{}:{}", relative.display(), number + 1));
            }
        }
    }
    assert_eq!(readers.len(), 1, "{readers:?}");
    assert!(readers[0].starts_with("src/server/mod.rs:"), "{readers:?}");
}

/// The checker itself, on small synthetic sources: it must find what crosses a wall.
mod checker {
    use super::*;

    fn top_level() -> BTreeSet<String> {
        [
            "admin", "eas", "http", "mime", "server", "store", "wbxml", "config",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    }

    fn names(file: &str, source: &str) -> Vec<(usize, String)> {
        check_file(Path::new(file), source, &top_level())
            .unwrap()
            .into_iter()
            .map(|v| (v.line, v.names))
            .collect()
    }

    #[test]
    fn a_use_line_a_path_and_a_group_are_found() {
        let source = "use crate::wbxml::Element;\n\
                      fn f() { crate::eas::run(); }\n\
                      use crate::{mime::parse, server::{a, b}, store};\n";
        assert_eq!(
            names("store/items.rs", source),
            [
                (1, "wbxml".to_string()),
                (2, "eas".to_string()),
                (3, "server".to_string())
            ]
        );
    }

    #[test]
    fn a_group_over_several_lines_is_read_to_its_end() {
        let source = "use crate::{\n    mime,\n    http::Thing,\n};\n";
        assert_eq!(names("store/mod.rs", source), [(1, "http".to_string())]);
    }

    #[test]
    fn super_paths_that_climb_to_the_root_count() {
        // src/eas/sync/engine.rs sits three levels down: three `super::` reach the root.
        let source = "use super::super::super::server::Backend;\nuse super::class;\n";
        assert_eq!(
            names("eas/sync/engine.rs", source),
            [(1, "server".to_string())]
        );
        assert_eq!(
            names("wbxml/mod.rs", "use super::store::Store;\n"),
            [(1, "store".to_string())]
        );
    }

    #[test]
    fn comments_macros_and_allowed_layers_are_not_violations() {
        let source = "//! Unlike [`crate::server`], this never …\n\
                      /* crate::http::x */ use crate::store::Store;\n\
                      // use crate::server::Backend;\n\
                      macro_rules! m { () => { $crate::server::x() } }\n\
                      use crate::wbxml;\n";
        assert!(names("eas/ping.rs", source).is_empty());
    }

    #[test]
    fn the_codec_may_name_nothing_of_the_project() {
        assert_eq!(
            names("wbxml/decode.rs", "use crate::eas::query::Command;\n"),
            [(1, "eas".to_string())]
        );
        assert!(names("wbxml/decode.rs", "use crate::wbxml::tag;\n").is_empty());
    }

    #[test]
    fn a_module_missing_from_the_table_is_an_error() {
        let outcome = check_file(Path::new("gadget.rs"), "", &top_level());
        assert!(outcome.unwrap_err().contains("src/gadget"));
    }

    #[test]
    fn the_table_follows_the_documented_direction() {
        // admin → http, server → eas → store → mime, eas → wbxml; never the other way.
        let may = |from: &str, to: &str| allowed(from).unwrap().contains(&to);
        for (from, to) in [
            ("admin", "http"),
            ("admin", "server"),
            ("server", "eas"),
            ("eas", "store"),
            ("store", "mime"),
            ("eas", "wbxml"),
        ] {
            assert!(may(from, to), "{from} → {to}");
            assert!(!may(to, from), "{to} → {from}");
        }
        assert!(allowed("wbxml").unwrap().is_empty());
        for layer in ["wbxml", "eas", "server", "http"] {
            assert!(!may("store", layer), "store → {layer}");
        }
        for layer in ["eas", "store"] {
            assert!(!may("http", layer), "http → {layer}");
        }
        for layer in ["server", "http", "admin"] {
            assert!(!may("eas", layer), "eas → {layer}");
        }
    }
}
