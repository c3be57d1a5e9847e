/* names_fold.c -- UTF-8 (decoded by nn_utf8_decode): folding to the tutorial's 57 letters, and escaping
 * text (names, paths) so it can be printed or written into a file safely.
 *
 * unicodeToAscii decomposes (NFD), drops combining marks and keeps only
 * [A-Za-z .,;']. For a single code point, the result is one ASCII letter or nothing.
 * The tables below give that letter for every code point where it is not nothing and
 * not the code point itself: Latin-1 Supplement, Latin Extended-A and -B (U+00C0 ..
 * U+024F), Latin Extended Additional (U+1E00 .. U+1EFF), and three stragglers. '_'
 * means "dropped". They were worked out with Python's unicodedata.normalize('NFD')
 * and are checked case by case in tests/test_names_data.c. */
#include <stdio.h>
#include <string.h>

#include "names_data.h"
#include "nn.h"

static const char latin[] = /* U+00C0 .. U+024F, 32 per row */
    "AAAAAA_CEEEEIIII_NOOOOO__UUUUY__" /* U+00C0 */
    "aaaaaa_ceeeeiiii_nooooo__uuuuy_y" /* U+00E0 */
    "AaAaAaCcCcCcCcDd__EeEeEeEeEeGgGg" /* U+0100 */
    "GgGgHh__IiIiIiIiI___JjKk_LlLlLl_" /* U+0120 */
    "___NnNnNn___OoOoOo__RrRrRrSsSsSs" /* U+0140 */
    "SsTtTt__UuUuUuUuUuUuWwYyYZzZzZz_" /* U+0160 */
    "________________________________" /* U+0180 */
    "Oo_____________Uu_______________" /* U+01A0 */
    "_____________AaIiOoUuUuUuUuUu_Aa" /* U+01C0 */
    "Aa____GgKkOoOo__j___Gg__NnAa____" /* U+01E0 */
    "AaAaEeEeIiIiOoOoRrRrUuUuSsTt__Hh" /* U+0200 */
    "______AaEeOoOoOoOoYy____________" /* U+0220 */
    "________________";                /* U+0240 */

static const char latin_additional[] = /* U+1E00 .. U+1EFF */
    "AaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFf" /* U+1E00 */
    "GgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMm" /* U+1E20 */
    "MmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRr" /* U+1E40 */
    "SsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVv" /* U+1E60 */
    "WwWwWwWwWwXxXxYyZzZzZzhtwy______" /* U+1E80 */
    "AaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEe" /* U+1EA0 */
    "EeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOo" /* U+1EC0 */
    "OoOoUuUuUuUuUuUuUuYyYyYyYy______"; /* U+1EE0 */

_Static_assert(sizeof latin - 1 == 0x250 - 0xC0, "latin table covers U+00C0..U+024F");
_Static_assert(sizeof latin_additional - 1 == 0x100, "latin_additional covers U+1E00..U+1EFF");

int names_letter_index(char c)
{
    const char *p = c ? strchr(NAMES_LETTERS, c) : NULL;
    return p ? (int)(p - NAMES_LETTERS) : -1;
}

static char fold_code_point(unsigned long cp)
{
    char c = 0;
    if (cp < 0x80) c = (char)cp;
    else if (cp >= 0xC0 && cp < 0x250) c = latin[cp - 0xC0];
    else if (cp >= 0x1E00 && cp < 0x1F00) c = latin_additional[cp - 0x1E00];
    else if (cp == 0x37E) c = ';';  /* GREEK QUESTION MARK is canonically ';' */
    else if (cp == 0x212A) c = 'K'; /* KELVIN SIGN */
    else if (cp == 0x212B) c = 'A'; /* ANGSTROM SIGN -> A + ring */
    return names_letter_index(c) >= 0 ? c : 0;
}

int names_fold(const char *s, size_t n, char *out, size_t outn, size_t *bad_at)
{
    size_t i = 0, k = 0;
    while (i < n) {
        size_t at = i;
        long cp = nn_utf8_decode(s, n, &i);
        if (cp < 0) {
            if (bad_at) *bad_at = at;
            if (outn) out[0] = 0;
            return -1;
        }
        char c = fold_code_point((unsigned long)cp);
        if (c) {
            if (k + 1 < outn) out[k] = c;
            k++;
        }
    }
    if (outn) out[k < outn ? k : outn - 1] = 0;
    return (int)k;
}

int names_is_control(long cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xFFFE || cp == 0xFFFF;
}

/* The escaped form of the character at s[*i] into piece (at least 16 bytes); moves *i
 * past it and returns the length. Printable characters are kept as they are. */
static size_t escape_char(const char *s, size_t n, size_t *i, char *piece, size_t pn)
{
    size_t at = *i, len = 0;
    long cp = nn_utf8_decode(s, n, i);
    if (cp < 0) *i = at + 1; /* one byte that is not UTF-8 */
    if (cp < 0 || names_is_control(cp)) {
        for (size_t e = at; e < *i; e++) len += (size_t)snprintf(piece + len, pn - len, "\\x%02x", (unsigned char)s[e]);
    } else if (cp == '\\') {
        memcpy(piece, "\\\\", 2);
        len = 2;
    } else {
        len = *i - at;
        memcpy(piece, s + at, len);
    }
    return len;
}

const char *names_escape(const char *s, char *out, size_t outn)
{
    size_t n = strlen(s), i = 0, k = 0, fit_k = 0; /* fit_k: the last end the mark fits after */
    char mark[48], piece[32];
    size_t m = (size_t)snprintf(mark, sizeof mark, "...(%zu bytes)", n);
    while (i < n) {
        size_t j = i, len = escape_char(s, n, &j, piece, sizeof piece);
        if (k + len + 1 > outn) break;
        memcpy(out + k, piece, len);
        k += len;
        i = j;
        if (k + m + 1 <= outn) fit_k = k;
    }
    if (i < n) { /* cut: back to where the mark fits, and say so */
        k = fit_k;
        if (k + m + 1 <= outn) {
            memcpy(out + k, mark, m);
            k += m;
        }
    }
    if (outn) out[k] = 0;
    return out;
}
