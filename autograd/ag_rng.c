/* ag_rng.c -- the project's own random numbers: splitmix64, the same on every machine. */
#include <math.h>

#include "ag.h"

void ag_rng_seed(ag_rng *r, uint64_t seed)
{
    r->state = seed;
}

#define GAMMA 0x9E3779B97F4A7C15ull /* the state's step per draw */

/* splitmix64's output for a state */
static inline uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t ag_rng_u64(ag_rng *r)
{
    return mix(r->state += GAMMA);
}

double ag_rng_uniform(ag_rng *r)
{
    return (double)(ag_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); /* 53 bits / 2^53 */
}

double ag_rng_normal(ag_rng *r)
{
    /* Box-Muller; 1 - u keeps the log argument in (0, 1]. */
    double u1 = 1.0 - ag_rng_uniform(r);
    double u2 = ag_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The draws are independent mixes of state + k * gamma, so the loop has no chain from
 * one element to the next and vectorises (64-bit multiplies: AVX-512, hence the
 * target clones, as nn's loops over the parameters have them); and u < p, with u = (z >> 11) / 2^53 exact in double, is
 * (z >> 11) < p 2^53, an integer compare against its ceiling. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(AG_NO_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void ag_rng_mask(ag_rng *r, double p, ag_float keep, ag_float *out, int n)
{
    const uint64_t base = r->state;
    double lim = ceil(p * 9007199254740992.0); /* p in [0, 1]: lim in [0, 2^53] */
    uint64_t below = lim < 0 ? 0 : (uint64_t)lim;
    for (int i = 0; i < n; i++) out[i] = (mix(base + (uint64_t)(i + 1) * GAMMA) >> 11) < below ? 0 : keep;
    if (n > 0) r->state = base + (uint64_t)n * GAMMA;
}

int ag_rng_below(ag_rng *r, int n)
{
    if (n <= 0) return 0;
    return (int)(((ag_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}
