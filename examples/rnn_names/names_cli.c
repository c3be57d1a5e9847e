/* names_cli.c -- rnn_names' option parser: every number is checked for form and range,
 * every option against the command's list, and each mistake gets one clear line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_cli.h"

#define PROG NAMES_PROG

const char names_cli_train_options[] =
    " data model hidden layers bidirectional pool dropout optim lr momentum weight-decay iters epochs batch clip"
    " schedule seed threads distinct letter-noise save save-every quiet resume ";
const char names_cli_eval_options[] = " load data ";
const char names_cli_predict_options[] = " load ";
const char names_cli_dot_options[] = " load out target stats ";

int names_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, PROG " %s: ", cmd);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see '" PROG " %s --help')\n", cmd);
    return 2;
}

int names_cli_long(const char *who, const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        char range[64];
        snprintf(range, sizeof range, "a whole number from %ld to %ld", lo, hi);
        fprintf(stderr, "%s: %s expects %s, got '%s'\n", who, flag, range, s);
        return 2;
    }
    *out = v;
    return 0;
}

int names_cli_double(const char *who, const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: %s expects a number from %g to %g, got '%s'\n", who, flag, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

/* Parses argv[first..] into o; positional arguments go to pos (if allowed). 0, 1 (help
 * shown) or 2 (usage error, message printed). */
int names_cli_parse(const char *cmd, int argc, char **argv, int first, options *o, const char **pos, int *npos,
                    const char *usage, const char *allowed)
{
    char who[64];
    snprintf(who, sizeof who, PROG " %s", cmd);
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
        char key[40];
        snprintf(key, sizeof key, " %s ", a + 2);
        if (!strstr(allowed, key)) return names_cli_bad(cmd, "unknown option '%s'%s", a, "");
        if (!strstr(" save save-every quiet resume ", key)) o->n_given++;
        if (!strcmp(a, "--quiet") || !strcmp(a, "--stats") || !strcmp(a, "--bidirectional") ||
            !strcmp(a, "--distinct")) {
            *(a[2] == 'q' ? &o->quiet : a[2] == 's' ? &o->stats : a[2] == 'b' ? &o->bidirectional : &o->distinct) = 1;
            continue;
        }
        if (i + 1 >= argc) return names_cli_bad(cmd, "option '%s' needs a value%s", a, "");
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--load")) o->load = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--target")) o->target = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--optim")) o->optim = v;
        else if (!strcmp(a, "--schedule")) o->schedule = v;
        else if (!strcmp(a, "--pool")) o->pool = v;
        else if (!strcmp(a, "--hidden")) rc = names_cli_long(who, a, v, 1, 4096, &o->hidden);
        else if (!strcmp(a, "--layers")) rc = names_cli_long(who, a, v, 1, 4, &o->layers);
        else if (!strcmp(a, "--dropout")) rc = names_cli_double(who, a, v, 0, 0.95, &o->dropout);
        else if (!strcmp(a, "--letter-noise")) rc = names_cli_double(who, a, v, 0, 0.5, &o->letter_noise);
        else if (!strcmp(a, "--iters")) rc = names_cli_long(who, a, v, 1, 2000000000L, &o->iters), o->have_iters = 1;
        else if (!strcmp(a, "--epochs")) rc = names_cli_long(who, a, v, 1, 100000, &o->epochs);
        else if (!strcmp(a, "--save-every")) rc = names_cli_long(who, a, v, 1, 2000000000L, &o->save_every);
        else if (!strcmp(a, "--threads")) rc = names_cli_long(who, a, v, 1, 64, &o->threads);
        else if (!strcmp(a, "--batch")) rc = names_cli_long(who, a, v, 1, 65536, &o->batch);
        else if (!strcmp(a, "--lr")) rc = names_cli_double(who, a, v, 1e-12, 1e3, &o->lr);
        else if (!strcmp(a, "--momentum")) rc = names_cli_double(who, a, v, 0, 0.9999, &o->momentum);
        else if (!strcmp(a, "--weight-decay")) rc = names_cli_double(who, a, v, 0, 1e3, &o->weight_decay);
        else if (!strcmp(a, "--clip")) rc = names_cli_double(who, a, v, 1e-9, 1e9, &o->clip);
        else if (!strcmp(a, "--seed")) {
            long s;
            rc = names_cli_long(who, a, v, 0, 2147483647L, &s);
            o->seed = (unsigned long long)s;
        }
        if (rc) return rc;
    }
    return 0;
}

