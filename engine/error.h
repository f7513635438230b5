/* Errors as values: every fallible function returns sl_status and fills an sl_error. */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include "surligne.h"

#if defined(__GNUC__)
#define SL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SL_PRINTF(a, b)
#endif

/* Sets err (may be NULL) to status and a printf-formatted message; returns status. */
sl_status sl_fail(sl_error *err, sl_status status, const char *fmt, ...) SL_PRINTF(3, 4);
/* Prefixes the message already in err with a printf-formatted context ("model.gguf: ..."). */
sl_status sl_fail_context(sl_error *err, const char *fmt, ...) SL_PRINTF(2, 3);
void sl_error_clear(sl_error *err);

#endif
