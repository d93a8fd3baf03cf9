/*
 * runtime/pid.c - formatting, parsing and the wire body of pids and refs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/pid.h>

int tr_pid_format(tr_pid_t pid, char *buf, size_t cap)
{
	return snprintf(buf, cap, "<%016" PRIx64 ".%" PRIu64 ".%" PRIu32 ">",
	                pid.node, pid.id, pid.creation);
}

int tr_ref_format(tr_ref_t ref, char *buf, size_t cap)
{
	return snprintf(buf, cap,
	                "#Ref<%016" PRIx64 ".%" PRIu64 ".%" PRIu32 ">",
	                ref.node, ref.id, ref.creation);
}

static int parse_u64(const char **p, int base, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	char *end;
	if (!((*s >= '0' && *s <= '9') ||
	      (base == 16 &&
	       ((*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || end == s || v > max)
		return -1;
	*out = v;
	*p = end;
	return 0;
}

tr_err tr_pid_parse(const char *text, tr_pid_t *out)
{
	uint64_t node, id, creation;
	const char *p = text;
	if (!text || !out || *p++ != '<')
		return TR_EINVAL;
	if (parse_u64(&p, 16, UINT64_MAX, &node) || *p++ != '.')
		return TR_EINVAL;
	if (parse_u64(&p, 10, UINT64_MAX, &id) || *p++ != '.')
		return TR_EINVAL;
	if (parse_u64(&p, 10, UINT32_MAX, &creation) || *p++ != '>' || *p)
		return TR_EINVAL;
	out->node = node;
	out->id = id;
	out->creation = (uint32_t)creation;
	return TR_OK;
}

static void put_be(uint8_t *o, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		o[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *in, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | in[i];
	return v;
}

void tr_id_encode(uint64_t node, uint64_t id, uint32_t creation,
                  uint8_t out[TR_ID_WIRE_SIZE])
{
	put_be(out, node, 8);
	put_be(out + 8, id, 8);
	put_be(out + 16, creation, 4);
}

void tr_id_decode(const uint8_t in[TR_ID_WIRE_SIZE], uint64_t *node,
                  uint64_t *id, uint32_t *creation)
{
	*node = get_be(in, 8);
	*id = get_be(in + 8, 8);
	*creation = (uint32_t)get_be(in + 16, 4);
}
