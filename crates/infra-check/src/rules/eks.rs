//! The cluster (`eks_cluster`): a public endpoint closed to the internet
//! at large, control-plane logs, and access entries besides the creator's.

use super::{Cx, OPERATIONS, Rule};
use crate::Severity::{Error, Note};
use crate::view::Res;

pub(crate) const PUBLIC_ENDPOINT: Rule = Rule {
    id: "eks-public-endpoint",
    item: "Public endpoint not open to 0.0.0.0/0 in production",
    checks: "the cluster's public API endpoint, when on, admits only listed networks",
    help: "set `public_access_cidrs` to the operators' and CI's networks, or `endpoint_public_access = false` with `endpoint_private_access = true`",
    production: Some(Error),
    development: Some(Note),
};

pub(crate) const CONTROL_PLANE_LOGS: Rule = Rule {
    id: "eks-control-plane-logs",
    item: "Control-plane logs on",
    checks: "the control plane sends its api, audit and authenticator logs to CloudWatch",
    help: "set `enabled_log_types = [\"api\", \"audit\", \"authenticator\"]`",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const ACCESS_ENTRIES: Rule = Rule {
    id: "eks-access-entries",
    item: "Access entries for more than the creator",
    checks: "at least one `eks_access_entry` gives someone besides the cluster's creator access",
    help: "add an `eks_access_entry` for the CI role and one for the administrators",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

/// Whether a CIDR block is the whole internet (`0.0.0.0/0`, any `/0`).
pub(crate) fn everywhere(cidr: &str) -> bool {
    cidr.trim().ends_with("/0")
}

const LOG_TYPES: [&str; 3] = ["api", "audit", "authenticator"];

pub(crate) fn check(cx: &mut Cx<'_>) {
    let entries = cx.of_type("eks_access_entry");
    for res in cx.of_type("eks_cluster") {
        public_endpoint(cx, &res);
        let logs = res.get("enabled_log_types");
        if logs.is_missing() {
            cx.report(
                &CONTROL_PLANE_LOGS,
                &res,
                Some(&logs),
                "the control plane sends no logs to CloudWatch".into(),
                "set `enabled_log_types = [\"api\", \"audit\", \"authenticator\"]`".into(),
            );
        } else if let Some(types) = logs.strings() {
            let missing: Vec<&str> = LOG_TYPES
                .into_iter()
                .filter(|t| !types.contains(t))
                .collect();
            if !missing.is_empty() {
                cx.report(
                    &CONTROL_PLANE_LOGS,
                    &res,
                    Some(&logs),
                    format!(
                        "the control plane does not log {}",
                        missing
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("add {} to `enabled_log_types`", missing.join(", ")),
                );
            }
        }
        let name = res.get("name");
        let serves = |entry: &Res<'_>| {
            let cluster = entry.get("cluster");
            match cluster.reference() {
                Some(r) => r.address == res.config.address,
                None => cluster.str().is_some() && cluster.str() == name.str(),
            }
        };
        if !entries.iter().any(serves) {
            cx.report(
                &ACCESS_ENTRIES,
                &res,
                None,
                "no `eks_access_entry` names this cluster: only whoever created it can use it".into(),
                format!(
                    "add an `eks_access_entry` with `cluster = \"${{{}.name}}\"` for the CI role and one for the administrators",
                    res.config.address
                ),
            );
        }
    }
}

fn public_endpoint(cx: &mut Cx<'_>, res: &Res<'_>) {
    let public = res.get("endpoint_public_access");
    if public.bool() != Some(true) {
        return;
    }
    let cidrs = res.get("public_access_cidrs");
    if cidrs.is_missing() {
        cx.report(
            &PUBLIC_ENDPOINT,
            res,
            Some(&public),
            "the public API endpoint admits the whole internet (`public_access_cidrs` is unset, and AWS's default is 0.0.0.0/0)".into(),
            "set `public_access_cidrs` to the operators' and CI's networks".into(),
        );
        return;
    }
    for item in cidrs.items() {
        if let Some(c) = item.str()
            && everywhere(c)
        {
            cx.report(
                &PUBLIC_ENDPOINT,
                res,
                Some(&item),
                format!("the public API endpoint admits the whole internet (`{c}` in `public_access_cidrs`)"),
                "list the operators' and CI's networks in `public_access_cidrs` instead".into(),
            );
        }
    }
}
