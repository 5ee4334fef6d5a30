//! ONNX export of a run's generator, to the contract in `ARCHITECTURE.md` ("The
//! generator's ONNX contract"), with a self-check through tract. One module per stage:
//!
//! 1. An independent copy of the sampling generator (the EMA copy when enabled) is rebuilt
//!    from the config and loaded with the trained record, off autodiff, so capture cannot
//!    move state shared with the live model (here, [`export_generator`]).
//! 2. [`capture`]: burn-onnx 0.22's exporter captures `forward` with a symbolic batch axis
//!    `N` (`export_dynamic`); an architecture whose capture loses the batch axis falls
//!    back to a static capture whose batch is rewritten to `N` afterwards.
//! 3. [`rewrite`]: the protobuf is rewritten in Rust to the [`contract`]: inputs `z`
//!    (float32 `[N, Z]`) and, for label conditioning, `label` (int64 `[N]`; Burn's int32
//!    indices get a `Cast` after it), for mask conditioning `mask` and `masked`; output `x`;
//!    [`metadata`](mod@metadata) `edgegan.*`. Random ops are refused.
//! 4. [`self_check`]: the file is written next to `out` under a temporary name, run with
//!    tract ([`tract_check`]) at batch 1, 7 and 64 on seeded inputs, and compared with
//!    Burn's own output; only a model within [`TOLERANCE`] is renamed to `out`.
//! 5. [`report`]: what was written and measured.
//!
//! [`shipped`] writes and reads back a shipped model folder (`models/<name>/`).

pub mod capture;
pub mod contract;
pub mod metadata;
pub mod report;
pub mod rewrite;
pub mod self_check;
pub mod shipped;
pub mod tract_check;

#[cfg(test)]
mod tests;

use std::path::Path;

use burn::prelude::*;
use onnx_ir::{Message, ModelProto};

pub use self::capture::{BatchAxis, describe_export_error};
use self::capture::{Capture, capture_onnx};
use self::contract::summarize;
pub use self::contract::{
    BATCH_SYMBOL, ConditionInput, ConditionKind, OnnxSummary, TensorDescription, check_contract,
    condition_kind, inspect_onnx, mask_shape,
};
pub use self::metadata::metadata;
use self::metadata::{set_metadata, sha256_hex};
pub use self::report::ExportReport;
use self::rewrite::{resize_sizes_to_scales, to_contract};
pub use self::self_check::{
    CHECK_BATCHES, CHECK_SEED, CheckBatch, ParityCheck, TOLERANCE, burn_forward, check_batch,
    max_abs_diff,
};
pub use self::tract_check::run_onnx;
use crate::error::{Result, TrainError};
use crate::networks::Generator;
use crate::training::{self, Gan, RunDir};

fn export_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Export {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Opens the run folder `run_dir`, loads `checkpoint` (default: the latest) and returns
/// the GAN with the run's id (the folder's name).
pub fn open_run(run_dir: &Path, checkpoint: Option<&Path>) -> Result<(Gan, String)> {
    let (run, config) = RunDir::open(run_dir)?;
    let gan = training::load_gan(&run, config, checkpoint)?;
    let run_id = run_dir
        .canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(run_dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string());
    Ok((gan, run_id))
}

/// Exports the run's `edgegan-train export --run DIR --out FILE`: opens the run folder,
/// loads `checkpoint` (default: the latest), and calls [`export_generator`] with the run
/// folder's name as the run id.
pub fn export_run(run_dir: &Path, out: &Path, checkpoint: Option<&Path>) -> Result<ExportReport> {
    let (gan, run_id) = open_run(run_dir, checkpoint)?;
    export_generator(&gan, out, &run_id)
}

/// Exports `gan`'s sampling generator (the EMA copy when enabled) to `out` as ONNX,
/// following the contract, then checks the written file with tract against Burn at batch
/// 1, 7 and 64. `out` is only replaced by a model that passed; a model that failed is left
/// beside it (named in the error) for inspection.
pub fn export_generator(gan: &Gan, out: &Path, run_id: &str) -> Result<ExportReport> {
    export_with(gan, out, run_id, Capture::Auto, TOLERANCE)
}

fn export_with(
    gan: &Gan,
    out: &Path,
    run_id: &str,
    capture: Capture,
    tolerance: f32,
) -> Result<ExportReport> {
    let kind = condition_kind(gan);
    let conditional = matches!(kind, ConditionKind::Label { .. });
    let noise_dim = gan.config.generator.noise_dim;
    let out_dim = gan.dataset.dim();
    let out_shape = gan.dataset.sample_shape();
    let classes = conditional.then(|| gan.dataset.classes());

    // An independent copy, off autodiff: capture moves the module it is given to the
    // capture device, and Arc-shared state (BatchNorm running stats) would move with it.
    let reference = gan.sampling_generator();
    let copy = Generator::from_config(
        &gan.config,
        out_dim,
        gan.dataset.image_shape(),
        classes,
        &Device::flex(),
    )?
    .load_record(reference.clone().into_record());

    let image = gan.dataset.image_shape();
    let (bytes, batch_axis) = capture_onnx(&copy, noise_dim, kind, image, capture)
        .map_err(|message| export_err(out, message))?;
    let mut model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| export_err(out, format!("burn-onnx produced unreadable protobuf: {e}")))?;
    let captured_label_dtype = to_contract(&mut model, kind, batch_axis)
        .map_err(|m| export_err(out, format!("cannot rewrite to the contract: {m}")))?;
    resize_sizes_to_scales(&mut model)
        .map_err(|m| export_err(out, format!("cannot rewrite Resize to scales: {m}")))?;
    let metadata = metadata(gan, run_id)?;
    set_metadata(&mut model, &metadata);
    model.doc_string = format!(
        "edgegan generator from run {run_id}: inputs {}{}, output {}; see metadata_props {}*",
        edgegan_runtime::contract::Z,
        match kind {
            ConditionKind::None => "",
            ConditionKind::Label { .. } => " and label",
            ConditionKind::Mask { .. } => ", mask and masked",
        },
        edgegan_runtime::contract::X,
        edgegan_runtime::contract::keys::PREFIX,
    );
    let bytes = model
        .write_to_bytes()
        .map_err(|e| export_err(out, format!("cannot encode the rewritten model: {e}")))?;
    let summary = summarize(&model);
    check_contract(&summary, kind, noise_dim, &out_shape)
        .map_err(|m| export_err(out, format!("the rewritten model breaks the contract: {m}")))?;

    // Write beside `out`, verify, then rename into place.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(TrainError::io(parent))?;
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generator.onnx".into());
    let pending = out.with_file_name(format!("{name}.unverified"));
    crate::files::write_file(&pending, &bytes).map_err(TrainError::io(&pending))?;

    let parity = self_check::parity(&reference, &pending, noise_dim, kind)?;
    let max = self_check::worst(&parity);
    if let Err(table) = self_check::within(&parity, tolerance) {
        return Err(export_err(
            out,
            format!(
                "self-check failed: tract and Burn differ by more than {tolerance:e} ({table}); \
                 the rejected model is at {} and {} was left unchanged",
                pending.display(),
                out.display()
            ),
        ));
    }
    std::fs::rename(&pending, out).map_err(TrainError::io(out))?;

    Ok(ExportReport {
        path: out.to_path_buf(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        opset: summary.opset,
        inputs: summary.inputs,
        outputs: summary.outputs,
        batch_axis,
        captured_label_dtype,
        metadata,
        parity,
        max_abs_diff: max,
        tolerance,
    })
}
