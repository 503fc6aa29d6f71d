# Copyright (c) mmattn contributors. All rights reserved.
"""`tools/setup_env.sh` (the set-up step of `make test` / `make demo`) is
idempotent: on a machine that ran it once, it checks and returns fast."""
import os
import os.path as osp
import subprocess
import sys
import time

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VENV = osp.join(REPO_ROOT, '.venv')


@pytest.mark.skipif(
    osp.realpath(sys.prefix) != osp.realpath(VENV),
    reason='only meaningful inside the .venv that tools/setup_env.sh made')
def test_second_setup_run_is_a_fast_no_op():
    start = time.monotonic()
    result = subprocess.run(['bash', 'tools/setup_env.sh'],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True,
                            env=dict(os.environ, VENV='.venv'),
                            timeout=300)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'is up to date' in result.stdout
    # The bound for a warm set-up is one minute.
    assert elapsed < 60, f'warm set-up took {elapsed:.1f}s'
