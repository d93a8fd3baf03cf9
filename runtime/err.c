/*
 * runtime/err.c - tr_strerror() and tr_err_name() from the X-macro table.
 */
#include <troupe/err.h>

const char *tr_strerror(tr_err err)
{
	switch (err) {
#define TR__ERR_MSG(name, value, msg) \
	case TR_##name:               \
		return msg;
		TR_ERR_MAP(TR__ERR_MSG)
#undef TR__ERR_MSG
	}
	return "unknown error";
}

const char *tr_err_name(tr_err err)
{
	switch (err) {
#define TR__ERR_NAME(name, value, msg) \
	case TR_##name:                \
		return "TR_" #name;
		TR_ERR_MAP(TR__ERR_NAME)
#undef TR__ERR_NAME
	}
	return "TR_E?";
}
