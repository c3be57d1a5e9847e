/* test_ckpt.c -- checkpoints: round trip, and every kind of bad file refused with a
 * clear message while the model stays untouched; a failed save keeps the old file. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "nn.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_ckpt_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A small model: two parameters, values from a seed. */
static void make_model(nn_params *ps, uint64_t seed, int hidden)
{
    nn_params_init(ps);
    ag_rng r;
    ag_rng_seed(&r, seed);
    ag_tensor *w = nn_params_new(ps, "fc.", "weight", 2, (int[]){hidden, 3});
    ag_tensor *b = nn_params_new(ps, "fc.", "bias", 1, (int[]){hidden});
    assert_non_null(w);
    assert_non_null(b);
    ag_fill_uniform(w, &r, -1, 1);
    ag_fill_uniform(b, &r, -1, 1);
}

static int same_values(const nn_params *a, const nn_params *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->p[i]->size != b->p[i]->size ||
            memcmp(a->p[i]->data, b->p[i]->data, (size_t)a->p[i]->size * sizeof(ag_float)))
            return 0;
    return 1;
}

static unsigned char *slurp(const char *p, long *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)*n);
    assert_int_equal(fread(buf, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return buf;
}

static void spit(const char *p, const unsigned char *buf, long n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* Rewrites the trailing CRC so a crafted file passes the checksum and reaches the
 * structural checks. */
static void fix_crc(unsigned char *buf, long n)
{
    uint32_t c = nn_crc32(0, buf, (size_t)n - 4);
    for (int i = 0; i < 4; i++) buf[n - 4 + i] = (unsigned char)(c >> (8 * i));
}

static nn_status try_open(const char *p, char *err, size_t n)
{
    nn_ckpt *c;
    nn_status s = nn_ckpt_open(p, &c, err, n);
    if (s == NN_OK) nn_ckpt_close(c);
    else assert_null(c);
    return s;
}

static void round_trip_with_adam(void **state)
{
    (void)state;
    nn_params a, b;
    make_model(&a, 1, 4);
    make_model(&b, 2, 4);
    assert_false(same_values(&a, &b));
    nn_optim oa, ob;
    assert_int_equal(nn_adam_init(&oa, &a, 0.01, 0.9, 0.99, 1e-7, 0.001), NN_OK);
    for (int s = 0; s < 3; s++) { /* some state worth saving */
        for (int i = 0; i < a.n; i++) ag_fill(a.p[i], (ag_float)0.5);
        for (int i = 0; i < a.n; i++)
            for (int k = 0; k < a.p[i]->size; k++) a.p[i]->grad[k] = (ag_float)(k % 3) - 1;
        nn_optim_step(&oa);
    }
    char err[512];
    assert_int_equal(nn_ckpt_save(path, "model=test\nhidden=4\n", &a, &oa, err, sizeof err), NN_OK);
    assert_int_equal(nn_adam_init(&ob, &b, 0.5, 0.5, 0.5, 1, 0), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    char v[32];
    assert_string_equal(nn_meta_get(nn_ckpt_meta(c), "hidden", v, sizeof v), "4");
    assert_string_equal(nn_meta_get(nn_ckpt_meta(c), "model", v, sizeof v), "test");
    assert_null(nn_meta_get(nn_ckpt_meta(c), "hid", v, sizeof v));
    assert_int_equal(nn_ckpt_load(c, &b, &ob, err, sizeof err), NN_OK);
    nn_ckpt_close(c);
    assert_true(same_values(&a, &b)); /* float data round-trips exactly */
    assert_int_equal(ob.step, 3);
    assert_true(ob.lr == 0.01 && ob.beta2 == 0.99 && ob.eps == 1e-7 && ob.weight_decay == 0.001);
    assert_int_equal(memcmp(oa.state, ob.state, (size_t)oa.state_len * sizeof(ag_float)), 0);
    /* the file's optimizer state is ignored when no optimizer is asked for */
    nn_params p3;
    make_model(&p3, 3, 4);
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    assert_int_equal(nn_ckpt_load(c, &p3, NULL, err, sizeof err), NN_OK);
    nn_ckpt_close(c);
    assert_true(same_values(&a, &p3));
    nn_optim_free(&oa);
    nn_optim_free(&ob);
    nn_params_free(&a);
    nn_params_free(&b);
    nn_params_free(&p3);
}

/* Every proper prefix of a good file is refused as a bad format, never read. */
static void truncated_at_every_length(void **state)
{
    (void)state;
    nn_params a;
    make_model(&a, 1, 2);
    char err[512], cut[160];
    assert_int_equal(nn_ckpt_save(path, "k=v\n", &a, NULL, err, sizeof err), NN_OK);
    long n;
    unsigned char *buf = slurp(path, &n);
    snprintf(cut, sizeof cut, "%s/cut.ckpt", dir);
    for (long len = 0; len < n; len++) {
        spit(cut, buf, len);
        assert_int_equal(try_open(cut, err, sizeof err), NN_EFORMAT);
        assert_non_null(strstr(err, "cut.ckpt"));
    }
    printf("  every one of %ld prefixes refused; e.g. %s\n", n, err);
    free(buf);
    nn_params_free(&a);
}

/* Every single-byte change is caught (the CRC-32 detects all of them). */
static void corrupted_bytes(void **state)
{
    (void)state;
    nn_params a;
    make_model(&a, 1, 2);
    char err[512], bad[160];
    assert_int_equal(nn_ckpt_save(path, "", &a, NULL, err, sizeof err), NN_OK);
    long n;
    unsigned char *buf = slurp(path, &n);
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    for (long i = 0; i < n; i++) {
        buf[i] ^= 0x10;
        spit(bad, buf, n);
        assert_int_equal(try_open(bad, err, sizeof err), NN_EFORMAT);
        buf[i] ^= 0x10;
    }
    buf[20] ^= 1;
    spit(bad, buf, n);
    try_open(bad, err, sizeof err);
    assert_non_null(strstr(err, "checksum mismatch"));
    free(buf);
    nn_params_free(&a);
}

/* Crafted files with a valid checksum: the structural checks speak. */
static void crafted_files(void **state)
{
    (void)state;
    nn_params a;
    make_model(&a, 1, 2);
    char err[512], bad[160];
    assert_int_equal(nn_ckpt_save(path, "ab", &a, NULL, err, sizeof err), NN_OK);
    long n;
    unsigned char *good = slurp(path, &n), *buf = malloc((size_t)n);
    snprintf(bad, sizeof bad, "%s/crafted.ckpt", dir);
    static const struct { long at; unsigned char v; const char *msg; } cases[] = {
        {0, 'X', "bad magic at offset 0"},
        {8, 2, "version 2, this build reads version 1"},
        {12, 0xff, "meta length"},      /* meta_len low byte */
        {18, 0xff, "record count"},     /* count (after 2 meta bytes) low byte */
        {19, 0xff, "record count"},
        {22, 0, "bad name length"},     /* first record's name length */
        {33, 9, "rank 9"},              /* first record's rank (after the 9 bytes of "fc.weight") */
        {34, 0, "bad shape"},           /* its first dim */
        {24, 0, "NUL in its name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, good, (size_t)n);
        buf[cases[i].at] = cases[i].v;
        fix_crc(buf, n);
        spit(bad, buf, n);
        assert_int_equal(try_open(bad, err, sizeof err), NN_EFORMAT);
        printf("  byte %ld -> %s\n", cases[i].at, err);
        assert_non_null(strstr(err, cases[i].msg));
    }
    /* trailing garbage after a valid body */
    unsigned char *longer = malloc((size_t)n + 3);
    memcpy(longer, good, (size_t)n - 4);
    memset(longer + n - 4, 7, 3);
    fix_crc(longer, n + 3);
    spit(bad, longer, n + 3);
    assert_int_equal(try_open(bad, err, sizeof err), NN_EFORMAT);
    assert_non_null(strstr(err, "unexpected bytes"));
    assert_int_equal(try_open("/nonexistent/x.ckpt", err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(try_open(dir, err, sizeof err), NN_EIO); /* a directory */
    free(longer);
    free(good);
    free(buf);
    nn_params_free(&a);
}

/* A valid file for another model: refused with names or shapes, model untouched. */
static void mismatched_model_is_untouched(void **state)
{
    (void)state;
    nn_params a, other, before;
    make_model(&a, 1, 4);
    char err[512];
    assert_int_equal(nn_ckpt_save(path, "", &a, NULL, err, sizeof err), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);

    make_model(&other, 7, 5); /* same names, other shapes */
    make_model(&before, 7, 5);
    assert_int_equal(nn_ckpt_load(c, &other, NULL, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "'fc.weight' is (4, 3) in the file but (5, 3) in the model"));
    assert_true(same_values(&other, &before));
    nn_params_free(&other);
    nn_params_free(&before);

    nn_params_init(&other); /* a name the file lacks */
    nn_params_new(&other, "", "fc.weight", 2, (int[]){4, 3});
    nn_params_new(&other, "", "fc.scale", 1, (int[]){4});
    assert_int_equal(nn_ckpt_load(c, &other, NULL, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "the model has 'fc.scale' but the file does not"));
    assert_true(other.p[0]->data[0] == 0);
    nn_params_free(&other);

    nn_params_init(&other); /* the file has more than the model */
    nn_params_new(&other, "", "fc.weight", 2, (int[]){4, 3});
    assert_int_equal(nn_ckpt_load(c, &other, NULL, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "the file has 'fc.bias', which the model does not"));
    assert_true(other.p[0]->data[0] == 0);

    nn_optim o; /* optimizer state asked for, none in the file */
    assert_int_equal(nn_sgd_init(&o, &other, 0.1, 0.9, 0), NN_OK);
    nn_params_free(&other);
    make_model(&other, 7, 4);
    nn_optim_free(&o);
    assert_int_equal(nn_sgd_init(&o, &other, 0.1, 0.9, 0), NN_OK);
    assert_int_equal(nn_ckpt_load(c, &other, &o, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "holds no optimizer state but the optimizer is SGD"));
    nn_optim_free(&o);
    nn_params_free(&other);
    nn_ckpt_close(c);
    nn_params_free(&a);
}

/* A save that fails part-way leaves the earlier checkpoint as it was. */
static void failed_save_keeps_old_file(void **state)
{
    (void)state;
    nn_params a, b;
    make_model(&a, 1, 3);
    make_model(&b, 2, 3);
    char err[512], tmp[160];
    assert_int_equal(nn_ckpt_save(path, "v=1\n", &a, NULL, err, sizeof err), NN_OK);
    long n0;
    unsigned char *orig = slurp(path, &n0);
    /* the temporary file cannot be created: a directory sits at its name */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(nn_ckpt_save(path, "v=2\n", &b, NULL, err, sizeof err), NN_EIO);
    printf("  %s\n", err);
    assert_non_null(strstr(err, "model.ckpt.tmp"));
    rmdir(tmp);
    long n1;
    unsigned char *now = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_int_equal(memcmp(orig, now, (size_t)n0), 0);
    /* no directory to write into */
    assert_int_equal(nn_ckpt_save("/nonexistent/dir/m.ckpt", "", &a, NULL, err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "cannot create"));
    /* the rename fails: the target is a directory */
    assert_int_equal(nn_ckpt_save(dir, "", &a, NULL, err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "cannot rename"));
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    assert_int_equal(stat(tmp, &st), -1); /* and the temporary file was removed */
    free(orig);
    free(now);
    nn_params_free(&a);
    nn_params_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_with_adam),
        cmocka_unit_test(truncated_at_every_length),
        cmocka_unit_test(corrupted_bytes),
        cmocka_unit_test(crafted_files),
        cmocka_unit_test(mismatched_model_is_untouched),
        cmocka_unit_test(failed_save_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
