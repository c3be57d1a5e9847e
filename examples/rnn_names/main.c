/* rnn_names -- classify surnames by language with a character-level RNN, after the
 * PyTorch tutorial "Classifying Names with a Character-Level RNN".
 *
 *   rnn_names train   [options]              train, evaluate, save a checkpoint and plots
 *   rnn_names eval    --load FILE [--data DIR]
 *   rnn_names predict --load FILE NAME...
 *   rnn_names dot     --load FILE NAME [-o graph.dot]
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names_cli.h"
#include "names_plot.h"
#include "names_train.h"

#define PROG NAMES_PROG

/* ---- messages ---- */

/* Prints "rnn_names CMD: MSG" with MSG escaped (names_escape): messages quote paths
 * and names, whose bytes must not reach the terminal raw. */
static void report(const char *cmd, const char *msg)
{
    size_t n = 4 * strlen(msg) + 64;
    char *shown = malloc(n);
    fprintf(stderr, PROG " %s: %s\n", cmd, shown ? names_escape(msg, shown, n) : "out of memory");
    free(shown);
}

/* report() of a formatted message, of any length. */
static void reportf(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg) {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    report(cmd, msg ? msg : "out of memory");
    free(msg);
}

/* ---- data ---- */

static int load_data(names_data *d, const char *dir, char *err, size_t errlen)
{
    int rc = dir ? names_load_dir(d, dir, stderr, err, errlen) : names_load_sample(d, stderr, err, errlen);
    char shown[512];
    if (rc == 0)
        fprintf(stderr, "data: %s: %d languages, %d training and %d test names, %ld lines skipped\n",
                dir ? names_escape(dir, shown, sizeof shown) : "built-in sample", d->n_classes, d->n_train, d->n_test,
                d->warnings);
    return rc;
}

static void print_eval(const names_eval *e, const names_model *m, int with_matrix)
{
    printf("test_names=%d\n", e->n);
    if (e->n == 0) return; /* nothing was evaluated: no figure to print */
    printf("test_accuracy=%.4f\nmacro_accuracy=%.4f\n", e->accuracy, e->macro);
    printf("\n%-14s %6s %8s\n", "language", "names", "accuracy");
    for (int c = 0; c < e->C; c++) {
        int total = 0;
        for (int p = 0; p < e->C; p++) total += e->confusion[c * e->C + p];
        if (total) printf("%-14s %6d %8.4f\n", m->classes[c], total, (double)e->confusion[c * e->C + c] / total);
        else printf("%-14s %6d %8s\n", m->classes[c], 0, "-");
    }
    if (!with_matrix) return;
    printf("\nconfusion matrix (row: true language, column: predicted, in the order above)\n");
    for (int c = 0; c < e->C; c++) {
        printf("%-12.12s", m->classes[c]);
        for (int p = 0; p < e->C; p++) printf(" %4d", e->confusion[c * e->C + p]);
        printf("\n");
    }
}

/* "the data has no test names" for a data set with none; the split is by CRC. */
static const char no_test_names[] = "has no test names (a name is in the test split when the CRC-32 of its "
                                    "line is 0 mod 10)";

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
        report("train", err);
        return 1;
    }
    const char *meta = nn_ckpt_meta(*ck);
    if (names_settings_from_meta(o, meta, NAMES_SETTINGS_ALL, store, err, sizeof err) != 0 ||
        names_letters_check(meta, err, sizeof err) != 0 || names_train_state_parse(st, meta, err, sizeof err) != 0) {
        reportf("train", "cannot resume from checkpoint %s: %s", o->resume, err);
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
        reportf("train", "--save %s: is a directory; give a file name (checked before training)", save);
        return 1;
    }
    nn_file probe;
    if (nn_file_open(&probe, save, err, sizeof err) != NN_OK) {
        reportf("train", "cannot write the checkpoint: %s (checked before training)", err);
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
        reportf("train", "--data %s: the path holds a newline, which a checkpoint cannot store; rename the "
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
        reportf("train", "cannot resume from checkpoint %s: %s", o->resume, err);
        return 1;
    }
    same = n == d->n_classes;
    for (int c = 0; same && c < n; c++) same = !strcmp(classes[c], d->classes[c]);
    if (same) return 0;
    reportf("train", "cannot resume from checkpoint %s: its setting 'classes' lists %d languages (%s, %s, ...) "
             "but its data %s has %d (%s, %s, ...)", o->resume, n, classes[0], classes[1],
             o->data ? o->data : "(the built-in sample)", d->n_classes, d->classes[0], d->classes[1]);
    return 1;
}

/* The training data: loaded, cut to distinct pairs with --distinct (shift: the prior
 * correction), and on --resume checked against the checkpoint. 0, or 1. */
static int train_data(const options *o, const nn_ckpt *ck, names_data *d, double *shift)
{
    char err[1024];
    if (load_data(d, o->data, err, sizeof err) != 0) {
        report("train", err);
        return 1;
    }
    if (ck && check_resume_classes(o, ck, d) != 0) return 1;
    int dropped = o->distinct ? names_distinct(d, shift) : 0;
    if (dropped < 0) {
        report("train", "out of memory");
        return 1;
    }
    if (o->distinct)
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
        if (names_plot_line(svg, tr->curve_x, tr->curve_y, tr->n_points, title, "names seen", "mean training loss (NLL)",
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

static void print_summary(const options *o, const names_model *m, const names_train_result *tr, const names_eval *ev)
{
    char save[1024];
    names_escape(o->save, save, sizeof save);
    printf("model=%s hidden=%ld layers=%ld bidirectional=%d pool=%s dropout=%g optim=%s lr=%g schedule=%s batch=%ld "
           "seed=%ld threads=%ld distinct=%d letter_noise=%g\n", o->model, o->hidden, o->layers, o->bidirectional, o->pool,
           o->dropout, o->optim, o->lr, o->schedule, o->batch, o->seed, o->threads, o->distinct, o->letter_noise);
    printf("train_names=%ld\ntrain_seconds=%.3f\ntrain_names_per_s=%.0f\nmean_train_loss=%.4f\n", tr->names_seen,
           tr->seconds, tr->names_per_s, tr->mean_loss);
    print_eval(ev, m, 0);
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
        reportf("train", "the last good checkpoint, after %ld names, is kept in %s", tr->saved_at, o->save);
    else if (o->resume && !strcmp(o->save, o->resume))
        reportf("train", "no checkpoint was written by this run; %s still holds the run as it was resumed", o->save);
    else
        reportf("train", "no checkpoint was written (the run stopped before its first save%s)",
                o->save_every ? "" : "; --save-every N saves as it goes");
}

/* Builds the model, trains it, saves it, evaluates it and writes the plots. 0, or 1. */
static int train_model(const options *o, const nn_ckpt *ck, const names_data *d, const double *shift,
                       const names_train_state *resume_state)
{
    char err[1024];
    names_kind kind = NAMES_SEED;
    names_kind_parse(o->model, &kind); /* a word of the settings table: always one of the four */
    ag_rng rng;
    ag_rng_seed(&rng, (uint64_t)o->seed);
    names_model m;
    int flags = (o->bidirectional ? NAMES_BIDIRECTIONAL : 0) | (!strcmp(o->pool, "mean") ? NAMES_POOL_MEAN : 0);
    if (names_model_build(&m, kind, (int)o->hidden, (int)o->layers, flags, d->n_classes, d->classes, &rng, err,
                          sizeof err) != 0) {
        fprintf(stderr, PROG " train: cannot build the model: %s\n", err); /* the cause, from nn/ */
        return 1;
    }
    memcpy(m.prior_shift, shift, sizeof m.prior_shift);
    names_train_opts to = {.optim = !strcmp(o->optim, "adam"), .lr = o->lr, .momentum = o->momentum,
                           .weight_decay = o->weight_decay, .clip = o->clip, .iters = o->epochs ? 0 : o->iters,
                           .epochs = (int)o->epochs, .batch = (int)o->batch, .seed = (uint64_t)o->seed,
                           .threads = (int)o->threads, .cosine = !strcmp(o->schedule, "cosine"), .dropout = o->dropout,
                           .letter_noise = o->letter_noise, .progress = o->quiet ? NULL : stderr,
                           .resume = ck ? resume_state : NULL};
    names_train_result tr = {0};
    names_eval ev = {0};
    nn_optim opt = {0};
    char *meta = run_meta(o, &m);
    saver sv = {o->save, meta, &m, &opt};
    to.save_every = o->save_every;
    to.save = save_now;
    to.save_ud = &sv;
    int rc = 1;
    if (!meta) {
        report("train", "out of memory");
    } else if (names_optim_init(&opt, &m, &to, err, sizeof err) != 0) {
        report("train", err);
    } else if (ck && nn_ckpt_load(ck, &m.ps, &opt, err, sizeof err) != NN_OK) { /* all checked before any is copied */
        reportf("train", "cannot resume: %s", err);
    } else {
        char thr[32] = "", shown[1024];
        if (ck) fprintf(stderr, "resuming %s after %ld names\n", names_escape(o->resume, shown, sizeof shown),
                        resume_state->names_seen);
        if (o->threads > 1) snprintf(thr, sizeof thr, ", %ld threads", o->threads);
        fprintf(stderr, "model: %s, hidden %ld, %ld parameters; %s lr %g, batch %ld, %s %ld%s\n", o->model, o->hidden,
                nn_params_numel(&m.ps), o->optim, o->lr, o->batch, o->epochs ? "epochs" : "names",
                o->epochs ? o->epochs : o->iters, thr);
        if (names_train(&m, &opt, d, &to, &tr, err, sizeof err) != 0) {
            report("train", err);
            report_kept(o, &tr);
        } else if (save_now(&sv, &tr.end, err, sizeof err) != 0 ||
                   names_evaluate(&m, d->test, d->n_test, &ev, err, sizeof err) != 0 ||
                   write_plots(o, &m, &tr, &ev, err, sizeof err) != 0) {
            report("train", err);
        } else {
            print_summary(o, &m, &tr, &ev);
            if (d->n_test == 0) fprintf(stderr, PROG " train: the data %s, so the model was not evaluated\n", no_test_names);
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

static int cmd_train(int argc, char **argv)
{
    options o = {.model = "seed", .optim = "sgd", .schedule = "constant", .pool = "last", .hidden = 128, .layers = 1,
                 .batch = 1, .lr = 0.005, .seed = 1, .threads = 1};
    int rc = names_cli_parse("train", argc, argv, 2, &o, NULL, NULL, names_usage_train, names_cli_train_options);
    if (rc) return rc == 1 ? 0 : rc;
    nn_ckpt *ck = NULL;
    char *store = NULL, *data_abs = NULL;
    names_train_state resume_state;
    names_data d;
    memset(&d, 0, sizeof d);
    double shift[NAMES_MAX_CLASSES] = {0};
    rc = o.resume ? resume_settings(&o, &ck, &store, &resume_state) : fresh_settings(&o);
    if (rc == 0) rc = check_save(o.save);
    if (rc == 0) rc = absolute_data(&o, &data_abs);
    if (rc == 0) rc = train_data(&o, ck, &d, shift);
    if (rc == 0) rc = train_model(&o, ck, &d, shift, &resume_state);
    names_free(&d);
    nn_ckpt_close(ck);
    free(store);
    free(data_abs);
    return rc;
}

/* ---- eval, predict, dot ---- */

/* Opens a checkpoint and rebuilds its model; *data (when data != NULL) gets the data
 * directory it was trained on, allocated ("" for the built-in sample). 0, or 1 with a
 * message printed. */
static int load_model(const char *cmd, const char *path, names_model *m, char **data)
{
    char err[1024];
    nn_ckpt *c;
    if (nn_ckpt_open(path, &c, err, sizeof err) != NN_OK) {
        report(cmd, err);
        return 1;
    }
    int rc = 1;
    size_t len = 0;
    const char *v = data ? nn_meta_find(nn_ckpt_meta(c), "data", &len) : NULL;
    if (names_model_from_meta(m, nn_ckpt_meta(c), err, sizeof err) != 0) {
        reportf(cmd, "checkpoint %s: %s", path, err);
    } else if (nn_ckpt_load(c, &m->ps, NULL, err, sizeof err) != NN_OK) {
        report(cmd, err);
        names_model_free(m);
    } else if (data && !(*data = strndup(v ? v : "", len))) {
        report(cmd, "out of memory");
        names_model_free(m);
    } else {
        rc = 0;
    }
    nn_ckpt_close(c);
    return rc;
}

static int cmd_eval(int argc, char **argv)
{
    options o = {0};
    int rc = names_cli_parse("eval", argc, argv, 2, &o, NULL, NULL, names_usage_eval, names_cli_eval_options);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.load) return names_cli_bad("eval", "--load FILE is required%s%s", "", "");
    names_model m;
    char *trained_on = NULL, err[1024];
    if (load_model("eval", o.load, &m, &trained_on)) return 1;
    const char *dir = o.data ? o.data : trained_on[0] ? trained_on : NULL;
    names_data d;
    names_eval ev;
    rc = 1;
    if (load_data(&d, dir, err, sizeof err) != 0) {
        report("eval", err);
        if (!o.data && dir) {
            reportf("eval", "%s is the data directory checkpoint %s was trained on%s; give --data DIR to evaluate on "
                    "that data where it is now", dir, o.load,
                    dir[0] == '/' ? "" : " (a path relative to the directory it was trained in)");
        }
        free(trained_on);
        names_model_free(&m);
        return 1;
    }
    int same = d.n_classes == m.n_classes;
    for (int c = 0; same && c < d.n_classes; c++) same = !strcmp(d.classes[c], m.classes[c]);
    if (!same) {
        fprintf(stderr, PROG " eval: the data's %d languages are not the %d the model was trained on (%s, %s, ...)\n",
                d.n_classes, m.n_classes, m.classes[0], m.classes[1]);
    } else if (d.n_test == 0) {
        reportf("eval", "the data %s %s: nothing to evaluate", dir ? dir : "(the built-in sample)", no_test_names);
    } else if (names_evaluate(&m, d.test, d.n_test, &ev, err, sizeof err) != 0) {
        report("eval", err);
    } else {
        char shown[1024];
        printf("checkpoint=%s model=%s hidden=%d\n", names_escape(o.load, shown, sizeof shown), names_kind_name(m.kind),
               m.hidden);
        print_eval(&ev, &m, 1);
        names_eval_free(&ev);
        rc = 0;
    }
    free(trained_on);
    names_free(&d);
    names_model_free(&m);
    return rc;
}

/* A name from the command line, folded as in training. 0, or -1 with why naming the
 * cause: invalid UTF-8 (where), no letter left, or too long (with the limit). */
static int fold_arg(const char *arg, names_item *it, char *why, size_t whyn)
{
    size_t bad_at = 0;
    memset(it, 0, sizeof *it);
    it->len = names_fold(arg, strlen(arg), it->text, sizeof it->text, &bad_at);
    if (it->len < 0) snprintf(why, whyn, "invalid UTF-8 at byte %zu", bad_at + 1);
    else if (it->len == 0) snprintf(why, whyn, "no letter left after folding to ASCII");
    else if (it->len > NAMES_MAX_LEN)
        snprintf(why, whyn, "too long: %d letters after folding to ASCII, at most %d", it->len, NAMES_MAX_LEN);
    else return 0;
    return -1;
}

/* NAME_ECHO: how much of a name argument is echoed (escaped; a longer one says how long) */
enum { NAME_ECHO = 120 };

static int cmd_predict(int argc, char **argv)
{
    options o = {0};
    const char **names = calloc((size_t)argc, sizeof *names);
    int n = 0;
    if (!names) return 1;
    int rc = names_cli_parse("predict", argc, argv, 2, &o, names, &n, names_usage_predict, names_cli_predict_options);
    if (rc || !o.load || n == 0) {
        free(names);
        if (rc) return rc == 1 ? 0 : rc;
        return names_cli_bad("predict", !o.load ? "--load FILE is required%s%s" : "give at least one NAME%s%s", "", "");
    }
    names_model m;
    if (load_model("predict", o.load, &m, NULL)) {
        free(names);
        return 1;
    }
    rc = 0;
    for (int i = 0; i < n; i++) {
        names_item it;
        char shown[NAME_ECHO], why[256], err[512];
        names_escape(names[i], shown, sizeof shown);
        printf("> %s\n", shown);
        if (fold_arg(names[i], &it, why, sizeof why) != 0) {
            fprintf(stderr, PROG " predict: '%s': %s\n", shown, why);
            rc = 1;
            continue;
        }
        int idx[3];
        double lp[3];
        int k = names_predict(&m, &it, 3, idx, lp, err, sizeof err);
        if (k < 0) {
            report("predict", err);
            rc = 1;
            continue;
        }
        for (int j = 0; j < k; j++) printf("(%.2f) %s\n", lp[j], m.classes[idx[j]]);
    }
    names_model_free(&m);
    free(names);
    return rc;
}

/* The graph's title: the checkpoint (escaped, and capped: names_escape says so when it
 * cuts), the model, the name, the language and the loss. */
static void dot_title(char *title, size_t n, const char *load, const names_model *m, const char *text, int target,
                      double loss)
{
    char path[256];
    snprintf(title, n, "%s, %s hidden %d: \"%s\" as %s, loss %.3f", names_escape(load, path, sizeof path),
             names_kind_name(m->kind), m->hidden, text, m->classes[target], loss);
}

/* The SVG of the graph, or how to make it without Graphviz. 0, or 1 with a message. */
static int render_svg(const char *out)
{
    char *svg = NULL, err[1024], shown[1024], shown_svg[1024];
    int r = names_render_svg(out, &svg, err, sizeof err);
    names_escape(out, shown, sizeof shown);
    if (svg) names_escape(svg, shown_svg, sizeof shown_svg);
    if (r < 0) report("dot", err);
    else if (r == 0)
        printf("Graphviz's dot is not installed, so no SVG was made. To render the graph:\n"
               "  apt-get install -y graphviz && dot -Tsvg %s -o %s\n", shown, shown_svg);
    else printf("wrote %s\n", shown_svg);
    free(svg);
    return r < 0;
}

/* The target language: --target's, else the predicted one. -1 (message printed) when
 * --target names none of the model's languages. */
static int dot_target(const names_model *m, const ag_tensor *logp, const char *want)
{
    int target = 0;
    for (int c = 1; c < m->n_classes; c++)
        if (logp->data[c] > logp->data[target]) target = c;
    if (!want) return target;
    for (int c = 0; c < m->n_classes; c++)
        if (!strcmp(m->classes[c], want)) return c;
    char shown[256];
    fprintf(stderr, PROG " dot: --target '%s' is not one of the model's languages (%s, %s, ...)\n",
            names_escape(want, shown, sizeof shown), m->classes[0], m->classes[1]);
    return -1;
}

static int cmd_dot(int argc, char **argv)
{
    options o = {.out = "graph.dot"};
    const char *name = NULL;
    int n = 0;
    const char **names = calloc((size_t)argc, sizeof *names);
    if (!names) return 1;
    int rc = names_cli_parse("dot", argc, argv, 2, &o, names, &n, names_usage_dot, names_cli_dot_options);
    if (!rc && (!o.load || n != 1))
        rc = names_cli_bad("dot", !o.load ? "--load FILE is required%s%s" : "give exactly one NAME%s%s", "", "");
    name = n ? names[0] : NULL;
    free(names);
    if (rc) return rc == 1 ? 0 : rc;
    names_model m;
    if (load_model("dot", o.load, &m, NULL)) return 1;
    names_item it;
    char why[256], shown[NAME_ECHO], title[512];
    const names_item *item = &it;
    ag_tape *tape = NULL;
    ag_tensor *logp = NULL, *loss = NULL;
    int target = -1;
    rc = 1;
    if (fold_arg(name, &it, why, sizeof why) != 0) {
        fprintf(stderr, PROG " dot: '%s': %s\n", names_escape(name, shown, sizeof shown), why);
    } else if (!(tape = ag_tape_new()) || !(logp = names_model_forward(tape, &m, &item, 1))) {
        report("dot", tape ? ag_tape_error(tape) : "out of memory");
    } else if ((target = dot_target(&m, logp, o.target)) < 0) {
        rc = 2;
    } else if (!(loss = ag_nll_loss(tape, logp, &target, AG_MEAN)) || ag_backward(tape, loss) != AG_OK) {
        report("dot", ag_tape_error(tape));
    } else {
        dot_title(title, sizeof title, o.load, &m, it.text, target, (double)loss->data[0]);
        char err[1024], shown_out[1024];
        if (names_write_dot(tape, loss, o.out, title, o.stats, err, sizeof err) != 0) {
            report("dot", err);
        } else {
            printf("wrote %s (%d ops)\n", names_escape(o.out, shown_out, sizeof shown_out), ag_tape_nodes(tape));
            rc = render_svg(o.out);
        }
    }
    ag_tape_free(tape);
    names_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(names_usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc, argv);
    if (!strcmp(argv[1], "dot")) return cmd_dot(argc, argv);
    fprintf(stderr, PROG ": unknown command '%s' (commands: train, eval, predict, dot; see '" PROG " --help')\n", argv[1]);
    return 2;
}
