//! The state document: what infra believes exists, as versioned JSON.

use std::collections::BTreeMap;

use infra_core::{Address, Existing, Value};
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// The state format this build writes and the newest it reads.
///
/// Version 2 escapes map keys that start with `$` (see [`Value`]), so user
/// data can never read back as an unknown or a secret; version 1 states are
/// migrated when read (their keys were written as they are).
pub const STATE_VERSION: u32 = 2;

/// A stack's state: every resource infra manages, with what it applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format version; a newer one is refused, never overwritten.
    pub version: u32,
    /// Fixed when the state is first written; binds plans and journals to it.
    pub lineage: String,
    /// Incremented on every write.
    pub serial: u64,
    /// The resources by address; on disk a list sorted by address, in
    /// which an address that appears twice is refused.
    #[serde(serialize_with = "as_list", deserialize_with = "from_list")]
    resources: BTreeMap<Address, ResourceState>,
    /// Objects replaced by create-before-destroy whose deletion has not
    /// finished yet: still in the cloud, still ours to delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
}

/// One managed resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// `<type>.<name>`.
    pub address: Address,
    /// The cloud's identifier.
    pub id: String,
    /// Inputs as applied; sensitive values only as keyed hashes.
    pub inputs: Value,
    /// Outputs as last observed.
    pub outputs: Value,
    /// Resources this one depended on when applied: the order of deletion.
    #[serde(default)]
    pub dependencies: Vec<Address>,
    /// Recorded from the config so that deleting the config block cannot
    /// bypass it.
    #[serde(default)]
    pub prevent_destroy: bool,
    /// RFC 3339 time of creation.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// A replaced object awaiting deletion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    /// The address the object was replaced at.
    pub address: Address,
    /// The cloud's identifier of the old object.
    pub id: String,
    /// Its inputs.
    pub inputs: Value,
    /// Its outputs.
    pub outputs: Value,
    /// What it depended on, for deletion order.
    #[serde(default)]
    pub dependencies: Vec<Address>,
}

/// The largest serial a state may have: far beyond any number of writes,
/// and exact in the JSON numbers of other tools (2^53).
pub const MAX_SERIAL: u64 = 1 << 53;

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new() -> Self {
        State {
            version: STATE_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            resources: BTreeMap::new(),
            deposed: Vec::new(),
        }
    }

    /// The resource at an address.
    pub fn get(&self, address: &Address) -> Option<&ResourceState> {
        self.resources.get(address)
    }

    /// The resource at an address, mutably.
    pub fn get_mut(&mut self, address: &Address) -> Option<&mut ResourceState> {
        self.resources.get_mut(address)
    }

    /// Inserts or replaces the resource at its address.
    pub fn put(&mut self, resource: ResourceState) {
        self.resources.insert(resource.address.clone(), resource);
    }

    /// Removes and returns the resource at an address.
    pub fn remove(&mut self, address: &Address) -> Option<ResourceState> {
        self.resources.remove(address)
    }

    /// Every resource, sorted by address.
    pub fn resources(&self) -> impl ExactSizeIterator<Item = &ResourceState> + Clone {
        self.resources.values()
    }

    /// Parses a state document, refusing anything it cannot trust: invalid
    /// JSON, a newer format, duplicate addresses. `origin` names the file
    /// or object in messages.
    pub fn decode(bytes: &[u8], origin: &str) -> Result<State, EngineError> {
        #[derive(Deserialize)]
        struct Probe {
            version: Option<u32>,
        }
        let corrupt = |e: serde_json::Error| EngineError::CorruptState {
            origin: origin.to_owned(),
            reason: format!("line {} column {}: {e}", e.line(), e.column()),
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(corrupt)?;
        match probe.version {
            Some(v) if v > STATE_VERSION => {
                return Err(EngineError::NewerState {
                    origin: origin.to_owned(),
                    found: v,
                    supported: STATE_VERSION,
                });
            }
            None => {
                return Err(EngineError::CorruptState {
                    origin: origin.to_owned(),
                    reason: "it has no `version` field".into(),
                });
            }
            Some(0) => {
                return Err(EngineError::CorruptState {
                    origin: origin.to_owned(),
                    reason: "format version 0 does not exist (versions start at 1)".into(),
                });
            }
            Some(_) => {}
        }
        let mut state: State = if probe.version == Some(1) {
            let mut doc: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
            escape_v1_keys(&mut doc);
            serde_json::from_value(doc).map_err(corrupt)?
        } else {
            serde_json::from_slice(bytes).map_err(corrupt)?
        };
        state.version = STATE_VERSION;
        // Every write adds one; a serial this large was not written by infra.
        if state.serial > MAX_SERIAL {
            return Err(EngineError::CorruptState {
                origin: origin.to_owned(),
                reason: format!("serial {} is out of range", state.serial),
            });
        }
        Ok(state)
    }

    /// A cycle in the recorded dependencies, as the path around it. Not
    /// refused when reading: a state is still readable with one (a crash
    /// between updates can record one), only its deletes cannot be ordered.
    pub(crate) fn dependency_cycle(&self) -> Option<Vec<Address>> {
        // Iterative depth-first search; `on_path` holds the current chain.
        let mut done: std::collections::BTreeSet<&Address> = Default::default();
        for start in self.resources.keys() {
            if done.contains(start) {
                continue;
            }
            let mut on_path: Vec<&Address> = vec![start];
            let mut next: Vec<usize> = vec![0];
            while let (Some(&at), Some(i)) = (on_path.last(), next.last_mut()) {
                let deps = &self.resources[at].dependencies;
                match deps.get(*i) {
                    Some(d) => {
                        *i += 1;
                        if let Some(pos) = on_path.iter().position(|a| *a == d) {
                            let mut cycle: Vec<Address> =
                                on_path[pos..].iter().map(|a| (*a).clone()).collect();
                            cycle.push(d.clone());
                            return Some(cycle);
                        }
                        if let Some((key, _)) = self.resources.get_key_value(d)
                            && !done.contains(key)
                        {
                            on_path.push(key);
                            next.push(0);
                        }
                    }
                    None => {
                        done.insert(at);
                        on_path.pop();
                        next.pop();
                    }
                }
            }
        }
        None
    }

    /// Serializes the state, pretty-printed so that diffs of it are readable.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl ResourceState {
    /// The view of this resource a provider gets.
    pub fn existing(&self) -> Existing {
        Existing {
            id: self.id.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

impl Deposed {
    /// The view of this object a provider gets.
    pub fn existing(&self) -> Existing {
        Existing {
            id: self.id.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

fn as_list<S: serde::Serializer>(
    resources: &BTreeMap<Address, ResourceState>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(resources.values())
}

fn from_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Address, ResourceState>, D::Error> {
    let mut map = BTreeMap::new();
    for r in Vec::<ResourceState>::deserialize(d)? {
        let address = r.address.clone();
        if map.insert(address.clone(), r).is_some() {
            return Err(serde::de::Error::custom(format!(
                "the address `{address}` appears twice"
            )));
        }
    }
    Ok(map)
}

/// Rewrites a version-1 document in the version-2 encoding: every map key
/// starting with `$` gets one more, except the markers version 1 wrote
/// (`{"$unknown": true}`, `{"$sensitive": "digest"}`), which it read as
/// markers too.
pub(crate) fn escape_v1_keys(doc: &mut serde_json::Value) {
    use serde_json::Value as J;
    match doc {
        J::Array(items) => items.iter_mut().for_each(escape_v1_keys),
        J::Object(map) => {
            let marker = map.len() == 1
                && matches!(
                    map.iter().next(),
                    Some((k, J::Bool(true))) if k == "$unknown"
                )
                || map.len() == 1
                    && matches!(
                        map.iter().next(),
                        Some((k, J::String(_))) if k == "$sensitive"
                    );
            if marker {
                return;
            }
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                escape_v1_keys(&mut v);
                let k = if k.starts_with('$') {
                    format!("${k}")
                } else {
                    k
                };
                map.insert(k, v);
            }
        }
        _ => {}
    }
}

/// Now, as RFC 3339 UTC with seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_newer_and_corrupt_states() {
        let newer = br#"{"version": 99, "lineage": "x", "serial": 1, "resources": []}"#;
        let err = State::decode(newer, "state/x.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer"), "{err}");
        let err = State::decode(b"{\"version\": 1, \"lin", "state/x.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("state/x.json") && err.contains("line 1"),
            "{err}"
        );
    }

    /// A state as version 1 wrote it (infra before the markers were
    /// escaped): its digests stay secrets, its user keys become data.
    #[test]
    fn version_1_states_are_migrated() {
        let v1 = br#"{
  "version": 1,
  "lineage": "l",
  "serial": 4,
  "resources": [
    {
      "address": "sim_resource.a",
      "id": "i",
      "inputs": {
        "password": {"$sensitive": "hmac-sha256:00ff"},
        "payload": {"$ref": "x", "tags": {"$unknown": 1}, "$$odd": [{"$sensitive": 7}]}
      },
      "outputs": {"id": "i"},
      "dependencies": [],
      "prevent_destroy": false,
      "created_at": "2026-01-01T00:00:00Z",
      "updated_at": "2026-01-01T00:00:00Z"
    }
  ]
}"#;
        let state = State::decode(v1, "state/x.json").unwrap();
        assert_eq!(state.version, STATE_VERSION);
        let r = state.get(&"sim_resource.a".parse().unwrap()).unwrap();
        assert!(
            matches!(r.inputs.get("password"), Some(Value::Sensitive(s)) if s.digest() == "hmac-sha256:00ff")
        );
        let payload: Value = serde_json::from_str::<serde_json::Value>(
            r#"{"$ref": "x", "tags": {"$unknown": 1}, "$$odd": [{"$sensitive": 7}]}"#,
        )
        .map(Value::from_json)
        .unwrap();
        assert_eq!(r.inputs.get("payload"), Some(&payload));
        // Written again, it is version 2 and reads back the same.
        let again = State::decode(&state.encode(), "state/x.json").unwrap();
        assert_eq!(again.get(&r.address), Some(r));
        let text = String::from_utf8(state.encode()).unwrap();
        assert!(
            text.contains(r#""$$ref""#) && text.contains(r#""$$$odd""#),
            "{text}"
        );
    }

    #[test]
    fn refuses_duplicate_addresses() {
        let r = r#"{"address": "sim_resource.a", "id": "i", "inputs": {}, "outputs": {}, "created_at": "", "updated_at": ""}"#;
        let doc =
            format!(r#"{{"version": 1, "lineage": "x", "serial": 1, "resources": [{r}, {r}]}}"#);
        let err = State::decode(doc.as_bytes(), "s").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn round_trips() {
        let mut s = State::new();
        s.put(ResourceState {
            address: "sim_resource.b".parse().unwrap(),
            id: "1".into(),
            inputs: Value::map(),
            outputs: Value::map(),
            dependencies: vec![],
            prevent_destroy: true,
            created_at: now(),
            updated_at: now(),
        });
        let back = State::decode(&s.encode(), "s").unwrap();
        assert_eq!(back, s);
    }
}
