//! Hands outgoing mail to the local mail transfer agent: runs the configured
//! `submission-command` (sendmail-compatible: Postfix, Exim, msmtp, …) with the envelope on
//! its command line and the message on its standard input. No shell is involved, so neither
//! addresses nor the configured words are ever interpreted by one.
//!
//! The request loop is single-threaded, so a hung MTA must not hang the server: the message
//! is written on a helper thread while the caller waits at most [`SUBMISSION_TIMEOUT`],
//! after which the program's whole process group is killed. Its standard error goes to an
//! unlinked temporary file and is quoted (clipped) in the error for the log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a submission may take before it is abandoned (and the program killed).
pub const SUBMISSION_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of the program's standard error is kept for the log.
const MAX_STDERR_BYTES: usize = 4096;
/// How often the caller looks whether the program has finished.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Why a submission failed; the text is for the log.
#[derive(Debug)]
pub enum SubmitError {
    /// No program configured (an empty command).
    NoCommand,
    /// The program could not be started.
    Spawn(std::io::Error),
    /// The program exited unsuccessfully; its standard error (clipped).
    Failed { status: String, stderr: String },
    /// The program did not finish within [`SUBMISSION_TIMEOUT`].
    TimedOut,
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::NoCommand => write!(f, "no submission command is configured"),
            SubmitError::Spawn(e) => write!(f, "cannot start the submission command: {e}"),
            SubmitError::Failed { status, stderr } => {
                write!(f, "the submission command failed ({status})")?;
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            SubmitError::TimedOut => write!(
                f,
                "the submission command did not finish within {} seconds",
                SUBMISSION_TIMEOUT.as_secs()
            ),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Runs `command` (program and first arguments) as
/// `command… -f <sender> -- <recipient>…` with `message` on its standard input.
pub fn submit(
    command: &[String],
    sender: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<(), SubmitError> {
    submit_with_timeout(command, sender, recipients, message, SUBMISSION_TIMEOUT)
}

fn submit_with_timeout(
    command: &[String],
    sender: &str,
    recipients: &[String],
    message: &[u8],
    timeout: Duration,
) -> Result<(), SubmitError> {
    let (program, first_args) = command.split_first().ok_or(SubmitError::NoCommand)?;
    // Standard error goes to an unlinked file, not a pipe: a helper the program leaves
    // behind could hold a pipe open for ever.
    let stderr_file = unlinked_temp_file().map_err(SubmitError::Spawn)?;
    let mut child = Command::new(program)
        .args(first_args)
        .arg("-f")
        .arg(sender)
        .arg("--")
        .args(recipients)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            stderr_file.try_clone().map_err(SubmitError::Spawn)?,
        ))
        // Its own process group, so a timeout can stop everything it started.
        .process_group(0)
        .spawn()
        .map_err(SubmitError::Spawn)?;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: kill(2) has no memory effects; a negative pid names the process group
        // created for this child above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    let stdin = child.stdin.take();
    let written = AtomicBool::new(false);
    let status = std::thread::scope(|scope| {
        scope.spawn(|| {
            if let Some(mut stdin) = stdin {
                // A program that exits early closes the pipe (EPIPE); its exit status tells.
                let _ = stdin.write_all(message);
            }
            written.store(true, Ordering::SeqCst);
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
                Ok(None) | Err(_) => {
                    kill_group();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        // The program is gone; if something it left behind holds its input open without
        // reading, stop it so the writer (and this request) can finish.
        let grace = Instant::now() + Duration::from_secs(1);
        while !written.load(Ordering::SeqCst) {
            if Instant::now() >= grace {
                kill_group();
                break;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        status
    });
    match status {
        None => Err(SubmitError::TimedOut),
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(SubmitError::Failed {
            status: status.to_string(),
            stderr: read_clipped(stderr_file),
        }),
    }
}

/// A new file in the temporary directory, already removed from it.
fn unlinked_temp_file() -> std::io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        "easd-submit-{}-{}",
        std::process::id(),
        crate::store::random_hex(8)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// The first [`MAX_STDERR_BYTES`] of what the program wrote to standard error, trimmed.
fn read_clipped(mut file: File) -> String {
    let mut kept = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = file.take(MAX_STDERR_BYTES as u64).read_to_end(&mut kept);
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into(), "sh".into()]
    }

    #[test]
    fn passes_the_envelope_and_the_message() {
        let dir = crate::store::test_support::TempDir::new();
        std::fs::create_dir_all(dir.path()).unwrap();
        let out = dir.path().join("out");
        let script = format!("printf '%s\\n' \"$@\" > {0}; cat >> {0}", out.display());
        let recipients = vec!["a@example.com".to_string(), "-b@example.com".to_string()];
        submit(
            &sh(&script),
            "me@example.org",
            &recipients,
            b"Subject: hi\r\n\r\nbody",
        )
        .unwrap();
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            written,
            "-f\nme@example.org\n--\na@example.com\n-b@example.com\nSubject: hi\r\n\r\nbody"
        );
    }

    #[test]
    fn a_failing_program_reports_its_error_output() {
        let error = submit(&sh("echo 'no relay' >&2; exit 75"), "me@x.org", &[], b"x").unwrap_err();
        match error {
            SubmitError::Failed { stderr, .. } => assert_eq!(stderr, "no relay"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            submit(
                &["/nonexistent/sendmail".to_string()],
                "me@x.org",
                &[],
                b"x"
            ),
            Err(SubmitError::Spawn(_))
        ));
        assert!(matches!(
            submit(&[], "me@x.org", &[], b"x"),
            Err(SubmitError::NoCommand)
        ));
    }

    #[test]
    fn a_hung_program_is_killed_after_the_timeout() {
        let started = Instant::now();
        let result = submit_with_timeout(
            &sh("sleep 30"),
            "me@x.org",
            &[],
            b"x",
            Duration::from_millis(200),
        );
        assert!(matches!(result, Err(SubmitError::TimedOut)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
