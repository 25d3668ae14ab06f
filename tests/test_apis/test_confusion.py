"""tools/band_confusion.py's counting: band and interior confusion
matrices of a model's predictions, and per-class IoU from them."""
import math

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_semeda.apis.confusion import band_confusion, band_share, class_iou


class _Shifted:
    """A stand-in model whose prediction is its label shifted one column
    right (the label's first column repeated): wrong only next to the
    vertical edges."""

    def test_step(self, batch):
        out = []
        for label in batch:
            sample = SegDataSample()
            sample.gt_sem_seg = PixelData(data=label[None])
            pred = torch.cat([label[:, :1], label[:, :-1]], dim=1)
            pred = torch.where(pred == 255, 0, pred)  # a model's classes
            sample.pred_sem_seg = PixelData(data=pred[None])
            out.append(sample)
        return out


def test_errors_next_to_edges_count_in_the_band_only():
    label = torch.zeros(10, 12, dtype=torch.long)
    label[:, 6:] = 1       # one vertical edge between columns 5 and 6
    label[0, 0] = 255      # an ignore pixel counts nowhere
    conf = band_confusion(_Shifted(), [label], num_classes=3, width=2)
    band, interior = conf['band'], conf['interior']
    # the one wrong column (6: predicted 0, labelled 1) lies in the band
    assert band[1, 0] == 10 and band.sum() - band.diag().sum() == 10
    assert interior.sum() == interior.diag().sum()  # all right there
    # band of width 2: columns 4-7 (the edge pixels 5 and 6, one more on
    # each side), 40 pixels, and the 8 valid pixels around the ignore one
    # (their neighbourhood holds another label): 28 of class 0, 20 of 1
    assert band.sum() == 48 and band[0].sum() == 28 and band[1].sum() == 20
    assert band.sum() + interior.sum() == 10 * 12 - 1
    iou = class_iou(band)
    assert iou[0] == 100 * 28 / 38 and iou[1] == 100 * 10 / 20
    assert math.isnan(iou[2])
    # band share: 28 of class 0's 59 valid pixels, 20 of class 1's 60
    share = band_share(conf)
    assert share[:2] == [28 / 59, 20 / 60] and math.isnan(share[2])
