//! Reading and writing histories: dsim's JSON lines and Jepsen's EDN.
//!
//! Both readers produce a [`CheckHistory`]; both writers take one. The rules
//! below are shared by the two formats unless said otherwise.
//!
//! **Events.** Each line (JSON) or each operation map (EDN) is one event: an
//! invocation (`invoke`) or a completion (`ok`, `fail`, `info`). The order of
//! events is real-time order. Positions (`COp::invoke`, `COp::complete`) count
//! invocations and `ok`/`fail` completions from 0; `info` completions take no
//! position, because an operation of unknown outcome may take effect at any
//! time after its invocation.
//!
//! **Pairing.** A JSON completion with an integer `"op"` field completes the
//! invocation with the same `"op"`. Otherwise (and always in EDN) it completes
//! the single outstanding invocation of its process: a process has one
//! operation at a time, Jepsen's rule. With op ids a process may have several.
//! An op id is used once per history. `COp::id` is the op id, or else the line
//! number of the invocation; `COp::line` is always the invocation's line
//! (for EDN, the line where its op map starts).
//!
//! **Outcomes.** `ok` => `Status::Ok`; `fail` => `Status::Fail`; `info`, or no
//! completion by the end => `Status::Unknown` with no completion position
//! (`complete_ns` keeps the `info` line's time, if any).
//!
//! **Functions** (`f`): `read`|`get`, `write`|`put`, `cas`, `append`,
//! `delete`, as strings or keywords. A completion's `f` must match its
//! invocation's.
//!
//! **Values.** nil/null is `NIL`. Every other scalar is interned by its
//! printed form, EDN-style: integers in decimal (`3`, `-1`; EDN's `3N` is
//! `3`), floats as Rust prints them (`1.5`, `1.0`, `1e-7`, never equal to an
//! integer), strings quoted with JSON escapes (`"3"`, so `3` and `"3"` are
//! different values), keywords with their colon (`:a`), symbols, `true`,
//! `false`. A `cas` value is `[expected new]`. A write's (append's, cas's)
//! value comes from its invocation, or from its completion when the
//! invocation has none. An ok read's result comes from its completion: a
//! scalar is `Ret::Value`, an array (EDN vector or list) is `Ret::List`, and
//! siblings (several concurrent versions) are an EDN set `#{1 2}` or a JSON
//! object `{"siblings": [1, 2]}`: `Ret::Siblings`.
//!
//! **Keys**: the `key` field, any scalar, interned like values; none =>
//! single-object history (`COp::key` is `None`). An EDN history in which no
//! op has a `:key` and every invocation's `:value` is a tuple `[k v]` (for
//! `cas`, `[k [expected new]]`) is a Jepsen `independent` history: `k` is the
//! key and `v` the value; completions then carry `[k v]` too, or nil.
//!
//! **Processes**: integers (named in decimal), strings (named by their
//! content) or EDN keywords (`:name`). Ops of the `nemesis` process (a string
//! or keyword) are skipped: Jepsen logs faults as ops.
//!
//! **Times**: JSON `time_ns`, EDN `:time`, non-negative integer nanoseconds.
//!
//! **EDN syntax** accepted: maps, vectors, lists, sets, nil, booleans,
//! integers (`N` suffix, hex), floats (`M` suffix, `##Inf`, `##NaN`),
//! strings, characters, keywords, symbols, comments, `#_` discards, and tagged
//! literals (`#jepsen.history.Op{...}`, `#object[...]`: the tag is dropped).
//! A file is either one vector (or list) of op maps or a sequence of op maps,
//! e.g. one per line; errors name the line where the op map starts.
//!
//! **Writers.** [`to_jsonl`] writes dsim's format, which [`parse_jsonl`]
//! reads back to an equal history (for histories read from either format
//! whose values and keys are numbers, strings or booleans; EDN keywords and
//! symbols become JSON strings like `":a"`). [`to_edn`] writes Jepsen's
//! `history.edn` style: one op map per line, no enclosing vector, with
//! `:index`, `:type`, `:process`, `:f`, `:key` (when the op has one),
//! `:value` and `:time`. Jepsen allows one outstanding op per process, so an
//! op invoked while its process already has one outstanding is written under
//! a fresh process (a new integer past every integer process, or `"name/2"`).
//! Operations of unknown outcome get an `info` line just before their
//! process's next invocation, or at the end. [`to_edn_independent`] writes
//! keyed ops as Jepsen `independent` tuples instead of `:key`.

use crate::ops::{COp, Call, CheckHistory, Interner, NIL, Ret, Status, Val};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// A history that could not be read: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line of the input.
    pub line: usize,
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError { line, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// dsim's JSON lines: one JSON object per line.
    Jsonl,
    /// Jepsen's EDN: op maps, one per line or in one vector.
    Edn,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
        }
    }

    /// How a field is spelled in this format's messages: `"type"` or `:type`.
    fn field(self, name: &str) -> String {
        match self {
            Format::Jsonl => format!("\"{name}\""),
            Format::Edn => format!(":{name}"),
        }
    }
}

/// Guesses the format from the first non-blank characters: `{"` is JSON
/// lines; `{:`, `[`, `(`, `#`, `;` or `,` is EDN. Anything else (including
/// an empty text) is JSON lines.
pub fn detect(text: &str) -> Format {
    let mut chars = text.chars().filter(|c| !c.is_whitespace());
    match chars.next() {
        Some('{') => match chars.next() {
            Some('"') | None => Format::Jsonl,
            Some(_) => Format::Edn,
        },
        Some('[' | '(' | '#' | ';' | ',') => Format::Edn,
        _ => Format::Jsonl,
    }
}

/// Reads a history in the given format.
pub fn parse(text: &str, format: Format) -> Result<CheckHistory, ParseError> {
    match format {
        Format::Jsonl => parse_jsonl(text),
        Format::Edn => parse_edn(text),
    }
}

// ---------------------------------------------------------------------------
// The events both formats reduce to.

/// A field's value, with scalars already in their printed form.
#[derive(Clone, Debug, PartialEq)]
enum Tree {
    Nil,
    Scalar(String),
    Seq(Vec<Tree>),
    Set(Vec<Tree>),
    /// Something no field may hold, described for messages ("a map").
    Other(&'static str),
}

impl Tree {
    fn describe(&self) -> String {
        match self {
            Tree::Nil => "nil".into(),
            Tree::Scalar(s) => s.clone(),
            Tree::Seq(_) => "a vector".into(),
            Tree::Set(_) => "a set".into(),
            Tree::Other(d) => (*d).into(),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Invoke => "invoke",
            Kind::Ok => "ok",
            Kind::Fail => "fail",
            Kind::Info => "info",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Fk {
    Read,
    Write,
    Cas,
    Append,
    Delete,
}

impl Fk {
    fn name(self) -> &'static str {
        match self {
            Fk::Read => "read",
            Fk::Write => "write",
            Fk::Cas => "cas",
            Fk::Append => "append",
            Fk::Delete => "delete",
        }
    }

    /// Whether the call carries a value (and so may take it from the completion).
    fn has_value(self) -> bool {
        matches!(self, Fk::Write | Fk::Cas | Fk::Append)
    }
}

/// One line of a history.
struct Event {
    line: usize,
    process: String,
    kind: Kind,
    f: Fk,
    key: Option<String>,
    value: Tree,
    op: Option<usize>,
    time: Option<u64>,
}

/// A field read as a word (`type`, `f`).
enum Word<'a> {
    Missing,
    Is(&'a str),
    Bad(String),
}

fn kind_of(fmt: Format, line: usize, w: Word) -> Result<Kind, ParseError> {
    let field = fmt.field("type");
    let found = match w {
        Word::Is("invoke") => return Ok(Kind::Invoke),
        Word::Is("ok") => return Ok(Kind::Ok),
        Word::Is("fail") => return Ok(Kind::Fail),
        Word::Is("info") => return Ok(Kind::Info),
        Word::Missing => {
            return Err(ParseError::new(line, format!("missing {field}: expected invoke, ok, fail or info")));
        }
        Word::Is(w) => w.to_string(),
        Word::Bad(d) => d,
    };
    Err(ParseError::new(line, format!("expected {field} to be invoke, ok, fail or info; found {found}")))
}

fn f_of(fmt: Format, line: usize, w: Word) -> Result<Fk, ParseError> {
    let field = fmt.field("f");
    let found = match w {
        Word::Is("read" | "get") => return Ok(Fk::Read),
        Word::Is("write" | "put") => return Ok(Fk::Write),
        Word::Is("cas") => return Ok(Fk::Cas),
        Word::Is("append") => return Ok(Fk::Append),
        Word::Is("delete") => return Ok(Fk::Delete),
        Word::Missing => {
            return Err(ParseError::new(
                line,
                format!("missing {field}: expected read, write, cas, append or delete (or get, put)"),
            ));
        }
        Word::Is(w) => w.to_string(),
        Word::Bad(d) => d,
    };
    Err(ParseError::new(
        line,
        format!("expected {field} to be read, write, cas, append or delete (or get, put); found {found}"),
    ))
}

fn scalar(fmt: Format, v: &Tree, vals: &mut Interner) -> Result<Val, String> {
    match v {
        Tree::Nil => Ok(NIL),
        Tree::Scalar(s) => Ok(vals.intern(s) as Val),
        other => Err(format!(
            "expected {} to be a scalar (nil, a number, a string, a keyword), found {}",
            fmt.field("value"),
            other.describe()
        )),
    }
}

fn make_call(fmt: Format, f: Fk, v: &Tree, vals: &mut Interner) -> Result<Call, String> {
    Ok(match f {
        Fk::Read => Call::Read,
        Fk::Delete => Call::Delete,
        Fk::Write => Call::Write(scalar(fmt, v, vals)?),
        Fk::Append => Call::Append(scalar(fmt, v, vals)?),
        Fk::Cas => match v {
            Tree::Seq(items) if items.len() == 2 => {
                Call::Cas { expected: scalar(fmt, &items[0], vals)?, new: scalar(fmt, &items[1], vals)? }
            }
            other => {
                return Err(format!(
                    "expected a cas {} [expected new], found {}",
                    fmt.field("value"),
                    other.describe()
                ));
            }
        },
    })
}

fn make_ret(fmt: Format, v: &Tree, vals: &mut Interner) -> Result<Ret, String> {
    Ok(match v {
        Tree::Nil => Ret::Value(NIL),
        Tree::Scalar(s) => Ret::Value(vals.intern(s) as Val),
        Tree::Seq(items) => Ret::List(items.iter().map(|i| scalar(fmt, i, vals)).collect::<Result<_, _>>()?),
        Tree::Set(items) => Ret::Siblings(items.iter().map(|i| scalar(fmt, i, vals)).collect::<Result<_, _>>()?),
        Tree::Other(d) => {
            return Err(format!(
                "expected a read's {} to be a scalar, a list or siblings, found {d}",
                fmt.field("value")
            ));
        }
    })
}

/// An invocation still waiting for its completion.
struct Open {
    line: usize,
    f: Fk,
    op_id: Option<usize>,
    /// Whether `COp::call` is final (else the value comes from the completion).
    call_known: bool,
}

/// Pairs events into operations.
fn build(events: Vec<Event>, fmt: Format) -> Result<CheckHistory, ParseError> {
    let op_field = fmt.field("op");
    let mut procs = Interner::default();
    let mut keys = Interner::default();
    let mut vals = Interner::starting_with("nil");
    let mut ops: Vec<COp> = Vec::new();
    let mut open: BTreeMap<usize, Open> = BTreeMap::new();
    let mut by_id: BTreeMap<usize, usize> = BTreeMap::new();
    let mut used_ids: BTreeMap<usize, usize> = BTreeMap::new();
    let mut by_proc: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut pos: u64 = 0;
    for ev in events {
        let line = ev.line;
        let err = |m: String| ParseError::new(line, m);
        if ev.kind == Kind::Invoke {
            let p = procs.intern(&ev.process);
            if let Some(id) = ev.op {
                if let Some(&l) = used_ids.get(&id) {
                    return Err(err(format!(
                        "op id {id} is already used on line {l}; each operation needs its own {op_field}"
                    )));
                }
                used_ids.insert(id, line);
            } else if let Some(o) = by_proc.get(&p).and_then(|v| v.first()).and_then(|i| open.get(i)) {
                return Err(err(format!(
                    "process {} invokes again while its invocation on line {} is outstanding \
                     (a process has one operation at a time, unless lines carry {op_field} ids)",
                    ev.process, o.line
                )));
            }
            let key = ev.key.as_deref().map(|k| keys.intern(k));
            let call = if ev.f.has_value() && ev.value == Tree::Nil {
                None
            } else {
                Some(make_call(fmt, ev.f, &ev.value, &mut vals).map_err(err)?)
            };
            let idx = ops.len();
            ops.push(COp {
                id: ev.op.unwrap_or(line),
                line: Some(line),
                process: p,
                key,
                call: call.clone().unwrap_or(Call::Read),
                ret: Ret::Nothing,
                status: Status::Unknown,
                invoke: pos,
                complete: None,
                invoke_ns: ev.time,
                complete_ns: None,
            });
            open.insert(idx, Open { line, f: ev.f, op_id: ev.op, call_known: call.is_some() });
            by_proc.entry(p).or_default().push(idx);
            if let Some(id) = ev.op {
                by_id.insert(id, idx);
            }
            pos += 1;
            continue;
        }
        let kind = ev.kind.name();
        let idx = match ev.op {
            Some(id) => *by_id
                .get(&id)
                .ok_or_else(|| err(format!("{kind} completion of op {id}, which has no outstanding invocation")))?,
            None => {
                let list = procs.get(&ev.process).and_then(|p| by_proc.get(&p)).map_or(&[][..], Vec::as_slice);
                match list {
                    [] => {
                        return Err(err(format!(
                            "{kind} completion for process {}, which has no outstanding invocation",
                            ev.process
                        )));
                    }
                    [i] => *i,
                    many => {
                        let lines: Vec<String> =
                            many.iter().filter_map(|i| open.get(i)).map(|o| o.line.to_string()).collect();
                        return Err(err(format!(
                            "{kind} completion for process {}, which has {} outstanding invocations (lines {}); \
                             give the line an {op_field} id to say which one completes",
                            ev.process,
                            many.len(),
                            lines.join(", ")
                        )));
                    }
                }
            }
        };
        let Some(o) = open.remove(&idx) else {
            return Err(err(format!("{kind} completion of an operation that is not outstanding")));
        };
        let Some(op) = ops.get_mut(idx) else {
            return Err(err(format!("{kind} completion of an unknown operation")));
        };
        if procs.get(&ev.process) != Some(op.process) {
            return Err(err(format!(
                "{kind} completion comes from process {}, but its invocation on line {} came from process {}",
                ev.process,
                o.line,
                procs.name(op.process)
            )));
        }
        if ev.f != o.f {
            return Err(err(format!(
                "{kind} completion has {} {}, but its invocation on line {} has {}",
                fmt.field("f"),
                ev.f.name(),
                o.line,
                o.f.name()
            )));
        }
        match (op.key, &ev.key) {
            (Some(k), Some(ek)) if keys.name(k) != ek => {
                return Err(err(format!(
                    "{kind} completion has {} {ek}, but its invocation on line {} has {}",
                    fmt.field("key"),
                    o.line,
                    keys.name(k)
                )));
            }
            (None, Some(ek)) => op.key = Some(keys.intern(ek)),
            _ => {}
        }
        if let Some(v) = by_proc.get_mut(&op.process) {
            v.retain(|&i| i != idx);
        }
        if let Some(id) = o.op_id {
            by_id.remove(&id);
        }
        if !o.call_known {
            op.call = make_call(fmt, o.f, &ev.value, &mut vals).map_err(err)?;
        }
        match ev.kind {
            Kind::Ok => {
                op.status = Status::Ok;
                if o.f == Fk::Read {
                    op.ret = make_ret(fmt, &ev.value, &mut vals).map_err(err)?;
                }
                op.complete = Some(pos);
                op.complete_ns = ev.time;
                pos += 1;
            }
            Kind::Fail => {
                op.status = Status::Fail;
                op.complete = Some(pos);
                op.complete_ns = ev.time;
                pos += 1;
            }
            Kind::Info | Kind::Invoke => op.complete_ns = ev.time,
        }
    }
    for (idx, o) in open {
        if !o.call_known
            && let Some(op) = ops.get_mut(idx)
        {
            op.call = make_call(fmt, o.f, &Tree::Nil, &mut vals).map_err(|m| ParseError::new(o.line, m))?;
        }
    }
    Ok(CheckHistory { ops, processes: procs.into_names(), keys: keys.into_names(), values: vals.into_names() })
}

// ---------------------------------------------------------------------------
// JSON lines.

/// Reads dsim's JSON lines: one object per line with `process`, `type`, `f`,
/// and optionally `op`, `key`, `value`, `time_ns` (other fields are ignored).
pub fn parse_jsonl(text: &str) -> Result<CheckHistory, ParseError> {
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() {
            continue;
        }
        let v: Json = serde_json::from_str(s).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or_default();
            ParseError::new(
                line,
                format!(
                    "malformed JSON at column {}: {msg}; expected one object per line, like \
                     {{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"value\": null}}",
                    e.column()
                ),
            )
        })?;
        let Json::Object(obj) = v else {
            return Err(ParseError::new(
                line,
                format!("expected a JSON object (one operation per line), found {}", json_kind(&v)),
            ));
        };
        if let Some(ev) = json_event(line, &obj)? {
            events.push(ev);
        }
    }
    build(events, Format::Jsonl)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn fmt_float(f: f64) -> String {
    if f.is_nan() {
        "##NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "##Inf".into() } else { "##-Inf".into() }
    } else {
        format!("{f:?}")
    }
}

fn json_int(n: &serde_json::Number) -> Option<String> {
    n.as_u64().map(|u| u.to_string()).or_else(|| n.as_i64().map(|i| i.to_string()))
}

/// The printed form of a JSON scalar; `None` for null and containers.
fn json_print(v: &Json) -> Option<String> {
    match v {
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(json_int(n).unwrap_or_else(|| fmt_float(n.as_f64().unwrap_or(f64::NAN)))),
        Json::String(s) => Some(quote(s)),
        _ => None,
    }
}

fn json_tree(v: &Json) -> Tree {
    match v {
        Json::Null => Tree::Nil,
        Json::Array(items) => Tree::Seq(items.iter().map(json_tree).collect()),
        Json::Object(m) => match (m.len(), m.get("siblings")) {
            (1, Some(Json::Array(items))) => Tree::Set(items.iter().map(json_tree).collect()),
            _ => Tree::Other("an object"),
        },
        scalar => json_print(scalar).map_or(Tree::Nil, Tree::Scalar),
    }
}

fn json_word(v: Option<&Json>) -> Word<'_> {
    match v {
        None | Some(Json::Null) => Word::Missing,
        Some(Json::String(s)) => Word::Is(s.strip_prefix(':').unwrap_or(s)),
        Some(other) => Word::Bad(json_kind(other).into()),
    }
}

fn json_count(
    line: usize,
    obj: &serde_json::Map<String, Json>,
    name: &str,
    what: &str,
) -> Result<Option<u64>, ParseError> {
    match obj.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(ParseError::new(
            line,
            format!("expected \"{name}\" to be a non-negative integer ({what}), found {other}"),
        )),
    }
}

fn json_event(line: usize, obj: &serde_json::Map<String, Json>) -> Result<Option<Event>, ParseError> {
    let err = |m: String| ParseError::new(line, m);
    let process = match obj.get("process") {
        None | Some(Json::Null) => return Err(err("missing \"process\": expected an integer or a string".into())),
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) if json_int(n).is_some() => json_int(n).unwrap_or_default(),
        Some(other) => return Err(err(format!("expected \"process\" to be an integer or a string, found {other}"))),
    };
    if process == "nemesis" || process == ":nemesis" {
        return Ok(None);
    }
    let kind = kind_of(Format::Jsonl, line, json_word(obj.get("type")))?;
    let f = f_of(Format::Jsonl, line, json_word(obj.get("f")))?;
    let key = match obj.get("key") {
        None | Some(Json::Null) => None,
        Some(v) => match json_print(v) {
            Some(k) => Some(k),
            None => return Err(err(format!("expected \"key\" to be a number, a string or a boolean, found {v}"))),
        },
    };
    let value = obj.get("value").map_or(Tree::Nil, json_tree);
    let op = match json_count(line, obj, "op", "the operation's id")? {
        None => None,
        Some(id) => Some(usize::try_from(id).map_err(|_| err(format!("op id {id} is too large")))?),
    };
    let time = json_count(line, obj, "time_ns", "nanoseconds")?;
    Ok(Some(Event { line, process, kind, f, key, value, op, time }))
}

// ---------------------------------------------------------------------------
// EDN.

/// Reads a Jepsen EDN history: op maps like `{:process 0, :type :invoke,
/// :f :read, :value nil}`, one per line or inside one vector.
pub fn parse_edn(text: &str) -> Result<CheckHistory, ParseError> {
    let mut events = Vec::new();
    for (line, form) in edn::read_ops(text)? {
        let edn::Edn::Map(m) = form else {
            return Err(ParseError::new(
                line,
                format!(
                    "expected an operation map like {{:process 0, :type :invoke, :f :read, :value nil}}, found {}",
                    form.describe()
                ),
            ));
        };
        if let Some(ev) = edn_event(line, &m)? {
            events.push(ev);
        }
    }
    if events.iter().all(|e| e.key.is_none()) && is_independent(&events) {
        for ev in &mut events {
            let value = std::mem::replace(&mut ev.value, Tree::Nil);
            match value {
                Tree::Seq(mut items) if items.len() == 2 && matches!(items[0], Tree::Scalar(_)) => {
                    let v = items.pop().unwrap_or(Tree::Nil);
                    if let Some(Tree::Scalar(k)) = items.pop() {
                        ev.key = Some(k);
                    }
                    ev.value = v;
                }
                Tree::Nil if ev.kind != Kind::Invoke => {}
                other => {
                    return Err(ParseError::new(
                        ev.line,
                        format!(
                            "expected :value to be an independent [key value] tuple, as in every invocation \
                             of this history; found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }
    build(events, Format::Edn)
}

/// Whether every invocation's value is a Jepsen `independent` tuple.
fn is_independent(events: &[Event]) -> bool {
    let mut invokes = events.iter().filter(|e| e.kind == Kind::Invoke).peekable();
    invokes.peek().is_some()
        && invokes.all(|e| match &e.value {
            Tree::Seq(items) if items.len() == 2 && matches!(items[0], Tree::Scalar(_)) => {
                e.f != Fk::Cas || matches!(&items[1], Tree::Seq(x) if x.len() == 2)
            }
            _ => false,
        })
}

fn edn_tree(e: &edn::Edn) -> Tree {
    use edn::Edn;
    match e {
        Edn::Nil => Tree::Nil,
        Edn::Vector(items) | Edn::List(items) => Tree::Seq(items.iter().map(edn_tree).collect()),
        Edn::Set(items) => Tree::Set(items.iter().map(edn_tree).collect()),
        Edn::Map(_) => Tree::Other("a map"),
        scalar => scalar.print().map_or(Tree::Nil, Tree::Scalar),
    }
}

fn edn_word(v: Option<&edn::Edn>) -> Word<'_> {
    use edn::Edn;
    match v {
        None | Some(Edn::Nil) => Word::Missing,
        Some(Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s)) => Word::Is(s),
        Some(other) => Word::Bad(other.describe()),
    }
}

fn edn_event(line: usize, m: &[(edn::Edn, edn::Edn)]) -> Result<Option<Event>, ParseError> {
    use edn::Edn;
    let err = |m: String| ParseError::new(line, m);
    let get =
        |name: &str| m.iter().find(|(k, _)| matches!(k, Edn::Keyword(s) | Edn::Str(s) if s == name)).map(|(_, v)| v);
    let process = match get("process") {
        None | Some(Edn::Nil) => {
            return Err(err("missing :process: expected an integer, a string or a keyword".into()));
        }
        Some(Edn::Keyword(k)) if k == "nemesis" => return Ok(None),
        Some(Edn::Int(s) | Edn::Str(s) | Edn::Symbol(s)) => s.clone(),
        Some(Edn::Keyword(k)) => format!(":{k}"),
        Some(other) => {
            return Err(err(format!(
                "expected :process to be an integer, a string or a keyword, found {}",
                other.describe()
            )));
        }
    };
    if process == "nemesis" {
        return Ok(None);
    }
    let kind = kind_of(Format::Edn, line, edn_word(get("type")))?;
    let f = f_of(Format::Edn, line, edn_word(get("f")))?;
    let key = match get("key") {
        None | Some(Edn::Nil) => None,
        Some(v) => match v.print() {
            Some(k) => Some(k),
            None => return Err(err(format!("expected :key to be a scalar, found {}", v.describe()))),
        },
    };
    let value = get("value").map_or(Tree::Nil, edn_tree);
    let time = match get("time") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(s)) if s.parse::<u64>().is_ok() => s.parse::<u64>().ok(),
        Some(other) => {
            return Err(err(format!(
                "expected :time to be a non-negative integer (nanoseconds), found {}",
                other.describe()
            )));
        }
    };
    Ok(Some(Event { line, process, kind, f, key, value, op: None, time }))
}

/// A small EDN reader: enough for histories, and it never panics or
/// recurses without bound.
mod edn {
    use super::{ParseError, fmt_float, quote};

    const MAX_DEPTH: usize = 256;

    #[derive(Clone, Debug, PartialEq)]
    pub enum Edn {
        Nil,
        Bool(bool),
        /// Canonical decimal digits (arbitrary size).
        Int(String),
        Float(f64),
        Str(String),
        Char(char),
        /// Without the colon.
        Keyword(String),
        Symbol(String),
        Vector(Vec<Edn>),
        List(Vec<Edn>),
        Set(Vec<Edn>),
        Map(Vec<(Edn, Edn)>),
    }

    impl Edn {
        /// The printed form of a scalar; `None` for nil and collections.
        pub fn print(&self) -> Option<String> {
            Some(match self {
                Edn::Bool(b) => b.to_string(),
                Edn::Int(s) | Edn::Symbol(s) => s.clone(),
                Edn::Float(f) => fmt_float(*f),
                Edn::Str(s) => quote(s),
                Edn::Keyword(k) => format!(":{k}"),
                Edn::Char(c) => match c {
                    '\n' => "\\newline".into(),
                    ' ' => "\\space".into(),
                    '\t' => "\\tab".into(),
                    '\r' => "\\return".into(),
                    c if c.is_control() => format!("\\u{:04x}", u32::from(*c)),
                    c => format!("\\{c}"),
                },
                Edn::Nil | Edn::Vector(_) | Edn::List(_) | Edn::Set(_) | Edn::Map(_) => return None,
            })
        }

        pub fn describe(&self) -> String {
            match self {
                Edn::Nil => "nil".into(),
                Edn::Vector(_) => "a vector".into(),
                Edn::List(_) => "a list".into(),
                Edn::Set(_) => "a set".into(),
                Edn::Map(_) => "a map".into(),
                scalar => scalar.print().unwrap_or_default(),
            }
        }
    }

    /// Reads the op forms of a history file, each with the line it starts on.
    pub fn read_ops(text: &str) -> Result<Vec<(usize, Edn)>, ParseError> {
        let mut r = Reader { s: text, b: text.as_bytes(), pos: 0, line: 1 };
        let mut out = Vec::new();
        r.skip_ws(0)?;
        match r.peek() {
            None => {}
            Some(open @ (b'[' | b'(')) => {
                let close = if open == b'[' { b']' } else { b')' };
                let opened = r.line;
                r.bump();
                loop {
                    r.skip_ws(1)?;
                    match r.peek() {
                        None => {
                            return Err(r.err(format!(
                                "unexpected end of input: the history vector opened on line {opened} is not closed"
                            )));
                        }
                        Some(c) if c == close => {
                            r.bump();
                            break;
                        }
                        Some(_) => {
                            let line = r.line;
                            out.push((line, r.read_form(1)?));
                        }
                    }
                }
                r.skip_ws(0)?;
                if r.peek().is_some() {
                    return Err(
                        r.err(format!("expected the end of input after the history vector opened on line {opened}"))
                    );
                }
            }
            Some(_) => loop {
                r.skip_ws(0)?;
                if r.peek().is_none() {
                    break;
                }
                let line = r.line;
                out.push((line, r.read_form(0)?));
            },
        }
        Ok(out)
    }

    /// Reads exactly one form (for checking printed names).
    pub fn read_one(text: &str) -> Option<Edn> {
        let mut r = Reader { s: text, b: text.as_bytes(), pos: 0, line: 1 };
        let form = r.read_form(0).ok()?;
        r.skip_ws(0).ok()?;
        r.peek().is_none().then_some(form)
    }

    struct Reader<'a> {
        s: &'a str,
        b: &'a [u8],
        pos: usize,
        line: usize,
    }

    fn is_delim(c: u8) -> bool {
        matches!(
            c,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c | b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'"' | b';' | b'\\'
        )
    }

    impl Reader<'_> {
        fn err(&self, m: impl Into<String>) -> ParseError {
            ParseError::new(self.line, m)
        }

        fn peek(&self) -> Option<u8> {
            self.b.get(self.pos).copied()
        }

        fn bump(&mut self) -> Option<u8> {
            let c = self.peek()?;
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
            }
            Some(c)
        }

        /// Skips whitespace, commas, comments and `#_` discarded forms.
        fn skip_ws(&mut self, depth: usize) -> Result<(), ParseError> {
            loop {
                match self.peek() {
                    Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c | b',') => {
                        self.bump();
                    }
                    Some(b';') => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            self.bump();
                        }
                    }
                    Some(b'#') if self.b.get(self.pos + 1) == Some(&b'_') => {
                        self.pos += 2;
                        self.read_form(depth + 1)?;
                    }
                    _ => return Ok(()),
                }
            }
        }

        /// The token starting here: everything up to the next delimiter.
        fn token(&mut self) -> &str {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if is_delim(c) {
                    break;
                }
                self.pos += 1;
            }
            self.s.get(start..self.pos).unwrap_or_default()
        }

        fn read_form(&mut self, depth: usize) -> Result<Edn, ParseError> {
            if depth > MAX_DEPTH {
                return Err(self.err(format!("values nested more than {MAX_DEPTH} deep")));
            }
            self.skip_ws(depth)?;
            let Some(c) = self.peek() else {
                return Err(self.err("unexpected end of input; expected a value"));
            };
            match c {
                b'{' => {
                    let opened = self.line;
                    self.bump();
                    let items = self.seq(b'}', "map", depth)?;
                    if items.len() % 2 != 0 {
                        return Err(self.err(format!(
                            "the map opened on line {opened} has a key without a value (an odd number of forms)"
                        )));
                    }
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Ok(Edn::Map(pairs))
                }
                b'[' => {
                    self.bump();
                    Ok(Edn::Vector(self.seq(b']', "vector", depth)?))
                }
                b'(' => {
                    self.bump();
                    Ok(Edn::List(self.seq(b')', "list", depth)?))
                }
                b'}' | b']' | b')' => Err(self.err(format!("unexpected '{}'; expected a value", c as char))),
                b'"' => {
                    self.bump();
                    Ok(Edn::Str(self.string()?))
                }
                b'\\' => {
                    self.bump();
                    Ok(Edn::Char(self.character()?))
                }
                b':' => {
                    self.bump();
                    let t = self.token();
                    if t.is_empty() {
                        return Err(self.err("expected a keyword name after ':'"));
                    }
                    let t = t.to_string();
                    self.check_chars(&t)?;
                    Ok(Edn::Keyword(t))
                }
                b'#' => self.dispatch(depth),
                _ => {
                    let t = self.token().to_string();
                    if t.is_empty() {
                        return Err(self.err(format!("unexpected character {:?}", c as char)));
                    }
                    self.atom(&t)
                }
            }
        }

        fn check_chars(&self, t: &str) -> Result<(), ParseError> {
            match t.chars().find(|c| c.is_control()) {
                Some(c) => Err(self.err(format!("unexpected character {c:?} in {t:?}"))),
                None => Ok(()),
            }
        }

        fn seq(&mut self, close: u8, what: &str, depth: usize) -> Result<Vec<Edn>, ParseError> {
            let opened = self.line;
            let mut items = Vec::new();
            loop {
                self.skip_ws(depth + 1)?;
                match self.peek() {
                    None => {
                        return Err(self.err(format!(
                            "unexpected end of input; expected '{}' to close the {what} opened on line {opened}",
                            close as char
                        )));
                    }
                    Some(c) if c == close => {
                        self.bump();
                        return Ok(items);
                    }
                    Some(c @ (b')' | b']' | b'}')) => {
                        return Err(self.err(format!(
                            "unexpected '{}'; expected '{}' to close the {what} opened on line {opened}",
                            c as char, close as char
                        )));
                    }
                    Some(_) => items.push(self.read_form(depth + 1)?),
                }
            }
        }

        fn hex4(&mut self) -> Result<u32, ParseError> {
            let digits = self.s.get(self.pos..self.pos + 4).unwrap_or_default();
            let v = u32::from_str_radix(digits, 16)
                .ok()
                .filter(|_| digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_hexdigit()));
            match v {
                Some(v) => {
                    self.pos += 4;
                    Ok(v)
                }
                None => Err(self.err("expected 4 hex digits after \\u")),
            }
        }

        fn string(&mut self) -> Result<String, ParseError> {
            let opened = self.line;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let Some(c) = self.bump() else {
                    return Err(self.err(format!("unterminated string starting on line {opened}")));
                };
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(e) = self.bump() else {
                            return Err(self.err(format!("unterminated string starting on line {opened}")));
                        };
                        let ch = match e {
                            b't' => '\t',
                            b'n' => '\n',
                            b'r' => '\r',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'u' => {
                                let hi = self.hex4()?;
                                let code = if (0xD800..0xDC00).contains(&hi) && self.b.get(self.pos) == Some(&b'\\') {
                                    self.pos += 1;
                                    if self.bump() != Some(b'u') {
                                        return Err(self.err("expected a low surrogate \\uDC00-\\uDFFF"));
                                    }
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(self.err("expected a low surrogate \\uDC00-\\uDFFF"));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                char::from_u32(code).ok_or_else(|| self.err(format!("invalid \\u escape {code:x}")))?
                            }
                            other => {
                                return Err(
                                    self.err(format!("unknown string escape \\{}", char::from(other).escape_default()))
                                );
                            }
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    c => out.push(c),
                }
            }
            String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string"))
        }

        fn character(&mut self) -> Result<char, ParseError> {
            let Some(first) = self.s.get(self.pos..).and_then(|r| r.chars().next()) else {
                return Err(self.err("expected a character after '\\'"));
            };
            self.pos += first.len_utf8();
            if first == '\n' {
                self.line += 1;
            }
            if !first.is_ascii_alphanumeric() {
                return Ok(first);
            }
            let rest = self.token().to_string();
            if rest.is_empty() {
                return Ok(first);
            }
            let name = format!("{first}{rest}");
            match name.as_str() {
                "newline" => Ok('\n'),
                "space" => Ok(' '),
                "tab" => Ok('\t'),
                "return" => Ok('\r'),
                "formfeed" => Ok('\u{c}'),
                "backspace" => Ok('\u{8}'),
                _ => name
                    .strip_prefix('u')
                    .filter(|h| h.len() == 4)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.err(format!("unknown character literal \\{name}"))),
            }
        }

        fn dispatch(&mut self, depth: usize) -> Result<Edn, ParseError> {
            self.bump();
            match self.peek() {
                Some(b'{') => {
                    self.bump();
                    Ok(Edn::Set(self.seq(b'}', "set", depth)?))
                }
                Some(b'#') => {
                    self.bump();
                    match self.token() {
                        "Inf" => Ok(Edn::Float(f64::INFINITY)),
                        "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                        "NaN" => Ok(Edn::Float(f64::NAN)),
                        t => {
                            let t = t.to_string();
                            Err(self.err(format!("unknown symbolic value ##{t}; expected ##Inf, ##-Inf or ##NaN")))
                        }
                    }
                }
                Some(b'"') => {
                    self.bump();
                    Ok(Edn::Str(self.string()?))
                }
                _ => {
                    let tag = self.token();
                    if tag.is_empty() {
                        return Err(self.err("expected a tag, a set or a discard after '#'"));
                    }
                    self.read_form(depth + 1)
                }
            }
        }

        fn atom(&self, t: &str) -> Result<Edn, ParseError> {
            match t {
                "nil" => return Ok(Edn::Nil),
                "true" => return Ok(Edn::Bool(true)),
                "false" => return Ok(Edn::Bool(false)),
                _ => {}
            }
            let b = t.as_bytes();
            let numeric = b.first().is_some_and(u8::is_ascii_digit)
                || (matches!(b.first(), Some(b'+' | b'-')) && b.get(1).is_some_and(u8::is_ascii_digit));
            if !numeric {
                self.check_chars(t)?;
                return Ok(Edn::Symbol(t.to_string()));
            }
            let (neg, body) = match t.as_bytes()[0] {
                b'-' => (true, &t[1..]),
                b'+' => (false, &t[1..]),
                _ => (false, t),
            };
            let digits = body.strip_suffix('N').unwrap_or(body);
            if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
                return Ok(Edn::Int(canonical_int(neg, digits)));
            }
            if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
                let hex = hex.strip_suffix('N').unwrap_or(hex);
                if let Ok(v) = u128::from_str_radix(hex, 16)
                    && hex.bytes().all(|c| c.is_ascii_hexdigit())
                {
                    return Ok(Edn::Int(canonical_int(neg, &v.to_string())));
                }
            }
            if let Some((n, d)) = body.split_once('/')
                && !n.is_empty()
                && !d.is_empty()
                && n.bytes().chain(d.bytes()).all(|c| c.is_ascii_digit())
            {
                // A Clojure ratio: kept as written.
                return Ok(Edn::Symbol(t.to_string()));
            }
            let float = t.strip_suffix('M').unwrap_or(t);
            if float.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
                && let Ok(f) = float.parse::<f64>()
            {
                return Ok(Edn::Float(f));
            }
            Err(self.err(format!("malformed number {t:?}")))
        }
    }

    fn canonical_int(neg: bool, digits: &str) -> String {
        let d = digits.trim_start_matches('0');
        if d.is_empty() {
            "0".into()
        } else if neg {
            format!("-{d}")
        } else {
            d.to_string()
        }
    }
}

// ---------------------------------------------------------------------------
// Writers.

/// One line of a written history.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Out {
    Invoke(usize),
    /// `ok` or `fail`, by the op's status.
    Done(usize),
    Info(usize),
}

/// The lines of a history in real-time order. An operation of unknown
/// outcome gets an `info` line just before its process's next invocation,
/// or at the end.
fn lines_of(h: &CheckHistory) -> Vec<Out> {
    let mut invokes: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for op in &h.ops {
        invokes.entry(op.process).or_default().push(op.invoke);
    }
    for v in invokes.values_mut() {
        v.sort_unstable();
    }
    let mut keyed: Vec<((u64, u8, usize), Out)> = Vec::with_capacity(h.ops.len() * 2);
    for (i, op) in h.ops.iter().enumerate() {
        keyed.push(((op.invoke, 1, i), Out::Invoke(i)));
        let done = match (op.status, op.complete) {
            (Status::Unknown, Some(c)) => ((c, 1, i), Out::Info(i)),
            (Status::Unknown, None) => {
                let next = invokes.get(&op.process).and_then(|v| v.get(v.partition_point(|&x| x <= op.invoke)));
                (next.map_or((u64::MAX, 2, i), |&n| (n, 0, i)), Out::Info(i))
            }
            (_, Some(c)) => ((c, 1, i), Out::Done(i)),
            (_, None) => ((u64::MAX, 2, i), Out::Done(i)),
        };
        keyed.push(done);
    }
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, o)| o).collect()
}

fn canonical_int_name(name: &str) -> bool {
    name.parse::<i128>().is_ok_and(|i| i.to_string() == name)
}

/// A value or key name as EDN: itself when it is a printed EDN scalar,
/// else a string.
fn edn_name(name: &str) -> String {
    match edn::read_one(name).and_then(|e| e.print()) {
        Some(p) if p == name => p,
        _ => quote(name),
    }
}

/// A value or key name as JSON: the scalar it prints, else a string.
fn json_name(name: &str) -> Json {
    match serde_json::from_str::<Json>(name) {
        Ok(v) if json_print(&v).as_deref() == Some(name) => v,
        _ => Json::String(name.to_string()),
    }
}

fn edn_process(name: &str) -> String {
    if canonical_int_name(name) || (name.starts_with(':') && edn_name(name) == name) {
        name.to_string()
    } else {
        quote(name)
    }
}

fn json_process(name: &str) -> Json {
    match name.parse::<i64>() {
        Ok(i) if i.to_string() == name => Json::from(i),
        _ => match name.parse::<u64>() {
            Ok(u) if u.to_string() == name => Json::from(u),
            _ => Json::String(name.to_string()),
        },
    }
}

/// How one format spells values.
trait Spell {
    fn nil(&self) -> String;
    fn val(&self, v: Val) -> String;
    fn vector(&self, items: Vec<String>) -> String;
    fn siblings(&self, items: Vec<String>) -> String;
}

struct EdnSpell(Vec<String>);
struct JsonSpell(Vec<String>);

impl Spell for EdnSpell {
    fn nil(&self) -> String {
        "nil".into()
    }
    fn val(&self, v: Val) -> String {
        if v == NIL {
            return self.nil();
        }
        usize::try_from(v).ok().and_then(|i| self.0.get(i)).cloned().unwrap_or_else(|| quote("?"))
    }
    fn vector(&self, items: Vec<String>) -> String {
        format!("[{}]", items.join(" "))
    }
    fn siblings(&self, items: Vec<String>) -> String {
        format!("#{{{}}}", items.join(" "))
    }
}

impl Spell for JsonSpell {
    fn nil(&self) -> String {
        "null".into()
    }
    fn val(&self, v: Val) -> String {
        if v == NIL {
            return self.nil();
        }
        usize::try_from(v).ok().and_then(|i| self.0.get(i)).cloned().unwrap_or_else(|| quote("?"))
    }
    fn vector(&self, items: Vec<String>) -> String {
        format!("[{}]", items.join(","))
    }
    fn siblings(&self, items: Vec<String>) -> String {
        format!("{{\"siblings\":[{}]}}", items.join(","))
    }
}

fn call_value(s: &dyn Spell, call: &Call) -> String {
    match call {
        Call::Read | Call::Delete => s.nil(),
        Call::Write(v) | Call::Append(v) => s.val(*v),
        Call::Cas { expected, new } => s.vector(vec![s.val(*expected), s.val(*new)]),
    }
}

fn ret_value(s: &dyn Spell, op: &COp) -> String {
    if op.call != Call::Read {
        return call_value(s, &op.call);
    }
    match (&op.ret, op.status) {
        (Ret::Value(v), Status::Ok) => s.val(*v),
        (Ret::List(vs), Status::Ok) => s.vector(vs.iter().map(|v| s.val(*v)).collect()),
        (Ret::Siblings(vs), Status::Ok) => s.siblings(vs.iter().map(|v| s.val(*v)).collect()),
        _ => s.nil(),
    }
}

fn line_parts(o: Out) -> (usize, bool) {
    match o {
        Out::Invoke(i) => (i, false),
        Out::Done(i) | Out::Info(i) => (i, true),
    }
}

fn type_name(o: Out, op: &COp) -> &'static str {
    match o {
        Out::Invoke(_) => "invoke",
        Out::Info(_) => "info",
        Out::Done(_) if op.status == Status::Fail => "fail",
        Out::Done(_) => "ok",
    }
}

/// Writes dsim's JSON lines: `{"op", "process", "type", "f", "key" (when
/// the op has one), "value", "time_ns" (when known)}` per line, in real-time
/// order. `op` is `COp::id` (or the op's index, if ids repeat).
pub fn to_jsonl(h: &CheckHistory) -> String {
    let spell = JsonSpell(h.values.iter().map(|n| json_name(n).to_string()).collect());
    let keys: Vec<String> = h.keys.iter().map(|n| json_name(n).to_string()).collect();
    let procs: Vec<String> = h.processes.iter().map(|n| json_process(n).to_string()).collect();
    let mut seen = std::collections::BTreeSet::new();
    let unique = h.ops.iter().all(|op| seen.insert(op.id));
    let mut out = String::new();
    for o in lines_of(h) {
        let (i, completion) = line_parts(o);
        let Some(op) = h.ops.get(i) else { continue };
        let id = if unique { op.id } else { i };
        let process = procs.get(op.process).cloned().unwrap_or_else(|| op.process.to_string());
        let value = if completion { ret_value(&spell, op) } else { call_value(&spell, &op.call) };
        let time = if completion { op.complete_ns } else { op.invoke_ns };
        out.push_str(&format!(
            "{{\"op\":{id},\"process\":{process},\"type\":\"{}\",\"f\":\"{}\"",
            type_name(o, op),
            op.call.name()
        ));
        if let Some(k) = op.key {
            out.push_str(&format!(",\"key\":{}", keys.get(k).cloned().unwrap_or_else(|| quote("?"))));
        }
        out.push_str(&format!(",\"value\":{value}"));
        if let Some(t) = time {
            out.push_str(&format!(",\"time_ns\":{t}"));
        }
        out.push_str("}\n");
    }
    out
}

/// Writes Jepsen's EDN, one op map per line and no enclosing vector (the
/// style of Jepsen's `history.edn`), with keys as `:key`.
pub fn to_edn(h: &CheckHistory) -> String {
    write_edn(h, false)
}

/// Like [`to_edn`], but keyed ops carry Jepsen `independent` tuples
/// (`:value [k v]`) instead of `:key`, as Jepsen's `independent` checker
/// expects. Ops without a key are written as in [`to_edn`].
pub fn to_edn_independent(h: &CheckHistory) -> String {
    write_edn(h, true)
}

fn write_edn(h: &CheckHistory, tuples: bool) -> String {
    let spell = EdnSpell(h.values.iter().map(|n| edn_name(n)).collect());
    let keys: Vec<String> = h.keys.iter().map(|n| edn_name(n)).collect();
    // Jepsen: one outstanding op per process. Extra concurrent ops of a
    // process go to fresh processes ("slots").
    let mut fresh_int =
        h.processes.iter().filter_map(|n| n.parse::<i128>().ok()).max().map_or(0, |m| m.saturating_add(1));
    let mut slot_names: BTreeMap<(usize, usize), String> = BTreeMap::new();
    let mut busy: BTreeMap<usize, Vec<bool>> = BTreeMap::new();
    let mut slot_of: Vec<usize> = vec![0; h.ops.len()];
    let mut out = String::new();
    for (index, o) in lines_of(h).into_iter().enumerate() {
        let (i, completion) = line_parts(o);
        let Some(op) = h.ops.get(i) else { continue };
        let slots = busy.entry(op.process).or_default();
        let slot = if completion {
            let s = slot_of.get(i).copied().unwrap_or(0);
            if let Some(b) = slots.get_mut(s) {
                *b = false;
            }
            s
        } else {
            let s = slots.iter().position(|b| !b).unwrap_or(slots.len());
            if s == slots.len() {
                slots.push(true);
            } else {
                slots[s] = true;
            }
            if let Some(x) = slot_of.get_mut(i) {
                *x = s;
            }
            s
        };
        let base = h.processes.get(op.process).cloned().unwrap_or_else(|| op.process.to_string());
        let process = if slot == 0 {
            edn_process(&base)
        } else {
            let name = slot_names.entry((op.process, slot)).or_insert_with(|| {
                if canonical_int_name(&base) {
                    let n = fresh_int.to_string();
                    fresh_int = fresh_int.saturating_add(1);
                    n
                } else {
                    format!("{base}/{slot}")
                }
            });
            edn_process(name)
        };
        let mut value = if completion { ret_value(&spell, op) } else { call_value(&spell, &op.call) };
        let key = op.key.map(|k| keys.get(k).cloned().unwrap_or_else(|| quote("?")));
        let time = if completion { op.complete_ns } else { op.invoke_ns };
        let mut line =
            format!("{{:index {index}, :type :{}, :process {process}, :f :{}", type_name(o, op), op.call.name());
        match key {
            Some(k) if tuples => value = format!("[{k} {value}]"),
            Some(k) => line.push_str(&format!(", :key {k}")),
            None => {}
        }
        line.push_str(&format!(", :value {value}"));
        if let Some(t) = time {
            line.push_str(&format!(", :time {t}"));
        }
        line.push_str("}\n");
        out.push_str(&line);
    }
    out
}
