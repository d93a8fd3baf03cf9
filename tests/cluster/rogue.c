/*
 * tests/cluster/rogue.c - a hostile peer for the cluster fault harness
 * (scenarios R11 and R12). It speaks just enough of docs/protocol.md to
 * misbehave; every attempt prints one JSON line on stdout saying what
 * the node answered, for the harness's history.
 *
 *   rogue garbage  ENDPOINT SEED BYTES   raw TCP, seeded random bytes
 *   rogue silent   ENDPOINT MS           raw TCP, connect and say nothing
 *   rogue preauth  ENDPOINT SEED N       a ZeroMQ DEALER that sends N
 *                                        frames without a handshake:
 *                                        random bytes, session frames,
 *                                        an AUTH out of the blue, HELLOs
 *                                        with bad names and versions
 *   rogue wrongkey ENDPOINT SECRET_FILE  the handshake with a wrong secret
 *   rogue malformed ENDPOINT SECRET_FILE TARGET_PID [CASE...]
 *                                        for each case a fresh line:
 *                                        handshake with the right secret,
 *                                        one valid DATA frame (["tick"] to
 *                                        TARGET_PID, a counter), then the
 *                                        malformed frame; reports whether
 *                                        the node ended the session
 *
 * Exit 0 when it could run (what the node did is in the output), 2 on
 * bad usage, 1 when the node could not be reached at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <troupe/troupe.h>
#include <unistd.h>
#include <zmq.h>

#include "net/wire.h"

static void *zctx;
static unsigned serial;
static uint8_t secret[4096];
static size_t secret_len;
static char my_name[64];
static uint32_t my_creation;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int split_ep(const char *ep, struct sockaddr_in *sa)
{
	char host[64];
	unsigned port;
	if (sscanf(ep, "tcp://%63[^:]:%u", host, &port) != 2)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int tcp_connect(const char *ep)
{
	struct sockaddr_in sa;
	if (split_ep(ep, &sa))
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- raw TCP ----------------------------------------------------------- */

static int do_garbage(const char *ep, uint64_t seed, size_t bytes)
{
	rng = seed | 1;
	int fd = tcp_connect(ep);
	if (fd < 0) {
		printf("{\"mode\":\"garbage\",\"connected\":false}\n");
		return 1;
	}
	size_t sent = 0;
	uint8_t buf[4096];
	bool reset = false;
	while (sent < bytes) {
		size_t n =
		        bytes - sent < sizeof(buf) ? bytes - sent : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();
		if (sent == 0)
			buf[0] = (uint8_t)(buf[0] == 0xff ? 0x10 : buf[0]);
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0) {
			reset = true;
			break;
		}
		sent += (size_t)w;
	}
	close(fd);
	printf("{\"mode\":\"garbage\",\"connected\":true,\"bytes\":%zu,"
	       "\"reset\":%s}\n",
	       sent, reset ? "true" : "false");
	return 0;
}

static int do_silent(const char *ep, int ms)
{
	int fd = tcp_connect(ep);
	if (fd < 0) {
		printf("{\"mode\":\"silent\",\"connected\":false}\n");
		return 1;
	}
	int64_t t0 = now_ms(), closed = -1;
	size_t got = 0;
	while (now_ms() - t0 < ms) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) > 0) {
			uint8_t b[256];
			ssize_t r = recv(fd, b, sizeof(b), 0);
			if (r <= 0) {
				closed = now_ms() - t0;
				break;
			}
			got += (size_t)r;
		}
	}
	close(fd);
	printf("{\"mode\":\"silent\",\"connected\":true,\"greeting_bytes\":"
	       "%zu,\"closed_after_ms\":%lld}\n",
	       got, (long long)closed);
	return 0;
}

/* ---- ZeroMQ lines -------------------------------------------------------- */

static void *line_open(const char *ep)
{
	void *s = zmq_socket(zctx, ZMQ_DEALER);
	char rid[128];
	int n = snprintf(rid, sizeof(rid), "%s/%u/%u", my_name, my_creation,
	                 ++serial);
	int linger = 0;
	zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, (size_t)n);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(s, ep)) {
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int line_send(void *s, const void *p, size_t n)
{
	return zmq_send(s, p, n, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* The next frame within ms, decoded into f; 0, or -1 on timeout, -2 if it
 * does not decode. */
static int line_recv(void *s, int ms, struct tr_wframe *f, uint8_t *buf,
                     size_t cap)
{
	zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&it, 1, ms) <= 0)
		return -1;
	int n = zmq_recv(s, buf, cap, ZMQ_DONTWAIT);
	if (n < 0 || (size_t)n > cap)
		return -2;
	return tr__wire_decode(buf, (size_t)n, f) ? -2 : 0;
}

static void proof(const char *label, const uint8_t *nc, const uint8_t *na,
                  const char *name_c, const char *name_a, uint32_t cr_c,
                  uint32_t cr_a, uint8_t out[TR_WIRE_PROOF])
{
	tr__wire_proof(secret, secret_len, label, nc, na, name_c, name_a, cr_c,
	               cr_a, out);
}

static void hello(struct tr_wbuf *b, const char *name, uint64_t version,
                  const uint8_t *nonce)
{
	tr__wb_array(b, 8);
	tr__wb_uint(b, TR_W_HELLO);
	tr__wb_uint(b, version);
	tr__wb_str(b, name, strlen(name));
	tr__wb_uint(b, my_creation);
	tr__wb_uint(b, TR_WF_HIDDEN);
	tr__wb_str(b, "", 0);
	tr__wb_bin(b, nonce, TR_WIRE_NONCE);
	tr__wb_pid(b, TR_PID_NONE);
}

struct session {
	void *s;
	char peer[TR_WIRE_NAME_MAX + 1];
	uint32_t peer_creation;
	uint64_t seq_out;
	char refused[TR_WIRE_REASON_MAX + 1]; /* the handshake's REFUSE */
	bool acceptor_proof_ok;
};

/* HELLO, CHALLENGE, AUTH, WELCOME. 0 when welcomed. */
static int handshake(struct session *ss, const char *ep)
{
	memset(ss, 0, sizeof(*ss));
	if (!(ss->s = line_open(ep)))
		return -1;
	uint8_t nc[TR_WIRE_NONCE], buf[2048];
	randombytes_buf(nc, sizeof(nc));
	struct tr_wbuf b = {0};
	hello(&b, my_name, TR_WIRE_VERSION, nc);
	int rc = line_send(ss->s, b.p, b.len);
	tr__wb_free(&b);
	struct tr_wframe f;
	if (rc || line_recv(ss->s, 3000, &f, buf, sizeof(buf)))
		return -1;
	if (f.kind == TR_W_REFUSE) {
		snprintf(ss->refused, sizeof(ss->refused), "%s", f.reason);
		return -1;
	}
	if (f.kind != TR_W_CHALLENGE)
		return -1;
	snprintf(ss->peer, sizeof(ss->peer), "%s", f.hello.name);
	ss->peer_creation = f.hello.creation;
	uint8_t want[TR_WIRE_PROOF], mine[TR_WIRE_PROOF];
	proof("troupe-1 acceptor", nc, f.hello.nonce, my_name, ss->peer,
	      my_creation, ss->peer_creation, want);
	ss->acceptor_proof_ok = !sodium_memcmp(want, f.hello.proof, 32);
	proof("troupe-1 connector", nc, f.hello.nonce, my_name, ss->peer,
	      my_creation, ss->peer_creation, mine);
	struct tr_wbuf a = {0};
	tr__wb_array(&a, 2);
	tr__wb_uint(&a, TR_W_AUTH);
	tr__wb_bin(&a, mine, TR_WIRE_PROOF);
	rc = line_send(ss->s, a.p, a.len);
	tr__wb_free(&a);
	/* the node may send HEARTBEATs right after WELCOME: only the first
	 * frame matters here */
	if (rc || line_recv(ss->s, 3000, &f, buf, sizeof(buf)))
		return -1;
	if (f.kind == TR_W_REFUSE) {
		snprintf(ss->refused, sizeof(ss->refused), "%s", f.reason);
		return -1;
	}
	return f.kind == TR_W_WELCOME ? 0 : -1;
}

/* [7, seq, [[SEND, 0, to, from, nil, 0, ["tick"]]]] */
static void data_frame(struct tr_wbuf *b, uint64_t seq, tr_pid_t to,
                       tr_pid_t from, const char *tag)
{
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_pid(b, to);
	tr__wb_pid(b, from);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_array(b, 1);
	tr__wb_str(b, tag, strlen(tag));
}

/* Wait up to ms for the session to end (a REFUSE), keeping it alive with
 * HEARTBEATs meanwhile. The reason, or "" if it stayed up. */
static void await_end(struct session *ss, int ms, char *reason, size_t cap,
                      int64_t *after)
{
	int64_t t0 = now_ms(), beat = 0;
	uint8_t buf[1 << 16];
	*reason = 0;
	*after = -1;
	while (now_ms() - t0 < ms) {
		if (now_ms() - beat >= 80) {
			uint8_t hb[16];
			struct tr_wbuf b = {hb, 0, sizeof(hb), false};
			tr__wb_array(&b, 2);
			tr__wb_uint(&b, TR_W_HEARTBEAT);
			tr__wb_uint(&b, ss->seq_out);
			line_send(ss->s, b.p, b.len);
			beat = now_ms();
		}
		struct tr_wframe f;
		int r = line_recv(ss->s, 20, &f, buf, sizeof(buf));
		if (r == 0 && f.kind == TR_W_REFUSE) {
			snprintf(reason, cap, "%s", f.reason);
			*after = now_ms() - t0;
			return;
		}
	}
}

/* ---- the cases ----------------------------------------------------------- */

struct mcase {
	const char *name;
	/* writes the bad frame; seq is the next DATA number */
	void (*bad)(struct tr_wbuf *b, uint64_t seq, tr_pid_t target,
	            tr_pid_t peer_pid);
	bool multipart;
};

static void c_truncated(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                        tr_pid_t pp)
{
	(void)pp;
	data_frame(b, seq, t, TR_PID_NONE, "tick");
	b->len -= 3;
}
static void c_reserved(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_pid(b, t);
	tr__wb_pid(b, TR_PID_NONE);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_array(b, 2);
	tr__wb_str(b, "tick", 4);
	tr__wb_raw(b, "\xc1", 1); /* the byte msgpack never uses */
}
static void c_trailing(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	data_frame(b, seq, t, TR_PID_NONE, "tick");
	tr__wb_raw(b, "\xc0\xc0", 2);
}
static void c_count_bomb(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                         tr_pid_t pp)
{
	(void)seq;
	(void)t;
	(void)pp;
	/* DATA whose envelope array claims 2^31 elements */
	tr__wb_raw(b, "\x93\x07\x02\xdd\x7f\xff\xff\xff\x90", 9);
}
static void c_str_bomb(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)seq;
	(void)t;
	(void)pp;
	tr__wb_raw(b,
	           "\x93\x07\x02\xdb\xff\xff\xff\x00"
	           "abc",
	           11);
}
static void c_deep(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_pid(b, t);
	tr__wb_pid(b, TR_PID_NONE);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_array(b, 2);
	tr__wb_str(b, "tick", 4);
	for (int i = 0; i < 60; i++)
		tr__wb_array(b, 1);
	tr__wb_nil(b);
}
static void c_frame_kind(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                         tr_pid_t pp)
{
	(void)t;
	(void)pp;
	tr__wb_array(b, 2);
	tr__wb_uint(b, 99);
	tr__wb_uint(b, seq);
}
static void c_env_kind(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	data_frame(b, seq, t, TR_PID_NONE, "tick");
	/* the envelope's kind is right after 93 07 seq 91 97 */
	for (size_t i = 0; i + 1 < b->len; i++)
		if (b->p[i] == 0x91 && b->p[i + 1] == 0x97) {
			b->p[i + 2] = 0x63; /* 99 */
			break;
		}
}
static void c_spoofed(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	/* from: an actor of the node's own peers, not of this session */
	data_frame(b, seq, t, pp, "tick");
}
static void c_to_other_node(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                            tr_pid_t pp)
{
	(void)t;
	data_frame(b, seq, pp, TR_PID_NONE, "tick");
}
static void c_seq_gap(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	data_frame(b, seq + 5, t, TR_PID_NONE, "tick");
}
static void c_not_array(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                        tr_pid_t pp)
{
	(void)seq;
	(void)t;
	(void)pp;
	tr__wb_raw(b, "\x81\xa1k\x07", 4); /* {"k": 7} */
}
static void c_bad_ext(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	(void)t;
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_raw(b,
	           "\xc7\x0a\x01"
	           "0123456789",
	           13); /* a 10-byte pid */
	tr__wb_pid(b, TR_PID_NONE);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_array(b, 1);
	tr__wb_str(b, "tick", 4);
}
static void c_payload(struct tr_wbuf *b, uint64_t seq, tr_pid_t t, tr_pid_t pp)
{
	(void)pp;
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_pid(b, t);
	tr__wb_pid(b, TR_PID_NONE);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_uint(b, 42); /* not an array */
}
static void c_heartbeat_ahead(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                              tr_pid_t pp)
{
	(void)t;
	(void)pp;
	tr__wb_array(b, 2);
	tr__wb_uint(b, TR_W_HEARTBEAT);
	tr__wb_uint(b, seq + 100); /* "I sent 100 frames you never got" */
}
static void c_oversized(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                        tr_pid_t pp)
{
	(void)pp;
	/* a DATA frame of 17 MiB (the largest frame is 16 MiB) */
	size_t big = 17u << 20;
	char *s = calloc(1, big);
	if (!s)
		return;
	memset(s, 'a', big);
	tr__wb_array(b, 3);
	tr__wb_uint(b, TR_W_DATA);
	tr__wb_uint(b, seq);
	tr__wb_array(b, 1);
	tr__wb_array(b, 7);
	tr__wb_uint(b, TR_WE_SEND);
	tr__wb_uint(b, 0);
	tr__wb_pid(b, t);
	tr__wb_pid(b, TR_PID_NONE);
	tr__wb_nil(b);
	tr__wb_uint(b, 0);
	tr__wb_array(b, 2);
	tr__wb_str(b, "tick", 4);
	tr__wb_str(b, s, big);
	free(s);
}
static void c_multipart(struct tr_wbuf *b, uint64_t seq, tr_pid_t t,
                        tr_pid_t pp)
{
	(void)pp;
	data_frame(b, seq, t, TR_PID_NONE, "tick");
}

static const struct mcase cases[] = {
        {"truncated", c_truncated, false},
        {"reserved_c1", c_reserved, false},
        {"trailing_bytes", c_trailing, false},
        {"count_bomb", c_count_bomb, false},
        {"str_bomb", c_str_bomb, false},
        {"too_deep", c_deep, false},
        {"unknown_frame_kind", c_frame_kind, false},
        {"unknown_envelope_kind", c_env_kind, false},
        {"spoofed_sender", c_spoofed, false},
        {"to_another_node", c_to_other_node, false},
        {"sequence_gap", c_seq_gap, false},
        {"not_an_array", c_not_array, false},
        {"bad_pid_ext", c_bad_ext, false},
        {"payload_not_array", c_payload, false},
        {"heartbeat_ahead", c_heartbeat_ahead, false},
        {"oversized", c_oversized, false},
        {"multipart", c_multipart, true},
};

static int run_case(const char *ep, const struct mcase *c, tr_pid_t target,
                    tr_pid_t peer_pid)
{
	struct session ss;
	int64_t t0 = now_ms();
	if (handshake(&ss, ep)) {
		printf("{\"mode\":\"malformed\",\"case\":\"%s\",\"welcome\":"
		       "false,\"refused\":\"%s\"}\n",
		       c->name, ss.refused);
		if (ss.s)
			zmq_close(ss.s);
		return -1;
	}
	/* one valid message first: the path to the target works */
	struct tr_wbuf b = {0};
	data_frame(&b, ++ss.seq_out, target, TR_PID_NONE, "tick");
	line_send(ss.s, b.p, b.len);
	tr__wb_free(&b);
	/* the bad frame */
	struct tr_wbuf bad = {0};
	c->bad(&bad, ss.seq_out + 1, target, peer_pid);
	int rc;
	if (c->multipart)
		rc = zmq_send(ss.s, bad.p, bad.len, ZMQ_SNDMORE) < 0 ||
		     zmq_send(ss.s, bad.p, bad.len, 0) < 0;
	else
		rc = zmq_send(ss.s, bad.p, bad.len, 0) < 0;
	tr__wb_free(&bad);
	char reason[256];
	int64_t after;
	await_end(&ss, 1500, reason, sizeof(reason), &after);
	printf("{\"mode\":\"malformed\",\"case\":\"%s\",\"welcome\":true,"
	       "\"sent\":%s,\"ended\":%s,\"refused\":\"%s\",\"after_ms\":%lld,"
	       "\"ms\":%lld}\n",
	       c->name, rc ? "false" : "true", reason[0] ? "true" : "false",
	       reason, (long long)after, (long long)(now_ms() - t0));
	fflush(stdout);
	zmq_close(ss.s);
	return 0;
}

static int do_malformed(const char *ep, const char *target_text,
                        const char *peer_text, int argc, char **argv)
{
	tr_pid_t target, peer_pid;
	if (tr_pid_parse(target_text, &target) ||
	    tr_pid_parse(peer_text, &peer_pid)) {
		fprintf(stderr, "rogue: bad pid\n");
		return 2;
	}
	int ran = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool want = argc == 0;
		for (int j = 0; j < argc; j++)
			want |= !strcmp(argv[j], cases[i].name);
		if (want && run_case(ep, &cases[i], target, peer_pid) == 0)
			ran++;
	}
	return ran ? 0 : 1;
}

static int do_wrongkey(const char *ep)
{
	struct session ss;
	int rc = handshake(&ss, ep);
	printf("{\"mode\":\"wrongkey\",\"welcome\":%s,\"refused\":\"%s\","
	       "\"acceptor_proof_ok\":%s}\n",
	       rc ? "false" : "true", ss.refused,
	       ss.acceptor_proof_ok ? "true" : "false");
	if (ss.s)
		zmq_close(ss.s);
	return 0;
}

static int do_preauth(const char *ep, uint64_t seed, int n)
{
	rng = seed | 1;
	void *s = line_open(ep);
	if (!s)
		return 1;
	int sent = 0, answers = 0, refusals = 0;
	uint8_t buf[2048];
	for (int i = 0; i < n; i++) {
		struct tr_wbuf b = {0};
		uint8_t nonce[TR_WIRE_NONCE] = {0}, zero[TR_WIRE_PROOF] = {0};
		switch (i % 6) {
		case 0: { /* random bytes */
			size_t len = rnd() % 300;
			for (size_t k = 0; k < len; k++) {
				uint8_t x = (uint8_t)rnd();
				tr__wb_raw(&b, &x, 1);
			}
			break;
		}
		case 1: /* a session frame without a session */
			data_frame(&b, 1, TR_PID_NONE, TR_PID_NONE, "tick");
			break;
		case 2: /* AUTH with no HELLO before it */
			tr__wb_array(&b, 2);
			tr__wb_uint(&b, TR_W_AUTH);
			tr__wb_bin(&b, zero, TR_WIRE_PROOF);
			break;
		case 3: /* HELLO with a name outside the charset */
			hello(&b, "bad name!/\xff", TR_WIRE_VERSION, nonce);
			break;
		case 4: /* HELLO of another version */
			hello(&b, "rogue-v9", 9, nonce);
			break;
		default: /* a HEARTBEAT */
			tr__wb_array(&b, 2);
			tr__wb_uint(&b, TR_W_HEARTBEAT);
			tr__wb_uint(&b, rnd() % 1000);
		}
		if (!line_send(s, b.p, b.len))
			sent++;
		tr__wb_free(&b);
		struct tr_wframe f;
		while (line_recv(s, i + 1 == n ? 300 : 0, &f, buf,
		                 sizeof(buf)) == 0) {
			answers++;
			refusals += f.kind == TR_W_REFUSE;
		}
	}
	zmq_close(s);
	printf("{\"mode\":\"preauth\",\"sent\":%d,\"answers\":%d,"
	       "\"refusals\":%d}\n",
	       sent, answers, refusals);
	return 0;
}

static int read_secret(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	secret_len = fread(secret, 1, sizeof(secret), f);
	fclose(f);
	while (secret_len && (secret[secret_len - 1] == '\n' ||
	                      secret[secret_len - 1] == '\r'))
		secret_len--;
	return secret_len ? 0 : -1;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: rogue garbage ENDPOINT SEED BYTES\n"
	        "       rogue silent ENDPOINT MS\n"
	        "       rogue preauth ENDPOINT SEED N\n"
	        "       rogue wrongkey ENDPOINT SECRET_FILE\n"
	        "       rogue malformed ENDPOINT SECRET_FILE TARGET_PID "
	        "PEER_PID [CASE...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 4 || sodium_init() < 0)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(my_name, sizeof(my_name), "rogue-%d", (int)getpid());
	randombytes_buf(&my_creation, sizeof(my_creation));
	my_creation |= 1;
	const char *mode = argv[1], *ep = argv[2];
	if (!strcmp(mode, "garbage") && argc == 5)
		return do_garbage(ep, strtoull(argv[3], NULL, 10),
		                  strtoull(argv[4], NULL, 10));
	if (!strcmp(mode, "silent"))
		return do_silent(ep, atoi(argv[3]));
	zctx = zmq_ctx_new();
	int rc;
	if (!strcmp(mode, "preauth") && argc == 5) {
		rc = do_preauth(ep, strtoull(argv[3], NULL, 10), atoi(argv[4]));
	} else if (!strcmp(mode, "wrongkey")) {
		if (read_secret(argv[3]))
			return usage();
		rc = do_wrongkey(ep);
	} else if (!strcmp(mode, "malformed") && argc >= 6) {
		if (read_secret(argv[3]))
			return usage();
		rc = do_malformed(ep, argv[4], argv[5], argc - 6, argv + 6);
	} else {
		rc = usage();
	}
	zmq_ctx_term(zctx);
	return rc;
}
