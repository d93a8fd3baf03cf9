/*
 * runtime/mpack.c - see mpack.h.
 */
#include "runtime/mpack.h"

#include <string.h>

/* Big-endian unsigned of n bytes, n in 1, 2, 4, 8. */
static inline uint64_t be(const uint8_t *p, int n)
{
	switch (n) {
	case 1:
		return p[0];
	case 2:
		return (uint64_t)p[0] << 8 | p[1];
	case 4:
		return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
		       (uint64_t)p[2] << 8 | p[3];
	default: {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = (v << 8) | p[i];
		return v;
	}
	}
}

tr_err tr__mp_int(const uint8_t *p, size_t n, uint64_t *u, bool *neg)
{
	if (n < 1)
		return TR_EPROTO;
	uint8_t b = p[0];
	*neg = false;
	if (b <= 0x7f) {
		*u = b;
		return TR_OK;
	}
	if (b >= 0xe0) {
		*neg = true;
		*u = (uint64_t)(int64_t)(int8_t)b;
		return TR_OK;
	}
	if (b < 0xcc || b > 0xd3)
		return TR_ETYPE;
	int x = 1 << ((b - 0xcc) & 3); /* 1, 2, 4, 8 bytes */
	if (n < 1u + (size_t)x)
		return TR_EPROTO;
	uint64_t v = be(p + 1, x);
	if (b >= 0xd0) { /* signed: sign-extend from x bytes */
		int64_t i = x == 1   ? (int8_t)v
		            : x == 2 ? (int16_t)v
		            : x == 4 ? (int32_t)v
		                     : (int64_t)v;
		*neg = i < 0;
		v = (uint64_t)i;
	}
	*u = v;
	return TR_OK;
}

tr_err tr__mp_head(const uint8_t *p, size_t n, struct tr_mp_head *h)
{
	if (n < 1)
		return TR_EPROTO;
	uint8_t b = p[0];
	*h = (struct tr_mp_head){.type = TR_T_INT, .hlen = 1};
	if (b <= 0x7f) {
		h->u = b;
		return TR_OK;
	}
	if (b >= 0xe0) {
		h->neg = true;
		h->i = (int8_t)b;
		return TR_OK;
	}
	if (b < 0xc0) {
		switch (b >> 4) {
		case 0x8:
			h->type = TR_T_MAP;
			h->len = b & 0x0f;
			break;
		case 0x9:
			h->type = TR_T_ARRAY;
			h->len = b & 0x0f;
			break;
		default: /* 0xa0..0xbf */
			h->type = TR_T_STR;
			h->len = b & 0x1f;
			break;
		}
		return TR_OK;
	}
	/* Fixed-size extra header bytes for 0xc0..0xdf. */
	static const uint8_t extra[32] = {
	        0, 0xff, 0, 0, 1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8, /* c0-cf */
	        1, 2,    4, 8, 1, 1, 1, 1, 1, 1, 2, 4, 2, 4, 2, 4, /* d0-df */
	};
	uint8_t x = extra[b - 0xc0];
	if (x == 0xff)
		return TR_EPROTO; /* 0xc1 is never used */
	if (n < 1u + x)
		return TR_EPROTO;
	h->hlen = 1u + x;
	const uint8_t *q = p + 1;
	switch (b) {
	case 0xc0:
		h->type = TR_T_NIL;
		break;
	case 0xc2:
	case 0xc3:
		h->type = TR_T_BOOL;
		h->u = b == 0xc3;
		break;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		h->type = TR_T_BIN;
		h->len = be(q, x);
		break;
	case 0xc7:
	case 0xc8:
	case 0xc9:
		if (n < h->hlen + 1)
			return TR_EPROTO;
		h->type = TR_T_EXT;
		h->len = be(q, x);
		h->ext = (int8_t)q[x];
		h->hlen += 1;
		break;
	case 0xca: {
		uint32_t v = (uint32_t)be(q, 4);
		float f;
		memcpy(&f, &v, 4);
		h->type = TR_T_DOUBLE;
		h->d = f;
		break;
	}
	case 0xcb: {
		uint64_t v = be(q, 8);
		memcpy(&h->d, &v, 8);
		h->type = TR_T_DOUBLE;
		break;
	}
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		h->type = TR_T_INT;
		h->u = be(q, x);
		break;
	case 0xd0:
		h->type = TR_T_INT;
		h->i = (int8_t)q[0];
		h->neg = h->i < 0;
		h->u = (uint64_t)h->i;
		break;
	case 0xd1:
		h->type = TR_T_INT;
		h->i = (int16_t)be(q, 2);
		h->neg = h->i < 0;
		h->u = (uint64_t)h->i;
		break;
	case 0xd2:
		h->type = TR_T_INT;
		h->i = (int32_t)be(q, 4);
		h->neg = h->i < 0;
		h->u = (uint64_t)h->i;
		break;
	case 0xd3:
		h->type = TR_T_INT;
		h->i = (int64_t)be(q, 8);
		h->neg = h->i < 0;
		h->u = (uint64_t)h->i;
		break;
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		h->type = TR_T_EXT;
		h->ext = (int8_t)q[0];
		h->len = (size_t)1 << (b - 0xd4);
		break;
	case 0xd9:
	case 0xda:
	case 0xdb:
		h->type = TR_T_STR;
		h->len = be(q, x);
		break;
	case 0xdc:
	case 0xdd:
		h->type = TR_T_ARRAY;
		h->len = be(q, x);
		break;
	case 0xde:
	case 0xdf:
		h->type = TR_T_MAP;
		h->len = be(q, x);
		break;
	}
	if (h->type == TR_T_EXT && h->len == TR_ID_WIRE_SIZE) {
		if (h->ext == TR_EXT_PID)
			h->type = TR_T_PID;
		else if (h->ext == TR_EXT_REF)
			h->type = TR_T_REF;
	}
	return TR_OK;
}

static tr_err validate(const uint8_t *p, size_t n, unsigned depth, size_t *used)
{
	struct tr_mp_head h;
	tr_err e = tr__mp_head(p, n, &h);
	if (e)
		return e;
	size_t off = h.hlen;
	switch (h.type) {
	case TR_T_STR:
	case TR_T_BIN:
	case TR_T_EXT:
	case TR_T_PID:
	case TR_T_REF:
		if (h.len > n - off)
			return TR_EPROTO;
		*used = off + h.len;
		return TR_OK;
	case TR_T_ARRAY:
	case TR_T_MAP: {
		if (depth == 0)
			return TR_ELIMIT;
		/* Each element takes at least one byte: reject impossible
		 * counts before walking (or anyone allocating) them. */
		size_t elems = h.len;
		if (h.type == TR_T_MAP) {
			if (elems > (n - off) / 2)
				return TR_EPROTO;
			elems *= 2;
		}
		if (elems > n - off)
			return TR_EPROTO;
		for (size_t i = 0; i < elems; i++) {
			size_t u;
			e = validate(p + off, n - off, depth - 1, &u);
			if (e)
				return e;
			off += u;
		}
		*used = off;
		return TR_OK;
	}
	default:
		*used = off;
		return TR_OK;
	}
}

tr_err tr__mp_validate(const uint8_t *p, size_t n, unsigned max_depth,
                       size_t *used)
{
	return validate(p, n, max_depth, used);
}

size_t tr__mp_size(const uint8_t *p, size_t n)
{
	/* The bytes were validated when they entered a message: scalars and
	 * byte strings are sized from their head alone; only containers are
	 * walked. */
	struct tr_mp_head h;
	if (tr__mp_head(p, n, &h))
		return n;
	switch (h.type) {
	case TR_T_ARRAY:
	case TR_T_MAP: {
		size_t u = 0;
		if (validate(p, n, TR_MSG_MAX_DEPTH + 1, &u))
			return n;
		return u;
	}
	case TR_T_STR:
	case TR_T_BIN:
	case TR_T_EXT:
	case TR_T_PID:
	case TR_T_REF:
		return h.hlen + h.len <= n ? h.hlen + h.len : n;
	default:
		return h.hlen;
	}
}
