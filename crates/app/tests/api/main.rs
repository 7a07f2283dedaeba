//! HTTP tests of the API server: the real server on port 0, driven over HTTP.
//! One test binary with modules, as linking one binary per file costs time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod abuse;
mod auth;
mod cart;
mod checkout;
mod counter;
mod errors;
mod expiry;
mod fuzz;
mod helpers;
mod observability;
mod saga;
mod session;
mod stores;
