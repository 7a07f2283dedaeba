//! The chaos suite's own Redis, PostgreSQL and NATS, on free loopback ports
//! with their data in the run's directory: they can be crashed and started
//! again without touching the services other tests share.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::free_port;

/// Something the suite crashes and starts again.
pub(crate) trait Crashable {
    /// Kills it at once, as a crash would (no clean shutdown).
    fn crash(&mut self);
    /// Starts it again on the same port and data; returns when it accepts
    /// connections.
    fn restart(&mut self);
}

/// Waits until `addr` accepts a TCP connection (at most 30 s).
pub(crate) fn wait_for_port(addr: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let socket = addr.parse().unwrap();
    while std::net::TcpStream::connect_timeout(&socket, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server run as a child process with fixed arguments.
pub(crate) struct Daemon {
    program: String,
    args: Vec<String>,
    log: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl Daemon {
    /// Starts `program ARGS` (its output to `log`) and waits until `addr`
    /// accepts connections.
    pub(crate) fn start_at(
        program: &str,
        args: Vec<String>,
        log: PathBuf,
        addr: SocketAddr,
    ) -> Self {
        let mut daemon = Self {
            program: program.to_owned(),
            args,
            log,
            addr,
            child: None,
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", self.program));
        self.child = Some(child);
        wait_for_port(&self.addr.to_string(), &self.program);
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Crashable for Daemon {
    fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.spawn();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.crash();
    }
}

/// A redis-server that writes every command to its append-only file before
/// answering (`appendfsync always`): a crash loses no acknowledged write.
pub(crate) fn redis(dir: &Path) -> Daemon {
    let port = free_port();
    let data = dir.join("redis");
    std::fs::create_dir_all(&data).unwrap();
    let args = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--dir",
        data.to_str().unwrap(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ];
    let mut daemon = Daemon {
        program: "redis-server".into(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        log: dir.join("redis.log"),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child: None,
    };
    daemon.spawn();
    daemon
}

/// Three nats-servers clustered with JetStream, their streams in the run's
/// directory: the app's stream is replicated on all three (its URL names them
/// all), so one crashed server loses no acknowledged event. (One server alone
/// can: nats-server 2.9 acknowledges before its writes reach the file.)
pub(crate) struct NatsCluster {
    nodes: Vec<Daemon>,
    monitor: u16,
}

impl NatsCluster {
    pub(crate) fn start(dir: &Path) -> Self {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route)| format!("nats-route://127.0.0.1:{route}"))
            .collect();
        let monitor = free_port();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(n, (port, route))| {
                let store = dir.join(format!("nats-{n}"));
                std::fs::create_dir_all(&store).unwrap();
                let http = if n == 0 {
                    format!("http: 127.0.0.1:{monitor}\n")
                } else {
                    String::new()
                };
                let conf = format!(
                    "server_name: chaos-{n}\nlisten: 127.0.0.1:{port}\n{http}\
                     jetstream {{ store_dir: {:?} }}\n\
                     cluster {{ name: chaos, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    store.to_str().unwrap(),
                    routes.join(", ")
                );
                let file = dir.join(format!("nats-{n}.conf"));
                std::fs::write(&file, conf).unwrap();
                Daemon {
                    program: "nats-server".into(),
                    args: vec!["-c".into(), file.to_str().unwrap().to_owned()],
                    log: dir.join(format!("nats-{n}.log")),
                    addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                    child: None,
                }
            })
            .collect();
        let mut cluster = Self { nodes, monitor };
        for node in &mut cluster.nodes {
            node.spawn();
        }
        cluster.wait_for_jetstream();
        cluster
    }

    /// Every server's client port.
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port()).collect()
    }

    /// The URL naming every server.
    pub(crate) fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until JetStream has its meta leader (the first server's
    /// `/healthz` answers 200).
    fn wait_for_jetstream(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = format!("127.0.0.1:{}", self.monitor);
        loop {
            let health = crate::common::try_request(
                &addr,
                "GET",
                "/healthz",
                &[],
                None,
                Duration::from_secs(1),
            );
            if matches!(health, Ok((200, ..))) {
                return;
            }
            assert!(Instant::now() < deadline, "JetStream never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Crashable for NatsCluster {
    /// Kills one of the three servers.
    fn crash(&mut self) {
        self.nodes[0].crash();
    }

    fn restart(&mut self) {
        self.nodes[0].spawn();
        self.wait_for_jetstream();
    }
}

/// A PostgreSQL instance of its own (initdb in the run's directory), run as
/// the `postgres` user when the suite runs as root (PostgreSQL refuses root).
pub(crate) struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The newest installed PostgreSQL's programs, if any.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

impl Postgres {
    /// Makes and starts a fresh instance with a `chaos` database; `None`
    /// when PostgreSQL's programs are not installed.
    pub(crate) fn start(dir: &Path) -> Option<Self> {
        let bin = postgres_bin()?;
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let data = dir.join("pg");
        std::fs::create_dir_all(&data).unwrap();
        let pg = Self {
            bin,
            data,
            port: free_port(),
            as_postgres: root,
        };
        if root {
            // The run's directory must be reachable by the postgres user.
            assert!(
                Command::new("chown")
                    .args(["-R", "postgres:postgres", dir.to_str().unwrap()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let data = pg.data.to_str().unwrap().to_owned();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        pg.restart_inner();
        pg.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
                "chaos",
            ],
        );
        Some(pg)
    }

    /// One of PostgreSQL's programs, run as `postgres` when the suite is root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command.current_dir("/").stdin(Stdio::null());
        command
    }

    /// Runs one of PostgreSQL's programs; panics with its output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn restart_inner(&self) {
        let data = self.data.to_str().unwrap();
        let options = format!(
            "-p {} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port
        );
        let log = self.data.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The `chaos` database's URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/chaos", self.port)
    }

    /// Rows of `sql` on the `chaos` database, fields split by `|`.
    pub(crate) fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U", "postgres", "-d", "chaos", "-qAt", "-F", "|", "-c", sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('|').map(str::to_owned).collect())
            .collect()
    }
}

impl Crashable for Postgres {
    /// An immediate shutdown: every process quits at once with no checkpoint,
    /// and the next start runs crash recovery from the WAL, as after a crash.
    fn crash(&mut self) {
        let data = self.data.to_str().unwrap().to_owned();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }

    fn restart(&mut self) {
        self.restart_inner();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap().to_owned();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
