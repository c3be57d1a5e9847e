// A C++ program on the C API: a tape, an op, backward, and an nn module, with the
// version checked. Links only if ag.h and nn.h declare everything extern "C".
#include <cstdio>
#include <cstring>
#include <vector>

#include "ag.h"
#include "nn.h"

int main()
{
    if (std::strcmp(ag_version(), AG_VERSION_STRING) != 0) return 1;
    nn_params ps;
    nn_params_init(&ps);
    ag_rng rng;
    ag_rng_seed(&rng, 7);
    nn_linear fc;
    if (nn_linear_init(&fc, &ps, "fc.", 3, 2, 1, &rng) != NN_OK) {
        std::fprintf(stderr, "%s\n", nn_params_error(&ps));
        return 1;
    }
    ag_tape *tape = ag_tape_new();
    std::vector<ag_float> xs = {1, 2, 3};
    const int shape[2] = {1, 3};
    ag_tensor *x = ag_from_array(tape, 2, shape, xs.data());
    const int target = 1;
    ag_tensor *loss = ag_nll_loss(tape, ag_log_softmax(tape, nn_linear_forward(tape, &fc, x), 1), &target, AG_MEAN);
    if (!loss || ag_backward(tape, loss) != AG_OK) {
        std::fprintf(stderr, "%s\n", ag_tape_error(tape));
        return 1;
    }
    double g = 0;
    for (int i = 0; i < fc.weight->size; i++) g += fc.weight->grad[i] * fc.weight->grad[i];
    // A duplicate name is refused with its own status, in C++ as in C.
    bool dup = nn_params_new(&ps, "fc.", "weight", 1, shape) == nullptr && nn_params_status(&ps) == NN_EDUP;
    std::printf("C++ consumer, autograd_c %s: loss %.4f, |dW|^2 %.4f, duplicate refused: %s\n", ag_version(),
                static_cast<double>(loss->data[0]), g, dup ? "yes" : "no");
    ag_tape_free(tape);
    nn_params_free(&ps);
    return g > 0 && dup ? 0 : 1;
}
