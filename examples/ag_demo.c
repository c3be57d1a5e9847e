/* ag_demo.c -- a small program on the autograd API: fit a 2-layer classifier to XOR. */
#include <stdio.h>

#include "ag.h"

int main(void)
{
    ag_tape *tape = ag_tape_new();
    ag_tensor *W1 = ag_param_new(2, (int[]){8, 2}, "W1"); /* (H, I) */
    ag_tensor *b1 = ag_param_new(1, (int[]){8}, "b1");
    ag_tensor *W2 = ag_param_new(2, (int[]){2, 8}, "W2"); /* (C, H) */
    ag_tensor *b2 = ag_param_new(1, (int[]){2}, "b2");
    ag_tensor *params[] = {W1, b1, W2, b2};
    if (!tape || !W1 || !b1 || !W2 || !b2) {
        fprintf(stderr, "ag_demo: out of memory\n");
        return 1;
    }
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    ag_fill_uniform(W1, &rng, -0.7, 0.7);
    ag_fill_uniform(W2, &rng, -0.35, 0.35);
    const ag_float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int ys[4] = {0, 1, 1, 0};
    ag_float loss_value = 0;
    for (int step = 0; step <= 500; step++) {
        ag_tape_reset(tape);
        ag_tensor *x = ag_from_array(tape, 2, (int[]){4, 2}, xs);   /* (N, I) */
        ag_tensor *h = ag_tanh(tape, ag_linear(tape, x, W1, b1));  /* (N, H) */
        ag_tensor *logp = ag_log_softmax(tape, ag_linear(tape, h, W2, b2), 1);
        ag_tensor *loss = ag_nll_loss(tape, logp, ys, AG_MEAN);
        for (int p = 0; p < 4; p++) ag_zero_grad(params[p]);
        if (!loss || ag_backward(tape, loss) != AG_OK) {
            fprintf(stderr, "ag_demo: %s\n", ag_tape_error(tape));
            return 1;
        }
        for (int p = 0; p < 4; p++) /* plain SGD */
            for (int i = 0; i < params[p]->size; i++) params[p]->data[i] -= 0.5f * params[p]->grad[i];
        loss_value = loss->data[0];
        if (step % 100 == 0) printf("step %3d  loss %.4f\n", step, (double)loss_value);
    }
    ag_tape_reset(tape);
    ag_tape_set_grad(tape, 0);
    ag_tensor *x = ag_from_array(tape, 2, (int[]){4, 2}, xs);
    ag_tensor *p = ag_exp(tape, ag_log_softmax(tape, ag_linear(tape, ag_tanh(tape, ag_linear(tape, x, W1, b1)), W2, b2), 1));
    printf("P(class 1) for 00 01 10 11:");
    for (int n = 0; n < 4; n++) printf(" %.3f", (double)p->data[n * 2 + 1]);
    printf("\n");
    for (int i = 0; i < 4; i++) ag_param_free(params[i]);
    ag_tape_free(tape);
    return 0;
}
