/* test_torch_ref.c -- every op against the values PyTorch itself computes.
 *
 * tests/torch_ref/gen.py (run by hand with python3-torch) writes fixtures: inputs,
 * the forward output, a fixed upstream gradient ("seed") and torch's gradient of
 * every input, all in double. This test reads them (file names on the command line;
 * the format is described at the top of gen.py, the reader is torch_ref/agref.c),
 * runs each case through the ag_ function its OP names (the builders below, one line
 * per op), and compares output and gradients element by element with
 *
 *     err = |ours - torch| / max(1, |torch|)
 *
 * relative for large values, absolute for small ones, so a value that cancels to
 * near 0 cannot blow the ratio up. A NaN or an infinity in the reference must be
 * matched exactly (same sign).
 *
 * Tolerances:
 *
 * double build (autograd_f64), TOL 1e-12. Both sides compute in double from the same
 * inputs, but in different orders (a sum of K products, a softmax's normaliser) and
 * with different exp/log/tanh (torch's vectorised ones, libm here), each within an ulp
 * or two. The largest case sums 40 products and chains up to ~6 rounded steps, so
 * the expected difference is a few hundred ulps of 2^-53 ~ 1.1e-16 relative to the
 * terms: below 1e-13. 1e-12 leaves a margin of ten and still flags any mistake in a
 * formula (a wrong constant, a missed term: 1e-3 or more), and also the kind of
 * numerical slip that only shows in the last digits of a float (a cancellation that
 * loses half the digits, 1e-8).
 *
 * float build (autograd), TOL 1e-5. The inputs are float32-exact (gen.py rounds them),
 * so the float library sees exactly torch's inputs and its error is its own
 * arithmetic: each rounding costs up to 2^-24 ~ 6e-8 relative, the vector exp, tanh
 * and sigmoid up to 2 ulps (test_ops measures them), and sums of up to 40 terms or a
 * chain of up to ~6 ops (~10 in the gradients of gru_cell and lstm_cell) accumulate a
 * few tens of ulps relative to the magnitude of the terms, ~3e-6 at worst. 1e-5 sits
 * above that and fails any error in a formula.
 * Inputs like logits of 1e4 are the test of that claim: an op that rounds m + log(s)
 * to float before subtracting it loses 1e-3 there.
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
#include "torch_ref/agref.h"

#ifdef AG_DOUBLE
#define TOL 1e-12
#define BUILD "double"
#else
#define TOL 1e-5
#define BUILD "float"
#endif

/* ---- the builders: one per OP, each reads its inputs by key and calls the op ---- */

typedef agref_ctx ctx;
static ag_tensor *T(ctx *x, const char *key) { return agref_in(x, key); }
static int I(ctx *x, const char *key) { return agref_int(x, key); }
static double R(ctx *x, const char *key) { return agref_real(x, key); }
static const int *IV(ctx *x, const char *key, int *n) { return agref_ints(x, key, n); }

static ag_reduction RED(ctx *x)
{
    return I(x, "reduction") ? AG_SUM : AG_MEAN;
}

static ag_tensor *b_add(ctx *x) { return ag_add(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_sub(ctx *x) { return ag_sub(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_mul(ctx *x) { return ag_mul(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_div(ctx *x) { return ag_div(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_neg(ctx *x) { return ag_neg(x->t, T(x, "x")); }
static ag_tensor *b_exp(ctx *x) { return ag_exp(x->t, T(x, "x")); }
static ag_tensor *b_log(ctx *x) { return ag_log(x->t, T(x, "x")); }
static ag_tensor *b_tanh(ctx *x) { return ag_tanh(x->t, T(x, "x")); }
static ag_tensor *b_sigmoid(ctx *x) { return ag_sigmoid(x->t, T(x, "x")); }
static ag_tensor *b_relu(ctx *x) { return ag_relu(x->t, T(x, "x")); }
static ag_tensor *b_scale(ctx *x) { return ag_scale(x->t, T(x, "x"), (ag_float)R(x, "s")); }
static ag_tensor *b_sqrt(ctx *x) { return ag_sqrt(x->t, T(x, "x")); }
static ag_tensor *b_abs(ctx *x) { return ag_abs(x->t, T(x, "x")); }
static ag_tensor *b_pow(ctx *x) { return ag_pow(x->t, T(x, "x"), (ag_float)R(x, "p")); }
static ag_tensor *b_clamp(ctx *x) { return ag_clamp(x->t, T(x, "x"), (ag_float)R(x, "min"), (ag_float)R(x, "max")); }
static ag_tensor *b_sum(ctx *x) { return ag_sum(x->t, T(x, "x")); }
static ag_tensor *b_mean(ctx *x) { return ag_mean(x->t, T(x, "x")); }
static ag_tensor *b_sum_dim(ctx *x) { return ag_sum_dim(x->t, T(x, "x"), I(x, "dim"), I(x, "keepdim")); }
static ag_tensor *b_mean_dim(ctx *x) { return ag_mean_dim(x->t, T(x, "x"), I(x, "dim"), I(x, "keepdim")); }
static ag_tensor *b_matmul(ctx *x) { return ag_matmul(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_bmm(ctx *x) { return ag_bmm(x->t, T(x, "a"), T(x, "b")); }
static ag_tensor *b_softmax(ctx *x) { return ag_softmax(x->t, T(x, "x"), I(x, "dim")); }
static ag_tensor *b_log_softmax(ctx *x) { return ag_log_softmax(x->t, T(x, "x"), I(x, "dim")); }
static ag_tensor *b_select(ctx *x) { return ag_select(x->t, T(x, "x"), I(x, "dim"), I(x, "index")); }
static ag_tensor *b_slice(ctx *x) { return ag_slice(x->t, T(x, "x"), I(x, "dim"), I(x, "start"), I(x, "end")); }
static ag_tensor *b_transpose(ctx *x) { return ag_transpose(x->t, T(x, "x"), I(x, "dim0"), I(x, "dim1")); }
static ag_tensor *b_argmax(ctx *x) { return ag_argmax(x->t, T(x, "x"), I(x, "dim"), I(x, "keepdim")); }
static ag_tensor *b_mse_loss(ctx *x) { return ag_mse_loss(x->t, T(x, "input"), T(x, "target"), RED(x)); }
static ag_tensor *b_bce(ctx *x) { return ag_bce_with_logits(x->t, T(x, "logits"), T(x, "targets"), RED(x)); }

static ag_tensor *b_linear(ctx *x)
{
    ag_tensor *in0 = T(x, "x"), *W = T(x, "W");
    return ag_linear(x->t, in0, W, agref_has(x, "b") ? T(x, "b") : NULL);
}

/* xs.0, xs.1, ... as a list */
static int tensor_list(ctx *x, ag_tensor **xs, int max)
{
    int n = 0;
    char key[16];
    for (; n < max; n++) {
        snprintf(key, sizeof key, "xs.%d", n);
        if (!agref_has(x, key)) break;
        xs[n] = T(x, key);
    }
    return n;
}

static ag_tensor *b_cat(ctx *x)
{
    ag_tensor *xs[8];
    int n = tensor_list(x, xs, 8);
    return ag_cat(x->t, xs, n, I(x, "dim"));
}

static ag_tensor *b_stack(ctx *x)
{
    ag_tensor *xs[8];
    int n = tensor_list(x, xs, 8);
    return ag_stack(x->t, xs, n, I(x, "dim"));
}

static ag_tensor *b_index_select(ctx *x)
{
    int n;
    ag_tensor *v = T(x, "x");
    const int *idx = IV(x, "index", &n);
    return ag_index_select(x->t, v, I(x, "dim"), idx, n);
}

/* x * detach(x): the detached factor is a constant (torch: x * x.detach()) */
static ag_tensor *b_detach(ctx *x)
{
    ag_tensor *v = T(x, "x");
    return ag_mul(x->t, v, ag_detach(x->t, v));
}

static ag_tensor *b_one_hot(ctx *x)
{
    int n;
    const int *idx = IV(x, "idx", &n);
    return ag_one_hot(x->t, idx, n, I(x, "classes"));
}

static ag_tensor *b_reshape(ctx *x)
{
    int n;
    ag_tensor *v = T(x, "x");
    const int *shape = IV(x, "shape", &n);
    return ag_reshape(x->t, v, n, shape);
}

static ag_tensor *b_permute(ctx *x)
{
    int n;
    ag_tensor *v = T(x, "x");
    return ag_permute(x->t, v, IV(x, "dims", &n));
}

static ag_tensor *b_embedding(ctx *x)
{
    int n;
    ag_tensor *W = T(x, "W");
    const int *idx = IV(x, "idx", &n);
    return ag_embedding(x->t, W, idx, n, I(x, "padding_idx"));
}

static ag_tensor *max_min(ctx *x, int want_max)
{
    int idx[256];
    ag_tensor *v = T(x, "x");
    if (!v || v->size > 256) return NULL;
    ag_tensor *out = (want_max ? ag_max_dim : ag_min_dim)(x->t, v, I(x, "dim"), I(x, "keepdim"), idx);
    if (out) agref_check_ints(x, "out.indices", idx, out->size);
    return out;
}
static ag_tensor *b_max_dim(ctx *x) { return max_min(x, 1); }
static ag_tensor *b_min_dim(ctx *x) { return max_min(x, 0); }

static ag_tensor *b_nll_loss(ctx *x)
{
    int n;
    ag_tensor *lp = T(x, "logp");
    return ag_nll_loss(x->t, lp, IV(x, "targets", &n), RED(x));
}

static ag_tensor *b_cross_entropy(ctx *x)
{
    int n;
    ag_tensor *lg = T(x, "logits");
    ag_cross_entropy_options o = {RED(x), I(x, "ignore_index"), R(x, "label_smoothing")};
    return ag_cross_entropy(x->t, lg, IV(x, "targets", &n), &o);
}

/* gi.0, gi.1, ... (which = "gi") or gh.0, ...: a cell's G gate projections */
static void gates(ctx *x, const char *which, ag_tensor **g, int G)
{
    char key[16];
    for (int k = 0; k < G; k++) {
        snprintf(key, sizeof key, "%s.%d", which, k);
        g[k] = T(x, key);
    }
}

static ag_tensor *b_gru_cell(ctx *x)
{
    ag_tensor *gi[3], *gh[3];
    gates(x, "gi", gi, 3);
    gates(x, "gh", gh, 3);
    return ag_gru_cell(x->t, gi, gh, T(x, "h"));
}

/* torch.stack([h', c']): both outputs compared, and the seed reaches c' directly too */
static ag_tensor *b_lstm_cell(ctx *x)
{
    ag_tensor *gi[4], *gh[4], *c2 = NULL;
    gates(x, "gi", gi, 4);
    gates(x, "gh", gh, 4);
    ag_tensor *h2 = ag_lstm_cell(x->t, gi, gh, T(x, "c"), &c2);
    return ag_stack(x->t, (ag_tensor *[]){h2, c2}, 2, 0);
}

static const agref_op builders[] = {
    {"add", b_add}, {"sub", b_sub}, {"mul", b_mul}, {"div", b_div},
    {"neg", b_neg}, {"exp", b_exp}, {"log", b_log}, {"tanh", b_tanh},
    {"sigmoid", b_sigmoid}, {"relu", b_relu}, {"scale", b_scale}, {"sqrt", b_sqrt},
    {"abs", b_abs}, {"pow", b_pow}, {"clamp", b_clamp},
    {"sum", b_sum}, {"mean", b_mean}, {"sum_dim", b_sum_dim}, {"mean_dim", b_mean_dim},
    {"matmul", b_matmul}, {"linear", b_linear}, {"bmm", b_bmm},
    {"cat", b_cat}, {"stack", b_stack}, {"select", b_select}, {"slice", b_slice},
    {"index_select", b_index_select}, {"reshape", b_reshape}, {"detach", b_detach}, {"one_hot", b_one_hot}, {"permute", b_permute},
    {"transpose", b_transpose}, {"embedding", b_embedding},
    {"softmax", b_softmax}, {"log_softmax", b_log_softmax},
    {"max_dim", b_max_dim}, {"min_dim", b_min_dim}, {"argmax", b_argmax},
    {"nll_loss", b_nll_loss}, {"cross_entropy", b_cross_entropy},
    {"mse_loss", b_mse_loss}, {"bce_with_logits", b_bce},
    {"gru_cell", b_gru_cell}, {"lstm_cell", b_lstm_cell},
};
#define N_BUILDERS ((int)(sizeof builders / sizeof builders[0]))

static agref_set fixtures;

static void ops_match_torch(void **state)
{
    (void)state;
    assert_int_equal(agref_run_all(&fixtures, builders, N_BUILDERS, TOL, BUILD), 0);
}

/* The comparison must be able to fail: a case with its output moved by 100 TOL. */
static void a_wrong_value_fails(void **state)
{
    (void)state;
    assert_int_equal(agref_moved_fails(&fixtures, builders, N_BUILDERS, "tanh", "out", 0, TOL, TOL), 1);
}

/* A damaged fixture is refused with the file and line, not half read. */
static void a_bad_file_is_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "agref 2\n",                                       /* another version */
        "agref 1\ncase a tanh\nt x 1 3 0.5 0.25\nend\n", /* 2 values for 3 */
        "agref 1\ncase a tanh\nq x 1 0\nend\n",          /* unknown record */
        "agref 1\ncase a tanh\nt x 1 1 0.5\n",            /* no end */
        "agref 1\ncase a tanh\nt x 1 1 zero\nend\n",     /* not a number */
    };
    const char *path = "test_torch_ref_bad.txt"; /* in the build directory */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(bad[i], f);
        fclose(f);
        agref_set s = {0};
        assert_int_equal(agref_load(&s, path), 0);
        agref_free(&s);
    }
    remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE.txt... (tests/torch_ref/ops.txt)\n", argv[0]);
        return 2;
    }
    int ok = 1;
    for (int i = 1; i < argc && ok; i++) ok = agref_load(&fixtures, argv[i]);
    if (ok && fixtures.n == 0) ok = (fprintf(stderr, "no cases in the fixtures\n"), 0);
    int rc = 1;
    if (ok) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(ops_match_torch),
            cmocka_unit_test(a_wrong_value_fails),
            cmocka_unit_test(a_bad_file_is_refused),
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    agref_free(&fixtures);
    return rc;
}
