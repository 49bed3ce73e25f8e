//! Bad scenario files and `--set` overrides, through the library: every
//! error names the key and the line where it can, and says what is wrong.

use scenarios::{InputError, load_str};

/// Four lines of `[scenario]`, then a blank line: extra text starts on line 6.
const HEAD: &str = "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\n\n";

const FILE: &str = "bad.toml";

/// How an error's key must look.
#[derive(Clone, Copy, Debug)]
enum Key {
    Absent,
    Is(&'static str),
    StartsWith(&'static str),
}

struct Case {
    name: &'static str,
    text: String,
    sets: &'static [&'static str],
    key: Key,
    /// `None`: the error names no line (e.g. a `--set` error).
    line: Option<u32>,
    /// Fragments the message must contain.
    message: &'static [&'static str],
}

fn head(extra: &str) -> String {
    format!("{HEAD}{extra}")
}

fn case(
    name: &'static str,
    text: impl Into<String>,
    key: Key,
    line: Option<u32>,
    message: &'static [&'static str],
) -> Case {
    Case { name, text: text.into(), sets: &[], key, line, message }
}

fn set_case(name: &'static str, sets: &'static [&'static str], key: Key, message: &'static [&'static str]) -> Case {
    Case { name, text: head(""), sets, key, line: None, message }
}

fn cases() -> Vec<Case> {
    use Key::*;
    vec![
        case("toml syntax error", head("[network\nloss = 0.1\n"), Absent, Some(6), &["expected"]),
        case("unterminated string", head("[network]\nlatency_ms = \"1\n"), Absent, Some(7), &[]),
        case("duplicate key", head("[network]\nloss = 0.1\nloss = 0.2\n"), Absent, Some(8), &["duplicate"]),
        case(
            "unknown top-level table",
            head("[netwrk]\nloss = 0.1\n"),
            Is("netwrk"),
            Some(6),
            &["unknown field `netwrk`"],
        ),
        case(
            "unknown key in [network]",
            head("[network]\nlos = 0.1\n"),
            Is("network.los"),
            Some(7),
            &["unknown field `los`"],
        ),
        case("loss above 1", head("[network]\nloss = 1.5\n"), Is("network.loss"), Some(7), &["probability", "1.5"]),
        case(
            "negative loss",
            head("[network]\nduplicate = -0.1\n"),
            Is("network.duplicate"),
            Some(7),
            &["probability"],
        ),
        case("loss is a string", head("[network]\nloss = \"high\"\n"), Is("network.loss"), Some(7), &["invalid type"]),
        case("negative latency", head("[network]\nlatency_ms = -1\n"), Is("network.latency_ms"), Some(7), &[">= 0"]),
        case(
            "uniform with min > max",
            head("[network]\nlatency_ms = { dist = \"uniform\", min = 3, max = 1 }\n"),
            Is("network.latency_ms"),
            Some(7),
            &["min <= max"],
        ),
        case(
            "unknown distribution",
            head("[network]\nlatency_ms = { dist = \"pareto\", min = 1 }\n"),
            Is("network.latency_ms"),
            Some(7),
            &["unknown distribution `pareto`"],
        ),
        case(
            "distribution with a foreign parameter",
            head("[workload]\nthink_time_ms = { dist = \"normal\", mean = 1, stddev = 1, min = 0 }\n"),
            Is("workload.think_time_ms"),
            Some(7),
            &["not `min`"],
        ),
        case("negative jitter", head("[network]\njitter_ms = -2\n"), Is("network.jitter_ms"), Some(7), &["from 0 to"]),
        case(
            "zero bandwidth",
            head("[network]\nbandwidth_bytes_per_s = 0\n"),
            Is("network.bandwidth_bytes_per_s"),
            Some(7),
            &["positive"],
        ),
        case(
            "missing scenario.name",
            "[scenario]\nprotocol = \"directory_kv\"\nduration_ms = 100\n",
            Is("scenario.name"),
            Some(1),
            &["missing field `name`"],
        ),
        case(
            "missing scenario.protocol",
            "[scenario]\nname = \"t\"\nduration_ms = 100\n",
            Is("scenario.protocol"),
            Some(1),
            &["missing field `protocol`"],
        ),
        case(
            "missing scenario.duration_ms",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\n",
            Is("scenario.duration_ms"),
            Some(1),
            &["missing field `duration_ms`"],
        ),
        case(
            "empty scenario.name",
            "[scenario]\nname = \" \"\nprotocol = \"directory_kv\"\nduration_ms = 100\n",
            Is("scenario.name"),
            Some(2),
            &["empty"],
        ),
        case(
            "duration_ms = 0",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 0\n",
            Is("scenario.duration_ms"),
            Some(4),
            &["positive"],
        ),
        case(
            "unknown protocol",
            "[scenario]\nname = \"t\"\nprotocol = \"carrier-pigeon\"\nduration_ms = 100\n",
            Is("scenario.protocol"),
            Some(3),
            &["unknown protocol `carrier-pigeon`"],
        ),
        case("zero nodes", head("[cluster]\nnodes = 0\n"), Is("cluster.nodes"), Some(7), &["between 1 and"]),
        case("negative nodes", head("[cluster]\nnodes = -1\n"), Is("cluster.nodes"), Some(7), &["-1"]),
        case(
            "replication_factor > nodes",
            head("[cluster]\nnodes = 2\n\n[params]\nreplication_factor = 5\n"),
            Is("params.replication_factor"),
            Some(10),
            &["number of storage nodes (2)", "got 5"],
        ),
        case(
            "unknown param",
            head("[params]\nreplicas = 2\n"),
            Is("params.replicas"),
            Some(7),
            &["unknown field `replicas`"],
        ),
        case("bad param value", head("[params]\nquery = \"sideways\"\n"), Is("params.query"), Some(7), &["sideways"]),
        case(
            "two-phase commit with a zero vote timeout",
            "[scenario]\nname = \"t\"\nprotocol = \"two_phase_commit\"\nduration_ms = 100\n\n[params]\n\
             coordinators = 2\nvote_timeout_ms = 0\n",
            Is("params.vote_timeout_ms"),
            Some(8),
            &["> 0 milliseconds"],
        ),
        case(
            "two-phase commit with an unknown bug",
            "[scenario]\nname = \"t\"\nprotocol = \"two_phase_commit\"\nduration_ms = 100\n\n[params]\n\
             bug = \"lost_disk\"\n",
            Is("params.bug"),
            Some(7),
            &["lost_disk"],
        ),
        case(
            "failure timeout below heartbeat",
            head("[params]\nheartbeat_interval_ms = 100\nfailure_timeout_ms = 50\n"),
            Is("params.failure_timeout_ms"),
            Some(8),
            &["heartbeat_interval_ms"],
        ),
        case(
            "primary_backup: zero dead pings",
            "[scenario]\nname = \"t\"\nprotocol = \"primary_backup\"\nduration_ms = 100\n\n[params]\ndead_pings = 0\n",
            Is("params.dead_pings"),
            Some(7),
            &["between 1 and"],
        ),
        case(
            "primary_backup: promote_idle without an idle server",
            "[scenario]\nname = \"t\"\nprotocol = \"primary_backup\"\nduration_ms = 100\n\n[cluster]\nnodes = 2\n\n\
             [params]\nbug = \"promote_idle\"\n",
            Is("params.bug"),
            Some(10),
            &["at least 3 servers"],
        ),
        case(
            "partition group names an unknown node",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"partition\"\ngroups = [[\"s1\", \"s9\"]]\n"),
            StartsWith("faults.schedule[0].groups"),
            Some(9),
            &["`s9`"],
        ),
        case(
            "node in two partition groups",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"partition\"\ngroups = [[\"s1\"], [\"s1\", \"s2\"]]\n"),
            StartsWith("faults.schedule[0].groups"),
            Some(9),
            &["two groups"],
        ),
        case(
            "crash of a node that does not exist",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"crash\"\nnodes = [\"s7\"]\n"),
            StartsWith("faults.schedule[0].nodes"),
            Some(9),
            &["`s7`"],
        ),
        case(
            "second schedule entry is the bad one",
            head(
                "[[faults.schedule]]\nat_ms = 1\naction = \"heal\"\n\n[[faults.schedule]]\nat_ms = 2\naction = \"restart\"\nnodes = [\"zz\"]\n",
            ),
            StartsWith("faults.schedule[1].nodes"),
            Some(13),
            &["`zz`"],
        ),
        case(
            "schedule field that does not belong to the action",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"heal\"\nnodes = [\"s1\"]\n"),
            Is("faults.schedule[0].nodes"),
            Some(9),
            &["does not apply"],
        ),
        case(
            "schedule entry without its argument",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"crash\"\n"),
            Is("faults.schedule[0]"),
            Some(6),
            &["needs `nodes`"],
        ),
        case(
            "unknown action",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"explode\"\n"),
            Is("faults.schedule[0].action"),
            Some(8),
            &["explode"],
        ),
        case(
            "set_loss above 1",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"set_loss\"\nvalue = 2\n"),
            Is("faults.schedule[0].value"),
            Some(9),
            &["probability"],
        ),
        case(
            "cut to an unknown node",
            head("[[faults.schedule]]\nat_ms = 10\naction = \"cut\"\nfrom = [\"dir\"]\nto = [\"nobody\"]\n"),
            StartsWith("faults.schedule[0].to"),
            Some(10),
            &["`nobody`"],
        ),
        case(
            "nemesis partition with one target",
            head("[[faults.nemesis]]\nkind = \"partition\"\ntargets = [\"s1\"]\ninterval_ms = 100\nduration_ms = 10\n"),
            Is("faults.nemesis[0].targets"),
            Some(8),
            &["at least two targets"],
        ),
        case(
            "nemesis interval below 1 ms",
            head("[[faults.nemesis]]\nkind = \"crash\"\ninterval_ms = 0.5\nduration_ms = 10\n"),
            Is("faults.nemesis[0].interval_ms"),
            Some(8),
            &["1 ms"],
        ),
        case(
            "group naming an unknown node",
            head("[[cluster.groups]]\nname = \"dc1\"\nnodes = [\"dir\", \"q\"]\n"),
            StartsWith("cluster.groups[0].nodes"),
            Some(8),
            &["`q`"],
        ),
        case(
            "group shadowing a role",
            head("[[cluster.groups]]\nname = \"storage\"\nnodes = [\"s1\"]\n"),
            Is("cluster.groups[0].name"),
            Some(7),
            &["already"],
        ),
        case(
            "link from an unknown node",
            head("[[network.links]]\nfrom = [\"c9\"]\nto = [\"dir\"]\nlatency_ms = 3\n"),
            StartsWith("network.links[0].from"),
            Some(7),
            &["`c9`"],
        ),
        case(
            "open workload without rate_per_s",
            head("[workload]\nmode = \"open\"\n"),
            StartsWith("workload"),
            Some(6),
            &["rate_per_s"],
        ),
        case(
            "rate_per_s in closed mode",
            head("[workload]\nrate_per_s = 10\n"),
            Is("workload.rate_per_s"),
            Some(7),
            &["open"],
        ),
        case(
            "mix with an operation the protocol lacks",
            head("[workload]\nmix = { get = 1, delete = 1 }\n"),
            Is("workload.mix.delete"),
            Some(7),
            &["no operation `delete`"],
        ),
        case(
            "mix weights sum to zero",
            head("[workload]\nmix = { get = 0, put = 0 }\n"),
            Is("workload.mix"),
            Some(7),
            &["sum to zero"],
        ),
        case(
            "zipf_exponent with uniform keys",
            head("[workload]\nzipf_exponent = 1.2\n"),
            Is("workload.zipf_exponent"),
            Some(7),
            &["zipfian"],
        ),
        case(
            "hot_fraction out of range",
            head("[workload]\nkey_distribution = \"hotspot\"\nhot_fraction = 0\n"),
            Is("workload.hot_fraction"),
            Some(8),
            &["(0, 1]"],
        ),
        case("zero keys", head("[workload]\nkeys = 0\n"), Is("workload.keys"), Some(7), &["between 1 and"]),
        case(
            // Scripted keys get ids from `keys` up; script mode did not check
            // it (see also a_huge_key_space_in_script_mode_is_an_error_not_a_panic).
            "huge keys in script mode",
            head(
                "[workload]\nmode = \"script\"\nkeys = 9223372036854775807\n\n\
                 [[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"put\"\nkey = \"x\"\n\n\
                 [[workload.script]]\nat_ms = 2\nclient = \"c1\"\nop = \"get\"\nkey = \"y\"\n",
            ),
            Is("workload.keys"),
            Some(8),
            &["between 1 and"],
        ),
        case(
            "zero keys in script mode",
            head(
                "[workload]\nmode = \"script\"\nkeys = 0\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"get\"\nkey = \"x\"\n",
            ),
            Is("workload.keys"),
            Some(8),
            &["between 1 and"],
        ),
        case(
            "start_ms after duration",
            head("[workload]\nstart_ms = 100\n"),
            Is("workload.start_ms"),
            Some(7),
            &["before scenario.duration_ms"],
        ),
        case(
            "script mode without entries",
            head("[workload]\nmode = \"script\"\n"),
            Is("workload.mode"),
            Some(7),
            &["[[workload.script]]"],
        ),
        case(
            "scripted op on a non-client",
            head(
                "[workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"s1\"\nop = \"get\"\nkey = \"x\"\n",
            ),
            Is("workload.script[0].client"),
            Some(11),
            &["not a client"],
        ),
        case(
            "scripted op the protocol lacks",
            head(
                "[workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"cas\"\nkey = \"x\"\n",
            ),
            Is("workload.script[0].op"),
            Some(12),
            &["no operation `cas`"],
        ),
        case(
            "scripted get with a value",
            head(
                "[workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"get\"\nkey = \"x\"\nvalue = \"v\"\n",
            ),
            Is("workload.script[0].value"),
            Some(14),
            &["takes no `value`"],
        ),
        case(
            "scripted get without a key",
            head("[workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"get\"\n"),
            Is("workload.script[0]"),
            Some(9),
            &["a get needs `key`"],
        ),
        case(
            "scripted get with a transfer's destination",
            head(
                "[workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"get\"\nkey = \"x\"\nto = \"y\"\n",
            ),
            Is("workload.script[0].to"),
            Some(14),
            &["a get takes no `to`"],
        ),
        case(
            "transaction settings for a protocol without transactions",
            head("[workload]\nkeys_per_op = 3\n"),
            Is("workload.keys_per_op"),
            Some(7),
            &["has no multi-key operations"],
        ),
        case(
            "file-session settings for a protocol without files",
            head("[workload]\nops_per_session = 3\n"),
            Is("workload.ops_per_session"),
            Some(7),
            &["has no file sessions"],
        ),
        case(
            "a file server cluster with two servers",
            "[scenario]\nname = \"t\"\nprotocol = \"file_caching\"\nduration_ms = 100\n\n[cluster]\nnodes = 2\n",
            Is("cluster.nodes"),
            Some(7),
            &["exactly one file server", "must be 1, got 2"],
        ),
        case(
            "an attribute cache whose minimum exceeds its maximum",
            "[scenario]\nname = \"t\"\nprotocol = \"file_caching\"\nduration_ms = 100\n\n[cluster]\nnodes = 1\n\n\
             [params]\nacregmin_ms = 10\nacregmax_ms = 5\n",
            Is("params.acregmin_ms"),
            Some(10),
            &["must be at most acregmax_ms (5)"],
        ),
        case(
            "a scripted remove with a block",
            "[scenario]\nname = \"t\"\nprotocol = \"file_caching\"\nduration_ms = 100\n\n[cluster]\nnodes = 1\n\n\
             [workload]\nmode = \"script\"\n\n[[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"remove\"\n\
             key = \"notes.txt\"\nblock = 0\n",
            Is("workload.script[0].block"),
            Some(17),
            &["a remove takes no `block`"],
        ),
        case(
            "a remove in a file session mix",
            "[scenario]\nname = \"t\"\nprotocol = \"file_caching\"\nduration_ms = 100\n\n[cluster]\nnodes = 1\n\n\
             [workload]\nmix = { read = 1, remove = 1 }\n",
            Is("workload.mix.remove"),
            Some(10),
            &["unlink the file under its own session"],
        ),
        case(
            "a verdict expectation that is not a boolean",
            head("[expect]\nlinearizable = \"yes\"\n"),
            Is("expect.linearizable"),
            Some(7),
            &["must be true or false"],
        ),
        case(
            "an expectation on a check the scenario does not run",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\nchecks = [\"stale_reads\"]\n[expect]\nconverged = true\n",
            Is("expect.converged"),
            Some(7),
            &["needs the `convergence` check"],
        ),
        case(
            "a metric of a check the scenario does not run",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\nchecks = []\n[expect]\nlost_writes_max = 0\n",
            Is("expect.lost_writes_max"),
            Some(7),
            &["needs the `lost_writes` check"],
        ),
        case(
            "an unknown check",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\nchecks = [\"stale_reads\", \"linearisable\"]\n",
            Is("scenario.checks[1]"),
            Some(5),
            &["unknown check `linearisable`"],
        ),
        case(
            "a check listed twice",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\nchecks = [\"stale_reads\", \"stale_reads\"]\n",
            Is("scenario.checks[1]"),
            Some(5),
            &["listed twice"],
        ),
        case(
            "a zero check budget",
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\ncheck_time_budget_ms = 0\n",
            Is("scenario.check_time_budget_ms"),
            Some(5),
            &["must be positive"],
        ),
        case(
            "unknown [expect] metric",
            head("[expect]\nfoo_max = 1\n"),
            Is("expect.foo_max"),
            Some(7),
            &["unknown metric `foo`"],
        ),
        case(
            "expectation without _min/_max",
            head("[expect]\nstale_reads = 0\n"),
            Is("expect.stale_reads"),
            Some(7),
            &["_min", "_max"],
        ),
        case(
            "expectation that is not a number",
            head("[expect]\nops_min = \"lots\"\n"),
            Is("expect.ops_min"),
            Some(7),
            &["number"],
        ),
        case("unknown outcome", head("[expect]\noutcome = \"great\"\n"), Is("expect.outcome"), Some(7), &["completed"]),
        case("empty file", "", Is("scenario"), Some(1), &["missing field `scenario`"]),
        set_case("--set without =", &["network.loss"], Absent, &["has no `=`"]),
        set_case("--set with a bad key", &["net work.loss=1"], Absent, &["bad key"]),
        set_case("--set with a bad index", &["faults.schedule[x].at_ms=1"], Absent, &["bad index"]),
        set_case("--set with an empty key", &["=1"], Absent, &["bad key"]),
        set_case(
            "--set failing validation",
            &["network.loss=2"],
            Is("network.loss"),
            &["network.loss=2", "probability"],
        ),
        set_case(
            "--set of an unknown key",
            &["network.los=0.1"],
            Is("network.los"),
            &["network.los=0.1", "unknown field"],
        ),
        set_case(
            "--set of a param failing validation",
            &["params.replication_factor=9"],
            Is("params.replication_factor"),
            &["params.replication_factor=9", "storage nodes"],
        ),
        set_case("--set of a bad param value", &["params.query=sideways"], Is("params.query"), &["sideways"]),
        set_case("--set of a negative latency", &["network.latency_ms=-3"], Is("network.latency_ms"), &[">= 0"]),
        set_case("--set of a whole table to a number", &["network=1"], Is("network"), &["invalid type"]),
        Case {
            name: "--set over an existing table",
            text: head("[network]\nloss = 0.1\n"),
            sets: &["network=1"],
            key: Is("network"),
            line: None,
            message: &["is a table"],
        },
        set_case("--set through a value", &["scenario.name.x=1"], Is("scenario.name.x"), &["not a table"]),
        set_case("--set of an empty name", &["scenario.name=\"\""], Is("scenario.name"), &["empty"]),
        set_case("--set of a bad expectation", &["expect.foo_min=1"], Is("expect.foo_min"), &["unknown metric"]),
    ]
}

fn check(c: &Case) -> Result<InputError, String> {
    let sets: Vec<String> = c.sets.iter().map(|s| s.to_string()).collect();
    let err = match load_str(FILE, &c.text, &sets) {
        Ok(_) => return Err("loaded without error".into()),
        Err(e) => e,
    };
    let mut problems = Vec::new();
    let key_ok = match c.key {
        Key::Absent => err.key.is_none(),
        Key::Is(k) => err.key.as_deref() == Some(k),
        Key::StartsWith(k) => err.key.as_deref().is_some_and(|e| e.starts_with(k)),
    };
    if !key_ok {
        problems.push(format!("key {:?}, want {:?}", err.key, c.key));
    }
    if err.line != c.line {
        problems.push(format!("line {:?}, want {:?}", err.line, c.line));
    }
    for m in c.message {
        if !err.message.contains(m) {
            problems.push(format!("message lacks {m:?}"));
        }
    }
    // Errors from --set are attributed to it, file errors to the file.
    let want_file = if c.sets.is_empty() { FILE } else { "--set" };
    if err.file != want_file {
        problems.push(format!("file {:?}, want {want_file:?}", err.file));
    }
    // Display names the place and the key.
    let shown = err.to_string();
    let place = match err.line {
        Some(l) => format!("{}:{l}", err.file),
        None => format!("{}: ", err.file),
    };
    if !shown.starts_with(&place) {
        problems.push(format!("display does not start with {place:?}"));
    }
    if let Some(k) = &err.key
        && !shown.contains(&format!("key `{k}`"))
    {
        problems.push(format!("display does not name key `{k}`"));
    }
    if !shown.contains(&err.message) {
        problems.push("display lacks the message".into());
    }
    if let Some(h) = &err.hint
        && !shown.contains(h)
    {
        problems.push("display lacks the hint".into());
    }
    if problems.is_empty() { Ok(err) } else { Err(format!("{}\n    got: {shown}", problems.join("; "))) }
}

#[test]
fn every_bad_input_is_an_error_naming_key_line_and_problem() {
    let mut failures = Vec::new();
    let all = cases();
    for c in &all {
        if let Err(why) = check(c) {
            failures.push(format!("{}: {why}", c.name));
        }
    }
    assert!(all.len() >= 60, "the table shrank: {}", all.len());
    assert!(failures.is_empty(), "{} of {} cases wrong:\n  {}", failures.len(), all.len(), failures.join("\n  "));
}

#[test]
fn a_set_override_fixes_a_bad_value_in_the_file() {
    let text = head("[network]\nloss = 1.5\n");
    assert!(load_str(FILE, &text, &[]).is_err());
    let scn = load_str(FILE, &text, &["network.loss=0.5".to_string()]).expect("the override replaces 1.5");
    assert_eq!(scn.net.loss, 0.5);
    assert_eq!(scn.overrides.len(), 1);
    assert!(scn.text.contains("loss = 0.5"), "{}", scn.text);
}

#[test]
fn display_of_an_error_names_file_line_column_key_and_hint() {
    let e = InputError {
        file: "f.toml".into(),
        line: Some(7),
        column: Some(3),
        key: Some("network.loss".into()),
        message: "must be a probability".into(),
        hint: Some("use 0.1".into()),
    };
    assert_eq!(e.to_string(), "f.toml:7:3: key `network.loss`: must be a probability\n  hint: use 0.1");
    let bare = InputError::new("--set", "`x` has no `=`");
    assert_eq!(bare.to_string(), "--set: `x` has no `=`");
}

// ---------------------------------------------------------------------------
// Bugs.

#[test]
fn huge_drain_and_quiesce_are_errors_not_panics() {
    for key in ["drain_ms", "quiesce_ms"] {
        let text = format!(
            "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\n{key} = 100000000000000\n"
        );
        let r = std::panic::catch_unwind(|| load_str(FILE, &text, &[]).map(|_| ()));
        let r = r.unwrap_or_else(|_| panic!("load_str panicked on {key} = 1e14"));
        let e = r.expect_err("a drain beyond u64 nanoseconds is an error");
        assert_eq!(e.key.as_deref(), Some(format!("scenario.{key}").as_str()), "{e}");
        assert_eq!(e.line, Some(5), "{e}");
    }
}

#[test]
fn params_error_lines_ignore_unrelated_overrides() {
    // The file's own mistake is on line 10 (line 9 for the unknown key); an
    // override that adds keys to [network] must not move it.
    let bad_value = head("[network]\nlatency_ms = 1\n\n[params]\nreplication_factor = 9\n");
    let unknown = head("[network]\nlatency_ms = 1\n\n[params]\nreplicas = 9\n");
    let sets = ["network.jitter_ms=1".to_string(), "network.loss=0.1".to_string()];
    let plain = load_str(FILE, &bad_value, &[]).unwrap_err();
    assert_eq!(plain.line, Some(10), "{plain}");
    let e = load_str(FILE, &bad_value, &sets).unwrap_err();
    assert_eq!((e.file.as_str(), e.key.as_deref()), (FILE, Some("params.replication_factor")), "{e}");
    assert_eq!(e.line, Some(10), "{e}");
    let e = load_str(FILE, &unknown, &sets).unwrap_err();
    assert_eq!((e.file.as_str(), e.key.as_deref()), (FILE, Some("params.replicas")), "{e}");
    assert_eq!(e.line, Some(10), "{e}");
}

#[test]
fn an_error_caused_by_a_set_on_a_missing_table_blames_the_set() {
    // The file has 4 lines and no [workload]; `--set workload.mode=open`
    // creates it. The error must not point at a line the file does not have.
    let text = "[scenario]\nname = \"t\"\nprotocol = \"directory_kv\"\nduration_ms = 100\n";
    let e = load_str(FILE, text, &["workload.mode=open".to_string()]).unwrap_err();
    assert!(e.line.is_none_or(|l| l <= 4), "line {:?} is past the end of the file: {e}", e.line);
    assert_eq!(e.file, "--set", "{e}");
    assert!(e.message.contains("workload.mode=open"), "{e}");
}

#[test]
fn a_missing_scenario_table_is_not_blamed_on_another_table() {
    let e = load_str(FILE, "[network]\nloss = 0.1\n", &[]).unwrap_err();
    assert!(e.message.contains("missing field `scenario`"), "{e}");
    assert!(matches!(e.key.as_deref(), None | Some("scenario")), "key {:?}: {e}", e.key);
}

#[test]
fn set_reaches_into_inline_tables() {
    let text = head(
        "[workload]\nmix = { get = 0.5, put = 0.5 }\n\n[network]\nlatency_ms = { dist = \"uniform\", min = 1, max = 2 }\n",
    );
    let scn = load_str(FILE, &text, &["workload.mix.get=0.9".into(), "network.latency_ms.max=3".into()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scn.net.latency_ms, sim_core::Dist::Uniform { min: 1.0, max: 3.0 });
}

#[test]
fn set_indexing_a_missing_list_says_it_is_missing() {
    let e = load_str(FILE, &head(""), &["faults.schedule[0].at_ms=5".into()]).unwrap_err();
    assert_eq!(e.file, "--set");
    assert!(
        e.message.contains("out of range")
            || e.message.contains("no `faults.schedule`")
            || e.message.contains("0 entries"),
        "misleading: {e}"
    );
}

#[test]
fn a_huge_key_space_in_script_mode_is_an_error_not_a_panic() {
    // The reviewer's repro: `w.keys + scripted keys` overflowed a u64 (a
    // panic in debug builds) because script mode did not check `keys`.
    let text = head(
        "[workload]\nmode = \"script\"\nkeys = 18446744073709551615\n\n\
         [[workload.script]]\nat_ms = 1\nclient = \"c1\"\nop = \"put\"\nkey = \"x\"\n\n\
         [[workload.script]]\nat_ms = 2\nclient = \"c1\"\nop = \"get\"\nkey = \"y\"\n",
    );
    let e = load_str(FILE, &text, &[]).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("workload.keys"), "{e}");
    assert!(e.message.contains("between 1 and"), "{e}");
}
