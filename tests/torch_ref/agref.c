/* agref.c -- reads the fixtures gen.py writes and runs their cases (agref.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agref.h"

/* ---- reading: tokens separated by whitespace, '#' to the end of a line ignored ---- */

typedef struct {
    const char *file;
    char *p;  /* the text, NUL-terminated, cut into tokens in place */
    int line; /* of p */
    int at;   /* the line of the last token, for messages */
    int bad;
} lexer;

static void lex_fail(lexer *lx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!lx->bad) {
        fprintf(stderr, "%s:%d: ", lx->file, lx->at);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
    lx->bad = 1;
}

/* The next token, or NULL at the end of the text. */
static char *token(lexer *lx)
{
    for (;;) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\n')
            if (*lx->p++ == '\n') lx->line++;
        if (*lx->p != '#') break;
        while (*lx->p && *lx->p != '\n') lx->p++;
    }
    lx->at = lx->line;
    if (!*lx->p) return NULL;
    char *start = lx->p;
    while (*lx->p && !strchr(" \t\r\n", *lx->p)) lx->p++;
    if (*lx->p) {
        if (*lx->p == '\n') lx->line++;
        *lx->p++ = 0;
    }
    return start;
}

static long integer(lexer *lx)
{
    char *s = token(lx), *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end) lex_fail(lx, "expected an integer, got '%s'", s ? s : "end of file");
    return v;
}

static double real(lexer *lx)
{
    char *s = token(lx), *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || *end) lex_fail(lx, "expected a real, got '%s'", s ? s : "end of file");
    return v;
}

static void copy_word(lexer *lx, char *dst, size_t n, const char *what)
{
    char *s = token(lx);
    dst[0] = 0;
    if (!s || strlen(s) >= n) lex_fail(lx, "expected %s (under %zu characters)", what, n);
    else strcpy(dst, s);
}

/* One record after its kind letter: "KEY N values" or "KEY RANK dims values". */
static void read_entry(lexer *lx, agref_entry *e, char kind)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    copy_word(lx, e->key, sizeof e->key, "a key");
    if (kind == 't') {
        e->rank = (int)integer(lx);
        if (e->rank < 0 || e->rank > AG_MAX_RANK) return lex_fail(lx, "%s: rank %d", e->key, e->rank);
        e->n = 1;
        for (int d = 0; d < e->rank; d++) {
            e->shape[d] = (int)integer(lx);
            if (e->shape[d] < 1 || e->shape[d] > 1 << 20) return lex_fail(lx, "%s: dim %d", e->key, e->shape[d]);
            e->n *= e->shape[d];
        }
    } else {
        e->n = (int)integer(lx);
    }
    if (e->n < 0 || e->n > 1 << 20) return lex_fail(lx, "%s: %d values", e->key, e->n);
    if (kind == 'i') {
        e->iv = malloc((size_t)(e->n ? e->n : 1) * sizeof *e->iv);
        for (int k = 0; e->iv && k < e->n; k++) e->iv[k] = (int)integer(lx);
    } else {
        e->v = malloc((size_t)(e->n ? e->n : 1) * sizeof *e->v);
        for (int k = 0; e->v && k < e->n; k++) e->v[k] = real(lx);
    }
    if (!e->iv && !e->v) lex_fail(lx, "out of memory");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0, got;
    char *text = malloc(cap);
    while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) free(text);
            text = bigger;
        }
    }
    fclose(f);
    if (!text) fprintf(stderr, "%s: out of memory\n", path);
    else text[len] = 0;
    return text;
}

int agref_load(agref_set *s, const char *path)
{
    char *text = slurp(path);
    if (!text) return 0;
    lexer lx = {path, text, 1, 1, 0};
    char *magic = token(&lx);
    if (!magic || strcmp(magic, "agref") != 0 || integer(&lx) != 1) lex_fail(&lx, "not an 'agref 1' file");
    char *tok;
    while (!lx.bad && (tok = token(&lx))) {
        if (strcmp(tok, "case") != 0) {
            lex_fail(&lx, "expected 'case', got '%s'", tok);
            break;
        }
        agref_case *grown = realloc(s->c, (size_t)(s->n + 1) * sizeof *s->c);
        if (!grown) {
            lex_fail(&lx, "out of memory");
            break;
        }
        s->c = grown;
        agref_case *c = &s->c[s->n++];
        memset(c, 0, sizeof *c);
        c->file = path;
        c->line = lx.at;
        copy_word(&lx, c->name, sizeof c->name, "a case name");
        copy_word(&lx, c->op, sizeof c->op, "an op name");
        while (!lx.bad) {
            char *kind = token(&lx);
            if (!kind) {
                lex_fail(&lx, "case %s has no 'end'", c->name);
                break;
            }
            if (strcmp(kind, "end") == 0) break;
            if (strlen(kind) != 1 || !strchr("ift", kind[0])) {
                lex_fail(&lx, "case %s: unknown record '%s'", c->name, kind);
                break;
            }
            agref_entry *e = realloc(c->e, (size_t)(c->ne + 1) * sizeof *c->e);
            if (!e) {
                lex_fail(&lx, "out of memory");
                break;
            }
            c->e = e;
            read_entry(&lx, &c->e[c->ne++], kind[0]);
        }
    }
    free(text);
    return !lx.bad;
}

void agref_free(agref_set *s)
{
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; k < s->c[i].ne; k++) {
            free(s->c[i].e[k].v);
            free(s->c[i].e[k].iv);
        }
        free(s->c[i].e);
    }
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

agref_entry *agref_find(const agref_case *c, const char *key)
{
    for (int k = 0; k < c->ne; k++)
        if (strcmp(c->e[k].key, key) == 0) return &c->e[k];
    return NULL;
}

/* ---- what builders call ---- */

void agref_mismatch(agref_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (x->failures++ < 5) {
        fprintf(stderr, "  %s (%s:%d): ", x->c->name, x->c->file, x->c->line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

static const agref_entry *need(agref_ctx *x, const char *key, char kind)
{
    const agref_entry *e = agref_find(x->c, key);
    if (!e || e->kind != kind) {
        agref_mismatch(x, "no %c record '%s'", kind, key);
        return NULL;
    }
    return e;
}

int agref_has(agref_ctx *x, const char *key)
{
    return agref_find(x->c, key) != NULL;
}

ag_tensor *agref_in(agref_ctx *x, const char *key)
{
    const agref_entry *e = need(x, key, 't');
    if (!e) return NULL;
    char gkey[64];
    snprintf(gkey, sizeof gkey, "grad.%s", key);
    ag_tensor *v;
    if (agref_find(x->c, gkey)) {
        if (x->np == (int)(sizeof x->p / sizeof x->p[0])) {
            agref_mismatch(x, "more than %d inputs with gradients", x->np);
            return NULL;
        }
        v = ag_param_new(e->rank, e->shape, e->key);
        if (!v) return NULL;
        x->pkey[x->np] = e->key;
        x->p[x->np++] = v;
    } else {
        v = ag_zeros(x->t, e->rank, e->shape);
        if (!v) return NULL;
    }
    for (int i = 0; i < e->n; i++) v->data[i] = (ag_float)e->v[i];
    return v;
}

int agref_int(agref_ctx *x, const char *key)
{
    const agref_entry *e = need(x, key, 'i');
    return e && e->n > 0 ? e->iv[0] : 0;
}

const int *agref_ints(agref_ctx *x, const char *key, int *n)
{
    const agref_entry *e = need(x, key, 'i');
    *n = e ? e->n : 0;
    return e ? e->iv : NULL;
}

double agref_real(agref_ctx *x, const char *key)
{
    const agref_entry *e = need(x, key, 'f');
    return e && e->n > 0 ? e->v[0] : 0;
}

double agref_err(double got, double want)
{
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    if (isinf(want)) return got == want ? 0 : INFINITY;
    double e = fabs(got - want) / fmax(1, fabs(want));
    return isnan(e) ? INFINITY : e;
}

void agref_check_values(agref_ctx *x, const char *key, const ag_float *got, int rank, const int *shape, int n)
{
    const agref_entry *e = need(x, key, 't');
    if (!e) return;
    int same = e->n == n && (rank < 0 || e->rank == rank);
    for (int d = 0; same && rank >= 0 && d < rank; d++) same = e->shape[d] == shape[d];
    if (!same) {
        agref_mismatch(x, "%s: shape or size differs from torch's (%d values, torch %d)", key, n, e->n);
        return;
    }
    for (int i = 0; i < n; i++) {
        double err = agref_err((double)got[i], e->v[i]);
        if (err > x->worst) x->worst = err;
        if (err > x->tol)
            agref_mismatch(x, "%s[%d] = %.17g, torch %.17g (err %.2g > %.0e)", key, i, (double)got[i], e->v[i], err,
                           x->tol);
    }
}

void agref_check_ints(agref_ctx *x, const char *key, const int *got, int n)
{
    const agref_entry *e = need(x, key, 'i');
    if (!e) return;
    if (e->n != n) {
        agref_mismatch(x, "%s: %d ints, torch has %d", key, n, e->n);
        return;
    }
    for (int i = 0; i < n; i++)
        if (got[i] != e->iv[i]) agref_mismatch(x, "%s[%d] = %d, torch %d", key, i, got[i], e->iv[i]);
}

/* ---- running ---- */

int agref_run_case(const agref_case *c, const agref_op *op, double tol, double *worst)
{
    agref_ctx x = {.c = c, .t = ag_tape_new(), .tol = tol};
    if (!x.t) {
        agref_mismatch(&x, "no memory for a tape");
        return x.failures;
    }
    ag_tensor *out = op->fn(&x);
    if (!out) {
        if (ag_tape_status(x.t) != AG_OK) agref_mismatch(&x, "it failed: %s", ag_tape_error(x.t));
        else if (agref_find(c, "out")) agref_mismatch(&x, "the builder returned nothing to compare with 'out'");
    } else {
        agref_check_values(&x, "out", out->data, out->rank, out->shape, out->size);
        const agref_entry *seed = agref_find(c, "seed");
        if (seed && seed->n != out->size) {
            agref_mismatch(&x, "seed has %d values, the output %d", seed->n, out->size);
        } else if (seed) {
            ag_float *s = malloc((size_t)seed->n * sizeof *s);
            for (int i = 0; s && i < seed->n; i++) s[i] = (ag_float)seed->v[i];
            ag_status st = s ? ag_backward_seed(x.t, out, s) : AG_ENOMEM;
            free(s);
            if (st != AG_OK) agref_mismatch(&x, "backward failed: %s", ag_tape_error(x.t));
            for (int k = 0; st == AG_OK && k < x.np; k++) {
                char gkey[64];
                snprintf(gkey, sizeof gkey, "grad.%s", x.pkey[k]);
                agref_check_values(&x, gkey, x.p[k]->grad, x.p[k]->rank, x.p[k]->shape, x.p[k]->size);
            }
        }
    }
    /* every gradient torch gave must have been compared */
    for (int k = 0; k < c->ne; k++) {
        if (strncmp(c->e[k].key, "grad.", 5) != 0) continue;
        int used = 0;
        for (int j = 0; j < x.np; j++) used |= strcmp(c->e[k].key + 5, x.pkey[j]) == 0;
        if (!used) agref_mismatch(&x, "%s is in the fixture but the builder made no such input", c->e[k].key);
    }
    ag_tape_free(x.t); /* the tape first: its nodes point at the parameters */
    for (int k = 0; k < x.np; k++) ag_param_free(x.p[k]);
    *worst = x.worst;
    return x.failures;
}

int agref_run_all(const agref_set *s, const agref_op *ops, int n_ops, double tol, const char *build)
{
    int *used = calloc((size_t)n_ops, sizeof *used), failed = 0;
    double *worst = calloc((size_t)n_ops, sizeof *worst);
    const char **worst_case = calloc((size_t)n_ops, sizeof *worst_case);
    if (!used || !worst || !worst_case) {
        free(used), free(worst), free(worst_case);
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < s->n; i++) {
        int b = 0;
        while (b < n_ops && strcmp(ops[b].op, s->c[i].op) != 0) b++;
        if (b == n_ops) {
            fprintf(stderr, "  %s (%s:%d): no builder for op '%s'\n", s->c[i].name, s->c[i].file, s->c[i].line,
                    s->c[i].op);
            failed++;
            continue;
        }
        double w;
        failed += agref_run_case(&s->c[i], &ops[b], tol, &w) != 0;
        used[b]++;
        if (!worst_case[b] || w > worst[b]) {
            worst[b] = w;
            worst_case[b] = s->c[i].name;
        }
    }
    printf("  %d cases, %s build, tolerance %.0e on |ours - torch| / max(1, |torch|):\n", s->n, build, tol);
    int all = 0;
    for (int b = 0; b < n_ops; b++) {
        if (used[b]) printf("  %-16s %3d cases, worst %.2e (%s)\n", ops[b].op, used[b], worst[b], worst_case[b]);
        else fprintf(stderr, "  no case in the fixtures for op '%s'\n", ops[b].op), failed++;
        if (worst[b] > worst[all]) all = b;
    }
    printf("  worst of all: %.2e in %s\n", worst[all], worst_case[all] ? worst_case[all] : "-");
    if (failed) fprintf(stderr, "  %d failure(s) against torch\n", failed);
    free(used), free(worst), free(worst_case);
    return failed;
}

int agref_moved_fails(agref_set *s, const agref_op *ops, int n_ops, const char *op, const char *key, int at,
                      double move_tol, double tol)
{
    int b = 0;
    while (b < n_ops && strcmp(ops[b].op, op) != 0) b++;
    for (int i = 0; b < n_ops && i < s->n; i++) {
        agref_entry *e = strcmp(s->c[i].op, op) == 0 ? agref_find(&s->c[i], key) : NULL;
        if (!e || at >= e->n) continue;
        double saved = e->v[at], worst;
        e->v[at] += 100 * move_tol * fmax(1, fabs(saved));
        int failures = agref_run_case(&s->c[i], &ops[b], tol, &worst);
        e->v[at] = saved;
        printf("  %s with %s[%d] moved by 100 tolerances: %d mismatch(es), err %.2e (as it must)\n", s->c[i].name,
               key, at, failures, worst);
        return failures > 0 && worst > 10 * move_tol;
    }
    return -1;
}
