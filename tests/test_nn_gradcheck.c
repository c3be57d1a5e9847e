/* test_nn_gradcheck.c -- every nn module's gradients against finite differences,
 * through at least 5 time steps, for N = 1 and for N = 3 with different lengths.
 * Built against autograd_f64 (double) only: see test_gradcheck.c for why. EPS 1e-6
 * and TOL 1e-6 are justified there; the modules are compositions of the same ops
 * with outputs of size <= 100, so the same noise bound (< 1e-7) holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "nn.h"

#define EPS 1e-6
#define TOL 1e-6

enum { T = 6, I = 4, H = 5, O = 3 };

typedef struct {
    nn_params ps;
    ag_tensor *x; /* (T, N, I), a parameter so its gradient is checked too */
    int N;
    const int *lengths;
    int which; /* 0 linear, 1 seed rnn, 2+ nn_rnn kinds */
    nn_linear lin;
    nn_tutorial_rnn seed;
    nn_rnn rnn;
    int want_all;
    nn_rnn second; /* which == 3: a second layer over the first's every-step output */
    double dropout;
} fx;

static ag_tensor *run(ag_tape *t, void *ud)
{
    fx *f = ud;
    if (f->which == 0) return nn_linear_forward(t, &f->lin, ag_reshape(t, f->x, 2, (int[]){T * f->N, I}));
    if (f->which == 1) return nn_tutorial_rnn_forward(t, &f->seed, f->x, f->lengths);
    ag_tensor *all = NULL;
    if (f->which == 3) { /* two layers with dropout between; the mask is redrawn the same every call */
        ag_rng r;
        ag_rng_seed(&r, 7);
        nn_rnn_forward(t, &f->rnn, f->x, f->lengths, NULL, &all);
        return nn_rnn_forward(t, &f->second, nn_dropout(t, all, f->dropout, &r), f->lengths, NULL, NULL);
    }
    ag_tensor *h = nn_rnn_forward(t, &f->rnn, f->x, f->lengths, NULL, f->want_all ? &all : NULL);
    /* checking `all` covers every step's state; `h` each sequence's last one */
    return f->want_all ? all : h;
}

static void check(int which, nn_rnn_kind kind, int N, const int *lengths, int want_all, const char *what)
{
    fx f;
    memset(&f, 0, sizeof f);
    f.which = which;
    f.N = N;
    f.lengths = lengths;
    f.want_all = want_all;
    ag_rng rng;
    ag_rng_seed(&rng, 99);
    nn_params_init(&f.ps);
    f.x = nn_params_new(&f.ps, "", "x", 3, (int[]){T, N, I});
    assert_non_null(f.x);
    ag_fill_uniform(f.x, &rng, -1, 1);
    nn_status s = NN_OK;
    if (which == 0) s = nn_linear_init(&f.lin, &f.ps, "lin.", I, O, 1, &rng);
    if (which == 1) s = nn_tutorial_rnn_init(&f.seed, &f.ps, "", I, H, O, &rng);
    if (which >= 2) s = nn_rnn_init(&f.rnn, &f.ps, kind, "rnn.", I, H, &rng);
    if (which == 3) {
        assert_int_equal(s, NN_OK);
        s = nn_rnn_init_layer(&f.second, &f.ps, kind, "rnn.", 1, H, H, &rng);
        assert_string_equal(f.second.weight_hh->name, "rnn.weight_hh_l1");
        f.dropout = 0.4;
    }
    assert_int_equal(s, NN_OK);
    /* larger weights than the default init, so the nonlinearities are exercised */
    for (int i = 1; i < f.ps.n; i++) ag_fill_uniform(f.ps.p[i], &rng, -0.8, 0.8);
    ag_tape *t = ag_tape_new();
    ag_gradcheck_result r;
    assert_int_equal(ag_gradcheck(t, run, &f, f.ps.p, f.ps.n, EPS, &r), AG_OK);
    printf("  %-36s", what);
    ag_gradcheck_print(stdout, &r, f.ps.p);
    assert_true(r.max_rel_err <= TOL);
    ag_tape_free(t);
    nn_params_free(&f.ps);
}

static const int LENGTHS[3] = {6, 2, 4}; /* N = 3, different lengths, T = 6 */

static void linear(void **state)
{
    (void)state;
    check(0, 0, 1, NULL, 0, "linear");
}

static void seed_rnn(void **state)
{
    (void)state;
    check(1, 0, 1, NULL, 0, "seed rnn, N=1, 6 steps");
    check(1, 0, 3, LENGTHS, 0, "seed rnn, N=3, lengths 6 2 4");
}

static void recurrent(void **state)
{
    (void)state;
    static const char *names[] = {"elman", "gru", "lstm"};
    for (int k = 0; k < 3; k++) {
        char what[64];
        snprintf(what, sizeof what, "%s, N=1, 6 steps", names[k]);
        check(2, (nn_rnn_kind)k, 1, NULL, 0, what);
        snprintf(what, sizeof what, "%s, N=3, lengths 6 2 4", names[k]);
        check(2, (nn_rnn_kind)k, 3, LENGTHS, 0, what);
        snprintf(what, sizeof what, "%s, N=3, every step's state", names[k]);
        check(2, (nn_rnn_kind)k, 3, LENGTHS, 1, what);
    }
}

static void stacked_with_dropout(void **state)
{
    (void)state;
    check(3, NN_GRU, 3, LENGTHS, 0, "2-layer gru, dropout 0.4, N=3");
    check(3, NN_LSTM, 1, NULL, 0, "2-layer lstm, dropout 0.4, N=1");
}

/* ---- Embedding and LayerNorm: every gradient of layernorm(embedding(idx)) (weight
 * rows repeated, a padding row), and LayerNorm over two dims of a parameter input ---- */

typedef struct {
    nn_embedding emb;
    nn_layernorm ln;
    ag_tensor *x; /* NULL: the embedding feeds the LayerNorm */
} fx2;

static ag_tensor *run2(ag_tape *t, void *ud)
{
    fx2 *f = ud;
    /* (2, 3): rows 2 and 3 repeat. Row 4, the padding row, is not used: it gets no
     * gradient by design (as torch), which finite differences would contradict; that
     * it gets none is checked in test_nn.c, here that it stays 0 when unused. */
    static const int idx[6] = {2, 0, 2, 3, 1, 3};
    ag_tensor *x = f->x ? f->x : nn_embedding_forward(t, &f->emb, 2, (int[]){2, 3}, idx);
    return ag_tanh(t, nn_layernorm_forward(t, &f->ln, x)); /* tanh: a non-linear use of the output */
}

static void check2(fx2 *f, nn_params *ps, ag_rng *rng, const char *what)
{
    for (int i = 0; i < ps->n; i++) /* away from the init (weight 1, bias 0) so every term shows */
        if (!f->emb.weight || ps->p[i] != f->emb.weight) ag_fill_uniform(ps->p[i], rng, -1.5, 1.5);
    ag_tape *t = ag_tape_new();
    ag_gradcheck_result r;
    assert_int_equal(ag_gradcheck(t, run2, f, ps->p, ps->n, EPS, &r), AG_OK);
    printf("  %-36s", what);
    ag_gradcheck_print(stdout, &r, ps->p);
    assert_true(r.max_rel_err <= TOL);
    ag_tape_free(t);
}

static void embedding_layernorm(void **state)
{
    (void)state;
    ag_rng rng;
    ag_rng_seed(&rng, 5);
    nn_params ps;
    nn_params_init(&ps);
    fx2 f;
    memset(&f, 0, sizeof f);
    assert_int_equal(nn_embedding_init(&f.emb, &ps, "emb.", 5, 4, 4, &rng), NN_OK);
    assert_int_equal(nn_layernorm_init(&f.ln, &ps, "ln.", 1, (int[]){4}, 1e-5, 1), NN_OK);
    check2(&f, &ps, &rng, "layernorm(embedding), padding row 4");
    nn_params_free(&ps);

    nn_params_init(&ps);
    memset(&f, 0, sizeof f);
    f.x = nn_params_new(&ps, "", "x", 3, (int[]){3, 2, 4});
    assert_int_equal(nn_layernorm_init(&f.ln, &ps, "ln.", 2, (int[]){2, 4}, 1e-5, 1), NN_OK);
    check2(&f, &ps, &rng, "layernorm over (2, 4) of (3, 2, 4)");
    nn_params_free(&ps);

    nn_params_init(&ps);
    memset(&f, 0, sizeof f);
    f.x = nn_params_new(&ps, "", "x", 2, (int[]){3, 5});
    assert_int_equal(nn_layernorm_init(&f.ln, &ps, "ln.", 1, (int[]){5}, 1e-5, 0), NN_OK);
    check2(&f, &ps, &rng, "layernorm, no affine");
    nn_params_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear),
        cmocka_unit_test(seed_rnn),
        cmocka_unit_test(recurrent),
        cmocka_unit_test(stacked_with_dropout),
        cmocka_unit_test(embedding_layernorm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
