//! The network's part of the report: the store at a distance (the seed's
//! formula, overhead ≈ RTT + the store's service time, measured) and the
//! network faults — what each strategy's users saw, instance by instance.

use plotters::prelude::*;

use super::charts::{FONT, LABEL, SIZE, colour, failed};
use crate::results::{DistancePoint, FaultOutcome, LabResults, StrategyResult};
use crate::strategy::Strategy;

/// The measured overhead is said to follow the formula within this share.
const FORMULA_TOLERANCE: f64 = 0.25;

fn points_of(results: &LabResults, strategy: Strategy) -> Vec<&DistancePoint> {
    results
        .distance
        .iter()
        .filter(|p| p.strategy == strategy)
        .collect()
}

fn title_of(results: &LabResults, strategy: Strategy) -> String {
    results
        .strategies
        .iter()
        .find(|s| s.strategy == strategy)
        .map_or_else(|| strategy.title().to_owned(), |s| s.title.clone())
}

/// Sentences about the distance phase.
pub(crate) fn distance_findings(results: &LabResults, out: &mut Vec<String>) {
    let shared = points_of(results, Strategy::SharedStore);
    let loopback = shared.iter().find(|p| p.rtt_ms == 0.0);
    for far in shared.iter().filter(|p| p.rtt_ms > 0.0) {
        let (Some(near), Some(measured)) = (loopback, far.overhead_ms) else {
            continue;
        };
        let Some(base) = near.overhead_ms else {
            continue;
        };
        let expected = far.rtt_ms + base;
        let off = (measured - expected) / expected;
        let verdict = if off.abs() <= FORMULA_TOLERANCE {
            format!(
                "within {:.0}% of RTT + its loopback overhead ({expected:.2} ms): the seed's \
                 formula holds, the session overhead is the network's round trip plus the \
                 store's own time",
                off.abs() * 100.0
            )
        } else {
            format!(
                "{:+.0}% off RTT + its loopback overhead ({expected:.2} ms): more than one round \
                 trip a request (a second store call, or the link's own timer precision) or less \
                 (noise in a short run)",
                off * 100.0
            )
        };
        out.push(format!(
            "With the store {} ms away, a shared-store session costs {measured:.2} ms per \
             stateful request, {verdict}. Requests/s at the same {} users fell from {:.0} to \
             {:.0} ({:+.0}%).",
            far.rtt_ms,
            results.plan.users,
            near.requests_per_second,
            far.requests_per_second,
            change(near.requests_per_second, far.requests_per_second)
        ));
    }
    for strategy in [Strategy::StatelessTokens, Strategy::MemorySticky] {
        let points = points_of(results, strategy);
        let (Some(near), Some(far)) = (
            points.iter().find(|p| p.rtt_ms == 0.0),
            points.iter().rfind(|p| p.rtt_ms > 0.0),
        ) else {
            continue;
        };
        let why = if strategy == Strategy::StatelessTokens {
            "its requests need no session, but every bearer request reads the logout denylist \
             in the store"
        } else {
            "it reaches no store on a request: the reference line"
        };
        out.push(format!(
            "{} with the store {} ms away: {:.0} requests/s against {:.0} at 0 ms ({:+.0}%), p50 \
             {:.2} ms against {:.2} — {why}.",
            title_of(results, strategy),
            far.rtt_ms,
            far.requests_per_second,
            near.requests_per_second,
            change(near.requests_per_second, far.requests_per_second),
            far.p50_ms,
            near.p50_ms
        ));
    }
}

fn change(from: f64, to: f64) -> f64 {
    if from > 0.0 {
        (to - from) / from * 100.0
    } else {
        0.0
    }
}

fn fault<'a>(s: &'a StrategyResult, kind: &str) -> Option<&'a FaultOutcome> {
    s.faults
        .iter()
        .find(|f| f.kind == kind && f.duration_seconds.is_some() && !f.skipped)
}

fn errors_text(f: &FaultOutcome) -> String {
    match &f.window {
        Some(w) if !w.errors.is_empty() => w
            .errors
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "no error".to_owned(),
    }
}

fn rotation_text(f: &FaultOutcome) -> String {
    match (f.detected_seconds, f.recovered_seconds) {
        (Some(out), Some(back)) => format!(
            "the gateway took it out of rotation after {out:.2} s and had it back {back:.2} s \
             after the fault ended"
        ),
        (Some(out), None) => format!("the gateway took it out of rotation after {out:.2} s"),
        _ => "the gateway kept it in rotation".to_owned(),
    }
}

/// Sentences about the network faults and the users' retries.
pub(crate) fn fault_findings(results: &LabResults, out: &mut Vec<String>) {
    for s in &results.strategies {
        let slowest = |f: &FaultOutcome| {
            let Some(w) = f.window.as_ref() else {
                return "no".to_owned();
            };
            match &w.instance_slowest {
                Some(what) => format!("{:.0} ms ({what})", w.instance_max_ms),
                None => format!("{:.0} ms", w.instance_max_ms),
            }
        };
        if let Some(f) = fault(s, "store-partition").filter(|f| f.instance.is_some()) {
            out.push(format!(
                "{}: with {} cut off from the store for {:.0} s, the users saw {} in that time and \
                 2 s after; its slowest answer took {} (a request waits for the store timeout \
                 once: its later store calls fail at once), and {}.",
                s.title,
                f.instance.as_deref().unwrap_or("an instance"),
                f.duration_seconds.unwrap_or(0.0),
                errors_text(f),
                slowest(f),
                rotation_text(f)
            ));
        }
        if let Some(f) = fault(s, "gateway-partition") {
            out.push(format!(
                "{}: with the gateway cut off from {} for {:.0} s (a partition, the process still \
                 running), {}; its slowest answer took {}; the users saw {}.",
                s.title,
                f.instance.as_deref().unwrap_or("an instance"),
                f.duration_seconds.unwrap_or(0.0),
                rotation_text(f),
                slowest(f),
                errors_text(f)
            ));
        }
        if let Some(f) = fault(s, "slow-store").filter(|_| s.strategy.uses_shared_store()) {
            out.push(format!(
                "{}: a store slower than the instances' timeout answered {} — {} writes were \
                 applied despite their error in the whole run.",
                s.title,
                errors_text(f),
                s.applied_despite_error
            ));
        }
        if let Some(f) = fault(s, "overload") {
            let p99 = f.window.as_ref().map_or(0.0, |w| w.instance_p99_ms);
            let share = overload_share(s, f);
            out.push(format!(
                "{}: while {} was overloaded its answers had a p99 of {p99:.0} ms; it served \
                 {:.0}% of the answers then against {:.0}% just before ({}).",
                s.title,
                f.instance.as_deref().unwrap_or("an instance"),
                share.1,
                share.0,
                if s.balance == "sticky" {
                    "sticky: its pinned users wait for it"
                } else {
                    "round-robin sends it its turn whatever it answers"
                }
            ));
        }
        let r = &s.retries;
        let left: u64 = r.errors_left_to_user.values().sum();
        out.push(format!(
            "{}: the users retried {} safe requests (GETs, and confirms with their \
             Idempotency-Key) with backoff; {} duplicate orders were prevented by the key; {left} \
             requests failed for good.",
            s.title, r.retries, r.duplicates_prevented
        ));
    }
}

/// The struck instance's share of the answers (percent) in the fault's
/// span and in as long a span just before.
fn overload_share(s: &StrategyResult, f: &FaultOutcome) -> (f64, f64) {
    let span = f.duration_seconds.unwrap_or(0.0);
    let share = |from: f64, to: f64| {
        let (mut mine, mut all) = (0u64, 0u64);
        for (id, points) in &s.instance_timeline {
            let n: u64 = points
                .iter()
                .filter(|p| p.t >= from && p.t < to)
                .map(|p| p.requests)
                .sum();
            all += n;
            if f.instance.as_deref() == Some(id.as_str()) {
                mine = n;
            }
        }
        if all == 0 {
            0.0
        } else {
            mine as f64 / all as f64 * 100.0
        }
    };
    (
        share(f.at_seconds - span, f.at_seconds),
        share(f.at_seconds, f.at_seconds + span),
    )
}

/// Session overhead (top) or requests/s against the store's distance, one
/// line per strategy of the distance phase.
pub(crate) fn distance_chart(results: &LabResults, overhead: bool) -> Result<String, String> {
    if results.distance.is_empty() {
        return Err("No distance phase ran.".to_owned());
    }
    let value = |p: &DistancePoint| {
        if overhead {
            p.overhead_ms.unwrap_or(0.0)
        } else {
            p.requests_per_second
        }
    };
    let right = results
        .distance
        .iter()
        .map(|p| p.rtt_ms)
        .fold(0.1, f64::max);
    let top = results.distance.iter().map(value).fold(0.1, f64::max);
    let bottom = results.distance.iter().map(value).fold(0.0, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..right * 1.05, bottom..top * 1.15)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_desc("round-trip time between the instances and the store, ms")
            .y_desc(if overhead {
                "stateful - stateless ms"
            } else {
                "requests/s"
            })
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(failed)?;
        if overhead {
            // The formula: RTT + the shared store's loopback overhead.
            let base = points_of(results, Strategy::SharedStore)
                .iter()
                .find(|p| p.rtt_ms == 0.0)
                .and_then(|p| p.overhead_ms)
                .unwrap_or(0.0);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, base), (right, right + base)],
                    6,
                    4,
                    RGBColor(90, 90, 90).stroke_width(1),
                ))
                .map_err(failed)?;
        }
        for (n, s) in results.strategies.iter().enumerate() {
            let line: Vec<(f64, f64)> = points_of(results, s.strategy)
                .iter()
                .map(|p| (p.rtt_ms, value(p)))
                .collect();
            if line.is_empty() {
                continue;
            }
            let c = colour(n);
            chart
                .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                .map_err(failed)?;
            chart
                .draw_series(line.into_iter().map(|xy| Circle::new(xy, 4, c.filled())))
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// One strategy's instances over the run: answers per second (or p99 ms,
/// log scale), one line per instance, the network faults as bands.
pub(crate) fn instances_chart(s: &StrategyResult, p99: bool) -> Result<String, String> {
    let width = 0.5;
    let value = |requests: u64, p99_ms: f64| {
        if p99 { p99_ms } else { requests as f64 / width }
    };
    let right = s
        .instance_timeline
        .values()
        .flat_map(|points| points.iter().map(|p| p.t))
        .fold(1.0, f64::max);
    let top = s
        .instance_timeline
        .values()
        .flat_map(|points| points.iter().map(|p| value(p.requests, p.p99_ms)))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(12)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(72);
        let y_desc = if p99 { "p99 ms" } else { "answers/s" };
        if p99 {
            let mut chart = builder
                .build_cartesian_2d(0.0..right, (0.1..top * 1.5).log_scale())
                .map_err(failed)?;
            chart
                .configure_mesh()
                .x_desc("seconds from the start of the load")
                .y_desc(y_desc)
                .label_style((FONT, LABEL))
                .axis_desc_style((FONT, LABEL))
                .draw()
                .map_err(failed)?;
            for (n, points) in s.instance_timeline.values().enumerate() {
                let line = points
                    .iter()
                    .filter(|p| p.requests > 0)
                    .map(|p| (p.t, p.p99_ms.max(0.1)));
                chart
                    .draw_series(LineSeries::new(line, colour(n).stroke_width(2)))
                    .map_err(failed)?;
            }
        } else {
            let mut chart = builder
                .build_cartesian_2d(0.0..right, 0.0..top * 1.15)
                .map_err(failed)?;
            chart
                .configure_mesh()
                .x_desc("seconds from the start of the load")
                .y_desc(y_desc)
                .label_style((FONT, LABEL))
                .axis_desc_style((FONT, LABEL))
                .draw()
                .map_err(failed)?;
            for f in s.faults.iter().filter(|f| f.duration_seconds.is_some()) {
                let to = f.at_seconds + f.duration_seconds.unwrap_or(0.0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(f.at_seconds, 0.0), (to, top * 1.15)],
                        RGBColor(120, 120, 120).mix(0.15).filled(),
                    )))
                    .map_err(failed)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        super::charts::fault_label(&f.kind).to_owned(),
                        (f.at_seconds, top * 1.12),
                        (FONT, LABEL),
                    )))
                    .map_err(failed)?;
            }
            for (n, points) in s.instance_timeline.values().enumerate() {
                let line = points.iter().map(|p| (p.t, value(p.requests, p.p99_ms)));
                chart
                    .draw_series(LineSeries::new(line, colour(n).stroke_width(2)))
                    .map_err(failed)?;
            }
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}
