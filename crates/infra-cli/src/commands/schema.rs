//! `infra schema [TYPE]...`: the reference of the resource types this build
//! knows, from their schemas: each input's type, whether it is required,
//! defaulted or computed, whether a change replaces the resource, whether
//! it is sensitive, its rules and description; each output. As text, as
//! `--json` (`{"version":1,"types":[...]}`), or as `--markdown` tables
//! (the ones in README.md, which a test keeps equal to this output).

use anyhow::bail;
use clap::Args;
use infra_core::{Attribute, Change, Output, Presence, Registry, Schema, Type, Validator, Value};
use serde_json::json;

use crate::{Context, Exit, json};

/// `infra schema` flags.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The resource types to describe; every type when none is given.
    #[arg(value_name = "TYPE")]
    pub types: Vec<String>,
    /// Print Markdown tables (as in README.md) instead of text.
    #[arg(long)]
    pub markdown: bool,
}

/// Prints the reference.
pub fn exec(ctx: &Context, args: SchemaArgs) -> anyhow::Result<Exit> {
    if ctx.json && args.markdown {
        bail!(
            "--markdown and --json cannot be used together\n  hint: --json prints the reference as JSON; drop one of them"
        );
    }
    let schemas = select(&ctx.registry, &args.types)?;
    let out = if ctx.json {
        json::to_pretty(&document(&schemas))
    } else if args.markdown {
        markdown(&schemas)
    } else {
        text(&schemas)
    };
    ctx.shell.out(&out);
    Ok(Exit::Success)
}

/// The schemas of `types` (every registered type when empty), in the
/// order given; an unknown type is an error listing the known ones.
fn select<'r>(registry: &'r Registry, types: &[String]) -> anyhow::Result<Vec<&'r Schema>> {
    if types.is_empty() {
        return Ok(registry.providers().map(|p| p.schema()).collect());
    }
    let mut out = Vec::with_capacity(types.len());
    let mut unknown = Vec::new();
    for t in types {
        match registry.get(t) {
            Some(p) => out.push(p.schema()),
            None => unknown.push(format!("`{t}`")),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<&str> = registry.type_names().collect();
        bail!(
            "unknown resource type{} {}\n  hint: known types: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            known.join(", ")
        );
    }
    Ok(out)
}

/// The `--markdown` reference of `types` (every registered type when
/// empty): per type a heading, a table of inputs and one of outputs.
pub fn schema_markdown(registry: &Registry, types: &[String]) -> anyhow::Result<String> {
    Ok(markdown(&select(registry, types)?))
}

/// The `--json` reference of `types` (every registered type when empty).
pub fn schema_json(registry: &Registry, types: &[String]) -> anyhow::Result<serde_json::Value> {
    Ok(document(&select(registry, types)?))
}

/// An input attribute with the path it is shown under: `scaling.min`,
/// `taints[].key`, `routes.*.target`.
struct Row<'s> {
    path: String,
    attr: &'s Attribute,
}

/// Every input of a schema, nested attributes after their parent.
fn rows(schema: &Schema) -> Vec<Row<'_>> {
    fn walk<'s>(attrs: &'s [Attribute], prefix: &str, out: &mut Vec<Row<'s>>) {
        for a in attrs {
            let path = format!("{prefix}{}", a.name);
            out.push(Row {
                path: path.clone(),
                attr: a,
            });
            let inner = a.ty.attributes();
            if !inner.is_empty() {
                walk(inner, &format!("{path}{}.", item_marker(&a.ty)), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&schema.attributes, "", &mut out);
    out
}

/// How a path steps into the items of a type holding objects.
fn item_marker(ty: &Type) -> &'static str {
    match ty {
        Type::List(_) | Type::Set(_) => "[]",
        Type::Map(_) => ".*",
        _ => "",
    }
}

/// `required`, `optional`, `default = 5`, `computed`.
fn presence(a: &Attribute) -> String {
    if a.computed {
        return "computed".into();
    }
    match &a.presence {
        Presence::Required => "required".into(),
        Presence::Optional => "optional".into(),
        Presence::Default(v) => format!("default {v}"),
    }
}

fn change(a: &Attribute) -> &'static str {
    match a.change {
        Change::InPlace => "in place",
        Change::Replace => "replaces",
    }
}

/// The rules of an attribute in words, `; `-separated.
fn rules(a: &Attribute) -> String {
    let mut rules: Vec<String> = a.validators.iter().map(Validator::describe).collect();
    if matches!(a.ty, Type::Set(_)) {
        rules.push("each item once, in any order".into());
    }
    rules.join("; ")
}

fn text(schemas: &[&Schema]) -> String {
    let mut out = String::new();
    for (i, s) in schemas.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&s.type_name);
        out.push_str("\n  inputs:\n");
        for r in rows(s) {
            let a = r.attr;
            let mut facts = vec![presence(a)];
            if a.change == Change::Replace {
                facts.push("forces replacement".into());
            }
            if a.sensitive {
                facts.push("sensitive".into());
            }
            out.push_str(&format!(
                "    {} ({}) {}\n",
                r.path,
                a.ty.syntax(),
                facts.join(", ")
            ));
            if !a.description.is_empty() {
                out.push_str(&format!("        {}\n", a.description));
            }
            let rules = rules(a);
            if !rules.is_empty() {
                out.push_str(&format!("        must be: {rules}\n"));
            }
        }
        out.push_str("  outputs:\n");
        for o in &s.outputs {
            let sensitive = if o.sensitive { ", sensitive" } else { "" };
            out.push_str(&format!("    {} ({}{sensitive})\n", o.name, o.ty.syntax()));
            if !o.description.is_empty() {
                out.push_str(&format!("        {}\n", o.description));
            }
        }
    }
    out
}

/// A table cell: pipes escaped, no line breaks, and `<` `>` outside code
/// spans written as entities (else `<name>` is read as an HTML tag).
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut code = false;
    for c in s.chars() {
        match c {
            '`' => {
                code = !code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '\n' => out.push(' '),
            '<' if !code => out.push_str("&lt;"),
            '>' if !code => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn markdown(schemas: &[&Schema]) -> String {
    let mut out = String::new();
    for (i, s) in schemas.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("#### `{}`\n\n", s.type_name));
        out.push_str("| input | type | presence | change | description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for r in rows(s) {
            let a = r.attr;
            let mut presence = match (&a.presence, a.computed) {
                (Presence::Default(v), false) => format!("default `{v}`"),
                _ => presence(a),
            };
            if a.sensitive {
                presence.push_str(", sensitive");
            }
            let change = match a.change {
                Change::Replace => "**replaces**",
                Change::InPlace => change(a),
            };
            let mut description = a.description.clone();
            let rules = rules(a);
            if !rules.is_empty() {
                if !description.is_empty() {
                    description.push_str("; ");
                }
                description.push_str("must be: ");
                description.push_str(&rules);
            }
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                r.path,
                a.ty.syntax(),
                cell(&presence),
                change,
                cell(&description)
            ));
        }
        out.push_str("\n| output | type | description |\n| --- | --- | --- |\n");
        for o in &s.outputs {
            let sensitive = if o.sensitive {
                "sensitive (kept as a digest); "
            } else {
                ""
            };
            out.push_str(&format!(
                "| `{}` | `{}` | {sensitive}{} |\n",
                o.name,
                o.ty.syntax(),
                cell(&o.description)
            ));
        }
    }
    out
}

/// `{"version":1,"types":[{"type":...,"attributes":[...],"outputs":[...]}]}`.
fn document(schemas: &[&Schema]) -> serde_json::Value {
    json!({
        "version": json::VERSION,
        "types": schemas.iter().map(|s| json!({
            "type": s.type_name,
            "attributes": s.attributes.iter().map(attribute).collect::<Vec<_>>(),
            "outputs": s.outputs.iter().map(output).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// One input: `presence` is `required`, `optional`, `default` (with
/// `default` the value) or `computed`; `change` is `in_place` or
/// `replace`; `attributes` are the nested ones of an object type (or of a
/// list, set or map of objects).
fn attribute(a: &Attribute) -> serde_json::Value {
    let (presence, default) = match (&a.presence, a.computed) {
        (_, true) => ("computed", None),
        (Presence::Required, _) => ("required", None),
        (Presence::Optional, _) => ("optional", None),
        (Presence::Default(v), _) => ("default", Some(v)),
    };
    json!({
        "name": a.name,
        "type": a.ty.syntax(),
        "presence": presence,
        "default": default.map(Value::to_owned),
        "change": match a.change {
            Change::InPlace => "in_place",
            Change::Replace => "replace",
        },
        "sensitive": a.sensitive,
        "validators": a.validators.iter().map(validator).collect::<Vec<_>>(),
        "description": a.description,
        "attributes": a.ty.attributes().iter().map(attribute).collect::<Vec<_>>(),
    })
}

/// A rule: `kind` and its parameters (an open bound is null), with its
/// `description` in words.
fn validator(v: &Validator) -> serde_json::Value {
    let description = v.describe();
    let bound = |n: i64, open: i64| (n != open).then_some(n);
    let limit = |n: usize| (n != usize::MAX).then_some(n);
    match v {
        Validator::Pattern(p) => json!({
            "kind": "pattern", "pattern": p.source(), "description": description,
        }),
        Validator::Range { min, max } => json!({
            "kind": "range",
            "min": bound(*min, i64::MIN),
            "max": bound(*max, i64::MAX),
            "description": description,
        }),
        Validator::Length { min, max } => json!({
            "kind": "length", "min": min, "max": limit(*max), "description": description,
        }),
        Validator::Count { min, max } => json!({
            "kind": "count", "min": min, "max": limit(*max), "description": description,
        }),
        Validator::OneOf(values) => json!({
            "kind": "one_of", "values": values, "description": description,
        }),
        Validator::Cidr => json!({ "kind": "cidr", "description": description }),
        Validator::Arn => json!({ "kind": "arn", "description": description }),
    }
}

fn output(o: &Output) -> serde_json::Value {
    json!({ "name": o.name, "type": o.ty.syntax(), "sensitive": o.sensitive, "description": o.description })
}

#[cfg(test)]
mod tests {
    use infra_core::{Schema, Type, Validator};

    use super::*;

    fn schema() -> Schema {
        Schema::new("db")
            .attribute(
                Attribute::new("name", Type::String)
                    .required()
                    .forces_replacement()
                    .validate(Validator::Length { min: 1, max: 63 })
                    .describe("the name | unique, `<db>` or <db>"),
            )
            .attribute(
                Attribute::new("port", Type::Int)
                    .default(5432)
                    .validate(Validator::Range { min: 1, max: 65535 })
                    .describe("the port"),
            )
            .attribute(
                Attribute::new("version", Type::String)
                    .computed()
                    .describe("picked by the cloud when unset"),
            )
            .attribute(
                Attribute::new("password", Type::String)
                    .sensitive()
                    .describe("the password"),
            )
            .attribute(
                Attribute::new("security_group_ids", Type::set(Type::String))
                    .describe("security groups"),
            )
            .attribute(
                Attribute::new(
                    "rules",
                    Type::list(Type::Object(vec![
                        Attribute::new("cidr", Type::String)
                            .required()
                            .validate(Validator::Cidr)
                            .describe("the block"),
                    ])),
                )
                .describe("access rules"),
            )
            .output(Output::new("address", Type::String, "the host name"))
    }

    #[test]
    fn markdown_tables() {
        expect_test::expect![[r#"
            #### `db`

            | input | type | presence | change | description |
            | --- | --- | --- | --- | --- |
            | `name` | `string` | required | **replaces** | the name \| unique, `<db>` or &lt;db&gt;; must be: between 1 and 63 characters long |
            | `port` | `int` | default `5432` | in place | the port; must be: between 1 and 65535 |
            | `version` | `string` | computed | in place | picked by the cloud when unset |
            | `password` | `string` | optional, sensitive | in place | the password |
            | `security_group_ids` | `set(string)` | optional | in place | security groups; must be: each item once, in any order |
            | `rules` | `list(object{cidr})` | optional | in place | access rules |
            | `rules[].cidr` | `string` | required | in place | the block; must be: an IPv4 CIDR block such as 10.0.0.0/16 |

            | output | type | description |
            | --- | --- | --- |
            | `id` | `string` | the cloud's identifier of the resource |
            | `address` | `string` | the host name |
        "#]]
        .assert_eq(&markdown(&[&schema()]));
    }

    #[test]
    fn text_reference() {
        expect_test::expect![[r#"
            db
              inputs:
                name (string) required, forces replacement
                    the name | unique, `<db>` or <db>
                    must be: between 1 and 63 characters long
                port (int) default 5432
                    the port
                    must be: between 1 and 65535
                version (string) computed
                    picked by the cloud when unset
                password (string) optional, sensitive
                    the password
                security_group_ids (set(string)) optional
                    security groups
                    must be: each item once, in any order
                rules (list(object{cidr})) optional
                    access rules
                rules[].cidr (string) required
                    the block
                    must be: an IPv4 CIDR block such as 10.0.0.0/16
              outputs:
                id (string)
                    the cloud's identifier of the resource
                address (string)
                    the host name
        "#]]
        .assert_eq(&text(&[&schema()]));
    }

    #[test]
    fn json_document() {
        let doc = document(&[&schema()]);
        assert_eq!(doc["version"], 1);
        let db = &doc["types"][0];
        assert_eq!(db["type"], "db");
        let attrs = db["attributes"].as_array().unwrap();
        assert_eq!(
            attrs[0],
            json!({
                "name": "name",
                "type": "string",
                "presence": "required",
                "default": null,
                "change": "replace",
                "sensitive": false,
                "validators": [{"kind": "length", "min": 1, "max": 63,
                    "description": "between 1 and 63 characters long"}],
                "description": "the name | unique, `<db>` or <db>",
                "attributes": [],
            })
        );
        assert_eq!(attrs[1]["presence"], "default");
        assert_eq!(attrs[1]["default"], 5432);
        assert_eq!(attrs[1]["validators"][0]["min"], 1);
        assert_eq!(attrs[2]["presence"], "computed");
        assert_eq!(attrs[3]["sensitive"], true);
        assert_eq!(attrs[5]["attributes"][0]["validators"][0]["kind"], "cidr");
        assert_eq!(
            db["outputs"][1],
            json!({"name": "address", "type": "string", "sensitive": false, "description": "the host name"})
        );
    }

    #[test]
    fn unknown_types_are_named_with_the_known_ones() {
        let mut registry = Registry::new();
        for p in infra_eks::providers(infra_aws::AwsContext::new()) {
            registry.register(p);
        }
        let all = select(&registry, &[]).unwrap();
        assert_eq!(all.len(), registry.type_names().count());
        let e = select(&registry, &["eks_cluster".into(), "ekz".into(), "q".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown resource types `ekz`, `q`\n  hint: known types: eks_access_entry, eks_addon, eks_cluster, eks_node_group"
        );
    }
}
