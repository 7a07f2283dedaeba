//! Network namespaces joined to the host by veth pairs: each part of a
//! deployment on its own address, behind a cable that can be pulled
//! (`ip link set … down`: data stops, connections stay open, nothing
//! answers with a reset — the partition a switch failure makes).
//!
//! Built on `ip` (iproute2), which needs root on Linux; [`available`] says
//! whether this process can. Namespaces are named `sc-<pid>-<serial>` after the
//! process that made them, so one left behind by a process that died is
//! recognised and removed ([`remove_stale`]). Addresses come from
//! `10.213.X.0/24`, one `/30` per namespace (host side `.4n+1`, namespace
//! side `.4n+2`), `X` the first block no host interface uses yet.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

/// The first two octets of every address handed out here.
const BLOCK: [u8; 2] = [10, 213];
/// The most namespaces one set may hold: `/30`s in a `/24`, minus the
/// network's first.
pub const MAX_NAMESPACES: u8 = 62;
/// The next namespace's number in this process. Numbers are not reused: a
/// deleted namespace's pair lingers until the kernel has cleaned it up, so a
/// set made right after another would meet its names.
static SERIAL: AtomicU16 = AtomicU16::new(1);
/// Held while a set chooses its block, so two at once do not choose the same.
const LOCK: &str = "/run/statecraft-netns.lock";

/// Whether this process can make namespaces: root on Linux with `ip`.
#[must_use]
pub fn available() -> bool {
    cfg!(target_os = "linux")
        && is_root()
        && Command::new("ip")
            .args(["netns", "list"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `ip ARGS`, its error output kept as the cause.
fn ip(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Removes every `sc-<pid>-<serial>` namespace whose process is gone; returns
/// how many.
pub fn remove_stale() -> usize {
    let Ok(listed) = ip(&["netns", "list"]) else {
        return 0;
    };
    stale_names(&listed, |pid| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
    .into_iter()
    .filter(|name| {
        // Instances its process left running inside (it was killed before
        // it could stop them) would keep the namespace, its pair and its
        // addresses alive after the name is gone.
        let pids = ip(&["netns", "pids", name]).unwrap_or_default();
        for pid in pids.split_whitespace().filter(|p| p.parse::<u32>().is_ok()) {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        ip(&["netns", "del", name]).is_ok()
    })
    .count()
}

/// The names in `ip netns list`'s output made by a process `alive` says is
/// gone.
fn stale_names(listed: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            let mut parts = name.split('-');
            let (Some("sc"), Some(pid), Some(n), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return false;
            };
            n.parse::<u16>().is_ok() && pid.parse::<u32>().is_ok_and(|pid| !alive(pid))
        })
        .map(str::to_owned)
        .collect()
}

/// The third octets under [`BLOCK`] that a host address already uses, in
/// `ip -o -4 addr`'s output.
fn used_blocks(addresses: &str) -> Vec<u8> {
    let prefix = format!("{}.{}.", BLOCK[0], BLOCK[1]);
    addresses
        .split_whitespace()
        .filter_map(|word| word.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('.').next()?.parse().ok())
        .collect()
}

/// One namespace and the veth pair that joins it to the host.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    host_side: String,
    inner_side: String,
    host_addr: Ipv4Addr,
    inner_addr: Ipv4Addr,
    down: AtomicBool,
}

impl Namespace {
    /// Its name, for `ip netns exec`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address on the pair: where the namespace reaches the host.
    #[must_use]
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_addr
    }

    /// The namespace's own address: where the host reaches it.
    #[must_use]
    pub fn inner_addr(&self) -> Ipv4Addr {
        self.inner_addr
    }

    /// Whether its cable is pulled.
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Pulls the cable (`down`) or plugs it back. The namespace's side goes
    /// down, so the host's route stays and what is sent is dropped: no
    /// refusal, no reset, no detour through the host's default route.
    ///
    /// # Errors
    /// `ip` failed; the cause is kept.
    pub async fn set_down(&self, down: bool) -> io::Result<()> {
        let state = if down { "down" } else { "up" };
        let out = tokio::process::Command::new("ip")
            .args([
                "-n",
                &self.name,
                "link",
                "set",
                "dev",
                &self.inner_side,
                state,
            ])
            .output()
            .await?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "ip -n {} link set {state}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        self.down.store(down, Ordering::Relaxed);
        Ok(())
    }

    /// Makes namespace number `serial` of process `pid`, on the `n`th
    /// `/30` of block `block`.
    fn create(pid: u32, serial: u16, n: u8, block: u8) -> io::Result<Self> {
        let base = 4 * n;
        let ns = Self {
            name: format!("sc-{pid}-{serial}"),
            // Interface names are at most 15 bytes: "sc" + 7 digits + 6.
            host_side: format!("sc{pid}h{serial}"),
            inner_side: format!("sc{pid}n{serial}"),
            host_addr: Ipv4Addr::new(BLOCK[0], BLOCK[1], block, base + 1),
            inner_addr: Ipv4Addr::new(BLOCK[0], BLOCK[1], block, base + 2),
            down: AtomicBool::new(false),
        };
        ip(&["netns", "add", &ns.name])?;
        // From here on a failure drops `ns`, which deletes the namespace
        // and with it both ends of the pair.
        let host = format!("{}/30", ns.host_addr);
        let inner = format!("{}/30", ns.inner_addr);
        let n_ = ns.name.as_str();
        ip(&[
            "link",
            "add",
            &ns.host_side,
            "type",
            "veth",
            "peer",
            "name",
            &ns.inner_side,
            "netns",
            n_,
        ])?;
        ip(&["addr", "add", &host, "dev", &ns.host_side])?;
        ip(&["link", "set", "dev", &ns.host_side, "up"])?;
        ip(&["-n", n_, "addr", "add", &inner, "dev", &ns.inner_side])?;
        ip(&["-n", n_, "link", "set", "dev", &ns.inner_side, "up"])?;
        // The address is on the namespace's loopback too: a pulled cable
        // takes the pair's routes with it, and what runs inside must still
        // reach itself by its address, as a machine whose cable is pulled
        // keeps its own.
        let own = format!("{}/32", ns.inner_addr);
        ip(&["-n", n_, "addr", "add", &own, "dev", "lo"])?;
        ip(&["-n", n_, "link", "set", "dev", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The pair goes with it. A process still inside keeps it alive
        // until it exits; its name is gone at once.
        if let Err(err) = ip(&["netns", "del", &self.name]) {
            tracing::warn!(namespace = %self.name, %err, "namespace not removed");
        }
    }
}

/// Makes `count` namespaces for this process, numbered from 1, in one free
/// block; namespaces left by dead processes are removed first.
///
/// # Errors
/// Not root, no `ip`, more than [`MAX_NAMESPACES`], no free block, or an
/// `ip` command failed (what was made is removed again).
pub fn create(count: u8) -> io::Result<Vec<Namespace>> {
    if count > MAX_NAMESPACES {
        return Err(io::Error::other(format!(
            "at most {MAX_NAMESPACES} namespaces in one set"
        )));
    }
    if !available() {
        return Err(io::Error::other(
            "network namespaces need root on Linux and iproute2's `ip`",
        ));
    }
    let removed = remove_stale();
    if removed > 0 {
        tracing::info!(removed, "namespaces of exited processes removed");
    }
    let lock = File::create(LOCK)?;
    lock.lock()?;
    let used = used_blocks(&ip(&["-o", "-4", "addr", "show"])?);
    let block = (0..=u8::MAX)
        .find(|b| !used.contains(b))
        .ok_or_else(|| io::Error::other("every 10.213.X.0/24 block is in use"))?;
    let pid = std::process::id();
    // The lock is released when `lock` drops, once the addresses are set.
    (1..=count)
        .map(|n| Namespace::create(pid, SERIAL.fetch_add(1, Ordering::Relaxed), n, block))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{stale_names, used_blocks};

    #[test]
    fn only_namespaces_of_dead_processes_are_stale() {
        let listed = "sc-100-1 (id: 3)\nsc-200-2\nsc-100-x\nother\nsc-300-1-2\nsc-abc-1\n";
        assert_eq!(stale_names(listed, |pid| pid == 200), ["sc-100-1"]);
    }

    #[test]
    fn blocks_in_use_are_read_from_the_host_addresses() {
        let out = "2: sc9h1    inet 10.213.4.1/30 scope global sc9h1\n\
                   3: eth0    inet 10.2.0.5/24 brd 10.2.0.255\n\
                   4: sc9h2    inet 10.213.17.5/30 scope global";
        assert_eq!(used_blocks(out), [4, 17]);
    }
}
