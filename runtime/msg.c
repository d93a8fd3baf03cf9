/*
 * runtime/msg.c - building and reading messages.
 *
 * Payload layout of a message built here: an array32 header (0xdd + 4-byte
 * count, patched as fields are added: valid msgpack, just not the shortest
 * form), then the tag string, then the fields. Values are packed with
 * msgpack-c's packer writing straight into the message's own buffer, so
 * the bytes that arrive at a receiver, local or remote, are the bytes the
 * sender packed. Messages made from outside bytes are validated by
 * runtime/mpack.c before anything is allocated for them.
 *
 * The header never moves: the payload starts in storage allocated with the
 * header (one allocation for a small message) and moves to a buffer of its
 * own only when the builder outgrows it.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/mpack.h"

#define HDR 5 /* array32 header */

/*
 * Message blocks. Small messages (header plus payload within
 * TR__MSG_BLOCK bytes: most of them) are recycled through a cache per
 * scheduler thread instead of going back to malloc. A producer and a
 * consumer on different threads would otherwise make every free a
 * cross-thread free; here the consumer's cache overflows in batches of
 * BATCH blocks into a node-wide list that producers refill from with one
 * lock per batch. Blocks are ordinary malloc blocks, so a block may be
 * freed with free() by any thread that has no cache.
 */
#define BATCH       1024
#define MAX_BATCHES 256 /* node-wide cap: beyond it, batches are freed */

static void *block_get(void)
{
	struct tr_sched *s = tr__tls_sched;
	if (s) {
		if (!s->nblocks) {
			struct tr_node *n = s->node;
			pthread_mutex_lock(&n->block_lock);
			if (n->nbatches) {
				void **b = n->block_batches;
				s->blocks = b[--n->nbatches];
				s->nblocks = BATCH;
			}
			pthread_mutex_unlock(&n->block_lock);
		}
		if (s->nblocks) {
			if (tr__alloc_fault())
				return NULL;
			void *b = s->blocks;
			s->blocks = *(void **)b;
			s->nblocks--;
			return b;
		}
	}
	if (tr__alloc_fault())
		return NULL;
	return aligned_alloc(64, TR__MSG_BLOCK); /* freed with free() too */
}

static void block_put(void *b)
{
	struct tr_sched *s = tr__tls_sched;
	if (!s) {
		tr__free(b);
		return;
	}
	*(void **)b = s->blocks;
	s->blocks = b;
	if (++s->nblocks < 2 * BATCH)
		return;
	/* Detach BATCH blocks and hand them to the node. */
	void *head = s->blocks, *p = head;
	for (unsigned i = 1; i < BATCH; i++)
		p = *(void **)p;
	s->blocks = *(void **)p;
	*(void **)p = NULL;
	s->nblocks -= BATCH;
	struct tr_node *n = s->node;
	bool kept = false;
	pthread_mutex_lock(&n->block_lock);
	if (n->nbatches < MAX_BATCHES) {
		if (!n->block_batches)
			n->block_batches =
			        tr__calloc(MAX_BATCHES, sizeof(void *));
		if (n->block_batches) {
			((void **)n->block_batches)[n->nbatches++] = head;
			kept = true;
		}
	}
	pthread_mutex_unlock(&n->block_lock);
	while (!kept && head) {
		void *next = *(void **)head;
		tr__free(head);
		head = next;
	}
}

void tr__msg_sched_flush(struct tr_sched *s)
{
	void *b = s->blocks;
	while (b) {
		void *next = *(void **)b;
		tr__free(b);
		b = next;
	}
	s->blocks = NULL;
	s->nblocks = 0;
}

void tr__msg_blocks_release(struct tr_node *n)
{
	void **v = n->block_batches;
	for (size_t i = 0; v && i < n->nbatches; i++) {
		void *b = v[i];
		while (b) {
			void *next = *(void **)b;
			tr__free(b);
			b = next;
		}
	}
	tr__free(v);
	n->block_batches = NULL;
	n->nbatches = 0;
}

tr_err tr__msg_alloc(uint8_t kind, size_t cap, tr_msg_t **out)
{
	if (cap > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	tr_msg_t *m;
	bool pooled = sizeof(*m) + cap <= TR__MSG_BLOCK;
	if (pooled) {
		m = block_get();
		cap = TR__MSG_BLOCK - sizeof(*m);
	} else {
		m = tr__malloc(sizeof(*m) + cap);
	}
	if (!m)
		return TR_ENOMEM;
	/* Field by field: a whole-struct clear compiles to `rep stos`, whose
	 * start-up alone costs more than these stores. */
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	m->kind = kind;
	m->flags = pooled ? TR__MSGF_POOLED : 0;
	m->tag_off = 0;
	m->len = 0;
	m->cap = (uint32_t)cap;
	m->count = 0;
	m->from = TR_PID_NONE;
	m->ref = (tr_ref_t){0};
	m->aux = 0;
	m->ahead = NULL;
	m->data = m->inl;
	*out = m;
	return TR_OK;
}

void tr_msg_free(tr_msg_t *msg)
{
	if (!msg)
		return;
	if (msg->data != msg->inl)
		tr__free(msg->data);
	if (msg->flags & TR__MSGF_POOLED)
		block_put(msg);
	else
		tr__free(msg);
}

static tr_err grow(tr_msg_t *m, size_t more)
{
	if (more > TR_MSG_MAX_BYTES || m->len + more > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	size_t cap = m->cap ? m->cap : 32;
	while (cap < m->len + more)
		cap *= 2;
	if (cap > TR_MSG_MAX_BYTES)
		cap = TR_MSG_MAX_BYTES;
	uint8_t *d = tr__malloc(cap);
	if (!d)
		return TR_ENOMEM;
	memcpy(d, m->data, m->len);
	if (m->data != m->inl)
		tr__free(m->data);
	m->data = d;
	m->cap = (uint32_t)cap;
	return TR_OK;
}

/* Room for `more` bytes past len (cap never exceeds TR_MSG_MAX_BYTES, so
 * fitting within it is within the limit). */
static inline tr_err reserve(tr_msg_t *m, size_t more)
{
	if (more <= m->cap - m->len)
		return TR_OK;
	return grow(m, more);
}

struct builder {
	tr_msg_t *m;
	tr_err err;
};

static int write_cb(void *data, const char *buf, size_t len)
{
	struct builder *b = data;
	if (b->err)
		return -1;
	tr_err e = reserve(b->m, len);
	if (e) {
		b->err = e;
		return -1;
	}
	memcpy(b->m->data + b->m->len, buf, len);
	b->m->len += (uint32_t)len;
	return 0;
}

static void patch_count(tr_msg_t *m)
{
	uint32_t c = m->count;
	m->data[1] = (uint8_t)(c >> 24);
	m->data[2] = (uint8_t)(c >> 16);
	m->data[3] = (uint8_t)(c >> 8);
	m->data[4] = (uint8_t)c;
}

/*
 * Direct encoders for the values every message has (its tag, integers):
 * the same bytes msgpack-c's packer writes (smallest form), without its
 * write callback per value, which cost a tenth of a local hop.
 */
static inline void put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static size_t enc_uint(uint8_t *b, uint64_t v)
{
	if (v < 128) {
		b[0] = (uint8_t)v;
		return 1;
	}
	if (v < 256) {
		b[0] = 0xcc;
		b[1] = (uint8_t)v;
		return 2;
	}
	if (v < 65536) {
		b[0] = 0xcd;
		b[1] = (uint8_t)(v >> 8);
		b[2] = (uint8_t)v;
		return 3;
	}
	if (v < (1ull << 32)) {
		b[0] = 0xce;
		put_be32(b + 1, (uint32_t)v);
		return 5;
	}
	b[0] = 0xcf;
	put_be32(b + 1, (uint32_t)(v >> 32));
	put_be32(b + 5, (uint32_t)v);
	return 9;
}

static size_t enc_int(uint8_t *b, int64_t v)
{
	if (v >= 0)
		return enc_uint(b, (uint64_t)v);
	if (v >= -32) {
		b[0] = (uint8_t)(int8_t)v;
		return 1;
	}
	int n = v >= -128 ? 1 : v >= -32768 ? 2 : v >= INT32_MIN ? 4 : 8;
	b[0] = n == 1 ? 0xd0 : n == 2 ? 0xd1 : n == 4 ? 0xd2 : 0xd3;
	uint64_t u = (uint64_t)v;
	for (int i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(u >> (8 * (n - 1 - i)));
	return 1 + (size_t)n;
}

static size_t enc_str_head(uint8_t *b, size_t len)
{
	if (len < 32) {
		b[0] = (uint8_t)(0xa0 | len);
		return 1;
	}
	if (len < 256) {
		b[0] = 0xd9;
		b[1] = (uint8_t)len;
		return 2;
	}
	if (len < 65536) {
		b[0] = 0xda;
		b[1] = (uint8_t)(len >> 8);
		b[2] = (uint8_t)len;
		return 3;
	}
	b[0] = 0xdb;
	for (int i = 0; i < 4; i++)
		b[1 + i] = (uint8_t)(len >> (8 * (3 - i)));
	return 5;
}

static tr_err new_tagged(uint8_t kind, const char *tag, size_t tl, size_t extra,
                         tr_msg_t **out)
{
	tr_msg_t *m;
	tr_err e = tr__msg_alloc(kind, HDR + 2 + tl + extra, &m);
	if (e)
		return e;
	static const uint8_t one[HDR] = {0xdd, 0, 0, 0, 1}; /* array32, 1 */
	memcpy(m->data, one, HDR);
	m->count = 1;
	m->tag_off = HDR;
	/* tl <= 255 (callers check): the buffer holds the header and tag */
	size_t h = enc_str_head(m->data + HDR, tl);
	memcpy(m->data + HDR + h, tag, tl);
	m->len = (uint32_t)(HDR + h + tl);
	*out = m;
	return TR_OK;
}

tr_err tr_msg_new(tr_msg_t **out, const char *tag)
{
	if (!out || !tag)
		return TR_EINVAL;
	size_t tl = strlen(tag);
	if (tl > 255)
		return TR_EINVAL;
	/* Room for fields: what is left of a pooled block when the tag fits
	 * one (fields that outgrow it move the payload to the heap), else 24
	 * bytes past the tag. Asking for more than a block holds would make
	 * every message a malloc. */
	size_t need = HDR + 2 + tl, room = TR__MSG_BLOCK - sizeof(tr_msg_t);
	return new_tagged(TR_MSG_PLAIN, tag, tl, need < room ? room - need : 24,
	                  out);
}

tr_err tr_msg_dup(const tr_msg_t *msg, tr_msg_t **out)
{
	if (!msg || !out)
		return TR_EINVAL;
	tr_msg_t *m = tr__malloc(sizeof(*m) + msg->len);
	if (!m)
		return TR_ENOMEM;
	memcpy(m, msg, sizeof(*m));
	m->data = m->inl;
	memcpy(m->data, msg->data, msg->len);
	m->cap = m->len;
	m->ahead = NULL;
	m->flags = 0; /* a plain malloc block, whatever the original was */
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	*out = m;
	return TR_OK;
}

tr_err tr__msg_from_valid(uint8_t kind, const void *bytes, size_t len,
                          uint32_t count, uint16_t tag_off, tr_msg_t **out)
{
	if (len > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	tr_msg_t *m;
	tr_err e = tr__msg_alloc(kind, len, &m);
	if (e)
		return e;
	if (len)
		memcpy(m->data, bytes, len);
	m->len = (uint32_t)len;
	m->count = count;
	m->tag_off = tag_off;
	*out = m;
	return TR_OK;
}

tr_err tr_msg_from_msgpack(tr_msg_t **out, const void *bytes, size_t len)
{
	if (!out || (!bytes && len))
		return TR_EINVAL;
	if (len > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	const uint8_t *p = bytes;
	struct tr_mp_head h, t;
	size_t used;
	if (tr__mp_head(p, len, &h) || h.type != TR_T_ARRAY || h.len < 1 ||
	    h.len > UINT32_MAX)
		return TR_EPROTO;
	if (tr__mp_head(p + h.hlen, len - h.hlen, &t) || t.type != TR_T_STR)
		return TR_EPROTO;
	tr_err e = tr__mp_validate(p, len, TR_MSG_MAX_DEPTH, &used);
	if (e || used != len)
		return TR_EPROTO; /* malformed, too deep, or trailing bytes */
	tr_msg_t *m;
	e = tr__msg_alloc(TR_MSG_PLAIN, len, &m);
	if (e)
		return e;
	memcpy(m->data, p, len);
	m->len = (uint32_t)len;
	m->count = (uint32_t)h.len;
	m->tag_off = (uint16_t)h.hlen;
	*out = m;
	return TR_OK;
}

/* Append one value with the msgpack-c packer; undo on failure. Only
 * builder-made messages (array32 header) can grow. */
#define PACK(msg, call)                                              \
	do {                                                         \
		if (!(msg) || ((msg)->flags & TR__MSGF_SENT) ||      \
		    (msg)->tag_off != HDR || (msg)->data[0] != 0xdd) \
			return TR_EINVAL;                            \
		uint32_t saved_ = (msg)->len;                        \
		struct builder b_ = {(msg), TR_OK};                  \
		msgpack_packer pk_;                                  \
		msgpack_packer_init(&pk_, &b_, write_cb);            \
		msgpack_packer *pk = &pk_;                           \
		call;                                                \
		if (b_.err) {                                        \
			(msg)->len = saved_;                         \
			return b_.err;                               \
		}                                                    \
		(msg)->count++;                                      \
		patch_count(msg);                                    \
		return TR_OK;                                        \
	} while (0)

/* Room for one more value of at most max bytes, written in place at the
 * returned pointer and committed with add_commit(); NULL with *e set if
 * the message cannot take it. */
static uint8_t *add_begin(tr_msg_t *msg, size_t max, tr_err *e)
{
	if (!msg || (msg->flags & TR__MSGF_SENT) || msg->tag_off != HDR ||
	    msg->data[0] != 0xdd) {
		*e = TR_EINVAL;
		return NULL;
	}
	*e = reserve(msg, max);
	return *e ? NULL : msg->data + msg->len;
}

static tr_err add_commit(tr_msg_t *msg, size_t n)
{
	msg->len += (uint32_t)n;
	msg->count++;
	patch_count(msg);
	return TR_OK;
}

/* Append n bytes already encoded (one whole value). */
static tr_err add_encoded(tr_msg_t *msg, const uint8_t *b, size_t n)
{
	tr_err e;
	uint8_t *w = add_begin(msg, n, &e);
	if (!w)
		return e;
	memcpy(w, b, n);
	return add_commit(msg, n);
}

tr_err tr_msg_add_int(tr_msg_t *msg, int64_t v)
{
	tr_err e;
	uint8_t *w = add_begin(msg, 9, &e);
	return w ? add_commit(msg, enc_int(w, v)) : e;
}

tr_err tr_msg_add_uint(tr_msg_t *msg, uint64_t v)
{
	tr_err e;
	uint8_t *w = add_begin(msg, 9, &e);
	return w ? add_commit(msg, enc_uint(w, v)) : e;
}

tr_err tr_msg_add_double(tr_msg_t *msg, double v)
{
	PACK(msg, msgpack_pack_double(pk, v));
}

tr_err tr_msg_add_bool(tr_msg_t *msg, bool v)
{
	PACK(msg, v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

tr_err tr_msg_add_nil(tr_msg_t *msg)
{
	PACK(msg, msgpack_pack_nil(pk));
}

tr_err tr_msg_add_strn(tr_msg_t *msg, const char *s, size_t len)
{
	if (!s && len)
		return TR_EINVAL;
	if (len > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	PACK(msg, msgpack_pack_str_with_body(pk, s, len));
}

tr_err tr_msg_add_str(tr_msg_t *msg, const char *s)
{
	if (!s)
		return TR_EINVAL;
	return tr_msg_add_strn(msg, s, strlen(s));
}

tr_err tr_msg_add_bin(tr_msg_t *msg, const void *p, size_t len)
{
	if (!p && len)
		return TR_EINVAL;
	if (len > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	PACK(msg, msgpack_pack_bin_with_body(pk, p, len));
}

static tr_err add_id(tr_msg_t *msg, int8_t type, uint64_t node, uint64_t id,
                     uint32_t creation)
{
	/* ext8: 0xc7, length, type, body (as msgpack-c writes it) */
	uint8_t b[3 + TR_ID_WIRE_SIZE];
	b[0] = 0xc7;
	b[1] = TR_ID_WIRE_SIZE;
	b[2] = (uint8_t)type;
	tr_id_encode(node, id, creation, b + 3);
	return add_encoded(msg, b, sizeof(b));
}

tr_err tr_msg_add_pid(tr_msg_t *msg, tr_pid_t pid)
{
	return add_id(msg, TR_EXT_PID, pid.node, pid.id, pid.creation);
}

tr_err tr_msg_add_ref(tr_msg_t *msg, tr_ref_t ref)
{
	return add_id(msg, TR_EXT_REF, ref.node, ref.id, ref.creation);
}

static int write_raw(msgpack_packer *pk, const void *p, size_t len)
{
	return pk->callback(pk->data, p, len);
}

tr_err tr_msg_add_raw(tr_msg_t *msg, const void *packed, size_t len)
{
	size_t used;
	if (!packed || !len)
		return TR_EINVAL;
	if (len > TR_MSG_MAX_BYTES)
		return TR_ELIMIT;
	if (tr__mp_validate(packed, len, TR_MSG_MAX_DEPTH - 1, &used) ||
	    used != len)
		return TR_EPROTO;
	PACK(msg, write_raw(pk, packed, len));
}

/* ---- reading ----------------------------------------------------------- */

tr_msg_kind_t tr_msg_kind(const tr_msg_t *msg)
{
	return msg ? (tr_msg_kind_t)msg->kind : TR_MSG_PLAIN;
}

tr_pid_t tr_msg_sender(const tr_msg_t *msg)
{
	return msg ? msg->from : TR_PID_NONE;
}

const void *tr_msg_bytes(const tr_msg_t *msg, size_t *len)
{
	if (!msg) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = msg->len;
	return msg->data;
}

const char *tr_msg_tag(const tr_msg_t *msg, size_t *len)
{
	struct tr_mp_head h;
	if (msg && msg->len > msg->tag_off &&
	    (msg->data[msg->tag_off] & 0xe0) == 0xa0) { /* fixstr: most tags */
		if (len)
			*len = msg->data[msg->tag_off] & 0x1f;
		return (const char *)msg->data + msg->tag_off + 1;
	}
	if (!msg || !msg->len ||
	    tr__mp_head(msg->data + msg->tag_off, msg->len - msg->tag_off,
	                &h) ||
	    h.type != TR_T_STR) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = h.len;
	return (const char *)msg->data + msg->tag_off + h.hlen;
}

bool tr_msg_is(const tr_msg_t *msg, const char *tag)
{
	size_t n;
	const char *t = tr_msg_tag(msg, &n);
	return tag && strlen(tag) == n && memcmp(t, tag, n) == 0;
}

size_t tr_msg_count(const tr_msg_t *msg)
{
	return msg && msg->count ? msg->count - 1 : 0;
}

/* Locate field idx: its offset. */
static tr_err field_off(const tr_msg_t *msg, size_t idx, size_t *off)
{
	if (!msg || !msg->len || idx + 1 >= msg->count)
		return msg ? TR_ERANGE : TR_EINVAL;
	size_t o = msg->tag_off, i = 0;
	if (o < msg->len && (msg->data[o] & 0xe0) == 0xa0) { /* fixstr tag */
		o += 1 + (msg->data[o] & 0x1f);
		i = 1;
	}
	for (; i <= idx; i++)
		o += tr__mp_size(msg->data + o, msg->len - o);
	if (o >= msg->len)
		return TR_ERANGE;
	*off = o;
	return TR_OK;
}

/* Locate field idx: its offset and head. */
static tr_err field(const tr_msg_t *msg, size_t idx, size_t *off,
                    struct tr_mp_head *h)
{
	tr_err e = field_off(msg, idx, off);
	if (e)
		return e;
	return tr__mp_head(msg->data + *off, msg->len - *off, h) ? TR_ERANGE
	                                                         : TR_OK;
}

/* An integer field's bits and sign. */
static tr_err int_field(const tr_msg_t *msg, size_t idx, uint64_t *u, bool *neg)
{
	size_t o;
	tr_err e = field_off(msg, idx, &o);
	if (e)
		return e;
	e = tr__mp_int(msg->data + o, msg->len - o, u, neg);
	return e == TR_EPROTO ? TR_ERANGE : e;
}

tr_err tr_msg_type(const tr_msg_t *msg, size_t idx, tr_type_t *out)
{
	size_t o;
	struct tr_mp_head h;
	tr_err e = field(msg, idx, &o, &h);
	if (e)
		return e;
	if (out)
		*out = h.type;
	return TR_OK;
}

tr_err tr_msg_get_int(const tr_msg_t *msg, size_t idx, int64_t *out)
{
	uint64_t u;
	bool neg;
	tr_err e = int_field(msg, idx, &u, &neg);
	if (e)
		return e;
	if (!neg && u > INT64_MAX)
		return TR_ETYPE;
	if (out)
		*out = (int64_t)u;
	return TR_OK;
}

tr_err tr_msg_get_uint(const tr_msg_t *msg, size_t idx, uint64_t *out)
{
	uint64_t u;
	bool neg;
	tr_err e = int_field(msg, idx, &u, &neg);
	if (e)
		return e;
	if (neg)
		return TR_ETYPE;
	if (out)
		*out = u;
	return TR_OK;
}

tr_err tr_msg_get_double(const tr_msg_t *msg, size_t idx, double *out)
{
	size_t o;
	struct tr_mp_head h;
	tr_err e = field(msg, idx, &o, &h);
	if (e)
		return e;
	if (h.type == TR_T_DOUBLE) {
		if (out)
			*out = h.d;
	} else if (h.type == TR_T_INT) {
		if (out)
			*out = h.neg ? (double)h.i : (double)h.u;
	} else {
		return TR_ETYPE;
	}
	return TR_OK;
}

tr_err tr_msg_get_bool(const tr_msg_t *msg, size_t idx, bool *out)
{
	size_t o;
	struct tr_mp_head h;
	tr_err e = field(msg, idx, &o, &h);
	if (e)
		return e;
	if (h.type != TR_T_BOOL)
		return TR_ETYPE;
	if (out)
		*out = h.u != 0;
	return TR_OK;
}

static tr_err get_body(const tr_msg_t *msg, size_t idx, tr_type_t want,
                       const uint8_t **p, size_t *len)
{
	size_t o;
	struct tr_mp_head h;
	tr_err e = field(msg, idx, &o, &h);
	if (e)
		return e;
	if (h.type != want)
		return TR_ETYPE;
	*p = msg->data + o + h.hlen;
	*len = h.len;
	return TR_OK;
}

tr_err tr_msg_get_str(const tr_msg_t *msg, size_t idx, const char **s,
                      size_t *len)
{
	const uint8_t *p;
	size_t n;
	tr_err e = get_body(msg, idx, TR_T_STR, &p, &n);
	if (e)
		return e;
	if (s)
		*s = (const char *)p;
	if (len)
		*len = n;
	return TR_OK;
}

tr_err tr_msg_get_strbuf(const tr_msg_t *msg, size_t idx, char *buf, size_t cap)
{
	const char *s;
	size_t n;
	if (!buf || !cap)
		return TR_EINVAL;
	tr_err e = tr_msg_get_str(msg, idx, &s, &n);
	if (e)
		return e;
	size_t c = n < cap ? n : cap - 1;
	memcpy(buf, s, c);
	buf[c] = 0;
	return n < cap ? TR_OK : TR_ELIMIT;
}

tr_err tr_msg_get_bin(const tr_msg_t *msg, size_t idx, const void **p,
                      size_t *len)
{
	const uint8_t *b;
	size_t n;
	tr_err e = get_body(msg, idx, TR_T_BIN, &b, &n);
	if (e)
		return e;
	if (p)
		*p = b;
	if (len)
		*len = n;
	return TR_OK;
}

tr_err tr_msg_get_pid(const tr_msg_t *msg, size_t idx, tr_pid_t *out)
{
	const uint8_t *b;
	size_t n;
	tr_err e = get_body(msg, idx, TR_T_PID, &b, &n);
	if (e)
		return e;
	if (out)
		tr_id_decode(b, &out->node, &out->id, &out->creation);
	return TR_OK;
}

tr_err tr_msg_get_ref(const tr_msg_t *msg, size_t idx, tr_ref_t *out)
{
	const uint8_t *b;
	size_t n;
	tr_err e = get_body(msg, idx, TR_T_REF, &b, &n);
	if (e)
		return e;
	if (out)
		tr_id_decode(b, &out->node, &out->id, &out->creation);
	return TR_OK;
}

tr_err tr_msg_get_raw(const tr_msg_t *msg, size_t idx, const void **packed,
                      size_t *len)
{
	size_t o;
	struct tr_mp_head h;
	tr_err e = field(msg, idx, &o, &h);
	if (e)
		return e;
	if (packed)
		*packed = msg->data + o;
	if (len)
		*len = tr__mp_size(msg->data + o, msg->len - o);
	return TR_OK;
}

tr_err tr_msg_keep(tr_msg_t *msg)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a || !msg || a->current != msg)
		return TR_ESTATE;
	a->current = NULL; /* the runtime will not free it */
	msg->flags &= (uint8_t)~TR__MSGF_SENT; /* the keeper may send it on */
	return TR_OK;
}

/* ---- runtime notices --------------------------------------------------- */

tr_err tr__msg_exit(uint8_t kind, tr_pid_t from, const char *reason,
                    tr_msg_t **out)
{
	size_t rl = strnlen(reason, TR_REASON_MAX - 1);
	tr_msg_t *m;
	tr_err e = new_tagged(kind, "EXIT", 4, 2 + 22 + 3 + rl, &m);
	if (!e)
		e = tr_msg_add_pid(m, from);
	if (!e)
		e = tr_msg_add_strn(m, reason, rl);
	if (e) {
		tr_msg_free(m);
		return e;
	}
	m->from = from;
	*out = m;
	return TR_OK;
}

tr_err tr__msg_down(uint8_t kind, tr_ref_t ref, tr_pid_t pid,
                    const char *reason, tr_msg_t **out)
{
	size_t rl = strnlen(reason, TR_REASON_MAX - 1);
	tr_msg_t *m;
	tr_err e = new_tagged(kind, "DOWN", 4, 2 * 22 + 3 + rl, &m);
	if (!e)
		e = tr_msg_add_ref(m, ref);
	if (!e)
		e = tr_msg_add_pid(m, pid);
	if (!e)
		e = tr_msg_add_strn(m, reason, rl);
	if (e) {
		tr_msg_free(m);
		return e;
	}
	m->from = pid;
	m->ref = ref;
	*out = m;
	return TR_OK;
}

void tr__msg_reason(const tr_msg_t *m, char *buf, size_t cap)
{
	size_t idx = tr_msg_is(m, "DOWN") ? 2 : 1;
	if (tr_msg_get_strbuf(m, idx, buf, cap) == TR_EINVAL ||
	    tr_msg_get_str(m, idx, NULL, NULL) != TR_OK)
		snprintf(buf, cap, "%s", "");
}

tr_err tr_msg_exit_info(const tr_msg_t *msg, tr_pid_t *from, char *reason,
                        size_t cap)
{
	if (!msg || msg->kind != TR_MSG_EXIT || !tr_msg_is(msg, "EXIT"))
		return TR_ETYPE;
	if (from && tr_msg_get_pid(msg, 0, from))
		return TR_EPROTO;
	if (reason && cap)
		tr__msg_reason(msg, reason, cap);
	return TR_OK;
}

tr_err tr_msg_down_info(const tr_msg_t *msg, tr_ref_t *ref, tr_pid_t *pid,
                        char *reason, size_t cap)
{
	if (!msg || msg->kind != TR_MSG_DOWN || !tr_msg_is(msg, "DOWN"))
		return TR_ETYPE;
	if (ref && tr_msg_get_ref(msg, 0, ref))
		return TR_EPROTO;
	if (pid && tr_msg_get_pid(msg, 1, pid))
		return TR_EPROTO;
	if (reason && cap)
		tr__msg_reason(msg, reason, cap);
	return TR_OK;
}
