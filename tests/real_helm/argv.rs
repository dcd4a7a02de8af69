//! The helm commands `infra apply` runs for a `helm_release`, run by the
//! real helm: `version`, `status` and `upgrade --install` with every flag
//! infra sets (namespace, create-namespace, the values file, wait, timeout,
//! history, atomic in the spelling of the helm major version, output, the
//! kubeconfig and context, or the EKS kubeconfig whose user is an exec
//! entry).
//!
//! `[helm] binary` is a wrapper script that records each call (argv,
//! environment, the mode and bytes of the values file and kubeconfig while
//! helm reads them) and then runs the real helm with infra's argv unchanged,
//! except that `upgrade` gets [`ADDED_TO_UPGRADE`]. The cluster is a fake
//! Kubernetes API server (Python, TLS, on 127.0.0.1) that answers
//! `/version` and holds no release, so helm does everything else itself:
//! reads the kubeconfig, verifies the server against its CA, runs the exec
//! entry for a token, sends it, lists the release's secrets in the
//! namespace, renders the chart and validates the values.
//!
//! Helm 3's spellings are checked by the wrapper answering `version --short`
//! with `v3.19.0` (the only answer that is not real helm's): helm 4 still
//! parses Helm 3's `--atomic`, as deprecated. That shows the Helm 3 argv
//! parses with helm 4's parser, not that a real Helm 3 accepts it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{build_chart, real_helm, text};

/// What the wrapper adds to infra's `upgrade` argv, and the only change it
/// makes to any argv: a client-side dry run, because the fake cluster
/// accepts no change.
const ADDED_TO_UPGRADE: &[&str] = &["--dry-run=client"];

/// The database password in the stack, from the environment.
const SENTINEL: &str = "SENTINEL-real-helm-db-Pa55word";

/// The token the EKS kubeconfig's exec entry prints.
const EKS_TOKEN: &str = "eks-exec-token-from-infra-test";

/// The token of the user in the test's own kubeconfig.
const FILE_TOKEN: &str = "kubeconfig-file-token";

/// Which helm infra should believe it runs.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Major {
    V3,
    V4,
}

/// How the release reaches the cluster.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kube {
    /// `kubeconfig` + `context`: a file of the test's with two contexts.
    File,
    /// `kubernetes = { eks_cluster, endpoint, ca_data, region }`.
    Eks,
}

/// The fake API server: a Python child, killed when dropped.
struct FakeCluster {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FAKE_CLUSTER: &str = r#"
# A fake Kubernetes API server for the real-helm tests: it answers /version,
# lists no secrets (so helm finds no release) and refuses everything else.
# Each request is logged as a JSON line: method, path, Authorization.
import http.server, json, ssl, sys
log, cert, key = sys.argv[1:4]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        with open(log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "authorization": self.headers.get("Authorization")}) + "\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        if self.command == "GET" and path == "/version":
            code, body = 200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0",
                               "platform": "linux/amd64"}
        elif self.command == "GET" and path.endswith("/secrets"):
            code, body = 200, {"kind": "SecretList", "apiVersion": "v1",
                               "metadata": {"resourceVersion": "1"}, "items": []}
        else:
            code, body = 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "reason": "NotFound", "code": 404}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl FakeCluster {
    /// Starts the server with a new self-signed certificate for 127.0.0.1
    /// (`dir/cert.pem`, the CA helm is given).
    fn start(dir: &Path) -> FakeCluster {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let out = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=infra-real-helm-test"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl must be installed to make the fake cluster's certificate");
        assert!(out.status.success(), "openssl: {}", text(&out));
        let script = dir.join("fake_cluster.py");
        std::fs::write(&script, FAKE_CLUSTER).expect("fake cluster script");
        let log = dir.join("requests.log");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&log)
            .arg(&cert)
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to run the fake cluster");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the fake cluster's port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the fake cluster printed {line:?}, not its port")
        });
        FakeCluster { child, port, log }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Every request so far: (method, path, Authorization).
    fn requests(&self) -> Vec<(String, String, Option<String>)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).expect("request log line");
                let s = |k: &str| j[k].as_str().map(str::to_owned);
                (
                    s("method").unwrap_or_default(),
                    s("path").unwrap_or_default(),
                    s("authorization"),
                )
            })
            .collect()
    }
}

/// Standard base64, for the EKS `ca_data`.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes `path` with mode 0755 through `install`: a child another test
/// thread forks while this process holds the file open for writing would
/// keep it open, and running it would fail with ETXTBSY.
fn install_script(path: &Path, text: &str) {
    let draft = path.with_extension("draft");
    std::fs::write(&draft, text).expect("script");
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(&draft)
        .arg(path)
        .status()
        .expect("run install (coreutils)");
    assert!(status.success(), "install {}", path.display());
}

/// The wrapper `[helm] binary` points at (see the module docs).
fn wrapper(real: &Path, log: &Path, major: Major) -> String {
    let version = match major {
        Major::V3 => "if [ \"$1\" = version ]; then echo 'v3.19.0+g3d8990f'; exit 0; fi\n",
        Major::V4 => "",
    };
    format!(
        r#"#!/bin/sh
# The real helm, recorded: argv, environment, and the values file and
# kubeconfig it names (mode, bytes) while helm runs. See tests/real_helm/argv.rs.
log='{log}'
real='{real}'
i=$(( $(cat "$log/count" 2>/dev/null || echo 0) + 1 ))
echo "$i" > "$log/count"
printf '%s\n' "$@" > "$log/$i.argv"
env > "$log/$i.env"
prev=
for a in "$@"; do
  case "$prev" in
    -f)
      echo "$a" > "$log/$i.values.path"
      stat -c '%a' "$a" > "$log/$i.values.mode"
      stat -c '%a' "$(dirname "$a")" > "$log/$i.values.dirmode"
      cp "$a" "$log/$i.values" ;;
    --kubeconfig)
      stat -c '%a' "$a" > "$log/$i.kubeconfig.mode"
      cp "$a" "$log/$i.kubeconfig" ;;
  esac
  prev=$a
done
{version}if [ "$1" = upgrade ]; then set -- "$@" {added}; fi
printf '%s\n' "$@" > "$log/$i.ran"
"$real" "$@" 2> "$log/$i.stderr"
rc=$?
cat "$log/$i.stderr" >&2
exit $rc
"#,
        log = log.display(),
        real = real.display(),
        added = ADDED_TO_UPGRADE.join(" "),
    )
}

/// One recorded helm call.
#[derive(Debug)]
struct Call {
    argv: Vec<String>,
    ran: Vec<String>,
    env: String,
    stderr: String,
    values: Option<(PathBuf, String, String, String)>,
    kubeconfig: Option<(String, String)>,
}

fn calls(log: &Path) -> Vec<Call> {
    let n: usize = std::fs::read_to_string(log.join("count"))
        .map(|s| s.trim().parse().expect("count"))
        .unwrap_or(0);
    let read = |i: usize, what: &str| std::fs::read_to_string(log.join(format!("{i}.{what}"))).ok();
    let lines = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default().lines().map(str::to_owned).collect()
    };
    (1..=n)
        .map(|i| Call {
            argv: lines(read(i, "argv")),
            ran: lines(read(i, "ran")),
            env: read(i, "env").unwrap_or_default(),
            stderr: read(i, "stderr").unwrap_or_default(),
            values: read(i, "values.path").map(|p| {
                (
                    PathBuf::from(p.trim()),
                    read(i, "values.mode").unwrap_or_default().trim().to_owned(),
                    read(i, "values.dirmode")
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                    read(i, "values").unwrap_or_default(),
                )
            }),
            kubeconfig: read(i, "kubeconfig.mode").map(|m| {
                (
                    m.trim().to_owned(),
                    read(i, "kubeconfig").unwrap_or_default(),
                )
            }),
        })
        .collect()
}

/// A project whose one `helm_release` runs through the wrapper, applied.
fn check_apply(major: Major, kube: Kube) {
    let real = real_helm();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let cluster = FakeCluster::start(root);
    build_chart(&root.join("chart"));
    let log = root.join("helm-log");
    std::fs::create_dir_all(&log).expect("log dir");
    std::fs::create_dir_all(root.join("bin")).expect("bin");
    std::fs::create_dir_all(root.join("stacks")).expect("stacks");
    install_script(&root.join("bin/helm"), &wrapper(&real, &log, major));
    install_script(
        &root.join("bin/token"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{EKS_TOKEN}\"}}}}'\n",
            log.join("token.argv").display()
        ),
    );
    let (settings, connection) = match kube {
        Kube::File => {
            std::fs::write(
                root.join("kubeconfig"),
                format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: target\n  cluster:\n    server: {}\n    certificate-authority: {}\n- name: other\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: target\n  context: {{cluster: target, user: tester}}\n- name: other\n  context: {{cluster: other, user: tester}}\ncurrent-context: other\nusers:\n- name: tester\n  user: {{token: {FILE_TOKEN}}}\n",
                    cluster.url(),
                    root.join("cert.pem").display()
                ),
            )
            .expect("kubeconfig");
            (
                String::new(),
                "kubeconfig = \"kubeconfig\"\ncontext = \"target\"\n".to_owned(),
            )
        }
        Kube::Eks => {
            let ca = base64(&std::fs::read(root.join("cert.pem")).expect("cert"));
            (
                "token_command = \"bin/token\"\n".to_owned(),
                format!(
                    "kubernetes = {{ eks_cluster = \"airflow-eks\", endpoint = \"{}\", ca_data = \"{ca}\", region = \"eu-west-1\" }}\n",
                    cluster.url()
                ),
            )
        }
    };
    std::fs::write(
        root.join("stacks/x.toml"),
        format!(
            r#"[helm]
binary = "bin/helm"
{settings}
[resources.helm_release.airflow]
name = "airflow"
namespace = "airflow"
create_namespace = true
chart = "chart"
version = "1.15.0"
atomic = true
wait = true
timeout = "15m"
max_history = 5
{connection}
[resources.helm_release.airflow.values]
executor = "KubernetesExecutor"

[resources.helm_release.airflow.values.data.metadataConnection]
user = "airflow"
pass = {{ from_env = "AIRFLOW_DB_PASSWORD" }}
host = "db.example.internal"
"#
        ),
    )
    .expect("stack");

    let out = Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["apply", "--auto-approve", "--stack", "x", "--no-color"])
        .current_dir(root)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("AIRFLOW_DB_PASSWORD", SENTINEL)
        .stdin(Stdio::null())
        .output()
        .expect("run infra");
    let shown = text(&out);
    let calls = calls(&log);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{major:?}/{kube:?}: infra apply failed:\n{shown}\ncalls: {calls:#?}"
    );

    // version, status (no release), upgrade: each real helm's answer.
    let subcommands: Vec<&str> = calls.iter().map(|c| c.argv[0].as_str()).collect();
    assert_eq!(subcommands, ["version", "status", "upgrade"], "{calls:#?}");
    let (status, upgrade) = (&calls[1], &calls[2]);
    assert!(
        status.stderr.contains("Error: release: not found"),
        "real helm's status: {}",
        status.stderr
    );

    // The exact argv infra built, and what helm ran: that argv plus only
    // the documented flags.
    let (values_path, values_mode, values_dir_mode, values) =
        upgrade.values.clone().expect("upgrade names a values file");
    let (kubeconfig, context) = match kube {
        // As written, against the project root (infra's and helm's cwd).
        Kube::File => (Path::new(".").join("kubeconfig"), "target"),
        Kube::Eks => (values_path.with_file_name("kubeconfig.json"), "airflow-eks"),
    };
    let kube_flags = [
        "--kubeconfig".to_owned(),
        kubeconfig.display().to_string(),
        "--kube-context".to_owned(),
        context.to_owned(),
    ];
    let atomic = match major {
        Major::V3 => "--atomic",
        Major::V4 => "--rollback-on-failure",
    };
    let mut expected: Vec<String> = [
        "upgrade",
        "--install",
        "airflow",
        "chart",
        "--version",
        "1.15.0",
        "-n",
        "airflow",
        "--create-namespace",
        "-f",
        &values_path.display().to_string(),
        "--wait",
        "--timeout",
        "15m",
        "--history-max",
        "5",
        atomic,
        "-o",
        "json",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(kube_flags.iter().cloned());
    assert_eq!(upgrade.argv, expected);
    let mut ran = expected.clone();
    ran.extend(ADDED_TO_UPGRADE.iter().map(|s| (*s).to_owned()));
    assert_eq!(upgrade.ran, ran);
    let mut status_argv: Vec<String> = ["status", "airflow", "-n", "airflow", "-o", "json"]
        .map(str::to_owned)
        .to_vec();
    status_argv.extend(kube_flags.iter().cloned());
    assert_eq!(status.argv, status_argv);
    assert_eq!(status.ran, status.argv);

    // Helm 4's spelling is current; Helm 3's still parses, deprecated.
    let deprecated = "Flag --atomic has been deprecated";
    match major {
        Major::V4 => assert!(!upgrade.stderr.contains("deprecated"), "{}", upgrade.stderr),
        Major::V3 => assert!(upgrade.stderr.contains(deprecated), "{}", upgrade.stderr),
    }

    // helm read the connection for real: the server through its CA, the
    // context's user (the exec entry's token for EKS), the namespace.
    let token = match kube {
        Kube::File => FILE_TOKEN,
        Kube::Eks => EKS_TOKEN,
    };
    let requests = cluster.requests();
    let secrets = "/api/v1/namespaces/airflow/secrets?labelSelector=name%3Dairflow%2Cowner%3Dhelm";
    assert!(
        requests.iter().any(|(m, p, _)| m == "GET" && p == secrets),
        "{requests:#?}"
    );
    assert!(
        !requests.is_empty()
            && requests
                .iter()
                .all(|(_, _, a)| a.as_deref() == Some(&format!("Bearer {token}"))),
        "{requests:#?}"
    );
    if kube == Kube::Eks {
        let token_argv = std::fs::read_to_string(log.join("token.argv")).expect("token ran");
        assert_eq!(
            token_argv.lines().collect::<Vec<_>>(),
            [
                "eks",
                "token",
                "--cluster",
                "airflow-eks",
                "--region",
                "eu-west-1"
            ]
        );
        let (mode, config) = upgrade.kubeconfig.clone().expect("kubeconfig recorded");
        assert_eq!(mode, "600", "the EKS kubeconfig's mode");
        assert!(!config.contains(EKS_TOKEN), "no token is written down");
        // client-go takes a relative exec command as relative to the
        // kubeconfig's directory (infra's scratch directory): infra writes
        // `[helm] token_command = "bin/token"` absolute.
        let config: serde_json::Value = serde_json::from_str(&config).expect("kubeconfig JSON");
        let command = config["users"][0]["user"]["exec"]["command"]
            .as_str()
            .expect("exec command");
        assert_eq!(
            Path::new(command),
            root.canonicalize().expect("root").join("bin/token")
        );
    }

    // The secret went to helm in the 0600 values file only.
    assert_eq!(values_mode, "600", "the values file's mode while helm ran");
    assert_eq!(values_dir_mode, "700", "its directory's mode");
    let values: serde_json::Value = serde_json::from_str(&values).expect("values file is JSON");
    assert_eq!(values["data"]["metadataConnection"]["pass"], SENTINEL);
    assert_eq!(values["executor"], "KubernetesExecutor");
    assert!(
        !values_path.exists(),
        "the values file is removed after helm"
    );
    for call in &calls {
        for (what, text) in [
            ("argv", call.argv.join(" ")),
            ("ran", call.ran.join(" ")),
            ("environment", call.env.clone()),
            ("stderr", call.stderr.clone()),
        ] {
            assert!(
                !text.contains(SENTINEL),
                "the secret is in helm's {what}: {call:?}"
            );
        }
    }
    assert!(!shown.contains(SENTINEL), "{shown}");
    let requests_text = std::fs::read_to_string(&cluster.log).unwrap_or_default();
    assert!(!requests_text.contains(SENTINEL), "{requests_text}");

    // infra read helm 4's JSON answer: a dry run is pending-install.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("state/x.json")).expect("state written"))
            .expect("state json");
    let outputs = &state["resources"][0]["outputs"];
    assert_eq!(outputs["revision"], 1, "{state:#}");
    assert_eq!(outputs["status"], "pending-install", "{state:#}");
    assert_eq!(outputs["chart_version"], "1.15.0", "{state:#}");
    assert_eq!(outputs["app_version"], "2.9.3", "{state:#}");
}

#[test]
fn helm_4_runs_the_upgrade_infra_builds_with_a_kubeconfig_context() {
    check_apply(Major::V4, Kube::File);
}

#[test]
fn helm_4_runs_the_upgrade_infra_builds_through_the_eks_exec_kubeconfig() {
    check_apply(Major::V4, Kube::Eks);
}

#[test]
fn helm_3_spellings_parse_with_helm_4_with_a_kubeconfig_context() {
    check_apply(Major::V3, Kube::File);
}

#[test]
fn helm_3_spellings_parse_with_helm_4_through_the_eks_exec_kubeconfig() {
    check_apply(Major::V3, Kube::Eks);
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
}
