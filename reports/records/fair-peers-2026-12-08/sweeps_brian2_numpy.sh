#!/usr/bin/env bash
# brian2-numpy, the one CPU label the first sweeps left out.
cd /work/main
for dtype in float64 float32; do
  for net in paper8 cuba coba brunel2000_small; do
    .venv/bin/spark-bench run $net --backends brian2-numpy --timesteps 1,10,100,1000 --runs 3 \
      --instances 1 --duration 200 --dtype $dtype --no-cold --no-fidelity --cell-budget 8 \
      --unit-timeout 900 --out ${OUT:-/tmp/peers}/$net-$dtype-numpy > ${OUT:-/tmp/peers}/$net-$dtype-numpy.log 2>&1
    echo "$net $dtype brian2-numpy rc=$? $(date +%H:%M:%S)" >> ${OUT:-/tmp/peers}/done.txt
  done
done
