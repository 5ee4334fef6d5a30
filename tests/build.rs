//! Generates the `burn-import` engine's models: every `models/*/generator.onnx` goes
//! through burn-onnx's import (`ModelGen`, ONNX -> Burn Rust code with the weights
//! embedded), and `$OUT_DIR/burn_import/registry.rs` lists them with an adapter that calls
//! each generated `Model::forward` with the contract's inputs in the graph's order.
//!
//! A model the importer cannot lower does not break the build (the other engines and
//! models must still be tested): its registry entry carries the importer's message, and
//! the engine turns it into a load error that names the model.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn_onnx::{LoadStrategy, ModelGen};
use onnx_ir::ir::{ArgType, DType};
use sha2::{Digest, Sha256};

/// Sub-folder of `$OUT_DIR` the generated code goes to.
const SUBDIR: &str = "burn_import";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let models = manifest.join("..").join("models");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join(SUBDIR);
    std::fs::create_dir_all(&out_dir).unwrap();
    // a new or removed model folder changes the folder's mtime
    println!("cargo:rerun-if-changed={}", models.display());
    println!("cargo:rerun-if-changed=build.rs");

    let mut folders: Vec<PathBuf> = std::fs::read_dir(&models)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    folders.sort();

    let mut modules = String::new();
    let mut arms = String::new();
    for folder in folders {
        let onnx = folder.join("generator.onnx");
        if !onnx.is_file() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", onnx.display());
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let ident = rust_ident(&name);
        let sha256: String = std::fs::read(&onnx)
            .map(|b| {
                Sha256::digest(b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect()
            })
            .unwrap_or_default();
        let entry = match generate(&onnx, &out_dir, &ident) {
            Ok(info) => {
                writeln!(
                    modules,
                    "#[allow(clippy::all, unused, missing_docs)]\npub mod {ident} {{\n    \
                     include!(concat!(env!(\"OUT_DIR\"), \"/{SUBDIR}/{ident}.rs\"));\n}}"
                )
                .unwrap();
                adapter(&mut modules, &ident, &info);
                format!("Imported::Model(|device| Box::new({ident}_adapter(device)))")
            }
            Err(message) => format!("Imported::Failed({message:?}.to_string())"),
        };
        writeln!(arms, "        {name:?} => Some(({sha256:?}, {entry})),").unwrap();
    }
    let registry = format!(
        "{modules}\n/// The SHA-256 of the `generator.onnx` imported for the folder `name` and its model \
         (or why it could not be imported); `None` for a folder that had no \
         `generator.onnx` when the tests were built.\n\
         pub fn lookup(name: &str) -> Option<(&'static str, Imported)> {{\n    match name {{\n{arms}        \
         _ => None,\n    }}\n}}\n"
    );
    std::fs::write(out_dir.join("registry.rs"), registry).unwrap();
}

/// What the adapter needs to know of a graph's inputs and output.
struct GraphInfo {
    /// (name, is it int64, rank, static dims) per input, in the graph's order
    inputs: Vec<(String, bool, usize, Vec<Option<usize>>)>,
    /// rank of the single output
    output_rank: usize,
}

/// A module name for a model folder name.
fn rust_ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "m_");
    }
    s
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

/// Reads the graph's interface with onnx-ir, then generates `<ident>.rs` (+ `.bpk`) with
/// `ModelGen`. The file is copied under the module's name first, since `ModelGen` names
/// its output after the input file.
fn generate(onnx: &Path, out_dir: &Path, ident: &str) -> Result<GraphInfo, String> {
    let local = out_dir.join(format!("{ident}.onnx"));
    std::fs::copy(onnx, &local).map_err(|e| format!("cannot copy {}: {e}", onnx.display()))?;
    // the importer panics on what it cannot lower; keep its message, not the backtrace
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<GraphInfo, String> {
        let graph = onnx_ir::OnnxGraphBuilder::new()
            .parse_file(&local)
            .map_err(|e| format!("onnx-ir cannot parse it: {e}"))?;
        let mut inputs = Vec::new();
        for arg in &graph.inputs {
            let ArgType::Tensor(t) = &arg.ty else {
                return Err(format!(
                    "input `{}` is {:?}, not a tensor",
                    arg.name, arg.ty
                ));
            };
            let int = match t.dtype {
                DType::F32 => false,
                DType::I64 => true,
                other => return Err(format!("input `{}` is {other:?}", arg.name)),
            };
            let dims = t.static_shape.clone().unwrap_or_else(|| vec![None; t.rank]);
            inputs.push((arg.name.clone(), int, t.rank, dims));
        }
        let output_rank = match graph.outputs.as_slice() {
            [out] => match &out.ty {
                ArgType::Tensor(t) if t.dtype == DType::F32 => t.rank,
                other => return Err(format!("output `{}` is {other:?}", out.name)),
            },
            outs => return Err(format!("{} outputs, the contract has one", outs.len())),
        };
        ModelGen::new()
            .input(local.to_str().unwrap())
            .out_dir(&format!("{SUBDIR}/"))
            .load_strategy(LoadStrategy::Embedded)
            .run_from_script();
        Ok(GraphInfo {
            inputs,
            output_rank,
        })
    }));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|p| {
        Err(format!(
            "burn-onnx import panicked: {}",
            panic_text(p.as_ref())
        ))
    })
}

/// Writes the `Runner` of one generated model: a struct holding the model and its device,
/// whose `run` builds each input tensor from the case (by the graph's input name) and
/// returns the output's shape and values.
fn adapter(out: &mut String, ident: &str, info: &GraphInfo) {
    let specs_const = format!("SPECS_{}", ident.to_uppercase());
    let specs: Vec<String> = info
        .inputs
        .iter()
        .map(|(name, int, _, dims)| format!("({name:?}, {int}, &{dims:?})"))
        .collect();
    let args: Vec<String> = info
        .inputs
        .iter()
        .enumerate()
        .map(|(i, (_, int, rank, _))| {
            let f = if *int { "int_input" } else { "float_input" };
            format!("{f}::<{rank}>(&{specs_const}[{i}], inputs, &self.device)?")
        })
        .collect();
    let rank = info.output_rank;
    writeln!(
        out,
        "const {specs_const}: [InputSpec; {n}] = [{specs}];\n\
         struct {ident}_adapter {{ model: {ident}::Model, device: burn::tensor::Device }}\n\
         fn {ident}_adapter(device: &burn::tensor::Device) -> {ident}_adapter {{\n    \
             {ident}_adapter {{ model: {ident}::Model::from_embedded(device), device: device.clone() }}\n}}\n\
         impl Runner for {ident}_adapter {{\n    \
             fn inputs(&self) -> &'static [InputSpec] {{ &{specs_const} }}\n    \
             fn output_rank(&self) -> usize {{ {rank} }}\n    \
             fn run(&self, inputs: &[NamedTensor<'_>]) -> Result<(Vec<usize>, Vec<f32>), String> {{\n        \
                 let x: burn::tensor::Tensor<{rank}> = self.model.forward({args});\n        \
                 float_output(x)\n    \
             }}\n\
         }}",
        n = specs.len(),
        specs = specs.join(", "),
        args = args.join(", "),
    )
    .unwrap();
}
