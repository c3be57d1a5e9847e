/* nn_ckpt.c -- checkpoints in a small binary format of our own (docs/checkpoint.md).
 *
 *   "agckpt\n\0"  8 bytes magic
 *   u32 version   (1)
 *   u32 meta_len, then meta_len bytes of text
 *   u32 count, then count records:
 *       u16 name_len, name bytes, u8 rank (0..4), u32 dims[rank], f32 values[prod(dims)]
 *   u8  optimizer: 0 none, 1 SGD, 2 Adam, 3 Adagrad, 4 RMSprop, 5 AdamW
 *       (if not 0) f64 lr, momentum, weight_decay, beta1, beta2, eps; i64 step
 *       (if 3 or more) f64 lr_decay, initial_accumulator_value, alpha; u8 centered
 *   u32 CRC-32 of every byte before it
 * All integers and floats little-endian. Parameters are records named as in the model;
 * optimizer state is records named by nn_optim_buffer_name + the parameter's name
 * ("sgd.momentum.<param>", "adam.m.<param>", "adagrad.sum.<param>", ...), a parameter's
 * buffers one after another. Files with optimizer 0..2 are byte for byte those of
 * before Adagrad, RMSprop and AdamW, so the version is still 1. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn.h"

static const char MAGIC[8] = {'a', 'g', 'c', 'k', 'p', 't', '\n', '\0'};
/* MAX_FILE: a checkpoint is under 1 GiB. HEADER: magic + version, read and checked
 * before anything else. MIN_FILE: magic, version, meta_len, count, optimizer, crc. */
enum { VERSION = 1, MAX_FILE = 1 << 30, HEADER = 8 + 4, MIN_FILE = 8 + 4 + 4 + 4 + 1 + 4 };

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

/* A copy of a and b joined (NULL when out of memory), for paths of any length. */
static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = ag_alloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* What a file that is not a regular file is, for messages. */
static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
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

/* A record named prefix + name (the registry keeps full names within the 16-bit
 * length, prefix included: NN_NAME_MAX). */
static void put_record(writer *w, const char *prefix, const char *name, const ag_tensor *shape_of,
                       const ag_float *values)
{
    size_t lp = strlen(prefix), len = strlen(name);
    put_u(w, lp + len, 2);
    put(w, prefix, lp);
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

enum { N_KINDS = 5, MAX_BUFFERS = 3 }; /* optimizer kinds; state buffers of one (RMSprop's) */

static int optim_records(const nn_optim *o)
{
    return o ? nn_optim_buffers(o) : 0;
}

/* Every prefix a state record can have, for telling state from parameters. */
static const char *const STATE_PREFIXES[] = {"sgd.momentum.", "adam.m.",     "adam.v.",     "adagrad.sum.", "rmsprop.sq.",
                                             "rmsprop.buf.",  "rmsprop.avg.", "adamw.m.", "adamw.v."};

nn_status nn_ckpt_save(const char *path, const char *meta, const nn_params *ps, const nn_optim *opt,
                       char *err, size_t errlen)
{
    if (!path || !*path) return fail(err, errlen, NN_EARG, "checkpoint: no file name given");
    if (!meta) meta = "";
    nn_file file;
    char why[512];
    nn_status s = nn_file_open(&file, path, why, sizeof why);
    if (s != NN_OK) return fail(err, errlen, s, "checkpoint %s", why);
    writer w = {file.f, 0, 0};
    int per = optim_records(opt);
    put(&w, MAGIC, 8);
    put_u(&w, VERSION, 4);
    put_u(&w, strlen(meta), 4);
    put(&w, meta, strlen(meta));
    put_u(&w, (uint64_t)ps->n * (uint64_t)(1 + per), 4);
    for (int i = 0; i < ps->n; i++) put_record(&w, "", ps->p[i]->name, ps->p[i], ps->p[i]->data);
    long numel = nn_params_numel(ps), at = 0;
    for (int i = 0; i < ps->n && per; i++) {
        const ag_tensor *p = ps->p[i];
        for (int k = 0; k < per; k++) put_record(&w, nn_optim_buffer_name(opt, k), p->name, p, opt->state + k * numel + at);
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
        if (opt->kind >= NN_ADAGRAD) {
            put_f64(&w, opt->lr_decay);
            put_f64(&w, opt->initial_accumulator_value);
            put_f64(&w, opt->alpha);
            put_u(&w, opt->centered != 0, 1);
        }
    }
    uint32_t crc = w.crc;
    put_u(&w, crc, 4);
    if (w.bad) { /* say so now: errno still holds the cause */
        s = fail(err, errlen, NN_EIO, "checkpoint %s.tmp: write failed: %s (the previous file is untouched)", path,
                 strerror(errno));
        nn_file_abort(&file);
        return s;
    }
    s = nn_file_commit(&file, why, sizeof why);
    if (s != NN_OK) return fail(err, errlen, s, "checkpoint %s (the previous file is untouched)", why);
    return NN_OK;
}

/* ---- reading ---- */

typedef struct {
    const char *name; /* not NUL-terminated in the file: copied out, into copy when it
                         fits, else into its own allocation (freed by nn_ckpt_close) */
    char copy[80];
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
    int optim_kind; /* 0 none, else nn_optim_kind + 1 */
    double lr, momentum, weight_decay, beta1, beta2, eps, lr_decay, initial_accumulator_value, alpha;
    int centered;
    long step;
    char *path; /* owned */
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
    for (int i = 0; c->rec && i < c->n_rec; i++)
        if (c->rec[i].name != c->rec[i].copy) ag_free((char *)c->rec[i].name);
    ag_free(c->rec);
    ag_free(c->path);
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
        if (r.bad || nlen == 0 || nlen > r.len - r.at)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: record %llu at offset %zu has a bad name length", path,
                        (unsigned long long)i, start);
        char *name = nlen < sizeof rec->copy ? rec->copy : ag_alloc(nlen + 1);
        if (!name) return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", path);
        memcpy(name, c->bytes + r.at, nlen);
        name[nlen] = 0;
        rec->name = name;
        c->n_rec = (int)i + 1; /* so that close frees this name whatever happens next */
        if (strlen(name) != nlen)
            return fail(err, errlen, NN_EFORMAT, "checkpoint %s: record %llu at offset %zu has a NUL in its name", path,
                        (unsigned long long)i, start);
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
    }
    size_t at_opt = r.at;
    c->optim_kind = (int)get_u(&r, 1);
    if (r.bad || c->optim_kind > N_KINDS)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: bad optimizer kind %d at offset %zu", path, c->optim_kind,
                    at_opt);
    if (c->optim_kind) {
        c->lr = get_f64(&r);
        c->momentum = get_f64(&r);
        c->weight_decay = get_f64(&r);
        c->beta1 = get_f64(&r);
        c->beta2 = get_f64(&r);
        c->eps = get_f64(&r);
        c->step = (long)get_u(&r, 8);
        if (c->optim_kind > NN_ADAM + 1) {
            c->lr_decay = get_f64(&r);
            c->initial_accumulator_value = get_f64(&r);
            c->alpha = get_f64(&r);
            size_t at_centered = r.at;
            c->centered = (int)get_u(&r, 1);
            if (!r.bad && c->centered > 1)
                return fail(err, errlen, NN_EFORMAT, "checkpoint %s: bad 'centered' flag %d at offset %zu", path,
                            c->centered, at_centered);
        }
    }
    if (r.bad || r.at != r.len)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: %s at offset %zu", path,
                    r.bad ? "truncated optimizer settings" : "unexpected bytes", r.at);
    return NN_OK;
}

/* n bytes from fd into buf; 0, or -1 (errno set; EIO for a file shorter than it said). */
static int read_all(int fd, unsigned char *buf, size_t n)
{
    for (size_t at = 0; at < n;) {
        ssize_t k = read(fd, buf + at, n - at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return -1;
        }
        at += (size_t)k;
    }
    return 0;
}

/* Opens path without blocking (a FIFO would block a plain open until a writer came)
 * and refuses anything but a regular file. The descriptor, or -1 with err set. */
static int open_regular(const char *path, struct stat *st, nn_status *s, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *s = fail(err, errlen, NN_EIO, "checkpoint %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0) {
        *s = fail(err, errlen, NN_EIO, "checkpoint %s: cannot read its kind and size: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        *s = fail(err, errlen, NN_EIO, "checkpoint %s: not a regular file (%s)", path, file_kind(st->st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL); /* a regular file: reads as usual from here */
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* The size, then the header (magic, version), then, only when both are right, the rest. */
static nn_status read_file(nn_ckpt *c, int fd, const struct stat *st, const char *path, char *err, size_t errlen)
{
    unsigned char head[HEADER];
    if (st->st_size < MIN_FILE)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: truncated: only %lld bytes", path, (long long)st->st_size);
    if (read_all(fd, head, HEADER) != 0)
        return fail(err, errlen, NN_EIO, "checkpoint %s: read failed: %s", path, strerror(errno));
    if (memcmp(head, MAGIC, 8) != 0)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: not a checkpoint (bad magic at offset 0)", path);
    uint32_t version = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 | (uint32_t)head[11] << 24;
    if (version != VERSION)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: version %u, this build reads version %d", path,
                    version, VERSION);
    if (st->st_size >= MAX_FILE)
        return fail(err, errlen, NN_EFORMAT, "checkpoint %s: %lld bytes; a checkpoint is under 1 GiB (%d bytes)", path,
                    (long long)st->st_size, MAX_FILE);
    size_t size = (size_t)st->st_size;
    if (!(c->bytes = ag_alloc(size + 1)))
        return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory for %zu bytes", path, size);
    memcpy(c->bytes, head, HEADER);
    if (read_all(fd, c->bytes + HEADER, size - HEADER) != 0)
        return fail(err, errlen, NN_EIO, "checkpoint %s: read failed: %s", path, strerror(errno));
    c->len = size;
    return parse(c, path, err, errlen);
}

nn_status nn_ckpt_open(const char *path, nn_ckpt **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    nn_status s = NN_OK;
    int fd = open_regular(path, &st, &s, err, errlen);
    if (fd < 0) return s;
    nn_ckpt *c = ag_alloc(sizeof *c);
    if (c) memset(c, 0, sizeof *c);
    if (!c || !(c->path = join(path, ""))) s = fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", path);
    else s = read_file(c, fd, &st, path, err, errlen);
    close(fd);
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

/* Checks that every record the model needs is there with its shape, and that the file
 * holds nothing else; found[0 .. 3 n) gets each parameter's record, then its optimizer
 * state's. */
static nn_status match_records(const nn_ckpt *c, nn_params *ps, nn_optim *opt, const record **found, char *err,
                               size_t errlen)
{
    for (int i = 0; i < ps->n; i++) {
        nn_status s = expect(c, ps->p[i]->name, ps->p[i], &found[i], err, errlen);
        if (s != NN_OK) return s;
    }
    if (opt) {
        static const char *kinds[] = {"no optimizer", "SGD", "Adam", "Adagrad", "RMSprop", "AdamW"};
        if ((unsigned)opt->kind >= N_KINDS)
            return fail(err, errlen, NN_EARG, "checkpoint %s: the optimizer's kind %d is not one this build knows", c->path,
                        (int)opt->kind);
        if (c->optim_kind != (int)opt->kind + 1)
            return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: the file holds %s state but the optimizer is %s", c->path,
                        kinds[c->optim_kind], kinds[opt->kind + 1]);
        nn_optim file_opt;
        nn_ckpt_optim(c, &file_opt);
        int per = optim_records(opt), same = nn_optim_buffers(&file_opt) == per;
        for (int k = 0; same && k < per; k++) same = !strcmp(nn_optim_buffer_name(&file_opt, k), nn_optim_buffer_name(opt, k));
        if (!same)
            return fail(err, errlen, NN_EMISMATCH,
                        "checkpoint %s: %s with momentum %g%s in the file, momentum %g%s in the optimizer: "
                        "their state buffers differ",
                        c->path, kinds[c->optim_kind], c->momentum, c->centered ? ", centered" : "", opt->momentum,
                        opt->centered ? ", centered" : "");
        if (opt->state_len != (long)per * nn_params_numel(ps))
            return fail(err, errlen, NN_EARG, "checkpoint %s: the optimizer holds %ld state values, not %ld: was it made for this model?",
                        c->path, opt->state_len, (long)per * nn_params_numel(ps));
        for (int i = 0; i < ps->n && per; i++) {
            for (int k = 0; k < per; k++) {
                char *name = join(nn_optim_buffer_name(opt, k), ps->p[i]->name);
                if (!name) return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", c->path);
                nn_status s = expect(c, name, ps->p[i], &found[ps->n * (1 + k) + i], err, errlen);
                ag_free(name);
                if (s != NN_OK) return s;
            }
        }
    }
    /* every tensor in the file must belong to the model (state: to one of its parameters) */
    for (int i = 0; i < c->n_rec; i++) {
        const char *name = c->rec[i].name, *base = name;
        for (size_t k = 0; k < sizeof STATE_PREFIXES / sizeof STATE_PREFIXES[0] && base == name; k++) {
            size_t lp = strlen(STATE_PREFIXES[k]);
            if (strncmp(name, STATE_PREFIXES[k], lp) == 0) base = name + lp;
        }
        if (!nn_params_get(ps, base))
            return fail(err, errlen, NN_EMISMATCH, "checkpoint %s: the file has '%s', which the model does not", c->path,
                        name);
    }
    return NN_OK;
}

nn_status nn_ckpt_load(const nn_ckpt *c, nn_params *ps, nn_optim *opt, char *err, size_t errlen)
{
    const record **found = ag_alloc((1 + MAX_BUFFERS) * (size_t)(ps->n ? ps->n : 1) * sizeof *found);
    if (!found) return fail(err, errlen, NN_ENOMEM, "checkpoint %s: out of memory", c->path);
    /* 1. check everything */
    nn_status s = match_records(c, ps, opt, found, err, errlen);
    if (s != NN_OK) {
        ag_free(found);
        return s;
    }
    int per = opt ? optim_records(opt) : 0;
    /* 2. nothing can fail from here: copy */
    for (int i = 0; i < ps->n; i++) copy_values(ps->p[i]->data, found[i]);
    if (opt) {
        long numel = nn_params_numel(ps), at = 0;
        for (int i = 0; i < ps->n && per; i++) {
            for (int k = 0; k < per; k++) copy_values(opt->state + k * numel + at, found[ps->n * (1 + k) + i]);
            at += ps->p[i]->size;
        }
        opt->lr = c->lr;
        opt->momentum = c->momentum;
        opt->weight_decay = c->weight_decay;
        opt->beta1 = c->beta1;
        opt->beta2 = c->beta2;
        opt->eps = c->eps;
        opt->lr_decay = c->lr_decay;
        opt->initial_accumulator_value = c->initial_accumulator_value;
        opt->alpha = c->alpha;
        opt->centered = c->centered;
        opt->step = c->step;
    }
    ag_free(found);
    return NN_OK;
}

/* ---- looking into a checkpoint ---- */

int nn_ckpt_count(const nn_ckpt *c)
{
    return c->n_rec;
}

const char *nn_ckpt_name(const nn_ckpt *c, int i)
{
    return i >= 0 && i < c->n_rec ? c->rec[i].name : NULL;
}

int nn_ckpt_find(const nn_ckpt *c, const char *name)
{
    const record *r = name ? find(c, name) : NULL;
    return r ? (int)(r - c->rec) : -1;
}

int nn_ckpt_shape(const nn_ckpt *c, int i, int *shape)
{
    if (i < 0 || i >= c->n_rec) return -1;
    for (int d = 0; shape && d < c->rec[i].rank; d++) shape[d] = c->rec[i].shape[d];
    return c->rec[i].rank;
}

long nn_ckpt_numel(const nn_ckpt *c, int i)
{
    return i >= 0 && i < c->n_rec ? c->rec[i].size : -1;
}

nn_status nn_ckpt_values(const nn_ckpt *c, int i, ag_float *out, long n, char *err, size_t errlen)
{
    if (i < 0 || i >= c->n_rec)
        return fail(err, errlen, NN_EARG, "checkpoint %s: no tensor %d (it holds %d)", c->path, i, c->n_rec);
    if (n != c->rec[i].size || !out)
        return fail(err, errlen, NN_EARG, "checkpoint %s: tensor '%s' has %ld values, not %ld%s", c->path, c->rec[i].name,
                    c->rec[i].size, n, out ? "" : " (and out is NULL)");
    copy_values(out, &c->rec[i]);
    return NN_OK;
}

int nn_ckpt_optim(const nn_ckpt *c, nn_optim *out)
{
    memset(out, 0, sizeof *out);
    if (!c->optim_kind) return 0;
    out->kind = (nn_optim_kind)(c->optim_kind - 1);
    out->lr = c->lr;
    out->momentum = c->momentum;
    out->weight_decay = c->weight_decay;
    out->beta1 = c->beta1;
    out->beta2 = c->beta2;
    out->eps = c->eps;
    out->lr_decay = c->lr_decay;
    out->initial_accumulator_value = c->initial_accumulator_value;
    out->alpha = c->alpha;
    out->centered = c->centered;
    out->step = c->step;
    return 1;
}
