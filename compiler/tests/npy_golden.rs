//! The one NPY codec on every shipped golden file: each `models/*/golden/*/*.npy` reads
//! back as the element type its name says and writes back byte for byte, so the tests
//! compare goldens exactly as before and `regen-golden` keeps their bytes.

use std::path::{Path, PathBuf};

use edgegan_compiler::npy;

fn golden_files() -> Vec<PathBuf> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut files = Vec::new();
    for model in std::fs::read_dir(&models).expect("models/ is readable") {
        let golden = model.expect("a models/ entry").path().join("golden");
        let Ok(cases) = std::fs::read_dir(&golden) else {
            continue;
        };
        for case in cases {
            let case = case.expect("a golden/ entry").path();
            for f in std::fs::read_dir(&case).into_iter().flatten() {
                let f = f.expect("a case entry").path();
                if f.extension().is_some_and(|e| e == "npy") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_golden_file_reads_and_writes_back_byte_for_byte() {
    let files = golden_files();
    assert!(
        files.len() >= 50,
        "expected the shipped golden files under models/*/golden, found {}",
        files.len()
    );
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let again = if path.ends_with("label.npy") {
            let a = npy::from_bytes::<i64>(&bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            npy::to_bytes(&a.shape, &a.data)
        } else {
            let a = npy::from_bytes::<f32>(&bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            assert!(a.data.iter().all(|v| v.is_finite()), "{path:?}");
            npy::to_bytes(&a.shape, &a.data)
        };
        assert!(again == bytes, "{path:?} does not write back byte for byte");
    }
}
