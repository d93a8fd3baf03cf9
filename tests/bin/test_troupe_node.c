/*
 * tests/bin/test_troupe_node.c - the troupe-node daemon, driven as a user
 * would: started with its flags, joined by a node of this process (a),
 * its built-in behaviours and a loaded application used, stopped with
 * SIGTERM. Paths come from TR_TROUPE_NODE and TR_APP_GREETER; daemons
 * read nothing from stdin, are killed by the fixture whatever happens.
 */
#include <fcntl.h>
#include <signal.h>
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

static void start_n1(const char *secret_file)
{
	char *args[] = {"troupe-node",
	                "--name",
	                "n1",
	                "--listen",
	                "tcp://127.0.0.1:0",
	                "--secret-file",
	                (char *)secret_file,
	                "--load",
	                (char *)getenv("TR_APP_GREETER"),
	                "--heartbeat-ms",
	                "50",
	                NULL};
	char greeter[512];
	snprintf(greeter, sizeof(greeter), "%s:Hi", getenv("TR_APP_GREETER"));
	args[8] = greeter;
	daemon_pid = run_daemon(args, &daemon_out, &errfd);
	char line[512];
	cr_assert(fgets(line, sizeof(line), daemon_out), "no ready line");
	cr_assert_eq(
	        sscanf(line, "troupe-node n1 listening on %255s", daemon_ep), 1,
	        "ready line: %s", line);
	cr_assert(!strncmp(daemon_ep, "tcp://127.0.0.1:", 16));
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
		FILE *out;
		int ef;
		pid_t p = run_daemon((char *const *)cases[i], &out, &ef);
		char err[2048];
		read_all(ef, err, sizeof(err));
		int st;
		waitpid(p, &st, 0);
		fclose(out);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2,
		          "case %zu exit %d", i, WEXITSTATUS(st));
		cr_assert(!strncmp(err, "troupe-node: ", 13), "case %zu: %s", i,
		          err);
	}
	/* a load that fails is exit 1 */
	char *args[] = {"troupe-node",
	                "--name",
	                "x",
	                "--listen",
	                "tcp://127.0.0.1:0",
	                "--secret-file",
	                secret_path,
	                "--load",
	                "/nonexistent/app.so",
	                NULL};
	FILE *out;
	int ef;
	pid_t p = run_daemon(args, &out, &ef);
	char err[2048];
	read_all(ef, err, sizeof(err));
	int st;
	waitpid(p, &st, 0);
	fclose(out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	cr_assert(strstr(err, "--load"), "%s", err);
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
	char extra[128];
	snprintf(extra, sizeof(extra), "secret-file = %s  # the secret",
	         secret_path);
	start_from_config(extra);
	cr_assert_eq(tr_net_join(neta, daemon_ep, WAIT_MS), TR_OK);
	tr_msg_free(node_event("nodeup", "n1"));
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
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(e, TR_OK, "%s", tr_err_name(e));
}
