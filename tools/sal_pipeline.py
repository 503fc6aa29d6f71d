# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net end to end on your folder: one command from proxy masks to a
retrained segmenter, its val mIoU and a report.

Usage::

    python tools/sal_pipeline.py data/my_data --work-dir work_dirs/my_sal
    python tools/sal_pipeline.py data/my_data --work-dir work_dirs/my_sal \\
        --tau-rule mixture --sal-config configs/sal/my_data.py \\
        --sal-cfg-options train_cfg.max_iters=2000
    # several GPUs (or CPU processes), like tools/dist_train.sh:
    python -m torch.distributed.run --nproc_per_node 4 \\
        tools/sal_pipeline.py data/my_data --work-dir W --launcher pytorch

Stages (each in ``<work-dir>/<stage>/``, skipped while up to date with its
inputs and settings, so a stopped run continues where it stopped; training
stages continue from their last checkpoint): ``check`` (every input, before
any compute), ``coarse_scores`` (AC, CD, SC), ``scoring_set`` (the scorer's
training set from these proxies), ``scorer`` (MaskScoringNet, trained as
tools/train.py does), ``fine_scores`` (P, SF; strict checkpoint loading),
``tau`` (``--tau-rule``), ``sal`` (SAL-Net retrained from ``--sal-config``
with the score file and tau), ``eval`` (val mIoU, as tools/test.py does),
``report`` (``report/report.md``, score histogram, kept/dropped proxies).
See docs/sal_walkthrough.md. Errors (bad input, a scorer checkpoint of
another config, a work dir with files the pipeline did not write) print
``sal_pipeline.py: error: ...`` and exit with status 1.
"""
import contextlib
import importlib.util
import os
import os.path as osp
import sys

try:
    import mmattn  # noqa: F401  (registers modules, checked loading)
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mmattn  # noqa: F401

from mmengine.config import Config  # noqa: E402
from mmengine.dist import (broadcast_object_list, get_dist_info,  # noqa: E402
                           init_dist, is_distributed)

from mmattn.segmentation.pipeline import (PipelineError,  # noqa: E402
                                          PipelineInputError, WorkDirError,
                                          parse_args, run_pipeline)
from mmattn.utils import CheckpointError, PretrainedDownloadError  # noqa
from mmattn.utils.distributed import prepare_cpu_distributed  # noqa: E402

TOOLS_DIR = osp.dirname(osp.abspath(__file__))


def load_tool(name: str):
    """tools/<name>.py as a module (the tools folder is no package)."""
    spec = importlib.util.spec_from_file_location(
        f'mmattn_tools_{name}', osp.join(TOOLS_DIR, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup_distributed(launcher: str) -> None:
    """Start the process group before the first stage (the Runner then
    reuses it): on CPUs as tools/train.py does (gloo under torchrun),
    otherwise mmengine's ``init_dist``."""
    if launcher == 'none' or is_distributed():
        return
    if not prepare_cpu_distributed(Config(dict(launcher=launcher))):
        init_dist(launcher)


def make_sync():
    """Rank 0's value on every rank (a collective, so also a barrier)."""
    def sync(value):
        _, world_size = get_dist_info()
        if world_size == 1:
            return value
        box = [value]
        broadcast_object_list(box, src=0)
        return box[0]

    return sync


@contextlib.contextmanager
def no_dist_test_left():
    """mmengine collects distributed results through ``.dist_test/`` in
    the current folder and leaves that folder behind; the pipeline writes
    nothing outside its work dir, so it removes the folder again when it
    was not there before and is empty."""
    existed = osp.exists('.dist_test')
    try:
        yield
    finally:
        rank, _ = get_dist_info()
        if not existed and rank == 0 and osp.isdir('.dist_test'):
            with contextlib.suppress(OSError):
                os.rmdir('.dist_test')  # only when empty


def make_train_fn(launcher: str):
    train_tool = load_tool('train')

    def train_fn(config, work_dir, resume, experiment_name):
        argv = [config, '--work-dir', work_dir, '--launcher', launcher,
                '--cfg-options', f'experiment_name={experiment_name}']
        if resume:
            argv += ['--resume', '--resume-fallback']
        with no_dist_test_left():
            train_tool.run(train_tool.parse_args(argv))

    return train_fn


def make_test_fn(launcher: str):
    test_tool = load_tool('test')

    def test_fn(config, checkpoint, work_dir, experiment_name):
        argv = [config, checkpoint, '--work-dir', work_dir, '--launcher',
                launcher, '--cfg-options',
                f'experiment_name={experiment_name}']
        try:
            with no_dist_test_left():
                return test_tool.run(test_tool.parse_args(argv))
        except test_tool.ToolError as err:
            raise PipelineError(f'eval: {err}') from err

    return test_fn


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        try:
            setup_distributed(args.launcher)
        except ValueError as err:  # e.g. slurm on a machine without CUDA
            raise PipelineInputError(f'--launcher {args.launcher}: {err}')
        rank, _ = get_dist_info()
        run_pipeline(
            args, make_train_fn(args.launcher), make_test_fn(args.launcher),
            log=lambda line: print(line, flush=True), rank=rank,
            sync=make_sync())
    except (PipelineInputError, PipelineError, WorkDirError,
            CheckpointError, PretrainedDownloadError, FileNotFoundError,
            FileExistsError) as err:
        # The message names the file and what to do; a traceback adds
        # nothing.
        print(f'sal_pipeline.py: error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
