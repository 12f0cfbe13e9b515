//! The HTML report of `check-history --html`: one self-contained file (inline
//! CSS, no scripts, no network fetches). Every value that comes from a history or a file name is
//! HTML-escaped, so a history whose values contain `<script>` renders as inert text.
//!
//! It shows, per partition (key), a timeline of the operations: one row per process, one bar
//! per op from invocation to completion (open ops run to the right edge). For a non-linearizable
//! history it also shows, for the failing partition:
//! - the counterexample: the small set of completed ops whose results cannot all hold, computed
//!   by [`crate::linearizability::minimal_counterexample`] (1-minimal around the first failing
//!   point, with every other op treated as possibly applied; marked when the step budget ran out
//!   before it was minimal);
//! - the longest linearizable prefix the search found, in linearization order, and the op it got
//!   stuck on.
//!
//! ```
//! use faultline_checkers::check_history::check_events;
//! use faultline_checkers::history::{Event, EventType, History};
//! use faultline_checkers::spec::SpecName;
//! use serde_json::json;
//! let mut h = History::default();
//! h.push(Event::invoke(0, "write", Some("k"), json!("<script>"), 1));
//! h.push(Event::complete(0, EventType::Ok, "write", Some("k"), json!("<script>"), 2));
//! let page = faultline_checkers::check_history::report::render("t", &check_events(&h, SpecName::Register, &Default::default()).unwrap());
//! assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
//! ```
use super::{describe, HistoryCheck};
use crate::formats::Status;
use crate::html::escape;
use crate::linearizability::Verdict;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}
.verdict{padding:.4em .8em;border-radius:4px;display:inline-block;font-weight:600}
.ok{background:#dff5e1}.bad{background:#fde2e1}.undecided{background:#fff3cd}
.tl{position:relative;border:1px solid #ccc;background:#fafafa;margin:.4em 0 1em}
.row{position:relative;height:22px;border-bottom:1px dotted #e3e3e3}
.lbl{position:absolute;left:4px;top:3px;font-size:11px;color:#666;width:60px;overflow:hidden}
.op{position:absolute;top:3px;height:15px;background:#9ec5fe;border-radius:3px;font-size:10px;
white-space:nowrap;overflow:hidden;box-sizing:border-box;padding:0 2px;min-width:3px}
.op.info{background:repeating-linear-gradient(45deg,#ddd,#ddd 4px,#f4f4f4 4px,#f4f4f4 8px)}
.op.fail{background:#e9ecef;color:#888}.op.cx{background:#f28b82;outline:2px solid #c5221f}
.op.stuck{outline:3px solid #000}.op.pre{background:#a8dab5}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
code{font:12px ui-monospace,monospace}";

/// Renders the report for `check` of the history named `title`.
pub fn render(title: &str, check: &HistoryCheck) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(title)
    );
    let _ = write!(o, "<h1>Linearizability: {}</h1>", escape(title));
    let (class, word) = match check.verdict {
        Verdict::Linearizable => ("ok", "linearizable"),
        Verdict::NotLinearizable => ("bad", "NOT linearizable"),
        Verdict::Undecided => ("undecided", "undecided (budget ran out)"),
    };
    let _ = write!(
        o,
        "<p><span class=\"verdict {class}\">{word}</span> &nbsp; spec <code>{}</code>, {} ops checked, {} partitions, {:.2} ms</p>",
        check.spec, check.checked, check.partitions, check.elapsed_ms
    );
    let empty = BTreeSet::new();
    let (cx, prefix, stuck): (BTreeSet<usize>, Vec<usize>, Option<usize>) = match &check.violation {
        Some(v) => (
            v.counterexample.iter().copied().collect(),
            v.longest_prefix.clone(),
            Some(v.stuck),
        ),
        None => (empty, Vec::new(), None),
    };
    if let Some(v) = &check.violation {
        let key = v
            .key
            .as_deref()
            .map(|k| format!(" (key <code>{}</code>)", escape(k)))
            .unwrap_or_default();
        let _ = write!(o, "<h2>Counterexample{key}</h2>");
        let _ = write!(
            o,
            "<p>These completed operations cannot all have returned what they did, whatever the \
             other operations did (each of those may have taken effect at any time after its \
             invocation, or not at all){}. Relaxing any one of them makes the rest explainable.</p><table><tr><th>op</th><th>call</th><th>return</th></tr>",
            if v.minimal { "" } else { " &mdash; <b>not fully minimized</b>: a step budget ran out" }
        );
        for &i in &v.counterexample {
            let op = &check.ops[i];
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&describe(op)),
                op.call,
                op.ret
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "&infin;".into())
            );
        }
        o.push_str("</table>");
        let _ = write!(
            o,
            "<h2>Longest linearizable prefix ({} ops)</h2><p>The deepest point the search reached, in linearization order. It got stuck on <code>{}</code>: no order of the remaining operations explains it.</p><ol>",
            prefix.len(),
            escape(&describe(&check.ops[v.stuck]))
        );
        for &i in &prefix {
            let _ = write!(
                o,
                "<li><code>{}</code></li>",
                escape(&describe(&check.ops[i]))
            );
        }
        o.push_str("</ol>");
    }
    // Timelines, failing partition first.
    let mut parts: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, op) in check.ops.iter().enumerate() {
        parts.entry(op.key.as_deref()).or_default().push(i);
    }
    let failing = check.violation.as_ref().map(|v| v.key.as_deref());
    let mut order: Vec<Option<&str>> = parts.keys().copied().collect();
    order.sort_by_key(|k| Some(*k) != failing);
    o.push_str("<h2>Timelines</h2><p>One row per process; bars run from invocation to completion. Red: counterexample; green: in the longest linearizable prefix; black outline: where the search got stuck; hatched: outcome unknown (info); grey: failed.</p>");
    let prefix_set: BTreeSet<usize> = prefix.iter().copied().collect();
    for key in order {
        let ids = &parts[&key];
        let name = key
            .map(|k| format!("key <code>{}</code>", escape(k)))
            .unwrap_or_else(|| "all ops".into());
        let _ = write!(o, "<h3>{name} ({} ops)</h3>", ids.len());
        let lo = ids.iter().map(|&i| check.ops[i].call).min().unwrap_or(0);
        let hi = ids
            .iter()
            .map(|&i| check.ops[i].ret.unwrap_or(check.ops[i].call))
            .max()
            .unwrap_or(lo)
            .max(lo + 1);
        let span = (hi - lo) as f64 * 1.05;
        let x = |t: u64| 8.0 + 90.0 * (t - lo) as f64 / span;
        let mut procs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in ids {
            procs
                .entry(check.ops[i].process.as_str())
                .or_default()
                .push(i);
        }
        o.push_str("<div class=\"tl\">");
        for (p, ops) in procs {
            let _ = write!(
                o,
                "<div class=\"row\"><span class=\"lbl\">p{}</span>",
                escape(p)
            );
            for i in ops {
                let op = &check.ops[i];
                let left = x(op.call);
                let right = op.ret.map(x).unwrap_or(99.5);
                let mut class = String::from("op");
                match op.status {
                    Status::Info => class.push_str(" info"),
                    Status::Fail => class.push_str(" fail"),
                    Status::Ok => {}
                }
                if cx.contains(&i) {
                    class.push_str(" cx");
                } else if prefix_set.contains(&i) {
                    class.push_str(" pre");
                }
                if stuck == Some(i) {
                    class.push_str(" stuck");
                }
                let d = escape(&describe(op));
                let _ = write!(
                    o,
                    "<div class=\"{class}\" style=\"left:{left:.3}%;width:{:.3}%\" title=\"{d}\">{d}</div>",
                    (right - left).max(0.2)
                );
            }
            o.push_str("</div>");
        }
        o.push_str("</div>");
    }
    o.push_str("</body></html>\n");
    o
}
