# Copyright (c) mmattn contributors. All rights reserved.
"""Box voting (HAR-Net Eq. 3 and the authors' variant) and mmcv's Gaussian
soft-NMS, against hand-worked numbers."""
import math

import pytest
import torch
from mmcv.ops import batched_nms
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmattn.detection.post_processing import (box_voting, box_voting_instances,
                                              validate_box_voting_cfg)

D = [0., 0., 10., 10.]


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def _vote(dets, det_scores, det_labels, cands, cand_scores, cand_labels, **kw):
    return box_voting(
        _t(dets), _t(det_scores), torch.tensor(det_labels), _t(cands),
        _t(cand_scores), torch.tensor(cand_labels), **kw)


# Detection D=[0,0,10,10] (0.9) with candidates:
#   its own copy          [0,0,10,10] 0.9  -> is D, votes once as D
#   C1 = [1,1,11,11] 0.6: inter 9*9=81, union 100+100-81=119, IoU 0.681
#   C2 = [0,0,10,20] 0.3: inter 100, union 200, IoU 0.5 < 0.6 -> no vote
# Voters D (0.9) and C1 (0.6):
#   box  = (0.9*[0,0,10,10] + 0.6*[1,1,11,11]) / 1.5 = [0.4,0.4,10.4,10.4]
#   max  = 0.9;  mean = 1.5/2 = 0.75;  mean_fixed(top_k=4) = 1.5/5 = 0.3
CANDS = [D, [1., 1., 11., 11.], [0., 0., 10., 20.]]
CAND_SCORES = [0.9, 0.6, 0.3]


@pytest.mark.parametrize('score_mode,top_k,expected_score',
                         [('max', None, 0.9), ('mean', None, 0.75),
                          ('mean_fixed', 4, 0.3)])
def test_two_voters_hand_worked(score_mode, top_k, expected_score):
    bboxes, scores = _vote([D], [0.9], [0],
                           CANDS,
                           CAND_SCORES, [0, 0, 0],
                           score_mode=score_mode,
                           top_k=top_k)
    assert torch.allclose(bboxes, _t([[0.4, 0.4, 10.4, 10.4]]), atol=1e-5)
    assert torch.allclose(scores, _t([expected_score]), atol=1e-6)


def test_detection_votes_even_if_not_among_candidates():
    # Same as above without D's copy: the result must not change.
    bboxes, scores = _vote([D], [0.9], [0],
                           CANDS[1:],
                           CAND_SCORES[1:], [0, 0],
                           score_mode='mean')
    assert torch.allclose(bboxes, _t([[0.4, 0.4, 10.4, 10.4]]), atol=1e-5)
    assert torch.allclose(scores, _t([0.75]), atol=1e-6)


def test_top_k_keeps_best_neighbours():
    # Add C3 = [0,0,11,11] 0.8: IoU 100/121 = 0.826. top_k=1 keeps C3 only:
    #   box = (0.9*[0,0,10,10] + 0.8*[0,0,11,11]) / 1.7
    #       = [0, 0, 17.8/1.7, 17.8/1.7] = [0, 0, 10.470588, 10.470588]
    #   mean = 1.7 / 2 = 0.85
    cands = CANDS + [[0., 0., 11., 11.]]
    bboxes, scores = _vote([D], [0.9], [0],
                           cands,
                           CAND_SCORES + [0.8], [0, 0, 0, 0],
                           score_mode='mean',
                           top_k=1)
    side = 17.8 / 1.7
    assert torch.allclose(bboxes, _t([[0, 0, side, side]]), atol=1e-5)
    assert torch.allclose(scores, _t([0.85]), atol=1e-6)


def test_max_takes_a_higher_neighbour_score():
    # A detection lowered to 0.5 (e.g. by soft-NMS) with neighbour C1 0.8:
    #   score = max(0.5, 0.8) = 0.8
    #   box = (0.5*[0,0,10,10] + 0.8*[1,1,11,11]) / 1.3
    #       = [0.8/1.3, 0.8/1.3, 13.8/1.3, 13.8/1.3]
    bboxes, scores = _vote([D], [0.5], [0], [[1., 1., 11., 11.]], [0.8], [0])
    lo, hi = 0.8 / 1.3, 13.8 / 1.3
    assert torch.allclose(bboxes, _t([[lo, lo, hi, hi]]), atol=1e-5)
    assert torch.allclose(scores, _t([0.8]), atol=1e-6)


def test_classes_do_not_vote_for_each_other():
    # C1's box, once as class 1: it must only vote for the class-1 detection
    # E = [1,1,11,11] (0.7)... which it is a copy of, so E stays as is, and
    # D (class 0) only gets the class-0 candidate C2' = [0,0,10,11] 0.5
    # (IoU 100/110 = 0.909):
    #   box = (0.9*[0,0,10,10] + 0.5*[0,0,10,11]) / 1.4
    #       = [0, 0, 10, (9 + 5.5) / 1.4] = [0, 0, 10, 10.357]
    #   mean = 1.4 / 2 = 0.7
    dets = [D, [1., 1., 11., 11.]]
    cands = [[1., 1., 11., 11.], [0., 0., 10., 11.]]
    bboxes, scores = _vote(
        dets, [0.9, 0.7], [0, 1], cands, [0.7, 0.5], [1, 0], score_mode='mean')
    expected = _t([[0, 0, 10, 14.5 / 1.4], [1, 1, 11, 11]])
    assert torch.allclose(bboxes, expected, atol=1e-5)
    assert torch.allclose(scores, _t([0.7, 0.7]), atol=1e-6)


def test_kept_detections_do_not_vote_for_each_other():
    # A = [0,0,10,10] 0.9 and B = [1,1,11,11] 0.5 (decayed; 0.7 before NMS)
    # are both kept; their copies are the only candidates: nothing changes,
    # in particular B does not take A's 0.9 under 'max'.
    dets = [D, [1., 1., 11., 11.]]
    bboxes, scores = _vote(dets, [0.9, 0.5], [0, 0], dets, [0.9, 0.7], [0, 0])
    assert torch.equal(bboxes, _t(dets))
    assert torch.allclose(scores, _t([0.9, 0.5]))


def test_exclusive_voting_keeps_a_soft_nms_duplicate_low():
    # Soft-NMS kept A = [0,0,10,10] at 0.9 and decayed its duplicate
    # B = [1,0,11,10] to 0.3. C = [0,0,10,11] (0.85) is a pre-NMS candidate
    # overlapping both (IoU(A, C) = 100/110, IoU(B, C) = 90/120 = 0.75).
    # Non-exclusive 'max': B takes C's 0.85 and becomes a second confident
    # box on the object. Exclusive (default): A consumes C, B keeps 0.3.
    dets = [D, [1., 0., 11., 10.]]
    cand = [[0., 0., 10., 11.]]
    _, shared = _vote(dets, [0.9, 0.3], [0, 0], cand, [0.85], [0],
                      exclusive=False)
    assert torch.allclose(shared, _t([0.9, 0.85]))
    _, excl = _vote(dets, [0.9, 0.3], [0, 0], cand, [0.85], [0])
    assert torch.allclose(excl, _t([0.9, 0.3]))


def test_exclusive_gives_a_candidate_to_the_best_detection_only():
    # A = [0,0,10,10] 0.9, B = [2,0,12,10] 0.8, C = [1,0,11,10] 0.6.
    # IoU(A, C) = IoU(B, C) = 90 / 110 = 0.818.
    # exclusive: C votes for A only:
    #   A = (0.9*[0,0,10,10] + 0.6*[1,0,11,10]) / 1.5 = [0.4, 0, 10.4, 10]
    #   B unchanged
    # shared: C also votes for B:
    #   B = (0.8*[2,0,12,10] + 0.6*[1,0,11,10]) / 1.4
    #     = [2.2/1.4, 0, 16.2/1.4, 10]
    dets = [D, [2., 0., 12., 10.]]
    cand = [[1., 0., 11., 10.]]
    excl, _ = _vote(dets, [0.9, 0.8], [0, 0], cand, [0.6], [0], exclusive=True)
    shared, _ = _vote(
        dets, [0.9, 0.8], [0, 0], cand, [0.6], [0], exclusive=False)
    default, _ = _vote(dets, [0.9, 0.8], [0, 0], cand, [0.6], [0])
    assert torch.equal(default, excl)  # exclusive is the default
    a_voted = _t([0.4, 0, 10.4, 10])
    assert torch.allclose(excl, torch.stack([a_voted, _t(dets[1])]), atol=1e-5)
    assert torch.allclose(
        shared,
        torch.stack([a_voted, _t([2.2 / 1.4, 0, 16.2 / 1.4, 10])]),
        atol=1e-5)


def test_mean_fixed_without_neighbours_keeps_score():
    bboxes, scores = _vote([D], [0.9], [0], [[50., 50., 60., 60.]], [0.8], [0],
                           score_mode='mean_fixed',
                           top_k=4)
    assert torch.equal(bboxes, _t([D]))
    assert torch.allclose(scores, _t([0.9]))


def test_empty_inputs():
    empty4 = torch.zeros((0, 4))
    empty = torch.zeros((0, ))
    no_label = torch.zeros((0, ), dtype=torch.long)
    bboxes, scores = box_voting(empty4, empty, no_label, _t(CANDS),
                                _t(CAND_SCORES), torch.tensor([0, 0, 0]))
    assert bboxes.shape == (0, 4) and scores.shape == (0, )
    bboxes, scores = box_voting(
        _t([D]), _t([0.9]), torch.tensor([0]), empty4, empty, no_label)
    assert torch.equal(bboxes, _t([D])) and torch.equal(scores, _t([0.9]))


@pytest.mark.parametrize('bad', [0, 0.0, -0.1, 1.5, '0.6', True, None])
def test_bad_iou_thr_names_the_value(bad):
    with pytest.raises(ValueError, match=repr(bad).replace('.', r'\.')):
        _vote([D], [0.9], [0], CANDS, CAND_SCORES, [0, 0, 0], iou_thr=bad)
    with pytest.raises(ValueError, match='iou_thr'):
        validate_box_voting_cfg(dict(iou_thr=bad))


def test_iou_thr_one_is_allowed():
    # Only exact copies reach IoU 1, and copies are the detection itself.
    bboxes, scores = _vote([D], [0.9], [0],
                           CANDS,
                           CAND_SCORES, [0, 0, 0],
                           iou_thr=1.0,
                           score_mode='mean')
    assert torch.equal(bboxes, _t([D])) and torch.allclose(scores, _t([0.9]))


def test_validate_box_voting_cfg():
    assert validate_box_voting_cfg(None) is None
    assert validate_box_voting_cfg({}) == dict(
        iou_thr=0.6, score_mode='max', top_k=None, exclusive=True)
    authors = validate_box_voting_cfg(
        dict(score_mode='mean_fixed', top_k=4, exclusive=True))
    assert authors['iou_thr'] == 0.6 and authors['top_k'] == 4
    with pytest.raises(ValueError, match='iou_threshold'):
        validate_box_voting_cfg(dict(iou_threshold=0.5))
    with pytest.raises(ValueError, match="'median'"):
        validate_box_voting_cfg(dict(score_mode='median'))
    with pytest.raises(ValueError, match='top_k=None'):
        validate_box_voting_cfg(dict(score_mode='mean_fixed'))
    with pytest.raises(ValueError, match='0'):
        validate_box_voting_cfg(dict(top_k=0))
    with pytest.raises(TypeError, match="'yes'"):
        validate_box_voting_cfg(dict(exclusive='yes'))
    with pytest.raises(TypeError, match='0.6'):
        validate_box_voting_cfg(0.6)


def test_box_voting_instances_keeps_other_fields():
    dets = InstanceData(
        bboxes=_t([D]), scores=_t([0.9]), labels=torch.tensor([0]))
    dets.extra = torch.tensor([7])
    cands = InstanceData(
        bboxes=_t(CANDS),
        scores=_t(CAND_SCORES),
        labels=torch.tensor([0, 0, 0]))
    voted = box_voting_instances(dets, cands, score_mode='mean')
    assert torch.allclose(voted.bboxes, _t([[0.4, 0.4, 10.4, 10.4]]))
    assert torch.allclose(voted.scores, _t([0.75]))
    assert voted.extra.item() == 7
    assert torch.equal(dets.bboxes, _t([D]))  # input untouched


# --------------------------------------------------------------------------
# Soft-NMS through mmcv's batched_nms, as mmdet's heads call it
# --------------------------------------------------------------------------
# A = [0,0,10,10] 0.9, B = [0,0,10,5] 0.8, C = [20,20,30,30] 0.7, one class.
# IoU(A, B) = 50 / 100 = 0.5; C overlaps nothing.
# Gaussian (sigma 0.5): B -> 0.8 * exp(-0.5**2 / 0.5) = 0.8 * exp(-0.5)
#                          = 0.485225
SOFT_BOXES = [[0., 0., 10., 10.], [0., 0., 10., 5.], [20., 20., 30., 30.]]
SOFT_SCORES = [0.9, 0.8, 0.7]


def test_gaussian_soft_nms_decays_by_exp_iou_squared_over_sigma():
    nms_cfg = dict(
        type='soft_nms',
        iou_threshold=0.5,
        sigma=0.5,
        min_score=1e-3,
        method='gaussian')
    dets, keep = batched_nms(
        _t(SOFT_BOXES), _t(SOFT_SCORES), torch.tensor([0, 0, 0]), nms_cfg)
    decayed = 0.8 * math.exp(-0.5**2 / 0.5)
    assert keep.tolist() == [0, 2, 1]
    assert torch.allclose(dets[:, -1], _t([0.9, 0.7, decayed]), atol=1e-5)
    assert torch.allclose(dets[:, :4], _t(SOFT_BOXES)[keep])
    # A different class is never decayed.
    dets, keep = batched_nms(
        _t(SOFT_BOXES), _t(SOFT_SCORES), torch.tensor([0, 1, 0]), nms_cfg)
    assert torch.allclose(dets[:, -1], _t([0.9, 0.8, 0.7]), atol=1e-6)


def test_soft_nms_default_method_is_linear():
    # Without method='gaussian' mmcv decays linearly: s * (1 - IoU) when
    # IoU > iou_threshold. With iou_threshold 0.3: B -> 0.8 * 0.5 = 0.4.
    dets, _ = batched_nms(
        _t(SOFT_BOXES), _t(SOFT_SCORES), torch.tensor([0, 0, 0]),
        dict(type='soft_nms', iou_threshold=0.3, min_score=1e-3))
    assert torch.allclose(dets[:, -1], _t([0.9, 0.7, 0.4]), atol=1e-5)


def test_soft_nms_through_a_retina_head_post_process():
    from mmdet.models.dense_heads import RetinaHead
    test_cfg = ConfigDict(
        nms_pre=100,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(
            type='soft_nms',
            iou_threshold=0.5,
            sigma=0.5,
            min_score=0.05,
            method='gaussian'),
        max_per_img=100)
    head = RetinaHead(
        num_classes=2,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        test_cfg=test_cfg)
    results = InstanceData(
        bboxes=_t(SOFT_BOXES),
        scores=_t(SOFT_SCORES),
        labels=torch.tensor([0, 0, 0]))
    out = head._bbox_post_process(
        results, test_cfg, rescale=False, with_nms=True, img_meta={})
    decayed = 0.8 * math.exp(-0.5)
    assert torch.allclose(out.scores, _t([0.9, 0.7, decayed]), atol=1e-5)
    assert out.labels.tolist() == [0, 0, 0]
