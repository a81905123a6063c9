#!/usr/bin/env bash
cd /work/main
for dtype in float64 float32; do
  for net in cuba_small coba_small brunel2000_small; do
    .venv/bin/spark-bench run $net --backends spark-native,brian2-cpp,brainpy \
      --timesteps 1,10,100,1000 --runs 3 --instances 1 --duration 200 --dtype $dtype \
      --no-cold --no-fidelity --cell-budget 20 --out ${OUT:-/tmp/bpm}/$net-$dtype > ${OUT:-/tmp/bpm}/$net-$dtype.log 2>&1
    echo "$net $dtype rc=$?" >> ${OUT:-/tmp/bpm}/done.txt
  done
done
