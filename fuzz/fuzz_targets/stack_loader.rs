//! Fuzz target: arbitrary bytes as a stack file, loaded with the default
//! registry (every provider, `sim_resource` included) and, when it loads,
//! checked the way `infra validate` does. Any panic is a finding; errors
//! are the expected outcome.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use infra_core::Registry;
use infra_engine::Engine;
use libfuzzer_sys::fuzz_target;

/// The shipped stacks, so that inputs may `extends` them.
const SHIPPED: [(&str, &str); 6] = [
    ("airflow.toml", include_str!("../../stacks/airflow.toml")),
    ("demo.toml", include_str!("../../stacks/demo.toml")),
    ("dev.toml", include_str!("../../stacks/dev.toml")),
    ("local.toml", include_str!("../../stacks/local.toml")),
    ("prod.toml", include_str!("../../stacks/prod.toml")),
    ("staging.toml", include_str!("../../stacks/staging.toml")),
];

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    engine: Engine,
    registry: Registry,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("stacks")).expect("stacks dir");
        for (name, text) in SHIPPED {
            std::fs::write(root.join("stacks").join(name), text).expect("write stack");
        }
        Fixture {
            _dir: dir,
            root,
            engine: Engine::new(infra::default_registry()).with_env(env),
            registry: infra::default_registry(),
        }
    })
}

/// A fixed environment: one variable set, everything else unset.
fn env(name: &str) -> Option<String> {
    (name == "FUZZ_SET").then(|| "value".to_owned())
}

fn load(root: &Path, registry: &Registry, engine: &Engine) {
    let loaded = infra_stack::load_stack(root, "fuzz", registry, &env);
    for d in &loaded.diagnostics {
        // Rendering is part of what users see.
        let _ = d.to_string();
    }
    if let Some(stack) = loaded.stack {
        let _ = engine.check(&stack);
        let _ = engine.graph(&stack, infra_engine::GraphFormat::Dot);
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    std::fs::write(f.root.join("stacks/fuzz.toml"), data).expect("write input");
    load(&f.root, &f.registry, &f.engine);
});
