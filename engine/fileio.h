/* Whole-file reads and atomic writes (temporary file, fsync, rename): nothing the user saved is lost. */
#ifndef SL_FILEIO_H
#define SL_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Reads the whole file into a malloc'ed buffer (free with free()), with one extra 0 byte after it. */
sl_status sl_read_file(const char *path, uint8_t **data, size_t *size, sl_error *err);

/* Writes a file atomically: the bytes go to "path.tmp.<pid>", are fsync'ed, then renamed over path.
   On failure the temporary file is removed and path is untouched. */
typedef struct sl_atomic_file sl_atomic_file;
sl_status sl_atomic_open(const char *path, sl_atomic_file **out, sl_error *err);
sl_status sl_atomic_write(sl_atomic_file *f, const void *data, size_t n, sl_error *err);
sl_status sl_atomic_commit(sl_atomic_file *f, sl_error *err); /* fsync + rename + free */
void sl_atomic_abort(sl_atomic_file *f);                     /* unlink the temporary + free */

#endif
