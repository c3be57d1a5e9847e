/* test_cell.c -- the fused recurrent cells, ag_gru_cell and ag_lstm_cell.
 *
 * Built twice (tests/CMakeLists.txt): against the float library users link and against
 * autograd_f64.
 *
 * 1. Against the composition they replace (nn_rnn.c's cell(): add, sigmoid, tanh, mul,
 *    sub as separate ops): the forward values must be the same bits, with recording on
 *    (gates kept with the node) and off (gates on the stack, in chunks of 256), at
 *    sizes below, above and not a multiple of a vector or of a chunk, with saturated
 *    gates among the values. The gradients of every input, from one random upstream
 *    gradient, must agree within GRAD_TOL on |fused - composed| / max(1, |composed|):
 *
 *    float, 1e-5. The fused backward does the composition's own operations (dn = g - g z,
 *    not g (1 - z)), but the compiler may contract a * b + c differently in the two
 *    files, and an input that receives several terms (a tensor passed twice) adds them
 *    in another order. The longest chain (GRU: dh' -> dn -> da_n -> dr -> da_r) has 8
 *    rounded steps. Along products each step costs 2^-24 ~ 6e-8 relative to the result
 *    itself; the one difference (dn = g - g z) costs 2^-24 of |g| < 1.5, carried on
 *    by factors below |gh| <= 2 (the hidden projections stay in [-2, 2]; the input
 *    projections and the states also take values up to +-100 that saturate the gates):
 *    8 * 6e-8 * 3 ~ 1.5e-6 at most. 1e-5 is above that; a wrong formula is off by 1e-2
 *    or more. double, 1e-13: the same count with 2^-53 ~ 1.1e-16, under 3e-15.
 *
 * 2. ag_gradcheck over every input as a parameter, N = 1 and 5, H = 3..7, with the
 *    tolerances of tests/test_gradcheck.c (eps 1e-2, 3e-3 in float; 1e-6, 1e-6 in
 *    double; the reasoning is written there), and over a tensor passed twice, views,
 *    and an LSTM's c' that feeds a second step.
 *
 * 3. Errors: NULL arrays and entries, shapes, stale inputs, a NULL c_out, out of memory
 *    at every allocation of a forward and backward pass.
 *
 * 4. The ops by name in ag_dot's output.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"
#include "counting_alloc.h"

#ifdef AG_DOUBLE
#define EPS 1e-6
#define TOL 1e-6
#define GRAD_TOL 1e-13
#else
#define EPS 1e-2
#define TOL 3e-3
#define GRAD_TOL 1e-5
#endif

#define S2(a, b) ((int[]){a, b})

/* ---- the composition the fused ops replace (nn_rnn.c's cell(), before them) ---- */

static ag_tensor *gru_composed(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *h)
{
    ag_tensor *r = ag_sigmoid(t, ag_add(t, gi[0], gh[0]));
    ag_tensor *z = ag_sigmoid(t, ag_add(t, gi[1], gh[1]));
    ag_tensor *n = ag_tanh(t, ag_add(t, gi[2], ag_mul(t, r, gh[2])));
    return ag_add(t, n, ag_mul(t, z, ag_sub(t, h, n)));
}

static ag_tensor *lstm_composed(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *c,
                                ag_tensor **c_out)
{
    ag_tensor *i = ag_sigmoid(t, ag_add(t, gi[0], gh[0]));
    ag_tensor *f = ag_sigmoid(t, ag_add(t, gi[1], gh[1]));
    ag_tensor *gg = ag_tanh(t, ag_add(t, gi[2], gh[2]));
    ag_tensor *o = ag_sigmoid(t, ag_add(t, gi[3], gh[3]));
    *c_out = ag_add(t, ag_mul(t, f, c), ag_mul(t, i, gg));
    return ag_mul(t, o, ag_tanh(t, *c_out));
}

/* ---- a cell's inputs: gi[0..G-1], gh[0..G-1], the state; p[k] in that order ---- */

typedef struct {
    int lstm, G, N, H, np;
    ag_tensor *p[9];
} cellset;

static void cellset_new(cellset *s, int lstm, int N, int H, unsigned seed, int extremes)
{
    memset(s, 0, sizeof *s);
    s->lstm = lstm;
    s->G = lstm ? 4 : 3;
    s->N = N;
    s->H = H;
    s->np = 2 * s->G + 1;
    ag_rng rng;
    ag_rng_seed(&rng, seed);
    for (int k = 0; k < s->np; k++) {
        char name[16];
        if (k < 2 * s->G) snprintf(name, sizeof name, "%s%d", k < s->G ? "gi" : "gh", k % s->G);
        else snprintf(name, sizeof name, "%s", lstm ? "c" : "h");
        s->p[k] = ag_param_new(2, S2(N, H), name);
        assert_non_null(s->p[k]);
        ag_fill_uniform(s->p[k], &rng, -2, 2);
        /* saturated gates and states in the input projections and the state: sigmoid and
         * tanh at their flat ends, both signs */
        static const ag_float big[] = {30, -30, 100, -100, 9, -9, 20, -20};
        int size = s->p[k]->size, some = extremes && (k < s->G || k == 2 * s->G);
        for (int e = 0; some && e < 8 && e < size / 2; e++) s->p[k]->data[(3 * e + 5 * k) % size] = big[(e + k) % 8];
    }
}

static void cellset_free(cellset *s)
{
    for (int k = 0; k < s->np; k++) ag_param_free(s->p[k]);
}

/* One step, fused or composed; an LSTM gives stack(h', c') (2, N, H), so that the
 * upstream gradient reaches c' both through h' and directly. */
static ag_tensor *step(ag_tape *t, const cellset *s, int fused)
{
    ag_tensor *const *gi = s->p, *const *gh = s->p + s->G, *st = s->p[2 * s->G];
    if (!s->lstm) return fused ? ag_gru_cell(t, gi, gh, st) : gru_composed(t, gi, gh, st);
    ag_tensor *c2 = NULL, *h2 = fused ? ag_lstm_cell(t, gi, gh, st, &c2) : lstm_composed(t, gi, gh, st, &c2);
    return ag_stack(t, (ag_tensor *[]){h2, c2}, 2, 0);
}

/* max over v of |v - ref| / max(1, |ref|) */
static double max_err(const ag_float *v, const ag_float *ref, int n)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)v[i] - (double)ref[i]) / fmax(1, fabs((double)ref[i]));
        if (!(d <= worst)) worst = d; /* a NaN is the worst */
    }
    return worst;
}

/* ---- 1. the same values as the composition ---- */

static void against_composition(int lstm, int N, int H, unsigned seed)
{
    cellset s;
    cellset_new(&s, lstm, N, H, seed, 1);
    int n = N * H, no = lstm ? 2 * n : n;
    ag_float *seedv = malloc((size_t)no * sizeof *seedv), *out[2], *grad[2][9];
    assert_non_null(seedv);
    ag_rng rng;
    ag_rng_seed(&rng, seed + 1);
    for (int i = 0; i < no; i++) seedv[i] = (ag_float)((ag_rng_uniform(&rng) + 0.5) * (ag_rng_uniform(&rng) < 0.5 ? -1 : 1));
    for (int fused = 0; fused < 2; fused++) {
        ag_tape *t = ag_tape_new();
        assert_non_null(t);
        for (int k = 0; k < s.np; k++) ag_zero_grad(s.p[k]);
        ag_tensor *y = step(t, &s, fused);
        assert_non_null(y);
        assert_int_equal(ag_tape_nodes(t), fused ? 1 + lstm * 2 : (lstm ? 14 : 10)); /* the LSTM's + 1: stack */
        assert_int_equal(ag_backward_seed(t, y, seedv), AG_OK);
        out[fused] = malloc((size_t)no * sizeof(ag_float));
        assert_non_null(out[fused]);
        memcpy(out[fused], y->data, (size_t)no * sizeof(ag_float));
        for (int k = 0; k < s.np; k++) {
            grad[fused][k] = malloc((size_t)n * sizeof(ag_float));
            assert_non_null(grad[fused][k]);
            memcpy(grad[fused][k], s.p[k]->grad, (size_t)n * sizeof(ag_float));
        }
        ag_tape_free(t);
    }
    /* the forward: the same bits; with recording off too (the gates then live on the stack) */
    assert_memory_equal(out[1], out[0], (size_t)no * sizeof(ag_float));
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tape_set_grad(t, 0);
    size_t before = ag_tape_bytes(t);
    ag_tensor *c2 = NULL, *const *gi = s.p, *const *gh = s.p + s.G, *st = s.p[2 * s.G];
    ag_tensor *h2 = lstm ? ag_lstm_cell(t, gi, gh, st, &c2) : ag_gru_cell(t, gi, gh, st);
    assert_non_null(h2);
    assert_int_equal(ag_tape_nodes(t), 0);
    assert_memory_equal(h2->data, out[0], (size_t)n * sizeof(ag_float));
    if (lstm) assert_memory_equal(c2->data, out[0] + n, (size_t)n * sizeof(ag_float));
    /* and nothing but the outputs on the tape: n values each, and a header */
    assert_true(ag_tape_bytes(t) - before <= (size_t)(1 + lstm) * ((size_t)n * sizeof(ag_float) + 256));
    ag_tape_free(t);
    /* the gradients: within rounding (see the top of the file) */
    double worst = 0;
    for (int k = 0; k < s.np; k++) {
        double e = max_err(grad[1][k], grad[0][k], n);
        if (e > GRAD_TOL) fprintf(stderr, "%s N=%d H=%d: gradient of %s off by %.3g\n", lstm ? "lstm" : "gru", N, H,
                                  s.p[k]->name, e);
        assert_true(e <= GRAD_TOL);
        worst = fmax(worst, e);
    }
    printf("  %s N=%-3d H=%-3d forward bit for bit, gradients worst %.2e\n", lstm ? "lstm" : "gru", N, H, worst);
    /* the comparison can fail: one gradient moved by 100 tolerances */
    grad[0][0][n / 2] += (ag_float)(100 * GRAD_TOL * fmax(1, fabs((double)grad[0][0][n / 2])));
    assert_true(max_err(grad[1][0], grad[0][0], n) > GRAD_TOL);
    for (int f = 0; f < 2; f++) {
        free(out[f]);
        for (int k = 0; k < s.np; k++) free(grad[f][k]);
    }
    free(seedv);
    cellset_free(&s);
}

static void same_as_composition(void **state)
{
    (void)state;
    /* one element; a vector's worth and a bit; a chunk (256) and a bit; many chunks */
    static const int sizes[][2] = {{1, 1}, {1, 3}, {5, 7}, {3, 17}, {4, 64}, {3, 100}, {37, 61}};
    for (int lstm = 0; lstm < 2; lstm++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            against_composition(lstm, sizes[i][0], sizes[i][1], 100u + 10u * (unsigned)i + (unsigned)lstm);
}

/* Inputs that need no gradient get none, and the others the composition's. */
static void constants_get_no_gradient(void **state)
{
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        cellset s;
        cellset_new(&s, lstm, 3, 5, 7u + (unsigned)lstm, 0);
        int G = s.G, n = 15;
        ag_float *grads[2][9] = {{0}};
        for (int fused = 0; fused < 2; fused++) {
            ag_tape *t = ag_tape_new();
            assert_non_null(t);
            /* gi[1], gh[2] and the state as constants on the tape, the rest parameters */
            ag_tensor *in[9];
            for (int k = 0; k < s.np; k++) {
                int constant = k == 1 || k == G + 2 || k == 2 * G;
                in[k] = constant ? ag_from_array(t, 2, S2(3, 5), s.p[k]->data) : s.p[k];
                ag_zero_grad(s.p[k]);
            }
            ag_tensor *y, *c2 = NULL;
            if (lstm) {
                ag_tensor *h2 = fused ? ag_lstm_cell(t, in, in + G, in[2 * G], &c2)
                                      : lstm_composed(t, in, in + G, in[2 * G], &c2);
                y = ag_stack(t, (ag_tensor *[]){h2, c2}, 2, 0);
            } else {
                y = fused ? ag_gru_cell(t, in, in + G, in[2 * G]) : gru_composed(t, in, in + G, in[2 * G]);
            }
            assert_non_null(y);
            assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
            for (int k = 0; k < s.np; k++) {
                if (in[k] != s.p[k]) {
                    assert_null(in[k]->grad);
                    continue;
                }
                grads[fused][k] = malloc((size_t)n * sizeof(ag_float));
                assert_non_null(grads[fused][k]);
                memcpy(grads[fused][k], s.p[k]->grad, (size_t)n * sizeof(ag_float));
            }
            ag_tape_free(t);
        }
        for (int k = 0; k < s.np; k++) {
            if (!grads[0][k]) continue;
            assert_true(max_err(grads[1][k], grads[0][k], n) <= GRAD_TOL);
            free(grads[0][k]);
            free(grads[1][k]);
        }
        cellset_free(&s);
    }
}

/* ---- 2. finite differences ---- */

typedef enum { PLAIN, TWICE, VIEWS, TWO_STEPS } variant;

typedef struct {
    int lstm, N, H;
    variant v;
    ag_tensor *p[9];
    int np;
} gc;

static ag_tensor *gc_run(ag_tape *t, void *ud)
{
    gc *f = ud;
    int G = f->lstm ? 4 : 3;
    ag_tensor *gi[4], *gh[4], *st;
    switch (f->v) {
    case TWICE: /* gi[k] and gh[k] the same tensor; the state is gi[0] too */
        for (int k = 0; k < G; k++) gi[k] = gh[k] = f->p[k];
        st = f->p[0];
        break;
    case VIEWS: /* gi[k]: views (select) of one (G, N, H); gh[k]: columns of one (N, G*H), copied */
        for (int k = 0; k < G; k++) {
            gi[k] = ag_select(t, f->p[0], 0, k);
            gh[k] = ag_slice(t, f->p[1], 1, k * f->H, (k + 1) * f->H);
        }
        st = ag_reshape(t, f->p[2], 2, S2(f->N, f->H)); /* a view of an (N * H) vector */
        break;
    default:
        for (int k = 0; k < G; k++) {
            gi[k] = f->p[k];
            gh[k] = f->p[G + k];
        }
        st = f->p[2 * G];
        break;
    }
    if (!f->lstm) {
        ag_tensor *h2 = ag_gru_cell(t, gi, gh, st);
        if (f->v != TWO_STEPS) return h2;
        /* h' as the next step's h and as its gh[2] */
        ag_tensor *gh2[3] = {gh[0], gh[1], h2};
        return ag_gru_cell(t, gi, gh2, h2);
    }
    ag_tensor *c2 = NULL, *h2 = ag_lstm_cell(t, gi, gh, st, &c2);
    if (f->v == TWO_STEPS) { /* c' into the next step (and into the result); h' as its gh[3] */
        ag_tensor *gh2[4] = {gh[0], gh[1], gh[2], h2}, *c3 = NULL;
        h2 = ag_lstm_cell(t, gi, gh2, c2, &c3);
        return ag_stack(t, (ag_tensor *[]){h2, c3, c2}, 3, 0);
    }
    return ag_stack(t, (ag_tensor *[]){h2, c2}, 2, 0);
}

static double gradcheck(int lstm, int N, int H, variant v, unsigned seed)
{
    gc f = {.lstm = lstm, .N = N, .H = H, .v = v};
    int G = lstm ? 4 : 3;
    ag_rng rng;
    ag_rng_seed(&rng, seed);
    if (v == TWICE) {
        f.np = G;
        for (int k = 0; k < G; k++) f.p[k] = ag_param_new(2, S2(N, H), "g");
    } else if (v == VIEWS) {
        f.np = 3;
        f.p[0] = ag_param_new(3, (int[]){G, N, H}, "gi");
        f.p[1] = ag_param_new(2, S2(N, G * H), "gh");
        f.p[2] = ag_param_new(1, (int[]){N * H}, "state");
    } else {
        f.np = 2 * G + 1;
        for (int k = 0; k < f.np; k++) f.p[k] = ag_param_new(2, S2(N, H), "p");
    }
    for (int k = 0; k < f.np; k++) {
        assert_non_null(f.p[k]);
        ag_fill_uniform(f.p[k], &rng, -2, 2);
    }
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_gradcheck_result r;
    ag_status st = ag_gradcheck(t, gc_run, &f, f.p, f.np, EPS, &r);
    if (st != AG_OK) fprintf(stderr, "%s\n", ag_tape_error(t));
    assert_int_equal(st, AG_OK);
    assert_int_equal(r.n_checked, v == VIEWS ? (2 * G + 1) * N * H : f.np * N * H);
    if (r.max_rel_err > TOL) {
        fprintf(stderr, "%s N=%d H=%d variant %d: ", lstm ? "lstm_cell" : "gru_cell", N, H, (int)v);
        ag_gradcheck_print(stderr, &r, f.p);
    }
    assert_true(r.max_rel_err <= TOL);
    ag_tape_free(t);
    for (int k = 0; k < f.np; k++) ag_param_free(f.p[k]);
    return r.max_rel_err;
}

static void finite_differences(void **state)
{
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        double worst = 0;
        for (int N = 1; N <= 5; N += 4)
            for (int H = 3; H <= 7; H++)
                worst = fmax(worst, gradcheck(lstm, N, H, PLAIN, 300u + (unsigned)(10 * N + H + 100 * lstm)));
        printf("  %-9s N = 1, 5; H = 3..7: worst %.2e (tolerance %.0e)\n", lstm ? "lstm_cell" : "gru_cell", worst, TOL);
        static const char *names[] = {"", "a tensor passed twice", "views and copies", "two steps"};
        for (variant v = TWICE; v <= TWO_STEPS; v++) {
            double e = fmax(gradcheck(lstm, 1, 4, v, 500u + (unsigned)v), gradcheck(lstm, 5, 3, v, 600u + (unsigned)v));
            printf("  %-9s %-22s worst %.2e\n", lstm ? "lstm_cell" : "gru_cell", names[v], e);
        }
    }
}

/* ---- 3. errors ---- */

static void expect(ag_tape *t, ag_tensor *got, ag_status want, const char *msg)
{
    assert_null(got);
    if (ag_tape_status(t) != want || !strstr(ag_tape_error(t), msg))
        fprintf(stderr, "want %s with \"%s\", got %s: %s\n", ag_status_name(want), msg,
                ag_status_name(ag_tape_status(t)), ag_tape_error(t));
    assert_int_equal(ag_tape_status(t), want);
    assert_non_null(strstr(ag_tape_error(t), msg));
    ag_tensor *x = ag_sum(t, ag_zeros(t, 2, S2(1, 1))); /* the first error stays; backward refuses */
    assert_null(x);
    assert_int_equal(ag_backward(t, x), want);
    ag_tape_reset(t);
}

static void bad_arguments(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *a[9], *c2 = (ag_tensor *)1;
#define ZEROS(k, N, H) (a[k] = ag_zeros(t, 2, S2(N, H)))
#define FILL(N, H) for (int k = 0; k < 9; k++) ZEROS(k, N, H)

    FILL(4, 8);
    ZEROS(4, 4, 7); /* gh[1] of a GRU */
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_ESHAPE, "gru_cell: gh[1] is (4, 7) but h is (4, 8) (all must be (N, H))");
    FILL(4, 8);
    ZEROS(0, 8, 4);
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_ESHAPE, "gru_cell: gi[0] is (8, 4) but h is (4, 8)");
    FILL(4, 8);
    a[6] = ag_zeros(t, 1, (int[]){8});
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_ESHAPE, "gru_cell: h is (8) but must be (N, H)");
    FILL(4, 8);
    a[2] = ag_zeros(t, 3, (int[]){4, 8, 1});
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_ESHAPE, "gru_cell: gi[2] is (4, 8, 1) but h is (4, 8)");
    FILL(4, 8);
    expect(t, ag_gru_cell(t, NULL, a + 3, a[6]), AG_EARG, "gru_cell: gi is NULL");
    FILL(4, 8);
    expect(t, ag_gru_cell(t, a, NULL, a[6]), AG_EARG, "gru_cell: gh is NULL");
    FILL(4, 8);
    a[5] = NULL;
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_EARG, "gru_cell: gh[2] is NULL");
    FILL(4, 8);
    expect(t, ag_gru_cell(t, a, a + 3, NULL), AG_EARG, "gru_cell: h is NULL");

    FILL(2, 3);
    ZEROS(7, 2, 4); /* gh[3] of an LSTM */
    expect(t, ag_lstm_cell(t, a, a + 4, a[8], &c2), AG_ESHAPE, "lstm_cell: gh[3] is (2, 4) but c is (2, 3) (all must be (N, H))");
    assert_null(c2);
    FILL(2, 3);
    a[8] = ag_zeros(t, 0, NULL);
    c2 = (ag_tensor *)1;
    expect(t, ag_lstm_cell(t, a, a + 4, a[8], &c2), AG_ESHAPE, "lstm_cell: c is () but must be (N, H)");
    assert_null(c2);
    FILL(2, 3);
    a[3] = NULL;
    c2 = (ag_tensor *)1;
    expect(t, ag_lstm_cell(t, a, a + 4, a[8], &c2), AG_EARG, "lstm_cell: gi[3] is NULL");
    assert_null(c2);
    FILL(2, 3);
    expect(t, ag_lstm_cell(t, a, NULL, a[8], &c2), AG_EARG, "lstm_cell: gh is NULL");
    FILL(2, 3);
    expect(t, ag_lstm_cell(t, a, a + 4, a[8], NULL), AG_EARG, "lstm_cell: c_out is NULL");

    /* a tensor from before the reset (made after the ones the next step makes again, so
     * that no newer tensor takes its place): input 4 is gh[1] (GRU); input 8 is c (LSTM) */
    FILL(2, 3);
    ag_tensor *old = ag_zeros(t, 2, S2(2, 3));
    ag_tape_reset(t);
    FILL(2, 3);
    a[4] = old;
    expect(t, ag_gru_cell(t, a, a + 3, a[6]), AG_ESTATE, "gru_cell: input 4 is a tape tensor made before");
    FILL(2, 3);
    old = ag_zeros(t, 2, S2(2, 3));
    ag_tape_reset(t);
    FILL(2, 3);
    a[8] = old;
    c2 = (ag_tensor *)1;
    expect(t, ag_lstm_cell(t, a, a + 4, a[8], &c2), AG_ESTATE, "lstm_cell: input 8 is a tape tensor made before");
    assert_null(c2);

    /* after an error the ops return NULL quietly, keeping the first message; a reset
     * makes the tape usable again */
    FILL(2, 3);
    assert_null(ag_gru_cell(t, a, a + 3, ag_zeros(t, 2, S2(3, 2))));
    char first[256];
    snprintf(first, sizeof first, "%s", ag_tape_error(t));
    assert_null(ag_gru_cell(t, a, a + 3, a[6]));
    c2 = (ag_tensor *)1;
    assert_null(ag_lstm_cell(t, NULL, NULL, NULL, &c2));
    assert_null(c2);
    assert_string_equal(ag_tape_error(t), first);
    ag_tape_reset(t);
    FILL(2, 3);
    assert_non_null(ag_gru_cell(t, a, a + 3, a[6]));
    assert_non_null(ag_lstm_cell(t, a, a + 4, a[8], &c2));
    assert_non_null(c2);
    assert_int_equal(ag_tape_status(t), AG_OK);
#undef FILL
#undef ZEROS
    ag_tape_free(t);
}

/* Out of memory at each allocation a cell's forward and backward make on the tape:
 * the first chunk is filled up to `room` bytes short of its end and every further
 * allocation fails, for room from 0 up past what the step needs. Each run ends with
 * AG_ENOMEM (NULL results, *c_out NULL) or succeeds; nothing crashes (the sanitizer
 * build watches the memory). */
static void out_of_memory(void **state)
{
    (void)state;
    for (int lstm = 0; lstm < 2; lstm++) {
        cellset s;
        cellset_new(&s, lstm, 4, 256, 77u, 0); /* 4 KiB per (N, H) in float */
        size_t need = 0, fails = 0, oks = 0;
        for (size_t room = 0;; room += 64) {
            counter cnt = {0, 0, -1};
            ag_set_allocator(&(ag_allocator){count_alloc, count_free, &cnt});
            ag_tape *t = ag_tape_new();
            assert_non_null(t);
            void *fill = ag_tape_alloc(t, 64); /* the first chunk (1 MiB) */
            assert_non_null(fill);
            size_t used = ag_tape_bytes(t), chunk = 1u << 20;
            assert_non_null(ag_tape_alloc(t, chunk - used - room));
            cnt.fail_after = cnt.allocs; /* no more memory from here on */
            size_t before = ag_tape_bytes(t);
            ag_tensor *y = step(t, &s, 1);
            ag_status bst = y ? ag_backward(t, ag_sum(t, y)) : ag_tape_status(t), st = ag_tape_status(t);
            int said = strstr(ag_tape_error(t), "out of memory") != NULL;
            size_t used_by_step = ag_tape_bytes(t) - before;
            ag_tape_free(t);
            ag_set_allocator(NULL); /* before any assertion can leave */
            assert_int_equal(bst, st);
            assert_true(st == AG_OK || (st == AG_ENOMEM && said));
            if (st == AG_OK) {
                oks++;
                need = used_by_step;
            } else {
                fails++;
            }
            if (st == AG_OK && room > need + 256) break;
        }
        printf("  %s: %zu runs out of memory, %zu through (a step takes %zu bytes)\n", lstm ? "lstm_cell" : "gru_cell",
               fails, oks, need);
        assert_true(fails > 10 && oks > 0);
        cellset_free(&s);
    }
}

/* ---- 4. graph dumps ---- */

static void named_in_dot(void **state)
{
    (void)state;
    cellset g, l;
    cellset_new(&g, 0, 2, 3, 1u, 0);
    cellset_new(&l, 1, 2, 3, 2u, 0);
    ag_tape *t = ag_tape_new();
    assert_non_null(t);
    ag_tensor *y = ag_add(t, step(t, &g, 1), ag_select(t, step(t, &l, 1), 0, 1)); /* h' of the GRU + c' of the LSTM */
    assert_non_null(y);
    ag_tensor *loss = ag_sum(t, y);
    assert_non_null(loss);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(ag_dot(t, loss, f, NULL), AG_OK);
    static char text[1 << 16];
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    assert_non_null(strstr(text, "label=\"gru_cell\\n(2, 3)"));
    assert_non_null(strstr(text, "label=\"lstm_cell\\n(2, 3)"));
    assert_non_null(strstr(text, "label=\"lstm_cell_c\\n(2, 3)"));
    ag_tape_free(t);
    cellset_free(&g);
    cellset_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_composition),
        cmocka_unit_test(constants_get_no_gradient),
        cmocka_unit_test(finite_differences),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(out_of_memory),
        cmocka_unit_test(named_in_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
