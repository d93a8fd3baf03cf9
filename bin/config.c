/*
 * bin/config.c - troupe-node's options and its --config file (see
 * config.h). Public libtroupe API only; the --metrics endpoint is
 * checked by bin/metrics.c. A file is read whole, then split into lines
 * here: no line length limit, and the same code runs on a fuzzer's
 * buffer (tests/fuzz/fuzz_config.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bin/config.h"
#include "bin/metrics.h"

const char *const troupe_log_levels[4] = {"error", "warn", "info", "debug"};

void troupe_config_init(struct troupe_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = TR_LOG_INFO;
}

void troupe_config_free(struct troupe_config *c)
{
	for (size_t i = 0; i < c->nowned; i++)
		free(c->owned[i]);
	free(c->owned);
	troupe_config_init(c);
}

/* A number of milliseconds, 1 to 600000. */
static bool parse_ms(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v == 0 || v > 600000)
		return false;
	*out = (unsigned)v;
	return true;
}

static tr_err bad_value(const char *key, const char *val, const char *want,
                        char *why, size_t cap)
{
	snprintf(why, cap, "--%s %.200s: expected %s", key, val, want);
	return TR_EINVAL;
}

tr_err troupe_config_set(struct troupe_config *c, const char *key, char *val,
                         char *why, size_t cap)
{
	if (!strcmp(key, "name")) {
		c->name = val;
	} else if (!strcmp(key, "listen")) {
		c->listen = val;
	} else if (!strcmp(key, "join") || !strcmp(key, "load")) {
		bool join = key[0] == 'j';
		int *n = join ? &c->njoin : &c->nload;
		if (*n == TROUPE_CONFIG_MAX_LIST) {
			snprintf(why, cap, "--%s: at most %d", key,
			         TROUPE_CONFIG_MAX_LIST);
			return TR_EINVAL;
		}
		(join ? c->join : c->load)[(*n)++] = val;
	} else if (!strcmp(key, "secret-file")) {
		c->secret_file = val;
	} else if (!strcmp(key, "curve-dir")) {
		c->curve_dir = val;
	} else if (!strcmp(key, "heartbeat-ms") || !strcmp(key, "timeout-ms")) {
		if (!parse_ms(val, key[0] == 'h' ? &c->heartbeat_ms
		                                 : &c->timeout_ms)) {
			snprintf(why, cap, "%s: not a number of ms: %s", key,
			         val);
			return TR_EINVAL;
		}
	} else if (!strcmp(key, "log-level")) {
		int l = -1;
		for (int i = 0; i < 4; i++)
			if (!strcmp(val, troupe_log_levels[i]))
				l = i;
		if (l < 0) {
			snprintf(why, cap,
			         "--log-level: error, warn, info or debug");
			return TR_EINVAL;
		}
		c->log_level = l;
	} else if (!strcmp(key, "log-format")) {
		if (strcmp(val, "text") && strcmp(val, "json"))
			return bad_value(key, val, "text or json", why, cap);
		c->log_json = !strcmp(val, "json");
	} else if (!strcmp(key, "metrics")) {
		if (!troupe_metrics_valid(val))
			return bad_value(
			        key, val,
			        "tcp://IP:PORT (IP: IPv4, [IPv6] or *; "
			        "port 0 picks one)",
			        why, cap);
		c->metrics = val;
	} else {
		snprintf(why, cap, "unknown option: %.140s", key);
		return TR_EINVAL;
	}
	return TR_OK;
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A copy of s that c owns; NULL if out of memory. */
static char *own(struct troupe_config *c, const char *s)
{
	if (c->nowned == c->cap_owned) {
		size_t cap = c->cap_owned ? 2 * c->cap_owned : 16;
		char **v = realloc(c->owned, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->owned = v;
		c->cap_owned = cap;
	}
	char *d = strdup(s);
	if (d)
		c->owned[c->nowned++] = d;
	return d;
}

/* One line (a C string: a NUL byte ends it as the end of line would). */
static tr_err parse_line(struct troupe_config *c, char *line, const char *path,
                         int lineno, char *why, size_t cap)
{
	char *h = strchr(line, '#');
	if (h)
		*h = 0;
	char *k = line;
	while (blank(*k))
		k++;
	if (!*k)
		return TR_OK;
	char *eq = strchr(k, '=');
	if (!eq) {
		snprintf(why, cap, "%s:%d: expected key = value", path, lineno);
		return TR_EPROTO;
	}
	size_t kl = (size_t)(eq - k);
	while (kl && blank(k[kl - 1]))
		kl--;
	k[kl] = 0;
	char *v = eq + 1;
	while (blank(*v))
		v++;
	size_t vl = strcspn(v, "\r\n");
	while (vl && blank(v[vl - 1]))
		vl--;
	v[vl] = 0;
	char *val = own(c, v);
	if (!val) {
		snprintf(why, cap, "%s: out of memory", path);
		return TR_ENOMEM;
	}
	return troupe_config_set(c, k, val, why, cap);
}

tr_err troupe_config_parse(struct troupe_config *c, const char *text,
                           size_t len, const char *path, char *why, size_t cap)
{
	int lineno = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *line = strndup(text + pos, n);
		if (!line) {
			snprintf(why, cap, "%s: out of memory", path);
			return TR_ENOMEM;
		}
		pos += n + (nl != NULL);
		tr_err e = parse_line(c, line, path, ++lineno, why, cap);
		free(line);
		if (e)
			return e;
	}
	return TR_OK;
}

tr_err troupe_config_read(struct troupe_config *c, const char *path, char *why,
                          size_t cap)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, size = 0;
	bool failed = !f;
	while (!failed) {
		if (len == size) {
			size = size ? 2 * size : 4096;
			char *t = realloc(text, size);
			if (!t) {
				errno = ENOMEM;
				failed = true;
				break;
			}
			text = t;
		}
		size_t got = fread(text + len, 1, size - len, f);
		len += got;
		if (got == 0) {
			failed = ferror(f) != 0;
			break;
		}
	}
	int err = errno;
	if (f)
		fclose(f);
	if (failed) {
		free(text);
		snprintf(why, cap, "--config %s: %s", path, strerror(err));
		return TR_EIO;
	}
	tr_err e = troupe_config_parse(c, text, len, path, why, cap);
	free(text);
	return e;
}
