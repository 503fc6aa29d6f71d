# Copyright (c) mmattn contributors. All rights reserved.
"""Evaluate a checkpoint with mmengine's Runner (COCO metrics for mmdet
configs, IoU metrics for mmseg configs, as the config says).

Usage::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --tta
    python tools/test.py CONFIG CHECKPOINT \
        --cfg-options test_evaluator.format_only=True
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmattn  # noqa: F401  (registers modules, makes checkpoints loadable)
from mmattn.utils.distributed import prepare_cpu_distributed


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='use the config\'s tta_model and tta_pipeline')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_test_config(args) -> Config:
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError(
                f'--tta needs `tta_model` and `tta_pipeline` in {args.config}')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        test_dataset = cfg.test_dataloader.dataset
        while 'dataset' in test_dataset:
            test_dataset = test_dataset['dataset']
        test_dataset.pipeline = cfg.tta_pipeline
    return cfg


def main():
    args = parse_args()
    cfg = build_test_config(args)
    # torchrun on CPUs: gloo instead of nccl, a DDP wrapper without GPUs
    prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
