import numpy as np
import pytest
import torch

from mmseg_semeda.evaluation import (
    BoundaryFScoreMetric,
    BoundaryIoUMetric,
    EMeasureMetric,
    TrimapIoUMetric,
    boundary_bands,
    boundary_f_stats,
    boundary_iou_stats,
    e_measure,
)


def _sample(pred, label):
    return dict(pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.as_tensor(label)[None]))


def _run(metric, pairs, classes=('a', 'b', 'c')):
    metric.dataset_meta = dict(classes=classes)
    for pred, label in pairs:
        metric.process({}, [_sample(pred, label)])
    return metric.evaluate(len(pairs))


def _halves(size=8, split=4):
    label = torch.zeros(size, size, dtype=torch.long)
    label[:, split:] = 1
    return label


# ---------------------------------------------------------------- references
def _chebyshev_dist_to(mask):
    """Brute force: Chebyshev distance of each pixel to the nearest True."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    out = np.full((h, w), np.inf)
    for y in range(h):
        for x in range(w):
            if len(ys):
                out[y, x] = np.max(np.abs(np.stack([ys - y, xs - x])),
                                   axis=0).min()
    return out


def _edges_ref(label, ignore):
    h, w = label.shape
    e = np.zeros_like(label, dtype=bool)
    for y in range(h):
        for x in range(w):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0),
                                                             w - 1)
                    e[y, x] |= label[yy, xx] != label[y, x]
    return e & (label != ignore)


def _boundary_ref(mask, valid=None):
    """Mask pixels with a valid 8-neighbour outside the mask."""
    h, w = mask.shape
    valid = np.ones_like(mask) if valid is None else valid
    b = np.zeros_like(mask)
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0),
                                                             w - 1)
                    b[y, x] |= valid[yy, xx] and not mask[yy, xx]
    return b


# ---------------------------------------------------------------- trimap
def test_band_widths_on_a_straight_boundary():
    label = _halves(10, 5)
    bands = boundary_bands(label, (1, 2, 3), 255)
    cols = {w: torch.nonzero(bands[w][0]).flatten().tolist() for w in bands}
    assert cols == {1: [4, 5], 2: [3, 4, 5, 6], 3: [2, 3, 4, 5, 6, 7]}


def test_trimap_perfect_and_shifted():
    label = _halves(8, 4)
    res = _run(TrimapIoUMetric(widths=(1, 3)), [(label, label)],
               classes=('a', 'b'))
    assert all(v == 100.0 for v in res.values()), res
    shifted = _halves(8, 5)  # predicted boundary one pixel to the right
    res = _run(TrimapIoUMetric(widths=(1, 3)), [(shifted, label)],
               classes=('a', 'b'))
    # band w1 = columns 3 and 4 (8 rows each). Column 4 is wrong (pred 0,
    # gt 1). class 0: I = 8, U = 16 -> 0.5 ; class 1: I = 0, U = 8 -> 0.
    assert res['mIoU_band_w1'] == 25.0
    # interior w1: columns 0-2 and 5-7, all right.
    assert res['mIoU_interior_w1'] == 100.0
    # band w3 = columns 1..6: class 0: I = 24, U = 32; class 1: I = 16, U = 24
    assert res['mIoU_band_w3'] == pytest.approx(
        100 * (24 / 32 + 16 / 24) / 2, abs=0.01)


def test_trimap_ignore_pixels_do_not_count():
    label = _halves(8, 4)
    label[:, 6:] = 255
    pred = _halves(8, 4)
    pred[:, 6:] = 0  # wrong, but ignored
    res = _run(TrimapIoUMetric(widths=(1, )), [(pred, label)], ('a', 'b'))
    assert res['mIoU_interior_w1'] == 100.0 and res['mIoU_band_w1'] == 100.0


def test_trimap_matches_reference_on_random_masks():
    rng = np.random.default_rng(0)
    widths = (1, 2, 4)
    pairs, tot = [], np.zeros((len(widths), 2, 3, 3))
    for _ in range(4):
        label = rng.integers(0, 3, (5, 5)).repeat(4, 0).repeat(4, 1)
        label[rng.random(label.shape) < 0.05] = 255
        pred = np.where(rng.random(label.shape) < 0.7, label,
                        rng.integers(0, 3, label.shape))
        pred[pred == 255] = 0
        pairs.append((torch.from_numpy(pred), torch.from_numpy(label)))
        dist = _chebyshev_dist_to(_edges_ref(label, 255))
        valid = label != 255
        for i, w in enumerate(widths):
            for j, region in enumerate((dist < w, dist >= w)):
                m = region & valid
                for c in range(3):
                    p, t = pred[m] == c, label[m] == c
                    tot[i, j, 0, c] += (p & t).sum()
                    tot[i, j, 1, c] += p.sum()
                    tot[i, j, 2, c] += t.sum()
    res = _run(TrimapIoUMetric(widths=widths), pairs)
    union = tot[:, :, 1] + tot[:, :, 2] - tot[:, :, 0]
    iou = np.where(union > 0, tot[:, :, 0] / np.maximum(union, 1), np.nan)
    miou = np.nanmean(iou, -1) * 100
    for i, w in enumerate(widths):
        assert res[f'mIoU_band_w{w}'] == pytest.approx(miou[i, 0], abs=0.006, nan_ok=True)
        assert res[f'mIoU_interior_w{w}'] == pytest.approx(miou[i, 1], nan_ok=True,
                                                           abs=0.006)


# ---------------------------------------------------------------- BF score
def test_bf_perfect_and_shift_within_and_beyond_tolerance():
    label = _halves(8, 4)
    assert _run(BoundaryFScoreMetric(tolerance=1), [(label, label)],
                ('a', 'b'))['mBF'] == 100.0
    shifted = _halves(8, 5)
    assert _run(BoundaryFScoreMetric(tolerance=1), [(shifted, label)],
                ('a', 'b'))['mBF'] == 100.0
    # tolerance 0: class 0 boundary col 3 (gt) vs col 4 (pred): no match.
    assert _run(BoundaryFScoreMetric(tolerance=0), [(shifted, label)],
                ('a', 'b'))['mBF'] == 0.0


def test_bf_hole():
    label = torch.zeros(9, 9, dtype=torch.long)
    pred = label.clone()
    pred[3:6, 3:6] = 1  # a hole filled with class 1
    stats = boundary_f_stats(pred, label, 2, tolerance=1)
    # class 0: gt has no boundary (border does not count); pred boundary is
    # the 16-pixel ring around the hole: precision 0 -> F 0.
    assert stats[0].tolist() == [0, 16, 0, 0]
    # class 1 only in the prediction: F 0.
    assert stats[1, 1] == 8 and stats[1, 3] == 0
    res = _run(BoundaryFScoreMetric(tolerance=1), [(pred, label)], ('a', 'b'))
    assert res['mBF'] == 0.0


def test_bf_matches_reference_on_random_masks():
    rng = np.random.default_rng(1)
    tol = 1
    per_image = []
    pairs = []
    for _ in range(3):
        label = rng.integers(0, 3, (5, 5)).repeat(2, 0).repeat(2, 1)
        pred = np.where(rng.random(label.shape) < 0.8, label,
                        rng.integers(0, 3, label.shape))
        label[0, :3] = 255
        pairs.append((torch.from_numpy(pred), torch.from_numpy(label)))
        valid = label != 255
        f = np.full(3, np.nan)
        for c in range(3):
            pb = _boundary_ref(pred == c, valid) & valid
            gb = _boundary_ref(label == c, valid)
            if not pb.any() and not gb.any():
                continue
            prec = (pb & (_chebyshev_dist_to(gb) <= tol)).sum() / max(
                pb.sum(), 1)
            rec = (gb & (_chebyshev_dist_to(pb) <= tol)).sum() / max(
                gb.sum(), 1)
            f[c] = 0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)
        per_image.append(f)
    expected = np.nanmean(np.nanmean(per_image, 0)) * 100
    res = _run(BoundaryFScoreMetric(tolerance=tol), pairs)
    assert res['mBF'] == pytest.approx(expected, abs=0.006)


@pytest.mark.parametrize('void_pred', [0, 1, 'random'])
def test_every_metric_scores_a_perfect_prediction_100_whatever_at_void(
        void_pred):
    """Equal to the ground truth on every non-void pixel: 100, whatever is
    predicted at void pixels (regions of void inside and along classes)."""
    rng = np.random.default_rng(4)
    pairs = []
    for _ in range(3):
        label = rng.integers(0, 3, (6, 6)).repeat(4, 0).repeat(4, 1)
        label[5:11, 3:9] = 255  # a void blob across class boundaries
        label[:, -2:] = 255  # a void strip along the border
        pred = label.copy()
        void = label == 255
        pred[void] = (rng.integers(0, 3, void.sum())
                      if void_pred == 'random' else void_pred)
        pairs.append((torch.from_numpy(pred), torch.from_numpy(label)))
    for metric, key in ((BoundaryFScoreMetric(tolerance=0), 'mBF'),
                        (BoundaryIoUMetric(width=2), 'mBIoU'),
                        (TrimapIoUMetric(widths=(1, 3)), 'mIoU_band_w1'),
                        (TrimapIoUMetric(widths=(1, 3)), 'mIoU_interior_w3'),
                        (EMeasureMetric(), 'mEmeasure')):
        assert _run(metric, pairs)[key] == pytest.approx(100.0), key


# ---------------------------------------------------------------- Boundary IoU
def _biou_band_ref(mask, valid, d):
    """Brute force: mask pixels with an outside pixel (valid and not in the
    mask, or beyond the image border) within Chebyshev distance d."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    for y in range(h):
        for x in range(w):
            if not (mask[y, x] and valid[y, x]):
                continue
            for yy in range(y - d, y + d + 1):
                for xx in range(x - d, x + d + 1):
                    if not (0 <= yy < h and 0 <= xx < w) or (
                            valid[yy, xx] and not mask[yy, xx]):
                        out[y, x] = True
    return out


def test_boundary_iou_by_hand():
    label = _halves(10, 5)
    # class 0 (columns 0-4): its band is the image border rows and columns
    # 0 and 4: 10 + 8 + 8 = 26 pixels
    perfect = boundary_iou_stats(label, label, 2, width=1)
    assert perfect[0].tolist() == [26, 26]
    # prediction moved right by one column: its class-0 band is rows 0 and
    # 9 (12) and columns 0 and 5 (16); shared: 10 + 8
    shifted = boundary_iou_stats(_halves(10, 6), label, 2, width=1)
    assert shifted[0].tolist() == [18, 26 + 28 - 18]
    res = _run(BoundaryIoUMetric(width=1), [(label, label)], ('a', 'b'))
    assert res['mBIoU'] == 100.0
    with pytest.raises(ValueError, match='width'):
        BoundaryIoUMetric(width=0)
    with pytest.raises(ValueError, match='ratio'):
        BoundaryIoUMetric(ratio=0)


def test_boundary_iou_width_from_the_diagonal():
    metric = BoundaryIoUMetric()  # ratio 0.02
    assert metric.band_width(360, 480) == 12  # diagonal 600
    assert metric.band_width(20, 20) == 1  # at least one pixel
    assert BoundaryIoUMetric(width=3).band_width(360, 480) == 3


@pytest.mark.parametrize('d', [1, 2])
def test_boundary_iou_matches_reference_on_random_masks(d):
    rng = np.random.default_rng(5 + d)
    pairs, inter, union = [], np.zeros(3), np.zeros(3)
    for _ in range(3):
        label = rng.integers(0, 3, (4, 5)).repeat(3, 0).repeat(3, 1)
        pred = np.where(rng.random(label.shape) < 0.8, label,
                        rng.integers(0, 3, label.shape))
        label[0, :4] = 255
        label[5:7, 6:9] = 255
        pairs.append((torch.from_numpy(pred), torch.from_numpy(label)))
        valid = label != 255
        for c in range(3):
            pb = _biou_band_ref(pred == c, valid, d)
            gb = _biou_band_ref(label == c, valid, d)
            inter[c] += (pb & gb).sum()
            union[c] += (pb | gb).sum()
    expected = np.nanmean(np.where(union > 0, inter / union, np.nan)) * 100
    res = _run(BoundaryIoUMetric(width=d), pairs)
    assert res['mBIoU'] == pytest.approx(expected, abs=0.006)
    assert res['mBIoU'] < 100


# ---------------------------------------------------------------- E-measure
def test_e_measure_perfect_and_reference():
    label = _halves(8, 4)
    e = e_measure(label, label, 2)
    torch.testing.assert_close(e, torch.ones(2, dtype=torch.float64))
    # Independent reference (the authors' formula, numpy, but a mean over
    # the n pixels where their code divides by n - 1) on random maps.
    rng = np.random.default_rng(2)
    label = rng.integers(0, 3, (6, 6))
    pred = np.where(rng.random((6, 6)) < 0.7, label, rng.integers(0, 3,
                                                                  (6, 6)))
    got = e_measure(torch.from_numpy(pred), torch.from_numpy(label), 3)
    for c in range(3):
        fm, gt = (pred == c).astype(float), (label == c).astype(float)
        if gt.sum() == 0:
            enh = 1 - fm
        elif gt.sum() == gt.size:
            enh = fm
        else:
            a, b = fm - fm.mean(), gt - gt.mean()
            align = 2 * a * b / (a * a + b * b + np.finfo(float).eps)
            enh = (align + 1)**2 / 4
        assert got[c].item() == pytest.approx(enh.mean())


def test_e_measure_metric_ignores_void_and_absent_classes():
    label = _halves(8, 4)
    label[:2] = 255
    pred = label.clone()
    pred[:2] = 2  # wrong but ignored; class 2 thus absent
    res = _run(EMeasureMetric(), [(pred, label)])
    assert res['mEmeasure'] == pytest.approx(100.0)


def test_metrics_in_an_evaluator_list():
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    ev = Evaluator([
        dict(type='IoUMetric'),
        dict(type='TrimapIoUMetric', widths=(1, 3)),
        dict(type='BoundaryFScoreMetric'),
        dict(type='BoundaryIoUMetric', width=1),
        dict(type='EMeasureMetric'),
    ])
    ev.dataset_meta = dict(classes=('a', 'b'))
    label = _halves(8, 4)
    ev.process([_sample(label, label)])
    res = ev.evaluate(1)
    for key in ('mIoU', 'mIoU_band_w1', 'mIoU_interior_w3', 'mBF',
                'mBIoU', 'mEmeasure'):
        assert res[key] == pytest.approx(100.0), key
    # the boundary moved by a pixel and a spurious blob: all drop below 100
    pred = label.clone()
    pred[:, 3] = 1
    pred[1:3, 0:2] = 1
    ev.process([_sample(pred, label)])
    res = ev.evaluate(1)
    for key in ('mIoU', 'mIoU_band_w1', 'mBF', 'mBIoU', 'mEmeasure'):
        assert res[key] < 90.0, key


def test_bad_widths():
    with pytest.raises(ValueError, match='widths'):
        TrimapIoUMetric(widths=(0, 2))
