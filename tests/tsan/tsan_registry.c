/*
 * tests/tsan/tsan_registry.c - the registries' concurrency without
 * Criterion, for ThreadSanitizer: lock-free global lookups racing the
 * server that rewrites (and regrows) the read index, and a partitioned
 * Registry used from several threads while its owners clean up after
 * dying actors.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "tap.h"

#define SECRET  "a cluster secret for the tests"
#define WAIT_MS 60000

static tr_node_t *na, *nb;
static tr_global_t *ga, *gb;
static _Atomic int stop_readers;

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t idle_b = {.name = "idle", .receive = idle_receive};

static tr_net_t *start(tr_node_t **n, const char *name)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	o.schedulers = 2;
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	tr_net_t *net;
	if (tr_node_new(n, &o) || tr_net_start(*n, &no, &net))
		abort();
	return net;
}

static void *reader(void *arg)
{
	tr_global_t *g = arg;
	uint64_t found = 0;
	while (!atomic_load(&stop_readers)) {
		char name[32];
		for (int i = 0; i < 64; i++) {
			tr_pid_t p;
			snprintf(name, sizeof(name), "n%d", i);
			found += tr_global_whereis(g, name, &p) == TR_OK;
		}
	}
	return (void *)(uintptr_t)found;
}

static bool count_cb(const char *name, size_t len, tr_pid_t pid, void *ctx)
{
	(void)name;
	(void)len;
	(void)pid;
	(*(int *)ctx)++;
	return true;
}

static bool lookups_race_the_writer(void)
{
	pthread_t th[3];
	atomic_store(&stop_readers, 0);
	pthread_create(&th[0], NULL, reader, ga);
	pthread_create(&th[1], NULL, reader, gb);
	pthread_create(&th[2], NULL, reader, ga);
	/* several rounds of 400 names grow the index and empty it again */
	for (int round = 0; round < 3; round++) {
		tr_pid_t ps[400];
		for (int i = 0; i < 400; i++) {
			char name[32];
			snprintf(name, sizeof(name), "n%d", i);
			CHECK(!tr_spawn(i % 2 ? na : nb, &idle_b, NULL,
			                &ps[i]));
			CHECK(tr_global_register(i % 3 ? ga : gb, name, ps[i],
			                         NULL, WAIT_MS) == TR_OK);
		}
		int n = 0;
		CHECK(tr_global_foreach(gb, count_cb, &n, NULL) == TR_OK);
		CHECK(n == 400);
		for (int i = 0; i < 400; i++) {
			char name[32];
			snprintf(name, sizeof(name), "n%d", i);
			if (i % 2)
				CHECK(tr_global_unregister(ga, name, WAIT_MS) ==
				      TR_OK);
			else
				tr_exit(ps[i], TR_KILL);
		}
		CHECK(tr_global_sync(ga, WAIT_MS) == TR_OK);
	}
	atomic_store(&stop_readers, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	return true;
}

static tr_registry_t *reg;

static void *reg_worker(void *arg)
{
	int base = (int)(intptr_t)arg;
	for (int i = 0; i < 200; i++) {
		tr_pid_t p, out[8];
		size_t n;
		char key[32];
		snprintf(key, sizeof(key), "k%d", (base + i) % 16);
		if (tr_spawn(na, &idle_b, NULL, &p))
			abort();
		tr_registry_register(reg, key, p, "\x01", 1);
		tr_registry_lookup(reg, key, out, 8, &n);
		tr_registry_count(reg);
		if (i % 3 == 0)
			tr_registry_unregister(reg, key, p);
		tr_exit(p, TR_KILL); /* the owners race us */
	}
	return NULL;
}

static bool registry_from_many_threads(void)
{
	tr_registry_opts_t o;
	tr_registry_opts_init(&o);
	o.keys = TR_KEYS_DUPLICATE;
	o.partitions = 4;
	CHECK(tr_registry_new(na, &o, &reg) == TR_OK);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, reg_worker, (void *)(intptr_t)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	tr_registry_destroy(reg);
	return true;
}

int main(void)
{
	printf("1..2\n");
	tr_net_t *neta = start(&na, "a"), *netb = start(&nb, "b");
	if (tr_inbox_new(na, &inbox))
		abort();
	me = tr_inbox_pid(inbox);
	if (tr_global_start(neta, NULL, &ga) ||
	    tr_global_start(netb, NULL, &gb) ||
	    tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS) ||
	    tr_global_sync(ga, WAIT_MS) || tr_global_sync(gb, WAIT_MS)) {
		printf("Bail out! no cluster\n");
		return 1;
	}
	run_case("global lookups race the writer", lookups_race_the_writer);
	run_case("a Registry from many threads", registry_from_many_threads);
	tr_global_stop(ga);
	tr_global_stop(gb);
	tr_inbox_destroy(inbox);
	tr_node_destroy(nb);
	tr_node_destroy(na);
	return failures ? 1 : 0;
}
