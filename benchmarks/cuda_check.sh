#!/usr/bin/env bash
# One-call CUDA check: the CUDA tests, then the speed, distillation-cost,
# prediction and scaling benchmarks on the GPU, their tables written into
# benchmarks/RESULTS.md under a heading that names the GPU. Sized to finish
# in under 8 minutes on one H100-class GPU (the limits add up to 475 s; on an
# H200 the default steps took 37 + 124 + 90 + 22 + 37 s, over two runs): each
# step has a time limit, and a step that fails or runs out of time is
# reported and the next one runs.
#
#   bash benchmarks/cuda_check.sh                  # on a machine with a GPU
#   bash benchmarks/cuda_check.sh --wheels DIR     # install missing packages
#                                                  # (skorch, skops, ...) from DIR
#   bash benchmarks/cuda_check.sh --out DIR        # also copy the log and
#                                                  # RESULTS.md there after each step
#   bash benchmarks/cuda_check.sh --steps tests,predict  # only these steps
#   bash benchmarks/cuda_check.sh --quick          # CPU smoke: the same steps,
#                                                  # tiny sizes, nothing written
#
# The steps:
# 1. the tests marked `cuda` (tests/test_cuda.py: every estimator and
#    distiller fitted, saved and exported on the GPU; accelerate; pinned
#    host batches);
# 2. speed: ours, ours with compile=True (mode reduce-overhead: CUDA graphs),
#    a bare vectorised loop (eager, and captured in a CUDA graph) and skorch
#    one net per member, at N = 10 and 50 members, ratios measured side by side;
# 3. distillation cost: each student's fit and prediction against the
#    ensemble's and one member's, N = 8 and 16;
# 4. prediction on 1e5-2e6 rows: throughput and peak device memory;
# 5. scaling: time per epoch and peak device memory from 10k to 1M rows and
#    from 5 to 100 members;
# 6. only when asked for (--steps ...,defaults; up to 5 minutes more): the
#    distillation cost at every model's defaults (early stopping).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
wheels=""
out=""
steps="tests,speed,distill,predict,scaling"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --wheels) wheels="$2"; shift ;;
        --out) out="$2"; shift ;;
        --steps) steps="$2"; shift ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if [ -n "$wheels" ]; then
    # The GPU machine may lack skorch and friends: local wheels, no index,
    # into a folder of their own (the machine's site-packages may be read-only).
    "$python" -m pip install -q --no-index --no-deps --no-compile --upgrade \
        --target /tmp/cuda_check_site "$wheels"/*.whl || exit 1
    export PYTHONPATH="/tmp/cuda_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

dev=cuda
size=()  # each benchmark's own sizes, unless --quick
compile=(--compile --compile-mode reduce-overhead)
if [ "$quick" = 1 ]; then
    # The same steps through the same step() below, on the CPU at each
    # benchmark's --quick sizes, nothing written: a smoke of this script.
    dev=cpu
    size=(--quick --no-write)
    compile=()  # torch.compile on the CPU takes tens of seconds
    gpu="the CPU (--quick)"
elif ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "cuda_check: no CUDA device here; use --quick for the CPU smoke" >&2
    exit 1
else
    gpu=$("$python" -c "import torch; print(torch.cuda.get_device_name(0))")
fi
log=$(mktemp)
[ -n "$out" ] && mkdir -p "$out"
save() {
    [ -n "$out" ] || return 0
    cp "$log" "$out/cuda_check.log"
    cp benchmarks/RESULTS.md "$out/RESULTS.md"
}
failed=()
wanted() { [[ ",$steps," == *",$1,"* ]]; }
step() {  # step KEY NAME SECONDS COMMAND...: run with a time limit, log, go on
    local key=$1 name=$2 limit=$3 t0=$SECONDS
    shift 3
    wanted "$key" || return 0
    echo "-- $name (limit ${limit} s)" | tee -a "$log"
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "   $name: rc $rc in $((SECONDS - t0)) s" | tee -a "$log"
    [ "$rc" = 0 ] || failed+=("$name (rc $rc)")
    save
}

echo "== cuda_check on $gpu" | tee -a "$log"
"$python" - <<'EOF' 2>&1 | tee -a "$log"
import importlib, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU",
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for name in ("skorch", "sklearn", "numpy", "scipy", "pandas", "skops", "accelerate",
             "onnxruntime"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:  # noqa: BLE001
        print(name, "missing:", exc)
EOF
start=$SECONDS
[ "$quick" = 1 ] || "$python" - "$gpu" "$steps" <<'EOF'
import datetime, sys
import torch
sys.path.insert(0, "benchmarks")
from _common import update_results
update_results("cuda_check", (
    f"## On a GPU: {sys.argv[1]}\n\n"
    f"The tables below with `_cuda` in their markers are written by `bash "
    f"benchmarks/cuda_check.sh`; its last run: "
    f"{datetime.date.today().isoformat()}, steps {sys.argv[2]}, torch "
    f"{torch.__version__}, CUDA {torch.version.cuda}."
))
EOF

# Only the files that hold cuda-marked tests: the others may import optional
# packages that the GPU machine lacks.
mapfile -t cuda_tests < <(grep -l "mark.cuda" tests/test_*.py)
if [ "$quick" = 1 ]; then
    # The GPU tests' own logic, pointed at the CPU.
    export SKDISTILL_TEST_DEVICE=cpu
    cuda_tests=(tests/test_cuda.py)
fi
step tests "CUDA tests" 80 "$python" -m pytest -q -m cuda -p no:cacheprovider \
    "${cuda_tests[@]}"

step speed "speed: ours vs bare loop vs skorch per member, N = 10 and 50" 160 \
    "$python" benchmarks/bench_ensemble_speed.py --device "$dev" --rows 100000 \
    --epochs 2 --members 10 50 --seq-members 3 --repeats 3 \
    "${compile[@]}" "${size[@]}"

step distill "distillation cost, N = 8 and 16" 140 \
    "$python" benchmarks/bench_distill_cost.py --device "$dev" --members 8 16 \
    --epochs 20 --rounds 3 "${size[@]}"

step predict "prediction on many rows" 40 \
    "$python" benchmarks/bench_large_data.py --device "$dev" "${size[@]}"

step scaling "scaling: rows and members" 55 \
    "$python" benchmarks/bench_scaling.py --device "$dev" \
    --rows 10000 100000 1000000 --members 5 10 20 50 100 --member-rows 20000 \
    --repeats 1 "${size[@]}"

# Opt-in: at the defaults a fit runs hundreds of epochs of launch-bound steps
# (on the H200 the first data set had not finished in 139 s).
step defaults "distillation cost at the defaults, N = 8" 300 \
    "$python" benchmarks/bench_distill_cost.py --device "$dev" --members 8 \
    --defaults-only "${size[@]}"

echo "== cuda_check done in $((SECONDS - start)) s on $gpu" | tee -a "$log"
if [ "$quick" = 1 ]; then
    echo "   (--quick: nothing written)" | tee -a "$log"
else
    echo "   tables: benchmarks/RESULTS.md, sections ensemble_speed_cuda," \
        "distill_cost_cuda, large_data_cuda, scaling_cuda (and, with the" \
        "defaults step, distill_cost_cuda_defaults)" | tee -a "$log"
fi
if [ ${#failed[@]} -gt 0 ]; then
    printf '   failed: %s\n' "${failed[@]}" | tee -a "$log"
    save
    exit 1
fi
save
