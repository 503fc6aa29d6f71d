# Copyright (c) mmattn contributors. All rights reserved.
"""One harness for experiments: a shipped config plus overrides, trained and
validated through mmengine's ``Runner``.

Benchmarks and the demo describe a variant as a table of config overrides
(dotted keys, as ``--cfg-options`` takes them) of a config the user can run
with ``tools/train.py``, so a variant can never drift from what it names::

    from mmattn.experiment import load_config, shorten_schedule, train_config

    cfg = load_config('configs/demo/harnet_r18_demo.py',
                      {'model.bbox_head.spatial_attention': None})
    shorten_schedule(cfg, iters=300)
    result = train_config(cfg, work_dir='work_dirs/sa_off', seed=1)
    result.metrics['coco/bbox_mAP'], result.history
"""
import copy
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner

__all__ = [
    'ExperimentResult', 'ValidationHistoryHook', 'load_config',
    'apply_overrides', 'shorten_schedule', 'without_validation',
    'train_config', 'train_backbone', 'prepare_dataset',
    'TrainJob', 'JobResult', 'run_job', 'run_jobs'
]


class ValidationHistoryHook(Hook):
    """Keep the metrics of every validation run, with the iteration.

    Attributes:
        history (list[tuple[int, dict]]): ``(iteration, metrics)`` in order.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.history: List[Tuple[int, Dict[str, float]]] = []

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.history.append((runner.iter, dict(metrics or {})))


@dataclass
class ExperimentResult:
    """What :func:`train_config` returns.

    Attributes:
        metrics (dict): Metrics of the last validation (empty when the
            evaluator returned none, e.g. a detector with no detection).
        history (list): ``(iteration, metrics)`` of every validation.
        seconds (float): Wall time of building, training and validating.
        work_dir (str): The run's work dir (logs, configs, checkpoints).
        runner (Runner): The trained runner; ``runner.model`` is the model.
    """
    metrics: Dict[str, float]
    history: List[Tuple[int, Dict[str, float]]]
    seconds: float
    work_dir: str
    runner: Any = field(repr=False, default=None)


def apply_overrides(cfg: Config, overrides: Optional[Mapping[str,
                                                               Any]]) -> Config:
    """Merge dotted-key overrides into ``cfg`` in place and return it.

    A value of ``None`` switches a part off (e.g.
    ``'model.bbox_head.spatial_attention': None``); a dict value replaces the
    key's value whole (the ``_delete_=True`` of a config file), so a variant
    cannot inherit stray keys from the part it replaces.

    Raises:
        KeyError: a dotted key whose parent does not exist in ``cfg``: a
            typo would otherwise add a key nobody reads.
    """
    for key, value in (overrides or {}).items():
        parent_path, _, leaf = key.rpartition('.')
        parent = cfg
        for part in parent_path.split('.') if parent_path else []:
            if isinstance(parent, (list, tuple)) and part.isdigit():
                parent = parent[int(part)]
            elif part in parent:
                parent = parent[part]
            else:
                raise KeyError(f'override {key!r}: {part!r} is not in the '
                               f'config ({cfg.filename})')
        # Replace, never merge into, an existing value (mmengine refuses to
        # merge a dict into None, and a merge would keep stray keys). A
        # top-level key's parent is the Config itself, which is no dict.
        if isinstance(value, dict) and isinstance(parent, (dict, Config)) \
                and leaf in parent:
            value = dict(value, _delete_=True)
        cfg.merge_from_dict({key: copy.deepcopy(value)})
    return cfg


def load_config(path: str,
                overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """``Config.fromfile(path)`` with :func:`apply_overrides`."""
    return apply_overrides(Config.fromfile(path), overrides)


def shorten_schedule(cfg: Config,
                     iters: int,
                     warmup: Optional[int] = None,
                     milestones: Sequence[float] = (0.75, 0.9),
                     val_interval: Optional[int] = None) -> Config:
    """Set an iteration-based schedule of ``iters`` iterations in place.

    Keeps the config's optimiser; replaces its schedulers by a linear
    warm-up over ``warmup`` iterations (default: the config's warm-up
    length, at most ``iters // 4``) and x0.1 steps at the ``milestones``
    fractions of ``iters``. Validation runs after the last iteration (or
    every ``val_interval``); checkpoints only at the end.

    Raises:
        ValueError: ``iters`` is not a positive int or a milestone fraction
            is outside (0, 1).
    """
    if isinstance(iters, bool) or not isinstance(iters, int) or iters <= 0:
        raise ValueError(f'iters must be a positive int, got {iters!r}')
    if any(not 0 < m < 1 for m in milestones):
        raise ValueError(
            f'milestones are fractions in (0, 1), got {milestones!r}')
    if warmup is None:
        warmup = next((s.get('end', 0) for s in cfg.get('param_scheduler', [])
                       if s.get('type') == 'LinearLR'), 0)
        warmup = min(warmup, iters // 4)
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop',
        max_iters=iters,
        val_interval=val_interval or iters)
    schedulers = []
    if warmup > 0:
        schedulers.append(
            dict(type='LinearLR', start_factor=0.001, by_epoch=False,
                 begin=0, end=warmup))
    schedulers.append(
        dict(type='MultiStepLR', by_epoch=False, begin=0, end=iters,
             milestones=[int(iters * m) for m in milestones], gamma=0.1))
    cfg.param_scheduler = schedulers
    hooks = cfg.setdefault('default_hooks', {})
    if hooks.get('checkpoint') is not None:
        hooks['checkpoint'].update(by_epoch=False, interval=iters)
    if hooks.get('logger') is not None:
        hooks['logger']['interval'] = max(1, min(50, iters // 6))
    cfg.log_processor = dict(cfg.get('log_processor', {}), by_epoch=False)
    return cfg


def without_validation(cfg: Config) -> Config:
    """Drop validation and testing from ``cfg`` in place (mmengine wants
    loader, loop and evaluator all set or all ``None``); the train loop
    keeps its length and never validates."""
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg',
                'test_dataloader', 'test_evaluator', 'test_cfg'):
        cfg[key] = None
    train_cfg = dict(cfg.get('train_cfg') or {})
    train_cfg.pop('val_interval', None)
    train_cfg.pop('val_begin', None)
    cfg.train_cfg = train_cfg
    return cfg


def train_backbone(cfg: Config, checkpoint: str, seed: int = 0) -> str:
    """Train ``cfg`` without validation and save its model's backbone, the
    pretrained initialisation of other runs; reused when ``checkpoint``
    exists.

    The file holds ``{'state_dict': backbone state dict}``, which a
    ``dict(type='Pretrained', checkpoint=...)`` ``init_cfg`` of the same
    backbone loads. The run's files go next to it (``<folder>/run``).

    Args:
        cfg (Config): The config (copied; validation is dropped).
        checkpoint (str): Where the backbone goes.
        seed (int): Training seed. Defaults to 0.

    Returns:
        str: ``checkpoint``.
    """
    if osp.isfile(checkpoint):
        return checkpoint
    cfg = without_validation(copy.deepcopy(cfg))
    folder = osp.dirname(osp.abspath(checkpoint))
    result = train_config(cfg, osp.join(folder, 'run'), seed=seed)
    import torch
    torch.save(dict(state_dict=result.runner.model.backbone.state_dict()),
               checkpoint)
    print_log(f'backbone trained in {result.seconds:.0f} s: {checkpoint}',
              logger='current')
    return checkpoint


def train_config(cfg: Config,
                 work_dir: str,
                 seed: int,
                 save_checkpoint: bool = False,
                 extra_hooks: Sequence[Hook] = ()) -> ExperimentResult:
    """Train and validate ``cfg`` with mmengine's ``Runner``.

    Args:
        cfg (Config): The config, overrides applied (it is copied).
        work_dir (str): The run's work dir.
        seed (int): Training seed (initialisation and data order).
        save_checkpoint (bool): Keep the final checkpoint. Defaults to
            False (benchmarks only need the metrics).
        extra_hooks (Sequence[Hook]): More hooks to register.

    Returns:
        ExperimentResult: metrics of the last validation and the history.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = osp.abspath(work_dir)
    cfg.randomness = dict(seed=seed)
    cfg.experiment_name = f'{osp.basename(work_dir)}_{int(time.time())}'
    if not save_checkpoint:
        cfg.default_hooks.checkpoint = None
    start = time.time()
    runner = Runner.from_cfg(cfg)
    history = ValidationHistoryHook()
    runner.register_hook(history)
    for hook in extra_hooks:
        runner.register_hook(hook)
    runner.train()
    metrics = history.history[-1][1] if history.history else {}
    return ExperimentResult(
        metrics=metrics,
        history=history.history,
        seconds=time.time() - start,
        work_dir=cfg.work_dir,
        runner=runner)


#: Generator arguments recorded in ``meta.json`` under another name.
_META_KEYS = {'class_ids': 'classes'}


def _same_recorded(key: str, recorded, value) -> bool:
    """Whether ``meta.json``'s ``recorded`` value is the argument
    ``value`` (as the generators record it)."""
    if key == 'img_size':
        return recorded == list(value)
    if key == 'class_ids':
        return recorded == sorted(value)
    if key == 'proxy_noise_mixture':
        # Recorded normalised to sum to 1.
        if not isinstance(recorded, dict):
            return False
        total = sum(value.values())
        return all(
            abs(float(recorded.get(k, 0.0)) - value.get(k, 0.0) / total) <
            1e-6 for k in set(recorded) | set(value))
    return recorded == value


def _generated_with(out_dir: str, **expected) -> bool:
    """Whether ``out_dir`` holds a dataset mmattn generated with these
    arguments (then it is reused as is)."""
    meta_path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta_path):
        return False
    with open(meta_path) as f:
        meta = json.load(f)
    num_images = meta.get('num_train', 0) + meta.get('num_val', 0)
    if num_images != expected.pop('num_images'):
        return False
    for key, value in expected.items():
        # Data generated before the difficulty presets is 'standard'.
        default = 'standard' if key == 'difficulty' else None
        recorded = meta.get(_META_KEYS.get(key, key), default)
        if not _same_recorded(key, recorded, value):
            return False
    return True


def prepare_dataset(make_fn, out_dir: str, **kwargs) -> str:
    """Generate a dataset into ``out_dir``, or reuse the one there when it
    was generated with the same arguments.

    Returns:
        str: ``'reused'`` or ``'generated'``.
    """
    if _generated_with(out_dir, **kwargs):
        print_log(f'reusing {out_dir} (generated with the same arguments)',
                  logger='current')
        return 'reused'
    has_content = osp.isdir(out_dir) and os.listdir(out_dir)
    if has_content and not osp.isfile(osp.join(out_dir, 'meta.json')):
        raise FileExistsError(
            f'{out_dir} exists and was not generated by mmattn; the demo '
            'will not touch it. Pass --data-dir to use another folder.')
    # Only a dataset mmattn generated earlier (other arguments) is replaced,
    # and only the files the generator owns.
    make_fn(out_dir, overwrite=bool(has_content), show_progress=False,
            **kwargs)
    return 'generated'


@dataclass
class TrainJob:
    """One training run of :func:`run_jobs`: a config file, overrides and a
    seed (plain data, so it can go to another process).

    Attributes:
        name (str): Shown in progress lines and results.
        config (str): Config file.
        work_dir (str): The run's work dir.
        seed (int): Training seed.
        overrides (dict): Dotted-key overrides (:func:`apply_overrides`).
        iters (int, optional): :func:`shorten_schedule` to this many
            iterations first.
        save_checkpoint (bool): Keep the final checkpoint.
    """
    name: str
    config: str
    work_dir: str
    seed: int
    overrides: Dict[str, Any] = field(default_factory=dict)
    iters: Optional[int] = None
    save_checkpoint: bool = True


@dataclass
class JobResult:
    """What :func:`run_job` returns: :class:`ExperimentResult` without the
    runner, plus the files a user re-runs.

    Attributes:
        name (str): The job's name.
        metrics (dict): Metrics of the last validation.
        history (list): ``(iteration, metrics)`` of every validation.
        seconds (float): Wall time.
        work_dir (str): The run's work dir.
        config (str): The config the Runner dumped there (re-runnable with
            ``tools/train.py``).
        checkpoint (str, optional): The final checkpoint.
        log (str): Where the run's terminal output went.
        seed (int): The training seed.
    """
    name: str
    metrics: Dict[str, float]
    history: List[Tuple[int, Dict[str, float]]]
    seconds: float
    work_dir: str
    config: str
    checkpoint: Optional[str]
    log: str
    seed: int


def run_job(job: TrainJob) -> JobResult:
    """Train and validate one :class:`TrainJob` in this process; its
    terminal output goes to ``<work_dir>/stdout.txt``."""
    import contextlib
    cfg = load_config(job.config, job.overrides)
    if job.iters is not None:
        shorten_schedule(cfg, job.iters)
    os.makedirs(job.work_dir, exist_ok=True)
    log = osp.join(osp.abspath(job.work_dir), 'stdout.txt')
    with open(log, 'a') as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        result = train_config(cfg, job.work_dir, job.seed,
                              save_checkpoint=job.save_checkpoint)
    runner = result.runner
    # The run's logger stays mmengine's 'current' one: its terminal handler
    # must not keep writing to the closed file.
    import logging
    import sys
    for handler in runner.logger.handlers:
        if type(handler) is logging.StreamHandler and \
                getattr(handler, 'stream', None) is out:
            handler.stream = sys.stdout  # setStream would flush the closed
    checkpoint = None
    if job.save_checkpoint:
        checkpoint = osp.join(result.work_dir, f'iter_{runner.iter}.pth')
        if not osp.isfile(checkpoint):
            checkpoint = osp.join(result.work_dir,
                                  f'epoch_{runner.epoch}.pth')
    config = osp.join(result.work_dir, osp.basename(job.config))
    return JobResult(name=job.name, metrics=result.metrics,
                     history=result.history, seconds=result.seconds,
                     work_dir=result.work_dir, config=config,
                     checkpoint=checkpoint, log=log, seed=job.seed)


def _worker_init(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def run_jobs(jobs: Sequence[TrainJob],
             processes: int = 1,
             on_done=None) -> List[JobResult]:
    """Run jobs, ``processes`` at a time, each in its own process when
    ``processes > 1`` (one torch thread each: on a small machine two
    single-threaded runs finish sooner than two two-threaded runs one
    after the other).

    Args:
        jobs (Sequence[TrainJob]): The runs.
        processes (int): Runs at a time. Defaults to 1 (in this process).
        on_done (Callable[[JobResult], None], optional): Called in this
            process as each run finishes (progress lines).

    Returns:
        list[JobResult]: In the order of ``jobs``.
    """
    if processes <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(run_job(job))
            if on_done:
                on_done(results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    context = multiprocessing.get_context('spawn')
    with ProcessPoolExecutor(max_workers=min(processes, len(jobs)),
                             mp_context=context, initializer=_worker_init,
                             initargs=(1, )) as pool:
        futures = {pool.submit(run_job, job): k for k, job in enumerate(jobs)}
        results: List[Optional[JobResult]] = [None] * len(jobs)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_done:
                on_done(results[futures[future]])
    return results
