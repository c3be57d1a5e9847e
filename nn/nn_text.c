/* nn_text.c -- UTF-8, strictly: what the example trainers need to read text files and
 * names (and what nn_plot needs to write labels) in one place. */
#include "nn.h"

long nn_utf8_decode(const char *text, size_t n, size_t *i)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t k = *i;
    if (k >= n) return -1;
    unsigned char b = s[k];
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (!len || k + (size_t)len > n) return -1;
    unsigned long cp = len == 1 ? b : len == 2 ? (b & 0x1Fu) : len == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (int j = 1; j < len; j++) {
        unsigned char c = s[k + (size_t)j];
        if ((c >> 6) != 2) return -1;
        cp = (cp << 6) | (c & 0x3Fu);
    }
    static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* below: an overlong form */
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    *i = k + (size_t)len;
    return (long)cp;
}

int nn_utf8_encode(uint32_t cp, char *out)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
