/*
 * net/wire.h - the frame format of node-to-node traffic (docs/protocol.md
 * is the normative description): a writer for the frames this node sends
 * and a decoder for the frames it receives.
 *
 * The decoder never calls msgpack-c's unpacker and never allocates: a
 * frame is first walked whole by tr__mp_validate() (truncation, reserved
 * bytes, counts larger than the bytes left, depth), then read field by
 * field with type, size and range checks. Anything else is TR_EPROTO and
 * the caller drops the frame. It is the fuzzing surface (tests/fuzz/).
 */
#ifndef TR_NET_WIRE_H
#define TR_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/pid.h>

#define TR_WIRE_VERSION    1
#define TR_WIRE_NONCE      16 /* bytes of a handshake nonce */
#define TR_WIRE_PROOF      32 /* bytes of an HMAC-SHA256 proof */
#define TR_WIRE_DEPTH      40 /* frame nesting limit (envelope + payload) */
#define TR_WIRE_NAME_MAX   200
#define TR_WIRE_EP_MAX     255
#define TR_WIRE_REASON_MAX 255
#define TR_WIRE_NODES_MAX  1024 /* entries of one NODES frame */

/* Frame kinds (first element of every frame). */
enum tr_wire_kind {
	TR_W_HELLO = 1,
	TR_W_CHALLENGE = 2,
	TR_W_AUTH = 3,
	TR_W_WELCOME = 4,
	TR_W_REFUSE = 5,
	TR_W_HEARTBEAT = 6,
	TR_W_DATA = 7,
	TR_W_LEAVE = 8,
	TR_W_NODES = 9,
	TR_W_LEAVE_ACK = 10,
	TR_W_BUSY = 11,
};

/* HELLO flags */
#define TR_WF_HIDDEN   0x01 /* do not gossip me, do not count me up */
#define TR_WF_NOLISTEN 0x02 /* answer me over this connection */

/* Envelope kinds on the wire (a fixed subset of the runtime's). */
enum tr_wire_env_kind {
	TR_WE_SEND = 0,
	TR_WE_CALL = 1,
	TR_WE_CAST = 2,
	TR_WE_REPLY = 6,
	TR_WE_LINK = 16,
	TR_WE_UNLINK = 17,
	TR_WE_UNLINK_ACK = 18,
	TR_WE_EXIT = 19,
	TR_WE_MONITOR = 20,
	TR_WE_DEMONITOR = 21,
	TR_WE_DOWN = 22,
};
#define TR_WEF_LINKED 0x01 /* EXIT caused by a link */

bool tr__wire_env_kind_ok(unsigned kind);

/* ---- writer ------------------------------------------------------------ */

struct tr_wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

void tr__wb_free(struct tr_wbuf *b);
bool tr__wb_reserve(struct tr_wbuf *b, size_t more);
void tr__wb_raw(struct tr_wbuf *b, const void *p, size_t n);
void tr__wb_array(struct tr_wbuf *b, uint32_t n);
void tr__wb_uint(struct tr_wbuf *b, uint64_t v);
void tr__wb_str(struct tr_wbuf *b, const char *s, size_t n);
void tr__wb_bin(struct tr_wbuf *b, const void *p, size_t n);
void tr__wb_nil(struct tr_wbuf *b);
void tr__wb_id(struct tr_wbuf *b, int8_t type, uint64_t node, uint64_t id,
               uint32_t creation);
static inline void tr__wb_pid(struct tr_wbuf *b, tr_pid_t p)
{
	tr__wb_id(b, TR_EXT_PID, p.node, p.id, p.creation);
}
static inline void tr__wb_ref(struct tr_wbuf *b, tr_ref_t r)
{
	tr__wb_id(b, TR_EXT_REF, r.node, r.id, r.creation);
}

/* ---- decoder ------------------------------------------------------------ */

struct tr_wcur {
	const uint8_t *p;
	size_t n;
};

bool tr__wr_array(struct tr_wcur *c, size_t *n);
bool tr__wr_uint(struct tr_wcur *c, uint64_t *v);
bool tr__wr_str(struct tr_wcur *c, const char **s, size_t *n);
bool tr__wr_bin(struct tr_wcur *c, const uint8_t **p, size_t *n);
bool tr__wr_pid(struct tr_wcur *c, tr_pid_t *out);
bool tr__wr_ref_or_nil(struct tr_wcur *c, tr_ref_t *out);
bool tr__wr_nil(struct tr_wcur *c); /* consumes a nil if there is one */
bool tr__wr_skip(struct tr_wcur *c);

/* Handshake frames (HELLO and CHALLENGE share their fields). */
struct tr_whello {
	unsigned kind;
	uint64_t version;
	char name[TR_WIRE_NAME_MAX + 1];
	uint32_t creation;
	uint64_t flags;
	char endpoint[TR_WIRE_EP_MAX + 1];
	uint8_t nonce[TR_WIRE_NONCE];
	tr_pid_t kernel;
	uint8_t proof[TR_WIRE_PROOF]; /* CHALLENGE only */
	bool has_proof;
};

struct tr_wnode {
	char name[TR_WIRE_NAME_MAX + 1];
	char endpoint[TR_WIRE_EP_MAX + 1];
	uint32_t creation;
};

struct tr_wframe {
	unsigned kind;
	/* HELLO, CHALLENGE */
	struct tr_whello hello;
	/* AUTH */
	uint8_t proof[TR_WIRE_PROOF];
	bool has_proof;
	/* REFUSE */
	char reason[TR_WIRE_REASON_MAX + 1];
	/* HEARTBEAT (last DATA seq sent), DATA (this frame's seq), LEAVE */
	uint64_t seq;
	/* DATA: the envelope array's elements; NODES: the entries */
	struct tr_wcur body;
	size_t count;
	/* BUSY: an actor of the sender, and whether its mailbox is over
	 * the high mark (1) or back under the low one (0) */
	tr_pid_t busy_pid;
	bool busy_on;
};

struct tr_wenv {
	unsigned kind;
	unsigned flags;
	bool named;          /* `to` is a registered name */
	tr_pid_t to;         /* when !named */
	const char *to_name; /* when named (not NUL-terminated) */
	size_t to_name_len;
	tr_pid_t from;
	tr_ref_t ref;
	uint64_t aux;
	const uint8_t *payload; /* msgpack array [tag, ...], or NULL */
	size_t payload_len;
	uint32_t payload_count;
	uint16_t tag_off;
};

/* Validate and decode one whole frame. TR_EPROTO (malformed), TR_ELIMIT
 * (too deep), TR_EVERSION (HELLO of another major version). */
tr_err tr__wire_decode(const uint8_t *p, size_t n, struct tr_wframe *f);
/* Next envelope of a DATA frame's body (f->count of them). */
tr_err tr__wire_next_env(struct tr_wcur *c, struct tr_wenv *e);
/* Next entry of a NODES frame's body. */
tr_err tr__wire_next_node(struct tr_wcur *c, struct tr_wnode *nd);

/* Node names: 1..200 bytes of [A-Za-z0-9_.@-]. */
bool tr__wire_name_ok(const char *s, size_t n);

/*
 * The handshake's proof (docs/protocol.md §5): HMAC-SHA256 under secret
 * of label\0, the connector's and the acceptor's nonces, their names
 * (each with its \0) and their creations (4 big-endian bytes each).
 */
void tr__wire_proof(const uint8_t *secret, size_t secret_len, const char *label,
                    const uint8_t *n_conn, const uint8_t *n_acc,
                    const char *name_conn, const char *name_acc,
                    uint32_t cr_conn, uint32_t cr_acc,
                    uint8_t out[TR_WIRE_PROOF]);

#endif
