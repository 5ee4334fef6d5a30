//! How far the quantised models are from f32, per layer and at the output, and how far
//! the f32 model is from tract's own run of the ONNX.

use std::fmt;

use tract_onnx::prelude::*;

use super::lower::Loaded;
use super::{CompileError, CompileOptions, Sample};
use crate::builder::{AlignedBytes, Calibration, Graph, TensorId, WriteOptions};
use edgegan_runtime::{DeviceModel, Sampler, WeightFormat};

/// Absolute error statistics over a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorStats {
    /// Largest `|a − b|`.
    pub max_abs: f32,
    /// Mean `|a − b|`.
    pub mean_abs: f32,
    /// Values compared.
    pub count: usize,
}

impl ErrorStats {
    fn add(&mut self, got: &[f32], want: &[f32]) {
        let total = f64::from(self.mean_abs) * self.count as f64;
        let mut sum = 0.0f64;
        for (a, b) in got.iter().zip(want) {
            let d = (a - b).abs();
            // NaN counts as infinitely wrong.
            self.max_abs = if d.is_nan() {
                f32::INFINITY
            } else {
                self.max_abs.max(d)
            };
            sum += f64::from(d);
        }
        self.count += got.len().min(want.len());
        self.mean_abs = ((total + sum) / self.count.max(1) as f64) as f32;
    }
}

impl fmt::Display for ErrorStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "max {:.3e} mean {:.3e}", self.max_abs, self.mean_abs)
    }
}

/// The error of one lowered op's output.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerError {
    /// Index of the op in [`Graph::ops`].
    pub op: usize,
    /// Its kind (`Dense`, `Tanh`, …).
    pub kind: &'static str,
    /// Its output tensor.
    pub tensor: TensorId,
    /// Error of this tensor against f32 (as if it were the model output).
    pub error: ErrorStats,
}

/// The errors of one quantised format against f32.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormatReport {
    /// At the model output.
    pub output: ErrorStats,
    /// Per op, in graph order (empty unless `per_layer_report`).
    pub layers: Vec<LayerError>,
}

/// What [`compile_onnx`](super::compile_onnx) measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantReport {
    /// The f32 `.egm` model against tract's run of the ONNX, on the same noise.
    pub f32_vs_onnx: ErrorStats,
    /// w8a32 against f32.
    pub w8a32: FormatReport,
    /// w8a8 against f32.
    pub w8a8: FormatReport,
    /// Samples measured (seeds × classes or masks).
    pub samples: usize,
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} samples", self.samples)?;
        writeln!(f, "f32 vs onnx (tract): {}", self.f32_vs_onnx)?;
        for (name, r) in [("w8a32", &self.w8a32), ("w8a8", &self.w8a8)] {
            writeln!(f, "{name} vs f32 output: {}", r.output)?;
            for l in &r.layers {
                writeln!(f, "  op {:>3} {:<10} {}", l.op, l.kind, l.error)?;
            }
        }
        Ok(())
    }
}

/// Samples every `graph` output in `format` for `samples`, one after another.
fn run(graph: &Graph, opts: &WriteOptions, samples: &[Sample]) -> Result<Vec<f32>, CompileError> {
    let bytes = AlignedBytes::new(&graph.write(opts)?);
    let model = DeviceModel::from_bytes(bytes.as_slice())?;
    let mut arena = vec![0u8; model.arena_bytes() + 16];
    let mut sampler = Sampler::new(&model, &mut arena)?;
    let n = model.output_len();
    let mut out = vec![0.0f32; n * samples.len()];
    for (s, chunk) in samples.iter().zip(out.chunks_exact_mut(n.max(1))) {
        let (seed, condition) = s.condition();
        sampler.sample(seed, condition, chunk)?;
    }
    Ok(out)
}

fn options(format: WeightFormat, cal: &Calibration) -> WriteOptions {
    match format {
        WeightFormat::F32 => WriteOptions::f32(),
        WeightFormat::W8A32 => WriteOptions::w8a32(),
        WeightFormat::W8A8 => WriteOptions::w8a8(cal.clone()),
    }
}

pub(crate) fn measure(
    graph: &Graph,
    cal: &Calibration,
    samples: &[Sample],
    loaded: &Loaded,
    opts: &CompileOptions,
) -> Result<QuantReport, CompileError> {
    let reference = run(graph, &WriteOptions::f32(), samples)?;
    let mut report = QuantReport {
        samples: samples.len(),
        f32_vs_onnx: onnx_error(graph, loaded, samples, &reference)?,
        ..QuantReport::default()
    };
    for (format, r) in [
        (WeightFormat::W8A32, &mut report.w8a32),
        (WeightFormat::W8A8, &mut report.w8a8),
    ] {
        r.output
            .add(&run(graph, &options(format, cal), samples)?, &reference);
    }
    if opts.per_layer_report {
        for (i, (op, t)) in graph.ops.iter().enumerate() {
            let mut g = graph.clone();
            g.ops.truncate(i + 1);
            g.output = *t;
            let want = run(&g, &WriteOptions::f32(), samples)?;
            for (format, r) in [
                (WeightFormat::W8A32, &mut report.w8a32),
                (WeightFormat::W8A8, &mut report.w8a8),
            ] {
                let mut error = ErrorStats::default();
                error.add(&run(&g, &options(format, cal), samples)?, &want);
                r.layers.push(LayerError {
                    op: i,
                    kind: op.name(),
                    tensor: *t,
                    error,
                });
            }
        }
    }
    Ok(report)
}

/// The f32 model's outputs (`reference`) against tract's run of the decluttered ONNX.
fn onnx_error(
    graph: &Graph,
    loaded: &Loaded,
    samples: &[Sample],
    reference: &[f32],
) -> Result<ErrorStats, CompileError> {
    let onnx = |e: TractError| CompileError::Onnx(format!("running the model: {e:#}"));
    let plan = loaded.model.clone().into_runnable().map_err(onnx)?;
    let order = loaded.model.input_outlets().map_err(onnx)?.to_vec();
    let n = reference.len() / samples.len().max(1);
    let mut stats = ErrorStats::default();
    for (s, want) in samples.iter().zip(reference.chunks_exact(n.max(1))) {
        let mut z = vec![0.0f32; graph.noise_dim];
        edgegan_runtime::noise::fill(s.seed, &mut z);
        let mut inputs: TVec<TValue> = tvec![];
        for o in &order {
            let t = if *o == loaded.z.0 {
                Tensor::from_shape(&loaded.z_shape, &z)
            } else if Some(*o) == loaded.label.map(|l| l.0) {
                // a foreign label may be int32: the input's own integer type
                let dt = loaded.model.outlet_fact(*o).map_err(onnx)?.datum_type;
                Tensor::from_shape(&[1], &[i64::from(s.label.unwrap_or(0))])
                    .and_then(|t| t.cast_to_dt(dt).map(|t| t.into_owned()))
            } else if let (Some((m, _, [c, h, w])), Some((mask, masked))) = (loaded.mask, &s.mask) {
                Tensor::from_shape(&[1, c, h, w], if *o == m { mask } else { masked })
            } else {
                return Err(CompileError::Contract("an input without a value".into()));
            };
            inputs.push(t.map_err(onnx)?.into_tvalue());
        }
        let out = plan.run(inputs).map_err(onnx)?;
        let got: Vec<f32> = out[0]
            .to_plain_array_view::<f32>()
            .map_err(onnx)?
            .iter()
            .copied()
            .collect();
        stats.add(&got, want);
    }
    Ok(stats)
}
