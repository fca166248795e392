#!/usr/bin/env bash
# One-call CUDA check: the CUDA tests, then the speed and data-path benchmarks
# on the GPU, their tables written into benchmarks/RESULTS.md under a heading
# that names the GPU. Meant to finish in under 8 minutes on one H100-class GPU.
#
#   bash benchmarks/cuda_check.sh                  # on a machine with a GPU
#   bash benchmarks/cuda_check.sh --wheels DIR     # install missing packages
#                                                  # (skorch, ...) from DIR first
#   bash benchmarks/cuda_check.sh --quick          # CPU smoke of the same steps
#
# The speed benchmark compares, in one run: skdistill's vectorised ensemble,
# a bare vectorised PyTorch loop, and skorch one net per member, at N = 10
# and 50 members (ratios measured side by side; see benchmarks/RESULTS.md);
# the scaling benchmark then fits 10k to 1M rows and 5 to 100 members, one
# epoch each (1M rows: 3,907 steps; not yet timed on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
wheels=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --wheels) wheels="$2"; shift ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

python=${PYTHON:-python3}
if [ -n "$wheels" ]; then
    # The GPU machine may lack skorch and friends: local wheels, no index.
    "$python" -m pip install -q --no-index --no-deps --find-links "$wheels" \
        "$wheels"/*.whl
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$quick" = 1 ]; then
    device=cpu
    echo "== cuda_check --quick: the same steps on the CPU, tiny sizes, nothing written"
    "$python" -m pytest -q -m cuda -p no:cacheprovider tests/ || [ $? = 5 ]
    "$python" benchmarks/bench_ensemble_speed.py --quick --device "$device" --no-write
    "$python" benchmarks/bench_large_data.py --quick --device "$device" --no-write
    "$python" benchmarks/bench_scaling.py --quick --device "$device" --no-write
    exit 0
fi

if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "cuda_check: no CUDA device here; use --quick for the CPU smoke" >&2
    exit 1
fi
gpu=$("$python" -c "import torch; print(torch.cuda.get_device_name(0))")
echo "== cuda_check on $gpu"
start=$SECONDS

echo "-- CUDA tests"
"$python" -m pytest -q -m cuda -p no:cacheprovider tests/

echo "-- speed: ours vs bare loop vs skorch per member, N = 10 and 50"
"$python" benchmarks/bench_ensemble_speed.py --device cuda --rows 100000 \
    --epochs 3 --members 10 50 --seq-members 3 --repeats 3

echo "-- data path: device-resident vs streamed from host memory"
"$python" benchmarks/bench_large_data.py --device cuda

echo "-- scaling: time per epoch and peak CUDA memory as rows and members grow"
"$python" benchmarks/bench_scaling.py --device cuda --rows 10000 100000 1000000 \
    --members 5 10 20 50 100 --member-rows 20000 --repeats 1

echo "== cuda_check done in $((SECONDS - start)) s on $gpu"
echo "   tables: benchmarks/RESULTS.md, sections ensemble_speed_cuda, large_data_cuda"
echo "   and scaling_cuda"
