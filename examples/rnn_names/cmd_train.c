/* cmd_train.c -- rnn_names train: settings (fresh or from a checkpoint to resume),
 * checks made before any work, the run, the saves, the evaluation and the plots. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "names_cmd.h"
#ifdef NAMES_MPI
#include "nn_dist.h"
#endif

#define PROG NAMES_PROG

/* ---- train ---- */

/* What a save needs: the run's settings as meta text, plus the state of the moment. */
typedef struct {
    const char *path, *meta_base;
    names_model *m;
    nn_optim *opt;
} saver;

static int save_now(void *ud, const names_train_state *st, char *err, size_t errlen)
{
    saver *s = ud;
    size_t nb = strlen(s->meta_base), ns = names_train_state_meta(st, NULL, 0);
    char *meta = malloc(nb + 40 + ns + 1);
    if (!meta) {
        snprintf(err, errlen, "checkpoint %s: out of memory", s->path);
        return -1;
    }
    int k = snprintf(meta, nb + 40, "%snames_seen=%ld\n", s->meta_base, st->names_seen);
    names_train_state_meta(st, meta + k, ns + 1);
    nn_status r = nn_ckpt_save(s->path, meta, &s->m->ps, s->opt, err, errlen);
    free(meta);
    return r == NN_OK ? 0 : -1;
}

/* The settings of a run, as meta text (model lines first), allocated; NULL: no memory. */
static char *run_meta(const options *o, const names_model *m)
{
    size_t a = names_model_meta(m, NULL, 0), b = names_settings_meta(o, NULL, 0);
    char *meta = malloc(a + b + 1);
    if (!meta) return NULL;
    names_model_meta(m, meta, a + 1);
    names_settings_meta(o, meta + a, b + 1);
    return meta;
}

/* --resume: every setting and the state of the run from the checkpoint, each checked as
 * its flag would be. 0, or 1 (2: a usage error) with a message. *ck and *store are the
 * caller's to free, whatever happens. */
static int resume_settings(options *o, nn_ckpt **ck, char **store, names_train_state *st)
{
    char err[1024];
    if (o->n_given > 0)
        return names_cli_bad("train", "--resume takes every setting from the checkpoint; besides it give only --save, "
                             "--save-every or --quiet%s%s", "", "");
    if (nn_ckpt_open(o->resume, ck, err, sizeof err) != NN_OK) {
        names_report("train", err);
        return 1;
    }
    const char *meta = nn_ckpt_meta(*ck);
    if (names_settings_from_meta(o, meta, NAMES_SETTINGS_ALL, store, err, sizeof err) != 0 ||
        names_letters_check(meta, err, sizeof err) != 0 || names_train_state_parse(st, meta, err, sizeof err) != 0) {
        names_reportf("train", "cannot resume from checkpoint %s: %s", o->resume, err);
        return 1;
    }
    if (!o->save) o->save = o->resume;
    return 0;
}

/* A fresh run: the settings that only make sense together, and the defaults that
 * depend on others. 0, or 2 with a message. */
static int fresh_settings(options *o)
{
    char why[256];
    if (names_settings_check(o, why, sizeof why) != 0) return names_cli_bad("train", "%s%s", why, "");
    if (!o->iters && !o->epochs) o->iters = o->data ? 100000 : 20000;
    if (!o->save) o->save = "rnn_names.ckpt";
    return 0;
}

/* Fails now, not after the training, when the checkpoint could not be written: FILE
 * must not be a directory, and its directory must take a new file (FILE.tmp is created
 * and removed again, as the save itself will). 0, or 1 with a message. */
static int check_save(const char *save)
{
    struct stat st;
    char err[1024];
    if (stat(save, &st) == 0 && S_ISDIR(st.st_mode)) {
        names_reportf("train", "--save %s: is a directory; give a file name (checked before training)", save);
        return 1;
    }
    nn_file probe;
    if (nn_file_open(&probe, save, err, sizeof err) != NN_OK) {
        names_reportf("train", "cannot write the checkpoint: %s (checked before training)", err);
        return 1;
    }
    nn_file_abort(&probe);
    return 0;
}

/* The data directory as the checkpoint will store it: absolute (realpath), so that eval
 * and --resume find it from any directory. *abs is the caller's to free. 0, or 1. */
static int absolute_data(options *o, char **abs)
{
    if (!o->data) return 0;
    if ((*abs = realpath(o->data, NULL)) != NULL) o->data = *abs; /* else load_data says why */
    if (strchr(o->data, '\n')) {
        names_reportf("train", "--data %s: the path holds a newline, which a checkpoint cannot store; rename the "
                 "directory", o->data);
        return 1;
    }
    return 0;
}

/* --resume: the checkpoint's languages must be those of the data it names, in order. */
static int check_resume_classes(const options *o, const nn_ckpt *ck, const names_data *d)
{
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME], err[512];
    int n, same;
    if (names_classes_from_meta(nn_ckpt_meta(ck), classes, &n, err, sizeof err) != 0) {
        names_reportf("train", "cannot resume from checkpoint %s: %s", o->resume, err);
        return 1;
    }
    same = n == d->n_classes;
    for (int c = 0; same && c < n; c++) same = !strcmp(classes[c], d->classes[c]);
    if (same) return 0;
    names_reportf("train", "cannot resume from checkpoint %s: its setting 'classes' lists %d languages (%s, %s, ...) "
             "but its data %s has %d (%s, %s, ...)", o->resume, n, classes[0], classes[1],
             o->data ? o->data : "(the built-in sample)", d->n_classes, d->classes[0], d->classes[1]);
    return 1;
}

/* The training data: loaded, cut to distinct pairs with --distinct (shift: the prior
 * correction), and on --resume checked against the checkpoint. 0, or 1. */
static int train_data(const options *o, const nn_ckpt *ck, names_data *d, double *shift, int quiet)
{
    char err[1024];
    if (names_cmd_load_data(d, o->data, err, sizeof err) != 0) {
        names_report("train", err);
        return 1;
    }
    if (ck && check_resume_classes(o, ck, d) != 0) return 1;
    int dropped = o->distinct ? names_distinct(d, shift) : 0;
    if (dropped < 0) {
        names_report("train", "out of memory");
        return 1;
    }
    if (o->distinct && !quiet)
        fprintf(stderr, "distinct: %d training lines repeat a (name, language) pair and are left out; %d remain\n",
                dropped, d->n_train);
    return 0;
}

/* The loss curve (CSV, SVG) and the confusion matrix (SVG) beside the checkpoint. */
static int write_plots(const options *o, const names_model *m, const names_train_result *tr, const names_eval *ev,
                       char *err, size_t errlen)
{
    char title[256];
    char *csv = names_beside(o->save, ".loss.csv"), *svg = names_beside(o->save, ".loss.svg"),
         *conf = names_beside(o->save, ".confusion.svg");
    int rc = -1;
    if (!csv || !svg || !conf) snprintf(err, errlen, "out of memory");
    else if (names_write_csv(csv, tr->curve_x, tr->curve_y, tr->n_points, err, errlen) == 0) {
        snprintf(title, sizeof title, "rnn_names: %s, hidden %ld, %s lr %g, batch %ld", o->model, o->hidden, o->optim,
                 o->lr, o->batch);
        if (nn_plot_line(svg, tr->curve_x, tr->curve_y, tr->n_points, title, "names seen", "mean training loss (NLL)",
                            err, errlen) == 0) {
            snprintf(title, sizeof title, "Confusion on the test split: accuracy %.3f, macro %.3f", ev->accuracy, ev->macro);
            rc = names_plot_confusion(conf, ev->confusion, ev->C, (const char(*)[NAMES_MAX_CLASS_NAME])m->classes, title,
                                      err, errlen);
        }
    }
    free(csv);
    free(svg);
    free(conf);
    return rc;
}

static void print_summary(const options *o, const names_model *m, const names_train_result *tr, const names_eval *ev,
                          int ranks)
{
    char save[1024], procs[32] = "";
    names_escape(o->save, save, sizeof save);
    if (ranks > 1) snprintf(procs, sizeof procs, " processes=%d", ranks);
    printf("model=%s hidden=%ld layers=%ld bidirectional=%d pool=%s dropout=%g optim=%s lr=%g schedule=%s batch=%ld "
           "seed=%ld threads=%ld%s distinct=%d letter_noise=%g\n", o->model, o->hidden, o->layers, o->bidirectional,
           o->pool, o->dropout, o->optim, o->lr, o->schedule, o->batch, o->seed, o->threads, procs, o->distinct,
           o->letter_noise);
    printf("train_names=%ld\ntrain_seconds=%.3f\ntrain_names_per_s=%.0f\nmean_train_loss=%.4f\n", tr->names_seen,
           tr->seconds, tr->names_per_s, tr->mean_loss);
    names_cmd_print_eval(ev, m, 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *base = save; /* the checkpoint's name without .ckpt, as the plots are named */
    int blen = (int)strlen(base);
    if (blen > 5 && !strcmp(base + blen - 5, ".ckpt")) blen -= 5;
    printf("\npeak_rss_mb=%.1f\ncheckpoint=%s\nloss_csv=%.*s.loss.csv\nloss_svg=%.*s.loss.svg\n"
           "confusion_svg=%.*s.confusion.svg\n", ru.ru_maxrss / 1024.0, save, blen, base, blen, base, blen, base);
}

/* After a run that failed: what is on disk. */
static void report_kept(const options *o, const names_train_result *tr)
{
    if (tr->saved_at >= 0)
        names_reportf("train", "the last good checkpoint, after %ld names, is kept in %s", tr->saved_at, o->save);
    else if (o->resume && !strcmp(o->save, o->resume))
        names_reportf("train", "no checkpoint was written by this run; %s still holds the run as it was resumed", o->save);
    else
        names_reportf("train", "no checkpoint was written (the run stopped before its first save%s)",
                o->save_every ? "" : "; --save-every N saves as it goes");
}

/* ---- several processes (mpirun; built with -DAG_MPI=ON) ----
 * Every process parses the same command, loads its own copy of the data and builds the
 * model from the seed (or reads the checkpoint it resumes); each step it trains its
 * slices of the batch and the gradients are summed across the processes in slice order
 * (nn_dist_sum_grads), so every process takes the same update. Rank 0 alone checks and
 * writes the checkpoint, prints progress, evaluates and writes the plots. Wherever one
 * process may fail alone (its data, a file, memory) all agree before going on, so a
 * failure stops every process with a message instead of leaving the others waiting. */

/* Whether every process may go on: each passes its outcome so far (0: ready; 1 or 2: it
 * failed and printed why; -1: it stops without error, as --help). 0 when all are ready;
 * else this process's own outcome, or 1 when only another failed (rank 0 names it). */
static int all_ready(const names_dist *dist, int rc)
{
    if (dist->ranks < 2) return rc;
    char none[1] = "";
    int who = dist->first_failed(rc != 0, none, sizeof none);
    if (who < 0) return 0;
    if (dist->rank == 0 && who != 0)
        names_reportf("train", "rank %d of %d cannot go on (its message says why), so every rank stops", who,
                      dist->ranks);
    return rc ? rc : 1;
}

/* A fresh run's --threads T is per process: the batch is cut into ranks x T slices, and
 * that is what the checkpoint records as threads (one process with that many threads
 * computes the same numbers). A resumed run shares the checkpoint's slices among the
 * processes. 0, or 1 with a message. */
static int share_slices(options *o, const names_dist *dist)
{
    if (dist->ranks < 2) return 0;
    long S = o->resume ? o->threads : o->threads * dist->ranks;
    if (S > 64) {
        names_reportf("train", "%d processes x --threads %ld = %ld slices of each batch; at most 64", dist->ranks,
                      o->threads, S);
        return 1;
    }
    if (S < dist->ranks) {
        names_reportf("train", "cannot resume %s on %d processes: its run cuts each batch into %ld slices "
                      "(threads=%ld); use at most %ld processes", o->resume, dist->ranks, S, S, S);
        return 1;
    }
    o->threads = S;
    return 0;
}

/* A CRC-32 of what a process trains on: the languages, the training names in order,
 * the prior correction. */
static uint32_t data_crc(const names_data *d, const double *shift)
{
    uint32_t c = nn_crc32(0, &d->n_classes, sizeof d->n_classes);
    for (int k = 0; k < d->n_classes; k++) c = nn_crc32(c, d->classes[k], strlen(d->classes[k]) + 1);
    for (int i = 0; i < d->n_train; i++) {
        const names_item *it = &d->train[i];
        c = nn_crc32(c, it->text, (size_t)it->len);
        c = nn_crc32(c, &it->label, sizeof it->label);
    }
    return nn_crc32(c, shift, NAMES_MAX_CLASSES * sizeof *shift);
}

/* Every process must run the same settings on the same names from the same starting
 * point: the settings (the data's path aside: each machine may keep its copy elsewhere)
 * and the run's state, the training names, the parameters and the optimizer's state are
 * compared with rank 0's. 0, or 1 on every process (rank 0 names the first that differs). */
static int same_everywhere(const names_dist *dist, const char *meta, const names_train_state *st,
                           const names_data *d, const double *shift, const names_model *m, const nn_optim *opt)
{
    if (dist->ranks < 2) return 0;
    size_t n = strlen(meta), ns = names_train_state_meta(st, NULL, 0);
    char *text = malloc(n + ns + 1);
    int bad = text == NULL;
    if (dist->first_failed(bad, NULL, 0) >= 0) {
        if (dist->rank == 0) names_report("train", "out of memory");
        free(text);
        return 1;
    }
    size_t k = 0;
    for (const char *line = meta; *line;) { /* every line but data=... */
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "data=", 5) != 0) {
            memcpy(text + k, line, len);
            k += len;
        }
        line += len;
    }
    names_train_state_meta(st, text + k, ns + 1);
    uint32_t crc = data_crc(d, shift);
    long state = opt->state ? opt->state_len : 0;
    /* (each comparison gives every process the same answer, so all take the same branches) */
    const char *what = NULL, *hint = " (its copy of the checkpoint?)";
    int who;
    if ((who = dist->compare(text, k + ns)) >= 0) {
        what = "settings or starting state differ";
        hint = "";
    } else if ((who = dist->compare(&crc, sizeof crc)) >= 0) {
        what = "training names differ";
        hint = " (its copy of the data?)";
    } else if ((who = dist->compare_params(&m->ps, 0)) >= 0) {
        what = "parameters differ";
    } else if ((who = dist->compare(&opt->step, sizeof opt->step)) >= 0 ||
               (who = dist->compare(&state, sizeof state)) >= 0 ||
               (who = dist->compare(opt->state, (size_t)state * sizeof *opt->state)) >= 0) {
        what = "optimizer state differs";
    }
    free(text);
    if (!what) return 0;
    if (dist->rank == 0)
        names_reportf("train", "rank %d's %s from rank 0's%s; every rank must train the same run, so all stop", who,
                      what, hint);
    return 1;
}

/* Builds the model, trains it, saves it, evaluates it and writes the plots. 0, or 1. */
static int train_model(const options *o, const nn_ckpt *ck, const names_data *d, const double *shift,
                       const names_train_state *resume_state, const names_dist *dist)
{
    char err[1024];
    names_kind kind = NAMES_TUTORIAL;
    names_kind_parse(o->model, &kind); /* a word of the settings table: always one of the four */
    ag_rng rng;
    ag_rng_seed(&rng, (uint64_t)o->seed);
    names_model m;
    int flags = (o->bidirectional ? NAMES_BIDIRECTIONAL : 0) | (!strcmp(o->pool, "mean") ? NAMES_POOL_MEAN : 0);
    int rank0 = dist->rank == 0, ranks = dist->ranks;
    names_train_opts to = {.optim = !strcmp(o->optim, "adam"), .lr = o->lr, .momentum = o->momentum,
                           .weight_decay = o->weight_decay, .clip = o->clip, .iters = o->epochs ? 0 : o->iters,
                           .epochs = (int)o->epochs, .batch = (int)o->batch, .seed = (uint64_t)o->seed,
                           .threads = (int)o->threads, .cosine = !strcmp(o->schedule, "cosine"), .dropout = o->dropout,
                           .letter_noise = o->letter_noise, .progress = o->quiet || !rank0 ? NULL : stderr,
                           .resume = ck ? resume_state : NULL, .dist = ranks > 1 ? dist : NULL};
    names_train_result tr = {0};
    names_eval ev = {0};
    nn_optim opt = {0};
    char *meta = NULL;
    saver sv = {o->save, NULL, &m, &opt};
    int rc = 1, who;
    if (names_model_build(&m, kind, (int)o->hidden, (int)o->layers, flags, d->n_classes, d->classes, &rng, err,
                          sizeof err) != 0) {
        fprintf(stderr, PROG " train: cannot build the model: %s\n", err); /* the cause, from nn/ */
    } else {
        memcpy(m.prior_shift, shift, sizeof m.prior_shift);
        if (!(meta = run_meta(o, &m)))
            names_report("train", "out of memory");
        else if (names_optim_init(&opt, &m, &to, err, sizeof err) != 0)
            names_report("train", err);
        else if (ck && nn_ckpt_load(ck, &m.ps, &opt, err, sizeof err) != NN_OK) /* all checked before any is copied */
            names_reportf("train", "cannot resume: %s", err);
        else
            rc = 0;
    }
    sv.meta_base = meta;
    to.save_every = o->save_every;
    to.save = rank0 ? save_now : NULL;
    to.save_ud = &sv;
    names_train_state fresh;
    names_train_state_init(&fresh, (uint64_t)o->seed);
    int ready = all_ready(dist, rc) == 0 &&
                same_everywhere(dist, meta, ck ? resume_state : &fresh, d, shift, &m, &opt) == 0;
    rc = 1;
    if (ready) {
        char thr[64] = "", shown[1024];
        if (ck && rank0)
            fprintf(stderr, "resuming %s after %ld names\n", names_escape(o->resume, shown, sizeof shown),
                    resume_state->names_seen);
        if (ranks > 1) snprintf(thr, sizeof thr, ", %d processes, %ld slices", ranks, o->threads);
        else if (o->threads > 1) snprintf(thr, sizeof thr, ", %ld threads", o->threads);
        if (rank0)
            fprintf(stderr, "model: %s, hidden %ld, %ld parameters; %s lr %g, batch %ld, %s %ld%s; kernels: %s\n",
                    o->model, o->hidden, nn_params_numel(&m.ps), o->optim, o->lr, o->batch,
                    o->epochs ? "epochs" : "names", o->epochs ? o->epochs : o->iters, thr, ag_kernels());
        if (names_train(&m, &opt, d, &to, &tr, err, sizeof err) != 0) {
            if (rank0) {
                names_report("train", err);
                report_kept(o, &tr);
            }
        } else if (ranks > 1 && (who = dist->compare_params(&m.ps, 0)) >= 0) {
            if (rank0)
                names_reportf("train", "after training, rank %d's parameters differ from rank 0's: the processes did not "
                              "compute alike (different processors? build with -DAG_CLONES=OFF)", who);
        } else if (!rank0) {
            rc = 0; /* rank 0 saves, evaluates and reports */
        } else if (save_now(&sv, &tr.end, err, sizeof err) != 0 ||
                   names_evaluate(&m, d->test, d->n_test, &ev, err, sizeof err) != 0 ||
                   write_plots(o, &m, &tr, &ev, err, sizeof err) != 0) {
            names_report("train", err);
        } else {
            print_summary(o, &m, &tr, &ev, ranks);
            if (d->n_test == 0) fprintf(stderr, PROG " train: the data %s, so the model was not evaluated\n", names_no_test_names);
            rc = 0;
        }
    }
    free(meta);
    names_eval_free(&ev);
    names_train_result_free(&tr);
    nn_optim_free(&opt);
    names_model_free(&m);
    return rc;
}

/* train: the settings, the checks made before any work, then the run. */
static int train_command(int argc, char **argv, const names_dist *dist)
{
    options o = {.model = "tutorial", .optim = "sgd", .schedule = "constant", .pool = "last", .hidden = 128, .layers = 1,
                 .batch = 1, .lr = 0.005, .seed = 1, .threads = 1};
    int rc = names_cli_parse("train", argc, argv, 2, &o, NULL, NULL, names_usage_train, names_cli_train_options);
    if (rc == 1) rc = -1; /* --help: printed; stop without error */
    nn_ckpt *ck = NULL;
    char *store = NULL, *data_abs = NULL;
    names_train_state resume_state;
    names_data d;
    memset(&d, 0, sizeof d);
    double shift[NAMES_MAX_CLASSES] = {0};
    if (rc == 0) rc = o.resume ? resume_settings(&o, &ck, &store, &resume_state) : fresh_settings(&o);
    if (rc == 0 && dist->rank == 0) rc = check_save(o.save); /* only rank 0 writes */
    if (rc == 0) rc = absolute_data(&o, &data_abs);
    if (rc == 0) rc = train_data(&o, ck, &d, shift, dist->rank != 0);
    if (rc == 0) rc = share_slices(&o, dist);
    rc = all_ready(dist, rc);
    if (rc == 0) rc = train_model(&o, ck, &d, shift, &resume_state, dist);
    names_free(&d);
    nn_ckpt_close(ck);
    free(store);
    free(data_abs);
    return rc < 0 ? 0 : rc;
}

#ifdef NAMES_MPI
/* Started by an MPI launcher (mpirun, mpiexec, srun)? Then MPI is initialised; else
 * the program runs alone exactly as a build without MPI does, without starting MPI. */
static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#endif

int names_cmd_train(int argc, char **argv)
{
    names_dist dist = {.rank = 0, .ranks = 1};
#ifdef NAMES_MPI
    int mpi = launched_by_mpi();
    if (mpi) {
        if (nn_dist_init(NULL, NULL) != NN_OK) {
            names_report("train", "cannot start MPI");
            return 1;
        }
        dist = (names_dist){.rank = nn_dist_rank(), .ranks = nn_dist_size(), .sum_grads = nn_dist_sum_grads,
                            .first_failed = nn_dist_check, .compare = nn_dist_compare,
                            .compare_params = nn_dist_compare_params};
    }
#endif
    int rc = train_command(argc, argv, &dist);
#ifdef NAMES_MPI
    if (mpi) nn_dist_finalize();
#endif
    return rc;
}
