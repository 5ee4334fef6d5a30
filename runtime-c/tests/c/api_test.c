/*
 * The C API from C, on the host: every kind of bad input returns its error code (and
 * never crashes), then good input samples. Run by tests/c_api.rs, which compiles this
 * file with the system `cc` against the host static library and compares the printed
 * samples bit for bit with the Rust runtime.
 *
 *   api_test LABEL_MODEL.egm INPAINT_MODEL.egm
 *
 * Prints `SAMPLE <seed> <label> <hex f32 bits>...`, `U8 <seed> <label> <bytes>...` and
 * `INPAINT <seed> <mask seed> <hex f32 bits>...` lines, then `CHECKS <n> FAILED <m>`;
 * exits 0 only when every check passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgegan.h"

static int checks, failed;

#define EXPECT(expr, want)                                                              \
    do {                                                                                \
        long got_ = (long)(expr);                                                       \
        checks++;                                                                       \
        if (got_ != (long)(want)) {                                                     \
            failed++;                                                                   \
            printf("FAIL line %d: %s gave %ld, expected %s (%ld)\n", __LINE__, #expr,   \
                   got_, #want, (long)(want));                                          \
        }                                                                               \
    } while (0)

/* The model file in 16-byte aligned heap memory (malloc on this host; the library itself
 * never allocates), with one spare byte before the end for the misalignment check. */
static uint8_t *read_model(const char *path, size_t *len, uint8_t **block) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *block = malloc((size_t)n + 32);
    uint8_t *bytes = (uint8_t *)(((uintptr_t)*block + 15) & ~(uintptr_t)15);
    if (fread(bytes, 1, (size_t)n, f) != (size_t)n) {
        printf("FAIL cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return bytes;
}

static void print_floats(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        printf(" %08lx", (unsigned long)bits);
    }
    printf("\n");
}

static void bad_models(const uint8_t *bytes, size_t len) {
    egm_model model;
    memset(&model, 0, sizeof model);

    EXPECT(egm_model_init(NULL, bytes, len), EGM_ERR_NULL);
    EXPECT(egm_model_init(&model, NULL, len), EGM_ERR_NULL);
    EXPECT(egm_model_init(&model, bytes, 10), EGM_ERR_TRUNCATED);

    /* a copy one byte off a 16-byte boundary */
    uint8_t *block = malloc(len + 32);
    uint8_t *aligned = (uint8_t *)(((uintptr_t)block + 15) & ~(uintptr_t)15);
    memcpy(aligned + 1, bytes, len);
    EXPECT(egm_model_init(&model, aligned + 1, len), EGM_ERR_MISALIGNED);

    memcpy(aligned, bytes, len);
    aligned[0] = 'X';
    EXPECT(egm_model_init(&model, aligned, len), EGM_ERR_BAD_MAGIC);
    memcpy(aligned, bytes, len);
    aligned[len - 1] ^= 0x5a; /* a weight byte: only the checksum can tell */
    EXPECT(egm_model_init(&model, aligned, len), EGM_ERR_CHECKSUM);
    memset(aligned, 0xff, len);
    memcpy(aligned, "EGMF", 4);
    EXPECT(egm_model_init(&model, aligned, len) < 0, 1);
    free(block);

    /* a failed init leaves a handle nothing accepts */
    EXPECT(egm_arena_bytes(&model), 0);
    EXPECT(egm_output_len(&model), 0);
    EXPECT(egm_condition_kind(&model), EGM_ERR_BAD_HANDLE);
    uint8_t arena[64];
    egm_sampler sampler;
    EXPECT(egm_sampler_init(&sampler, &model, arena, sizeof arena), EGM_ERR_BAD_HANDLE);
    EXPECT(egm_sample(&sampler, 1, 0, NULL, 0), EGM_ERR_BAD_HANDLE);

    /* queries on NULL */
    EXPECT(egm_arena_bytes(NULL), 0);
    EXPECT(egm_output_len(NULL), 0);
    EXPECT(egm_noise_dim(NULL), 0);
    EXPECT(egm_class_count(NULL), 0);
    EXPECT(egm_mask_len(NULL), 0);
    EXPECT(egm_condition_kind(NULL), EGM_ERR_NULL);
    uint32_t dims[4];
    EXPECT(egm_output_shape(NULL, dims), 0);
}

static void label_model(const uint8_t *bytes, size_t len) {
    static egm_model model;
    static egm_sampler sampler;
    EXPECT(egm_model_init(&model, bytes, len), EGM_OK);
    EXPECT(egm_condition_kind(&model), EGM_CONDITION_LABEL);
    EXPECT(egm_mask_len(&model), 0);
    uint32_t classes = egm_class_count(&model);
    EXPECT(classes > 0, 1);
    size_t n = egm_output_len(&model);
    size_t need = egm_arena_bytes(&model);
    uint32_t dims[4];
    uint32_t rank = egm_output_shape(&model, dims);
    EXPECT(rank >= 1 && rank <= 4, 1);
    EXPECT(egm_output_shape(&model, NULL), 0);
    EXPECT((size_t)dims[0] * dims[1] * dims[2] * dims[3], n);
    EXPECT(egm_noise_dim(&model) > 0, 1);

    _Alignas(16) static uint8_t arena[1 << 20];
    float *out = calloc(n + 1, sizeof(float));
    uint8_t *pixels = calloc(n, 1);

    EXPECT(egm_sampler_init(NULL, &model, arena, need), EGM_ERR_NULL);
    EXPECT(egm_sampler_init(&sampler, NULL, arena, need), EGM_ERR_NULL);
    EXPECT(egm_sampler_init(&sampler, &model, NULL, need), EGM_ERR_NULL);
    EXPECT(egm_sampler_init(&sampler, &model, arena, need - 1), EGM_ERR_ARENA_TOO_SMALL);
    /* an unaligned arena needs up to 3 more bytes */
    EXPECT(egm_sampler_init(&sampler, &model, arena + 1, need), EGM_ERR_ARENA_TOO_SMALL);
    EXPECT(egm_sample(&sampler, 1, 0, out, n), EGM_ERR_BAD_HANDLE);
    EXPECT(egm_sampler_init(&sampler, &model, arena + 1, need + 3), EGM_OK);
    EXPECT(egm_sampler_init(&sampler, &model, arena, need), EGM_OK);

    EXPECT(egm_sample(NULL, 1, 0, out, n), EGM_ERR_NULL);
    EXPECT(egm_sample(&sampler, 1, 0, NULL, n), EGM_ERR_NULL);
    EXPECT(egm_sample(&sampler, 1, 0, out, n - 1), EGM_ERR_OUTPUT_TOO_SMALL);
    EXPECT(egm_sample(&sampler, 1, 0, (float *)((char *)out + 1), n), EGM_ERR_MISALIGNED);
    EXPECT(egm_sample(&sampler, 1, (int32_t)classes, out, n), EGM_ERR_LABEL_OUT_OF_RANGE);
    EXPECT(egm_sample(&sampler, 1, EGM_NO_LABEL, out, n), EGM_ERR_WRONG_CONDITION);
    EXPECT(egm_sample_u8(&sampler, 1, 0, pixels, n - 1), EGM_ERR_OUTPUT_TOO_SMALL);
    EXPECT(egm_sample_u8(&sampler, 1, 0, NULL, n), EGM_ERR_NULL);
    float mask[4] = {1, 1, 1, 1};
    EXPECT(egm_sample_inpaint(&sampler, 1, mask, mask, 4, out, n), EGM_ERR_WRONG_CONDITION);

    for (uint64_t seed = 1000; seed < 1004; seed++) {
        int32_t label = (int32_t)(seed % classes);
        EXPECT(egm_sample(&sampler, seed, label, out, n), EGM_OK);
        printf("SAMPLE %llu %ld", (unsigned long long)seed, (long)label);
        print_floats(out, n);
        EXPECT(egm_sample_u8(&sampler, seed, label, pixels, n), EGM_OK);
        printf("U8 %llu %ld", (unsigned long long)seed, (long)label);
        for (size_t i = 0; i < n; i++) {
            printf(" %u", pixels[i]);
        }
        printf("\n");
    }
    free(out);
    free(pixels);
}

static void inpaint_model(const uint8_t *bytes, size_t len) {
    static egm_model model;
    static egm_sampler sampler;
    EXPECT(egm_model_init(&model, bytes, len), EGM_OK);
    EXPECT(egm_condition_kind(&model), EGM_CONDITION_MASK);
    EXPECT(egm_class_count(&model), 0);
    size_t m = egm_mask_len(&model);
    size_t n = egm_output_len(&model);
    _Alignas(16) static uint8_t arena[1 << 20];
    EXPECT(egm_sampler_init(&sampler, &model, arena, sizeof arena), EGM_OK);

    float *picture = calloc(m, sizeof(float));
    float *mask = calloc(m, sizeof(float));
    float *masked = calloc(m, sizeof(float));
    float *out = calloc(n, sizeof(float));
    for (size_t i = 0; i < m; i++) {
        picture[i] = (float)(i % 17) / 8.0f - 1.0f; /* tests/c_api.rs draws the same */
    }
    /* the model is 1x28x28 */
    EXPECT(egm_test_mask(EGM_MASK_RECT, 1, 1, 28, 27, picture, mask, masked, m),
           EGM_ERR_SHAPE_MISMATCH);
    EXPECT(egm_test_mask(EGM_MASK_RECT, 1, 1, 28, 28, NULL, mask, masked, m), EGM_ERR_NULL);
    EXPECT(egm_test_mask(EGM_MASK_RECT, 1, 1, 28, 28, picture, mask, masked, m), EGM_OK);

    EXPECT(egm_sample(&sampler, 1, 0, out, n), EGM_ERR_WRONG_CONDITION);
    EXPECT(egm_sample(&sampler, 1, EGM_NO_LABEL, out, n), EGM_ERR_WRONG_CONDITION);
    EXPECT(egm_sample_inpaint(&sampler, 1, mask, masked, m - 1, out, n), EGM_ERR_SHAPE_MISMATCH);
    EXPECT(egm_sample_inpaint(&sampler, 1, NULL, masked, m, out, n), EGM_ERR_NULL);
    EXPECT(egm_sample_inpaint(&sampler, 1, mask, NULL, m, out, n), EGM_ERR_NULL);
    EXPECT(egm_sample_inpaint(&sampler, 1, mask, masked, m, out, n - 1),
           EGM_ERR_OUTPUT_TOO_SMALL);

    for (uint64_t seed = 2000; seed < 2003; seed++) {
        uint64_t mask_seed = seed * 7;
        EXPECT(egm_test_mask(EGM_MASK_MIXED, mask_seed, 1, 28, 28, picture, mask, masked, m),
               EGM_OK);
        EXPECT(egm_sample_inpaint(&sampler, seed, mask, masked, m, out, n), EGM_OK);
        printf("INPAINT %llu %llu", (unsigned long long)seed, (unsigned long long)mask_seed);
        print_floats(out, n);
    }
    free(picture);
    free(mask);
    free(masked);
    free(out);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LABEL_MODEL.egm INPAINT_MODEL.egm\n", argv[0]);
        return 2;
    }
    for (int code = 0; code >= -20; code--) {
        const char *s = egm_strerror(code);
        EXPECT(s != NULL && s[0] != '\0', 1);
    }
    EXPECT(strcmp(egm_strerror(EGM_ERR_ARENA_TOO_SMALL), "the arena is too small"), 0);
    EXPECT(strcmp(egm_strerror(12345), "unknown status code"), 0);

    size_t len;
    uint8_t *block;
    const uint8_t *bytes = read_model(argv[1], &len, &block);
    bad_models(bytes, len);
    label_model(bytes, len);
    free(block);
    bytes = read_model(argv[2], &len, &block);
    inpaint_model(bytes, len);
    free(block);

    printf("CHECKS %d FAILED %d\n", checks, failed);
    return failed == 0 ? 0 : 1;
}
