/* Vigil error codes: negative ints from one table that yields the enum, the
 * name, the class and the message. 0 is success.
 *
 * Class tells what a caller may do with a failure:
 *   RETRYABLE  try again later (queue full, peer unavailable, timeout)
 *   PERMANENT  the data or request is bad; retrying gives the same answer
 *   FATAL      the component or process cannot go on */
#ifndef VIGIL_ERROR_H
#define VIGIL_ERROR_H

typedef enum { VG_CLASS_OK = 0, VG_CLASS_RETRYABLE, VG_CLASS_PERMANENT, VG_CLASS_FATAL } vg_errclass_t;

/*  X(NAME,        value, class,     message) */
#define VG_ERRNO_MAP(X)                                                          \
    X(NOMEM,       -1,  FATAL,     "out of memory")                              \
    X(INVAL,       -2,  PERMANENT, "invalid argument")                           \
    X(FULL,        -3,  RETRYABLE, "queue full")                                 \
    X(REFUSED,     -4,  RETRYABLE, "refused by the pipeline (back-pressure)")    \
    X(TOOBIG,      -5,  PERMANENT, "message too large")                          \
    X(PARSE,       -6,  PERMANENT, "malformed data")                             \
    X(IO,          -7,  RETRYABLE, "I/O error")                                  \
    X(TIMEOUT,     -8,  RETRYABLE, "timed out")                                  \
    X(SHUTDOWN,    -9,  RETRYABLE, "shutting down")                              \
    X(UNSUPPORTED, -10, PERMANENT, "not supported")                              \
    X(CONFIG,      -11, FATAL,     "invalid configuration")                      \
    X(NOTFOUND,    -12, PERMANENT, "not found")                                  \
    X(UNAVAILABLE, -13, RETRYABLE, "peer unavailable")                           \
    X(AUTH,        -14, PERMANENT, "unauthenticated or forbidden")               \
    X(EXISTS,      -15, PERMANENT, "already exists")                             \
    X(STATE,       -16, FATAL,     "invalid state")

typedef enum {
#define VG_ERR_ENUM(name, val, cls, msg) VG_E##name = (val),
    VG_ERRNO_MAP(VG_ERR_ENUM)
#undef VG_ERR_ENUM
} vg_errno_t;

const char *vg_strerror(int err);    /* message; "success" for 0 */
const char *vg_err_name(int err);    /* "VG_EFULL" */
vg_errclass_t vg_err_class(int err); /* VG_CLASS_OK for 0 */
static inline int vg_err_retryable(int err) { return vg_err_class(err) == VG_CLASS_RETRYABLE; }

#endif
