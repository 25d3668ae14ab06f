import pytest
import torch

from mmseg_semeda import SobelEdgeLoss, sobel_edge_loss
from mmseg_semeda.edges import onehot
from mmseg_semeda.models.losses.sobel_loss import sobel_magnitude


def test_sobel_magnitude_of_a_step():
    x = torch.zeros(1, 1, 5, 5)
    x[..., 3:] = 1
    mag = sobel_magnitude(x, eps=0.0)
    # The Sobel x kernel over a unit step gives 1 + 2 + 1 = 4 at the step.
    assert torch.allclose(mag[0, 0, :, 2], torch.full((5, ), 4.0))
    assert torch.allclose(mag[0, 0, :, 3], torch.full((5, ), 4.0))
    assert mag[0, 0, :, [0, 4]].abs().max() == 0


def test_confident_correct_is_near_zero_and_shift_is_not():
    gt = torch.zeros(1, 16, 16, dtype=torch.long)
    gt[:, 4:12, 4:12] = 1
    shifted = torch.roll(gt, 2, dims=1)
    good = sobel_edge_loss(onehot(gt, 2, 255) * 30, gt)
    bad = sobel_edge_loss(onehot(shifted, 2, 255) * 30, gt)
    assert good.item() < 1e-3 and bad.item() > 0.1


def test_ignore_invariance_and_module():
    torch.manual_seed(0)
    target = torch.randint(0, 3, (2, 10, 10))
    target[:, 2:5] = 255
    logits = torch.randn(2, 3, 10, 10)
    other = logits.clone()
    other[:, :, 2:5] = 40 * torch.randn(2, 3, 3, 10)
    assert torch.equal(sobel_edge_loss(logits, target),
                       sobel_edge_loss(other, target))
    module = SobelEdgeLoss(loss_weight=2.0)
    torch.testing.assert_close(module(logits, target),
                               2 * sobel_edge_loss(logits, target))
    assert module.loss_name == 'loss_sobel'


def test_all_ignore_is_zero():
    logits = torch.randn(1, 3, 6, 6, requires_grad=True)
    loss = sobel_edge_loss(logits, torch.full((1, 6, 6), 255))
    assert loss.item() == 0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_errors():
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        sobel_edge_loss(torch.randn(3, 6, 6), torch.zeros(1, 6, 6).long())
    with pytest.raises(ValueError, match=r'in \[0, 3\)'):
        sobel_edge_loss(torch.randn(1, 3, 6, 6), torch.full((1, 6, 6), 7))
