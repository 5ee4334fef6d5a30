//! The `.egm` byte layout: constants, and the fixed-size records of the tensor and op
//! tables. `docs/egm.md` is the full description; this module is its code.
//!
//! Everything is little-endian. Records are read field by field with `from_le_bytes`, so
//! reading them needs no alignment; only the weights blob is used in place (as `&[f32]`,
//! `&[i32]`, `&[i8]`), which is why the model bytes must start 4-byte aligned.

/// First four bytes of every `.egm` file.
pub const MAGIC: [u8; 4] = *b"EGMF";
/// The format version this runtime reads and writes.
pub const VERSION: u16 = 1;
/// Bytes in the version-1 header.
pub const HEADER_LEN: usize = 128;
/// Bytes covered by neither the checksum nor the version-independent preamble: magic,
/// version, header length, file length and the CRC itself.
pub const PREAMBLE_LEN: usize = 16;
/// Bytes per tensor record.
pub const TENSOR_RECORD_LEN: usize = 40;
/// Bytes per op record.
pub const OP_RECORD_LEN: usize = 64;
/// Alignment of every section's file offset.
pub const SECTION_ALIGN: usize = 16;
/// Alignment of the model's first byte in memory, of every weight array in the blob and of
/// every arena offset.
pub const DATA_ALIGN: usize = 4;
/// "No tensor" / "no weight array" in index and offset fields.
pub const NONE: u32 = u32::MAX;
/// At most this many ops per model (keeps load-time validation bounded on a device).
pub const MAX_OPS: usize = 1024;
/// At most this many tensors per model.
pub const MAX_TENSORS: usize = 4096;
/// At most this many inputs per op.
pub const MAX_INPUTS: usize = 4;
/// Parameter words per op record (their meaning is the op's: see [`crate::ops`]).
pub const PARAM_WORDS: usize = 10;
/// At most this many terms in one int8 accumulator (dense `K`, conv `C·KH·KW`), so that
/// `Σ (x − zp)·w` stays within ±2^30 and an int32 never overflows.
pub const MAX_ACC_TERMS: usize = 32_896;

/// Header `flags` bits (see `docs/egm.md`). A runtime rejects a file with a bit it does not
/// know, so an older runtime refuses a model it would run wrongly instead of running it.
pub mod flags {
    /// Some Dense reads its bias from a label-indexed table (`[classes, N]`, its record's
    /// word 6 = the class count): the compiler folded `concat(z, embedding(label))` into
    /// it. Only in label-conditioned models.
    pub const LABEL_BIAS: u32 = 1;
    /// Every bit this runtime knows.
    pub const KNOWN: u32 = LABEL_BIAS;
}

/// Header field offsets (see `docs/egm.md`).
pub mod header {
    #![allow(missing_docs)] // one offset per field, named as in docs/egm.md
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const HEADER_LEN: usize = 6;
    pub const FILE_LEN: usize = 8;
    pub const CRC32: usize = 12;
    pub const FLAGS: usize = 16;
    pub const WEIGHT_FORMAT: usize = 20;
    pub const CONDITION_KIND: usize = 21;
    pub const OUTPUT_RANK: usize = 22;
    pub const RESERVED0: usize = 23;
    pub const NOISE_DIM: usize = 24;
    pub const CLASSES: usize = 28;
    pub const MASK_SHAPE: usize = 32;
    pub const OUTPUT_DIMS: usize = 44;
    pub const VALUE_MIN: usize = 60;
    pub const VALUE_MAX: usize = 64;
    pub const ARENA_BYTES: usize = 68;
    pub const TENSOR_COUNT: usize = 72;
    pub const OP_COUNT: usize = 76;
    pub const NOISE_TENSOR: usize = 80;
    pub const MASK_TENSOR: usize = 84;
    pub const MASKED_TENSOR: usize = 88;
    pub const OUTPUT_TENSOR: usize = 92;
    pub const TENSOR_TABLE: usize = 96;
    pub const OP_TABLE: usize = 100;
    pub const BLOB_OFFSET: usize = 104;
    pub const BLOB_LEN: usize = 108;
    pub const RESERVED1: usize = 112;
}

#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    match b.get(off..off + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[inline]
pub(crate) fn u16_at(b: &[u8], off: usize) -> u16 {
    match b.get(off..off + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

#[inline]
pub(crate) fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// IEEE 754 binary32 (code 0).
    F32,
    /// Affine-quantised int8 (code 1): `real = (q − zero_point) · scale`.
    I8,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::I8 => 1,
        }
    }

    /// The code in a tensor record.
    pub const fn code(self) -> u8 {
        match self {
            DType::F32 => 0,
            DType::I8 => 1,
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// In the caller's arena, at `offset` (code 0).
    Arena,
    /// A constant in the weights blob, at `offset` from the blob start (code 1).
    Const,
}

/// One decoded tensor record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Where the bytes live.
    pub storage: Storage,
    /// Number of dimensions (1 to 4); batch is not stored.
    pub rank: u8,
    /// Dimensions; entries past `rank` are 1.
    pub dims: [u32; 4],
    /// Byte offset in the arena or the blob.
    pub offset: u32,
    /// Element count (product of the dims).
    pub numel: u32,
    /// Quantisation scale (int8 only).
    pub scale: f32,
    /// Quantisation zero point (int8 only).
    pub zero_point: i32,
}

impl TensorInfo {
    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.numel as usize * self.dtype.size()
    }

    /// The byte range in its storage.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset as usize..self.offset as usize + self.bytes()
    }

    /// The dimensions in use.
    pub fn shape(&self) -> &[u32] {
        &self.dims[..usize::from(self.rank.clamp(1, 4))]
    }

    /// Decodes a record; `Err` names the bad field.
    pub(crate) fn decode(r: &[u8]) -> Result<Self, &'static str> {
        if u8_at(r, 0) > 1 {
            return Err("unknown dtype");
        }
        // (a short record reads as zeros past its end)
        let mut rec = [0u8; TENSOR_RECORD_LEN];
        for (d, &b) in rec.iter_mut().zip(r) {
            *d = b;
        }
        let t = Self::read(&rec);
        if !(1..=4).contains(&t.rank) {
            return Err("rank must be 1 to 4");
        }
        if u8_at(r, 2) > 1 {
            return Err("unknown storage");
        }
        if u8_at(r, 3) != 0 || u32_at(r, 36) != 0 {
            return Err("reserved bytes must be zero");
        }
        let mut numel: u32 = 1;
        for (i, &d) in t.dims.iter().enumerate() {
            if i < usize::from(t.rank) {
                if d == 0 {
                    return Err("zero dimension");
                }
                numel = numel.checked_mul(d).ok_or("element count overflows")?;
            } else if d != 1 {
                return Err("dims past rank must be 1");
            }
        }
        if t.numel != numel {
            return Err("numel is not the product of dims");
        }
        numel
            .checked_mul(t.dtype.size() as u32)
            .and_then(|b| b.checked_add(t.offset))
            .ok_or("byte range overflows")?;
        if !(t.offset as usize).is_multiple_of(DATA_ALIGN) {
            return Err("offset not 4-byte aligned");
        }
        match t.dtype {
            DType::F32 if t.scale != 0.0 || t.zero_point != 0 => {
                return Err("f32 tensor with quantisation");
            }
            DType::I8 if !(t.scale.is_finite() && t.scale > 0.0) => {
                return Err("int8 scale must be finite and > 0");
            }
            DType::I8 if !(-128..=127).contains(&t.zero_point) => {
                return Err("int8 zero point out of range");
            }
            _ => {}
        }
        Ok(t)
    }

    /// A record's fields as they are, unchecked: for a record that [`decode`](Self::decode)
    /// accepted (a validated model's, read again for each op on every sample).
    #[inline(always)]
    pub(crate) fn read(r: &[u8; TENSOR_RECORD_LEN]) -> Self {
        TensorInfo {
            dtype: if u8_at(r, 0) == 1 {
                DType::I8
            } else {
                DType::F32
            },
            storage: if u8_at(r, 2) == 1 {
                Storage::Const
            } else {
                Storage::Arena
            },
            rank: u8_at(r, 1),
            dims: [u32_at(r, 4), u32_at(r, 8), u32_at(r, 12), u32_at(r, 16)],
            offset: u32_at(r, 20),
            numel: u32_at(r, 24),
            scale: f32::from_bits(u32_at(r, 28)),
            zero_point: u32_at(r, 32) as i32,
        }
    }

    /// Encodes the record (writer side).
    pub fn encode(&self) -> [u8; TENSOR_RECORD_LEN] {
        let mut r = [0u8; TENSOR_RECORD_LEN];
        r[0] = self.dtype.code();
        r[1] = self.rank;
        r[2] = match self.storage {
            Storage::Arena => 0,
            Storage::Const => 1,
        };
        for (i, d) in self.dims.iter().enumerate() {
            r[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        r[20..24].copy_from_slice(&self.offset.to_le_bytes());
        r[24..28].copy_from_slice(&self.numel.to_le_bytes());
        r[28..32].copy_from_slice(&self.scale.to_bits().to_le_bytes());
        r[32..36].copy_from_slice(&self.zero_point.to_le_bytes());
        r
    }
}

/// The `.egm` header: every field of its [`HEADER_LEN`] bytes, decoded as raw numbers.
/// [`decode`](Self::decode) and [`encode`](Self::encode) are the only code that knows the
/// byte offsets ([`header`]); the parser validates the fields, the writer fills them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Header {
    /// [`MAGIC`] in a valid file.
    pub magic: [u8; 4],
    /// The format version ([`VERSION`]).
    pub version: u16,
    /// Bytes of the header ([`HEADER_LEN`]).
    pub header_len: u16,
    /// Bytes of the whole model.
    pub file_len: u32,
    /// CRC-32 of every byte after the [`PREAMBLE_LEN`]-byte preamble.
    pub crc32: u32,
    /// Must be 0.
    pub flags: u32,
    /// [`WeightFormat::code`](crate::WeightFormat::code).
    pub weight_format: u8,
    /// [`ConditionKind::code`](crate::ConditionKind::code).
    pub condition_kind: u8,
    /// Rank of one output sample (1 to 4).
    pub output_rank: u8,
    /// Length of `z`.
    pub noise_dim: u32,
    /// Class count (label condition), else 0.
    pub classes: u32,
    /// `[C, H, W]` of the mask inputs (mask condition), else zeros.
    pub mask_shape: [u32; 3],
    /// Dimensions of one output sample; 1 past the rank.
    pub output_dims: [u32; 4],
    /// The output's trained range, low end.
    pub value_min: f32,
    /// The output's trained range, high end.
    pub value_max: f32,
    /// Bytes of the arena.
    pub arena_bytes: u32,
    /// Records in the tensor table.
    pub tensor_count: u32,
    /// Records in the op table.
    pub op_count: u32,
    /// The tensor the sampler writes `z` into.
    pub noise_tensor: u32,
    /// The tensor of the mask input, or [`NONE`].
    pub mask_tensor: u32,
    /// The tensor of the masked-object input, or [`NONE`].
    pub masked_tensor: u32,
    /// The tensor the output is read from.
    pub output_tensor: u32,
    /// File offset of the tensor table.
    pub tensor_table: u32,
    /// File offset of the op table.
    pub op_table: u32,
    /// File offset of the weights blob.
    pub blob_offset: u32,
    /// Bytes of the weights blob.
    pub blob_len: u32,
    /// Whether the reserved bytes are zero (always, in an encoded header).
    pub reserved_zero: bool,
}

impl Header {
    /// Decodes the header at the start of `b`; bytes past the end of `b` read as 0, so
    /// decoding never fails (the parser validates the fields).
    pub fn decode(b: &[u8]) -> Self {
        use header as h;
        let f32_at = |off| f32::from_bits(u32_at(b, off));
        Header {
            magic: core::array::from_fn(|i| u8_at(b, h::MAGIC + i)),
            version: u16_at(b, h::VERSION),
            header_len: u16_at(b, h::HEADER_LEN),
            file_len: u32_at(b, h::FILE_LEN),
            crc32: u32_at(b, h::CRC32),
            flags: u32_at(b, h::FLAGS),
            weight_format: u8_at(b, h::WEIGHT_FORMAT),
            condition_kind: u8_at(b, h::CONDITION_KIND),
            output_rank: u8_at(b, h::OUTPUT_RANK),
            noise_dim: u32_at(b, h::NOISE_DIM),
            classes: u32_at(b, h::CLASSES),
            mask_shape: core::array::from_fn(|i| u32_at(b, h::MASK_SHAPE + 4 * i)),
            output_dims: core::array::from_fn(|i| u32_at(b, h::OUTPUT_DIMS + 4 * i)),
            value_min: f32_at(h::VALUE_MIN),
            value_max: f32_at(h::VALUE_MAX),
            arena_bytes: u32_at(b, h::ARENA_BYTES),
            tensor_count: u32_at(b, h::TENSOR_COUNT),
            op_count: u32_at(b, h::OP_COUNT),
            noise_tensor: u32_at(b, h::NOISE_TENSOR),
            mask_tensor: u32_at(b, h::MASK_TENSOR),
            masked_tensor: u32_at(b, h::MASKED_TENSOR),
            output_tensor: u32_at(b, h::OUTPUT_TENSOR),
            tensor_table: u32_at(b, h::TENSOR_TABLE),
            op_table: u32_at(b, h::OP_TABLE),
            blob_offset: u32_at(b, h::BLOB_OFFSET),
            blob_len: u32_at(b, h::BLOB_LEN),
            reserved_zero: u8_at(b, h::RESERVED0) == 0
                && b.get(h::RESERVED1..HEADER_LEN)
                    .is_some_and(|r| r.iter().all(|&x| x == 0)),
        }
    }

    /// Encodes the header (reserved bytes zero; the CRC as given, see [`seal`]).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        use header as h;
        let mut b = [0u8; HEADER_LEN];
        let mut put = |off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        put(h::FILE_LEN, self.file_len);
        put(h::CRC32, self.crc32);
        put(h::FLAGS, self.flags);
        put(h::NOISE_DIM, self.noise_dim);
        put(h::CLASSES, self.classes);
        for (i, &d) in self.mask_shape.iter().enumerate() {
            put(h::MASK_SHAPE + 4 * i, d);
        }
        for (i, &d) in self.output_dims.iter().enumerate() {
            put(h::OUTPUT_DIMS + 4 * i, d);
        }
        put(h::VALUE_MIN, self.value_min.to_bits());
        put(h::VALUE_MAX, self.value_max.to_bits());
        put(h::ARENA_BYTES, self.arena_bytes);
        put(h::TENSOR_COUNT, self.tensor_count);
        put(h::OP_COUNT, self.op_count);
        put(h::NOISE_TENSOR, self.noise_tensor);
        put(h::MASK_TENSOR, self.mask_tensor);
        put(h::MASKED_TENSOR, self.masked_tensor);
        put(h::OUTPUT_TENSOR, self.output_tensor);
        put(h::TENSOR_TABLE, self.tensor_table);
        put(h::OP_TABLE, self.op_table);
        put(h::BLOB_OFFSET, self.blob_offset);
        put(h::BLOB_LEN, self.blob_len);
        b[h::MAGIC..h::MAGIC + 4].copy_from_slice(&self.magic);
        b[h::VERSION..h::VERSION + 2].copy_from_slice(&self.version.to_le_bytes());
        b[h::HEADER_LEN..h::HEADER_LEN + 2].copy_from_slice(&self.header_len.to_le_bytes());
        b[h::WEIGHT_FORMAT] = self.weight_format;
        b[h::CONDITION_KIND] = self.condition_kind;
        b[h::OUTPUT_RANK] = self.output_rank;
        b
    }
}

/// Recomputes the header checksum of `.egm` bytes in place (the writer's last step, and
/// for tools and tests that edit a model).
pub fn seal(bytes: &mut [u8]) {
    if let Some(rest) = bytes.get(PREAMBLE_LEN..) {
        let crc = crate::crc32(rest);
        bytes[header::CRC32..header::CRC32 + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

pub use crate::ops::OpKind;

/// Arithmetic of an op (the op record's `format` byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpFormat {
    /// f32 weights and activations (code 0).
    F32,
    /// int8 per-output-channel weights with f32 scales, f32 activations (code 1; Dense and
    /// Conv2d only).
    W8A32,
    /// int8 everything, integer-only (code 2).
    W8A8,
}

impl OpFormat {
    /// Whether this build runs ops of this format: the cargo features `f32`, `w8a32` and
    /// `w8a8` (all on by default; a firmware turns on only its model's, so that the linker
    /// drops the other formats' kernels). Records of a format left out fail to load.
    pub const fn built(self) -> bool {
        match self {
            OpFormat::F32 => cfg!(feature = "f32"),
            OpFormat::W8A32 => cfg!(feature = "w8a32"),
            OpFormat::W8A8 => cfg!(feature = "w8a8"),
        }
    }
}

/// One decoded op record, before op-specific validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpRecord {
    /// What the op does.
    pub kind: OpKind,
    /// Its arithmetic.
    pub format: OpFormat,
    /// Fused activation code (0 none, 1 relu; Dense and Conv2d only).
    pub activation: u8,
    /// Number of used entries in `inputs`.
    pub n_inputs: u8,
    /// Input tensor indices.
    pub inputs: [u32; MAX_INPUTS],
    /// Output tensor index.
    pub output: u32,
    /// Op-specific parameters (decoded by the op's module in [`crate::ops`]).
    pub params: [u32; PARAM_WORDS],
}

impl OpRecord {
    /// Decodes a record; `Err` names the bad field.
    #[inline(always)]
    pub(crate) fn decode(r: &[u8]) -> Result<Self, &'static str> {
        let kind = OpKind::from_code(u8_at(r, 0)).ok_or("unknown op kind")?;
        if !kind.built() {
            return Err(crate::ops::NOT_BUILT);
        }
        let format = match u8_at(r, 1) {
            0 => OpFormat::F32,
            1 => OpFormat::W8A32,
            2 => OpFormat::W8A8,
            _ => return Err("unknown op format"),
        };
        if !format.built() {
            return Err("op format not built into this runtime (its cargo feature is off)");
        }
        let n_inputs = u8_at(r, 2);
        if usize::from(n_inputs) > MAX_INPUTS {
            return Err("too many inputs");
        }
        let activation = u8_at(r, 3);
        if activation > 1 {
            return Err("unknown fused activation");
        }
        let inputs = core::array::from_fn(|i| u32_at(r, 4 + 4 * i));
        if inputs[usize::from(n_inputs)..].iter().any(|&t| t != NONE) {
            return Err("unused input slots must be NONE");
        }
        let output = u32_at(r, 20);
        let params = core::array::from_fn(|i| u32_at(r, 24 + 4 * i));
        Ok(OpRecord {
            kind,
            format,
            activation,
            n_inputs,
            inputs,
            output,
            params,
        })
    }

    /// The used input indices.
    pub fn inputs(&self) -> &[u32] {
        &self.inputs[..usize::from(self.n_inputs).min(MAX_INPUTS)]
    }

    /// Encodes the record (writer side).
    pub fn encode(&self) -> [u8; OP_RECORD_LEN] {
        let mut r = [0u8; OP_RECORD_LEN];
        r[0] = self.kind.code();
        r[1] = match self.format {
            OpFormat::F32 => 0,
            OpFormat::W8A32 => 1,
            OpFormat::W8A8 => 2,
        };
        r[2] = self.n_inputs;
        r[3] = self.activation;
        for (i, t) in self.inputs.iter().enumerate() {
            r[4 + 4 * i..8 + 4 * i].copy_from_slice(&t.to_le_bytes());
        }
        r[20..24].copy_from_slice(&self.output.to_le_bytes());
        for (i, p) in self.params.iter().enumerate() {
            r[24 + 4 * i..28 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sampler's unchecked `read` gives what the validating `decode` gives for every
    /// record `decode` accepts.
    #[test]
    fn read_equals_decode_on_valid_records() {
        let tensor = |dtype, storage, shape: &[u32], (scale, zero_point)| {
            let mut dims = [1; 4];
            dims[..shape.len()].copy_from_slice(shape);
            TensorInfo {
                dtype,
                storage,
                rank: shape.len() as u8,
                dims,
                offset: 64,
                numel: shape.iter().product(),
                scale,
                zero_point,
            }
        };
        let int8 = tensor(DType::I8, Storage::Arena, &[16, 28, 28], (0.0123, -7));
        let weights = tensor(DType::F32, Storage::Const, &[128, 16], (0.0, 0));
        let noise = tensor(DType::F32, Storage::Arena, &[16], (0.0, 0));
        for t in [int8, weights, noise] {
            let r = t.encode();
            assert_eq!(TensorInfo::decode(&r), Ok(t));
            assert_eq!(TensorInfo::read(&r), t);
        }
        let mut bad = int8.encode();
        bad[1] = 5;
        assert_eq!(TensorInfo::decode(&bad), Err("rank must be 1 to 4"));
        // a short record reads as zeros past its end
        assert_eq!(
            TensorInfo::decode(&int8.encode()[..2]),
            Err("zero dimension")
        );
    }
}
