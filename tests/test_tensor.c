/* test_tensor.c -- creation, shapes, printing and the random generator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

/* splitmix64 is a published generator: from state 0 its first output is
 * 0xE220A8397B1DCDAF. Matching it proves the stream is the same on every machine. */
static void rng_is_splitmix64(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 0);
    assert_true(ag_rng_u64(&r) == 0xE220A8397B1DCDAFull);
    ag_rng a, b;
    ag_rng_seed(&a, 12345);
    ag_rng_seed(&b, 12345);
    for (int i = 0; i < 1000; i++) assert_true(ag_rng_u64(&a) == ag_rng_u64(&b));
}

/* 200,000 draws: the standard error of a mean is 1/sqrt(n) * sd ~ 0.0022 for the
 * normal and 0.00065 for the uniform; 5 standard errors is a bound that a correct
 * generator breaks with probability < 1e-6 and a wrong scale or shift cannot meet. */
static void rng_distributions(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 7);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0;
    int below[10] = {0};
    for (int i = 0; i < N; i++) {
        double u = ag_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        su += u;
        double z = ag_rng_normal(&r);
        sn += z;
        sn2 += z * z;
        int k = ag_rng_below(&r, 10);
        assert_true(k >= 0 && k < 10);
        below[k]++;
    }
    assert_true(fabs(su / N - 0.5) < 5 * 0.00065);
    assert_true(fabs(sn / N) < 5 * 0.0022);
    /* the variance estimate has standard error sqrt(2/N) ~ 0.0032 */
    assert_true(fabs(sn2 / N - 1) < 5 * 0.0032);
    for (int k = 0; k < 10; k++) assert_true(abs(below[k] - N / 10) < 5 * 134); /* sd = sqrt(N p (1-p)) ~ 134 */
    assert_int_equal(ag_rng_below(&r, 0), 0);
}

static void creation_and_shapes(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *z = ag_zeros(t, 3, (int[]){2, 3, 4});
    assert_int_equal(z->rank, 3);
    assert_int_equal(z->size, 24);
    assert_int_equal(z->shape[3], 1);
    for (int i = 0; i < 24; i++) assert_true(z->data[i] == 0);
    ag_tensor *o = ag_ones(t, 1, (int[]){5});
    for (int i = 0; i < 5; i++) assert_true(o->data[i] == 1);
    ag_tensor *f = ag_full(t, 0, NULL, 2.5f);
    assert_int_equal(f->rank, 0);
    assert_int_equal(f->size, 1);
    assert_true(f->data[0] == 2.5f);
    ag_tensor *a = ag_from_array(t, 2, (int[]){2, 2}, (ag_float[]){1, 2, 3, 4});
    assert_true(a->data[ag_index(a, (int[]){1, 0})] == 3);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *u = ag_rand(t, &r, 2, (int[]){10, 10}, -2, -1);
    for (int i = 0; i < 100; i++) assert_true(u->data[i] >= -2 && u->data[i] < -1);
    ag_tensor *n = ag_randn(t, &r, 1, (int[]){4}, 0, 1);
    assert_non_null(n);
    assert_false(n->requires_grad);
    assert_null(n->grad);
    char buf[32];
    assert_string_equal(ag_shape_str(z, buf, sizeof buf), "(2, 3, 4)");
    assert_string_equal(ag_shape_str(f, buf, sizeof buf), "()");
    assert_true(ag_same_shape(z, z));
    assert_false(ag_same_shape(z, o));

    ag_tensor *p = ag_param_new(2, (int[]){3, 2}, "layer.weight");
    assert_string_equal(p->name, "layer.weight");
    assert_true(p->requires_grad);
    assert_non_null(p->grad);
    for (int i = 0; i < 6; i++) assert_true(p->data[i] == 0 && p->grad[i] == 0);
    ag_fill(p, 3);
    p->grad[2] = 1;
    ag_zero_grad(p);
    assert_true(p->data[2] == 3 && p->grad[2] == 0);
    ag_param_free(p);
    ag_tape_free(t);
}

static void one_hot_with_padding(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_one_hot(t, (int[]){2, -1, 0}, 3, 4);
    const ag_float want[12] = {0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    assert_int_equal(x->shape[0], 3);
    assert_int_equal(x->shape[1], 4);
    for (int i = 0; i < 12; i++) assert_true(x->data[i] == want[i]);
    ag_tape_free(t);
}

static char *print_to_string(const ag_tensor *x)
{
    static char out[4096];
    FILE *f = tmpfile();
    assert_non_null(f);
    ag_print(f, x);
    rewind(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    return out;
}

static void printing(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_from_array(t, 2, (int[]){2, 3}, (ag_float[]){1, 2, 3, 4, 5, 6.5f});
    assert_string_equal(print_to_string(a), "tensor (2, 3)\n[[1, 2, 3],\n [4, 5, 6.5]]\n");
    ag_tensor *s = ag_full(t, 0, NULL, -2);
    assert_string_equal(print_to_string(s), "tensor ()\n-2\n");
    ag_tensor *big = ag_zeros(t, 1, (int[]){100});
    big->data[99] = 9;
    assert_string_equal(print_to_string(big), "tensor (100)\n[0, 0, 0, ..., 0, 0, 9]\n");
    ag_tensor *p = ag_param_new(1, (int[]){2}, "bias");
    assert_string_equal(print_to_string(p), "tensor (2) bias\n[0, 0]\n");
    ag_param_free(p);
    /* rank 3 with long dims is shortened in every dim */
    ag_tensor *r3 = ag_zeros(t, 3, (int[]){8, 2, 8});
    char *text = print_to_string(r3);
    assert_non_null(strstr(text, "..."));
    assert_true(strlen(text) < 600);
    ag_tape_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rng_is_splitmix64),   cmocka_unit_test(rng_distributions),
        cmocka_unit_test(creation_and_shapes), cmocka_unit_test(one_hot_with_padding),
        cmocka_unit_test(printing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
