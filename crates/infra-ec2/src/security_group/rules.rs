//! The rules of a `security_group`: read from the inputs, split into the
//! grants AWS stores (one per protocol, ports and source), and grouped
//! back into rules spelled as the stack gave them, so a second plan is
//! empty and a rule added outside the stack shows as drift.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
use infra_core::{Attribute, Fields, Phase, Type, Validator, Value, string_list};

/// The type of one rule of `ingress` or `egress`.
pub(super) fn rule_type() -> Type {
    let port = |name: &str, what: &str| {
        Attribute::new(name, Type::Int)
            .required()
            .validate(Validator::Range { min: 0, max: 65535 })
            .describe(what)
    };
    Type::Object(vec![
        Attribute::new("protocol", Type::String)
            .required()
            .validate(Validator::pattern(
                "-1|all|tcp|udp|icmp|icmpv6|25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]",
                "`-1` or `all`, tcp, udp, icmp, icmpv6 or a protocol number",
            ))
            .describe("the protocol: `-1` (or `all`), tcp, udp, icmp or a number"),
        port(
            "from_port",
            "the first port (ICMP type), 0 for all protocols",
        ),
        port("to_port", "the last port (ICMP code), 0 for all protocols"),
        Attribute::new("cidr_blocks", Type::set(Type::String))
            .validate(Validator::Cidr)
            .describe("IPv4 blocks it admits (or reaches); or use source_security_group_id"),
        Attribute::new("source_security_group_id", Type::String)
            .describe("a security group it admits (or reaches), such as one EKS made"),
        Attribute::new("description", Type::String).describe("what the rule is for"),
    ])
}

/// Where a grant admits traffic from (ingress) or to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Cidr(String),
    Group(String),
}

/// One grant as AWS stores it: a protocol, ports, one source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Grant {
    protocol: String,
    from: i32,
    to: i32,
    source: Source,
    description: Option<String>,
}

/// A rule as given, and the grants it stands for.
#[derive(Debug)]
pub(super) struct Rule {
    given: Value,
    grants: Vec<Grant>,
}

/// `all` is `-1`, protocol numbers AWS names are named: how AWS reports
/// a protocol, so both sides compare.
fn protocol(given: &str) -> String {
    match given.to_ascii_lowercase().as_str() {
        "all" | "-1" => "-1".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.to_owned(),
    }
}

/// The ports AWS reports for a protocol: none for all protocols.
fn ports(protocol: &str, from: Option<i32>, to: Option<i32>) -> (i32, i32) {
    if protocol == "-1" {
        (0, 0)
    } else {
        (from.unwrap_or(0), to.unwrap_or(0))
    }
}

/// Reads the rules under `key`, each problem at its path.
pub(super) fn read_rules(f: &mut Fields<'_>, key: &str) -> Vec<Rule> {
    f.tables(key, |t| {
        let given = t.inputs().clone();
        let proto = protocol(&t.required_string("protocol"));
        for port in ["from_port", "to_port"] {
            if !t.is_set(port) {
                t.problem_at(port, format!("`{port}` is required (0 with protocol \"-1\")"));
            }
        }
        let (from, to) = (t.i32("from_port"), t.i32("to_port"));
        if let (Some(a), Some(b)) = (from, to)
            && a > b
            && matches!(proto.as_str(), "tcp" | "udp")
        {
            t.problem_at("to_port", format!("`to_port` ({b}) must not be below `from_port` ({a})"));
        }
        let (from, to) = ports(&proto, from, to);
        let cidrs = t.strings("cidr_blocks").unwrap_or_default();
        let group = t.string("source_security_group_id");
        match (t.is_set("cidr_blocks"), t.is_set("source_security_group_id")) {
            (true, true) => t.problem(&[], "a rule has exactly one source: set `cidr_blocks` or `source_security_group_id`, not both"),
            (false, false) => t.problem(&[], "a rule needs a source: set `cidr_blocks` or `source_security_group_id`"),
            _ => {}
        }
        let description = t.string("description").filter(|d| !d.is_empty());
        let sources = cidrs.into_iter().map(Source::Cidr).chain(group.map(Source::Group));
        let grant = |source| Grant { protocol: proto.clone(), from, to, source, description: description.clone() };
        Rule { given, grants: sources.map(grant).collect() }
    })
}

/// The rules of `key` in `inputs` (applied, or last recorded), to spell the
/// observed rules as given.
pub(super) fn reference(inputs: &Value, key: &str) -> Vec<Rule> {
    let mut f = Fields::new(inputs, Phase::Plan);
    read_rules(&mut f, key)
}

/// The grants of AWS's permissions (IPv4 blocks and groups; IPv6 blocks
/// and prefix lists are not this type's and are left alone).
pub(super) fn grants(permissions: &[IpPermission]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for p in permissions {
        let proto = protocol(p.ip_protocol().unwrap_or("-1"));
        let (from, to) = ports(&proto, p.from_port(), p.to_port());
        let described = |d: Option<&str>| d.filter(|d| !d.is_empty()).map(str::to_owned);
        let grant = |source, description| Grant {
            protocol: proto.clone(),
            from,
            to,
            source,
            description,
        };
        for r in p.ip_ranges() {
            if let Some(cidr) = r.cidr_ip() {
                out.insert(grant(
                    Source::Cidr(cidr.to_owned()),
                    described(r.description()),
                ));
            }
        }
        for pair in p.user_id_group_pairs() {
            if let Some(group) = pair.group_id() {
                out.insert(grant(
                    Source::Group(group.to_owned()),
                    described(pair.description()),
                ));
            }
        }
    }
    out
}

/// The grants as rules: a reference rule whose grants are all there is
/// reported as given; the rest are grouped by protocol, ports and
/// description.
pub(super) fn as_rules(actual: &BTreeSet<Grant>, reference: &[Rule]) -> Value {
    let mut left = actual.clone();
    let mut out = Vec::new();
    for rule in reference {
        if !rule.grants.is_empty() && rule.grants.iter().all(|g| left.contains(g)) {
            rule.grants.iter().for_each(|g| {
                left.remove(g);
            });
            out.push(rule.given.clone());
        }
    }
    let rule = |g: &Grant, source: (&str, Value)| -> Value {
        let mut fields = vec![
            ("protocol", Value::from(g.protocol.as_str())),
            ("from_port", Value::Int(g.from.into())),
            ("to_port", Value::Int(g.to.into())),
            source,
        ];
        if let Some(d) = &g.description {
            fields.push(("description", Value::from(d.as_str())));
        }
        fields.into_iter().collect()
    };
    // Blocks of the same protocol, ports and description are one rule:
    // keyed by the grant with its source left out.
    let mut blocks: BTreeMap<Grant, Vec<String>> = BTreeMap::new();
    for g in &left {
        match &g.source {
            Source::Group(id) => {
                out.push(rule(g, ("source_security_group_id", id.as_str().into())))
            }
            Source::Cidr(c) => {
                let key = Grant {
                    source: Source::Cidr(String::new()),
                    ..g.clone()
                };
                blocks.entry(key).or_default().push(c.clone());
            }
        }
    }
    for (g, cidrs) in &blocks {
        out.push(rule(g, ("cidr_blocks", string_list(cidrs))));
    }
    Value::List(out)
}

/// The permission that authorizes (or, descriptions aside, revokes) `g`.
pub(super) fn permission(g: &Grant) -> IpPermission {
    let p = IpPermission::builder().ip_protocol(&g.protocol);
    let p = if g.protocol == "-1" {
        p
    } else {
        p.from_port(g.from).to_port(g.to)
    };
    let d = g.description.clone();
    match &g.source {
        Source::Cidr(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
        Source::Group(id) => p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(id)
                .set_description(d)
                .build(),
        ),
    }
    .build()
}

/// Every grant of these rules.
pub(super) fn all(rules: &[Rule]) -> BTreeSet<Grant> {
    rules
        .iter()
        .flat_map(|r| r.grants.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pairs: &[(&str, Value)]) -> Value {
        pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    #[test]
    fn observed_rules_are_spelled_as_given_and_the_rest_grouped() {
        let given = rule(&[
            ("protocol", "all".into()),
            ("from_port", Value::Int(0)),
            ("to_port", Value::Int(0)),
            ("cidr_blocks", Value::List(vec!["0.0.0.0/0".into()])),
        ]);
        let inputs: Value = [("egress", Value::List(vec![given.clone()]))]
            .into_iter()
            .collect();
        let aws = [
            IpPermission::builder()
                .ip_protocol("-1")
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id("sg-9")
                        .description("eks")
                        .build(),
                )
                .build(),
        ];
        let observed = as_rules(&grants(&aws), &reference(&inputs, "egress"));
        let list = observed.as_list().unwrap();
        assert_eq!(list.len(), 3, "{observed}");
        assert_eq!(list[0], given);
        assert_eq!(
            list[1]
                .get("source_security_group_id")
                .and_then(Value::as_str),
            Some("sg-9")
        );
        assert_eq!(
            list[1].get("description").and_then(Value::as_str),
            Some("eks")
        );
        assert_eq!(
            list[2]
                .get("cidr_blocks")
                .and_then(Value::as_list)
                .map(<[Value]>::len),
            Some(2)
        );
    }
}
