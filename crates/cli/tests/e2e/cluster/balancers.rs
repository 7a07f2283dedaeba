//! The seed's four scenarios behind the balancers teams already run:
//! `statecraft cluster --balancer haproxy|nginx` (Debian's packages, which
//! `scripts/test` installs), from the configurations statecraft writes.

use super::{
    Cluster, affinity_survives_until_its_instance_dies, counters_drift_and_tokens_work_everywhere,
    round_robin_loses_memory_sessions, shared_sessions_survive_a_kill,
};

const BALANCERS: [&str; 2] = ["haproxy", "nginx"];

/// A cluster behind `balancer`, or `None` where it is not installed.
fn behind(balancer: &str, name: &str, args: &[&str]) -> Option<Cluster> {
    statecraft_testkit::program(balancer, "the balancer scenarios")?;
    let mut all = vec!["--balancer", balancer];
    all.extend_from_slice(args);
    Some(Cluster::start(&format!("{name}-{balancer}"), &all))
}

#[test]
fn round_robin_loses_memory_sessions_behind_haproxy_and_nginx() {
    for balancer in BALANCERS {
        if let Some(cluster) = behind(balancer, "rr", &["--balance", "round-robin"]) {
            round_robin_loses_memory_sessions(&cluster);
            // The instances' internal routes are not reachable through it,
            // even from loopback (which it does not mark as forwarded).
            let addr = cluster.base.trim_start_matches("http://");
            let auth = [("Authorization", "Bearer guessed-token-0123456789")];
            let (status, _, _) =
                crate::common::request(addr, "GET", "/_internal/sessions", &auth, None);
            assert_eq!(status, 404, "{balancer} passed /_internal/");
        }
    }
}

/// Behind HAProxy the lost pin is named (`SESSION_LOST`) once its health
/// check has found the instance down; behind nginx at the first failed
/// connection. Either way only the killed instance's clients notice.
#[test]
fn sticky_sessions_are_lost_only_for_the_killed_instances_clients_behind_haproxy_and_nginx() {
    for balancer in BALANCERS {
        if let Some(cluster) = behind(balancer, "sticky", &["--balance", "sticky"]) {
            affinity_survives_until_its_instance_dies(&cluster);
        }
    }
}

#[test]
fn shared_sessions_survive_a_kill_behind_haproxy_and_nginx() {
    let Some(redis) =
        statecraft_testkit::service_url("STATECRAFT_TEST_REDIS_URL", "the balancer scenarios")
    else {
        return;
    };
    for balancer in BALANCERS {
        let args = ["--balance", "round-robin", "--session-store", &redis];
        if let Some(cluster) = behind(balancer, "redis", &args) {
            shared_sessions_survive_a_kill(&cluster, &redis);
        }
    }
}

#[test]
fn tokens_work_everywhere_behind_haproxy_and_nginx() {
    for balancer in BALANCERS {
        if let Some(cluster) = behind(balancer, "tokens", &["--balance", "round-robin"]) {
            counters_drift_and_tokens_work_everywhere(&cluster);
        }
    }
}
