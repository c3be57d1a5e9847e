/* rnn_names -- classify surnames by language with a character-level RNN, after the
 * PyTorch tutorial "Classifying Names with a Character-Level RNN".
 *
 *   rnn_names train   [options]              train, evaluate, save a checkpoint and plots
 *   rnn_names eval    --load FILE [--data DIR]
 *   rnn_names predict --load FILE NAME...
 *   rnn_names dot     --load FILE NAME [-o graph.dot]
 *
 * This file: the dispatch and what the commands share (messages, data, the accuracy
 * report). train is in cmd_train.c; eval, predict and dot in cmd_query.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names_cmd.h"

#define PROG NAMES_PROG

/* ---- messages ---- */

/* Prints "rnn_names CMD: MSG" with MSG escaped (names_escape): messages quote paths
 * and names, whose bytes must not reach the terminal raw. */
void names_report(const char *cmd, const char *msg)
{
    size_t n = 4 * strlen(msg) + 64;
    char *shown = malloc(n);
    fprintf(stderr, PROG " %s: %s\n", cmd, shown ? names_escape(msg, shown, n) : "out of memory");
    free(shown);
}

/* names_report() of a formatted message, of any length. */
void names_reportf(const char *cmd, const char *fmt, ...)
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
    names_report(cmd, msg ? msg : "out of memory");
    free(msg);
}

/* ---- data ---- */

int names_cmd_load_data(names_data *d, const char *dir, char *err, size_t errlen)
{
    int rc = dir ? names_load_dir(d, dir, stderr, err, errlen) : names_load_sample(d, stderr, err, errlen);
    char shown[512];
    if (rc == 0)
        fprintf(stderr, "data: %s: %d languages, %d training and %d test names, %ld lines skipped\n",
                dir ? names_escape(dir, shown, sizeof shown) : "built-in sample", d->n_classes, d->n_train, d->n_test,
                d->warnings);
    return rc;
}

void names_cmd_print_eval(const names_eval *e, const names_model *m, int with_matrix)
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
const char names_no_test_names[] = "has no test names (a name is in the test split when the CRC-32 of its "
                                    "line is 0 mod 10)";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(names_usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return names_cmd_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return names_cmd_eval(argc, argv);
    if (!strcmp(argv[1], "predict")) return names_cmd_predict(argc, argv);
    if (!strcmp(argv[1], "dot")) return names_cmd_dot(argc, argv);
    fprintf(stderr, PROG ": unknown command '%s' (commands: train, eval, predict, dot; see '" PROG " --help')\n", argv[1]);
    return 2;
}
