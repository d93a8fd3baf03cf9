/*
 * bin/message.c - the CLI's MESSAGE argument and replies (see
 * message.h). Replies come from a node, so their bytes went through the
 * runtime's validating reader (runtime/mpack.c) on arrival: counts are
 * at most the bytes left, which keeps msgpack-c's unpacker from
 * reserving memory for elements that are not there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bin/message.h"

/* msgpack-c's pointer to an empty string or bin is NULL, which jansson
 * refuses: "" then */
static const char *bytes(const char *p)
{
	return p ? p : "";
}

json_t *troupe_message_to_json(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return json_stringn(bytes(o->via.str.ptr), o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return json_stringn(bytes(o->via.bin.ptr), o->via.bin.size);
	case MSGPACK_OBJECT_ARRAY: {
		json_t *a = json_array();
		for (uint32_t i = 0; i < o->via.array.size; i++)
			json_array_append_new(a, troupe_message_to_json(
			                                 &o->via.array.ptr[i]));
		return a;
	}
	case MSGPACK_OBJECT_MAP: {
		json_t *m = json_object();
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			/* the whole key (up to a NUL byte, JSON's keys being
			 * C strings here) */
			const msgpack_object *k = &o->via.map.ptr[i].key;
			char *key = k->type == MSGPACK_OBJECT_STR
			                    ? strndup(bytes(k->via.str.ptr),
			                              k->via.str.size)
			                    : strdup("?");
			json_t *v =
			        troupe_message_to_json(&o->via.map.ptr[i].val);
			if (key)
				json_object_set_new(m, key, v);
			else
				json_decref(v);
			free(key);
		}
		return m;
	}
	case MSGPACK_OBJECT_EXT:
		if ((o->via.ext.type == TR_EXT_PID ||
		     o->via.ext.type == TR_EXT_REF) &&
		    o->via.ext.size == TR_ID_WIRE_SIZE) {
			uint64_t node, id;
			uint32_t cr;
			tr_id_decode((const uint8_t *)o->via.ext.ptr, &node,
			             &id, &cr);
			char b[TR_PID_STR_MAX];
			if (o->via.ext.type == TR_EXT_PID)
				tr_pid_format((tr_pid_t){node, id, cr}, b,
				              sizeof(b));
			else
				tr_ref_format((tr_ref_t){node, id, cr}, b,
				              sizeof(b));
			return json_string(b);
		}
		return json_null();
	default:
		return json_null();
	}
}

json_t *troupe_message_fields(const tr_msg_t *m)
{
	size_t len;
	const void *b = tr_msg_bytes(m, &len);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	json_t *r = NULL;
	if (msgpack_unpack_next(&u, b, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_ARRAY) {
		r = json_array();
		for (uint32_t i = 1; i < u.data.via.array.size; i++)
			json_array_append_new(
			        r, troupe_message_to_json(
			                   &u.data.via.array.ptr[i]));
	}
	msgpack_unpacked_destroy(&u);
	return r ? r : json_array();
}

static void pack_json(msgpack_packer *pk, const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_NULL:
		msgpack_pack_nil(pk);
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(j));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_STRING:
		msgpack_pack_str_with_body(pk, json_string_value(j),
		                           json_string_length(j));
		break;
	case JSON_ARRAY: {
		size_t i;
		json_t *v;
		msgpack_pack_array(pk, json_array_size(j));
		json_array_foreach(j, i, v) pack_json(pk, v);
		break;
	}
	case JSON_OBJECT: {
		const char *k;
		json_t *v;
		msgpack_pack_map(pk, json_object_size(j));
		json_object_foreach((json_t *)j, k, v)
		{
			msgpack_pack_str_with_body(pk, k, strlen(k));
			pack_json(pk, v);
		}
		break;
	}
	}
}

tr_err troupe_message_parse(const char *text, msgpack_sbuffer *sb, char *why,
                            size_t cap)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (text[0] != '[') {
		if (!*text) {
			snprintf(why, cap, "MESSAGE: empty");
			return TR_EINVAL;
		}
		msgpack_pack_array(&pk, 1);
		msgpack_pack_str_with_body(&pk, text, strlen(text));
		return TR_OK;
	}
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	if (!j || !json_is_array(j) || !json_array_size(j) ||
	    !json_is_string(json_array_get(j, 0))) {
		snprintf(why, cap,
		         "MESSAGE: not a JSON array with a string first%s%s",
		         j ? "" : ": ", j ? "" : err.text);
		json_decref(j);
		return TR_EINVAL;
	}
	pack_json(&pk, j);
	json_decref(j);
	/* what the request it goes into can carry (troupe.c adds it with
	 * tr_msg_add_raw()): not deeper than the runtime's nesting limit */
	tr_msg_t *probe = NULL;
	tr_err e = tr_msg_new(&probe, "send");
	if (!e)
		e = tr_msg_add_raw(probe, sb->data, sb->size);
	tr_msg_free(probe);
	if (e) {
		snprintf(why, cap, "MESSAGE: %s",
		         e == TR_EPROTO ? "nested too deep" : tr_strerror(e));
		msgpack_sbuffer_destroy(sb);
		msgpack_sbuffer_init(sb);
		return TR_EINVAL;
	}
	return TR_OK;
}
