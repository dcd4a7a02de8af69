//! The on-disk layout of a simulated cloud, and the functions tests use to
//! inspect it: [`ledger`] and [`live_resources`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use infra_core::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format version of resource files and log records.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The folder of resource files inside a sim dir.
const RESOURCES: &str = "resources";
/// The change feed: one line per real create or delete.
pub(crate) const LOG: &str = "ledger.log";
/// The materialized ledger.
const LEDGER: &str = "ledger.json";
/// Orders the writers of `ledger.json` across processes.
const LEDGER_LOCK: &str = "ledger.lock";

/// The cloud id of the resource a create with this idempotency token makes.
pub(crate) fn id_for_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut id = String::from("sim-");
    for byte in &digest[..8] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// A fresh secret for a created resource: unpredictable from anything infra
/// writes (the token, the id).
pub(crate) fn new_secret(token: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{token}:{}:{}", now.as_nanos(), std::process::id());
    let digest = Sha256::digest(seed.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` has the shape of a sim id, so it is safe as a file name.
pub(crate) fn is_sim_id(id: &str) -> bool {
    id.strip_prefix("sim-")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The folder holding one file per cloud resource.
pub(crate) fn resources_dir(dir: &Path) -> PathBuf {
    dir.join(RESOURCES)
}

/// The file of the resource with this id.
pub(crate) fn resource_path(dir: &Path, id: &str) -> PathBuf {
    resources_dir(dir).join(format!("{id}.json"))
}

/// One cloud resource, `<dir>/resources/<id>.json`: the truth about it,
/// including how often it was really created and deleted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ResourceFile {
    pub version: u32,
    pub id: String,
    pub address: String,
    pub token: String,
    pub inputs: Value,
    pub live: bool,
    #[serde(default)]
    pub creates: u64,
    #[serde(default)]
    pub deletes: u64,
    /// The secret this simulated cloud generated at create (the
    /// `secret` output, which infra must never write in plaintext).
    #[serde(default)]
    pub secret: String,
}

impl ResourceFile {
    /// This resource's contribution to the ledger.
    pub fn tally(&self) -> Tally {
        Tally {
            id: self.id.clone(),
            address: self.address.clone(),
            creates: self.creates,
            deletes: self.deletes,
            live: self.live,
        }
    }
}

/// The ledger counts of one cloud resource; also the line format of the log,
/// where the last line of an id wins.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub id: String,
    pub address: String,
    pub creates: u64,
    pub deletes: u64,
    pub live: bool,
}

/// What the ledger says about one address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Real creates at this address (idempotent replays not counted).
    pub creates: u64,
    /// Real deletes at this address (deletes of what was gone not counted).
    pub deletes: u64,
    /// Whether a resource at this address exists in the cloud now.
    pub live: bool,
}

/// A resource that exists in the simulated cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveResource {
    /// Its cloud id, `sim-` and 16 hex digits.
    pub id: String,
    /// The address it was created for.
    pub address: String,
    /// Its inputs as the cloud has them (secrets as digests).
    pub inputs: Value,
}

/// The ledger aggregated per address from per-resource tallies, updated one
/// tally at a time.
#[derive(Debug, Default)]
pub(crate) struct LedgerView {
    by_id: HashMap<String, Tally>,
    by_address: BTreeMap<String, Aggregate>,
}

#[derive(Debug, Default)]
struct Aggregate {
    ids: u64,
    creates: u64,
    deletes: u64,
    live_ids: u64,
}

impl LedgerView {
    /// Records the latest tally of one resource, replacing its previous one.
    pub fn set(&mut self, tally: Tally) {
        if let Some(old) = self.by_id.remove(&tally.id)
            && let Some(agg) = self.by_address.get_mut(&old.address)
        {
            agg.ids -= 1;
            agg.creates -= old.creates;
            agg.deletes -= old.deletes;
            agg.live_ids -= u64::from(old.live);
            if agg.ids == 0 {
                self.by_address.remove(&old.address);
            }
        }
        let agg = self.by_address.entry(tally.address.clone()).or_default();
        agg.ids += 1;
        agg.creates += tally.creates;
        agg.deletes += tally.deletes;
        agg.live_ids += u64::from(tally.live);
        self.by_id.insert(tally.id.clone(), tally);
    }

    /// The ledger per address.
    pub fn entries(&self) -> BTreeMap<String, LedgerEntry> {
        self.by_address
            .iter()
            .map(|(address, agg)| {
                let entry = LedgerEntry {
                    creates: agg.creates,
                    deletes: agg.deletes,
                    live: agg.live_ids > 0,
                };
                (address.clone(), entry)
            })
            .collect()
    }
}

/// Computes the ledger of the sim dir `dir` (e.g. `<root>/.sim`) from its
/// resource files, the truth, and rewrites `<dir>/ledger.json` to match.
///
/// A dir that does not exist has an empty ledger (and gets no file). A
/// corrupt resource file is an error naming it.
pub fn ledger(dir: &Path) -> io::Result<BTreeMap<String, LedgerEntry>> {
    if !dir.exists() {
        return Ok(BTreeMap::new());
    }
    let lock = lock_ledger(dir)?;
    let mut view = LedgerView::default();
    for file in scan(dir)? {
        view.set(file.tally());
    }
    let entries = view.entries();
    write_ledger(dir, &entries)?;
    drop(lock);
    Ok(entries)
}

/// The resources that exist in the simulated cloud at `dir`, sorted by
/// address, then id. A dir that does not exist holds none.
pub fn live_resources(dir: &Path) -> io::Result<Vec<LiveResource>> {
    let mut live: Vec<LiveResource> = scan(dir)?
        .into_iter()
        .filter(|f| f.live)
        .map(|f| LiveResource {
            id: f.id,
            address: f.address,
            inputs: f.inputs,
        })
        .collect();
    live.sort_by(|a, b| (&a.address, &a.id).cmp(&(&b.address, &b.id)));
    Ok(live)
}

/// Reads every resource file of the dir.
pub(crate) fn scan(dir: &Path) -> io::Result<Vec<ResourceFile>> {
    let folder = resources_dir(dir);
    let entries = match fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context(e, "cannot list", &folder)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| context(e, "cannot list", &folder))?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        // Temp files of interrupted writes start with a dot and are skipped.
        if !is_sim_id(id) {
            continue;
        }
        if let Some(file) = read_resource(dir, id)? {
            files.push(file);
        }
    }
    Ok(files)
}

/// Reads the resource file of `id`; `None` when there is none.
pub(crate) fn read_resource(dir: &Path, id: &str) -> io::Result<Option<ResourceFile>> {
    let path = resource_path(dir, id);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(context(e, "cannot read", &path)),
    };
    let file: ResourceFile = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "corrupt sim resource file {}: {e}; delete it or restore it",
                path.display()
            ),
        )
    })?;
    if file.version > FORMAT_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "sim resource file {} has format version {}, newer than this infra-sim's {FORMAT_VERSION}",
                path.display(),
                file.version
            ),
        ));
    }
    if file.id != id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "corrupt sim resource file {}: it holds id `{}`",
                path.display(),
                file.id
            ),
        ));
    }
    Ok(Some(file))
}

/// Writes a resource file atomically.
pub(crate) fn write_resource(dir: &Path, file: &ResourceFile) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(file).map_err(io::Error::other)?;
    write_atomic(&resource_path(dir, &file.id), &bytes)
}

/// Rewrites `<dir>/ledger.json` atomically. Callers hold [`lock_ledger`] so
/// that writers in different processes cannot reorder their renames.
pub(crate) fn write_ledger(dir: &Path, entries: &BTreeMap<String, LedgerEntry>) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(entries).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(&dir.join(LEDGER), &bytes)
}

/// Takes the exclusive lock that orders writers of `ledger.json`; released
/// when the returned file is dropped.
pub(crate) fn lock_ledger(dir: &Path) -> io::Result<File> {
    let path = dir.join(LEDGER_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| context(e, "cannot open", &path))?;
    fs4::FileExt::lock(&file).map_err(|e| context(e, "cannot lock", &path))?;
    Ok(file)
}

/// Writes through a temp file in the same folder and a rename, so readers
/// (in any process) see the old or the new content, never a mix. No fsync:
/// the sim models a cloud, and `kill -9` does not lose the page cache.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(context(e, "cannot write", &tmp));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        context(e, "cannot write", path)
    })
}

/// An I/O error with the operation and path in its message.
pub(crate) fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_file_safe() {
        let id = id_for_token("tok-1");
        assert_eq!(id, id_for_token("tok-1"));
        assert_ne!(id, id_for_token("tok-2"));
        assert!(is_sim_id(&id), "{id}");
        assert!(!is_sim_id("sim-../../etc/passwd"));
        assert!(!is_sim_id("i-0123456789abcdef"));
    }

    #[test]
    fn view_replaces_a_resource_tally() {
        let tally = |id: &str, creates, deletes, live| Tally {
            id: id.into(),
            address: "sim_resource.a".into(),
            creates,
            deletes,
            live,
        };
        let mut view = LedgerView::default();
        view.set(tally("sim-1", 1, 0, true));
        view.set(tally("sim-2", 1, 0, true));
        view.set(tally("sim-1", 1, 1, false));
        let entry = view.entries()["sim_resource.a"];
        assert_eq!(
            entry,
            LedgerEntry {
                creates: 2,
                deletes: 1,
                live: true
            }
        );
    }
}
