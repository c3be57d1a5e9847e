/* test_char_lm_model.c -- char_lm's model (examples/char_lm/lm_model.c): the state that
 * truncated BPTT carries is the state a forward pass over the whole text would have.
 * For each kind (Elman, GRU, LSTM; two layers; batch 2), chunk A then chunk B, with the
 * state kept across a tape reset in the buffers, gives the logits of B that one forward
 * pass over A and B together gives; and the LSTM step written out in lm_model.c (for
 * its cell state) equals nn_rnn_forward from zeros. Tolerance 1e-5 on logits of
 * magnitude ~1: the two computations differ only in float32 summation order. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lm_model.h"

enum { V = 7, H = 6, L = 2, N = 2, TA = 5, TB = 4 };

static double max_diff(const ag_float *a, const ag_float *b, int n)
{
    double d = 0; /* by comparison: a running fmax() stops GCC 12 for aarch64 (see name_gen's main.c) */
    for (int i = 0; i < n; i++)
        if (fabs((double)a[i] - (double)b[i]) > d) d = fabs((double)a[i] - (double)b[i]);
    return d;
}

static void carried_state_is_exact(nn_rnn_kind kind)
{
    lm_model m;
    char err[256];
    ag_rng rng;
    ag_rng_seed(&rng, 7);
    assert_int_equal(lm_model_build(&m, kind, V, H, L, &rng, err, sizeof err), 0);
    int idx[(TA + TB) * N];
    for (int i = 0; i < (TA + TB) * N; i++) idx[i] = ag_rng_below(&rng, V);
    ag_tape *t = ag_tape_new();
    lm_state whole, st;
    assert_int_equal(lm_state_new(&whole, &m, N), 0);
    assert_int_equal(lm_state_new(&st, &m, N), 0);
    ag_tensor *last[2 * LM_MAX_LAYERS];

    /* one pass over A and B */
    ag_tensor *all = lm_forward(t, &m, &whole, idx, TA + TB, N, last);
    assert_non_null(all);
    ag_float want[TB * N * V];
    memcpy(want, all->data + TA * N * V, sizeof want);

    /* A, keep the state, reset, B from the buffers */
    ag_tape_reset(t);
    assert_non_null(lm_forward(t, &m, &st, idx, TA, N, last));
    assert_int_equal(lm_state_keep(t, &st, last), AG_OK);
    ag_tape_reset(t);
    ag_tensor *b = lm_forward(t, &m, &st, idx + TA * N, TB, N, last);
    assert_non_null(b);
    double d = max_diff(b->data, want, TB * N * V);
    if (d > 1e-5) fail_msg("%s: chunk B differs by %g", nn_rnn_kind_name(kind), d);
    /* the gradient flows to the parameters, not into the buffers */
    assert_int_equal(ag_backward(t, ag_sum(t, b)), AG_OK);
    for (int i = 0; i < st.n; i++) assert_null(st.buf[i]->grad);

    /* lm_state_zero: st's buffers hold A's end state; a new epoch starts from zeros */
    int nonzero = 0;
    for (int i = 0; i < st.n; i++)
        for (int k = 0; k < st.buf[i]->size; k++) nonzero += st.buf[i]->data[k] != 0;
    assert_true(nonzero > 0);
    lm_state_zero(&st);
    for (int i = 0; i < st.n; i++)
        for (int k = 0; k < st.buf[i]->size; k++) assert_true(st.buf[i]->data[k] == 0);

    if (kind == NN_LSTM) { /* the written-out step against nn_rnn_forward, both from zeros */
        ag_tape_reset(t);
        ag_tensor *x = ag_reshape(t, ag_one_hot(t, idx, TA * N, V), 3, (int[]){TA, N, V});
        ag_tensor *layer_all = NULL;
        nn_rnn_forward(t, &m.rnn[0], x, NULL, NULL, &layer_all);
        ag_tensor *top_all = NULL;
        nn_rnn_forward(t, &m.rnn[1], layer_all, NULL, NULL, &top_all);
        ag_tensor *ref = nn_linear_forward(t, &m.head, ag_reshape(t, top_all, 2, (int[]){TA * N, H}));
        assert_non_null(ref);
        ag_float r[TA * N * V];
        memcpy(r, ref->data, sizeof r);
        ag_tensor *mine = lm_forward(t, &m, &whole, idx, TA, N, last);
        assert_non_null(mine);
        d = max_diff(mine->data, r, TA * N * V);
        if (d > 1e-5) fail_msg("lstm: the written-out step differs from nn_rnn_forward by %g", d);
    }
    lm_state_free(&st);
    lm_state_free(&whole);
    ag_tape_free(t);
    lm_model_free(&m);
}

static void test_elman(void **s)
{
    (void)s;
    carried_state_is_exact(NN_ELMAN);
}
static void test_gru(void **s)
{
    (void)s;
    carried_state_is_exact(NN_GRU);
}
static void test_lstm(void **s)
{
    (void)s;
    carried_state_is_exact(NN_LSTM);
}

static void test_bad_sizes(void **s)
{
    (void)s;
    lm_model m;
    char err[256];
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    assert_int_equal(lm_model_build(&m, NN_GRU, 1, 8, 1, &rng, err, sizeof err), -1);
    assert_non_null(strstr(err, "vocab=1"));
    assert_int_equal(lm_model_build(&m, NN_GRU, 5, 8, LM_MAX_LAYERS + 1, &rng, err, sizeof err), -1);
    assert_non_null(strstr(err, "layers=5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elman),
        cmocka_unit_test(test_gru),
        cmocka_unit_test(test_lstm),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
