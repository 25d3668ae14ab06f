"""The autograd Functions over the CPU kernels and the loss's terms in them
(:func:`kernel_terms`, equal to the eager path's ``_eager_terms``, tested):
the only code that calls the kernels."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ...edge_net import (
    ACTIVATIONS,
    SemedaEdgeNet,
    activate,
    fill_border_,
    padded_buffer,
)


class _PaddedSoftmax(torch.autograd.Function):
    """The CPU kernels' ``softmax(x, 1) * valid`` per image, through a frozen
    class embedding ``weight`` (E, C) if given, replicate-padded by ``pad``,
    in a channels-last buffer (1, C or E, H + 2p, W + 2p), in one pass a
    block of pixels at a time; backward writes the gradient in the layout
    of ``x``. The probabilities are saved; with an embedding they are
    recomputed in backward instead, so no C-channel map is written but the
    gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor, weight: Optional[Tensor],
                pad: int, kernels):
        n, c, h, w = x.shape
        ctx.pad, ctx.shape, ctx.kernels = pad, x.shape, kernels
        ctx.embed = weight is not None
        valid = valid.contiguous()
        width = c if weight is None else weight.shape[0]
        outs = [padded_buffer(x, (1, width, h, w), pad)[0] for _ in range(n)]
        if weight is None:
            kernels.softmax_padded_forward(x, valid, outs, pad)
        else:
            weight = weight.contiguous()
            kernels.embed_softmax_forward(x, valid, weight, outs, pad)
        outs = tuple(fill_border_(out, pad) for out in outs)
        ctx.save_for_backward(*((x, valid, weight) if ctx.embed else outs))
        return outs

    @staticmethod
    def backward(ctx, *grads: Tensor):
        pad, (h, w) = ctx.pad, ctx.shape[-2:]
        saved = ctx.saved_tensors
        grads = [g.contiguous(memory_format=torch.channels_last)
                 for g in grads]
        if ctx.embed:
            return ctx.kernels.embed_softmax_backward(
                grads, *saved, pad), None, None, None, None
        return ctx.kernels.softmax_padded_backward(
            grads, list(saved), h, w, pad), None, None, None, None


def padded_softmax(pred: Tensor, valid: Tensor, weight: Optional[Tensor],
                   pad: int, kernels) -> Tuple[Tensor, ...]:
    """Per image, ``masked_softmax(pred, valid)`` through the frozen 1 x 1
    class embedding ``weight`` (E, C), if any, replicate-padded by ``pad``,
    by the CPU ``kernels``: a channels-last map (1, C or E, H + 2p, W + 2p)
    for each image, the input of the edge net's first convolution without
    padding."""
    return _PaddedSoftmax.apply(pred.contiguous(), valid, weight, pad,
                                kernels)


class _ReluL1(torch.autograd.Function):
    """The CPU kernels' channel mean of ``|relu(x) - relu(target)|`` (N, C,
    H, W) -> (N, H, W), and ``relu(x)`` for the next layer, in one pass over
    each map. Same values and (sub)gradients as ``(x.relu() -
    target.relu()).abs().mean(1)`` and ``x.relu()`` (the eager path's
    expressions): zero where ``x <= 0`` or where the difference is 0.

    Backward keeps one int8 code per element (the sign of the difference
    where ``x > 0``, 2 elsewhere: the relu mask too) and nothing else. With
    ``pad`` None (the last layer) the relu output is not returned;
    otherwise it comes replicate-padded by ``pad`` in a channels-last
    buffer (the next valid convolution's input, see :func:`fill_border_`).
    """

    @staticmethod
    def forward(ctx, x: Tensor, target: Tensor, pad: Optional[int], kernels):
        ctx.set_materialize_grads(False)
        n, c, h, w = x.shape
        out = x.new_empty(n, h, w)
        sign = torch.empty(x.shape, dtype=torch.int8, device=x.device,
                           memory_format=torch.channels_last)
        padded = None if pad is None else padded_buffer(x, x.shape, pad)[0]
        ctx.pad, ctx.kernels = pad, kernels
        kernels.relu_l1_forward(
            x.contiguous(memory_format=torch.channels_last),
            target if target.stride(1) == 1 and target.stride(3) == c
            else target.contiguous(memory_format=torch.channels_last),
            out, sign, padded, pad or 0)
        ctx.save_for_backward(sign)
        return out, None if pad is None else fill_border_(padded, pad)

    @staticmethod
    def backward(ctx, grad: Optional[Tensor], grad_relu: Optional[Tensor]):
        sign, = ctx.saved_tensors
        if grad is None and grad_relu is None:
            return None, None, None, None
        if grad_relu is not None:
            grad_relu = grad_relu.contiguous(memory_format=torch.channels_last)
        return ctx.kernels.relu_l1_backward(sign, grad, grad_relu,
                                            ctx.pad or 0), None, None, None


def relu_l1(x: Tensor, target: Tensor, pad: Optional[int],
            kernels) -> Tuple[Tensor, Optional[Tensor]]:
    """``(x.relu() - target.relu()).abs().mean(dim=1)`` and ``x.relu()`` in
    one pass of the CPU ``kernels`` over the maps; ``target`` gets no
    gradient. With ``pad`` None (the last layer) the relu output is None;
    otherwise it is returned replicate-padded by ``pad``, channels-last
    (N, C, H + 2p, W + 2p)."""
    return _ReluL1.apply(x, target.detach(), pad, kernels)


def kernel_terms(pred: Tensor, target: Tensor, valid: Tensor,
                  where: Optional[Tensor], edge_net: SemedaEdgeNet,
                  layer_weights: Sequence[float], ignore_index: Optional[int],
                  kernels) -> List[Tensor]:
    """:func:`_eager_terms` in the CPU kernels, equal to it (tested): image
    by image, so that the edge net's maps of one image at a time are alive
    (the class balance above is the batch's). The input of the first
    convolution, the probabilities through the class embedding if the net
    has one, is written replicate-padded and channels-last (on a CPU the
    first convolution runs 2-3x faster on that layout), so that each
    convolution runs without padding."""
    embed = edge_net.embed
    first_in = padded_softmax(
        pred, valid, None if embed is None else embed.weight.flatten(1),
        edge_net.kernel_size // 2, kernels)
    wheres = [None] * len(pred) if where is None else where.split(1)
    with torch.no_grad():  # the labels' tables, once per call
        table = edge_net.label_table()
        tables = (table, ) + (_second_layer_tables(edge_net, table)
                              if len(layer_weights) > 1 else ())
    parts = [_layer_terms(x, t, w, edge_net, layer_weights, ignore_index,
                          kernels, tables)
             for x, t, w in zip(first_in, target.split(1), wheres)]
    return [torch.cat(t) for t in zip(*parts)]


def _layer_terms(first_in: Tensor, target: Tensor, where: Optional[Tensor],
                 edge_net: SemedaEdgeNet, layer_weights: Sequence[float],
                 ignore_index: Optional[int], kernels,
                 tables: tuple) -> List[Tensor]:
    """:func:`kernel_terms` for one image, from the first convolution's
    input (:func:`padded_softmax`); the labels' layers from ``tables``: the
    first layer's lookup table, then, with two layers or more,
    :func:`_second_layer_tables`."""
    num_layers, pad = len(layer_weights), edge_net.kernel_size // 2
    if (where is not None and num_layers == 2
            and ACTIVATIONS[:2] == ('relu', 'relu')):
        # the default form (two layers, a band or class balance): both
        # layers only where the weighted terms need them, in one kernel
        return _masked_terms(first_in, target, where, edge_net, layer_weights,
                             ignore_index, kernels, tables)
    with torch.no_grad():  # relu(conv1(onehot)), padded, in one pass
        n, (h, w) = len(target), target.shape[-2:]
        gt_padded, gt = padded_buffer(
            first_in, (n, edge_net.conv1.out_channels, h, w), pad)
        ignore = -1 if ignore_index is None else ignore_index
        target = target.contiguous()
        kernels.labels_first_layer(target, tables[0], edge_net.conv1.bias,
                                   edge_net.kernel_size, ignore, [gt_padded],
                                   pad)
        fill_border_(gt_padded, pad)
        if num_layers > 1:
            # the second too, sparing uniform windows
            gt_next = kernels.labels_second_layer(target, [gt_padded],
                                                  *tables[1:], ignore)
    x, terms = first_in, []
    for i, lam in enumerate(layer_weights):
        more = i + 1 < num_layers  # (then layer i is a relu layer)
        with torch.no_grad():  # the labels' embedding, then their next layer
            if more and i:
                padded, inner = padded_buffer(gt, gt.shape, pad)
                gt = torch.clamp_min(gt, 0, out=inner)
                gt_next = edge_net.layer(i + 1, fill_border_(padded, pad),
                                         padded=True)
            elif ACTIVATIONS[i] != 'relu':  # (relu_l1 applies the relu)
                gt = activate(i, gt)
        conv = (edge_net.conv1, edge_net.conv2, edge_net.conv3)[i]
        if where is not None and not more and ACTIVATIONS[i] == 'relu':
            # the last layer's output counts only where its term is weighted
            pre = _MaskedConv.apply(x, conv.weight, conv.bias,
                                    where[0].float().contiguous(), kernels)
        else:
            pre = edge_net.layer(i, x, padded=True)
        if ACTIVATIONS[i] == 'relu':
            # activation, L1 and the next layer's padded input in one pass
            # (a zero-weight layer before the last one drops its term)
            term, x = relu_l1(pre, gt, pad if more else None, kernels)
        else:
            x = activate(i, pre)
            term = (x - gt).abs().mean(dim=1)
        # each layer's maps are let go once the next layer has its input
        del pre
        if more:
            gt = gt_next
        if lam:
            term = lam * term
            terms.append(term if where is None else term * where)
    return terms


class _MaskedConv(torch.autograd.Function):
    """A valid convolution of a padded channels-last map with frozen
    weights, computed by the CPU kernels only where ``mask`` (H, W) is not
    zero (0 elsewhere), and its input gradient only where a masked pixel's
    window reaches: the same gradient, since the one that reaches the
    output is zero off the mask."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, mask: Tensor,
                kernels) -> Tensor:
        ctx.save_for_backward(weight, mask)
        ctx.kernels = kernels
        return kernels.masked_conv(x, weight.permute(2, 3, 1, 0).contiguous(),
                                   bias, mask)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, mask = ctx.saved_tensors
        return ctx.kernels.masked_conv_backward(
            grad.contiguous(memory_format=torch.channels_last),
            weight.permute(2, 3, 0, 1).contiguous(), mask), None, None, None, \
            None


def _masked_terms(first_in: Tensor, target: Tensor, where: Tensor,
                  edge_net: SemedaEdgeNet, layer_weights: Sequence[float],
                  ignore_index: Optional[int], kernels,
                  tables: tuple) -> List[Tensor]:
    """:func:`_layer_terms` in the default form (two relu layers, a band or
    class balance, the CPU kernels): both layers only where the weighted
    terms need them, in :class:`_MaskedLayers`."""
    mask = where[0].float().contiguous()
    # the pixels whose first layer the second layer's weighted windows read
    # (the weighted pixels among them)
    reach = kernels.dilate_mask(mask, edge_net.kernel_size // 2)
    ignore = -1 if ignore_index is None else ignore_index
    layer_terms = _MaskedLayers.apply(first_in, edge_net.conv1.weight,
                                      edge_net.conv1.bias, reach, mask,
                                      target.contiguous(), tables, ignore,
                                      kernels)
    return [lam * term * where
            for lam, term in zip(layer_weights, layer_terms) if lam]


class _MaskedLayers(torch.autograd.Function):
    """The ReLU-L1 terms (1, H, W) of the edge net's first two layers,
    computed by the CPU kernels in one pass only where they count: the
    first layer where ``reach`` (H, W) is not zero (where the second reads
    it), the second where ``mask`` is not zero (0 elsewhere), prediction
    and labels alike, from the padded input ``x`` with frozen weights and
    the labels' ``tables`` (:func:`_second_layer_tables`); forward writes
    no map of either layer, a few rows of both first layers at a time in
    each thread. Backward keeps the int8 codes of both ReLU-L1s and takes
    each layer's input gradient where a weighted pixel's window reaches (the
    same gradient: it is zero elsewhere)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, reach: Tensor,
                mask: Tensor, target: Tensor, tables: tuple, ignore: int,
                kernels) -> Tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        term1, code1, term2, code2 = kernels.masked_two_layers(
            x, weight.permute(2, 3, 1, 0).contiguous(), bias, *tables,
            reach, mask, target, ignore)
        ctx.save_for_backward(code1, code2, weight, tables[1], reach, mask)
        ctx.kernels = kernels
        return term1, term2

    @staticmethod
    def backward(ctx, grad1: Optional[Tensor], grad2: Optional[Tensor]):
        code1, code2, weight1, weight2, reach, mask = ctx.saved_tensors
        grad_relu = None
        if grad2 is not None:  # the gradient of the first layer's relu
            grad_relu = ctx.kernels.masked_second_relu_l1_backward(
                code2, grad2, weight2.permute(0, 1, 3, 2).contiguous(), mask)
        if grad1 is None and grad_relu is None:
            return (None, ) * 9
        return ctx.kernels.masked_first_relu_l1_backward(
            code1, grad1, grad_relu, weight1.permute(2, 3, 0, 1).contiguous(),
            reach), *((None, ) * 8)


def _second_layer_tables(edge_net: SemedaEdgeNet,
                         table: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The second layer's weights (k, k, O1, O2) and bias, and its output
    before the relu on a window of one table index (C + 1, O2): the first
    layer's relu there is ``relu(bias1 + sum of the index's rows over the
    taps)``, the same at every tap."""
    conv2, k = edge_net.conv2, edge_net.kernel_size
    first = table.view(k * k, -1, table.shape[-1]).sum(0).add_(
        edge_net.conv1.bias).relu_()
    uniform = torch.addmm(conv2.bias, first, conv2.weight.sum((2, 3)).t())
    return conv2.weight.permute(2, 3, 1, 0).contiguous(), conv2.bias, uniform
