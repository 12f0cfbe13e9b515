//! History readers, `info` semantics, user specs and the check-history entry point.
use faultline_checkers::check_history::{
    check_events, check_parsed, run_check_history, CheckHistoryOptions,
};
use faultline_checkers::formats::{parse_str, FormatName};
use faultline_checkers::history::{Event, EventType, History};
use faultline_checkers::linearizability::{check_operations, CheckOptions, Operation, Verdict};
use faultline_checkers::spec::{Spec, SpecName};
use proptest::prelude::*;
use serde_json::json;

fn verdict(text: &str, format: FormatName, spec: Option<SpecName>) -> Verdict {
    let h = parse_str(text, format, "t").expect("parses");
    check_parsed(&h, spec, None, &Default::default(), true)
        .expect("checks")
        .verdict
}

fn err_line(text: &str, format: FormatName) -> (usize, String) {
    let e = parse_str(text, format, "bad.txt").expect_err("malformed");
    assert_eq!(e.file, "bad.txt");
    assert!(
        e.to_string().starts_with(&format!("bad.txt:{}:", e.line)),
        "{e}"
    );
    (e.line, e.message)
}

#[test]
fn malformed_inputs_name_their_line() {
    let etcd = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:frob\t1\n";
    assert_eq!(err_line(etcd, FormatName::JepsenEtcd).0, 3);
    let etcd = "INFO  jepsen.util - 0 :invoke :cas [1 2\n";
    assert_eq!(err_line(etcd, FormatName::JepsenEtcd).0, 1);
    assert_eq!(
        err_line(
            "INFO  jepsen.util - 0 :ok :read 1\n",
            FormatName::JepsenEtcd
        )
        .0,
        1
    );
    let kv = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"1\" :value \"x\"\n";
    let (line, msg) = err_line(kv, FormatName::PorcupineKv);
    assert_eq!(line, 2, "{msg}");
    let jsonl = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time_ns\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n";
    assert_eq!(err_line(jsonl, FormatName::Jsonl).0, 2);
    let jsonl = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time_ns\":1}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time_ns\":2}\n";
    assert_eq!(err_line(jsonl, FormatName::Jsonl).0, 2);
    let edn = "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}\n {:process 1 :type :ok :f :read :value 1}]";
    assert_eq!(err_line(edn, FormatName::JepsenEdn).0, 3);
    let edn = "{:process 0, :type :invoke, :f :write,\n :value \"unterminated}\n";
    assert_eq!(err_line(edn, FormatName::JepsenEdn).0, 2);
    assert_eq!(err_line("hello\n", FormatName::Auto).0, 0);
}

#[test]
fn check_history_errors_map_to_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("faultline-ch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time_ns\":1}\nnot json\n",
    )
    .unwrap();
    let e = run_check_history(&CheckHistoryOptions::new(&bad)).expect_err("malformed");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("bad.jsonl:2:"), "{e}");
    let missing =
        run_check_history(&CheckHistoryOptions::new(dir.join("nope"))).expect_err("missing");
    assert_eq!(missing.exit_code(), 2);

    let good = dir.join("h.jsonl");
    let mut h = History::default();
    h.push(Event::invoke(
        0,
        "write",
        Some("k"),
        json!("<script>alert(1)</script>"),
        10,
    ));
    h.push(Event::complete(
        0,
        EventType::Ok,
        "write",
        Some("k"),
        json!("<script>alert(1)</script>"),
        20,
    ));
    h.push(Event::invoke(1, "read", Some("k"), json!(null), 30));
    h.push(Event::complete(
        1,
        EventType::Ok,
        "read",
        Some("k"),
        json!(null),
        40,
    ));
    std::fs::write(&good, h.to_jsonl()).unwrap();
    let html = dir.join("<x>.html");
    let mut opts = CheckHistoryOptions::new(&good);
    opts.html = Some(html.clone());
    let r = run_check_history(&opts).expect("checks");
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.format, FormatName::Jsonl);
    let j = r.to_json();
    assert_eq!(j["linearizable"], json!(false));
    assert_eq!(j["ops"], json!(2));
    assert_eq!(j["partitions"], json!(1));
    assert!(j["elapsed_ms"].is_f64() && j["parse_ms"].is_f64());
    assert_eq!(j["counterexample"].as_array().map(Vec::len), Some(2), "{j}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(r.summary().contains("NOT linearizable"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A jsonl history from (process, type, f, value, time) tuples on key "k".
fn jsonl(events: &[(u64, &str, &str, serde_json::Value, u64)]) -> String {
    events
        .iter()
        .map(|(p, t, f, v, time)| {
            json!({"process": p, "type": t, "f": f, "key": "k", "value": v, "time_ns": time})
                .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn info_ops_may_take_effect_later_or_never() {
    let later = jsonl(&[
        (0, "invoke", "write", json!(1), 0),
        (0, "info", "write", json!(1), 10),
        (1, "invoke", "read", json!(null), 20),
        (1, "ok", "read", json!(null), 30),
        (2, "invoke", "read", json!(null), 40),
        (2, "ok", "read", json!(1), 50),
    ]);
    assert_eq!(
        verdict(&later, FormatName::Jsonl, None),
        Verdict::Linearizable
    );
    let never = jsonl(&[
        (0, "invoke", "write", json!(1), 0),
        (0, "info", "write", json!(1), 10),
        (1, "invoke", "read", json!(null), 20),
        (1, "ok", "read", json!(null), 30),
    ]);
    assert_eq!(
        verdict(&never, FormatName::Jsonl, None),
        Verdict::Linearizable
    );
    // Not before its invocation.
    let before = jsonl(&[
        (1, "invoke", "read", json!(null), 0),
        (1, "ok", "read", json!(1), 10),
        (0, "invoke", "write", json!(1), 20),
        (0, "info", "write", json!(1), 30),
    ]);
    assert_eq!(
        verdict(&before, FormatName::Jsonl, None),
        Verdict::NotLinearizable
    );
    // Once seen, it cannot be undone by "never".
    let flip = jsonl(&[
        (0, "invoke", "write", json!(1), 0),
        (0, "info", "write", json!(1), 10),
        (1, "invoke", "read", json!(null), 20),
        (1, "ok", "read", json!(1), 30),
        (2, "invoke", "read", json!(null), 40),
        (2, "ok", "read", json!(null), 50),
    ]);
    assert_eq!(
        verdict(&flip, FormatName::Jsonl, None),
        Verdict::NotLinearizable
    );
    // A failed write never took effect.
    let fail = jsonl(&[
        (0, "invoke", "write", json!(1), 0),
        (0, "fail", "write", json!(1), 10),
        (1, "invoke", "read", json!(null), 20),
        (1, "ok", "read", json!(1), 30),
    ]);
    assert_eq!(
        verdict(&fail, FormatName::Jsonl, None),
        Verdict::NotLinearizable
    );
    // An info cas applies only if its `from` matches when it takes effect.
    let cas = jsonl(&[
        (0, "invoke", "write", json!(1), 0),
        (0, "ok", "write", json!(1), 5),
        (1, "invoke", "cas", json!([1, 2]), 10),
        (1, "info", "cas", json!([1, 2]), 15),
        (2, "invoke", "read", json!(null), 20),
        (2, "ok", "read", json!(2), 30),
    ]);
    assert_eq!(
        verdict(&cas, FormatName::Jsonl, None),
        Verdict::Linearizable
    );
}

#[test]
fn each_format_keeps_its_own_semantics() {
    // etcd: a failed cas observes that the value differed from `from`; nil means absent.
    let etcd = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n";
    assert_eq!(
        verdict(etcd, FormatName::Auto, None),
        Verdict::NotLinearizable
    );
    let etcd_spaces =
        "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok :read 3\n";
    assert_eq!(
        verdict(etcd_spaces, FormatName::Auto, None),
        Verdict::NotLinearizable
    );
    // Knossos: the same failed cas is simply dropped, and a nil read is unconstrained.
    let edn = "; a comment\n[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}\n {:process 1, :type :invoke, :f :cas, :value [1 2]}\n {:process 1, :type :fail, :f :cas, :value [1 2]}\n {:process :nemesis, :type :info, :f :start}\n {:process 2, :type :invoke, :f :read, :value nil}\n {:process 2, :type :ok, :f :read, :value nil}]";
    let h = parse_str(edn, FormatName::Auto, "h.edn").unwrap();
    assert_eq!(h.format, FormatName::JepsenEdn);
    assert_eq!(verdict(edn, FormatName::Auto, None), Verdict::Linearizable);
    // Top-level maps spanning lines, tagged.
    let edn2 = "#jepsen.history.Op{:process 0, :type :invoke,\n :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 5}\n";
    assert_eq!(
        verdict(edn2, FormatName::JepsenEdn, None),
        Verdict::NotLinearizable
    );
    // jsonl: a read of null is the initial value, which --initial can set.
    let j = jsonl(&[
        (0, "invoke", "read", json!(null), 0),
        (0, "ok", "read", json!(7), 10),
    ]);
    let h = parse_str(&j, FormatName::Auto, "h").unwrap();
    assert_eq!(
        check_parsed(&h, None, None, &Default::default(), false)
            .unwrap()
            .verdict,
        Verdict::NotLinearizable
    );
    let c = check_parsed(
        &h,
        Some(SpecName::Register),
        Some(Some("7".into())),
        &Default::default(),
        false,
    )
    .unwrap();
    assert_eq!(c.verdict, Verdict::Linearizable);
    // Porcupine kv: keys start as "".
    let kv = "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"a\", :value \"\"}\n";
    assert_eq!(verdict(kv, FormatName::Auto, None), Verdict::Linearizable);
    // A cas in a register history is an error naming its line.
    let e = check_parsed(
        &parse_str(etcd, FormatName::JepsenEtcd, "e").unwrap(),
        Some(SpecName::Register),
        None,
        &Default::default(),
        false,
    )
    .expect_err("cas needs cas-register");
    assert_eq!(e.line, 3);
}

#[test]
fn harness_entry_point_reports_key_and_counterexample() {
    let mut h = History::default();
    for (p, key) in [(0u64, "a"), (1, "b")] {
        h.push(Event::invoke(p, "write", Some(key), json!(1), 10));
        h.push(Event::complete(
            p,
            EventType::Ok,
            "write",
            Some(key),
            json!(1),
            20,
        ));
    }
    h.push(Event::invoke(2, "read", Some("b"), json!(null), 30));
    h.push(Event::complete(
        2,
        EventType::Ok,
        "read",
        Some("b"),
        json!(2),
        40,
    ));
    h.push(Event::invoke(3, "cas", Some("a"), json!([1, 3]), 50));
    h.push(Event::complete(
        3,
        EventType::Info,
        "cas",
        Some("a"),
        json!([1, 3]),
        60,
    ));
    let c = check_events(&h, SpecName::CasRegister, &Default::default()).unwrap();
    assert_eq!(c.verdict, Verdict::NotLinearizable);
    assert_eq!(c.partitions, 2);
    let v = c.violation.as_ref().unwrap();
    assert_eq!(v.key.as_deref(), Some("b"));
    assert!(v.minimal);
    let cx: Vec<String> = v
        .counterexample
        .iter()
        .map(|&i| c.ops[i].f.as_str().to_string())
        .collect();
    assert_eq!(cx, ["read"]);
    assert!(c.explain().contains("\"b\""));
}

/// A user's own spec: a counter with increments and reads, partitioned by name.
struct Counters;
impl Spec for Counters {
    type State = i64;
    type Input = (String, Option<i64>);
    type Output = i64;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, s: &i64, input: &(String, Option<i64>), out: &i64) -> Option<i64> {
        match input.1 {
            Some(n) => Some(s + n),
            None => (out == s).then_some(*s),
        }
    }
    fn step_unknown(&self, s: &i64, input: &(String, Option<i64>)) -> Option<i64> {
        input.1.map(|n| s + n)
    }
    fn partition(&self, input: &(String, Option<i64>)) -> Option<String> {
        Some(input.0.clone())
    }
}

#[test]
fn user_defined_spec() {
    let inc = |k: &str, n| (k.to_string(), Some(n));
    let read = |k: &str| (k.to_string(), None);
    let mut ops = vec![
        Operation::completed(inc("x", 2), 0, 0, 10),
        Operation::completed(inc("x", 3), 0, 5, 15),
        Operation::completed(read("x"), 3, 6, 12),
        Operation::unknown(inc("y", 1), 0),
        Operation::completed(read("y"), 1, 20, 30),
        Operation::completed(read("x"), 5, 20, 30),
    ];
    let res = check_operations(&Counters, &ops, &CheckOptions::default());
    assert_eq!((res.verdict, res.partitions), (Verdict::Linearizable, 2));
    ops.push(Operation::completed(read("y"), 0, 40, 50));
    let res = check_operations(&Counters, &ops, &CheckOptions::default());
    assert_eq!(res.verdict, Verdict::NotLinearizable);
    assert_eq!(res.failure.unwrap().partition.as_deref(), Some("y"));
}

#[test]
fn step_limit_gives_undecided_not_a_hang() {
    // Many concurrent writes and a read nobody wrote: the search must exhaust a large space.
    let mut ops: Vec<Operation<(String, Option<i64>), i64>> = (0..40)
        .map(|i| Operation::completed(("x".to_string(), Some(1 << (i % 20))), 0, 0, 100))
        .collect();
    ops.push(Operation::completed(("x".to_string(), None), -1, 0, 100));
    let opts = CheckOptions {
        timeout: None,
        max_steps: Some(10_000),
    };
    assert_eq!(
        check_operations(&Counters, &ops, &opts).verdict,
        Verdict::Undecided
    );
    let opts = CheckOptions {
        timeout: Some(std::time::Duration::from_millis(1)),
        max_steps: None,
    };
    let v = check_operations(&Counters, &ops, &opts).verdict;
    assert_ne!(v, Verdict::Linearizable);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\\t\\n\\[\\]{}:\"#;]{0,200}", which in 0usize..5) {
        let format = [FormatName::Auto, FormatName::PorcupineKv, FormatName::JepsenEtcd, FormatName::JepsenEdn, FormatName::Jsonl][which];
        if let Ok(h) = parse_str(&text, format, "fuzz") {
            let limits = CheckOptions { timeout: None, max_steps: Some(100_000) };
            let _ = check_parsed(&h, None, None, &limits, true);
        }
    }
}
