/*
 * tests/net/node_proc.c - a node in its own process, for tests that kill
 * one with SIGKILL. Usage: node_proc NAME SECRET [JOIN_ENDPOINT]
 *
 * Prints "READY <endpoint> <creation>" once it listens (and has joined),
 * serves an exported "echo" behaviour and an echo actor registered as
 * "echo", and leaves gracefully when its stdin closes (so it also goes
 * away when the test that started it dies). With TR_GLOBAL=1 in the
 * environment it also runs the global registry and registers the echo
 * actor globally as "echo@NAME" before it prints READY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

static void echo_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_msg_t *r;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		tr_from_t from;
		if (!tr_msg_from(m, &from) && !tr_msg_dup(m, &r))
			tr_reply(&from, r);
	} else if (!tr_pid_is_none(tr_msg_sender(m)) && !tr_msg_dup(m, &r)) {
		tr_send(tr_msg_sender(m), r);
	}
}

static tr_err echo_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return TR_OK;
}

static const tr_behaviour_t echo = {
        .name = "echo", .init = echo_init, .receive = echo_receive};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: node_proc NAME SECRET [JOIN]\n");
		return 2;
	}
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = argv[1];
	o.schedulers = 1;
	tr_node_t *node;
	if (tr_node_new(&node, &o))
		return 1;
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = argv[2];
	no.secret_len = strlen(argv[2]);
	tr_net_t *net;
	tr_err e = tr_net_start(node, &no, &net);
	if (e) {
		fprintf(stderr, "node_proc: %s\n", tr_strerror(e));
		return 1;
	}
	tr_net_export(net, &echo);
	tr_pid_t p;
	tr_spawn(node, &echo, NULL, &p);
	tr_register(node, "echo", p);
	if (argc > 3 && (e = tr_net_join(net, argv[3], 5000))) {
		fprintf(stderr, "node_proc: join: %s\n", tr_strerror(e));
		return 1;
	}
	tr_global_t *g = NULL;
	if (getenv("TR_GLOBAL")) {
		char gname[256];
		snprintf(gname, sizeof(gname), "echo@%s", argv[1]);
		if ((e = tr_global_start(net, NULL, &g)) ||
		    (e = tr_global_sync(g, 10000)) ||
		    (e = tr_global_register(g, gname, p, NULL, 10000))) {
			fprintf(stderr, "node_proc: global: %s\n",
			        tr_strerror(e));
			return 1;
		}
	}
	printf("READY %s %u\n", tr_net_endpoint(net),
	       (unsigned)tr_node_creation(node));
	fflush(stdout);
	char buf[64];
	while (fgets(buf, sizeof(buf), stdin))
		;
	tr_global_stop(g);
	tr_net_leave(net, 2000);
	tr_node_destroy(node);
	return 0;
}
