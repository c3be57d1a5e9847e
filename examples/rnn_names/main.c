/* rnn_names -- classify surnames by language with a character-level RNN, after the
 * PyTorch tutorial "Classifying Names with a Character-Level RNN".
 *
 *   rnn_names train   [options]              train, evaluate, save a checkpoint and plots
 *   rnn_names eval    --load FILE [--data DIR]
 *   rnn_names predict --load FILE NAME...
 *   rnn_names dot     --load FILE NAME [-o graph.dot]
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_cli.h"
#include "names_plot.h"
#include "names_train.h"

#define PROG NAMES_PROG


static const char *usage_main =
    "usage: " PROG " <command> [options]\n"
    "\n"
    "Classify surnames by language with a character-level RNN (the PyTorch tutorial's model).\n"
    "\n"
    "commands:\n"
    "  train     train a model, evaluate it on the test split, save a checkpoint and plots\n"
    "  eval      accuracy, per-language accuracy and confusion matrix of a checkpoint\n"
    "  predict   the 3 most likely languages of each NAME\n"
    "  dot       the compute graph of one forward and backward pass, as Graphviz dot (and SVG)\n"
    "\n"
    "Run '" PROG " <command> --help' for a command's options.\n"
    "Without --data the built-in sample (a few dozen names per language) is used; give\n"
    "--data DIR for a directory of <Language>.txt files such as the tutorial's data/names.\n";

static const char *usage_train =
    "usage: " PROG " train [options]\n"
    "\n"
    "  --data DIR         directory of <Language>.txt files (default: the built-in sample)\n"
    "  --model KIND       seed (the tutorial's RNN), elman, gru or lstm (default seed)\n"
    "  --hidden N         hidden size (default 128)\n"
    "  --layers L         stacked recurrent layers, 1 to 4 (elman, gru, lstm; default 1)\n"
    "  --bidirectional    add a second stack that reads each name backwards (elman, gru, lstm)\n"
    "  --pool P           what the classifier reads of each stack: last (its final state) or\n"
    "                     mean (also the mean of its states over the letters) (default last)\n"
    "  --dropout P        dropout between layers and before the classifier while training\n"
    "                     (elman, gru, lstm; default 0)\n"
    "  --optim NAME       sgd or adam (default sgd)\n"
    "  --lr X             learning rate (default 0.005)\n"
    "  --momentum X       SGD momentum (default 0)\n"
    "  --weight-decay X   L2 weight decay (default 0)\n"
    "  --iters N          names to train on, each drawn as the tutorial does: a language\n"
    "                     uniformly, then one of its names (default 100000; 20000 on the sample)\n"
    "  --epochs E         instead of --iters: E shuffled passes over every training name\n"
    "  --batch B          names per step (default 1, the tutorial's regime)\n"
    "  --clip C           clip the gradient norm to C (default: no clipping)\n"
    "  --schedule S       learning rate: constant, or cosine (from --lr down to 0) (default constant)\n"
    "  --distinct         train on each distinct (name, language) pair once (with --epochs;\n"
    "                     in the tutorial's data each Arabic name is on ~19 lines), then\n"
    "                     correct the predictions for the languages' shares of all the\n"
    "                     training lines (the correction is stored in the checkpoint)\n"
    "  --letter-noise P   replace each letter of a name trained on, with probability P, by a\n"
    "                     random one of the 57 (default 0)\n"
    "  --seed S           random seed (default 1)\n"
    "  --threads T        cut each batch into T slices trained on T threads (default 1);\n"
    "                     a seed and a thread count always give the same result\n"
    "  --save FILE        checkpoint to write (default rnn_names.ckpt); beside it go\n"
    "                     BASE.loss.csv, BASE.loss.svg and BASE.confusion.svg\n"
    "  --save-every N     also save the checkpoint after every N names, so a run that is\n"
    "                     stopped (or that meets a NaN) keeps its last good state\n"
    "  --quiet            no progress line\n"
    "  --resume FILE      continue the run saved in FILE (by --save-every, or at its end with\n"
    "                     more names to go) with every setting it was started with; the\n"
    "                     result is bit for bit that of a run never interrupted\n"
    "\n"
    "A name is in the test split when the CRC-32 of its line is 0 mod 10.\n"
    "At the end, stdout has test_accuracy=, macro_accuracy= and train_names_per_s= lines.\n";

static const char *usage_eval =
    "usage: " PROG " eval --load FILE [--data DIR]\n"
    "\n"
    "  --load FILE   a checkpoint written by '" PROG " train'\n"
    "  --data DIR    data to evaluate on (default: the data the model was trained on)\n"
    "\n"
    "Prints accuracy, macro accuracy (mean of per-language accuracies), each language's\n"
    "accuracy and the confusion matrix of the test split.\n";

static const char *usage_predict =
    "usage: " PROG " predict --load FILE NAME...\n"
    "\n"
    "Prints the 3 most likely languages of each NAME with their log-probabilities,\n"
    "for example '(-0.47) Scottish'. Names are folded to ASCII as in training.\n";

static const char *usage_dot =
    "usage: " PROG " dot --load FILE NAME [-o graph.dot] [--target LANGUAGE] [--stats]\n"
    "\n"
    "Writes the graph of one forward and backward pass over NAME: one node per op and\n"
    "per parameter or input, each time step in its own box. The loss is the NLL of\n"
    "--target (default: the predicted language). --stats adds each node's value and\n"
    "gradient norm, min and max, and marks NaN or Inf in red. When Graphviz's dot is\n"
    "installed, graph.svg is written next to graph.dot.\n";

/* ---- data ---- */

static int load_data(names_data *d, const char *dir, char *err, size_t errlen)
{
    int rc = dir ? names_load_dir(d, dir, stderr, err, errlen) : names_load_sample(d, stderr, err, errlen);
    if (rc == 0)
        fprintf(stderr, "data: %s: %d languages, %d training and %d test names, %ld lines skipped\n",
                dir ? dir : "built-in sample", d->n_classes, d->n_train, d->n_test, d->warnings);
    return rc;
}

static void print_eval(const names_eval *e, const names_model *m, int with_matrix)
{
    printf("test_names=%d\ntest_accuracy=%.4f\nmacro_accuracy=%.4f\n", e->n, e->accuracy, e->macro);
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

/* BASE: the checkpoint path without a trailing ".ckpt" */
static void base_of(const char *save, char *base, size_t n)
{
    size_t len = strlen(save);
    if (len > 5 && !strcmp(save + len - 5, ".ckpt")) len -= 5;
    snprintf(base, n, "%.*s", (int)len, save);
}

static int write_csv(const char *path, const names_train_result *r, char *err, size_t errlen)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%.4300s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "%.900s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "names_seen,mean_loss\n");
    for (int i = 0; i < r->n_points; i++) fprintf(f, "%.0f,%.6f\n", r->curve_x[i], r->curve_y[i]);
    int bad_write = ferror(f);
    if (fclose(f) != 0 || bad_write || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%.900s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- commands ---- */

/* What a save needs: the run's settings as meta text, plus the state of the moment. */
typedef struct {
    const char *path, *meta_base;
    names_model *m;
    nn_optim *opt;
} saver;

static int save_now(void *ud, const names_train_state *st, char *err, size_t errlen)
{
    saver *s = ud;
    char meta[8192], state[512];
    names_train_state_meta(st, state, sizeof state);
    snprintf(meta, sizeof meta, "%snames_seen=%ld\n%s", s->meta_base, st->names_seen, state);
    return nn_ckpt_save(s->path, meta, &s->m->ps, s->opt, err, errlen) == NN_OK ? 0 : -1;
}

/* The settings of a run, as meta text (model lines first, from names_model_meta). */
static void run_meta(const options *o, const names_model *m, char *meta, size_t n)
{
    names_model_meta(m, meta, n);
    size_t k = strlen(meta);
    snprintf(meta + k, n - k,
             "data=%s\noptim=%s\nlr=%.17g\nmomentum=%.17g\nweight_decay=%.17g\nclip=%.17g\nschedule=%s\n"
             "dropout=%.17g\nbatch=%ld\niters=%ld\nepochs=%ld\nseed=%llu\nthreads=%ld\ndistinct=%d\n"
             "letter_noise=%.17g\n",
             o->data ? o->data : "", o->optim, o->lr, o->momentum, o->weight_decay, o->clip, o->schedule, o->dropout,
             o->batch, o->epochs ? 0 : o->iters, o->epochs, o->seed, o->threads, o->distinct, o->letter_noise);
}

/* Fills o from a checkpoint's meta text, for --resume. 0, or -1 with err set. */
static int options_from_meta(options *o, const char *meta, char *store, size_t storen, char *err, size_t errlen)
{
    static const char *keys[] = {"model", "optim", "schedule", "data", "hidden", "layers", "bidirectional", "lr",
                                 "momentum", "weight_decay", "clip", "dropout", "batch", "iters", "epochs", "seed"};
    char v[16][512];
    for (int i = 0; i < 16; i++)
        if (!nn_meta_get(meta, keys[i], v[i], sizeof v[i])) {
            snprintf(err, errlen, "it lacks the '%s' setting (was it written by 'train' of this version?)", keys[i]);
            return -1;
        }
    /* the strings live in `store`, which outlives o */
    snprintf(store, storen, "%s%c%s%c%s%c%s", v[0], 0, v[1], 0, v[2], 0, v[3]);
    o->model = store;
    o->optim = o->model + strlen(o->model) + 1;
    o->schedule = o->optim + strlen(o->optim) + 1;
    o->data = o->schedule + strlen(o->schedule) + 1;
    if (!*o->data) o->data = NULL;
    o->hidden = atol(v[4]);
    o->layers = atol(v[5]);
    o->bidirectional = atoi(v[6]);
    o->lr = atof(v[7]);
    o->momentum = atof(v[8]);
    o->weight_decay = atof(v[9]);
    o->clip = atof(v[10]);
    o->dropout = atof(v[11]);
    o->batch = atol(v[12]);
    o->iters = atol(v[13]);
    o->epochs = atol(v[14]);
    o->seed = strtoull(v[15], NULL, 10);
    o->have_iters = o->epochs == 0;
    o->pool = nn_meta_get(meta, "pool", v[0], sizeof v[0]) && !strcmp(v[0], "mean") ? "mean" : "last";
    /* (checkpoints from before --threads have no key: they were trained on one thread) */
    o->threads = nn_meta_get(meta, "threads", v[0], sizeof v[0]) ? atol(v[0]) : 1;
    if (o->threads < 1 || o->threads > 64) {
        snprintf(err, errlen, "its 'threads' setting is not a number from 1 to 64");
        return -1;
    }
    /* (nor from before --distinct and --letter-noise: they used neither) */
    o->distinct = nn_meta_get(meta, "distinct", v[0], sizeof v[0]) ? atoi(v[0]) : 0;
    o->letter_noise = nn_meta_get(meta, "letter_noise", v[0], sizeof v[0]) ? atof(v[0]) : 0;
    if ((o->distinct != 0 && o->distinct != 1) || !(o->letter_noise >= 0 && o->letter_noise <= 0.5)) {
        snprintf(err, errlen, "its 'distinct' or 'letter_noise' setting is out of range");
        return -1;
    }
    return 0;
}

static int cmd_train(int argc, char **argv)
{
    options o = {.model = "seed", .optim = "sgd", .schedule = "constant", .pool = "last", .hidden = 128, .layers = 1,
                 .iters = 100000,
                 .batch = 1, .lr = 0.005, .seed = 1, .threads = 1};
    int rc = names_cli_parse("train", argc, argv, 2, &o, NULL, NULL, usage_train, names_cli_train_options);
    if (rc) return rc == 1 ? 0 : rc;
    char err[1024], store[2048];
    nn_ckpt *ck = NULL;
    names_train_state resume_state;
    if (o.resume) {
        /* the run's settings come from the checkpoint; only where and how often to save may change */
        if (o.n_given > 0)
            return names_cli_bad("train", "--resume takes every setting from the checkpoint; besides it give only --save, "
                                "--save-every or --quiet%s%s", "", "");
        if (nn_ckpt_open(o.resume, &ck, err, sizeof err) != NN_OK) {
            fprintf(stderr, PROG " train: %s\n", err);
            return 1;
        }
        if (options_from_meta(&o, nn_ckpt_meta(ck), store, sizeof store, err, sizeof err) != 0 ||
            names_train_state_parse(&resume_state, nn_ckpt_meta(ck)) != 0) {
            fprintf(stderr, PROG " train: cannot resume from %s: %s\n", o.resume,
                    err[0] ? err : "its training state is missing or malformed");
            nn_ckpt_close(ck);
            return 1;
        }
        if (!o.save) o.save = o.resume;
    }
    if (!o.save) o.save = "rnn_names.ckpt";
    names_kind kind;
    if (names_kind_parse(o.model, &kind) != 0) return names_cli_bad("train", "--model must be seed, elman, gru or lstm, got '%s'%s", o.model, "");
    if (strcmp(o.optim, "sgd") && strcmp(o.optim, "adam")) return names_cli_bad("train", "--optim must be sgd or adam, got '%s'%s", o.optim, "");
    if (strcmp(o.pool, "last") && strcmp(o.pool, "mean"))
        return names_cli_bad("train", "--pool must be last or mean, got '%s'%s", o.pool, "");
    if (kind == NAMES_SEED && (o.layers != 1 || o.dropout > 0 || o.bidirectional || !strcmp(o.pool, "mean")))
        return names_cli_bad("train", "--layers, --bidirectional, --pool and --dropout are for elman, gru and lstm, not %s%s",
                             o.model, "");
    if (strcmp(o.schedule, "constant") && strcmp(o.schedule, "cosine"))
        return names_cli_bad("train", "--schedule must be constant or cosine, got '%s'%s", o.schedule, "");
    if (o.epochs && o.have_iters && !o.resume) return names_cli_bad("train", "give --iters or --epochs, not both%s%s", "", "");
    if (!o.data && !o.have_iters && !o.epochs) o.iters = 20000;
    if (o.distinct && !o.epochs)
        return names_cli_bad("train", "--distinct needs --epochs (with --iters every language is drawn equally often "
                             "anyway)%s%s", "", "");

    names_data d;
    if (load_data(&d, o.data, err, sizeof err) != 0) {
        fprintf(stderr, PROG " train: %s\n", err);
        nn_ckpt_close(ck);
        return 1;
    }
    double shift[NAMES_MAX_CLASSES] = {0};
    int dropped = o.distinct ? names_distinct(&d, shift) : 0;
    if (dropped < 0) {
        fprintf(stderr, PROG " train: out of memory\n");
        names_free(&d);
        nn_ckpt_close(ck);
        return 1;
    }
    if (o.distinct)
        fprintf(stderr, "distinct: %d training lines repeat a (name, language) pair and are left out; %d remain\n",
                dropped, d.n_train);
    ag_rng rng;
    ag_rng_seed(&rng, o.seed);
    names_model m;
    int flags = (o.bidirectional ? NAMES_BIDIRECTIONAL : 0) | (!strcmp(o.pool, "mean") ? NAMES_POOL_MEAN : 0);
    if (names_model_init(&m, kind, (int)o.hidden, (int)o.layers, flags, d.n_classes, d.classes, &rng) != 0) {
        fprintf(stderr, PROG " train: cannot build the model (out of memory, or a bad size in the checkpoint)\n");
        names_free(&d);
        nn_ckpt_close(ck);
        return 1;
    }
    memcpy(m.prior_shift, shift, sizeof shift);
    names_train_opts to = {.optim = !strcmp(o.optim, "adam"), .lr = o.lr, .momentum = o.momentum,
                           .weight_decay = o.weight_decay, .clip = o.clip, .iters = o.epochs ? 0 : o.iters,
                           .epochs = (int)o.epochs, .batch = (int)o.batch, .seed = o.seed, .threads = (int)o.threads,
                           .cosine = !strcmp(o.schedule, "cosine"), .dropout = o.dropout,
                           .letter_noise = o.letter_noise,
                           .progress = o.quiet ? NULL : stderr, .resume = o.resume ? &resume_state : NULL};
    names_train_result tr = {0};
    names_eval ev = {0};
    nn_optim opt = {0};
    char meta[4096];
    run_meta(&o, &m, meta, sizeof meta);
    saver sv = {o.save, meta, &m, &opt};
    to.save_every = o.save_every;
    to.save = save_now;
    to.save_ud = &sv;
    rc = 1;
    if (names_optim_init(&opt, &m, &to, err, sizeof err) != 0) {
        fprintf(stderr, PROG " train: %s\n", err);
        goto out;
    }
    if (ck) { /* parameters and optimizer state, all checked before any is copied */
        if (nn_ckpt_load(ck, &m.ps, &opt, err, sizeof err) != NN_OK) {
            fprintf(stderr, PROG " train: cannot resume: %s\n", err);
            goto out;
        }
        fprintf(stderr, "resuming %s after %ld names\n", o.resume, resume_state.names_seen);
    }
    char thr[32] = "";
    if (o.threads > 1) snprintf(thr, sizeof thr, ", %ld threads", o.threads);
    fprintf(stderr, "model: %s, hidden %ld, %ld parameters; %s lr %g, batch %ld, %s %ld%s\n", o.model, o.hidden,
            nn_params_numel(&m.ps), o.optim, o.lr, o.batch, o.epochs ? "epochs" : "names", o.epochs ? o.epochs : o.iters,
            thr);
    if (names_train(&m, &opt, &d, &to, &tr, err, sizeof err) != 0) {
        fprintf(stderr, PROG " train: %s\n", err);
        if (tr.saved_at >= 0)
            fprintf(stderr, PROG " train: the last good checkpoint, after %ld names, is kept in %s\n", tr.saved_at, o.save);
        goto out;
    }
    char base[4096], path[4200];
    if (save_now(&sv, &tr.end, err, sizeof err) != 0) {
        fprintf(stderr, PROG " train: %s\n", err);
        goto out;
    }
    if (names_evaluate(&m, d.test, d.n_test, &ev, err, sizeof err) != 0) {
        fprintf(stderr, PROG " train: %s\n", err);
        goto out;
    }
    base_of(o.save, base, sizeof base);
    char title[256];
    snprintf(title, sizeof title, "rnn_names: %s, hidden %ld, %s lr %g, batch %ld", o.model, o.hidden, o.optim, o.lr, o.batch);
    snprintf(path, sizeof path, "%s.loss.csv", base);
    if (write_csv(path, &tr, err, sizeof err) != 0) goto out_err;
    snprintf(path, sizeof path, "%s.loss.svg", base);
    if (names_plot_line(path, tr.curve_x, tr.curve_y, tr.n_points, title, "names seen", "mean training loss (NLL)", err,
                        sizeof err) != 0)
        goto out_err;
    snprintf(path, sizeof path, "%s.confusion.svg", base);
    snprintf(title, sizeof title, "Confusion on the test split: accuracy %.3f, macro %.3f", ev.accuracy, ev.macro);
    if (names_plot_confusion(path, ev.confusion, ev.C, m.classes, title, err, sizeof err) != 0) goto out_err;

    printf("model=%s hidden=%ld layers=%ld bidirectional=%d pool=%s dropout=%g optim=%s lr=%g schedule=%s batch=%ld "
           "seed=%llu threads=%ld distinct=%d letter_noise=%g\n", o.model, o.hidden, o.layers, o.bidirectional, o.pool,
           o.dropout, o.optim, o.lr, o.schedule, o.batch, o.seed, o.threads, o.distinct, o.letter_noise);
    printf("train_names=%ld\ntrain_seconds=%.3f\ntrain_names_per_s=%.0f\nmean_train_loss=%.4f\n", tr.names_seen,
           tr.seconds, tr.names_per_s, tr.mean_loss);
    print_eval(&ev, &m, 0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak_rss_mb=%.1f\ncheckpoint=%s\nloss_csv=%s.loss.csv\nloss_svg=%s.loss.svg\nconfusion_svg=%s.confusion.svg\n",
           ru.ru_maxrss / 1024.0, o.save, base, base, base);
    rc = 0;
    goto out;
out_err:
    fprintf(stderr, PROG " train: %s\n", err);
out:
    names_eval_free(&ev);
    names_train_result_free(&tr);
    nn_optim_free(&opt);
    names_model_free(&m);
    names_free(&d);
    nn_ckpt_close(ck);
    return rc;
}

/* Opens a checkpoint and rebuilds its model. 0, or 1 with a message printed. */
static int load_model(const char *cmd, const char *path, names_model *m, char *data, size_t datan)
{
    char err[1024];
    nn_ckpt *c;
    if (nn_ckpt_open(path, &c, err, sizeof err) != NN_OK) {
        fprintf(stderr, PROG " %s: %s\n", cmd, err);
        return 1;
    }
    int rc = 1;
    if (names_model_from_meta(m, nn_ckpt_meta(c), err, sizeof err) != 0) {
        fprintf(stderr, PROG " %s: checkpoint %s: %s\n", cmd, path, err);
    } else if (nn_ckpt_load(c, &m->ps, NULL, err, sizeof err) != NN_OK) {
        fprintf(stderr, PROG " %s: %s\n", cmd, err);
        names_model_free(m);
    } else {
        if (data && !nn_meta_get(nn_ckpt_meta(c), "data", data, datan)) data[0] = 0;
        rc = 0;
    }
    nn_ckpt_close(c);
    return rc;
}

static int cmd_eval(int argc, char **argv)
{
    options o = {0};
    int rc = names_cli_parse("eval", argc, argv, 2, &o, NULL, NULL, usage_eval, names_cli_eval_options);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.load) return names_cli_bad("eval", "--load FILE is required%s%s", "", "");
    names_model m;
    char trained_on[4096], err[1024];
    if (load_model("eval", o.load, &m, trained_on, sizeof trained_on)) return 1;
    const char *dir = o.data ? o.data : trained_on[0] ? trained_on : NULL;
    names_data d;
    if (load_data(&d, dir, err, sizeof err) != 0) {
        fprintf(stderr, PROG " eval: %s\n", err);
        names_model_free(&m);
        return 1;
    }
    rc = 1;
    int same = d.n_classes == m.n_classes;
    for (int c = 0; same && c < d.n_classes; c++) same = !strcmp(d.classes[c], m.classes[c]);
    names_eval ev;
    if (!same)
        fprintf(stderr, PROG " eval: the data's %d languages are not the %d the model was trained on (%s, %s, ...)\n",
                d.n_classes, m.n_classes, m.classes[0], m.classes[1]);
    else if (names_evaluate(&m, d.test, d.n_test, &ev, err, sizeof err) != 0)
        fprintf(stderr, PROG " eval: %s\n", err);
    else {
        printf("checkpoint=%s model=%s hidden=%d\n", o.load, names_kind_name(m.kind), m.hidden);
        print_eval(&ev, &m, 1);
        names_eval_free(&ev);
        rc = 0;
    }
    names_free(&d);
    names_model_free(&m);
    return rc;
}

static int cmd_predict(int argc, char **argv)
{
    options o = {0};
    const char **names = calloc((size_t)argc, sizeof *names);
    int n = 0;
    if (!names) return 1;
    int rc = names_cli_parse("predict", argc, argv, 2, &o, names, &n, usage_predict, names_cli_predict_options);
    if (rc || !o.load || n == 0) {
        free(names);
        if (rc) return rc == 1 ? 0 : rc;
        return names_cli_bad("predict", !o.load ? "--load FILE is required%s%s" : "give at least one NAME%s%s", "", "");
    }
    names_model m;
    if (load_model("predict", o.load, &m, NULL, 0)) {
        free(names);
        return 1;
    }
    rc = 0;
    for (int i = 0; i < n; i++) {
        names_item it = {0};
        size_t bad_at;
        it.len = names_fold(names[i], strlen(names[i]), it.text, sizeof it.text, &bad_at);
        printf("> %s\n", names[i]);
        if (it.len < 1 || it.len > NAMES_MAX_LEN) {
            fprintf(stderr, PROG " predict: '%s': %s\n", names[i],
                    it.len < 0 ? "invalid UTF-8" : it.len == 0 ? "no letter left after folding to ASCII" : "too long");
            rc = 1;
            continue;
        }
        int idx[3];
        double lp[3];
        char err[512];
        int k = names_predict(&m, &it, 3, idx, lp, err, sizeof err);
        if (k < 0) {
            fprintf(stderr, PROG " predict: %s\n", err);
            rc = 1;
            continue;
        }
        for (int j = 0; j < k; j++) printf("(%.2f) %s\n", lp[j], m.classes[idx[j]]);
    }
    names_model_free(&m);
    free(names);
    return rc;
}

/* The directory of PATH holding an executable `dot`, or 0. */
static int have_graphviz(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len && len < sizeof buf - 8) {
            snprintf(buf, sizeof buf, "%.*s/dot", (int)len, path);
            if (access(buf, X_OK) == 0) return 1;
        }
        path = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* Runs dot -Tsvg in -o out, without a shell. 0 on success. */
static int render(const char *in, const char *out)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execlp("dot", "dot", "-Tsvg", in, "-o", out, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int cmd_dot(int argc, char **argv)
{
    options o = {.out = "graph.dot"};
    const char *pos[2];
    int n = 0;
    const char **names = calloc((size_t)argc, sizeof *names);
    if (!names) return 1;
    int rc = names_cli_parse("dot", argc, argv, 2, &o, names, &n, usage_dot, names_cli_dot_options);
    if (!rc && (!o.load || n != 1)) rc = names_cli_bad("dot", !o.load ? "--load FILE is required%s%s" : "give exactly one NAME%s%s", "", "");
    pos[0] = n ? names[0] : NULL;
    free(names);
    if (rc) return rc == 1 ? 0 : rc;
    names_model m;
    if (load_model("dot", o.load, &m, NULL, 0)) return 1;
    names_item it = {0};
    it.len = names_fold(pos[0], strlen(pos[0]), it.text, sizeof it.text, NULL);
    rc = 1;
    ag_tape *tape = ag_tape_new();
    if (it.len < 1 || it.len > NAMES_MAX_LEN) {
        fprintf(stderr, PROG " dot: '%s': no letters to run (after folding to ASCII)\n", pos[0]);
        goto out;
    }
    const names_item *item = &it;
    ag_tensor *logp = tape ? names_model_forward(tape, &m, &item, 1) : NULL;
    if (!logp) {
        fprintf(stderr, PROG " dot: %s\n", tape ? ag_tape_error(tape) : "out of memory");
        goto out;
    }
    int target = 0;
    for (int c = 1; c < m.n_classes; c++)
        if (logp->data[c] > logp->data[target]) target = c;
    if (o.target) {
        for (target = 0; target < m.n_classes && strcmp(m.classes[target], o.target); target++) {}
        if (target == m.n_classes) {
            fprintf(stderr, PROG " dot: --target '%s' is not one of the model's languages (%s, %s, ...)\n", o.target,
                    m.classes[0], m.classes[1]);
            rc = 2;
            goto out;
        }
    }
    ag_tensor *loss = ag_nll_loss(tape, logp, &target, AG_MEAN);
    if (!loss || ag_backward(tape, loss) != AG_OK) {
        fprintf(stderr, PROG " dot: %s\n", ag_tape_error(tape));
        goto out;
    }
    char tmp[4200], title[256];
    snprintf(tmp, sizeof tmp, "%.4000s.tmp", o.out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, PROG " dot: %s: cannot create: %s\n", tmp, strerror(errno));
        goto out;
    }
    snprintf(title, sizeof title, "%s, %s hidden %d: \"%s\" as %s, loss %.3f", o.load, names_kind_name(m.kind), m.hidden,
             it.text, m.classes[target], (double)loss->data[0]);
    ag_dot_options dopt = ag_dot_default;
    dopt.stats = o.stats;
    dopt.title = title;
    ag_status ds = ag_dot(tape, loss, f, &dopt);
    if (fclose(f) != 0 || ds != AG_OK || rename(tmp, o.out) != 0) {
        fprintf(stderr, PROG " dot: %s: cannot write: %s\n", o.out, ds != AG_OK ? ag_tape_error(tape) : strerror(errno));
        remove(tmp);
        goto out;
    }
    printf("wrote %s (%d ops)\n", o.out, ag_tape_nodes(tape));
    rc = 0;
    char svg[4200];
    size_t len = strlen(o.out);
    snprintf(svg, sizeof svg, "%.*s.svg", (int)(len > 4 && !strcmp(o.out + len - 4, ".dot") ? len - 4 : len), o.out);
    if (!have_graphviz()) {
        printf("Graphviz's dot is not installed, so no SVG was made. To render the graph:\n"
               "  apt-get install -y graphviz && dot -Tsvg %s -o %s\n", o.out, svg);
    } else if (render(o.out, svg) != 0) {
        fprintf(stderr, PROG " dot: dot -Tsvg %s failed\n", o.out);
        rc = 1;
    } else {
        printf("wrote %s\n", svg);
    }
out:
    ag_tape_free(tape);
    names_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc, argv);
    if (!strcmp(argv[1], "dot")) return cmd_dot(argc, argv);
    fprintf(stderr, PROG ": unknown command '%s' (commands: train, eval, predict, dot; see '" PROG " --help')\n", argv[1]);
    return 2;
}
