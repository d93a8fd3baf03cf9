/*
 * registry/util.c - helpers the registry services share.
 */
#include "registry/util.h"

void tr__kill_and_wait(tr_node_t *node, tr_pid_t pid, _Atomic int *dead)
{
	if (atomic_load(dead))
		return;
	tr_inbox_t *ib;
	if (tr_inbox_new(node, &ib) != TR_OK)
		return;
	tr_ref_t ref;
	tr_inbox_monitor(ib, pid, &ref);
	tr_exit(pid, TR_KILL);
	while (!atomic_load(dead)) {
		tr_msg_t *m = NULL;
		tr_err e = tr_inbox_receive(ib, 1000, &m);
		bool down = !e && tr_msg_kind(m) == TR_MSG_DOWN;
		tr_msg_free(m);
		if (down || e == TR_ECLOSED)
			break;
	}
	tr_inbox_destroy(ib);
}
