/* names_train.c -- the training loop, evaluation and prediction. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "names_train.h"

enum { CURVE_POINTS = 200, EVAL_BATCH = 64 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(FILE *f, int tty, long seen, long first, long total, double t0, double loss, int final)
{
    double dt = now() - t0, rate = dt > 0 ? (seen - first) / dt : 0, left = rate > 0 ? (total - seen) / rate : 0;
    fprintf(f, "%strain: %ld/%ld names (%3.0f%%)  %.0f names/s  loss %.4f  %s %.0fs%s", tty ? "\r" : "", seen, total,
            100.0 * seen / total, rate, loss, final ? "took" : "left", final ? dt : left, tty && !final ? "" : "\n");
    fflush(f);
}

void names_train_state_init(names_train_state *st, uint64_t seed)
{
    memset(st, 0, sizeof *st);
    ag_rng_seed(&st->rng, seed ^ 0x5eed);
    ag_rng_seed(&st->drop, seed ^ 0xd209);
    ag_rng_seed(&st->noise, seed ^ 0x9015e);
    st->epoch_rng = st->rng;
    st->pos = -1; /* no epoch shuffled yet */
}

size_t names_train_state_meta(const names_train_state *st, char *buf, size_t n)
{
    return (size_t)snprintf(buf, n,
                            "state.names_seen=%ld\nstate.steps=%ld\nstate.rng=%llu\nstate.drop=%llu\nstate.epoch_rng=%llu\n"
                            "state.pos=%ld\nstate.noise=%llu\n",
                            st->names_seen, st->steps, (unsigned long long)st->rng.state, (unsigned long long)st->drop.state,
                            (unsigned long long)st->epoch_rng.state, st->pos, (unsigned long long)st->noise.state);
}

int names_train_state_parse(names_train_state *st, const char *meta, char *err, size_t errlen)
{
    static const struct { const char *key; int is_unsigned, optional; long lo; size_t at; } keys[] = {
        {"state.names_seen", 0, 0, 0, offsetof(names_train_state, names_seen)},
        {"state.steps", 0, 0, 0, offsetof(names_train_state, steps)},
        {"state.rng", 1, 0, 0, offsetof(names_train_state, rng.state)},
        {"state.drop", 1, 0, 0, offsetof(names_train_state, drop.state)},
        {"state.epoch_rng", 1, 0, 0, offsetof(names_train_state, epoch_rng.state)},
        {"state.pos", 0, 0, -1, offsetof(names_train_state, pos)},
        /* (checkpoints from before --letter-noise have no noise stream: they did not use one) */
        {"state.noise", 1, 1, 0, offsetof(names_train_state, noise.state)},
    };
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        void *at = (char *)st + keys[i].at;
        int r = keys[i].is_unsigned ? nn_meta_u64(meta, keys[i].key, at)
                                    : nn_meta_long(meta, keys[i].key, keys[i].lo, LONG_MAX, at);
        r = r == 1 ? 0 : r == 0 ? 1 : -1; /* 0 taken, 1 absent, -1 not such a number */
        if (r == 0 || (r == 1 && keys[i].optional)) continue;
        snprintf(err, errlen, "its training state '%s' is %s", keys[i].key,
                 r == 1 ? "missing" : keys[i].is_unsigned ? "not a whole number from 0 to 2^64-1"
                                    : keys[i].lo < 0 ? "not a whole number from -1 up" : "not a whole number from 0 up");
        return -1;
    }
    return 0;
}

/* order := a fresh shuffle of 0..n-1 drawn from rng (the same rng state, the same order) */
static void shuffle(int *order, int n, ag_rng *rng)
{
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = ag_rng_below(rng, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

int names_optim_init(nn_optim *opt, names_model *m, const names_train_opts *o, char *err, size_t errlen)
{
    nn_status s = o->optim ? nn_adam_init(opt, &m->ps, o->lr, 0.9, 0.999, 1e-8, o->weight_decay)
                           : nn_sgd_init(opt, &m->ps, o->lr, o->momentum, o->weight_decay);
    if (s == NN_OK) return 0;
    nn_optim_free(opt);
    snprintf(err, errlen, "%s", s == NN_EARG ? "bad optimizer settings" : "out of memory for the optimizer state");
    return -1;
}

/* ---- data-parallel steps ------------------------------------------------------------
 * With T threads a batch is cut into T slices of consecutive names, with about the same
 * number of letters each. Worker w runs the forward and backward pass of slice w on its
 * own tape and its own copy of the model (worker 0 is the calling thread and uses m
 * itself; a copy's parameters read m's values, and only its gradients are its own). The
 * slices' gradients are then added into m's in worker order, and m is checked and
 * updated. Those passes over the parameters are shared too: worker i adds, reads and
 * updates part i of T of them (nn.h, "one update in parts"), which gives the numbers of
 * whole passes made by one thread. How a batch is cut and the order of every sum depend
 * only on T and the batch, so a seed and a thread count always give the same numbers.
 *
 * Across processes (names_dist) the batch is cut into S slices for the whole run, and
 * this process's T workers take slices first .. first+T-1. Every process draws the same
 * batch and cuts it alike; the slices' gradients (and losses) are added in slice order
 * across the processes (dist->sum_grads), so every process ends the step with the same
 * gradient, bit for bit that of S threads in one process, and takes the same update. */

typedef struct names_pool names_pool;

typedef struct {
    names_pool *pool;
    int id;                         /* 0 .. T-1: its slice, and its part of the parameters */
    names_model *m;                 /* worker 0: the caller's model; others: &copy */
    names_model copy;               /* owned (workers >= 1) */
    ag_tape *tape;                  /* owned */
    ag_rng drop;                    /* this worker's dropout masks (T > 1) */
    const names_item *const *items; /* this worker's slice of the batch */
    const int *targets;
    int n, n_batch;                 /* names in the slice, in the whole batch */
    double loss;                    /* the slice's part of the batch's mean loss */
    int failed;                     /* the tape's error says why */
} names_worker;

struct names_pool {
    int T, started;                 /* workers; threads running (workers 1 .. started) */
    int S, first;                   /* slices of a batch in the whole run; worker 0's slice */
    const names_dist *dist;         /* other processes (NULL: none) */
    nn_params **parts;              /* T, owned: the non-empty slices' registries, for dist */
    double *vals;                   /* 2T, owned: their (loss, failed), for dist */
    names_worker *w;                /* T, owned */
    pthread_t *th;                  /* T - 1, owned */
    nn_grad_part *gparts;           /* T, owned: each part's reading for the check (no dist) */
    double clip;                    /* the run's --clip, for those readings */
    nn_optim *opt;                  /* the optimizer, and the update's factor, for JOB_UPDATE */
    ag_float scale;
    atomic_int job;                 /* what the threads do at the next generation (names_job) */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_long generation;         /* bumped once per step for the threads */
    atomic_int pending, quit;       /* threads still in the step; 1: threads should end */
};

/* What the workers do when woken: their slice's forward and backward pass; their part
 * of adding the copies' gradients into m's and of the check's reading; their part of
 * the update. */
typedef enum { JOB_SLICE, JOB_SUM, JOB_UPDATE } names_job;

/* A step takes a fraction of a millisecond, about what a sleeping thread takes to wake:
 * each side first polls for a while (SPINS rounds, some tens of microseconds) and only
 * then sleeps on the condition variable. */
enum { SPINS = 20000 };

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One slice: forward, loss, backward. The gradients start at 0: m's because names_train
 * zeroes them before the first step and each update zeroes them as it reads them, a
 * copy's because the sum zeroes them as it reads them (across processes, dist's sum
 * does not, so they are zeroed here). A whole batch takes the mean
 * loss exactly as a single thread always has; a slice sums its losses and divides by
 * the batch size, so that the slices' gradients add up to the gradient of the batch's
 * mean. */
static void worker_step(names_worker *w)
{
    if (w->id > 0 && w->pool->dist) nn_params_zero_grad(&w->m->ps);
    ag_tape_reset(w->tape);
    w->loss = 0;
    w->failed = 0;
    if (w->n == 0) return;
    ag_tensor *logp = names_model_forward(w->tape, w->m, w->items, w->n);
    ag_tensor *loss = w->n == w->n_batch ? ag_nll_loss(w->tape, logp, w->targets, AG_MEAN)
                                         : ag_scale(w->tape, ag_nll_loss(w->tape, logp, w->targets, AG_SUM),
                                                    (ag_float)(1.0 / w->n_batch));
    if (!loss || ag_backward(w->tape, loss) != AG_OK) {
        w->failed = 1;
        return;
    }
    w->loss = loss->data[0];
}

/* Worker w's part of the job: m's gradients += each non-empty copy's, in worker order
 * (the copy's set to 0), then the check's reading; or the update of its part. */
static void run_job(names_worker *w)
{
    names_pool *p = w->pool;
    names_model *m = p->w[0].m;
    switch ((names_job)atomic_load(&p->job)) {
    case JOB_SLICE:
        worker_step(w);
        break;
    case JOB_SUM:
        for (int i = 1; i < p->T; i++) /* copies of one model: the layouts match */
            if (p->w[i].n > 0) nn_params_add_grads_part(&m->ps, &p->w[i].m->ps, 1, w->id, p->T, NULL, 0);
        nn_params_grad_part(&m->ps, p->clip, w->id, p->T, &p->gparts[w->id]);
        break;
    case JOB_UPDATE:
        nn_optim_step_zero_part(p->opt, p->scale, w->id, p->T);
        break;
    }
}

static void *worker_main(void *arg)
{
    names_worker *w = arg;
    names_pool *p = w->pool;
    long seen = 0;
    for (;;) {
        for (int i = 0; i < SPINS && atomic_load(&p->generation) == seen && !atomic_load(&p->quit); i++) relax();
        if (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->go, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->generation);
        run_job(w);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

static void pool_free(names_pool *p)
{
    if (p->started > 0) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->quit, 1);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
    }
    if (p->T > 1) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->go);
        pthread_cond_destroy(&p->done);
    }
    for (int i = 0; p->w && i < p->T; i++) {
        ag_tape_free(p->w[i].tape);
        if (i > 0 && p->w[i].m) names_model_free(&p->w[i].copy);
    }
    free(p->w);
    free(p->th);
    free(p->parts);
    free(p->vals);
    free(p->gparts);
    memset(p, 0, sizeof *p);
}

/* T workers over m, threads started, for slices first .. first+T-1 of S (dist: the other
 * processes, or NULL). 0, or -1 with err set (p is then empty). */
static int pool_init(names_pool *p, names_model *m, int T, int S, int first, const names_dist *dist, double clip,
                     char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->T = T;
    p->clip = clip;
    p->S = S;
    p->first = first;
    p->dist = dist;
    p->w = calloc((size_t)T, sizeof *p->w);
    p->th = T > 1 ? calloc((size_t)(T - 1), sizeof *p->th) : NULL;
    p->parts = dist ? calloc((size_t)T, sizeof *p->parts) : NULL;
    p->vals = dist ? calloc((size_t)(2 * T), sizeof *p->vals) : NULL;
    p->gparts = calloc((size_t)T, sizeof *p->gparts);
    if (!p->w || (T > 1 && !p->th) || (dist && (!p->parts || !p->vals)) || !p->gparts) goto oom;
    if (T > 1) {
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->go, NULL);
        pthread_cond_init(&p->done, NULL);
    }
    for (int i = 0; i < T; i++) {
        names_worker *w = &p->w[i];
        w->pool = p;
        w->id = i;
        if (!(w->tape = ag_tape_new())) goto oom;
        ag_tape_release_grads(w->tape, 1); /* a step's gradients reuse one another's memory */
        if (i == 0) {
            w->m = m;
            continue;
        }
        ag_rng unused;
        ag_rng_seed(&unused, 0);
        int flags = (m->bidirectional ? NAMES_BIDIRECTIONAL : 0) | (m->pool_mean ? NAMES_POOL_MEAN : 0);
        if (names_model_init(&w->copy, m->kind, m->hidden, m->layers, flags, m->n_classes,
                             (const char(*)[NAMES_MAX_CLASS_NAME])m->classes, &unused) != 0)
            goto oom;
        w->m = &w->copy;
        w->copy.dropout = m->dropout;
        /* the copy reads m's values (only the update writes them, while no slice runs);
         * its own stay unused in its block, which its free releases */
        for (int k = 0; k < m->ps.n; k++) w->copy.ps.p[k]->data = m->ps.p[k]->data;
    }
    for (int i = 1; i < T; i++) {
        int e = pthread_create(&p->th[i - 1], NULL, worker_main, &p->w[i]);
        if (e) {
            pool_free(p);
            snprintf(err, errlen, "cannot start training thread %d of %d: %s", i + 1, T, strerror(e));
            return -1;
        }
        p->started = i;
    }
    return 0;
oom:
    pool_free(p);
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* With several processes: every one's outcome (bad: this one failed, its message in
 * err). 0 when all went well; else 1 on every process, err holding the message of the
 * first that failed, "rank K of R: ...". Alone: bad. */
static int agree(const names_dist *dist, int bad, char *err, size_t errlen)
{
    if (!dist) return bad;
    int who = dist->first_failed(bad, err, errlen);
    if (who < 0) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", err);
    snprintf(err, errlen, "rank %d of %d: %s", who, dist->ranks, msg);
    return 1;
}

/* The gradients of this process's non-empty slices and those of the other processes,
 * added in slice order into worker 0's model, on every process; *loss: the batch's mean
 * loss. 0, or -1 with err (a slice's tape failed on some process, or the sum). */
static int dist_sum(names_pool *p, long seen, double *loss, char *err, size_t errlen)
{
    int k = 0, bad = 0;
    for (int i = 0; i < p->T; i++) {
        names_worker *w = &p->w[i];
        if (w->failed && !bad) {
            snprintf(err, errlen, "training step at name %ld: %s", seen, ag_tape_error(w->tape));
            bad = 1;
        }
        if (w->n == 0) continue;
        p->parts[k] = &w->m->ps;
        p->vals[2 * k] = w->loss;
        p->vals[2 * k + 1] = w->failed;
        k++;
    }
    double sums[2];
    nn_status s = p->dist->sum_grads(&p->w[0].m->ps, p->parts, k, p->vals, 2, sums);
    if (s != NN_OK) {
        snprintf(err, errlen, "training step at name %ld: summing the gradients across processes: %s", seen,
                 nn_status_name(s));
        return -1;
    }
    if (sums[1] > 0 && agree(p->dist, bad, err, errlen)) return -1;
    *loss = sums[0];
    return 0;
}

/* Every worker does its part of job (worker 0 in this thread); back when all are done. */
static void pool_run(names_pool *p, names_job job)
{
    atomic_store(&p->job, job);
    if (p->T > 1) {
        atomic_store(&p->pending, p->T - 1);
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->generation, 1);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    run_job(&p->w[0]);
    if (p->T > 1) {
        for (int i = 0; i < SPINS && atomic_load(&p->pending) > 0; i++) relax();
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* One step over batch[0..n-1] (names seen before it: seen): every worker's slice, then
 * the gradients summed into worker 0's model (m), across processes with dist. *loss:
 * the batch's mean loss. 0, or -1 with err naming the step and the tape's error. */
static int pool_step(names_pool *p, const names_item **batch, const int *targets, int n, ag_rng *drop, long seen,
                     double *loss_out, char *err, size_t errlen)
{
    int T = p->T, S = p->S;
    if (S > 1 && drop) { /* each slice its own masks, drawn from the run's dropout stream */
        uint64_t s = ag_rng_u64(drop);
        for (int i = 0; i < T; i++) {
            ag_rng_seed(&p->w[i].drop, s + (uint64_t)(p->first + i));
            p->w[i].m->drop_rng = &p->w[i].drop;
        }
    }
    /* slices of about equal work: slice i ends at the name whose middle letter is nearest
     * to (i + 1)/S of the batch's letters; this process's workers take theirs */
    long letters = 0, acc = 0;
    for (int b = 0; b < n; b++) letters += batch[b]->len;
    for (int i = 0, lo = 0; i < S; i++) {
        int hi = lo;
        while (hi < n && (i == S - 1 || (2 * acc + batch[hi]->len) * S <= 2 * letters * (i + 1)))
            acc += batch[hi++]->len;
        if (i >= p->first && i < p->first + T) {
            names_worker *w = &p->w[i - p->first];
            w->items = batch + lo;
            w->targets = targets + lo;
            w->n = hi - lo;
            w->n_batch = n;
        }
        lo = hi;
    }
    pool_run(p, JOB_SLICE);
    if (p->dist) return dist_sum(p, seen, loss_out, err, errlen);
    double loss = 0;
    names_worker *failed = NULL;
    for (int i = 0; i < T; i++) {
        if (p->w[i].failed && !failed) failed = &p->w[i];
        loss += p->w[i].loss;
    }
    if (failed) {
        snprintf(err, errlen, "training step at name %ld: %s", seen, ag_tape_error(failed->tape));
        return -1;
    }
    if (T > 1) pool_run(p, JOB_SUM); /* in worker order: the same sums every run */
    *loss_out = loss;
    return 0;
}

/* The check of m's gradients after pool_step (nn_params_check_grads, with the run's
 * --clip): from the parts' readings when the workers took them, else in one pass. */
static const char *pool_check(const names_pool *p, const names_model *m, ag_float *scale)
{
    if (p->T > 1 && !p->dist) return nn_params_check_parts(&m->ps, p->clip, p->gparts, p->T, scale);
    return nn_params_check_grads(&m->ps, p->clip, scale);
}

/* nn_optim_step_zero(opt, scale), each worker its part. */
static void pool_update(names_pool *p, nn_optim *opt, ag_float scale)
{
    if (p->T == 1) {
        nn_optim_step_zero(opt, scale); /* = nn_clip_grad_norm, nn_optim_step, nn_params_zero_grad */
        return;
    }
    nn_optim_begin_step(opt);
    p->opt = opt;
    p->scale = scale;
    pool_run(p, JOB_UPDATE);
}

/* A run in progress: what the loop keeps besides the model and the optimizer. */
typedef struct {
    const names_data *d;
    const names_train_opts *o;
    names_train_state st;  /* the random streams and the epoch position */
    int *order;            /* --epochs: the current epoch's shuffle of the training names */
    names_item *noisy;     /* --letter-noise: the batch's altered copies */
    long total;            /* names to see in all */
    long every, first;     /* a curve point per `every` names; names seen before this call */
    long stretch_n;        /* names since the last curve point, and their loss */
    double stretch_loss, loss_sum, recent; /* recent: the loss's running average, for the progress line */
    double t0, last_print;
    int tty, decile;
} run;

/* The next n names and their languages into batch and targets: shuffled passes over
 * every training name (--epochs), or the tutorial's draw (a language uniformly, then
 * one of its names); with --letter-noise, a copy with some letters swapped. */
static void draw_batch(run *u, const names_item **batch, int *targets, int n)
{
    const names_data *d = u->d;
    for (int b = 0; b < n; b++) {
        const names_item *it;
        if (u->o->epochs > 0) {
            if (u->st.pos < 0 || u->st.pos == d->n_train) {
                u->st.epoch_rng = u->st.rng;
                shuffle(u->order, d->n_train, &u->st.rng);
                u->st.pos = 0;
            }
            it = &d->train[u->order[u->st.pos++]];
        } else {
            int c = ag_rng_below(&u->st.rng, d->n_classes);
            int lo = d->class_start[c], cnt = d->class_start[c + 1] - lo;
            it = &d->train[d->by_class[lo + ag_rng_below(&u->st.rng, cnt)]];
        }
        if (u->noisy) {
            u->noisy[b] = *it;
            for (int i = 0; i < it->len; i++)
                if (ag_rng_uniform(&u->st.noise) < u->o->letter_noise)
                    u->noisy[b].text[i] = NAMES_LETTERS[ag_rng_below(&u->st.noise, NAMES_N_LETTERS)];
            it = &u->noisy[b];
        }
        batch[b] = it;
        targets[b] = it->label;
    }
}

/* A step's loss and gradients must be finite before they touch the model. 0 with
 * *scale the factor --clip scales the gradients by (1 without clipping), found in the
 * same pass as the check; or -1 with the message: which tensor, or the loss, and what
 * to do. */
static int check_step(double l, const names_pool *p, const names_model *m, ag_float *scale,
                      const names_train_result *r, char *err, size_t errlen)
{
    *scale = 1;
    const char *tensor = isfinite(l) ? pool_check(p, m, scale) : NULL;
    if (isfinite(l) && !tensor) return 0;
    char what[128];
    if (tensor) snprintf(what, sizeof what, "the gradient of '%s' has a NaN or Inf", tensor);
    else snprintf(what, sizeof what, "the loss is %g", l);
    snprintf(err, errlen, "step %ld (after %ld names): %s; stopped before the step changed the model "
             "(lower --lr or set --clip)", r->steps, r->names_seen, what);
    return -1;
}

/* After a step of n names with mean loss l: the loss curve and the progress line. */
static void account(run *u, names_train_result *r, int n, double l)
{
    u->loss_sum += l * n;
    u->stretch_loss += l * n;
    u->stretch_n += n;
    u->recent = u->recent == 0 ? l : 0.99 * u->recent + 0.01 * l;
    if (u->stretch_n >= u->every && r->n_points < 2 * CURVE_POINTS) {
        r->curve_x[r->n_points] = (double)r->names_seen;
        r->curve_y[r->n_points++] = u->stretch_loss / u->stretch_n;
        u->stretch_loss = 0;
        u->stretch_n = 0;
    }
    if (!u->o->progress) return;
    double t = now();
    int dec = (int)(10 * r->names_seen / u->total);
    if (r->names_seen < u->total && (u->tty ? t - u->last_print > 0.25 : dec > u->decile)) {
        progress(u->o->progress, u->tty, r->names_seen, u->first, u->total, u->t0, u->recent, 0);
        u->last_print = t;
        u->decile = dec;
    }
}

/* The starting state: fresh from the seed, or the resumed one (inside an epoch, that
 * epoch's order is drawn again). 0, or -1 with err set. */
static int start(run *u, names_train_result *r, char *err, size_t errlen)
{
    if (u->o->resume) u->st = *u->o->resume;
    else names_train_state_init(&u->st, u->o->seed);
    if (u->o->epochs > 0 && u->st.pos >= 0) {
        ag_rng again = u->st.epoch_rng;
        shuffle(u->order, u->d->n_train, &again);
        if (u->st.pos > u->d->n_train) {
            snprintf(err, errlen, "cannot resume: position %ld is past the %d training names", u->st.pos,
                     u->d->n_train);
            return -1;
        }
    }
    r->names_seen = u->st.names_seen;
    r->steps = u->st.steps;
    u->every = u->total / CURVE_POINTS > 0 ? u->total / CURVE_POINTS : 1;
    u->first = r->names_seen;
    u->tty = u->o->progress && isatty(fileno(u->o->progress));
    return 0;
}

int names_train(names_model *m, nn_optim *opt, const names_data *d, const names_train_opts *o,
                names_train_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->saved_at = -1;
    run u = {.d = d, .o = o, .total = o->epochs > 0 ? (long)o->epochs * d->n_train : o->iters};
    /* --schedule cosine: from --lr down to 0 over the run, by names seen */
    const nn_schedule cosine = {.kind = NN_SCHED_COSINE, .base_lr = o->lr, .total = u.total > 0 ? u.total : 1};
    int B = o->batch, S = o->threads > 1 ? o->threads : 1, T = S, first = 0;
    const names_dist *dist = o->dist && o->dist->ranks > 1 ? o->dist : NULL;
    if (dist && S < dist->ranks) { /* the same on every process: all return */
        snprintf(err, errlen, "%d slices of a batch cannot be shared by %d processes", S, dist->ranks);
        return -1;
    }
    if (dist) { /* this process's slices: [rank*S/ranks, (rank+1)*S/ranks) */
        first = (int)((long)dist->rank * S / dist->ranks);
        T = (int)((long)(dist->rank + 1) * S / dist->ranks) - first;
    }
    names_pool pool = {0};
    const names_item **batch = malloc((size_t)B * sizeof *batch);
    int *targets = malloc((size_t)B * sizeof *targets);
    u.noisy = o->letter_noise > 0 ? malloc((size_t)B * sizeof *u.noisy) : NULL;
    u.order = malloc((size_t)d->n_train * sizeof *u.order);
    r->curve_x = malloc(CURVE_POINTS * 2 * sizeof *r->curve_x);
    r->curve_y = malloc(CURVE_POINTS * 2 * sizeof *r->curve_y);
    int rc = -1, bad = 0;
    if (!batch || !targets || !u.order || !r->curve_x || !r->curve_y || (o->letter_noise > 0 && !u.noisy)) {
        snprintf(err, errlen, "out of memory");
        bad = 1;
    } else if (start(&u, r, err, errlen) != 0) {
        bad = 1;
    } else {
        m->dropout = o->dropout;
        m->drop_rng = o->dropout > 0 ? &u.st.drop : NULL;
        bad = pool_init(&pool, m, T, S, first, dist, o->clip, err, errlen) != 0;
    }
    if (agree(dist, bad, err, errlen)) goto done; /* no process starts unless all can */
    nn_params_zero_grad(&m->ps); /* once: from here on each update zeroes them as it reads them */
    u.t0 = u.last_print = now();
    while (r->names_seen < u.total) {
        int n = (int)(u.total - r->names_seen < B ? u.total - r->names_seen : B);
        names_train_state before = u.st; /* what a save made during this step records */
        before.names_seen = r->names_seen;
        before.steps = r->steps;
        draw_batch(&u, batch, targets, n);
        double l = 0;
        if (pool_step(&pool, batch, targets, n, o->dropout > 0 ? &u.st.drop : NULL, r->names_seen, &l, err, errlen) != 0)
            goto done;
        r->steps++;
        ag_float scale;
        if (check_step(l, &pool, m, &scale, r, err, errlen) != 0) goto done;
        /* A periodic save is made here, before the update: these parameters have just given a
         * finite loss and gradient, so the file always holds a state known to be good. (With
         * other processes, rank 0 saves and all learn whether it could.) */
        if ((o->save || dist) && o->save_every > 0 &&
            (r->names_seen + n) / o->save_every != r->names_seen / o->save_every) {
            if (agree(dist, o->save && o->save(o->save_ud, &before, err, errlen) != 0, err, errlen)) goto done;
            r->saved_at = r->names_seen;
        }
        if (o->cosine) opt->lr = nn_schedule_lr(&cosine, r->names_seen);
        pool_update(&pool, opt, scale);
        /* (an update that overflows shows up at the next step, as a non-finite loss) */
        r->names_seen += n;
        account(&u, r, n, l);
    }
    r->seconds = now() - u.t0;
    r->names_per_s = r->seconds > 0 ? (r->names_seen - u.first) / r->seconds : 0;
    r->mean_loss = r->names_seen > u.first ? u.loss_sum / (r->names_seen - u.first) : 0;
    r->end = u.st;
    r->end.names_seen = r->names_seen;
    r->end.steps = r->steps;
    if (o->progress) progress(o->progress, u.tty, r->names_seen, u.first, u.total, u.t0, u.recent, 1);
    rc = 0;
done:
    m->drop_rng = NULL; /* evaluation from here on */
    pool_free(&pool);
    free(batch);
    free(u.noisy);
    free(targets);
    free(u.order);
    if (rc != 0) names_train_result_free(r);
    return rc;
}

void names_train_result_free(names_train_result *r)
{
    free(r->curve_x);
    free(r->curve_y);
    r->curve_x = r->curve_y = NULL;
    r->n_points = 0;
}

int names_evaluate(names_model *m, const names_item *items, int n, names_eval *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    int C = m->n_classes;
    e->C = C;
    e->n = n;
    e->confusion = calloc((size_t)C * C, sizeof *e->confusion);
    ag_tape *tape = ag_tape_new();
    const names_item *batch[EVAL_BATCH];
    int rc = 0;
    if (!e->confusion || !tape) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (tape) ag_tape_set_grad(tape, 0);
    for (int at = 0; at < n && rc == 0; at += EVAL_BATCH) {
        int k = n - at < EVAL_BATCH ? n - at : EVAL_BATCH;
        for (int i = 0; i < k; i++) batch[i] = &items[at + i];
        ag_tape_reset(tape);
        ag_tensor *logp = names_model_forward(tape, m, batch, k);
        if (!logp) {
            snprintf(err, errlen, "evaluation: %s", ag_tape_error(tape));
            rc = -1;
            break;
        }
        for (int i = 0; i < k; i++) {
            double row[NAMES_MAX_CLASSES];
            names_model_predict_row(m, logp->data + i * C, row);
            int best = 0;
            for (int c = 1; c < C; c++)
                if (row[c] > row[best]) best = c;
            int truth = batch[i]->label;
            if (truth >= 0 && truth < C) e->confusion[truth * C + best]++;
            e->correct += best == truth;
        }
    }
    ag_tape_free(tape);
    if (rc != 0) {
        names_eval_free(e);
        return rc;
    }
    e->accuracy = n ? (double)e->correct / n : 0;
    double sum = 0;
    int langs = 0;
    for (int c = 0; c < C; c++) {
        int total = 0;
        for (int p = 0; p < C; p++) total += e->confusion[c * C + p];
        if (total) {
            sum += (double)e->confusion[c * C + c] / total;
            langs++;
        }
    }
    e->macro = langs ? sum / langs : 0;
    return 0;
}

void names_eval_free(names_eval *e)
{
    free(e->confusion);
    e->confusion = NULL;
}

int names_predict(names_model *m, const names_item *item, int k, int *idx, double *lp, char *err, size_t errlen)
{
    ag_tape *tape = ag_tape_new();
    if (!tape) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ag_tape_set_grad(tape, 0);
    ag_tensor *logp = names_model_forward(tape, m, &item, 1);
    if (!logp) {
        snprintf(err, errlen, "prediction: %s", ag_tape_error(tape));
        ag_tape_free(tape);
        return -1;
    }
    int C = m->n_classes;
    double row[NAMES_MAX_CLASSES];
    names_model_predict_row(m, logp->data, row);
    if (k > C) k = C;
    for (int i = 0; i < k; i++) { /* selection of the k largest */
        int best = -1;
        for (int c = 0; c < C; c++) {
            int used = 0;
            for (int j = 0; j < i; j++) used |= idx[j] == c;
            if (!used && (best < 0 || row[c] > row[best])) best = c;
        }
        idx[i] = best;
        lp[i] = row[best];
    }
    ag_tape_free(tape);
    return k;
}
