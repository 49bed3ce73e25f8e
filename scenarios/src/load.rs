//! Loading a scenario: read the file, apply `--set` overrides, parse, check
//! every value for sense, and resolve node names into ids.

use crate::drivers::{self, Protocol};
use crate::error::InputError;
use crate::expect::{self, Expectation};
use crate::locate::Locator;
use crate::overrides::{self, Override};
use crate::schema::*;
use crate::swarm::{self, SwarmRange};
use reports::report::CHECKS;
use sim_core::fault::{FaultAction, FaultPlan, Nemesis, NemesisKind, TimedFault};
use sim_core::net::{LinkRule, NetConfig, Nic, NodeSet};
use sim_core::time::MAX_DURATION_MS;
use sim_core::workload::MAX_VALUE_SIZE_BYTES;
use sim_core::workload::{Arrivals, KeyDist, ScriptedOp, Sessions, WorkloadConfig};
use sim_core::{Dist, Key, Limits, NodeId, Op, OpArg, OpKind, ResourceLimits, SimTime, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Most nodes or clients a scenario may declare.
pub const MAX_NODES: usize = 1_000_000;
/// Largest key space a workload may draw from.
pub const MAX_KEYS: u64 = 100_000_000;

/// A loaded, checked scenario with names resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The path as given.
    pub file: String,
    /// The TOML actually run (overrides applied).
    pub text: String,
    /// The file as written, before overrides.
    pub source: String,
    /// The `--set` overrides, including values drawn for swarm ranges.
    pub overrides: Vec<Override>,
    /// Ranges still to draw per seed (empty once drawn: see `for_seed`).
    pub swarm: Vec<SwarmRange>,
    /// The `--set`s drawn for this scenario's seed, if it had ranges.
    pub drawn: Vec<String>,
    pub name: String,
    pub description: String,
    pub protocol: Protocol,
    pub seed: u64,
    pub servers: usize,
    pub clients: usize,
    pub names: Vec<String>,
    pub roles: Vec<String>,
    pub net: NetConfig,
    pub workload: WorkloadConfig,
    pub faults: FaultPlan,
    pub limits: Limits,
    /// Memory caps of a run.
    pub resources: ResourceLimits,
    /// Wall-clock budget of a run, if any.
    pub wall_clock_budget_ms: Option<u64>,
    pub max_examples: usize,
    /// The checks to run, from `reports::report::CHECKS`.
    pub checks: Vec<String>,
    pub check_time_budget_ms: u64,
    pub check_memory_budget_bytes: u64,
    pub expectations: Vec<Expectation>,
    pub warnings: Vec<String>,
    /// Display names of scripted keys and values.
    pub key_names: BTreeMap<u64, String>,
    pub value_names: BTreeMap<u64, String>,
    /// The `[[variant]]`s the file declares (see `variants`).
    pub variant_specs: Vec<VariantSpec>,
    /// Extra columns of comparison tables (metric names).
    pub compare_metrics: Vec<String>,
    /// The variant this scenario is, if it is one.
    pub variant: Option<String>,
    /// Which of `overrides` came from the variant's `set` (the rest were typed).
    pub variant_sets: std::ops::Range<usize>,
}

impl Scenario {
    /// The scenario as run with `seed`: swarm ranges drawn and pinned as
    /// `--set` overrides (which the reproduce command then carries). A
    /// scenario without ranges is returned as it is.
    pub fn for_seed(&self, seed: u64) -> Result<Scenario, InputError> {
        if self.swarm.is_empty() {
            return Ok(self.clone());
        }
        let drawn = swarm::draw(&self.swarm, seed);
        let sets: Vec<String> = self.overrides.iter().map(|o| o.raw.clone()).chain(drawn.iter().cloned()).collect();
        let scn = load_str(&self.file, &self.source, &sets)?;
        // A variant keeps what makes it one: its name and its own expectations.
        Ok(Scenario {
            drawn,
            variant: self.variant.clone(),
            variant_sets: self.variant_sets.clone(),
            expectations: self.expectations.clone(),
            ..scn
        })
    }

    /// The overrides typed on the command line (not a variant's `set`).
    pub fn typed_overrides(&self) -> impl Iterator<Item = &Override> {
        self.overrides.iter().enumerate().filter(|(i, _)| !self.variant_sets.contains(i)).map(|(_, o)| o)
    }

    /// The scenario as variant `name`: its `set` applied over the typed
    /// overrides, its `expect` added to the scenario's.
    pub fn variant(&self, name: &str) -> Result<Scenario, InputError> {
        let Some((index, spec)) = self.variant_specs.iter().enumerate().find(|(_, v)| v.name == name) else {
            let names: Vec<&str> = self.variant_specs.iter().map(|v| v.name.as_str()).collect();
            return Err(InputError::new(&self.file, format!("no variant is called `{name}`")).with_hint(
                if names.is_empty() {
                    "this scenario declares no [[variant]]".to_string()
                } else {
                    format!("variants: {}", names.join(", "))
                },
            ));
        };
        let typed: Vec<String> = self.typed_overrides().map(|o| o.raw.clone()).collect();
        let sets: Vec<String> = typed.iter().chain(&spec.set).cloned().collect();
        let scn = load_str(&self.file, &self.source, &sets).map_err(|mut e| {
            e.message = format!("variant `{name}`: {}", e.message);
            e
        })?;
        let locator = Locator::new(&self.source);
        let info = drivers::info(scn.protocol.name()).expect("a loaded protocol is registered");
        let own = expect::parse(&spec.expect, &scn.protocol.detail_metrics(), &scn.checks, info.checks, |key, msg| {
            let path = format!("variant[{index}].{key}");
            InputError::new(&self.file, msg).at_line(locator.line_of(&path)).at_key(path)
        })?;
        let mut expectations = scn.expectations.clone();
        expectations.extend(own);
        // The TOML as run (what sweep bundles save) is this variant alone:
        // with the variant tables left in, running it would compare them all.
        let mut doc: toml_edit::DocumentMut = scn.text.parse().expect("a loaded scenario is valid TOML");
        doc.remove("variant");
        Ok(Scenario {
            text: doc.to_string(),
            variant: Some(name.to_string()),
            variant_sets: typed.len()..sets.len(),
            expectations,
            ..scn
        })
    }

    /// Every variant of the scenario, in file order; the scenario itself
    /// when it declares none.
    pub fn variants(&self) -> Result<Vec<Scenario>, InputError> {
        if self.variant_specs.is_empty() {
            return Ok(vec![self.clone()]);
        }
        self.variant_specs.iter().map(|v| self.variant(&v.name)).collect()
    }

    /// How tables name this scenario: its variant, or its name.
    pub fn label(&self) -> String {
        self.variant.clone().unwrap_or_else(|| self.name.clone())
    }
}

/// Loads a scenario file with `--set` overrides (`key=value` strings).
pub fn load(path: &Path, sets: &[String]) -> Result<Scenario, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(&file, format!("cannot read the scenario: {e}"))
            .with_hint("check the path; `dsim list` shows the catalog scenarios")
    })?;
    load_str(&file, &text, sets)
}

/// Loads a scenario from text; `file` names it in messages.
pub fn load_str(file: &str, original: &str, sets: &[String]) -> Result<Scenario, InputError> {
    let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s)).collect::<Result<_, _>>()?;
    let text = overrides::apply(file, original, &overrides)?;
    let ranges = swarm::find(&text);
    if ranges.is_empty() {
        return load_text(file, original, &text, &overrides);
    }
    let original_locator = Locator::new(original);
    for r in &ranges {
        if r.low > r.high {
            let e = InputError::new(file, format!("the range [{}, {}] is empty", r.low, r.high));
            return Err(e
                .at_key(r.path.clone())
                .at_line(original_locator.line_of(&r.path))
                .with_hint("write [low, high] with low <= high"));
        }
    }
    // The scenario must make sense at both ends of every range; values in
    // between are drawn per seed (`Scenario::for_seed`).
    let pinned = |end: &str, sets: Vec<String>| -> Result<Scenario, InputError> {
        let pins: Vec<Override> = sets.iter().map(|s| Override::parse(s)).collect::<Result<_, _>>()?;
        let text = overrides::apply(file, &text, &pins)?;
        load_text(file, original, &text, &overrides).map_err(|mut e| {
            e.message = format!("{} (with every swarm range at its {end} end)", e.message);
            e
        })
    };
    pinned("high", ranges.iter().map(|r| r.high_set()).collect())?;
    let low = pinned("low", ranges.iter().map(|r| r.low_set()).collect())?;
    Ok(Scenario { source: original.to_string(), swarm: ranges, ..low })
}

/// Loads `text` (the file `original` with `overrides` applied).
fn load_text(file: &str, original: &str, text: &str, overrides: &[Override]) -> Result<Scenario, InputError> {
    let original_locator = Locator::new(original);
    let text = text.to_string();
    let locator = Locator::new(&text);
    let ctx = Ctx { file, locator: &locator, original: &original_locator, overrides };
    let result = toml::from_str::<ScenarioFile>(&text)
        .map_err(|e| ctx.toml(&e))
        .and_then(|parsed| build(&ctx, parsed, &text))
        .map(|scn| Scenario { source: original.to_string(), ..scn });
    result.map_err(|mut e| {
        // An error in the file may still be caused by an override (a --set
        // that shrinks the cluster makes replication_factor too large): say
        // which overrides were in force.
        if e.file != "--set" && !overrides.is_empty() {
            let raws: Vec<&str> = overrides.iter().map(|o| o.raw.as_str()).collect();
            e.message = format!("{} (with --set {})", e.message, raws.join(", --set "));
        }
        e
    })
}

struct Ctx<'a> {
    file: &'a str,
    locator: &'a Locator<'a>,
    original: &'a Locator<'a>,
    overrides: &'a [Override],
}

impl Ctx<'_> {
    /// An error about `key`. It is attributed to a `--set` that set the key
    /// or a key inside it, or that created the table the key belongs to;
    /// otherwise to the file, at the key's line in the file as written.
    fn err(&self, key: &str, message: impl Into<String>) -> InputError {
        let under = |o: &Override| key == o.path || key.starts_with(&format!("{}.", o.path));
        let creates = |o: &Override| o.path.starts_with(&format!("{key}.")) && self.original.line_of(key).is_none();
        if let Some(o) = self.overrides.iter().find(|o| under(o) || creates(o)) {
            return InputError::new("--set", format!("`{}`: {}", o.raw, message.into())).at_key(key);
        }
        InputError::new(self.file, message).at_key(key).at_line(self.original.line_of(key))
    }

    /// Re-attributes an error located in the overridden text by its key.
    fn rekey(&self, e: InputError) -> InputError {
        match e.key.clone() {
            Some(key) if !self.overrides.is_empty() => {
                let mut out = self.err(&key, e.message);
                out.hint = e.hint;
                out
            }
            _ => e,
        }
    }

    fn toml(&self, e: &toml::de::Error) -> InputError {
        self.rekey(toml_error(self.file, e, self.locator))
    }
}

/// Converts a toml error into one that names the line and key.
pub fn toml_error(file: &str, e: &toml::de::Error, locator: &Locator) -> InputError {
    let message = e.message().trim().to_string();
    let mut err = InputError::new(file, message.clone());
    if let Some(span) = e.span() {
        let (line, col) = locator.line_col(span.start);
        err = err.at_line(Some(line));
        err.column = u32::try_from(col).ok();
        // A missing field belongs to the table whose span holds the error's
        // whole span; the error's start alone may fall inside a neighbour.
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        err.key = match missing {
            Some(field) => {
                let parent = locator.path_containing(span.clone());
                Some(if parent.is_empty() { field.to_string() } else { format!("{parent}.{field}") })
            }
            None => locator.path_at(span.start),
        };
    }
    if message.contains("unknown field") {
        err.hint = Some("check the spelling; docs/scenario-format.md lists every key".into());
    }
    err
}

/// Checks a duration in milliseconds against the largest a scenario may name.
fn duration_ms(ctx: &Ctx, key: &str, v: u64) -> Result<u64, InputError> {
    if v > MAX_DURATION_MS {
        return Err(ctx.err(key, format!("must be at most {MAX_DURATION_MS} ms (about 31 years), got {v}")));
    }
    Ok(v)
}

/// Checks a distribution against a ceiling on its mean and, for a uniform
/// one, its maximum.
fn bounded_dist(ctx: &Ctx, key: &str, d: &Dist, ceiling: f64, unit: &str) -> Result<(), InputError> {
    let top = match *d {
        Dist::Uniform { max, .. } => max,
        _ => d.mean(),
    };
    if top > ceiling {
        return Err(ctx.err(key, format!("must stay at or below {ceiling} {unit}, got {top}")));
    }
    Ok(())
}

fn time_dist(ctx: &Ctx, key: &str, d: &Dist) -> Result<(), InputError> {
    bounded_dist(ctx, key, d, MAX_DURATION_MS as f64, "ms")
}

fn probability(ctx: &Ctx, key: &str, p: f64) -> Result<f64, InputError> {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return Err(ctx.err(key, format!("must be a probability between 0 and 1, got {p}")));
    }
    Ok(p)
}

/// Resolves node selectors: node names, roles (`storage`, `clients`),
/// `servers` (every non-client), `all`, or `[[cluster.groups]]` names.
struct Selector<'a> {
    names: &'a [String],
    roles: &'a [String],
    groups: BTreeMap<String, Vec<NodeId>>,
}

impl Selector<'_> {
    fn resolve_one(&self, sel: &str) -> Option<Vec<NodeId>> {
        let all = || (0..self.names.len() as u32).map(NodeId);
        if let Some(i) = self.names.iter().position(|n| n == sel) {
            return Some(vec![NodeId(i as u32)]);
        }
        if let Some(g) = self.groups.get(sel) {
            return Some(g.clone());
        }
        match sel {
            "all" | "*" => return Some(all().collect()),
            "servers" => return Some(all().filter(|n| self.roles[n.index()] != "client").collect()),
            _ => {}
        }
        let singular = sel.strip_suffix('s').unwrap_or(sel);
        let by_role: Vec<NodeId> =
            all().filter(|n| self.roles[n.index()] == sel || self.roles[n.index()] == singular).collect();
        (!by_role.is_empty()).then_some(by_role)
    }

    fn resolve(&self, ctx: &Ctx, key: &str, sels: &[String]) -> Result<Vec<NodeId>, InputError> {
        let mut out = Vec::new();
        for (i, s) in sels.iter().enumerate() {
            let nodes = self.resolve_one(s).ok_or_else(|| {
                let mut roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
                roles.sort();
                roles.dedup();
                let sample: Vec<&str> = self.names.iter().take(6).map(String::as_str).collect();
                ctx.err(&format!("{key}[{i}]"), format!("no node, role or group is called `{s}`")).with_hint(format!(
                    "use a node name ({}{}), a role ({}), `servers`, `all`, or a [[cluster.groups]] name",
                    sample.join(", "),
                    if self.names.len() > 6 { ", ..." } else { "" },
                    roles.join(", ")
                ))
            })?;
            for n in nodes {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        if out.is_empty() {
            return Err(ctx.err(key, "selects no node").with_hint("name at least one node, role or group"));
        }
        Ok(out)
    }
}

fn build(ctx: &Ctx, f: ScenarioFile, text: &str) -> Result<Scenario, InputError> {
    let s = &f.scenario;
    if s.name.trim().is_empty() {
        return Err(ctx.err("scenario.name", "must not be empty"));
    }
    if s.duration_ms == 0 {
        return Err(ctx.err("scenario.duration_ms", "must be positive: it is how long the workload runs"));
    }
    duration_ms(ctx, "scenario.duration_ms", s.duration_ms)?;
    duration_ms(ctx, "scenario.quiesce_ms", s.quiesce_ms)?;
    duration_ms(ctx, "scenario.drain_ms", s.drain_ms)?;
    for (key, v) in [
        ("scenario.max_events", s.max_events),
        ("scenario.max_pending_events", s.max_pending_events),
        ("scenario.max_history_ops", s.max_history_ops),
    ] {
        if v == 0 {
            return Err(ctx.err(key, "must be positive"));
        }
    }
    if s.wall_clock_budget_ms == Some(0) {
        return Err(ctx.err("scenario.wall_clock_budget_ms", "must be positive; leave it out for no limit"));
    }
    let c = &f.cluster;
    let nodes = c.nodes.unwrap_or_else(|| drivers::info(&s.protocol).map_or(3, |i| i.default_nodes));
    if nodes == 0 || nodes > MAX_NODES {
        return Err(ctx.err("cluster.nodes", format!("must be between 1 and {MAX_NODES}, got {nodes}")));
    }
    if c.clients > MAX_NODES {
        return Err(ctx.err("cluster.clients", format!("must be at most {MAX_NODES}, got {}", c.clients)));
    }
    let (protocol, mut warnings) =
        Protocol::load(&s.protocol, ctx.file, text, ctx.locator, nodes).map_err(|e| ctx.rekey(e))?;
    let layout = protocol.layout(nodes, c.clients);
    let names: Vec<String> = layout.iter().map(|(n, _)| n.clone()).collect();
    let roles: Vec<String> = layout.iter().map(|(_, r)| r.clone()).collect();
    let n = names.len();

    let mut selector = Selector { names: &names, roles: &roles, groups: BTreeMap::new() };
    for (i, g) in c.groups.iter().enumerate() {
        let key = format!("cluster.groups[{i}]");
        if selector.resolve_one(&g.name).is_some() {
            return Err(ctx.err(&format!("{key}.name"), format!("`{}` is already a node, role or group name", g.name)));
        }
        let members = selector.resolve(ctx, &format!("{key}.nodes"), &g.nodes)?;
        selector.groups.insert(g.name.clone(), members);
    }

    let net = build_network(ctx, &f.network, &selector, n)?;
    let stop = SimTime::from_ms(s.duration_ms);
    // Pending operations get `drain_ms` after the workload stops; the quiet
    // period comes on top, so a run that drains late still quiesces fully.
    let deadline = stop.after(sim_core::ms(s.drain_ms)).after(sim_core::ms(s.quiesce_ms));
    let client_ids: Vec<NodeId> = (0..n as u32).map(NodeId).filter(|id| roles[id.index()] == "client").collect();
    let info = drivers::info(protocol.name()).expect("a loaded protocol is registered");
    let (workload, key_names, value_names) =
        build_workload(ctx, &f.workload, &selector, &client_ids, info, stop, &mut warnings)?;
    let faults = build_faults(ctx, &f.faults, &selector, &roles, stop, deadline, &mut warnings)?;
    for (i, e) in workload.script.iter().enumerate() {
        if e.at > deadline {
            warnings.push(format!(
                "workload.script[{i}] at {} ms is after the run's end ({} ms) and never runs",
                e.at.as_ms_f64(),
                deadline.as_ms_f64()
            ));
        }
    }
    let mut checks: Vec<String> = Vec::new();
    let default_checks: Vec<String> = info.default_checks.iter().map(|c| c.to_string()).collect();
    for (i, c) in s.checks.as_ref().unwrap_or(&default_checks).iter().enumerate() {
        if !CHECKS.contains(&c.as_str()) {
            return Err(ctx
                .err(&format!("scenario.checks[{i}]"), format!("unknown check `{c}`"))
                .with_hint(format!("checks: {}", CHECKS.join(", "))));
        }
        if checks.contains(c) {
            return Err(ctx.err(&format!("scenario.checks[{i}]"), format!("`{c}` is listed twice")));
        }
        checks.push(c.clone());
    }
    if s.check_time_budget_ms == 0 {
        return Err(ctx.err("scenario.check_time_budget_ms", "must be positive"));
    }
    duration_ms(ctx, "scenario.check_time_budget_ms", s.check_time_budget_ms)?;
    if s.check_memory_budget_bytes < 1 << 20 {
        return Err(ctx.err("scenario.check_memory_budget_bytes", "must be at least 1 MiB (1048576)"));
    }
    let expectations =
        expect::parse(&f.expect, &protocol.detail_metrics(), &checks, info.checks, |key, msg| ctx.err(key, msg))?;
    for (i, m) in s.compare_metrics.iter().enumerate() {
        if !expect::is_known(m, &protocol.detail_metrics(), info.checks) {
            return Err(ctx
                .err(&format!("scenario.compare_metrics[{i}]"), format!("unknown metric `{m}`"))
                .with_hint("use a metric [expect] knows, without _min/_max: see docs/scenario-format.md"));
        }
    }
    for (i, v) in f.variant.iter().enumerate() {
        let key = format!("variant[{i}]");
        if v.name.trim().is_empty() {
            return Err(ctx.err(&format!("{key}.name"), "must not be empty"));
        }
        if f.variant[..i].iter().any(|w| w.name == v.name) {
            return Err(ctx.err(&format!("{key}.name"), format!("`{}` names two variants", v.name)));
        }
        for (j, set) in v.set.iter().enumerate() {
            if let Err(e) = Override::parse(set) {
                return Err(ctx
                    .err(&format!("{key}.set[{j}]"), e.message)
                    .with_hint("write KEY=VALUE, as after --set"));
            }
            if set.trim_start().starts_with("variant") {
                return Err(ctx.err(&format!("{key}.set[{j}]"), "a variant cannot change the variants"));
            }
        }
    }

    Ok(Scenario {
        file: ctx.file.to_string(),
        text: text.to_string(),
        source: String::new(),
        overrides: ctx.overrides.to_vec(),
        swarm: Vec::new(),
        drawn: Vec::new(),
        variant_specs: f.variant.clone(),
        compare_metrics: s.compare_metrics.clone(),
        variant: None,
        variant_sets: 0..0,
        name: s.name.clone(),
        description: s.description.clone(),
        protocol,
        seed: s.seed,
        servers: nodes,
        clients: c.clients,
        names,
        roles,
        net,
        workload,
        faults,
        limits: Limits { quiesce_ns: sim_core::ms(s.quiesce_ms), deadline, max_events: s.max_events },
        resources: ResourceLimits { max_pending_events: s.max_pending_events, max_history_ops: s.max_history_ops },
        wall_clock_budget_ms: s.wall_clock_budget_ms,
        max_examples: s.max_examples,
        checks,
        check_time_budget_ms: s.check_time_budget_ms,
        check_memory_budget_bytes: s.check_memory_budget_bytes,
        expectations,
        warnings,
        key_names,
        value_names,
    })
}

fn build_network(ctx: &Ctx, w: &NetworkSection, sel: &Selector, n: usize) -> Result<NetConfig, InputError> {
    let mut net = NetConfig::simple(n, 0.0);
    time_dist(ctx, "network.latency_ms", &w.latency_ms)?;
    net.latency_ms = w.latency_ms.clone();
    net.loss = probability(ctx, "network.loss", w.loss)?;
    net.duplicate = probability(ctx, "network.duplicate", w.duplicate)?;
    if !w.jitter_ms.is_finite() || w.jitter_ms < 0.0 || w.jitter_ms > MAX_DURATION_MS as f64 {
        return Err(
            ctx.err("network.jitter_ms", format!("must be a number from 0 to {MAX_DURATION_MS}, got {}", w.jitter_ms))
        );
    }
    net.jitter_ms = w.jitter_ms;
    net.fifo = w.fifo;
    if let Some(bw) = w.bandwidth_bytes_per_s {
        if bw == 0 {
            return Err(
                ctx.err("network.bandwidth_bytes_per_s", "must be positive; leave it out for unlimited bandwidth")
            );
        }
        net.nics = vec![Nic { egress_bytes_per_s: Some(bw), ingress_bytes_per_s: Some(bw) }; n];
    }
    for (i, l) in w.links.iter().enumerate() {
        let key = format!("network.links[{i}]");
        let from = sel.resolve(ctx, &format!("{key}.from"), &l.from)?;
        let to = sel.resolve(ctx, &format!("{key}.to"), &l.to)?;
        time_dist(ctx, &format!("{key}.latency_ms"), &l.latency_ms)?;
        net.links.push(LinkRule {
            from: NodeSet::from_nodes(from),
            to: NodeSet::from_nodes(to),
            one_way: l.one_way,
            latency_ms: l.latency_ms.clone(),
        });
    }
    for (i, nic) in w.nics.iter().enumerate() {
        let key = format!("network.nics[{i}]");
        for (field, v) in
            [("egress_bytes_per_s", nic.egress_bytes_per_s), ("ingress_bytes_per_s", nic.ingress_bytes_per_s)]
        {
            if v == Some(0) {
                return Err(ctx.err(&format!("{key}.{field}"), "must be positive; leave it out for unlimited"));
            }
        }
        if nic.egress_bytes_per_s.is_none() && nic.ingress_bytes_per_s.is_none() {
            return Err(ctx.err(&key, "sets neither egress_bytes_per_s nor ingress_bytes_per_s"));
        }
        for node in sel.resolve(ctx, &format!("{key}.nodes"), &nic.nodes)? {
            let slot = &mut net.nics[node.index()];
            if nic.egress_bytes_per_s.is_some() {
                slot.egress_bytes_per_s = nic.egress_bytes_per_s;
            }
            if nic.ingress_bytes_per_s.is_some() {
                slot.ingress_bytes_per_s = nic.ingress_bytes_per_s;
            }
        }
    }
    Ok(net)
}

type WorkloadParts = (WorkloadConfig, BTreeMap<u64, String>, BTreeMap<u64, String>);

fn build_workload(
    ctx: &Ctx,
    w: &WorkloadSection,
    sel: &Selector,
    clients: &[NodeId],
    info: &drivers::ProtocolInfo,
    stop: SimTime,
    warnings: &mut Vec<String>,
) -> Result<WorkloadParts, InputError> {
    let supported = info.ops;
    let only = |key: &str, present: bool, mode: &str| -> Result<(), InputError> {
        if present {
            Err(ctx
                .err(key, format!("only applies to {mode}"))
                .with_hint("remove it, or change the mode it belongs to"))
        } else {
            Ok(())
        }
    };
    time_dist(ctx, "workload.think_time_ms", &w.think_time_ms)?;
    bounded_dist(ctx, "workload.value_size_bytes", &w.value_size_bytes, MAX_VALUE_SIZE_BYTES as f64, "bytes")?;
    duration_ms(ctx, "workload.start_ms", w.start_ms)?;
    let arrivals = match w.mode {
        ModeName::Closed => {
            only("workload.rate_per_s", w.rate_per_s.is_some(), "mode = \"open\"")?;
            Arrivals::Closed { think_time_ms: w.think_time_ms.clone() }
        }
        ModeName::Open => {
            let rate = w.rate_per_s.ok_or_else(|| ctx.err("workload", "mode = \"open\" needs `rate_per_s`"))?;
            if !rate.is_finite() || rate <= 0.0 || rate > 1e9 {
                return Err(ctx.err("workload.rate_per_s", format!("must be a number in (0, 1e9], got {rate}")));
            }
            Arrivals::Open { rate_per_s: rate }
        }
        ModeName::Script => {
            only("workload.rate_per_s", w.rate_per_s.is_some(), "mode = \"open\"")?;
            if w.script.is_empty() {
                return Err(ctx.err("workload.mode", "mode = \"script\" needs [[workload.script]] entries"));
            }
            Arrivals::ScriptOnly
        }
    };
    // Checked in every mode: scripted keys get ids from `keys` up.
    if w.keys == 0 || w.keys > MAX_KEYS {
        return Err(ctx.err("workload.keys", format!("must be between 1 and {MAX_KEYS}, got {}", w.keys)));
    }
    if w.mode != ModeName::Script && clients.is_empty() {
        warnings.push("cluster.clients = 0: the workload issues no operations".into());
    }
    let is = |d: KeyDistName| w.key_distribution == d;
    only(
        "workload.zipf_exponent",
        w.zipf_exponent.is_some() && !is(KeyDistName::Zipfian),
        "key_distribution = \"zipfian\"",
    )?;
    only(
        "workload.hot_fraction",
        w.hot_fraction.is_some() && !is(KeyDistName::Hotspot),
        "key_distribution = \"hotspot\"",
    )?;
    only(
        "workload.hot_probability",
        w.hot_probability.is_some() && !is(KeyDistName::Hotspot),
        "key_distribution = \"hotspot\"",
    )?;
    let key_dist = match w.key_distribution {
        KeyDistName::Uniform => KeyDist::Uniform,
        KeyDistName::Zipfian => {
            let e = w.zipf_exponent.unwrap_or(0.99);
            if !e.is_finite() || e <= 0.0 || e > 10.0 {
                return Err(ctx.err("workload.zipf_exponent", format!("must be in (0, 10], got {e}")));
            }
            if w.keys > 10_000_000 {
                return Err(ctx.err("workload.keys", "a zipfian key space is limited to 10,000,000 keys"));
            }
            KeyDist::Zipf { exponent: e }
        }
        KeyDistName::Hotspot => {
            let fr = w.hot_fraction.unwrap_or(0.2);
            let p = w.hot_probability.unwrap_or(0.8);
            if !(fr > 0.0 && fr <= 1.0) {
                return Err(ctx.err("workload.hot_fraction", format!("must be in (0, 1], got {fr}")));
            }
            KeyDist::Hotspot { hot_fraction: fr, hot_probability: probability(ctx, "workload.hot_probability", p)? }
        }
    };
    let mix: Vec<(OpKind, f64)> = match &w.mix {
        // Sessions open and close files themselves, and a remove would end
        // the file under the session: scripts name removes explicitly.
        None => supported
            .iter()
            .filter(|k| !(info.sessions && matches!(k, OpKind::Open | OpKind::Close | OpKind::Remove)))
            .map(|k| (*k, 1.0))
            .collect(),
        Some(m) => {
            let mut out = Vec::new();
            for (name, weight) in m {
                let key = format!("workload.mix.{name}");
                let kind = OpKind::from_name(name).filter(|k| supported.contains(k)).ok_or_else(|| {
                    let ok: Vec<&str> = supported.iter().map(|k| k.name()).collect();
                    ctx.err(&key, format!("this protocol has no operation `{name}`"))
                        .with_hint(format!("use {}", ok.join(", ")))
                })?;
                if !weight.is_finite() || *weight < 0.0 {
                    return Err(ctx.err(&key, format!("weights must be finite numbers >= 0, got {weight}")));
                }
                out.push((kind, *weight));
            }
            if out.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
                return Err(
                    ctx.err("workload.mix", "the weights sum to zero: give at least one operation a positive weight")
                );
            }
            out
        }
    };
    // Settings of transactional and file workloads, where they apply.
    let serves = |kinds: &[OpKind]| kinds.iter().any(|k| supported.contains(k));
    let not_served = |key: &str, what: &str| -> InputError {
        ctx.err(key, format!("this protocol has no {what}")).with_hint("remove it")
    };
    if w.keys_per_op.is_some() && !serves(&[OpKind::MultiPut, OpKind::MultiGet]) {
        return Err(not_served("workload.keys_per_op", "multi-key operations"));
    }
    let keys_per_op = w.keys_per_op.unwrap_or(2);
    if !(2..=sim_core::MAX_KEYS_PER_OP).contains(&keys_per_op) {
        return Err(ctx.err(
            "workload.keys_per_op",
            format!("must be between 2 and {}, got {keys_per_op}", sim_core::MAX_KEYS_PER_OP),
        ));
    }
    if serves(&[OpKind::MultiPut, OpKind::MultiGet, OpKind::Transfer]) && w.keys < 2 {
        return Err(ctx.err("workload.keys", "transactions name two different keys: use at least 2"));
    }
    if w.transfer_amount.is_some() && !serves(&[OpKind::Transfer]) {
        return Err(not_served("workload.transfer_amount", "transfers"));
    }
    let transfer_amount = w.transfer_amount.clone().unwrap_or(Dist::constant(10.0));
    bounded_dist(ctx, "workload.transfer_amount", &transfer_amount, 1e12, "units")?;
    for (key, present) in [
        ("workload.blocks_per_file", w.blocks_per_file.is_some()),
        ("workload.ops_per_session", w.ops_per_session.is_some()),
    ] {
        if present && !info.sessions {
            return Err(not_served(key, "file sessions"));
        }
    }
    let blocks_per_file = w.blocks_per_file.unwrap_or(4);
    if !(1..=1 << 20).contains(&blocks_per_file) {
        return Err(
            ctx.err("workload.blocks_per_file", format!("must be between 1 and 1048576, got {blocks_per_file}"))
        );
    }
    let sessions = match &w.ops_per_session {
        Some(d) => {
            bounded_dist(ctx, "workload.ops_per_session", d, 1e6, "operations")?;
            Some(Sessions { ops_per_session: d.clone() })
        }
        None => info.sessions.then(|| Sessions { ops_per_session: Dist::constant(4.0) }),
    };
    if sessions.is_some() && mix.iter().any(|(k, w)| matches!(k, OpKind::Open | OpKind::Close) && *w > 0.0) {
        return Err(ctx
            .err("workload.mix", "sessions open and close files themselves: the mix weighs what happens in between")
            .with_hint("remove `open` and `close` from workload.mix"));
    }
    // A remove drawn between a session's open and close would unlink the
    // file under its own session; removes are scripted, where their place
    // in the story is chosen.
    if sessions.is_some() && mix.iter().any(|(k, _)| *k == OpKind::Remove) {
        return Err(ctx
            .err(
                "workload.mix.remove",
                "sessions draw operations between an open and a close of one file, and a remove there would unlink \
                 the file under its own session",
            )
            .with_hint("remove `remove` from workload.mix and script removes in workload.script"));
    }
    if w.ops_per_client == Some(0) {
        return Err(ctx.err("workload.ops_per_client", "must be positive; leave it out for no limit"));
    }
    if w.total_ops == Some(0) {
        return Err(ctx.err("workload.total_ops", "must be positive; leave it out for no limit"));
    }
    if w.start_ms >= stop.as_nanos() / sim_core::time::NANOS_PER_MS {
        return Err(ctx.err("workload.start_ms", "must be before scenario.duration_ms"));
    }

    // Scripted operations: named keys and values get ids of their own.
    let mut key_names = BTreeMap::new();
    let mut key_ids: BTreeMap<String, u64> = BTreeMap::new();
    let mut value_names = BTreeMap::new();
    let mut script = Vec::new();
    let default_size = w.value_size_bytes.mean().round() as u64;
    for (i, e) in w.script.iter().enumerate() {
        let key = format!("workload.script[{i}]");
        duration_ms(ctx, &format!("{key}.at_ms"), e.at_ms)?;
        if e.size_bytes.is_some_and(|b| b > MAX_VALUE_SIZE_BYTES) {
            return Err(
                ctx.err(&format!("{key}.size_bytes"), format!("must be at most {MAX_VALUE_SIZE_BYTES} (1 TiB)"))
            );
        }
        let client = sel.resolve(ctx, &format!("{key}.client"), std::slice::from_ref(&e.client))?;
        let [client] = client[..] else {
            return Err(ctx.err(&format!("{key}.client"), "must name exactly one client node"));
        };
        if !clients.contains(&client) {
            return Err(ctx
                .err(&format!("{key}.client"), format!("`{}` is not a client", e.client))
                .with_hint("scripted operations run on client nodes (c1, c2, ...)"));
        }
        let kind = OpKind::from_name(&e.op).filter(|k| supported.contains(k)).ok_or_else(|| {
            let ok: Vec<&str> = supported.iter().map(|k| k.name()).collect();
            ctx.err(&format!("{key}.op"), format!("this protocol has no operation `{}`", e.op))
                .with_hint(format!("use {}", ok.join(", ")))
        })?;
        let mut key_of = |name: &str| -> Key {
            let generated = name
                .strip_prefix('k')
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| *n < w.keys && w.mode != ModeName::Script);
            let next_id = w.keys + key_ids.len() as u64;
            let id = generated.unwrap_or_else(|| *key_ids.entry(name.to_string()).or_insert(next_id));
            key_names.insert(id, name.to_string());
            id
        };
        let takes_none = |field: &str, present: bool| -> Result<(), InputError> {
            if present {
                Err(ctx.err(&format!("{key}.{field}"), format!("a {} takes no `{field}`", kind.name())))
            } else {
                Ok(())
            }
        };
        takes_none("keys", e.keys.is_some() && !kind.is_multi_key())?;
        takes_none("to", e.to.is_some() && kind != OpKind::Transfer)?;
        takes_none("amount", e.amount.is_some() && kind != OpKind::Transfer)?;
        takes_none("block", e.block.is_some() && !kind.names_block())?;
        takes_none("value", e.value.is_some() && !kind.carries_value())?;
        takes_none("size_bytes", e.size_bytes.is_some() && !kind.carries_value())?;
        let value = kind.carries_value().then(|| {
            let id = script.len() as u64 + 1;
            value_names.insert(id, e.value.clone().unwrap_or_else(|| format!("v{id}")));
            Value { id, size_bytes: e.size_bytes.unwrap_or(default_size) }
        });
        let op = if kind.is_multi_key() {
            takes_none("key", e.key.is_some())?;
            let names = e.keys.as_deref().unwrap_or_default();
            if !(1..=sim_core::MAX_KEYS_PER_OP).contains(&names.len()) {
                return Err(ctx
                    .err(
                        &format!("{key}.keys"),
                        format!("a {} names 1 to {} keys", kind.name(), sim_core::MAX_KEYS_PER_OP),
                    )
                    .with_hint("e.g. keys = [\"a\", \"b\"]"));
            }
            let ids: Vec<Key> = names.iter().map(|n| key_of(n)).collect();
            if (1..ids.len()).any(|i| ids[..i].contains(&ids[i])) {
                return Err(ctx.err(&format!("{key}.keys"), "names a key twice"));
            }
            Op::multi(kind, &ids, value)
        } else if kind == OpKind::Audit {
            takes_none("key", e.key.is_some())?;
            Op::on(kind, 0)
        } else {
            let name = e
                .key
                .as_deref()
                .ok_or_else(|| ctx.err(&key, format!("a {} needs `key`", kind.name())).with_hint("e.g. key = \"a\""))?;
            let mut op = Op::on(kind, key_of(name));
            op.value = value;
            if kind == OpKind::Transfer {
                let to =
                    e.to.as_deref().ok_or_else(|| ctx.err(&key, "a transfer needs `to` (the account credited)"))?;
                let to = key_of(to);
                if to == op.key {
                    return Err(ctx.err(&format!("{key}.to"), "a transfer moves money between two different accounts"));
                }
                let amount = e.amount.ok_or_else(|| ctx.err(&key, "a transfer needs `amount`"))?;
                if amount == 0 || amount > 1_000_000_000_000 {
                    return Err(ctx.err(&format!("{key}.amount"), format!("must be between 1 and 1e12, got {amount}")));
                }
                op.arg = OpArg::Transfer { to, amount };
            }
            if kind.names_block() {
                let block = e.block.ok_or_else(|| ctx.err(&key, format!("a {} needs `block`", kind.name())))?;
                if block >= blocks_per_file {
                    return Err(ctx.err(
                        &format!("{key}.block"),
                        format!("must be below workload.blocks_per_file ({blocks_per_file})"),
                    ));
                }
                op.arg = OpArg::Block(block);
            }
            op
        };
        script.push(ScriptedOp { at: SimTime::from_ms(e.at_ms), client, op });
    }
    let mut cfg = WorkloadConfig {
        clients: if w.mode == ModeName::Script { Vec::new() } else { clients.to_vec() },
        arrivals,
        keys: w.keys,
        key_dist,
        mix,
        value_size_bytes: w.value_size_bytes.clone(),
        ops_per_client: w.ops_per_client,
        total_ops: w.total_ops,
        start: SimTime::from_ms(w.start_ms),
        stop,
        script,
        keys_per_op,
        transfer_amount,
        blocks_per_file,
        sessions,
    };
    // Scripted clients must be known to the engine as clients.
    for s in &cfg.script {
        if !cfg.clients.contains(&s.client) {
            cfg.clients.push(s.client);
        }
    }
    if w.mode == ModeName::Script {
        cfg.clients.sort();
    }
    Ok((cfg, key_names, value_names))
}

fn build_faults(
    ctx: &Ctx,
    fs: &FaultsSection,
    sel: &Selector,
    roles: &[String],
    stop: SimTime,
    deadline: SimTime,
    warnings: &mut Vec<String>,
) -> Result<FaultPlan, InputError> {
    let mut plan = FaultPlan { final_heal: fs.final_heal, ..FaultPlan::default() };
    for (i, f) in fs.schedule.iter().enumerate() {
        let key = format!("faults.schedule[{i}]");
        let field = |name: &str| format!("{key}.{name}");
        let allowed: &[&str] = match f.action {
            ActionName::Partition => &["groups"],
            ActionName::Cut => &["from", "to"],
            ActionName::Heal => &[],
            ActionName::Crash | ActionName::Restart | ActionName::Pause | ActionName::Resume => &["nodes"],
            ActionName::SetLoss | ActionName::SetDuplicate => &["value"],
            ActionName::SetLatency => &["latency_ms"],
        };
        let present = [
            ("groups", f.groups.is_some()),
            ("from", f.from.is_some()),
            ("to", f.to.is_some()),
            ("nodes", f.nodes.is_some()),
            ("value", f.value.is_some()),
            ("latency_ms", f.latency_ms.is_some()),
        ];
        for (name, is) in present {
            if is && !allowed.contains(&name) {
                return Err(ctx.err(&field(name), "does not apply to this action").with_hint(if allowed.is_empty() {
                    "this action takes no arguments".to_string()
                } else {
                    format!("this action takes {}", allowed.join(", "))
                }));
            }
            if !is && allowed.contains(&name) {
                return Err(ctx.err(&key, format!("this action needs `{name}`")));
            }
        }
        let at = SimTime::from_ms(duration_ms(ctx, &field("at_ms"), f.at_ms)?);
        if at > deadline {
            warnings.push(format!(
                "{key} at {} ms is after the run's end ({} ms) and never happens",
                f.at_ms,
                deadline.as_ms_f64()
            ));
        }
        let mut push = |action| plan.schedule.push(TimedFault { at, action });
        match f.action {
            ActionName::Partition => {
                let groups = f.groups.as_ref().expect("checked above");
                if groups.is_empty() {
                    return Err(ctx
                        .err(&field("groups"), "needs at least one group")
                        .with_hint("e.g. groups = [[\"s1\", \"s2\"], [\"s3\"]]"));
                }
                let mut resolved: Vec<Vec<NodeId>> = Vec::new();
                let mut seen = NodeSet::new();
                for (g, group) in groups.iter().enumerate() {
                    let nodes = sel.resolve(ctx, &format!("{key}.groups[{g}]"), group)?;
                    if let Some(dup) = nodes.iter().find(|n| seen.contains(**n)) {
                        return Err(ctx.err(
                            &format!("{key}.groups[{g}]"),
                            format!("node `{}` is in two groups", sel.names[dup.index()]),
                        ));
                    }
                    nodes.iter().for_each(|n| seen.insert(*n));
                    resolved.push(nodes);
                }
                push(FaultAction::Partition(resolved));
            }
            ActionName::Cut => {
                let from = sel.resolve(ctx, &field("from"), f.from.as_ref().expect("checked above"))?;
                let to = sel.resolve(ctx, &field("to"), f.to.as_ref().expect("checked above"))?;
                push(FaultAction::Cut { from: NodeSet::from_nodes(from), to: NodeSet::from_nodes(to) });
            }
            ActionName::Heal => push(FaultAction::Heal),
            ActionName::Crash | ActionName::Restart | ActionName::Pause | ActionName::Resume => {
                for node in sel.resolve(ctx, &field("nodes"), f.nodes.as_ref().expect("checked above"))? {
                    push(match f.action {
                        ActionName::Crash => FaultAction::Crash(node),
                        ActionName::Restart => FaultAction::Restart(node),
                        ActionName::Pause => FaultAction::Pause(node),
                        _ => FaultAction::Resume(node),
                    });
                }
            }
            ActionName::SetLoss | ActionName::SetDuplicate => {
                let p = probability(ctx, &field("value"), f.value.expect("checked above"))?;
                push(if f.action == ActionName::SetLoss {
                    FaultAction::SetLoss(p)
                } else {
                    FaultAction::SetDuplicate(p)
                });
            }
            ActionName::SetLatency => {
                let d = f.latency_ms.clone().expect("checked above");
                time_dist(ctx, &field("latency_ms"), &d)?;
                push(FaultAction::SetLatency(d));
            }
        }
    }
    for (i, nm) in fs.nemesis.iter().enumerate() {
        let key = format!("faults.nemesis[{i}]");
        let targets = match &nm.targets {
            Some(t) => sel.resolve(ctx, &format!("{key}.targets"), t)?,
            None => (0..roles.len() as u32).map(NodeId).filter(|n| roles[n.index()] != "client").collect(),
        };
        let kind = match nm.kind {
            NemesisKindName::Partition => NemesisKind::Partition,
            NemesisKindName::Isolate => NemesisKind::Isolate,
            NemesisKindName::Crash => NemesisKind::Crash,
            NemesisKindName::Pause => NemesisKind::Pause,
        };
        if kind == NemesisKind::Partition && targets.len() < 2 {
            return Err(ctx.err(&format!("{key}.targets"), "a partition nemesis needs at least two targets"));
        }
        time_dist(ctx, &format!("{key}.interval_ms"), &nm.interval_ms)?;
        time_dist(ctx, &format!("{key}.duration_ms"), &nm.duration_ms)?;
        duration_ms(ctx, &format!("{key}.start_ms"), nm.start_ms)?;
        if let Some(stop) = nm.stop_ms {
            duration_ms(ctx, &format!("{key}.stop_ms"), stop)?;
        }
        if nm.interval_ms.mean() < 1.0 {
            return Err(ctx.err(
                &format!("{key}.interval_ms"),
                "must average at least 1 ms, or the nemesis would never stop striking",
            ));
        }
        let stop_at = nm.stop_ms.map(SimTime::from_ms).unwrap_or(stop);
        if nm.start_ms >= stop_at.as_nanos() / sim_core::time::NANOS_PER_MS {
            return Err(ctx.err(&format!("{key}.start_ms"), "must be before stop_ms (default: scenario.duration_ms)"));
        }
        plan.nemeses.push(Nemesis {
            kind,
            targets,
            interval_ms: nm.interval_ms.clone(),
            duration_ms: nm.duration_ms.clone(),
            start: SimTime::from_ms(nm.start_ms),
            stop: stop_at,
        });
    }
    Ok(plan)
}
