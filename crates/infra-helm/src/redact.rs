//! Redaction of helm's messages before they reach an error: the plaintext
//! of every secret this operation wrote into the values file, and anything
//! that looks like a bearer token.

/// What replaces a redacted string.
pub const REDACTED: &str = "(redacted)";

/// Redacts known secrets and token-looking strings from text.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these plaintexts (longest first, so a secret that
    /// contains another is redacted whole).
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The text with every secret and token replaced by `(redacted)`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        redact_tokens(&out)
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// Replaces the value after each marker (case-insensitive) up to the end
/// of the token-looking run of characters.
/// With `need_sep`, only where the marker is followed by `:` or `=` (a key,
/// not a word in a sentence).
fn redact_after(text: &str, marker: &str, skip: &[char], need_sep: bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(marker) {
        let start = pos + found + marker.len();
        out.push_str(&text[pos..start]);
        let rest = &text[start..];
        let skipped = rest.len() - rest.trim_start_matches(skip).len();
        out.push_str(&rest[..skipped]);
        let value = &rest[skipped..];
        let separated = rest[..skipped].contains([':', '=']);
        let len = if need_sep && !separated {
            0
        } else {
            value
                .char_indices()
                .find(|(_, c)| !is_token_char(*c))
                .map_or(value.len(), |(i, _)| i)
        };
        if len > 0 {
            out.push_str(REDACTED);
        }
        pos = start + skipped + len;
    }
    out.push_str(&text[pos..]);
    out
}

/// EKS tokens (`k8s-aws-v1.…`), `Bearer …` and `token: …` / `"token":"…"`.
fn redact_tokens(text: &str) -> String {
    let t = redact_after(text, "k8s-aws-v1.", &[], false);
    let t = redact_after(&t, "bearer ", &[' '], false);
    redact_after(&t, "token", &['"', '\'', ':', '=', ' '], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_tokens_are_redacted() {
        let r = Redactor::new(vec!["hunter2".into(), "hunter2-long".into()]);
        assert_eq!(
            r.redact("pass=hunter2-long and hunter2"),
            "pass=(redacted) and (redacted)"
        );
        assert_eq!(
            r.redact("Authorization: Bearer abc.DEF-123 failed"),
            "Authorization: Bearer (redacted) failed"
        );
        assert_eq!(
            r.redact("got k8s-aws-v1.aHR0cHM6Ly9zdHM end"),
            "got k8s-aws-v1.(redacted) end"
        );
        assert_eq!(
            r.redact(r#"{"token":"xyz123","other":1}"#),
            r#"{"token":"(redacted)","other":1}"#
        );
        assert_eq!(r.redact("token: abc"), "token: (redacted)");
        assert_eq!(r.redact("no secrets here"), "no secrets here");
        assert_eq!(r.redact("tokens expire"), "tokens expire");
    }
}
