/*
 * bin/troupe.c - the operator CLI (the counterpart of a remote shell plus
 * observer_cli). It talks to one node as a hidden node: it connects to
 * that node only, is never gossiped to the others and never takes part
 * in the global registry. See docs/troupe.md and troupe(1).
 *
 *   troupe [--node tcp://IP:PORT] [--secret-file FILE | --curve-dir DIR]
 *          [--json] [--timeout MS] COMMAND [ARGS]
 *
 * Exit status: 0 done; 1 the command failed (unknown node, wrong secret,
 * unknown name, timeout: one line on stderr); 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <msgpack.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>
#include <unistd.h>

#include "bin/admin.h"
#include "bin/keys.h"
#include "bin/message.h"

#define DEFAULT_NODE "tcp://127.0.0.1:4370"

static const char *usage_text =
        "usage: troupe [--node tcp://IP:PORT] [--secret-file FILE | "
        "--curve-dir DIR]\n"
        "              [--json] [--timeout MS] COMMAND [ARGS]\n"
        "commands:\n"
        "  ping                      pong, or exit 1\n"
        "  nodes                     nodes up as the target sees them\n"
        "  names                     global names: name, pid, node\n"
        "  whereis NAME              the pid, or exit 1 with \"not found\"\n"
        "  spawn KIND [--on NODE] [--global NAME] [--supervised "
        "[--failover] [--under SUP]]\n"
        "  send NAME MESSAGE         send to a global name (or a pid)\n"
        "  call NAME MESSAGE         call it, print the reply\n"
        "  kill NAME|PID [REASON]    send an exit signal (default kill)\n"
        "  join ENDPOINT             make the target join a cluster\n"
        "  leave                     make the target leave gracefully\n"
        "  status                    schedulers, actors, mailboxes, rates, "
        "peers\n"
        "  ps                        actors: pid, name, behaviour, mailbox\n"
        "  tree                      supervision trees, across nodes\n"
        "MESSAGE: a word (sent as [\"word\"]) or a JSON array whose first\n"
        "element is a string, e.g. '[\"add\", 2]'.\n"
        "Environment: TROUPE_NODE, TROUPE_SECRET_FILE, TROUPE_CURVE_DIR.\n";

static bool json_out;

static void usage_exit(const char *why)
{
	if (why)
		fprintf(stderr, "troupe: %s\n", why);
	fputs(usage_text, stderr);
	exit(2);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static tr_node_t *cli_node;

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("troupe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	tr_node_destroy(cli_node);
	exit(1);
}

/* ---- output ------------------------------------------------------------ */

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s)
		puts(s);
	free(s);
	json_decref(j);
}

static const char *str_at(json_t *a, size_t i)
{
	const char *s = json_string_value(json_array_get(a, i));
	return s ? s : "-";
}

static json_t *obj_of(json_t *row, const char *const *keys, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set(o, keys[i], json_array_get(row, i));
	return o;
}

/* Rows (arrays) as a table, or as a JSON array of objects. */
static void print_rows(json_t *rows, const char *const *keys, size_t n)
{
	size_t i;
	json_t *row;
	if (json_out) {
		json_t *out = json_array();
		json_array_foreach(rows, i, row)
		        json_array_append_new(out, obj_of(row, keys, n));
		print_json(out);
		json_decref(rows);
		return;
	}
	size_t w[8] = {0};
	for (size_t k = 0; k < n && k < 8; k++)
		w[k] = strlen(keys[k]);
	json_array_foreach(rows, i, row)
	{
		for (size_t k = 0; k < n && k < 8; k++) {
			json_t *v = json_array_get(row, k);
			char b[64];
			size_t l =
			        json_is_string(v) ? json_string_length(v)
			        : json_is_integer(v)
			                ? (size_t)snprintf(
			                          b, sizeof(b), "%lld",
			                          (long long)json_integer_value(
			                                  v))
			                : 1;
			if (l > w[k])
				w[k] = l;
		}
	}
	for (size_t k = 0; k < n; k++) {
		char up[64];
		size_t l = 0;
		for (; keys[k][l] && l < sizeof(up) - 1; l++)
			up[l] = (char)(keys[k][l] >= 'a' && keys[k][l] <= 'z'
			                       ? keys[k][l] - 32
			                       : keys[k][l]);
		up[l] = 0;
		printf("%-*s%s", k + 1 < n ? (int)w[k] : 0, up,
		       k + 1 < n ? "  " : "\n");
	}
	json_array_foreach(rows, i, row)
	{
		for (size_t k = 0; k < n; k++) {
			json_t *v = json_array_get(row, k);
			int pad = k + 1 < n ? (int)w[k] : 0; /* none last */
			if (json_is_integer(v))
				printf("%-*lld", pad,
				       (long long)json_integer_value(v));
			else
				printf("%-*s", pad,
				       json_is_string(v) ? json_string_value(v)
				                         : "-");
			fputs(k + 1 < n ? "  " : "\n", stdout);
		}
	}
	json_decref(rows);
}

static void print_ok(void)
{
	if (json_out)
		print_json(json_pack("{s:b}", "ok", 1));
	else
		puts("ok");
}

/* tree: [[id, pid, remote, node, type, restarting, children]...] */
static json_t *tree_json(json_t *kids)
{
	json_t *out = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(kids, i, c)
	{
		json_t *o = json_pack(
		        "{s:O,s:O,s:O,s:O,s:O,s:O}", "id", json_array_get(c, 0),
		        "pid", json_array_get(c, 1), "remote",
		        json_array_get(c, 2), "node", json_array_get(c, 3),
		        "type", json_array_get(c, 4), "restarting",
		        json_array_get(c, 5));
		json_object_set_new(o, "children",
		                    tree_json(json_array_get(c, 6)));
		json_array_append_new(out, o);
	}
	return out;
}

static void print_tree_text(json_t *kids, int depth)
{
	size_t i;
	json_t *c;
	json_array_foreach(kids, i, c)
	{
		printf("%*s%s  %s", 2 * depth + 2, "", str_at(c, 0),
		       str_at(c, 1));
		if (json_is_string(json_array_get(c, 2)))
			printf(" -> %s", str_at(c, 2));
		printf("  on %s  %s%s\n", str_at(c, 3), str_at(c, 4),
		       json_is_true(json_array_get(c, 5)) ? "  (restarting)"
		                                          : "");
		print_tree_text(json_array_get(c, 6), depth + 1);
	}
}

static void print_status(json_t *st)
{
	if (json_out) {
		print_json(json_incref(st));
		return;
	}
	const char *k;
	json_t *v;
	json_object_foreach(st, k, v)
	{
		if (json_is_array(v))
			continue;
		if (json_is_integer(v))
			printf("%-18s %lld\n", k,
			       (long long)json_integer_value(v));
		else
			printf("%-18s %s\n", k,
			       json_is_string(v) && *json_string_value(v)
			               ? json_string_value(v)
			               : "-");
	}
	json_t *peers = json_object_get(st, "peers");
	printf("%-18s %zu\n", "peers", json_array_size(peers));
	size_t i;
	json_array_foreach(peers, i, v)
	{
		printf("  %-16s %-8s in %lld  out %lld  queued %lld B\n",
		       json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "state")),
		       (long long)json_integer_value(
		               json_object_get(v, "msgs_in")),
		       (long long)json_integer_value(
		               json_object_get(v, "msgs_out")),
		       (long long)json_integer_value(
		               json_object_get(v, "queued_bytes")));
	}
}

/* ---- main ------------------------------------------------------------------
 */

struct cmd {
	const char *name;
	int min, max; /* positional arguments */
};

static const struct cmd cmds[] = {
        {"ping", 0, 0},  {"nodes", 0, 0}, {"names", 0, 0},  {"whereis", 1, 1},
        {"spawn", 1, 1}, {"send", 2, 2},  {"call", 2, 2},   {"kill", 1, 2},
        {"join", 1, 1},  {"leave", 0, 0}, {"status", 0, 0}, {"ps", 0, 0},
        {"tree", 0, 0},
};

static unsigned parse_ms(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || !v || v > 3600000)
		usage_exit("--timeout: a number of milliseconds, 1 to 3600000");
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"node", required_argument, 0, 'n'},
	        {"secret-file", required_argument, 0, 's'},
	        {"curve-dir", required_argument, 0, 'c'},
	        {"json", no_argument, 0, 'j'},
	        {"timeout", required_argument, 0, 't'},
	        {"help", no_argument, 0, 'h'},
	        {0, 0, 0, 0},
	};
	const char *target = getenv("TROUPE_NODE");
	const char *secret_file = getenv("TROUPE_SECRET_FILE");
	const char *curve_dir = getenv("TROUPE_CURVE_DIR");
	unsigned timeout = 5000;
	int c;
	opterr = 0;
	/* '+': options end at the command; its own come after it */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			target = optarg;
			break;
		case 's':
			secret_file = optarg;
			curve_dir = NULL;
			break;
		case 'c':
			curve_dir = optarg;
			secret_file = NULL;
			break;
		case 'j':
			json_out = true;
			break;
		case 't':
			timeout = parse_ms(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default: {
			char why[160];
			snprintf(why, sizeof(why),
			         "unknown or incomplete option: %s",
			         argv[optind - 1]);
			usage_exit(why);
		}
		}
	}
	if (optind >= argc)
		usage_exit("no command");
	const char *cmd = argv[optind++];
	const struct cmd *cd = NULL;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, cmd))
			cd = &cmds[i];
	if (!cd) {
		char why[160];
		snprintf(why, sizeof(why), "unknown command: %s", cmd);
		usage_exit(why);
	}
	/* the command's arguments; spawn's options may come anywhere */
	const char *pos[4] = {0};
	int npos = 0;
	const char *on = NULL, *gname = NULL, *under = NULL;
	bool supervised = false, failover = false;
	for (int i = optind; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(cmd, "spawn") && !strcmp(a, "--on") && i + 1 < argc)
			on = argv[++i];
		else if (!strcmp(cmd, "spawn") && !strcmp(a, "--global") &&
		         i + 1 < argc)
			gname = argv[++i];
		else if (!strcmp(cmd, "spawn") && !strcmp(a, "--supervised"))
			supervised = true;
		else if (!strcmp(cmd, "spawn") && !strcmp(a, "--under") &&
		         i + 1 < argc)
			under = argv[++i];
		else if (!strcmp(cmd, "spawn") && !strcmp(a, "--failover"))
			failover = true;
		else if (a[0] == '-' && a[1] == '-')
			usage_exit("unknown option after the command");
		else if (npos < 4)
			pos[npos++] = a;
		else
			usage_exit("too many arguments");
	}
	if (npos < cd->min || npos > cd->max) {
		char why[160];
		snprintf(why, sizeof(why), "%s takes %d to %d argument(s)", cmd,
		         cd->min, cd->max);
		usage_exit(why);
	}
	if ((failover || under) && !supervised)
		usage_exit("--failover and --under need --supervised");
	if (!target)
		target = DEFAULT_NODE;

	/* the request (built before connecting: bad input costs nothing) */
	tr_msg_t *req;
	if (tr_msg_new(&req, cmd))
		return 1;
	msgpack_sbuffer msg = {0};
	if (!strcmp(cmd, "send") || !strcmp(cmd, "call")) {
		char why[300];
		if (troupe_message_parse(pos[1], &msg, why, sizeof(why))) {
			tr_msg_free(req);
			usage_exit(why);
		}
		tr_msg_add_str(req, pos[0]);
		tr_msg_add_raw(req, msg.data, msg.size);
		if (!strcmp(cmd, "call"))
			tr_msg_add_uint(req, timeout);
		msgpack_sbuffer_destroy(&msg);
	} else if (!strcmp(cmd, "spawn")) {
		tr_msg_add_str(req, pos[0]);
		on ? tr_msg_add_str(req, on) : tr_msg_add_nil(req);
		gname ? tr_msg_add_str(req, gname) : tr_msg_add_nil(req);
		tr_msg_add_bool(req, supervised);
		tr_msg_add_bool(req, failover);
		under ? tr_msg_add_str(req, under) : tr_msg_add_nil(req);
	} else {
		for (int i = 0; i < npos; i++)
			tr_msg_add_str(req, pos[i]);
	}

	/* connect as a hidden node */
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.hidden = true; /* and no listener: it only connects */
	struct troupe_keys keys;
	char why[512];
	if (troupe_keys_load(secret_file, curve_dir, &no, &keys, why,
	                     sizeof(why))) {
		fprintf(stderr, "troupe: %s\n", why);
		tr_msg_free(req);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char name[64];
	snprintf(name, sizeof(name), "troupe-cli-%d", (int)getpid());
	tr_node_opts_t nopts;
	tr_node_opts_init(&nopts);
	nopts.name = name;
	nopts.schedulers = 1;
	tr_err e = tr_node_new(&cli_node, &nopts);
	tr_net_t *net = NULL;
	if (e || (e = tr_net_start(cli_node, &no, &net)))
		fail("cannot start: %s", tr_strerror(e));
	e = tr_net_join(net, target, timeout);
	if (e == TR_EAUTH)
		fail("%s: authentication refused (wrong secret or key?)",
		     target);
	if (e == TR_ETIMEDOUT)
		fail("%s: no troupe node answered within %u ms", target,
		     timeout);
	if (e)
		fail("%s: %s", target, tr_strerror(e));
	tr_peer_info_t peers[4];
	size_t np = 0;
	tr_net_nodes(net, peers, 4, &np);
	const char *tname = NULL;
	for (size_t i = 0; i < np && i < 4; i++)
		if (peers[i].state == TR_PEER_UP)
			tname = peers[i].name;
	if (!tname)
		fail("%s: the node went away", target);
	tr_pid_t session;
	e = tr_spawn_on(net, tname, TROUPE_ADMIN_BEHAVIOUR, NULL, timeout,
	                &session);
	if (e == TR_ENOENT)
		fail("%s: %s is not a troupe-node (no operator service)",
		     target, tname);
	if (e)
		fail("%s: %s", target, tr_strerror(e));
	tr_msg_t *r = NULL;
	char reason[TR_REASON_MAX] = "";
	/* a status samples for 200 ms; spawns and trees ask other nodes */
	e = tr_call(cli_node, session, req, timeout + 6000, &r, reason,
	            sizeof(reason));
	tr_msg_t *bye;
	if (!tr_msg_new(&bye, "bye") && tr_send(session, bye))
		tr_msg_free(bye);
	if (e == TR_ETIMEDOUT)
		fail("%s: %s: timeout", target, cmd);
	if (e)
		fail("%s: %s: %s%s%s", target, cmd, tr_strerror(e),
		     *reason ? ": " : "", reason);
	json_t *f = troupe_message_fields(r);
	if (tr_msg_is(r, "error")) {
		char why[512];
		snprintf(why, sizeof(why), "%s", str_at(f, 0));
		json_decref(f);
		tr_msg_free(r);
		if (!strcmp(why, "not found"))
			fail("%s: not found", pos[0] ? pos[0] : cmd);
		fail("%s: %s", cmd, why);
	}
	bool pong = tr_msg_is(r, "pong");
	tr_msg_free(r);

	static const char *const k_nodes[] = {"name", "endpoint", "incarnation",
	                                      "state"};
	static const char *const k_names[] = {"name", "pid", "node"};
	static const char *const k_ps[] = {"pid", "name", "behaviour",
	                                   "mailbox"};
	if (!strcmp(cmd, "ping")) {
		if (!pong)
			fail("%s: unexpected answer", target);
		if (json_out)
			print_json(json_pack("{s:O}", "pong",
			                     json_array_get(f, 0)));
		else
			puts("pong");
	} else if (!strcmp(cmd, "nodes")) {
		print_rows(json_incref(json_array_get(f, 0)), k_nodes, 4);
	} else if (!strcmp(cmd, "names")) {
		print_rows(json_incref(json_array_get(f, 0)), k_names, 3);
	} else if (!strcmp(cmd, "ps")) {
		print_rows(json_incref(json_array_get(f, 0)), k_ps, 4);
	} else if (!strcmp(cmd, "whereis") || !strcmp(cmd, "spawn")) {
		if (json_out)
			print_json(json_pack("{s:O,s:O}", "pid",
			                     json_array_get(f, 0), "node",
			                     json_array_get(f, 1)));
		else
			puts(str_at(f, 0));
	} else if (!strcmp(cmd, "call")) {
		json_t *reply = json_array_get(f, 0);
		if (json_out) {
			print_json(json_pack("{s:O}", "reply", reply));
		} else {
			char *s = json_dumps(reply,
			                     JSON_COMPACT | JSON_ENCODE_ANY);
			puts(s ? s : "null");
			free(s);
		}
	} else if (!strcmp(cmd, "kill")) {
		if (json_out)
			print_json(json_pack("{s:b,s:O}", "ok", 1, "pid",
			                     json_array_get(f, 0)));
		else
			puts("ok");
	} else if (!strcmp(cmd, "status")) {
		print_status(json_array_get(f, 0));
	} else if (!strcmp(cmd, "tree")) {
		json_t *nodes = json_array_get(f, 0), *n;
		size_t i;
		if (json_out) {
			json_t *out = json_array();
			json_array_foreach(nodes, i, n)
			{
				json_t *o = json_pack("{s:O,s:O}", "node",
				                      json_array_get(n, 0),
				                      "supervisor",
				                      json_array_get(n, 1));
				json_object_set_new(
				        o, "children",
				        tree_json(json_array_get(n, 2)));
				json_array_append_new(out, o);
			}
			print_json(out);
		} else {
			json_array_foreach(nodes, i, n)
			{
				printf("%s  troupe_sup  %s\n", str_at(n, 0),
				       str_at(n, 1));
				print_tree_text(json_array_get(n, 2), 0);
			}
		}
	} else {
		print_ok();
	}
	json_decref(f);
	fflush(stdout);
	tr_node_destroy(cli_node);
	troupe_keys_free(&keys);
	return 0;
}
