"""The SEMEDA edge network: a tiny CNN from class probabilities to edges."""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..fileio import atomic_write
from ..version import __version__

CHECKPOINT_FORMAT = 'mmseg_semeda.SemedaEdgeNet'
#: The nonlinearity after each of the three layers.
ACTIVATIONS = ('relu', 'relu', 'softmax')


def activate(layer: int, pre: Tensor) -> Tensor:
    """The edge net's nonlinearity after layer ``layer`` (0, 1 or 2; see
    :data:`ACTIVATIONS`): the embedding psi of that layer."""
    return pre.softmax(dim=1) if ACTIVATIONS[layer] == 'softmax' else \
        F.relu(pre)


def padded_buffer(like: Tensor, shape: Sequence[int],
                  pad: int) -> Tuple[Tensor, Tensor]:
    """An uninitialised channels-last buffer (N, C, H + 2p, W + 2p) of
    ``like``'s dtype and device for a map of ``shape`` (N, C, H, W), and the
    view of its interior."""
    n, c, h, w = shape
    buf = like.new_empty(n, h + 2 * pad, w + 2 * pad, c).permute(0, 3, 1, 2)
    return buf, buf[..., pad:pad + h, pad:pad + w]


def fill_border_(buf: Tensor, pad: int) -> Tensor:
    """Replicate the interior's edge rows and columns of ``buf``
    (..., H + 2p, W + 2p) into its ``pad``-wide frame, in place: a valid
    convolution of it is the replicate-padded convolution of the interior.
    """
    if pad:
        buf[..., :pad, pad:-pad] = buf[..., pad:pad + 1, pad:-pad]
        buf[..., -pad:, pad:-pad] = buf[..., -pad - 1:-pad, pad:-pad]
        buf[..., :pad] = buf[..., pad:pad + 1]
        buf[..., -pad:] = buf[..., -pad - 1:-pad]
    return buf


class _FrozenConv(torch.autograd.Function):
    """``conv2d(x, weight, bias)`` without padding for weights that get no
    gradient, saving only the weights (autograd's convolution also keeps
    its input, which the input gradient does not need)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor,
                bias: Optional[Tensor]) -> Tensor:
        ctx.save_for_backward(weight)
        ctx.shape = x.shape
        ctx.layout = (torch.channels_last if x.is_contiguous(
            memory_format=torch.channels_last) and not x.is_contiguous()
            else torch.contiguous_format)
        return F.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, = ctx.saved_tensors
        # an uninitialised input of the same layout tells the backend which
        # layout to write; its values are not read
        like = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device,
                           memory_format=ctx.layout)
        return torch.ops.aten.convolution_backward(
            grad, like, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0],
            1, [True, False, False])[0], None, None


class _FrozenClassEmbedding(torch.autograd.Function):
    """``conv1x1(x, weight)`` for frozen weights (E, C) as one matrix
    product per image that reads ``x`` (N, C, H, W) in its contiguous
    layout and writes the result channels-last, and back: no transposed
    copy of the C-channel map either way (on a CPU, such copies of a
    150-class map cost more than the product)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        n, c, h, w = x.shape
        ctx.save_for_backward(weight)
        out = torch.matmul(x.reshape(n, c, h * w).transpose(1, 2), weight.t())
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, = ctx.saved_tensors
        n, e, h, w = grad.shape
        g = grad.permute(0, 2, 3, 1).reshape(n, h * w, e)
        return torch.matmul(weight.t(), g.transpose(1, 2)).view(
            n, -1, h, w), None


@MODELS.register_module()
class SemedaEdgeNet(nn.Module):
    """Edge network of SEMEDA (Chen, Dapogny and Cord, Pattern Recognition
    2020, https://arxiv.org/abs/1905.01892).

    Three convolutions ``C -> channels[0] -> channels[1] -> 2`` with ReLU after
    the first two and a softmax over the last map a class-probability map
    (N, C, H, W) to edge probabilities (N, 2, H, W); channel 1 is "edge".
    Padding replicates the border, like the edge definition of
    :func:`mmseg_semeda.semantic_edges`. Its three layer outputs are the
    embeddings that :class:`SemedaLoss` compares.

    With ``embed_channels`` the first convolution is factored into a 1 x 1
    class embedding ``C -> embed_channels`` (no bias, no nonlinearity) and a
    k x k convolution from it: the same kind of layer (a k x k convolution
    of the class map of rank ``embed_channels`` in the class dimension),
    with ``C * E + E * channels[0] * k * k`` weights in place of
    ``C * channels[0] * k * k``; for many classes it is cheaper and, with
    ``E = 32``, it learned 150 classes' edges better than the full layer
    (docs/edge_nets.md).

    Args:
        num_classes (int): Number of segmentation classes C.
        channels (Sequence[int]): Widths of the two hidden layers.
            Defaults to (16, 32).
        kernel_size (int): Odd kernel size of the three convolutions.
            Defaults to 3.
        embed_channels (int, optional): Width of the class embedding that
            the first convolution is factored through. Defaults to None (no
            embedding: the paper's layer).

    Example:
        >>> net = SemedaEdgeNet(num_classes=4)
        >>> probs = torch.rand(2, 4, 8, 8).softmax(dim=1)
        >>> [tuple(e.shape) for e in net(probs)]
        [(2, 16, 8, 8), (2, 32, 8, 8), (2, 2, 8, 8)]
    """

    def __init__(self,
                 num_classes: int,
                 channels: Sequence[int] = (16, 32),
                 kernel_size: int = 3,
                 embed_channels: Optional[int] = None) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f'num_classes must be a positive int, got {num_classes!r}')
        channels = tuple(int(c) for c in channels)
        if len(channels) != 2 or min(channels) < 1:
            raise ValueError('channels must be two positive ints, '
                             f'got {channels!r}')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be a positive odd int, got {kernel_size}')
        if embed_channels is not None and (
                isinstance(embed_channels, bool)
                or int(embed_channels) != embed_channels
                or embed_channels < 1):
            raise ValueError('embed_channels must be a positive int or None, '
                             f'got {embed_channels!r}')
        self.num_classes = num_classes
        self.channels = channels
        self.kernel_size = kernel_size
        self.embed_channels = (None if embed_channels is None else
                               int(embed_channels))
        conv = dict(kernel_size=kernel_size, padding=kernel_size // 2,
                    padding_mode='replicate')
        if self.embed_channels is None:
            self.embed = None
        else:
            self.embed = nn.Conv2d(num_classes, self.embed_channels, 1,
                                   bias=False)
        self.conv1 = nn.Conv2d(self.embed_channels or num_classes,
                               channels[0], **conv)
        self.conv2 = nn.Conv2d(channels[0], channels[1], **conv)
        self.conv3 = nn.Conv2d(channels[1], 2, **conv)
        #: Free-form metadata saved with the checkpoint (what the net was
        #: trained on, its edge metrics, ...).
        self.meta: Dict[str, Any] = {}

    # ------------------------------------------------------------------ forward
    def _check_probs(self, probs: Tensor) -> None:
        if probs.ndim != 4 or probs.shape[1] != self.num_classes:
            raise ValueError(
                f'expected probabilities of shape (N, {self.num_classes}, H, '
                f'W), got {tuple(probs.shape)}')

    def forward(self, probs: Tensor, num_layers: int = 3) -> List[Tensor]:
        """Embeddings of a class-probability map.

        Args:
            probs (Tensor): Class probabilities (N, C, H, W), e.g. a softmax or
                a one-hot map (all zeros at pixels to ignore).
            num_layers (int): How many embeddings to compute (1 to 3); layers
                whose loss weight is 0 need not be run. Defaults to 3.

        Returns:
            list[Tensor]: ``[relu(conv1), relu(conv2), softmax(conv3)]``, cut
            to ``num_layers`` entries.
        """
        return [activate(i, pre) for i, pre in enumerate(
            self.pre_activations(probs, num_layers))]

    def forward_labels(self,
                       label: Tensor,
                       ignore_index: Optional[int] = 255,
                       num_layers: int = 3) -> List[Tensor]:
        """Embeddings of the one-hot map of an integer label map.

        Equal to ``self(onehot(label))`` with all-zero class vectors at
        ``ignore_index``, but the first convolution is a sum of k * k rows of
        its weights looked up by label (one ``embedding_bag``), so the cost
        does not grow with the number of classes and the one-hot map is never
        built. (Doing the same here for the second layer, a table row where
        its 5 x 5 field holds one label and a gathered matrix product
        elsewhere, was measured slower than the 16 -> 32 convolution itself
        on this project's 2-core CPU; the loss's CPU kernel does it pixel by
        pixel, in a third of the convolution's time on Voronoi labels.)

        Args:
            label (Tensor): Long labels (N, H, W) in [0, C) or ``ignore_index``.
            ignore_index (int, optional): Label with no class. Defaults to 255.
            num_layers (int): How many embeddings to compute. Defaults to 3.

        Returns:
            list[Tensor]: As :meth:`forward`.
        """
        return [activate(i, pre) for i, pre in enumerate(
            self.pre_activations_labels(label, ignore_index, num_layers))]

    def pre_activations_labels(self,
                               label: Tensor,
                               ignore_index: Optional[int] = 255,
                               num_layers: int = 3) -> List[Tensor]:
        """:meth:`pre_activations` of the one-hot map of ``label``, computed
        by lookups as in :meth:`forward_labels`."""
        return self._layers(self._first_from_labels(label, ignore_index),
                            num_layers)

    def _first_from_labels(self, label: Tensor,
                           ignore_index: Optional[int]) -> Tensor:
        """``conv1(onehot(label))`` by weight lookups: output pixel ``p`` is
        ``bias + sum over taps t of conv1.weight[:, label[p + t], t]``, one
        ``embedding_bag`` sum of k * k rows of a (k * k * (C + 1), O) table
        (row C of each tap, all zero, is the ignore label). Neighbours
        outside the image are replicated. The result is a channels-last
        view (N, O, H, W).
        """
        n, h, w = label.shape
        k, pad, c = self.kernel_size, self.kernel_size // 2, self.num_classes
        if ignore_index is not None:
            label = label.masked_fill(label == ignore_index, c)
        # the k * k taps of each pixel's window (replicate-padded) as table
        # rows: tap t of class c is row t * (C + 1) + c; as float32 (exact
        # below 2 ** 24, and unfold needs a float map)
        padded = F.pad(label[:, None].float(), (pad, ) * 4, mode='replicate')
        offsets = torch.arange(0, k * k * (c + 1), c + 1, device=label.device,
                               dtype=torch.float32)
        taps = F.unfold(padded, k).view(n, k * k, h * w).add_(
            offsets[:, None]).transpose(1, 2).to(torch.int32)
        out = F.embedding_bag(taps.reshape(-1, k * k), self.label_table(),
                              mode='sum')
        out = out.add_(self.conv1.bias).view(n, h, w, -1)
        return out.permute(0, 3, 1, 2)

    def label_table(self) -> Tensor:
        """The first layer's weights as a lookup table (k * k * (C + 1), O):
        row ``t * (C + 1) + c`` is tap ``t``'s weights on class ``c``; row
        ``C`` of each tap, all zero, serves the ignore label."""
        k, c = self.kernel_size, self.num_classes
        table = F.pad(self.first_weight(), (0, 0, 0, 0, 0, 1))  # (O, C+1, k, k)
        return table.permute(2, 3, 1, 0).reshape(k * k * (c + 1),
                                                 -1).contiguous()

    def first_weight(self) -> Tensor:
        """The first layer's k x k weights on the classes (O, C, k, k): the
        class embedding folded into ``conv1`` when there is one."""
        if self.embed is None:
            return self.conv1.weight
        # contiguous: a transposed table sends embedding_bag down a path
        # 15x slower
        return torch.einsum('oekl,ec->ockl', self.conv1.weight,
                            self.embed.weight.flatten(1)).contiguous()

    def pre_activations(self, probs: Tensor,
                        num_layers: int = 3) -> List[Tensor]:
        """Layer outputs before their nonlinearity: ``[conv1(x),
        conv2(relu(conv1(x))), conv3(...)]`` cut to ``num_layers`` (the
        embeddings of :meth:`forward` are relu, relu and softmax of these)."""
        self._check_probs(probs)
        return self._layers(self.layer(0, self.embed_classes(probs)),
                            num_layers)

    def embed_classes(self, probs: Tensor) -> Tensor:
        """The first convolution's input: the class embedding of ``probs``
        (N, C, H, W), or ``probs`` itself without ``embed_channels``."""
        if self.embed is None:
            return probs
        weight = self.embed.weight
        if weight.requires_grad:
            return self.embed(probs)
        return _FrozenClassEmbedding.apply(probs, weight.flatten(1))

    def layer(self, i: int, x: Tensor, padded: bool = False) -> Tensor:
        """Layer ``i``'s output before its nonlinearity, from
        :meth:`embed_classes` (``i = 0``) or from the previous layer's
        embedding; with ``padded``, from that map already replicate-padded
        by ``kernel_size // 2`` (:func:`fill_border_`), by a valid
        convolution."""
        conv = (self.conv1, self.conv2, self.conv3)[i]
        if padded:
            return (F.conv2d if conv.weight.requires_grad else
                    _FrozenConv.apply)(x, conv.weight, conv.bias)
        # (a class embedding is pointwise, so it commutes with conv1's
        # replicate padding)
        out = conv(x)
        if i == 0 and out.device.type == 'cpu':
            # Measured on a CPU (tools/benchmark_loss.py): the thin layers
            # run faster channels-last, which is also the layout of the
            # label embeddings they are compared with.
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def _layers(self, first: Tensor, num_layers: int) -> List[Tensor]:
        """The one path through layers 2 and 3 from layer 1's output."""
        if num_layers not in (1, 2, 3):
            raise ValueError(f'num_layers must be 1, 2 or 3, got {num_layers}')
        outs = [first]
        for i in range(1, num_layers):
            outs.append(self.layer(i, activate(i - 1, outs[-1])))
        return outs

    def edge_logits(self, probs: Tensor) -> Tensor:
        """Pre-softmax edge scores (N, 2, H, W) of a probability map."""
        return self.pre_activations(probs)[2]

    def edge_logits_labels(self, label: Tensor,
                           ignore_index: Optional[int] = 255) -> Tensor:
        """:meth:`edge_logits` of the one-hot map of ``label`` (N, H, W),
        computed by lookups as in :meth:`forward_labels`."""
        return self.pre_activations_labels(label, ignore_index)[2]

    def predict_edges(self, probs: Tensor) -> Tensor:
        """Edge probability (N, H, W) of a probability map (N, C, H, W)."""
        return self.edge_logits(probs).softmax(dim=1)[:, 1]

    # ------------------------------------------------------------- checkpoints
    def save(self, path: str, **meta: Any) -> str:
        """Save weights and metadata atomically (temporary file, then rename).

        Args:
            path (str): Destination file (``.pth``).
            **meta: Extra metadata merged into :attr:`meta` (plain Python
                values only, so the file loads with ``weights_only=True``).

        Returns:
            str: ``path``.
        """
        self.meta.update(meta)
        payload = dict(
            format=CHECKPOINT_FORMAT,
            num_classes=self.num_classes,
            channels=list(self.channels),
            kernel_size=self.kernel_size,
            embed_channels=self.embed_channels,
            version=__version__,
            meta=dict(self.meta),
            state_dict={k: v.detach().cpu().clone()
                        for k, v in self.state_dict().items()},
        )
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
        return path

    @classmethod
    def from_checkpoint(cls, path: str,
                        map_location: str = 'cpu') -> 'SemedaEdgeNet':
        """Load an edge net saved by :meth:`save`.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: The file is not an edge-net checkpoint.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'edge-net checkpoint not found: {path!r}. Pretrain one with '
                '`python tools/pretrain_edgenet.py --ann-dir ... --out PATH`.')
        try:
            payload = torch.load(path, map_location=map_location,
                                 weights_only=True)
        except Exception as err:
            raise ValueError(f'{path!r} is not a readable edge-net checkpoint '
                             f'({type(err).__name__}: {err})') from err
        if not isinstance(payload, dict) or payload.get(
                'format') != CHECKPOINT_FORMAT:
            got = (sorted(payload)[:8]
                   if isinstance(payload, dict) else type(payload).__name__)
            raise ValueError(
                f'{path!r} is not an edge-net checkpoint: expected a dict with '
                f"format={CHECKPOINT_FORMAT!r}, got {got}")
        with torch.random.fork_rng(devices=[]):  # the caller's RNG untouched
            net = cls(payload['num_classes'], payload['channels'],
                      payload['kernel_size'], payload.get('embed_channels'))
        net.load_state_dict(payload['state_dict'])
        net.meta = dict(payload.get('meta', {}))
        net.meta.setdefault('version', payload.get('version'))
        return net

    def freeze(self) -> 'SemedaEdgeNet':
        """Turn off gradients and switch to eval mode for good."""
        self.requires_grad_(False)
        return self.eval()
