//! Loading a stack from TOML files: reading `stacks/<name>.toml` and the
//! files it `extends`, merging them, resolving `[vars]`, and lowering the
//! resources into the [`Stack`] model, collecting every diagnostic.

mod check;
mod interp;
mod resource;
mod source;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use infra_core::{Address, Diagnostic, PathSeg, Registry, Value, ValuePath};

use self::interp::{Interpolated, Vars};
use self::resource::StackIndex;
use self::source::{Entry, Kind, Node, Pos, Sources, Table};
use crate::Stack;

/// The result of loading: the stack when there were no errors, and every
/// diagnostic found (warnings may accompany a stack).
#[derive(Debug)]
pub struct Loaded {
    /// The stack, `None` when any diagnostic is an error.
    pub stack: Option<Stack>,
    /// All errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads `<root>/stacks/<name>.toml`, following `extends`, checking every
/// resource against its schema in `registry`. `env` looks up environment
/// variables (injected so tests need not touch the process environment).
pub fn load_stack(
    root: &Path,
    name: &str,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Loaded {
    let mut cx = Ctx {
        sources: Sources::default(),
        env,
        diags: Vec::new(),
        vars: Vars::default(),
    };
    let stack = cx.load(root, name, registry);
    let mut diagnostics = cx.diags;
    // Stable: problems at one place keep the order they were found in.
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.clone(), l.line, l.column))
        };
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        }
    });
    // The toml parser may report one problem twice.
    diagnostics.dedup();
    let stack = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        stack
    };
    Loaded { stack, diagnostics }
}

/// The state of one load: the files read, the variables, the diagnostics.
pub(super) struct Ctx<'a> {
    sources: Sources,
    env: &'a dyn Fn(&str) -> Option<String>,
    diags: Vec<Diagnostic>,
    vars: Vars,
}

/// Top-level keys every stack file may have, besides settings sections.
const TOP_LEVEL: [&str; 5] = ["check", "extends", "resources", "state", "vars"];

impl Ctx<'_> {
    /// Asks every provider reading `[section]` what is wrong with it, and
    /// reports each problem once, where it was written.
    fn check_settings(&mut self, registry: &Registry, section: &str, entry: &Entry, value: &Value) {
        let mut problems: Vec<(ValuePath, String)> = registry
            .providers()
            .filter(|p| p.settings_section() == Some(section))
            .flat_map(|p| p.check_settings(value))
            .collect();
        problems.sort();
        problems.dedup();
        for (path, message) in problems {
            let (key, value) = position_of(&entry.value, &path);
            // A key that should not be there is reported at the key; a
            // wrong value at the value.
            let pos = if message.contains("unknown key") {
                key
            } else {
                value
            };
            self.error_at(pos, message, format!("fix `[{section}]`"));
        }
    }

    fn error_at(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        let loc = self.sources.location(pos);
        self.diags
            .push(Diagnostic::error(message).at(loc).hint(hint));
    }

    fn load(&mut self, root: &Path, name: &str, registry: &Registry) -> Option<Stack> {
        let name = name.strip_suffix(".toml").unwrap_or(name);
        if !is_stack_name(name) {
            self.diags.push(
                Diagnostic::error(format!("invalid stack name `{name}`")).hint(format!(
                    "stack names use ASCII letters, digits, `_`, `-` and `.`; {}",
                    available_stacks_hint(root)
                )),
            );
            return None;
        }
        let path = PathBuf::from("stacks").join(format!("{name}.toml"));
        let table = self.load_chain(root, path)?;
        let sections = registry.settings_sections();
        for (key, entry) in &table {
            if !TOP_LEVEL.contains(&key.as_str()) && !sections.contains(&key.as_str()) {
                let allowed: Vec<&str> = TOP_LEVEL
                    .iter()
                    .copied()
                    .chain(sections.iter().copied())
                    .collect();
                let hint = match closest(key, allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("allowed: {}", allowed.join(", ")),
                };
                self.error_at(entry.key, format!("unknown top-level key `{key}`"), hint);
            }
        }
        self.resolve_vars(&table);
        let mut settings = BTreeMap::new();
        for section in sections {
            let Some(entry) = table.get(section) else {
                continue;
            };
            if !matches!(entry.value.kind, Kind::Table(_)) {
                self.error_at(
                    entry.value.pos,
                    format!(
                        "`{section}` must be a table, found {}",
                        entry.value.kind.name()
                    ),
                    format!("write its settings under `[{section}]`"),
                );
                continue;
            }
            if let Some(v) = self.node_to_value(&entry.value, &format!("`[{section}]`"), 0) {
                self.check_settings(registry, section, entry, &v);
                settings.insert(section.to_owned(), v);
            }
        }
        let state = table.get("state").and_then(|e| self.state(e, registry));
        let check = table
            .get("check")
            .map(|e| self.check_table(e))
            .unwrap_or_default();
        let resources = self.resources(&table, registry);
        Some(Stack {
            name: name.to_owned(),
            root: root.to_path_buf(),
            settings,
            state,
            resources,
            check,
        })
    }

    /// Reads a stack file and every file it extends, returning the merged
    /// table (without `extends`), or `None` after reporting why not.
    fn load_chain(&mut self, root: &Path, first: PathBuf) -> Option<Table> {
        let mut tables = Vec::new();
        let mut chain: Vec<PathBuf> = Vec::new();
        let mut next = first;
        // Where the `extends` naming `next` was written.
        let mut named_at: Option<Pos> = None;
        loop {
            if chain.contains(&next) {
                chain.push(next);
                let path: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
                let message = format!("extends cycle: {}", path.join(" -> "));
                match named_at {
                    Some(pos) => self.error_at(pos, message, "remove one of these `extends`"),
                    None => self.diags.push(Diagnostic::error(message)),
                }
                return None;
            }
            let text = self.read(root, &next, named_at)?;
            let file = self.sources.add(next.clone(), text);
            let mut table = source::parse(&self.sources, file, &mut self.diags)?;
            let extends = table.remove("extends");
            let dir = next.parent().map(Path::to_path_buf).unwrap_or_default();
            chain.push(next.clone());
            tables.push(table);
            let Some(extends) = extends else { break };
            let Kind::String(target) = &extends.value.kind else {
                self.error_at(
                    extends.value.pos,
                    format!(
                        "`extends` must be a string, found {}",
                        extends.value.kind.name()
                    ),
                    "name the base stack file, e.g. `extends = \"airflow.toml\"`",
                );
                return None;
            };
            next = normalize(&dir.join(target));
            named_at = Some(extends.value.pos);
        }
        // The last file read is the base; overlays apply from there up.
        let mut merged = tables.pop().unwrap_or_default();
        while let Some(overlay) = tables.pop() {
            source::merge(&mut merged, overlay);
        }
        Some(merged)
    }

    /// Reads a file as UTF-8; `named_at` is where an `extends` named it.
    fn read(&mut self, root: &Path, path: &Path, named_at: Option<Pos>) -> Option<String> {
        let shown = path.display();
        let not_a_stack_hint = if named_at.is_some() {
            "check what `extends` names: it must be a stack file".to_owned()
        } else {
            format!("make `{shown}` a regular file holding the stack's TOML")
        };
        let mut diag = match read_limited(&root.join(path)) {
            Err(ReadError::NotAFile(what)) => {
                Diagnostic::error(format!("`{shown}` is {what}, not a stack file"))
                    .hint(not_a_stack_hint)
            }
            Ok(None) => Diagnostic::error(format!(
                "`{shown}` is larger than {} MiB; a stack file is never that large",
                MAX_FILE_BYTES >> 20
            ))
            .hint(not_a_stack_hint),
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(text) => return Some(text),
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let bytes = e.as_bytes();
                    let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                    let mut starts = vec![0];
                    starts.extend(prefix.match_indices('\n').map(|(i, _)| i + 1));
                    let loc = source::location_in(&path.into(), prefix, &starts, valid);
                    self.diags.push(
                        Diagnostic::error(format!("`{shown}` is not valid UTF-8"))
                            .at(loc)
                            .hint("save the file as UTF-8"),
                    );
                    return None;
                }
            },
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                Diagnostic::error(format!("cannot read `{shown}`: no such file"))
                    .hint(available_stacks_hint(root))
            }
            Err(ReadError::Io(e)) => Diagnostic::error(format!("cannot read `{shown}`: {e}")),
        };
        if let Some(pos) = named_at {
            diag = diag.at(self.sources.location(pos));
        }
        self.diags.push(diag);
        None
    }

    /// Resolves every variable, reporting each problem once.
    fn resolve_vars(&mut self, table: &Table) {
        let Some(entry) = table.get("vars") else {
            return;
        };
        let Kind::Table(vars) = &entry.value.kind else {
            self.error_at(
                entry.value.pos,
                format!("`vars` must be a table, found {}", entry.value.kind.name()),
                "declare variables under `[vars]`",
            );
            return;
        };
        self.vars = Vars::new(vars.clone());
        for (name, entry) in vars {
            self.resolve_var(name, entry.value.pos, 0);
        }
    }

    fn state(&mut self, entry: &Entry, registry: &Registry) -> Option<String> {
        let Kind::String(s) = &entry.value.kind else {
            self.error_at(
                entry.value.pos,
                format!(
                    "`state` must be a string, found {}",
                    entry.value.kind.name()
                ),
                "write where state lives, e.g. `state = \"s3://bucket/key\"`",
            );
            return None;
        };
        let interp = self.interpolate(s, entry.value.pos, 0)?;
        match interp.value {
            Interpolated::Value(Value::String(s)) => {
                let scheme = s.split_once("://").map(|(scheme, _)| scheme);
                if scheme.is_some_and(|scheme| registry.backend(scheme).is_some()) {
                    return Some(s);
                }
                let known: Vec<String> = registry
                    .backend_schemes()
                    .map(|s| format!("{s}://..."))
                    .collect();
                let message = match scheme {
                    Some(scheme) => {
                        format!("state backend `{scheme}://` is not supported by this build")
                    }
                    None => format!("state location `{s}` has no scheme"),
                };
                let hint = if known.is_empty() {
                    "remove `state` to keep state under state/".to_owned()
                } else {
                    format!(
                        "write one of: {}; or remove `state` to keep state under state/",
                        known.join(", ")
                    )
                };
                self.error_at(entry.value.pos, message, hint);
                None
            }
            Interpolated::Value(other) => {
                self.error_at(
                    entry.value.pos,
                    format!("`state` must be a string, found {}", other.kind()),
                    "write where state lives, e.g. `state = \"s3://bucket/key\"`",
                );
                None
            }
            Interpolated::Ref(_) | Interpolated::Template(_) => {
                self.error_at(
                    entry.value.pos,
                    "resource reference in `state`",
                    "state is located before any resource exists; use a literal, `${var.*}` or `${env.*}`",
                );
                None
            }
        }
    }

    /// Collects the declared addresses, then lowers each resource.
    fn resources(&mut self, table: &Table, registry: &Registry) -> Vec<crate::ResourceConfig> {
        let Some(entry) = table.get("resources") else {
            return Vec::new();
        };
        let Kind::Table(types) = &entry.value.kind else {
            self.error_at(
                entry.value.pos,
                format!(
                    "`resources` must be a table, found {}",
                    entry.value.kind.name()
                ),
                "declare resources as `[resources.<type>.<name>]`",
            );
            return Vec::new();
        };
        let mut declared = BTreeSet::new();
        let mut disabled = BTreeMap::new();
        let mut todo = Vec::new();
        for (ty, type_entry) in types {
            // A quoted key may hold anything, but an address is
            // `<type>.<name>`: say so before the names look wrong.
            if !is_identifier(ty) {
                let (message, fallback) = if ty.contains('.') {
                    (
                        format!("resource type `{ty}` contains a dot"),
                        "addresses are `<type>.<name>`: write the type without dots, unquoted",
                    )
                } else {
                    (
                        format!("invalid resource type `{ty}`"),
                        "types use ASCII letters, digits, `_` and `-`",
                    )
                };
                let hint = match closest(ty, registry.type_names()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => fallback.to_owned(),
                };
                self.error_at(type_entry.key, message, hint);
                continue;
            }
            let Kind::Table(named) = &type_entry.value.kind else {
                self.error_at(
                    type_entry.value.pos,
                    format!(
                        "`resources.{ty}` must be a table of resources, found {}",
                        type_entry.value.kind.name()
                    ),
                    format!("declare resources as `[resources.{ty}.<name>]`"),
                );
                continue;
            };
            let provider = registry.get(ty);
            if provider.is_none() {
                let hint = match (registry.hint(ty), closest(ty, registry.type_names())) {
                    (Some(hint), _) => hint.to_owned(),
                    (None, Some(c)) => format!("did you mean `{c}`?"),
                    (None, None) => format!(
                        "known types: {}",
                        registry.type_names().collect::<Vec<_>>().join(", ")
                    ),
                };
                self.error_at(
                    type_entry.key,
                    format!("unknown resource type `{ty}`"),
                    hint,
                );
            }
            for (name, entry) in named {
                let Ok(address) = Address::new(ty, name) else {
                    self.error_at(
                        entry.key,
                        format!("invalid resource name `{name}`"),
                        "names use ASCII letters, digits, `_` and `-`",
                    );
                    continue;
                };
                if !matches!(entry.value.kind, Kind::Table(_)) {
                    self.error_at(
                        entry.value.pos,
                        format!(
                            "resource `{address}` must be a table, found {}",
                            entry.value.kind.name()
                        ),
                        format!("write its attributes under `[resources.{ty}.{name}]`"),
                    );
                    continue;
                }
                // `enabled = false` (typically in an overlay) leaves it out:
                // a resource in state that is disabled is planned for deletion.
                if let Kind::Table(t) = &entry.value.kind
                    && let Some(enabled) = t.get("enabled")
                {
                    match enabled.value.kind {
                        Kind::Bool(true) => {}
                        Kind::Bool(false) => {
                            disabled.insert(address, self.sources.location(enabled.value.pos));
                            continue;
                        }
                        _ => {
                            self.error_at(
                                enabled.value.pos,
                                format!(
                                    "`enabled` of `{address}` must be true or false, found {}",
                                    enabled.value.kind.name()
                                ),
                                "write `enabled = false` to leave the resource out of this stack",
                            );
                            continue;
                        }
                    }
                }
                // Declared even when its type is unknown, so references to
                // it do not add a second error.
                declared.insert(address.clone());
                if let Some(p) = provider {
                    todo.push((address, p, entry));
                }
            }
        }
        let index = StackIndex {
            registry,
            declared,
            disabled,
        };
        let mut out = Vec::with_capacity(todo.len());
        out.extend(todo.into_iter().filter_map(|(address, provider, entry)| {
            self.lower_resource(&index, provider.schema(), address, entry)
        }));
        out.sort_by(|a, b| a.address.cmp(&b.address));
        out
    }
}

/// The hint for a missing stack: which stacks exist.
fn available_stacks_hint(root: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(root.join("stacks"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            // Only what `--stack` would accept.
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".toml")?;
            (is_stack_name(stem) && e.path().is_file()).then(|| stem.to_owned())
        })
        .collect();
    names.sort();
    if names.is_empty() {
        "no stacks in `stacks/`: create `stacks/<name>.toml`".to_owned()
    } else {
        format!("available stacks: {}", names.join(", "))
    }
}

/// Whether `--stack` accepts this name: ASCII letters, digits, `_`, `-`
/// and `.`, not starting with `.` (no hidden files, no way out of
/// `stacks/`).
fn is_stack_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Removes `.` and resolves `..` lexically, so a file reached two ways has
/// one name (for cycle detection and diagnostics).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let up = matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir)
                );
                if up {
                    out.push("..");
                } else {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Identifiers as in addresses and variable names.
pub(super) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The candidate closest to `name`, if close enough to be a likely typo.
pub(super) fn closest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    // Nobody mistypes a key of hundreds of characters; and the distance
    // costs O(n·m).
    if name.len() > 256 {
        return None;
    }
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Where the value at `path` under `node` was written: its key and its
/// value (the deepest that exists).
fn position_of(node: &Node, path: &[PathSeg]) -> (Pos, Pos) {
    let (mut key, mut node) = (node.pos, node);
    for seg in path {
        match (seg, &node.kind) {
            (PathSeg::Key(k), Kind::Table(t)) => match t.get(k) {
                Some(e) => {
                    key = e.key;
                    node = &e.value;
                }
                None => break,
            },
            (PathSeg::Index(i), Kind::Array(items)) => match items.get(*i) {
                Some(n) => {
                    key = n.pos;
                    node = n;
                }
                None => break,
            },
            _ => break,
        }
    }
    (key, node.pos)
}

/// The largest stack file read: far beyond any real one, and a bound on
/// what `extends` naming some huge file can cost.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a stack file could not be read.
enum ReadError {
    /// Neither a regular file nor a directory: what it is instead.
    NotAFile(&'static str),
    Io(io::Error),
}

/// The file's bytes, or `None` when it is larger than [`MAX_FILE_BYTES`].
/// Only regular files are opened: opening a FIFO waits for a writer, and
/// a device may never end. A directory is opened, so that reading it
/// fails with the system's own message.
fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    use std::io::Read as _;
    let file_type = std::fs::metadata(path).map_err(ReadError::Io)?.file_type();
    if !file_type.is_file() && !file_type.is_dir() {
        return Err(ReadError::NotAFile(special_file_kind(file_type)));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(ReadError::Io)?;
    Ok((bytes.len() as u64 <= MAX_FILE_BYTES).then_some(bytes))
}

/// What a file that is neither regular nor a directory is, for messages.
#[cfg(unix)]
fn special_file_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_: std::fs::FileType) -> &'static str {
    "a special file"
}
