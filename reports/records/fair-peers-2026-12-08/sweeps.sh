#!/usr/bin/env bash
# Issue 35's closing table: every label in each class where it runs.
cd /work/main
B=spark,spark-native,spark-native-direct,brian2-cpp,brian2-cpp-uninterrupted,brian2-runtime,brian2-runtime-run-per-chunk,brian2-cpp-relaunch,nest,nest-uninterrupted,nest-native,brainpy
for dtype in float64 float32; do
  for net in paper8 cuba_small coba_small brunel2000_small; do
    .venv/bin/spark-bench run $net --backends $B --timesteps 1,10,100,1000 --runs 3 \
      --instances 1 --duration 200 --dtype $dtype --no-cold --no-fidelity --cell-budget 8 \
      --unit-timeout 900 --out ${OUT:-/tmp/peers}/$net-$dtype > ${OUT:-/tmp/peers}/$net-$dtype.log 2>&1
    echo "$net $dtype rc=$? $(date +%H:%M:%S)" >> ${OUT:-/tmp/peers}/done.txt
  done
done
