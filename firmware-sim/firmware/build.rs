//! Generates the firmware's build-time inputs from the environment `firmware-sim run` sets:
//!
//! - `EDGEGAN_MODEL`: the `.egm` file to embed (copied to `OUT_DIR/model.egm`);
//! - `EDGEGAN_FLASH_BYTES`, `EDGEGAN_RAM_BYTES`: the device profile, written as `memory.x` so
//!   that a model that does not fit is a link error;
//! - `EDGEGAN_PAIRS`: the samples to make, `seed:label` (or `seed:-` without a label) joined
//!   by commas.
//!
//! `config.rs` gets `ARENA_BYTES` and `OUTPUT_LEN` from the model header (so the arena is a
//! static sized at build time) and the `PAIRS` table.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

const FLASH_ORIGIN: u32 = 0x0000_0000;
const RAM_ORIGIN: u32 = 0x2000_0000;

fn main() {
    for var in [
        "EDGEGAN_MODEL",
        "EDGEGAN_FLASH_BYTES",
        "EDGEGAN_RAM_BYTES",
        "EDGEGAN_PAIRS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));

    let model_path = env::var("EDGEGAN_MODEL").unwrap_or_else(|_| {
        panic!("EDGEGAN_MODEL is not set: build this firmware with `firmware-sim run`")
    });
    println!("cargo:rerun-if-changed={model_path}");
    let model = fs::read(&model_path).unwrap_or_else(|e| panic!("reading {model_path}: {e}"));
    let u32_at = |o: usize| -> u32 {
        let b = model
            .get(o..o + 4)
            .unwrap_or_else(|| panic!("{model_path}: truncated .egm header"));
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    assert!(
        model.starts_with(b"EGMF"),
        "{model_path}: not an .egm model"
    );
    let arena_bytes = u32_at(68);
    let output_len: u64 = (0..4).map(|i| u64::from(u32_at(44 + 4 * i))).product();
    fs::write(out.join("model.egm"), &model).expect("writing model.egm");

    let size = |var: &str, default: u32| -> u32 {
        env::var(var).ok().map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{var}={v} is not a byte count"))
        })
    };
    let flash = size("EDGEGAN_FLASH_BYTES", 1024 * 1024);
    let ram = size("EDGEGAN_RAM_BYTES", 256 * 1024);
    fs::write(
        out.join("memory.x"),
        format!(
            "MEMORY\n{{\n  FLASH : ORIGIN = {FLASH_ORIGIN:#010x}, LENGTH = {flash}\n  \
             RAM : ORIGIN = {RAM_ORIGIN:#010x}, LENGTH = {ram}\n}}\n"
        ),
    )
    .expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());

    let pairs = env::var("EDGEGAN_PAIRS").unwrap_or_else(|_| "42:-".to_string());
    let mut table = String::new();
    let mut count = 0usize;
    for pair in pairs.split(',').filter(|p| !p.is_empty()) {
        let (seed, label) = pair.split_once(':').unwrap_or((pair, "-"));
        let seed: u64 = seed
            .parse()
            .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad seed in {pair:?}"));
        let label: u32 = if label == "-" {
            u32::MAX
        } else {
            label
                .parse()
                .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad label in {pair:?}"))
        };
        write!(table, "({seed}, {label}), ").expect("fmt");
        count += 1;
    }
    fs::write(
        out.join("config.rs"),
        format!(
            "/// Arena bytes from the model header.\n\
             pub const ARENA_BYTES: usize = {arena_bytes};\n\
             /// Elements of one sample.\n\
             pub const OUTPUT_LEN: usize = {output_len};\n\
             /// (seed, label or u32::MAX) of each sample to make.\n\
             pub static PAIRS: [(u64, u32); {count}] = [{table}];\n"
        ),
    )
    .expect("writing config.rs");
}
