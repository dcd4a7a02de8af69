//! The conformance suite every resource type runs in its tests, against
//! its emulator (moto) or mocked responses: what the engine relies on from
//! any provider, checked the same way for each.
//!
//! 1. create is idempotent under the same token (a retried or recovered
//!    create returns the same object, and `find` finds it);
//! 2. read after create equals what was applied, so a second plan is empty;
//! 3. each in-place attribute updates in place (same id, new value read back);
//! 4. each replace-forcing attribute is declared so in the schema, so the
//!    planner replaces;
//! 5. import: reading an existing object by id alone finds it;
//! 6. delete is idempotent, and reading a deleted object is `None`.
//!
//! Adding a type is one call: `conformance::run(&provider, &ctx, case).await`.

use crate::{Change, Existing, Observed, OpContext, PathSeg, Provider, Value};

/// What to create and change.
#[derive(Clone, Debug)]
pub struct Case {
    /// Inputs of a valid resource, every value known.
    pub inputs: Value,
    /// In-place attributes with another value to update each to.
    pub updates: Vec<(&'static str, Value)>,
    /// Attributes whose change must replace the resource.
    pub replacing: Vec<&'static str>,
}

/// Makes the context of one operation from its idempotency token.
pub type MakeContext<'a> = dyn Fn(&str) -> OpContext + Send + Sync + 'a;

/// Runs every check; panics with what failed. Returns the names of the
/// checks passed, for the test's output.
pub async fn run(provider: &dyn Provider, ctx: &MakeContext<'_>, case: Case) -> Vec<&'static str> {
    let schema = provider.schema();
    let ty = schema.type_name.clone();
    let mut passed = Vec::new();
    let inputs = with_defaults(provider, &case.inputs);
    let problems = provider.validate(&inputs);
    assert!(
        problems.is_empty(),
        "{ty}: the case's inputs are invalid: {problems:?}"
    );

    // 1. Idempotent create.
    let first = provider
        .create(&ctx("create-1"), &inputs)
        .await
        .unwrap_or_else(|e| panic!("{ty}: create: {e}"));
    let again = provider
        .create(&ctx("create-1"), &inputs)
        .await
        .unwrap_or_else(|e| panic!("{ty}: create again with the same token: {e}"));
    assert_eq!(
        again.id, first.id,
        "{ty}: a create retried with its token made another object"
    );
    let found = provider
        .find(&ctx("create-1"), &inputs)
        .await
        .unwrap_or_else(|e| panic!("{ty}: find: {e}"));
    assert_eq!(
        found.map(|f| f.id),
        Some(first.id.clone()),
        "{ty}: find does not find what create made"
    );
    passed.push("create is idempotent under its token");

    // 2. Read after create equals what was applied.
    let existing = existing(&first, &inputs);
    let read = provider
        .read(&ctx("read"), &existing)
        .await
        .unwrap_or_else(|e| panic!("{ty}: read: {e}"))
        .unwrap_or_else(|| panic!("{ty}: read after create found nothing"));
    assert_same(provider, &inputs, &read, "read after create");
    passed.push("read after create equals what was applied");

    // 3. In-place updates.
    let mut current = existing;
    for (attr, value) in &case.updates {
        assert_eq!(
            schema.change_at(&[PathSeg::Key((*attr).to_owned())]),
            Change::InPlace,
            "{ty}: `{attr}` is listed as an update but the schema replaces on it"
        );
        let mut desired = current.inputs.clone();
        if let Value::Map(m) = &mut desired {
            m.insert((*attr).to_owned(), value.clone());
        }
        let updated = provider
            .update(&ctx(&format!("update-{attr}")), &current, &desired)
            .await
            .unwrap_or_else(|e| panic!("{ty}: update of `{attr}`: {e}"));
        assert_eq!(
            updated.id, current.id,
            "{ty}: updating `{attr}` changed the id"
        );
        let read = provider
            .read(&ctx("read"), &self::existing(&updated, &desired))
            .await
            .unwrap_or_else(|e| panic!("{ty}: read after updating `{attr}`: {e}"))
            .unwrap_or_else(|| panic!("{ty}: the object is gone after updating `{attr}`"));
        assert_same(
            provider,
            &desired,
            &read,
            &format!("read after updating `{attr}`"),
        );
        current = self::existing(&read, &desired);
    }
    if !case.updates.is_empty() {
        passed.push("each in-place attribute updates in place");
    }

    // 4. Replace-forcing attributes.
    for attr in &case.replacing {
        assert_eq!(
            schema.change_at(&[PathSeg::Key((*attr).to_owned())]),
            Change::Replace,
            "{ty}: a change of `{attr}` must replace the resource"
        );
    }
    if !case.replacing.is_empty() {
        passed.push("each replace-forcing attribute plans a replacement");
    }

    // 5. Import by id.
    let bare = Existing {
        id: current.id.clone(),
        inputs: current.inputs.clone(),
        outputs: Value::map(),
    };
    let imported = provider
        .read(&ctx("import"), &bare)
        .await
        .unwrap_or_else(|e| panic!("{ty}: import: {e}"))
        .unwrap_or_else(|| panic!("{ty}: import by id {} found nothing", current.id));
    assert_eq!(imported.id, current.id, "{ty}: import found another object");
    passed.push("import of an existing resource");

    // 6. Idempotent delete; a deleted object reads as None.
    provider
        .delete(&ctx("delete"), &current)
        .await
        .unwrap_or_else(|e| panic!("{ty}: delete: {e}"));
    provider
        .delete(&ctx("delete"), &current)
        .await
        .unwrap_or_else(|e| panic!("{ty}: delete of what is gone must succeed: {e}"));
    passed.push("delete is idempotent");
    let gone = provider
        .read(&ctx("read"), &current)
        .await
        .unwrap_or_else(|e| panic!("{ty}: read after delete: {e}"));
    assert!(
        gone.is_none(),
        "{ty}: read after delete still finds {:?}",
        gone.map(|g| g.id)
    );
    passed.push("read of a missing resource is None");
    passed
}

/// The inputs with the schema's defaults filled in, as the planner does.
fn with_defaults(provider: &dyn Provider, inputs: &Value) -> Value {
    let mut out = inputs.clone();
    if let Value::Map(m) = &mut out {
        for attr in &provider.schema().attributes {
            if let crate::Presence::Default(d) = &attr.presence {
                m.entry(attr.name.clone()).or_insert_with(|| d.clone());
            }
        }
    }
    out
}

fn existing(observed: &Observed, applied: &Value) -> Existing {
    let mut outputs = observed.outputs.clone();
    if let Value::Map(m) = &mut outputs {
        m.insert("id".into(), Value::String(observed.id.clone()));
    }
    Existing {
        id: observed.id.clone(),
        inputs: applied.clone(),
        outputs,
    }
}

/// Every attribute applied reads back the same (sets in any order).
fn assert_same(provider: &dyn Provider, applied: &Value, read: &Observed, when: &str) {
    let schema = provider.schema();
    for attr in &schema.attributes {
        let want = applied
            .get(&attr.name)
            .filter(|v| !matches!(v, Value::Null));
        let got = read
            .inputs
            .get(&attr.name)
            .filter(|v| !matches!(v, Value::Null));
        let same = match (want, got) {
            (Some(w), Some(g)) => attr.ty.same(w, g),
            (None, _) if attr.computed => true,
            (None, None) => true,
            _ => false,
        };
        assert!(
            same,
            "{}: {when}: `{}` was applied as {want:?} but reads back as {got:?} (a second plan would not be empty)",
            schema.type_name, attr.name
        );
    }
}
