//! The protocols dsim can run, and the glue between a scenario and each
//! protocol module: its parameters, its nodes, its report details.
//! Adding a protocol means one `Protocol` variant and one arm per function.

use crate::error::InputError;
use crate::locate::Locator;
use crate::schema::ParamsOnly;
use protocols::{chord, directory_kv, file_caching, primary_backup, quorum, two_phase_commit};
use serde::de::DeserializeOwned;
use sim_core::{NodeSpec, OpKind};

/// Static description of a protocol, for `dsim list` and validation.
pub struct ProtocolInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// What `cluster.nodes` counts for this protocol.
    pub nodes_are: &'static str,
    pub ops: &'static [OpKind],
    /// (name, default, description)
    pub params: &'static [(&'static str, &'static str, &'static str)],
    /// The generic checks (`reports::report::CHECKS`) a scenario runs when
    /// it names none.
    pub default_checks: &'static [&'static str],
    /// The protocol's own checks, which always run; `[expect]` names them.
    pub checks: &'static [&'static str],
    /// Whether generated operations come as file sessions (open, ops, close).
    pub sessions: bool,
    /// `cluster.nodes` when a scenario does not say.
    pub default_nodes: usize,
}

/// The generic checks key-value protocols run by default.
const KV_CHECKS: &[&str] = &reports::report::DEFAULT_CHECKS;

pub const PROTOCOLS: &[ProtocolInfo] = &[
    ProtocolInfo {
        name: "directory_kv",
        summary: directory_kv::SUMMARY,
        nodes_are: "storage nodes (plus one directory, `dir`)",
        ops: directory_kv::OPS,
        params: directory_kv::PARAM_DOCS,
        default_checks: KV_CHECKS,
        checks: &[],
        default_nodes: 3,
        sessions: false,
    },
    ProtocolInfo {
        name: "quorum",
        summary: quorum::SUMMARY,
        nodes_are: "servers `n1`..`nN` (role `storage`): replicas and coordinators",
        ops: quorum::OPS,
        params: quorum::PARAM_DOCS,
        default_checks: KV_CHECKS,
        checks: &[],
        default_nodes: 3,
        sessions: false,
    },
    ProtocolInfo {
        name: "chord",
        summary: chord::SUMMARY,
        nodes_are: "initial ring members `n1`..`nN` (role `chord`; `params.spare_nodes` more join later)",
        ops: chord::OPS,
        params: chord::PARAM_DOCS,
        default_checks: KV_CHECKS,
        checks: &[],
        default_nodes: 3,
        sessions: false,
    },
    ProtocolInfo {
        name: "primary_backup",
        summary: primary_backup::SUMMARY,
        nodes_are: "replica servers `s1`..`sN` (role `server`; plus the view server `vs`, role `viewserver`)",
        ops: primary_backup::OPS,
        params: primary_backup::PARAM_DOCS,
        default_checks: KV_CHECKS,
        checks: primary_backup::CHECKS,
        default_nodes: 3,
        sessions: false,
    },
    ProtocolInfo {
        name: "two_phase_commit",
        summary: two_phase_commit::SUMMARY,
        nodes_are: "participants `p1`..`pN` (role `participant`; coordinators `tc1`.. have role `coordinator`)",
        ops: two_phase_commit::OPS,
        params: two_phase_commit::PARAM_DOCS,
        // Per key, strict two-phase locking makes reads and writes
        // linearizable; transfers and audits are judged by the protocol's
        // own checks.
        default_checks: &["linearizable"],
        checks: two_phase_commit::CHECKS,
        default_nodes: 3,
        sessions: false,
    },
    ProtocolInfo {
        name: "file_caching",
        summary: file_caching::SUMMARY,
        nodes_are: "the file server `fs` (role `fileserver`): must be 1; clients `c1`..`cN` are client machines",
        ops: file_caching::OPS,
        params: file_caching::PARAM_DOCS,
        // Generic key-value checks do not apply to blocks of files: the
        // protocol's own checks judge them.
        default_checks: &[],
        checks: file_caching::CHECKS,
        default_nodes: 1,
        sessions: true,
    },
];

pub fn info(name: &str) -> Option<&'static ProtocolInfo> {
    PROTOCOLS.iter().find(|p| p.name == name)
}

/// Builds the protocol's nodes and evaluates `$body` with them bound to
/// `$nodes`: one place that knows every protocol's `build`, for code that
/// is generic over the node type (layouts, replays). `$workload` is an
/// `Option<&WorkloadConfig>`: protocols whose nodes hold the key space
/// (two-phase commit's accounts) need it to run, not to name their nodes.
#[macro_export]
macro_rules! with_nodes {
    ($protocol:expr, $servers:expr, $clients:expr, $workload:expr, $nodes:ident => $body:expr) => {{
        use protocols::{chord, directory_kv, file_caching, primary_backup, quorum, two_phase_commit};
        use $crate::drivers::Protocol;
        match $protocol {
            Protocol::DirectoryKv(p) => {
                let $nodes = directory_kv::build(p, $servers, $clients);
                $body
            }
            Protocol::Quorum(p) => {
                let $nodes = quorum::build(p, $servers, $clients);
                $body
            }
            Protocol::Chord(p) => {
                let $nodes = chord::build(p, $servers, $clients);
                $body
            }
            Protocol::PrimaryBackup(p) => {
                let $nodes = primary_backup::build(p, $servers, $clients);
                $body
            }
            Protocol::TwoPhaseCommit(p) => {
                let accounts = $workload.map_or(0, two_phase_commit::accounts);
                let $nodes = two_phase_commit::build(p, $servers, $clients, accounts);
                $body
            }
            Protocol::FileCaching(p) => {
                let blocks_per_file = $workload.map_or(1, |w: &sim_core::workload::WorkloadConfig| w.blocks_per_file);
                let $nodes = file_caching::build(p, $servers, $clients, blocks_per_file);
                $body
            }
        }
    }};
}

/// A protocol with its parsed parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Protocol {
    DirectoryKv(directory_kv::Params),
    Quorum(quorum::Params),
    Chord(chord::Params),
    PrimaryBackup(primary_backup::Params),
    TwoPhaseCommit(two_phase_commit::Params),
    FileCaching(file_caching::Params),
}

impl Protocol {
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::DirectoryKv(_) => "directory_kv",
            Protocol::Quorum(_) => "quorum",
            Protocol::Chord(_) => "chord",
            Protocol::PrimaryBackup(_) => "primary_backup",
            Protocol::TwoPhaseCommit(_) => "two_phase_commit",
            Protocol::FileCaching(_) => "file_caching",
        }
    }

    /// Parses `[params]` for the named protocol and validates it against the
    /// cluster; returns the protocol and its warnings.
    pub fn load(
        name: &str,
        file: &str,
        text: &str,
        locator: &Locator,
        servers: usize,
    ) -> Result<(Protocol, Vec<String>), InputError> {
        match name {
            "directory_kv" => {
                let p: directory_kv::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| param_error(file, locator, e))?;
                Ok((Protocol::DirectoryKv(p), warnings))
            }
            "quorum" => {
                let p: quorum::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| param_error(file, locator, e))?;
                Ok((Protocol::Quorum(p), warnings))
            }
            "chord" => {
                let p: chord::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| param_error(file, locator, e))?;
                Ok((Protocol::Chord(p), warnings))
            }
            "primary_backup" => {
                let p: primary_backup::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| param_error(file, locator, e))?;
                Ok((Protocol::PrimaryBackup(p), warnings))
            }
            "two_phase_commit" => {
                let p: two_phase_commit::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| param_error(file, locator, e))?;
                Ok((Protocol::TwoPhaseCommit(p), warnings))
            }
            "file_caching" => {
                let p: file_caching::Params = parse_params(file, text, locator)?;
                let warnings = p.validate(servers).map_err(|e| {
                    // The one file server is a cluster setting, not a [params] key.
                    if e.key == file_caching::NODES_KEY {
                        InputError::new(file, e.message)
                            .at_line(locator.line_of(e.key).or(locator.line_of("cluster")))
                            .at_key(e.key)
                    } else {
                        param_error(file, locator, e)
                    }
                })?;
                Ok((Protocol::FileCaching(p), warnings))
            }
            other => {
                let known: Vec<&str> = PROTOCOLS.iter().map(|p| p.name).collect();
                Err(InputError::new(file, format!("unknown protocol `{other}`"))
                    .at_key("scenario.protocol")
                    .at_line(locator.line_of("scenario.protocol"))
                    .with_hint(format!("use one of: {} (see `dsim list`)", known.join(", "))))
            }
        }
    }

    /// Node names and roles, in node-id order.
    pub fn layout(&self, servers: usize, clients: usize) -> Vec<(String, String)> {
        // Names do not depend on the workload.
        crate::with_nodes!(self, servers, clients, None, nodes => names_and_roles(nodes))
    }

    /// Names of the numbers in this protocol's report details, for `[expect]`.
    pub fn detail_metrics(&self) -> Vec<String> {
        let value = match self {
            Protocol::DirectoryKv(_) => serde_json::to_value(directory_kv::DirectoryCounters::default()),
            Protocol::Quorum(_) => serde_json::to_value(quorum::QuorumCounters::default()),
            Protocol::Chord(_) => serde_json::to_value(chord::ChordCounters::default()),
            Protocol::PrimaryBackup(_) => serde_json::to_value(primary_backup::PbCounters::default()),
            Protocol::TwoPhaseCommit(_) => serde_json::to_value(two_phase_commit::TpcCounters::default()),
            Protocol::FileCaching(_) => serde_json::to_value(file_caching::FileCachingCounters::default()),
        };
        value
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|o| o.into_iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect())
            .unwrap_or_default()
    }
}

/// A protocol's parameter error, at its `[params]` key's line.
fn param_error(file: &str, locator: &Locator, e: protocols::ParamError) -> InputError {
    let key = format!("params.{}", e.key);
    InputError::new(file, e.message).at_line(locator.line_of(&key).or(locator.line_of("params"))).at_key(key)
}

fn names_and_roles<A>(nodes: Vec<NodeSpec<A>>) -> Vec<(String, String)> {
    nodes.into_iter().map(|n| (n.name, n.role)).collect()
}

/// Parses `[params]` with the protocol's own schema, from the whole text, so
/// toml's errors carry spans in the file.
fn parse_params<P: DeserializeOwned + Default>(file: &str, text: &str, locator: &Locator) -> Result<P, InputError> {
    match toml::from_str::<ParamsOnly<P>>(text) {
        Ok(p) => Ok(p.params.unwrap_or_default()),
        Err(e) => Err(crate::load::toml_error(file, &e, locator)),
    }
}
