/* A program outside the project, built against the installed library (find_package,
 * pkg-config) or the source tree (add_subdirectory): it checks the version, registers
 * more parameters than the registry once held, and fits y = 2x - 1 with nn_linear and
 * SGD. Prints one line and exits 0 when all of that works. */
#include <stdio.h>
#include <string.h>

#include "ag.h"
#include "nn.h"

int main(void)
{
    if (strcmp(ag_version(), AG_VERSION_STRING) != 0) {
        fprintf(stderr, "library %s, header %s\n", ag_version(), AG_VERSION_STRING);
        return 1;
    }
    nn_params ps;
    nn_params_init(&ps);
    for (int i = 0; i < 40; i++) { /* the registry grows: 40 > the old cap of 32 */
        char name[16];
        snprintf(name, sizeof name, "extra%d", i);
        if (!nn_params_new(&ps, "", name, 1, (int[]){1})) {
            fprintf(stderr, "%s\n", nn_params_error(&ps));
            return 1;
        }
    }
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    nn_linear fc;
    if (nn_linear_init(&fc, &ps, "fc.", 1, 1, 1, &rng) != NN_OK) {
        fprintf(stderr, "%s\n", nn_params_error(&ps));
        return 1;
    }
    nn_optim opt;
    if (nn_sgd_init(&opt, &ps, 0.1, 0, 0) != NN_OK) return 1;
    ag_tape *tape = ag_tape_new();
    float loss = 0;
    for (int step = 0; step < 200 && tape; step++) {
        ag_tape_reset(tape);
        nn_params_zero_grad(&ps);
        ag_tensor *x = ag_from_array(tape, 2, (int[]){4, 1}, (ag_float[]){-1, 0, 1, 2});
        ag_tensor *y = ag_from_array(tape, 2, (int[]){4, 1}, (ag_float[]){-3, -1, 1, 3});
        ag_tensor *d = ag_sub(tape, nn_linear_forward(tape, &fc, x), y);
        ag_tensor *l = ag_mean(tape, ag_mul(tape, d, d));
        if (!l || ag_backward(tape, l) != AG_OK) {
            fprintf(stderr, "%s\n", ag_tape_error(tape));
            return 1;
        }
        loss = (float)l->data[0];
        nn_optim_step(&opt);
    }
    int ok = tape && loss < 1e-4f;
    printf("autograd_c %s: %d parameters, loss %.2g, w %.3f, b %.3f: %s\n", ag_version(), ps.n, loss,
           (double)fc.weight->data[0], (double)fc.bias->data[0], ok ? "ok" : "FAILED");
    ag_tape_free(tape);
    nn_optim_free(&opt);
    nn_params_free(&ps);
    return ok ? 0 : 1;
}
