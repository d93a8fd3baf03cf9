/*
 * bin/metrics.h - the daemon's Prometheus endpoint (--metrics): the text
 * exposition format, version 0.0.4, over HTTP at /metrics, served by
 * libmicrohttpd. Public libtroupe API only. The metrics and what each
 * means are listed in docs/troupe-node.md ("Metrics").
 */
#ifndef TROUPE_BIN_METRICS_H
#define TROUPE_BIN_METRICS_H

#include <stdbool.h>
#include <troupe/troupe.h>

/* Is endpoint one --metrics takes: tcp://IP:PORT (IPv4, [IPv6] or *
 * for every address; PORT 0 to 65535)? */
bool troupe_metrics_valid(const char *endpoint);

/*
 * Serve /metrics on endpoint (troupe_metrics_valid()) from a thread of
 * libmicrohttpd's; every scrape reads node, net, g and the root
 * supervisor sup afresh. Logs the address it serves at (port resolved)
 * through log at TR_LOG_INFO, and libmicrohttpd's own errors at
 * TR_LOG_WARN. 0 on success, -1 if it cannot (said through log).
 */
int troupe_metrics_start(tr_node_t *node, tr_net_t *net, tr_global_t *g,
                         tr_pid_t sup, const char *endpoint,
                         void (*log)(int level, const char *fmt, ...));

/* Stop serving (waits for a scrape under way); call before the root
 * supervisor stops and the node is destroyed. Idempotent. */
void troupe_metrics_stop(void);

#endif
