//! The timeline page where people read it: a shrunk failure's `timeline.html` opened in a real
//! headless browser (Chromium). It must render without script errors, every line of its failure
//! story, every fault step and every operation must be a visible element, and a screenshot is
//! saved next to the JUnit file (`target/timeline-shrunk.png`, or `$FAULTLINE_SCREENSHOT_DIR`).
//!
//! The browser is `$FAULTLINE_BROWSER`, else the first of `chromium`, `chromium-browser`,
//! `google-chrome` on the PATH. Without one the test says plainly that it was skipped — except
//! under CI (`CI` set), where `.ci/run` installs Chromium and a missing browser fails the test,
//! unless `.ci/run` could not install it and said why in `FAULTLINE_NO_BROWSER`.
use faultline::prelude::*;
use faultline::repro::Repro;
use faultline_models::primary_backup::model;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{faultline_in, TempDir};

/// Appended to a copy of the page: checks what a reader sees, and writes it as JSON into the
/// DOM, which `--dump-dom` prints once the page has run its scripts.
const PROBE: &str = r#"<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  function visible(el) {
    var r = el.getBoundingClientRect();
    var s = getComputedStyle(el);
    return r.width >= 1 && r.height >= 1 && s.visibility !== 'hidden' && s.display !== 'none'
      && parseFloat(s.opacity) > 0;
  }
  function run() {
    var out = { errors: errors, story: [], steps: [], ops: [] };
    document.querySelectorAll('.story li').forEach(function (li) {
      var t = li.querySelector('.t');
      var text = li.textContent.slice(t ? t.textContent.length : 0);
      out.story.push({ text: text, cls: li.className, visible: visible(li) });
    });
    document.querySelectorAll('.row').forEach(function (row) {
      var lbl = row.querySelector('.lbl');
      var win = row.querySelector('.win');
      if (lbl && win && /^step \d+:/.test(lbl.textContent)) {
        out.steps.push({ label: lbl.textContent, visible: visible(win) && visible(lbl) });
      }
    });
    document.querySelectorAll('.op').forEach(function (op) {
      out.ops.push({ title: op.getAttribute('title') || '', visible: visible(op) });
    });
    var pre = document.createElement('pre');
    pre.id = 'faultline-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  try { run(); } catch (e) { errors.push(String(e)); run(); }
})();
</script>"#;

fn browser() -> Result<PathBuf, String> {
    if let Ok(b) = std::env::var("FAULTLINE_BROWSER") {
        return Ok(PathBuf::from(b));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err("no headless browser (chromium, chromium-browser, google-chrome) on the PATH".into())
}

/// Chromium, headless, with a throwaway profile (tests run in parallel and as root in CI).
fn chromium(browser: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    let profile = format!("--user-data-dir={}", profile.display());
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            profile.as_str(),
        ])
        .args(args)
        .output()
        .expect("the browser starts")
}

/// A shrunk primary-backup `async-ack` failure, replayed with `--out`: its directory, the
/// reproducer's step count and the replay's operation count.
fn shrunk_timeline(dir: &TempDir) -> (PathBuf, usize) {
    let failure = Check::new(model())
        .bug("async-ack")
        .ops(80)
        .seeds(0..200)
        .stop_on_first()
        .no_regressions()
        .run();
    let report = failure
        .first_failure()
        .expect("async-ack fails within 200 seeds");
    let repro = dir.join("repro.yaml");
    std::fs::write(&repro, Repro::from_report(report, &[]).to_yaml()).unwrap();
    let min = dir.join("repro.min.yaml");
    let o = faultline_in(
        dir.path(),
        &[
            "shrink",
            repro.to_str().unwrap(),
            "-o",
            min.to_str().unwrap(),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = faultline_in(
        dir.path(),
        &["replay", min.to_str().unwrap(), "--out", "page"],
    );
    assert_eq!(o.code, 1, "the shrunk reproducer fails: {}", o.stderr);
    let steps = Repro::load(&min).unwrap().schedule.len();
    (dir.join("page"), steps)
}

#[test]
fn a_shrunk_failures_timeline_renders_every_step_and_op_in_a_real_browser() {
    let browser = match (browser(), std::env::var("CI").is_ok()) {
        (Ok(b), _) => b,
        (Err(why), false) => {
            eprintln!("SKIPPED: the browser test did not run: {why}");
            return;
        }
        (Err(why), true) => match std::env::var("FAULTLINE_NO_BROWSER") {
            Ok(ci_why) => {
                eprintln!("SKIPPED under CI: {why}; .ci/run said: {ci_why}");
                return;
            }
            Err(_) => panic!("CI must run the browser test (.ci/run installs chromium): {why}"),
        },
    };
    let dir = TempDir::new("browser");
    let (page, steps) = shrunk_timeline(&dir);
    let html = std::fs::read_to_string(page.join("timeline.html")).unwrap();
    let probe = page.join("probe.html");
    let at = html.rfind("</body>").expect("a body");
    std::fs::write(&probe, format!("{}{PROBE}{}", &html[..at], &html[at..])).unwrap();

    let url = format!("file://{}", probe.display());
    let out = chromium(
        &browser,
        &dir.join("profile"),
        &["--virtual-time-budget=5000", "--dump-dom", &url],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split("<pre id=\"faultline-probe\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "the probe did not run: {}\n{}",
                dom.chars().take(400).collect::<String>(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let seen: Value = serde_json::from_str(&json).expect("probe JSON");

    assert_eq!(seen["errors"], serde_json::json!([]), "script errors");
    let story = seen["story"].as_array().unwrap();
    assert!(
        story.iter().any(|l| l["cls"] == "b-viol"),
        "the story ends in its violation: {story:?}"
    );
    for line in story {
        assert_eq!(line["visible"], true, "story line not visible: {line}");
    }
    // Every fault step of the reproducer has its lane, visible.
    let lanes = seen["steps"].as_array().unwrap();
    assert_eq!(lanes.len(), steps, "one lane per step: {lanes:?}");
    for lane in lanes {
        assert_eq!(lane["visible"], true, "step lane not visible: {lane}");
    }
    // Every operation is a visible bar, and every operation the story tells is among them.
    let ops = seen["ops"].as_array().unwrap();
    let recorded = html.matches("class=\"op ").count();
    assert!(
        recorded > 0 && ops.len() == recorded,
        "{} of {recorded}",
        ops.len()
    );
    for op in ops {
        assert_eq!(op["visible"], true, "operation bar not visible: {op}");
    }
    let told: Vec<&str> = story
        .iter()
        .filter(|l| l["cls"] == "b-op")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(!told.is_empty(), "the story tells operations: {story:?}");
    for text in told {
        // "p3: read k0 returned nil" or "final read p5: ..."
        let who = text
            .split_whitespace()
            .find(|w| w.starts_with('p') && w.trim_end_matches(':')[1..].parse::<u64>().is_ok())
            .map(|w| w.trim_end_matches(':'))
            .unwrap_or_else(|| panic!("no process in {text}"));
        assert!(
            ops.iter()
                .any(|o| o["title"].as_str().unwrap().starts_with(&format!("{who} "))),
            "no bar for {who} ({text})"
        );
    }

    // The screenshot, next to the JUnit file.
    let shots = std::env::var("FAULTLINE_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("timeline-shrunk.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let page_url = format!("file://{}", page.join("timeline.html").display());
    let out = chromium(
        &browser,
        &dir.join("profile"),
        &["--window-size=1400,1600", &arg, &page_url],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {}: {e}\n{}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    eprintln!("screenshot: {}", shot.display());
}
