/*
 * bin/config.h - troupe-node's options: the command line's long options
 * and the --config file (docs/troupe-node.md), read into one struct.
 *
 * Nothing here exits or prints: every problem comes back as a tr_err
 * with a one-line reason in `why` (without the "troupe-node: " prefix).
 * The file reader works on a buffer, so tests/fuzz/fuzz_config.c can
 * feed it anything. Thread: any, one config per thread at a time.
 */
#ifndef TROUPE_BIN_CONFIG_H
#define TROUPE_BIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <troupe/troupe.h>

#define TROUPE_CONFIG_MAX_LIST 64 /* --join, --load */

/* "error", "warn", "info", "debug": TR_LOG_ERROR .. TR_LOG_DEBUG */
extern const char *const troupe_log_levels[4];

struct troupe_config {
	char *name, *listen, *secret_file, *curve_dir, *metrics;
	char *join[TROUPE_CONFIG_MAX_LIST], *load[TROUPE_CONFIG_MAX_LIST];
	int njoin, nload;
	unsigned heartbeat_ms, timeout_ms; /* 0: not given */
	int log_level;                     /* TR_LOG_INFO unless given */
	bool log_json;                     /* --log-format json */
	/* the values read from files, freed by troupe_config_free() */
	char **owned;
	size_t nowned, cap_owned;
};

/* The defaults: nothing given, log level info, text logs. */
void troupe_config_init(struct troupe_config *c);

/*
 * Set the option named key (a long option's name without "--") to val,
 * which c points to from then on (not copied): the last one given wins,
 * --join and --load add one more (at most TROUPE_CONFIG_MAX_LIST).
 * TR_EINVAL for an unknown key or a bad value, with why saying which
 * (bad usage: troupe-node prints it with its usage and exits 2).
 */
tr_err troupe_config_set(struct troupe_config *c, const char *key, char *val,
                         char *why, size_t cap);

/*
 * Read a --config file's text (len bytes, any bytes): one "key = value"
 * a line, '#' starts a comment, blank lines are skipped, spaces and tabs
 * around key and value are dropped, a value ends at the line's end (or
 * '\r', or a NUL byte). Each option is set as by troupe_config_set() in
 * the order of the lines, with a copy of its value that c owns. path
 * only names the file in messages. Returns TR_OK; TR_EPROTO for a line
 * that is not "key = value" (why: "PATH:LINE: expected key = value");
 * TR_EINVAL for an option troupe_config_set() refuses; TR_ENOMEM. The
 * options of the lines before the bad one are set.
 */
tr_err troupe_config_parse(struct troupe_config *c, const char *text,
                           size_t len, const char *path, char *why, size_t cap);

/* troupe_config_parse() of the file at path; TR_EIO if it cannot be
 * read (why: "--config PATH: REASON"). */
tr_err troupe_config_read(struct troupe_config *c, const char *path, char *why,
                          size_t cap);

/* Free what c owns (the values read from files). c is then empty. */
void troupe_config_free(struct troupe_config *c);

#endif
