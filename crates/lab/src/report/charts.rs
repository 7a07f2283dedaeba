//! The report's SVG charts, drawn with plotters: latency distributions,
//! errors over time with the fault moments marked, memory per session.

use plotters::prelude::*;

use crate::results::{LabResults, PERCENTILES};

/// One colour per strategy, distinguishable with colour-blindness (Okabe-Ito).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];
pub(crate) const SIZE: (u32, u32) = (820, 380);
pub(crate) const FONT: &str = "sans-serif";
/// Text size of labels and values: legible at 100% zoom.
pub(crate) const LABEL: u32 = 15;

/// The colour of strategy `n`, the same in every chart and legend.
pub(crate) fn colour(n: usize) -> RGBColor {
    COLOURS[n % COLOURS.len()]
}

/// Any drawing failure, as text.
pub(crate) fn failed<E: std::fmt::Display>(e: E) -> String {
    format!("chart: {e}")
}

/// Latency at each percentile, one line per strategy (log scale).
pub(crate) fn latency(results: &LabResults) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = results
            .strategies
            .iter()
            .flat_map(|s| s.percentiles.iter().map(|p| p.ms))
            .fold(1.0_f64, f64::max);
        let bottom = results
            .strategies
            .iter()
            .flat_map(|s| s.percentiles.iter().map(|p| p.ms))
            .fold(top, f64::min)
            .max(0.01);
        let last = (PERCENTILES.len() - 1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..last, (bottom * 0.8..top * 1.25).log_scale())
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_labels(PERCENTILES.len())
            .x_label_formatter(&|x| {
                let index = x.round().clamp(0.0, last) as usize;
                format!("p{}", PERCENTILES[index])
            })
            .y_desc("ms")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(failed)?;
        for (n, s) in results.strategies.iter().enumerate() {
            let c = colour(n);
            chart
                .draw_series(LineSeries::new(
                    s.percentiles
                        .iter()
                        .enumerate()
                        .map(|(x, p)| (x as f64, p.ms.max(bottom))),
                    c.stroke_width(2),
                ))
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Errors per second over the run, one line per strategy, the faults as
/// vertical lines.
pub(crate) fn errors(results: &LabResults) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let run = results.plan.run.as_secs_f64();
        let per_second = |errors: u64, width: f64| errors as f64 / width;
        let width = results
            .strategies
            .first()
            .and_then(|s| s.timeline.get(1).map(|p| p.t))
            .unwrap_or(0.5)
            .max(0.1);
        let top = results
            .strategies
            .iter()
            .flat_map(|s| s.timeline.iter().map(|p| per_second(p.errors, width)))
            .fold(1.0_f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..run, 0.0..top * 1.15)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_desc("seconds from the start of the load")
            .y_desc("errors/s")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(failed)?;
        if let Some(first) = results.strategies.first() {
            // Each fault as a labelled band over the time it lasted, so
            // it reads as an event, not as one more grid line.
            for (from, to, label) in fault_bands(&first.faults) {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(from, 0.0), (to, top * 1.15)],
                        RGBColor(120, 120, 120).mix(0.15).filled(),
                    )))
                    .map_err(failed)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        label,
                        (from, top * 1.12),
                        (FONT, LABEL),
                    )))
                    .map_err(failed)?;
            }
        }
        for (n, s) in results.strategies.iter().enumerate() {
            let c = colour(n);
            chart
                .draw_series(LineSeries::new(
                    s.timeline
                        .iter()
                        .filter(|p| p.t < run)
                        .map(|p| (p.t, per_second(p.errors, width))),
                    c.stroke_width(2),
                ))
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// A fault's name on a chart.
pub(crate) fn fault_label(kind: &str) -> &str {
    match kind {
        "store-stop" => "store stopped",
        "store-partition" => "store cut off",
        "gateway-partition" => "instance cut off",
        "slow-store" => "slow store",
        "overload" => "overload",
        other => other,
    }
}

/// The faults as (start, end, label) in seconds: the instance down from its
/// kill to its restart, each lasting fault for its span, the logout probe
/// briefly.
fn fault_bands(faults: &[crate::results::FaultOutcome]) -> Vec<(f64, f64, String)> {
    let at = |kind: &str| faults.iter().find(|f| f.kind == kind).map(|f| f.at_seconds);
    let mut bands = Vec::new();
    if let Some(kill) = at("kill") {
        let restart = at("restart").unwrap_or(kill + 1.0);
        bands.push((kill, restart.max(kill + 0.2), "instance down".to_owned()));
    }
    for f in faults {
        if let Some(span) = f.duration_seconds {
            let label = fault_label(&f.kind).to_owned();
            bands.push((f.at_seconds, f.at_seconds + span.max(0.2), label));
        }
    }
    if let Some(logout) = at("logout") {
        bands.push((logout, logout + 0.3, "logout".to_owned()));
    }
    bands
}

/// Server-side bytes per session, one bar per strategy, with the client's
/// bytes beside them.
pub(crate) fn memory(results: &LabResults) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let count = results.strategies.len();
        let top = results
            .strategies
            .iter()
            .flat_map(|s| {
                [
                    s.memory.server_bytes_per_session as f64,
                    s.memory.client_bytes_per_session,
                ]
            })
            .fold(1.0_f64, f64::max);
        let titles: Vec<String> = results.strategies.iter().map(|s| s.title.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..count as f64, 0.0..top * 1.2)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(count * 2 + 1)
            .x_label_formatter(&|x| {
                let slot = *x - x.floor();
                let index = x.floor() as usize;
                if (slot - 0.5).abs() < 0.01 {
                    titles.get(index).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("bytes")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(failed)?;
        for (n, s) in results.strategies.iter().enumerate() {
            let x = n as f64;
            let c = colour(n);
            let server = s.memory.server_bytes_per_session as f64;
            let client = s.memory.client_bytes_per_session;
            chart
                .draw_series([
                    Rectangle::new([(x + 0.12, 0.0), (x + 0.48, server)], c.filled()),
                    Rectangle::new([(x + 0.52, 0.0), (x + 0.88, client)], c.mix(0.35).filled()),
                ])
                .map_err(failed)?;
            chart
                .draw_series([
                    Text::new(
                        format!("{server:.0}"),
                        (x + 0.16, server + top * 0.04),
                        (FONT, LABEL),
                    ),
                    Text::new(
                        format!("{client:.0}"),
                        (x + 0.56, client + top * 0.04),
                        (FONT, LABEL),
                    ),
                ])
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}
