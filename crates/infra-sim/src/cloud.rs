//! One sim dir opened by this process: read-modify-write of resource files,
//! the change log, and the coalesced refresh of `ledger.json`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use infra_core::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::disk::{self, FORMAT_VERSION, LedgerView, ResourceFile, Tally, context};
use crate::faults::Injector;

/// How often, at most, a process rewrites `ledger.json` while it has changes.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(200);

/// Same-id operations in one process take the same stripe, so their
/// read-modify-write of the resource file and their log lines stay in order.
const STRIPES: usize = 64;

/// What a create found or did.
pub(crate) enum Created {
    /// A new resource, or one made live again.
    New(ResourceFile),
    /// The token's resource already existed and was live: nothing counted.
    Replayed(ResourceFile),
}

/// Why a cloud operation failed, before the provider adds the address.
pub(crate) enum CloudError {
    /// Reading or writing the dir failed, or a file is corrupt.
    Io(io::Error),
    /// The token's resource belongs to another address.
    TokenReused { id: String, address: String },
    /// The resource with this id is not in the cloud.
    NotFound(String),
}

impl From<io::Error> for CloudError {
    fn from(e: io::Error) -> Self {
        CloudError::Io(e)
    }
}

/// A sim dir as seen from this process.
pub(crate) struct Cloud {
    dir: PathBuf,
    log_path: PathBuf,
    /// Opened with `O_APPEND`: every record is one `write`, so records from
    /// tasks and processes never interleave.
    log: File,
    stripes: Box<[Mutex<()>]>,
    view: Mutex<ViewState>,
    dirty: AtomicBool,
    wake: Arc<Notify>,
    injector: Injector,
}

/// The ledger as of `offset` bytes into the log.
struct ViewState {
    ledger: LedgerView,
    offset: u64,
}

impl Cloud {
    /// Opens (creating) the sim dir and builds the ledger view from its
    /// resource files.
    pub fn open(dir: &Path) -> io::Result<Cloud> {
        let resources = disk::resources_dir(dir);
        fs::create_dir_all(&resources).map_err(|e| context(e, "cannot create", &resources))?;
        let log_path = dir.join(disk::LOG);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| context(e, "cannot open", &log_path))?;
        let cloud = Cloud {
            dir: dir.to_owned(),
            log_path,
            log,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            view: Mutex::new(ViewState {
                ledger: LedgerView::default(),
                offset: 0,
            }),
            dirty: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            injector: Injector::new(dir),
        };
        cloud.rescan(&mut lock(&cloud.view))?;
        // Refresh ledger.json soon even if this run changes nothing: a
        // previous run may have been killed before its last refresh.
        cloud.dirty.store(true, Ordering::SeqCst);
        cloud.wake.notify_one();
        Ok(cloud)
    }

    /// The sim dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fault injection state of this dir in this process.
    pub fn injector(&self) -> &Injector {
        &self.injector
    }

    /// Starts the task that refreshes `ledger.json` at most every
    /// [`FLUSH_INTERVAL`] while there are changes. It ends with the cloud.
    pub fn spawn_flusher(cloud: &Arc<Cloud>) {
        let weak = Arc::downgrade(cloud);
        let wake = Arc::clone(&cloud.wake);
        tokio::spawn(flush_loop(weak, wake));
    }

    /// The resource with this id, live or not.
    pub fn load(&self, id: &str) -> Result<Option<ResourceFile>, CloudError> {
        if !disk::is_sim_id(id) {
            return Ok(None);
        }
        Ok(disk::read_resource(&self.dir, id)?)
    }

    /// Creates the resource of `id` unless it exists and is live.
    pub fn create(
        &self,
        id: &str,
        address: &str,
        token: &str,
        inputs: &Value,
    ) -> Result<Created, CloudError> {
        let _stripe = self.stripe(id);
        let mut file = match disk::read_resource(&self.dir, id)? {
            Some(existing) if existing.address != address => {
                return Err(CloudError::TokenReused {
                    id: id.to_owned(),
                    address: existing.address,
                });
            }
            Some(existing) if existing.live => return Ok(Created::Replayed(existing)),
            Some(existing) => existing,
            None => ResourceFile {
                version: FORMAT_VERSION,
                id: id.to_owned(),
                address: address.to_owned(),
                token: token.to_owned(),
                inputs: Value::Null,
                live: false,
                creates: 0,
                deletes: 0,
                secret: String::new(),
            },
        };
        file.inputs = inputs.clone();
        file.secret = disk::new_secret(token);
        file.live = true;
        file.creates += 1;
        self.store(&file, true)?;
        Ok(Created::New(file))
    }

    /// Replaces the inputs of a live resource.
    pub fn update(&self, id: &str, inputs: &Value) -> Result<ResourceFile, CloudError> {
        let _stripe = self.stripe(id);
        let mut file = match self.load(id)? {
            Some(file) if file.live => file,
            _ => return Err(CloudError::NotFound(id.to_owned())),
        };
        file.inputs = inputs.clone();
        self.store(&file, false)?;
        Ok(file)
    }

    /// Deletes a live resource, returning it as it was; `None` when it was
    /// already gone.
    pub fn delete(&self, id: &str) -> Result<Option<ResourceFile>, CloudError> {
        let _stripe = self.stripe(id);
        let mut file = match self.load(id)? {
            Some(file) if file.live => file,
            _ => return Ok(None),
        };
        let before = file.clone();
        file.live = false;
        file.deletes += 1;
        self.store(&file, true)?;
        Ok(Some(before))
    }

    /// Writes a resource file and, when its ledger counts changed, logs them.
    fn store(&self, file: &ResourceFile, counted: bool) -> io::Result<()> {
        disk::write_resource(&self.dir, file)?;
        if counted {
            let mut line = serde_json::to_vec(&file.tally()).map_err(io::Error::other)?;
            line.push(b'\n');
            // One `write` per record: with `O_APPEND` it lands whole at the end.
            let written = (&self.log)
                .write(&line)
                .map_err(|e| context(e, "cannot append to", &self.log_path))?;
            if written != line.len() {
                return Err(io::Error::other(format!(
                    "cannot append to {}: short write",
                    self.log_path.display()
                )));
            }
            self.dirty.store(true, Ordering::SeqCst);
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Rewrites `ledger.json` if this process changed something since the
    /// last refresh. Waits for a refresh in progress, so that on return
    /// `ledger.json` reflects every change this process has finished.
    pub fn flush_if_dirty(&self) -> io::Result<()> {
        let mut view = lock(&self.view);
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let result = self.flush(&mut view);
        if result.is_err() {
            // Try again next time rather than leave a stale ledger.json.
            self.dirty.store(true, Ordering::SeqCst);
        }
        result
    }

    fn flush(&self, view: &mut ViewState) -> io::Result<()> {
        let lock = disk::lock_ledger(&self.dir)?;
        self.catch_up(view)?;
        disk::write_ledger(&self.dir, &view.ledger.entries())?;
        drop(lock);
        Ok(())
    }

    /// Applies the log records written since the view's offset, by any
    /// process; rebuilds from the resource files when the log is unreadable.
    fn catch_up(&self, view: &mut ViewState) -> io::Result<()> {
        let mut log = match File::open(&self.log_path) {
            Ok(log) => log,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.rescan(view),
            Err(e) => return Err(context(e, "cannot open", &self.log_path)),
        };
        let len = log
            .metadata()
            .map_err(|e| context(e, "cannot read", &self.log_path))?
            .len();
        if len < view.offset {
            return self.rescan(view);
        }
        let mut tail = Vec::new();
        log.seek(SeekFrom::Start(view.offset))
            .and_then(|_| log.take(len - view.offset).read_to_end(&mut tail))
            .map_err(|e| context(e, "cannot read", &self.log_path))?;
        // A record still being appended has no newline yet: leave it for later.
        let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut tallies = Vec::new();
        for line in tail[..complete].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Tally>(line) {
                Ok(tally) => tallies.push(tally),
                Err(_) => return self.rescan(view),
            }
        }
        for tally in tallies {
            view.ledger.set(tally);
        }
        view.offset += complete as u64;
        Ok(())
    }

    /// Rebuilds the view from the resource files. The log length is taken
    /// first: a record appended meanwhile is applied again later, harmlessly,
    /// since the last record of an id wins.
    fn rescan(&self, view: &mut ViewState) -> io::Result<()> {
        let offset = match fs::metadata(&self.log_path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(context(e, "cannot read", &self.log_path)),
        };
        let mut ledger = LedgerView::default();
        for file in disk::scan(&self.dir)? {
            ledger.set(file.tally());
        }
        *view = ViewState { ledger, offset };
        Ok(())
    }

    fn stripe(&self, id: &str) -> MutexGuard<'_, ()> {
        let digest = Sha256::digest(id.as_bytes());
        lock(&self.stripes[usize::from(digest[0]) % STRIPES])
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // Nobody to report to; the next run or `ledger()` rebuilds it.
        let _ = self.flush_if_dirty();
        self.wake.notify_one();
    }
}

async fn flush_loop(cloud: Weak<Cloud>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        if cloud.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(FLUSH_INTERVAL).await;
        let Some(cloud) = cloud.upgrade() else {
            return;
        };
        // Errors are retried at the next change; `ledger()` reports them.
        let _ = tokio::task::spawn_blocking(move || cloud.flush_if_dirty()).await;
    }
}

/// A poisoned lock only means another task panicked; the data is files.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
