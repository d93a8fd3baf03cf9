/*
 * registry/pg.c - process groups (OTP's pg), one server per scope and
 * node. No leader: each server owns its node's memberships and tells
 * the scope's servers on the other nodes. The group table (every node's
 * members) is written by the server only and read under a read lock.
 *
 * Server messages (tags; sender = the other node's scope server):
 *   ["pg_discover", node]           on nodeup: "tell me your members"
 *   ["pg_sync", node, [[group, [pid...]]...]]  all of node's members
 *   ["pg_join", group, [pid...]]    ["pg_leave", group, [pid...]]
 * A server accepts members only of its sender's own node.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/registry.h>

#include "net/wire.h"
#include "registry/smap.h"
#include "registry/util.h"
#include "runtime/table.h"

struct pgroup {
	struct tr__skey k;
	tr_pid_t *m;
	size_t n, cap;
};

struct ppeer {
	char name[TR_NODE_NAME_MAX + 1];
	tr_pid_t server;
	tr_ref_t mref;
};

struct psub {
	tr_pid_t pid;
	tr_ref_t ref;
	char *group; /* NULL: the whole scope */
};

struct tr_pg {
	tr_net_t *net;
	tr_node_t *node;
	char scope[TR_PG_SCOPE_MAX + 1];
	char sname[TR_PG_SCOPE_MAX + 8];
	char self[TR_NODE_NAME_MAX + 1];
	tr_pid_t pid;
	_Atomic int dead;
	pthread_rwlock_t lock;
	struct tr__smap groups;
	/* server only */
	struct ppeer *peers;
	size_t npeers;
	struct tr__ptab *mons; /* local member -> monitor ref */
	struct psub *subs;
	size_t nsubs;
};

static tr_msg_t *msg_new(const char *tag)
{
	tr_msg_t *m = NULL;
	return tr_msg_new(&m, tag) ? NULL : m;
}

static void send_or_free(tr_pid_t to, tr_msg_t *m)
{
	if (m && tr_send(to, m))
		tr_msg_free(m);
}

static bool is_local(tr_pg_t *pg, tr_pid_t p)
{
	return p.node == tr_node_id(pg->node) &&
	       p.creation == tr_node_creation(pg->node);
}

/* ---- the table (server writes under the lock) ---------------------------- */

static struct pgroup *group_get(tr_pg_t *pg, const char *g, size_t len)
{
	return (struct pgroup *)tr__smap_get(&pg->groups, g, len,
	                                     tr__hash_bytes(g, len));
}

static void notify(tr_pg_t *pg, const char *tag, const char *g, size_t len,
                   const tr_pid_t *pids, size_t n)
{
	if (!n)
		return;
	for (size_t i = 0; i < pg->nsubs; i++) {
		struct psub *s = &pg->subs[i];
		if (s->group &&
		    (strlen(s->group) != len || memcmp(s->group, g, len)))
			continue;
		tr_msg_t *m = msg_new(tag);
		if (!m)
			continue;
		struct tr_wbuf b = {0};
		tr__wb_array(&b, (uint32_t)n);
		for (size_t j = 0; j < n; j++)
			tr__wb_pid(&b, pids[j]);
		tr_msg_add_str(m, pg->scope);
		tr_msg_add_strn(m, g, len);
		if (b.oom || tr_msg_add_raw(m, b.p, b.len)) {
			tr_msg_free(m);
		} else {
			send_or_free(s->pid, m);
		}
		tr__wb_free(&b);
	}
}

static void add_members(tr_pg_t *pg, const char *g, size_t len,
                        const tr_pid_t *pids, size_t n)
{
	if (!n)
		return;
	pthread_rwlock_wrlock(&pg->lock);
	struct pgroup *gr = group_get(pg, g, len);
	if (!gr) {
		gr = calloc(1, sizeof(*gr));
		if (!gr || !(gr->k.key = malloc(len + 1))) {
			free(gr);
			pthread_rwlock_unlock(&pg->lock);
			return;
		}
		memcpy(gr->k.key, g, len);
		gr->k.key[len] = 0;
		gr->k.len = len;
		gr->k.h = tr__hash_bytes(g, len);
		if (tr__smap_put(&pg->groups, &gr->k)) {
			free(gr->k.key);
			free(gr);
			pthread_rwlock_unlock(&pg->lock);
			return;
		}
	}
	if (gr->n + n > gr->cap) {
		size_t cap = gr->cap ? gr->cap : 4;
		while (cap < gr->n + n)
			cap *= 2;
		tr_pid_t *m = realloc(gr->m, cap * sizeof(*m));
		if (!m) {
			pthread_rwlock_unlock(&pg->lock);
			return;
		}
		gr->m = m;
		gr->cap = cap;
	}
	memcpy(gr->m + gr->n, pids, n * sizeof(*pids));
	gr->n += n;
	pthread_rwlock_unlock(&pg->lock);
	notify(pg, "pg_join", g, len, pids, n);
}

static void group_free(struct pgroup *gr)
{
	free(gr->m);
	free(gr->k.key);
	free(gr);
}

/* Remove one membership per listed pid; `gone` gets what was removed. */
static size_t remove_members(tr_pg_t *pg, const char *g, size_t len,
                             const tr_pid_t *pids, size_t n, tr_pid_t *gone)
{
	size_t k = 0;
	pthread_rwlock_wrlock(&pg->lock);
	struct pgroup *gr = group_get(pg, g, len);
	for (size_t i = 0; gr && i < n; i++) {
		for (size_t j = gr->n; j-- > 0;) {
			if (tr_pid_eq(gr->m[j], pids[i])) {
				memmove(gr->m + j, gr->m + j + 1,
				        (gr->n - j - 1) * sizeof(*gr->m));
				gr->n--;
				gone[k++] = pids[i];
				break;
			}
		}
	}
	if (gr && !gr->n) { /* empty = does not exist */
		tr__smap_del(&pg->groups, &gr->k);
		group_free(gr);
	}
	pthread_rwlock_unlock(&pg->lock);
	notify(pg, "pg_leave", g, len, gone, k);
	return k;
}

/* Remove every membership matching (node id, or one pid); tell peers
 * when local. */
static void remove_where(tr_pg_t *pg, uint64_t node_id, const tr_pid_t *one,
                         bool broadcast);

static void broadcast(tr_pg_t *pg, const char *tag, const char *g, size_t len,
                      const tr_pid_t *pids, size_t n)
{
	if (!n)
		return;
	struct tr_wbuf b = {0};
	tr__wb_array(&b, (uint32_t)n);
	for (size_t j = 0; j < n; j++)
		tr__wb_pid(&b, pids[j]);
	for (size_t i = 0; !b.oom && i < pg->npeers; i++) {
		tr_msg_t *m = msg_new(tag);
		if (!m)
			continue;
		tr_msg_add_strn(m, g, len);
		if (tr_msg_add_raw(m, b.p, b.len))
			tr_msg_free(m);
		else
			send_or_free(pg->peers[i].server, m);
	}
	tr__wb_free(&b);
}

static void remove_where(tr_pg_t *pg, uint64_t node_id, const tr_pid_t *one,
                         bool bcast)
{
	/* collect the groups first: removal may free them */
	struct item {
		char *g;
		size_t len;
		tr_pid_t *pids;
		size_t n;
	} *items = NULL;
	size_t ni = 0, ci = 0;
	pthread_rwlock_rdlock(&pg->lock);
	struct tr__skey *k, *nx;
	tr__smap_foreach (&pg->groups, k, nx) {
		struct pgroup *gr = (struct pgroup *)k;
		size_t c = 0;
		for (size_t j = 0; j < gr->n; j++)
			c += one ? tr_pid_eq(gr->m[j], *one)
			         : gr->m[j].node == node_id;
		if (!c)
			continue;
		if (ni == ci) {
			ci = ci ? ci * 2 : 8;
			void *v = realloc(items, ci * sizeof(*items));
			if (!v)
				break;
			items = v;
		}
		struct item *it = &items[ni];
		it->g = malloc(k->len + 1);
		it->pids = malloc(c * sizeof(tr_pid_t));
		if (!it->g || !it->pids) {
			free(it->g);
			free(it->pids);
			continue;
		}
		memcpy(it->g, k->key, k->len + 1);
		it->len = k->len;
		it->n = 0;
		for (size_t j = 0; j < gr->n; j++)
			if (one ? tr_pid_eq(gr->m[j], *one)
			        : gr->m[j].node == node_id)
				it->pids[it->n++] = gr->m[j];
		ni++;
	}
	pthread_rwlock_unlock(&pg->lock);
	for (size_t i = 0; i < ni; i++) {
		tr_pid_t *gone = malloc(items[i].n * sizeof(tr_pid_t));
		if (gone) {
			size_t n =
			        remove_members(pg, items[i].g, items[i].len,
			                       items[i].pids, items[i].n, gone);
			if (bcast)
				broadcast(pg, "pg_leave", items[i].g,
				          items[i].len, gone, n);
			free(gone);
		}
		free(items[i].g);
		free(items[i].pids);
	}
	free(items);
}

/* ---- peers -----------------------------------------------------------------
 */

static struct ppeer *peer_by_name(tr_pg_t *pg, const char *name)
{
	for (size_t i = 0; i < pg->npeers; i++)
		if (!strcmp(pg->peers[i].name, name))
			return &pg->peers[i];
	return NULL;
}

static void peer_drop(tr_pg_t *pg, struct ppeer *p)
{
	uint64_t id = p->server.node;
	tr_demonitor(p->mref, TR_DEMONITOR_FLUSH);
	*p = pg->peers[--pg->npeers];
	remove_where(pg, id, NULL, false);
}

static void discover(tr_pg_t *pg, const char *node)
{
	tr_msg_t *m = msg_new("pg_discover");
	if (!m)
		return;
	tr_msg_add_str(m, pg->self);
	if (tr_send_named(pg->net, node, pg->sname, m))
		tr_msg_free(m);
}

/* The sender of a server message, as a peer (added if new). */
static struct ppeer *peer_of(tr_pg_t *pg, tr_msg_t *m)
{
	char name[TR_NODE_NAME_MAX + 1];
	tr_pid_t from = tr_msg_sender(m);
	if (tr_msg_get_strbuf(m, 0, name, sizeof(name)) ||
	    tr_node_id_of_name(name) != from.node || is_local(pg, from) ||
	    !tr_net_is_up(pg->net, name))
		return NULL;
	struct ppeer *p = peer_by_name(pg, name);
	if (p && tr_pid_eq(p->server, from))
		return p;
	if (p)
		peer_drop(pg, p); /* a restarted server */
	struct ppeer *v = realloc(pg->peers, (pg->npeers + 1) * sizeof(*v));
	if (!v)
		return NULL;
	pg->peers = v;
	p = &pg->peers[pg->npeers++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->server = from;
	tr_monitor(from, &p->mref);
	return p;
}

/* Our members, as [[group, [pid...]]...]. */
static void write_locals(tr_pg_t *pg, struct tr_wbuf *b)
{
	pthread_rwlock_rdlock(&pg->lock);
	struct tr__skey *k, *nx;
	uint32_t ng = 0;
	tr__smap_foreach (&pg->groups, k, nx) {
		struct pgroup *gr = (struct pgroup *)k;
		for (size_t j = 0; j < gr->n; j++)
			if (is_local(pg, gr->m[j])) {
				ng++;
				break;
			}
	}
	tr__wb_array(b, ng);
	tr__smap_foreach (&pg->groups, k, nx) {
		struct pgroup *gr = (struct pgroup *)k;
		uint32_t c = 0;
		for (size_t j = 0; j < gr->n; j++)
			c += is_local(pg, gr->m[j]);
		if (!c)
			continue;
		tr__wb_array(b, 2);
		tr__wb_str(b, k->key, k->len);
		tr__wb_array(b, c);
		for (size_t j = 0; j < gr->n; j++)
			if (is_local(pg, gr->m[j]))
				tr__wb_pid(b, gr->m[j]);
	}
	pthread_rwlock_unlock(&pg->lock);
}

/* Read [pid...] at field idx, all of node_id; NULL if malformed. */
static tr_pid_t *read_pids(struct tr_wcur *c, uint64_t node_id, size_t *n)
{
	if (!tr__wr_array(c, n) || *n > (1u << 20))
		return NULL;
	tr_pid_t *v = malloc((*n ? *n : 1) * sizeof(*v));
	for (size_t i = 0; v && i < *n; i++) {
		if (!tr__wr_pid(c, &v[i]) || v[i].node != node_id) {
			free(v);
			return NULL;
		}
	}
	return v;
}

/* The pids of node_id in group g (a copy). */
static tr_pid_t *node_members(tr_pg_t *pg, const char *g, size_t len,
                              uint64_t node_id, size_t *n)
{
	*n = 0;
	pthread_rwlock_rdlock(&pg->lock);
	struct pgroup *gr = group_get(pg, g, len);
	tr_pid_t *v = malloc(((gr ? gr->n : 0) + 1) * sizeof(*v));
	for (size_t j = 0; v && gr && j < gr->n; j++)
		if (gr->m[j].node == node_id)
			v[(*n)++] = gr->m[j];
	pthread_rwlock_unlock(&pg->lock);
	return v;
}

/* Remove from a what b also has (multisets); returns a's new length. */
static size_t minus(tr_pid_t *a, size_t na, const tr_pid_t *b, size_t nb)
{
	bool *used = calloc(nb + 1, sizeof(*used));
	size_t k = 0;
	for (size_t i = 0; i < na; i++) {
		bool found = false;
		for (size_t j = 0; used && j < nb && !found; j++)
			if (!used[j] && tr_pid_eq(a[i], b[j]))
				used[j] = found = true;
		if (!found)
			a[k++] = a[i];
	}
	free(used);
	return k;
}

/* Make group g's members of node_id exactly `want` (events for the
 * difference only). */
static void set_node_members(tr_pg_t *pg, const char *g, size_t len,
                             uint64_t node_id, const tr_pid_t *want, size_t nw)
{
	size_t nh;
	tr_pid_t *have = node_members(pg, g, len, node_id, &nh);
	tr_pid_t *add = malloc((nw + 1) * sizeof(*add));
	if (!have || !add) {
		free(have);
		free(add);
		return;
	}
	if (nw)
		memcpy(add, want, nw * sizeof(*add));
	size_t na = minus(add, nw, have, nh);
	size_t nr = minus(have, nh, want, nw);
	tr_pid_t *gone = malloc((nr + 1) * sizeof(*gone));
	if (gone && nr)
		remove_members(pg, g, len, have, nr, gone);
	free(gone);
	add_members(pg, g, len, add, na);
	free(have);
	free(add);
}

static void on_sync(tr_pg_t *pg, tr_msg_t *m, struct ppeer *p)
{
	const void *raw;
	size_t len, ng;
	uint64_t id = p->server.node;
	if (tr_msg_get_raw(m, 1, &raw, &len))
		return;
	struct tr_wcur c = {raw, len};
	if (!tr__wr_array(&c, &ng) || ng > (1u << 20))
		return;
	/* validate it all first: a bad sync changes nothing */
	struct tr_wcur v = c;
	for (size_t i = 0; i < ng; i++) {
		size_t cnt, gl, n;
		const char *g;
		if (!tr__wr_array(&v, &cnt) || cnt != 2 ||
		    !tr__wr_str(&v, &g, &gl) || !gl || gl > TR_PG_GROUP_MAX)
			return;
		tr_pid_t *pids = read_pids(&v, id, &n);
		if (!pids)
			return;
		free(pids);
	}
	/* the groups that node has members in now and has none in the
	 * sync lose them */
	struct gname {
		char *g;
		size_t len;
	} *old = NULL;
	size_t no = 0;
	pthread_rwlock_rdlock(&pg->lock);
	struct tr__skey *k, *nx;
	size_t total = pg->groups.n;
	old = calloc(total + 1, sizeof(*old));
	tr__smap_foreach (&pg->groups, k, nx) {
		struct pgroup *gr = (struct pgroup *)k;
		for (size_t j = 0; old && j < gr->n; j++) {
			if (gr->m[j].node != id)
				continue;
			if ((old[no].g = malloc(k->len + 1))) {
				memcpy(old[no].g, k->key, k->len + 1);
				old[no++].len = k->len;
			}
			break;
		}
	}
	pthread_rwlock_unlock(&pg->lock);
	for (size_t i = 0; i < ng; i++) {
		size_t cnt, gl, n;
		const char *g;
		tr__wr_array(&c, &cnt);
		tr__wr_str(&c, &g, &gl);
		tr_pid_t *pids = read_pids(&c, id, &n);
		if (!pids)
			break;
		set_node_members(pg, g, gl, id, pids, n);
		free(pids);
		for (size_t j = 0; j < no; j++)
			if (old[j].g && old[j].len == gl &&
			    !memcmp(old[j].g, g, gl)) {
				free(old[j].g);
				old[j].g = NULL;
			}
	}
	for (size_t j = 0; j < no; j++) {
		if (old[j].g)
			set_node_members(pg, old[j].g, old[j].len, id, NULL, 0);
		free(old[j].g);
	}
	free(old);
}

static void on_change(tr_pg_t *pg, tr_msg_t *m, bool join)
{
	struct ppeer *p = NULL;
	for (size_t i = 0; i < pg->npeers; i++)
		if (tr_pid_eq(pg->peers[i].server, tr_msg_sender(m)))
			p = &pg->peers[i];
	const char *g;
	size_t gl, len, n;
	const void *raw;
	if (!p || tr_msg_get_str(m, 0, &g, &gl) || !gl ||
	    gl > TR_PG_GROUP_MAX || tr_msg_get_raw(m, 1, &raw, &len))
		return;
	struct tr_wcur c = {raw, len};
	tr_pid_t *pids = read_pids(&c, p->server.node, &n);
	if (!pids)
		return;
	if (join) {
		add_members(pg, g, gl, pids, n);
	} else {
		tr_pid_t *gone = malloc((n ? n : 1) * sizeof(*gone));
		if (gone)
			remove_members(pg, g, gl, pids, n, gone);
		free(gone);
	}
	free(pids);
}

/* ---- the server ------------------------------------------------------------
 */

static tr_err local_change(tr_pg_t *pg, tr_msg_t *m, bool join)
{
	const char *g;
	size_t gl;
	tr_pid_t pid;
	if (tr_msg_get_str(m, 0, &g, &gl) || !gl || gl > TR_PG_GROUP_MAX ||
	    memchr(g, 0, gl) || tr_msg_get_pid(m, 1, &pid) ||
	    !is_local(pg, pid))
		return TR_EINVAL;
	if (join) {
		if (!tr__ptab_get(pg->mons, pid)) {
			tr_ref_t ref;
			struct tr__pent *e;
			bool had;
			if (tr_monitor(pid, &ref) == TR_OK &&
			    tr__ptab_put(&pg->mons, pid, &e, &had) == TR_OK)
				e->pid = tr__key_ref(ref);
		}
		add_members(pg, g, gl, &pid, 1);
		broadcast(pg, "pg_join", g, gl, &pid, 1);
	} else {
		tr_pid_t gone;
		if (remove_members(pg, g, gl, &pid, 1, &gone))
			broadcast(pg, "pg_leave", g, gl, &pid, 1);
	}
	return TR_OK;
}

static void pg_receive(void *state, tr_msg_t *m)
{
	tr_pg_t *pg = state;
	tr_pid_t from = tr_msg_sender(m);
	bool trusted = tr_pid_is_none(from) || is_local(pg, from);
	if (tr_msg_kind(m) == TR_MSG_DOWN) {
		tr_ref_t ref;
		tr_pid_t pid;
		char reason[TR_REASON_MAX];
		if (tr_msg_down_info(m, &ref, &pid, reason, sizeof(reason)))
			return;
		for (size_t i = 0; i < pg->npeers; i++) {
			if (tr_ref_eq(pg->peers[i].mref, ref)) {
				peer_drop(pg, &pg->peers[i]);
				return;
			}
		}
		for (size_t i = 0; i < pg->nsubs; i++)
			if (tr_ref_eq(pg->subs[i].ref, ref)) {
				free(pg->subs[i].group);
				pg->subs[i] = pg->subs[--pg->nsubs];
				return;
			}
		struct tr__pent *e = tr__ptab_get(pg->mons, pid);
		if (e) {
			tr__ptab_del(pg->mons, e);
			remove_where(pg, 0, &pid, true);
		}
		return;
	}
	if ((tr_msg_is(m, "join") || tr_msg_is(m, "leave")) && trusted) {
		tr_err e = local_change(pg, m, tr_msg_is(m, "join"));
		tr_from_t f;
		if (tr_msg_kind(m) == TR_MSG_CALL && !tr_msg_from(m, &f)) {
			tr_msg_t *r = msg_new(e ? "error" : "ok");
			if (r && e)
				tr_msg_add_str(r, tr_err_name(e));
			if (r && tr_reply(&f, r))
				tr_msg_free(r);
		}
	} else if (tr_msg_is(m, "nodeup") && tr_pid_is_none(from)) {
		char name[TR_NODE_NAME_MAX + 1];
		if (!tr_msg_get_strbuf(m, 0, name, sizeof(name)))
			discover(pg, name);
	} else if (tr_msg_is(m, "nodedown") && tr_pid_is_none(from)) {
		char name[TR_NODE_NAME_MAX + 1];
		struct ppeer *p;
		if (!tr_msg_get_strbuf(m, 0, name, sizeof(name)) &&
		    (p = peer_by_name(pg, name)))
			peer_drop(pg, p);
	} else if (tr_msg_is(m, "pg_discover")) {
		size_t known = pg->npeers;
		struct ppeer *p = peer_of(pg, m);
		/* a newcomer to us: ask for its members too */
		if (p && pg->npeers > known)
			discover(pg, p->name);
		tr_msg_t *r = p ? msg_new("pg_sync") : NULL;
		struct tr_wbuf b = {0};
		if (r) {
			write_locals(pg, &b);
			tr_msg_add_str(r, pg->self);
			if (b.oom || tr_msg_add_raw(r, b.p, b.len)) {
				tr_msg_free(r);
				r = NULL;
			}
			send_or_free(p->server, r);
		}
		tr__wb_free(&b);
	} else if (tr_msg_is(m, "pg_sync")) {
		struct ppeer *p = peer_of(pg, m);
		if (p)
			on_sync(pg, m, p);
	} else if (tr_msg_is(m, "pg_join") || tr_msg_is(m, "pg_leave")) {
		on_change(pg, m, tr_msg_is(m, "pg_join"));
	} else if (tr_msg_is(m, "monitor") && trusted) {
		tr_pid_t p;
		bool on;
		char g[TR_PG_GROUP_MAX + 1] = "";
		tr_type_t t;
		if (tr_msg_get_pid(m, 0, &p) || tr_msg_get_bool(m, 1, &on))
			return;
		bool whole = tr_msg_type(m, 2, &t) || t == TR_T_NIL;
		if (!whole && tr_msg_get_strbuf(m, 2, g, sizeof(g)))
			return;
		size_t i;
		for (i = 0; i < pg->nsubs; i++)
			if (tr_pid_eq(pg->subs[i].pid, p) &&
			    (whole ? !pg->subs[i].group
			           : pg->subs[i].group &&
			                     !strcmp(pg->subs[i].group, g)))
				break;
		if (on && i == pg->nsubs) {
			struct psub *v =
			        realloc(pg->subs, (pg->nsubs + 1) * sizeof(*v));
			if (!v)
				return;
			pg->subs = v;
			struct psub *s = &v[pg->nsubs];
			s->pid = p;
			s->group = whole ? NULL : strdup(g);
			if ((!whole && !s->group) || tr_monitor(p, &s->ref)) {
				free(s->group);
				return;
			}
			pg->nsubs++;
		} else if (!on && i < pg->nsubs) {
			tr_demonitor(pg->subs[i].ref, TR_DEMONITOR_FLUSH);
			free(pg->subs[i].group);
			pg->subs[i] = pg->subs[--pg->nsubs];
		}
	}
}

static tr_err pg_init(void **state, void *arg)
{
	tr_pg_t *pg = arg;
	*state = pg;
	pg->pid = tr_self();
	tr_err e = tr_net_monitor_nodes(pg->net, pg->pid, true, false);
	if (e)
		return e;
	tr_peer_info_t peers[64];
	size_t n = 0;
	if (!tr_net_nodes(pg->net, peers, 64, &n))
		for (size_t i = 0; i < n && i < 64; i++)
			if (peers[i].state == TR_PEER_UP && !peers[i].hidden)
				discover(pg, peers[i].name);
	return TR_OK;
}

static void pg_terminate(void *state, const char *reason)
{
	(void)reason;
	tr_pg_t *pg = state;
	atomic_store(&pg->dead, 1);
}

static const tr_behaviour_t pg_beh = {
        .name = "tr_pg",
        .init = pg_init,
        .receive = pg_receive,
        .terminate = pg_terminate,
};

/* ---- API
 * --------------------------------------------------------------------- */

tr_err tr_pg_start(tr_net_t *net, const char *scope, tr_pg_t **out)
{
	if (!scope)
		scope = "default";
	if (!net || !out || !*scope || strlen(scope) > TR_PG_SCOPE_MAX)
		return TR_EINVAL;
	if (tr_node_current())
		return TR_ESTATE;
	tr_pg_t *pg = calloc(1, sizeof(*pg));
	if (!pg)
		return TR_ENOMEM;
	pg->net = net;
	pg->node = tr_net_node(net);
	snprintf(pg->scope, sizeof(pg->scope), "%s", scope);
	snprintf(pg->sname, sizeof(pg->sname), "tr_pg:%s", scope);
	snprintf(pg->self, sizeof(pg->self), "%s", tr_node_name(pg->node));
	pthread_rwlock_init(&pg->lock, NULL);
	tr_spawn_opts_t so = {.name = pg->sname};
	tr_err e = tr_spawn_opt(pg->node, &pg_beh, pg, &so, &pg->pid, NULL);
	if (e) {
		pthread_rwlock_destroy(&pg->lock);
		free(pg);
		return e;
	}
	*out = pg;
	return TR_OK;
}

void tr_pg_stop(tr_pg_t *pg)
{
	if (!pg)
		return;
	tr__kill_and_wait(pg->node, pg->pid, &pg->dead);
	struct tr__skey *k, *nx;
	tr__smap_foreach (&pg->groups, k, nx) {
		group_free((struct pgroup *)k);
	}
	tr__smap_free(&pg->groups);
	tr__ptab_free(pg->mons);
	for (size_t i = 0; i < pg->nsubs; i++)
		free(pg->subs[i].group);
	free(pg->subs);
	free(pg->peers);
	pthread_rwlock_destroy(&pg->lock);
	free(pg);
}

tr_pid_t tr_pg_server(const tr_pg_t *pg)
{
	return pg ? pg->pid : TR_PID_NONE;
}

static tr_err change(tr_pg_t *pg, const char *tag, const char *group,
                     tr_pid_t pid)
{
	if (!pg || !group || !*group || strlen(group) > TR_PG_GROUP_MAX ||
	    !is_local(pg, pid))
		return TR_EINVAL;
	tr_msg_t *m = msg_new(tag);
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_str(m, group);
	tr_msg_add_pid(m, pid);
	if (tr_node_current()) { /* an actor: in order, without waiting */
		tr_err e = tr_send(pg->pid, m);
		if (e)
			tr_msg_free(m);
		return e;
	}
	tr_msg_t *r = NULL;
	tr_err e = tr_call(pg->node, pg->pid, m, 30000, &r, NULL, 0);
	if (e) {
		if (e == TR_EINVAL || e == TR_EUNREACHABLE || e == TR_ENOMEM)
			tr_msg_free(m);
		return e == TR_EEXITED ? TR_ECLOSED : e;
	}
	e = tr_msg_is(r, "ok") ? TR_OK : TR_EINVAL;
	tr_msg_free(r);
	return e;
}

tr_err tr_pg_join(tr_pg_t *pg, const char *group, tr_pid_t pid)
{
	return change(pg, "join", group, pid);
}

tr_err tr_pg_leave(tr_pg_t *pg, const char *group, tr_pid_t pid)
{
	return change(pg, "leave", group, pid);
}

tr_err tr_pg_members(tr_pg_t *pg, const char *group, bool local_only,
                     tr_pid_t *out, size_t cap, size_t *n)
{
	if (!pg || !group || (cap && !out))
		return TR_EINVAL;
	size_t len = strlen(group), c = 0;
	pthread_rwlock_rdlock(&pg->lock);
	struct pgroup *gr = group_get(pg, group, len);
	for (size_t j = 0; gr && j < gr->n; j++) {
		if (local_only && !is_local(pg, gr->m[j]))
			continue;
		if (c < cap)
			out[c] = gr->m[j];
		c++;
	}
	pthread_rwlock_unlock(&pg->lock);
	if (n)
		*n = c;
	return TR_OK;
}

tr_err tr_pg_groups(tr_pg_t *pg,
                    void (*fn)(const char *group, size_t len, void *ctx),
                    void *ctx, size_t *n)
{
	if (!pg)
		return TR_EINVAL;
	size_t c = 0;
	pthread_rwlock_rdlock(&pg->lock);
	struct tr__skey *k, *nx;
	tr__smap_foreach (&pg->groups, k, nx) {
		c++;
		if (fn)
			fn(k->key, k->len, ctx);
	}
	pthread_rwlock_unlock(&pg->lock);
	if (n)
		*n = c;
	return TR_OK;
}

tr_err tr_pg_monitor(tr_pg_t *pg, const char *group, tr_pid_t pid, bool on)
{
	if (!pg || tr_pid_is_none(pid) ||
	    (group && (!*group || strlen(group) > TR_PG_GROUP_MAX)))
		return TR_EINVAL;
	tr_msg_t *m = msg_new("monitor");
	if (!m)
		return TR_ENOMEM;
	tr_msg_add_pid(m, pid);
	tr_msg_add_bool(m, on);
	if (group)
		tr_msg_add_str(m, group);
	else
		tr_msg_add_nil(m);
	tr_err e = tr_send(pg->pid, m);
	if (e)
		tr_msg_free(m);
	return e;
}
