# Copyright (c) mmattn contributors. All rights reserved.
"""mmattn.experiment's shared harness: jobs run in this process or two at a
time in their own processes (what tools/demo.py does on two free cores),
with the same results, their output in the run's folder, and the caller's
logging left working."""
import os.path as osp

import pytest
from mmengine.logging import MMLogger, print_log

from mmattn.experiment import TrainJob, load_config, run_jobs

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PLAIN_CE = osp.join(REPO_ROOT, 'configs', 'sal',
                    'salnet_r18_tiny_synthetic_plain_ce.py')


def _jobs(root, work_dir, seeds):
    size = (48, 48)
    overrides = {
        'model.data_preprocessor.size': size,
        'train_dataloader.batch_size': 2,
        'train_dataloader.dataset.pipeline.2.scale': size,
        'train_dataloader.dataset.pipeline.3.crop_size': size,
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        overrides[f'{loader}.dataset.data_root'] = root
    return [
        TrainJob(name=f'plain CE seed {s}', config=PLAIN_CE,
                 work_dir=str(work_dir / f'seed{s}'), seed=s,
                 overrides=overrides, iters=2) for s in seeds
    ]


def test_job_overrides_reach_the_pipeline_indices():
    cfg = load_config(PLAIN_CE)
    kinds = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert kinds[2:4] == ['RandomResize', 'RandomCrop']


@pytest.mark.parametrize('processes', [1, 2])
def test_run_jobs(synthetic_seg_root, tmp_path, processes):
    done = []
    jobs = _jobs(synthetic_seg_root, tmp_path, seeds=(3, 4))
    results = run_jobs(jobs, processes, on_done=lambda r: done.append(r.name))
    assert sorted(done) == ['plain CE seed 3', 'plain CE seed 4']
    # In the order of the jobs, whatever order they finished in.
    assert [r.name for r in results] == [j.name for j in jobs]
    for job, result in zip(jobs, results):
        assert result.seed == job.seed
        assert 0 <= result.metrics['mIoU'] <= 100
        assert result.history[-1][0] == 2  # validated after iteration 2
        assert result.checkpoint == osp.join(job.work_dir, 'iter_2.pth')
        assert osp.isfile(result.checkpoint) and osp.isfile(result.config)
        # The run's terminal output went to its folder.
        with open(result.log) as f:
            assert 'Iter(train)' in f.read()
    # The caller's 'current' logger still writes (not to a closed file).
    print_log('after the jobs', logger='current')
    assert MMLogger.get_current_instance() is not None


def test_train_backbone_saves_a_loadable_backbone_once(synthetic_seg_root,
                                                       tmp_path):
    import torch
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from mmattn.experiment import (apply_overrides, shorten_schedule,
                                   train_backbone, without_validation)
    cfg = load_config(PLAIN_CE)
    job = _jobs(synthetic_seg_root, tmp_path, seeds=(0, ))[0]
    apply_overrides(cfg, job.overrides)
    shorten_schedule(cfg, 2)
    dropped = without_validation(load_config(PLAIN_CE))
    assert dropped.val_dataloader is None and dropped.test_evaluator is None
    assert 'val_interval' not in dropped.train_cfg
    ckpt = str(tmp_path / 'pre' / 'backbone.pth')
    assert train_backbone(cfg, ckpt) == ckpt
    # The training ran without validation and left its files beside it.
    assert osp.isdir(str(tmp_path / 'pre' / 'run'))
    assert cfg.val_dataloader is not None  # the caller's config untouched
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    init_default_scope('mmseg')
    backbone = MODELS.build(
        dict(cfg.model.backbone,
             init_cfg=dict(type='Pretrained', checkpoint=ckpt)))
    backbone.init_weights()
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, state[key])
    # Reused, not trained again.
    stamp = osp.getmtime(ckpt)
    assert train_backbone(cfg, ckpt) == ckpt
    assert osp.getmtime(ckpt) == stamp
