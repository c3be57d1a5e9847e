/* names_cli.h -- rnn_names' settings: one table of every option with the values it
 * takes, serving both the command line (names_cli_parse) and the settings a checkpoint
 * holds (names_settings_from_meta, names_settings_meta), so a checkpoint can never hold
 * what the command line would refuse. Kept apart from the commands so the parser can be
 * fuzzed on its own (tests/fuzz/fuzz_cli.c, tests/fuzz/fuzz_ckpt.c). */
#ifndef NAMES_CLI_H
#define NAMES_CLI_H

#include <stddef.h>

#define NAMES_PROG "rnn_names"

typedef struct {
    const char *data, *load, *save, *out, *target, *resume;
    int n_given; /* options given that are settings of the run (stored in a checkpoint) */
    const char *model, *optim, *schedule, *pool;
    long hidden, layers, iters, epochs, batch, save_every, threads, seed; /* iters, epochs: 0 = not given */
    double lr, momentum, weight_decay, clip, dropout, letter_noise;
    int quiet, stats, bidirectional, distinct;
} options;

/* The help texts: the program's and each command's. */
extern const char names_usage_main[], names_usage_train[], names_usage_eval[], names_usage_predict[],
    names_usage_dot[];

/* Each command's options, as names_cli_parse's `allowed` lists. */
extern const char names_cli_train_options[], names_cli_eval_options[], names_cli_predict_options[],
    names_cli_dot_options[];

/* Prints "rnn_names CMD: <fmt with a, b> (see 'rnn_names CMD --help')" and returns 2.
 * a and b are printed escaped (names_escape), as they may come from the user. */
int names_cli_bad(const char *cmd, const char *fmt, const char *a, const char *b);

/* A whole number (or a number) from s in [lo, hi] into *out: 0, or 2 after printing
 * "WHO: FLAG expects a whole number from LO to HI, got 'S'". Shared with name_gen. */
int names_cli_long(const char *who, const char *flag, const char *s, long lo, long hi, long *out);
int names_cli_double(const char *who, const char *flag, const char *s, double lo, double hi, double *out);

/* Parses argv[first..] into o. Options must appear in `allowed` (" name name ... ");
 * positional arguments go to pos[(*npos)++] when pos != NULL, else are an error.
 * Returns 0, 1 (--help: usage printed to stdout) or 2 (usage error, message on stderr). */
int names_cli_parse(const char *cmd, int argc, char **argv, int first, options *o, const char **pos, int *npos,
                    const char *usage, const char *allowed);

/* Which settings names_settings_from_meta reads: those that define the model (model,
 * hidden, layers, bidirectional, pool: what eval, predict and dot need), or all. */
enum { NAMES_SETTINGS_MODEL = 1, NAMES_SETTINGS_ALL = 2 };

/* Fills o from a checkpoint's meta text: each key is checked exactly as its flag is
 * (same range, same words), a key absent from checkpoints written before its option
 * existed takes the value those runs had, and (ALL) the settings are checked together
 * (names_settings_check; exactly one of iters and epochs is 0). Text values (data) are
 * copied to *store, allocated, which the caller frees (also on failure). 0, or -1
 * with err naming the key: "its setting 'batch' expects a whole number from 1 to
 * 65536, got '0'". */
int names_settings_from_meta(options *o, const char *meta, int which, char **store, char *err, size_t errlen);

/* The run's settings (every setting of the table with a meta key that is not part of
 * the model: data, optim, lr, ...) as "key=value\n" lines, snprintf-style: writes at
 * most n bytes and returns the length the whole text needs. */
size_t names_settings_meta(const options *o, char *buf, size_t n);

/* The checks that involve several settings (the tutorial model takes no --layers, ...),
 * for the command line and checkpoints alike. 0, or -1 with the reason in why. */
int names_settings_check(const options *o, char *why, size_t whyn);

#endif
