# Copyright (c) mmattn contributors. All rights reserved.
"""mmattn: hybrid attention (HAR-Net) and selection/attention losses with
mask scoring (SAL-Net) for OpenMMLab.

Importing this package registers every mmattn module into the mmdet and
mmseg registries, so a config needs only::

    custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

Layout:

- :mod:`mmattn.blocks`: framework-light attention building blocks shared by
  both halves (spatial attention, CLGN, CLSE, aligned attention, GDN).
- :mod:`mmattn.detection`: the HAR-Net half (mmdet modules).
- :mod:`mmattn.segmentation`: the SAL-Net half (mmseg modules, mask scoring).
- :mod:`mmattn.synthetic`: generated datasets for the demo, tests and
  benchmarks.
- :mod:`mmattn.visualization`: attention pictures (HAR-Net spatial masks,
  SAL class attention) and the hook that draws them during training.
"""
from .utils.version_check import check_openmmlab_versions

check_openmmlab_versions()

# Must run before any checkpoint is loaded: mmengine 0.10.7 cannot read its
# own checkpoints under torch>=2.6 without it.
from .utils.checkpoint import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()

from . import (blocks, detection, segmentation, synthetic,  # noqa: E402,F401
               visualization)
from .utils import distributed  # noqa: E402,F401  (CPU DDP wrapper)
from .version import __version__, version_info  # noqa: E402

__all__ = [
    '__version__', 'version_info', 'blocks', 'detection', 'segmentation',
    'synthetic', 'visualization'
]
