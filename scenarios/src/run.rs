//! Running a loaded scenario and writing what it produced.

use crate::drivers::Protocol;
use crate::expect;
use crate::load::Scenario;
use protocols::{chord, directory_kv, file_caching, primary_backup, quorum, two_phase_commit};
use reports::convert::from_sim;
use reports::history_io;
use reports::linear::Budget;
use reports::ops::CheckHistory;
use reports::plot::{OpSpan, op_spans, run_plots};
use reports::replicas::FinalState;
use reports::report::CheckInputs;
use reports::{Labels, RunMeta, RunReport};
use serde_json::json;
use sim_core::trace::{TraceEvent, TraceKind};
use sim_core::{Actor, NodeSpec, NodeStatus, Sim, SimConfig};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options of one run beyond the scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: Option<u64>,
    /// Keep the full event trace (for `trace.jsonl`).
    pub record_trace: bool,
    /// Show simulated time against the run's deadline on this bar once the
    /// run has taken more than a moment (see `run_within`).
    pub progress: Option<indicatif::ProgressBar>,
}

/// Everything a run produced.
pub struct RunOutput {
    pub report: RunReport,
    /// The history in the checkers' form: what history.jsonl and
    /// history.edn hold, and what `dsim check` reads back.
    pub history: CheckHistory,
    pub trace: Option<Vec<TraceEvent>>,
    pub names: Vec<String>,
    /// Every operation with its times, for the plots and report.html.
    pub ops: Vec<OpSpan>,
    /// The first events of the run, for the message diagram when the full
    /// trace was not recorded (see [`trace_prefix`]); `None` from [`run`].
    pub trace_prefix: Option<Vec<TraceEvent>>,
}

impl RunOutput {
    /// The events the message diagram is drawn from: the whole trace if it
    /// was recorded, else the prefix, if one was recorded.
    pub fn diagram_trace(&self) -> Option<&[TraceEvent]> {
        self.trace.as_deref().or(self.trace_prefix.as_deref())
    }
}

/// Quotes an argument for a POSIX shell when it needs it.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_./=:,@+-%".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

/// One command that reproduces this run exactly.
pub fn repro_command(scn: &Scenario, seed: u64) -> String {
    let mut parts = vec!["dsim".to_string(), "run".into(), shell_quote(&scn.file)];
    if let Some(v) = &scn.variant {
        parts.push("--variant".into());
        parts.push(shell_quote(v));
    }
    parts.push("--seed".into());
    parts.push(seed.to_string());
    for o in scn.typed_overrides() {
        parts.push("--set".into());
        parts.push(shell_quote(&o.raw));
    }
    parts.join(" ")
}

/// What a protocol says about a finished run besides the history: its
/// report details, its replicas' final state (for convergence and lost
/// writes) when it can tell, and the results of its own checks.
#[derive(Default)]
pub struct ProtocolOutcome {
    pub details: serde_json::Value,
    pub final_state: Option<FinalState>,
    pub checks: Vec<protocols::ProtocolCheck>,
}

/// Runs a scenario once.
pub fn run(scn: &Scenario, opts: &RunOptions) -> RunOutput {
    let seed = opts.seed.unwrap_or(scn.seed);
    match &scn.protocol {
        Protocol::DirectoryKv(p) => {
            run_with(scn, seed, opts, directory_kv::build(p, scn.servers, scn.clients), |sim, _| {
                ProtocolOutcome {
                    details: serde_json::to_value(directory_kv::report(sim.actors())).unwrap_or_default(),
                    // The directory's placements say which copies are replicas;
                    // a directory that is down at the end cannot say.
                    final_state: (sim.status(directory_kv::DIRECTORY) != NodeStatus::Down)
                        .then(|| FinalState { replicas: directory_kv::final_replicas(sim.actors()) }),
                    checks: Vec::new(),
                }
            })
        }
        Protocol::Quorum(p) => run_with(scn, seed, opts, quorum::build(p, scn.servers, scn.clients), |sim, _| {
            ProtocolOutcome {
                details: serde_json::to_value(quorum::report(sim.actors())).unwrap_or_default(),
                // A server that is down at the end has dropped its copies
                // from memory, so the final state is known only when every
                // server is up (the default final heal restarts them).
                final_state: (0..scn.servers)
                    .all(|i| sim.status(quorum::server_id(i)) != NodeStatus::Down)
                    .then(|| FinalState { replicas: quorum::final_replicas(sim.actors(), scn.servers, p) }),
                checks: Vec::new(),
            }
        }),
        Protocol::Chord(p) => run_with(scn, seed, opts, chord::build(p, scn.servers, scn.clients), |sim, _| {
            let keys = sim.workload().keys;
            ProtocolOutcome {
                // Lookups are judged against the true ring, which needs the
                // crashes and restarts of the fault log.
                details: serde_json::to_value(chord::report(sim.actors(), sim.fault_log(), keys, p))
                    .unwrap_or_default(),
                // The replicas of each key in the final ring: nodes that are
                // down or outside it hold nothing that counts.
                final_state: Some(FinalState { replicas: chord::final_replicas(sim.actors(), p) }),
                checks: Vec::new(),
            }
        }),
        Protocol::PrimaryBackup(p) => {
            run_with(scn, seed, opts, primary_backup::build(p, scn.servers, scn.clients), |sim, ctx| {
                let threshold_ns = sim_core::ms(p.client_timeout_ms);
                let report = primary_backup::report(
                    sim.actors(),
                    sim.history(),
                    sim.fault_log(),
                    sim.names(),
                    threshold_ns,
                    sim.now(),
                );
                ProtocolOutcome {
                    details: serde_json::to_value(report).unwrap_or_default(),
                    // The final primary's copy is the store; without the view
                    // server or that primary nobody can say which copy counts.
                    final_state: primary_backup::final_replicas(sim).map(|replicas| FinalState { replicas }),
                    checks: primary_backup::checks(sim, ctx.max_examples),
                }
            })
        }
        Protocol::TwoPhaseCommit(p) => {
            let nodes = two_phase_commit::build(p, scn.servers, scn.clients, two_phase_commit::accounts(&scn.workload));
            run_with(scn, seed, opts, nodes, |sim, cx| ProtocolOutcome {
                details: serde_json::to_value(two_phase_commit::report(sim.actors(), sim.names(), sim.now()))
                    .unwrap_or_default(),
                // Participants are not replicas: no convergence to judge.
                final_state: None,
                checks: two_phase_commit::checks(sim, cx.labels.nodes, cx.max_examples),
            })
        }
        Protocol::FileCaching(p) => {
            let nodes = file_caching::build(p, scn.servers, scn.clients, scn.workload.blocks_per_file);
            run_with(scn, seed, opts, nodes, |sim, cx| {
                let names =
                    file_caching::Names { nodes: cx.labels.nodes, keys: cx.labels.keys, values: cx.labels.values };
                let a = file_caching::analyse(sim, p, &names, cx.max_examples);
                // Blocks of files are not key-value replicas: the
                // protocol's own checks judge them.
                ProtocolOutcome {
                    details: serde_json::to_value(a.report).unwrap_or_default(),
                    final_state: None,
                    checks: a.checks,
                }
            })
        }
    }
}

/// A protocol's own check as a report's check.
fn protocol_check_result(c: protocols::ProtocolCheck, names: &[String]) -> reports::CheckResult {
    let name_of = |n: sim_core::NodeId| names.get(n.index()).cloned().unwrap_or_else(|| format!("node{}", n.0));
    let mut details = serde_json::Map::new();
    for (k, v) in &c.numbers {
        details.insert(k.to_string(), json!(v));
    }
    if let Some(r) = &c.reason {
        details.insert("reason".into(), json!(r));
    }
    reports::CheckResult {
        name: c.name,
        verdict: match c.passed {
            Some(true) => reports::Verdict::Pass,
            Some(false) => reports::Verdict::Fail,
            None => reports::Verdict::Unknown,
        },
        violation_count: c.violation_count,
        violations: c
            .examples
            .into_iter()
            .map(|f| reports::Violation {
                kind: f.kind,
                ops: f.ops,
                processes: f.nodes.into_iter().map(name_of).collect(),
                at_ms: f.at.as_ms_f64(),
                message: f.message,
            })
            .collect(),
        details: serde_json::Value::Object(details),
    }
}

/// What a protocol's own checks need to name things and bound their output.
pub struct CheckContext<'a> {
    pub labels: Labels<'a>,
    /// How many example violations each check lists.
    pub max_examples: usize,
}

/// Runs to the end, or until `budget_ms` of wall-clock time has passed
/// (then the run ends with `EndReason::WallClock` and its report is still
/// complete for what ran). The clock is read between slices of events, never
/// inside the simulation, so a run that fits its budget is unaffected by it.
/// A progress bar, if given, appears only once the run has taken half a
/// second: quick runs print nothing extra.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn run_within<A: Actor>(
    sim: &mut Sim<A>,
    budget_ms: Option<u64>,
    deadline: sim_core::SimTime,
    progress: Option<&indicatif::ProgressBar>,
) -> sim_core::RunSummary {
    if budget_ms.is_none() && progress.is_none() {
        return sim.run();
    }
    const SHOW_AFTER_MS: u128 = 500;
    let started = std::time::Instant::now();
    let mut shown = false;
    let summary = loop {
        if let Some(summary) = sim.run_for(1 << 16) {
            break summary;
        }
        let elapsed_ms = started.elapsed().as_millis();
        if let Some(bar) = progress {
            if !shown && elapsed_ms >= SHOW_AFTER_MS {
                bar.set_length(deadline.as_nanos() / sim_core::time::NANOS_PER_MS);
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                shown = true;
            }
            if shown {
                bar.set_position(sim.now().as_nanos() / sim_core::time::NANOS_PER_MS);
                bar.set_message(format!("{} events", sim.events()));
            }
        }
        if budget_ms.is_some_and(|b| elapsed_ms >= u128::from(b)) {
            break sim.stop(sim_core::EndReason::WallClock);
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    summary
}

fn sim_config(scn: &Scenario, seed: u64, record_trace: bool) -> SimConfig {
    SimConfig {
        seed,
        net: scn.net.clone(),
        workload: scn.workload.clone(),
        faults: scn.faults.clone(),
        limits: scn.limits,
        record_trace,
    }
}

fn run_with<A: Actor>(
    scn: &Scenario,
    seed: u64,
    opts: &RunOptions,
    nodes: Vec<NodeSpec<A>>,
    outcome: impl FnOnce(&Sim<A>, &CheckContext) -> ProtocolOutcome,
) -> RunOutput {
    let mut sim = Sim::new(sim_config(scn, seed, opts.record_trace), nodes);
    sim.set_resource_limits(scn.resources);
    let summary = run_within(&mut sim, scn.wall_clock_budget_ms, scn.limits.deadline, opts.progress.as_ref());
    let meta = RunMeta {
        scenario: scn.name.clone(),
        protocol: scn.protocol.name().to_string(),
        file: scn.file.clone(),
        seed,
        command: repro_command(scn, seed),
        warnings: scn.warnings.clone(),
        max_examples: scn.max_examples,
        key_names: scn.key_names.clone(),
        value_names: scn.value_names.clone(),
        checks: scn.checks.clone(),
        budget: Budget {
            time_ms: scn.check_time_budget_ms,
            memory_bytes: scn.check_memory_budget_bytes,
            ..Budget::default()
        },
    };
    let labels = Labels { nodes: sim.names(), keys: &scn.key_names, values: &scn.value_names };
    let history = from_sim(sim.history(), &labels);
    let context = CheckContext { labels, max_examples: scn.max_examples };
    let outcome = outcome(&sim, &context);
    let protocol_checks = outcome.checks.into_iter().map(|c| protocol_check_result(c, sim.names())).collect();
    let inputs = CheckInputs { history: &history, final_state: outcome.final_state.as_ref(), protocol_checks };
    let mut report = RunReport::collect(&sim, &summary, meta, outcome.details, &inputs);
    report.expectations = expect::evaluate(&scn.expectations, &report);
    RunOutput {
        report,
        history,
        trace: sim.trace().map(<[TraceEvent]>::to_vec),
        names: sim.names().to_vec(),
        ops: op_spans(sim.history(), &labels),
        trace_prefix: None,
    }
}

/// Events run per slice while recording a trace prefix.
const PREFIX_SLICE_EVENTS: u64 = 1024;
/// The most slices a trace prefix runs: a bound on its cost whatever the scenario.
const PREFIX_MAX_SLICES: u32 = 200;

/// The trace of the beginning of a run, recorded by running the scenario
/// again from the start until `max_sends` messages have been sent twice
/// over (so most of the first ones have been delivered or dropped too),
/// the run ends, or about 200,000 events have run. The same scenario and
/// seed run the same events in the same order, and recording a trace
/// changes nothing in the run, so this is exactly the start of the run's
/// own trace, at the cost of the prefix only, where recording the whole
/// trace of a long run would hold every event in memory.
pub fn trace_prefix(scn: &Scenario, seed: u64, max_sends: usize) -> Vec<TraceEvent> {
    crate::with_nodes!(&scn.protocol, scn.servers, scn.clients, Some(&scn.workload), nodes => prefix_with(scn, seed, nodes, max_sends))
}

fn prefix_with<A: Actor>(scn: &Scenario, seed: u64, nodes: Vec<NodeSpec<A>>, max_sends: usize) -> Vec<TraceEvent> {
    let mut sim = Sim::new(sim_config(scn, seed, true), nodes);
    sim.set_resource_limits(scn.resources);
    let (mut sends, mut seen) = (0, 0);
    for _ in 0..PREFIX_MAX_SLICES {
        let ended = sim.run_for(PREFIX_SLICE_EVENTS).is_some();
        let trace = sim.trace().unwrap_or_default();
        sends += trace[seen..].iter().filter(|e| e.kind == TraceKind::Send).count();
        seen = trace.len();
        if ended || sends >= 2 * max_sends {
            break;
        }
    }
    sim.trace().map(<[TraceEvent]>::to_vec).unwrap_or_default()
}

/// Writes `contents` to `path` atomically: a temporary file in the same
/// directory, flushed and synced, then renamed over the target. A reader
/// never sees a half-written file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes `path` if it exists: a file from an earlier run in the same
/// directory would sit beside this run's reports as if it belonged to them.
fn remove_stale(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes report.json, report.txt, history.jsonl, history.edn, the plots
/// (latency-cdf.svg, latency-over-time.svg, throughput.svg and, when the
/// output has a trace or a trace prefix and few enough nodes, messages.svg),
/// report.html and, if the trace was recorded, trace.jsonl under `dir`
/// (removing stale ones).
pub fn write_outputs(dir: &Path, out: &RunOutput) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    if out.trace.is_none() {
        remove_stale(&dir.join("trace.jsonl"))?;
    }
    let plots = run_plots(&out.report, &out.ops, out.diagram_trace(), &out.names);
    if !plots.iter().any(|p| p.file == "messages.svg") {
        remove_stale(&dir.join("messages.svg"))?;
    }
    let mut written = Vec::new();
    let mut put = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let p = dir.join(name);
        write_atomic(&p, data)?;
        written.push(p);
        Ok(())
    };
    let json = serde_json::to_string_pretty(&out.report).map_err(std::io::Error::other)?;
    put("report.json", format!("{json}\n").as_bytes())?;
    put("report.txt", reports::text::render(&out.report).as_bytes())?;
    put("history.jsonl", history_io::to_jsonl(&out.history).as_bytes())?;
    put("history.edn", history_io::to_edn(&out.history).as_bytes())?;
    for p in &plots {
        put(p.file, p.svg.as_bytes())?;
    }
    put("report.html", reports::html::render_html(&out.report, &plots, &out.ops).as_bytes())?;
    if let Some(trace) = &out.trace {
        let mut s = String::new();
        for ev in trace {
            let line = json!({
                "time_ns": ev.at.as_nanos(),
                "kind": ev.kind,
                "node": out.names[ev.node.index()],
                "peer": ev.peer.map(|p| out.names[p.index()].clone()),
                "label": ev.label,
                "size_bytes": ev.size_bytes,
            });
            s.push_str(&line.to_string());
            s.push('\n');
        }
        put("trace.jsonl", s.as_bytes())?;
    }
    Ok(written)
}
