//! The run's findings in plain sentences, computed from its figures: which
//! strategy lost sessions and why, what the shared store cost, what the
//! logout showed, and what a zero, a negative or an error count means. The
//! report opens with them, so a reader needs no other page to read it.

use crate::capacity::ByteSize;

use crate::results::{LabResults, StrategyResult};
use crate::strategy::Strategy;

/// A stateful − stateless difference smaller than this is called noise.
const NOISE_MS: f64 = 0.05;

/// Sentences about `results`, most telling first.
pub(crate) fn findings(results: &LabResults) -> Vec<String> {
    let all = &results.strategies;
    let mut out = Vec::new();
    target(results, &mut out);
    lost_sessions(all, &mut out);
    store_cost(all, &mut out);
    revocation(all, &mut out);
    store_outage(results, &mut out);
    super::network::distance_findings(results, &mut out);
    super::network::fault_findings(results, &mut out);
    super::failover::failover_findings(results, &mut out);
    drift(all, &mut out);
    rolling_restart(all, &mut out);
    balancer(results, &mut out);
    for s in all {
        if let Some(cost) = s.memory.token_cost {
            out.push(format!(
                "Tokens are not free on the server: each login keeps {} B there ({} rows: its refresh \
                 family and token, for the refresh lifetime), {} for a million live logins; each logout \
                 adds {} B ({} denylist entries, until the access token expires). The client carries \
                 {:.0} B of credential and state instead of a cookie.",
                cost.login_bytes,
                cost.login_rows,
                ByteSize(s.memory.projected_1m),
                cost.logout_bytes,
                cost.logout_entries,
                s.memory.client_bytes_per_session
            ));
        }
        if s.applied_despite_error > 0 {
            out.push(format!(
                "{}: {} increments answered with an error were applied after all (the store resumed \
                 and ran them): a timeout says nothing about whether a write happened, which is why \
                 checkout's confirm takes an Idempotency-Key.",
                s.title, s.applied_despite_error
            ));
        }
        for note in &s.notes {
            out.push(format!("{}: note: {note}", s.title));
        }
    }
    out
}

fn titles(strategies: &[&StrategyResult]) -> String {
    let names: Vec<&str> = strategies.iter().map(|s| s.title.as_str()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn kill_at(s: &StrategyResult) -> Option<f64> {
    s.faults
        .iter()
        .find(|f| f.kind == "kill" && !f.skipped)
        .map(|f| f.at_seconds)
}

fn lost_sessions(all: &[StrategyResult], out: &mut Vec<String>) {
    let mut kept = Vec::new();
    for s in all {
        if s.sessions_lost == 0 {
            kept.push(s);
        } else if s.sessions_lost_before_kill > 0 && s.strategy == Strategy::MemoryRoundRobin {
            out.push(format!(
                "{} lost sessions from the start ({} answers SESSION_MISSING or SESSION_LOST, {} \
                 before any fault): the balancer sends most requests to an instance that does not \
                 hold the session, so users are sent back to log in again and again. It completed \
                 {} journeys ({:.1} a second).",
                s.title,
                s.sessions_lost,
                s.sessions_lost_before_kill,
                s.visits,
                s.visits_per_second
            ));
        } else if s.sessions_lost_before_kill > 0 {
            out.push(format!(
                "{} lost {} sessions, {} of them before any fault: not what this strategy should \
                 do; the cluster's logs beside results.json say why.",
                s.title, s.sessions_lost, s.sessions_lost_before_kill
            ));
        } else if let (Some(kill), false) = (kill_at(s), s.strategy.uses_shared_store()) {
            out.push(format!(
                "{} lost {} sessions, none before the kill at {kill:.1} s: they were the clients of \
                 the killed instance, whose sessions lived in its memory and died with it.",
                s.title, s.sessions_lost
            ));
        } else {
            out.push(format!(
                "{} lost {} sessions, none before the first fault.",
                s.title, s.sessions_lost
            ));
        }
    }
    if !kept.is_empty() {
        let killed = kept.iter().any(|s| kill_at(s).is_some());
        out.push(if killed {
            format!(
                "{} lost no session through the kill: the session (or the token) did not live in \
                 the killed process.",
                titles(&kept)
            )
        } else {
            format!("{} lost no session.", titles(&kept))
        });
    }
}

fn store_cost(all: &[StrategyResult], out: &mut Vec<String>) {
    for s in all {
        let Some(o) = &s.overhead else { continue };
        if s.strategy.uses_shared_store() && !s.strategy.uses_tokens() {
            let store = match s.session_store.as_str() {
                "redis" => "Redis",
                "sqlite" => "a SQLite file",
                other => other,
            };
            out.push(format!(
                "A session in {store} costs {:+.3} ms per stateful request over the stateless form on the \
                 same instance ({:.3} against {:.3} ms: one store round trip), and {} B per session on \
                 the server ({} for a million).",
                o.overhead_ms,
                o.stateful_ms,
                o.stateless_ms,
                s.memory.server_bytes_per_session,
                ByteSize(s.memory.projected_1m)
            ));
        }
    }
    let memory: Vec<&StrategyResult> = all
        .iter()
        .filter(|s| !s.strategy.uses_shared_store())
        .collect();
    if let Some(o) = memory.first().and_then(|s| s.overhead.as_ref())
        && o.overhead_ms.abs() < NOISE_MS
    {
        out.push(format!(
            "In memory the stateful form differs from the stateless one by {:+.3} ms: within the \
             noise of one request (a negative figure means the stateful form happened to be faster), \
             so a lookup in the instance's memory costs nothing measurable. What memory costs is \
             elsewhere: {} B per session on the server, and the losses above.",
            o.overhead_ms,
            memory
                .first()
                .map_or(0, |s| s.memory.server_bytes_per_session)
        ));
    }
}

fn revocation(all: &[StrategyResult], out: &mut Vec<String>) {
    let mut honoured = Vec::new();
    for s in all {
        let Some(r) = &s.revocation else { continue };
        let inconclusive: usize = r.inconclusive_after_logout.values().sum();
        let worked_before = r.probes > 0 && r.accepted_before_logout == r.probes;
        if !r.logout_succeeded
            && r.accepted_after_logout > 0
            && s.strategy == Strategy::MemoryRoundRobin
            && r.logout_error.as_deref() == Some("SESSION_MISSING")
        {
            out.push(format!(
                "{}: the logout landed on an instance that did not hold the session ({}), and a copy \
                 of the credential was still served {} of {} times afterwards: with sessions in each \
                 instance's memory and no affinity, a user cannot even log out.",
                s.title,
                r.logout_error.as_deref().unwrap_or("no answer"),
                r.accepted_after_logout,
                r.probes
            ));
        } else if !r.logout_succeeded {
            out.push(format!(
                "{}: the logout itself failed ({}), so the probe shows nothing about revocation.",
                s.title,
                r.logout_error.as_deref().unwrap_or("no answer")
            ));
        } else if r.accepted_after_logout > 0 {
            out.push(format!(
                "{}: after a successful logout, a copy of the credential was still served {} of {} \
                 times.",
                s.title, r.accepted_after_logout, r.probes
            ));
        } else if worked_before && r.refused_after_logout == r.probes {
            honoured.push(s);
        }
        if inconclusive > 0 {
            out.push(format!(
                "{}: {inconclusive} of the {} tries after the logout got an answer that shows \
                 neither (e.g. a store outage): {:?}.",
                s.title, r.probes, r.inconclusive_after_logout
            ));
        }
    }
    if !honoured.is_empty() {
        out.push(format!(
            "{}: every try with a logged-out credential was refused as revoked (SESSION_MISSING for \
             a session, TOKEN_REVOKED for a token) from the next request on.",
            titles(&honoured)
        ));
    }
}

fn store_outage(results: &LabResults, out: &mut Vec<String>) {
    let seconds = results.plan.store_stop.as_secs_f64();
    for s in &results.strategies {
        let refused = s.errors.get("STORE_UNAVAILABLE").copied().unwrap_or(0);
        if refused == 0 || !s.strategy.uses_shared_store() {
            continue;
        }
        let why = if s.strategy.uses_tokens() {
            "the denylist that makes a logout immediate is read on every bearer request, and a \
             request fails closed rather than accept a token that may be revoked"
        } else {
            "only the requests that needed the store; the rest (the stateless counter, the \
             catalog) kept answering"
        };
        out.push(format!(
            "{}: {refused} requests answered STORE_UNAVAILABLE while the store was stopped for \
             {seconds:.0} s: {why}.",
            s.title
        ));
    }
}

/// Against a deployment the lab did not start: which faults it could not
/// inject there, so a reader does not take a skipped fault for a survived one.
fn target(results: &LabResults, out: &mut Vec<String>) {
    let Some(target) = &results.target else {
        return;
    };
    let url = &target.url;
    let mut skipped: Vec<&str> = results
        .strategies
        .iter()
        .flat_map(|s| &s.faults)
        .filter(|f| f.skipped)
        .map(|f| f.kind.as_str())
        .collect();
    skipped.sort_unstable();
    skipped.dedup();
    out.push(if skipped.is_empty() {
        format!(
            "This run drove the deployment at {url}, which the lab did not start; every planned \
             fault went through its control API."
        )
    } else {
        format!(
            "This run drove the deployment at {url}, which the lab did not start. Not injected \
             there (skipped, not survived): {} — {}. Its figures are the deployment's own: what \
             its users saw under this load.",
            skipped.join(", "),
            target
                .uncontrolled
                .as_deref()
                .unwrap_or("its control API refused them")
        )
    });
}

/// What the balancer in front changed: how a lost pin reached the users.
fn balancer(results: &LabResults, out: &mut Vec<String>) {
    let (name, how) = match results.plan.balancer.as_str() {
        "haproxy" => (
            "HAProxy",
            "it names a lost pin (X-Affinity-Lost) once its health check has found the \
             instance down, and redispatches the requests in between without it",
        ),
        "nginx" => (
            "nginx",
            "it finds a dead pinned instance by the failed connection and retries elsewhere \
             with X-Affinity-Lost; it has no active health check",
        ),
        _ => return,
    };
    for s in &results.strategies {
        if s.strategy != Strategy::MemorySticky {
            continue;
        }
        let count = |code: &str| s.errors.get(code).copied().unwrap_or(0);
        out.push(format!(
            "Behind {name}, {} answered SESSION_LOST {} times and SESSION_MISSING {} times: {how}. \
             The built-in gateway marks every request it re-pins, so its users see SESSION_LOST \
             alone (compare this run with one of --balancer builtin on /lab).",
            s.title,
            count("SESSION_LOST"),
            count("SESSION_MISSING")
        ));
    }
}

/// What each strategy's users saw while every instance was restarted in
/// turn: the deploy every team runs.
fn rolling_restart(all: &[StrategyResult], out: &mut Vec<String>) {
    for s in all {
        let Some(fault) = s
            .faults
            .iter()
            .find(|f| f.kind == "rolling-restart" && !f.skipped)
        else {
            continue;
        };
        let Some(window) = &fault.window else {
            continue;
        };
        let lost: u64 = crate::record::SESSION_ERRORS
            .iter()
            .filter_map(|code| window.errors.get(*code))
            .sum();
        let failed: u64 = window.errors.values().sum::<u64>() - lost;
        let codes: Vec<String> = (window.errors.iter())
            .map(|(code, n)| format!("{n} {code}"))
            .collect();
        let how = if lost == 0 {
            "no session was lost"
        } else if s.strategy == Strategy::MemoryRoundRobin {
            "sessions were lost, as they are all along under round-robin"
        } else if s.strategy.uses_shared_store() || s.strategy.uses_tokens() {
            "sessions were lost although none lived in an instance"
        } else {
            "sessions were lost: those the hand-over did not move before their instance stopped"
        };
        out.push(format!(
            "{}: during the rolling restart (each instance drained, its sessions handed over, \
             stopped and started again, {:.1} s in all) {how} ({lost} of {} answers), and {failed} \
             other requests failed{}.",
            s.title,
            fault.duration_seconds.unwrap_or(0.0),
            window.requests,
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            }
        ));
    }
}

fn drift(all: &[StrategyResult], out: &mut Vec<String>) {
    let drifted: Vec<&StrategyResult> = all.iter().filter(|s| s.counter.drift > 0).collect();
    let steady: Vec<&StrategyResult> = all
        .iter()
        .filter(|s| {
            s.counter.drift == 0
                && !s.counter.per_server.is_empty()
                && s.strategy.uses_shared_store()
        })
        .collect();
    if !drifted.is_empty() {
        out.push(format!(
            "The named counter every user incremented drifted apart across instances for {} (by up \
             to {}): each instance counts in its own memory, and a restarted one starts again from 0.",
            titles(&drifted),
            drifted.iter().map(|s| s.counter.drift).max().unwrap_or(0)
        ));
    }
    if !steady.is_empty() {
        out.push(format!(
            "For {} every instance reported the same count (drift 0): one store holds it.",
            titles(&steady)
        ));
    }
}
