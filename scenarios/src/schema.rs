//! The scenario file format, as serde structs. Every table rejects unknown
//! keys, so a typo is an error that names the key, never a silent default.
//! `docs/scenario-format.md` describes every key; keep the two in step.

use serde::Deserialize;
use sim_core::Dist;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: ScenarioSection,
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub faults: FaultsSection,
    #[serde(default)]
    pub workload: WorkloadSection,
    /// Protocol parameters; parsed by the protocol's own schema.
    #[serde(default)]
    pub params: Option<toml::Table>,
    /// Expectations; keys are interpreted by `expect.rs`.
    #[serde(default)]
    pub expect: BTreeMap<String, toml::Value>,
    /// Variants to compare side by side on the same workload, faults and seed.
    #[serde(default)]
    pub variant: Vec<VariantSpec>,
}

/// One `[[variant]]`: the scenario with some keys overridden.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// A short label for tables and `--variant`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Overrides in `--set` syntax, e.g. `["params.r=1", "params.w=1"]`.
    #[serde(default)]
    pub set: Vec<String>,
    /// Expectations of this variant only, on top of the scenario's `[expect]`.
    #[serde(default)]
    pub expect: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub protocol: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long the workload issues operations.
    pub duration_ms: u64,
    /// After the workload is done and nothing is pending, keep running this long.
    #[serde(default)]
    pub quiesce_ms: u64,
    /// After `duration_ms`, wait at most this long for pending operations.
    #[serde(default = "default_drain_ms")]
    pub drain_ms: u64,
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    /// Most events pending at once (messages in flight, timers).
    #[serde(default = "default_max_pending_events")]
    pub max_pending_events: u64,
    /// Most operations the history may hold.
    #[serde(default = "default_max_history_ops")]
    pub max_history_ops: u64,
    /// Wall-clock time a run may take; absent = no limit.
    pub wall_clock_budget_ms: Option<u64>,
    /// How many example violations each check lists.
    #[serde(default = "default_max_examples")]
    pub max_examples: usize,
    /// Which generic checks run after the simulation; absent = the
    /// protocol's defaults.
    pub checks: Option<Vec<String>>,
    /// Wall-clock budget of each model-based check (linearizable, sequential).
    #[serde(default = "default_check_time_budget_ms")]
    pub check_time_budget_ms: u64,
    /// Memory budget of each model-based check's search.
    #[serde(default = "default_check_memory_budget_bytes")]
    pub check_memory_budget_bytes: u64,
    /// Metrics (as `[expect]` names them) that comparisons add as columns.
    #[serde(default)]
    pub compare_metrics: Vec<String>,
}

fn default_check_time_budget_ms() -> u64 {
    10_000
}
fn default_check_memory_budget_bytes() -> u64 {
    1 << 30
}

fn default_seed() -> u64 {
    1
}
fn default_drain_ms() -> u64 {
    10_000
}
fn default_max_events() -> u64 {
    100_000_000
}
fn default_max_pending_events() -> u64 {
    10_000_000
}
fn default_max_history_ops() -> u64 {
    10_000_000
}
fn default_max_examples() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Server nodes (their role depends on the protocol); absent = the
    /// protocol's default (`ProtocolInfo::default_nodes`).
    pub nodes: Option<usize>,
    #[serde(default = "default_clients")]
    pub clients: usize,
    /// Named groups of nodes, usable wherever nodes are selected.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection { nodes: None, clients: default_clients(), groups: Vec::new() }
    }
}

fn default_clients() -> usize {
    2
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub nodes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    #[serde(default = "default_latency")]
    pub latency_ms: Dist,
    #[serde(default)]
    pub jitter_ms: f64,
    #[serde(default)]
    pub loss: f64,
    #[serde(default)]
    pub duplicate: f64,
    #[serde(default)]
    pub fifo: bool,
    /// Default NIC bandwidth of every node, both directions; absent = unlimited.
    pub bandwidth_bytes_per_s: Option<u64>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default)]
    pub nics: Vec<NicSpec>,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            latency_ms: default_latency(),
            jitter_ms: 0.0,
            loss: 0.0,
            duplicate: 0.0,
            fifo: false,
            bandwidth_bytes_per_s: None,
            links: Vec::new(),
            nics: Vec::new(),
        }
    }
}

fn default_latency() -> Dist {
    Dist::constant(1.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub latency_ms: Dist,
    #[serde(default)]
    pub one_way: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicSpec {
    pub nodes: Vec<String>,
    pub egress_bytes_per_s: Option<u64>,
    pub ingress_bytes_per_s: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    #[serde(default = "default_true")]
    pub final_heal: bool,
    #[serde(default)]
    pub schedule: Vec<ScheduledFault>,
    #[serde(default)]
    pub nemesis: Vec<NemesisSpec>,
}

impl Default for FaultsSection {
    fn default() -> Self {
        FaultsSection { final_heal: true, schedule: Vec::new(), nemesis: Vec::new() }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Partition,
    Cut,
    Heal,
    Crash,
    Restart,
    Pause,
    Resume,
    SetLoss,
    SetDuplicate,
    SetLatency,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    pub at_ms: u64,
    pub action: ActionName,
    /// partition: groups of node selectors.
    pub groups: Option<Vec<Vec<String>>>,
    /// cut: one-way from -> to.
    pub from: Option<Vec<String>>,
    pub to: Option<Vec<String>>,
    /// crash / restart / pause / resume: node selectors.
    pub nodes: Option<Vec<String>>,
    /// set_loss / set_duplicate: the new probability.
    pub value: Option<f64>,
    /// set_latency: the new default latency.
    pub latency_ms: Option<Dist>,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NemesisKindName {
    Partition,
    Isolate,
    Crash,
    Pause,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    pub kind: NemesisKindName,
    /// Node selectors; default: every node that is not a client.
    pub targets: Option<Vec<String>>,
    pub interval_ms: Dist,
    pub duration_ms: Dist,
    #[serde(default)]
    pub start_ms: u64,
    /// Default: the scenario's duration.
    pub stop_ms: Option<u64>,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModeName {
    #[default]
    Closed,
    Open,
    Script,
}

#[derive(Copy, Clone, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum KeyDistName {
    #[default]
    Uniform,
    Zipfian,
    Hotspot,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    #[serde(default)]
    pub mode: ModeName,
    #[serde(default = "default_think")]
    pub think_time_ms: Dist,
    pub rate_per_s: Option<f64>,
    #[serde(default = "default_keys")]
    pub keys: u64,
    #[serde(default)]
    pub key_distribution: KeyDistName,
    pub zipf_exponent: Option<f64>,
    pub hot_fraction: Option<f64>,
    pub hot_probability: Option<f64>,
    /// Relative weights per operation, e.g. `{ get = 0.9, put = 0.1 }`.
    pub mix: Option<BTreeMap<String, f64>>,
    #[serde(default = "default_value_size")]
    pub value_size_bytes: Dist,
    pub ops_per_client: Option<u64>,
    pub total_ops: Option<u64>,
    #[serde(default)]
    pub start_ms: u64,
    #[serde(default)]
    pub script: Vec<ScriptEntry>,
    /// Keys per multi-key transaction (multi_put, multi_get).
    pub keys_per_op: Option<usize>,
    /// Amount moved by each transfer.
    pub transfer_amount: Option<Dist>,
    /// Blocks per file (file protocols).
    pub blocks_per_file: Option<u32>,
    /// Operations between a file session's open and close (file protocols).
    pub ops_per_session: Option<Dist>,
}

impl Default for WorkloadSection {
    fn default() -> Self {
        WorkloadSection {
            mode: ModeName::Closed,
            think_time_ms: default_think(),
            rate_per_s: None,
            keys: default_keys(),
            key_distribution: KeyDistName::Uniform,
            zipf_exponent: None,
            hot_fraction: None,
            hot_probability: None,
            mix: None,
            value_size_bytes: default_value_size(),
            ops_per_client: None,
            total_ops: None,
            start_ms: 0,
            script: Vec::new(),
            keys_per_op: None,
            transfer_amount: None,
            blocks_per_file: None,
            ops_per_session: None,
        }
    }
}

fn default_think() -> Dist {
    Dist::constant(0.0)
}
fn default_keys() -> u64 {
    100
}
fn default_value_size() -> Dist {
    Dist::constant(100.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptEntry {
    pub at_ms: u64,
    pub client: String,
    pub op: String,
    /// The key, account or file; multi-key operations use `keys`, audits neither.
    pub key: Option<String>,
    /// The keys of a multi_put or multi_get.
    pub keys: Option<Vec<String>>,
    /// A transfer's destination account.
    pub to: Option<String>,
    /// A transfer's amount.
    pub amount: Option<u64>,
    /// A block read's or write's block number.
    pub block: Option<u32>,
    /// For puts: a name for the written value (shown in reports).
    pub value: Option<String>,
    /// For puts: the value's size; default: the mean of `value_size_bytes`.
    pub size_bytes: Option<u64>,
}

/// Reads only `[params]` from a scenario, with the protocol's own schema,
/// so its errors carry spans in the original text.
#[derive(Debug, Deserialize)]
pub struct ParamsOnly<P> {
    pub params: Option<P>,
}
