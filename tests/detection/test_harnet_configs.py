# Copyright (c) mmattn contributors. All rights reserved.
"""Every config under configs/harnet/ builds and says which paper row it is;
the tiny synthetic config trains and evaluates through mmengine's Runner."""
import importlib.util
import os.path as osp
import re
from glob import glob

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmattn  # noqa: F401
from mmattn.detection.dense_heads import HARRetinaHead

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'harnet')
CONFIGS = sorted(glob(osp.join(CONFIG_DIR, '*.py')))
HAS_MMPRETRAIN = importlib.util.find_spec('mmpretrain') is not None
# Configs whose head is not HARRetinaHead: HA on other dense heads (docs/
# harnet.md, "HA on any dense head"), with their heads.
OTHER_HEAD_CONFIGS = {
    'atss_r50_fpn_1x_coco.py': 'HARATSSHead',
    'harnet_atss_r50_fpn_1x_coco.py': 'HARATSSHead',
    'gfl_r50_fpn_1x_coco.py': 'HARGFLHead',
    'harnet_gfl_r50_fpn_1x_coco.py': 'HARGFLHead',
    'fcos_r50-caffe_fpn_gn-head_1x_coco.py': 'HARFCOSHead',
    'harnet_fcos_r50-caffe_fpn_gn-head_1x_coco.py': 'HARFCOSHead',
    'atss_r50_fpn_dyhead_1x_coco.py': 'ATSSHead',
}


def _needs_mmpretrain(path):
    with open(path) as f:
        return 'mmpretrain' in f.read()


def _param(path):
    marks = []
    if _needs_mmpretrain(path) and not HAS_MMPRETRAIN:
        marks.append(
            pytest.mark.skip(reason='SE backbones need the optional '
                             'mmpretrain extra, which is not installed'))
    return pytest.param(path, id=osp.basename(path), marks=marks)


def _load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_config_folder_is_populated():
    names = {osp.basename(p) for p in CONFIGS}
    for required in ('retinanet_r50_fpn_1x_coco.py',
                     'retinanet_r101_fpn_1x_coco.py',
                     'harnet_r50_fpn_1x_coco.py', 'harnet_r101_fpn_1x_coco.py',
                     'harnet_r18_tiny_synthetic.py',
                     'retinanet_r18_tiny_synthetic.py'):
        assert required in names


@pytest.mark.parametrize('path', [_param(p) for p in CONFIGS])
def test_config_names_its_paper_row_and_builds(path):
    with open(path) as f:
        first = f.readline()
    assert first.startswith('# '), 'configs start with a comment'
    assert re.search(r'HAR-Net|Table|Fig\.', first), \
        f'the first line must name the paper row, got {first!r}'
    cfg = Config.fromfile(path)
    assert 'mmattn' in cfg.custom_imports['imports']
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    name = osp.basename(path)
    if name in OTHER_HEAD_CONFIGS:
        # HA on other dense heads (and DyHead for comparison):
        # tests/detection/test_harnet_any_head.py checks them.
        assert type(model.bbox_head).__name__ == OTHER_HEAD_CONFIGS[name]
        return
    # Every HAR-Net row, baselines included, runs the paper's
    # post-processing through HARRetinaHead.
    assert isinstance(model.bbox_head, HARRetinaHead)


# ---------------------------------------------------------------------------
# the rows say what the paper says
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('name, dilations, channels', [
    ('harnet_sa-1-1-1_r50_fpn_600_1x_coco.py', (1, 1, 1), 32),
    ('harnet_sa-1-2-5_r50_fpn_600_1x_coco.py', (1, 2, 5), 32),
    ('harnet_sa-5-2-1_r50_fpn_600_1x_coco.py', (5, 2, 1), 32),
    ('harnet_sa-1-2-5-2-1_r50_fpn_600_1x_coco.py', (1, 2, 5, 2, 1), 16),
])
def test_table1_spatial_attention_rows(name, dilations, channels):
    head = _load(name).model.bbox_head
    assert tuple(head.spatial_attention.dilations) == dilations
    assert head.spatial_attention.channels == channels
    assert head.channel_attention is None and head.cross_level_norm is None


@pytest.mark.parametrize('name, per_level, clgn', [
    ('harnet_se-ca_r50_fpn_600_1x_coco.py', True, False),
    ('harnet_clse-ca_r50_fpn_600_1x_coco.py', False, False),
    ('harnet_clsegn-ca_r50_fpn_600_1x_coco.py', False, True),
])
def test_table2_channel_attention_rows(name, per_level, clgn):
    head = _load(name).model.bbox_head
    assert head.channel_attention.per_level is per_level
    assert (head.cross_level_norm is not None) is clgn
    assert head.spatial_attention is None


@pytest.mark.parametrize('name, levels', [
    ('harnet_aa-c5_r50_fpn_600_1x_coco.py', (3, )),
    ('harnet_aa-c4c5_r50_fpn_600_1x_coco.py', (2, 3)),
    ('harnet_aa-c3c4c5_r50_fpn_600_1x_coco.py', (1, 2, 3)),
])
def test_table3_aligned_attention_rows(name, levels):
    cfg = _load(name)
    assert cfg.model.neck.type == 'AlignedFPN'
    assert tuple(cfg.model.neck.aligned_levels) == levels
    assert cfg.model.bbox_head.spatial_attention is None


def test_table4_rows_and_scales():
    base = _load('retinanet_r50_fpn_1x_coco.py')
    ha = _load('harnet_r50_fpn_1x_coco.py')
    ha101 = _load('harnet_r101_fpn_1x_coco.py')
    ablation = _load('retinanet_r50_fpn_600_1x_coco.py')
    assert base.model.neck.type == 'FPN'
    assert ha.model.neck.type == 'AlignedFPN'
    assert ha.model.bbox_head.cross_level_norm is not None
    assert ha.model.bbox_head.norm_cfg.type == 'GN'
    assert ha101.model.backbone.depth == 101
    assert base.test_dataloader.dataset.pipeline[1].scale == (1200, 800)
    assert ablation.test_dataloader.dataset.pipeline[1].scale == (1000, 600)
    assert ablation.train_dataloader.dataset.pipeline[2].scale == (1000, 600)
    for cfg in (base, ha, ablation):
        assert cfg.model.test_cfg.nms.type == 'soft_nms'
        assert cfg.model.test_cfg.box_voting.score_mode == 'max'


# ---------------------------------------------------------------------------
# the tiny synthetic configs run end to end
# ---------------------------------------------------------------------------
def test_tiny_synthetic_twins_differ_only_in_attention():
    har = _load('harnet_r18_tiny_synthetic.py')
    ret = _load('retinanet_r18_tiny_synthetic.py')
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper',
                'train_dataloader', 'val_evaluator'):
        assert har[key] == ret[key], key
    assert har.model.backbone == ret.model.backbone
    # The same GN tower normalisation: HAR-Net's CLGN only pools its
    # statistics across levels.
    assert har.model.bbox_head.norm_cfg == ret.model.bbox_head.norm_cfg
    assert har.model.bbox_head.norm_cfg.type == 'GN'
    assert ret.model.bbox_head.cross_level_norm is None
    from mmattn.synthetic import SYNTHETIC_DET_CLASSES
    assert tuple(har.classes) == tuple(SYNTHETIC_DET_CLASSES)
    assert har.model.bbox_head.num_classes == len(SYNTHETIC_DET_CLASSES)


def test_tiny_synthetic_harnet_trains_and_evaluates(tmp_path, monkeypatch):
    from mmengine.runner import Runner

    # The Runner logs and dumps the config through yapf, which takes longer
    # than the two training iterations; the text is irrelevant here.
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda self: str(self.filename)))

    from mmattn.synthetic import make_det_dataset
    data_root = tmp_path / 'synthetic_det'
    make_det_dataset(str(data_root), num_images=6, seed=0,
                     val_fraction=0.34, show_progress=False)
    cfg = _load('harnet_r18_tiny_synthetic.py')
    cfg.work_dir = str(tmp_path / 'work')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data_root) + '/'
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.val_evaluator.ann_file = str(
        data_root / 'annotations' / 'instances_val.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer = dict(type='DetLocalVisualizer', vis_backends=[])
    # An untrained head scores every anchor near the 0.01 prior: keep a few
    # of them so that Soft-NMS, box voting and the metric see boxes.
    cfg.model.test_cfg.score_thr = 0.0
    cfg.model.test_cfg.nms_pre = 50
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'coco/bbox_mAP' in metrics
    assert osp.exists(osp.join(cfg.work_dir, 'iter_2.pth'))
