//! Helm charts found on the local disk, and validation of release values
//! against a chart's `values.schema.json`.
//!
//! [`Chart::locate`] finds a chart the way `helm` would without touching the
//! network: a local chart directory, a local `.tgz`, or a repository chart
//! already in helm's cache. When it answers `None` the caller skips schema
//! validation and says so.
//!
//! [`ValuesSchema`] compiles a chart's schema once and validates infra
//! [`Value`](infra_core::Value)s against it. Values that are unknown until
//! apply cause no false errors at plan time, and secrets are validated as
//! their plaintext but never appear in a message. Like helm, it validates
//! the values coalesced with the chart's `values.yaml` ([`coalesce`]), so a
//! `null` that deletes a default is no error. Each violation carries the
//! [`ValuePath`](infra_core::ValuePath) inside the values table, which the
//! caller maps to the TOML location that produced it.
//!
//! This crate does I/O only in [`Chart`] (reading files); validation is pure.

mod chart;
mod coalesce;
mod validate;

use std::path::PathBuf;

pub use chart::{Chart, default_helm_cache};
pub use coalesce::coalesce;
pub use validate::{ValuesSchema, Violation, validate_values};

/// Why a chart could not be read or its schema not used.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A file or directory of the chart could not be read.
    #[error("cannot read chart file {path}: {source}")]
    Io {
        /// The file or archive.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The chart's `Chart.yaml` is not valid or lacks a required field.
    #[error("{path}: invalid Chart.yaml: {message}")]
    ChartYaml {
        /// The file (or the archive holding it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An archive holds no `<name>/Chart.yaml`.
    #[error("{path}: no Chart.yaml in the archive; is this a chart packaged by `helm package`?")]
    NotAChart {
        /// The archive.
        path: PathBuf,
    },
    /// A file in the chart is larger than this crate reads.
    #[error("{path}: {file} is larger than {limit} bytes")]
    TooLarge {
        /// The chart directory or archive.
        path: PathBuf,
        /// The file inside the chart.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// `values.yaml` is not YAML, or not a table of values.
    #[error("{path}: invalid values.yaml: {message}")]
    ValuesYaml {
        /// The file (or the archive holding it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `values.schema.json` is not JSON.
    #[error("{path}: values.schema.json is not valid JSON: {message}")]
    SchemaJson {
        /// The file (or the archive holding it).
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The schema is JSON but not a usable JSON Schema.
    #[error(
        "the chart's values schema cannot be used: {message}; fix the schema or validate without it"
    )]
    InvalidSchema {
        /// The validator's message.
        message: String,
    },
}
