//! edgegan firmware: samples the `.egm` model embedded at build time on a Cortex-M4F and
//! streams the results over semihosting, for `firmware-sim run`.
//!
//! Protocol (one line each, written to the host's stdout):
//!
//! ```text
//! EGM <arena bytes> <output len> <sample count>
//! CAL <instructions> <timer ticks>        a 2-instruction loop, to convert ticks
//! S <index> <timer ticks> <hex f32 bits>...   one per sample
//! STACK <bytes>                           stack high-water mark (painted stack)
//! DONE
//! ```
//!
//! Mask-conditioned models draw each sample's mask from its `(kind, mask seed)` with
//! `maskgen` (the host's own source file, so the masks are the host's) over the picture
//! embedded at build time; only `Sampler::sample` is timed.
//!
//! Any error, panic, fault or unexpected interrupt ends QEMU with `EXIT_FAILURE` (never a
//! hang; a loop that never ends is caught by the host's timeout). Cost is measured
//! with the MPS2 board's CMSDK timer 0, which QEMU drives from its virtual clock: under
//! `-icount shift=0` that clock advances 1 ns per instruction, so the tick count is a
//! deterministic instruction count (the DWT cycle counter is not modelled by QEMU).
#![no_std]
#![no_main]

use core::arch::asm;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
use edgegan_runtime::{Arena, Condition, DeviceModel, Sampler};

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
// The host's mask generator, compiled here from the same file (see its docs).
#[path = "../../src/maskgen.rs"]
#[allow(dead_code)] // the host uses all of it; the firmware only `fill`
mod maskgen;

use config::{ARENA_BYTES, MASK_DIMS, MASK_LEN, OUTPUT_LEN, PAIRS, PICTURE};

static MODEL: &[u8] = edgegan_runtime::include_model!(concat!(env!("OUT_DIR"), "/model.egm"));

static mut ARENA: Arena<ARENA_BYTES> = Arena::new();
static mut OUT: [f32; OUTPUT_LEN] = [0.0; OUTPUT_LEN];
// Zero-sized unless the model is mask-conditioned.
static mut MASK: [f32; MASK_LEN] = [0.0; MASK_LEN];
static mut MASKED: [f32; MASK_LEN] = [0.0; MASK_LEN];

/// Written over the free stack at boot; the first word that changed marks the high water.
const PAINT: u32 = 0xC0DE_5EED;
/// Bytes left unpainted below the stack pointer while painting (the painter's own frame).
const PAINT_GUARD: usize = 64;

// CMSDK APB timer 0 of the MPS2 board (a 32-bit down counter on the 25 MHz system clock).
const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;

unsafe extern "C" {
    // cortex-m-rt's linker script: end of the statics, and the initial stack pointer.
    static __sheap: u32;
    static _stack_start: u32;
}

#[entry]
fn main() -> ! {
    paint_stack();
    let ok = run();
    if ok {
        let mut w = Writer::new();
        w.str("STACK ");
        w.dec(stack_used() as u64);
        w.str("\nDONE\n");
        w.flush();
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::bkpt();
    }
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
        let condition = if MASK_LEN > 0 {
            let [c, h, w] = MASK_DIMS;
            maskgen::fill(code, mask_seed, c, h, w, &PICTURE, mask, masked);
            Condition::Mask {
                mask: &mask[..],
                masked: &masked[..],
            }
        } else if code == u32::MAX {
            Condition::None
        } else {
            Condition::Label(code)
        };
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

fn timer_start() {
    // SAFETY: MMIO registers of the board's timer 0, which nothing else uses.
    unsafe {
        TIMER0_CTRL.write_volatile(0);
        TIMER0_RELOAD.write_volatile(u32::MAX);
        TIMER0_VALUE.write_volatile(u32::MAX);
        TIMER0_CTRL.write_volatile(1);
    }
}

fn timer_now() -> u32 {
    // SAFETY: as in `timer_start`.
    unsafe { TIMER0_VALUE.read_volatile() }
}

/// Times a loop of known length (`subs` + `bne` per turn) so the host can convert timer
/// ticks to instructions without trusting the board's clock constants.
#[inline(never)]
fn calibrate() -> (u64, u32) {
    const TURNS: u32 = 500_000;
    let t0 = timer_now();
    // SAFETY: a register-only countdown loop.
    unsafe {
        asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) TURNS => _,
            options(nomem, nostack),
        );
    }
    let ticks = t0.wrapping_sub(timer_now());
    (2 * u64::from(TURNS), ticks)
}

fn stack_bounds() -> (usize, usize) {
    // Only the symbols' addresses are used.
    (
        (&raw const __sheap) as usize,
        (&raw const _stack_start) as usize,
    )
}

#[inline(never)]
fn paint_stack() {
    let (low, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (low + 3) & !3;
    while p + PAINT_GUARD < sp {
        // SAFETY: [low, sp - guard) is free RAM between the statics and the live stack.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

fn stack_used() -> usize {
    let (low, top) = stack_bounds();
    let mut p = (low + 3) & !3;
    // SAFETY: reads of RAM between the statics and the stack top.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

/// A line buffer over semihosting (one host call per flush, no `core::fmt`).
struct Writer {
    buf: [u8; 256],
    len: usize,
}

impl Writer {
    fn new() -> Self {
        Writer {
            buf: [0; 256],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.byte(b);
        }
    }

    fn dec(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &d in digits[..n].iter().rev() {
            self.byte(d);
        }
    }

    fn hex(&mut self, v: u32) {
        for shift in (0..8).rev() {
            let nibble = ((v >> (shift * 4)) & 0xF) as u8;
            self.byte(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    fn flush(&mut self) {
        if self.len > 0 {
            if let Ok(mut out) = hio::hstdout() {
                let _ = out.write_all(&self.buf[..self.len]);
            }
            self.len = 0;
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR panic\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

// Nothing enables an interrupt; if one fires anyway, fail rather than spin in the
// runtime's default handler (a loop that would only end at the host's timeout).
#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR unexpected interrupt\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR hard fault\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
