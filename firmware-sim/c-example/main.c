/*
 * edgegan C example: samples the .egm model embedded at build time (model.S) through
 * the C API and streams the results to the host over semihosting, for
 * `firmware-sim run --c`, which checks them bit for bit against the host runtime.
 *
 * The samples come from CONFIG (written by firmware-sim, included by the Makefile):
 *   ARENA_BYTES, OUTPUT_LEN        from the model header (static buffers)
 *   MASK_C, MASK_H, MASK_W, MASK_LEN   the mask shape (0 unless inpainting)
 *   PAIR_COUNT, PAIRS_INIT         { seed, label (0xffffffff: none) or mask kind, mask seed }
 *   PICTURE_INIT                   the picture the test masks apply to (inpainting)
 *
 * Output, one line each (the Rust firmware's protocol):
 *   EGM <arena bytes> <output len> <sample count>
 *   CAL <instructions> <timer ticks>
 *   S <index> <timer ticks> <hex f32 bits>...     only egm_sample* is timed
 *   STACK <bytes>
 *   DONE
 * An error prints `ERR ...` and ends QEMU with failure.
 */
#include <stdint.h>

#include "board.h"
#include "edgegan.h"

extern const uint8_t egm_model_bytes[], egm_model_end[];

static egm_model model;
static egm_sampler sampler;
static uint8_t arena[ARENA_BYTES] __attribute__((aligned(16)));
static float out[OUTPUT_LEN];

struct pair {
    uint64_t seed;
    uint32_t code;
    uint64_t mask_seed;
};
static const struct pair pairs[PAIR_COUNT] = PAIRS_INIT;

#if MASK_LEN > 0
static const float picture[MASK_LEN] = PICTURE_INIT;
static float mask[MASK_LEN], masked[MASK_LEN];
#endif

/* ---- a line buffer: one host call per 256 bytes, no printf ---- */

static char line[256];
static size_t line_len;

static void flush(void) {
    board_write(line, line_len);
    line_len = 0;
}

static void put_char(char c) {
    if (line_len == sizeof line) {
        flush();
    }
    line[line_len++] = c;
}

static void put_str(const char *s) {
    while (*s) {
        put_char(*s++);
    }
}

static void put_dec(uint64_t v) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        put_char(digits[--n]);
    }
}

static void put_hex(uint32_t v) {
    for (int shift = 28; shift >= 0; shift -= 4) {
        put_char("0123456789abcdef"[(v >> shift) & 0xf]);
    }
}

static int fail(const char *what, egm_status status) {
    put_str("ERR ");
    put_str(what);
    put_str(": ");
    put_str(egm_strerror(status));
    put_char('\n');
    flush();
    return 1;
}

int main(void) {
    board_timer_start();
    uint32_t cal_instructions;
    uint32_t cal_ticks = board_calibrate(&cal_instructions);

    egm_status status =
        egm_model_init(&model, egm_model_bytes, (size_t)(egm_model_end - egm_model_bytes));
    if (status != EGM_OK) {
        return fail("egm_model_init", status);
    }
    status = egm_sampler_init(&sampler, &model, arena, sizeof arena);
    if (status != EGM_OK) {
        return fail("egm_sampler_init", status);
    }

    put_str("EGM ");
    put_dec(ARENA_BYTES);
    put_char(' ');
    put_dec(OUTPUT_LEN);
    put_char(' ');
    put_dec(PAIR_COUNT);
    put_str("\nCAL ");
    put_dec(cal_instructions);
    put_char(' ');
    put_dec(cal_ticks);
    put_char('\n');

    for (uint32_t i = 0; i < PAIR_COUNT; i++) {
        const struct pair *p = &pairs[i];
        uint32_t t0;
#if MASK_LEN > 0
        status = egm_test_mask(p->code, p->mask_seed, MASK_C, MASK_H, MASK_W, picture, mask,
                               masked, MASK_LEN);
        if (status != EGM_OK) {
            return fail("egm_test_mask", status);
        }
        t0 = board_timer_now();
        status = egm_sample_inpaint(&sampler, p->seed, mask, masked, MASK_LEN, out, OUTPUT_LEN);
#else
        int32_t label = p->code == 0xffffffffu ? EGM_NO_LABEL : (int32_t)p->code;
        t0 = board_timer_now();
        status = egm_sample(&sampler, p->seed, label, out, OUTPUT_LEN);
#endif
        uint32_t ticks = t0 - board_timer_now();
        if (status != EGM_OK) {
            return fail("egm_sample", status);
        }
        put_str("S ");
        put_dec(i);
        put_char(' ');
        put_dec(ticks);
        for (uint32_t j = 0; j < OUTPUT_LEN; j++) {
            union {
                float f;
                uint32_t bits;
            } v = {out[j]};
            put_char(' ');
            put_hex(v.bits);
        }
        put_char('\n');
    }
    put_str("STACK ");
    put_dec(board_stack_used());
    put_str("\nDONE\n");
    flush();
    return 0;
}
