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

static ag_tensor *binary(ag_tape *t, ag_op op, ag_tensor *a, ag_tensor *b)
{
    const char *name = ag__op_names[op];
    ag_tensor *in[2] = {a, b};
    if (!ag__inputs(t, name, in, 2)) return NULL;
    int rank, shape[AG_MAX_RANK];
    bcast bc;
    if (!broadcast(t, name, a, b, &rank, shape, &bc)) return NULL;
    ag_tensor *out = ag__new(t, name, rank, shape);
    if (!out) return NULL;
    const ag_float *x = a->data, *y = b->data;
    ag_float *z = out->data;
    if (a->size == out->size && b->size == out->size) { /* no broadcasting: plain loops */
        int n = out->size;
        switch (op) {
        case AG_OP_ADD: for (int i = 0; i < n; i++) z[i] = x[i] + y[i]; break;
        case AG_OP_SUB: for (int i = 0; i < n; i++) z[i] = x[i] - y[i]; break;
        case AG_OP_MUL: for (int i = 0; i < n; i++) z[i] = x[i] * y[i]; break;
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
                    case AG_OP_ADD: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] + y[ob + i * sb]; break;
                    case AG_OP_SUB: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] - y[ob + i * sb]; break;
                    case AG_OP_MUL: for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] * y[ob + i * sb]; break;
                    default:        for (int i = 0; i < n; i++) z[k + i] = x[oa + i * sa] / y[ob + i * sb]; break;
                    }
                    k += n;
                }
    }
    int ok;
    ag__record(t, op, out, in, 2, &ok);
    return ok ? out : NULL;
}

ag_tensor *ag_add(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, AG_OP_ADD, a, b); }
ag_tensor *ag_sub(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, AG_OP_SUB, a, b); }
ag_tensor *ag_mul(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, AG_OP_MUL, a, b); }
ag_tensor *ag_div(ag_tape *t, ag_tensor *a, ag_tensor *b) { return binary(t, AG_OP_DIV, a, b); }

/* z = a op b, g = dz:
 *   add: da += g          db += g
 *   sub: da += g          db -= g
 *   mul: da += g * b      db += g * a
 *   div: da += g / b      db -= g * z / b
 * Broadcast dims have stride 0, so their contributions sum into one element. */
int ag__backward_binary(ag_tape *t, ag_node *nd)
{
    ag_tensor *a = nd->in[0], *b = nd->in[1], *out = nd->out;
    ag_float *da = a->requires_grad ? ag__grad(t, a) : NULL;
    ag_float *db = b->requires_grad ? ag__grad(t, b) : NULL;
    if ((a->requires_grad && !da) || (b->requires_grad && !db)) return 0;
    int rank, shape[AG_MAX_RANK];
    bcast bc;
    const ag_float *x = a->data, *y = b->data, *z = out->data, *g = out->grad;
    if (a->size == out->size && b->size == out->size) { /* no broadcasting: plain loops */
        int n = out->size;
        switch (nd->op) {
        case AG_OP_ADD:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i];
            if (db) for (int i = 0; i < n; i++) db[i] += g[i];
            break;
        case AG_OP_SUB:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i];
            if (db) for (int i = 0; i < n; i++) db[i] -= g[i];
            break;
        case AG_OP_MUL:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i] * y[i];
            if (db) for (int i = 0; i < n; i++) db[i] += g[i] * x[i];
            break;
        default:
            if (da) for (int i = 0; i < n; i++) da[i] += g[i] / y[i];
            if (db) for (int i = 0; i < n; i++) db[i] -= g[i] * z[i] / y[i];
            break;
        }
        return 1;
    }
    broadcast(t, ag__op_names[nd->op], a, b, &rank, shape, &bc);
    int k = 0;
    for (int i0 = 0; i0 < bc.n[0]; i0++)
        for (int i1 = 0; i1 < bc.n[1]; i1++)
            for (int i2 = 0; i2 < bc.n[2]; i2++) {
                int oa = i0 * bc.sa[0] + i1 * bc.sa[1] + i2 * bc.sa[2];
                int ob = i0 * bc.sb[0] + i1 * bc.sb[1] + i2 * bc.sb[2];
                for (int i = 0; i < bc.n[3]; i++, k++) {
                    int ia = oa + i * bc.sa[3], ib = ob + i * bc.sb[3];
                    switch (nd->op) {
                    case AG_OP_ADD:
                        if (da) da[ia] += g[k];
                        if (db) db[ib] += g[k];
                        break;
                    case AG_OP_SUB:
                        if (da) da[ia] += g[k];
                        if (db) db[ib] -= g[k];
                        break;
                    case AG_OP_MUL:
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
    return 1;
}

/* ---- unary ---- */

static ag_tensor *unary(ag_tape *t, ag_op op, ag_tensor *x, ag_float s)
{
    const char *name = ag__op_names[op];
    if (!ag__inputs(t, name, &x, 1)) return NULL;
    ag_tensor *out = ag__new(t, name, x->rank, x->shape);
    if (!out) return NULL;
    const ag_float *v = x->data;
    ag_float *z = out->data;
    int n = x->size;
    switch (op) {
    case AG_OP_NEG: for (int i = 0; i < n; i++) z[i] = -v[i]; break;
    case AG_OP_EXP: ag__vexp(n, v, z); break;
    case AG_OP_LOG: for (int i = 0; i < n; i++) z[i] = (ag_float)log(v[i]); break;
    case AG_OP_TANH: ag__vtanh(n, v, z); break;
    case AG_OP_SIGMOID: ag__vsigmoid(n, v, z); break;
    case AG_OP_RELU: for (int i = 0; i < n; i++) z[i] = v[i] > 0 ? v[i] : 0; break;
    default: for (int i = 0; i < n; i++) z[i] = v[i] * s; break; /* scale */
    }
    int ok;
    ag_node *nd = ag__record(t, op, out, &x, 1, &ok);
    if (nd) nd->f = s;
    return ok ? out : NULL;
}

ag_tensor *ag_neg(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_NEG, x, 0); }
ag_tensor *ag_exp(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_EXP, x, 0); }
ag_tensor *ag_log(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_LOG, x, 0); }
ag_tensor *ag_tanh(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_TANH, x, 0); }
ag_tensor *ag_sigmoid(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_SIGMOID, x, 0); }
ag_tensor *ag_relu(ag_tape *t, ag_tensor *x) { return unary(t, AG_OP_RELU, x, 0); }
ag_tensor *ag_scale(ag_tape *t, ag_tensor *x, ag_float s) { return unary(t, AG_OP_SCALE, x, s); }

/* z = f(x), g = dz:
 *   neg: dx -= g            exp: dx += g * z         log: dx += g / x
 *   tanh: dx += g (1 - z^2) sigmoid: dx += g z (1 - z) relu: dx += g [x > 0]
 *   scale: dx += g s */
int ag__backward_unary(ag_tape *t, ag_node *nd)
{
    ag_tensor *x = nd->in[0];
    ag_float *dx = ag__grad(t, x);
    if (!dx) return 0;
    const ag_float *v = x->data, *z = nd->out->data, *g = nd->out->grad;
    int n = x->size;
    switch (nd->op) {
    case AG_OP_NEG: for (int i = 0; i < n; i++) dx[i] -= g[i]; break;
    case AG_OP_EXP: for (int i = 0; i < n; i++) dx[i] += g[i] * z[i]; break;
    case AG_OP_LOG: for (int i = 0; i < n; i++) dx[i] += g[i] / v[i]; break;
    case AG_OP_TANH: for (int i = 0; i < n; i++) dx[i] += g[i] * (1 - z[i] * z[i]); break;
    case AG_OP_SIGMOID: for (int i = 0; i < n; i++) dx[i] += g[i] * z[i] * (1 - z[i]); break;
    case AG_OP_RELU: for (int i = 0; i < n; i++) dx[i] += v[i] > 0 ? g[i] : 0; break;
    default: for (int i = 0; i < n; i++) dx[i] += g[i] * nd->f; break;
    }
    return 1;
}
