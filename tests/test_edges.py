import numpy as np
import pytest
import torch

from mmseg_semeda import semantic_edges


def brute_force_edges(label, ignore_index=None):
    """Direct 8-neighbour rule with replicate border, pixel by pixel."""
    label = np.asarray(label)
    h, w = label.shape
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy = min(max(y + dy, 0), h - 1)
                    xx = min(max(x + dx, 0), w - 1)
                    out[y, x] |= label[yy, xx] != label[y, x]
    if ignore_index is not None:
        out &= label != ignore_index
    return out


def test_vertical_boundary_marks_both_sides():
    label = torch.tensor([[0, 0, 0, 1, 1]] * 4)
    expected = torch.tensor([[0, 0, 1, 1, 0]] * 4, dtype=torch.bool)
    assert torch.equal(semantic_edges(label), expected)


def test_single_pixel_marks_its_8_neighbourhood():
    label = torch.zeros(5, 5, dtype=torch.long)
    label[2, 2] = 3
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[1:4, 1:4] = True
    assert torch.equal(semantic_edges(label), expected)


def test_diagonal_neighbour_counts():
    label = torch.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    edges = semantic_edges(label)
    assert edges[0, 0] and edges[1, 1]  # diagonal pair
    assert not edges[2, 2] and not edges[0, 2]


def test_border_creates_no_edges():
    label = torch.full((4, 6), 7)
    assert not semantic_edges(label).any()
    # A class touching the border: only the pixels at the class change.
    label[:, :2] = 1
    assert semantic_edges(label)[:, [1, 2]].all()
    assert not semantic_edges(label)[:, [0, 3, 4, 5]].any()


def test_ignore_pixels_are_never_edges_but_mark_their_neighbours():
    label = torch.tensor([[0, 0, 255, 255]] * 3)
    edges = semantic_edges(label, ignore_index=255)
    assert torch.equal(edges, torch.tensor([[0, 1, 0, 0]] * 3,
                                           dtype=torch.bool))
    # Without ignore_index the void pixels are an ordinary label.
    assert semantic_edges(label)[:, 2].all()


@pytest.mark.parametrize('ignore_index', [None, 255])
def test_matches_brute_force_on_random_maps(ignore_index):
    rng = np.random.default_rng(0)
    for _ in range(5):
        label = rng.integers(0, 3, (9, 11))
        label[rng.random((9, 11)) < 0.1] = 255
        expected = brute_force_edges(label, ignore_index)
        assert np.array_equal(semantic_edges(label, ignore_index), expected)
        got = semantic_edges(torch.from_numpy(label)[None], ignore_index)[0]
        assert np.array_equal(got.numpy(), expected)


def test_batch_and_numpy_forms():
    label = np.array([[[0, 1], [1, 1]], [[2, 2], [2, 2]]], dtype=np.uint8)
    edges = semantic_edges(label)
    assert isinstance(edges, np.ndarray) and edges.dtype == bool
    assert edges.shape == (2, 2, 2)
    assert edges[0].all() and not edges[1].any()


@pytest.mark.parametrize('bad, err, match', [
    (torch.zeros(2, 2, 2, 2, dtype=torch.long), ValueError, r'\(N, H, W\)'),
    (torch.zeros(3, 3), TypeError, 'integer'),
    ([[0, 1]], TypeError, 'torch.Tensor or np.ndarray'),
])
def test_bad_input(bad, err, match):
    with pytest.raises(err, match=match):
        semantic_edges(bad)


@pytest.mark.parametrize('radius', [0, 1, 2, 3, 7])
def test_dilate_matches_the_chebyshev_distance(radius):
    from mmseg_semeda.edges import dilate
    g = torch.Generator().manual_seed(radius)
    mask = torch.rand(2, 9, 13, generator=g) < 0.05
    ys, xs = torch.meshgrid(torch.arange(9), torch.arange(13), indexing='ij')
    expected = torch.zeros_like(mask)
    for n, y, x in mask.nonzero().tolist():
        expected[n] |= ((ys - y).abs().maximum((xs - x).abs()) <= radius)
    assert torch.equal(dilate(mask, radius), expected)
    assert torch.equal(dilate(mask[0], radius), expected[0])  # (H, W) too


@pytest.mark.parametrize('shape', [(2, 17, 23), (1, 1, 5), (3, 4, 1)])
def test_the_few_launch_forms_equal_the_cpu_forms(monkeypatch, shape):
    """Off the CPU the edges and bands are max pools (a few kernels); on a
    CPU shifted comparisons: the same maps."""
    from mmseg_semeda import edges
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 3, shape, generator=g)
    label[..., :1, :2] = 255
    want = {i: edges.boundary_bands(label, (1, 2, 3, 6), i)
            for i in (None, 255)}
    monkeypatch.setattr(edges, 'few_launches', lambda t: True)
    for i in (None, 255):
        got = edges.boundary_bands(label, (1, 2, 3, 6), i)
        for w in got:
            assert torch.equal(got[w], want[i][w]), (i, w)
