/* nn_ckpt.c -- checkpoints in a small binary format of our own (docs/checkpoint.md).
 *
 *   "agckpt\n\0"  8 bytes magic
 *   u32 version   (1)
 *   u32 meta_len, then meta_len bytes of text
 *   u32 count, then count records:
 *       u16 name_len, name bytes, u8 rank (0..4), u32 dims[rank], f32 values[prod(dims)]
 *   u8  optimizer: 0 none, 1 SGD, 2 Adam
 *       (if not 0) f64 lr, momentum, weight_decay, beta1, beta2, eps; i64 step
 *   u32 CRC-32 of every byte before it
 * All integers and floats little-endian. Parameters are records named as in the model;
 * optimizer state is records named "sgd.momentum.<param>" or "adam.m.<param>" and
 * "adam.v.<param>". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn.h"

static const char MAGIC[8] = {'a', 'g', 'c', 'k', 'p', 't', '\n', '\0'};
enum { VERSION = 1, MAX_FILE = 1 << 30 };

static nn_status fail(char *err, size_t n, nn_status s, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ---- writing ---- */

typedef struct {
    FILE *f;
    uint32_t crc;
    int bad;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (w->bad) return;
    if (fwrite(p, 1, n, w->f) != n) w->bad = 1;
    w->crc = nn_crc32(w->crc, p, n);
}

static void put_u(writer *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}

static void put_f64(writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    put_u(w, u, 8);
}

static void put_record(writer *w, const char *name, const ag_tensor *shape_of, const ag_float *values)
{
    size_t len = strlen(name);
    put_u(w, len, 2);
    put(w, name, len);
    put_u(w, (uint64_t)shape_of->rank, 1);
    for (int d = 0; d < shape_of->rank; d++) put_u(w, (uint64_t)shape_of->shape[d], 4);
    for (int i = 0; i < shape_of->size; i++) {
        float f = (float)values[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        put_u(w, u, 4);
    }
}

static int optim_records(const nn_optim *o)
{
    if (!o) return 0;
    if (o->kind == NN_ADAM) return 2;
    return o->state_len > 0 ? 1 : 0;
}

nn_status nn_ckpt_save(const char *path, const char *meta, const nn_params *ps, const nn_optim *opt,
                       char *err, size_t errlen)
{
    char tmp[4096];
    if (!path || !*path) return fail(err, errlen, NN_EARG, "checkpoint: no file name given");
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fail(err, errlen, NN_EARG, "checkpoint %s: path too long", path);
    if (!meta) meta = "";
    writer w = {fopen(tmp, "wb"), 0, 0};
    if (!w.f) return fail(err, errlen, NN_EIO, "checkpoint %s: cannot create: %s", tmp, strerror(errno));
    int per = optim_records(opt);
    put(&w, MAGIC, 8);
    put_u(&w, VERSION, 4);
    put_u(&w, strlen(meta), 4);
    put(&w, meta, strlen(meta));
    put_u(&w, (uint64_t)ps->n * (uint64_t)(1 + per), 4);
    for (int i = 0; i < ps->n; i++) put_record(&w, ps->p[i]->name, ps->p[i], ps->p[i]->data);
    long numel = nn_params_numel(ps), at = 0;
    for (int i = 0; i < ps->n && per; i++) {
        char name[NN_MAX_NAME + 16];
        const ag_tensor *p = ps->p[i];
        if (opt->kind == NN_SGD) {
            snprintf(name, sizeof name, "sgd.momentum.%s", p->name);
            put_record(&w, name, p, opt->state + at);
        } else {
            snprintf(name, sizeof name, "adam.m.%s", p->name);
            put_record(&w, name, p, opt->state + at);
            snprintf(name, sizeof name, "adam.v.%s", p->name);
            put_record(&w, name, p, opt->state + numel + at);
        }
        at += p->size;
    }
    put_u(&w, opt ? (uint64_t)opt->kind + 1 : 0, 1);
    if (opt) {
        put_f64(&w, opt->lr);
        put_f64(&w, opt->momentum);
        put_f64(&w, opt->weight_decay);
        put_f64(&w, opt->beta1);
        put_f64(&w, opt->beta2);
        put_f64(&w, opt->eps);
        put_u(&w, (uint64_t)opt->step, 8);
    }
    uint32_t crc = w.crc;
    put_u(&w, crc, 4);
    int bad = w.bad || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0;
    int saved_errno = errno;
    if (fclose(w.f) != 0) bad = 1;
    if (bad) {
        remove(tmp);
        return fail(err, errlen, NN_EIO, "checkpoint %s: write failed: %s (the previous file is untouched)", tmp,
                    strerror(saved_errno));
    }
    if (rename(tmp, path) != 0) {
        saved_errno = errno;
        remove(tmp);
        return fail(err, errlen, NN_EIO, "checkpoint %s: cannot rename %s over it: %s", path, tmp, strerror(saved_errno));
    }
    return NN_OK;
}

/* ---- reading ---- */

typedef struct {
    const char *name; /* not NUL-terminated in the file: copied out */
    char copy[NN_MAX_NAME + 16];
    int rank, shape[AG_MAX_RANK];
    long size;
    const unsigned char *values; /* size little-endian f32 */
} record;

struct nn_ckpt {
    unsigned char *bytes;
    size_t len;
    char *meta;
    record *rec;
    int n_rec;
    int optim_kind; /* 0 none, 1 SGD, 2 Adam */
    double lr, momentum, weight_decay, beta1, beta2, eps;
    long step;
    char path[256];
};

typedef struct {
    const unsigned char *p;
    size_t len, at;
    int bad;
} reader;

static uint64_t get_u(reader *r, int bytes)
{
    if (r->bad || r->len - r->at < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->at + i] << (8 * i);
    r->at += (size_t)bytes;
    return v;
}

static double get_f64(reader *r)
{
    uint64_t u = get_u(r, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

void nn_ckpt_close(nn_ckpt *c)
{
    if (!c) return;
    ag_free(c->bytes);
    ag_free(c->meta);
    ag_free(c->rec);
    ag_free(c);
}

const char *nn_ckpt_meta(const nn_ckpt *c)
{
    return c->meta;
}

static nn_status parse(nn_ckpt *c, const char *path, char *err, size_t errlen)
{
    reader r = {c->bytes, c->len, 0, 0};
    if (c->len < 8 + 4 + 4 + 4 + 1 + 4)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: truncated: only %zu bytes", path, c->len);
    if (memcmp(c->bytes, MAGIC, 8) != 0)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: not a checkpoint (bad magic at offset 0)", path);
    r.at = 8;
    uint32_t version = (uint32_t)get_u(&r, 4);
    if (version != VERSION)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: version %u, this build reads version %d", path,
                    version, VERSION);
    uint32_t stored = 0, actual = nn_crc32(0, c->bytes, c->len - 4);
    for (int i = 0; i < 4; i++) stored |= (uint32_t)c->bytes[c->len - 4 + (size_t)i] << (8 * i);
    if (stored != actual)
        return fail(err, errlen, NN_EFORMAT,
                    "checkpoint %s: checksum mismatch (stored %08x, contents give %08x): the file is corrupt or truncated",
                    path, stored, actual);
    r.len = c->len - 4; /* the records must end before the checksum */
    uint64_t meta_len = get_u(&r, 4);
    if (r.bad || meta_len > r.len - r.at)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: meta length %llu at offset 12 runs past the end", path,
                    (unsigned long long)meta_len);
    c->meta = ag_alloc(meta_len + 1);
    if (!c->meta) return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", path);
    memcpy(c->meta, c->bytes + r.at, meta_len);
    c->meta[meta_len] = 0;
    r.at += meta_len;
    size_t at_count = r.at;
    uint64_t count = get_u(&r, 4);
    if (r.bad || count > (r.len - r.at) / 4) /* every record takes at least 4 bytes */
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: record count %llu at offset %zu is impossible", path,
                    (unsigned long long)count, at_count);
    c->rec = ag_alloc((count ? count : 1) * sizeof *c->rec);
    if (!c->rec) return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", path);
    for (uint64_t i = 0; i < count; i++) {
        record *rec = &c->rec[i];
        size_t start = r.at;
        uint64_t nlen = get_u(&r, 2);
        if (r.bad || nlen == 0 || nlen >= sizeof rec->copy || nlen > r.len - r.at)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: record %llu at offset %zu has a bad name length", path,
                        (unsigned long long)i, start);
        memcpy(rec->copy, c->bytes + r.at, nlen);
        rec->copy[nlen] = 0;
        if (strlen(rec->copy) != nlen)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: record %llu at offset %zu has a NUL in its name", path,
                        (unsigned long long)i, start);
        rec->name = rec->copy;
        r.at += nlen;
        rec->rank = (int)get_u(&r, 1);
        if (r.bad || rec->rank > AG_MAX_RANK)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: tensor '%s' at offset %zu has rank %d (max %d)", path,
                        rec->name, start, rec->rank, AG_MAX_RANK);
        uint64_t size = 1;
        for (int d = 0; d < rec->rank; d++) {
            uint64_t dim = get_u(&r, 4);
            if (dim == 0 || dim > 0x7fffffff) r.bad = 1;
            size *= dim ? dim : 1;
            if (size > 0x7fffffff) r.bad = 1;
            rec->shape[d] = (int)dim;
        }
        if (r.bad || size * 4 > r.len - r.at)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: tensor '%s' at offset %zu has a bad shape or runs past the end",
                        path, rec->name, start);
        rec->size = (long)size;
        rec->values = c->bytes + r.at;
        r.at += size * 4;
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(c->rec[j].name, rec->name) == 0)
                return fail(err, errlen, NN_EFORMAT, "checkpoint %s: tensor '%s' at offset %zu appears twice", path,
                            rec->name, start);
        c->n_rec++;
    }
    size_t at_opt = r.at;
    c->optim_kind = (int)get_u(&r, 1);
    if (r.bad || c->optim_kind > 2)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: bad optimizer kind at offset %zu", path, at_opt);
    if (c->optim_kind) {
        c->lr = get_f64(&r);
        c->momentum = get_f64(&r);
        c->weight_decay = get_f64(&r);
        c->beta1 = get_f64(&r);
        c->beta2 = get_f64(&r);
        c->eps = get_f64(&r);
        c->step = (long)get_u(&r, 8);
    }
    if (r.bad || r.at != r.len)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: %s at offset %zu", path,
                    r.bad ? "truncated optimizer settings" : "unexpected bytes", r.at);
    return NN_OK;
}

nn_status nn_ckpt_open(const char *path, nn_ckpt **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, NN_EIO, "checkpoint %s: cannot open: %s", path, strerror(errno));
    nn_ckpt *c = ag_alloc(sizeof *c);
    if (!c) {
        fclose(f);
        return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", path);
    }
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    nn_status s = NN_OK;
    long size = -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        s = fail(err, errlen, NN_EIO, "checkpoint %s: not a regular file", path);
    } else if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        s = fail(err, errlen, NN_EIO, "checkpoint %s: cannot read its size", path);
    } else if (size > MAX_FILE) {
        s = fail(err, errlen, NN_EFORMAT, "checkpoint %s: %ld bytes is too large for a checkpoint", path, size);
    } else if (!(c->bytes = ag_alloc((size_t)size + 1))) {
        s = fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory for %ld bytes", path, size);
    } else if (fread(c->bytes, 1, (size_t)size, f) != (size_t)size) {
        s = fail(err, errlen, NN_EIO, "checkpoint %s: read failed", path);
    } else {
        c->len = (size_t)size;
        s = parse(c, path, err, errlen);
    }
    fclose(f);
    if (s != NN_OK) {
        nn_ckpt_close(c);
        return s;
    }
    *out = c;
    return NN_OK;
}

static const record *find(const nn_ckpt *c, const char *name)
{
    for (int i = 0; i < c->n_rec; i++)
        if (strcmp(c->rec[i].name, name) == 0) return &c->rec[i];
    return NULL;
}

static void shape_text(int rank, const int *shape, char *buf, size_t n)
{
    ag_tensor t = {.rank = rank};
    memcpy(t.shape, shape, (size_t)rank * sizeof *shape);
    ag_shape_str(&t, buf, n);
}

/* The record `name` must exist with p's shape. */
static nn_status expect(const nn_ckpt *c, const char *name, const ag_tensor *p, const record **out, char *err,
                        size_t errlen)
{
    const record *r = find(c, name);
    if (!r) return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: the model has '%s' but the file does not", c->path, name);
    int same = r->rank == p->rank;
    for (int d = 0; same && d < r->rank; d++) same = r->shape[d] == p->shape[d];
    if (!same) {
        char a[64], b[64];
        shape_text(r->rank, r->shape, a, sizeof a);
        ag_shape_str(p, b, sizeof b);
        return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: '%s' is %s in the file but %s in the model", c->path,
                    name, a, b);
    }
    *out = r;
    return NN_OK;
}

static void copy_values(ag_float *dst, const record *r)
{
    for (long i = 0; i < r->size; i++) {
        uint32_t u = 0;
        for (int b = 0; b < 4; b++) u |= (uint32_t)r->values[i * 4 + b] << (8 * b);
        float f;
        memcpy(&f, &u, 4);
        dst[i] = (ag_float)f;
    }
}

nn_status nn_ckpt_load(const nn_ckpt *c, nn_params *ps, nn_optim *opt, char *err, size_t errlen)
{
    const record *found[NN_MAX_PARAMS * 3];
    int per = 0;
    /* 1. check everything */
    for (int i = 0; i < ps->n; i++) {
        nn_status s = expect(c, ps->p[i]->name, ps->p[i], &found[i], err, errlen);
        if (s != NN_OK) return s;
    }
    if (opt) {
        static const char *kinds[] = {"no optimizer", "SGD", "Adam"};
        if (c->optim_kind != (int)opt->kind + 1)
            return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: the file holds %s state but the optimizer is %s", c->path,
                        kinds[c->optim_kind], kinds[opt->kind + 1]);
        if (c->optim_kind == 1 && (c->momentum != 0) != (opt->state_len > 0))
            return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: SGD momentum %g in the file, %g in the optimizer", c->path,
                        c->momentum, opt->momentum);
        per = optim_records(opt);
        for (int i = 0; i < ps->n && per; i++) {
            char name[NN_MAX_NAME + 16];
            for (int k = 0; k < per; k++) {
                snprintf(name, sizeof name, "%s%s", opt->kind == NN_SGD ? "sgd.momentum." : k ? "adam.v." : "adam.m.",
                         ps->p[i]->name);
                nn_status s = expect(c, name, ps->p[i], &found[ps->n * (1 + k) + i], err, errlen);
                if (s != NN_OK) return s;
            }
        }
    }
    /* every tensor in the file must belong to the model (state: to one of its parameters) */
    for (int i = 0; i < c->n_rec; i++) {
        const char *name = c->rec[i].name, *base = name;
        if (strncmp(name, "sgd.momentum.", 13) == 0) base = name + 13;
        else if (strncmp(name, "adam.m.", 7) == 0 || strncmp(name, "adam.v.", 7) == 0) base = name + 7;
        if (!nn_params_get(ps, base))
            return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: the file has '%s', which the model does not", c->path,
                        name);
    }
    /* 2. nothing can fail from here: copy */
    for (int i = 0; i < ps->n; i++) copy_values(ps->p[i]->data, found[i]);
    if (opt) {
        long numel = nn_params_numel(ps), at = 0;
        for (int i = 0; i < ps->n && per; i++) {
            copy_values(opt->state + at, found[ps->n + i]);
            if (per == 2) copy_values(opt->state + numel + at, found[2 * ps->n + i]);
            at += ps->p[i]->size;
        }
        opt->lr = c->lr;
        opt->momentum = c->momentum;
        opt->weight_decay = c->weight_decay;
        opt->beta1 = c->beta1;
        opt->beta2 = c->beta2;
        opt->eps = c->eps;
        opt->step = c->step;
    }
    return NN_OK;
}

const char *nn_meta_get(const char *meta, const char *key, char *buf, size_t n)
{
    size_t klen = strlen(key);
    for (const char *line = meta; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            size_t vlen = len - klen - 1;
            if (vlen >= n) vlen = n - 1;
            memcpy(buf, line + klen + 1, vlen);
            buf[vlen] = 0;
            return buf;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}
