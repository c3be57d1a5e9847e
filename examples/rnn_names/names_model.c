/* names_model.c -- the four classifiers over padded batches of names. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "names_model.h"

static const char *const kind_names[] = {"seed", "elman", "gru", "lstm"};

const char *names_kind_name(names_kind k)
{
    return kind_names[k];
}

int names_kind_parse(const char *s, names_kind *k)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *k = (names_kind)i;
            return 0;
        }
    return -1;
}

int names_model_init(names_model *m, names_kind kind, int hidden, int layers, int flags, int n_classes,
                     const char (*classes)[NAMES_MAX_CLASS_NAME], ag_rng *rng)
{
    memset(m, 0, sizeof *m);
    if (hidden < 1 || hidden > 4096 || n_classes < 2 || n_classes > NAMES_MAX_CLASSES || layers < 1 ||
        layers > NAMES_MAX_LAYERS || (flags & ~(NAMES_BIDIRECTIONAL | NAMES_POOL_MEAN)) ||
        (kind == NAMES_SEED && (layers != 1 || flags)))
        return -1;
    m->bidirectional = (flags & NAMES_BIDIRECTIONAL) != 0;
    m->pool_mean = (flags & NAMES_POOL_MEAN) != 0;
    m->kind = kind;
    m->hidden = hidden;
    m->layers = layers;
    m->n_classes = n_classes;
    memcpy(m->classes, classes, (size_t)n_classes * sizeof *classes);
    nn_params_init(&m->ps);
    nn_status s;
    if (kind == NAMES_SEED) {
        s = nn_seed_rnn_init(&m->seed, &m->ps, "", NAMES_N_LETTERS, hidden, n_classes, rng);
    } else {
        static const nn_rnn_kind map[] = {NN_ELMAN, NN_ELMAN, NN_GRU, NN_LSTM};
        s = NN_OK;
        for (int l = 0; l < layers && s == NN_OK; l++)
            s = nn_rnn_init_layer(&m->rnn[l], &m->ps, map[kind], "rnn.", l, l ? hidden : NAMES_N_LETTERS, hidden, rng);
        for (int l = 0; l < layers && s == NN_OK && m->bidirectional; l++)
            s = nn_rnn_init_layer(&m->rev[l], &m->ps, map[kind], "rnn_reverse.", l, l ? hidden : NAMES_N_LETTERS,
                                  hidden, rng);
        if (s == NN_OK)
            s = nn_linear_init(&m->head, &m->ps, "head.", (1 + m->bidirectional) * (1 + m->pool_mean) * hidden,
                               n_classes, 1, rng);
    }
    if (s != NN_OK) {
        nn_params_free(&m->ps);
        return -1;
    }
    return 0;
}

void names_model_free(names_model *m)
{
    nn_params_free(&m->ps);
}

/* One-hot letters, time-major (T, N, 57), zero rows past each name's end; reversed:
 * each name read from its last letter to its first (still starting at step 0). */
static ag_tensor *letters(ag_tape *t, const names_item *const *items, int N, int T, int reversed)
{
    int *idx = ag_tape_alloc(t, (size_t)(T * N) * sizeof *idx);
    if (!idx) return NULL;
    for (int n = 0; n < N; n++) {
        int len = items[n]->len;
        for (int s = 0; s < T; s++)
            idx[s * N + n] = s < len ? names_letter_index(items[n]->text[reversed ? len - 1 - s : s]) : -1;
    }
    return ag_reshape(t, ag_one_hot(t, idx, T * N, NAMES_N_LETTERS), 3, (int[]){T, N, NAMES_N_LETTERS});
}

/* The mean over each name's letters of all (T, N, H), every step's state: steps past a
 * name's end are masked out. -> (N, H) */
static ag_tensor *mean_over_letters(ag_tape *t, ag_tensor *all, const int *lengths)
{
    if (!all) return NULL;
    int T = all->shape[0], N = all->shape[1];
    ag_float *mask = ag_tape_alloc(t, (size_t)T * N * sizeof *mask), *inv = ag_tape_alloc(t, (size_t)N * sizeof *inv);
    if (!mask || !inv) return NULL;
    for (int s = 0; s < T; s++)
        for (int n = 0; n < N; n++) mask[s * N + n] = (ag_float)(!lengths || s < lengths[n]);
    for (int n = 0; n < N; n++) inv[n] = (ag_float)(1.0 / (lengths ? lengths[n] : T));
    ag_tensor *sum = ag_sum_dim(t, ag_mul(t, all, ag_from_array(t, 3, (int[]){T, N, 1}, mask)), 0, 0); /* (N, H) */
    return ag_mul(t, sum, ag_from_array(t, 2, (int[]){N, 1}, inv));
}

/* A stack of layers over x; each layer reads the one below at every step. -> (N, H), or
 * (N, 2H) with the top layer's mean state after its final one (pool_mean) */
static ag_tensor *stack(ag_tape *t, names_model *m, const nn_rnn *layers, ag_tensor *x, const int *lengths)
{
    ag_tensor *h = NULL;
    for (int l = 0; l < m->layers; l++) {
        int top = l + 1 == m->layers;
        ag_tensor *all = NULL;
        h = nn_rnn_forward(t, &layers[l], x, lengths, NULL, !top || m->pool_mean ? &all : NULL);
        if (top && m->pool_mean) {
            ag_tensor *both[2] = {h, mean_over_letters(t, all, lengths)};
            return ag_cat(t, both, 2, 1);
        }
        if (all && m->drop_rng) all = nn_dropout(t, all, m->dropout, m->drop_rng);
        x = all;
    }
    return h;
}

ag_tensor *names_model_forward(ag_tape *t, names_model *m, const names_item *const *items, int N)
{
    int T = 0, padded = 0;
    for (int n = 0; n < N; n++)
        if (items[n]->len > T) T = items[n]->len;
    int *lengths = ag_tape_alloc(t, (size_t)N * sizeof *lengths);
    if (!lengths) return NULL;
    for (int n = 0; n < N; n++) {
        lengths[n] = items[n]->len;
        padded |= lengths[n] != T;
    }
    ag_tensor *x = letters(t, items, N, T, 0);
    if (m->kind == NAMES_SEED) return nn_seed_rnn_forward(t, &m->seed, x, padded ? lengths : NULL);
    ag_tensor *h = stack(t, m, m->rnn, x, padded ? lengths : NULL);
    if (m->bidirectional) {
        ag_tensor *both[2] = {h, stack(t, m, m->rev, letters(t, items, N, T, 1), padded ? lengths : NULL)};
        h = ag_cat(t, both, 2, 1); /* (N, 2H), or (N, 4H) with pool_mean */
    }
    if (m->drop_rng) h = nn_dropout(t, h, m->dropout, m->drop_rng);
    return ag_log_softmax(t, nn_linear_forward(t, &m->head, h), 1);
}

void names_model_meta(const names_model *m, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "model=%s\nhidden=%d\nlayers=%d\nbidirectional=%d\n%sletters=%s\nclasses=",
                                names_kind_name(m->kind), m->hidden, m->layers, m->bidirectional,
                                m->pool_mean ? "pool=mean\n" : "", NAMES_LETTERS);
    for (int c = 0; c < m->n_classes && k < n; c++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", c ? "," : "", m->classes[c]);
    if (k < n) k += (size_t)snprintf(buf + k, n - k, "\n");
    int shifted = 0;
    for (int c = 0; c < m->n_classes; c++) shifted |= m->prior_shift[c] != 0;
    for (int c = 0; shifted && c < m->n_classes && k < n; c++) /* %.17g: read back bit for bit */
        k += (size_t)snprintf(buf + k, n - k, "%s%.17g%s", c ? "," : "prior_shift=", m->prior_shift[c],
                              c + 1 == m->n_classes ? "\n" : "");
}

void names_model_predict_row(const names_model *m, const ag_float *logp, double *out)
{
    double top = -HUGE_VAL, sum = 0;
    for (int c = 0; c < m->n_classes; c++) {
        out[c] = (double)logp[c] + m->prior_shift[c];
        if (out[c] > top) top = out[c];
    }
    for (int c = 0; c < m->n_classes; c++) sum += exp(out[c] - top);
    for (int c = 0; c < m->n_classes; c++) out[c] -= top + log(sum);
}

/* prior_shift=a,b,... (one finite number per class) into m; absent: all 0. 0, or -1. */
static int parse_shift(names_model *m, const char *meta, char *err, size_t errlen)
{
    char v[NAMES_MAX_CLASSES * 32];
    if (!nn_meta_get(meta, "prior_shift", v, sizeof v)) return 0;
    char *s = v, *end;
    for (int c = 0; c < m->n_classes; c++) {
        errno = 0;
        double x = strtod(s, &end);
        if (end == s || errno || !isfinite(x) || fabs(x) > 100 || *end != (c + 1 == m->n_classes ? 0 : ',')) {
            snprintf(err, errlen, "the checkpoint's prior_shift is not %d finite numbers separated by commas",
                     m->n_classes);
            return -1;
        }
        m->prior_shift[c] = x;
        s = end + 1;
    }
    return 0;
}

int names_model_from_meta(names_model *m, const char *meta, char *err, size_t errlen)
{
    char kind_s[32], hidden_s[32], layers_s[32], bidi_s[32], pool_s[32], alphabet[128],
        classes_s[NAMES_MAX_CLASSES * NAMES_MAX_CLASS_NAME];
    names_kind kind;
    if (!nn_meta_get(meta, "model", kind_s, sizeof kind_s) || names_kind_parse(kind_s, &kind) != 0 ||
        !nn_meta_get(meta, "hidden", hidden_s, sizeof hidden_s) ||
        !nn_meta_get(meta, "classes", classes_s, sizeof classes_s)) {
        snprintf(err, errlen, "the checkpoint's meta data lacks a valid model, hidden or classes entry");
        return -1;
    }
    if (!nn_meta_get(meta, "letters", alphabet, sizeof alphabet) || strcmp(alphabet, NAMES_LETTERS) != 0) {
        snprintf(err, errlen, "the checkpoint was trained on another alphabet");
        return -1;
    }
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    int n = 0;
    for (char *s = classes_s, *comma; s && *s; s = comma ? comma + 1 : NULL) {
        comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (n == NAMES_MAX_CLASSES || len == 0 || len >= NAMES_MAX_CLASS_NAME) {
            snprintf(err, errlen, "the checkpoint's class list is malformed");
            return -1;
        }
        memcpy(classes[n], s, len);
        classes[n++][len] = 0;
    }
    char *end, *end2;
    long hidden = strtol(hidden_s, &end, 10);
    if (!nn_meta_get(meta, "layers", layers_s, sizeof layers_s)) strcpy(layers_s, "1");
    if (!nn_meta_get(meta, "bidirectional", bidi_s, sizeof bidi_s)) strcpy(bidi_s, "0");
    if (!nn_meta_get(meta, "pool", pool_s, sizeof pool_s)) strcpy(pool_s, "last"); /* older checkpoints */
    if (strcmp(pool_s, "last") && strcmp(pool_s, "mean")) {
        snprintf(err, errlen, "the checkpoint's pool setting '%s' is neither last nor mean", pool_s);
        return -1;
    }
    long layers = strtol(layers_s, &end2, 10);
    int flags = (strcmp(bidi_s, "0") != 0 ? NAMES_BIDIRECTIONAL : 0) | (!strcmp(pool_s, "mean") ? NAMES_POOL_MEAN : 0);
    ag_rng rng;
    ag_rng_seed(&rng, 0);
    if (*end || *end2 || names_model_init(m, kind, (int)hidden, (int)layers, flags, n, classes, &rng) != 0) {
        snprintf(err, errlen, "cannot build a %s model with hidden=%s, layers=%s and %d classes", kind_s, hidden_s,
                 layers_s, n);
        return -1;
    }
    if (parse_shift(m, meta, err, errlen) != 0) {
        names_model_free(m);
        return -1;
    }
    return 0;
}
