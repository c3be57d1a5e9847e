/* ag_tape.c -- the tape: an arena that owns every intermediate, the list of recorded
 * nodes, the sticky error, and the reverse pass. */
#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "ag_internal.h"

const char *const ag__op_names[AG_OP_COUNT] = {
    "add", "sub", "mul", "div",
    "neg", "exp", "log", "tanh", "sigmoid", "relu", "scale",
    "sum", "mean", "sum_dim", "mean_dim",
    "matmul", "linear",
    "cat", "log_softmax", "nll_loss",
    "select", "slice", "reshape", "index_select",
};
static_assert(sizeof ag__op_names / sizeof ag__op_names[0] == AG_OP_COUNT, "op name table");

/* Arena: a chain of chunks kept across resets. A step that allocates the same sizes in
 * the same order as the one before walks the same chunks and calls the hook zero times. */
typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    unsigned char *mem; /* 64-byte aligned start inside this allocation */
} chunk;

enum { CHUNK_MIN = 1 << 20, ALIGN = 64 };

typedef struct group {
    struct group *prev;
    char *label;
} group;

struct ag_tape {
    chunk *first, *cur;
    ag_node *last; /* most recent node; nodes link backwards */
    int n_nodes;
    group *groups;   /* most recent first, in the arena */
    int n_groups, cur_group;
    int grad_enabled;
    ag_node *deferred; /* linear nodes whose weight gradient is still to add (backward) */
    ag_status status;
    char err[512];
};

ag_tape *ag_tape_new(void)
{
    ag_tape *t = ag__alloc(sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->grad_enabled = 1;
    return t;
}

void ag_tape_free(ag_tape *t)
{
    if (!t) return;
    for (chunk *c = t->first, *next; c; c = next) {
        next = c->next;
        ag__free(c);
    }
    ag__free(t);
}

void ag_tape_reset(ag_tape *t)
{
    for (chunk *c = t->first; c; c = c->next) c->used = 0;
    t->cur = t->first;
    t->last = NULL;
    t->n_nodes = 0;
    t->groups = NULL;
    t->n_groups = t->cur_group = 0;
    t->deferred = NULL;
    t->status = AG_OK;
    t->err[0] = 0;
}

int ag_tape_set_grad(ag_tape *t, int enabled)
{
    int old = t->grad_enabled;
    t->grad_enabled = enabled != 0;
    return old;
}

ag_status ag_tape_status(const ag_tape *t)
{
    return t->status;
}

const char *ag_tape_error(const ag_tape *t)
{
    return t->err;
}

const char *ag_status_name(ag_status s)
{
    switch (s) {
    case AG_OK: return "ok";
    case AG_ESHAPE: return "shape mismatch";
    case AG_EARG: return "bad argument";
    case AG_EINDEX: return "index out of range";
    case AG_ENOMEM: return "out of memory";
    case AG_ESTATE: return "bad state";
    case AG_EIO: return "write failed";
    }
    return "unknown status";
}

void *ag_tape_fail(ag_tape *t, ag_status s, const char *fmt, ...)
{
    if (t->status != AG_OK) return NULL; /* the first error is the one to read */
    t->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    return NULL;
}

void ag_tape_group(ag_tape *t, const char *label)
{
    if (!label) {
        t->cur_group = 0;
        return;
    }
    size_t n = strlen(label) + 1;
    group *g = ag__arena(t, sizeof *g);
    char *copy = g ? ag__arena(t, n) : NULL;
    if (!copy) return; /* the tape now holds AG_ENOMEM */
    memcpy(copy, label, n);
    g->label = copy;
    g->prev = t->groups;
    t->groups = g;
    t->cur_group = ++t->n_groups;
}

ag_node *ag__last(const ag_tape *t)
{
    return t->last;
}

int ag__groups(const ag_tape *t)
{
    return t->n_groups;
}

const char *ag__group_label(const ag_tape *t, int g)
{
    if (g < 1 || g > t->n_groups) return NULL;
    group *k = t->groups;
    for (int i = t->n_groups; i > g; i--) k = k->prev;
    return k->label;
}

int ag_tape_nodes(const ag_tape *t)
{
    return t->n_nodes;
}

size_t ag_tape_bytes(const ag_tape *t)
{
    size_t n = 0;
    for (chunk *c = t->first; c; c = c->next) {
        n += c->used;
        if (c == t->cur) break;
    }
    return n;
}

static chunk *chunk_new(size_t cap)
{
    unsigned char *raw = ag__alloc(sizeof(chunk) + ALIGN + cap);
    if (!raw) return NULL;
    chunk *c = (chunk *)raw;
    uintptr_t start = ((uintptr_t)(raw + sizeof(chunk)) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    c->mem = (unsigned char *)start;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

void *ag__arena(ag_tape *t, size_t n)
{
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0) n = ALIGN;
    chunk *c = t->cur;
    /* Walk forward to the first chunk with room; chunks after cur are empty. */
    while (c && c->cap - c->used < n) {
        if (!c->next) break;
        c = c->next;
    }
    if (!c || c->cap - c->used < n) {
        size_t total = 0;
        for (chunk *k = t->first; k; k = k->next) total += k->cap;
        size_t cap = total > CHUNK_MIN ? total : CHUNK_MIN; /* doubles the arena */
        if (cap < n) cap = n;
        chunk *fresh = chunk_new(cap);
        if (!fresh) {
            return ag_tape_fail(t, AG_ENOMEM, "out of memory: the tape needed %zu more bytes", n);
        }
        if (!t->first) {
            t->first = fresh;
        } else {
            chunk *tail = t->first;
            while (tail->next) tail = tail->next;
            tail->next = fresh;
        }
        c = fresh;
    }
    t->cur = c;
    void *p = c->mem + c->used;
    c->used += n;
    return p;
}

int *ag__save_ints(ag_tape *t, const int *v, int n)
{
    int *copy = ag__arena(t, (size_t)n * sizeof *copy);
    if (copy) memcpy(copy, v, (size_t)n * sizeof *copy);
    return copy;
}

void *ag_tape_alloc(ag_tape *t, size_t n)
{
    return ag__arena(t, n);
}

ag_tensor *ag__new(ag_tape *t, const char *op, int rank, const int *shape)
{
    int size = ag__shape_size(rank, shape);
    if (size < 0) {
        if (rank < 0 || rank > AG_MAX_RANK)
            return ag_tape_fail(t, AG_EARG, "%s: rank %d is outside 0..%d", op, rank, AG_MAX_RANK);
        return ag_tape_fail(t, AG_EARG, "%s: shape has a dim < 1 or more than 2^31 elements", op);
    }
    ag_tensor *x = ag__arena(t, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    ag__set_shape(x, rank, shape, size);
    x->data = ag__arena(t, (size_t)size * sizeof(ag_float));
    return x->data ? x : NULL;
}

ag_node *ag__record(ag_tape *t, ag_op op, ag_tensor *out, ag_tensor *const *in, int n_in, int *ok)
{
    *ok = 1;
    if (!t->grad_enabled) return NULL;
    int any = 0;
    for (int i = 0; i < n_in; i++) any |= in[i] && in[i]->requires_grad;
    if (!any) return NULL;
    ag_node *n = ag__arena(t, sizeof *n);
    ag_tensor **ins = n ? ag__arena(t, (size_t)n_in * sizeof *ins) : NULL;
    if (!ins) {
        *ok = 0;
        return NULL;
    }
    memset(n, 0, sizeof *n);
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    n->op = op;
    n->out = out;
    n->in = ins;
    n->n_in = n_in;
    n->prev = t->last;
    n->group = t->cur_group;
    t->last = n;
    t->n_nodes++;
    out->requires_grad = 1;
    out->grad_fn = n;
    return n;
}

ag_float *ag__grad(ag_tape *t, ag_tensor *x)
{
    if (!x->grad) {
        x->grad = ag__arena(t, (size_t)x->size * sizeof(ag_float));
        if (x->grad) memset(x->grad, 0, (size_t)x->size * sizeof(ag_float));
    }
    return x->grad;
}

int ag__inputs(ag_tape *t, const char *op, ag_tensor *const *xs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (t->status == AG_OK) ag_tape_fail(t, AG_EARG, "%s: input %d is NULL", op, i);
            return 0;
        }
    }
    return t->status == AG_OK;
}

int ag__dim(ag_tape *t, const char *op, const ag_tensor *x, int dim)
{
    int d = dim < 0 ? dim + x->rank : dim;
    if (d < 0 || d >= x->rank) {
        char buf[64];
        ag_tape_fail(t, AG_EARG, "%s: dim %d is out of range for a tensor of shape %s", op, dim,
                     ag_shape_str(x, buf, sizeof buf));
        return -1;
    }
    return d;
}

void ag__split(const ag_tensor *x, int dim, int *outer, int *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= x->shape[d];
    for (int d = dim + 1; d < x->rank; d++) *inner *= x->shape[d];
}

/* ---- backward: one switch on the op ---- */

static int backward_node(ag_tape *t, ag_node *n)
{
    switch (n->op) {
    case AG_OP_ADD: case AG_OP_SUB: case AG_OP_MUL: case AG_OP_DIV:
        return ag__backward_binary(t, n);
    case AG_OP_NEG: case AG_OP_EXP: case AG_OP_LOG: case AG_OP_TANH:
    case AG_OP_SIGMOID: case AG_OP_RELU: case AG_OP_SCALE:
        return ag__backward_unary(t, n);
    case AG_OP_SUM: case AG_OP_MEAN: case AG_OP_SUM_DIM: case AG_OP_MEAN_DIM:
        return ag__backward_reduce(t, n);
    case AG_OP_MATMUL: return ag__backward_matmul(t, n);
    case AG_OP_LINEAR: return ag__backward_linear(t, n);
    case AG_OP_CAT: return ag__backward_cat(t, n);
    case AG_OP_LOG_SOFTMAX: return ag__backward_log_softmax(t, n);
    case AG_OP_NLL_LOSS: return ag__backward_nll_loss(t, n);
    case AG_OP_SELECT: case AG_OP_SLICE: return ag__backward_narrow(t, n);
    case AG_OP_RESHAPE: return ag__backward_reshape(t, n);
    case AG_OP_INDEX_SELECT: return ag__backward_index_select(t, n);
    case AG_OP_COUNT: break;
    }
    assert(!"unknown op on the tape");
    return 0;
}

/* ---- deferred weight gradients ----
 * A weight used at every step of a recurrence gets one outer product per step: dW +=
 * g^T x, each a pass over all of dW. With few rows (under 16) that pass costs more than
 * its arithmetic, so linear's backward files its node here instead, and at the end of
 * the pass the nodes of each weight are stacked, G (R, O) over X (R, I) with R their
 * rows in all, for a single dW += G^T X. */

void ag__defer(ag_tape *t, ag_node *n)
{
    n->defer_next = t->deferred;
    t->deferred = n;
}

static int flush_deferred(ag_tape *t)
{
    while (t->deferred) {
        ag_tensor *W = t->deferred->in[1];
        int O = W->shape[0], I = W->shape[1], R = 0, nodes = 0;
        for (ag_node *n = t->deferred; n; n = n->defer_next)
            if (n->in[1] == W) R += n->in[0]->shape[0], nodes++;
        ag_float *dW = ag__grad(t, W);
        if (!dW) return 0;
        if (nodes == 1) {
            ag_node *n = t->deferred;
            ag__gemm_tn(O, I, R, n->out->grad, n->in[0]->data, dW);
            t->deferred = n->defer_next;
            continue;
        }
        ag_float *G = ag__arena(t, (size_t)R * O * sizeof *G), *X = ag__arena(t, (size_t)R * I * sizeof *X);
        if (!G || !X) return 0;
        int r = 0;
        for (ag_node **link = &t->deferred; *link;) {
            ag_node *n = *link;
            if (n->in[1] != W) {
                link = &n->defer_next;
                continue;
            }
            int rows = n->in[0]->shape[0];
            memcpy(G + (size_t)r * O, n->out->grad, (size_t)rows * O * sizeof *G);
            memcpy(X + (size_t)r * I, n->in[0]->data, (size_t)rows * I * sizeof *X);
            r += rows;
            *link = n->defer_next;
        }
        ag__gemm_tn(O, I, R, G, X, dW);
    }
    return 1;
}

ag_status ag_backward_seed(ag_tape *t, ag_tensor *out, const ag_float *seed)
{
    if (!out) {
        if (t->status == AG_OK) ag_tape_fail(t, AG_EARG, "backward: the output is NULL");
        return t->status;
    }
    if (t->status != AG_OK) return t->status;
    /* Clear gradients of tape tensors from an earlier pass; parameters accumulate. */
    for (ag_node *n = t->last; n; n = n->prev)
        if (n->out->grad) memset(n->out->grad, 0, (size_t)n->out->size * sizeof(ag_float));
    if (!out->requires_grad) return AG_OK; /* nothing upstream wants a gradient */
    ag_float *g = ag__grad(t, out);
    if (!g) return t->status;
    for (int i = 0; i < out->size; i++) g[i] += seed ? seed[i] : 1;
    /* The tape is in creation order, so reverse order is a valid reverse topological
     * order; nodes that do not lead to `out` have no gradient and are skipped. */
    t->deferred = NULL;
    for (ag_node *n = out->grad_fn; n; n = n->prev) {
        if (!n->out->grad) continue;
        if (!backward_node(t, n)) break;
    }
    if (t->status == AG_OK) flush_deferred(t);
    t->deferred = NULL;
    return t->status;
}

ag_status ag_backward(ag_tape *t, ag_tensor *loss)
{
    if (loss && loss->size != 1) {
        char buf[64];
        ag_tape_fail(t, AG_ESTATE, "backward: the loss must be a scalar, got shape %s",
                     ag_shape_str(loss, buf, sizeof buf));
        return t->status;
    }
    return ag_backward_seed(t, loss, NULL);
}

/* ---- tape tensors without gradient ---- */

static ag_tensor *filled(ag_tape *t, const char *op, int rank, const int *shape, ag_float v)
{
    ag_tensor *x = ag__new(t, op, rank, shape);
    if (x) ag_fill(x, v);
    return x;
}

ag_tensor *ag_full(ag_tape *t, int rank, const int *shape, ag_float v)
{
    return filled(t, "full", rank, shape, v);
}

ag_tensor *ag_zeros(ag_tape *t, int rank, const int *shape)
{
    return filled(t, "zeros", rank, shape, 0);
}

ag_tensor *ag_ones(ag_tape *t, int rank, const int *shape)
{
    return filled(t, "ones", rank, shape, 1);
}

ag_tensor *ag_from_array(ag_tape *t, int rank, const int *shape, const ag_float *v)
{
    if (!v) return ag_tape_fail(t, AG_EARG, "from_array: values are NULL");
    ag_tensor *x = ag__new(t, "from_array", rank, shape);
    if (x) memcpy(x->data, v, (size_t)x->size * sizeof(ag_float));
    return x;
}

ag_tensor *ag_rand(ag_tape *t, ag_rng *r, int rank, const int *shape, double lo, double hi)
{
    ag_tensor *x = ag__new(t, "rand", rank, shape);
    if (x) ag_fill_uniform(x, r, lo, hi);
    return x;
}

ag_tensor *ag_randn(ag_tape *t, ag_rng *r, int rank, const int *shape, double mean, double std)
{
    ag_tensor *x = ag__new(t, "randn", rank, shape);
    if (x) ag_fill_normal(x, r, mean, std);
    return x;
}

ag_tensor *ag_one_hot(ag_tape *t, const int *idx, int n, int classes)
{
    if (!idx || n < 1 || classes < 1)
        return ag_tape_fail(t, AG_EARG, "one_hot: need indices, n >= 1 and classes >= 1 (got n=%d, classes=%d)",
                            n, classes);
    for (int i = 0; i < n; i++)
        if (idx[i] < -1 || idx[i] >= classes)
            return ag_tape_fail(t, AG_EINDEX, "one_hot: index %d at position %d is outside [0, %d) (-1 pads)",
                                idx[i], i, classes);
    ag_tensor *x = ag__new(t, "one_hot", 2, (int[]){n, classes});
    if (!x) return NULL;
    memset(x->data, 0, (size_t)x->size * sizeof(ag_float));
    for (int i = 0; i < n; i++)
        if (idx[i] >= 0) x->data[i * classes + idx[i]] = 1;
    return x;
}
