/* name_gen -- generate surnames letter by letter, after the PyTorch tutorial
 * "NLP From Scratch: Generating Names with a Character-Level RNN". Written only against
 * the public API (ag.h, nn.h) and rnn_names' data loader: no backward pass by hand.
 *
 * The model, as in the tutorial: with c the one-hot language, x the one-hot current
 * letter and h the hidden state,
 *     input    = cat(c, x, h)
 *     h'       = i2h(input)
 *     out      = o2o(cat(h', i2o(input)))     then dropout(0.1) while training
 *     log p    = log_softmax(out)              over the 57 letters and an end marker
 * The loss is the NLL summed over every step of a name: each letter predicts the next,
 * the last predicts the end marker.
 *
 *   name_gen train    [--data DIR] [--hidden 128] [--lr 0.0005] [--iters 100000] [--seed S] [--save FILE]
 *   name_gen generate --load FILE --language LANG [--start LETTERS] [--temperature T | --greedy]
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names_cli.h"
#include "names_data.h"
#include "nn.h"

#define PROG "name_gen"
enum { EOS = NAMES_N_LETTERS, N_OUT = NAMES_N_LETTERS + 1, MAX_GEN = 30, HELDOUT = 300 };

static const char *usage =
    "usage: " PROG " train    [--data DIR] [--hidden N] [--lr X] [--iters N] [--seed S] [--save FILE] [--quiet]\n"
    "       " PROG " generate --load FILE --language LANG [--start LETTERS] [--temperature T | --greedy]\n"
    "                         [--count N] [--seed S]\n"
    "\n"
    "Generate surnames of a language letter by letter (the PyTorch tutorial's model).\n"
    "\n"
    "train:\n"
    "  --data DIR        directory of <Language>.txt files (default: rnn_names' built-in sample)\n"
    "  --hidden N        hidden size (default 128)\n"
    "  --lr X            SGD learning rate on the summed loss (default 0.0005, the tutorial's)\n"
    "  --iters N         names to train on, a random language then a random name (default 100000)\n"
    "  --seed S          random seed (default 1)\n"
    "  --save FILE       checkpoint to write (default name_gen.ckpt)\n"
    "  --quiet           no progress lines\n"
    "  Every tenth of the run it prints the mean loss per letter on held-out names\n"
    "  (the test split of rnn_names); the last lines are heldout_loss_start= and _end=.\n"
    "\n"
    "generate:\n"
    "  --language LANG   one of the languages trained on\n"
    "  --start LETTERS   one name per letter, starting with it (default: the language's\n"
    "                    most common first letters)\n"
    "  --temperature T   sample from p^(1/T) (default 0.5); --greedy takes the most likely letter\n"
    "  --count N         names per start letter when sampling (default 1)\n";

typedef struct {
    int n_classes, hidden;
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    nn_params ps;
    nn_linear i2h, i2o, o2o;
} gen_model;

static int model_init(gen_model *m, int n_classes, int hidden, ag_rng *rng)
{
    nn_params_init(&m->ps);
    m->n_classes = n_classes;
    m->hidden = hidden;
    int in = n_classes + NAMES_N_LETTERS + hidden;
    if (nn_linear_init(&m->i2h, &m->ps, "i2h.", in, hidden, 1, rng) != NN_OK ||
        nn_linear_init(&m->i2o, &m->ps, "i2o.", in, N_OUT, 1, rng) != NN_OK ||
        nn_linear_init(&m->o2o, &m->ps, "o2o.", hidden + N_OUT, N_OUT, 1, rng) != NN_OK) {
        nn_params_free(&m->ps);
        return -1;
    }
    return 0;
}

/* One step: (1, classes), (1, 57), (1, H) -> log p (1, 58); *h becomes h'. */
static ag_tensor *step(ag_tape *t, gen_model *m, ag_tensor *lang, int letter, ag_tensor **h, ag_rng *drop)
{
    ag_tensor *in3[3] = {lang, ag_one_hot(t, &letter, 1, NAMES_N_LETTERS), *h};
    ag_tensor *input = ag_cat(t, in3, 3, 1);
    ag_tensor *h_next = nn_linear_forward(t, &m->i2h, input);
    ag_tensor *in2[2] = {h_next, nn_linear_forward(t, &m->i2o, input)};
    ag_tensor *out = nn_linear_forward(t, &m->o2o, ag_cat(t, in2, 2, 1));
    if (drop) out = nn_dropout(t, out, 0.1, drop);
    *h = h_next;
    return ag_log_softmax(t, out, 1);
}

/* The summed NLL of one name (letters then the end marker). */
static ag_tensor *name_loss(ag_tape *t, gen_model *m, const names_item *it, ag_rng *drop)
{
    ag_tensor *lang = ag_one_hot(t, &it->label, 1, m->n_classes);
    ag_tensor *h = ag_zeros(t, 2, (int[]){1, m->hidden});
    ag_tensor *loss = NULL;
    for (int s = 0; s < it->len; s++) {
        ag_tensor *logp = step(t, m, lang, names_letter_index(it->text[s]), &h, drop);
        int target = s + 1 < it->len ? names_letter_index(it->text[s + 1]) : EOS;
        ag_tensor *l = ag_nll_loss(t, logp, &target, AG_SUM);
        loss = loss ? ag_add(t, loss, l) : l;
    }
    return loss;
}

/* Mean NLL per predicted letter over up to HELDOUT test names, no gradients. */
static double heldout_loss(gen_model *m, const names_data *d, ag_tape *t)
{
    double sum = 0;
    long letters = 0;
    int old = ag_tape_set_grad(t, 0);
    int n = d->n_test < HELDOUT ? d->n_test : HELDOUT;
    for (int i = 0; i < n; i++) {
        const names_item *it = &d->test[(long)i * d->n_test / n];
        ag_tape_reset(t);
        ag_tensor *l = name_loss(t, m, it, NULL);
        if (!l) return NAN;
        sum += l->data[0];
        letters += it->len;
    }
    ag_tape_set_grad(t, old);
    return letters ? sum / letters : NAN;
}

static int train(int argc, char **argv)
{
    const char *data = NULL, *save = "name_gen.ckpt";
    long hidden = 128, iters = 100000, seed = 1;
    double lr = 0.0005;
    int quiet = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!v || strncmp(a, "--", 2)) {
            fprintf(stderr, PROG " train: %s '%s' (see '" PROG " --help')\n", v ? "unexpected argument" : "missing value or unknown option", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--hidden")) rc = names_cli_long(PROG " train", a, v, 1, 4096, &hidden);
        else if (!strcmp(a, "--iters")) rc = names_cli_long(PROG " train", a, v, 1, 1000000000L, &iters);
        else if (!strcmp(a, "--seed")) rc = names_cli_long(PROG " train", a, v, 0, 2147483647L, &seed);
        else if (!strcmp(a, "--lr")) rc = names_cli_double(PROG " train", a, v, 1e-9, 10, &lr);
        else {
            fprintf(stderr, PROG " train: unknown option '%s' (see '" PROG " --help')\n", a);
            return 2;
        }
        if (rc) return 2;
    }
    char err[1024];
    names_data d;
    int rc = data ? names_load_dir(&d, data, stderr, err, sizeof err) : names_load_sample(&d, stderr, err, sizeof err);
    if (rc) {
        fprintf(stderr, PROG " train: %s\n", err);
        return 1;
    }
    ag_rng rng, drop;
    ag_rng_seed(&rng, (uint64_t)seed);
    ag_rng_seed(&drop, (uint64_t)seed ^ 0xd209);
    gen_model m;
    ag_tape *t = ag_tape_new();
    nn_optim opt = {0};
    rc = 1;
    if (t) ag_tape_release_grads(t, 1); /* a step's gradients reuse one another's memory */
    if (!t || model_init(&m, d.n_classes, (int)hidden, &rng) != 0) {
        fprintf(stderr, PROG " train: out of memory\n");
        ag_tape_free(t);
        names_free(&d);
        return 1;
    }
    memcpy(m.classes, d.classes, sizeof m.classes);
    if (nn_sgd_init(&opt, &m.ps, lr, 0, 0) != NN_OK) {
        fprintf(stderr, PROG " train: out of memory\n");
        goto out;
    }
    double start = heldout_loss(&m, &d, t), last = start, running = 0;
    if (!quiet) fprintf(stderr, "iter 0: held-out loss %.4f per letter\n", start);
    time_t t0 = time(NULL);
    for (long it = 1; it <= iters; it++) {
        int c = ag_rng_below(&rng, d.n_classes);
        const names_item *item = &d.train[d.by_class[d.class_start[c] +
                                                     ag_rng_below(&rng, d.class_start[c + 1] - d.class_start[c])]];
        ag_tape_reset(t);
        nn_params_zero_grad(&m.ps);
        ag_tensor *loss = name_loss(t, &m, item, &drop);
        if (!loss || ag_backward(t, loss) != AG_OK || !isfinite(loss->data[0])) {
            fprintf(stderr, PROG " train: step %ld: %s\n", it, loss ? ag_tape_error(t) : "the loss is not finite");
            goto out;
        }
        nn_optim_step(&opt);
        running += (loss->data[0] / item->len - running) * 0.01;
        if (it % (iters / 10 > 0 ? iters / 10 : 1) == 0 || it == iters) {
            last = heldout_loss(&m, &d, t);
            if (!quiet)
                fprintf(stderr, "iter %ld (%.0f%%, %lds): train loss %.4f, held-out loss %.4f per letter\n", it,
                        100.0 * it / iters, (long)(time(NULL) - t0), running, last);
        }
    }
    char meta[4096];
    size_t k = (size_t)snprintf(meta, sizeof meta, "model=name_gen\nhidden=%ld\nletters=%s\nclasses=", hidden, NAMES_LETTERS);
    for (int c = 0; c < d.n_classes && k < sizeof meta; c++)
        k += (size_t)snprintf(meta + k, sizeof meta - k, "%s%s", c ? "," : "", d.classes[c]);
    if (k < sizeof meta) snprintf(meta + k, sizeof meta - k, "\n");
    if (nn_ckpt_save(save, meta, &m.ps, &opt, err, sizeof err) != NN_OK) {
        fprintf(stderr, PROG " train: %s\n", err);
        goto out;
    }
    printf("heldout_loss_start=%.4f\nheldout_loss_end=%.4f\ncheckpoint=%s\n", start, last, save);
    rc = 0;
out:
    nn_optim_free(&opt);
    nn_params_free(&m.ps);
    ag_tape_free(t);
    names_free(&d);
    return rc;
}

static int load(const char *path, gen_model *m)
{
    char err[1024], v[NAMES_MAX_CLASSES * NAMES_MAX_CLASS_NAME];
    nn_ckpt *c;
    if (nn_ckpt_open(path, &c, err, sizeof err) != NN_OK) {
        fprintf(stderr, PROG " generate: %s\n", err);
        return -1;
    }
    const char *meta = nn_ckpt_meta(c);
    int n = 0, rc = -1;
    long hidden = 0;
    if (!nn_meta_get(meta, "model", v, sizeof v) || strcmp(v, "name_gen") ||
        !nn_meta_get(meta, "letters", v, sizeof v) || strcmp(v, NAMES_LETTERS) ||
        !nn_meta_get(meta, "hidden", v, sizeof v) || (hidden = strtol(v, NULL, 10)) < 1 || hidden > 4096 ||
        !nn_meta_get(meta, "classes", v, sizeof v)) {
        fprintf(stderr, PROG " generate: %s is not a name_gen checkpoint\n", path);
        nn_ckpt_close(c);
        return -1;
    }
    char classes[NAMES_MAX_CLASSES][NAMES_MAX_CLASS_NAME];
    for (char *s = v, *comma; s && *s && n < NAMES_MAX_CLASSES; s = comma ? comma + 1 : NULL) {
        comma = strchr(s, ',');
        if (comma) *comma = 0;
        snprintf(classes[n++], NAMES_MAX_CLASS_NAME, "%.*s", NAMES_MAX_CLASS_NAME - 1, s);
    }
    ag_rng r;
    ag_rng_seed(&r, 0);
    if (n < 2 || model_init(m, n, (int)hidden, &r) != 0) {
        fprintf(stderr, PROG " generate: %s: bad class list or out of memory\n", path);
    } else if (nn_ckpt_load(c, &m->ps, NULL, err, sizeof err) != NN_OK) {
        fprintf(stderr, PROG " generate: %s\n", err);
        nn_params_free(&m->ps);
    } else {
        memcpy(m->classes, classes, sizeof classes);
        rc = 0;
    }
    nn_ckpt_close(c);
    return rc;
}

/* One name from `first`: greedy when temperature <= 0. */
static void generate_one(gen_model *m, ag_tape *t, int lang_id, char first, double temperature, ag_rng *rng,
                         char *out)
{
    ag_tape_reset(t);
    ag_tensor *lang = ag_one_hot(t, &lang_id, 1, m->n_classes);
    ag_tensor *h = ag_zeros(t, 2, (int[]){1, m->hidden});
    int letter = names_letter_index(first), n = 0;
    out[n++] = first;
    while (n < MAX_GEN) {
        ag_tensor *logp = step(t, m, lang, letter, &h, NULL);
        /* The most likely letter: greedy's choice, and the shift that keeps the exps
         * below in range. (Found by comparison, not as a running fmax() over k: that
         * loop stops GCC 12 for aarch64 at -O3 with an internal compiler error "in
         * vect_transform_reduction, at tree-vect-loop.cc:7457", its vectoriser failing
         * on an fmax reduction.) */
        int best = 0, next;
        for (int k = 1; k < N_OUT; k++)
            if (logp->data[k] > logp->data[best]) best = k;
        if (temperature <= 0) next = best;
        else { /* p_k proportional to exp(logp_k / T) */
            double w[N_OUT], total = 0, mx = logp->data[best] / temperature;
            for (int k = 0; k < N_OUT; k++) total += w[k] = exp(logp->data[k] / temperature - mx);
            double u = ag_rng_uniform(rng) * total;
            for (next = 0; next < N_OUT - 1 && (u -= w[next]) > 0; next++) {}
        }
        if (next == EOS) break;
        out[n++] = NAMES_LETTERS[next];
        letter = next;
    }
    out[n] = 0;
}

static int generate(int argc, char **argv)
{
    const char *path = NULL, *language = NULL, *start = NULL;
    double temperature = 0.5;
    long count = 1, seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--greedy")) { temperature = 0; continue; }
        if (!strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!v || strncmp(a, "--", 2)) {
            fprintf(stderr, PROG " generate: %s '%s' (see '" PROG " --help')\n", v ? "unexpected argument" : "missing value or unknown option", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--load")) path = v;
        else if (!strcmp(a, "--language")) language = v;
        else if (!strcmp(a, "--start")) start = v;
        else if (!strcmp(a, "--temperature")) rc = names_cli_double(PROG " generate", a, v, 0.01, 100, &temperature);
        else if (!strcmp(a, "--count")) rc = names_cli_long(PROG " generate", a, v, 1, 1000, &count);
        else if (!strcmp(a, "--seed")) rc = names_cli_long(PROG " generate", a, v, 0, 2147483647L, &seed);
        else {
            fprintf(stderr, PROG " generate: unknown option '%s' (see '" PROG " --help')\n", a);
            return 2;
        }
        if (rc) return 2;
    }
    if (!path || !language) {
        fprintf(stderr, PROG " generate: --load FILE and --language LANG are required\n");
        return 2;
    }
    gen_model m;
    if (load(path, &m) != 0) return 1;
    int lang = 0, rc = 1;
    while (lang < m.n_classes && strcmp(m.classes[lang], language)) lang++;
    ag_tape *t = ag_tape_new();
    if (lang == m.n_classes) {
        fprintf(stderr, PROG " generate: '%s' is not one of the model's languages:", language);
        for (int c = 0; c < m.n_classes; c++) fprintf(stderr, " %s", m.classes[c]);
        fputc('\n', stderr);
    } else if (!t) {
        fprintf(stderr, PROG " generate: out of memory\n");
    } else {
        if (!start) start = "ABCDEGKLMPRST";
        for (const char *p = start; *p; p++)
            if (names_letter_index(*p) < 0 || *p == ' ') {
                fprintf(stderr, PROG " generate: --start letter '%c' is not one of the 57 letters\n", *p);
                goto out;
            }
        ag_tape_set_grad(t, 0);
        ag_rng rng;
        ag_rng_seed(&rng, (uint64_t)seed);
        for (const char *p = start; *p; p++)
            for (long k = 0; k < (temperature > 0 ? count : 1); k++) {
                char name[MAX_GEN + 1];
                generate_one(&m, t, lang, *p, temperature, &rng, name);
                printf("%s\n", name);
            }
        rc = 0;
    }
out:
    ag_tape_free(t);
    nn_params_free(&m.ps);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return train(argc, argv);
    if (!strcmp(argv[1], "generate")) return generate(argc, argv);
    fprintf(stderr, PROG ": unknown command '%s' (train or generate; see '" PROG " --help')\n", argv[1]);
    return 2;
}
