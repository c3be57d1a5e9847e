/* ag_ops_loss.c -- losses that take raw scores: cross_entropy, mse_loss,
 * bce_with_logits (nll_loss, which takes log-probabilities, is in ag_ops_reduce.c).
 * Each gives a scalar, summed or averaged as torch.nn.functional does. */
#include <math.h>

#include "ag_internal.h"

const ag_cross_entropy_options ag_cross_entropy_default = {AG_MEAN, -100, 0.0};

static int bad_reduction(ag_tape *t, const char *op, ag_reduction red)
{
    if (red == AG_MEAN || red == AG_SUM) return 0;
    ag_tape_fail(t, AG_EARG, "%s: reduction %d is neither AG_MEAN nor AG_SUM", op, (int)red);
    return 1;
}

/* ---- cross_entropy ----
 * logits x: (N, C), targets: N ints, eps = label smoothing. For each row n whose
 * target t_n is not ignore_index, with logp = log_softmax(x[n]):
 *   loss_n = (1 - eps) (-logp[t_n]) + eps/C sum_c (-logp[c])
 * -> () = sum_n loss_n, divided by the number of rows not ignored for AG_MEAN (torch's
 * formula; all rows ignored gives 0/0 = NaN there, as in torch). */

static ag_status cross_entropy_backward(ag_tape *t, const ag_node *nd);
static const ag_op cross_entropy_op = {"cross_entropy", cross_entropy_backward};

typedef struct {
    const int *targets; /* N, in the arena */
    ag_cross_entropy_options o;
    int counted;        /* rows not ignored */
} cross_entropy_saved;

/* log(sum_c exp(v_c)), max subtracted first */
static double logsumexp(const ag_float *v, int C)
{
    double m = v[0], s = 0;
    for (int c = 1; c < C; c++)
        if (v[c] > m) m = v[c];
    for (int c = 0; c < C; c++) s += exp(v[c] - m);
    return m + log(s);
}

ag_tensor *ag_cross_entropy(ag_tape *t, ag_tensor *logits, const int *targets, const ag_cross_entropy_options *opt)
{
    if (!ag_op_inputs(t, &cross_entropy_op, &logits, 1)) return NULL;
    ag_cross_entropy_options o = opt ? *opt : ag_cross_entropy_default;
    char buf[64];
    if (logits->rank != 2)
        return ag_tape_fail(t, AG_ESHAPE, "cross_entropy: logits must be (N, C), got %s",
                            ag_shape_str(logits, buf, sizeof buf));
    if (!targets) return ag_tape_fail(t, AG_EARG, "cross_entropy: targets are NULL");
    if (bad_reduction(t, "cross_entropy", o.reduction)) return NULL;
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1))
        return ag_tape_fail(t, AG_EARG, "cross_entropy: label_smoothing %g is outside [0, 1]", o.label_smoothing);
    int N = logits->shape[0], C = logits->shape[1], counted = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] == o.ignore_index) continue;
        if (targets[n] < 0 || targets[n] >= C)
            return ag_tape_fail(t, AG_EINDEX,
                                "cross_entropy: target %d at index %d is out of range [0, %d) for logits %s "
                                "(and is not ignore_index %d)",
                                targets[n], n, C, ag_shape_str(logits, buf, sizeof buf), o.ignore_index);
        counted++;
    }
    ag_tensor *out = ag_op_output(t, &cross_entropy_op, 0, NULL);
    if (!out) return NULL;
    double eps = o.label_smoothing, total = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] == o.ignore_index) continue;
        const ag_float *v = logits->data + (size_t)n * C;
        double lse = logsumexp(v, C), smooth = 0;
        for (int c = 0; c < C; c++) smooth += lse - v[c];
        total += (1 - eps) * (lse - v[targets[n]]) + eps / C * smooth;
    }
    out->data[0] = (ag_float)(o.reduction == AG_MEAN ? total / counted : total);
    ag_node *nd = ag_op_record(t, &cross_entropy_op, out, &logits, 1, sizeof(cross_entropy_saved));
    if (nd) *(cross_entropy_saved *)nd->saved = (cross_entropy_saved){ag__save_ints(t, targets, N), o, counted};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* For a row not ignored, with p = softmax(x[n]):
 *   dx[n, c] += g (p_c - (1 - eps) [c == t_n] - eps / C)   (g / counted for AG_MEAN)
 * Ignored rows get nothing. */
static ag_status cross_entropy_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const cross_entropy_saved *s = nd->saved;
    int N = x->shape[0], C = x->shape[1];
    double g = nd->out->grad[0], eps = s->o.label_smoothing;
    if (s->o.reduction == AG_MEAN) g /= s->counted; /* counted is > 0 when any row is used */
    for (int n = 0; n < N; n++) {
        if (s->targets[n] == s->o.ignore_index) continue;
        const ag_float *v = x->data + (size_t)n * C;
        double lse = logsumexp(v, C);
        for (int c = 0; c < C; c++) {
            double d = exp(v[c] - lse) - eps / C - (c == s->targets[n] ? 1 - eps : 0);
            dx[(size_t)n * C + c] += (ag_float)(g * d);
        }
    }
    return AG_OK;
}

/* ---- mse_loss and bce_with_logits: elementwise over two tensors of one shape ----
 *   mse:  l_i = (a_i - b_i)^2
 *   bce:  l_i = max(x_i, 0) - x_i y_i + log1p(exp(-|x_i|))   (x logits, y targets)
 * which is -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) with no exp of a positive
 * argument, so finite for any finite x. -> () = sum_i l_i, / size for AG_MEAN. */

static ag_status pair_loss_backward(ag_tape *t, const ag_node *nd);
static const ag_op mse_loss_op = {"mse_loss", pair_loss_backward};
static const ag_op bce_op = {"bce_with_logits", pair_loss_backward};

typedef struct {
    ag_reduction red;
} pair_loss_saved;

static ag_tensor *pair_loss(ag_tape *t, const ag_op *op, ag_tensor *a, ag_tensor *b, ag_reduction red)
{
    ag_tensor *in[2] = {a, b};
    if (!ag_op_inputs(t, op, in, 2)) return NULL;
    if (!ag_same_shape(a, b)) {
        char sa[64], sb[64];
        return ag_tape_fail(t, AG_ESHAPE, "%s: %s %s but %s %s (need the same shape)", op->name,
                            op == &bce_op ? "logits are" : "input is", ag_shape_str(a, sa, sizeof sa),
                            op == &bce_op ? "targets are" : "target is", ag_shape_str(b, sb, sizeof sb));
    }
    if (bad_reduction(t, op->name, red)) return NULL;
    ag_tensor *out = ag_op_output(t, op, 0, NULL);
    if (!out) return NULL;
    double s = 0;
    for (int i = 0; i < a->size; i++) {
        double x = a->data[i], y = b->data[i];
        s += op == &mse_loss_op ? (x - y) * (x - y) : (x > 0 ? x : 0) - x * y + log1p(exp(-fabs(x)));
    }
    out->data[0] = (ag_float)(red == AG_MEAN ? s / a->size : s);
    ag_node *nd = ag_op_record(t, op, out, in, 2, sizeof(pair_loss_saved));
    if (nd) ((pair_loss_saved *)nd->saved)->red = red;
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* k = g (/ size for AG_MEAN):
 *   mse:  da += 2 k (a - b)           db -= 2 k (a - b)
 *   bce:  dx += k (sigmoid(x) - y)    dy -= k x */
static ag_status pair_loss_backward(ag_tape *t, const ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1];
    ag_float *da = ag_grad(t, a), *db = ag_grad(t, b);
    if (ag_tape_status(t) != AG_OK) return ag_tape_status(t);
    double k = nd->out->grad[0];
    if (((const pair_loss_saved *)nd->saved)->red == AG_MEAN) k /= a->size;
    for (int i = 0; i < a->size; i++) {
        double x = a->data[i], y = b->data[i], dxi, dyi;
        if (nd->op == &mse_loss_op) {
            dxi = 2 * k * (x - y);
            dyi = -dxi;
        } else {
            double e = exp(-fabs(x)), sig = x >= 0 ? 1 / (1 + e) : e / (1 + e);
            dxi = k * (sig - y);
            dyi = -k * x;
        }
        if (da) da[i] += (ag_float)dxi;
        if (db) db[i] += (ag_float)dyi;
    }
    return AG_OK;
}

ag_tensor *ag_mse_loss(ag_tape *t, ag_tensor *input, ag_tensor *target, ag_reduction red)
{
    return pair_loss(t, &mse_loss_op, input, target, red);
}

ag_tensor *ag_bce_with_logits(ag_tape *t, ag_tensor *logits, ag_tensor *targets, ag_reduction red)
{
    return pair_loss(t, &bce_op, logits, targets, red);
}
