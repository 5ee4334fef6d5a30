//! What both QEMU firmwares on the board share (edgegan's `../firmware` and the
//! burn-onnx peer in `../peer`): the timer that counts instructions, its calibration loop,
//! stack painting for the high-water mark, a semihosting line writer, and the handlers
//! that end QEMU with failure on a panic, a fault or an unexpected interrupt.
//!
//! The handlers are linked in by depending on this crate (cortex-m-rt finds them by
//! symbol name), so a firmware that uses the board gets them without declaring anything.
#![no_std]
#![deny(missing_docs)]

use core::arch::asm;

#[cfg(target_arch = "arm")]
use cortex_m_semihosting as semihosting;
#[cfg(target_arch = "riscv32")]
use riscv_semihosting as semihosting;
use semihosting::{debug, hio};

/// Written over the free stack at boot; the first word that changed marks the high water.
const PAINT: u32 = 0xC0DE_5EED;
/// Bytes left unpainted below the stack pointer while painting (the painter's own frame).
const PAINT_GUARD: usize = 64;

unsafe extern "C" {
    // cortex-m-rt's (and riscv-rt's) linker script: end of the statics, and the initial
    // stack pointer.
    static __sheap: u32;
    static _stack_start: u32;
}

/// The instruction counter: a timer that QEMU drives from its virtual clock, which under
/// `-icount shift=0` advances a fixed time per instruction ([`calibrate`] measures how
/// many instructions a tick is).
#[cfg(all(target_arch = "arm", not(feature = "microbit")))]
mod timer {
    // CMSDK APB timer 0 of the MPS2 boards (a 32-bit down counter on the system clock).
    // On the AN505 the firmware runs in the secure state it boots in and the timer is a
    // secure peripheral after reset, so it is reached through the secure alias.
    #[cfg(not(feature = "an505"))]
    const TIMER0: usize = 0x4000_0000;
    #[cfg(feature = "an505")]
    const TIMER0: usize = 0x5000_0000;
    const CTRL: *mut u32 = TIMER0 as *mut u32;
    const VALUE: *mut u32 = (TIMER0 + 4) as *mut u32;
    const RELOAD: *mut u32 = (TIMER0 + 8) as *mut u32;

    pub(crate) fn start() {
        // SAFETY: MMIO registers of the board's timer 0, which nothing else uses.
        unsafe {
            CTRL.write_volatile(0);
            RELOAD.write_volatile(u32::MAX);
            VALUE.write_volatile(u32::MAX);
            CTRL.write_volatile(1);
        }
    }

    pub(crate) fn now() -> u32 {
        // SAFETY: as in `start`.
        unsafe { VALUE.read_volatile() }
    }
}

/// QEMU virt's CLINT `mtime` (RISC-V): a 64-bit up counter at 10 MHz; the low word is
/// enough for one sample.
#[cfg(target_arch = "riscv32")]
mod timer {
    const MTIME: *const u32 = 0x0200_BFF8 as *const u32;

    pub(crate) fn start() {}

    /// Negated, so that it counts down like the MPS2 timer: elapsed = `t0 - now`.
    pub(crate) fn now() -> u32 {
        // SAFETY: the CLINT's read-only view of the machine timer.
        unsafe { MTIME.read_volatile() }.wrapping_neg()
    }
}

/// The micro:bit's nRF51 TIMER0: a 32-bit up counter at 16 MHz, read by a capture task.
#[cfg(feature = "microbit")]
mod timer {
    const TIMER0: usize = 0x4000_8000;
    const TASKS_START: *mut u32 = TIMER0 as *mut u32;
    const TASKS_CLEAR: *mut u32 = (TIMER0 + 0x00C) as *mut u32;
    const TASKS_CAPTURE0: *mut u32 = (TIMER0 + 0x040) as *mut u32;
    const MODE: *mut u32 = (TIMER0 + 0x504) as *mut u32;
    const BITMODE: *mut u32 = (TIMER0 + 0x508) as *mut u32;
    const PRESCALER: *mut u32 = (TIMER0 + 0x510) as *mut u32;
    const CC0: *mut u32 = (TIMER0 + 0x540) as *mut u32;

    pub(crate) fn start() {
        // SAFETY: MMIO registers of the nRF51's TIMER0, which nothing else uses.
        unsafe {
            MODE.write_volatile(0); // timer, not counter
            BITMODE.write_volatile(3); // 32 bits
            PRESCALER.write_volatile(0); // 16 MHz
            TASKS_CLEAR.write_volatile(1);
            TASKS_START.write_volatile(1);
        }
    }

    /// Negated, so that it counts down like the MPS2 timer: elapsed = `t0 - now`.
    pub(crate) fn now() -> u32 {
        // SAFETY: as in `start`; the capture task copies the counter into CC[0].
        unsafe {
            TASKS_CAPTURE0.write_volatile(1);
            CC0.read_volatile().wrapping_neg()
        }
    }
}

/// Starts the instruction counter ([`calibrate`] measures instructions per tick).
pub fn timer_start() {
    timer::start();
}

/// The counter's current value; it counts down, so elapsed ticks are `t0 - now`
/// (wrapping).
pub fn timer_now() -> u32 {
    timer::now()
}

/// Times a loop of known length (two instructions per turn: decrement, branch) so the
/// host can convert timer ticks to instructions without trusting the board's clock
/// constants.
#[inline(never)]
pub fn calibrate() -> (u64, u32) {
    const TURNS: u32 = 500_000;
    let t0 = timer_now();
    // SAFETY: a register-only countdown loop.
    #[cfg(target_arch = "arm")]
    unsafe {
        asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) TURNS => _,
            options(nomem, nostack),
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "riscv32")]
    unsafe {
        asm!(
            "2:",
            "addi {n}, {n}, -1",
            "bnez {n}, 2b",
            n = inout(reg) TURNS => _,
            options(nomem, nostack),
        );
    }
    let ticks = t0.wrapping_sub(timer_now());
    (2 * u64::from(TURNS), ticks)
}

/// `(lowest, highest)` address of the stack: from the end of the statics to the initial
/// stack pointer.
pub fn stack_bounds() -> (usize, usize) {
    // Only the symbols' addresses are used.
    (
        (&raw const __sheap) as usize,
        (&raw const _stack_start) as usize,
    )
}

/// Fills the free stack with a pattern, first thing at boot, so that [`stack_used`] can
/// find the deepest word ever written.
#[inline(never)]
pub fn paint_stack() {
    let (low, _) = stack_bounds();
    let sp = stack_pointer();
    let mut p = (low + 3) & !3;
    while p + PAINT_GUARD < sp {
        // SAFETY: [low, sp - guard) is free RAM between the statics and the live stack.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

#[cfg(target_arch = "arm")]
fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

#[cfg(target_arch = "riscv32")]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register.
    unsafe { asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

/// The stack high-water mark in bytes since [`paint_stack`].
pub fn stack_used() -> usize {
    let (low, top) = stack_bounds();
    let mut p = (low + 3) & !3;
    // SAFETY: reads of RAM between the statics and the stack top.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

/// A line buffer over semihosting (one host call per flush, no `core::fmt`).
pub struct Writer {
    buf: [u8; 256],
    len: usize,
}

/// `10^19, 10^18, …, 1`: the place values of a `u64` in decimal.
const POW10: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 19;
    while i > 0 {
        p[i - 1] = p[i] * 10;
        i -= 1;
    }
    p
};

impl Writer {
    /// An empty line buffer.
    pub fn new() -> Self {
        Writer {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends one byte (flushing first when the buffer is full).
    pub fn byte(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// Appends a string.
    pub fn str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.byte(b);
        }
    }

    /// Appends `v` in decimal, each digit by subtracting its power of ten (a 64-bit
    /// division would link 0.9 KB of compiler-builtins into the firmware for this alone).
    pub fn dec(&mut self, mut v: u64) {
        let mut started = false;
        for (i, &p) in POW10.iter().enumerate() {
            let mut d = 0u8;
            while v >= p {
                v -= p;
                d += 1;
            }
            started |= d != 0 || i + 1 == POW10.len();
            if started {
                self.byte(b'0' + d);
            }
        }
    }

    /// Appends `v` as eight lower-case hex digits (f32 bits travel this way, exactly).
    pub fn hex(&mut self, v: u32) {
        for shift in (0..8).rev() {
            let nibble = ((v >> (shift * 4)) & 0xF) as u8;
            self.byte(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    /// Writes the buffer to the host's stdout in one semihosting call.
    pub fn flush(&mut self) {
        if self.len > 0 {
            if let Ok(mut out) = hio::hstdout() {
                let _ = out.write_all(&self.buf[..self.len]);
            }
            self.len = 0;
        }
    }
}

impl Default for Writer {
    fn default() -> Self {
        Self::new()
    }
}

/// Ends QEMU with success or failure (semihosting); never returns.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only without a debugger (semihosting off) does exit return: stop here.
    loop {
        core::hint::spin_loop();
    }
}

/// Writes `line` to the host and ends QEMU with failure.
fn fail(line: &[u8]) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(line);
    }
    exit(false)
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    fail(b"ERR panic\n")
}

// Nothing enables an interrupt; if one fires anyway, fail rather than spin in the
// runtime's default handler (a loop that would only end at the host's timeout).
#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(_irqn: i16) {
    fail(b"ERR unexpected interrupt\n")
}

#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    fail(b"ERR hard fault\n")
}

// riscv-rt's handlers default to a loop; fail instead.
#[cfg(target_arch = "riscv32")]
#[unsafe(export_name = "DefaultHandler")]
fn default_handler() -> ! {
    fail(b"ERR unexpected interrupt\n")
}

#[cfg(target_arch = "riscv32")]
#[unsafe(export_name = "ExceptionHandler")]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    fail(b"ERR exception\n")
}
