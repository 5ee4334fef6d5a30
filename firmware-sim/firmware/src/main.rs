//! edgegan firmware: samples the `.egm` model embedded at build time on a Cortex-M4F and
//! streams the results over semihosting, for `firmware-sim run`.
//!
//! Protocol (one line each, written to the host's stdout):
//!
//! ```text
//! EGM <arena bytes> <output len> <sample count>
//! CAL <instructions> <timer ticks>        a 2-instruction loop, to convert ticks
//! S <index> <timer ticks> <hex f32 bits>...   one per sample
//! OP <index> <timer ticks>                 per op, a second run of the first sample
//! STACK <bytes>                           stack high-water mark (painted stack)
//! DONE
//! ```
//!
//! Mask-conditioned models draw each sample's mask from its `(kind, mask seed)` with
//! `edgegan_runtime::mask` (the code the host draws with, so the masks are the host's) over
//! the picture embedded at build time; only `Sampler::sample` is timed. The first sample is
//! then made once more with `Sampler::sample_observed`, which reads the timer before each op
//! (the `OP` lines: which op costs what; the printing between two reads is not counted).
//!
//! Any error, panic, fault or unexpected interrupt ends QEMU with `EXIT_FAILURE` (never a
//! hang; a loop that never ends is caught by the host's timeout). Cost is measured
//! with the MPS2 board's CMSDK timer 0, which QEMU drives from its virtual clock: under
//! `-icount shift=0` that clock advances 1 ns per instruction, so the tick count is a
//! deterministic instruction count (the DWT cycle counter is not modelled by QEMU).
#![no_std]
#![no_main]

use edgegan_runtime::{Arena, Condition, DeviceModel, Sampler};

// Timer, calibration, stack painting, writer and failure handlers (shared with ../peer).
use edgegan_board::{Writer, calibrate, exit, paint_stack, stack_used, timer_now, timer_start};

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

use config::{ARENA_BYTES, MASK_DIMS, MASK_LEN, OUTPUT_LEN, PAIRS, PICTURE};

static MODEL: &[u8] = edgegan_runtime::include_model!(concat!(env!("OUT_DIR"), "/model.egm"));

static mut ARENA: Arena<ARENA_BYTES> = Arena::new();
static mut OUT: [f32; OUTPUT_LEN] = [0.0; OUTPUT_LEN];
// Zero-sized unless the model is mask-conditioned.
static mut MASK: [f32; MASK_LEN] = [0.0; MASK_LEN];
static mut MASKED: [f32; MASK_LEN] = [0.0; MASK_LEN];

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    paint_stack();
    let ok = run();
    if ok {
        report_stack();
    }
    exit(ok)
}

/// Prints the stack high-water mark. (A function of its own: its writer's buffer would
/// otherwise sit in `main`'s frame, under every sample, and count in the mark.)
#[inline(never)]
fn report_stack() {
    let mut w = Writer::new();
    w.str("STACK ");
    w.dec(stack_used() as u64);
    w.str("\nDONE\n");
    w.flush();
}

#[inline(never)]
fn run() -> bool {
    let mut w = Writer::new();
    timer_start();
    let (cal_instructions, cal_ticks) = calibrate();

    let Ok(model) = DeviceModel::from_bytes(MODEL) else {
        w.str("ERR the embedded model does not load\n");
        w.flush();
        return false;
    };
    // SAFETY: `run` is called once, from `main`, with no interrupts using these statics;
    // so these are the only references to them. (`&mut ARENA` would be a `static mut`
    // reference, which edition 2024 rejects; the raw pointer is the sanctioned way.)
    #[allow(clippy::deref_addrof)]
    let (arena, out, mask, masked) = unsafe {
        (
            &mut *(&raw mut ARENA),
            &mut *(&raw mut OUT),
            &mut *(&raw mut MASK),
            &mut *(&raw mut MASKED),
        )
    };
    let Ok(mut sampler) = Sampler::new(&model, arena.as_mut_slice()) else {
        w.str("ERR arena too small\n");
        w.flush();
        return false;
    };

    w.str("EGM ");
    w.dec(ARENA_BYTES as u64);
    w.str(" ");
    w.dec(OUTPUT_LEN as u64);
    w.str(" ");
    w.dec(PAIRS.len() as u64);
    w.str("\nCAL ");
    w.dec(cal_instructions);
    w.str(" ");
    w.dec(u64::from(cal_ticks));
    w.str("\n");

    for (i, &(seed, code, mask_seed)) in PAIRS.iter().enumerate() {
        let condition = if MASK_LEN != 0 {
            let [c, h, w] = MASK_DIMS;
            // The generator the host draws its masks with (one copy, in the device runtime).
            edgegan_runtime::mask::fill(code, mask_seed, c, h, w, &PICTURE, mask, masked);
            Condition::Mask {
                mask: &mask[..],
                masked: &masked[..],
            }
        } else if code == u32::MAX {
            Condition::None
        } else {
            Condition::Label(code)
        };
        if i == 0 {
            // Per op, on a run of its own: `at_op(k)` comes right before op `k`.
            let mut last = timer_now();
            let mut at_op = |k: usize| {
                let now = timer_now();
                if k > 0 {
                    w.str("OP ");
                    w.dec(k as u64 - 1);
                    w.str(" ");
                    w.dec(u64::from(last.wrapping_sub(now)));
                    w.str("\n");
                }
                last = timer_now();
            };
            if sampler
                .sample_observed(seed, condition, out, &mut at_op)
                .is_err()
            {
                w.str("ERR the profiled sample failed\n");
                w.flush();
                return false;
            }
        }
        let t0 = timer_now();
        let result = sampler.sample(seed, condition, out);
        let ticks = t0.wrapping_sub(timer_now());
        if result.is_err() {
            w.str("ERR sample ");
            w.dec(i as u64);
            w.str(" failed\n");
            w.flush();
            return false;
        }
        w.str("S ");
        w.dec(i as u64);
        w.str(" ");
        w.dec(u64::from(ticks));
        for v in out.iter() {
            w.str(" ");
            w.hex(v.to_bits());
        }
        w.str("\n");
    }
    w.flush();
    true
}
