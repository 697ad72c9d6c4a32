//! Golden-file helpers shared by the translation suites: each case is an
//! input file and an expected file side by side, and `KEEL_BLESS=1 cargo test
//! -p keel-api` rewrites the expected files from the current output (review
//! the diff before keeping it).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `tests/golden/<name>`.
pub fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the file at `expected` (as JSON when `json`, else as
/// exact text), or rewrites the file under `KEEL_BLESS=1`. Returns a failure
/// line, if any.
pub fn check(expected: &Path, actual: &str, json: bool) -> Option<String> {
    let name = expected.file_name()?.to_string_lossy().into_owned();
    if std::env::var("KEEL_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(expected, actual).unwrap_or_else(|e| panic!("{name}: {e}"));
        return None;
    }
    let Ok(want) = std::fs::read_to_string(expected) else {
        return Some(format!("{name}: missing (run with KEEL_BLESS=1)"));
    };
    let same = if json {
        serde_json::from_str::<Value>(&want).ok() == serde_json::from_str::<Value>(actual).ok()
    } else {
        want == actual
    };
    (!same).then(|| format!("{name}: differs\n--- expected\n{want}\n--- actual\n{actual}"))
}

/// Pretty JSON with a final newline, as the golden files are written.
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

/// The files in `dir` ending with `suffix`, as (case name, path), sorted.
pub fn cases(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.strip_suffix(suffix)?.to_owned();
            Some((name, p))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no *{suffix} cases");
    found
}

/// Fails the test with every collected failure line.
pub fn report(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
