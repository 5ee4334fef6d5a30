//! Generates the peer firmware's model and inputs from the environment `firmware-sim
//! bench-peer` sets:
//!
//! - `PEER_ONNX`: the generator ONNX, turned into Burn code by burn-onnx's import
//!   (`ModelGen`, weights embedded in flash);
//! - `PEER_INPUTS`: a file of little-endian values, per sample: the label (i64, -1 for
//!   none) then the noise `z` (`PEER_NOISE_DIM` f32), exactly what the edgegan firmware's
//!   sampler draws for the same seed;
//! - `PEER_HEAP_BYTES`: the heap reserved for Burn's tensors.
//!
//! The memory map is the MPS2 board's (4 MiB code, 4 MiB data): the bench measures what
//! the peer needs, it does not impose a device profile.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use burn_onnx::{LoadStrategy, ModelGen};

fn main() {
    for var in [
        "PEER_ONNX",
        "PEER_INPUTS",
        "PEER_NOISE_DIM",
        "PEER_HEAP_BYTES",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let get = |var: &str| {
        env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: build this firmware with `firmware-sim bench-peer`")
        })
    };

    let onnx = get("PEER_ONNX");
    println!("cargo:rerun-if-changed={onnx}");
    fs::copy(&onnx, out.join("model.onnx")).unwrap_or_else(|e| panic!("copying {onnx}: {e}"));
    ModelGen::new()
        .input(out.join("model.onnx").to_str().expect("utf-8 OUT_DIR"))
        .out_dir("model/")
        .load_strategy(LoadStrategy::Embedded)
        .run_from_script();

    let noise_dim: usize = get("PEER_NOISE_DIM").parse().expect("PEER_NOISE_DIM");
    let heap: usize = get("PEER_HEAP_BYTES").parse().expect("PEER_HEAP_BYTES");
    let inputs = get("PEER_INPUTS");
    println!("cargo:rerun-if-changed={inputs}");
    let bytes = fs::read(&inputs).unwrap_or_else(|e| panic!("reading {inputs}: {e}"));
    let per = 8 + 4 * noise_dim;
    assert!(
        !bytes.is_empty() && bytes.len() % per == 0,
        "{inputs}: not whole samples of {per} bytes"
    );
    let (mut labels, mut z) = (String::new(), String::new());
    for s in bytes.chunks_exact(per) {
        let label = i64::from_le_bytes(s[..8].try_into().unwrap());
        write!(labels, "{label}, ").unwrap();
        for v in s[8..].chunks_exact(4) {
            let bits = u32::from_le_bytes(v.try_into().unwrap());
            write!(z, "f32::from_bits({bits:#010x}), ").unwrap();
        }
    }
    let count = bytes.len() / per;
    fs::write(
        out.join("config.rs"),
        format!(
            "pub const NOISE_DIM: usize = {noise_dim};\n\
             pub const HEAP_BYTES: usize = {heap};\n\
             pub static LABELS: [i64; {count}] = [{labels}];\n\
             pub static Z: [f32; {}] = [{z}];\n",
            count * noise_dim
        ),
    )
    .unwrap();
    fs::write(
        out.join("memory.x"),
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n  \
         RAM : ORIGIN = 0x20000000, LENGTH = 4M\n}\n",
    )
    .unwrap();
    println!("cargo:rustc-link-search={}", out.display());
}
