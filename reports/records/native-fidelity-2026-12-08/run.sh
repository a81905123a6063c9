#!/usr/bin/env bash
cd /work/main
for net in paper8 cuba_small coba_small brunel2000_small; do
  taskset -c 1 .venv/bin/spark-bench validate-native $net --backends nest-native,brainpy \
    --dtype float64 --duration 200 --seeds 5 > /tmp/nfid/$net.txt 2>&1
  echo "$net rc=$? $(date +%H:%M:%S)" >> /tmp/nfid/done.txt
done
