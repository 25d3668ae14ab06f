#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, after tools/device/bundle.sh
# filled .device/ here:  run(command="bash tools/device/camvid_gpu.sh",
#                            carry=[".device"], timeout_s=560)
# 1. installs the carried wheels, builds mmcv 2.1.0 with CPU ops against that
#    machine's torch (DeepLabV3+ needs no CUDA op of mmcv);
# 2. tools/device/gpu_loss_check.py: the loss alone, CE vs CE + SEMEDA,
#    21/150 classes, batch 2/8, fp16, syncs, kernels, memory, deterministic;
#    tools/benchmark_loss.py: R101 512x512 AMP, 21 and 150 classes;
# 3. tools/study_losses.py: CamVid full resolution (configs/_base_/
#    deeplabv3plus_r18_camvid_gpu.py), CE, CE + the one line (zero-config)
#    and CE + SEMEDA in the paper's form, all
#    $SEEDS trained at the same time on the one GPU, $ITERS iterations, AMP.
# Everything lands in $OUT. Not yet run on a GPU (no session had one): size
# ITERS from the first run's timings.
set -uo pipefail
OUT=${OUT:-/tmp/semeda_out}
ITERS=${ITERS:-600}
SEEDS=${SEEDS:-"0 1 2"}
BUDGET=${BUDGET:-330}   # seconds for the whole study, then it is cut
SITE=/tmp/site
mkdir -p "$OUT" "$SITE"
exec > >(tee "$OUT/log.txt") 2>&1
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
    .device/whl/*.whl || exit 1
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
rm -rf /tmp/mmcv-2.1.0 && tar xzf .device/sdist/mmcv-2.1.0.tar.gz -C /tmp
(cd /tmp/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=16 \
    python3 -m pip install -q --no-index --no-deps --no-build-isolation \
    --target "$SITE" .) || exit 1
python3 -c "import mmseg.models, mmseg_semeda, torch; \
print('stack ok', torch.__version__, torch.cuda.get_device_name())" || exit 1
echo "install: $(( $(date +%s) - t0 )) s"

# the loss as a GPU runs it: time, syncs, kernels, memory, deterministic mode
python3 tools/device/gpu_loss_check.py --json "$OUT/gpu_loss_check.json"
echo "loss check done: $(( $(date +%s) - t0 )) s"

for c in 21 150; do
    python3 tools/benchmark_loss.py --device cuda --backbone r101 --crop 512 \
        --batch 2 --num-classes $c --amp --json "$OUT/bench_r101_c$c.json" \
        | grep -E 'device|step_s|ratio|peak'
done
echo "benchmark done: $(( $(date +%s) - t0 )) s"

if [ -d .device/camvid/images ]; then
    CFG=configs/semeda/deeplabv3plus_r18_camvid_gpu
    common=(train_dataloader.dataset.data_root=.device/camvid
            val_dataloader.dataset.data_root=.device/camvid
            train_cfg.max_iters=$ITERS train_cfg.val_interval=$ITERS
            "param_scheduler.0.end=$ITERS" train_dataloader.num_workers=1
            val_dataloader.num_workers=1 optim_wrapper.type=AmpOptimWrapper)
    n=$(echo $SEEDS | wc -w)
    variants=(--variant ce ${CFG}_ce.py --variant semeda ${CFG}_semeda.py
              --variant semeda_paper ${CFG}_semeda_paper.py)
    timeout "$BUDGET" python3 tools/study_losses.py --seeds $SEEDS \
        --jobs $((3 * n)) --threads 1 --work-dir /tmp/study \
        --cfg-options "${common[@]}" "${variants[@]}" \
        --json "$OUT/study.json" --plot "$OUT/trimap.png"
    echo "study rc=$? after $(( $(date +%s) - t0 )) s"
    python3 tools/study_losses.py --collect-only --seeds $SEEDS \
        --work-dir /tmp/study "${variants[@]}" --json "$OUT/study.json"
fi
