/* test_tape.c -- the tape itself: accumulation, a recurrence worked by hand, no-grad
 * mode, reset, the allocation-free training step and failing allocations. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(used_twice_accumulates),
        cmocka_unit_test(recurrence_by_hand),
        cmocka_unit_test(no_grad_records_nothing),
        cmocka_unit_test(reset_releases_and_reuses),
        cmocka_unit_test(step_after_warmup_allocates_nothing),
        cmocka_unit_test(each_allocation_can_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
