//! The image: its root alone (the binary and the system libraries it
//! links), run chrooted as the non-root user; and, with podman, the image
//! built from it, run, and its health check answered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{BIN, deploy_dir, run_ok};
use crate::common::{free_port, request};

/// The image's user (`deploy/oci/rootfs`, `Containerfile`).
const USER: &str = "65532:65532";

/// Builds the image's root for this test's binary in `dir/root`.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    let script = deploy_dir().join("oci/rootfs");
    run_ok(&script, &[BIN, root.to_str().unwrap()]);
    root
}

/// Every file under `root`, by its path from it.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                out.push(format!("/{}", relative.display()));
            }
        }
    }
    out.sort();
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Waits until `probe` succeeds (at most 15 s).
fn until_healthy(mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !probe() {
        assert!(Instant::now() < deadline, "never healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_binary_runs_alone_in_an_empty_root_as_a_non_root_user() {
    let test = "the empty-root test";
    let Some(chroot) = statecraft_testkit::program("chroot", test) else {
        return;
    };
    if !is_root() {
        statecraft_testkit::missing(test, "chroot needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = rootfs(dir.path());
    // Nothing but the binary, the libraries it links, the certificates, the
    // user and the resolver's order: no shell, no package manager.
    let files = files(&root);
    for file in &files {
        let expected = file == "/statecraft"
            || ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"].contains(&file.as_str())
            || file == "/etc/ssl/certs/ca-certificates.crt"
            || (file.starts_with("/lib") && file.contains(".so"));
        assert!(expected, "{file} is in the image's root: {files:?}");
    }
    assert!(files.iter().any(|f| f.contains("libc.so")), "{files:?}");
    assert!(!root.join("bin/sh").exists());

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let in_root = |args: &[&str]| {
        let mut command = Command::new(&chroot);
        command
            .arg(format!("--userspec={USER}"))
            .arg(&root)
            .arg("/statecraft")
            .args(args)
            .env_clear()
            .env("STATECRAFT_LISTEN", &listen)
            .env("STATECRAFT_DATA", "sqlite:/data");
        command
    };
    let mut server = in_root(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The image's HEALTHCHECK, run in the same root.
    until_healthy(|| {
        in_root(&["healthcheck"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let (status, _, body) = request(&listen, "POST", "/increment", &[], None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["counter"], 1);
    // Its keys and databases went to /data, as the non-root user.
    use std::os::unix::fs::MetadataExt as _;
    let keys = std::fs::metadata(root.join("data/keys")).unwrap();
    assert_eq!(keys.uid(), 65532);
    server.kill().unwrap();
    server.wait().unwrap();
    let refused = in_root(&["healthcheck"]).output().unwrap();
    assert!(!refused.status.success(), "a stopped server is not healthy");
}

/// The hard limit of `name` in `/proc/self/limits` (`Max open files`),
/// at most `cap`: what a container may be given without CAP_SYS_RESOURCE.
fn hard_limit(name: &str, cap: u64) -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line[name.len()..].split_whitespace().nth(1)?.parse().ok())
        .map_or(cap, |hard: u64| hard.min(cap))
}

/// A container and its image, removed when dropped.
struct Podman {
    podman: PathBuf,
    image: String,
    container: String,
}

impl Drop for Podman {
    fn drop(&mut self) {
        for args in [
            vec!["rm", "-f", "-t", "2", self.container.as_str()],
            vec!["rmi", "-f", self.image.as_str()],
        ] {
            let _ = Command::new(&self.podman)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn the_image_builds_from_scratch_and_its_health_check_answers() {
    let test = "the image test";
    let Some(podman) = statecraft_testkit::program("podman", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path();
    let root = rootfs(context);
    std::fs::rename(root.join("data"), context.join("data")).unwrap();
    std::fs::rename(&root, context.join("rootfs")).unwrap();
    let pid = std::process::id();
    let guard = Podman {
        podman: podman.clone(),
        image: format!("localhost/statecraft-test:{pid}"),
        container: format!("statecraft-test-{pid}"),
    };
    let containerfile = deploy_dir().join("oci/Containerfile");
    run_ok(
        &podman,
        &[
            "build",
            "--format",
            "docker",
            "-f",
            containerfile.to_str().unwrap(),
            "-t",
            &guard.image,
            context.to_str().unwrap(),
        ],
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&run_ok(&podman, &["image", "inspect", &guard.image])).unwrap();
    let image = &inspect[0];
    assert_eq!(image["Config"]["User"], USER, "{image}");
    assert_eq!(
        image["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/statecraft", "healthcheck"]),
        "{image}"
    );
    assert_eq!(image["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));

    // crun (podman's default) cannot start a container on a host whose
    // cgroups are mounted v1 with a bare v2 entry (this project's machines):
    // runc can. Limits no higher than the host's hard ones: podman's default
    // (1048576 open files) needs CAP_SYS_RESOURCE to set.
    let runtime = statecraft_testkit::find_program("runc");
    let port = free_port();
    let nofile = hard_limit("Max open files", 65536);
    let nproc = hard_limit("Max processes", 4096);
    let mut args = vec!["run".to_owned(), "-d".to_owned()];
    if let Some(runc) = &runtime {
        args.push(format!("--runtime={}", runc.display()));
    }
    args.extend([
        format!("--name={}", guard.container),
        format!("--ulimit=nofile={nofile}:{nofile}"),
        format!("--ulimit=nproc={nproc}:{nproc}"),
        format!("--publish=127.0.0.1:{port}:8080"),
        guard.image.clone(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&podman, &args);
    let addr = format!("127.0.0.1:{port}");
    until_healthy(|| {
        crate::common::try_request(&addr, "GET", "/healthz", &[], None, Duration::from_secs(2))
            .is_ok_and(|(status, _, _)| status == 200)
    });
    let (status, _, body) = request(&addr, "POST", "/increment", &[], None);
    assert_eq!(status, 200, "{body}");
    // The image's own health check, as podman runs it.
    run_ok(&podman, &["healthcheck", "run", &guard.container]);
    let state: serde_json::Value = serde_json::from_str(&run_ok(
        &podman,
        &["container", "inspect", &guard.container],
    ))
    .unwrap();
    assert_eq!(
        state[0]["State"]["Health"]["Status"], "healthy",
        "{}",
        state[0]["State"]
    );
    assert_eq!(state[0]["Config"]["User"], USER);
}
