//! The config hash: what a saved plan is bound to.

use std::fmt::Write as _;

use infra_core::Value;
use infra_stack::Stack;
use sha2::{Digest, Sha256};

use crate::secrets::SecretKey;

/// A hash of everything in the stack that affects a plan; secrets enter
/// only as keyed digests. The text is streamed into the hasher, without
/// building it first.
pub(crate) fn config_hash(stack: &Stack, key: &SecretKey) -> String {
    let mut h = HashWriter(Sha256::new());
    h.0.update(stack.name.as_bytes());
    // Serializing values into a writer that cannot fail does not fail.
    let _ = serde_json::to_writer(&mut h, &stack.settings);
    for r in &stack.resources {
        let _ = write!(h, "{}", r.address);
        for (name, expr) in &r.inputs {
            h.0.update(name.as_bytes());
            write_fingerprint(&mut h, expr, key);
        }
        let _ = write!(h, "{:?}{:?}", r.depends_on, r.lifecycle);
    }
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds whatever is written into a hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Writes an expression's fingerprint: JSON for literals, digests for
/// secrets, the debug form for references and templates.
fn write_fingerprint(h: &mut HashWriter, expr: &infra_stack::Expr, key: &SecretKey) {
    use std::fmt::Write as _;

    use infra_stack::Expr;
    match expr {
        Expr::FromEnv { var, value } => {
            let sealed = value.as_ref().map(|v| key.seal(Value::String(v.clone())));
            let _ = write!(h, "env:{var}:");
            let _ = serde_json::to_writer(&mut *h, &sealed);
        }
        Expr::Literal(v) => {
            let _ = serde_json::to_writer(&mut *h, v);
        }
        Expr::List(items) => {
            h.0.update(b"[");
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    h.0.update(b",");
                }
                write_fingerprint(h, e, key);
            }
            h.0.update(b"]");
        }
        Expr::Map(m) => {
            h.0.update(b"{");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    h.0.update(b",");
                }
                let _ = write!(h, "{k:?}:");
                write_fingerprint(h, e, key);
            }
            h.0.update(b"}");
        }
        other => {
            let _ = write!(h, "{other:?}");
        }
    }
}
