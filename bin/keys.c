/*
 * bin/keys.c - the cluster credentials of troupe-node and troupe.
 *
 * --secret-file FILE: the shared secret, the whole file but one trailing
 * newline, at least TR_SECRET_MIN bytes.
 * --curve-dir DIR: DIR/server.key and DIR/node.key hold "PUBLIC SECRET"
 * (Z85, 40 characters each, any white space between); DIR/allowed/NAME.pub
 * one public key each, the node keys this node accepts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bin/keys.h"

/* The whole file (at most 4 KiB), trailing newlines removed. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(4097);
	size_t n = buf ? fread(buf, 1, 4096, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = 0;
	*len = n;
	return buf;
}

static bool read_pair(const char *dir, const char *file, char *pub, char *sec)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fscanf(f, "%40s %40s", pub, sec) == 2 && strlen(pub) == 40 &&
	          strlen(sec) == 40;
	fclose(f);
	return ok;
}

static int load_curve(const char *dir, tr_net_opts_t *no, struct troupe_keys *k,
                      char *why, size_t cap)
{
	if (!read_pair(dir, "server.key", k->pairs[0], k->pairs[1]) ||
	    !read_pair(dir, "node.key", k->pairs[2], k->pairs[3])) {
		snprintf(why, cap,
		         "--curve-dir %s: needs server.key and node.key "
		         "(public and secret key, Z85)",
		         dir);
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/allowed", dir);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) && k->nallow < TROUPE_KEYS_MAX_ALLOWED) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".pub"))
			continue;
		char p[4096 + 256];
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		size_t len;
		char *key = slurp(p, &len);
		if (key && len == 40)
			k->allow[k->nallow++] = key;
		else
			free(key);
	}
	if (d)
		closedir(d);
	if (!k->nallow) {
		snprintf(why, cap, "--curve-dir %s: no allowed/*.pub", dir);
		return -1;
	}
	no->curve_server_public = k->pairs[0];
	no->curve_server_secret = k->pairs[1];
	no->curve_public = k->pairs[2];
	no->curve_secret = k->pairs[3];
	no->curve_allow = (const char *const *)k->allow;
	no->curve_allow_n = k->nallow;
	return 0;
}

int troupe_keys_load(const char *secret_file, const char *curve_dir,
                     tr_net_opts_t *no, struct troupe_keys *k, char *why,
                     size_t cap)
{
	memset(k, 0, sizeof(*k));
	if (!secret_file == !curve_dir) {
		snprintf(why, cap, "give one of --secret-file and --curve-dir");
		return -1;
	}
	if (curve_dir) {
		if (load_curve(curve_dir, no, k, why, cap)) {
			troupe_keys_free(k);
			return -1;
		}
		return 0;
	}
	size_t len;
	k->secret = slurp(secret_file, &len);
	if (!k->secret) {
		snprintf(why, cap, "--secret-file %s: %s", secret_file,
		         strerror(errno));
		return -1;
	}
	if (len < TR_SECRET_MIN) {
		snprintf(why, cap,
		         "--secret-file %s: a secret needs at least %d bytes",
		         secret_file, TR_SECRET_MIN);
		troupe_keys_free(k);
		return -1;
	}
	no->secret = k->secret;
	no->secret_len = len;
	return 0;
}

void troupe_keys_free(struct troupe_keys *k)
{
	free(k->secret);
	k->secret = NULL;
	for (size_t i = 0; i < k->nallow; i++)
		free(k->allow[i]);
	k->nallow = 0;
}
