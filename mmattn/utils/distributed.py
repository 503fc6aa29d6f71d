# Copyright (c) mmattn contributors. All rights reserved.
"""Multi-process training and testing on CPUs (gloo) with mmengine's Runner.

mmengine 0.10 assumes one GPU per process as soon as a launcher is given:

* ``init_dist('pytorch', ...)`` calls ``torch.cuda.set_device(LOCAL_RANK)``,
  which fails on a machine (or a torch build) without CUDA;
* the config default ``env_cfg.dist_cfg.backend='nccl'`` needs CUDA;
* ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
  DistributedDataParallel, which torch rejects for a model on the CPU.

:func:`prepare_cpu_distributed` works around all three, and only when a
launcher is given and CUDA is unavailable; GPU runs are left exactly as
mmengine runs them. tools/train.py and tools/test.py call it before building
the Runner; ``import mmattn`` registers :class:`CPUDistributedDataParallel`
in mmengine's ``MODEL_WRAPPERS``.
"""
import datetime
import logging
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel', 'prepare_cpu_distributed']


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel that accepts a model on the CPU.

    The Runner gives every DistributedDataParallel subclass
    ``device_ids=[LOCAL_RANK]``; torch only allows ``device_ids`` for a
    model on one GPU, so they are dropped when the model is on the CPU.
    Gradients are still averaged over all processes after every backward
    pass, so every process ends each iteration with the same weights.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (list[int], optional): Kept for a model on a GPU, dropped
            for a model on the CPU.
        **kwargs: Passed to :class:`MMDistributedDataParallel`.

    Raises:
        ValueError: When the model on the CPU contains
            ``torch.nn.SyncBatchNorm`` layers: torch only synchronises them
            on GPUs, and would fail at the first training iteration.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            sync_bn = [
                name for name, layer in module.named_modules()
                if isinstance(layer, torch.nn.SyncBatchNorm)
            ]
            if sync_bn:
                raise ValueError(
                    f'SyncBN needs a distributed run on GPUs, but this '
                    f'distributed run is on the CPU and the model has '
                    f'{len(sync_bn)} SyncBatchNorm layers (first: '
                    f'{sync_bn[0]!r}). Run it on GPUs, in a single process '
                    f'(python tools/train.py: mmengine turns SyncBN into BN), '
                    f'or use a BN config (docs/distributed.md).')
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Make a distributed config run on CPUs, when CUDA is unavailable.

    Does nothing (returns False) for ``cfg.launcher == 'none'`` or when
    CUDA is available. Otherwise:

    * a ``nccl`` backend in ``env_cfg.dist_cfg`` (mmengine's default)
      becomes ``gloo``, with a warning; other backends are kept;
    * the default process group is initialised from the environment that
      torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
      ``MASTER_PORT``), so mmengine skips its GPU-only ``init_dist``;
    * the model is wrapped by :class:`CPUDistributedDataParallel` (with
      mmengine's defaults ``broadcast_buffers=False`` and
      ``find_unused_parameters`` from the config) instead of
      ``MMDistributedDataParallel``.

    Args:
        cfg (Config): The full config, with ``launcher`` set; changed in
            place.

    Returns:
        bool: True when the run was set up for CPUs.

    Raises:
        ValueError: For a launcher other than ``pytorch`` (mmengine's
            ``slurm`` and ``mpi`` set-ups need GPUs), a process started
            without torchrun's environment variables, or a
            ``model_wrapper_cfg`` of another type than
            ``MMDistributedDataParallel``.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise ValueError(
            f'launcher {launcher!r} needs GPUs in mmengine; on CPUs start '
            f'the processes with torchrun and --launcher pytorch '
            f'(tools/dist_train.sh)')

    missing = [
        key for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if key not in os.environ
    ]
    if missing:
        raise ValueError(
            f'--launcher pytorch needs the environment that torchrun sets, '
            f'missing {missing}; start the processes with '
            f'tools/dist_train.sh or torchrun')

    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        cfg.model_wrapper_cfg = dict(
            type='CPUDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper_cfg.get(
            'type',
            'MMDistributedDataParallel') in ('MMDistributedDataParallel',
                                             MMDistributedDataParallel):
        wrapper_cfg['type'] = 'CPUDistributedDataParallel'
    elif wrapper_cfg['type'] not in ('CPUDistributedDataParallel',
                                     CPUDistributedDataParallel):
        raise ValueError(
            f'model_wrapper_cfg.type {wrapper_cfg["type"]!r} cannot run on '
            f'the CPU here; use CPUDistributedDataParallel '
            f'(mmattn.utils.distributed)')

    if cfg.get('env_cfg', None) is None:
        cfg.env_cfg = dict()
    if cfg.env_cfg.get('dist_cfg', None) is None:
        cfg.env_cfg.dist_cfg = dict()
    dist_cfg = cfg.env_cfg.dist_cfg
    backend = dist_cfg.get('backend', 'nccl')
    if backend == 'nccl':
        if int(os.environ.get('RANK', 0)) == 0:  # once, not once per process
            print_log(
                'CUDA is not available: env_cfg.dist_cfg.backend nccl -> '
                'gloo (NCCL only runs on GPUs)',
                logger='current',
                level=logging.WARNING)
        backend = dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        kwargs = {
            key: value
            for key, value in dist_cfg.items()
            if key not in ('backend', 'init_backend')
        }
        if kwargs.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        torch_dist.init_process_group(
            backend=backend,
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)

    return True
