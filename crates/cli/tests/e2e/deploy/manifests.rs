//! The Kubernetes manifests and the systemd units, checked by the tools that
//! read them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
