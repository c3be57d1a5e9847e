/* test_nn_train.c -- the training helpers of nn.h: copies of a model's values and
 * gradients, the non-finite scan, learning-rate schedules, files written whole, UTF-8
 * and XML text. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, fmemopen */
#include <math.h>
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

/* Two registries of the same layout: W (3, 70) and b (70). 70 values: past one block
 * of 64, so the scan's tail is covered too. */
static void make(nn_params *ps, ag_float base)
{
    nn_params_init(ps);
    ag_tensor *W = nn_params_new(ps, "", "W", 2, (int[]){3, 70});
    ag_tensor *b = nn_params_new(ps, "", "b", 1, (int[]){70});
    assert_non_null(W);
    assert_non_null(b);
    for (int i = 0; i < W->size; i++) W->data[i] = base + (ag_float)i, W->grad[i] = (ag_float)i;
    for (int i = 0; i < b->size; i++) b->data[i] = -base, b->grad[i] = 1;
}

/* Small integers: every copy and sum is exact. */
static void copies_and_sums(void **state)
{
    (void)state;
    nn_params a, b;
    make(&a, 0);
    make(&b, 100);
    char err[256];
    assert_int_equal(nn_params_copy_data(&a, &b, err, sizeof err), NN_OK);
    assert_true(a.p[0]->data[5] == 105 && a.p[1]->data[69] == -100);
    assert_int_equal(nn_params_add_grads(&a, &b, err, sizeof err), NN_OK);
    assert_true(a.p[0]->grad[209] == 418 && a.p[1]->grad[0] == 2);
    /* a layout that differs: refused, nothing changed */
    nn_params c;
    nn_params_init(&c);
    assert_non_null(nn_params_new(&c, "", "W", 2, (int[]){3, 70}));
    assert_non_null(nn_params_new(&c, "", "b", 1, (int[]){71}));
    assert_int_equal(nn_params_add_grads(&a, &c, err, sizeof err), NN_EMISMATCH);
    assert_string_equal(err, "nn_params_add_grads: parameter 1 ('b') is (70) in one and (71) in the other");
    assert_true(a.p[1]->grad[0] == 2);
    assert_int_equal(nn_params_copy_data(&a, &(nn_params){0}, err, sizeof err), NN_EMISMATCH);
    assert_string_equal(err, "nn_params_copy_data: 2 parameters against 0");
    nn_params_free(&a);
    nn_params_free(&b);
    nn_params_free(&c);
}

static void nonfinite_scan(void **state)
{
    (void)state;
    nn_params a;
    make(&a, 0);
    assert_null(nn_params_first_nonfinite(&a, 0));
    assert_null(nn_params_first_nonfinite(&a, 1));
    a.p[1]->data[67] = NAN; /* in b's tail, past its 64-value block */
    assert_string_equal(nn_params_first_nonfinite(&a, 0), "b");
    assert_null(nn_params_first_nonfinite(&a, 1));
    a.p[0]->grad[130] = -INFINITY; /* inside a block of W */
    assert_string_equal(nn_params_first_nonfinite(&a, 1), "W");
    a.p[0]->data[0] = INFINITY;
    assert_string_equal(nn_params_first_nonfinite(&a, 0), "W"); /* the first one wins */
    nn_params_free(&a);
}

/* The schedules against their formulas (torch.optim.lr_scheduler's). Step and warm-up
 * values are exact in binary (powers of 2, quarters); cosine goes through cos(), so
 * those are compared to 1e-15 relative, a few ulps of double. */
static void schedules(void **state)
{
    (void)state;
    char err[256];
    nn_schedule st = {.kind = NN_SCHED_STEP, .base_lr = 0.1, .step_size = 3, .gamma = 0.5};
    assert_int_equal(nn_schedule_check(&st, err, sizeof err), NN_OK);
    assert_true(nn_schedule_lr(&st, 0) == 0.1 && nn_schedule_lr(&st, 2) == 0.1);
    assert_true(nn_schedule_lr(&st, 3) == 0.05 && nn_schedule_lr(&st, 8) == 0.025);

    nn_schedule co = {.kind = NN_SCHED_COSINE, .base_lr = 1, .total = 100, .min_lr = 0.2};
    assert_true(nn_schedule_lr(&co, 0) == 1);
    assert_true(fabs(nn_schedule_lr(&co, 50) - 0.6) < 1e-15);
    assert_true(fabs(nn_schedule_lr(&co, 25) - (0.2 + 0.8 * (1 + cos(acos(-1.0) / 4)) / 2)) < 1e-15);
    assert_true(nn_schedule_lr(&co, 100) == 0.2 && nn_schedule_lr(&co, 500) == 0.2); /* stays at the floor */

    nn_schedule wu = {.kind = NN_SCHED_CONSTANT, .base_lr = 2, .warmup = 4, .warmup_start = 0.25};
    double want[] = {0.5, 0.875, 1.25, 1.625, 2, 2};
    for (int k = 0; k < 6; k++) assert_true(nn_schedule_lr(&wu, k) == want[k]);

    /* bad settings are refused with a message */
    st.step_size = 0;
    assert_int_equal(nn_schedule_check(&st, err, sizeof err), NN_EARG);
    assert_string_equal(err, "nn_schedule: a step schedule needs step_size >= 1 and a finite gamma > 0");
    co.total = 0;
    assert_int_equal(nn_schedule_check(&co, err, sizeof err), NN_EARG);
    wu.warmup_start = 1.5;
    assert_int_equal(nn_schedule_check(&wu, err, sizeof err), NN_EARG);
    assert_string_equal(err, "nn_schedule: warmup_start must be in [0, 1]");
    wu = (nn_schedule){.kind = NN_SCHED_CONSTANT, .base_lr = NAN};
    assert_int_equal(nn_schedule_check(&wu, err, sizeof err), NN_EARG);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Written whole or not at all: commit makes the file, abort leaves the old one, a
 * failed rename or a missing directory leaves no .tmp, and each failure names the file. */
static void files_whole_or_absent(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_nn_file.XXXXXX", path[128], tmp[140], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    nn_file w;
    assert_int_equal(nn_file_open(&w, path, err, sizeof err), NN_OK);
    fputs("first\n", w.f);
    assert_true(exists(tmp) && !exists(path));
    assert_int_equal(nn_file_commit(&w, err, sizeof err), NN_OK);
    assert_true(exists(path) && !exists(tmp));
    /* abort: the old contents stay */
    assert_int_equal(nn_file_open(&w, path, err, sizeof err), NN_OK);
    fputs("second\n", w.f);
    nn_file_abort(&w);
    nn_file_abort(&w); /* twice is fine */
    FILE *f = fopen(path, "r");
    char line[16] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "first\n");
    assert_false(exists(tmp));
    /* a directory where the file should go: the rename fails, no .tmp is left */
    char sub[140], subtmp[150];
    snprintf(sub, sizeof sub, "%s/d", dir);
    snprintf(subtmp, sizeof subtmp, "%s.tmp", sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(nn_file_open(&w, sub, err, sizeof err), NN_OK);
    assert_int_equal(nn_file_commit(&w, err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "cannot rename the temporary file over it"));
    assert_false(exists(subtmp));
    /* a directory that does not exist */
    snprintf(sub, sizeof sub, "%s/no/such/x.ckpt", dir);
    assert_int_equal(nn_file_open(&w, sub, err, sizeof err), NN_EIO);
    assert_non_null(strstr(err, "no/such/x.ckpt: cannot create"));
    assert_null(w.f);
    assert_int_equal(nn_file_open(&w, "", err, sizeof err), NN_EARG);
    snprintf(sub, sizeof sub, "%s/d", dir);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0); /* empty: nothing else was left behind */
}

/* UTF-8 strictly: each malformed form is refused without moving; encode refuses what
 * is not a code point; XML text escapes markup and replaces what XML cannot hold. */
static void utf8_and_xml(void **state)
{
    (void)state;
    static const struct { const char *s; size_t n; long cp; } cases[] = {
        {"A", 1, 'A'}, {"\xc3\xa9", 2, 0xE9}, {"\xe2\x82\xac", 3, 0x20AC}, {"\xf0\x9f\x98\x80", 4, 0x1F600},
        {"\xc0\x80", 2, -1},          /* overlong NUL */
        {"\xe0\x80\xaf", 3, -1},      /* overlong '/' */
        {"\xed\xa0\x80", 3, -1},      /* a surrogate */
        {"\xf4\x90\x80\x80", 4, -1},  /* past U+10FFFF */
        {"\xe2\x82", 2, -1},          /* cut short */
        {"\x80", 1, -1},              /* a stray continuation byte */
        {"\xff", 1, -1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t i = 0;
        assert_int_equal(nn_utf8_decode(cases[k].s, cases[k].n, &i), cases[k].cp);
        assert_int_equal(i, cases[k].cp < 0 ? 0 : cases[k].n);
        char out[4];
        if (cases[k].cp >= 0) {
            assert_int_equal(nn_utf8_encode((uint32_t)cases[k].cp, out), (int)cases[k].n);
            assert_memory_equal(out, cases[k].s, cases[k].n);
        }
    }
    char out[4];
    assert_int_equal(nn_utf8_encode(0xD800, out), 0);
    assert_int_equal(nn_utf8_encode(0x110000, out), 0);
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    nn_xml_put(f, "a<b>&\"'\x1b\xff\xc3\xa9");
    fclose(f);
    assert_string_equal(buf, "a&lt;b&gt;&amp;&quot;&apos;&#xFFFD;&#xFFFD;\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copies_and_sums),
        cmocka_unit_test(nonfinite_scan),
        cmocka_unit_test(schedules),
        cmocka_unit_test(files_whole_or_absent),
        cmocka_unit_test(utf8_and_xml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
