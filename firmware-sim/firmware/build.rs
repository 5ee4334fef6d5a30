//! Generates the firmware's build-time inputs from the environment `firmware-sim run` sets:
//!
//! - `EDGEGAN_MODEL`: the `.egm` file to embed (copied to `OUT_DIR/model.egm`);
//! - `EDGEGAN_FLASH_BYTES`, `EDGEGAN_RAM_BYTES`: the device profile, written as `memory.x` so
//!   that a model that does not fit is a link error; `EDGEGAN_FLASH_ORIGIN`,
//!   `EDGEGAN_RAM_ORIGIN`: where the board has them (default: the MPS2 AN386's 0 and
//!   0x2000_0000);
//! - `EDGEGAN_PAIRS`: the samples to make, joined by commas: `seed:label`, `seed:-` without
//!   a condition, or `seed:m<kind>:<mask seed>` for a mask drawn by `maskgen` (kind 0 rect,
//!   1 half, 2 mixed);
//! - `EDGEGAN_PICTURE`: for mask-conditioned models, a file of little-endian f32, the picture
//!   the masks apply to (`[C, H, W]` of the model's mask shape).
//!
//! `config.rs` gets `ARENA_BYTES`, `OUTPUT_LEN` and the mask shape from the model header (so
//! every buffer is a static sized at build time), the `PAIRS` table and the `PICTURE`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    for var in [
        "EDGEGAN_MODEL",
        "EDGEGAN_FLASH_BYTES",
        "EDGEGAN_RAM_BYTES",
        "EDGEGAN_FLASH_ORIGIN",
        "EDGEGAN_RAM_ORIGIN",
        "EDGEGAN_PAIRS",
        "EDGEGAN_PICTURE",
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
    // Header byte 21 is the condition kind (2 = mask); the mask shape follows at 32.
    let is_mask = model.get(21) == Some(&2);
    let mask_dims: [u32; 3] = if is_mask {
        [u32_at(32), u32_at(36), u32_at(40)]
    } else {
        [0; 3]
    };
    let mask_len: usize = mask_dims.iter().map(|&d| d as usize).product();
    fs::write(out.join("model.egm"), &model).expect("writing model.egm");

    let size = |var: &str, default: u32| -> u32 {
        env::var(var).ok().map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{var}={v} is not a byte count"))
        })
    };
    let flash = size("EDGEGAN_FLASH_BYTES", 1024 * 1024);
    let ram = size("EDGEGAN_RAM_BYTES", 256 * 1024);
    let flash_origin = size("EDGEGAN_FLASH_ORIGIN", 0);
    let ram_origin = size("EDGEGAN_RAM_ORIGIN", 0x2000_0000);
    fs::write(
        out.join("memory.x"),
        format!(
            "MEMORY\n{{\n  FLASH : ORIGIN = {flash_origin:#010x}, LENGTH = {flash}\n  \
             RAM : ORIGIN = {ram_origin:#010x}, LENGTH = {ram}\n}}\n{}",
            // riscv-rt places its sections by region alias
            if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("riscv32") {
                "REGION_ALIAS(\"REGION_TEXT\", FLASH);\nREGION_ALIAS(\"REGION_RODATA\", FLASH);\n\
                 REGION_ALIAS(\"REGION_DATA\", RAM);\nREGION_ALIAS(\"REGION_BSS\", RAM);\n\
                 REGION_ALIAS(\"REGION_HEAP\", RAM);\nREGION_ALIAS(\"REGION_STACK\", RAM);\n"
            } else {
                ""
            }
        ),
    )
    .expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());

    let pairs = env::var("EDGEGAN_PAIRS").unwrap_or_else(|_| "42:-".to_string());
    let mut table = String::new();
    let mut count = 0usize;
    for pair in pairs.split(',').filter(|p| !p.is_empty()) {
        let (seed, condition) = pair.split_once(':').unwrap_or((pair, "-"));
        let seed: u64 = seed
            .parse()
            .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad seed in {pair:?}"));
        let (code, mask_seed): (u32, u64) = if condition == "-" {
            (u32::MAX, 0)
        } else if let Some(mask) = condition.strip_prefix('m') {
            let (kind, mask_seed) = mask
                .split_once(':')
                .unwrap_or_else(|| panic!("EDGEGAN_PAIRS: bad mask in {pair:?}"));
            (
                kind.parse()
                    .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad mask kind in {pair:?}")),
                mask_seed
                    .parse()
                    .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad mask seed in {pair:?}")),
            )
        } else {
            let label = condition
                .parse()
                .unwrap_or_else(|_| panic!("EDGEGAN_PAIRS: bad label in {pair:?}"));
            (label, 0)
        };
        assert_eq!(
            condition.starts_with('m'),
            is_mask,
            "EDGEGAN_PAIRS: {pair:?} does not fit the model's condition"
        );
        write!(table, "({seed}, {code}, {mask_seed}), ").expect("fmt");
        count += 1;
    }

    let mut picture = String::new();
    if is_mask {
        let path = env::var("EDGEGAN_PICTURE")
            .unwrap_or_else(|_| panic!("EDGEGAN_PICTURE is not set for a mask-conditioned model"));
        println!("cargo:rerun-if-changed={path}");
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        assert_eq!(
            bytes.len(),
            4 * mask_len,
            "{path}: the picture must hold {mask_len} f32 values"
        );
        for b in bytes.chunks_exact(4) {
            let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            write!(picture, "f32::from_bits({bits:#010x}), ").expect("fmt");
        }
    }
    let [mask_c, mask_h, mask_w] = mask_dims;
    fs::write(
        out.join("config.rs"),
        format!(
            "/// Arena bytes from the model header.\n\
             pub const ARENA_BYTES: usize = {arena_bytes};\n\
             /// Elements of one sample.\n\
             pub const OUTPUT_LEN: usize = {output_len};\n\
             /// Mask shape `[C, H, W]` (zeros unless mask-conditioned).\n\
             pub const MASK_DIMS: [usize; 3] = [{mask_c}, {mask_h}, {mask_w}];\n\
             /// Elements of the mask and of the masked object.\n\
             pub const MASK_LEN: usize = {mask_len};\n\
             /// (seed, label or mask kind or u32::MAX, mask seed) of each sample to make.\n\
             pub static PAIRS: [(u64, u32, u64); {count}] = [{table}];\n\
             /// The picture the masks apply to.\n\
             pub static PICTURE: [f32; {mask_len}] = [{picture}];\n"
        ),
    )
    .expect("writing config.rs");
}
