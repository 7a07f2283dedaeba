//! The processes a cluster runs: learning a child's port from its log,
//! asking it to stop, and a process group's members (a lab run and all it
//! started).

use tokio::process::Child;

/// The port of a "listening on http://HOST:PORT" log line (human or JSON
/// format), as `statecraft` commands print it when ready.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Asks a child to stop (SIGTERM), so it finishes its requests.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        signal(pid, "TERM");
    }
}

/// Stops a child: SIGTERM, then SIGKILL if it still runs after `grace`;
/// waits for it either way. Whether it had to be killed.
pub async fn stop_within(child: &mut Child, grace: std::time::Duration) -> bool {
    terminate(child);
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return false;
    }
    let _ = child.kill().await;
    true
}

/// Sends `signal` (`TERM`, `KILL`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Sends `signal` (`TERM`, `KILL`) to every process of the process group
/// `group`: what a child started with `process_group(0)` started in turn.
pub fn signal_group(group: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{group}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Each process's id, state, parent and process group, from `/proc`
/// (`None` where there is none).
fn processes() -> Option<Vec<(u32, String, u32, u32)>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp …": comm may hold spaces and
        // parentheses, so the fields are counted after its last ')'.
        let mut fields = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace();
        let state = fields.next().unwrap_or_default().to_owned();
        let mut number = || fields.next().and_then(|f| f.parse::<u32>().ok());
        if let (Some(ppid), Some(pgrp)) = (number(), number()) {
            all.push((pid, state, ppid, pgrp));
        }
    }
    Some(all)
}

/// The live processes of process group `group` (zombies, which have ended
/// and wait to be reaped, are not counted); `None` where there is no
/// `/proc`.
#[must_use]
pub fn group_members(group: u32) -> Option<Vec<u32>> {
    let live = |state: &str| state != "Z" && state != "X";
    Some(
        processes()?
            .into_iter()
            .filter(|(_, state, _, pgrp)| *pgrp == group && live(state))
            .map(|(pid, ..)| pid)
            .collect(),
    )
}

/// The children of process `parent`, ended ones not yet reaped included;
/// `None` where there is no `/proc`.
#[must_use]
pub fn children_of(parent: u32) -> Option<Vec<u32>> {
    Some(
        processes()?
            .into_iter()
            .filter(|(_, _, ppid, _)| *ppid == parent)
            .map(|(pid, ..)| pid)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::listening_port;

    #[test]
    fn a_process_group_is_counted_while_it_lives_and_signalled_whole() {
        use std::os::unix::process::CommandExt as _;
        let mut leader = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let group = leader.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while super::group_members(group).unwrap_or_default().len() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the group never had 3"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        super::signal_group(group, "KILL");
        let _ = leader.wait();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !super::group_members(group).unwrap_or_default().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the group outlived SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn the_port_is_read_from_human_and_json_log_lines() {
        assert_eq!(
            listening_port("2026 INFO statecraft: listening on http://127.0.0.1:41234 instance=x"),
            Some(41234)
        );
        assert_eq!(
            listening_port(r#"{"fields":{"message":"listening on http://127.0.0.1:8080"}}"#),
            Some(8080)
        );
        assert_eq!(listening_port("nothing here"), None);
    }
}
