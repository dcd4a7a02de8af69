//! [`S3Backend`]: one stack's snapshot, lock and journal as S3 objects,
//! every write conditional so that nothing another run wrote is replaced.

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use infra_core::{BackendError, LockInfo, StateBackend};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::location::S3Location;
use crate::sdk::{Bucket, Condition, Failure};

/// The lease a lock is taken for unless configured otherwise. A run that
/// dies leaves its lock for at most this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The shortest lease a backend accepts; shorter ones are raised to it.
/// Below it a slow request could outlast the lease it was sent under.
pub const MIN_LEASE: Duration = Duration::from_secs(1);

/// How often lock and journal races are retried before giving up.
const ATTEMPTS: usize = 5;

/// One stack's state in S3 (see the crate docs for the objects and the
/// protocol). Dropping it stops lease renewal; a lock still held then
/// expires after its lease.
pub struct S3Backend {
    shared: Arc<Shared>,
    /// The task renewing the lease while the lock is held.
    renewer: SyncMutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("location", &self.shared.location.to_string())
            .field("lease", &self.shared.lease)
            .finish_non_exhaustive()
    }
}

/// What the backend and its renewal task share.
struct Shared {
    bucket: Bucket,
    location: S3Location,
    lock_key: String,
    lease: Duration,
    lock: Mutex<Lease>,
    /// The snapshot's ETag as last read or written by this backend.
    snapshot: Mutex<Seen>,
    /// The next journal sequence number, once known.
    journal: Mutex<Option<u64>>,
}

/// What this backend knows of the snapshot object.
enum Seen {
    /// Never read nor written: a write must create it.
    Unknown,
    /// Read and found missing: a write must create it.
    Absent,
    /// This version, read or written by us: a write must replace exactly it.
    Etag(String),
}

/// This backend's relation to the lock object.
enum Lease {
    /// Not holding the lock.
    Free,
    /// Holding it: our lock as written, its ETag, and until when (by the
    /// monotonic clock, measured from before the write) it is surely ours.
    Held {
        info: LockInfo,
        etag: String,
        valid_until: Instant,
    },
    /// The lock was taken over or removed while we held it; the message
    /// says by whom. Every write is refused until the lock is taken again.
    Lost(String),
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn expiry(info: &LockInfo) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(info.expires.as_deref()?).ok()
}

/// Whether a lock's lease has run out, by this machine's clock. A lock
/// without a readable lease is never taken over.
fn expired(info: &LockInfo) -> bool {
    expiry(info).is_some_and(|t| t <= SystemTime::now())
}

fn encode(info: &LockInfo) -> Vec<u8> {
    let mut body = serde_json::to_vec_pretty(info).unwrap_or_default();
    body.push(b'\n');
    body
}

fn holder(info: &LockInfo) -> String {
    format!(
        "{} on {} (pid {}, {} since {}, lock id {})",
        info.holder, info.host, info.pid, info.operation, info.created, info.id
    )
}

impl S3Backend {
    /// The backend for the state at `location`, locking with leases of
    /// `lease` (at least [`MIN_LEASE`]; [`DEFAULT_LEASE`] in production),
    /// renewed every third of it. It trusts the store to honour conditional
    /// writes: check that first with [`crate::check_conditional_writes`]
    /// (the factory does).
    pub fn new(client: Client, location: S3Location, lease: Duration) -> Self {
        S3Backend {
            shared: Arc::new(Shared {
                bucket: Bucket {
                    client,
                    name: location.bucket().to_owned(),
                },
                lock_key: location.lock_key(),
                location,
                lease: lease.max(MIN_LEASE),
                lock: Mutex::new(Lease::Free),
                snapshot: Mutex::new(Seen::Unknown),
                journal: Mutex::new(None),
            }),
            renewer: SyncMutex::new(None),
        }
    }

    /// Where the state lives.
    pub fn location(&self) -> &S3Location {
        &self.shared.location
    }

    /// The lease locks are taken for.
    pub fn lease(&self) -> Duration {
        self.shared.lease
    }

    fn start_renewal(&self, id: String) {
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(shared.lease / 3).await;
                let mut lease = shared.lock.lock().await;
                match &*lease {
                    Lease::Held { info, .. } if info.id == id => {}
                    _ => return,
                }
                // A failed renewal is tried again at the next tick; writes
                // meanwhile check the lease themselves (`fence`).
                let _ = shared.renew(&mut lease).await;
                if matches!(*lease, Lease::Lost(_)) {
                    return;
                }
            }
        });
        let old = self
            .renewer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task);
        if let Some(old) = old {
            old.abort();
        }
    }

    fn stop_renewal(&self) {
        if let Some(task) = self
            .renewer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }

    /// Takes the lock into `lease` after a successful write of `info`.
    fn hold(&self, lease: &mut Lease, info: LockInfo, etag: String, valid_until: Instant) {
        let id = info.id.clone();
        *lease = Lease::Held {
            info,
            etag,
            valid_until,
        };
        self.start_renewal(id);
    }
}

impl Drop for S3Backend {
    fn drop(&mut self) {
        self.stop_renewal();
    }
}

impl Shared {
    fn lock_url(&self) -> String {
        self.bucket.url(&self.lock_key)
    }

    /// The lock object and its ETag, `None` when unlocked.
    async fn read_lock(&self) -> Result<Option<(LockInfo, String)>, BackendError> {
        let Some(object) = self.bucket.get(&self.lock_key).await? else {
            return Ok(None);
        };
        let info = serde_json::from_slice(&object.bytes).map_err(|e| {
            let url = self.lock_url();
            BackendError::Io(format!(
                "{url} is not a lock infra wrote ({e}); if no infra run is using {}, delete it (`aws s3 rm {url}`)",
                self.location
            ))
        })?;
        Ok(Some((info, object.etag)))
    }

    /// Extends the lease of a held lock: a write of the lock object with a
    /// later `expires`, conditional on the version we wrote last, so it
    /// fails if anyone took the lock over. On that failure the lease is
    /// marked lost.
    async fn renew(&self, lease: &mut Lease) -> Result<(), BackendError> {
        let Lease::Held { info, etag, .. } = &*lease else {
            return Ok(());
        };
        let (ours, etag) = (info.clone(), etag.clone());
        let mut next = ours.clone();
        let started = Instant::now();
        next.expires = Some(rfc3339(SystemTime::now() + self.lease));
        let failure = match self
            .bucket
            .put(&self.lock_key, &encode(&next), &Condition::Matches(etag))
            .await
        {
            Ok(etag) => {
                *lease = Lease::Held {
                    info: next,
                    etag,
                    valid_until: started + self.lease,
                };
                return Ok(());
            }
            Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
            Err(f) => f,
        };
        debug_assert!(matches!(failure, Failure::Condition | Failure::Missing));
        // The lock is no longer the version we wrote: see whose it is.
        let why = match self.read_lock().await? {
            Some((current, etag)) if current.id == ours.id => {
                // Ours after all: an earlier renewal landed although its
                // response was lost (the SDK retried it). Adopt it.
                let left = expiry(&current)
                    .and_then(|t| t.duration_since(SystemTime::now()).ok())
                    .unwrap_or_default();
                *lease = Lease::Held {
                    info: current,
                    etag,
                    valid_until: Instant::now() + left.min(self.lease),
                };
                return Ok(());
            }
            Some((current, _)) => format!(
                "the lock on {} was taken over by {} after this process's lease ran out",
                self.location,
                holder(&current)
            ),
            None => format!(
                "the lock on {} was removed (by `infra force-unlock`?) while this process held it",
                self.location
            ),
        };
        let message = format!(
            "{why}; this process writes nothing more to {}: check what the other run did, then plan again",
            self.location
        );
        *lease = Lease::Lost(message.clone());
        Err(BackendError::Conflict(message))
    }

    /// Fencing, before every write: refuses when the lease was lost, and
    /// renews first when renewal fell behind (a stalled process, a network
    /// problem), so a write is never sent under a lease that may already
    /// have been taken over. The margin of a third of the lease covers the
    /// write's own time in flight.
    async fn fence(&self) -> Result<(), BackendError> {
        let mut lease = self.lock.lock().await;
        match &*lease {
            Lease::Free => Ok(()),
            Lease::Lost(message) => Err(BackendError::Conflict(message.clone())),
            Lease::Held { valid_until, .. } if Instant::now() + self.lease / 3 < *valid_until => {
                Ok(())
            }
            Lease::Held { .. } => self.renew(&mut lease).await.map_err(|e| match e {
                BackendError::Io(m) => BackendError::Io(format!(
                    "the lease on {} is running out and could not be renewed ({m}); nothing was written, since another run may take the lock over: check the network and credentials, then run again",
                    self.location
                )),
                other => other,
            }),
        }
    }

    /// The journal's objects as (sequence number, key), in order.
    async fn journal_objects(&self) -> Result<Vec<(u64, String)>, BackendError> {
        let prefix = self.location.journal_prefix();
        let mut objects = Vec::new();
        for key in self.bucket.list(&prefix).await? {
            let suffix = &key[prefix.len()..];
            let seq = suffix
                .parse::<u64>()
                .ok()
                .filter(|_| suffix.len() == 20 && suffix.bytes().all(|b| b.is_ascii_digit()));
            match seq {
                Some(seq) => objects.push((seq, key)),
                None => {
                    return Err(BackendError::Io(format!(
                        "{} is not a journal object infra wrote; the journal of {} is left as it is: move that object out of `{}` and run again",
                        self.bucket.url(&key),
                        self.location,
                        self.bucket.url(&prefix)
                    )));
                }
            }
        }
        objects.sort();
        Ok(objects)
    }
}

#[async_trait]
impl StateBackend for S3Backend {
    fn describe(&self) -> String {
        self.shared.location.to_string()
    }

    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        let s = &*self.shared;
        let mut lease = s.lock.lock().await;
        if let Lease::Held { info: held, .. } = &*lease {
            return Err(BackendError::Io(format!(
                "this process already holds the lock on {} (lock id {})",
                s.location, held.id
            )));
        }
        let mut ours = info.clone();
        for _ in 0..ATTEMPTS {
            // Create the lock; only one creator can win.
            let started = Instant::now();
            ours.expires = Some(rfc3339(SystemTime::now() + s.lease));
            match s
                .bucket
                .put(&s.lock_key, &encode(&ours), &Condition::Absent)
                .await
            {
                Ok(etag) => {
                    self.hold(&mut lease, ours, etag, started + s.lease);
                    return Ok(None);
                }
                Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
                Err(Failure::Condition | Failure::Missing) => {}
            }
            // Someone holds it (or held it a moment ago): whom, and until when.
            let Some((current, etag)) = s.read_lock().await? else {
                continue;
            };
            if current.id == ours.id {
                // Our create landed although its response was lost and the
                // SDK's retry of it was refused.
                self.hold(&mut lease, current, etag, started + s.lease);
                return Ok(None);
            }
            if !expired(&current) {
                return Err(BackendError::Locked(Box::new(current)));
            }
            // Take over the expired lock: a write conditional on the stale
            // lock's ETag, so of two runs taking it over only one wins, and
            // a holder that renewed in the meantime keeps it.
            let started = Instant::now();
            ours.expires = Some(rfc3339(SystemTime::now() + s.lease));
            match s
                .bucket
                .put(&s.lock_key, &encode(&ours), &Condition::Matches(etag))
                .await
            {
                Ok(etag) => {
                    self.hold(&mut lease, ours, etag, started + s.lease);
                    return Ok(Some(current));
                }
                Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
                // Renewed, taken over or released meanwhile: look again.
                Err(Failure::Condition | Failure::Missing) => {}
            }
        }
        Err(BackendError::Io(format!(
            "the lock {} kept changing while this process tried to take it; try again",
            s.lock_url()
        )))
    }

    async fn unlock(&self, id: &str) -> Result<(), BackendError> {
        let s = &*self.shared;
        let mut lease = s.lock.lock().await;
        match &*lease {
            Lease::Held { info, .. } if info.id != id => {
                return Err(BackendError::Io(format!(
                    "cannot unlock {} with lock id {id}: this process holds it as {}",
                    s.location, info.id
                )));
            }
            Lease::Held { .. } => {}
            // Nothing of ours to release; a lost lock belongs to its taker.
            Lease::Free | Lease::Lost(_) => {
                *lease = Lease::Free;
                return Ok(());
            }
        }
        self.stop_renewal();
        *lease = Lease::Free;
        // Delete only our lock: read it (which also covers stores without
        // conditional deletes), then delete exactly that version.
        let Some((current, etag)) = s.read_lock().await? else {
            return Ok(());
        };
        if current.id != id {
            return Ok(());
        }
        match s.bucket.delete(&s.lock_key, Some(&etag)).await {
            // Changed since the read: taken over, so no longer ours to delete.
            Ok(()) | Err(Failure::Condition | Failure::Missing) => Ok(()),
            Err(Failure::Other(m)) => Err(BackendError::Io(format!(
                "{m}; the lock stays until its lease runs out at {}",
                current.expires.as_deref().unwrap_or("an unknown time")
            ))),
        }
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(self.shared.read_lock().await?.map(|(info, _)| info))
    }

    async fn force_unlock(&self, id: &str) -> Result<(), BackendError> {
        let s = &*self.shared;
        for _ in 0..ATTEMPTS {
            let (current, etag) = match s.read_lock().await? {
                None => {
                    return Err(BackendError::Io(format!(
                        "{} is not locked: nothing to unlock",
                        s.location
                    )));
                }
                Some((current, _)) if current.id != id => {
                    return Err(BackendError::Io(format!(
                        "the lock on {} has id {}, not {id}: give `infra force-unlock` the id from the lock message",
                        s.location, current.id
                    )));
                }
                Some(found) => found,
            };
            match s.bucket.delete(&s.lock_key, Some(&etag)).await {
                Ok(()) => {
                    let mut lease = s.lock.lock().await;
                    if matches!(&*lease, Lease::Held { info, .. } if info.id == current.id) {
                        self.stop_renewal();
                        *lease = Lease::Free;
                    }
                    return Ok(());
                }
                // The holder renewed between the read and the delete.
                Err(Failure::Condition) => {}
                Err(Failure::Missing) => return Ok(()),
                Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
            }
        }
        Err(BackendError::Io(format!(
            "the lock {} kept changing while this process tried to remove it; try again",
            s.lock_url()
        )))
    }

    async fn read_snapshot(&self) -> Result<Option<Vec<u8>>, BackendError> {
        let s = &*self.shared;
        let mut seen = s.snapshot.lock().await;
        match s.bucket.get(s.location.key()).await? {
            Some(object) => {
                *seen = Seen::Etag(object.etag);
                Ok(Some(object.bytes))
            }
            None => {
                *seen = Seen::Absent;
                Ok(None)
            }
        }
    }

    async fn write_snapshot(&self, bytes: &[u8]) -> Result<(), BackendError> {
        let s = &*self.shared;
        s.fence().await?;
        let mut seen = s.snapshot.lock().await;
        let key = s.location.key();
        let condition = match &*seen {
            Seen::Etag(etag) => Condition::Matches(etag.clone()),
            Seen::Unknown | Seen::Absent => Condition::Absent,
        };
        match s.bucket.put(key, bytes, &condition).await {
            Ok(etag) => {
                *seen = Seen::Etag(etag);
                return Ok(());
            }
            Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
            Err(Failure::Condition | Failure::Missing) => {}
        }
        // Refused. If the object holds exactly our bytes, it was our own
        // write landing before the SDK retried it: done.
        if let Some(object) = s.bucket.get(key).await?
            && object.bytes == bytes
        {
            *seen = Seen::Etag(object.etag);
            return Ok(());
        }
        Err(BackendError::Conflict(match condition {
            Condition::Absent => format!(
                "{} was created by someone else after this process found no state there; nothing was overwritten: run again to work from the state they wrote",
                s.location
            ),
            Condition::Matches(etag) => format!(
                "{} was written (or deleted) by someone else since this process read it as version {etag}; nothing was overwritten: run again to work from the new state",
                s.location
            ),
        }))
    }

    async fn append_journal(&self, bytes: &[u8]) -> Result<(), BackendError> {
        let s = &*self.shared;
        s.fence().await?;
        let mut next = s.journal.lock().await;
        let seq = match *next {
            Some(seq) => seq,
            None => s
                .journal_objects()
                .await?
                .last()
                .map_or(1, |(seq, _)| seq + 1),
        };
        let key = s.location.journal_key(seq);
        // A new object per append, created only if absent: an append is
        // there whole or not at all, and never replaces another's.
        match s.bucket.put(&key, bytes, &Condition::Absent).await {
            Ok(_) => {
                *next = Some(seq + 1);
                return Ok(());
            }
            Err(Failure::Other(m)) => return Err(BackendError::Io(m)),
            Err(Failure::Condition | Failure::Missing) => {}
        }
        if let Some(object) = s.bucket.get(&key).await?
            && object.bytes == bytes
        {
            // Our own append, landed before the SDK retried it.
            *next = Some(seq + 1);
            return Ok(());
        }
        Err(BackendError::Conflict(format!(
            "{} was written by another process: someone else is writing the journal of {} (a run whose lease ran out?); nothing was overwritten: check the other run, then run again",
            s.bucket.url(&key),
            s.location
        )))
    }

    async fn read_journal(&self) -> Result<Vec<u8>, BackendError> {
        let s = &*self.shared;
        let mut next = s.journal.lock().await;
        let objects = s.journal_objects().await?;
        let mut bytes = Vec::new();
        for (_, key) in &objects {
            match s.bucket.get(key).await? {
                Some(object) => bytes.extend_from_slice(&object.bytes),
                None => {
                    return Err(BackendError::Conflict(format!(
                        "{} disappeared while the journal of {} was read: another process is clearing it; check the other run, then run again",
                        s.bucket.url(key),
                        s.location
                    )));
                }
            }
        }
        if let Some((last, _)) = objects.last() {
            *next = Some(next.unwrap_or(0).max(last + 1));
        }
        Ok(bytes)
    }

    async fn clear_journal(&self) -> Result<(), BackendError> {
        let s = &*self.shared;
        s.fence().await?;
        let mut next = s.journal.lock().await;
        let objects = s.journal_objects().await?;
        // Newest first, one at a time: a run killed halfway leaves a prefix
        // of the journal, which is a journal the engine once wrote (its
        // begin record names the serial it started from, so the next run
        // knows it was already folded).
        for (_, key) in objects.iter().rev() {
            s.bucket
                .delete(key, None)
                .await
                .map_err(|f| f.into_error("delete", &s.bucket.url(key)))?;
        }
        // Numbers keep growing after a clear (within this process), so a
        // late append of ours collides instead of slipping in.
        if let Some((last, _)) = objects.last() {
            *next = Some(next.unwrap_or(0).max(last + 1));
        }
        Ok(())
    }
}
