/*
 * troupe/msg.h - messages.
 *
 * A message is an immutable msgpack value plus a small envelope. The value
 * is always a msgpack array whose first element is a string, the tag (the
 * counterpart of an Erlang atom heading a tuple): ["ping", 42, <pid>].
 * It is packed once, when the message is built; sending it to a local actor
 * moves the pointer, and sending it to another node copies the same bytes
 * onto the wire, so a message is never serialised twice.
 *
 * Build:   tr_msg_new(&m, "ping"); tr_msg_add_int(m, 42); tr_send(to, m);
 * Read:    if (tr_msg_is(m, "ping")) tr_msg_get_int(m, 0, &v);
 *
 * Field indexes count from 0 after the tag. Pids and refs are packed as
 * msgpack ext types (see pid.h). Nested values can be added pre-packed
 * (tr_msg_add_raw) and read back raw (tr_msg_get_raw) for msgpack-c.
 *
 * Ownership: tr_msg_new() gives the caller a message; a successful send
 * hands it to the runtime (rule 1 of docs/architecture.md); on error the
 * caller still owns it. Sending a message that is already on its way
 * (sent and not yet handed back to anyone) returns TR_EINVAL. A message
 * received by a behaviour belongs to the runtime and is freed when the callback
 * returns, unless the callback takes it with tr_msg_keep(); then the callback
 * owns it and frees it with tr_msg_free().
 *
 * Envelope kinds: ordinary messages are TR_MSG_PLAIN; calls, casts and the
 * runtime's own notices (EXIT, DOWN, timeout) have their own kinds so a
 * behaviour can dispatch without parsing. Their payloads are ordinary tagged
 * arrays too:
 *   TR_MSG_EXIT     ["EXIT", from_pid, reason]
 *   TR_MSG_DOWN     ["DOWN", monitor_ref, pid, reason]
 *   TR_MSG_TIMEOUT  ["timeout"]
 */
#ifndef TR_MSG_H
#define TR_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_msg tr_msg_t;

typedef enum tr_msg_kind {
	TR_MSG_PLAIN = 0,   /* tr_send() */
	TR_MSG_CALL = 1,    /* tr_call*(): answer with tr_reply() */
	TR_MSG_CAST = 2,    /* tr_cast() */
	TR_MSG_EXIT = 3,    /* a trapped exit signal */
	TR_MSG_DOWN = 4,    /* a monitor fired */
	TR_MSG_TIMEOUT = 5, /* tr_receive_timeout() expired */
	TR_MSG_REPLY = 6,   /* a reply (seen only by tr_inbox users) */
} tr_msg_kind_t;

/* Types reported by tr_msg_type(). */
typedef enum tr_type {
	TR_T_NIL,
	TR_T_BOOL,
	TR_T_INT,
	TR_T_DOUBLE,
	TR_T_STR,
	TR_T_BIN,
	TR_T_PID,
	TR_T_REF,
	TR_T_ARRAY,
	TR_T_MAP,
	TR_T_EXT,
} tr_type_t;

/* Largest payload accepted by the builder and the decoder (64 MiB). */
#define TR_MSG_MAX_BYTES (64u << 20)
/* Deepest nesting accepted by the decoder. */
#define TR_MSG_MAX_DEPTH 32

/**
 * tr_msg_new() - start a message whose tag is the NUL-terminated string tag.
 * Returns TR_EINVAL for a NULL out/tag or a tag over 255 bytes, TR_ENOMEM.
 * Thread: any thread.
 */
TR_API tr_err tr_msg_new(tr_msg_t **out, const char *tag);

/**
 * tr_msg_from_msgpack() - make a message from packed msgpack bytes, which
 * must hold exactly one array whose first element is a string. The bytes are
 * validated (sizes, nesting) before anything is allocated for them.
 * Returns TR_EPROTO for bytes that are not such a value.
 * Thread: any thread.
 */
TR_API tr_err tr_msg_from_msgpack(tr_msg_t **out, const void *bytes,
                                  size_t len);

/** tr_msg_free() - free a message the caller owns. NULL is a no-op. */
TR_API void tr_msg_free(tr_msg_t *msg);

/** tr_msg_dup() - a deep copy (to send the same content twice). */
TR_API tr_err tr_msg_dup(const tr_msg_t *msg, tr_msg_t **out);

/*
 * Appending fields. Each returns TR_OK, TR_EINVAL (NULL message, or a
 * message already sent), TR_ENOMEM or TR_ELIMIT (over TR_MSG_MAX_BYTES).
 * On error the message is unchanged.
 */
TR_API tr_err tr_msg_add_int(tr_msg_t *msg, int64_t v);
TR_API tr_err tr_msg_add_uint(tr_msg_t *msg, uint64_t v);
TR_API tr_err tr_msg_add_double(tr_msg_t *msg, double v);
TR_API tr_err tr_msg_add_bool(tr_msg_t *msg, bool v);
TR_API tr_err tr_msg_add_nil(tr_msg_t *msg);
/** tr_msg_add_str() - a NUL-terminated string. */
TR_API tr_err tr_msg_add_str(tr_msg_t *msg, const char *s);
/** tr_msg_add_strn() - a string of len bytes (may contain NULs). */
TR_API tr_err tr_msg_add_strn(tr_msg_t *msg, const char *s, size_t len);
TR_API tr_err tr_msg_add_bin(tr_msg_t *msg, const void *p, size_t len);
TR_API tr_err tr_msg_add_pid(tr_msg_t *msg, tr_pid_t pid);
TR_API tr_err tr_msg_add_ref(tr_msg_t *msg, tr_ref_t ref);
/**
 * tr_msg_add_raw() - one pre-packed msgpack value (e.g. a map packed with
 * msgpack-c). It is validated like received bytes: TR_EPROTO unless it is
 * exactly one well-formed value within the limits.
 */
TR_API tr_err tr_msg_add_raw(tr_msg_t *msg, const void *packed, size_t len);

/* Reading. Borrowed pointers live as long as the message. */

/** tr_msg_kind() - the envelope kind. */
TR_API tr_msg_kind_t tr_msg_kind(const tr_msg_t *msg);
/** tr_msg_sender() - the sending actor, or TR_PID_NONE (plain thread). */
TR_API tr_pid_t tr_msg_sender(const tr_msg_t *msg);
/** tr_msg_tag() - the tag, not NUL-terminated; its length in *len. */
TR_API const char *tr_msg_tag(const tr_msg_t *msg, size_t *len);
/** tr_msg_is() - true when the tag equals the NUL-terminated tag. */
TR_API bool tr_msg_is(const tr_msg_t *msg, const char *tag);
/** tr_msg_count() - the number of fields after the tag. */
TR_API size_t tr_msg_count(const tr_msg_t *msg);
/** tr_msg_type() - the type of field idx; TR_ERANGE past the end. */
TR_API tr_err tr_msg_type(const tr_msg_t *msg, size_t idx, tr_type_t *out);

/*
 * Typed getters: TR_OK, TR_ERANGE (no such field), TR_ETYPE (another type;
 * integers convert when the value fits). *out is untouched on error.
 */
TR_API tr_err tr_msg_get_int(const tr_msg_t *msg, size_t idx, int64_t *out);
TR_API tr_err tr_msg_get_uint(const tr_msg_t *msg, size_t idx, uint64_t *out);
TR_API tr_err tr_msg_get_double(const tr_msg_t *msg, size_t idx, double *out);
TR_API tr_err tr_msg_get_bool(const tr_msg_t *msg, size_t idx, bool *out);
TR_API tr_err tr_msg_get_str(const tr_msg_t *msg, size_t idx, const char **s,
                             size_t *len);
/** tr_msg_get_strbuf() - copy a string field NUL-terminated; TR_ELIMIT if
 *  it does not fit in cap bytes (then buf holds a truncated copy). */
TR_API tr_err tr_msg_get_strbuf(const tr_msg_t *msg, size_t idx, char *buf,
                                size_t cap);
TR_API tr_err tr_msg_get_bin(const tr_msg_t *msg, size_t idx, const void **p,
                             size_t *len);
TR_API tr_err tr_msg_get_pid(const tr_msg_t *msg, size_t idx, tr_pid_t *out);
TR_API tr_err tr_msg_get_ref(const tr_msg_t *msg, size_t idx, tr_ref_t *out);
/** tr_msg_get_raw() - the packed bytes of field idx (any type). */
TR_API tr_err tr_msg_get_raw(const tr_msg_t *msg, size_t idx,
                             const void **packed, size_t *len);

/** tr_msg_bytes() - the whole packed payload (what goes on the wire). */
TR_API const void *tr_msg_bytes(const tr_msg_t *msg, size_t *len);

/**
 * tr_msg_keep() - inside a receive callback, take ownership of the message
 * being handled; the runtime will not free it. Returns TR_ESTATE when msg
 * is not the message being handled by the calling actor.
 * Thread: actor context only.
 */
TR_API tr_err tr_msg_keep(tr_msg_t *msg);

/* Helpers for the runtime's notices. */

/** tr_msg_exit_info() - from/reason of a TR_MSG_EXIT; TR_ETYPE otherwise.
 *  reason is copied NUL-terminated into buf (cap bytes, truncated). */
TR_API tr_err tr_msg_exit_info(const tr_msg_t *msg, tr_pid_t *from,
                               char *reason, size_t cap);
/** tr_msg_down_info() - ref/pid/reason of a TR_MSG_DOWN; TR_ETYPE otherwise. */
TR_API tr_err tr_msg_down_info(const tr_msg_t *msg, tr_ref_t *ref,
                               tr_pid_t *pid, char *reason, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* TR_MSG_H */
