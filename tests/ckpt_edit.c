/* ckpt_edit.c -- a test tool: copies a checkpoint with its meta text edited and its
 * length and CRC-32 made right again, so that a crafted setting reaches the checks
 * behind the checksum (tests/test_rnn_names_hostile.sh).
 *
 *   ckpt_edit IN OUT key=value ...   set key (replacing its line, or appending one)
 *   ckpt_edit IN OUT -key ...        remove key's line */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* meta with key's line replaced by `line` (NULL: removed; appended when absent). */
static char *edit(const char *meta, const char *key, const char *line)
{
    size_t klen = strlen(key), n = strlen(meta);
    char *out = malloc(n + (line ? strlen(line) : 0) + 2), *o = out;
    int done = 0;
    for (const char *at = meta; *at;) {
        const char *end = strchr(at, '\n');
        size_t len = end ? (size_t)(end - at) + 1 : strlen(at);
        if (!done && len > klen && !strncmp(at, key, klen) && at[klen] == '=') {
            done = 1;
            if (line) o += sprintf(o, "%s\n", line);
        } else {
            memcpy(o, at, len);
            o += len;
        }
        at += len;
    }
    if (!done && line) o += sprintf(o, "%s\n", line);
    *o = 0;
    return out;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

int main(int argc, char **argv)
{
    size_t n;
    unsigned char *in = argc > 3 ? slurp(argv[1], &n) : NULL;
    if (!in || n < 20) {
        fprintf(stderr, "usage: ckpt_edit IN OUT key=value|-key ... (IN must be a checkpoint)\n");
        return 2;
    }
    uint32_t mlen = (uint32_t)in[12] | (uint32_t)in[13] << 8 | (uint32_t)in[14] << 16 | (uint32_t)in[15] << 24;
    char *meta = malloc(mlen + 1);
    memcpy(meta, in + 16, mlen);
    meta[mlen] = 0;
    for (int i = 3; i < argc; i++) {
        char key[256];
        const char *a = argv[i], *eq = strchr(a, '=');
        snprintf(key, sizeof key, "%.*s", a[0] == '-' ? (int)strlen(a + 1) : (int)(eq ? eq - a : 0), a[0] == '-' ? a + 1 : a);
        char *next = edit(meta, key, a[0] == '-' ? NULL : a);
        free(meta);
        meta = next;
    }
    size_t new_mlen = strlen(meta), rest = n - 16 - mlen - 4, total = 16 + new_mlen + rest + 4;
    unsigned char *out = malloc(total);
    memcpy(out, in, 12);
    put_u32(out + 12, (uint32_t)new_mlen);
    memcpy(out + 16, meta, new_mlen);
    memcpy(out + 16 + new_mlen, in + 16 + mlen, rest);
    put_u32(out + total - 4, nn_crc32(0, out, total - 4));
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, total, f) != total || fclose(f) != 0) {
        fprintf(stderr, "ckpt_edit: cannot write %s\n", argv[2]);
        return 1;
    }
    free(in);
    free(out);
    free(meta);
    return 0;
}
