//! Data-driven tests of stack loading: files in, diagnostics or a compact
//! dump of the model out.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use expect_test::{Expect, expect};
use infra_core::{
    Address, Attribute, ErrorKind, Existing, Observed, OpContext, Output, Provider, ProviderError,
    Registry, Schema, Type, Value, display_path,
};

use super::{Loaded, load_stack};
use crate::{Expr, Part};

/// A provider with a schema and nothing else: loading never calls it.
struct Fake {
    schema: Schema,
    section: Option<&'static str>,
}

fn fake() -> ProviderError {
    ProviderError::new(ErrorKind::Failed, "fake provider")
}

#[async_trait]
impl Provider for Fake {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn settings_section(&self) -> Option<&str> {
        self.section
    }

    async fn create(&self, _: &OpContext, _: &Value) -> Result<Observed, ProviderError> {
        Err(fake())
    }

    async fn read(&self, _: &OpContext, _: &Existing) -> infra_core::ReadResult {
        Err(fake())
    }

    async fn find(&self, _: &OpContext, _: &Value) -> infra_core::ReadResult {
        Err(fake())
    }

    async fn update(
        &self,
        _: &OpContext,
        _: &Existing,
        _: &Value,
    ) -> Result<Observed, ProviderError> {
        Err(fake())
    }

    async fn delete(&self, _: &OpContext, _: &Existing) -> Result<(), ProviderError> {
        Err(fake())
    }
}

fn registry() -> Registry {
    let bucket = Schema::new("bucket")
        .attribute(
            Attribute::new("name", Type::String)
                .required()
                .forces_replacement()
                .describe("the bucket's globally unique name"),
        )
        .attribute(Attribute::new("versioning", Type::Bool).default(false))
        .attribute(Attribute::new("tags", Type::map(Type::String)))
        .attribute(Attribute::new(
            "lifecycle_rules",
            Type::list(Type::Object(vec![
                Attribute::new("id", Type::String).required(),
                Attribute::new("expiration_days", Type::Int),
                Attribute::new(
                    "transitions",
                    Type::list(Type::Object(vec![
                        Attribute::new("days", Type::Int).required(),
                        Attribute::new("storage_class", Type::String).required(),
                    ])),
                ),
            ])),
        ))
        .output(Output::new("arn", Type::String, "the bucket's ARN"));
    let node_group = Schema::new("node_group")
        .attribute(Attribute::new("cluster", Type::String).required())
        .attribute(
            Attribute::new("instance_types", Type::list(Type::String))
                .default(Value::List(vec!["m5.large".into()])),
        )
        .attribute(Attribute::new(
            "scaling",
            Type::Object(vec![
                Attribute::new("min", Type::Int).required(),
                Attribute::new("max", Type::Int).required(),
                Attribute::new("desired", Type::Int),
            ]),
        ))
        .attribute(Attribute::new("labels", Type::map(Type::String)))
        .attribute(Attribute::new("weight", Type::Number));
    let db = Schema::new("db")
        .attribute(Attribute::new("identifier", Type::String).required())
        .attribute(Attribute::new("password", Type::String).sensitive())
        .attribute(Attribute::new("port", Type::Int).default(5432))
        .attribute(Attribute::new("multi_az", Type::Bool).default(false))
        .attribute(Attribute::new("params", Type::Any))
        .output(Output::new("endpoint", Type::String, "host:port"));
    let mut r = Registry::new();
    r.register(Arc::new(Fake {
        schema: bucket,
        section: Some("sim"),
    }));
    r.register(Arc::new(Fake {
        schema: node_group,
        section: Some("sim"),
    }));
    r.register(Arc::new(Fake {
        schema: db,
        section: None,
    }));
    r.register_backend(Arc::new(FakeBackends));
    r
}

/// Knows the `s3` scheme; never opened by the loader.
struct FakeBackends;

#[async_trait]
impl infra_core::BackendFactory for FakeBackends {
    fn scheme(&self) -> &str {
        "s3"
    }

    async fn open(
        &self,
        location: &str,
        _settings: &std::collections::BTreeMap<String, Value>,
        _root: &std::path::Path,
    ) -> Result<Box<dyn infra_core::StateBackend>, infra_core::BackendError> {
        Err(infra_core::BackendError::Io(format!(
            "{location}: not in tests"
        )))
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/me".into()),
        "REGION" => Some("eu-west-1".into()),
        "DB_PASSWORD" => Some("hunter2".into()),
        _ => None,
    }
}

/// Writes `files` (paths relative to the root) and loads `stack`.
fn load_files(stack: &str, files: &[(&str, &[u8])]) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let loaded = load_stack(dir.path(), stack, &registry(), &env);
    if let Some(s) = &loaded.stack {
        assert_eq!(s.root, dir.path());
        let mut sorted = s.resources.clone();
        sorted.sort_by(|a, b| a.address.cmp(&b.address));
        assert_eq!(sorted, s.resources, "resources are sorted");
    }
    loaded
}

fn check(files: &[(&str, &str)], expect: Expect) {
    check_stack("x", files, expect);
}

fn check_stack(stack: &str, files: &[(&str, &str)], expect: Expect) {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
    expect.assert_eq(&render(&load_files(stack, &files), false));
}

/// Like [`check`], also listing every recorded value location.
fn check_locations(stack: &str, files: &[(&str, &str)], expect: Expect) {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
    expect.assert_eq(&render(&load_files(stack, &files), true));
}

fn render(loaded: &Loaded, locations: bool) -> String {
    let mut out = String::new();
    for d in &loaded.diagnostics {
        let _ = writeln!(out, "{d}");
    }
    let Some(stack) = &loaded.stack else {
        assert!(loaded.diagnostics.iter().any(|d| d.is_error()));
        return out;
    };
    let _ = writeln!(out, "stack {}", stack.name);
    for (section, v) in &stack.settings {
        let _ = writeln!(out, "[{section}] {v}");
    }
    if let Some(state) = &stack.state {
        let _ = writeln!(out, "state = {state:?}");
    }
    let check = &stack.check;
    if *check != crate::CheckSettings::default() {
        let at = check
            .profile_location
            .as_ref()
            .map_or("(default)".to_owned(), ToString::to_string);
        let _ = writeln!(out, "[check] profile = {}  @ {at}", check.profile);
        for w in &check.waivers {
            let at = w
                .location
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string);
            let _ = writeln!(out, "  waive {} = {:?}  @ {at}", w.rule, w.reason);
        }
    }
    for r in &stack.resources {
        let at = r
            .location
            .as_ref()
            .map_or("-".to_owned(), ToString::to_string);
        let _ = writeln!(out, "{} @ {at}", r.address);
        if !r.depends_on.is_empty() {
            let deps: Vec<String> = r.depends_on.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  depends_on = [{}]", deps.join(", "));
        }
        let l = &r.lifecycle;
        if *l != crate::Lifecycle::default() {
            let ignore: Vec<String> = l.ignore_changes.iter().map(|p| display_path(p)).collect();
            let _ = writeln!(
                out,
                "  lifecycle: prevent_destroy={} create_before_destroy={} ignore_changes=[{}] timeouts={:?}/{:?}/{:?}",
                l.prevent_destroy,
                l.create_before_destroy,
                ignore.join(", "),
                l.timeouts.create,
                l.timeouts.update,
                l.timeouts.delete,
            );
        }
        for (name, e) in &r.inputs {
            let path = vec![infra_core::PathSeg::Key(name.clone())];
            let at = r
                .value_locations
                .get(&path)
                .map_or("(default)".to_owned(), ToString::to_string);
            let _ = writeln!(out, "  {name} = {}  @ {at}", show(e));
        }
        if locations {
            for (path, loc) in &r.value_locations {
                let _ = writeln!(out, "    {} @ {loc}", display_path(path));
            }
        }
    }
    out
}

fn show(e: &Expr) -> String {
    match e {
        Expr::Literal(v) => v.to_string(),
        Expr::Ref(r) => format!("ref ${{{r}}}"),
        Expr::Template(parts) => {
            let mut s = String::from("template \"");
            for p in parts {
                match p {
                    Part::Text(t) => s.push_str(t),
                    Part::Ref(r) => {
                        let _ = write!(s, "${{{r}}}");
                    }
                }
            }
            s.push('"');
            s
        }
        Expr::List(items) => {
            let items: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        Expr::Map(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k} = {}", show(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        Expr::FromEnv { var, value } => {
            format!(
                "from_env {var} ({})",
                if value.is_some() { "set" } else { "unset" }
            )
        }
    }
}

#[test]
fn loads_a_full_stack() {
    check(
        &[(
            "stacks/x.toml",
            r#"
state = "s3://state-${var.env}/${env.REGION}"

[vars]
env = "dev"
region = "${env.REGION}"

[sim]
dir = "${env.HOME}/.sim"
region = "${var.region}"

[resources.bucket.logs]
name = "${var.env}-logs"
tags = { team = "data", home = "${env.HOME}" }
[[resources.bucket.logs.lifecycle_rules]]
id = "expire"
expiration_days = 90
transitions = [{ days = 30, storage_class = "IA" }]

[resources.node_group.workers]
cluster = "${bucket.logs.name}"
labels = { bucket = "${bucket.logs.arn}", name = "logs-${bucket.logs.name}-${var.env}" }
scaling = { min = 1, max = 3 }
weight = 2
depends_on = ["bucket.logs"]
lifecycle = { prevent_destroy = true, ignore_changes = ["scaling.desired", "labels"], create_before_destroy = true, timeouts = { create = "40m", update = "1h30m", delete = "90s" } }
"#,
        )],
        expect![[r#"
            stack x
            [sim] { dir = "/home/me/.sim", region = "eu-west-1" }
            state = "s3://state-dev/eu-west-1"
            bucket.logs @ stacks/x.toml:12:1
              lifecycle_rules = [{ expiration_days = 90, id = "expire", transitions = [{ days = 30, storage_class = "IA" }] }]  @ stacks/x.toml:15:1
              name = "dev-logs"  @ stacks/x.toml:13:8
              tags = { home = "/home/me", team = "data" }  @ stacks/x.toml:14:8
              versioning = false  @ (default)
            node_group.workers @ stacks/x.toml:20:1
              depends_on = [bucket.logs]
              lifecycle: prevent_destroy=true create_before_destroy=true ignore_changes=[scaling.desired, labels] timeouts=Some(2400s)/Some(5400s)/Some(90s)
              cluster = ref ${bucket.logs.name}  @ stacks/x.toml:21:11
              instance_types = ["m5.large"]  @ (default)
              labels = { bucket = ref ${bucket.logs.arn}, name = template "logs-${bucket.logs.name}-dev" }  @ stacks/x.toml:22:10
              scaling = { max = 3, min = 1 }  @ stacks/x.toml:23:11
              weight = 2  @ stacks/x.toml:24:10
        "#]],
    );
}

#[test]
fn overlays_merge_deeply_and_keep_their_locations() {
    let base = r#"
[vars]
env = "dev"
zones = ["a", "b"]

[resources.node_group.workers]
cluster = "main-${var.env}"
instance_types = ["m5.2xlarge"]
scaling = { min = 5, max = 20, desired = 5 }
labels = { kind = "worker", zones = "${var.env}" }

[resources.db.main]
identifier = "${var.env}-db"
"#;
    let prod = r#"extends = "airflow.toml"
[vars]
env = "prod"
[resources.node_group.workers.scaling]
desired = 10
[resources.node_group.workers]
instance_types = ["m5.4xlarge", "m5.8xlarge"]
[resources.db.main]
multi_az = true
"#;
    check_locations(
        "prod",
        &[("stacks/airflow.toml", base), ("stacks/prod.toml", prod)],
        expect![[r#"
            stack prod
            db.main @ stacks/airflow.toml:12:1
              identifier = "prod-db"  @ stacks/airflow.toml:13:14
              multi_az = true  @ stacks/prod.toml:9:12
              port = 5432  @ (default)
                identifier @ stacks/airflow.toml:13:14
                multi_az @ stacks/prod.toml:9:12
            node_group.workers @ stacks/airflow.toml:6:1
              cluster = "main-prod"  @ stacks/airflow.toml:7:11
              instance_types = ["m5.4xlarge", "m5.8xlarge"]  @ stacks/prod.toml:7:18
              labels = { kind = "worker", zones = "prod" }  @ stacks/airflow.toml:10:10
              scaling = { desired = 10, max = 20, min = 5 }  @ stacks/airflow.toml:9:11
                cluster @ stacks/airflow.toml:7:11
                instance_types @ stacks/prod.toml:7:18
                instance_types[0] @ stacks/prod.toml:7:19
                instance_types[1] @ stacks/prod.toml:7:33
                labels @ stacks/airflow.toml:10:10
                labels.kind @ stacks/airflow.toml:10:19
                labels.zones @ stacks/airflow.toml:10:37
                scaling @ stacks/airflow.toml:9:11
                scaling.desired @ stacks/prod.toml:5:11
                scaling.max @ stacks/airflow.toml:9:28
                scaling.min @ stacks/airflow.toml:9:19
        "#]],
    );
    // The base alone still loads as itself.
    check_stack(
        "airflow",
        &[("stacks/airflow.toml", base), ("stacks/prod.toml", prod)],
        expect![[r#"
            stack airflow
            db.main @ stacks/airflow.toml:12:1
              identifier = "dev-db"  @ stacks/airflow.toml:13:14
              multi_az = false  @ (default)
              port = 5432  @ (default)
            node_group.workers @ stacks/airflow.toml:6:1
              cluster = "main-dev"  @ stacks/airflow.toml:7:11
              instance_types = ["m5.2xlarge"]  @ stacks/airflow.toml:8:18
              labels = { kind = "worker", zones = "dev" }  @ stacks/airflow.toml:10:10
              scaling = { desired = 5, max = 20, min = 5 }  @ stacks/airflow.toml:9:11
        "#]],
    );
}

#[test]
fn errors_point_into_the_file_that_wrote_the_value() {
    check_stack(
        "prod",
        &[
            (
                "stacks/base/airflow.toml",
                "[resources.node_group.workers]\ncluster = \"c\"\nscaling = { min = 1, max = 2 }\n",
            ),
            (
                "stacks/prod.toml",
                "extends = \"base/./airflow.toml\"\n[resources.node_group.workers.scaling]\nmax = \"two\"\n",
            ),
        ],
        expect![[r#"
            error: stacks/prod.toml:3:7: node_group.workers: wrong type for `scaling.max`: expected integer, found string
        "#]],
    );
}

#[test]
fn extends_chains_and_cycles() {
    check_stack(
        "a",
        &[
            ("stacks/a.toml", "extends = \"b.toml\"\n[vars]\nx = \"a\"\n"),
            ("stacks/b.toml", "extends = \"c.toml\"\n"),
            (
                "stacks/c.toml",
                "[vars]\nx = \"c\"\n[resources.db.d]\nidentifier = \"${var.x}\"\n",
            ),
        ],
        expect![[r#"
            stack a
            db.d @ stacks/c.toml:3:1
              identifier = "a"  @ stacks/c.toml:4:14
              multi_az = false  @ (default)
              port = 5432  @ (default)
        "#]],
    );
    check_stack(
        "a",
        &[
            ("stacks/a.toml", "extends = \"b.toml\""),
            ("stacks/b.toml", "\nextends = \"./a.toml\""),
        ],
        expect![[r#"
            error: stacks/b.toml:2:11: extends cycle: stacks/a.toml -> stacks/b.toml -> stacks/a.toml
              hint: remove one of these `extends`
        "#]],
    );
    check_stack(
        "a",
        &[
            ("stacks/a.toml", "extends = \"nope.toml\""),
            ("stacks/b.toml", ""),
        ],
        expect![[r#"
            error: stacks/a.toml:1:11: cannot read `stacks/nope.toml`: no such file
              hint: available stacks: a, b
        "#]],
    );
    check_stack(
        "a",
        &[("stacks/a.toml", "extends = [\"b.toml\"]")],
        expect![[r#"
            error: stacks/a.toml:1:11: `extends` must be a string, found list
              hint: name the base stack file, e.g. `extends = "airflow.toml"`
        "#]],
    );
}

#[test]
fn vars_keep_types_and_escape() {
    check(
        &[(
            "stacks/x.toml",
            r#"
[vars]
count = 3
ratio = 1.5
on = true
list = ["a", "b"]
name = "${var.prefix}-${var.count}"
prefix = "p"
indirect = "${var.list}"

[resources.node_group.n]
cluster = "${var.name} $${literal} $$ ${var.on} ${var.ratio}"
instance_types = "${var.indirect}"
scaling = { min = "${var.count}", max = 4 }
weight = "${ var.ratio }"
"#,
        )],
        expect![[r#"
            stack x
            node_group.n @ stacks/x.toml:11:1
              cluster = "p-3 ${literal} $$ true 1.5"  @ stacks/x.toml:12:11
              instance_types = ["a", "b"]  @ stacks/x.toml:13:18
              scaling = { max = 4, min = 3 }  @ stacks/x.toml:14:11
              weight = 1.5  @ stacks/x.toml:15:10
        "#]],
    );
}

#[test]
fn var_errors() {
    check(
        &[(
            "stacks/x.toml",
            r#"[vars]
a = "${var.b}"
b = "x-${var.c}"
c = "${var.a}"
d = "${var.nmae}"
name = "n"
e = "${env.NOT_SET}"
f = "${var.e}-again"
list = [1]
g = "x${var.list}"
h = "${s3_bucket.logs.name}"

[resources.db.d]
identifier = "${var.d}"
port = "${var.list}"
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:2:5: variable cycle: var.a -> var.b -> var.c -> var.a
              hint: give one of these variables a value that does not refer back
            error: stacks/x.toml:5:6: unknown variable `var.nmae`
              hint: did you mean `var.name`?
            error: stacks/x.toml:7:6: environment variable `NOT_SET` is not set
              hint: set it before running, e.g. `export NOT_SET=...`
            error: stacks/x.toml:10:7: cannot interpolate `var.list` into a string: it is a list
              hint: use it as the whole value: `"${var.list}"`
            error: stacks/x.toml:11:6: resource reference `${s3_bucket.logs.name}` in `[vars]`
              hint: `[vars]` is resolved when the stack loads, before resources exist; refer to `s3_bucket.logs.name` from a resource's inputs instead
            error: stacks/x.toml:15:8: db.d: wrong type for `port`: expected integer, found list
        "#]],
    );
}

#[test]
fn reference_errors() {
    check(
        &[(
            "stacks/x.toml",
            r#"[resources.bucket.logs]
name = "logs"

[resources.node_group.n]
cluster = "${bucket.log.name}"
labels = { a = "${bucket.logs.nmae}", b = "${bucket.logs.versioning}", c = "${bucket.logs.arn}" }
weight = "w-${bucket.logs.id}"
scaling = { min = "${}", max = "${bucket.logs}" }
instance_types = ["x ${var.y", "${ nope }", "${a.b.c[x]}"]
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:5:12: node_group.n: dangling reference `${bucket.log.name}`: no resource `bucket.log` in the stack
              hint: did you mean `bucket.logs`?
            error: stacks/x.toml:6:17: node_group.n: unknown attribute `nmae` in reference `${bucket.logs.nmae}`: `bucket` has no such input or output
              hint: did you mean `name`?
            error: stacks/x.toml:7:10: node_group.n: wrong type for `weight`: expected number, found string
            error: stacks/x.toml:8:20: empty interpolation `${}`
              hint: write `${var.<name>}`, `${env.<NAME>}` or `${<type>.<name>.<attribute>}`; `$${` is a literal `${`
            error: stacks/x.toml:8:33: malformed reference `${bucket.logs}`
              hint: write `${var.<name>}`, `${env.<NAME>}` or `${<type>.<name>.<attribute>}`; `$${` is a literal `${`
            error: stacks/x.toml:9:22: unterminated `${` in string
              hint: close it with `}`, or write `$${` for a literal `${`
            error: stacks/x.toml:9:33: malformed reference `${nope}`
              hint: write `${var.<name>}`, `${env.<NAME>}` or `${<type>.<name>.<attribute>}`; `$${` is a literal `${`
            error: stacks/x.toml:9:46: malformed reference `${a.b.c[x]}`
              hint: write `${var.<name>}`, `${env.<NAME>}` or `${<type>.<name>.<attribute>}`; `$${` is a literal `${`
        "#]],
    );
}

#[test]
fn schema_errors() {
    check(
        &[(
            "stacks/x.toml",
            r#"
[resources.bucket.logs]
versioning = "true"
tags = { a = 1, b = "ok" }
nmae = "x"
depend_on = []

[[resources.bucket.logs.lifecycle_rules]]
expiration_days = 9.5
transitions = [{ days = 30, storage_clas = "IA" }, "x"]

[resources.node_group.n]
cluster = 7
scaling = { min = 1, desird = 2 }
labels = ["a"]
weight = true
instance_types = { a = "b" }

[resources.buckt.b]
name = "x"

[resources.db."bad name"]
identifier = "x"

[resources.db.d]
identifier = "x"
params = { anything = [1, { nested = true }], d = 1979-05-27 }
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:2:1: bucket.logs: missing required attribute `name`
              hint: add `name` (string): the bucket's globally unique name
            error: stacks/x.toml:3:14: bucket.logs: wrong type for `versioning`: expected boolean, found string
              hint: write the value without quotes
            error: stacks/x.toml:4:14: bucket.logs: wrong type for `tags.a`: expected string, found integer
            error: stacks/x.toml:5:1: bucket.logs: unknown attribute `nmae` for `bucket`
              hint: did you mean `name`?
            error: stacks/x.toml:6:1: bucket.logs: unknown attribute `depend_on` for `bucket`
              hint: did you mean `depends_on`?
            error: stacks/x.toml:8:1: bucket.logs: missing required attribute `lifecycle_rules[0].id`
              hint: add `id` (string)
            error: stacks/x.toml:9:19: bucket.logs: wrong type for `lifecycle_rules[0].expiration_days`: expected integer, found float
            error: stacks/x.toml:10:16: bucket.logs: missing required attribute `lifecycle_rules[0].transitions[0].storage_class`
              hint: add `storage_class` (string)
            error: stacks/x.toml:10:29: bucket.logs: unknown attribute `lifecycle_rules[0].transitions[0].storage_clas` for `bucket`
              hint: did you mean `storage_class`?
            error: stacks/x.toml:10:52: bucket.logs: wrong type for `lifecycle_rules[0].transitions[1]`: expected table, found string
            error: stacks/x.toml:13:11: node_group.n: wrong type for `cluster`: expected string, found integer
            error: stacks/x.toml:14:11: node_group.n: missing required attribute `scaling.max`
              hint: add `max` (integer)
            error: stacks/x.toml:14:22: node_group.n: unknown attribute `scaling.desird` for `node_group`
              hint: did you mean `desired`?
            error: stacks/x.toml:15:10: node_group.n: wrong type for `labels`: expected table of string, found list
            error: stacks/x.toml:16:10: node_group.n: wrong type for `weight`: expected number, found boolean
            error: stacks/x.toml:17:18: node_group.n: wrong type for `instance_types`: expected list of string, found table
            error: stacks/x.toml:19:12: unknown resource type `buckt`
              hint: did you mean `bucket`?
            error: stacks/x.toml:22:15: invalid resource name `bad name`
              hint: names use ASCII letters, digits, `_` and `-`
        "#]],
    );
}

#[test]
fn check_table() {
    check_stack(
        "prod",
        &[
            (
                "stacks/base.toml",
                "[check.waive]\nrds-multi-az = \"one zone is enough here\"\n",
            ),
            (
                "stacks/prod.toml",
                "extends = \"base.toml\"\n[check]\nprofile = \"production\"\n[check.waive]\neks-public-endpoint = \"behind the VPN\"\n",
            ),
        ],
        expect![[r#"
            stack prod
            [check] profile = production  @ stacks/prod.toml:3:11
              waive eks-public-endpoint = "behind the VPN"  @ stacks/prod.toml:5:1
              waive rds-multi-az = "one zone is enough here"  @ stacks/base.toml:2:1
        "#]],
    );
    check(
        &[(
            "stacks/x.toml",
            r#"[check]
profile = "prod"
profiles = 1
[check.waive]
rds-multi-az = ""
eks-public-endpoint = true
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:2:11: unknown check profile `prod`
              hint: did you mean `production`?
            error: stacks/x.toml:3:1: unknown key `profiles` in `[check]`
              hint: did you mean `profile`?
            error: stacks/x.toml:5:16: the waiver of `rds-multi-az` gives no reason
              hint: say why the rule does not apply: `rds-multi-az = "why"`
            error: stacks/x.toml:6:23: the waiver of `eks-public-endpoint` must be a string, its reason; found boolean
              hint: write `eks-public-endpoint = "why"`
        "#]],
    );
    check(
        &[("stacks/x.toml", "check = 1\n")],
        expect![[r#"
            error: stacks/x.toml:1:9: `check` must be a table, found integer
              hint: write `[check]` with `profile = "production"` or `"development"`
        "#]],
    );
    check(
        &[("stacks/x.toml", "[check]\nprofile = 2\nwaive = \"all\"\n")],
        expect![[r#"
            error: stacks/x.toml:2:11: `check.profile` must be a string, found integer
              hint: write `profile = "production"` or `profile = "development"`
            error: stacks/x.toml:3:9: `check.waive` must be a table, found string
              hint: write `[check.waive]` with one `rule-id = "why"` per waived rule
        "#]],
    );
}

#[test]
fn top_level_errors() {
    check(
        &[(
            "stacks/x.toml",
            r#"state = 3
resource = {}
vars = [1]
[sims]
dir = "x"
[aws]
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:1:9: `state` must be a string, found integer
              hint: write where state lives, e.g. `state = "s3://bucket/key"`
            error: stacks/x.toml:2:1: unknown top-level key `resource`
              hint: did you mean `resources`?
            error: stacks/x.toml:3:8: `vars` must be a table, found list
              hint: declare variables under `[vars]`
            error: stacks/x.toml:4:2: unknown top-level key `sims`
              hint: did you mean `sim`?
            error: stacks/x.toml:6:2: unknown top-level key `aws`
              hint: allowed: check, extends, resources, state, vars, sim
        "#]],
    );
    check(
        &[(
            "stacks/x.toml",
            "sim = 1\nstate = \"${bucket.b.name}\"\nresources = 2\n",
        )],
        expect![[r#"
            error: stacks/x.toml:1:7: `sim` must be a table, found integer
              hint: write its settings under `[sim]`
            error: stacks/x.toml:2:9: resource reference in `state`
              hint: state is located before any resource exists; use a literal, `${var.*}` or `${env.*}`
            error: stacks/x.toml:3:13: `resources` must be a table, found integer
              hint: declare resources as `[resources.<type>.<name>]`
        "#]],
    );
    check(
        &[(
            "stacks/x.toml",
            "[sim]\nendpoint = \"${db.d.endpoint}\"\n[resources]\ndb = 1\nbucket = { b = 2 }\n",
        )],
        expect![[r#"
            error: stacks/x.toml:2:13: resource reference `${db.d.endpoint}` in `[sim]`
              hint: `[sim]` is resolved when the stack loads, before resources exist; refer to `db.d.endpoint` from a resource's inputs instead
            error: stacks/x.toml:4:6: `resources.db` must be a table of resources, found integer
              hint: declare resources as `[resources.db.<name>]`
            error: stacks/x.toml:5:16: resource `bucket.b` must be a table, found integer
              hint: write its attributes under `[resources.bucket.b]`
        "#]],
    );
}

#[test]
fn depends_on_and_lifecycle() {
    check(
        &[(
            "stacks/x.toml",
            r#"[resources.bucket.a]
name = "a"
depends_on = ["bucket.b", "bucket.a", "bucket.b"]
lifecycle = { ignore_changes = ["tags", "lifecycle_rules[0].id"], timeouts = { delete = "2h" } }

[resources.bucket.b]
name = "b"
"#,
        )],
        expect![[r#"
            stack x
            bucket.a @ stacks/x.toml:1:1
              depends_on = [bucket.b, bucket.a]
              lifecycle: prevent_destroy=false create_before_destroy=false ignore_changes=[tags, lifecycle_rules[0].id] timeouts=None/None/Some(7200s)
              name = "a"  @ stacks/x.toml:2:8
              versioning = false  @ (default)
            bucket.b @ stacks/x.toml:6:1
              name = "b"  @ stacks/x.toml:7:8
              versioning = false  @ (default)
        "#]],
    );
    check(
        &[(
            "stacks/x.toml",
            r#"[resources.bucket.a]
name = "a"
depends_on = ["bucket.c", "nodot", 3, "db.main"]

[resources.bucket.b]
name = "b"
depends_on = "bucket.a"
lifecycle = { prevent_destroy = "yes", ignore_changes = ["tgs", "a..b", 1], timeouts = { create = "40", updat = "1m", delete = 5 }, create_before = true }

[resources.bucket.c2]
name = "c"
lifecycle = 1
[resources.db.maine]
identifier = "x"
lifecycle = { ignore_changes = "all", timeouts = "1h", create_before_destroy = false }
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:3:15: bucket.a: dangling dependency `bucket.c`: no such resource in the stack
              hint: did you mean `bucket.a`?
            error: stacks/x.toml:3:27: bucket.a: `nodot` is not a resource address: expected `<type>.<name>` with ASCII letters, digits, `_` or `-`
            error: stacks/x.toml:3:36: bucket.a: `depends_on` entries must be strings, found integer
              hint: write `depends_on = ["<type>.<name>"]`
            error: stacks/x.toml:3:39: bucket.a: dangling dependency `db.main`: no such resource in the stack
              hint: did you mean `db.maine`?
            error: stacks/x.toml:7:14: bucket.b: `depends_on` must be a list of addresses, found string
              hint: write `depends_on = ["<type>.<name>"]`
            error: stacks/x.toml:8:33: bucket.b: wrong type for `lifecycle.prevent_destroy`: expected boolean, found string
            error: stacks/x.toml:8:58: bucket.b: unknown attribute `tgs` for `bucket` in `ignore_changes`
              hint: did you mean `tags`?
            error: stacks/x.toml:8:65: bucket.b: malformed attribute path `a..b`
              hint: write a path like `tags`, `scaling.desired` or `taints[0].key`
            error: stacks/x.toml:8:73: bucket.b: wrong type for `lifecycle.ignore_changes` entry: expected string, found integer
            error: stacks/x.toml:8:99: bucket.b: invalid duration `40`
              hint: write hours, minutes and seconds like "40m", "1h30m" or "90s"
            error: stacks/x.toml:8:105: bucket.b: unknown timeout `updat`
              hint: did you mean `update`?
            error: stacks/x.toml:8:128: bucket.b: wrong type for `lifecycle.timeouts.delete`: expected duration string, found integer
              hint: write hours, minutes and seconds like "40m", "1h30m" or "90s"
            error: stacks/x.toml:8:133: bucket.b: unknown lifecycle setting `create_before`
              hint: valid settings: create_before_destroy, ignore_changes, own, prevent_destroy, timeouts
            error: stacks/x.toml:12:13: bucket.c2: `lifecycle` must be a table, found integer
              hint: write `lifecycle = { prevent_destroy = true }`
            error: stacks/x.toml:15:32: db.maine: wrong type for `lifecycle.ignore_changes`: expected list of string, found string
              hint: write `ignore_changes = ["tags", "scaling.desired"]`
            error: stacks/x.toml:15:50: db.maine: wrong type for `lifecycle.timeouts`: expected table, found string
              hint: write `timeouts = { create = "40m", delete = "1h" }`
        "#]],
    );
}

#[test]
fn sensitive_inputs_from_env() {
    check(
        &[(
            "stacks/x.toml",
            r#"[resources.db.a]
identifier = "a"
password = { from_env = "DB_PASSWORD" }
params = { nested = { from_env = "UNSET_VAR" }, plain = 1 }

[resources.db.b]
identifier = "b"
password = "hunter2"
"#,
        )],
        expect![[r#"
            warning: stacks/x.toml:8:12: db.b: sensitive attribute `password` is written in the stack file
              hint: use `password = { from_env = "VAR" }` to keep the secret out of the file
            stack x
            db.a @ stacks/x.toml:1:1
              identifier = "a"  @ stacks/x.toml:2:14
              multi_az = false  @ (default)
              params = { nested = from_env UNSET_VAR (unset), plain = 1 }  @ stacks/x.toml:4:10
              password = from_env DB_PASSWORD (set)  @ stacks/x.toml:3:12
              port = 5432  @ (default)
            db.b @ stacks/x.toml:6:1
              identifier = "b"  @ stacks/x.toml:7:14
              multi_az = false  @ (default)
              password = "hunter2"  @ stacks/x.toml:8:12
              port = 5432  @ (default)
        "#]],
    );
    let loaded = load_files(
        "x",
        &[(
            "stacks/x.toml",
            b"[resources.db.a]\nidentifier = \"a\"\npassword = { from_env = \"DB_PASSWORD\" }\n",
        )],
    );
    let stack = loaded.stack.expect("stack");
    let a = stack
        .resource(&Address::new("db", "a").expect("address"))
        .expect("db.a");
    assert_eq!(
        a.inputs["password"],
        Expr::FromEnv {
            var: "DB_PASSWORD".into(),
            value: Some("hunter2".into())
        }
    );
    check(
        &[(
            "stacks/x.toml",
            "[resources.db.a]\nidentifier = \"a\"\npassword = { from_env = 1 }\n",
        )],
        expect![[r#"
            error: stacks/x.toml:3:25: db.a: `from_env` must name an environment variable
              hint: write `{ from_env = "NAME" }`
        "#]],
    );
}

#[test]
fn missing_and_unreadable_files() {
    check_stack(
        "prod",
        &[
            ("stacks/dev.toml", ""),
            ("stacks/airflow.toml", ""),
            ("stacks/notes.txt", ""),
        ],
        expect![[r#"
            error: cannot read `stacks/prod.toml`: no such file
              hint: available stacks: airflow, dev
        "#]],
    );
    check_stack(
        "prod",
        &[],
        expect![[r#"
            error: cannot read `stacks/prod.toml`: no such file
              hint: no stacks in `stacks/`: create `stacks/<name>.toml`
        "#]],
    );
    check_stack(
        "../etc/passwd",
        &[("stacks/a.toml", "")],
        expect![[r#"
            error: invalid stack name `../etc/passwd`
              hint: stack names use ASCII letters, digits, `_`, `-` and `.`; available stacks: a
        "#]],
    );
    let loaded = load_files(
        "x",
        &[(
            "stacks/x.toml",
            b"[vars]\nok = \"\xc3\xa9\"\nbad = \"\xff\"\n",
        )],
    );
    expect![[r#"
        error: stacks/x.toml:3:8: `stacks/x.toml` is not valid UTF-8
          hint: save the file as UTF-8
    "#]]
    .assert_eq(&render(&loaded, false));
}

#[test]
fn syntax_errors() {
    check(
        &[(
            "stacks/x.toml",
            "[vars]\na = 1\n\n[resources.bucket.b]\nname = \"é\" oops\n",
        )],
        expect![[r#"
            error: stacks/x.toml:5:12: invalid toml: unexpected key or value, expected newline, `#`
        "#]],
    );
    check(
        &[("stacks/x.toml", "a = 1\na = 2\n[t]\n[t]\n")],
        expect![[r#"
            error: stacks/x.toml:2:1: invalid toml: duplicate key
            error: stacks/x.toml:4:2: invalid toml: duplicate key
        "#]],
    );
    // A syntax error in a base file is reported in that file.
    check(
        &[
            ("stacks/x.toml", "extends = \"y.toml\"\n"),
            ("stacks/y.toml", "x = \n"),
        ],
        expect![[r#"
            error: stacks/y.toml:1:5: invalid toml: string values must be quoted, expected literal string
        "#]],
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // Beyond the toml parser's own limit.
    let deep = format!("x = {}{}\n", "[".repeat(5000), "]".repeat(5000));
    let loaded = load_files("x", &[("stacks/x.toml", deep.as_bytes())]);
    assert!(loaded.stack.is_none());
    assert!(
        loaded.diagnostics[0]
            .to_string()
            .starts_with("error: stacks/x.toml:1:"),
        "{:?}",
        loaded.diagnostics
    );
    // Within the parser's limits, but deeper than ours when combined.
    let header: Vec<String> = (0..70).map(|i| format!("t{i}")).collect();
    let dotted: Vec<String> = (0..70).map(|i| format!("d{i}")).collect();
    let text = format!(
        "[vars.{}]\n{} = {}1{}\n",
        header.join("."),
        dotted.join("."),
        "[".repeat(20),
        "]".repeat(20)
    );
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:2:219: value nested too deeply: more than 64 lists and tables deep
          hint: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
    // Variables referring to variables: `v000` (resolved first) needs the
    // whole chain. Chains of dozens are fine; hundreds hit the depth limit.
    let chain = |n: usize| {
        let mut vars = String::from("[vars]\n");
        for i in 0..n {
            let _ = writeln!(vars, "v{i:03} = \"${{var.v{:03}}}\"", i + 1);
        }
        let _ = writeln!(vars, "v{n:03} = 1");
        vars.push_str("[resources.db.d]\nidentifier = \"id-${var.v000}\"\n");
        load_files("x", &[("stacks/x.toml", vars.as_bytes())])
    };
    let loaded = chain(50);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let stack = loaded.stack.expect("stack");
    assert_eq!(
        stack.resources[0].inputs["identifier"],
        Expr::Literal("id-1".into())
    );
    let loaded = chain(500);
    expect![[r#"
        error: stacks/x.toml:65:9: variables refer to each other too deeply
          hint: shorten the chain of `${var.*}` references
    "#]]
    .assert_eq(&render(&loaded, false));
}

#[test]
fn every_problem_in_one_run() {
    check(
        &[(
            "stacks/x.toml",
            r#"regoin = "x"
[vars]
a = "${env.MISSING}"
[resources.bucket.b]
name = "${var.a}"
versioning = 1
[resources.node_group.n]
cluster = "${bucket.c.name}"
scaling = { min = 1 }
depends_on = ["db.x"]
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:1:1: unknown top-level key `regoin`
              hint: allowed: check, extends, resources, state, vars, sim
            error: stacks/x.toml:3:6: environment variable `MISSING` is not set
              hint: set it before running, e.g. `export MISSING=...`
            error: stacks/x.toml:6:14: bucket.b: wrong type for `versioning`: expected boolean, found integer
            error: stacks/x.toml:8:12: node_group.n: dangling reference `${bucket.c.name}`: no resource `bucket.c` in the stack
              hint: did you mean `bucket.b`?
            error: stacks/x.toml:9:11: node_group.n: missing required attribute `scaling.max`
              hint: add `max` (integer)
            error: stacks/x.toml:10:15: node_group.n: dangling dependency `db.x`: no such resource in the stack
              hint: declare it as `[resources.db.x]`
        "#]],
    );
}

#[test]
fn resource_locations_for_inline_and_dotted_tables() {
    check(
        &[(
            "stacks/x.toml",
            "[resources.bucket]\nlogs = { name = \"l\" }\n[resources]\nnode_group.n.cluster = \"c\"\n",
        )],
        expect![[r#"
            stack x
            bucket.logs @ stacks/x.toml:2:1
              name = "l"  @ stacks/x.toml:2:17
              versioning = false  @ (default)
            node_group.n @ stacks/x.toml:4:12
              cluster = "c"  @ stacks/x.toml:4:24
              instance_types = ["m5.large"]  @ (default)
        "#]],
    );
}

#[test]
fn escapes_and_multiline_strings_point_at_the_string() {
    check(
        &[(
            "stacks/x.toml",
            "[resources.bucket.b]\nname = \"\\t${var.nope}\"\ntags = { a = '''\n${var.nope2}''' }\n",
        )],
        expect![[r#"
            error: stacks/x.toml:2:8: unknown variable `var.nope`
              hint: declare it under `[vars]`: `nope = ...`
            error: stacks/x.toml:3:14: unknown variable `var.nope2`
              hint: declare it under `[vars]`: `nope2 = ...`
        "#]],
    );
}

/// `{ a = { a = ... 1 ... } }`, `levels` tables deep.
fn nested_tables(levels: usize) -> String {
    format!("{}1{}", "{ a = ".repeat(levels), " }".repeat(levels))
}

#[test]
fn values_deeper_than_max_nesting_are_refused() {
    use infra_core::MAX_NESTING;
    // At the limit: loads, and the value is that deep.
    let text = format!(
        "[resources.db.a]\nidentifier = \"a\"\nparams = {}\n",
        nested_tables(MAX_NESTING)
    );
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let stack = loaded.stack.expect("stack");
    let Expr::Literal(v) = &stack.resources[0].inputs["params"] else {
        panic!("a literal");
    };
    assert_eq!(v.nesting(), MAX_NESTING);
    // One level more, inline: at the table that crosses the limit. Lists
    // and headers count the same; each input is reported once.
    let text = format!(
        "[resources.db.a]\nidentifier = \"a\"\nparams = {}\n",
        nested_tables(MAX_NESTING + 1)
    );
    let crossing = "params = ".len() + "{ a = ".len() * MAX_NESTING + 1;
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    let rendered = render(&loaded, false);
    assert_eq!(
        rendered,
        format!(
            "error: stacks/x.toml:3:{crossing}: db.a: value nested too deeply: `params` nests lists and tables more than 64 deep\n  hint: flatten it, or pass the data as a JSON string\n"
        )
    );
    let lists = format!("{}{}", "[".repeat(70), "]".repeat(70));
    let header: Vec<String> = (0..70).map(|i| format!("k{i}")).collect();
    let text = format!(
        "[resources.db.a]\nidentifier = \"a\"\nparams = [{lists}, {lists}]\n[resources.db.b.params.{}]\nx = 1\n",
        header.join(".")
    );
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:3:74: db.a: value nested too deeply: `params` nests lists and tables more than 64 deep
          hint: flatten it, or pass the data as a JSON string
        error: stacks/x.toml:4:15: db.b: missing required attribute `identifier`
          hint: add `identifier` (string)
        error: stacks/x.toml:4:266: db.b: value nested too deeply: `params` nests lists and tables more than 64 deep
          hint: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
    // Beyond the toml parser's own limit: its error, with ours as the hint.
    let text = format!("[resources.db.a]\nparams = {}\n", nested_tables(100));
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:2:490: invalid toml: cannot recurse further; max recursion depth met
          hint: values nest at most 64 lists and tables deep: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
}

#[test]
fn variables_count_toward_max_nesting() {
    // `"${var.deep}"` keeps the variable's tables: 60 inside 4 is 64 and
    // loads; inside 5 it is 65, refused where the reference is written.
    let stack = |wrapped: &str| {
        format!(
            "[vars]\ndeep = {}\n[resources.db.a]\nidentifier = \"a\"\nparams = {wrapped}\n",
            nested_tables(60)
        )
    };
    let ok = stack(r#"{ a = { b = { c = { d = "${var.deep}" } } } }"#);
    let loaded = load_files("x", &[("stacks/x.toml", ok.as_bytes())]);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let text = stack(r#"{ a = { b = { c = { d = { e = "${var.deep}" } } } } }"#);
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:5:40: db.a: value nested too deeply: `${var.deep}` in `params.a.b.c.d.e` makes `params` 65 lists and tables deep, more than 64
          hint: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
    // Variables wrapping variables: refused at the definition that
    // crosses the limit, once, however often it is used.
    let text = format!(
        "[vars]\ndeep = {}\nwrap = {{ a = {{ b = [[[\"${{var.deep}}\"]]] }} }}\n[resources.db.a]\nidentifier = \"a\"\nparams = \"${{var.wrap}}\"\n[resources.db.b]\nidentifier = \"b\"\nparams = [\"${{var.wrap}}\"]\n",
        nested_tables(60)
    );
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:3:8: value nested too deeply: `var.wrap` is 65 lists and tables deep, more than 64
          hint: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
    // A variable too deep by itself.
    let text = format!("[vars]\ndeep = {}\n", nested_tables(70));
    let loaded = load_files("x", &[("stacks/x.toml", text.as_bytes())]);
    expect![[r#"
        error: stacks/x.toml:2:8: value nested too deeply: `var.deep` is 70 lists and tables deep, more than 64
          hint: flatten it, or pass the data as a JSON string
    "#]]
    .assert_eq(&render(&loaded, false));
}

#[test]
fn resource_types_and_names_that_cannot_be_addresses() {
    check(
        &[(
            "stacks/x.toml",
            "[resources.\"bucket.s3\".a]\nname = \"a\"\n[resources.\"x.y\".b]\n[resources.\"no de\".c]\n[resources.bucket.\"ünï\"]\nname = \"u\"\n",
        )],
        expect![[r#"
            error: stacks/x.toml:1:12: resource type `bucket.s3` contains a dot
              hint: did you mean `bucket`?
            error: stacks/x.toml:3:12: resource type `x.y` contains a dot
              hint: addresses are `<type>.<name>`: write the type without dots, unquoted
            error: stacks/x.toml:4:12: invalid resource type `no de`
              hint: types use ASCII letters, digits, `_` and `-`
            error: stacks/x.toml:5:19: invalid resource name `ünï`
              hint: names use ASCII letters, digits, `_` and `-`
        "#]],
    );
}

#[test]
fn available_stacks_lists_only_valid_stack_names() {
    let loaded = load_files(
        "prod",
        &[
            ("stacks/dev.toml", b""),
            ("stacks/my stack.toml", b""),
            ("stacks/.hidden.toml", b""),
            ("stacks/ünï.toml", b""),
            ("stacks/notes.txt", b""),
            ("stacks/toml", b""),
            ("stacks/dir.toml/x", b""),
            ("stacks/eu.west.toml", b""),
        ],
    );
    expect![[r#"
        error: cannot read `stacks/prod.toml`: no such file
          hint: available stacks: dev, eu.west
    "#]]
    .assert_eq(&render(&loaded, false));
    let loaded = load_files("my stack", &[("stacks/my stack.toml", b"")]);
    expect![[r#"
        error: invalid stack name `my stack`
          hint: stack names use ASCII letters, digits, `_`, `-` and `.`; no stacks in `stacks/`: create `stacks/<name>.toml`
    "#]]
    .assert_eq(&render(&loaded, false));
}

#[test]
fn from_env_tables_take_no_other_keys() {
    check(
        &[(
            "stacks/x.toml",
            r#"[resources.db.a]
identifier = "a"
password = { from_env = "DB_PASSWORD", other = 1 }
params = { x = { from_env = 5, a = 1, b = 2 } }

[resources.db.b.password]
from_env = "DB_PASSWORD"
default = "x"
"#,
        )],
        expect![[r#"
            error: stacks/x.toml:3:40: db.a: a `from_env` table takes no other keys: found `other`
              hint: write `{ from_env = "NAME" }` alone, as the whole value
            error: stacks/x.toml:4:29: db.a: `from_env` must name an environment variable
              hint: write `{ from_env = "NAME" }`
            error: stacks/x.toml:4:32: db.a: a `from_env` table takes no other keys: found `a`, `b`
              hint: write `{ from_env = "NAME" }` alone, as the whole value
            error: stacks/x.toml:6:15: db.b: missing required attribute `identifier`
              hint: add `identifier` (string)
            error: stacks/x.toml:8:1: db.b: a `from_env` table takes no other keys: found `default`
              hint: write `{ from_env = "NAME" }` alone, as the whole value
        "#]],
    );
}

#[test]
fn depends_on_entries_keep_their_locations() {
    let loaded = load_files(
        "x",
        &[(
            "stacks/x.toml",
            b"[resources.bucket.a]\nname = \"a\"\ndepends_on = [\"bucket.b\",\n  \"bucket.a\", \"bucket.b\"]\n[resources.bucket.b]\nname = \"b\"\n",
        )],
    );
    let stack = loaded.stack.expect("stack");
    let at: Vec<String> = stack.resources[0]
        .depends_on_locations
        .iter()
        .map(|(a, l)| format!("{a} @ {l}"))
        .collect();
    // The first mention of each.
    assert_eq!(
        at,
        [
            "bucket.a @ stacks/x.toml:4:3",
            "bucket.b @ stacks/x.toml:3:15"
        ]
    );
}

/// Loads on another thread, failing instead of hanging when it does not
/// return in time.
#[cfg(unix)]
fn load_within(root: &std::path::Path, seconds: u64) -> Loaded {
    let root = root.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load_stack(&root, "x", &registry(), &env));
    });
    rx.recv_timeout(std::time::Duration::from_secs(seconds))
        .expect("the load returns promptly")
}

#[cfg(unix)]
#[test]
fn extends_refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stacks = dir.path().join("stacks");
    std::fs::create_dir_all(stacks.join("base")).expect("mkdir");
    let status = std::process::Command::new("mkfifo")
        .arg(stacks.join("pipe.toml"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let cases = [
        (
            "extends = \"pipe.toml\"\n",
            "error: stacks/x.toml:1:11: `stacks/pipe.toml` is a named pipe (FIFO), not a stack file",
        ),
        (
            "extends = \"base\"\n",
            "error: stacks/x.toml:1:11: cannot read `stacks/base`: Is a directory",
        ),
        (
            "extends = \"/dev/zero\"\n",
            "error: stacks/x.toml:1:11: `/dev/zero` is a character device, not a stack file",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(stacks.join("x.toml"), text).expect("write");
        let loaded = load_within(dir.path(), 10);
        let rendered = render(&loaded, false);
        assert!(rendered.starts_with(expected), "{text}: {rendered}");
    }
    // The stack file itself, too.
    std::fs::remove_file(stacks.join("x.toml")).expect("rm");
    let status = std::process::Command::new("mkfifo")
        .arg(stacks.join("x.toml"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    expect![[r#"
        error: `stacks/x.toml` is a named pipe (FIFO), not a stack file
          hint: make `stacks/x.toml` a regular file holding the stack's TOML
    "#]]
    .assert_eq(&render(&load_within(dir.path(), 10), false));
}

#[test]
fn a_type_left_out_of_the_build_gets_its_registered_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
    std::fs::write(
        dir.path().join("stacks/x.toml"),
        "[resources.sim_resource.a]\npayload = 1\n\n[resources.bukket.b]\nname = \"b\"\n",
    )
    .expect("write");
    let mut registry = registry();
    registry.register_hint("sim_resource", "build infra with `--features sim`");
    expect![[r#"
        error: stacks/x.toml:1:12: unknown resource type `sim_resource`
          hint: build infra with `--features sim`
        error: stacks/x.toml:4:12: unknown resource type `bukket`
          hint: did you mean `bucket`?
    "#]]
    .assert_eq(&render(
        &load_stack(dir.path(), "x", &registry, &env),
        false,
    ));
}

#[test]
fn a_disabled_resource_is_left_out_and_references_to_it_name_both_places() {
    let base = r#"
[resources.db.main]
identifier = "main"

[resources.db.replica]
identifier = "replica"
"#;
    // Disabled in an overlay: gone from the stack, nothing else changes.
    check_stack(
        "local",
        &[
            ("stacks/airflow.toml", base),
            (
                "stacks/local.toml",
                "extends = \"airflow.toml\"\n# no replicas on the emulator\n[resources.db.replica]\nenabled = false\n",
            ),
        ],
        expect![[r#"
            stack local
            db.main @ stacks/airflow.toml:2:1
              identifier = "main"  @ stacks/airflow.toml:3:14
              multi_az = false  @ (default)
              port = 5432  @ (default)
        "#]],
    );
    // What refers to it says where, and where it was disabled; a mere
    // `depends_on` on it is dropped (it orders against nothing).
    let referring = r#"
[resources.db.main]
identifier = "${db.replica.identifier}"
depends_on = ["db.replica"]

[resources.db.replica]
identifier = "replica"
"#;
    check_stack(
        "local",
        &[
            ("stacks/airflow.toml", referring),
            (
                "stacks/local.toml",
                "extends = \"airflow.toml\"\n[resources.db.replica]\nenabled = false\n",
            ),
        ],
        expect![[r#"
            error: stacks/airflow.toml:3:15: db.main: reference `${db.replica.identifier}` to a disabled resource: `db.replica` is disabled (`enabled = false` at stacks/local.toml:3:11)
              hint: enable `db.replica`, or drop this reference where it is disabled
        "#]],
    );
    // `enabled` is a boolean; `true` is the default.
    check_stack(
        "x",
        &[(
            "stacks/x.toml",
            "[resources.db.a]\nidentifier = \"a\"\nenabled = true\n[resources.db.b]\nidentifier = \"b\"\nenabled = \"no\"\n",
        )],
        expect![[r#"
            error: stacks/x.toml:6:11: `enabled` of `db.b` must be true or false, found string
              hint: write `enabled = false` to leave the resource out of this stack
        "#]],
    );
}
