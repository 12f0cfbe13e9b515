//! Property tests: histories produced by running a sequential object with random real-time
//! overlaps are linearizable; corrupting one read usually makes them not, and the checker always
//! agrees with a brute-force checker on small histories.
use faultline_checkers::linearizability::{check_operations, CheckOptions, Operation, Verdict};
use faultline_checkers::spec::{
    KvInput, KvOp, KvOutput, KvSpec, RegisterInput, RegisterOp, RegisterOutput, RegisterSpec, Spec,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// All orders of the ops that respect real time, where open ops may also be left out.
fn brute_force<S: Spec>(spec: &S, ops: &[Operation<S::Input, S::Output>]) -> bool {
    fn go<S: Spec>(
        spec: &S,
        ops: &[Operation<S::Input, S::Output>],
        used: &mut Vec<bool>,
        state: &S::State,
    ) -> bool {
        let pending: Vec<usize> = (0..ops.len()).filter(|&i| !used[i]).collect();
        if pending.iter().all(|&i| ops[i].is_open()) {
            return true;
        }
        for &i in &pending {
            // Real time: nothing still pending may have returned before i was called.
            let blocked = pending
                .iter()
                .any(|&k| !ops[k].is_open() && ops[k].ret.unwrap() < ops[i].call);
            if blocked {
                continue;
            }
            let next = match &ops[i].output {
                Some(o) if !ops[i].is_open() => spec.step(state, &ops[i].input, o),
                _ => spec.step_unknown(state, &ops[i].input),
            };
            if let Some(n) = next {
                used[i] = true;
                let ok = go(spec, ops, used, &n);
                used[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    // Partition as the checker does, so that brute force stays small per key.
    let mut keys: Vec<Option<String>> = ops.iter().map(|o| spec.partition(&o.input)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        let part: Vec<_> = ops
            .iter()
            .filter(|o| spec.partition(&o.input) == k)
            .cloned()
            .collect();
        go(spec, &part, &mut vec![false; part.len()], &spec.init())
    })
}

/// One generated op: what it does, where it takes effect, how far its call/return reach out,
/// and whether its outcome is lost (info).
#[derive(Clone, Debug)]
struct Gen {
    kind: u8,
    a: u8,
    b: u8,
    key: u8,
    before: u64,
    after: u64,
    info: bool,
}

fn gens(max: usize) -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0u8..3,
            0u8..3,
            0u8..3,
            0u8..2,
            0u64..40,
            0u64..40,
            prop::bool::weighted(0.15),
        )
            .prop_map(|(kind, a, b, key, before, after, info)| Gen {
                kind,
                a,
                b,
                key,
                before,
                after,
                info,
            }),
        1..max,
    )
}

fn v(x: u8) -> Option<std::sync::Arc<str>> {
    Some(x.to_string().into())
}

/// Runs a cas register sequentially: op i takes effect at time 10*i + 5.
fn run_register(g: &[Gen]) -> Vec<Operation<RegisterInput, RegisterOutput>> {
    let mut state: Option<std::sync::Arc<str>> = None;
    g.iter()
        .enumerate()
        .map(|(i, x)| {
            let at = 100 + 10 * i as u64;
            let key = None;
            let (op, out) = match x.kind {
                0 => (RegisterOp::Read, RegisterOutput::Read(state.clone())),
                1 => {
                    state = v(x.a);
                    (RegisterOp::Write(v(x.a)), RegisterOutput::Ok)
                }
                _ => {
                    if state == v(x.a) {
                        state = v(x.b);
                        (RegisterOp::Cas(v(x.a), v(x.b)), RegisterOutput::Ok)
                    } else {
                        (RegisterOp::Cas(v(x.a), v(x.b)), RegisterOutput::CasFailed)
                    }
                }
            };
            let input = RegisterInput { key, op };
            if x.info {
                Operation::unknown(input, at - x.before)
            } else {
                Operation::completed(input, out, at - x.before, at + x.after)
            }
        })
        .collect()
}

fn run_kv(g: &[Gen]) -> Vec<Operation<KvInput, KvOutput>> {
    let mut state: [Option<String>; 2] = [None, None];
    g.iter()
        .enumerate()
        .map(|(i, x)| {
            let at = 100 + 10 * i as u64;
            let k = x.key as usize;
            let (op, out) = match x.kind {
                0 => (KvOp::Get, KvOutput::Get(state[k].clone().map(Into::into))),
                1 => {
                    state[k] = Some(x.a.to_string());
                    (KvOp::Put(x.a.to_string().into()), KvOutput::Ok)
                }
                _ => {
                    state[k]
                        .get_or_insert_with(String::new)
                        .push_str(&x.a.to_string());
                    (KvOp::Append(x.a.to_string().into()), KvOutput::Ok)
                }
            };
            let input = KvInput {
                key: x.key.to_string().into(),
                op,
            };
            if x.info {
                Operation::unknown(input, at - x.before)
            } else {
                Operation::completed(input, out, at - x.before, at + x.after)
            }
        })
        .collect()
}

fn corrupt_register(ops: &mut [Operation<RegisterInput, RegisterOutput>], pick: usize) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].output, Some(RegisterOutput::Read(_))) && !ops[i].is_open())
        .collect();
    if reads.is_empty() {
        return false;
    }
    let i = reads[pick % reads.len()];
    if let Some(RegisterOutput::Read(val)) = &mut ops[i].output {
        *val = match val.as_deref() {
            None => v(7),
            Some(_) => v(9),
        };
    }
    true
}

fn corrupt_kv(ops: &mut [Operation<KvInput, KvOutput>], pick: usize) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].output, Some(KvOutput::Get(_))) && !ops[i].is_open())
        .collect();
    if reads.is_empty() {
        return false;
    }
    let i = reads[pick % reads.len()];
    if let Some(KvOutput::Get(val)) = &mut ops[i].output {
        *val = Some(format!("{}9", val.as_deref().unwrap_or("")).into());
    }
    true
}

fn check<S: Spec>(spec: &S, ops: &[Operation<S::Input, S::Output>]) -> Verdict {
    check_operations(spec, ops, &CheckOptions::default()).verdict
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn sequential_register_runs_are_linearizable(g in gens(40)) {
        let ops = run_register(&g);
        prop_assert_eq!(check(&RegisterSpec::cas_register(None), &ops), Verdict::Linearizable);
    }

    #[test]
    fn sequential_kv_runs_are_linearizable(g in gens(40)) {
        let ops = run_kv(&g);
        prop_assert_eq!(check(&KvSpec::default(), &ops), Verdict::Linearizable);
    }

    #[test]
    fn corrupted_register_agrees_with_brute_force(g in gens(8), pick in 0usize..8) {
        let mut ops = run_register(&g);
        prop_assume!(corrupt_register(&mut ops, pick));
        let spec = RegisterSpec::cas_register(None);
        let ours = check(&spec, &ops);
        let brute = brute_force(&spec, &ops);
        prop_assert_eq!(ours == Verdict::Linearizable, brute, "ops: {:?}", ops);
    }

    #[test]
    fn corrupted_kv_agrees_with_brute_force(g in gens(9), pick in 0usize..8) {
        let mut ops = run_kv(&g);
        prop_assume!(corrupt_kv(&mut ops, pick));
        let spec = KvSpec::default();
        let ours = check(&spec, &ops);
        let brute = brute_force(&spec, &ops);
        prop_assert_eq!(ours == Verdict::Linearizable, brute, "ops: {:?}", ops);
    }
}

/// "Usually not": over a fixed sample, most corrupted histories are caught.
#[test]
fn corrupting_a_read_usually_breaks_linearizability() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut corrupted, mut caught) = (0, 0);
    for _ in 0..300 {
        let g = gens(30).new_tree(&mut runner).expect("generates").current();
        let mut ops = run_register(&g);
        if !corrupt_register(&mut ops, g.len()) {
            continue;
        }
        corrupted += 1;
        if check(&RegisterSpec::cas_register(None), &ops) == Verdict::NotLinearizable {
            caught += 1;
        }
    }
    assert!(corrupted > 100, "too few histories with reads: {corrupted}");
    assert!(
        caught * 2 > corrupted,
        "only {caught} of {corrupted} corrupted histories caught"
    );
}
