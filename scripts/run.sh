#!/usr/bin/env bash
# Build zkv and run a local 3-node cluster on 127.0.0.1 in the foreground.
# Ctrl-C stops all three cleanly. Data lives in ./data (ZKV_RUN_DATA to change).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
data=${ZKV_RUN_DATA:-data}
peers="1=127.0.0.1:7201:7301:7101,2=127.0.0.1:7202:7302:7102,3=127.0.0.1:7203:7303:7103"
pids=()

stop() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "zkv: cluster stopped; data kept in $data/"
}
trap stop INT TERM EXIT

for i in 1 2 3; do
  ./build/actors/zkvd --id "$i" --peers "$peers" --data-dir "$data/node$i" \
    > >(sed -u "s/^/[node$i] /") 2>&1 &
  pids+=($!)
done

cat <<EOT
zkv: 3 nodes on 127.0.0.1, data in $data/
  node  client  trace  watch  peer pub/router
  1     7101    7401   7601   7201/7301
  2     7102    7402   7602   7202/7302
  3     7103    7403   7603   7203/7303
In another terminal (zkv talks to this cluster by default):
  export PATH=\$PWD/build/cli:\$PATH
  zkv put 100 Alice && zkv get 100
  zkv watch --prefix user/        # and in a third: zkv put user/1 Bob
  zkv status
  zkv trace
  zkv bench --conns 4 --inflight 64 --count 100000
Ctrl-C stops the cluster.
EOT
wait "${pids[@]}" || true
