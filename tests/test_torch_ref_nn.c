/* test_torch_ref_nn.c -- every nn module and optimizer against PyTorch's own values.
 *
 * tests/torch_ref/gen.py (run by hand with python3-torch) writes modules.txt and
 * optim.txt beside ops.txt, in the same format (described at the top of gen.py) and
 * read by the same reader (torch_ref/agref.c). A module case gives torch's parameters
 * under torch's names (weight_ih_l0_reverse, i2h.weight, ...), which the builders
 * below put into the module's struct, its input, output, an upstream gradient and
 * torch's gradient of the input and of every parameter. An optimizer case gives two
 * parameters, a gradient for each step and the parameters after every step, as
 * torch.optim computes them (foreach=False, in double).
 *
 * Compared as in test_torch_ref.c: err = |ours - torch| / max(1, |torch|).
 *
 * Modules. double build (nn_f64), TOL 1e-12: the same reasoning as for the ops (both
 * sides in double from the same inputs, differing only in the order of sums and in
 * exp/tanh/sigmoid within an ulp or two). The longest chains here are the 2-layer
 * bidirectional stacks: 4 steps of a GRU or LSTM cell per layer, ~10 rounded ops
 * each, 8 in a row through both layers and back, each step's error carried on with
 * a gain below 1 (tanh and sigmoid contract): a few hundred ulps, ~1e-13 at most.
 * float build (nn), TOL 1e-5: the float ops' bound (test_torch_ref.c), which holds
 * here because those chains grow the error by adding, not multiplying: ~8 steps of a
 * cell at ~1e-6 each (its sums of 2..8 products and 2-ulp tanh/sigmoid) stay below
 * 1e-5. The worst cases are printed by op: 4.0e-15 (double) and 4.8e-7 (float), both
 * in layernorm_offset, when this was written.
 *
 * Optimizers. The tolerance grows with the step number s: OPT_TOL_PER_STEP * s.
 * double build: 2e-13 s, 1e-12 after the 5 steps of a case, as above (a step is ~10
 * rounded operations on values of order 1). float build: the state is float, as torch.optim's is
 * in float32, but the reference is in double, so each step adds the rounding of the
 * parameter (2^-24 of |p| ~ 6e-8) and of its update (~10 roundings of 2^-24 relative
 * to |update| <= lr * (a normalised gradient, at most ~1/(1-momentum) = 10): below
 * 1e-6 for lr <= 0.1) and carries the earlier ones on unchanged (an update is not a
 * contraction, the error is not amplified either: the state's errors are relative and
 * enter each update once). So after s steps the error is below 1e-6 s relative to
 * max(1, |p|): OPT_TOL_PER_STEP 2e-6, twice that bound, times the step number. A
 * mistake in a formula (a missing bias correction, weight decay coupled or
 * decoupled, lr_decay applied a step late, a centred variance missed) moves a parameter by 1e-4 or more. Worst
 * seen: 2.0e-16 (double), 1.6e-7 (float, adamw_wd).
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

#include "nn.h"
#include "torch_ref/agref.h"

#ifdef AG_DOUBLE
#define TOL 1e-12
#define OPT_TOL_PER_STEP 2e-13
#define BUILD "double"
#else
#define TOL 1e-5
#define OPT_TOL_PER_STEP 2e-6
#define BUILD "float"
#endif

typedef agref_ctx ctx;
static ag_tensor *T(ctx *x, const char *key) { return agref_in(x, key); }
static int I(ctx *x, const char *key) { return agref_int(x, key); }
static double R(ctx *x, const char *key) { return agref_real(x, key); }

/* ---- modules ---- */

static ag_tensor *b_linear(ctx *x)
{
    nn_linear m = {.weight = T(x, "weight"), .bias = agref_has(x, "bias") ? T(x, "bias") : NULL};
    if (!m.weight) return NULL;
    m.out = m.weight->shape[0];
    m.in = m.weight->shape[1];
    return nn_linear_forward(x->t, &m, T(x, "x"));
}

static nn_linear linear_of(ctx *x, const char *w, const char *b)
{
    nn_linear l = {.weight = T(x, w), .bias = T(x, b)};
    if (l.weight) l.out = l.weight->shape[0], l.in = l.weight->shape[1];
    return l;
}

static ag_tensor *b_tutorial_rnn(ctx *x)
{
    nn_tutorial_rnn m = {.i2h = linear_of(x, "i2h.weight", "i2h.bias"), .i2o = linear_of(x, "i2o.weight", "i2o.bias")};
    ag_tensor *in = T(x, "x");
    if (!in || !m.i2h.weight || !m.i2o.weight) return NULL;
    m.input = in->shape[2];
    m.hidden = m.i2h.out;
    m.output = m.i2o.out;
    int n;
    const int *lengths = agref_has(x, "lengths") ? agref_ints(x, "lengths", &n) : NULL;
    return nn_tutorial_rnn_forward(x->t, &m, in, lengths);
}

/* v (T, N, F) with each sequence's first `length` steps in reverse order (rows[] maps
 * a row s*N + n of the (T*N, F) view to its source); the padding stays where it is. */
static ag_tensor *reverse_steps(ag_tape *t, ag_tensor *v, const int *rows)
{
    if (!v) return NULL;
    int Tn = v->shape[0], N = v->shape[1], F = v->shape[2];
    ag_tensor *r = ag_index_select(t, ag_reshape(t, v, 2, (int[]){Tn * N, F}), 0, rows, Tn * N);
    return ag_reshape(t, r, 3, (int[]){Tn, N, F});
}

/* A stack of layers of nn_rnn, each direction its own nn_rnn: the reverse direction
 * runs over each sequence reversed within its length, and the next layer reads both
 * directions' every-step states side by side, as torch.nn.RNN/GRU/LSTM do. Returns
 * torch's h_n: (layers * directions, N, H). */
static ag_tensor *b_rnn(ctx *x)
{
    ag_tape *t = x->t;
    int kind = I(x, "kind"), layers = I(x, "layers"), D = 1 + I(x, "bidirectional");
    ag_tensor *in = T(x, "x"), *h0 = agref_has(x, "h0") ? T(x, "h0") : NULL;
    if (!in || layers < 1 || layers * D > 8) return NULL;
    int Tn = in->shape[0], N = in->shape[1], nl = 0;
    const int *lengths = agref_has(x, "lengths") ? agref_ints(x, "lengths", &nl) : NULL;
    int *rows = ag_tape_alloc(t, (size_t)(Tn * N) * sizeof *rows);
    if (!rows) return NULL;
    for (int s = 0; s < Tn; s++)
        for (int n = 0; n < N; n++) {
            int len = lengths ? lengths[n] : Tn;
            rows[s * N + n] = s < len ? (len - 1 - s) * N + n : s * N + n;
        }
    ag_tensor *finals[8];
    for (int l = 0; l < layers; l++) {
        ag_tensor *outs[2] = {NULL, NULL};
        for (int d = 0; d < D; d++) {
            char k[4][48];
            static const char *names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            for (int j = 0; j < 4; j++) snprintf(k[j], sizeof k[j], "%s_l%d%s", names[j], l, d ? "_reverse" : "");
            nn_rnn m = {.kind = (nn_rnn_kind)kind, .weight_ih = T(x, k[0]), .weight_hh = T(x, k[1]),
                        .bias_ih = T(x, k[2]), .bias_hh = T(x, k[3])};
            if (!m.weight_ih || !m.weight_hh || !m.bias_ih || !m.bias_hh) return NULL;
            m.hidden = m.weight_hh->shape[1];
            m.gates = m.weight_hh->shape[0] / m.hidden;
            m.input = m.weight_ih->shape[1];
            ag_tensor *all = NULL, *h = h0 ? ag_select(t, h0, 0, l * D + d) : NULL;
            finals[l * D + d] = nn_rnn_forward(t, &m, d ? reverse_steps(t, in, rows) : in, lengths, h, &all);
            outs[d] = d ? reverse_steps(t, all, rows) : all;
        }
        in = D == 2 ? ag_cat(t, outs, 2, 2) : outs[0];
    }
    return ag_stack(t, finals, layers * D, 0);
}

static ag_tensor *b_embedding(ctx *x)
{
    nn_embedding m = {.weight = T(x, "weight"), .padding_idx = I(x, "padding_idx")};
    if (!m.weight) return NULL;
    m.num = m.weight->shape[0];
    m.dim = m.weight->shape[1];
    int rank, n;
    const int *shape = agref_ints(x, "shape", &rank), *idx = agref_ints(x, "idx", &n);
    return nn_embedding_forward(x->t, &m, rank, shape, idx);
}

static ag_tensor *b_layernorm(ctx *x)
{
    int rank;
    const int *shape = agref_ints(x, "shape", &rank);
    nn_layernorm m = {.rank = rank, .eps = R(x, "eps")};
    for (int d = 0; d < rank && d < AG_MAX_RANK; d++) m.shape[d] = shape[d];
    if (I(x, "affine")) {
        m.weight = T(x, "weight");
        m.bias = T(x, "bias");
    }
    return nn_layernorm_forward(x->t, &m, T(x, "x"));
}

/* ---- optimizers: compares every step itself and returns NULL ---- */

static ag_tensor *b_optim(ctx *x)
{
    int steps = I(x, "steps"), kind = I(x, "kind");
    nn_params ps;
    nn_params_init(&ps);
    char key[48];
    for (int k = 0;; k++) {
        snprintf(key, sizeof key, "p.%d", k);
        const agref_entry *e = agref_find(x->c, key);
        if (!e) break;
        ag_tensor *p = nn_params_new(&ps, "", key, e->rank, e->shape);
        if (!p) {
            agref_mismatch(x, "%s", nn_params_error(&ps));
            nn_params_free(&ps);
            return NULL;
        }
        for (int i = 0; i < e->n; i++) p->data[i] = (ag_float)e->v[i];
    }
    nn_optim o;
    double lr = R(x, "lr"), wd = R(x, "weight_decay"), eps = R(x, "eps");
    nn_status s = NN_EARG;
    switch (kind) {
    case NN_SGD: s = nn_sgd_init(&o, &ps, lr, R(x, "momentum"), wd); break;
    case NN_ADAM: s = nn_adam_init(&o, &ps, lr, R(x, "beta1"), R(x, "beta2"), eps, wd); break;
    case NN_ADAGRAD: s = nn_adagrad_init(&o, &ps, lr, R(x, "lr_decay"), wd, R(x, "initial_accumulator_value"), eps); break;
    case NN_RMSPROP: s = nn_rmsprop_init(&o, &ps, lr, R(x, "alpha"), eps, wd, R(x, "momentum"), I(x, "centered")); break;
    case NN_ADAMW: s = nn_adamw_init(&o, &ps, lr, R(x, "beta1"), R(x, "beta2"), eps, wd); break;
    default: snprintf(o.error, sizeof o.error, "unknown kind %d", kind);
    }
    if (s != NN_OK) {
        agref_mismatch(x, "optimizer init failed: %s", o.error);
    } else {
        for (int step = 0; step < steps; step++) {
            for (int k = 0; k < ps.n; k++) {
                snprintf(key, sizeof key, "g.%d.%d", k, step);
                const agref_entry *g = agref_find(x->c, key);
                if (!g || g->n != ps.p[k]->size) {
                    agref_mismatch(x, "no gradient %s of %d values", key, ps.p[k]->size);
                    break;
                }
                for (int i = 0; i < g->n; i++) ps.p[k]->grad[i] = (ag_float)g->v[i];
            }
            nn_optim_step(&o);
            x->tol = OPT_TOL_PER_STEP * (step + 1); /* the error grows by adding: see the top */
            for (int k = 0; k < ps.n; k++) {
                snprintf(key, sizeof key, "p.%d.step%d", k, step + 1);
                agref_check_values(x, key, ps.p[k]->data, ps.p[k]->rank, ps.p[k]->shape, ps.p[k]->size);
            }
        }
    }
    nn_optim_free(&o);
    nn_params_free(&ps);
    return NULL;
}

static const agref_op builders[] = {
    {"nn_linear", b_linear},       {"tutorial_rnn", b_tutorial_rnn}, {"rnn", b_rnn},
    {"nn_embedding", b_embedding}, {"nn_layernorm", b_layernorm},    {"optim", b_optim},
};
#define N_BUILDERS ((int)(sizeof builders / sizeof builders[0]))

static agref_set fixtures;

static void modules_and_optimizers_match_torch(void **state)
{
    (void)state;
    assert_int_equal(agref_run_all(&fixtures, builders, N_BUILDERS, TOL, BUILD), 0);
}

/* The comparisons must be able to fail: a module's gradient and an optimizer's
 * parameter after its last step, each moved by 100 times its tolerance. */
static void a_wrong_value_fails(void **state)
{
    (void)state;
    static const struct { const char *op, *key; double tol; } moves[] = {
        {"rnn", "grad.weight_hh_l0", TOL},
        {"nn_layernorm", "grad.x", TOL},
        {"optim", "p.0.step5", OPT_TOL_PER_STEP * 5},
    };
    for (size_t m = 0; m < sizeof moves / sizeof moves[0]; m++)
        if (agref_moved_fails(&fixtures, builders, N_BUILDERS, moves[m].op, moves[m].key, 1, moves[m].tol, TOL) != 1)
            fail_msg("%s: %s moved by 100 tolerances did not fail (or no such case)", moves[m].op, moves[m].key);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE.txt... (tests/torch_ref/modules.txt optim.txt)\n", argv[0]);
        return 2;
    }
    int ok = 1;
    for (int i = 1; i < argc && ok; i++) ok = agref_load(&fixtures, argv[i]);
    if (ok && fixtures.n == 0) ok = (fprintf(stderr, "no cases in the fixtures\n"), 0);
    int rc = 1;
    if (ok) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(modules_and_optimizers_match_torch),
            cmocka_unit_test(a_wrong_value_fails),
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    agref_free(&fixtures);
    return rc;
}
