//! The journal: an append-only log of intents and results, one JSON object
//! per line, that makes every step of an apply durable at the cost of one
//! small append, and lets the next run recover from a crash at any instant.
//!
//! Protocol: `begin` once per run (bound to the snapshot's lineage and
//! serial), then for each operation an `intent` before the provider is
//! called and a `result` after it returns. At the end the state, with every
//! result folded in, is written as a new snapshot (serial + 1) and the
//! journal is removed. A journal whose `begin` names an older serial than
//! the snapshot was already folded (the run died between those two steps)
//! and is discarded.

use infra_core::{Address, Value};
use serde::{Deserialize, Serialize};

use crate::EngineError;
use crate::state::{Deposed, ResourceState, State, now};

/// The journal format version: 2 escapes `$` map keys as state version 2
/// does; the records of a version-1 journal are migrated as they are read.
pub const JOURNAL_VERSION: u32 = 2;

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// Opens a run.
    Begin {
        /// Journal format version.
        version: u32,
        /// The state's lineage.
        lineage: String,
        /// The snapshot serial this run started from.
        base_serial: u64,
        /// `apply`, `destroy`, `recover`.
        operation: String,
        /// When.
        started: String,
    },
    /// Written and flushed before a provider call.
    Intent(Intent),
    /// Written and flushed after a provider call returned.
    Result {
        /// The intent's sequence number.
        seq: u64,
        /// What happened.
        outcome: Outcome,
    },
}

/// An operation about to reach the cloud.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// Sequence number within the run.
    pub seq: u64,
    /// The resource.
    pub address: Address,
    /// What is done to it.
    pub step: Step,
    /// The idempotency token handed to the provider.
    pub token: String,
    /// The object acted on, for update and delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// The inputs sent, secrets as digests (create and update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// The resource's dependencies, recorded into state on success.
    #[serde(default)]
    pub dependencies: Vec<Address>,
    /// The resource's `prevent_destroy`, recorded into state on success.
    #[serde(default)]
    pub prevent_destroy: bool,
}

/// The kinds of step the executor performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Create a resource at a free address (also the second half of a
    /// delete-then-create replacement).
    Create,
    /// Create the replacement of an existing resource first
    /// (create-before-destroy): the old object becomes deposed.
    CreateReplacement,
    /// Update in place.
    Update,
    /// Delete the resource at the address.
    Delete,
    /// Delete a deposed object left by a create-before-destroy replacement.
    DeleteDeposed,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Created or updated: what now exists.
    Applied {
        /// The cloud's id.
        id: String,
        /// The inputs as applied (secrets as digests).
        inputs: Value,
        /// The outputs.
        outputs: Value,
    },
    /// The object is gone.
    Deleted,
    /// The provider failed; nothing to record.
    Failed {
        /// Why.
        message: String,
    },
}

/// Encodes records as JSON lines.
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        // Serializing these types cannot fail: no maps with non-string keys.
        if serde_json::to_writer(&mut out, r).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// A parsed journal: its header and records. A torn last line (the process
/// died mid-append) is dropped: its operation then has no record at all, or
/// an intent without a result, and is resolved like any other.
#[derive(Debug, Default)]
pub struct Journal {
    /// The run's begin record, if the journal is not empty.
    pub begin: Option<(String, u64)>,
    /// Intents in order, each with its outcome if it was recorded.
    pub entries: Vec<(Intent, Option<Outcome>)>,
}

/// Parses journal bytes. `origin` names the journal in errors.
pub fn parse(bytes: &[u8], origin: &str) -> Result<Journal, EngineError> {
    let mut journal = Journal::default();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    let mut version = JOURNAL_VERSION;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let decoded = if version == 1 {
            serde_json::from_slice::<serde_json::Value>(line).and_then(|mut doc| {
                crate::state::escape_v1_keys(&mut doc);
                serde_json::from_value(doc)
            })
        } else {
            serde_json::from_slice(line)
        };
        let record: Record = match decoded {
            Ok(r) => r,
            // Only the final line can be torn; anything else is corruption.
            Err(_) if i == last => break,
            Err(e) => {
                return Err(EngineError::CorruptState {
                    origin: origin.to_owned(),
                    reason: format!("journal line {}: {e}", i + 1),
                });
            }
        };
        match record {
            Record::Begin {
                version: found,
                lineage,
                base_serial,
                ..
            } => {
                if found > JOURNAL_VERSION {
                    return Err(EngineError::NewerState {
                        origin: origin.to_owned(),
                        found,
                        supported: JOURNAL_VERSION,
                    });
                }
                version = found;
                journal.begin = Some((lineage, base_serial));
            }
            Record::Intent(intent) => journal.entries.push((intent, None)),
            Record::Result { seq, outcome } => {
                if let Some(entry) = journal.entries.iter_mut().rev().find(|(i, _)| i.seq == seq) {
                    entry.1 = Some(outcome);
                }
            }
        }
    }
    Ok(journal)
}

/// Folds one finished operation into the state. The single place where
/// results change state, used by the executor as it runs and by recovery.
pub fn fold(state: &mut State, intent: &Intent, outcome: &Outcome) {
    let address = &intent.address;
    match (intent.step, outcome) {
        (_, Outcome::Failed { .. }) => {}
        (
            Step::Create | Step::Update,
            Outcome::Applied {
                id,
                inputs,
                outputs,
            },
        ) => {
            let created_at = state
                .get(address)
                .filter(|r| &r.id == id)
                .map_or_else(now, |r| r.created_at.clone());
            state.put(ResourceState {
                address: address.clone(),
                id: id.clone(),
                inputs: inputs.clone(),
                outputs: outputs.clone(),
                dependencies: intent.dependencies.clone(),
                prevent_destroy: intent.prevent_destroy,
                created_at,
                updated_at: now(),
            });
        }
        (
            Step::CreateReplacement,
            Outcome::Applied {
                id,
                inputs,
                outputs,
            },
        ) => {
            if let Some(old) = state.remove(address)
                && &old.id != id
            {
                state.deposed.push(Deposed {
                    address: old.address,
                    id: old.id,
                    inputs: old.inputs,
                    outputs: old.outputs,
                    dependencies: old.dependencies,
                });
            }
            let now = now();
            state.put(ResourceState {
                address: address.clone(),
                id: id.clone(),
                inputs: inputs.clone(),
                outputs: outputs.clone(),
                dependencies: intent.dependencies.clone(),
                prevent_destroy: intent.prevent_destroy,
                created_at: now.clone(),
                updated_at: now,
            });
        }
        (Step::Delete, Outcome::Deleted)
            if state.get(address).map(|r| &r.id) == intent.target_id.as_ref() =>
        {
            state.remove(address);
        }
        (Step::DeleteDeposed, Outcome::Deleted) => {
            state
                .deposed
                .retain(|d| !(&d.address == address && Some(&d.id) == intent.target_id.as_ref()));
        }
        // A step whose outcome does not fit it changes nothing.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(seq: u64, step: Step) -> Intent {
        Intent {
            seq,
            address: "sim_resource.a".parse().unwrap(),
            step,
            token: format!("t{seq}"),
            target_id: None,
            inputs: None,
            dependencies: vec![],
            prevent_destroy: false,
        }
    }

    fn applied(id: &str) -> Outcome {
        Outcome::Applied {
            id: id.into(),
            inputs: Value::map(),
            outputs: Value::map(),
        }
    }

    #[test]
    fn torn_last_line_is_dropped_and_results_pair_with_intents() {
        let mut bytes = encode(&[
            Record::Begin {
                version: 1,
                lineage: "L".into(),
                base_serial: 3,
                operation: "apply".into(),
                started: now(),
            },
            Record::Intent(intent(1, Step::Create)),
            Record::Result {
                seq: 1,
                outcome: applied("x"),
            },
            Record::Intent(intent(2, Step::Update)),
        ]);
        bytes.extend_from_slice(b"{\"record\":\"result\",\"se");
        let j = parse(&bytes, "j").unwrap();
        assert_eq!(j.begin, Some(("L".into(), 3)));
        assert_eq!(j.entries.len(), 2);
        assert_eq!(j.entries[0].1, Some(applied("x")));
        assert_eq!(j.entries[1].1, None);
    }

    #[test]
    fn corruption_before_the_end_is_refused() {
        let mut bytes = b"garbage\n".to_vec();
        bytes.extend(encode(&[Record::Intent(intent(1, Step::Create))]));
        assert!(parse(&bytes, "j").is_err());
    }

    #[test]
    fn create_before_destroy_deposes_then_deletes() {
        let mut s = State::new();
        fold(&mut s, &intent(1, Step::Create), &applied("old"));
        fold(&mut s, &intent(2, Step::CreateReplacement), &applied("new"));
        assert_eq!(s.get(&"sim_resource.a".parse().unwrap()).unwrap().id, "new");
        assert_eq!(s.deposed.len(), 1);
        let mut del = intent(3, Step::DeleteDeposed);
        del.target_id = Some("old".into());
        fold(&mut s, &del, &Outcome::Deleted);
        assert!(s.deposed.is_empty());
        let mut del = intent(4, Step::Delete);
        del.target_id = Some("new".into());
        fold(&mut s, &del, &Outcome::Deleted);
        assert_eq!(s.resources().len(), 0);
    }
}
