/*
 * tests/fuzz/fuzz_reply.c - libFuzzer target for the CLI's reading of a
 * reply (bin/message.c, msgpack to JSON): any bytes as the payload of a
 * message from a node. The bytes first go through
 * tr_msg_from_msgpack(), as a payload from the wire goes through the
 * runtime's validating reader, then troupe_message_fields() turns them
 * into JSON as troupe.c prints them. Checked: it returns a JSON array
 * that jansson can print.
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bin/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tr_msg_t *m = NULL;
	if (tr_msg_from_msgpack(&m, data, size))
		return 0;
	json_t *f = troupe_message_fields(m);
	if (!json_is_array(f)) {
		fprintf(stderr, "fuzz_reply: no JSON array\n");
		abort();
	}
	char *s = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) {
		fprintf(stderr, "fuzz_reply: cannot print it\n");
		abort();
	}
	free(s);
	json_decref(f);
	tr_msg_free(m);
	return 0;
}
