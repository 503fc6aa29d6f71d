# Copyright (c) mmattn contributors. All rights reserved.
"""docs/get_started.md's SAL-Net commands, then docs/mim.md's
``mim train mmseg`` and ``mim test mmseg``, run in the order a new user
runs them.

The commands are read from the pages (the blocks marked
``<!-- walkthrough: NAME -->``, the mechanism of test_sal_walkthrough.py)
and run in a fresh folder that links the checkout's ``configs/`` and
``tools/``, so the pages' relative ``data/`` and ``work_dirs/`` paths land
there. Only the size is made smaller: 12 generated images of 64 px instead
of 300, and 2 iterations with batch 2 and no dataloader workers (options
appended to the pages' ``--cfg-options``). A command the pages give that
fails in this order (as ``mim train mmseg`` did after the coarse-only
scoring) fails here.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmattn.segmentation.score_file import load_mask_score_file

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GET_STARTED = osp.join(REPO_ROOT, 'docs', 'get_started.md')
MIM_DOC = osp.join(REPO_ROOT, 'docs', 'mim.md')
MIM = osp.join(osp.dirname(sys.executable), 'mim')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
SMALL_RUN = ' '.join([
    'train_cfg.max_iters=2', 'default_hooks.logger.interval=1'
] + [
    f'{loader}.{key}'
    for loader in LOADERS for key in ('batch_size=2', 'num_workers=0',
                                      'persistent_workers=False')
])
SMALL_TEST = ' '.join(f'test_dataloader.{key}'
                      for key in ('batch_size=2', 'num_workers=0',
                                  'persistent_workers=False'))


def _walkthrough_helpers():
    spec = importlib.util.spec_from_file_location(
        'sal_walkthrough_doc_helpers',
        osp.join(osp.dirname(osp.abspath(__file__)),
                 'test_sal_walkthrough.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _walkthrough_helpers()


def commands(block: str):
    """The block's commands, continuation lines joined."""
    return [
        line.strip() for line in block.replace('\\\n', ' ').split('\n')
        if line.strip()
    ]


def smaller(command: str) -> str:
    """The page's command with the test's size (nothing else changed)."""
    if command.startswith('python tools/make_data.py seg'):
        return helpers.substitute(
            command, {'--num-images 300': '--num-images 12 --img-size 64 64'})
    if command.startswith(('python tools/train.py', 'mim train')):
        assert '--cfg-options' in command.split()[-3:], command
        return f'{command} {SMALL_RUN}'
    if command.startswith('mim test'):
        command = helpers.substitute(command,
                                     {'iter_300.pth': 'iter_2.pth'})
        return f'{command} --cfg-options {SMALL_TEST}'
    return command


@pytest.mark.skipif(
    not osp.isfile(MIM),
    reason='openmim is not installed: pip install --no-deps -r '
    'requirements/mim.txt (tools/setup_env.sh does it)')
def test_get_started_then_mim_as_written(tmp_path):
    first = commands(helpers.doc_blocks(GET_STARTED)['sal-first-run'])
    then = commands(helpers.doc_blocks(MIM_DOC)['mim-mmseg'])
    assert [c.split()[:2] for c in first] == [
        ['python', 'tools/make_data.py'], ['python', 'tools/score_masks.py'],
        ['python', 'tools/check_dataset.py'], ['python', 'tools/train.py']
    ]
    assert [c.split()[:3] for c in then] == [['mim', 'train', 'mmseg'],
                                            ['mim', 'test', 'mmseg']]
    cwd = str(tmp_path)
    for name in ('configs', 'tools'):
        os.symlink(osp.join(REPO_ROOT, name), osp.join(cwd, name))
    data = osp.join(cwd, 'data', 'synthetic_seg')

    make_data, score, check, train = (smaller(c) for c in first)
    helpers.run_shell(make_data, cwd=cwd)
    with open(osp.join(data, 'meta.json')) as f:
        assert json.load(f)['num_images'] == 12
    helpers.run_shell(score, cwd=cwd)
    scores = load_mask_score_file(osp.join(data, 'mask_scores.json'))
    with open(osp.join(data, 'ImageSets/Segmentation/train.txt')) as f:
        train_ids = f.read().split()
    assert sorted(scores.scores) == sorted(train_ids)
    assert all(s['SF'] is None for s in scores.scores.values())  # coarse
    assert sorted(scores.fingerprints) == sorted(train_ids)
    assert 'OK: data/synthetic_seg: 10 image(s) checked, 0 problem(s)' in \
        helpers.run_shell(check, cwd=cwd)

    # What the SC options are for: the config alone needs SF.
    without = train.split(' --cfg-options ')[0] + \
        f' --cfg-options {SMALL_RUN}'
    result = subprocess.run(['bash', '-c', without], cwd=cwd,
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, OMP_NUM_THREADS='1',
                                     PYTHONWARNINGS='ignore',
                                     PATH=osp.dirname(sys.executable) +
                                     os.pathsep + os.environ['PATH']))
    assert result.returncode != 0
    assert "image 'syn_000000' has no 'SF' score (coarse-only file?" in \
        result.stdout + result.stderr, result.stderr[-3000:]

    log = helpers.run_shell(train, cwd=cwd)
    assert osp.isfile(
        osp.join(cwd, 'work_dirs', 'salnet_r18_tiny_synthetic',
                 'iter_2.pth')), log[-3000:]
    assert 'decode.loss_sel' in log

    mim_train, mim_test = (smaller(c) for c in then)
    log = helpers.run_shell(mim_train, cwd=cwd)
    assert 'mmseg/.mim/tools/train.py' in log
    assert osp.isfile(osp.join(cwd, 'work_dirs', 'salnet_tiny',
                               'iter_2.pth')), log[-3000:]
    log = helpers.run_shell(mim_test, cwd=cwd)
    assert 'mmseg/.mim/tools/test.py' in log and 'mIoU' in log, log[-3000:]
