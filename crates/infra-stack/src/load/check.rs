//! The `[check]` table: `profile` and `[check.waive]`, checked for shape
//! where they are written. Which rule ids exist is `infra-check`'s to say
//! (it reports an unknown one at the waiver's line).

use super::source::{Entry, Kind};
use super::{Ctx, closest};
use crate::{CheckProfile, CheckSettings, Waiver};

/// The keys `[check]` takes.
const KEYS: [&str; 2] = ["profile", "waive"];

impl Ctx<'_> {
    /// Lowers `[check]`, reporting every problem; what is wrong is left at
    /// its default.
    pub(super) fn check_table(&mut self, entry: &Entry) -> CheckSettings {
        let mut out = CheckSettings::default();
        let Kind::Table(table) = &entry.value.kind else {
            self.error_at(
                entry.value.pos,
                format!("`check` must be a table, found {}", entry.value.kind.name()),
                "write `[check]` with `profile = \"production\"` or `\"development\"`",
            );
            return out;
        };
        for (key, e) in table {
            match key.as_str() {
                "profile" => {
                    if let Some(p) = self.profile(e) {
                        out.profile = p;
                        out.profile_location = Some(self.sources.location(e.value.pos));
                    }
                }
                "waive" => out.waivers = self.waivers(e),
                _ => {
                    let hint = match closest(key, KEYS) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "`[check]` takes `profile` and `[check.waive]`".to_owned(),
                    };
                    self.error_at(e.key, format!("unknown key `{key}` in `[check]`"), hint);
                }
            }
        }
        out
    }

    fn profile(&mut self, e: &Entry) -> Option<CheckProfile> {
        let names: Vec<String> = CheckProfile::ALL
            .iter()
            .map(|p| format!("`profile = \"{}\"`", p.name()))
            .collect();
        let hint = format!("write {}", names.join(" or "));
        match &e.value.kind {
            Kind::String(s) => match CheckProfile::from_name(s) {
                Some(p) => Some(p),
                None => {
                    let names = CheckProfile::ALL.map(CheckProfile::name);
                    let prefix = names
                        .into_iter()
                        .find(|n| !s.is_empty() && n.starts_with(s.as_str()));
                    let hint = match prefix.or_else(|| closest(s, names)) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => hint,
                    };
                    self.error_at(e.value.pos, format!("unknown check profile `{s}`"), hint);
                    None
                }
            },
            other => {
                self.error_at(
                    e.value.pos,
                    format!("`check.profile` must be a string, found {}", other.name()),
                    hint,
                );
                None
            }
        }
    }

    fn waivers(&mut self, e: &Entry) -> Vec<Waiver> {
        let Kind::Table(table) = &e.value.kind else {
            self.error_at(
                e.value.pos,
                format!(
                    "`check.waive` must be a table, found {}",
                    e.value.kind.name()
                ),
                "write `[check.waive]` with one `rule-id = \"why\"` per waived rule",
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(table.len());
        for (rule, w) in table {
            match &w.value.kind {
                Kind::String(reason) if !reason.trim().is_empty() => out.push(Waiver {
                    rule: rule.clone(),
                    reason: reason.clone(),
                    location: Some(self.sources.location(w.key)),
                }),
                Kind::String(_) => self.error_at(
                    w.value.pos,
                    format!("the waiver of `{rule}` gives no reason"),
                    format!("say why the rule does not apply: `{rule} = \"why\"`"),
                ),
                other => self.error_at(
                    w.value.pos,
                    format!(
                        "the waiver of `{rule}` must be a string, its reason; found {}",
                        other.name()
                    ),
                    format!("write `{rule} = \"why\"`"),
                ),
            }
        }
        out
    }
}
