/* names_cmd.h -- what the rnn_names commands (main.c, cmd_train.c, cmd_query.c) share. */
#ifndef NAMES_CMD_H
#define NAMES_CMD_H

#include "names_cli.h"
#include "names_plot.h"
#include "names_train.h"

/* Prints "rnn_names CMD: MSG" on stderr with MSG escaped (names_escape): messages quote
 * paths and names, whose bytes must not reach the terminal raw. names_reportf formats
 * a message of any length first. */
void names_report(const char *cmd, const char *msg);
void names_reportf(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The data at dir, or the built-in sample for NULL, with a line on stderr saying what
 * was loaded. 0, or -1 with err set. */
int names_cmd_load_data(names_data *d, const char *dir, char *err, size_t errlen);

/* test_names=, test_accuracy=, macro_accuracy= and a table per language (and the
 * confusion matrix) on stdout. */
void names_cmd_print_eval(const names_eval *e, const names_model *m, int with_matrix);

/* "has no test names (...)": for a data set that leaves nothing to evaluate. */
extern const char names_no_test_names[];

/* The commands: argv[1] is the command's name. Exit codes: 0, 1 (failed), 2 (usage). */
int names_cmd_train(int argc, char **argv);
int names_cmd_eval(int argc, char **argv);
int names_cmd_predict(int argc, char **argv);
int names_cmd_dot(int argc, char **argv);

#endif
