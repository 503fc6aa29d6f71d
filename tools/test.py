# Copyright (c) mmattn contributors. All rights reserved.
"""Evaluate a checkpoint with mmengine's Runner (COCO metrics for mmdet
configs, IoU metrics for mmseg configs, as the config says).

Usage::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --tta
    python tools/test.py CONFIG CHECKPOINT --show-dir vis --out results.pkl
    python tools/test.py CONFIG CHECKPOINT \\
        --cfg-options test_evaluator.format_only=True

The options mean what they mean in mmdet's and mmseg's own tools/test.py,
chosen by the config's ``default_scope``:

- ``--show-dir DIR``: draw every test image's prediction (the visualization
  hook's interval is set to 1). mmdet: into ``WORK_DIR/<timestamp>/DIR``
  (``DIR`` itself when absolute); mmseg: the visualizer's ``save_dir``, so
  into ``DIR/vis_data/vis_image`` (mmengine's ``LocalVisBackend``).
- ``--show``: display each prediction in a window (``--wait-time`` s).
- ``--out``: mmdet: dump the predictions to a ``.pkl`` file
  (``DumpDetResults``); mmseg: the test metric's ``output_dir``, a folder
  for the predicted label maps.
- ``--tta``: the config's ``tta_model`` around its model, and its
  ``tta_pipeline`` as the test pipeline.

Unlike mmdet's and mmseg's tools, the checkpoint must load strictly: one of
another model (missing, unexpected or differently shaped weights) stops the
run with ``test.py: error: ...`` naming the file, the config and the keys,
instead of evaluating a half-initialised network. Training-time settings
(``train_dataloader``, ``train_cfg``, ``optim_wrapper``, ``param_scheduler``)
are dropped, so testing never builds the training set (mmseg's
``SegVisualizationHook`` asks for ``runner.iter``, which would).
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmattn  # noqa: F401  (registers modules, makes checkpoints loadable)
from mmattn.utils import CheckpointError, CheckpointMismatchHook
from mmattn.utils.checkpoint_mismatch_hook import pop_mismatch_hooks
from mmattn.utils.distributed import prepare_cpu_distributed

#: Settings only training reads; testing drops them (see the docstring).
TRAINING_ONLY_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
                      'param_scheduler', 'auto_scale_lr')


class ToolError(Exception):
    """A problem with the command line or its files (no traceback)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='mmdet configs: dump predictions to a .pkl file for offline '
        'evaluation; mmseg configs: the folder for the predicted label maps')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved (every test '
        'image); mmdet configs: relative to WORK_DIR/<timestamp>')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='the interval of --show (s)')
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
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _scope(cfg: Config, args) -> str:
    scope = cfg.get('default_scope')
    if scope not in ('mmdet', 'mmseg'):
        raise ToolError(
            f'{args.config}: --show, --show-dir and --out need '
            f"default_scope 'mmdet' or 'mmseg', got {scope!r}")
    return scope


def trigger_visualization_hook(cfg: Config, args) -> Config:
    """Turn the config's visualization hook on for --show / --show-dir, as
    mmdet's and mmseg's tools do, drawing every test image."""
    scope = _scope(cfg, args)
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ToolError(
            f'{args.config}: --show/--show-dir need a visualization hook in '
            "default_hooks, e.g. visualization=dict(type='"
            f"{'DetVisualizationHook' if scope == 'mmdet' else 'SegVisualizationHook'}')")  # noqa: E501
    hook['draw'] = True
    # mmseg's hook draws every `interval`-th test batch (default 50): a
    # small test set would get no picture at all.
    hook['interval'] = 1
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if scope == 'mmdet':
            hook['test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir
    return cfg


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
    # Testing needs neither the training set (nor its score files) nor the
    # optimizer; mmengine wants the three training settings all or none.
    for key in TRAINING_ONLY_KEYS:
        if key in cfg:
            cfg[key] = None
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.out is not None:
        if _scope(cfg, args) == 'mmdet':
            if not args.out.endswith(('.pkl', '.pickle')):
                raise ToolError(
                    f'--out {args.out}: mmdet configs dump predictions to a '
                    '.pkl file')
        else:
            evaluators = cfg.test_evaluator if isinstance(
                cfg.test_evaluator, list) else [cfg.test_evaluator]
            # (mmseg's tool also sets keep_results=True, which IoUMetric
            # ignores and other metrics would reject)
            for evaluator in evaluators:
                evaluator['output_dir'] = args.out
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ToolError(
                f'--tta needs `tta_model` and `tta_pipeline` in {args.config}')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        test_dataset = cfg.test_dataloader.dataset
        while 'dataset' in test_dataset:
            test_dataset = test_dataset['dataset']
        test_dataset.pipeline = cfg.tta_pipeline
    return cfg


def run(args):
    """Build the runner from the command line and test; returns metrics."""
    cfg = build_test_config(args)
    # torchrun on CPUs: gloo instead of nccl, a DDP wrapper without GPUs
    prepare_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    # One mismatch hook per run: a non-strict one from the config would
    # warn that the weights keep their initial values before ours refuses.
    pop_mismatch_hooks(runner)
    runner.register_hook(
        CheckpointMismatchHook(
            strict=True,
            checkpoint=args.checkpoint,
            config=args.config,
            advice='Test it with the config it was trained with (mmdet and '
            "mmseg's own tools would evaluate the half-loaded network)"))
    if args.out is not None and cfg.get('default_scope') == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    return runner.test()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (CheckpointError, ToolError) as err:
        # The message names the file and what to do; a traceback adds
        # nothing.
        print(f'test.py: error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
