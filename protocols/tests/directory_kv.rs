//! End-to-end tests of the directory store: whole simulations, checked
//! through the client history, the final replica contents and the
//! protocol's report.

use protocols::directory_kv::{
    DIRECTORY, Node, Ordering, PARAM_DOCS, Params, Query, Replication, build, client_ids, report, storage_id,
};
use sim_core::fault::{FaultAction, FaultPlan, TimedFault};
use sim_core::net::{LinkRule, NetConfig, NodeSet};
use sim_core::workload::{Arrivals, ScriptedOp, WorkloadConfig};
use sim_core::{Dist, Key, Limits, NodeId, Op, OpKind, OpRecord, OpStatus, Output, Sim, SimConfig, SimTime, Value, ms};
use std::collections::{BTreeMap, BTreeSet};

const QUERIES: [Query; 2] = [Query::Recursive, Query::Iterative];
const REPLICATIONS: [Replication; 2] = [Replication::Iterative, Replication::Recursive];

/// A deployment and a workload, before the run.
struct Setup {
    params: Params,
    storage: usize,
    clients: usize,
    cfg: SimConfig,
}

impl Setup {
    /// A closed-loop get/put workload on `keys` keys until `stop_ms`, over a
    /// 1 ms network, with a generous quiesce time for repairs to finish.
    fn new(params: Params, storage: usize, clients: usize, keys: u64, stop_ms: u64, seed: u64) -> Setup {
        let n = 1 + storage + clients;
        let cfg = SimConfig {
            seed,
            net: NetConfig::simple(n, 1.0),
            workload: WorkloadConfig::closed(client_ids(storage, clients), keys, SimTime::from_ms(stop_ms)),
            faults: FaultPlan::default(),
            limits: Limits { quiesce_ns: ms(3_000), deadline: SimTime::from_ms(120_000), max_events: 20_000_000 },
            record_trace: false,
        };
        Setup { params, storage, clients, cfg }
    }

    fn script(mut self, ops: Vec<ScriptedOp>) -> Setup {
        self.cfg.workload.arrivals = Arrivals::ScriptOnly;
        self.cfg.workload.script = ops;
        self
    }

    fn fault(mut self, at_ms: u64, action: FaultAction) -> Setup {
        self.cfg.faults.schedule.push(TimedFault { at: SimTime::from_ms(at_ms), action });
        self
    }

    fn run(self) -> Sim<Node> {
        self.params.validate(self.storage).expect("test parameters are valid");
        let mut sim = Sim::new(self.cfg, build(&self.params, self.storage, self.clients));
        let summary = sim.run();
        assert!(!summary.end_reason.is_limit(), "run hit a limit: {summary:?}");
        sim
    }
}

fn client(storage: usize, i: usize) -> NodeId {
    client_ids(storage, i + 1)[i]
}

fn put_at(at_ms: u64, client: NodeId, key: Key, id: u64) -> ScriptedOp {
    let op = Op::put(key, Value { id, size_bytes: 100 });
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op }
}

fn get_at(at_ms: u64, client: NodeId, key: Key) -> ScriptedOp {
    ScriptedOp { at: SimTime::from_ms(at_ms), client, op: Op::get(key) }
}

fn directory(sim: &Sim<Node>) -> &protocols::directory_kv::Directory {
    match &sim.actors()[DIRECTORY.index()] {
        Node::Directory(d) => d,
        other => panic!("node 0 is {other:?}"),
    }
}

fn ops_of(sim: &Sim<Node>, kind: OpKind) -> Vec<&OpRecord> {
    sim.history().ops.iter().filter(|r| r.op.kind == kind).collect()
}

/// Gets that returned a value no correct register could have returned: not
/// the value of a put that was invoked before the get completed and not
/// overwritten by another put that completed before the get began. An
/// unknown put may take effect at any time after its invocation, so it is
/// never overwritten and never overwrites; failed puts never happened.
fn stale_reads(sim: &Sim<Node>) -> Vec<String> {
    let history = sim.history();
    let mut bad = Vec::new();
    for g in history.ops.iter().filter(|r| r.op.kind == OpKind::Get && r.status == Some(OpStatus::Ok)) {
        let g_done = g.complete.expect("ok ops complete");
        let puts: Vec<&OpRecord> = history
            .ops
            .iter()
            .filter(|p| p.op.kind == OpKind::Put && p.op.key == g.op.key)
            .filter(|p| matches!(p.status, Some(OpStatus::Ok | OpStatus::Unknown)))
            .collect();
        let ok_end = |p: &OpRecord| if p.status == Some(OpStatus::Ok) { p.complete } else { None };
        let overwritten = |p: &OpRecord| {
            let Some(p_end) = ok_end(p) else { return false };
            puts.iter().any(|q| ok_end(q).is_some_and(|q_end| p_end < q.invoke && q_end < g.invoke))
        };
        let allowed = |v: Option<Value>| match v {
            None => !puts.iter().any(|q| ok_end(q).is_some_and(|q_end| q_end < g.invoke)),
            Some(v) => puts.iter().any(|p| p.op.value == Some(v) && p.invoke < g_done && !overwritten(p)),
        };
        let got = match g.output {
            Output::Nothing => None,
            Output::Value(v) => Some(v),
            Output::Values(_) | Output::Numbers(_) => panic!("directory store returned {:?}", g.output),
        };
        if !allowed(got) {
            bad.push(format!("{:?} on key {} at {} returned {got:?}", g.id, g.op.key, g.invoke));
        }
    }
    bad
}

/// What each storage node holds, by key.
fn holdings(sim: &Sim<Node>) -> BTreeMap<Key, BTreeMap<NodeId, Value>> {
    let mut by_key: BTreeMap<Key, BTreeMap<NodeId, Value>> = BTreeMap::new();
    for (node, key, value) in sim.replica_values() {
        by_key.entry(key).or_default().insert(node, value);
    }
    by_key
}

/// Keys whose storage nodes hold different values.
fn divergent_keys(sim: &Sim<Node>) -> Vec<Key> {
    holdings(sim)
        .into_iter()
        .filter(|(_, held)| held.values().collect::<BTreeSet<_>>().len() > 1)
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn serialized_store_is_fresh_and_convergent_in_every_style() {
    for query in QUERIES {
        for replication in REPLICATIONS {
            for seed in 1..=3 {
                let params = Params { query, replication, ..Params::default() };
                let mut setup = Setup::new(params, 3, 4, 6, 1_000, seed);
                setup.cfg.net.jitter_ms = 2.0;
                let sim = setup.run();
                let what = format!("{query:?} query, {replication:?} replication, seed {seed}");
                let ops = &sim.history().ops;
                assert!(ops.len() > 200, "{what}: only {} ops ran", ops.len());
                for r in ops {
                    assert_eq!(r.status, Some(OpStatus::Ok), "{what}: {r:?}");
                }
                let read_values = ops_of(&sim, OpKind::Get).iter().filter(|g| g.output != Output::Nothing).count();
                assert!(read_values > 50, "{what}: only {read_values} gets saw a value");
                let stale = stale_reads(&sim);
                assert!(stale.is_empty(), "{what}: stale reads {stale:?}");
                assert_eq!(divergent_keys(&sim), Vec::<Key>::new(), "{what}: replicas diverge");
                let held = holdings(&sim);
                for (key, replicas) in directory(&sim).placements() {
                    assert_eq!(replicas.len(), 2, "{what}: key {key} on {replicas:?}");
                    let holders: Vec<NodeId> = held.get(&key).map(|h| h.keys().copied().collect()).unwrap_or_default();
                    let mut listed = replicas.to_vec();
                    listed.sort();
                    assert_eq!(holders, listed, "{what}: key {key} is held where the directory does not list it");
                }
            }
        }
    }
}

/// Puts of 1 MB values only: how many bytes cross the directory's NIC.
fn directory_traffic(query: Query, replication: Replication) -> (u64, u64, u64) {
    let params = Params { query, replication, ..Params::default() };
    let mut setup = Setup::new(params, 3, 2, 4, 300, 7);
    setup.cfg.workload.mix = vec![(OpKind::Put, 1.0)];
    setup.cfg.workload.value_size_bytes = Dist::constant(1_000_000.0);
    let sim = setup.run();
    let puts = ops_of(&sim, OpKind::Put);
    assert!(puts.len() > 50 && puts.iter().all(|p| p.status == Some(OpStatus::Ok)), "{puts:?}");
    let put_bytes: u64 = puts.iter().map(|p| p.op.value.expect("puts carry values").size_bytes).sum();
    let dir = &sim.stats().by_node[DIRECTORY.index()];
    (put_bytes, dir.bytes_received, dir.bytes_sent)
}

#[test]
fn recursive_query_moves_values_through_the_directory() {
    for replication in REPLICATIONS {
        let (put_bytes, received, sent) = directory_traffic(Query::Recursive, replication);
        assert!(received >= put_bytes && received < put_bytes + put_bytes / 100, "{received} vs {put_bytes}");
        // The directory writes every value out again: to each replica with
        // fan-out, once to the head of the chain.
        let copies = if replication == Replication::Iterative { 2 } else { 1 };
        let expected = copies * put_bytes;
        assert!(sent >= expected && sent < expected + expected / 100, "{replication:?}: sent {sent} for {put_bytes}");
    }
    for replication in REPLICATIONS {
        let (put_bytes, received, sent) = directory_traffic(Query::Iterative, replication);
        assert!(received < put_bytes / 1_000, "iterative directory received {received} for {put_bytes}");
        assert!(sent < put_bytes / 1_000, "iterative directory sent {sent} for {put_bytes}");
    }
}

/// Rounds of probes, one key per round: a lone put followed by a train of
/// gets from two other clients, then three puts from three clients at the
/// same instant, whose arrival order at each replica the jitter decides.
fn probe_rounds(storage: usize, keys: u64) -> Vec<ScriptedOp> {
    let mut script = Vec::new();
    let mut id = 0;
    for key in 0..keys {
        let base = 400 * key;
        id += 1;
        script.push(put_at(base, client(storage, 0), key, id));
        script.extend((1..=15).map(|i| get_at(base + 2 * i, client(storage, 1 + (i % 2) as usize), key)));
        for c in 1..=3 {
            id += 1;
            script.push(put_at(base + 200, client(storage, c), key, id));
        }
    }
    script
}

/// (stale reads, divergent keys) of the probe rounds under heavy jitter.
fn anomalies(ordering: Ordering, query: Query, replication: Replication, seed: u64) -> (usize, usize) {
    let params = Params { query, replication, ordering, replication_factor: 3, ..Params::default() };
    let mut setup = Setup::new(params, 3, 4, 10, 4_000, seed).script(probe_rounds(3, 10));
    setup.cfg.net = NetConfig::simple(8, 0.2);
    setup.cfg.net.jitter_ms = 10.0;
    let sim = setup.run();
    assert!(sim.history().ops.iter().all(|r| r.status == Some(OpStatus::Ok)), "{ordering:?} seed {seed}");
    (stale_reads(&sim).len(), divergent_keys(&sim).len())
}

#[test]
fn careless_ordering_lets_replicas_diverge_under_jitter_and_serialized_does_not() {
    for query in QUERIES {
        for replication in REPLICATIONS {
            let mut careless_divergent = 0;
            for seed in 1..=5 {
                careless_divergent += anomalies(Ordering::Careless, query, replication, seed).1;
                let serialized = anomalies(Ordering::Serialized, query, replication, seed);
                assert_eq!(serialized, (0, 0), "{query:?} query, {replication:?} replication, seed {seed}");
            }
            assert!(careless_divergent > 0, "{query:?} query, {replication:?} replication: careless never diverged");
        }
    }
}

#[test]
fn careless_ordering_reads_stale_from_a_lagging_replica_and_serialized_does_not() {
    // The writer c1 is 30 ms from s3 and 1 ms from everything else; the
    // readers are 1 ms from everyone. A careless put is acknowledged by s1
    // long before it reaches s3, and a reader that picks s3 meanwhile gets
    // the old value although the put was acknowledged before the get began.
    let script = |storage| {
        let mut script = Vec::new();
        for key in 0..5 {
            let base = 200 * key;
            script.push(put_at(base, client(storage, 0), key, key + 1));
            script.extend((0..10).map(|i| get_at(base + 10 + 2 * i, client(storage, 1 + (i % 2) as usize), key)));
        }
        script
    };
    for ordering in [Ordering::Careless, Ordering::Serialized] {
        for seed in 1..=3 {
            let params = Params { query: Query::Iterative, ordering, replication_factor: 3, ..Params::default() };
            let mut setup = Setup::new(params, 3, 3, 5, 2_000, seed).script(script(3));
            setup.cfg.net.links.push(LinkRule {
                from: NodeSet::from_nodes([client(3, 0)]),
                to: NodeSet::from_nodes([storage_id(2)]),
                one_way: false,
                latency_ms: Dist::constant(30.0),
            });
            let sim = setup.run();
            assert!(sim.history().ops.iter().all(|r| r.status == Some(OpStatus::Ok)));
            let stale = stale_reads(&sim);
            match ordering {
                Ordering::Careless => assert!(!stale.is_empty(), "seed {seed}: no stale read"),
                Ordering::Serialized => assert!(stale.is_empty(), "seed {seed}: {stale:?}"),
            }
        }
    }
}

#[test]
fn serialized_puts_wait_for_every_replica_and_careless_puts_for_the_first() {
    // The writer (the directory in recursive query, the client in iterative
    // query) is 30 ms from s3 and 1 ms from everything else.
    for query in QUERIES {
        for replication in REPLICATIONS {
            for ordering in [Ordering::Serialized, Ordering::Careless] {
                let params = Params { query, replication, ordering, replication_factor: 3, ..Params::default() };
                let writer = if query == Query::Recursive { DIRECTORY } else { client(3, 0) };
                let script = (0..5).map(|k| put_at(200 * k, client(3, 0), k, k + 1)).collect();
                let mut setup = Setup::new(params, 3, 1, 5, 1_000, 1).script(script);
                setup.cfg.net.links.push(LinkRule {
                    from: NodeSet::from_nodes([writer]),
                    to: NodeSet::from_nodes([storage_id(2)]),
                    one_way: false,
                    latency_ms: Dist::constant(30.0),
                });
                let sim = setup.run();
                let what = format!("{query:?} query, {replication:?} replication, {ordering:?}");
                for put in &sim.history().ops {
                    assert_eq!(put.status, Some(OpStatus::Ok), "{what}");
                    let latency = put.latency_ns().expect("completed");
                    match ordering {
                        Ordering::Serialized => assert!(latency >= ms(30), "{what}: acked after {latency} ns"),
                        Ordering::Careless => assert!(latency < ms(10), "{what}: acked after {latency} ns"),
                    }
                }
            }
        }
    }
}

#[test]
fn serialized_store_survives_duplicated_and_reordered_messages() {
    for query in QUERIES {
        for replication in REPLICATIONS {
            for seed in 1..=3 {
                let what = format!("{query:?} query, {replication:?} replication, seed {seed}");
                let params = Params { query, replication, replication_factor: 3, ..Params::default() };
                let mut setup = Setup::new(params, 3, 4, 2, 2_000, seed);
                // Exponential delays: now and then a copy arrives after
                // several later messages, as a stale duplicate would.
                setup.cfg.net.latency_ms = Dist::Exponential { mean: 2.0, offset: 0.0 };
                setup.cfg.net.duplicate = 0.3;
                let sim = setup.run();
                assert!(sim.stats().by_kind.iter().map(|k| k.duplicated).sum::<u64>() > 100, "{what}");
                assert!(sim.history().ops.iter().all(|r| r.status == Some(OpStatus::Ok)), "{what}");
                let stale = stale_reads(&sim);
                assert!(stale.is_empty(), "{what}: stale reads {stale:?}");
                assert_eq!(divergent_keys(&sim), Vec::<Key>::new(), "{what}");
                let c = report(sim.actors()).counters;
                let executed = match query {
                    Query::Recursive => c.puts_applied + c.gets_answered,
                    Query::Iterative => c.lookups_answered,
                };
                assert_eq!(executed, sim.history().ops.len() as u64, "{what}: a duplicated request ran twice");
            }
        }
    }
}

#[test]
fn crashed_storage_node_is_re_replicated_around() {
    for query in QUERIES {
        for replication in REPLICATIONS {
            for seed in [3, 4] {
                let what = format!("{query:?} query, {replication:?} replication, seed {seed}");
                let params = Params { query, replication, ..Params::default() };
                let dead = storage_id(0);
                let sim = Setup::new(params, 4, 3, 20, 2_000, seed).fault(700, FaultAction::Crash(dead)).run();
                let rep = report(sim.actors());
                assert_eq!(rep.counters.nodes_declared_dead, 1, "{what}");
                assert_eq!(rep.counters.keys_lost, 0, "{what}");
                assert!(rep.counters.rereplications_completed > 0, "{what}: {rep:?}");
                assert_eq!(rep.counters.rereplications_started, rep.counters.rereplications_completed, "{what}");
                let stale = stale_reads(&sim);
                assert!(stale.is_empty(), "{what}: stale reads {stale:?}");
                let history = &sim.history().ops;
                if query == Query::Recursive {
                    // The directory steers its own requests around the dead
                    // node (a put completes on the survivors, a chain is
                    // re-sent, a get asks another replica) well within the
                    // client timeout.
                    let failed: Vec<&OpRecord> = history.iter().filter(|r| r.status != Some(OpStatus::Ok)).collect();
                    assert!(failed.is_empty(), "{what}: {failed:?}");
                }
                let held = holdings(&sim);
                for (key, replicas) in directory(&sim).placements() {
                    assert_eq!(replicas.len(), 2, "{what}: key {key} on {replicas:?}");
                    assert!(!replicas.contains(&dead), "{what}: key {key} still on the dead node");
                    let values: BTreeSet<Value> = replicas.iter().map(|r| held[&key][r]).collect();
                    assert_eq!(values.len(), 1, "{what}: replicas of key {key} disagree: {values:?}");
                    let v = *values.first().expect("one value");
                    // The value is the latest: no put that finished ok after
                    // this value's put finished started later.
                    let writer = history.iter().find(|p| p.op.value == Some(v)).expect("a put wrote it");
                    let overwritten = history.iter().any(|q| {
                        q.op.kind == OpKind::Put
                            && q.op.key == key
                            && q.status == Some(OpStatus::Ok)
                            && writer.complete.is_some_and(|w| writer.status == Some(OpStatus::Ok) && w < q.invoke)
                    });
                    assert!(!overwritten, "{what}: key {key} holds {v:?}, which a later put overwrote");
                }
            }
        }
    }
}

#[test]
fn restarted_storage_node_keeps_its_synced_data() {
    let params = Params { replication_factor: 3, ..Params::default() };
    let c = client(3, 0);
    let script: Vec<ScriptedOp> = (0..10).map(|k| put_at(10 * k, c, k, k + 1)).collect();
    // Restarted well within the failure timeout: the directory never
    // notices, so the node must serve from what it rebuilt from its disk.
    let s1 = storage_id(0);
    let sim = Setup::new(params, 3, 1, 10, 1_000, 1)
        .script(script)
        .fault(300, FaultAction::Crash(s1))
        .fault(400, FaultAction::Restart(s1))
        .run();
    assert!(sim.history().ops.iter().all(|r| r.status == Some(OpStatus::Ok)));
    assert_eq!(sim.disk_stats(s1).lost_on_crash, 0, "every put was synced before its ack");
    let held: BTreeMap<Key, Value> =
        sim.replica_values().into_iter().filter(|(n, _, _)| *n == s1).map(|(_, k, v)| (k, v)).collect();
    let expected: BTreeMap<Key, Value> = (0..10).map(|k| (k, Value { id: k + 1, size_bytes: 100 })).collect();
    assert_eq!(held, expected);
    let rep = report(sim.actors());
    assert_eq!((rep.counters.nodes_declared_dead, rep.counters.rereplications_started), (0, 0));
}

#[test]
fn compacted_logs_rebuild_directory_and_storage_after_restarts() {
    // A cold key written once, then thousands of puts on five hot keys,
    // compact both logs many times; then the directory and a storage node
    // restart. The cold key must survive only through the snapshots, and a
    // later put must still win on every replica, which needs the
    // directory's versions to continue.
    let params = Params { replication_factor: 3, ..Params::default() };
    let (dir, s1) = (DIRECTORY, storage_id(0));
    let late = Value { id: 1_000_000, size_bytes: 100 };
    let mut setup = Setup::new(params, 3, 2, 5, 3_000, 1)
        .fault(3_100, FaultAction::Crash(dir))
        .fault(3_100, FaultAction::Crash(s1))
        .fault(3_200, FaultAction::Restart(dir))
        .fault(3_200, FaultAction::Restart(s1));
    setup.cfg.workload.mix = vec![(OpKind::Put, 1.0)];
    let cold = Value { id: 999_999, size_bytes: 100 };
    setup.cfg.workload.script = vec![put_at(0, client(3, 1), 9, cold.id), put_at(3_500, client(3, 0), 0, late.id)];
    let sim = setup.run();
    let ops = &sim.history().ops;
    assert!(ops.len() > 1_000 && ops.iter().all(|r| r.status == Some(OpStatus::Ok)), "{} ops", ops.len());
    for node in [dir, s1] {
        let records = sim.disk_stats(node).records;
        assert!(records < 300, "{node:?} log holds {records} records: it was never compacted");
    }
    let placements: Vec<(Key, Vec<NodeId>)> = directory(&sim).placements().map(|(k, r)| (k, r.to_vec())).collect();
    assert_eq!(placements.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 9]);
    assert!(placements.iter().all(|(_, r)| r.len() == 3), "{placements:?}");
    let held = holdings(&sim);
    assert!(held.values().all(|h| h.len() == 3), "every node holds every key: {held:?}");
    assert!(held[&9].values().all(|v| *v == cold), "the cold key survived compaction: {:?}", held[&9]);
    assert_eq!(divergent_keys(&sim), Vec::<Key>::new());
    assert!(held[&0].values().all(|v| *v == late), "the put after the restarts lost to older versions");
}

#[test]
fn storage_node_back_after_being_declared_dead_discards_its_copies() {
    let c = client(4, 0);
    let script: Vec<ScriptedOp> = (0..8).map(|k| put_at(10 * k, c, k, k + 1)).collect();
    let s1 = storage_id(0);
    let sim = Setup::new(Params::default(), 4, 1, 8, 1_000, 2)
        .script(script)
        .fault(300, FaultAction::Crash(s1))
        .fault(1_500, FaultAction::Restart(s1))
        .run();
    let rep = report(sim.actors());
    assert_eq!(rep.counters.nodes_declared_dead, 1);
    assert!(rep.counters.rereplications_completed > 0);
    assert_eq!(rep.storage[0].keys_stored, 0, "the revived node kept stale copies: {rep:?}");
    for (key, replicas) in directory(&sim).placements() {
        assert_eq!(replicas.len(), 2, "key {key} on {replicas:?}");
    }
    assert_eq!(divergent_keys(&sim), Vec::<Key>::new());
}

#[test]
fn without_a_directory_puts_are_unknown_and_gets_fail() {
    for query in QUERIES {
        let sim = Setup::new(Params { query, ..Params::default() }, 3, 2, 4, 3_000, 5)
            .fault(0, FaultAction::Crash(DIRECTORY))
            .run();
        let (puts, gets) = (ops_of(&sim, OpKind::Put), ops_of(&sim, OpKind::Get));
        assert!(!puts.is_empty() && !gets.is_empty(), "{query:?}");
        assert!(puts.iter().all(|p| p.status == Some(OpStatus::Unknown)), "{query:?}: {puts:?}");
        assert!(gets.iter().all(|g| g.status == Some(OpStatus::Fail)), "{query:?}: {gets:?}");
        for op in sim.history().ops.iter() {
            assert_eq!(op.latency_ns(), Some(ms(1_000)), "{query:?}: ends exactly at the client timeout");
        }
    }
}

#[test]
fn a_crashed_client_holds_its_lease_only_until_it_expires() {
    let params = Params { query: Query::Iterative, lease_ms: 300, ..Params::default() };
    let (c1, c2) = (client(3, 0), client(3, 1));
    let script = vec![put_at(0, c1, 0, 1), put_at(10, c2, 0, 2), get_at(600, c2, 0)];
    // c1 dies after its lookup reached the directory but before the
    // location came back: the directory holds a lease for a dead client.
    let mut setup = Setup::new(params, 3, 2, 1, 1_000, 1).script(script);
    setup.cfg.faults.schedule.push(TimedFault { at: SimTime(1_500_000), action: FaultAction::Crash(c1) });
    let sim = setup.run();
    let ops = &sim.history().ops;
    assert_eq!(ops[0].status, Some(OpStatus::Unknown), "{:?}", ops[0]);
    assert_eq!(ops[1].status, Some(OpStatus::Ok), "{:?}", ops[1]);
    let waited = ops[1].latency_ns().expect("completed");
    assert!(waited >= ms(290) && waited < ms(400), "second put waited {waited} ns for the lease");
    assert_eq!(ops[2].output, Output::Value(Value { id: 2, size_bytes: 100 }));
    assert_eq!(report(sim.actors()).counters.tasks_expired, 1);
}

#[test]
fn new_keys_go_to_the_node_with_most_free_space() {
    let params = Params { replication_factor: 1, ..Params::default() };
    let c = client(3, 0);
    let script: Vec<ScriptedOp> = (0..6).map(|k| put_at(10 * k, c, k, k + 1)).collect();
    let sim = Setup::new(params, 3, 1, 6, 1_000, 1).script(script).run();
    let placed: Vec<Vec<NodeId>> = directory(&sim).placements().map(|(_, r)| r.to_vec()).collect();
    let expected: Vec<Vec<NodeId>> = (0..6).map(|k| vec![storage_id(k % 3)]).collect();
    assert_eq!(placed, expected, "equal free space breaks ties by lowest id, then fills the emptiest");
    let rep = report(sim.actors());
    assert!(rep.storage.iter().all(|s| s.keys_stored == 2 && s.bytes_stored == 200), "{rep:?}");
}

#[test]
fn a_key_that_fits_nowhere_is_refused_and_stays_absent() {
    for query in QUERIES {
        let params = Params { query, storage_capacity_bytes: 50, ..Params::default() };
        let c = client(3, 0);
        let sim = Setup::new(params, 3, 1, 1, 1_000, 1).script(vec![put_at(0, c, 0, 1), get_at(100, c, 0)]).run();
        let ops = &sim.history().ops;
        assert_eq!(ops[0].status, Some(OpStatus::Fail), "{query:?}");
        assert_eq!((ops[1].status, &ops[1].output), (Some(OpStatus::Ok), &Output::Nothing), "{query:?}");
        assert_eq!(report(sim.actors()).counters.requests_refused, 1);
    }
}

#[test]
fn same_seed_same_trace() {
    let hash = |seed| {
        let params = Params { query: Query::Iterative, replication: Replication::Recursive, ..Params::default() };
        let mut setup = Setup::new(params, 4, 3, 10, 500, seed).fault(200, FaultAction::Crash(storage_id(1)));
        setup.cfg.net.jitter_ms = 3.0;
        setup.run().trace_hash()
    };
    assert_eq!(hash(11), hash(11));
    assert_ne!(hash(11), hash(12));
}

#[test]
fn validate_names_the_offending_key() {
    let rf = |replication_factor| Params { replication_factor, ..Params::default() }.validate(3);
    assert_eq!(rf(0).unwrap_err().key, "replication_factor");
    assert_eq!(rf(4).unwrap_err().key, "replication_factor");
    assert!(rf(4).unwrap_err().message.contains("3"), "the message states the limit");
    assert_eq!(rf(3), Ok(Vec::new()));
    assert!(rf(1).unwrap().iter().any(|w| w.contains("loses")), "rf = 1 warns about losing keys");
    let bad_timeout = Params { failure_timeout_ms: 100, ..Params::default() }.validate(3);
    assert_eq!(bad_timeout.unwrap_err().key, "failure_timeout_ms");
    assert_eq!(Params { lease_ms: 0, ..Params::default() }.validate(3).unwrap_err().key, "lease_ms");
    let no_space = Params { storage_capacity_bytes: 0, ..Params::default() }.validate(3);
    assert_eq!(no_space.unwrap_err().key, "storage_capacity_bytes");
}

#[test]
fn params_read_from_toml_and_are_all_documented() {
    let p: Params = toml::from_str("query = \"iterative\"\nreplication = \"recursive\"\nordering = \"careless\"")
        .expect("valid parameters");
    assert_eq!((p.query, p.replication, p.ordering), (Query::Iterative, Replication::Recursive, Ordering::Careless));
    assert_eq!(p.replication_factor, Params::default().replication_factor, "unset keys keep their default");
    assert!(toml::from_str::<Params>("replication_facter = 2").is_err(), "unknown keys are rejected");
    let defaults: toml::Table = toml::Table::try_from(Params::default()).expect("params serialize");
    let documented: BTreeMap<&str, &str> = PARAM_DOCS.iter().map(|(name, default, _)| (*name, *default)).collect();
    assert_eq!(defaults.keys().map(String::as_str).collect::<BTreeSet<_>>(), documented.keys().copied().collect());
    for (name, value) in &defaults {
        let shown = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        assert_eq!(documented[name.as_str()], shown, "documented default of {name}");
    }
}

#[test]
fn random_faults_never_trip_an_assertion() {
    // Crashes, pauses, partitions, loss and duplication of every node,
    // including the directory and clients: the protocol may fail requests
    // but must never reach a state its assertions call impossible.
    use sim_core::fault::{Nemesis, NemesisKind};
    for query in QUERIES {
        for replication in REPLICATIONS {
            for ordering in [Ordering::Serialized, Ordering::Careless] {
                for seed in 1..=6 {
                    let params = Params { query, replication, ordering, ..Params::default() };
                    let mut setup = Setup::new(params, 4, 3, 8, 3_000, seed);
                    let all: Vec<NodeId> = (0..8).map(NodeId).collect();
                    for (kind, every_ms) in [
                        (NemesisKind::Crash, 800.0),
                        (NemesisKind::Pause, 1_000.0),
                        (NemesisKind::Partition, 1_500.0),
                        (NemesisKind::Isolate, 1_500.0),
                    ] {
                        setup.cfg.faults.nemeses.push(Nemesis {
                            kind,
                            targets: all.clone(),
                            interval_ms: Dist::Exponential { mean: every_ms, offset: 0.0 },
                            duration_ms: Dist::Uniform { min: 50.0, max: 800.0 },
                            start: SimTime::ZERO,
                            stop: SimTime::from_ms(3_000),
                        });
                    }
                    setup.cfg.faults.final_heal = true;
                    setup.cfg.net.loss = 0.02;
                    setup.cfg.net.duplicate = 0.02;
                    setup.cfg.net.jitter_ms = 3.0;
                    let sim = setup.run();
                    assert!(sim.history().ops.iter().all(|r| r.status.is_some()));
                }
            }
        }
    }
}
