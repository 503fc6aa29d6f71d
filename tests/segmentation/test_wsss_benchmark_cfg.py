# Copyright (c) mmattn contributors. All rights reserved.
"""The WSSS benchmark's parts: its retraining variants are the selection
benchmark's (same configs and overrides), its classifier's backbone is the
one the segmenters are initialised from, and the pseudo labels are scored
as mmseg's IoUMetric scores, on the pixels a proxy labels."""
import importlib.util
import os.path as osp
import sys

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def bench():
    path = osp.join(REPO_ROOT, 'benchmarks', 'wsss_benchmark.py')
    spec = importlib.util.spec_from_file_location('mmattn_bench_wsss', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop('sal_selection_benchmark', None)


def test_retraining_variants_are_the_selection_benchmarks(bench, tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    sargs = bench.seg_args(args, seed=2)
    assert (sargs.img_size, sargs.iters, sargs.num_classes) == (
        args.img_size, args.seg_iters, args.num_classes)
    assert sargs.keep_fraction == args.keep_fraction
    assert sargs.work_dir == str(tmp_path / 'seed2' / 'seg')
    sel = {'SF': dict(score_file=str(tmp_path / 'fine.json'), tau=0.7,
                      key='SF', rule='keep-fraction 0.5')}
    built = {
        name: bench.sal_bench.build_cfg(variant, sargs, str(tmp_path), sel,
                                        backbone='b.pth')
        for name, variant in bench.SEG_VARIANTS.items()
    }
    masks = {name: cfg.train_dataloader.dataset.data_prefix.seg_map_path
             for name, cfg in built.items()}
    assert masks == dict(CE='SegmentationClassProxy',
                         SAL='SegmentationClassProxy',
                         GT='SegmentationClass')
    sal = built['SAL'].model.decode_head
    assert sal.cls_branch is not None and sal.loss_attention is not None
    assert sal.loss_decode.tau == 0.7
    assert built['SAL'].train_dataloader.dataset.score_file == \
        str(tmp_path / 'fine.json')
    for name in ('CE', 'GT'):
        assert built[name].train_dataloader.dataset.get('score_file') is None
    for cfg in built.values():
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                                   checkpoint='b.pth')


def test_classifier_backbone_initialises_every_segmenter(bench, tmp_path):
    """The classifier pretrained on tags is what every segmenter starts
    from: its backbone's state dict has the segmenters' keys and shapes."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    cam = MODELS.build(bench.cam_config(args, str(tmp_path), 10).model)
    sal = MODELS.build(
        bench.sal_bench.build_cfg('P5', bench.seg_args(args, 1),
                                  str(tmp_path), {
                                      'SF': dict(score_file='s.json',
                                                 tau=0.5, key='SF',
                                                 rule='r')
                                  }, backbone=None).model)
    cam_sd, sal_sd = cam.backbone.state_dict(), sal.backbone.state_dict()
    assert list(cam_sd) == list(sal_sd)
    assert all(cam_sd[k].shape == sal_sd[k].shape for k in cam_sd)
    # 64 px images at output stride 8: 8x8 CAMs.
    _, cam_logits = cam(torch.zeros(1, 3, 64, 64), mode='tensor')
    assert tuple(cam_logits.shape[-2:]) == (8, 8)


def test_label_areas_and_miou_hand_worked(bench):
    gt = np.array([[0, 0, 1, 1],
                   [0, 0, 1, 1],
                   [0, 0, 2, 2],
                   [255, 255, 2, 2]])
    pred = np.array([[0, 0, 0, 1],
                     [0, 0, 1, 1],
                     [0, 255, 2, 2],
                     [0, 0, 1, 2]])
    areas = bench.label_areas(pred, gt, num_classes=4)
    # Scored pixels: gt and pred not 255 (13 of 16).
    # class 0: pred 6 (5 + the pred-0 at a gt-1 pixel), gt 5, hit 5
    # class 1: pred 4, gt 4, hit 3 (the bottom-row 1 is on gt 2)
    # class 2: pred 3, gt 4, hit 3; class 3: absent everywhere
    np.testing.assert_array_equal(areas[0], [5, 3, 3, 0])  # intersect
    np.testing.assert_array_equal(areas[2], [6, 4, 3, 0])  # predicted
    np.testing.assert_array_equal(areas[3], [5, 4, 4, 0])  # true
    np.testing.assert_array_equal(areas[1], [6, 5, 4, 0])  # union
    # IoU 5/6, 3/5, 3/4; class 3 (no pixel) is left out of the mean.
    expected = 100 * (5 / 6 + 3 / 5 + 3 / 4) / 3
    assert bench.miou(areas) == pytest.approx(expected)
    # Ignoring a wrong pixel raises the score; ignoring everything leaves
    # nothing to score.
    fixed = pred.copy()
    fixed[3, 2] = 255
    assert bench.miou(bench.label_areas(fixed, gt, 4)) > bench.miou(areas)
    assert np.isnan(bench.miou(bench.label_areas(np.full_like(gt, 255), gt,
                                                 4)))
