/*
 * tests/helpers/helpers.c - see helpers.h.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

tr_node_t *node;
tr_inbox_t *inbox;
tr_pid_t me;

static void setup_n(unsigned n)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = n;
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
}

void setup_node(void)
{
	setup_n(2);
}

void setup_node1(void)
{
	setup_n(1);
}

void teardown_node(void)
{
	tr_inbox_destroy(inbox);
	inbox = NULL;
	tr_node_destroy(node);
	node = NULL;
}

tr_msg_t *mk(const char *tag)
{
	tr_msg_t *m;
	cr_assert_eq(tr_msg_new(&m, tag), TR_OK);
	return m;
}

tr_msg_t *mk_int(const char *tag, int64_t v)
{
	tr_msg_t *m = mk(tag);
	cr_assert_eq(tr_msg_add_int(m, v), TR_OK);
	return m;
}

tr_msg_t *mk_pid(const char *tag, tr_pid_t p)
{
	tr_msg_t *m = mk(tag);
	cr_assert_eq(tr_msg_add_pid(m, p), TR_OK);
	return m;
}

tr_msg_t *recv_any(void)
{
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive(inbox, WAIT_MS, &m);
	cr_assert_eq(e, TR_OK, "no message: %s", tr_err_name(e));
	return m;
}

static bool match_tag(const tr_msg_t *m, void *arg)
{
	return tr_msg_is(m, arg);
}

static bool match_kind(const tr_msg_t *m, void *arg)
{
	return tr_msg_kind(m) == *(tr_msg_kind_t *)arg;
}

tr_msg_t *recv_tag(const char *tag)
{
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_tag,
	                                  (void *)tag, &m);
	cr_assert_eq(e, TR_OK, "no \"%s\": %s", tag, tr_err_name(e));
	return m;
}

tr_msg_t *recv_kind(tr_msg_kind_t kind)
{
	tr_msg_t *m = NULL;
	tr_err e =
	        tr_inbox_receive_match(inbox, WAIT_MS, match_kind, &kind, &m);
	cr_assert_eq(e, TR_OK, "no message of kind %d: %s", (int)kind,
	             tr_err_name(e));
	return m;
}

static bool match_fwd(const tr_msg_t *m, void *arg)
{
	return tr_msg_kind(m) == TR_MSG_PLAIN && tr_msg_is(m, arg);
}

tr_msg_t *recv_fwd(const char *tag)
{
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_fwd,
	                                  (void *)tag, &m);
	cr_assert_eq(e, TR_OK, "no forwarded \"%s\": %s", tag, tr_err_name(e));
	return m;
}

bool got_tag_within(const char *tag, uint64_t ms)
{
	tr_msg_t *m = NULL;
	if (tr_inbox_receive_match(inbox, ms, match_tag, (void *)tag, &m))
		return false;
	tr_msg_free(m);
	return true;
}

void expect_no_tag(const char *tag, uint64_t ms)
{
	cr_assert(!got_tag_within(tag, ms), "unexpected \"%s\"", tag);
}

/* ---- echo ---------------------------------------------------------------- */

/* A message tr_send() refused (the peer's node is unreachable, say) is
 * still the sender's: free it, or the sanitizer reports a leak. */
static void send_or_free(tr_pid_t to, tr_msg_t *m)
{
	if (tr_send(to, m) != TR_OK)
		tr_msg_free(m);
}

static void echo_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_msg_t *r = mk(tr_msg_kind(m) == TR_MSG_CALL ? "reply" : "echo");
	for (size_t i = 0; i < tr_msg_count(m); i++) {
		const void *raw;
		size_t len;
		cr_assert_eq(tr_msg_get_raw(m, i, &raw, &len), TR_OK);
		cr_assert_eq(tr_msg_add_raw(r, raw, len), TR_OK);
	}
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		tr_from_t from;
		cr_assert_eq(tr_msg_from(m, &from), TR_OK);
		tr_reply(&from, r);
	} else if (!tr_pid_is_none(tr_msg_sender(m))) {
		send_or_free(tr_msg_sender(m), r);
	} else {
		send_or_free(me, r);
	}
}

const tr_behaviour_t echo_b = {.name = "echo", .receive = echo_receive};

/* ---- relay --------------------------------------------------------------- */

static void relay_receive(void *state, tr_msg_t *m)
{
	tr_pid_t *to = state;
	size_t n;
	const char *tag = tr_msg_tag(m, &n);
	tr_msg_t *r = mk("got");
	tr_msg_add_int(r, tr_msg_kind(m));
	tr_msg_add_strn(r, tag, n);
	send_or_free(*to, r);
}

const tr_behaviour_t relay_b = {.name = "relay", .receive = relay_receive};

/* ---- puppet -------------------------------------------------------------- */

static void puppet_receive(void *state, tr_msg_t *m)
{
	(void)state;
	char buf[TR_REASON_MAX];
	tr_pid_t p;
	bool b;
	switch (tr_msg_kind(m)) {
	case TR_MSG_EXIT:
	case TR_MSG_DOWN:
	case TR_MSG_TIMEOUT: {
		tr_msg_t *copy;
		if (tr_msg_dup(m, &copy) == TR_OK)
			send_or_free(me, copy);
		return;
	}
	default:
		break;
	}
	if (tr_msg_is(m, "stop")) {
		if (tr_msg_get_strbuf(m, 0, buf, sizeof(buf)) != TR_OK)
			snprintf(buf, sizeof(buf), "%s", TR_NORMAL);
		tr_stop(buf);
	} else if (tr_msg_is(m, "trap")) {
		tr_msg_get_bool(m, 0, &b);
		tr_trap_exit(b, NULL);
	} else if (tr_msg_is(m, "link")) {
		tr_msg_get_pid(m, 0, &p);
		tr_link(p);
	} else if (tr_msg_is(m, "unlink")) {
		tr_msg_get_pid(m, 0, &p);
		tr_unlink(p);
	} else if (tr_msg_is(m, "monitor")) {
		tr_ref_t ref;
		tr_msg_get_pid(m, 0, &p);
		tr_monitor(p, &ref);
		tr_msg_t *r = mk("monitored");
		tr_msg_add_ref(r, ref);
		send_or_free(me, r);
	} else if (tr_msg_is(m, "exit")) {
		tr_msg_get_pid(m, 0, &p);
		tr_msg_get_strbuf(m, 1, buf, sizeof(buf));
		tr_exit(p, buf);
	} else if (tr_msg_is(m, "send")) {
		tr_msg_get_pid(m, 0, &p);
		tr_msg_get_strbuf(m, 1, buf, sizeof(buf));
		send_or_free(p, mk(buf));
	} else if (tr_msg_is(m, "ping")) {
		tr_msg_t *r = mk("pong");
		tr_msg_add_pid(r, tr_self());
		send_or_free(me, r);
	}
}

static void puppet_terminate(void *state, const char *reason)
{
	(void)state;
	tr_msg_t *r = mk("terminated");
	tr_msg_add_pid(r, tr_self());
	tr_msg_add_str(r, reason);
	if (tr_send(me, r) != TR_OK)
		tr_msg_free(r); /* still ours after an error */
}

const tr_behaviour_t puppet_b = {.name = "puppet",
                                 .receive = puppet_receive,
                                 .terminate = puppet_terminate};

tr_pid_t spawn_puppet(void)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &puppet_b, NULL, &p), TR_OK);
	return p;
}

static bool match_pong_from(const tr_msg_t *m, void *arg)
{
	tr_pid_t p;
	return tr_msg_is(m, "pong") && tr_msg_get_pid(m, 0, &p) == TR_OK &&
	       tr_pid_eq(p, *(tr_pid_t *)arg);
}

void sync_with(tr_pid_t pid)
{
	cr_assert_eq(tr_send(pid, mk("ping")), TR_OK);
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_pong_from, &pid,
	                                  &m);
	cr_assert_eq(e, TR_OK, "no pong: %s", tr_err_name(e));
	tr_msg_free(m);
}

struct down_match {
	tr_ref_t ref;
};

static bool match_down(const tr_msg_t *m, void *arg)
{
	tr_ref_t r;
	return tr_msg_kind(m) == TR_MSG_DOWN &&
	       tr_msg_down_info(m, &r, NULL, NULL, 0) == TR_OK &&
	       tr_ref_eq(r, ((struct down_match *)arg)->ref);
}

tr_ref_t mon(tr_pid_t pid)
{
	tr_ref_t r;
	cr_assert_eq(tr_inbox_monitor(inbox, pid, &r), TR_OK);
	return r;
}

void down(tr_ref_t ref, char *reason, size_t cap)
{
	struct down_match dm = {ref};
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_down, &dm, &m);
	cr_assert_eq(e, TR_OK, "no DOWN: %s", tr_err_name(e));
	if (reason)
		tr_msg_down_info(m, NULL, NULL, reason, cap);
	tr_msg_free(m);
}

void await_death(tr_pid_t pid, char *reason, size_t cap)
{
	struct down_match dm;
	cr_assert_eq(tr_inbox_monitor(inbox, pid, &dm.ref), TR_OK);
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_down, &dm, &m);
	cr_assert_eq(e, TR_OK, "no DOWN: %s", tr_err_name(e));
	if (reason)
		tr_msg_down_info(m, NULL, NULL, reason, cap);
	tr_msg_free(m);
}

tr_node_t *new_node(const char *name)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	o.name = name;
	tr_node_t *n;
	cr_assert_eq(tr_node_new(&n, &o), TR_OK);
	return n;
}

tr_net_t *new_net(tr_node_t *n, const char *secret)
{
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.listen = "tcp://127.0.0.1:0";
	o.secret = secret;
	o.secret_len = strlen(secret);
	tr_net_t *net;
	cr_assert_eq(tr_net_start(n, &o, &net), TR_OK);
	return net;
}

void node_child_start(struct node_child *c, const char *name,
                      const char *secret, const char *join, bool global)
{
	const char *exe = getenv("TR_NODE_PROC");
	cr_assert(exe, "TR_NODE_PROC not set");
	int pin[2], pout[2];
	/* close-on-exec: later children must not hold this one's stdin */
	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		if (global)
			setenv("TR_GLOBAL", "1", 1);
		execl(exe, exe, name, secret, join, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->in = pin[1];
	c->out = fdopen(pout[0], "r");
	char line[512];
	cr_assert(fgets(line, sizeof(line), c->out), "%s did not start", name);
	cr_assert_eq(sscanf(line, "READY %255s %u", c->endpoint, &c->creation),
	             2, "%s", line);
}

void node_child_reap(struct node_child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		c->pid = 0;
	}
	if (c->out) {
		fclose(c->out);
		c->out = NULL;
	}
	if (c->in >= 0)
		close(c->in);
	c->in = -1;
}
