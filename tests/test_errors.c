/* test_errors.c -- every kind of bad argument gives NULL, a status and a message that
 * names the op and what was wrong; nothing crashes, and the tape stays usable. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ag.h"

static ag_tensor *T(ag_tape *t, int rank, const int *shape)
{
    return ag_zeros(t, rank, shape);
}

#define S(...) ((int[]){__VA_ARGS__})

/* One bad call per case; want = the status and two pieces of the message. */
typedef struct {
    const char *what;
    ag_status want;
    const char *msg1, *msg2;
} bad_case;

static ag_tensor *call(ag_tape *t, int i)
{
    int tg[2] = {0, 5};
    switch (i) {
    case 0: return ag_linear(t, T(t, 2, S(1, 185)), T(t, 2, S(128, 186)), NULL);
    case 1: return ag_linear(t, T(t, 2, S(2, 3)), T(t, 2, S(4, 3)), T(t, 1, S(3)));
    case 2: return ag_linear(t, T(t, 1, S(3)), T(t, 2, S(4, 3)), NULL);
    case 3: return ag_matmul(t, T(t, 2, S(2, 3)), T(t, 2, S(4, 5)));
    case 4: return ag_add(t, T(t, 2, S(2, 3)), T(t, 1, S(4)));
    case 5: return ag_mul(t, T(t, 3, S(2, 3, 4)), T(t, 2, S(2, 4)));
    case 6: return ag_cat(t, (ag_tensor *[]){T(t, 2, S(1, 3)), T(t, 2, S(2, 4))}, 2, 1);
    case 7: return ag_cat(t, (ag_tensor *[]){T(t, 2, S(1, 3)), T(t, 1, S(3))}, 2, 0);
    case 8: return ag_cat(t, NULL, 0, 0);
    case 9: return ag_cat(t, (ag_tensor *[]){T(t, 2, S(1, 3))}, 1, 2);
    case 10: return ag_log_softmax(t, T(t, 2, S(2, 3)), -3);
    case 11: return ag_sum_dim(t, T(t, 2, S(2, 3)), 2, 0);
    case 12: return ag_nll_loss(t, T(t, 2, S(2, 5)), tg, AG_MEAN);
    case 13: return ag_nll_loss(t, T(t, 1, S(5)), tg, AG_MEAN);
    case 14: return ag_nll_loss(t, T(t, 2, S(2, 5)), NULL, AG_SUM);
    case 15: return ag_nll_loss(t, T(t, 2, S(1, 5)), tg, (ag_reduction)7);
    case 16: return ag_select(t, T(t, 3, S(4, 2, 3)), 0, 4);
    case 17: return ag_slice(t, T(t, 3, S(4, 2, 3)), 2, 2, 1);
    case 18: return ag_reshape(t, T(t, 2, S(2, 3)), 2, S(4, 2));
    case 19: return ag_reshape(t, T(t, 2, S(2, 3)), 2, S(-1, -1));
    case 20: return ag_one_hot(t, S(1, 57), 2, 57);
    case 21: return ag_exp(t, NULL);
    case 22: return ag_zeros(t, 5, S(1, 1, 1, 1, 1));
    case 23: return ag_zeros(t, 2, S(3, 0));
    case 24: return ag_mean_dim(t, T(t, 0, NULL), 0, 1);
    case 25: return ag_from_array(t, 1, S(3), NULL);
    case 26: return ag_index_select(t, T(t, 2, S(4, 3)), 0, S(1, 4, 0), 3);
    case 27: return ag_index_select(t, T(t, 2, S(4, 3)), 1, S(0), 0);
    case 28: return ag_clamp(t, T(t, 1, S(3)), 0, NAN);
    case 29: return ag_softmax(t, T(t, 2, S(2, 3)), 2);
    case 30: return ag_max_dim(t, T(t, 2, S(2, 3)), -3, 0, NULL);
    case 31: return ag_min_dim(t, T(t, 0, NULL), 0, 1, NULL);
    case 32: return ag_argmax(t, T(t, 3, S(2, 3, 4)), 3, 0);
    case 33: return ag_permute(t, T(t, 3, S(2, 3, 4)), S(1, -2, 0));
    case 34: return ag_permute(t, T(t, 3, S(2, 3, 4)), S(0, 3, 1));
    case 35: return ag_permute(t, T(t, 3, S(2, 3, 4)), NULL);
    case 36: return ag_transpose(t, T(t, 2, S(2, 3)), 0, 2);
    case 37: return ag_bmm(t, T(t, 3, S(2, 3, 4)), T(t, 3, S(3, 4, 5)));
    case 38: return ag_bmm(t, T(t, 2, S(3, 4)), T(t, 2, S(4, 5)));
    case 39: return ag_stack(t, (ag_tensor *[]){T(t, 2, S(2, 3)), T(t, 2, S(3, 2))}, 2, 0);
    case 40: return ag_stack(t, (ag_tensor *[]){T(t, 2, S(2, 3))}, 1, 3);
    case 41: return ag_stack(t, NULL, 0, 0);
    case 42: return ag_stack(t, (ag_tensor *[]){T(t, 4, S(1, 1, 1, 1))}, 1, 0);
    case 43: return ag_embedding(t, T(t, 2, S(5, 3)), S(0, 5), 2, -1);
    case 44: return ag_embedding(t, T(t, 1, S(5)), S(0), 1, -1);
    case 45: return ag_embedding(t, T(t, 2, S(5, 3)), S(0), 1, -2);
    case 46: return ag_embedding(t, T(t, 2, S(5, 3)), S(0), 0, -1);
    case 47: return ag_cross_entropy(t, T(t, 2, S(2, 5)), tg, NULL);
    case 48: return ag_cross_entropy(t, T(t, 1, S(5)), tg, NULL);
    case 49: return ag_cross_entropy(t, T(t, 2, S(2, 5)), NULL, NULL);
    case 50: return ag_cross_entropy(t, T(t, 2, S(2, 5)), S(0, 1), &(ag_cross_entropy_options){AG_MEAN, -100, 1.5});
    case 51: return ag_cross_entropy(t, T(t, 2, S(2, 5)), S(0, 1), &(ag_cross_entropy_options){(ag_reduction)7, -100, 0});
    case 52: return ag_mse_loss(t, T(t, 2, S(2, 3)), T(t, 2, S(3, 2)), AG_MEAN);
    case 53: return ag_bce_with_logits(t, T(t, 1, S(4)), T(t, 2, S(2, 2)), AG_SUM);
    case 54: return ag_mse_loss(t, T(t, 1, S(3)), T(t, 1, S(3)), (ag_reduction)9);
    case 55: return ag_pow(t, NULL, 2);
    case 56: return ag_embedding(t, T(t, 2, S(5, 3)), S(0), 1, 5);
    }
    return NULL;
}

static const bad_case cases[] = {
    {"linear x/weight", AG_ESHAPE, "linear: x is (1, 185) but weight is (128, 186)", ""},
    {"linear bias", AG_ESHAPE, "linear: weight is (4, 3) but bias is (3)", ""},
    {"linear rank", AG_ESHAPE, "linear: x is (3)", "(N, I)"},
    {"matmul", AG_ESHAPE, "matmul: a is (2, 3) but b is (4, 5)", ""},
    {"add broadcast", AG_ESHAPE, "add: shapes (2, 3) and (4) do not broadcast", "dim 1: 3 vs 4"},
    {"mul broadcast", AG_ESHAPE, "mul: shapes (2, 3, 4) and (2, 4)", "dim 1: 3 vs 2"},
    {"cat other dim", AG_ESHAPE, "cat: tensor 0 is (1, 3) but tensor 1 is (2, 4)", "only dim 1"},
    {"cat rank", AG_ESHAPE, "cat: tensor 0 is (1, 3) but tensor 1 is (3)", ""},
    {"cat nothing", AG_EARG, "cat: need at least one tensor", ""},
    {"cat dim", AG_EARG, "cat: dim 2 is out of range", "(1, 3)"},
    {"log_softmax dim", AG_EARG, "log_softmax: dim -3 is out of range", "(2, 3)"},
    {"sum_dim dim", AG_EARG, "sum_dim: dim 2 is out of range", ""},
    {"nll target", AG_EINDEX, "nll_loss: target 5 at index 1 is out of range [0, 5)", ""},
    {"nll rank", AG_ESHAPE, "nll_loss: log_probs must be (N, C), got (5)", ""},
    {"nll targets", AG_EARG, "nll_loss: targets are NULL", ""},
    {"nll reduction", AG_EARG, "nll_loss: reduction 7", ""},
    {"select index", AG_EINDEX, "select: index 4 is out of range [0, 4)", "(4, 2, 3)"},
    {"slice range", AG_EINDEX, "slice: [2, 1)", "dim 2"},
    {"reshape size", AG_ESHAPE, "reshape: (2, 3) has 6 elements and cannot become (4, 2)", ""},
    {"reshape two -1", AG_EARG, "reshape: dim 1 is -1", "only one dim may be -1"},
    {"one_hot index", AG_EINDEX, "one_hot: index 57 at position 1 is outside [0, 57)", ""},
    {"NULL input", AG_EARG, "exp: input 0 is NULL", ""},
    {"rank 5", AG_EARG, "zeros: rank 5 is outside 0..4", ""},
    {"zero dim", AG_EARG, "zeros: shape has a dim < 1", ""},
    {"dim of a scalar", AG_EARG, "mean_dim: dim 0 is out of range", "()"},
    {"from_array NULL", AG_EARG, "from_array: values are NULL", ""},
    {"index_select index", AG_EINDEX, "index_select: index[1] = 4 is out of range [0, 4) for dim 0", "(4, 3)"},
    {"index_select none", AG_EARG, "index_select: needs at least one index (got 0)", ""},
    {"clamp NaN bound", AG_EARG, "clamp: bounds [0, nan] include a NaN", "INFINITY"},
    {"softmax dim", AG_EARG, "softmax: dim 2 is out of range", "(2, 3)"},
    {"max_dim dim", AG_EARG, "max_dim: dim -3 is out of range", "(2, 3)"},
    {"min_dim scalar", AG_EARG, "min_dim: dim 0 is out of range", "()"},
    {"argmax dim", AG_EARG, "argmax: dim 3 is out of range", "(2, 3, 4)"},
    {"permute twice", AG_EARG, "permute: dim 1 appears twice in dims for (2, 3, 4)", "0..2 once"},
    {"permute range", AG_EARG, "permute: dim 3 is out of range", "(2, 3, 4)"},
    {"permute NULL", AG_EARG, "permute: dims are NULL", ""},
    {"transpose dim", AG_EARG, "transpose: dim 2 is out of range", "(2, 3)"},
    {"bmm batch", AG_ESHAPE, "bmm: a is (2, 3, 4) but b is (3, 4, 5)", "(B, N, K) and (B, K, M)"},
    {"bmm rank", AG_ESHAPE, "bmm: a is (3, 4) but b is (4, 5)", ""},
    {"stack shapes", AG_ESHAPE, "stack: tensor 0 is (2, 3) but tensor 1 is (3, 2)", "all must be equal"},
    {"stack dim", AG_EARG, "stack: dim 3 is out of range for tensors of shape (2, 3)", "-3..2"},
    {"stack nothing", AG_EARG, "stack: need at least one tensor (got n=0)", ""},
    {"stack rank", AG_EARG, "stack: tensors of shape (1, 1, 1, 1) would give rank 5", ""},
    {"embedding index", AG_EINDEX, "embedding: index[1] = 5 is out of range [0, 5)", "(5, 3)"},
    {"embedding rank", AG_ESHAPE, "embedding: weight must be (V, D), got (5)", ""},
    {"embedding pad", AG_EARG, "embedding: padding_idx -2 is outside [0, 5)", "(5, 3)"},
    {"embedding none", AG_EARG, "embedding: needs at least one index (got 0)", ""},
    {"ce target", AG_EINDEX, "cross_entropy: target 5 at index 1 is out of range [0, 5)", "ignore_index -100"},
    {"ce rank", AG_ESHAPE, "cross_entropy: logits must be (N, C), got (5)", ""},
    {"ce targets", AG_EARG, "cross_entropy: targets are NULL", ""},
    {"ce smoothing", AG_EARG, "cross_entropy: label_smoothing 1.5 is outside [0, 1]", ""},
    {"ce reduction", AG_EARG, "cross_entropy: reduction 7", ""},
    {"mse shapes", AG_ESHAPE, "mse_loss: input is (2, 3) but target is (3, 2)", ""},
    {"bce shapes", AG_ESHAPE, "bce_with_logits: logits are (4) but targets are (2, 2)", ""},
    {"mse reduction", AG_EARG, "mse_loss: reduction 9", ""},
    {"pow NULL", AG_EARG, "pow: input 0 is NULL", ""},
    {"embedding pad V", AG_EARG, "embedding: padding_idx 5 is outside [0, 5)", ""},
};

static void each_bad_call_reports(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        ag_tape_reset(t);
        ag_tensor *r = call(t, i);
        const char *msg = ag_tape_error(t);
        printf("  %-16s -> %s: %s\n", cases[i].what, ag_status_name(ag_tape_status(t)), msg);
        assert_null(r);
        assert_int_equal(ag_tape_status(t), cases[i].want);
        assert_non_null(strstr(msg, cases[i].msg1));
        assert_non_null(strstr(msg, cases[i].msg2));
    }
    ag_tape_free(t);
}

/* The first error stays; later ops return NULL quietly; reset makes the tape usable. */
static void first_error_sticks_until_reset(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *bad = ag_matmul(t, T(t, 2, S(2, 3)), T(t, 2, S(2, 3)));
    ag_tensor *y = ag_log_softmax(t, ag_tanh(t, bad), 1);
    assert_null(y);
    assert_non_null(strstr(ag_tape_error(t), "matmul: a is (2, 3) but b is (2, 3)"));
    assert_int_equal(ag_backward(t, y), AG_ESHAPE);
    ag_tape_reset(t);
    assert_int_equal(ag_tape_status(t), AG_OK);
    assert_string_equal(ag_tape_error(t), "");
    y = ag_log_softmax(t, T(t, 2, S(2, 3)), 1);
    assert_non_null(y);
    ag_tape_free(t);
}

static void backward_needs_a_scalar(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *p = ag_param_new(1, S(3), "p");
    assert_int_equal(ag_backward(t, ag_exp(t, p)), AG_ESTATE);
    assert_non_null(strstr(ag_tape_error(t), "backward: the loss must be a scalar, got shape (3)"));
    ag_tape_reset(t);
    assert_int_equal(ag_backward(t, NULL), AG_EARG);
    assert_non_null(strstr(ag_tape_error(t), "backward: the output is NULL"));
    ag_param_free(p);
    ag_tape_free(t);
}

static void bad_parameters_are_refused(void **state)
{
    (void)state;
    assert_null(ag_param_new(5, S(1, 1, 1, 1, 1), "x"));
    assert_null(ag_param_new(2, S(2, 0), "x"));
    assert_null(ag_param_new(2, S(2, -3), "x"));
    assert_null(ag_param_new(2, S(65536, 65536), "x")); /* 2^32 elements */
    assert_null(ag_param_new(1, NULL, "x"));
    ag_param_free(NULL); /* a no-op */
    ag_tape_free(NULL);
}

static ag_tensor *returns_null(ag_tape *t, void *ud)
{
    (void)t;
    (void)ud;
    return NULL;
}

static void gradcheck_bad_arguments(void **state)
{
    (void)state;
    ag_tape *t = ag_tape_new();
    ag_tensor *p = ag_param_new(1, S(2), "p");
    ag_gradcheck_result r;
    assert_int_equal(ag_gradcheck(t, returns_null, NULL, &p, 1, 1e-3, &r), AG_EARG);
    assert_non_null(strstr(ag_tape_error(t), "gradcheck: the function returned NULL"));
    ag_tape_reset(t);
    assert_int_equal(ag_gradcheck(t, returns_null, NULL, &p, 1, 0, &r), AG_EARG);
    ag_tape_reset(t);
    ag_tensor *notparam = ag_zeros(t, 1, S(2));
    assert_int_equal(ag_gradcheck(t, returns_null, NULL, &notparam, 1, 1e-3, &r), AG_EARG);
    assert_non_null(strstr(ag_tape_error(t), "params[0] is not a parameter"));
    ag_param_free(p);
    ag_tape_free(t);
}

/* Sampling has no tape: bad arguments give -1 and draw nothing from the rng. */
static void sampling_bad_arguments(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_seed(&r, 3);
    const ag_float p[3] = {0.2f, 0.3f, 0.5f};
    const struct {
        const char *what;
        const ag_float *v;
        int n, is_logits;
        double temp;
        ag_rng *r;
    } bad[] = {
        {"temperature 0", p, 3, 0, 0, &r},
        {"temperature < 0", p, 3, 1, -1, &r},
        {"temperature NaN", p, 3, 1, NAN, &r},
        {"temperature inf", p, 3, 1, INFINITY, &r},
        {"n 0", p, 0, 0, 1, &r},
        {"values NULL", NULL, 3, 0, 1, &r},
        {"rng NULL", p, 3, 0, 1, NULL},
        {"negative probability", (ag_float[]){0.5f, -0.1f, 0.6f}, 3, 0, 1, &r},
        {"NaN probability", (ag_float[]){0.5f, NAN, 0.5f}, 3, 0, 1, &r},
        {"infinite probability", (ag_float[]){0.5f, INFINITY, 0.5f}, 3, 0, 1, &r},
        {"all probabilities 0", (ag_float[]){0, 0, 0}, 3, 0, 1, &r},
        {"NaN logit", (ag_float[]){0, NAN, 1}, 3, 1, 1, &r},
        {"+inf logit", (ag_float[]){0, INFINITY, 1}, 3, 1, 1, &r},
        {"all logits -inf", (ag_float[]){-INFINITY, -INFINITY}, 2, 1, 1, &r},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ag_rng before = r;
        int k = ag_sample_categorical(bad[i].v, bad[i].n, bad[i].is_logits, bad[i].temp, bad[i].r);
        printf("  %-22s -> %d\n", bad[i].what, k);
        assert_int_equal(k, -1);
        assert_true(r.state == before.state);
    }
    /* and the same calls with the fault removed draw */
    assert_true(ag_sample_categorical(p, 3, 0, 1, &r) >= 0);
    assert_true(ag_sample_categorical((ag_float[]){-INFINITY, 0}, 2, 1, 1, &r) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_bad_call_reports),
        cmocka_unit_test(first_error_sticks_until_reset),
        cmocka_unit_test(backward_needs_a_scalar),
        cmocka_unit_test(bad_parameters_are_refused),
        cmocka_unit_test(gradcheck_bad_arguments),
        cmocka_unit_test(sampling_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
