/* ag_gradcheck.c -- the tape's gradients against central finite differences. */
#include <math.h>
#include <string.h>

#include "ag_internal.h"

enum { WEIGHT_SEED = 20261126 };

/* f(params) = sum_i y_i w_i, evaluated in double with recording off. */
static int eval(ag_tape *tape, ag_fn fn, void *ud, const double *w, int wn, double *f)
{
    ag_tape_reset(tape);
    int old = ag_tape_set_grad(tape, 0);
    ag_tensor *y = fn(tape, ud);
    ag_tape_set_grad(tape, old);
    if (!y) {
        if (ag_tape_status(tape) == AG_OK) ag_tape_fail(tape, AG_EARG, "gradcheck: the function returned NULL");
        return 0;
    }
    if (y->size != wn) {
        ag_tape_fail(tape, AG_ESTATE, "gradcheck: the output changed size between calls (%d, then %d)", wn, y->size);
        return 0;
    }
    double s = 0;
    for (int i = 0; i < wn; i++) s += (double)y->data[i] * w[i];
    *f = s;
    return 1;
}

ag_status ag_gradcheck(ag_tape *tape, ag_fn fn, void *ud, ag_tensor *const *params, int n_params,
                       double eps, ag_gradcheck_result *res)
{
    memset(res, 0, sizeof *res);
    res->worst_param = -1;
    res->worst_index = -1;
    if (!fn || !params || n_params < 1 || !(eps > 0)) {
        ag_tape_fail(tape, AG_EARG, "gradcheck: need a function, at least one parameter and eps > 0");
        return ag_tape_status(tape);
    }
    for (int p = 0; p < n_params; p++) {
        if (!params[p] || !params[p]->grad || params[p]->grad_fn) {
            ag_tape_fail(tape, AG_EARG, "gradcheck: params[%d] is not a parameter (make it with ag_param_new)", p);
            return ag_tape_status(tape);
        }
    }

    /* Analytic pass: y = fn(), seeded with the weights w. */
    ag_tape_reset(tape);
    for (int p = 0; p < n_params; p++) ag_zero_grad(params[p]);
    ag_tensor *y = fn(tape, ud);
    if (!y) {
        if (ag_tape_status(tape) == AG_OK) ag_tape_fail(tape, AG_EARG, "gradcheck: the function returned NULL");
        return ag_tape_status(tape);
    }
    int wn = y->size;
    size_t total = 0; /* every parameter's values: may pass INT_MAX in all */
    for (int p = 0; p < n_params; p++) total += (size_t)params[p]->size;
    double *w = ag__alloc((size_t)wn * sizeof *w);
    ag_float *seed = ag__alloc((size_t)wn * sizeof *seed);
    double *analytic = ag__alloc(total * sizeof *analytic);
    ag_status st = AG_OK;
    if (!w || !seed || !analytic) {
        ag_tape_fail(tape, AG_ENOMEM, "gradcheck: out of memory");
        goto done;
    }
    ag_rng rng;
    ag_rng_seed(&rng, WEIGHT_SEED);
    for (int i = 0; i < wn; i++) {
        /* weights in +-[0.5, 1.5): no output is ignored, none dominates */
        double u = 0.5 + ag_rng_uniform(&rng);
        w[i] = wn == 1 ? 1.0 : (ag_rng_u64(&rng) & 1 ? u : -u);
        seed[i] = (ag_float)w[i];
    }
    if (ag_backward_seed(tape, y, seed) != AG_OK) goto done;
    for (size_t p = 0, k = 0; p < (size_t)n_params; p++)
        for (int i = 0; i < params[p]->size; i++) analytic[k++] = params[p]->grad[i];

    /* Numeric pass, element by element. */
    for (size_t p = 0, k = 0; p < (size_t)n_params; p++) {
        for (int i = 0; i < params[p]->size; i++, k++) {
            ag_float *v = &params[p]->data[i], keep = *v;
            double fp, fm;
            *v = (ag_float)(keep + eps);
            double up = (double)*v - keep; /* the step actually taken, after rounding */
            int ok = eval(tape, fn, ud, w, wn, &fp);
            *v = (ag_float)(keep - eps);
            double down = keep - (double)*v;
            ok = ok && eval(tape, fn, ud, w, wn, &fm);
            *v = keep;
            if (!ok) goto done;
            double num = (fp - fm) / (up + down), an = analytic[k];
            double abs_err = fabs(an - num);
            double den = fmax(1.0, fmax(fabs(an), fabs(num)));
            double rel = abs_err / den;
            if (isnan(abs_err)) abs_err = rel = INFINITY;
            res->n_checked++;
            if (abs_err > res->max_abs_err) res->max_abs_err = abs_err;
            if (rel > res->max_rel_err || res->worst_param < 0) {
                res->max_rel_err = rel;
                res->worst_param = (int)p;
                res->worst_index = i;
                res->worst_analytic = an;
                res->worst_numeric = num;
            }
        }
    }
    /* Leave the analytic gradient in the parameters, as documented. */
    for (size_t p = 0, k = 0; p < (size_t)n_params; p++)
        for (int i = 0; i < params[p]->size; i++) params[p]->grad[i] = (ag_float)analytic[k++];
    ag_tape_reset(tape);
done:
    st = ag_tape_status(tape);
    ag__free(w);
    ag__free(seed);
    ag__free(analytic);
    return st;
}

void ag_gradcheck_print(FILE *f, const ag_gradcheck_result *r, ag_tensor *const *params)
{
    const char *name = "?";
    if (r->worst_param >= 0 && params && params[r->worst_param]->name) name = params[r->worst_param]->name;
    fprintf(f, "gradcheck: %d elements, max abs err %.3g, max rel err %.3g at %s[%d] (analytic %.9g, numeric %.9g)\n",
            r->n_checked, r->max_abs_err, r->max_rel_err, name, r->worst_index, r->worst_analytic,
            r->worst_numeric);
}
