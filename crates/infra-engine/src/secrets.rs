//! Keyed hashes of sensitive values: enough to detect a change, useless to
//! recover the value.
//!
//! The key comes from `INFRA_SECRET_KEY` when set (teams sharing state share
//! it), else from `<root>/state/.secret-key`, created with 32 random bytes
//! on first use, mode 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use infra_core::{Schema, Secret, Value};
use sha2::Sha256;

use crate::EngineError;

/// The HMAC key for sensitive values.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from raw bytes (tests, embedders with their own key store).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        SecretKey(bytes.to_vec())
    }

    /// The project's key: `INFRA_SECRET_KEY`, else the key file under
    /// `<root>/state/`, created when missing.
    pub fn for_project(root: &Path, env_key: Option<String>) -> Result<Self, EngineError> {
        if let Some(key) = Self::existing(root, env_key)? {
            return Ok(key);
        }
        let dir = root.join("state");
        let path = dir.join(".secret-key");
        // Written whole to a temporary file, then linked into place: the
        // link fails if another process got there first, and readers never
        // see a half-written key.
        let key: [u8; 32] = rand::random();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, "create", e))?;
        let tmp = dir.join(format!(
            ".secret-key.{}.{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(hex.as_bytes()).and_then(|()| f.sync_all()));
        let linked = written.and_then(|()| fs::hard_link(&tmp, &path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(SecretKey(hex.into_bytes())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = fs::read(&path).map_err(|e| EngineError::io(&path, "read", e))?;
                Ok(SecretKey(bytes))
            }
            Err(e) => Err(EngineError::io(&path, "create", e)),
        }
    }

    /// The project's key if there is one, without creating it (reading a
    /// saved plan must not invent a key that cannot have signed it).
    pub fn existing(root: &Path, env_key: Option<String>) -> Result<Option<Self>, EngineError> {
        if let Some(k) = env_key.filter(|k| !k.is_empty()) {
            return Ok(Some(SecretKey(k.into_bytes())));
        }
        let path = root.join("state").join(".secret-key");
        match fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() => Ok(Some(SecretKey(bytes))),
            Ok(_) => Err(EngineError::io(
                &path,
                "use",
                std::io::Error::other(
                    "the key file is empty: restore it, or remove it to start a new key (sensitive inputs then plan as changed once)",
                ),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::io(&path, "read", e)),
        }
    }

    fn hmac(&self, domain: &[u8], bytes: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("hmac accepts keys of any length");
        mac.update(domain);
        mac.update(bytes);
        mac
    }

    /// `hmac-sha256:<hex>` of `bytes`, for the purpose `domain` names.
    pub(crate) fn mac(&self, domain: &[u8], bytes: &[u8]) -> String {
        let digest = self.hmac(domain, bytes).finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("hmac-sha256:{hex}")
    }

    /// Whether `mac` is this key's MAC of `bytes` for `domain`, compared
    /// in constant time.
    pub(crate) fn verify(&self, domain: &[u8], bytes: &[u8], mac: &str) -> bool {
        let Some(hex) = mac.strip_prefix("hmac-sha256:") else {
            return false;
        };
        if hex.len() != 64 || !hex.is_ascii() {
            return false;
        }
        let Ok(tag) = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            return false;
        };
        self.hmac(domain, bytes).verify_slice(&tag).is_ok()
    }

    /// Wraps a plaintext value as a secret with its keyed digest.
    pub fn seal(&self, plaintext: Value) -> Value {
        if let Value::Sensitive(_) | Value::Unknown = plaintext {
            return plaintext;
        }
        let canonical = serde_json::to_vec(&plaintext).unwrap_or_default();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("hmac accepts keys of any length");
        mac.update(&canonical);
        let digest: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Value::Sensitive(Secret::new(format!("hmac-sha256:{digest}"), plaintext))
    }
}

/// What state records of a resource's outputs: the cloud's `outputs` with
/// the resource's `id`, and each output the schema marks sensitive sealed,
/// so its plaintext stays in memory (for dependents in this run) and only
/// its digest is ever written.
pub(crate) fn recorded_outputs(
    id: &str,
    mut outputs: Value,
    schema: Option<&Schema>,
    key: &SecretKey,
) -> Value {
    if let Value::Map(m) = &mut outputs {
        m.insert("id".into(), Value::String(id.to_owned()));
        for output in schema.map_or(&[][..], |s| &s.outputs) {
            if output.sensitive
                && let Some(v) = m.get_mut(&output.name)
                && !matches!(v, Value::Null)
            {
                *v = key.seal(std::mem::take(v));
            }
        }
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_digest_and_no_plaintext() {
        let k = SecretKey::from_bytes(b"k");
        let a = k.seal("hunter2".into());
        assert_eq!(a, k.seal("hunter2".into()));
        assert_ne!(a, k.seal("hunter3".into()));
        assert_ne!(a, SecretKey::from_bytes(b"other").seal("hunter2".into()));
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("hmac-sha256:") && !json.contains("hunter2"));
    }

    #[test]
    fn sensitive_outputs_are_recorded_sealed_with_the_id() {
        let k = SecretKey::from_bytes(b"k");
        let schema = Schema::new("t")
            .output(infra_core::Output::new(
                "arn",
                infra_core::Type::String,
                "a",
            ))
            .output(infra_core::Output::new("value", infra_core::Type::String, "v").sensitive());
        let outputs: Value = [
            ("arn", Value::from("arn:x")),
            ("value", Value::from("hunter2")),
        ]
        .into_iter()
        .collect();
        let recorded = recorded_outputs("i-1", outputs, Some(&schema), &k);
        assert_eq!(recorded.get("id"), Some(&Value::from("i-1")));
        assert_eq!(recorded.get("arn"), Some(&Value::from("arn:x")));
        assert_eq!(recorded.get("value"), Some(&k.seal("hunter2".into())));
        let Some(Value::Sensitive(s)) = recorded.get("value") else {
            panic!("sealed")
        };
        assert_eq!(
            s.plaintext(),
            Some(&Value::from("hunter2")),
            "kept in memory"
        );
        let json = serde_json::to_string(&recorded).unwrap();
        assert!(!json.contains("hunter2"), "never written: {json}");
    }

    #[test]
    fn key_file_is_created_private_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::for_project(dir.path(), None).unwrap();
        let b = SecretKey::for_project(dir.path(), None).unwrap();
        assert_eq!(a.0, b.0);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("state/.secret-key")).unwrap();
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn racing_creators_agree_and_an_empty_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SecretKey::for_project(dir.path(), None).unwrap().0))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| k == &keys[0] && k.len() == 64));
        let empty = tempfile::tempdir().unwrap();
        fs::create_dir_all(empty.path().join("state")).unwrap();
        fs::write(empty.path().join("state/.secret-key"), b"").unwrap();
        let err = SecretKey::for_project(empty.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty") && err.contains("remove it"), "{err}");
    }
}
