/*
 * tests/fuzz/replay.c - the main() of a fuzz target built without
 * libFuzzer (plain gcc, in ./run test): it replays every file given, and
 * every file of every directory given (in name order), through
 * LLVMFuzzerTestOneInput(), so each checked-in corpus, crashes included,
 * runs under ASan and UBSan in CI. A target with state (a node) may
 * define tr_fuzz_cleanup(), called before exit so that LeakSanitizer
 * sees everything freed. TAP, one line; an empty corpus fails.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void tr_fuzz_cleanup(void) __attribute__((weak));

#define INPUT_MAX (1 << 20)

static int replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	uint8_t *buf = malloc(INPUT_MAX);
	size_t n = buf ? fread(buf, 1, INPUT_MAX, fp) : 0;
	fclose(fp);
	if (!buf)
		return -1;
	/* a copy of exactly n bytes: ASan sees any read past the input */
	uint8_t *in = malloc(n ? n : 1);
	if (in) {
		memcpy(in, buf, n);
		LLVMFuzzerTestOneInput(in, n);
	}
	free(in);
	free(buf);
	return in ? 0 : -1;
}

static int skip_dot(const struct dirent *de)
{
	return de->d_name[0] != '.';
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
		struct dirent **des;
		int n = scandir(argv[i], &des, skip_dot, alphasort);
		for (int k = 0; k < n; k++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i],
			         des[k]->d_name);
			files += replay_file(p) == 0;
			free(des[k]);
		}
		if (n >= 0)
			free(des);
	}
	if (tr_fuzz_cleanup)
		tr_fuzz_cleanup();
	printf("1..1\n%s 1 - replayed %d inputs\n", files ? "ok" : "not ok",
	       files);
	return files ? 0 : 1;
}
