//! The failover phase in the report: what each durability lost when the
//! replicated store's primary was killed, how long writes failed, and what
//! `replicated` cost, in sentences and a table.

use std::fmt::Write as _;

use crate::results::{FailoverPoint, LabResults};

fn point<'a>(results: &'a LabResults, durability: &str) -> Option<&'a FailoverPoint> {
    results.failover.iter().find(|p| p.durability == durability)
}

fn outage(p: &FailoverPoint) -> String {
    p.failover_seconds.map_or_else(
        || "never succeeded again in the phase".to_owned(),
        |s| format!("failed for {s:.1} s"),
    )
}

/// Sentences about the failover phase.
pub(crate) fn failover_findings(results: &LabResults, out: &mut Vec<String>) {
    if let Some(why) = &results.failover_skipped {
        out.push(format!(
            "The failover phase (the shared store on a replicated Redis, its primary killed) did \
             not run: {why}."
        ));
        return;
    }
    let (Some(fast), Some(replicated)) = (point(results, "fast"), point(results, "replicated"))
    else {
        return;
    };
    let at = results.plan.failover_run.as_secs_f64() * results.plan.failover_at;
    out.push(format!(
        "A replicated store (a Redis primary, two replicas, three sentinels) lost its primary \
         {at:.1} s into the load (SIGKILL). With --store-durability fast, {} of {} acknowledged \
         increments were lost and {} sessions; writes {} while the sentinels promoted a replica \
         and the instances followed it. With replicated (each write confirmed by one replica \
         before it is acknowledged), {} of {} were lost and {} sessions; writes {}.",
        fast.writes_lost,
        fast.writes_acknowledged,
        fast.sessions_lost,
        outage(fast),
        replicated.writes_lost,
        replicated.writes_acknowledged,
        replicated.sessions_lost,
        outage(replicated),
    ));
    let change =
        (replicated.requests_per_second / fast.requests_per_second.max(1e-9) - 1.0) * 100.0;
    out.push(format!(
        "The price of replicated: {:.0} increments/s against {:.0} with fast ({change:+.0}%), p99 \
         {:.2} ms against {:.2} ms — every write waits for a replica's confirmation.",
        replicated.requests_per_second, fast.requests_per_second, replicated.p99_ms, fast.p99_ms,
    ));
    if fast.writes_lost == 0 {
        out.push(
            "fast lost nothing here because a primary killed on loopback leaves its replicas \
             microseconds behind. Where the primary is cut off from its replicas while clients \
             still reach it, fast loses every write it acknowledges alone until \
             min-replicas-max-lag stops it (thousands in the chaos suite, docs/reliability.md); \
             replicated loses none."
                .to_owned(),
        );
    }
}

/// The phase's table, or why it did not run.
pub(crate) fn failover_section(results: &LabResults, escape: fn(&str) -> String) -> String {
    let mut out = String::from("<h2>A replicated store's failover</h2>");
    if let Some(why) = &results.failover_skipped {
        let _ = write!(out, "<p>The phase did not run: {}.</p>", escape(why));
        return out;
    }
    out.push_str(
        "<p>The shared store on a Redis primary with two replicas behind three sentinels \
         (<code>shared-store-replicated</code>), the primary killed at the same moment for each \
         durability. <em>lost</em>: acknowledged increments the store no longer held (a count \
         that did not go up by one); <em>writes failed for</em>: from the kill to the first \
         write sent after it being acknowledged; req/s and latency before the kill.</p>\
         <table><thead><tr><th>durability</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th>\
         <th>acknowledged</th><th>lost</th><th>sessions lost</th><th>writes failed for</th>\
         <th>error answers</th></tr></thead><tbody>",
    );
    for p in &results.failover {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.durability),
            p.requests_per_second,
            p.p50_ms,
            p.p99_ms,
            p.writes_acknowledged,
            p.writes_lost,
            p.sessions_lost,
            p.failover_seconds
                .map_or_else(|| "—".to_owned(), |s| format!("{s:.2} s")),
            p.errors,
        );
    }
    out.push_str("</tbody></table>");
    out
}
