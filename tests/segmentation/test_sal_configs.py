# Copyright (c) mmattn contributors. All rights reserved.
"""Every config under configs/sal builds and encodes its paper row; the tiny
configs train and evaluate through mmengine's Runner."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmattn  # noqa: F401  (registers the modules)
import mmattn.segmentation.backbones  # noqa: F401  (DeepLabVGG)
from mmattn.segmentation.score_file import dump_mask_scores
from mmattn.synthetic import make_seg_dataset
from mmseg.registry import MODELS

CONFIG_DIR = osp.abspath(
    osp.join(osp.dirname(__file__), '..', '..', 'configs', 'sal'))
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))

# config name prefix -> (classification branch?, weighting, score_key, tau)
ROWS = {
    'salnet-p2_r101': (False, 'none', None, None),
    'salnet-p3_r101': (False, 'hard', 'SC', 0.8),
    'salnet-p4_r101': (False, 'hard', 'SF', 0.85),
    'salnet-p5_r101': (True, 'hard', 'SF', 0.85),
    'salnet-p2_vgg16': (False, 'none', None, None),
    'salnet-p3_vgg16': (False, 'hard', 'SC', 0.55),
    'salnet-p4_vgg16': (False, 'hard', 'SF', 0.55),
    'salnet-p5_vgg16': (True, 'hard', 'SF', 0.55),
    'salnet-s1_vgg16': (False, 'none', None, None),
    'salnet-s2_vgg16': (True, 'none', None, None),
    'salnet-s3_vgg16': (False, 'none', None, None),
    'salnet-s4_vgg16': (False, 'hard', 'SF', 0.55),
    'salnet-s5_vgg16': (True, 'hard', 'SF', 0.55),
    'salnet_r18_tiny_synthetic.py': (True, 'hard', 'SF', 0.5),
}


def _row(path):
    name = osp.basename(path)
    matches = [row for prefix, row in ROWS.items() if name.startswith(prefix)]
    return matches[0] if matches else None


# Configs that vary a paper row without changing what it encodes (checked by
# the per-config test through their prefix), plus the plain-CE twin.
VARIANTS = {
    'salnet-p5_r101-d8_bn_1xb7-15k_voc12aug-321x321.py',  # BN, not SyncBN
    'salnet-p5_r101-d8_custom-folder.py',  # template for a user's folder
    'salnet-p5_r101-d8_voc12-test.py',  # VOC test-server submission
    'salnet_r18_tiny_synthetic_plain_ce.py',
}


def test_every_config_is_covered():
    names = {osp.basename(p) for p in CONFIGS}
    # One config per row; a new file must be added to ROWS or VARIANTS.
    assert len(names - VARIANTS) == len(ROWS), sorted(names - VARIANTS)
    assert VARIANTS <= names, sorted(VARIANTS - names)
    for prefix in ROWS:
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_and_matches_its_row(path):
    with open(path) as f:
        first_line = f.readline()
    assert first_line.startswith('# ') and 'Table' in first_line
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(
        imports=['mmattn'], allow_failed_imports=False)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    head = model.decode_head
    assert not model.with_auxiliary_head
    row = _row(path)
    if row is None:  # the plain-CE twin
        assert type(head).__name__ == 'ASPPHead'
        assert cfg.train_dataloader.dataset.type == 'PascalVOCDataset'
        return
    with_cls, weighting, score_key, tau = row
    assert type(head).__name__ == 'SALHead'
    assert (head.cls_branch is not None) is with_cls
    assert (head.loss_attention is not None) is with_cls
    assert head.attention_guided is with_cls
    if with_cls:
        assert head.cls_branch.dilations == (1, 3, 6, 9)
        assert head.loss_attention.loss_weight == 2.0
    sel = head.loss_decode
    assert sel.weighting == weighting
    if weighting == 'hard':
        assert (sel.score_key, sel.tau) == (score_key, tau)
    dataset = cfg.train_dataloader.dataset
    name = osp.basename(path)
    if '_vgg16' in name:
        assert head.seg_branch == 'aspp_l'
        assert head.conv_seg.dilations == (6, 12, 18, 24)
    if name.startswith(('salnet-s3', 'salnet-s4', 'salnet-s5')):
        assert dataset.type == 'ConcatDataset'
        strong, weak = dataset.datasets
        assert strong.tags_from_masks and strong.on_unscored_image == 1.0
        assert strong.data_prefix.seg_map_path == 'SegmentationClass'
        assert weak.data_prefix.seg_map_path == 'SegmentationClassProxy'
        assert weak.ann_file.endswith('aug.txt')
        assert (weak.score_file is None) is (weighting == 'none')
    elif name.startswith(('salnet-s1', 'salnet-s2')):
        assert dataset.type == 'WeakVOCDataset'
        assert dataset.data_prefix.seg_map_path == 'SegmentationClass'
        assert dataset.tags_from_masks
    else:
        assert dataset.type == 'WeakVOCDataset'
        assert dataset.data_prefix.seg_map_path == 'SegmentationClassProxy'
        if weighting == 'hard':
            assert dataset.required_scores == (score_key, )
    pipeline_types = [
        t.type for t in (dataset.datasets[0] if dataset.type ==
                         'ConcatDataset' else dataset).pipeline
    ]
    assert pipeline_types[-1] == 'PackWeakSegInputs'


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_seg'))
    make_seg_dataset(
        root,
        num_images=10,
        seed=1,
        img_size=(64, 64),
        val_fraction=0.2,
        num_classes=3,
        show_progress=False)
    with open(osp.join(root, 'ImageSets/Segmentation/train.txt')) as f:
        ids = [line.strip() for line in f if line.strip()]
    # Every other image falls below tau = 0.5 and is left out of L_sel.
    scores = {
        img_id:
        dict(
            AC=0.8,
            CD=1.0,
            SC=0.8,
            P=0.9 if i % 2 == 0 else 0.3,
            SF=0.9 if i % 2 == 0 else 0.3)
        for i, img_id in enumerate(ids)
    }
    dump_mask_scores(scores, osp.join(root, 'mask_scores.json'))
    return root


def _shrink(cfg, data_root, work_dir, size=64, iters=4):
    cfg.work_dir = work_dir
    cfg.model.data_preprocessor.size = (size, size)
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 2
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.type == 'RandomResize':
            transform.scale = (size, size)
        if transform.type == 'RandomCrop':
            transform.crop_size = (size, size)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.parametrize('name, loss_keys', [
    ('salnet_r18_tiny_synthetic.py', ('decode.loss_sel', 'decode.loss_att')),
    ('salnet_r18_tiny_synthetic_plain_ce.py', ('decode.loss_ce', )),
])
def test_tiny_config_trains_and_evaluates(tiny_root, tmp_path, name,
                                          loss_keys):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg = _shrink(cfg, tiny_root, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    logged = runner.message_hub.log_scalars
    for key in loss_keys:
        value = logged[f'train/{key}'].current()
        assert value == value and value >= 0  # finite, not NaN
    metrics = runner.val()
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_4.pth'))
