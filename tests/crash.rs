//! Crash tests: `infra apply`, `destroy` and replacements (in both orders)
//! are killed with SIGKILL at seeded random moments, then run again, and the
//! simulated cloud must show that nothing was lost: no orphan, no duplicate,
//! state equal to the cloud, no more creates and deletes than the change
//! needs.
//!
//! Each trial is a fresh project with a 12-resource stack of random
//! latencies and a random `--parallelism`. Kill moments are drawn within the
//! run's expected duration (a model of the engine's schedule plus the
//! overhead measured on uninterrupted runs). Right after a kill the journal
//! and the cloud are read: the kill point is what the journal held (steps
//! finished, steps in flight and whether the cloud had already acted), and
//! every step in it must have started only after the steps it depends on had
//! their results. The next run (sometimes a `plan` first) must report exactly
//! the journal's open intents as recovered.
//!
//! Run with `cargo test --features sim --test crash -- --nocapture` to see
//! the figures. `INFRA_CRASH_SEED` (decimal or `0x` hex) draws other stacks
//! and kill moments (a failure names the seed and the trial);
//! `INFRA_CRASH_TRIALS` sets the trials per test; `INFRA_CRASH_VERBOSE=1`
//! lists every distinct kill point.
#![cfg(feature = "sim")]

mod cli_support;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use cli_support::{Project, Run};
use infra_sim::LedgerEntry;
use serde_json::Value as Json;

/// The seed when `INFRA_CRASH_SEED` is not set.
const DEFAULT_SEED: u64 = 0x1f2a_c0de_5eed_0001;

/// Distinct kill points each scenario must reach.
const MIN_DISTINCT: usize = 50;

// ---------------------------------------------------------------------------
// The stack: 12 sim resources. Two roots, three chains between them that
// join again (a diamond), a cross edge, a short branch and a tail.
// ---------------------------------------------------------------------------

/// One resource of the crash stack.
struct Node {
    name: &'static str,
    /// Resources whose `id` its payload holds: replacing one of them
    /// updates this one in place.
    refs: &'static [&'static str],
    /// Resources it follows through `depends_on` only.
    after: &'static [&'static str],
}

/// In dependency order. The roots, `join` and `tail` are short (every
/// trial passes through them); the chains between them are long, so that
/// most kills land while several of them are in flight.
#[rustfmt::skip]
const NODES: &[Node] = &[
    Node { name: "net", refs: &[], after: &[] },
    Node { name: "iam", refs: &[], after: &[] },
    Node { name: "a1", refs: &["net"], after: &[] },
    Node { name: "a2", refs: &["a1"], after: &[] },
    Node { name: "b1", refs: &["net", "iam"], after: &[] },
    Node { name: "b2", refs: &["b1"], after: &[] },
    Node { name: "c1", refs: &["iam"], after: &[] },
    Node { name: "c2", refs: &["c1"], after: &[] },
    Node { name: "d1", refs: &["iam"], after: &[] },
    Node { name: "join", refs: &["a2", "b2", "c2"], after: &[] },
    Node { name: "side", refs: &["c2"], after: &["a1"] },
    Node { name: "tail", refs: &["join", "side"], after: &["d1"] },
];

/// The resources every run passes through (roots, join, tail): kept short.
fn bottleneck(i: usize) -> bool {
    matches!(NODES[i].name, "net" | "iam" | "join" | "tail")
}

fn index(name: &str) -> usize {
    NODES
        .iter()
        .position(|n| n.name == name)
        .expect("a node of the crash stack")
}

fn address(i: usize) -> String {
    format!("sim_resource.{}", NODES[i].name)
}

/// Simulated latencies of one resource, in milliseconds.
#[derive(Clone, Copy, Debug)]
struct Latency {
    create: u64,
    update: u64,
    delete: u64,
    read: u64,
}

/// One trial's stack: latencies, the `replace_key` version of each
/// resource, and the replacement order.
#[derive(Clone, Debug)]
struct Spec {
    latency: Vec<Latency>,
    keys: Vec<u32>,
    create_before_destroy: bool,
}

impl Spec {
    fn random(rng: &mut Rng, create_before_destroy: bool) -> Spec {
        let latency = (0..NODES.len())
            .map(|i| {
                let scale = if bottleneck(i) { 1 } else { 3 };
                Latency {
                    create: rng.range(5, 20) * scale,
                    update: rng.range(5, 20) * scale,
                    delete: rng.range(4, 15) * scale,
                    read: rng.range(2, 10),
                }
            })
            .collect();
        Spec {
            latency,
            keys: vec![1; NODES.len()],
            create_before_destroy,
        }
    }

    /// The stack file (without the `[sim]` table `Project` adds).
    fn toml(&self) -> String {
        let mut out = String::new();
        for (i, n) in NODES.iter().enumerate() {
            let l = self.latency[i];
            out.push_str(&format!(
                "[resources.sim_resource.{}]\ncreate_ms = {}\nupdate_ms = {}\ndelete_ms = {}\nread_ms = {}\nreplace_key = \"v{}\"\n",
                n.name, l.create, l.update, l.delete, l.read, self.keys[i]
            ));
            if n.refs.is_empty() {
                out.push_str("payload = \"root\"\n");
            } else {
                // Each dependent also takes its first dependency's secret
                // (a sensitive output): its plaintext must reach the sim,
                // which refuses a digest, across every kill.
                let refs: Vec<String> = n
                    .refs
                    .iter()
                    .map(|r| format!("\"${{sim_resource.{r}.id}}\""))
                    .chain([format!("\"${{sim_resource.{}.secret}}\"", n.refs[0])])
                    .collect();
                out.push_str(&format!("payload = [{}]\n", refs.join(", ")));
            }
            if !n.after.is_empty() {
                let after: Vec<String> = n
                    .after
                    .iter()
                    .map(|a| format!("\"sim_resource.{a}\""))
                    .collect();
                out.push_str(&format!("depends_on = [{}]\n", after.join(", ")));
            }
            if self.create_before_destroy {
                out.push_str("lifecycle = { create_before_destroy = true }\n");
            }
            out.push('\n');
        }
        out
    }

    /// Bumps the `replace_key` of a random non-empty set of resources;
    /// returns their indices.
    fn replace_some(&mut self, rng: &mut Rng) -> Vec<usize> {
        let mut replaced: Vec<usize> = (0..NODES.len()).filter(|_| rng.below(100) < 35).collect();
        if replaced.is_empty() {
            replaced.push(rng.below(NODES.len() as u64) as usize);
        }
        for &i in &replaced {
            self.keys[i] += 1;
        }
        replaced
    }
}

fn deps(i: usize) -> impl Iterator<Item = usize> {
    NODES[i].refs.iter().chain(NODES[i].after).map(|d| index(d))
}

/// One operation of the duration model: its latency and what it waits for.
struct ModelOp {
    ms: u64,
    after: Vec<usize>,
}

/// How long the operations take when scheduled like the engine does: each
/// starts as soon as what it waits for has finished and fewer than
/// `parallelism` are running, in FIFO order of becoming ready.
fn makespan(ops: &[ModelOp], parallelism: usize) -> u64 {
    let mut waiting: Vec<usize> = ops.iter().map(|o| o.after.len()).collect();
    let mut successors = vec![Vec::new(); ops.len()];
    for (i, o) in ops.iter().enumerate() {
        for &a in &o.after {
            successors[a].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..ops.len()).filter(|&i| waiting[i] == 0).collect();
    let mut running: Vec<(u64, usize)> = Vec::new();
    let mut now = 0;
    loop {
        while running.len() < parallelism {
            let Some(i) = ready.pop_front() else { break };
            running.push((now + ops[i].ms, i));
        }
        let Some(next) = running.iter().copied().min() else {
            return now;
        };
        running.retain(|r| *r != next);
        now = next.0;
        for &s in &successors[next.1] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.push_back(s);
            }
        }
    }
}

/// The operations of applying `spec` from nothing.
fn model_apply(spec: &Spec) -> Vec<ModelOp> {
    (0..NODES.len())
        .map(|i| ModelOp {
            ms: spec.latency[i].create,
            after: deps(i).collect(),
        })
        .collect()
}

/// The operations of destroying `spec`: each delete after its dependents'.
fn model_destroy(spec: &Spec) -> Vec<ModelOp> {
    (0..NODES.len())
        .map(|i| ModelOp {
            ms: spec.latency[i].delete,
            after: (0..NODES.len())
                .filter(|&c| deps(c).any(|d| d == i))
                .collect(),
        })
        .collect()
}

/// The operations of replacing `replaced` (the engine's `build_ops`): the
/// dependents that hold a replaced resource's id are updated in place.
fn model_replace(spec: &Spec, replaced: &[usize]) -> Vec<ModelOp> {
    let n = NODES.len();
    let updated: Vec<usize> = (0..n)
        .filter(|i| !replaced.contains(i))
        .filter(|&i| NODES[i].refs.iter().any(|r| replaced.contains(&index(r))))
        .collect();
    let changed = |i: usize| replaced.contains(&i) || updated.contains(&i);
    let lat = &spec.latency;
    // Forward op of node i at index i; deletes appended after.
    let mut ops: Vec<ModelOp> = (0..n)
        .map(|i| ModelOp {
            ms: if replaced.contains(&i) {
                lat[i].create
            } else if updated.contains(&i) {
                lat[i].update
            } else {
                0
            },
            after: deps(i).filter(|&d| changed(d)).collect(),
        })
        .collect();
    for &r in replaced {
        let d = ops.len();
        if spec.create_before_destroy {
            // The deposed object goes once it and its dependents moved on.
            let mut after = vec![r];
            after.extend((0..n).filter(|&c| changed(c) && deps(c).any(|x| x == r)));
            ops.push(ModelOp {
                ms: lat[r].delete,
                after,
            });
        } else {
            ops.push(ModelOp {
                ms: lat[r].delete,
                after: Vec::new(),
            });
            ops[r].after.push(d);
        }
    }
    if !spec.create_before_destroy {
        // Deletes wait for the deletes of replaced dependents.
        let delete_of = |r: usize| n + replaced.iter().position(|&x| x == r).expect("replaced");
        for &r in replaced {
            for &c in replaced {
                if deps(c).any(|x| x == r) {
                    let (dr, dc) = (delete_of(r), delete_of(c));
                    ops[dr].after.push(dc);
                }
            }
        }
    }
    ops
}

// ---------------------------------------------------------------------------
// Seeds.
// ---------------------------------------------------------------------------

/// xorshift64*, seeded through splitmix64: small, fast, reproducible.
struct Rng(u64);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of trial `trial` of the test `tag`: each trial is
    /// reproducible on its own from the seed.
    fn for_trial(seed: u64, tag: &str, trial: usize) -> Rng {
        let mut h = seed;
        for b in tag.bytes() {
            h = splitmix(h ^ u64::from(b));
        }
        Rng(splitmix(h ^ trial as u64) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

fn seed() -> u64 {
    match std::env::var("INFRA_CRASH_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => s.replace('_', "").parse(),
            };
            parsed.unwrap_or_else(|e| panic!("INFRA_CRASH_SEED={s:?} is not a number: {e}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

fn trials(default: usize) -> usize {
    std::env::var("INFRA_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// What a kill left: the journal and the cloud at that moment.
// ---------------------------------------------------------------------------

/// One journaled operation at the moment of a kill.
#[derive(Clone, Debug)]
struct JournalOp {
    address: String,
    step: String,
    /// `None` while the intent has no result.
    outcome: Option<String>,
    /// For an open intent: whether the cloud already shows its effect (the
    /// kill fell between the provider call and the result record).
    reached: bool,
    /// The journal line of the intent, and of its result.
    intent_line: usize,
    result_line: Option<usize>,
}

/// What the journal and state held right after a kill.
#[derive(Clone, Debug)]
struct KillPoint {
    /// Whether the signal killed the process (not: it had already exited).
    killed: bool,
    /// The state's serial, `None` without a state file.
    serial: Option<u64>,
    /// The raw journal, empty when there is none.
    journal: String,
    /// Complete records in it.
    records: usize,
    /// Whether its last line was torn.
    torn: bool,
    /// The journal's begin: operation and base serial.
    begin: Option<(String, u64)>,
    ops: Vec<JournalOp>,
}

impl KillPoint {
    /// A journal whose begin names an older serial than the state was
    /// already folded (the run died between the snapshot and removing the
    /// journal); the next run discards it.
    fn folded(&self) -> bool {
        matches!((&self.begin, self.serial), (Some((_, base)), Some(s)) if *base < s)
    }

    fn open(&self) -> impl Iterator<Item = &JournalOp> {
        self.ops.iter().filter(|o| o.outcome.is_none())
    }

    /// The recoveries the next run must report, as `address step-words`.
    fn expected_recoveries(&self) -> Vec<String> {
        if self.folded() {
            return Vec::new();
        }
        let mut out: Vec<String> = self
            .open()
            .map(|o| format!("{} {}", o.address, step_words(&o.step)))
            .collect();
        out.sort();
        out
    }

    /// The distinct kill point: the operation, the set of finished steps and
    /// the set of steps in flight (each with whether its effect had reached
    /// the cloud); or, without a journal, the state serial.
    fn key(&self) -> String {
        let Some((operation, _)) = &self.begin else {
            return format!(
                "no journal ({} records), state serial {:?}",
                self.records, self.serial
            );
        };
        let mut done: Vec<String> = Vec::new();
        let mut open: Vec<String> = Vec::new();
        for o in &self.ops {
            match &o.outcome {
                Some(outcome) => done.push(format!("{} {} {outcome}", o.address, o.step)),
                None => open.push(format!(
                    "{} {} {}",
                    o.address,
                    o.step,
                    if o.reached { "reached" } else { "not-reached" }
                )),
            }
        }
        done.sort();
        open.sort();
        format!(
            "{operation}{}{}; done [{}]; in flight [{}]",
            if self.folded() { " (folded)" } else { "" },
            if self.torn { " (torn)" } else { "" },
            done.join(", "),
            open.join(", ")
        )
    }

    /// The coarse kill point: (records in the journal, open intents).
    fn pair(&self) -> (usize, usize) {
        (self.records, self.open().count())
    }

    fn describe(&self) -> String {
        format!(
            "killed={} state serial={:?}\nkill point: {}\njournal:\n{}",
            self.killed,
            self.serial,
            self.key(),
            if self.journal.is_empty() {
                "(none)\n"
            } else {
                &self.journal
            }
        )
    }
}

/// How the CLI names a step in "recovered an interrupted STEP".
fn step_words(step: &str) -> &str {
    match step {
        "create" => "create",
        "create_replacement" => "create replacement",
        "update" => "update",
        "delete" => "destroy",
        "delete_deposed" => "destroy deposed object",
        other => other,
    }
}

/// Every resource file of the sim cloud, parsed.
fn cloud_files(root: &Path) -> Vec<Json> {
    let Ok(entries) = std::fs::read_dir(root.join(".sim").join("resources")) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Temp files of interrupted writes start with a dot.
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if let Ok(bytes) = std::fs::read(e.path())
            && let Ok(doc) = serde_json::from_slice(&bytes)
        {
            files.push(doc);
        }
    }
    files
}

fn state_serial(root: &Path) -> Option<u64> {
    let bytes = std::fs::read(root.join("state").join("x.json")).ok()?;
    let doc: Json = serde_json::from_slice(&bytes).ok()?;
    doc["serial"].as_u64()
}

/// Reads the journal, state and cloud after a kill, before anything runs.
fn observe(p: &Project, killed: bool) -> KillPoint {
    let root = p.root();
    let journal = std::fs::read_to_string(root.join("state").join("x.journal")).unwrap_or_default();
    let lines: Vec<&str> = journal.split('\n').collect();
    let last = lines.len().saturating_sub(1);
    let mut point = KillPoint {
        killed,
        serial: state_serial(root),
        journal: journal.clone(),
        records: 0,
        torn: false,
        begin: None,
        ops: Vec::new(),
    };
    let mut intents: Vec<(u64, usize, Json)> = Vec::new();
    let mut results: BTreeMap<u64, (String, usize)> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let record: Json = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if i == last => {
                point.torn = true;
                break;
            }
            Err(e) => panic!("corrupt journal line {}: {e}\n{journal}", i + 1),
        };
        point.records += 1;
        match record["record"].as_str() {
            Some("begin") => {
                point.begin = Some((
                    record["operation"].as_str().unwrap_or("?").to_owned(),
                    record["base_serial"].as_u64().unwrap_or(0),
                ));
            }
            Some("intent") => intents.push((record["seq"].as_u64().unwrap_or(0), i, record)),
            Some("result") => {
                let outcome = record["outcome"]["outcome"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned();
                results.insert(record["seq"].as_u64().unwrap_or(0), (outcome, i));
            }
            other => panic!("unknown journal record {other:?}\n{journal}"),
        }
    }
    let files = cloud_files(root);
    for (seq, line, intent) in intents {
        let step = intent["step"].as_str().unwrap_or("?").to_owned();
        let result = results.get(&seq).cloned();
        let reached = result.is_none() && reached_cloud(&files, &intent, &step);
        point.ops.push(JournalOp {
            address: intent["address"].as_str().unwrap_or("?").to_owned(),
            step,
            outcome: result.as_ref().map(|(o, _)| o.clone()),
            reached,
            intent_line: line,
            result_line: result.map(|(_, l)| l),
        });
    }
    point
}

/// Steps of the journal that started before a step they must wait for had
/// its result recorded. ARCHITECTURE.md: "a result is durable before
/// anything that depends on it starts". What depends on what, as Terraform
/// orders it: a create or update waits for the creates and updates of its
/// dependencies, and a create for the delete at its own address
/// (destroy-before-create); a delete (of a current or a deposed object)
/// waits for the deletes of whatever depends on it, and a deposed object's
/// delete also for its replacement and for the creates and updates of its
/// dependents (create-before-destroy).
fn order_problems(ops: &[JournalOp]) -> Vec<String> {
    let forward = |step: &str| matches!(step, "create" | "create_replacement" | "update");
    let delete = |step: &str| matches!(step, "delete" | "delete_deposed");
    let node = |address: &str| index(address.trim_start_matches("sim_resource."));
    let mut problems = Vec::new();
    for o in ops {
        let x = node(&o.address);
        for w in ops {
            if std::ptr::eq(o, w) {
                continue;
            }
            let y = node(&w.address);
            let x_needs_y = deps(x).any(|d| d == y);
            let y_needs_x = deps(y).any(|d| d == x);
            let waits = if forward(&o.step) {
                (forward(&w.step) && x_needs_y)
                    || (o.step == "create" && w.step == "delete" && x == y)
            } else if delete(&o.step) {
                (delete(&w.step) && y_needs_x)
                    || (o.step == "delete_deposed" && forward(&w.step) && (x == y || y_needs_x))
            } else {
                false
            };
            if waits && w.result_line.is_none_or(|r| r >= o.intent_line) {
                problems.push(format!(
                    "{} {} (journal line {}) started before {} {} had a result{}",
                    o.address,
                    o.step,
                    o.intent_line + 1,
                    w.address,
                    w.step,
                    match w.result_line {
                        Some(r) => format!(" (line {})", r + 1),
                        None => " (none yet)".into(),
                    }
                ));
            }
        }
    }
    problems
}

/// Whether the cloud shows the effect of an intent.
fn reached_cloud(files: &[Json], intent: &Json, step: &str) -> bool {
    let target = intent["target_id"].as_str();
    let by_id = |id: Option<&str>| {
        files
            .iter()
            .find(|f| f["id"].as_str() == id && id.is_some())
    };
    match step {
        "create" | "create_replacement" => files
            .iter()
            .any(|f| f["token"] == intent["token"] && f["live"] == Json::Bool(true)),
        "delete" | "delete_deposed" => by_id(target).is_none_or(|f| f["live"] != Json::Bool(true)),
        "update" => by_id(target).is_some_and(|f| f["inputs"] == intent["inputs"]),
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Running and killing the binary.
// ---------------------------------------------------------------------------

/// When to kill a run.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// This many ms after the process was started.
    FromSpawn(u64),
    /// This many ms after the journal appeared (the apply phase began), or
    /// at once if the process exited first.
    AfterBegin(u64),
}

/// How long an uninterrupted run of a scenario takes beyond its modelled
/// duration, in ms.
#[derive(Clone, Copy, Debug)]
struct Overhead {
    /// From the spawn to the exit: startup, lock, recovery, plan, the apply
    /// phase's own costs, the final snapshot.
    total: u64,
    /// From the journal's appearance to the exit.
    phase: u64,
}

fn journal_path(p: &Project) -> std::path::PathBuf {
    p.root().join("state").join("x.journal")
}

/// Runs `infra ARGS --stack x`, SIGKILLs it at `at` and reaps it. Returns
/// whether the signal killed it (it may have finished first).
fn kill_at(p: &Project, args: &[String], at: KillAt) -> bool {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = p
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn infra");
    let delay = match at {
        KillAt::FromSpawn(ms) => ms,
        KillAt::AfterBegin(ms) => {
            let journal = journal_path(p);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if child.try_wait().expect("poll infra").is_some() {
                    return false;
                }
                if journal.exists() || Instant::now() >= deadline {
                    break ms;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    };
    std::thread::sleep(Duration::from_millis(delay));
    if child.try_wait().expect("poll infra").is_some() {
        return false;
    }
    // Exiting between the poll and the signal leaves a zombie: still no-op.
    child.kill().expect("kill infra");
    let status = child.wait().expect("wait for infra");
    status.signal() == Some(9)
}

/// The "recovered an interrupted ..." lines of a run, as `address step-words`.
fn recoveries(run: &Run) -> Vec<String> {
    let mut out: Vec<String> = run
        .stdout
        .lines()
        .chain(run.stderr.lines())
        .filter_map(|l| {
            let (address, rest) = l.split_once(": recovered an interrupted ")?;
            let (step, _) = rest.split_once(": ")?;
            Some(format!("{address} {step}"))
        })
        .collect();
    out.sort();
    out
}

fn output(run: &Run) -> String {
    format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr)
}

// ---------------------------------------------------------------------------
// Scenarios and invariants.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// `apply` of the whole stack from nothing.
    Apply,
    /// `destroy` of the applied stack.
    Destroy,
    /// `apply` after bumping `replace_key` of some resources.
    Replace { create_before_destroy: bool },
}

impl Scenario {
    fn command(self) -> &'static str {
        match self {
            Scenario::Destroy => "destroy",
            _ => "apply",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Apply => "apply",
            Scenario::Destroy => "destroy",
            Scenario::Replace {
                create_before_destroy: true,
            } => "replace (create_before_destroy)",
            Scenario::Replace {
                create_before_destroy: false,
            } => "replace (destroy before create)",
        }
    }
}

/// A trial's project, ready for the operation that will be killed.
struct Prepared {
    project: Project,
    /// The stack as it must end up.
    spec: Spec,
    /// `infra ARGS` of the operation, with the trial's `--parallelism`.
    args: Vec<String>,
    /// The operation's modelled duration without overhead, in ms.
    model_ms: u64,
    /// The state's lineage after the setup apply, which no crash may change.
    lineage: Option<String>,
}

impl Prepared {
    /// Runs the operation to completion.
    fn run(&self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.project.infra(&args)
    }
}

/// Builds a trial's project: random latencies and `--parallelism`; for
/// destroy and replace, the stack applied first (without a kill) and, for
/// replace, some `replace_key`s bumped.
fn prepare(scenario: Scenario, rng: &mut Rng) -> Result<Prepared, String> {
    let cbd = matches!(
        scenario,
        Scenario::Replace {
            create_before_destroy: true
        }
    );
    let mut spec = Spec::random(rng, cbd);
    // How many operations run at once decides which are in flight together.
    let parallelism = [2, 3, 4, 10][rng.below(4) as usize];
    let args = vec![
        scenario.command().to_owned(),
        "--auto-approve".to_owned(),
        "--parallelism".to_owned(),
        parallelism.to_string(),
    ];
    let project = Project::new(&spec.toml());
    let ops = match scenario {
        Scenario::Apply => model_apply(&spec),
        Scenario::Destroy | Scenario::Replace { .. } => {
            let setup = project.infra(&["apply", "--auto-approve"]);
            if setup.code != 0 {
                return Err(format!("the setup apply failed\n{}", output(&setup)));
            }
            if scenario == Scenario::Destroy {
                model_destroy(&spec)
            } else {
                let replaced = spec.replace_some(rng);
                project.set_stack(&spec.toml());
                model_replace(&spec, &replaced)
            }
        }
    };
    let lineage = project
        .root()
        .join("state")
        .join("x.json")
        .exists()
        .then(|| {
            project.state()["lineage"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
    Ok(Prepared {
        project,
        spec,
        args,
        model_ms: makespan(&ops, parallelism),
        lineage,
    })
}

/// How an invariant was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Violation {
    /// The rerun did not exit 0.
    Failed,
    /// Something live in the cloud that state does not hold.
    Orphan,
    /// An address created more often than deleted plus one.
    Duplicate,
    /// State holds what the cloud does not have, or differs from the stack.
    Divergent,
    /// The rerun reported other recoveries than the journal's open intents.
    Recovery,
    /// More creates or deletes than the change needs.
    Churn,
    /// The sim's `ledger.json` disagrees with its resource files after a
    /// normal exit.
    Ledger,
    /// A step started before a step it depends on had its result.
    Order,
}

/// Checks the cloud, the ledger and state after the final run.
fn check(prepared: &Prepared, scenario: Scenario, run: &Run) -> Vec<(Violation, String)> {
    let (p, spec) = (&prepared.project, &prepared.spec);
    let mut found = Vec::new();
    if run.code != 0 {
        found.push((
            Violation::Failed,
            format!("exit {}\n{}", run.code, output(run)),
        ));
    }
    if p.root().join("state").join("x.journal").exists() {
        found.push((
            Violation::Divergent,
            "a journal is left after a run that ended".into(),
        ));
    }
    // The plan reads every resource, so the sim is opened in a process that
    // exits normally: afterwards its ledger.json must be exact.
    let plan = (scenario != Scenario::Destroy).then(|| p.infra(&["plan", "--detailed-exitcode"]));
    let view = std::fs::read(p.root().join(".sim").join("ledger.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<BTreeMap<String, LedgerEntry>>(&bytes).ok());
    let ledger = p.ledger();
    if plan.is_some() && view.as_ref() != Some(&ledger) {
        found.push((
            Violation::Ledger,
            format!(
                "ledger.json after a normal exit is {view:?}, the resource files say {ledger:?}"
            ),
        ));
    }
    for (address, e) in &ledger {
        if e.creates > e.deletes + 1 {
            found.push((
                Violation::Duplicate,
                format!("{address}: {} creates, {} deletes", e.creates, e.deletes),
            ));
        }
    }
    // A crash must not make infra do more than the change needs: one create
    // per replace_key version, one delete per version given up.
    for (i, &version) in spec.keys.iter().enumerate() {
        let version = u64::from(version);
        let want = match scenario {
            Scenario::Destroy => (version, version),
            _ => (version, version - 1),
        };
        let got = ledger
            .get(&address(i))
            .map_or((0, 0), |e| (e.creates, e.deletes));
        if got != want {
            found.push((
                Violation::Churn,
                format!(
                    "{}: {} creates and {} deletes, the change needs {} and {}",
                    address(i),
                    got.0,
                    got.1,
                    want.0,
                    want.1
                ),
            ));
        }
    }
    let live = infra_sim::live_resources(&p.root().join(".sim")).expect("live resources");
    // A run that failed early may have left no state at all.
    let state: Json = std::fs::read(p.root().join("state").join("x.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Json::Null);
    if let Some(lineage) = &prepared.lineage
        && state["lineage"].as_str() != Some(lineage.as_str())
    {
        found.push((
            Violation::Divergent,
            format!(
                "the state's lineage changed from {lineage} to {}",
                state["lineage"]
            ),
        ));
    }
    let in_state: BTreeSet<(String, String)> = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["address"].as_str().unwrap_or("?").to_owned(),
                r["id"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let in_cloud: BTreeSet<(String, String)> = live
        .iter()
        .map(|r| (r.address.clone(), r.id.clone()))
        .collect();
    for (address, id) in in_cloud.difference(&in_state) {
        found.push((
            Violation::Orphan,
            format!("{address} ({id}) is live but not in state"),
        ));
    }
    for (address, id) in in_state.difference(&in_cloud) {
        found.push((
            Violation::Divergent,
            format!("{address} ({id}) is in state but not live"),
        ));
    }
    if let Some(deposed) = state["deposed"].as_array().filter(|d| !d.is_empty()) {
        found.push((
            Violation::Divergent,
            format!("deposed objects left in state: {deposed:?}"),
        ));
    }
    let addresses: BTreeSet<String> = in_state.iter().map(|(a, _)| a.clone()).collect();
    match scenario {
        Scenario::Destroy => {
            if !addresses.is_empty() {
                found.push((
                    Violation::Divergent,
                    format!("state not empty after destroy: {addresses:?}"),
                ));
            }
        }
        Scenario::Apply | Scenario::Replace { .. } => {
            let want: BTreeSet<String> = (0..NODES.len()).map(address).collect();
            if addresses != want {
                found.push((
                    Violation::Divergent,
                    format!("state holds {addresses:?}, the stack {want:?}"),
                ));
            }
            for r in &live {
                let i = index(r.address.trim_start_matches("sim_resource."));
                let key = r.inputs.get("replace_key").and_then(|v| v.as_str());
                let want = format!("v{}", spec.keys[i]);
                if key != Some(want.as_str()) {
                    found.push((
                        Violation::Divergent,
                        format!(
                            "{} ({}) has replace_key {key:?}, not {want}",
                            r.address, r.id
                        ),
                    ));
                }
            }
            if let Some(plan) = plan.filter(|plan| plan.code != 0) {
                found.push((
                    Violation::Divergent,
                    format!(
                        "plan after the rerun exits {} (state differs from the cloud or the stack)\n{}",
                        plan.code,
                        output(&plan)
                    ),
                ));
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Trials and figures.
// ---------------------------------------------------------------------------

/// What one trial saw.
struct Outcome {
    /// The trial's number.
    trial: usize,
    /// The kill points, in order.
    points: Vec<KillPoint>,
    /// "recovered an interrupted ..." lines of the final run (and the plan
    /// before it).
    recoveries: usize,
    /// Whether `plan` ran (and recovered) before the final run.
    planned_first: bool,
    violations: Vec<(Violation, String)>,
}

/// The figures of one test.
#[derive(Default)]
struct Figures {
    trials: usize,
    kills: usize,
    /// Kills that hit a running process (the others came after it exited).
    killed: usize,
    /// Distinct kill points (see [`KillPoint::key`]); for several kills
    /// per trial, distinct sequences of them.
    points: HashSet<String>,
    /// Distinct (records in journal, open intents) pairs.
    pairs: HashSet<(usize, usize)>,
    /// Kills that left an intent without result.
    open_intent: usize,
    /// Of those, kills after the cloud had acted and before the result.
    reached: usize,
    /// Kills that left no journal (before the first record, or after it was removed).
    no_journal: usize,
    /// Journals left already folded into the snapshot.
    folded: usize,
    /// "recovered an interrupted ..." lines of the final runs.
    recoveries: usize,
    /// Trials whose recovery ran in a `plan` before the final run.
    planned_first: usize,
    /// Second kills before the rerun had persisted its recovery of an
    /// unfolded journal (the journal was exactly as the first kill left it).
    during_recovery: usize,
    /// Each broken invariant with its trial's number and the evidence.
    violations: Vec<(Violation, usize, String)>,
}

impl Figures {
    fn add(&mut self, outcome: Outcome) {
        self.trials += 1;
        for point in &outcome.points {
            self.kills += 1;
            self.killed += usize::from(point.killed);
            self.pairs.insert(point.pair());
            if point.open().next().is_some() && !point.folded() {
                self.open_intent += 1;
                if point.open().any(|o| o.reached) {
                    self.reached += 1;
                }
            }
            self.no_journal += usize::from(point.begin.is_none());
            self.folded += usize::from(point.folded());
        }
        if let [first, .., last] = outcome.points.as_slice()
            && first.begin.is_some()
            && !first.folded()
            && last.journal == first.journal
        {
            self.during_recovery += 1;
        }
        let keys: Vec<String> = outcome.points.iter().map(KillPoint::key).collect();
        self.points.insert(keys.join(" || "));
        self.recoveries += outcome.recoveries;
        self.planned_first += usize::from(outcome.planned_first);
        let trial = outcome.trial;
        self.violations.extend(
            outcome
                .violations
                .into_iter()
                .map(|(kind, message)| (kind, trial, message)),
        );
    }

    fn count(&self, kind: Violation) -> usize {
        self.violations.iter().filter(|(v, ..)| *v == kind).count()
    }

    /// How many trials broke each kind of invariant.
    fn by_kind(&self) -> BTreeMap<Violation, BTreeSet<usize>> {
        let mut kinds: BTreeMap<Violation, BTreeSet<usize>> = BTreeMap::new();
        for (kind, trial, _) in &self.violations {
            kinds.entry(*kind).or_default().insert(*trial);
        }
        kinds
    }

    fn report(&self, test: &str, seed: u64, elapsed: Duration) {
        let kinds: Vec<String> = self
            .by_kind()
            .iter()
            .map(|(kind, trials)| format!("{kind:?} in {} trials", trials.len()))
            .collect();
        println!(
            "crash {test}: seed {seed:#x}, {} trials, {} kills in {:.1}s\n  \
             {} distinct kill points, {} distinct (records, open intents) pairs\n  \
             {} kills hit a running process, {} with an open intent ({} after the cloud acted, before the result), \
             {} without a journal, {} with a folded journal\n  \
             {} second kills before the recovery was persisted, {} recoveries reported by infra \
             ({} trials recovered in a plan first)\n  \
             {} orphans, {} duplicates; violations: {}",
            self.trials,
            self.kills,
            elapsed.as_secs_f64(),
            self.points.len(),
            self.pairs.len(),
            self.killed,
            self.open_intent,
            self.reached,
            self.no_journal,
            self.folded,
            self.during_recovery,
            self.recoveries,
            self.planned_first,
            self.count(Violation::Orphan),
            self.count(Violation::Duplicate),
            if kinds.is_empty() {
                "none".to_owned()
            } else {
                kinds.join(", ")
            },
        );
    }

    /// Fails with the first trial's evidence for each kind of violation.
    fn assert_clean(&self, test: &str, seed: u64) {
        if self.violations.is_empty() {
            return;
        }
        let mut shown: Vec<&(Violation, usize, String)> = Vec::new();
        for (kind, trials) in self.by_kind() {
            let first = trials.first().copied();
            shown.extend(
                self.violations
                    .iter()
                    .filter(|(k, t, _)| *k == kind && Some(*t) == first)
                    .take(1),
            );
        }
        let shown: Vec<String> = shown
            .iter()
            .map(|(kind, _, message)| format!("{kind:?}: {message}"))
            .collect();
        panic!(
            "crash {test} (seed {seed:#x}): {} violations; the first of each kind:\n\n{}",
            self.violations.len(),
            shown.join("\n\n=====\n\n")
        );
    }
}

/// Measures what a run of `scenario` costs beyond its modelled duration,
/// from its start and from the journal's appearance, over uninterrupted runs
/// ([`WORKERS`] at a time, like the trials), which must themselves converge.
/// The lower quartile: on a loaded machine a few slow runs would otherwise
/// stretch the windows past most runs' end, where every kill finds the same
/// finished state.
fn calibrate(scenario: Scenario, seed: u64, tag: &str) -> Overhead {
    let samples = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for w in 0..WORKERS {
            let samples = &samples;
            scope.spawn(move || {
                for round in 0..2 {
                    let i = w * 2 + round;
                    let mut rng = Rng::for_trial(seed, &format!("{tag}/calibrate"), i);
                    let sample = calibration_run(scenario, &mut rng);
                    samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(sample);
                }
            });
        }
    });
    let samples = samples.into_inner().unwrap_or_else(PoisonError::into_inner);
    let quartile = |pick: fn(&Overhead) -> u64| {
        let mut v: Vec<u64> = samples.iter().map(pick).collect();
        v.sort_unstable();
        v[v.len() / 4]
    };
    Overhead {
        total: quartile(|o| o.total),
        phase: quartile(|o| o.phase),
    }
}

/// One uninterrupted run, timed from the spawn and from the journal's
/// appearance to the exit.
fn calibration_run(scenario: Scenario, rng: &mut Rng) -> Overhead {
    let prepared = prepare(scenario, rng).unwrap_or_else(|e| panic!("{e}"));
    let p = &prepared.project;
    let args: Vec<&str> = prepared.args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut child = p
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn infra");
    let journal = journal_path(p);
    let mut began = None;
    while child.try_wait().expect("poll infra").is_none() {
        if began.is_none() && journal.exists() {
            began = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let took = started.elapsed();
    let run: Run = child.wait_with_output().expect("infra output").into();
    let problems = check(&prepared, scenario, &run);
    assert!(
        problems.is_empty(),
        "an uninterrupted {} does not converge: {problems:?}",
        scenario.name()
    );
    let ms = |d: Duration| d.as_millis() as u64;
    Overhead {
        total: ms(took).saturating_sub(prepared.model_ms),
        phase: ms(took - began.unwrap_or(took)).saturating_sub(prepared.model_ms),
    }
}

/// One trial: prepare, kill (`kills` times) at seeded moments within the
/// expected duration, run to completion, check.
fn trial(
    scenario: Scenario,
    seed: u64,
    tag: &str,
    n: usize,
    overhead: Overhead,
    kills: usize,
) -> Outcome {
    let mut rng = Rng::for_trial(seed, tag, n);
    let context = |what: &str| {
        format!(
            "{tag} trial {n} (INFRA_CRASH_SEED={seed:#x}, {}): {what}",
            scenario.name()
        )
    };
    let prepared = match prepare(scenario, &mut rng) {
        Ok(p) => p,
        Err(e) => {
            return Outcome {
                trial: n,
                points: Vec::new(),
                recoveries: 0,
                planned_first: false,
                violations: vec![(Violation::Failed, context(&e))],
            };
        }
    };
    let p = &prepared.project;
    // Windows a little past the expected end, so that kills after the
    // snapshot (and after the exit) are sampled too.
    let total = (overhead.total + prepared.model_ms) * 21 / 20 + 1;
    let phase = (overhead.phase + prepared.model_ms) * 21 / 20 + 1;
    let mut points = Vec::new();
    let mut moments = Vec::new();
    for k in 0..kills {
        let at = if k == 0 && rng.below(8) != 0 {
            // Most first kills hit the apply phase, where the journal grows.
            KillAt::AfterBegin(rng.below(phase))
        } else if k > 0 && rng.below(2) == 0 {
            // A later kill hits startup and recovery half the time.
            KillAt::FromSpawn(rng.below(overhead.total.saturating_sub(overhead.phase) + 1))
        } else {
            KillAt::FromSpawn(rng.below(total))
        };
        moments.push(at);
        let killed = kill_at(p, &prepared.args, at);
        points.push(observe(p, killed));
    }
    let last = points.last().expect("at least one kill");
    let mut violations = Vec::new();
    // Recovery happens when the stack is next opened, by `plan` as well:
    // a quarter of the trials plan first, and the apply must not recover again.
    let mut reported = Vec::new();
    let mut planned = None;
    if rng.below(4) == 0 {
        let plan = p.infra(&["plan", "--detailed-exitcode"]);
        reported = recoveries(&plan);
        planned = Some(plan);
    }
    let run = prepared.run();
    reported.extend(recoveries(&run));
    reported.sort();
    let describe = || {
        let kills: Vec<String> = points
            .iter()
            .zip(&moments)
            .map(|(pt, at)| {
                format!(
                    "kill at {at:?} (windows: {total}ms from spawn, {phase}ms from begin): {}",
                    pt.describe()
                )
            })
            .collect();
        let plan = planned.as_ref().map_or(String::new(), |plan| {
            format!("infra plan (before the rerun):\n{}", output(plan))
        });
        format!(
            "infra {}\n{}\n{plan}infra {} (the rerun):\n{}",
            prepared.args.join(" "),
            kills.join("\n"),
            prepared.args.join(" "),
            output(&run)
        )
    };
    if let Some(plan) = &planned
        && plan.code != 0
        && plan.code != 2
    {
        violations.push((
            Violation::Failed,
            context(&format!(
                "plan after the kill exits {}\n{}",
                plan.code,
                describe()
            )),
        ));
    }
    let order: Vec<String> = points
        .iter()
        .enumerate()
        // A journal a later kill found unchanged shows nothing new.
        .filter(|(k, point)| *k == 0 || points[k - 1].journal != point.journal)
        .flat_map(|(k, point)| {
            order_problems(&point.ops)
                .into_iter()
                .map(move |problem| format!("kill {}: {problem}", k + 1))
        })
        .collect();
    if !order.is_empty() {
        violations.push((
            Violation::Order,
            context(&format!("{}\n{}", order.join("\n"), describe())),
        ));
    }
    let expected = last.expected_recoveries();
    if reported != expected {
        violations.push((
            Violation::Recovery,
            context(&format!(
                "recovered {reported:?}, the journal's open intents were {expected:?}\n{}",
                describe()
            )),
        ));
    }
    for (kind, message) in check(&prepared, scenario, &run) {
        violations.push((kind, context(&format!("{message}\n{}", describe()))));
    }
    Outcome {
        trial: n,
        recoveries: reported.len(),
        planned_first: planned.is_some(),
        points,
        violations,
    }
}

/// Trials run at once within one test: they mostly wait on simulated
/// latencies, so a few side by side keep the file fast on two cores.
const WORKERS: usize = 4;

/// How many trials a campaign runs.
#[derive(Clone, Copy)]
struct Count {
    /// Always this many (`INFRA_CRASH_TRIALS` overrides it).
    at_least: usize,
    /// More, up to this many, while fewer than `distinct` kill points were
    /// seen: timing on a loaded machine decides how many runs end alike.
    at_most: usize,
    distinct: usize,
}

impl Count {
    /// `trials` trials, up to twice as many to reach `distinct` kill points.
    fn reaching(trials: usize, distinct: usize) -> Count {
        let at_least = self::trials(trials);
        Count {
            at_least,
            at_most: at_least * 2,
            distinct,
        }
    }
}

/// Runs trials as `count` says, trial `n` of `scenarios[n % len]` with
/// `kills` kills, prints the figures and asserts the invariants. Returns them.
fn campaign(tag: &str, scenarios: &[Scenario], count: Count, kills: usize) -> Figures {
    let seed = seed();
    let started = Instant::now();
    let overheads: Vec<Overhead> = scenarios
        .iter()
        .map(|&s| calibrate(s, seed, &format!("{tag}/{}", s.name())))
        .collect();
    let next = AtomicUsize::new(0);
    let figures = Mutex::new(Figures::default());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let seen = figures
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .points
                        .len();
                    if n >= count.at_most || (n >= count.at_least && seen >= count.distinct) {
                        break;
                    }
                    let k = n % scenarios.len();
                    let outcome = trial(scenarios[k], seed, tag, n, overheads[k], kills);
                    figures
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add(outcome);
                }
            });
        }
    });
    let figures = figures.into_inner().unwrap_or_else(PoisonError::into_inner);
    println!("crash {tag}: calibrated overhead beyond the model (ms): {overheads:?}");
    figures.report(tag, seed, started.elapsed());
    if std::env::var_os("INFRA_CRASH_VERBOSE").is_some() {
        let mut points: Vec<&String> = figures.points.iter().collect();
        points.sort();
        for point in points {
            println!("  kill point: {point}");
        }
    }
    figures.assert_clean(tag, seed);
    figures
}

/// A campaign of single kills that must reach [`MIN_DISTINCT`] kill points.
fn single_kills(tag: &str, scenario: Scenario, trials: usize) {
    let count = Count::reaching(trials, MIN_DISTINCT);
    let figures = campaign(tag, &[scenario], count, 1);
    assert!(
        figures.points.len() >= MIN_DISTINCT,
        "crash {tag} (seed {:#x}): only {} distinct kill points in {} trials, want {MIN_DISTINCT}",
        seed(),
        figures.points.len(),
        figures.trials
    );
}

#[test]
fn killed_apply_converges_without_orphans_or_duplicates() {
    single_kills("apply", Scenario::Apply, 120);
}

#[test]
fn killed_destroy_leaves_nothing_live_and_state_empty() {
    single_kills("destroy", Scenario::Destroy, 140);
}

#[test]
fn killed_replace_create_before_destroy_leaves_one_object_per_address() {
    single_kills(
        "replace-cbd",
        Scenario::Replace {
            create_before_destroy: true,
        },
        80,
    );
}

#[test]
fn killed_replace_destroy_before_create_leaves_one_object_per_address() {
    single_kills(
        "replace-dbc",
        Scenario::Replace {
            create_before_destroy: false,
        },
        80,
    );
}

#[test]
fn a_second_kill_during_recovery_then_a_third_run_converges() {
    let figures = campaign(
        "twice",
        &[
            Scenario::Apply,
            Scenario::Destroy,
            Scenario::Replace {
                create_before_destroy: true,
            },
            Scenario::Replace {
                create_before_destroy: false,
            },
        ],
        Count::reaching(48, 0),
        2,
    );
    assert!(
        figures.during_recovery > 0,
        "no second kill landed before the recovery was persisted (seed {:#x})",
        seed()
    );
}

/// The checks are worth something only if they fail when recovery is lost:
/// an engine that forgot its journal after a kill (here: the journal is
/// deleted before the rerun) must show up as orphans and duplicates.
#[test]
fn the_checks_catch_a_rerun_that_forgets_the_journal() {
    let mut rng = Rng::for_trial(seed(), "forgetful", 0);
    let mut spec = Spec::random(&mut rng, false);
    // The network's create is in flight for a second.
    spec.latency[index("net")].create = 1_000;
    let prepared = Prepared {
        project: Project::new(&spec.toml()),
        spec,
        args: vec!["apply".to_owned(), "--auto-approve".to_owned()],
        model_ms: 0,
        lineage: None,
    };
    let p = &prepared.project;
    let point = observe(p, kill_at(p, &prepared.args, KillAt::AfterBegin(300)));
    assert!(
        point
            .open()
            .any(|o| o.address == "sim_resource.net" && o.reached),
        "the kill did not catch the network's create in flight\n{}",
        point.describe()
    );
    std::fs::remove_file(journal_path(p)).expect("remove the journal");
    let run = prepared.run();
    run.expect_code(0);
    let kinds: BTreeSet<Violation> = check(&prepared, Scenario::Apply, &run)
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    for kind in [Violation::Orphan, Violation::Duplicate, Violation::Churn] {
        assert!(kinds.contains(&kind), "{kind:?} not found: {kinds:?}");
    }
}

// ---------------------------------------------------------------------------
// The ordering bug the kill points exposed, reproduced without a kill.
// ---------------------------------------------------------------------------

/// A network and a subnet holding its id, both replaced create-before-destroy:
/// the old subnet holds the old network's id, so the old network may go only
/// once the old subnet is gone (a real VPC refuses to be deleted while a
/// subnet is in it). The old subnet takes 300 ms to delete, the network 10.
const NETWORK: &str = r#"
[resources.sim_resource.net]
delete_ms = 10
replace_key = "v1"
lifecycle = { create_before_destroy = true }

[resources.sim_resource.subnet]
delete_ms = 300
payload = "${sim_resource.net.id}"
replace_key = "v1"
lifecycle = { create_before_destroy = true }
"#;

/// Where `line` starts in `out`.
#[track_caller]
fn position(out: &str, line: &str) -> usize {
    out.find(line)
        .unwrap_or_else(|| panic!("no {line:?} in:\n{out}"))
}

// Found by this harness: a deposed object's delete must also come before
// the deletes of what the deposed object itself depends on, or the old
// network goes while the old subnet still uses it.
#[test]
fn a_deposed_object_is_deleted_before_the_deposed_object_it_depends_on() {
    let p = Project::new(NETWORK);
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    p.set_stack(&NETWORK.replace("\"v1\"", "\"v2\""));
    let run = p.infra(&["apply", "--auto-approve"]);
    run.expect_code(0);
    let subnet_gone = position(&run.stdout, "sim_resource.subnet: destroyed deposed object");
    let net_going = position(
        &run.stdout,
        "sim_resource.net: destroying deposed object...",
    );
    assert!(
        subnet_gone < net_going,
        "the old network was deleted while the old subnet still existed:\n{}",
        run.stdout
    );
}

// The same rule in a destroy: the leftover deposed subnet goes before the
// network it uses.
#[test]
fn destroy_deletes_a_leftover_deposed_object_before_what_it_depends_on() {
    // The old subnet refuses its delete, so its replacement leaves it deposed.
    let stack = |key: &str, protection: &str, delete_ms: u32| {
        format!(
            "[resources.sim_resource.net]\ndelete_ms = 10\n\n\
             [resources.sim_resource.subnet]\ndelete_ms = {delete_ms}\n\
             payload = \"${{sim_resource.net.id}}\"\nreplace_key = \"{key}\"\n{protection}\
             lifecycle = {{ create_before_destroy = true }}\n"
        )
    };
    let p = Project::new(&stack("v1", "fail_on = \"delete\"\n", 300));
    p.infra(&["apply", "--auto-approve"]).expect_code(0);
    p.set_stack(&stack("v2", "", 5));
    p.infra(&["apply", "--auto-approve"]).expect_code(1);
    let deposed = p.state()["deposed"].clone();
    assert_eq!(deposed.as_array().map(Vec::len), Some(1), "{deposed}");
    // Lift the protection in the cloud (the sim reads a resource's stored inputs).
    let id = deposed[0]["id"].as_str().expect("deposed id");
    let file = p
        .root()
        .join(".sim")
        .join("resources")
        .join(format!("{id}.json"));
    let mut doc: Json = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    doc["inputs"]
        .as_object_mut()
        .expect("inputs")
        .remove("fail_on");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");

    let run = p.infra(&["destroy", "--auto-approve"]);
    run.expect_code(0);
    assert!(p.live().is_empty());
    let subnet_gone = position(&run.stdout, "sim_resource.subnet: destroyed deposed object");
    let net_going = position(&run.stdout, "sim_resource.net: destroying...");
    assert!(
        subnet_gone < net_going,
        "the network was deleted while the deposed subnet still existed:\n{}",
        run.stdout
    );
}
