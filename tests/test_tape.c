/* test_tape.c -- the tape itself: accumulation, a recurrence worked by hand, no-grad
 * mode, reset, the allocation-free training step and failing allocations. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"
#include "counting_alloc.h"

/* A tensor used twice sums both paths: y = a*x + b*x at a=2, b=3 gives dy/dx = 5.
 * All values are small integers, exact in float: the checks are exact. */
static void used_twice_accumulates(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_param_new(1, (int[]){1}, "x");
    x->data[0] = 7;
    ag_tensor *a = ag_full(t, 1, (int[]){1}, 2), *b = ag_full(t, 1, (int[]){1}, 3);
    ag_tensor *y = ag_add(t, ag_mul(t, a, x), ag_mul(t, b, x));
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    assert_true(x->grad[0] == 5);
    /* a second backward over the same tape adds again, as PyTorch with retain_graph */
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    assert_true(x->grad[0] == 10);
    ag_zero_grad(x);
    assert_true(x->grad[0] == 0);
    ag_param_free(x);
    ag_tape_free(t);
}

/* h_t = W cat(x_t, h_{t-1}) + b, W = [a c] = [0.5 2], b = 1, x = (1, 2, 3), h_0 = 0.
 *   h1 = 0.5 + 1 = 1.5,  h2 = 1 + 3 + 1 = 5,  h3 = 1.5 + 10 + 1 = 12.5
 *   dh3/da = x3 + c x2 + c^2 x1 = 3 + 4 + 4 = 11
 *   dh3/dc = h2 + c h1 = 5 + 3 = 8
 *   dh3/db = 1 + c + c^2 = 7
 * Every intermediate is a multiple of 1/2 below 2^24, exact in float, so the
 * comparison is exact. */
static void recurrence_by_hand(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(2, (int[]){1, 2}, "W"), *b = ag_param_new(1, (int[]){1}, "b");
    W->data[0] = 0.5f;
    W->data[1] = 2;
    b->data[0] = 1;
    ag_tensor *h = ag_zeros(t, 2, (int[]){1, 1});
    for (int s = 1; s <= 3; s++) {
        ag_tensor *xs[2] = {ag_full(t, 2, (int[]){1, 1}, (ag_float)s), h};
        h = ag_linear(t, ag_cat(t, xs, 2, 1), W, b);
    }
    assert_non_null(h);
    assert_true(h->data[0] == 12.5f);
    assert_int_equal(ag_backward(t, h), AG_OK);
    assert_true(W->grad[0] == 11);
    assert_true(W->grad[1] == 8);
    assert_true(b->grad[0] == 7);
    /* 3 linears + 2 cats: the first cat joins two constants and records nothing */
    assert_int_equal(ag_tape_nodes(t), 5);
    ag_param_free(W);
    ag_param_free(b);
    ag_tape_free(t);
}

static void no_grad_records_nothing(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(2, (int[]){2, 2}, "W");
    ag_fill(W, 1);
    assert_int_equal(ag_tape_set_grad(t, 0), 1);
    ag_tensor *y = ag_linear(t, ag_ones(t, 2, (int[]){1, 2}), W, NULL);
    assert_non_null(y);
    assert_true(y->data[0] == 2 && y->data[1] == 2);
    assert_int_equal(ag_tape_nodes(t), 0);
    assert_false(y->requires_grad);
    assert_null(y->grad_fn);
    /* backward of something that needs no gradient is a no-op, not an error */
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    assert_true(W->grad[0] == 0);
    assert_int_equal(ag_tape_set_grad(t, 1), 0);
    ag_param_free(W);
    ag_tape_free(t);
}

static void reset_releases_and_reuses(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_param_new(1, (int[]){1000}, "x");
    ag_tensor *y = ag_exp(t, ag_scale(t, x, 2));
    assert_non_null(y);
    size_t used = ag_tape_bytes(t);
    assert_true(used >= 2 * 1000 * sizeof(ag_float));
    assert_int_equal(ag_tape_nodes(t), 2);
    ag_tape_reset(t);
    assert_int_equal(ag_tape_bytes(t), 0);
    assert_int_equal(ag_tape_nodes(t), 0);
    y = ag_exp(t, ag_scale(t, x, 2));
    assert_int_equal(ag_tape_bytes(t), used); /* same step, same bytes, same chunks */
    ag_param_free(x);
    ag_tape_free(t);
}

/* One step of the tutorial's model: combined = cat(x, h), h' = i2h(combined),
 * out = log_softmax(i2o(combined)) for 4 characters, NLL, backward, SGD. Returns
 * AG_OK or the first error. */
typedef struct {
    ag_tensor *Wh, *bh, *Wo, *bo;
} rnn;

static ag_status train_step(ag_tape *t, rnn *m, int target)
{
    ag_tensor *ps[4] = {m->Wh, m->bh, m->Wo, m->bo};
    ag_tape_reset(t);
    for (int i = 0; i < 4; i++) ag_zero_grad(ps[i]);
    ag_tensor *h = ag_zeros(t, 2, (int[]){1, 16});
    ag_tensor *out = NULL;
    for (int s = 0; s < 4; s++) {
        ag_tensor *xs[2] = {ag_one_hot(t, (int[]){s * 3}, 1, 20), h};
        ag_tensor *comb = ag_cat(t, xs, 2, 1);
        h = ag_linear(t, comb, m->Wh, m->bh);
        out = ag_log_softmax(t, ag_linear(t, comb, m->Wo, m->bo), 1);
    }
    ag_tensor *loss = ag_nll_loss(t, out, &target, AG_MEAN);
    if (!loss) return ag_tape_status(t);
    ag_status s = ag_backward(t, loss);
    if (s != AG_OK) return s;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < ps[i]->size; k++) ps[i]->data[k] -= 0.01f * ps[i]->grad[k];
    return AG_OK;
}

static void step_after_warmup_allocates_nothing(void **state)
{
    (void)state;
    counter c = {0, 0, -1};
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, &c});
    ag_tape *t = ag_tape_new();
    rnn m = {ag_param_new(2, (int[]){16, 36}, "i2h.weight"), ag_param_new(1, (int[]){16}, "i2h.bias"),
             ag_param_new(2, (int[]){5, 36}, "i2o.weight"), ag_param_new(1, (int[]){5}, "i2o.bias")};
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_fill_uniform(m.Wh, &r, -0.1, 0.1);
    ag_fill_uniform(m.Wo, &r, -0.1, 0.1);
    assert_int_equal(train_step(t, &m, 2), AG_OK); /* warm-up: the arena grows */
    long before = c.allocs;
    for (int i = 0; i < 10; i++) assert_int_equal(train_step(t, &m, i % 5), AG_OK);
    assert_int_equal(c.allocs - before, 0);
    ag_param_free(m.Wh);
    ag_param_free(m.bh);
    ag_param_free(m.Wo);
    ag_param_free(m.bo);
    ag_tape_free(t);
    assert_int_equal(c.allocs, c.frees); /* and everything came back */
    ag_set_allocator(NULL);
}

/* Every allocation of a first step fails in turn: each failure is a clean AG_ENOMEM
 * with a message, never a crash, and freeing afterwards returns every byte. */
static void each_allocation_can_fail(void **state)
{
    (void)state;
    counter c = {0, 0, -1};
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, &c});
    int saw_failure = 0, saw_success = 0;
    for (long k = 0; k < 50 && !saw_success; k++) {
        c.allocs = c.frees = 0;
        c.fail_after = k;
        ag_tape *t = ag_tape_new();
        rnn m = {ag_param_new(2, (int[]){16, 36}, "w"), ag_param_new(1, (int[]){16}, "b"),
                 ag_param_new(2, (int[]){5, 36}, "w"), ag_param_new(1, (int[]){5}, "b")};
        if (t && m.Wh && m.bh && m.Wo && m.bo) {
            ag_status s = train_step(t, &m, 1);
            if (s == AG_OK) {
                saw_success = 1;
            } else {
                assert_int_equal(s, AG_ENOMEM);
                assert_non_null(strstr(ag_tape_error(t), "out of memory"));
                saw_failure = 1;
            }
        }
        ag_param_free(m.Wh);
        ag_param_free(m.bh);
        ag_param_free(m.Wo);
        ag_param_free(m.bo);
        ag_tape_free(t);
        assert_int_equal(c.allocs, c.frees);
    }
    assert_true(saw_failure);
    assert_true(saw_success);
    ag_set_allocator(NULL);
}

/* ---- stale tensors, detach, state across resets ---- */

/* A tape tensor from before the last reset is refused by every op and by backward,
 * with a message that says what happened and what to do instead; so is one made on
 * another tape. Caller-owned tensors (parameters, buffers) are never stale. */
static void stale_tensor_is_refused(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new(), *other = ag_tape_new();
    ag_tensor *W = ag_param_new(1, (int[]){3}, "W");
    ag_tensor *old = ag_mul(t, ag_ones(t, 1, (int[]){3}), W);
    assert_non_null(old);
    ag_tape_reset(t);
    assert_null(ag_tanh(t, old));
    assert_int_equal(ag_tape_status(t), AG_ESTATE);
    assert_non_null(strstr(ag_tape_error(t), "tanh: input 0 is a tape tensor made before the tape's last reset"));
    assert_non_null(strstr(ag_tape_error(t), "ag_detach_into"));
    ag_tape_reset(t);
    /* the second input of a binary op, and a list input of cat */
    assert_null(ag_add(t, W, old));
    assert_non_null(strstr(ag_tape_error(t), "add: input 1 is a tape tensor made before"));
    ag_tape_reset(t);
    ag_tensor *xs[2] = {ag_ones(t, 1, (int[]){3}), old};
    assert_null(ag_cat(t, xs, 2, 0));
    assert_non_null(strstr(ag_tape_error(t), "cat: input 1"));
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, ag_sum(t, W)), AG_OK); /* a parameter is never stale */
    ag_tape_reset(t);
    /* backward from a stale loss */
    ag_tensor *loss = ag_sum(t, ag_mul(t, W, W));
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, loss), AG_ESTATE);
    assert_non_null(strstr(ag_tape_error(t), "backward: input 0 is a tape tensor made before"));
    /* a tensor of another tape */
    ag_tape_reset(t);
    ag_tensor *foreign = ag_ones(other, 1, (int[]){3});
    assert_null(ag_mul(t, foreign, W));
    assert_int_equal(ag_tape_status(t), AG_ESTATE);
    assert_non_null(strstr(ag_tape_error(t), "or on another tape"));
    ag_param_free(W);
    ag_tape_free(t);
    ag_tape_free(other);
}

/* y = detach(W*W) * W: the detached factor is a constant, so dy/dW = W^2 (= 9 at 3),
 * not 3 W^2 (27). Small integers: exact. */
static void detach_stops_the_gradient(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(1, (int[]){1}, "W");
    W->data[0] = 3;
    ag_tensor *c = ag_detach(t, ag_mul(t, W, W));
    assert_non_null(c);
    assert_false(c->requires_grad);
    assert_null(c->grad_fn);
    assert_true(c->data[0] == 9);
    assert_int_equal(ag_backward(t, ag_sum(t, ag_mul(t, c, W))), AG_OK);
    assert_true(W->grad[0] == 9);
    ag_param_free(W);
    ag_tape_free(t);
}

/* h_t = tanh(w h_{t-1} + x_t) over 6 steps, run in one piece and in three chunks of 2
 * with the state carried by ag_detach_into: the forward values agree exactly (the same
 * float operations in the same order), and each chunk's gradient reaches back only to
 * its own first step (w's gradient of chunk 3 is that of a 2-step run from h_4). */
static void detach_into_carries_state_across_resets(void **state)
{
    (void)state;
    static const ag_float xs[6] = {0.5f, -1, 0.25f, 2, -0.5f, 1};
    ag_tape *t = ag_tape_new();
    ag_tensor *w = ag_param_new(1, (int[]){1}, "w");
    w->data[0] = 0.7f;
    ag_tensor *h = ag_zeros(t, 1, (int[]){1});
    for (int s = 0; s < 6; s++) h = ag_tanh(t, ag_add(t, ag_mul(t, w, h), ag_full(t, 1, (int[]){1}, xs[s])));
    ag_float whole = h->data[0];

    ag_tensor *keep = ag_buffer_new(1, (int[]){1}, "h");
    assert_non_null(keep);
    assert_false(keep->requires_grad);
    assert_null(keep->grad);
    ag_float h4 = 0;
    for (int chunk = 0; chunk < 3; chunk++) {
        ag_tape_reset(t);
        ag_zero_grad(w);
        if (chunk == 2) h4 = keep->data[0];
        h = keep;
        for (int s = 2 * chunk; s < 2 * chunk + 2; s++)
            h = ag_tanh(t, ag_add(t, ag_mul(t, w, h), ag_full(t, 1, (int[]){1}, xs[s])));
        assert_int_equal(ag_backward(t, ag_sum(t, h)), AG_OK);
        assert_int_equal(ag_detach_into(t, keep, h), AG_OK);
    }
    assert_true(keep->data[0] == whole);
    /* chunk 3 by hand: a = w h4 + x4, b = tanh a, c = w b + x5, h6 = tanh c
     *   dh6/dw = (1 - h6^2) (b + w (1 - b^2) h4)   (double; float gradient to ~1e-6) */
    double wv = w->data[0], b = tanh(wv * h4 + xs[4]), h6 = tanh(wv * b + xs[5]);
    double want = (1 - h6 * h6) * (b + wv * (1 - b * b) * h4);
    assert_true(fabs(w->grad[0] - want) < 1e-5); /* float rounding of four tanh steps */

    /* errors: a tape tensor as destination, and a shape that differs */
    ag_tape_reset(t);
    ag_tensor *y = ag_ones(t, 1, (int[]){1});
    assert_int_equal(ag_detach_into(t, y, keep), AG_EARG);
    assert_non_null(strstr(ag_tape_error(t), "detach_into: the destination must be a caller-owned tensor"));
    ag_tape_reset(t);
    assert_int_equal(ag_detach_into(t, keep, ag_ones(t, 1, (int[]){2})), AG_ESHAPE);
    assert_non_null(strstr(ag_tape_error(t), "detach_into: the destination is (1) but the source is (2)"));
    ag_buffer_free(keep);
    ag_buffer_free(NULL);
    ag_param_free(w);
    ag_tape_free(t);
}

/* ---- user-written ops: what ag_op_record checks, and the end-of-pass hook ---- */

static ag_status twice_backward(ag_tape *t, const ag_node *n)
{
    ag_tensor *x = ag_node_in(n, 0);
    ag_float *dx = ag_grad(t, x);
    for (int i = 0; dx && i < x->size; i++) dx[i] += 2 * ag_node_out(n)->grad[i];
    return ag_tape_status(t);
}

static const ag_op twice_op = {"twice", twice_backward};
static const ag_op no_backward_op = {"broken", NULL};

static void op_record_checks_its_arguments(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(1, (int[]){2}, "W");
    ag_tensor *y = ag_op_output(t, &twice_op, 1, (int[]){2});
    assert_null(ag_op_record(t, &no_backward_op, y, &W, 1, 0));
    assert_int_equal(ag_tape_status(t), AG_EARG);
    assert_non_null(strstr(ag_tape_error(t), "broken: ag_op_record needs a descriptor with a name and a backward"));
    ag_tape_reset(t);
    assert_null(ag_op_record(t, &twice_op, W, &W, 1, 0)); /* the output must be a tape tensor */
    assert_non_null(strstr(ag_tape_error(t), "twice: the output to record must be made on this tape"));
    ag_tape_reset(t);
    assert_null(ag_op_output(t, &twice_op, 1, (int[]){0}));
    assert_non_null(strstr(ag_tape_error(t), "twice: shape has a dim < 1"));
    ag_tape_reset(t);
    /* ag_backward_at_end outside a backward pass */
    assert_null(ag_backward_at_end(t, NULL));
    assert_int_equal(ag_tape_status(t), AG_ESTATE);
    ag_tape_reset(t);
    /* and a good one: recorded, reached by backward, saved bytes zeroed */
    y = ag_op_output(t, &twice_op, 1, (int[]){2});
    for (int i = 0; i < 2; i++) y->data[i] = 2 * W->data[i];
    ag_node *n = ag_op_record(t, &twice_op, y, &W, 1, 24);
    assert_non_null(n);
    assert_ptr_equal(ag_node_op(n), &twice_op);
    assert_int_equal(ag_node_n_in(n), 1);
    assert_ptr_equal(ag_node_in(n, 0), W);
    assert_null(ag_node_in(n, 1));
    assert_ptr_equal(ag_node_out(n), y);
    const unsigned char *saved = ag_node_saved(n);
    for (int i = 0; i < 24; i++) assert_int_equal(saved[i], 0);
    assert_int_equal(ag_backward(t, ag_sum(t, y)), AG_OK);
    assert_true(W->grad[0] == 2 && W->grad[1] == 2);
    ag_param_free(W);
    ag_tape_free(t);
}

/* An op that files its nodes for the end of the pass: the hook runs once per pass,
 * after every backward, and its slot starts empty each pass. */
static int flushes, flushed_nodes;

static ag_status count_flush(ag_tape *t, void *slot)
{
    (void)t;
    flushes++;
    for (const ag_node *n = slot; n; n = *(const ag_node **)ag_node_saved(n)) flushed_nodes++;
    return AG_OK;
}

static ag_status late_backward(ag_tape *t, const ag_node *n)
{
    void **slot = ag_backward_at_end(t, count_flush);
    if (!slot) return ag_tape_status(t);
    *(const void **)ag_node_saved(n) = *slot; /* saved: the next node in the list */
    *slot = (void *)n;
    return AG_OK;
}

static const ag_op late_op = {"late", late_backward};

static void at_end_runs_once_per_pass(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *W = ag_param_new(1, (int[]){1}, "W");
    ag_tensor *sum = NULL;
    for (int k = 0; k < 3; k++) {
        ag_tensor *y = ag_op_output(t, &late_op, 1, (int[]){1});
        y->data[0] = W->data[0];
        ag_op_record(t, &late_op, y, &W, 1, sizeof(void *));
        sum = sum ? ag_add(t, sum, y) : y;
    }
    flushes = flushed_nodes = 0;
    assert_int_equal(ag_backward(t, ag_sum(t, sum)), AG_OK);
    assert_int_equal(flushes, 1);
    assert_int_equal(flushed_nodes, 3);
    assert_int_equal(ag_backward(t, ag_sum(t, sum)), AG_OK); /* a second pass starts empty */
    assert_int_equal(flushes, 2);
    assert_int_equal(flushed_nodes, 6);
    ag_param_free(W);
    ag_tape_free(t);
}

/* ---- gradients given back during backward (ag_tape_release_grads) ---- */

typedef struct {
    ag_tensor *x, *W, *U, *b, *h0;
    int N, T;
} rel_model;

/* h' = tanh(x_s W^T + h U^T + b) over T steps, views and a one-hot input included:
 * N < 16 defers U's and W's gradients to the end of the pass (they keep their node's
 * output gradient), N >= 16 does not */
static ag_tensor *rel_forward(ag_tape *t, rel_model *m)
{
    int idx[64 * 12];
    for (int i = 0; i < m->N * m->T; i++) idx[i] = (i * 7) % 5 - (i % 11 == 4);
    ag_tensor *oh = ag_reshape(t, ag_one_hot(t, idx, m->N * m->T, 5), 3, (int[]){m->T, m->N, 5});
    ag_tensor *h = m->h0, *acc = NULL;
    for (int s = 0; s < m->T; s++) {
        ag_tensor *in = ag_cat(t, (ag_tensor *[]){ag_select(t, oh, 0, s), ag_select(t, m->x, 0, s)}, 2, 1);
        h = ag_tanh(t, ag_add(t, ag_linear(t, in, m->W, m->b), ag_linear(t, h, m->U, NULL)));
        acc = acc ? ag_add(t, acc, ag_sum(t, ag_mul(t, h, h))) : ag_sum(t, h);
    }
    return acc;
}

static void released_grads_same_results(void **state)
{
    (void)state;
    for (int N = 3; N <= 48; N += 45) {
        enum { T = 12, I = 4, H = 6 };
        rel_model m[2];
        ag_rng r;
        for (int k = 0; k < 2; k++) {
            ag_rng_seed(&r, 21);
            m[k] = (rel_model){ag_param_new(3, (int[]){T, N, I}, "x"), ag_param_new(2, (int[]){H, 5 + I}, "W"),
                               ag_param_new(2, (int[]){H, H}, "U"), ag_param_new(1, (int[]){H}, "b"),
                               ag_param_new(2, (int[]){N, H}, "h0"), N, T};
            ag_tensor *ps[] = {m[k].x, m[k].W, m[k].U, m[k].b, m[k].h0};
            for (int i = 0; i < 5; i++) ag_fill_uniform(ps[i], &r, -0.7, 0.7);
        }
        ag_tape *t = ag_tape_new();
        size_t bytes[2];
        for (int k = 0; k < 2; k++) { /* k = 0: kept (the default), 1: released */
            ag_tape_reset(t);
            assert_int_equal(ag_tape_release_grads(t, k), 0); /* the previous setting: off */
            ag_tensor *loss = rel_forward(t, &m[k]);
            assert_int_equal(ag_backward(t, loss), AG_OK);
            bytes[k] = ag_tape_bytes(t);
            if (k == 1) assert_true(loss->grad && loss->grad[0] == 1); /* the output keeps its own */
        }
        assert_int_equal(ag_tape_release_grads(t, 0), 1);
        /* the same sums in the same order: bit for bit */
        ag_tensor *a[] = {m[0].x, m[0].W, m[0].U, m[0].b, m[0].h0}, *b[] = {m[1].x, m[1].W, m[1].U, m[1].b, m[1].h0};
        for (int i = 0; i < 5; i++) assert_memory_equal(a[i]->grad, b[i]->grad, a[i]->size * sizeof(ag_float));
        /* gradients of T steps kept, against about one step's reused */
        printf("  N=%d: arena after backward %zu bytes kept, %zu released\n", N, bytes[0], bytes[1]);
        assert_true(bytes[1] < bytes[0]);
        ag_tape_free(t);
        for (int k = 0; k < 2; k++) {
            ag_param_free(m[k].x), ag_param_free(m[k].W), ag_param_free(m[k].U), ag_param_free(m[k].b);
            ag_param_free(m[k].h0);
        }
    }
}

/* With release on, intermediates have no gradient after backward, parameters do, and a
 * second backward on the same tape gives the parameters the same gradient again. */
static void released_grads_intermediates(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tape_release_grads(t, 1);
    ag_tensor *p = ag_param_new(1, (int[]){3}, "p");
    ag_fill(p, 2);
    ag_tensor *sq = ag_mul(t, p, p), *e = ag_exp(t, sq), *loss = ag_sum(t, ag_mul(t, e, sq));
    assert_int_equal(ag_backward(t, loss), AG_OK);
    assert_null(sq->grad);
    assert_null(e->grad);
    ag_float g1[3];
    memcpy(g1, p->grad, sizeof g1);
    assert_true(g1[0] != 0);
    assert_int_equal(ag_backward(t, loss), AG_OK);
    for (int i = 0; i < 3; i++) assert_true(p->grad[i] == 2 * g1[i]); /* exact: x + x */
    ag_tape_free(t);
    ag_param_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(used_twice_accumulates),
        cmocka_unit_test(recurrence_by_hand),
        cmocka_unit_test(no_grad_records_nothing),
        cmocka_unit_test(reset_releases_and_reuses),
        cmocka_unit_test(step_after_warmup_allocates_nothing),
        cmocka_unit_test(each_allocation_can_fail),
        cmocka_unit_test(stale_tensor_is_refused),
        cmocka_unit_test(detach_stops_the_gradient),
        cmocka_unit_test(detach_into_carries_state_across_resets),
        cmocka_unit_test(op_record_checks_its_arguments),
        cmocka_unit_test(at_end_runs_once_per_pass),
        cmocka_unit_test(released_grads_same_results),
        cmocka_unit_test(released_grads_intermediates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
