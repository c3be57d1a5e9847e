/* lm_cli.c -- the option table, the command line and the settings in a checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_cli.h"
#include "nn.h"

const char lm_usage_main[] =
    "usage: " LM_PROG " train  [--text FILE] [--model elman|gru|lstm] [--hidden N] [--layers N] [--seq N]\n"
    "                      [--batch N] [--optim adam|adagrad|rmsprop|adamw|sgd] [--lr X] [--clip X]\n"
    "                      [--steps N | --epochs N] [--seed S] [--save FILE] [--save-every N]\n"
    "                      [--log-every N] [--resume FILE] [--quiet]\n"
    "       " LM_PROG " sample --load FILE [--start TEXT] [--len N] [--temperature T] [--seed S]\n"
    "\n"
    "A character-level language model (Karpathy's min-char-rnn / char-rnn) trained with\n"
    "truncated backpropagation through time. '" LM_PROG " COMMAND --help' for details.\n";

const char lm_usage_train[] =
    "usage: " LM_PROG " train [options]\n"
    "\n"
    "Trains on a UTF-8 text (a character is one code point) in chunks of --seq characters:\n"
    "each chunk is one tape and one optimizer step, and the recurrent state at its end is\n"
    "where the next chunk starts (truncated BPTT). --batch streams read the text side by side,\n"
    "each from its own part of it.\n"
    "\n"
    "  --text FILE        the text (default: the built-in one, examples/char_lm/harbour.txt)\n"
    "  --model KIND       elman, gru or lstm (default gru)\n"
    "  --hidden N         hidden size, 1 to 4096 (default 128)\n"
    "  --layers N         stacked recurrent layers, 1 to 4 (default 1)\n"
    "  --seq N            characters per chunk, 1 to 1000 (default 25)\n"
    "  --batch N          streams trained side by side, 1 to 1024 (default 1)\n"
    "  --optim NAME       adam, adagrad (min-char-rnn's), rmsprop (char-rnn's), adamw or sgd\n"
    "                     (default adam)\n"
    "  --lr X             learning rate (default: adam, adamw and rmsprop 0.002, adagrad 0.1,\n"
    "                     sgd 1)\n"
    "  --clip X           clip the gradients' joint norm to X; 0: no clipping (default 5)\n"
    "  --steps N          chunks to train on (default 3000), or\n"
    "  --epochs N         passes over the text\n"
    "  --seed S           random seed of the initial weights (default 1)\n"
    "  --save FILE        checkpoint to write, with FILE's loss curve beside it (FILE without\n"
    "                     .ckpt, then .loss.svg); checked before training starts\n"
    "  --save-every N     also save every N steps (default 0: at the end only)\n"
    "  --log-every N      a progress line and a point of the loss curve every N steps (default 100)\n"
    "  --resume FILE      continue the run saved in FILE exactly as if it had not stopped; the\n"
    "                     settings come from FILE; besides it give only --save (default FILE),\n"
    "                     --save-every, --quiet, and --steps or --epochs to train further\n"
    "  --quiet            no progress lines; the summary line is still printed\n"
    "\n"
    "The last line: steps= chars= seconds= chars_per_s= loss= (mean loss per character, in\n"
    "nats, over the last --log-every steps). Ctrl-C (SIGINT) or SIGTERM stops after the\n"
    "current step and saves, so --resume can go on.\n";

const char lm_usage_sample[] =
    "usage: " LM_PROG " sample --load FILE [--start TEXT] [--len N] [--temperature T] [--seed S]\n"
    "\n"
    "Prints TEXT and then N characters drawn one at a time from the model's prediction.\n"
    "\n"
    "  --load FILE        a checkpoint written by '" LM_PROG " train'\n"
    "  --start TEXT       the text to start from; every character must be in the model's\n"
    "                     vocabulary (default: one character of it, drawn at random)\n"
    "  --len N            characters to draw, 1 to 1000000 (default 500)\n"
    "  --temperature T    above 0, at most 100: below 1 sharpens the distribution, above 1\n"
    "                     flattens it (default 1)\n"
    "  --seed S           random seed (default 1)\n";

/* One option. type: 'l' whole number, 'd' number, 's' text, 'w' one of words, 'b' switch.
 * key: its name in a checkpoint's meta text, or NULL when it is not a setting of the run. */
typedef struct {
    const char *flag, *key;
    char type;
    double lo, hi;
    const char *const *words; /* 'w': the words, NULL-terminated */
    size_t off;
    const char *cmds;  /* "t" train, "s" sample */
} lm_flag;

static const char *const models[] = {"elman", "gru", "lstm", NULL};
static const char *const optims[] = {"adam", "adagrad", "rmsprop", "adamw", "sgd", NULL};
#define F(field) offsetof(lm_options, field)
static const lm_flag flags[] = {
    {"--text", "text", 's', 0, 0, NULL, F(text), "t"},
    {"--model", "model", 'w', 0, 0, models, F(model), "t"},
    {"--hidden", "hidden", 'l', 1, 4096, NULL, F(hidden), "t"},
    {"--layers", "layers", 'l', 1, 4, NULL, F(layers), "t"},
    {"--seq", "seq", 'l', 1, 1000, NULL, F(seq), "t"},
    {"--batch", "batch", 'l', 1, 1024, NULL, F(batch), "t"},
    {"--optim", "optim", 'w', 0, 0, optims, F(optim), "t"},
    {"--lr", "lr", 'd', 1e-9, 100, NULL, F(lr), "t"},
    {"--clip", "clip", 'd', 0, 1e9, NULL, F(clip), "t"},
    {"--steps", "steps", 'l', 0, 1e9, NULL, F(steps), "t"},
    {"--epochs", "epochs", 'l', 0, 1e6, NULL, F(epochs), "t"},
    {"--seed", "seed", 'l', 0, 2147483647, NULL, F(seed), "ts"},
    {"--log-every", "log_every", 'l', 1, 1e6, NULL, F(log_every), "t"},
    {"--save", NULL, 's', 0, 0, NULL, F(save), "t"},
    {"--save-every", NULL, 'l', 0, 1e9, NULL, F(save_every), "t"},
    {"--resume", NULL, 's', 0, 0, NULL, F(resume), "t"},
    {"--quiet", NULL, 'b', 0, 0, NULL, F(quiet), "t"},
    {"--load", NULL, 's', 0, 0, NULL, F(load), "s"},
    {"--start", NULL, 's', 0, 0, NULL, F(start), "s"},
    {"--len", NULL, 'l', 1, 1e6, NULL, F(len), "s"},
    {"--temperature", NULL, 'd', 1e-6, 100, NULL, F(temperature), "s"},
};
#undef F
enum { N_FLAGS = sizeof flags / sizeof flags[0] };

void lm_options_default(lm_options *o)
{
    memset(o, 0, sizeof *o);
    o->model = "gru";
    o->optim = "adam";
    o->hidden = 128;
    o->layers = 1;
    o->seq = 25;
    o->batch = 1;
    o->seed = 1;
    o->log_every = 100;
    o->clip = 5;
    o->len = 500;
    o->temperature = 1;
}

void lm_options_free(lm_options *o)
{
    free(o->owned);
    o->owned = NULL;
}

double lm_default_lr(const char *optim)
{
    return !strcmp(optim, "sgd") ? 1 : !strcmp(optim, "adagrad") ? 0.1 : 0.002; /* adam, adamw, rmsprop */
}

int lm_given(const lm_options *o, const char *flag)
{
    for (int i = 0; i < N_FLAGS; i++)
        if (!strcmp(flags[i].flag, flag)) return (int)(o->given >> i & 1);
    return 0;
}

/* Sets option f of o from the text s[0..n): 0, or -1 with why (the range, the words). */
static int set_value(lm_options *o, const lm_flag *f, const char *s, size_t n, char *why, size_t whyn)
{
    char num[64], *end;
    void *dst = (char *)o + f->off;
    switch (f->type) {
    case 'l':
    case 'd': {
        /* all of it a number: no spaces, no sign but '-', nothing after */
        int ok = n > 0 && n < sizeof num && s[0] != '+' && s[0] != ' ';
        if (ok) {
            memcpy(num, s, n);
            num[n] = 0;
            errno = 0;
            if (f->type == 'l') {
                long v = strtol(num, &end, 10);
                ok = !errno && *end == 0 && v >= f->lo && v <= f->hi;
                if (ok) *(long *)dst = v;
            } else {
                double v = strtod(num, &end);
                ok = !errno && *end == 0 && isfinite(v) && v >= f->lo && v <= f->hi;
                if (ok) *(double *)dst = v;
            }
        }
        if (!ok) {
            if (f->type == 'l') snprintf(why, whyn, "a whole number from %.0f to %.0f", f->lo, f->hi);
            else snprintf(why, whyn, "a number from %g to %g", f->lo, f->hi);
        }
        return ok ? 0 : -1;
    }
    case 'w':
        for (const char *const *w = f->words; *w; w++)
            if (strlen(*w) == n && !memcmp(*w, s, n)) {
                *(const char **)dst = *w; /* the table's own NUL-terminated word */
                return 0;
            }
        snprintf(why, whyn, "one of");
        for (const char *const *w = f->words; *w; w++)
            snprintf(why + strlen(why), whyn - strlen(why), " %s", *w);
        return -1;
    case 's':
        if (n == 0 || memchr(s, '\n', n)) {
            snprintf(why, whyn, "a non-empty text without a newline");
            return -1;
        }
        *(const char **)dst = s; /* the command line's own string */
        return 0;
    }
    return -1;
}

/* s as it may be shown in a message: at most 40 bytes, control bytes as '?'. */
static const char *shown(const char *s, size_t n, char *buf, size_t bn)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < bn && i < 40; i++) buf[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (n > 40 && k + 4 < bn) k += (size_t)snprintf(buf + k, bn - k, "...");
    buf[k] = 0;
    return buf;
}

int lm_cli_parse(const char *cmd, int argc, char **argv, int first, lm_options *o)
{
    char c = cmd[0], why[128], buf[64];
    const char *usage = c == 't' ? lm_usage_train : lm_usage_sample;
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 1;
        }
    }
    for (int i = first; i < argc; i++) {
        const lm_flag *f = NULL;
        for (int k = 0; k < N_FLAGS && !f; k++)
            if (!strcmp(argv[i], flags[k].flag) && strchr(flags[k].cmds, c)) f = &flags[k];
        if (!f) {
            fprintf(stderr, LM_PROG " %s: unknown option '%s' (see '" LM_PROG " %s --help')\n", cmd,
                    shown(argv[i], strlen(argv[i]), buf, sizeof buf), cmd);
            return 2;
        }
        int bit = (int)(f - flags);
        if (o->given >> bit & 1) {
            fprintf(stderr, LM_PROG " %s: %s is given twice\n", cmd, f->flag);
            return 2;
        }
        o->given |= 1UL << bit;
        if (f->type == 'b') {
            *(int *)((char *)o + f->off) = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, LM_PROG " %s: %s needs a value (see '" LM_PROG " %s --help')\n", cmd, f->flag, cmd);
            return 2;
        }
        const char *v = argv[++i];
        if (set_value(o, f, v, strlen(v), why, sizeof why) != 0) {
            fprintf(stderr, LM_PROG " %s: %s expects %s, got '%s'\n", cmd, f->flag, why,
                    shown(v, strlen(v), buf, sizeof buf));
            return 2;
        }
    }
    /* 0 stands for "not given" in a checkpoint (one of the two is 0); not on the command line */
    if ((lm_given(o, "--steps") && o->steps == 0) || (lm_given(o, "--epochs") && o->epochs == 0)) {
        fprintf(stderr, LM_PROG " %s: %s expects a whole number from 1 to %s, got '0'\n", cmd,
                o->steps == 0 && lm_given(o, "--steps") ? "--steps" : "--epochs",
                o->steps == 0 && lm_given(o, "--steps") ? "1000000000" : "1000000");
        return 2;
    }
    if (lm_given(o, "--steps") && lm_given(o, "--epochs")) {
        fprintf(stderr, LM_PROG " %s: give --steps or --epochs, not both\n", cmd);
        return 2;
    }
    if (c == 's' && !o->load) {
        fprintf(stderr, LM_PROG " sample: --load FILE is required (see '" LM_PROG " sample --help')\n");
        return 2;
    }
    return 0;
}

char *lm_settings_meta(const lm_options *o)
{
    size_t cap = 512 + (o->text ? strlen(o->text) : 0), k = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    for (int i = 0; i < N_FLAGS; i++) {
        const lm_flag *f = &flags[i];
        const void *v = (const char *)o + f->off;
        if (!f->key) continue;
        if (f->type == 'l') k += (size_t)snprintf(s + k, cap - k, "%s=%ld\n", f->key, *(const long *)v);
        else if (f->type == 'd') k += (size_t)snprintf(s + k, cap - k, "%s=%.17g\n", f->key, *(const double *)v);
        else {
            const char *t = *(const char *const *)v;
            k += (size_t)snprintf(s + k, cap - k, "%s=%s\n", f->key, t ? t : "");
        }
    }
    return s;
}

int lm_settings_from_meta(lm_options *o, const char *meta, int which, char *err, size_t errlen)
{
    char why[128], buf[64];
    for (int i = 0; i < N_FLAGS; i++) {
        const lm_flag *f = &flags[i];
        if (!f->key || (which == LM_MODEL_KEYS && strcmp(f->key, "model") && strcmp(f->key, "hidden") &&
                        strcmp(f->key, "layers")))
            continue;
        size_t len;
        const char *v = nn_meta_find(meta, f->key, &len);
        if (!v) {
            snprintf(err, errlen, "it lacks the setting '%s'", f->key);
            return -1;
        }
        if (f->type == 's') { /* the text path: empty for the built-in text */
            if (len == 0) {
                *(const char **)((char *)o + f->off) = NULL;
                continue;
            }
            free(o->owned);
            if (!(o->owned = malloc(len + 1))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            memcpy(o->owned, v, len);
            o->owned[len] = 0;
            v = o->owned;
        }
        if (set_value(o, f, v, len, why, sizeof why) != 0) {
            snprintf(err, errlen, "its setting '%s' expects %s, got '%s'", f->key, why, shown(v, len, buf, sizeof buf));
            return -1;
        }
    }
    return 0;
}
