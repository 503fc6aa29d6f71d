# Copyright (c) mmattn contributors. All rights reserved.
"""Shared fixtures. Test files live in tests/<area>/ without __init__.py and
are imported with ``--import-mode=importlib`` (pyproject.toml), so the
top-level ``tests`` package that the mmsegmentation wheel installs can never
shadow them."""
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    """Absolute path of the mmattn checkout."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def synthetic_det_root(tmp_path_factory) -> str:
    """A small generated COCO-format dataset shared by the session."""
    from mmattn.synthetic import make_det_dataset
    root = str(tmp_path_factory.mktemp('synthetic_det'))
    make_det_dataset(
        root, num_images=12, seed=0, img_size=(128, 128), overwrite=True)
    return root


@pytest.fixture(scope='session')
def synthetic_seg_root(tmp_path_factory) -> str:
    """A small generated VOC-style dataset shared by the session."""
    from mmattn.synthetic import make_seg_dataset
    root = str(tmp_path_factory.mktemp('synthetic_seg'))
    make_seg_dataset(
        root, num_images=12, seed=0, img_size=(96, 96), overwrite=True)
    return root
