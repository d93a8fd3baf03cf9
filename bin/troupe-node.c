/*
 * bin/troupe-node.c - the troupe node daemon (the counterpart of
 * `erl -name ... -setcookie`). Public API only. See docs/troupe-node.md.
 *
 *   troupe-node --name NAME --listen tcp://IP:PORT [--join tcp://IP:PORT]...
 *               [--secret-file FILE | --curve-dir DIR] [--load APP.so[:ARG]]...
 *               [--heartbeat-ms N] [--timeout-ms N]
 *               [--log-level error|warn|info|debug] [--log-format text|json]
 *               [--metrics tcp://IP:PORT] [--config FILE]
 *
 * Once listening (and joined) it prints one line to stdout:
 *   troupe-node NAME listening on tcp://IP:PORT
 * SIGTERM or SIGINT: graceful leave, then exit 0. Logs: stderr, one event a
 * line, `troupe-node LEVEL: TEXT` or (--log-format json) one JSON object
 * {"ts","level","node","msg"}; the log functions may be called from any
 * thread (net's I/O thread, the admin worker, libmicrohttpd's). --metrics
 * serves Prometheus text at http://IP:PORT/metrics (bin/metrics.c). Exit 2
 * on bad usage, 1 on a failure to start.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/app.h>
#include <troupe/troupe.h>
#include <unistd.h>

#include "bin/admin.h"
#include "bin/config.h"
#include "bin/keys.h"
#include "bin/metrics.h"

static int log_level = TR_LOG_INFO;
static bool log_json;             /* --log-format json */
static const char *log_node = ""; /* "node" of the JSON lines */
static const char *const *level_names = troupe_log_levels;

/* A JSON string of s; text that is not UTF-8 has its bytes above 0x7f
 * replaced by '?'. NULL if out of memory. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	char *ascii = j ? NULL : strdup(s);
	for (char *c = ascii; c && *c; c++)
		if ((unsigned char)*c > 0x7f)
			*c = '?';
	if (ascii)
		j = json_string(ascii);
	free(ascii);
	return j;
}

/* {"ts":"2026-12-01T10:00:00.123Z","level":L,"node":N,"msg":M}, compact,
 * malloc'd; NULL if out of memory. */
static char *json_line(int level, const char *msg)
{
	struct timespec now;
	struct tm tm;
	char ts[48];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
	json_t *o = json_object();
	if (o) {
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level",
		                    json_string(level_names[level]));
		json_object_set_new(o, "node", json_text(log_node));
		json_object_set_new(o, "msg", json_text(msg));
	}
	char *line =
	        json_object_size(o) == 4 ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return line;
}

/* One log line on stderr. plain: a failure to start, `troupe-node: TEXT`
 * in the text format (`troupe-node LEVEL: TEXT` otherwise). */
static void vlog(int level, bool plain, const char *fmt, va_list ap)
{
	if (level > log_level)
		return;
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	char *json = log_json ? json_line(level, line) : NULL;
	if (json)
		fprintf(stderr, "%s\n", json);
	else if (plain)
		fprintf(stderr, "troupe-node: %s\n", line);
	else
		fprintf(stderr, "troupe-node %s: %s\n", level_names[level],
		        line);
	free(json);
}

static void logf_(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, false, fmt, ap);
	va_end(ap);
}

/* Why the daemon cannot start (an error object in the JSON format). */
static void failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(TR_LOG_ERROR, true, fmt, ap);
	va_end(ap);
}

static void net_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	logf_(level < 0 ? 0 : level > 3 ? 3 : level, "%s", line);
}

static void usage_exit(const char *why)
{
	if (why)
		fprintf(stderr, "troupe-node: %s\n", why);
	fprintf(stderr,
	        "usage: troupe-node --name NAME --listen tcp://IP:PORT "
	        "[--join tcp://IP:PORT]...\n"
	        "                   [--secret-file FILE | --curve-dir DIR] "
	        "[--load APP.so[:ARG]]...\n"
	        "                   [--heartbeat-ms N] [--timeout-ms N] "
	        "[--log-level error|warn|info|debug]\n"
	        "                   [--log-format text|json] "
	        "[--metrics tcp://IP:PORT] [--config FILE]\n");
	exit(2);
}

/* ---- built-in behaviours
 * ----------------------------------------------------- */

static tr_err echo_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return TR_OK;
}

/* A call returns its payload; a plain message goes back to its sender. */
static void echo_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_msg_t *r;
	if (tr_msg_dup(m, &r))
		return;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		tr_from_t from;
		if (!tr_msg_from(m, &from) && !tr_reply(&from, r))
			return;
	} else if (!tr_pid_is_none(tr_msg_sender(m)) &&
	           !tr_send(tr_msg_sender(m), r)) {
		return;
	}
	tr_msg_free(r);
}

static const tr_behaviour_t echo_b = {
        .name = "echo", .init = echo_init, .receive = echo_receive};

static tr_err counter_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? TR_OK : TR_ENOMEM;
}

/* Any sent message adds one; the call "get" answers ["count", n]. */
static void counter_receive(void *state, tr_msg_t *m)
{
	uint64_t *n = state;
	if (tr_msg_kind(m) != TR_MSG_CALL) {
		++*n;
		return;
	}
	tr_from_t from;
	tr_msg_t *r;
	if (tr_msg_from(m, &from) || tr_msg_new(&r, "count"))
		return;
	if (!tr_msg_is(m, "get")) {
		tr_msg_free(r);
		if (tr_msg_new(&r, "error") ||
		    tr_msg_add_str(r, "unknown call"))
			return;
	} else {
		tr_msg_add_uint(r, *n);
	}
	if (tr_reply(&from, r))
		tr_msg_free(r);
}

static void counter_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t counter_b = {.name = "counter",
                                         .init = counter_init,
                                         .receive = counter_receive,
                                         .terminate = counter_terminate};

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"name", required_argument, 0, 0},
	        {"listen", required_argument, 0, 0},
	        {"join", required_argument, 0, 0},
	        {"secret-file", required_argument, 0, 0},
	        {"curve-dir", required_argument, 0, 0},
	        {"load", required_argument, 0, 0},
	        {"heartbeat-ms", required_argument, 0, 0},
	        {"timeout-ms", required_argument, 0, 0},
	        {"log-level", required_argument, 0, 0},
	        {"log-format", required_argument, 0, 0},
	        {"metrics", required_argument, 0, 0},
	        {"config", required_argument, 0, 0},
	        {"help", no_argument, 0, 'h'},
	        {0, 0, 0, 0},
	};
	/* static: what it points to (config values, keys) stays reachable
	 * for the process's life */
	static struct troupe_config o;
	troupe_config_init(&o);
	char why[512];
	int idx, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (c == 'h')
			usage_exit(NULL);
		if (c != 0) {
			snprintf(why, sizeof(why),
			         "unknown or incomplete option: %s",
			         argv[optind - 1]);
			usage_exit(why);
		}
		tr_err e =
		        !strcmp(longopts[idx].name, "config")
		                ? troupe_config_read(&o, optarg, why,
		                                     sizeof(why))
		                : troupe_config_set(&o, longopts[idx].name,
		                                    optarg, why, sizeof(why));
		if (e == TR_EINVAL)
			usage_exit(why);
		if (e) {
			fprintf(stderr, "troupe-node: %s\n", why);
			exit(2);
		}
	}
	if (optind < argc)
		usage_exit("unexpected arguments");
	if (!o.name || !o.listen)
		usage_exit("--name and --listen are required");
	if (!o.secret_file == !o.curve_dir)
		usage_exit("give one of --secret-file and --curve-dir");
	/* from here on, what the daemon says is in the chosen log format */
	log_level = o.log_level;
	log_json = o.log_json;
	log_node = o.name;

	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.listen = o.listen;
	no.heartbeat_ms = o.heartbeat_ms;
	no.timeout_ms = o.timeout_ms;
	no.log = net_log;
	/* static: no points into it for the process's life */
	static struct troupe_keys keys;
	if (troupe_keys_load(o.secret_file, o.curve_dir, &no, &keys, why,
	                     sizeof(why))) {
		failf("%s", why);
		return 2;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* threads started below inherit the mask: only main takes them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	tr_node_opts_t nopts;
	tr_node_opts_init(&nopts);
	nopts.name = o.name;
	tr_node_t *node;
	tr_err e = tr_node_new(&node, &nopts);
	if (e) {
		failf("cannot start node %s: %s", o.name, tr_strerror(e));
		troupe_keys_free(&keys);
		return 1;
	}
	tr_net_t *net;
	if ((e = tr_net_start(node, &no, &net))) {
		failf("cannot listen on %s: %s", o.listen, tr_strerror(e));
		tr_node_destroy(node);
		troupe_keys_free(&keys);
		return 1;
	}
	tr_net_export(net, &echo_b);
	tr_net_export(net, &counter_b);
	tr_net_export(net, tr_dynsup_behaviour());
	/* the cluster-wide registry, the node's root supervisor (a
	 * DynamicSupervisor, locally "troupe_sup") and the operator
	 * service the CLI talks to */
	tr_global_t *g = NULL;
	tr_pid_t sup = TR_PID_NONE;
	tr_dynsup_flags_t df = {.intensity = 10, .period_ms = 10000};
	tr_spawn_opts_t so = {.name = "troupe_sup"};
	if ((e = tr_global_start(net, NULL, &g)) ||
	    (e = tr_dynsup_start(node, &df, &so, &sup)) ||
	    (troupe_admin_start(node, net, g, sup, logf_) && (e = TR_ENOMEM))) {
		failf("cannot start services: %s", tr_strerror(e));
		goto fail;
	}
	if (o.metrics &&
	    troupe_metrics_start(node, net, g, sup, o.metrics, logf_)) {
		failf("cannot serve metrics on %s", o.metrics);
		goto fail;
	}
	for (int i = 0; i < o.njoin; i++) {
		if ((e = tr_net_join(net, o.join[i], 10000))) {
			failf("cannot join %s: %s", o.join[i], tr_strerror(e));
			goto fail;
		}
	}
	for (int i = 0; i < o.nload; i++) {
		char *spec = o.load[i], *colon = strchr(spec, ':');
		const char *arg = "";
		if (colon) {
			*colon = 0;
			arg = colon + 1;
		}
		void *h = dlopen(spec, RTLD_NOW | RTLD_LOCAL);
		tr_app_start_fn start = NULL;
		if (h) /* POSIX's way round ISO C's object/function split */
			*(void **)&start = dlsym(h, TR_APP_ENTRY);
		int rc = start ? start(node, net, arg) : -1;
		if (rc) {
			failf("--load %s: %s", spec,
			      !h       ? dlerror()
			      : !start ? "no " TR_APP_ENTRY " in it"
			               : "its start failed");
			goto fail;
		}
		logf_(TR_LOG_INFO, "loaded %s", spec);
	}
	printf("troupe-node %s listening on %s\n", o.name,
	       tr_net_endpoint(net));
	fflush(stdout);

	int sig = 0;
	sigwait(&set, &sig);
	logf_(TR_LOG_INFO, "%s: leaving",
	      sig == SIGTERM ? "SIGTERM" : "SIGINT");
	troupe_metrics_stop();
	e = tr_net_leave(net, 5000);
	if (e)
		logf_(TR_LOG_WARN, "leave: %s", tr_strerror(e));
	tr_supervisor_stop(node, sup, 10000);
	troupe_admin_stop();
	tr_global_stop(g);
	tr_node_destroy(node);
	troupe_keys_free(&keys);
	return 0;
fail:
	troupe_metrics_stop();
	troupe_admin_stop();
	tr_global_stop(g);
	tr_node_destroy(node);
	troupe_keys_free(&keys);
	return 1;
}
