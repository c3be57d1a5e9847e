/* agref.h -- the PyTorch fixtures of tests/torch_ref: reading them and running their
 * cases. The file format is described at the top of gen.py.
 *
 * A test links agref.c, loads one or more fixture files, and hands agref_run_all a
 * table of builders, one per OP name used in the files. A builder reads its inputs
 * by key (agref_in, agref_int, ...), calls the code under test on x->t and returns
 * the tensor to compare with the case's "out" and to run backward from with its
 * "seed"; every input it made with agref_in that has a grad.KEY is a parameter whose
 * gradient is compared with torch's. A builder that compares everything itself (an
 * optimizer case: parameters after N steps, with agref_check_values) returns NULL
 * and leaves the tape's status AG_OK.
 *
 * Ops: tests/test_torch_ref.c (links autograd). Modules and optimizers: tests/
 * test_torch_ref_nn.c (links nn), with this same reader. */
#ifndef AGREF_H
#define AGREF_H

#include "ag.h"

typedef struct {
    char kind; /* 'i' ints, 'f' reals, 't' tensor */
    char key[48];
    int rank, shape[AG_MAX_RANK];
    int n;     /* number of values */
    double *v; /* 'f' and 't' */
    int *iv;   /* 'i' */
} agref_entry;

typedef struct {
    char name[64], op[32];
    const char *file; /* the path given to agref_load */
    int line;
    agref_entry *e;
    int ne;
} agref_case;

typedef struct {
    agref_case *c;
    int n;
} agref_set;

/* Appends the cases of the file at path to s. 1, or 0 after printing "file:line: what". */
int agref_load(agref_set *s, const char *path);
void agref_free(agref_set *s);

/* The record of case c named key, or NULL. */
agref_entry *agref_find(const agref_case *c, const char *key);

/* What a builder sees of the case it runs. */
typedef struct {
    const agref_case *c;
    ag_tape *t;
    double tol;          /* on |ours - torch| / max(1, |torch|) */
    ag_tensor *p[40];    /* inputs with a grad.KEY, made parameters; freed after the case
                            (40: a 2-layer bidirectional LSTM has 16, with x and h0) */
    const char *pkey[40];
    int np;
    int failures;        /* mismatches so far */
    double worst;        /* largest error seen */
} agref_ctx;

/* Input tensor `key`: a parameter (requires_grad) when the case has grad.KEY, else a
 * constant on x->t. NULL (and a mismatch) when the case has no such tensor. */
ag_tensor *agref_in(agref_ctx *x, const char *key);
int agref_has(agref_ctx *x, const char *key);
int agref_int(agref_ctx *x, const char *key);                 /* first of an 'i' record */
const int *agref_ints(agref_ctx *x, const char *key, int *n); /* all of it */
double agref_real(agref_ctx *x, const char *key);             /* first of an 'f' record */

/* Compare n values with the tensor record `key`; its shape too when rank >= 0. */
void agref_check_values(agref_ctx *x, const char *key, const ag_float *got, int rank, const int *shape, int n);
void agref_check_ints(agref_ctx *x, const char *key, const int *got, int n);

/* Records a mismatch (the first few are printed with the case's name and line). */
void agref_mismatch(agref_ctx *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

typedef ag_tensor *(*agref_builder)(agref_ctx *x);
typedef struct {
    const char *op;
    agref_builder fn;
} agref_op;

/* |got - want| / max(1, |want|); a NaN or infinity in want must be matched exactly. */
double agref_err(double got, double want);

/* Runs one case with the builder for its op: forward, "out", backward from "seed",
 * each grad.KEY. Returns the number of mismatches; *worst gets its largest error. */
int agref_run_case(const agref_case *c, const agref_op *op, double tol, double *worst);

/* Runs every case of s, prints a line per op (cases, worst error), and returns the
 * number of failed cases, counting a case whose op has no builder and a builder that
 * no case uses as failures. `build` names the variant in the report. */
int agref_run_all(const agref_set *s, const agref_op *ops, int n_ops, double tol, const char *build);

/* The comparison must be able to fail: in the first case of `op` that has `key`, its
 * value at index `at` is moved by 100 * move_tol * max(1, |value|), the case is run
 * (at tolerance tol), and the value put back. 1 when the run then failed with an error
 * above 10 * move_tol (it says so on stdout), 0 when it did not, -1 when no case of op
 * has key or no builder takes op. */
int agref_moved_fails(agref_set *s, const agref_op *ops, int n_ops, const char *op, const char *key, int at,
                      double move_tol, double tol);

#endif
