//! HTML escaping for every page Faultline writes (the `check-history` report, timelines, JUnit
//! text): every value that comes from a history, a model or a file name goes through [`escape`],
//! so a value containing `<script>` renders as inert text.

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
