/* ag_sample.c -- drawing from a categorical distribution with the project's rng. */
#include <math.h>

#include "ag_internal.h"

/* Weights w_i, each in [0, 1] with the largest 1:
 *   logits:        w_i = exp((v_i - m) / T),            m = max_i v_i
 *   probabilities: w_i = (p_i / max p)^(1/T)  (p_i alone when T = 1)
 * which is softmax(logits / T), or p^(1/T) renormalised (the same thing written for
 * probabilities, since log p are logits). One uniform u in [0, 1) picks the first i
 * with w_0 + ... + w_i > u * sum w. -1 for any bad argument (ag.h lists them). */
static double weight(double v, double m, int is_logits, double temperature)
{
    if (is_logits) return exp((v - m) / temperature);
    return temperature == 1 ? v / m : pow(v / m, 1 / temperature);
}

int ag_sample_categorical(const ag_float *v, int n, int is_logits, double temperature, ag_rng *r)
{
    if (!v || !r || n < 1 || !(temperature > 0) || isinf(temperature)) return -1;
    double m = -INFINITY;
    for (int i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x) || x == INFINITY) return -1;         /* NaN or +inf: no distribution */
        if (!is_logits && (x < 0 || isinf(x))) return -1; /* probabilities are finite, >= 0 */
        if (x > m) m = x;
    }
    if (is_logits ? m == -INFINITY : m == 0) return -1; /* nothing has positive weight */
    double total = 0;
    for (int i = 0; i < n; i++) total += weight(v[i], m, is_logits, temperature);
    double u = ag_rng_uniform(r) * total, cum = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        double w = weight(v[i], m, is_logits, temperature);
        if (w <= 0) continue;
        cum += w;
        last = i;
        if (cum > u) return i;
    }
    return last; /* u within rounding of the total: the last index with weight */
}
