/* names_cli.h -- rnn_names' command-line options and their parser (names_cli.c), kept
 * apart from the commands so the parser can be fuzzed on its own (tests/fuzz/fuzz_cli.c). */
#ifndef NAMES_CLI_H
#define NAMES_CLI_H

#define NAMES_PROG "rnn_names"

typedef struct {
    const char *data, *load, *save, *out, *target, *resume;
    int n_given; /* options given other than save, save-every, quiet and resume */
    const char *model, *optim, *schedule, *pool;
    long hidden, layers, iters, epochs, batch, save_every, threads;
    double lr, momentum, weight_decay, clip, dropout, letter_noise;
    unsigned long long seed;
    int quiet, stats, bidirectional, distinct, have_iters;
} options;

/* Each command's options, as names_cli_parse's `allowed` lists. */
extern const char names_cli_train_options[], names_cli_eval_options[], names_cli_predict_options[],
    names_cli_dot_options[];

/* Prints "rnn_names CMD: <fmt with a, b> (see 'rnn_names CMD --help')" and returns 2. */
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

#endif
