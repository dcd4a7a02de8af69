//! The S3 state backend against moto's S3: the emulator's conditional
//! writes, locking, leases and their takeover, fencing, optimistic snapshot
//! writes, the journal, the startup check, bootstrap, and a concurrency
//! trial that must lose no update.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use infra_aws::testing::Emulator;
use infra_core::{BackendError, BackendFactory, StateBackend};
use infra_state_s3::{
    DEFAULT_LEASE, S3Backend, S3BackendFactory, S3Location, bootstrap, check_conditional_writes,
};
use support::{Proxy, backend, bucket, client, client_at, info, keys, location, unique};

const SHORT: Duration = Duration::from_secs(1);

fn status<E, R>(
    r: &Result<R, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Option<u16> {
    match r {
        Ok(_) => Some(200),
        Err(e) => e.raw_response().map(|r| r.status().as_u16()),
    }
}

/// What the backend relies on, checked on the emulator itself: moto
/// honours `If-None-Match: *` and `If-Match` on PutObject, and `If-Match` on
/// DeleteObject (412 when the ETag differs, 404 when the object is gone).
#[tokio::test]
async fn moto_honours_conditional_puts_and_deletes() {
    let s3 = client().await;
    let b = bucket("moto").await;
    let put = |body: &'static str| {
        s3.put_object()
            .bucket(&b)
            .key("k")
            .body(ByteStream::from_static(body.as_bytes()))
    };
    let first = put("1").if_none_match("*").send().await;
    assert_eq!(status(&first), Some(200));
    let etag = first.unwrap().e_tag.unwrap();
    assert_eq!(status(&put("2").if_none_match("*").send().await), Some(412));
    assert_eq!(
        status(
            &put("3")
                .if_match("\"0123456789abcdef0123456789abcdef\"")
                .send()
                .await
        ),
        Some(412)
    );
    let second = put("4").if_match(&etag).send().await;
    assert_eq!(status(&second), Some(200));
    let etag = second.unwrap().e_tag.unwrap();

    let delete = |tag: &str| s3.delete_object().bucket(&b).key("k").if_match(tag).send();
    assert_eq!(
        status(&delete("\"0123456789abcdef0123456789abcdef\"").await),
        Some(412)
    );
    assert_eq!(status(&delete(&etag).await), Some(200));
    assert_eq!(status(&delete(&etag).await), Some(404));
    let missing = s3
        .put_object()
        .bucket(&b)
        .key("never")
        .if_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status(&missing), Some(404));
}

#[tokio::test]
async fn the_conditional_write_check_passes_on_moto_and_cleans_up() {
    let loc = location("probe").await;
    check_conditional_writes(&client().await, &loc)
        .await
        .unwrap();
    assert!(
        keys(loc.bucket(), "").await.is_empty(),
        "the probe is deleted"
    );
}

async fn open_error(
    factory: &S3BackendFactory,
    location: &str,
    settings: &BTreeMap<String, infra_core::Value>,
) -> String {
    match factory.open(location, settings, Path::new(".")).await {
        Ok(_) => panic!("{location} opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_factory_checks_the_store_and_opens_a_backend() {
    let emu = Emulator::shared();
    let factory = S3BackendFactory::new(emu.context());
    assert_eq!(factory.scheme(), "s3");
    let loc = location("factory").await;
    let settings = BTreeMap::from([("aws".to_owned(), emu.settings())]);
    let backend = factory
        .open(&loc.to_string(), &settings, Path::new("."))
        .await
        .unwrap();
    assert_eq!(backend.describe(), loc.to_string());
    backend.write_snapshot(b"{}\n").await.unwrap();
    assert_eq!(keys(loc.bucket(), "").await, vec![loc.key().to_owned()]);

    // A bucket that does not exist: the message names it and what to do.
    let missing = format!("s3://{}/x.json", unique("missing"));
    let e = open_error(&factory, &missing, &settings).await;
    assert!(e.contains(&missing.replace("/x.json", "")), "{e}");
    assert!(e.contains("the bucket does not exist"), "{e}");
    assert!(e.contains("bootstrap"), "{e}");

    // A bad location.
    let e = open_error(&factory, "s3://only-a-bucket", &settings).await;
    assert!(e.contains("`s3://only-a-bucket`"), "{e}");
    assert!(e.contains("a valid one looks like `s3://"), "{e}");
}

#[tokio::test]
async fn of_two_backends_exactly_one_locks_and_the_other_is_told_who() {
    let loc = location("lock").await;
    let a = backend(&loc, DEFAULT_LEASE).await;
    let b = backend(&loc, DEFAULT_LEASE).await;
    assert_eq!(a.lock(&info("a")).await.unwrap(), None);
    match b.lock(&info("b")).await {
        Err(BackendError::Locked(holder)) => {
            assert_eq!(holder.id, "a");
            assert_eq!(holder.holder, "user-a");
            assert!(holder.expires.is_some(), "the lock carries its lease");
            let message = BackendError::Locked(holder).to_string();
            assert!(message.contains("user-a on test-host"), "{message}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(b.lock_info().await.unwrap().unwrap().id, "a");
    a.unlock("a").await.unwrap();
    assert_eq!(b.lock_info().await.unwrap(), None);
    assert_eq!(b.lock(&info("b")).await.unwrap(), None);
    b.unlock("b").await.unwrap();

    // Racing for it, many times: exactly one wins each time.
    for round in 0..10 {
        let a = backend(&loc, DEFAULT_LEASE).await;
        let b = backend(&loc, DEFAULT_LEASE).await;
        let (ia, ib) = (info("a"), info("b"));
        let (ra, rb) = tokio::join!(a.lock(&ia), b.lock(&ib));
        let winner = match (ra, rb) {
            (Ok(None), Err(BackendError::Locked(h))) if h.id == "a" => "a",
            (Err(BackendError::Locked(h)), Ok(None)) if h.id == "b" => "b",
            other => panic!("round {round}: expected exactly one lock, got {other:?}"),
        };
        let w = if winner == "a" { &a } else { &b };
        w.unlock(winner).await.unwrap();
    }
}

#[tokio::test]
async fn a_snapshot_write_from_a_stale_read_is_refused() {
    let loc = location("stale").await;
    let a = backend(&loc, DEFAULT_LEASE).await;
    let b = backend(&loc, DEFAULT_LEASE).await;
    assert_eq!(a.read_snapshot().await.unwrap(), None);
    a.write_snapshot(b"v1").await.unwrap();
    assert_eq!(b.read_snapshot().await.unwrap().unwrap(), b"v1");
    a.write_snapshot(b"v2").await.unwrap();
    match b.write_snapshot(b"v3 from a stale read").await {
        Err(BackendError::Conflict(m)) => {
            assert!(m.contains(&loc.to_string()), "{m}");
            assert!(m.contains("written (or deleted) by someone else"), "{m}");
            assert!(m.contains("nothing was overwritten"), "{m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(a.read_snapshot().await.unwrap().unwrap(), b"v2");

    // A backend that never read the state may only create it.
    let c = backend(&loc, DEFAULT_LEASE).await;
    assert!(matches!(
        c.write_snapshot(b"blind").await,
        Err(BackendError::Conflict(m)) if m.contains("created by someone else")
    ));
    // After reading, it may write.
    c.read_snapshot().await.unwrap();
    c.write_snapshot(b"v4").await.unwrap();
    assert_eq!(a.read_snapshot().await.unwrap().unwrap(), b"v4");
}

#[tokio::test]
async fn every_object_is_encrypted() {
    let loc = location("sse").await;
    let a = backend(&loc, DEFAULT_LEASE).await;
    a.lock(&info("a")).await.unwrap();
    a.write_snapshot(b"{}\n").await.unwrap();
    a.append_journal(b"{}\n").await.unwrap();
    let s3 = client().await;
    let written = keys(loc.bucket(), "").await;
    assert_eq!(written.len(), 3, "{written:?}");
    for key in written {
        let head = s3
            .head_object()
            .bucket(loc.bucket())
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
    }
    a.unlock("a").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_keeps_the_lock_alive_well_past_its_lease() {
    let loc = location("renew").await;
    let a = backend(&loc, SHORT).await;
    assert_eq!(a.lease(), SHORT);
    a.lock(&info("a")).await.unwrap();
    a.read_snapshot().await.unwrap();
    let first = a.lock_info().await.unwrap().unwrap().expires.unwrap();
    tokio::time::sleep(SHORT * 4).await;

    let b = backend(&loc, SHORT).await;
    match b.lock(&info("b")).await {
        Err(BackendError::Locked(h)) => {
            assert_eq!(h.id, "a");
            let expires = humantime::parse_rfc3339_weak(h.expires.as_deref().unwrap()).unwrap();
            assert!(expires > SystemTime::now(), "the lease was renewed");
            assert_ne!(h.expires.unwrap(), first, "the lease was extended");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    a.write_snapshot(b"still mine").await.unwrap();
    a.append_journal(b"{}\n").await.unwrap();
    a.unlock("a").await.unwrap();
    assert_eq!(b.lock(&info("b")).await.unwrap(), None);
    b.unlock("b").await.unwrap();
}

/// A holder cut off by a network partition cannot renew; once its lease
/// runs out another run takes the lock over and learns whom from. When the
/// network is back, the old holder's writes are refused (fencing) and its
/// unlock leaves the new holder's lock alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off() {
    let loc = location("takeover").await;
    let proxy = Proxy::start().await;
    let a = S3Backend::new(client_at(proxy.endpoint()).await, loc.clone(), SHORT);
    a.lock(&info("a")).await.unwrap();
    a.read_snapshot().await.unwrap();
    a.write_snapshot(b"a's state").await.unwrap();
    a.append_journal(b"a1\n").await.unwrap();

    proxy.cut();
    let b = backend(&loc, SHORT).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let previous = loop {
        match b.lock(&info("b")).await {
            Ok(Some(previous)) => break previous,
            Ok(None) => panic!("b locked without taking a's lock over"),
            Err(BackendError::Locked(h)) if Instant::now() < deadline => {
                assert_eq!(h.id, "a");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("b could not take the expired lock over: {e}"),
        }
    };
    assert_eq!(previous.id, "a", "lock reports the previous holder");
    assert_eq!(previous.holder, "user-a");
    assert_eq!(b.read_snapshot().await.unwrap().unwrap(), b"a's state");
    assert_eq!(b.read_journal().await.unwrap(), b"a1\n");

    proxy.heal();
    for (what, result) in [
        ("snapshot", a.write_snapshot(b"a's late write").await),
        ("journal", a.append_journal(b"a2\n").await),
        ("clear", a.clear_journal().await),
    ] {
        match result {
            Err(BackendError::Conflict(m)) => {
                assert!(
                    m.contains("taken over by user-b on test-host"),
                    "{what}: {m}"
                );
                assert!(m.contains("lock id b"), "{what}: {m}");
                assert!(m.contains(&loc.to_string()), "{what}: {m}");
            }
            other => panic!("{what}: expected Conflict, got {other:?}"),
        }
    }
    a.unlock("a").await.unwrap();
    assert_eq!(
        b.lock_info().await.unwrap().unwrap().id,
        "b",
        "b's lock stays"
    );
    assert_eq!(b.read_snapshot().await.unwrap().unwrap(), b"a's state");
    assert_eq!(b.read_journal().await.unwrap(), b"a1\n");
    b.write_snapshot(b"b's state").await.unwrap();
    b.clear_journal().await.unwrap();
    b.unlock("b").await.unwrap();
    assert_eq!(b.lock_info().await.unwrap(), None);
}

/// A run that died leaves its lock; after the lease the next run takes it.
#[tokio::test]
async fn a_dead_holders_lock_is_taken_over_after_its_lease() {
    let loc = location("dead").await;
    let a = backend(&loc, SHORT).await;
    a.lock(&info("a")).await.unwrap();
    drop(a); // stops renewing, like a killed process
    let b = backend(&loc, SHORT).await;
    assert!(matches!(b.lock(&info("b")).await, Err(BackendError::Locked(h)) if h.id == "a"));
    tokio::time::sleep(SHORT + Duration::from_millis(300)).await;
    let previous = b.lock(&info("b")).await.unwrap();
    assert_eq!(previous.map(|p| p.id), Some("a".to_owned()));
    b.unlock("b").await.unwrap();
}

/// Two runs finding the same expired lock: only one takes it over, the
/// other is told the new holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_runs_taking_over_an_expired_lock_exactly_one_wins() {
    for round in 0..5 {
        let loc = location("race-takeover").await;
        let dead = backend(&loc, SHORT).await;
        dead.lock(&info("dead")).await.unwrap();
        drop(dead);
        tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
        let b = backend(&loc, SHORT).await;
        let c = backend(&loc, SHORT).await;
        let (ib, ic) = (info("b"), info("c"));
        let (rb, rc) = tokio::join!(b.lock(&ib), c.lock(&ic));
        match (rb, rc) {
            (Ok(Some(p)), Err(BackendError::Locked(h))) if p.id == "dead" && h.id == "b" => {}
            (Err(BackendError::Locked(h)), Ok(Some(p))) if p.id == "dead" && h.id == "c" => {}
            other => panic!("round {round}: expected exactly one takeover, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn force_unlock_needs_the_holders_id_and_fences_the_holder() {
    let loc = location("force").await;
    let a = backend(&loc, SHORT).await;
    a.lock(&info("a")).await.unwrap();
    a.read_snapshot().await.unwrap();
    let admin = backend(&loc, SHORT).await;
    let e = admin.force_unlock("wrong").await.unwrap_err().to_string();
    assert!(e.contains("has id a, not wrong"), "{e}");
    assert!(e.contains(&loc.to_string()), "{e}");
    admin.force_unlock("a").await.unwrap();
    assert_eq!(admin.lock_info().await.unwrap(), None);
    let e = admin.force_unlock("a").await.unwrap_err().to_string();
    assert!(e.contains("is not locked"), "{e}");

    // The holder's next renewal finds its lock gone.
    tokio::time::sleep(SHORT).await;
    match a.write_snapshot(b"after force-unlock").await {
        Err(BackendError::Conflict(m)) => assert!(m.contains("was removed"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn the_journal_round_trips_in_order_and_clears() {
    let loc = location("journal").await;
    let a = backend(&loc, DEFAULT_LEASE).await;
    a.lock(&info("a")).await.unwrap();
    assert!(a.read_journal().await.unwrap().is_empty());
    let mut expected = Vec::new();
    // More than 10, so that unpadded numbers would sort wrong.
    for i in 0..13 {
        let record = format!("{{\"record\": {i}}}\n");
        a.append_journal(record.as_bytes()).await.unwrap();
        expected.extend_from_slice(record.as_bytes());
    }
    assert_eq!(a.read_journal().await.unwrap(), expected);
    // Another process (the next holder) reads the same.
    let b = backend(&loc, DEFAULT_LEASE).await;
    assert_eq!(b.read_journal().await.unwrap(), expected);
    assert_eq!(keys(loc.bucket(), &loc.journal_prefix()).await.len(), 13);

    a.clear_journal().await.unwrap();
    assert!(a.read_journal().await.unwrap().is_empty());
    assert!(keys(loc.bucket(), &loc.journal_prefix()).await.is_empty());
    a.append_journal(b"after\n").await.unwrap();
    assert_eq!(b.read_journal().await.unwrap(), b"after\n");
    a.clear_journal().await.unwrap();
    a.unlock("a").await.unwrap();
}

/// A journal written by one backend is continued by the next, never
/// overwritten; a foreign object in the journal's prefix is refused.
#[tokio::test]
async fn the_journal_is_continued_never_overwritten() {
    let loc = location("continue").await;
    let a = backend(&loc, DEFAULT_LEASE).await;
    a.append_journal(b"a1\n").await.unwrap();
    let b = backend(&loc, DEFAULT_LEASE).await;
    b.append_journal(b"b1\n").await.unwrap();
    // a still believes seq 2 is next: its append collides instead of
    // replacing b's record.
    match a.append_journal(b"a2\n").await {
        Err(BackendError::Conflict(m)) => {
            assert!(m.contains("someone else is writing the journal"), "{m}");
            assert!(m.contains(&loc.journal_key(2)), "{m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(b.read_journal().await.unwrap(), b"a1\nb1\n");

    client()
        .await
        .put_object()
        .bucket(loc.bucket())
        .key(format!("{}notes.txt", loc.journal_prefix()))
        .body(ByteStream::from_static(b"?"))
        .send()
        .await
        .unwrap();
    let e = b.read_journal().await.unwrap_err().to_string();
    assert!(e.contains("is not a journal object infra wrote"), "{e}");
    assert!(e.contains("notes.txt"), "{e}");
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_secures_the_bucket() {
    let emu = Emulator::shared();
    let config = emu.context().sdk_config(&emu.settings()).await.unwrap();
    let name = unique("bootstrap");
    let first = bootstrap(&config, &name).await.unwrap();
    assert!(first.changed());
    assert_eq!(
        first
            .steps
            .iter()
            .map(|s| (s.setting, s.changed))
            .collect::<Vec<_>>(),
        [
            ("bucket", true),
            ("versioning", true),
            // moto leaves new buckets without default encryption (S3 has
            // encrypted them with AES256 since 2023: there this is false).
            ("encryption", true),
            ("public access block", true),
        ]
    );
    let text = first.to_string();
    assert!(text.contains(&format!("state bucket `{name}`")), "{text}");

    let second = bootstrap(&config, &name).await.unwrap();
    assert!(!second.changed(), "{second}");

    let s3 = client().await;
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    let rules = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules();
    assert_eq!(
        rules[0]
            .apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    let pab = s3
        .get_public_access_block()
        .bucket(&name)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(pab.block_public_acls, Some(true));
    assert_eq!(pab.ignore_public_acls, Some(true));
    assert_eq!(pab.block_public_policy, Some(true));
    assert_eq!(pab.restrict_public_buckets, Some(true));

    // The bootstrapped bucket works as a state store.
    let loc = S3Location::parse(&format!("s3://{name}/prod.json")).unwrap();
    check_conditional_writes(&s3, &loc).await.unwrap();
}

/// Several runs increment a counter in the state, each under the lock;
/// repeated, no increment may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_lose_no_update() {
    const TRIALS: usize = 20;
    const RUNS: usize = 4;
    const INCREMENTS: usize = 3;
    let s3 = client().await;
    let b = bucket("counter").await;
    for trial in 0..TRIALS {
        let loc = S3Location::parse(&format!("s3://{b}/trial-{trial}.json")).unwrap();
        let mut runs = tokio::task::JoinSet::new();
        for run in 0..RUNS {
            let (s3, loc) = (s3.clone(), loc.clone());
            runs.spawn(async move {
                for i in 0..INCREMENTS {
                    let backend = S3Backend::new(s3.clone(), loc.clone(), DEFAULT_LEASE);
                    let id = format!("run{run}-{i}");
                    loop {
                        match backend.lock(&info(&id)).await {
                            Ok(None) => break,
                            Ok(Some(p)) => panic!("took over a live lock from {}", p.id),
                            Err(BackendError::Locked(_)) => {
                                tokio::time::sleep(Duration::from_millis(5 + 7 * run as u64)).await
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    let count: u64 = match backend.read_snapshot().await.unwrap() {
                        Some(bytes) => String::from_utf8(bytes).unwrap().parse().unwrap(),
                        None => 0,
                    };
                    backend
                        .write_snapshot((count + 1).to_string().as_bytes())
                        .await
                        .unwrap();
                    backend.unlock(&id).await.unwrap();
                }
            });
        }
        while let Some(done) = runs.join_next().await {
            done.unwrap();
        }
        let final_count = backend(&loc, DEFAULT_LEASE)
            .await
            .read_snapshot()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(final_count).unwrap(),
            (RUNS * INCREMENTS).to_string(),
            "trial {trial}: an update was lost"
        );
        assert_eq!(keys(&b, &loc.lock_key()).await, Vec::<String>::new());
    }
}
