/*
 * registry/registry.c - Elixir's Registry for one node.
 *
 * Each partition is a key map and a pid index under a read-write lock,
 * plus an owner actor that monitors the actors with entries in it and
 * deletes their entries when they exit. Registration runs in the caller:
 * it checks the actor is alive, inserts, then asks the owner to watch the
 * actor; a monitor of an actor already dead fires at once, so no entry
 * outlives its actor.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/registry.h>

#include "registry/smap.h"
#include "runtime/mpack.h"
#include "runtime/table.h"

struct rent {
	struct rent *knext, *pnext; /* in its key's list, in its pid's */
	struct rkey *k;
	tr_pid_t pid;
	size_t vlen;
	void *value;
};

struct rkey {
	struct tr__skey k;
	struct rent *first;
	size_t n;
};

struct part {
	pthread_rwlock_t lock;
	struct tr__smap keys;
	struct tr__ptab *pids; /* pid -> first rent (ptr) */
	size_t n;
	tr_pid_t owner;
	struct tr_registry *reg;
};

struct meta {
	struct meta *next;
	char *key;
	size_t len;
	void *v;
};

struct tr_registry {
	tr_node_t *node;
	tr_registry_keys_t keys;
	unsigned nparts;
	char *name;
	tr_pid_t *listeners;
	size_t nlisteners;
	_Atomic unsigned owners_alive;
	pthread_mutex_t meta_lock;
	struct meta *meta;
	struct part parts[];
};

static uint64_t pid_hash(tr_pid_t p)
{
	return tr__hash_bytes(&p.id, sizeof(p.id));
}

static struct part *part_of_key(tr_registry_t *r, const char *key, size_t len)
{
	return &r->parts[tr__hash_bytes(key, len) % r->nparts];
}

static struct part *part_of_pid(tr_registry_t *r, tr_pid_t pid)
{
	return &r->parts[pid_hash(pid) % r->nparts];
}

/* The partition an entry (key, pid) lives in. */
static struct part *part_for(tr_registry_t *r, const char *key, size_t len,
                             tr_pid_t pid)
{
	return r->keys == TR_KEYS_DUPLICATE ? part_of_pid(r, pid)
	                                    : part_of_key(r, key, len);
}

static void tell(tr_registry_t *r, const char *tag, const char *key, size_t len,
                 tr_pid_t pid, const void *v, size_t vlen)
{
	for (size_t i = 0; i < r->nlisteners; i++) {
		tr_msg_t *m = NULL;
		if (tr_msg_new(&m, tag))
			continue;
		tr_msg_add_str(m, r->name);
		tr_msg_add_strn(m, key, len);
		tr_msg_add_pid(m, pid);
		if (!strcmp(tag, "register")) {
			if (v)
				tr_msg_add_raw(m, v, vlen);
			else
				tr_msg_add_nil(m);
		}
		if (tr_send(r->listeners[i], m))
			tr_msg_free(m);
	}
}

/* ---- entries (partition write-locked) ------------------------------------ */

static void ent_unlink(struct part *p, struct rent *e)
{
	struct rkey *k = e->k;
	struct rent **pp;
	for (pp = &k->first; *pp != e; pp = &(*pp)->knext)
		;
	*pp = e->knext;
	k->n--;
	struct tr__pent *pe = tr__ptab_get(p->pids, e->pid);
	if (pe) {
		for (pp = (struct rent **)&pe->ptr; *pp && *pp != e;
		     pp = &(*pp)->pnext)
			;
		if (*pp)
			*pp = e->pnext;
		if (!pe->ptr)
			tr__ptab_del(p->pids, pe);
	}
	if (!k->n) {
		tr__smap_del(&p->keys, &k->k);
		free(k->k.key);
		free(k);
	}
	p->n--;
}

static tr_err ent_add(struct part *p, const char *key, size_t len, uint64_t h,
                      tr_pid_t pid, const void *v, size_t vlen)
{
	struct rent *e = calloc(1, sizeof(*e));
	if (!e)
		return TR_ENOMEM;
	if (vlen && !(e->value = malloc(vlen))) {
		free(e);
		return TR_ENOMEM;
	}
	if (vlen)
		memcpy(e->value, v, vlen);
	e->vlen = vlen;
	e->pid = pid;
	struct rkey *k = (struct rkey *)tr__smap_get(&p->keys, key, len, h);
	bool new_key = !k;
	if (new_key) {
		k = calloc(1, sizeof(*k));
		if (!k || !(k->k.key = malloc(len + 1))) {
			free(k);
			goto oom;
		}
		memcpy(k->k.key, key, len);
		k->k.key[len] = 0;
		k->k.len = len;
		k->k.h = h;
		if (tr__smap_put(&p->keys, &k->k)) {
			free(k->k.key);
			free(k);
			goto oom;
		}
	}
	struct tr__pent *pe;
	bool had;
	if (tr__ptab_put(&p->pids, pid, &pe, &had)) {
		if (new_key) {
			tr__smap_del(&p->keys, &k->k);
			free(k->k.key);
			free(k);
		}
		goto oom;
	}
	if (!had)
		pe->ptr = NULL;
	e->k = k;
	/* append: lookups list entries in registration order */
	struct rent **pp = &k->first;
	while (*pp)
		pp = &(*pp)->knext;
	*pp = e;
	k->n++;
	e->pnext = pe->ptr;
	pe->ptr = e;
	p->n++;
	return TR_OK;
oom:
	free(e->value);
	free(e);
	return TR_ENOMEM;
}

/* ---- partition owners ---------------------------------------------------- */

struct owner {
	struct part *p;
	struct tr__ptab *watched;
};

static tr_err owner_init(void **state, void *arg)
{
	struct owner *o = calloc(1, sizeof(*o));
	if (!o)
		return TR_ENOMEM;
	o->p = arg;
	*state = o;
	return TR_OK;
}

/* Drop every entry of pid in the owner's partition. */
static void owner_forget(struct owner *o, tr_pid_t pid)
{
	struct part *p = o->p;
	tr_registry_t *r = p->reg;
	struct gone {
		char *key;
		size_t len;
	} *gone = NULL;
	size_t ng = 0;
	pthread_rwlock_wrlock(&p->lock);
	struct tr__pent *pe = tr__ptab_get(p->pids, pid);
	size_t cnt = 0;
	for (struct rent *e = pe ? pe->ptr : NULL; e; e = e->pnext)
		cnt++;
	if (cnt && r->nlisteners)
		gone = calloc(cnt, sizeof(*gone));
	while ((pe = tr__ptab_get(p->pids, pid)) && pe->ptr) {
		struct rent *e = pe->ptr;
		if (gone && (gone[ng].key = malloc(e->k->k.len + 1))) {
			memcpy(gone[ng].key, e->k->k.key, e->k->k.len + 1);
			gone[ng++].len = e->k->k.len;
		}
		ent_unlink(p, e);
		free(e->value);
		free(e);
	}
	pthread_rwlock_unlock(&p->lock);
	for (size_t i = 0; i < ng; i++) {
		tell(r, "unregister", gone[i].key, gone[i].len, pid, NULL, 0);
		free(gone[i].key);
	}
	free(gone);
}

static void owner_receive(void *state, tr_msg_t *m)
{
	struct owner *o = state;
	tr_pid_t pid;
	if (tr_msg_kind(m) == TR_MSG_DOWN) {
		tr_ref_t ref;
		char reason[TR_REASON_MAX];
		if (tr_msg_down_info(m, &ref, &pid, reason, sizeof(reason)))
			return;
		struct tr__pent *e = tr__ptab_get(o->watched, pid);
		if (e)
			tr__ptab_del(o->watched, e);
		owner_forget(o, pid);
	} else if (tr_msg_is(m, "watch") && !tr_msg_get_pid(m, 0, &pid)) {
		struct tr__pent *e;
		bool had;
		if (tr__ptab_get(o->watched, pid))
			return;
		tr_ref_t ref;
		if (tr_monitor(pid, &ref) == TR_OK &&
		    tr__ptab_put(&o->watched, pid, &e, &had) == TR_OK)
			e->pid = tr__key_ref(ref);
	}
}

static void owner_terminate(void *state, const char *reason)
{
	(void)reason;
	struct owner *o = state;
	tr_registry_t *r = o->p->reg;
	tr__ptab_free(o->watched);
	free(o);
	atomic_fetch_sub(&r->owners_alive, 1);
}

static const tr_behaviour_t owner_beh = {
        .name = "tr_registry_partition",
        .init = owner_init,
        .receive = owner_receive,
        .terminate = owner_terminate,
};

/* ---- create, destroy ----------------------------------------------------- */

void tr_registry_opts_init(tr_registry_opts_t *opts)
{
	memset(opts, 0, sizeof(*opts));
}

static void part_free(struct part *p)
{
	struct tr__skey *k, *nx;
	tr__smap_foreach (&p->keys, k, nx) {
		struct rkey *rk = (struct rkey *)k;
		struct rent *e = rk->first, *en;
		for (; e; e = en) {
			en = e->knext;
			free(e->value);
			free(e);
		}
		free(k->key);
		free(k);
	}
	tr__smap_free(&p->keys);
	tr__ptab_free(p->pids);
	pthread_rwlock_destroy(&p->lock);
}

static void stop_owners(tr_registry_t *r, unsigned n)
{
	if (!atomic_load(&r->owners_alive))
		return;
	tr_inbox_t *ib;
	if (tr_inbox_new(r->node, &ib))
		return;
	unsigned mons = 0;
	for (unsigned i = 0; i < n; i++) {
		tr_ref_t ref;
		if (!tr_inbox_monitor(ib, r->parts[i].owner, &ref))
			mons++;
		tr_exit(r->parts[i].owner, TR_KILL);
	}
	while (mons && atomic_load(&r->owners_alive)) {
		tr_msg_t *m = NULL;
		if (tr_inbox_receive(ib, 5000, &m))
			break;
		if (tr_msg_kind(m) == TR_MSG_DOWN)
			mons--;
		tr_msg_free(m);
	}
	tr_inbox_destroy(ib);
}

tr_err tr_registry_new(tr_node_t *node, const tr_registry_opts_t *opts,
                       tr_registry_t **out)
{
	tr_registry_opts_t o;
	if (opts)
		o = *opts;
	else
		tr_registry_opts_init(&o);
	if (!node || !out || o.keys > TR_KEYS_DUPLICATE_BY_KEY ||
	    o.partitions > 1024 || (o.listeners_n && !o.listeners))
		return TR_EINVAL;
	unsigned np = o.partitions ? o.partitions : 1;
	tr_registry_t *r = calloc(1, sizeof(*r) + np * sizeof(struct part));
	if (!r)
		return TR_ENOMEM;
	r->node = node;
	r->keys = o.keys;
	r->nparts = np;
	r->name = strdup(o.name ? o.name : "");
	r->listeners =
	        o.listeners_n ? malloc(o.listeners_n * sizeof(tr_pid_t)) : NULL;
	if (!r->name || (o.listeners_n && !r->listeners)) {
		free(r->name);
		free(r->listeners);
		free(r);
		return TR_ENOMEM;
	}
	if (o.listeners_n)
		memcpy(r->listeners, o.listeners,
		       o.listeners_n * sizeof(tr_pid_t));
	r->nlisteners = o.listeners_n;
	pthread_mutex_init(&r->meta_lock, NULL);
	tr_err e = TR_OK;
	unsigned i;
	for (i = 0; i < np; i++) {
		struct part *p = &r->parts[i];
		pthread_rwlock_init(&p->lock, NULL);
		p->reg = r;
		atomic_fetch_add(&r->owners_alive, 1);
		e = tr_spawn(node, &owner_beh, p, &p->owner);
		if (e) {
			atomic_fetch_sub(&r->owners_alive, 1);
			pthread_rwlock_destroy(&p->lock);
			break;
		}
	}
	if (e) {
		stop_owners(r, i);
		for (unsigned j = 0; j < i; j++)
			part_free(&r->parts[j]);
		pthread_mutex_destroy(&r->meta_lock);
		free(r->name);
		free(r->listeners);
		free(r);
		return e;
	}
	*out = r;
	return TR_OK;
}

void tr_registry_destroy(tr_registry_t *r)
{
	if (!r)
		return;
	stop_owners(r, r->nparts);
	for (unsigned i = 0; i < r->nparts; i++)
		part_free(&r->parts[i]);
	while (r->meta) {
		struct meta *m = r->meta;
		r->meta = m->next;
		free(m->key);
		free(m->v);
		free(m);
	}
	pthread_mutex_destroy(&r->meta_lock);
	free(r->name);
	free(r->listeners);
	free(r);
}

/* ---- operations ---------------------------------------------------------- */

static bool key_ok(const char *key)
{
	return key && strlen(key) <= TR_REGISTRY_KEY_MAX;
}

static bool value_ok(const void *v, size_t len)
{
	size_t used;
	if (!v)
		return len == 0;
	return tr__mp_validate(v, len, TR_MSG_MAX_DEPTH, &used) == TR_OK &&
	       used == len;
}

tr_err tr_registry_register(tr_registry_t *r, const char *key, tr_pid_t pid,
                            const void *value, size_t value_len)
{
	if (!r || !key_ok(key) || tr_pid_is_none(pid))
		return TR_EINVAL;
	if (pid.node != tr_node_id(r->node) ||
	    pid.creation != tr_node_creation(r->node))
		return TR_EINVAL; /* another node's actor */
	if (!value_ok(value, value_len))
		return TR_EPROTO;
	if (!tr_is_alive(pid))
		return TR_ENOENT;
	size_t len = strlen(key);
	uint64_t h = tr__hash_bytes(key, len);
	struct part *p = part_for(r, key, len, pid);
	tr_err e = TR_OK;
	pthread_rwlock_wrlock(&p->lock);
	if (r->keys == TR_KEYS_UNIQUE) {
		struct rkey *k =
		        (struct rkey *)tr__smap_get(&p->keys, key, len, h);
		if (k && k->first) {
			if (tr_is_alive(k->first->pid)) {
				e = TR_EEXIST;
			} else { /* its owner has not cleaned up yet */
				struct rent *old = k->first;
				ent_unlink(p, old);
				free(old->value);
				free(old);
			}
		}
	}
	if (!e)
		e = ent_add(p, key, len, h, pid, value, value_len);
	pthread_rwlock_unlock(&p->lock);
	if (e)
		return e;
	tr_msg_t *w = NULL;
	if (!tr_msg_new(&w, "watch") && !tr_msg_add_pid(w, pid)) {
		if (tr_send(p->owner, w))
			tr_msg_free(w);
	} else {
		tr_msg_free(w);
	}
	tell(r, "register", key, len, pid, value, value_len);
	return TR_OK;
}

/* Remove pid's entries under key accepted by pred (all if NULL). */
static size_t remove_matching(tr_registry_t *r, const char *key, tr_pid_t pid,
                              tr_registry_pred pred, void *ctx)
{
	size_t len = strlen(key), n = 0;
	uint64_t h = tr__hash_bytes(key, len);
	struct part *p = part_for(r, key, len, pid);
	pthread_rwlock_wrlock(&p->lock);
	struct rkey *k = (struct rkey *)tr__smap_get(&p->keys, key, len, h);
	struct rent *e = k ? k->first : NULL, *nx;
	size_t left = k ? k->n : 0;
	for (; e && left; e = nx, left--) {
		nx = e->knext;
		if (!tr_pid_eq(e->pid, pid))
			continue;
		tr_registry_entry_t re = {e->pid, e->value, e->vlen};
		if (pred && !pred(key, len, &re, ctx))
			continue;
		bool last = k->n == 1;
		ent_unlink(p, e);
		free(e->value);
		free(e);
		n++;
		if (last)
			break; /* the key is gone with its last entry */
	}
	pthread_rwlock_unlock(&p->lock);
	for (size_t i = 0; i < n; i++)
		tell(r, "unregister", key, len, pid, NULL, 0);
	return n;
}

tr_err tr_registry_unregister(tr_registry_t *r, const char *key, tr_pid_t pid)
{
	if (!r || !key_ok(key))
		return TR_EINVAL;
	remove_matching(r, key, pid, NULL, NULL);
	return TR_OK;
}

tr_err tr_registry_unregister_match(tr_registry_t *r, const char *key,
                                    tr_pid_t pid, tr_registry_pred pred,
                                    void *ctx, size_t *n)
{
	if (!r || !key_ok(key))
		return TR_EINVAL;
	size_t c = remove_matching(r, key, pid, pred, ctx);
	if (n)
		*n = c;
	return TR_OK;
}

/*
 * Visit key's entries in every partition that may hold them (all of them
 * for a duplicate registry partitioned by pid), read-locked.
 */
static void visit_key(tr_registry_t *r, const char *key,
                      void (*fn)(const char *key, size_t len,
                                 const struct rent *e, void *ctx),
                      void *ctx)
{
	size_t len = strlen(key);
	uint64_t h = tr__hash_bytes(key, len);
	unsigned from = 0, to = r->nparts;
	if (r->keys != TR_KEYS_DUPLICATE) {
		from = (unsigned)(part_of_key(r, key, len) - r->parts);
		to = from + 1;
	}
	for (unsigned i = from; i < to; i++) {
		struct part *p = &r->parts[i];
		pthread_rwlock_rdlock(&p->lock);
		struct rkey *k =
		        (struct rkey *)tr__smap_get(&p->keys, key, len, h);
		for (struct rent *e = k ? k->first : NULL; e; e = e->knext)
			fn(key, len, e, ctx);
		pthread_rwlock_unlock(&p->lock);
	}
}

struct collect {
	tr_registry_pred pred;
	void *ctx;
	tr_pid_t *out;
	size_t cap, n;
};

static void collect_fn(const char *key, size_t len, const struct rent *e,
                       void *ctx)
{
	struct collect *c = ctx;
	tr_registry_entry_t re = {e->pid, e->value, e->vlen};
	if (c->pred && !c->pred(key, len, &re, c->ctx))
		return;
	if (c->n < c->cap)
		c->out[c->n] = e->pid;
	c->n++;
}

tr_err tr_registry_match(tr_registry_t *r, const char *key,
                         tr_registry_pred pred, void *ctx, tr_pid_t *out,
                         size_t cap, size_t *n)
{
	if (!r || !key_ok(key) || (cap && !out))
		return TR_EINVAL;
	struct collect c = {pred, ctx, out, cap, 0};
	visit_key(r, key, collect_fn, &c);
	if (n)
		*n = c.n;
	return TR_OK;
}

tr_err tr_registry_lookup(tr_registry_t *r, const char *key, tr_pid_t *out,
                          size_t cap, size_t *n)
{
	return tr_registry_match(r, key, NULL, NULL, out, cap, n);
}

size_t tr_registry_count_match(tr_registry_t *r, const char *key,
                               tr_registry_pred pred, void *ctx)
{
	size_t n = 0;
	tr_registry_match(r, key, pred, ctx, NULL, 0, &n);
	return n;
}

size_t tr_registry_count(tr_registry_t *r)
{
	size_t n = 0;
	for (unsigned i = 0; r && i < r->nparts; i++) {
		pthread_rwlock_rdlock(&r->parts[i].lock);
		n += r->parts[i].n;
		pthread_rwlock_unlock(&r->parts[i].lock);
	}
	return n;
}

struct valget {
	tr_pid_t pid;
	void *buf;
	size_t cap, len;
	bool found;
};

static void value_fn(const char *key, size_t len, const struct rent *e,
                     void *ctx)
{
	(void)key;
	(void)len;
	struct valget *v = ctx;
	if (v->found || !tr_pid_eq(e->pid, v->pid))
		return;
	v->found = true;
	v->len = e->vlen;
	if (e->vlen <= v->cap && e->vlen)
		memcpy(v->buf, e->value, e->vlen);
}

tr_err tr_registry_value(tr_registry_t *r, const char *key, tr_pid_t pid,
                         void *buf, size_t cap, size_t *len)
{
	if (!r || !key_ok(key) || (cap && !buf))
		return TR_EINVAL;
	struct valget v = {pid, buf, cap, 0, false};
	visit_key(r, key, value_fn, &v);
	if (!v.found)
		return TR_ENOENT;
	if (len)
		*len = v.len;
	return v.len > cap ? TR_ELIMIT : TR_OK;
}

tr_err tr_registry_keys(tr_registry_t *r, tr_pid_t pid,
                        void (*fn)(const char *key, size_t len, void *ctx),
                        void *ctx, size_t *n)
{
	if (!r)
		return TR_EINVAL;
	size_t c = 0;
	unsigned from = 0, to = r->nparts;
	if (r->keys == TR_KEYS_DUPLICATE) {
		from = (unsigned)(part_of_pid(r, pid) - r->parts);
		to = from + 1;
	}
	for (unsigned i = from; i < to; i++) {
		struct part *p = &r->parts[i];
		pthread_rwlock_rdlock(&p->lock);
		struct tr__pent *pe = tr__ptab_get(p->pids, pid);
		for (struct rent *e = pe ? pe->ptr : NULL; e; e = e->pnext) {
			c++;
			if (fn)
				fn(e->k->k.key, e->k->k.len, ctx);
		}
		pthread_rwlock_unlock(&p->lock);
	}
	if (n)
		*n = c;
	return TR_OK;
}

tr_err tr_registry_select(tr_registry_t *r,
                          bool (*fn)(const char *key, size_t len,
                                     const tr_registry_entry_t *e, void *ctx),
                          void *ctx)
{
	if (!r || !fn)
		return TR_EINVAL;
	for (unsigned i = 0; i < r->nparts; i++) {
		struct part *p = &r->parts[i];
		bool go = true;
		pthread_rwlock_rdlock(&p->lock);
		struct tr__skey *k, *nx;
		tr__smap_foreach (&p->keys, k, nx) {
			for (struct rent *e = ((struct rkey *)k)->first;
			     go && e; e = e->knext) {
				tr_registry_entry_t re = {e->pid, e->value,
				                          e->vlen};
				go = fn(k->key, k->len, &re, ctx);
			}
			if (!go)
				break;
		}
		pthread_rwlock_unlock(&p->lock);
		if (!go)
			break;
	}
	return TR_OK;
}

struct gather {
	tr_registry_entry_t *v;
	size_t n, cap;
	bool oom;
};

static void gather_fn(const char *key, size_t len, const struct rent *e,
                      void *ctx)
{
	(void)key;
	(void)len;
	struct gather *g = ctx;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		void *v = realloc(g->v, cap * sizeof(*g->v));
		if (!v) {
			g->oom = true;
			return;
		}
		g->v = v;
		g->cap = cap;
	}
	/* values are copied: fn runs after the partitions are unlocked */
	void *val = NULL;
	if (e->vlen && !(val = malloc(e->vlen))) {
		g->oom = true;
		return;
	}
	if (e->vlen)
		memcpy(val, e->value, e->vlen);
	g->v[g->n++] = (tr_registry_entry_t){e->pid, val, e->vlen};
}

tr_err tr_registry_dispatch(tr_registry_t *r, const char *key,
                            void (*fn)(const tr_registry_entry_t *es, size_t n,
                                       void *ctx),
                            void *ctx, size_t *n)
{
	if (!r || !key_ok(key) || !fn)
		return TR_EINVAL;
	struct gather g = {0};
	visit_key(r, key, gather_fn, &g);
	tr_err e = g.oom ? TR_ENOMEM : TR_OK;
	if (!e && g.n)
		fn(g.v, g.n, ctx);
	if (n)
		*n = g.n;
	for (size_t i = 0; i < g.n; i++)
		free((void *)g.v[i].value);
	free(g.v);
	return e;
}

tr_err tr_registry_update_value(tr_registry_t *r, const char *key, tr_pid_t pid,
                                const void *value, size_t value_len)
{
	if (!r || !key_ok(key))
		return TR_EINVAL;
	if (r->keys != TR_KEYS_UNIQUE)
		return TR_ENOTSUP;
	if (!value_ok(value, value_len))
		return TR_EPROTO;
	void *copy = NULL;
	if (value_len && !(copy = malloc(value_len)))
		return TR_ENOMEM;
	if (value_len)
		memcpy(copy, value, value_len);
	size_t len = strlen(key);
	struct part *p = part_of_key(r, key, len);
	tr_err e = TR_ENOENT;
	pthread_rwlock_wrlock(&p->lock);
	struct rkey *k = (struct rkey *)tr__smap_get(&p->keys, key, len,
	                                             tr__hash_bytes(key, len));
	if (k && k->first && tr_pid_eq(k->first->pid, pid)) {
		free(k->first->value);
		k->first->value = copy;
		k->first->vlen = value_len;
		copy = NULL;
		e = TR_OK;
	}
	pthread_rwlock_unlock(&p->lock);
	free(copy);
	return e;
}

/* ---- meta ---------------------------------------------------------------- */

static struct meta **meta_find(tr_registry_t *r, const char *key)
{
	struct meta **pp = &r->meta;
	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->key, key))
			break;
	return pp;
}

tr_err tr_registry_put_meta(tr_registry_t *r, const char *key, const void *v,
                            size_t len)
{
	if (!r || !key || (len && !v))
		return TR_EINVAL;
	void *copy = len ? malloc(len) : NULL;
	if (len && !copy)
		return TR_ENOMEM;
	if (len)
		memcpy(copy, v, len);
	tr_err e = TR_OK;
	pthread_mutex_lock(&r->meta_lock);
	struct meta **pp = meta_find(r, key);
	if (*pp) {
		free((*pp)->v);
		(*pp)->v = copy;
		(*pp)->len = len;
	} else {
		struct meta *m = calloc(1, sizeof(*m));
		if (!m || !(m->key = strdup(key))) {
			free(m);
			free(copy);
			e = TR_ENOMEM;
		} else {
			m->v = copy;
			m->len = len;
			*pp = m;
		}
	}
	pthread_mutex_unlock(&r->meta_lock);
	return e;
}

tr_err tr_registry_meta(tr_registry_t *r, const char *key, void *buf,
                        size_t cap, size_t *len)
{
	if (!r || !key || (cap && !buf))
		return TR_EINVAL;
	tr_err e = TR_ENOENT;
	pthread_mutex_lock(&r->meta_lock);
	struct meta *m = *meta_find(r, key);
	if (m) {
		if (len)
			*len = m->len;
		e = m->len > cap ? TR_ELIMIT : TR_OK;
		if (m->len)
			memcpy(buf, m->v, m->len < cap ? m->len : cap);
	}
	pthread_mutex_unlock(&r->meta_lock);
	return e;
}

tr_err tr_registry_delete_meta(tr_registry_t *r, const char *key)
{
	if (!r || !key)
		return TR_EINVAL;
	pthread_mutex_lock(&r->meta_lock);
	struct meta **pp = meta_find(r, key), *m = *pp;
	if (m)
		*pp = m->next;
	pthread_mutex_unlock(&r->meta_lock);
	if (!m)
		return TR_ENOENT;
	free(m->key);
	free(m->v);
	free(m);
	return TR_OK;
}
