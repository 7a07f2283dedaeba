//! What statecraft's tests need from the machine: a real service (its URL in
//! a `STATECRAFT_TEST_*` variable) or a program on `PATH`.
//!
//! `scripts/test` starts every service and installs every program, and sets
//! [`REQUIRE_SERVICES`]`=1`: there, a missing one **fails** the test that
//! needs it, naming what is missing. A plain `cargo test` on a bare machine
//! skips such a test instead, and says so on the terminal (past the test
//! harness's output capture, so a skip is never silent).

use std::io::Write;
use std::path::PathBuf;

/// The switch: `1` makes a missing service or program a test failure.
pub const REQUIRE_SERVICES: &str = "STATECRAFT_TEST_REQUIRE_SERVICES";

/// Whether a missing service or program must fail the test.
#[must_use]
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|v| v == "1")
}

/// The URL of the service `var` names, or `None` when it is unset and the
/// test may skip.
///
/// # Panics
/// When `var` is unset under [`REQUIRE_SERVICES`].
#[must_use]
pub fn service_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(test, &format!("{var} is not set"));
            None
        }
    }
}

/// Whether the program `name` is on `PATH` (`None` skips the test).
///
/// # Panics
/// When it is not, under [`REQUIRE_SERVICES`].
#[must_use]
pub fn program(name: &str, test: &str) -> Option<PathBuf> {
    let found = find_program(name);
    if found.is_none() {
        missing(test, &format!("the program `{name}` is not on PATH"));
    }
    found
}

/// Where `name` is on `PATH`, without judging its absence.
#[must_use]
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Reports that `test` lacks `what`: a failure under [`REQUIRE_SERVICES`],
/// else one line on the terminal and the test returns (skips).
///
/// # Panics
/// Under [`REQUIRE_SERVICES`], always.
pub fn missing(test: &str, what: &str) {
    assert!(
        !services_required(),
        "{test} cannot run: {what}. scripts/test starts every service and installs every \
         program the tests need; {REQUIRE_SERVICES}=1 (which it sets) makes this a failure"
    );
    // Straight to the file descriptor: the test harness captures `eprintln!`
    // of a passing test, which would make the skip invisible.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: {what} (scripts/test provides it; {REQUIRE_SERVICES}=1 fails instead)"
    );
}

#[cfg(unix)]
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &std::path::Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_path_is_found_and_a_made_up_one_is_not() {
        assert!(find_program("sh").is_some());
        assert!(find_program("statecraft-no-such-program").is_none());
    }
}
