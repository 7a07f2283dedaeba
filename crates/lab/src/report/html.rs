//! `report.html`: one self-contained page (inline SVG, no script, no CDN).

use std::fmt::Write as _;

use super::{COLUMNS, charts, network};
use crate::results::LabResults;
use plotters::style::RGBColor;

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A chart in a `<figure>` with its caption and its legend (in HTML, off
/// the data: one swatch per strategy), or the reason it is missing.
fn figure(out: &mut String, results: &LabResults, caption: &str, svg: Result<String, String>) {
    let titles: Vec<&str> = results
        .strategies
        .iter()
        .map(|s| s.title.as_str())
        .collect();
    labelled_figure(out, &titles, caption, svg);
}

/// A chart in a `<figure>` with one legend swatch per label, in order.
fn labelled_figure(out: &mut String, labels: &[&str], caption: &str, svg: Result<String, String>) {
    let body = svg.unwrap_or_else(|err| format!("<p>{}</p>", escape(&err)));
    let body = body.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", escape(caption)),
        1,
    );
    let mut legend = String::from("<ul class=\"legend\">");
    for (n, label) in labels.iter().enumerate() {
        let RGBColor(r, g, b) = charts::colour(n);
        let _ = write!(
            legend,
            "<li><span class=\"swatch\" style=\"background:rgb({r},{g},{b})\"></span>{}</li>",
            escape(label)
        );
    }
    legend.push_str("</ul>");
    let _ = write!(
        out,
        "<figure>{body}{legend}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

/// What the load was sent to: the lab's own clusters and their balancer,
/// or a deployment it did not start.
fn setting(results: &LabResults) -> String {
    if let Some(url) = results.target.as_ref().map(|t| &t.url) {
        return format!(
            "the deployment at {url} (the lab started none of its parts: the faults its \
             control API allowed, the others skipped and said so)"
        );
    }
    let balancer = match results.plan.balancer.as_str() {
        "haproxy" => "HAProxy (statecraft's gateway behind it for the control routes)",
        "nginx" => "nginx (statecraft's gateway behind it for the control routes)",
        _ => "statecraft's gateway",
    };
    format!("{} instances behind {balancer}", results.plan.instances)
}

/// The whole page.
pub fn html(results: &LabResults) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>statecraft lab report</title><style>\
         body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}\
         table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:right}\
         th:first-child,td:first-child{text-align:left}figure{margin:1.5rem 0}svg{max-width:100%;height:auto}\
         caption{text-align:left;font-weight:bold;padding:.3rem 0}\
         .legend{list-style:none;display:flex;flex-wrap:wrap;gap:1.2rem;padding:0;margin:.4rem 0;font-size:1rem}\
         .swatch{display:inline-block;width:1.4rem;height:.35rem;margin-right:.4rem;vertical-align:middle}\
         dt{font-weight:bold;margin-top:.4rem}dd{margin-left:1.2rem}figcaption{color:#555}\
         </style></head><body><main>",
    );
    let _ = write!(
        out,
        "<h1>statecraft lab report</h1><p>{} run: {} users per strategy for {:.0} s each on a \
         {}-core machine; {}; shared store: {}; network: {}. Faults at the \
         same moments for every strategy: {}. Then the store at each distance: {}.</p>",
        if results.quick { "Quick" } else { "Full" },
        results.plan.users,
        results.plan.run.as_secs_f64(),
        results.cores,
        escape(&setting(results)),
        escape(&results.shared_store),
        results.network.describe(),
        {
            let faults = results.plan.faults();
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            }
        },
        if results.plan.store_rtts.is_empty() {
            "none".to_owned()
        } else {
            results
                .plan
                .store_rtts
                .iter()
                .map(|d| format!("{} ms", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    out.push_str("<h2>What this run shows</h2><ul class=\"findings\">");
    for finding in &results.findings {
        let _ = write!(out, "<li>{}</li>", escape(finding));
    }
    out.push_str("</ul>");
    out.push_str("<table><caption>Side by side</caption><thead><tr>");
    for (heading, _, _) in COLUMNS {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(heading));
    }
    out.push_str("</tr></thead><tbody>");
    for s in &results.strategies {
        out.push_str("<tr>");
        for (i, (_, _, cell)) in COLUMNS.iter().enumerate() {
            let tag = if i == 0 { "th scope=\"row\"" } else { "td" };
            let end = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}>{}</{end}>", escape(&cell(s)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out.push_str("<h2>What each column means</h2><dl>");
    for (heading, meaning, _) in COLUMNS {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            escape(heading),
            escape(meaning)
        );
    }
    out.push_str("</dl>");
    figure(
        &mut out,
        results,
        "Latency by percentile: how long the slowest 50%, 10%, 1%… of answers took (log scale)",
        charts::latency(results),
    );
    figure(
        &mut out,
        results,
        "Errors per second over the run; the shaded bands are the faults (instance down, store stopped, logout probe)",
        charts::errors(results),
    );
    figure(
        &mut out,
        results,
        "Bytes per session: kept on the server (solid) and carried by the client (light)",
        charts::memory(results),
    );
    out.push_str("<h2>The store at a distance</h2>");
    figure(
        &mut out,
        results,
        "Session overhead (T_stateful − T_stateless, one instance) against the round-trip time \
         to the store; the dashed line is the seed's formula, RTT + the shared store's overhead \
         on loopback",
        network::distance_chart(results, true),
    );
    figure(
        &mut out,
        results,
        "Requests per second through the gateway at the same users, against the round-trip time \
         to the store",
        network::distance_chart(results, false),
    );
    out.push_str(&super::failover::failover_section(results, escape));
    out.push_str("<h2>Instance by instance</h2>");
    for s in &results.strategies {
        let ids: Vec<&str> = s.instance_timeline.keys().map(String::as_str).collect();
        labelled_figure(
            &mut out,
            &ids,
            &format!(
                "{}: answers per second from each instance (none: no instance answered); the \
                 bands are the faults",
                s.title
            ),
            network::instances_chart(s, false),
        );
        labelled_figure(
            &mut out,
            &ids,
            &format!(
                "{}: each instance's p99 answer time per half second (log scale)",
                s.title
            ),
            network::instances_chart(s, true),
        );
    }
    out.push_str("<h2>Errors by code</h2>");
    for s in &results.strategies {
        let _ = write!(out, "<h3>{}</h3>", escape(&s.title));
        if s.errors.is_empty() {
            out.push_str("<p>No errors.</p>");
            continue;
        }
        out.push_str("<ul>");
        for (code, count) in &s.errors {
            let _ = write!(out, "<li><code>{}</code>: {count}</li>", escape(code));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Faults as injected</h2>");
    for s in &results.strategies {
        let _ = write!(out, "<h3>{}</h3><ul>", escape(&s.title));
        for f in &s.faults {
            let _ = write!(
                out,
                "<li>{:.1} s, {}: {}{}{}</li>",
                f.at_seconds,
                escape(&f.kind),
                escape(&f.detail),
                f.detected_seconds
                    .map(|d| format!(" (out of rotation after {d:.2} s)"))
                    .unwrap_or_default(),
                f.recovered_seconds
                    .map(|r| format!(" (back in rotation {r:.2} s later)"))
                    .unwrap_or_default()
            );
        }
        for note in &s.notes {
            let _ = write!(out, "<li>note: {}</li>", escape(note));
        }
        out.push_str("</ul>");
    }
    out.push_str(
        "<p>Every figure above was measured in this run; <code>results.json</code> beside this \
         page holds them all.</p></main></body></html>",
    );
    out
}
