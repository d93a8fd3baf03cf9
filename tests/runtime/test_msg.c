/*
 * tests/runtime/test_msg.c - building and reading messages; hostile bytes
 * (docs/semantics.md M3, M4).
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>
#include <troupe/troupe.h>

Test(msg, every_field_type_reads_back)
{
	tr_msg_t *m;
	tr_pid_t pid = {0x1122334455667788ull, (7ull << 32) | 9, 42};
	tr_ref_t ref = {5, 6, 7};
	uint8_t bin[3] = {0, 1, 2};
	cr_assert_eq(tr_msg_new(&m, "all"), TR_OK);
	cr_assert_eq(tr_msg_add_int(m, -5), TR_OK);
	cr_assert_eq(tr_msg_add_uint(m, UINT64_MAX), TR_OK);
	cr_assert_eq(tr_msg_add_double(m, 2.5), TR_OK);
	cr_assert_eq(tr_msg_add_bool(m, true), TR_OK);
	cr_assert_eq(tr_msg_add_nil(m), TR_OK);
	cr_assert_eq(tr_msg_add_str(m, "hello"), TR_OK);
	cr_assert_eq(tr_msg_add_strn(m, "a\0b", 3), TR_OK);
	cr_assert_eq(tr_msg_add_bin(m, bin, 3), TR_OK);
	cr_assert_eq(tr_msg_add_pid(m, pid), TR_OK);
	cr_assert_eq(tr_msg_add_ref(m, ref), TR_OK);
	cr_assert(tr_msg_is(m, "all"));
	cr_assert(!tr_msg_is(m, "al"));
	cr_assert_eq(tr_msg_count(m), 10);

	int64_t i;
	uint64_t u;
	double d;
	bool b;
	const char *s;
	size_t n;
	const void *p;
	tr_pid_t pid2;
	tr_ref_t ref2;
	tr_type_t t;
	cr_assert_eq(tr_msg_get_int(m, 0, &i), TR_OK);
	cr_assert_eq(i, -5);
	cr_assert_eq(tr_msg_get_uint(m, 1, &u), TR_OK);
	cr_assert_eq(u, UINT64_MAX);
	cr_assert_eq(tr_msg_get_double(m, 2, &d), TR_OK);
	cr_assert_eq(d, 2.5);
	cr_assert_eq(tr_msg_get_bool(m, 3, &b), TR_OK);
	cr_assert(b);
	cr_assert_eq(tr_msg_type(m, 4, &t), TR_OK);
	cr_assert_eq(t, TR_T_NIL);
	cr_assert_eq(tr_msg_get_str(m, 5, &s, &n), TR_OK);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(s, "hello", 5), 0);
	cr_assert_eq(tr_msg_get_str(m, 6, &s, &n), TR_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(s, "a\0b", 3), 0);
	cr_assert_eq(tr_msg_get_bin(m, 7, &p, &n), TR_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(p, bin, 3), 0);
	cr_assert_eq(tr_msg_get_pid(m, 8, &pid2), TR_OK);
	cr_assert(tr_pid_eq(pid, pid2));
	cr_assert_eq(tr_msg_type(m, 8, &t), TR_OK);
	cr_assert_eq(t, TR_T_PID);
	cr_assert_eq(tr_msg_get_ref(m, 9, &ref2), TR_OK);
	cr_assert(tr_ref_eq(ref, ref2));
	tr_msg_free(m);
}

Test(msg, wrong_type_and_range_leave_outputs_untouched)
{
	tr_msg_t *m;
	cr_assert_eq(tr_msg_new(&m, "t"), TR_OK);
	cr_assert_eq(tr_msg_add_str(m, "x"), TR_OK);
	cr_assert_eq(tr_msg_add_int(m, -1), TR_OK);
	int64_t i = 77;
	uint64_t u = 88;
	cr_assert_eq(tr_msg_get_int(m, 0, &i), TR_ETYPE);
	cr_assert_eq(i, 77);
	cr_assert_eq(tr_msg_get_uint(m, 1, &u), TR_ETYPE, "negative as uint");
	cr_assert_eq(u, 88);
	cr_assert_eq(tr_msg_get_int(m, 2, &i), TR_ERANGE);
	cr_assert_eq(i, 77);
	tr_pid_t p = TR_PID_NONE;
	cr_assert_eq(tr_msg_get_pid(m, 1, &p), TR_ETYPE);
	cr_assert(tr_pid_is_none(p));
	char small[2];
	cr_assert_eq(tr_msg_add_str(m, "long"), TR_OK);
	cr_assert_eq(tr_msg_get_strbuf(m, 2, small, sizeof(small)), TR_ELIMIT);
	cr_assert_str_eq(small, "l");
	tr_msg_free(m);
}

Test(msg, builder_rejects_misuse)
{
	tr_msg_t *m;
	char tag[300];
	memset(tag, 'a', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = 0;
	cr_assert_eq(tr_msg_new(NULL, "x"), TR_EINVAL);
	cr_assert_eq(tr_msg_new(&m, NULL), TR_EINVAL);
	cr_assert_eq(tr_msg_new(&m, tag), TR_EINVAL, "tag over 255 bytes");
	cr_assert_eq(tr_msg_add_int(NULL, 1), TR_EINVAL);
	cr_assert_eq(tr_msg_add_str(NULL, "x"), TR_EINVAL);
	tr_msg_free(NULL);
}

Test(msg, a_megabyte_binary_round_trips)
{
	size_t n = 1 << 20;
	uint8_t *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 31);
	tr_msg_t *m, *d;
	cr_assert_eq(tr_msg_new(&m, "big"), TR_OK);
	cr_assert_eq(tr_msg_add_int(m, 1), TR_OK);
	cr_assert_eq(tr_msg_add_bin(m, big, n), TR_OK);
	cr_assert_eq(tr_msg_add_int(m, 2), TR_OK);
	cr_assert_eq(tr_msg_dup(m, &d), TR_OK);
	tr_msg_free(m);
	const void *p;
	size_t len;
	int64_t v;
	cr_assert_eq(tr_msg_get_bin(d, 1, &p, &len), TR_OK);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(p, big, n), 0);
	cr_assert_eq(tr_msg_get_int(d, 2, &v), TR_OK);
	cr_assert_eq(v, 2);
	tr_msg_free(d);
	free(big);
}

Test(msg, payload_is_one_msgpack_array_readable_by_msgpack_c)
{
	tr_msg_t *m;
	cr_assert_eq(tr_msg_new(&m, "ping"), TR_OK);
	cr_assert_eq(tr_msg_add_int(m, 42), TR_OK);
	size_t len;
	const void *bytes = tr_msg_bytes(m, &len);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	cr_assert_eq(msgpack_unpack_next(&u, bytes, len, &off),
	             MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(off, len, "exactly one value");
	cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(u.data.via.array.size, 2);
	cr_assert_eq(u.data.via.array.ptr[0].type, MSGPACK_OBJECT_STR);
	cr_assert_eq(u.data.via.array.ptr[1].via.u64, 42);
	msgpack_unpacked_destroy(&u);
	/* and back */
	tr_msg_t *back;
	cr_assert_eq(tr_msg_from_msgpack(&back, bytes, len), TR_OK);
	cr_assert(tr_msg_is(back, "ping"));
	tr_msg_free(back);
	tr_msg_free(m);
}

Test(msg, raw_fields_from_msgpack_c_are_validated)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "k", 1);
	msgpack_pack_int(&pk, 3);
	tr_msg_t *m;
	cr_assert_eq(tr_msg_new(&m, "map"), TR_OK);
	cr_assert_eq(tr_msg_add_raw(m, sb.data, sb.size), TR_OK);
	tr_type_t t;
	cr_assert_eq(tr_msg_type(m, 0, &t), TR_OK);
	cr_assert_eq(t, TR_T_MAP);
	const void *raw;
	size_t len;
	cr_assert_eq(tr_msg_get_raw(m, 0, &raw, &len), TR_OK);
	cr_assert_eq(len, sb.size);
	cr_assert_eq(memcmp(raw, sb.data, len), 0);
	/* two values, a truncated one, the reserved byte */
	uint8_t two[2] = {0x01, 0x02};
	uint8_t trunc[2] = {0xa5, 'x'};
	uint8_t reserved[1] = {0xc1};
	size_t before = tr_msg_count(m);
	cr_assert_eq(tr_msg_add_raw(m, two, 2), TR_EPROTO);
	cr_assert_eq(tr_msg_add_raw(m, trunc, 2), TR_EPROTO);
	cr_assert_eq(tr_msg_add_raw(m, reserved, 1), TR_EPROTO);
	cr_assert_eq(tr_msg_count(m), before);
	tr_msg_free(m);
	msgpack_sbuffer_destroy(&sb);
}

/* Hostile inputs to tr_msg_from_msgpack(): each must be refused. */
Test(msg, hostile_bytes_are_refused_before_allocation)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t n;
	} bad[] = {
	        {"empty", {0}, 0},
	        {"not an array", {0xa1, 'x'}, 2},
	        {"empty array", {0x90}, 1},
	        {"array headed by an int", {0x91, 0x01}, 2},
	        {"truncated tag", {0x91, 0xa3, 'a'}, 3},
	        {"array32 claiming 2^28 elements",
	         {0xdd, 0x10, 0, 0, 0, 0xa1, 'x'},
	         7},
	        {"map32 claiming 2^28 pairs",
	         {0x92, 0xa1, 'x', 0xdf, 0x10, 0, 0, 0},
	         8},
	        {"str32 longer than the bytes",
	         {0x92, 0xa1, 'x', 0xdb, 0, 0, 1, 0, 'a'},
	         9},
	        {"reserved byte", {0x92, 0xa1, 'x', 0xc1}, 4},
	        {"trailing bytes", {0x91, 0xa1, 'x', 0x00}, 4},
	        {"bin8 truncated", {0x92, 0xa1, 'x', 0xc4, 5, 1}, 6},
	        {"ext8 header truncated", {0x92, 0xa1, 'x', 0xc7, 1}, 5},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tr_msg_t *m = (tr_msg_t *)0x1;
		tr_err e = tr_msg_from_msgpack(&m, bad[i].b, bad[i].n);
		cr_assert(e == TR_EPROTO || e == TR_ELIMIT, "%s: %s",
		          bad[i].what, tr_err_name(e));
		cr_assert_eq(m, (tr_msg_t *)0x1, "%s: output touched",
		             bad[i].what);
	}
}

Test(msg, nesting_deeper_than_the_limit_is_refused)
{
	uint8_t buf[128];
	size_t n = 0;
	buf[n++] = 0x92;
	buf[n++] = 0xa1;
	buf[n++] = 'x';
	for (int i = 0; i < TR_MSG_MAX_DEPTH + 5; i++)
		buf[n++] = 0x91;
	buf[n++] = 0x00;
	tr_msg_t *m;
	cr_assert_eq(tr_msg_from_msgpack(&m, buf, n), TR_EPROTO);
	/* at the limit it is fine */
	n = 0;
	buf[n++] = 0x92;
	buf[n++] = 0xa1;
	buf[n++] = 'x';
	for (int i = 0; i < TR_MSG_MAX_DEPTH - 2; i++)
		buf[n++] = 0x91;
	buf[n++] = 0x00;
	cr_assert_eq(tr_msg_from_msgpack(&m, buf, n), TR_OK);
	tr_msg_free(m);
}

Test(msg, exit_and_down_info_reject_other_messages)
{
	tr_msg_t *m;
	cr_assert_eq(tr_msg_new(&m, "EXIT"), TR_OK);
	tr_pid_t p;
	char r[8];
	cr_assert_eq(tr_msg_exit_info(m, &p, r, sizeof(r)), TR_ETYPE,
	             "a plain message tagged EXIT is not an exit");
	cr_assert_eq(tr_msg_down_info(m, NULL, NULL, NULL, 0), TR_ETYPE);
	tr_msg_free(m);
}

/* Other encoders may use any integer form, signed forms for non-negative
 * values included: each reads back as its value. */
Test(msg, every_integer_form_reads_back)
{
	static const uint8_t bytes[] = {
	        0x9b,             /* fixarray: the tag and 10 fields */
	        0xa1, 'i',        /* tag "i" */
	        0xd0, 0x05,       /* int8 5 */
	        0xd0, 0xfb,       /* int8 -5 */
	        0xd1, 0x01, 0x00, /* int16 256 */
	        0xd1, 0xff, 0x00, /* int16 -256 */
	        0xd2, 0x00, 0x01, 0x00, 0x00,             /* int32 65536 */
	        0xd2, 0x80, 0x00, 0x00, 0x00,             /* int32 INT32_MIN */
	        0xd3, 0,    0,    0,    1,    0, 0, 0, 0, /* int64 2^32 */
	        0xcc, 0x07,                               /* uint8 7 */
	        0xcd, 0x00, 0x07,                         /* uint16 7 */
	        0xcf, 0x80, 0,    0,    0,    0, 0, 0, 0, /* uint64 2^63 */
	};
	static const int64_t want[] = {5,         -5,        256, -256, 65536,
	                               INT32_MIN, 1LL << 32, 7,   7};
	tr_msg_t *m;
	cr_assert_eq(tr_msg_from_msgpack(&m, bytes, sizeof(bytes)), TR_OK);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int64_t v;
		uint64_t u;
		cr_assert_eq(tr_msg_get_int(m, i, &v), TR_OK, "field %zu", i);
		cr_assert_eq(v, want[i], "field %zu", i);
		cr_assert_eq(tr_msg_get_uint(m, i, &u),
		             want[i] < 0 ? TR_ETYPE : TR_OK, "field %zu", i);
		if (want[i] >= 0)
			cr_assert_eq(u, (uint64_t)want[i]);
	}
	int64_t v;
	uint64_t u;
	cr_assert_eq(tr_msg_get_int(m, 9, &v), TR_ETYPE, "2^63 is no int64");
	cr_assert_eq(tr_msg_get_uint(m, 9, &u), TR_OK);
	cr_assert_eq(u, 1ULL << 63);
	cr_assert_eq(tr_msg_get_int(m, 10, &v), TR_ERANGE);
	tr_msg_free(m);
}

/* The builder writes what msgpack-c's packer writes for the same values:
 * the smallest form, at every boundary between forms. */
Test(msg, integers_tags_and_pids_encode_as_msgpack_c_packs_them)
{
	static const int64_t ints[] = {
	        0,         1,      127,    128,          255,
	        256,       65535,  65536,  4294967295LL, 4294967296LL,
	        INT64_MAX, -1,     -32,    -33,          -128,
	        -129,      -32768, -32769, INT32_MIN,    (int64_t)INT32_MIN - 1,
	        INT64_MIN};
	static const uint64_t uints[] = {
	        0,     127,   128,           255,           256,
	        65535, 65536, 4294967295ULL, 4294967296ULL, UINT64_MAX};
	char tag[300];
	memset(tag, 't', sizeof(tag));
	size_t tag_lens[] = {0, 1, 31, 32, 255};
	tr_pid_t pid = {.node = 0x0123456789abcdefULL,
	                .id = 0xfedcba9876543210ULL,
	                .creation = 0x89abcdefu};
	for (size_t t = 0; t < sizeof(tag_lens) / sizeof(tag_lens[0]); t++) {
		tag[tag_lens[t]] = 0;
		tr_msg_t *m;
		cr_assert_eq(tr_msg_new(&m, tag), TR_OK);
		msgpack_sbuffer sb;
		msgpack_sbuffer_init(&sb);
		msgpack_packer pk;
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		size_t n = sizeof(ints) / sizeof(ints[0]),
		       nu = sizeof(uints) / sizeof(uints[0]);
		msgpack_pack_array(&pk, (uint32_t)(1 + n + nu + 1));
		msgpack_pack_str_with_body(&pk, tag, tag_lens[t]);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(tr_msg_add_int(m, ints[i]), TR_OK);
			msgpack_pack_int64(&pk, ints[i]);
		}
		for (size_t i = 0; i < nu; i++) {
			cr_assert_eq(tr_msg_add_uint(m, uints[i]), TR_OK);
			msgpack_pack_uint64(&pk, uints[i]);
		}
		cr_assert_eq(tr_msg_add_pid(m, pid), TR_OK);
		uint8_t body[TR_ID_WIRE_SIZE];
		tr_id_encode(pid.node, pid.id, pid.creation, body);
		msgpack_pack_ext(&pk, TR_ID_WIRE_SIZE, TR_EXT_PID);
		msgpack_pack_ext_body(&pk, body, TR_ID_WIRE_SIZE);
		/* ours starts with an array32 header; compare what follows
		 * msgpack-c's (smallest) array header */
		size_t len;
		const uint8_t *b = tr_msg_bytes(m, &len);
		size_t hl = (uint8_t)sb.data[0] == 0xdc ? 3 : 1;
		cr_assert_eq(b[0], 0xdd);
		cr_assert_eq(len - 5, sb.size - hl, "tag length %zu",
		             tag_lens[t]);
		cr_assert(memcmp(b + 5, sb.data + hl, len - 5) == 0,
		          "bytes differ (tag length %zu)", tag_lens[t]);
		/* and every value reads back, as int and as uint where it
		 * fits, else TR_ETYPE */
		for (size_t i = 0; i < n; i++) {
			int64_t v;
			uint64_t u;
			cr_assert_eq(tr_msg_get_int(m, i, &v), TR_OK);
			cr_assert_eq(v, ints[i], "int %zu", i);
			cr_assert_eq(tr_msg_get_uint(m, i, &u),
			             ints[i] < 0 ? TR_ETYPE : TR_OK);
			if (ints[i] >= 0)
				cr_assert_eq(u, (uint64_t)ints[i]);
		}
		for (size_t i = 0; i < nu; i++) {
			int64_t v;
			uint64_t u;
			cr_assert_eq(tr_msg_get_uint(m, n + i, &u), TR_OK);
			cr_assert_eq(u, uints[i], "uint %zu", i);
			cr_assert_eq(tr_msg_get_int(m, n + i, &v),
			             uints[i] > INT64_MAX ? TR_ETYPE : TR_OK);
		}
		int64_t v;
		cr_assert_eq(tr_msg_get_int(m, n + nu, &v), TR_ETYPE, "a pid");
		msgpack_sbuffer_destroy(&sb);
		tr_msg_free(m);
		tag[tag_lens[t]] = 't';
	}
}
