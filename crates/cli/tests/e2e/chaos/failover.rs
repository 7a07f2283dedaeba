//! A replicated Redis under a load of session writes: its primary is
//! SIGKILLed, the sentinels promote a replica, the store follows. Measured
//! five times for each durability: the time until writes succeed again, the
//! acknowledged writes lost (a session's count below the highest the client
//! was told), the sessions lost. `replicated` (each write confirmed by one
//! of the two replicas: the sentinels promote the replica with the most
//! data, so it holds every confirmed write) must lose none; `fast` is
//! measured and reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::replicated::Replicated;
use crate::common::{Client, Statecraft};

/// Users writing at once.
const USERS: usize = 4;
/// Repetitions of the kill for each durability.
const REPETITIONS: usize = 5;

/// What one user saw.
#[derive(Default)]
struct Seen {
    /// The highest count it was told.
    acknowledged: i64,
    /// When its first write succeeded after the kill.
    first_after_kill: Option<Instant>,
    /// Its count when the run ended: a session's, or `None` if lost.
    last: Option<i64>,
    session: Option<String>,
    session_lost: bool,
}

/// One kill: seconds until writes succeeded again, acknowledged writes
/// lost, sessions lost, writes acknowledged in all.
struct Outcome {
    recovered: f64,
    lost: i64,
    sessions_lost: usize,
    acknowledged: i64,
}

fn increment(client: &mut Client, base: &str) -> Option<(i64, String)> {
    let (status, body) = client
        .try_send(
            "POST",
            base,
            "/increment",
            &[],
            None,
            Duration::from_secs(2),
        )
        .ok()?;
    (status == 200).then(|| {
        let count = body["counter"].as_i64().unwrap_or(0);
        (
            count,
            body["sessionId"].as_str().unwrap_or_default().to_owned(),
        )
    })
}

fn one_kill(dir: &std::path::Path, durability: &str) -> Outcome {
    let mut redis = Replicated::start(&dir.join("redis"));
    let url = redis.url();
    let server = Statecraft::start(
        dir,
        &[
            "serve",
            "--insecure-cookies",
            "--session-store",
            &url,
            "--store-durability",
            durability,
            "--store-replicas",
            "1",
        ],
    );
    let base = server.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let killed: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let users: Vec<_> = (0..USERS)
        .map(|_| {
            let (base, stop, killed) = (base.clone(), Arc::clone(&stop), Arc::clone(&killed));
            std::thread::spawn(move || {
                let mut client = Client::new();
                let mut seen = Seen::default();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    if let Some((count, session)) = increment(&mut client, &base) {
                        if seen.session.as_ref().is_some_and(|s| *s != session) {
                            seen.session_lost = true;
                        }
                        seen.session = Some(session);
                        seen.acknowledged = seen.acknowledged.max(count);
                        // A write sent after the kill: one in flight then
                        // may have been answered by the dying primary.
                        if killed.get().is_some_and(|at| sent > *at)
                            && seen.first_after_kill.is_none()
                        {
                            seen.first_after_kill = Some(Instant::now());
                        }
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                // The count the store holds now: one more write, once it
                // is taken (the store has settled by now).
                let deadline = Instant::now() + Duration::from_secs(15);
                while seen.last.is_none() && Instant::now() < deadline {
                    match increment(&mut client, &base) {
                        Some((count, session)) => {
                            seen.session_lost |=
                                seen.session.as_ref().is_some_and(|s| *s != session);
                            seen.last = Some(count - 1);
                        }
                        None => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    redis.kill_primary();
    let at = Instant::now();
    let _ = killed.set(at);
    // A failover takes 2-4 s here (2 s to be declared, then the vote and a
    // replica in step with its new primary): 6 s see it through.
    std::thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = users.into_iter().map(|u| u.join().unwrap()).collect();
    let recovered = seen
        .iter()
        .filter_map(|s| s.first_after_kill)
        .min()
        .map_or(f64::INFINITY, |t| t.duration_since(at).as_secs_f64());
    let lost = seen
        .iter()
        .map(|s| match (s.session_lost, s.last) {
            (false, Some(last)) => (s.acknowledged - last).max(0),
            _ => s.acknowledged,
        })
        .sum();
    drop(server);
    Outcome {
        recovered,
        lost,
        sessions_lost: seen
            .iter()
            .filter(|s| s.session_lost || s.last.is_none())
            .count(),
        acknowledged: seen.iter().map(|s| s.acknowledged).sum(),
    }
}

/// The primary killed five times under each durability.
pub(crate) fn failovers(dir: &std::path::Path) {
    for durability in ["fast", "replicated"] {
        let outcomes: Vec<Outcome> = (0..REPETITIONS)
            .map(|n| one_kill(&dir.join(format!("{durability}-{n}")), durability))
            .collect();
        for (n, o) in outcomes.iter().enumerate() {
            eprintln!(
                "failover {durability} #{n}: writes again after {:.2} s; {} of {} acknowledged \
                 increments lost; {} of {USERS} sessions lost",
                o.recovered, o.lost, o.acknowledged, o.sessions_lost
            );
        }
        for o in &outcomes {
            assert!(o.recovered < 15.0, "{durability}: writes never resumed");
            if durability == "replicated" {
                assert_eq!(o.lost, 0, "replicated: acknowledged increments lost");
                assert_eq!(o.sessions_lost, 0, "replicated: sessions lost");
            }
        }
    }
}
