//! End-to-end tests of NFS, AFS and lease caching: the classroom timeline
//! call by call, each mechanism on its own (attribute timeouts, callback
//! breaks, crashes, leases, retransmissions), the checks on hand-built
//! histories, and invariants over many random runs.

use protocols::file_caching::{
    Analysis, Commit, Mode, NODES_KEY, Names, Node, Params, Promises, TableRow, analyse, build, check, client_ids,
};
use sim_core::fault::{FaultAction, TimedFault};
use sim_core::net::{NetConfig, NodeSet};
use sim_core::workload::{Arrivals, ScriptedOp, Sessions, WorkloadConfig};
use sim_core::{
    Dist, Key, Limits, NodeId, Op, OpArg, OpId, OpKind, OpRecord, OpStatus, Output, Sim, SimConfig, SimTime, Value,
};
use std::collections::BTreeMap;

const FILE: Key = 0;

struct Setup {
    params: Params,
    clients: usize,
    blocks: u32,
    cfg: SimConfig,
}

impl Setup {
    /// Only `script` runs, on a 1 ms network, files of `blocks` blocks.
    fn script(params: Params, clients: usize, blocks: u32, script: Vec<ScriptedOp>) -> Setup {
        let mut workload = WorkloadConfig::closed(client_ids(clients), 1, SimTime::from_ms(1_000));
        workload.arrivals = Arrivals::ScriptOnly;
        workload.script = script;
        workload.blocks_per_file = blocks;
        Setup { params, clients, blocks, cfg: config(1, clients, workload) }
    }

    /// File sessions from a closed loop on `keys` files until `stop_ms`.
    fn sessions(params: Params, clients: usize, keys: u64, stop_ms: u64, seed: u64) -> Setup {
        let mut workload = WorkloadConfig::closed(client_ids(clients), keys, SimTime::from_ms(stop_ms));
        workload.arrivals = Arrivals::Closed { think_time_ms: Dist::Uniform { min: 0.0, max: 20.0 } };
        workload.mix = vec![(OpKind::Read, 3.0), (OpKind::ReadFile, 1.0), (OpKind::Write, 2.0), (OpKind::Stat, 1.0)];
        workload.sessions = Some(Sessions { ops_per_session: Dist::Uniform { min: 1.0, max: 6.0 } });
        let mut cfg = config(seed, clients, workload);
        cfg.net.latency_ms = Dist::Uniform { min: 0.5, max: 2.0 };
        Setup { params, clients, blocks: 4, cfg }
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    fn run(self) -> Run {
        self.params.validate(1).expect("test parameters are valid");
        let mut sim = Sim::new(self.cfg, build(&self.params, 1, self.clients, self.blocks));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        Run { sim, params: self.params }
    }
}

fn config(seed: u64, clients: usize, workload: WorkloadConfig) -> SimConfig {
    SimConfig {
        seed,
        net: NetConfig::simple(1 + clients, 1.0),
        workload,
        faults: Default::default(),
        limits: Limits { quiesce_ns: 0, deadline: SimTime::from_ms(120_000), max_events: 10_000_000 },
        record_trace: false,
    }
}

struct Run {
    sim: Sim<Node>,
    params: Params,
}

impl Run {
    fn analysis(&self) -> Analysis {
        let (keys, values) = (BTreeMap::new(), BTreeMap::new());
        let names = Names { nodes: self.sim.names(), keys: &keys, values: &values };
        analyse(&self.sim, &self.params, &names, 10)
    }

    fn rows(&self) -> Vec<TableRow> {
        self.analysis().report.ops_table
    }

    fn ops(&self) -> &[OpRecord] {
        &self.sim.history().ops
    }

    fn verdict(&self, name: &str) -> (Option<bool>, u64) {
        let a = self.analysis();
        let c = a.checks.iter().find(|c| c.name == name).expect("check exists");
        (c.passed, c.violation_count)
    }

    fn client(&self, i: usize) -> &protocols::file_caching::Client {
        match &self.sim.actors()[i] {
            Node::Client(c) => c,
            Node::Server(_) => panic!("node {i} is the server"),
        }
    }

    fn server(&self) -> &protocols::file_caching::Server {
        match &self.sim.actors()[0] {
            Node::Server(s) => s,
            Node::Client(_) => panic!("node 0 is a client"),
        }
    }
}

fn c(i: u32) -> NodeId {
    NodeId(i)
}

fn at(at_ms: u64, client: NodeId, kind: OpKind) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::on(kind, FILE) }
}

fn read(at_ms: u64, client: NodeId, block: u32) -> ScriptedOp {
    let mut s = at(at_ms, client, OpKind::Read);
    s.op.arg = OpArg::Block(block);
    s
}

fn write(at_ms: u64, client: NodeId, block: u32, id: u64) -> ScriptedOp {
    let mut s = at(at_ms, client, OpKind::Write);
    s.op.arg = OpArg::Block(block);
    s.op.value = Some(Value { id, size_bytes: 100 });
    s
}

fn params(mode: Mode) -> Params {
    Params { mode, acregmin_ms: 20, acregmax_ms: 40, ..Params::default() }
}

/// The catalog's two-client timeline (two-client-timeline-*.toml).
fn timeline() -> Vec<ScriptedOp> {
    vec![
        at(0, c(1), OpKind::Open),
        at(0, c(2), OpKind::Open),
        read(10, c(1), 0),
        read(10, c(2), 0),
        write(20, c(1), 0, 1),
        at(30, c(1), OpKind::Close),
        read(35, c(2), 0),
        read(60, c(2), 0),
        at(70, c(2), OpKind::Close),
        at(80, c(2), OpKind::Open),
        at(90, c(2), OpKind::ReadFile),
        at(100, c(1), OpKind::Open),
        read(110, c(1), 0),
        at(120, c(1), OpKind::Close),
        at(120, c(2), OpKind::Close),
    ]
}

/// Each row's (client, op, calls, result) in invocation order.
fn cells(run: &Run) -> Vec<(String, String, String, String)> {
    run.rows()
        .into_iter()
        .map(|r| (r.client, r.op, if r.from_cache { "cache".into() } else { r.rpcs.join(", ") }, r.result))
        .collect()
}

fn expect_cells(run: &Run, want: &[(&str, &str, &str, &str)]) {
    let got = cells(run);
    let want: Vec<(String, String, String, String)> =
        want.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(got, want, "table:\n{}", run.analysis().report.table);
}

#[test]
fn nfs_timeline_makes_exactly_the_classroom_calls() {
    let run = Setup::script(params(Mode::Nfs), 2, 2, timeline()).run();
    expect_cells(
        &run,
        &[
            ("c1", "open", "lookup", ""),
            ("c2", "open", "lookup", ""),
            ("c1", "read", "read", "initial"),
            ("c2", "read", "read", "initial"),
            ("c1", "write", "cache", "wrote 1"),
            ("c1", "close", "write", ""),
            // Attributes read at 10 ms are trusted for 40 ms: a stale read.
            ("c2", "read", "cache", "initial"),
            // Expired: getattr sees the change, the block is read again.
            ("c2", "read", "getattr, read", "1"),
            ("c2", "close", "cache", ""),
            // Close-to-open: every open asks.
            ("c2", "open", "getattr", ""),
            ("c2", "read_file", "read", "[1, initial]"),
            ("c1", "open", "getattr", ""),
            ("c1", "read", "cache", "1"),
            ("c1", "close", "cache", ""),
            ("c2", "close", "cache", ""),
        ],
    );
    let a = run.analysis();
    assert_eq!((a.report.counters.server.getattr, a.report.counters.server.callback_breaks), (3, 0));
    assert_eq!(a.report.counters.checks.stale_file_reads, 1);
    assert_eq!(run.verdict("stale_file_reads"), (Some(true), 1), "within acregmax: allowed");
    assert_eq!(run.verdict("close_to_open"), (Some(true), 0));
}

#[test]
fn afs_timeline_makes_exactly_the_classroom_calls() {
    let run = Setup::script(params(Mode::Afs), 2, 2, timeline()).run();
    expect_cells(
        &run,
        &[
            ("c1", "open", "fetch", ""),
            ("c2", "open", "fetch", ""),
            ("c1", "read", "cache", "initial"),
            ("c2", "read", "cache", "initial"),
            ("c1", "write", "cache", "wrote 1"),
            ("c1", "close", "store, callback_break->c2", ""),
            // Session semantics: c2's open session keeps its copy.
            ("c2", "read", "cache", "initial"),
            ("c2", "read", "cache", "initial"),
            ("c2", "close", "cache", ""),
            // The callback was broken: ask, and get the new file.
            ("c2", "open", "fetch_status", ""),
            ("c2", "read_file", "cache", "[1, initial]"),
            // c1 stored it and keeps its callback: no call at all.
            ("c1", "open", "cache", ""),
            ("c1", "read", "cache", "1"),
            ("c1", "close", "cache", ""),
            ("c2", "close", "cache", ""),
        ],
    );
    let a = run.analysis();
    assert_eq!((a.report.counters.server.getattr, a.report.counters.server.callback_breaks), (0, 1));
    assert_eq!(run.verdict("stale_file_reads"), (Some(true), 2), "session semantics allow both");
    assert_eq!(run.verdict("close_to_open"), (Some(true), 0));
    assert!(a.report.table.contains("store, callback_break->c2"), "{}", a.report.table);
}

#[test]
fn nfs_attribute_timeout_doubles_while_unchanged_and_expires() {
    let p = Params { acregmin_ms: 10, acregmax_ms: 35, ..params(Mode::Nfs) };
    let script = vec![
        at(0, c(1), OpKind::Open),
        read(5, c(1), 0),  // read call (attributes unchanged: 20 ms)
        read(10, c(1), 0), // cache
        read(40, c(1), 0), // expired: getattr, unchanged: 35 ms (capped)
        read(50, c(1), 0), // cache
        at(100, c(1), OpKind::Stat),
    ];
    let run = Setup::script(p, 1, 2, script).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls, ["lookup", "read", "cache", "getattr", "cache", "getattr"]);
    assert_eq!(run.client(1).attr_timeout_ms(FILE), Some(35));
    assert_eq!(run.ops()[5].output, Output::Numbers(vec![2, 0]));
}

#[test]
fn acregmin_zero_turns_the_attribute_cache_off() {
    let p = Params { acregmin_ms: 0, acregmax_ms: 0, ..params(Mode::Nfs) };
    let script = vec![at(0, c(1), OpKind::Open), read(5, c(1), 0), read(10, c(1), 0)];
    let run = Setup::script(p, 1, 2, script).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls, ["lookup", "getattr, read", "getattr"]);
}

#[test]
fn nfs_write_through_sends_each_write_at_once() {
    let p = Params { write_through: true, ..params(Mode::Nfs) };
    let script =
        vec![at(0, c(1), OpKind::Open), write(5, c(1), 0, 1), write(6, c(1), 1, 2), at(10, c(1), OpKind::Close)];
    let run = Setup::script(p, 1, 2, script).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls, ["lookup", "write", "write", "cache"]);
}

/// c1 writes block 0 and closes; c2, which cached the old block, opens
/// after that close and reads. Operations are 5 ms apart: a round trip is
/// 2 ms, so each starts after the previous one of its client ended.
fn close_then_open(mode: Mode) -> Run {
    let script = vec![
        at(0, c(2), OpKind::Open),
        read(5, c(2), 0),
        at(10, c(2), OpKind::Close),
        at(20, c(1), OpKind::Open),
        write(25, c(1), 0, 7),
        at(30, c(1), OpKind::Close),
        at(50, c(2), OpKind::Open),
        read(55, c(2), 0),
        at(60, c(2), OpKind::Close),
    ];
    let p = Params { acregmin_ms: 1_000, acregmax_ms: 1_000, ..params(mode) };
    Setup::script(p, 2, 2, script).run()
}

#[test]
fn close_to_open_holds_for_every_mode() {
    for mode in [Mode::Nfs, Mode::Afs, Mode::Leases] {
        let run = close_then_open(mode);
        assert_eq!(run.ops()[7].output, Output::Value(Value { id: 7, size_bytes: 100 }), "{mode:?}");
        assert_eq!(run.verdict("close_to_open"), (Some(true), 0), "{mode:?}");
        assert_eq!(run.verdict("stale_file_reads"), (Some(true), 0), "{mode:?}");
    }
}

#[test]
fn afs_store_breaks_the_callbacks_of_other_copies() {
    let run = close_then_open(Mode::Afs);
    let a = run.analysis();
    assert_eq!(a.report.counters.server.callback_breaks, 1);
    assert_eq!(run.client(2).counters().breaks_received, 1);
    // c2 revalidated and got the new file; both now hold callbacks again.
    assert_eq!(a.report.counters.server.fetch_status, 1);
    assert!(run.client(1).trusts_copy(FILE, run.sim.now()));
    assert!(run.client(2).trusts_copy(FILE, run.sim.now()));
    assert_eq!(run.server().holders_of(FILE), 2);
}

/// c1 and c2 hold callbacks; the server crashes at 20 ms and restarts at
/// 40 ms; c1 writes and closes at 50..60 ms; c2 opens at 80 ms.
fn crash_with_callbacks(probe_interval_ms: u64) -> Run {
    let script = vec![
        at(0, c(1), OpKind::Open),
        at(0, c(2), OpKind::Open),
        at(10, c(1), OpKind::Close),
        at(10, c(2), OpKind::Close),
        at(50, c(1), OpKind::Open),
        write(55, c(1), 0, 9),
        at(60, c(1), OpKind::Close),
        at(80, c(2), OpKind::Open),
        read(85, c(2), 0),
        at(90, c(2), OpKind::Close),
    ];
    let p = Params { probe_interval_ms, ..params(Mode::Afs) };
    Setup::script(p, 2, 2, script)
        .fault(20, FaultAction::Crash(NodeId(0)))
        .fault(40, FaultAction::Restart(NodeId(0)))
        .run()
}

#[test]
fn server_crash_loses_callbacks_and_probing_clients_revalidate() {
    let run = crash_with_callbacks(10);
    // The store found nobody to break: the server forgot c2's callback.
    assert_eq!(run.analysis().report.counters.server.callback_breaks, 0);
    assert_eq!(run.client(2).counters().server_restarts_seen, 1);
    assert_eq!(run.ops()[8].output, Output::Value(Value { id: 9, size_bytes: 100 }));
    assert_eq!(run.verdict("close_to_open"), (Some(true), 0));
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[7], "fetch_status", "c2 rechecks its copy after the restart");
}

#[test]
fn without_probes_a_client_trusts_a_callback_the_server_forgot() {
    let run = crash_with_callbacks(0);
    assert_eq!(run.ops()[8].output, Output::Value(Value { id: 0, size_bytes: 0 }), "stale copy");
    assert_eq!(run.verdict("close_to_open"), (Some(false), 1));
    assert_eq!(run.verdict("stale_file_reads").0, Some(false));
}

#[test]
fn a_restarted_client_rechecks_its_cached_copies() {
    let script = vec![
        at(0, c(1), OpKind::Open),
        at(5, c(1), OpKind::Close),
        at(50, c(1), OpKind::Open),
        at(55, c(1), OpKind::Close),
    ];
    let run = Setup::script(params(Mode::Afs), 1, 2, script)
        .fault(20, FaultAction::Crash(NodeId(1)))
        .fault(30, FaultAction::Restart(NodeId(1)))
        .run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls, ["fetch", "cache", "fetch_status", "cache"]);
}

#[test]
fn leases_expire_and_are_renewed() {
    let p = Params { lease_ms: 30, ..params(Mode::Leases) };
    let script = vec![at(0, c(1), OpKind::Open), read(10, c(1), 0), read(50, c(1), 0), at(55, c(1), OpKind::Close)];
    let run = Setup::script(p, 1, 2, script).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls, ["fetch", "cache", "lease_renew", "cache"]);
    // Renewed by the call sent at 50 ms: trusted until 80 ms, not after.
    assert!(run.client(1).trusts_copy(FILE, SimTime::from_ms(79)));
    assert!(!run.client(1).trusts_copy(FILE, SimTime::from_ms(80)));
}

#[test]
fn a_store_waits_for_an_unreachable_lease_holder_to_expire() {
    // c2 holds a lease and cannot hear the recall; c1's store commits only
    // when c2's lease has run out, so c2 never reads a replaced block.
    let p = Params { lease_ms: 100, ..params(Mode::Leases) };
    let script = vec![
        at(0, c(2), OpKind::Open),
        at(10, c(1), OpKind::Open),
        write(15, c(1), 0, 5),
        at(20, c(1), OpKind::Close),
        read(25, c(2), 0),
        read(60, c(2), 0),
        read(150, c(2), 0),
        at(160, c(2), OpKind::Close),
    ];
    let cut = FaultAction::Cut { from: NodeSet::from_nodes([NodeId(0)]), to: NodeSet::from_nodes([NodeId(2)]) };
    let run = Setup::script(p, 2, 2, script).fault(18, cut).fault(90, FaultAction::Heal).run();
    let a = run.analysis();
    assert_eq!(a.report.counters.server.stores_waited_for_expiry, 1);
    assert!(a.report.counters.server.expiry_wait_ms_total >= 80, "{:?}", a.report.counters.server);
    let close = &run.ops()[3];
    assert!(close.complete.expect("done") >= SimTime::from_ms(100), "{close:?}");
    assert_eq!(run.ops()[6].output, Output::Value(Value { id: 5, size_bytes: 100 }));
    assert_eq!(run.verdict("stale_file_reads"), (Some(true), 0));
}

#[test]
fn nfs_retries_repeat_idempotent_calls_across_a_server_crash() {
    let script = vec![at(0, c(1), OpKind::Open), write(5, c(1), 0, 3), at(25, c(1), OpKind::Close), read(500, c(1), 0)];
    let run = Setup::script(params(Mode::Nfs), 1, 2, script)
        .fault(20, FaultAction::Crash(NodeId(0)))
        .fault(150, FaultAction::Restart(NodeId(0)))
        .run();
    assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)), "{:?}", run.ops());
    assert!(run.client(1).counters().retransmissions >= 2);
    assert_eq!(run.server().file(FILE).expect("exists").blocks[0].id, 3, "the write survived on disk");
}

#[test]
fn a_create_retried_after_its_reply_was_lost_finds_the_file_it_created() {
    let p = Params { create_files: true, ..params(Mode::Nfs) };
    let script = vec![at(0, c(1), OpKind::Open), at(400, c(1), OpKind::Close)];
    // The create's reply is lost; its retransmission gets "exists".
    let cut = FaultAction::Cut { from: NodeSet::from_nodes([NodeId(0)]), to: NodeSet::from_nodes([NodeId(1)]) };
    let run = Setup::script(p, 1, 2, script).fault(3, cut).fault(50, FaultAction::Heal).run();
    assert_eq!(run.analysis().report.counters.server.create_exists_on_retry, 1);
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[0], "lookup, create, create (retry), lookup");
    assert_eq!(run.ops()[0].status, Some(OpStatus::Ok));
}

#[test]
fn a_missing_file_cannot_be_read() {
    let p = Params { create_files: true, ..params(Mode::Afs) };
    let run = Setup::script(p, 1, 2, vec![read(0, c(1), 0)]).run();
    assert_eq!(run.ops()[0].status, Some(OpStatus::Fail));
}

// ---- the checks on hand-built histories ----

fn rec(id: u32, client: u32, op: Op, t: (u64, u64), output: Output) -> OpRecord {
    OpRecord {
        id: OpId(id),
        process: NodeId(client),
        op,
        invoke: SimTime::from_ms(t.0),
        complete: Some(SimTime::from_ms(t.1)),
        status: Some(OpStatus::Ok),
        invoke_seq: t.0 * 2,
        complete_seq: Some(t.1 * 2 + 1),
        output,
    }
}

fn val(id: u64) -> Value {
    Value { id, size_bytes: 1 }
}

fn commit(at_ms: u64, block: u32, id: u64, client: u32) -> Commit {
    Commit {
        at: SimTime::from_ms(at_ms),
        file: FILE,
        block,
        value: val(id),
        client: NodeId(client),
        version: 0,
        removed: false,
    }
}

fn op_block(kind: OpKind, block: u32, value: Option<u64>) -> Op {
    Op { kind, key: FILE, value: value.map(val), arg: OpArg::Block(block) }
}

/// c1 writes value 1 to block 0 and closes at 12 ms (committed at 11 ms);
/// c2 opens at `open_ms` and reads block 0 at `read_ms`, getting `got`.
fn handmade(open_ms: u64, read_ms: u64, got: u64) -> Vec<OpRecord> {
    vec![
        rec(0, 1, Op::on(OpKind::Open, FILE), (0, 1), Output::Nothing),
        rec(1, 1, op_block(OpKind::Write, 0, Some(1)), (2, 2), Output::Nothing),
        rec(2, 1, Op::on(OpKind::Close, FILE), (10, 12), Output::Nothing),
        rec(3, 2, Op::on(OpKind::Open, FILE), (open_ms, open_ms + 1), Output::Nothing),
        rec(4, 2, op_block(OpKind::Read, 0, None), (read_ms, read_ms + 1), Output::Value(val(got))),
        rec(5, 2, Op::on(OpKind::Close, FILE), (read_ms + 2, read_ms + 3), Output::Nothing),
    ]
}

fn verdicts(ops: &[OpRecord], commits: &[Commit], mode: Mode) -> BTreeMap<&'static str, (Option<bool>, u64)> {
    let (k, v) = (BTreeMap::new(), BTreeMap::new());
    let nodes: Vec<String> = ["fs", "c1", "c2"].iter().map(|s| s.to_string()).collect();
    let names = Names { nodes: &nodes, keys: &k, values: &v };
    check(ops, commits, Promises { mode, acregmax_ms: 30 }, &names, 10)
        .checks
        .into_iter()
        .map(|c| (c.name, (c.passed, c.violation_count)))
        .collect()
}

#[test]
fn close_to_open_check_judges_hand_built_histories() {
    let commits = [commit(11, 0, 1, 1)];
    let good = verdicts(&handmade(20, 25, 1), &commits, Mode::Nfs);
    assert_eq!(good["close_to_open"], (Some(true), 0));
    let bad = verdicts(&handmade(20, 25, 0), &commits, Mode::Nfs);
    assert_eq!(bad["close_to_open"], (Some(false), 1));
    // Opened before the close completed: nothing was promised.
    let early = verdicts(&handmade(5, 25, 0), &commits, Mode::Nfs);
    assert_eq!(early["close_to_open"], (Some(true), 0));
}

#[test]
fn stale_read_check_allows_what_each_mode_promises() {
    let commits = [commit(11, 0, 1, 1)];
    // Stale by 14 ms, in a session opened before the close: NFS (within
    // acregmax = 30) and AFS (session semantics) allow it, leases do not.
    let ops = handmade(5, 25, 0);
    assert_eq!(verdicts(&ops, &commits, Mode::Nfs)["stale_file_reads"], (Some(true), 1));
    assert_eq!(verdicts(&ops, &commits, Mode::Afs)["stale_file_reads"], (Some(true), 1));
    assert_eq!(verdicts(&ops, &commits, Mode::Leases)["stale_file_reads"], (Some(false), 1));
    // 49 ms stale: beyond NFS's attribute-cache window.
    let late = handmade(5, 60, 0);
    assert_eq!(verdicts(&late, &commits, Mode::Nfs)["stale_file_reads"], (Some(false), 1));
    // Opened after the close: beyond AFS's session semantics too.
    let reopened = handmade(20, 25, 0);
    assert_eq!(verdicts(&reopened, &commits, Mode::Afs)["stale_file_reads"], (Some(false), 1));
    // Fresh.
    assert_eq!(verdicts(&handmade(5, 25, 1), &commits, Mode::Leases)["stale_file_reads"], (Some(true), 0));
}

#[test]
fn mixed_version_check_finds_blocks_never_current_together() {
    // Blocks 0 and 1 were both replaced at 11 ms (one store).
    let commits = [commit(11, 0, 1, 1), commit(11, 1, 2, 1)];
    let read_file = |got: [u64; 2]| {
        vec![
            rec(0, 2, Op::on(OpKind::Open, FILE), (0, 1), Output::Nothing),
            rec(1, 2, Op::on(OpKind::ReadFile, FILE), (20, 21), Output::Values(got.map(val).to_vec())),
        ]
    };
    for (got, mixed) in [([0, 0], false), ([1, 2], false), ([1, 0], true), ([0, 2], true)] {
        let v = verdicts(&read_file(got), &commits, Mode::Afs);
        assert_eq!(v["mixed_version_reads"], (Some(!mixed), u64::from(mixed)), "{got:?}");
        let v = verdicts(&read_file(got), &commits, Mode::Nfs);
        assert_eq!(v["mixed_version_reads"], (Some(true), u64::from(mixed)), "nfs only counts: {got:?}");
    }
}

#[test]
fn lost_update_check_reports_the_overwritten_session() {
    // c1 and c2 both open at 0; c1 writes block 0 and closes at 12 (commit
    // 11); c2 writes block 0 and closes at 22 (commit 21): c1's write is lost.
    let ops = vec![
        rec(0, 1, Op::on(OpKind::Open, FILE), (0, 1), Output::Nothing),
        rec(1, 2, Op::on(OpKind::Open, FILE), (0, 1), Output::Nothing),
        rec(2, 1, op_block(OpKind::Write, 0, Some(1)), (2, 2), Output::Nothing),
        rec(3, 2, op_block(OpKind::Write, 0, Some(2)), (3, 3), Output::Nothing),
        rec(4, 1, Op::on(OpKind::Close, FILE), (10, 12), Output::Nothing),
        rec(5, 2, Op::on(OpKind::Close, FILE), (20, 22), Output::Nothing),
    ];
    let commits = [commit(11, 0, 1, 1), commit(21, 0, 2, 2)];
    assert_eq!(verdicts(&ops, &commits, Mode::Afs)["lost_updates"], (Some(true), 1), "informational");
    // c2 opening after c1's close saw its write: no lost update.
    let mut later = ops.clone();
    later[1] = rec(1, 2, Op::on(OpKind::Open, FILE), (15, 16), Output::Nothing);
    later[3] = rec(3, 2, op_block(OpKind::Write, 0, Some(2)), (17, 17), Output::Nothing);
    assert_eq!(verdicts(&later, &commits, Mode::Afs)["lost_updates"], (Some(true), 0));
}

// ---- many random runs ----

#[test]
fn random_sessions_keep_every_mode_promise_across_seeds() {
    for seed in 0..12 {
        for mode in [Mode::Nfs, Mode::Afs, Mode::Leases] {
            let p = Params { mode, acregmin_ms: 10, acregmax_ms: 50, lease_ms: 200, ..Params::default() };
            let run = Setup::sessions(p, 4, 3, 1_500, seed).run();
            let a = run.analysis();
            for c in &a.checks {
                assert_eq!(c.passed, Some(true), "seed {seed} {mode:?} {}: {:?}", c.name, c.examples);
            }
            let n = &a.report.counters.checks;
            if mode == Mode::Leases {
                assert_eq!(n.stale_file_reads, 0, "seed {seed}");
            }
            if mode == Mode::Nfs {
                assert!(n.stale_age_ms_max <= 50.0, "seed {seed}: {n:?}");
            }
            assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)), "seed {seed} {mode:?}");
            assert!(a.report.counters.server_rpcs > 0);
        }
    }
}

#[test]
fn random_sessions_with_server_crashes_keep_close_to_open_under_leases_and_probing_afs() {
    for seed in 0..8 {
        for mode in [Mode::Afs, Mode::Leases] {
            let p = Params { mode, lease_ms: 100, probe_interval_ms: 20, ..Params::default() };
            let run = Setup::sessions(p, 4, 2, 1_500, seed)
                .fault(300, FaultAction::Crash(NodeId(0)))
                .fault(400, FaultAction::Restart(NodeId(0)))
                .fault(900, FaultAction::Crash(NodeId(2)))
                .fault(1_000, FaultAction::Restart(NodeId(2)))
                .run();
            assert_eq!(run.verdict("close_to_open"), (Some(true), 0), "seed {seed} {mode:?}");
            assert_eq!(run.verdict("stale_file_reads").0, Some(true), "seed {seed} {mode:?}");
            assert_eq!(run.verdict("mixed_version_reads"), (Some(true), 0), "seed {seed} {mode:?}");
        }
    }
}

#[test]
fn same_seed_same_trace_hash() {
    let hash = |seed| {
        let p = Params { mode: Mode::Afs, ..Params::default() };
        let mut sim = Sim::new(Setup::sessions(p.clone(), 3, 3, 500, seed).cfg, build(&p, 1, 3, 4));
        sim.run().trace_hash
    };
    assert_eq!(hash(7), hash(7));
    assert_ne!(hash(7), hash(8));
}

#[test]
fn bad_parameters_name_their_key() {
    let err = |p: Params, servers: usize| p.validate(servers).expect_err("invalid").key;
    assert_eq!(err(Params::default(), 2), NODES_KEY);
    assert_eq!(err(Params::default(), 0), "cluster.nodes");
    assert_eq!(err(Params { acregmin_ms: 10, acregmax_ms: 5, ..Params::default() }, 1), "acregmin_ms");
    assert_eq!(err(Params { block_size_bytes: 0, ..Params::default() }, 1), "block_size_bytes");
    assert_eq!(err(Params { lease_ms: 0, ..Params::default() }, 1), "lease_ms");
    assert_eq!(err(Params { rpc_timeout_ms: 0, ..Params::default() }, 1), "rpc_timeout_ms");
    assert_eq!(err(Params { rpc_retries: 1_000_000, ..Params::default() }, 1), "rpc_retries");
    let parsed: Result<Params, _> = toml::from_str("mode = \"coda\"");
    assert!(parsed.is_err());
}

/// Found at 1,000 clients: with several stores pending on one file, a
/// client acknowledged each recall, and a late acknowledgement of an old
/// recall released a newer store while the client still trusted a newer
/// lease. Acknowledgements now name their store.
#[test]
fn heavy_sharing_under_leases_never_reads_stale() {
    for seed in 0..3 {
        let p = Params { mode: Mode::Leases, ..Params::default() };
        let mut s = Setup::sessions(p, 60, 2, 600, seed);
        s.cfg.workload.arrivals = Arrivals::Closed { think_time_ms: Dist::Uniform { min: 1.0, max: 10.0 } };
        let run = s.run();
        assert_eq!(run.verdict("stale_file_reads"), (Some(true), 0), "seed {seed}");
        assert_eq!(run.verdict("close_to_open"), (Some(true), 0), "seed {seed}");
    }
}

/// Found by many-readers-one-writer.toml, seed 21: a client closed a file
/// twice at once (two stores of the same copy); the second store found no
/// callback left to break and was answered at once, while the first one's
/// break was still on its way: a client opening after that close could
/// trust the old copy. A store now waits for the breaks of earlier stores
/// of its file.
#[test]
fn a_store_waits_for_the_breaks_of_earlier_stores_of_its_file() {
    let script = vec![
        at(0, c(2), OpKind::Open),
        at(50, c(1), OpKind::Open),
        write(55, c(1), 0, 4),
        at(60, c(1), OpKind::Close),
        at(61, c(1), OpKind::Close),
    ];
    let mut s = Setup::script(params(Mode::Afs), 2, 2, script);
    s.cfg.net.links.push(sim_core::net::LinkRule {
        from: NodeSet::from_nodes([NodeId(0)]),
        to: NodeSet::from_nodes([NodeId(2)]),
        one_way: false,
        latency_ms: Dist::constant(20.0),
    });
    let run = s.run();
    assert_eq!(run.analysis().report.counters.server.store, 2);
    for close in &run.ops()[3..5] {
        // The break reaches c2 at 81 ms and its acknowledgement returns at 101 ms.
        assert!(close.complete.expect("done") >= SimTime::from_ms(101), "{close:?}");
    }
}

#[test]
fn afs_puts_less_load_on_the_server_than_nfs_as_clients_grow() {
    let load = |mode, clients| {
        let run = Setup::sessions(Params { mode, ..Params::default() }, clients, 10, 1_000, 1).run();
        run.analysis().report.counters
    };
    for clients in [5, 40] {
        let (nfs, afs) = (load(Mode::Nfs, clients), load(Mode::Afs, clients));
        assert!(afs.server_rpcs * 2 < nfs.server_rpcs, "{clients} clients: afs {afs:?} nfs {nfs:?}");
        assert_eq!(afs.server.getattr, 0);
        assert!(nfs.server.getattr > 0 && afs.server.callback_breaks > 0);
        assert!(afs.cache_hit_rate > nfs.cache_hit_rate);
    }
}

// ---- remove: a non-idempotent call, stale handles, broken copies ----

#[test]
fn nfs_remove_makes_old_handles_stale_and_the_name_missing() {
    let script = vec![
        at(0, c(2), OpKind::Open),
        read(5, c(2), 0),
        at(10, c(1), OpKind::Open),
        write(15, c(1), 0, 4),
        at(20, c(1), OpKind::Close),
        at(30, c(1), OpKind::Remove),
        // c2's attributes (timeout 20 ms) expired: the getattr names the
        // removed file's handle.
        read(60, c(2), 0),
        at(70, c(2), OpKind::Open),
    ];
    let run = Setup::script(params(Mode::Nfs), 2, 2, script).run();
    let status: Vec<Option<OpStatus>> = run.ops().iter().map(|o| o.status).collect();
    let (ok, fail) = (Some(OpStatus::Ok), Some(OpStatus::Fail));
    assert_eq!(status, [ok, ok, ok, ok, ok, ok, fail, fail]);
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[5], "remove");
    assert_eq!(calls[6], "getattr");
    assert_eq!(calls[7], "lookup");
    let a = run.analysis();
    assert_eq!(a.report.counters.server.remove, 1);
    assert_eq!(a.report.counters.server.stale_handles, 1);
    assert!(run.server().file(FILE).is_none());
    assert_eq!(run.server().fh(FILE).generation, 2);
    for check in ["close_to_open", "stale_file_reads", "lost_updates"] {
        assert_eq!(run.verdict(check), (Some(true), 0), "{check}");
    }
}

#[test]
fn a_remove_retried_after_its_reply_was_lost_reports_fail_though_it_removed_the_file() {
    let script = vec![at(5, c(1), OpKind::Remove), at(400, c(1), OpKind::Open)];
    // The remove's reply is lost; its retransmission finds no file.
    let cut = FaultAction::Cut { from: NodeSet::from_nodes([NodeId(0)]), to: NodeSet::from_nodes([NodeId(1)]) };
    let run = Setup::script(params(Mode::Nfs), 1, 2, script).fault(3, cut).fault(50, FaultAction::Heal).run();
    let a = run.analysis();
    assert_eq!(a.report.counters.server.remove, 2);
    assert_eq!(a.report.counters.server.remove_missing_on_retry, 1);
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[0], "remove, remove (retry)");
    assert_eq!(run.ops()[0].status, Some(OpStatus::Fail), "the anomaly: reported failed");
    assert!(run.server().file(FILE).is_none(), "yet the first attempt removed it");
    assert_eq!(run.ops()[1].status, Some(OpStatus::Fail));
}

#[test]
fn nfs_remove_retried_across_a_server_crash_also_finds_no_file() {
    // The server commits the remove (synced) and crashes before the
    // client hears back; the restarted server rebuilt the removal from its
    // disk, so the retransmission finds no file.
    let script = vec![at(5, c(1), OpKind::Remove)];
    let cut = FaultAction::Cut { from: NodeSet::from_nodes([NodeId(0)]), to: NodeSet::from_nodes([NodeId(1)]) };
    let run = Setup::script(params(Mode::Nfs), 1, 2, script)
        .fault(3, cut)
        .fault(20, FaultAction::Crash(NodeId(0)))
        .fault(30, FaultAction::Heal)
        .fault(150, FaultAction::Restart(NodeId(0)))
        .run();
    assert_eq!(run.analysis().report.counters.server.remove_missing_on_retry, 1);
    assert_eq!(run.ops()[0].status, Some(OpStatus::Fail));
    assert!(run.server().file(FILE).is_none());
    assert_eq!(run.server().fh(FILE).generation, 2, "the generation survived the crash");
}

#[test]
fn a_removed_file_can_be_created_again_with_a_new_generation() {
    let p = Params { create_files: true, ..params(Mode::Nfs) };
    let script = vec![
        at(0, c(1), OpKind::Open),
        write(5, c(1), 0, 4),
        at(10, c(1), OpKind::Close),
        at(20, c(1), OpKind::Remove),
        at(30, c(2), OpKind::Open),
        read(35, c(2), 0),
        at(40, c(2), OpKind::Close),
    ];
    let run = Setup::script(p, 2, 2, script).run();
    assert!(run.ops().iter().all(|o| o.status == Some(OpStatus::Ok)), "{:?}", run.ops());
    assert_eq!(run.ops()[5].output, Output::Value(Value { id: 0, size_bytes: 0 }), "a new, empty file");
    assert_eq!(run.server().fh(FILE).generation, 2);
    assert!(run.server().file(FILE).expect("re-created").version >= 2, "versions go on");
    for check in ["close_to_open", "stale_file_reads", "lost_updates"] {
        assert_eq!(run.verdict(check), (Some(true), 0), "{check}");
    }
}

#[test]
fn afs_remove_breaks_other_callbacks_and_their_next_open_fails() {
    let script = vec![
        at(0, c(2), OpKind::Open),
        read(5, c(2), 0),
        at(10, c(2), OpKind::Close),
        at(20, c(1), OpKind::Remove),
        at(40, c(2), OpKind::Open),
    ];
    let run = Setup::script(params(Mode::Afs), 2, 2, script).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[3], "remove, callback_break->c2");
    assert_eq!(calls[4], "fetch_status");
    assert_eq!(run.ops()[3].status, Some(OpStatus::Ok));
    assert_eq!(run.ops()[4].status, Some(OpStatus::Fail));
    // The remove completed only after c2 acknowledged the break.
    assert!(run.ops()[3].complete.expect("done") > SimTime::from_ms(22));
    assert_eq!(run.client(2).counters().breaks_received, 1);
    assert!(!run.client(2).trusts_copy(FILE, run.sim.now()));
    assert_eq!(run.server().holders_of(FILE), 0);
}

#[test]
fn leases_remove_recalls_leases_first_and_waits_out_an_unreachable_holder() {
    let p = Params { lease_ms: 100, ..params(Mode::Leases) };
    let script = vec![at(0, c(2), OpKind::Open), read(5, c(2), 0), at(20, c(1), OpKind::Remove), read(150, c(2), 0)];
    let cut = FaultAction::Cut { from: NodeSet::from_nodes([NodeId(0)]), to: NodeSet::from_nodes([NodeId(2)]) };
    let run = Setup::script(p, 2, 2, script).fault(18, cut).fault(90, FaultAction::Heal).run();
    let calls: Vec<String> = cells(&run).into_iter().map(|c| c.2).collect();
    assert_eq!(calls[2], "remove, lease_recall->c2");
    let remove = &run.ops()[2];
    assert_eq!(remove.status, Some(OpStatus::Ok));
    assert!(remove.complete.expect("done") >= SimTime::from_ms(100), "{remove:?}");
    assert_eq!(run.analysis().report.counters.server.stores_waited_for_expiry, 1);
    // c2's lease ran out; renewing finds no file.
    assert_eq!(run.ops()[3].status, Some(OpStatus::Fail));
    assert_eq!(run.verdict("stale_file_reads"), (Some(true), 0));
}
