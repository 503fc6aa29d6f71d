# Copyright (c) mmattn contributors. All rights reserved.
"""The package installs and registers the way an OpenMMLab user expects."""
import importlib
import importlib.util
import os.path as osp
import re
import subprocess
import sys
from unittest import mock

import pytest
from mmengine.utils import import_modules_from_strings

import mmattn
from mmattn.utils import version_check

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The public API: registry names users write in configs.
EXPECTED_REGISTRATIONS = {
    ('mmengine', 'MODELS'): [
        'SpatialAttention', 'CrossLevelGroupNorm', 'CrossLevelSE',
        'AlignedAttention', 'GDN'
    ],
    ('mmdet', 'MODELS'): [
        'AlignedFPN', 'HARRetinaHead', 'HARATSSHead', 'HARGFLHead',
        'HARFCOSHead'
    ],
    ('mmengine', 'HOOKS'): ['AttentionVisualizationHook'],
    ('mmengine', 'MODEL_WRAPPERS'): ['CPUDistributedDataParallel'],
    ('mmdet', 'HOOKS'): ['StagedAttentionHook'],
    ('mmseg', 'MODELS'):
    ['SALHead', 'SelectionLoss', 'AttentionLoss', 'MaskScoringNet'],
    ('mmseg', 'DATASETS'): ['WeakVOCDataset', 'WeakSegDataset'],
    ('mmseg', 'METRICS'): ['VOCSubmissionMetric'],
}


def _registry(scope, name):
    module = importlib.import_module(f'{scope}.registry')
    return getattr(module, name)


def test_version_matches_setup_py():
    with open(osp.join(REPO_ROOT, 'mmattn', 'version.py')) as f:
        declared = re.search(r"__version__ = '([^']+)'", f.read()).group(1)
    assert mmattn.__version__ == declared
    assert mmattn.version_info[:3] == tuple(
        int(p) for p in declared.split('.')[:3])


@pytest.mark.parametrize('scope_and_registry', sorted(EXPECTED_REGISTRATIONS))
def test_import_registers_public_modules(scope_and_registry):
    registry = _registry(*scope_and_registry)
    for name in EXPECTED_REGISTRATIONS[scope_and_registry]:
        assert registry.get(name) is not None, \
            f'{name} is not registered in {scope_and_registry}'


def test_shared_blocks_are_found_from_both_scopes():
    """Blocks live in mmengine's root registry; mmdet- and mmseg-scoped
    registries fall back to it, so configs of both halves can name them."""
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    for name in EXPECTED_REGISTRATIONS[('mmengine', 'MODELS')]:
        assert DET_MODELS.get(name) is SEG_MODELS.get(name) is not None


def test_custom_imports_is_all_a_config_needs():
    """A fresh interpreter that only processes `custom_imports` (as
    mmengine's Config does) sees mmattn's modules in mmdet's registry."""
    code = (
        'from mmengine.config import Config\n'
        'cfg = Config(dict(custom_imports=dict(imports=["mmattn"], '
        'allow_failed_imports=False)))\n'
        'from mmengine.utils import import_modules_from_strings\n'
        'import_modules_from_strings(**cfg.custom_imports)\n'
        'from mmdet.registry import MODELS\n'
        'from mmseg.registry import MODELS as SEG\n'
        'assert MODELS.get("HARRetinaHead") is not None\n'
        'assert SEG.get("SALHead") is not None\n'
        'print("ok")\n')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            cwd=REPO_ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith('ok')


def test_unsupported_openmmlab_version_fails_with_the_fix():
    installed = {
        'mmengine': '0.10.7',
        'mmcv': '2.2.0',  # mmdet 3.3 / mmseg 1.2 assert mmcv < 2.2.0
        'mmdet': '3.3.0',
        'mmsegmentation': '1.2.2',
    }

    with mock.patch.object(version_check, 'version', installed.__getitem__):
        with pytest.raises(ImportError) as excinfo:
            version_check.check_openmmlab_versions()
    message = str(excinfo.value)
    assert 'mmcv==2.2.0' in message and '<2.2.0' in message
    assert 'requirements/pinned.txt' in message


def test_our_tests_are_the_ones_that_run():
    """The mmsegmentation wheel installs a top-level `tests` package. Our
    test modules must be imported from this checkout regardless."""
    spec = importlib.util.find_spec('tests')
    if spec is not None and spec.origin is not None:
        # the hazard is real in this environment: it is not our folder
        assert osp.dirname(spec.origin) != osp.join(REPO_ROOT, 'tests')
    assert osp.dirname(osp.dirname(osp.abspath(__file__))) == osp.join(
        REPO_ROOT, 'tests')
    module = sys.modules[__name__]
    assert osp.abspath(module.__file__).startswith(REPO_ROOT + osp.sep)


def test_custom_imports_helper_imports_mmattn():
    modules = import_modules_from_strings(['mmattn'])
    assert modules == [mmattn]
