"""The demo run by ``make demo``: CE + SEMEDA training on the CPU, metrics
and a picture. ``--data-root <camvid>`` runs it on CamVid instead."""
from mmseg_semeda.apis.demo import main

if __name__ == '__main__':
    main()
