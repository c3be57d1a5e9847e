/* ag_ops_elem.c -- elementwise ops: binary with NumPy broadcasting, and unary. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

/* ---- broadcasting ----
 * Both shapes are padded on the left to AG_MAX_RANK dims. A dim of size 1 facing a
 * larger one gets stride 0, so one loop over the output reads (forward) or
 * accumulates into (backward) the right element of each input. */

typedef struct {
    int n[AG_MAX_RANK];  /* output dims, padded */
    int sa[AG_MAX_RANK]; /* a's strides in output index space (0 = broadcast) */
    int sb[AG_MAX_RANK];
} bcast;

static void pad_strides(const ag_tensor *x, const int *out, int *s)
{
    int pad = AG_MAX_RANK - x->rank, stride = 1;
    for (int d = AG_MAX_RANK - 1; d >= 0; d--) {
        int dim = d >= pad ? x->shape[d - pad] : 1;
        s[d] = (dim == 1 && out[d] != 1) ? 0 : stride;
        stride *= dim;
    }
}

/* Output shape of a op b; 0 (error set) when the shapes do not broadcast. */
static int broadcast(ag_tape *t, const char *op, const ag_tensor *a, const ag_tensor *b,
                     int *rank, int *shape, bcast *bc)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int d = 0; d < r; d++) {
        int da = d < r - a->rank ? 1 : a->shape[d - (r - a->rank)];
        int db = d < r - b->rank ? 1 : b->shape[d - (r - b->rank)];
        if (da != db && da != 1 && db != 1) {
            char sa[64], sb[64];
            ag_tape_fail(t, AG_ESHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %d vs %d)", op,
                         ag_shape_str(a, sa, sizeof sa), ag_shape_str(b, sb, sizeof sb), d, da, db);
            return 0;
        }
        shape[d] = da > db ? da : db;
    }
    *rank = r;
    for (int d = 0; d < AG_MAX_RANK; d++) bc->n[d] = d < AG_MAX_RANK - r ? 1 : shape[d - (AG_MAX_RANK - r)];
    pad_strides(a, bc->n, bc->sa);
    pad_strides(b, bc->n, bc->sb);
    return 1;
}

/* The four share one forward and one backward, which tell them apart by descriptor. */
static ag_status binary_backward(ag_tape *t, const ag_node *nd);
static const ag_op add_op = {"add", binary_backward};
static const ag_op sub_op = {"sub", binary_backward};
static const ag_op mul_op = {"mul", binary_backward};
static const ag_op div_op = {"div", binary_backward};

typedef enum { ADD, SUB, MUL, DIV } binary_kind;

static binary_kind kind_of(const ag_op *op)
{
    return op == &add_op ? ADD : op == &sub_op ? SUB : op == &mul_op ? MUL : DIV;
}

/* a: broadcastable with b -> the broadcast shape */
static ag_tensor *binary(ag_tape *t, const ag_op *opd, ag_tensor *a, ag_tensor *b)
{
    binary_kind op = kind_of(opd);
    ag_tensor *in[2] = {a, b};
    if (!ag_op_inputs(t, opd, in, 2)) return NULL;
    int rank, shape[AG_MAX_RANK];
    bcast bc;
    if (!broadcast(t, opd->name, a, b, &rank, shape, &bc)) return NULL;
    ag_tensor *out = ag_op_output(t, opd, rank, shape);
    if (!out) return NULL;
    const ag_float *x = a->data, *y = b->data;
    ag_float *z = out->data;
    if (a->size == out->size && b->size == out->size) { /* no broadcasting: plain loops */
        int n = out->size;
        switch (op) {
        case ADD: for (int i = 0; i < n; i++) z[i] = x[i] + y[i]; break;
        case SUB: for (int i = 0; i < n; i++) z[i] = x[i] - y[i]; break;
        case MUL: for (int i = 0; i < n; i++) z[i] = x[i] * y[i]; break;
        default:        for (int i = 0; i < n; i++) z[i] = x[i] / y[i]; break;
        }
    } else {
        int k = 0;
        for (int i0 = 0; i0 < bc.n[0]; i0++)
            for (int i1 = 0; i1 < bc.n[1]; i1++)
                for (int i2 = 0; i2 < bc.n[2]; i2++) {
                    int oa = i0 * bc.sa[0] + i1 * bc.sa[1] + i2 * bc.sa[2];
                    int ob = i0 * bc.sb[0] + i1 * bc.sb[1] + i2 * bc.sb[2];
                    int sa = bc.sa[3], sb = bc.sb[3], n = bc.n[3];
                    switch (op) {
                    case ADD: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] + y[ob + i * sb]; break;
                    case SUB: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] - y[ob + i * sb]; break;
                    case MUL: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] * y[ob + i * sb]; break;
                    default:        for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] / y[ob + i * sb]; break;
                    }
                    k += n;
                }
    }
    ag_op_record(t, opd, out, in, 2, 0);
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

/* z = a op b, g = dz:
 *   add: da += g          db += g
 *   sub: da += g          db -= g
 *   mul: da += g * b      db += g * a
 *   div: da += g / b      db -= g * z / b
 * Broadcast dims have stride 0, so their contributions sum into one element. */
static ag_status binary_backward(ag_tape *t, const ag_node *nd)
{
    binary_kind op = kind_of(nd->op);
    ag_tensor *a = nd->in[0], *b = nd->in[1], *out = nd->out;
    ag_float *da = ag_grad(t, a), *db = ag_grad(t, b);
    if (ag_tape_status(t) != AG_OK) return ag_tape_status(t);
    int rank, shape[AG_MAX_RANK];
    bcast bc;
    const ag_float *x = a->data, *y = b->data, *z = out->data, *g = out->grad;
    if (a->size == out->size && b->size == out->size) { /* no broadcasting: plain loops */
        int n = out->size;
        switch (op) {
        case ADD:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i];
            if (db) for (int i = 0; i < n; i++) db[i] += g[i];
            break;
        case SUB:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i];
            if (db) for (int i = 0; i < n; i++) db[i] -= g[i];
            break;
        case MUL:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i] * y[i];
            if (db) for (int i = 0; i < n; i++) db[i] += g[i] * x[i];
            break;
        default:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i] / y[i];
            if (db) for (int i = 0; i < n; i++) db[i] -= g[i] * z[i] / y[i];
            break;
        }
        return AG_OK;
    }
    broadcast(t, nd->op->name, a, b, &rank, shape, &bc);
    int k = 0;
    for (int i0 = 0; i0 < bc.n[0]; i0++)
        for (int i1 = 0; i1 < bc.n[1]; i1++)
            for (int i2 = 0; i2 < bc.n[2]; i2++) {
                int oa = i0 * bc.sa[0] + i1 * bc.sa[1] + i2 * bc.sa[2];
                int ob = i0 * bc.sb[0] + i1 * bc.sb[1] + i2 * bc.sb[2];
                for (int i = 0; i < bc.n[3]; i++, k++) {
                    int ia = oa + i * bc.sa[3], ib = ob + i * bc.sb[3];
                    switch (op) {
                    case ADD:
                        if (da) da[ia] += g[k];
                        if (db) db[ib] += g[k];
                        break;
                    case SUB:
                        if (da) da[ia] += g[k];
                        if (db) db[ib] -= g[k];
                        break;
                    case MUL:
                        if (da) da[ia] += g[k] * y[ib];
                        if (db) db[ib] += g[k] * x[ia];
                        break;
                    default:
                        if (da) da[ia] += g[k] / y[ib];
                        if (db) db[ib] -= g[k] * z[k] / y[ib];
                        break;
                    }
                }
            }
    return AG_OK;
}

ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &add_op, a, b); }
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &sub_op, a, b); }
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &mul_op, a, b); }
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, &div_op, a, b); }

/* ---- unary ----
 * z = f(x), g = dz:
 *   neg: dx -= g            exp: dx += g * z         log: dx += g / x
 *   tanh: dx += g (1 - z^2) sigmoid: dx += g z (1 - z) relu: dx += g [x > 0]
 *   scale: dx += g s        sqrt: dx += g / (2 z)    abs: dx += g sign(x) (0 at 0)
 *   pow: dx += g p x^(p-1), nothing when p == 0 (torch's pow_backward)
 *   clamp: dx += g [min <= x <= max] (the bounds themselves pass, as in torch) */

static ag_status unary_backward(ag_tape *t, const ag_node *nd);
static const ag_op neg_op = {"neg", unary_backward};
static const ag_op exp_op = {"exp", unary_backward};
static const ag_op log_op = {"log", unary_backward};
static const ag_op tanh_op = {"tanh", unary_backward};
static const ag_op sigmoid_op = {"sigmoid", unary_backward};
static const ag_op relu_op = {"relu", unary_backward};
static const ag_op scale_op = {"scale", unary_backward};
static const ag_op sqrt_op = {"sqrt", unary_backward};
static const ag_op abs_op = {"abs", unary_backward};
static const ag_op pow_op = {"pow", unary_backward};
static const ag_op clamp_op = {"clamp", unary_backward};

typedef struct {
    ag_float a, b; /* scale: a = factor; pow: a = exponent; clamp: a = min, b = max */
} unary_saved;

/* x: any shape -> the same shape */
static ag_tensor *unary(ag_tape *t, const ag_op *op, ag_tensor *x, ag_float a, ag_float b)
{
    if (!ag_op_inputs(t, op, &x, 1)) return NULL;
    ag_tensor *out = ag_op_output(t, op, x->rank, x->shape);
    if (!out) return NULL;
    const ag_float *v = x->data;
    ag_float *z = out->data;
    int n = x->size;
    if (op == &neg_op) for (int i = 0; i < n; i++) z[i] = -v[i];
    else if (op == &exp_op) ag__vexp(n, v, z);
    else if (op == &log_op) for (int i = 0; i < n; i++) z[i] = (ag_float)log(v[i]);
    else if (op == &tanh_op) ag__vtanh(n, v, z);
    else if (op == &sigmoid_op) ag__vsigmoid(n, v, z);
    else if (op == &relu_op) for (int i = 0; i < n; i++) z[i] = v[i] > 0 ? v[i] : 0;
    else if (op == &sqrt_op) for (int i = 0; i < n; i++) z[i] = (ag_float)sqrt(v[i]);
    else if (op == &abs_op) for (int i = 0; i < n; i++) z[i] = (ag_float)fabs(v[i]);
    else if (op == &pow_op) for (int i = 0; i < n; i++) z[i] = (ag_float)pow(v[i], a);
    else if (op == &clamp_op)
        for (int i = 0; i < n; i++) { /* min first, then max: min > max gives max, NaN stays */
            ag_float y = v[i] < a ? a : v[i];
            z[i] = y > b ? b : y;
        }
    else for (int i = 0; i < n; i++) z[i] = v[i] * a;
    ag_node *nd = ag_op_record(t, op, out, &x, 1, sizeof(unary_saved));
    if (nd) *(unary_saved *)nd->saved = (unary_saved){a, b};
    return ag_tape_status(t) == AG_OK ? out : NULL;
}

static ag_status unary_backward(ag_tape *t, const ag_node *nd)
{
    const ag_op *op = nd->op;
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag_grad(t, x);
    if (!dx) return ag_tape_status(t);
    const ag_float *v = x->data, *z = nd->out->data, *g = nd->out->grad;
    const unary_saved *s = nd->saved;
    int n = x->size;
    if (op == &neg_op) for (int i = 0; i < n; i++) dx[i] -= g[i];
    else if (op == &exp_op) for (int i = 0; i < n; i++) dx[i] += g[i] * z[i];
    else if (op == &log_op) for (int i = 0; i < n; i++) dx[i] += g[i] / v[i];
    else if (op == &tanh_op) for (int i = 0; i < n; i++) dx[i] += g[i] * (1 - z[i] * z[i]);
    else if (op == &sigmoid_op) for (int i = 0; i < n; i++) dx[i] += g[i] * z[i] * (1 - z[i]);
    else if (op == &relu_op) for (int i = 0; i < n; i++) dx[i] += v[i] > 0 ? g[i] : 0;
    else if (op == &sqrt_op) for (int i = 0; i < n; i++) dx[i] += g[i] / (2 * z[i]);
    else if (op == &abs_op) for (int i = 0; i < n; i++) dx[i] += v[i] > 0 ? g[i] : v[i] < 0 ? -g[i] : 0;
    else if (op == &pow_op) {
        if (s->a != 0)
            for (int i = 0; i < n; i++) dx[i] += g[i] * s->a * (ag_float)pow(v[i], s->a - 1);
    } else if (op == &clamp_op) {
        for (int i = 0; i < n; i++) dx[i] += v[i] >= s->a && v[i] <= s->b ? g[i] : 0;
    } else for (int i = 0; i < n; i++) dx[i] += g[i] * s->a;
    return AG_OK;
}

ag_tensor *ag_neg(ag_tape *t, ag_tensor *x) { return unary(t, &neg_op, x, 0, 0); }
ag_tensor *ag_exp(ag_tape *t, ag_tensor *x) { return unary(t, &exp_op, x, 0, 0); }
ag_tensor *ag_log(ag_tape *t, ag_tensor *x) { return unary(t, &log_op, x, 0, 0); }
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *x) { return unary(t, &tanh_op, x, 0, 0); }
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *x) { return unary(t, &sigmoid_op, x, 0, 0); }
ag_tensor *ag_relu(ag_tape *t, ag_tensor *x) { return unary(t, &relu_op, x, 0, 0); }
ag_tensor *ag_scale(ag_tape *t, ag_tensor *x, ag_float s) { return unary(t, &scale_op, x, s, 0); }
ag_tensor *ag_sqrt(ag_tape *t, ag_tensor *x) { return unary(t, &sqrt_op, x, 0, 0); }
ag_tensor *ag_abs(ag_tape *t, ag_tensor *x) { return unary(t, &abs_op, x, 0, 0); }
ag_tensor *ag_pow(ag_tape *t, ag_tensor *x, ag_float p) { return unary(t, &pow_op, x, p, 0); }

ag_tensor *ag_clamp(ag_tape *t, ag_tensor *x, ag_float min, ag_float max)
{
    if (isnan(min) || isnan(max))
        return ag_tape_fail(t, AG_EARG, "clamp: bounds [%g, %g] include a NaN (use -INFINITY or INFINITY for no bound)",
                            (double)min, (double)max);
    return unary(t, &clamp_op, x, min, max);
}
