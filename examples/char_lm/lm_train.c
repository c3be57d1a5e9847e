/* lm_train.c -- the training loop of char_lm and what a checkpoint holds of it.
 *
 * A checkpoint's meta text holds the run's settings (lm_cli.c's table), the vocabulary,
 * the text's size and CRC, and where the run is: state.step, the loss curve so far
 * (state.curve, state.window_sum, state.window_n) and the recurrent state carried into
 * the next chunk (state.hidden: every value of the state buffers as the 8 hex digits of
 * its float bits). With the parameters and the optimizer's state, that is everything the
 * next step depends on, so a resumed run writes the same checkpoint, byte for byte, as a
 * run that never stopped (tests/test_char_lm.sh). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lm_model.h"
#include "lm_text.h"
#include "lm_train.h"

#ifdef LM_MPI
#include <mpi.h>

#include "nn_dist.h"
#define SETUP_FAIL goto agree /* every rank learns of a failure before the first step */
#else
#define SETUP_FAIL goto done
#endif

_Static_assert(sizeof(ag_float) == 4, "char_lm stores its state as float32 bits");

typedef struct {
    long step;            /* chunks trained */
    double *curve;        /* mean loss per character of each finished --log-every window */
    long n_curve, cap_curve;
    double window_sum;    /* the current window: sum of the steps' losses, and how many */
    long window_n;
} run_state;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

#ifdef LM_MPI
static char last_msg[1024]; /* the last report(), for the other ranks (nn_dist_check) */
#endif

static int report(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, LM_PROG " train: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
#ifdef LM_MPI
    snprintf(last_msg, sizeof last_msg, fmt, a, b);
#endif
    return 1;
}

/* BASE.loss.svg, where BASE is the checkpoint path without a trailing ".ckpt". */
static char *svg_path(const char *save)
{
    size_t n = strlen(save);
    if (n > 5 && !strcmp(save + n - 5, ".ckpt")) n -= 5;
    char *s = malloc(n + 10);
    if (s) {
        memcpy(s, save, n);
        memcpy(s + n, ".loss.svg", 10);
    }
    return s;
}

/* The meta text of a checkpoint: settings, vocabulary, text, where the run is. */
static char *make_meta(const lm_options *o, const lm_text *tx, const run_state *rs, const lm_state *st)
{
    char *settings = lm_settings_meta(o), *vocab = lm_vocab_format(tx->chars, tx->vocab);
    long values = 0;
    for (int i = 0; i < st->n; i++) values += st->buf[i]->size;
    size_t cap = (settings ? strlen(settings) : 0) + (vocab ? strlen(vocab) : 0) + 256 + (size_t)rs->n_curve * 26 +
                 (size_t)values * 8;
    char *m = settings && vocab ? malloc(cap) : NULL, *p = m;
    if (m) {
        p += sprintf(p, "%svocab=%s\ntext_bytes=%ld\ntext_crc=%lu\nstate.step=%ld\nstate.window_sum=%.17g\n"
                     "state.window_n=%ld\nstate.curve=", settings, vocab, tx->bytes, (unsigned long)tx->crc,
                     rs->step, rs->window_sum, rs->window_n);
        for (long i = 0; i < rs->n_curve; i++) p += sprintf(p, i ? ",%.17g" : "%.17g", rs->curve[i]);
        p += sprintf(p, "\nstate.hidden=");
        for (int i = 0; i < st->n; i++)
            for (int k = 0; k < st->buf[i]->size; k++) {
                uint32_t bits;
                memcpy(&bits, &st->buf[i]->data[k], 4);
                p += sprintf(p, "%08lx", (unsigned long)bits);
            }
        sprintf(p, "\n");
    }
    free(settings);
    free(vocab);
    return m;
}

/* Where a checkpoint's run is: state.* into rs and the state buffers. 0, or -1 with err. */
static int read_run_state(const char *meta, run_state *rs, lm_state *st, long log_every, char *err, size_t errlen)
{
    long win_n;
    double win_sum;
    if (nn_meta_long(meta, "state.step", 0, 1000000000L, &rs->step) != 1 ||
        nn_meta_long(meta, "state.window_n", 0, log_every - 1, &win_n) != 1 ||
        nn_meta_double(meta, "state.window_sum", 0, 1e300, &win_sum) != 1) {
        snprintf(err, errlen, "its state.step, state.window_n or state.window_sum is absent or out of range");
        return -1;
    }
    rs->window_n = win_n;
    rs->window_sum = win_sum;
    size_t len;
    const char *c = nn_meta_find(meta, "state.curve", &len), *end = c + len;
    long want = rs->step / log_every;
    if (!c || rs->step % log_every != win_n) {
        snprintf(err, errlen, "its state.curve is absent or state.window_n does not fit state.step");
        return -1;
    }
    rs->curve = malloc((size_t)(want ? want : 1) * sizeof *rs->curve);
    rs->cap_curve = want ? want : 1;
    if (!rs->curve) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (const char *s = c; s < end && rs->n_curve < want;) {
        char num[40], *e;
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t n = (size_t)((comma ? comma : end) - s);
        if (n == 0 || n >= sizeof num) break;
        memcpy(num, s, n);
        num[n] = 0;
        double v = strtod(num, &e);
        if (*e || !isfinite(v)) break;
        rs->curve[rs->n_curve++] = v;
        s += n + 1;
    }
    if (rs->n_curve != want) {
        snprintf(err, errlen, "its state.curve does not hold %ld numbers (one per %ld steps)", want, log_every);
        return -1;
    }
    const char *h = nn_meta_find(meta, "state.hidden", &len);
    long values = 0;
    for (int i = 0; i < st->n; i++) values += st->buf[i]->size;
    if (!h || len != (size_t)values * 8) {
        snprintf(err, errlen, "its state.hidden does not hold %ld values of 8 hex digits (batch x layers x hidden)",
                 values);
        return -1;
    }
    for (int i = 0; i < st->n; i++)
        for (int k = 0; k < st->buf[i]->size; k++, h += 8) {
            uint32_t bits = 0;
            for (int d = 0; d < 8; d++) {
                int x = h[d] >= '0' && h[d] <= '9' ? h[d] - '0' : h[d] >= 'a' && h[d] <= 'f' ? h[d] - 'a' + 10 : -1;
                if (x < 0) {
                    snprintf(err, errlen, "its state.hidden holds a character that is not a hex digit");
                    return -1;
                }
                bits = bits << 4 | (uint32_t)x;
            }
            memcpy(&st->buf[i]->data[k], &bits, 4);
            if (!isfinite(st->buf[i]->data[k])) {
                snprintf(err, errlen, "its state.hidden holds a NaN or an infinity");
                return -1;
            }
        }
    return 0;
}

/* The optimizer named by --optim, torch.optim's with the settings the classic char-RNN
 * code uses: Adagrad as min-char-rnn (eps 1e-8), RMSprop as char-rnn (alpha 0.95),
 * Adam and AdamW with torch's defaults (AdamW's weight decay 0.01), plain SGD. */
static int make_optim(nn_optim *opt, nn_params *ps, const lm_options *o, char *err, size_t errlen)
{
    nn_status s;
    memset(opt, 0, sizeof *opt);
    if (!strcmp(o->optim, "adam")) s = nn_adam_init(opt, ps, o->lr, 0.9, 0.999, 1e-8, 0);
    else if (!strcmp(o->optim, "sgd")) s = nn_sgd_init(opt, ps, o->lr, 0, 0);
    else if (!strcmp(o->optim, "adagrad")) s = nn_adagrad_init(opt, ps, o->lr, 0, 0, 0, 1e-8);
    else if (!strcmp(o->optim, "rmsprop")) s = nn_rmsprop_init(opt, ps, o->lr, 0.95, 1e-8, 0, 0, 0);
    else s = nn_adamw_init(opt, ps, o->lr, 0.9, 0.999, 1e-8, 0.01);
    if (s != NN_OK) snprintf(err, errlen, "cannot set up the optimizer: %s", opt->error[0] ? opt->error : nn_status_name(s));
    return s == NN_OK ? 0 : -1;
}

/* Writes the checkpoint and its loss curve. 0, or -1 (message printed). */
static int save_all(const lm_options *o, const char *svg, const lm_text *tx, const run_state *rs,
                    const lm_state *st, const lm_model *m, const nn_optim *opt)
{
    char err[512];
    char *meta = make_meta(o, tx, rs, st);
    if (!meta) return report("out of memory%s%s", "", "");
    int rc = 0;
    if (nn_ckpt_save(o->save, meta, &m->ps, opt, err, sizeof err) != NN_OK) rc = report("cannot save: %s%s", err, "");
    free(meta);
    if (rc) return -1;
    double *x = malloc((size_t)(rs->n_curve ? rs->n_curve : 1) * sizeof *x);
    if (!x) return report("out of memory%s%s", "", "");
    for (long i = 0; i < rs->n_curve; i++) x[i] = (double)(i + 1) * (double)o->log_every;
    char title[160];
    snprintf(title, sizeof title, "char_lm: %s, hidden %ld x %ld, seq %ld, batch %ld, %s", o->model, o->hidden,
             o->layers, o->seq, o->batch, o->optim);
    if (nn_plot_line(svg, x, rs->curve, (int)rs->n_curve, title, "step",
                     "loss per character (nats)", err, sizeof err) != 0)
        rc = report("cannot write the loss curve: %s%s", err, "");
    free(x);
    return rc ? -1 : 0;
}

/* Checks before training that FILE can be written (creates and removes FILE.tmp). */
static int check_writable(const char *path)
{
    char err[512];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return report("cannot write --save: %s is a directory%s", path, "");
    nn_file f;
    if (nn_file_open(&f, path, err, sizeof err) != NN_OK) return report("cannot write --save: %s%s", err, "");
    nn_file_abort(&f);
    return 0;
}

/* The settings of a --resume: every setting from the checkpoint; besides --resume only
 * --save, --save-every, --quiet and a new --steps or --epochs may be given. */
static int resume_settings(lm_options *o, nn_ckpt **ck)
{
    static const char *const settings[] = {"--text", "--model", "--hidden", "--layers", "--seq", "--batch",
                                           "--optim", "--lr", "--clip", "--seed", "--log-every"};
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (lm_given(o, settings[i])) {
            report("--resume takes every setting from the checkpoint; besides it give only --save, --save-every, "
                   "--quiet, and --steps or --epochs (got %s)%s", settings[i], "");
            return 2;
        }
    char err[512];
    lm_options given = *o;
    if (nn_ckpt_open(o->resume, ck, err, sizeof err) != NN_OK) return report("cannot resume: %s%s", err, "");
    if (lm_settings_from_meta(o, nn_ckpt_meta(*ck), LM_ALL_KEYS, err, sizeof err) != 0) {
        nn_ckpt_close(*ck);
        *ck = NULL;
        return report("cannot resume from %s: %s", o->resume, err);
    }
    if (lm_given(&given, "--steps") || lm_given(&given, "--epochs")) { /* a new length of the run */
        o->steps = given.steps;
        o->epochs = given.epochs;
    }
    if (!o->save) o->save = o->resume;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#ifdef LM_MPI
/* ---- several processes (mpirun; built with -DAG_MPI=ON) ----
 * The B streams are cut into R contiguous blocks, rank r's streams [r*B/R, (r+1)*B/R).
 * Every stream is a part of its own: its own copy of the model (the weights of m at
 * each step), its own tape run with a batch of 1, its loss the mean over its T
 * characters scaled by 1/B. nn_dist_sum_grads adds the parts' gradients over ranks in
 * rank order and, within a rank, in stream order: ((g_0 + g_1) + g_2) + ... + g_(B-1)
 * whatever R is, so a checkpoint does not depend on the number of processes (one
 * process of this build runs the same B parts). The parts' values carry the loss, a
 * failure flag and a stop flag (a signal), so every rank stops after the same step. */
typedef struct {
    int rank, ranks;
    long lo, n;          /* this rank's streams: lo .. lo+n-1 */
    lm_model *pm;        /* n copies of the model */
    nn_params **pp;      /* their registries */
    lm_state *ss;        /* n states of one stream */
    double *vals;        /* n * 3 */
} lm_dist;

static void dist_free(lm_dist *d)
{
    for (long j = 0; j < d->n; j++) {
        if (d->pm) lm_model_free(&d->pm[j]);
        if (d->ss) lm_state_free(&d->ss[j]);
    }
    free(d->pm);
    free(d->pp);
    free(d->ss);
    free(d->vals);
}

/* The parts of this rank. 0, or -1 (out of memory or nn/'s message in err). */
static int dist_setup(lm_dist *d, const lm_model *m, char *err, size_t errlen)
{
    d->pm = calloc((size_t)d->n, sizeof *d->pm);
    d->pp = calloc((size_t)d->n, sizeof *d->pp);
    d->ss = calloc((size_t)d->n, sizeof *d->ss);
    d->vals = calloc((size_t)d->n * 3, sizeof *d->vals);
    if (!d->pm || !d->pp || !d->ss || !d->vals) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ag_rng rng;
    ag_rng_seed(&rng, 1); /* the copies' weights are overwritten from m at each step */
    for (long j = 0; j < d->n; j++) {
        if (lm_model_build(&d->pm[j], m->kind, m->vocab, m->hidden, m->layers, &rng, err, errlen) != 0) return -1;
        d->pp[j] = &d->pm[j].ps;
        if (lm_state_new(&d->ss[j], &d->pm[j], 1) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Between the full state st (B rows per buffer, as a checkpoint holds it) and the
 * streams' states: to_full 0 copies this rank's rows of st into its streams; 1 copies
 * its streams into st and gathers every rank's rows into rank 0's st (collective). */
static void dist_state(lm_dist *d, lm_state *st, int to_full)
{
    for (int i = 0; i < st->n; i++) {
        int H = st->buf[i]->size / st->batch;
        for (long j = 0; j < d->n; j++) {
            ag_float *row = st->buf[i]->data + (d->lo + j) * H;
            if (to_full) memcpy(row, d->ss[j].buf[i]->data, (size_t)H * sizeof *row);
            else memcpy(d->ss[j].buf[i]->data, row, (size_t)H * sizeof *row);
        }
        if (!to_full || d->ranks < 2) continue;
        int counts[d->ranks], displs[d->ranks];
        for (int r = 0; r < d->ranks; r++) {
            long lo = (long)r * st->batch / d->ranks, hi = (long)(r + 1) * st->batch / d->ranks;
            counts[r] = (int)((hi - lo) * H);
            displs[r] = (int)(lo * H);
        }
        if (d->rank == 0)
            MPI_Gatherv(MPI_IN_PLACE, counts[0], MPI_FLOAT, st->buf[i]->data, counts, displs, MPI_FLOAT, 0,
                        MPI_COMM_WORLD);
        else
            MPI_Gatherv(st->buf[i]->data + displs[d->rank], counts[d->rank], MPI_FLOAT, NULL, NULL, NULL, MPI_FLOAT,
                        0, MPI_COMM_WORLD);
    }
}

/* Every rank agrees on failed (this rank's); a rank that did not fail says which did.
 * 1 when some rank failed. */
static int dist_failed(const lm_dist *d, int failed)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", failed ? last_msg : "");
    int who = nn_dist_check(failed, msg, sizeof msg);
    if (who >= 0 && !failed)
        fprintf(stderr, LM_PROG " train: stopping: process %d of %d failed: %s\n", who, d->ranks, msg);
    return who >= 0;
}
#endif

static int train_run(lm_options *o);

int lm_train(lm_options *o)
{
#ifndef LM_MPI
    return train_run(o);
#else
    if (nn_dist_init(NULL, NULL) != NN_OK) return report("cannot start MPI%s%s", "", "");
    int rc = train_run(o);
    nn_dist_finalize();
    return rc;
#endif
}

static int train_run(lm_options *o)
{
    char err[512];
    nn_ckpt *ck = NULL;
    int rc = o->resume ? resume_settings(o, &ck) : 0;
    if (rc) return rc;
    if (!lm_given(o, "--lr") && !o->resume) o->lr = lm_default_lr(o->optim);
    if (!o->steps && !o->epochs) o->steps = 3000;

    lm_text tx;
    char *abs = NULL;
    if (lm_text_load(&tx, o->text, err, sizeof err) != 0) {
        nn_ckpt_close(ck);
        return report("%s%s", err, "");
    }
    if (o->text && !o->resume) { /* stored absolute, so --resume finds it from anywhere */
        if (!(abs = realpath(o->text, NULL))) {
            lm_text_free(&tx);
            return report("%s: cannot resolve the path: %s", o->text, strerror(errno));
        }
        if (strchr(abs, '\n')) {
            free(abs);
            lm_text_free(&tx);
            return report("%s: a path with a newline cannot be stored in a checkpoint%s", o->text, "");
        }
        o->text = abs;
    }
    const char *tname = o->text ? o->text : "the built-in text";
    rc = 1;
    lm_model m = {0};
    lm_state st = {0};
    nn_optim opt = {0};
    run_state rs = {0};
    ag_tape *t = NULL;
    int *idx = NULL, *tgt = NULL;
    char *svg = o->save ? svg_path(o->save) : NULL;
    long B = o->batch, T = o->seq, seg = (tx.n - 1) / B, cpe = seg / T, total = 0; /* cpe: chunks per epoch */
#ifdef LM_MPI
    lm_dist dd = {.rank = nn_dist_rank(), .ranks = nn_dist_size()};
    int setup_failed = 1;
    if (dd.rank != 0) o->quiet = 1; /* rank 0 alone prints progress */
#endif
    if (o->save && !svg) {
        report("out of memory%s%s", "", "");
        SETUP_FAIL;
    }
    if (ck) { /* the same text as the run that is resumed */
        size_t vl;
        const char *v = nn_ckpt_meta(ck), *vv = nn_meta_find(v, "vocab", &vl);
        char *mine = lm_vocab_format(tx.chars, tx.vocab);
        long bytes = -1, crc = -1;
        nn_meta_long(v, "text_bytes", 0, LM_MAX_BYTES, &bytes);
        nn_meta_long(v, "text_crc", 0, 4294967295L, &crc);
        int same = mine && vv && strlen(mine) == vl && !memcmp(mine, vv, vl) && bytes == tx.bytes &&
                   crc == (long)tx.crc;
        free(mine);
        if (!same) {
            report("cannot resume from %s: %s is not the text it was trained on (its size, CRC or vocabulary "
                   "differ)", o->resume, tname);
            SETUP_FAIL;
        }
    }
    if (cpe < 1) {
        fprintf(stderr, LM_PROG " train: %s has %ld characters; --seq %ld with --batch %ld needs at least %ld\n",
                tname, tx.n, T, B, T * B + 1);
        SETUP_FAIL;
    }
    total = o->steps ? o->steps : o->epochs * cpe;
#ifdef LM_MPI
    if (dd.ranks > B) { /* the same on every rank: each says so */
        char nb[32], nr[32];
        snprintf(nb, sizeof nb, "%ld", B);
        snprintf(nr, sizeof nr, "%d", dd.ranks);
        report("--batch %s streams cannot be split over %s processes: every process needs a stream; run at most "
               "--batch processes (mpirun -np N with N <= --batch)", nb, nr);
        SETUP_FAIL;
    }
    dd.lo = (long)dd.rank * B / dd.ranks;
    dd.n = (long)(dd.rank + 1) * B / dd.ranks - dd.lo;
    if (dd.rank == 0) /* rank 0 alone writes */
#endif
    if (o->save && (check_writable(o->save) || check_writable(svg))) SETUP_FAIL;

    ag_rng rng;
    ag_rng_seed(&rng, (uint64_t)o->seed);
    nn_rnn_kind kind = !strcmp(o->model, "elman") ? NN_ELMAN : !strcmp(o->model, "gru") ? NN_GRU : NN_LSTM;
    if (lm_model_build(&m, kind, tx.vocab, (int)o->hidden, (int)o->layers, &rng, err, sizeof err) != 0) {
        report("cannot build the model: %s%s", err, "");
        SETUP_FAIL;
    }
    if (make_optim(&opt, &m.ps, o, err, sizeof err) != 0) {
        report("%s%s", err, "");
        SETUP_FAIL;
    }
    t = ag_tape_new();
    if (t) ag_tape_release_grads(t, 1); /* a chunk's gradients reuse one another's memory */
    idx = malloc((size_t)(T * B) * sizeof *idx);
    tgt = malloc((size_t)(T * B) * sizeof *tgt);
    if (!t || !idx || !tgt || lm_state_new(&st, &m, (int)B) != 0) {
        report("out of memory%s%s", "", "");
        SETUP_FAIL;
    }
#ifdef LM_MPI
    if (dist_setup(&dd, &m, err, sizeof err) != 0) {
        report("%s%s", err, "");
        SETUP_FAIL;
    }
#endif
    if (ck) {
        if (nn_ckpt_load(ck, &m.ps, &opt, err, sizeof err) != NN_OK ||
            read_run_state(nn_ckpt_meta(ck), &rs, &st, o->log_every, err, sizeof err) != 0) {
            report("cannot resume from %s: %s", o->resume, err);
            SETUP_FAIL;
        }
        if (!o->quiet) fprintf(stderr, "resuming %s at step %ld\n", o->resume, rs.step);
    }
    if (!o->quiet)
        printf("%s: %ld characters, %d distinct; %s, hidden %ld, layers %ld: %ld parameters; %ld steps of "
               "%ld x %ld characters (%ld per epoch)\n", tname, tx.n, tx.vocab, o->model, o->hidden, o->layers,
               nn_params_numel(&m.ps), total, B, T, cpe);
#ifdef LM_MPI
    if (!o->quiet && dd.ranks > 1)
        printf("%d processes: %ld to %ld of the %ld streams each\n", dd.ranks, B / dd.ranks,
               (B + dd.ranks - 1) / dd.ranks, B);
    dist_state(&dd, &st, 0);
    setup_failed = 0;
agree:
    if (dist_failed(&dd, setup_failed)) goto done;
    int stop_all = 0;
#define STOP stop_all
#else
#define STOP stop_requested
#endif
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double t0 = now(), tw = t0, last_loss = NAN;
    long start = rs.step;
    nn_params_zero_grad(&m.ps); /* once: from here on each update zeroes them as it reads them */
    while (rs.step < total && !STOP) {
        long chunk = rs.step % cpe;
#ifdef LM_MPI
        for (long j = 0; j < dd.n; j++)
            if (chunk == 0) lm_state_zero(&dd.ss[j]); /* a new pass over the text starts from zeros */
        int failed = 0;
        for (long j = 0; j < dd.n; j++) {
            long b = dd.lo + j;
            for (long s = 0; s < T; s++) {
                idx[s] = tx.ids[b * seg + chunk * T + s];
                tgt[s] = tx.ids[b * seg + chunk * T + s + 1];
            }
            ag_tape_reset(t);
            nn_params_zero_grad(dd.pp[j]);
            ag_tensor *last[2 * LM_MAX_LAYERS], *loss = NULL;
            double *v = dd.vals + 3 * j;
            v[0] = v[1] = v[2] = 0;
            if (!failed && nn_params_copy_data(dd.pp[j], &m.ps, err, sizeof err) != NN_OK) {
                report("step: %s%s", err, "");
                failed = 1;
            }
            if (!failed) {
                ag_tensor *logits = lm_forward(t, &dd.pm[j], &dd.ss[j], idx, (int)T, 1, last);
                ag_tensor *ce = logits ? ag_cross_entropy(t, logits, tgt, NULL) : NULL; /* mean over T */
                loss = ce ? ag_scale(t, ce, (ag_float)(1.0 / (double)B)) : NULL;
                if (!loss || ag_backward(t, loss) != AG_OK || lm_state_keep(t, &dd.ss[j], last) != AG_OK) {
                    report("step %s: %s", "", ag_tape_error(t));
                    failed = 1;
                } else v[0] = loss->data[0];
            }
            if (j == 0) v[2] = stop_requested;
        }
        dd.vals[1] = failed;
        double sums[3];
        nn_status ds = nn_dist_sum_grads(&m.ps, dd.pp, (int)dd.n, dd.vals, 3, sums);
        if (ds != NN_OK) {
            report("cannot add the gradients of the processes: %s%s", nn_status_name(ds), "");
            goto done;
        }
        if (sums[1] > 0) {
            if (!failed) fprintf(stderr, LM_PROG " train: another process failed at step %ld; stopping\n", rs.step + 1);
            goto done;
        }
        stop_all = sums[2] > 0;
        double step_loss = sums[0];
#else
        if (chunk == 0) lm_state_zero(&st); /* a new pass over the text starts from zeros */
        for (long s = 0; s < T; s++)
            for (long b = 0; b < B; b++) {
                long p = b * seg + chunk * T + s;
                idx[s * B + b] = tx.ids[p];
                tgt[s * B + b] = tx.ids[p + 1];
            }
        ag_tape_reset(t); /* (m's gradients are 0: zeroed before the loop, then by each update) */
        ag_tensor *last[2 * LM_MAX_LAYERS];
        ag_tensor *logits = lm_forward(t, &m, &st, idx, (int)T, (int)B, last);
        ag_tensor *loss = ag_cross_entropy(t, logits, tgt, NULL); /* mean over the T * B characters */
        if (!loss || ag_backward(t, loss) != AG_OK || lm_state_keep(t, &st, last) != AG_OK) {
            report("step %s: %s", "", ag_tape_error(t));
            goto done;
        }
        double step_loss = loss->data[0];
#endif
        ag_float scale; /* --clip's factor, found in the pass that checks the gradients */
        const char *bad = nn_params_check_grads(&m.ps, o->clip, &scale);
        if (bad) {
            fprintf(stderr, LM_PROG " train: step %ld: the gradient of %s is not finite; try a smaller --lr\n",
                    rs.step + 1, bad);
            goto done;
        }
        nn_optim_step_zero(&opt, scale); /* = nn_clip_grad_norm, nn_optim_step, nn_params_zero_grad */
        rs.step++;
        rs.window_sum += step_loss;
        if (++rs.window_n == o->log_every) {
            if (rs.n_curve == rs.cap_curve) {
                long cap = rs.cap_curve ? 2 * rs.cap_curve : 64;
                double *c = realloc(rs.curve, (size_t)cap * sizeof *c);
                if (!c) {
                    report("out of memory%s%s", "", "");
                    goto done;
                }
                rs.curve = c;
                rs.cap_curve = cap;
            }
            last_loss = rs.curve[rs.n_curve++] = rs.window_sum / (double)rs.window_n;
            rs.window_sum = 0;
            rs.window_n = 0;
            double tn = now();
            if (!o->quiet)
                printf("step %ld/%ld  epoch %.2f  loss %.4f  %.0f chars/s\n", rs.step, total,
                       (double)rs.step / (double)cpe, last_loss,
                       (double)(o->log_every * T * B) / (tn - tw));
            fflush(stdout);
            tw = tn;
        }
#ifdef LM_MPI
        if (o->save && o->save_every && rs.step % o->save_every == 0 && rs.step < total) {
            dist_state(&dd, &st, 1); /* rank 0 gathers the streams' states and writes */
            if (dist_failed(&dd, dd.rank == 0 && save_all(o, svg, &tx, &rs, &st, &m, &opt) != 0)) goto done;
        }
#else
        if (o->save && o->save_every && rs.step % o->save_every == 0 && rs.step < total &&
            save_all(o, svg, &tx, &rs, &st, &m, &opt) != 0)
            goto done;
#endif
    }
    double secs = now() - t0;
    long chars = (rs.step - start) * T * B;
    if (isnan(last_loss) && rs.window_n) last_loss = rs.window_sum / (double)rs.window_n;
#ifdef LM_MPI
    if (o->save) {
        dist_state(&dd, &st, 1);
        if (dist_failed(&dd, dd.rank == 0 && save_all(o, svg, &tx, &rs, &st, &m, &opt) != 0)) goto done;
    }
    if (dd.rank != 0) { /* rank 0 alone reports */
        rc = stop_all ? 130 : 0;
        goto done;
    }
    if (stop_all) stop_requested = 1;
#else
    if (o->save && save_all(o, svg, &tx, &rs, &st, &m, &opt) != 0) goto done;
#endif
    printf("steps=%ld chars=%ld seconds=%.3f chars_per_s=%.0f loss=%.4f\n", rs.step - start, chars, secs,
           secs > 0 ? (double)chars / secs : 0.0, last_loss);
    if (stop_requested) {
        fprintf(stderr, LM_PROG " train: stopped at step %ld of %ld%s%s\n", rs.step, total,
                o->save ? "; continue with --resume " : " (no --save: nothing kept)", o->save ? o->save : "");
        rc = 130;
    } else {
        if (o->save && !o->quiet) printf("saved %s and %s\n", o->save, svg);
        rc = 0;
    }
done:
#ifdef LM_MPI
    dist_free(&dd);
#endif
    free(idx);
    free(tgt);
    free(rs.curve);
    free(svg);
    lm_state_free(&st);
    ag_tape_free(t);
    nn_optim_free(&opt);
    lm_model_free(&m);
    lm_text_free(&tx);
    nn_ckpt_close(ck);
    free(abs);
    return rc;
}
