# Copyright (c) mmattn contributors. All rights reserved.
"""MultiLabelCAMClassifier: the multi-label BCE against hand-computed
values, the class activation maps (shapes, per-class max normalisation,
untagged classes, flip and multi-scale fusion) on hand-built backbones
whose maps can be worked out on paper, and a few iterations of Runner
training through tools/train.py on a generated folder."""
import glob
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmattn.utils import remote_pretrained_weights
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO_ROOT, 'configs', 'wsss', 'cam_r18_tiny_synthetic.py')
VOC = osp.join(REPO_ROOT, 'configs', 'wsss',
               'cam_r50-d16_1xb16-5e_voc12aug-512x512.py')


@MODELS.register_module(name='_CAMTestIdentity', force=True)
class _Identity(nn.Module):
    """The image itself as the feature map (stride 1, pixelwise)."""

    def forward(self, x):
        return (x, )


@MODELS.register_module(name='_CAMTestRamp', force=True)
class _Ramp(nn.Module):
    """The image times its column number 1..W: not flip-equivariant, so a
    flipped view that is not flipped back shows."""

    def forward(self, x):
        ramp = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
        return (x * ramp, )


def _model(backbone='_CAMTestIdentity', weight=None, num_classes=4, **test):
    model = MODELS.build(
        dict(
            type='MultiLabelCAMClassifier',
            backbone=dict(type=backbone),
            in_channels=3,
            num_classes=num_classes,
            test_cfg=test))
    if weight is not None:
        with torch.no_grad():
            model.classifier.weight.copy_(
                torch.tensor(weight, dtype=torch.float32)[:, :, None, None])
    return model.eval()


def _sample(tags=None, ori_shape=(2, 4), **meta):
    meta = dict(meta, ori_shape=ori_shape, img_path='img_x.jpg')
    if tags is not None:
        meta['img_tags'] = torch.tensor(tags, dtype=torch.float32)
    return SegDataSample(metainfo=meta)


# ------------------------------------------------------------------- loss


def test_bce_loss_hand_computed():
    # Identity backbone: the logits are the spatial means of the channels
    # the classifier picks: image 1 (2, -1), image 2 (0, 3).
    model = _model(weight=[[1, 0, 0], [0, 1, 0]], num_classes=3).train()
    inputs = torch.zeros(2, 3, 2, 2)
    inputs[0, 0], inputs[0, 1] = 2.0, -1.0
    inputs[1, 1] = 3.0
    samples = [_sample([1, 0]), _sample([0, 1])]
    losses = model.loss(inputs, samples)
    assert list(losses) == ['loss_cls']
    # -[y log s(x) + (1 - y) log(1 - s(x))] = log(1 + exp(-x)) for y = 1,
    # log(1 + exp(x)) for y = 0; mean over 2 images x 2 classes.
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1)) +
                math.log(2) + math.log(1 + math.exp(-3))) / 4
    assert abs(expected - 0.2954810) < 1e-6
    assert losses['loss_cls'].item() == pytest.approx(expected, abs=1e-6)


def test_loss_needs_tags_of_the_right_length():
    model = _model(weight=None, num_classes=3).train()
    with pytest.raises(KeyError, match='img_x.jpg: no img_tags'):
        model.loss(torch.zeros(1, 3, 2, 2), [_sample()])
    with pytest.raises(
            ValueError,
            match='img_x.jpg: 3 image tags, but the '
            'model has 2 foreground classes'):
        model.loss(torch.zeros(1, 3, 2, 2), [_sample([1, 0, 0])])


# ------------------------------------------------------------------- CAMs


def _row_image(row, rows=2):
    """(1, 3, rows, W): channel 0 and 1 hold ``row`` on every row, channel
    2 zeros."""
    x = torch.zeros(1, 3, rows, len(row))
    x[0, 0] = torch.tensor(row, dtype=torch.float32)
    x[0, 1] = torch.tensor(row, dtype=torch.float32)
    return x


# Classes: 0 sees channel 0, 1 sees channel 1, 2 sees minus channel 0.
WEIGHT = [[1, 0, 0], [0, 1, 0], [-1, 0, 0]]


def test_flip_fusion_flips_back():
    x = _row_image([0., 2., 4., 8.])
    ramp = torch.arange(1., 5.)
    plain = _model('_CAMTestRamp', WEIGHT, scales=(1.0, ), flip=False)
    flipped = _model('_CAMTestRamp', WEIGHT, scales=(1.0, ), flip=True)
    with torch.no_grad():
        cams_plain, _ = plain.multi_scale_cams(x)
        cams_flip, _ = flipped.multi_scale_cams(x)
    # One view: x * ramp. With its flip, flipped back: x * ramp + x *
    # reversed ramp = x * (W + 1).
    np.testing.assert_allclose(cams_plain[0, 0, 0], (x[0, 0, 0] * ramp))
    np.testing.assert_allclose(cams_flip[0, 0, 0], x[0, 0, 0] * 5)
    assert cams_flip[0, 2].abs().max() == 0  # ReLU of a negative map


def test_multi_scale_flip_fusion_hand_built():
    x = _row_image([0., 2., 4., 8.])
    model = _model('_CAMTestRamp', WEIGHT, scales=(1.0, 0.5), flip=True)
    # Scale 1: x * (W + 1) = [0, 10, 20, 40].
    # Scale 0.5: bilinear halving averages pairs: [1, 6]; with the flip
    # [1, 6] * (2 + 1) = [3, 18]; back to width 4 (bilinear,
    # align_corners=False, source x = j / 2 - 0.25 clamped at 0 and 1):
    # [3, 0.75 * 3 + 0.25 * 18, 0.25 * 3 + 0.75 * 18, 18]
    #   = [3, 6.75, 14.25, 18].
    expected = torch.tensor([3., 16.75, 34.25, 58.])
    with torch.no_grad():
        cams, _ = model.multi_scale_cams(x)
        [out] = model.predict(x, [_sample([1, 0, 1], ori_shape=(2, 4))])
    np.testing.assert_allclose(cams[0, 0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(cams[0, 0, 1], expected, rtol=1e-6)
    got = out.cams.data
    assert got.shape == (3, 2, 4)
    # Normalised by the class maximum: tagged class 0 peaks at exactly 1.
    np.testing.assert_allclose(got[0, 0], expected / 58, rtol=1e-6)
    assert got[0].max() == 1.0
    # Class 1 has the same map but is not tagged: 0. Class 2 is tagged but
    # its map is ReLU'd to 0 everywhere, so it stays 0.
    assert got[1].abs().max() == 0 and got[2].abs().max() == 0
    np.testing.assert_array_equal(out.cam_tags, [1., 0., 1.])
    # The seed: background (channel 0 = bg_threshold 0.15) where every CAM
    # is below it: 3 / 58 < 0.15 < 16.75 / 58.
    assert out.seg_logits.data.shape == (4, 2, 4)
    np.testing.assert_allclose(out.seg_logits.data[0], 0.15)
    np.testing.assert_array_equal(out.pred_sem_seg.data[0],
                                  [[0, 1, 1, 1], [0, 1, 1, 1]])


def test_padding_is_cropped_before_normalising():
    # The last two columns are padding with a large value; the CAM must
    # be normalised over the image only.
    x = _row_image([1., 2., 4., 8., 100., 100.])
    model = _model(weight=WEIGHT, scales=(1.0, ), flip=False)
    sample = _sample([1, 0, 0], ori_shape=(2, 4), padding_size=[0, 2, 0, 0])
    with torch.no_grad():
        [out] = model.predict(x, [sample])
    np.testing.assert_allclose(out.cams.data[0, 0], [1 / 8, 2 / 8, 4 / 8, 1])


def test_resized_to_ori_shape_and_classes_predicted_without_tags():
    x = torch.rand(1, 3, 6, 8) + 0.1
    x[0, 1] = -x[0, 1]  # class 1 scores below 0.5: not kept
    model = _model(weight=WEIGHT, scales=(1.0, 0.5), flip=True, score_thr=0.5)
    with torch.no_grad():
        [out] = model.predict(x, [_sample(None, ori_shape=(12, 16))])
    assert out.cams.data.shape == (3, 12, 16)
    assert out.pred_sem_seg.data.shape == (1, 12, 16)
    np.testing.assert_array_equal(out.cam_tags, [1., 0., 0.])
    assert out.cls_scores[0] > 0.5 > out.cls_scores[1]
    assert out.cams.data[0].max() == 1.0 and out.cams.data[0].min() >= 0
    assert out.cams.data[1:].abs().max() == 0
    # Without data samples: the input size and predicted classes.
    with torch.no_grad():
        [bare] = model.predict(x)
    assert bare.cams.data.shape == (3, 6, 8)


def test_resnet_shapes_and_normalisation():
    model = MODELS.build(
        dict(
            type='MultiLabelCAMClassifier',
            backbone=dict(
                type='ResNetV1c',
                depth=18,
                out_indices=(3, ),
                strides=(1, 2, 2, 1),
                dilations=(1, 1, 1, 2),
                norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
            in_channels=512,
            num_classes=21,
            test_cfg=dict(scales=(1.0, 0.5), flip=True))).eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 48)
    tags = torch.zeros(2, 20)
    tags[0, [3, 7]] = 1
    tags[1, 14] = 1
    samples = [_sample(t.tolist(), ori_shape=(40, 60)) for t in tags]
    with torch.no_grad():
        logits, cam_logits = model(x, mode='tensor')
        outs = model(x, samples, mode='predict')
    assert logits.shape == (2, 20) and cam_logits.shape == (2, 20, 2, 3)
    # The logits are the spatial mean of the maps before the ReLU.
    np.testing.assert_allclose(
        logits, cam_logits.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    for out, tag in zip(outs, tags):
        cams = out.cams.data
        assert cams.shape == (20, 40, 60) and cams.min() >= 0
        peaks = cams.flatten(1).max(dim=1).values
        for k in range(20):
            if tag[k]:
                assert peaks[k] == 1.0 or peaks[k] == 0.0
            else:
                assert peaks[k] == 0.0
        assert out.pred_sem_seg.data.max() <= 20


def test_config_errors():
    with pytest.raises(
            ValueError,
            match='test_cfg.scales must be a non-empty '
            'list of positive numbers, got'):
        _model(scales=())
    with pytest.raises(
            ValueError, match='test_cfg.bg_threshold must be a '
            'number in'):
        _model(bg_threshold=1.5)
    with pytest.raises(TypeError, match='test_cfg.flip must be a bool'):
        _model(flip='yes')
    with pytest.raises(ValueError, match=r"test_cfg has unknown keys \['sc"):
        _model(scale=1.0)
    with pytest.raises(ValueError, match='num_classes .* must be an int >= 2'):
        _model(num_classes=1)
    model = _model(weight=None, num_classes=4)
    model.in_channels = 5
    with pytest.raises(
            ValueError,
            match='the backbone output -1 has shape '
            r'\(1, 3, 2, 2\), but in_channels is 5'):
        model(torch.zeros(1, 3, 2, 2), mode='tensor')


# ---------------------------------------------------------------- configs


def test_voc_template_builds_offline_and_names_its_weights():
    cfg = Config.fromfile(VOC)
    assert remote_pretrained_weights(cfg.model) == [
        ('model.pretrained', 'open-mmlab://resnet50_v1c')
    ]
    assert cfg.train_dataloader.dataset.ann_file.endswith('train_aug.txt')
    assert cfg.model.num_classes == 21 and cfg.model.in_channels == 2048
    cfg.model.pretrained = None
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    assert model.test_cfg['scales'] == (1.0, 0.5, 1.5, 2.0)
    assert model.test_cfg['flip'] is True
    tiny = Config.fromfile(TINY)
    assert tiny.model.pretrained is None
    assert remote_pretrained_weights(tiny.model) == []


def test_runner_trains_on_a_generated_folder(tmp_path, run_tool):
    from mmattn.synthetic import make_seg_dataset
    data = str(tmp_path / 'data')
    make_seg_dataset(
        data, num_images=8, seed=0, img_size=(48, 48), show_progress=False)
    work = str(tmp_path / 'work')
    options = [
        f'{loader}.{key}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        for key in (f'dataset.data_root={data}', 'num_workers=0',
                    'persistent_workers=False')
    ] + [
        'train_cfg.max_iters=3',
        'train_cfg.val_interval=3',
        'train_dataloader.batch_size=2',
        # 48x48 crops: RandomResize and RandomCrop of the pipeline.
        'train_dataloader.dataset.pipeline.1.scale=(48,48)',
        'train_dataloader.dataset.pipeline.2.crop_size=(48,48)',
        'model.data_preprocessor.size=(48,48)',
        'model.test_cfg.scales=(1.0,0.5)',
        'default_hooks.checkpoint.interval=3'
    ]
    result = run_tool([
        'tools/train.py', TINY, '--work-dir', work, '--cfg-options', *options
    ])
    log = result.stdout + result.stderr
    losses = [
        float(line.split('loss_cls: ')[1].split()[0])
        for line in log.splitlines() if 'loss_cls: ' in line
    ]
    assert losses and all(math.isfinite(v) and v > 0 for v in losses)
    assert 'mIoU: ' in log  # the CAM seeds scored on the val split
    assert osp.isfile(osp.join(work, 'iter_3.pth'))
    assert glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
