//! Stack file sources and the located value tree they parse into: every
//! value keeps the file and byte offset it came from, across overlays.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use infra_core::{Diagnostic, Location, MAX_NESTING};
use toml::Spanned;

use super::resource::NESTING_HINT;
use toml::de::{DeTable, DeValue};

/// How deep the loader recurses: into tables and lists from a file's top
/// (where resource inputs start three levels down), and through variables
/// referring to variables. Values themselves are held to the smaller
/// [`MAX_NESTING`], checked where they are lowered; this bound only keeps
/// the recursion finite for what is certainly too deep.
pub(super) const MAX_DEPTH: usize = 128;

/// A place in one of the loaded files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    file: usize,
    offset: usize,
}

struct SourceFile {
    /// Relative to the project root, as shown in diagnostics.
    path: Arc<Path>,
    text: String,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

/// Every file read while loading a stack.
#[derive(Default)]
pub(super) struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file's text; returns its id for [`Sources::pos`].
    pub(super) fn add(&mut self, path: PathBuf, text: String) -> usize {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            path: path.into(),
            text,
            line_starts,
        });
        self.files.len() - 1
    }

    pub(super) fn text(&self, file: usize) -> &str {
        &self.files[file].text
    }

    pub(super) fn pos(&self, file: usize, offset: usize) -> Pos {
        Pos { file, offset }
    }

    /// The 1-based line and column (in characters) of a position.
    pub(super) fn location(&self, pos: Pos) -> Location {
        let f = &self.files[pos.file];
        location_in(&f.path, &f.text, &f.line_starts, pos.offset)
    }

    /// The position of byte `byte` of the string value `value` written at
    /// `pos`, when the source spells the string out verbatim between single
    /// quotes; otherwise (escapes, multi-line strings) the string's start.
    pub(super) fn inner_pos(&self, pos: Pos, value: &str, byte: usize) -> Pos {
        let text = self.text(pos.file);
        let rest = text.get(pos.offset..).unwrap_or("");
        let verbatim = (rest.starts_with('"') && !rest.starts_with("\"\"\""))
            || (rest.starts_with('\'') && !rest.starts_with("'''"));
        if verbatim && rest.get(1..1 + value.len()) == Some(value) {
            Pos {
                file: pos.file,
                offset: pos.offset + 1 + byte,
            }
        } else {
            pos
        }
    }

    /// Whether the value at `pos` is an inline table (`{ ... }`), whose
    /// key is a better place to point at than its brace.
    pub(super) fn is_inline_table(&self, pos: Pos) -> bool {
        self.text(pos.file).as_bytes().get(pos.offset) == Some(&b'{')
    }
}

/// The location of byte `offset` in `text` (clamped to the text).
pub(super) fn location_in(
    path: &Arc<Path>,
    text: &str,
    line_starts: &[usize],
    offset: usize,
) -> Location {
    let offset = offset.min(text.len());
    let line = line_starts.partition_point(|&s| s <= offset).max(1) - 1;
    let start = line_starts[line];
    let prefix = text.get(start..offset).map_or_else(
        // Not on a character boundary (never for toml spans): count bytes.
        || offset - start,
        |s| {
            if s.is_ascii() {
                s.len()
            } else {
                s.chars().count()
            }
        },
    );
    Location {
        file: Arc::clone(path),
        line: line + 1,
        column: prefix + 1,
    }
}

/// A value from a stack file, with where it was written.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

/// The kinds of TOML values.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// TOML datetimes are kept as their text.
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
    /// A value already reported as an error (nested too deeply, out of
    /// range); checked no further.
    Invalid,
}

/// A table: keys in sorted order, each with where the key was written.
pub(super) type Table = BTreeMap<String, Entry>;

/// One key of a table.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub key: Pos,
    pub value: Node,
}

impl Kind {
    /// What a user calls this kind of value.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Kind::String(_) => "string",
            Kind::Int(_) => "integer",
            Kind::Float(_) => "float",
            Kind::Bool(_) => "boolean",
            Kind::Datetime(_) => "datetime",
            Kind::Array(_) => "list",
            Kind::Table(_) => "table",
            Kind::Invalid => "invalid value",
        }
    }
}

/// Parses a file's text into a located tree. On syntax errors, returns
/// `None` after reporting each of them.
pub(super) fn parse(sources: &Sources, file: usize, diags: &mut Vec<Diagnostic>) -> Option<Table> {
    let text = sources.text(file);
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let offset = e.span().map_or(0, |s| s.start);
            let mut d = Diagnostic::error(format!("invalid toml: {}", e.message()))
                .at(sources.location(sources.pos(file, offset)));
            // The parser's own depth limit, above infra's.
            if e.message().contains("recursion") {
                d = d.hint(format!(
                    "values nest at most {MAX_NESTING} lists and tables deep: {NESTING_HINT}"
                ));
            }
            diags.push(d);
        }
        return None;
    }
    let mut cx = Convert {
        sources,
        file,
        diags,
        too_deep: false,
    };
    // Consumed as it is converted: its strings move over when owned, and
    // its memory is reused for the converted tree.
    Some(cx.table(doc.into_inner(), 0))
}

struct Convert<'a> {
    sources: &'a Sources,
    file: usize,
    diags: &'a mut Vec<Diagnostic>,
    too_deep: bool,
}

impl Convert<'_> {
    fn pos(&self, offset: usize) -> Pos {
        self.sources.pos(self.file, offset)
    }

    fn table(&mut self, table: DeTable<'_>, depth: usize) -> Table {
        table
            .into_iter()
            .map(|(k, v)| {
                let entry = Entry {
                    key: self.pos(k.span().start),
                    value: self.value(v, depth + 1),
                };
                (k.into_inner().into_owned(), entry)
            })
            .collect()
    }

    fn value(&mut self, value: Spanned<DeValue<'_>>, depth: usize) -> Node {
        let pos = self.pos(value.span().start);
        if depth > MAX_DEPTH {
            // Reported once per file: every branch below is as deep.
            if !self.too_deep {
                self.too_deep = true;
                // Inputs start three levels down, `[vars]` one: more than
                // MAX_NESTING whichever this is.
                self.diags.push(
                    Diagnostic::error(format!(
                        "value nested too deeply: more than {MAX_NESTING} lists and tables deep"
                    ))
                    .at(self.sources.location(pos))
                    .hint(NESTING_HINT),
                );
            }
            return Node {
                pos,
                kind: Kind::Invalid,
            };
        }
        let kind = match value.into_inner() {
            DeValue::String(s) => Kind::String(s.into_owned()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Kind::Int(n),
                Err(_) => self.invalid(pos, format!("integer `{i}` is out of range")),
            },
            DeValue::Float(x) => match x.as_str().parse::<f64>() {
                Ok(n) if n.is_finite() => Kind::Float(n),
                // JSON (state, plans, helm values) has no inf or nan.
                Ok(_) => self.invalid(
                    pos,
                    format!("`{x}` is not a finite number; infra values must be finite"),
                ),
                Err(_) => self.invalid(pos, format!("invalid float `{x}`")),
            },
            DeValue::Boolean(b) => Kind::Bool(b),
            DeValue::Datetime(d) => Kind::Datetime(d.to_string()),
            DeValue::Array(items) => Kind::Array(
                items
                    .into_iter()
                    .map(|v| self.value(v, depth + 1))
                    .collect(),
            ),
            DeValue::Table(t) => Kind::Table(self.table(t, depth)),
        };
        Node { pos, kind }
    }

    fn invalid(&mut self, pos: Pos, message: String) -> Kind {
        self.diags
            .push(Diagnostic::error(message).at(self.sources.location(pos)));
        Kind::Invalid
    }
}

/// Deep-merges `overlay` over `base`: tables merge key by key, anything
/// else (arrays included) replaces. A merged table keeps the base's
/// position, where it was first declared. Depth is bounded by the trees'.
pub(super) fn merge(base: &mut Table, overlay: Table) {
    for (key, entry) in overlay {
        match base.get_mut(&key) {
            Some(Entry {
                value:
                    Node {
                        kind: Kind::Table(b),
                        ..
                    },
                ..
            }) if matches!(entry.value.kind, Kind::Table(_)) => {
                if let Kind::Table(o) = entry.value.kind {
                    merge(b, o);
                }
            }
            _ => {
                base.insert(key, entry);
            }
        }
    }
}
