//! The Airflow release (`helm_release` of the official chart): an external
//! database through PgBouncer with TLS on the right hop, remote logging
//! with an IRSA role, no secret in plain text, replicas, resource
//! requests, no default user, DAG delivery, worker tolerations that match
//! their nodes' taints, and metrics. Unset values read as the chart's
//! defaults (1.19).

use infra_core::{Address, PathSeg};

use super::{Cx, DURABILITY, HA, OPERATIONS, Rule, SECURITY};
use crate::view::{Node, Res, Shape};

pub(crate) const EXTERNAL_DATABASE: Rule = Rule {
    id: "airflow-external-database",
    item: "External managed database",
    checks: "the metadata database is an external one (RDS), not the chart's in-cluster PostgreSQL",
    help: "set `values.postgresql.enabled = false` and point `values.data.metadataConnection` at the `rds_instance`",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const PGBOUNCER: Rule = Rule {
    id: "airflow-pgbouncer",
    item: "Connection pooling (PgBouncer)",
    checks: "Airflow reaches the database through the chart's PgBouncer",
    help: "set `values.pgbouncer.enabled = true` with its pool sizes",
    production: DURABILITY.0,
    development: DURABILITY.1,
};

pub(crate) const DATABASE_TLS: Rule = Rule {
    id: "airflow-database-tls",
    item: "TLS on the hop to the database",
    checks: "the connection to the external database requires TLS (PgBouncer's `sslmode`, or Airflow's without PgBouncer)",
    help: "set `values.pgbouncer.sslmode = \"require\"` (or verify-ca / verify-full), and `rds.force_ssl = 1` in the parameter group",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const IN_CLUSTER_TLS: Rule = Rule {
    id: "airflow-in-cluster-tls",
    item: "No TLS on the in-cluster hop to PgBouncer",
    checks: "Airflow does not demand TLS from PgBouncer, which the chart serves without it",
    help: "set `values.data.metadataConnection.sslmode = \"disable\"`; PgBouncer's own hop to the database is the one to encrypt",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const REMOTE_LOGGING: Rule = Rule {
    id: "airflow-remote-logging",
    item: "Remote logging",
    checks: "task logs go to remote storage (`config.logging.remote_logging` with a `remote_base_log_folder`)",
    help: "set `values.config.logging.remote_logging = \"True\"` and `remote_base_log_folder = \"s3://<bucket>/task-logs\"`",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const LOGS_IRSA: Rule = Rule {
    id: "airflow-logs-irsa",
    item: "Remote logging with an IRSA role",
    checks: "the workers' and scheduler's service accounts carry the role ARN of an `iam_role` that trusts them (`service_account_trust`)",
    help: "annotate the service accounts with `\"eks.amazonaws.com/role-arn\" = \"${iam_role.<logs>.arn}\"` and give that role a `service_account_trust` naming them",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const PLAINTEXT_SECRET: Rule = Rule {
    id: "airflow-plaintext-secret",
    item: "Secrets kept out of plain text",
    checks: "no value that looks like a secret (password, key, token, credentials in a URL) is written in plain text",
    help: "take secrets from a `secretsmanager_secret` (`\"${secretsmanager_secret.<name>.value}\"`) or the environment (`{ from_env = \"VAR\" }`)",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const HA_REPLICAS: Rule = Rule {
    id: "airflow-ha-replicas",
    item: "2 or more schedulers and API servers in production",
    checks: "the scheduler and the API server run at least two replicas each",
    help: "set `values.scheduler.replicas` and `values.apiServer.replicas` to 2 or more",
    production: HA.0,
    development: HA.1,
};

pub(crate) const RESOURCE_REQUESTS: Rule = Rule {
    id: "airflow-resource-requests",
    item: "Resource requests on every component",
    checks: "every component the release runs requests CPU and memory: scheduler, API server, DAG processor, triggerer, workers and their log groomers, PgBouncer and its exporter, Redis, StatsD, Flower, the migration and cleanup jobs, git-sync",
    help: "set `resources.requests = { cpu = \"...\", memory = \"...\" }` on each component",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const DEFAULT_USER: Rule = Rule {
    id: "airflow-default-user",
    item: "Default user off",
    checks: "the chart does not create its default admin user",
    help: "set `values.webserver.defaultUser.enabled = false` and create users through the identity provider",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const DAG_DELIVERY: Rule = Rule {
    id: "airflow-dag-delivery",
    item: "DAG delivery configured",
    checks: "DAGs reach the pods through git-sync or a persistent volume",
    help: "enable `values.dags.gitSync` (repository, branch, deploy key from the environment) or `values.dags.persistence`",
    production: OPERATIONS.0,
    development: OPERATIONS.1,
};

pub(crate) const WORKER_TOLERATIONS: Rule = Rule {
    id: "airflow-worker-tolerations",
    item: "Worker tolerations match the node group's taint",
    checks: "the node groups the workers' nodeSelector picks exist, and the workers tolerate their taints",
    help: "give `values.workers.tolerations` one toleration per taint of the worker node group (`NO_SCHEDULE` is `NoSchedule`)",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const MONITORING: Rule = Rule {
    id: "airflow-monitoring",
    item: "Monitoring (StatsD metrics)",
    checks: "the release exports Airflow's metrics through StatsD",
    help: "leave `values.statsd.enabled` on (the default) and scrape it",
    production: DURABILITY.0,
    development: DURABILITY.1,
};

/// `sslmode`s that insist on TLS.
const TLS_MODES: [&str; 3] = ["require", "verify-ca", "verify-full"];

/// The annotation IRSA reads.
const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Whether a chart reference names the official Airflow chart.
fn is_airflow_chart(chart: &str) -> bool {
    let last = chart.rsplit('/').next().unwrap_or(chart);
    last == "airflow"
        || last
            .strip_prefix("airflow-")
            .is_some_and(|rest| rest.ends_with(".tgz"))
}

/// A switch: the chart's `default` when unset, `None` when known only at
/// apply (or not a boolean).
fn flag(node: &Node<'_>, default: bool) -> Option<bool> {
    if node.is_missing() {
        Some(default)
    } else {
        node.truthy()
    }
}

/// One Airflow release.
struct Release<'a> {
    res: Res<'a>,
    values: Node<'a>,
}

impl<'a> Release<'a> {
    fn at(&self, dotted: &str) -> Node<'a> {
        self.values.at(dotted)
    }

    /// The first of `paths` that is written, else the first.
    fn first(&self, paths: &[&str]) -> Node<'a> {
        paths
            .iter()
            .map(|p| self.at(p))
            .find(|n| !n.is_missing())
            .unwrap_or_else(|| self.at(paths[0]))
    }
}

pub(crate) fn check(cx: &mut Cx<'_>) {
    let groups = cx.of_type("eks_node_group");
    for res in cx.of_type("helm_release") {
        if !res.get("chart").str().is_some_and(is_airflow_chart) {
            continue;
        }
        if matches!(res.get("values").shape(), Shape::Unknown) {
            // Values known only at apply: nothing to judge.
            continue;
        }
        let r = Release {
            values: res.get("values"),
            res,
        };
        database(cx, &r);
        logging(cx, &r);
        secrets(cx, &r, &r.values.clone(), 0);
        replicas(cx, &r);
        requests(cx, &r);
        default_user(cx, &r);
        dags(cx, &r);
        tolerations(cx, &r, &groups);
        let statsd = r.at("statsd.enabled");
        if flag(&statsd, true) == Some(false) {
            cx.report(
                &MONITORING,
                &r.res,
                Some(&statsd),
                "Airflow's metrics are off (`statsd.enabled = false`)".into(),
                "set `values.statsd.enabled = true` and scrape it".into(),
            );
        }
    }
}

fn database(cx: &mut Cx<'_>, r: &Release<'_>) {
    let postgres = r.at("postgresql.enabled");
    let external = match flag(&postgres, true) {
        Some(true) => {
            let why = if postgres.is_missing() {
                "`postgresql.enabled` defaults to true"
            } else {
                "`postgresql.enabled = true`"
            };
            cx.report(
                &EXTERNAL_DATABASE,
                &r.res,
                Some(&postgres),
                format!("the metadata database is the chart's PostgreSQL inside the cluster ({why})"),
                "set `values.postgresql.enabled = false` and point `values.data.metadataConnection` at the RDS instance".into(),
            );
            false
        }
        Some(false) => true,
        None => false,
    };
    let pgbouncer = r.at("pgbouncer.enabled");
    let pooled = flag(&pgbouncer, false);
    if pooled == Some(false) {
        cx.report(
            &PGBOUNCER,
            &r.res,
            Some(&pgbouncer),
            "Airflow connects to the database without PgBouncer: every task opens its own connections".into(),
            "set `values.pgbouncer.enabled = true`".into(),
        );
    }
    let client = r.at("data.metadataConnection.sslmode");
    // The chart's default for Airflow's connection.
    let client_mode = if client.is_missing() {
        Some("disable")
    } else {
        client.str()
    };
    match pooled {
        Some(true) => {
            let mode = r.at("pgbouncer.sslmode");
            let server_mode = if mode.is_missing() {
                Some("prefer")
            } else {
                mode.str()
            };
            if external
                && let Some(m) = server_mode
                && !TLS_MODES.contains(&m)
            {
                let default = if mode.is_missing() {
                    " (the chart's default)"
                } else {
                    ""
                };
                cx.report(
                    &DATABASE_TLS,
                    &r.res,
                    Some(&mode),
                    format!("PgBouncer connects to the database with `sslmode = \"{m}\"`{default}: that hop may be plain text"),
                    "set `values.pgbouncer.sslmode = \"require\"` (or verify-ca / verify-full)".into(),
                );
            }
            if let Some(m) = client_mode
                && TLS_MODES.contains(&m)
                && r.at("pgbouncer.ssl.cert").is_missing()
            {
                cx.report(
                    &IN_CLUSTER_TLS,
                    &r.res,
                    Some(&client),
                    format!("Airflow demands TLS from PgBouncer (`sslmode = \"{m}\"`), which serves none without `pgbouncer.ssl`: connections fail"),
                    "set `values.data.metadataConnection.sslmode = \"disable\"`: PgBouncer's own hop to the database is the one to encrypt".into(),
                );
            }
        }
        Some(false) if external => {
            if let Some(m) = client_mode
                && !TLS_MODES.contains(&m)
            {
                cx.report(
                    &DATABASE_TLS,
                    &r.res,
                    Some(&client),
                    format!("Airflow connects to the database with `sslmode = \"{m}\"`: that hop may be plain text"),
                    "set `values.data.metadataConnection.sslmode = \"require\"`, or connect through PgBouncer with `pgbouncer.sslmode = \"require\"`".into(),
                );
            }
        }
        _ => {}
    }
}

fn logging(cx: &mut Cx<'_>, r: &Release<'_>) {
    let remote = r.at("config.logging.remote_logging");
    let folder = r.at("config.logging.remote_base_log_folder");
    match flag(&remote, false) {
        Some(false) => {
            cx.report(
                &REMOTE_LOGGING,
                &r.res,
                Some(&remote),
                "task logs stay on the pods that ran them: remote logging is off".into(),
                "set `values.config.logging.remote_logging = \"True\"` and `remote_base_log_folder = \"s3://<bucket>/task-logs\"`".into(),
            );
            return;
        }
        Some(true) if folder.is_missing() || folder.str() == Some("") => {
            cx.report(
                &REMOTE_LOGGING,
                &r.res,
                Some(&folder),
                "remote logging is on, but `remote_base_log_folder` is unset".into(),
                "set `values.config.logging.remote_base_log_folder = \"s3://<bucket>/task-logs\"`"
                    .into(),
            );
            return;
        }
        Some(true) => {}
        None => return,
    }
    // IRSA is how pods reach S3; other stores have their own credentials.
    if folder.str().is_some_and(|f| !f.starts_with("s3://"))
        || folder
            .literal_str()
            .is_some_and(|f| !f.starts_with("s3://"))
    {
        return;
    }
    let release = r
        .at("fullnameOverride")
        .str()
        .or(r.res.get("name").str())
        .map(str::to_owned);
    let namespace = r.res.get("namespace").str().map(str::to_owned);
    for (component, whose, suffix, paths) in [
        (
            "workers",
            "the workers'",
            "worker",
            &["workers.serviceAccount", "workers.celery.serviceAccount"][..],
        ),
        (
            "scheduler",
            "the scheduler's",
            "scheduler",
            &["scheduler.serviceAccount"][..],
        ),
    ] {
        let with_role: Vec<Node<'_>> = paths
            .iter()
            .map(|p| r.at(p))
            .filter(|sa| !sa.get("annotations").get(ROLE_ANNOTATION).is_missing())
            .collect();
        let sa = with_role.first().cloned().unwrap_or_else(|| r.at(paths[0]));
        let annotation = sa.get("annotations").get(ROLE_ANNOTATION);
        if annotation.is_missing() {
            cx.report(
                &LOGS_IRSA,
                &r.res,
                Some(&annotation),
                format!("{whose} service account has no `{ROLE_ANNOTATION}` annotation: the pods cannot write task logs to S3"),
                format!("annotate `values.{component}.serviceAccount.annotations` with `\"{ROLE_ANNOTATION}\" = \"${{iam_role.<logs>.arn}}\"`"),
            );
            continue;
        }
        let Some(reference) = annotation.reference() else {
            // A literal ARN: a role outside the stack.
            continue;
        };
        if reference.address.ty != "iam_role" || reference.path != [PathSeg::Key("arn".to_owned())]
        {
            continue;
        }
        let Some(role) = cx.resource(&reference.address) else {
            continue;
        };
        let account = match (&namespace, &release, sa.get("name").str()) {
            (Some(ns), _, Some(name)) => Some(format!("{ns}:{name}")),
            (Some(ns), Some(release), None) => Some(format!("{ns}:{release}-{suffix}")),
            _ => None,
        };
        let trust = role.get("service_account_trust");
        if trust.is_missing() {
            let accounts = account
                .clone()
                .unwrap_or_else(|| "<namespace>:<service account>".into());
            cx.report(
                &LOGS_IRSA,
                &role,
                Some(&trust),
                format!("`{}`, the role of {whose} service account, has no `service_account_trust`: the pods cannot assume it", reference.address),
                format!("add `service_account_trust = {{ oidc_provider_arn = \"${{iam_openid_connect_provider.<eks>.arn}}\", service_accounts = [\"{accounts}\"] }}`"),
            );
            continue;
        }
        let listed = trust.get("service_accounts");
        if let (Some(account), Some(names)) = (&account, listed.strings()) {
            let namespace = account.split(':').next().unwrap_or_default();
            let all = format!("{namespace}:*");
            if !names.iter().any(|n| n == account || *n == all) {
                cx.report(
                    &LOGS_IRSA,
                    &role,
                    Some(&listed),
                    format!("`{}` does not trust `{account}`, {whose} service account: the pods cannot assume it", reference.address),
                    format!("add \"{account}\" to `service_account_trust.service_accounts`"),
                );
            }
        }
    }
}

/// Whether a key (or an environment variable's name) names a secret.
fn is_secret_name(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if k.starts_with("existing") {
        // `existingSecret`: the name of a Kubernetes secret.
        return false;
    }
    k == "pass"
        || [
            "password",
            "passwd",
            "secret",
            "secretkey",
            "token",
            "apikey",
            "privatekey",
            "fernetkey",
            "sshkey",
            "accesskey",
            "credentials",
        ]
        .iter()
        .any(|s| k.ends_with(s))
}

/// Whether a URL carries a password (`scheme://user:password@host`).
fn has_credentials(text: &str) -> bool {
    let Some((_, rest)) = text.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return false;
    };
    userinfo
        .split_once(':')
        .is_some_and(|(_, password)| !password.is_empty())
}

fn secrets(cx: &mut Cx<'_>, r: &Release<'_>, node: &Node<'_>, depth: usize) {
    // Values are at most 64 levels deep; this only bounds the walk.
    if depth > 80 {
        return;
    }
    let keys = node.keys();
    // `{ name = "X_PASSWORD", value = "..." }`: an environment variable.
    if keys.contains(&"name")
        && keys.contains(&"value")
        && node.get("name").str().is_some_and(is_secret_name)
    {
        let value = node.get("value");
        if value.literal_str().is_some_and(|v| !v.is_empty()) {
            plaintext(cx, r, &value);
            return;
        }
    }
    for key in keys {
        let child = node.get(key);
        match child.shape() {
            Shape::Text(text) if child.literal_str().is_some() => {
                if !text.is_empty()
                    && (is_secret_name(key) && !is_bool_text(text) || has_credentials(text))
                {
                    plaintext(cx, r, &child);
                }
            }
            _ => secrets(cx, r, &child, depth + 1),
        }
    }
    for item in node.items() {
        match item.literal_str() {
            Some(text) if has_credentials(text) => plaintext(cx, r, &item),
            _ => secrets(cx, r, &item, depth + 1),
        }
    }
}

fn is_bool_text(text: &str) -> bool {
    text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false")
}

fn plaintext(cx: &mut Cx<'_>, r: &Release<'_>, node: &Node<'_>) {
    let path = infra_core::display_path(&node.path);
    cx.report(
        &PLAINTEXT_SECRET,
        &r.res,
        Some(node),
        format!("`{path}` holds a secret in plain text: it is in the stack file, the plan and the state"),
        format!(
            "take `{path}` from a `secretsmanager_secret` (`\"${{secretsmanager_secret.<name>.value}}\"`) or the environment (`{{ from_env = \"VAR\" }}`)"
        ),
    );
}

fn replicas(cx: &mut Cx<'_>, r: &Release<'_>) {
    for (key, what, outage) in [
        ("scheduler", "scheduler", "no task is scheduled"),
        ("apiServer", "API server", "the UI and the API are down"),
    ] {
        let node = r.at(&format!("{key}.replicas"));
        let count = if node.is_missing() {
            Some(1)
        } else {
            node.int()
        };
        if let Some(n) = count
            && n < 2
        {
            let default = if node.is_missing() {
                " (the chart's default)"
            } else {
                ""
            };
            cx.report(
                &HA_REPLICAS,
                &r.res,
                Some(&node),
                format!(
                    "{n} {what} replica{}{default}: while it restarts, {outage}",
                    if n == 1 { "" } else { "s" }
                ),
                format!("set `values.{key}.replicas` to 2 or more"),
            );
        }
    }
}

fn requests(cx: &mut Cx<'_>, r: &Release<'_>) {
    let executor = r.at("executor");
    let celery = executor.str().is_none_or(|e| e.contains("Celery"));
    // (component, whether it runs when `enabled` is unset, the component
    // a sidecar belongs to)
    let components = [
        ("scheduler", true, None),
        ("scheduler.logGroomerSidecar", true, Some("scheduler")),
        ("apiServer", true, None),
        ("dagProcessor", true, None),
        ("dagProcessor.logGroomerSidecar", true, Some("dagProcessor")),
        ("triggerer", true, None),
        ("triggerer.logGroomerSidecar", true, Some("triggerer")),
        ("workers", true, None),
        ("workers.logGroomerSidecar", true, Some("workers")),
        ("pgbouncer", false, None),
        ("pgbouncer.metricsExporterSidecar", true, Some("pgbouncer")),
        ("redis", celery, None),
        ("statsd", true, None),
        ("flower", false, None),
        ("migrateDatabaseJob", true, None),
        ("cleanup", false, None),
        ("dags.gitSync", false, None),
    ];
    let runs = |component: &str, default: bool| {
        flag(&r.at(&format!("{component}.enabled")), default) == Some(true)
    };
    for (component, default, parent) in components {
        if component == "redis" && !celery {
            continue;
        }
        if !runs(component, default) {
            continue;
        }
        if let Some(parent) = parent
            && let Some((_, parent_default, _)) = components.iter().find(|c| c.0 == parent)
            && !runs(parent, *parent_default)
        {
            continue;
        }
        let requests = r.at(&format!("{component}.resources.requests"));
        let missing: Vec<&str> = ["cpu", "memory"]
            .into_iter()
            .filter(|k| requests.get(k).is_missing())
            .collect();
        if missing.is_empty() || matches!(requests.shape(), Shape::Unknown) {
            continue;
        }
        cx.report(
            &RESOURCE_REQUESTS,
            &r.res,
            Some(&requests),
            format!(
                "`{component}` requests no {}: Kubernetes places it without knowing what it needs, and evicts it first",
                missing.join(" or ")
            ),
            format!("set `values.{component}.resources.requests = {{ cpu = \"...\", memory = \"...\" }}`"),
        );
    }
}

fn default_user(cx: &mut Cx<'_>, r: &Release<'_>) {
    let web = r.at("webserver.defaultUser.enabled");
    if flag(&web, true) == Some(true) {
        let why = if web.is_missing() {
            "`webserver.defaultUser.enabled` defaults to true"
        } else {
            "`webserver.defaultUser.enabled = true`"
        };
        cx.report(
            &DEFAULT_USER,
            &r.res,
            Some(&web),
            format!(
                "the chart creates its default admin user, with a password from the chart ({why})"
            ),
            "set `values.webserver.defaultUser.enabled = false`".into(),
        );
    }
    let api = r.at("apiServer.defaultUser.enabled");
    if api.truthy() == Some(true) {
        cx.report(
            &DEFAULT_USER,
            &r.res,
            Some(&api),
            "the chart creates its default admin user (`apiServer.defaultUser.enabled = true`)"
                .into(),
            "set `values.apiServer.defaultUser.enabled = false`".into(),
        );
    }
}

fn dags(cx: &mut Cx<'_>, r: &Release<'_>) {
    let git = r.at("dags.gitSync.enabled");
    let volume = r.at("dags.persistence.enabled");
    // Where delivery was turned off, if it was written.
    let at = [&git, &volume]
        .into_iter()
        .find(|n| !n.is_missing())
        .cloned()
        .unwrap_or_else(|| r.at("dags"));
    match (flag(&git, false), flag(&volume, false)) {
        (Some(false), Some(false)) => cx.report(
            &DAG_DELIVERY,
            &r.res,
            Some(&at),
            "no DAG delivery: neither `dags.gitSync` nor `dags.persistence` is enabled, so the pods see only the DAGs baked into the image".into(),
            "enable `values.dags.gitSync` with a repository and a deploy key from the environment, or `values.dags.persistence`".into(),
        ),
        (Some(true), _) if r.at("dags.gitSync.repo").is_missing() => cx.report(
            &DAG_DELIVERY,
            &r.res,
            Some(&git),
            "git-sync is on, but `dags.gitSync.repo` is unset".into(),
            "set `values.dags.gitSync.repo` (and `branch`, `subPath`)".into(),
        ),
        _ => {}
    }
}

/// A toleration as written, each part known or absent.
struct Toleration<'a> {
    key: Option<&'a str>,
    operator: Option<&'a str>,
    value: Option<&'a str>,
    effect: Option<&'a str>,
}

impl Toleration<'_> {
    /// Whether it tolerates a taint, as Kubernetes decides.
    fn tolerates(&self, key: &str, value: &str, effect: &str) -> bool {
        let exists = self.operator == Some("Exists");
        let key_ok = match self.key {
            None | Some("") => exists,
            Some(k) => k == key,
        };
        let value_ok = exists || self.value.unwrap_or_default() == value;
        let effect_ok = self.effect.is_none_or(|e| e.is_empty() || e == effect);
        key_ok && value_ok && effect_ok
    }
}

/// EKS's taint effects as Kubernetes spells them.
fn kubernetes_effect(effect: &str) -> Option<&'static str> {
    match effect {
        "NO_SCHEDULE" => Some("NoSchedule"),
        "NO_EXECUTE" => Some("NoExecute"),
        "PREFER_NO_SCHEDULE" => Some("PreferNoSchedule"),
        _ => None,
    }
}

fn tolerations(cx: &mut Cx<'_>, r: &Release<'_>, groups: &[Res<'_>]) {
    let selector = r.first(&["workers.nodeSelector", "nodeSelector"]);
    let pairs: Option<Vec<(&str, &str)>> = selector
        .keys()
        .into_iter()
        .map(|k| selector.get(k).str().map(|v| (k, v)))
        .collect();
    let Some(pairs) = pairs.filter(|p| !p.is_empty()) else {
        return;
    };
    let cluster = |n: Node<'_>| -> Option<Address> { n.reference().map(|r| r.address.clone()) };
    let release_cluster = cluster(r.res.at("kubernetes.eks_cluster"));
    let mut picked = Vec::new();
    let mut unsure = false;
    for g in groups {
        if let (Some(a), Some(b)) = (&release_cluster, cluster(g.get("cluster")))
            && *a != b
        {
            continue;
        }
        let labels = g.get("labels");
        let mut all = true;
        for (k, v) in &pairs {
            match labels.get(k).shape() {
                Shape::Text(l) if l == *v => {}
                Shape::Unknown => {
                    unsure = true;
                    all = false;
                }
                _ => all = false,
            }
        }
        if all {
            picked.push(g);
        }
    }
    let shown: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect();
    if picked.is_empty() {
        if !unsure && !groups.is_empty() {
            let first = selector.get(pairs[0].0);
            cx.report(
                &WORKER_TOLERATIONS,
                &r.res,
                Some(&first),
                format!("the workers' nodeSelector {{ {} }} matches no node group's labels: worker pods stay Pending", shown.join(", ")),
                "label the worker node group with it (`labels` of the `eks_node_group`), or fix `values.workers.nodeSelector`".into(),
            );
        }
        return;
    }
    let list = r.first(&["workers.tolerations", "tolerations"]);
    if matches!(list.shape(), Shape::Unknown) {
        return;
    }
    let mut tolerations = Vec::new();
    for t in list.items() {
        let part = |k: &str| {
            let n = t.get(k);
            if n.is_missing() {
                Ok(None)
            } else {
                n.str().map(Some).ok_or(())
            }
        };
        let (Ok(key), Ok(operator), Ok(value), Ok(effect)) =
            (part("key"), part("operator"), part("value"), part("effect"))
        else {
            // Known only at apply.
            return;
        };
        tolerations.push(Toleration {
            key,
            operator,
            value,
            effect,
        });
    }
    for g in picked {
        for taint in g.get("taints").items() {
            let (Some(key), Some(effect)) = (
                taint.get("key").str(),
                taint.get("effect").str().and_then(kubernetes_effect),
            ) else {
                continue;
            };
            if effect == "PreferNoSchedule" {
                continue;
            }
            let value = taint.get("value").str().unwrap_or_default();
            if tolerations.iter().any(|t| t.tolerates(key, value, effect)) {
                continue;
            }
            cx.report(
                &WORKER_TOLERATIONS,
                &r.res,
                Some(&list),
                format!(
                    "the workers do not tolerate the taint `{key}={value}:{effect}` of `{}`, which their nodeSelector picks: worker pods stay Pending",
                    g.config.address
                ),
                format!("add `{{ key = \"{key}\", operator = \"Equal\", value = \"{value}\", effect = \"{effect}\" }}` to `values.workers.tolerations`"),
            );
        }
    }
}
