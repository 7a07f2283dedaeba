//! The failover phase: the shared-store strategy on a replicated Redis
//! (a primary, two replicas, three sentinels: `shared-store-replicated`),
//! once with `--store-durability fast` and once with `replicated` (each
//! write confirmed by one replica), the primary SIGKILLed at the same moment
//! of the same load. Each user increments its session's count and checks
//! every answer against the last: a count that does not go up by one shows
//! acknowledged writes the failover lost. Measured beside it: how long
//! writes failed, and what `replicated` costs in requests per second before
//! the kill.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hdrhistogram::Histogram;

use crate::LabError;
use crate::client::{Call, Credential, Target};
use crate::cluster::{Cluster, Network, Shape};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::record::histogram;
use crate::replicated::ReplicatedRedis;
use crate::results::FailoverPoint;
use crate::strategy::Strategy;

/// The strategy's name in the results.
const STRATEGY: &str = "shared-store-replicated";
/// The durabilities compared, in order.
const DURABILITIES: [&str; 2] = ["fast", "replicated"];
/// How long a user tries, after the load, to have one write taken: the
/// count then shows what the store kept.
const SETTLE: Duration = Duration::from_secs(15);

/// What one user saw.
struct Seen {
    acknowledged: u64,
    lost: u64,
    session_lost: bool,
    count: u64,
    session: Option<String>,
    errors: u64,
    /// Answers before the kill, and their times.
    before_kill: u64,
    latency: Histogram<u64>,
    /// When its first write sent after the kill was acknowledged.
    first_after_kill: Option<Instant>,
}

impl Seen {
    fn new() -> Self {
        Self {
            acknowledged: 0,
            lost: 0,
            session_lost: false,
            count: 0,
            session: None,
            errors: 0,
            before_kill: 0,
            latency: histogram(),
            first_after_kill: None,
        }
    }

    /// An acknowledged increment that answered `count` in `session`: each
    /// should be one more than the last.
    fn record(&mut self, count: u64, session: String) {
        if self.session.as_ref().is_some_and(|s| *s != session) {
            self.session_lost = true;
            self.lost += self.count;
        } else if count <= self.count {
            self.lost += self.count - count + 1;
        }
        self.session = Some(session);
        self.count = count;
        self.acknowledged += 1;
    }
}

async fn increment(target: &Target, credential: &mut Credential) -> Result<(u64, String), String> {
    let body = target
        .send(credential, Call::post("increment", "/increment", None))
        .await?;
    let count = body["counter"].as_u64().ok_or("no counter in the answer")?;
    let session = body["sessionId"].as_str().unwrap_or_default().to_owned();
    Ok((count, session))
}

async fn user(target: Target, deadline: Instant, killed: Arc<OnceLock<Instant>>) -> Seen {
    let mut credential = Credential::default();
    let mut seen = Seen::new();
    while Instant::now() < deadline {
        let sent = Instant::now();
        match increment(&target, &mut credential).await {
            Ok((count, session)) => {
                seen.record(count, session);
                match killed.get() {
                    None => {
                        seen.before_kill += 1;
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let _ = seen.latency.record(micros.max(1));
                    }
                    Some(at) if sent > *at && seen.first_after_kill.is_none() => {
                        seen.first_after_kill = Some(Instant::now());
                    }
                    Some(_) => {}
                }
            }
            Err(_) => {
                seen.errors += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let settle = Instant::now() + SETTLE;
    loop {
        match increment(&target, &mut credential).await {
            Ok((count, session)) => {
                seen.record(count, session);
                // A store that came back only now came back all the same.
                seen.first_after_kill.get_or_insert_with(Instant::now);
                break;
            }
            Err(_) if Instant::now() < settle => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => {
                // The store never took a write again: nothing it kept shows.
                seen.session_lost = true;
                seen.lost = seen.acknowledged;
                break;
            }
        }
    }
    seen
}

/// One durability: its own replicated Redis and cluster, the load, the
/// kill, the figures.
async fn one(
    program: &Path,
    plan: &Plan,
    durability: &str,
    work: &Path,
    log: std::path::PathBuf,
) -> Result<FailoverPoint, LabError> {
    let mut redis = ReplicatedRedis::start(&work.join("redis")).await?;
    let store = redis.url();
    let shape = Shape {
        strategy: Strategy::SharedStore,
        shared_store: &store,
        instances: plan.instances,
        // The store's failover is measured, not the balancer's.
        balancer: "builtin",
        // Sentinel names its nodes by their own addresses: the store
        // cannot be relayed, so the cluster's links stand in front of the
        // instances only.
        network: Network::Loopback,
        serve_args: &["--store-durability", durability, "--store-replicas", "1"],
    };
    let cluster = Cluster::start(program, shape, &work.join("data"), log).await?;
    let target = Target::new(cluster.api.base.clone(), None).map_err(LabError::Setup)?;
    let start = Instant::now();
    let deadline = start + plan.failover_run;
    let killed: Arc<OnceLock<Instant>> = Arc::default();
    let users: Vec<_> = (0..plan.users)
        .map(|_| tokio::spawn(user(target.clone(), deadline, Arc::clone(&killed))))
        .collect();
    tokio::time::sleep_until((start + plan.failover_run.mul_f64(plan.failover_at)).into()).await;
    // From the moment it is dead: a write sent while the kill was under
    // way may have been answered by the dying primary.
    redis.kill_primary().await;
    let at = Instant::now();
    let _ = killed.set(at);
    let seen: Vec<Seen> = join_all(users)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    cluster.stop().await;
    drop(redis);
    let mut latency = histogram();
    for s in &seen {
        let _ = latency.add(&s.latency);
    }
    let before = at.duration_since(start).as_secs_f64().max(1e-9);
    Ok(FailoverPoint {
        strategy: STRATEGY.to_owned(),
        durability: durability.to_owned(),
        requests_per_second: seen.iter().map(|s| s.before_kill).sum::<u64>() as f64 / before,
        p50_ms: latency.value_at_quantile(0.50) as f64 / 1e3,
        p99_ms: latency.value_at_quantile(0.99) as f64 / 1e3,
        writes_acknowledged: seen.iter().map(|s| s.acknowledged).sum(),
        writes_lost: seen.iter().map(|s| s.lost).sum(),
        sessions_lost: seen.iter().filter(|s| s.session_lost).count() as u64,
        failover_seconds: seen
            .iter()
            .filter_map(|s| s.first_after_kill)
            .min()
            .map(|t| t.duration_since(at).as_secs_f64()),
        errors: seen.iter().map(|s| s.errors).sum(),
    })
}

/// Both durabilities in turn; the reason instead when the phase cannot run
/// here (no redis-server).
pub(crate) async fn measure(
    program: &Path,
    plan: &Plan,
    work: &Path,
    logs: &Path,
    progress: &Progress,
) -> Result<Vec<FailoverPoint>, String> {
    let mut points = Vec::new();
    for durability in DURABILITIES {
        progress.stage(&format!("{durability}: primary killed under load"));
        let point = one(
            program,
            plan,
            durability,
            &work.join(format!("failover-{durability}")),
            logs.join(format!("shared-store-replicated-{durability}.log")),
        )
        .await
        .map_err(|e| format!("{durability}: {e}"))?;
        points.push(point);
    }
    Ok(points)
}
