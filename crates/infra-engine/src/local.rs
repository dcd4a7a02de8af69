//! The local state backend: `state/<stack>.json`, its journal and its lock.
//!
//! The lock is an OS file lock (`flock`) on `state/<stack>.lock`, so a
//! process that dies for any reason releases it; the file also records who
//! holds it, for the message another process shows.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use infra_core::{BackendError, LockInfo, StateBackend};

/// State files in a directory, one set per stack.
#[derive(Debug)]
pub struct LocalBackend {
    snapshot: PathBuf,
    journal: PathBuf,
    lock: PathBuf,
    /// The open lock file while we hold the lock (dropping it releases).
    held: Mutex<Option<File>>,
    /// The journal opened for appending, kept open across appends.
    journal_file: Mutex<Option<File>>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> BackendError {
    BackendError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// Files we create hold state that may reveal infrastructure: owner only.
fn private() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

impl LocalBackend {
    /// The backend for stack `name` with files in `dir` (usually `<root>/state`).
    pub fn new(dir: &Path, name: &str) -> Self {
        LocalBackend {
            snapshot: dir.join(format!("{name}.json")),
            journal: dir.join(format!("{name}.journal")),
            lock: dir.join(format!("{name}.lock")),
            held: Mutex::new(None),
            journal_file: Mutex::new(None),
        }
    }

    fn ensure_dir(&self) -> Result<(), BackendError> {
        let dir = self.snapshot.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))
    }

    fn read_lock_file(file: &mut File) -> Option<LockInfo> {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn sync_dir(path: &Path) {
    // Makes a rename durable; failure only weakens durability on exotic
    // filesystems, so it is not an error.
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

#[async_trait]
impl StateBackend for LocalBackend {
    fn describe(&self) -> String {
        self.snapshot.display().to_string()
    }

    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        self.ensure_dir()?;
        // Never deleted: unlinking a lock file races with a process that has
        // it open, so a free lock is an unlocked file.
        let mut file = private()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock)
            .map_err(|e| io_err("open", &self.lock, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = Self::read_lock_file(&mut file).unwrap_or_else(|| LockInfo {
                    id: "unknown".into(),
                    holder: "unknown".into(),
                    host: "unknown".into(),
                    pid: 0,
                    operation: "unknown".into(),
                    created: "unknown".into(),
                    expires: None,
                });
                return Err(BackendError::Locked(Box::new(holder)));
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &self.lock, e)),
        }
        let body = serde_json::to_vec_pretty(info).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&body))
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err("write", &self.lock, e))?;
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
        // A lock left by a dead process is an unheld file: nothing to take over.
        Ok(None)
    }

    async fn unlock(&self, _id: &str) -> Result<(), BackendError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = held.take() {
            file.set_len(0)
                .map_err(|e| io_err("clear", &self.lock, e))?;
            // Dropping the file releases the OS lock.
        }
        Ok(())
    }

    async fn lock_info(&self) -> Result<Option<LockInfo>, BackendError> {
        let Ok(mut file) = File::open(&self.lock) else {
            return Ok(None);
        };
        match file.try_lock_shared() {
            // Nobody holds it: whatever the file says is a leftover.
            Ok(()) => Ok(None),
            Err(_) => Ok(Self::read_lock_file(&mut file)),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<(), BackendError> {
        match self.lock_info().await? {
            None => Err(BackendError::Io(format!(
                "{} is not locked: nothing to unlock",
                self.describe()
            ))),
            Some(info) if info.id != id => Err(BackendError::Io(format!(
                "the lock id is {}, not {id}: check `infra force-unlock` was given the id from the lock message",
                info.id
            ))),
            Some(_) => {
                // The holder keeps its OS lock on the old file; removing the
                // path lets a new process lock a new file. That is what
                // "force" means, and why the CLI asks first.
                fs::remove_file(&self.lock).map_err(|e| io_err("remove", &self.lock, e))
            }
        }
    }

    async fn read_snapshot(&self) -> Result<Option<Vec<u8>>, BackendError> {
        match fs::read(&self.snapshot) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &self.snapshot, e)),
        }
    }

    async fn write_snapshot(&self, bytes: &[u8]) -> Result<(), BackendError> {
        self.ensure_dir()?;
        let tmp = self.snapshot.with_extension("json.tmp");
        let mut file = private()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| io_err("create", &tmp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_err("write", &tmp, e))?;
        fs::rename(&tmp, &self.snapshot).map_err(|e| io_err("replace", &self.snapshot, e))?;
        sync_dir(&self.snapshot);
        Ok(())
    }

    async fn append_journal(&self, bytes: &[u8]) -> Result<(), BackendError> {
        let mut guard = self.journal_file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            self.ensure_dir()?;
            let existed = self.journal.exists();
            let file = private()
                .append(true)
                .create(true)
                .open(&self.journal)
                .map_err(|e| io_err("open", &self.journal, e))?;
            if !existed {
                sync_dir(&self.journal);
            }
            *guard = Some(file);
        }
        let file = guard
            .as_mut()
            .ok_or_else(|| BackendError::Io("journal not open".into()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_err("append to", &self.journal, e))
    }

    async fn read_journal(&self) -> Result<Vec<u8>, BackendError> {
        match fs::read(&self.journal) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err("read", &self.journal, e)),
        }
    }

    async fn clear_journal(&self) -> Result<(), BackendError> {
        *self.journal_file.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match fs::remove_file(&self.journal) {
            Ok(()) => {
                sync_dir(&self.journal);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &self.journal, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> LockInfo {
        LockInfo {
            id: id.into(),
            holder: "alice".into(),
            host: "h".into(),
            pid: 1,
            operation: "apply".into(),
            created: "now".into(),
            expires: None,
        }
    }

    #[tokio::test]
    async fn second_locker_sees_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalBackend::new(dir.path(), "x");
        let b = LocalBackend::new(dir.path(), "x");
        a.lock(&info("one")).await.unwrap();
        match b.lock(&info("two")).await {
            Err(BackendError::Locked(holder)) => assert_eq!(holder.id, "one"),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(b.lock_info().await.unwrap().unwrap().id, "one");
        a.unlock("one").await.unwrap();
        assert!(b.lock_info().await.unwrap().is_none());
        b.lock(&info("two")).await.unwrap();
    }

    #[tokio::test]
    async fn snapshot_and_journal_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(&dir.path().join("state"), "x");
        assert!(b.read_snapshot().await.unwrap().is_none());
        b.write_snapshot(b"one").await.unwrap();
        b.write_snapshot(b"two").await.unwrap();
        assert_eq!(b.read_snapshot().await.unwrap().unwrap(), b"two");
        b.append_journal(b"a\n").await.unwrap();
        b.append_journal(b"b\n").await.unwrap();
        assert_eq!(b.read_journal().await.unwrap(), b"a\nb\n");
        b.clear_journal().await.unwrap();
        assert!(b.read_journal().await.unwrap().is_empty());
        let mode = fs::metadata(dir.path().join("state/x.json")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }
}
