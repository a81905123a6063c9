#!/usr/bin/env bash
# After run.sh: the full-size CUBA and COBA (issue 35 names cuba and coba), and brainpy again
# on the two sweeps that ran before its grouping commit.
cd /work/main
while pgrep -f ${OUT:-/tmp/peers}/run.sh > /dev/null; do sleep 10; done
B=spark,spark-native,spark-native-direct,brian2-cpp,brian2-cpp-uninterrupted,brian2-runtime,brian2-runtime-run-per-chunk,brian2-cpp-relaunch,nest,nest-uninterrupted,nest-native,brainpy
for net in paper8 cuba_small; do
  .venv/bin/spark-bench run $net --backends brainpy --timesteps 1,10,100,1000 --runs 3 \
    --instances 1 --duration 200 --dtype float64 --no-cold --no-fidelity --cell-budget 8 \
    --unit-timeout 900 --out ${OUT:-/tmp/peers}/$net-float64-brainpy > ${OUT:-/tmp/peers}/$net-float64-brainpy.log 2>&1
  echo "$net float64 brainpy rc=$? $(date +%H:%M:%S)" >> ${OUT:-/tmp/peers}/done.txt
done
for dtype in float64 float32; do
  for net in cuba coba; do
    .venv/bin/spark-bench run $net --backends $B --timesteps 1,10,100,1000 --runs 3 \
      --instances 1 --duration 200 --dtype $dtype --no-cold --no-fidelity --cell-budget 8 \
      --unit-timeout 900 --out ${OUT:-/tmp/peers}/$net-$dtype > ${OUT:-/tmp/peers}/$net-$dtype.log 2>&1
    echo "$net $dtype rc=$? $(date +%H:%M:%S)" >> ${OUT:-/tmp/peers}/done.txt
  done
done
