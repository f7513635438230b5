#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sl_status_name(sl_status s) {
    switch (s) {
    case SL_OK: return "ok";
    case SL_ERR_IO: return "i/o error";
    case SL_ERR_FORMAT: return "format error";
    case SL_ERR_UNSUPPORTED: return "unsupported";
    case SL_ERR_SHAPE: return "shape error";
    case SL_ERR_ARGUMENT: return "invalid argument";
    case SL_ERR_UTF8: return "invalid UTF-8";
    case SL_ERR_MEMORY: return "out of memory";
    }
    return "unknown status";
}

sl_status sl_fail(sl_error *err, sl_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

sl_status sl_fail_context(sl_error *err, const char *fmt, ...) {
    if (!err) return SL_ERR_ARGUMENT;
    char prefix[256], old[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* a message that no longer fits is cut: the context comes first, it says where */
    if (snprintf(err->message, sizeof err->message, "%s: %s", prefix, old) >= (int)sizeof err->message)
        err->message[sizeof err->message - 1] = 0;
    return err->status;
}

void sl_error_clear(sl_error *err) {
    if (err) {
        err->status = SL_OK;
        err->message[0] = 0;
    }
}
