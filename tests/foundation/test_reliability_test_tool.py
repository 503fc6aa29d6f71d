# Copyright (c) mmattn contributors. All rights reserved.
"""tools/test.py as mmdet's and mmseg's: --show-dir (every test image),
--out; testing a SAL-Net config never builds its training set (also with
mmseg's own tools/test.py, as ``mim test`` runs it); and mmattn's tools
refuse a checkpoint of another model instead of evaluating or drawing an
untrained network."""
import glob
import importlib.util
import json
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint

import mmattn  # noqa: F401
from mmattn.synthetic import SYNTHETIC_DET_CLASSES

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAL_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                      'salnet_r18_tiny_synthetic.py')
DET_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                      'retinanet_r18_tiny_synthetic.py')
HAR_CONFIG = osp.join(REPO_ROOT, 'configs', 'harnet',
                      'harnet_r18_tiny_synthetic.py')


def _ids(root, split):
    with open(osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')) \
            as f:
        return f.read().split()


@pytest.fixture(scope='module')
def sal_checkpoint(tmp_path_factory):
    """A randomly initialised tiny SAL-Net, saved as training would."""
    from mmseg.registry import MODELS
    from mmseg.utils import get_classes
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(SAL_CONFIG).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('sal') / 'sal.pth')
    save_checkpoint(
        {
            'state_dict': model.state_dict(),
            'meta': dict(dataset_meta=dict(classes=get_classes('voc')))
        }, path)
    return path


@pytest.fixture(scope='module')
def det_checkpoint(tmp_path_factory):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(DET_CONFIG).model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('det') / 'retinanet.pth')
    save_checkpoint(
        {
            'state_dict': model.state_dict(),
            'meta': dict(dataset_meta=dict(classes=SYNTHETIC_DET_CLASSES))
        }, path)
    return path


def _sal_options(root):
    return [
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.batch_size=1', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ]


def _det_options(root):
    root = root + '/'
    return [
        f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        'model.test_cfg.score_thr=0.0', 'model.test_cfg.nms_pre=50'
    ]


def _pngs(folder):
    return sorted(
        glob.glob(osp.join(str(folder), '**', '*.png'), recursive=True))


def test_sal_show_dir_and_out_without_a_training_set(
        synthetic_seg_root, sal_checkpoint, tmp_path, run_tool):
    # The config's training set needs mask_scores.json with SF scores; the
    # generated data has no score file at all, so building it would fail.
    assert not osp.exists(osp.join(synthetic_seg_root, 'mask_scores.json'))
    val_ids = _ids(synthetic_seg_root, 'val')
    assert len(val_ids) >= 2  # more than one batch of 1
    show_dir, out = tmp_path / 'vis', tmp_path / 'preds'
    result = run_tool([
        'tools/test.py', SAL_CONFIG, sal_checkpoint, '--work-dir',
        tmp_path / 'work', '--show-dir', show_dir, '--out', out,
        '--cfg-options'
    ] + _sal_options(synthetic_seg_root))
    assert 'mIoU' in result.stdout + result.stderr
    # one picture per test image (mmseg's default interval 50 drew one
    # batch), under the visualizer's save_dir as mmseg's tool does
    pictures = _pngs(show_dir)
    assert len(pictures) == len(val_ids), pictures
    for img_id in val_ids:
        assert any(f'test_{img_id}.jpg' in p for p in pictures)
    # --out: the predicted label maps (IoUMetric's output_dir)
    assert sorted(osp.basename(p) for p in _pngs(out)) == sorted(
        f'{i}.png' for i in val_ids)


def test_show_dir_with_mmsegs_own_hook(synthetic_seg_root, sal_checkpoint,
                                       tmp_path, run_tool):
    """A user config with mmseg's SegVisualizationHook (which reads
    runner.iter): tools/test.py drops the training settings, so the
    training set is still not built, and --show-dir draws every image."""
    show_dir = tmp_path / 'vis'
    run_tool([
        'tools/test.py', SAL_CONFIG, sal_checkpoint, '--work-dir',
        tmp_path / 'work', '--show-dir', show_dir, '--cfg-options',
        'default_hooks.visualization.type=SegVisualizationHook'
    ] + _sal_options(synthetic_seg_root))
    assert len(_pngs(show_dir)) == len(_ids(synthetic_seg_root, 'val'))


def test_mmseg_own_test_tool_with_show_dir(synthetic_seg_root, sal_checkpoint,
                                           tmp_path, run_tool):
    """mmseg's tools/test.py (what ``mim test mmseg`` runs) on the SAL
    config: --show-dir draws every test image (the config's interval) and
    does not build the training set (SegTestVisualizationHook)."""
    spec = importlib.util.find_spec('mmseg')
    tool = osp.join(osp.dirname(spec.origin), '.mim', 'tools', 'test.py')
    assert osp.isfile(tool)
    show_dir = tmp_path / 'vis'
    run_tool([
        tool, SAL_CONFIG, sal_checkpoint, '--work-dir', tmp_path / 'work',
        '--show-dir', show_dir, '--cfg-options'
    ] + _sal_options(synthetic_seg_root))
    assert len(_pngs(show_dir)) == len(_ids(synthetic_seg_root, 'val'))


def test_det_show_dir_and_out(synthetic_det_root, det_checkpoint, tmp_path,
                              run_tool):
    with open(osp.join(synthetic_det_root, 'annotations',
                       'instances_val.json')) as f:
        num_val = len(json.load(f)['images'])
    work_dir, out = tmp_path / 'work', tmp_path / 'preds.pkl'
    run_tool([
        'tools/test.py', DET_CONFIG, det_checkpoint, '--work-dir', work_dir,
        '--show-dir', 'vis', '--out', out, '--cfg-options'
    ] + _det_options(synthetic_det_root))
    # mmdet's meaning: relative to WORK_DIR/<timestamp>
    pictures = glob.glob(str(work_dir / '*' / 'vis' / '*.jpg'))
    assert len(pictures) == num_val
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == num_val
    assert 'bboxes' in predictions[0]['pred_instances']


def test_det_out_must_be_a_pickle(synthetic_det_root, det_checkpoint,
                                  tmp_path, run_tool):
    result = run_tool([
        'tools/test.py', DET_CONFIG, det_checkpoint, '--work-dir',
        tmp_path / 'work', '--out', tmp_path / 'preds.json'
    ], check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f'test.py: error: --out {tmp_path / "preds.json"}: mmdet configs '
        'dump predictions to a .pkl file')


def test_test_tool_refuses_another_models_checkpoint(
        synthetic_det_root, sal_checkpoint, tmp_path, run_tool):
    result = run_tool([
        'tools/test.py', HAR_CONFIG, sal_checkpoint, '--work-dir',
        tmp_path / 'work', '--cfg-options'
    ] + _det_options(synthetic_det_root), check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f'test.py: error: checkpoint {sal_checkpoint} does not load '
        f'strictly into the model of {HAR_CONFIG}: ')
    # SAL-Net's ResNetV1c has a deep stem and a decode head; HAR-Net's
    # ResNet has conv1 and a bbox head: counts and the first three of each
    assert 'keys missing from the checkpoint (backbone.conv1.weight; ' in line
    assert 'keys the model does not have (backbone.stem.0.weight; ' in line
    assert 'more)' in line
    assert 'coco/bbox_mAP' not in result.stdout + result.stderr


def test_test_tool_config_hook_gives_way(synthetic_det_root, sal_checkpoint,
                                         tmp_path, run_tool):
    """A config listing a (non-strict) CheckpointMismatchHook: only the
    tool's refusal, not also the config's hook's WARNING that the weights
    keep their initial values."""
    config = tmp_path / 'harnet_with_hook.py'
    config.write_text(f'_base_ = [{HAR_CONFIG!r}]\n'
                      "custom_hooks = [dict(type='CheckpointMismatchHook')]\n")
    result = run_tool([
        'tools/test.py', config, sal_checkpoint, '--work-dir',
        tmp_path / 'work', '--cfg-options'
    ] + _det_options(synthetic_det_root), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'test.py: error: checkpoint {sal_checkpoint} does not load '
        f'strictly into the model of {config}: ')
    assert 'keep their initial values' not in result.stdout + result.stderr


def test_visualize_attention_refuses_another_models_checkpoint(
        synthetic_det_root, sal_checkpoint, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'visualize_attention_tool',
        osp.join(REPO_ROOT, 'tools', 'visualize_attention.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    image = sorted(glob.glob(osp.join(synthetic_det_root, 'val',
                                      '*.jpg')))[0]
    out_dir = tmp_path / 'pictures'
    with pytest.raises(SystemExit) as info:
        tool.main([
            HAR_CONFIG, sal_checkpoint, image, '--out-dir',
            str(out_dir), '--device', 'cpu'
        ])
    message = str(info.value.code)
    assert message.startswith(
        f'visualize_attention.py: error: checkpoint {sal_checkpoint} does '
        f'not load strictly into the model of {HAR_CONFIG}: ')
    assert message.endswith('Draw it with the config it was trained with.')
    assert not out_dir.exists() or not list(out_dir.iterdir())


TTA_CONFIG = f'''
_base_ = [{DET_CONFIG!r}]
custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)
tta_model = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale=(128, 128), keep_ratio=True)],
                    [dict(type='RandomFlip', prob=1.),
                     dict(type='RandomFlip', prob=0.)],
                    [dict(type='LoadAnnotations', with_bbox=True)],
                    [dict(type='PackDetInputs',
                          meta_keys=('img_id', 'img_path', 'ori_shape',
                                     'img_shape', 'scale_factor', 'flip',
                                     'flip_direction'))]])
]
'''


def test_tta_checks_the_wrapped_model(synthetic_det_root, det_checkpoint,
                                      sal_checkpoint, tmp_path, run_tool):
    """--tta wraps the model in DetTTAModel; the strict check compares the
    checkpoint with the wrapped detector, as mmengine loads it."""
    config = tmp_path / 'tta.py'
    config.write_text(TTA_CONFIG)
    base = ['tools/test.py', config]
    options = ['--work-dir', tmp_path / 'work', '--tta', '--cfg-options'
               ] + _det_options(synthetic_det_root)
    result = run_tool(base + [det_checkpoint] + options)
    assert 'coco/bbox_mAP' in result.stdout + result.stderr
    result = run_tool(base + [sal_checkpoint] + options, check=False)
    assert result.returncode == 1
    assert 'does not load strictly' in result.stderr.splitlines()[-1]
