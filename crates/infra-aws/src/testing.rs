//! moto's AWS emulator for integration tests, started on 127.0.0.1 on a
//! free port (as testcontainers would).
//!
//! The server is found at `$INFRA_MOTO_SERVER`, else in the project's
//! `.venv` (where `scripts/test` installs it), else on `PATH`. When it is
//! missing, [`Emulator::start`] fails the test with the install command:
//! these tests never skip silently.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use infra_core::Value;

use crate::AwsContext;

/// A running emulator. It stops when this is dropped, and also when the
/// test process exits (the server's guard shell watches our pipe).
pub struct Emulator {
    endpoint: String,
    child: Child,
    _lifeline: Option<ChildStdin>,
}

/// The region every emulator test uses.
pub const REGION: &str = "us-east-1";

/// How to install the emulator, for failure messages.
pub const INSTALL_HINT: &str = "moto's AWS emulator is not installed: run `scripts/test` (it installs `moto[server]` into .venv), or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'`, or set INFRA_MOTO_SERVER to a moto_server executable";

fn moto_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INFRA_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.venv/bin/moto_server"
    ));
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Emulator {
    /// Starts a fresh emulator; panics with [`INSTALL_HINT`] when moto is
    /// not installed.
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    /// Starts a fresh emulator with moto settings in its environment, e.g.
    /// `MOTO_IAM_LOAD_MANAGED_POLICIES=true` (AWS's managed policies, which
    /// every real account has).
    pub fn start_with(env: &[(&str, &str)]) -> Emulator {
        let server = moto_server().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        for _attempt in 0..3 {
            let port = free_port();
            // The guard shell kills the server when our end of its stdin
            // closes, which also happens when the test process dies.
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read _; kill $pid"#)
                .arg(&server)
                .arg(port.to_string())
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {}: {e}\n{INSTALL_HINT}", server.display())
                });
            let lifeline = child.stdin.take();
            let endpoint = format!("http://127.0.0.1:{port}");
            if wait_ready(port) {
                return Emulator {
                    endpoint,
                    child,
                    _lifeline: lifeline,
                };
            }
            drop(lifeline);
            let _ = child.wait();
        }
        panic!(
            "moto_server at {} did not start listening on 127.0.0.1\n{INSTALL_HINT}",
            server.display()
        );
    }

    /// One emulator shared by every test of this process (each test uses
    /// its own resource names). It stops when the process exits.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(Emulator::start)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `[aws]` table pointing at this emulator.
    pub fn settings(&self) -> Value {
        [
            ("region", Value::from(REGION)),
            ("endpoint_url", Value::from(self.endpoint.clone())),
        ]
        .into_iter()
        .collect()
    }

    /// A context with the emulator's dummy credentials.
    pub fn context(&self) -> Arc<AwsContext> {
        AwsContext::with_credentials(credentials())
    }
}

/// Dummy credentials the emulator accepts.
pub fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "infra-tests")
}

fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .is_ok()
            {
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self._lifeline.take();
        let _ = self.child.wait();
    }
}

/// Calls `op` again while it fails with a retryable error, as the engine's
/// retry policy does (providers do not retry themselves); returns the
/// outcome and the kinds of the retryable errors on the way. For tests of
/// providers against mocked responses.
pub async fn as_the_engine_retries<T, F, Fut>(
    mut op: F,
) -> (
    Result<T, infra_core::ProviderError>,
    Vec<infra_core::ErrorKind>,
)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, infra_core::ProviderError>>,
{
    let mut retried = Vec::new();
    for _ in 0..8 {
        match op().await {
            Err(e) if e.kind.is_retryable() => retried.push(e.kind),
            other => return (other, retried),
        }
    }
    panic!("still failing after 8 attempts: {retried:?}");
}

/// A name no other test of this process (or an earlier run against the
/// same emulator) uses: `prefix-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// `pairs` as inputs, with the schema's defaults filled in as the engine does.
pub fn inputs(provider: &dyn infra_core::Provider, pairs: Vec<(&str, Value)>) -> Value {
    let mut map: std::collections::BTreeMap<String, Value> =
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    for attr in &provider.schema().attributes {
        if let infra_core::Presence::Default(d) = &attr.presence {
            map.entry(attr.name.clone()).or_insert_with(|| d.clone());
        }
    }
    Value::Map(map)
}

/// The plan-time problems of `inputs`, as the planner finds them (the
/// schema's rules, then the type's parse), each as `path | message`.
pub fn plan_problems(provider: &dyn infra_core::Provider, inputs: &Value) -> Vec<String> {
    let mut problems = provider.schema().validate(inputs);
    problems.extend(provider.validate(inputs));
    problems
        .into_iter()
        .map(|(p, m)| format!("{} | {m}", infra_core::display_path(&p)))
        .collect()
}

/// `inputs` with one key set.
pub fn with(inputs: &Value, key: &str, value: Value) -> Value {
    let mut v = inputs.clone();
    if let Value::Map(m) = &mut v {
        m.insert(key.to_owned(), value);
    }
    v
}

/// What the engine records after an operation.
pub fn existing(o: &infra_core::Observed) -> infra_core::Existing {
    infra_core::Existing {
        id: o.id.clone(),
        inputs: o.inputs.clone(),
        outputs: o.outputs.clone(),
    }
}

/// A list of strings as a value.
pub fn strings(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| Value::from(*s)).collect())
}
