//! Finding keys in a TOML source: from a byte offset to the dotted key path
//! that holds it, and from a key path to its line. Every error message about
//! a scenario file names the file, the line and the key.

use toml_edit::{Document, Item, TableLike, Value};

/// A parsed TOML source with spans.
pub struct Locator<'a> {
    text: &'a str,
    doc: Option<Document<&'a str>>,
}

fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Locator<'a> {
        Locator { text, doc: Document::parse(text).ok() }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    /// The deepest key path whose key or value covers `offset`.
    pub fn path_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc.as_ref()?;
        let mut best = None;
        walk_table(doc.as_table(), "", offset, &mut best);
        best
    }

    /// The deepest table whose span holds all of `span`; `""` for the root.
    /// toml gives errors about the whole document an empty span at 0.
    pub fn path_containing(&self, span: std::ops::Range<usize>) -> String {
        let Some(doc) = self.doc.as_ref() else { return String::new() };
        if span.is_empty() {
            return String::new();
        }
        let mut best = String::new();
        containing_table(doc.as_table(), "", &span, &mut best);
        best
    }

    /// Calls `f` with every value that is not a table, and its key path
    /// (`network.loss`, `faults.schedule[0].groups`), in document order.
    pub fn for_each_value(&self, f: &mut dyn FnMut(&str, &Value)) {
        if let Some(doc) = self.doc.as_ref() {
            visit_table(doc.as_table(), "", f);
        }
    }

    /// The line of a dotted key path such as `faults.schedule[1].node`.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut table: &dyn TableLike = doc.as_table();
        let mut line = None;
        let segments = split_path(path);
        let mut i = 0;
        while i < segments.len() {
            let (name, index) = &segments[i];
            let (key, item) = table.get_key_value(name)?;
            line = key.span().map(|s| self.line_col(s.start).0).or(line);
            let next: Option<&dyn TableLike> = match (item, index) {
                (Item::ArrayOfTables(a), Some(ix)) => {
                    let t = a.get(*ix)?;
                    line = t.span().map(|s| self.line_col(s.start).0).or(line);
                    Some(t)
                }
                (Item::Value(Value::Array(a)), Some(ix)) => {
                    let v = a.get(*ix)?;
                    line = v.span().map(|s| self.line_col(s.start).0).or(line);
                    v.as_inline_table().map(|t| t as &dyn TableLike)
                }
                (item, None) => item.as_table_like(),
                _ => None,
            };
            i += 1;
            match next {
                Some(t) => table = t,
                None if i < segments.len() => return line,
                None => {}
            }
        }
        line
    }
}

fn split_path(path: &str) -> Vec<(String, Option<usize>)> {
    path.split('.')
        .map(|seg| match seg.find('[') {
            Some(b) => (seg[..b].to_string(), seg[b + 1..].trim_end_matches(']').parse().ok()),
            None => (seg.to_string(), None),
        })
        .collect()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

fn visit_table(t: &dyn TableLike, prefix: &str, f: &mut dyn FnMut(&str, &Value)) {
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        match item {
            Item::Table(sub) => visit_table(sub, &path, f),
            Item::ArrayOfTables(a) => {
                for (i, sub) in a.iter().enumerate() {
                    visit_table(sub, &format!("{path}[{i}]"), f);
                }
            }
            Item::Value(Value::InlineTable(sub)) => visit_table(sub, &path, f),
            Item::Value(v) => f(&path, v),
            Item::None => {}
        }
    }
}

fn holds(outer: Option<std::ops::Range<usize>>, inner: &std::ops::Range<usize>) -> bool {
    outer.is_some_and(|o| o.start <= inner.start && inner.end <= o.end)
}

fn containing_table(t: &dyn TableLike, prefix: &str, span: &std::ops::Range<usize>, best: &mut String) {
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        match item {
            Item::Table(sub) => {
                if holds(sub.span(), span) {
                    *best = path.clone();
                }
                containing_table(sub, &path, span, best);
            }
            Item::ArrayOfTables(a) => {
                for (i, sub) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if holds(sub.span(), span) {
                        *best = p.clone();
                    }
                    containing_table(sub, &p, span, best);
                }
            }
            Item::Value(Value::InlineTable(sub)) => {
                if holds(item.span(), span) {
                    *best = path.clone();
                }
                containing_table(sub, &path, span, best);
            }
            _ => {}
        }
    }
}

fn walk_table(t: &dyn TableLike, prefix: &str, offset: usize, best: &mut Option<String>) {
    for (k, item) in t.iter() {
        let path = join(prefix, k);
        let key_span = t.get_key_value(k).and_then(|(key, _)| key.span());
        if contains(key_span, offset) || contains(item.span(), offset) {
            *best = Some(path.clone());
        }
        walk_item(item, &path, offset, best);
    }
}

fn walk_item(item: &Item, path: &str, offset: usize, best: &mut Option<String>) {
    match item {
        Item::Table(t) => walk_table(t, path, offset, best),
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if contains(t.span(), offset) {
                    *best = Some(p.clone());
                }
                walk_table(t, &p, offset, best);
            }
        }
        Item::Value(v) => walk_value(v, path, offset, best),
        Item::None => {}
    }
}

fn walk_value(v: &Value, path: &str, offset: usize, best: &mut Option<String>) {
    match v {
        Value::InlineTable(t) => walk_table(t, path, offset, best),
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if contains(e.span(), offset) {
                    *best = Some(p.clone());
                }
                walk_value(e, &p, offset, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[scenario]\nname = \"x\"\n\n[network]\nloss = 0.5\nlatency_ms = { dist = \"uniform\", min = 1, max = 2 }\n\n[[faults.schedule]]\nat_ms = 1\n\n[[faults.schedule]]\nat_ms = 2\nnode = \"s1\"\n";

    #[test]
    fn finds_paths_from_offsets() {
        let l = Locator::new(DOC);
        let at = |needle: &str| l.path_at(DOC.find(needle).unwrap());
        assert_eq!(at("0.5").as_deref(), Some("network.loss"));
        assert_eq!(at("max = 2").as_deref(), Some("network.latency_ms.max"));
        assert_eq!(at("\"s1\"").as_deref(), Some("faults.schedule[1].node"));
    }

    #[test]
    fn finds_lines_from_paths() {
        let l = Locator::new(DOC);
        assert_eq!(l.line_of("network.loss"), Some(5));
        assert_eq!(l.line_of("faults.schedule[1].node"), Some(13));
        assert_eq!(l.line_of("faults.schedule[0].at_ms"), Some(9));
        assert_eq!(l.line_of("nope"), None);
        assert_eq!(l.line_col(DOC.find("loss").unwrap()), (5, 1));
    }
}
