//! The services' data on SQLite (always) and PostgreSQL (when
//! `STATECRAFT_TEST_POSTGRES_URL` is set; scripts/test sets it), one test
//! binary with a module per area:
//! - `users`: accounts, refresh families, the login limit;
//! - `flow`: the order flow's consumers and outbox tables;
//! - `bounded`: a silent database bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod bounded;
mod flow;
mod users;
