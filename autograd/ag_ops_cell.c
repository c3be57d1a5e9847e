/* ag_ops_cell.c -- fused recurrent cells: one GRU step and one LSTM step from each
 * gate's input and hidden projections (biases included in them), all (N, H).
 *
 * Each does in one pass what about ten elementwise ops do when composed (add, sigmoid,
 * tanh, mul, sub): one output instead of ten, one gradient buffer instead of ten, and
 * the gates kept with the node for the backward pass, which recomputes nothing.
 *
 * The forward pass is bit for bit that composition (written in ag.h beside each op):
 * the same float operations in the same order, the same vector sigmoid and tanh
 * (ag__vsigmoid, ag__vtanh: lane by lane, so a value does not depend on where it sits
 * in the array) over the same pre-activations. Every product and every sum is its own
 * statement, rounded on its own as the separate ops round it: C contracts a * b + c
 * into one FMA only within one expression (and GCC not at all in ISO C mode).
 *
 * When no node is recorded (inference, or no input needs a gradient) the gates live
 * on the stack, CHUNK elements at a time, and the tape holds only the output. The
 * backward passes go CHUNK elements at a time too: first every term into arrays of
 * their own, then one loop per input that wants a gradient, so that each loop is a
 * plain vector loop. */
#include <stdio.h>

#include "ag_internal.h"

#define CHUNK 256 /* elements per pass; a multiple of every vector width */

/* "gi[1]", "gh[0]" or the state's name, for input k of gi[0..G-1], gh[0..G-1], state */
static const char *input_name(int k, int G, const char *state, char *buf, size_t n)
{
    if (k < 2 * G) snprintf(buf, n, "%s[%d]", k < G ? "gi" : "gh", k % G);
    else snprintf(buf, n, "%s", state);
    return buf;
}

/* Checks the inputs of a cell with G gates and gathers them in node order: in[k] =
 * gi[k], in[G + k] = gh[k], in[2G] = s (the state, named `state`). 1 when all exist,
 * are current on t and are (N, H) like s; otherwise 0 with the error set, naming op
 * and the tensor (quietly when the tape already holds an error). */
static int cell_inputs(ag_tape *t, const ag_op *op, const char *name, ag_tensor *const *gi, ag_tensor *const *gh,
                       ag_tensor *s, const char *state, int G, ag_tensor **in)
{
    char a[16], sa[64], ss[64];
    if (!gi || !gh) {
        ag_tape_fail(t, AG_EARG, "%s: %s is NULL (need %s[0..%d])", name, gi ? "gh" : "gi", gi ? "gh" : "gi", G - 1);
        return 0;
    }
    for (int k = 0; k < G; k++) {
        in[k] = gi[k];
        in[G + k] = gh[k];
    }
    in[2 * G] = s;
    for (int k = 0; k <= 2 * G; k++)
        if (!in[k]) {
            ag_tape_fail(t, AG_EARG, "%s: %s is NULL", name, input_name(k, G, state, a, sizeof a));
            return 0;
        }
    if (!ag_op_inputs(t, op, in, 2 * G + 1)) return 0;
    if (s->rank != 2) {
        ag_tape_fail(t, AG_ESHAPE, "%s: %s is %s but must be (N, H)", name, state, ag_shape_str(s, ss, sizeof ss));
        return 0;
    }
    for (int k = 0; k < 2 * G; k++)
        if (!ag_same_shape(in[k], s)) {
            ag_tape_fail(t, AG_ESHAPE, "%s: %s is %s but %s is %s (all must be (N, H))", name,
                         input_name(k, G, state, a, sizeof a), ag_shape_str(in[k], sa, sizeof sa), state,
                         ag_shape_str(s, ss, sizeof ss));
            return 0;
        }
    return 1;
}

/* d[k0 .. k0 + m) += v[0 .. m), when there is a d (an input that wants a gradient) */
static void add_to(ag_float *d, int k0, const ag_float *v, int m)
{
    for (int k = 0; d && k < m; k++) d[k0 + k] += v[k];
}

/* n values for a node to keep, or NULL (AG_ENOMEM set) */
static ag_float *keep(ag_tape *t, int n)
{
    return ag__arena(t, (size_t)n * sizeof(ag_float));
}

/* ---- GRU: gi[0..2], gh[0..2] (reset, update, new), h: (N, H) -> h' (N, H) ---- */

static ag_status gru_backward(ag_tape *t, const ag_node *nd);
static const ag_op gru_op = {"gru_cell", gru_backward};

typedef struct {
    ag_float *r, *z, *n; /* (N, H) each: the gates and the candidate state */
} gru_saved;

/* m elements: r = sigmoid(gi0 + gh0), z = sigmoid(gi1 + gh1),
 * n = tanh(gi2 + r gh2), out = n + z (h - n) */
static void gru_forward(int m, const ag_float *const *gi, const ag_float *const *gh, const ag_float *h, ag_float *r,
                        ag_float *z, ag_float *n, ag_float *out)
{
    for (int k = 0; k < m; k++) r[k] = gi[0][k] + gh[0][k];
    ag__vsigmoid(m, r, r);
    for (int k = 0; k < m; k++) z[k] = gi[1][k] + gh[1][k];
    ag__vsigmoid(m, z, z);
    for (int k = 0; k < m; k++) {
        ag_float rh = r[k] * gh[2][k];
        n[k] = gi[2][k] + rh;
    }
    ag__vtanh(m, n, n);
    for (int k = 0; k < m; k++) {
        ag_float d = h[k] - n[k];
        ag_float zd = z[k] * d;
        out[k] = n[k] + zd;
    }
}

ag_tensor *ag_gru_cell(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *h)
{
    ag_tensor *in[7];
    if (!cell_inputs(t, &gru_op, "gru_cell", gi, gh, h, "h", 3, in)) return NULL;
    ag_tensor *out = ag_op_output(t, &gru_op, 2, h->shape);
    if (!out) return NULL;
    int size = out->size;
    /* recorded first, so that the forward pass writes the gates straight into the node */
    ag_node *nd = ag_op_record(t, &gru_op, out, in, 7, sizeof(gru_saved));
    gru_saved *s = nd ? nd->saved : NULL;
    if (s && (!(s->r = keep(t, size)) || !(s->z = keep(t, size)) || !(s->n = keep(t, size)))) return NULL;
    if (ag_tape_status(t) != AG_OK) return NULL;
    _Alignas(64) ag_float rb[CHUNK], zb[CHUNK], nb[CHUNK];
    for (int k0 = 0; k0 < size; k0 += CHUNK) {
        int m = size - k0 < CHUNK ? size - k0 : CHUNK;
        const ag_float *a[3] = {in[0]->data + k0, in[1]->data + k0, in[2]->data + k0};
        const ag_float *b[3] = {in[3]->data + k0, in[4]->data + k0, in[5]->data + k0};
        gru_forward(m, a, b, h->data + k0, s ? s->r + k0 : rb, s ? s->z + k0 : zb, s ? s->n + k0 : nb,
                    out->data + k0);
    }
    return out;
}

/* h' = n + z (h - n), n = tanh(a_n), a_n = gi2 + r gh2, r = sigmoid(a_r), a_r = gi0 + gh0,
 * z = sigmoid(a_z), a_z = gi1 + gh1; g = dh'. The terms are rounded as the composition
 * rounds them (dn = g - g z, not g (1 - z)):
 *   dh    += g z
 *   dn     = g - g z          da_n = dn (1 - n^2)    dgi2 += da_n   dgh2 += da_n r
 *   dz     = g (h - n)        da_z = dz z (1 - z)    dgi1 += da_z   dgh1 += da_z
 *   dr     = da_n gh2         da_r = dr r (1 - r)    dgi0 += da_r   dgh0 += da_r */
static ag_status gru_backward(ag_tape *t, const ag_node *nd)
{
    const gru_saved *s = nd->saved;
    ag_float *d[7]; /* dgi0, dgi1, dgi2, dgh0, dgh1, dgh2, dh; NULL: no gradient wanted */
    for (int k = 0; k < 7; k++) d[k] = ag_grad(t, nd->in[k]);
    if (ag_tape_status(t) != AG_OK) return ag_tape_status(t);
    _Alignas(64) ag_float gz[CHUNK], dan[CHUNK], danr[CHUNK], daz[CHUNK], dar[CHUNK];
    for (int k0 = 0, size = nd->out->size; k0 < size; k0 += CHUNK) {
        int m = size - k0 < CHUNK ? size - k0 : CHUNK;
        const ag_float *g = nd->out->grad + k0, *gh2 = nd->in[5]->data + k0, *h = nd->in[6]->data + k0;
        const ag_float *r = s->r + k0, *z = s->z + k0, *n = s->n + k0;
        for (int k = 0; k < m; k++) { /* into arrays of its own, then added: one loop of each kind */
            gz[k] = g[k] * z[k];
            ag_float dn = g[k] - gz[k];
            dan[k] = dn * (1 - n[k] * n[k]);
            danr[k] = dan[k] * r[k];
            ag_float hn = h[k] - n[k];
            ag_float dz = g[k] * hn;
            daz[k] = dz * z[k] * (1 - z[k]);
            ag_float dr = dan[k] * gh2[k];
            dar[k] = dr * r[k] * (1 - r[k]);
        }
        add_to(d[0], k0, dar, m);
        add_to(d[1], k0, daz, m);
        add_to(d[2], k0, dan, m);
        add_to(d[3], k0, dar, m);
        add_to(d[4], k0, daz, m);
        add_to(d[5], k0, danr, m);
        add_to(d[6], k0, gz, m);
    }
    return AG_OK;
}

/* ---- LSTM: gi[0..3], gh[0..3] (input, forget, cell, output), c: (N, H)
 *      -> h' (N, H), and c' (N, H) through *c_out ----
 * Two nodes, one per output, so that c' is a tape tensor like any other (the next
 * step's c, with its own gradient): "lstm_cell_c" makes c' = f c + i g from gi[0..2],
 * gh[0..2] and c; "lstm_cell" makes h' = o tanh(c') from gi[3], gh[3] and c'. */

static ag_status lstm_c_backward(ag_tape *t, const ag_node *nd);
static ag_status lstm_h_backward(ag_tape *t, const ag_node *nd);
static const ag_op lstm_c_op = {"lstm_cell_c", lstm_c_backward};
static const ag_op lstm_h_op = {"lstm_cell", lstm_h_backward};

typedef struct {
    ag_float *i, *f, *g; /* (N, H) each: input and forget gates, the cell's candidate */
} lstm_c_saved;

typedef struct {
    ag_float *o, *tc; /* (N, H) each: the output gate and tanh(c') */
} lstm_h_saved;

/* m elements: the gates, c' = f c + i g, tc = tanh(c'), h' = o tc */
static void lstm_forward(int m, const ag_float *const *gi, const ag_float *const *gh, const ag_float *c,
                         ag_float *const *gate, ag_float *tc, ag_float *c2, ag_float *h2)
{
    ag_float *i = gate[0], *f = gate[1], *g = gate[2], *o = gate[3];
    for (int k = 0; k < m; k++) i[k] = gi[0][k] + gh[0][k];
    ag__vsigmoid(m, i, i);
    for (int k = 0; k < m; k++) f[k] = gi[1][k] + gh[1][k];
    ag__vsigmoid(m, f, f);
    for (int k = 0; k < m; k++) g[k] = gi[2][k] + gh[2][k];
    ag__vtanh(m, g, g);
    for (int k = 0; k < m; k++) o[k] = gi[3][k] + gh[3][k];
    ag__vsigmoid(m, o, o);
    for (int k = 0; k < m; k++) {
        ag_float fc = f[k] * c[k];
        ag_float ig = i[k] * g[k];
        c2[k] = fc + ig;
    }
    ag__vtanh(m, c2, tc);
    for (int k = 0; k < m; k++) h2[k] = o[k] * tc[k];
}

ag_tensor *ag_lstm_cell(ag_tape *t, ag_tensor *const *gi, ag_tensor *const *gh, ag_tensor *c, ag_tensor **c_out)
{
    ag_tensor *in[9]; /* gi0..3, gh0..3, c */
    if (c_out) *c_out = NULL;
    if (!c_out) return ag_tape_fail(t, AG_EARG, "lstm_cell: c_out is NULL (c' is returned through it)");
    if (!cell_inputs(t, &lstm_h_op, "lstm_cell", gi, gh, c, "c", 4, in)) return NULL;
    ag_tensor *c2 = ag_op_output(t, &lstm_c_op, 2, c->shape);
    ag_tensor *h2 = c2 ? ag_op_output(t, &lstm_h_op, 2, c->shape) : NULL;
    if (!h2) return NULL;
    int size = c2->size;
    /* recorded first, so that the forward pass writes the gates straight into the nodes */
    ag_node *nc = ag_op_record(t, &lstm_c_op, c2, (ag_tensor *[]){in[0], in[1], in[2], in[4], in[5], in[6], c}, 7,
                               sizeof(lstm_c_saved));
    ag_node *nh = ag_op_record(t, &lstm_h_op, h2, (ag_tensor *[]){in[3], in[7], c2}, 3, sizeof(lstm_h_saved));
    lstm_c_saved *sc = nc ? nc->saved : NULL;
    lstm_h_saved *sh = nh ? nh->saved : NULL;
    if (sc && (!(sc->i = keep(t, size)) || !(sc->f = keep(t, size)) || !(sc->g = keep(t, size)))) return NULL;
    if (sh && (!(sh->o = keep(t, size)) || !(sh->tc = keep(t, size)))) return NULL;
    if (ag_tape_status(t) != AG_OK) return NULL;
    _Alignas(64) ag_float ib[CHUNK], fb[CHUNK], gb[CHUNK], ob[CHUNK], tb[CHUNK];
    for (int k0 = 0; k0 < size; k0 += CHUNK) {
        int m = size - k0 < CHUNK ? size - k0 : CHUNK;
        const ag_float *a[4] = {in[0]->data + k0, in[1]->data + k0, in[2]->data + k0, in[3]->data + k0};
        const ag_float *b[4] = {in[4]->data + k0, in[5]->data + k0, in[6]->data + k0, in[7]->data + k0};
        ag_float *gate[4] = {sc ? sc->i + k0 : ib, sc ? sc->f + k0 : fb, sc ? sc->g + k0 : gb, sh ? sh->o + k0 : ob};
        lstm_forward(m, a, b, c->data + k0, gate, sh ? sh->tc + k0 : tb, c2->data + k0, h2->data + k0);
    }
    *c_out = c2;
    return h2;
}

/* h' = o tc, tc = tanh(c'), o = sigmoid(a_o), a_o = gi3 + gh3; g = dh':
 *   dc'  += g o (1 - tc^2)
 *   da_o  = g tc o (1 - o)      dgi3 += da_o   dgh3 += da_o */
static ag_status lstm_h_backward(ag_tape *t, const ag_node *nd)
{
    const lstm_h_saved *s = nd->saved;
    ag_float *dgi3 = ag_grad(t, nd->in[0]), *dgh3 = ag_grad(t, nd->in[1]), *dc2 = ag_grad(t, nd->in[2]);
    if (ag_tape_status(t) != AG_OK) return ag_tape_status(t);
    _Alignas(64) ag_float dac[CHUNK], dao[CHUNK];
    for (int k0 = 0, size = nd->out->size; k0 < size; k0 += CHUNK) {
        int m = size - k0 < CHUNK ? size - k0 : CHUNK;
        const ag_float *g = nd->out->grad + k0, *o = s->o + k0, *tc = s->tc + k0;
        for (int k = 0; k < m; k++) {
            ag_float dtc = g[k] * o[k];
            ag_float dout = g[k] * tc[k];
            dac[k] = dtc * (1 - tc[k] * tc[k]);
            dao[k] = dout * o[k] * (1 - o[k]);
        }
        add_to(dc2, k0, dac, m);
        add_to(dgi3, k0, dao, m);
        add_to(dgh3, k0, dao, m);
    }
    return AG_OK;
}

/* c' = f c + i g, i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), a_k = gi_k + gh_k;
 * G = dc' (from h' and from wherever else c' went):
 *   dc  += G f
 *   da_i = G g i (1 - i)    da_f = G c f (1 - f)    da_g = G i (1 - g^2)
 *   dgi_k += da_k           dgh_k += da_k */
static ag_status lstm_c_backward(ag_tape *t, const ag_node *nd)
{
    const lstm_c_saved *s = nd->saved;
    ag_float *d[7]; /* dgi0, dgi1, dgi2, dgh0, dgh1, dgh2, dc; NULL: no gradient wanted */
    for (int k = 0; k < 7; k++) d[k] = ag_grad(t, nd->in[k]);
    if (ag_tape_status(t) != AG_OK) return ag_tape_status(t);
    _Alignas(64) ag_float dai[CHUNK], daf[CHUNK], dag[CHUNK], dc[CHUNK];
    for (int k0 = 0, size = nd->out->size; k0 < size; k0 += CHUNK) {
        int m = size - k0 < CHUNK ? size - k0 : CHUNK;
        const ag_float *G = nd->out->grad + k0, *c = nd->in[6]->data + k0;
        const ag_float *i = s->i + k0, *f = s->f + k0, *g = s->g + k0;
        for (int k = 0; k < m; k++) { /* into arrays of its own, then added: one loop of each kind */
            ag_float di = G[k] * g[k];
            ag_float dg = G[k] * i[k];
            ag_float df = G[k] * c[k];
            dai[k] = di * i[k] * (1 - i[k]);
            daf[k] = df * f[k] * (1 - f[k]);
            dag[k] = dg * (1 - g[k] * g[k]);
            dc[k] = G[k] * f[k];
        }
        add_to(d[0], k0, dai, m);
        add_to(d[1], k0, daf, m);
        add_to(d[2], k0, dag, m);
        add_to(d[3], k0, dai, m);
        add_to(d[4], k0, daf, m);
        add_to(d[5], k0, dag, m);
        add_to(d[6], k0, dc, m);
    }
    return AG_OK;
}
