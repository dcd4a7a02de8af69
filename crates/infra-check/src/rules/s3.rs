//! Buckets (`s3_bucket`): every public access block, encryption,
//! versioning, and lifecycle rules that respect the storage classes'
//! minimum durations and object sizes.

use super::{Cx, DURABILITY, Rule, SECURITY};
use crate::Severity::{Note, Warning};
use crate::view::{Node, Res};

pub(crate) const PUBLIC_ACCESS_BLOCK: Rule = Rule {
    id: "s3-public-access-block",
    item: "All public access blocked",
    checks: "all four switches of the bucket's public access block are on",
    help: "leave `public_access_block` unset (every switch defaults to true), or set each to true",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const ENCRYPTION: Rule = Rule {
    id: "s3-encryption",
    item: "Bucket encryption",
    checks: "the bucket encrypts objects by default (SSE-S3 or SSE-KMS)",
    help: "set `encryption = \"AES256\"` or `\"aws:kms\"`",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const VERSIONING: Rule = Rule {
    id: "s3-versioning",
    item: "Bucket versioning",
    checks: "the bucket keeps every version of its objects",
    help: "set `versioning = true` (and expire noncurrent versions in a lifecycle rule)",
    production: DURABILITY.0,
    development: DURABILITY.1,
};

pub(crate) const LIFECYCLE_TRANSITION: Rule = Rule {
    id: "s3-lifecycle-transition",
    item: "Lifecycle rules valid for the storage classes' minimum durations",
    checks: "no lifecycle transition S3 refuses: to STANDARD_IA or ONEZONE_IA before day 30, or out of them within 30 days",
    help: "move objects to STANDARD_IA/ONEZONE_IA at day 30 or later, and keep them there 30 days before the next transition",
    production: SECURITY.0,
    development: SECURITY.1,
};

pub(crate) const LIFECYCLE_MIN_STORAGE: Rule = Rule {
    id: "s3-lifecycle-min-storage",
    item: "Lifecycle rules valid for the storage classes' minimum durations",
    checks: "objects stay in each storage class at least its minimum storage duration (STANDARD_IA/ONEZONE_IA 30 days, GLACIER_IR/GLACIER 90, DEEP_ARCHIVE 180) before the next transition or expiry",
    help: "transition or expire objects no earlier than the class's minimum storage duration after they entered it; earlier is billed for the rest",
    production: Some(Warning),
    development: Some(Warning),
};

pub(crate) const LIFECYCLE_SMALL_OBJECTS: Rule = Rule {
    id: "s3-lifecycle-small-objects",
    item: "Lifecycle rules valid for object sizes",
    checks: "transitions to classes that bill small objects as 128 KiB (STANDARD_IA, ONEZONE_IA, GLACIER_IR, INTELLIGENT_TIERING's monitoring) are known to apply to every object size",
    help: "s3_bucket rules cannot filter by object size; S3's default minimum transition size (128 KiB, for lifecycle configurations since September 2024) keeps smaller objects in STANDARD",
    production: Some(Note),
    development: Some(Note),
};

/// The storage classes' minimum storage durations, in days.
fn min_storage_days(class: &str) -> Option<i64> {
    match class {
        "STANDARD_IA" | "ONEZONE_IA" => Some(30),
        "GLACIER_IR" | "GLACIER" => Some(90),
        "DEEP_ARCHIVE" => Some(180),
        _ => None,
    }
}

/// Classes S3 admits objects into only after 30 days, and out of only
/// after 30 days in them.
fn infrequent_access(class: &str) -> bool {
    matches!(class, "STANDARD_IA" | "ONEZONE_IA")
}

/// Classes that bill an object under 128 KiB as 128 KiB (or do not tier
/// it).
fn small_object_penalty(class: &str) -> bool {
    matches!(
        class,
        "STANDARD_IA" | "ONEZONE_IA" | "GLACIER_IR" | "INTELLIGENT_TIERING"
    )
}

pub(crate) fn check(cx: &mut Cx<'_>) {
    for res in cx.of_type("s3_bucket") {
        let block = res.get("public_access_block");
        for flag in [
            "block_public_acls",
            "ignore_public_acls",
            "block_public_policy",
            "restrict_public_buckets",
        ] {
            let node = block.get(flag);
            if node.bool() == Some(false) {
                cx.report(
                    &PUBLIC_ACCESS_BLOCK,
                    &res,
                    Some(&node),
                    format!("`public_access_block.{flag}` is false: the bucket can be made public"),
                    format!("set `public_access_block.{flag} = true`"),
                );
            }
        }
        let encryption = res.get("encryption");
        if let Some(e) = encryption.str()
            && !matches!(e, "AES256" | "aws:kms" | "aws:kms:dsse")
        {
            cx.report(
                &ENCRYPTION,
                &res,
                Some(&encryption),
                format!("`encryption = {e:?}` is not a server-side encryption S3 knows"),
                "set `encryption = \"AES256\"` or `\"aws:kms\"`".into(),
            );
        }
        let versioning = res.get("versioning");
        if versioning.bool() == Some(false) {
            cx.report(
                &VERSIONING,
                &res,
                Some(&versioning),
                "versioning is off: an overwritten or deleted object is gone".into(),
                "set `versioning = true`".into(),
            );
        }
        for rule in res.get("lifecycle_rules").items() {
            if rule.get("enabled").bool() == Some(false) {
                continue;
            }
            lifecycle_rule(cx, &res, &rule);
        }
    }
}

/// One lifecycle rule: the classes an object passes through, in order.
fn lifecycle_rule(cx: &mut Cx<'_>, res: &Res<'_>, rule: &Node<'_>) {
    let id = rule.get("id").str().unwrap_or("?").to_owned();
    let mut transitions: Vec<(i64, String, Node<'_>)> = Vec::new();
    for t in rule.get("transitions").items() {
        let (Some(days), Some(class)) = (t.get("days").int(), t.get("storage_class").str()) else {
            // Known only at apply, or refused by the schema already.
            return;
        };
        transitions.push((days, class.to_owned(), t.get("days")));
    }
    transitions.sort_by_key(|t| t.0);
    // Where an object is: since which day, in which class.
    let mut since: (i64, &str) = (0, "STANDARD");
    for (days, class, node) in &transitions {
        let (entered, current) = since;
        if infrequent_access(class) && *days < 30 {
            cx.report(
                &LIFECYCLE_TRANSITION,
                res,
                Some(node),
                format!(
                    "lifecycle rule `{id}` moves objects to {class} at day {days}: S3 refuses it before day 30"
                ),
                format!("move them to {class} at day 30 or later"),
            );
        } else if infrequent_access(current) && days - entered < 30 {
            cx.report(
                &LIFECYCLE_TRANSITION,
                res,
                Some(node),
                format!(
                    "lifecycle rule `{id}` moves objects from {current} to {class} after {} days: S3 refuses it within 30",
                    days - entered
                ),
                format!("move them to {class} at day {} or later", entered + 30),
            );
        } else {
            min_storage(
                cx,
                res,
                node,
                &id,
                (entered, current),
                *days,
                &format!("move them to {class}"),
            );
        }
        if small_object_penalty(class) {
            cx.report(
                &LIFECYCLE_SMALL_OBJECTS,
                res,
                Some(node),
                format!(
                    "lifecycle rule `{id}` moves objects of every size to {class}, which bills an object under 128 KiB as 128 KiB; s3_bucket rules cannot filter by size"
                ),
                "nothing while S3's default minimum transition size (128 KiB) applies; for many small objects, expire them instead".into(),
            );
        }
        since = (*days, class);
    }
    let expiration = rule.get("expiration_days");
    if let Some(days) = expiration.int() {
        min_storage(cx, res, &expiration, &id, since, days, "expire them");
    }
}

/// A move out of the class entered on day `entered`, on day `days`:
/// billed for the rest of the class's minimum duration when earlier.
fn min_storage(
    cx: &mut Cx<'_>,
    res: &Res<'_>,
    node: &Node<'_>,
    id: &str,
    (entered, class): (i64, &str),
    days: i64,
    what: &str,
) {
    let Some(min) = min_storage_days(class) else {
        return;
    };
    let stay = days - entered;
    if stay < min {
        cx.report(
            &LIFECYCLE_MIN_STORAGE,
            res,
            Some(node),
            format!(
                "lifecycle rule `{id}` lets objects stay {stay} days in {class}, whose minimum storage duration is {min} days: S3 bills the other {}",
                min - stay
            ),
            format!("{what} at day {} or later", entered + min),
        );
    }
}
