/* char_lm -- a character-level language model (Karpathy's min-char-rnn / char-rnn),
 * written only against the public API (ag.h, nn.h): no backward pass by hand.
 *
 *   char_lm train  [--text FILE] [--model elman|gru|lstm] [--hidden N] [--layers N] [--seq 25]
 *                  [--batch N] [--optim adam|adagrad|rmsprop|adamw|sgd] [--lr X] [--steps N | --epochs N]
 *                  [--seed S] [--save FILE] [--save-every N] [--resume FILE] [--quiet]
 *   char_lm sample --load FILE [--start TEXT] [--len N] [--temperature T] [--seed S]
 *
 * Training reads the text in chunks of --seq characters, --batch streams side by side
 * (stream b reads the b-th of --batch equal parts of the text). Each chunk is one tape:
 * forward from the state the last chunk left in caller-owned buffers, cross-entropy of
 * every next character, backward, clip, optimizer step; then ag_detach_into copies the
 * last step's state into the buffers (lm_model.h). At the end of the text (an epoch)
 * the state starts again from zeros. docs/char_lm.md has the details. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_cli.h"
#include "lm_model.h"
#include "lm_text.h"
#include "lm_train.h"

static int sample(lm_options *o)
{
    char err[512];
    nn_ckpt *ck = NULL;
    if (nn_ckpt_open(o->load, &ck, err, sizeof err) != NN_OK) {
        fprintf(stderr, LM_PROG " sample: cannot load %s\n", err);
        return 1;
    }
    lm_model m;
    lm_state st = {0};
    uint32_t *chars = NULL;
    int vocab = 0, rc = 1;
    const char *meta = nn_ckpt_meta(ck);
    size_t vlen;
    const char *v = nn_meta_find(meta, "vocab", &vlen);
    lm_options mo;
    lm_options_default(&mo);
    if (!v) snprintf(err, sizeof err, "it lacks the setting 'vocab'");
    if (!v || lm_settings_from_meta(&mo, meta, LM_MODEL_KEYS, err, sizeof err) != 0 ||
        lm_vocab_parse(v, vlen, &chars, &vocab, err, sizeof err) != 0) {
        fprintf(stderr, LM_PROG " sample: %s is not a char_lm checkpoint: %s\n", o->load, err);
        nn_ckpt_close(ck);
        return 1;
    }
    ag_rng rng;
    ag_rng_seed(&rng, (uint64_t)o->seed);
    nn_rnn_kind kind = !strcmp(mo.model, "elman") ? NN_ELMAN : !strcmp(mo.model, "gru") ? NN_GRU : NN_LSTM;
    if (lm_model_build(&m, kind, vocab, (int)mo.hidden, (int)mo.layers, &rng, err, sizeof err) != 0) {
        fprintf(stderr, LM_PROG " sample: cannot build the model of %s: %s\n", o->load, err);
        free(chars);
        nn_ckpt_close(ck);
        return 1;
    }
    ag_tape *t = ag_tape_new();
    int *idx = NULL, n = 0;
    if (nn_ckpt_load(ck, &m.ps, NULL, err, sizeof err) != NN_OK) {
        fprintf(stderr, LM_PROG " sample: cannot load %s\n", err);
        goto done;
    }
    if (!t || lm_state_new(&st, &m, 1) != 0) {
        fprintf(stderr, LM_PROG " sample: out of memory\n");
        goto done;
    }
    /* The start text as vocabulary indices; every character must be known. */
    size_t sl = o->start ? strlen(o->start) : 0;
    idx = malloc((sl + 1) * sizeof *idx);
    if (!idx) {
        fprintf(stderr, LM_PROG " sample: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < sl;) {
        size_t at = i;
        long cp = nn_utf8_decode(o->start, sl, &i);
        if (cp < 0) {
            fprintf(stderr, LM_PROG " sample: --start is not valid UTF-8 (byte offset %zu)\n", at);
            goto done;
        }
        if ((idx[n++] = lm_vocab_index(chars, vocab, (uint32_t)cp)) < 0) {
            char c[8] = {0};
            nn_utf8_encode((uint32_t)cp, c);
            fprintf(stderr, LM_PROG " sample: --start: the character '%s' (U+%04lX, byte offset %zu) is not in the "
                    "vocabulary of %s (%d characters)\n", cp < 0x20 ? "?" : c, cp, at, o->load, vocab);
            goto done;
        }
    }
    if (n == 0) idx[n++] = ag_rng_below(&rng, vocab); /* no start: a character at random */
    char out[4];
    for (int i = 0; i < n; i++) fwrite(out, 1, (size_t)nn_utf8_encode(chars[idx[i]], out), stdout);
    ag_tape_set_grad(t, 0); /* inference: nothing is recorded */
    ag_tensor *last[2 * LM_MAX_LAYERS];
    for (long k = 0; k < o->len; k++) {
        ag_tape_reset(t);
        ag_tensor *logits = lm_forward(t, &m, &st, idx, k ? 1 : n, 1, last); /* the start, then each draw */
        if (!logits || lm_state_keep(t, &st, last) != AG_OK) {
            fprintf(stderr, LM_PROG " sample: %s\n", ag_tape_error(t));
            goto done;
        }
        int V = m.vocab, rows = logits->shape[0];
        int c = ag_sample_categorical(logits->data + (size_t)(rows - 1) * V, V, 1, o->temperature, &rng);
        if (c < 0) {
            fprintf(stderr, LM_PROG " sample: the model's output is not a distribution (NaN or infinite logits)\n");
            goto done;
        }
        idx[0] = c;
        fwrite(out, 1, (size_t)nn_utf8_encode(chars[c], out), stdout);
    }
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? 0 : 1;
    if (rc) fprintf(stderr, LM_PROG " sample: cannot write the output: %s\n", strerror(errno));
done:
    free(idx);
    lm_state_free(&st);
    ag_tape_free(t);
    lm_model_free(&m);
    free(chars);
    nn_ckpt_close(ck);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(lm_usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") && strcmp(cmd, "sample")) {
        fprintf(stderr, LM_PROG ": unknown command '%.40s'\n%s", cmd, lm_usage_main);
        return 2;
    }
    lm_options o;
    lm_options_default(&o);
    int rc = lm_cli_parse(cmd, argc, argv, 2, &o);
    if (rc) return rc == 1 ? 0 : 2;
    rc = cmd[0] == 't' ? lm_train(&o) : sample(&o);
    lm_options_free(&o);
    return rc;
}
