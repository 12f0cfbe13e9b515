//! `timeline.html`: one self-contained page showing what a run did — client operations per
//! process, fault windows, observations and the violations. Every value from the run is
//! HTML-escaped, so a history containing `<script>` renders as inert text.
use crate::run::RunReport;
use faultline_checkers::EventType;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values (shared with `check-history`'s
/// report, so both pages escape the same way).
pub use faultline_checkers::html::escape;

struct Bar {
    start: u64,
    end: u64,
    kind: EventType,
    label: String,
}

/// Renders the page.
pub fn render(r: &RunReport) -> String {
    let rec = &r.recording;
    let total = rec.sim_ns.max(1) as f64;
    let x = |ns: u64| ns as f64 / total * 100.0;
    // Pair invocations with completions per process.
    let mut open: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    let mut lanes: BTreeMap<u64, Vec<Bar>> = BTreeMap::new();
    for e in &rec.history.events {
        let label = format!("{} {} {}", e.f, e.key.as_deref().unwrap_or(""), e.value);
        if e.kind == EventType::Invoke {
            open.insert(e.process, (e.time_ns, label));
        } else if let Some((start, inv)) = open.remove(&e.process) {
            lanes.entry(e.process).or_default().push(Bar {
                start,
                end: e.time_ns,
                kind: e.kind,
                label: format!("{inv} → {:?} {}", e.kind, e.value),
            });
        }
    }
    for (p, (start, label)) in open {
        lanes.entry(p).or_default().push(Bar {
            start,
            end: rec.sim_ns,
            kind: EventType::Info,
            label: format!("{label} (never returned)"),
        });
    }
    let mut html = String::new();
    let title = format!(
        "{}{} seed {}",
        r.model,
        r.config
            .bug
            .as_deref()
            .map(|b| format!(" --bug {b}"))
            .unwrap_or_default(),
        r.seed
    );
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
body{{font:13px system-ui,sans-serif;margin:16px;color:#222}}\
.lane{{position:relative;height:18px;border-bottom:1px solid #eee}}\
.lane span.l{{position:absolute;left:0;width:70px;color:#666}}\
.track{{position:absolute;left:75px;right:0;top:0;bottom:0}}\
.op{{position:absolute;top:3px;height:12px;border-radius:2px;min-width:2px}}\
.ok{{background:#3a7}}.fail{{background:#d55}}.info{{background:#e9b23c}}\
.fault{{position:absolute;top:0;bottom:0;background:rgba(90,90,220,.12);border-left:1px solid #88c}}\
.obs{{position:absolute;top:2px;width:2px;height:14px;background:#555}}\
.v{{color:#b00}} table{{border-collapse:collapse}} td,th{{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}}\
</style></head><body><h1>{t}</h1>",
        t = escape(&title)
    );
    let _ = write!(
        html,
        "<p>verdict: <b>{}</b> · fingerprint {} · {} ops · {} messages · {} ms simulated</p>",
        if r.passed { "pass" } else { "fail" },
        escape(&r.fingerprint),
        r.stats.ops,
        r.stats.messages,
        r.stats.sim_ms
    );
    if !r.violations.is_empty() {
        html.push_str("<h2 class=\"v\">Violations</h2><ul>");
        for v in &r.violations {
            let _ = write!(
                html,
                "<li class=\"v\"><b>{}</b>: {}</li>",
                escape(&v.checker),
                escape(&v.message)
            );
        }
        html.push_str("</ul>");
    }
    if !r.findings.is_empty() {
        html.push_str("<h2>Findings</h2><ul>");
        for v in &r.findings {
            let _ = write!(
                html,
                "<li><b>{}</b>: {}</li>",
                escape(&v.checker),
                escape(&v.message)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("<h2>Timeline</h2><p>Bars: client operations (green ok, red fail, amber unknown). Shaded: fault windows. Ticks: observations. Hover for details.</p>");
    // Fault windows.
    let mut starts: BTreeMap<usize, (u64, String)> = BTreeMap::new();
    let mut windows = Vec::new();
    for f in &rec.faults {
        if f.phase == "start" {
            starts.insert(f.step, (f.at_ns, f.description.clone()));
        } else if let Some((s, d)) = starts.remove(&f.step) {
            windows.push((s, f.at_ns, d));
        }
    }
    for (_, (s, d)) in starts {
        windows.push((s, rec.sim_ns, d));
    }
    // A time axis with a tick every 1, 2, 5, 10... seconds, about ten in all.
    let total_ms = rec.sim_ns / 1_000_000;
    let step = [100u64, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000]
        .into_iter()
        .find(|s| total_ms / s <= 12)
        .unwrap_or(120_000);
    html.push_str("<div class=\"lane\"><span class=\"l\">ms</span><div class=\"track\">");
    for t in (0..=total_ms).step_by(step as usize) {
        let _ = write!(
            html,
            "<span style=\"position:absolute;left:{:.3}%;color:#888;border-left:1px solid #ccc;padding-left:2px\">{t}</span>",
            x(t * 1_000_000)
        );
    }
    html.push_str("</div></div>");
    html.push_str("<div class=\"lane\"><span class=\"l\">faults</span><div class=\"track\">");
    for (s, e, d) in &windows {
        let _ = write!(
            html,
            "<div class=\"fault\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{} ({}–{} ms)\"></div>",
            x(*s),
            (x(*e) - x(*s)).max(0.2),
            escape(d),
            s / 1_000_000,
            e / 1_000_000
        );
    }
    html.push_str("</div></div>");
    let mut by_node: BTreeMap<usize, Vec<&crate::recording::Observation>> = BTreeMap::new();
    for o in &rec.observations {
        by_node.entry(o.node).or_default().push(o);
    }
    for (node, obs) in by_node {
        let _ = write!(
            html,
            "<div class=\"lane\"><span class=\"l\">n{node}</span><div class=\"track\">"
        );
        for o in obs {
            let _ = write!(
                html,
                "<div class=\"obs\" style=\"left:{:.3}%\" title=\"{} ms: {} {}\"></div>",
                x(o.at_ns),
                o.at_ns / 1_000_000,
                escape(&o.kind),
                escape(&o.data.to_string())
            );
        }
        html.push_str("</div></div>");
    }
    for (p, bars) in lanes {
        let _ = write!(
            html,
            "<div class=\"lane\"><span class=\"l\">p{p}</span><div class=\"track\">"
        );
        for b in bars {
            let class = match b.kind {
                EventType::Ok => "ok",
                EventType::Fail => "fail",
                _ => "info",
            };
            let _ = write!(
                html,
                "<div class=\"op {class}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{} ms: {}\"></div>",
                x(b.start),
                (x(b.end) - x(b.start)).max(0.1),
                b.start / 1_000_000,
                escape(&b.label)
            );
        }
        html.push_str("</div></div>");
    }
    html.push_str("<h2>Fault schedule</h2><table><tr><th>step</th><th>at ms</th><th>for ms</th><th>fault</th></tr>");
    for (i, s) in r.steps.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i,
            s.at_ms,
            s.for_ms
                .map(|d| d.to_string())
                .unwrap_or_else(|| "∞".into()),
            escape(&s.fault.to_string())
        );
    }
    html.push_str("</table></body></html>\n");
    html
}
