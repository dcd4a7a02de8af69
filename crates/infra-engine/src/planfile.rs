//! Saved plans (`infra plan --out FILE`, `infra apply FILE`): the plan as
//! JSON inside an envelope that carries an HMAC-SHA256 of the plan's exact
//! bytes, keyed with the project's secret key. In CI the plan travels as
//! an artifact from one job to another; whoever can write the artifact
//! must not be able to choose what apply does. The MAC is checked before
//! the plan is parsed, so an altered, truncated or foreign plan is refused
//! before anything reads it.
//!
//! ```json
//! { "format": "infra-plan", "version": 2, "mac": "hmac-sha256:…", "plan": { … } }
//! ```

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::EngineError;
use crate::plan::{PLAN_VERSION, Plan};
use crate::secrets::SecretKey;

/// What the envelope's `format` field says.
const FORMAT: &str = "infra-plan";

/// Keeps a plan's MAC from being valid for anything else signed with the
/// same key (sensitive digests use it too).
const DOMAIN: &[u8] = b"infra saved plan v2\0";

#[derive(Serialize)]
struct Sealed<'a> {
    format: &'static str,
    version: u32,
    mac: String,
    plan: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    format: String,
    version: u32,
    mac: String,
    #[serde(borrow)]
    plan: &'a RawValue,
}

/// The file's bytes for `plan`, signed with `key`.
pub(crate) fn encode(plan: &Plan, key: &SecretKey) -> Vec<u8> {
    // Serializing a plan (maps with string keys) cannot fail, and what
    // serde_json wrote is JSON.
    let body = serde_json::to_string_pretty(plan).expect("a plan serializes");
    let raw = RawValue::from_string(body).expect("serde_json writes JSON");
    let sealed = Sealed {
        format: FORMAT,
        version: PLAN_VERSION,
        mac: key.mac(DOMAIN, raw.get().as_bytes()),
        plan: &raw,
    };
    let mut out = serde_json::to_vec_pretty(&sealed).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Reads a saved plan, refusing anything `key` did not sign.
pub(crate) fn decode(bytes: &[u8], key: &SecretKey, origin: &str) -> Result<Plan, EngineError> {
    let bad = |reason: String| EngineError::BadPlan {
        origin: origin.to_owned(),
        reason,
    };
    let envelope: Envelope<'_> = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "it is not a plan file written by `infra plan --out` ({e})"
        ))
    })?;
    if envelope.format != FORMAT {
        return Err(bad(format!(
            "its format is `{}`, not `{FORMAT}`",
            envelope.format
        )));
    }
    if envelope.version != PLAN_VERSION {
        return Err(EngineError::StalePlan(format!(
            "it has format version {}, this infra reads {PLAN_VERSION}",
            envelope.version
        )));
    }
    if !key.verify(DOMAIN, envelope.plan.get().as_bytes(), &envelope.mac) {
        return Err(bad(
            "its signature does not match: it was changed after `infra plan --out` wrote it, or signed with another secret key".into(),
        ));
    }
    let plan: Plan = serde_json::from_str(envelope.plan.get())
        .map_err(|e| bad(format!("its signed content is not a plan ({e})")))?;
    if plan.version != PLAN_VERSION {
        return Err(bad(format!(
            "the envelope says version {PLAN_VERSION}, the plan {}",
            plan.version
        )));
    }
    Ok(plan)
}

/// Writes a signed plan readable by its owner only: it describes the
/// infrastructure, though secrets appear only as digests.
pub(crate) fn write(path: &Path, plan: &Plan, key: &SecretKey) -> Result<(), EngineError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EngineError::io(path, "create", e))?;
    // An existing file keeps its mode on open; tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| EngineError::io(path, "restrict the permissions of", e))?;
    file.write_all(&encode(plan, key))
        .and_then(|()| file.sync_all())
        .map_err(|e| EngineError::io(path, "write", e))
}

/// Reads and checks a signed plan.
pub(crate) fn read(path: &Path, key: &SecretKey) -> Result<Plan, EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, "read", e))?;
    decode(&bytes, key, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanMode, Summary};

    fn plan() -> Plan {
        Plan {
            version: PLAN_VERSION,
            stack: "dev".into(),
            mode: PlanMode::Apply,
            lineage: Some("l".into()),
            serial: 3,
            config_hash: "h".into(),
            drift: Vec::new(),
            changes: Vec::new(),
            state_only: Vec::new(),
            summary: Summary::default(),
            estimate_ms: 0,
            warnings: vec!["a \"quoted\" warning".into()],
            missing_env: Vec::new(),
            unset: Vec::new(),
        }
    }

    #[test]
    fn a_signed_plan_reads_back() {
        let key = SecretKey::from_bytes(b"k");
        let bytes = encode(&plan(), &key);
        assert_eq!(decode(&bytes, &key, "p").unwrap(), plan());
    }

    #[test]
    fn any_change_to_the_plan_is_refused() {
        let key = SecretKey::from_bytes(b"k");
        let text = String::from_utf8(encode(&plan(), &key)).unwrap();
        let edited = text.replace("\"apply\"", "\"destroy\"");
        assert_ne!(edited, text);
        let err = decode(edited.as_bytes(), &key, "p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("signature does not match"), "{err}");
        let truncated = &text.as_bytes()[..text.len() / 2];
        assert!(decode(truncated, &key, "p").is_err());
        let foreign = decode(text.as_bytes(), &SecretKey::from_bytes(b"other"), "p");
        assert!(foreign.unwrap_err().to_string().contains("signature"));
    }

    #[test]
    fn extra_fields_and_an_unsigned_plan_are_refused() {
        let key = SecretKey::from_bytes(b"k");
        let unsigned = serde_json::to_vec(&plan()).unwrap();
        assert!(decode(&unsigned, &key, "p").is_err());
        let text = String::from_utf8(encode(&plan(), &key)).unwrap();
        let extra = text.replacen('{', "{\"changes\": [],", 1);
        let err = decode(extra.as_bytes(), &key, "p").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}
