"""``tools/visualize_semeda.py``: for a checkpoint and a few images, PNGs of
image, ground truth, prediction, prediction entropy (the SEMEDA paper's
Figure 7) and edge-net embeddings of the prediction and of the ground truth
(its Figure 6)."""
from __future__ import annotations

import argparse
import os.path as osp
from typing import List, Optional

import numpy as np
import torch

from ..fileio import atomic_write


def entropy_map(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy (H, W) of softmax(logits (C, H, W)), in nats."""
    logp = logits.float().log_softmax(dim=0)
    return -(logp.exp() * logp).sum(dim=0)


def find_edge_net(cfg, num_classes: int):
    """The edge net of the config's SemedaLoss (resolved by the loss
    itself), else the zero-config one for ``num_classes``."""
    from mmseg.registry import MODELS

    from ..models.losses import SemedaLoss
    losses = cfg.model.decode_head.get('loss_decode', [])
    losses = losses if isinstance(losses, (list, tuple)) else [losses]
    for loss in losses:
        if loss.get('type') == 'SemedaLoss':
            module = MODELS.build(loss)
            break
    else:
        module = SemedaLoss()
    return module.get_edge_net(num_classes, torch.device('cpu'))


def draw_sample(image: np.ndarray, gt: np.ndarray, logits: torch.Tensor,
                edge_net, palette, out: str, ignore_index: int = 255,
                num_features: int = 2) -> str:
    """Write one figure: image, ground truth, prediction, entropy, edge
    probability of the prediction and of the ground truth, and the
    ``num_features`` first-layer embeddings of the prediction that vary
    most."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ..visualization import colorize
    pred = logits.argmax(0).numpy()
    probs = logits.float().softmax(0)[None]
    label = torch.from_numpy(gt).long()[None]
    valid = (label != ignore_index).float()[:, None]
    with torch.no_grad():
        emb_p = edge_net(probs * valid)
        emb_g = edge_net.forward_labels(label.clamp(max=ignore_index),
                                        ignore_index)
    feats = emb_p[0][0]
    order = feats.flatten(1).var(1).argsort(descending=True)[:num_features]
    unit = dict(vmin=0.0, vmax=1.0)
    panels = [('image', image, None, {}),
              ('ground truth', colorize(gt, palette), None, {}),
              ('prediction', colorize(pred, palette), None, {}),
              ('entropy (nats)', entropy_map(logits).numpy(), 'magma', {}),
              ('edge prob., prediction', emb_p[2][0, 1].numpy(), 'gray',
               unit),
              ('edge prob., ground truth', emb_g[2][0, 1].numpy(), 'gray',
               unit)]
    panels += [(f'layer-1 channel {int(c)}, prediction', feats[c].numpy(),
                'viridis', {}) for c in order]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, arr, cmap, scale) in zip(axes, panels):
        im = ax.imshow(arr, cmap=cmap, **scale)
        if cmap is not None:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        ax.set_title(title, fontsize=8)
        ax.axis('off')
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=100, format='png'))
    plt.close(fig)
    return out


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Run the tool; returns the PNG paths."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import DATASETS, MODELS

    import mmseg_semeda  # noqa: F401
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', default='work_dirs/visualize')
    p.add_argument('--num', type=int, default=3,
                   help='how many images of the test set')
    p.add_argument('--indices', type=int, nargs='+', default=None,
                   help='which images of the test set (overrides --num)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    palette = dataset.metainfo['palette']
    num_classes = len(dataset.metainfo['classes'])
    edge_net = find_edge_net(cfg, num_classes)
    indices = args.indices or list(range(min(args.num, len(dataset))))
    outs = []
    from mmengine.dataset import pseudo_collate
    for i in indices:
        if not 0 <= i < len(dataset):
            raise SystemExit(f'error: index {i} outside the test set '
                             f'(0..{len(dataset) - 1})')
        item = dataset[i]
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([item]))[0]
        gt = sample.gt_sem_seg.data[0].numpy()
        logits = sample.seg_logits.data.cpu()
        import cv2
        image = cv2.imread(sample.img_path)[..., ::-1]
        if image.shape[:2] != gt.shape:
            image = cv2.resize(image, gt.shape[::-1])
        name = osp.splitext(osp.basename(sample.img_path))[0]
        outs.append(draw_sample(np.ascontiguousarray(image), gt, logits,
                                edge_net, palette,
                                osp.join(args.out_dir, f'{name}.png')))
        print(outs[-1])
    return outs
