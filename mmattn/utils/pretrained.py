# Copyright (c) mmattn contributors. All rights reserved.
"""Name the pretrained weights a config downloads, and explain a failed
download in one line.

The paper-scale configs initialise their backbones from ImageNet weights
given as URLs (``open-mmlab://resnet101_v1c``, ``torchvision://resnet101``,
``https://download.openmmlab.com/...``) in ``model.pretrained`` or a
``Pretrained`` ``init_cfg``. Offline, ``Runner.train`` fails deep inside
``torch.hub`` with a ``URLError`` traceback that does not name the URL (and
``torchvision://`` URLs need torchvision). :func:`pretrained_download_error`
turns such an error into a :class:`PretrainedDownloadError` that names the
URL, the config key and the ``--cfg-options`` that trains without it.
"""
import http.client
import traceback
import urllib.error
from typing import Any, List, Optional, Tuple

__all__ = [
    'PretrainedDownloadError', 'pretrained_download_error',
    'remote_pretrained_weights'
]

# mmengine's checkpoint loaders that reach the network.
_DOWNLOAD_FRAMES = ('load_from_http', 'load_url', 'load_from_torchvision',
                    'load_from_openmmlab', 'load_from_mmcls',
                    'get_torchvision_models', 'download_url_to_file')


class PretrainedDownloadError(RuntimeError):
    """Pretrained weights named by a config could not be downloaded."""


def remote_pretrained_weights(model_cfg: Any,
                              prefix: str = 'model') -> List[Tuple[str, str]]:
    """Remote pretrained weights in a model config.

    Args:
        model_cfg (dict): ``cfg.model``.
        prefix (str): Key path of ``model_cfg``. Defaults to ``'model'``.

    Returns:
        list[tuple[str, str]]: ``(key to set to None, URL)`` pairs, e.g.
        ``('model.backbone.init_cfg', 'torchvision://resnet101')`` or
        ``('model.pretrained', 'open-mmlab://resnet101_v1c')``.
    """
    found = []

    def remote(value) -> bool:
        return isinstance(value, str) and '://' in value

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                sub = f'{path}.{key}'
                if key == 'pretrained' and remote(value):
                    found.append((sub, value))
                elif key == 'init_cfg':
                    inits = value if isinstance(value, (list, tuple)) \
                        else [value]
                    for init in inits:
                        if isinstance(init, dict) and remote(
                                init.get('checkpoint')):
                            found.append((sub, init['checkpoint']))
                    walk(value, sub)
                else:
                    walk(value, sub)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item, path)

    walk(model_cfg, prefix)
    return found


def _resolve(url: str) -> Optional[str]:
    """The download URL behind an ``open-mmlab://`` name, if mmengine knows
    it."""
    for scheme in ('open-mmlab://', 'openmmlab://'):
        if url.startswith(scheme):
            try:
                from mmengine.runner.checkpoint import (
                    get_deprecated_model_names, get_external_models)
                name = url[len(scheme):]
                name = get_deprecated_model_names().get(name, name)
                return get_external_models().get(name)
            except Exception:  # only a nicer message is lost
                return None
    return None


def _is_download_failure(err: BaseException) -> bool:
    network = isinstance(
        err, (urllib.error.URLError, ConnectionError, TimeoutError,
              http.client.HTTPException))
    torchvision_missing = isinstance(err, ModuleNotFoundError) and \
        err.name == 'torchvision'
    if not (network or torchvision_missing):
        return False
    frames = {frame.f_code.co_name
              for frame, _ in traceback.walk_tb(err.__traceback__)}
    return bool(frames.intersection(_DOWNLOAD_FRAMES))


def pretrained_download_error(
        err: BaseException, model_cfg: Any,
        config: str) -> Optional[PretrainedDownloadError]:
    """Explain ``err`` when it is a failed download of pretrained weights.

    Args:
        err (BaseException): What ``Runner.train`` raised.
        model_cfg (dict): ``cfg.model`` of the run.
        config (str): The config file, named in the message.

    Returns:
        PretrainedDownloadError or None: None when ``err`` did not come from
        downloading weights (the caller re-raises it).
    """
    if not _is_download_failure(err):
        return None
    weights = remote_pretrained_weights(model_cfg)
    if isinstance(err, ModuleNotFoundError):
        reason = ('torchvision:// weights need torchvision, which is not '
                  'installed')
    else:
        reason = str(getattr(err, 'reason', None) or err)
    if not weights:
        return PretrainedDownloadError(
            f'{config}: downloading pretrained weights failed ({reason}); '
            'set the init_cfg/pretrained that names them to None with '
            '--cfg-options to train without them')
    urls = ', '.join(
        url + (f' ({_resolve(url)})' if _resolve(url) else '')
        for _, url in weights)
    options = ' '.join(f'{key}=None' for key, _ in weights)
    return PretrainedDownloadError(
        f'{config} initialises the model from pretrained weights at {urls}, '
        f'which could not be downloaded ({reason}). Train without them (from '
        f'random initialisation) with --cfg-options {options}, or download '
        'the file on a connected machine and give its local path instead of '
        'the URL')
