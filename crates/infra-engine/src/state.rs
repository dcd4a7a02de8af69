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

    /// One output by name, as `infra output NAME` asks for it:
    /// `type.name.attr`, or `type.name` for all of a resource's outputs.
    /// When there is none, the error says which outputs there are.
    pub fn output(&self, name: &str) -> Result<&Value, MissingOutput> {
        let mut parts = name.splitn(3, '.');
        let (ty, res, attr) = (parts.next(), parts.next(), parts.next());
        let found = self
            .resources()
            .find(|r| Some(r.address.ty.as_str()) == ty && Some(r.address.name.as_str()) == res);
        let value = match (found, attr) {
            (Some(r), None) => Some(&r.outputs),
            (Some(r), Some(attr)) => r.outputs.get(attr),
            (None, _) => None,
        };
        value.ok_or_else(|| {
            let names = |r: &ResourceState| {
                let attrs = r.outputs.as_map().into_iter().flatten();
                attrs
                    .map(|(k, _)| format!("{}.{k}", r.address))
                    .collect::<Vec<_>>()
            };
            MissingOutput {
                name: name.to_owned(),
                resource: found.map(|r| r.address.clone()),
                // The resource is there: its attributes are what was meant.
                available: match found {
                    Some(r) => names(r),
                    None => self.resources().flat_map(names).collect(),
                },
            }
        })
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

/// What [`State::output`] did not find, and what there is instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingOutput {
    /// The name asked for.
    pub name: String,
    /// The resource it names, when that is in state (so its attribute is
    /// what is missing).
    pub resource: Option<Address>,
    /// The outputs there are, as `type.name.attr`: the resource's when it
    /// is in state, else every resource's.
    pub available: Vec<String>,
}

impl MissingOutput {
    /// How many of the available names a hint shows.
    const SHOWN: usize = 10;

    /// What to look for instead: `available: a, b` (at most ten, with how
    /// many were left out), or that there are no outputs at all.
    pub fn hint(&self) -> String {
        if self.available.is_empty() {
            return match &self.resource {
                Some(r) => format!("`{r}` has no outputs"),
                None => "the state has no outputs".to_owned(),
            };
        }
        let mut shown = self.available[..self.available.len().min(Self::SHOWN)].join(", ");
        if self.available.len() > Self::SHOWN {
            shown.push_str(&format!(
                ", and {} more",
                self.available.len() - Self::SHOWN
            ));
        }
        format!("available: {shown}")
    }
}

/// Why a stack has no output of a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The stack was never applied.
    #[error(
        "no output `{name}`: stack `{stack}` has no state yet\n  hint: outputs exist once `infra apply` created the resources"
    )]
    NoState {
        /// The stack.
        stack: String,
        /// The name asked for.
        name: String,
    },
    /// The state has no such output.
    #[error(
        "no output `{}` in the state of stack `{stack}`\n  hint: {}; list them all with `infra output`",
        .missing.name,
        .missing.hint()
    )]
    Missing {
        /// The stack.
        stack: String,
        /// What was not found, and what there is.
        missing: MissingOutput,
    },
}

/// The output `name` of `stack`, whose state is `state` (`None` when it
/// was never applied): [`State::output`], with errors that name the stack.
pub fn find_output<'a>(
    state: Option<&'a State>,
    stack: &str,
    name: &str,
) -> Result<&'a Value, OutputError> {
    let Some(state) = state else {
        return Err(OutputError::NoState {
            stack: stack.to_owned(),
            name: name.to_owned(),
        });
    };
    state.output(name).map_err(|missing| OutputError::Missing {
        stack: stack.to_owned(),
        missing,
    })
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

    fn with_outputs(resources: &[(&str, &[&str])]) -> State {
        let mut s = State::new();
        for (address, attrs) in resources {
            s.put(ResourceState {
                address: address.parse().unwrap(),
                id: "1".into(),
                inputs: Value::map(),
                outputs: attrs.iter().map(|a| (*a, Value::from(*a))).collect(),
                dependencies: vec![],
                prevent_destroy: false,
                created_at: now(),
                updated_at: now(),
            });
        }
        s
    }

    #[test]
    fn outputs_are_found_by_name() {
        let s = with_outputs(&[("sim_resource.a", &["id", "arn"]), ("sim_resource.b", &[])]);
        assert_eq!(s.output("sim_resource.a.id"), Ok(&Value::from("id")));
        let all = s.output("sim_resource.a").unwrap();
        assert_eq!(all.get("arn"), Some(&Value::from("arn")));
        assert_eq!(s.output("sim_resource.b"), Ok(&Value::map()));
    }

    #[test]
    fn a_missing_output_says_what_there_is() {
        let s = with_outputs(&[("sim_resource.a", &["id", "arn"]), ("sim_resource.b", &[])]);
        // The resource is there: its own outputs.
        let e = s.output("sim_resource.a.nope").unwrap_err();
        assert_eq!(e.resource, Some("sim_resource.a".parse().unwrap()));
        assert_eq!(e.hint(), "available: sim_resource.a.arn, sim_resource.a.id");
        let e = s.output("sim_resource.b.id").unwrap_err();
        assert_eq!(e.hint(), "`sim_resource.b` has no outputs");
        // It is not: everyone's.
        let e = s.output("sim_resource.gone.id").unwrap_err();
        assert_eq!(e.resource, None);
        assert_eq!(e.hint(), "available: sim_resource.a.arn, sim_resource.a.id");
        let e = with_outputs(&[]).output("x.y").unwrap_err();
        assert_eq!(e.hint(), "the state has no outputs");
        // At most ten names.
        let many: Vec<String> = (0..12).map(|i| format!("o{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = with_outputs(&[("sim_resource.a", &many)])
            .output("sim_resource.a.x")
            .unwrap_err();
        assert!(
            e.hint().ends_with("sim_resource.a.o09, and 2 more"),
            "{}",
            e.hint()
        );
    }

    #[test]
    fn output_errors_name_the_stack() {
        let s = with_outputs(&[("sim_resource.a", &["id"])]);
        assert_eq!(
            find_output(Some(&s), "x", "sim_resource.a.nope")
                .unwrap_err()
                .to_string(),
            "no output `sim_resource.a.nope` in the state of stack `x`\n  hint: available: sim_resource.a.id; list them all with `infra output`"
        );
        assert_eq!(
            find_output(None, "x", "sim_resource.a.id")
                .unwrap_err()
                .to_string(),
            "no output `sim_resource.a.id`: stack `x` has no state yet\n  hint: outputs exist once `infra apply` created the resources"
        );
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
