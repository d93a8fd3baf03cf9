/*
 * runtime/node.c - node lifecycle, identity, the process-wide node index,
 * statistics.
 *
 * The node index lets tr_send() find the node of a pid that lives in this
 * process without a node argument (several nodes share a process in tests
 * and in embedded use). It is a small array under a read-write lock; the
 * send fast path skips it whenever the pid belongs to the caller's node.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "runtime/internal.h"

TR__TLS struct tr_sched *tr__tls_sched;
TR__TLS struct tr_actor *tr__tls_actor;

#define MAX_LOCAL_NODES 256

static pthread_rwlock_t index_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tr_node *local_nodes[MAX_LOCAL_NODES];

uint64_t tr_node_id_of_name(const char *name)
{
	/* FNV-1a 64; 0 is reserved for "no node". */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)name; p && *p;
	     p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

tr_node_t *tr__node_by_id(uint64_t id)
{
	struct tr_sched *s = tr__tls_sched;
	if (s && s->node->id == id)
		return s->node;
	tr_node_t *found = NULL;
	pthread_rwlock_rdlock(&index_lock);
	for (int i = 0; i < MAX_LOCAL_NODES; i++) {
		if (local_nodes[i] && local_nodes[i]->id == id) {
			found = local_nodes[i];
			break;
		}
	}
	pthread_rwlock_unlock(&index_lock);
	return found;
}

tr_err tr__node_set_dist(struct tr_node *n, const struct tr_dist_ops *ops,
                         void *dist)
{
	tr_err e = TR_EEXIST;
	pthread_rwlock_wrlock(&index_lock);
	if (!n->dist_ops) {
		n->dist = dist;
		n->dist_ops = ops;
		e = TR_OK;
	}
	pthread_rwlock_unlock(&index_lock);
	return e;
}

void tr__node_clear_dist(struct tr_node *n)
{
	pthread_rwlock_wrlock(&index_lock);
	n->dist_ops = NULL;
	n->dist = NULL;
	pthread_rwlock_unlock(&index_lock);
}

/* A sender without a node (a plain thread) to a pid of no node in this
 * process: the first distributed node here with a connection to it. */
tr_err tr__route_any(tr_pid_t to, tr_msg_t *m)
{
	tr_err e = TR_EUNREACHABLE;
	pthread_rwlock_rdlock(&index_lock);
	for (int i = 0; i < MAX_LOCAL_NODES && e == TR_EUNREACHABLE; i++) {
		struct tr_node *n = local_nodes[i];
		if (n && n->dist_ops)
			e = n->dist_ops->route(n->dist, to, m);
	}
	pthread_rwlock_unlock(&index_lock);
	return e;
}

static tr_err index_add(struct tr_node *n)
{
	tr_err e = TR_ELIMIT;
	pthread_rwlock_wrlock(&index_lock);
	for (int i = 0; i < MAX_LOCAL_NODES; i++) {
		if (local_nodes[i] && local_nodes[i]->id == n->id) {
			e = TR_EEXIST;
			break;
		}
	}
	if (e != TR_EEXIST) {
		for (int i = 0; i < MAX_LOCAL_NODES; i++) {
			if (!local_nodes[i]) {
				local_nodes[i] = n;
				e = TR_OK;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&index_lock);
	return e;
}

static void index_del(struct tr_node *n)
{
	pthread_rwlock_wrlock(&index_lock);
	for (int i = 0; i < MAX_LOCAL_NODES; i++)
		if (local_nodes[i] == n)
			local_nodes[i] = NULL;
	pthread_rwlock_unlock(&index_lock);
}

tr_ref_t tr__make_ref(struct tr_node *node)
{
	tr_ref_t r = {node->id,
	              atomic_fetch_add_explicit(&node->next_ref, 1,
	                                        memory_order_relaxed),
	              node->creation};
	return r;
}

void tr_node_opts_init(tr_node_opts_t *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->spin_us = -1;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
	}
	return v;
}

static tr_err node_new(tr_node_t **out, const tr_node_opts_t *opts_in,
                       bool manual)
{
	tr_node_opts_t opts;
	if (!out)
		return TR_EINVAL;
	if (opts_in)
		opts = *opts_in;
	else
		tr_node_opts_init(&opts);
	if (opts.name && (!*opts.name || strlen(opts.name) > 255))
		return TR_EINVAL;
	if (opts.schedulers > 256)
		return TR_EINVAL;
	if (opts.max_actors > TR__MAX_ACTORS)
		return TR_EINVAL;

	struct tr_node *n = tr__calloc(1, sizeof(*n));
	if (!n)
		return TR_ENOMEM;
	if (opts.name)
		snprintf(n->name, sizeof(n->name), "%s", opts.name);
	else
		snprintf(n->name, sizeof(n->name), "anon-%016llx",
		         (unsigned long long)random_u64());
	n->id = tr_node_id_of_name(n->name);
	n->manual = manual;
	n->creation = opts.creation;
	while (!n->creation)
		n->creation = (uint32_t)random_u64();
	if (!opts.schedulers) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		opts.schedulers = c > 0 ? (unsigned)(c > 256 ? 256 : c) : 1;
	}
	n->nsched = opts.schedulers;
	n->batch = opts.batch ? opts.batch : 128;
	n->spin_us = opts.spin_us < 0 ? 100 : opts.spin_us;
	n->max_actors = opts.max_actors ? opts.max_actors : (1u << 24);
	n->nchunks = (n->max_actors + TR__CHUNK_SLOTS - 1) / TR__CHUNK_SLOTS;
	atomic_store(&n->next_ref, 1);

	tr_err e = TR_ENOMEM;
	n->chunks = tr__calloc(n->nchunks, sizeof(*n->chunks));
	if (!n->chunks)
		goto fail;
	pthread_mutex_init(&n->slot_lock, NULL);
	pthread_mutex_init(&n->inj_lock, NULL);
	pthread_mutex_init(&n->block_lock, NULL);
	tr__reclaim_init(n);
	for (int i = 0; i < 64; i++)
		pthread_mutex_init(&n->mute_lock[i], NULL);
	n->mb_high = opts.mailbox_high ? opts.mailbox_high : 4096;
	n->mb_low = n->mb_high / 2;
	e = tr__names_new(&n->names);
	if (e)
		goto fail_locks;
	e = index_add(n);
	if (e)
		goto fail_names;
	e = tr__timers_start(n);
	if (e)
		goto fail_index;
	e = tr__sched_start(n);
	if (e)
		goto fail_timers;
	*out = n;
	return TR_OK;

fail_timers:
	tr__timers_stop(n);
fail_index:
	index_del(n);
fail_names:
	tr__names_destroy(n->names);
fail_locks:
	pthread_mutex_destroy(&n->slot_lock);
	pthread_mutex_destroy(&n->inj_lock);
	tr__reclaim_destroy(n);
fail:
	tr__free(n->chunks);
	tr__free(n);
	return e;
}

tr_err tr_node_new(tr_node_t **out, const tr_node_opts_t *opts_in)
{
	return node_new(out, opts_in, false);
}

tr_err tr__sim_node_new(struct tr_node **out, const tr_node_opts_t *opts)
{
	tr_node_opts_t o;
	if (opts)
		o = *opts;
	else
		tr_node_opts_init(&o);
	o.schedulers = 1;
	return node_new(out, &o, true);
}

void tr_node_destroy(tr_node_t *n)
{
	if (!n)
		return;
	atomic_store(&n->stopping, true);
	tr__timers_stop(n);
	tr__sched_stop(n);
	/* Still indexed while terminate callbacks run: what they send to
	 * the node's own (now unreachable) actors is dropped, not refused. */
	tr__actor_reap_all(n);
	/* The network last: what terminate callbacks sent is queued; no
	 * scheduler can touch the distribution's memory any more. */
	if (n->dist_ops && n->dist_ops->stop)
		n->dist_ops->stop(n->dist);
	index_del(n);
	tr__names_destroy(n->names);
	tr__msg_blocks_release(n);
	for (size_t i = 0; i < n->nchunks; i++)
		tr__free(atomic_load(&n->chunks[i]));
	tr__free(n->chunks);
	tr__free(n->free_slots);
	tr__free(n->inj);
	pthread_mutex_destroy(&n->slot_lock);
	pthread_mutex_destroy(&n->inj_lock);
	pthread_mutex_destroy(&n->block_lock);
	tr__reclaim_destroy(n);
	for (int i = 0; i < 64; i++)
		pthread_mutex_destroy(&n->mute_lock[i]);
	tr__free(n);
}

const char *tr_node_name(const tr_node_t *node)
{
	return node ? node->name : "";
}

uint64_t tr_node_id(const tr_node_t *node)
{
	return node ? node->id : 0;
}

uint32_t tr_node_creation(const tr_node_t *node)
{
	return node ? node->creation : 0;
}

unsigned tr_node_schedulers(const tr_node_t *node)
{
	return node ? node->nsched : 0;
}

tr_node_t *tr_node_current(void)
{
	/* An actor's init runs on the spawner's thread, which may be a plain
	 * thread: the running actor decides. */
	if (tr__tls_actor)
		return tr__tls_actor->node;
	return tr__tls_sched ? tr__tls_sched->node : NULL;
}

tr_err tr_node_stats(tr_node_t *n, tr_node_stats_t *out)
{
	if (!n || !out)
		return TR_EINVAL;
	memset(out, 0, sizeof(*out));
	out->actors = atomic_load(&n->alive);
	out->actors_peak = atomic_load(&n->peak);
	out->spawned = atomic_load(&n->spawned);
	out->exited = atomic_load(&n->exited);
	out->dropped_dead = atomic_load(&n->dropped_dead);
	out->dropped_stale = atomic_load(&n->dropped_stale);
	out->late_replies = atomic_load(&n->late_replies);
	out->timers = tr__timers_count(n);
	out->names = tr__names_count(n);
	out->schedulers = n->nsched;
	for (unsigned i = 0; i < n->nsched; i++)
		out->messages += atomic_load_explicit(&n->scheds[i].st_messages,
		                                      memory_order_relaxed);
	return TR_OK;
}

tr_err tr_node_sched_stats(tr_node_t *n, unsigned idx, tr_sched_stats_t *out)
{
	if (!n || !out)
		return TR_EINVAL;
	if (idx >= n->nsched)
		return TR_ERANGE;
	struct tr_sched *s = &n->scheds[idx];
	out->turns = atomic_load_explicit(&s->st_turns, memory_order_relaxed);
	out->messages =
	        atomic_load_explicit(&s->st_messages, memory_order_relaxed);
	out->steals = atomic_load_explicit(&s->st_steals, memory_order_relaxed);
	out->parks = atomic_load_explicit(&s->st_parks, memory_order_relaxed);
	out->spin_hits =
	        atomic_load_explicit(&s->st_spin_hits, memory_order_relaxed);
	out->injected =
	        atomic_load_explicit(&s->st_injected, memory_order_relaxed);
	out->queue_len =
	        atomic_load_explicit(&s->qlen_pub, memory_order_relaxed);
	return TR_OK;
}
