//! The local state backend: `state/<stack>.json`, its journal and its lock.
//!
//! The lock is an OS file lock (`flock`) on `state/<stack>.lock`, so a
//! process that dies for any reason releases it; the file also records who
//! holds it, for the message another process shows.
//!
//! A snapshot path that is a symbolic link is followed: the file it leads
//! to is the one replaced, and its lock and journal live next to it, so
//! every link to one state shares one lock and the link itself stays.

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
    /// `<dir>/<stack>.json` as the stack names it, for messages.
    path: PathBuf,
    /// The file holding the snapshot: `path`, or where its links lead.
    snapshot: PathBuf,
    journal: PathBuf,
    lock: PathBuf,
    /// Why `path` leads to no file (a loop of links); every use fails so.
    unfollowed: Option<String>,
    /// `force_unlock` may remove a lock taken on another machine.
    force_foreign: bool,
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

/// How many links deep a snapshot path is followed (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Where `path` leads through symbolic links: itself when it is not one
/// (or does not exist), else the file the last link names, which need not
/// exist yet. Its directory is made absolute when it exists, for messages.
fn follow(path: &Path) -> Result<PathBuf, String> {
    let mut current = path.to_path_buf();
    for hops in 0..=MAX_LINKS {
        let is_link = fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            if hops == 0 {
                return Ok(current);
            }
            let dir = current
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .and_then(|d| fs::canonicalize(d).ok());
            return Ok(match (dir, current.file_name()) {
                (Some(dir), Some(file)) => dir.join(file),
                _ => current,
            });
        }
        let target = fs::read_link(&current)
            .map_err(|e| format!("cannot read the link {}: {e}", current.display()))?;
        // Relative to the link's directory; an absolute target replaces it.
        current = match current.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    Err(format!(
        "{} is a symbolic link that leads to no file (more than {MAX_LINKS} links: a loop?)",
        path.display()
    ))
}

/// This machine's name, as lock records carry it.
pub(crate) fn this_host() -> String {
    hostname::get().map_or_else(|_| "unknown".into(), |h| h.to_string_lossy().into_owned())
}

/// Whether process `pid` runs on this machine; `None` when this system
/// cannot tell (no `/proc`). A zombie holds no files: not running.
fn running(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    if pid == 0 {
        return Some(false);
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (command) S ...`: the state follows the last parenthesis.
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            Some(!matches!(state, Some('Z' | 'X')))
        }
        Err(_) => Some(Path::new(&format!("/proc/{pid}")).exists()),
    }
}

/// `alice on h (pid 1, running `apply` since T)`.
fn holder_text(info: &LockInfo) -> String {
    format!(
        "{} on {} (pid {}, running `{}` since {})",
        info.holder, info.host, info.pid, info.operation, info.created
    )
}

impl LocalBackend {
    /// The backend for stack `name` with files in `dir` (usually `<root>/state`).
    pub fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(format!("{name}.json"));
        let (snapshot, unfollowed) = match follow(&path) {
            Ok(snapshot) => (snapshot, None),
            Err(why) => (path.clone(), Some(why)),
        };
        let file = snapshot.file_name().map_or_else(
            || format!("{name}.json"),
            |f| f.to_string_lossy().into_owned(),
        );
        let stem = file.strip_suffix(".json").unwrap_or(&file);
        let beside = |ext: &str| snapshot.with_file_name(format!("{stem}.{ext}"));
        LocalBackend {
            journal: beside("journal"),
            lock: beside("lock"),
            path,
            snapshot,
            unfollowed,
            force_foreign: false,
            held: Mutex::new(None),
            journal_file: Mutex::new(None),
        }
    }

    /// With `force`, [`StateBackend::force_unlock`] also removes a lock
    /// taken on another machine, whose holder this one cannot check
    /// (`infra force-unlock --force`). A lock whose holder is alive on
    /// this machine is never removed.
    #[must_use]
    pub fn force_foreign_unlock(mut self, force: bool) -> Self {
        self.force_foreign = force;
        self
    }

    /// Fails when the snapshot path leads to no file.
    fn followed(&self) -> Result<(), BackendError> {
        match &self.unfollowed {
            Some(why) => Err(BackendError::Io(why.clone())),
            None => Ok(()),
        }
    }

    fn ensure_dir(&self) -> Result<(), BackendError> {
        // The stack's state directory; a link's target directory must exist.
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))
    }

    fn read_lock_file(file: &mut File) -> Option<LockInfo> {
        let mut text = String::new();
        file.seek(SeekFrom::Start(0)).ok()?;
        file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn not_locked(&self) -> BackendError {
        BackendError::Io(format!(
            "{} is not locked: nothing to unlock",
            self.describe()
        ))
    }

    fn refuse(&self, id: &str, why: String, hint: String) -> BackendError {
        BackendError::Io(format!(
            "refusing to remove lock {id} of {}: {why}\n  hint: {hint}",
            self.describe()
        ))
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
        self.path.display().to_string()
    }

    async fn lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        self.followed()?;
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

    /// Removes lock `id` only when its holder is provably gone: nobody
    /// holds the OS lock and the recorded process is not running here.
    /// A holder alive on this machine is never dispossessed; one on another
    /// machine cannot be checked from here, so its lock is removed only
    /// when forced ([`LocalBackend::force_foreign_unlock`]).
    async fn force_unlock(&self, id: &str) -> Result<(), BackendError> {
        self.followed()?;
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.lock) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.not_locked()),
            Err(e) => return Err(io_err("open", &self.lock, e)),
        };
        // Held by us from here on when free, so nobody takes it meanwhile.
        let free = match file.try_lock() {
            Ok(()) => true,
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &self.lock, e)),
        };
        let lock = self.lock.display();
        let Some(info) = Self::read_lock_file(&mut file) else {
            if free {
                return Err(self.not_locked());
            }
            return Err(self.refuse(
                id,
                format!("{lock} is held by a process that has not written who it is yet"),
                "run the command again in a moment, to see who holds it".into(),
            ));
        };
        if info.id != id {
            return Err(BackendError::Io(format!(
                "the lock id is {}, not {id}: check `infra force-unlock` was given the id from the lock message",
                info.id
            )));
        }
        let here = this_host();
        let holder = holder_text(&info);
        let pid = info.pid;
        if info.host == here && here != "unknown" {
            let alive = running(pid);
            if !free && alive == Some(false) {
                return Err(self.refuse(
                    id,
                    format!(
                        "it was taken by {holder}, which has exited, but another process on this machine still holds {lock} open (one it started?), so a run may still be changing the state"
                    ),
                    format!(
                        "find that process with `fuser -v {lock}` and stop it, or wait for it to exit: the lock is released with it"
                    ),
                ));
            }
            if !free {
                return Err(self.refuse(
                    id,
                    format!(
                        "it is held by {holder}, which is still running on this machine; removing it would let a second run change the same state"
                    ),
                    format!(
                        "wait for that run to finish, or stop it (`kill {pid}`): its lock is released when it exits, with no force-unlock needed"
                    ),
                ));
            }
            if alive == Some(true) {
                return Err(self.refuse(
                    id,
                    format!("it was taken by {holder}, and pid {pid} is still running on this machine"),
                    format!(
                        "wait for that run to finish, or stop it (`kill {pid}`); if pid {pid} is not that infra run (pids are reused), nothing needs removing: the lock is not held, and the next run takes it"
                    ),
                ));
            }
        } else if !self.force_foreign {
            return Err(self.refuse(
                id,
                format!(
                    "it was taken by {holder}, another machine than this one ({here}), which cannot check whether that run is still going"
                ),
                format!(
                    "make sure it has stopped (is pid {pid} still running on {}?), then pass --force: `infra force-unlock {id} --force`",
                    info.host
                ),
            ));
        }
        if free {
            // The holder is gone (or forced): empty the record under the OS
            // lock; the file stays, as `lock` expects.
            file.set_len(0)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_err("clear", &self.lock, e))
        } else {
            // Forced, and held from another machine: the holder keeps its
            // OS lock on the old file; removing the path lets a new process
            // lock a new file. That is what `--force` means.
            drop(file);
            fs::remove_file(&self.lock).map_err(|e| io_err("remove", &self.lock, e))?;
            sync_dir(&self.lock);
            Ok(())
        }
    }

    async fn read_snapshot(&self) -> Result<Option<Vec<u8>>, BackendError> {
        self.followed()?;
        match fs::read(&self.snapshot) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &self.snapshot, e)),
        }
    }

    async fn write_snapshot(&self, bytes: &[u8]) -> Result<(), BackendError> {
        self.followed()?;
        self.ensure_dir()?;
        // Beside the file the links lead to, so the rename replaces that
        // file and leaves the links in place.
        let mut tmp = self.snapshot.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
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
        self.followed()?;
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

    /// A lock record of process `pid` on `host`.
    fn record(id: &str, host: &str, pid: u32) -> LockInfo {
        LockInfo {
            host: host.into(),
            pid,
            ..info(id)
        }
    }

    /// The pid of a process that has exited (and been reaped).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// Leaves `dir/x.lock` as a process that died holding it would.
    fn leftover(dir: &Path, lock: &LockInfo) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("x.lock"), serde_json::to_vec(lock).unwrap()).unwrap();
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

    #[tokio::test]
    async fn force_unlock_never_takes_the_lock_of_a_live_holder_here() {
        let dir = tempfile::tempdir().unwrap();
        let holder = LocalBackend::new(dir.path(), "x");
        holder
            .lock(&record("one", &this_host(), std::process::id()))
            .await
            .unwrap();
        for force in [false, true] {
            let admin = LocalBackend::new(dir.path(), "x").force_foreign_unlock(force);
            let e = admin.force_unlock("one").await.unwrap_err().to_string();
            assert!(
                e.contains("refusing to remove lock one")
                    && e.contains(&format!("pid {}", std::process::id()))
                    && e.contains("still running on this machine")
                    && e.contains("`apply`"),
                "{e}"
            );
        }
        // Still held, and still the holder's record.
        let other = LocalBackend::new(dir.path(), "x");
        assert!(
            matches!(other.lock(&info("two")).await, Err(BackendError::Locked(h)) if h.id == "one")
        );
    }

    #[tokio::test]
    async fn force_unlock_refuses_a_lock_held_open_after_its_pid_exited() {
        // The recorded process is gone, but the OS lock is held: by a
        // process it started, say. That one may still be changing state.
        let dir = tempfile::tempdir().unwrap();
        let holder = LocalBackend::new(dir.path(), "x");
        holder
            .lock(&record("one", &this_host(), dead_pid()))
            .await
            .unwrap();
        let e = LocalBackend::new(dir.path(), "x")
            .force_unlock("one")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("still holds") && e.contains("fuser -v"), "{e}");
        assert_eq!(holder.lock_info().await.unwrap().unwrap().id, "one");
    }

    #[tokio::test]
    async fn force_unlock_clears_the_lock_of_a_dead_holder_here() {
        let dir = tempfile::tempdir().unwrap();
        leftover(dir.path(), &record("one", &this_host(), dead_pid()));
        let b = LocalBackend::new(dir.path(), "x");
        let e = b.force_unlock("two").await.unwrap_err().to_string();
        assert!(e.contains("the lock id is one, not two"), "{e}");
        b.force_unlock("one").await.unwrap();
        assert_eq!(fs::read(dir.path().join("x.lock")).unwrap(), b"");
        let e = b.force_unlock("one").await.unwrap_err().to_string();
        assert!(e.contains("not locked"), "{e}");
        b.lock(&info("two")).await.unwrap();
    }

    #[tokio::test]
    async fn force_unlock_refuses_a_leftover_whose_pid_still_runs_here() {
        let dir = tempfile::tempdir().unwrap();
        leftover(dir.path(), &record("one", &this_host(), std::process::id()));
        let b = LocalBackend::new(dir.path(), "x").force_foreign_unlock(true);
        let e = b.force_unlock("one").await.unwrap_err().to_string();
        assert!(e.contains("is still running on this machine"), "{e}");
        assert!(!fs::read(dir.path().join("x.lock")).unwrap().is_empty());
    }

    #[tokio::test]
    async fn force_unlock_of_another_machines_lock_needs_force() {
        for held in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let lock = record("one", "elsewhere.example", 4242);
            let holder = LocalBackend::new(dir.path(), "x");
            if held {
                holder.lock(&lock).await.unwrap();
            } else {
                leftover(dir.path(), &lock);
            }
            let e = LocalBackend::new(dir.path(), "x")
                .force_unlock("one")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("alice on elsewhere.example (pid 4242")
                    && e.contains("another machine")
                    && e.contains("infra force-unlock one --force"),
                "{e}"
            );
            LocalBackend::new(dir.path(), "x")
                .force_foreign_unlock(true)
                .force_unlock("one")
                .await
                .unwrap();
            // The lock can be taken again.
            let next = LocalBackend::new(dir.path(), "x");
            next.lock(&info("two")).await.unwrap();
            assert_eq!(
                LocalBackend::new(dir.path(), "x")
                    .lock_info()
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                "two"
            );
        }
    }

    #[tokio::test]
    async fn force_unlock_of_no_lock_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "x");
        let e = b.force_unlock("one").await.unwrap_err().to_string();
        assert!(e.contains("not locked"), "{e}");
        b.lock(&info("one")).await.unwrap();
        b.unlock("one").await.unwrap();
        let e = b.force_unlock("one").await.unwrap_err().to_string();
        assert!(e.contains("not locked"), "{e}");
    }

    #[tokio::test]
    async fn a_linked_snapshot_is_written_through_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let shared = dir.path().join("shared");
        fs::create_dir_all(&state).unwrap();
        fs::create_dir_all(&shared).unwrap();
        // Dangling at first: the target is made by the first write.
        std::os::unix::fs::symlink("../shared/prod.json", state.join("x.json")).unwrap();
        std::os::unix::fs::symlink(shared.join("prod.json"), state.join("y.json")).unwrap();
        let x = LocalBackend::new(&state, "x");
        let y = LocalBackend::new(&state, "y");
        assert_eq!(x.describe(), state.join("x.json").display().to_string());
        assert!(x.read_snapshot().await.unwrap().is_none());
        x.lock(&info("one")).await.unwrap();
        // Both links share the target's lock.
        assert!(
            matches!(y.lock(&info("two")).await, Err(BackendError::Locked(h)) if h.id == "one")
        );
        x.write_snapshot(b"one").await.unwrap();
        x.write_snapshot(b"two").await.unwrap();
        x.append_journal(b"a\n").await.unwrap();
        for link in ["x.json", "y.json"] {
            let meta = fs::symlink_metadata(state.join(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{link} was replaced");
        }
        assert_eq!(fs::read(shared.join("prod.json")).unwrap(), b"two");
        assert_eq!(y.read_snapshot().await.unwrap().unwrap(), b"two");
        assert_eq!(y.read_journal().await.unwrap(), b"a\n");
        let mut names: Vec<String> = fs::read_dir(&shared)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["prod.journal", "prod.json", "prod.lock"]);
        let mut names: Vec<String> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["x.json", "y.json"]);
    }

    #[tokio::test]
    async fn a_loop_of_links_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("y.json", dir.path().join("x.json")).unwrap();
        std::os::unix::fs::symlink("x.json", dir.path().join("y.json")).unwrap();
        let b = LocalBackend::new(dir.path(), "x");
        for e in [
            b.lock(&info("one")).await.unwrap_err(),
            b.read_snapshot().await.unwrap_err(),
            b.write_snapshot(b"one").await.unwrap_err(),
        ] {
            assert!(e.to_string().contains("a loop?"), "{e}");
        }
        let meta = fs::symlink_metadata(dir.path().join("x.json")).unwrap();
        assert!(meta.file_type().is_symlink());
    }
}
