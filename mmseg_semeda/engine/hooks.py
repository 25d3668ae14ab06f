"""A training hook that shows where the SEMEDA loss acts."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ..models.losses.semeda_loss import (
    SemedaLoss,
    semeda_loss,
    two_class_logits,
)
from ..visualization import colorize


@HOOKS.register_module()
class SemedaVisualizationHook(Hook):
    """Every ``interval`` training iterations, draw the first sample of the
    batch as image | ground truth | prediction | per-pixel SEMEDA loss to
    the Runner's visualizer, hence to every configured backend (local
    files under ``<work_dir>/<timestamp>/vis_data/vis_image``, TensorBoard,
    W&B), under the name ``semeda``. One config line turns it on::

        custom_hooks = [dict(type='SemedaVisualizationHook', interval=200)]

    It takes the logits and labels the loss is given in that iteration's
    training forward (a forward hook on the :class:`SemedaLoss`, present
    only during drawing iterations; nothing is run again), then computes
    the loss per pixel with the loss's own settings (band, class balance,
    layer weights) in ``no_grad``. The last panel shows the loss as it
    would act even before ``start_iter='auto'`` switches it on; its title
    says whether it is on. At other iterations the hook does nothing.

    Args:
        interval (int): Draw every this many iterations. Defaults to 200.
        loss_name (str, optional): The ``loss_name`` of the SemedaLoss to
            show when the model has several (decode and auxiliary head).
            Defaults to None (the first found).
    """

    priority = 'LOW'

    def __init__(self, interval: int = 200,
                 loss_name: Optional[str] = None) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval!r}')
        self.interval = interval
        self.loss_name = loss_name
        self._loss: Optional[SemedaLoss] = None
        self._handle = None
        self._seen: Optional[tuple] = None

    def before_train(self, runner) -> None:
        """Find the SemedaLoss to show (a clear error if there is none)."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        found = [m for m in model.modules() if isinstance(m, SemedaLoss)
                 and self.loss_name in (None, m.loss_name)]
        if not found:
            raise ValueError(
                'SemedaVisualizationHook: the model has no SemedaLoss' +
                (f' named {self.loss_name!r}' if self.loss_name else '') +
                "; add dict(type='SemedaLoss') to decode_head.loss_decode")
        self._loss = found[0]

    def _drawing(self, runner) -> bool:
        return (runner.iter + 1) % self.interval == 0

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """At a drawing iteration, watch the loss's next call."""
        if self._loss is None or not self._drawing(runner):
            return

        def grab(module, args, kwargs):
            if self._seen is None:  # the first call of the iteration
                pred, target = args[0], args[1]
                self._seen = (pred[:1].detach(), target[:1].detach(),
                              kwargs.get('ignore_index', 255))

        self._seen = None
        self._handle = self._loss.register_forward_pre_hook(
            grab, with_kwargs=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """At a drawing iteration, draw what the loss was given."""
        if self._handle is None:
            return
        self._handle.remove()
        self._handle = None
        if self._seen is None or data_batch is None:
            return
        pred, target, ignore_index = self._seen
        self._seen = None
        image = data_batch['inputs'][0]
        panel, on = self.draw(pred, target, ignore_index, image,
                              runner.visualizer.dataset_meta, runner)
        runner.visualizer.add_image('semeda', panel, step=runner.iter + 1)

    @torch.no_grad()
    def draw(self, pred, target, ignore_index, image, meta, runner=None):
        """The picture (H, 4W, 3) uint8 RGB and whether the loss is on."""
        loss = self._loss
        pred = two_class_logits(pred)
        net = loss.get_edge_net(pred.shape[1], pred.device)
        per_pixel = semeda_loss(
            pred.float(), target, net, loss.layer_weights, ignore_index,
            reduction='none', check_labels=False,
            band_width=loss.band_width,
            class_balance=loss.class_balance)[0] * loss.loss_weight
        h, w = image.shape[-2:]
        label = target[0, :h, :w].cpu().numpy()
        predicted = pred[0, :, :h, :w].argmax(0).cpu().numpy()
        palette = (meta or {}).get('palette')
        if palette is None or len(palette) < pred.shape[1]:
            rng = np.random.default_rng(0)
            palette = rng.integers(0, 256, (pred.shape[1], 3)).tolist()
        img = image.cpu().numpy().transpose(1, 2, 0)
        if img.shape[-1] == 3:  # MMSeg loads BGR
            img = img[..., ::-1]
        heat = per_pixel[:h, :w].cpu().numpy()
        heat = heat / max(float(heat.max()), 1e-12)
        import cv2
        heat = cv2.applyColorMap((heat * 255).astype(np.uint8),
                                 cv2.COLORMAP_INFERNO)[..., ::-1]
        on = True
        if runner is not None and loss.start_iter == 'auto':
            state = runner.message_hub.get_info(
                f'semeda_switch/{loss.loss_name}')
            on = bool(state and state['on'])
        panels = [np.ascontiguousarray(img).astype(np.uint8),
                  colorize(label, palette, ignore_index),
                  colorize(predicted, palette, ignore_index), heat]
        titles = ['image', 'ground truth', 'prediction',
                  'SEMEDA per pixel' + ('' if on else ' (off)')]
        # small crops are enlarged (nearest) so that the titles fit
        scale = -(-MIN_WIDTH // w)
        if scale > 1:
            panels = [p.repeat(scale, 0).repeat(scale, 1) for p in panels]
        return np.concatenate([_titled(p, t) for p, t in zip(panels, titles)],
                              axis=1), on


#: Narrower panels are enlarged by an integer factor to at least this.
MIN_WIDTH = 160


def _titled(panel: np.ndarray, title: str) -> np.ndarray:
    """``panel`` under a white strip with ``title`` written in it."""
    import cv2
    strip = np.full((18, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, title, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)
