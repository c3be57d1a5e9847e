/* test_nn.c -- the nn modules in float: initialisation, optimizers against hand-worked
 * numbers, clipping, and padding that never changes a result (the registry is in
 * test_nn_params.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "counting_alloc.h"
#include "nn.h"

/* torch.nn.Linear: weight and bias uniform in +-1/sqrt(in). With in = 100 the bound is
 * 0.1; 2000 draws should come within 1% of both ends of the range. */
static void linear_init(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_linear l;
    assert_int_equal(nn_linear_init(&l, &ps, "fc.", 100, 20, 1, &r), NN_OK);
    assert_string_equal(l.weight->name, "fc.weight");
    assert_string_equal(l.bias->name, "fc.bias");
    assert_int_equal(l.weight->shape[0], 20);
    assert_int_equal(l.weight->shape[1], 100);
    float lo = 1, hi = -1;
    for (int i = 0; i < l.weight->size; i++) {
        lo = fminf(lo, l.weight->data[i]);
        hi = fmaxf(hi, l.weight->data[i]);
    }
    assert_true(lo >= -0.1f && lo < -0.099f);
    assert_true(hi <= 0.1f && hi > 0.099f);
    for (int i = 0; i < 20; i++) assert_true(fabsf(l.bias->data[i]) <= 0.1f);
    assert_int_equal(nn_linear_init(&l, &ps, "x.", 0, 3, 1, &r), NN_EARG);
    nn_params_free(&ps);
}

/* Hand-worked optimizer steps on one value p = 1 with gradient 0.5 each step. All
 * numbers are rounded once or twice to float, so 1e-6 is a safe tolerance. */
static void sgd_momentum_weight_decay(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *p = nn_params_new(&ps, "", "p", 1, (int[]){1});
    p->data[0] = 1;
    nn_optim o;
    assert_int_equal(nn_sgd_init(&o, &ps, 0.1, 0.9, 0.1), NN_OK);
    /* step 1: d = 0.5 + 0.1*1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94 */
    p->grad[0] = 0.5f;
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - 0.94) < 1e-6);
    /* step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134 */
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - 0.8266) < 1e-6);
    nn_optim_free(&o);
    /* plain SGD keeps no state */
    assert_int_equal(nn_sgd_init(&o, &ps, 0.5, 0, 0), NN_OK);
    assert_int_equal(o.state_len, 0);
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - (0.8266 - 0.25)) < 1e-6);
    nn_optim_free(&o);
    assert_int_equal(nn_sgd_init(&o, &ps, 0, 0, 0), NN_EARG);
    nn_params_free(&ps);
}

static void adam(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *p = nn_params_new(&ps, "", "p", 1, (int[]){1});
    p->data[0] = 1;
    nn_optim o;
    assert_int_equal(nn_adam_init(&o, &ps, 0.1, 0.9, 0.999, 1e-8, 0), NN_OK);
    /* step 1: m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25: p -= 0.1 * 0.5 / 0.5 */
    p->grad[0] = 0.5f;
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - 0.9) < 1e-6);
    /* step 2: m = 0.095, v = 0.00049975; m^ = 0.5, v^ = 0.25 again: p -= 0.1 */
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - 0.8) < 1e-6);
    assert_int_equal(o.step, 2);
    nn_optim_free(&o);
    assert_int_equal(nn_adam_init(&o, &ps, 0.1, 1.0, 0.999, 1e-8, 0), NN_EARG);
    nn_params_free(&ps);
}

static void clip(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *a = nn_params_new(&ps, "", "a", 1, (int[]){1}), *b = nn_params_new(&ps, "", "b", 1, (int[]){1});
    a->grad[0] = 3;
    b->grad[0] = 4;
    assert_true(fabs(nn_clip_grad_norm(&ps, 10) - 5) < 1e-12); /* under the bound: untouched */
    assert_true(a->grad[0] == 3 && b->grad[0] == 4);
    assert_true(fabs(nn_clip_grad_norm(&ps, 1) - 5) < 1e-12);
    /* scaled by 1 / (5 + 1e-6): (0.6, 0.8) to float rounding */
    assert_true(fabs(a->grad[0] - 0.6) < 1e-6 && fabs(b->grad[0] - 0.8) < 1e-6);
    nn_params_free(&ps);
}

/* nn_where must be exact: mask 1 gives a, mask 0 gives b, bit for bit. */
static void where_is_exact(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *m = ag_from_array(t, 2, (int[]){2, 1}, (ag_float[]){1, 0});
    ag_tensor *a = ag_from_array(t, 2, (int[]){2, 2}, (ag_float[]){0.1f, 1e-30f, 3.3f, 7});
    ag_tensor *b = ag_from_array(t, 2, (int[]){2, 2}, (ag_float[]){5, 6, -1e20f, 0.7f});
    ag_tensor *w = nn_where(t, m, a, b);
    assert_true(w->data[0] == a->data[0] && w->data[1] == a->data[1]);
    assert_true(w->data[2] == b->data[2] && w->data[3] == b->data[3]);
    ag_tape_free(t);
}

/* ---- padding equivalence ----
 * Three sequences of lengths 5, 2, 4 run as one padded batch (T = 5) give the same
 * outputs as each run alone, and the batch's parameter gradients (of the summed
 * outputs) equal the sum of the single runs' gradients. Forward values take the same
 * arithmetic path per row and must match exactly; gradients are sums of the same
 * terms in another order, so they get float rounding slack: 1e-5 absolute on
 * gradients of size < 10 (about 100 float ulps). */

enum { PT = 5, PN = 3, PI = 6, PH = 7, PO = 4 };
static const int PLEN[PN] = {5, 2, 4};

typedef struct {
    int kind; /* 0 seed rnn, 1.. nn_rnn kind + 1 */
    nn_params ps;
    nn_tutorial_rnn seed;
    nn_rnn rnn;
} pmodel;

static ag_tensor *pforward(ag_tape *t, pmodel *m, ag_tensor *x, const int *lengths)
{
    if (m->kind == 0) return nn_tutorial_rnn_forward(t, &m->seed, x, lengths);
    return nn_rnn_forward(t, &m->rnn, x, lengths, NULL, NULL);
}

static void padding_case(int kind)
{
    pmodel m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    nn_params_init(&m.ps);
    ag_rng r;
    ag_rng_seed(&r, 5);
    if (kind == 0) assert_int_equal(nn_tutorial_rnn_init(&m.seed, &m.ps, "", PI, PH, PO, &r), NN_OK);
    else assert_int_equal(nn_rnn_init(&m.rnn, &m.ps, (nn_rnn_kind)(kind - 1), "", PI, PH, &r), NN_OK);
    /* the data: x[t][n] for t < PLEN[n], zero padding after */
    ag_float x[PT][PN][PI] = {{{0}}};
    for (int t = 0; t < PT; t++)
        for (int n = 0; n < PN; n++)
            for (int i = 0; i < PI && t < PLEN[n]; i++) x[t][n][i] = (ag_float)(ag_rng_uniform(&r) * 2 - 1);
    long numel = nn_params_numel(&m.ps);
    float single_grad[2000];
    assert_true(numel <= 2000);
    memset(single_grad, 0, sizeof single_grad);
    ag_tape *t = ag_tape_new();
    ag_float single_out[PN][PH];
    int width = 0;
    for (int n = 0; n < PN; n++) {
        ag_tape_reset(t);
        nn_params_zero_grad(&m.ps);
        ag_tensor *xn = ag_zeros(t, 3, (int[]){PLEN[n], 1, PI});
        for (int s = 0; s < PLEN[n]; s++) memcpy(xn->data + s * PI, x[s][n], sizeof x[s][n]);
        ag_tensor *out = pforward(t, &m, xn, NULL); /* (1, W) */
        assert_non_null(out);
        width = out->shape[1];
        memcpy(single_out[n], out->data, (size_t)width * sizeof(ag_float));
        assert_int_equal(ag_backward(t, ag_sum(t, out)), AG_OK);
        for (int p = 0, k = 0; p < m.ps.n; p++)
            for (int i = 0; i < m.ps.p[p]->size; i++) single_grad[k++] += m.ps.p[p]->grad[i];
    }
    ag_tape_reset(t);
    nn_params_zero_grad(&m.ps);
    ag_tensor *xb = ag_from_array(t, 3, (int[]){PT, PN, PI}, &x[0][0][0]);
    ag_tensor *out = pforward(t, &m, xb, PLEN);
    assert_non_null(out);
    for (int n = 0; n < PN; n++)
        for (int j = 0; j < width; j++) assert_true(out->data[n * width + j] == single_out[n][j]);
    assert_int_equal(ag_backward(t, ag_sum(t, out)), AG_OK);
    double worst = 0; /* by comparison: a running fmax() stops GCC 12 for aarch64 (see name_gen's main.c) */
    for (int p = 0, k = 0; p < m.ps.n; p++)
        for (int i = 0; i < m.ps.p[p]->size; i++, k++) {
            double d = fabs(m.ps.p[p]->grad[i] - single_grad[k]);
            if (d > worst) worst = d;
        }
    printf("  kind %d: outputs identical, worst gradient difference %.3g\n", kind, worst);
    assert_true(worst <= 1e-5);
    ag_tape_free(t);
    nn_params_free(&m.ps);
}

static void padding_never_changes_a_result(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) padding_case(kind);
}

/* Every step's state (`all`) of a padded batch, with a given h0: inside a sequence it is
 * the state of that sequence run alone, after its end it repeats its last state; the
 * final state is the one at its own end. Exact, as the outputs above. */
static void padded_all_states(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        nn_params ps;
        nn_params_init(&ps);
        ag_rng r;
        ag_rng_seed(&r, 9);
        nn_rnn rnn;
        assert_int_equal(nn_rnn_init(&rnn, &ps, (nn_rnn_kind)kind, "", PI, PH, &r), NN_OK);
        ag_float x[PT][PN][PI] = {{{0}}}, h0[PN][PH];
        for (int t = 0; t < PT; t++)
            for (int n = 0; n < PN; n++)
                for (int i = 0; i < PI && t < PLEN[n]; i++) x[t][n][i] = (ag_float)(ag_rng_uniform(&r) * 2 - 1);
        for (int n = 0; n < PN; n++)
            for (int j = 0; j < PH; j++) h0[n][j] = (ag_float)(ag_rng_uniform(&r) - 0.5);
        ag_tape *tb = ag_tape_new(), *t1 = ag_tape_new();
        ag_tensor *all;
        ag_tensor *hb = nn_rnn_forward(tb, &rnn, ag_from_array(tb, 3, (int[]){PT, PN, PI}, &x[0][0][0]), PLEN,
                                       ag_from_array(tb, 2, (int[]){PN, PH}, &h0[0][0]), &all);
        assert_non_null(hb);
        assert_non_null(all);
        assert_int_equal(all->shape[0], PT);
        assert_int_equal(all->shape[1], PN);
        for (int n = 0; n < PN; n++) {
            ag_tape_reset(t1);
            ag_tensor *xn = ag_zeros(t1, 3, (int[]){PLEN[n], 1, PI}), *all1;
            for (int s = 0; s < PLEN[n]; s++) memcpy(xn->data + s * PI, x[s][n], sizeof x[s][n]);
            ag_tensor *h1 = nn_rnn_forward(t1, &rnn, xn, NULL, ag_from_array(t1, 2, (int[]){1, PH}, h0[n]), &all1);
            assert_non_null(h1);
            assert_memory_equal(hb->data + n * PH, h1->data, PH * sizeof(ag_float));
            for (int s = 0; s < PT; s++) {
                int from = s < PLEN[n] ? s : PLEN[n] - 1;
                assert_memory_equal(all->data + (s * PN + n) * PH, all1->data + from * PH, PH * sizeof(ag_float));
            }
        }
        ag_tape_free(tb);
        ag_tape_free(t1);
        nn_params_free(&ps);
    }
}

static void rnn_shape_errors(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_rnn g;
    assert_int_equal(nn_rnn_init(&g, &ps, NN_GRU, "gru.", 3, 4, &r), NN_OK);
    assert_string_equal(g.weight_ih->name, "gru.weight_ih_l0");
    assert_int_equal(g.weight_ih->shape[0], 12);
    ag_tape *t = ag_tape_new();
    assert_null(nn_rnn_forward(t, &g, ag_zeros(t, 3, (int[]){2, 1, 5}), NULL, NULL, NULL));
    assert_non_null(strstr(ag_tape_error(t), "gru: input is (2, 1, 5) but must be (T, N, 3)"));
    ag_tape_reset(t);
    assert_null(nn_rnn_forward(t, &g, ag_zeros(t, 3, (int[]){2, 2, 3}), (int[]){1, 3}, NULL, NULL));
    assert_non_null(strstr(ag_tape_error(t), "gru: length 3 of sequence 1 is outside 1..2"));
    ag_tape_reset(t);
    assert_null(nn_rnn_forward(t, &g, ag_zeros(t, 3, (int[]){2, 2, 3}), NULL, ag_zeros(t, 2, (int[]){2, 5}), NULL));
    assert_non_null(strstr(ag_tape_error(t), "gru: h0 is (2, 5) but the input (2, 2, 3) needs (2, 4)"));
    ag_tape_free(t);
    nn_params_free(&ps);
}

/* Dropout: p = 0 is the identity; otherwise each element is 0 or x / (1 - p), about a
 * share p of them 0 (10,000 draws at p = 0.25: sd of the share is 0.0043, 5 sd = 0.022);
 * the gradient is the same mask. */
static void dropout(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_rng r;
    ag_rng_seed(&r, 11);
    ag_tensor *x = ag_param_new(2, (int[]){100, 100}, "x");
    ag_fill(x, 2);
    assert_ptr_equal(nn_dropout(t, x, 0, &r), x);
    ag_tensor *y = nn_dropout(t, x, 0.25, &r);
    int zeros = 0;
    for (int i = 0; i < y->size; i++) {
        assert_true(y->data[i] == 0 || fabsf(y->data[i] - 2 / 0.75f) < 1e-6f);
        zeros += y->data[i] == 0;
    }
    assert_true(fabs(zeros / 10000.0 - 0.25) < 0.022);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    for (int i = 0; i < y->size; i++) assert_true(x->grad[i] == (y->data[i] == 0 ? 0 : 1 / 0.75f));
    assert_null(nn_dropout(t, x, 1.0, &r));
    assert_non_null(strstr(ag_tape_error(t), "dropout: p = 1 is outside [0, 1)"));
    ag_param_free(x);
    ag_tape_free(t);
}

/* ---- allocation failure in a training step ----
 * A GRU step (forward, backward, Adam) on a fresh tape, with the k-th allocation made to
 * fail, for every k until the step succeeds: each failure is a clean AG_ENOMEM with a
 * message, nothing leaks (every allocation is freed; ASan checks the rest in the
 * sanitizer build), and the parameters and optimizer state are exactly as before. */

static ag_status gru_step(ag_tape *t, nn_rnn *g, nn_linear *head, nn_params *ps, nn_optim *o)
{
    ag_rng r;
    ag_rng_seed(&r, 4);
    nn_params_zero_grad(ps);
    /* big enough that the tape's arena grows several times, in forward and in backward */
    int lengths[16], targets[16];
    for (int n = 0; n < 16; n++) lengths[n] = 20 - n, targets[n] = n % 3;
    ag_tensor *x = ag_rand(t, &r, 3, (int[]){20, 16, 4}, -1, 1);
    ag_tensor *h = nn_rnn_forward(t, g, x, lengths, NULL, NULL);
    ag_tensor *loss = ag_nll_loss(t, ag_log_softmax(t, nn_linear_forward(t, head, h), 1), targets, AG_MEAN);
    if (!loss) return ag_tape_status(t);
    ag_status s = ag_backward(t, loss);
    if (s == AG_OK) nn_optim_step(o);
    return s;
}

static void training_step_allocation_failures(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng r;
    ag_rng_seed(&r, 9);
    nn_rnn g;
    nn_linear head;
    nn_optim o;
    assert_int_equal(nn_rnn_init(&g, &ps, NN_GRU, "gru.", 4, 48, &r), NN_OK);
    assert_int_equal(nn_linear_init(&head, &ps, "head.", 48, 3, 1, &r), NN_OK);
    assert_int_equal(nn_adam_init(&o, &ps, 0.01, 0.9, 0.999, 1e-8, 0), NN_OK);
    long numel = nn_params_numel(&ps);
    static float before[20000], opt_before[40000];
    assert_true(numel <= 20000);
    for (int i = 0, k = 0; i < ps.n; i++)
        for (int j = 0; j < ps.p[i]->size; j++) before[k++] = ps.p[i]->data[j];
    memcpy(opt_before, o.state, (size_t)o.state_len * sizeof(float));
    counter b = {0, 0, -1};
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, &b});
    int failures = 0;
    for (long k = 0;; k++) {
        b.allocs = b.frees = 0;
        b.fail_after = k;
        ag_tape *t = ag_tape_new();
        ag_status s = t ? gru_step(t, &g, &head, &ps, &o) : AG_ENOMEM;
        if (t && s != AG_OK) assert_non_null(strstr(ag_tape_error(t), "out of memory"));
        ag_tape_free(t);
        assert_int_equal(b.allocs, b.frees); /* nothing leaked */
        if (s == AG_OK) break;
        assert_int_equal(s, AG_ENOMEM);
        failures++;
        for (int i = 0, j = 0; i < ps.n; i++) /* the model is unchanged */
            for (int e = 0; e < ps.p[i]->size; e++) assert_true(ps.p[i]->data[e] == before[j++]);
        assert_int_equal(memcmp(opt_before, o.state, (size_t)o.state_len * sizeof(float)), 0);
        assert_int_equal(o.step, 0);
        assert_true(k < 100);
    }
    printf("  %d allocations of a cold GRU step failed in turn, each cleanly\n", failures);
    assert_true(failures >= 1);
    assert_int_equal(o.step, 1); /* and the step that could allocate did run */
    ag_set_allocator(NULL);
    nn_optim_free(&o);
    nn_params_free(&ps);
}

/* ---- Embedding and LayerNorm ---- */

/* torch.nn.Embedding: weight (num, dim) from N(0, 1), the padding row zeros; the
 * forward gives rows of it in the indices' shape. 4000 draws: the mean is within
 * 4 / sqrt(4000) = 0.063 of 0 and the variance within 0.1 of 1 (4 standard errors). */
static void embedding(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng r;
    ag_rng_seed(&r, 3);
    nn_embedding e;
    assert_int_equal(nn_embedding_init(&e, &ps, "emb.", 400, 10, 7, &r), NN_OK);
    assert_string_equal(e.weight->name, "emb.weight");
    assert_int_equal(e.weight->shape[0], 400);
    assert_int_equal(e.weight->shape[1], 10);
    double sum = 0, sq = 0;
    for (int i = 0; i < e.weight->size; i++) sum += e.weight->data[i], sq += (double)e.weight->data[i] * e.weight->data[i];
    for (int j = 0; j < 10; j++) assert_true(e.weight->data[7 * 10 + j] == 0);
    double mean = sum / 3990, var = sq / 3990 - mean * mean; /* the 10 zeros left out */
    assert_true(fabs(mean) < 0.063 && fabs(var - 1) < 0.1);
    ag_tape *t = ag_tape_new();
    const int idx[6] = {3, 0, 7, 3, 399, 1};
    ag_tensor *y = nn_embedding_forward(t, &e, 2, (int[]){2, 3}, idx); /* (2, 3) -> (2, 3, 10) */
    assert_non_null(y);
    assert_int_equal(y->rank, 3);
    assert_true(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 10);
    for (int k = 0; k < 6; k++)
        assert_memory_equal(y->data + k * 10, e.weight->data + idx[k] * 10, 10 * sizeof(ag_float));
    /* the gradient: rows add up (3 twice), padding row 7 gets none */
    nn_params_zero_grad(&ps);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    assert_true(e.weight->grad[3 * 10] == 2 && e.weight->grad[0] == 1 && e.weight->grad[7 * 10] == 0 &&
                e.weight->grad[2 * 10] == 0);
    ag_tensor *s = nn_embedding_forward(t, &e, 0, NULL, (int[]){5}); /* one index -> (10) */
    assert_non_null(s);
    assert_true(s->rank == 1 && s->shape[0] == 10);
    /* errors: the tape's, naming the op */
    ag_tape_reset(t);
    assert_null(nn_embedding_forward(t, &e, 1, (int[]){2}, (int[]){1, 400}));
    assert_int_equal(ag_tape_status(t), AG_EINDEX);
    ag_tape_reset(t);
    assert_null(nn_embedding_forward(t, &e, AG_MAX_RANK, (int[]){1, 1, 1, 1}, (int[]){1}));
    assert_non_null(strstr(ag_tape_error(t), "embedding: indices of rank 4"));
    ag_tape_free(t);
    /* init errors: a status and a message naming the module; the registry untouched */
    int n = ps.n;
    assert_int_equal(nn_embedding_init(&e, &ps, "bad.", 0, 10, -1, &r), NN_EARG);
    assert_non_null(strstr(nn_params_error(&ps), "embedding 'bad.': num = 0 and dim = 10 must be >= 1"));
    assert_int_equal(nn_embedding_init(&e, &ps, "bad.", 5, 2, 5, &r), NN_EARG);
    assert_non_null(strstr(nn_params_error(&ps), "padding_idx = 5 must be in [0, 5) or -1"));
    assert_int_equal(nn_embedding_init(&e, &ps, "bad.", 5, 2, -2, &r), NN_EARG);
    assert_int_equal(nn_embedding_init(&e, &ps, "emb.", 5, 2, -1, &r), NN_EDUP);
    assert_int_equal(ps.n, n);
    nn_params_free(&ps);
}

/* torch.nn.LayerNorm: weight ones, bias zeros; a hand-worked row; errors. */
static void layernorm(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    nn_layernorm ln;
    assert_int_equal(nn_layernorm_init(&ln, &ps, "ln.", 1, (int[]){4}, 1e-5, 1), NN_OK);
    assert_string_equal(ln.weight->name, "ln.weight");
    assert_string_equal(ln.bias->name, "ln.bias");
    for (int i = 0; i < 4; i++) assert_true(ln.weight->data[i] == 1 && ln.bias->data[i] == 0);
    ag_tape *t = ag_tape_new();
    /* rows (1, 2, 3, 4): mean 2.5, biased variance 1.25; (2, 2, 2, 2): all 0 */
    ag_tensor *x = ag_from_array(t, 2, (int[]){2, 4}, (ag_float[]){1, 2, 3, 4, 2, 2, 2, 2});
    ag_tensor *y = nn_layernorm_forward(t, &ln, x);
    assert_non_null(y);
    assert_true(y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 4);
    for (int j = 0; j < 4; j++) {
        assert_true(fabs(y->data[j] - (j + 1 - 2.5) / sqrt(1.25 + 1e-5)) < 1e-6); /* a few float roundings */
        assert_true(y->data[4 + j] == 0);
    }
    /* weight and bias apply per feature */
    ln.weight->data[1] = 2;
    ln.bias->data[1] = 0.5f;
    y = nn_layernorm_forward(t, &ln, x);
    assert_true(fabs(y->data[1] - (2 * (-0.5 / sqrt(1.25 + 1e-5)) + 0.5)) < 1e-6);
    /* over the last two dims, without affine parameters: no parameters registered */
    int n = ps.n;
    nn_layernorm l2;
    assert_int_equal(nn_layernorm_init(&l2, &ps, "l2.", 2, (int[]){2, 2}, 1e-5, 0), NN_OK);
    assert_int_equal(ps.n, n);
    assert_null(l2.weight);
    y = nn_layernorm_forward(t, &l2, ag_reshape(t, x, 3, (int[]){2, 2, 2}));
    assert_non_null(y);
    assert_true(y->rank == 3 && fabs(y->data[0] - (1 - 2.5) / sqrt(1.25 + 1e-5)) < 1e-6);
    /* an input that does not end in the normalized shape: both shapes named */
    ag_tape_reset(t);
    assert_null(nn_layernorm_forward(t, &ln, ag_zeros(t, 2, (int[]){4, 3})));
    assert_int_equal(ag_tape_status(t), AG_ESHAPE);
    assert_non_null(strstr(ag_tape_error(t), "layernorm: input is (4, 3) but must end in the normalized shape (4)"));
    ag_tape_free(t);
    assert_int_equal(nn_layernorm_init(&l2, &ps, "x.", 0, (int[]){4}, 1e-5, 1), NN_EARG);
    assert_non_null(strstr(nn_params_error(&ps), "layernorm 'x.': the normalized shape has rank 0"));
    assert_int_equal(nn_layernorm_init(&l2, &ps, "x.", 2, (int[]){4, 0}, 1e-5, 1), NN_EARG);
    assert_non_null(strstr(nn_params_error(&ps), "dim 1 of the normalized shape is 0"));
    assert_int_equal(nn_layernorm_init(&l2, &ps, "x.", 1, (int[]){4}, 0, 1), NN_EARG);
    assert_non_null(strstr(nn_params_error(&ps), "eps = 0 must be > 0"));
    assert_int_equal(nn_layernorm_init(&l2, &ps, "ln.", 1, (int[]){4}, 1e-5, 1), NN_EDUP);
    assert_int_equal(ps.n, n);
    nn_params_free(&ps);
}

/* ---- Adagrad, RMSprop, AdamW by hand (one value p = 1, gradient 0.5 each step; each
 * number rounded a few times to float: 1e-6) ---- */

static ag_tensor *one_param(nn_params *ps)
{
    nn_params_init(ps);
    ag_tensor *p = nn_params_new(ps, "", "p", 1, (int[]){1});
    p->data[0] = 1;
    p->grad[0] = 0.5f;
    return p;
}

static void adagrad(void **state)
{
    (void)state;
    nn_params ps;
    ag_tensor *p = one_param(&ps);
    nn_optim o;
    assert_int_equal(nn_adagrad_init(&o, &ps, 0.1, 0, 0, 0, 1e-10), NN_OK);
    assert_int_equal(nn_optim_buffers(&o), 1);
    assert_string_equal(nn_optim_buffer_name(&o, 0), "adagrad.sum.");
    nn_optim_step(&o); /* sum = 0.25, std = 0.5: p = 1 - 0.1 * 0.5 / 0.5 */
    assert_true(fabs(p->data[0] - 0.9) < 1e-6);
    nn_optim_step(&o); /* sum = 0.5: p -= 0.1 * 0.5 / sqrt(0.5) */
    assert_true(fabs(p->data[0] - (0.9 - 0.05 / sqrt(0.5))) < 1e-6);
    nn_optim_free(&o);
    /* lr_decay, weight decay, initial accumulator: step 2's rate is lr / (1 + lr_decay) */
    p->data[0] = 1;
    assert_int_equal(nn_adagrad_init(&o, &ps, 0.1, 0.5, 0.1, 0.75, 0), NN_OK);
    assert_true(o.state[0] == 0.75f);
    nn_optim_step(&o); /* d = 0.6, sum = 0.75 + 0.36 = 1.11 */
    double p1 = 1 - 0.1 * 0.6 / sqrt(1.11);
    assert_true(fabs(p->data[0] - p1) < 1e-6);
    nn_optim_step(&o);
    double d = 0.5 + 0.1 * p1;
    assert_true(fabs(p->data[0] - (p1 - 0.1 / 1.5 * d / sqrt(1.11 + d * d))) < 1e-6);
    nn_optim_free(&o);
    assert_int_equal(nn_adagrad_init(&o, &ps, 0.1, -1, 0, 0, 1e-10), NN_EARG);
    assert_string_equal(o.error, "adagrad: lr_decay = -1 must be >= 0");
    assert_int_equal(nn_adagrad_init(&o, &ps, 0, 0, 0, 0, 1e-10), NN_EARG);
    assert_string_equal(o.error, "adagrad: lr = 0 must be > 0");
    assert_int_equal(nn_adagrad_init(&o, &ps, 0.1, 0, 0, -0.5, 1e-10), NN_EARG);
    assert_string_equal(o.error, "adagrad: initial_accumulator_value = -0.5 must be >= 0");
    nn_optim_free(&o); /* fine after a failed init */
    nn_params_free(&ps);
}

static void rmsprop(void **state)
{
    (void)state;
    nn_params ps;
    ag_tensor *p = one_param(&ps);
    nn_optim o;
    /* plain: sq = 0.1 * 0.25 = 0.025, p = 1 - 0.01 * 0.5 / (sqrt(0.025) + eps) */
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 0.9, 1e-8, 0, 0, 0), NN_OK);
    assert_int_equal(nn_optim_buffers(&o), 1);
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - (1 - 0.005 / sqrt(0.025))) < 1e-6);
    nn_optim_free(&o);
    /* centered: grad_avg = 0.05, variance 0.025 - 0.0025 = 0.0225, sqrt 0.15 */
    p->data[0] = 1;
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 0.9, 1e-8, 0, 0, 1), NN_OK);
    assert_string_equal(nn_optim_buffer_name(&o, 1), "rmsprop.avg.");
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - (1 - 0.005 / 0.15)) < 1e-6);
    nn_optim_free(&o);
    /* momentum 0.9, centered: buffers sq, buf, avg; buf = 0.5 / 0.15, then 0.9 buf + d / den */
    p->data[0] = 1;
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 0.9, 1e-8, 0, 0.9, 1), NN_OK);
    assert_int_equal(nn_optim_buffers(&o), 3);
    assert_string_equal(nn_optim_buffer_name(&o, 0), "rmsprop.sq.");
    assert_string_equal(nn_optim_buffer_name(&o, 1), "rmsprop.buf.");
    assert_string_equal(nn_optim_buffer_name(&o, 2), "rmsprop.avg.");
    assert_null(nn_optim_buffer_name(&o, 3));
    nn_optim_step(&o);
    double buf = 0.5 / 0.15;
    assert_true(fabs(p->data[0] - (1 - 0.01 * buf)) < 1e-6);
    nn_optim_step(&o); /* sq = 0.9 * 0.025 + 0.025 = 0.0475, avg = 0.095 */
    double den = sqrt(0.0475 - 0.095 * 0.095);
    double p2 = 1 - 0.01 * buf - 0.01 * (0.9 * buf + 0.5 / den);
    assert_true(fabs(p->data[0] - p2) < 1e-6);
    nn_optim_free(&o);
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 1, 1e-8, 0, 0, 0), NN_EARG);
    assert_string_equal(o.error, "rmsprop: alpha = 1 must be in [0, 1)");
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 0.9, 1e-8, 0, -1, 0), NN_EARG);
    assert_string_equal(o.error, "rmsprop: momentum = -1 must be >= 0");
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.01, 0.9, 1e-8, 0, 0, 2), NN_EARG);
    assert_string_equal(o.error, "rmsprop: centered = 2 must be 0 or 1");
    nn_params_free(&ps);
}

static void adamw(void **state)
{
    (void)state;
    nn_params ps;
    ag_tensor *p = one_param(&ps);
    nn_optim o;
    /* step 1: p = 0.99 (decay 1 - 0.1 * 0.1); m = 0.05, v = 0.00025; m^ = 0.5,
     * sqrt(v^) = 0.5: p -= 0.1 * 0.5 / 0.5 -> 0.89. The gradient gets no decay term. */
    assert_int_equal(nn_adamw_init(&o, &ps, 0.1, 0.9, 0.999, 1e-8, 0.1), NN_OK);
    assert_int_equal(nn_optim_buffers(&o), 2);
    assert_string_equal(nn_optim_buffer_name(&o, 0), "adamw.m.");
    assert_string_equal(nn_optim_buffer_name(&o, 1), "adamw.v.");
    nn_optim_step(&o);
    assert_true(fabs(p->data[0] - 0.89) < 1e-6);
    nn_optim_step(&o); /* m^, v^ as before: p = 0.89 * 0.99 - 0.1 */
    assert_true(fabs(p->data[0] - (0.89 * 0.99 - 0.1)) < 1e-6);
    nn_optim_free(&o);
    assert_int_equal(nn_adamw_init(&o, &ps, 0.1, 0.9, 1.5, 1e-8, 0.1), NN_EARG);
    assert_string_equal(o.error, "adamw: beta2 = 1.5 must be in [0, 1)");
    assert_int_equal(nn_adamw_init(&o, &ps, 10, 0.9, 0.999, 1e-8, 0.5), NN_EARG);
    assert_non_null(strstr(o.error, "adamw: lr * weight_decay = 5 must be <= 1"));
    assert_int_equal(nn_sgd_init(&o, &ps, 0.1, -0.5, 0), NN_EARG);
    assert_string_equal(o.error, "sgd: momentum = -0.5 must be >= 0");
    assert_string_equal(nn_optim_kind_name(NN_ADAMW), "adamw");
    assert_string_equal(nn_optim_kind_name((nn_optim_kind)9), "?");
    nn_params_free(&ps);
}

/* torch.nn.utils.clip_grad_value_: each value clamped, NaN kept, the bound checked. */
static void clip_value(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_tensor *a = nn_params_new(&ps, "", "a", 1, (int[]){5});
    const ag_float g[5] = {-3, -0.25f, 0, 0.5f, 7};
    memcpy(a->grad, g, sizeof g);
    assert_int_equal(nn_clip_grad_value(&ps, 0.5), NN_OK);
    assert_true(a->grad[0] == -0.5f && a->grad[1] == -0.25f && a->grad[2] == 0 && a->grad[3] == 0.5f && a->grad[4] == 0.5f);
    a->grad[0] = NAN;
    assert_int_equal(nn_clip_grad_value(&ps, 0), NN_OK);
    assert_true(isnan(a->grad[0]) && a->grad[1] == 0 && a->grad[4] == 0);
    assert_int_equal(nn_clip_grad_value(&ps, -1), NN_EARG);
    assert_int_equal(nn_clip_grad_value(&ps, NAN), NN_EARG);
    nn_params_free(&ps);
}

/* An optimizer whose state cannot be allocated: NN_ENOMEM and a message, nothing
 * leaked, and nn_optim_free is safe after it. */
static void optim_out_of_memory(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    assert_non_null(nn_params_new(&ps, "", "w", 2, (int[]){3, 4}));
    counter c = {0, 0, 0}; /* every allocation fails */
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, &c});
    nn_optim o;
    assert_int_equal(nn_adagrad_init(&o, &ps, 0.1, 0, 0, 0.5, 1e-10), NN_ENOMEM);
    assert_string_equal(o.error, "adagrad: out of memory for 12 state values");
    nn_optim_free(&o);
    assert_int_equal(nn_rmsprop_init(&o, &ps, 0.1, 0.9, 1e-8, 0, 0.9, 1), NN_ENOMEM);
    assert_string_equal(o.error, "rmsprop: out of memory for 36 state values");
    nn_optim_free(&o);
    assert_int_equal(nn_adamw_init(&o, &ps, 0.1, 0.9, 0.999, 1e-8, 0.01), NN_ENOMEM);
    nn_optim_free(&o);
    ag_set_allocator(NULL);
    assert_int_equal(c.allocs, c.frees);
    nn_params_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_init),
        cmocka_unit_test(sgd_momentum_weight_decay),
        cmocka_unit_test(adam),
        cmocka_unit_test(clip),
        cmocka_unit_test(where_is_exact),
        cmocka_unit_test(padding_never_changes_a_result), cmocka_unit_test(padded_all_states),
        cmocka_unit_test(rnn_shape_errors),
        cmocka_unit_test(dropout),
        cmocka_unit_test(training_step_allocation_failures),
        cmocka_unit_test(embedding),
        cmocka_unit_test(layernorm),
        cmocka_unit_test(adagrad),
        cmocka_unit_test(rmsprop),
        cmocka_unit_test(adamw),
        cmocka_unit_test(clip_value),
        cmocka_unit_test(optim_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
