//! Linearizability checker: hand-built histories with known verdicts for
//! every model, property tests over generated histories, a cross-check
//! against the brute-force checker, determinism and budgets.

use reports::linear::brute::{brute_force, brute_force_sequential};
use reports::linear::synth::{GenConfig, Rng, sequential};
use reports::linear::{
    Budget, CasRegister, Consistency, KvMap, Model, ModelKind, Register, check, check_explained, check_kind,
};
use reports::ops::{COp, Call, CheckHistory, NIL, Ret, Status, Val};
use reports::{CheckResult, Verdict};

// ---------------------------------------------------------------------------
// Helpers: operations at explicit real-time positions (also their times in ms).

fn op(process: usize, call: Call, ret: Ret, invoke: u64, complete: u64) -> COp {
    COp {
        id: 0,
        line: None,
        process,
        key: None,
        call,
        ret,
        status: Status::Ok,
        invoke,
        complete: Some(complete),
        invoke_ns: Some(invoke * 1_000_000),
        complete_ns: Some(complete * 1_000_000),
    }
}

fn w(p: usize, v: Val, a: u64, b: u64) -> COp {
    op(p, Call::Write(v), Ret::Nothing, a, b)
}

fn r(p: usize, v: Val, a: u64, b: u64) -> COp {
    op(p, Call::Read, Ret::Value(v), a, b)
}

fn rl(p: usize, l: &[Val], a: u64, b: u64) -> COp {
    op(p, Call::Read, Ret::List(l.to_vec()), a, b)
}

fn cas(p: usize, expected: Val, new: Val, a: u64, b: u64) -> COp {
    op(p, Call::Cas { expected, new }, Ret::Nothing, a, b)
}

fn app(p: usize, v: Val, a: u64, b: u64) -> COp {
    op(p, Call::Append(v), Ret::Nothing, a, b)
}

fn del(p: usize, a: u64, b: u64) -> COp {
    op(p, Call::Delete, Ret::Nothing, a, b)
}

/// The operation with an unknown outcome: no completion, nothing observed.
fn unknown(mut o: COp) -> COp {
    o.status = Status::Unknown;
    o.complete = None;
    o.complete_ns = None;
    o.ret = Ret::Nothing;
    o
}

fn failed(mut o: COp) -> COp {
    o.status = Status::Fail;
    o.ret = Ret::Nothing;
    o
}

fn on(key: usize, mut o: COp) -> COp {
    o.key = Some(key);
    o
}

/// A history of `ops` (ids in order), values named by number, processes `c0`...
fn hist(ops: Vec<COp>) -> CheckHistory {
    let mut h = CheckHistory::new();
    h.values = (0..20).map(|v| if v == 0 { "nil".to_string() } else { v.to_string() }).collect();
    h.processes = (0..8).map(|p| format!("c{p}")).collect();
    h.keys = (0..8).map(|k| format!("key{k}")).collect();
    h.ops = ops.into_iter().enumerate().map(|(i, o)| COp { id: i, ..o }).collect();
    h
}

fn one_thread() -> Budget {
    Budget { threads: 1, ..Budget::default() }
}

fn model_verdict(h: &CheckHistory, kind: ModelKind) -> Verdict {
    check_kind(h, kind, &one_thread(), 3).verdict
}

fn brute(h: &CheckHistory, kind: ModelKind) -> bool {
    match kind {
        ModelKind::Register => brute_force(h, &Register),
        ModelKind::CasRegister => brute_force(h, &CasRegister),
        ModelKind::Kv => brute_force(h, &KvMap),
    }
}

/// Asserts the verdict for every listed model, and that the brute force agrees.
#[track_caller]
fn expect(ops: Vec<COp>, kinds: &[ModelKind], linearizable: bool) {
    let h = hist(ops);
    for &kind in kinds {
        let want = if linearizable { Verdict::Pass } else { Verdict::Fail };
        let res = check_kind(&h, kind, &one_thread(), 3);
        assert_eq!(res.verdict, want, "{} model: {:#?}", kind.name(), res);
        assert_eq!(brute(&h, kind), linearizable, "brute force, {} model", kind.name());
        if !linearizable {
            assert_eq!(res.violation_count, 1);
            assert_eq!(res.violations.len(), 1);
        }
    }
}

const ALL: &[ModelKind] = &ModelKind::ALL;
const WITH_CAS: &[ModelKind] = &[ModelKind::CasRegister, ModelKind::Kv];
const KV: &[ModelKind] = &[ModelKind::Kv];

// ---------------------------------------------------------------------------
// Hand-built histories.

#[test]
fn empty_and_all_failed_histories_pass() {
    expect(vec![], ALL, true);
    expect(vec![failed(w(0, 1, 0, 1)), failed(r(1, 5, 2, 3))], ALL, true);
    let res = check_kind(&hist(vec![]), ModelKind::Kv, &Budget::default(), 3);
    assert_eq!(res.name, "linearizable");
    assert_eq!(res.details["keys_checked"], 0);
}

#[test]
fn sequential_reads_see_the_last_write() {
    expect(vec![r(0, NIL, 0, 1), w(0, 1, 2, 3), r(1, 1, 4, 5)], ALL, true);
    expect(vec![w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 2, 4, 5)], ALL, true);
    // A stale read.
    expect(vec![w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 1, 4, 5)], ALL, false);
    // A read of the initial value after a write completed.
    expect(vec![w(0, 1, 0, 1), r(1, NIL, 2, 3)], ALL, false);
}

#[test]
fn a_read_of_a_value_never_written_fails() {
    expect(vec![w(0, 1, 0, 3), r(1, 7, 1, 2)], ALL, false);
}

#[test]
fn values_that_look_like_the_checkers_sentinel_are_still_checked() {
    let odd = reports::linear::UNREAD;
    // Merging states holding unread values must not let a read of the
    // sentinel itself pass.
    expect(vec![w(0, 1, 0, 1), r(1, odd, 2, 3)], ALL, false);
    expect(vec![w(0, odd, 0, 1), r(1, odd, 2, 3)], ALL, true);
}

#[test]
fn a_read_cannot_see_a_write_from_its_future() {
    expect(vec![r(1, 1, 0, 1), w(0, 1, 2, 3)], ALL, false);
    // Concurrent with the write, it can.
    expect(vec![r(1, 1, 0, 3), w(0, 1, 1, 2)], ALL, true);
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    // w1 and w2 overlap; later reads of either value alone are fine.
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, 1, 12, 13), r(2, 1, 14, 15)], ALL, true);
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, 2, 12, 13)], ALL, true);
    // Reads during the writes may see both, in one order only.
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, 2, 2, 3), r(2, 1, 4, 5), r(3, 1, 12, 13)], ALL, true);
    // Once both are done the value cannot change back.
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, 1, 12, 13), r(2, 2, 14, 15)], ALL, false);
    // Two readers that disagree on the order of the writes.
    expect(
        vec![w(0, 1, 0, 10), w(1, 2, 1, 11), r(2, 1, 2, 3), r(2, 2, 4, 5), r(3, 2, 2, 3), r(3, 1, 4, 5)],
        ALL,
        false,
    );
}

#[test]
fn an_unknown_write_that_must_take_effect() {
    expect(vec![w(0, 1, 0, 1), unknown(w(1, 2, 2, 3)), r(2, 2, 5, 6)], ALL, true);
    // It may take effect long after its client gave up.
    expect(vec![w(0, 1, 0, 1), unknown(w(1, 2, 2, 3)), r(2, 1, 5, 6), r(2, 2, 7, 8)], ALL, true);
}

#[test]
fn an_unknown_write_that_must_not_take_effect() {
    expect(vec![w(0, 1, 0, 1), unknown(w(1, 2, 2, 3)), r(2, 1, 5, 6)], ALL, true);
    // Once seen, it cannot be undone.
    expect(vec![w(0, 1, 0, 1), unknown(w(1, 2, 2, 3)), r(2, 2, 5, 6), r(2, 1, 7, 8)], ALL, false);
    // It cannot take effect before it was invoked.
    expect(vec![w(0, 1, 0, 1), r(2, 2, 2, 3), unknown(w(1, 2, 4, 5))], ALL, false);
}

#[test]
fn an_unknown_read_constrains_nothing() {
    let mut u = r(1, 9, 2, 3);
    u.status = Status::Unknown;
    u.complete = None;
    expect(vec![w(0, 1, 0, 1), u, r(2, 1, 5, 6)], ALL, true);
}

#[test]
fn a_failed_write_never_happened() {
    expect(vec![w(0, 1, 0, 1), failed(w(1, 2, 2, 3)), r(2, 1, 5, 6)], ALL, true);
    expect(vec![w(0, 1, 0, 1), failed(w(1, 2, 2, 3)), r(2, 2, 5, 6)], ALL, false);
}

#[test]
fn cas_that_succeeded() {
    expect(vec![w(0, 1, 0, 1), cas(1, 1, 2, 2, 3), r(2, 2, 4, 5)], WITH_CAS, true);
    expect(vec![cas(1, NIL, 2, 0, 1), r(2, 2, 2, 3)], WITH_CAS, true);
    // Its expected value was never there.
    expect(vec![w(0, 1, 0, 1), cas(1, 3, 2, 2, 3)], WITH_CAS, false);
    // Two successful cas from the same value cannot both have found it.
    expect(vec![w(0, 1, 0, 1), cas(1, 1, 2, 2, 5), cas(2, 1, 3, 3, 6)], WITH_CAS, false);
}

#[test]
fn a_failed_cas_that_is_consistent() {
    expect(vec![w(0, 1, 0, 1), failed(cas(1, 3, 2, 2, 3)), r(2, 1, 4, 5)], WITH_CAS, true);
    // Concurrent with the write that installs the expected value: it came first.
    expect(vec![failed(cas(1, 1, 2, 1, 2)), w(0, 1, 0, 10), r(2, 1, 11, 12)], WITH_CAS, true);
}

#[test]
fn a_failed_cas_that_is_not_consistent() {
    // The value certainly was the expected one.
    expect(vec![w(0, 1, 0, 1), failed(cas(1, 1, 2, 2, 3))], WITH_CAS, false);
    // A failed cas has no effect.
    expect(vec![w(0, 1, 0, 1), failed(cas(1, 3, 2, 2, 3)), r(2, 2, 4, 5)], WITH_CAS, false);
}

#[test]
fn an_unknown_cas() {
    expect(vec![w(0, 1, 0, 1), unknown(cas(1, 1, 2, 2, 3)), r(2, 2, 4, 5)], WITH_CAS, true);
    expect(vec![w(0, 1, 0, 1), unknown(cas(1, 1, 2, 2, 3)), r(2, 1, 4, 5)], WITH_CAS, true);
    // Its comparison could never have matched.
    expect(vec![w(0, 1, 0, 1), unknown(cas(1, 3, 2, 2, 3)), r(2, 2, 4, 5)], WITH_CAS, false);
}

#[test]
fn the_register_model_rejects_cas_up_front() {
    let h = hist(vec![w(0, 1, 0, 1), cas(1, 1, 2, 2, 3)]);
    let res = check_kind(&h, ModelKind::Register, &Budget::default(), 3);
    assert_eq!(res.verdict, Verdict::Unknown);
    let reason = res.details["reason"].as_str().unwrap();
    assert!(reason.contains("register model does not support cas") && reason.contains("op 1"), "{reason}");
    let h = hist(vec![app(0, 1, 0, 1)]);
    assert_eq!(model_verdict(&h, ModelKind::CasRegister), Verdict::Unknown);
}

#[test]
fn kv_appends_build_lists() {
    expect(vec![app(0, 1, 0, 1), app(0, 2, 2, 3), rl(1, &[1, 2], 4, 5)], KV, true);
    expect(vec![app(0, 1, 0, 1), app(0, 2, 2, 3), rl(1, &[2, 1], 4, 5)], KV, false);
    // Concurrent appends: either order, but one order for everyone.
    expect(vec![app(0, 1, 0, 5), app(1, 2, 1, 6), rl(2, &[2, 1], 7, 8)], KV, true);
    expect(vec![app(0, 1, 0, 5), app(1, 2, 1, 6), rl(2, &[2, 1], 7, 8), rl(3, &[1, 2], 9, 10)], KV, false);
    // Appending to a value; a one-element list reads as the value and back.
    expect(vec![w(0, 1, 0, 1), app(0, 2, 2, 3), rl(1, &[1, 2], 4, 5)], KV, true);
    expect(vec![app(0, 3, 0, 1), r(1, 3, 2, 3), rl(1, &[3], 4, 5)], KV, true);
    // A list is not a single value.
    expect(vec![app(0, 1, 0, 1), app(0, 2, 2, 3), r(1, 2, 4, 5)], KV, false);
    expect(vec![app(0, 1, 0, 1), app(0, 2, 2, 3), cas(1, 1, 5, 4, 5)], KV, false);
}

#[test]
fn kv_delete_makes_a_key_absent() {
    expect(vec![w(0, 1, 0, 1), del(0, 2, 3), r(1, NIL, 4, 5)], KV, true);
    expect(vec![w(0, 1, 0, 1), del(0, 2, 3), rl(1, &[], 4, 5)], KV, true);
    expect(vec![w(0, 1, 0, 1), del(0, 2, 3), r(1, 1, 4, 5)], KV, false);
    expect(vec![app(0, 1, 0, 1), app(0, 2, 2, 3), del(0, 4, 5), app(0, 3, 6, 7), r(1, 3, 8, 9)], KV, true);
    expect(vec![w(0, 1, 0, 1), del(0, 2, 3), cas(1, NIL, 4, 4, 5), r(1, 4, 6, 7)], KV, true);
}

#[test]
fn kv_keys_are_independent() {
    // The same positions on two keys: key0 fine, key1 stale.
    let ops = vec![
        on(0, w(0, 1, 0, 1)),
        on(1, w(1, 1, 0, 1)),
        on(0, w(0, 2, 2, 3)),
        on(1, w(1, 2, 2, 3)),
        on(0, r(2, 2, 4, 5)),
        on(1, r(3, 1, 4, 5)),
    ];
    let h = hist(ops);
    assert!(!brute(&h, ModelKind::Kv));
    let res = check_kind(&h, ModelKind::Kv, &one_thread(), 3);
    assert_eq!(res.verdict, Verdict::Fail);
    assert_eq!(res.violation_count, 1);
    assert_eq!(res.details["failing_keys"], serde_json::json!(["key1"]));
    assert!(res.violations[0].ops.contains(&5), "{:?}", res.violations[0]);
    assert!(res.violations[0].message.starts_with("key key1:"), "{}", res.violations[0].message);
    // A value written on one key is not visible on another.
    expect(vec![on(0, w(0, 1, 0, 1)), on(1, r(1, 1, 2, 3))], KV, false);
}

#[test]
fn sibling_reads_are_consistent_if_the_value_is_among_them() {
    let sib = |p, vs: &[Val], a, b| op(p, Call::Read, Ret::Siblings(vs.to_vec()), a, b);
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), sib(2, &[1, 2], 12, 13)], ALL, true);
    expect(vec![w(0, 1, 0, 10), w(1, 2, 1, 11), sib(2, &[3], 12, 13)], ALL, false);
    expect(vec![w(0, 1, 0, 1), w(1, 2, 2, 3), sib(2, &[1, 3], 4, 5)], ALL, false);
}

#[test]
fn a_stale_read_counterexample_names_the_read() {
    // w1; w2; then a read of 1 (and a later, unrelated write).
    let h = hist(vec![w(0, 1, 0, 1), w(1, 2, 2, 3), w(0, 3, 10, 11), r(2, 1, 4, 5)]);
    let res = check_kind(&h, ModelKind::Register, &Budget::default(), 3);
    assert_eq!(res.verdict, Verdict::Fail);
    let v = &res.violations[0];
    assert_eq!(v.kind, "not-linearizable");
    // The write that must complete first, and the read it would strand.
    assert_eq!(v.ops, vec![1, 3]);
    assert_eq!(v.processes, vec!["c1".to_string(), "c2".to_string()]);
    assert_eq!(v.at_ms, 3.0);
    assert_eq!(
        v.message,
        "key -: not linearizable; the longest linearizable prefix has 1 ops (value then 1), and these cannot \
         be ordered after it: op 1 (c1 write 2, 2.000-3.000 ms) must take effect before it completes, but it \
         would leave 2, but op 3 still needs 1; op 3 (c2 read -> 1, 4.000-5.000 ms): it needs 1 but starts \
         only after op 1 completes"
    );
    let c = &res.details["counterexamples"][0];
    assert_eq!(c["key"], "-");
    assert_eq!(c["prefix"], serde_json::json!([0]));
    assert_eq!(c["prefix_len"], 1);
    assert_eq!(c["prefix_state"], "1");
    assert_eq!(c["stuck"][1]["id"], 3);
    assert_eq!(c["stuck"][1]["process"], "c2");
    assert_eq!(c["stuck"][1]["f"], "read");
    assert_eq!(c["stuck"][1]["observed"], "1");
    assert_eq!(c["stuck"][1]["status"], "ok");
    assert_eq!(c["stuck"][1]["invoke_ms"], 4.0);
    assert_eq!(c["stuck"][1]["complete_ms"], 5.0);
    assert_eq!(c["stuck"][0]["value"], "2");
}

#[test]
fn a_read_that_cannot_happen_is_named_with_the_value_it_saw() {
    // Without the hints a model can give, the read itself is where it sticks.
    let h = hist(vec![app(0, 1, 0, 1), app(1, 2, 2, 3), r(2, 1, 4, 5)]);
    let (res, examples) = check_explained(&h, &Counter, &one_thread(), 3);
    assert_eq!(res.verdict, Verdict::Fail);
    let c = &res.details["counterexamples"][0];
    assert_eq!(c["prefix_len"], 2);
    assert_eq!(c["stuck"][0]["id"], 2);
    assert_eq!(c["stuck"][0]["why"], "it cannot happen when the value is count 3");
    assert_eq!(res, check(&h, &Counter, &one_thread(), 3));
    assert_eq!(examples.len(), 1);
    assert_eq!(res.details["counterexamples"][0], serde_json::to_value(&examples[0]).unwrap());
    let text = examples[0].text();
    assert!(text.contains("longest linearizable prefix: 2 ops [0, 1], leaving count 3"), "{text}");
    assert!(text.contains("op 2 (c2 read -> 1, 4.000-5.000 ms) must take effect before it completes"), "{text}");
}

#[test]
fn a_counterexample_lists_the_pending_operations() {
    // After the write, two concurrent reads of values never written.
    let h = hist(vec![w(0, 1, 0, 1), r(1, 2, 2, 10), r(2, 3, 3, 11)]);
    let res = check_kind(&h, ModelKind::Register, &one_thread(), 3);
    assert_eq!(res.verdict, Verdict::Fail);
    let stuck = res.details["counterexamples"][0]["stuck"].as_array().unwrap();
    let mut ids: Vec<u64> = stuck.iter().map(|s| s["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2], "{stuck:#?}");
    assert_eq!(stuck[0]["id"], 1, "the read that returns first forces the search back");
    assert_eq!(res.details["counterexamples"][0]["prefix_len"], 1);
    assert_eq!(res.violations[0].processes, vec!["c1", "c2"]);
}

#[test]
fn counterexamples_are_bounded_by_max_examples() {
    let mut ops = Vec::new();
    for k in 0..5 {
        ops.push(on(k, w(0, 1, 0, 1)));
        ops.push(on(k, r(1, 2, 2, 3)));
    }
    let h = hist(ops);
    let res = check_kind(&h, ModelKind::Kv, &Budget::default(), 2);
    assert_eq!(res.verdict, Verdict::Fail);
    assert_eq!(res.violation_count, 5);
    assert_eq!(res.violations.len(), 2);
    assert_eq!(res.details["failing_keys"].as_array().unwrap().len(), 5);
    assert_eq!(res.details["counterexamples"].as_array().unwrap().len(), 2);
    let res = check_kind(&h, ModelKind::Kv, &Budget::default(), 0);
    assert!(res.violations.is_empty());
    assert_eq!(res.violation_count, 5);
}

#[test]
fn model_kinds_round_trip_their_names() {
    for k in ModelKind::ALL {
        assert_eq!(ModelKind::from_name(k.name()), Some(k));
    }
    assert_eq!(ModelKind::from_name("cas-register"), Some(ModelKind::CasRegister));
    assert_eq!(ModelKind::from_name("queue"), None);
}

// ---------------------------------------------------------------------------
// A protocol's own model: a counter where `append(x)` adds x and a read
// returns the sum.

struct Counter;

impl Model for Counter {
    type State = u64;
    fn name(&self) -> &'static str {
        "counter"
    }
    fn init(&self) -> u64 {
        0
    }
    fn step(&self, s: &u64, op: &COp) -> Option<u64> {
        match (&op.call, &op.ret) {
            (Call::Append(x), _) => Some(s + x),
            (Call::Read, Ret::Value(v)) if op.status == Status::Ok => (v == s).then_some(*s),
            (Call::Read, _) => Some(*s),
            _ => None,
        }
    }
    fn supports(&self, call: &Call) -> bool {
        matches!(call, Call::Read | Call::Append(_))
    }
    fn describe(&self, s: &u64, _h: &CheckHistory) -> String {
        format!("count {s}")
    }
}

#[test]
fn a_custom_model_plugs_in() {
    let ok = hist(vec![app(0, 2, 0, 5), app(1, 3, 1, 6), r(2, 3, 2, 4), r(2, 5, 7, 8)]);
    assert!(brute_force(&ok, &Counter));
    assert_eq!(check(&ok, &Counter, &one_thread(), 3).verdict, Verdict::Pass);
    let bad = hist(vec![app(0, 2, 0, 5), app(1, 3, 1, 6), r(2, 4, 2, 4)]);
    assert!(!brute_force(&bad, &Counter));
    let res = check(&bad, &Counter, &one_thread(), 3);
    assert_eq!(res.verdict, Verdict::Fail);
    assert_eq!(res.details["model"], "counter");
    assert!(res.violations[0].message.contains("count"), "{}", res.violations[0].message);
    let unsupported = hist(vec![w(0, 1, 0, 1)]);
    assert_eq!(check(&unsupported, &Counter, &one_thread(), 3).verdict, Verdict::Unknown);
}

// ---------------------------------------------------------------------------
// Property tests over generated histories.

fn gen_config(rng: &mut Rng, kind: ModelKind, seed: u64) -> GenConfig {
    let mut cfg =
        GenConfig::new(20 + rng.below(400) as usize, 1 + rng.below(12) as usize, 1 + rng.below(4) as usize, kind, seed);
    cfg.unknown_per_mille = rng.below(100) as u32;
    cfg.fail_per_mille = rng.below(50) as u32;
    cfg
}

#[test]
fn sequential_executions_with_overlapping_intervals_are_linearizable() {
    let mut rng = Rng::new(7);
    for kind in ModelKind::ALL {
        for seed in 0..40 {
            let h = sequential(&gen_config(&mut rng, kind, seed));
            let res = check_kind(&h, kind, &Budget::default(), 3);
            assert_eq!(res.verdict, Verdict::Pass, "{} seed {seed}: {:#?}", kind.name(), res.violations);
        }
    }
}

/// The definite reads of `h`, by index.
fn reads(h: &CheckHistory) -> Vec<usize> {
    (0..h.ops.len()).filter(|&i| h.ops[i].call == Call::Read && h.ops[i].status == Status::Ok).collect()
}

#[test]
fn a_read_of_a_value_never_written_breaks_a_generated_history() {
    let mut rng = Rng::new(11);
    for kind in ModelKind::ALL {
        for seed in 0..30 {
            let mut h = sequential(&gen_config(&mut rng, kind, seed));
            let rs = reads(&h);
            if rs.is_empty() {
                continue;
            }
            let i = rs[rng.below(rs.len() as u64) as usize];
            h.values.push("never".into());
            h.ops[i].ret = Ret::Value(h.values.len() as Val - 1);
            let res = check_kind(&h, kind, &Budget::default(), 3);
            assert_eq!(res.verdict, Verdict::Fail, "{} seed {seed}", kind.name());
            assert_eq!(res.violation_count, 1);
        }
    }
}

#[test]
fn a_read_of_a_later_write_breaks_a_generated_history() {
    let mut rng = Rng::new(12);
    let mut mutated = 0;
    for kind in ModelKind::ALL {
        for seed in 0..60 {
            let mut h = sequential(&gen_config(&mut rng, kind, seed));
            // A read, and a write of the same key invoked after it completed.
            let pair = reads(&h).into_iter().find_map(|i| {
                let (key, done) = (h.ops[i].key, h.ops[i].complete.unwrap());
                h.ops.iter().find_map(|o| match o.call {
                    Call::Write(v) if o.key == key && o.invoke > done && o.status != Status::Fail => Some((i, v)),
                    _ => None,
                })
            });
            let Some((i, v)) = pair else { continue };
            h.ops[i].ret = Ret::Value(v);
            let res = check_kind(&h, kind, &Budget::default(), 3);
            assert_eq!(res.verdict, Verdict::Fail, "{} seed {seed}", kind.name());
            mutated += 1;
        }
    }
    assert!(mutated > 100, "only {mutated} histories had a read before a write");
}

#[test]
fn mutating_a_read_in_a_small_history_agrees_with_brute_force() {
    let mut rng = Rng::new(13);
    let (mut pass, mut fail) = (0, 0);
    for kind in ModelKind::ALL {
        for seed in 0..400 {
            let mut cfg = GenConfig::new(3 + rng.below(6) as usize, 1 + rng.below(4) as usize, 1, kind, seed);
            cfg.max_latency_ns = 20;
            cfg.max_think_ns = 5;
            cfg.unknown_per_mille = 100;
            let mut h = sequential(&cfg);
            assert!(brute(&h, kind));
            let rs = reads(&h);
            if rs.is_empty() {
                continue;
            }
            let i = rs[rng.below(rs.len() as u64) as usize];
            let old = h.ops[i].ret.clone();
            let new = Ret::Value(rng.below(h.values.len() as u64));
            if new == old {
                continue;
            }
            h.ops[i].ret = new;
            let expected = brute(&h, kind);
            let got = model_verdict(&h, kind);
            assert_eq!(got == Verdict::Pass, expected, "{} seed {seed}: {h:#?}", kind.name());
            if expected { pass += 1 } else { fail += 1 }
        }
    }
    assert!(pass > 50 && fail > 200, "pass {pass}, fail {fail}");
}

// ---------------------------------------------------------------------------
// Cross-check against the brute force on random (mostly not linearizable)
// small histories.

/// A random small history. With `unique`, every write, append and cas
/// installs a value of its own (as real workloads do, and as the search's
/// pruning by needed contents assumes to be useful); otherwise values come
/// from a small set, so they repeat.
fn random_history(rng: &mut Rng, kind: ModelKind, n: usize, unique: bool) -> CheckHistory {
    // 2n distinct positions, two per operation.
    let mut pos: Vec<u64> = (0..2 * n as u64).collect();
    for i in (1..pos.len()).rev() {
        pos.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let keys = 1 + rng.below(2) as usize;
    let mut fresh: Val = 0;
    let mut new_value = |rng: &mut Rng| {
        if unique {
            fresh += 1;
            fresh
        } else {
            1 + rng.below(4)
        }
    };
    // A value to observe: from the small set, or any value up to n + 1.
    let seen = |rng: &mut Rng| if unique { rng.below(n as u64 + 2) } else { rng.below(4) };
    let mut ops = Vec::new();
    for i in 0..n {
        let (a, b) = (pos[2 * i].min(pos[2 * i + 1]), pos[2 * i].max(pos[2 * i + 1]));
        let roll = rng.below(100);
        let (call, ret) = match kind {
            _ if roll < 45 => {
                let ret = match rng.below(10) {
                    0 | 1 if kind == ModelKind::Kv => {
                        Ret::List((0..1 + rng.below(3)).map(|_| 1 + seen(rng) % (n as u64 + 1)).collect())
                    }
                    2 => Ret::Siblings(vec![seen(rng), seen(rng)]),
                    _ => Ret::Value(seen(rng)),
                };
                (Call::Read, ret)
            }
            ModelKind::Register => (Call::Write(new_value(rng)), Ret::Nothing),
            ModelKind::CasRegister if roll < 75 => (Call::Write(new_value(rng)), Ret::Nothing),
            ModelKind::Kv if roll < 60 => (Call::Write(new_value(rng)), Ret::Nothing),
            ModelKind::Kv if roll < 72 => (Call::Append(new_value(rng)), Ret::Nothing),
            ModelKind::Kv if roll < 78 => (Call::Delete, Ret::Nothing),
            _ => (Call::Cas { expected: seen(rng), new: new_value(rng) }, Ret::Nothing),
        };
        let mut o = op(rng.below(4) as usize, call, ret, a, b);
        o.key = Some(rng.below(keys as u64) as usize);
        match rng.below(100) {
            0..12 => o = unknown(o),
            12..22 => o.status = Status::Fail,
            _ => {}
        }
        ops.push(o);
    }
    hist(ops)
}

#[test]
fn the_search_agrees_with_brute_force_on_thousands_of_random_histories() {
    let mut rng = Rng::new(2024);
    for kind in ModelKind::ALL {
        let (mut pass, mut fail) = (0, 0);
        for case in 0..3000 {
            let n = if case % 10 == 0 { 8 } else { 1 + rng.below(7) as usize };
            let h = random_history(&mut rng, kind, n, case % 2 == 0);
            let expected = brute(&h, kind);
            let budget = Budget { threads: 1 + case % 2, ..Budget::default() };
            let got = check_kind(&h, kind, &budget, 1);
            assert_eq!(got.verdict == Verdict::Pass, expected, "{} case {case}: {h:#?}\n{got:#?}", kind.name());
            assert_ne!(got.verdict, Verdict::Unknown);
            if expected { pass += 1 } else { fail += 1 }
        }
        assert!(pass > 400 && fail > 400, "{}: pass {pass}, fail {fail}", kind.name());
    }
}

// ---------------------------------------------------------------------------
// Sequential consistency: implied by linearizability, and exact against its
// own brute force (per key: the check is per key, and sequential
// consistency, unlike linearizability, is not local).

fn sequential_verdict(h: &CheckHistory, kind: ModelKind) -> Verdict {
    kind.check(Consistency::Sequential, h, &one_thread(), 1).verdict
}

fn brute_sequential(h: &CheckHistory, kind: ModelKind) -> bool {
    let mut keys: Vec<Option<usize>> = h.ops.iter().map(|o| o.key).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        let mut sub = h.clone();
        sub.ops.retain(|o| o.key == k);
        match kind {
            ModelKind::Register => brute_force_sequential(&sub, &Register),
            ModelKind::CasRegister => brute_force_sequential(&sub, &CasRegister),
            ModelKind::Kv => brute_force_sequential(&sub, &KvMap),
        }
    })
}

#[test]
fn linearizable_histories_are_sequentially_consistent() {
    let mut rng = Rng::new(2025);
    for kind in ModelKind::ALL {
        let (mut both, mut only_sequential, mut neither) = (0, 0, 0);
        for case in 0..3000 {
            // Four processes whose operations overlap, their own included.
            let n = if case % 10 == 0 { 8 } else { 1 + rng.below(7) as usize };
            let h = random_history(&mut rng, kind, n, case % 2 == 0);
            let linearizable = model_verdict(&h, kind);
            let sequential = sequential_verdict(&h, kind);
            assert_ne!(sequential, Verdict::Unknown);
            if linearizable == Verdict::Pass {
                assert_eq!(
                    sequential,
                    Verdict::Pass,
                    "{} case {case}: linearizable but not sequential: {h:#?}",
                    kind.name()
                );
            }
            let expected = brute_sequential(&h, kind);
            assert_eq!(sequential == Verdict::Pass, expected, "{} case {case}: {h:#?}", kind.name());
            match (linearizable == Verdict::Pass, expected) {
                (true, _) => both += 1,
                (false, true) => only_sequential += 1,
                (false, false) => neither += 1,
            }
        }
        assert!(
            both > 400 && only_sequential > 50 && neither > 400,
            "{}: both {both}, only sequential {only_sequential}, neither {neither}",
            kind.name()
        );
    }
}

#[test]
fn generated_histories_are_sequentially_consistent() {
    let mut rng = Rng::new(8);
    for kind in ModelKind::ALL {
        for seed in 0..20 {
            let mut cfg = gen_config(&mut rng, kind, seed);
            cfg.ops = cfg.ops.min(150);
            let h = sequential(&cfg);
            let res = kind.check(Consistency::Sequential, &h, &Budget::default(), 3);
            assert_eq!(res.verdict, Verdict::Pass, "{} seed {seed}: {:#?}", kind.name(), res.violations);
        }
    }
}

// ---------------------------------------------------------------------------
// Determinism and budgets.

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let mut cfg = GenConfig::new(3000, 20, 40, ModelKind::Kv, 99);
    cfg.unknown_per_mille = 20;
    let mut h = sequential(&cfg);
    // Break several keys with reads of values never written.
    h.values.push("never".into());
    let never = h.values.len() as Val - 1;
    for i in reads(&h).into_iter().step_by(97) {
        h.ops[i].ret = Ret::Value(never);
    }
    let run = |threads| check_kind(&h, ModelKind::Kv, &Budget { threads, ..Budget::default() }, 5);
    let one: CheckResult = run(1);
    assert_eq!(one.verdict, Verdict::Fail);
    assert!(one.violation_count > 3);
    for threads in [2, 4, 7] {
        assert_eq!(run(threads), one, "{threads} threads");
    }
}

#[test]
fn each_key_gets_the_whole_memory_budget_whatever_the_threads() {
    // Key "a" needs about 1.2 MB of search cache to be refuted; key "b" is
    // trivial but makes a second worker useful. A budget shared by the
    // workers would decide "a" on one core and give up on two.
    let h = reports::history_io::parse_jsonl(include_str!("data/near_budget.jsonl")).unwrap();
    let run =
        |memory_bytes, threads| check_kind(&h, ModelKind::Kv, &Budget { memory_bytes, threads, time_ms: 60_000 }, 3);
    let one = run(2_000_000, 1);
    assert_eq!(one.verdict, Verdict::Fail, "{one:#?}");
    assert_eq!(run(2_000_000, 2), one);
    assert_eq!(run(2_000_000, 4), one);
    // Below what "a" needs, it is unknown on any number of threads.
    let small = run(1_000_000, 1);
    assert_eq!(small.verdict, Verdict::Unknown);
    assert!(small.reason().unwrap().starts_with("memory budget of 1000000 bytes for key \"a\" exceeded"), "{small:#?}");
    assert_eq!(run(1_000_000, 2).verdict, Verdict::Unknown);
}

/// `n` writes all concurrent with each other, then a read of a value none
/// of them wrote: the search must try every subset of the writes.
fn pathological(n: usize) -> CheckHistory {
    let mut ops: Vec<COp> = (0..n).map(|i| w(i % 8, 1 + (i as Val % 18), i as u64, (n + i) as u64)).collect();
    ops.push(r(0, 19, 2 * n as u64, 2 * n as u64 + 1));
    hist(ops)
}

#[test]
fn the_time_budget_turns_a_hopeless_search_into_unknown() {
    let h = pathological(40);
    let budget = Budget { time_ms: 1, ..Budget::default() };
    let res = check_kind(&h, ModelKind::Register, &budget, 3);
    assert_eq!(res.verdict, Verdict::Unknown);
    let reason = res.details["reason"].as_str().unwrap();
    assert!(reason.starts_with("time budget of 1 ms exceeded on key - after "), "{reason}");
    assert!(res.details["states_explored"].as_u64().unwrap() > 0);
}

#[test]
fn the_memory_budget_turns_a_hopeless_search_into_unknown() {
    let h = pathological(40);
    let budget = Budget { memory_bytes: 1 << 20, threads: 1, ..Budget::default() };
    let res = check_kind(&h, ModelKind::Register, &budget, 3);
    assert_eq!(res.verdict, Verdict::Unknown);
    let reason = res.details["reason"].as_str().unwrap();
    assert!(reason.starts_with("memory budget of 1048576 bytes for key - exceeded"), "{reason}");
}

#[test]
fn when_time_runs_out_the_remaining_keys_are_undecided() {
    let mut h = pathological(40);
    // A second key, plainly broken; the big key runs first (largest first).
    h.ops.push(COp { id: 41, key: Some(1), ..w(0, 1, 0, 1) });
    h.ops.push(COp { id: 42, key: Some(1), ..r(1, 2, 2, 3) });
    let budget = Budget { time_ms: 1, threads: 1, ..Budget::default() };
    let res = check_kind(&h, ModelKind::Register, &budget, 3);
    assert_eq!(res.verdict, Verdict::Unknown, "{res:#?}");
    assert_eq!(res.details["keys_unknown"], 2);
    let reason = res.details["reason"].as_str().unwrap();
    assert!(reason.starts_with("time budget of 1 ms exceeded on key - ") && reason.ends_with("(2 keys undecided)"));
}

// ---------------------------------------------------------------------------
// The pruning hints (observers, needed contents, unread values) against the
// plain search on histories too big for the brute force.

/// A built-in model without its pruning hints.
struct Plain<M>(M);

impl<M: Model> Model for Plain<M> {
    type State = M::State;
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn init(&self) -> M::State {
        self.0.init()
    }
    fn step(&self, s: &M::State, op: &COp) -> Option<M::State> {
        self.0.step(s, op)
    }
    fn supports(&self, call: &Call) -> bool {
        self.0.supports(call)
    }
    fn describe(&self, s: &M::State, h: &CheckHistory) -> String {
        self.0.describe(s, h)
    }
}

fn plain_verdict(h: &CheckHistory, kind: ModelKind) -> Verdict {
    let b = one_thread();
    match kind {
        ModelKind::Register => check(h, &Plain(Register), &b, 1).verdict,
        ModelKind::CasRegister => check(h, &Plain(CasRegister), &b, 1).verdict,
        ModelKind::Kv => check(h, &Plain(KvMap), &b, 1).verdict,
    }
}

#[test]
fn the_pruning_hints_never_change_a_verdict() {
    let mut rng = Rng::new(31);
    for kind in ModelKind::ALL {
        let (mut pass, mut fail) = (0, 0);
        for seed in 0..1000 {
            let (ops, procs) = (10 + rng.below(30) as usize, 2 + rng.below(6) as usize);
            let mut cfg = GenConfig::new(ops, procs, 1 + rng.below(2) as usize, kind, seed);
            cfg.max_latency_ns = 30;
            cfg.max_think_ns = 10;
            cfg.unknown_per_mille = rng.below(150) as u32;
            cfg.fail_per_mille = 50;
            let mut h = sequential(&cfg);
            // Change one or two reads: to another value, nil, or a list.
            for _ in 0..1 + rng.below(2) {
                let rs = reads(&h);
                if rs.is_empty() {
                    break;
                }
                let i = rs[rng.below(rs.len() as u64) as usize];
                let v = rng.below(h.values.len() as u64);
                h.ops[i].ret = match rng.below(4) {
                    0 if kind == ModelKind::Kv => Ret::List(vec![v, rng.below(h.values.len() as u64)]),
                    1 => Ret::Value(NIL),
                    _ => Ret::Value(v),
                };
            }
            let got = model_verdict(&h, kind);
            assert_ne!(got, Verdict::Unknown);
            assert_eq!(got, plain_verdict(&h, kind), "{} seed {seed}: {h:#?}", kind.name());
            if got == Verdict::Pass { pass += 1 } else { fail += 1 }
        }
        assert!(pass > 100 && fail > 300, "{}: pass {pass}, fail {fail}", kind.name());
    }
}
