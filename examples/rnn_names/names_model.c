/* names_model.c -- the four classifiers over padded batches of names. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "names_cli.h"
#include "names_model.h"

static const char *const kind_names[] = {"tutorial", "elman", "gru", "lstm"};

const char *names_kind_name(names_kind k)
{
    return kind_names[k];
}

int names_kind_parse(const char *s, names_kind *k)
{
    if (strcmp(s, "seed") == 0) s = "tutorial"; /* its name before 0.2, in older checkpoints */
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
    return names_model_build(m, kind, hidden, layers, flags, n_classes, classes, rng, NULL, 0);
}

int names_model_build(names_model *m, names_kind kind, int hidden, int layers, int flags, int n_classes,
                      const char (*classes)[NAMES_MAX_CLASS_NAME], ag_rng *rng, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (hidden < 1 || hidden > 4096 || n_classes < 2 || n_classes > NAMES_MAX_CLASSES || layers < 1 ||
        layers > NAMES_MAX_LAYERS || (flags & ~(NAMES_BIDIRECTIONAL | NAMES_POOL_MEAN)) ||
        (kind == NAMES_TUTORIAL && (layers != 1 || flags))) {
        if (err && errlen)
            snprintf(err, errlen, "bad sizes: hidden=%d (1 to 4096), layers=%d (1 to %d; 1 for seed), %d classes "
                     "(2 to %d)", hidden, layers, NAMES_MAX_LAYERS, n_classes, NAMES_MAX_CLASSES);
        return -1;
    }
    m->bidirectional = (flags & NAMES_BIDIRECTIONAL) != 0;
    m->pool_mean = (flags & NAMES_POOL_MEAN) != 0;
    m->kind = kind;
    m->hidden = hidden;
    m->layers = layers;
    m->n_classes = n_classes;
    memcpy(m->classes, classes, (size_t)n_classes * sizeof *classes);
    nn_params_init(&m->ps);
    nn_status s;
    if (kind == NAMES_TUTORIAL) {
        s = nn_tutorial_rnn_init(&m->tutorial, &m->ps, "", NAMES_N_LETTERS, hidden, n_classes, rng);
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
        if (err && errlen) snprintf(err, errlen, "%s", nn_params_error(&m->ps)); /* the cause, from nn/ */
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
    if (m->kind == NAMES_TUTORIAL) return nn_tutorial_rnn_forward(t, &m->tutorial, x, padded ? lengths : NULL);
    ag_tensor *h = stack(t, m, m->rnn, x, padded ? lengths : NULL);
    if (m->bidirectional) {
        ag_tensor *both[2] = {h, stack(t, m, m->rev, letters(t, items, N, T, 1), padded ? lengths : NULL)};
        h = ag_cat(t, both, 2, 1); /* (N, 2H), or (N, 4H) with pool_mean */
    }
    if (m->drop_rng) h = nn_dropout(t, h, m->dropout, m->drop_rng);
    return ag_log_softmax(t, nn_linear_forward(t, &m->head, h), 1);
}

/* Appends to buf snprintf-style: writes what fits in n - *k bytes, counts everything. */
static void add(char *buf, size_t n, size_t *k, const char *fmt, const char *s, double x)
{
    int w = s ? snprintf(*k < n ? buf + *k : NULL, *k < n ? n - *k : 0, fmt, s)
              : snprintf(*k < n ? buf + *k : NULL, *k < n ? n - *k : 0, fmt, x);
    *k += (size_t)w;
}

size_t names_model_meta(const names_model *m, char *buf, size_t n)
{
    size_t k = 0;
    char head[256];
    snprintf(head, sizeof head, "model=%s\nhidden=%d\nlayers=%d\nbidirectional=%d\n%sletters=%s\nclasses=",
             names_kind_name(m->kind), m->hidden, m->layers, m->bidirectional, m->pool_mean ? "pool=mean\n" : "",
             NAMES_LETTERS);
    add(buf, n, &k, "%s", head, 0);
    for (int c = 0; c < m->n_classes; c++) {
        if (c) add(buf, n, &k, "%s", ",", 0);
        add(buf, n, &k, "%s", m->classes[c], 0);
    }
    add(buf, n, &k, "%s", "\n", 0);
    int shifted = 0;
    for (int c = 0; c < m->n_classes; c++) shifted |= m->prior_shift[c] != 0;
    for (int c = 0; shifted && c < m->n_classes; c++) { /* %.17g: read back bit for bit */
        add(buf, n, &k, "%s", c ? "," : "prior_shift=", 0);
        add(buf, n, &k, "%.17g", NULL, m->prior_shift[c]);
    }
    if (shifted) add(buf, n, &k, "%s", "\n", 0);
    return k;
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
    size_t len;
    const char *found = nn_meta_find(meta, "prior_shift", &len);
    if (!found) return 0;
    char *v = malloc(len + 1), *s = v, *end;
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(v, found, len);
    v[len] = 0;
    int rc = 0;
    for (int c = 0; c < m->n_classes && rc == 0; c++) {
        errno = 0;
        double x = strtod(s, &end);
        if (end == s || errno || !isfinite(x) || fabs(x) > 100 || *end != (c + 1 == m->n_classes ? 0 : ',')) {
            snprintf(err, errlen, "the checkpoint's prior_shift is not %d finite numbers separated by commas",
                     m->n_classes);
            rc = -1;
        }
        m->prior_shift[c] = x;
        s = end + 1;
    }
    free(v);
    return rc;
}

int names_classes_from_meta(const char *meta, char (*classes)[NAMES_MAX_CLASS_NAME], int *n, char *err,
                            size_t errlen)
{
    size_t len;
    const char *s = nn_meta_find(meta, "classes", &len), *end = s + len;
    *n = 0;
    if (!s) {
        snprintf(err, errlen, "it lacks the 'classes' setting");
        return -1;
    }
    for (const char *at = s; at <= end; (*n)++) {
        const char *comma = memchr(at, ',', (size_t)(end - at));
        size_t cl = comma ? (size_t)(comma - at) : (size_t)(end - at);
        char why[128];
        if (*n == NAMES_MAX_CLASSES) {
            snprintf(err, errlen, "its setting 'classes' lists more than %d languages", NAMES_MAX_CLASSES);
            return -1;
        }
        if (names_class_check(at, cl, why, sizeof why) != 0) {
            snprintf(err, errlen, "its setting 'classes': language %d: %s", *n + 1, why);
            return -1;
        }
        memcpy(classes[*n], at, cl);
        classes[*n][cl] = 0;
        at += cl + 1;
    }
    if (*n < 2) {
        snprintf(err, errlen, "its setting 'classes' lists %d language%s; a model has at least 2", *n, *n == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

int names_letters_check(const char *meta, char *err, size_t errlen)
{
    size_t len;
    const char *v = nn_meta_find(meta, "letters", &len);
    if (!v) snprintf(err, errlen, "it lacks the 'letters' setting (the alphabet it was trained on)");
    else if (len != strlen(NAMES_LETTERS) || memcmp(v, NAMES_LETTERS, len) != 0)
        snprintf(err, errlen, "its setting 'letters': the checkpoint was trained on another alphabet");
    else return 0;
    return -1;
}

int names_model_from_meta(names_model *m, const char *meta, char *err, size_t errlen)
{
    options o = {0};
    char *store = NULL, classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    names_kind kind = NAMES_TUTORIAL;
    int n = 0, rc = names_settings_from_meta(&o, meta, NAMES_SETTINGS_MODEL, &store, err, errlen);
    if (rc == 0) rc = names_letters_check(meta, err, errlen);
    if (rc == 0) rc = names_classes_from_meta(meta, classes, &n, err, errlen);
    if (rc == 0) {
        names_kind_parse(o.model, &kind); /* a word of the table: always one of the four */
        int flags = (o.bidirectional ? NAMES_BIDIRECTIONAL : 0) | (!strcmp(o.pool, "mean") ? NAMES_POOL_MEAN : 0);
        ag_rng rng;
        ag_rng_seed(&rng, 0);
        char why[256];
        if (names_model_build(m, kind, (int)o.hidden, (int)o.layers, flags, n,
                              (const char(*)[NAMES_MAX_CLASS_NAME])classes, &rng, why, sizeof why) != 0) {
            snprintf(err, errlen, "cannot build a %s model with hidden=%ld, layers=%ld and %d classes: %s", o.model,
                     o.hidden, o.layers, n, why);
            rc = -1;
        } else if (parse_shift(m, meta, err, errlen) != 0) {
            names_model_free(m);
            rc = -1;
        }
    }
    free(store);
    return rc;
}
