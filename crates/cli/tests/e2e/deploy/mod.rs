//! What ships for running statecraft past one machine (issue 27): the image's
//! root, run alone in a chroot and as a container; the Kubernetes manifests
//! and systemd units, checked by the tools that will read them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

mod handover;
mod image;
mod manifests;

const BIN: &str = env!("CARGO_BIN_EXE_statecraft");

/// The repository's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// What a finished program printed, its output and its errors.
fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `program args`; its output, or a panic naming what it printed.
fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    let text = said(&out);
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{text}",
        program.display()
    );
    text
}
