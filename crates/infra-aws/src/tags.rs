//! AWS tags, for every resource type that has them: the rules AWS applies
//! (checked at plan time, at the tag's TOML line), reading them from the
//! inputs, and the change from the tags a resource has to those desired.

use std::collections::BTreeMap;

use infra_core::{Attribute, Fields, Type, Value};

/// At most this many tags on one resource (EC2, EKS, RDS, S3, IAM).
pub const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// Tags, as a stack sets them.
pub type Tags = BTreeMap<String, String>;

/// Why AWS would refuse the tag `key = value`, if it would.
pub fn tag_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() || key.chars().count() > MAX_KEY {
        return Some(format!(
            "tag key `{key}` must be 1 to {MAX_KEY} characters long"
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Some(format!(
            "tag key `{key}` must not start with `aws:`, which AWS reserves"
        ));
    }
    if value.chars().count() > MAX_VALUE {
        return Some(format!(
            "the value of tag `{key}` must be at most {MAX_VALUE} characters long"
        ));
    }
    None
}

/// The `tags` attribute of a resource type whose tags are `tags of the {of}`:
/// a table of strings, empty by default, updated in place.
pub fn tags_attribute(of: &str) -> Attribute {
    let attribute = Attribute::new("tags", Type::map(Type::String)).default(Value::map());
    attribute.describe(&format!(
        "tags of the {of}, updated in place (at most {MAX_TAGS})"
    ))
}

/// Reads the tags under `key`, each problem at its tag.
pub fn read_tags(fields: &mut Fields<'_>, key: &str) -> Tags {
    let tags = fields.string_map(key);
    if tags.len() > MAX_TAGS {
        fields.problem_at(
            key,
            format!("at most {MAX_TAGS} tags are allowed, not {}", tags.len()),
        );
    }
    for (k, v) in &tags {
        if let Some(problem) = tag_problem(k, v) {
            fields.problem(
                &[
                    infra_core::PathSeg::Key(key.to_owned()),
                    infra_core::PathSeg::Key(k.clone()),
                ],
                problem,
            );
        }
    }
    tags
}

/// What brings a resource's tags from `actual` to `desired`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Tags to set: new keys and changed values.
    pub set: Tags,
    /// Keys to remove.
    pub remove: Vec<String>,
}

impl TagChange {
    /// The change from `actual` to `desired`.
    pub fn between(actual: &Tags, desired: &Tags) -> Self {
        TagChange {
            set: desired
                .iter()
                .filter(|(k, v)| actual.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            remove: actual
                .keys()
                .filter(|k| !desired.contains_key(*k))
                .cloned()
                .collect(),
        }
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, Value};

    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_change_sets_new_and_changed_and_removes_missing() {
        let change = TagChange::between(
            &tags(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &tags(&[("a", "1"), ("b", "9"), ("d", "4")]),
        );
        assert_eq!(change.set, tags(&[("b", "9"), ("d", "4")]));
        assert_eq!(change.remove, ["c"]);
        assert!(TagChange::between(&tags(&[("a", "1")]), &tags(&[("a", "1")])).is_empty());
    }

    #[test]
    fn aws_rules_are_reported_at_the_tag() {
        let table: Value = [("aws:owner", Value::from("x")), ("ok", Value::from("y"))]
            .into_iter()
            .collect();
        let inputs: Value = [("tags", table)].into_iter().collect();
        let mut f = Fields::new(&inputs, Phase::Plan);
        let read = read_tags(&mut f, "tags");
        assert_eq!(read.len(), 2);
        let problems = f.into_problems();
        assert_eq!(infra_core::display_path(&problems[0].0), "tags.aws:owner");
        assert!(problems[0].1.contains("reserves"), "{}", problems[0].1);
        assert!(tag_problem(&"k".repeat(129), "").is_some());
        assert!(tag_problem("k", &"v".repeat(257)).is_some());
    }
}
