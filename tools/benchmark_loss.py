"""Time a DeepLabV3+ training step with CE vs CE+SEMEDA vs CE+Sobel (and
the losses alone), side by side in one process:

    python tools/benchmark_loss.py --backbone r18 --crop 256 --batch 2 \
        --num-classes 21 --json bench.json
"""
from mmseg_semeda.apis.benchmark import main

if __name__ == '__main__':
    main()
