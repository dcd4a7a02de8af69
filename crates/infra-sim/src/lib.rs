//! A simulated cloud for tests, benchmarks and demos: the `sim_resource`
//! type, kept in files so that separate processes see the same cloud.
//!
//! # The resource type
//!
//! ```toml
//! [sim]
//! dir = ".sim"            # relative to the project root; this is the default
//!
//! [resources.sim_resource.db]
//! create_ms = 500         # simulated latency per operation (default 0), in place
//! update_ms = 100
//! delete_ms = 300
//! read_ms = 10
//! payload = { size = 3 }  # any value, updated in place
//! replace_key = "v1"      # any value; a change forces replacement
//! fail_on = "delete"      # "create" | "update" | "delete": that operation fails
//! ```
//!
//! The only output is `id`. A `fail_on` operation waits its latency and then
//! fails with [`ErrorKind::Failed`](infra_core::ErrorKind::Failed) before
//! changing anything; for `delete` the cloud's stored inputs decide, as
//! deletion protection would. Every other change happens when the call
//! starts and the latency is the wait until the resource is usable, so a
//! create abandoned during its wait (a timeout, `kill -9`) has made the
//! resource, as a real cloud would. [`OpContext::timeout`](infra_core::OpContext)
//! is not enforced here: timeouts wrap providers.
//!
//! # Fault injection
//!
//! ```toml
//! [sim]
//! faults = { seed = 7, throttle = 0.3, throttle_burst = 3, transient = 0.05, timeout = 0.02, slow = 0.1, slow_factor = 5 }
//! ```
//!
//! Every key is optional; without `faults` nothing is injected and no call is
//! counted. Probabilities are numbers from 0 to 1 (default 0).
//!
//! | key | what |
//! | --- | --- |
//! | `seed` | integer (default 0): the same seed injects the same faults |
//! | `throttle` | share of calls refused with [`ErrorKind::Throttled`](infra_core::ErrorKind::Throttled) before any effect |
//! | `throttle_burst` | calls (default 0) after a call that starts throttling that are throttled too |
//! | `transient` | probability that a call not throttled fails with [`ErrorKind::Transient`](infra_core::ErrorKind::Transient) (a 503) before any effect |
//! | `timeout` | probability that a call that got through takes effect and then fails with [`ErrorKind::Transient`](infra_core::ErrorKind::Transient) "request timed out", as when the response is lost |
//! | `slow` | probability that a call that got through waits its latency times `slow_factor` |
//! | `slow_factor` | number from 1 (default 10) |
//! | `addresses` | list of addresses faults apply to (default all) |
//! | `operations` | list of `"create"`, `"read"`, `"find"`, `"update"`, `"delete"` faults apply to (default all) |
//!
//! A call is checked in that order: throttled, else transient, else it runs
//! (slow or not) and may then time out. Bursts are sized so that `throttle`
//! stays the long-run share of throttled calls: a call outside a burst starts
//! one with probability `throttle / (b + 1 - throttle * b)` for
//! `b = throttle_burst`. A timed-out create has made its resource: the retry
//! with the same token returns it and counts nothing, which is what this
//! fault proves. A `fail_on` operation still fails permanently, once a call
//! gets past throttling and transient errors. A bad key or value is an
//! [`ErrorKind::Invalid`](infra_core::ErrorKind::Invalid) error naming it
//! (`[sim] faults.throttle must be a probability from 0 to 1, found 1.5`),
//! on every call.
//!
//! Decisions do not depend on scheduling: the n-th call of an operation at an
//! address draws each fault from SHA-256 of (seed, address, operation, n,
//! fault), and the burst it starts covers calls n+1.. by number. Calls are
//! counted from 1 in memory, per [`SimProvider`] and sim dir (in the `infra`
//! binary: per process), a `read` apart from a `create`; the engine makes the
//! calls of one operation at one address one after another (its retries), so
//! their numbers do not depend on which other operations run meanwhile. So a
//! seed reproduces a run: the same commands on the same starting dir inject
//! the same faults. A new process starts counting again, so re-running a
//! command replays its faults; change the seed to meet others. Each injected
//! fault is one line of `faults.log` ([`faults`] reads it).
//!
//! # Files
//!
//! In the sim dir:
//!
//! - `resources/<id>.json` — one cloud resource, the truth about it:
//!   `{ "version", "id", "address", "token", "inputs", "live", "creates",
//!   "deletes" }`. Inputs are stored in [`Value`](infra_core::Value)'s serde
//!   form, so secrets appear only as digests. Edit `inputs` to simulate drift:
//!   `read` returns them. Files are named by id, not address, because during a
//!   create-before-destroy replacement two resources share an address.
//!   Every write is a temp file and a rename (no fsync: the sim models a cloud,
//!   and `kill -9` does not lose the page cache).
//! - `ledger.log` — a change feed: after each real create or delete, one line
//!   with that resource's new counts, appended with a single `O_APPEND` write.
//! - `ledger.json` — a view, `{ "<address>": { "creates", "deletes", "live" } }`,
//!   summed over the resources at each address ([`LedgerEntry`]); `live` when
//!   any of them is. `ledger.lock` orders its writers across processes.
//! - `faults.log` — only once a fault was injected: one JSON line per fault
//!   ([`InjectedFault`]: `{ "version", "seed", "address", "operation", "call",
//!   "fault" }`), the faults of one call appended with a single `O_APPEND`
//!   write.
//!
//! # Ids and idempotency
//!
//! A create's id is `sim-` and 16 hex digits of the SHA-256 of
//! [`OpContext::token`](infra_core::OpContext), like EKS's
//! `clientRequestToken`: a create retried with the same token returns the
//! resource it made without creating or counting it again, and `find` returns
//! the live resource of the token. A token used at another address is an
//! [`ErrorKind::Invalid`](infra_core::ErrorKind::Invalid) error. Deleting what
//! is gone succeeds without counting.
//!
//! # When `ledger.json` is exact
//!
//! Each process keeps the ledger in memory: built from the resource files when
//! it first uses a dir, then brought up to date from `ledger.log` (changes by
//! any process) in O(new records). It rewrites `ledger.json` from that view
//! at most every 200 ms while it has changes, soon after it first uses a dir,
//! and when the [`SimProvider`] is dropped, which waits for a rewrite in
//! progress. So:
//!
//! - once no operation is in flight in any process and every process that used
//!   the dir has dropped its provider (a normal exit), `ledger.json` is exact;
//!   in a test, right after `drop(provider)`;
//! - while a run is going, it lags by up to ~200 ms;
//! - after a `kill -9` it may miss the dead process's last ~200 ms. Its
//!   resource files are still the truth, and a process killed between a
//!   resource file's rename and the matching log line leaves that one change
//!   out of the log, so views of processes running at that moment miss it too.
//!   [`ledger`] rebuilds `ledger.json` from the resource files at any time, and
//!   so does the next process to use the dir.
//!
//! Test invariants: for every address `creates - deletes <= 1` (no duplicate)
//! and, after a destroy, no entry is `live` ([`live_resources`] is empty: no
//! orphan).
//!
//! # Concurrency
//!
//! Any number of tasks and processes may operate on one dir. An operation
//! touches only its own id's file; operations on the same id are serialized
//! within a process (across processes the engine's state lock keeps them
//! apart). The log takes whole-line appends, and `ledger.json` is only ever
//! replaced by a rename.

mod cloud;
mod disk;
mod faults;
mod provider;

pub use disk::{LedgerEntry, LiveResource, ledger, live_resources};
pub use faults::{Fault, InjectedFault, Operation, faults};
pub use provider::{DEFAULT_DIR, SimProvider, SimResource, TYPE_NAME};
