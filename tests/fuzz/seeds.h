/*
 * tests/fuzz/seeds.h - for the targets that write their own seed corpus
 * (their seeds hold pids and hashes of the nodes they start): with
 * TR_FUZZ_WRITE_SEEDS=DIR, the first input writes them to DIR.
 */
#ifndef TR_FUZZ_SEEDS_H
#define TR_FUZZ_SEEDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct seed {
	uint8_t buf[4096];
	size_t len, parts;
};

/* DIR the first time it is asked, NULL otherwise or if not set. */
static inline const char *seeds_dir(void)
{
	static bool asked;
	const char *dir = asked ? NULL : getenv("TR_FUZZ_WRITE_SEEDS");
	asked = true;
	return dir;
}

/* Write sd to DIR/name and empty it. */
static inline void seed_write(const char *dir, const char *name,
                              struct seed *sd)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(sd->buf, 1, sd->len, f) != sd->len) {
		perror(path);
		abort();
	}
	fclose(f);
	sd->len = sd->parts = 0;
}

#endif
