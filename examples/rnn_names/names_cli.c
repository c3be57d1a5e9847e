/* names_cli.c -- rnn_names' settings table, and through it the option parser and the
 * reading and writing of a checkpoint's settings: every value is checked for form and
 * range by the same row wherever it comes from, and each mistake gets one clear line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_cli.h"
#include "names_data.h"
#include "nn.h"

#define PROG NAMES_PROG

const char names_cli_train_options[] =
    " data model hidden layers bidirectional pool dropout optim lr momentum weight-decay iters epochs batch clip"
    " schedule seed threads distinct letter-noise save save-every quiet resume ";
const char names_cli_eval_options[] = " load data ";
const char names_cli_predict_options[] = " load ";
const char names_cli_dot_options[] = " load out target stats ";

/* ---- the help texts ---- */

const char names_usage_main[] =
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

const char names_usage_train[] =
    "usage: " PROG " train [options]\n"
    "\n"
    "  --data DIR         directory of <Language>.txt files (default: the built-in sample);\n"
    "                     the checkpoint stores its absolute path, for eval and --resume\n"
    "  --model KIND       tutorial (the PyTorch tutorial's RNN), elman, gru or lstm\n"
    "                     (default tutorial; 'seed', its old name, is still read)\n"
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
    "                     a seed and a thread count always give the same result. Under\n"
    "                     mpirun -np R (built with -DAG_MPI=ON): T threads per process,\n"
    "                     R*T slices, the same result as --threads R*T in one process\n"
    "  --save FILE        checkpoint to write (default rnn_names.ckpt); beside it go\n"
    "                     BASE.loss.csv, BASE.loss.svg and BASE.confusion.svg. Checked\n"
    "                     before training: its directory must take a new file\n"
    "  --save-every N     also save the checkpoint after every N names, so a run that is\n"
    "                     stopped (or that meets a NaN) keeps its last good state\n"
    "  --quiet            no progress line\n"
    "  --resume FILE      continue the run saved in FILE (by --save-every, or at its end with\n"
    "                     more names to go) with every setting it was started with; the\n"
    "                     result is bit for bit that of a run never interrupted\n"
    "\n"
    "A name is in the test split when the CRC-32 of its line is 0 mod 10.\n"
    "At the end, stdout has test_accuracy=, macro_accuracy= and train_names_per_s= lines.\n";

const char names_usage_eval[] =
    "usage: " PROG " eval --load FILE [--data DIR]\n"
    "\n"
    "  --load FILE   a checkpoint written by '" PROG " train'\n"
    "  --data DIR    data to evaluate on (default: the data the model was trained on,\n"
    "                by the absolute path the checkpoint stores)\n"
    "\n"
    "Prints accuracy, macro accuracy (mean of per-language accuracies), each language's\n"
    "accuracy and the confusion matrix of the test split.\n";

const char names_usage_predict[] =
    "usage: " PROG " predict --load FILE NAME...\n"
    "\n"
    "Prints the 3 most likely languages of each NAME with their log-probabilities,\n"
    "for example '(-0.47) Scottish'. Names are folded to ASCII as in training; a name\n"
    "must keep 1 to 64 letters.\n";

const char names_usage_dot[] =
    "usage: " PROG " dot --load FILE NAME [-o graph.dot] [--target LANGUAGE] [--stats]\n"
    "\n"
    "Writes the graph of one forward and backward pass over NAME: one node per op and\n"
    "per parameter or input, each time step in its own box. The loss is the NLL of\n"
    "--target (default: the predicted language). --stats adds each node's value and\n"
    "gradient norm, min and max, and marks NaN or Inf in red. When Graphviz's dot is\n"
    "installed, graph.svg is written next to graph.dot.\n";

/* ---- the table ---- */

typedef enum { SET_TEXT, SET_WORD, SET_LONG, SET_DOUBLE, SET_FLAG } set_kind;

typedef struct {
    const char *flag;          /* "weight-decay" for --weight-decay */
    const char *key;           /* its key in a checkpoint's meta; NULL: command line only */
    set_kind kind;
    size_t at;                 /* offsetof(options, field) */
    double lo, hi;             /* SET_LONG, SET_DOUBLE: the range */
    const char *const *words;  /* SET_WORD: the values, NULL-terminated */
    int zero_in_meta;          /* a checkpoint may also hold 0, meaning "not used" */
    int model;                 /* defines the model: read by eval, predict and dot too */
    const char *absent;        /* the value of a checkpoint without the key (written before
                                  the option existed); NULL: the key is required */
} setting;

static const char *const models[] = {"tutorial", "elman", "gru", "lstm", NULL};
/* Words that were renamed: still read (checkpoints and scripts from before 0.2 say
 * model=seed), never written. */
static const char *const renamed[][2] = {{"seed", "tutorial"}};
static const char *const pools[] = {"last", "mean", NULL};
static const char *const optims[] = {"sgd", "adam", NULL};
static const char *const schedules[] = {"constant", "cosine", NULL};

#define AT(field) offsetof(options, field)
/* In the order a checkpoint's meta lists them (model keys: names_model_meta). */
static const setting table[] = {
    {"model", "model", SET_WORD, AT(model), 0, 0, models, 0, 1, NULL},
    {"hidden", "hidden", SET_LONG, AT(hidden), 1, 4096, NULL, 0, 1, NULL},
    {"layers", "layers", SET_LONG, AT(layers), 1, 4, NULL, 0, 1, "1"},
    {"bidirectional", "bidirectional", SET_FLAG, AT(bidirectional), 0, 1, NULL, 0, 1, "0"},
    {"pool", "pool", SET_WORD, AT(pool), 0, 0, pools, 0, 1, "last"},
    {"data", "data", SET_TEXT, AT(data), 0, 0, NULL, 0, 0, NULL},
    {"optim", "optim", SET_WORD, AT(optim), 0, 0, optims, 0, 0, NULL},
    {"lr", "lr", SET_DOUBLE, AT(lr), 1e-12, 1e3, NULL, 0, 0, NULL},
    {"momentum", "momentum", SET_DOUBLE, AT(momentum), 0, 0.9999, NULL, 0, 0, NULL},
    {"weight-decay", "weight_decay", SET_DOUBLE, AT(weight_decay), 0, 1e3, NULL, 0, 0, NULL},
    {"clip", "clip", SET_DOUBLE, AT(clip), 1e-9, 1e9, NULL, 1, 0, NULL},
    {"schedule", "schedule", SET_WORD, AT(schedule), 0, 0, schedules, 0, 0, NULL},
    {"dropout", "dropout", SET_DOUBLE, AT(dropout), 0, 0.95, NULL, 0, 0, NULL},
    {"batch", "batch", SET_LONG, AT(batch), 1, 65536, NULL, 0, 0, NULL},
    {"iters", "iters", SET_LONG, AT(iters), 1, 2000000000, NULL, 1, 0, NULL},
    {"epochs", "epochs", SET_LONG, AT(epochs), 1, 100000, NULL, 1, 0, NULL},
    {"seed", "seed", SET_LONG, AT(seed), 0, 2147483647, NULL, 0, 0, NULL},
    {"threads", "threads", SET_LONG, AT(threads), 1, 64, NULL, 0, 0, "1"},
    {"distinct", "distinct", SET_FLAG, AT(distinct), 0, 1, NULL, 0, 0, "0"},
    {"letter-noise", "letter_noise", SET_DOUBLE, AT(letter_noise), 0, 0.5, NULL, 0, 0, "0"},
    {"save", NULL, SET_TEXT, AT(save), 0, 0, NULL, 0, 0, NULL},
    {"save-every", NULL, SET_LONG, AT(save_every), 1, 2000000000, NULL, 0, 0, NULL},
    {"quiet", NULL, SET_FLAG, AT(quiet), 0, 1, NULL, 0, 0, NULL},
    {"resume", NULL, SET_TEXT, AT(resume), 0, 0, NULL, 0, 0, NULL},
    {"load", NULL, SET_TEXT, AT(load), 0, 0, NULL, 0, 0, NULL},
    {"out", NULL, SET_TEXT, AT(out), 0, 0, NULL, 0, 0, NULL},
    {"target", NULL, SET_TEXT, AT(target), 0, 0, NULL, 0, 0, NULL},
    {"stats", NULL, SET_FLAG, AT(stats), 0, 1, NULL, 0, 0, NULL},
};
enum { N_SETTINGS = sizeof table / sizeof table[0] };

#define FIELD(o, s, type) ((type *)((char *)(o) + (s)->at))

/* ---- values: one check per kind, whatever the source ---- */

/* s (NUL-terminated) as a whole number in [lo, hi] (or 0 when zero_ok). 0, or -1 with
 * "expects a whole number from LO to HI, got 'S'" in why. */
static int check_long(const char *s, long lo, long hi, int zero_ok, long *out, char *why, size_t whyn)
{
    char *end, shown[96];
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end && !errno && ((v >= lo && v <= hi) || (zero_ok && v == 0))) {
        *out = v;
        return 0;
    }
    snprintf(why, whyn, "expects a whole number from %ld to %ld%s, got '%s'", lo, hi, zero_ok ? " (or 0: not used)" : "",
             names_escape(s, shown, sizeof shown));
    return -1;
}

static int check_double(const char *s, double lo, double hi, int zero_ok, double *out, char *why, size_t whyn)
{
    char *end, shown[96];
    errno = 0;
    double v = strtod(s, &end);
    if (*s && !*end && !errno && ((v >= lo && v <= hi) || (zero_ok && v == 0))) {
        *out = v;
        return 0;
    }
    snprintf(why, whyn, "expects a number from %g to %g%s, got '%s'", lo, hi, zero_ok ? " (or 0: not used)" : "",
             names_escape(s, shown, sizeof shown));
    return -1;
}

/* "must be tutorial, elman, gru or lstm, got 'S'" */
static int check_word(const char *s, const char *const *words, const char **out, char *why, size_t whyn)
{
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        if (!strcmp(s, renamed[i][0])) s = renamed[i][1];
    for (int i = 0; words[i]; i++)
        if (!strcmp(s, words[i])) {
            *out = words[i];
            return 0;
        }
    char shown[96];
    size_t k = (size_t)snprintf(why, whyn, "must be ");
    for (int i = 0; words[i] && k < whyn; i++)
        k += (size_t)snprintf(why + k, whyn - k, "%s%s", i == 0 ? "" : words[i + 1] ? ", " : " or ", words[i]);
    if (k < whyn) snprintf(why + k, whyn - k, ", got '%s'", names_escape(s, shown, sizeof shown));
    return -1;
}

/* The value s (NUL-terminated) of setting st into o. TEXT values are stored as given
 * (s must outlive o). 0, or -1 with the reason in why. */
static int set_value(const setting *st, const char *s, int from_meta, options *o, char *why, size_t whyn)
{
    int zero_ok = from_meta && st->zero_in_meta;
    switch (st->kind) {
    case SET_TEXT: *FIELD(o, st, const char *) = s; return 0;
    case SET_WORD: return check_word(s, st->words, FIELD(o, st, const char *), why, whyn);
    case SET_LONG: return check_long(s, (long)st->lo, (long)st->hi, zero_ok, FIELD(o, st, long), why, whyn);
    case SET_DOUBLE: return check_double(s, st->lo, st->hi, zero_ok, FIELD(o, st, double), why, whyn);
    case SET_FLAG: {
        long v;
        if (check_long(s, 0, 1, 0, &v, why, whyn) != 0) return -1;
        *FIELD(o, st, int) = (int)v;
        return 0;
    }
    }
    return -1;
}

/* ---- the command line ---- */

int names_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b)
{
    char ea[256], eb[256];
    fprintf(stderr, PROG " %s: ", cmd);
    fprintf(stderr, fmt, names_escape(a, ea, sizeof ea), names_escape(b, eb, sizeof eb));
    fprintf(stderr, " (see '" PROG " %s --help')\n", cmd);
    return 2;
}

int names_cli_long(const char *who, const char *flag, const char *s, long lo, long hi, long *out)
{
    char why[256];
    if (check_long(s, lo, hi, 0, out, why, sizeof why) == 0) return 0;
    fprintf(stderr, "%s: %s %s\n", who, flag, why);
    return 2;
}

int names_cli_double(const char *who, const char *flag, const char *s, double lo, double hi, double *out)
{
    char why[256];
    if (check_double(s, lo, hi, 0, out, why, sizeof why) == 0) return 0;
    fprintf(stderr, "%s: %s %s\n", who, flag, why);
    return 2;
}

/* The row of flag `name` (without "--") if it is among `allowed`, else NULL. */
static const setting *find_flag(const char *name, const char *allowed)
{
    size_t n = strlen(name);
    const char *p = allowed;
    while ((p = strstr(p, name)) != NULL) { /* a whole word of the list */
        if (p > allowed && p[-1] == ' ' && p[n] == ' ') break;
        p += n ? n : 1;
    }
    if (!p || !n) return NULL;
    for (int i = 0; i < N_SETTINGS; i++)
        if (!strcmp(table[i].flag, name)) return &table[i];
    return NULL;
}

int names_cli_parse(const char *cmd, int argc, char **argv, int first, options *o, const char **pos, int *npos,
                    const char *usage, const char *allowed)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "-o")) a = "--out";
        if (strncmp(a, "--", 2) != 0 || !strcmp(a, "--")) {
            if (!strcmp(a, "--")) a = ++i < argc ? argv[i] : NULL;
            if (!a) break;
            if (!pos) return names_cli_bad(cmd, "unexpected argument '%s'%s", a, "");
            pos[(*npos)++] = a;
            continue;
        }
        const setting *st = find_flag(a + 2, allowed);
        if (!st) return names_cli_bad(cmd, "unknown option '%s'%s", a, "");
        if (st->key) o->n_given++;
        if (st->kind == SET_FLAG) {
            *FIELD(o, st, int) = 1;
            continue;
        }
        if (i + 1 >= argc) return names_cli_bad(cmd, "option '%s' needs a value%s", a, "");
        char why[512];
        if (set_value(st, argv[++i], 0, o, why, sizeof why) != 0) {
            fprintf(stderr, PROG " %s: --%s %s\n", cmd, st->flag, why);
            return 2;
        }
    }
    return 0;
}

/* ---- a checkpoint's settings ---- */

int names_settings_check(const options *o, char *why, size_t whyn)
{
    if (o->model && !strcmp(o->model, "tutorial") &&
        (o->layers != 1 || o->dropout > 0 || o->bidirectional || (o->pool && !strcmp(o->pool, "mean")))) {
        snprintf(why, whyn, "--layers, --bidirectional, --pool and --dropout are for elman, gru and lstm, not tutorial");
        return -1;
    }
    if (o->iters && o->epochs) {
        snprintf(why, whyn, "give --iters or --epochs, not both");
        return -1;
    }
    if (o->distinct && !o->epochs) {
        snprintf(why, whyn, "--distinct needs --epochs (with --iters every language is drawn equally often anyway)");
        return -1;
    }
    return 0;
}

/* One key of the meta text into o; its value is copied into store at *used. */
static int setting_from_meta(const setting *st, const char *meta, options *o, char *store, size_t *used, char *err,
                             size_t errlen)
{
    size_t len;
    const char *v = nn_meta_find(meta, st->key, &len);
    if (!v && !st->absent) {
        snprintf(err, errlen, "it lacks the '%s' setting (was it written by 'train' of this version?)", st->key);
        return -1;
    }
    char *s = store + *used; /* store holds as many bytes as the meta text: every value fits */
    if (v) memcpy(s, v, len);
    else len = (size_t)snprintf(s, strlen(st->absent) + 1, "%s", st->absent);
    s[len] = 0;
    *used += len + 1;
    char why[512];
    if (set_value(st, s, 1, o, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "its setting '%s' %s", st->key, why);
    return -1;
}

int names_settings_from_meta(options *o, const char *meta, int which, char **store, char *err, size_t errlen)
{
    size_t used = 0, cap = strlen(meta) + 64; /* the values, plus the longest default */
    if (!(*store = malloc(cap))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < N_SETTINGS; i++) {
        const setting *st = &table[i];
        if (!st->key || (which == NAMES_SETTINGS_MODEL && !st->model)) continue;
        if (setting_from_meta(st, meta, o, *store, &used, err, errlen) != 0) return -1;
    }
    if (which == NAMES_SETTINGS_MODEL) return 0;
    if (o->data && !*o->data) o->data = NULL; /* the built-in sample */
    char why[256];
    if ((o->iters != 0) == (o->epochs != 0)) {
        snprintf(err, errlen, "its settings iters=%ld and epochs=%ld: exactly one of them must be 0", o->iters, o->epochs);
        return -1;
    }
    if (names_settings_check(o, why, sizeof why) != 0) {
        snprintf(err, errlen, "its settings do not go together: %s", why);
        return -1;
    }
    return 0;
}

size_t names_settings_meta(const options *o, char *buf, size_t n)
{
    size_t k = 0;
    for (int i = 0; i < N_SETTINGS; i++) {
        const setting *st = &table[i];
        if (!st->key || st->model) continue;
        char *at = k < n ? buf + k : NULL;
        size_t room = k < n ? n - k : 0;
        int w = 0;
        switch (st->kind) {
        case SET_TEXT: {
            const char *s = *FIELD(o, st, const char *const);
            w = snprintf(at, room, "%s=%s\n", st->key, s ? s : "");
            break;
        }
        case SET_WORD: w = snprintf(at, room, "%s=%s\n", st->key, *FIELD(o, st, const char *const)); break;
        case SET_LONG: w = snprintf(at, room, "%s=%ld\n", st->key, *FIELD(o, st, const long)); break;
        case SET_DOUBLE: w = snprintf(at, room, "%s=%.17g\n", st->key, *FIELD(o, st, const double)); break;
        case SET_FLAG: w = snprintf(at, room, "%s=%d\n", st->key, *FIELD(o, st, const int)); break;
        }
        k += (size_t)w;
    }
    return k;
}
