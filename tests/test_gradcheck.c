/* test_gradcheck.c -- every op's backward against central finite differences.
 *
 * Built twice (tests/CMakeLists.txt): against autograd_f64, where ag_float is double
 * and the check is tight, and against the float library users link.
 *
 * Tolerances (the error is max |analytic - numeric| / max(1, |analytic|, |numeric|)):
 *
 * double: EPS 1e-6, TOL 1e-6. The central difference has truncation error about
 *   EPS^2 |f'''| / 6 ~ 1e-12 for the O(1) derivatives here, and rounding error about
 *   2^-53 |f| / EPS ~ 1e-10 |f| with |f| below 100 in every case: noise is < 1e-7.
 *   A real mistake (a dropped term, a wrong sign, a factor of 2, a broadcast not
 *   summed) moves the gradient by O(0.1) or more, so 1e-6 separates the two by five
 *   orders of magnitude. negative_control below proves a wrong gradient fails.
 *
 * float: EPS 1e-2, TOL 3e-3. Rounding error in f is about 2^-24 |f| ~ 6e-8 |f|,
 *   divided by 2 EPS gives ~3e-6 |f| ~ 3e-4 for |f| < 100; truncation is
 *   EPS^2 |f'''| / 6: for div (|d^3(1/b)/db^3| = 6/b^4 < 100 for b >= 0.5) about
 *   2e-3 at worst; pow -1.5 on x >= 0.5 has |f'''| up to 300 (5e-3), but there its
 *   gradient is 8.5, so the relative error stays under 6e-4. Observed worst: 4.4e-4
 *   (pow -1.5; div 3.6e-4). TOL 3e-3 sits above the noise and still fails any O(0.1)
 *   mistake by a factor of 30.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

#ifdef AG_DOUBLE
#define EPS 1e-6
#define TOL 1e-6
#else
#define EPS 1e-2
#define TOL 3e-3
#endif

enum kind {
    K_ADD, K_SUB, K_MUL, K_DIV,
    K_NEG, K_EXP, K_LOG, K_TANH, K_SIGMOID, K_RELU, K_SCALE,
    K_SUM, K_MEAN, K_SUM_DIM, K_MEAN_DIM,
    K_MATMUL, K_LINEAR, K_LINEAR_NOBIAS,
    K_CAT, K_CAT_CONST, K_LOG_SOFTMAX, K_NLL, K_NLL_LOGSOFTMAX,
    K_SELECT, K_SLICE, K_RESHAPE, K_INDEX_SELECT,
    K_USED_TWICE, K_RECURRENCE, K_SHARED_WEIGHT, K_DETACHED, K_DETACH_OP,
    K_USER_SOFTPLUS, K_USER_GATE, K_USER_GATE_CONST,
    K_SQRT, K_POW, K_ABS, K_CLAMP, K_SOFTMAX, K_MAX_DIM, K_MIN_DIM,
    K_PERMUTE, K_TRANSPOSE, K_BMM, K_STACK, K_EMBEDDING, K_EMBEDDING_PAD,
    K_CROSS_ENTROPY, K_MSE, K_BCE
};

/* ---- ops written as a user would, through the public ag_op API (ag.h, "your own
 * ops"): they must be checked like the built-in ones ---- */

#include <math.h>

/* softplus(x) = log(1 + e^x);  dx += g * sigmoid(x) */
static ag_status softplus_backward(ag_tape *t, const ag_node *n)
{
    ag_tensor *x = ag_node_in(n, 0), *y = ag_node_out(n);
    ag_float *dx = ag_grad(t, x);
    for (int i = 0; dx && i < x->size; i++) dx[i] += y->grad[i] / (1 + exp(-(double)x->data[i]));
    return ag_tape_status(t);
}
static const ag_op softplus_op = {"softplus", softplus_backward};

static ag_tensor *softplus(ag_tape *t, ag_tensor *x)
{
    if (!ag_op_inputs(t, &softplus_op, &x, 1)) return NULL;
    ag_tensor *y = ag_op_output(t, &softplus_op, x->rank, x->shape);
    if (!y) return NULL;
    for (int i = 0; i < x->size; i++) y->data[i] = (ag_float)log1p(exp((double)x->data[i]));
    ag_op_record(t, &softplus_op, y, &x, 1, 0);
    return ag_tape_status(t) == AG_OK ? y : NULL;
}

/* gate(x, y) = x * sigmoid(k y), k saved with the node:
 *   dx += g s      dy += g x k s (1 - s),   s = sigmoid(k y) */
typedef struct {
    double k;
} gate_saved;

static ag_status gate_backward(ag_tape *t, const ag_node *n)
{
    ag_tensor *x = ag_node_in(n, 0), *y = ag_node_in(n, 1), *z = ag_node_out(n);
    double k = ((const gate_saved *)ag_node_saved(n))->k;
    ag_float *dx = ag_grad(t, x), *dy = ag_grad(t, y);
    for (int i = 0; i < x->size; i++) {
        double s = 1 / (1 + exp(-k * y->data[i]));
        if (dx) dx[i] += (ag_float)(z->grad[i] * s);
        if (dy) dy[i] += (ag_float)(z->grad[i] * x->data[i] * k * s * (1 - s));
    }
    return ag_tape_status(t);
}
static const ag_op gate_op = {"gate", gate_backward};

static ag_tensor *gate(ag_tape *t, ag_tensor *x, ag_tensor *y, double k)
{
    ag_tensor *in[2] = {x, y};
    if (!ag_op_inputs(t, &gate_op, in, 2)) return NULL;
    if (!ag_same_shape(x, y)) return ag_tape_fail(t, AG_ESHAPE, "gate: x and y differ in shape");
    ag_tensor *z = ag_op_output(t, &gate_op, x->rank, x->shape);
    if (!z) return NULL;
    for (int i = 0; i < x->size; i++) z->data[i] = (ag_float)(x->data[i] / (1 + exp(-k * y->data[i])));
    ag_node *n = ag_op_record(t, &gate_op, z, in, 2, sizeof(gate_saved));
    if (n) ((gate_saved *)ag_node_saved(n))->k = k;
    return ag_tape_status(t) == AG_OK ? z : NULL;
}

typedef struct {
    enum kind kind;
    ag_tensor *p[4];
    int np;
    int dim, keepdim, a, b;
    int targets[8];
    ag_reduction red;
    ag_rng rng;
    double s1, s2;  /* pow's exponent; clamp's bounds */
    int dims[4];    /* permute's */
    int n;          /* embedding: indices in targets[] */
    ag_cross_entropy_options ce;
} fx;

static ag_tensor *run(ag_tape *t, void *ud)
{
    fx *f = ud;
    ag_tensor **p = f->p;
    switch (f->kind) {
    case K_ADD: return ag_add(t, p[0], p[1]);
    case K_SUB: return ag_sub(t, p[0], p[1]);
    case K_MUL: return ag_mul(t, p[0], p[1]);
    case K_DIV: return ag_div(t, p[0], p[1]);
    case K_NEG: return ag_neg(t, p[0]);
    case K_EXP: return ag_exp(t, p[0]);
    case K_LOG: return ag_log(t, p[0]);
    case K_TANH: return ag_tanh(t, p[0]);
    case K_SIGMOID: return ag_sigmoid(t, p[0]);
    case K_RELU: return ag_relu(t, p[0]);
    case K_SCALE: return ag_scale(t, p[0], (ag_float)-1.75);
    case K_SUM: return ag_sum(t, p[0]);
    case K_MEAN: return ag_mean(t, p[0]);
    case K_SUM_DIM: return ag_sum_dim(t, p[0], f->dim, f->keepdim);
    case K_MEAN_DIM: return ag_mean_dim(t, p[0], f->dim, f->keepdim);
    case K_MATMUL: return ag_matmul(t, p[0], p[1]);
    case K_LINEAR: return ag_linear(t, p[0], p[1], p[2]);
    case K_LINEAR_NOBIAS: return ag_linear(t, p[0], p[1], NULL);
    case K_CAT: return ag_cat(t, p, f->np, f->dim);
    case K_CAT_CONST: {
        /* a constant between two parameters: only the parameters get gradients */
        ag_tensor *c = ag_full(t, p[0]->rank, p[0]->shape, (ag_float)0.5);
        ag_tensor *xs[3] = {p[0], c, p[1]};
        return ag_cat(t, xs, 3, f->dim);
    }
    case K_LOG_SOFTMAX: return ag_log_softmax(t, p[0], f->dim);
    case K_NLL: return ag_nll_loss(t, p[0], f->targets, f->red);
    case K_NLL_LOGSOFTMAX: return ag_nll_loss(t, ag_log_softmax(t, p[0], 1), f->targets, f->red);
    case K_SELECT: return ag_select(t, p[0], f->dim, f->a);
    case K_SLICE: return ag_slice(t, p[0], f->dim, f->a, f->b);
    case K_RESHAPE: return ag_reshape(t, p[0], 3, (int[]){4, -1, 2});
    case K_INDEX_SELECT: /* entries 2, 0, 2, 1 of dim `dim` (size 3): one repeated, all used */
        return ag_index_select(t, p[0], f->dim, (int[]){2, 0, 2, 1}, 4);
    case K_USED_TWICE: /* x * x + x: three uses of x */
        return ag_add(t, ag_mul(t, p[0], p[0]), p[0]);
    case K_RECURRENCE: {
        /* h_t = tanh(W cat(x_t, h_{t-1}) + b) for 5 steps; x: (5, N=2, 3), h: (2, 4) */
        ag_tensor *h = ag_zeros(t, 2, (int[]){2, 4});
        for (int s = 0; s < 5; s++) {
            ag_tensor *xs[2] = {ag_select(t, p[0], 0, s), h};
            h = ag_tanh(t, ag_linear(t, ag_cat(t, xs, 2, 1), p[1], p[2]));
        }
        return h;
    }
    case K_SHARED_WEIGHT: {
        /* one weight in four linears: 2 and 3 rows (gradients deferred to the end of the
         * pass and stacked), 20 rows (added at once), and a computed weight 2W (not a
         * parameter: added at once, then through the scale) */
        ag_tensor *x = p[0], *W = p[1];
        ag_tensor *a = ag_linear(t, ag_slice(t, x, 0, 0, 2), W, NULL);
        ag_tensor *b = ag_linear(t, ag_slice(t, x, 0, 2, 5), W, NULL);
        ag_tensor *c = ag_linear(t, x, W, p[2]);
        ag_tensor *d = ag_linear(t, ag_slice(t, x, 0, 5, 7), ag_scale(t, W, 2), NULL);
        ag_tensor *parts[4] = {a, b, ag_tanh(t, c), d};
        return ag_cat(t, parts, 4, 0);
    }
    case K_DETACH_OP: /* p * detach(p) + tanh(detach(p)): the same missing term as above */
        return ag_add(t, ag_mul(t, p[0], ag_detach(t, p[0])), ag_tanh(t, ag_detach(t, p[0])));
    case K_USER_SOFTPLUS: /* inside a composition, so gradients flow in and out of it */
        return ag_mul(t, softplus(t, ag_scale(t, p[0], 2)), p[0]);
    case K_USER_GATE:
        return ag_tanh(t, gate(t, p[0], p[1], 1.5));
    case K_USER_GATE_CONST: /* y a constant: the op's backward must leave it alone */
        return gate(t, p[0], ag_full(t, p[0]->rank, p[0]->shape, (ag_float)0.3), -2);
    case K_SQRT: return ag_sqrt(t, p[0]);
    case K_POW: return ag_pow(t, p[0], (ag_float)f->s1);
    case K_ABS: return ag_abs(t, p[0]);
    case K_CLAMP: return ag_clamp(t, p[0], (ag_float)f->s1, (ag_float)f->s2);
    case K_SOFTMAX: return ag_softmax(t, p[0], f->dim);
    case K_MAX_DIM: return ag_max_dim(t, p[0], f->dim, f->keepdim, NULL);
    case K_MIN_DIM: return ag_min_dim(t, p[0], f->dim, f->keepdim, NULL);
    case K_PERMUTE: return ag_permute(t, p[0], f->dims);
    case K_TRANSPOSE: return ag_transpose(t, p[0], f->a, f->b);
    case K_BMM: return ag_bmm(t, p[0], p[1]);
    case K_STACK: return ag_stack(t, p, f->np, f->dim);
    case K_EMBEDDING: return ag_embedding(t, p[0], f->targets, f->n, -1);
    case K_EMBEDDING_PAD: {
        /* rows at padding_idx get no gradient although the forward reads them, so the
         * output is masked there: then the finite difference must find 0 too */
        ag_tensor *e = ag_embedding(t, p[0], f->targets, f->n, f->a);
        ag_tensor *mask = ag_zeros(t, 2, (int[]){f->n, 1});
        for (int j = 0; mask && j < f->n; j++) mask->data[j] = f->targets[j] != f->a;
        return ag_mul(t, e, mask);
    }
    case K_CROSS_ENTROPY: return ag_cross_entropy(t, p[0], f->targets, &f->ce);
    case K_MSE: return ag_mse_loss(t, p[0], p[1], f->red);
    case K_BCE: return ag_bce_with_logits(t, p[0], p[1], f->red);
    case K_DETACHED: {
        /* p * copy-of-p: the copy is a constant, so the tape's gradient misses a term */
        ag_tensor *c = ag_from_array(t, p[0]->rank, p[0]->shape, p[0]->data);
        return ag_mul(t, p[0], c);
    }
    }
    return NULL;
}

static ag_tensor *param(fx *f, double lo, double hi, int rank, const int *shape)
{
    static const char *names[] = {"p0", "p1", "p2", "p3"};
    ag_tensor *x = ag_param_new(rank, shape, names[f->np]);
    assert_non_null(x);
    ag_fill_uniform(x, &f->rng, lo, hi);
    f->p[f->np++] = x;
    return x;
}

/* values in +-[0.2, 1): clear of relu's kink by far more than EPS */
static void away_from_zero(ag_tensor *x)
{
    for (int i = 0; i < x->size; i++) x->data[i] = (ag_float)(x->data[i] < 0 ? x->data[i] - 0.2 : x->data[i] + 0.2);
}

static void begin(fx *f, enum kind k)
{
    memset(f, 0, sizeof *f);
    f->kind = k;
    ag_rng_seed(&f->rng, 1000u + (unsigned)k);
}

/* Runs the check, prints the figures, and frees the parameters. */
static double check(fx *f, const char *what)
{
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_gradcheck_result r;
    ag_status s = ag_gradcheck(t, run, f, f->p, f->np, EPS, &r);
    if (s != AG_OK) fprintf(stderr, "%s: %s\n", what, ag_tape_error(t));
    assert_int_equal(s, AG_OK);
    printf("  %-34s", what);
    ag_gradcheck_print(stdout, &r, f->p);
    assert_true(r.n_checked > 0);
    ag_tape_free(t);
    for (int i = 0; i < f->np; i++) ag_param_free(f->p[i]);
    return r.max_rel_err;
}

static void check_ok(fx *f, const char *what)
{
    double err = check(f, what);
    assert_true(err <= TOL);
}

static void broadcasting(void **state)
{
    (void)state;
    /* pairs of shapes (rank, dims) covering: equal, trailing vector, column, both sides
     * broadcast, scalar, rank 3 against rank 2, rank 4 */
    static const struct { int ra, a[4], rb, b[4]; } pairs[] = {
        {2, {2, 3}, 2, {2, 3}},
        {2, {2, 3}, 1, {3}},
        {2, {2, 3}, 2, {2, 1}},
        {2, {1, 3}, 2, {2, 1}},
        {0, {0}, 2, {2, 3}},
        {3, {2, 1, 3}, 2, {4, 1}},
        {4, {2, 1, 3, 1}, 2, {3, 2}},
        {4, {3, 1, 2, 2}, 4, {1, 4, 1, 2}},
    };
    static const enum kind ops[] = {K_ADD, K_SUB, K_MUL, K_DIV};
    static const char *names[] = {"add", "sub", "mul", "div"};
    for (size_t o = 0; o < 4; o++)
        for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
            for (int swap = 0; swap < 2; swap++) {
                fx f;
                begin(&f, ops[o]);
                int ra = swap ? pairs[i].rb : pairs[i].ra, rb = swap ? pairs[i].ra : pairs[i].rb;
                const int *a = swap ? pairs[i].b : pairs[i].a, *b = swap ? pairs[i].a : pairs[i].b;
                param(&f, -1, 1, ra, a);
                param(&f, 0.5, 1.5, rb, b); /* divisors kept away from 0 */
                char what[64];
                snprintf(what, sizeof what, "%s pair %zu%s", names[o], i, swap ? " swapped" : "");
                check_ok(&f, what);
            }
        }
}

static void unary(void **state)
{
    (void)state;
    static const struct { enum kind k; const char *name; double lo, hi; } u[] = {
        {K_NEG, "neg", -1, 1},   {K_EXP, "exp", -2, 2},         {K_LOG, "log", 0.5, 2},
        {K_TANH, "tanh", -2, 2}, {K_SIGMOID, "sigmoid", -3, 3}, {K_RELU, "relu", -0.8, 0.8},
        {K_SCALE, "scale", -1, 1},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        fx f;
        begin(&f, u[i].k);
        ag_tensor *x = param(&f, u[i].lo, u[i].hi, 3, (int[]){2, 3, 4});
        if (u[i].k == K_RELU) away_from_zero(x);
        check_ok(&f, u[i].name);
    }
}

static void reductions(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_SUM);
    param(&f, -1, 1, 3, (int[]){2, 3, 4});
    check_ok(&f, "sum");
    begin(&f, K_MEAN);
    param(&f, -1, 1, 3, (int[]){2, 3, 4});
    check_ok(&f, "mean");
    for (int k = 0; k < 2; k++)
        for (int dim = -1; dim < 3; dim++)
            for (int keep = 0; keep < 2; keep++) {
                begin(&f, k ? K_MEAN_DIM : K_SUM_DIM);
                f.dim = dim;
                f.keepdim = keep;
                param(&f, -1, 1, 3, (int[]){2, 3, 4});
                char what[64];
                snprintf(what, sizeof what, "%s dim %d keepdim %d", k ? "mean_dim" : "sum_dim", dim, keep);
                check_ok(&f, what);
            }
}

static void products(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_MATMUL);
    param(&f, -1, 1, 2, (int[]){3, 4});
    param(&f, -1, 1, 2, (int[]){4, 5});
    check_ok(&f, "matmul (3,4).(4,5)");
    begin(&f, K_LINEAR);
    param(&f, -1, 1, 2, (int[]){3, 4});
    param(&f, -1, 1, 2, (int[]){5, 4});
    param(&f, -1, 1, 1, (int[]){5});
    check_ok(&f, "linear x(3,4) W(5,4) b(5)");
    begin(&f, K_LINEAR_NOBIAS);
    param(&f, -1, 1, 2, (int[]){1, 6});
    param(&f, -1, 1, 2, (int[]){2, 6});
    check_ok(&f, "linear x(1,6) W(2,6), no bias");
}

static void cat(void **state)
{
    (void)state;
    for (int dim = 0; dim < 3; dim++) {
        fx f;
        begin(&f, K_CAT);
        f.dim = dim;
        for (int k = 0; k < 3; k++) {
            int shape[3] = {2, 3, 2};
            shape[dim] = k + 1; /* lengths 1, 2, 3 along dim */
            param(&f, -1, 1, 3, shape);
        }
        char what[64];
        snprintf(what, sizeof what, "cat 3 tensors dim %d", dim);
        check_ok(&f, what);
    }
    fx f;
    begin(&f, K_CAT_CONST);
    f.dim = -1;
    param(&f, -1, 1, 2, (int[]){2, 3});
    param(&f, -1, 1, 2, (int[]){2, 3});
    check_ok(&f, "cat with a constant, dim -1");
}

static void log_softmax(void **state)
{
    (void)state;
    for (int dim = 0; dim < 3; dim++) {
        fx f;
        begin(&f, K_LOG_SOFTMAX);
        f.dim = dim;
        param(&f, -3, 3, 3, (int[]){2, 3, 4});
        char what[64];
        snprintf(what, sizeof what, "log_softmax dim %d", dim);
        check_ok(&f, what);
    }
}

static void nll(void **state)
{
    (void)state;
    for (int red = 0; red < 2; red++) {
        fx f;
        begin(&f, K_NLL);
        f.red = red ? AG_SUM : AG_MEAN;
        memcpy(f.targets, (int[]){2, 0, 4, 2}, 4 * sizeof(int));
        param(&f, -3, 0, 2, (int[]){4, 5});
        check_ok(&f, red ? "nll_loss sum" : "nll_loss mean");
        begin(&f, K_NLL_LOGSOFTMAX);
        f.red = red ? AG_SUM : AG_MEAN;
        memcpy(f.targets, (int[]){1, 3, 3}, 3 * sizeof(int));
        param(&f, -2, 2, 2, (int[]){3, 4});
        check_ok(&f, red ? "nll(log_softmax) sum" : "nll(log_softmax) mean");
    }
}

static void select_slice_index_reshape(void **state)
{
    (void)state;
    for (int dim = 0; dim < 3; dim++) {
        fx f;
        begin(&f, K_SELECT);
        f.dim = dim;
        f.a = 1;
        param(&f, -1, 1, 3, (int[]){2, 3, 4});
        char what[64];
        snprintf(what, sizeof what, "select dim %d index 1", dim);
        check_ok(&f, what);
        begin(&f, K_SLICE);
        f.dim = dim;
        f.a = 1;
        f.b = 2;
        param(&f, -1, 1, 3, (int[]){2, 3, 4});
        snprintf(what, sizeof what, "slice dim %d [1, 2)", dim);
        check_ok(&f, what);
    }
    fx f;
    begin(&f, K_SLICE);
    f.dim = 2;
    f.a = 1;
    f.b = 4;
    param(&f, -1, 1, 3, (int[]){2, 3, 4});
    check_ok(&f, "slice dim 2 [1, 4)");
    for (int dim = 0; dim < 3; dim++) {
        begin(&f, K_INDEX_SELECT);
        f.dim = dim;
        param(&f, -1, 1, 3, dim == 0 ? (int[]){3, 2, 4} : dim == 1 ? (int[]){2, 3, 4} : (int[]){2, 4, 3});
        char what[64];
        snprintf(what, sizeof what, "index_select dim %d {2, 0, 2, 1}", dim);
        check_ok(&f, what);
    }
    begin(&f, K_RESHAPE);
    param(&f, -1, 1, 2, (int[]){2, 12});
    check_ok(&f, "reshape (2,12) -> (4,-1,2)");
}

static void compositions(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_USED_TWICE);
    param(&f, -1, 1, 2, (int[]){2, 3});
    check_ok(&f, "x*x + x (x used three times)");
    begin(&f, K_RECURRENCE);
    param(&f, -1, 1, 3, (int[]){5, 2, 3}); /* x: (T, N, I) */
    param(&f, -0.5, 0.5, 2, (int[]){4, 7}); /* W: (H, I+H) */
    param(&f, -0.5, 0.5, 1, (int[]){4});    /* b: (H) */
    check_ok(&f, "tanh recurrence, 5 steps");
    begin(&f, K_SHARED_WEIGHT);
    param(&f, -1, 1, 2, (int[]){20, 3});    /* x: (20, I) */
    param(&f, -0.5, 0.5, 2, (int[]){4, 3}); /* W: (O, I) */
    param(&f, -0.5, 0.5, 1, (int[]){4});    /* b: (O) */
    check_ok(&f, "shared weight, 2+3+20+2 rows");
}

static void user_ops(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_USER_SOFTPLUS);
    param(&f, -2, 2, 2, (int[]){3, 4});
    check_ok(&f, "user op softplus(2x) * x");
    begin(&f, K_USER_GATE);
    param(&f, -1, 1, 2, (int[]){2, 5});
    param(&f, -1, 1, 2, (int[]){2, 5});
    check_ok(&f, "user op tanh(gate(x, y))");
    begin(&f, K_USER_GATE_CONST);
    param(&f, -1, 1, 1, (int[]){7});
    check_ok(&f, "user op gate(x, constant)");
}

/* values pushed to at least `margin` from c: the kinks of abs and clamp stay far
 * beyond EPS, so both sides of the difference see the same branch */
static void away_from(ag_tensor *x, double c, double margin)
{
    for (int i = 0; i < x->size; i++) {
        double v = x->data[i];
        if (fabs(v - c) < margin) x->data[i] = (ag_float)(v < c ? c - margin - (c - v) : c + margin + (v - c));
    }
}

/* x's values become a shuffled ladder of step 0.1: no two within 0.1, so max and min
 * have no ties and the runner-up is 5 EPS away even in float */
static void distinct(ag_tensor *x, ag_rng *r)
{
    for (int i = 0; i < x->size; i++) x->data[i] = (ag_float)(0.1 * (i - x->size / 2));
    for (int i = x->size - 1; i > 0; i--) {
        int j = ag_rng_below(r, i + 1);
        ag_float v = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = v;
    }
}

static void new_elementwise(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_SQRT);
    param(&f, 0.5, 2, 3, (int[]){2, 3, 4});
    check_ok(&f, "sqrt");
    static const double exps[] = {2, 0.5, -1.5, 3, 0, 1};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        begin(&f, K_POW);
        f.s1 = exps[i];
        param(&f, 0.5, 1.5, 2, (int[]){3, 4});
        char what[64];
        snprintf(what, sizeof what, "pow %g", exps[i]);
        check_ok(&f, what);
    }
    begin(&f, K_POW); /* an odd integer power of negative values */
    f.s1 = 3;
    param(&f, -1.5, -0.5, 1, (int[]){5});
    check_ok(&f, "pow 3 of x < 0");
    begin(&f, K_ABS);
    away_from_zero(param(&f, -0.8, 0.8, 3, (int[]){2, 3, 4}));
    check_ok(&f, "abs");
    /* clamp: both bounds, lower only, upper only; x kept 0.1 from each bound */
    static const struct { double lo, hi; const char *name; } cl[] = {
        {-0.5, 0.5, "clamp [-0.5, 0.5]"}, {-0.25, INFINITY, "clamp [-0.25, inf)"},
        {-INFINITY, 0.3, "clamp (-inf, 0.3]"},
    };
    for (size_t i = 0; i < 3; i++) {
        begin(&f, K_CLAMP);
        f.s1 = cl[i].lo;
        f.s2 = cl[i].hi;
        ag_tensor *x = param(&f, -1, 1, 2, (int[]){4, 5});
        if (isfinite(cl[i].lo)) away_from(x, cl[i].lo, 0.1);
        if (isfinite(cl[i].hi)) away_from(x, cl[i].hi, 0.1);
        check_ok(&f, cl[i].name);
    }
}

static void softmax_max_min(void **state)
{
    (void)state;
    for (int dim = -3; dim < 3; dim++) {
        fx f;
        begin(&f, K_SOFTMAX);
        f.dim = dim;
        param(&f, -3, 3, 3, (int[]){2, 3, 4});
        char what[64];
        snprintf(what, sizeof what, "softmax dim %d", dim);
        check_ok(&f, what);
    }
    for (int k = 0; k < 2; k++)
        for (int dim = -3; dim < 3; dim++)
            for (int keep = 0; keep < 2; keep++) {
                fx f;
                begin(&f, k ? K_MIN_DIM : K_MAX_DIM);
                f.dim = dim;
                f.keepdim = keep;
                distinct(param(&f, -1, 1, 3, (int[]){2, 3, 4}), &f.rng);
                char what[64];
                snprintf(what, sizeof what, "%s dim %d keepdim %d", k ? "min_dim" : "max_dim", dim, keep);
                check_ok(&f, what);
            }
}

static void permute_transpose_bmm_stack(void **state)
{
    (void)state;
    static const int perms[][4] = {{2, 0, 1}, {1, 2, 0}, {-1, 0, 1}, {0, 2, 1}};
    for (int i = 0; i < 4; i++) {
        fx f;
        begin(&f, K_PERMUTE);
        memcpy(f.dims, perms[i], sizeof f.dims);
        param(&f, -1, 1, 3, (int[]){2, 3, 4});
        char what[64];
        snprintf(what, sizeof what, "permute (2,3,4) {%d, %d, %d}", perms[i][0], perms[i][1], perms[i][2]);
        check_ok(&f, what);
    }
    fx f;
    begin(&f, K_PERMUTE);
    memcpy(f.dims, (int[]){3, 1, 0, 2}, sizeof f.dims);
    param(&f, -1, 1, 4, (int[]){2, 3, 1, 4});
    check_ok(&f, "permute (2,3,1,4) {3, 1, 0, 2}");
    static const int tr[][2] = {{0, 1}, {0, 2}, {1, -1}, {-1, -3}, {1, 1}};
    for (int i = 0; i < 5; i++) {
        begin(&f, K_TRANSPOSE);
        f.a = tr[i][0];
        f.b = tr[i][1];
        param(&f, -1, 1, 3, (int[]){2, 3, 4});
        char what[64];
        snprintf(what, sizeof what, "transpose (2,3,4) %d %d", tr[i][0], tr[i][1]);
        check_ok(&f, what);
    }
    begin(&f, K_BMM);
    param(&f, -1, 1, 3, (int[]){2, 3, 4});
    param(&f, -1, 1, 3, (int[]){2, 4, 5});
    check_ok(&f, "bmm (2,3,4).(2,4,5)");
    begin(&f, K_BMM);
    param(&f, -1, 1, 3, (int[]){3, 1, 20});
    param(&f, -1, 1, 3, (int[]){3, 20, 17});
    check_ok(&f, "bmm (3,1,20).(3,20,17)");
    for (int dim = -3; dim < 3; dim++) {
        begin(&f, K_STACK);
        f.dim = dim;
        for (int k = 0; k < 3; k++) param(&f, -1, 1, 2, (int[]){2, 3});
        char what[64];
        snprintf(what, sizeof what, "stack 3 x (2,3) dim %d", dim);
        check_ok(&f, what);
    }
}

static void embedding(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_EMBEDDING);
    memcpy(f.targets, (int[]){0, 2, 2, 4, 1, 2}, 6 * sizeof(int));
    f.n = 6;
    param(&f, -1, 1, 2, (int[]){5, 3});
    check_ok(&f, "embedding (5,3), repeated indices");
    begin(&f, K_EMBEDDING_PAD);
    memcpy(f.targets, (int[]){0, 2, 2, 4, 1, 2}, 6 * sizeof(int));
    f.n = 6;
    f.a = 2;
    param(&f, -1, 1, 2, (int[]){5, 3});
    check_ok(&f, "embedding padding_idx 2 (masked)");
}

static void losses(void **state)
{
    (void)state;
    static const struct { ag_reduction red; int ignore; double eps; const char *name; } ce[] = {
        {AG_MEAN, -100, 0, "cross_entropy mean"},
        {AG_SUM, -100, 0, "cross_entropy sum"},
        {AG_MEAN, 1, 0.2, "ce mean, ignore 1, smoothing 0.2"},
        {AG_SUM, 1, 0.2, "ce sum, ignore 1, smoothing 0.2"},
        {AG_MEAN, -100, 1, "ce mean, smoothing 1"},
    };
    for (size_t i = 0; i < sizeof ce / sizeof ce[0]; i++) {
        fx f;
        begin(&f, K_CROSS_ENTROPY);
        f.ce = (ag_cross_entropy_options){ce[i].red, ce[i].ignore, ce[i].eps};
        memcpy(f.targets, (int[]){2, 1, 4, 0, 1}, 5 * sizeof(int));
        param(&f, -2, 2, 2, (int[]){5, 5});
        check_ok(&f, ce[i].name);
    }
    for (int red = 0; red < 2; red++) {
        fx f;
        begin(&f, K_MSE);
        f.red = red ? AG_SUM : AG_MEAN;
        param(&f, -1, 1, 2, (int[]){3, 4});
        param(&f, -1, 1, 2, (int[]){3, 4});
        check_ok(&f, red ? "mse_loss sum" : "mse_loss mean");
        begin(&f, K_BCE);
        f.red = red ? AG_SUM : AG_MEAN;
        param(&f, -4, 4, 2, (int[]){3, 4});
        param(&f, 0, 1, 2, (int[]){3, 4});
        check_ok(&f, red ? "bce_with_logits sum" : "bce_with_logits mean");
    }
}

/* The check must fail a wrong gradient: here the tape misses d/dp of the detached copy,
 * so analytic = p while numeric = 2p. */
static void negative_control(void **state)
{
    (void)state;
    fx f;
    begin(&f, K_DETACHED);
    param(&f, 0.5, 1, 1, (int[]){6});
    double err = check(&f, "negative control (must fail)");
    assert_true(err > 10 * TOL);
    /* and the same through ag_detach, which is what detach is for */
    begin(&f, K_DETACH_OP);
    param(&f, 0.5, 1, 1, (int[]){6});
    err = check(&f, "p*detach(p) + tanh(detach(p)) (must fail)");
    assert_true(err > 10 * TOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcasting),   cmocka_unit_test(unary),
        cmocka_unit_test(reductions),     cmocka_unit_test(products),
        cmocka_unit_test(cat),            cmocka_unit_test(log_softmax),
        cmocka_unit_test(nll),            cmocka_unit_test(select_slice_index_reshape),
        cmocka_unit_test(compositions),   cmocka_unit_test(user_ops),
        cmocka_unit_test(new_elementwise), cmocka_unit_test(softmax_max_min),
        cmocka_unit_test(permute_transpose_bmm_stack), cmocka_unit_test(embedding),
        cmocka_unit_test(losses),
        cmocka_unit_test(negative_control),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
