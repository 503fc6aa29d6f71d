# Copyright (c) mmattn contributors. All rights reserved.
"""Class-attention contrast: hand-worked map statistics, and the real tiny
SAL model on generated images."""
import os.path as osp

import pytest
import torch

import mmattn  # noqa: F401
from mmattn.segmentation.evaluation import (class_attention_contrast,
                                            map_contrast)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_map_contrast_hand_worked():
    maps = torch.zeros(3, 2, 3)
    maps[0] = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.1, 0.1]])
    maps[2] = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 1.0]])
    labels = torch.tensor([[1, 1, 0], [0, 255, 3]])
    rows = {r['cls']: r for r in map_contrast(maps, labels)}
    assert sorted(rows) == [0, 2]  # labels 1 and 3; 0 is background
    # class 0: inside (0.9 + 0.8) / 2, outside (0.1 + 0.2 + 0.1) / 3 (the
    # 255 pixel is left out)
    assert rows[0]['inside'] == pytest.approx(0.85)
    assert rows[0]['outside'] == pytest.approx(0.4 / 3)
    assert rows[0]['contrast'] == pytest.approx(0.85 - 0.4 / 3)
    assert rows[2]['contrast'] == pytest.approx(1.0 - 0.5)


def test_a_class_filling_the_image_has_no_outside():
    maps = torch.rand(2, 2, 2)
    assert map_contrast(maps, torch.ones(2, 2, dtype=torch.long)) == []


def test_on_the_tiny_sal_model(synthetic_seg_root):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmseg.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py'))
    init_default_scope('mmseg')
    cfg.val_dataloader.dataset.data_root = synthetic_seg_root
    cfg.val_dataloader.update(batch_size=2, num_workers=0,
                              persistent_workers=False)
    loader = Runner.build_dataloader(cfg.val_dataloader)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    result = class_attention_contrast(model, loader, max_images=3)
    assert result['pairs'] >= 1
    assert result['pairs'] == len(result['rows'])
    assert all(-1 <= r['contrast'] <= 1 for r in result['rows'])
    assert model.training  # restored
