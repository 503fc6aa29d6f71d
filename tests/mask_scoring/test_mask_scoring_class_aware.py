# Copyright (c) mmattn contributors. All rights reserved.
"""The class-aware ground-truth AC (the second "true quality" of the
benchmark) against hand-worked label maps."""
import numpy as np
import pytest
import torch

from mmattn.segmentation.mask_scoring import (accuracy_score,
                                              binary_foreground,
                                              class_aware_accuracy_score,
                                              class_aware_fmeasure,
                                              paper_fmeasure)

# 2x3 maps. GT: class 1 on the top-left pair, class 2 on the bottom-left.
GT = np.array([[1, 1, 0],
               [2, 2, 0]])


@pytest.mark.parametrize(
    'proxy, expected',
    [
        # identical: TP=4, |H|=4, |HuB|=4 -> 8/8
        (GT, 1.0),
        # one pixel of object 1 labelled 2, one spurious pixel of class 1:
        # B = 5 px, H = 4 px, HuB = 5 px; classes agree on (0,0), (1,0),
        # (1,1) -> TP = 3 -> F = 2*3/(4+5) = 2/3
        # (class-agnostic: |HnB| = 4 -> 8/9)
        ([[1, 2, 0], [2, 2, 1]], 2 / 3),
        # classes swapped everywhere: the binary masks agree but TP = 0
        ([[2, 2, 0], [1, 1, 0]], 0.0),
        # half the foreground missed, the rest right: TP=2, |H|=4,
        # |HuB|=4 -> 4/8
        ([[1, 1, 0], [0, 0, 0]], 0.5),
        # empty proxy: TP = 0 -> 0
        ([[0, 0, 0], [0, 0, 0]], 0.0),
    ])
def test_class_aware_fmeasure_hand_worked(proxy, expected):
    proxy = np.asarray(proxy)
    assert class_aware_fmeasure(proxy, GT) == pytest.approx(expected,
                                                            abs=1e-12)
    got = class_aware_fmeasure(torch.from_numpy(proxy), torch.from_numpy(GT))
    assert isinstance(got, torch.Tensor) and got.shape == ()
    assert float(got) == pytest.approx(expected, abs=1e-6)


def test_class_aware_differs_from_class_agnostic_only_by_class_errors():
    proxy = np.array([[1, 2, 0], [2, 2, 1]])
    agnostic = paper_fmeasure(binary_foreground(proxy), binary_foreground(GT))
    assert agnostic == pytest.approx(8 / 9)
    assert class_aware_fmeasure(proxy, GT) == pytest.approx(2 / 3)
    # A foreground pixel of the wrong class *outside* H is a spurious pixel
    # in both measures, not a class error: same value.
    proxy = np.array([[1, 1, 3], [2, 2, 0]])
    assert class_aware_fmeasure(proxy, GT) == pytest.approx(
        paper_fmeasure(binary_foreground(proxy), binary_foreground(GT)))


def test_ignore_pixels_and_both_empty():
    gt = np.array([[1, 255, 0], [0, 0, 0]])
    # The proxy pixel under the ignore label is not counted at all:
    # B n V = {(0,0)}, H = {(0,0)} -> 1
    assert class_aware_fmeasure(np.array([[1, 1, 0], [0, 0, 0]]), gt) == 1.0
    # ... and a wrong class there is not an error either.
    assert class_aware_fmeasure(np.array([[1, 3, 0], [0, 0, 0]]), gt) == 1.0
    empty = np.zeros((2, 3), int)
    assert class_aware_fmeasure(empty, empty) == 1.0
    assert class_aware_fmeasure(empty, empty, both_empty=0.5) == 0.5


def test_equals_the_paper_truth_without_class_errors():
    # Random maps whose classes agree wherever both are foreground: the
    # class-aware AC equals the paper's class-agnostic AC against GT,
    # objectness factor included, batch and all.
    rng = np.random.default_rng(0)
    n, h, w = 6, 20, 24
    gt = rng.integers(0, 4, (n, h, w))
    gt[:, 3:6, :] = 255
    keep = rng.random((n, h, w)) < 0.7
    proxy = np.where(keep, gt, 0)
    proxy[proxy == 255] = 2  # any label under ignore pixels
    spurious = (gt == 0) & (rng.random((n, h, w)) < 0.2)
    proxy[spurious] = 3
    images = rng.integers(0, 255, (n, h, w, 3)).astype(np.uint8)
    expected = accuracy_score(binary_foreground(proxy),
                              binary_foreground(gt), images,
                              valid=gt != 255)
    got = class_aware_accuracy_score(proxy, gt, images)
    assert got.shape == (n, )
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.ptp(got) > 0.01
    # Now corrupt classes inside GT: strictly lower wherever it happened.
    wrong = (gt == 1) & (proxy == 1)
    proxy[wrong] = 2
    lower = class_aware_accuracy_score(proxy, gt, images)
    changed = wrong.reshape(n, -1).any(1)
    assert changed.all()
    assert np.all(lower < expected - 1e-6)
    # torch path agrees (float32)
    got_t = class_aware_accuracy_score(
        torch.from_numpy(proxy), torch.from_numpy(gt),
        torch.from_numpy(images).permute(0, 3, 1, 2))
    np.testing.assert_allclose(got_t.numpy(), lower, rtol=1e-5, atol=1e-6)


def test_objectness_factor_and_bad_input():
    rng = np.random.default_rng(1)
    gt = np.zeros((12, 12), int)
    gt[3:9, 3:9] = 1
    proxy = gt.copy()
    proxy[3:5, 3:9] = 2
    image = rng.integers(0, 255, (12, 12, 3)).astype(np.uint8)
    f = class_aware_fmeasure(proxy, gt)
    # TP = 24 of 36, |H| = |HuB| = 36 -> 48/72
    assert f == pytest.approx(2 / 3)
    assert class_aware_accuracy_score(proxy, gt) == pytest.approx(f)
    assert class_aware_accuracy_score(proxy, gt, image, b=0) == \
        pytest.approx(f)
    with_image = class_aware_accuracy_score(proxy, gt, image, b=0.1)
    obj = accuracy_score(binary_foreground(proxy), binary_foreground(gt),
                         image) / 1.0  # F = 1 for the binary masks
    assert with_image == pytest.approx(f * obj)
    with pytest.raises(ValueError, match='shape'):
        class_aware_fmeasure(proxy, gt[:10])
    with pytest.raises(ValueError, match='b must be'):
        class_aware_accuracy_score(proxy, gt, image, b=-1)
    with pytest.raises(TypeError, match='one kind'):
        class_aware_fmeasure(torch.from_numpy(proxy), gt)
