"""SEMEDA: the semantic edge-aware loss."""
from __future__ import annotations

import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...edges import boundary_bands, valid_mask
from ..edge_net import (
    SemedaEdgeNet,
    activate,
)
from . import cpu_kernels
from .utils import (
    check_loss_settings,
    check_seg_inputs,
    reduce_masked,
)

#: Momentum of the running pixel accuracy of ``start_iter='auto'``.
ACC_MOMENTUM = 0.9


def _class_probs(x: Tensor, valid: Tensor, weight: Optional[Tensor],
                 pad: int) -> Tensor:
    """The edge net's input in the eager path: ``softmax(x, 1) * valid`` in
    float32 whatever the logits' dtype, through the class embedding
    ``weight`` (E, C) if given, replicate-padded by ``pad``."""
    probs = torch.softmax(x, 1, dtype=torch.float32) * valid.unsqueeze(1)
    if weight is not None:
        probs = F.conv2d(probs, weight[..., None, None])
    return F.pad(probs, [pad] * 4, mode='replicate')


class _ClassProbs(torch.autograd.Function):
    """:func:`_class_probs`, keeping for backward only the logits (which
    the head keeps anyway: no float32 copy of half-precision logits, no
    C-channel map) and recomputing the rest in backward, a few images at a
    time (:data:`CHUNK_BYTES` of float32 class maps); the gradient comes in
    the logits' dtype."""

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor, weight: Optional[Tensor],
                pad: int) -> Tensor:
        ctx.save_for_backward(x, valid, weight)
        ctx.pad = pad
        return _class_probs(x, valid, weight, pad)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, valid, weight = ctx.saved_tensors
        n, c, h, w = x.shape
        step = max(1, CHUNK_BYTES // (4 * c * h * w))
        out = None if step >= n else torch.empty_like(x)
        for i in range(0, n, step):
            with torch.enable_grad():
                part = x[i:i + step].detach().requires_grad_()
                probs = _class_probs(part, valid[i:i + step], weight,
                                     ctx.pad)
            g, = torch.autograd.grad(probs, part, grad[i:i + step])
            if out is None:
                return g, None, None, None
            out[i:i + step] = g
        return out, None, None, None


#: Float32 class maps the eager path's softmax backward holds at once: a
#: few images of 150 classes at 512 x 512, the whole batch at fewer classes
#: or pixels.
CHUNK_BYTES = 1 << 28


def _eager_terms(pred: Tensor, target: Tensor, valid: Tensor,
                 where: Optional[Tensor], edge_net: SemedaEdgeNet,
                 layer_weights: Sequence[float],
                 ignore_index: Optional[int]) -> List[Tensor]:
    """:func:`semeda_terms`' weighted terms, the whole batch at once in
    plain PyTorch: the reference, and the path on every device where the
    CPU kernels do not run. The labels' first layer is a lookup
    (:meth:`SemedaEdgeNet.pre_activations_labels`); the convolutions keep
    only their frozen weights for backward."""
    pad = [edge_net.kernel_size // 2] * 4
    embed = edge_net.embed
    x = _ClassProbs.apply(pred, valid,
                          None if embed is None else embed.weight.flatten(1),
                          pad[0])
    with torch.no_grad():
        gt = edge_net.pre_activations_labels(target, ignore_index, 1)[0]
    terms = []
    for i, lam in enumerate(layer_weights):
        if i:  # (the relu saves this input of the padding: no new map)
            x = F.pad(x, pad, mode='replicate')
        x = activate(i, edge_net.layer(i, x, padded=True))
        with torch.no_grad():
            gt = activate(i, gt)
            gt_next = None if i + 1 == len(layer_weights) else edge_net.layer(
                i + 1, F.pad(gt, pad, mode='replicate'), padded=True)
        if lam:
            term = (x - gt).abs().mean(dim=1).mul_(lam)
            terms.append(term if where is None else term * where)
        gt = gt_next
    return terms


#: The paper's best layer weights per dataset (Chen et al. 2020, as
#: summarised in this project's design card).
PAPER_LAYER_WEIGHTS = {'voc': (2.0, 4.0, 0.0), 'cityscapes': (4.0, 2.0, 0.0)}


def resolve_layer_weights(layer_weights) -> tuple:
    """Three non-negative floats, or a name of :data:`PAPER_LAYER_WEIGHTS`.

    Example:
        >>> resolve_layer_weights('cityscapes')
        (4.0, 2.0, 0.0)
    """
    if isinstance(layer_weights, str):
        if layer_weights not in PAPER_LAYER_WEIGHTS:
            raise ValueError(
                f'layer_weights names: {sorted(PAPER_LAYER_WEIGHTS)}, got '
                f'{layer_weights!r}')
        return PAPER_LAYER_WEIGHTS[layer_weights]
    weights = tuple(float(w) for w in layer_weights)
    if len(weights) != 3 or min(weights) < 0:
        raise ValueError('layer_weights must be 3 non-negative numbers or '
                         f'one of {sorted(PAPER_LAYER_WEIGHTS)}, got '
                         f'{layer_weights}')
    return weights


def num_active_layers(layer_weights: Sequence[float]) -> int:
    """Layers of the edge net to run: up to the last non-zero weight.

    Example:
        >>> num_active_layers((4.0, 2.0, 0.0))
        2
    """
    return max((i + 1 for i, w in enumerate(layer_weights) if w > 0),
               default=0)


def check_band_width(band_width: Optional[int]) -> None:
    """Raise a ValueError unless ``band_width`` is None or an int >= 1."""
    if band_width is not None and (isinstance(band_width, bool)
                                   or int(band_width) != band_width
                                   or band_width < 1):
        raise ValueError(f'band_width must be an int >= 1 or None, got '
                         f'{band_width!r}')


def semeda_loss(pred: Tensor,
                target: Tensor,
                edge_net: SemedaEdgeNet,
                layer_weights: Sequence[float] = (2.0, 4.0, 0.0),
                ignore_index: Optional[int] = 255,
                weight: Optional[Tensor] = None,
                reduction: str = 'mean',
                avg_factor: Optional[float] = None,
                check_labels: bool = True,
                band_width: Optional[int] = None,
                class_balance: bool = False) -> Tensor:
    r"""SEMEDA loss between logits and a label map.

    .. math::
        L = \sum_l \lambda_l \, \frac{1}{|\Omega| C_l} \sum_{p \in \Omega}
            \| \psi_l(\mathrm{softmax}(x))_p - \psi_l(\mathrm{onehot}(y))_p \|_1

    where :math:`\psi_l` is the output of layer ``l`` of the frozen
    ``edge_net``, :math:`C_l` its channel count and :math:`\Omega` the pixels
    whose label is not ``ignore_index``. At ignore pixels both inputs of the
    edge net carry an all-zero class vector, so the loss does not depend on
    the logits there. It runs in float32 even under autocast.

    The defaults of this function are the paper's form (every pixel, λ of
    its VOC setting); :class:`SemedaLoss`, which configs use, defaults to
    the form measured best in this project (``band_width=3``, λ (4, 2, 0),
    ``loss_weight=2``).

    Args:
        pred (Tensor): Logits (N, C, H, W), any float dtype.
        target (Tensor): Long labels (N, H, W) in [0, C) or ``ignore_index``.
        edge_net (SemedaEdgeNet): Pretrained edge net for C classes; it gets
            no gradient.
        layer_weights (Sequence[float]): :math:`\lambda_1, \lambda_2,
            \lambda_3`. Trailing zero layers are not computed.
            Defaults to (2.0, 4.0, 0.0) (the paper's VOC setting).
        ignore_index (int, optional): Label to ignore. Defaults to 255.
        weight (Tensor, optional): Pixel weights (N, H, W). Defaults to None.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        avg_factor (float, optional): Divisor of the 'mean' reduction.
            Defaults to None (the number of non-ignored pixels).
        check_labels (bool): Check that labels lie in [0, C) (one device
            sync). Defaults to True.
        band_width (int, optional): Keep the loss only at pixels closer than
            this (Chebyshev distance) to a ground-truth semantic edge, the
            band of the trimap metric; the mean still divides by all valid
            pixels. Defaults to None (every pixel, as in the paper).
        class_balance (bool): Weight pixels by their class's rarity where
            the loss acts (see :func:`semeda_terms`). Defaults to False.

    Returns:
        Tensor: The loss; (N, H, W) when ``reduction='none'``.

    Example:
        >>> net = SemedaEdgeNet(num_classes=3)
        >>> logits = torch.randn(2, 3, 16, 16)
        >>> target = torch.randint(0, 3, (2, 16, 16))
        >>> semeda_loss(logits, target, net).ndim
        0
    """
    terms, valid, _ = semeda_terms(pred, target, edge_net, layer_weights,
                                   ignore_index, check_labels, band_width,
                                   class_balance)
    loss = sum(terms) if terms else valid.new_zeros(target.shape)
    return reduce_masked(loss, valid, weight, reduction, avg_factor)


def semeda_terms(pred: Tensor,
                 target: Tensor,
                 edge_net: SemedaEdgeNet,
                 layer_weights: Sequence[float] = (2.0, 4.0, 0.0),
                 ignore_index: Optional[int] = 255,
                 check_labels: bool = True,
                 band_width: Optional[int] = None,
                 class_balance: bool = False,
                 over_ranks: bool = False
                 ) -> Tuple[List[Tensor], Tensor, Optional[Tensor]]:
    """The per-pixel terms of :func:`semeda_loss` before the reduction.

    With ``class_balance`` each pixel where the loss acts (the band, or every
    valid pixel) is weighted by ``n_c ** -0.5`` for its ground-truth class
    ``c`` with ``n_c`` such pixels in the batch, scaled so that the weights
    average 1 over those pixels: rare classes' boundaries count more, the
    total stays the same. With ``over_ranks`` the batch is that of all DDP
    ranks together (one all-reduce of C counts, which every rank must call;
    :class:`SemedaLoss` does so in training), so that 4 ranks of 2 images
    weight pixels as one process with the 8 would.

    Returns:
        tuple[list[Tensor], Tensor, Tensor | None]: ``lambda_l`` times the
        layer's channel-mean L1 (N, H, W), band applied, for each layer with
        a non-zero weight; the valid-pixel mask (N, H, W) float32; the band
        (N, H, W) bool, or None without ``band_width``.
    """
    check_seg_inputs(pred, target, ignore_index, edge_net.num_classes,
                     check_labels)
    if any(p.requires_grad for p in edge_net.parameters()):
        edge_net = copy.deepcopy(edge_net).freeze()  # it gets no gradient
    layer_weights = resolve_layer_weights(layer_weights)
    check_band_width(band_width)
    num_layers = num_active_layers(layer_weights)
    near = None
    with torch.autocast(device_type=pred.device.type, enabled=False):
        valid = valid_mask(target, ignore_index).float()
        if not num_layers:
            return [], valid, near
        if band_width is not None:
            with torch.no_grad():
                near = boundary_bands(target, (band_width, ),
                                      ignore_index)[band_width]
        where = near
        if class_balance:
            with torch.no_grad():
                where = _class_balance(target, valid, near, pred.shape[1],
                                       over_ranks)
        layer_weights = layer_weights[:num_layers]
        # the one place the backend is chosen
        kernels = cpu_kernels.usable(pred)
        if kernels is None:
            return (_eager_terms(pred, target, valid, where, edge_net,
                                 layer_weights, ignore_index), valid, near)
        terms = cpu_kernels.kernel_terms(pred.float(), target, valid, where,
                                         edge_net, layer_weights,
                                         ignore_index, kernels)
    return terms, valid, near


def _class_balance(target: Tensor, valid: Tensor, near: Optional[Tensor],
                   num_classes: int, over_ranks: bool = False) -> Tensor:
    """Pixel weights (N, H, W): ``n_c ** -0.5`` for a pixel of class ``c``
    in the band (or valid, without one), 0 elsewhere, scaled to mean 1 over
    those pixels (of all ranks with ``over_ranks``)."""
    acting = valid > 0 if near is None else near & (valid > 0)
    label = target.clamp(0, num_classes - 1)
    # a 1-D scatter_add_: no device sync (CUDA's bincount reads the labels'
    # min and max on the host) and deterministic on CUDA (weighted bincount
    # raises under torch.use_deterministic_algorithms)
    counts = torch.zeros(num_classes, dtype=torch.int64,
                         device=target.device).scatter_add_(
                             0, label.flatten(), acting.flatten().long())
    if over_ranks:
        from mmengine.dist import all_reduce
        all_reduce(counts, op='sum')  # identity without DDP
    counts = counts.float()
    # the pixels' weights sum to sum_c n_c * n_c ** -0.5 = sum_c sqrt(n_c)
    per_class = counts.clamp(min=1).rsqrt() * (
        counts.sum() / counts.sqrt().sum().clamp(min=1))
    return per_class[label] * acting


def two_class_logits(pred: Tensor) -> Tensor:
    """A binary head's 1-channel logits x (out_channels=1, sigmoid) as the
    2-class logits (0, x), whose softmax is (1 - p, p); other logits as
    they are."""
    if pred.shape[1] != 1:
        return pred
    return torch.cat([torch.zeros_like(pred), pred], dim=1)


class _Later:
    """A small device tensor copied to the host without blocking when it is
    put, and read when it is taken (at the next training call, once the
    step that computed it has finished: the wait on its CUDA event is then
    over before it starts), so that no training step waits for the device
    in the middle of its forward."""

    def __init__(self) -> None:
        self._host: Optional[Tensor] = None
        self._event = None

    def put(self, values: Optional[Tensor]) -> Optional[Tensor]:
        """Start copying ``values`` to the host; returns the host tensor."""
        self._event = None
        if values is None or values.device.type == 'cpu':
            self._host = values
            return values
        self._host = values.to('cpu', non_blocking=True)
        if values.device.type == 'cuda':
            self._event = torch.cuda.Event()
            self._event.record()
        return self._host

    def take(self) -> Optional[list]:
        """The values put last (a list of floats), or None; once."""
        host, event = self._host, self._event
        self._host = self._event = None
        if host is None:
            return None
        if event is not None:
            event.synchronize()
        return host.tolist()


@MODELS.register_module()
class SemedaLoss(nn.Module):
    """SEMEDA loss (Chen, Dapogny and Cord, "SEMEDA: Enhancing Segmentation
    Precision with Semantic Edge Aware Loss", Pattern Recognition 2020,
    https://arxiv.org/abs/1905.01892) for MMSeg's ``decode_head.loss_decode``.

    It compares the embeddings of a frozen :class:`SemedaEdgeNet` on the
    softmax of the logits and on the one-hot ground truth. Put it next to
    :class:`mmseg.models.losses.CrossEntropyLoss`::

        loss_decode=[
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='SemedaLoss'),
        ]

    The edge net is not a submodule: it is not in the segmentor's
    ``state_dict``, gets no gradient, stays in eval mode and follows the
    logits' device lazily.

    The defaults are not the paper's: they are the form that beat
    cross-entropy in this project's CamVid study (docs/results.md;
    DeepLabV3+ R18 on a CPU, 3 seeds): λ (4, 2, 0), the loss kept to the
    3-pixel band around ground-truth edges (``band_width=3``), an edge net
    pretrained with soft, noisy inputs in half of its batches (the bundled
    ``edgenet_c{C}_synthetic_soft``), ``loss_weight=2.0`` and
    ``start_iter='auto'`` (on once the running pixel accuracy reaches 0.8)
    and ``class_balance=True`` (band pixels weighted by the inverse square
    root of their class's count). There the paper's form (every pixel,
    one-hot edge net) lost 2.3 mIoU to cross-entropy, mostly on small
    classes. As one line in a from-scratch config it beat cross-entropy in
    every seed, on CamVid val and on held-out images (3 seeds: mIoU
    +3.21 ± 0.23 / +1.32 ± 0.19, band mIoU w3 +3.82 / +2.03, interior
    +2.69 / +0.91; docs/results.md, "Beyond the paper"). The paper's
    settings stay available by name::

        dict(type='SemedaLoss', layer_weights='voc', band_width=None,
             checkpoint='edgenet_c21_synthetic', loss_weight=1.0,
             start_iter=0, class_balance=False)

    (``'cityscapes'`` and ``edgenet_c19_synthetic`` for Cityscapes); the
    ``configs/semeda/*_paper.py`` configs use them.

    Args:
        num_classes (int, optional): Class count; checked against the logits.
            Defaults to None (taken from the logits at the first call).
        checkpoint (str, optional): Edge-net checkpoint written by
            ``tools/pretrain_edgenet.py``, or the name of a bundled one such
            as ``'edgenet_c11_camvid_soft'``. Defaults to None (the bundled
            ``edgenet_c{C}_synthetic_soft`` for the class count, else one
            pretrained the same way on synthetic masks and cached).
        layer_weights (Sequence[float] | str): Weights of the three
            embeddings, or ``'voc'`` / ``'cityscapes'`` for the paper's.
            Defaults to (4.0, 2.0, 0.0) (the paper's Cityscapes setting).
        loss_weight (float): Multiplier of the loss. Defaults to 2.0.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_name (str): Name in the log; must start with ``loss_``.
            Defaults to 'loss_semeda'.
        check_labels (bool): Check the label range at the first call (a
            clear error with the bad values; one device sync). Defaults to
            True.
        start_iter (int | str): Training iteration (MMEngine's, 0-based)
            before which the loss is 0 and not computed, so that
            cross-entropy trains alone first; ``'auto'``: from the first
            training iteration at which the running pixel accuracy of the
            logits reaches ``start_acc`` (at the second call for a model
            that already segments, e.g. ``load_from``), at the latest at
            ``start_latest`` of the Runner's ``max_iters``. Defaults to ``'auto'`` (from
            scratch on CamVid, 3 seeds: never below cross-entropy, and above
            the paper's ``0``, "from the first iteration"; docs/results.md).
        start_acc (float): Pixel accuracy in (0, 1] that switches the loss
            on when ``start_iter='auto'``. Defaults to 0.8.
        start_latest (float, optional): Share of ``max_iters`` at which
            ``'auto'`` switches on whatever the accuracy (for data sets
            where it stays below ``start_acc``). Defaults to 0.5 (Stanford
            Background, where the accuracy stays near 0.6, 3 seeds: higher
            mIoU than with 0.2 in every seed, the same band gain; on CamVid
            the accuracy comes first; docs/results.md); None: no limit.
        band_width (int, optional): Loss only near ground-truth edges (in
            pixels of the label map); see :func:`semeda_loss`. Defaults to
            3; None: every pixel, as in the paper.
        class_balance (bool): Weight the pixels where the loss acts by the
            inverse square root of their class's pixel count in the batch,
            in training that of all DDP ranks together (mean weight 1); see
            :func:`semeda_terms`. Defaults to True;
            False: every pixel counts alike, as in the paper.

    The iteration and the switch's state live in MMEngine's ``MessageHub``
    (set by the Runner, restored on resume); outside training, or outside a
    Runner, the loss is always on.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 checkpoint: Optional[str] = None,
                 layer_weights: Sequence[float] = (4.0, 2.0, 0.0),
                 loss_weight: float = 2.0,
                 reduction: str = 'mean',
                 loss_name: str = 'loss_semeda',
                 check_labels: bool = True,
                 start_iter: Union[int, str] = 'auto',
                 start_acc: float = 0.8,
                 start_latest: Optional[float] = 0.5,
                 band_width: Optional[int] = 3,
                 class_balance: bool = True) -> None:
        super().__init__()
        check_loss_settings(loss_name, reduction)
        check_band_width(band_width)
        self.class_balance = bool(class_balance)
        if start_iter != 'auto' and (isinstance(start_iter, (str, bool))
                                     or int(start_iter) != start_iter
                                     or start_iter < 0):
            raise ValueError("start_iter must be an int >= 0 or 'auto', got "
                             f'{start_iter!r}')
        if not 0 < start_acc <= 1:
            raise ValueError(f'start_acc must be in (0, 1], got {start_acc!r}')
        if start_latest is not None and not 0 <= start_latest <= 1:
            raise ValueError('start_latest must be in [0, 1] or None, got '
                             f'{start_latest!r}')
        self.start_latest = start_latest
        self.band_width = band_width
        self.start_iter = start_iter if start_iter == 'auto' else int(
            start_iter)
        self.start_acc = float(start_acc)
        self.num_classes = num_classes
        self.checkpoint = checkpoint
        self.layer_weights = resolve_layer_weights(layer_weights)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.check_labels = check_labels
        self._loss_name = loss_name
        self._key: Optional[str] = None  # this instance's MessageHub name
        self._labels_checked = False
        self._diagnostics, self._counts = _Later(), _Later()
        net = None
        if checkpoint is not None:
            from ...pretrain.zoo import resolve_checkpoint
            net = SemedaEdgeNet.from_checkpoint(resolve_checkpoint(checkpoint))
            if num_classes is not None and net.num_classes != num_classes:
                raise ValueError(
                    f'num_classes={num_classes} but the edge net in '
                    f'{checkpoint!r} was trained for {net.num_classes}')
            self.num_classes = net.num_classes
        self._set_edge_net(net)

    def _set_edge_net(self, net: Optional[SemedaEdgeNet]) -> None:
        # Bypass nn.Module.__setattr__: the edge net must stay out of the
        # segmentor's state_dict, parameters(), .to() and .train().
        if net is not None:
            net.freeze()
        object.__setattr__(self, '_edge_net', net)

    @property
    def edge_net(self) -> Optional[SemedaEdgeNet]:
        """The frozen edge net (None until the first call in zero-config)."""
        return self._edge_net

    def get_edge_net(self, num_classes: int,
                     device: torch.device) -> SemedaEdgeNet:
        """The edge net for ``num_classes`` on ``device``, loaded on first
        use."""
        if self.num_classes is not None and num_classes != self.num_classes:
            raise ValueError(
                f'the logits have {num_classes} classes but this SemedaLoss '
                f'is set up for {self.num_classes}')
        net = self._edge_net
        if net is None:
            from ...pretrain.zoo import default_edge_net
            net = default_edge_net(num_classes)
            self.num_classes = num_classes
            self._set_edge_net(net)
        if net.conv1.weight.device != device:
            net.to(device)
        if net.training:
            net.eval()
        return net

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Loss of logits ``pred`` (N, C, H, W) against labels ``target``
        (N, H, W), called by MMSeg's decode head as ``loss(seg_logits,
        seg_label, weight=seg_weight, ignore_index=head.ignore_index)``.

        No host-device sync in a training step but the first: the label
        range is checked at the first call (shapes and dtypes at every
        call), and what the log and the automatic start read from the
        device is copied without blocking and read at the next call
        (:class:`_Later`).
        """
        # the inputs are checked before an edge net is loaded (or, for a
        # class count with none bundled, pretrained)
        check_seg_inputs(pred, target, ignore_index, None,
                         self.check_labels and not self._labels_checked)
        self._labels_checked = True
        pred = two_class_logits(pred)
        reduction = reduction_override or self.reduction
        net = self.get_edge_net(pred.shape[1], pred.device)
        hub = self._hub() if self.training else None
        if hub is not None:
            self._log_previous(hub)
        if not self.switched_on(pred, target, ignore_index):
            shape = target.shape if reduction == 'none' else ()
            return pred.new_zeros(shape, dtype=torch.float32)
        terms, valid, near = semeda_terms(
            pred, target, net, self.layer_weights, ignore_index, False,
            self.band_width, self.class_balance, over_ranks=self.training)
        if hub is not None:
            self._diagnostics.put(self._measure(terms, valid, near, weight,
                                                avg_factor))
        loss = sum(terms) if terms else valid.new_zeros(target.shape)
        return self.loss_weight * reduce_masked(loss, valid, weight,
                                                reduction, avg_factor)

    def _hub(self):
        """MMEngine's MessageHub under a Runner (``iter`` set), else None;
        names this instance on first use (:meth:`_name`)."""
        from mmengine.logging import MessageHub
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter')
        if it is None:
            return None
        if self._key is None:
            # Instances of one loss_name are told apart by the order of
            # their first calls in a training iteration (decode head before
            # auxiliary head, the same in every run, so --resume finds its
            # state): the first keeps the name, the k-th gets a suffix _k.
            count = f'semeda_instances/{self._loss_name}'
            calls = hub.get_info(count)
            k = calls[1] if calls is not None and calls[0] == it else 0
            hub.update_info(count, (it, k + 1))
            self._key = self._loss_name + (f'_{k}' if k else '')
        return hub

    def _measure(self, terms: List[Tensor], valid: Tensor,
                 near: Optional[Tensor], weight: Optional[Tensor],
                 avg_factor: Optional[float]) -> Tensor:
        """Each layer's share of the loss and the share of valid pixels in
        the band, as one device tensor (no sync)."""
        if not terms:
            return None
        with torch.no_grad():
            # reduce_masked's mean of each term, all layers at once
            pixels = valid.sum()
            w = valid if weight is None else valid * weight.float()
            denom = (pixels if avg_factor is None else avg_factor) + \
                torch.finfo(torch.float32).eps
            values = (torch.stack(terms) * w).sum((1, 2, 3)) * (
                self.loss_weight / denom)
            if near is not None:
                share = (near * valid).sum() / pixels.clamp(min=1)
                values = torch.cat([values, share[None]])
            return values.float()

    def _log_previous(self, hub) -> None:
        """Put the previous training call's diagnostics into the
        MessageHub (``train/semeda/layer1``, ..., ``train/semeda/band_share``
        for the default loss_name), which the Runner's logger and visualizer
        backends report at each logging interval."""
        values = self._diagnostics.take()
        if values is None:
            return
        name = 'train/' + self._key.replace('loss_', '', 1)
        keys = [f'{name}/layer{i + 1}'
                for i, w in enumerate(self.layer_weights) if w > 0]
        if self.band_width is not None:
            keys.append(f'{name}/band_share')
        for key, value in zip(keys, values):
            hub.update_scalar(key, value)

    def switched_on(self, pred: Tensor, target: Tensor,
                    ignore_index: Optional[int] = 255) -> bool:
        """Whether the loss acts at this call (see ``start_iter``).

        Always on outside training (``self.training`` False). With
        ``start_iter='auto'`` it watches the pixel accuracy of ``pred`` on
        ``target`` (summed over DDP ranks, so every rank decides alike) and
        switches on for good once its running mean reaches ``start_acc``.
        Each call's counts are read at the next call (no sync): the switch
        follows the accuracy of the calls before this one. The state lives
        in MMEngine's ``MessageHub`` (saved in checkpoints, restored by
        ``--resume``) and the switch is logged once.
        """
        if self.start_iter == 0 or not self.training:
            return True
        hub = self._hub()
        if hub is None:  # not under a Runner: no schedule
            return True
        it = hub.get_info('iter')
        if self.start_iter != 'auto':
            return it >= self.start_iter
        key = f'semeda_switch/{self._key}'
        state = dict(hub.get_info(key) or {})
        if state.get('on'):
            return True
        counts = self._counts.take()
        if counts is None and state.get('pending') is not None:
            counts = state['pending'].tolist()  # resumed from a checkpoint
        if counts is not None:
            acc = counts[0] / max(counts[1], 1.0)
            if 'acc' in state:
                acc = ACC_MOMENTUM * state['acc'] + (1 - ACC_MOMENTUM) * acc
            state['acc'] = acc
        acc = state.get('acc', 0.0)
        max_iters = hub.get_info('max_iters')
        late = (self.start_latest is not None and max_iters is not None
                and it >= self.start_latest * max_iters)
        state.update(on=acc >= self.start_acc or late, iter=it, pending=None)
        if state['on']:
            hub.update_info(key, state)
            from mmengine.logging import print_log
            why = (f'running pixel accuracy {acc:.3f} >= start_acc '
                   f'{self.start_acc}' if acc >= self.start_acc else
                   f'{self.start_latest:.0%} of max_iters={max_iters} '
                   f'reached (running pixel accuracy {acc:.3f})')
            print_log(f'{self._key} switched on at iteration {it}: '
                      f'{why}', logger='current')
            return True
        from mmengine.dist import all_reduce
        with torch.no_grad():
            valid = valid_mask(target, ignore_index)
            hits = (pred.argmax(dim=1) == target) & valid
            counts = torch.stack([hits.sum(), valid.sum()]).double()
            all_reduce(counts, op='sum')  # identity without DDP
        # kept in the MessageHub too, so that a checkpoint saved after this
        # iteration carries them
        state['pending'] = self._counts.put(counts)
        hub.update_info(key, state)
        return False

    @property
    def loss_name(self) -> str:
        """Name of this loss in the log dict (starts with ``loss_``)."""
        return self._loss_name

    def extra_repr(self) -> str:
        """Settings shown by ``print(model)``."""
        return (f'layer_weights={self.layer_weights}, '
                f'loss_weight={self.loss_weight}, '
                f'checkpoint={self.checkpoint!r}, '
                f'start_iter={self.start_iter!r}, '
                f'start_acc={self.start_acc}, '
                f'start_latest={self.start_latest}, '
                f'band_width={self.band_width}, '
                f'class_balance={self.class_balance}')
