//! HTML report (placeholder until the timeline lands).
use crate::check_history::HistoryCheck;

/// Renders a self-contained HTML report.
pub fn render(title: &str, check: &HistoryCheck) -> String {
    format!(
        "<!doctype html><title>{}</title><pre>{}</pre>",
        escape(title),
        escape(&check.explain())
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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
