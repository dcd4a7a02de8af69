//! The reference of the resource types cannot drift from their schemas:
//! README.md's tables are `infra schema --markdown` output, between
//! `<!-- schema:begin TYPE... -->` and `<!-- schema:end -->` markers, and
//! this test regenerates every block and fails when README differs (or
//! when a type is in no block). `UPDATE_EXPECT=1 cargo test --test
//! schema_docs` rewrites the blocks. It also runs `infra schema` itself.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use infra_core::{Attribute, Registry};

const BEGIN: &str = "<!-- schema:begin ";
const END: &str = "<!-- schema:end -->";

/// Every type of a full build: the default registry and `sim_resource`
/// (registered again when the `sim` feature has it already).
fn registry() -> Registry {
    let mut r = infra::default_registry();
    r.register(Arc::new(infra_sim::SimProvider::default()));
    r
}

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// A README's schema blocks: the types each names, and the byte range of
/// its body (between the begin line and the end marker).
fn blocks(readme: &str) -> Vec<(Vec<String>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(start) = readme[at..].find(BEGIN).map(|i| at + i) {
        let line_end = readme[start..]
            .find('\n')
            .map(|i| start + i)
            .expect("a begin marker ends its line");
        let types = readme[start + BEGIN.len()..line_end]
            .trim_end()
            .strip_suffix("-->")
            .expect("a begin marker ends with -->")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let body = line_end + 1;
        let end = readme[body..]
            .find(END)
            .map(|i| body + i)
            .expect("every begin marker has an end marker");
        out.push((types, body..end));
        at = end + END.len();
    }
    out
}

#[test]
fn readme_tables_are_the_schema() {
    let registry = registry();
    let path = readme_path();
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let blocks = blocks(&readme);
    assert!(!blocks.is_empty(), "README.md has no schema blocks");

    let mut documented: Vec<&str> = blocks
        .iter()
        .flat_map(|(t, _)| t.iter().map(String::as_str))
        .collect();
    documented.sort_unstable();
    let all: Vec<&str> = registry.type_names().collect();
    assert_eq!(
        documented, all,
        "README.md's schema blocks must name every resource type exactly once"
    );

    let mut updated = String::with_capacity(readme.len());
    let mut last = 0;
    let mut stale = Vec::new();
    for (types, range) in &blocks {
        let generated = infra_cli::schema_markdown(&registry, types).unwrap();
        updated.push_str(&readme[last..range.start]);
        updated.push_str(&generated);
        last = range.end;
        if readme[range.clone()] != generated {
            stale.push((types.join(" "), readme[range.clone()].to_owned(), generated));
        }
    }
    updated.push_str(&readme[last..]);
    if stale.is_empty() {
        return;
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    let mut report = String::new();
    for (types, found, generated) in stale {
        let first = found
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| found.lines().count().min(generated.lines().count()));
        report.push_str(&format!(
            "block `{types}`, first difference at its line {}:\n  README:    {}\n  generated: {}\n",
            first + 1,
            found.lines().nth(first).unwrap_or("(end)"),
            generated.lines().nth(first).unwrap_or("(end)"),
        ));
    }
    panic!(
        "README.md's resource tables differ from `infra schema --markdown`:\n{report}\nrun `UPDATE_EXPECT=1 cargo test --test schema_docs` to regenerate them"
    );
}

/// Every input and output says what it is. A gap listed here is a debt:
/// describe the attribute, then `UPDATE_EXPECT=1` this test.
#[test]
fn every_attribute_is_described() {
    fn walk(attrs: &[Attribute], prefix: &str, out: &mut Vec<String>) {
        for a in attrs {
            let path = format!("{prefix}{}", a.name);
            if a.description.trim().is_empty() {
                out.push(path.clone());
            }
            walk(a.ty.attributes(), &format!("{path}."), out);
        }
    }
    let mut missing = Vec::new();
    for p in registry().providers() {
        let s = p.schema();
        walk(&s.attributes, &format!("{}.", s.type_name), &mut missing);
        for o in s.outputs.iter().filter(|o| o.description.trim().is_empty()) {
            missing.push(format!("{} output {}", s.type_name, o.name));
        }
    }
    assert!(
        missing.is_empty(),
        "attributes and outputs without a description:\n{}",
        missing.join("\n")
    );
}

fn infra(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .env_remove("INFRA_STACK")
        .env("NO_COLOR", "1")
        .output()
        .expect("run infra");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_prints_the_same_reference() {
    let (code, stdout, stderr) = infra(&["schema", "--markdown", "s3_bucket", "eks_cluster"]);
    assert_eq!(code, 0, "{stderr}");
    let types = ["s3_bucket".to_owned(), "eks_cluster".to_owned()];
    assert_eq!(
        stdout,
        infra_cli::schema_markdown(&registry(), &types).unwrap()
    );

    let (code, stdout, stderr) = infra(&["schema", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let names: Vec<&str> = doc["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    let built = infra::default_registry();
    assert_eq!(names, built.type_names().collect::<Vec<_>>());
    let types = doc["types"].as_array().unwrap();
    let cluster = types
        .iter()
        .find(|t| t["type"] == "eks_cluster")
        .expect("eks_cluster");
    assert_eq!(cluster["attributes"][0]["name"], "name");
    assert_eq!(cluster["attributes"][0]["presence"], "required");
    assert_eq!(cluster["attributes"][0]["change"], "replace");
    assert_eq!(cluster["outputs"][0]["name"], "id");

    let (code, stdout, stderr) = infra(&["schema", "eks_cluster"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(
            "eks_cluster\n  inputs:\n    name (string) required, forces replacement\n"
        ),
        "{stdout}"
    );
}

#[test]
fn an_unknown_type_names_the_known_ones() {
    let (code, stdout, stderr) = infra(&["schema", "eks_clustr"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let built = infra::default_registry();
    let known = built.type_names().collect::<Vec<_>>().join(", ");
    assert_eq!(
        stderr,
        format!("error: unknown resource type `eks_clustr`\n  hint: known types: {known}\n")
    );

    let (code, _, stderr) = infra(&["schema", "--json", "--markdown"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--markdown and --json cannot be used together"),
        "{stderr}"
    );
}
