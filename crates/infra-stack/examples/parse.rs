//! Parses TOML files with the same parser the loader uses, and nothing
//! else: the baseline `scripts/bench` compares planning against.

fn main() -> std::process::ExitCode {
    let mut keys = 0usize;
    for path in std::env::args().skip(1) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            return std::process::ExitCode::FAILURE;
        };
        match toml::de::DeTable::parse(&text) {
            Ok(table) => keys += table.get_ref().len(),
            Err(_) => return std::process::ExitCode::FAILURE,
        }
    }
    std::process::ExitCode::from(u8::from(keys == 0))
}
