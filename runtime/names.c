/*
 * runtime/names.c - local names (Erlang register/unregister/whereis).
 *
 * A chained hash table under one mutex. An actor's own `name` field points
 * at its entry's string and is guarded by the same mutex. Registration
 * re-checks, under the lock, that the actor is still alive; the exit path
 * sets the actor EXITING before it releases names under the lock, so a
 * name can never be left behind on a dead actor.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

struct nent {
	struct nent *next;
	struct tr_actor *a;
	tr_pid_t pid;
	char name[];
};

struct tr_names {
	pthread_mutex_t lock;
	struct nent **b;
	size_t nb, n;
};

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return (size_t)h;
}

tr_err tr__names_new(struct tr_names **out)
{
	struct tr_names *t = tr__calloc(1, sizeof(*t));
	if (!t)
		return TR_ENOMEM;
	t->nb = 64;
	t->b = tr__calloc(t->nb, sizeof(*t->b));
	if (!t->b) {
		tr__free(t);
		return TR_ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return TR_OK;
}

void tr__names_destroy(struct tr_names *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nb; i++) {
		struct nent *e = t->b[i];
		while (e) {
			struct nent *n = e->next;
			tr__free(e);
			e = n;
		}
	}
	tr__free(t->b);
	pthread_mutex_destroy(&t->lock);
	tr__free(t);
}

static struct nent **find_locked(struct tr_names *t, const char *name)
{
	struct nent **pp = &t->b[hash_str(name) & (t->nb - 1)];
	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	return pp;
}

static void grow_locked(struct tr_names *t)
{
	size_t nb = t->nb * 2;
	struct nent **b = tr__calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nb; i++) {
		struct nent *e = t->b[i];
		while (e) {
			struct nent *n = e->next;
			size_t h = hash_str(e->name) & (nb - 1);
			e->next = b[h];
			b[h] = e;
			e = n;
		}
	}
	tr__free(t->b);
	t->b = b;
	t->nb = nb;
}

static tr_err valid_name(const char *name)
{
	if (!name || !*name || strnlen(name, TR_NAME_MAX) >= TR_NAME_MAX)
		return TR_EINVAL;
	return TR_OK;
}

tr_err tr__names_register(struct tr_node *node, const char *name,
                          struct tr_actor *a)
{
	struct tr_names *t = node->names;
	size_t len = strlen(name);
	tr_err e = TR_OK;
	pthread_mutex_lock(&t->lock);
	struct nent **pp = find_locked(t, name);
	if (*pp || a->name) {
		e = TR_EEXIST;
	} else if (atomic_load(&a->astate) != TR__A_ALIVE) {
		e = TR_ENOENT;
	} else {
		struct nent *n = tr__malloc(sizeof(*n) + len + 1);
		if (!n) {
			e = TR_ENOMEM;
		} else {
			memcpy(n->name, name, len + 1);
			n->a = a;
			n->pid = tr__pid_of(a);
			n->next = NULL;
			*pp = n;
			a->name = n->name;
			if (++t->n > t->nb * 2)
				grow_locked(t);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return e;
}

static void remove_locked(struct tr_names *t, struct nent **pp)
{
	struct nent *n = *pp;
	*pp = n->next;
	n->a->name = NULL;
	t->n--;
	tr__free(n);
}

void tr__names_release(struct tr_node *node, struct tr_actor *a)
{
	struct tr_names *t = node->names;
	pthread_mutex_lock(&t->lock);
	if (a->name)
		remove_locked(t, find_locked(t, a->name));
	pthread_mutex_unlock(&t->lock);
}

size_t tr__names_count(struct tr_node *node)
{
	pthread_mutex_lock(&node->names->lock);
	size_t n = node->names->n;
	pthread_mutex_unlock(&node->names->lock);
	return n;
}

void tr__names_copy(struct tr_node *node, struct tr_actor *a, char *buf,
                    size_t cap)
{
	pthread_mutex_lock(&node->names->lock);
	snprintf(buf, cap, "%s", a->name ? a->name : "");
	pthread_mutex_unlock(&node->names->lock);
}

static struct tr_node *pick(tr_node_t *node)
{
	return node ? node : tr_node_current();
}

tr_err tr_register(tr_node_t *node, const char *name, tr_pid_t pid)
{
	node = pick(node);
	if (!node || valid_name(name) || tr_pid_is_none(pid))
		return TR_EINVAL;
	if (pid.node != node->id)
		return TR_EINVAL;
	struct tr_actor *a = tr__actor_get(node, pid);
	if (!a)
		return TR_ENOENT;
	tr_err e = tr__names_register(node, name, a);
	tr__actor_put(a);
	return e;
}

tr_err tr_unregister(tr_node_t *node, const char *name)
{
	node = pick(node);
	if (!node || valid_name(name))
		return TR_EINVAL;
	struct tr_names *t = node->names;
	tr_err e = TR_ENOENT;
	pthread_mutex_lock(&t->lock);
	struct nent **pp = find_locked(t, name);
	if (*pp) {
		remove_locked(t, pp);
		e = TR_OK;
	}
	pthread_mutex_unlock(&t->lock);
	return e;
}

tr_err tr_whereis(tr_node_t *node, const char *name, tr_pid_t *out)
{
	node = pick(node);
	if (!node || valid_name(name))
		return TR_EINVAL;
	struct tr_names *t = node->names;
	tr_err e = TR_ENOENT;
	pthread_mutex_lock(&t->lock);
	struct nent **pp = find_locked(t, name);
	if (*pp) {
		if (out)
			*out = (*pp)->pid;
		e = TR_OK;
	}
	pthread_mutex_unlock(&t->lock);
	return e;
}

tr_err tr_send_name(tr_node_t *node, const char *name, tr_msg_t *msg)
{
	tr_pid_t pid;
	if (!msg)
		return TR_EINVAL;
	tr_err e = tr_whereis(node, name, &pid);
	if (e)
		return e;
	return tr_send(pid, msg);
}
