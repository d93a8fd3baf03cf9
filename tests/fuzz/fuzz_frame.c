/*
 * tests/fuzz/fuzz_frame.c - libFuzzer target for the wire decoder: every
 * frame a peer can send goes through tr__wire_decode() and then, for DATA
 * and NODES frames, the per-element readers, exactly as net/net.c reads
 * them (handshake frames included: HELLO, CHALLENGE, AUTH, REFUSE).
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, without -DTR_FUZZ_LIBFUZZER, a plain main() that replays files
 *   and directories given as arguments (the corpus test in ./run test).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_wframe f;
	if (tr__wire_decode(data, size, &f) != TR_OK)
		return 0;
	struct tr_wcur c = f.body;
	if (f.kind == TR_W_DATA) {
		for (size_t i = 0; i < f.count; i++) {
			struct tr_wenv e;
			if (tr__wire_next_env(&c, &e))
				break;
			/* what deliver_env() relies on */
			if (e.payload &&
			    (e.payload_len > size || !e.payload_count))
				abort();
			if (e.named && (!e.to_name_len || e.to_name_len > 255))
				abort();
		}
	} else if (f.kind == TR_W_NODES) {
		for (size_t i = 0; i < f.count; i++) {
			struct tr_wnode nd;
			if (tr__wire_next_node(&c, &nd))
				break;
			if (!tr__wire_name_ok(nd.name, strlen(nd.name)))
				abort();
		}
	}
	return 0;
}

#ifndef TR_FUZZ_LIBFUZZER
static int replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	uint8_t *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, 1 << 20, fp) : 0;
	fclose(fp);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st))
			continue;
		if (!S_ISDIR(st.st_mode)) {
			files += replay_file(argv[i]) == 0;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			files += replay_file(p) == 0;
		}
		if (d)
			closedir(d);
	}
	/* TAP, one line: an empty corpus is a failure, not a pass */
	printf("1..1\n%s 1 - replayed %d inputs\n", files ? "ok" : "not ok",
	       files);
	return files ? 0 : 1;
}
#endif
