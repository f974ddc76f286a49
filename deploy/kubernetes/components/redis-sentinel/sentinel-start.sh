#!/bin/sh
# Sentinel keeps its state in its config file, on the node's volume so it survives a restart; the first
# start writes it, monitoring the master the other Sentinels know (or node 0). Quorum 2 of 3.
set -eu
conf=/data/sentinel.conf
self="$(hostname).gatehouse-redis-nodes"
if [ ! -f "$conf" ]; then
  master=""
  for i in 0 1 2; do
    master="$(redis-cli -h "gatehouse-redis-node-$i.gatehouse-redis-nodes" -p 26379 \
      sentinel get-master-addr-by-name gatehouse 2>/dev/null | head -n 1)" || true
    [ -n "$master" ] && break
  done
  [ -n "$master" ] || master="gatehouse-redis-node-0.gatehouse-redis-nodes"
  cat > "$conf" <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor gatehouse $master 6379 2
sentinel auth-pass gatehouse $REDIS_PASSWORD
sentinel down-after-milliseconds gatehouse 5000
sentinel failover-timeout gatehouse 60000
sentinel parallel-syncs gatehouse 1
CONF
fi
exec redis-sentinel "$conf"
