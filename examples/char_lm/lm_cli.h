/* lm_cli.h -- char_lm's settings: one table of every option, with its range or words,
 * serving the command line and the settings a checkpoint holds alike (a checkpoint can
 * never hold what the command line would refuse). */
#ifndef LM_CLI_H
#define LM_CLI_H

#include <stddef.h>

#define LM_PROG "char_lm"

typedef struct {
    /* train */
    const char *text, *save, *resume, *model, *optim;
    long hidden, layers, seq, batch, steps, epochs, seed, save_every, log_every;
    double lr, clip;
    int quiet;
    /* sample */
    const char *load, *start;
    long len;
    double temperature;
    /* which options the command line gave, by index in the table (bit i) */
    unsigned long given;
    char *owned; /* the text path read from a checkpoint (lm_options_free) */
} lm_options;

void lm_options_free(lm_options *o);

/* The defaults of every option. */
void lm_options_default(lm_options *o);

extern const char lm_usage_main[], lm_usage_train[], lm_usage_sample[];

/* Parses argv[first..] for command cmd ("train" or "sample") into o. Returns 0, 1
 * (--help printed to stdout) or 2 (a message on stderr: the flag, its range, the value). */
int lm_cli_parse(const char *cmd, int argc, char **argv, int first, lm_options *o);

/* 1 when the command line gave the option named flag ("--steps"). */
int lm_given(const lm_options *o, const char *flag);

/* The run's settings (each option with a meta key) as "key=value\n" lines, malloc'd;
 * NULL when out of memory. */
char *lm_settings_meta(const lm_options *o);

/* Reads every setting from a checkpoint's meta text, each checked as its flag is
 * (which = LM_MODEL_KEYS: only model, hidden, layers). A text value is copied (o->owned).
 * 0, or -1 with err naming the key, its range and the value. */
enum { LM_MODEL_KEYS = 1, LM_ALL_KEYS = 2 };
int lm_settings_from_meta(lm_options *o, const char *meta, int which, char *err, size_t errlen);

/* Default learning rate of an optimizer: adam, adamw, rmsprop 0.002 (char-rnn's), adagrad
 * 0.1 (min-char-rnn's), sgd 1. */
double lm_default_lr(const char *optim);

#endif
