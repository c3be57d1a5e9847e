/* ag_tape.c -- the tape: the list of recorded nodes, the sticky error, stale-tensor
 * checks and the reverse pass. It knows no op: each node carries its op's descriptor,
 * and the reverse pass calls the backward found there. */
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "ag_internal.h"

/* An ag_backward_at_end registration: fn runs once, after the walk, with its slot. */
typedef struct at_end {
    struct at_end *next;
    ag_end_fn fn;
    void *slot;
} at_end;

/* A gradient given back during a backward pass (ag_tape_release_grads), kept in the
 * buffer itself until an ag_grad of the same pass takes it again. */
typedef struct spare {
    struct spare *next;
    size_t cap; /* bytes */
} spare;

typedef struct group {
    struct group *prev;
    char *label;
} group;

struct ag_tape {
    ag__arena_t arena;
    uint64_t stamp; /* this generation's; tape tensors made now carry it */
    ag_node *last;  /* most recent node; nodes link backwards */
    int n_nodes;
    group *groups; /* most recent first, in the arena */
    int n_groups, cur_group;
    int grad_enabled;
    int in_backward;
    at_end *ends; /* registrations of the running backward pass, in order */
    int release;   /* ag_tape_release_grads */
    int keep;      /* the running node's output keeps its gradient to the end of the pass */
    spare *spares; /* gradients given back in this pass, for reuse */
    ag_status status;
    char err[512];
};

/* Stamps are drawn from one process-wide counter, so a tensor of another tape, or of
 * this tape before its last reset, never carries the current stamp. 0 is never
 * drawn: it marks caller-owned tensors (parameters, buffers). */
static _Atomic uint64_t next_stamp = 1;

static uint64_t draw_stamp(void)
{
    return atomic_fetch_add(&next_stamp, 1);
}

ag_tape *ag_tape_new(void)
{
    ag_tape *t = ag__alloc(sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->grad_enabled = 1;
    t->stamp = draw_stamp();
    return t;
}

void ag_tape_free(ag_tape *t)
{
    if (!t) return;
    ag__arena_free(&t->arena);
    ag__free(t);
}

void ag_tape_reset(ag_tape *t)
{
    ag__arena_release(&t->arena);
    t->stamp = draw_stamp();
    t->last = NULL;
    t->n_nodes = 0;
    t->groups = NULL;
    t->n_groups = t->cur_group = 0;
    t->ends = NULL;
    t->in_backward = 0;
    t->spares = NULL;
    t->status = AG_OK;
    t->err[0] = 0;
}

int ag_tape_release_grads(ag_tape *t, int on)
{
    int old = t->release;
    t->release = on != 0;
    return old;
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

const char *ag_version(void)
{
    return AG_VERSION_STRING;
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

/* ---- groups (clusters in ag_dot) ---- */

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
    return ag__arena_used(&t->arena);
}

/* ---- memory ---- */

void *ag__arena(ag_tape *t, size_t n)
{
    void *p = ag__arena_take(&t->arena, n);
    if (!p) return ag_tape_fail(t, AG_ENOMEM, "out of memory: the tape needed %zu more bytes", n);
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

/* ---- what every op does: check inputs, make the output, record a node ---- */

static const char *op_name(const ag_op *op)
{
    return op && op->name ? op->name : "op";
}

/* A tape tensor whose stamp is not the tape's current one was made before the last
 * reset (its memory now belongs to newer tensors) or on another tape. Released memory
 * keeps its old bytes until reused, so the old stamp is still there when the tensor
 * is passed back early in the next step (the usual mistake); in an ASan build that
 * memory is poisoned, which says the same without reading it. A stale pointer whose
 * memory a newer tensor of the same tape already occupies cannot be told from that
 * tensor. */
int ag__stale(const ag_tape *t, const ag_tensor *x)
{
    if (ag__arena_released(x, sizeof *x)) return 1;
    return x->stamp != 0 && x->stamp != t->stamp;
}

static void *fail_stale(ag_tape *t, const char *op, int i)
{
    return ag_tape_fail(t, AG_ESTATE,
                        "%s: input %d is a tape tensor made before the tape's last reset (or on another tape); "
                        "to carry values across resets, copy them into a caller-owned tensor with ag_detach_into",
                        op, i);
}

int ag_op_inputs(ag_tape *t, const ag_op *op, ag_tensor *const *xs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            if (t->status == AG_OK) ag_tape_fail(t, AG_EARG, "%s: input %d is NULL", op_name(op), i);
            return 0;
        }
        if (ag__stale(t, xs[i])) {
            fail_stale(t, op_name(op), i);
            return 0;
        }
    }
    return t->status == AG_OK;
}

ag_tensor *ag_op_output(ag_tape *t, const ag_op *op, int rank, const int *shape)
{
    int size = ag__shape_size(rank, shape);
    if (size < 0) {
        if (rank < 0 || rank > AG_MAX_RANK)
            return ag_tape_fail(t, AG_EARG, "%s: rank %d is outside 0..%d", op_name(op), rank, AG_MAX_RANK);
        return ag_tape_fail(t, AG_EARG, "%s: shape has a dim < 1 or more than 2^31 elements", op_name(op));
    }
    ag_tensor *x = ag__arena(t, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    ag__set_shape(x, rank, shape, size);
    x->stamp = t->stamp;
    x->data = ag__arena(t, (size_t)size * sizeof(ag_float));
    return x->data ? x : NULL;
}

ag_tensor *ag__view(ag_tape *t, const ag_op *op, ag_tensor *base, int offset, int rank, const int *shape)
{
    int size = ag__shape_size(rank, shape);
    if (size < 0 || offset < 0 || size > base->size - offset)
        return ag_tape_fail(t, AG_EARG, "%s: a view of %d elements at %d does not fit in its input of %d", op_name(op),
                            size, offset, base->size);
    ag_tensor *x = ag__arena(t, sizeof *x);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    ag__set_shape(x, rank, shape, size);
    x->stamp = t->stamp;
    x->data = base->data + offset;
    x->view_of = base;
    x->view_offset = offset;
    return x;
}

ag_node *ag_op_record(ag_tape *t, const ag_op *op, ag_tensor *out, ag_tensor *const *in, int n_in,
                      size_t saved)
{
    if (t->status != AG_OK) return NULL;
    if (!op || !op->name || !op->backward || !out || n_in < 0 || (n_in > 0 && !in))
        return ag_tape_fail(t, AG_EARG, "%s: ag_op_record needs a descriptor with a name and a backward, "
                            "an output and the inputs", op_name(op));
    if (out->stamp != t->stamp)
        return ag_tape_fail(t, AG_EARG, "%s: the output to record must be made on this tape (ag_op_output)",
                            op->name);
    if (!ag_op_inputs(t, op, in, n_in) || !t->grad_enabled) return NULL;
    int any = 0;
    for (int i = 0; i < n_in; i++) any |= in[i]->requires_grad;
    if (!any) return NULL;
    /* one block: the node, its input pointers, the op's saved struct */
    size_t head = (sizeof(ag_node) + (size_t)n_in * sizeof(ag_tensor *) + 15) & ~(size_t)15;
    unsigned char *mem = ag__arena(t, head + saved);
    if (!mem) return NULL;
    ag_node *n = (ag_node *)mem;
    n->op = op;
    n->out = out;
    n->in = (ag_tensor **)(mem + sizeof(ag_node));
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    n->n_in = n_in;
    n->saved = saved ? mem + head : NULL;
    if (saved) memset(n->saved, 0, saved);
    n->prev = t->last;
    n->group = t->cur_group;
    t->last = n;
    t->n_nodes++;
    out->requires_grad = 1;
    out->grad_fn = n;
    return n;
}

const ag_op *ag_node_op(const ag_node *n) { return n->op; }
int ag_node_n_in(const ag_node *n) { return n->n_in; }
ag_tensor *ag_node_in(const ag_node *n, int i) { return i >= 0 && i < n->n_in ? n->in[i] : NULL; }
ag_tensor *ag_node_out(const ag_node *n) { return n->out; }
void *ag_node_saved(const ag_node *n) { return n->saved; }

/* With release on, a gradient of up to 256 KiB takes a whole power of two of bytes (at
 * least 64): one freed by a step then fits the next step's even when the next has a
 * few more rows (a packed batch grows step by step as backward goes back in time).
 * Larger ones, rarely of a size that repeats, take what they need. */
static size_t spare_cap(size_t n)
{
    size_t c = 64;
    if (n > 256 * 1024) return (n + 63) & ~(size_t)63;
    while (c < n) c *= 2;
    return c;
}

ag_float *ag_grad(ag_tape *t, ag_tensor *x)
{
    if (!x || !x->requires_grad) return NULL;
    if (!x->grad && x->view_of) { /* a view's gradient is its part of its input's */
        ag_float *g = ag_grad(t, x->view_of);
        if (g) x->grad = g + x->view_offset;
    } else if (!x->grad) {
        size_t n = (size_t)x->size * sizeof(ag_float);
        spare **best = NULL; /* the smallest spare that holds n bytes, if any */
        for (spare **s = &t->spares; *s; s = &(*s)->next)
            if ((*s)->cap >= n && (!best || (*s)->cap < (*best)->cap)) best = s;
        if (best) {
            spare *s = *best;
            *best = s->next;
            ag__arena_unpoison(s, n);
            x->grad = (ag_float *)(void *)s;
        } else {
            x->grad = ag__arena(t, t->release ? spare_cap(n) : n);
        }
        if (x->grad) memset(x->grad, 0, n);
    }
    return x->grad;
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

/* ---- the reverse pass ---- */

void **ag_backward_at_end(ag_tape *t, ag_end_fn fn)
{
    if (!t->in_backward || !fn) {
        ag_tape_fail(t, AG_ESTATE, "ag_backward_at_end: only a backward function may call it, with a function");
        return NULL;
    }
    t->keep = 1; /* what runs at the end may read this node's output gradient */
    at_end **link = &t->ends;
    for (; *link; link = &(*link)->next)
        if ((*link)->fn == fn) return &(*link)->slot;
    at_end *e = ag__arena(t, sizeof *e);
    if (!e) return NULL;
    e->next = NULL;
    e->fn = fn;
    e->slot = NULL;
    *link = e;
    return &e->slot;
}

/* The node's backward; an error it returns without a message gets one naming the op. */
static int backward_node(ag_tape *t, ag_node *n)
{
    t->keep = 0;
    ag_status s = n->op->backward(t, n);
    if (s != AG_OK && t->status == AG_OK)
        ag_tape_fail(t, s, "%s: its backward failed (%s)", n->op->name, ag_status_name(s));
    return s == AG_OK && t->status == AG_OK;
}

/* After n's backward: nothing reads its output's gradient any more (its readers ran
 * before it, and views of it before them), so the buffer goes to the spares. Not a
 * view's (it lies in another's), nor one kept for the end of the pass. */
static void give_back(ag_tape *t, ag_node *n, const ag_tensor *root)
{
    ag_tensor *x = n->out;
    if (!t->release || t->keep || x == root || x->view_of || !x->grad) return;
    size_t cap = spare_cap((size_t)x->size * sizeof(ag_float)); /* as ag_grad took it */
    spare *s = (spare *)(void *)x->grad;
    s->cap = cap;
    s->next = t->spares;
    t->spares = s;
    x->grad = NULL;
    ag__arena_poison((unsigned char *)s + sizeof *s, cap - sizeof *s);
}

static void run_at_end(ag_tape *t)
{
    for (at_end *e = t->ends; e && t->status == AG_OK; e = e->next) {
        ag_status s = e->fn(t, e->slot);
        if (s != AG_OK && t->status == AG_OK)
            ag_tape_fail(t, s, "backward: a function run at the end of the pass failed (%s)", ag_status_name(s));
    }
    t->ends = NULL;
}

ag_status ag_backward_seed(ag_tape *t, ag_tensor *out, const ag_float *seed)
{
    if (!out) {
        if (t->status == AG_OK) ag_tape_fail(t, AG_EARG, "backward: the output is NULL");
        return t->status;
    }
    if (t->status != AG_OK) return t->status;
    if (ag__stale(t, out)) {
        fail_stale(t, "backward", 0);
        return t->status;
    }
    /* Clear gradients of tape tensors from an earlier pass; parameters accumulate. */
    for (ag_node *n = t->last; n; n = n->prev) {
        if (!n->out->grad) continue;
        if (t->release) n->out->grad = NULL; /* taken afresh, in whole powers of two (spare_cap) */
        else if (!n->out->view_of) /* a view's lies in its input's: cleared there, or a parameter's */
            memset(n->out->grad, 0, (size_t)n->out->size * sizeof(ag_float));
    }
    if (!out->requires_grad) return AG_OK; /* nothing upstream wants a gradient */
    ag_float *g = ag_grad(t, out);
    if (!g) return t->status;
    for (int i = 0; i < out->size; i++) g[i] += seed ? seed[i] : 1;
    /* The tape is in creation order, so reverse order is a valid reverse topological
     * order; nodes that do not lead to `out` have no gradient and are skipped. */
    t->in_backward = 1;
    t->ends = NULL;
    t->spares = NULL;
    for (ag_node *n = out->grad_fn; n; n = n->prev) {
        if (!n->out->grad) continue;
        if (!backward_node(t, n)) break;
        give_back(t, n, out);
    }
    run_at_end(t);
    t->in_backward = 0;
    t->spares = NULL; /* the buffers stay in the arena until the reset */
    return t->status;
}

ag_status ag_backward(ag_tape *t, ag_tensor *loss)
{
    if (loss && !ag__stale(t, loss) && loss->size != 1) {
        char buf[64];
        ag_tape_fail(t, AG_ESTATE, "backward: the loss must be a scalar, got shape %s",
                     ag_shape_str(loss, buf, sizeof buf));
        return t->status;
    }
    return ag_backward_seed(t, loss, NULL);
}
