//! Test support: contexts against the shared moto emulator, an SDK client
//! to check what the emulator holds, and inputs shaped as the engine hands
//! them over (schema defaults filled at every level, as the stack loader does).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use infra_aws::testing::Emulator;
use infra_core::{OpContext, Presence, Provider, Type, Value};
use infra_s3::S3Bucket;

/// A bucket name unique to this test and process.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "infra-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An operation context on the emulator.
pub fn ctx(token: &str) -> OpContext {
    OpContext::new(
        "s3_bucket.logs".parse().expect("an address"),
        token.to_owned(),
        Emulator::shared().settings(),
        ".".into(),
        Duration::from_secs(60),
        Arc::new(|_| {}),
    )
}

/// The provider as the engine builds it: an SDK client made lazily from
/// the `[aws]` table. moto answers GetBucketVersioning with the wrong XML
/// root, which the SDK rejects, so only tests that never read a bucket's
/// configuration can use it; the others use [`provider`].
pub fn plain_provider() -> S3Bucket {
    S3Bucket::new(Emulator::shared().context())
}

/// The provider on a client for the emulator whose responses pass through
/// [`FixVersioningRoot`].
pub async fn provider() -> S3Bucket {
    S3Bucket::with_client(patched_client().await)
}

/// A path-style client for the emulator, through [`FixVersioningRoot`].
async fn patched_client() -> Client {
    let emu = Emulator::shared();
    let config = emu
        .context()
        .sdk_config(&emu.settings())
        .await
        .expect("an SDK config");
    // The emulator speaks plain HTTP.
    let base = aws_smithy_http_client::Builder::new().build_http();
    let patched = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(FixVersioningRoot(base.http_connector(settings, components)))
    });
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .http_client(patched)
            .build(),
    )
}

/// Works around moto (5.2) answering GetBucketVersioning with a
/// `<GetBucketVersioningResponse>` root instead of S3's
/// `<VersioningConfiguration>`: the SDK refuses the former. Only the root
/// element is renamed; everything else passes through untouched.
#[derive(Debug)]
pub struct FixVersioningRoot(SharedHttpConnector);

impl HttpConnector for FixVersioningRoot {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let versioning = request.method() == "GET" && request.uri().ends_with("?versioning");
        let sent = self.0.call(request);
        if !versioning {
            return sent;
        }
        HttpConnectorFuture::new(async move {
            let mut response = sent.await?;
            let body = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(|e| ConnectorError::other(e.into(), None))?
                .into_bytes();
            let text = String::from_utf8_lossy(&body)
                .replace("GetBucketVersioningResponse", "VersioningConfiguration");
            response
                .headers_mut()
                .insert("content-length", text.len().to_string());
            *response.body_mut() = SdkBody::from(text);
            Ok(response)
        })
    }
}

/// An SDK client on the emulator, to look behind the provider's back; it
/// has the same moto workaround as [`provider`].
pub async fn sdk() -> Client {
    patched_client().await
}

/// JSON text as a value.
pub fn json(text: &str) -> Value {
    Value::from_json(serde_json::from_str(text).expect("valid JSON"))
}

/// `inputs` with the schema's defaults filled in, as the loader does.
pub fn inputs(provider: &S3Bucket, text: &str) -> Value {
    let mut v = json(text);
    fill(&Type::Object(provider.schema().attributes.clone()), &mut v);
    v
}

fn fill(ty: &Type, v: &mut Value) {
    match (ty, v) {
        (Type::Object(attrs), Value::Map(m)) => {
            for a in attrs {
                if let (Presence::Default(d), None) = (&a.presence, m.get(&a.name)) {
                    m.insert(a.name.clone(), d.clone());
                }
                if let Some(inner) = m.get_mut(&a.name) {
                    fill(&a.ty, inner);
                }
            }
        }
        (Type::List(item), Value::List(l)) => l.iter_mut().for_each(|x| fill(item, x)),
        _ => {}
    }
}
