//! `timeline.html`: one self-contained page showing what a run did — the failure story first,
//! then a timeline with a lane per fault step, per server node and per client, operations as
//! bars (green ok, red fail, amber unknown), fault windows shaded across the lanes they affect,
//! the final phase and the violation marked, and the operations the violation involves
//! outlined.
//!
//! The page has no scripts and fetches nothing: zooming is pure CSS (radio buttons widen the
//! scrollable track), so it opens anywhere, including from a CI artifact store that serves files
//! with a strict content policy. Every value from the run (history values, keys, observation
//! kinds and data, fault descriptions, model and bug names, findings) is HTML-escaped, so a
//! history containing `<script>` renders as inert text.
use crate::recording::{FaultEvent, Recording};
use crate::run::RunReport;
use crate::story::{show, story, story_whole, Beat, OpRef};

/// Runs at most this big (fault steps, operations) get their story told whole.
const WHOLE_STORY_STEPS: usize = 12;
const WHOLE_STORY_OPS: usize = 40;
use faultline_checkers::EventType;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values (shared with `check-history`'s
/// report, so both pages escape the same way).
pub use faultline_checkers::html::escape;

/// Zoom levels offered (track width as a multiple of the window).
const ZOOMS: &[u32] = &[1, 2, 4, 8, 16, 32];
/// Width of the lane labels (px).
const LABEL_PX: u32 = 120;

const CSS: &str = "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.08em;margin:1.2em 0 .4em}
.meta{color:#555}.pass{color:#1a7f37;font-weight:600}.failv{color:#b00;font-weight:600}.undec{color:#9a6700;font-weight:600}
.story{background:#fff8e6;border:1px solid #f0d48a;border-radius:6px;padding:.5em 1em;max-width:1100px}
.story ol{margin:.3em 0;padding-left:1.2em}.story li{margin:.1em 0}
.story .t{display:inline-block;min-width:5.5em;color:#666;font-variant-numeric:tabular-nums}
.b-fault{color:#2c4fa8}.b-obs{color:#555}.b-op{color:#222}.b-viol{color:#b00;font-weight:600}
.v{color:#b00}
.zoom{margin:.3em 0}.zoom input{display:none}
.zoom label{border:1px solid #bbb;border-radius:3px;padding:0 6px;margin-right:2px;cursor:pointer;color:#444}
.legend span{display:inline-block;margin-right:12px}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:3px;border-radius:2px}
.wrap{overflow-x:auto;border:1px solid #ccc;background:#fff;margin:.3em 0 1em}
.tl{position:relative;width:100%}
.row{position:relative;display:flex;height:20px;border-bottom:1px solid #f0f0f0}
.row.sep{border-top:1px solid #bbb}
.lbl{position:sticky;left:0;z-index:5;flex:none;width:LABELpx;background:#fafafa;border-right:1px solid #ddd;
padding:2px 4px;box-sizing:border-box;font-size:11px;color:#444;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.track{position:relative;flex:1;overflow:hidden}
.bands{position:absolute;left:LABELpx;right:0;top:0;bottom:0;pointer-events:none;z-index:1;overflow:hidden}
.band{position:absolute;top:0;bottom:0}
.band.partition{background:rgba(70,110,230,.10);border-left:1px solid rgba(70,110,230,.5)}
.band.network{background:rgba(240,150,30,.10);border-left:1px solid rgba(240,150,30,.5)}
.band.other{background:rgba(120,120,120,.08)}
.band.final{background:repeating-linear-gradient(135deg,rgba(0,0,0,.04),rgba(0,0,0,.04) 6px,transparent 6px,transparent 12px);border-left:1px dashed #999}
.band.viol{width:0;border-left:2px solid #d00}
.tick{position:absolute;top:2px;font-size:10px;color:#888;border-left:1px solid #ccc;padding-left:2px;white-space:nowrap}
.win{position:absolute;top:3px;height:14px;border-radius:2px;font-size:10px;line-height:14px;color:#fff;
white-space:nowrap;overflow:hidden;padding:0 3px;box-sizing:border-box;min-width:2px;z-index:2}
.win.partition{background:#5b7be0}.win.crash{background:#444}.win.network{background:#e8962e}
.win.skew{background:#8a5cc7}.win.pause{background:#b07d2b}.win.other{background:#888}
.win.power{background:#7a1f1f}.win.disk{background:#1f7a7a}
.mark{position:absolute;top:2px;width:0;height:0;border-left:6px solid transparent;border-right:6px solid transparent;
border-top:14px solid #c0007a;margin-left:-6px;z-index:4}
.mark.hit{border-top-color:#6a1fc0}.mark.skipped{border-top-color:#c8c8c8}
.obs{position:absolute;top:5px;width:2px;height:10px;background:#a4abb5;z-index:3;margin-left:-1px}
.obs.rare{background:#1f6feb;width:5px;margin-left:-2px}
.op{position:absolute;top:3px;height:14px;border-radius:2px;min-width:2px;font-size:10px;line-height:14px;
color:#fff;white-space:nowrap;overflow:hidden;padding:0 2px;box-sizing:border-box;z-index:2}
.op.ok{background:#2f9e5b}.op.fail{background:#d9534f}.op.info{background:#e9a520}
.op.hl{outline:2px solid #d00;outline-offset:1px;z-index:4;box-shadow:0 0 0 4px rgba(220,0,0,.25)}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}";

/// One operation, invocation to completion.
struct Bar {
    process: u64,
    start: u64,
    end: u64,
    kind: EventType,
    short: String,
    label: String,
}

/// Which client (`0..clients`) issued each process's operations; `None`: the final reads. Each
/// client starts as process `i` and, after an op with an unknown outcome (`info`), continues as
/// the next fresh process id — handed out in the order the `info` completions happen.
fn clients_of(rec: &Recording, clients: usize) -> BTreeMap<u64, Option<usize>> {
    let mut map: BTreeMap<u64, Option<usize>> = BTreeMap::new();
    let mut next = clients as u64;
    for e in &rec.history.events {
        if e.process >= rec.final_process_base {
            map.insert(e.process, None);
            continue;
        }
        if e.process < clients as u64 {
            map.entry(e.process).or_insert(Some(e.process as usize));
        }
        if e.kind == EventType::Info {
            if let Some(&Some(c)) = map.get(&e.process) {
                map.entry(next).or_insert(Some(c));
            }
            next += 1;
        }
    }
    map
}

/// How a fault is drawn: its band class (for faults that affect every lane), the node lanes it
/// belongs on (crash, pause, clock skew), and its bar class. Decided by the fault's kind name,
/// so kinds added later still get a lane and a neutral band.
fn look(f: &FaultEvent) -> (&'static str, Vec<usize>, &'static str) {
    match f.kind.as_str() {
        "partition" => ("partition", vec![], "partition"),
        "crash" => ("other", f.nodes.clone(), "crash"),
        "power-loss" => ("other", f.nodes.clone(), "power"),
        "disk-error" => ("other", f.nodes.clone(), "disk"),
        "pause" => ("other", f.nodes.clone(), "pause"),
        "clock-skew" => ("other", f.nodes.clone(), "skew"),
        "loss" | "duplicate" | "delay" => ("network", vec![], "network"),
        _ => ("other", vec![], "other"),
    }
}

struct Window {
    step: usize,
    start: u64,
    end: u64,
    description: String,
    band: &'static str,
    /// Node lanes it is drawn on; empty: it affects every lane (a full-height band).
    nodes: Vec<usize>,
    class: &'static str,
}

/// The fault-log events drawn as marks on a node's lane: `corrupt`/`misdirect` strikes, a
/// misdirected write landing (`hit`), and a strike skipped for the budget.
fn marks(rec: &Recording) -> impl Iterator<Item = &FaultEvent> {
    rec.faults.iter().filter(|f| match f.phase.as_str() {
        "strike" | "hit" => true,
        "skip" => matches!(f.kind.as_str(), "corrupt" | "misdirect"),
        _ => false,
    })
}

/// Fault windows from the fault log, each drawn by its kind and nodes.
fn windows(rec: &Recording) -> Vec<Window> {
    let mut out: Vec<Window> = rec
        .windows()
        .into_iter()
        .map(|(start, end, f)| {
            let (band, nodes, class) = look(f);
            Window {
                step: f.step,
                start,
                end,
                description: f.description.clone(),
                band,
                nodes,
                class,
            }
        })
        .collect();
    out.sort_by_key(|w| (w.step, w.start));
    out
}

fn bars(rec: &Recording) -> Vec<Bar> {
    let mut open: BTreeMap<u64, (u64, &str, Option<&str>, &serde_json::Value)> = BTreeMap::new();
    let mut out = Vec::new();
    let short = |f: &str,
                 key: Option<&str>,
                 input: &serde_json::Value,
                 output: Option<&serde_json::Value>| {
        let k = key.unwrap_or("");
        match (f, output) {
            ("read" | "get", Some(o)) => format!("r {k} {}", show(o)),
            ("read" | "get", None) => format!("r {k}"),
            // A custom op's result (a `pop`'s element), as the history records it.
            (f, Some(o)) if !o.is_null() && !matches!(f, "write" | "put" | "append" | "cas") => {
                format!(
                    "{} {k} {} → {}",
                    f.chars().next().unwrap_or('?'),
                    show(input),
                    show(o)
                )
            }
            (f, _) => format!("{} {k} {}", f.chars().next().unwrap_or('?'), show(input)),
        }
    };
    for e in &rec.history.events {
        if e.kind == EventType::Invoke {
            open.insert(e.process, (e.time_ns, &e.f, e.key.as_deref(), &e.value));
        } else if let Some((start, f, key, input)) = open.remove(&e.process) {
            let out_v = (e.kind == EventType::Ok).then_some(&e.value);
            out.push(Bar {
                process: e.process,
                start,
                end: e.time_ns,
                kind: e.kind,
                short: short(f, key, input, out_v),
                label: format!(
                    "p{} {f} {} {} → {:?} {} ({}–{} ms)",
                    e.process,
                    key.unwrap_or(""),
                    show(input),
                    e.kind,
                    show(&e.value),
                    start / 1_000_000,
                    e.time_ns / 1_000_000
                ),
            });
        }
    }
    for (p, (start, f, key, input)) in open {
        out.push(Bar {
            process: p,
            start,
            end: rec.sim_ns,
            kind: EventType::Info,
            short: short(f, key, input, None),
            label: format!(
                "p{p} {f} {} {} (never returned; invoked at {} ms)",
                key.unwrap_or(""),
                show(input),
                start / 1_000_000
            ),
        });
    }
    out
}

/// Renders the page.
pub fn render(r: &RunReport) -> String {
    let rec = &r.recording;
    let total = rec.sim_ns.max(1) as f64;
    let x = |ns: u64| (ns as f64 / total * 100.0).min(100.0);
    let w = |a: u64, b: u64, min: f64| (x(b) - x(a)).max(min).min(100.0 - x(a));
    // A small run (a shrunk reproducer) is told whole, every step and operation; a big one
    // keeps the story to the few lines that explain its violation.
    let small = r.steps.len() <= WHOLE_STORY_STEPS
        && r.recording.history.events.len() <= 2 * WHOLE_STORY_OPS;
    let tale = if small {
        story_whole(r, None)
    } else {
        story(r, None)
    };
    let highlighted: BTreeSet<OpRef> = tale.ops.iter().copied().collect();
    let mut html = String::new();
    let title = r.label();
    let mut css = CSS.replace("LABELpx", &format!("{LABEL_PX}px"));
    for z in ZOOMS.iter().skip(1) {
        let _ = write!(css, "\n.tk{z}{{display:none}}");
    }
    for z in ZOOMS {
        let _ = write!(css, "\n#z{z}:checked~.wrap .tl{{width:{}%}}", z * 100);
        for finer in ZOOMS.iter().skip(1).filter(|f| *f <= z) {
            let _ = write!(css, "\n#z{z}:checked~.wrap .tk{finer}{{display:block}}");
        }
        let _ = write!(
            css,
            "\n#z{z}:checked~label[for=z{z}]{{background:#333;color:#fff}}"
        );
    }
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>{css}</style></head><body><h1>{t}</h1>",
        t = escape(&title)
    );
    let _ = write!(
        html,
        "<p class=\"meta\">verdict: <span class=\"{}\">{}</span> · fingerprint {} · {} nodes, {} clients · {} ops ({} ok, {} fail, {} unknown) · {} messages · {} fault steps · {} ms simulated</p>",
        match r.verdict() {
            crate::run::Verdict::Pass => "pass",
            crate::run::Verdict::Fail => "failv",
            crate::run::Verdict::Undecided => "undec",
        },
        match r.verdict() {
            crate::run::Verdict::Pass => "pass",
            crate::run::Verdict::Fail => "FAIL",
            crate::run::Verdict::Undecided => "UNDECIDED (a checker ran out of its work budget)",
        },
        escape(&r.fingerprint),
        r.config.nodes,
        r.config.clients,
        r.stats.ops,
        r.stats.ok,
        r.stats.fail,
        r.stats.info,
        r.stats.messages,
        r.stats.faults,
        r.stats.sim_ms
    );
    if r.verdict() == crate::run::Verdict::Fail {
        html.push_str("<div class=\"story\"><h2>Failure story</h2><ol>");
        for l in &tale.lines {
            let class = match l.beat {
                Beat::Fault => "b-fault",
                Beat::Observation => "b-obs",
                Beat::Op => "b-op",
                Beat::Violation => "b-viol",
            };
            let _ = write!(
                html,
                "<li class=\"{class}\"><span class=\"t\">{} ms</span>{}</li>",
                l.at_ms,
                escape(&l.text)
            );
        }
        html.push_str("</ol></div>");
    }
    if !r.violations.is_empty() {
        html.push_str("<h2 class=\"v\">Violations</h2><ul>");
        for v in &r.violations {
            let _ = write!(
                html,
                "<li class=\"v\"><b>{}</b>{}: {}</li>",
                escape(&v.checker),
                v.at_ms.map(|t| format!(" at {t} ms")).unwrap_or_default(),
                escape(v.message.lines().next().unwrap_or(""))
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

    html.push_str("<h2>Timeline</h2><div class=\"legend\">\
<span><i class=\"sw\" style=\"background:#2f9e5b\"></i>ok</span>\
<span><i class=\"sw\" style=\"background:#d9534f\"></i>fail (did not take effect)</span>\
<span><i class=\"sw\" style=\"background:#e9a520\"></i>unknown (timeout, may take effect)</span>\
<span><i class=\"sw\" style=\"background:#fff;outline:2px solid #d00\"></i>involved in the violation</span>\
<span><i class=\"sw\" style=\"background:rgba(70,110,230,.3)\"></i>partition</span>\
<span><i class=\"sw\" style=\"background:rgba(240,150,30,.35)\"></i>loss / duplication / delay</span>\
<span><i class=\"sw\" style=\"background:#444\"></i>crash</span>\
<span><i class=\"sw\" style=\"background:#7a1f1f\"></i>power loss</span>\
<span><i class=\"sw\" style=\"background:#1f7a7a\"></i>disk errors</span>\
<span><i class=\"sw\" style=\"background:#c0007a\"></i>corruption strike (corrupt, misdirect armed)</span>\
<span><i class=\"sw\" style=\"background:#6a1fc0\"></i>misdirected write landed</span>\
<span><i class=\"sw\" style=\"background:#c8c8c8\"></i>strike skipped (budget)</span>\
<span><i class=\"sw\" style=\"background:#b07d2b\"></i>pause</span>\
<span><i class=\"sw\" style=\"background:#8a5cc7\"></i>clock skew</span>\
<span><i class=\"sw\" style=\"background:#a4abb5\"></i>observation</span>\
<span><i class=\"sw\" style=\"background:#1f6feb\"></i>notable observation</span>\
<span><i class=\"sw\" style=\"border-left:2px solid #d00\"></i>violation</span>\
</div><p class=\"meta\">Hover a bar or tick for details.</p>");
    // Zoom: radio buttons, then the scrollable track they widen (siblings, for the CSS).
    html.push_str("<div class=\"zoom\">zoom: ");
    for z in ZOOMS {
        let _ = write!(
            html,
            "<input type=\"radio\" name=\"zoom\" id=\"z{z}\"{}><label for=\"z{z}\">{z}×</label>",
            if *z == 1 { " checked" } else { "" }
        );
    }
    html.push_str("<div class=\"wrap\"><div class=\"tl\">");

    // Full-height bands: partitions and network faults affect every lane; then the final
    // phase and the violations.
    let wins = windows(rec);
    html.push_str("<div class=\"bands\">");
    for win in wins.iter().filter(|w| w.nodes.is_empty()) {
        let _ = write!(
            html,
            "<div class=\"band {}\" style=\"left:{:.3}%;width:{:.3}%\"></div>",
            win.band,
            x(win.start),
            w(win.start, win.end, 0.15)
        );
    }
    if rec.final_phase_ns > 0 {
        let _ = write!(
            html,
            "<div class=\"band final\" style=\"left:{:.3}%;right:0\"></div>",
            x(rec.final_phase_ns)
        );
    }
    for v in &r.violations {
        if let Some(t) = v.at_ms {
            let _ = write!(
                html,
                "<div class=\"band viol\" style=\"left:{:.3}%\"></div>",
                x(t * 1_000_000)
            );
        }
    }
    html.push_str("</div>");

    // The time axis: about ten ticks per screen width at every zoom level. A tick first needed
    // at zoom `z` has class `tk{z}` and shows from that zoom on (pure CSS, see `render`).
    let total_ms = rec.sim_ns / 1_000_000;
    let nice = |per_screen_ms: u64| {
        [
            1u64, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000,
        ]
        .into_iter()
        .find(|s| per_screen_ms / s <= 12)
        .unwrap_or(120_000)
    };
    html.push_str("<div class=\"row\"><div class=\"lbl\">time (ms)</div><div class=\"track\">");
    let final_x = (rec.final_phase_ns > 0).then(|| x(rec.final_phase_ns));
    let mut shown: BTreeSet<u64> = BTreeSet::new();
    for z in ZOOMS {
        let step = nice(total_ms / u64::from(*z));
        for t in (0..=total_ms).step_by(step as usize) {
            // Leave room for the "final phase" label (at 1x; zoomed in there is room).
            let near_final = final_x.is_some_and(|f| {
                let (dx, z) = (x(t * 1_000_000) - f, f64::from(*z));
                dx > -3.0 / z && dx < 7.0 / z
            });
            if near_final || !shown.insert(t) {
                continue;
            }
            let _ = write!(
                html,
                "<span class=\"tick tk{z}\" style=\"left:{:.3}%\">{t}</span>",
                x(t * 1_000_000)
            );
        }
    }
    if rec.final_phase_ns > 0 {
        let _ = write!(
            html,
            "<span class=\"tick\" style=\"left:{:.3}%;color:#555\" title=\"heal everything, restart crashed nodes, settle, final reads\">final phase</span>",
            x(rec.final_phase_ns)
        );
    }
    html.push_str("</div></div>");

    // One lane per fault step.
    for win in &wins {
        let d = escape(&win.description);
        let _ = write!(
            html,
            "<div class=\"row\"><div class=\"lbl\" title=\"{d}\">step {}: {d}</div><div class=\"track\">\
<div class=\"win {}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{d} ({}–{} ms)\">{d}</div></div></div>",
            win.step + 1,
            win.class,
            x(win.start),
            w(win.start, win.end, 0.15),
            win.start / 1_000_000,
            win.end / 1_000_000
        );
    }

    // One lane per server node: its crash and skew windows, and what it reported.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &rec.observations {
        *counts.entry(o.kind.as_str()).or_default() += 1;
    }
    // Notable: as in the failure story, a kind reported at most a couple of times per fault.
    let rare = wins.len() + 2;
    let nodes = rec.nodes.max(r.config.nodes).max(
        rec.observations
            .iter()
            .map(|o| o.node + 1)
            .max()
            .unwrap_or(0),
    );
    for node in 0..nodes {
        let _ = write!(
            html,
            "<div class=\"row{}\"><div class=\"lbl\">node n{node}</div><div class=\"track\">",
            if node == 0 { " sep" } else { "" }
        );
        for win in wins.iter().filter(|w| w.nodes.contains(&node)) {
            let d = escape(&win.description);
            let _ = write!(
                html,
                "<div class=\"win {}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{d} ({}–{} ms)\">{d}</div>",
                win.class,
                x(win.start),
                w(win.start, win.end, 0.15),
                win.start / 1_000_000,
                win.end / 1_000_000
            );
        }
        // Instantaneous storage faults on this node: corruption strikes, misdirected writes
        // landing, and strikes the corruption budget skipped (each with its reason).
        for f in marks(rec).filter(|f| f.nodes.contains(&node)) {
            let _ = write!(
                html,
                "<div class=\"mark{}\" style=\"left:{:.3}%\" title=\"{} ms: {}\"></div>",
                match f.phase.as_str() {
                    "hit" => " hit",
                    "skip" => " skipped",
                    _ => "",
                },
                x(f.at_ns),
                f.at_ns / 1_000_000,
                escape(&f.description)
            );
        }
        for o in rec.observations.iter().filter(|o| o.node == node) {
            let _ = write!(
                html,
                "<div class=\"obs{}\" style=\"left:{:.3}%\" title=\"n{node} at {} ms: {} {}\"></div>",
                // A fired buggify point is always marked: it is a fault the run injected.
                if counts[o.kind.as_str()] <= rare || o.kind == crate::buggify::OBSERVATION {
                    " rare"
                } else {
                    ""
                },
                x(o.at_ns),
                o.at_ns / 1_000_000,
                escape(&o.kind),
                escape(&o.data.to_string())
            );
        }
        html.push_str("</div></div>");
    }

    // One lane per client (its successive processes), then the final reads.
    let client_of = clients_of(rec, r.config.clients);
    let mut lanes: BTreeMap<Option<usize>, Vec<Bar>> = BTreeMap::new();
    for b in bars(rec) {
        let lane = client_of.get(&b.process).copied().unwrap_or(None);
        lanes.entry(lane).or_default().push(b);
    }
    let mut lane_order: Vec<Option<usize>> =
        lanes.keys().filter(|k| k.is_some()).copied().collect();
    if lanes.contains_key(&None) {
        lane_order.push(None);
    }
    for (i, lane) in lane_order.into_iter().enumerate() {
        let bars = &lanes[&lane];
        let procs: BTreeSet<u64> = bars.iter().map(|b| b.process).collect();
        let procs: Vec<String> = procs.iter().map(|p| format!("p{p}")).collect();
        let name = match lane {
            Some(c) => format!("client c{c}"),
            None => "final reads".into(),
        };
        let _ = write!(
            html,
            "<div class=\"row{}\"><div class=\"lbl\" title=\"processes {}\">{name} ({})</div><div class=\"track\">",
            if i == 0 { " sep" } else { "" },
            procs.join(", "),
            procs.join(",")
        );
        for b in bars {
            let class = match b.kind {
                EventType::Ok => "ok",
                EventType::Fail => "fail",
                _ => "info",
            };
            let hl = highlighted.contains(&OpRef {
                process: b.process,
                invoke_ns: b.start,
            });
            let _ = write!(
                html,
                "<div class=\"op {class}{}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{}{}\">{}</div>",
                if hl { " hl" } else { "" },
                x(b.start),
                w(b.start, b.end, 0.1),
                escape(&b.label),
                if hl { " — involved in the violation" } else { "" },
                escape(&b.short)
            );
        }
        html.push_str("</div></div>");
    }
    html.push_str("</div></div></div>");

    html.push_str("<h2>Fault schedule (the steps that ran)</h2><table><tr><th>step</th><th>at ms</th><th>for ms</th><th>fault</th><th>how it ran</th></tr>");
    for (i, s) in r.steps.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            s.at_ms,
            match s.for_ms {
                Some(d) => d.to_string(),
                None if s.fault.instantaneous() => "strikes once".into(),
                None => "until the final phase".into(),
            },
            escape(&s.fault.to_string()),
            escape(s.trigger.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</table></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Event, History};
    use serde_json::json;

    #[test]
    fn processes_map_to_their_clients() {
        let mut h = History::default();
        // Client 1's op times out: it continues as process 2 (the first fresh id).
        h.push(Event::invoke(0, "write", Some("k"), json!(1), 1));
        h.push(Event::invoke(1, "write", Some("k"), json!(2), 2));
        h.push(Event::complete(
            1,
            EventType::Info,
            "write",
            Some("k"),
            json!(2),
            3,
        ));
        h.push(Event::complete(
            0,
            EventType::Ok,
            "write",
            Some("k"),
            json!(1),
            4,
        ));
        h.push(Event::invoke(2, "read", Some("k"), json!(null), 5));
        h.push(Event::complete(
            2,
            EventType::Ok,
            "read",
            Some("k"),
            json!(1),
            6,
        ));
        h.push(Event::invoke(3, "read", Some("k"), json!(null), 7));
        let rec = Recording {
            history: h,
            final_process_base: 3,
            ..Recording::default()
        };
        let m = clients_of(&rec, 2);
        assert_eq!(m[&0], Some(0));
        assert_eq!(m[&1], Some(1));
        assert_eq!(m[&2], Some(1));
        assert_eq!(m[&3], None);
    }
}
