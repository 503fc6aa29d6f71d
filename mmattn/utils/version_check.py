# Copyright (c) mmattn contributors. All rights reserved.
"""Fail early, with the fix in the message, on an unsupported OpenMMLab set."""
from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

# (distribution, import name, minimum inclusive, maximum exclusive)
SUPPORTED_RANGES = (
    ('mmengine', 'mmengine', '0.10.0', '1.0.0'),
    ('mmcv', 'mmcv', '2.0.0rc4', '2.2.0'),
    ('mmdet', 'mmdet', '3.0.0', '3.4.0'),
    ('mmsegmentation', 'mmseg', '1.0.0', '1.3.0'),
)


def check_openmmlab_versions() -> None:
    """Raise ``ImportError`` naming the package when a required OpenMMLab
    package is missing or outside the range mmattn supports."""
    problems = []
    for dist, module, low, high in SUPPORTED_RANGES:
        try:
            installed = version(dist)
        except PackageNotFoundError:
            problems.append(f'{dist} is not installed (need >={low},<{high}; '
                            f'it provides the `{module}` package)')
            continue
        if not Version(low) <= Version(installed) < Version(high):
            problems.append(f'{dist}=={installed} is installed, but mmattn '
                            f'needs {dist}>={low},<{high}')
    if problems:
        raise ImportError(
            'mmattn cannot be imported: ' + '; '.join(problems) +
            '. Install the tested set with `pip install -r '
            'requirements/pinned.txt` (see README.md, "Install").')
