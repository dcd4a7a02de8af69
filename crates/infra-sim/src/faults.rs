//! Seeded fault injection (`[sim] faults`): which calls are throttled, fail,
//! time out after taking effect or run slow, each decided from a hash so a
//! seed reproduces a run whatever the task scheduling; and `faults.log`, the
//! record of what was injected, read back by [`faults`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use infra_core::{Address, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::disk::context;

/// The record of injected faults in a sim dir: one JSON line per fault.
pub(crate) const FAULTS_LOG: &str = "faults.log";

/// The format version of `faults.log` records.
const RECORD_VERSION: u32 = 1;

/// The key of the faults table in `[sim]`.
pub(crate) const KEY: &str = "faults";

const SEED: &str = "seed";
const THROTTLE: &str = "throttle";
const THROTTLE_BURST: &str = "throttle_burst";
const TRANSIENT: &str = "transient";
const TIMEOUT: &str = "timeout";
const SLOW: &str = "slow";
const SLOW_FACTOR: &str = "slow_factor";
const ADDRESSES: &str = "addresses";
const OPERATIONS: &str = "operations";

const KEYS: [&str; 9] = [
    SEED,
    THROTTLE,
    THROTTLE_BURST,
    TRANSIENT,
    TIMEOUT,
    SLOW,
    SLOW_FACTOR,
    ADDRESSES,
    OPERATIONS,
];

/// How much longer a slow call takes when `slow_factor` is not set.
const DEFAULT_SLOW_FACTOR: f64 = 10.0;

/// A call the simulated cloud serves, as fault injection counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// [`Provider::create`](infra_core::Provider::create).
    Create,
    /// [`Provider::read`](infra_core::Provider::read).
    Read,
    /// [`Provider::find`](infra_core::Provider::find).
    Find,
    /// [`Provider::update`](infra_core::Provider::update).
    Update,
    /// [`Provider::delete`](infra_core::Provider::delete).
    Delete,
}

impl Operation {
    /// Every operation, in the order the docs list them.
    pub const ALL: [Operation; 5] = [
        Operation::Create,
        Operation::Read,
        Operation::Find,
        Operation::Update,
        Operation::Delete,
    ];

    fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Find => "find",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = String;

    /// Parses `create`, `read`, `find`, `update` or `delete`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| {
                format!("unknown operation `{s}`: expected create, read, find, update or delete")
            })
    }
}

/// A kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Refused with [`ErrorKind::Throttled`](infra_core::ErrorKind::Throttled)
    /// before any effect.
    Throttle,
    /// Failed with [`ErrorKind::Transient`](infra_core::ErrorKind::Transient)
    /// (a 5xx) before any effect.
    Transient,
    /// Took effect, then failed with
    /// [`ErrorKind::Transient`](infra_core::ErrorKind::Transient) ("request
    /// timed out"), as when the response is lost.
    Timeout,
    /// Its latency multiplied by `slow_factor`.
    Slow,
}

impl Fault {
    /// The name of the fault's probability in `[sim] faults`, also its
    /// spelling in `faults.log`.
    fn key(self) -> &'static str {
        match self {
            Fault::Throttle => THROTTLE,
            Fault::Transient => TRANSIENT,
            Fault::Timeout => TIMEOUT,
            Fault::Slow => SLOW,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One line of `faults.log`: a fault injected into one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InjectedFault {
    /// The format version of the record.
    pub version: u32,
    /// The `seed` the decision was made with.
    pub seed: i64,
    /// The address the call was for.
    pub address: String,
    /// The operation called.
    pub operation: Operation,
    /// Which call of this operation at this address it was in the process
    /// that made it, counting from 1.
    pub call: u64,
    /// What was injected.
    pub fault: Fault,
}

/// Reads `<dir>/faults.log`: every fault injected into calls on the sim dir
/// `dir`, by any process, in the order they were recorded. A dir or log that
/// does not exist holds none; a corrupt line is an error naming the file.
pub fn faults(dir: &Path) -> io::Result<Vec<InjectedFault>> {
    let path = dir.join(FAULTS_LOG);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context(e, "cannot read", &path)),
    };
    // A record still being appended has no newline yet: leave it out.
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("corrupt line {} of {}: {e}", i + 1, path.display()),
                )
            })
        })
        .collect()
}

/// The `[sim] faults` table, validated.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FaultSettings {
    seed: i64,
    throttle: f64,
    throttle_burst: u32,
    transient: f64,
    timeout: f64,
    slow: f64,
    slow_factor: f64,
    /// The addresses faults apply to; all when `None`.
    addresses: Option<BTreeSet<String>>,
    /// The operations faults apply to.
    operations: BTreeSet<Operation>,
}

impl FaultSettings {
    /// Parses the value of `[sim] faults`; the error names the key at fault.
    pub fn parse(value: &Value) -> Result<FaultSettings, String> {
        let Value::Map(table) = value else {
            return Err(format!(
                "[sim] {KEY} must be a table such as {{ seed = 7, throttle = 0.3 }}, found {}",
                value.kind()
            ));
        };
        let mut parsed = FaultSettings {
            seed: 0,
            throttle: 0.0,
            throttle_burst: 0,
            transient: 0.0,
            timeout: 0.0,
            slow: 0.0,
            slow_factor: DEFAULT_SLOW_FACTOR,
            addresses: None,
            operations: Operation::ALL.into_iter().collect(),
        };
        for (key, value) in table {
            let bad =
                |expected: &str| format!("[sim] {KEY}.{key} must be {expected}, found {value}");
            match key.as_str() {
                SEED => match value {
                    Value::Int(seed) => parsed.seed = *seed,
                    _ => return Err(bad("an integer")),
                },
                THROTTLE | TRANSIENT | TIMEOUT | SLOW => {
                    let p = number(value)
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| bad("a probability from 0 to 1"))?;
                    match key.as_str() {
                        THROTTLE => parsed.throttle = p,
                        TRANSIENT => parsed.transient = p,
                        TIMEOUT => parsed.timeout = p,
                        _ => parsed.slow = p,
                    }
                }
                THROTTLE_BURST => {
                    parsed.throttle_burst = match value {
                        Value::Int(n) => u32::try_from(*n).ok(),
                        _ => None,
                    }
                    .ok_or_else(|| bad("a number of calls (0 or more)"))?;
                }
                SLOW_FACTOR => {
                    parsed.slow_factor = number(value)
                        .filter(|f| (1.0..=1e6).contains(f))
                        .ok_or_else(|| bad("a number from 1 to 1000000"))?;
                }
                ADDRESSES => {
                    let list = strings(value).ok_or_else(|| {
                        bad("a list of resource addresses such as [\"sim_resource.db\"]")
                    })?;
                    for address in &list {
                        if let Err(e) = address.parse::<Address>() {
                            return Err(format!("[sim] {KEY}.{key}: {e}"));
                        }
                    }
                    parsed.addresses = Some(list.into_iter().collect());
                }
                OPERATIONS => {
                    let expected =
                        "a list of \"create\", \"read\", \"find\", \"update\", \"delete\"";
                    let list = strings(value).ok_or_else(|| bad(expected))?;
                    let mut operations = BTreeSet::new();
                    for name in &list {
                        let op = name.parse::<Operation>().map_err(|_| {
                            format!("[sim] {KEY}.{key} must be {expected}, found \"{name}\"")
                        })?;
                        operations.insert(op);
                    }
                    parsed.operations = operations;
                }
                _ => {
                    let expected: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
                    return Err(format!(
                        "unknown key `{key}` in [sim] {KEY}: expected one of {}",
                        expected.join(", ")
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// Whether faults apply to this call at all.
    fn selects(&self, address: &str, op: Operation) -> bool {
        self.operations.contains(&op) && self.addresses.as_ref().is_none_or(|a| a.contains(address))
    }

    /// The probability that a call outside a burst starts one, chosen so
    /// that over many calls the share of throttled calls is `throttle`:
    /// with bursts of `b + 1` calls started with probability `q`, that share
    /// is `q (b + 1) / (1 + q b)`.
    fn burst_start(&self) -> f64 {
        let b = f64::from(self.throttle_burst);
        let denominator = b + 1.0 - self.throttle * b;
        if denominator <= 0.0 {
            1.0
        } else {
            (self.throttle / denominator).min(1.0)
        }
    }

    /// A uniform number in `[0, 1)` for one fault of one call, from the
    /// seed, the address, the operation and the call's number alone.
    fn draw(&self, address: &str, op: Operation, call: u64, fault: Fault) -> f64 {
        let mut h = Sha256::new();
        h.update(format!("{}\0{address}\0{op}\0{call}\0{fault}", self.seed));
        let digest = h.finalize();
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&digest[..8]);
        // 53 bits: exactly representable, uniform over [0, 1).
        (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A number, integer or float.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Int(n) => Some(*n as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// A list of strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    let Value::List(items) = value else {
        return None;
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// What fault injection decided for one call; [`Injected::NONE`] when none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Injected {
    /// What identifies the decision in messages: the operation, the call's
    /// number and the seed.
    origin: Option<(Operation, u64, i64)>,
    throttle: bool,
    transient: bool,
    timeout: bool,
    /// The latency multiplier of a slow call.
    slow: Option<f64>,
}

impl Injected {
    /// No fault.
    pub const NONE: Injected = Injected {
        origin: None,
        throttle: false,
        transient: false,
        timeout: false,
        slow: None,
    };

    /// The error the call fails with before it has any effect, if any.
    pub fn before(&self) -> Option<(infra_core::ErrorKind, String)> {
        let (op, call, seed) = self.origin?;
        let how = format!("{op} call {call} (injected by [sim] faults, seed {seed})");
        if self.throttle {
            Some((
                infra_core::ErrorKind::Throttled,
                format!("throttled: rate exceeded on {how}; retry with backoff"),
            ))
        } else if self.transient {
            Some((
                infra_core::ErrorKind::Transient,
                format!("503 service unavailable on {how}; nothing changed, retry"),
            ))
        } else {
            None
        }
    }

    /// The error the call fails with after it has taken effect, if any.
    pub fn after(&self) -> Option<(infra_core::ErrorKind, String)> {
        let (op, call, seed) = self.origin?;
        self.timeout.then(|| {
            (
                infra_core::ErrorKind::Transient,
                format!(
                    "request timed out: {op} call {call} took effect but its response was lost \
                     (injected by [sim] faults, seed {seed}); retry with the same token"
                ),
            )
        })
    }

    /// The call's latency, multiplied when it is slow.
    pub fn latency(&self, latency: Duration) -> Duration {
        match self.slow {
            Some(factor) => latency.mul_f64(factor),
            None => latency,
        }
    }

    /// The multiplier of a slow call.
    pub fn slow_factor(&self) -> Option<f64> {
        self.slow
    }

    fn faults(&self) -> impl Iterator<Item = Fault> {
        [
            (self.throttle, Fault::Throttle),
            (self.transient, Fault::Transient),
            (self.timeout, Fault::Timeout),
            (self.slow.is_some(), Fault::Slow),
        ]
        .into_iter()
        .filter_map(|(on, fault)| on.then_some(fault))
    }
}

/// Where one `(address, operation)` is in its sequence of calls.
#[derive(Default)]
struct Track {
    calls: u64,
    /// How many more calls are throttled by the current burst.
    burst_left: u32,
}

/// The fault injection state of one sim dir in this process: a call counter
/// per address and operation, and the `faults.log` it appends to.
pub(crate) struct Injector {
    log_path: PathBuf,
    tracks: Mutex<HashMap<(String, Operation), Track>>,
    /// Opened with `O_APPEND` at the first injected fault, so a dir without
    /// faults gets no log.
    log: Mutex<Option<File>>,
}

impl Injector {
    /// The injector of the sim dir `dir`.
    pub fn new(dir: &Path) -> Injector {
        Injector {
            log_path: dir.join(FAULTS_LOG),
            tracks: Mutex::new(HashMap::new()),
            log: Mutex::new(None),
        }
    }

    /// Counts a call and decides its faults, recording them in `faults.log`.
    ///
    /// The decision for the n-th call of an operation at an address depends
    /// only on the settings and n; the burst a call starts covers the next
    /// calls by number. Taking the number and updating the burst happen
    /// under one lock, so concurrent calls cannot reorder them.
    pub fn next(
        &self,
        settings: &FaultSettings,
        address: &str,
        op: Operation,
    ) -> io::Result<Injected> {
        if !settings.selects(address, op) {
            return Ok(Injected::NONE);
        }
        let (call, throttle) = {
            let mut tracks = lock(&self.tracks);
            let track = tracks.entry((address.to_owned(), op)).or_default();
            track.calls += 1;
            let call = track.calls;
            let throttle = if track.burst_left > 0 {
                track.burst_left -= 1;
                true
            } else if settings.draw(address, op, call, Fault::Throttle) < settings.burst_start() {
                track.burst_left = settings.throttle_burst;
                true
            } else {
                false
            };
            (call, throttle)
        };
        let hit = |fault: Fault, p: f64| settings.draw(address, op, call, fault) < p;
        let transient = !throttle && hit(Fault::Transient, settings.transient);
        let through = !throttle && !transient;
        let injected = Injected {
            origin: Some((op, call, settings.seed)),
            throttle,
            transient,
            timeout: through && hit(Fault::Timeout, settings.timeout),
            slow: (through && hit(Fault::Slow, settings.slow)).then_some(settings.slow_factor),
        };
        self.record(settings.seed, address, op, call, &injected)?;
        Ok(injected)
    }

    /// Appends one line per fault of a call, all in one `write`.
    fn record(
        &self,
        seed: i64,
        address: &str,
        operation: Operation,
        call: u64,
        injected: &Injected,
    ) -> io::Result<()> {
        let mut lines = Vec::new();
        for fault in injected.faults() {
            let record = InjectedFault {
                version: RECORD_VERSION,
                seed,
                address: address.to_owned(),
                operation,
                call,
                fault,
            };
            serde_json::to_writer(&mut lines, &record).map_err(io::Error::other)?;
            lines.push(b'\n');
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut log = lock(&self.log);
        if log.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .map_err(|e| context(e, "cannot open", &self.log_path))?;
            *log = Some(file);
        }
        let file = log.as_mut().expect("opened above");
        // One `write` per call: with `O_APPEND` it lands whole at the end.
        let written = file
            .write(&lines)
            .map_err(|e| context(e, "cannot append to", &self.log_path))?;
        if written != lines.len() {
            return Err(io::Error::other(format!(
                "cannot append to {}: short write",
                self.log_path.display()
            )));
        }
        Ok(())
    }
}

/// A poisoned lock only means another task panicked; the counters stay usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &[(&str, Value)]) -> FaultSettings {
        let table: Value = toml.iter().cloned().collect();
        FaultSettings::parse(&table).unwrap()
    }

    #[test]
    fn draws_depend_only_on_their_inputs() {
        let s = settings(&[(SEED, Value::Int(7))]);
        let a = s.draw("sim_resource.a", Operation::Create, 1, Fault::Throttle);
        assert_eq!(
            a,
            s.draw("sim_resource.a", Operation::Create, 1, Fault::Throttle)
        );
        assert_ne!(
            a,
            s.draw("sim_resource.a", Operation::Create, 2, Fault::Throttle)
        );
        assert_ne!(
            a,
            s.draw("sim_resource.a", Operation::Read, 1, Fault::Throttle)
        );
        assert_ne!(
            a,
            s.draw("sim_resource.a", Operation::Create, 1, Fault::Transient)
        );
        assert!((0.0..1.0).contains(&a));
        let other = settings(&[(SEED, Value::Int(8))]);
        assert_ne!(
            a,
            other.draw("sim_resource.a", Operation::Create, 1, Fault::Throttle)
        );
    }

    #[test]
    fn burst_start_keeps_the_throttled_share() {
        for (p, b) in [(0.3, 3), (0.3, 0), (0.05, 10), (1.0, 4), (0.0, 2)] {
            let s = settings(&[(THROTTLE, Value::Float(p)), (THROTTLE_BURST, Value::Int(b))]);
            let q = s.burst_start();
            let b = b as f64;
            let share = q * (b + 1.0) / (1.0 + q * b);
            assert!((share - p).abs() < 1e-12, "p {p} b {b}: {share}");
        }
    }

    #[test]
    fn bursts_follow_a_throttle() {
        let dir = tempfile::tempdir().unwrap();
        let injector = Injector::new(dir.path());
        let s = settings(&[
            (THROTTLE, Value::Float(0.2)),
            (THROTTLE_BURST, Value::Int(3)),
        ]);
        let throttled: Vec<bool> = (0..400)
            .map(|_| {
                injector
                    .next(&s, "sim_resource.a", Operation::Create)
                    .unwrap()
                    .throttle
            })
            .collect();
        // Every run of throttled calls is a whole number of bursts of 4.
        let mut run = 0;
        for &t in &throttled {
            if t {
                run += 1;
            } else {
                assert_eq!(run % 4, 0, "{throttled:?}");
                run = 0;
            }
        }
        assert!(throttled.iter().any(|&t| t));
    }
}
