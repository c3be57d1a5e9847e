/* test_ckpt.c -- checkpoints: round trip, and every kind of bad file refused with a
 * clear message while the model stays untouched; a failed save keeps the old file. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
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

/* No cap on the registry reaches the file: 100 parameters with Adam state (300
 * records; the loader once kept them in a fixed array of 96), and names of 90 and 3000
 * bytes (records once held at most 80), round-trip exactly. */
static void many_and_long_names(void **state)
{
    (void)state;
    static char longname[3001];
    memset(longname, 'n', 3000);
    nn_params a, b;
    nn_optim oa, ob;
    for (int pass = 0; pass < 2; pass++) {
        nn_params *ps = pass ? &b : &a;
        nn_params_init(ps);
        ag_rng r;
        ag_rng_seed(&r, 1 + (uint64_t)pass);
        for (int i = 0; i < 100; i++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.weight", i);
            ag_tensor *p = nn_params_new(ps, i == 7 ? "a_prefix_of_ninety_bytes_made_long_on_purpose_so_the_name_passes_eighty." : "",
                                         i == 9 ? longname : name, 1, (int[]){3});
            assert_non_null(p);
            ag_fill_uniform(p, &r, -1, 1);
        }
    }
    assert_int_equal(nn_adam_init(&oa, &a, 0.01, 0.9, 0.99, 1e-7, 0), NN_OK);
    for (int i = 0; i < a.n; i++) ag_fill(a.p[i], (ag_float)0.25);
    for (int i = 0; i < a.n; i++) a.p[i]->grad[1] = (ag_float)i;
    nn_optim_step(&oa);
    char err[512];
    assert_int_equal(nn_ckpt_save(path, "", &a, &oa, err, sizeof err), NN_OK);
    assert_int_equal(nn_adam_init(&ob, &b, 0.5, 0.5, 0.5, 1, 0), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    assert_int_equal(nn_ckpt_load(c, &b, &ob, err, sizeof err), NN_OK);
    nn_ckpt_close(c);
    assert_true(same_values(&a, &b));
    assert_int_equal(memcmp(oa.state, ob.state, (size_t)oa.state_len * sizeof(ag_float)), 0);
    nn_optim_free(&oa);
    nn_optim_free(&ob);
    nn_params_free(&a);
    nn_params_free(&b);
}

/* The meta number readers take a value only when all of it is the number, in range. */
static void meta_numbers(void **state)
{
    (void)state;
    const char *meta = "a=42\nneg=-7\nbig=18446744073709551615\nsp= 5\nplus=+5\nx=1.5e3\ntail=12abc\n"
                       "inf=inf\nempty=\nhuge=99999999999999999999999\n";
    long l = 0;
    uint64_t u = 0;
    double d = 0;
    assert_int_equal(nn_meta_long(meta, "a", 0, 100, &l), 1);
    assert_int_equal(l, 42);
    assert_int_equal(nn_meta_long(meta, "a", 0, 41, &l), -1); /* out of range: untouched */
    assert_int_equal(l, 42);
    assert_int_equal(nn_meta_long(meta, "neg", -10, 0, &l), 1);
    assert_int_equal(l, -7);
    assert_int_equal(nn_meta_long(meta, "missing", 0, 1, &l), 0);
    assert_int_equal(nn_meta_long(meta, "sp", 0, 10, &l), -1);
    assert_int_equal(nn_meta_long(meta, "plus", 0, 10, &l), -1);
    assert_int_equal(nn_meta_long(meta, "tail", 0, 100, &l), -1);
    assert_int_equal(nn_meta_long(meta, "empty", 0, 100, &l), -1);
    assert_int_equal(nn_meta_long(meta, "huge", 0, LONG_MAX, &l), -1);
    assert_int_equal(nn_meta_u64(meta, "big", &u), 1);
    assert_true(u == UINT64_MAX);
    assert_int_equal(nn_meta_u64(meta, "neg", &u), -1);
    assert_int_equal(nn_meta_u64(meta, "huge", &u), -1);
    assert_int_equal(nn_meta_double(meta, "x", 0, 1e4, &d), 1);
    assert_true(d == 1500);
    assert_int_equal(nn_meta_double(meta, "x", 0, 1e3, &d), -1);
    assert_int_equal(nn_meta_double(meta, "inf", -1e308, 1e308, &d), -1);
    assert_int_equal(nn_meta_double(meta, "sp", 0, 10, &d), -1);
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


/* ---- issue 13 ---- */

/* Files that are not regular files are refused at once, whatever their kind; a FIFO
 * would block a plain open until a writer came (the alarm turns a hang into a failure). */
static void special_files(void **state)
{
    (void)state;
    char fifo[160], err[512];
    snprintf(fifo, sizeof fifo, "%s/pipe.ckpt", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    assert_int_equal(try_open(fifo, err, sizeof err), NN_EIO);
    alarm(0);
    printf("  %s\n", err);
    assert_non_null(strstr(err, "pipe.ckpt: not a regular file (a FIFO)"));
    assert_int_equal(try_open("/dev/zero", err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "not a regular file (a character device)"));
    assert_int_equal(try_open(dir, err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "not a regular file (a directory)"));
    /* a FIFO where the temporary file goes: replaced by a new file, the save completes */
    nn_params a;
    make_model(&a, 1, 2);
    char target[160], tmp[170];
    snprintf(target, sizeof target, "%s/saved.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", target);
    assert_int_equal(mkfifo(tmp, 0600), 0);
    alarm(10);
    assert_int_equal(nn_ckpt_save(target, "k=v\n", &a, NULL, err, sizeof err), NN_OK);
    alarm(0);
    assert_int_equal(try_open(target, err, sizeof err), NN_OK);
    nn_params_free(&a);
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A sparse file of `size` bytes starting with `head`. */
static void sparse(const char *p, const void *head, size_t n, off_t size)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(head, 1, n, f), n);
    fclose(f);
    assert_int_equal(truncate(p, size), 0);
}

/* The header is checked before the rest is read: a file of 2^30 bytes with the right
 * magic is refused for its size, and a large one with the wrong magic for its magic,
 * both without reading it (peak memory grows by far less than the file). */
static void big_files(void **state)
{
    (void)state;
    char p[160], err[512];
    snprintf(p, sizeof p, "%s/big.ckpt", dir);
    static const unsigned char good[12] = {'a', 'g', 'c', 'k', 'p', 't', '\n', 0, 1, 0, 0, 0};
    long before = peak_rss_kb();
    sparse(p, good, sizeof good, (off_t)1 << 30);
    assert_int_equal(try_open(p, err, sizeof err), NN_EFORMAT);
    printf("  %s\n", err);
    assert_non_null(strstr(err, "big.ckpt: 1073741824 bytes; a checkpoint is under 1 GiB"));
    sparse(p, "not a checkpoint", 16, ((off_t)1 << 30) - 1);
    assert_int_equal(try_open(p, err, sizeof err), NN_EFORMAT);
    assert_non_null(strstr(err, "not a checkpoint (bad magic at offset 0)"));
    static const unsigned char v2[12] = {'a', 'g', 'c', 'k', 'p', 't', '\n', 0, 2, 0, 0, 0};
    sparse(p, v2, sizeof v2, (off_t)1 << 29);
    assert_int_equal(try_open(p, err, sizeof err), NN_EFORMAT);
    assert_non_null(strstr(err, "version 2, this build reads version 1"));
    long grew = peak_rss_kb() - before;
    printf("  peak memory grew by %ld KiB\n", grew);
    assert_true(grew < 64 * 1024); /* reading any of them would have taken 512 MiB or more */
    remove(p);
}

/* Nothing is cut: a meta text of 1 MB, a path of 600 bytes in every message. */
static void long_meta_and_paths(void **state)
{
    (void)state;
    nn_params a, other;
    make_model(&a, 1, 2);
    size_t mlen = 1 << 20;
    char *meta = malloc(mlen + 1), err[2048], v[16];
    memset(meta, 'x', mlen); /* one line of 1 MB */
    memcpy(meta, "long=", 5);
    meta[mlen - 1] = '\n';
    meta[mlen] = 0;
    char deep[700];
    int k = snprintf(deep, sizeof deep, "%s", dir);
    while (k < 560) {
        k += snprintf(deep + k, sizeof deep - (size_t)k, "/%0100d", k);
        assert_int_equal(mkdir(deep, 0700), 0);
    }
    snprintf(deep + k, sizeof deep - (size_t)k, "/m.ckpt");
    assert_int_equal(nn_ckpt_save(deep, meta, &a, NULL, err, sizeof err), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(deep, &c, err, sizeof err), NN_OK);
    assert_string_equal(nn_ckpt_meta(c), meta);
    size_t len;
    const char *at = nn_meta_find(nn_ckpt_meta(c), "long", &len);
    assert_non_null(at);
    assert_true(len > 100);
    assert_null(nn_meta_get(nn_ckpt_meta(c), "long", v, sizeof v)); /* too long for v: not cut, refused */
    make_model(&other, 1, 3);
    assert_int_equal(nn_ckpt_load(c, &other, NULL, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, deep)); /* the whole path */
    nn_ckpt_close(c);
    nn_params_free(&other);
    nn_params_free(&a);
    free(meta);
}

/* ---- Adagrad, RMSprop, AdamW: state and settings round-trip, and the steps after a
 * load are those of a run never interrupted, bit for bit (float state is stored as
 * float, so nothing is rounded on the way) ---- */

static nn_status init_optim(nn_optim *o, nn_params *ps, int which)
{
    switch (which) {
    case 0: return nn_adagrad_init(o, ps, 0.05, 0.01, 0.001, 0.1, 1e-10);
    case 1: return nn_rmsprop_init(o, ps, 0.01, 0.9, 1e-8, 0.01, 0, 0);
    case 2: return nn_rmsprop_init(o, ps, 0.01, 0.8, 1e-6, 0, 0.9, 0);
    case 3: return nn_rmsprop_init(o, ps, 0.01, 0.95, 1e-8, 0.001, 0.5, 1);
    case 4: return nn_adamw_init(o, ps, 0.01, 0.8, 0.95, 1e-7, 0.05);
    default: return nn_sgd_init(o, ps, 0.1, 0.9, 0.01);
    }
}

/* Gradients that change with the step and the value. */
static void fake_grads(nn_params *ps, int step)
{
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < ps->p[i]->size; k++)
            ps->p[i]->grad[k] = (ag_float)(sin(step + 0.3 * k + i) + 0.5 * ps->p[i]->data[k]);
}

static void new_optimizers_round_trip(void **state)
{
    (void)state;
    static const char *kinds[] = {"adagrad", "rmsprop", "rmsprop momentum", "rmsprop centered momentum", "adamw"};
    for (int which = 0; which < 5; which++) {
        nn_params a, b, ref;
        make_model(&a, 1, 3);
        make_model(&ref, 1, 3);
        make_model(&b, 9, 3);
        nn_optim oa, oref, ob;
        assert_int_equal(init_optim(&oa, &a, which), NN_OK);
        assert_int_equal(init_optim(&oref, &ref, which), NN_OK);
        for (int s = 0; s < 4; s++) {
            fake_grads(&a, s), nn_optim_step(&oa);
            fake_grads(&ref, s), nn_optim_step(&oref);
        }
        char err[512];
        assert_int_equal(nn_ckpt_save(path, "k=v\n", &a, &oa, err, sizeof err), NN_OK);
        /* b: another model's values, an optimizer of the same kind and options but other
         * numbers; after the load, settings, step and state are a's */
        nn_optim_free(&oa);
        nn_params_free(&a);
        nn_ckpt *c;
        assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
        switch (which) {
        case 0: assert_int_equal(nn_adagrad_init(&ob, &b, 1, 0, 0, 0, 0), NN_OK); break;
        case 1: assert_int_equal(nn_rmsprop_init(&ob, &b, 1, 0.5, 0, 0, 0, 0), NN_OK); break;
        case 2: assert_int_equal(nn_rmsprop_init(&ob, &b, 1, 0.5, 0, 0, 0.1, 0), NN_OK); break;
        case 3: assert_int_equal(nn_rmsprop_init(&ob, &b, 1, 0.5, 0, 0, 0.1, 1), NN_OK); break;
        case 4: assert_int_equal(nn_adamw_init(&ob, &b, 1, 0.5, 0.5, 1, 0), NN_OK); break;
        }
        assert_int_equal(nn_ckpt_load(c, &b, &ob, err, sizeof err), NN_OK);
        nn_ckpt_close(c);
        assert_true(same_values(&b, &ref));
        assert_int_equal(ob.step, 4);
        assert_true(ob.lr == oref.lr && ob.weight_decay == oref.weight_decay && ob.eps == oref.eps &&
                    ob.lr_decay == oref.lr_decay && ob.initial_accumulator_value == oref.initial_accumulator_value &&
                    ob.alpha == oref.alpha && ob.momentum == oref.momentum && ob.centered == oref.centered &&
                    ob.beta1 == oref.beta1 && ob.beta2 == oref.beta2);
        assert_int_equal(ob.state_len, oref.state_len);
        assert_memory_equal(ob.state, oref.state, (size_t)ob.state_len * sizeof(ag_float));
        for (int s = 4; s < 8; s++) { /* carrying on: the same as never stopping */
            fake_grads(&b, s), nn_optim_step(&ob);
            fake_grads(&ref, s), nn_optim_step(&oref);
        }
        assert_true(same_values(&b, &ref));
        assert_memory_equal(ob.state, oref.state, (size_t)ob.state_len * sizeof(ag_float));
        printf("  %-26s 4 steps, saved, loaded, 4 more: identical to 8 uninterrupted\n", kinds[which]);
        nn_optim_free(&ob);
        nn_optim_free(&oref);
        nn_params_free(&b);
        nn_params_free(&ref);
    }
}

/* The file's optimizer must be the one given, with the same state buffers. */
static void new_optimizers_mismatch(void **state)
{
    (void)state;
    nn_params a;
    make_model(&a, 1, 2);
    nn_optim o, other;
    char err[512];
    assert_int_equal(init_optim(&o, &a, 3), NN_OK); /* rmsprop, momentum, centered */
    fake_grads(&a, 0);
    nn_optim_step(&o);
    assert_int_equal(nn_ckpt_save(path, "", &a, &o, err, sizeof err), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    assert_int_equal(init_optim(&other, &a, 1), NN_OK); /* rmsprop, plain */
    assert_int_equal(nn_ckpt_load(c, &a, &other, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "RMSprop with momentum 0.5, centered in the file, momentum 0 in the optimizer"));
    nn_optim_free(&other);
    assert_int_equal(init_optim(&other, &a, 4), NN_OK);
    assert_int_equal(nn_ckpt_load(c, &a, &other, err, sizeof err), NN_EMISMATCH);
    assert_non_null(strstr(err, "holds RMSprop state but the optimizer is AdamW"));
    nn_optim_free(&other);
    nn_ckpt_close(c);
    /* crafted: an unknown optimizer kind, a 'centered' flag of 2 */
    long n;
    unsigned char *buf = slurp(path, &n);
    /* the end: kind, 6 f64, i64 step, 3 f64, u8 centered, u32 crc */
    long at_kind = n - 4 - 1 - 3 * 8 - 8 - 6 * 8 - 1;
    assert_int_equal(buf[at_kind], NN_RMSPROP + 1);
    buf[at_kind] = 6;
    fix_crc(buf, n);
    spit(path, buf, n);
    assert_int_equal(try_open(path, err, sizeof err), NN_EFORMAT);
    assert_non_null(strstr(err, "bad optimizer kind 6 at offset"));
    buf[at_kind] = NN_RMSPROP + 1;
    buf[n - 5] = 2;
    fix_crc(buf, n);
    spit(path, buf, n);
    assert_int_equal(try_open(path, err, sizeof err), NN_EFORMAT);
    assert_non_null(strstr(err, "bad 'centered' flag 2"));
    free(buf);
    nn_optim_free(&o);
    nn_params_free(&a);
}

/* Looking into a file without the model: names, shapes, values, optimizer. */
static void inspect(void **state)
{
    (void)state;
    nn_params a;
    make_model(&a, 1, 4);
    nn_optim o;
    assert_int_equal(init_optim(&o, &a, 0), NN_OK);
    fake_grads(&a, 0);
    nn_optim_step(&o);
    char err[512];
    assert_int_equal(nn_ckpt_save(path, "model=x\n", &a, &o, err, sizeof err), NN_OK);
    nn_ckpt *c;
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    assert_int_equal(nn_ckpt_count(c), 4);
    static const char *names[] = {"fc.weight", "fc.bias", "adagrad.sum.fc.weight", "adagrad.sum.fc.bias"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(nn_ckpt_name(c, i), names[i]);
        assert_int_equal(nn_ckpt_find(c, names[i]), i);
    }
    assert_null(nn_ckpt_name(c, 4));
    assert_null(nn_ckpt_name(c, -1));
    assert_int_equal(nn_ckpt_find(c, "fc"), -1);
    int shape[AG_MAX_RANK];
    assert_int_equal(nn_ckpt_shape(c, 0, shape), 2);
    assert_true(shape[0] == 4 && shape[1] == 3);
    assert_int_equal(nn_ckpt_shape(c, 3, NULL), 1);
    assert_int_equal(nn_ckpt_shape(c, 9, shape), -1);
    assert_int_equal(nn_ckpt_numel(c, 0), 12);
    assert_int_equal(nn_ckpt_numel(c, 4), -1);
    ag_float v[12];
    assert_int_equal(nn_ckpt_values(c, 0, v, 12, err, sizeof err), NN_OK);
    assert_memory_equal(v, a.p[0]->data, sizeof v);
    assert_int_equal(nn_ckpt_values(c, 3, v, 4, err, sizeof err), NN_OK);
    assert_memory_equal(v, o.state + 12, 4 * sizeof(ag_float));
    assert_int_equal(nn_ckpt_values(c, 0, v, 11, err, sizeof err), NN_EARG);
    assert_non_null(strstr(err, "tensor 'fc.weight' has 12 values, not 11"));
    assert_int_equal(nn_ckpt_values(c, 7, v, 1, err, sizeof err), NN_EARG);
    assert_non_null(strstr(err, "no tensor 7 (it holds 4)"));
    nn_optim got;
    assert_int_equal(nn_ckpt_optim(c, &got), 1);
    assert_int_equal(got.kind, NN_ADAGRAD);
    assert_true(got.lr == 0.05 && got.lr_decay == 0.01 && got.weight_decay == 0.001 &&
                got.initial_accumulator_value == 0.1 && got.eps == 1e-10 && got.step == 1);
    assert_null(got.state);
    assert_null(got.params);
    nn_ckpt_close(c);
    /* no optimizer */
    assert_int_equal(nn_ckpt_save(path, "", &a, NULL, err, sizeof err), NN_OK);
    assert_int_equal(nn_ckpt_open(path, &c, err, sizeof err), NN_OK);
    assert_int_equal(nn_ckpt_optim(c, &got), 0);
    assert_int_equal(nn_ckpt_count(c), 2);
    nn_ckpt_close(c);
    nn_optim_free(&o);
    nn_params_free(&a);
}

/* SGD and Adam files are byte for byte what they were before the new optimizers: a
 * file written with the format as it stood (hand-assembled here, no state: SGD
 * without momentum) loads, and saving the same model writes the same bytes. */
static void old_files_unchanged(void **state)
{
    (void)state;
    nn_params a;
    nn_params_init(&a);
    ag_tensor *p = nn_params_new(&a, "", "w", 1, (int[]){2});
    p->data[0] = 1.5f;
    p->data[1] = -2;
    nn_optim o;
    assert_int_equal(nn_sgd_init(&o, &a, 0.25, 0, 0), NN_OK);
    unsigned char want[8 + 4 + 4 + 1 + 4 + 2 + 1 + 1 + 4 + 8 + 1 + 6 * 8 + 8 + 4], *w = want;
    memcpy(w, "agckpt\n\0", 8), w += 8;
    memcpy(w, (unsigned char[]){1, 0, 0, 0, 1, 0, 0, 0, 'm', 1, 0, 0, 0, 1, 0, 'w', 1, 2, 0, 0, 0}, 21), w += 21;
    memcpy(w, (unsigned char[]){0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0}, 8), w += 8; /* 1.5f, -2.0f */
    *w++ = 1;                                                                 /* SGD */
    double settings[6] = {0.25, 0, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        uint64_t u;
        memcpy(&u, &settings[i], 8);
        for (int b = 0; b < 8; b++) *w++ = (unsigned char)(u >> (8 * b));
    }
    memset(w, 0, 8), w += 8; /* step 0 */
    w += 4;
    fix_crc(want, (long)sizeof want);
    char err[512];
    assert_int_equal(nn_ckpt_save(path, "m", &a, &o, err, sizeof err), NN_OK);
    long n;
    unsigned char *got = slurp(path, &n);
    assert_int_equal(n, (long)sizeof want);
    assert_memory_equal(got, want, sizeof want);
    free(got);
    nn_optim_free(&o);
    nn_params_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_with_adam),
        cmocka_unit_test(many_and_long_names),
        cmocka_unit_test(meta_numbers),
        cmocka_unit_test(truncated_at_every_length),
        cmocka_unit_test(corrupted_bytes),
        cmocka_unit_test(crafted_files),
        cmocka_unit_test(mismatched_model_is_untouched),
        cmocka_unit_test(failed_save_keeps_old_file),
        cmocka_unit_test(special_files),
        cmocka_unit_test(big_files),
        cmocka_unit_test(long_meta_and_paths),
        cmocka_unit_test(new_optimizers_round_trip),
        cmocka_unit_test(new_optimizers_mismatch),
        cmocka_unit_test(inspect),
        cmocka_unit_test(old_files_unchanged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
