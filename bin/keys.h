/*
 * bin/keys.h - the cluster credentials of troupe-node and troupe: a
 * shared secret file, or a CURVE key directory (docs/troupe-node.md,
 * "Security").
 */
#ifndef TROUPE_BIN_KEYS_H
#define TROUPE_BIN_KEYS_H

#include <troupe/troupe.h>

#define TROUPE_KEYS_MAX_ALLOWED 64

struct troupe_keys {
	char *secret;
	char pairs[4][TR_CURVE_KEY_Z85]; /* server pub/sec, node pub/sec */
	char *allow[TROUPE_KEYS_MAX_ALLOWED];
	size_t nallow;
};

/*
 * Load exactly one of secret_file and curve_dir into no (which points
 * into k afterwards: keep k as long as no is used). On a problem -1,
 * with why (cap bytes) saying what, e.g. "--secret-file F: No such file".
 */
int troupe_keys_load(const char *secret_file, const char *curve_dir,
                     tr_net_opts_t *no, struct troupe_keys *k, char *why,
                     size_t cap);
void troupe_keys_free(struct troupe_keys *k);

#endif
