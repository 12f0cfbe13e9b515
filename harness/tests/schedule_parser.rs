//! The schedule parser on arbitrary documents: it answers every input with a schedule or an
//! error naming the file — it never panics — and whatever it accepts resolves for any cluster
//! size to steps that survive a YAML round trip.
use faultline::schedule::{Schedule, Step};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Fragments that make plausible schedule documents, well-formed or not.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-5i64..20000).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "18446744073709551615",
            "1000000001",
            "1e18",
            "4294967296"
        ])
        .prop_map(str::to_string),
        (0.0f64..2.0).prop_map(|x| format!("{x:.2}")),
        prop::sample::select(vec![
            "leader",
            "follower",
            "any",
            "coordinator",
            "minority",
            "majority",
            "all",
            "ring",
            "bridge",
            "isolate",
            "halves",
            "star",
            "true",
            "null",
            "[]",
            "[[0, 1], [2]]",
            "[[0], []]",
            "[1, 3]",
            "uniform",
            "pareto",
            "fsync",
            "write",
            "read",
            "-1",
            "1e309",
            "\"\"",
            "{",
            "]",
        ])
        .prop_map(str::to_string),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "at_ms",
        "after",
        "delay_ms",
        "nth",
        "fault",
        "groups",
        "shape",
        "oneway",
        "node",
        "nodes",
        "torn",
        "op",
        "rate",
        "mean_ms",
        "dist",
        "offset_ms",
        "drift",
        "for_ms",
        "trigger",
        "bogus",
    ])
    .prop_map(str::to_string)
}

fn fault() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "partition",
        "crash",
        "power-loss",
        "disk-error",
        "corrupt",
        "misdirect",
        "pause",
        "loss",
        "duplicate",
        "delay",
        "clock-skew",
        "meteor",
    ])
    .prop_map(str::to_string)
}

fn step() -> impl Strategy<Value = String> {
    (fault(), prop::collection::vec((field(), value()), 0..6)).prop_map(|(f, kv)| {
        let mut parts = vec![format!("fault: {f}")];
        parts.extend(kv.into_iter().map(|(k, v)| format!("{k}: {v}")));
        format!("  - {{{}}}", parts.join(", "))
    })
}

fn generator() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec![
                "partition",
                "crash",
                "crash-all",
                "pause",
                "loss",
                "crash-leader",
                "isolate-leader",
                "clock-skew",
                "disk-error",
                "corrupt",
                "misdirect",
                "meteor",
            ]),
            0..5,
        ),
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "swarm",
                    "steps",
                    "window_ms",
                    "torn",
                    "oneway",
                    "drift",
                    "horizon_ms",
                    "loss_rate",
                    "skew_ms",
                    "disk_error_rate",
                    "bogus",
                ]),
                value(),
            ),
            0..4,
        ),
    )
        .prop_map(|(faults, kv)| {
            let mut s = format!("generate:\n  faults: [{}]\n", faults.join(", "));
            for (k, v) in kv {
                s.push_str(&format!("  {k}: {v}\n"));
            }
            s
        })
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(step(), 0..5).prop_map(|s| format!("steps:\n{}\n", s.join("\n"))),
        generator(),
        ".{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics(doc in document(), nodes in 1usize..7, seed in 0u64..1000) {
        match Schedule::parse("fuzz.yaml", &doc) {
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.yaml"), "{e}"),
            Ok(s) => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let roles = if seed % 2 == 0 { faultline::Roles::LEADER } else { faultline::Roles::NONE };
                let budget = (seed % 3) as usize;
                if let Ok(steps) = s.resolve_for(&mut rng, nodes, 5000, roles, budget) {
                    let text = serde_yaml::to_string(&steps).unwrap();
                    let back: Vec<Step> = serde_yaml::from_str(&text).unwrap();
                    prop_assert_eq!(steps, back);
                }
            }
        }
    }
}

/// The corruption faults' own errors, each naming the file and the step's line.
#[test]
fn corruption_steps_with_bad_fields_are_refused_with_file_and_line() {
    for (step, why) in [
        (
            "{at_ms: 5, fault: corrupt, node: 1, for_ms: 10}",
            "takes no `for_ms`",
        ),
        (
            "{at_ms: 5, fault: misdirect, node: 1, op: write}",
            "does not take the field `op`",
        ),
        (
            "{at_ms: 5, fault: corrupt}",
            "needs the field `node` or `nodes`",
        ),
        (
            "{at_ms: 5, fault: misdirect, node: 1, nodes: [2]}",
            "not both",
        ),
        (
            "{at_ms: 5, fault: corrupt, node: 1, torn: true}",
            "does not take the field `torn`",
        ),
        ("{fault: corrupt, node: 1}", "needs `at_ms`"),
    ] {
        let doc = format!(
            "# a comment\nsteps:\n  - {{at_ms: 1, fault: pause, node: 0, for_ms: 5}}\n  - {step}\n"
        );
        let e = Schedule::parse("c.yaml", &doc).expect_err(step).to_string();
        assert!(e.starts_with("c.yaml:4:") && e.contains(why), "{step}: {e}");
    }
    let e = Schedule::parse("g.yaml", "generate:\n  faults: [corrupt, misdirected]\n")
        .expect_err("an unknown kind")
        .to_string();
    assert!(
        e.starts_with("g.yaml:2:") && e.contains("misdirected"),
        "{e}"
    );
}
