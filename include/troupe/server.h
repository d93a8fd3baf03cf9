/*
 * troupe/server.h - the gen_server-style behaviour.
 *
 * The standard way to write a server actor: fill a tr_server_ops table and
 * start it with tr_server_start(). Calls go to handle_call, casts to
 * handle_cast, everything else (plain messages, EXIT, DOWN, timeouts) to
 * handle_info. terminate runs once when the server ends.
 *
 * A callback returns a tr_server_ret: continue, or stop with a reason.
 * handle_call may answer at once by setting *reply (the runtime sends it),
 * or later with tr_reply(from, ...) (it leaves *reply NULL).
 */
#ifndef TR_SERVER_H
#define TR_SERVER_H

#include <troupe/actor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_server_ret {
	bool stop;          /* end the server after this callback */
	const char *reason; /* with stop: the exit reason (NULL = "normal") */
} tr_server_ret_t;

#define TR_SERVER_CONTINUE ((tr_server_ret_t){false, NULL})
#define TR_SERVER_STOP(r)  ((tr_server_ret_t){true, (r)})

typedef struct tr_server_ops {
	const char *name;
	/* Optional; as tr_behaviour_t.init. */
	tr_err (*init)(void **state, void *arg);
	/* Optional (calls are answered "badcall" without it). */
	tr_server_ret_t (*handle_call)(void *state, const tr_from_t *from,
	                               tr_msg_t *req, tr_msg_t **reply);
	/* Optional (casts are dropped without it). */
	tr_server_ret_t (*handle_cast)(void *state, tr_msg_t *msg);
	/* Optional (other messages are dropped without it). */
	tr_server_ret_t (*handle_info)(void *state, tr_msg_t *msg);
	/* Optional. */
	void (*terminate)(void *state, const char *reason);
} tr_server_ops_t;

/**
 * tr_server_start() - spawn a server actor running ops. opts may be NULL.
 * The ops table must outlive the server. Same results as tr_spawn_opt().
 * Thread: any thread (opts->link / opts->monitor need actor context).
 */
TR_API tr_err tr_server_start(tr_node_t *node, const tr_server_ops_t *ops,
                              void *arg, const tr_spawn_opts_t *opts,
                              tr_pid_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TR_SERVER_H */
