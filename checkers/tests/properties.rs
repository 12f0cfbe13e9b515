//! Property tests: histories produced by running a sequential object with random real-time
//! overlaps are linearizable; corrupting one read usually makes them not, and the checker always
//! agrees with a brute-force checker on small histories.
use faultline_checkers::linearizability::{check_operations, CheckOptions, Operation, Verdict};
use faultline_checkers::spec::{
    AppendInput, AppendOp, AppendOutput, AppendSpec, Elem, KvInput, KvOp, KvOutput, KvSpec,
    RegisterInput, RegisterOp, RegisterOutput, RegisterSpec, Spec,
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
    gens_spread(max, 40)
}

/// Like [`gens`], with calls and returns reaching at most `spread` time units out (ops take
/// effect 10 units apart): smaller spreads make fewer overlaps.
fn gens_spread(max: usize, spread: u64) -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0u8..3,
            0u8..3,
            0u8..3,
            0u8..2,
            0u64..spread,
            0u64..spread,
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

/// A kv run where one get reports its key's value as of a few ops earlier or later: sometimes
/// still linearizable (ops overlap), sometimes not. Unlike a corrupted value, a misread one is
/// reachable in some order, which exercises the pruning of unreachable reads.
fn misread_kv(g: &[Gen], pick: usize, delta: i64) -> Option<Vec<Operation<KvInput, KvOutput>>> {
    let mut ops = run_kv(g);
    let gets: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].output, Some(KvOutput::Get(_))) && !ops[i].is_open())
        .collect();
    if gets.is_empty() {
        return None;
    }
    let i = gets[pick % gets.len()];
    let n = (i as i64 + 1 + delta).clamp(0, g.len() as i64) as usize;
    let mut value: Option<String> = None;
    for x in g[..n].iter().filter(|x| x.key == g[i].key) {
        match x.kind {
            0 => {}
            1 => value = Some(x.a.to_string()),
            _ => value
                .get_or_insert_with(String::new)
                .push_str(&x.a.to_string()),
        }
    }
    ops[i].output = Some(KvOutput::Get(value.map(Into::into)));
    Some(ops)
}

/// Runs list-append on two keys sequentially: op i takes effect at time 10*i + 5; kind 0 reads,
/// anything else appends element i (unique, as the workload makes them).
fn run_append(g: &[Gen]) -> Vec<Operation<AppendInput, AppendOutput>> {
    let mut lists: [Vec<Elem>; 2] = [vec![], vec![]];
    g.iter()
        .enumerate()
        .map(|(i, x)| {
            let at = 100 + 10 * i as u64;
            let k = x.key as usize;
            let (op, out) = if x.kind == 0 {
                (AppendOp::Read, AppendOutput::Read(lists[k].clone().into()))
            } else {
                let e: Elem = i.to_string().into();
                lists[k].push(e.clone());
                (AppendOp::Append(e), AppendOutput::Ok)
            };
            let input = AppendInput {
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

/// Drops from one completed read an element whose append was acknowledged before the read was
/// invoked: a lost write. Returns false when no read has such an element.
fn drop_acked_element(ops: &mut [Operation<AppendInput, AppendOutput>], pick: usize) -> bool {
    let acked_before = |e: &Elem, key: &str, call: u64| {
        ops.iter().any(|a| {
            matches!(&a.input.op, AppendOp::Append(x) if x == e)
                && &*a.input.key == key
                && !a.is_open()
                && a.ret.is_some_and(|r| r < call)
        })
    };
    let mut candidates = Vec::new();
    for (i, r) in ops.iter().enumerate() {
        if let (Some(AppendOutput::Read(list)), false) = (&r.output, r.is_open()) {
            for (j, e) in list.iter().enumerate() {
                if acked_before(e, &r.input.key, r.call) {
                    candidates.push((i, j));
                }
            }
        }
    }
    if candidates.is_empty() {
        return false;
    }
    let (i, j) = candidates[pick % candidates.len()];
    if let Some(AppendOutput::Read(list)) = &mut ops[i].output {
        let mut l = list.to_vec();
        l.remove(j);
        *list = l.into();
    }
    true
}

/// Swaps two adjacent elements of one completed read: usually an order no run allows, sometimes
/// one that overlapping appends do (the brute force decides which).
fn swap_in_read(ops: &mut [Operation<AppendInput, AppendOutput>], pick: usize) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            !ops[i].is_open()
                && matches!(&ops[i].output, Some(AppendOutput::Read(l)) if l.len() >= 2)
        })
        .collect();
    if reads.is_empty() {
        return false;
    }
    let i = reads[pick % reads.len()];
    if let Some(AppendOutput::Read(list)) = &mut ops[i].output {
        let mut l = list.to_vec();
        let j = pick % (l.len() - 1);
        l.swap(j, j + 1);
        *list = l.into();
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
    fn sequential_append_runs_are_linearizable(g in gens(60)) {
        let ops = run_append(&g);
        prop_assert_eq!(check(&AppendSpec, &ops), Verdict::Linearizable);
    }

    #[test]
    fn a_read_missing_an_acknowledged_earlier_append_is_rejected(g in gens(40), pick in 0usize..64) {
        let mut ops = run_append(&g);
        prop_assume!(drop_acked_element(&mut ops, pick));
        prop_assert_eq!(check(&AppendSpec, &ops), Verdict::NotLinearizable, "ops: {:?}", ops);
    }

    #[test]
    fn reordered_append_read_agrees_with_brute_force(mut g in gens(10), pick in 0usize..16) {
        // One key, so that reads hold a few elements to swap.
        g.iter_mut().for_each(|x| x.key = 0);
        let mut ops = run_append(&g);
        prop_assume!(swap_in_read(&mut ops, pick));
        let ours = check(&AppendSpec, &ops);
        prop_assert_eq!(ours == Verdict::Linearizable, brute_force(&AppendSpec, &ops), "ops: {:?}", ops);
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn misread_kv_agrees_with_brute_force(g in gens_spread(9, 10), pick in 0usize..8, delta in -4i64..4) {
        let ops = misread_kv(&g, pick, delta);
        prop_assume!(ops.is_some());
        let ops = ops.expect("some");
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

/// Threads change nothing: on many-key histories (large enough to run in parallel), some keys
/// corrupted, the parallel check reports exactly what the sequential one does.
#[test]
fn parallel_check_matches_sequential() {
    use faultline_checkers::linearizability::check_operations_parallel;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let spec = KvSpec::default();
    let mut verdicts = Vec::new();
    for round in 0..12 {
        let mut ops = Vec::new();
        let mut key = 0;
        while ops.len() < 1200 {
            key += 1;
            let mut g = gens(160).new_tree(&mut runner).expect("gen").current();
            for x in &mut g {
                x.key = 0;
            }
            let mut part = run_kv(&g);
            for op in &mut part {
                op.input.key = format!("k{key}").into();
            }
            // Even rounds corrupt a few keys (different ones each time), odd rounds none.
            if round % 2 == 0 && (key + round) % 5 == 0 {
                corrupt_kv(&mut part, round + key);
            }
            ops.extend(part);
        }
        let opts = CheckOptions::default();
        let seq = check_operations(&spec, &ops, &opts);
        verdicts.push(seq.verdict);
        for threads in [2, 3] {
            let par = check_operations_parallel(&spec, &ops, &opts, threads);
            assert_eq!(par, seq, "round {round}, {threads} threads");
        }
    }
    assert!(verdicts.contains(&Verdict::Linearizable));
    assert!(verdicts.contains(&Verdict::NotLinearizable));
}
