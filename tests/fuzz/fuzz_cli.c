/* fuzz_cli.c -- libFuzzer target for rnn_names' command-line parser: the bytes, split
 * at NULs, are the arguments after the command, parsed for train, eval, predict and
 * dot. main.c is included so its static parser can be reached; nothing is run. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define main rnn_names_main
#include "../../examples/rnn_names/main.c"
#undef main

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
    static const char *allowed[] = {
        " data model hidden layers bidirectional dropout optim lr momentum weight-decay iters epochs batch clip schedule seed save quiet ",
        " load data ", " load ", " load out target stats "};
    for (int c = 0; c < 4; c++) {
        options o = {0};
        const char *pos[64];
        int n = 0;
        parse(cmds[c], argc, argv, 2, &o, c >= 2 ? pos : NULL, &n, "", allowed[c]);
        if (n > argc) __builtin_trap();
    }
    return 0;
}
