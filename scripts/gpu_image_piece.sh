#!/usr/bin/env bash
# One piece of GPU training of the image model (issue 26: the checkerboard context model,
# warm-started from the bundled default), such that pieces from many sessions add up to
# one run: each piece starts from the model file the last one wrote and goes on with the
# learning-rate schedule from the step it reached (`--init`, `--start-step`).
#
#   bash scripts/gpu_image_piece.sh prepare     here, on the CPU (reaches the package index)
#       .gpu/pack   images/train + images/train2 as JPEG (rdlab train pack), sized so that
#                   the repository, .gpu and the model file of the last piece stay under
#                   the 64 MiB a GPU call receives
#       .gpu/whl    constriction for the GPU machine's Python 3.12 (the only package
#                   training needs that its image lacks)
#       and prints the total size and the command for the device.
#   bash scripts/gpu_image_piece.sh piece       there (`run` with carry [".gpu"]): trains
#       from .gpu/last.safetensors (else src/rdlab/models/default.safetensors) at the step
#       in .gpu/last.step (else 0) for at most MINUTES minutes, then writes
#       $OUT/last.safetensors, $OUT/last.step and $OUT/log.csv.
#   bash scripts/gpu_image_piece.sh collect DIR here: copies those three files from DIR
#       (the call's files_at) into .gpu/, ready for the next piece (.gpu/ is ignored by
#       git: a model is committed only when it beats the default, never before).
#
# Settings (environment): STEPS (the whole run, default 40000), BATCH (32), MINUTES (11),
# CONTEXT (checkerboard).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-40000}
BATCH=${BATCH:-32}
MINUTES=${MINUTES:-11}
CONTEXT=${CONTEXT:-checkerboard}
SHARED=../shared/data/images
LIMIT=$((64 * 1024 * 1024))

case "${1:-}" in
prepare)
    tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
    if [ ! -f .gpu/pack/pack.json ]; then
        # what is left of the 64 MiB after the repository, the model file a piece carries
        # back (RESERVE_MIB: the context model's, about 17 MiB), the wheel and 2 MiB spare
        reserve=${RESERVE_MIB:-18}
        budget=$(python3 -c "print(round(($LIMIT - $tracked) / 2**20 - $reserve - 3, 1))")
        python3 -m rdlab train pack "$SHARED/train" "$SHARED/train2" --out .gpu/pack --quality 85 \
            --max-mib "$budget"
    fi
    if ! ls .gpu/whl/constriction-*.whl >/dev/null 2>&1; then
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .gpu/whl constriction==0.5.0
    fi
    extra=$(du -cb .gpu | tail -1 | cut -f1)
    total=$((tracked + extra))
    echo "repository $tracked + .gpu $extra = $total bytes (limit $LIMIT)"
    [ "$total" -lt "$LIMIT" ] || { echo "too large for one call" >&2; exit 1; }
    limit_s=$(( (MINUTES + 3) * 60 ))
    echo "device: run command 'bash scripts/gpu_image_piece.sh piece', carry .gpu, timeout_s $limit_s"
    ;;
piece)
    if ! python3 -c "import constriction" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/site .gpu/whl/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    out=${OUT:-.gpu/out}
    mkdir -p "$out"
    init=src/rdlab/models/default.safetensors
    start=0
    if [ -f .gpu/last.safetensors ]; then
        init=.gpu/last.safetensors
        start=$(cat .gpu/last.step)
    fi
    device=${DEVICE:-cuda}
    python3 -m rdlab --quiet train image .gpu/pack --out /tmp/run --context "$CONTEXT" \
        --init "$init" --start-step "$start" --steps "$STEPS" --batch "$BATCH" \
        --device "$device" --max-minutes "$MINUTES" --log-every 100 \
        --checkpoint-every 2000 2>&1 | tee "$out/train.txt"
    python3 -m rdlab train export /tmp/run/checkpoint.pt "$out/last.safetensors" \
        --calibration .gpu/pack --force
    python3 -c 'import sys, torch; print(torch.load(sys.argv[1], weights_only=False)["step"])' \
        /tmp/run/checkpoint.pt >"$out/last.step"
    if [ -f /tmp/run/log.csv ]; then cp /tmp/run/log.csv "$out/log.csv"; else : >"$out/log.csv"; fi
    echo "piece done: step $(cat "$out/last.step") of $STEPS"
    ;;
collect)
    src=${2:?collect needs the folder the files came back in}
    for f in last.safetensors last.step log.csv; do
        cp "$src/$f" ".gpu/$f.new"
    done
    # the log grows piece by piece; the model and the step are replaced together
    if [ -f .gpu/log.csv ]; then tail -n +2 .gpu/log.csv.new >>.gpu/log.csv; else mv .gpu/log.csv.new .gpu/log.csv; fi
    rm -f .gpu/log.csv.new
    mv .gpu/last.safetensors.new .gpu/last.safetensors
    mv .gpu/last.step.new .gpu/last.step
    echo "collected: step $(cat .gpu/last.step)"
    ;;
*)
    echo "usage: $0 prepare | piece | collect DIR" >&2
    exit 2
    ;;
esac
