//! The lab as a live instrument: a server (`statecraft serve`, or the
//! gateway of `statecraft cluster`) starts a run as a child process
//! (`statecraft lab --events json`, in a process group of its own), relays
//! its events to the page as they come, keeps every run under the history
//! directory, and cancels a run by stopping everything it started.

mod error;
mod files;
mod history;
mod http;
mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use statecraft_http::ControlGuard;

pub use http::router;
use process::Running;

/// Most readers of a run's events at once (each holds a connection and a
/// copy of the feed).
const MAX_READERS: usize = 32;
/// The largest spec taken (a few hundred bytes in practice).
const MAX_SPEC_BYTES: usize = 16 * 1024;

/// One server's lab: its history, and the run going on, if any.
#[derive(Debug, Clone)]
pub struct LiveLab(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The `statecraft` binary a run is started with.
    program: PathBuf,
    /// Where the runs are kept, one directory each.
    history: PathBuf,
    /// Who may start and cancel runs.
    guard: ControlGuard,
    /// Where the server listens, once it does (for the guard).
    listening: OnceLock<SocketAddr>,
    /// The latest run started here (running, or ended: its feed stays
    /// until the next starts).
    latest: Mutex<Option<Arc<Running>>>,
    /// Pages following a run's events now.
    readers: std::sync::atomic::AtomicUsize,
}

impl LiveLab {
    /// A lab keeping its runs under `history`, started with `program`,
    /// controlled by whoever `guard` lets through.
    #[must_use]
    pub fn new(program: PathBuf, history: PathBuf, guard: ControlGuard) -> Self {
        Self(Arc::new(Inner {
            program,
            history,
            guard,
            listening: OnceLock::new(),
            latest: Mutex::new(None),
            readers: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    /// The server now listens on `addr` (its own Host is then accepted).
    pub fn listening_on(&self, addr: SocketAddr) {
        let _ = self.0.listening.set(addr);
    }

    fn latest(&self) -> MutexGuard<'_, Option<Arc<Running>>> {
        self.0.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The run going on now, if any.
    fn running(&self) -> Option<Arc<Running>> {
        self.latest().clone().filter(|run| !run.has_ended())
    }

    /// The latest run started here, if it is `id`.
    fn live(&self, id: &str) -> Option<Arc<Running>> {
        self.latest().clone().filter(|run| run.id == id)
    }

    /// Asks the run going on, if any, to stop, without waiting (the server
    /// begins to shut down).
    pub fn begin_shut_down(&self) {
        if let Some(run) = self.running() {
            run.begin_cancel();
        }
    }

    /// Stops the run going on, if any (the server is shutting down): a run
    /// does not outlive the server that started it.
    pub async fn shut_down(&self) {
        if let Some(run) = self.running() {
            run.cancel().await;
        }
    }
}
