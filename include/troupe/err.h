/*
 * troupe/err.h - error codes.
 *
 * Every fallible troupe function returns a tr_err. TR_OK is 0 and will never
 * change meaning; the other codes are small positive numbers that are stable
 * across releases and platforms, so they may be carried in protocol frames.
 * The whole table is one X-macro, so the enum, tr_strerror() and
 * tr_err_name() cannot drift apart.
 *
 * Anything not declared in the headers under include/troupe/ is not API.
 */
#ifndef TR_ERR_H
#define TR_ERR_H

#include <troupe/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define TR_ERR_MAP(X)                                                      \
	X(OK, 0, "success")                                                \
	X(ENOMEM, 1, "out of memory")                                      \
	X(EINVAL, 2, "invalid argument")                                   \
	X(ENOENT, 3, "no such actor, name or entry")                       \
	X(EEXIST, 4, "already exists (name taken or actor already named)") \
	X(ECLOSED, 5, "object closed or node stopping")                    \
	X(ETIMEDOUT, 6, "timed out")                                       \
	X(ECANCELED, 7, "operation canceled")                              \
	X(ESTATE, 8, "wrong state or wrong thread for this call")          \
	X(EAGAIN, 9, "resource temporarily busy, try again")               \
	X(EPROTO, 10, "malformed message or frame")                        \
	X(EVERSION, 11, "protocol version mismatch")                       \
	X(ECONNREFUSED, 12, "connection refused")                          \
	X(ECONNRESET, 13, "connection reset")                              \
	X(EUNREACHABLE, 14, "node unreachable")                            \
	X(ELIMIT, 15, "system limit reached")                              \
	X(ENOTSUP, 16, "operation not supported")                          \
	X(EEXITED, 17, "the peer actor exited")                            \
	X(ETYPE, 18, "field has another type")                             \
	X(ERANGE, 19, "index or value out of range")                       \
	X(EAUTH, 20, "authentication failed")                              \
	X(EINTERNAL, 21, "internal error")                                 \
	X(EIO, 22, "socket or I/O error")

typedef enum tr_err {
#define TR__ERR_ENUM(name, value, msg) TR_##name = value,
	TR_ERR_MAP(TR__ERR_ENUM)
#undef TR__ERR_ENUM
} tr_err;

/**
 * tr_strerror() - a readable sentence for an error code.
 * Returns a static string; unknown codes give "unknown error".
 * Thread: any thread.
 */
TR_API const char *tr_strerror(tr_err err);

/**
 * tr_err_name() - the symbolic name of an error code ("TR_ENOENT").
 * Returns a static string; unknown codes give "TR_E?".
 * Thread: any thread.
 */
TR_API const char *tr_err_name(tr_err err);

#ifdef __cplusplus
}
#endif
#endif /* TR_ERR_H */
