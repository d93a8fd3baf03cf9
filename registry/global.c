/*
 * registry/global.c - the cluster-wide registry under a leader lock.
 *
 * One server actor per node ("tr_global"). The algorithm is described in
 * docs/registry.md; in short:
 *
 *   members  the other nodes whose server said hello (g_hi) and is alive
 *            (monitored). The view is members + self, identified by a
 *            hash of the sorted (name, creation) pairs.
 *   stable   every member reported (g_view) the same view as ours.
 *   leader   the smallest node name of a stable view. It opens a new
 *            epoch (larger than any epoch a member reported), pulls the
 *            tables of members whose digest differs from its own
 *            (g_pull/g_table), merges them, settles clashes, and installs
 *            the result everywhere (g_install).
 *   ops      requests (g_req) go to the leader, which checks them against
 *            its table, numbers them (epoch, seq), applies them and sends
 *            them to every member (g_op); members apply them in order and
 *            acknowledge (g_ack). The requester is answered (g_rep) once
 *            every member acknowledged. A view change drops the leader's
 *            unanswered work; requesters resend everything unanswered
 *            when the next epoch is installed, and requests carry ids so
 *            a resent request is answered, not applied twice.
 *
 * Everything here runs in the server actor, except the read index (see
 * smap.c) and the info snapshot (under info_lock).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/registry.h>

#include "net/wire.h"
#include "registry/smap.h"
#include "registry/util.h"
#include "runtime/internal.h"
#include "runtime/table.h"

#define TICK_MS      100
#define MAX_MEMBERS  1024
#define MAX_PENDING  65536
#define BLOB_VERSION 1

enum op {
	OP_REG = 1,
	OP_REREG,
	OP_UNREG,
	OP_UNREG_PID,
	OP_LOCK,
	OP_UNLOCK,
};

struct gname {
	struct tr__skey k;
	tr_pid_t pid;
	uint64_t ver; /* grant: epoch << 32 | seq */
	uint64_t rq_node, rq_id;
	char resolver[TR_RESOLVER_MAX];
};

/* A removed grant: (name, pid, ver). Keyed by all three. */
struct gtomb {
	struct tr__skey k;
	size_t nlen; /* the name is k.key[0..nlen) */
	tr_pid_t pid;
	uint64_t ver;
	uint64_t at_ms;
	struct gtomb *newer, *older;
};

struct glock {
	struct tr__skey k;
	tr_pid_t pid;
	uint64_t token;
};

struct member {
	char name[TR_NODE_NAME_MAX + 1];
	uint64_t id;
	uint32_t creation;
	tr_pid_t server;
	tr_ref_t mref;
	uint64_t view, epoch, digest; /* as it last reported */
	bool pull;                    /* leader: table asked for */
	tr_msg_t *table;              /* leader: table received */
};

/* A request made on this node, until answered. */
struct req {
	uint64_t id;
	enum op op;
	char *name; /* name or resource */
	tr_pid_t pid;
	char resolver[TR_RESOLVER_MAX];
	uint64_t timeout_ms, deadline_ms;
	bool has_from;
	tr_from_t from;
	/* this epoch: applied here (token), acks from other members */
	uint64_t ack_epoch, applied_epoch, token;
	size_t acks;
};

/* Leader: a lock request waiting for the holder to let go. */
struct waiter {
	struct waiter *next;
	char *res;
	tr_pid_t pid, rq_server;
	uint64_t rq_id, deadline_ms;
};

struct syncer {
	tr_from_t from;
	uint64_t deadline_ms;
};

struct resolver {
	char id[TR_RESOLVER_MAX];
	tr_resolve_fn fn;
	void *ctx;
};

struct tr_global {
	tr_net_t *net;
	tr_node_t *node;
	tr_pid_t pid;
	char self[TR_NODE_NAME_MAX + 1];
	uint64_t self_id;
	uint32_t self_creation;
	tr_global_opts_t opts;
	_Atomic int dead; /* the server has terminated */

	/* read side */
	struct tr__gidx idx;
	pthread_mutex_t info_lock;
	tr_global_info_t info;
	pthread_mutex_t res_lock;
	struct resolver *resolvers;
	size_t nresolvers;

	/* server state */
	struct tr__smap names, tombs, locks;
	struct tr__ptab *by_pid; /* pid -> its gname (aux unused) */
	struct tr__ptab *mons;   /* local pid -> monitor ref */
	struct gtomb *tomb_new, *tomb_old;
	uint64_t digest;

	struct member *mem;
	size_t nmem;
	uint64_t view, epoch, seq;
	bool ready, leading, syncing;
	uint64_t sync_epoch, sync_ms;
	tr_pid_t leader;
	char leader_name[TR_NODE_NAME_MAX + 1];

	struct tr__ptab *reqs; /* id -> struct req */
	uint64_t next_req;
	struct waiter *waiters;
	struct syncer *syncers;
	size_t nsync;
	tr_pid_t *subs;
	tr_ref_t *sub_refs;
	size_t nsubs;

	uint64_t ops_applied, syncs, conflicts, resolver_missing, rejected;
	bool quiet; /* loading a table: no per-name events */
	/* tests only (tr__global_test_lose_ops_to): a leader does not send
	 * its ops to the member of this name, as if they were lost */
	_Atomic(const char *) lose_ops_to;
};

/* The runtime's monotonic clock (a simulation's, under tests/sim). */
static uint64_t now_ms(void)
{
	return tr__now_ns() / 1000000u;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t pid_hash(tr_pid_t p)
{
	return mix(p.node ^ mix(p.id ^ ((uint64_t)p.creation << 17)));
}

static int pid_cmp(tr_pid_t a, tr_pid_t b)
{
	if (a.node != b.node)
		return a.node < b.node ? -1 : 1;
	if (a.id != b.id)
		return a.id < b.id ? -1 : 1;
	if (a.creation != b.creation)
		return a.creation < b.creation ? -1 : 1;
	return 0;
}

static bool is_local(const struct tr_global *g, tr_pid_t p)
{
	return p.node == g->self_id && p.creation == g->self_creation;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static void publish_info(struct tr_global *g)
{
	pthread_mutex_lock(&g->info_lock);
	tr_global_info_t *i = &g->info;
	snprintf(i->leader, sizeof(i->leader), "%s",
	         g->ready ? g->leader_name : "");
	i->epoch = g->epoch;
	i->ready = g->ready;
	i->members = g->nmem;
	i->names = g->names.n;
	i->locks = g->locks.n;
	i->tombstones = g->tombs.n;
	i->ops_applied = g->ops_applied;
	i->syncs = g->syncs;
	i->conflicts = g->conflicts;
	i->resolver_missing = g->resolver_missing;
	i->rejected = g->rejected;
	i->digest = g->digest;
	pthread_mutex_unlock(&g->info_lock);
}

/* ---- sending ------------------------------------------------------------- */

static void send_or_free(tr_pid_t to, tr_msg_t *m)
{
	if (m && tr_send(to, m))
		tr_msg_free(m);
}

static tr_msg_t *msg_new(const char *tag)
{
	tr_msg_t *m = NULL;
	return tr_msg_new(&m, tag) ? NULL : m;
}

static void answer(const tr_from_t *from, tr_err e, uint64_t token)
{
	tr_msg_t *r = msg_new(e ? "error" : "ok");
	if (!r)
		return;
	if (e)
		tr_msg_add_str(r, tr_err_name(e));
	else
		tr_msg_add_uint(r, token);
	if (tr_reply(from, r))
		tr_msg_free(r);
}

static void notify_subs(struct tr_global *g, tr_msg_t *m)
{
	for (size_t i = 0; m && i < g->nsubs; i++) {
		tr_msg_t *c;
		if (!tr_msg_dup(m, &c))
			send_or_free(g->subs[i], c);
	}
	tr_msg_free(m);
}

/* ---- monitors of local pids the table refers to -------------------------- */

static void watch(struct tr_global *g, tr_pid_t pid)
{
	if (!is_local(g, pid) || tr__ptab_get(g->mons, pid))
		return;
	tr_ref_t ref;
	struct tr__pent *e;
	bool had;
	if (tr_monitor(pid, &ref) == TR_OK &&
	    tr__ptab_put(&g->mons, pid, &e, &had) == TR_OK)
		e->pid = tr__key_ref(ref);
}

static bool holds_lock(struct tr_global *g, tr_pid_t pid)
{
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->locks, k, nx) {
		if (tr_pid_eq(((struct glock *)k)->pid, pid))
			return true;
	}
	return false;
}

static void unwatch_if_unused(struct tr_global *g, tr_pid_t pid)
{
	struct tr__pent *e = tr__ptab_get(g->mons, pid);
	if (!e || tr__ptab_get(g->by_pid, pid) || holds_lock(g, pid))
		return;
	tr_demonitor(tr__ref_key(e->pid), TR_DEMONITOR_FLUSH);
	tr__ptab_del(g->mons, e);
}

/* ---- the table ----------------------------------------------------------- */

static uint64_t name_digest(const struct gname *n)
{
	return mix(n->k.h ^ pid_hash(n->pid) ^ mix(n->ver));
}

static uint64_t lock_digest(const struct glock *l)
{
	return mix(l->k.h ^ pid_hash(l->pid) ^ mix(l->token + 0x9e37));
}

static struct gname *name_get(struct tr_global *g, const char *s, size_t n)
{
	return (struct gname *)tr__smap_get(&g->names, s, n,
	                                    tr__hash_bytes(s, n));
}

static struct glock *lock_get(struct tr_global *g, const char *s, size_t n)
{
	return (struct glock *)tr__smap_get(&g->locks, s, n,
	                                    tr__hash_bytes(s, n));
}

static struct gname *name_of_pid(struct tr_global *g, tr_pid_t pid)
{
	struct tr__pent *e = tr__ptab_get(g->by_pid, pid);
	return e ? e->ptr : NULL;
}

static void name_free(struct gname *n)
{
	free(n->k.key);
	free(n);
}

/* Drop a live name (tomb: remember the grant as removed). */
static void name_drop(struct tr_global *g, struct gname *n, bool tomb);

static void tomb_unlink(struct tr_global *g, struct gtomb *t)
{
	if (t->newer)
		t->newer->older = t->older;
	else
		g->tomb_new = t->older;
	if (t->older)
		t->older->newer = t->newer;
	else
		g->tomb_old = t->newer;
	tr__smap_del(&g->tombs, &t->k);
	free(t->k.key);
	free(t);
}

static void tomb_key(const char *name, size_t nlen, tr_pid_t pid, uint64_t ver,
                     char *buf, size_t *len)
{
	memcpy(buf, name, nlen);
	buf[nlen] = 0;
	memcpy(buf + nlen + 1, &ver, 8);
	memcpy(buf + nlen + 9, &pid.node, 8);
	memcpy(buf + nlen + 17, &pid.id, 8);
	memcpy(buf + nlen + 25, &pid.creation, 4);
	*len = nlen + 29;
}

static bool tomb_has(struct tr_global *g, const char *name, size_t nlen,
                     tr_pid_t pid, uint64_t ver)
{
	char buf[TR_GLOBAL_NAME_MAX + 32];
	size_t len;
	tomb_key(name, nlen, pid, ver, buf, &len);
	return tr__smap_get(&g->tombs, buf, len, tr__hash_bytes(buf, len));
}

static void tomb_add(struct tr_global *g, const char *name, size_t nlen,
                     tr_pid_t pid, uint64_t ver)
{
	char buf[TR_GLOBAL_NAME_MAX + 32];
	size_t len;
	tomb_key(name, nlen, pid, ver, buf, &len);
	uint64_t h = tr__hash_bytes(buf, len);
	if (tr__smap_get(&g->tombs, buf, len, h))
		return;
	struct gtomb *t = calloc(1, sizeof(*t));
	if (!t || !(t->k.key = dupn(buf, len))) {
		free(t);
		return;
	}
	t->k.h = h;
	t->k.len = len;
	t->nlen = nlen;
	t->pid = pid;
	t->ver = ver;
	t->at_ms = now_ms();
	if (tr__smap_put(&g->tombs, &t->k)) {
		free(t->k.key);
		free(t);
		return;
	}
	t->older = g->tomb_new;
	if (g->tomb_new)
		g->tomb_new->newer = t;
	else
		g->tomb_old = t;
	g->tomb_new = t;
	while (g->tombs.n > g->opts.tombstones_max && g->tomb_old)
		tomb_unlink(g, g->tomb_old);
}

static void tombs_expire(struct tr_global *g)
{
	uint64_t now = now_ms();
	while (g->tomb_old && now - g->tomb_old->at_ms > g->opts.tombstone_ms)
		tomb_unlink(g, g->tomb_old);
}

static void notify_subs(struct tr_global *g, tr_msg_t *m);

/* ["global_registered" | "global_unregistered", name, pid, node] */
static void name_event(struct tr_global *g, const char *tag,
                       const struct gname *n)
{
	if (g->quiet || !g->nsubs)
		return;
	tr_msg_t *m = msg_new(tag);
	if (!m)
		return;
	tr_msg_add_strn(m, n->k.key, n->k.len);
	tr_msg_add_pid(m, n->pid);
	tr_msg_add_str(m, g->self);
	notify_subs(g, m);
}

static void name_drop(struct tr_global *g, struct gname *n, bool tomb)
{
	if (tomb)
		tomb_add(g, n->k.key, n->k.len, n->pid, n->ver);
	tr__gidx_del(&g->idx, n->k.key, n->k.len, n->k.h);
	struct tr__pent *e = tr__ptab_get(g->by_pid, n->pid);
	if (e && e->ptr == n)
		tr__ptab_del(g->by_pid, e);
	tr__smap_del(&g->names, &n->k);
	g->digest ^= name_digest(n);
	tr_pid_t pid = n->pid;
	/* told once it is gone from the replica */
	name_event(g, "global_unregistered", n);
	name_free(n);
	unwatch_if_unused(g, pid);
}

static tr_err name_add(struct tr_global *g, const char *s, size_t len,
                       tr_pid_t pid, uint64_t ver, uint64_t rq_node,
                       uint64_t rq_id, const char *resolver, size_t rlen)
{
	struct gname *n = calloc(1, sizeof(*n));
	if (!n || !(n->k.key = dupn(s, len))) {
		free(n);
		return TR_ENOMEM;
	}
	n->k.len = len;
	n->k.h = tr__hash_bytes(s, len);
	n->pid = pid;
	n->ver = ver;
	n->rq_node = rq_node;
	n->rq_id = rq_id;
	if (rlen >= TR_RESOLVER_MAX)
		rlen = TR_RESOLVER_MAX - 1;
	memcpy(n->resolver, resolver, rlen);
	struct tr__pent *e;
	bool had;
	tr_err err = tr__ptab_put(&g->by_pid, pid, &e, &had);
	if (!err)
		err = tr__smap_put(&g->names, &n->k);
	if (!err)
		err = tr__gidx_put(&g->idx, n->k.key, len, n->k.h, pid);
	if (err) { /* out of memory: undo */
		if (tr__smap_get(&g->names, s, len, n->k.h) == &n->k)
			tr__smap_del(&g->names, &n->k);
		if ((e = tr__ptab_get(g->by_pid, pid)) && (!had || !e->ptr))
			tr__ptab_del(g->by_pid, e);
		name_free(n);
		return err;
	}
	e->ptr = n;
	g->digest ^= name_digest(n);
	watch(g, pid);
	name_event(g, "global_registered", n);
	return TR_OK;
}

static void lock_drop(struct tr_global *g, struct glock *l)
{
	tr__smap_del(&g->locks, &l->k);
	g->digest ^= lock_digest(l);
	tr_pid_t pid = l->pid;
	free(l->k.key);
	free(l);
	unwatch_if_unused(g, pid);
}

static tr_err lock_add(struct tr_global *g, const char *s, size_t len,
                       tr_pid_t pid, uint64_t token)
{
	struct glock *l = calloc(1, sizeof(*l));
	if (!l || !(l->k.key = dupn(s, len))) {
		free(l);
		return TR_ENOMEM;
	}
	l->k.len = len;
	l->k.h = tr__hash_bytes(s, len);
	l->pid = pid;
	l->token = token;
	if (tr__smap_put(&g->locks, &l->k)) {
		free(l->k.key);
		free(l);
		return TR_ENOMEM;
	}
	g->digest ^= lock_digest(l);
	watch(g, pid);
	return TR_OK;
}

/* Remove pid's name and locks (no tombstone for a node's loss). */
static void drop_pid(struct tr_global *g, tr_pid_t pid, bool tomb)
{
	struct gname *n = name_of_pid(g, pid);
	if (n)
		name_drop(g, n, tomb);
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->locks, k, nx) {
		if (tr_pid_eq(((struct glock *)k)->pid, pid))
			lock_drop(g, (struct glock *)k);
	}
}

static void table_clear(struct tr_global *g)
{
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->names, k, nx) {
		name_drop(g, (struct gname *)k, false);
	}
	tr__smap_foreach (&g->locks, k, nx) {
		lock_drop(g, (struct glock *)k);
	}
	g->digest = 0;
}

/* ---- table blobs: [version, [names], [tombs], [locks]] ------------------ */

static void blob_write(struct tr_global *g, struct tr_wbuf *b)
{
	tr__wb_array(b, 4);
	tr__wb_uint(b, BLOB_VERSION);
	struct tr__skey *k, *nx;
	tr__wb_array(b, (uint32_t)g->names.n);
	tr__smap_foreach (&g->names, k, nx) {
		struct gname *n = (struct gname *)k;
		tr__wb_array(b, 6);
		tr__wb_str(b, n->k.key, n->k.len);
		tr__wb_pid(b, n->pid);
		tr__wb_uint(b, n->ver);
		tr__wb_uint(b, n->rq_node);
		tr__wb_uint(b, n->rq_id);
		tr__wb_str(b, n->resolver, strlen(n->resolver));
	}
	tr__wb_array(b, (uint32_t)g->tombs.n);
	for (struct gtomb *t = g->tomb_old; t; t = t->newer) {
		tr__wb_array(b, 3);
		tr__wb_str(b, t->k.key, t->nlen);
		tr__wb_pid(b, t->pid);
		tr__wb_uint(b, t->ver);
	}
	tr__wb_array(b, (uint32_t)g->locks.n);
	tr__smap_foreach (&g->locks, k, nx) {
		struct glock *l = (struct glock *)k;
		tr__wb_array(b, 3);
		tr__wb_str(b, l->k.key, l->k.len);
		tr__wb_pid(b, l->pid);
		tr__wb_uint(b, l->token);
	}
}

struct bname {
	const char *name;
	size_t len;
	tr_pid_t pid;
	uint64_t ver, rq_node, rq_id;
	const char *res;
	size_t rlen;
};

struct bview {
	struct tr_wcur names, tombs, locks;
	size_t nn, nt, nl;
};

/* An array: *at = where its items start, *n = how many; c passes it. */
static bool skip_items(struct tr_wcur *c, struct tr_wcur *at, size_t *n)
{
	if (!tr__wr_array(c, n))
		return false;
	*at = *c;
	for (size_t i = 0; i < *n; i++)
		if (!tr__wr_skip(c))
			return false;
	return true;
}

static bool blob_open(const tr_msg_t *m, size_t idx, struct bview *v)
{
	const void *p;
	size_t len, cnt;
	uint64_t ver;
	if (tr_msg_get_raw(m, idx, &p, &len))
		return false;
	struct tr_wcur c = {p, len};
	if (!tr__wr_array(&c, &cnt) || cnt != 4 || !tr__wr_uint(&c, &ver) ||
	    ver != BLOB_VERSION)
		return false;
	return skip_items(&c, &v->names, &v->nn) &&
	       skip_items(&c, &v->tombs, &v->nt) &&
	       skip_items(&c, &v->locks, &v->nl) && c.n == 0;
}

static bool blob_name(struct tr_wcur *c, struct bname *e)
{
	size_t cnt;
	return tr__wr_array(c, &cnt) && cnt == 6 &&
	       tr__wr_str(c, &e->name, &e->len) && e->len > 0 &&
	       e->len <= TR_GLOBAL_NAME_MAX && !memchr(e->name, 0, e->len) &&
	       tr__wr_pid(c, &e->pid) && tr__wr_uint(c, &e->ver) &&
	       tr__wr_uint(c, &e->rq_node) && tr__wr_uint(c, &e->rq_id) &&
	       tr__wr_str(c, &e->res, &e->rlen);
}

static bool blob_tomb(struct tr_wcur *c, struct bname *e)
{
	size_t cnt;
	return tr__wr_array(c, &cnt) && cnt == 3 &&
	       tr__wr_str(c, &e->name, &e->len) && e->len > 0 &&
	       e->len <= TR_GLOBAL_NAME_MAX && !memchr(e->name, 0, e->len) &&
	       tr__wr_pid(c, &e->pid) && tr__wr_uint(c, &e->ver);
}

/* a lock: name = resource, ver = token */
static bool blob_lock(struct tr_wcur *c, struct bname *e)
{
	return blob_tomb(c, e);
}

/* ---- members and the view ------------------------------------------------ */

static struct member *member_by_name(struct tr_global *g, const char *name)
{
	for (size_t i = 0; i < g->nmem; i++)
		if (!strcmp(g->mem[i].name, name))
			return &g->mem[i];
	return NULL;
}

static struct member *member_by_pid(struct tr_global *g, tr_pid_t server)
{
	for (size_t i = 0; i < g->nmem; i++)
		if (tr_pid_eq(g->mem[i].server, server))
			return &g->mem[i];
	return NULL;
}

static bool node_in_view(struct tr_global *g, uint64_t node_id,
                         uint32_t creation)
{
	if (node_id == g->self_id)
		return creation == g->self_creation;
	for (size_t i = 0; i < g->nmem; i++)
		if (g->mem[i].id == node_id && g->mem[i].creation == creation)
			return true;
	return false;
}

static int cmp_member(const void *a, const void *b)
{
	return strcmp(((const struct member *)a)->name,
	              ((const struct member *)b)->name);
}

static void compute_view(struct tr_global *g)
{
	if (g->nmem)
		qsort(g->mem, g->nmem, sizeof(*g->mem), cmp_member);
	uint64_t v = mix(tr__hash_bytes(g->self, strlen(g->self)) ^
	                 g->self_creation);
	/* order-independent: members are sorted anyway, but self is not
	 * among them */
	for (size_t i = 0; i < g->nmem; i++)
		v += mix(
		        tr__hash_bytes(g->mem[i].name, strlen(g->mem[i].name)) ^
		        g->mem[i].creation);
	g->view = v ? v : 1;
	const char *lead = g->self;
	for (size_t i = 0; i < g->nmem; i++)
		if (strcmp(g->mem[i].name, lead) < 0)
			lead = g->mem[i].name;
	snprintf(g->leader_name, sizeof(g->leader_name), "%s", lead);
	g->leading = lead == g->self;
	g->leader = g->pid;
	if (!g->leading)
		g->leader = member_by_name(g, lead)->server;
}

static void send_view(struct tr_global *g, struct member *m)
{
	tr_msg_t *v = msg_new("g_view");
	if (!v)
		return;
	tr_msg_add_uint(v, g->view);
	tr_msg_add_uint(v, g->epoch);
	tr_msg_add_uint(v, g->digest);
	send_or_free(m->server, v);
}

static void check_stable(struct tr_global *g);
static void drop_leader_work(struct tr_global *g);

/* The membership changed: a new view, nothing installed for it yet. */
static void view_changed(struct tr_global *g)
{
	compute_view(g);
	g->ready = false;
	drop_leader_work(g);
	for (size_t i = 0; i < g->nmem; i++)
		send_view(g, &g->mem[i]);
	publish_info(g);
	check_stable(g);
}

static void member_remove(struct tr_global *g, struct member *m)
{
	tr_demonitor(m->mref, TR_DEMONITOR_FLUSH);
	tr_msg_free(m->table);
	*m = g->mem[--g->nmem];
}

/* ---- requests (this node's callers) -------------------------------------- */

static void req_free(struct req *r)
{
	free(r->name);
	free(r);
}

static void req_send(struct tr_global *g, struct req *r)
{
	tr_msg_t *m = msg_new("g_req");
	if (!m)
		return;
	tr_msg_add_uint(m, g->epoch);
	tr_msg_add_uint(m, r->id);
	tr_msg_add_uint(m, r->op);
	tr_msg_add_str(m, r->name ? r->name : "");
	tr_msg_add_pid(m, r->pid);
	tr_msg_add_str(m, r->resolver);
	tr_msg_add_uint(m, r->timeout_ms);
	send_or_free(g->leader, m);
}

static void req_done(struct tr_global *g, uint64_t id, tr_err e, uint64_t token)
{
	struct tr__pent *pe = tr__ptab_get(g->reqs, (tr_pid_t){0, id, 0});
	if (!pe)
		return;
	struct req *r = pe->ptr;
	tr__ptab_del(g->reqs, pe);
	if (r->has_from)
		answer(&r->from, e, token);
	req_free(r);
}

/* Answered once applied here and acknowledged by every other member
 * (the leader's own op message counts as its acknowledgement). */
static void req_check(struct tr_global *g, struct req *r)
{
	size_t need = g->leading ? g->nmem : g->nmem - 1;
	if (r->applied_epoch == g->epoch && r->ack_epoch == g->epoch &&
	    r->acks >= need)
		req_done(g, r->id, TR_OK, r->token);
}

static struct req *req_get(struct tr_global *g, uint64_t id)
{
	struct tr__pent *pe = tr__ptab_get(g->reqs, (tr_pid_t){0, id, 0});
	return pe ? pe->ptr : NULL;
}

static void req_applied(struct tr_global *g, uint64_t id, uint64_t token)
{
	struct req *r = req_get(g, id);
	if (!r)
		return;
	r->applied_epoch = g->epoch;
	r->token = token;
	if (r->ack_epoch != g->epoch) {
		r->ack_epoch = g->epoch;
		r->acks = 0;
	}
	req_check(g, r);
}

static void req_acked(struct tr_global *g, uint64_t epoch, uint64_t id)
{
	struct req *r = req_get(g, id);
	if (!r || epoch != g->epoch || !g->ready)
		return;
	if (r->ack_epoch != epoch) {
		r->ack_epoch = epoch;
		r->acks = 0;
	}
	r->acks++;
	req_check(g, r);
}

static void resend_all(struct tr_global *g)
{
	struct tr__pent *e;
	tr__ptab_foreach (g->reqs, e) {
		req_send(g, e->ptr);
	}
}

static tr_err req_new(struct tr_global *g, enum op op, const char *name,
                      size_t nlen, tr_pid_t pid, const char *resolver,
                      size_t rlen, uint64_t timeout_ms, const tr_from_t *from)
{
	if (tr__ptab_len(g->reqs) >= MAX_PENDING)
		return TR_ELIMIT;
	struct req *r = calloc(1, sizeof(*r));
	if (!r || (name && !(r->name = dupn(name, nlen)))) {
		free(r);
		return TR_ENOMEM;
	}
	r->id = ++g->next_req;
	r->op = op;
	r->pid = pid;
	if (rlen >= TR_RESOLVER_MAX)
		rlen = TR_RESOLVER_MAX - 1;
	if (resolver)
		memcpy(r->resolver, resolver, rlen);
	r->timeout_ms = timeout_ms;
	r->deadline_ms =
	        timeout_ms == TR_INFINITY ? UINT64_MAX : now_ms() + timeout_ms;
	if (from) {
		r->has_from = true;
		r->from = *from;
	}
	struct tr__pent *e;
	bool had;
	if (tr__ptab_put(&g->reqs, (tr_pid_t){0, r->id, 0}, &e, &had)) {
		req_free(r);
		return TR_ENOMEM;
	}
	e->ptr = r;
	if (g->ready)
		req_send(g, r);
	return TR_OK;
}

/* ---- leader: applying and replicating ops -------------------------------- */

static void apply_reg(struct tr_global *g, const char *s, size_t len,
                      tr_pid_t pid, uint64_t ver, uint64_t rq_node,
                      uint64_t rq_id, const char *res, size_t rlen, bool re)
{
	struct gname *cur = name_get(g, s, len);
	if (cur)
		name_drop(g, cur, true);
	struct gname *other = name_of_pid(g, pid);
	if (other && re)
		name_drop(g, other, true);
	name_add(g, s, len, pid, ver, rq_node, rq_id, res, rlen);
}

static void rep(tr_pid_t rq, uint64_t rq_id, tr_err e, uint64_t token)
{
	tr_msg_t *m = msg_new("g_rep");
	if (!m)
		return;
	tr_msg_add_uint(m, rq_id);
	tr_msg_add_uint(m, (uint64_t)e);
	tr_msg_add_uint(m, token);
	send_or_free(rq, m);
}

/* Number an op. The caller applies it, then op_send()s it. */
static uint64_t op_begin(struct tr_global *g)
{
	return ++g->seq;
}

static void req_applied(struct tr_global *g, uint64_t id, uint64_t token);

/* Send an applied op to every member; they acknowledge to the
 * requester, which answers its caller once every member has it. */
static void op_send(struct tr_global *g, tr_msg_t *op, tr_pid_t rq,
                    uint64_t rq_id, uint64_t token)
{
	g->ops_applied++;
	/* what tr_global_info() says is current before anyone can hear the
	 * op is through */
	publish_info(g);
	const char *lose =
	        atomic_load_explicit(&g->lose_ops_to, memory_order_relaxed);
	for (size_t i = 0; op && i < g->nmem; i++) {
		tr_msg_t *c = NULL;
		if (lose && !strcmp(g->mem[i].name, lose))
			continue; /* op freed below if it was the last */
		if (i + 1 < g->nmem) {
			if (tr_msg_dup(op, &c))
				continue;
		} else {
			c = op;
			op = NULL;
		}
		send_or_free(g->mem[i].server, c);
	}
	tr_msg_free(op);
	if (tr_pid_eq(rq, g->pid))
		req_applied(g, rq_id, token);
}

/* ["g_op", epoch, seq, requester, rq_id, op, ...] */
static tr_msg_t *op_msg(struct tr_global *g, enum op op, tr_pid_t rq,
                        uint64_t rq_id)
{
	tr_msg_t *m = msg_new("g_op");
	if (!m)
		return NULL;
	tr_msg_add_uint(m, g->epoch);
	tr_msg_add_uint(m, g->seq);
	tr_msg_add_pid(m, rq);
	tr_msg_add_uint(m, rq_id);
	tr_msg_add_uint(m, op);
	return m;
}

static void grant_next(struct tr_global *g, const char *res, size_t len);

static void leader_lock(struct tr_global *g, const char *res, size_t len,
                        tr_pid_t pid, tr_pid_t rq, uint64_t rq_id)
{
	op_begin(g);
	uint64_t token = g->epoch << 32 | g->seq;
	lock_add(g, res, len, pid, token);
	tr_msg_t *m = op_msg(g, OP_LOCK, rq, rq_id);
	if (m) {
		tr_msg_add_strn(m, res, len);
		tr_msg_add_pid(m, pid);
		tr_msg_add_uint(m, token);
	}
	op_send(g, m, rq, rq_id, token);
}

static void leader_unlock(struct tr_global *g, struct glock *l, tr_pid_t rq,
                          uint64_t rq_id)
{
	char res[TR_GLOBAL_NAME_MAX + 1];
	size_t len = l->k.len;
	memcpy(res, l->k.key, len);
	tr_pid_t pid = l->pid;
	op_begin(g);
	lock_drop(g, l);
	tr_msg_t *m = op_msg(g, OP_UNLOCK, rq, rq_id);
	if (m) {
		tr_msg_add_strn(m, res, len);
		tr_msg_add_pid(m, pid);
	}
	op_send(g, m, rq, rq_id, 0);
	grant_next(g, res, len);
}

static void grant_next(struct tr_global *g, const char *res, size_t len)
{
	struct waiter **pp = &g->waiters, *w;
	while ((w = *pp)) {
		if (strlen(w->res) == len && !memcmp(w->res, res, len)) {
			*pp = w->next;
			leader_lock(g, res, len, w->pid, w->rq_server,
			            w->rq_id);
			free(w->res);
			free(w);
			return;
		}
		pp = &w->next;
	}
}

static void drop_waiters(struct tr_global *g, const char *res, size_t len,
                         tr_pid_t pid, bool any_res)
{
	struct waiter **pp = &g->waiters, *w;
	while ((w = *pp)) {
		if (tr_pid_eq(w->pid, pid) &&
		    (any_res ||
		     (strlen(w->res) == len && !memcmp(w->res, res, len)))) {
			*pp = w->next;
			rep(w->rq_server, w->rq_id, TR_ECANCELED, 0);
			free(w->res);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* Forget what the leader owed for the epoch that ended. Requesters
 * resend once a new epoch is installed. */
static void drop_leader_work(struct tr_global *g)
{
	while (g->waiters) {
		struct waiter *w = g->waiters;
		g->waiters = w->next;
		free(w->res);
		free(w);
	}
	g->syncing = false;
	for (size_t i = 0; i < g->nmem; i++) {
		tr_msg_free(g->mem[i].table);
		g->mem[i].table = NULL;
		g->mem[i].pull = false;
	}
}

/* A name or lock for pid: the pid must be an actor of the view. */
static tr_err check_target(struct tr_global *g, size_t len, tr_pid_t pid)
{
	if (!len || tr_pid_is_none(pid))
		return TR_EINVAL;
	if (!node_in_view(g, pid.node, pid.creation))
		return TR_EUNREACHABLE;
	return TR_OK;
}

static void leader_req(struct tr_global *g, tr_msg_t *m)
{
	uint64_t epoch, rq_id, op, timeout;
	const char *s, *res;
	size_t len, rlen;
	tr_pid_t pid, rq = tr_msg_sender(m);
	if (tr_msg_get_uint(m, 0, &epoch) || tr_msg_get_uint(m, 1, &rq_id) ||
	    tr_msg_get_uint(m, 2, &op) || tr_msg_get_str(m, 3, &s, &len) ||
	    tr_msg_get_pid(m, 4, &pid) || tr_msg_get_str(m, 5, &res, &rlen) ||
	    tr_msg_get_uint(m, 6, &timeout) || op < OP_REG || op > OP_UNLOCK ||
	    len > TR_GLOBAL_NAME_MAX || memchr(s, 0, len)) {
		g->rejected++;
		return;
	}
	if (!g->ready || !g->leading || epoch != g->epoch) {
		g->rejected++; /* resent after the next install */
		return;
	}
	uint64_t rq_node = rq.node;
	tr_err e;
	struct gname *cur = NULL, *pn;
	struct glock *l;
	tr_msg_t *o;
	switch ((enum op)op) {
	case OP_REG:
	case OP_REREG:
		if ((e = check_target(g, len, pid))) {
			rep(rq, rq_id, e, 0);
			return;
		}
		cur = name_get(g, s, len);
		pn = name_of_pid(g, pid);
		if (cur && cur->rq_node == rq_node && cur->rq_id == rq_id &&
		    tr_pid_eq(cur->pid, pid)) {
			rep(rq, rq_id, TR_OK, 0); /* a resend */
			return;
		}
		if (op == OP_REG && (cur || pn)) {
			rep(rq, rq_id, TR_EEXIST, 0);
			return;
		}
		if (pn && pn != cur) {
			rep(rq, rq_id, TR_EEXIST, 0);
			return;
		}
		op_begin(g);
		if (!rlen) {
			res = TR_RESOLVE_EXIT;
			rlen = strlen(res);
		}
		apply_reg(g, s, len, pid, g->epoch << 32 | g->seq, rq_node,
		          rq_id, res, rlen, op == OP_REREG);
		if ((o = op_msg(g, (enum op)op, rq, rq_id))) {
			tr_msg_add_strn(o, s, len);
			tr_msg_add_pid(o, pid);
			tr_msg_add_uint(o, g->epoch << 32 | g->seq);
			tr_msg_add_uint(o, rq_node);
			tr_msg_add_uint(o, rq_id);
			tr_msg_add_strn(o, res, rlen);
		}
		{
			op_send(g, o, rq, rq_id, 0);
			return;
		}
	case OP_UNREG:
		if (!(cur = name_get(g, s, len))) {
			rep(rq, rq_id, TR_OK, 0);
			return;
		}
		op_begin(g);
		name_drop(g, cur, true);
		if ((o = op_msg(g, OP_UNREG, rq, rq_id)))
			tr_msg_add_strn(o, s, len);
		{
			op_send(g, o, rq, rq_id, 0);
			return;
		}
	case OP_UNREG_PID: {
		drop_waiters(g, NULL, 0, pid, true);
		if (!name_of_pid(g, pid) && !holds_lock(g, pid)) {
			rep(rq, rq_id, TR_OK, 0);
			return;
		}
		/* the locks it held, to hand over afterwards */
		char(*freed)[TR_GLOBAL_NAME_MAX + 1] = NULL;
		size_t nf = 0, cap = 0;
		struct tr__skey *k, *nx;
		tr__smap_foreach (&g->locks, k, nx) {
			if (!tr_pid_eq(((struct glock *)k)->pid, pid))
				continue;
			if (nf == cap) {
				cap = cap ? cap * 2 : 4;
				void *v = realloc(freed, cap * sizeof(*freed));
				if (!v)
					break;
				freed = v;
			}
			memcpy(freed[nf], k->key, k->len);
			freed[nf++][k->len] = 0;
		}
		op_begin(g);
		drop_pid(g, pid, true);
		if ((o = op_msg(g, OP_UNREG_PID, rq, rq_id)))
			tr_msg_add_pid(o, pid);
		op_send(g, o, rq, rq_id, 0);
		for (size_t i = 0; i < nf; i++)
			grant_next(g, freed[i], strlen(freed[i]));
		free(freed);
		return;
	}
	case OP_LOCK:
		if ((e = check_target(g, len, pid))) {
			rep(rq, rq_id, e, 0);
			return;
		}
		l = lock_get(g, s, len);
		if (l && tr_pid_eq(l->pid, pid)) {
			rep(rq, rq_id, TR_OK, l->token);
			return;
		}
		if (!l) {
			leader_lock(g, s, len, pid, rq, rq_id);
			return;
		}
		if (!timeout) {
			rep(rq, rq_id, TR_EAGAIN, 0);
			return;
		}
		for (struct waiter *w = g->waiters; w; w = w->next)
			if (tr_pid_eq(w->rq_server, rq) && w->rq_id == rq_id)
				return; /* already in line */
		struct waiter *w = calloc(1, sizeof(*w)), **pp;
		if (!w || !(w->res = dupn(s, len))) {
			free(w);
			{
				rep(rq, rq_id, TR_ENOMEM, 0);
				return;
			}
		}
		w->pid = pid;
		w->rq_server = rq;
		w->rq_id = rq_id;
		w->deadline_ms = timeout == TR_INFINITY ? UINT64_MAX
		                                        : now_ms() + timeout;
		for (pp = &g->waiters; *pp; pp = &(*pp)->next)
			;
		*pp = w;
		return;
	case OP_UNLOCK:
		drop_waiters(g, s, len, pid, false);
		l = lock_get(g, s, len);
		if (!l || !tr_pid_eq(l->pid, pid)) {
			rep(rq, rq_id, TR_OK, 0);
			return;
		}
		{
			leader_unlock(g, l, rq, rq_id);
			return;
		}
	}
}

/* ---- replicas: applying the leader's ops --------------------------------- */

/* A name as every entry point accepts it: not empty, no NUL, not too
 * long (an op from a leader gets no less checking than a request). */
static bool op_name_ok(const char *s, size_t len)
{
	return len && len <= TR_GLOBAL_NAME_MAX && !memchr(s, 0, len);
}

static void replica_op(struct tr_global *g, tr_msg_t *m)
{
	uint64_t epoch, seq, op, rq_id;
	tr_pid_t rq;
	if (tr_msg_get_uint(m, 0, &epoch) || tr_msg_get_uint(m, 1, &seq) ||
	    tr_msg_get_pid(m, 2, &rq) || tr_msg_get_uint(m, 3, &rq_id) ||
	    tr_msg_get_uint(m, 4, &op) || !g->ready || g->leading ||
	    epoch != g->epoch || !tr_pid_eq(tr_msg_sender(m), g->leader) ||
	    seq != g->seq + 1) {
		g->rejected++;
		return;
	}
	const char *s = NULL, *res;
	size_t len = 0, rlen;
	tr_pid_t pid;
	uint64_t ver, rq_node, grant_id, token = 0;
	bool ok = false;
	switch (op) {
	case OP_REG:
	case OP_REREG:
		ok = !tr_msg_get_str(m, 5, &s, &len) &&
		     !tr_msg_get_pid(m, 6, &pid) &&
		     !tr_msg_get_uint(m, 7, &ver) &&
		     !tr_msg_get_uint(m, 8, &rq_node) &&
		     !tr_msg_get_uint(m, 9, &grant_id) &&
		     !tr_msg_get_str(m, 10, &res, &rlen) && op_name_ok(s, len);
		if (ok)
			apply_reg(g, s, len, pid, ver, rq_node, grant_id, res,
			          rlen, op == OP_REREG);
		break;
	case OP_UNREG:
		ok = !tr_msg_get_str(m, 5, &s, &len);
		struct gname *n = ok ? name_get(g, s, len) : NULL;
		if (n)
			name_drop(g, n, true);
		break;
	case OP_UNREG_PID:
		ok = !tr_msg_get_pid(m, 5, &pid);
		if (ok)
			drop_pid(g, pid, true);
		break;
	case OP_LOCK:
		ok = !tr_msg_get_str(m, 5, &s, &len) &&
		     !tr_msg_get_pid(m, 6, &pid) &&
		     !tr_msg_get_uint(m, 7, &token) && op_name_ok(s, len);
		if (ok) {
			struct glock *l = lock_get(g, s, len);
			if (l)
				lock_drop(g, l);
			lock_add(g, s, len, pid, token);
		}
		break;
	case OP_UNLOCK:
		ok = !tr_msg_get_str(m, 5, &s, &len) &&
		     !tr_msg_get_pid(m, 6, &pid);
		struct glock *l = ok ? lock_get(g, s, len) : NULL;
		if (l && tr_pid_eq(l->pid, pid))
			lock_drop(g, l);
		break;
	}
	if (!ok) {
		g->rejected++;
		return;
	}
	g->seq = seq;
	g->ops_applied++;
	publish_info(g); /* before the ack: see op_send() */
	if (tr_pid_eq(rq, g->pid)) {
		req_applied(g, rq_id, token);
		return;
	}
	/* the requester hears from every member itself */
	tr_msg_t *a = msg_new("g_ack");
	if (a) {
		tr_msg_add_uint(a, epoch);
		tr_msg_add_uint(a, rq_id);
		send_or_free(rq, a);
	}
}

/* ---- sync: merge and install --------------------------------------------- */

struct cand {
	struct bname b;
	const char *res; /* resolver */
	size_t rlen;
};

static int cmp_cand(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	if (a->b.len != b->b.len)
		return a->b.len < b->b.len ? -1 : 1;
	int c = memcmp(a->b.name, b->b.name, a->b.len);
	if (c)
		return c;
	if (a->b.ver != b->b.ver)
		return a->b.ver < b->b.ver ? -1 : 1;
	return pid_cmp(a->b.pid, b->b.pid);
}

struct conflict {
	const struct cand *kept; /* NULL: name removed */
	const struct cand *lost;
	const struct cand *other; /* kept == NULL: the other loser */
	const char *rule;
	bool lock;
};

static bool cf_push(struct conflict **cf, size_t *n, size_t *cap,
                    struct conflict c)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void *v = realloc(*cf, nc * sizeof(**cf));
		if (!v)
			return false;
		*cf = v;
		*cap = nc;
	}
	(*cf)[(*n)++] = c;
	return true;
}

static bool resolver_find(struct tr_global *g, const char *id, size_t len,
                          struct resolver *out)
{
	bool found = false;
	pthread_mutex_lock(&g->res_lock);
	for (size_t i = 0; i < g->nresolvers; i++) {
		if (strlen(g->resolvers[i].id) == len &&
		    !memcmp(g->resolvers[i].id, id, len)) {
			*out = g->resolvers[i];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&g->res_lock);
	return found;
}

static bool is_rule(const char *s, size_t n, const char *rule)
{
	return strlen(rule) == n && !memcmp(s, rule, n);
}

/*
 * Settle one name held by several grants c[0..n) (sorted: earliest
 * first). Returns the kept candidate or NULL; appends the conflicts.
 */
static const struct cand *resolve(struct tr_global *g, const struct cand *c,
                                  size_t n, struct conflict **cf, size_t *ncf,
                                  size_t *capcf)
{
	const struct cand *w = &c[0];
	for (size_t i = 1; i < n; i++) {
		if (tr_pid_eq(c[i].b.pid, w->b.pid))
			continue; /* the same actor on both sides */
		const char *rule = TR_RESOLVE_EXIT;
		const struct cand *kept = w, *lost = &c[i];
		if (is_rule(w->res, w->rlen, TR_RESOLVE_NOTIFY)) {
			rule = TR_RESOLVE_NOTIFY;
		} else if (is_rule(w->res, w->rlen, TR_RESOLVE_NONE)) {
			rule = TR_RESOLVE_NONE;
			kept = NULL;
		} else if (!is_rule(w->res, w->rlen, TR_RESOLVE_EXIT)) {
			struct resolver r;
			if (resolver_find(g, w->res, w->rlen, &r)) {
				char nm[TR_GLOBAL_NAME_MAX + 1];
				memcpy(nm, w->b.name, w->b.len);
				nm[w->b.len] = 0;
				tr_pid_t k =
				        r.fn(nm, w->b.pid, c[i].b.pid, r.ctx);
				rule = "custom";
				if (tr_pid_eq(k, c[i].b.pid)) {
					kept = &c[i];
					lost = w;
				} else if (!tr_pid_eq(k, w->b.pid)) {
					kept = NULL;
				}
			} else {
				g->resolver_missing++;
			}
		}
		if (kept) {
			cf_push(cf, ncf, capcf,
			        (struct conflict){kept, lost, NULL, rule,
			                          false});
			w = kept;
			continue;
		}
		/* nobody keeps it: every other grant of the line loses too */
		cf_push(cf, ncf, capcf,
		        (struct conflict){NULL, w, &c[i], rule, false});
		for (size_t j = i; j < n; j++)
			if (!tr_pid_eq(c[j].b.pid, w->b.pid))
				cf_push(cf, ncf, capcf,
				        (struct conflict){NULL, &c[j], w, rule,
				                          false});
		return NULL;
	}
	return w;
}

static void collect(struct tr_global *g, const struct bview *v,
                    struct cand **names, size_t *nn, size_t *cn,
                    struct cand **locks, size_t *nl, size_t *cl,
                    struct tr_global *tg)
{
	(void)g;
	struct tr_wcur c = v->names;
	for (size_t i = 0; i < v->nn; i++) {
		struct cand e;
		if (!blob_name(&c, &e.b))
			return;
		e.res = e.b.res;
		e.rlen = e.b.rlen;
		if (*nn == *cn) {
			*cn = *cn ? *cn * 2 : 64;
			*names = realloc(*names, *cn * sizeof(**names));
			if (!*names)
				return;
		}
		(*names)[(*nn)++] = e;
	}
	c = v->tombs;
	for (size_t i = 0; i < v->nt; i++) {
		struct bname e;
		if (!blob_tomb(&c, &e))
			return;
		tomb_add(tg, e.name, e.len, e.pid, e.ver);
	}
	c = v->locks;
	for (size_t i = 0; i < v->nl; i++) {
		struct cand e;
		if (!blob_lock(&c, &e.b))
			return;
		e.res = NULL;
		e.rlen = 0;
		if (*nl == *cl) {
			*cl = *cl ? *cl * 2 : 16;
			*locks = realloc(*locks, *cl * sizeof(**locks));
			if (!*locks)
				return;
		}
		(*locks)[(*nl)++] = e;
	}
}

static void send_install(struct tr_global *g, struct member *m,
                         const struct tr_wbuf *blob, const struct tr_wbuf *cf)
{
	tr_msg_t *i = msg_new("g_install");
	if (!i)
		return;
	tr_msg_add_uint(i, g->epoch);
	tr_msg_add_uint(i, g->view);
	tr_msg_add_uint(i, g->digest);
	if (m->digest != g->digest && blob)
		tr_msg_add_raw(i, blob->p, blob->len);
	else
		tr_msg_add_nil(i);
	tr_msg_add_raw(i, cf->p, cf->len);
	send_or_free(m->server, i);
}

static void emit_conflicts(struct tr_global *g, const tr_msg_t *m, size_t idx);
static void installed(struct tr_global *g);

/* Rebuild the table from a blob (the leader's merge or an install). */
static void table_load(struct tr_global *g, const struct cand *nm, size_t nn,
                       const struct cand *lk, size_t nl)
{
	g->quiet = true;
	table_clear(g);
	for (size_t i = 0; i < nn; i++)
		name_add(g, nm[i].b.name, nm[i].b.len, nm[i].b.pid, nm[i].b.ver,
		         nm[i].b.rq_node, nm[i].b.rq_id, nm[i].res, nm[i].rlen);
	for (size_t i = 0; i < nl; i++)
		lock_add(g, lk[i].b.name, lk[i].b.len, lk[i].b.pid,
		         lk[i].b.ver);
	g->quiet = false;
}

static void finish_sync(struct tr_global *g)
{
	/* Every candidate: ours and the members' tables. */
	struct cand *nm = NULL, *lk = NULL;
	size_t nn = 0, cn = 0, nl = 0, cl = 0;
	struct tr_wbuf mine = {0};
	blob_write(g, &mine);
	tr_msg_t *own = msg_new("t");
	struct bview v;
	bool ok = own && !mine.oom && !tr_msg_add_raw(own, mine.p, mine.len) &&
	          blob_open(own, 0, &v);
	tr__wb_free(&mine);
	if (ok)
		collect(g, &v, &nm, &nn, &cn, &lk, &nl, &cl, g);
	for (size_t i = 0; ok && i < g->nmem; i++)
		if (g->mem[i].table && blob_open(g->mem[i].table, 2, &v))
			collect(g, &v, &nm, &nn, &cn, &lk, &nl, &cl, g);
	if (!ok || (cn && !nm) || (cl && !lk)) {
		/* out of memory: try again at the next tick */
		free(nm);
		free(lk);
		tr_msg_free(own);
		g->syncing = false;
		return;
	}
	/* Names: drop removed grants and those whose node is gone, then
	 * settle each name held by several grants. */
	size_t k = 0;
	for (size_t i = 0; i < nn; i++)
		if (!tomb_has(g, nm[i].b.name, nm[i].b.len, nm[i].b.pid,
		              nm[i].b.ver) &&
		    node_in_view(g, nm[i].b.pid.node, nm[i].b.pid.creation))
			nm[k++] = nm[i];
	nn = k;
	if (nn)
		qsort(nm, nn, sizeof(*nm), cmp_cand);
	struct cand *out = malloc((nn ? nn : 1) * sizeof(*out));
	struct conflict *cf = NULL;
	size_t ncf = 0, capcf = 0, no = 0;
	for (size_t i = 0; out && i < nn;) {
		size_t j = i + 1;
		while (j < nn && nm[j].b.len == nm[i].b.len &&
		       !memcmp(nm[j].b.name, nm[i].b.name, nm[i].b.len))
			j++;
		/* exact duplicates (same grant from several nodes) */
		size_t u = i + 1;
		for (size_t x = i + 1; x < j; x++)
			if (nm[x].b.ver != nm[u - 1].b.ver ||
			    !tr_pid_eq(nm[x].b.pid, nm[u - 1].b.pid))
				nm[u++] = nm[x];
		const struct cand *w =
		        resolve(g, &nm[i], u - i, &cf, &ncf, &capcf);
		if (w)
			out[no++] = *w;
		i = j;
	}
	/* one name per actor: a pid holding two names after a heal keeps
	 * the earlier grant */
	/* Locks: one holder per resource, the smallest token. */
	if (nl)
		qsort(lk, nl, sizeof(*lk), cmp_cand);
	size_t kl = 0;
	for (size_t i = 0; i < nl; i++) {
		if (!node_in_view(g, lk[i].b.pid.node, lk[i].b.pid.creation))
			continue;
		if (kl && lk[kl - 1].b.len == lk[i].b.len &&
		    !memcmp(lk[kl - 1].b.name, lk[i].b.name, lk[i].b.len)) {
			if (!tr_pid_eq(lk[kl - 1].b.pid, lk[i].b.pid))
				cf_push(&cf, &ncf, &capcf,
				        (struct conflict){&lk[kl - 1], &lk[i],
				                          NULL, "lock", true});
			continue;
		}
		lk[kl++] = lk[i];
	}
	/* The conflicts, for every member's subscribers:
	 * [[name, kept|nil, lost, rule, is_lock], ...] */
	struct tr_wbuf cb = {0};
	tr__wb_array(&cb, (uint32_t)ncf);
	for (size_t i = 0; i < ncf; i++) {
		tr__wb_array(&cb, 5);
		tr__wb_str(&cb, cf[i].lost->b.name, cf[i].lost->b.len);
		if (cf[i].kept)
			tr__wb_pid(&cb, cf[i].kept->b.pid);
		else
			tr__wb_nil(&cb);
		tr__wb_pid(&cb, cf[i].lost->b.pid);
		tr__wb_str(&cb, cf[i].rule, strlen(cf[i].rule));
		tr__wb_uint(&cb, cf[i].lock);
	}
	/* Carry out the resolutions (before the table is rebuilt: the
	 * candidates point into the blobs, which live until the end). */
	for (size_t i = 0; i < ncf; i++) {
		struct conflict *c = &cf[i];
		char nm0[TR_GLOBAL_NAME_MAX + 1];
		memcpy(nm0, c->lost->b.name, c->lost->b.len);
		nm0[c->lost->b.len] = 0;
		tr_msg_t *n;
		if (c->lock) {
			if ((n = msg_new("global_lock_lost"))) {
				tr_msg_add_str(n, nm0);
				tr_msg_add_uint(n, c->lost->b.ver);
				send_or_free(c->lost->b.pid, n);
			}
		} else if (!strcmp(c->rule, TR_RESOLVE_EXIT)) {
			tr_exit(c->lost->b.pid, TR_KILL);
		} else if (!c->kept) {
			if ((n = msg_new("global_name_conflict"))) {
				tr_msg_add_str(n, nm0);
				tr_msg_add_pid(n, c->other->b.pid);
				send_or_free(c->lost->b.pid, n);
			}
		} else if ((n = msg_new("global_name_conflict"))) {
			tr_msg_add_str(n, nm0);
			send_or_free(c->lost->b.pid, n);
		}
	}
	g->conflicts += ncf;
	g->epoch = g->sync_epoch;
	g->seq = 0;
	table_load(g, out, no, lk, kl);
	struct tr_wbuf blob = {0};
	blob_write(g, &blob);
	for (size_t i = 0; i < g->nmem; i++) {
		send_install(g, &g->mem[i], blob.oom ? NULL : &blob, &cb);
		tr_msg_free(g->mem[i].table);
		g->mem[i].table = NULL;
		g->mem[i].pull = false;
	}
	tr__wb_free(&blob);
	g->syncing = false;
	/* our own subscribers */
	tr_msg_t *cm = msg_new("c");
	if (cm && !tr_msg_add_raw(cm, cb.p, cb.len))
		emit_conflicts(g, cm, 0);
	tr_msg_free(cm);
	tr__wb_free(&cb);
	free(nm);
	free(lk);
	free(out);
	free(cf);
	tr_msg_free(own);
	installed(g);
}

static void start_sync(struct tr_global *g)
{
	uint64_t e = g->epoch;
	for (size_t i = 0; i < g->nmem; i++)
		if (g->mem[i].epoch > e)
			e = g->mem[i].epoch;
	g->sync_epoch = e + 1;
	g->syncing = true;
	g->sync_ms = now_ms();
	bool waiting = false;
	for (size_t i = 0; i < g->nmem; i++) {
		struct member *m = &g->mem[i];
		tr_msg_free(m->table);
		m->table = NULL;
		m->pull = m->digest != g->digest;
		if (!m->pull)
			continue;
		tr_msg_t *p = msg_new("g_pull");
		if (!p)
			continue;
		tr_msg_add_uint(p, g->sync_epoch);
		tr_msg_add_uint(p, g->view);
		send_or_free(m->server, p);
		waiting = true;
	}
	if (!waiting)
		finish_sync(g);
}

static void check_stable(struct tr_global *g)
{
	if (g->ready || g->syncing || !g->leading)
		return;
	for (size_t i = 0; i < g->nmem; i++)
		if (g->mem[i].view != g->view)
			return;
	start_sync(g);
}

static void emit_conflicts(struct tr_global *g, const tr_msg_t *m, size_t idx)
{
	const void *p;
	size_t len, n, cnt;
	if (tr_msg_get_raw(m, idx, &p, &len))
		return;
	struct tr_wcur c = {p, len};
	if (!tr__wr_array(&c, &n))
		return;
	if (idx) /* a member counts what the leader settled */
		g->conflicts += n;
	for (size_t i = 0; i < n; i++) {
		const char *s, *rule;
		size_t sl, rl;
		tr_pid_t kept = TR_PID_NONE, lost;
		uint64_t is_lock;
		if (!tr__wr_array(&c, &cnt) || cnt != 5 ||
		    !tr__wr_str(&c, &s, &sl) ||
		    (!tr__wr_nil(&c) && !tr__wr_pid(&c, &kept)) ||
		    !tr__wr_pid(&c, &lost) || !tr__wr_str(&c, &rule, &rl) ||
		    !tr__wr_uint(&c, &is_lock))
			return;
		tr_msg_t *ev = msg_new(is_lock ? "global_lock_conflict"
		                               : "global_conflict");
		if (!ev)
			continue;
		tr_msg_add_strn(ev, s, sl);
		if (tr_pid_is_none(kept))
			tr_msg_add_nil(ev);
		else
			tr_msg_add_pid(ev, kept);
		tr_msg_add_pid(ev, lost);
		if (!is_lock)
			tr_msg_add_strn(ev, rule, rl);
		notify_subs(g, ev);
	}
}

/* An epoch is installed here: resend what waits, check the owners. */
static void sync_waiters(struct tr_global *g);

static void installed(struct tr_global *g)
{
	g->ready = true;
	g->syncs++;
	/* Names and locks of local actors that died meanwhile. */
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->names, k, nx) {
		struct gname *n = (struct gname *)k;
		if (is_local(g, n->pid) && !tr_is_alive(n->pid))
			req_new(g, OP_UNREG_PID, NULL, 0, n->pid, NULL, 0,
			        TR_INFINITY, NULL);
	}
	tr__smap_foreach (&g->locks, k, nx) {
		struct glock *l = (struct glock *)k;
		if (is_local(g, l->pid) && !tr_is_alive(l->pid))
			req_new(g, OP_UNREG_PID, NULL, 0, l->pid, NULL, 0,
			        TR_INFINITY, NULL);
	}
	resend_all(g);
	tr_msg_t *ev = msg_new("global_leader");
	if (ev) {
		tr_msg_add_str(ev, g->leader_name);
		tr_msg_add_uint(ev, g->epoch);
		notify_subs(g, ev);
	}
	publish_info(g); /* before anyone waiting hears of it */
	sync_waiters(g);
}

static void replica_install(struct tr_global *g, tr_msg_t *m)
{
	uint64_t epoch, view, digest;
	if (tr_msg_get_uint(m, 0, &epoch) || tr_msg_get_uint(m, 1, &view) ||
	    tr_msg_get_uint(m, 2, &digest) || g->leading || view != g->view ||
	    epoch <= g->epoch || !tr_pid_eq(tr_msg_sender(m), g->leader)) {
		g->rejected++;
		return;
	}
	tr_type_t t;
	if (tr_msg_type(m, 3, &t) == TR_OK && t != TR_T_NIL) {
		struct bview v;
		if (!blob_open(m, 3, &v)) {
			g->rejected++;
			return;
		}
		struct cand *nm = NULL, *lk = NULL;
		size_t nn = 0, cn = 0, nl = 0, cl = 0;
		collect(g, &v, &nm, &nn, &cn, &lk, &nl, &cl, g);
		table_load(g, nm, nn, lk, nl);
		free(nm);
		free(lk);
	}
	g->epoch = epoch;
	g->seq = 0;
	emit_conflicts(g, m, 4);
	installed(g);
}

/* ---- sync waiters (tr_global_sync) --------------------------------------- */

static bool synced(struct tr_global *g)
{
	if (!g->ready)
		return false;
	tr_peer_info_t peers[64];
	size_t n = 0, up = 0;
	if (tr_net_nodes(g->net, peers, 64, &n))
		return false;
	if (n > 64)
		return g->nmem >= n; /* rare: count members only */
	for (size_t i = 0; i < n; i++)
		if (peers[i].state == TR_PEER_UP && !peers[i].hidden) {
			up++;
			struct member *mm = member_by_name(g, peers[i].name);
			if (!mm || mm->creation != peers[i].creation)
				return false;
		}
	return up == g->nmem;
}

static void sync_waiters(struct tr_global *g)
{
	uint64_t now = now_ms();
	size_t k = 0;
	bool ok = synced(g);
	for (size_t i = 0; i < g->nsync; i++) {
		if (ok)
			answer(&g->syncers[i].from, TR_OK, 0);
		else if (now >= g->syncers[i].deadline_ms)
			answer(&g->syncers[i].from, TR_ETIMEDOUT, 0);
		else
			g->syncers[k++] = g->syncers[i];
	}
	g->nsync = k;
}

/* ---- the server actor ---------------------------------------------------- */

static void hello(struct tr_global *g, const char *node, bool want_reply)
{
	tr_msg_t *m = msg_new("g_hi");
	if (!m)
		return;
	tr_msg_add_str(m, g->self);
	tr_msg_add_bool(m, want_reply);
	if (tr_send_named(g->net, node, TR_GLOBAL_SERVER, m))
		tr_msg_free(m);
}

static void on_hi(struct tr_global *g, tr_msg_t *m)
{
	char name[TR_NODE_NAME_MAX + 1];
	bool want;
	tr_pid_t from = tr_msg_sender(m);
	if (tr_msg_get_strbuf(m, 0, name, sizeof(name)) ||
	    tr_msg_get_bool(m, 1, &want) ||
	    tr_node_id_of_name(name) != from.node || from.node == g->self_id ||
	    !tr_net_is_up(g->net, name)) {
		g->rejected++;
		return;
	}
	/* asked: always answer, even when the sender is a member already
	 * (it may have lost us: a nodedown of an old session can reach it
	 * after our hello on the new one) */
	if (want)
		hello(g, name, false);
	struct member *mm = member_by_name(g, name);
	if (mm && tr_pid_eq(mm->server, from))
		return;
	if (mm)
		member_remove(g, mm);
	if (g->nmem == MAX_MEMBERS) {
		g->rejected++;
		return;
	}
	struct member *n = realloc(g->mem, (g->nmem + 1) * sizeof(*n));
	if (!n)
		return;
	g->mem = n;
	mm = &g->mem[g->nmem++];
	memset(mm, 0, sizeof(*mm));
	snprintf(mm->name, sizeof(mm->name), "%s", name);
	mm->id = from.node;
	mm->creation = from.creation;
	mm->server = from;
	tr_monitor(from, &mm->mref);
	view_changed(g);
}

static void node_gone(struct tr_global *g, uint64_t node_id)
{
	/* Everything the lost node's actors held, everywhere alike. */
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->names, k, nx) {
		if (((struct gname *)k)->pid.node == node_id)
			name_drop(g, (struct gname *)k, false);
	}
	tr__smap_foreach (&g->locks, k, nx) {
		if (((struct glock *)k)->pid.node == node_id)
			lock_drop(g, (struct glock *)k);
	}
}

static void on_nodedown(struct tr_global *g, const char *name)
{
	struct member *mm = member_by_name(g, name);
	if (!mm)
		return;
	uint64_t id = mm->id;
	member_remove(g, mm);
	node_gone(g, id);
	view_changed(g);
}

static void on_down(struct tr_global *g, tr_msg_t *m)
{
	tr_ref_t ref;
	tr_pid_t pid;
	char reason[TR_REASON_MAX];
	if (tr_msg_down_info(m, &ref, &pid, reason, sizeof(reason)))
		return;
	for (size_t i = 0; i < g->nmem; i++) {
		if (tr_ref_eq(g->mem[i].mref, ref)) { /* its server went */
			uint64_t id = g->mem[i].id;
			member_remove(g, &g->mem[i]);
			node_gone(g, id);
			view_changed(g);
			return;
		}
	}
	for (size_t i = 0; i < g->nsubs; i++) {
		if (tr_ref_eq(g->sub_refs[i], ref)) {
			g->subs[i] = g->subs[g->nsubs - 1];
			g->sub_refs[i] = g->sub_refs[--g->nsubs];
			return;
		}
	}
	struct tr__pent *e = tr__ptab_get(g->mons, pid);
	if (e && tr_ref_eq(tr__ref_key(e->pid), ref)) {
		tr__ptab_del(g->mons, e);
		req_new(g, OP_UNREG_PID, NULL, 0, pid, NULL, 0, TR_INFINITY,
		        NULL);
	}
}

static void on_tick(struct tr_global *g)
{
	uint64_t now = now_ms();
	/* callers whose time ran out before their request went anywhere */
	struct tr__pent *e;
	tr__ptab_foreach (g->reqs, e) {
		struct req *r = e->ptr;
		if (r->has_from && r->deadline_ms != UINT64_MAX &&
		    now >= r->deadline_ms + 1000) {
			answer(&r->from, TR_ETIMEDOUT, 0);
			tr__ptab_del(g->reqs, e);
			req_free(r);
		}
	}
	if (g->leading && g->ready) {
		struct waiter **pp = &g->waiters, *w;
		while ((w = *pp)) {
			if (now >= w->deadline_ms) {
				*pp = w->next;
				rep(w->rq_server, w->rq_id, TR_ETIMEDOUT, 0);
				free(w->res);
				free(w);
			} else {
				pp = &w->next;
			}
		}
	}
	if (g->syncing && now - g->sync_ms > 2000)
		drop_leader_work(g); /* a pull went missing: start over */
	tombs_expire(g);
	tr__ebr_reclaim(&g->idx.retired);
	publish_info(g);
	sync_waiters(g);
	check_stable(g);
}

static void tick_later(struct tr_global *g)
{
	tr_msg_t *t = msg_new("g_tick");
	if (t && tr_send_after(g->node, g->pid, t, TICK_MS, NULL))
		tr_msg_free(t);
}

static void caller_request(struct tr_global *g, tr_msg_t *m)
{
	tr_from_t from;
	if (tr_msg_from(m, &from))
		return;
	const char *s = NULL, *res = NULL;
	size_t len = 0, rlen = 0;
	tr_pid_t pid = TR_PID_NONE;
	uint64_t timeout = TR_INFINITY;
	enum op op;
	tr_type_t t;
	if (tr_msg_is(m, "sync")) {
		tr_msg_get_uint(m, 0, &timeout);
		if (synced(g)) {
			answer(&from, TR_OK, 0);
			return;
		}
		struct syncer *v =
		        realloc(g->syncers, (g->nsync + 1) * sizeof(*v));
		if (!v) {
			answer(&from, TR_ENOMEM, 0);
			return;
		}
		g->syncers = v;
		v[g->nsync++] = (struct syncer){
		        from, timeout == TR_INFINITY ? UINT64_MAX
		                                     : now_ms() + timeout};
		return;
	}
	if (tr_msg_is(m, "register") || tr_msg_is(m, "re_register")) {
		op = tr_msg_is(m, "register") ? OP_REG : OP_REREG;
		if (tr_msg_get_str(m, 0, &s, &len) ||
		    tr_msg_get_pid(m, 1, &pid) ||
		    (tr_msg_type(m, 2, &t) || t != TR_T_NIL
		             ? tr_msg_get_str(m, 2, &res, &rlen)
		             : TR_OK) ||
		    tr_msg_get_uint(m, 3, &timeout) ||
		    rlen >= TR_RESOLVER_MAX) {
			answer(&from, TR_EINVAL, 0);
			return;
		}
	} else if (tr_msg_is(m, "unregister")) {
		op = OP_UNREG;
		if (tr_msg_get_str(m, 0, &s, &len) ||
		    tr_msg_get_uint(m, 1, &timeout)) {
			answer(&from, TR_EINVAL, 0);
			return;
		}
	} else if (tr_msg_is(m, "set_lock") || tr_msg_is(m, "del_lock")) {
		op = tr_msg_is(m, "set_lock") ? OP_LOCK : OP_UNLOCK;
		if (tr_msg_get_str(m, 0, &s, &len) ||
		    tr_msg_get_pid(m, 1, &pid) ||
		    tr_msg_get_uint(m, 2, &timeout)) {
			answer(&from, TR_EINVAL, 0);
			return;
		}
	} else {
		{
			answer(&from, TR_EINVAL, 0);
			return;
		}
	}
	if (!len || len > TR_GLOBAL_NAME_MAX || memchr(s, 0, len)) {
		answer(&from, TR_EINVAL, 0);
		return;
	}
	if (op != OP_UNREG && tr_pid_is_none(pid)) {
		answer(&from, TR_EINVAL, 0);
		return;
	}
	if (rlen && !is_rule(res, rlen, TR_RESOLVE_EXIT) &&
	    !is_rule(res, rlen, TR_RESOLVE_NOTIFY) &&
	    !is_rule(res, rlen, TR_RESOLVE_NONE)) {
		struct resolver r;
		if (!resolver_find(g, res, rlen, &r)) {
			answer(&from, TR_EINVAL, 0);
			return;
		}
	}
	tr_err e = req_new(g, op, s, len, pid, res, rlen, timeout, &from);
	if (e)
		answer(&from, e, 0);
}

static bool from_member(struct tr_global *g, tr_msg_t *m)
{
	if (member_by_pid(g, tr_msg_sender(m)))
		return true;
	g->rejected++;
	return false;
}

static void server_receive(void *state, tr_msg_t *m)
{
	struct tr_global *g = state;
	tr_msg_kind_t kind = tr_msg_kind(m);
	if (kind == TR_MSG_CALL) {
		caller_request(g, m);
	} else if (kind == TR_MSG_DOWN) {
		on_down(g, m);
	} else if (tr_msg_is(m, "g_tick")) {
		on_tick(g);
		tick_later(g);
		return;
	} else if (tr_msg_is(m, "nodeup") && tr_pid_is_none(tr_msg_sender(m))) {
		char name[TR_NODE_NAME_MAX + 1];
		if (!tr_msg_get_strbuf(m, 0, name, sizeof(name)))
			hello(g, name, true);
	} else if (tr_msg_is(m, "nodedown") &&
	           tr_pid_is_none(tr_msg_sender(m))) {
		char name[TR_NODE_NAME_MAX + 1];
		if (!tr_msg_get_strbuf(m, 0, name, sizeof(name)))
			on_nodedown(g, name);
	} else if (tr_msg_is(m, "g_hi")) {
		on_hi(g, m);
	} else if (tr_msg_is(m, "g_view")) {
		struct member *mm = member_by_pid(g, tr_msg_sender(m));
		uint64_t v, e, d;
		if (!mm || tr_msg_get_uint(m, 0, &v) ||
		    tr_msg_get_uint(m, 1, &e) || tr_msg_get_uint(m, 2, &d)) {
			g->rejected++;
		} else {
			mm->view = v;
			mm->epoch = e;
			mm->digest = d;
			if (v != g->view && g->ready) {
				/* views disagree: nothing is ordered until a
				 * new epoch is installed */
				g->ready = false;
				drop_leader_work(g);
			} else if (g->syncing) {
				/* the member's view moved while we pulled: it
				 * may have dropped our pull; start over */
				drop_leader_work(g);
			}
			check_stable(g);
		}
	} else if (tr_msg_is(m, "g_req")) {
		/* from a member or from this node's own server */
		if (tr_pid_eq(tr_msg_sender(m), g->pid) || from_member(g, m))
			leader_req(g, m);
	} else if (tr_msg_is(m, "g_op")) {
		if (from_member(g, m))
			replica_op(g, m);
	} else if (tr_msg_is(m, "g_ack")) {
		uint64_t e, id;
		if (member_by_pid(g, tr_msg_sender(m)) &&
		    !tr_msg_get_uint(m, 0, &e) && !tr_msg_get_uint(m, 1, &id))
			req_acked(g, e, id);
		else
			g->rejected++;
	} else if (tr_msg_is(m, "g_rep")) {
		uint64_t id, e, token;
		if ((tr_pid_eq(tr_msg_sender(m), g->leader) ||
		     tr_pid_eq(tr_msg_sender(m), g->pid)) &&
		    !tr_msg_get_uint(m, 0, &id) && !tr_msg_get_uint(m, 1, &e) &&
		    !tr_msg_get_uint(m, 2, &token))
			req_done(g, id, (tr_err)e, token);
		else
			g->rejected++;
	} else if (tr_msg_is(m, "g_pull")) {
		uint64_t e, v;
		if (from_member(g, m) && !tr_msg_get_uint(m, 0, &e) &&
		    !tr_msg_get_uint(m, 1, &v) && v == g->view &&
		    tr_pid_eq(tr_msg_sender(m), g->leader)) {
			struct tr_wbuf b = {0};
			blob_write(g, &b);
			tr_msg_t *t = msg_new("g_table");
			if (t && !b.oom) {
				tr_msg_add_uint(t, e);
				tr_msg_add_uint(t, v);
				if (tr_msg_add_raw(t, b.p, b.len)) {
					tr_msg_free(t);
					t = NULL;
				}
				send_or_free(g->leader, t);
			} else {
				tr_msg_free(t);
			}
			tr__wb_free(&b);
		}
	} else if (tr_msg_is(m, "g_table")) {
		struct member *mm = member_by_pid(g, tr_msg_sender(m));
		uint64_t e, v;
		if (mm && g->syncing && mm->pull && !mm->table &&
		    !tr_msg_get_uint(m, 0, &e) && !tr_msg_get_uint(m, 1, &v) &&
		    e == g->sync_epoch && v == g->view && !tr_msg_keep(m)) {
			mm->table = m;
			for (size_t i = 0; i < g->nmem; i++)
				if (g->mem[i].pull && !g->mem[i].table)
					goto out;
			finish_sync(g);
		} else {
			g->rejected++;
		}
	} else if (tr_msg_is(m, "g_install")) {
		if (from_member(g, m))
			replica_install(g, m);
	} else if (tr_msg_is(m, "monitor")) {
		tr_pid_t p;
		bool on;
		if (!tr_pid_eq(tr_msg_sender(m), TR_PID_NONE) &&
		    !is_local(g, tr_msg_sender(m))) {
			g->rejected++;
		} else if (!tr_msg_get_pid(m, 0, &p) &&
		           !tr_msg_get_bool(m, 1, &on)) {
			size_t i;
			for (i = 0; i < g->nsubs; i++)
				if (tr_pid_eq(g->subs[i], p))
					break;
			if (on && i == g->nsubs) {
				void *a = realloc(g->subs,
				                  (g->nsubs + 1) *
				                          sizeof(*g->subs));
				if (a)
					g->subs = a;
				void *b = realloc(g->sub_refs,
				                  (g->nsubs + 1) *
				                          sizeof(*g->sub_refs));
				if (b)
					g->sub_refs = b;
				if (a && b &&
				    !tr_monitor(p, &g->sub_refs[g->nsubs]))
					g->subs[g->nsubs++] = p;
			} else if (!on && i < g->nsubs) {
				tr_demonitor(g->sub_refs[i],
				             TR_DEMONITOR_FLUSH);
				g->subs[i] = g->subs[g->nsubs - 1];
				g->sub_refs[i] = g->sub_refs[--g->nsubs];
			}
		}
	} else {
		g->rejected++;
	}
out:
	publish_info(g);
}

static tr_err server_init(void **state, void *arg)
{
	struct tr_global *g = arg;
	*state = g;
	g->pid = tr_self();
	tr_err e = tr_net_monitor_nodes(g->net, g->pid, true, false);
	if (e)
		return e;
	compute_view(g);
	tick_later(g);
	/* nodes already up */
	tr_peer_info_t peers[64];
	size_t n = 0;
	if (!tr_net_nodes(g->net, peers, 64, &n))
		for (size_t i = 0; i < n && i < 64; i++)
			if (peers[i].state == TR_PEER_UP && !peers[i].hidden)
				hello(g, peers[i].name, true);
	check_stable(g);
	return TR_OK;
}

static void server_terminate(void *state, const char *reason)
{
	(void)reason;
	struct tr_global *g = state;
	struct tr__pent *e;
	tr__ptab_foreach (g->reqs, e) {
		struct req *r = e->ptr;
		if (r->has_from)
			answer(&r->from, TR_ECLOSED, 0);
		req_free(r);
	}
	tr__ptab_free(g->reqs);
	g->reqs = NULL;
	for (size_t i = 0; i < g->nsync; i++)
		answer(&g->syncers[i].from, TR_ECLOSED, 0);
	g->nsync = 0;
	drop_leader_work(g);
	atomic_store(&g->dead, 1);
}

static const tr_behaviour_t server_beh = {
        .name = "tr_global",
        .init = server_init,
        .receive = server_receive,
        .terminate = server_terminate,
};

/* ---- the public API ------------------------------------------------------ */

void tr_global_opts_init(tr_global_opts_t *opts)
{
	memset(opts, 0, sizeof(*opts));
}

tr_err tr_global_start(tr_net_t *net, const tr_global_opts_t *opts,
                       tr_global_t **out)
{
	if (!net || !out)
		return TR_EINVAL;
	if (tr_node_current())
		return TR_ESTATE;
	tr_node_t *node = tr_net_node(net);
	tr_pid_t exists;
	if (tr_whereis(node, TR_GLOBAL_SERVER, &exists) == TR_OK)
		return TR_EEXIST;
	struct tr_global *g = calloc(1, sizeof(*g));
	if (!g)
		return TR_ENOMEM;
	g->net = net;
	g->node = node;
	snprintf(g->self, sizeof(g->self), "%s", tr_node_name(node));
	g->self_id = tr_node_id(node);
	g->self_creation = tr_node_creation(node);
	if (opts)
		g->opts = *opts;
	if (!g->opts.tombstone_ms)
		g->opts.tombstone_ms = 600000;
	if (!g->opts.tombstones_max)
		g->opts.tombstones_max = 100000;
	pthread_mutex_init(&g->info_lock, NULL);
	pthread_mutex_init(&g->res_lock, NULL);
	tr_err e = tr__gidx_init(&g->idx);
	if (e) {
		free(g);
		return e;
	}
	tr_spawn_opts_t so = {.name = TR_GLOBAL_SERVER, .trap_exit = true};
	e = tr_spawn_opt(node, &server_beh, g, &so, &g->pid, NULL);
	if (e) {
		tr__gidx_destroy(&g->idx);
		free(g);
		return e;
	}
	*out = g;
	return TR_OK;
}

static void free_state(struct tr_global *g)
{
	struct tr__skey *k, *nx;
	tr__smap_foreach (&g->names, k, nx) {
		name_free((struct gname *)k);
	}
	tr__smap_foreach (&g->locks, k, nx) {
		free(k->key);
		free(k);
	}
	while (g->tomb_old) {
		struct gtomb *t = g->tomb_old;
		g->tomb_old = t->newer;
		free(t->k.key);
		free(t);
	}
	tr__smap_free(&g->names);
	tr__smap_free(&g->locks);
	tr__smap_free(&g->tombs);
	tr__ptab_free(g->by_pid);
	tr__ptab_free(g->mons);
	for (size_t i = 0; i < g->nmem; i++)
		tr_msg_free(g->mem[i].table);
	free(g->mem);
	free(g->syncers);
	free(g->subs);
	free(g->sub_refs);
	free(g->resolvers);
	tr__gidx_destroy(&g->idx);
	pthread_mutex_destroy(&g->info_lock);
	pthread_mutex_destroy(&g->res_lock);
	free(g);
}

void tr_global_stop(tr_global_t *g)
{
	if (!g)
		return;
	tr__kill_and_wait(g->node, g->pid, &g->dead);
	free_state(g);
}

tr_pid_t tr_global_server(const tr_global_t *g)
{
	return g ? g->pid : TR_PID_NONE;
}

tr_err tr_global_add_resolver(tr_global_t *g, const char *id, tr_resolve_fn fn,
                              void *ctx)
{
	if (!g || !id || !fn || !*id || strlen(id) >= TR_RESOLVER_MAX ||
	    !strcmp(id, TR_RESOLVE_EXIT) || !strcmp(id, TR_RESOLVE_NOTIFY) ||
	    !strcmp(id, TR_RESOLVE_NONE))
		return TR_EINVAL;
	tr_err e = TR_OK;
	pthread_mutex_lock(&g->res_lock);
	for (size_t i = 0; i < g->nresolvers; i++)
		if (!strcmp(g->resolvers[i].id, id))
			e = TR_EEXIST;
	if (!e) {
		struct resolver *v =
		        realloc(g->resolvers, (g->nresolvers + 1) * sizeof(*v));
		if (!v) {
			e = TR_ENOMEM;
		} else {
			g->resolvers = v;
			snprintf(v[g->nresolvers].id, TR_RESOLVER_MAX, "%s",
			         id);
			v[g->nresolvers].fn = fn;
			v[g->nresolvers].ctx = ctx;
			g->nresolvers++;
		}
	}
	pthread_mutex_unlock(&g->res_lock);
	return e;
}

/* One blocking request to the server. */
static tr_err call(tr_global_t *g, tr_msg_t *req, uint64_t timeout_ms,
                   uint64_t *token)
{
	if (!req)
		return TR_ENOMEM;
	if (tr_node_current()) {
		tr_msg_free(req);
		return TR_ESTATE;
	}
	tr_msg_t *rep = NULL;
	/* the server answers a timed-out request itself (a second later
	 * than the deadline at most); the call waits a little longer */
	uint64_t t =
	        timeout_ms == TR_INFINITY ? TR_INFINITY : timeout_ms + 2000;
	tr_err e = tr_call(g->node, g->pid, req, t, &rep, NULL, 0);
	if (e) {
		/* tr_call() consumed the request unless it failed before
		 * sending it */
		if (e == TR_EINVAL || e == TR_ESTATE || e == TR_ENOMEM ||
		    e == TR_EUNREACHABLE)
			tr_msg_free(req);
		return e == TR_EEXITED ? TR_ECLOSED : e;
	}
	if (tr_msg_is(rep, "ok")) {
		if (token)
			tr_msg_get_uint(rep, 0, token);
	} else {
		char name[32] = "";
		tr_msg_get_strbuf(rep, 0, name, sizeof(name));
		e = TR_EINTERNAL;
		for (int c = 1; c <= 22; c++)
			if (!strcmp(tr_err_name((tr_err)c), name))
				e = (tr_err)c;
	}
	tr_msg_free(rep);
	return e;
}

static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n <= TR_GLOBAL_NAME_MAX;
}

static tr_err reg(tr_global_t *g, const char *tag, const char *name,
                  tr_pid_t pid, const char *resolver, uint64_t timeout_ms)
{
	if (!g || !name_ok(name) || tr_pid_is_none(pid) ||
	    (resolver && strlen(resolver) >= TR_RESOLVER_MAX))
		return TR_EINVAL;
	tr_msg_t *m = msg_new(tag);
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_str(m, name);
	tr_msg_add_pid(m, pid);
	if (resolver)
		tr_msg_add_str(m, resolver);
	else
		tr_msg_add_nil(m);
	tr_msg_add_uint(m, timeout_ms);
	return call(g, m, timeout_ms, NULL);
}

tr_err tr_global_register(tr_global_t *g, const char *name, tr_pid_t pid,
                          const char *resolver, uint64_t timeout_ms)
{
	return reg(g, "register", name, pid, resolver, timeout_ms);
}

tr_err tr_global_re_register(tr_global_t *g, const char *name, tr_pid_t pid,
                             const char *resolver, uint64_t timeout_ms)
{
	return reg(g, "re_register", name, pid, resolver, timeout_ms);
}

tr_err tr_global_unregister(tr_global_t *g, const char *name,
                            uint64_t timeout_ms)
{
	if (!g || !name_ok(name))
		return TR_EINVAL;
	tr_msg_t *m = msg_new("unregister");
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_str(m, name);
	tr_msg_add_uint(m, timeout_ms);
	return call(g, m, timeout_ms, NULL);
}

void tr__global_test_lose_ops_to(tr_global_t *g, const char *node)
{
	atomic_store_explicit(&g->lose_ops_to, node, memory_order_relaxed);
}

tr_err tr_global_whereis(tr_global_t *g, const char *name, tr_pid_t *out)
{
	if (!g || !name || !out)
		return TR_EINVAL;
	size_t n = strlen(name);
	return tr__gidx_get(&g->idx, name, n, tr__hash_bytes(name, n), out)
	               ? TR_OK
	               : TR_ENOENT;
}

tr_err tr_global_send(tr_global_t *g, const char *name, tr_msg_t *msg)
{
	tr_pid_t p;
	tr_err e = tr_global_whereis(g, name, &p);
	return e ? e : tr_send(p, msg);
}

tr_err tr_global_foreach(tr_global_t *g,
                         bool (*fn)(const char *, size_t, tr_pid_t, void *),
                         void *ctx, size_t *n)
{
	if (!g || !fn)
		return TR_EINVAL;
	size_t cnt = 0;
	struct tr__ebr_rec *r = tr__ebr_enter();
	struct tr__garr *a = atomic_load(&g->idx.arr);
	for (size_t i = 0; i < a->cap; i++) {
		struct tr__gread *e = atomic_load(&a->slot[i]);
		if (!e || !e->len)
			continue; /* empty, or the deleted marker */
		cnt++;
		if (!fn(e->name, e->len, e->pid, ctx))
			break;
	}
	tr__ebr_exit(r);
	if (n)
		*n = cnt;
	return TR_OK;
}

static tr_err lockreq(tr_global_t *g, const char *tag, const char *res,
                      tr_pid_t holder, uint64_t timeout_ms, uint64_t *token)
{
	if (!g || !name_ok(res) || tr_pid_is_none(holder))
		return TR_EINVAL;
	tr_msg_t *m = msg_new(tag);
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_str(m, res);
	tr_msg_add_pid(m, holder);
	tr_msg_add_uint(m, timeout_ms);
	/* a lock request that may wait needs its own time plus the trip */
	return call(g, m, timeout_ms, token);
}

tr_err tr_global_set_lock(tr_global_t *g, const char *resource, tr_pid_t holder,
                          uint64_t timeout_ms, uint64_t *token)
{
	uint64_t t = 0;
	tr_err e = lockreq(g, "set_lock", resource, holder, timeout_ms, &t);
	if (e == TR_ETIMEDOUT) /* it may have been granted meanwhile */
		tr_global_del_lock(g, resource, holder, 5000);
	if (!e && token)
		*token = t;
	return e;
}

tr_err tr_global_del_lock(tr_global_t *g, const char *resource, tr_pid_t holder,
                          uint64_t timeout_ms)
{
	return lockreq(g, "del_lock", resource, holder, timeout_ms, NULL);
}

tr_err tr_global_trans(tr_global_t *g, const char *resource, tr_pid_t holder,
                       uint64_t timeout_ms,
                       tr_err (*fn)(void *ctx, uint64_t token), void *ctx,
                       tr_err *fn_result)
{
	if (!fn)
		return TR_EINVAL;
	uint64_t token;
	tr_err e = tr_global_set_lock(g, resource, holder, timeout_ms, &token);
	if (e)
		return e;
	tr_err r = fn(ctx, token);
	if (fn_result)
		*fn_result = r;
	return tr_global_del_lock(g, resource, holder, TR_INFINITY);
}

tr_err tr_global_sync(tr_global_t *g, uint64_t timeout_ms)
{
	if (!g)
		return TR_EINVAL;
	tr_msg_t *m = msg_new("sync");
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_uint(m, timeout_ms);
	return call(g, m, timeout_ms, NULL);
}

tr_err tr_global_monitor(tr_global_t *g, tr_pid_t pid, bool on)
{
	if (!g || tr_pid_is_none(pid))
		return TR_EINVAL;
	tr_msg_t *m = msg_new("monitor");
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_pid(m, pid);
	tr_msg_add_bool(m, on);
	tr_err e = tr_send(g->pid, m);
	if (e)
		tr_msg_free(m);
	return e;
}

tr_err tr_global_info(tr_global_t *g, tr_global_info_t *out)
{
	if (!g || !out)
		return TR_EINVAL;
	pthread_mutex_lock(&g->info_lock);
	*out = g->info;
	pthread_mutex_unlock(&g->info_lock);
	return TR_OK;
}
