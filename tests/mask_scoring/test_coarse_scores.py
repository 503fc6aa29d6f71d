# Copyright (c) mmattn contributors. All rights reserved.
"""AC, CD, SC, SF (SAL Eq. 3-5, 7) against hand-worked masks."""
import math

import numpy as np
import pytest
import torch

from mmattn.segmentation.mask_scoring import (accuracy_score,
                                              binary_foreground,
                                              check_label_map,
                                              class_distribution,
                                              coarse_score, coarse_scores,
                                              edge_objectness, fine_score,
                                              paper_fmeasure)


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


# 4x4 masks; |.| counts pixels.
H4 = box(4, 4, 0, 2, 0, 2)  # 4 px
EMPTY = np.zeros((4, 4), bool)
FULL = np.ones((4, 4), bool)


@pytest.mark.parametrize(
    'mask, ref, expected',
    [
        # identical: |HnB|=4, |H|=4, |HuB|=4 -> prec=1, rec=1 -> F=1
        (H4, H4, 1.0),
        # disjoint: |HnB|=0 -> prec=rec=0 -> F=0 (the 0/0 limit)
        (box(4, 4, 2, 4, 2, 4), H4, 0.0),
        # B inside H: |HnB|=2, |H|=4, |HuB|=4 -> prec=.5, rec=.5 -> F=.5
        (box(4, 4, 0, 1, 0, 2), H4, 0.5),
        # H inside B: |HnB|=2, |H|=2, |HuB|=4 -> prec=1, rec=.5
        #   -> F = 2*1*.5/(1+.5) = 2/3
        (H4, box(4, 4, 0, 1, 0, 2), 2 / 3),
        # full B: |HnB|=4, |H|=4, |HuB|=16 -> prec=1, rec=.25 -> F=.4
        (FULL, H4, 0.4),
        # both empty: defined as 1 (agreement that there is no object)
        (EMPTY, EMPTY, 1.0),
        # B empty, H not: |HnB|=0 -> 0
        (EMPTY, H4, 0.0),
        # H empty, B not: prec = 0/0 but rec = 0/4 = 0 -> 0
        (H4, EMPTY, 0.0),
    ])
def test_paper_fmeasure_hand_worked(mask, ref, expected):
    assert paper_fmeasure(mask, ref) == pytest.approx(expected, abs=1e-12)
    got = paper_fmeasure(torch.from_numpy(mask), torch.from_numpy(ref))
    assert isinstance(got, torch.Tensor) and got.shape == ()
    assert float(got) == pytest.approx(expected, abs=1e-6)


def test_paper_fmeasure_is_not_dice():
    # Dice is symmetric; the paper's prec/rec are not: B inside H (.5) vs
    # H inside B (2/3) above. Dice would give 2*2/(4+2) = 2/3 for both.
    small = box(4, 4, 0, 1, 0, 2)
    assert paper_fmeasure(small, H4) != paper_fmeasure(H4, small)


def test_paper_fmeasure_valid_pixels_and_batch():
    # Ignore the right half: B = cols 0..3 row 0 (4 px) -> 2 valid px,
    # H = H4 -> 4 valid px (all in cols 0..1). |HnB|=2, |H|=4, |HuB|=4
    # -> .5
    valid = box(4, 4, 0, 4, 0, 2)
    b = box(4, 4, 0, 1, 0, 4)
    assert paper_fmeasure(b, H4, valid=valid) == pytest.approx(0.5)
    # Batched: leading dims are kept.
    batch_b = np.stack([H4, EMPTY, FULL])
    batch_h = np.stack([H4, H4, H4])
    np.testing.assert_allclose(paper_fmeasure(batch_b, batch_h),
                               [1.0, 0.0, 0.4])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='shape'):
        paper_fmeasure(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(TypeError, match='numpy'):
        paper_fmeasure(H4, torch.from_numpy(H4))


def square_image():
    """8x8 grey image, a bright 4x4 square at rows/cols 2..5."""
    img = np.zeros((8, 8), np.float64)
    img[2:6, 2:6] = 1.0
    return img


def test_edge_objectness_hand_worked():
    # Central differences: an edge pixel of the square has |grad| = .5
    # (one axis), a corner sqrt(.5) (both axes); the 16 outside
    # 4-neighbours of the square also have .5, everything else 0.
    # mean |grad| = (4 sqrt(.5) + 8 * .5 + 16 * .5) / 64.
    mean = (4 * math.sqrt(.5) + 24 * .5) / 64
    corner = math.sqrt(.5) / (math.sqrt(.5) + mean)
    # Every one of the 12 inner-boundary pixels has a corner in its 3x3
    # neighbourhood, so after the max filter each scores `corner`.
    img = square_image()
    mask = box(8, 8, 2, 6, 2, 6)
    got = edge_objectness(mask, img, channel_axis=False)
    assert got == pytest.approx(corner, rel=1e-9)
    # AC = F * obj ** b with F = 1 (B == H).
    ac = accuracy_score(mask, mask, img, b=0.1, channel_axis=False)
    assert ac == pytest.approx(corner**0.1, rel=1e-9)
    # Colour HWC and torch CHW give the same.
    rgb = np.repeat(img[..., None], 3, axis=2)
    assert edge_objectness(mask, rgb) == pytest.approx(corner, rel=1e-9)
    t = edge_objectness(torch.from_numpy(mask),
                        torch.from_numpy(rgb).permute(2, 0, 1))
    assert float(t) == pytest.approx(corner, rel=1e-5)


def test_edge_objectness_edge_cases():
    img = square_image()
    # A mask whose whole boundary lies in a flat region (3+ px from the
    # square's edges) finds no edge: 0, clipped to min_objectness.
    big = np.zeros((16, 16))
    big[2:6, 2:6] = 1.0
    off = box(16, 16, 10, 14, 10, 14)
    assert edge_objectness(off, big, channel_axis=False) == 0.01
    # Flat image: no edges anywhere -> clipped to min_objectness; AC then
    # = F * 0.01 ** 0.1.
    flat = np.zeros((8, 8))
    mask = box(8, 8, 2, 6, 2, 6)
    assert edge_objectness(mask, flat, channel_axis=False) == 0.01
    assert accuracy_score(mask, mask, flat, channel_axis=False) == \
        pytest.approx(0.01**0.1)
    # Empty and full masks have no boundary -> neutral 1.
    assert edge_objectness(np.zeros((8, 8), bool), img,
                           channel_axis=False) == 1.0
    assert edge_objectness(np.ones((8, 8), bool), img,
                           channel_axis=False) == 1.0
    with pytest.raises(ValueError, match='min_objectness'):
        edge_objectness(mask, img, channel_axis=False, min_objectness=0)
    # No image: AC is the F-measure alone.
    assert accuracy_score(H4, H4) == 1.0


def test_class_distribution_hand_worked():
    labels = np.array([[1, 1, 0, 0],
                       [1, 2, 0, 255],
                       [0, 0, 0, 0],
                       [0, 0, 0, 0]])
    tags = np.zeros(20)
    tags[0] = 1  # class 1 tagged, class 2 not
    # B = 4 foreground px (255 is not foreground); 3 of them are class 1
    # -> CD = 3/4
    assert class_distribution(labels, tags) == pytest.approx(0.75)
    # Both classes tagged -> 4/4
    tags2 = tags.copy()
    tags2[1] = 1
    assert class_distribution(labels, tags2) == 1.0
    # No tag matches -> 0/4
    assert class_distribution(labels, np.zeros(20)) == 0.0
    # Empty B -> defined as 1
    assert class_distribution(np.zeros((4, 4), int), tags) == 1.0
    # Batched, and torch agrees.
    batch = np.stack([labels, np.zeros((4, 4), int), labels])
    batch_tags = np.stack([tags, tags, tags2])
    np.testing.assert_allclose(class_distribution(batch, batch_tags),
                               [0.75, 1.0, 1.0])
    t = class_distribution(torch.from_numpy(batch),
                           torch.from_numpy(batch_tags))
    np.testing.assert_allclose(t.numpy(), [0.75, 1.0, 1.0])
    with pytest.raises(ValueError, match='tags'):
        class_distribution(batch, tags)


def test_sc_and_sf():
    # SC = AC * CD (Eq. 5), SF = P * CD (Eq. 7)
    assert coarse_score(0.8, 0.5) == pytest.approx(0.4)
    assert fine_score(0.9, 0.5) == pytest.approx(0.45)
    # P is clipped to [0, 1] first (ReLU output may exceed 1)
    assert fine_score(1.3, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match='CD'):
        coarse_score(0.5, 1.5)
    labels = np.zeros((4, 4), int)
    labels[:2, :2] = 1
    labels[0, 0] = 2
    tags = np.zeros(20)
    tags[0] = 1
    # B = H4 -> F = 1; no image -> AC = 1; CD = 3/4 -> SC = .75
    out = coarse_scores(labels, H4, tags)
    assert out['AC'] == 1.0 and out['CD'] == 0.75 and out['SC'] == 0.75


def test_label_checks():
    assert binary_foreground(np.array([[0, 1, 255]])).tolist() == \
        [[False, True, False]]
    check_label_map(np.array([0, 20, 255]), 21)
    with pytest.raises(ValueError, match='my.png.*21'):
        check_label_map(np.array([0, 21]), 21, name='my.png')


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    n, h, w = 5, 24, 20
    yy, xx = np.mgrid[:h, :w]
    masks, refs = [], []
    for k in range(n):
        cy, cx, r = rng.integers(4, 18), rng.integers(4, 16), 3 + k
        masks.append((yy - cy)**2 + (xx - cx)**2 <= r * r)
        refs.append((yy - cy - 1)**2 + (xx - cx)**2 <= (r + 1)**2)
    masks, refs = np.stack(masks), np.stack(refs)
    images = rng.integers(0, 255, (n, h, w, 3)).astype(np.uint8)
    images[masks] = 255
    labels = masks * rng.integers(1, 4, (n, h, w))
    tags = (rng.random((n, 20)) > 0.5).astype(np.float32)
    ac_np = accuracy_score(masks, refs, images)
    ac_t = accuracy_score(
        torch.from_numpy(masks), torch.from_numpy(refs),
        torch.from_numpy(images).permute(0, 3, 1, 2))
    assert ac_np.shape == (n, ) and ac_t.shape == (n, )
    np.testing.assert_allclose(ac_t.numpy(), ac_np, rtol=1e-5, atol=1e-6)
    cd_np = class_distribution(labels, tags)
    cd_t = class_distribution(torch.from_numpy(labels),
                              torch.from_numpy(tags))
    np.testing.assert_allclose(cd_t.numpy(), cd_np, rtol=1e-6)
    # Not all equal: the test would not catch a constant function.
    assert np.ptp(ac_np) > 0.05
