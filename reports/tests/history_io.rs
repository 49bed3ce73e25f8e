//! Readers and writers of histories: dsim's JSON lines and Jepsen's EDN.

use reports::history_io::{
    Format, ParseError, detect, parse, parse_edn, parse_jsonl, to_edn, to_edn_independent, to_jsonl,
};
use reports::ops::{COp, Call, CheckHistory, NIL, Ret, Status, Val};

const DSIM_KV: &str = include_str!("data/dsim_kv.jsonl");
const REGISTER_JSONL: &str = include_str!("data/register.jsonl");
const REGISTER_EDN: &str = include_str!("data/register.edn");
const CAS_EDN: &str = include_str!("data/cas_register.edn");
const KV_EDN: &str = include_str!("data/kv.edn");
const INDEPENDENT_EDN: &str = include_str!("data/independent.edn");

const FIXTURES: [(&str, &str); 6] = [
    ("dsim_kv.jsonl", DSIM_KV),
    ("register.jsonl", REGISTER_JSONL),
    ("register.edn", REGISTER_EDN),
    ("cas_register.edn", CAS_EDN),
    ("kv.edn", KV_EDN),
    ("independent.edn", INDEPENDENT_EDN),
];

/// One line per op: `#id p=process k=key call ret status invoke..complete t=ns..ns`.
fn show(h: &CheckHistory) -> Vec<String> {
    let v = |x: &Val| h.value_name(*x).to_string();
    let list = |xs: &[Val]| xs.iter().map(v).collect::<Vec<_>>().join(" ");
    h.ops
        .iter()
        .map(|op| {
            let call = match &op.call {
                Call::Read => "read".to_string(),
                Call::Write(x) => format!("write {}", v(x)),
                Call::Cas { expected, new } => format!("cas {}->{}", v(expected), v(new)),
                Call::Append(x) => format!("append {}", v(x)),
                Call::Delete => "delete".to_string(),
            };
            let ret = match &op.ret {
                Ret::Nothing => "-".to_string(),
                Ret::Value(x) => format!("={}", v(x)),
                Ret::List(xs) => format!("=[{}]", list(xs)),
                Ret::Siblings(xs) => format!("=#{{{}}}", list(xs)),
            };
            let opt = |o: Option<u64>| o.map_or("_".to_string(), |x| x.to_string());
            format!(
                "#{} p={} k={} {call} {ret} {:?} {}..{} t={}..{}",
                op.id,
                h.processes[op.process],
                h.key_name(op.key),
                op.status,
                op.invoke,
                opt(op.complete),
                opt(op.invoke_ns),
                opt(op.complete_ns)
            )
        })
        .collect()
}

fn err(text: &str, format: Format) -> ParseError {
    match parse(text, format) {
        Ok(h) => panic!("expected an error, parsed {:#?}", show(&h)),
        Err(e) => e,
    }
}

/// Ids are line numbers when the source has no op ids, so they may differ
/// between two renderings of the same history; so may the lines.
fn without_ids(h: &CheckHistory) -> CheckHistory {
    let mut h = without_lines(h);
    for op in &mut h.ops {
        op.id = 0;
    }
    h
}

/// The invocations' lines differ between two renderings of a history.
fn without_lines(h: &CheckHistory) -> CheckHistory {
    let mut h = h.clone();
    for op in &mut h.ops {
        op.line = None;
    }
    h
}

#[test]
fn detects_the_format() {
    assert_eq!(detect("{\"process\": 0}"), Format::Jsonl);
    assert_eq!(detect("\n\n  { \"process\": 0}"), Format::Jsonl);
    assert_eq!(detect(""), Format::Jsonl);
    assert_eq!(detect("{:process 0}"), Format::Edn);
    assert_eq!(detect("  [{:process 0}]"), Format::Edn);
    assert_eq!(detect("#jepsen.history.Op{:process 0}"), Format::Edn);
    assert_eq!(detect("; a comment\n{:process 0}"), Format::Edn);
    for (name, text) in FIXTURES {
        let want = if name.ends_with(".edn") { Format::Edn } else { Format::Jsonl };
        assert_eq!(detect(text), want, "{name}");
    }
}

#[test]
fn dsim_jsonl_with_op_ids_and_concurrent_ops_per_process() {
    let h = parse_jsonl(DSIM_KV).unwrap();
    assert_eq!(
        show(&h),
        [
            "#0 p=0 k=1 write 11 - Ok 0..3 t=100..200",
            "#1 p=1 k=1 read =11 Ok 1..4 t=150..250",
            "#2 p=0 k=1 read =nil Ok 2..6 t=160..310",
            "#3 p=1 k=2 write 12 - Unknown 5.._ t=300..900",
            "#4 p=1 k=2 read =#{12 13} Ok 7..10 t=950..1000",
            "#5 p=0 k=2 read - Fail 8..9 t=960..990",
            "#6 p=0 k=2 write 14 - Unknown 11.._ t=1100.._",
        ]
    );
    assert_eq!(h.processes, ["0", "1"]);
    assert_eq!(h.keys, ["1", "2"]);
    assert_eq!(h.values, ["nil", "11", "12", "13", "14"]);
    // Each op keeps its invocation's line (the blank line 6 counts), which
    // differs from its op id.
    let lines: Vec<Option<usize>> = h.ops.iter().map(|o| o.line).collect();
    assert_eq!(lines, [1, 2, 3, 7, 10, 11, 14].map(Some));
    assert_eq!(h.op_name(&h.ops[3]), "op 3 (line 7)");
}

#[test]
fn jsonl_without_op_ids_pairs_by_process_and_skips_the_nemesis() {
    let h = parse_jsonl(REGISTER_JSONL).unwrap();
    assert_eq!(
        show(&h),
        [
            "#1 p=c1 k=- write 3 - Ok 0..2 t=_.._",
            "#2 p=c2 k=- write \"3\" - Ok 1..3 t=_.._",
            "#6 p=c1 k=- read =3 Ok 4..5 t=_.._",
            "#8 p=c2 k=- read - Unknown 6.._ t=_.._",
        ]
    );
    // 3 and "3" are different values.
    assert_eq!(h.values, ["nil", "3", "\"3\""]);
}

#[test]
fn jepsen_register_with_info_and_nemesis_ops() {
    let h = parse_edn(REGISTER_EDN).unwrap();
    assert_eq!(
        show(&h),
        [
            "#1 p=0 k=- write 1 - Ok 0..2 t=1000..2000",
            "#2 p=1 k=- read =1 Ok 1..3 t=1100..2100",
            "#7 p=0 k=- write 2 - Unknown 4.._ t=3000..4000",
            "#9 p=5 k=- read =2 Ok 5..6 t=5000..6000",
            "#11 p=1 k=- read - Fail 7..8 t=6500..7000",
        ]
    );
    assert_eq!(h.processes, ["0", "1", "5"]);
    assert!(h.keys.is_empty());
}

#[test]
fn jepsen_cas_register_in_one_vector_with_records_and_a_failed_cas() {
    let h = parse_edn(CAS_EDN).unwrap();
    assert_eq!(
        show(&h),
        [
            "#2 p=0 k=- write 1 - Ok 0..1 t=10..20",
            "#4 p=1 k=- cas 1->2 - Ok 2..4 t=30..40",
            "#5 p=2 k=- cas 5->6 - Fail 3..5 t=31..41",
            "#8 p=0 k=- read =2 Ok 6..7 t=50..60",
            "#11 p=3 k=- cas 2->3 - Unknown 8.._ t=70..80",
        ]
    );
}

#[test]
fn edn_kv_with_keys_lists_and_deletes() {
    let h = parse_edn(KV_EDN).unwrap();
    assert_eq!(
        show(&h),
        [
            "#1 p=0 k=:x append 1 - Ok 0..1 t=_.._",
            "#3 p=1 k=:x append 2 - Ok 2..3 t=_.._",
            "#5 p=0 k=:x read =[1 2] Ok 4..5 t=_.._",
            "#7 p=1 k=\"y\" write \"a\" - Ok 6..7 t=_.._",
            "#9 p=0 k=\"y\" delete - Ok 8..9 t=_.._",
            "#11 p=1 k=\"y\" read =nil Ok 10..11 t=_.._",
        ]
    );
}

#[test]
fn jepsen_independent_tuples_become_keys() {
    let h = parse_edn(INDEPENDENT_EDN).unwrap();
    assert_eq!(
        show(&h),
        [
            "#1 p=0 k=0 write 1 - Ok 0..2 t=1..3",
            "#2 p=1 k=1 read =nil Ok 1..3 t=2..4",
            "#5 p=2 k=0 cas 1->2 - Fail 4..5 t=5..6",
            "#8 p=0 k=0 read =1 Ok 6..7 t=7..8",
            "#10 p=3 k=1 write 5 - Unknown 8.._ t=9..10",
        ]
    );
    assert_eq!(h.keys, ["0", "1"]);
}

#[test]
fn tuples_are_keys_only_when_every_invocation_has_one() {
    // Plain cas values [old new] are not tuples: a single register.
    let cas = "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 0, :type :ok, :f :cas, :value [1 2]}\n";
    let h = parse_edn(cas).unwrap();
    assert_eq!(show(&h), ["#1 p=0 k=- cas 1->2 - Ok 0..1 t=_.._"]);
    // One read invoked with nil: not independent, so a read of [1 2] is a list.
    let mixed = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value [1 2]}\n";
    assert_eq!(show(&parse_edn(mixed).unwrap()), ["#1 p=0 k=- read =[1 2] Ok 0..1 t=_.._"]);
    // With :key present anywhere, values are never split.
    let keyed = "{:process 0, :type :invoke, :f :append, :key 5, :value 1}\n\
                 {:process 1, :type :invoke, :f :read, :value [1 2]}\n";
    assert_eq!(parse_edn(keyed).unwrap().ops[1].key, None);
}

#[test]
fn edn_reader_syntax() {
    let text = r#"
; comments, commas, discards, tags, sets and odd scalars in ignored fields
[{:process 0 :type :invoke :f :write :value 3N :extra #{1 2 "x"} :error nil :time 5,}
 {:process 0, :type :ok, :f :write, :value 3, :note "tab\tnewline\n\"q\" \u00e9 \uD83D\uDE00", :c \a :d \newline}
 #_ {:process 7 :type :ok}
 {:process 1, :type :invoke, :f :write, :value 1.0, :stack (a.b/c "x.clj" 12), :r 1/3, :h 0xff}
 {:process 1, :type :ok, :f :write, :value -0, :inf ##Inf, :nan ##NaN, :big 123456789012345678901234567890N}
 {:process "p", :type :invoke, :f :write, :value :kw}
 {:process "p", :type "ok", :f "write", :value :kw, :dec 1.5M, :exc #error {:cause "x" :via [{:type java.io.IOException}]}}
 {:process :c2, :type :invoke, :f :write, :value "é\"x"}
 #jepsen.history.Op{:process :c2, :type :ok, :f :write, :value sym-bol}
]
"#;
    let h = parse_edn(text).unwrap();
    assert_eq!(
        show(&h),
        [
            "#3 p=0 k=- write 3 - Ok 0..1 t=5.._",
            "#6 p=1 k=- write 1.0 - Ok 2..3 t=_.._",
            "#8 p=p k=- write :kw - Ok 4..5 t=_.._",
            "#10 p=:c2 k=- write \"é\\\"x\" - Ok 6..7 t=_.._",
        ]
    );
    // 3N is 3; 1.0 is not 1.
    assert_eq!(h.values, ["nil", "3", "1.0", ":kw", "\"é\\\"x\""]);
}

#[test]
fn a_write_takes_its_value_from_the_completion_when_the_invocation_has_none() {
    let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":7}\n";
    assert_eq!(show(&parse_jsonl(text).unwrap()), ["#1 p=0 k=- write 7 - Ok 0..1 t=_.._"]);
    // Never completed: a write of nil.
    let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\"}\n";
    assert_eq!(show(&parse_jsonl(text).unwrap()), ["#1 p=0 k=- write nil - Unknown 0.._ t=_.._"]);
}

#[test]
fn a_process_may_invoke_again_after_info() {
    let text = "{:process 0, :type :invoke, :f :write, :value 1}\n\
                {:process 0, :type :info, :f :write, :value 1}\n\
                {:process 0, :type :invoke, :f :read, :value nil}\n\
                {:process 0, :type :ok, :f :read, :value 1}\n";
    assert_eq!(
        show(&parse_edn(text).unwrap()),
        ["#1 p=0 k=- write 1 - Unknown 0.._ t=_.._", "#3 p=0 k=- read =1 Ok 1..2 t=_.._"]
    );
}

#[test]
fn empty_histories() {
    for text in ["", "\n\n", "[]", "; nothing\n", "{:process :nemesis, :type :info, :f :start}"] {
        let h = parse(text, detect(text)).unwrap();
        assert!(h.ops.is_empty(), "{text:?}");
        assert_eq!(h.values, ["nil"]);
    }
}

#[test]
fn jsonl_round_trips_exactly() {
    for (name, text) in FIXTURES {
        if name == "kv.edn" {
            continue; // keyword keys: see keywords_become_strings_in_json
        }
        let h = parse(text, detect(text)).unwrap();
        let out = to_jsonl(&h);
        assert_eq!(detect(&out), Format::Jsonl);
        assert_eq!(without_lines(&parse_jsonl(&out).unwrap()), without_lines(&h), "{name}:\n{out}");
        assert_eq!(to_jsonl(&parse_jsonl(&out).unwrap()), out, "{name}");
    }
}

#[test]
fn edn_round_trips_up_to_ids() {
    for (name, text) in FIXTURES {
        let h = parse(text, detect(text)).unwrap();
        for out in [to_edn(&h), to_edn_independent(&h)] {
            assert_eq!(detect(&out), Format::Edn);
            let back = parse_edn(&out).unwrap_or_else(|e| panic!("{name}: {e}\n{out}"));
            if name == "dsim_kv.jsonl" {
                continue; // concurrent ops per process: see below
            }
            assert_eq!(without_ids(&back), without_ids(&h), "{name}:\n{out}");
            assert_eq!(to_edn(&back), to_edn(&h), "{name}");
        }
    }
}

#[test]
fn edn_gives_concurrent_ops_of_a_process_their_own_jepsen_process() {
    let h = parse_jsonl(DSIM_KV).unwrap();
    let out = to_edn(&h);
    assert!(out.lines().nth(2).unwrap().contains(":process 2,"), "{out}");
    let back = parse_edn(&out).unwrap();
    assert_eq!(back.processes, ["0", "1", "2"]);
    let strip = |h: &CheckHistory| -> Vec<COp> {
        without_ids(h)
            .ops
            .into_iter()
            .map(|mut op| {
                op.process = 0;
                op
            })
            .collect()
    };
    assert_eq!(strip(&back), strip(&h));
    assert_eq!(back.values, h.values);
    assert_eq!(back.keys, h.keys);
    // String process names get a suffix instead.
    let text = "{\"op\":1,\"process\":\"c1\",\"type\":\"invoke\",\"f\":\"read\"}\n\
                {\"op\":2,\"process\":\"c1\",\"type\":\"invoke\",\"f\":\"read\"}\n\
                {\"op\":1,\"process\":\"c1\",\"type\":\"ok\",\"f\":\"read\"}\n";
    let back = parse_edn(&to_edn(&parse_jsonl(text).unwrap())).unwrap();
    assert_eq!(back.processes, ["c1", "c1/1"]);
}

#[test]
fn independent_output_is_read_back_as_keys() {
    let h = parse_edn(INDEPENDENT_EDN).unwrap();
    let out = to_edn_independent(&h);
    assert!(out.contains(":f :cas, :value [0 [1 2]]"), "{out}");
    assert!(!out.contains(":key"), "{out}");
    assert_eq!(without_ids(&parse_edn(&out).unwrap()), without_ids(&h));
}

#[test]
fn keywords_become_strings_in_json() {
    let h = parse_edn(KV_EDN).unwrap();
    let back = parse_jsonl(&to_jsonl(&h)).unwrap();
    assert_eq!(back.keys, ["\":x\"", "\"y\""]);
    assert_eq!(show(&back).len(), show(&h).len());
}

#[test]
fn hand_built_histories_are_written_readably() {
    let mut h = CheckHistory::new();
    h.processes = vec!["client one".into()];
    h.keys = vec!["k 1".into()];
    h.values.extend(["v1".to_string(), "two words".to_string(), "nil".to_string()]);
    let op = |id, call, ret, status, invoke, complete| COp {
        id,
        line: None,
        process: 0,
        key: Some(0),
        call,
        ret,
        status,
        invoke,
        complete,
        invoke_ns: None,
        complete_ns: None,
    };
    h.ops = vec![
        op(7, Call::Write(1), Ret::Nothing, Status::Ok, 0, Some(1)),
        op(7, Call::Cas { expected: 1, new: 2 }, Ret::Nothing, Status::Fail, 2, Some(3)),
        op(9, Call::Read, Ret::List(vec![1, 3, NIL]), Status::Ok, 4, Some(5)),
        op(10, Call::Append(99), Ret::Nothing, Status::Unknown, 6, None),
    ];
    let edn = to_edn(&h);
    let back = parse_edn(&edn).unwrap_or_else(|e| panic!("{e}\n{edn}"));
    assert_eq!(
        show(&back),
        [
            "#1 p=client one k=\"k 1\" write v1 - Ok 0..1 t=_.._",
            "#3 p=client one k=\"k 1\" cas v1->\"two words\" - Fail 2..3 t=_.._",
            "#5 p=client one k=\"k 1\" read =[v1 \"nil\" nil] Ok 4..5 t=_.._",
            "#7 p=client one k=\"k 1\" append \"?\" - Unknown 6.._ t=_.._",
        ]
    );
    let jsonl = to_jsonl(&h);
    let back = parse_jsonl(&jsonl).unwrap_or_else(|e| panic!("{e}\n{jsonl}"));
    // Repeated ids: ops are numbered by index instead.
    assert_eq!(back.ops.iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn errors_name_the_line_and_what_was_expected() {
    use Format::{Edn, Jsonl};
    let inv = |p: &str, f: &str| format!("{{\"process\":{p},\"type\":\"invoke\",\"f\":\"{f}\",\"value\":null}}");
    let ok = |p: &str, f: &str| format!("{{\"process\":{p},\"type\":\"ok\",\"f\":\"{f}\",\"value\":null}}");
    let cases: Vec<(String, Format, usize, &str)> = vec![
        // Malformed input.
        (format!("{}\n{{\"process\": 0,", inv("0", "read")), Jsonl, 2, "malformed JSON"),
        ("\n\n[1, 2]".into(), Jsonl, 3, "expected a JSON object"),
        ("{:process 0, :type :invoke\n, :f :read".into(), Edn, 2, "expected '}' to close the map opened on line 1"),
        ("{:process 0, :type :invoke, :f :read, :value \"abc}\n\n".into(), Edn, 3, "unterminated string starting on line 1"),
        ("{:process 0 :type}".into(), Edn, 1, "odd number"),
        ("\n{:process 0, :type :invoke, :f :read, :value 12abc}".into(), Edn, 2, "malformed number"),
        ("{:process 0, :type :invoke, :f :read)".into(), Edn, 1, "unexpected ')'"),
        ("{:process 0, :type :invoke, :f :read, :value # }".into(), Edn, 1, "expected a tag"),
        ("{:process 0, :type :invoke, :f :read, :value ##Foo}".into(), Edn, 1, "##Inf"),
        ("{:process 0, :type :invoke, :f :read, :value \"\\q\"}".into(), Edn, 1, "unknown string escape"),
        ("{:process 0, :type :invoke, :f :read, :value : }".into(), Edn, 1, "keyword name"),
        ("[{:process 0, :type :invoke, :f :read}\n".into(), Edn, 2, "not closed"),
        ("[{:process 0, :type :invoke, :f :read}]\n{:process 1}".into(), Edn, 2, "end of input"),
        ("[{:process 0, :type :invoke, :f :read}\n 7]".into(), Edn, 2, "expected an operation map"),
        // Missing and ill-typed fields.
        ("{\"type\":\"invoke\",\"f\":\"read\"}".into(), Jsonl, 1, "missing \"process\""),
        ("{\"process\":true,\"type\":\"invoke\",\"f\":\"read\"}".into(), Jsonl, 1, "expected \"process\" to be an integer or a string"),
        ("{\"process\":1.5,\"type\":\"invoke\",\"f\":\"read\"}".into(), Jsonl, 1, "expected \"process\""),
        ("{\"process\":0,\"f\":\"read\"}".into(), Jsonl, 1, "missing \"type\""),
        ("{\"process\":0,\"type\":3,\"f\":\"read\"}".into(), Jsonl, 1, "expected \"type\" to be invoke, ok, fail or info; found a number"),
        ("{\"process\":0,\"type\":\"invoke\"}".into(), Jsonl, 1, "missing \"f\""),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":[1]}".into(), Jsonl, 1, "expected \"key\""),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"op\":-1}".into(), Jsonl, 1, "expected \"op\" to be a non-negative integer"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"op\":\"a\"}".into(), Jsonl, 1, "expected \"op\""),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"time_ns\":\"soon\"}".into(), Jsonl, 1, "expected \"time_ns\""),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":{\"a\":1}}".into(), Jsonl, 1, "expected \"value\" to be a scalar"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":[1]}".into(), Jsonl, 1, "expected \"value\" to be a scalar"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":3}".into(), Jsonl, 1, "expected a cas \"value\" [expected new], found 3"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,2,3]}".into(), Jsonl, 1, "[expected new]"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\"}".into(), Jsonl, 1, "[expected new], found nil"),
        (format!("{}\n{{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":{{\"x\":1}}}}", inv("0", "read")), Jsonl, 2, "scalar, a list or siblings"),
        (format!("{}\n{{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[[1]]}}", inv("0", "read")), Jsonl, 2, "to be a scalar"),
        ("{:type :invoke, :f :read}".into(), Edn, 1, "missing :process"),
        ("{:process [0], :type :invoke, :f :read}".into(), Edn, 1, "expected :process"),
        ("\n{:process 0, :type :invoke, :f :read, :time -5}".into(), Edn, 2, "expected :time to be a non-negative integer"),
        ("{:process 0, :type :invoke, :f :read, :key {:a 1}}".into(), Edn, 1, "expected :key to be a scalar"),
        // Unknown type and f.
        ("{\"process\":0,\"type\":\"done\",\"f\":\"read\"}".into(), Jsonl, 1, "found done"),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\"}".into(), Jsonl, 1, "expected \"f\" to be read, write, cas, append or delete (or get, put); found txn"),
        ("{:process 0, :type :begin, :f :read}".into(), Edn, 1, "expected :type to be invoke, ok, fail or info; found begin"),
        ("\n\n{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}".into(), Edn, 3, "expected :f to be read"),
        // Pairing.
        (format!("{}\n{}", inv("0", "read"), ok("1", "read")), Jsonl, 2, "ok completion for process 1, which has no outstanding invocation"),
        (format!("{}\n{}\n{}", inv("0", "read"), ok("0", "read"), ok("0", "read")), Jsonl, 3, "no outstanding invocation"),
        ("{\"op\":4,\"process\":0,\"type\":\"fail\",\"f\":\"read\"}".into(), Jsonl, 1, "fail completion of op 4, which has no outstanding invocation"),
        (format!("{}\n\n{}", inv("0", "read"), inv("0", "write")), Jsonl, 3, "process 0 invokes again while its invocation on line 1 is outstanding"),
        ("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :read}".into(), Edn, 2, "invokes again"),
        (format!("{}\n{}", inv("0", "read"), ok("0", "write")), Jsonl, 2, "ok completion has \"f\" write, but its invocation on line 1 has read"),
        ("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :info, :f :cas}".into(), Edn, 2, "info completion has :f cas"),
        (
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":2}".into(),
            Jsonl,
            2,
            "ok completion has \"key\" 2, but its invocation on line 1 has 1",
        ),
        (
            "{\"op\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"op\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n{\"op\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}".into(),
            Jsonl,
            3,
            "op id 1 is already used on line 1",
        ),
        (
            "{\"op\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"op\":2,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"read\"}".into(),
            Jsonl,
            3,
            "2 outstanding invocations (lines 1, 2)",
        ),
        (
            "{\"op\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"op\":1,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}".into(),
            Jsonl,
            2,
            "comes from process 1, but its invocation on line 1 came from process 0",
        ),
        ("{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\"}\n{\"process\":0,\"type\":\"ok\",\"f\":\"cas\",\"value\":5}".into(), Jsonl, 2, "[expected new], found 5"),
        (
            "{:process 0, :type :invoke, :f :write, :value [0 1]}\n{:process 0, :type :ok, :f :write, :value 1}".into(),
            Edn,
            2,
            "independent [key value] tuple",
        ),
    ];
    for (text, format, line, needle) in cases {
        let e = err(&text, format);
        assert_eq!(e.line, line, "{text}\n=> {e}");
        assert!(e.message.contains(needle), "{text}\n=> {e}\nwanted {needle:?}");
        assert_eq!(e.to_string(), format!("line {line}: {}", e.message));
    }
}

#[test]
fn deep_nesting_and_odd_input_are_errors_not_crashes() {
    let deep = format!("{{:process 0, :type :invoke, :f :read, :value {}}}", "[".repeat(100_000));
    assert!(err(&deep, Format::Edn).message.contains("nested"));
    let deep_discard = format!("{}1", "#_".repeat(100_000));
    assert!(parse_edn(&deep_discard).is_err());
    let deep_tags = format!("{}1", "#a ".repeat(100_000));
    assert!(parse_edn(&deep_tags).is_err());
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_jsonl(&deep_json).is_err());
    for text in [
        "\\",
        "#",
        "##",
        ":",
        "\"",
        "\\u12",
        "{:a \\uZZZZ}",
        "\u{0}",
        "{\u{1}}",
        "é",
        "#{",
        "(",
        "{:process 0 :value \"\\uD800\"}",
    ] {
        let _ = parse_edn(text);
        let _ = parse_jsonl(text);
    }
}

/// A small deterministic generator, so the fuzz test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    const SPICE: &[char] = &[
        '{', '}', '[', ']', '(', ')', '"', '\\', '#', '_', ':', ';', ',', ' ', '\n', '0', '9', '-', 'N', 'M', '.', 'e',
        'x', 'u', 'é', '\u{0}',
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        let len = chars.len();
        match rng.below(6) {
            0 => chars.truncate(rng.below(len + 1)),
            1 if len > 0 => {
                chars.remove(rng.below(len));
            }
            2 => chars.insert(rng.below(len + 1), SPICE[rng.below(SPICE.len())]),
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(40)).min(len);
                let slice: Vec<char> = chars[a..b].to_vec();
                let at = rng.below(len + 1);
                chars.splice(at..at, slice);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                chars[i] = SPICE[rng.below(SPICE.len())];
            }
            _ => {
                // Swap two lines.
                let mut lines: Vec<String> = chars.iter().collect::<String>().lines().map(String::from).collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn fuzzed_inputs_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seeds: Vec<String> = FIXTURES.iter().map(|(_, t)| t.to_string()).collect();
    for (_, text) in FIXTURES {
        let h = parse(text, detect(text)).unwrap();
        seeds.push(to_edn(&h));
        seeds.push(to_edn_independent(&h));
        seeds.push(to_jsonl(&h));
    }
    let (mut ok, mut bad) = (0, 0);
    for i in 0..4000 {
        let seed = &seeds[i % seeds.len()];
        let text = mutate(&mut rng, seed);
        for result in [parse(&text, detect(&text)), parse_edn(&text), parse_jsonl(&text)] {
            match result {
                Ok(h) => {
                    ok += 1;
                    // Whatever was read can be written and read back.
                    parse_jsonl(&to_jsonl(&h)).unwrap_or_else(|e| panic!("{e}\n{text}"));
                    parse_edn(&to_edn(&h)).unwrap_or_else(|e| panic!("{e}\n{text}"));
                }
                Err(e) => {
                    bad += 1;
                    assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1, "{e}\n{text:?}");
                }
            }
        }
    }
    assert!(ok > 100 && bad > 100, "ok {ok}, bad {bad}");
}
