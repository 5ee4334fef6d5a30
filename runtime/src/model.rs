//! [`DeviceModel`]: a validated, borrowed `.egm` model.

use crate::Error;
use crate::contract::ConditionKind;
use crate::crc::crc32;
use crate::format::{
    DATA_ALIGN, DType, HEADER_LEN, MAGIC, MAX_ACC_TERMS, MAX_OPS, MAX_TENSORS, NONE, OP_RECORD_LEN,
    OpFormat, OpKind, OpRecord, PREAMBLE_LEN, SECTION_ALIGN, Storage, TENSOR_RECORD_LEN,
    TensorInfo, VERSION, header as h, param, u8_at, u16_at, u32_at,
};
use crate::kernels::FusedActivation;
use crate::kernels::add::{AddI8Operand, AddI8Params};
use crate::kernels::broadcast::{Broadcast, Side};
use crate::kernels::conv2d::{Conv2dI8Quant, Conv2dParams};
use crate::kernels::dense::{DenseI8Params, DenseParams};
use crate::kernels::mul::MulI8Params;
use crate::kernels::upsample::UpsampleParams;

/// How a model stores weights and computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// f32 weights and activations.
    F32,
    /// int8 per-output-channel weights, f32 activations.
    W8A32,
    /// int8 weights and activations, integer-only arithmetic (bit-exact everywhere).
    W8A8,
}

impl WeightFormat {
    /// The name used in file names and the CLI: `f32`, `w8a32`, `w8a8`.
    pub const fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::W8A32 => "w8a32",
            WeightFormat::W8A8 => "w8a8",
        }
    }
}

/// A `.egm` model borrowed from its bytes and validated once.
///
/// [`from_bytes`](Self::from_bytes) checks every byte that sampling will rely on; after it
/// returns `Ok`, sampling can only fail on the caller's inputs (condition, arena, output
/// buffer). The struct is small and `Copy`: it holds the parsed header and slices into
/// the bytes, nothing per op.
#[derive(Clone, Copy, Debug)]
pub struct DeviceModel<'a> {
    bytes: &'a [u8],
    tensors: &'a [u8],
    ops: &'a [u8],
    blob: &'a [u8],
    weight_format: WeightFormat,
    condition: ConditionKind,
    noise_dim: u32,
    output_rank: u8,
    output_dims: [u32; 4],
    value_range: (f32, f32),
    arena_bytes: u32,
    tensor_count: u32,
    op_count: u32,
    pub(crate) noise_tensor: u32,
    pub(crate) mask_tensor: u32,
    pub(crate) masked_tensor: u32,
    pub(crate) output_tensor: u32,
}

/// An op decoded and checked against its tensors: kernel parameters and weight slices.
///
/// Preparing is cheap (no loop over weights), so the sampler prepares each op again on
/// every sample instead of storing per-op state: the model needs no per-op memory, and what
/// runs is exactly what [`DeviceModel::from_bytes`] validated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreparedOp<'a> {
    pub inputs: [TensorInfo; 4],
    pub n_inputs: usize,
    pub output: TensorInfo,
    pub kernel: Kernel<'a>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kernel<'a> {
    DenseF32 {
        p: DenseParams,
        w: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    DenseW8A32 {
        p: DenseParams,
        w: &'a [i8],
        scale: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    DenseI8 {
        p: DenseI8Params,
        w: &'a [i8],
        bias: &'a [i32],
        mult: &'a [i32],
        shift: &'a [i32],
    },
    Conv2dF32 {
        p: Conv2dParams,
        w: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    Conv2dW8A32 {
        p: Conv2dParams,
        w: &'a [i8],
        scale: &'a [f32],
        bias: Option<&'a [f32]>,
    },
    Conv2dI8 {
        p: Conv2dParams,
        q: Conv2dI8Quant,
        w: &'a [i8],
        bias: &'a [i32],
        mult: &'a [i32],
        shift: &'a [i32],
    },
    Upsample {
        p: UpsampleParams,
    },
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Tanh,
    Sigmoid,
    Lut {
        table: &'a [i8; 256],
    },
    Concat,
    GatherF32 {
        table: &'a [f32],
        row: usize,
    },
    GatherI8 {
        table: &'a [i8],
        row: usize,
    },
    Binary {
        op: BinaryOp,
        side: Side,
        in_place: bool,
        other: Broadcast,
    },
    Reshape,
    Quantize {
        scale: f32,
        zero_point: i32,
    },
    Dequantize {
        scale: f32,
        zero_point: i32,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum BinaryOp {
    AddF32,
    SubF32,
    MulF32,
    AddI8(AddI8Params),
    SubI8(AddI8Params),
    MulI8(MulI8Params),
}

fn overlaps(a: &core::ops::Range<usize>, b: &core::ops::Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

impl<'a> DeviceModel<'a> {
    /// Parses and validates a `.egm` model.
    ///
    /// `bytes` must start at a 4-byte aligned address (see [`include_model!`](crate::include_model)
    /// and [`Aligned`](crate::Aligned)); bytes past the header's `file_len` are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`], [`Error::Truncated`],
    /// [`Error::Misaligned`], [`Error::ChecksumMismatch`], [`Error::BadHeader`],
    /// [`Error::BadSection`], [`Error::BadTensor`] or [`Error::BadOp`] for bytes that are
    /// not a valid model; [`Error::BigEndianTarget`] on big-endian targets.
    ///
    /// # Examples
    ///
    /// ```
    /// use edgegan_runtime::{DeviceModel, Error};
    /// assert_eq!(DeviceModel::from_bytes(b"not a model").unwrap_err(), Error::Truncated { needed: 16, available: 11 });
    /// assert_eq!(DeviceModel::from_bytes(&[0u8; 64]).unwrap_err(), Error::BadMagic);
    /// ```
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        if cfg!(target_endian = "big") {
            return Err(Error::BigEndianTarget);
        }
        if bytes.len() < PREAMBLE_LEN {
            return Err(Error::Truncated {
                needed: PREAMBLE_LEN,
                available: bytes.len(),
            });
        }
        if bytes.get(h::MAGIC..h::MAGIC + 4) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let version = u16_at(bytes, h::VERSION);
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(DATA_ALIGN) {
            return Err(Error::Misaligned {
                required: DATA_ALIGN,
            });
        }
        if usize::from(u16_at(bytes, h::HEADER_LEN)) != HEADER_LEN {
            return Err(Error::BadHeader {
                field: "header_len",
            });
        }
        let file_len = u32_at(bytes, h::FILE_LEN) as usize;
        if file_len > bytes.len() {
            return Err(Error::Truncated {
                needed: file_len,
                available: bytes.len(),
            });
        }
        if file_len < HEADER_LEN {
            return Err(Error::BadHeader { field: "file_len" });
        }
        let bytes = bytes.get(..file_len).ok_or(Error::Internal)?;
        let expected = u32_at(bytes, h::CRC32);
        let found = crc32(bytes.get(PREAMBLE_LEN..).ok_or(Error::Internal)?);
        if expected != found {
            return Err(Error::ChecksumMismatch { expected, found });
        }
        let model = Self::parse_header(bytes)?;
        model.validate()?;
        Ok(model)
    }

    fn parse_header(b: &'a [u8]) -> Result<Self, Error> {
        let bad = |field| Error::BadHeader { field };
        if u32_at(b, h::FLAGS) != 0 {
            return Err(bad("flags"));
        }
        if u8_at(b, h::RESERVED0) != 0
            || b.get(h::RESERVED1..HEADER_LEN)
                .is_none_or(|r| r.iter().any(|&x| x != 0))
        {
            return Err(bad("reserved"));
        }
        let weight_format = match u8_at(b, h::WEIGHT_FORMAT) {
            0 => WeightFormat::F32,
            1 => WeightFormat::W8A32,
            2 => WeightFormat::W8A8,
            _ => return Err(bad("weight_format")),
        };
        let classes = u32_at(b, h::CLASSES);
        let mask: [u32; 3] = core::array::from_fn(|i| u32_at(b, h::MASK_SHAPE + 4 * i));
        let condition = match u8_at(b, h::CONDITION_KIND) {
            0 => ConditionKind::None,
            1 => ConditionKind::Label { classes },
            2 => ConditionKind::Mask {
                channels: mask[0],
                height: mask[1],
                width: mask[2],
            },
            _ => return Err(bad("condition_kind")),
        };
        match condition {
            ConditionKind::Label { classes: 0 } => return Err(bad("classes")),
            ConditionKind::Label { .. } | ConditionKind::None if mask != [0; 3] => {
                return Err(bad("mask_shape"));
            }
            ConditionKind::None if classes != 0 => return Err(bad("classes")),
            ConditionKind::Mask { .. } if classes != 0 => return Err(bad("classes")),
            ConditionKind::Mask { .. } => {
                let n = mask.iter().try_fold(
                    1u32,
                    |acc, &d| if d == 0 { None } else { acc.checked_mul(d) },
                );
                if n.is_none() {
                    return Err(bad("mask_shape"));
                }
            }
            _ => {}
        }
        let noise_dim = u32_at(b, h::NOISE_DIM);
        if noise_dim == 0 {
            return Err(bad("noise_dim"));
        }
        let output_rank = u8_at(b, h::OUTPUT_RANK);
        if !(1..=4).contains(&output_rank) {
            return Err(bad("output_rank"));
        }
        let output_dims: [u32; 4] = core::array::from_fn(|i| u32_at(b, h::OUTPUT_DIMS + 4 * i));
        let mut numel: Option<u32> = Some(1);
        for (i, &d) in output_dims.iter().enumerate() {
            if i < usize::from(output_rank) {
                numel = numel.and_then(|n| if d == 0 { None } else { n.checked_mul(d) });
            } else if d != 1 {
                numel = None;
            }
        }
        if numel.is_none() {
            return Err(bad("output_dims"));
        }
        let value_range = (
            f32::from_bits(u32_at(b, h::VALUE_MIN)),
            f32::from_bits(u32_at(b, h::VALUE_MAX)),
        );
        if !(value_range.0.is_finite()
            && value_range.1.is_finite()
            && value_range.0 < value_range.1)
        {
            return Err(bad("value_range"));
        }
        let arena_bytes = u32_at(b, h::ARENA_BYTES);
        if !(arena_bytes as usize).is_multiple_of(DATA_ALIGN) {
            return Err(bad("arena_bytes"));
        }
        let tensor_count = u32_at(b, h::TENSOR_COUNT);
        let op_count = u32_at(b, h::OP_COUNT);
        if tensor_count == 0 || tensor_count as usize > MAX_TENSORS {
            return Err(bad("tensor_count"));
        }
        if op_count as usize > MAX_OPS {
            return Err(bad("op_count"));
        }
        let section = |off_field: usize,
                       len: usize,
                       name: &'static str|
         -> Result<(usize, &'a [u8]), Error> {
            let off = u32_at(b, off_field) as usize;
            if !off.is_multiple_of(SECTION_ALIGN) || off < HEADER_LEN {
                return Err(Error::BadSection { section: name });
            }
            let end = off
                .checked_add(len)
                .ok_or(Error::BadSection { section: name })?;
            let s = b.get(off..end).ok_or(Error::BadSection { section: name })?;
            Ok((end, s))
        };
        let (t_end, tensors) = section(
            h::TENSOR_TABLE,
            tensor_count as usize * TENSOR_RECORD_LEN,
            "tensor_table",
        )?;
        let (o_end, ops) = section(h::OP_TABLE, op_count as usize * OP_RECORD_LEN, "op_table")?;
        let (_, blob) = section(h::BLOB_OFFSET, u32_at(b, h::BLOB_LEN) as usize, "blob")?;
        if (u32_at(b, h::OP_TABLE) as usize) < t_end {
            return Err(Error::BadSection {
                section: "op_table",
            });
        }
        if (u32_at(b, h::BLOB_OFFSET) as usize) < o_end {
            return Err(Error::BadSection { section: "blob" });
        }
        Ok(DeviceModel {
            bytes: b,
            tensors,
            ops,
            blob,
            weight_format,
            condition,
            noise_dim,
            output_rank,
            output_dims,
            value_range,
            arena_bytes,
            tensor_count,
            op_count,
            noise_tensor: u32_at(b, h::NOISE_TENSOR),
            mask_tensor: u32_at(b, h::MASK_TENSOR),
            masked_tensor: u32_at(b, h::MASKED_TENSOR),
            output_tensor: u32_at(b, h::OUTPUT_TENSOR),
        })
    }

    /// Bytes of scratch memory (at 4-byte alignment) one sample needs: every activation,
    /// placed by the memory plan stored in the model.
    pub const fn arena_bytes(&self) -> usize {
        self.arena_bytes as usize
    }

    /// Elements of one output sample (`f32`, or `u8` pixels).
    pub const fn output_len(&self) -> usize {
        let d = self.output_dims;
        d[0] as usize * d[1] as usize * d[2] as usize * d[3] as usize
    }

    /// The shape of one output sample, without the batch axis (e.g. `[1, 28, 28]`).
    pub fn output_shape(&self) -> &[u32] {
        &self.output_dims[..usize::from(self.output_rank.clamp(1, 4))]
    }

    /// Length of the noise vector `z`.
    pub const fn noise_dim(&self) -> usize {
        self.noise_dim as usize
    }

    /// What the model is conditioned on.
    pub const fn condition(&self) -> ConditionKind {
        self.condition
    }

    /// How the model stores weights and computes.
    pub const fn weight_format(&self) -> WeightFormat {
        self.weight_format
    }

    /// The range `(min, max)` the output is trained to; [`sample_u8`](crate::Sampler::sample_u8)
    /// maps it to `0..=255`.
    pub const fn value_range(&self) -> (f32, f32) {
        self.value_range
    }

    /// The model's bytes (up to the header's `file_len`): its flash footprint.
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bytes of the weights blob.
    pub const fn weight_bytes(&self) -> usize {
        self.blob.len()
    }

    /// Number of ops.
    pub const fn op_count(&self) -> usize {
        self.op_count as usize
    }

    /// Number of tensors.
    pub const fn tensor_count(&self) -> usize {
        self.tensor_count as usize
    }

    /// Tensor record `index` (for inspection tools).
    pub fn tensor(&self, index: usize) -> Option<TensorInfo> {
        let r = self.tensors.get(index.checked_mul(TENSOR_RECORD_LEN)?..)?;
        TensorInfo::decode(r).ok()
    }

    /// Op record `index` (for inspection tools).
    pub fn op(&self, index: usize) -> Option<OpRecord> {
        let r = self.ops.get(index.checked_mul(OP_RECORD_LEN)?..)?;
        OpRecord::decode(r).ok()
    }

    /// Multiply-accumulates per sample in Dense and Conv2d (for cost reports).
    pub fn macs(&self) -> u64 {
        (0..self.op_count())
            .filter_map(|i| self.prepare(i).ok())
            .map(|op| match op.kernel {
                Kernel::DenseF32 { p, .. } | Kernel::DenseW8A32 { p, .. } => {
                    (p.in_features * p.out_features) as u64
                }
                Kernel::DenseI8 { p, .. } => (p.in_features * p.out_features) as u64,
                Kernel::Conv2dF32 { p, .. }
                | Kernel::Conv2dW8A32 { p, .. }
                | Kernel::Conv2dI8 { p, .. } => {
                    (p.out_channels * p.out_h * p.out_w * p.in_channels * p.kernel_h * p.kernel_w)
                        as u64
                }
                _ => 0,
            })
            .sum()
    }

    pub(crate) const fn blob(&self) -> &'a [u8] {
        self.blob
    }

    fn is_input_role(&self, t: u32) -> bool {
        t == self.noise_tensor || (t != NONE && (t == self.mask_tensor || t == self.masked_tensor))
    }

    /// Tensor `t`, already validated (`Internal` if not: callers run after `validate`).
    pub(crate) fn tensor_checked(&self, t: u32) -> Result<TensorInfo, Error> {
        self.tensor(t as usize).ok_or(Error::Internal)
    }

    // ---- validation -----------------------------------------------------------------

    fn validate(&self) -> Result<(), Error> {
        // Tensors: records, and byte ranges inside the arena or the blob.
        for i in 0..self.tensor_count {
            let bad = |reason| Error::BadTensor { index: i, reason };
            let r = self
                .tensors
                .get(i as usize * TENSOR_RECORD_LEN..)
                .ok_or(Error::Internal)?;
            let t = TensorInfo::decode(r).map_err(bad)?;
            let limit = match t.storage {
                Storage::Arena => self.arena_bytes(),
                Storage::Const => self.blob.len(),
            };
            if t.range().end > limit {
                return Err(bad(match t.storage {
                    Storage::Arena => "extends past arena_bytes",
                    Storage::Const => "extends past the weights blob",
                }));
            }
        }
        // Roles.
        let role = |t: u32, numel: usize, field: &'static str| -> Result<TensorInfo, Error> {
            let bad = Error::BadHeader { field };
            let info = if (t as usize) < self.tensor_count() {
                self.tensor(t as usize)
            } else {
                None
            }
            .ok_or(bad)?;
            if info.dtype != DType::F32
                || info.storage != Storage::Arena
                || info.numel as usize != numel
            {
                return Err(bad);
            }
            Ok(info)
        };
        let noise = role(self.noise_tensor, self.noise_dim(), "noise_tensor")?;
        let out = role(self.output_tensor, self.output_len(), "output_tensor")?;
        if out.shape() != self.output_shape() {
            return Err(Error::BadHeader {
                field: "output_dims",
            });
        }
        if let ConditionKind::Mask { .. } = self.condition {
            let m = role(self.mask_tensor, self.condition.mask_len(), "mask_tensor")?;
            let mm = role(
                self.masked_tensor,
                self.condition.mask_len(),
                "masked_tensor",
            )?;
            if overlaps(&m.range(), &mm.range())
                || overlaps(&m.range(), &noise.range())
                || overlaps(&mm.range(), &noise.range())
            {
                return Err(Error::BadHeader {
                    field: "mask_tensor",
                });
            }
        } else if self.mask_tensor != NONE || self.masked_tensor != NONE {
            return Err(Error::BadHeader {
                field: "mask_tensor",
            });
        }
        // Ops: parameters, shapes, weights, in-place rules, format consistency.
        for i in 0..self.op_count() {
            let bad = |reason| Error::BadOp {
                index: i as u32,
                reason,
            };
            let op = self.prepare(i)?;
            self.validate_weights(&op).map_err(bad)?;
            let rec = self.record(i)?;
            let allowed = matches!(
                (self.weight_format, rec.format),
                (WeightFormat::F32, OpFormat::F32)
                    | (WeightFormat::W8A32, OpFormat::F32 | OpFormat::W8A32)
                    | (WeightFormat::W8A8, OpFormat::F32 | OpFormat::W8A8)
            );
            if !allowed {
                return Err(bad(
                    "op format does not belong in this model's weight format",
                ));
            }
            if op.output.storage != Storage::Arena || self.is_input_role(rec.output) {
                return Err(bad(
                    "output must be an arena tensor that is not a model input",
                ));
            }
            for &t in rec.inputs() {
                self.check_read(i, t).map_err(bad)?;
            }
        }
        self.check_read(self.op_count(), self.output_tensor)
            .map_err(|reason| Error::BadTensor {
                index: self.output_tensor,
                reason,
            })?;
        Ok(())
    }

    /// Checks that reading tensor `t` before op `j` sees the bytes its producer wrote.
    fn check_read(&self, j: usize, t: u32) -> Result<(), &'static str> {
        let info = self.tensor_checked(t).map_err(|_| "bad tensor index")?;
        if info.storage == Storage::Const {
            return Ok(());
        }
        let r = info.range();
        for k in (0..j).rev() {
            let rec = self.record(k).map_err(|_| "bad op record")?;
            let out = self
                .tensor_checked(rec.output)
                .map_err(|_| "bad tensor index")?;
            if !overlaps(&out.range(), &r) {
                continue;
            }
            if rec.output == t {
                return Ok(());
            }
            // An in-place reshape leaves the bytes as they were.
            let same_bytes = rec.kind == OpKind::Reshape
                && rec
                    .inputs()
                    .first()
                    .and_then(|&x| self.tensor(x as usize))
                    .is_some_and(|x| x.range() == out.range());
            if !same_bytes {
                return Err("reads a tensor that an earlier op overwrote");
            }
        }
        if self.is_input_role(t) {
            Ok(())
        } else {
            Err("reads a tensor that no earlier op writes")
        }
    }

    /// Load-time checks that loop over weight arrays (kept out of `prepare`, which runs
    /// per sample).
    fn validate_weights(&self, op: &PreparedOp<'_>) -> Result<(), &'static str> {
        let requant_ok = |mult: &[i32], shift: &[i32]| {
            mult.iter().all(|&m| m >= 0) && shift.iter().all(|&s| (-31..=30).contains(&s))
        };
        let bias_ok = |bias: &[i32]| bias.iter().all(|&b| b.unsigned_abs() <= 1 << 30);
        match op.kernel {
            Kernel::DenseI8 {
                bias, mult, shift, ..
            }
            | Kernel::Conv2dI8 {
                bias, mult, shift, ..
            } => {
                if !requant_ok(mult, shift) {
                    return Err("requantisation multiplier or shift out of range");
                }
                if !bias_ok(bias) {
                    return Err("int32 bias beyond ±2^30");
                }
            }
            Kernel::Binary {
                op: BinaryOp::AddI8(p) | BinaryOp::SubI8(p),
                ..
            } if (!requant_ok(
                &[p.a.multiplier, p.b.multiplier, p.output_multiplier],
                &[p.a.shift, p.b.shift, p.output_shift],
            ) || p.a.shift > 0
                || p.b.shift > 0) =>
            {
                return Err("requantisation multiplier or shift out of range");
            }
            Kernel::Binary {
                op: BinaryOp::MulI8(p),
                ..
            } if !requant_ok(&[p.output_multiplier], &[p.output_shift]) => {
                return Err("requantisation multiplier or shift out of range");
            }
            _ => {}
        }
        Ok(())
    }

    fn record(&self, i: usize) -> Result<OpRecord, Error> {
        let r = self.ops.get(i * OP_RECORD_LEN..).ok_or(Error::Internal)?;
        OpRecord::decode(r).map_err(|reason| Error::BadOp {
            index: i as u32,
            reason,
        })
    }

    fn weights<T: bytemuck::Pod>(&self, off: u32, count: usize) -> Result<&'a [T], &'static str> {
        if off == NONE {
            return Err("missing weight array");
        }
        let off = off as usize;
        if !off.is_multiple_of(DATA_ALIGN) {
            return Err("weight array not 4-byte aligned");
        }
        let len = count
            .checked_mul(core::mem::size_of::<T>())
            .ok_or("weight array too large")?;
        let end = off.checked_add(len).ok_or("weight array too large")?;
        let bytes = self
            .blob
            .get(off..end)
            .ok_or("weight array outside the blob")?;
        bytemuck::try_cast_slice(bytes).map_err(|_| "weight array not aligned in memory")
    }

    fn optional_weights<T: bytemuck::Pod>(
        &self,
        off: u32,
        count: usize,
    ) -> Result<Option<&'a [T]>, &'static str> {
        if off == NONE {
            Ok(None)
        } else {
            self.weights(off, count).map(Some)
        }
    }

    /// Decodes op `i` and checks it against its tensors (see [`PreparedOp`]).
    pub(crate) fn prepare(&self, i: usize) -> Result<PreparedOp<'a>, Error> {
        let rec = self.record(i)?;
        self.prepare_record(&rec).map_err(|reason| Error::BadOp {
            index: i as u32,
            reason,
        })
    }

    fn prepare_record(&self, rec: &OpRecord) -> Result<PreparedOp<'a>, &'static str> {
        let n_inputs = rec.inputs().len();
        let get = |t: u32| -> Result<TensorInfo, &'static str> {
            if (t as usize) >= self.tensor_count() {
                return Err("tensor index out of range");
            }
            self.tensor(t as usize).ok_or("bad tensor record")
        };
        let output = get(rec.output)?;
        let mut inputs = [output; 4];
        for (slot, &t) in inputs.iter_mut().zip(rec.inputs()) {
            *slot = get(t)?;
        }
        let ins = &inputs[..n_inputs];
        let p = &rec.params;
        let need_inputs = |n: usize| {
            if n_inputs == n {
                Ok(())
            } else {
                Err("wrong number of inputs")
            }
        };
        let all = |dt: DType| ins.iter().chain([&output]).all(|t| t.dtype == dt);
        let same_quant =
            |a: &TensorInfo, b: &TensorInfo| a.scale == b.scale && a.zero_point == b.zero_point;
        let disjoint = || {
            ins.iter()
                .all(|t| t.storage == Storage::Const || !overlaps(&t.range(), &output.range()))
        };
        // Unary / reshape: output equal to the input's bytes (in place) or apart from them.
        let in_place_or_disjoint = |x: &TensorInfo| {
            x.storage == Storage::Const
                || x.range() == output.range()
                || !overlaps(&x.range(), &output.range())
        };
        let activation = match rec.activation {
            0 => FusedActivation::None,
            _ => FusedActivation::Relu,
        };
        if rec.activation != 0 && !matches!(rec.kind, OpKind::Dense | OpKind::Conv2d) {
            return Err("fused activation on an op that has none");
        }
        let arith_dtype = match rec.format {
            OpFormat::F32 | OpFormat::W8A32 => DType::F32,
            OpFormat::W8A8 => DType::I8,
        };
        if rec.format == OpFormat::W8A32 && !matches!(rec.kind, OpKind::Dense | OpKind::Conv2d) {
            return Err("w8a32 format on an op without weights");
        }
        let kernel = match rec.kind {
            OpKind::Dense => {
                need_inputs(1)?;
                let x = &ins[0];
                let (k, n) = (p[param::DENSE_K] as usize, p[param::DENSE_N] as usize);
                if k == 0 || n == 0 || x.numel as usize != k || output.numel as usize != n {
                    return Err("dense shape does not match its tensors");
                }
                if !all(arith_dtype) || !disjoint() {
                    return Err("dense tensors have the wrong dtype or overlap");
                }
                let kn = k.checked_mul(n).ok_or("dense too large")?;
                let dp = DenseParams {
                    in_features: k,
                    out_features: n,
                    activation,
                };
                match rec.format {
                    OpFormat::F32 => Kernel::DenseF32 {
                        p: dp,
                        w: self.weights(p[param::DENSE_WEIGHTS], kn)?,
                        bias: self.optional_weights(p[param::DENSE_BIAS], n)?,
                    },
                    OpFormat::W8A32 => Kernel::DenseW8A32 {
                        p: dp,
                        w: self.weights(p[param::DENSE_WEIGHTS], kn)?,
                        scale: self.weights(p[param::DENSE_SCALES], n)?,
                        bias: self.optional_weights(p[param::DENSE_BIAS], n)?,
                    },
                    OpFormat::W8A8 => {
                        if k > MAX_ACC_TERMS {
                            return Err("int8 dense too wide for an int32 accumulator");
                        }
                        let (act_min, act_max) =
                            crate::kernels::activation_range_i8(activation, output.zero_point);
                        Kernel::DenseI8 {
                            p: DenseI8Params {
                                in_features: k,
                                out_features: n,
                                output_zero_point: output.zero_point,
                                act_min,
                                act_max,
                            },
                            w: self.weights(p[param::DENSE_WEIGHTS], kn)?,
                            bias: self.weights(p[param::DENSE_BIAS], n)?,
                            mult: self.weights(p[param::DENSE_SCALES], n)?,
                            shift: self.weights(p[param::DENSE_SHIFTS], n)?,
                        }
                    }
                }
            }
            OpKind::Conv2d => {
                need_inputs(1)?;
                let x = &ins[0];
                if x.rank != 3 || output.rank != 3 {
                    return Err("conv2d tensors must be [C, H, W]");
                }
                let lo = |v: u32| (v & 0xFFFF) as usize;
                let hi = |v: u32| (v >> 16) as usize;
                let (kh, kw) = (p[param::CONV_KH] as usize, p[param::CONV_KW] as usize);
                let (sh, sw) = (lo(p[param::CONV_STRIDE]), hi(p[param::CONV_STRIDE]));
                let (pt, pl) = (lo(p[param::CONV_PAD_TL]), hi(p[param::CONV_PAD_TL]));
                let (pb, pr) = (lo(p[param::CONV_PAD_BR]), hi(p[param::CONV_PAD_BR]));
                let [c, ih, iw, _] = x.dims.map(|d| d as usize);
                let [m, oh, ow, _] = output.dims.map(|d| d as usize);
                if kh == 0 || kw == 0 || sh == 0 || sw == 0 || kh > 0xFFFF || kw > 0xFFFF {
                    return Err("conv2d kernel and stride must be positive");
                }
                if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
                    return Err("conv2d padding must be smaller than the kernel");
                }
                let padded =
                    |v: usize, a: usize, b: usize| v.checked_add(a).and_then(|v| v.checked_add(b));
                let span_h = padded(ih, pt, pb)
                    .and_then(|v| v.checked_sub(kh))
                    .ok_or("conv2d kernel taller than the padded input")?;
                let span_w = padded(iw, pl, pr)
                    .and_then(|v| v.checked_sub(kw))
                    .ok_or("conv2d kernel wider than the padded input")?;
                if oh != span_h / sh + 1 || ow != span_w / sw + 1 {
                    return Err(
                        "conv2d output shape does not match input, kernel, stride and padding",
                    );
                }
                if !all(arith_dtype) || !disjoint() {
                    return Err("conv2d tensors have the wrong dtype or overlap");
                }
                let taps = c.checked_mul(kh * kw).ok_or("conv2d too large")?;
                let wn = taps.checked_mul(m).ok_or("conv2d too large")?;
                let cp = Conv2dParams {
                    in_channels: c,
                    in_h: ih,
                    in_w: iw,
                    out_channels: m,
                    out_h: oh,
                    out_w: ow,
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: sh,
                    stride_w: sw,
                    pad_top: pt,
                    pad_left: pl,
                    activation,
                };
                match rec.format {
                    OpFormat::F32 => Kernel::Conv2dF32 {
                        p: cp,
                        w: self.weights(p[param::CONV_WEIGHTS], wn)?,
                        bias: self.optional_weights(p[param::CONV_BIAS], m)?,
                    },
                    OpFormat::W8A32 => Kernel::Conv2dW8A32 {
                        p: cp,
                        w: self.weights(p[param::CONV_WEIGHTS], wn)?,
                        scale: self.weights(p[param::CONV_SCALES], m)?,
                        bias: self.optional_weights(p[param::CONV_BIAS], m)?,
                    },
                    OpFormat::W8A8 => {
                        if taps > MAX_ACC_TERMS {
                            return Err("int8 conv2d too deep for an int32 accumulator");
                        }
                        let (act_min, act_max) =
                            crate::kernels::activation_range_i8(activation, output.zero_point);
                        Kernel::Conv2dI8 {
                            p: cp,
                            q: Conv2dI8Quant {
                                input_zero_point: x.zero_point,
                                output_zero_point: output.zero_point,
                                act_min,
                                act_max,
                            },
                            w: self.weights(p[param::CONV_WEIGHTS], wn)?,
                            bias: self.weights(p[param::CONV_BIAS], m)?,
                            mult: self.weights(p[param::CONV_SCALES], m)?,
                            shift: self.weights(p[param::CONV_SHIFTS], m)?,
                        }
                    }
                }
            }
            OpKind::Upsample => {
                need_inputs(1)?;
                let x = &ins[0];
                let (fh, fw) = (p[param::UP_FH], p[param::UP_FW]);
                if x.rank != 3 || output.rank != 3 || fh == 0 || fw == 0 {
                    return Err("upsample needs [C, H, W] tensors and positive factors");
                }
                let want = [
                    Some(x.dims[0]),
                    x.dims[1].checked_mul(fh),
                    x.dims[2].checked_mul(fw),
                ];
                if want
                    != [
                        Some(output.dims[0]),
                        Some(output.dims[1]),
                        Some(output.dims[2]),
                    ]
                {
                    return Err("upsample output shape is not the input's times the factors");
                }
                if !all(x.dtype)
                    || !same_quant(x, &output)
                    || !disjoint()
                    || (rec.format == OpFormat::W8A8) != (x.dtype == DType::I8)
                {
                    return Err("upsample tensors differ in dtype or quantisation, or overlap");
                }
                Kernel::Upsample {
                    p: UpsampleParams {
                        channels: x.dims[0] as usize,
                        in_h: x.dims[1] as usize,
                        in_w: x.dims[2] as usize,
                        factor_h: fh as usize,
                        factor_w: fw as usize,
                    },
                }
            }
            OpKind::Relu | OpKind::LeakyRelu | OpKind::Tanh | OpKind::Sigmoid => {
                need_inputs(1)?;
                let x = &ins[0];
                if x.numel != output.numel || !in_place_or_disjoint(x) {
                    return Err("activation input and output differ in size or partly overlap");
                }
                match rec.format {
                    OpFormat::F32 => {
                        if !all(DType::F32) {
                            return Err("f32 activation on int8 tensors");
                        }
                        match rec.kind {
                            OpKind::Relu => Kernel::Relu,
                            OpKind::LeakyRelu => {
                                let alpha = f32::from_bits(p[param::LEAKY_ALPHA]);
                                if !alpha.is_finite() {
                                    return Err("leaky relu alpha must be finite");
                                }
                                Kernel::LeakyRelu { alpha }
                            }
                            OpKind::Tanh => Kernel::Tanh,
                            _ => Kernel::Sigmoid,
                        }
                    }
                    _ => {
                        if !all(DType::I8) {
                            return Err("int8 activation on f32 tensors");
                        }
                        let table: &'a [i8] = self.weights(p[param::UNARY_LUT], 256)?;
                        Kernel::Lut {
                            table: table
                                .try_into()
                                .map_err(|_| "lookup table must have 256 entries")?,
                        }
                    }
                }
            }
            OpKind::Concat => {
                if n_inputs == 0 {
                    return Err("concat needs inputs");
                }
                let mut sum: u32 = 0;
                for x in ins {
                    if x.rank != output.rank || x.dims[1..] != output.dims[1..] {
                        return Err("concat inputs must match the output past the first axis");
                    }
                    sum = sum.checked_add(x.dims[0]).ok_or("concat too large")?;
                }
                if sum != output.dims[0] {
                    return Err("concat output's first axis is not the sum of the inputs'");
                }
                let dt = output.dtype;
                if !all(dt)
                    || !ins.iter().all(|x| same_quant(x, &output))
                    || !disjoint()
                    || (rec.format == OpFormat::W8A8) != (dt == DType::I8)
                {
                    return Err("concat tensors differ in dtype or quantisation, or overlap");
                }
                Kernel::Concat
            }
            OpKind::Gather => {
                need_inputs(0)?;
                let ConditionKind::Label { classes } = self.condition else {
                    return Err("gather in a model without a label condition");
                };
                let (table, row) = (p[param::GATHER_TABLE], p[param::GATHER_ROW]);
                if p[param::GATHER_CLASSES] != classes || row != output.numel {
                    return Err("gather table shape does not match the classes and output");
                }
                let len = (classes as usize)
                    .checked_mul(row as usize)
                    .ok_or("gather table too large")?;
                match (rec.format, output.dtype) {
                    (OpFormat::F32, DType::F32) => Kernel::GatherF32 {
                        table: self.weights(table, len)?,
                        row: row as usize,
                    },
                    (OpFormat::W8A8, DType::I8) => Kernel::GatherI8 {
                        table: self.weights(table, len)?,
                        row: row as usize,
                    },
                    _ => return Err("gather format does not match its output dtype"),
                }
            }
            OpKind::Add | OpKind::Sub | OpKind::Mul => {
                need_inputs(2)?;
                let (a, b) = (&ins[0], &ins[1]);
                let mode = |x: &TensorInfo, code: u32| -> Result<Broadcast, &'static str> {
                    match code {
                        0 if x.numel == output.numel => Ok(Broadcast::Full),
                        1 if x.numel == 1 => Ok(Broadcast::Scalar),
                        2 if output.rank >= 2 && x.numel == output.dims[0] => {
                            Ok(Broadcast::Channel {
                                inner: (output.numel / output.dims[0]) as usize,
                            })
                        }
                        _ => Err("broadcast mode does not match the operand's size"),
                    }
                };
                let (ma, mb) = (
                    mode(a, p[param::BIN_BCAST_A])?,
                    mode(b, p[param::BIN_BCAST_B])?,
                );
                if !all(arith_dtype) {
                    return Err("elementwise tensors have the wrong dtype");
                }
                let out_r = output.range();
                let arena = |x: &TensorInfo| x.storage == Storage::Arena;
                let apart = |x: &TensorInfo| !arena(x) || !overlaps(&x.range(), &out_r);
                // Which operand `y` holds: one equal to the output's bytes (in place) or a
                // full-size one copied into the output first.
                let (side, in_place) =
                    if ma == Broadcast::Full && arena(a) && a.range() == out_r && apart(b) {
                        (Side::First, true)
                    } else if mb == Broadcast::Full && arena(b) && b.range() == out_r && apart(a) {
                        (Side::Second, true)
                    } else if apart(a) && apart(b) {
                        match (ma, mb) {
                            (Broadcast::Full, _) => (Side::First, false),
                            (_, Broadcast::Full) => (Side::Second, false),
                            _ => return Err("elementwise op needs a full-size operand"),
                        }
                    } else {
                        return Err("elementwise output partly overlaps an operand");
                    };
                let other = match side {
                    Side::First => mb,
                    Side::Second => ma,
                };
                let op = match (rec.kind, rec.format) {
                    (OpKind::Add, OpFormat::F32) => BinaryOp::AddF32,
                    (OpKind::Sub, OpFormat::F32) => BinaryOp::SubF32,
                    (OpKind::Mul, OpFormat::F32) => BinaryOp::MulF32,
                    (OpKind::Mul, _) => {
                        let (act_min, act_max) = (-128, 127);
                        BinaryOp::MulI8(MulI8Params {
                            a_zero_point: a.zero_point,
                            b_zero_point: b.zero_point,
                            output_multiplier: p[param::MUL_MULT_OUT] as i32,
                            output_shift: p[param::MUL_SHIFT_OUT] as i32,
                            output_zero_point: output.zero_point,
                            act_min,
                            act_max,
                        })
                    }
                    (kind, _) => {
                        let params = AddI8Params {
                            a: AddI8Operand {
                                zero_point: a.zero_point,
                                multiplier: p[param::ADD_MULT_A] as i32,
                                shift: p[param::ADD_SHIFT_A] as i32,
                            },
                            b: AddI8Operand {
                                zero_point: b.zero_point,
                                multiplier: p[param::ADD_MULT_B] as i32,
                                shift: p[param::ADD_SHIFT_B] as i32,
                            },
                            output_multiplier: p[param::ADD_MULT_OUT] as i32,
                            output_shift: p[param::ADD_SHIFT_OUT] as i32,
                            output_zero_point: output.zero_point,
                            act_min: -128,
                            act_max: 127,
                        };
                        if kind == OpKind::Add {
                            BinaryOp::AddI8(params)
                        } else {
                            BinaryOp::SubI8(params)
                        }
                    }
                };
                Kernel::Binary {
                    op,
                    side,
                    in_place,
                    other,
                }
            }
            OpKind::Reshape => {
                need_inputs(1)?;
                let x = &ins[0];
                if x.numel != output.numel
                    || x.dtype != output.dtype
                    || !same_quant(x, &output)
                    || !in_place_or_disjoint(x)
                {
                    return Err("reshape changes size, dtype or quantisation, or partly overlaps");
                }
                Kernel::Reshape
            }
            OpKind::Quantize | OpKind::Dequantize => {
                need_inputs(1)?;
                let x = &ins[0];
                let (from, to, q) = if rec.kind == OpKind::Quantize {
                    (DType::F32, DType::I8, &output)
                } else {
                    (DType::I8, DType::F32, x)
                };
                if x.dtype != from || output.dtype != to || x.numel != output.numel || !disjoint() {
                    return Err(
                        "quantize/dequantize tensors have the wrong dtype or size, or overlap",
                    );
                }
                if rec.kind == OpKind::Quantize {
                    Kernel::Quantize {
                        scale: q.scale,
                        zero_point: q.zero_point,
                    }
                } else {
                    Kernel::Dequantize {
                        scale: q.scale,
                        zero_point: q.zero_point,
                    }
                }
            }
        };
        Ok(PreparedOp {
            inputs,
            n_inputs,
            output,
            kernel,
        })
    }
}
