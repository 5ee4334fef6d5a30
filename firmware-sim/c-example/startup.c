/*
 * Reset, vector table, fault handlers and the host link (ARM semihosting) for the C
 * example on QEMU's mps2-an386 (Cortex-M4F). A real board's startup file (CMSIS
 * startup_<device>.c) does the same first steps: copy .data, zero .bss, enable the FPU.
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

/* ---- semihosting: the debugger (here QEMU) performs the call at `bkpt 0xab` ---- */

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

enum { SYS_OPEN = 0x01, SYS_WRITE = 0x05, SYS_EXIT = 0x18 };

void board_write(const char *bytes, size_t len) {
    static int handle = -1;
    if (handle < 0) {
        /* ":tt" opened for writing ("w", mode 4) is the host's stdout */
        const uintptr_t open_args[3] = {(uintptr_t)":tt", 4, 3};
        handle = semihost(SYS_OPEN, open_args);
    }
    const uintptr_t write_args[3] = {(uintptr_t)handle, (uintptr_t)bytes, len};
    semihost(SYS_WRITE, write_args);
}

void board_exit(int success) {
    /* ADP_Stopped_ApplicationExit ends QEMU with 0, ADP_Stopped_RunTimeError with 1 */
    semihost(SYS_EXIT, (const void *)(uintptr_t)(success ? 0x20026 : 0x20023));
    for (;;) {
    }
}

static void fail(const char *line, size_t len) {
    board_write(line, len);
    board_exit(0);
}

/* ---- the instruction counter: CMSDK timer 0, driven by QEMU's virtual clock ---- */

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

void board_timer_start(void) {
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xffffffffu;
    TIMER0_VALUE = 0xffffffffu;
    TIMER0_CTRL = 1;
}

uint32_t board_timer_now(void) { return TIMER0_VALUE; }

/* A loop of known length (subs + bne per turn), so the host converts timer ticks to
 * instructions without trusting the board's clock constants. */
__attribute__((noinline)) uint32_t board_calibrate(uint32_t *instructions) {
    uint32_t turns = 500000;
    *instructions = 2 * turns;
    uint32_t t0 = board_timer_now();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(turns) : : "cc");
    return t0 - board_timer_now();
}

/* ---- stack high-water mark: paint the free stack at boot, find the deepest write ---- */

#define PAINT 0xC0DE5EEDu

__attribute__((noinline)) static void paint_stack(void) {
    uint32_t here;
    for (uint32_t *p = &_ebss; p + 16 < &here; p++) {
        *(volatile uint32_t *)p = PAINT;
    }
}

uint32_t board_stack_used(void) {
    uint32_t *p = &_ebss;
    while (p < &_estack && *(volatile uint32_t *)p == PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

/* ---- reset and exceptions ---- */

void Reset_Handler(void) {
    /* the FPU (CP10, CP11 full access) before any float instruction: the library is
     * built for the hard-float ABI */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb");
    for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    paint_stack();
    board_exit(main() == 0);
}

static void HardFault_Handler(void) {
    static const char line[] = "ERR hard fault\n";
    fail(line, sizeof line - 1);
}

/* nothing enables an interrupt: one that fires anyway fails rather than hangs */
static void Default_Handler(void) {
    static const char line[] = "ERR unexpected interrupt\n";
    fail(line, sizeof line - 1);
}

__attribute__((section(".vector_table"), used)) static void (*const vectors[16 + 32])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler, /* HardFault (and a library panic: `udf` traps here) */
    HardFault_Handler, /* MemManage */
    HardFault_Handler, /* BusFault */
    HardFault_Handler, /* UsageFault */
    [7 ... 16 + 32 - 1] = Default_Handler,
};
