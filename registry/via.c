/*
 * registry/via.c - via-names: one naming interface over every registry.
 */
#include <string.h>
#include <troupe/registry.h>

/* ---- local names --------------------------------------------------------- */

static tr_err local_register(void *reg, const char *name, tr_pid_t pid)
{
	return tr_register(reg, name, pid);
}

static tr_err local_unregister(void *reg, const char *name)
{
	return tr_unregister(reg, name);
}

static tr_err local_whereis(void *reg, const char *name, tr_pid_t *out)
{
	return tr_whereis(reg, name, out);
}

const tr_via_ops_t tr_via_local = {
        .kind = "local",
        .register_name = local_register,
        .unregister_name = local_unregister,
        .whereis_name = local_whereis,
};

/* ---- the global registry ------------------------------------------------- */

#define VIA_TIMEOUT_MS 30000

static tr_err global_register(void *reg, const char *name, tr_pid_t pid)
{
	return tr_global_register(reg, name, pid, NULL, VIA_TIMEOUT_MS);
}

static tr_err global_unregister(void *reg, const char *name)
{
	return tr_global_unregister(reg, name, VIA_TIMEOUT_MS);
}

static tr_err global_whereis(void *reg, const char *name, tr_pid_t *out)
{
	return tr_global_whereis(reg, name, out);
}

const tr_via_ops_t tr_via_global = {
        .kind = "global",
        .register_name = global_register,
        .unregister_name = global_unregister,
        .whereis_name = global_whereis,
};

/* ---- a unique Registry --------------------------------------------------- */

static tr_err registry_register(void *reg, const char *key, tr_pid_t pid)
{
	return tr_registry_register(reg, key, pid, NULL, 0);
}

static tr_err registry_unregister(void *reg, const char *key)
{
	tr_pid_t p;
	size_t n = 0;
	tr_err e = tr_registry_lookup(reg, key, &p, 1, &n);
	if (e)
		return e;
	if (!n)
		return TR_ENOENT;
	return tr_registry_unregister(reg, key, p);
}

static tr_err registry_whereis(void *reg, const char *key, tr_pid_t *out)
{
	size_t n = 0;
	tr_err e = tr_registry_lookup(reg, key, out, 1, &n);
	if (e)
		return e;
	return n ? TR_OK : TR_ENOENT;
}

const tr_via_ops_t tr_via_registry = {
        .kind = "registry",
        .register_name = registry_register,
        .unregister_name = registry_unregister,
        .whereis_name = registry_whereis,
};

/* ---- the interface ------------------------------------------------------- */

static bool valid(const tr_name_t *n)
{
	return n && n->ops && n->ops->register_name &&
	       n->ops->unregister_name && n->ops->whereis_name && n->name &&
	       *n->name;
}

tr_err tr_via_register(const tr_name_t *n, tr_pid_t pid)
{
	if (!valid(n) || tr_pid_is_none(pid))
		return TR_EINVAL;
	return n->ops->register_name(n->reg, n->name, pid);
}

tr_err tr_via_unregister(const tr_name_t *n)
{
	if (!valid(n))
		return TR_EINVAL;
	return n->ops->unregister_name(n->reg, n->name);
}

tr_err tr_via_whereis(const tr_name_t *n, tr_pid_t *out)
{
	if (!valid(n) || !out)
		return TR_EINVAL;
	return n->ops->whereis_name(n->reg, n->name, out);
}

tr_err tr_via_send(const tr_name_t *n, tr_msg_t *msg)
{
	if (!valid(n) || !msg)
		return TR_EINVAL;
	if (n->ops->send)
		return n->ops->send(n->reg, n->name, msg);
	tr_pid_t p;
	tr_err e = n->ops->whereis_name(n->reg, n->name, &p);
	return e ? e : tr_send(p, msg);
}

tr_err tr_via_call(tr_node_t *node, const tr_name_t *n, tr_msg_t *req,
                   uint64_t timeout_ms, tr_msg_t **reply, char *reason_buf,
                   size_t reason_cap)
{
	if (!valid(n) || !req || !reply)
		return TR_EINVAL;
	tr_pid_t p;
	tr_err e = n->ops->whereis_name(n->reg, n->name, &p);
	if (e)
		return e;
	return tr_call(node, p, req, timeout_ms, reply, reason_buf, reason_cap);
}

tr_err tr_via_spawn(tr_node_t *node, const tr_behaviour_t *beh, void *arg,
                    const tr_spawn_opts_t *opts, const tr_name_t *n,
                    tr_pid_t *out)
{
	if (!valid(n) || !out || (opts && opts->monitor))
		return TR_EINVAL;
	tr_pid_t holder;
	if (n->ops->whereis_name(n->reg, n->name, &holder) == TR_OK) {
		*out = holder;
		return TR_EEXIST;
	}
	tr_spawn_opts_t o = {0};
	if (opts)
		o = *opts;
	o.name = NULL; /* the via registry names it */
	tr_pid_t pid;
	tr_err e = tr_spawn_opt(node, beh, arg, &o, &pid, NULL);
	if (e)
		return e;
	e = n->ops->register_name(n->reg, n->name, pid);
	if (e) {
		if (opts && opts->link)
			tr_unlink(pid);
		tr_exit(pid, TR_KILL);
		if (e == TR_EEXIST &&
		    n->ops->whereis_name(n->reg, n->name, &holder) == TR_OK)
			*out = holder;
		else
			*out = TR_PID_NONE;
		return e;
	}
	*out = pid;
	return TR_OK;
}
