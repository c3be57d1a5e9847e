/* nn_meta.c -- the text a checkpoint carries beside its tensors: lines of key=value.
 * Lookups never cut a value, and the number readers take a value only when all of it
 * is the number and it lies in range. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

const char *nn_meta_find(const char *meta, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *line = meta; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            *len = n - klen - 1;
            return line + klen + 1;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

const char *nn_meta_get(const char *meta, const char *key, char *buf, size_t n)
{
    size_t vlen;
    const char *v = nn_meta_find(meta, key, &vlen);
    if (!v || vlen >= n) return NULL; /* absent, or it does not fit: never cut */
    memcpy(buf, v, vlen);
    buf[vlen] = 0;
    return buf;
}

/* The value at key, NUL-terminated, in buf[n] (n >= 2): 1, 0 when absent, -1 when it
 * does not fit (then it cannot be a number we accept either). */
static int value(const char *meta, const char *key, char *buf, size_t n)
{
    size_t len;
    const char *v = nn_meta_find(meta, key, &len);
    if (!v) return 0;
    if (len == 0 || len >= n) return -1;
    memcpy(buf, v, len);
    buf[len] = 0;
    return 1;
}

int nn_meta_long(const char *meta, const char *key, long lo, long hi, long *out)
{
    char buf[32], *end;
    int r = value(meta, key, buf, sizeof buf);
    if (r <= 0) return r;
    if (!((buf[0] >= '0' && buf[0] <= '9') || (buf[0] == '-' && buf[1] >= '0' && buf[1] <= '9'))) return -1;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 1;
}

int nn_meta_u64(const char *meta, const char *key, uint64_t *out)
{
    char buf[32], *end;
    int r = value(meta, key, buf, sizeof buf);
    if (r <= 0) return r;
    if (!(buf[0] >= '0' && buf[0] <= '9')) return -1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end || errno) return -1;
    *out = (uint64_t)v;
    return 1;
}

int nn_meta_double(const char *meta, const char *key, double lo, double hi, double *out)
{
    char buf[64], *end;
    int r = value(meta, key, buf, sizeof buf);
    if (r <= 0) return r;
    if (!((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-' || buf[0] == '.')) return -1;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 1;
}
