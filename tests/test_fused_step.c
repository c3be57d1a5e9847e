/* test_fused_step.c -- the update in fewer passes: nn_params_check_grads (the non-finite
 * check and clipping's factor in one pass) and nn_optim_step_zero (the update with that
 * factor, zeroing each gradient as it reads it) against the separate calls they
 * replace, nn_params_first_nonfinite, nn_clip_grad_norm, nn_optim_step and
 * nn_params_zero_grad; and the training loop that uses them stopping on a gradient
 * that is not finite before it changes the model.
 *
 * Every comparison here is exact (memcmp of the float bits, or ==): the fused calls do
 * the same operations in the same order on each value, so there is nothing for a
 * tolerance to absorb, and any difference at all is a bug. Built twice: against nn
 * (float) and nn_f64 (double, where squares of gradients can overflow). */
#include <float.h>
#include <math.h>
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
#ifndef AG_DOUBLE
#include "names_train.h"
#endif

/* Three parameters of sizes that are not multiples of a vector (210, 37, 80 values),
 * so the loops' tails run too. */
static void make(nn_params *ps)
{
    nn_params_init(ps);
    assert_non_null(nn_params_new(ps, "", "W", 2, (int[]){3, 70}));
    assert_non_null(nn_params_new(ps, "", "b", 1, (int[]){37}));
    assert_non_null(nn_params_new(ps, "", "U", 2, (int[]){5, 16}));
}

/* Values and gradients drawn from seed: gradients uniform in +-scale, with one in
 * seven exactly 0 and a few -0.0, as a backward pass leaves them. */
static void fill(nn_params *ps, uint64_t seed, double scale, int values_too)
{
    ag_rng r;
    ag_rng_seed(&r, seed);
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < ps->p[i]->size; k++) {
            if (values_too) ps->p[i]->data[k] = (ag_float)(ag_rng_uniform(&r) * 2 - 1);
            double u = ag_rng_uniform(&r);
            ag_float g = (ag_float)((ag_rng_uniform(&r) * 2 - 1) * scale);
            ps->p[i]->grad[k] = u < 1.0 / 7 ? 0 : u < 1.0 / 6 ? -0.0f : g;
        }
}

/* Every value (data 1, grad 0) of a and b has the same bits. */
static int same(const nn_params *a, const nn_params *b, int data)
{
    for (int i = 0; i < a->n; i++) {
        const ag_float *x = data ? a->p[i]->data : a->p[i]->grad, *y = data ? b->p[i]->data : b->p[i]->grad;
        if (memcmp(x, y, (size_t)a->p[i]->size * sizeof *x) != 0) return 0;
    }
    return 1;
}

/* Every gradient is +0.0 (all bits 0: what nn_params_zero_grad writes). */
static int all_zero_grads(const nn_params *ps)
{
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < ps->p[i]->size; k++) {
            ag_float z = 0;
            if (memcmp(&ps->p[i]->grad[k], &z, sizeof z) != 0) return 0;
        }
    return 1;
}

static void copy_params(nn_params *to, const nn_params *from)
{
    for (int i = 0; i < from->n; i++) {
        memcpy(to->p[i]->data, from->p[i]->data, (size_t)from->p[i]->size * sizeof(ag_float));
        memcpy(to->p[i]->grad, from->p[i]->grad, (size_t)from->p[i]->size * sizeof(ag_float));
    }
}

/* Every optimizer and every branch of its loop. */
enum { N_OPTIMS = 11 };
static nn_status init_optim(nn_optim *o, nn_params *ps, int which)
{
    switch (which) {
    case 0: return nn_sgd_init(o, ps, 0.1, 0, 0);
    case 1: return nn_sgd_init(o, ps, 0.1, 0.9, 0.01);
    case 2: return nn_sgd_init(o, ps, 0.1, 0, 0.01);
    case 3: return nn_adam_init(o, ps, 0.01, 0.9, 0.999, 1e-8, 0);
    case 4: return nn_adam_init(o, ps, 0.01, 0.8, 0.99, 1e-6, 0.01);
    case 5: return nn_adagrad_init(o, ps, 0.1, 0.01, 0.01, 0.1, 1e-10);
    case 6: return nn_rmsprop_init(o, ps, 0.01, 0.99, 1e-8, 0, 0, 0);
    case 7: return nn_rmsprop_init(o, ps, 0.01, 0.9, 1e-8, 0.01, 0.9, 0);
    case 8: return nn_rmsprop_init(o, ps, 0.01, 0.95, 1e-8, 0, 0, 1);
    case 9: return nn_rmsprop_init(o, ps, 0.01, 0.9, 1e-6, 0.01, 0.5, 1);
    default: return nn_adamw_init(o, ps, 0.01, 0.9, 0.999, 1e-8, 0.01);
    }
}

/* For each optimizer, 24 steps two ways from the same start: (a) nn_params_check_grads
 * then nn_optim_step_zero; (b) nn_clip_grad_norm, nn_optim_step, nn_params_zero_grad.
 * The gradients' norm goes from far below max_norm to far above (and max_norm 0 means
 * no clipping), so both clipping and not are met; values, state, step count and the
 * zeroed gradients must be equal bit for bit after every step. */
static void fused_step_equals_separate_calls(void **state)
{
    (void)state;
    const double max_norms[] = {0, 1.0, 0.05};
    for (int which = 0; which < N_OPTIMS; which++)
        for (size_t c = 0; c < sizeof max_norms / sizeof max_norms[0]; c++) {
            double max_norm = max_norms[c];
            nn_params a, b;
            make(&a);
            make(&b);
            fill(&a, 1, 0, 1);
            copy_params(&b, &a);
            nn_optim oa, ob;
            assert_int_equal(init_optim(&oa, &a, which), NN_OK);
            assert_int_equal(init_optim(&ob, &b, which), NN_OK);
            int clipped = 0;
            for (int s = 0; s < 24; s++) {
                double scale = pow(10, (s % 6) - 3); /* norms from ~0.01 to ~1000 */
                fill(&a, 100 + (uint64_t)s, scale, 0);
                fill(&b, 100 + (uint64_t)s, scale, 0);
                ag_float factor = -1;
                assert_null(nn_params_check_grads(&a, max_norm, &factor));
                assert_true(same(&a, &b, 0)); /* the check changes nothing */
                oa.lr = ob.lr = 0.01 * (1 + s % 3); /* a schedule may change lr between steps */
                nn_optim_step_zero(&oa, factor);
                if (max_norm > 0) clipped += nn_clip_grad_norm(&b, max_norm) > max_norm;
                nn_optim_step(&ob);
                nn_params_zero_grad(&b);
                assert_true(same(&a, &b, 1));
                assert_true(all_zero_grads(&a));
                assert_int_equal(oa.step, ob.step);
                assert_int_equal(oa.state_len, ob.state_len);
                if (oa.state_len)
                    assert_memory_equal(oa.state, ob.state, (size_t)oa.state_len * sizeof(ag_float));
            }
            if (max_norm > 0) assert_true(clipped > 0 && clipped < 24); /* both cases were met */
            nn_optim_free(&oa);
            nn_optim_free(&ob);
            nn_params_free(&a);
            nn_params_free(&b);
        }
}

/* The factor nn_params_check_grads gives, applied as nn_clip_grad_norm applies its own
 * (g *= factor in ag_float), leaves the same gradients as nn_clip_grad_norm itself,
 * for max_norm around the norm: exactly at it and one double either side (where the
 * parallel sum cannot decide and the serial one is taken), a little and far away, and
 * where max_norm / (norm + 1e-6) falls on or next to the midpoint between two floats
 * (where the factor's rounding turns on the last bits of the norm). */
static void factor_is_clip_grad_norms(void **state)
{
    (void)state;
    nn_params a, b;
    make(&a);
    make(&b);
    for (int trial = 0; trial < 40; trial++) {
        fill(&a, 1000 + (uint64_t)trial, pow(10, trial % 9 - 4), 1);
        copy_params(&b, &a);
        double norm = nn_clip_grad_norm(&b, INFINITY); /* the serial norm; scales nothing */
        assert_true(same(&a, &b, 0));
        float lo = (float)(0.1 + 0.02 * trial), hi = nextafterf(lo, 1);
        double mid = ((double)lo + (double)hi) / 2 * (norm + 1e-6); /* the factor falls on the midpoint */
        double bounds[] = {norm,           nextafter(norm, 0), nextafter(norm, INFINITY), norm * (1 - 1e-12),
                           norm * (1 + 1e-12), norm * 0.5,     norm * 2,                  mid,
                           nextafter(mid, 0),  nextafter(mid, INFINITY)};
        for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
            copy_params(&b, &a);
            ag_float factor = -1;
            assert_null(nn_params_check_grads(&a, bounds[k], &factor));
            nn_clip_grad_norm(&b, bounds[k]);
            for (int i = 0; i < a.n; i++)
                for (int j = 0; j < a.p[i]->size; j++) {
                    ag_float g = a.p[i]->grad[j] * factor;
                    assert_memory_equal(&g, &b.p[i]->grad[j], sizeof g);
                }
        }
    }
    /* all gradients 0: no clipping at any bound */
    for (int i = 0; i < a.n; i++) memset(a.p[i]->grad, 0, (size_t)a.p[i]->size * sizeof(ag_float));
    ag_float factor = -1;
    assert_null(nn_params_check_grads(&a, 1e-30, &factor));
    assert_true(factor == 1);
    nn_params_free(&a);
    nn_params_free(&b);
}

/* Gradients so large that their squares overflow in ag_float, or (in the double build)
 * even in double: the norm is infinite, nn_clip_grad_norm scales every gradient by 0,
 * and the factor must say the same. (In float they are finite in double: the factor is
 * then a small positive number.) */
static void huge_gradients(void **state)
{
    (void)state;
    nn_params a, b;
    make(&a);
    make(&b);
    fill(&a, 7, 1, 1);
    const ag_float big = sizeof(ag_float) == sizeof(double) ? (ag_float)1e300 : (ag_float)3e38;
    a.p[1]->grad[3] = big;
    a.p[2]->grad[79] = -big;
    copy_params(&b, &a);
    ag_float factor = -1;
    assert_null(nn_params_check_grads(&a, 5, &factor));
    nn_clip_grad_norm(&b, 5);
    for (int i = 0; i < a.n; i++)
        for (int j = 0; j < a.p[i]->size; j++) {
            ag_float g = a.p[i]->grad[j] * factor;
            assert_memory_equal(&g, &b.p[i]->grad[j], sizeof g);
        }
    if (sizeof(ag_float) == sizeof(double)) assert_true(factor == 0);
    else assert_true(factor > 0 && factor < 1e-37);
    nn_params_free(&a);
    nn_params_free(&b);
}

/* A NaN or an infinity: the first parameter holding one is named, as
 * nn_params_first_nonfinite names it, with and without clipping; *scale is 1 and
 * nothing is changed. */
static void nonfinite_is_named_and_nothing_changes(void **state)
{
    (void)state;
    nn_params a, b;
    make(&a);
    make(&b);
    const ag_float bad[] = {NAN, INFINITY, -INFINITY};
    const double max_norms[] = {0, 1, INFINITY, NAN};
    for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++)
        for (size_t c = 0; c < sizeof max_norms / sizeof max_norms[0]; c++) {
            fill(&a, 11, 1, 1);
            a.p[2]->grad[77] = bad[v]; /* in U's tail */
            copy_params(&b, &a);
            ag_float factor = -1;
            assert_string_equal(nn_params_check_grads(&a, max_norms[c], &factor), "U");
            assert_true(factor == 1);
            assert_true(same(&a, &b, 0) && same(&a, &b, 1));
            a.p[1]->grad[36] = bad[(v + 1) % 3]; /* the first one wins, whichever kind */
            assert_string_equal(nn_params_check_grads(&a, max_norms[c], &factor), "b");
            assert_string_equal(nn_params_first_nonfinite(&a, 1), "b");
        }
    nn_params_free(&a);
    nn_params_free(&b);
}

/* One update in parts, as threads share it: for each part, the copies' gradients added
 * in (and zeroed), the part's reading; then nn_params_check_parts and
 * nn_optim_begin_step; then each part's update. Against the whole calls
 * (nn_params_add_grads per copy, nn_params_check_grads, nn_optim_step_zero), bit for
 * bit, for every optimizer, with and without clipping, over 1 to 40 parts (N = 327
 * values: parts that start inside a parameter, and with 40 parts of 8 values rounded
 * down to 16, empty ones). The parts run in reverse order, as threads may finish in any. */
static void parts_equal_the_whole_calls(void **state)
{
    (void)state;
    const int part_counts[] = {1, 2, 3, 5, 7, 40};
    const double max_norms[] = {0, 1.0, 0.05};
    for (size_t pc = 0; pc < sizeof part_counts / sizeof part_counts[0]; pc++)
        for (int which = 0; which < N_OPTIMS; which++)
            for (size_t c = 0; c < sizeof max_norms / sizeof max_norms[0]; c++) {
                int P = part_counts[pc];
                double max_norm = max_norms[c];
                nn_params a, b, ca[2], cb[2]; /* a: in parts; b: whole calls; two copies each */
                make(&a);
                make(&b);
                for (int j = 0; j < 2; j++) {
                    make(&ca[j]);
                    make(&cb[j]);
                }
                fill(&a, 1, 0, 1);
                copy_params(&b, &a);
                nn_optim oa, ob;
                assert_int_equal(init_optim(&oa, &a, which), NN_OK);
                assert_int_equal(init_optim(&ob, &b, which), NN_OK);
                nn_grad_part g[40];
                int clipped = 0;
                for (int s = 0; s < 12; s++) {
                    double scale = pow(10, (s % 6) - 3);
                    fill(&a, 100 + (uint64_t)s, scale, 0);
                    copy_params(&b, &a);
                    for (int j = 0; j < 2; j++) {
                        fill(&ca[j], 200 + (uint64_t)(2 * s + j), scale, 0);
                        copy_params(&cb[j], &ca[j]);
                    }
                    for (int i = P - 1; i >= 0; i--) {
                        for (int j = 0; j < 2; j++)
                            assert_int_equal(nn_params_add_grads_part(&a, &ca[j], 1, i, P, NULL, 0), NN_OK);
                        nn_params_grad_part(&a, max_norm, i, P, &g[i]);
                    }
                    for (int j = 0; j < 2; j++) {
                        assert_int_equal(nn_params_add_grads(&b, &cb[j], NULL, 0), NN_OK);
                        assert_true(all_zero_grads(&ca[j])); /* every part zeroed its share */
                    }
                    assert_true(same(&a, &b, 0));
                    ag_float fa = -1, fb = -2;
                    assert_null(nn_params_check_parts(&a, max_norm, g, P, &fa));
                    assert_null(nn_params_check_grads(&b, max_norm, &fb));
                    assert_memory_equal(&fa, &fb, sizeof fa);
                    clipped += fb != 1;
                    nn_optim_begin_step(&oa);
                    for (int i = P - 1; i >= 0; i--) assert_int_equal(nn_optim_step_zero_part(&oa, fa, i, P), NN_OK);
                    nn_optim_step_zero(&ob, fb);
                    assert_true(same(&a, &b, 1));
                    assert_true(all_zero_grads(&a));
                    assert_int_equal(oa.step, ob.step);
                    if (oa.state_len)
                        assert_memory_equal(oa.state, ob.state, (size_t)oa.state_len * sizeof(ag_float));
                }
                if (max_norm > 0) assert_true(clipped > 0 && clipped < 12);
                nn_optim_free(&oa);
                nn_optim_free(&ob);
                nn_params_free(&a);
                nn_params_free(&b);
                for (int j = 0; j < 2; j++) {
                    nn_params_free(&ca[j]);
                    nn_params_free(&cb[j]);
                }
            }
}

/* The parts cover every value once: each part's count adds up to N, and a NaN in any one
 * value is found by its part and named as nn_params_check_grads names it. Part numbers
 * out of range change nothing and say NN_EARG. Readings that are not one whole pass's
 * (a part missing, or read without clipping and checked with it) are not trusted: the
 * whole check names the NaN all the same. */
static void parts_cover_every_value(void **state)
{
    (void)state;
    nn_params a, c;
    make(&a);
    make(&c);
    long N = nn_params_numel(&a);
    for (int P = 1; P <= 40; P++) {
        long total = 0;
        for (int i = 0; i < P; i++) {
            nn_grad_part g;
            nn_params_grad_part(&a, 1, i, P, &g);
            total += g.n;
        }
        assert_int_equal(total, N);
    }
    const double max_norms[] = {0, 1};
    for (long v = 0; v < N; v += 13)
        for (int c2 = 0; c2 < 2; c2++) {
            fill(&a, 5, 1, 1);
            int i = 0;
            long at = v;
            while (at >= a.p[i]->size) at -= a.p[i++]->size;
            a.p[i]->grad[at] = NAN;
            nn_grad_part g[3];
            int found = 0;
            for (int k = 0; k < 3; k++) {
                nn_params_grad_part(&a, max_norms[c2], k, 3, &g[k]);
                found += max_norms[c2] > 0 ? !isfinite(g[k].sq) : g[k].nonfinite;
            }
            assert_int_equal(found, 1);
            ag_float f = -1;
            assert_string_equal(nn_params_check_parts(&a, max_norms[c2], g, 3, &f), a.p[i]->name);
            assert_true(f == 1);
            /* without the part that holds it, or read in the other mode: still named */
            int k = 0;
            while (!(max_norms[c2] > 0 ? !isfinite(g[k].sq) : g[k].nonfinite)) k++;
            nn_grad_part two[2] = {g[(k + 1) % 3], g[(k + 2) % 3]};
            assert_string_equal(nn_params_check_parts(&a, max_norms[c2], two, 2, &f), a.p[i]->name);
            nn_grad_part other[3];
            for (int q = 0; q < 3; q++) nn_params_grad_part(&a, max_norms[1 - c2], q, 3, &other[q]);
            assert_string_equal(nn_params_check_parts(&a, max_norms[c2], other, 3, &f), a.p[i]->name);
        }
    fill(&a, 6, 1, 1);
    fill(&c, 7, 1, 1);
    nn_params b;
    make(&b);
    copy_params(&b, &a);
    char err[128] = "";
    const int bad[][2] = {{-1, 2}, {2, 2}, {0, 0}, {0, -3}};
    nn_optim o;
    assert_int_equal(nn_sgd_init(&o, &a, 0.1, 0, 0), NN_OK);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(nn_params_add_grads_part(&a, &c, 1, bad[k][0], bad[k][1], err, sizeof err), NN_EARG);
        assert_true(strstr(err, "nn_params_add_grads_part: part") != NULL);
        assert_int_equal(nn_optim_step_zero_part(&o, 1, bad[k][0], bad[k][1]), NN_EARG);
        assert_true(same(&a, &b, 0) && same(&a, &b, 1));
        nn_grad_part g;
        assert_int_equal(nn_params_grad_part(&a, 1, bad[k][0], bad[k][1], &g), NN_EARG);
        assert_int_equal(g.n, 0);
    }
    nn_params small;
    nn_params_init(&small);
    assert_non_null(nn_params_new(&small, "", "W", 2, (int[]){3, 70}));
    assert_int_equal(nn_params_add_grads_part(&small, &c, 1, 0, 1, err, sizeof err), NN_EMISMATCH);
    assert_true(same(&a, &b, 1));
    nn_optim_free(&o);
    nn_params_free(&small);
    nn_params_free(&a);
    nn_params_free(&b);
    nn_params_free(&c);
}

/* A training step allocates nothing: the check and the fused update take no memory. */
static void no_allocations(void **state)
{
    (void)state;
    nn_params a;
    make(&a);
    fill(&a, 3, 10, 1);
    nn_optim o;
    assert_int_equal(nn_adam_init(&o, &a, 0.01, 0.9, 0.999, 1e-8, 0), NN_OK);
    counter cnt = {0, 0, -1};
    ag_set_allocator(&(ag_allocator){count_alloc, count_free, &cnt});
    for (int s = 0; s < 3; s++) {
        ag_float factor;
        assert_null(nn_params_check_grads(&a, 1, &factor));
        nn_optim_step_zero(&o, factor);
        fill(&a, 4 + (uint64_t)s, 10, 0);
    }
    ag_set_allocator(NULL);
    assert_int_equal(cnt.allocs, 0);
    nn_optim_free(&o);
    nn_params_free(&a);
}

#ifndef AG_DOUBLE
/* rnn_names' loop (names_train, which uses both calls): a GRU whose update gate is shut
 * (z = 1: the state stays 0, so the loss is finite whatever the head) under a head of
 * weights +-FLT_MAX, whose gradient into the state then overflows (batch 1: no mean to
 * scale it down) and comes back as NaN through the cell (inf - z inf). The run stops at step 1 naming the first parameter with a NaN, the
 * same message as before the calls were fused, and no parameter has changed; with
 * --clip too. */
static void training_stops_before_the_update(void **state)
{
    (void)state;
    names_data d;
    char err[512];
    assert_int_equal(names_load_sample(&d, NULL, err, sizeof err), 0);
    const double clips[] = {0, 1};
    for (size_t c = 0; c < 4; c++) { /* c >= 2: on two threads, where the check reads the parts */
        ag_rng r;
        ag_rng_seed(&r, 3);
        names_model m;
        assert_int_equal(names_model_init(&m, NAMES_GRU, 8, 1, 0, d.n_classes, d.classes, &r), 0);
        ag_tensor *bias_ih = nn_params_get(&m.ps, "rnn.bias_ih_l0"), *head = nn_params_get(&m.ps, "head.weight");
        ag_tensor *head_bias = nn_params_get(&m.ps, "head.bias");
        for (int k = 8; k < 16; k++) bias_ih->data[k] = 100; /* rows H..2H: the update gate z */
        for (int k = 0; k < head->size; k++) head->data[k] = k < 8 ? FLT_MAX : -FLT_MAX; /* (C, 8): row 0 + */
        head_bias->data[0] = 50; /* the softmax all on class 0: a name of another class y gets
                                    dh = FLT_MAX p_0 - W_y = 2 FLT_MAX = inf */
        long n = nn_params_numel(&m.ps);
        ag_float *saved = malloc((size_t)n * sizeof *saved);
        assert_non_null(saved);
        for (int i = 0, at = 0; i < m.ps.n; at += m.ps.p[i]->size, i++)
            memcpy(saved + at, m.ps.p[i]->data, (size_t)m.ps.p[i]->size * sizeof *saved);
        names_train_opts o = {.optim = 0, .lr = 0.1, .iters = 4, .batch = 1, .seed = 1, .clip = clips[c % 2],
                              .threads = c < 2 ? 1 : 2};
        nn_optim opt;
        assert_int_equal(names_optim_init(&opt, &m, &o, err, sizeof err), 0);
        names_train_result res;
        assert_int_equal(names_train(&m, &opt, &d, &o, &res, err, sizeof err), -1);
        assert_string_equal(err, "step 1 (after 0 names): the gradient of 'rnn.weight_ih_l0' has a NaN or Inf; "
                                 "stopped before the step changed the model (lower --lr or set --clip)");
        for (int i = 0, at = 0; i < m.ps.n; at += m.ps.p[i]->size, i++)
            assert_memory_equal(saved + at, m.ps.p[i]->data, (size_t)m.ps.p[i]->size * sizeof *saved);
        assert_int_equal(opt.step, 0);
        free(saved);
        nn_optim_free(&opt);
        names_model_free(&m);
    }
    names_free(&d);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fused_step_equals_separate_calls),
        cmocka_unit_test(factor_is_clip_grad_norms),
        cmocka_unit_test(huge_gradients),
        cmocka_unit_test(nonfinite_is_named_and_nothing_changes),
        cmocka_unit_test(parts_equal_the_whole_calls),
        cmocka_unit_test(parts_cover_every_value),
        cmocka_unit_test(no_allocations),
#ifndef AG_DOUBLE
        cmocka_unit_test(training_stops_before_the_update),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
