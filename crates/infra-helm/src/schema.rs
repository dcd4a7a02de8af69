//! The `helm_release` schema: inputs, their defaults, and which changes
//! replace the release (only its name and namespace, reference §1.6).

use infra_core::{Attribute, Output, Schema, Type, Value};

/// The resource type name.
pub const TYPE_NAME: &str = "helm_release";

/// The settings table of the stack file that configures this provider.
pub const SETTINGS_SECTION: &str = "helm";

/// The namespace when the stack sets none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// helm's own wait limit when the stack sets none.
pub const DEFAULT_TIMEOUT: &str = "10m";

/// How many revisions helm keeps when the stack does not say.
pub const DEFAULT_MAX_HISTORY: i64 = 10;

/// The attributes of `kubernetes`: how to reach an EKS cluster, from the
/// outputs of an `eks_cluster`.
fn kubernetes() -> Type {
    Type::Object(vec![
        Attribute::new("eks_cluster", Type::String)
            .required()
            .describe("the EKS cluster's name, for the token"),
        Attribute::new("endpoint", Type::String)
            .required()
            .describe("the cluster's API server URL"),
        Attribute::new("ca_data", Type::String)
            .required()
            .describe("the cluster's certificate authority, base64-encoded PEM as EKS returns it"),
        Attribute::new("region", Type::String)
            .describe("the cluster's region, for the token; the AWS environment's when unset"),
    ])
}

/// The schema of `helm_release`.
pub fn schema() -> Schema {
    Schema::new(TYPE_NAME)
        .attribute(
            Attribute::new("name", Type::String)
                .required()
                .forces_replacement()
                .describe("the release name: 1-53 lowercase letters, digits and `-`"),
        )
        .attribute(
            Attribute::new("namespace", Type::String)
                .default(DEFAULT_NAMESPACE)
                .forces_replacement()
                .describe("the Kubernetes namespace of the release"),
        )
        .attribute(
            Attribute::new("create_namespace", Type::Bool)
                .default(false)
                .describe("create the namespace if it does not exist"),
        )
        .attribute(
            Attribute::new("chart", Type::String)
                .required()
                .describe("a chart name in `repository`, a local chart directory or a .tgz path"),
        )
        .attribute(
            Attribute::new("repository", Type::String)
                .describe("the chart repository URL, e.g. https://airflow.apache.org"),
        )
        .attribute(
            Attribute::new("version", Type::String)
                .describe("the chart version; the latest when unset"),
        )
        .attribute(
            Attribute::new("values", Type::Any)
                .default(Value::map())
                .describe("the chart values, a table; references and secrets allowed anywhere"),
        )
        .attribute(
            Attribute::new("atomic", Type::Bool)
                .default(true)
                .describe("roll back a failed upgrade (Helm 4: --rollback-on-failure)"),
        )
        .attribute(
            Attribute::new("wait", Type::Bool)
                .default(true)
                .describe("wait until the release's resources are ready"),
        )
        .attribute(
            Attribute::new("timeout", Type::String)
                .default(DEFAULT_TIMEOUT)
                .describe("helm's wait limit, a duration such as \"20m\" or \"1h30m\""),
        )
        .attribute(
            Attribute::new("max_history", Type::Int)
                .default(DEFAULT_MAX_HISTORY)
                .describe("revisions helm keeps; 0 keeps all"),
        )
        .attribute(
            Attribute::new("kubernetes", kubernetes())
                .describe("reach an EKS cluster: { eks_cluster, endpoint, ca_data }"),
        )
        .attribute(
            Attribute::new("kubeconfig", Type::String)
                .describe("reach the cluster through this kubeconfig file instead"),
        )
        .attribute(
            Attribute::new("context", Type::String)
                .describe("the kubeconfig context; its current context when unset"),
        )
        .output(Output::new(
            "revision",
            Type::Int,
            "the release's current revision",
        ))
        .output(Output::new(
            "status",
            Type::String,
            "the release's status, e.g. deployed",
        ))
        .output(Output::new(
            "chart_version",
            Type::String,
            "the version of the deployed chart",
        ))
        .output(Output::new(
            "app_version",
            Type::String,
            "the app version of the deployed chart",
        ))
}
