//! The C API of the edgegan device runtime (`include/edgegan.h`, generated from this file
//! by cbindgen).
//!
//! C firmware links the static library (`libedgegan_runtime_c.a`, built for its target)
//! and calls the runtime through two opaque handles that live in the caller's memory, so
//! the library never allocates:
//!
//! ```c
//! static egm_model model;          /* EGM_MODEL_SIZE bytes */
//! static egm_sampler sampler;      /* EGM_SAMPLER_SIZE bytes */
//! static uint8_t arena[ARENA];     /* egm_arena_bytes(&model) bytes */
//! egm_model_init(&model, egm_bytes, egm_len);
//! egm_sampler_init(&sampler, &model, arena, sizeof arena);
//! egm_sample(&sampler, seed, label, out, out_len);
//! ```
//!
//! Every function checks its arguments (NULL pointers, uninitialised handles, misaligned
//! or short buffers) and returns an `EGM_ERR_*` code instead of crashing; the runtime
//! itself returns typed errors and validates a model completely in `egm_model_init`. What
//! C cannot tell a library, a C caller promises: pointers point at as many elements as
//! the lengths say, the model bytes, the model handle and the arena outlive the sampler
//! that uses them, and buffers do not overlap.
//!
//! A panic never unwinds into C: on a host a panic in an `extern "C"` function aborts;
//! on a device the panic handler below raises the core's undefined-instruction trap, which
//! the firmware's fault handler reports.
#![cfg_attr(target_os = "none", no_std)]
#![deny(missing_docs)]
// The FFI boundary needs `unsafe` (raw pointers from C, exported symbols); each use is
// local to this file and carries a SAFETY comment (the workspace denies it elsewhere).
#![allow(unsafe_code)]
#![allow(non_camel_case_types)] // C type names

use core::mem::{align_of, size_of};

use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Error, Sampler, mask};

/// A status code: `EGM_OK` (0) or a negative `EGM_ERR_*`.
pub type egm_status = i32;

/// Success.
pub const EGM_OK: egm_status = 0;
/// A required pointer is NULL.
pub const EGM_ERR_NULL: egm_status = -1;
/// A handle was not initialised by its `_init` function (or its init failed).
pub const EGM_ERR_BAD_HANDLE: egm_status = -2;
/// A pointer is not aligned for its type, or the model bytes do not start on a 16-byte
/// boundary (place them with `_Alignas(16)` or `.balign 16`).
pub const EGM_ERR_MISALIGNED: egm_status = -3;
/// The bytes are not an `.egm` model (bad magic).
pub const EGM_ERR_BAD_MAGIC: egm_status = -4;
/// The `.egm` format version is not the one this library reads.
pub const EGM_ERR_UNSUPPORTED_VERSION: egm_status = -5;
/// The model bytes end early.
pub const EGM_ERR_TRUNCATED: egm_status = -6;
/// The model's checksum does not match its bytes.
pub const EGM_ERR_CHECKSUM: egm_status = -7;
/// A header field, section, tensor or op of the model is invalid.
pub const EGM_ERR_CORRUPT_MODEL: egm_status = -8;
/// The target is big-endian (models are little-endian and read in place).
pub const EGM_ERR_UNSUPPORTED_TARGET: egm_status = -9;
/// An input (mask, masked object, test picture) has the wrong number of elements.
pub const EGM_ERR_SHAPE_MISMATCH: egm_status = -10;
/// The label is not below the model's class count.
pub const EGM_ERR_LABEL_OUT_OF_RANGE: egm_status = -11;
/// The call does not fit the model's condition (a label for an unconditional model, no
/// label for a label-conditioned one, a label call for an inpainting model, ...).
pub const EGM_ERR_WRONG_CONDITION: egm_status = -12;
/// The arena is smaller than `egm_arena_bytes` (plus alignment padding).
pub const EGM_ERR_ARENA_TOO_SMALL: egm_status = -13;
/// The output buffer is shorter than `egm_output_len`.
pub const EGM_ERR_OUTPUT_TOO_SMALL: egm_status = -14;
/// The runtime found an inconsistency that validation should have rejected (a bug).
pub const EGM_ERR_INTERNAL: egm_status = -15;

/// `label` value for models without a class label.
pub const EGM_NO_LABEL: i32 = -1;

/// `egm_condition_kind`: noise only.
pub const EGM_CONDITION_NONE: i32 = 0;
/// `egm_condition_kind`: a class label below `egm_class_count`.
pub const EGM_CONDITION_LABEL: i32 = 1;
/// `egm_condition_kind`: a mask and a masked object of `egm_mask_len` elements each.
pub const EGM_CONDITION_MASK: i32 = 2;

/// `egm_test_mask` kind: a random rectangle is unknown.
pub const EGM_MASK_RECT: u32 = 0;
/// `egm_test_mask` kind: a random half is unknown.
pub const EGM_MASK_HALF: u32 = 1;
/// `egm_test_mask` kind: a rectangle or a half, each with probability 1/2.
pub const EGM_MASK_MIXED: u32 = 2;
// Literals above, so that cbindgen can write them; they are the runtime's mask kinds.
const _: () = assert!(
    EGM_MASK_RECT == mask::RECT && EGM_MASK_HALF == mask::HALF && EGM_MASK_MIXED == mask::MIXED
);

/// Bytes of an `egm_model` (room for the runtime's parsed model on 64-bit hosts too).
pub const EGM_MODEL_SIZE: usize = 256;
/// Bytes of an `egm_sampler`.
pub const EGM_SAMPLER_SIZE: usize = 32;

/// A validated model: storage for the runtime's parsed header and slices into the model
/// bytes. Place it anywhere (static, stack); initialise it with `egm_model_init`. It does
/// not copy the model: the bytes must stay where they are while it is used.
#[repr(C)]
pub struct egm_model {
    /// Opaque (`EGM_MODEL_SIZE` bytes): only the library reads and writes it.
    pub _opaque: [u64; 32],
}

/// A model bound to an arena, ready to sample. Initialise it with `egm_sampler_init`.
#[repr(C)]
pub struct egm_sampler {
    /// Opaque: only the library reads and writes it.
    pub _opaque: [u64; 4],
}

/// Marks an initialised handle, so a zeroed or garbage handle is refused.
const MODEL_MAGIC: u32 = 0x4547_4d4d; // "EGMM"
const SAMPLER_MAGIC: u32 = 0x4547_4d53; // "EGMS"

/// What an `egm_model` holds.
#[repr(C)]
struct ModelCell {
    magic: u32,
    model: DeviceModel<'static>,
}

/// What an `egm_sampler` holds. The arena is kept as a pointer and length and borrowed
/// only during a call, so no Rust borrow outlives the call that made it.
#[repr(C)]
struct SamplerCell {
    magic: u32,
    model: *const ModelCell,
    arena: *mut u8,
    arena_len: usize,
}

const _: () = assert!(size_of::<egm_model>() == EGM_MODEL_SIZE);
const _: () = assert!(size_of::<egm_sampler>() == EGM_SAMPLER_SIZE);
// The C types must hold the cells: a runtime change that grows `DeviceModel` past the
// handle fails the build here, not at run time.
const _: () = assert!(size_of::<ModelCell>() <= size_of::<egm_model>());
const _: () = assert!(align_of::<ModelCell>() <= align_of::<egm_model>());
const _: () = assert!(size_of::<SamplerCell>() <= size_of::<egm_sampler>());
const _: () = assert!(align_of::<SamplerCell>() <= align_of::<egm_sampler>());

/// The C code of a runtime error.
fn code(e: Error) -> egm_status {
    match e {
        Error::BadMagic => EGM_ERR_BAD_MAGIC,
        Error::UnsupportedVersion { .. } => EGM_ERR_UNSUPPORTED_VERSION,
        Error::Truncated { .. } => EGM_ERR_TRUNCATED,
        Error::Misaligned { .. } => EGM_ERR_MISALIGNED,
        Error::ChecksumMismatch { .. } => EGM_ERR_CHECKSUM,
        Error::BadHeader { .. }
        | Error::BadSection { .. }
        | Error::BadTensor { .. }
        | Error::BadOp { .. } => EGM_ERR_CORRUPT_MODEL,
        Error::BigEndianTarget => EGM_ERR_UNSUPPORTED_TARGET,
        Error::ShapeMismatch { .. } => EGM_ERR_SHAPE_MISMATCH,
        Error::LabelOutOfRange { .. } => EGM_ERR_LABEL_OUT_OF_RANGE,
        Error::WrongCondition { .. } => EGM_ERR_WRONG_CONDITION,
        Error::ArenaTooSmall { .. } => EGM_ERR_ARENA_TOO_SMALL,
        Error::OutputTooSmall { .. } => EGM_ERR_OUTPUT_TOO_SMALL,
        // `Error` is non-exhaustive: a variant added later is still an error, not a crash
        _ => EGM_ERR_INTERNAL,
    }
}

/// `Err` for a NULL or misaligned pointer.
fn check_ptr<T>(ptr: *const T) -> Result<(), egm_status> {
    if ptr.is_null() {
        Err(EGM_ERR_NULL)
    } else if !ptr.is_aligned() {
        Err(EGM_ERR_MISALIGNED)
    } else {
        Ok(())
    }
}

/// A C buffer as a slice: `Err` for NULL, misalignment or an impossible length.
///
/// # Safety
///
/// Unless NULL, `ptr` points at `len` readable `T` that nothing writes during the borrow.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], egm_status> {
    check_ptr(ptr)?;
    if len > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(EGM_ERR_SHAPE_MISMATCH);
    }
    // SAFETY: non-NULL and aligned (checked), `len` elements readable and not written
    // meanwhile (the caller's promise), and the byte length fits `isize` (checked).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// As [`slice`], writable.
///
/// # Safety
///
/// Unless NULL, `ptr` points at `len` writable `T` that nothing else reads or writes
/// during the borrow.
unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], egm_status> {
    // SAFETY: the checks of `slice` (the caller's promise covers them).
    unsafe { slice(ptr.cast_const(), len) }?;
    // SAFETY: as in `slice`, and the memory is writable and not aliased (the caller's
    // promise).
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// The model in an initialised handle.
///
/// # Safety
///
/// Unless NULL, `model` points at an `egm_model` (initialised or not).
unsafe fn model_ref<'a>(model: *const egm_model) -> Result<&'a DeviceModel<'static>, egm_status> {
    let cell = model.cast::<ModelCell>();
    check_ptr(cell)?;
    // SAFETY: `cell` is non-NULL, aligned, and points at EGM_MODEL_SIZE bytes (an
    // `egm_model`, the caller's promise), which hold a `ModelCell` (asserted above). Only
    // the magic is read before it is known to be initialised; any bit pattern is a u32.
    let magic = unsafe { core::ptr::addr_of!((*cell).magic).read() };
    if magic != MODEL_MAGIC {
        return Err(EGM_ERR_BAD_HANDLE);
    }
    // SAFETY: the magic says `egm_model_init` wrote a valid `ModelCell` here.
    Ok(unsafe { &(*cell).model })
}

/// Runs `f` with a `Sampler` for an initialised sampler handle.
///
/// # Safety
///
/// Unless NULL, `sampler` points at an `egm_sampler`; if initialised, its model handle,
/// the model bytes and the arena are still valid and not used by anyone else meanwhile.
unsafe fn with_sampler(
    sampler: *mut egm_sampler,
    f: impl FnOnce(&mut Sampler<'static, '_>) -> Result<(), egm_status>,
) -> egm_status {
    let cell = sampler.cast::<SamplerCell>();
    if let Err(e) = check_ptr(cell.cast_const()) {
        return e;
    }
    // SAFETY: non-NULL, aligned, an `egm_sampler`'s bytes (the caller's promise); only
    // the magic is read before it is known to be initialised.
    let magic = unsafe { core::ptr::addr_of!((*cell).magic).read() };
    if magic != SAMPLER_MAGIC {
        return EGM_ERR_BAD_HANDLE;
    }
    // SAFETY: the magic says `egm_sampler_init` wrote a valid `SamplerCell`.
    let (model, arena, arena_len) = unsafe { ((*cell).model, (*cell).arena, (*cell).arena_len) };
    let run = || {
        // SAFETY: `egm_sampler_init` checked the model handle; the caller promises it is
        // still valid.
        let model = unsafe { model_ref(model.cast()) }?;
        // SAFETY: `egm_sampler_init` checked the arena pointer and length; the caller
        // promises the arena is still valid and not used elsewhere during this call.
        let arena = unsafe { slice_mut(arena, arena_len) }?;
        let mut s = Sampler::new(model, arena).map_err(code)?;
        f(&mut s)
    };
    run().err().unwrap_or(EGM_OK)
}

/// Validates `len` bytes of an `.egm` model at `bytes` and initialises `model` with it.
///
/// The bytes must start on a 16-byte boundary and stay in place, unchanged, while the
/// model is used (the library reads weights from them in place: flash is fine).
///
/// # Safety
///
/// `model` points at an `egm_model`; `bytes` at `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_model_init(
    model: *mut egm_model,
    bytes: *const u8,
    len: usize,
) -> egm_status {
    let cell = model.cast::<ModelCell>();
    if let Err(e) = check_ptr(cell.cast_const()) {
        return e;
    }
    // SAFETY: the caller's promise; checked for NULL and length.
    let bytes: &'static [u8] = match unsafe { slice(bytes, len) } {
        Ok(b) => b,
        Err(e) => return e,
    };
    // Refuse the handle first, so a failed init never leaves an old model usable.
    // SAFETY: non-NULL, aligned, an `egm_model`'s bytes; writing a u32 into them.
    unsafe { core::ptr::addr_of_mut!((*cell).magic).write(0) };
    match DeviceModel::from_bytes(bytes) {
        Ok(m) => {
            // SAFETY: as above; a `ModelCell` fits an `egm_model` (asserted at build
            // time). The `'static` is the caller's promise that the bytes outlive the
            // handle's use.
            unsafe {
                cell.write(ModelCell {
                    magic: MODEL_MAGIC,
                    model: m,
                });
            }
            EGM_OK
        }
        Err(e) => code(e),
    }
}

/// Bytes of arena one sample needs (size a static buffer with it; add 3 if the buffer is
/// not 4-byte aligned). 0 for NULL or an uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_arena_bytes(model: *const egm_model) -> usize {
    // SAFETY: the caller's promise.
    unsafe { model_ref(model) }.map_or(0, DeviceModel::arena_bytes)
}

/// Elements of one output sample (`float`, or `uint8_t` for `egm_sample_u8`). 0 for NULL
/// or an uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_output_len(model: *const egm_model) -> usize {
    // SAFETY: the caller's promise.
    unsafe { model_ref(model) }.map_or(0, DeviceModel::output_len)
}

/// Writes the shape of one sample (without the batch axis, e.g. 1, 28, 28) into `dims`
/// and returns its rank (1 to 4); unused entries are set to 1. 0 for NULL pointers or an
/// uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`; `dims` is NULL or points at 4 writable
/// `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_output_shape(model: *const egm_model, dims: *mut u32) -> u32 {
    // SAFETY: the caller's promise.
    let Ok(model) = (unsafe { model_ref(model) }) else {
        return 0;
    };
    // SAFETY: the caller's promise (4 elements).
    let Ok(dims) = (unsafe { slice_mut(dims, 4) }) else {
        return 0;
    };
    dims.fill(1);
    let shape = model.output_shape();
    for (d, &s) in dims.iter_mut().zip(shape) {
        *d = s;
    }
    shape.len() as u32
}

/// Length of the noise vector `z` the model draws per sample. 0 for NULL or an
/// uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_noise_dim(model: *const egm_model) -> usize {
    // SAFETY: the caller's promise.
    unsafe { model_ref(model) }.map_or(0, DeviceModel::noise_dim)
}

/// What the model is conditioned on: `EGM_CONDITION_NONE`, `_LABEL` or `_MASK`, or a
/// negative `EGM_ERR_*` for NULL or an uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_condition_kind(model: *const egm_model) -> i32 {
    // SAFETY: the caller's promise.
    match unsafe { model_ref(model) } {
        Ok(m) => match m.condition() {
            ConditionKind::None => EGM_CONDITION_NONE,
            ConditionKind::Label { .. } => EGM_CONDITION_LABEL,
            ConditionKind::Mask { .. } => EGM_CONDITION_MASK,
        },
        Err(e) => e,
    }
}

/// Number of classes of a label-conditioned model (labels are `0 .. count-1`); 0 for
/// other models, NULL or an uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_class_count(model: *const egm_model) -> u32 {
    // SAFETY: the caller's promise.
    match unsafe { model_ref(model) }.map(DeviceModel::condition) {
        Ok(ConditionKind::Label { classes }) => classes,
        _ => 0,
    }
}

/// Elements of the mask and of the masked object of an inpainting model (`C·H·W`); 0 for
/// other models, NULL or an uninitialised handle.
///
/// # Safety
///
/// `model` is NULL or points at an `egm_model`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_mask_len(model: *const egm_model) -> usize {
    // SAFETY: the caller's promise.
    unsafe { model_ref(model) }.map_or(0, |m| m.condition().mask_len())
}

/// Binds an initialised `model` to `arena_len` bytes of scratch memory at `arena`
/// (at least `egm_arena_bytes`, from its first 4-byte aligned byte).
///
/// The sampler keeps pointers to the model handle and the arena: both (and the model
/// bytes) must stay valid while it is used, and the arena must not be used for anything
/// else meanwhile.
///
/// # Safety
///
/// `sampler` points at an `egm_sampler`, `model` at an `egm_model`, `arena` at
/// `arena_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_sampler_init(
    sampler: *mut egm_sampler,
    model: *const egm_model,
    arena: *mut u8,
    arena_len: usize,
) -> egm_status {
    let cell = sampler.cast::<SamplerCell>();
    if let Err(e) = check_ptr(cell.cast_const()) {
        return e;
    }
    // SAFETY: non-NULL, aligned, an `egm_sampler`'s bytes; refuse the handle until the
    // checks below pass.
    unsafe { core::ptr::addr_of_mut!((*cell).magic).write(0) };
    let checked = || -> Result<(), egm_status> {
        // SAFETY: the caller's promise.
        let m = unsafe { model_ref(model) }?;
        // SAFETY: the caller's promise.
        let a = unsafe { slice_mut(arena, arena_len) }?;
        Sampler::new(m, a).map_err(code)?;
        Ok(())
    };
    if let Err(e) = checked() {
        return e;
    }
    // SAFETY: non-NULL, aligned, and a `SamplerCell` fits an `egm_sampler` (asserted).
    unsafe {
        cell.write(SamplerCell {
            magic: SAMPLER_MAGIC,
            model: model.cast(),
            arena,
            arena_len,
        });
    }
    EGM_OK
}

fn label_condition(label: i32) -> Condition<'static> {
    // A negative label means "none"; the runtime refuses it for a label-conditioned model.
    u32::try_from(label).map_or(Condition::None, Condition::Label)
}

/// Generates the sample named by `seed` and `label` (`EGM_NO_LABEL` for an unconditional
/// model) into `out[0 .. egm_output_len)`. The same model, seed and label give the same
/// bits on every target for int8 (w8a8) models.
///
/// # Safety
///
/// `sampler` points at an `egm_sampler`; `out` at `out_len` writable floats that do not
/// overlap the arena.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_sample(
    sampler: *mut egm_sampler,
    seed: u64,
    label: i32,
    out: *mut f32,
    out_len: usize,
) -> egm_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_sampler(sampler, |s| {
            let out = slice_mut(out, out_len)?;
            s.sample(seed, label_condition(label), out).map_err(code)
        })
    }
}

/// As `egm_sample`, with the output mapped from the model's value range to `0..255`
/// pixels (rounded, clamped).
///
/// # Safety
///
/// As `egm_sample`, with `out_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_sample_u8(
    sampler: *mut egm_sampler,
    seed: u64,
    label: i32,
    out: *mut u8,
    out_len: usize,
) -> egm_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_sampler(sampler, |s| {
            let out = slice_mut(out, out_len)?;
            s.sample_u8(seed, label_condition(label), out).map_err(code)
        })
    }
}

/// Inpainting: completes `masked` where `mask` is 0 (1 = known), both `mask_len`
/// (= `egm_mask_len`) floats in `[C, H, W]` order, for noise `seed`, into `out`.
///
/// # Safety
///
/// `sampler` points at an `egm_sampler`; `mask` and `masked` at `mask_len` readable
/// floats each; `out` at `out_len` writable floats that overlap none of them nor the arena.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn egm_sample_inpaint(
    sampler: *mut egm_sampler,
    seed: u64,
    mask: *const f32,
    masked: *const f32,
    mask_len: usize,
    out: *mut f32,
    out_len: usize,
) -> egm_status {
    // SAFETY: the caller's promise.
    unsafe {
        with_sampler(sampler, |s| {
            let mask = slice(mask, mask_len)?;
            let masked = slice(masked, mask_len)?;
            let out = slice_mut(out, out_len)?;
            s.sample(seed, Condition::Mask { mask, masked }, out)
                .map_err(code)
        })
    }
}

/// Draws the seeded test mask firmware-sim uses (`EGM_MASK_RECT`, `_HALF` or `_MIXED`
/// from `mask_seed`, the same bits on every target) for a `channels × height × width`
/// picture: `mask` gets 1 = known, 0 = unknown, `masked` gets `picture · mask`. All three
/// hold `len` = `channels · height · width` floats.
///
/// # Safety
///
/// `picture` points at `len` readable floats; `mask` and `masked` at `len` writable
/// floats each, overlapping nothing.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // a C signature: plain values and buffers
pub unsafe extern "C" fn egm_test_mask(
    kind: u32,
    mask_seed: u64,
    channels: u32,
    height: u32,
    width: u32,
    picture: *const f32,
    mask: *mut f32,
    masked: *mut f32,
    len: usize,
) -> egm_status {
    let run = || -> Result<(), egm_status> {
        let (c, h, w) = (channels as usize, height as usize, width as usize);
        if c.checked_mul(h).and_then(|n| n.checked_mul(w)) != Some(len) {
            return Err(EGM_ERR_SHAPE_MISMATCH);
        }
        // SAFETY: the caller's promise.
        let picture = unsafe { slice(picture, len) }?;
        // SAFETY: the caller's promise.
        let mask = unsafe { slice_mut(mask, len) }?;
        // SAFETY: the caller's promise.
        let masked = unsafe { slice_mut(masked, len) }?;
        mask::fill(kind, mask_seed, c, h, w, picture, mask, masked);
        Ok(())
    };
    run().err().unwrap_or(EGM_OK)
}

/// A static, NUL-terminated English description of a status code (also for unknown
/// codes); never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn egm_strerror(status: egm_status) -> *const core::ffi::c_char {
    let s: &'static core::ffi::CStr = match status {
        EGM_OK => c"ok",
        EGM_ERR_NULL => c"a required pointer is NULL",
        EGM_ERR_BAD_HANDLE => c"the handle is not initialised",
        EGM_ERR_MISALIGNED => {
            c"a pointer is misaligned (model bytes must start on a 16-byte boundary)"
        }
        EGM_ERR_BAD_MAGIC => c"not an .egm model (bad magic)",
        EGM_ERR_UNSUPPORTED_VERSION => c"unsupported .egm format version",
        EGM_ERR_TRUNCATED => c"the model bytes are truncated",
        EGM_ERR_CHECKSUM => c"the model's checksum does not match its bytes",
        EGM_ERR_CORRUPT_MODEL => c"the model is corrupt (bad header, section, tensor or op)",
        EGM_ERR_UNSUPPORTED_TARGET => c"big-endian targets are not supported",
        EGM_ERR_SHAPE_MISMATCH => c"an input has the wrong number of elements",
        EGM_ERR_LABEL_OUT_OF_RANGE => c"the label is not below the model's class count",
        EGM_ERR_WRONG_CONDITION => c"the condition does not fit the model",
        EGM_ERR_ARENA_TOO_SMALL => c"the arena is too small",
        EGM_ERR_OUTPUT_TOO_SMALL => c"the output buffer is too small",
        EGM_ERR_INTERNAL => c"internal error (a runtime bug)",
        _ => c"unknown status code",
    };
    s.as_ptr()
}

// Bare metal has no unwinding: a panic (which the runtime's typed errors make
// unreachable in practice) raises the core's undefined-instruction trap, so the
// firmware's fault handler reports it instead of the library hanging.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        #[cfg(target_arch = "arm")]
        // SAFETY: a permanently undefined instruction; it only traps.
        unsafe {
            core::arch::asm!("udf #0");
        }
        #[cfg(target_arch = "riscv32")]
        // SAFETY: the canonical illegal instruction; it only traps.
        unsafe {
            core::arch::asm!("unimp");
        }
    }
}
