/* nn_rnn.c -- the recurrent modules: Elman RNN, GRU and LSTM in torch.nn's layout, and
 * the PyTorch tutorial's RNN (two Linears over cat(x, h)), all over padded batches that
 * skip the padding (nn__pack); and the mask helpers for padded batches. Built from ag_
 * ops only. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

const char *nn_rnn_kind_name(nn_rnn_kind k)
{
    switch (k) {
    case NN_ELMAN: return "elman";
    case NN_GRU: return "gru";
    case NN_LSTM: return "lstm";
    }
    return "?";
}

nn_status nn_rnn_init(nn_rnn *m, nn_params *ps, nn_rnn_kind kind, const char *prefix, int input, int hidden,
                      ag_rng *rng)
{
    return nn_rnn_init_layer(m, ps, kind, prefix, 0, input, hidden, rng);
}

nn_status nn_rnn_init_layer(nn_rnn *m, nn_params *ps, nn_rnn_kind kind, const char *prefix, int layer, int input,
                            int hidden, ag_rng *rng)
{
    static const int gates[] = {1, 3, 4};
    static const char *const stem[4] = {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"};
    if (input < 1 || hidden < 1 || (int)kind < 0 || kind > NN_LSTM || layer < 0)
        return nn__params_fail(ps, NN_EARG, "rnn '%s' layer %d: kind %d, input = %d, hidden = %d (need kind 0..2, "
                               "sizes >= 1, layer >= 0)", prefix ? prefix : "", layer, (int)kind, input, hidden);
    if (hidden > 0x7fffffff / gates[kind])
        return nn__params_fail(ps, NN_ESHAPE, "rnn '%s' layer %d: %d gates of hidden = %d overflow an int",
                               prefix ? prefix : "", layer, gates[kind], hidden);
    int GH = gates[kind] * hidden;
    int shapes[4][2] = {{GH, input}, {GH, hidden}, {GH, 0}, {GH, 0}};
    ag_tensor *p[4] = {NULL};
    int n0 = ps->n;
    nn_status s = NN_OK;
    for (int i = 0; i < 4 && s == NN_OK; i++) {
        char name[32]; /* "weight_ih_l" and up to 10 digits */
        snprintf(name, sizeof name, "%s%d", stem[i], layer);
        s = nn__params_add3(ps, prefix, "", name, i < 2 ? 2 : 1, shapes[i], &p[i]);
    }
    if (s != NN_OK) { /* all four or none; the registry's error stays */
        nn_params_truncate(ps, n0);
        return s;
    }
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->input = input;
    m->hidden = hidden;
    m->gates = gates[kind];
    m->weight_ih = p[0];
    m->weight_hh = p[1];
    m->bias_ih = p[2];
    m->bias_hh = p[3];
    double k = 1 / sqrt((double)hidden); /* torch.nn.RNN/GRU/LSTM: U(-1/sqrt(H), 1/sqrt(H)) */
    for (int i = 0; i < 4; i++) ag_fill_uniform(p[i], rng, -k, k);
    return NN_OK;
}

/* ---- masks ---- */

static ag_tensor *mask(ag_tape *t, const int *lengths, int N, int step, int last)
{
    ag_tensor *m = ag_zeros(t, 2, (int[]){N, 1});
    if (!m) return NULL;
    for (int n = 0; n < N; n++) {
        int len = lengths ? lengths[n] : step + 1;
        m->data[n] = (ag_float)(last ? step == len - 1 : step < len);
    }
    return m;
}

ag_tensor *nn_mask_live(ag_tape *t, const int *lengths, int N, int step)
{
    return mask(t, lengths, N, step, 0);
}

ag_tensor *nn_mask_last(ag_tape *t, const int *lengths, int N, int step)
{
    return mask(t, lengths, N, step, 1);
}

ag_tensor *nn_where(ag_tape *t, ag_tensor *m, ag_tensor *a, ag_tensor *b)
{
    /* m * a + (1 - m) * b: with m exactly 0 or 1, each term is exactly a value or 0 */
    ag_tensor *inv = m ? ag_sub(t, ag_ones(t, m->rank, m->shape), m) : NULL;
    return ag_add(t, ag_mul(t, m, a), ag_mul(t, inv, b));
}

ag_tensor *nn_dropout(ag_tape *t, ag_tensor *x, double p, ag_rng *rng)
{
    if (!x) return NULL;
    if (!(p >= 0 && p < 1)) return ag_tape_fail(t, AG_EARG, "dropout: p = %g is outside [0, 1)", p);
    if (p == 0) return x;
    ag_tensor *mask = ag_zeros(t, x->rank, x->shape);
    if (!mask) return NULL;
    ag_float keep = (ag_float)(1 / (1 - p));
    ag_rng_mask(rng, p, keep, mask->data, mask->size); /* data[i]: 0 if uniform draw i < p, else keep */
    return ag_mul(t, x, mask);
}

/* ---- one step of each cell ----
 * gi: (N, G*H) = W_ih x_t + b_ih, precomputed for all steps; h, c: (N, H). */

int nn__pack(ag_tape *t, const int *lengths, int T, int N, nn__packing *pk)
{
    pk->order = ag_tape_alloc(t, (size_t)N * sizeof *pk->order);
    pk->back = ag_tape_alloc(t, (size_t)N * sizeof *pk->back);
    pk->live = ag_tape_alloc(t, (size_t)(T + 1) * sizeof *pk->live);
    pk->off = ag_tape_alloc(t, (size_t)(T + 1) * sizeof *pk->off);
    pk->rows = ag_tape_alloc(t, (size_t)T * N * sizeof *pk->rows);
    if (!pk->order || !pk->back || !pk->live || !pk->off || !pk->rows) return -1;
    int k = 0;
    for (int len = T; len >= 1; len--) /* counting sort, longest first, stable */
        for (int n = 0; n < N; n++)
            if (lengths[n] == len) pk->back[n] = k, pk->order[k++] = n;
    pk->off[0] = 0;
    for (int s = 0; s <= T; s++) {
        int n = 0;
        while (n < N && lengths[pk->order[n]] > s) n++;
        pk->live[s] = n;
        if (s < T) {
            for (int j = 0; j < n; j++) pk->rows[pk->off[s] + j] = s * N + pk->order[j];
            pk->off[s + 1] = pk->off[s] + n;
        }
    }
    return 0;
}

/* Gate k's part of a weight (G*H, I) or bias (G*H): its rows, a view (no copy). */
static ag_tensor *rows_of_gate(ag_tape *t, const nn_rnn *m, ag_tensor *p, int k)
{
    return m->gates == 1 ? p : ag_slice(t, p, 0, k * m->hidden, (k + 1) * m->hidden);
}

/* The input projection of rows X (R, I), one (R, H) tensor per gate: gi[k] = X W_k^T +
 * b_k with W_k, b_k gate k's rows of weight_ih, bias_ih. Kept apart per gate so that a
 * step's rows of each gate are a contiguous block (a view), not its rows of all gates
 * and then each gate's columns. 0, or -1 (the tape's error is set). */
static int project(ag_tape *t, const nn_rnn *m, ag_tensor *X, ag_tensor **gi)
{
    for (int k = 0; k < m->gates; k++)
        if (!(gi[k] = ag_linear(t, X, rows_of_gate(t, m, m->weight_ih, k), rows_of_gate(t, m, m->bias_ih, k))))
            return -1;
    return 0;
}

/* One step from gi[k] (n, H) per gate and h (n, H) -> h' (n, H); *c is an LSTM's cell.
 * The hidden projection is one product per gate too, gh[k] = h W_hh,k^T + b_hh,k (n, H):
 * each element the same sum as in one product over all gates, without copying each
 * gate's columns out of it. */
static ag_tensor *cell(ag_tape *t, const nn_rnn *m, ag_tensor *const *gi, ag_tensor *h, ag_tensor **c)
{
    ag_tensor *gh[4];
    for (int k = 0; k < m->gates; k++)
        gh[k] = ag_linear(t, h, rows_of_gate(t, m, m->weight_hh, k), rows_of_gate(t, m, m->bias_hh, k));
    switch (m->kind) {
    case NN_ELMAN:
        return ag_tanh(t, ag_add(t, gi[0], gh[0]));
    case NN_GRU: /* ag.h: r, z from gates 0, 1; n = tanh(gi2 + r gh2); (1 - z) n + z h */
        return ag_gru_cell(t, gi, gh, h);
    case NN_LSTM: /* i, f, g, o; c' = f c + i g; o tanh(c') */
        return ag_lstm_cell(t, gi, gh, *c, c);
    }
    return NULL;
}

/* A one-hot input (ag_one_hot's mark over all its columns) makes the input projection
 * a lookup, which costs the same one step at a time as all at once; done per step, its
 * gradients are released step by step (ag_tape_release_grads) instead of being held for
 * every step at once. Any other input is projected once over all steps (one large
 * product). */
static int lookup(const nn_rnn *m, const ag_tensor *X)
{
    return X && X->hot && X->hot_col == 0 && X->hot_cols == m->input;
}

/* Rows [lo, hi) of each gate's projection: a view of the projection of all rows X, or
 * with a lookup, the projection of those rows of X */
static int step_rows(ag_tape *t, const nn_rnn *m, ag_tensor *X, ag_tensor *const *gi, int lo, int hi,
                     ag_tensor **out)
{
    if (lookup(m, X)) return project(t, m, ag_slice(t, X, 0, lo, hi), out);
    for (int k = 0; k < m->gates; k++) out[k] = ag_slice(t, gi[k], 0, lo, hi);
    return 0;
}

/* A padded batch without wasted work (see nn__packing): the input projection runs once
 * over the live (step, sequence) pairs only, each step on the sequences still running,
 * and each sequence's final state is taken at its own last step. The results are put
 * back in input order. */
static ag_tensor *rnn_forward_packed(ag_tape *t, const nn_rnn *m, ag_tensor *x, const int *lengths, ag_tensor *h0,
                                     ag_tensor **all)
{
    const char *name = nn_rnn_kind_name(m->kind);
    int T = x->shape[0], N = x->shape[1], H = m->hidden;
    nn__packing pk;
    ag_tensor **ends = ag_tape_alloc(t, (size_t)T * sizeof *ends); /* sorted rows [live[s+1], live[s]) */
    ag_tensor **parts = ag_tape_alloc(t, (size_t)(T + 1) * sizeof *parts);
    ag_tensor **steps = all ? ag_tape_alloc(t, (size_t)T * sizeof *steps) : NULL;
    if (!ends || !parts || (all && !steps) || nn__pack(t, lengths, T, N, &pk) != 0) return NULL;
    ag_tensor *flat = ag_reshape(t, x, 2, (int[]){T * N, m->input}), *gi[4], *gs[4];
    ag_tensor *X = ag_index_select(t, flat, 0, pk.rows, pk.off[T]); /* (P, I): the live rows, step by step */
    if (!lookup(m, X) && project(t, m, X, gi) != 0) return NULL; /* (P, H) each */
    ag_tensor *h = h0 ? ag_index_select(t, h0, 0, pk.order, N) : ag_zeros(t, 2, (int[]){N, H}); /* sorted */
    ag_tensor *c = m->kind == NN_LSTM ? ag_zeros(t, 2, (int[]){N, H}) : NULL;
    if (!h) return NULL;
    for (int s = 0; s < T; s++) {
        char label[32];
        snprintf(label, sizeof label, "%s step %d", name, s);
        ag_tape_group(t, label);
        int n = pk.live[s], ending = n - pk.live[s + 1];
        if (!h) return NULL;
        if (h->shape[0] > n) {
            h = ag_slice(t, h, 0, 0, n);
            if (c) c = ag_slice(t, c, 0, 0, n);
        }
        ag_tensor *c_new = c;
        if (step_rows(t, m, X, gi, pk.off[s], pk.off[s] + n, gs) != 0) return NULL;
        h = cell(t, m, gs, h, &c_new); /* (n, H) */
        c = c_new;
        ends[s] = ending == 0 ? NULL : ending == n ? h : ag_slice(t, h, 0, n - ending, n);
        if (steps) { /* all N sorted rows: the running ones, then the finished ones' last states */
            int k = 0;
            parts[k++] = h;
            for (int r = s - 1; r >= 0; r--)
                if (ends[r]) parts[k++] = ends[r];
            steps[s] = ag_reshape(t, k == 1 ? h : ag_cat(t, parts, k, 0), 3, (int[]){1, N, H});
        }
    }
    ag_tape_group(t, NULL);
    int k = 0;
    for (int s = T - 1; s >= 0; s--)
        if (ends[s]) parts[k++] = ends[s];
    if (all) *all = ag_index_select(t, T == 1 ? steps[0] : ag_cat(t, steps, T, 0), 1, pk.back, N);
    return ag_index_select(t, k == 1 ? parts[0] : ag_cat(t, parts, k, 0), 0, pk.back, N); /* (N, H) */
}

ag_tensor *nn_rnn_forward(ag_tape *t, const nn_rnn *m, ag_tensor *x, const int *lengths, ag_tensor *h0,
                          ag_tensor **all)
{
    const char *name = nn_rnn_kind_name(m->kind);
    char buf[64], buf2[64];
    if (all) *all = NULL;
    if (!x) return ag_tape_fail(t, AG_EARG, "%s: input is NULL", name);
    if (x->rank != 3 || x->shape[2] != m->input)
        return ag_tape_fail(t, AG_ESHAPE, "%s: input is %s but must be (T, N, %d)", name,
                            ag_shape_str(x, buf, sizeof buf), m->input);
    int T = x->shape[0], N = x->shape[1], H = m->hidden;
    if (h0 && (h0->rank != 2 || h0->shape[0] != N || h0->shape[1] != H))
        return ag_tape_fail(t, AG_ESHAPE, "%s: h0 is %s but the input %s needs (%d, %d)", name,
                            ag_shape_str(h0, buf, sizeof buf), ag_shape_str(x, buf2, sizeof buf2), N, H);
    int padded = 0;
    for (int n = 0; lengths && n < N; n++) {
        if (lengths[n] < 1 || lengths[n] > T)
            return ag_tape_fail(t, AG_EINDEX, "%s: length %d of sequence %d is outside 1..%d", name, lengths[n], n, T);
        padded |= lengths[n] < T;
    }
    if (padded) return rnn_forward_packed(t, m, x, lengths, h0, all);
    /* The input projection of every step at once: (T*N, I) -> (T*N, H) per gate; step s
     * is rows [s*N, (s+1)*N). */
    ag_tensor *gi[4], *gs[4], *X = ag_reshape(t, x, 2, (int[]){T * N, m->input});
    if (!lookup(m, X) && project(t, m, X, gi) != 0) return NULL;
    ag_tensor *h = h0 ? h0 : ag_zeros(t, 2, (int[]){N, H});
    ag_tensor *c = m->kind == NN_LSTM ? ag_zeros(t, 2, (int[]){N, H}) : NULL;
    ag_tensor **steps = all ? ag_tape_alloc(t, (size_t)T * sizeof *steps) : NULL;
    if (all && !steps) return NULL;
    for (int s = 0; s < T; s++) {
        char label[32];
        snprintf(label, sizeof label, "%s step %d", name, s);
        ag_tape_group(t, label); /* graph dumps draw each step as a cluster */
        ag_tensor *c_new = c;
        if (step_rows(t, m, X, gi, s * N, (s + 1) * N, gs) != 0) return NULL;
        ag_tensor *h_new = cell(t, m, gs, h, &c_new);
        h = h_new;
        c = c_new;
        if (steps) steps[s] = ag_reshape(t, h, 3, (int[]){1, N, H});
    }
    ag_tape_group(t, NULL);
    if (all) *all = ag_cat(t, steps, T, 0);
    return h;
}

/* ---- the tutorial's RNN ---- */

nn_status nn_tutorial_rnn_init(nn_tutorial_rnn *m, nn_params *ps, const char *prefix, int input, int hidden,
                               int output, ag_rng *rng)
{
    if (input < 1 || hidden < 1 || output < 1)
        return nn__params_fail(ps, NN_EARG, "tutorial_rnn '%s': input = %d, hidden = %d and output = %d must be >= 1",
                               prefix ? prefix : "", input, hidden, output);
    int n0 = ps->n;
    nn_status s = nn__linear_init(&m->i2h, ps, prefix, "i2h.", input + hidden, hidden, 1, rng);
    if (s == NN_OK) s = nn__linear_init(&m->i2o, ps, prefix, "i2o.", input + hidden, output, 1, rng);
    if (s != NN_OK) {
        nn_params_truncate(ps, n0);
        return s;
    }
    m->input = input;
    m->hidden = hidden;
    m->output = output;
    return NN_OK;
}

ag_tensor *nn_tutorial_rnn_init_hidden(ag_tape *t, const nn_tutorial_rnn *m, int N)
{
    return ag_zeros(t, 2, (int[]){N, m->hidden});
}

ag_tensor *nn_tutorial_rnn_step(ag_tape *t, const nn_tutorial_rnn *m, ag_tensor *x, ag_tensor *h,
                                ag_tensor **h_next, int out_needed)
{
    ag_tensor *xs[2] = {x, h};
    ag_tensor *combined = ag_cat(t, xs, 2, 1);              /* (N, I + H) */
    *h_next = nn_linear_forward(t, &m->i2h, combined);       /* (N, H) */
    if (!out_needed) return NULL;
    return ag_log_softmax(t, nn_linear_forward(t, &m->i2o, combined), 1); /* (N, O) */
}

/* A padded batch without wasted work. The sequences are put in order of decreasing
 * length (ties in input order), so at step s the ones still running are the first
 * live[s] rows: the step runs on those rows only, the output layer only on the rows
 * whose sequence ends at s, and the outputs go back to input order at the end. Every
 * row's values are those of its sequence run alone (the kernels give a row the same
 * result whatever rows surround it). */
static ag_tensor *tutorial_forward_packed(ag_tape *t, const nn_tutorial_rnn *m, ag_tensor *x, const int *lengths)
{
    int T = x->shape[0], N = x->shape[1];
    nn__packing pk;
    ag_tensor **pieces = ag_tape_alloc(t, (size_t)T * sizeof *pieces);
    if (!pieces || nn__pack(t, lengths, T, N, &pk) != 0) return NULL;
    ag_tensor *flat = ag_reshape(t, x, 2, (int[]){T * N, m->input}); /* (T*N, I) */
    ag_tensor *h = nn_tutorial_rnn_init_hidden(t, m, N);                 /* (live, H), sorted */
    int np = 0;
    for (int s = 0; s < T && h && flat; s++) {
        char label[32];
        snprintf(label, sizeof label, "step %d", s);
        ag_tape_group(t, label);
        int n = pk.live[s], ending = n - pk.live[s + 1];
        ag_tensor *xs[2] = {ag_index_select(t, flat, 0, pk.rows + pk.off[s], n), h->shape[0] > n ? ag_slice(t, h, 0, 0, n) : h};
        ag_tensor *combined = ag_cat(t, xs, 2, 1);                 /* (n, I + H) */
        h = nn_linear_forward(t, &m->i2h, combined);                /* (n, H) */
        if (ending > 0) /* rows [live[s+1], live[s]) end here: (ending, O) */
            pieces[np++] = ag_log_softmax(t, nn_linear_forward(t, &m->i2o, ag_slice(t, combined, 0, n - ending, n)), 1);
    }
    ag_tape_group(t, NULL);
    if (!h || !flat) return NULL;
    for (int i = 0; i < np / 2; i++) { /* latest step first: sorted rows 0, 1, ... */
        ag_tensor *tmp = pieces[i];
        pieces[i] = pieces[np - 1 - i];
        pieces[np - 1 - i] = tmp;
    }
    ag_tensor *sorted = np == 1 ? pieces[0] : ag_cat(t, pieces, np, 0); /* (N, O) */
    return ag_index_select(t, sorted, 0, pk.back, N);
}

ag_tensor *nn_tutorial_rnn_forward(ag_tape *t, const nn_tutorial_rnn *m, ag_tensor *x, const int *lengths)
{
    if (!x) return ag_tape_fail(t, AG_EARG, "tutorial_rnn: input is NULL");
    if (x->rank != 3 || x->shape[2] != m->input) {
        char buf[64];
        return ag_tape_fail(t, AG_ESHAPE, "tutorial_rnn: input is %s but must be (T, N, %d)",
                            ag_shape_str(x, buf, sizeof buf), m->input);
    }
    int T = x->shape[0], N = x->shape[1];
    for (int n = 0; lengths && n < N; n++)
        if (lengths[n] < 1 || lengths[n] > T)
            return ag_tape_fail(t, AG_EINDEX, "tutorial_rnn: length %d of sequence %d is outside 1..%d", lengths[n], n, T);
    if (lengths) return tutorial_forward_packed(t, m, x, lengths);
    /* every sequence ends at T - 1: only the last output matters */
    ag_tensor *h = nn_tutorial_rnn_init_hidden(t, m, N), *out = NULL;
    for (int s = 0; s < T; s++) {
        ag_tensor *h_new;
        char label[32];
        snprintf(label, sizeof label, "step %d", s);
        ag_tape_group(t, label); /* graph dumps draw each step as a cluster */
        ag_tensor *o = nn_tutorial_rnn_step(t, m, ag_select(t, x, 0, s), h, &h_new, s == T - 1);
        h = h_new;
        if (o) out = o;
    }
    ag_tape_group(t, NULL);
    return out;
}
