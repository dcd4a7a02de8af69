//! `service_account_trust` on `iam_role`: the trust statement of an IAM
//! role for Kubernetes service accounts (IRSA), built from the cluster's
//! OIDC provider ARN and the service accounts that may assume the role.
//!
//! IRSA's condition keys hold the issuer's host path
//! (`oidc.eks.<region>.amazonaws.com/id/<id>:sub`). A stack file resolves
//! references in values only, never in table keys, and the issuer is not
//! known before the cluster exists, so a stack cannot write that statement
//! as a policy table: it names the provider and the service accounts, and
//! the statement is built here once the provider's ARN is known.
//!
//! The statement, for provider `arn:aws:iam::<account>:oidc-provider/<host>`:
//!
//! ```text
//! { Effect = "Allow", Principal = { Federated = <provider ARN> },
//!   Action = "sts:AssumeRoleWithWebIdentity",
//!   Condition = { StringEquals = { "<host>:aud" = <audience> },
//!                 <op> = { "<host>:sub" = ["system:serviceaccount:<ns>:<name>", …] } } }
//! ```
//!
//! where `<op>` is `StringEquals`, or `StringLike` when a service account
//! is `<ns>:*` (every service account of the namespace).

use std::collections::BTreeMap;

use infra_core::{Attribute, Fields, PathSeg, Phase, Type, Validator, Value};

use crate::policy::{self, Kind};

/// The input's name on `iam_role`.
pub(crate) const KEY: &str = "service_account_trust";

/// The audience a service account's projected token carries for IRSA.
pub(crate) const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

/// The policy language version of a document built without a given one.
const VERSION: &str = "2012-10-17";

const PROVIDER_ARN: &str = "oidc_provider_arn";
const ACCOUNTS: &str = "service_accounts";
const AUDIENCE: &str = "audience";

/// The longest Kubernetes namespace (a DNS label) and service account
/// name (a DNS subdomain).
const MAX_NAMESPACE: usize = 63;
const MAX_NAME: usize = 253;

/// The `service_account_trust` attribute of the schema.
pub(crate) fn attribute() -> Attribute {
    let arn = Attribute::new(PROVIDER_ARN, Type::String)
        .required()
        .validate(Validator::Arn)
        .describe(
            "the ARN of the cluster's OIDC provider (`arn:aws:iam::<account>:oidc-provider/<issuer host and path>`), such as `${iam_openid_connect_provider.eks.arn}`; may be known only at apply",
        );
    let accounts = Attribute::new(ACCOUNTS, Type::set(Type::String))
        .required()
        .validate(Validator::Count {
            min: 1,
            max: usize::MAX,
        })
        .describe(
            "the service accounts that may assume the role, each `namespace:name` as Kubernetes names them (`airflow:airflow-worker`), or `namespace:*` for every one of the namespace (then matched with StringLike)",
        );
    let audience = Attribute::new(AUDIENCE, Type::String)
        .default(DEFAULT_AUDIENCE)
        .validate(Validator::Length { min: 1, max: 255 })
        .describe("the audience (`aud`) the service accounts' tokens must carry");
    Attribute::new(KEY, Type::Object(vec![arn, accounts, audience])).describe(
        "trust for Kubernetes service accounts (IRSA): infra builds the statement letting them assume the role with their tokens from the cluster's OIDC provider (sts:AssumeRoleWithWebIdentity, conditions on the issuer's `<host path>:aud` and `:sub` keys), added after the statements of `assume_role_policy` when both are set; updated in place",
    )
}

/// The `service_account_trust` input, every value known and valid.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ServiceAccountTrust {
    provider_arn: String,
    /// The issuer's host and path: what follows `oidc-provider/`.
    host_path: String,
    /// `namespace:name` (or `namespace:*`), as given.
    service_accounts: Vec<String>,
    audience: String,
}

impl ServiceAccountTrust {
    /// The trust statement (see the module's docs).
    pub(crate) fn statement(&self) -> Value {
        let host = &self.host_path;
        let subjects = self
            .service_accounts
            .iter()
            .map(|a| Value::from(format!("system:serviceaccount:{a}")))
            .collect();
        let wildcard = self.service_accounts.iter().any(|a| a.ends_with(":*"));
        let sub_operator = if wildcard {
            "StringLike"
        } else {
            "StringEquals"
        };
        let mut condition: BTreeMap<String, Value> = BTreeMap::new();
        let aud: Value = [(format!("{host}:aud"), Value::from(self.audience.as_str()))]
            .into_iter()
            .collect();
        condition.insert("StringEquals".into(), aud);
        let keys = condition
            .entry(sub_operator.into())
            .or_insert_with(Value::map);
        if let Value::Map(keys) = keys {
            keys.insert(format!("{host}:sub"), Value::List(subjects));
        }
        let principal: Value = [("Federated", Value::from(self.provider_arn.as_str()))]
            .into_iter()
            .collect();
        [
            ("Effect", Value::from("Allow")),
            ("Principal", principal),
            ("Action", Value::from("sts:AssumeRoleWithWebIdentity")),
            ("Condition", Value::Map(condition)),
        ]
        .into_iter()
        .collect()
    }
}

/// The trust policy a role is given: the document of `assume_role_policy`
/// (`given`) with the statement of `service_account_trust` (`trust`)
/// appended; either alone when the other is unset; `Null` when neither is.
pub(crate) fn trust_document(given: Option<&Value>, trust: Option<&ServiceAccountTrust>) -> Value {
    let Some(trust) = trust else {
        return given.cloned().unwrap_or(Value::Null);
    };
    let statement = trust.statement();
    let Some(Value::Map(doc)) = given else {
        let doc = [
            ("Version", Value::from(VERSION)),
            ("Statement", Value::List(vec![statement])),
        ];
        return doc.into_iter().collect();
    };
    let mut doc = doc.clone();
    let statements = match doc.remove("Statement") {
        Some(Value::List(mut items)) => {
            items.push(statement);
            items
        }
        Some(one @ Value::Map(_)) => vec![one, statement],
        // A document without statements (refused by its own checks).
        _ => vec![statement],
    };
    doc.insert("Statement".into(), Value::List(statements));
    Value::Map(doc)
}

/// The trust policy built from a role's recorded inputs, when they have a
/// `service_account_trust` that reads as valid; `None` otherwise.
pub(crate) fn recorded_document(inputs: &Value) -> Option<Value> {
    let mut f = Fields::new(inputs, Phase::Apply);
    let trust = read(&mut f)?;
    let given = policy::read(&mut f, "assume_role_policy", Kind::Trust);
    Some(trust_document(given.as_ref(), Some(&trust)))
}

/// Reads `service_account_trust`, recording every problem at its path;
/// `None` when it is unset, not known yet, or has problems. At apply a
/// `None` for a given table always comes with a problem, so an apply never
/// sends a trust policy without the statement the stack asked for.
pub(crate) fn read(f: &mut Fields<'_>) -> Option<ServiceAccountTrust> {
    f.table(KEY, read_table).flatten()
}

fn read_table(t: &mut Fields<'_>) -> Option<ServiceAccountTrust> {
    let phase = t.phase();
    if !t.is_set(PROVIDER_ARN) {
        let message = format!(
            "`{KEY}.{PROVIDER_ARN}` is required: the ARN of the cluster's OIDC provider, such as \"${{iam_openid_connect_provider.eks.arn}}\""
        );
        t.problem_at(PROVIDER_ARN, message);
    }
    let arn = t.string(PROVIDER_ARN);
    let host_path = arn.as_deref().and_then(|arn| match host_path(arn) {
        Ok(host) => Some(host.to_owned()),
        Err(why) => {
            // A value that is no ARN at all is the schema's `Arn` rule's
            // to report at plan; reported here too only at apply, so that
            // a spec never holds it.
            let shaped = Validator::Arn.check(&Value::from(arn), false).is_ok();
            if shaped || phase == Phase::Apply {
                let message = format!(
                    "`{KEY}.{PROVIDER_ARN}` must be an OIDC provider's ARN, arn:aws:iam::<account>:oidc-provider/<issuer host and path>, found \"{arn}\": {why}"
                );
                t.problem_at(PROVIDER_ARN, message);
            }
            None
        }
    });
    if !t.is_set(ACCOUNTS) {
        let message = format!(
            "`{KEY}.{ACCOUNTS}` is required: the service accounts that may assume the role, such as [\"airflow:airflow-worker\"]"
        );
        t.problem_at(ACCOUNTS, message);
    }
    let items = t.inputs().get(ACCOUNTS).and_then(Value::as_list);
    let mut valid = true;
    for (i, item) in items.unwrap_or_default().iter().enumerate() {
        if let Value::String(s) = item
            && let Err(why) = service_account(s)
        {
            let message = format!("`{KEY}.{ACCOUNTS}[{i}]` {why}");
            t.problem(&[PathSeg::Key(ACCOUNTS.into()), PathSeg::Index(i)], message);
            valid = false;
        }
    }
    let accounts = t.strings(ACCOUNTS);
    if accounts.as_ref().is_some_and(Vec::is_empty) && phase == Phase::Apply {
        // The schema's `Count` rule reports it at plan.
        let message = format!(
            "`{KEY}.{ACCOUNTS}` must name at least one service account, such as \"airflow:airflow-worker\""
        );
        t.problem_at(ACCOUNTS, message);
        valid = false;
    }
    let audience = t.string(AUDIENCE);
    if audience.as_deref() == Some("") {
        // The schema's `Length` rule reports it at plan.
        if phase == Phase::Apply {
            let message = format!(
                "`{KEY}.{AUDIENCE}` must not be empty: leave it out for \"{DEFAULT_AUDIENCE}\""
            );
            t.problem_at(AUDIENCE, message);
        }
        valid = false;
    }
    let unknown_audience = t.is_unknown(AUDIENCE);
    let service_accounts = accounts.filter(|a| valid && !a.is_empty())?;
    if unknown_audience {
        return None;
    }
    Some(ServiceAccountTrust {
        provider_arn: arn?,
        host_path: host_path?,
        service_accounts,
        audience: audience.unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
    })
}

/// The issuer's host and path in an OIDC provider's ARN
/// (`arn:aws:iam::<account>:oidc-provider/<host path>`); `Err` says what
/// is wrong.
pub(crate) fn host_path(arn: &str) -> Result<&str, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _partition, service, region, _account, resource] = parts.as_slice() else {
        return Err("it is not of the form arn:partition:service:region:account:resource".into());
    };
    if *service != "iam" {
        return Err(format!("the service is `{service}`, not `iam`"));
    }
    if !region.is_empty() {
        return Err(format!(
            "IAM ARNs have no region, but this one has `{region}`"
        ));
    }
    match resource.strip_prefix("oidc-provider/") {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(host),
        Some(_) => Err("the issuer's host and path after `oidc-provider/` are missing".into()),
        None => Err(format!(
            "the resource `{resource}` does not start with `oidc-provider/`"
        )),
    }
}

/// Checks `namespace:name` by Kubernetes' rules (a namespace is a DNS
/// label, a service account name a DNS subdomain) or `namespace:*`; `Err`
/// holds the message after the item's path.
fn service_account(s: &str) -> Result<(), String> {
    let Some((namespace, name)) = s.split_once(':') else {
        return Err(format!(
            "must be `namespace:name`, such as \"airflow:airflow-worker\", found \"{s}\""
        ));
    };
    if !dns_label(namespace) {
        return Err(format!(
            "has the namespace `{namespace}`, which is not a Kubernetes namespace name: 1 to {MAX_NAMESPACE} lowercase letters, digits and `-`, starting and ending with a letter or digit (found \"{s}\")"
        ));
    }
    if name == "*" {
        return Ok(());
    }
    if name.contains('*') {
        return Err(format!(
            "has `*` inside the name `{name}`: `*` stands only for a whole name, as in \"{namespace}:*\" (every service account of the namespace)"
        ));
    }
    if !dns_subdomain(name) {
        return Err(format!(
            "has the name `{name}`, which is not a Kubernetes service account name: 1 to {MAX_NAME} lowercase letters, digits, `-` and `.`, each dot-separated part starting and ending with a letter or digit (found \"{s}\")"
        ));
    }
    Ok(())
}

/// An RFC 1123 label as Kubernetes allows it: 1 to 63 lowercase letters,
/// digits and `-`, starting and ending with a letter or digit.
fn dns_label(s: &str) -> bool {
    s.len() <= MAX_NAMESPACE && label_chars(s)
}

/// An RFC 1123 subdomain as Kubernetes allows it: at most 253 characters,
/// labels (of any length here) separated by dots.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_NAME && s.split('.').all(label_chars)
}

/// Lowercase letters, digits and `-`, starting and ending with a letter
/// or digit; not empty.
fn label_chars(s: &str) -> bool {
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            edge(first) && edge(last) && bytes.iter().all(|&b| edge(b) || b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use infra_core::display_path;

    use super::*;

    const ARN: &str =
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
    const HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/ABC";

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::from(*s)).collect())
    }

    fn given(pairs: Vec<(&str, Value)>) -> Value {
        let trust: Value = pairs.into_iter().collect();
        [(KEY, trust)].into_iter().collect()
    }

    /// The spec and every problem (as paths) of `service_account_trust`.
    fn parse(inputs: &Value, phase: Phase) -> (Option<ServiceAccountTrust>, Vec<String>) {
        let mut f = Fields::new(inputs, phase);
        let trust = read(&mut f);
        let problems = f.into_problems();
        for (p, m) in &problems {
            assert!(m.starts_with(&format!("`{}`", display_path(p))), "{m}");
        }
        let paths = problems.iter().map(|(p, _)| display_path(p)).collect();
        (trust, paths)
    }

    fn trust(accounts: &[&str]) -> ServiceAccountTrust {
        let inputs = given(vec![
            (PROVIDER_ARN, Value::from(ARN)),
            (ACCOUNTS, strings(accounts)),
        ]);
        let (trust, problems) = parse(&inputs, Phase::Apply);
        assert!(problems.is_empty(), "{problems:?}");
        trust.expect("a valid service_account_trust")
    }

    fn json(v: &Value) -> serde_json::Value {
        serde_json::from_str(&policy::to_json(v)).expect("JSON")
    }

    #[test]
    fn the_statement_keys_its_conditions_by_the_issuer_in_the_arn() {
        let t = trust(&["airflow:airflow-worker", "airflow:airflow-scheduler"]);
        assert_eq!(t.host_path, HOST);
        assert_eq!(t.audience, DEFAULT_AUDIENCE, "the audience defaults");
        let expected = serde_json::json!({
            "Effect": "Allow",
            "Principal": { "Federated": ARN },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
                    "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": [
                        "system:serviceaccount:airflow:airflow-worker",
                        "system:serviceaccount:airflow:airflow-scheduler"
                    ]
                }
            }
        });
        assert_eq!(json(&t.statement()), expected);
        // Alone, it is the whole document.
        let doc = trust_document(None, Some(&t));
        assert_eq!(
            json(&doc),
            serde_json::json!({ "Version": "2012-10-17", "Statement": [expected] })
        );
        let problems = policy::problems(&doc, Kind::Trust, &[], Phase::Apply);
        assert!(problems.is_empty(), "a valid trust policy: {problems:?}");
    }

    #[test]
    fn a_whole_namespace_is_matched_with_string_like() {
        let t = trust(&["airflow:*", "kube-system:ebs-csi-controller-sa"]);
        let expected = serde_json::json!({
            "StringEquals": { "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com" },
            "StringLike": {
                "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": [
                    "system:serviceaccount:airflow:*",
                    "system:serviceaccount:kube-system:ebs-csi-controller-sa"
                ]
            }
        });
        assert_eq!(json(&t.statement())["Condition"], expected);
    }

    #[test]
    fn another_audience_and_partition_are_kept() {
        let arn = "arn:aws-cn:iam::123456789012:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/XYZ";
        let inputs = given(vec![
            (PROVIDER_ARN, Value::from(arn)),
            (ACCOUNTS, strings(&["batch:runner"])),
            (AUDIENCE, Value::from("my-audience")),
        ]);
        let (t, problems) = parse(&inputs, Phase::Apply);
        assert!(problems.is_empty(), "{problems:?}");
        let statement = json(&t.expect("valid").statement());
        assert_eq!(statement["Principal"]["Federated"], arn);
        assert_eq!(
            statement["Condition"]["StringEquals"]["oidc.eks.cn-north-1.amazonaws.com.cn/id/XYZ:aud"],
            "my-audience"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["oidc.eks.cn-north-1.amazonaws.com.cn/id/XYZ:sub"],
            serde_json::json!(["system:serviceaccount:batch:runner"])
        );
    }

    #[test]
    fn the_statement_is_appended_to_the_given_ones() {
        let t = trust(&["airflow:airflow-worker"]);
        let eks = serde_json::json!({
            "Effect": "Allow",
            "Principal": { "Service": "eks.amazonaws.com" },
            "Action": "sts:AssumeRole"
        });
        let listed = Value::from_json(serde_json::json!({
            "Version": "2008-10-17",
            "Id": "trust",
            "Statement": [eks.clone()]
        }));
        let doc = json(&trust_document(Some(&listed), Some(&t)));
        assert_eq!(doc["Version"], "2008-10-17", "the given version is kept");
        assert_eq!(doc["Id"], "trust");
        assert_eq!(
            doc["Statement"],
            serde_json::json!([eks, json(&t.statement())])
        );
        // A lone statement table becomes a list of two.
        let lone = Value::from_json(serde_json::json!({ "Statement": eks.clone() }));
        let doc = json(&trust_document(Some(&lone), Some(&t)));
        assert_eq!(
            doc["Statement"],
            serde_json::json!([eks, json(&t.statement())])
        );
        assert!(
            doc.get("Version").is_none(),
            "none is added to a given document"
        );
        // Without a service_account_trust the given document is sent as is.
        assert_eq!(trust_document(Some(&listed), None), listed);
        assert_eq!(trust_document(None, None), Value::Null);
    }

    #[test]
    fn service_accounts_follow_kubernetes_names() {
        for ok in [
            "airflow:airflow-worker",
            "a:b",
            "kube-system:ebs-csi-controller-sa",
            "airflow:*",
            "ns1:sa.with.dots",
            &format!("{}:{}", "n".repeat(63), "s".repeat(253)),
        ] {
            assert_eq!(service_account(ok), Ok(()), "{ok}");
        }
        for bad in [
            "airflow-worker",
            "Airflow:worker",
            "airflow:Worker",
            "-airflow:worker",
            "airflow-:worker",
            ":worker",
            "airflow:",
            "air_flow:worker",
            "airflow:worker_1",
            "airflow:worker.",
            "airflow:a..b",
            "*:worker",
            "airflow:worker-*",
            "airflow:a:b",
            "airflow/worker",
            &format!("{}:sa", "n".repeat(64)),
            &format!("ns:{}", "s".repeat(254)),
        ] {
            assert!(service_account(bad).is_err(), "{bad} must be refused");
        }
        let why = service_account("airflow:worker-*").unwrap_err();
        assert!(why.contains("\"airflow:*\""), "{why}");
    }

    #[test]
    fn problems_land_at_the_item() {
        let inputs = given(vec![
            (PROVIDER_ARN, Value::from(ARN)),
            (
                ACCOUNTS,
                strings(&["airflow:airflow-worker", "Airflow:worker", "airflow"]),
            ),
        ]);
        let (t, problems) = parse(&inputs, Phase::Plan);
        assert_eq!(
            problems,
            [
                "service_account_trust.service_accounts[1]",
                "service_account_trust.service_accounts[2]"
            ]
        );
        assert_eq!(t, None);
        let (_, missing) = parse(&given(vec![]), Phase::Plan);
        assert_eq!(
            missing,
            [
                "service_account_trust.oidc_provider_arn",
                "service_account_trust.service_accounts"
            ]
        );
    }

    #[test]
    fn the_provider_arn_must_be_an_oidc_provider() {
        for (arn, why) in [
            (
                "arn:aws:iam::123456789012:role/airflow",
                "does not start with `oidc-provider/`",
            ),
            (
                "arn:aws:eks:us-east-1:123456789012:cluster/airflow",
                "not `iam`",
            ),
            (
                "arn:aws:iam:us-east-1:123456789012:oidc-provider/x",
                "no region",
            ),
            ("arn:aws:iam::123456789012:oidc-provider/", "missing"),
        ] {
            assert!(host_path(arn).is_err_and(|m| m.contains(why)), "{arn}");
            let inputs = given(vec![
                (PROVIDER_ARN, Value::from(arn)),
                (ACCOUNTS, strings(&["airflow:worker"])),
            ]);
            let (t, problems) = parse(&inputs, Phase::Plan);
            assert_eq!(
                problems,
                ["service_account_trust.oidc_provider_arn"],
                "{arn}"
            );
            assert_eq!(t, None);
        }
        // No ARN at all: the schema's rule says so at plan, the parse at apply.
        let not_arn = given(vec![
            (PROVIDER_ARN, Value::from("oidc-provider/x")),
            (ACCOUNTS, strings(&["airflow:worker"])),
        ]);
        assert_eq!(parse(&not_arn, Phase::Plan).1, Vec::<String>::new());
        assert_eq!(
            parse(&not_arn, Phase::Apply).1,
            ["service_account_trust.oidc_provider_arn"]
        );
    }

    #[test]
    fn unknown_values_pass_at_plan_and_are_problems_at_apply() {
        let unknown_arn = given(vec![
            (PROVIDER_ARN, Value::Unknown),
            (ACCOUNTS, strings(&["airflow:airflow-worker"])),
        ]);
        let (t, problems) = parse(&unknown_arn, Phase::Plan);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t, None, "not known yet");
        let (_, at_apply) = parse(&unknown_arn, Phase::Apply);
        assert_eq!(at_apply, ["service_account_trust.oidc_provider_arn"]);
        // Unknown items pass; the known ones are still checked.
        let some_unknown = given(vec![
            (PROVIDER_ARN, Value::from(ARN)),
            (
                ACCOUNTS,
                Value::List(vec![Value::Unknown, Value::from("bad")]),
            ),
        ]);
        assert_eq!(
            parse(&some_unknown, Phase::Plan).1,
            ["service_account_trust.service_accounts[1]"]
        );
        // The whole table unknown.
        let whole: Value = [(KEY, Value::Unknown)].into_iter().collect();
        assert_eq!(parse(&whole, Phase::Plan), (None, vec![]));
        // The audience unknown.
        let audience = given(vec![
            (PROVIDER_ARN, Value::from(ARN)),
            (ACCOUNTS, strings(&["airflow:airflow-worker"])),
            (AUDIENCE, Value::Unknown),
        ]);
        assert_eq!(parse(&audience, Phase::Plan), (None, vec![]));
        assert_eq!(
            parse(&audience, Phase::Apply).1,
            ["service_account_trust.audience"]
        );
    }

    #[test]
    fn an_empty_list_is_refused() {
        let inputs = given(vec![
            (PROVIDER_ARN, Value::from(ARN)),
            (ACCOUNTS, Value::List(vec![])),
        ]);
        // At plan the schema's Count rule reports it (see role.rs).
        assert_eq!(parse(&inputs, Phase::Plan), (None, vec![]));
        assert_eq!(
            parse(&inputs, Phase::Apply).1,
            ["service_account_trust.service_accounts"]
        );
    }
}
