/*
 * troupe/pid.h - process identifiers and references.
 *
 * A pid names one actor, anywhere in a cluster, for all time. It is a value
 * (never a pointer) made of three parts:
 *   node      64-bit id of the node that spawned the actor (a hash of the
 *             node's name, unique within a cluster);
 *   id        the actor's serial on that node (slot index in the low 32
 *             bits, slot generation in the high 32 bits: never reused while
 *             the node runs);
 *   creation  the node's incarnation, different on every start of the node,
 *             never 0 for a real pid.
 * The all-zero pid is TR_PID_NONE ("no actor").
 *
 * References (monitor refs, call refs, timer refs) have the same shape and
 * are unique per node incarnation.
 *
 * On the wire a pid is msgpack ext type TR_EXT_PID and a ref is ext type
 * TR_EXT_REF, each 20 bytes: node (8, big endian), id (8, big endian),
 * creation (4, big endian). See docs/protocol.md.
 */
#ifndef TR_PID_H
#define TR_PID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_pid {
	uint64_t node;
	uint64_t id;
	uint32_t creation;
} tr_pid_t;

typedef struct tr_ref {
	uint64_t node;
	uint64_t id;
	uint32_t creation;
} tr_ref_t;

#define TR_PID_NONE ((tr_pid_t){0, 0, 0})
#define TR_REF_NONE ((tr_ref_t){0, 0, 0})

#define TR_EXT_PID      1  /* msgpack ext type of a pid */
#define TR_EXT_REF      2  /* msgpack ext type of a reference */
#define TR_ID_WIRE_SIZE 20 /* bytes of either ext body */
#define TR_PID_STR_MAX  64 /* enough for tr_pid_format() output */

static inline bool tr_pid_is_none(tr_pid_t p)
{
	return p.node == 0 && p.id == 0 && p.creation == 0;
}

static inline bool tr_pid_eq(tr_pid_t a, tr_pid_t b)
{
	return a.node == b.node && a.id == b.id && a.creation == b.creation;
}

static inline bool tr_ref_eq(tr_ref_t a, tr_ref_t b)
{
	return a.node == b.node && a.id == b.id && a.creation == b.creation;
}

static inline bool tr_ref_is_none(tr_ref_t r)
{
	return r.node == 0 && r.id == 0 && r.creation == 0;
}

/**
 * tr_pid_format() - write "<NODE.ID.CREATION>" (node in 16 hex digits,
 * id and creation in decimal) into buf, always NUL-terminated.
 * Returns the length the full text needs (snprintf style).
 * Thread: any thread.
 */
TR_API int tr_pid_format(tr_pid_t pid, char *buf, size_t cap);

/**
 * tr_pid_parse() - parse the text written by tr_pid_format().
 * Returns TR_EINVAL on anything else; *out is untouched then.
 * Thread: any thread.
 */
TR_API tr_err tr_pid_parse(const char *text, tr_pid_t *out);

/**
 * tr_ref_format() - write "#Ref<NODE.ID.CREATION>" into buf (see above).
 */
TR_API int tr_ref_format(tr_ref_t ref, char *buf, size_t cap);

/**
 * tr_id_encode() / tr_id_decode() - the 20-byte wire body of a pid or ref.
 * tr_id_decode() cannot fail: every 20-byte string is some identifier.
 * Thread: any thread.
 */
TR_API void tr_id_encode(uint64_t node, uint64_t id, uint32_t creation,
                         uint8_t out[TR_ID_WIRE_SIZE]);
TR_API void tr_id_decode(const uint8_t in[TR_ID_WIRE_SIZE], uint64_t *node,
                         uint64_t *id, uint32_t *creation);

#ifdef __cplusplus
}
#endif
#endif /* TR_PID_H */
