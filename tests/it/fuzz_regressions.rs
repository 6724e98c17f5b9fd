//! Replays the fuzz targets' saved inputs (`tests/data/fuzz/<target>/`: the seeds, and every
//! input that ever broke an invariant) through the same checks the fuzz targets run, so that
//! plain `cargo test` guards what fuzzing found without needing cargo-fuzz.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::fuzz_harness;

/// Runs `check` on every file of `tests/data/fuzz/<target>/` and reports all that fail.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "{}: only {} inputs",
        dir.display(),
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "inputs that break an invariant: {failed:#?}"
    );
}

#[test]
fn parse_postback_inputs() {
    replay("parse_postback", fuzz_harness::parse_postback);
}

#[test]
fn template_inputs() {
    replay("template", fuzz_harness::template);
}

#[test]
fn click_id_inputs() {
    replay("click_id", fuzz_harness::click_id);
}

#[test]
fn tracker_inputs() {
    replay("tracker", fuzz_harness::tracker);
}
