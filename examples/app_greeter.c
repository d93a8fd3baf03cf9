/*
 * examples/app_greeter.c - an application for `troupe-node --load`.
 *
 *   troupe-node --name n1 --listen tcp://127.0.0.1:0 --secret-file S \
 *               --load build/examples/libapp_greeter.so:Hello
 *
 * On start it exports the behaviour "greeter" (so other nodes can spawn
 * it with tr_spawn_on) and starts one greeter registered as "greeter".
 * A call ["greet", NAME] answers ["greeting", "<ARG>, NAME"], ARG being
 * the text after ':' in --load ("Hello" by default).
 */
#include <stdio.h>
#include <string.h>
#include <troupe/app.h>
#include <troupe/troupe.h>

static char salutation[64] = "Hello";

static void greeter_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_from_t from;
	char who[128];
	if (tr_msg_kind(m) != TR_MSG_CALL || tr_msg_from(m, &from) ||
	    !tr_msg_is(m, "greet") || tr_msg_get_strbuf(m, 0, who, sizeof(who)))
		return;
	char text[256];
	snprintf(text, sizeof(text), "%s, %s", salutation, who);
	tr_msg_t *r;
	if (tr_msg_new(&r, "greeting"))
		return;
	if (tr_msg_add_str(r, text) || tr_reply(&from, r))
		tr_msg_free(r);
}

static tr_err greeter_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return TR_OK;
}

static const tr_behaviour_t greeter_b = {
        .name = "greeter", .init = greeter_init, .receive = greeter_receive};

__attribute__((visibility("default"))) int
troupe_app_start(tr_node_t *node, tr_net_t *net, const char *arg)
{
	if (arg && *arg)
		snprintf(salutation, sizeof(salutation), "%s", arg);
	if (tr_net_export(net, &greeter_b))
		return 1;
	tr_spawn_opts_t o = {.name = "greeter"};
	tr_pid_t pid;
	return tr_spawn_opt(node, &greeter_b, NULL, &o, &pid, NULL) ? 1 : 0;
}
