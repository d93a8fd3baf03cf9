/*
 * runtime/mpack.h - a validating, non-allocating msgpack reader.
 *
 * msgpack-c's unpacker trusts declared sizes (a 5-byte array32 header makes
 * it allocate count x 24 bytes) and limits nothing, so every byte string
 * that comes from outside a message builder goes through tr__mp_validate()
 * first: it walks one value without allocating, rejects truncation, the
 * reserved byte 0xc1, counts larger than the bytes left, and nesting deeper
 * than the limit. The reader functions then work on validated bytes only.
 * msgpack-c's packer is used for writing (runtime/msg.c).
 */
#ifndef TR_RUNTIME_MPACK_H
#define TR_RUNTIME_MPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/msg.h>

/* Head of one msgpack value. */
struct tr_mp_head {
	tr_type_t type;
	size_t hlen; /* bytes of the header */
	size_t len;  /* str/bin/ext: body bytes; array/map: element count */
	int8_t ext;  /* ext type */
	bool neg;    /* TR_T_INT: value is negative (read i) */
	uint64_t u;  /* TR_T_INT (non-negative), TR_T_BOOL */
	int64_t i;   /* TR_T_INT (negative) */
	double d;    /* TR_T_DOUBLE */
};

/* Parse the head of the value at p (n bytes available). TR_EPROTO if the
 * head is truncated or reserved. Does not check the body. */
tr_err tr__mp_head(const uint8_t *p, size_t n, struct tr_mp_head *h);

/* Read the integer at p (n bytes available), the fast path of
 * tr__mp_head() for TR_T_INT: *u is the value's bits (two's complement
 * when *neg). TR_ETYPE if it is not an integer, TR_EPROTO if truncated. */
tr_err tr__mp_int(const uint8_t *p, size_t n, uint64_t *u, bool *neg);

/* Validate exactly one value at p; *used = its size. TR_EPROTO or
 * TR_ELIMIT (depth). */
tr_err tr__mp_validate(const uint8_t *p, size_t n, unsigned max_depth,
                       size_t *used);

/* Size of the (already validated) value at p. */
size_t tr__mp_size(const uint8_t *p, size_t n);

#endif
