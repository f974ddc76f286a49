#!/bin/sh
# Starts redis-server as a replica of the master the Sentinels know, or, on the set's first start (no
# Sentinel knows one), as master on node 0: a node restarted after a failover rejoins as a replica.
set -eu
self="$(hostname).gatehouse-redis-nodes"
master=""
for i in 0 1 2; do
  master="$(redis-cli -h "gatehouse-redis-node-$i.gatehouse-redis-nodes" -p 26379 \
    sentinel get-master-addr-by-name gatehouse 2>/dev/null | head -n 1)" || true
  [ -n "$master" ] && break
done
[ -n "$master" ] || master="gatehouse-redis-node-0.gatehouse-redis-nodes"
# volatile-lru: the cache generations have no TTL and must never be evicted (docs/architecture.md, Redis).
set -- --port 6379 --dir /data --appendonly yes --protected-mode no \
  --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" \
  --maxmemory 192mb --maxmemory-policy volatile-lru --replica-announce-ip "$self"
[ "$master" = "$self" ] || set -- "$@" --replicaof "$master" 6379
exec redis-server "$@"
