/* names_logp CKPT NAME... -- every language's log-probability of each NAME under an
 * rnn_names checkpoint, in full precision, for tests/test_torch_roundtrip.sh. It runs
 * what `rnn_names predict` runs (names_model_from_meta, nn_ckpt_load, names_predict
 * over all languages, prior_shift included), and prints one line per name and language,
 * "NAME<TAB>LANGUAGE<TAB>%.9e", where predict prints the top 3 to two decimals. */
#include <stdio.h>
#include <string.h>

#include "names_model.h"
#include "names_train.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: names_logp CKPT NAME...\n");
        return 2;
    }
    char err[1024];
    nn_ckpt *c;
    names_model m;
    if (nn_ckpt_open(argv[1], &c, err, sizeof err) != NN_OK) {
        fprintf(stderr, "names_logp: %s\n", err);
        return 1;
    }
    if (names_model_from_meta(&m, nn_ckpt_meta(c), err, sizeof err) != 0) {
        fprintf(stderr, "names_logp: checkpoint %s: %s\n", argv[1], err);
        nn_ckpt_close(c);
        return 1;
    }
    int rc = 0;
    if (nn_ckpt_load(c, &m.ps, NULL, err, sizeof err) != NN_OK) {
        fprintf(stderr, "names_logp: %s\n", err);
        rc = 1;
    }
    for (int i = 2; i < argc && rc == 0; i++) {
        names_item it;
        size_t bad_at = 0;
        memset(&it, 0, sizeof it);
        it.len = names_fold(argv[i], strlen(argv[i]), it.text, sizeof it.text, &bad_at);
        int idx[NAMES_MAX_CLASSES];
        double lp[NAMES_MAX_CLASSES];
        int k = it.len > 0 ? names_predict(&m, &it, m.n_classes, idx, lp, err, sizeof err) : -1;
        if (k < 0) {
            fprintf(stderr, "names_logp: '%s': %s\n", argv[i], it.len > 0 ? err : "no letter left after folding");
            rc = 1;
        }
        for (int j = 0; j < k; j++) printf("%s\t%s\t%.9e\n", argv[i], m.classes[idx[j]], lp[j]);
    }
    names_model_free(&m);
    nn_ckpt_close(c);
    return rc;
}
