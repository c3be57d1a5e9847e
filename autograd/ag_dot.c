/* ag_dot.c -- the recorded graph as Graphviz dot: ops, parameters, inputs and the loss,
 * each styled apart, time-step groups as clusters, optional value/gradient statistics. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

const ag_dot_options ag_dot_default = {0, 1, NULL};

/* ---- a pointer -> entry table, open addressing ---- */

typedef enum { K_PARAM, K_CONST, K_OP, K_ROOT } kind;

typedef struct {
    const ag_tensor *t; /* NULL: empty slot */
    int id, group;      /* group: the cluster it is drawn in (0 = none) */
    kind k;
    const ag_node *node;
    int needed;
} entry;

typedef struct {
    entry *e;
    size_t cap; /* a power of two */
    int next_id;
} table;

static entry *lookup(table *tb, const ag_tensor *t)
{
    size_t h = ((uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull;
    for (size_t i = h & (tb->cap - 1);; i = (i + 1) & (tb->cap - 1)) {
        if (tb->e[i].t == t) return &tb->e[i];
        if (!tb->e[i].t) {
            tb->e[i].t = t;
            tb->e[i].id = tb->next_id++;
            return &tb->e[i];
        }
    }
}

/* ---- writing ---- */

/* A label inside "...": quotes and backslashes escaped, a newline as dot's \n, any
 * other control byte shown as the text \xNN (an escape sequence of a terminal in a
 * parameter's name must not reach a viewer raw). */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\\\x%02x", c);
        else fputc(c, f);
    }
}

typedef struct {
    double norm, min, max;
    int bad; /* a NaN or an Inf */
} stats;

static stats stats_of(const ag_float *v, int n)
{
    stats s = {0, INFINITY, -INFINITY, 0};
    double sq = 0;
    for (int i = 0; i < n; i++) {
        double x = v[i];
        if (!isfinite(x)) {
            s.bad = 1;
            continue;
        }
        sq += x * x;
        if (x < s.min) s.min = x;
        if (x > s.max) s.max = x;
    }
    s.norm = sqrt(sq);
    return s;
}

static void write_node(FILE *f, const entry *e, const ag_dot_options *o, int indent)
{
    static const char *shape[] = {"box", "note", "box", "doubleoctagon"};
    static const char *style[] = {"filled", "filled", "rounded,filled", "filled"};
    static const char *fill[] = {"#cfe2ff", "#e9ecef", "#fff3cd", "#f8d7da"};
    const ag_tensor *t = e->t;
    char buf[64];
    fprintf(f, "%*sn%d [shape=%s, style=\"%s\", fillcolor=\"%s\", label=\"", indent, "", e->id, shape[e->k],
            style[e->k], fill[e->k]);
    if (e->k == K_PARAM) put_escaped(f, t->name ? t->name : "parameter");
    else if (e->k == K_CONST && t->name) put_escaped(f, t->name); /* a named buffer */
    else if (e->k == K_CONST) fputs(t->requires_grad ? "leaf" : "input", f);
    else put_escaped(f, e->node->op->name);
    if (e->k == K_ROOT) fputs(" (loss)", f);
    fprintf(f, "\\n%s", ag_shape_str(t, buf, sizeof buf));
    int bad = 0;
    if (o->stats) {
        stats v = stats_of(t->data, t->size);
        bad |= v.bad;
        fprintf(f, "\\nvalue |%.3g| [%.3g, %.3g]%s", v.norm, v.min, v.max, v.bad ? " NaN/Inf!" : "");
        if (t->grad) {
            stats g = stats_of(t->grad, t->size);
            bad |= g.bad;
            fprintf(f, "\\ngrad |%.3g| [%.3g, %.3g]%s", g.norm, g.min, g.max, g.bad ? " NaN/Inf!" : "");
        }
    }
    fputs("\"", f);
    if (bad) fputs(", color=\"#d00000\", penwidth=3, fontcolor=\"#d00000\"", f);
    fputs("];\n", f);
}

ag_status ag_dot(ag_tape *t, const ag_tensor *root, FILE *f, const ag_dot_options *o)
{
    if (!o) o = &ag_dot_default;
    if (!f) {
        ag_tape_fail(t, AG_EARG, "dot: no file to write to");
        return AG_EARG;
    }
    if (root && ag__stale(t, root)) {
        ag_tape_fail(t, AG_ESTATE, "dot: the root is a tape tensor made before the tape's last reset "
                     "(or on another tape)");
        return AG_ESTATE;
    }
    /* size the table: every node's output and inputs, plus the root */
    size_t want = 2;
    int n_nodes = 0;
    for (ag_node *n = ag__last(t); n; n = n->prev, n_nodes++) want += 1 + (size_t)n->n_in;
    table tb = {0};
    for (tb.cap = 16; tb.cap < 2 * want; tb.cap *= 2) {}
    tb.e = ag__alloc(tb.cap * sizeof *tb.e);
    const ag_node **order = ag__alloc((size_t)(n_nodes + 1) * sizeof *order);
    if (!tb.e || !order) {
        ag__free(tb.e);
        ag__free(order);
        ag_tape_fail(t, AG_ENOMEM, "dot: out of memory");
        return AG_ENOMEM;
    }
    memset(tb.e, 0, tb.cap * sizeof *tb.e);
    /* Walk the tape backwards from the root, keeping the nodes whose output is needed. */
    if (root) lookup(&tb, root)->needed = 1;
    int kept = 0;
    for (ag_node *n = ag__last(t); n; n = n->prev) {
        entry *out = lookup(&tb, n->out);
        if (root && !out->needed) continue;
        out->needed = 1;
        out->k = n->out == root ? K_ROOT : K_OP;
        out->node = n;
        out->group = n->group;
        order[kept++] = n;
        for (int i = 0; i < n->n_in; i++) {
            entry *in = lookup(&tb, n->in[i]);
            in->needed = 1;
            if (!n->in[i]->grad_fn) { /* a leaf or a constant: drawn in its last reader's cluster */
                in->k = n->in[i]->name && n->in[i]->requires_grad ? K_PARAM : K_CONST;
                if (in->k == K_CONST) in->group = n->group;
            }
        }
    }
    if (root && !root->grad_fn) { /* a graph of one leaf */
        entry *e = lookup(&tb, root);
        e->k = root->name && root->requires_grad ? K_PARAM : K_CONST;
        e->needed = 1;
    }
    fprintf(f, "digraph ag {\n  rankdir=LR;\n  newrank=true;\n");
    fprintf(f, "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#555555\", arrowsize=0.6];\n");
    if (o->title) {
        fputs("  labelloc=t;\n  fontname=\"Helvetica\";\n  label=\"", f);
        put_escaped(f, o->title);
        fputs("\";\n", f);
    }
    /* clusters, in group order; then everything outside any group */
    int groups = o->clusters ? ag__groups(t) : 0;
    for (int g = 0; g <= groups; g++) {
        int open = 0;
        for (size_t i = 0; i < tb.cap; i++) {
            entry *e = &tb.e[i];
            if (!e->t || !e->needed || (o->clusters ? e->group : 0) != g) continue;
            if (g && !open) {
                fprintf(f, "  subgraph cluster_%d {\n    label=\"", g);
                put_escaped(f, ag__group_label(t, g));
                fprintf(f, "\";\n    style=\"rounded\";\n    color=\"#999999\";\n    fontname=\"Helvetica\";\n");
                open = 1;
            }
            write_node(f, e, o, g ? 4 : 2);
        }
        if (open) fputs("  }\n", f);
    }
    for (int k = kept - 1; k >= 0; k--) { /* edges in the order the ops ran */
        const ag_node *n = order[k];
        int to = lookup(&tb, n->out)->id;
        for (int i = 0; i < n->n_in; i++) fprintf(f, "  n%d -> n%d;\n", lookup(&tb, n->in[i])->id, to);
    }
    fputs("}\n", f);
    ag__free(tb.e);
    ag__free(order);
    if (ferror(f)) {
        ag_tape_fail(t, AG_EIO, "dot: writing the graph failed");
        return AG_EIO;
    }
    return AG_OK;
}
