/* Whole-file reads and atomic writes. POSIX calls only, so the same code runs natively and in
   Emscripten's file system. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

sl_status sl_read_file(const char *path, uint8_t **data, size_t *size, sl_error *err) {
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sl_fail(err, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sl_fail(err, SL_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return sl_fail(err, SL_ERR_IO, "%s: is a directory", path);
    }
    /* st_size is only a first guess (pipes say 0, a growing file says less): read until end of file. */
    if (st.st_size < 0 || (uint64_t)st.st_size >= (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return sl_fail(err, SL_ERR_MEMORY, "%s: file of %lld bytes does not fit in memory", path,
                       (long long)st.st_size);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    if (cap < 4096) cap = 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu bytes", path, cap);
    }
    for (;;) {
        if (n == cap - 1) { /* keep room for the terminating 0 */
            if (cap > SIZE_MAX / 2) {
                free(buf);
                close(fd);
                return sl_fail(err, SL_ERR_MEMORY, "%s: file does not fit in memory", path);
            }
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                close(fd);
                return sl_fail(err, SL_ERR_MEMORY, "%s: no memory for %zu bytes", path, cap * 2);
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return sl_fail(err, SL_ERR_IO, "%s: read failed after %zu bytes: %s", path, n, strerror(e));
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    *size = n;
    return SL_OK;
}

struct sl_atomic_file {
    int fd;
    int failed; /* a write failed: commit must not rename a partial file */
    char *path, *tmp_path;
};

sl_status sl_atomic_open(const char *path, sl_atomic_file **out, sl_error *err) {
    *out = NULL;
    sl_atomic_file *f = calloc(1, sizeof *f);
    size_t len = strlen(path);
    /* ".tmp." + up to 20 digits of pid + 0 */
    size_t tmp_cap = len + 32;
    if (f) f->path = malloc(len + 1);
    if (f) f->tmp_path = malloc(tmp_cap);
    if (!f || !f->path || !f->tmp_path) {
        if (f) free(f->path), free(f->tmp_path);
        free(f);
        return sl_fail(err, SL_ERR_MEMORY, "%s: no memory", path);
    }
    memcpy(f->path, path, len + 1);
    snprintf(f->tmp_path, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
    /* O_EXCL: never write through a symlink someone planted at the temporary name; a stale file left by an
       earlier crashed process with the same pid is removed once. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_TRUNC;
#ifdef O_CLOEXEC
    flags |= O_CLOEXEC;
#endif
    f->fd = open(f->tmp_path, flags, 0666);
    if (f->fd < 0 && errno == EEXIST && unlink(f->tmp_path) == 0) f->fd = open(f->tmp_path, flags, 0666);
    if (f->fd < 0) {
        sl_status s = sl_fail(err, SL_ERR_IO, "%s: cannot create temporary file %s: %s", path, f->tmp_path,
                              strerror(errno));
        free(f->path);
        free(f->tmp_path);
        free(f);
        return s;
    }
    *out = f;
    return SL_OK;
}

sl_status sl_atomic_write(sl_atomic_file *f, const void *data, size_t n, sl_error *err) {
    if (!f) return sl_fail(err, SL_ERR_ARGUMENT, "sl_atomic_write: no file");
    if (f->failed) return sl_fail(err, SL_ERR_IO, "%s: an earlier write failed", f->path);
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t put = write(f->fd, p, n);
        if (put < 0) {
            if (errno == EINTR) continue;
            f->failed = 1;
            return sl_fail(err, SL_ERR_IO, "%s: write to %s failed: %s", f->path, f->tmp_path,
                           strerror(errno));
        }
        p += put;
        n -= (size_t)put;
    }
    return SL_OK;
}

static void atomic_free(sl_atomic_file *f) {
    free(f->path);
    free(f->tmp_path);
    free(f);
}

/* After a rename the new directory entry is durable only once the directory itself is synced. Best effort:
   some file systems (and Emscripten's) refuse to open or sync directories. */
static void sync_directory_of(const char *path) {
#ifdef O_DIRECTORY
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
#else
    (void)path;
#endif
}

sl_status sl_atomic_commit(sl_atomic_file *f, sl_error *err) {
    if (!f) return sl_fail(err, SL_ERR_ARGUMENT, "sl_atomic_commit: no file");
    sl_status s = SL_OK;
    if (f->failed)
        s = sl_fail(err, SL_ERR_IO, "%s: not saved, an earlier write failed", f->path);
    else if (fsync(f->fd) != 0 && errno != EINVAL && errno != ENOTSUP)
        s = sl_fail(err, SL_ERR_IO, "%s: fsync of %s failed: %s", f->path, f->tmp_path, strerror(errno));
    if (close(f->fd) != 0 && s == SL_OK)
        s = sl_fail(err, SL_ERR_IO, "%s: close of %s failed: %s", f->path, f->tmp_path, strerror(errno));
    if (s == SL_OK && rename(f->tmp_path, f->path) != 0)
        s = sl_fail(err, SL_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp_path,
                    strerror(errno));
    if (s != SL_OK)
        unlink(f->tmp_path);
    else
        sync_directory_of(f->path);
    atomic_free(f);
    return s;
}

void sl_atomic_abort(sl_atomic_file *f) {
    if (!f) return;
    close(f->fd);
    unlink(f->tmp_path);
    atomic_free(f);
}
