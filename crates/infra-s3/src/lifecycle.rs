//! Lifecycle rules: read from the inputs with AWS's rules for lifecycle
//! configurations checked at each offending value (so at its TOML line at
//! plan time), and written back in their normal shape. The schema holds the
//! simple rules (id length, rule count, storage class names); the rules
//! between values are here.

use std::collections::{BTreeMap, HashMap};

use infra_core::{Fields, PathSeg, Value};

/// Storage classes a lifecycle transition may name, warmest first: the
/// order of AWS's transition "waterfall", in which objects only move down.
pub const STORAGE_CLASSES: [&str; 6] = [
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// Classes that need objects to be 30 days old, and 30 days in them before
/// the next transition.
const INFREQUENT_ACCESS: [&str; 2] = ["STANDARD_IA", "ONEZONE_IA"];
const IA_MIN_DAYS: i32 = 30;

/// At most this many rules in a bucket.
pub const MAX_RULES: usize = 1000;
/// A rule id is at most this many characters.
pub const MAX_RULE_ID: usize = 255;

/// The actions a rule may have besides transitions, each a number of days.
const DAY_ACTIONS: [&str; 3] = [
    "expiration_days",
    "noncurrent_version_expiration_days",
    "abort_incomplete_multipart_upload_days",
];

/// One lifecycle rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub prefix: String,
    pub transitions: Vec<Transition>,
    pub expiration_days: Option<i32>,
    pub noncurrent_version_expiration_days: Option<i32>,
    pub abort_incomplete_multipart_upload_days: Option<i32>,
}

/// One storage class transition.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub days: i32,
    pub storage_class: String,
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_owned())
}

/// The tables of the list under `key`, each read by `read` with its index
/// in the list (which [`Fields::tables`] does not give: it skips items that
/// are not tables); and whether every item is a table. Empty when unset or
/// unknown.
fn indexed<'a, T>(
    f: &mut Fields<'a>,
    key: &str,
    mut read: impl FnMut(&mut Fields<'a>, usize) -> T,
) -> (Vec<T>, bool) {
    let Some(list) = f.value(key) else {
        // Unset, or unknown (a problem at apply, recorded by `value`).
        return (Vec::new(), !f.is_set(key));
    };
    let items = list.as_list().unwrap_or_default();
    let is_table = |v: &Value| matches!(v, Value::Map(_));
    let mut at = (0..items.len()).filter(|i| is_table(&items[*i]));
    let out = f.tables(key, |t| read(t, at.next().unwrap_or_default()));
    (out, items.iter().all(is_table))
}

/// Reads `lifecycle_rules`, every problem at its path.
pub(crate) fn read_rules(f: &mut Fields<'_>) -> Vec<Rule> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    indexed(f, "lifecycle_rules", |r, i| read_rule(r, i, &mut seen)).0
}

/// Reads one rule (`lifecycle_rules[i]`); `seen` holds the ids of the rules
/// before it.
fn read_rule(r: &mut Fields<'_>, i: usize, seen: &mut HashMap<String, usize>) -> Rule {
    let id = r.string("id");
    if !r.is_set("id") {
        r.problem_at("id", format!("`lifecycle_rules[{i}].id` is required"));
    }
    if let Some(id) = &id
        && let Some(first) = seen.insert(id.clone(), i)
    {
        r.problem_at(
            "id",
            format!(
                "rule id {id:?} is already used by lifecycle_rules[{first}]; ids must be unique"
            ),
        );
    }
    let name = id.as_ref().map_or_else(
        || format!("lifecycle_rules[{i}]"),
        |id| format!("rule {id:?}"),
    );
    let enabled = r.bool_or("enabled", true);
    let prefix = r.string_or("prefix", "");
    // Known values only: `value` records a problem for an unknown one.
    let given = r.is_set("transitions")
        && (r.is_unknown("transitions")
            || !matches!(r.value("transitions"), Some(Value::List(l)) if l.is_empty()));
    let (read, all_known) = indexed(r, "transitions", |t, j| {
        let days = t.i32("days");
        if !t.is_set("days") {
            t.problem_at(
                "days",
                format!("`lifecycle_rules[{i}].transitions[{j}].days` is required"),
            );
        }
        let class = t.string("storage_class");
        if !t.is_set("storage_class") {
            t.problem_at(
                "storage_class",
                format!("`lifecycle_rules[{i}].transitions[{j}].storage_class` is required"),
            );
        }
        (j, days, class)
    });
    let days = DAY_ACTIONS.map(|k| r.i32(k));
    let last = check_transitions(r, &name, &read, all_known);
    for (k, d) in DAY_ACTIONS.into_iter().zip(days) {
        if let Some(d) = d
            && d < 1
        {
            r.problem_at(k, format!("{name}: {k} must be at least 1, not {d}"));
        }
    }
    let [expiration, noncurrent, abort] = days;
    if let (Some(exp), Some(last)) = (expiration, last)
        && exp <= last
    {
        r.problem_at(
            "expiration_days",
            format!(
                "{name}: objects expire after {exp} days, which is not after the last transition at {last} days; expire later or drop the transition"
            ),
        );
    }
    if !given && !DAY_ACTIONS.iter().any(|k| r.is_set(k)) {
        r.problem(
            &[],
            format!(
                "{name} has no action: set transitions, expiration_days, noncurrent_version_expiration_days or abort_incomplete_multipart_upload_days"
            ),
        );
    }
    Rule {
        id: id.unwrap_or_default(),
        enabled,
        prefix,
        transitions: read
            .iter()
            .map(|(_, days, class)| Transition {
                days: days.unwrap_or_default(),
                storage_class: class.clone().unwrap_or_default(),
            })
            .collect(),
        expiration_days: expiration,
        noncurrent_version_expiration_days: noncurrent,
        abort_incomplete_multipart_upload_days: abort,
    }
}

/// Checks one rule's transitions (`(index, days, class)`, each known or
/// not); returns the days of the last one when every day count is known.
fn check_transitions(
    r: &mut Fields<'_>,
    name: &str,
    transitions: &[(usize, Option<i32>, Option<String>)],
    all_known: bool,
) -> Option<i32> {
    let at = |j: usize, k: &str| [key("transitions"), PathSeg::Index(j), key(k)];
    let mut prev: Option<(i32, &str, usize)> = None;
    let mut every_day_known = all_known;
    for (j, days, class) in transitions {
        let j = *j;
        let class = class.as_deref();
        if let Some(d) = *days {
            if d < 0 {
                r.problem(
                    &at(j, "days"),
                    format!("{name}: transition days must not be negative, not {d}"),
                );
            }
            if let Some(c) = class
                && INFREQUENT_ACCESS.contains(&c)
                && d < IA_MIN_DAYS
            {
                r.problem(
                    &at(j, "days"),
                    format!("{name}: objects must be at least {IA_MIN_DAYS} days old to move to {c}, not {d}"),
                );
            }
        } else {
            every_day_known = false;
        }
        if let (Some(d), Some((pd, pc, pj))) = (*days, prev) {
            if d <= pd {
                r.problem(
                    &at(j, "days"),
                    format!("{name}: transitions must be in strictly increasing days; {d} is not after {pd} (transitions[{pj}])"),
                );
            } else if INFREQUENT_ACCESS.contains(&pc) && d - pd < IA_MIN_DAYS {
                r.problem(
                    &at(j, "days"),
                    format!("{name}: objects must stay {IA_MIN_DAYS} days in {pc} before the next transition; use at least {} days", pd + IA_MIN_DAYS),
                );
            }
        }
        // An unknown class is reported by the schema's rule.
        let rank = class.and_then(|c| STORAGE_CLASSES.iter().position(|k| *k == c));
        if let (Some(c), Some(rank), Some((_, pc, pj))) = (class, rank, prev) {
            let prev_rank = STORAGE_CLASSES.iter().position(|k| *k == pc);
            if prev_rank.is_some_and(|p| rank <= p) {
                r.problem(
                    &at(j, "storage_class"),
                    format!("{name}: cannot transition from {pc} (transitions[{pj}]) to {c}; order transitions from warmer to colder ({})", STORAGE_CLASSES.join(" → ")),
                );
            }
        }
        if let Some(d) = *days {
            // An unknown class still orders by days.
            prev = Some((d, class.unwrap_or(""), j));
        }
    }
    if every_day_known {
        prev.map(|p| p.0)
    } else {
        None
    }
}

impl Rule {
    /// The rule in its normal shape.
    pub fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("id".into(), Value::from(self.id.as_str()));
        m.insert("enabled".into(), Value::Bool(self.enabled));
        m.insert("prefix".into(), Value::from(self.prefix.as_str()));
        m.insert(
            "transitions".into(),
            Value::List(
                self.transitions
                    .iter()
                    .map(|t| {
                        [
                            ("days", Value::Int(t.days.into())),
                            ("storage_class", Value::from(t.storage_class.as_str())),
                        ]
                        .into_iter()
                        .collect()
                    })
                    .collect(),
            ),
        );
        let optional = [
            self.expiration_days,
            self.noncurrent_version_expiration_days,
            self.abort_incomplete_multipart_upload_days,
        ];
        for (key, days) in DAY_ACTIONS.into_iter().zip(optional) {
            if let Some(d) = days {
                m.insert(key.into(), Value::Int(d.into()));
            }
        }
        Value::Map(m)
    }
}
