/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for troupe-node's --config
 * reader (bin/config.c, with bin/metrics.c's endpoint check): any bytes
 * as a file. Checked: it returns, with a reason when it refuses; what it
 * accepted obeys the option rules (lists within bounds, values trimmed,
 * without '#', '\r' or '\n', numbers in range, a valid --metrics); and
 * written back as "key = value" lines it reads the same again.
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bin/config.h"
#include "bin/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: %s\n", what);
		abort();
	}
}

static void check_value(const char *v)
{
	if (!v)
		return;
	size_t n = strlen(v);
	check(!strpbrk(v, "#\r\n"), "a value with '#', CR or LF");
	check(!n || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' &&
	             v[n - 1] != '\t'),
	      "a value not trimmed");
}

struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *key, const char *val)
{
	if (!val)
		return;
	size_t need = strlen(key) + strlen(val) + 5;
	if (t->len + need + 1 > t->cap) {
		t->cap = 2 * (t->len + need + 1);
		t->p = realloc(t->p, t->cap);
		check(t->p != NULL, "out of memory");
	}
	t->len += (size_t)snprintf(t->p + t->len, t->cap - t->len, "%s = %s\n",
	                           key, val);
}

/* c written back as a config file. */
static struct text write_back(const struct troupe_config *c)
{
	struct text t = {0};
	char ms[16];
	put(&t, "name", c->name);
	put(&t, "listen", c->listen);
	put(&t, "secret-file", c->secret_file);
	put(&t, "curve-dir", c->curve_dir);
	put(&t, "metrics", c->metrics);
	for (int i = 0; i < c->njoin; i++)
		put(&t, "join", c->join[i]);
	for (int i = 0; i < c->nload; i++)
		put(&t, "load", c->load[i]);
	snprintf(ms, sizeof(ms), "%u", c->heartbeat_ms);
	put(&t, "heartbeat-ms", c->heartbeat_ms ? ms : NULL);
	snprintf(ms, sizeof(ms), "%u", c->timeout_ms);
	put(&t, "timeout-ms", c->timeout_ms ? ms : NULL);
	put(&t, "log-level", troupe_log_levels[c->log_level]);
	put(&t, "log-format", c->log_json ? "json" : "text");
	return t;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct troupe_config c;
	char why[256];
	troupe_config_init(&c);
	why[0] = 0;
	tr_err e = troupe_config_parse(&c, (const char *)data, size,
	                               "fuzz.conf", why, sizeof(why));
	if (e) {
		check(e == TR_EPROTO || e == TR_EINVAL || e == TR_ENOMEM,
		      "an unexpected error");
		check(why[0] && strlen(why) < sizeof(why), "no reason given");
		troupe_config_free(&c);
		return 0;
	}
	check(c.njoin >= 0 && c.njoin <= TROUPE_CONFIG_MAX_LIST &&
	              c.nload >= 0 && c.nload <= TROUPE_CONFIG_MAX_LIST,
	      "a list out of bounds");
	check(c.log_level >= TR_LOG_ERROR && c.log_level <= TR_LOG_DEBUG,
	      "a log level out of range");
	check(c.heartbeat_ms <= 600000 && c.timeout_ms <= 600000,
	      "a number of ms out of range");
	check(!c.metrics || troupe_metrics_valid(c.metrics),
	      "a --metrics endpoint it should have refused");
	const char *one[] = {c.name, c.listen, c.secret_file, c.curve_dir,
	                     c.metrics};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		check_value(one[i]);
	for (int i = 0; i < c.njoin; i++)
		check_value(c.join[i]);
	for (int i = 0; i < c.nload; i++)
		check_value(c.load[i]);

	/* written back, it reads the same */
	struct text t = write_back(&c);
	struct troupe_config d;
	troupe_config_init(&d);
	e = troupe_config_parse(&d, t.p ? t.p : "", t.len, "back.conf", why,
	                        sizeof(why));
	check(e == TR_OK, why);
	check(same(c.name, d.name) && same(c.listen, d.listen) &&
	              same(c.secret_file, d.secret_file) &&
	              same(c.curve_dir, d.curve_dir) &&
	              same(c.metrics, d.metrics) && c.njoin == d.njoin &&
	              c.nload == d.nload && c.heartbeat_ms == d.heartbeat_ms &&
	              c.timeout_ms == d.timeout_ms &&
	              c.log_level == d.log_level && c.log_json == d.log_json,
	      "read back differently");
	for (int i = 0; i < c.njoin; i++)
		check(same(c.join[i], d.join[i]), "a --join read back");
	for (int i = 0; i < c.nload; i++)
		check(same(c.load[i], d.load[i]), "a --load read back");
	free(t.p);
	troupe_config_free(&d);
	troupe_config_free(&c);
	return 0;
}
