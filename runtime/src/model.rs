//! [`DeviceModel`]: a validated, borrowed `.egm` model.

use crate::Error;
use crate::contract::ConditionKind;
use crate::crc::crc32;
use crate::format::{
    DATA_ALIGN, DType, HEADER_LEN, Header, MAGIC, MAX_OPS, MAX_TENSORS, NONE, OP_RECORD_LEN,
    OpFormat, OpKind, OpRecord, PREAMBLE_LEN, SECTION_ALIGN, Storage, TENSOR_RECORD_LEN,
    TensorInfo, VERSION, flags,
};
use crate::ops::{Ctx, Prepared, fallbacks_built, overlaps};

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
    /// The code in the `.egm` header.
    pub const fn code(self) -> u8 {
        match self {
            WeightFormat::F32 => 0,
            WeightFormat::W8A32 => 1,
            WeightFormat::W8A8 => 2,
        }
    }

    /// The format for a header code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(WeightFormat::F32),
            1 => Some(WeightFormat::W8A32),
            2 => Some(WeightFormat::W8A8),
            _ => None,
        }
    }

    /// The name used in file names and the CLI: `f32`, `w8a32`, `w8a8`.
    pub const fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::W8A32 => "w8a32",
            WeightFormat::W8A8 => "w8a8",
        }
    }
}

/// Resource caps checked when a model is loaded with
/// [`DeviceModel::from_bytes_with_limits`], before anything is sampled.
///
/// A `.egm` file is checked for consistency by [`DeviceModel::from_bytes`], but a consistent
/// file can still ask for a 4 GiB arena or 10^13 multiply-accumulates per sample. A host
/// that loads models it did not write (a CLI, a server) loads them with limits; a device
/// that sized its own arena at build time needs none ([`Limits::NONE`], what `from_bytes`
/// uses). Each limit is inclusive.
///
/// # Examples
///
/// ```
/// use edgegan_runtime::Limits;
/// let tight = Limits { max_arena_bytes: 64 * 1024, ..Limits::HOST };
/// assert!(tight.max_macs <= Limits::NONE.max_macs);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest arena ([`DeviceModel::arena_bytes`]) a model may ask for.
    pub max_arena_bytes: usize,
    /// Largest number of multiply-accumulates per sample ([`DeviceModel::macs`]).
    pub max_macs: u64,
    /// Largest output of any one op, in bytes.
    pub max_op_output_bytes: usize,
}

impl Limits {
    /// No limits (what [`DeviceModel::from_bytes`] applies).
    pub const NONE: Limits = Limits {
        max_arena_bytes: usize::MAX,
        max_macs: u64::MAX,
        max_op_output_bytes: usize::MAX,
    };

    /// Defaults for a host loading a model it did not write: a 64 MiB arena, 10^10 MACs
    /// per sample (seconds on a desktop core; the largest shipped model needs about 10^7)
    /// and 16 MiB per op output.
    pub const HOST: Limits = Limits {
        max_arena_bytes: 64 << 20,
        max_macs: 10_000_000_000,
        max_op_output_bytes: 16 << 20,
    };
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
    /// The header's `flags` (only [`flags::KNOWN`] bits).
    flags: u32,
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

/// An op decoded and checked against its tensors: its tensors and its prepared op module
/// state (kernel parameters and weight slices), lent by [`DeviceModel::with_prepared`].
///
/// Preparing is cheap (no loop over weights), so the sampler prepares each op again on
/// every sample instead of storing per-op state: the model needs no per-op memory, and what
/// runs is exactly what [`DeviceModel::from_bytes`] validated. The parts are borrowed from
/// where they were prepared, never moved: at the firmware's `opt-level = "z"` each move of
/// the few hundred bytes was a `memcpy` (about 16 k instructions per ring8-cgan sample).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreparedOp<'p, 'a> {
    /// The used inputs.
    pub inputs: &'p [TensorInfo],
    pub output: &'p TensorInfo,
    pub op: &'p Prepared<'a>,
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
        Self::from_bytes_with_limits(bytes, &Limits::NONE)
    }

    /// Parses and validates a `.egm` model as [`from_bytes`](Self::from_bytes) does, then
    /// checks its arena, its multiply-accumulates per sample and every op's output size
    /// against `limits`.
    ///
    /// # Errors
    ///
    /// The errors of [`from_bytes`](Self::from_bytes), and [`Error::LimitExceeded`] naming
    /// the first limit the model exceeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use edgegan_runtime::{DeviceModel, Limits};
    /// assert!(DeviceModel::from_bytes_with_limits(&[0u8; 64], &Limits::HOST).is_err());
    /// ```
    pub fn from_bytes_with_limits(bytes: &'a [u8], limits: &Limits) -> Result<Self, Error> {
        if cfg!(target_endian = "big") {
            return Err(Error::BigEndianTarget);
        }
        if bytes.len() < PREAMBLE_LEN {
            return Err(Error::Truncated {
                needed: PREAMBLE_LEN,
                available: bytes.len(),
            });
        }
        let hd = Header::decode(bytes);
        if hd.magic != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = hd.version;
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
        if usize::from(hd.header_len) != HEADER_LEN {
            return Err(Error::BadHeader {
                field: "header_len",
            });
        }
        let file_len = hd.file_len as usize;
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
        let expected = hd.crc32;
        let found = crc32(bytes.get(PREAMBLE_LEN..).ok_or(Error::Internal)?);
        if expected != found {
            return Err(Error::ChecksumMismatch { expected, found });
        }
        let model = Self::parse_header(bytes, &hd)?;
        // The arena first: a cap on it bounds every op's output before any op is decoded.
        if model.arena_bytes() > limits.max_arena_bytes {
            return Err(Error::LimitExceeded {
                what: "arena bytes",
                value: u64::from(model.arena_bytes),
                limit: limits.max_arena_bytes as u64,
            });
        }
        model.validate()?;
        model.check_limits(limits)?;
        Ok(model)
    }

    fn parse_header(b: &'a [u8], hd: &Header) -> Result<Self, Error> {
        let bad = |field| Error::BadHeader { field };
        if hd.flags & !flags::KNOWN != 0 {
            return Err(bad("flags"));
        }
        if !hd.reserved_zero {
            return Err(bad("reserved"));
        }
        let weight_format =
            WeightFormat::from_code(hd.weight_format).ok_or(bad("weight_format"))?;
        let classes = hd.classes;
        let mask = hd.mask_shape;
        let condition = ConditionKind::from_header(hd.condition_kind, classes, mask)
            .ok_or(bad("condition_kind"))?;
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
        // a label-indexed bias needs a label to index it
        if hd.flags & flags::LABEL_BIAS != 0 && !matches!(condition, ConditionKind::Label { .. }) {
            return Err(bad("flags"));
        }
        let noise_dim = hd.noise_dim;
        if noise_dim == 0 {
            return Err(bad("noise_dim"));
        }
        let output_rank = hd.output_rank;
        if !(1..=4).contains(&output_rank) {
            return Err(bad("output_rank"));
        }
        let output_dims = hd.output_dims;
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
        let value_range = (hd.value_min, hd.value_max);
        if !(value_range.0.is_finite()
            && value_range.1.is_finite()
            && value_range.0 < value_range.1)
        {
            return Err(bad("value_range"));
        }
        let arena_bytes = hd.arena_bytes;
        if !(arena_bytes as usize).is_multiple_of(DATA_ALIGN) {
            return Err(bad("arena_bytes"));
        }
        let tensor_count = hd.tensor_count;
        let op_count = hd.op_count;
        if tensor_count == 0 || tensor_count as usize > MAX_TENSORS {
            return Err(bad("tensor_count"));
        }
        if op_count as usize > MAX_OPS {
            return Err(bad("op_count"));
        }
        let section =
            |off_field: u32, len: usize, name: &'static str| -> Result<(usize, &'a [u8]), Error> {
                let off = off_field as usize;
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
            hd.tensor_table,
            tensor_count as usize * TENSOR_RECORD_LEN,
            "tensor_table",
        )?;
        let (o_end, ops) = section(hd.op_table, op_count as usize * OP_RECORD_LEN, "op_table")?;
        let (_, blob) = section(hd.blob_offset, hd.blob_len as usize, "blob")?;
        if (hd.op_table as usize) < t_end {
            return Err(Error::BadSection {
                section: "op_table",
            });
        }
        if (hd.blob_offset as usize) < o_end {
            return Err(Error::BadSection { section: "blob" });
        }
        Ok(DeviceModel {
            bytes: b,
            tensors,
            ops,
            blob,
            weight_format,
            condition,
            flags: hd.flags,
            noise_dim,
            output_rank,
            output_dims,
            value_range,
            arena_bytes,
            tensor_count,
            op_count,
            noise_tensor: hd.noise_tensor,
            mask_tensor: hd.mask_tensor,
            masked_tensor: hd.masked_tensor,
            output_tensor: hd.output_tensor,
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

    /// The class count a label-indexed Dense bias ([`flags::LABEL_BIAS`]) has rows for:
    /// the model's classes when the flag is set, otherwise `None`.
    pub(crate) const fn label_bias_rows(&self) -> Option<u32> {
        match self.condition {
            ConditionKind::Label { classes } if self.flags & flags::LABEL_BIAS != 0 => {
                Some(classes)
            }
            _ => None,
        }
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
            .filter_map(|i| self.with_prepared(i, |op| op.op.macs()).ok())
            .sum()
    }

    /// Whether a DSP core runs one of this model's ops on an int8 fallback kernel (a Conv2d
    /// the band kernel does not take, a Dense wider than its buffer): a firmware for it
    /// needs the runtime's `int8-fallbacks` feature, and without it the model does not load
    /// ([`INT8_FALLBACKS`](crate::kernels::cortex_m::INT8_FALLBACKS)). `firmware-sim`
    /// builds with the feature exactly when this says so.
    pub fn needs_int8_fallbacks(&self) -> bool {
        (0..self.op_count()).any(|i| {
            self.with_prepared(i, |op| op.op.needs_int8_fallbacks())
                .unwrap_or(false)
        })
    }

    /// Multiply-accumulates per sample of op `index` (Dense, Conv2d, ConvTranspose2d; 0 for
    /// other ops or a bad index).
    pub fn op_macs(&self, index: usize) -> u64 {
        self.with_prepared(index, |op| op.op.macs()).unwrap_or(0)
    }

    /// Learned parameters of op `index`: the elements of its weights, biases and tables
    /// (Dense, Conv2d, Gather; 0 for other ops or a bad index).
    pub fn op_learned_params(&self, index: usize) -> u64 {
        self.with_prepared(index, |op| op.op.learned_params())
            .unwrap_or(0)
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

    /// Checks each op's output and the total MACs against `limits` (after `validate`).
    fn check_limits(&self, limits: &Limits) -> Result<(), Error> {
        if *limits == Limits::NONE {
            return Ok(());
        }
        let mut macs: u64 = 0;
        for i in 0..self.op_count() {
            let (out, op_macs) = self.with_prepared(i, |op| (op.output.bytes(), op.op.macs()))?;
            if out > limits.max_op_output_bytes {
                return Err(Error::LimitExceeded {
                    what: "bytes of one op's output",
                    value: out as u64,
                    limit: limits.max_op_output_bytes as u64,
                });
            }
            macs = macs.saturating_add(op_macs);
        }
        if macs > limits.max_macs {
            return Err(Error::LimitExceeded {
                what: "multiply-accumulates per sample",
                value: macs,
                limit: limits.max_macs,
            });
        }
        Ok(())
    }

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
            let storage = self.with_prepared(i, |op| {
                op.op.validate_weights()?;
                fallbacks_built(|| op.op.needs_int8_fallbacks())?;
                Ok(op.output.storage)
            })?;
            let storage = storage.map_err(bad)?;
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
            if storage != Storage::Arena || self.is_input_role(rec.output) {
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

    // (not inlined: a copy in each caller was 0.3 KB of firmware code; the `memcpy` of its
    // `Result<OpRecord>` that a call costs is under 40 instructions per sample on ring8-cgan)
    #[inline(never)]
    fn record(&self, i: usize) -> Result<OpRecord, Error> {
        let r = self.ops.get(i * OP_RECORD_LEN..).ok_or(Error::Internal)?;
        OpRecord::decode(r).map_err(|reason| Error::BadOp {
            index: i as u32,
            reason,
        })
    }

    pub(crate) fn weights<T: bytemuck::Pod>(
        &self,
        off: u32,
        count: usize,
    ) -> Result<&'a [T], &'static str> {
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

    pub(crate) fn optional_weights<T: bytemuck::Pod>(
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

    /// Decodes op `i`, checks it against its tensors and returns what `f` makes of it (see
    /// [`PreparedOp`]).
    pub(crate) fn with_prepared<R>(
        &self,
        i: usize,
        f: impl FnOnce(PreparedOp<'_, 'a>) -> R,
    ) -> Result<R, Error> {
        let mut f = Some(f);
        let mut out = None;
        self.prepare(i, &mut |op| out = f.take().map(|f| f(op)))?;
        out.ok_or(Error::Internal)
    }

    /// [`with_prepared`](Self::with_prepared)'s one body (not generic, so linked once).
    #[inline(never)]
    pub(crate) fn prepare(
        &self,
        i: usize,
        f: &mut dyn FnMut(PreparedOp<'_, 'a>),
    ) -> Result<(), Error> {
        let bad = |reason| Error::BadOp {
            index: i as u32,
            reason,
        };
        let rec = self.record(i)?;
        let n_inputs = rec.inputs().len();
        // Each record decoded straight into its slot (no `TensorInfo` moved).
        let (tensors, count) = (self.tensors, self.tensor_count());
        #[inline(always)]
        fn decode_into(
            (tensors, count): (&[u8], usize),
            t: u32,
            slot: &mut TensorInfo,
        ) -> Result<(), &'static str> {
            if (t as usize) >= count {
                return Err("tensor index out of range");
            }
            // (validated when the model loaded)
            let r = tensors.get(t as usize * TENSOR_RECORD_LEN..);
            let r = r.and_then(<[u8]>::first_chunk).ok_or("bad tensor record")?;
            *slot = TensorInfo::read(r);
            Ok(())
        }
        let mut all = [TensorInfo {
            dtype: DType::F32,
            storage: Storage::Arena,
            rank: 1,
            dims: [1; 4],
            offset: 0,
            numel: 1,
            scale: 0.0,
            zero_point: 0,
        }; 5];
        let [inputs @ .., output] = &mut all;
        decode_into((tensors, count), rec.output, output).map_err(bad)?;
        for (slot, &t) in inputs.iter_mut().zip(rec.inputs()) {
            decode_into((tensors, count), t, slot).map_err(bad)?;
        }
        // (references, not copies: each move of a 36-byte `TensorInfo` was a `memcpy` call
        // at `opt-level = "z"`)
        let (inputs, output) = (&*inputs, &*output);
        let ins = inputs.get(..n_inputs).unwrap_or(&[]);
        let cx = Ctx {
            model: self,
            index: i,
            rec: &rec,
            ins,
            output,
        };
        let prepared = Prepared::prepare(&cx);
        let op = prepared.as_ref().map_err(|&reason| bad(reason))?;
        f(PreparedOp {
            inputs: ins,
            output,
            op,
        });
        Ok(())
    }
}
