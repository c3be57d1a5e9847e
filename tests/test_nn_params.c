/* test_nn_params.c -- the parameter registry: no fixed capacity, a status and a message
 * for each cause of failure (duplicate name, bad name, bad shape, out of memory), and
 * module inits that leave the registry exactly as it was when they fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "counting_alloc.h"
#include "nn.h"

/* What a registry holds, to compare before and after a failed call: the count, each
 * parameter's address and name. */
typedef struct {
    int n;
    ag_tensor *p[64];
} snapshot;

static snapshot snap(const nn_params *ps)
{
    snapshot s = {ps->n, {0}};
    assert_true(ps->n <= 64);
    for (int i = 0; i < ps->n; i++) s.p[i] = ps->p[i];
    return s;
}

static void assert_unchanged(const nn_params *ps, const snapshot *s)
{
    assert_int_equal(ps->n, s->n);
    for (int i = 0; i < s->n; i++) assert_ptr_equal(ps->p[i], s->p[i]);
}

static void assert_error(const nn_params *ps, nn_status s, const char *part)
{
    assert_int_equal(nn_params_status(ps), s);
    if (!strstr(nn_params_error(ps), part)) fail_msg("'%s' not in '%s'", part, nn_params_error(ps));
}

static void basics(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    assert_int_equal(nn_params_status(&ps), NN_OK);
    assert_string_equal(nn_params_error(&ps), "");
    ag_tensor *w = nn_params_new(&ps, "enc.", "weight", 2, (int[]){3, 2});
    assert_non_null(w);
    assert_string_equal(w->name, "enc.weight");
    assert_ptr_equal(nn_params_get(&ps, "enc.weight"), w);
    assert_null(nn_params_get(&ps, "enc.bias"));
    ag_tensor *b = NULL;
    assert_int_equal(nn_params_add(&ps, NULL, "bias", 1, (int[]){2}, &b), NN_OK);
    assert_string_equal(b->name, "bias");
    assert_int_equal(nn_params_numel(&ps), 8);
    w->grad[0] = 3;
    nn_params_zero_grad(&ps);
    assert_true(w->grad[0] == 0);
    nn_params_free(&ps);
    assert_int_equal(ps.n, 0);
    assert_null(ps.p);
    nn_params_free(&ps); /* twice is fine, and so is NULL */
    nn_params_free(NULL);
}

/* Each cause has its own status and a message that names the parameter; a failed call
 * registers nothing, and the next success clears the status. */
static void failure_causes(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    assert_non_null(nn_params_new(&ps, "enc.", "weight", 2, (int[]){3, 2}));
    snapshot s = snap(&ps);

    assert_null(nn_params_new(&ps, "enc.", "weight", 1, (int[]){2}));
    assert_error(&ps, NN_EDUP, "'enc.weight' is already registered");
    assert_unchanged(&ps, &s);

    assert_null(nn_params_new(&ps, "", "bad", 2, (int[]){3, 0}));
    assert_error(&ps, NN_ESHAPE, "'bad' has rank 2 and shape (3, 0)");
    assert_null(nn_params_new(&ps, "", "bad", 5, (int[]){1, 1, 1, 1, 1}));
    assert_error(&ps, NN_ESHAPE, "rank 5");
    assert_null(nn_params_new(&ps, "", "huge", 2, (int[]){65536, 65536}));
    assert_error(&ps, NN_ESHAPE, "fewer than 2^31 values");
    assert_null(nn_params_new(&ps, "", "neg", 1, (int[]){-1}));
    assert_error(&ps, NN_ESHAPE, "(-1)");
    assert_unchanged(&ps, &s);

    assert_null(nn_params_new(&ps, "x.", NULL, 1, (int[]){1}));
    assert_error(&ps, NN_ENAME, "NULL");
    assert_null(nn_params_new(&ps, "", "", 1, (int[]){1}));
    assert_error(&ps, NN_ENAME, "non-empty name");
    assert_unchanged(&ps, &s);

    /* the one length limit left is the checkpoint format's (NN_NAME_MAX) */
    char *name = malloc(NN_NAME_MAX + 2);
    memset(name, 'a', NN_NAME_MAX + 1);
    name[NN_NAME_MAX + 1] = 0;
    ag_tensor *p = NULL;
    assert_int_equal(nn_params_add(&ps, "", name, 1, (int[]){1}, &p), NN_ENAME);
    assert_null(p);
    assert_error(&ps, NN_ENAME, "more than 65522");
    assert_unchanged(&ps, &s);
    name[NN_NAME_MAX] = 0; /* exactly NN_NAME_MAX bytes: accepted */
    assert_int_equal(nn_params_add(&ps, "", name, 1, (int[]){1}, &p), NN_OK);
    assert_int_equal(strlen(p->name), NN_NAME_MAX);
    assert_ptr_equal(nn_params_get(&ps, name), p);
    free(name);
    assert_int_equal(nn_params_status(&ps), NN_OK); /* a success clears the last failure */
    assert_string_equal(nn_params_error(&ps), "");

    assert_string_equal(nn_status_name(NN_EDUP), "name already registered");
    assert_string_equal(nn_status_name(NN_ENAME), "bad name");
    assert_string_equal(nn_status_name(NN_ESHAPE), "bad shape");
    nn_params_free(&ps);
}

/* No fixed capacity: 1000 parameters, names past the old 63-byte limit, and a layer
 * number past the old 99. */
static void no_caps(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        assert_non_null(nn_params_new(&ps, "layer.", name, 1, (int[]){2}));
    }
    assert_int_equal(ps.n, 1000);
    assert_true(ps.cap >= 1000);
    assert_int_equal(nn_params_numel(&ps), 2000);
    assert_string_equal(nn_params_get(&ps, "layer.p999")->name, "layer.p999");

    char prefix[300];
    memset(prefix, 'x', 299);
    prefix[298] = '.';
    prefix[299] = 0;
    ag_rng r;
    ag_rng_seed(&r, 1);
    nn_linear l;
    assert_int_equal(nn_linear_init(&l, &ps, prefix, 3, 2, 1, &r), NN_OK);
    assert_int_equal(strlen(l.bias->name), 299 + 4);
    nn_tutorial_rnn sr;
    assert_int_equal(nn_tutorial_rnn_init(&sr, &ps, prefix, 3, 4, 2, &r), NN_OK);
    assert_int_equal(strlen(sr.i2o.weight->name), 299 + 10);
    nn_rnn rnn;
    assert_int_equal(nn_rnn_init_layer(&rnn, &ps, NN_GRU, "rnn.", 100, 3, 4, &r), NN_OK);
    assert_string_equal(rnn.bias_hh->name, "rnn.bias_hh_l100");
    assert_int_equal(ps.n, 1000 + 2 + 4 + 4);
    nn_params_free(&ps);
}

/* The deepest model rnn_names allows: 4 layers, both directions, a head: 34 parameters
 * (the registry once stopped at 32). Builds for each kind, and a step trains. */
static void deep_bidirectional_stack(void **state)
{
    (void)state;
    for (int kind = NN_ELMAN; kind <= NN_LSTM; kind++) {
        nn_params ps;
        nn_params_init(&ps);
        ag_rng r;
        ag_rng_seed(&r, 3);
        nn_rnn fwd[4], rev[4];
        nn_linear head;
        for (int l = 0; l < 4; l++) {
            assert_int_equal(nn_rnn_init_layer(&fwd[l], &ps, (nn_rnn_kind)kind, "rnn.", l, l ? 5 : 3, 5, &r), NN_OK);
            assert_int_equal(nn_rnn_init_layer(&rev[l], &ps, (nn_rnn_kind)kind, "rnn_reverse.", l, l ? 5 : 3, 5, &r),
                             NN_OK);
        }
        assert_int_equal(nn_linear_init(&head, &ps, "head.", 10, 4, 1, &r), NN_OK);
        assert_int_equal(ps.n, 34);
        ag_tape *t = ag_tape_new();
        ag_tensor *x = ag_rand(t, &r, 3, (int[]){6, 2, 3}, -1, 1); /* (T, N, I) */
        ag_tensor *a = x, *b = x, *ha = NULL, *hb = NULL;
        for (int l = 0; l < 4; l++) { /* the reverse stack reads the same x here: enough to train both */
            ha = nn_rnn_forward(t, &fwd[l], a, (int[]){6, 4}, NULL, &a);
            hb = nn_rnn_forward(t, &rev[l], b, (int[]){6, 4}, NULL, &b);
        }
        ag_tensor *both[2] = {ha, hb};
        ag_tensor *logp = ag_log_softmax(t, nn_linear_forward(t, &head, ag_cat(t, both, 2, 1)), 1);
        ag_tensor *loss = ag_nll_loss(t, logp, (int[]){1, 3}, AG_MEAN);
        assert_non_null(loss);
        nn_params_zero_grad(&ps);
        assert_int_equal(ag_backward(t, loss), AG_OK);
        for (int i = 0; i < ps.n; i++) { /* every parameter, the first layer's included, got a gradient */
            double g = 0;
            for (int k = 0; k < ps.p[i]->size; k++) g += ps.p[i]->grad[k] * ps.p[i]->grad[k];
            if (!(g > 0)) fail_msg("%s %s: no gradient", nn_rnn_kind_name((nn_rnn_kind)kind), ps.p[i]->name);
        }
        ag_tape_free(t);
        nn_params_free(&ps);
    }
}

/* A module init that fails leaves the registry as it was (no weight without its bias,
 * no half of an RNN layer), passes the true cause on, and leaves the module untouched. */
static void failed_inits_change_nothing(void **state)
{
    (void)state;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng r;
    ag_rng_seed(&r, 1);
    assert_non_null(nn_params_new(&ps, "fc.", "bias", 1, (int[]){2}));
    assert_non_null(nn_params_new(&ps, "rnn.", "bias_hh_l0", 1, (int[]){2}));
    assert_non_null(nn_params_new(&ps, "", "i2o.weight", 1, (int[]){2}));
    snapshot s = snap(&ps);

    nn_linear l, l0;
    memset(&l, 0x5a, sizeof l);
    l0 = l;
    assert_int_equal(nn_linear_init(&l, &ps, "fc.", 3, 2, 1, &r), NN_EDUP);
    assert_error(&ps, NN_EDUP, "'fc.bias' is already registered");
    assert_unchanged(&ps, &s);
    assert_null(nn_params_get(&ps, "fc.weight")); /* the weight went with its bias */
    assert_memory_equal(&l, &l0, sizeof l);
    assert_int_equal(nn_linear_init(&l, &ps, "fc.", 3, 2, 0, &r), NN_OK); /* no bias: no clash */
    assert_null(l.bias);
    nn_params_truncate(&ps, s.n);
    assert_unchanged(&ps, &s);

    nn_rnn rnn;
    for (int kind = NN_ELMAN; kind <= NN_LSTM; kind++) {
        assert_int_equal(nn_rnn_init(&rnn, &ps, (nn_rnn_kind)kind, "rnn.", 3, 4, &r), NN_EDUP);
        assert_error(&ps, NN_EDUP, "'rnn.bias_hh_l0'");
        assert_unchanged(&ps, &s);
    }
    assert_int_equal(nn_rnn_init_layer(&rnn, &ps, NN_GRU, "rnn.", -1, 3, 4, &r), NN_EARG);
    assert_error(&ps, NN_EARG, "layer -1");
    assert_int_equal(nn_rnn_init(&rnn, &ps, (nn_rnn_kind)7, "rnn.", 3, 4, &r), NN_EARG);
    assert_error(&ps, NN_EARG, "kind 7");
    assert_int_equal(nn_rnn_init(&rnn, &ps, NN_LSTM, "big.", 3, 0x7fffffff / 3, &r), NN_ESHAPE);
    assert_error(&ps, NN_ESHAPE, "overflow");
    assert_int_equal(nn_rnn_init(&rnn, &ps, NN_ELMAN, "wide.", 65536, 65536, &r), NN_ESHAPE);
    assert_error(&ps, NN_ESHAPE, "'wide.weight_ih_l0' has rank 2 and shape (65536, 65536)");
    assert_unchanged(&ps, &s);

    nn_tutorial_rnn sr;
    assert_int_equal(nn_tutorial_rnn_init(&sr, &ps, "", 3, 4, 2, &r), NN_EDUP);
    assert_error(&ps, NN_EDUP, "'i2o.weight'");
    assert_unchanged(&ps, &s); /* i2h.weight and i2h.bias went too */
    assert_int_equal(nn_tutorial_rnn_init(&sr, &ps, "", 3, 0, 2, &r), NN_EARG);
    assert_error(&ps, NN_EARG, "hidden = 0");
    assert_int_equal(nn_linear_init(&l, &ps, "x.", 0, 3, 1, &r), NN_EARG);
    assert_error(&ps, NN_EARG, "linear 'x.': in = 0");
    assert_unchanged(&ps, &s);
    nn_params_free(&ps);
}

/* Every allocation a registry or a module init makes (the list growing, each parameter,
 * a long name) fails in turn: NN_ENOMEM with the parameter named, the registry exactly
 * as it was, nothing leaked; then the same call succeeds. The registry starts with 16
 * parameters so that the first init must also grow its list. */
typedef nn_status (*init_fn)(nn_params *ps, ag_rng *r);

static nn_status init_linear(nn_params *ps, ag_rng *r)
{
    nn_linear l;
    return nn_linear_init(&l, ps, "fc.", 3, 2, 1, r);
}

static nn_status init_seed(nn_params *ps, ag_rng *r)
{
    nn_tutorial_rnn m;
    return nn_tutorial_rnn_init(&m, ps, "seed.", 3, 4, 2, r);
}

static nn_status init_lstm(nn_params *ps, ag_rng *r)
{
    nn_rnn m;
    return nn_rnn_init_layer(&m, ps, NN_LSTM, "lstm.", 2, 3, 4, r);
}

static nn_status init_long_name(nn_params *ps, ag_rng *r)
{
    (void)r;
    char name[400];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    return nn_params_add(ps, "", name, 1, (int[]){1}, NULL);
}

static void out_of_memory(void **state)
{
    (void)state;
    static const init_fn fns[] = {init_linear, init_seed, init_lstm, init_long_name};
    for (int f = 0; f < 4; f++) {
        counter c = {0, 0, -1};
        ag_set_allocator(&(ag_allocator){count_alloc, count_free, &c});
        nn_params ps;
        nn_params_init(&ps);
        for (int i = 0; i < 16; i++) {
            char name[16];
            snprintf(name, sizeof name, "p%d", i);
            assert_non_null(nn_params_new(&ps, "", name, 1, (int[]){1}));
        }
        snapshot s = snap(&ps);
        int failures = 0;
        nn_status st = NN_ENOMEM;
        for (long k = 0; st == NN_ENOMEM; k++) {
            ag_rng r;
            ag_rng_seed(&r, 1);
            long allocs = c.allocs, frees = c.frees;
            c.fail_after = c.allocs + k;
            st = fns[f](&ps, &r);
            c.fail_after = -1;
            if (st == NN_ENOMEM) {
                failures++;
                assert_error(&ps, NN_ENOMEM, "out of memory for ");
                assert_unchanged(&ps, &s);
                /* what the failed call took it gave back (a list that grew replaced the old one) */
                assert_int_equal(c.allocs - allocs, c.frees - frees);
            }
            assert_true(k < 50);
        }
        assert_int_equal(st, NN_OK);
        assert_true(ps.n > s.n);
        assert_true(failures >= 2);
        nn_params_free(&ps);
        assert_int_equal(c.allocs, c.frees); /* nothing leaked */
        ag_set_allocator(NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basics),
        cmocka_unit_test(failure_causes),
        cmocka_unit_test(no_caps),
        cmocka_unit_test(deep_bidirectional_stack),
        cmocka_unit_test(failed_inits_change_nothing),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
