//! statecraft end to end: the real binary, its processes and the real
//! services and browser, in one test binary (one link instead of five), a
//! module per area:
//! - `cli`: the command line, signals, stores, services as processes;
//! - `cluster`: `statecraft cluster`, its gateway, hostile clients, revocation;
//! - `browser`: the web pages in a headless Chromium;
//! - `lab`: `statecraft lab --quick` and its page;
//! - `chaos`: every part crashed under load, then the ledger;
//! - `deploy`: the image, the Kubernetes manifests, the systemd units.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod chromium;
mod common;

mod browser;
mod chaos;
mod cli;
mod cluster;
mod deploy;
mod lab;
