/*
 * runtime/server.c - the gen_server-style behaviour (troupe/server.h).
 *
 * A server is an ordinary actor whose slot points at the ops table; the
 * turn loop (actor.c) hands its messages here, so continuations of
 * tr_call_async() get the user's state as for any actor.
 */
#include "runtime/internal.h"

const tr_behaviour_t tr__server_behaviour = {.name = "server"};

static void answer_badcall(const tr_from_t *from)
{
	tr_msg_t *r;
	if (tr_msg_new(&r, "error"))
		return;
	if (tr_msg_add_str(r, "badcall") || tr_reply(from, r))
		tr_msg_free(r);
}

void tr__server_dispatch(struct tr_actor *a, tr_msg_t *m)
{
	const tr_server_ops_t *ops = a->sops;
	tr_server_ret_t ret = TR_SERVER_CONTINUE;
	switch (m->kind) {
	case TR_MSG_CALL: {
		tr_from_t from = {m->from, m->ref};
		if (!ops->handle_call) {
			answer_badcall(&from);
			break;
		}
		tr_msg_t *reply = NULL;
		ret = ops->handle_call(a->state, &from, m, &reply);
		if (reply && tr_reply(&from, reply))
			tr_msg_free(reply);
		break;
	}
	case TR_MSG_CAST:
		if (ops->handle_cast)
			ret = ops->handle_cast(a->state, m);
		break;
	default:
		if (ops->handle_info)
			ret = ops->handle_info(a->state, m);
		break;
	}
	if (ret.stop)
		tr_stop(ret.reason ? ret.reason : TR_NORMAL);
}

tr_err tr_server_start(tr_node_t *node, const tr_server_ops_t *ops, void *arg,
                       const tr_spawn_opts_t *opts, tr_pid_t *out)
{
	if (!ops)
		return TR_EINVAL;
	return tr__spawn(node, &tr__server_behaviour, ops, arg, opts, 0, out,
	                 NULL);
}
