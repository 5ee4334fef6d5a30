//! Serialisation: the memory plan applied, the weights blob, the tensor and op tables,
//! the header and the checksum.

use edgegan_runtime::format::{
    self, DType, HEADER_LEN, Header, MAGIC, NONE, OP_RECORD_LEN, OpKind, OpRecord, SECTION_ALIGN,
    Storage, TENSOR_RECORD_LEN, TensorInfo, VERSION, seal,
};

use edgegan_runtime::ops::dense;

use super::BuildError;
use super::lowering::Lowering;
use super::quantize::QParams;
use crate::plan::{PlanOp, PlanTensor, plan_arena};

impl Lowering<'_> {
    /// Serialises: memory plan, blob, tables, header, checksum.
    #[allow(clippy::needless_range_loop)] // parallel arrays indexed by tensor
    pub(super) fn serialise(&mut self) -> Result<Vec<u8>, BuildError> {
        let g = self.g;
        let nt = self.tensors.len();
        if nt > format::MAX_TENSORS || self.ops.len() > format::MAX_OPS {
            return Err(BuildError::TooLarge(format!(
                "{nt} tensors, {} ops",
                self.ops.len()
            )));
        }
        // Roles: noise, then mask and masked (f32 tensors written by the sampler).
        let roles = self.role_rt.clone();
        let noise_rt = roles[0];
        let (mask_rt, masked_rt) = (roles.get(1).copied(), roles.get(2).copied());
        let output_rt = self.output_rt;

        // The memory plan: which tensors share bytes (in-place ops), and where each lives.
        let plan_tensors: Vec<PlanTensor> = self
            .tensors
            .iter()
            .map(|t| PlanTensor {
                bytes: t.shape.iter().product::<usize>() * t.dtype.size(),
                dtype: t.dtype,
                constant: t.constant.is_some(),
            })
            .collect();
        let plan_ops: Vec<PlanOp<'_>> = self
            .ops
            .iter()
            .map(|op| PlanOp {
                inputs: &op.inputs,
                output: op.output,
                in_place: in_place_inputs(op.kind, op.in_place, &op.inputs),
            })
            .collect();
        let plan = plan_arena(
            &plan_tensors,
            &plan_ops,
            &roles,
            output_rt,
            self.opts.reuse_memory,
            format::DATA_ALIGN,
        );

        // Blob: constants, then each op's weight arrays, 4-byte aligned.
        let mut blob: Vec<u8> = vec![];
        let mut push_blob = |bytes: &[u8]| -> Result<u32, BuildError> {
            while !blob.len().is_multiple_of(format::DATA_ALIGN) {
                blob.push(0);
            }
            let off = u32::try_from(blob.len())
                .map_err(|_| BuildError::TooLarge("weights past 4 GiB".into()))?;
            blob.extend_from_slice(bytes);
            Ok(off)
        };
        let mut records = Vec::with_capacity(nt);
        for t in 0..nt {
            let lt = &self.tensors[t];
            let (storage, offset) = match &lt.constant {
                Some(bytes) => (Storage::Const, push_blob(bytes)?),
                None => (Storage::Arena, plan.offsets[t] as u32),
            };
            let mut dims = [1u32; 4];
            for (d, &s) in dims.iter_mut().zip(&lt.shape) {
                *d = s as u32;
            }
            let q = lt.q.unwrap_or(QParams {
                scale: 0.0,
                zero_point: 0,
            });
            records.push(TensorInfo {
                dtype: lt.dtype,
                storage,
                rank: lt.shape.len() as u8,
                dims,
                offset,
                numel: lt.shape.iter().product::<usize>() as u32,
                scale: if lt.dtype == DType::I8 { q.scale } else { 0.0 },
                zero_point: if lt.dtype == DType::I8 {
                    q.zero_point
                } else {
                    0
                },
            });
        }
        let mut op_records = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            let mut params = op.params;
            // Weight words hold NONE (the op's encoder) until their array is placed.
            for (slot, bytes) in &op.weights {
                params[*slot] = push_blob(bytes)?;
            }
            let mut inputs = [NONE; 4];
            for (s, &i) in inputs.iter_mut().zip(&op.inputs) {
                *s = i as u32;
            }
            op_records.push(OpRecord {
                kind: op.kind,
                format: op.format,
                activation: op.activation,
                n_inputs: op.inputs.len() as u8,
                inputs,
                output: op.output as u32,
                params,
            });
        }

        // Layout: header | tensor table | op table | blob, each 16-aligned.
        let align16 = |v: usize| v.div_ceil(SECTION_ALIGN) * SECTION_ALIGN;
        let t_off = HEADER_LEN;
        let o_off = align16(t_off + nt * TENSOR_RECORD_LEN);
        let b_off = align16(o_off + op_records.len() * OP_RECORD_LEN);
        let file_len = b_off + blob.len();
        let file_len32 =
            u32::try_from(file_len).map_err(|_| BuildError::TooLarge("model past 4 GiB".into()))?;
        let mut out = vec![0u8; file_len];
        let out_shape = &g.tensors[g.output.index()].shape;
        let mut output_dims = [1u32; 4];
        for (d, &s) in output_dims.iter_mut().zip(out_shape) {
            *d = s as u32;
        }
        let (classes, mask_shape) = g.condition.header_fields();
        // an older runtime must refuse a label-indexed bias rather than read its first row
        let label_bias = self
            .ops
            .iter()
            .any(|op| op.kind == OpKind::Dense && op.params[dense::Params::LABEL_ROWS] != 0);
        let header = Header {
            magic: MAGIC,
            version: VERSION,
            header_len: HEADER_LEN as u16,
            file_len: file_len32,
            crc32: 0, // sealed last
            flags: if label_bias {
                format::flags::LABEL_BIAS
            } else {
                0
            },
            weight_format: self.opts.format.code(),
            condition_kind: g.condition.code(),
            output_rank: out_shape.len() as u8,
            noise_dim: g.noise_dim as u32,
            classes,
            mask_shape,
            output_dims,
            value_min: g.value_range.0,
            value_max: g.value_range.1,
            arena_bytes: plan.arena_bytes as u32,
            tensor_count: nt as u32,
            op_count: op_records.len() as u32,
            noise_tensor: noise_rt as u32,
            mask_tensor: mask_rt.map_or(NONE, |r| r as u32),
            masked_tensor: masked_rt.map_or(NONE, |r| r as u32),
            output_tensor: output_rt as u32,
            tensor_table: t_off as u32,
            op_table: o_off as u32,
            blob_offset: b_off as u32,
            blob_len: blob.len() as u32,
            reserved_zero: true,
        };
        out[..HEADER_LEN].copy_from_slice(&header.encode());
        for (i, r) in records.iter().enumerate() {
            let o = t_off + i * TENSOR_RECORD_LEN;
            out[o..o + TENSOR_RECORD_LEN].copy_from_slice(&r.encode());
        }
        for (i, r) in op_records.iter().enumerate() {
            let o = o_off + i * OP_RECORD_LEN;
            out[o..o + OP_RECORD_LEN].copy_from_slice(&r.encode());
        }
        out[b_off..].copy_from_slice(&blob);
        seal(&mut out);
        Ok(out)
    }
}

/// Owned bytes whose first byte is 16-byte aligned (a `Vec<u8>` guarantees no alignment),
/// for loading `.egm` files on a host.
///
/// # Examples
///
/// ```
/// use edgegan_compiler::builder::AlignedBytes;
/// let b = AlignedBytes::new(&[1, 2, 3]);
/// assert_eq!(b.as_slice(), &[1, 2, 3]);
/// assert_eq!(b.as_slice().as_ptr() as usize % 16, 0);
/// ```
#[derive(Clone, Debug)]
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }

    /// Reads a file.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        Ok(Self::new(&std::fs::read(path)?))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }
}

/// The inputs an op of `kind` may overwrite with its output (the planner lets the output
/// share such an input's bytes when the input dies there).
fn in_place_inputs(kind: OpKind, elementwise: bool, inputs: &[usize]) -> &[usize] {
    match kind {
        _ if elementwise => &inputs[..inputs.len().min(1)],
        OpKind::Relu | OpKind::LeakyRelu | OpKind::Tanh | OpKind::Sigmoid | OpKind::Reshape => {
            &inputs[..inputs.len().min(1)]
        }
        OpKind::Add | OpKind::Sub | OpKind::Mul => inputs,
        _ => &[],
    }
}
