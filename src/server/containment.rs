//! Panic containment for the request loop: a bug that panics while one request is handled costs
//! that request a 500, not the loop. Without it the `easd-requests` thread dies while the front
//! door keeps accepting, and every later request gets 502 until a restart.
//!
//! Unwinding drops every store `Transaction` on the way out, which rolls it back; the loop
//! still checks the connection afterwards ([`ensure_no_open_transaction`]), because a write left
//! open would hold SQLite's write lock against `easd deliver` and every later request.
//!
//! Also owns the test-only fault injection ([`inject_test_fault`]), the one way tests can make
//! a request panic on purpose.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use log::{error, warn};

use crate::store::Store;

/// The environment variable that enables [`TEST_FAULT_HEADER`]. Only `1` enables it; easd never
/// sets it, so a server started the normal way ignores the header.
pub const TEST_FAULTS_ENV: &str = "EASD_TEST_FAULTS";

/// The request header naming the fault to inject (honoured only with [`TEST_FAULTS_ENV`]`=1`).
/// Not an `X-Easd-*` name, which the front door strips from client requests.
pub const TEST_FAULT_HEADER: &str = "Easd-Test-Fault";

/// Whether this process was started with test faults enabled.
pub fn test_faults_enabled() -> bool {
    std::env::var_os(TEST_FAULTS_ENV).is_some_and(|value| value == "1")
}

/// Runs `handle` for one request. `Err` carries the panic's message after it has been logged
/// with the request line (escaped: it is client input).
pub fn contain<T>(request_line: &str, handle: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(handle)).map_err(|payload| {
        let message = panic_message(payload.as_ref());
        error!(
            "panic while handling {}: {}",
            request_line.escape_debug(),
            message.escape_debug()
        );
        message
    })
}

/// The text a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Rolls back a transaction a panicking request left open, so the connection is usable for the
/// next one and holds no lock. `true` when one had to be rolled back here.
pub fn ensure_no_open_transaction(store: &Store) -> bool {
    let connection = store.connection();
    if connection.is_autocommit() {
        return false;
    }
    match connection.execute_batch("ROLLBACK") {
        Ok(()) => warn!("rolled back a transaction left open by a panicking request"),
        Err(e) => error!("cannot roll back a transaction left open by a panic: {e}"),
    }
    true
}

/// The faults tests can ask for with [`TEST_FAULT_HEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFault {
    /// Panic before the command runs.
    Panic,
    /// Open a write transaction, write a row of `settings` (`test-fault`), then panic.
    PanicInTransaction,
}

impl TestFault {
    pub fn parse(text: &str) -> Option<TestFault> {
        match text.trim() {
            "panic" => Some(TestFault::Panic),
            "panic-in-transaction" => Some(TestFault::PanicInTransaction),
            _ => None,
        }
    }
}

/// Injects `fault`; it panics by design. A store error on the way is returned instead.
pub fn inject_test_fault(store: &Store, fault: TestFault) -> Result<(), crate::store::StoreError> {
    match fault {
        TestFault::Panic => panic!("test fault injected ({TEST_FAULT_HEADER}: panic)"),
        TestFault::PanicInTransaction => {
            let tx = store.write_transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO settings (key, value, updated) VALUES ('test-fault', 'written', 0)",
                [],
            )?;
            panic!("test fault injected inside a write transaction");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(contain("GET /", || 7), Ok(7));
        assert_eq!(
            contain("POST /x?\u{1b}[31m", || -> () { panic!("boom {}", 1) }),
            Err("boom 1".to_string())
        );
        assert_eq!(
            contain("GET /", || -> () { std::panic::panic_any(3_u8) }),
            Err("(no message)".to_string())
        );
    }

    #[test]
    fn a_panic_inside_a_transaction_leaves_the_connection_usable() {
        let store = Store::open_in_memory().unwrap();
        let outcome = contain("POST /", || {
            inject_test_fault(&store, TestFault::PanicInTransaction)
        });
        assert!(outcome.is_err());
        // The transaction rolled back while unwinding: nothing to do, nothing written.
        assert!(!ensure_no_open_transaction(&store));
        let written: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM settings WHERE key = 'test-fault'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(written, 0);
        // A transaction that really was left open is rolled back and the next one can start.
        store.connection().execute_batch("BEGIN IMMEDIATE").unwrap();
        assert!(ensure_no_open_transaction(&store));
        assert!(store.connection().is_autocommit());
        drop(store.write_transaction().unwrap());
    }

    #[test]
    fn only_known_faults_parse() {
        assert_eq!(TestFault::parse(" panic "), Some(TestFault::Panic));
        assert_eq!(
            TestFault::parse("panic-in-transaction"),
            Some(TestFault::PanicInTransaction)
        );
        assert_eq!(TestFault::parse("crash"), None);
    }
}
