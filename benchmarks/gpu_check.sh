#!/usr/bin/env bash
# The GPU check of issue 12, in one go (under 5 minutes on an H200): the tests marked `gpu`, then
# benchmarks/gpu_bench.py's table. Run it from anywhere in the checkout:
#
#     bash benchmarks/gpu_check.sh            # PYTHON=... to choose the interpreter (default: python3)
#
# Every step runs even if an earlier one failed; the exit status is 1 if any failed.
#
# Without a CUDA GPU it says so and does a dry run instead: the same tests on the CPU
# (CHARLSTM_GPU_TESTS_DEVICE=cpu; fp16 skips) and the benchmark with `--device cpu --quick --ddp on` (tiny
# sizes; the DDP rows through torchrun with gloo). That keeps the script and the tests' own logic testable
# on any machine; its exit status then says whether they work, not anything about a GPU (the output says
# "DRY RUN" at the top and at the end). Plain `pytest` without CUDA skips the tests, as CI does.
#
# The interpreter needs torch. charlstm itself need not be installed: if `import charlstm` fails, the
# checkout goes on PYTHONPATH (nothing is written into that Python, and no build backend or network is
# needed, as `pip install -e .` would need on a machine without a network). typer, rich and tqdm (the CLI's
# dependencies) are installed only if importing them fails: from wheels in .whl/ if there are any, else
# from the package index; if that fails too the check goes on (the tests that drive the CLI then skip, and
# the DDP rows, which start `python -m charlstm train`, fail).
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-280}     # seconds for the whole check
export PYTHONUNBUFFERED=1
failed=()

step() { printf '\n=== %s (%d s in)\n' "$1" "$SECONDS"; }
run_limited() {   # run_limited SECONDS COMMAND...: COMMAND under `timeout` where there is one
    local limit=$1
    shift
    if command -v timeout >/dev/null; then timeout --kill-after=10 "$limit" "$@"; else "$@"; fi
}

step "machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi -L || true
else
    echo "nvidia-smi: not found"
fi
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "$PYTHON cannot import torch: set PYTHON to an interpreter that has it" >&2
    exit 1
fi
"$PYTHON" -c "import sys, torch; print(f'{sys.executable}: Python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, GPUs visible: {torch.cuda.device_count()}')"

if ! (cd / && "$PYTHON" -c "import charlstm" 2>/dev/null); then   # from /: the checkout is not on sys.path
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    echo "charlstm is not installed for $PYTHON: using the checkout through PYTHONPATH"
fi
if ! "$PYTHON" -c "import typer, rich, tqdm" 2>/dev/null; then
    wheels=(.whl/*.whl)
    if [ -e "${wheels[0]}" ]; then
        echo "typer, rich or tqdm missing: installing from .whl/ into /tmp/charlstm-site"
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/charlstm-site "${wheels[@]}" \
            && export PYTHONPATH="/tmp/charlstm-site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "typer, rich or tqdm missing: pip install typer rich tqdm"
        "$PYTHON" -m pip install -q --timeout 15 --retries 0 "typer>=0.12,<0.29" "rich>=13" "tqdm>=4.60" \
            || echo "could not install them: the CLI tests skip and the DDP rows fail"
    fi
fi
if ! "$PYTHON" -c "import pytest" 2>/dev/null; then
    echo "pytest is missing for $PYTHON: the tests cannot run" >&2
fi

if "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    mode=gpu
    bench_args=()
else
    mode=dry
    bench_args=(--device cpu --quick --ddp on)
    export CHARLSTM_GPU_TESTS_DEVICE=cpu
    echo "NO CUDA GPU: DRY RUN (the tests and the benchmark's tiny sizes on the CPU)"
fi

step "tests marked gpu"
# cuBLAS sums in a fixed order only with a fixed workspace (the exact-resume test).
CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8} run_limited 150 \
    "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider -rfEsx --durations=5 tests/test_gpu.py \
    || failed+=("tests (exit $?)")

step "benchmark"
left=$((BUDGET - SECONDS))
[ "$left" -lt 60 ] && left=60
# Rows not started by --time-limit are skipped; the longest row (2 processes through torchrun) is given the
# rest, and `timeout` stops the whole benchmark at the budget.
run_limited "$left" "$PYTHON" benchmarks/gpu_bench.py ${bench_args[@]+"${bench_args[@]}"} --time-limit $((left - 45)) \
    || failed+=("benchmark (exit $?)")

step "done"
[ "$mode" = dry ] && echo "NO CUDA GPU: this was a DRY RUN of the script, not a GPU check"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all steps passed"
