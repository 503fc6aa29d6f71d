# Copyright (c) mmattn contributors. All rights reserved.
"""tools/visualize_attention.py and mmattn.visualization: the captured maps
are the attention modules' outputs, they land on the right image pixels, and
the tool draws one panel per level / class and refuses what it should."""
import glob
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmattn.synthetic import SYNTHETIC_DET_CLASSES
from mmattn.visualization import (CLASS, SPATIAL, align_to_image,
                                  build_test_pipeline, compute_attention,
                                  figure_size_px, preprocess, select_classes)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'visualize_attention.py')
HAR_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                      'harnet_r18_tiny_synthetic.py')
RETINA_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                         'retinanet_r18_tiny_synthetic.py')
SAL_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                      'salnet_r18_tiny_synthetic.py')


def _save(model, path):
    meta = dict(dataset_meta=getattr(model, 'dataset_meta', None) or {})
    save_checkpoint({'state_dict': model.state_dict(), 'meta': meta}, path)
    return path


def _init_detector(config):
    from mmdet.apis import init_detector
    model = init_detector(
        Config.fromfile(config), None, palette='random', device='cpu')
    # saved into the checkpoint's meta, as a trained one has it
    model.dataset_meta = dict(classes=SYNTHETIC_DET_CLASSES)
    return model


@pytest.fixture(scope='module')
def har(tmp_path_factory):
    """A randomly initialised tiny HAR-Net and its checkpoint."""
    torch.manual_seed(0)
    model = _init_detector(HAR_CONFIG)
    # The real init: the spatial mask must vary without any re-drawing.
    model.init_weights()
    model.eval()
    path = str(tmp_path_factory.mktemp('har') / 'har.pth')
    return model, _save(model, path)


@pytest.fixture(scope='module')
def sal(tmp_path_factory):
    """A randomly initialised tiny SAL-Net and its checkpoint."""
    from mmseg.apis import init_model
    from mmseg.utils import get_classes
    torch.manual_seed(0)
    model = init_model(Config.fromfile(SAL_CONFIG), None, device='cpu')
    model.dataset_meta = dict(classes=get_classes('voc'))
    model.init_weights()
    model.eval()
    path = str(tmp_path_factory.mktemp('sal') / 'sal.pth')
    return model, _save(model, path)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('visualize_attention_tool',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tall_det_image(synthetic_det_root, tmp_path_factory):
    """A 100x60 (H x W) image: the test Resize(256, keep_ratio) makes it
    256x154, padded to 256x160, so resize and padding both need undoing."""
    src = sorted(glob.glob(osp.join(synthetic_det_root, 'train', '*.jpg')))[0]
    image = cv2.resize(cv2.imread(src), (60, 100))
    path = str(tmp_path_factory.mktemp('wide') / 'tall.png')
    cv2.imwrite(path, image)
    return path


def _png_size(path):
    height, width = cv2.imread(path).shape[:2]
    return width, height


# ---------------------------------------------------------------------- #
# alignment, by hand
# ---------------------------------------------------------------------- #
def test_align_to_image_undoes_stride_padding_and_resize():
    # Feature (2, 4) at stride 4 -> input 8x16 of which 8x12 is the image
    # (4 columns of padding), scaled 2x from a 4x6 original. With a column
    # ramp map[i, j] = j, original pixel u sits at input x = 2u + 0.5, i.e.
    # feature coordinate (x + 0.5) / 4 - 0.5 = u / 2 - 0.25, and bilinear
    # steps reproduce a ramp exactly away from the clamped border (u = 0).
    ramp = torch.arange(4.).repeat(2, 1)
    meta = dict(img_shape=(8, 12), ori_shape=(4, 6))
    out = align_to_image(ramp, meta, input_shape=(8, 16), stride=(4, 4))
    expected = [0.0, 0.25, 0.75, 1.25, 1.75, 2.25]
    assert out.shape == (4, 6)
    for row in out:
        np.testing.assert_allclose(row.numpy(), expected, atol=1e-6)

    # mmseg states the padding as (left, right, top, bottom) instead.
    meta_seg = dict(
        img_shape=(8, 12), ori_shape=(4, 6), img_padding_size=(0, 4, 0, 0))
    out_seg = align_to_image(ramp, meta_seg, (8, 16), stride=(4, 4))
    np.testing.assert_allclose(out_seg.numpy(), out.numpy(), atol=1e-6)

    # Keeping the padding would shift every pixel: not what we get.
    unpadded = dict(img_shape=(8, 16), ori_shape=(4, 6))
    shifted = align_to_image(ramp, unpadded, (8, 16), stride=(4, 4))
    assert not np.allclose(shifted.numpy(), out.numpy(), atol=0.05)

    flipped = align_to_image(
        ramp,
        dict(meta, flip=True, flip_direction='horizontal'), (8, 16),
        stride=(4, 4))
    np.testing.assert_allclose(flipped.numpy(), out.flip(1).numpy())


def test_select_classes_by_tags_and_topk():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    tags = np.array([1, 0, 1, 0])
    assert select_classes(scores) == [1, 3, 2]
    assert select_classes(scores, topk=2) == [1, 3]
    assert select_classes(scores, tags) == [2, 0]
    # untagged classes fill up to topk, best first
    assert select_classes(scores, tags, topk=3) == [2, 0, 1]
    assert select_classes(scores, tags, topk=1) == [2, 0]
    # an image without tags falls back to the top-k
    assert select_classes(scores, np.zeros(4), topk=2) == [1, 3]
    with pytest.raises(ValueError, match='topk'):
        select_classes(scores, topk=0)


# ---------------------------------------------------------------------- #
# the captured maps are the modules' outputs
# ---------------------------------------------------------------------- #
def test_spatial_maps_are_the_spatial_attention_outputs(har, tall_det_image):
    model, _ = har
    maps = compute_attention(model, tall_det_image)
    assert maps.kind == SPATIAL
    assert maps.names == ['P3', 'P4', 'P5', 'P6', 'P7']
    assert maps.strides == [8, 16, 32, 64, 128]

    batch = preprocess(model, build_test_pipeline(model.cfg), tall_det_image)
    assert tuple(batch['inputs'].shape[-2:]) == (256, 160)
    with torch.no_grad():
        feats = model.extract_feat(batch['inputs'])
        expected = [model.bbox_head.spatial_attention(f)[0, 0] for f in feats]
    assert len(maps.feature_maps) == 5
    for got, want in zip(maps.feature_maps, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    values = np.concatenate([m.ravel() for m in maps.feature_maps])
    assert values.min() >= 0 and values.max() <= 1
    assert values.max() - values.min() > 0.05, 'masks too flat to compare'

    assert maps.image.shape == (100, 60, 3)
    for image_map in maps.image_maps:
        assert image_map.shape == (100, 60)
        assert image_map.min() >= 0 and image_map.max() <= 1
    # P3 upsampled by its stride, padding cut, back to 100x60.
    meta = batch['data_samples'][0].metainfo
    np.testing.assert_allclose(
        maps.image_maps[0],
        align_to_image(expected[0], meta, (256, 160), (8, 8)).numpy(),
        atol=1e-6)


def test_class_maps_are_the_classification_branch_outputs(
        sal, synthetic_seg_root):
    model, _ = sal
    img = sorted(
        glob.glob(osp.join(synthetic_seg_root, 'JPEGImages', '*.jpg')))[0]
    maps = compute_attention(model, img)
    assert maps.kind == CLASS
    assert len(maps.feature_maps) == 20
    assert maps.names[0] == 'aeroplane' and maps.names[14] == 'person'

    head = model.decode_head
    batch = preprocess(model, build_test_pipeline(model.cfg), img)
    with torch.no_grad():
        feat = model.extract_feat(batch['inputs'])[head.in_index]
        logit_maps = head.cls_branch.forward_maps(feat)[0]
        logits = head.cls_branch(feat)[0]
    np.testing.assert_allclose(
        maps.scores, logits.sigmoid().numpy(), rtol=1e-5, atol=1e-6)
    # Eq. 10 pooled: without the FC the logit is the mean of the fused map.
    np.testing.assert_allclose(
        logit_maps.mean(dim=(1, 2)).numpy(),
        logits.numpy(),
        rtol=1e-4,
        atol=1e-5)
    for got, want in zip(maps.feature_maps, logit_maps.sigmoid()):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    values = np.stack(maps.feature_maps)
    assert values.min() >= 0 and values.max() <= 1
    assert values.max() - values.min() > 0.05, 'maps too flat to compare'
    assert maps.scores.min() >= 0 and maps.scores.max() <= 1
    for image_map in maps.image_maps:
        assert image_map.shape == maps.image.shape[:2] == (96, 96)


# ---------------------------------------------------------------------- #
# the command line
# ---------------------------------------------------------------------- #
def test_tool_draws_one_panel_per_pyramid_level(har, synthetic_det_root,
                                                tall_det_image, tmp_path,
                                                run_tool):
    _, checkpoint = har
    square = sorted(glob.glob(osp.join(synthetic_det_root, 'train',
                                       '*.jpg')))[0]
    out_dir = str(tmp_path / 'out')
    args = [
        TOOL, HAR_CONFIG, checkpoint, square, tall_det_image, '--out-dir',
        out_dir, '--device', 'cpu'
    ]
    result = run_tool(args, timeout=300)
    stem = osp.splitext(osp.basename(square))[0]
    expected = [
        osp.join(out_dir, f'{stem}_spatial_attention.png'),
        osp.join(out_dir, 'tall_spatial_attention.png')
    ]
    assert result.stdout.split() == expected
    for path in expected:
        # the input and P3..P7
        assert _png_size(path) == figure_size_px(6)


def test_tool_draws_the_tagged_classes(tool, sal, synthetic_seg_root, tmp_path,
                                       capsys):
    # In-process (the subprocess path is covered above): main() as the
    # command line calls it.
    _, checkpoint = sal
    img = sorted(
        glob.glob(osp.join(synthetic_seg_root, 'JPEGImages', '*.jpg')))[0]
    tag_file = osp.join(synthetic_seg_root, 'cls_labels.npy')
    tags = np.load(tag_file, allow_pickle=True).item()
    stem = osp.splitext(osp.basename(img))[0]
    num_tags = int(np.sum(tags[stem] > 0))
    assert num_tags >= 1
    out_dir = str(tmp_path / 'out')
    capsys.readouterr()
    assert tool.main([
        SAL_CONFIG, checkpoint, img, '--out-dir', out_dir, '--device', 'cpu',
        '--classes-from-tags', tag_file
    ]) == 0
    out_file = osp.join(out_dir, f'{stem}_class_attention.png')
    assert capsys.readouterr().out.split() == [out_file]
    assert _png_size(out_file) == figure_size_px(1 + num_tags)
    # --topk adds the best untagged classes
    assert tool.main([
        SAL_CONFIG, checkpoint, img, '--out-dir', out_dir, '--device', 'cpu',
        '--classes-from-tags', tag_file, '--topk',
        str(num_tags + 2), '--overwrite'
    ]) == 0
    assert _png_size(out_file) == figure_size_px(3 + num_tags)


def _expect_error(tool, argv, match):
    with pytest.raises(SystemExit) as excinfo:
        tool.main(argv)
    message = str(excinfo.value.code)
    assert message.startswith('visualize_attention.py: error:'), message
    assert match in message, message


def test_tool_refuses_a_model_without_attention(tool, tmp_path,
                                                synthetic_det_root, sal):
    from mmdet.apis import init_detector
    img = sorted(glob.glob(osp.join(synthetic_det_root, 'train', '*.jpg')))[0]
    retina = init_detector(
        Config.fromfile(RETINA_CONFIG), None, palette='random', device='cpu')
    checkpoint = _save(retina, str(tmp_path / 'retina.pth'))
    out_dir = tmp_path / 'out'
    _expect_error(tool, [
        RETINA_CONFIG, checkpoint, img, '--out-dir',
        str(out_dir), '--device', 'cpu'
    ], 'spatial_attention=None')
    _, sal_checkpoint = sal
    _expect_error(tool, [
        SAL_CONFIG, sal_checkpoint, img, '--out-dir',
        str(out_dir), '--device', 'cpu', '--cfg-options',
        'model.decode_head.cls_branch=None',
        'model.decode_head.attention_guided=False',
        'model.decode_head.loss_attention=None'
    ], 'cls_branch=None')
    assert not out_dir.exists()


def test_tool_refuses_to_overwrite_and_missing_files(tool, har, tmp_path,
                                                     synthetic_det_root):
    _, checkpoint = har
    img = sorted(glob.glob(osp.join(synthetic_det_root, 'train', '*.jpg')))[0]
    stem = osp.splitext(osp.basename(img))[0]
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    existing = out_dir / f'{stem}_spatial_attention.png'
    existing.write_bytes(b'keep me')
    argv = [
        HAR_CONFIG, checkpoint, img, '--out-dir',
        str(out_dir), '--device', 'cpu'
    ]
    _expect_error(tool, argv, '--overwrite')
    assert existing.read_bytes() == b'keep me'

    _expect_error(tool, [
        HAR_CONFIG,
        str(tmp_path / 'none.pth'), img, '--out-dir',
        str(out_dir)
    ], 'checkpoint file not')
    _expect_error(tool, [
        HAR_CONFIG, checkpoint,
        str(tmp_path / 'no.jpg'), '--out-dir',
        str(out_dir)
    ], 'no.jpg')


# ---------------------------------------------------------------------- #
# the hook
# ---------------------------------------------------------------------- #
def test_hook_draws_the_first_val_images_every_interval(
        har, synthetic_det_root, tmp_path):
    from types import SimpleNamespace

    from mmdet.registry import HOOKS as DET_HOOKS

    model, _ = har
    # a detection config finds the hook registered in mmengine's root
    hook = DET_HOOKS.build(
        dict(type='AttentionVisualizationHook', interval=2, num_images=1))
    pipeline = build_test_pipeline(model.cfg)
    imgs = sorted(glob.glob(osp.join(synthetic_det_root, 'train',
                                     '*.jpg')))[:2]
    samples = [
        pipeline(dict(img_path=img, img_id=i)) for i, img in enumerate(imgs)
    ]
    data_batch = dict(
        inputs=[s['inputs'] for s in samples],
        data_samples=[s['data_samples'] for s in samples])
    runner = SimpleNamespace(model=model, work_dir=str(tmp_path), iter=10)
    stem = osp.splitext(osp.basename(imgs[0]))[0]

    hook.before_val_epoch(runner)  # 1st validation: drawn
    hook.after_val_iter(runner, 0, data_batch)
    drawn = sorted(glob.glob(str(tmp_path / 'attention_maps' / '*' / '*')))
    assert drawn == [
        str(tmp_path / 'attention_maps' / 'iter_10' /
            f'{stem}_spatial_attention.png')
    ]
    assert _png_size(drawn[0]) == figure_size_px(6)

    runner.iter = 20
    hook.before_val_epoch(runner)  # 2nd: skipped (interval 2)
    hook.after_val_iter(runner, 0, data_batch)
    assert not (tmp_path / 'attention_maps' / 'iter_20').exists()

    with pytest.raises(ValueError, match='interval'):
        DET_HOOKS.build(dict(type='AttentionVisualizationHook', interval=0))
