//! A replicated Redis under a load of session writes, its primary taken
//! away two ways, five times for each durability:
//!
//! - **killed** (SIGKILL): the sentinels promote a replica, the store
//!   follows. Measured: the time until writes succeed again, the
//!   acknowledged writes lost (a session's count below the highest the
//!   client was told), the sessions lost.
//! - **partitioned**: the primary's cable to its replicas and sentinels is
//!   pulled while the clients still reach it, then plugged back. The
//!   sentinels promote a replica on their side; the old primary goes on
//!   answering the clients until no replica has acknowledged it for
//!   `min-replicas-max-lag`, and at heal it is made a replica of the new
//!   one, so what it acknowledged in between is gone. Measured beside the
//!   above: the writes it acknowledged while cut off, and for how long.
//!
//! `replicated` (each write confirmed by one of the two replicas: the
//! sentinels promote the replica with the most data, so it holds every
//! confirmed write) must lose none; `fast` is measured and reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::replicated::{MAX_LAG_SECS, Replicated};
use crate::common::{Client, Statecraft};

/// Users writing at once.
const USERS: usize = 4;
/// Repetitions of each fault for each durability.
const REPETITIONS: usize = 5;
/// How long the primary stays cut off at least: past
/// `min-replicas-max-lag`, with three seconds for the once-a-second
/// acknowledgements and the once-a-second recount of replicas in step. It stays cut off until the sentinels on
/// the other side have promoted a replica (2 s to declare it down, then the
/// vote), for at most [`PARTITION_MAX`].
const PARTITION_MIN: Duration = Duration::from_secs(MAX_LAG_SECS + 3);
/// How far behind the primary its replicas may be under this load: the
/// writes sent this long before the cut may be lost with the rest.
const JUST_BEFORE: Duration = Duration::from_millis(250);
/// How long the primary stays cut off at most.
const PARTITION_MAX: Duration = Duration::from_secs(20);

/// What is done to the primary.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill,
    Partition,
}

/// When the fault began and when the store could take writes again (the
/// kill itself, or the heal).
#[derive(Default)]
struct Timeline {
    fault: OnceLock<Instant>,
    resumed: OnceLock<Instant>,
}

/// What one user saw.
#[derive(Default)]
struct Seen {
    /// Increments acknowledged.
    acknowledged: i64,
    /// The count it was last told.
    count: i64,
    /// Acknowledged increments the store forgot: each answer should be one
    /// more than the last; one at or below it shows how many went.
    lost: i64,
    /// Increments answered with an error and applied all the same.
    applied_unacknowledged: i64,
    /// Writes sent during a partition and acknowledged before its heal.
    acknowledged_cut_off: i64,
    /// When each acknowledged write was sent.
    sent_times: Vec<Instant>,
    /// When the last of those was acknowledged.
    last_cut_off: Option<Instant>,
    /// When its first write sent after the resumption succeeded.
    first_after: Option<Instant>,
    session: Option<String>,
    session_lost: bool,
}

impl Seen {
    /// An acknowledged increment that answered `count` in `session`.
    fn record(&mut self, count: i64, session: String) {
        if self.session.as_ref().is_some_and(|s| *s != session) {
            // A new session: everything the old one held is gone.
            self.session_lost = true;
            self.lost += self.count;
        } else if count <= self.count {
            self.lost += self.count - count + 1;
        } else {
            // More than one up: writes answered with an error were applied
            // after all. As many lost at the same moment would not show,
            // so they are counted beside the losses.
            self.applied_unacknowledged += count - self.count - 1;
        }
        self.session = Some(session);
        self.count = count;
        self.acknowledged += 1;
    }
}

/// One fault's figures.
struct Outcome {
    /// Seconds from the kill or heal until writes succeeded again.
    recovered: f64,
    /// Acknowledged increments lost.
    lost: i64,
    /// Increments refused with an error and applied all the same: a loss
    /// of as many at the same moment could hide behind them.
    applied_unacknowledged: i64,
    sessions_lost: usize,
    acknowledged: i64,
    /// Increments the old primary acknowledged while cut off.
    acknowledged_cut_off: i64,
    /// Increments sent in the quarter second before the cut and
    /// acknowledged: the replicas may not have had them yet.
    acknowledged_just_before: i64,
    /// Seconds after the cut it acknowledged the last of them.
    accepted_for: f64,
    /// Seconds it was cut off.
    cut_for: f64,
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

/// One user's writes until `stop`, then one more once the store takes
/// writes again: it shows what the store kept.
fn user(base: &str, stop: &AtomicBool, timeline: &Timeline, fault: Fault) -> Seen {
    let mut client = Client::new();
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let Some((count, session)) = increment(&mut client, base) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        seen.record(count, session);
        seen.sent_times.push(sent);
        let after = |at: &OnceLock<Instant>| at.get().is_some_and(|at| sent > *at);
        // Sent after the cut and answered before the heal: the old primary
        // took it alone (the clients reach no other).
        if matches!(fault, Fault::Partition)
            && after(&timeline.fault)
            && timeline.resumed.get().is_none()
        {
            seen.acknowledged_cut_off += 1;
            seen.last_cut_off = Some(Instant::now());
        }
        // Sent after the resumption: one in flight before it may have been
        // answered by the dying primary.
        if after(&timeline.resumed) && seen.first_after.is_none() {
            seen.first_after = Some(Instant::now());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut settled = false;
    while !settled && Instant::now() < deadline {
        match increment(&mut client, base) {
            Some((count, session)) => {
                seen.record(count, session);
                // A store that came back only now came back all the same.
                seen.first_after.get_or_insert_with(Instant::now);
                settled = true;
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    // A store that never took a write again kept nothing we can see.
    if !settled {
        seen.session_lost = true;
        seen.lost = seen.acknowledged;
    }
    seen
}

/// Cuts the namespace's cable (`down`) or plugs it back.
fn cable(namespace: &statecraft_link::netns::Namespace, down: bool) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(namespace.set_down(down))
        .unwrap();
}

fn one_run(dir: &std::path::Path, durability: &str, fault: Fault) -> Outcome {
    let namespace = matches!(fault, Fault::Partition).then(|| {
        statecraft_link::netns::create(1)
            .expect("a namespace for the partition")
            .remove(0)
    });
    let mut redis = match &namespace {
        Some(ns) => Replicated::start_split(&dir.join("redis"), ns),
        None => Replicated::start(&dir.join("redis")),
    };
    let server = Statecraft::start(
        dir,
        &[
            "serve",
            "--insecure-cookies",
            "--session-store",
            &redis.url(),
            "--store-durability",
            durability,
            "--store-replicas",
            "1",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let timeline: Arc<Timeline> = Arc::default();
    let users: Vec<_> = (0..USERS)
        .map(|_| {
            let (base, stop, timeline) = (
                server.base.clone(),
                Arc::clone(&stop),
                Arc::clone(&timeline),
            );
            std::thread::spawn(move || user(&base, &stop, &timeline, fault))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let at = match &namespace {
        None => {
            // From the moment it is dead (`kill_primary` waits for it).
            redis.kill_primary();
            let at = Instant::now();
            let _ = timeline.fault.set(at);
            let _ = timeline.resumed.set(at);
            at
        }
        Some(ns) => {
            // From the moment the cable is out: a write sent while `ip`
            // ran may still have reached the replicas.
            cable(ns, true);
            let at = Instant::now();
            let _ = timeline.fault.set(at);
            std::thread::sleep(PARTITION_MIN);
            while !redis.failed_over() && at.elapsed() < PARTITION_MAX {
                std::thread::sleep(Duration::from_millis(200));
            }
            cable(ns, false);
            let _ = timeline.resumed.set(Instant::now());
            at
        }
    };
    let cut_for = timeline
        .resumed
        .get()
        .unwrap()
        .duration_since(at)
        .as_secs_f64();
    // A failover takes 2-4 s here (2 s to be declared, then the vote and a
    // replica in step with its new primary): 6 s see it through. After a
    // heal the failover is done, and the clients, moved by the old
    // primary's refusals, write again within a fraction of a second.
    std::thread::sleep(match fault {
        Fault::Kill => Duration::from_secs(6),
        Fault::Partition => Duration::from_secs(3),
    });
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = users.into_iter().map(|u| u.join().unwrap()).collect();
    let resumed = *timeline.resumed.get().unwrap();
    let recovered = seen
        .iter()
        .filter_map(|s| s.first_after)
        .min()
        .map_or(f64::INFINITY, |t| t.duration_since(resumed).as_secs_f64());
    drop(server);
    Outcome {
        recovered,
        lost: seen.iter().map(|s| s.lost).sum(),
        applied_unacknowledged: seen.iter().map(|s| s.applied_unacknowledged).sum(),
        sessions_lost: seen.iter().filter(|s| s.session_lost).count(),
        acknowledged: seen.iter().map(|s| s.acknowledged).sum(),
        acknowledged_cut_off: seen.iter().map(|s| s.acknowledged_cut_off).sum(),
        acknowledged_just_before: seen
            .iter()
            .flat_map(|s| &s.sent_times)
            .filter(|&&t| t < at && at.duration_since(t) < JUST_BEFORE)
            .count() as i64,
        accepted_for: seen
            .iter()
            .filter_map(|s| s.last_cut_off)
            .max()
            .map_or(0.0, |t| t.duration_since(at).as_secs_f64()),
        cut_for,
    }
}

fn report(durability: &str, fault: Fault, n: usize, o: &Outcome) {
    let what = match fault {
        Fault::Kill => "killed",
        Fault::Partition => "partitioned",
    };
    let cut_off = match fault {
        Fault::Kill => String::new(),
        Fault::Partition => format!(
            "; cut off for {:.2} s, the old primary acknowledged {} increments alone, the last \
             {:.2} s after the cut",
            o.cut_for, o.acknowledged_cut_off, o.accepted_for
        ),
    };
    eprintln!(
        "failover {durability} {what} #{n}: writes again after {:.2} s; {} of {} acknowledged \
         increments lost ({} refused and applied anyway); {} of {USERS} sessions lost{cut_off}",
        o.recovered, o.lost, o.acknowledged, o.applied_unacknowledged, o.sessions_lost
    );
}

/// What each run must show.
fn check(durability: &str, fault: Fault, o: &Outcome) {
    assert!(
        o.recovered < 15.0,
        "{durability} {fault:?}: writes never resumed"
    );
    // min-replicas-max-lag: a primary that no replica acknowledges stops
    // taking writes (its count of replicas in step is refreshed once a
    // second, from acknowledgements sent once a second).
    assert!(
        o.accepted_for < MAX_LAG_SECS as f64 + 2.5,
        "{durability}: the cut-off primary took writes for {:.2} s",
        o.accepted_for
    );
    if durability == "fast" && matches!(fault, Fault::Partition) {
        // What the cut-off primary acknowledged alone is what is lost: all
        // of it (the promoted replica never had it), and beside it only
        // writes answered in the moment before the cut and not yet shipped.
        assert!(
            o.lost >= o.acknowledged_cut_off
                && o.lost <= o.acknowledged_cut_off + o.acknowledged_just_before,
            "fast: {} lost against {} acknowledged while cut off and {} in the {JUST_BEFORE:?} \
             before",
            o.lost,
            o.acknowledged_cut_off,
            o.acknowledged_just_before
        );
    }
    if durability == "replicated" {
        assert_eq!(
            o.lost, 0,
            "replicated {fault:?}: acknowledged increments lost"
        );
        assert_eq!(o.sessions_lost, 0, "replicated {fault:?}: sessions lost");
        assert_eq!(
            o.acknowledged_cut_off, 0,
            "replicated: the cut-off primary confirmed writes no replica had"
        );
    }
}

/// The primary killed or cut off (`faults`: "kill", "partition") five
/// times under each durability, the two durabilities side by side (each
/// its own Redis, namespace and server: the suite's time halves, and each
/// run's figures are its own).
pub(crate) fn failovers(dir: &std::path::Path, faults: &[&str]) {
    for (fault, name) in [(Fault::Kill, "kill"), (Fault::Partition, "partition")] {
        if !faults.contains(&name) {
            continue;
        }
        let runs: Vec<_> = ["fast", "replicated"]
            .into_iter()
            .map(|durability| {
                let dir = dir.to_owned();
                let outcomes = std::thread::spawn(move || {
                    (0..REPETITIONS)
                        .map(|n| {
                            one_run(
                                &dir.join(format!("{name}-{durability}-{n}")),
                                durability,
                                fault,
                            )
                        })
                        .collect::<Vec<Outcome>>()
                });
                (durability, outcomes)
            })
            .collect();
        for (durability, outcomes) in runs {
            let outcomes = outcomes.join().unwrap();
            for (n, o) in outcomes.iter().enumerate() {
                report(durability, fault, n, o);
            }
            for o in &outcomes {
                check(durability, fault, o);
            }
        }
    }
}
