/*
 * tests/fuzz/fuzz_message.c - libFuzzer target for the CLI's MESSAGE
 * argument (bin/message.c): any text, as `troupe send NAME MESSAGE`
 * would get it (up to its first NUL byte, as an argv string). Checked:
 * a refusal says why and leaves nothing packed; what is accepted is
 * one msgpack array with a string first that a request can carry
 * (tr_msg_add_raw(), what troupe.c does next), and it reads back as
 * JSON (troupe_message_to_json()) equal to the text's.
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bin/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_message: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	msgpack_sbuffer sb;
	char why[300];
	why[0] = 0;
	tr_err e = troupe_message_parse(text, &sb, why, sizeof(why));
	if (e) {
		check(e == TR_EINVAL, "an unexpected error");
		check(why[0] != 0, "no reason given");
		check(sb.size == 0, "bytes packed for a refused MESSAGE");
		msgpack_sbuffer_destroy(&sb);
		free(text);
		return 0;
	}
	/* what troupe.c does with it */
	tr_msg_t *req = NULL;
	check(tr_msg_new(&req, "send") == TR_OK, "out of memory");
	check(tr_msg_add_str(req, "name") == TR_OK, "out of memory");
	e = tr_msg_add_raw(req, sb.data, sb.size);
	check(e == TR_OK || e == TR_ENOMEM, "a request cannot carry it");
	tr_msg_free(req);
	tr_msg_t *m = NULL;
	e = tr_msg_from_msgpack(&m, sb.data, sb.size);
	check(e == TR_OK || e == TR_ENOMEM, "not a message");
	tr_msg_free(m);

	/* read back as the CLI reads replies, it is the text's JSON */
	json_t *want = NULL, *word;
	if (text[0] == '[')
		want = json_loads(text, 0, NULL);
	else if ((word = json_stringn(text, strlen(text)))) /* UTF-8 */
		want = json_pack("[o]", word);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (want && msgpack_unpack_next(&u, sb.data, sb.size, NULL) ==
	                    MSGPACK_UNPACK_SUCCESS) {
		json_t *got = troupe_message_to_json(&u.data);
		check(got && json_equal(want, got), "read back differently");
		json_decref(got);
	}
	msgpack_unpacked_destroy(&u);
	json_decref(want);
	msgpack_sbuffer_destroy(&sb);
	free(text);
	return 0;
}
