# Copyright (c) mmattn contributors. All rights reserved.
"""Faults when training starts: a truncated latest checkpoint on
auto-resume (named; ``--resume-fallback`` resumes from the previous one;
nothing deleted), resuming from another model's checkpoint (weights or
optimizer groups), and pretrained weights that cannot be downloaded. Run
through a real Runner and through tools/train.py with a toy model, so each
run takes seconds."""
import hashlib
import os
import os.path as osp
import shutil
import urllib.error

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmattn  # noqa: F401  (checked local loader)
from mmattn.utils import (CheckpointFileError, earlier_checkpoints,
                          find_resume_checkpoint, pretrained_download_error,
                          remote_pretrained_weights)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# A model and dataset that a config can name (custom_imports).
TOY_MODULE = '''
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from torch.utils.data import Dataset


@MODELS.register_module()
class ReliabilityToyModel(BaseModel):

    def __init__(self, width=1, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.linear = nn.Linear(2, width)

    def forward(self, x, y, mode='tensor'):
        out = self.linear(torch.stack(x))[:, 0]
        if mode == 'loss':
            return dict(loss=((out - torch.stack(y))**2).mean())
        return out


@DATASETS.register_module()
class ReliabilityToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([1.0, float(i)]), y=torch.tensor(i / 8))
'''

TOY_CONFIG = '''
custom_imports = dict(
    imports=['mmattn', 'reliability_toy'], allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(type='ReliabilityToyModel', width=1)
train_dataloader = dict(
    dataset=dict(type='ReliabilityToyDataset'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_size=2,
    num_workers=0)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(by_epoch=False, max_iters=4)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    logger=dict(type='LoggerHook', interval=1))
'''


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """The toy config, its module's folder (for PYTHONPATH), and a work dir
    trained to iter 4 by tools/train.py (iter_2.pth, iter_4.pth)."""
    root = tmp_path_factory.mktemp('toy')
    (root / 'reliability_toy.py').write_text(TOY_MODULE)
    config = root / 'toy_config.py'
    config.write_text(TOY_CONFIG)
    return dict(root=root, config=str(config))


def _env(toy, **extra):
    env = {'PYTHONPATH': str(toy['root'])}
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def trained(toy, run_tool):
    work_dir = toy['root'] / 'trained'
    run_tool(['tools/train.py', toy['config'], '--work-dir', work_dir],
             env=_env(toy))
    for name in ('iter_2.pth', 'iter_4.pth', 'last_checkpoint'):
        assert (work_dir / name).is_file()
    return work_dir


def _copy(trained, tmp_path):
    work_dir = tmp_path / 'work'
    shutil.copytree(trained, work_dir)
    # last_checkpoint holds an absolute path: point it at the copy
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    return work_dir


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _digests(folder):
    """Hashes of the checkpoints and last_checkpoint (a run also writes its
    config and logs into the work dir)."""
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
        if name.endswith('.pth') or name == 'last_checkpoint'
    }


def _error_lines(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return [line for line in lines if line.startswith('train.py: error:')]


# ---------------------------------------------------------------------- #
# a truncated latest checkpoint
# ---------------------------------------------------------------------- #
class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.linear(torch.stack(x))[:, 0]
        if mode == 'loss':
            return dict(loss=((out - torch.stack(y))**2).mean())
        return out


class _ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([1.0, float(i)]), y=torch.tensor(i / 8))


def _runner(work_dir, max_iters, resume=False, load_from=None):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=2, by_epoch=False)),
        resume=resume,
        load_from=load_from,
        default_scope='mmengine')


def test_runner_auto_resume_names_the_truncated_checkpoint(tmp_path):
    _runner(tmp_path, max_iters=4).train()
    _truncate(tmp_path / 'iter_4.pth')
    before = _digests(tmp_path)

    with pytest.raises(CheckpointFileError) as info:
        _runner(tmp_path, max_iters=6, resume=True).train()
    message = str(info.value)
    assert message.startswith(str(tmp_path / 'iter_4.pth'))
    assert 'is truncated or corrupt' in message
    assert '--resume-fallback' in message
    assert 'Errno' not in message
    assert _digests(tmp_path) == before  # nothing deleted or rewritten

    # what tools/train.py does: the check names iter_4 and the way out ...
    with pytest.raises(CheckpointFileError) as info:
        find_resume_checkpoint(str(tmp_path))
    message = str(info.value)
    assert f'{tmp_path / "iter_4.pth"} (the latest checkpoint' in message
    assert f'intact earlier checkpoint, {tmp_path / "iter_2.pth"}, pass ' \
        '--resume-fallback' in message
    # ... and the fallback resumes a real Runner from iter_2
    previous = find_resume_checkpoint(str(tmp_path), fallback=True)
    assert previous == str(tmp_path / 'iter_2.pth')
    runner = _runner(tmp_path, max_iters=6, resume=True, load_from=previous)
    runner.train()
    assert runner.iter == 6
    assert _digests(tmp_path)['iter_2.pth'] == before['iter_2.pth']


def test_missing_latest_checkpoint_is_named(tmp_path):
    _runner(tmp_path, max_iters=4).train()
    os.rename(tmp_path / 'iter_4.pth', tmp_path / 'moved.pth')
    with pytest.raises(CheckpointFileError,
                       match=r'iter_4.pth \(the latest checkpoint, named in '
                       r'.*last_checkpoint\) does not exist\. To resume '
                       r'from the newest intact earlier checkpoint, '
                       r'.*iter_2.pth, pass --resume-fallback'):
        find_resume_checkpoint(str(tmp_path))
    assert find_resume_checkpoint(
        str(tmp_path), fallback=True) == str(tmp_path / 'iter_2.pth')


def test_earlier_checkpoints_are_newest_first_and_of_the_same_kind(tmp_path):
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_4.pth', 'epoch_3.pth',
                 'best_acc_iter_4.pth', 'iter_12.pth'):
        (tmp_path / name).write_bytes(b'x')
    latest = str(tmp_path / 'iter_10.pth')
    assert earlier_checkpoints(latest, str(tmp_path)) == [
        str(tmp_path / 'iter_4.pth'),
        str(tmp_path / 'iter_2.pth')
    ]


def test_no_intact_checkpoint_left(tmp_path):
    _runner(tmp_path, max_iters=4).train()
    _truncate(tmp_path / 'iter_4.pth')
    (tmp_path / 'iter_2.pth').write_text('oops')
    with pytest.raises(CheckpointFileError,
                       match='No earlier checkpoint in .* is intact'):
        find_resume_checkpoint(str(tmp_path), fallback=True)
    assert (tmp_path / 'iter_2.pth').read_text() == 'oops'


def test_train_tool_truncated_resume_and_fallback(toy, trained, tmp_path,
                                                  run_tool):
    work_dir = _copy(trained, tmp_path)
    _truncate(work_dir / 'iter_4.pth')
    before = _digests(work_dir)
    base = ['tools/train.py', toy['config'], '--work-dir', work_dir]

    result = run_tool(base + ['--resume'], check=False, env=_env(toy))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    (line, ) = _error_lines(result)
    assert str(work_dir / 'iter_4.pth') in line
    assert 'truncated or corrupt' in line
    assert f'{work_dir / "iter_2.pth"}, pass --resume-fallback' in line
    assert _digests(work_dir) == before

    result = run_tool(
        base + ['--resume', '--resume-fallback', '--cfg-options',
                'train_cfg.max_iters=6'],
        env=_env(toy))
    log = result.stdout + result.stderr
    assert f'resuming from {work_dir / "iter_2.pth"} instead' in log
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work_dir / 'iter_6.pth').is_file()
    assert _digests(work_dir)['iter_2.pth'] == before['iter_2.pth']
    # iter_4.pth was written again by training, a complete file now
    torch.load(work_dir / 'iter_4.pth')


def test_resume_fallback_needs_auto_resume(toy, run_tool):
    result = run_tool(
        ['tools/train.py', toy['config'], '--resume-fallback'],
        check=False, env=_env(toy))
    assert result.returncode == 2
    assert '--resume-fallback goes with --resume' in result.stderr


# ---------------------------------------------------------------------- #
# resuming from another model's checkpoint
# ---------------------------------------------------------------------- #
def test_resume_from_another_models_checkpoint(toy, trained, tmp_path,
                                               run_tool):
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', toy['config'], '--work-dir', tmp_path / 'wide',
        '--resume', checkpoint, '--cfg-options', 'model.width=3'
    ], check=False, env=_env(toy))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    (line, ) = _error_lines(result)
    assert f'checkpoint {checkpoint} belongs to another model' in line
    assert toy['config'] in line
    assert '2 shape mismatches (linear.weight: checkpoint (1, 2), model ' \
        '(3, 2)' in line
    assert f'--cfg-options load_from={checkpoint} without --resume' in line


def test_resume_with_other_optimizer_groups(toy, trained, tmp_path,
                                            run_tool):
    """Same weights, but paramwise_cfg gives every parameter its own group:
    mmengine's optimizer raises ValueError about parameter groups."""
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', toy['config'], '--work-dir', tmp_path / 'groups',
        '--resume', checkpoint, '--cfg-options',
        'optim_wrapper.paramwise_cfg.custom_keys.linear.lr_mult=2.0'
    ], check=False, env=_env(toy))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    (line, ) = _error_lines(result)
    assert f'checkpoint {checkpoint} belongs to another model or optimizer ' \
        'set-up' in line
    assert '(parameters per group: [2] in the checkpoint, [1, 1] in this ' \
        'run)' in line


def test_load_from_another_model_keeps_training(toy, trained, tmp_path,
                                                run_tool):
    """load_from stays mmengine's non-strict load, with one WARNING line."""
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', toy['config'], '--work-dir', tmp_path / 'load',
        '--cfg-options', f'load_from={checkpoint}', 'model.width=3',
        'train_cfg.max_iters=1'
    ], env=_env(toy))
    ours = [
        line for line in (result.stdout + result.stderr).splitlines()
        if f'checkpoint {checkpoint} does not match the model of' in line
    ]
    assert len(ours) == 1 and 'WARNING' in ours[0]
    assert '2 shape mismatches' in ours[0]
    assert (tmp_path / 'load' / 'iter_1.pth').is_file()


def _config_with_hook(toy, tmp_path, hook):
    """The toy config with ``hook`` in its own custom_hooks."""
    config = tmp_path / 'toy_with_hook.py'
    config.write_text(TOY_CONFIG + f'custom_hooks = [{hook}]\n')
    return str(config)


def test_config_hook_gives_way_on_resume(toy, trained, tmp_path, run_tool):
    """A config listing CheckpointMismatchHook: only the tool's error, not
    the config's hook's WARNING that training goes on first."""
    config = _config_with_hook(toy, tmp_path,
                               "dict(type='CheckpointMismatchHook')")
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', config, '--work-dir', tmp_path / 'wide', '--resume',
        checkpoint, '--cfg-options', 'model.width=3'
    ], check=False, env=_env(toy))
    assert result.returncode == 1
    (line, ) = _error_lines(result)
    assert f'checkpoint {checkpoint} belongs to another model' in line
    assert 'keep their initial values' not in result.stdout + result.stderr


def test_config_hook_reports_load_from_once(toy, trained, tmp_path, run_tool):
    """The config's hook and the tool's used to both report; the tool's
    takes the config's place and keeps its arguments (its own name of the
    config here, which made the two lines differ)."""
    config = _config_with_hook(
        toy, tmp_path, "dict(type='CheckpointMismatchHook', config='toy')")
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', config, '--work-dir', tmp_path / 'load',
        '--cfg-options', f'load_from={checkpoint}', 'model.width=3',
        'train_cfg.max_iters=1'
    ], env=_env(toy))
    ours = [
        line for line in (result.stdout + result.stderr).splitlines()
        if f'checkpoint {checkpoint} does not match' in line
    ]
    assert len(ours) == 1, ours
    assert 'does not match the model of toy: 2 shape mismatches' in ours[0]
    assert (tmp_path / 'load' / 'iter_1.pth').is_file()
    # The dumped config still lists the hook as written.
    dumped = (tmp_path / 'load' / 'toy_with_hook.py').read_text()
    assert "dict(config='toy', type='CheckpointMismatchHook')" in dumped


def test_config_hook_strict_is_kept_with_load_from(toy, trained, tmp_path,
                                                   run_tool):
    config = _config_with_hook(
        toy, tmp_path, "dict(type='CheckpointMismatchHook', strict=True)")
    checkpoint = trained / 'iter_4.pth'
    result = run_tool([
        'tools/train.py', config, '--work-dir', tmp_path / 'load',
        '--cfg-options', f'load_from={checkpoint}', 'model.width=3',
        'train_cfg.max_iters=1'
    ], check=False, env=_env(toy))
    assert result.returncode == 1
    (line, ) = _error_lines(result)
    assert f'checkpoint {checkpoint} does not load strictly into the model ' \
        f'of {config}' in line
    assert 'belongs to another model' not in line
    assert not (tmp_path / 'load' / 'iter_1.pth').exists()


# ---------------------------------------------------------------------- #
# pretrained weights that cannot be downloaded
# ---------------------------------------------------------------------- #
def test_offline_pretrained_weights_one_line(toy, tmp_path, run_tool):
    url = 'http://127.0.0.1:9/reliability_toy_weights.pth'  # refused
    result = run_tool([
        'tools/train.py', toy['config'], '--work-dir', tmp_path / 'work',
        '--cfg-options', 'model.init_cfg.type=Pretrained',
        f'model.init_cfg.checkpoint={url}'
    ],
                      check=False,
                      env=_env(
                          toy,
                          TORCH_HOME=str(tmp_path / 'torch_home'),
                          http_proxy=None,
                          HTTP_PROXY=None,
                          no_proxy='*'))
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    (line, ) = _error_lines(result)
    assert f'{toy["config"]} initialises the model from pretrained weights ' \
        f'at {url}, which could not be downloaded' in line
    assert '--cfg-options model.init_cfg=None' in line


R101_CONFIGS = [
    ('configs/sal/salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py',
     'model.pretrained', 'open-mmlab://resnet101_v1c'),
    ('configs/harnet/harnet_r101_fpn_1x_coco.py', 'model.backbone.init_cfg',
     'torchvision://resnet101'),
    ('configs/harnet/harnet_se-r101_fpn_1x_coco.py', 'model.backbone.init_cfg',
     'https://download.openmmlab.com/mmclassification/v0/se-resnet/'
     'se-resnet101_batch256_imagenet_20200804-ba5b51d4.pth'),
]


def _failed_download(url):
    """A URLError raised where mmengine downloads (a frame named load_url)."""

    def load_url(url):
        raise urllib.error.URLError('[Errno -3] Temporary failure in name '
                                    'resolution')

    try:
        load_url(url)
    except urllib.error.URLError as err:
        return err


@pytest.mark.parametrize('config,key,url', R101_CONFIGS)
def test_r101_templates_name_their_weights(config, key, url):
    # parse only: the SE configs import mmpretrain, an optional extra
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, config), import_custom_modules=False)
    assert remote_pretrained_weights(cfg.model) == [(key, url)]
    error = pretrained_download_error(_failed_download(url), cfg.model,
                                      config)
    message = str(error)
    assert '\n' not in message
    assert f'{config} initialises the model from pretrained weights at ' \
        f'{url}' in message
    assert 'Temporary failure in name resolution' in message
    assert f'--cfg-options {key}=None' in message
    if url.startswith('open-mmlab://'):
        assert '(https://download.openmmlab.com/' in message


def test_other_errors_are_not_taken_for_downloads():
    cfg = Config.fromfile(osp.join(REPO_ROOT, R101_CONFIGS[0][0]))
    # a URLError outside mmengine's download functions
    error = urllib.error.URLError('elsewhere')
    assert pretrained_download_error(error, cfg.model, 'c.py') is None
    assert pretrained_download_error(ValueError('x'), cfg.model,
                                     'c.py') is None
