/*
 * bin/metrics.c - the daemon's Prometheus endpoint (see metrics.h).
 *
 * One libmicrohttpd daemon with its own polling thread answers GET and
 * HEAD of /metrics (404 for other paths, 405 for other methods). A scrape
 * builds the whole text from the public introspection calls
 * (tr_node_stats, tr_node_actors and tr_actor_info, tr_net_nodes,
 * tr_net_stats, tr_global_info, tr_supervisor_count_children) and hands
 * it to libmicrohttpd: nothing is cached or counted here, so a counter is
 * the library's own, from the node's start. Hidden peers (CLI sessions)
 * are left out of the per-peer series and of troupe_nodes_up; their
 * traffic is in the net totals.
 *
 * Threads: start and stop from main; scrapes run one at a time on
 * libmicrohttpd's thread, a plain thread (the supervisor call blocks).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bin/metrics.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct {
	tr_node_t *node;
	tr_net_t *net;
	tr_global_t *g;
	tr_pid_t sup;
	void (*log)(int level, const char *fmt, ...);
	struct MHD_Daemon *d;
} M;

/* ---- the endpoint
 * ------------------------------------------------------------ */

static bool parse_endpoint(const char *ep, struct sockaddr_storage *ss,
                           socklen_t *len)
{
	if (!ep || strncmp(ep, "tcp://", 6))
		return false;
	const char *h = ep + 6, *colon;
	bool v6 = *h == '[';
	if (v6) {
		const char *rb = strchr(h, ']');
		if (!rb || rb[1] != ':')
			return false;
		h++;
		colon = rb + 1;
	} else if (!(colon = strrchr(h, ':'))) {
		return false;
	}
	size_t hl = (size_t)(colon - h) - v6;
	const char *port = colon + 1;
	size_t pl = strlen(port);
	char host[INET6_ADDRSTRLEN];
	if (!hl || hl >= sizeof(host) || !pl || pl > 5 ||
	    strspn(port, "0123456789") != pl || atol(port) > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = 0;
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)atol(port));
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atol(port));
	*len = sizeof(*a);
	if (!strcmp(host, "*")) {
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		return true;
	}
	return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

bool troupe_metrics_valid(const char *endpoint)
{
	struct sockaddr_storage ss;
	socklen_t len;
	return parse_endpoint(endpoint, &ss, &len);
}

/* ---- the text
 * ---------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory: the scrape answers 500 */
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b,
                                                      const char *fmt, ...)
{
	while (!b->failed) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = 2 * (b->cap + (size_t)(n < 0 ? 0 : n));
		char *p = n < 0 ? NULL : realloc(b->p, cap);
		if (!p) {
			b->failed = true;
		} else {
			b->p = p;
			b->cap = cap;
		}
	}
}

/* A label value, escaped as the format wants: \\, \" and \n. */
static void put_label(struct buf *b, const char *v)
{
	for (;;) {
		size_t n = strcspn(v, "\\\"\n");
		put(b, "%.*s", (int)n, v);
		if (!v[n])
			return;
		put(b, "\\%c", v[n] == '\n' ? 'n' : v[n]);
		v += n + 1;
	}
}

static void family(struct buf *b, const char *name, const char *type,
                   const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} v */
static void sample1(struct buf *b, const char *name, const char *label,
                    const char *value, uint64_t v)
{
	put(b, "%s{%s=\"", name, label);
	put_label(b, value);
	put(b, "\"} %" PRIu64 "\n", v);
}

struct scalar {
	const char *name, *type, *help;
	uint64_t v;
};

static void put_scalars(struct buf *b, const struct scalar *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		family(b, s[i].name, s[i].type, s[i].help);
		put(b, "%s %" PRIu64 "\n", s[i].name, s[i].v);
	}
}

/* One family whose samples differ by the value of one label. */
static void put_by_label(struct buf *b, const struct scalar *f,
                         const char *label, const char *const *values,
                         const uint64_t *v, size_t n)
{
	family(b, f->name, f->type, f->help);
	for (size_t i = 0; i < n; i++)
		sample1(b, f->name, label, values[i], v[i]);
}

/* ---- reading the node
 * -------------------------------------------------------- */

/* The highest mailbox high-water mark and the deepest mailbox now, over
 * the live actors. False if out of memory. */
static bool mailboxes(size_t hint, uint64_t *peak, uint64_t *deepest)
{
	size_t cap = hint + 64, n = 0;
	tr_pid_t *pids = NULL;
	for (int tries = 0; tries < 3; tries++) {
		free(pids);
		if (!(pids = malloc(cap * sizeof(*pids))))
			return false;
		if (tr_node_actors(M.node, pids, cap, &n) || n <= cap)
			break;
		cap = n + n / 4 + 64; /* more were spawned meanwhile */
	}
	*peak = *deepest = 0;
	for (size_t i = 0; i < n && i < cap; i++) {
		tr_actor_info_t ai;
		if (tr_actor_info(M.node, pids[i], &ai))
			continue; /* gone since */
		if (ai.mailbox_peak > *peak)
			*peak = ai.mailbox_peak;
		if (ai.mailbox_len > *deepest)
			*deepest = ai.mailbox_len;
	}
	free(pids);
	return true;
}

/* The peers this node knows (*n of them, into a malloc'd array); NULL
 * if out of memory. */
static tr_peer_info_t *peers(size_t *n)
{
	size_t cap = 0;
	tr_peer_info_t *p = NULL;
	for (int tries = 0; tries < 3; tries++) {
		if (tr_net_nodes(M.net, p, cap, n) || *n <= cap)
			break;
		cap = *n + 8;
		free(p);
		if (!(p = malloc(cap * sizeof(*p))))
			return NULL;
	}
	if (*n > cap)
		*n = cap;
	return p ? p : malloc(1);
}

static const struct scalar peer_fams[] = {
        {"troupe_peer_up", "gauge",
         "1 if the connection to the peer is up, 0 if it is joining, "
         "leaving or down",
         0},
        {"troupe_peer_messages_received_total", "counter",
         "Messages received from the peer", 0},
        {"troupe_peer_messages_sent_total", "counter",
         "Messages sent to the peer", 0},
        {"troupe_peer_queued_bytes", "gauge",
         "Bytes waiting to be sent to the peer", 0},
};

static uint64_t peer_value(const tr_peer_info_t *p, size_t fam)
{
	switch (fam) {
	case 0:
		return p->state == TR_PEER_UP;
	case 1:
		return p->msgs_in;
	case 2:
		return p->msgs_out;
	default:
		return p->queued_bytes;
	}
}

static void put_peers(struct buf *b, const tr_peer_info_t *p, size_t n)
{
	for (size_t f = 0; f < sizeof(peer_fams) / sizeof(*peer_fams); f++) {
		family(b, peer_fams[f].name, peer_fams[f].type,
		       peer_fams[f].help);
		for (size_t i = 0; i < n; i++)
			if (!p[i].hidden && p[i].name[0])
				sample1(b, peer_fams[f].name, "peer", p[i].name,
				        peer_value(&p[i], f));
	}
}

static void put_global(struct buf *b, const tr_global_info_t *gi)
{
	const char *self = tr_node_name(M.node);
	const struct scalar s[] = {
	        {"troupe_global_names", "gauge",
	         "Names in this node's replica of the global registry",
	         gi->names},
	        {"troupe_global_locks", "gauge",
	         "Cluster locks held, in this node's replica", gi->locks},
	        {"troupe_global_members", "gauge",
	         "Other nodes in the global registry's view", gi->members},
	        {"troupe_global_epoch", "gauge",
	         "The global registry's installed epoch", gi->epoch},
	        {"troupe_global_ready", "gauge",
	         "1 if the registry is installed for the current view",
	         gi->ready},
	        {"troupe_global_is_leader", "gauge",
	         "1 if this node holds the registry's leader lock",
	         gi->leader[0] && !strcmp(gi->leader, self)},
	        {"troupe_global_conflicts_total", "counter",
	         "Name and lock clashes settled after partitions",
	         gi->conflicts},
	        {"troupe_global_resolver_missing_total", "counter",
	         "Clashes whose resolver is unknown on this node",
	         gi->resolver_missing},
	        {"troupe_global_ops_applied_total", "counter",
	         "Registry operations applied here", gi->ops_applied},
	        {"troupe_global_syncs_total", "counter",
	         "Registry views installed here", gi->syncs},
	        {"troupe_global_rejected_total", "counter",
	         "Stale or unauthorised registry server messages",
	         gi->rejected},
	};
	put_scalars(b, s, sizeof(s) / sizeof(*s));
	family(b, "troupe_global_leader", "gauge",
	       "The registry's leader node, as a label (no sample while "
	       "views disagree)");
	if (gi->leader[0])
		sample1(b, "troupe_global_leader", "leader", gi->leader, 1);
}

/* The whole exposition; NULL if out of memory or the node cannot say. */
static char *scrape(size_t *len)
{
	struct buf b = {.p = malloc(16384), .cap = 16384};
	tr_node_stats_t ns = {0};
	tr_net_stats_t st = {0};
	tr_global_info_t gi = {0};
	tr_child_counts_t cc;
	size_t np = 0, up = 0;
	uint64_t peak = 0, deepest = 0;
	tr_peer_info_t *p = b.p ? peers(&np) : NULL;
	if (!p || tr_node_stats(M.node, &ns) || tr_net_stats(M.net, &st) ||
	    tr_global_info(M.g, &gi) || !mailboxes(ns.actors, &peak, &deepest))
		b.failed = true;
	for (size_t i = 0; !b.failed && i < np; i++)
		up += p[i].state == TR_PEER_UP && !p[i].hidden;
	if (!b.failed) {
		put(&b, "# HELP troupe_node_info This node's name and troupe "
		        "version\n# TYPE troupe_node_info gauge\n"
		        "troupe_node_info{node=\"");
		put_label(&b, tr_node_name(M.node));
		put(&b, "\",version=\"%s\"} 1\n", TR_VERSION_STRING);
	}
	const struct scalar s[] = {
	        {"troupe_nodes_up", "gauge",
	         "Other cluster nodes connected and up (hidden nodes, such as "
	         "CLI sessions, not counted)",
	         up},
	        {"troupe_actors", "gauge", "Actors alive on this node",
	         ns.actors},
	        {"troupe_actors_peak", "gauge", "Most actors alive at once",
	         ns.actors_peak},
	        {"troupe_actors_spawned_total", "counter", "Actors spawned",
	         ns.spawned},
	        {"troupe_actors_exited_total", "counter", "Actors exited",
	         ns.exited},
	        {"troupe_messages_handled_total", "counter",
	         "User messages handled by this node's actors", ns.messages},
	        {"troupe_mailbox_peak_messages", "gauge",
	         "Highest mailbox high-water mark among the live actors", peak},
	        {"troupe_mailbox_deepest_messages", "gauge",
	         "Messages waiting in the deepest mailbox now", deepest},
	        {"troupe_net_messages_received_total", "counter",
	         "Messages received from other nodes", st.msgs_in},
	        {"troupe_net_messages_sent_total", "counter",
	         "Messages sent to other nodes", st.msgs_out},
	        {"troupe_net_frames_received_total", "counter",
	         "Frames received from other nodes", st.frames_in},
	        {"troupe_net_frames_sent_total", "counter",
	         "Frames sent to other nodes", st.frames_out},
	        {"troupe_net_bytes_received_total", "counter",
	         "Bytes received from other nodes", st.bytes_in},
	        {"troupe_net_bytes_sent_total", "counter",
	         "Bytes sent to other nodes", st.bytes_out},
	        {"troupe_net_stale_messages_total", "counter",
	         "Messages to or from an old incarnation of a node, dropped",
	         st.stale},
	        {"troupe_net_nodedowns_total", "counter",
	         "Connections to other nodes lost, whatever the reason",
	         st.nodedowns},
	        {"troupe_net_sender_pauses_total", "counter",
	         "Times a sending actor was paused on a peer's full queue",
	         st.gated},
	};
	static const struct scalar rejected = {
	        "troupe_net_rejected_frames_total", "counter",
	        "Frames refused: malformed (or oversized, or of an unknown "
	        "kind), failed authentication, or spoofed sender",
	        0};
	static const char *const reasons[] = {"malformed", "auth", "spoofed"};
	const uint64_t rv[] = {st.rejected_frames, st.rejected_auth,
	                       st.spoofed};
	static const struct scalar dropped = {
	        "troupe_messages_dropped_total", "counter",
	        "Local sends dropped: to a dead or unknown pid, or to another "
	        "incarnation of this node",
	        0};
	static const char *const why[] = {"dead", "stale"};
	const uint64_t dv[] = {ns.dropped_dead, ns.dropped_stale};
	if (!b.failed) {
		put_scalars(&b, s, sizeof(s) / sizeof(*s));
		put_by_label(&b, &rejected, "reason", reasons, rv, 3);
		put_by_label(&b, &dropped, "reason", why, dv, 2);
		put_peers(&b, p, np);
		put_global(&b, &gi);
	}
	/* a supervisor busy for seconds: the family is left out */
	if (!b.failed && !tr_supervisor_count_children(M.node, M.sup, &cc)) {
		family(&b, "troupe_root_supervisor_children", "gauge",
		       "Children running under the root supervisor "
		       "(troupe_sup)");
		put(&b, "troupe_root_supervisor_children %zu\n", cc.active);
	}
	free(p);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- HTTP
 * -------------------------------------------------------------------- */

static mhd_result answer(struct MHD_Connection *c, unsigned status,
                         const char *type, char *body, size_t len,
                         enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	mhd_result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

#define STATIC_TEXT(s) (char *)(s), sizeof(s) - 1, MHD_RESPMEM_PERSISTENT

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url,
                         const char *method, const char *version,
                         const char *upload, size_t *upload_len, void **req)
{
	(void)cls, (void)version, (void)upload, (void)upload_len, (void)req;
	if (strcmp(url, "/metrics"))
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain",
		              STATIC_TEXT("not found\n"));
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
		              STATIC_TEXT("method not allowed\n"));
	size_t len;
	char *text = scrape(&len);
	if (!text)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
		              STATIC_TEXT("cannot read the node's metrics\n"));
	return answer(c, MHD_HTTP_OK, CONTENT_TYPE, text, len,
	              MHD_RESPMEM_MUST_FREE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = 0;
	M.log(TR_LOG_WARN, "metrics: %s", line);
}

int troupe_metrics_start(tr_node_t *node, tr_net_t *net, tr_global_t *g,
                         tr_pid_t sup, const char *endpoint,
                         void (*log)(int level, const char *fmt, ...))
{
	struct sockaddr_storage ss;
	socklen_t len;
	M.node = node, M.net = net, M.g = g, M.sup = sup, M.log = log;
	if (!parse_endpoint(endpoint, &ss, &len)) {
		log(TR_LOG_ERROR, "metrics: not an endpoint: %s", endpoint);
		return -1;
	}
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* the logger first, or libmicrohttpd uses its own until it meets it */
	M.d = MHD_start_daemon(
	        flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_EXTERNAL_LOGGER,
	        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	        MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT,
	        10u, MHD_OPTION_END);
	if (!M.d)
		return -1; /* libmicrohttpd said why */
	/* the port it got (port 0 picks one) */
	const union MHD_DaemonInfo *di =
	        MHD_get_daemon_info(M.d, MHD_DAEMON_INFO_LISTEN_FD);
	len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (di && !getsockname(di->listen_fd, (struct sockaddr *)&ss, &len)) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		}
	}
	bool v6 = ss.ss_family == AF_INET6;
	log(TR_LOG_INFO, "metrics on http://%s%s%s:%u/metrics", v6 ? "[" : "",
	    host, v6 ? "]" : "", port);
	return 0;
}

void troupe_metrics_stop(void)
{
	if (M.d)
		MHD_stop_daemon(M.d);
	M.d = NULL;
}
