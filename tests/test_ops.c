/* test_ops.c -- forward values against results worked out by hand, and the numerical
 * edges (huge logits, saturated sigmoid). Values are small binary fractions, exact in
 * float, so most comparisons are exact; where a transcendental function is involved
 * the tolerance is stated beside the check. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

#define A(...) ((ag_float[]){__VA_ARGS__})
#define S(...) ((int[]){__VA_ARGS__})

static void expect(const ag_tensor *x, int rank, const int *shape, const ag_float *want)
{
    if (!x) fprintf(stderr, "NULL result\n");
    assert_non_null(x);
    assert_int_equal(x->rank, rank);
    for (int d = 0; d < rank; d++) assert_int_equal(x->shape[d], shape[d]);
    for (int i = 0; i < x->size; i++) {
        if (x->data[i] != want[i]) fprintf(stderr, "element %d: %g, want %g\n", i, (double)x->data[i], (double)want[i]);
        assert_true(x->data[i] == want[i]);
    }
}

static void broadcast_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *m = ag_from_array(t, 2, S(2, 3), A(1, 2, 3, 4, 5, 6));
    ag_tensor *row = ag_from_array(t, 1, S(3), A(10, 20, 30));
    ag_tensor *col = ag_from_array(t, 2, S(2, 1), A(100, 200));
    expect(ag_add(t, m, row), 2, S(2, 3), A(11, 22, 33, 14, 25, 36));
    expect(ag_sub(t, m, col), 2, S(2, 3), A(-99, -98, -97, -196, -195, -194));
    expect(ag_mul(t, col, row), 2, S(2, 3), A(1000, 2000, 3000, 2000, 4000, 6000));
    expect(ag_div(t, m, ag_full(t, 0, NULL, 2)), 2, S(2, 3), A(0.5, 1, 1.5, 2, 2.5, 3));
    ag_tape_free(t);
}

static void unary_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_from_array(t, 1, S(4), A(-2, -0.5, 0, 3));
    expect(ag_neg(t, x), 1, S(4), A(2, 0.5, 0, -3));
    expect(ag_relu(t, x), 1, S(4), A(0, 0, 0, 3));
    expect(ag_scale(t, x, 4), 1, S(4), A(-8, -2, 0, 12));
    /* exp, log, tanh, sigmoid: compared with libm in double; float rounding of the
     * result is at most half an ulp, 6e-8 relative, so 1e-6 relative is safe. */
    ag_tensor *e = ag_exp(t, x), *th = ag_tanh(t, x), *sg = ag_sigmoid(t, x);
    for (int i = 0; i < 4; i++) {
        double v = x->data[i];
        assert_true(fabs(e->data[i] - exp(v)) <= 1e-6 * exp(v));
        assert_true(fabs(th->data[i] - tanh(v)) <= 1e-6);
        assert_true(fabs(sg->data[i] - 1 / (1 + exp(-v))) <= 1e-6);
    }
    ag_tensor *l = ag_log(t, ag_from_array(t, 1, S(2), A(1, 4)));
    assert_true(l->data[0] == 0);
    assert_true(fabs(l->data[1] - log(4.0)) <= 1e-6);
    /* saturated sigmoid stays finite and exact at the ends */
    ag_tensor *big = ag_sigmoid(t, ag_from_array(t, 1, S(2), A(-1000, 1000)));
    assert_true(big->data[0] == 0 && big->data[1] == 1);
    ag_tape_free(t);
}

static void reduction_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_from_array(t, 3, S(2, 2, 2), A(1, 2, 3, 4, 5, 6, 7, 8));
    expect(ag_sum(t, x), 0, NULL, A(36));
    expect(ag_mean(t, x), 0, NULL, A(4.5));
    expect(ag_sum_dim(t, x, 0, 0), 2, S(2, 2), A(6, 8, 10, 12));
    expect(ag_sum_dim(t, x, 1, 1), 3, S(2, 1, 2), A(4, 6, 12, 14));
    expect(ag_sum_dim(t, x, -1, 0), 2, S(2, 2), A(3, 7, 11, 15));
    expect(ag_mean_dim(t, x, 2, 0), 2, S(2, 2), A(1.5, 3.5, 5.5, 7.5));
    ag_tape_free(t);
}

static void product_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_from_array(t, 2, S(2, 3), A(1, 2, 3, 4, 5, 6));
    ag_tensor *b = ag_from_array(t, 2, S(3, 2), A(1, 0, 0, 1, 1, 1));
    expect(ag_matmul(t, a, b), 2, S(2, 2), A(4, 5, 10, 11));
    /* linear: x (2,3), W (2,3) laid out (out, in), b (2) */
    ag_tensor *W = ag_from_array(t, 2, S(2, 3), A(1, 0, 1, 0, 1, 0));
    ag_tensor *bias = ag_from_array(t, 1, S(2), A(0.5, -1));
    expect(ag_linear(t, a, W, bias), 2, S(2, 2), A(4.5, 1, 10.5, 4));
    expect(ag_linear(t, a, W, NULL), 2, S(2, 2), A(4, 2, 10, 5));
    ag_tape_free(t);
}

static void shape_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *a = ag_from_array(t, 2, S(2, 2), A(1, 2, 3, 4));
    ag_tensor *b = ag_from_array(t, 2, S(2, 1), A(5, 6));
    expect(ag_cat(t, (ag_tensor *[]){a, b}, 2, 1), 2, S(2, 3), A(1, 2, 5, 3, 4, 6));
    expect(ag_cat(t, (ag_tensor *[]){a, a}, 2, 0), 2, S(4, 2), A(1, 2, 3, 4, 1, 2, 3, 4));
    ag_tensor *x = ag_from_array(t, 3, S(3, 2, 2), A(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect(ag_select(t, x, 0, 2), 2, S(2, 2), A(8, 9, 10, 11));
    expect(ag_select(t, x, 1, 0), 2, S(3, 2), A(0, 1, 4, 5, 8, 9));
    expect(ag_select(t, x, -1, 1), 2, S(3, 2), A(1, 3, 5, 7, 9, 11));
    expect(ag_slice(t, x, 0, 1, 3), 3, S(2, 2, 2), A(4, 5, 6, 7, 8, 9, 10, 11));
    expect(ag_reshape(t, x, 2, S(-1, 6)), 2, S(2, 6), A(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect(ag_index_select(t, x, 0, S(2, 0, 2), 3), 3, S(3, 2, 2), A(8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11));
    expect(ag_index_select(t, x, 2, S(1), 1), 3, S(3, 2, 1), A(1, 3, 5, 7, 9, 11));
    /* backward: a repeated index gets the sum of its gradients, an unused one none */
    ag_tensor *p = ag_param_new(2, S(3, 2), NULL);
    ag_tensor *rows = ag_index_select(t, p, 0, S(2, 0, 2), 3);
    assert_int_equal(ag_backward(t, ag_sum(t, ag_mul(t, rows, ag_from_array(t, 2, S(3, 2), A(1, 2, 3, 4, 5, 6))))),
                     AG_OK);
    for (int i = 0; i < 6; i++) assert_true(p->grad[i] == A(3, 4, 0, 0, 6, 8)[i]);
    ag_param_free(p);
    ag_tape_free(t);
}

static void log_softmax_and_nll_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    /* equal logits: log(1/4) each, to float rounding (1e-6 absolute) */
    ag_tensor *l = ag_log_softmax(t, ag_zeros(t, 2, S(1, 4)), 1);
    for (int i = 0; i < 4; i++) assert_true(fabs(l->data[i] - log(0.25)) <= 1e-6);
    /* probabilities along each row sum to 1 (float rounding: 1e-6) */
    ag_rng r;
    ag_rng_seed(&r, 5);
    ag_tensor *p = ag_exp(t, ag_log_softmax(t, ag_randn(t, &r, 2, S(3, 18), 0, 3), 1));
    ag_tensor *rows = ag_sum_dim(t, p, 1, 0);
    for (int i = 0; i < 3; i++) assert_true(fabs(rows->data[i] - 1) <= 1e-6);
    /* nll: -(l[0,1] + l[1,0]) / 2 */
    ag_tensor *lp = ag_from_array(t, 2, S(2, 2), A(-0.25, -2, -3, -0.5));
    expect(ag_nll_loss(t, lp, S(1, 0), AG_MEAN), 0, NULL, A(2.5));
    expect(ag_nll_loss(t, lp, S(1, 0), AG_SUM), 0, NULL, A(5));
    ag_tape_free(t);
}

/* Logits of +-1e4 give finite log-probabilities and finite gradients. */
static void log_softmax_is_stable(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_param_new(2, S(2, 3), "logits");
    const ag_float v[6] = {1e4, -1e4, 0, -1e4, -1e4, 1e4};
    for (int i = 0; i < 6; i++) x->data[i] = v[i];
    ag_tensor *l = ag_log_softmax(t, x, 1);
    /* exact: the max is subtracted first, the other terms underflow to 0 */
    expect(l, 2, S(2, 3), A(0, -2e4, -1e4, -2e4, -2e4, 0));
    ag_tensor *loss = ag_nll_loss(t, l, S(1, 2), AG_SUM);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    /* d/dx of -l[0,1] = softmax - onehot(1) = (1, -1, 0); row 2 target = argmax: 0 */
    const ag_float want[6] = {1, -1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(x->grad[i]));
        assert_true(x->grad[i] == want[i]);
    }
    ag_param_free(x);
    ag_tape_free(t);
}

/* d(sum(w * f(x)))/dx for a parameter x holding v, with f one op applied by `op`:
 * runs backward with seed w = 1 and returns x's gradient in g. */
typedef ag_tensor *(*unary_fn)(ag_tape *t, ag_tensor *x);

static ag_tensor *p_clamp01(ag_tape *t, ag_tensor *x) { return ag_clamp(t, x, 0, 1); }
static ag_tensor *p_clamp_lo(ag_tape *t, ag_tensor *x) { return ag_clamp(t, x, 0, INFINITY); }
static ag_tensor *p_clamp_hi(ag_tape *t, ag_tensor *x) { return ag_clamp(t, x, -INFINITY, 1); }
static ag_tensor *p_clamp_crossed(ag_tape *t, ag_tensor *x) { return ag_clamp(t, x, 1, 0); }
static ag_tensor *p_pow0(ag_tape *t, ag_tensor *x) { return ag_pow(t, x, 0); }
static ag_tensor *p_pow2(ag_tape *t, ag_tensor *x) { return ag_pow(t, x, 2); }

static void value_and_grad(unary_fn f, const ag_float *v, const ag_float *want, const ag_float *want_grad)
{
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_param_new(1, S(5), "x");
    for (int i = 0; i < 5; i++) x->data[i] = v[i];
    ag_tensor *y = f(t, x);
    expect(y, 1, S(5), want);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    for (int i = 0; i < 5; i++) {
        if (x->grad[i] != want_grad[i]) fprintf(stderr, "grad %d: %g, want %g\n", i, (double)x->grad[i], (double)want_grad[i]);
        assert_true(x->grad[i] == want_grad[i]);
    }
    ag_param_free(x);
    ag_tape_free(t);
}

/* Powers of two and their roots are exact; the gradients at the kinks are torch's. */
static void new_elementwise_values(void **state)
{
    (void)state;
    const ag_float *v = A(-1, 0, 0.5, 1, 2);
    value_and_grad(ag_abs, v, A(1, 0, 0.5, 1, 2), A(-1, 0, 1, 1, 1)); /* sign(x), 0 at 0 */
    /* clamp: the bounds themselves pass the gradient, as torch */
    value_and_grad(p_clamp01, v, A(0, 0, 0.5, 1, 1), A(0, 1, 1, 1, 0));
    value_and_grad(p_clamp_lo, v, A(0, 0, 0.5, 1, 2), A(0, 1, 1, 1, 1));
    value_and_grad(p_clamp_hi, v, A(-1, 0, 0.5, 1, 1), A(1, 1, 1, 1, 0));
    value_and_grad(p_clamp_crossed, v, A(0, 0, 0, 0, 0), A(0, 0, 0, 0, 0)); /* min > max: all max */
    value_and_grad(p_pow0, v, A(1, 1, 1, 1, 1), A(0, 0, 0, 0, 0));          /* torch: no gradient */
    value_and_grad(p_pow2, v, A(1, 0, 0.25, 1, 4), A(-2, 0, 1, 2, 4));
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_from_array(t, 1, S(4), A(0, 0.25, 4, 16));
    expect(ag_sqrt(t, x), 1, S(4), A(0, 0.5, 2, 4));
    expect(ag_pow(t, x, 0.5), 1, S(4), A(0, 0.5, 2, 4));
    expect(ag_pow(t, ag_slice(t, x, 0, 1, 4), -1), 1, S(3), A(4, 0.25, 0.0625));
    /* NaN passes through clamp and abs; sqrt of a negative is NaN as in C */
    ag_tensor *n = ag_from_array(t, 1, S(2), A(NAN, -4));
    assert_true(isnan(ag_clamp(t, n, 0, 1)->data[0]) && isnan(ag_abs(t, n)->data[0]));
    assert_true(isnan(ag_sqrt(t, n)->data[1]));
    ag_tape_free(t);
}

static void softmax_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    /* logits of +-1e4: the max is subtracted first, the rest underflow exactly */
    expect(ag_softmax(t, ag_from_array(t, 2, S(2, 3), A(1e4, 0, -1e4, 5, 5, 5e3)), 1), 2, S(2, 3),
           A(1, 0, 0, 0, 0, 1));
    /* ln 3 against 0: probabilities 3/4 and 1/4; along dim 0. exp is computed in
     * double and rounded once, so 1e-7 absolute covers float rounding. */
    ag_tensor *y = ag_softmax(t, ag_from_array(t, 2, S(2, 1), A((ag_float)log(3.0), 0)), 0);
    assert_true(fabs(y->data[0] - 0.75) <= 1e-7 && fabs(y->data[1] - 0.25) <= 1e-7);
    ag_tape_free(t);
}

/* Ties go to the first index as in torch 1.13 (CPU): tensor([1, 3, 3, 2]).max(0) is
 * (3, 1); along dim 0 of [[1, 2], [3, 3], [3, 1]] the indices are (1, 1). */
static void max_min_argmax_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_param_new(2, S(3, 4), "x");
    const ag_float v[12] = {1, 3, 3, 2, 5, 5, 5, 0, 0, 1, 2, 2};
    for (int i = 0; i < 12; i++) x->data[i] = v[i];
    int idx[4];
    ag_tensor *m = ag_max_dim(t, x, 1, 0, idx);
    expect(m, 1, S(3), A(3, 5, 2));
    assert_true(idx[0] == 1 && idx[1] == 0 && idx[2] == 2);
    expect(ag_min_dim(t, x, -1, 1, idx), 2, S(3, 1), A(1, 0, 0));
    assert_true(idx[0] == 0 && idx[1] == 3 && idx[2] == 0);
    expect(ag_max_dim(t, x, 0, 0, idx), 1, S(4), A(5, 5, 5, 2));
    assert_true(idx[0] == 1 && idx[1] == 1 && idx[2] == 1 && idx[3] == 0); /* 2 at rows 0 and 2 */
    expect(ag_argmax(t, x, 1, 0), 1, S(3), A(1, 0, 2));
    expect(ag_argmax(t, x, 0, 1), 2, S(1, 4), A(1, 1, 1, 0));
    /* the gradient goes to the chosen element only, the first of a tie */
    assert_int_equal(ag_backward_seed(t, m, A(1, 2, 4)), AG_OK);
    const ag_float want[12] = {0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 4, 0};
    for (int i = 0; i < 12; i++) assert_true(x->grad[i] == want[i]);
    /* a NaN propagates, and the first NaN wins */
    ag_tensor *n = ag_from_array(t, 1, S(4), A(1, NAN, 7, NAN));
    ag_tensor *nm = ag_max_dim(t, n, 0, 0, idx);
    assert_true(isnan(nm->data[0]) && idx[0] == 1);
    assert_true(isnan(ag_min_dim(t, n, 0, 0, idx)->data[0]) && idx[0] == 1);
    ag_param_free(x);
    ag_tape_free(t);
}

static void permute_bmm_stack_embedding_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_from_array(t, 3, S(2, 3, 2), A(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect(ag_transpose(t, x, 0, -1), 3, S(2, 3, 2), A(0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11));
    expect(ag_permute(t, x, S(1, 2, 0)), 3, S(3, 2, 2), A(0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11));
    expect(ag_transpose(t, ag_select(t, x, 0, 0), 0, 1), 2, S(2, 3), A(0, 2, 4, 1, 3, 5));
    /* bmm: entry 0 times the identity, entry 1 times a swap of columns */
    ag_tensor *b = ag_from_array(t, 3, S(2, 2, 2), A(1, 0, 0, 1, 0, 1, 1, 0));
    expect(ag_bmm(t, ag_reshape(t, x, 3, S(2, 3, 2)), b), 3, S(2, 3, 2), A(0, 1, 2, 3, 4, 5, 7, 6, 9, 8, 11, 10));
    ag_tensor *p = ag_from_array(t, 1, S(2), A(1, 2)), *q = ag_from_array(t, 1, S(2), A(3, 4));
    expect(ag_stack(t, (ag_tensor *[]){p, q}, 2, 0), 2, S(2, 2), A(1, 2, 3, 4));
    expect(ag_stack(t, (ag_tensor *[]){p, q}, 2, -1), 2, S(2, 2), A(1, 3, 2, 4));
    /* embedding: a gather; backward scatter-adds, and padding rows get nothing */
    ag_tensor *W = ag_param_new(2, S(4, 2), "W");
    for (int i = 0; i < 8; i++) W->data[i] = (ag_float)i;
    ag_tensor *e = ag_embedding(t, W, S(3, 1, 3, 0), 4, 0);
    expect(e, 2, S(4, 2), A(6, 7, 2, 3, 6, 7, 0, 1));
    assert_int_equal(ag_backward_seed(t, e, A(1, 2, 3, 4, 5, 6, 7, 8)), AG_OK);
    const ag_float want[8] = {0, 0, 3, 4, 0, 0, 6, 8}; /* row 3 twice; row 0 is padding */
    for (int i = 0; i < 8; i++) assert_true(W->grad[i] == want[i]);
    ag_param_free(W);
    ag_tape_free(t);
}

/* Losses against values worked out by hand; the tolerances are float rounding of
 * results computed in double (1e-6 relative to max(1, |value|)). */
static void close_to(const ag_tensor *x, double want)
{
    assert_non_null(x);
    if (!(fabs(x->data[0] - want) <= 1e-6 * fmax(1, fabs(want))))
        fprintf(stderr, "got %.9g, want %.9g\n", (double)x->data[0], want);
    assert_true(fabs(x->data[0] - want) <= 1e-6 * fmax(1, fabs(want)));
}

static void loss_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    /* cross_entropy: logits (0, ln 3) -> p = (1/4, 3/4) */
    ag_tensor *lg = ag_from_array(t, 2, S(2, 2), A(0, (ag_float)log(3.0), 0, (ag_float)log(3.0)));
    double l0 = log(4.0), l1 = log(4.0 / 3);
    close_to(ag_cross_entropy(t, lg, S(0, 1), NULL), (l0 + l1) / 2);
    ag_cross_entropy_options o = {AG_SUM, -100, 0};
    close_to(ag_cross_entropy(t, lg, S(0, 1), &o), l0 + l1);
    o = (ag_cross_entropy_options){AG_MEAN, 7, 0}; /* mean over the rows not ignored */
    close_to(ag_cross_entropy(t, lg, S(7, 1), &o), l1);
    o = (ag_cross_entropy_options){AG_MEAN, -100, 0.5}; /* (1 - eps) l0 + eps/2 (l0 + l1) per row */
    close_to(ag_cross_entropy(t, lg, S(0, 0), &o), 0.5 * l0 + 0.25 * (l0 + l1));
    /* every row ignored: 0/0 = NaN for the mean, as torch; no gradient */
    ag_tensor *P = ag_param_new(2, S(2, 2), "P");
    o = (ag_cross_entropy_options){AG_MEAN, 1, 0.1};
    ag_tensor *nan_loss = ag_cross_entropy(t, P, S(1, 1), &o);
    assert_true(isnan(nan_loss->data[0]));
    assert_int_equal(ag_backward_seed(t, nan_loss, A(1)), AG_OK);
    for (int i = 0; i < 4; i++) assert_true(P->grad[i] == 0);
    /* huge logits: finite, exact where the softmax saturates */
    ag_tensor *big = ag_from_array(t, 2, S(1, 3), A(1e4, 0, -1e4));
    expect(ag_cross_entropy(t, big, S(0), NULL), 0, NULL, A(0));
    expect(ag_cross_entropy(t, big, S(2), NULL), 0, NULL, A(2e4));
    /* mse: (0, 2, 3)^2 = 13 */
    ag_tensor *a = ag_from_array(t, 1, S(3), A(1, 2, 3)), *b = ag_from_array(t, 1, S(3), A(1, 0, 0));
    expect(ag_mse_loss(t, a, b, AG_SUM), 0, NULL, A(13));
    close_to(ag_mse_loss(t, a, b, AG_MEAN), 13.0 / 3);
    /* bce with logits: x = 0 gives ln 2 whatever y; x = +-100 are finite and exact */
    close_to(ag_bce_with_logits(t, ag_zeros(t, 1, S(2)), ag_from_array(t, 1, S(2), A(0, 0.3)), AG_MEAN), log(2.0));
    ag_tensor *X = ag_param_new(1, S(4), "X");
    const ag_float xv[4] = {100, -100, 1000, -1000};
    for (int i = 0; i < 4; i++) X->data[i] = xv[i];
    ag_tensor *bce = ag_bce_with_logits(t, X, ag_from_array(t, 1, S(4), A(1, 1, 0, 0)), AG_SUM);
    close_to(bce, 100 + 1000);
    assert_int_equal(ag_backward(t, bce), AG_OK);
    const ag_float want[4] = {0, -1, 1, 0}; /* sigmoid(x) - y, saturated */
    for (int i = 0; i < 4; i++) {
        if (!(fabs(X->grad[i] - want[i]) <= 1e-30)) fprintf(stderr, "grad %d: %g\n", i, (double)X->grad[i]);
        assert_true(fabs(X->grad[i] - want[i]) <= 1e-30);
    }
    ag_param_free(X);
    ag_param_free(P); /* not before: the tape still holds a node that reads it */
    ag_tape_free(t);
}

/* n draws against expected counts n p_i: Pearson's chi-square, with (categories of
 * positive probability - 1) degrees of freedom, at most 3 here. A correct sampler
 * exceeds 30 with probability below e^-15 (1 + 15) = 5e-6 even with 4 degrees of
 * freedom; a sampler that moves 0.01 of probability from one category to another
 * adds about n (0.01^2 / p_i + 0.01^2 / p_j) >= 58 here (n = 1e5, p <= 0.4). The rng
 * is seeded, so the test is deterministic. */
static double chi_square(const ag_float *v, int k, int is_logits, double temp, const double *p, int n, ag_rng *r)
{
    int count[8] = {0};
    for (int i = 0; i < n; i++) {
        int c = ag_sample_categorical(v, k, is_logits, temp, r);
        assert_true(c >= 0 && c < k);
        count[c]++;
    }
    double chi = 0;
    for (int c = 0; c < k; c++) {
        if (p[c] == 0) {
            assert_int_equal(count[c], 0); /* weight 0 is never drawn */
            continue;
        }
        double e = n * p[c];
        chi += (count[c] - e) * (count[c] - e) / e;
    }
    printf("  chi-square %.2f over %d categories\n", chi, k);
    return chi;
}

static void sampling(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 99);
    const int n = 100000;
    const ag_float *p = A(0.1, 0.2, 0, 0.3, 0.4);
    assert_true(chi_square(p, 5, 0, 1, (double[]){0.1, 0.2, 0, 0.3, 0.4}, n, &r) < 30);
    /* temperature 0.5 squares the probabilities: (1, 4, 0, 9, 16) / 30 */
    assert_true(chi_square(p, 5, 0, 0.5, (double[]){1 / 30., 4 / 30., 0, 9 / 30., 16 / 30.}, n, &r) < 30);
    /* the same from logits log p (unnormalised: + 7), and -inf for the zero */
    ag_float lg[5];
    for (int i = 0; i < 5; i++) lg[i] = p[i] > 0 ? (ag_float)log(p[i]) + 7 : -INFINITY;
    assert_true(chi_square(lg, 5, 1, 1, (double[]){0.1, 0.2, 0, 0.3, 0.4}, n, &r) < 30);
    assert_true(chi_square(lg, 5, 1, 0.5, (double[]){1 / 30., 4 / 30., 0, 9 / 30., 16 / 30.}, n, &r) < 30);
    /* temperature 2 flattens: sqrt(p) renormalised */
    double sq[5], tot = 0;
    for (int i = 0; i < 5; i++) tot += sq[i] = sqrt(p[i]);
    for (int i = 0; i < 5; i++) sq[i] /= tot;
    assert_true(chi_square(lg, 5, 1, 2, sq, n, &r) < 30);
    /* a wrong distribution fails: uniform draws tested against p */
    assert_true(chi_square(A(1, 1, 1, 1), 4, 0, 1, (double[]){0.1, 0.2, 0.3, 0.4}, n, &r) > 1000);
    /* each call takes exactly one uniform from the stream */
    ag_rng a = r, b = r;
    ag_sample_categorical(p, 5, 0, 1, &a);
    ag_rng_uniform(&b);
    assert_true(a.state == b.state);
    /* huge logits: the largest always wins */
    for (int i = 0; i < 100; i++) assert_int_equal(ag_sample_categorical(A(0, 1e4, -1e4), 3, 1, 1, &r), 1);
}

/* The matrix kernels behind matmul and linear (nn forward; nt and tn backward; nt for
 * linear forward) against sums in double, over shapes that reach every path of
 * ag_kernels.c: rows in tiles of 4 and left over, columns in blocks of 64, 16 and a
 * last partial block, fewer than 16 columns, more rows of B than one packed chunk
 * (128), K <= 2, K a multiple of 16 and K with a tail. */
static double ref_dot(const ag_float *a, int sa, const ag_float *b, int sb, int K, double *mag)
{
    double s = 0;
    *mag = 0;
    for (int k = 0; k < K; k++) {
        s += (double)a[k * sa] * b[k * sb];
        *mag += fabs((double)a[k * sa] * b[k * sb]);
    }
    return s;
}

/* Float32 sums of K products are within about K * 2^-24 of the exact sum, relative to
 * the sum of the products' magnitudes; (K + 2) * 2^-23 is twice that. A wrong, missing
 * or doubled term is off by a whole product, on average 1/4 of a magnitude of ~K/4. */
static void check_close(double got, double want, double mag, int K, const char *what, int N, int M)
{
    double tol = (K + 2) * 0x1p-23 * mag + 1e-30;
    if (fabs(got - want) > tol) fail_msg("%s, N=%d M=%d K=%d: %.9g, want %.9g", what, N, M, K, got, want);
}

/* The name of the kernels in use (ag_kernels.c; internal, hence declared here) */
const char *ag__kernel_path(void);

static void kernels_against_double(void **state)
{
    (void)state;
    printf("  kernels: %s\n", ag__kernel_path());
#if defined(__aarch64__) && defined(__GNUC__) && !defined(AG_DOUBLE)
    assert_string_equal(ag__kernel_path(), "aarch64 NEON"); /* the path checked below */
#endif
    static const int Ns[] = {1, 3, 4, 5, 64}, Ms[] = {1, 2, 15, 16, 17, 18, 64, 65, 128, 130, 300},
                     Ks[] = {1, 2, 3, 16, 17, 185};
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_tape *t = ag_tape_new();
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                int N = Ns[ni], M = Ms[mi], K = Ks[ki];
                ag_tensor *a = ag_param_new(2, S(N, K), NULL), *b = ag_param_new(2, S(K, M), NULL);
                ag_tensor *w = ag_param_new(2, S(M, K), NULL), *g = ag_param_new(2, S(N, M), NULL);
                ag_fill_uniform(a, &r, -1, 1);
                ag_fill_uniform(b, &r, -1, 1);
                ag_fill_uniform(w, &r, -1, 1);
                ag_fill_uniform(g, &r, -1, 1);
                ag_tape_reset(t);
                /* loss = sum(g * (a b)) + sum(g * (a w^T)): d/da = g b^T + g w, d/db = a^T g */
                ag_tensor *ab = ag_matmul(t, a, b), *aw = ag_linear(t, a, w, NULL);
                ag_tensor *loss = ag_add(t, ag_sum(t, ag_mul(t, g, ab)), ag_sum(t, ag_mul(t, g, aw)));
                assert_int_equal(ag_backward(t, loss), AG_OK);
                double mag, want;
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < M; j++) {
                        want = ref_dot(a->data + i * K, 1, b->data + j, M, K, &mag);
                        check_close(ab->data[i * M + j], want, mag, K, "matmul (nn)", N, M);
                        want = ref_dot(a->data + i * K, 1, w->data + j * K, 1, K, &mag);
                        check_close(aw->data[i * M + j], want, mag, K, "linear (nt)", N, M);
                    }
                for (int i = 0; i < N; i++)
                    for (int k = 0; k < K; k++) { /* g b^T (nt) + g w (nn), each checked by its bound */
                        double m1, m2;
                        want = ref_dot(g->data + i * M, 1, b->data + k * M, 1, M, &m1) +
                               ref_dot(g->data + i * M, 1, w->data + k, K, M, &m2);
                        check_close(a->grad[i * K + k], want, m1 + m2, M + 1, "d matmul/da + d linear/dx", N, M);
                    }
                for (int k = 0; k < K; k++)
                    for (int j = 0; j < M; j++) { /* a^T g (tn) */
                        want = ref_dot(a->data + k, K, g->data + j, M, N, &mag);
                        check_close(b->grad[k * M + j], want, mag, N, "d matmul/db (tn)", N, M);
                    }
                ag_param_free(a);
                ag_param_free(b);
                ag_param_free(w);
                ag_param_free(g);
            }
    ag_tape_free(t);
}

/* A row's result does not depend on the rows around it: linear and matmul of a
 * batch give, bit for bit, each row computed alone (padding relies on this). */
static void kernels_are_batch_invariant(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 12);
    int N = 64, K = 185, M = 130;
    ag_tensor *x = ag_param_new(2, S(N, K), NULL), *w = ag_param_new(2, S(M, K), NULL);
    ag_tensor *b = ag_param_new(2, S(K, M), NULL);
    ag_fill_uniform(x, &r, -1, 1);
    ag_fill_uniform(w, &r, -1, 1);
    ag_fill_uniform(b, &r, -1, 1);
    ag_tape *t = ag_tape_new();
    ag_tensor *all = ag_linear(t, x, w, NULL), *allm = ag_matmul(t, x, b);
    for (int i = 0; i < N; i++) {
        ag_tensor *row = ag_from_array(t, 2, S(1, K), x->data + i * K);
        ag_tensor *one = ag_linear(t, row, w, NULL), *onem = ag_matmul(t, row, b);
        assert_memory_equal(one->data, all->data + i * M, M * sizeof(ag_float));
        assert_memory_equal(onem->data, allm->data + i * M, M * sizeof(ag_float));
    }
    ag_tape_free(t);
    ag_param_free(x);
    ag_param_free(w);
    ag_param_free(b);
}

/* An inf in one row of W stays in that row's output: a row's last K % 16 values are
 * read with the start of the next row on some paths (ARM64), which must mask them. */
static void kernels_keep_rows_apart(void **state)
{
    (void)state;
    enum { K = 17, M = 3 };
    ag_tensor *w = ag_param_new(2, S(M, K), NULL);
    for (int i = 0; i < M * K; i++) w->data[i] = i / K == 1 ? INFINITY : 1;
    ag_tape *t = ag_tape_new();
    for (int N = 1; N <= 4; N += 3) { /* one row of x, and a tile of 4 */
        ag_tensor *x = ag_full(t, 2, S(N, K), 1);
        ag_tensor *y = ag_linear(t, x, w, NULL);
        for (int i = 0; i < N; i++) assert_true(y->data[i * M] == K && isinf(y->data[i * M + 1]) && y->data[i * M + 2] == K);
    }
    ag_tape_free(t);
    ag_param_free(w);
}

/* ag_rng_mask draws what n calls of ag_rng_uniform draw, decides u < p the same way
 * (p at a drawn value exactly included: u == p keeps), and leaves the same stream. */
static void rng_mask_is_uniform_draws(void **state)
{
    (void)state;
    enum { N = 1000 };
    ag_float got[N];
    for (int pi = 0; pi < 7; pi++) {
        ag_rng a, b;
        ag_rng_seed(&a, 77 + (uint64_t)pi);
        b = a;
        double p = (double[]){0, 0.3, 0.5, 0.999999, 1, -1, -1}[pi];
        if (p < 0) { /* p exactly one of the draws (the 10th), or just above it */
            ag_rng c = a;
            for (int i = 0; i < 10; i++) p = ag_rng_uniform(&c);
            if (pi == 6) p = nextafter(p, 1);
        }
        ag_rng_mask(&a, p, 2.5f, got, N);
        for (int i = 0; i < N; i++) assert_true(got[i] == (ag_rng_uniform(&b) < p ? 0 : 2.5f));
        assert_true(a.state == b.state);
    }
    ag_rng a, b;
    ag_rng_seed(&a, 5);
    b = a;
    ag_rng_mask(&a, 0.5, 1, got, 0); /* nothing drawn */
    assert_true(a.state == b.state);
}

/* The kernels over sub-matrices (rows lda, ldb, ldc apart: a block of columns of a
 * wider matrix, as linear uses for the columns next to a one-hot block) give, bit for
 * bit, what the contiguous kernels give on a copy of the block, and leave the columns
 * around the block in C untouched. */
void ag__gemm_nt(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
void ag__gemm_nn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
void ag__gemm_tn(int N, int M, int K, const ag_float *A, const ag_float *B, ag_float *C);
void ag__gemm_nt_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_nn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);
void ag__gemm_tn_ld(int N, int M, int K, const ag_float *A, int lda, const ag_float *B, int ldb, ag_float *C, int ldc);

/* rows x cols of src (row stride ld, from column c0) into dst, contiguous */
static void copy_block(ag_float *dst, const ag_float *src, int rows, int cols, int ld, int c0)
{
    for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * cols, src + (size_t)r * ld + c0, (size_t)cols * sizeof *dst);
}

static void kernels_strided(void **state)
{
    (void)state;
    static const int Ns[] = {1, 4, 5, 64}, Ms[] = {1, 16, 18, 130}, Ks[] = {2, 16, 17, 128};
    enum { PAD = 7 }; /* extra columns on each side of every block */
    ag_rng r;
    ag_rng_seed(&r, 13);
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                int N = Ns[ni], M = Ms[mi], K = Ks[ki], big = N + M + K, ld = big + 2 * PAD;
                ag_float *wa = malloc((size_t)big * ld * sizeof *wa), *wb = malloc((size_t)big * ld * sizeof *wb);
                ag_float *wc = malloc((size_t)big * ld * sizeof *wc), *wc0 = malloc((size_t)big * ld * sizeof *wc0);
                ag_float *a = malloc((size_t)big * big * sizeof *a), *b = malloc((size_t)big * big * sizeof *b);
                ag_float *c = malloc((size_t)big * big * sizeof *c);
                assert_non_null(wa && wb && wc && wc0 && a && b && c);
                for (int i = 0; i < big * ld; i++) {
                    wa[i] = (ag_float)ag_rng_uniform(&r) - 0.5f;
                    wb[i] = (ag_float)ag_rng_uniform(&r) - 0.5f;
                    wc0[i] = (ag_float)ag_rng_uniform(&r) - 0.5f;
                }
                for (int kind = 0; kind < 3; kind++) {
                    /* the shapes of A and B for nt (A (N,K), B (M,K)), nn (A (N,K), B (K,M)), tn (A (K,N), B (K,M)) */
                    int ar = kind == 2 ? K : N, ac = kind == 2 ? N : K, br = kind == 0 ? M : K, bc = kind == 0 ? K : M;
                    copy_block(a, wa, ar, ac, ld, PAD);
                    copy_block(b, wb, br, bc, ld, PAD);
                    copy_block(c, wc0, N, M, ld, PAD);
                    memcpy(wc, wc0, (size_t)big * ld * sizeof *wc);
                    if (kind == 0) {
                        ag__gemm_nt(N, M, K, a, b, c);
                        ag__gemm_nt_ld(N, M, K, wa + PAD, ld, wb + PAD, ld, wc + PAD, ld);
                    } else if (kind == 1) {
                        ag__gemm_nn(N, M, K, a, b, c);
                        ag__gemm_nn_ld(N, M, K, wa + PAD, ld, wb + PAD, ld, wc + PAD, ld);
                    } else {
                        ag__gemm_tn(N, M, K, a, b, c);
                        ag__gemm_tn_ld(N, M, K, wa + PAD, ld, wb + PAD, ld, wc + PAD, ld);
                    }
                    for (int i = 0; i < big; i++)
                        for (int j = 0; j < ld; j++) {
                            ag_float want = i < N && j >= PAD && j < PAD + M ? c[(size_t)i * M + j - PAD] : wc0[(size_t)i * ld + j];
                            if (memcmp(&want, &wc[(size_t)i * ld + j], sizeof want))
                                fail_msg("%s N=%d M=%d K=%d: C[%d][%d] = %.9g, want %.9g", (const char *[]){"nt", "nn", "tn"}[kind],
                                         N, M, K, i, j, (double)wc[(size_t)i * ld + j], (double)want);
                        }
                }
                free(wa), free(wb), free(wc), free(wc0), free(a), free(b), free(c);
            }
}

#ifndef AG_DOUBLE
/* Error of a float result in units in the last place of the exact value (want, from
 * libm in double): NaN must stay NaN, an overflow must be inf. */
static double ulps(double got, double want)
{
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    float w = (float)want;
    if (isinf(w)) return got == w ? 0 : INFINITY;
    double ulp = (double)nextafterf(fabsf(w), INFINITY) - fabsf(w); /* 2^-149 for 0 and subnormals */
    return fabs(got - want) / ulp;
}

static double ref_sigmoid(double x)
{
    double e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/* exp, tanh and sigmoid (vector code on x86-64 and ARM64) against libm in double, over
 * [-110, 110] in steps of 1/1024, values near 0 down to 1e-38, and +-0, +-inf, NaN.
 * Measured worst: exp 0.98 ulp, tanh 1.21, sigmoid 2.01 with AVX-512 (0.97, 1.21, 1.97
 * in the baseline build): the polynomial's error plus the roundings of 1 - 2/(e + 1) and
 * 1/(1 + e). The bounds allow about one more; a wrong coefficient or a lost range step
 * costs thousands. */
static void exp_tanh_sigmoid_accuracy(void **state)
{
    (void)state;
    enum { N = 225280 + 2 * 76 + 5 };
    static ag_float xs[N];
    int n = 0;
    for (int i = -112640; i < 112640; i++) xs[n++] = (ag_float)(i / 1024.0);
    for (int e = 1; e <= 38; e++) {
        xs[n++] = (ag_float)pow(10, -e);
        xs[n++] = (ag_float)-pow(10, -e);
        xs[n++] = (ag_float)(3 * pow(10, -e));
        xs[n++] = (ag_float)(-3 * pow(10, -e));
    }
    xs[n++] = 0.0f;
    xs[n++] = -0.0f;
    xs[n++] = INFINITY;
    xs[n++] = -INFINITY;
    xs[n++] = NAN;
    assert_int_equal(n, N);
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_from_array(t, 1, S(N), xs);
    ag_tensor *e = ag_exp(t, x), *th = ag_tanh(t, x), *sg = ag_sigmoid(t, x);
    double worst[3] = {0};
    for (int i = 0; i < N; i++) {
        double v = xs[i], u[3] = {ulps(e->data[i], exp(v)), ulps(th->data[i], tanh(v)), ulps(sg->data[i], ref_sigmoid(v))};
        for (int k = 0; k < 3; k++)
            if (u[k] > worst[k]) worst[k] = u[k];
    }
    printf("  worst error: exp %.2f ulp, tanh %.2f ulp, sigmoid %.2f ulp\n", worst[0], worst[1], worst[2]);
    assert_true(worst[0] <= 2);
    assert_true(worst[1] <= 3);
    assert_true(worst[2] <= 3);
    /* the edges exactly */
    assert_true(e->data[N - 5] == 1 && e->data[N - 3] == INFINITY && e->data[N - 2] == 0 && isnan(e->data[N - 1]));
    assert_true(th->data[N - 3] == 1 && th->data[N - 2] == -1 && isnan(th->data[N - 1]) && signbit(th->data[N - 4]));
    assert_true(sg->data[N - 3] == 1 && sg->data[N - 2] == 0 && sg->data[N - 5] == 0.5f && isnan(sg->data[N - 1]));
    ag_tape_free(t);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcast_values),  cmocka_unit_test(unary_values),
        cmocka_unit_test(reduction_values),  cmocka_unit_test(product_values),
        cmocka_unit_test(shape_values),      cmocka_unit_test(log_softmax_and_nll_values),
        cmocka_unit_test(log_softmax_is_stable), cmocka_unit_test(new_elementwise_values),
        cmocka_unit_test(softmax_values),    cmocka_unit_test(max_min_argmax_values),
        cmocka_unit_test(permute_bmm_stack_embedding_values), cmocka_unit_test(loss_values),
        cmocka_unit_test(sampling),
        cmocka_unit_test(kernels_against_double), cmocka_unit_test(kernels_are_batch_invariant),
        cmocka_unit_test(kernels_keep_rows_apart), cmocka_unit_test(kernels_strided), cmocka_unit_test(rng_mask_is_uniform_draws),
#ifndef AG_DOUBLE
        cmocka_unit_test(exp_tanh_sigmoid_accuracy),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
