//! Test support: buckets on the shared moto emulator, backends on them, a
//! lock holder's identity, and a TCP proxy that can cut a client off the
//! emulator (a network partition).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use infra_aws::testing::Emulator;
use infra_core::{LockInfo, Value};
use infra_state_s3::{S3Backend, S3Location};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A name unique to this test and process.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "infra-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An `[aws]` table pointing at `endpoint`.
pub fn settings_at(endpoint: &str) -> Value {
    [
        ("region", Value::from(infra_aws::testing::REGION)),
        ("endpoint_url", Value::from(endpoint.to_owned())),
    ]
    .into_iter()
    .collect()
}

/// A client on the shared emulator, built as the factory builds it.
pub async fn client() -> Client {
    client_at(Emulator::shared().endpoint()).await
}

/// A client on an endpoint in front of the emulator.
pub async fn client_at(endpoint: &str) -> Client {
    let config = Emulator::shared()
        .context()
        .sdk_config(&settings_at(endpoint))
        .await
        .expect("an SDK config");
    infra_state_s3::client(&config)
}

/// A fresh bucket on the emulator.
pub async fn bucket(tag: &str) -> String {
    let name = unique(tag);
    client()
        .await
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create a bucket on the emulator");
    name
}

/// A state location in a fresh bucket.
pub async fn location(tag: &str) -> S3Location {
    let bucket = bucket(tag).await;
    S3Location::parse(&format!("s3://{bucket}/stacks/{tag}.json")).expect("a location")
}

/// A backend on the emulator.
pub async fn backend(location: &S3Location, lease: Duration) -> S3Backend {
    S3Backend::new(client().await, location.clone(), lease)
}

/// A lock holder's identity, as the engine writes it (no lease: the
/// backend sets it).
pub fn info(id: &str) -> LockInfo {
    LockInfo {
        id: id.into(),
        holder: format!("user-{id}"),
        host: "test-host".into(),
        pid: 42,
        operation: "apply".into(),
        created: "2025-01-01T00:00:00Z".into(),
        expires: None,
    }
}

/// Every key under `prefix` in `bucket`, as the emulator holds them.
pub async fn keys(bucket: &str, prefix: &str) -> Vec<String> {
    client()
        .await
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// A TCP proxy in front of the emulator. `cut` closes every connection
/// and refuses new ones until `heal`: to its clients, the network is down.
pub struct Proxy {
    endpoint: String,
    cut: Arc<AtomicBool>,
    kill: watch::Sender<u64>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 on this runtime.
    pub async fn start() -> Proxy {
        let target = Emulator::shared()
            .endpoint()
            .trim_start_matches("http://")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let cut = Arc::new(AtomicBool::new(false));
        let (kill, _) = watch::channel(0u64);
        let (accept_cut, accept_kill) = (cut.clone(), kill.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is reset
                }
                let target = target.clone();
                let mut killed = accept_kill.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = killed.changed() => {}
                    }
                });
            }
        });
        Proxy {
            endpoint,
            cut,
            kill,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.kill.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
