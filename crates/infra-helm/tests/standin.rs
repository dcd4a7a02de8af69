//! `helm_release` against the stand-in helm (tests/fixtures/helm, a test
//! double): the exact argv under Helm 3 and Helm 4, secrets kept out of
//! argv and the environment, the values and kubeconfig files, drift,
//! pending releases and their recovery, uninstall and not-found paths.

mod support;

use infra_core::{ErrorKind, Existing, Provider, Value};
use infra_helm::{DRIFT_STATUS_KEY, EXEC_API_VERSION, HelmRelease, Recovery};
use support::{SENTINEL, Standin, TOKEN_COMMAND, as_stored, inputs, secret, set_value};

const KUBE3: &str = "--kubeconfig $DIR/user-kubeconfig --kube-context prod";
const KUBE4: &str = "--kubeconfig KUBECONFIG --kube-context main";

/// A release reached through the user's kubeconfig and context.
fn kubeconfig_release(p: &HelmRelease, s: &Standin) -> Value {
    let mut v = inputs(
        p,
        &format!(
            r#"{{"name": "airflow", "namespace": "airflow", "create_namespace": true,
                "chart": "airflow", "repository": "https://airflow.apache.org",
                "version": "1.22.0", "timeout": "20m",
                "kubeconfig": "{}", "context": "prod"}}"#,
            s.user_kubeconfig().display()
        ),
    );
    set_value(&mut v, "executor", "KubernetesExecutor".into());
    set_value(&mut v, "data.metadataConnection.pass", secret(SENTINEL));
    set_value(&mut v, "data.metadataConnection.host", "db.example".into());
    v
}

/// A release on an EKS cluster, from the cluster's outputs.
fn eks_release(p: &HelmRelease) -> Value {
    let mut v = inputs(
        p,
        r#"{"name": "airflow", "namespace": "airflow", "chart": "apache-airflow/airflow",
            "version": "1.22.0",
            "kubernetes": {"eks_cluster": "main", "endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
                           "ca_data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}}"#,
    );
    set_value(&mut v, "data.metadataConnection.pass", secret(SENTINEL));
    v
}

fn existing(observed_id: &str, inputs: &Value) -> Existing {
    Existing {
        id: observed_id.to_owned(),
        inputs: as_stored(inputs),
        outputs: Value::map(),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .unwrap_or_else(|| panic!("no {path}"))
}

fn with(v: &Value, key: &str, value: Value) -> Value {
    let mut v = v.clone();
    if let Value::Map(m) = &mut v {
        m.insert(key.to_owned(), value);
    }
    v
}

#[tokio::test]
async fn helm3_argv_for_create_read_update_delete() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);

    let created = p.create(&ctx, &given).await.expect("create");
    assert_eq!(created.id, "airflow/airflow");
    assert_eq!(created.outputs.get("revision"), Some(&Value::Int(1)));
    assert_eq!(
        created.outputs.get("status"),
        Some(&Value::from("deployed"))
    );
    assert_eq!(
        created.outputs.get("chart_version"),
        Some(&Value::from("1.22.0"))
    );
    assert_eq!(
        created.outputs.get("app_version"),
        Some(&Value::from("3.2.2"))
    );
    assert_eq!(
        s.calls(),
        [
            "version --short".to_owned(),
            format!("status airflow -n airflow -o json {KUBE3}"),
            format!(
                "upgrade --install airflow airflow --repo https://airflow.apache.org --version 1.22.0 -n airflow --create-namespace -f VALUES --wait --timeout 20m --history-max 10 --atomic -o json {KUBE3}"
            ),
        ]
    );

    let state = existing(&created.id, &given);
    let n = s.calls().len();
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    assert_eq!(
        read.inputs, state.inputs,
        "an untouched release shows no drift"
    );
    assert_eq!(read.outputs, created.outputs);
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE3}"),
            format!("get values airflow -n airflow -o json {KUBE3}"),
            format!("history airflow -n airflow -o json {KUBE3}"),
        ]
    );

    let n = s.calls().len();
    let mut changed = with(&given, "atomic", Value::Bool(false));
    changed = with(&changed, "wait", Value::Bool(false));
    set_value(&mut changed, "executor", "CeleryExecutor".into());
    let updated = p.update(&ctx, &state, &changed).await.expect("update");
    assert_eq!(updated.outputs.get("revision"), Some(&Value::Int(2)));
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE3}"),
            format!(
                "upgrade --install airflow airflow --repo https://airflow.apache.org --version 1.22.0 -n airflow --create-namespace -f VALUES --timeout 20m --history-max 10 -o json {KUBE3}"
            ),
        ]
    );

    let n = s.calls().len();
    p.delete(&ctx, &existing(&updated.id, &given))
        .await
        .expect("delete");
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE3}"),
            format!("uninstall airflow -n airflow --wait --timeout 20m --ignore-not-found {KUBE3}"),
        ]
    );
    assert!(
        !s.calls().iter().skip(1).any(|c| c.starts_with("version")),
        "the version is detected once"
    );
}

#[tokio::test]
async fn helm4_argv_for_create_read_update_delete() {
    let s = Standin::new(4);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = eks_release(&p);

    let created = p.create(&ctx, &given).await.expect("create");
    let upgrade = format!(
        "upgrade --install airflow apache-airflow/airflow --version 1.22.0 -n airflow -f VALUES --wait --timeout 10m --history-max 10 --rollback-on-failure -o json {KUBE4}"
    );
    assert_eq!(
        s.calls(),
        [
            "version --short".to_owned(),
            format!("status airflow -n airflow -o json {KUBE4}"),
            upgrade.clone(),
        ]
    );
    assert_eq!(
        created.outputs.get("chart_version"),
        Some(&Value::from("1.22.0"))
    );

    let state = existing(&created.id, &given);
    let n = s.calls().len();
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    assert_eq!(read.inputs, state.inputs);
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE4}"),
            format!("get values airflow -n airflow -o json {KUBE4}"),
            format!("history airflow -n airflow -o json {KUBE4}"),
        ]
    );

    let n = s.calls().len();
    let mut changed = given.clone();
    set_value(&mut changed, "workers.replicas", Value::Int(3));
    p.update(&ctx, &state, &changed).await.expect("update");
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE4}"),
            upgrade
        ]
    );

    let n = s.calls().len();
    p.delete(&ctx, &state).await.expect("delete");
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE4}"),
            format!("uninstall airflow -n airflow --wait --timeout 10m --ignore-not-found {KUBE4}"),
        ]
    );
}

#[tokio::test]
async fn secrets_reach_only_the_values_file_which_is_private_and_removed() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    p.create(&ctx, &given).await.expect("create");

    assert!(!s.argv_log().is_empty() && !s.argv_log().contains(SENTINEL));
    assert!(!s.env_log().is_empty() && !s.env_log().contains(SENTINEL));
    let received = s.values_received();
    assert_eq!(received.len(), 1);
    let file = &received[0];
    assert_eq!(file["mode"], "0600", "the values file is private");
    assert_eq!(
        file["content"]["data"]["metadataConnection"]["pass"], SENTINEL,
        "helm received the secret in plaintext"
    );
    assert_eq!(file["content"]["executor"], "KubernetesExecutor");
    let path = std::path::Path::new(file["path"].as_str().expect("a path"));
    assert!(!path.exists(), "the values file is removed afterwards");
    assert!(
        !path.parent().expect("a dir").exists(),
        "and so is its directory"
    );
}

#[tokio::test]
async fn a_failed_upgrade_shows_stderr_with_secrets_and_tokens_redacted() {
    let mut s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    s.set("HELM_STANDIN_FAIL", Some("upgrade"));
    let err = p
        .create(&ctx, &kubeconfig_release(&p, &s))
        .await
        .expect_err("the upgrade fails");
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(err.message.contains("UPGRADE FAILED"), "{}", err.message);
    assert!(err.message.contains("db.example"), "{}", err.message);
    assert!(!err.message.contains(SENTINEL), "{}", err.message);
    assert!(
        !err.message.contains("c3RhbmQtaW4tdG9rZW4"),
        "{}",
        err.message
    );
    assert!(err.message.contains("(redacted)"), "{}", err.message);
    let path = s.values_received()[0]["path"]
        .as_str()
        .expect("a path")
        .to_owned();
    assert!(
        !std::path::Path::new(&path).exists(),
        "removed on error too"
    );
}

#[tokio::test]
async fn values_changed_by_hand_show_as_drift_and_secrets_stay_digests() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    let created = p.create(&ctx, &given).await.expect("create");
    s.edit_release("airflow", "airflow", 1, |r| {
        r["config"]["executor"] = "CeleryExecutor".into();
        r["config"]["webserver"] = serde_json::json!({"replicas": 2});
    });
    let state = existing(&created.id, &given);
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    let values = read.inputs.get("values").expect("values");
    assert_eq!(values.get("executor"), Some(&Value::from("CeleryExecutor")));
    assert_eq!(
        values.get("webserver"),
        Some(&[("replicas", Value::Int(2))].into_iter().collect())
    );
    let pass = at(&read.inputs, "values.data.metadataConnection.pass");
    assert_eq!(
        pass,
        at(&state.inputs, "values.data.metadataConnection.pass"),
        "the secret is kept as recorded"
    );
    assert!(matches!(pass, Value::Sensitive(_)));
    assert!(
        !format!(
            "{:?} {}",
            read.inputs,
            serde_json::to_string(&read.inputs).expect("json")
        )
        .contains(SENTINEL)
    );
    assert_eq!(read.inputs.get(DRIFT_STATUS_KEY), None);
}

#[tokio::test]
async fn a_failed_release_is_drift() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    let created = p.create(&ctx, &given).await.expect("create");
    s.edit_release("airflow", "airflow", 1, |r| {
        r["info"]["status"] = "failed".into();
    });
    let state = existing(&created.id, &given);
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    assert_eq!(
        read.inputs.get(DRIFT_STATUS_KEY),
        Some(&Value::from("failed"))
    );
    assert_eq!(read.outputs.get("status"), Some(&Value::from("failed")));
    assert_eq!(
        with(&read.inputs, DRIFT_STATUS_KEY, Value::Null),
        with(&state.inputs, DRIFT_STATUS_KEY, Value::Null),
        "nothing else differs"
    );
    // The repair is an ordinary upgrade.
    let repaired = p.update(&ctx, &state, &given).await.expect("update");
    assert_eq!(
        repaired.outputs.get("status"),
        Some(&Value::from("deployed"))
    );
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    assert_eq!(read.inputs, state.inputs);
}

#[tokio::test]
async fn a_pending_upgrade_is_refused_with_the_rollback_command() {
    let mut s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    let created = p.create(&ctx, &given).await.expect("create");
    let state = existing(&created.id, &given);
    let mut changed = given.clone();
    set_value(&mut changed, "executor", "CeleryExecutor".into());

    s.set("HELM_STANDIN_PENDING", Some("upgrade"));
    p.update(&ctx, &state, &changed)
        .await
        .expect_err("helm 'crashes' mid-upgrade");
    s.set("HELM_STANDIN_PENDING", None);

    let n = s.calls().len();
    let err = p
        .update(&ctx, &state, &changed)
        .await
        .expect_err("a pending release is refused");
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.contains("is pending-upgrade (revision 2)"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("`helm rollback airflow 1 -n airflow --kubeconfig ")
            && err
                .message
                .contains("--kube-context prod` (the last deployed revision)"),
        "{}",
        err.message
    );
    assert!(
        !s.calls_after(n).iter().any(|c| c.starts_with("upgrade")),
        "no upgrade is attempted"
    );
    let read = p.read(&ctx, &state).await.expect_err("read refuses too");
    assert_eq!(read.message, err.message);
    p.delete(&ctx, &state)
        .await
        .expect_err("delete refuses too");
}

#[tokio::test]
async fn recover_pending_rolls_back_to_the_last_deployed_revision() {
    let mut s = Standin::new(4);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = eks_release(&p);
    let created = p.create(&ctx, &given).await.expect("create");
    let state = existing(&created.id, &given);
    assert_eq!(
        p.resource().recover_pending(&ctx, &state.inputs).await,
        Ok(Recovery::NotPending)
    );

    s.set("HELM_STANDIN_PENDING", Some("upgrade"));
    p.update(&ctx, &state, &given).await.expect_err("crash");
    s.set("HELM_STANDIN_PENDING", None);

    let n = s.calls().len();
    let recovered = p
        .resource()
        .recover_pending(&ctx, &state.inputs)
        .await
        .expect("recover");
    assert_eq!(
        recovered,
        Recovery::RolledBack {
            from: Some(2),
            to: 1
        }
    );
    assert_eq!(
        s.calls_after(n),
        [
            format!("status airflow -n airflow -o json {KUBE4}"),
            format!("history airflow -n airflow -o json {KUBE4}"),
            format!("rollback airflow 1 -n airflow --wait --timeout 10m --history-max 10 {KUBE4}"),
        ]
    );
    let read = p.read(&ctx, &state).await.expect("read").expect("exists");
    assert_eq!(read.outputs.get("revision"), Some(&Value::Int(3)));
    assert_eq!(read.outputs.get("status"), Some(&Value::from("deployed")));
    let updated = p
        .update(&ctx, &state, &given)
        .await
        .expect("then upgrades work");
    assert_eq!(updated.outputs.get("revision"), Some(&Value::Int(4)));
}

#[tokio::test]
async fn a_pending_install_is_recovered_by_uninstalling() {
    let mut s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    s.set("HELM_STANDIN_PENDING", Some("upgrade"));
    p.create(&ctx, &given).await.expect_err("crash mid-install");
    s.set("HELM_STANDIN_PENDING", None);

    let err = p.find(&ctx, &given).await.expect_err("find refuses");
    assert!(
        err.message.contains("is pending-install (revision 1)"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("`helm uninstall airflow -n airflow --kubeconfig"),
        "{}",
        err.message
    );
    assert_eq!(
        p.resource().recover_pending(&ctx, &given).await,
        Ok(Recovery::Uninstalled)
    );
    assert!(
        s.calls()
            .last()
            .expect("a call")
            .starts_with("uninstall airflow -n airflow --wait --timeout 20m --ignore-not-found")
    );
    assert_eq!(p.find(&ctx, &given).await, Ok(None));
}

#[tokio::test]
async fn uninstall_and_not_found_paths() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    let state = existing("airflow/airflow", &given);

    assert_eq!(p.read(&ctx, &state).await, Ok(None), "never installed");
    assert_eq!(p.find(&ctx, &given).await, Ok(None));
    p.delete(&ctx, &state)
        .await
        .expect("deleting nothing succeeds");
    assert!(!s.calls().iter().any(|c| c.starts_with("uninstall")));

    let created = p.create(&ctx, &given).await.expect("create");
    let found = p.find(&ctx, &given).await.expect("find").expect("found");
    assert_eq!(found.id, created.id);
    assert_eq!(found.outputs, created.outputs);
    p.delete(&ctx, &state).await.expect("delete");
    assert!(!s.release_file("airflow", "airflow", 1).exists());
    assert_eq!(p.read(&ctx, &state).await, Ok(None), "gone");
    p.delete(&ctx, &state).await.expect("again");
}

#[tokio::test]
async fn the_eks_kubeconfig_runs_the_token_command_and_holds_no_token() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    p.create(&ctx, &eks_release(&p)).await.expect("create");
    let configs = s.kubeconfigs_received();
    assert_eq!(configs.len(), 2, "status and upgrade");
    for c in &configs {
        assert_eq!(c["mode"], "0600");
        let path = std::path::Path::new(c["path"].as_str().expect("a path"));
        assert!(!path.exists(), "removed afterwards");
        let k = &c["content"];
        assert_eq!(k["current-context"], "main");
        assert_eq!(
            k["clusters"][0]["cluster"]["server"],
            "https://ABC.gr7.us-east-1.eks.amazonaws.com"
        );
        assert_eq!(
            k["clusters"][0]["cluster"]["certificate-authority-data"],
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
        );
        let user = &k["users"][0]["user"];
        assert_eq!(
            user,
            &serde_json::json!({"exec": {
                "apiVersion": EXEC_API_VERSION,
                "command": TOKEN_COMMAND,
                "args": ["eks", "token", "--cluster", "main"],
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }})
        );
        assert!(!has_key(k, "token"), "no static token");
        assert!(!k.to_string().contains("k8s-aws-v1"));
    }
}

fn has_key(j: &serde_json::Value, key: &str) -> bool {
    match j {
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k == key || has_key(v, key)),
        serde_json::Value::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

#[tokio::test]
async fn values_without_plaintext_are_refused_before_helm_runs() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = as_stored(&kubeconfig_release(&p, &s));
    let err = p.create(&ctx, &given).await.expect_err("no plaintext");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(s.calls().is_empty(), "{:?}", s.calls());
}

#[tokio::test]
async fn a_missing_binary_says_how_to_fix_it() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let mut ctx = s.ctx();
    ctx.settings = [("binary", Value::from("/nonexistent/helm"))]
        .into_iter()
        .collect();
    let err = p
        .create(&ctx, &kubeconfig_release(&p, &s))
        .await
        .expect_err("no helm");
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("[helm] binary"), "{}", err.message);
}

#[test]
fn the_standin_refuses_the_other_versions_spelling() {
    // The argv tests above mean something only if the double is strict.
    let run = |version: u8, flag: &str| {
        let s = Standin::new(version);
        let values = s.state_dir().join("v.json");
        std::fs::create_dir_all(s.state_dir()).expect("dir");
        std::fs::write(&values, "{}").expect("values");
        std::process::Command::new(s.binary())
            .args(["upgrade", "--install", "r", "c", "-f"])
            .arg(&values)
            .args([flag, "-o", "json"])
            .output()
            .expect("run the stand-in")
    };
    assert!(run(3, "--atomic").status.success());
    assert!(!run(3, "--rollback-on-failure").status.success());
    assert!(run(4, "--rollback-on-failure").status.success());
    let out = run(4, "--atomic");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rollback-on-failure"));
}

#[tokio::test]
async fn conformance() {
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let mut values = Value::map();
    set_value(&mut values, "executor", "CeleryExecutor".into());
    set_value(&mut values, "workers.replicas", Value::Int(2));
    let case = infra_core::conformance::Case {
        inputs: kubeconfig_release(&p, &s),
        updates: vec![
            ("values", values.get("values").expect("values").clone()),
            ("version", Value::from("1.23.0")),
            ("timeout", Value::from("15m")),
            ("atomic", Value::Bool(false)),
            ("wait", Value::Bool(false)),
            ("max_history", Value::Int(3)),
        ],
        replacing: vec!["name", "namespace"],
    };
    let ctx = |token: &str| {
        let mut ctx = s.ctx();
        ctx.token = token.to_owned();
        ctx
    };
    let passed = infra_core::conformance::run(&p, &ctx, case).await;
    assert_eq!(passed.len(), 7, "{passed:?}");
}

#[tokio::test]
async fn recovery_finds_a_release_whose_secrets_have_no_plaintext() {
    // The journal's inputs hold secrets as digests only: `find` needs the
    // release's identity, not the values' plaintext.
    let s = Standin::new(3);
    let p = HelmRelease::default();
    let ctx = s.ctx();
    let given = kubeconfig_release(&p, &s);
    let created = p.create(&ctx, &given).await.expect("create");
    let found = p
        .find(&ctx, &as_stored(&given))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.id, created.id);
}
