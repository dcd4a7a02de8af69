//! End-to-end tests of `infra diff --stack A --stack B`: the shipped
//! staging and prod stacks differ in exactly what their overlays change
//! (derived here from the files, so the test stays true as the stacks
//! change); the human output of a small pair; secrets never printed;
//! resources on one side only; errors at their line; `--stack` counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::cli_support::{Project, Run};
use expect_test::expect;
use infra_core::{PathSeg, Presence, Schema, Type, is_bare_key};
use serde_json::Value as Json;

/// A project holding these files under `stacks/`.
fn project(files: &[(&str, &str)]) -> Project {
    let p = Project::new("");
    for (name, text) in files {
        std::fs::write(p.root().join("stacks").join(name), text).expect("write stack file");
    }
    p
}

/// `infra ARGS` in the project, without the default `--stack x`.
fn infra(p: &Project, args: &[&str]) -> Run {
    p.bare(args).output().expect("run infra").into()
}

fn diff_json(p: &Project, a: &str, b: &str) -> Json {
    let run = infra(p, &["diff", "--stack", a, "--stack", b, "--json"]);
    run.expect_code(0);
    serde_json::from_str(&run.stdout).expect("diff --json is JSON")
}

// ------------------------------------------------------------ staging/prod

/// A stack read the simple way, from the TOML text alone: its files
/// merged as `extends` says (tables key by key, anything else replaced),
/// `${var.*}` substituted.
struct Raw {
    /// The files, the stack's own first, its base last.
    chain: Vec<PathBuf>,
    /// Each file as written.
    files: Vec<toml::Table>,
    /// The merged table, variables substituted, defaults filled.
    merged: toml::Table,
}

fn read_raw(root: &Path, name: &str) -> Raw {
    let mut chain = Vec::new();
    let mut files = Vec::new();
    let mut next = PathBuf::from(format!("stacks/{name}.toml"));
    loop {
        let text = std::fs::read_to_string(root.join(&next)).expect("read stack file");
        let table: toml::Table = text.parse().expect("stack file is TOML");
        let extends = table
            .get("extends")
            .and_then(|e| e.as_str())
            .map(str::to_owned);
        chain.push(next.clone());
        files.push(table);
        let Some(extends) = extends else { break };
        next = next.parent().expect("in stacks/").join(extends);
    }
    let mut merged = toml::Table::new();
    for file in files.iter().rev() {
        merge(&mut merged, file.clone());
    }
    merged.remove("extends");
    let registry = infra::default_registry();
    if let Some(toml::Value::Table(types)) = merged.get_mut("resources") {
        for (ty, resources) in types.iter_mut() {
            let schema = registry.get(ty).expect("a known type").schema();
            for (_, r) in resources.as_table_mut().expect("a table of resources") {
                fill_defaults(
                    &schema.attributes,
                    r.as_table_mut().expect("a resource table"),
                );
            }
        }
    }
    let vars = merged
        .get("vars")
        .and_then(|v| v.as_table())
        .cloned()
        .unwrap_or_default();
    let mut merged = toml::Value::Table(merged);
    substitute(&mut merged, &vars);
    let toml::Value::Table(merged) = merged else {
        unreachable!()
    };
    Raw {
        chain,
        files,
        merged,
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The schema's defaults where a table written in the file leaves them
/// out (tables a `${var.*}` brings in get none, as in the loader).
fn fill_defaults(attrs: &[infra_core::Attribute], table: &mut toml::Table) {
    for a in attrs {
        match table.get_mut(&a.name) {
            None => {
                if let Presence::Default(v) = &a.presence {
                    let json = serde_json::to_value(v).expect("a default is JSON");
                    let value: toml::Value =
                        serde_json::from_value(json).expect("a default is TOML");
                    table.insert(a.name.clone(), value);
                }
            }
            Some(v) => fill_inner(&a.ty, v),
        }
    }
}

fn fill_inner(ty: &Type, v: &mut toml::Value) {
    match (ty, v) {
        (Type::Object(attrs), toml::Value::Table(t)) => fill_defaults(attrs, t),
        (Type::List(item) | Type::Set(item), toml::Value::Array(items)) => {
            items.iter_mut().for_each(|v| fill_inner(item, v));
        }
        (Type::Map(item), toml::Value::Table(t)) => {
            t.iter_mut().for_each(|(_, v)| fill_inner(item, v))
        }
        _ => {}
    }
}

fn substitute(v: &mut toml::Value, vars: &toml::Table) {
    match v {
        toml::Value::String(s) => {
            if let Some(name) = s.strip_prefix("${var.").and_then(|r| r.strip_suffix('}'))
                && !name.contains('}')
            {
                let mut value = vars.get(name).expect("a declared variable").clone();
                substitute(&mut value, vars);
                *v = value;
                return;
            }
            while let Some(start) = s.find("${var.") {
                let end = start + s[start..].find('}').expect("closed");
                let name = &s[start + 6..end];
                let mut value = vars.get(name).expect("a declared variable").clone();
                substitute(&mut value, vars);
                let text = match value {
                    toml::Value::String(t) => t,
                    other => other.to_string(),
                };
                s.replace_range(start..=end, &text);
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, vars)),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| substitute(v, vars)),
        _ => {}
    }
}

fn show_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) if is_bare_key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&format!("{k:?}"));
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The leaves at which two values differ, by the rule `infra diff`
/// documents: tables key by key, lists of tables of equal length item by
/// item (unless a set), anything else whole (sets in any order).
fn differing(
    schema: Option<&Schema>,
    path: &mut Vec<PathSeg>,
    a: Option<&toml::Value>,
    b: Option<&toml::Value>,
    out: &mut BTreeSet<String>,
) {
    use toml::Value::{Array, Table};
    let is_set = schema.is_some_and(|s| s.is_set_at(path));
    let open = |v: Option<&toml::Value>| matches!(v, Some(Table(t)) if !t.is_empty());
    let keys = |x: Option<&toml::Table>, y: Option<&toml::Table>| -> BTreeSet<String> {
        x.into_iter()
            .chain(y)
            .flat_map(|t| t.keys().cloned())
            .collect()
    };
    let tables = match (a, b) {
        (Some(Table(x)), Some(Table(y))) => Some((Some(x), Some(y))),
        (Some(Table(x)), None) if open(a) => Some((Some(x), None)),
        (None, Some(Table(y))) if open(b) => Some((None, Some(y))),
        _ => None,
    };
    if let Some((x, y)) = tables {
        for k in keys(x, y) {
            path.push(PathSeg::Key(k.clone()));
            differing(
                schema,
                path,
                x.and_then(|t| t.get(&k)),
                y.and_then(|t| t.get(&k)),
                out,
            );
            path.pop();
        }
        return;
    }
    if let (Some(Array(x)), Some(Array(y))) = (a, b)
        && x.len() == y.len()
        && x.iter().chain(y).all(|v| v.is_table())
        && !is_set
    {
        for (i, (x, y)) in x.iter().zip(y).enumerate() {
            path.push(PathSeg::Index(i));
            differing(schema, path, Some(x), Some(y), out);
            path.pop();
        }
        return;
    }
    let same = match (a, b) {
        (Some(Array(x)), Some(Array(y))) if is_set => {
            let items = |l: &[toml::Value]| -> BTreeSet<String> {
                l.iter().map(ToString::to_string).collect()
            };
            items(x) == items(y)
        }
        (x, y) => x == y,
    };
    if !same {
        out.insert(show_path(path));
    }
}

const RESERVED: [&str; 3] = ["depends_on", "enabled", "lifecycle"];

/// The resources of a merged stack by address, without the disabled ones.
fn resources(raw: &Raw) -> BTreeMap<String, toml::Table> {
    let mut out = BTreeMap::new();
    let Some(toml::Value::Table(types)) = raw.merged.get("resources") else {
        return out;
    };
    for (ty, named) in types {
        for (name, r) in named.as_table().expect("resources by name") {
            let r = r.as_table().expect("a resource table");
            if r.get("enabled").and_then(toml::Value::as_bool) == Some(false) {
                continue;
            }
            out.insert(format!("{ty}.{name}"), r.clone());
        }
    }
    out
}

/// What `infra diff` should list for two stacks, from their files alone:
/// `(address, path)` of every differing attribute (`settings` as the
/// address of the settings), and the addresses only in each.
struct Expected {
    attributes: BTreeSet<(String, String)>,
    only_a: BTreeSet<String>,
    only_b: BTreeSet<String>,
}

fn expected(a: &Raw, b: &Raw) -> Expected {
    let registry = infra::default_registry();
    let mut attributes = BTreeSet::new();
    // The provider settings tables and `[check]`, whose profile is
    // `development` unless written.
    let settings = |raw: &Raw| -> toml::Table {
        let mut out: toml::Table = raw
            .merged
            .iter()
            .filter(|(k, _)| !["resources", "vars", "state"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let check = out
            .entry("check")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(check) = check {
            check
                .entry("profile")
                .or_insert_with(|| toml::Value::String("development".to_owned()));
        }
        out
    };
    let (sa, sb) = (
        toml::Value::Table(settings(a)),
        toml::Value::Table(settings(b)),
    );
    let mut paths = BTreeSet::new();
    differing(None, &mut Vec::new(), Some(&sa), Some(&sb), &mut paths);
    if a.merged.get("state") != b.merged.get("state") {
        paths.insert("state".to_owned());
    }
    attributes.extend(paths.into_iter().map(|p| ("settings".to_owned(), p)));

    let (ra, rb) = (resources(a), resources(b));
    for (address, x) in &ra {
        let Some(y) = rb.get(address) else { continue };
        let ty = address.split('.').next().expect("type.name");
        let schema = registry.get(ty).expect("a known type").schema();
        let inputs = |t: &toml::Table| -> toml::Value {
            toml::Value::Table(
                t.iter()
                    .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        };
        let mut paths = BTreeSet::new();
        differing(
            Some(schema),
            &mut Vec::new(),
            Some(&inputs(x)),
            Some(&inputs(y)),
            &mut paths,
        );
        let strings = |t: &toml::Table, key: &str| -> BTreeSet<String> {
            t.get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        };
        if strings(x, "depends_on") != strings(y, "depends_on") {
            paths.insert("depends_on".to_owned());
        }
        let lifecycle = |t: &toml::Table| -> toml::Table {
            let mut l: toml::Table = [
                ("prevent_destroy", toml::Value::Boolean(false)),
                ("create_before_destroy", toml::Value::Boolean(false)),
                ("ignore_changes", toml::Value::Array(Vec::new())),
                ("own", toml::Value::Array(Vec::new())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            if let Some(toml::Value::Table(written)) = t.get("lifecycle") {
                merge(&mut l, written.clone());
            }
            l
        };
        let (la, lb) = (lifecycle(x), lifecycle(y));
        for key in ["ignore_changes", "own"] {
            if strings(&la, key) != strings(&lb, key) {
                paths.insert(format!("lifecycle.{key}"));
            }
        }
        let flags = |l: &toml::Table| -> toml::Value {
            toml::Value::Table(
                l.iter()
                    .filter(|(k, _)| !["ignore_changes", "own"].contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        };
        let mut path = vec![PathSeg::Key("lifecycle".to_owned())];
        differing(
            None,
            &mut path,
            Some(&flags(&la)),
            Some(&flags(&lb)),
            &mut paths,
        );
        attributes.extend(paths.into_iter().map(|p| (address.clone(), p)));
    }
    Expected {
        attributes,
        only_a: ra
            .keys()
            .filter(|k| !rb.contains_key(*k))
            .cloned()
            .collect(),
        only_b: rb
            .keys()
            .filter(|k| !ra.contains_key(*k))
            .cloned()
            .collect(),
    }
}

/// What a diff document lists, in the shape of [`Expected`].
fn listed(doc: &Json) -> Expected {
    let mut attributes = BTreeSet::new();
    for s in doc["settings"].as_array().expect("settings") {
        attributes.insert((
            "settings".to_owned(),
            s["path"].as_str().unwrap().to_owned(),
        ));
    }
    let (mut only_a, mut only_b) = (BTreeSet::new(), BTreeSet::new());
    for r in doc["resources"].as_array().expect("resources") {
        let address = r["address"].as_str().unwrap().to_owned();
        match r["only_in"].as_str() {
            Some(s) if s == doc["a"] => {
                only_a.insert(address);
            }
            Some(_) => {
                only_b.insert(address);
            }
            None => {
                for a in r["attributes"].as_array().expect("attributes") {
                    attributes.insert((address.clone(), a["path"].as_str().unwrap().to_owned()));
                }
            }
        }
    }
    Expected {
        attributes,
        only_a,
        only_b,
    }
}

/// A project with a copy of the shipped stacks.
fn shipped() -> Project {
    let p = Project::new("");
    let stacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks");
    for e in std::fs::read_dir(&stacks).expect("stacks/") {
        let e = e.expect("entry");
        if e.path().extension().is_some_and(|x| x == "toml") {
            std::fs::copy(e.path(), p.root().join("stacks").join(e.file_name())).expect("copy");
        }
    }
    p
}

/// The key of a path's last step (`min` of `scaling.min`).
fn last_key(path: &str) -> &str {
    let tail = path.rsplit('.').next().unwrap_or(path);
    let tail = tail.split('[').next().unwrap_or(tail);
    tail.trim_matches('"')
}

/// The text of `file` at `line`.
fn line_of(root: &Path, file: &str, line: u64) -> String {
    let text = std::fs::read_to_string(root.join(file)).expect("located file");
    text.lines()
        .nth(line as usize - 1)
        .unwrap_or_else(|| panic!("{file} has no line {line}"))
        .to_owned()
}

#[test]
fn staging_and_prod_differ_in_exactly_what_their_overlays_change() {
    let p = shipped();
    let (a, b) = ("staging", "prod");
    let doc = diff_json(&p, a, b);
    let (raw_a, raw_b) = (read_raw(p.root(), a), read_raw(p.root(), b));
    let want = expected(&raw_a, &raw_b);
    assert!(
        !want.attributes.is_empty(),
        "the overlays change nothing: this test would prove nothing"
    );
    let got = listed(&doc);
    let show = |s: &BTreeSet<(String, String)>| -> String {
        s.iter().map(|(r, p)| format!("  {r}: {p}\n")).collect()
    };
    let missing: BTreeSet<_> = want
        .attributes
        .difference(&got.attributes)
        .cloned()
        .collect();
    let extra: BTreeSet<_> = got
        .attributes
        .difference(&want.attributes)
        .cloned()
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "infra diff does not list what the overlays change\nmissing:\n{}extra:\n{}",
        show(&missing),
        show(&extra)
    );
    assert_eq!(got.only_a, want.only_a, "only in {a}");
    assert_eq!(got.only_b, want.only_b, "only in {b}");
    assert_eq!(doc["differ"], true);

    // Each difference is the overlays' doing: a key an overlay writes (at
    // the path or around it), or a blueprint value naming a variable an
    // overlay sets. And each side says where its value was written: in
    // its overlay when that writes the value, else where the value is.
    let shared: Vec<&PathBuf> = raw_a
        .chain
        .iter()
        .filter(|f| raw_b.chain.contains(f))
        .collect();
    let overlays = |raw: &'_ Raw| -> Vec<(PathBuf, toml::Table)> {
        raw.chain
            .iter()
            .zip(&raw.files)
            .filter(|(f, _)| !shared.contains(f))
            .map(|(f, t)| (f.clone(), t.clone()))
            .collect()
    };
    let (over_a, over_b) = (overlays(&raw_a), overlays(&raw_b));
    assert!(
        !over_a.is_empty() || !over_b.is_empty(),
        "staging and prod share every file"
    );
    let overlay_vars: BTreeSet<String> = over_a
        .iter()
        .chain(&over_b)
        .filter_map(|(_, t)| t.get("vars").and_then(|v| v.as_table()))
        .flat_map(|v| v.keys().cloned())
        .collect();
    for r in doc["resources"].as_array().unwrap() {
        let address = r["address"].as_str().unwrap();
        let Some(attrs) = r["attributes"].as_array() else {
            continue;
        };
        let (ty, name) = address.split_once('.').unwrap();
        let resource = |t: &toml::Table| -> Option<toml::Value> {
            t.get("resources")?.get(ty)?.get(name).cloned()
        };
        for attr in attrs {
            let path = attr["path"].as_str().unwrap();
            let segs = segments(path);
            let PathSeg::Key(top) = &segs[0] else {
                panic!("{path}")
            };
            let by_overlay = over_a
                .iter()
                .chain(&over_b)
                .any(|(_, t)| resource(t).is_some_and(|r| r.get(top).is_some()));
            let base_text: String = shared
                .iter()
                .filter_map(|f| {
                    let i = raw_a.chain.iter().position(|c| c == *f)?;
                    Some(resource(&raw_a.files[i])?.get(top)?.to_string())
                })
                .collect();
            let by_var = overlay_vars
                .iter()
                .any(|v| base_text.contains(&format!("${{var.{v}}}")));
            assert!(
                by_overlay || by_var,
                "{address}: {path} differs, but no overlay writes it or a variable it uses"
            );
            for (side, own) in [("a", &over_a), ("b", &over_b)] {
                let s = &attr[side];
                if s["origin"] != "file" {
                    continue;
                }
                let file = s["file"].as_str().unwrap();
                let line = s["line"].as_u64().unwrap();
                let text = line_of(p.root(), file, line);
                let first_item = serde_json::from_str::<Vec<String>>(s["value"].as_str().unwrap())
                    .ok()
                    .and_then(|l| l.into_iter().next());
                assert!(
                    text.contains(last_key(path))
                        || text.contains("${var.")
                        || first_item.is_some_and(|i| text.contains(&i)),
                    "{address}: {path} ({side}) is located at {file}:{line}, which reads {text:?}"
                );
                let writes = own
                    .iter()
                    .any(|(_, t)| resource(t).is_some_and(|r| writes_path(&r, &segs)));
                if writes {
                    assert!(
                        own.iter().any(|(f, _)| f.as_path() == Path::new(file)),
                        "{address}: {path} ({side}) is written by its overlay, but located in {file}"
                    );
                }
            }
        }
    }
}

/// A path as `infra diff` shows it, split into keys and indices.
fn segments(path: &str) -> Vec<PathSeg> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').expect("closed index");
            out.push(PathSeg::Index(r[..end].parse().expect("an index")));
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closed key");
            out.push(PathSeg::Key(r[..end].to_owned()));
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(PathSeg::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

/// Whether a resource table as written sets the value at `path`, or a
/// value (not a table) around it.
fn writes_path(resource: &toml::Value, path: &[PathSeg]) -> bool {
    let mut at = resource;
    for (i, seg) in path.iter().enumerate() {
        let next = match (seg, at) {
            (PathSeg::Key(k), toml::Value::Table(t)) => t.get(k),
            (PathSeg::Index(n), toml::Value::Array(a)) => a.get(*n),
            // A value written whole around the path (a list, a string
            // naming a variable).
            _ => return i > 0,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    true
}

#[test]
fn a_stack_compared_with_itself_is_the_same() {
    let p = shipped();
    let run = infra(
        &p,
        &["diff", "--stack", "prod", "--stack", "prod", "--exit-code"],
    );
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with("No differences: prod and prod declare the same "),
        "{}",
        run.stdout
    );
    let doc = diff_json(&p, "prod", "prod");
    assert_eq!(doc["differ"], false);
    assert_eq!(doc["resources"], Json::Array(Vec::new()));
    // --exit-code says whether they differ.
    let run = infra(
        &p,
        &[
            "diff",
            "--stack",
            "staging",
            "--stack",
            "prod",
            "--exit-code",
        ],
    );
    run.expect_code(2);
    let run = infra(&p, &["diff", "--stack", "staging", "--stack", "prod"]);
    run.expect_code(0);
}

// ----------------------------------------------------------------- fixtures

const BASE: &str = r#"[vars]
env = "dev"
retention = 7

[aws]
region = "us-east-1"

[resources.s3_bucket.logs]
name = "${var.env}-logs"
versioning = true
tags = { Environment = "${var.env}", Team = "data" }

[[resources.s3_bucket.logs.lifecycle_rules]]
id = "expire"
expiration_days = 30

[resources.secretsmanager_secret.db]
name = "${var.env}/db"
generate = { length = 32 }
recovery_window_days = "${var.retention}"
"#;

const A: &str = r#"extends = "base.toml"

[vars]
env = "staging"

[resources.s3_bucket.logs]
tags = { Environment = "${var.env}", Team = "data" }
"#;

const B: &str = r#"extends = "base.toml"

[vars]
env = "prod"
retention = 30

[aws]
region = "eu-west-1"

[resources.s3_bucket.logs]
versioning = true
force_destroy = false
tags = { Team = "platform" }

[[resources.s3_bucket.logs.lifecycle_rules]]
id = "expire"
expiration_days = 90

[resources.secretsmanager_secret.db]
lifecycle = { prevent_destroy = true }
depends_on = ["s3_bucket.logs"]

[resources.s3_bucket.archive]
name = "prod-archive"
"#;

#[test]
fn human_output_of_a_small_pair() {
    let p = project(&[("base.toml", BASE), ("a.toml", A), ("b.toml", B)]);
    let run = infra(&p, &["diff", "--stack", "a", "--stack", "b"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "");
    expect![[r#"
        ~ settings
            aws.region  a: "us-east-1"  (location not recorded)   b: "eu-west-1"  (location not recorded)

        + s3_bucket.archive  (only in b, stacks/b.toml:23:1)

        ~ s3_bucket.logs
            lifecycle_rules[0].expiration_days  a: 30              (stacks/base.toml:15:19)   b: 90           (stacks/b.toml:17:19)
            name                                a: "staging-logs"  (stacks/base.toml:9:8)     b: "prod-logs"  (stacks/base.toml:9:8)
            tags.Environment                    a: "staging"       (stacks/a.toml:7:24)       b: "prod"       (stacks/base.toml:11:24)
            tags.Team                           a: "data"          (stacks/a.toml:7:45)       b: "platform"   (stacks/b.toml:13:17)

        ~ secretsmanager_secret.db
            name                       a: "staging/db"  (stacks/base.toml:18:8)    b: "prod/db"           (stacks/base.toml:18:8)
            recovery_window_days       a: 7             (stacks/base.toml:20:24)   b: 30                  (stacks/base.toml:20:24)
            depends_on                 a: (unset)                                  b: ["s3_bucket.logs"]  (stacks/b.toml:21:15)
            lifecycle.prevent_destroy  a: false         (default)                  b: true                (location not recorded)

        a and b differ: 2 of 2 resources in both differ, 1 only in b, settings differ.
    "#]].assert_eq(&run.stdout);
    // Both before the command works as well.
    let before = infra(&p, &["--stack", "a", "--stack", "b", "diff"]);
    before.expect_code(0);
    assert_eq!(before.stdout, run.stdout);
    // FIXME: clap's global arguments: `--stack` after the command replaces
    // those before it instead of adding to them, so this sees only `b`;
    // it says so rather than comparing anything.
    let split = infra(&p, &["--stack", "a", "diff", "--stack", "b"]);
    split.expect_code(1);
    assert!(
        split.stderr.contains("--stack was given once (b)"),
        "{}",
        split.stderr
    );
}

#[test]
fn a_resource_on_one_side_only_is_listed_where_it_is_declared() {
    let p = project(&[("base.toml", BASE), ("a.toml", A), ("b.toml", B)]);
    let doc = diff_json(&p, "a", "b");
    let archive: Vec<&Json> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"] == "s3_bucket.archive")
        .collect();
    assert_eq!(archive.len(), 1, "{doc:#}");
    assert_eq!(archive[0]["only_in"], "b");
    assert_eq!(archive[0]["location"]["file"], "stacks/b.toml");
    let line = archive[0]["location"]["line"].as_u64().unwrap();
    assert_eq!(
        line_of(p.root(), "stacks/b.toml", line),
        "[resources.s3_bucket.archive]"
    );
    assert!(archive[0].get("attributes").is_none());
    // The other way round, it is only in the first.
    let doc = diff_json(&p, "b", "a");
    let only: Vec<&Json> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("only_in").is_some())
        .collect();
    assert_eq!(only.len(), 1, "{doc:#}");
    assert_eq!(only[0]["address"], "s3_bucket.archive");
    assert_eq!(only[0]["only_in"], "b");
    assert_eq!(doc["a"], "b");
}

#[test]
fn values_from_the_environment_are_compared_by_name_and_never_printed() {
    let secret = |var: &str| {
        format!(
            "[resources.secretsmanager_secret.api]\nname = \"api\"\nvalue = {{ from_env = \"{var}\" }}\n\n[resources.secretsmanager_secret.same]\nname = \"same\"\nvalue = {{ from_env = \"SHARED_SECRET\" }}\n\n[resources.secretsmanager_secret.plain]\nname = \"plain\"\nvalue = \"{var}-plaintext-hunter2\"\n"
        )
    };
    let p = project(&[
        ("a.toml", &secret("API_KEY_A")),
        ("b.toml", &secret("API_KEY_B")),
    ])
    .env("API_KEY_A", "value-of-a-s3cr3t")
    .env("API_KEY_B", "value-of-b-s3cr3t")
    .env("SHARED_SECRET", "shared-s3cr3t");
    for json in [false, true] {
        let mut args = vec!["diff", "--stack", "a", "--stack", "b"];
        if json {
            args.push("--json");
        }
        let run = infra(&p, &args);
        run.expect_code(0);
        let all = format!("{}{}", run.stdout, run.stderr);
        for leaked in ["s3cr3t", "hunter2"] {
            assert!(!all.contains(leaked), "{leaked} printed:\n{all}");
        }
        assert!(
            run.stdout.contains("API_KEY_A") && run.stdout.contains("API_KEY_B"),
            "{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("secretsmanager_secret.same"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("(sensitive)"), "{}", run.stdout);
    }
    let doc = diff_json(&p, "a", "b");
    let api = &doc["resources"][0];
    assert_eq!(api["address"], "secretsmanager_secret.api");
    assert_eq!(api["attributes"][0]["path"], "value");
    assert_eq!(
        api["attributes"][0]["a"]["value"],
        r#"{ from_env = "API_KEY_A" }"#
    );
    assert_eq!(
        api["attributes"][0]["b"]["value"],
        r#"{ from_env = "API_KEY_B" }"#
    );
    let plain = &doc["resources"][1];
    assert_eq!(plain["address"], "secretsmanager_secret.plain");
    assert_eq!(plain["attributes"][0]["a"]["value"], "(sensitive)");
    assert_eq!(plain["attributes"][0]["b"]["value"], "(sensitive)");
}

#[test]
fn an_error_in_either_stack_is_reported_at_its_line() {
    let broken = B.replace("force_destroy = false", "force_destroi = false");
    let p = project(&[("base.toml", BASE), ("a.toml", A), ("b.toml", &broken)]);
    let run = infra(&p, &["diff", "--stack", "a", "--stack", "b"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    expect![[r#"
        error: stacks/b.toml:12:1: s3_bucket.logs: unknown attribute `force_destroi` for `s3_bucket`
          hint: did you mean `force_destroy`?
    "#]]
    .assert_eq(&run.stderr);
    let run = infra(&p, &["diff", "--stack", "b", "--stack", "a", "--json"]);
    run.expect_code(1);
    let doc: Json = serde_json::from_str(&run.stdout).expect("an error document");
    let d = &doc["error"]["diagnostics"][0];
    let line = broken
        .lines()
        .position(|l| l.starts_with("force_destroi"))
        .unwrap()
        + 1;
    assert_eq!(d["file"], "stacks/b.toml");
    assert_eq!(d["line"], line);
    // An error in the file both extend is reported once, as `validate`
    // reports it.
    let base = BASE.replace("name = \"${var.env}/db\"", "nme = \"${var.env}/db\"");
    let p = project(&[("base.toml", &base), ("a.toml", A), ("b.toml", B)]);
    let run = infra(&p, &["diff", "--stack", "a", "--stack", "b"]);
    run.expect_code(1);
    let validate = infra(&p, &["validate", "--stack", "a"]);
    validate.expect_code(1);
    assert!(run.stderr.contains("stacks/base.toml:"), "{}", run.stderr);
    assert_eq!(run.stderr, validate.stderr);
}

#[test]
fn diff_needs_two_stacks() {
    let p = project(&[("base.toml", BASE), ("a.toml", A), ("b.toml", B)]);
    let run = infra(&p, &["diff", "--stack", "a"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "");
    expect![[r#"
        error: `infra diff` compares two stacks, but --stack was given once (a)
          hint: name the other one too: `infra diff --stack a --stack OTHER`
    "#]]
    .assert_eq(&run.stderr);
    let run = infra(&p, &["diff"]);
    run.expect_code(1);
    assert!(run.stderr.contains("no stack was given"), "{}", run.stderr);
    let run = infra(
        &p,
        &["diff", "--stack", "a", "--stack", "b", "--stack", "a"],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains("given 3 times (a, b, a)"),
        "{}",
        run.stderr
    );
}

#[test]
fn other_commands_take_one_stack() {
    let p = project(&[("base.toml", BASE), ("a.toml", A), ("b.toml", B)]);
    for cmd in [
        &["plan"][..],
        &["validate"],
        &["apply", "--auto-approve"],
        &["graph"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--stack", "a", "--stack", "b"]);
        let run = infra(&p, &args);
        run.expect_code(1);
        assert!(
            run.stderr
                .contains("--stack was given 2 times (a, b), but this command works on one stack")
                && run.stderr.contains("hint: pass --stack NAME once"),
            "{cmd:?}: {}",
            run.stderr
        );
    }
    assert!(p.state_files().is_empty(), "state/ was created");
    // One is fine.
    infra(&p, &["validate", "--stack", "b"]).expect_code(0);
}
