#!/usr/bin/env bash
# The GPU device check: one command, run from a checkout on a machine with an NVIDIA GPU,
# that sets up, measures and leaves a results directory and a report (~8 minutes on an
# H200 with 16 cores; each stage has its own time limit so that a slow or failing stage
# never costs the others).
#
#     bash benchmarks/device_check.sh [OUT_DIR]        # default: gpu-check
#
# Set-up: with WHEELS=DIR (default .whl when that directory exists), the wheels there are
# installed with --no-index --no-deps into a private directory put on PYTHONPATH (machines
# without network access; the image brings jax with its CUDA plugin, pandas, matplotlib,
# scipy); with WHEELS=none, or no .whl, the project must already be installed (`make setup`).
#
# Stages (STAGES=... runs a subset, e.g. STAGES="tests sweep"):
#   env      nvidia-smi, nvcc, JAX devices, package versions            -> env.txt
#   tests    the CUDA kernels against pure JAX on the CPU, bit for bit  -> tests.txt
#   fidelity open-loop spikes of every GPU backend vs the CPU ones      -> fidelity.txt
#   sweep    paper8 float32, k = 1 ... 10 000, GPU and CPU backends     -> sweep/, sweep-cuda/
#   brainpy  BrainPy (native class) on the GPU and the CPU, cuba_small  -> sweep-brainpy/
#   extras   batched throughput (B = 1, 25, 100) and the size study     -> gpu_extras.json
#   report   the sweep's report and one summary table                  -> sweep/report, summary.md
# Smaller settings for a trial on a CPU-only machine (GPU backends are then recorded as
# skipped with the reason): NETWORK=tiny DURATION=50 TIMESTEPS=1,10 BATCHES=1,2
# EXTRAS_K=100 EXTRAS_DURATION=50 SIZE_NETWORKS=paper8 SIZE_DURATION=20 EXTRAS_DEVICE=cpu
# Everything lands in OUT_DIR; with PACK=DIR the summary, the log and the stage outputs are
# also copied to DIR after every stage, and a tarball of OUT_DIR at the end (what a remote
# runner fetches; at most 7 files).
set -u
OUT=${1:-gpu-check}
STAGES=${STAGES:-"env tests fidelity sweep brainpy extras report"}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/device_check.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# nvcc is not always on PATH on GPU images (the H200 machines keep it in /usr/local/cuda/bin).
command -v nvcc > /dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"; }
PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CACHE="$OUT/cache"
started=$(date +%s)

say() { echo "[device_check $(( $(date +%s) - started ))s] $*"; }
stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log the outcome, go on
  local name=$1 limit=$2; shift 2
  case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
  local what="$*"
  say "stage $name (limit ${limit}s): ${what:0:160}"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  say "stage $name: exit $rc"
  echo "$name $rc" >> "$OUT/stages.txt"
  pack
}

# With PACK=DIR, the small result files are copied there after every stage (and a tarball
# of OUT_DIR at the end), so that a run stopped by an outer time limit still returns what
# it measured so far.
pack() {
  [ -n "${PACK:-}" ] || return 0
  mkdir -p "$PACK"
  for f in summary.md device_check.log fidelity.txt tests.txt gpu_extras.json stages.txt; do
    [ -f "$OUT/$f" ] && cp "$OUT/$f" "$PACK/"
  done
  return 0
}

WHEELS=${WHEELS:-}
[ -z "$WHEELS" ] && [ -d .whl ] && WHEELS=.whl
if [ -n "$WHEELS" ] && [ "$WHEELS" != none ]; then
  SITE=${SITE:-/tmp/spark-bench-site}
  say "installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $SITE"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" "$WHEELS"/*.whl || { say "wheel install failed"; exit 1; }
  export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
: > "$OUT/stages.txt"

env_info() {
  nvidia-smi || true
  nvcc --version | tail -2 || true
  nproc; grep -m1 "model name" /proc/cpuinfo
  $PY - <<'EOF'
import jax, numpy, importlib.metadata as md
print("jax", jax.__version__, "devices", jax.devices(), "numpy", numpy.__version__)
for name in ("brian2", "brian2cuda", "jaxlib", "brainpy", "brainevent", "pandas", "matplotlib"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "-")
EOF
}
stage env 60 bash -c "$(declare -f env_info); PY=$PY env_info" > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# (35 comparisons since the CUDA kernels took AdEx/Izhikevich and plastic blocks: ~110 s
# under the CPU emulation on 2 cores, most of it compiling the CPU references.)
stage tests 200 $PY -m pytest -q -p no:cacheprovider tests/spark/test_native_gpu.py \
  -o addopts="" > "$OUT/tests.txt" 2>&1
tail -5 "$OUT/tests.txt"

# Fidelity: float64, open loop, one instance; every backend's spikes against the pure-JAX
# CPU run (spark). tiny with every GPU backend (two small brian2cuda builds), then paper8
# (200 ms) with the Spark ones.
stage fidelity 150 $PY -m benchmarks.cli validate tiny --dtype float64 --cache-dir "$CACHE" \
  --reference spark --backends "${FIDELITY_BACKENDS:-spark,spark-native,spark-gpu,spark-native-gpu,brian2-cpp-uninterrupted,brian2-cuda-uninterrupted,brian2-cuda}" \
  > "$OUT/fidelity.txt" 2>&1
stage fidelity 90 $PY -m benchmarks.cli validate paper8 --dtype float64 --duration 200 \
  --cache-dir "$CACHE" --reference spark \
  --backends spark,spark-native,spark-gpu,spark-native-gpu,brian2-cpp-uninterrupted \
  >> "$OUT/fidelity.txt" 2>&1
tail -40 "$OUT/fidelity.txt"

SWEEP_ARGS=("${NETWORK:-paper8}" --dtype float32 --duration "${DURATION:-1000}"
            --timesteps "${TIMESTEPS:-1,10,100,1000,10000}" --instances 1 --runs 1
            --cell-budget "${CELL_BUDGET:-12}" --unit-timeout 200 --cache-dir "$CACHE")
stage sweep 240 $PY -m benchmarks.cli run "${SWEEP_ARGS[@]}" --out "$OUT/sweep" \
  --backends spark-native-gpu,spark-gpu,spark-native,brian2-cpp,brian2-cpp-uninterrupted
# brian2cuda without the cold build (each nvcc build of paper8 takes ~40 s): warm only.
# (closed loop at ~6 s per simulated second: 6 s per cell, truncated runs say so).
stage sweep 200 $PY -m benchmarks.cli run "${SWEEP_ARGS[@]}" --out "$OUT/sweep-cuda" --no-cold \
  --no-fidelity --cell-budget "${CUDA_CELL_BUDGET:-6}" \
  --backends brian2-cuda-uninterrupted,brian2-cuda

# BrainPy, the JAX peer (native class: its own models, statistical fidelity; paper8's
# STDP-free LIF network is exact-class only, so the standard CUBA network instead). Where
# BrainPy is not installed (no wheels for it in WHEELS), its cells say so.
stage brainpy 90 $PY -m benchmarks.cli run "${BRAINPY_NETWORK:-cuba_small}" --dtype float32 \
  --duration "${BRAINPY_DURATION:-200}" --timesteps "${BRAINPY_TIMESTEPS:-1,10,100,1000}" \
  --instances 1 --runs 1 --cell-budget 8 --unit-timeout 80 --cache-dir "$CACHE" --no-cold \
  --no-fidelity --backends brainpy-gpu,brainpy,spark-native-gpu --out "$OUT/sweep-brainpy"

stage extras 150 $PY -m benchmarks.scripts.gpu_extras --out "$OUT" \
  --batches "${BATCHES:-1,25,100}" --networks "${SIZE_NETWORKS:-paper8,paper8x8}" \
  --k "${EXTRAS_K:-1000}" --duration "${EXTRAS_DURATION:-1000}" \
  --size-duration "${SIZE_DURATION:-500}" --device "${EXTRAS_DEVICE:-gpu}"

stage report 60 $PY -m benchmarks.cli report "$OUT/sweep" --format md,html
stage report 30 $PY -m benchmarks.scripts.gpu_summary "$OUT/sweep" "$OUT/sweep-cuda" \
  --extras "$OUT/gpu_extras.json" --out "$OUT/summary.md"
[ -f "$OUT/summary.md" ] && cat "$OUT/summary.md"
say "done"

pack
if [ -n "${PACK:-}" ]; then
  tar czf "$PACK/gpu-check.tar.gz" -C "$(dirname "$OUT")" --exclude=cache "$(basename "$OUT")"
fi
