//! JUnit XML, the test report format CI systems read (GitHub, GitLab, Jenkins, Buildkite).
//!
//! ```
//! use faultline_cli::junit::{render, TestCase};
//! let cases = [TestCase {
//!     classname: "faultline.raft".into(),
//!     name: "raft seeds 0..10: expect pass".into(),
//!     file: "ci/faultline.yaml".into(),
//!     line: 3,
//!     seconds: 1.5,
//!     failure: Some(("seed 7 failed".into(), "violation <details>".into())),
//!     undecided: false,
//!     output: None,
//! }];
//! let x = render("ci/faultline.yaml", &cases, 1.5);
//! assert!(x.contains("failures=\"1\"") && x.contains("violation &lt;details&gt;"));
//! ```

/// One test case.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    pub file: String,
    pub line: usize,
    pub seconds: f64,
    /// `(message, body)` when the case failed.
    pub failure: Option<(String, String)>,
    /// The failure is that some seeds were undecided (`type="undecided"` instead of
    /// `type="expectation"`).
    pub undecided: bool,
    /// What the case printed (`<system-out>`).
    pub output: Option<String>,
}

/// Escapes text for XML attributes and content: the HTML escaping (valid XML too), after dropping
/// the control characters XML 1.0 forbids.
pub fn escape(s: &str) -> String {
    let allowed: String = s
        .chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r') || c as u32 >= 0x20)
        .collect();
    faultline_checkers::html::escape(&allowed)
}

/// A `<testsuites>` document holding one `<testsuite>` named `suite`.
pub fn render(suite: &str, cases: &[TestCase], seconds: f64) -> String {
    let n = cases.len();
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let suite = escape(suite);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"faultline\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" time=\"{seconds:.3}\">\n"
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{suite}\" tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{seconds:.3}\">\n"
    ));
    for c in cases {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\">\n",
            escape(&c.classname),
            escape(&c.name),
            escape(&c.file),
            c.line,
            c.seconds
        ));
        if let Some((message, body)) = &c.failure {
            x.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                if c.undecided {
                    "undecided"
                } else {
                    "expectation"
                },
                escape(message),
                escape(body)
            ));
        }
        if let Some(out) = &c.output {
            x.push_str(&format!("      <system-out>{}</system-out>\n", escape(out)));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
