# Copyright (c) mmattn contributors. All rights reserved.
"""render_attention (one call per model kind, the interface that the hook,
tools/visualize_attention.py and tools/demo.py draw through): it writes the
same PNG as computing and drawing by hand, and returns the written files
and the drawn maps' value ranges."""
import glob
import hashlib
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmattn.utils import CheckpointError
from mmattn.visualization import (CLASS, SPATIAL, AttentionPicture,
                                  NoAttentionError, build_test_pipeline,
                                  compute_attention, draw_attention,
                                  figure_size_px, init_attention_model,
                                  render_attention, render_class_attention,
                                  render_spatial_attention, select_classes)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HAR_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                      'harnet_r18_tiny_synthetic.py')
RETINA_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                         'retinanet_r18_tiny_synthetic.py')
SAL_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                      'salnet_r18_tiny_synthetic.py')
ATSS_HA_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                          'harnet_atss_r50_fpn_1x_coco.py')


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _save(model, path):
    meta = dict(dataset_meta=getattr(model, 'dataset_meta', None) or {})
    save_checkpoint({'state_dict': model.state_dict(), 'meta': meta}, path)
    return path


@pytest.fixture(scope='module')
def har(tmp_path_factory):
    from mmdet.apis import init_detector
    torch.manual_seed(0)
    model = init_detector(
        Config.fromfile(HAR_CONFIG), None, palette='random', device='cpu')
    model.init_weights()
    model.eval()
    path = str(tmp_path_factory.mktemp('har') / 'har.pth')
    return model, _save(model, path)


@pytest.fixture(scope='module')
def sal():
    from mmseg.apis import init_model
    from mmseg.utils import get_classes
    torch.manual_seed(0)
    model = init_model(Config.fromfile(SAL_CONFIG), None, device='cpu')
    model.dataset_meta = dict(classes=get_classes('voc'))
    model.init_weights()
    return model.eval()


def test_spatial_pictures_and_their_value_ranges(har, synthetic_det_root,
                                                 tmp_path):
    model, _ = har
    imgs = sorted(glob.glob(osp.join(synthetic_det_root, 'val',
                                     '*.jpg')))[:2]
    out_dir = str(tmp_path / 'out')
    seen = []
    pictures = render_attention(model, imgs, out_dir, topk=2,
                                progress=seen.append)
    assert seen == pictures and len(pictures) == 2
    for img, picture in zip(imgs, pictures):
        assert isinstance(picture, AttentionPicture)
        stem = osp.splitext(osp.basename(img))[0]
        assert picture.out_file == osp.join(out_dir,
                                            f'{stem}_spatial_attention.png')
        assert (picture.kind, picture.img_path) == (SPATIAL, img)
        # every level, topk ignored
        assert picture.panels == [0, 1, 2, 3, 4]
        assert picture.names == ['P3', 'P4', 'P5', 'P6', 'P7']
        assert picture.scores is None and picture.tags is None
        maps = compute_attention(model, img)
        assert picture.value_ranges == [(float(m.min()), float(m.max()))
                                        for m in maps.feature_maps]
        lo, hi = np.array(picture.value_ranges).T
        assert (0 <= lo).all() and (lo < hi).all() and (hi <= 1).all()
        # the same PNG, byte for byte, as computing and drawing by hand
        by_hand = draw_attention(maps, str(tmp_path / 'by_hand.png'))
        assert _sha(picture.out_file) == _sha(by_hand)
    record = pictures[0].to_dict()
    assert record['value_ranges'][0] == list(pictures[0].value_ranges[0])
    # the per-kind call gives the same pictures
    again = render_spatial_attention(model, imgs[0], str(tmp_path / 'b'))
    assert again[0].value_ranges == pictures[0].value_ranges
    assert _sha(again[0].out_file) == _sha(pictures[0].out_file)
    with pytest.raises(ValueError, match='render_attention'):
        render_class_attention(model, imgs, out_dir)
    with pytest.raises(ValueError, match='alpha'):
        render_attention(model, imgs, out_dir, alpha=1.5)


def test_class_pictures_from_tags_files_and_batches(sal, synthetic_seg_root,
                                                    tmp_path):
    model = sal
    imgs = sorted(
        glob.glob(osp.join(synthetic_seg_root, 'JPEGImages', '*.jpg')))[:2]
    tag_map = np.load(
        osp.join(synthetic_seg_root, 'cls_labels.npy'),
        allow_pickle=True).item()
    stems = [osp.splitext(osp.basename(img))[0] for img in imgs]
    tags = [tag_map[stems[0]], None]  # the second image: top-k
    out_dir = str(tmp_path / 'files')
    pictures = render_attention(model, imgs, out_dir, tags=tags, topk=2)
    for img, stem, img_tags, picture in zip(imgs, stems, tags, pictures):
        maps = compute_attention(model, img)
        panels = select_classes(maps.scores, img_tags, 2)
        assert picture.kind == CLASS
        assert picture.out_file == osp.join(out_dir,
                                            f'{stem}_class_attention.png')
        assert picture.panels == panels
        assert picture.names == [maps.names[k] for k in panels]
        assert picture.scores == [float(maps.scores[k]) for k in panels]
        assert picture.value_ranges == [
            (float(maps.feature_maps[k].min()),
             float(maps.feature_maps[k].max())) for k in panels
        ]
        by_hand = draw_attention(
            maps, str(tmp_path / 'by_hand.png'), panels=panels,
            tags=img_tags)
        assert _sha(picture.out_file) == _sha(by_hand)
    assert pictures[0].tags == [float(t) for t in tags[0]]
    assert pictures[1].tags is None

    # A preprocessed batch whose data samples carry img_tags (the hook's
    # case) draws the same picture as the tags given per file.
    pipeline = build_test_pipeline(model.cfg)
    sample = pipeline(dict(img_path=imgs[0], img_id=0))
    sample['data_samples'].set_metainfo(
        dict(img_tags=torch.as_tensor(tags[0], dtype=torch.float32)))
    batch = model.data_preprocessor(
        dict(inputs=[sample['inputs']],
             data_samples=[sample['data_samples']]), False)
    from_batch = render_class_attention(
        model, batch, str(tmp_path / 'batch'), topk=2)
    assert from_batch[0].panels == pictures[0].panels
    assert _sha(from_batch[0].out_file) == _sha(pictures[0].out_file)

    with pytest.raises(ValueError, match='1 tag vectors for 2 images'):
        render_attention(model, imgs, out_dir, tags=tags[:1])
    with pytest.raises(ValueError, match='render_attention'):
        render_spatial_attention(model, imgs, out_dir)


def test_init_attention_model_loads_strictly(har, sal, tmp_path,
                                             synthetic_det_root):
    model, checkpoint = har
    loaded = init_attention_model(HAR_CONFIG, checkpoint)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # another model's checkpoint: refused, named, nothing drawn
    sal_checkpoint = _save(sal, str(tmp_path / 'sal.pth'))
    with pytest.raises(CheckpointError) as info:
        init_attention_model(HAR_CONFIG, sal_checkpoint)
    message = str(info.value)
    assert message.startswith(f'checkpoint {sal_checkpoint} does not load '
                              f'strictly into the model of {HAR_CONFIG}: ')
    assert message.endswith('Draw it with the config it was trained with.')
    # no attention: refused before the checkpoint is read
    with pytest.raises(NoAttentionError, match='spatial_attention=None'):
        init_attention_model(RETINA_CONFIG, str(tmp_path / 'missing.pth'))


def test_spatial_pictures_of_an_atss_detector(synthetic_det_root, tmp_path):
    """Any head built on HybridAttentionMixin is drawn: the shipped HA-on-ATSS
    config (R-50, no pretrained weights) as a user would point the tool at
    it."""
    from mmdet.apis import init_detector
    cfg = Config.fromfile(ATSS_HA_CONFIG)
    cfg.model.backbone.init_cfg = None  # nothing to download
    torch.manual_seed(0)
    model = init_detector(cfg, None, palette='random', device='cpu')
    model.init_weights()
    model.eval()
    assert type(model.bbox_head).__name__ == 'HARATSSHead'
    img = sorted(glob.glob(osp.join(synthetic_det_root, 'val', '*.jpg')))[0]
    pictures = render_attention(model, [img], str(tmp_path))
    assert pictures[0].kind == SPATIAL
    assert pictures[0].names == ['P3', 'P4', 'P5', 'P6', 'P7']
    lo, hi = np.array(pictures[0].value_ranges).T
    # the real init gives a live mask that varies over P3
    assert 0 <= lo[0] < hi[0] <= 1
    assert osp.isfile(pictures[0].out_file)
    # its attention-off twin (ATSS as mmdet's): the error names the head
    twin_cfg = Config.fromfile(ATSS_HA_CONFIG.replace('harnet_atss', 'atss'))
    twin_cfg.model.backbone.init_cfg = None
    twin = init_detector(twin_cfg, None, palette='random', device='cpu')
    with pytest.raises(NoAttentionError, match='HARATSSHead'):
        render_attention(twin, [img], str(tmp_path / 'off'))
