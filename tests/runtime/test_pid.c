/*
 * tests/runtime/test_pid.c - pids, refs and error codes.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <troupe/troupe.h>

Test(pid, format_and_parse_round_trip)
{
	tr_pid_t p = {0xfedcba9876543210ull, (3ull << 32) | 17, 4000000000u};
	char buf[TR_PID_STR_MAX];
	int n = tr_pid_format(p, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_lt(n, TR_PID_STR_MAX);
	tr_pid_t q;
	cr_assert_eq(tr_pid_parse(buf, &q), TR_OK);
	cr_assert(tr_pid_eq(p, q));
}

Test(pid, parse_rejects_garbage_and_leaves_output)
{
	static const char *bad[] = {"",
	                            "<",
	                            "<1.2>",
	                            "<1.2.3",
	                            "1.2.3>",
	                            "<g.1.2>",
	                            "<1.2.99999999999>",
	                            "<1.2.3> ",
	                            "<1..3>",
	                            "<1.-2.3>"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tr_pid_t q = {1, 2, 3};
		cr_assert_eq(tr_pid_parse(bad[i], &q), TR_EINVAL, "%s", bad[i]);
		cr_assert(q.node == 1 && q.id == 2 && q.creation == 3);
	}
	cr_assert_eq(tr_pid_parse(NULL, NULL), TR_EINVAL);
}

Test(pid, wire_body_is_big_endian_and_round_trips)
{
	uint8_t b[TR_ID_WIRE_SIZE];
	tr_id_encode(0x0102030405060708ull, 0x1112131415161718ull, 0x21222324u,
	             b);
	cr_assert_eq(b[0], 0x01);
	cr_assert_eq(b[7], 0x08);
	cr_assert_eq(b[8], 0x11);
	cr_assert_eq(b[19], 0x24);
	uint64_t node, id;
	uint32_t c;
	tr_id_decode(b, &node, &id, &c);
	cr_assert_eq(node, 0x0102030405060708ull);
	cr_assert_eq(id, 0x1112131415161718ull);
	cr_assert_eq(c, 0x21222324u);
}

Test(pid, none_is_all_zero)
{
	cr_assert(tr_pid_is_none(TR_PID_NONE));
	tr_pid_t p = {0, 0, 1};
	cr_assert(!tr_pid_is_none(p));
	cr_assert(tr_ref_is_none(TR_REF_NONE));
}

Test(err, every_code_has_a_name_and_a_sentence)
{
#define CHECK_CODE(name, value, msg)                           \
	cr_assert_str_eq(tr_err_name(TR_##name), "TR_" #name); \
	cr_assert_str_eq(tr_strerror(TR_##name), msg);
	TR_ERR_MAP(CHECK_CODE)
#undef CHECK_CODE
	cr_assert_str_eq(tr_strerror((tr_err)999), "unknown error");
	cr_assert_str_eq(tr_err_name((tr_err)999), "TR_E?");
	cr_assert_eq(TR_OK, 0);
}

Test(node, names_are_unique_per_process_and_ids_hash_names)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "same@host";
	o.schedulers = 1;
	tr_node_t *a, *b;
	cr_assert_eq(tr_node_new(&a, &o), TR_OK);
	cr_assert_eq(tr_node_new(&b, &o), TR_EEXIST);
	cr_assert_str_eq(tr_node_name(a), "same@host");
	cr_assert_eq(tr_node_id(a), tr_node_id_of_name("same@host"));
	cr_assert_neq(tr_node_creation(a), 0);
	tr_node_destroy(a);
	cr_assert_eq(tr_node_new(&b, &o), TR_OK, "the name is free again");
	tr_node_destroy(b);
}

Test(node, bad_options_are_refused)
{
	tr_node_opts_t o;
	tr_node_t *n;
	tr_node_opts_init(&o);
	o.schedulers = 1000;
	cr_assert_eq(tr_node_new(&n, &o), TR_EINVAL);
	tr_node_opts_init(&o);
	o.name = "";
	cr_assert_eq(tr_node_new(&n, &o), TR_EINVAL);
	cr_assert_eq(tr_node_new(NULL, NULL), TR_EINVAL);
	tr_node_destroy(NULL);
}

Test(node, incarnation_changes_on_every_start)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "restarts@host";
	o.schedulers = 1;
	uint32_t seen[8];
	for (int i = 0; i < 8; i++) {
		tr_node_t *n;
		cr_assert_eq(tr_node_new(&n, &o), TR_OK);
		seen[i] = tr_node_creation(n);
		tr_node_destroy(n);
		for (int j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j]);
	}
}
