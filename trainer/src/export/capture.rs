//! Capture: burn-onnx 0.22 traces the generator's contract forward pass (`z`, plus
//! `label` or `mask` and `masked`, to `x`; images as `[N, C, H, W]`) into ONNX bytes, with
//! a symbolic batch when it can and statically otherwise. Its errors and panics become
//! sentences that name the unsupported op and what to write instead. Up-blocks are
//! captured in their Resize + Conv form ([`UpsampleForm::Resize`]), which the device
//! compiler lowers.

use std::panic::AssertUnwindSafe;

use burn::prelude::*;
use burn_onnx::export::{AxisSpec, ExportError, InputSpec, OnnxExporter};
use serde::Serialize;

use super::contract::{BATCH_SYMBOL, ConditionKind};
use crate::error::panic_message;
use crate::networks::conv::UpsampleForm;
use crate::networks::{Condition, ConvGenerator, Generator, InpaintGenerator};

/// Batch of the static fallback capture (odd and unusual, so it is not mistaken for
/// another dimension when the batch is rewritten).
pub const STATIC_BATCH: usize = 13;

/// How the batch axis became symbolic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchAxis {
    /// burn-onnx captured two batch sizes and emitted `N` itself.
    Symbolic,
    /// A static capture at [`STATIC_BATCH`] whose batch was rewritten to `N` (inputs,
    /// outputs, value_info, and the leading entry of constant `Reshape` shapes).
    Rewritten,
}

/// Which capture the export uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Capture {
    /// symbolic batch from burn-onnx, static + rewrite when that cannot capture the model
    Auto,
    /// always static + rewrite (the fallback path, forced by tests)
    #[cfg_attr(not(test), allow(dead_code))]
    Static,
}

/// Runs burn-onnx's exporter. Errors are sentences for the user.
pub(super) fn capture_onnx(
    generator: &Generator,
    noise_dim: usize,
    kind: ConditionKind,
    image: Option<[usize; 3]>,
    capture: Capture,
) -> std::result::Result<(Vec<u8>, BatchAxis), String> {
    if capture == Capture::Auto {
        match guarded(|| capture_with(generator, noise_dim, kind, image, true))? {
            Ok(bytes) => return Ok((bytes, BatchAxis::Symbolic)),
            // The batch could not be traced symbolically: capture static, rewrite after.
            Err(
                ExportError::DynamicShapeLost { .. } | ExportError::DynamicGraphMismatch { .. },
            ) => {}
            Err(e) => return Err(describe_export_error(&e)),
        }
    }
    match guarded(|| capture_with(generator, noise_dim, kind, image, false))? {
        Ok(bytes) => Ok((bytes, BatchAxis::Rewritten)),
        Err(e) => Err(describe_export_error(&e)),
    }
}

/// Turns a panic inside capture (e.g. `one_hot` in `forward`) into an error.
pub(super) fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        format!(
            "burn-onnx panicked while capturing the generator's forward pass ({}); \
             ops such as `one_hot` cannot be captured: look labels up in a parameter table \
             with `select` (exports as Gather) and keep random sampling outside `forward`",
            panic_message(payload.as_ref())
        )
    })
}

fn zeros_z(n: usize, noise_dim: usize) -> Tensor<2> {
    Tensor::<2>::zeros([n, noise_dim], &Device::flex())
}

fn zeros_labels(n: usize) -> Tensor<1, Int> {
    Tensor::<1, Int>::zeros([n], &Device::flex())
}

fn zeros_images(n: usize, [c, h, w]: [usize; 3]) -> Tensor<4> {
    Tensor::<4>::zeros([n, c, h, w], &Device::flex())
}

/// Captures `module`'s forward `f` on zero inputs made by `make(batch)`: with a symbolic
/// batch (`dynamic`, traced at batch 2 and 3) or statically at [`STATIC_BATCH`].
fn capture_one<M, I, O>(
    module: &M,
    make: impl Fn(usize) -> I,
    specs: &[InputSpec],
    dynamic: bool,
    f: impl Fn(&M, I) -> O,
) -> std::result::Result<Vec<u8>, ExportError>
where
    M: Module,
    I: burn_onnx::export::ExportInput,
    O: burn_onnx::export::ExportOutput,
{
    let exporter = OnnxExporter::new();
    let model = if dynamic {
        exporter.export_dynamic(module, make(2), make(3), specs, f)?
    } else {
        exporter.export(module, make(STATIC_BATCH), f)?
    };
    Ok(model.into_bytes())
}

/// Captures the generator's contract forward pass: `z` (+ `label` | `mask`, `masked`)
/// to `x`, images as `[N, C, H, W]`.
fn capture_with(
    generator: &Generator,
    noise_dim: usize,
    kind: ConditionKind,
    image: Option<[usize; 3]>,
    dynamic: bool,
) -> std::result::Result<Vec<u8>, ExportError> {
    let batch = || AxisSpec::dynamic(BATCH_SYMBOL);
    let z_spec = InputSpec::new([batch(), AxisSpec::Static]);
    let label_spec = InputSpec::new([batch()]);
    let image_spec = || {
        InputSpec::new([
            batch(),
            AxisSpec::Static,
            AxisSpec::Static,
            AxisSpec::Static,
        ])
    };
    let z = |n| zeros_z(n, noise_dim);
    match (generator, kind) {
        (
            Generator::Inpaint(g),
            ConditionKind::Mask {
                channels,
                height,
                width,
            },
        ) => {
            let shape = [channels, height, width].map(|d| d as usize);
            capture_one(
                g,
                |n| (z(n), zeros_images(n, shape), zeros_images(n, shape)),
                &[z_spec, image_spec(), image_spec()],
                dynamic,
                |g: &InpaintGenerator, (z, mask, masked): (Tensor<2>, Tensor<4>, Tensor<4>)| {
                    g.forward_as(z, mask, masked, UpsampleForm::Resize)
                },
            )
        }
        (Generator::Conv(g), ConditionKind::Label { .. }) => capture_one(
            g,
            |n| (z(n), zeros_labels(n)),
            &[z_spec, label_spec],
            dynamic,
            |g: &ConvGenerator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                g.forward_as(z, Some(labels), UpsampleForm::Resize)
            },
        ),
        (Generator::Conv(g), _) => capture_one(g, z, &[z_spec], dynamic, |g: &ConvGenerator, z| {
            g.forward_as(z, None, UpsampleForm::Resize)
        }),
        // an MLP drawing images: the flat output becomes [N, C, H, W]
        (g, ConditionKind::Label { .. }) if image.is_some() => {
            let [c, h, w] = image.unwrap_or([1, 1, 1]).map(|d| d as i32);
            capture_one(
                g,
                |n| (z(n), zeros_labels(n)),
                &[z_spec, label_spec],
                dynamic,
                move |g: &Generator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                    g.forward(z, &Condition::Label(labels))
                        .reshape([-1, c, h, w])
                },
            )
        }
        (g, ConditionKind::None) if image.is_some() => {
            let [c, h, w] = image.unwrap_or([1, 1, 1]).map(|d| d as i32);
            capture_one(g, z, &[z_spec], dynamic, move |g: &Generator, z| {
                g.forward(z, &Condition::None).reshape([-1, c, h, w])
            })
        }
        (g, ConditionKind::Label { .. }) => capture_one(
            g,
            |n| (z(n), zeros_labels(n)),
            &[z_spec, label_spec],
            dynamic,
            |g: &Generator, (z, labels): (Tensor<2>, Tensor<1, Int>)| {
                g.forward(z, &Condition::Label(labels))
            },
        ),
        (g, _) => capture_one(g, z, &[z_spec], dynamic, |g: &Generator, z| {
            g.forward(z, &Condition::None)
        }),
    }
}

/// burn-onnx's error as a sentence that names the op and says what to use instead.
pub fn describe_export_error(error: &ExportError) -> String {
    match error {
        ExportError::UnsupportedOperation { operation, kind } => {
            let op = operation_name(kind);
            format!(
                "the generator uses `{op}` (operation {operation} of its forward pass), which \
                 burn-onnx 0.22 cannot lower to ONNX; {}",
                replacement_hint(&op)
            )
        }
        ExportError::DynamicGraphMismatch { .. } | ExportError::DynamicShapeLost { .. } => format!(
            "the batch axis cannot be made symbolic ({error}); make `forward` independent of \
             the batch size (no slicing or padding over the batch axis)"
        ),
        other => format!("burn-onnx export failed: {other}"),
    }
}

/// The Burn operation's name from the Debug text burn-onnx reports, e.g.
/// `Module(ConvTranspose2d(ConvTranspose2dOpIr { .. }))` -> `ConvTranspose2d`.
fn operation_name(kind: &str) -> String {
    const WRAPPERS: [&str; 13] = [
        "BaseFloat",
        "BaseInt",
        "BaseBool",
        "NumericFloat",
        "NumericInt",
        "Bool",
        "Int",
        "Float",
        "Module",
        "Init",
        "Custom",
        "Distributed",
        "Activation",
    ];
    const DTYPES: [&str; 14] = [
        "F64", "F32", "Flex32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16",
        "U8", "QFloat",
    ];
    kind.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
        .find(|t| !WRAPPERS.contains(t) && !DTYPES.contains(t))
        .unwrap_or(kind)
        .to_string()
}

fn replacement_hint(op: &str) -> &'static str {
    match op {
        "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => {
            "replace the transposed convolution by an upsample (`interpolate`, nearest) followed \
             by a Conv2d"
        }
        "LeakyRelu" => {
            "write leaky ReLU as `relu(x) - slope * relu(-x)` (as networks/layers.rs does)"
        }
        "Prelu" | "PRelu" => "write it as `relu(x) - a * relu(-x)` with `a` a parameter",
        "Gelu" => {
            "use relu, tanh or sigmoid, or gelu's tanh approximation written with Tanh/Mul/Add"
        }
        "Softmax" | "LogSoftmax" => "write it with exp, sum and div",
        "Embedding" => {
            "keep the table as a `Param<Tensor<2>>` and look rows up with \
             `table.val().select(0, labels)` (exports as Gather)"
        }
        "OneHot" => "look labels up in a parameter table with `select` instead of one_hot",
        "Permute" | "SwapDims" | "Expand" | "Flip" => {
            "restructure the layer with reshape/cat/slice so no permutation or expand is needed"
        }
        "Clamp" | "ClampMin" | "ClampMax" => "use tanh or a relu-based form instead of clamp",
        "Random" | "RandomNormal" | "RandomUniform" | "Dropout" => {
            "keep randomness out of `forward`: noise comes in through `z`"
        }
        _ => {
            "rewrite that layer with what burn-onnx lowers: Linear, Conv1d/Conv2d, BatchNorm, \
             interpolate, pools, add/sub/mul/div, neg, abs, exp, log, sqrt, tanh, relu, \
             sigmoid, matmul, reshape, cat, slice, select"
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};

    use super::*;

    #[derive(Module, Debug)]
    struct Leaky {
        fc: Linear,
    }

    impl Leaky {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            burn::tensor::activation::leaky_relu(self.fc.forward(x), 0.2)
        }
    }

    #[derive(Module, Debug)]
    struct OneHot {
        fc: Linear,
    }

    impl OneHot {
        fn forward(&self, labels: Tensor<1, Int>) -> Tensor<2> {
            self.fc.forward(labels.one_hot(4).float())
        }
    }

    #[test]
    fn unsupported_op_error_names_the_op_and_what_to_use_instead() {
        let device = Device::flex();
        let m = Leaky {
            fc: LinearConfig::new(4, 3).init(&device),
        };
        let err = OnnxExporter::new()
            .export(&m, Tensor::<2>::zeros([2, 4], &device), Leaky::forward)
            .unwrap_err();
        let msg = describe_export_error(&err);
        eprintln!("{msg}");
        assert!(msg.contains("`LeakyRelu`"), "{msg}");
        assert!(msg.contains("relu(x) - slope * relu(-x)"), "{msg}");

        let m = OneHot {
            fc: LinearConfig::new(4, 3).init(&device),
        };
        let labels = Tensor::<1, Int>::zeros([2], &device);
        let err = match guarded(|| OnnxExporter::new().export(&m, labels, OneHot::forward)) {
            Err(panic) => panic,
            Ok(result) => describe_export_error(&result.unwrap_err()),
        };
        eprintln!("{err}");
        assert!(err.contains("one_hot") || err.contains("OneHot"), "{err}");
        assert!(err.contains("select"), "{err}");
    }

    #[test]
    fn operation_names_are_read_from_the_exporters_debug_text() {
        assert_eq!(
            operation_name("Module(ConvTranspose2d(ConvTranspose2dOpIr { x: TensorIr { .. } }))"),
            "ConvTranspose2d"
        );
        assert_eq!(
            operation_name("Float(F32, Erf(UnaryOpIr { input: 1 }))"),
            "Erf"
        );
        assert_eq!(operation_name("Activation(Gelu(UnaryOpIr { }))"), "Gelu");
        assert!(replacement_hint("ConvTranspose2d").contains("Conv2d"));
        assert!(replacement_hint("Embedding").contains("select"));
    }
}
