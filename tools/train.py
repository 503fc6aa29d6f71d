# Copyright (c) mmattn contributors. All rights reserved.
"""Train an mmattn (or any mmdet/mmseg) config with mmengine's Runner.

Usage::

    python tools/train.py configs/harnet/harnet_r18_tiny_synthetic.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=100
    python tools/train.py CONFIG --work-dir DIR --resume --resume-fallback

Checkpoints: ``--resume`` without a file checks the latest checkpoint of the
work dir before loading it; a truncated or damaged one is named in the error,
and ``--resume-fallback`` resumes from the newest intact earlier checkpoint
instead (no file is ever deleted). A checkpoint of another model is refused
on resume; with ``load_from`` the mismatch is logged in one WARNING line and
training goes on as in mmengine (a ``CheckpointMismatchHook`` in the
config's ``custom_hooks`` is replaced by the tool's, which keeps its
``strict``). Pretrained weights that cannot be downloaded (offline) are
named in a one-line error with the ``--cfg-options`` that trains without
them. These errors print ``train.py: error: ...`` and exit
with status 1.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmattn  # noqa: F401  (registers modules, makes checkpoints loadable)
from mmattn.utils import (CheckpointError, CheckpointMismatchHook,
                          PretrainedDownloadError, find_resume_checkpoint,
                          optimizer_mismatch_error, pretrained_download_error)
from mmattn.utils.checkpoint_mismatch_hook import pop_mismatch_hooks
from mmattn.utils.distributed import prepare_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--resume-fallback',
        action='store_true',
        help='with --resume (no path): when the latest checkpoint is '
        'truncated or damaged, resume from the newest intact earlier one '
        '(files are left in place)')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.resume_fallback and args.resume != 'auto':
        parser.error('--resume-fallback goes with --resume without a path '
                     '(the latest checkpoint of the work dir)')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_train_config(args) -> Config:
    """Apply the command line to the config, as mmdet/mmseg tools do."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_type == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        elif optim_type != 'OptimWrapper':
            raise ValueError(
                f'--amp needs optim_wrapper.type OptimWrapper, got '
                f'{optim_type!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        # mmengine would read last_checkpoint itself; resolving it here
        # checks the file first (and names it when it is damaged).
        cfg.load_from = find_resume_checkpoint(
            cfg.work_dir, fallback=getattr(args, 'resume_fallback', False))
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def _resuming_from(cfg):
    """The checkpoint a resume loads, or None when not resuming."""
    return cfg.get('load_from') if cfg.get('resume', False) else None


def run(args) -> None:
    """Build the runner from the command line and train."""
    cfg = build_train_config(args)
    # torchrun on CPUs: gloo instead of nccl, a DDP wrapper without GPUs
    prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    # One mismatch hook per run: the config's own one gives way to ours.
    listed = pop_mismatch_hooks(runner)
    resume_from = _resuming_from(cfg)
    if resume_from is not None:
        # Resuming from another model's checkpoint is refused.
        hook = CheckpointMismatchHook(
            strict=True,
            checkpoint=resume_from,
            config=args.config,
            belongs_to_another_model=True,
            advice='Resume only from a checkpoint of this config; to start '
            f'from its matching weights instead, pass --cfg-options '
            f'load_from={resume_from} without --resume')
    else:
        # load_from keeps mmengine's non-strict loading and gets a one-line
        # WARNING summary, unless the config's entry asks for strict.
        kwargs = dict(checkpoint=cfg.get('load_from'), config=args.config)
        kwargs.update(listed)
        hook = CheckpointMismatchHook(**kwargs)
    runner.register_hook(hook)
    try:
        runner.train()
    except ValueError as err:
        # mmengine's optimizer wrapper on a checkpoint with other parameter
        # groups (the weights matched, the optimizer set-up did not).
        if resume_from is None or 'parameter group' not in str(err):
            raise
        optim_wrapper = runner.optim_wrapper
        optimizers = [w.optimizer for w in optim_wrapper.values()] \
            if hasattr(optim_wrapper, 'values') else \
            [getattr(optim_wrapper, 'optimizer', None)]
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(resume_from, map_location='cpu')
        raise optimizer_mismatch_error(
            resume_from, err, checkpoint.get('optimizer'),
            [o for o in optimizers if o is not None]) from err
    except Exception as err:
        explained = pretrained_download_error(err, cfg.model, args.config)
        if explained is None:
            raise
        raise explained from err


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (CheckpointError, PretrainedDownloadError) as err:
        # The message names the file and what to do; a traceback adds
        # nothing.
        print(f'train.py: error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
