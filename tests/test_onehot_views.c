/* test_onehot_views.c -- one-hot operands of linear and matmul, and views (reshape,
 * select, slice of contiguous blocks). Built in float and in double.
 *
 * A one-hot operand takes its own path (a gather forward, a scatter into the weight's
 * gradient backward, no gradient for the one-hot columns): each case here runs the
 * same values through that path and through the dense product (the same values from
 * ag_from_array, which carry no one-hot mark) and compares. The dense path is the one
 * tests/test_torch_ref.c compares with PyTorch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

#define S(...) ((int[]){__VA_ARGS__})

/* Float sums of K products are within about K ulps of the exact sum, relative to the
 * sum of the products' magnitudes (see test_ops.c check_close); the two paths add the
 * same products in different orders, so they differ by at most twice that. A wrong
 * column or a dropped term moves a result by a whole product (~0.25 on average). */
static const double ULP = sizeof(ag_float) == 4 ? 0x1p-23 : 0x1p-52;

static void close_to(double got, double want, double mag, int K, const char *what, int i)
{
    double tol = 2 * (K + 2) * ULP * mag + 1e-30;
    if (fabs(got - want) > tol) fail_msg("%s[%d]: %.9g, want %.9g (tol %.3g)", what, i, got, want, tol);
}

static void fill(ag_tensor *p, ag_rng *r)
{
    ag_fill_uniform(p, r, -1, 1);
}

static ag_tensor *copy_param(const ag_tensor *p)
{
    ag_tensor *q = ag_param_new(p->rank, p->shape, NULL);
    memcpy(q->data, p->data, (size_t)p->size * sizeof(ag_float));
    return q;
}

/* Where the one-hot block sits among the columns of x: alone, first, in the middle, last. */
typedef enum { ALONE, FIRST, MIDDLE, LAST } place;

/* x (N, C [+ H1 + H2]) = cat of the one-hot rows of idx and the dense parameters around
 * it; `dense` builds the same values with no mark. -> (N, I) */
static ag_tensor *build_x(ag_tape *t, place where, const int *idx, int N, int C, ag_tensor *h1, ag_tensor *h2,
                          int dense)
{
    ag_tensor *oh = ag_one_hot(t, idx, N, C);
    if (dense) oh = ag_from_array(t, 2, S(N, C), oh->data);
    else assert_non_null(oh->hot);
    switch (where) {
    case ALONE: return oh;
    case FIRST: return ag_cat(t, (ag_tensor *[]){oh, h1}, 2, 1);
    case MIDDLE: return ag_cat(t, (ag_tensor *[]){h1, oh, h2}, 3, 1);
    case LAST: return ag_cat(t, (ag_tensor *[]){h1, oh}, 2, 1);
    }
    return NULL;
}

/* linear (matmul = 0) or matmul (1) over a one-hot x against the same dense x: outputs,
 * and the gradients of the weight, the bias and the dense columns of x. */
static void one_case(int mm, place where, int N)
{
    enum { C = 57, H = 23, O = 19 };
    int I = C + (where == ALONE ? 0 : where == MIDDLE ? 2 * H : H);
    ag_rng r;
    ag_rng_seed(&r, (uint64_t)(100 * mm + 10 * where + N));
    int *idx = malloc((size_t)N * sizeof *idx);
    for (int n = 0; n < N; n++) idx[n] = n % 7 == 3 ? -1 : (int)ag_rng_below(&r, C); /* with padding rows */
    ag_tensor *h1[2], *h2[2], *W[2], *b[2], *G = ag_param_new(2, S(N, O), NULL);
    h1[0] = ag_param_new(2, S(N, H), NULL), h2[0] = ag_param_new(2, S(N, H), NULL);
    W[0] = mm ? ag_param_new(2, S(I, O), NULL) : ag_param_new(2, S(O, I), NULL), b[0] = ag_param_new(1, S(O), NULL);
    fill(h1[0], &r), fill(h2[0], &r), fill(W[0], &r), fill(b[0], &r), fill(G, &r);
    h1[1] = copy_param(h1[0]), h2[1] = copy_param(h2[0]), W[1] = copy_param(W[0]), b[1] = copy_param(b[0]);
    ag_tape *t = ag_tape_new();
    ag_tensor *x[2], *y[2];
    for (int k = 0; k < 2; k++) { /* k = 0: one-hot path, 1: dense */
        x[k] = build_x(t, where, idx, N, C, h1[k], h2[k], k);
        y[k] = mm ? ag_matmul(t, x[k], W[k]) : ag_linear(t, x[k], W[k], b[k]);
        assert_non_null(y[k]);
        assert_int_equal(ag_backward(t, ag_sum(t, ag_mul(t, y[k], G))), AG_OK);
    }
    assert_non_null(x[0]->hot);
    assert_null(x[1]->hot);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double mag = mm ? 0 : fabs(b[0]->data[o]);
            for (int i = 0; i < I; i++)
                mag += fabs(x[1]->data[n * I + i] * (mm ? W[0]->data[i * O + o] : W[0]->data[o * I + i]));
            close_to(y[0]->data[n * O + o], y[1]->data[n * O + o], mag, I, mm ? "matmul y" : "linear y", n * O + o);
        }
    /* dW: each element a sum over the N rows of g * x */
    for (int e = 0; e < W[0]->size; e++) {
        int i = mm ? e / O : e % I, o = mm ? e % O : e / I;
        double mag = 0;
        for (int n = 0; n < N; n++) mag += fabs(G->data[n * O + o] * x[1]->data[n * I + i]);
        close_to(W[0]->grad[e], W[1]->grad[e], mag, N, "dW", e);
    }
    for (int o = 0; !mm && o < O; o++) {
        double mag = 0;
        for (int n = 0; n < N; n++) mag += fabs(G->data[n * O + o]);
        close_to(b[0]->grad[o], b[1]->grad[o], mag, N, "db", o);
    }
    /* the dense columns' gradient reaches h1 and h2 alike; sums over the O outputs */
    for (int k = 0; k < 2 && where != ALONE; k++) {
        ag_tensor *h = k ? h2[0] : h1[0], *hd = k ? h2[1] : h1[1];
        for (int e = 0; e < h->size; e++) close_to(h->grad[e], hd->grad[e], 4.0 * O, O, "dh", e);
    }
    /* the one-hot path computed no gradient for the one-hot columns of x (they lead
     * to a constant); the dense one did: this is how we know which path ran */
    if (where != ALONE) {
        int c0 = where == FIRST ? 0 : H, nonzero = 0;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                assert_true(x[0]->grad[n * I + c0 + c] == 0);
                nonzero |= x[1]->grad[n * I + c0 + c] != 0;
            }
        assert_true(nonzero);
    }
    ag_tape_free(t);
    for (int k = 0; k < 2; k++) ag_param_free(h1[k]), ag_param_free(h2[k]), ag_param_free(W[k]), ag_param_free(b[k]);
    ag_param_free(G);
    free(idx);
}

static void onehot_matches_dense(void **state)
{
    (void)state;
    static const int Ns[] = {1, 5, 64}; /* 1 and 5: linear defers dW to the end of the pass */
    for (int mm = 0; mm < 2; mm++)
        for (int w = ALONE; w <= LAST; w++)
            for (size_t i = 0; i < sizeof Ns / sizeof *Ns; i++) one_case(mm, (place)w, Ns[i]);
}

/* The mark goes along with rows picked by select, slice, index_select and reshape, and
 * with cat side by side; a copy of the values (from_array) and ops that compute carry none. */
static void onehot_mark_travels(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    int idx[12] = {0, 1, 2, -1, 4, 5, 6, 0, 1, 2, 3, 4};
    ag_tensor *oh = ag_one_hot(t, idx, 12, 7);            /* (12, 7) */
    ag_tensor *x3 = ag_reshape(t, oh, 3, S(3, 4, 7));     /* (3, 4, 7) */
    ag_tensor *s1 = ag_select(t, x3, 0, 2);               /* rows 8..11 */
    ag_tensor *s2 = ag_select(t, x3, 1, 1);               /* rows 1, 5, 9 */
    ag_tensor *sl = ag_slice(t, oh, 0, 3, 6);             /* rows 3..5 */
    ag_tensor *is = ag_index_select(t, oh, 0, (int[]){11, 0, 3}, 3);
    ag_tensor *p = ag_param_new(2, S(3, 2), NULL);
    ag_tensor *c = ag_cat(t, (ag_tensor *[]){p, is}, 2, 1); /* (3, 9), block at column 2 */
    assert_true(x3->hot == oh->hot && s1->hot && s2->hot && sl->hot && is->hot && c->hot);
    assert_int_equal(s1->hot[0], 1), assert_int_equal(s1->hot[3], 4);
    assert_int_equal(s2->hot[0], 1), assert_int_equal(s2->hot[1], 5), assert_int_equal(s2->hot[2], 2);
    assert_int_equal(sl->hot[0], -1), assert_int_equal(sl->hot[2], 5);
    assert_int_equal(is->hot[0], 4), assert_int_equal(is->hot[2], -1);
    assert_int_equal(c->hot_col, 2), assert_int_equal(c->hot_cols, 7), assert_int_equal(c->hot[1], 0);
    assert_null(ag_select(t, oh, 1, 3)->hot);                      /* a column: not rows */
    assert_null(ag_reshape(t, oh, 1, S(84))->hot);                 /* rows lost */
    assert_null(ag_from_array(t, 2, S(12, 7), oh->data)->hot);
    assert_null(ag_mul(t, oh, ag_full(t, 2, S(12, 7), 2))->hot);
    ag_tape_free(t);
    ag_param_free(p);
}

/* Values that no longer are the rows the mark promises (a user changed them) take
 * the dense path: the result is that of the values. */
static void onehot_changed_values_go_dense(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 5);
    ag_tensor *W = ag_param_new(2, S(3, 4), NULL);
    fill(W, &r);
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_one_hot(t, (int[]){1, 3}, 2, 4);
    x->data[1] = 0.5; /* row 0 is now 0.5 at column 1 */
    x->data[6] = 0.25;
    ag_tensor *y = ag_linear(t, x, W, NULL);
    for (int o = 0; o < 3; o++) {
        assert_true(fabs(y->data[o] - 0.5 * W->data[o * 4 + 1]) < 1e-6);
        assert_true(fabs(y->data[3 + o] - (0.25 * W->data[o * 4 + 2] + W->data[o * 4 + 3])) < 1e-6);
    }
    ag_tape_free(t);
    ag_param_free(W);
}

/* A row's result does not depend on the rows around it on the one-hot path either:
 * linear of a 64-row batch of cat(one-hot, h) gives each row's result alone, bit for bit. */
static void onehot_batch_invariant(void **state)
{
    (void)state;
    enum { N = 64, C = 57, H = 128, O = 128 };
    ag_rng r;
    ag_rng_seed(&r, 6);
    int idx[N];
    for (int n = 0; n < N; n++) idx[n] = (int)ag_rng_below(&r, C);
    ag_tensor *h = ag_param_new(2, S(N, H), NULL), *W = ag_param_new(2, S(O, C + H), NULL);
    ag_tensor *b = ag_param_new(1, S(O), NULL);
    fill(h, &r), fill(W, &r), fill(b, &r);
    ag_tape *t = ag_tape_new();
    ag_tensor *oh = ag_one_hot(t, idx, N, C);
    ag_tensor *all = ag_linear(t, ag_cat(t, (ag_tensor *[]){oh, h}, 2, 1), W, b);
    for (int n = 0; n < N; n++) {
        ag_tensor *row = ag_cat(t, (ag_tensor *[]){ag_slice(t, oh, 0, n, n + 1), ag_slice(t, h, 0, n, n + 1)}, 2, 1);
        assert_non_null(row->hot);
        ag_tensor *one = ag_linear(t, row, W, b);
        assert_memory_equal(one->data, all->data + n * O, O * sizeof(ag_float));
    }
    ag_tape_free(t);
    ag_param_free(h), ag_param_free(W), ag_param_free(b);
}

/* ---- finite differences through the one-hot paths ---- */

typedef struct {
    ag_tensor *h, *W, *b, *B;
    int N, steps;
} gc_model;

static const int gc_idx[] = {3, 0, -1, 6, 2, 2, 5, 1, 4, 0, 6, 3, 1, 2, 5, 0, 4, 4, 3, 6};

/* a small recurrence over one-hot letters: h' = tanh(linear(cat(x_s, h), W, b)), and
 * matmul(cat(h, x_s), B) summed in; N rows at a time (N < 16 defers dW) */
static ag_tensor *gc_fn(ag_tape *t, void *ud)
{
    gc_model *m = ud;
    ag_tensor *x = ag_reshape(t, ag_one_hot(t, gc_idx, m->steps * m->N, 7), 3, S(m->steps, m->N, 7));
    ag_tensor *h = m->h, *acc = NULL;
    for (int s = 0; s < m->steps; s++) {
        ag_tensor *xs = ag_select(t, x, 0, s);
        h = ag_tanh(t, ag_linear(t, ag_cat(t, (ag_tensor *[]){xs, h}, 2, 1), m->W, m->b));
        ag_tensor *side = ag_matmul(t, ag_cat(t, (ag_tensor *[]){h, xs}, 2, 1), m->B);
        acc = acc ? ag_add(t, acc, side) : side;
    }
    return ag_add(t, ag_sum(t, h), ag_sum(t, acc));
}

static void onehot_gradcheck(void **state)
{
    (void)state;
    for (int N = 1; N <= 4; N += 3) {
        enum { H = 5 };
        gc_model m = {.N = N, .steps = 20 / N > 5 ? 5 : 20 / N};
        ag_rng r;
        ag_rng_seed(&r, 7);
        m.h = ag_param_new(2, S(N, H), "h"), m.W = ag_param_new(2, S(H, 7 + H), "W");
        m.b = ag_param_new(1, S(H), "b"), m.B = ag_param_new(2, S(H + 7, 3), "B");
        ag_fill_uniform(m.h, &r, -0.5, 0.5), ag_fill_uniform(m.W, &r, -0.5, 0.5);
        ag_fill_uniform(m.b, &r, -0.5, 0.5), ag_fill_uniform(m.B, &r, -0.5, 0.5);
        ag_tensor *ps[] = {m.h, m.W, m.b, m.B};
        ag_tape *t = ag_tape_new();
        ag_gradcheck_result res;
        /* float: eps 1e-2, and a correct gradient shows 1e-5 to 1e-3 (ag.h); double: 1e-6 */
        double eps = sizeof(ag_float) == 4 ? 1e-2 : 1e-6, tol = sizeof(ag_float) == 4 ? 3e-3 : 1e-6;
        assert_int_equal(ag_gradcheck(t, gc_fn, &m, ps, 4, eps, &res), AG_OK);
        ag_gradcheck_print(stdout, &res, ps);
        assert_true(res.max_rel_err < tol);
        assert_int_equal(res.n_checked, m.h->size + m.W->size + m.b->size + m.B->size);
        ag_tape_free(t);
        for (int i = 0; i < 4; i++) ag_param_free(ps[i]);
    }
}

/* ---- views ---- */

/* reshape, and select or slice of a contiguous block, share their input's values */
static void views_share_values(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *p = ag_param_new(3, S(4, 3, 2), NULL);
    ag_tensor *r = ag_reshape(t, p, 2, S(12, 2)), *s = ag_select(t, p, 0, 2), *sl = ag_slice(t, r, 0, 5, 9);
    ag_tensor *one = ag_select(t, ag_select(t, p, 0, 1), 0, 2); /* outer dims of 1: still a block */
    assert_true(r->view_of == p && r->data == p->data);
    assert_true(s->view_of == p && s->data == p->data + 12);
    assert_true(sl->view_of == r && sl->data == p->data + 10);
    assert_true(one->data == p->data + 10);
    ag_tensor *col = ag_select(t, p, 1, 0); /* strided: a copy */
    assert_null(col->view_of);
    assert_true(col->data < p->data || col->data >= p->data + p->size);
    ag_tape_free(t);
    ag_param_free(p);
}

/* Gradients through views land in the input's, and a second backward adds the
 * parameter's gradient a second time (a view's gradient is not cleared on its own:
 * it lies in the parameter's). Exact: each element is a sum of small integers. */
static void views_gradients(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *p = ag_param_new(2, S(4, 3), NULL);
    ag_fill(p, 1);
    ag_tensor *v = ag_slice(t, ag_reshape(t, p, 1, S(12)), 0, 3, 9); /* elements 3..8 */
    ag_tensor *loss = ag_add(t, ag_sum(t, ag_mul(t, v, ag_full(t, 1, S(6), 2))), ag_sum(t, ag_select(t, p, 0, 2)));
    assert_int_equal(ag_backward(t, loss), AG_OK);
    static const ag_float want[12] = {0, 0, 0, 2, 2, 2, 3, 3, 3, 0, 0, 0};
    for (int i = 0; i < 12; i++) assert_true(p->grad[i] == want[i]);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    for (int i = 0; i < 12; i++) assert_true(p->grad[i] == 2 * want[i]);
    ag_tape_free(t);
    ag_param_free(p);
}

/* The per-gate weights of a recurrence as views of one parameter (rows of it), each
 * used at every step with one row (linear defers their dW to the end of the pass):
 * the gradient equals the one through a copy of each gate's rows. */
typedef struct {
    ag_tensor *W, *h0;
    int view;
} gates_model;

static ag_tensor *gates_fn(ag_tape *t, void *ud)
{
    gates_model *m = ud;
    ag_tensor *h = m->h0;
    for (int s = 0; s < 4; s++) {
        ag_tensor *g[2];
        for (int k = 0; k < 2; k++) {
            ag_tensor *Wk = ag_slice(t, m->W, 0, 3 * k, 3 * k + 3); /* a view */
            if (!m->view) Wk = ag_mul(t, Wk, ag_ones(t, 2, S(3, 3)));      /* an op result instead */
            g[k] = ag_linear(t, h, Wk, NULL);
        }
        h = ag_tanh(t, ag_add(t, g[0], ag_sigmoid(t, g[1])));
    }
    return ag_sum(t, h);
}

static void views_of_weights(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 8);
    gates_model m[2];
    for (int k = 0; k < 2; k++) {
        m[k].W = ag_param_new(2, S(6, 3), "W"), m[k].h0 = ag_param_new(2, S(1, 3), "h0"), m[k].view = k == 0;
        if (k == 0) ag_fill_uniform(m[0].W, &r, -1, 1), ag_fill_uniform(m[0].h0, &r, -1, 1);
        else memcpy(m[1].W->data, m[0].W->data, 18 * sizeof(ag_float)), memcpy(m[1].h0->data, m[0].h0->data, 3 * sizeof(ag_float));
    }
    ag_tape *t = ag_tape_new();
    for (int k = 0; k < 2; k++) {
        ag_tape_reset(t);
        assert_int_equal(ag_backward(t, gates_fn(t, &m[k])), AG_OK);
    }
    /* the same products (multiplying by ones is exact), added in another order: the
     * deferred one sums the 4 steps in one product. |g x| <= 1 here (tanh, sigmoid
     * and |W| <= 1 keep them so), so 4 terms of magnitude <= 1 each. */
    for (int e = 0; e < 18; e++) close_to(m[0].W->grad[e], m[1].W->grad[e], 4, 4, "dW", e);
    ag_tensor *ps[] = {m[0].W, m[0].h0};
    ag_gradcheck_result res;
    double eps = sizeof(ag_float) == 4 ? 1e-2 : 1e-6, tol = sizeof(ag_float) == 4 ? 3e-3 : 1e-6; /* as above */
    assert_int_equal(ag_gradcheck(t, gates_fn, &m[0], ps, 2, eps, &res), AG_OK);
    assert_true(res.max_rel_err < tol);
    ag_tape_free(t);
    for (int k = 0; k < 2; k++) ag_param_free(m[k].W), ag_param_free(m[k].h0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(onehot_matches_dense),   cmocka_unit_test(onehot_mark_travels),
        cmocka_unit_test(onehot_changed_values_go_dense), cmocka_unit_test(onehot_batch_invariant),
        cmocka_unit_test(onehot_gradcheck),       cmocka_unit_test(views_share_values),
        cmocka_unit_test(views_gradients),        cmocka_unit_test(views_of_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
