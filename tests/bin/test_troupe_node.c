/*
 * tests/bin/test_troupe_node.c - the troupe-node daemon, driven as a user
 * would: started with its flags, joined by a node of this process (a),
 * its built-in behaviours and a loaded application used, stopped with
 * SIGTERM; its Prometheus endpoint fetched with a plain HTTP/1.0 GET, its
 * JSON log lines parsed. Paths come from TR_TROUPE_NODE and
 * TR_APP_GREETER; daemons read nothing from stdin, are killed by the
 * fixture whatever happens.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define SECRET "the cluster secret of the daemon tests"

static tr_net_t *neta;
static pid_t daemon_pid;
static char secret_path[64], bad_path[64], daemon_ep[256], daemon_err[4096];
static FILE *daemon_out;

/* Run troupe-node with argv; returns its pid; *out reads its stdout. */
static pid_t run_daemon(char *const args[], FILE **out, int *errfd)
{
	int po[2], pe[2];
	cr_assert_eq(pipe2(po, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pe, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(getenv("TR_TROUPE_NODE"), args);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	*out = fdopen(po[0], "r");
	*errfd = pe[0];
	return pid;
}

static void read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	close(fd);
}

/* Run troupe-node with args to its exit; its stderr into err. Returns
 * the exit status (-1 if it did not exit). */
static int run_to_exit(char *const args[], char *err, size_t cap)
{
	FILE *out;
	int ef, st;
	pid_t p = run_daemon(args, &out, &ef);
	read_all(ef, err, cap);
	waitpid(p, &st, 0);
	fclose(out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Append the flags of extra (NULL-ended; may be NULL) to args[0..n),
 * which has room for 32, and end it with NULL. */
static char *const *with_extra(const char **args, size_t n,
                               const char *const *extra)
{
	while (extra && *extra && n < 31)
		args[n++] = *extra++;
	args[n] = NULL;
	return (char *const *)args;
}

/* Run a node "x" with the right secret and the flags of extra to its
 * exit (run_to_exit()). */
static int run_x_to_exit(const char *const *extra, char *err, size_t cap)
{
	const char *args[32] = {
	        "troupe-node",       "--name",        "x",        "--listen",
	        "tcp://127.0.0.1:0", "--secret-file", secret_path};
	return run_to_exit(with_extra(args, 7, extra), err, cap);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(secret_path, sizeof(secret_path), "/tmp/tr-secret-%d",
	         (int)getpid());
	snprintf(bad_path, sizeof(bad_path), "/tmp/tr-badsecret-%d",
	         (int)getpid());
	FILE *f = fopen(secret_path, "w");
	fprintf(f, "%s\n", SECRET);
	fclose(f);
	f = fopen(bad_path, "w");
	fprintf(f, "not the secret of this cluster\n");
	fclose(f);
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "a";
	o.schedulers = 2;
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	cr_assert_eq(tr_net_start(node, &no, &neta), TR_OK);
	cr_assert_eq(tr_net_monitor_nodes(neta, me, true, false), TR_OK);
}

static void teardown(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
	}
	if (daemon_out)
		fclose(daemon_out);
	unlink(secret_path);
	unlink(bad_path);
	tr_inbox_destroy(inbox);
	tr_node_destroy(node);
}

static int errfd = -1;

/* Start n1 with the greeter loaded, then the flags of extra (NULL-ended;
 * may be NULL), and wait for its ready line. */
static void start_n1_with(const char *secret_file, const char *const *extra)
{
	char greeter[512];
	snprintf(greeter, sizeof(greeter), "%s:Hi", getenv("TR_APP_GREETER"));
	const char *args[32] = {"troupe-node",
	                        "--name",
	                        "n1",
	                        "--listen",
	                        "tcp://127.0.0.1:0",
	                        "--secret-file",
	                        secret_file,
	                        "--load",
	                        greeter,
	                        "--heartbeat-ms",
	                        "50"};
	daemon_pid =
	        run_daemon(with_extra(args, 11, extra), &daemon_out, &errfd);
	char line[512];
	cr_assert(fgets(line, sizeof(line), daemon_out), "no ready line");
	cr_assert_eq(
	        sscanf(line, "troupe-node n1 listening on %255s", daemon_ep), 1,
	        "ready line: %s", line);
	cr_assert(!strncmp(daemon_ep, "tcp://127.0.0.1:", 16));
}

static void start_n1(const char *secret_file)
{
	start_n1_with(secret_file, NULL);
}

/* The next line of fd, newline dropped; false at EOF or after ms
 * without a byte. */
static bool read_line(int fd, char *buf, size_t cap, int ms)
{
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c = 0;
	while (n + 1 < cap && poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1) {
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = 0;
	return n || c == '\n';
}

static char metrics_line[1024];

/* The port of the daemon's metrics, from its log line (text or JSON)
 * "metrics on http://127.0.0.1:PORT/metrics" on stderr; the line stays
 * in metrics_line. */
static unsigned metrics_port(void)
{
	char *line = metrics_line;
	while (read_line(errfd, line, sizeof(metrics_line), WAIT_MS)) {
		char *at = strstr(line, "metrics on http://127.0.0.1:");
		unsigned port;
		if (at && sscanf(at, "metrics on http://127.0.0.1:%u/", &port))
			return port;
	}
	cr_assert_fail("no metrics line on the daemon's stderr");
	return 0;
}

/* GET path from 127.0.0.1:port over HTTP/1.0; the status, the value of
 * Content-Type into type and the body into body. */
static int http_get(unsigned port, const char *path, char *type, size_t tcap,
                    char *body, size_t bcap)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	char req[256];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	cr_assert_eq(write(s, req, (size_t)n), n);
	static char resp[1 << 17];
	read_all(s, resp, sizeof(resp)); /* HTTP/1.0: the server closes */
	int status = 0;
	cr_assert_eq(sscanf(resp, "HTTP/1.%*d %d", &status), 1, "reply: %s",
	             resp);
	char *end = strstr(resp, "\r\n\r\n");
	cr_assert(end, "no end of headers: %s", resp);
	*end = 0;
	char *h = strcasestr(resp, "\r\nContent-Type:");
	type[0] = 0;
	if (h) {
		h += strlen("\r\nContent-Type:");
		h += strspn(h, " \t");
		snprintf(type, tcap, "%.*s", (int)strcspn(h, "\r\n"), h);
	}
	snprintf(body, bcap, "%s", end + 4);
	return status;
}

/* The value of the sample written exactly `name` (labels included) in a
 * Prometheus text; -1 if there is none. */
static double sample(const char *text, const char *name)
{
	size_t l = strlen(name);
	for (const char *line = text; *line;) {
		if (!strncmp(line, name, l) && line[l] == ' ')
			return strtod(line + l + 1, NULL);
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
	return -1;
}

static bool is_tag(const tr_msg_t *m, void *arg)
{
	const char **w = arg;
	char name[64];
	return tr_msg_is(m, w[0]) &&
	       !tr_msg_get_strbuf(m, 0, name, sizeof(name)) &&
	       !strcmp(name, w[1]);
}

static tr_msg_t *node_event(const char *tag, const char *name)
{
	const char *w[2] = {tag, name};
	tr_msg_t *m = NULL;
	cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, is_tag, w, &m),
	             TR_OK, "no %s of %s", tag, name);
	return m;
}

Test(troupe_node, serves_echo_counter_and_a_loaded_app, .init = setup,
     .fini = teardown, .timeout = 60)
{
	start_n1(secret_path);
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_OK);
	tr_msg_free(node_event("nodeup", "n1"));
	/* echo: a call returns its payload */
	tr_pid_t e, c, g;
	cr_assert_eq(tr_spawn_on(neta, "n1", "echo", NULL, WAIT_MS, &e), TR_OK);
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_call(node, e, mk_int("v", 41), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	int64_t v;
	cr_assert(tr_msg_is(rep, "v"));
	cr_assert_eq(tr_msg_get_int(rep, 0, &v), TR_OK);
	cr_assert_eq(v, 41);
	tr_msg_free(rep);
	/* counter: three sends, then get says 3 */
	cr_assert_eq(tr_spawn_on(neta, "n1", "counter", NULL, WAIT_MS, &c),
	             TR_OK);
	tr_pid_t pa = spawn_puppet(); /* sends from one actor: in order */
	for (int i = 0; i < 3; i++) {
		tr_msg_t *s = mk_pid("send", c);
		tr_msg_add_str(s, "tick");
		tr_send(pa, s);
	}
	sync_with(pa);
	/* the call comes from another sender: ask until it has all three */
	uint64_t n = 0;
	for (int tries = 0; n < 3 && tries < 1000; tries++) {
		cr_assert_eq(
		        tr_call(node, c, mk("get"), WAIT_MS, &rep, NULL, 0),
		        TR_OK);
		cr_assert(tr_msg_is(rep, "count"));
		cr_assert_eq(tr_msg_get_uint(rep, 0, &n), TR_OK);
		tr_msg_free(rep);
	}
	cr_assert_eq(n, 3);
	/* the loaded application: exported, and running as "greeter" */
	cr_assert_eq(tr_spawn_on(neta, "n1", "greeter", NULL, WAIT_MS, &g),
	             TR_OK);
	tr_msg_t *greet = mk("greet");
	tr_msg_add_str(greet, "troupe");
	cr_assert_eq(tr_call(node, g, greet, WAIT_MS, &rep, NULL, 0), TR_OK);
	char text[64];
	cr_assert_eq(tr_msg_get_strbuf(rep, 0, text, sizeof(text)), TR_OK);
	cr_assert_str_eq(text, "Hi, troupe");
	tr_msg_free(rep);
	/* SIGTERM: a graceful leave, exit 0 */
	kill(daemon_pid, SIGTERM);
	tr_msg_t *m = node_event("nodedown", "n1");
	char why[32];
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	tr_msg_free(m);
	cr_assert_str_eq(why, "left");
	int st;
	cr_assert_eq(waitpid(daemon_pid, &st, 0), daemon_pid);
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	read_all(errfd, daemon_err, sizeof(daemon_err));
	cr_assert(strstr(daemon_err, "leaving"), "%s", daemon_err);
}

Test(troupe_node, a_wrong_secret_cannot_join, .init = setup, .fini = teardown,
     .timeout = 60)
{
	start_n1(bad_path);
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_EAUTH);
	cr_assert(!tr_net_is_up(neta, "n1"));
}

Test(troupe_node, bad_usage_is_one_clear_line_and_exit_2, .init = setup,
     .fini = teardown, .timeout = 60)
{
	static const char *cases[][8] = {
	        {"troupe-node", "--name", "x", NULL},
	        {"troupe-node", "--name", "x", "--listen", "tcp://127.0.0.1:0",
	         NULL},
	        {"troupe-node", "--bogus", NULL},
	        {"troupe-node", "--name", "x", "--listen", "tcp://127.0.0.1:0",
	         "--secret-file", "/nonexistent/secret", NULL},
	        {"troupe-node", "--name", "x", "--listen", "tcp://127.0.0.1:0",
	         "--heartbeat-ms", "soon", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[2048];
		int st = run_to_exit((char *const *)cases[i], err, sizeof(err));
		cr_assert_eq(st, 2, "case %zu exit %d", i, st);
		cr_assert(!strncmp(err, "troupe-node: ", 13), "case %zu: %s", i,
		          err);
	}
	/* a load that fails is exit 1 */
	const char *load[] = {"--load", "/nonexistent/app.so", NULL};
	char err[2048];
	cr_assert_eq(run_x_to_exit(load, err, sizeof(err)), 1);
	cr_assert(strstr(err, "--load"), "%s", err);
}

Test(troupe_node, a_bad_log_format_or_metrics_endpoint_is_exit_2, .init = setup,
     .fini = teardown, .timeout = 60)
{
	static const struct {
		const char *flags[3], *want;
	} cases[] = {
	        {{"--log-format", "xml"},
	         "--log-format xml: expected text or json"},
	        {{"--metrics", "garbage"},
	         "--metrics garbage: expected tcp://"},
	        {{"--metrics", "tcp://127.0.0.1:99999"}, "--metrics tcp://"},
	        {{"--metrics", "tcp://127.0.0.1"}, "--metrics tcp://"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[2048];
		int st = run_x_to_exit(cases[i].flags, err, sizeof(err));
		cr_assert_eq(st, 2, "case %zu exit %d", i, st);
		char want[128];
		snprintf(want, sizeof(want), "troupe-node: %s", cases[i].want);
		cr_assert(!strncmp(err, want, strlen(want)), "case %zu: %s", i,
		          err);
	}
	/* a metrics port already taken: cannot start, exit 1 */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 1), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	char ep[64];
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", ntohs(a.sin_port));
	const char *taken[] = {"--metrics", ep, NULL};
	char err[2048];
	int st = run_x_to_exit(taken, err, sizeof(err));
	close(s);
	cr_assert_eq(st, 1, "exit %d: %s", st, err);
	cr_assert(strstr(err, "troupe-node: cannot serve metrics on"), "%s",
	          err);
}

/* Every sample line of a Prometheus text belongs to a family with a
 * TYPE line. */
static void check_types(const char *text)
{
	for (const char *line = text; *line;) {
		size_t l = strcspn(line, "\n");
		if (*line != '#') {
			char want[256];
			snprintf(want, sizeof(want), "# TYPE %.*s ",
			         (int)strcspn(line, "{ "), line);
			cr_assert(strstr(text, want), "no TYPE for %.*s",
			          (int)l, line);
		}
		line += l + !!line[l];
	}
}

Test(troupe_node, metrics_serves_prometheus_text_with_the_peers, .init = setup,
     .fini = teardown, .timeout = 60)
{
	const char *extra[] = {"--metrics", "tcp://127.0.0.1:0", NULL};
	start_n1_with(secret_path, extra);
	unsigned port = metrics_port();
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_OK);
	tr_msg_free(node_event("nodeup", "n1"));
	/* once n1 has answered a call from us, it has us up */
	tr_pid_t e;
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_spawn_on(neta, "n1", "echo", NULL, WAIT_MS, &e), TR_OK);
	cr_assert_eq(tr_call(node, e, mk_int("v", 1), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	tr_msg_free(rep);

	static char body[1 << 17];
	char type[256];
	int status = http_get(port, "/metrics", type, sizeof(type), body,
	                      sizeof(body));
	cr_assert_eq(status, 200, "%d: %s", status, body);
	cr_assert(!strncmp(type, "text/plain; version=0.0.4", 25), "%s", type);
	check_types(body);
	cr_assert(strstr(body, "# TYPE troupe_actors gauge\n"), "%s", body);
	cr_assert(
	        strstr(body, "# TYPE troupe_messages_handled_total counter\n"));
	/* the registry's server, the root supervisor, the greeter, echo */
	cr_assert_geq(sample(body, "troupe_actors"), 4, "%s", body);
	cr_assert_eq(sample(body, "troupe_nodes_up"), 1, "%s", body);
	cr_assert_geq(sample(body, "troupe_messages_handled_total"), 1);
	cr_assert_eq(sample(body, "troupe_peer_up{peer=\"a\"}"), 1, "%s", body);
	cr_assert_geq(
	        sample(body, "troupe_peer_messages_received_total{peer=\"a\"}"),
	        1, "%s", body);
	cr_assert_geq(sample(body, "troupe_mailbox_peak_messages"), 1);
	cr_assert_eq(sample(body, "troupe_net_rejected_frames_total{reason="
	                          "\"auth\"}"),
	             0);
	cr_assert_eq(sample(body, "troupe_node_info{node=\"n1\",version="
	                          "\"" TR_VERSION_STRING "\"}"),
	             1, "%s", body);
	cr_assert_eq(
	        http_get(port, "/nope", type, sizeof(type), body, sizeof(body)),
	        404);
}

/* The stderr lines of a daemon that ran to its exit: each one a JSON
 * object of exactly ts, level, node and msg. Returns how many, and
 * whether a msg had `want` in it. */
static int json_lines(char *err, const char *node_name, const char *want,
                      bool *found)
{
	int n = 0;
	*found = false;
	for (char *line = err, *nl; *line; line = nl + 1, n++) {
		cr_assert((nl = strchr(line, '\n')), "no newline: %s", line);
		*nl = 0;
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		cr_assert(json_is_object(o), "not a JSON object: %s (%s)", line,
		          je.text);
		const char *ts = json_string_value(json_object_get(o, "ts"));
		const char *lv = json_string_value(json_object_get(o, "level"));
		const char *nd = json_string_value(json_object_get(o, "node"));
		const char *msg = json_string_value(json_object_get(o, "msg"));
		cr_assert_eq(json_object_size(o), 4, "%s", line);
		int y, mo, d, h, mi, s, ms;
		char z = 0;
		cr_assert(ts && strlen(ts) == 24 &&
		                  sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c",
		                         &y, &mo, &d, &h, &mi, &s, &ms,
		                         &z) == 8 &&
		                  z == 'Z',
		          "ts: %s", line);
		cr_assert(lv && strstr(" error warn info debug ", lv) &&
		                  strlen(lv) >= 4,
		          "level: %s", line);
		cr_assert(nd && !strcmp(nd, node_name), "node: %s", line);
		cr_assert(msg, "msg: %s", line);
		*found |= strstr(msg, want) != NULL;
		json_decref(o);
	}
	return n;
}

Test(troupe_node, log_format_json_is_one_object_a_line, .init = setup,
     .fini = teardown, .timeout = 60)
{
	const char *extra[] = {"--log-format", "json", NULL};
	start_n1_with(secret_path, extra);
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_OK);
	tr_msg_free(node_event("nodeup", "n1"));
	/* n1 counts us up (and has logged it) once it answers: its reply
	 * waits for its side of the session */
	tr_pid_t echo;
	cr_assert_eq(tr_spawn_on(neta, "n1", "echo", NULL, WAIT_MS, &echo),
	             TR_OK);
	kill(daemon_pid, SIGTERM);
	tr_msg_free(node_event("nodedown", "n1"));
	int st;
	cr_assert_eq(waitpid(daemon_pid, &st, 0), daemon_pid);
	daemon_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	static char err[1 << 16], all[1 << 16];
	read_all(errfd, err, sizeof(err));
	memcpy(all, err, sizeof(all)); /* json_lines cuts err into lines */
	bool leaving;
	/* loaded, nodeup a, leaving, nodedown a at least */
	cr_assert_geq(json_lines(err, "n1", "SIGTERM: leaving", &leaving), 3,
	              "%s", all);
	cr_assert(leaving, "%s", err);
	/* a failure to start is JSON too, quotes and backslashes escaped */
	const char *load[] = {"--log-format", "json", "--load",
	                      "/nonexistent/a \"b\\c\n.so", NULL};
	cr_assert_eq(run_x_to_exit(load, err, sizeof(err)), 1, "%s", err);
	bool said;
	cr_assert_eq(json_lines(err, "x", "/nonexistent/a \"b\\c\n.so", &said),
	             1, "%s", err);
	cr_assert(said, "%s", err);
}

/* Start n1 from a --config file (and a CURVE dir when curve is set). */
static void start_from_config(const char *extra)
{
	char cfg[64];
	snprintf(cfg, sizeof(cfg), "/tmp/tr-cfg-%d", (int)getpid());
	FILE *f = fopen(cfg, "w");
	fprintf(f, "# a node\nname = n1\nlisten = tcp://127.0.0.1:0\n%s\n",
	        extra);
	fclose(f);
	char *args[] = {"troupe-node", "--config", cfg, NULL};
	daemon_pid = run_daemon(args, &daemon_out, &errfd);
	char line[512];
	bool got = fgets(line, sizeof(line), daemon_out) != NULL;
	unlink(cfg);
	cr_assert(got, "no ready line");
	cr_assert_eq(
	        sscanf(line, "troupe-node n1 listening on %255s", daemon_ep), 1,
	        "ready line: %s", line);
}

Test(troupe_node, a_config_file_does_what_the_flags_do, .init = setup,
     .fini = teardown, .timeout = 60)
{
	char extra[256];
	snprintf(extra, sizeof(extra),
	         "secret-file = %s  # the secret\nlog-format = json\n"
	         "metrics = tcp://127.0.0.1:0",
	         secret_path);
	start_from_config(extra);
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_OK);
	tr_msg_free(node_event("nodeup", "n1"));
	/* the metrics line, in JSON */
	cr_assert_gt(metrics_port(), 0);
	cr_assert(!strncmp(metrics_line, "{\"ts\":", 6), "%s", metrics_line);
}

static void write_pair(const char *path, const char *pub, const char *sec)
{
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "%s\n%s\n", pub, sec);
	fclose(f);
}

Test(troupe_node, curve_dir, .init = setup, .fini = teardown, .timeout = 60)
{
	/* a second node of this process, with CURVE: the daemon allows its
	 * key (and its own) from DIR/allowed */
	char sp[41], ss[41], np[41], ns[41], cp[41], cs[41];
	cr_assert_eq(tr_curve_keypair(sp, ss), TR_OK);
	cr_assert_eq(tr_curve_keypair(np, ns), TR_OK);
	cr_assert_eq(tr_curve_keypair(cp, cs), TR_OK);
	char dir[64], path[128];
	snprintf(dir, sizeof(dir), "/tmp/tr-curve-%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/allowed", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/server.key", dir);
	write_pair(path, sp, ss);
	snprintf(path, sizeof(path), "%s/node.key", dir);
	write_pair(path, np, ns);
	snprintf(path, sizeof(path), "%s/allowed/n1.pub", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n", np);
	fclose(f);
	snprintf(path, sizeof(path), "%s/allowed/c.pub", dir);
	f = fopen(path, "w");
	fprintf(f, "%s\n", cp);
	fclose(f);
	char extra[128];
	snprintf(extra, sizeof(extra), "curve-dir = %s", dir);
	start_from_config(extra);

	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "c";
	tr_node_t *c;
	cr_assert_eq(tr_node_new(&c, &o), TR_OK);
	const char *allow[2] = {np, cp};
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.curve_server_public = sp;
	no.curve_server_secret = ss;
	no.curve_public = cp;
	no.curve_secret = cs;
	no.curve_allow = allow;
	no.curve_allow_n = 2;
	tr_net_t *netc;
	cr_assert_eq(tr_net_start(c, &no, &netc), TR_OK);
	/* CURVE handshakes are slow under the sanitizers on two busy
	 * cores: a longer wait than the helpers' */
	tr_err e = tr_net_join(netc, daemon_ep, 3 * WAIT_MS);
	tr_pid_t echo;
	if (!e)
		e = tr_spawn_on(netc, "n1", "echo", NULL, 3 * WAIT_MS, &echo);
	tr_node_destroy(c);
	/* the CLI reads the same layout: its node.key is allowed */
	char cmd[1024], got[64] = "";
	snprintf(cmd, sizeof(cmd),
	         "%s --node %s --curve-dir %s --timeout 15000 ping 2>&1",
	         getenv("TR_TROUPE_CLI"), daemon_ep, dir);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	if (!fgets(got, sizeof(got), p))
		got[0] = 0;
	int cli_rc = pclose(p);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(e, TR_OK, "%s", tr_err_name(e));
	cr_assert_str_eq(got, "pong\n");
	cr_assert_eq(cli_rc, 0);
}
