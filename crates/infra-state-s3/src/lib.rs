//! Stack state in S3: `state = "s3://bucket/path/to/key.json"` in a stack
//! file, with native locking (renewed leases) and optimistic writes, using
//! nothing but S3's conditional writes (no DynamoDB table).
//!
//! # Objects
//!
//! | object | what |
//! | --- | --- |
//! | `key` | the snapshot |
//! | `key.lock` | the lock: the holder's [`LockInfo`] as JSON, with `expires` |
//! | `key.journal/<seq>` | one journal append each, `seq` zero-padded to 20 digits |
//! | `key.probe/<uuid>` | the startup check's probe, deleted right after |
//!
//! Every object is written with `ServerSideEncryption: AES256`. The
//! credentials need `s3:GetObject`, `s3:PutObject` and `s3:DeleteObject` on
//! `key*`, and `s3:ListBucket` on the bucket for the `key.journal/` prefix.
//!
//! # Protocol
//!
//! - **Nothing is overwritten blindly.** Every PUT is conditional: a
//!   snapshot write carries `If-Match` with the ETag this backend last read
//!   or wrote (`If-None-Match: *` for the first snapshot of a stack), so a
//!   concurrent writer makes it fail with [`BackendError::Conflict`] instead
//!   of losing their update.
//! - **Lock.** Created with `If-None-Match: *`, so of two runs exactly one
//!   wins; the loser gets [`BackendError::Locked`] naming the holder. The
//!   lock carries a lease (`expires`, [`DEFAULT_LEASE`] ahead), renewed by a
//!   background task every third of the lease with `If-Match` on the lock's
//!   last ETag. A lock whose lease has run out (its holder died or hung) is
//!   taken over with `If-Match` on its ETag, so of two runs taking it over
//!   only one wins; `lock` then returns the previous holder.
//! - **Fencing.** A holder whose renewal finds the lock taken over or
//!   removed marks the lease lost and refuses every later write with
//!   `Conflict` naming the new holder. Before each write it also checks that
//!   more than a third of its lease is left, renewing first otherwise, so a
//!   process that stalled past its lease does not write on. S3 has no
//!   fencing tokens, so a write delayed in flight for longer than that
//!   margin could still land after a takeover; the conditional writes make
//!   such a write fail rather than overwrite (snapshot, journal object).
//! - **Journal.** S3 has no append: each append is a new object, created
//!   with `If-None-Match: *` and durable when the PUT returns. An object is
//!   there whole or not at all, so no append is ever torn. Reading lists the
//!   prefix and concatenates in sequence order. Clearing deletes newest
//!   first, so a run killed halfway leaves a prefix of the journal: one the
//!   engine once wrote, whose begin record tells the next run it was folded.
//!   Sequence numbers keep growing within a process, so within it a late
//!   append collides (and fails) instead of interleaving. Across processes
//!   the guard is the lease: a run checks it is still the holder before
//!   each append, so only an append already in flight when its lease was
//!   taken over (stalled longer than lease/3) could land in the next run's
//!   journal; S3 has no fencing token to stop that.
//! - **Startup check.** When the factory opens a backend on a store for the
//!   first time, [`check_conditional_writes`] makes sure the store honours
//!   `If-None-Match` and `If-Match`: an S3-compatible store that ignored
//!   them would make the lock and the optimistic writes silently void.
//! - **Clocks.** A lease is judged expired by the clock of the run that
//!   wants the lock, so clocks must agree to well within the lease.
//!
//! # Entry points
//!
//! - [`S3BackendFactory`]: the `s3` scheme for the engine; builds a client
//!   from the stack's `[aws]` table and runs the startup check once per
//!   store. [`S3BackendFactory::with_lease`] sets the lease.
//! - [`S3Backend::new`]: a backend on a client of your own, with a lease.
//! - [`bootstrap`]: creates the state bucket, versioned, encrypted, private.
//!
//! [`LockInfo`]: infra_core::LockInfo
//! [`BackendError::Conflict`]: infra_core::BackendError::Conflict
//! [`BackendError::Locked`]: infra_core::BackendError::Locked

mod backend;
mod bootstrap;
mod factory;
mod location;
mod probe;
mod sdk;

pub use backend::{DEFAULT_LEASE, MIN_LEASE, S3Backend};
pub use bootstrap::{BootstrapStep, Bootstrapped, bootstrap};
pub use factory::S3BackendFactory;
pub use location::S3Location;
pub use probe::check_conditional_writes;
pub use sdk::client;
