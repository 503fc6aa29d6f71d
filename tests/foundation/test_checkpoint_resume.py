# Copyright (c) mmattn contributors. All rights reserved.
"""mmengine checkpoints save, resume and load_from under torch's safe
unpickler once mmattn is imported, and safe loading still refuses anything
else."""
import glob
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmattn  # noqa: F401  (registers the safe globals)
from mmattn.utils import register_checkpoint_safe_globals

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.linear(torch.stack(x)).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(y))**2).mean())
        return out


class _ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([1.0, float(i)]), y=torch.tensor(i / 8))


def _toy_runner(work_dir, max_iters, resume=False, load_from=None):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        param_scheduler=[
            dict(type='LinearLR', by_epoch=False, begin=0, end=4)
        ],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        resume=resume,
        load_from=load_from,
        default_scope='mmengine')


def test_default_torch_load_is_safe_and_reads_mmengine_checkpoints(tmp_path):
    runner = _toy_runner(tmp_path, max_iters=2)
    runner.train()
    ckpt_path = tmp_path / 'iter_2.pth'
    # The numpy scalar below is what CheckpointHook's best_score becomes.
    runner.message_hub.update_info('best_score', np.float64(0.5))
    runner.save_checkpoint(str(tmp_path), 'with_np_scalar.pth')

    for path in (ckpt_path, tmp_path / 'with_np_scalar.pth'):
        # torch.load's default is weights_only=True on torch>=2.6: this is
        # exactly the call mmengine makes.
        ckpt = torch.load(path, map_location='cpu')
        history = ckpt['message_hub']['log_scalars']['train/lr']
        assert isinstance(history, HistoryBuffer)
        assert history.current() == pytest.approx(
            runner.message_hub.get_scalar('train/lr').current())
    assert ckpt['message_hub']['runtime_info']['best_score'] == 0.5


def test_resume_continues_training_where_it_stopped(tmp_path):
    first = _toy_runner(tmp_path, max_iters=2)
    first.train()
    saved = {k: v.clone() for k, v in first.model.state_dict().items()}
    saved_momentum = [
        s['momentum_buffer'].clone()
        for s in first.optim_wrapper.optimizer.state.values()
    ]

    second = _toy_runner(tmp_path, max_iters=4, resume=True)
    second.load_or_resume()
    assert second.iter == 2
    for key, value in second.model.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    resumed_momentum = [
        s['momentum_buffer']
        for s in second.optim_wrapper.optimizer.state.values()
    ]
    for a, b in zip(resumed_momentum, saved_momentum):
        torch.testing.assert_close(a, b)
    # The lr scheduler state came back too: LinearLR is mid-warmup at iter 2.
    assert second.param_schedulers[0].last_step == \
        first.param_schedulers[0].last_step

    second.train()
    assert second.iter == 4
    assert osp.isfile(tmp_path / 'iter_4.pth')
    assert not torch.equal(second.model.state_dict()['linear.weight'],
                           saved['linear.weight'])


def test_load_from_restores_weights_only(tmp_path):
    first = _toy_runner(tmp_path / 'a', max_iters=2)
    first.train()
    second = _toy_runner(
        tmp_path / 'b', max_iters=2, load_from=str(tmp_path / 'a' /
                                                   'iter_2.pth'))
    second.load_or_resume()
    assert second.iter == 0  # load_from starts a new schedule
    torch.testing.assert_close(second.model.linear.weight,
                               first.model.linear.weight)


class _CraftedGetattr:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: the shape of an
    attack that walks from an allowlisted class to arbitrary objects."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _UnknownClass:
    pass


def test_safe_loading_still_refuses_other_globals(tmp_path):
    crafted = tmp_path / 'crafted.pth'
    torch.save({'x': _CraftedGetattr()}, crafted)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        torch.load(crafted)

    unknown = tmp_path / 'unknown.pth'
    torch.save({'x': _UnknownClass()}, unknown)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(unknown)


def test_registration_is_idempotent():
    assert register_checkpoint_safe_globals() is True
    assert register_checkpoint_safe_globals() is True


def _shipped_configs():
    """Runnable configs: `_base_` folders hold fragments, not configs."""
    paths = glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    return sorted(p for p in paths
                  if '_base_' not in osp.relpath(p, REPO_ROOT).split(osp.sep))


def test_every_shipped_config_imports_mmattn():
    """The fix is active exactly when mmattn is imported, so every config
    mmattn ships must import it through custom_imports."""
    configs = _shipped_configs()
    assert configs, 'no configs found under configs/'
    missing = []
    for path in configs:
        # Parse only: optional extras (mmpretrain) need not be installed.
        cfg = Config.fromfile(path, import_custom_modules=False)
        imports = cfg.get('custom_imports', {}).get('imports', [])
        if 'mmattn' not in imports:
            missing.append(osp.relpath(path, REPO_ROOT))
    assert not missing, f'configs without custom_imports of mmattn: {missing}'
