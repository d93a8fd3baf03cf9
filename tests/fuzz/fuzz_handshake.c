/*
 * tests/fuzz/fuzz_handshake.c - libFuzzer target for a node's listener
 * before authentication: the bytes a would-be peer sends to the ROUTER
 * socket during the handshake (HELLO, AUTH, and anything else), handled
 * by net/net.c's on_router_frame(), on_hello() and on_auth().
 *
 * One node ("fz-h", shared secret) runs for the whole process; the
 * target talks to it as a peer would, through a ZeroMQ DEALER socket of
 * its own context connected over loopback TCP, with a fixed routing id.
 * An input is up to 8 ZeroMQ messages: its bytes split at C1 C1 (the
 * next message) and C1 C2 (the next part of the same message; msgpack
 * never uses the byte C1). After them the target sends a valid HELLO of
 * its own (the sentinel) and reads the node's answers until the
 * CHALLENGE to it, recognised by its proof (the target knows the
 * secret): by then the node has handled every message of the input.
 * The node is left with one handshake pending (the sentinel's) before
 * every input, the first included.
 *
 * Checked after each input: the node answered, and only with CHALLENGE
 * or REFUSE frames (no WELCOME: an AUTH cannot prove the secret); it
 * delivered nothing to actors (msgs_in) and has no peer; and every
 * message of the input is accounted for once: a CHALLENGE to a HELLO, a
 * REFUSE "name in use" to a HELLO with the node's own name, or counted
 * in rejected_frames or rejected_auth (tr_net_stats()).
 *
 * TR_FUZZ_WRITE_SEEDS=DIR writes the seed corpus.
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus.
 */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>
#include <zmq.h>

#include "net/wire.h"
#include "tests/fuzz/seeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void tr_fuzz_cleanup(void);

#define MAX_MSGS  8
#define MAX_PARTS 16
#define NODE      "fz-h"
#define SENTINEL  "fz-sentinel"
#define SENT_CR   7u

static const char secret[] = "fuzz-handshake-secret-0123456789";

static struct {
	bool up;
	tr_node_t *node;
	tr_net_t *net;
	void *zctx, *dealer;
	uint64_t serial; /* of the sentinel's nonce */
	uint8_t nonce[TR_WIRE_NONCE];
} F;

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_handshake: %s\n", what);
		abort();
	}
}

/* net.c's proof: HMAC-SHA256(secret, label, nonces, names, creations) */
static void proof(const char *label, const uint8_t *n_conn,
                  const uint8_t *n_acc, const char *name_conn,
                  const char *name_acc, uint32_t cr_conn, uint32_t cr_acc,
                  uint8_t out[TR_WIRE_PROOF])
{
	tr__wire_proof((const uint8_t *)secret, sizeof(secret) - 1, label,
	               n_conn, n_acc, name_conn, name_acc, cr_conn, cr_acc,
	               out);
}

/* [HELLO, version, name, creation, flags, endpoint, nonce, kernel] */
static void hello(struct tr_wbuf *b, uint64_t version, const char *name,
                  uint32_t creation, uint64_t flags, const char *ep,
                  const uint8_t *nonce)
{
	tr__wb_array(b, 8);
	tr__wb_uint(b, TR_W_HELLO);
	tr__wb_uint(b, version);
	tr__wb_str(b, name, strlen(name));
	tr__wb_uint(b, creation);
	tr__wb_uint(b, flags);
	tr__wb_str(b, ep, strlen(ep));
	tr__wb_bin(b, nonce, TR_WIRE_NONCE);
	tr__wb_pid(b, (tr_pid_t){tr_node_id_of_name(name), 1, creation});
}

static void send_all(const void *p, size_t len, int flags)
{
	int n;
	do
		n = zmq_send(F.dealer, p, len, flags);
	while (n < 0 && errno == EINTR);
	check(n == (int)len, "cannot send");
}

struct answers {
	size_t challenges, name_in_use;
};

/* Send the sentinel HELLO, read answers up to the CHALLENGE to it. */
static struct answers sentinel(void)
{
	struct answers a = {0, 0};
	F.serial++;
	memset(F.nonce, 0x5a, sizeof(F.nonce));
	memcpy(F.nonce, &F.serial, sizeof(F.serial));
	uint8_t buf[256];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	hello(&b, TR_WIRE_VERSION, SENTINEL, SENT_CR, 0, "", F.nonce);
	check(!b.oom, "out of memory");
	send_all(b.p, b.len, 0);
	uint8_t in[4096];
	for (;;) {
		int n;
		do /* libFuzzer's -timeout is a SIGALRM every few seconds */
			n = zmq_recv(F.dealer, in, sizeof(in), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			tr_net_stats_t st;
			tr_net_stats(F.net, &st);
			fprintf(stderr,
			        "fuzz_handshake: frames in %llu, rejected "
			        "%llu + %llu, %zu answers before\n",
			        (unsigned long long)st.frames_in,
			        (unsigned long long)st.rejected_frames,
			        (unsigned long long)st.rejected_auth,
			        a.challenges + a.name_in_use);
		}
		check(n >= 0, "no answer from the node (10 s)");
		check((size_t)n <= sizeof(in), "an answer too big");
		struct tr_wframe f;
		check(tr__wire_decode(in, (size_t)n, &f) == TR_OK,
		      "an answer the wire decoder refuses");
		if (f.kind == TR_W_REFUSE) {
			a.name_in_use += !strcmp(f.reason, "name in use");
			continue;
		}
		check(f.kind == TR_W_CHALLENGE, "an answer not CHALLENGE "
		                                "or REFUSE (a WELCOME?)");
		check(!strcmp(f.hello.name, NODE), "a CHALLENGE not from it");
		uint8_t want[TR_WIRE_PROOF];
		proof("troupe-1 acceptor", F.nonce, f.hello.nonce, SENTINEL,
		      NODE, SENT_CR, tr_node_creation(F.node), want);
		if (f.hello.has_proof && !memcmp(want, f.hello.proof, 32))
			return a;
		a.challenges++;
	}
}

static void setup(void)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = NODE;
	o.creation = 0x48484848;
	o.schedulers = 1;
	check(tr_node_new(&F.node, &o) == TR_OK, "tr_node_new");
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.listen = "tcp://127.0.0.1:0";
	no.secret = secret;
	no.secret_len = sizeof(secret) - 1;
	check(tr_net_start(F.node, &no, &F.net) == TR_OK, "tr_net_start");
	F.zctx = zmq_ctx_new();
	F.dealer = zmq_socket(F.zctx, ZMQ_DEALER);
	int zero = 0, tmo = 10000;
	check(F.dealer &&
	              !zmq_setsockopt(F.dealer, ZMQ_ROUTING_ID, "fz-dealer",
	                              9) &&
	              !zmq_setsockopt(F.dealer, ZMQ_LINGER, &zero,
	                              sizeof(zero)) &&
	              !zmq_setsockopt(F.dealer, ZMQ_RCVTIMEO, &tmo,
	                              sizeof(tmo)) &&
	              !zmq_setsockopt(F.dealer, ZMQ_SNDTIMEO, &tmo,
	                              sizeof(tmo)) &&
	              !zmq_connect(F.dealer, tr_net_endpoint(F.net)),
	      "the DEALER socket");
	F.up = true;
	sentinel(); /* every input starts with one handshake pending */
}

void tr_fuzz_cleanup(void)
{
	if (!F.up)
		return;
	zmq_close(F.dealer);
	zmq_ctx_term(F.zctx);
	tr_node_destroy(F.node);
	memset(&F, 0, sizeof(F));
}

/* ---- the seed corpus (TR_FUZZ_WRITE_SEEDS=DIR) -------------------------- */

/* Append a message, or with same_msg the next part of the last one. */
static void put(struct seed *sd, const struct tr_wbuf *b, bool same_msg)
{
	check(sd->len + b->len + 2 <= sizeof(sd->buf), "a seed too big");
	if (sd->parts++) {
		sd->buf[sd->len++] = 0xc1;
		sd->buf[sd->len++] = same_msg ? 0xc2 : 0xc1;
	}
	memcpy(sd->buf + sd->len, b->p, b->len);
	sd->len += b->len;
}

static void write_seeds(const char *dir)
{
	struct seed sd = {.len = 0};
	uint8_t n1[TR_WIRE_NONCE], zero[TR_WIRE_PROOF] = {0};
	memset(n1, 0x11, sizeof(n1));
	uint8_t buf[512];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
#define RESET() (b.len = 0)
	RESET();
	hello(&b, TR_WIRE_VERSION, "peer", 9, 0, "tcp://127.0.0.1:1", n1);
	put(&sd, &b, false);
	seed_write(dir, "hello", &sd);
	put(&sd, &b, false);
	RESET();
	tr__wb_array(&b, 2);
	tr__wb_uint(&b, TR_W_AUTH);
	tr__wb_bin(&b, zero, TR_WIRE_PROOF);
	put(&sd, &b, false);
	put(&sd, &b, false); /* again: no handshake pending any more */
	seed_write(dir, "hello_auth_auth", &sd);
	RESET();
	hello(&b, TR_WIRE_VERSION, NODE, 9, 0, "", n1);
	put(&sd, &b, false);
	seed_write(dir, "hello_own_name", &sd);
	RESET();
	hello(&b, TR_WIRE_VERSION + 1, "peer", 9, 0, "", n1);
	put(&sd, &b, false);
	seed_write(dir, "hello_version_2", &sd);
	RESET();
	hello(&b, TR_WIRE_VERSION, "cli", 9, TR_WF_HIDDEN | TR_WF_NOLISTEN, "",
	      n1);
	put(&sd, &b, false);
	put(&sd, &b, true); /* the same as a second part: multipart */
	put(&sd, &b, false);
	seed_write(dir, "hello_hidden_multipart", &sd);
	RESET();
	tr__wb_array(&b, 2);
	tr__wb_uint(&b, TR_W_HEARTBEAT);
	tr__wb_uint(&b, 0);
	put(&sd, &b, false);
	RESET();
	tr__wb_array(&b, 1);
	tr__wb_uint(&b, TR_W_WELCOME);
	put(&sd, &b, false);
	RESET();
	put(&sd, &b, false); /* an empty message */
	seed_write(dir, "no_session_welcome_empty", &sd);
#undef RESET
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.up)
		setup();
	const char *dir = seeds_dir();
	if (dir)
		write_seeds(dir);
	tr_net_stats_t s0, s1;
	check(tr_net_stats(F.net, &s0) == TR_OK, "tr_net_stats");
	struct {
		size_t off, len;
		bool more;
	} part[MAX_PARTS];
	size_t np = 0, msgs = 0, start = 0;
	for (size_t i = 0; i <= size && np < MAX_PARTS && msgs < MAX_MSGS;
	     i++) {
		bool end = i == size;
		bool cut = !end && i + 1 < size && data[i] == 0xc1 &&
		           (data[i + 1] == 0xc1 || data[i + 1] == 0xc2);
		if (!end && !cut)
			continue;
		bool more = cut && data[i + 1] == 0xc2;
		part[np].off = start;
		part[np].len = i - start;
		part[np++].more = more;
		msgs += !more;
		start = i + 2;
		i++;
	}
	if (np && part[np - 1].more) { /* the last part ends its message */
		part[np - 1].more = false;
		msgs++;
	}
	for (size_t k = 0; k < np; k++)
		send_all(data + part[k].off, part[k].len,
		         part[k].more ? ZMQ_SNDMORE : 0);
	struct answers a = sentinel();
	check(tr_net_stats(F.net, &s1) == TR_OK, "tr_net_stats");
	check(s1.msgs_in == s0.msgs_in, "a message reached an actor");
	tr_peer_info_t peers[4];
	size_t npeers = 0;
	check(tr_net_nodes(F.net, peers, 4, &npeers) == TR_OK && !npeers,
	      "a peer in the node's table");
	uint64_t counted = (s1.rejected_frames - s0.rejected_frames) +
	                   (s1.rejected_auth - s0.rejected_auth);
	check(counted + a.challenges + a.name_in_use == msgs,
	      "a message neither answered nor counted as rejected");
	return 0;
}
