/*
 * tests/fuzz/fuzz_frame.c - libFuzzer target for the wire decoder: every
 * frame a peer can send goes through tr__wire_decode() and then, for DATA
 * and NODES frames, the per-element readers, exactly as net/net.c reads
 * them (handshake frames included: HELLO, CHALLENGE, AUTH, REFUSE).
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus
 *   (the fuzz_frame_corpus test in ./run test).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
