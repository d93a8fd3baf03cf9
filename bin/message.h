/*
 * bin/message.h - the CLI's MESSAGE argument (JSON text to msgpack) and
 * its replies (msgpack to JSON), apart from troupe.c so that
 * tests/fuzz/fuzz_message.c can feed them anything. Nothing here exits
 * or prints. Thread: any.
 */
#ifndef TROUPE_BIN_MESSAGE_H
#define TROUPE_BIN_MESSAGE_H

#include <jansson.h>
#include <msgpack.h>
#include <troupe/troupe.h>

/*
 * MESSAGE (a NUL-terminated argument): a JSON array whose first element
 * is a string, or a bare word (sent as ["word"]), that a request can
 * carry (nested at most TR_MSG_MAX_DEPTH - 1 deep). On TR_OK sb holds the
 * msgpack array (msgpack_sbuffer_destroy() it); TR_EINVAL (sb left
 * empty) with why saying what is wrong, e.g. "MESSAGE: empty".
 */
tr_err troupe_message_parse(const char *text, msgpack_sbuffer *sb, char *why,
                            size_t cap);

/*
 * A msgpack value as JSON: pids and refs as their text (<0.12.1>),
 * bin as a string, map keys that are not strings as "?", what JSON
 * cannot hold (another ext, a string that is not UTF-8, NaN) as null
 * or left out. NULL if out of memory (or the value itself is left out).
 */
json_t *troupe_message_to_json(const msgpack_object *o);

/* A reply's fields after its tag, as a JSON array (empty if m is not a
 * msgpack array, e.g. too deep for msgpack-c). Never NULL but out of
 * memory. */
json_t *troupe_message_fields(const tr_msg_t *m);

#endif
