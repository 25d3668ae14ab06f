"""Train loss variants over seeds and compare them with the first, seed by
seed (mean, spread, paired difference).

python tools/study_losses.py --seeds 0 1 2 --jobs 2 --threads 1 \
    --variant ce configs/semeda/deeplabv3plus_r18_camvid_cpu_ft_ce.py \
    --variant semeda configs/semeda/deeplabv3plus_r18_camvid_cpu_ft_semeda.py
"""
from mmseg_semeda.apis.study import main

if __name__ == '__main__':
    main()
