/* nn_file.c -- a file that is whole or absent: written to a fresh PATH.tmp, flushed to
 * disk, then renamed over PATH. A crash, a full disk or a failed write leaves the old PATH
 * (if any) untouched and no PATH.tmp behind. Checkpoints and every file the examples
 * write go through here. */
#define _POSIX_C_SOURCE 200809L /* open flags, fdopen, fileno, fsync */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_internal.h"

static nn_status fail(char *err, size_t errlen, nn_status s, const char *fmt, const char *a, const char *b)
{
    if (err && errlen) snprintf(err, errlen, fmt, a, b);
    return s;
}

nn_status nn_file_open(nn_file *w, const char *path, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    if (!path || !*path) return fail(err, errlen, NN_EARG, "%s%sno file name given", "", "");
    size_t n = strlen(path);
    w->tmp = ag_alloc(n + 5);
    w->path = ag_alloc(n + 1);
    if (!w->tmp || !w->path) {
        nn_file_abort(w);
        return fail(err, errlen, NN_ENOMEM, "%s: out of memory%s", path, "");
    }
    memcpy(w->path, path, n + 1);
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    /* Whatever is at PATH.tmp (a file left by a killed run, a FIFO, a link) is removed
     * first; O_EXCL then opens nothing but a new regular file, and O_NONBLOCK makes sure
     * nothing can block. 0666 less the umask, as fopen. */
    int fd = -1;
    if (unlink(w->tmp) == 0 || errno == ENOENT)
        fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0666);
    else if (errno == EPERM || errno == EISDIR) {
        struct stat st;
        if (stat(w->tmp, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
    }
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (fd >= 0) unlink(w->tmp);
        char msg[256];
        snprintf(msg, sizeof msg, "cannot create %s: %s", w->tmp, strerror(e));
        nn_status s = fail(err, errlen, NN_EIO, "%s: %s", path, msg);
        ag_free(w->tmp);
        ag_free(w->path);
        memset(w, 0, sizeof *w);
        return s;
    }
    return NN_OK;
}

nn_status nn_file_commit(nn_file *w, char *err, size_t errlen)
{
    if (!w->f) return fail(err, errlen, NN_EARG, "%s%snn_file_commit: the file is not open", "", "");
    int bad = ferror(w->f) || fflush(w->f) != 0 || fsync(fileno(w->f)) != 0;
    int e = errno;
    if (fclose(w->f) != 0 && !bad) bad = 1, e = errno;
    w->f = NULL;
    nn_status s = NN_OK;
    if (bad) {
        s = fail(err, errlen, NN_EIO, "%s: writing failed: %s", w->path, strerror(e));
    } else if (rename(w->tmp, w->path) != 0) {
        s = fail(err, errlen, NN_EIO, "%s: cannot rename the temporary file over it: %s", w->path, strerror(errno));
    }
    if (s != NN_OK) unlink(w->tmp);
    ag_free(w->tmp);
    ag_free(w->path);
    memset(w, 0, sizeof *w);
    return s;
}

void nn_file_abort(nn_file *w)
{
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp);
    }
    ag_free(w->tmp);
    ag_free(w->path);
    memset(w, 0, sizeof *w);
}
