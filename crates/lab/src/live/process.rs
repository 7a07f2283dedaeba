//! One run started from the page: `statecraft lab --spec - --events json`
//! as a child in a process group of its own, its events read from its
//! stdout, its terminal lines kept in `lab.log`, and its end: finished,
//! failed or cancelled, written to `status.json` once every process it
//! started has stopped.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

use super::LiveLab;
use crate::spec::RunSpec;

/// How long a cancelled run may take to stop on its own (it stops its
/// clusters, which stop their instances and remove their namespaces, and
/// waits for them) before its whole group is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(20);
/// How long what a run left behind when it exited may take to stop before
/// it is killed.
const GROUP_GRACE: Duration = Duration::from_secs(10);
/// How long a cancel waits for the run's end: past both graces.
const CANCEL_WAIT: Duration = Duration::from_secs(40);
/// What a run takes of the server's environment: nothing of the server's
/// own settings (its stores, events, token), which would reach the run's
/// clusters; the spec says the rest.
const INHERITED: [&str; 8] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "USER",
    "RUST_LOG",
    "RUST_BACKTRACE",
];
/// Most events kept for a late reader (a full run sends a few thousand).
const MAX_FEED: usize = 50_000;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Status {
    /// Still going.
    Running,
    /// Finished and wrote its results.
    Finished,
    /// Stopped by an error (its `error` says which).
    Failed,
    /// Cancelled: everything it started was stopped.
    Cancelled,
    /// No results and no end on record (a terminal run stopped short).
    Incomplete,
}

/// A run's end, as `status.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ended {
    pub(crate) status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    pub(crate) ended_at_ms: u64,
}

/// Why a run was not started.
#[derive(Debug)]
pub(crate) enum StartError {
    /// Another run is going on: its id.
    Busy(String),
    /// The spec is out of range.
    Invalid(String),
    /// The process could not be started.
    Spawn(String),
}

/// A run started here.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) id: String,
    /// Its process, which leads its process group.
    pid: u32,
    /// Every event so far, as JSON lines.
    feed: Mutex<Vec<Arc<str>>>,
    events: broadcast::Sender<Arc<str>>,
    ended: watch::Sender<Option<Ended>>,
    cancelling: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Running {
    /// Starts a run of `spec` for `lab`, unless one is going on.
    pub(crate) fn start(lab: &LiveLab, mut spec: RunSpec) -> Result<Arc<Self>, StartError> {
        // One lock from the check to the record: two starts cannot both pass.
        let mut latest = lab.latest();
        if let Some(run) = latest.as_ref().filter(|run| !run.has_ended()) {
            return Err(StartError::Busy(run.id.clone()));
        }
        // From the page, the quick lengths unless asked otherwise.
        spec.full = Some(spec.full.unwrap_or(false));
        spec.plan().map_err(StartError::Invalid)?;
        let id = crate::new_run_id();
        let dir = lab.0.history.join(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StartError::Spawn(format!("cannot create {}: {e}", dir.display())))?;
        let log = std::fs::File::create(dir.join("lab.log")).map_err(|e| {
            StartError::Spawn(format!("cannot write {}/lab.log: {e}", dir.display()))
        })?;
        let mut child = Command::new(&lab.0.program)
            .args(["lab", "--spec", "-", "--events", "json", "--run-id", &id])
            .arg("--out")
            .arg(&lab.0.history)
            .env_clear()
            .envs(
                INHERITED
                    .iter()
                    .filter_map(|k| Some((k, std::env::var_os(k)?))),
            )
            // Its own group: a cancel reaches everything it starts.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                StartError::Spawn(format!("cannot start {}: {e}", lab.0.program.display()))
            })?;
        let pid = child
            .id()
            .ok_or_else(|| StartError::Spawn("the run ended as it started".to_owned()))?;
        // The spec on stdin: a store URL's password in no argv and no file.
        let input = serde_json::to_vec(&spec).unwrap_or_default();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (events, _) = broadcast::channel(1024);
        let run = Arc::new(Self {
            id,
            pid,
            feed: Mutex::new(Vec::new()),
            events,
            ended: watch::channel(None).0,
            cancelling: AtomicBool::new(false),
        });
        *latest = Some(Arc::clone(&run));
        drop(latest);
        let watched = Arc::clone(&run);
        // Owned by the run: it ends when the run's processes have.
        tokio::spawn(async move {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(&input).await;
            }
            let reading = stdout.map(|out| {
                let run = Arc::clone(&watched);
                tokio::spawn(async move {
                    // Read to the end whatever comes: a line that is not
                    // UTF-8 or not JSON is skipped, never a stalled pipe.
                    let mut out = BufReader::new(out);
                    let mut line = Vec::new();
                    while out.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
                        if let Ok(text) = std::str::from_utf8(&line)
                            && serde_json::from_str::<serde_json::Value>(text.trim_end()).is_ok()
                        {
                            run.publish(Arc::from(text.trim_end()));
                        }
                        line.clear();
                    }
                })
            });
            let exit = child.wait().await;
            if let Some(reading) = reading {
                let _ = reading.await;
            }
            watched.stop_group().await;
            let ended = watched.outcome(exit.is_ok_and(|s| s.success()), &dir);
            if let Ok(json) = serde_json::to_vec_pretty(&ended) {
                let _ = std::fs::write(dir.join("status.json"), json);
            }
            let mut event = serde_json::json!({"type": "ended"});
            if let (Some(map), Ok(serde_json::Value::Object(end))) =
                (event.as_object_mut(), serde_json::to_value(&ended))
            {
                map.extend(end);
            }
            watched.publish_end(Arc::from(event.to_string()));
            watched.ended.send_replace(Some(ended));
        });
        Ok(run)
    }

    fn publish(&self, line: Arc<str>) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.len() < MAX_FEED {
            feed.push(Arc::clone(&line));
        }
        // No reader is no error: the feed keeps it for the next.
        let _ = self.events.send(line);
    }

    /// The run's last event: kept whatever the feed holds, so that a late
    /// reader always sees the end.
    fn publish_end(&self, line: Arc<str>) {
        let mut feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        feed.push(Arc::clone(&line));
        let _ = self.events.send(line);
    }

    /// The events so far and a receiver of those to come, taken together
    /// so that none falls between.
    pub(crate) fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let feed = self.feed.lock().unwrap_or_else(PoisonError::into_inner);
        (feed.clone(), self.events.subscribe())
    }

    /// Whether the run and everything it started have stopped.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// How it ended, once it has.
    pub(crate) fn end(&self) -> Option<Ended> {
        self.ended.borrow().clone()
    }

    /// Asks the run to stop (SIGTERM: it stops what it started as it
    /// unwinds) and waits until every process of its group has stopped.
    pub(crate) async fn cancel(&self) -> Option<Ended> {
        self.begin_cancel();
        let mut ended = self.ended.subscribe();
        let stopped = tokio::time::timeout(CANCEL_GRACE, ended.wait_for(Option::is_some))
            .await
            .is_ok();
        if !stopped {
            // It did not unwind in time (a hung run): all of it goes now;
            // the watcher then records the end.
            tracing::warn!(run = %self.id, "the run did not stop when asked: killed");
            statecraft_http::signal_group(self.pid, "KILL");
            let _ =
                tokio::time::timeout(CANCEL_WAIT - CANCEL_GRACE, ended.wait_for(Option::is_some))
                    .await;
        }
        self.end()
    }

    /// Asks the run to stop (SIGTERM) without waiting: a server that shuts
    /// down tells its run at once, and waits for it after its requests.
    pub(crate) fn begin_cancel(&self) {
        if !self.cancelling.swap(true, Ordering::SeqCst) && !self.has_ended() {
            statecraft_http::signal(self.pid, "TERM");
        }
    }

    /// Waits for the run's process group to empty; kills what is left
    /// after [`GROUP_GRACE`].
    async fn stop_group(&self) {
        let started = Instant::now();
        let mut killed = false;
        while statecraft_http::group_members(self.pid).is_some_and(|m| !m.is_empty()) {
            if !killed && started.elapsed() > GROUP_GRACE {
                tracing::warn!(run = %self.id, "processes of the run still running: killed");
                statecraft_http::signal_group(self.pid, "KILL");
                killed = true;
            }
            if started.elapsed() > GROUP_GRACE + Duration::from_secs(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn outcome(&self, success: bool, dir: &std::path::Path) -> Ended {
        // A run that finished as the cancel came is finished all the same.
        let (status, error) = if success && dir.join("results.json").exists() {
            (Status::Finished, None)
        } else if self.cancelling.load(Ordering::SeqCst) {
            (Status::Cancelled, None)
        } else {
            (Status::Failed, Some(last_error(&dir.join("lab.log"))))
        };
        Ended {
            status,
            error,
            ended_at_ms: now_ms(),
        }
    }
}

/// The last line of a failed run's log that says why.
fn last_error(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.contains("error") || l.contains("failed"))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .map_or_else(
            || "the run stopped without saying why (see its lab.log)".to_owned(),
            |l| l.trim().chars().take(400).collect(),
        )
}

/// A run's end on record: `status.json`, else what its files show.
pub(crate) fn recorded_end(dir: &std::path::Path) -> Ended {
    std::fs::read(dir.join("status.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| Ended {
            status: if dir.join("results.json").exists() {
                Status::Finished
            } else {
                Status::Incomplete
            },
            error: None,
            ended_at_ms: 0,
        })
}
