/* fuzz_cli.c -- libFuzzer target for rnn_names' command-line parser (names_cli.c): the
 * bytes, split at NULs, are the arguments after the command, parsed with the option
 * lists of train, eval, predict and dot. Nothing is run. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "names_cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[4096];
    char *argv[64];
    int argc = 2;
    argv[0] = "rnn_names";
    argv[1] = "cmd";
    if (size >= sizeof buf) size = sizeof buf - 1;
    memcpy(buf, data, size);
    buf[size] = 0;
    for (size_t at = 0; at <= size && argc < 63;) {
        argv[argc++] = buf + at;
        at += strlen(buf + at) + 1;
    }
    argv[argc] = NULL;
    static const char *cmds[] = {"train", "eval", "predict", "dot"};
    static const char *allowed[] = {names_cli_train_options, names_cli_eval_options, names_cli_predict_options,
                                     names_cli_dot_options};
    for (int c = 0; c < 4; c++) {
        options o = {0};
        const char *pos[64];
        int n = 0;
        names_cli_parse(cmds[c], argc, argv, 2, &o, c >= 2 ? pos : NULL, &n, "", allowed[c]);
        if (n > argc) __builtin_trap();
    }
    return 0;
}
