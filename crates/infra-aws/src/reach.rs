//! The HTTP client of every SDK client an [`AwsContext`] configures: the
//! SDK's default HTTPS client, wrapped so that a request that fails before
//! AWS answers says where it was going.
//!
//! The SDK's connection errors do not carry the URL ("client error
//! (Connect): tcp connect error: Connection refused"), and its error type
//! does not carry the request, so the endpoint is attached here, where the
//! request is at hand; [`classify`](crate::classify) finds it in the
//! error's chain. This names the endpoint actually used, whether it came
//! from `[aws] endpoint_url`, `AWS_ENDPOINT_URL(_<SERVICE>)` or the SDK's
//! regional default (`https://eks.eu-west-1.amazonaws.com`).
//!
//! A connection that could not be made is also handed back as an error the
//! SDK does not retry: the engine retries it (a bounded number of times,
//! with backoff), so the two do not multiply into dozens of connection
//! attempts per operation. Errors on a connection that was made (a reset,
//! a stale pooled connection) keep their kind, and the SDK's quick retry of
//! them.
//!
//! [`AwsContext`]: crate::AwsContext

use std::error::Error;
use std::fmt;

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use aws_smithy_types::config_bag::ConfigBag;

/// The SDK's default HTTP client, naming endpoints in its errors; `None`
/// when the SDK was built without one (the SDK then reports that itself).
pub(crate) fn naming_client() -> Option<SharedHttpClient> {
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
        BehaviorVersion::latest(),
    )?;
    let inner = plugin
        .runtime_components(&RuntimeComponentsBuilder::new("infra-aws"))
        .http_client()?;
    Some(SharedHttpClient::new(NamingClient { inner }))
}

#[derive(Debug)]
struct NamingClient {
    inner: SharedHttpClient,
}

impl HttpClient for NamingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(NamingConnector {
            inner: self.inner.http_connector(settings, components),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct NamingConnector {
    inner: SharedHttpConnector,
}

impl HttpConnector for NamingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let endpoint = origin(request.uri()).to_owned();
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move { sent.await.map_err(|e| at_endpoint(endpoint, e)) })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(uri: &str) -> &str {
    let start = uri.find("://").map_or(0, |i| i + 3);
    let end = uri[start..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| start + i);
    &uri[..end]
}

/// A connector error of a request to `endpoint`, wrapped in an
/// [`AtEndpoint`]. A connection that was never made comes back as an error
/// the SDK does not retry (see the module's documentation); any other keeps
/// its kind and connection.
pub(crate) fn at_endpoint(endpoint: String, err: ConnectorError) -> ConnectorError {
    let connecting = err.connection_metadata().is_none() && is_connect_failure(&err);
    let (timeout, io, user, other) = (err.is_timeout(), err.is_io(), err.is_user(), err.as_other());
    let connection = err.connection_metadata().cloned();
    let wrapped = Box::new(AtEndpoint {
        endpoint,
        connecting,
        source: err,
    });
    if connecting {
        return ConnectorError::other(wrapped, None).never_connected();
    }
    let out = if timeout {
        ConnectorError::timeout(wrapped)
    } else if io {
        ConnectorError::io(wrapped)
    } else if user {
        ConnectorError::user(wrapped)
    } else {
        ConnectorError::other(wrapped, other)
    };
    match connection {
        Some(c) => out.with_connection(c),
        None => out,
    }
}

/// Whether the connection itself failed (DNS, TCP connect, TLS handshake,
/// the connect timeout), as the SDK's hyper client reports it: hyper-util's
/// `client error (Connect)` or the SDK's `HTTP connect timeout occurred
/// after …`.
fn is_connect_failure(err: &ConnectorError) -> bool {
    chain(err).any(|e| {
        let text = e.to_string();
        text == "client error (Connect)" || text.starts_with("HTTP connect timeout")
    })
}

/// `err` and then its sources.
pub(crate) fn chain<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// A request to `endpoint` that failed before AWS answered.
#[derive(Debug)]
pub(crate) struct AtEndpoint {
    /// `scheme://host[:port]` the request went to.
    pub(crate) endpoint: String,
    /// The connection could not be made (rather than failing once made).
    pub(crate) connecting: bool,
    source: ConnectorError,
}

impl AtEndpoint {
    /// What went wrong, in a few words: "connection refused", "DNS lookup
    /// failed: …", "no connection within 5s".
    pub(crate) fn reason(&self) -> String {
        let causes: Vec<&(dyn Error + 'static)> = chain(&self.source).collect();
        for e in &causes {
            let text = e.to_string();
            if let Some(after) = text.strip_prefix("HTTP connect timeout occurred after ") {
                return format!("no connection within {after}");
            }
            if text == "dns error" {
                let detail = causes.last().map(|c| c.to_string()).unwrap_or_default();
                return format!("DNS lookup failed: {detail}");
            }
        }
        for e in &causes {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                return match io.kind() {
                    K::ConnectionRefused => "connection refused".to_owned(),
                    K::ConnectionReset => "connection reset".to_owned(),
                    K::ConnectionAborted => "connection aborted".to_owned(),
                    K::TimedOut => "timed out".to_owned(),
                    K::HostUnreachable => "host unreachable".to_owned(),
                    K::NetworkUnreachable => "network unreachable".to_owned(),
                    _ => io.to_string(),
                };
            }
        }
        causes
            .last()
            .map(|c| c.to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "no response".to_owned())
    }
}

impl fmt::Display for AtEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.connecting {
            write!(f, "cannot reach AWS at {}", self.endpoint)
        } else {
            write!(f, "the connection to AWS at {} failed", self.endpoint)
        }
    }
}

impl Error for AtEndpoint {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:5000/a/b?c"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            origin("https://logs.s3.us-east-1.amazonaws.com/?versioning"),
            "https://logs.s3.us-east-1.amazonaws.com"
        );
        assert_eq!(
            origin("https://eks.eu-west-1.amazonaws.com"),
            "https://eks.eu-west-1.amazonaws.com"
        );
    }
}
