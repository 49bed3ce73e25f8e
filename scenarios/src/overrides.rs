//! `--set key=value` overrides, applied to the scenario's TOML text before it
//! is parsed, so an override is checked exactly like the file itself.

use crate::error::InputError;
use toml_edit::{DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// One parsed `--set` argument.
#[derive(Clone, Debug)]
pub struct Override {
    /// As typed, for messages and repro commands.
    pub raw: String,
    /// Dotted key path, e.g. `network.loss` or `faults.schedule[0].at_ms`.
    pub path: String,
    segments: Vec<(String, Option<usize>)>,
    value: Value,
}

impl Override {
    /// Parses `key=value`. The value is TOML (`0.1`, `true`, `"x"`, `[1, 2]`,
    /// `{ dist = "uniform", min = 1, max = 2 }`); anything that is not valid
    /// TOML is taken as a string, so `--set params.query=iterative` works.
    pub fn parse(raw: &str) -> Result<Override, InputError> {
        let err = |m: String| {
            InputError::new("--set", m).with_hint("write --set section.key=value, e.g. --set network.loss=0.1")
        };
        let (path, value_text) = raw.split_once('=').ok_or_else(|| err(format!("`{raw}` has no `=`")))?;
        let path = path.trim();
        let mut segments = Vec::new();
        for seg in path.split('.') {
            let (name, index) = match seg.find('[') {
                Some(b) if seg.ends_with(']') => {
                    let ix = seg[b + 1..seg.len() - 1]
                        .parse::<usize>()
                        .map_err(|_| err(format!("bad index in `{seg}`: use name[0], name[1], ...")))?;
                    (&seg[..b], Some(ix))
                }
                Some(_) => return Err(err(format!("bad key segment `{seg}`"))),
                None => (seg, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(err(format!("bad key `{path}`: segments are letters, digits, `_` and `-`")));
            }
            segments.push((name.to_string(), index));
        }
        let value_text = value_text.trim();
        let value = match format!("v = {value_text}").parse::<DocumentMut>() {
            Ok(doc) => match doc.get("v") {
                Some(Item::Value(v)) => v.clone(),
                _ => Value::from(value_text),
            },
            Err(_) => Value::from(value_text),
        };
        Ok(Override { raw: raw.to_string(), path: path.to_string(), segments, value })
    }
}

/// Applies overrides to `text` and returns the new text.
pub fn apply(file: &str, text: &str, overrides: &[Override]) -> Result<String, InputError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| InputError::new(file, format!("not valid TOML: {}", e.message())))?;
    for o in overrides {
        let fail = |m: String| InputError::new("--set", format!("`{}`: {m}", o.raw)).at_key(o.path.clone());
        let (last, parents) = o.segments.split_last().expect("a path has at least one segment");
        let mut table: &mut dyn TableLike = doc.as_table_mut();
        // Whether `table` is an inline table (`{ a = 1 }`), where only values
        // may be inserted.
        let mut inline = false;
        let mut walked = String::new();
        for (name, index) in parents {
            walked = if walked.is_empty() { name.clone() } else { format!("{walked}.{name}") };
            if table.get(name).is_none() {
                if let Some(ix) = index {
                    return Err(fail(format!("`{walked}` has no entries; index {ix} is out of range")));
                }
                // Inside an inline table only inline tables may be created.
                let fresh = if inline {
                    Item::Value(Value::InlineTable(InlineTable::new()))
                } else {
                    let mut t = Table::new();
                    t.set_implicit(true);
                    Item::Table(t)
                };
                table.insert(name, fresh);
            }
            let item = table.get_mut(name).expect("present or just inserted");
            inline = matches!(item, Item::Value(_));
            table = match (item, index) {
                (Item::ArrayOfTables(a), Some(ix)) => {
                    let len = a.len();
                    a.get_mut(*ix)
                        .ok_or_else(|| fail(format!("`{walked}` has {len} entries; index {ix} is out of range")))?
                }
                (Item::Value(Value::Array(a)), Some(ix)) => {
                    let len = a.len();
                    match a.get_mut(*ix) {
                        Some(Value::InlineTable(t)) => t,
                        Some(_) => return Err(fail(format!("`{walked}[{ix}]` is not a table"))),
                        None => return Err(fail(format!("`{walked}` has {len} entries; index {ix} is out of range"))),
                    }
                }
                (Item::ArrayOfTables(_), None) => {
                    return Err(fail(format!("`{walked}` is a list of tables: name an entry, e.g. {walked}[0]")));
                }
                (item, None) => match item.as_table_like_mut() {
                    Some(t) => t,
                    None => return Err(fail(format!("`{walked}` is not a table"))),
                },
                (_, Some(_)) => return Err(fail(format!("`{walked}` is not a list"))),
            };
        }
        if last.1.is_some() {
            return Err(fail("the last segment cannot be indexed: set the whole value, e.g. key=[1, 2]".into()));
        }
        if matches!(table.get(&last.0), Some(Item::Table(_) | Item::ArrayOfTables(_))) {
            return Err(fail(format!("`{}` is a table: set one of its keys instead", last.0)));
        }
        table.insert(&last.0, Item::Value(o.value.clone()));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, sets: &[&str]) -> Result<String, String> {
        let os: Vec<Override> =
            sets.iter().map(|s| Override::parse(s)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
        apply("f.toml", text, &os).map_err(|e| e.to_string())
    }

    #[test]
    fn replaces_and_adds_values() {
        let out = set("[network]\nloss = 0.0\n", &["network.loss=0.25", "network.fifo=true"]).unwrap();
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["network"]["loss"].as_float(), Some(0.25));
        assert_eq!(v["network"]["fifo"].as_bool(), Some(true));
    }

    #[test]
    fn bare_words_are_strings_and_new_tables_are_created() {
        let out = set("[scenario]\nname = \"a\"\n", &["params.query=iterative"]).unwrap();
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["params"]["query"].as_str(), Some("iterative"));
    }

    #[test]
    fn indexes_into_lists_of_tables() {
        let out = set("[[faults.schedule]]\nat_ms = 1\n", &["faults.schedule[0].at_ms=5"]).unwrap();
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["faults"]["schedule"][0]["at_ms"].as_integer(), Some(5));
        assert!(
            set("[[faults.schedule]]\nat_ms = 1\n", &["faults.schedule[3].at_ms=5"])
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn reaches_into_inline_tables() {
        let text = "[workload]\nmix = { get = 0.5, put = 0.5 }\n[network]\nlatency_ms = { dist = \"uniform\", min = 1, max = 2 }\n";
        let out = set(text, &["workload.mix.get=0.9", "network.latency_ms.max=3"]).unwrap();
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["workload"]["mix"]["get"].as_float(), Some(0.9));
        assert_eq!(v["workload"]["mix"]["put"].as_float(), Some(0.5));
        assert_eq!(v["network"]["latency_ms"]["max"].as_integer(), Some(3));
        let out = set("[workload]\nmix = { get = 1 }\n", &["workload.mix.extra.deep=1"]).unwrap();
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(v["workload"]["mix"]["extra"]["deep"].as_integer(), Some(1));
    }

    #[test]
    fn indexing_a_missing_list_says_so() {
        let e = set("[scenario]\nname = \"a\"\n", &["faults.schedule[0].at_ms=5"]).unwrap_err();
        assert!(e.contains("`faults.schedule` has no entries; index 0 is out of range"), "{e}");
    }

    #[test]
    fn rejects_malformed_overrides() {
        assert!(set("", &["network.loss"]).unwrap_err().contains("has no `=`"));
        assert!(set("", &["net work=1"]).unwrap_err().contains("bad key"));
        assert!(set("[network]\nloss = 1\n", &["network=1"]).unwrap_err().contains("is a table"));
    }
}
