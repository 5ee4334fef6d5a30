//! ONNX Runtime through `ort`, loaded at run time from the shared library of the PyPI
//! wheel `onnxruntime==1.32.0`, which `scripts/setup.sh` unpacks under `.deps/`.
//!
//! The library is found without any variable: `ORT_DYLIB_PATH` when set, else the
//! project-local copy. A missing library is an error that names `scripts/setup.sh`, never
//! a skip: a regression suite that quietly runs one engine fewer guards nothing.

use edgegan_runtime::contract::keys;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::case::{CaseInputs, NamedTensor};
use crate::engine::{
    CaseErrors, DType, Engine, EngineError, IoSpec, Output, check_case, check_model_io,
    label_classes,
};
use crate::model::repo_root;

/// The library inside the wheel, relative to the repository root.
pub const BUNDLED_LIBRARY: &str = ".deps/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.32.0";
/// Environment variable that overrides the library's location.
pub const LIBRARY_VAR: &str = "ORT_DYLIB_PATH";

const NAME: &str = "ort";

/// Where the library is looked for: `override_path` (the value of `ORT_DYLIB_PATH`) when
/// given and not empty, else [`BUNDLED_LIBRARY`] under `root`.
pub fn library_path(override_path: Option<OsString>, root: &Path) -> PathBuf {
    match override_path {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => root.join(BUNDLED_LIBRARY),
    }
}

/// Checks that `path` is a file before handing it to the loader, whose own error for a
/// missing file says nothing about how to get one.
pub fn check_library(path: &Path) -> Result<(), EngineError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(EngineError::OrtLibrary {
            path: path.to_path_buf(),
            why: "no such file".into(),
        })
    }
}

/// The process-wide ONNX Runtime environment. `ort` loads the library once per process,
/// so the outcome (environment or error message) is kept for every later engine.
pub(crate) fn environment() -> Result<&'static Environment, EngineError> {
    static ENV: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let path = library_path(std::env::var_os(LIBRARY_VAR), &repo_root());
        let fail = |why: String| (path.clone(), why);
        if !path.is_file() {
            return Err(fail("no such file".into()));
        }
        ort::init_from(&path)
            .map_err(|e| fail(e.to_string()))?
            .with_name("edgegan-tests")
            .build()
            .map_err(|e| fail(e.to_string()))
    });
    env.as_ref().map_err(|(path, why)| EngineError::OrtLibrary {
        path: path.clone(),
        why: why.clone(),
    })
}

/// The ONNX Runtime engine for one ONNX file.
#[derive(Debug)]
pub struct OrtEngine {
    path: PathBuf,
    // `Session::run` takes `&mut self` (ORT's allocators are not thread safe);
    // `Engine::run` takes `&self`.
    session: Mutex<Session>,
    inputs: Vec<IoSpec>,
    classes: Option<usize>,
}

impl OrtEngine {
    /// Loads the model at `path` in a single-threaded session (ORT's default thread pool
    /// would compete with tract and cargo for this machine's two cores, and one thread
    /// keeps the reduction order fixed from run to run).
    pub fn load(path: &Path) -> Result<OrtEngine, EngineError> {
        Self::load_with_threads(path, 1)
    }

    /// [`load`](Self::load) with `threads` intra-op threads (`bench-engines`' multi-threaded
    /// batch rows; the tests use one).
    pub fn load_with_threads(path: &Path, threads: usize) -> Result<OrtEngine, EngineError> {
        let env = environment()?;
        let load_err = |message: String| EngineError::Load {
            engine: NAME.into(),
            path: path.to_path_buf(),
            message,
        };
        // ORT reads the file itself; a missing one gets a clearer message from us.
        let bytes = std::fs::read(path).map_err(|e| load_err(e.to_string()))?;
        let session = Session::builder(env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|mut b| b.commit_from_memory(&bytes))
            .map_err(|e| load_err(e.to_string()))?;
        let inputs: Vec<IoSpec> = session
            .inputs()
            .iter()
            .map(|o| io_spec(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<IoSpec> = session
            .outputs()
            .iter()
            .map(|o| io_spec(o.name(), o.dtype()))
            .collect();
        let contract_err = |message: String| EngineError::Contract {
            engine: NAME.into(),
            path: path.to_path_buf(),
            message,
        };
        check_model_io(&inputs, &outputs).map_err(contract_err)?;
        let classes_value = session
            .metadata()
            .map_err(|e| load_err(e.to_string()))?
            .custom(keys::CLASSES);
        let classes = label_classes(&inputs, classes_value.as_deref()).map_err(contract_err)?;
        Ok(OrtEngine {
            path: path.to_path_buf(),
            session: Mutex::new(session),
            inputs,
            classes,
        })
    }

    /// the model file
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io_spec(name: &str, dtype: &ValueType) -> IoSpec {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => IoSpec {
            name: name.to_string(),
            dtype: match ty {
                TensorElementType::Float32 => DType::F32,
                TensorElementType::Int64 => DType::I64,
                other => DType::Other(format!("{other:?}")),
            },
            // ORT reports a symbolic dimension as -1
            dims: shape.iter().map(|&d| usize::try_from(d).ok()).collect(),
        },
        other => IoSpec {
            name: name.to_string(),
            dtype: DType::Other(format!("{other:?}")),
            dims: Vec::new(),
        },
    }
}

impl Engine for OrtEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn run(&self, case: &CaseInputs) -> Result<Output, EngineError> {
        let err = CaseErrors { engine: NAME, case };
        check_case(&self.inputs, self.classes, case).map_err(|m| err.input(m))?;
        let mut values: Vec<(String, ort::value::DynValue)> = Vec::new();
        for t in case.tensors() {
            let value = match t {
                NamedTensor::F32(_, a) => {
                    Tensor::from_array((a.shape().to_vec(), a.data().to_vec()))
                        .map(|t| t.into_dyn())
                }
                NamedTensor::I64(_, a) => {
                    Tensor::from_array((a.shape().to_vec(), a.data().to_vec()))
                        .map(|t| t.into_dyn())
                }
            }
            .map_err(|e| err.input(e.to_string()))?;
            values.push((t.name().to_string(), value));
        }
        // A poisoned lock only means another case panicked mid-run in this process; the
        // session itself holds no state between runs, so it is still usable.
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outputs = session.run(values).map_err(|e| err.run(e.to_string()))?;
        let x = outputs.get("x").ok_or_else(|| err.run("no output `x`"))?;
        let (shape, data) = x
            .try_extract_tensor::<f32>()
            .map_err(|e| err.run(format!("output `x`: {e}")))?;
        let shape = shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| err.run(format!("output dimension {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        err.output(shape, data.to_vec())
    }
}
