//! The CI examples in examples/ci/ stay valid: both files parse as YAML and
//! have the flow examples/ci/README.md describes (plans and checks on pull
//! or merge requests; applies on main promoted dev -> staging -> prod, prod
//! behind an approval, each environment serialised, AWS credentials through
//! OIDC), and every `infra` command line in their scripts parses with
//! infra's own argument parser.
//!
//! How command lines are found. Every `run:` of a GitHub Actions step and
//! every `before_script:` / `script:` / `after_script:` entry of a GitLab
//! job (nested lists flattened, as GitLab does) is a shell script. Lines
//! ending in `\` are joined with the next, as the shell does; each logical
//! line that starts with `infra ` once trimmed is a command line. It is
//! split into words as the shell would for what these files use: single
//! and double quotes, backslashes, `$VAR`, `${VAR}` and GitHub's
//! `${{ expr }}`, each replaced by the plausible value in [`VARIABLES`]
//! (one missing there fails the test: add it). Words run up to the first
//! `|`, `||`, `&&`, `;` or `&`; redirections (`> file`, `>> file`, `2>&1`,
//! `< file`) are dropped with their target. Anything else (command
//! substitution, subshells, here-documents) fails the test instead of
//! being guessed at, and so does `infra <subcommand>` anywhere but at the
//! start of a line, which the extractor would miss.

use std::iter::Peekable;
use std::path::{Path, PathBuf};
use std::str::Chars;

use clap::Parser as _;
use serde_norway::{Mapping, Value};

const GITHUB: &str = "examples/ci/github-actions.yml";
const GITLAB: &str = "examples/ci/gitlab-ci.yml";

/// How many `infra` command lines each file has (as written, not per
/// matrix entry or per job inheriting a script): the extractor must find
/// at least these, so that a broken one cannot pass by finding nothing.
const GITHUB_COMMANDS: usize = 8;
const GITLAB_COMMANDS: usize = 7;

/// Plausible values of the variables the command lines use.
const VARIABLES: &[(&str, &str)] = &[
    ("STACK", "dev"),
    ("STATE", "s3://example-state-bucket/airflow/dev.json"),
    ("RUNNER_TEMP", "/home/runner/work/_temp"),
    ("${{ matrix.stack }}", "dev"),
];

/// infra's subcommands, to spot an `infra` command not at the start of a
/// line. (Missing one here only weakens that guard; the parser decides
/// what is valid.)
const SUBCOMMANDS: &[&str] = &[
    "plan",
    "apply",
    "destroy",
    "validate",
    "graph",
    "import",
    "output",
    "state",
    "force-unlock",
    "backend",
    "eks",
    "schema",
    "check",
    "diff",
];

/// Parses one command line (`argv[0]` is `infra`) with infra's own
/// argument parser; the error is clap's message.
fn parse(argv: &[String]) -> Result<(), String> {
    infra_cli::args::Cli::try_parse_from(argv)
        .map(drop)
        .map_err(|e| e.to_string())
}

// ------------------------------------------------------------- loading

fn path_of(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)
}

fn load(file: &str) -> Value {
    let path = path_of(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn mapping<'a>(v: &'a Value, what: &str) -> &'a Mapping {
    v.as_mapping()
        .unwrap_or_else(|| panic!("{what} should be a mapping, found {v:?}"))
}

/// `v[k0][k1]...`, or None when any step is missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

/// A string, or a list of strings and of `{ job: NAME }` maps (GitLab's
/// `needs`), as names.
fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().or_else(|| str_at(i, &["job"])))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A GitHub or GitLab `environment:`: a name, or a map with `name`.
fn environment_name(job: &Value) -> Option<&str> {
    str_at(job, &["environment"]).or_else(|| str_at(job, &["environment", "name"]))
}

// ------------------------------------------------------------- scripts

/// A shell script of a CI file: where it is, and its text.
struct Script {
    origin: String,
    text: String,
}

/// GitHub: every step's `run`.
fn github_scripts(doc: &Value) -> Vec<Script> {
    let jobs = mapping(at(doc, &["jobs"]).expect("a workflow has jobs"), "`jobs`");
    let mut out = Vec::new();
    for (id, job) in jobs {
        let id = id.as_str().unwrap_or("?");
        let steps = at(job, &["steps"]).and_then(Value::as_sequence);
        for (i, step) in steps.into_iter().flatten().enumerate() {
            if let Some(run) = step.get("run") {
                let text = run
                    .as_str()
                    .unwrap_or_else(|| panic!("jobs.{id}.steps[{i}].run is not a string: {run:?}"));
                out.push(Script {
                    origin: format!("jobs.{id}.steps[{i}].run"),
                    text: text.to_owned(),
                });
            }
        }
    }
    out
}

/// GitLab's top-level keys that are not jobs.
const GITLAB_KEYWORDS: &[&str] = &[
    "workflow",
    "stages",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// GitLab: every job's (and hidden template's) script entries, nested
/// lists flattened; an entry that is not a string is an error (a `: ` in
/// a plain scalar makes a YAML map that GitLab refuses).
fn gitlab_scripts(doc: &Value) -> Result<Vec<Script>, String> {
    let mut out = Vec::new();
    for (name, job) in mapping(doc, "the pipeline") {
        let name = name.as_str().unwrap_or("?");
        if GITLAB_KEYWORDS.contains(&name) && name != "default" {
            continue;
        }
        for key in ["before_script", "script", "after_script"] {
            if let Some(entries) = job.get(key) {
                flatten(entries, &format!("{name}.{key}"), &mut out)?;
            }
        }
    }
    Ok(out)
}

fn flatten(v: &Value, origin: &str, out: &mut Vec<Script>) -> Result<(), String> {
    match v {
        Value::String(s) => out.push(Script {
            origin: origin.to_owned(),
            text: s.clone(),
        }),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{origin}[{i}]"), out)?;
            }
        }
        other => {
            return Err(format!(
                "{origin} is not a string but {other:?} (quote the line, or write it as a `|` block)"
            ));
        }
    }
    Ok(())
}

/// A script's logical lines: a line ending in `\` continues on the next,
/// the backslash and the newline removed, as the shell does.
fn logical_lines(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// An `infra` command line found in a CI file.
#[derive(Debug)]
struct CommandLine {
    origin: String,
    text: String,
    /// The words the shell would pass, `infra` first.
    argv: Result<Vec<String>, String>,
}

/// The `infra` command lines of these scripts; the error lists lines
/// that mention an infra command elsewhere than at their start.
fn command_lines(file: &str, scripts: &[Script]) -> Result<Vec<CommandLine>, String> {
    let mut found = Vec::new();
    let mut hidden = Vec::new();
    for script in scripts {
        for line in logical_lines(&script.text) {
            let line = line.trim();
            if line == "infra" || line.starts_with("infra ") {
                found.push(CommandLine {
                    origin: format!("{file}: {}", script.origin),
                    text: line.to_owned(),
                    argv: words(line),
                });
            } else if !line.starts_with('#') && mentions_infra_command(line) {
                hidden.push(format!("{file}: {}: {line}", script.origin));
            }
        }
    }
    if hidden.is_empty() {
        Ok(found)
    } else {
        Err(format!(
            "these lines run infra elsewhere than at their start, where the test cannot check them; put each infra command at the start of its own line:\n  {}",
            hidden.join("\n  ")
        ))
    }
}

/// Whether `infra <subcommand>` appears in the line (not at its start).
fn mentions_infra_command(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .any(|w| w[0].ends_with("infra") && SUBCOMMANDS.contains(&w[1]))
}

// ------------------------------------------------------------- shell words

#[derive(Debug, PartialEq)]
enum Token {
    /// A word: quotes removed, variables replaced.
    Word(String),
    /// An operator: `|`, `&&`, `>`, `2>&`, ...
    Op(String),
}

/// The operators these files may use (without a leading file descriptor).
const OPERATORS: &[&str] = &[
    "|", "||", "|&", "&", "&&", "&>", "&>>", ";", ";;", ">", ">>", ">&", ">|", "<", "<&", "<<",
    "<<<",
];

/// The words a command line passes to its program, `infra` first.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut tokens = tokenize(line)?.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(w) => out.push(w),
            Token::Op(op) if op.contains("<<") => {
                return Err(format!(
                    "here-documents (`{op}`) are not supported in an infra command line"
                ));
            }
            Token::Op(op) if op.contains('>') || op.contains('<') => match tokens.next() {
                Some(Token::Word(_)) => {}
                _ => return Err(format!("the redirection `{op}` has no target")),
            },
            // The end of this command: a pipe, a list operator.
            Token::Op(_) => break,
        }
    }
    Ok(out)
}

fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    struct Word {
        text: String,
        started: bool,
        quoted: bool,
    }
    impl Word {
        fn flush(&mut self, tokens: &mut Vec<Token>) {
            if self.started {
                tokens.push(Token::Word(std::mem::take(&mut self.text)));
            }
            self.started = false;
            self.quoted = false;
        }
    }
    let mut tokens = Vec::new();
    let mut word = Word {
        text: String::new(),
        started: false,
        quoted: false,
    };
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => word.flush(&mut tokens),
            '\'' => {
                word.started = true;
                word.quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.text.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                word.started = true;
                word.quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.text.push(c),
                            Some(c) => {
                                word.text.push('\\');
                                word.text.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some('$') => expand(&mut chars, &mut word.text)?,
                        Some('`') => return Err(unsupported("`...`")),
                        Some(c) => word.text.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                word.started = true;
                match chars.next() {
                    Some(c) => word.text.push(c),
                    None => return Err("the line ends in a lone backslash".into()),
                }
            }
            '$' => {
                word.started = true;
                expand(&mut chars, &mut word.text)?;
            }
            '#' if !word.started => break,
            '`' | '(' | ')' => return Err(unsupported(&c.to_string())),
            '|' | '&' | ';' | '<' | '>' => {
                // `2>`: a file descriptor right before a redirection.
                let fd = matches!(c, '<' | '>')
                    && word.started
                    && !word.quoted
                    && !word.text.is_empty()
                    && word.text.bytes().all(|b| b.is_ascii_digit());
                let mut op = String::new();
                if fd {
                    op = std::mem::take(&mut word.text);
                    word.started = false;
                } else {
                    word.flush(&mut tokens);
                }
                let digits = op.len();
                op.push(c);
                while let Some(&next) = chars.peek() {
                    let longer = format!("{}{next}", &op[digits..]);
                    if !OPERATORS.contains(&longer.as_str()) {
                        break;
                    }
                    op.push(next);
                    chars.next();
                }
                tokens.push(Token::Op(op));
            }
            c => {
                word.started = true;
                word.text.push(c);
            }
        }
    }
    word.flush(&mut tokens);
    Ok(tokens)
}

fn unsupported(what: &str) -> String {
    format!(
        "`{what}` (a subshell or command substitution) is not supported in an infra command line: write the value as a variable"
    )
}

/// Replaces the variable or GitHub expression after a `$` with its value
/// from [`VARIABLES`].
fn expand(chars: &mut Peekable<Chars<'_>>, out: &mut String) -> Result<(), String> {
    let name = match chars.peek().copied() {
        Some('{') => {
            chars.next();
            if chars.peek() == Some(&'{') {
                chars.next();
                let mut expr = String::new();
                loop {
                    match chars.next() {
                        Some('}') if chars.peek() == Some(&'}') => {
                            chars.next();
                            break;
                        }
                        Some(c) => expr.push(c),
                        None => return Err("a `${{` expression is not closed".into()),
                    }
                }
                format!("${{{{ {} }}}}", expr.trim())
            } else {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err("a `${` is not closed".into()),
                    }
                }
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "`${{{name}}}`: only plain variables are supported in an infra command line (no defaults or substitutions)"
                    ));
                }
                name
            }
        }
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                name.push(c);
                chars.next();
            }
            name
        }
        Some('(') => return Err(unsupported("$(...)")),
        Some(c) if "?@*#$!-0123456789".contains(c) => {
            return Err(format!(
                "`${c}` is not supported in an infra command line: write the value as a named variable"
            ));
        }
        // A lone `$` stays itself, as in the shell.
        _ => {
            out.push('$');
            return Ok(());
        }
    };
    match VARIABLES.iter().find(|(n, _)| *n == name) {
        Some((_, value)) => {
            out.push_str(value);
            Ok(())
        }
        None => Err(format!(
            "no plausible value for `{name}`: add one to VARIABLES in tests/cli_check/ci_examples.rs"
        )),
    }
}

// ------------------------------------------------------------- checks

/// Every command line of `file`, found (at least `expected`) and split:
/// those that parse (text and argv), and a message for each that does not.
fn checked_commands(
    file: &str,
    scripts: &[Script],
    expected: usize,
) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let lines = command_lines(file, scripts).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        lines.len() >= expected,
        "found {} infra command lines in {file}, expected at least {expected}: is the extractor broken?\n{lines:#?}",
        lines.len()
    );
    let mut failures = Vec::new();
    let mut parsed = Vec::new();
    for line in lines {
        let result = line.argv.and_then(|argv| match parse(&argv) {
            Ok(()) => Ok(argv),
            Err(e) => Err(format!("{e}\n    argv: {argv:?}")),
        });
        match result {
            Ok(argv) => parsed.push((line.text, argv)),
            Err(e) => failures.push(format!("{}\n    {}\n    {e}", line.origin, line.text)),
        }
    }
    (parsed, failures)
}

/// The commands that take the state lock must wait for it: the README
/// promises `--lock-timeout` on every one.
fn assert_lock_timeouts(file: &str, commands: &[(String, Vec<String>)]) {
    for (text, argv) in commands {
        if matches!(
            argv.get(1).map(String::as_str),
            Some("plan" | "apply" | "check")
        ) {
            assert!(
                argv.iter().any(|a| a == "--lock-timeout"),
                "{file}: `{text}` takes the state lock but passes no --lock-timeout"
            );
        }
    }
}

#[test]
fn every_infra_command_line_parses() {
    let github = load(GITHUB);
    let (commands, mut failures) =
        checked_commands(GITHUB, &github_scripts(&github), GITHUB_COMMANDS);
    assert_lock_timeouts(GITHUB, &commands);

    let gitlab = load(GITLAB);
    let scripts = gitlab_scripts(&gitlab).unwrap_or_else(|e| panic!("{GITLAB}: {e}"));
    let (commands, more) = checked_commands(GITLAB, &scripts, GITLAB_COMMANDS);
    assert_lock_timeouts(GITLAB, &commands);
    failures.extend(more);

    assert!(
        failures.is_empty(),
        "{} infra command line(s) do not parse:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn github_job<'a>(jobs: &'a Value, id: &str) -> &'a Value {
    jobs.get(id)
        .unwrap_or_else(|| panic!("{GITHUB}: no job `{id}`"))
}

/// A GitHub job's steps that use an action.
fn steps_with_uses(job: &Value) -> Vec<&Value> {
    at(job, &["steps"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter(|s| s.get("uses").is_some())
        .collect()
}

/// The step of job `id` that uses `action` (at any version).
fn step_using<'a>(jobs: &'a Value, id: &str, action: &str) -> &'a Value {
    steps_with_uses(github_job(jobs, id))
        .into_iter()
        .find(|s| str_at(s, &["uses"]).is_some_and(|u| u.starts_with(&format!("{action}@"))))
        .unwrap_or_else(|| panic!("{GITHUB}: job `{id}` does not use {action}"))
}

#[test]
fn github_workflow_has_the_flow() {
    let doc = load(GITHUB);
    assert!(
        at(&doc, &["on", "pull_request"]).is_some(),
        "{GITHUB}: no `on.pull_request`"
    );
    assert!(
        names(at(&doc, &["on", "push", "branches"])).contains(&"main".to_owned()),
        "{GITHUB}: `on.push.branches` does not contain main"
    );
    let jobs = at(&doc, &["jobs"]).expect("a workflow has jobs");
    let job = |id| github_job(jobs, id);
    let step_using = |id, action| step_using(jobs, id, action);

    // Pull requests: a plan and a check per stack, SARIF to code scanning,
    // one comment, the staging/prod diff.
    let plan = job("plan");
    assert!(str_at(plan, &["if"]).is_some_and(|c| c.contains("pull_request")));
    assert_eq!(
        names(at(plan, &["strategy", "matrix", "stack"])),
        ["dev", "staging", "prod"],
        "{GITHUB}: the plan job runs for each environment"
    );
    assert_eq!(str_at(plan, &["permissions", "id-token"]), Some("write"));
    assert_eq!(
        str_at(plan, &["permissions", "security-events"]),
        Some("write")
    );
    step_using("plan", "github/codeql-action/upload-sarif");
    let creds = step_using("plan", "aws-actions/configure-aws-credentials");
    assert!(str_at(creds, &["with", "role-to-assume"]).is_some());
    step_using("comment", "actions/github-script");
    assert_eq!(
        str_at(job("comment"), &["permissions", "pull-requests"]),
        Some("write")
    );
    assert!(str_at(job("diff"), &["if"]).is_some_and(|c| c.contains("pull_request")));

    // Merge to main: dev -> staging -> prod, each in its environment and
    // its own concurrency group, never cancelled, with OIDC credentials.
    let chain = [
        ("apply-dev", "dev", None),
        ("apply-staging", "staging", Some("apply-dev")),
        ("apply-prod", "production", Some("apply-staging")),
    ];
    let mut groups = Vec::new();
    for (id, environment, previous) in chain {
        let j = job(id);
        assert!(
            str_at(j, &["if"]).is_some_and(|c| c.contains("push") && c.contains("refs/heads/main")),
            "{GITHUB}: `{id}` must run only on a push to main"
        );
        if let Some(previous) = previous {
            assert!(
                names(j.get("needs")).contains(&previous.to_owned()),
                "{GITHUB}: `{id}` must need `{previous}`"
            );
        }
        assert_eq!(
            environment_name(j),
            Some(environment),
            "{GITHUB}: `{id}`'s environment"
        );
        let group = str_at(j, &["concurrency", "group"])
            .unwrap_or_else(|| panic!("{GITHUB}: `{id}` has no concurrency group"));
        assert_eq!(
            at(j, &["concurrency", "cancel-in-progress"]).and_then(Value::as_bool),
            Some(false),
            "{GITHUB}: a running apply of `{id}` must not be cancelled"
        );
        groups.push(group.to_owned());
        assert_eq!(str_at(j, &["permissions", "id-token"]), Some("write"));
        let creds = step_using(id, "aws-actions/configure-aws-credentials");
        assert!(str_at(creds, &["with", "role-to-assume"]).is_some());
    }
    groups.sort();
    groups.dedup();
    assert_eq!(
        groups.len(),
        chain.len(),
        "{GITHUB}: one concurrency group per environment"
    );

    // Third-party actions pinned to a major version or a commit.
    for (_, j) in mapping(jobs, "`jobs`") {
        for step in steps_with_uses(j) {
            let action = str_at(step, &["uses"]).unwrap_or_default();
            let pinned = action.split_once('@').is_some_and(|(_, v)| {
                (v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()))
                    || v.strip_prefix('v').is_some_and(|n| {
                        n.split('.')
                            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    })
            });
            assert!(
                pinned || action.starts_with("./"),
                "{GITHUB}: `{action}` is not pinned to a version tag (@vN) or a commit"
            );
        }
    }
}

/// A GitLab job with its `extends` templates merged in as GitLab does
/// (maps deep-merged, anything else replaced by the extending job).
fn resolved(doc: &Value, name: &str, depth: usize) -> Mapping {
    assert!(depth < 11, "{GITLAB}: `extends` nests too deep at `{name}`");
    let job = mapping(
        doc.get(name)
            .unwrap_or_else(|| panic!("{GITLAB}: no job `{name}`")),
        name,
    );
    let mut merged = Mapping::new();
    for parent in names(job.get("extends")) {
        merge(&mut merged, resolved(doc, &parent, depth + 1));
    }
    let mut own = job.clone();
    own.remove("extends");
    merge(&mut merged, own);
    merged
}

fn merge(into: &mut Mapping, from: Mapping) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Mapping(a)), Value::Mapping(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// The `if` conditions of a GitLab job's (or `workflow`'s) rules.
fn rule_conditions(rules: Option<&Value>) -> Vec<String> {
    rules
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|r| str_at(r, &["if"]))
        .map(str::to_owned)
        .collect()
}

#[test]
fn gitlab_pipeline_has_the_flow() {
    let doc = load(GITLAB);
    let stages = names(doc.get("stages"));
    assert!(!stages.is_empty(), "{GITLAB}: no stages");
    let workflow = rule_conditions(at(&doc, &["workflow", "rules"]));
    assert!(
        workflow.iter().any(|c| c.contains("merge_request_event")),
        "{GITLAB}: the workflow does not run for merge requests: {workflow:?}"
    );
    assert!(
        workflow.iter().any(|c| c.contains("\"main\"")),
        "{GITLAB}: the workflow does not run on main: {workflow:?}"
    );
    let job = |name: &str| Value::Mapping(resolved(&doc, name, 0));

    // Every job is in a declared stage.
    for (name, _) in mapping(&doc, "the pipeline") {
        let name = name.as_str().unwrap_or("?");
        if name.starts_with('.') || GITLAB_KEYWORDS.contains(&name) {
            continue;
        }
        let stage = str_at(&job(name), &["stage"]).map(str::to_owned);
        assert!(
            stage.as_ref().is_some_and(|s| stages.contains(s)),
            "{GITLAB}: `{name}`'s stage {stage:?} is not in `stages` {stages:?}"
        );
    }

    // Merge requests: a plan and a check per stack, the note, the diff.
    let plan = job("plan");
    assert!(
        rule_conditions(plan.get("rules"))
            .iter()
            .any(|c| c.contains("merge_request_event"))
    );
    let matrix = at(&plan, &["parallel", "matrix"])
        .and_then(Value::as_sequence)
        .and_then(|m| m.first())
        .expect("the plan job has a matrix");
    assert_eq!(names(matrix.get("STACK")), ["dev", "staging", "prod"]);
    assert_eq!(
        str_at(&plan, &["id_tokens", "AWS_ID_TOKEN", "aud"]),
        Some("sts.amazonaws.com"),
        "{GITLAB}: the plan job gets AWS credentials through OIDC"
    );
    for name in ["plan-note", "diff"] {
        assert!(
            rule_conditions(job(name).get("rules"))
                .iter()
                .any(|c| c.contains("merge_request_event")),
            "{GITLAB}: `{name}` runs on merge requests"
        );
    }

    // Main: dev -> staging -> prod, prod by hand, each in its environment
    // and resource group, with OIDC credentials.
    let chain = [
        ("apply-dev", "dev", None),
        ("apply-staging", "staging", Some("apply-dev")),
        ("apply-prod", "production", Some("apply-staging")),
    ];
    let mut groups = Vec::new();
    for (name, environment, previous) in chain {
        let j = job(name);
        let rules = j
            .get("rules")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        assert!(
            !rules.is_empty()
                && rules
                    .iter()
                    .all(|r| str_at(r, &["if"]).is_some_and(|c| c.contains("\"main\""))),
            "{GITLAB}: `{name}` must run only on main"
        );
        let manual = rules.iter().any(|r| str_at(r, &["when"]) == Some("manual"))
            || str_at(&j, &["when"]) == Some("manual");
        assert_eq!(
            manual,
            name == "apply-prod",
            "{GITLAB}: only prod waits for someone to start it (`when: manual`)"
        );
        if let Some(previous) = previous {
            assert!(
                names(j.get("needs")).contains(&previous.to_owned()),
                "{GITLAB}: `{name}` must need `{previous}`"
            );
        }
        assert_eq!(
            environment_name(&j),
            Some(environment),
            "{GITLAB}: `{name}`'s environment"
        );
        let group = str_at(&j, &["resource_group"])
            .unwrap_or_else(|| panic!("{GITLAB}: `{name}` has no resource_group"));
        groups.push(group.to_owned());
        assert_eq!(
            str_at(&j, &["id_tokens", "AWS_ID_TOKEN", "aud"]),
            Some("sts.amazonaws.com"),
            "{GITLAB}: `{name}` gets AWS credentials through OIDC"
        );
        assert!(
            str_at(&j, &["variables", "AWS_ROLE_ARN"]).is_some(),
            "{GITLAB}: `{name}` names the role to assume"
        );
    }
    groups.sort();
    groups.dedup();
    assert_eq!(
        groups.len(),
        chain.len(),
        "{GITLAB}: one resource group per environment"
    );
}

// ------------------------------------------------------------- the extractor

#[test]
fn command_lines_are_split_as_the_shell_would() {
    let script = Script {
        origin: "test".into(),
        text: [
            "echo start",
            "  infra plan --stack \"$STACK\" \\",
            "    --format markdown > \"plan-$STACK.md\"",
            "infra check --stack ${STACK} --json 2>&1 | tee out.json || true",
            "infra apply '$STACK' --lock-timeout 10m >>log # a comment",
            "infra output --stack ${{ matrix.stack }}",
            "# infra plan --stack commented-out",
        ]
        .join("\n"),
    };
    let lines = command_lines("test.yml", &[script]).unwrap();
    let argv: Vec<Vec<String>> = lines.into_iter().map(|l| l.argv.unwrap()).collect();
    let expected: Vec<Vec<&str>> = vec![
        vec!["infra", "plan", "--stack", "dev", "--format", "markdown"],
        vec!["infra", "check", "--stack", "dev", "--json"],
        vec!["infra", "apply", "$STACK", "--lock-timeout", "10m"],
        vec!["infra", "output", "--stack", "dev"],
    ];
    assert_eq!(argv, expected);

    // What cannot be checked fails instead of passing unseen.
    for (line, error) in [
        ("infra plan --stack $NOPE", "no plausible value for `NOPE`"),
        ("infra plan --stack $(whoami)", "`$(...)`"),
        ("infra plan --stack ${STACK:-dev}", "only plain variables"),
        ("infra plan --stack \"dev", "not closed"),
        ("infra plan --stack dev >", "has no target"),
        ("infra apply <<EOF", "here-documents"),
    ] {
        let e = words(line).unwrap_err();
        assert!(e.contains(error), "{line}: {e}");
    }
    let hidden = Script {
        origin: "test".into(),
        text: "cargo install --locked infra\nif true; then infra apply --stack dev; fi".into(),
    };
    let e = command_lines("test.yml", &[hidden]).unwrap_err();
    assert!(
        e.contains("test.yml: test: if true; then infra apply"),
        "{e}"
    );
    assert!(!e.contains("cargo install"), "{e}");

    // GitLab entries that YAML made into maps are refused.
    let doc: Value = serde_norway::from_str("job:\n  script:\n    - echo a: b\n").unwrap();
    let e = gitlab_scripts(&doc).err().unwrap();
    assert!(e.contains("job.script[0] is not a string"), "{e}");
}

#[test]
fn the_parser_check_can_fail() {
    let argv = |s: &str| words(s).unwrap();
    assert_eq!(
        parse(&argv("infra plan --stack dev --refresh=false")),
        Ok(())
    );
    for bad in [
        "infra plan --lock-timeout soon",
        "infra plan --no-such-flag",
        "infra deploy --stack dev",
        "infra apply --parallelism 0",
    ] {
        assert!(parse(&argv(bad)).is_err(), "`{bad}` parsed");
    }
}

#[test]
fn the_files_are_where_the_readme_says() {
    let readme = std::fs::read_to_string(path_of("examples/ci/README.md"))
        .expect("examples/ci/README.md exists");
    for file in [GITHUB, GITLAB] {
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(
            readme.contains(name),
            "examples/ci/README.md does not mention {name}"
        );
    }
    assert!(readme.contains(".github/workflows/"));
    assert!(readme.contains(".gitlab-ci.yml"));
}
