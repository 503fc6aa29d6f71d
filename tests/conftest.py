# Copyright (c) mmattn contributors. All rights reserved.
"""Shared fixtures. Test files live in tests/<area>/ without __init__.py and
are imported with ``--import-mode=importlib`` (pyproject.toml), so the
top-level ``tests`` package that the mmsegmentation wheel installs can never
shadow them."""
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Callable, Dict, List, Optional

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


def _run_tool(args: List[str],
              *,
              check: bool = True,
              timeout: float = 900,
              env: Optional[Dict[str, Optional[str]]] = None,
              cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    command = [sys.executable] + [str(arg) for arg in args]
    # One thread each: the suite shares few cores with whatever else runs,
    # and third-party warnings would bury a failure's traceback.
    run_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    for key, value in (env or {}).items():
        if value is None:
            run_env.pop(key, None)
        else:
            run_env[key] = value
    result = subprocess.run(
        command,
        cwd=REPO_ROOT if cwd is None else cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=run_env)
    if check:
        log = result.stdout + result.stderr
        assert result.returncode == 0, (
            f'`{shlex.join(command)}` exited with {result.returncode}:\n'
            f'{log[-4000:]}')
    return result


@pytest.fixture(scope='session')
def run_tool() -> Callable[..., subprocess.CompletedProcess]:
    """Run a repository script or module in a fresh interpreter, as a user
    runs it from the checkout.

    The returned function is
    ``run_tool(args, *, check=True, timeout=900, env=None, cwd=None)``:

    Args:
        args (list[str]): What follows the interpreter, e.g.
            ``['tools/test.py', config, checkpoint]`` or ``['-m', 'mod']``.
            Non-string items (paths) are converted with ``str``.
        check (bool): Assert a zero exit status; the message holds the
            command line and the last 4000 characters of stdout + stderr.
            Pass False to test a failing run. Defaults to True.
        timeout (float): Seconds before ``subprocess.TimeoutExpired``.
            Defaults to 900.
        env (dict[str, str | None], optional): Overrides of the environment,
            which is ``os.environ`` with ``PYTHONWARNINGS=ignore`` and
            ``OMP_NUM_THREADS=1``; a value of None removes the variable.
        cwd (str, optional): Working directory. Defaults to the repository
            root.

    Returns:
        subprocess.CompletedProcess: With ``stdout`` and ``stderr`` as text.
    """
    return _run_tool


def _load_tool(name: str):
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'mmattn_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool() -> Callable:
    """Import a script of ``tools/`` as a module, to call its ``main(argv)``
    in-process (faster than :func:`run_tool`, same argument parsing).

    The returned function is ``load_tool(name)`` with ``name`` the file name
    without ``.py``, e.g. ``load_tool('synthesize_scoring_set').main([...])``.
    """
    return _load_tool
