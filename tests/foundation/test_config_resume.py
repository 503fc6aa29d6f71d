# Copyright (c) mmattn contributors. All rights reserved.
"""`resume=True` and `load_from` work with the configs mmattn ships: each
tiny config trains 2 iterations through mmengine's Runner on generated data,
saves, resumes and trains on, and a new run starts from its weights with
`load_from`. (The paper configs need COCO/VOC; what makes them resumable is
the same `custom_imports` of mmattn, checked for every config in
test_checkpoint_resume.py.)"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmattn.segmentation.score_file import dump_mask_scores

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(autouse=True)
def _skip_config_pretty_print(monkeypatch):
    # The Runner dumps the config through yapf, which costs more than the
    # two training iterations; the text plays no part in resuming.
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda self: str(self.filename)))


def _loaders(cfg):
    return [cfg[k] for k in ('train_dataloader', 'val_dataloader',
                             'test_dataloader') if cfg.get(k)]


def _shrink_common(cfg, work_dir, iters):
    cfg.work_dir = str(work_dir)
    for loader in _loaders(cfg):
        loader.batch_size = 2
        loader.num_workers = 0
        loader.persistent_workers = False
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = 1000  # resuming is what is tested here
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


def _det_cfg(name, data_root, work_dir, iters):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'harnet', name))
    for loader in _loaders(cfg):
        loader.dataset.data_root = data_root + '/'
    cfg.val_evaluator.ann_file = osp.join(data_root, 'annotations',
                                          'instances_val.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.visualizer = dict(type='DetLocalVisualizer', vis_backends=[])
    return _shrink_common(cfg, work_dir, iters)


def _seg_cfg(name, data_root, work_dir, iters, size=64):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sal', name))
    for loader in _loaders(cfg):
        loader.dataset.data_root = data_root
    cfg.model.data_preprocessor.size = (size, size)
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.type == 'RandomResize':
            transform.scale = (size, size)
        if transform.type == 'RandomCrop':
            transform.crop_size = (size, size)
    return _shrink_common(cfg, work_dir, iters)


@pytest.fixture(scope='module')
def seg_root_with_scores(synthetic_seg_root, tmp_path_factory):
    """A copy of the shared generated VOC-style set plus a score file in
    which half of the images pass the tiny config's tau. A copy: other tests
    check that the shared folder has no score file, or copy it as a user's
    folder."""
    import shutil
    root = str(tmp_path_factory.mktemp('seg_with_scores') / 'data')
    shutil.copytree(synthetic_seg_root, root)
    with open(osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')) as f:
        ids = f.read().split()
    dump_mask_scores(
        {
            image_id: dict(AC=0.8, CD=1.0, SC=0.8,
                           P=0.9 if i % 2 else 0.2,
                           SF=0.9 if i % 2 else 0.2)
            for i, image_id in enumerate(ids)
        }, osp.join(root, 'mask_scores.json'))
    return root


CASES = [
    ('det', 'harnet_r18_tiny_synthetic.py'),
    ('det', 'retinanet_r18_tiny_synthetic.py'),
    ('seg', 'salnet_r18_tiny_synthetic.py'),
]


@pytest.mark.parametrize('kind, name', CASES)
def test_config_saves_resumes_and_loads_from(kind, name, tmp_path, request):
    if kind == 'det':
        data_root = request.getfixturevalue('synthetic_det_root')
        build = _det_cfg
    else:
        data_root = request.getfixturevalue('seg_root_with_scores')
        build = _seg_cfg
    work_dir = tmp_path / 'run'

    torch.manual_seed(0)
    first = Runner.from_cfg(build(name, data_root, work_dir, iters=2))
    first.train()
    ckpt = work_dir / 'iter_2.pth'
    assert ckpt.is_file()
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}

    # Resume in the same work dir: picks up iter_2.pth by itself.
    cfg = build(name, data_root, work_dir, iters=3)
    cfg.resume = True
    second = Runner.from_cfg(cfg)
    second.load_or_resume()
    assert second.iter == 2
    for key, value in second.model.state_dict().items():
        torch.testing.assert_close(value, saved[key], msg=key)
    assert len(second.optim_wrapper.optimizer.state) > 0  # momentum is back
    second.train()
    assert second.iter == 3
    assert (work_dir / 'last_checkpoint').is_file()

    # load_from: weights only, a fresh schedule in another work dir.
    cfg = build(name, data_root, tmp_path / 'finetune', iters=1)
    cfg.load_from = str(ckpt)
    third = Runner.from_cfg(cfg)
    third.load_or_resume()
    assert third.iter == 0
    for key, value in third.model.state_dict().items():
        torch.testing.assert_close(value, saved[key], msg=key)
