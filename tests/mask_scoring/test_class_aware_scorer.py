# Copyright (c) mmattn contributors. All rights reserved.
"""The class-aware mask scorer (an mmattn extension of SAL's binary one):
the relabel synthesis and its target on hand-worked maps, the one-hot mask
encoding, label-map loading, the class-aware synthesis on generated data,
and the shipped config scoring label maps."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement
from PIL import Image

import mmattn  # noqa: F401
from mmattn.segmentation.mask_scoring import (LoadLabelMask,
                                              MaskScoringDataPreprocessor,
                                              MaskScorer, SynthesisConfig,
                                              accuracy_score,
                                              class_aware_accuracy_score,
                                              labels_within, read_label_map,
                                              relabel_object, relabel_target,
                                              score_proxy_masks,
                                              synthesize_scoring_set)
from mmattn.synthetic import make_seg_dataset
from mmattn.synthetic.seg import write_label_png

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_SCORER = osp.join(ROOT, 'configs', 'mask_scoring',
                      'mask-scorer-tiny-cls_1xb16-20e_synthetic-48x48.py')


# ------------------------------------------------------------ relabelling --
def test_relabel_target_hand_worked():
    # Two objects of 30 and 10 pixels, the 10-pixel one relabelled.
    assert relabel_target(0.9, 10, 40) == pytest.approx(0.675)
    # An image's only object relabelled: nothing of the right class left.
    assert relabel_target(0.9, 40, 40) == 0.0
    assert relabel_target(0.8, 0, 40) == pytest.approx(0.8)
    for changed, foreground in ((5, 0), (41, 40), (-1, 40)):
        with pytest.raises(ValueError, match='changed'):
            relabel_target(0.9, changed, foreground)


def _two_class_map():
    labels = np.zeros((8, 10), np.uint8)
    labels[1:3, 1:4] = 1  # object A: 6 px of class 1
    labels[5:7, 1:3] = 1  # object B: 4 px of class 1 (not touching A)
    labels[1:6, 6:9] = 2  # object C: 15 px of class 2
    return labels


def test_relabel_object_changes_exactly_one_whole_object():
    labels = _two_class_map()
    objects = {6: (1, slice(1, 3), slice(1, 4)),
               4: (1, slice(5, 7), slice(1, 3)),
               15: (2, slice(1, 6), slice(6, 9))}
    seen = set()
    for seed in range(30):
        out, changed = relabel_object(
            np.random.default_rng(seed), labels, classes=[1, 2, 3])
        cls, rows, cols = objects[changed]
        seen.add(changed)
        assert out[rows, cols].min() == out[rows, cols].max() != cls
        assert out[rows, cols].max() in (1, 2, 3)
        # Nothing else moved.
        rest = np.ones(labels.shape, bool)
        rest[rows, cols] = False
        np.testing.assert_array_equal(out[rest], labels[rest])
        assert (out != labels).sum() == changed
    assert seen == set(objects)  # every object can be drawn


def test_relabel_object_without_another_class_or_object():
    rng = np.random.default_rng(0)
    labels = np.zeros((4, 4), np.uint8)
    assert relabel_object(rng, labels, [1, 2]) is None
    labels[1:3, 1:3] = 1
    assert relabel_object(rng, labels, [1]) is None
    out, changed = relabel_object(rng, labels, [1, 2])
    assert changed == 4 and set(np.unique(out)) == {0, 2}


def test_labels_within_keeps_classes_and_grows_from_the_nearest_object():
    labels = np.zeros((5, 7), np.uint8)
    labels[1:4, 0:2] = 1
    labels[1:4, 5:7] = 2
    mask = labels > 0
    mask[2, 0] = False  # eroded
    mask[2, 2] = True  # grown next to the class-1 object
    mask[2, 4] = True  # grown next to the class-2 object
    out = labels_within(mask, labels)
    expected = labels.copy()
    expected[2, 0] = 0
    expected[2, 2] = 1
    expected[2, 4] = 2
    np.testing.assert_array_equal(out, expected)


# --------------------------------------------------------- mask encoding --
def test_preprocessor_one_hot_classes_and_binary_mode():
    labels = torch.tensor([[0, 1], [2, 2]], dtype=torch.uint8)
    packed = torch.cat([torch.full((3, 2, 2), 128, dtype=torch.uint8),
                        labels[None]])
    out = MaskScoringDataPreprocessor(num_classes=3)(
        dict(inputs=[packed], data_samples=[BaseDataElement()]))['inputs']
    assert out.shape == (1, 6, 2, 2)
    # Channel 3 the binary foreground, {0, 1} -> (m - 0.5) / 0.5; then the
    # classes 1 and 2 in {0, 1}.
    assert out[0, 3].tolist() == [[-1, 1], [1, 1]]
    assert out[0, 4].tolist() == [[0, 1], [0, 0]]
    assert out[0, 5].tolist() == [[0, 0], [1, 1]]
    binary = MaskScoringDataPreprocessor()(
        dict(inputs=[packed], data_samples=[BaseDataElement()]))['inputs']
    assert binary.shape == (1, 4, 2, 2)
    torch.testing.assert_close(binary, out[:, :4])
    with pytest.raises(ValueError, match='mask label 2 is not a class of '
                       r'this scorer \(num_classes=2'):
        MaskScoringDataPreprocessor(num_classes=2)(
            dict(inputs=[packed], data_samples=[BaseDataElement()]))
    with pytest.raises(ValueError, match='num_classes must be None'):
        MaskScoringDataPreprocessor(num_classes=1)


def test_load_label_mask_reads_palette_indices_and_ignore_as_background(
        tmp_path):
    labels = np.array([[0, 1, 2], [15, 255, 0]], np.uint8)
    path = str(tmp_path / 'mask.png')
    write_label_png(path, labels)
    out = LoadLabelMask()(dict(mask_path=path,
                               img=np.zeros((2, 3, 3), np.uint8)))
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  [[0, 1, 2], [15, 0, 0]])
    with pytest.raises(ValueError, match='mask size'):
        LoadLabelMask()(dict(mask_path=path,
                             img=np.zeros((3, 3, 3), np.uint8)))


# ---------------------------------------------------- the class head --
def _logit(p):
    return float(np.log(p / (1 - p)))


def test_class_aware_score_is_the_binary_score_times_the_class_agreement():
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    kw = dict(stem_channels=8, channels=8, fc_channels=8)
    binary = MODELS.build(dict(type='MaskScoringNet', **kw))
    aware = MODELS.build(
        dict(type='MaskScoringNet', num_classes=3,
             data_preprocessor=dict(type='MaskScoringDataPreprocessor',
                                    num_classes=3), **kw))
    binary.init_weights()
    aware.init_weights()
    # A fresh head agrees with every class at class_prior (0.9).
    torch.testing.assert_close(torch.sigmoid(aware.class_head.conv.bias),
                               torch.full((2, ), 0.9))
    aware.load_state_dict(
        dict(binary.state_dict(), **{
            f'class_head.{k}': v
            for k, v in aware.class_head.state_dict().items()
        }))
    with torch.no_grad():
        aware.class_head.conv.weight.zero_()
        aware.class_head.conv.bias.copy_(
            torch.tensor([_logit(0.8), _logit(0.2)]))
    # 16x16 input -> a 4x4 grid at layer 6 (stride 4). Class 1 on 12 of its
    # cells, class 2 on 4: A = (12 * 0.8 + 4 * 0.2) / 16 = 0.65.
    labels = torch.zeros(16, 16, dtype=torch.uint8)
    labels[:, :12] = 1
    labels[:, 12:] = 2
    packed = torch.cat([torch.randint(0, 255, (3, 16, 16),
                                      dtype=torch.uint8), labels[None]])
    data = dict(inputs=[packed], data_samples=[BaseDataElement()])
    x_aware = aware.data_preprocessor(data)['inputs']
    x_binary = binary.data_preprocessor(data)['inputs']
    agreement = aware.class_agreement(x_aware)
    torch.testing.assert_close(agreement, torch.tensor([0.65]))
    torch.testing.assert_close(aware(x_aware), binary(x_binary) * 0.65)
    # An empty mask has nothing to disagree with: A = 1.
    empty = aware.data_preprocessor(
        dict(inputs=[torch.cat([packed[:3], torch.zeros(1, 16, 16,
                                                        dtype=torch.uint8)])],
             data_samples=[BaseDataElement()]))['inputs']
    assert aware.class_agreement(empty).item() == 1.0
    with pytest.raises(ValueError, match='expects \\(N, 6, H, W\\) inputs '
                       '\\(image \\+ mask \\+ 2 class channels\\)'):
        aware(x_binary)
    # The head's own loss on a sample's kept share.
    sample = BaseDataElement()
    sample.gt_score = torch.tensor(0.5)
    sample.gt_agreement = torch.tensor(0.25)
    losses = aware.loss(x_aware, [sample])
    torch.testing.assert_close(losses['loss_agreement'],
                               torch.tensor((0.65 - 0.25)**2))
    torch.testing.assert_close(losses['loss_l2'],
                               ((binary(x_binary) * 0.65 - 0.5)**2).mean())
    del sample.gt_agreement
    assert 'loss_agreement' not in aware.loss(x_aware, [sample])
    with pytest.raises(ValueError, match='preprocessor encodes '
                       'num_classes=5'):
        MODELS.build(dict(type='MaskScoringNet', num_classes=3,
                          data_preprocessor=dict(
                              type='MaskScoringDataPreprocessor',
                              num_classes=5)))


# ------------------------------------------------- synthesis, scoring --
@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('seg_cls'))
    make_seg_dataset(root, num_images=24, seed=3, img_size=(48, 48),
                     class_ids=[1, 2], show_progress=False)
    return root


def _synth(seg_root, out, cfg):
    return synthesize_scoring_set(
        out, proxy_dir=osp.join(seg_root, 'SegmentationClassProxy'),
        ref_dir=osp.join(seg_root, 'SaliencyRef'),
        img_dir=osp.join(seg_root, 'JPEGImages'),
        gt_dir=osp.join(seg_root, 'SegmentationClass'), cfg=cfg, seed=0,
        show_progress=False)


def test_class_aware_synthesis_writes_label_maps_and_relabelled_samples(
        seg_root, tmp_path):
    kw = dict(intermediate_ratio=1.0, paste_ratio=0.5)
    binary_dir, aware_dir = str(tmp_path / 'bin'), str(tmp_path / 'cls')
    _synth(seg_root, binary_dir, SynthesisConfig(**kw))
    summary = _synth(seg_root, aware_dir,
                     SynthesisConfig(class_aware=True, relabel_ratio=1.0,
                                     **kw))
    assert summary['config']['class_aware'] is True
    with open(osp.join(aware_dir, 'train.json')) as f:
        aware = json.load(f)['data_list']
    with open(osp.join(binary_dir, 'train.json')) as f:
        binary = {s['sample_id']: s for s in json.load(f)['data_list']}
    relabelled = [s for s in aware if s['kind'] == 'relabel']
    # Every class-aware sample carries the class head's target.
    assert all(s['agreement'] == 1.0 for s in aware
               if s['kind'] != 'relabel')
    assert len(relabelled) == summary['num_positive_sources']
    # Up to the relabel pass both draw the same samples: same foregrounds
    # and targets, the class-aware masks carry the proxies' classes.
    for sample in aware:
        if sample['kind'] == 'relabel':
            continue
        twin = binary[sample['sample_id']]
        assert sample['gt_score'] == pytest.approx(twin['gt_score'])
        labels = read_label_map(osp.join(aware_dir, sample['mask_path']))
        with Image.open(osp.join(binary_dir, twin['mask_path'])) as im:
            np.testing.assert_array_equal(labels > 0, np.array(im) > 0)
        assert set(np.unique(labels)) <= {0, 1, 2}
    # A relabelled sample: the source proxy with one object in the other
    # class, its target the source's AC times the kept share.
    proxy_dir = osp.join(seg_root, 'SegmentationClassProxy')
    for sample in relabelled[:5]:
        source = sample['source_ids'][0]
        proxy = read_label_map(osp.join(proxy_dir, source + '.png'))
        proxy[proxy == 255] = 0
        labels = read_label_map(osp.join(aware_dir, sample['mask_path']))
        changed = labels != proxy
        assert changed.any() and np.array_equal(labels > 0, proxy > 0)
        assert set(np.unique(labels[changed])) <= {1, 2}
        ac = summary['source_scores'][source]['AC']
        assert sample['gt_score'] == pytest.approx(
            relabel_target(ac, int(changed.sum()), int((proxy > 0).sum())))
        assert sample['agreement'] == pytest.approx(
            1 - changed.sum() / (proxy > 0).sum())
        gt = read_label_map(
            osp.join(seg_root, 'SegmentationClass', source + '.png'))
        image = np.array(Image.open(osp.join(seg_root, 'JPEGImages',
                                             source + '.jpg')))[..., ::-1]
        assert sample['score_gt'] == pytest.approx(
            class_aware_accuracy_score(labels, gt, image, 0.1), abs=1e-6)
        # The class-agnostic AC cannot see the change.
        assert accuracy_score(labels > 0, gt > 0, image, 0.1,
                              valid=gt != 255) > sample['score_gt']


def test_relabelling_needs_class_aware_masks():
    with pytest.raises(ValueError, match='needs class_aware=True'):
        SynthesisConfig(relabel_ratio=1.0)
    assert SynthesisConfig().relabel_ratio == 0.0
    assert SynthesisConfig(class_aware=True).relabel_ratio == 0.5


def test_shipped_class_aware_config_scores_label_maps(seg_root):
    cfg = Config.fromfile(CLS_SCORER)
    assert cfg.model.num_classes == cfg.num_classes
    scorer = MaskScorer(cfg)
    assert scorer.num_classes == cfg.num_classes == 21
    ids = open(osp.join(seg_root, 'ImageSets', 'Segmentation',
                        'train.txt')).read().split()[:4]
    tags = np.load(osp.join(seg_root, 'cls_labels.npy'),
                   allow_pickle=True).item()
    dirs = dict(proxy_dir=osp.join(seg_root, 'SegmentationClassProxy'),
                ref_dir=osp.join(seg_root, 'SaliencyRef'),
                img_dir=osp.join(seg_root, 'JPEGImages'))
    rows = score_proxy_masks(ids, tags=tags, scorer=scorer,
                             show_progress=False, **dirs)
    assert all(0 <= rows[i]['P'] <= 1 for i in ids)
    # The network sees the classes: a class its head disagrees with
    # scores lower.
    with torch.no_grad():
        scorer.model.class_head.conv.bias[1] = -4.0  # class 2
    image = np.array(Image.open(osp.join(dirs['img_dir'],
                                         ids[0] + '.jpg')))[..., ::-1]
    labels = np.zeros(image.shape[:2], np.uint8)
    labels[10:30, 10:30] = 1
    swapped = np.where(labels > 0, 2, 0).astype(np.uint8)
    assert scorer([image], [swapped])[0] < 0.1 * scorer([image], [labels])[0]
    with pytest.raises(ValueError, match='class-aware for 21 classes but '
                       'the proxy masks have 3'):
        score_proxy_masks(ids, tags={i: t[:2] for i, t in tags.items()},
                          scorer=scorer, num_classes=3, show_progress=False,
                          **dirs)


def test_class_backbone_is_frozen_loaded_and_named_when_missing(tmp_path):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'mask_scoring',
                 'mask-scorer-tiny-cls-r18_1xb16-20e_synthetic-48x48.py'))
    with pytest.raises(ValueError, match='model.class_backbone.init_cfg is '
                       'Pretrained without a checkpoint'):
        MODELS.build(cfg.model).init_weights()
    # A "pretrained" backbone: any weights saved as the benchmark saves it.
    backbone_cfg = {k: v for k, v in cfg.model.class_backbone.items()
                    if k != 'init_cfg'}
    pretrained = MODELS.build(backbone_cfg)
    checkpoint = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=pretrained.state_dict()), checkpoint)
    cfg.model.class_backbone.init_cfg.checkpoint = checkpoint
    model = MODELS.build(cfg.model)
    model.init_weights()
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(model.class_backbone.state_dict()[key],
                                   value)
    # 256 channels at stride 8 feed the head; none of it trains.
    assert model.class_head.conv.in_channels == 256
    assert not any(p.requires_grad for p in model.class_backbone.parameters())
    model.train()
    assert model.layers.training and not model.class_backbone.training
    x = torch.zeros(1, 3 + 21, 48, 48)
    x[0, :3] = torch.randn(3, 48, 48)
    x[0, 4, 8:24, 8:24] = 1
    x[0, 3] = x[0, 4] * 2 - 1
    losses = model.loss(x, [BaseDataElement(gt_score=torch.tensor(0.5),
                                            gt_agreement=torch.tensor(0.))])
    sum(losses.values()).backward()
    assert model.class_head.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.class_backbone.parameters())
    with pytest.raises(ValueError, match='set num_classes too'):
        MODELS.build(dict(type='MaskScoringNet', class_backbone=backbone_cfg))
