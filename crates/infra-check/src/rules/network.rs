//! The network: nothing but a load balancer's ports (80, 443) reachable
//! from the whole internet, and a database that admits security groups
//! only, never address blocks.

use super::{Cx, Rule, SECURITY};
use crate::Severity;
use crate::rules::eks::everywhere;
use crate::view::{Node, Res};

pub(crate) const PUBLIC_INGRESS: Rule = Rule {
    id: "network-public-ingress",
    item: "Nothing but the load balancer reachable from 0.0.0.0/0",
    checks: "no security group admits 0.0.0.0/0 except on the load balancer's ports 80 and 443",
    help: "admit the internet only to the load balancer (tcp 80 and 443); reach everything else through security groups or listed networks",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const DB_SECURITY_GROUPS: Rule = Rule {
    id: "network-db-security-groups",
    item: "The database admits only security groups",
    checks: "the database's security groups admit other security groups (the cluster's), no address blocks",
    help: "give the `rds_instance` a `security_group` whose ingress names `source_security_group_id`, without `cidr_blocks`",
    production: SECURITY.0,
    development: SECURITY.1,
};

/// The load balancer's ports.
const LB_PORTS: [i64; 2] = [80, 443];

pub(crate) fn check(cx: &mut Cx<'_>) {
    for res in cx.of_type("security_group") {
        for rule in res.get("ingress").items() {
            public_ingress(cx, &res, &rule);
        }
    }
    for db in cx.of_type("rds_instance") {
        let groups = db.get("vpc_security_group_ids");
        if groups.is_missing() || groups.strings().is_some_and(|g| g.is_empty()) {
            // The default group admits its own members only: security
            // groups still, but whatever else is in it too.
            cx.report_as(
                &DB_SECURITY_GROUPS,
                Severity::Warning,
                &db,
                Some(&groups),
                "the database has no security group of its own: RDS gives it the VPC's default group, which admits everything else in that group".into(),
                "set `vpc_security_group_ids` to a `security_group` that admits only the cluster's security group".into(),
            );
            continue;
        }
        for item in groups.items() {
            // A literal group id cannot be followed; only the stack's own.
            let Some(r) = item.reference() else { continue };
            let Some(group) = cx.resource(&r.address) else {
                continue;
            };
            if group.config.address.ty != "security_group" {
                continue;
            }
            for rule in group.get("ingress").items() {
                let cidrs = rule.get("cidr_blocks");
                if cidrs.is_missing() || cidrs.strings().is_some_and(|b| b.is_empty()) {
                    continue;
                }
                let blocks = cidrs
                    .strings()
                    .map_or("address blocks".to_owned(), |b| b.join(", "));
                cx.report(
                    &DB_SECURITY_GROUPS,
                    &group,
                    Some(&cidrs),
                    format!(
                        "the database `{}` is reachable from {blocks}, not only from security groups",
                        db.config.address
                    ),
                    "replace `cidr_blocks` with `source_security_group_id` (the cluster's security group)".into(),
                );
            }
        }
    }
}

fn public_ingress(cx: &mut Cx<'_>, res: &Res<'_>, rule: &Node<'_>) {
    let open: Vec<Node<'_>> = rule
        .get("cidr_blocks")
        .items()
        .into_iter()
        .filter(|c| c.str().is_some_and(everywhere))
        .collect();
    let Some(first) = open.first() else { return };
    let protocol = rule.get("protocol");
    let (from, to) = (rule.get("from_port").int(), rule.get("to_port").int());
    let ports = match (protocol.str(), from, to) {
        (Some("-1" | "all"), _, _) => "every port".to_owned(),
        (Some("tcp" | "6"), Some(from), Some(to)) if from == to && LB_PORTS.contains(&from) => {
            return;
        }
        (Some(p), Some(from), Some(to)) if from == to => format!("{p} port {from}"),
        (Some(p), Some(from), Some(to)) => format!("{p} ports {from}-{to}"),
        // Known only at apply.
        _ => return,
    };
    let cidr = first.str().unwrap_or("0.0.0.0/0");
    cx.report(
        &PUBLIC_INGRESS,
        res,
        Some(first),
        format!("ingress admits {cidr} to {ports}: only a load balancer's 80 and 443 may be open to the internet"),
        "admit the internet only on tcp 80/443 of the load balancer; name a security group or a listed network for the rest".into(),
    );
}
