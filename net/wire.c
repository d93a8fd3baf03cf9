/*
 * net/wire.c - frame writer and decoder (see wire.h, docs/protocol.md).
 */
#include "net/wire.h"

#include <sodium.h>

#include <stdlib.h>
#include <string.h>

#include "runtime/mpack.h"

bool tr__wire_env_kind_ok(unsigned k)
{
	switch (k) {
	case TR_WE_SEND:
	case TR_WE_CALL:
	case TR_WE_CAST:
	case TR_WE_REPLY:
	case TR_WE_LINK:
	case TR_WE_UNLINK:
	case TR_WE_UNLINK_ACK:
	case TR_WE_EXIT:
	case TR_WE_MONITOR:
	case TR_WE_DEMONITOR:
	case TR_WE_DOWN:
		return true;
	default:
		return false;
	}
}

bool tr__wire_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > TR_WIRE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '@' || c == '-'))
			return false;
	}
	return true;
}

/* ---- writer ------------------------------------------------------------ */

void tr__wb_free(struct tr_wbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

bool tr__wb_reserve(struct tr_wbuf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more <= b->cap)
		return true;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + more)
		nc *= 2;
	uint8_t *np = realloc(b->p, nc);
	if (!np) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = nc;
	return true;
}

void tr__wb_raw(struct tr_wbuf *b, const void *p, size_t n)
{
	if (n && tr__wb_reserve(b, n)) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
}

static void put_be(struct tr_wbuf *b, uint8_t head, uint64_t v, int bytes)
{
	if (!tr__wb_reserve(b, 1 + (size_t)bytes))
		return;
	uint8_t *q = b->p + b->len;
	*q++ = head;
	for (int i = bytes - 1; i >= 0; i--)
		*q++ = (uint8_t)(v >> (8 * i));
	b->len += 1 + (size_t)bytes;
}

void tr__wb_array(struct tr_wbuf *b, uint32_t n)
{
	if (n < 16)
		put_be(b, (uint8_t)(0x90 | n), 0, 0);
	else if (n < 65536)
		put_be(b, 0xdc, n, 2);
	else
		put_be(b, 0xdd, n, 4);
}

void tr__wb_uint(struct tr_wbuf *b, uint64_t v)
{
	if (v < 128)
		put_be(b, (uint8_t)v, 0, 0);
	else if (v < 256)
		put_be(b, 0xcc, v, 1);
	else if (v < 65536)
		put_be(b, 0xcd, v, 2);
	else if (v <= UINT32_MAX)
		put_be(b, 0xce, v, 4);
	else
		put_be(b, 0xcf, v, 8);
}

void tr__wb_str(struct tr_wbuf *b, const char *s, size_t n)
{
	if (n < 32)
		put_be(b, (uint8_t)(0xa0 | n), 0, 0);
	else if (n < 256)
		put_be(b, 0xd9, n, 1);
	else if (n < 65536)
		put_be(b, 0xda, n, 2);
	else
		put_be(b, 0xdb, n, 4);
	tr__wb_raw(b, s, n);
}

void tr__wb_bin(struct tr_wbuf *b, const void *p, size_t n)
{
	if (n < 256)
		put_be(b, 0xc4, n, 1);
	else if (n < 65536)
		put_be(b, 0xc5, n, 2);
	else
		put_be(b, 0xc6, n, 4);
	tr__wb_raw(b, p, n);
}

void tr__wb_nil(struct tr_wbuf *b)
{
	put_be(b, 0xc0, 0, 0);
}

void tr__wb_id(struct tr_wbuf *b, int8_t type, uint64_t node, uint64_t id,
               uint32_t creation)
{
	if (!tr__wb_reserve(b, 3 + TR_ID_WIRE_SIZE))
		return;
	uint8_t *q = b->p + b->len;
	q[0] = 0xc7;
	q[1] = TR_ID_WIRE_SIZE;
	q[2] = (uint8_t)type;
	tr_id_encode(node, id, creation, q + 3);
	b->len += 3 + TR_ID_WIRE_SIZE;
}

/* ---- reader ------------------------------------------------------------- */

static bool head(struct tr_wcur *c, struct tr_mp_head *h)
{
	return tr__mp_head(c->p, c->n, h) == TR_OK && h->hlen <= c->n;
}

static void adv(struct tr_wcur *c, size_t k)
{
	c->p += k;
	c->n -= k;
}

bool tr__wr_array(struct tr_wcur *c, size_t *n)
{
	struct tr_mp_head h;
	if (!head(c, &h) || h.type != TR_T_ARRAY)
		return false;
	adv(c, h.hlen);
	*n = h.len;
	return true;
}

bool tr__wr_uint(struct tr_wcur *c, uint64_t *v)
{
	struct tr_mp_head h;
	if (!head(c, &h) || h.type != TR_T_INT || h.neg)
		return false;
	adv(c, h.hlen);
	*v = h.u;
	return true;
}

static bool body(struct tr_wcur *c, tr_type_t t, const uint8_t **p, size_t *n)
{
	struct tr_mp_head h;
	if (!head(c, &h) || h.type != t || h.len > c->n - h.hlen)
		return false;
	*p = c->p + h.hlen;
	*n = h.len;
	adv(c, h.hlen + h.len);
	return true;
}

bool tr__wr_str(struct tr_wcur *c, const char **s, size_t *n)
{
	const uint8_t *p;
	if (!body(c, TR_T_STR, &p, n))
		return false;
	*s = (const char *)p;
	return true;
}

bool tr__wr_bin(struct tr_wcur *c, const uint8_t **p, size_t *n)
{
	return body(c, TR_T_BIN, p, n);
}

static bool rd_id(struct tr_wcur *c, int8_t type, uint64_t *node, uint64_t *id,
                  uint32_t *creation)
{
	struct tr_mp_head h;
	tr_type_t want = type == TR_EXT_PID ? TR_T_PID : TR_T_REF;
	if (!head(c, &h) || h.type != want || h.ext != type ||
	    h.len != TR_ID_WIRE_SIZE || h.len > c->n - h.hlen)
		return false;
	tr_id_decode(c->p + h.hlen, node, id, creation);
	adv(c, h.hlen + h.len);
	return true;
}

bool tr__wr_pid(struct tr_wcur *c, tr_pid_t *out)
{
	return rd_id(c, TR_EXT_PID, &out->node, &out->id, &out->creation);
}

bool tr__wr_nil(struct tr_wcur *c)
{
	if (c->n && c->p[0] == 0xc0) {
		adv(c, 1);
		return true;
	}
	return false;
}

bool tr__wr_ref_or_nil(struct tr_wcur *c, tr_ref_t *out)
{
	if (tr__wr_nil(c)) {
		*out = TR_REF_NONE;
		return true;
	}
	return rd_id(c, TR_EXT_REF, &out->node, &out->id, &out->creation);
}

bool tr__wr_skip(struct tr_wcur *c)
{
	size_t used;
	if (tr__mp_validate(c->p, c->n, TR_WIRE_DEPTH, &used) != TR_OK)
		return false;
	adv(c, used);
	return true;
}

static bool rd_cstr(struct tr_wcur *c, char *out, size_t max)
{
	const char *s;
	size_t n;
	if (!tr__wr_str(c, &s, &n) || n > max || memchr(s, 0, n))
		return false;
	memcpy(out, s, n);
	out[n] = 0;
	return true;
}

static bool rd_fixed_bin(struct tr_wcur *c, uint8_t *out, size_t want)
{
	const uint8_t *p;
	size_t n;
	if (!tr__wr_bin(c, &p, &n) || n != want)
		return false;
	memcpy(out, p, n);
	return true;
}

/* HELLO: [1, version, name, creation, flags, endpoint, nonce, kernel]
 * CHALLENGE: the same plus proof. */
static tr_err rd_hello(struct tr_wcur *c, size_t n, unsigned kind,
                       struct tr_whello *h)
{
	uint64_t v;
	size_t want = kind == TR_W_HELLO ? 7 : 8; /* after the kind */
	if (n != want)
		return TR_EPROTO;
	h->kind = kind;
	if (!tr__wr_uint(c, &h->version))
		return TR_EPROTO;
	if (h->version != TR_WIRE_VERSION)
		return TR_EVERSION;
	if (!rd_cstr(c, h->name, TR_WIRE_NAME_MAX) ||
	    !tr__wire_name_ok(h->name, strlen(h->name)))
		return TR_EPROTO;
	if (!tr__wr_uint(c, &v) || v == 0 || v > UINT32_MAX)
		return TR_EPROTO;
	h->creation = (uint32_t)v;
	if (!tr__wr_uint(c, &h->flags) || h->flags > 0xff)
		return TR_EPROTO;
	if (!rd_cstr(c, h->endpoint, TR_WIRE_EP_MAX))
		return TR_EPROTO;
	if (!rd_fixed_bin(c, h->nonce, TR_WIRE_NONCE))
		return TR_EPROTO;
	if (!tr__wr_pid(c, &h->kernel))
		return TR_EPROTO;
	if (kind == TR_W_CHALLENGE) {
		if (!rd_fixed_bin(c, h->proof, TR_WIRE_PROOF))
			return TR_EPROTO;
		h->has_proof = true;
	}
	return TR_OK;
}

tr_err tr__wire_decode(const uint8_t *p, size_t n, struct tr_wframe *f)
{
	size_t used;
	tr_err e = tr__mp_validate(p, n, TR_WIRE_DEPTH, &used);
	if (e)
		return e;
	if (used != n)
		return TR_EPROTO; /* trailing bytes */
	memset(f, 0, sizeof(*f));
	struct tr_wcur c = {p, n};
	size_t cnt;
	uint64_t kind;
	if (!tr__wr_array(&c, &cnt) || cnt < 1 || !tr__wr_uint(&c, &kind))
		return TR_EPROTO;
	f->kind = (unsigned)kind;
	switch (kind) {
	case TR_W_HELLO:
	case TR_W_CHALLENGE:
		return rd_hello(&c, cnt - 1, f->kind, &f->hello);
	case TR_W_AUTH:
		if (cnt != 2 || !rd_fixed_bin(&c, f->proof, TR_WIRE_PROOF))
			return TR_EPROTO;
		f->has_proof = true;
		return TR_OK;
	case TR_W_WELCOME:
	case TR_W_LEAVE_ACK:
		return cnt == 1 ? TR_OK : TR_EPROTO;
	case TR_W_REFUSE:
		if (cnt != 2 || !rd_cstr(&c, f->reason, TR_WIRE_REASON_MAX))
			return TR_EPROTO;
		return TR_OK;
	case TR_W_HEARTBEAT:
	case TR_W_LEAVE:
		if (cnt != 2 || !tr__wr_uint(&c, &f->seq))
			return TR_EPROTO;
		return TR_OK;
	case TR_W_DATA:
		if (cnt != 3 || !tr__wr_uint(&c, &f->seq) || f->seq == 0 ||
		    !tr__wr_array(&c, &f->count) || f->count == 0)
			return TR_EPROTO;
		f->body = c;
		return TR_OK;
	case TR_W_NODES:
		if (cnt != 2 || !tr__wr_array(&c, &f->count) ||
		    f->count > TR_WIRE_NODES_MAX)
			return TR_EPROTO;
		f->body = c;
		return TR_OK;
	case TR_W_BUSY: {
		uint64_t on;
		if (cnt != 3 || !tr__wr_pid(&c, &f->busy_pid) ||
		    !tr__wr_uint(&c, &on) || on > 1)
			return TR_EPROTO;
		f->busy_on = on;
		return TR_OK;
	}
	default:
		return TR_EPROTO; /* unknown kind */
	}
}

/* [kind, flags, to (pid | name), from, ref | nil, aux, payload | nil] */
tr_err tr__wire_next_env(struct tr_wcur *c, struct tr_wenv *e)
{
	size_t cnt;
	uint64_t v;
	memset(e, 0, sizeof(*e));
	if (!tr__wr_array(c, &cnt) || cnt != 7)
		return TR_EPROTO;
	if (!tr__wr_uint(c, &v) || !tr__wire_env_kind_ok((unsigned)v) ||
	    v > 255)
		return TR_EPROTO;
	e->kind = (unsigned)v;
	if (!tr__wr_uint(c, &v) || v > TR_WEF_LINKED)
		return TR_EPROTO;
	e->flags = (unsigned)v;
	struct tr_mp_head th;
	if (tr__mp_head(c->p, c->n, &th))
		return TR_EPROTO;
	e->named = th.type == TR_T_STR;
	if (e->named) {
		if (!tr__wr_str(c, &e->to_name, &e->to_name_len) ||
		    e->to_name_len == 0 || e->to_name_len > 255 ||
		    memchr(e->to_name, 0, e->to_name_len))
			return TR_EPROTO;
	} else if (!tr__wr_pid(c, &e->to)) {
		return TR_EPROTO;
	}
	if (!tr__wr_pid(c, &e->from) || !tr__wr_ref_or_nil(c, &e->ref) ||
	    !tr__wr_uint(c, &e->aux))
		return TR_EPROTO;
	if (tr__wr_nil(c))
		return TR_OK;
	/* payload: an array whose first element is the tag string */
	struct tr_mp_head h, t;
	if (tr__mp_head(c->p, c->n, &h) || h.type != TR_T_ARRAY || h.len < 1 ||
	    h.len > UINT32_MAX || h.hlen >= c->n)
		return TR_EPROTO;
	if (tr__mp_head(c->p + h.hlen, c->n - h.hlen, &t) || t.type != TR_T_STR)
		return TR_EPROTO;
	const uint8_t *start = c->p;
	size_t before = c->n;
	if (!tr__wr_skip(c))
		return TR_EPROTO;
	e->payload = start;
	e->payload_len = before - c->n;
	e->payload_count = (uint32_t)h.len;
	e->tag_off = (uint16_t)h.hlen;
	return TR_OK;
}

/* [name, endpoint, creation] */
tr_err tr__wire_next_node(struct tr_wcur *c, struct tr_wnode *nd)
{
	size_t cnt;
	uint64_t v;
	if (!tr__wr_array(c, &cnt) || cnt != 3 ||
	    !rd_cstr(c, nd->name, TR_WIRE_NAME_MAX) ||
	    !tr__wire_name_ok(nd->name, strlen(nd->name)) ||
	    !rd_cstr(c, nd->endpoint, TR_WIRE_EP_MAX) || !tr__wr_uint(c, &v) ||
	    v == 0 || v > UINT32_MAX)
		return TR_EPROTO;
	nd->creation = (uint32_t)v;
	return TR_OK;
}

void tr__wire_proof(const uint8_t *secret, size_t secret_len, const char *label,
                    const uint8_t *n_conn, const uint8_t *n_acc,
                    const char *name_conn, const char *name_acc,
                    uint32_t cr_conn, uint32_t cr_acc,
                    uint8_t out[TR_WIRE_PROOF])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label,
	                              strlen(label) + 1);
	crypto_auth_hmacsha256_update(&st, n_conn, TR_WIRE_NONCE);
	crypto_auth_hmacsha256_update(&st, n_acc, TR_WIRE_NONCE);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)name_conn,
	                              strlen(name_conn) + 1);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)name_acc,
	                              strlen(name_acc) + 1);
	uint8_t cr[8] = {(uint8_t)(cr_conn >> 24), (uint8_t)(cr_conn >> 16),
	                 (uint8_t)(cr_conn >> 8),  (uint8_t)cr_conn,
	                 (uint8_t)(cr_acc >> 24),  (uint8_t)(cr_acc >> 16),
	                 (uint8_t)(cr_acc >> 8),   (uint8_t)cr_acc};
	crypto_auth_hmacsha256_update(&st, cr, sizeof(cr));
	crypto_auth_hmacsha256_final(&st, out);
}
