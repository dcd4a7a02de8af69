//! The `s3_bucket` schema: inputs, their defaults, their simple rules, and
//! which changes replace the bucket (only its name, reference §1.5).

use infra_core::{Attribute, Output, Schema, Type, Validator, Value};

use crate::lifecycle::{MAX_RULE_ID, MAX_RULES, STORAGE_CLASSES};

/// The resource type name.
pub const TYPE_NAME: &str = "s3_bucket";

/// The default server-side encryption (SSE-S3).
pub const DEFAULT_ENCRYPTION: &str = "AES256";

/// The four public access block switches, in the order AWS documents them.
pub const PAB_KEYS: [&str; 4] = [
    "block_public_acls",
    "ignore_public_acls",
    "block_public_policy",
    "restrict_public_buckets",
];

/// What each switch does, when true.
const PAB_DESCRIPTIONS: [&str; 4] = [
    "refuse requests that set a public ACL",
    "ignore the public ACLs of the bucket and its objects",
    "refuse a bucket policy that grants public access",
    "limit a public bucket policy's access to AWS services and the owner",
];

/// The public access block when the stack does not set one: everything blocked.
pub fn default_public_access_block() -> Value {
    PAB_KEYS.iter().map(|k| (*k, Value::Bool(true))).collect()
}

/// The attributes of one lifecycle rule.
fn lifecycle_rule() -> Type {
    let days = |name: &str, text: &str| Attribute::new(name, Type::Int).describe(text);
    Type::Object(vec![
        Attribute::new("id", Type::String)
            .required()
            .validate(Validator::Length {
                min: 1,
                max: MAX_RULE_ID,
            })
            .describe("the rule's id, unique among the bucket's rules"),
        Attribute::new("enabled", Type::Bool)
            .default(true)
            .describe("whether the rule is applied"),
        Attribute::new("prefix", Type::String)
            .default("")
            .describe("key prefix of the objects the rule applies to; empty means all"),
        Attribute::new(
            "transitions",
            Type::list(Type::Object(vec![
                Attribute::new("days", Type::Int)
                    .required()
                    .describe("days after creation when objects move"),
                Attribute::new("storage_class", Type::String)
                    .required()
                    .validate(Validator::one_of(&STORAGE_CLASSES))
                    .describe("the class objects move to, colder than the previous transition's (the values are listed warmest first)"),
            ])),
        )
        .default(Value::List(Vec::new()))
        .describe("storage class transitions, in increasing days"),
        days("expiration_days", "days after creation when objects expire"),
        days(
            "noncurrent_version_expiration_days",
            "days after which noncurrent versions are deleted",
        ),
        days(
            "abort_incomplete_multipart_upload_days",
            "days after which incomplete multipart uploads are aborted",
        ),
    ])
}

/// The schema of `s3_bucket`.
pub fn schema() -> Schema {
    let flags = PAB_KEYS
        .iter()
        .zip(PAB_DESCRIPTIONS)
        .map(|(k, text)| Attribute::new(k, Type::Bool).default(true).describe(text))
        .collect();
    Schema::new(TYPE_NAME)
        .attribute(
            Attribute::new("name", Type::String)
                .required()
                .forces_replacement()
                .describe("the bucket name, globally unique"),
        )
        .attribute(
            Attribute::new("versioning", Type::Bool)
                .default(false)
                .describe("keep every version of objects; false after true suspends versioning"),
        )
        .attribute(
            Attribute::new("encryption", Type::String)
                .default(DEFAULT_ENCRYPTION)
                .describe("default server-side encryption: AES256 or aws:kms"),
        )
        .attribute(
            Attribute::new("kms_key_id", Type::String)
                .describe("KMS key for encryption = \"aws:kms\"; AWS's managed key when unset"),
        )
        .attribute(
            Attribute::new("public_access_block", Type::Object(flags))
                .default(default_public_access_block())
                .describe("the bucket's public access block; every switch defaults to true"),
        )
        .attribute(
            Attribute::new("lifecycle_rules", Type::list(lifecycle_rule()))
                .default(Value::List(Vec::new()))
                .validate(Validator::Count {
                    min: 0,
                    max: MAX_RULES,
                })
                .describe("lifecycle rules, sent together; an empty list removes them"),
        )
        .attribute(infra_aws::tags_attribute("bucket"))
        .attribute(
            Attribute::new("force_destroy", Type::Bool)
                .default(false)
                .describe("on delete, remove every object version first"),
        )
        .output(Output::new("arn", Type::String, "arn:aws:s3:::<name>"))
        .output(Output::new(
            "region",
            Type::String,
            "the region the bucket lives in",
        ))
        .output(Output::new(
            "bucket_domain_name",
            Type::String,
            "<name>.s3.amazonaws.com",
        ))
        .output(Output::new(
            "bucket_regional_domain_name",
            Type::String,
            "<name>.s3.<region>.amazonaws.com",
        ))
}
