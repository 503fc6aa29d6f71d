# Copyright (c) mmattn contributors. All rights reserved.
"""The pipeline's tiny make (stage records, skipping, reruns, foreign
files) and its tau rules, on hand-worked values."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmattn.segmentation.pipeline import (PIPELINE_MARKER, STAGE_RECORD,
                                          StageRunner, WorkDirError,
                                          claim_work_dir, fit_two_gaussians,
                                          keep_fraction_tau, mixture_tau,
                                          val_proxy_tau)

NAMES = ('first', 'second')


class Killed(BaseException):
    """Stands for the process being killed mid-stage."""


def make_runner(work_dir, lines):
    claim_work_dir(str(work_dir), NAMES, 'test')
    return StageRunner(str(work_dir), NAMES, log=lines.append)


def writer(text, calls, kill_after_partial=False):
    """A stage that writes ``out.txt`` (and records that it ran)."""

    def fn(stage_dir, resume):
        calls.append(resume)
        with open(osp.join(stage_dir, 'partial.txt'), 'w') as f:
            f.write('half')
        if kill_after_partial:
            raise Killed()
        with open(osp.join(stage_dir, 'out.txt'), 'w') as f:
            f.write(text)
        return dict(outputs=['out.txt'], text=text)

    return fn


def run_both(runner, first_text, second_calls, first_calls, setting=1,
             second_text='derived'):
    runner.run('first', writer(first_text, first_calls), dict(s=setting))
    return runner.run('second', writer(second_text, second_calls),
                      dict(), upstream=['first'])


def test_up_to_date_stages_are_skipped_and_changes_rerun_downstream(
        tmp_path):
    work = tmp_path / 'work'
    lines, c1, c2 = [], [], []
    run_both(make_runner(work, lines), 'a', c2, c1)
    assert (c1, c2) == ([False], [False])
    assert lines[0] == '[sal_pipeline] stage 1/2 first: started'
    assert lines[1].startswith('[sal_pipeline] stage 1/2 first: done in ')
    record = json.loads((work / 'first' / STAGE_RECORD).read_text())
    assert record['status'] == 'done'
    assert record['files'] == ['out.txt', 'partial.txt']
    assert record['result'] == dict(outputs=['out.txt'], text='a')

    # Nothing changed: both skipped, nothing written.
    lines = []
    mtime = os.stat(work / 'second' / 'out.txt').st_mtime_ns
    run_both(make_runner(work, lines), 'a', c2, c1)
    assert (c1, c2) == ([False], [False])
    assert all('skipped, up to date' in line for line in lines), lines
    assert os.stat(work / 'second' / 'out.txt').st_mtime_ns == mtime

    # A setting of the first stage changed, its output did not: like make,
    # the second stage stays up to date.
    lines = []
    run_both(make_runner(work, lines), 'a', c2, c1, setting=2)
    assert (len(c1), len(c2)) == (2, 1)
    assert 'its settings or input files changed' in lines[0]
    assert 'second: skipped' in lines[-1]

    # Its output changed: the second stage runs again and says why.
    lines = []
    run_both(make_runner(work, lines), 'b', c2, c1, setting=3)
    assert (len(c1), len(c2)) == (3, 2)
    assert any('second: started (new output of first)' in line
               for line in lines), lines

    # A deleted output: that stage runs again.
    os.remove(work / 'second' / 'out.txt')
    lines = []
    run_both(make_runner(work, lines), 'b', c2, c1, setting=3)
    assert (len(c1), len(c2)) == (3, 3)
    assert 'second: started (an output was deleted or changed)' in \
        lines[-2]

    # Touched but identical bytes: still up to date.
    os.utime(work / 'second' / 'out.txt', ns=(1, 1))
    lines = []
    run_both(make_runner(work, lines), 'b', c2, c1, setting=3)
    assert len(c2) == 3 and 'second: skipped' in lines[-1]


def test_a_stage_killed_midway_runs_again_or_resumes(tmp_path):
    work = tmp_path / 'work'
    lines, calls = [], []
    runner = make_runner(work, lines)
    with pytest.raises(Killed):
        runner.run('first', writer('a', calls, kill_after_partial=True),
                   dict(s=1))
    record = json.loads((work / 'first' / STAGE_RECORD).read_text())
    assert record['status'] == 'running'

    # Not resumable: the folder is cleared and the stage starts afresh.
    lines = []
    make_runner(work, lines).run('first', writer('a', calls), dict(s=1))
    assert calls == [False, False]
    assert lines[0] == ('[sal_pipeline] stage 1/2 first: started (the '
                        'previous run stopped mid-stage)')

    # Resumable (training): the folder is kept and fn is told to resume.
    with pytest.raises(Killed):
        make_runner(work, []).run('second', writer('b', calls, True), {},
                                  upstream=[], resumable=True)
    lines = []
    make_runner(work, lines).run('second', writer('b', calls), {},
                                 resumable=True)
    assert calls[-1] is True
    assert lines[0].startswith('[sal_pipeline] stage 2/2 second: resuming '
                               '(the previous run stopped mid-stage)')
    # ... unless its settings changed meanwhile.
    with pytest.raises(Killed):
        make_runner(work, []).run('second', writer('b', calls, True),
                                  dict(x=1), resumable=True)
    make_runner(work, []).run('second', writer('b', calls), dict(x=2),
                              resumable=True)
    assert calls[-1] is False


def test_work_dir_with_foreign_files_is_refused(tmp_path):
    # A folder the pipeline did not create.
    work = tmp_path / 'mine'
    work.mkdir()
    (work / 'notes.txt').write_text('keep')
    with pytest.raises(WorkDirError, match=r'notes\.txt.*did not write|'
                       r'did not write.*notes\.txt'):
        claim_work_dir(str(work), NAMES, 'test')
    assert not (work / PIPELINE_MARKER).exists()

    # The pipeline's folder with a file of yours next to the stages.
    work = tmp_path / 'work'
    claim_work_dir(str(work), NAMES, 'test')
    (work / 'results.csv').write_text('keep')
    with pytest.raises(WorkDirError, match=r'results\.csv'):
        claim_work_dir(str(work), NAMES, 'test')
    os.remove(work / 'results.csv')

    # A file of yours inside a stage folder that must run again: refused,
    # the file stays.
    calls = []
    make_runner(work, []).run('first', writer('a', calls), dict(s=1))
    (work / 'first' / 'my_plot.png').write_text('keep')
    make_runner(work, []).run('first', writer('a', calls), dict(s=1))
    assert len(calls) == 1  # up to date: the extra file does not matter
    with pytest.raises(WorkDirError, match=r'my_plot\.png'):
        make_runner(work, []).run('first', writer('a', calls), dict(s=2))
    assert (work / 'first' / 'my_plot.png').read_text() == 'keep'
    assert len(calls) == 1


def test_keep_fraction_tau():
    scores = [0.6, 0.9, 0.7, 0.8]
    assert keep_fraction_tau(scores, 0.5) == dict(tau=0.8, target_kept=2)
    # ceil(0.6 * 4) = 3
    assert keep_fraction_tau(scores, 0.6)['tau'] == 0.7
    assert keep_fraction_tau(scores, 1.0)['tau'] == 0.6
    assert keep_fraction_tau(scores, 0.01)['tau'] == 0.9  # at least one
    with pytest.raises(ValueError, match='keep-fraction'):
        keep_fraction_tau(scores, 0)


def test_mixture_tau_on_two_symmetric_groups():
    low = [0.1, 0.2, 0.3] * 5
    high = [0.7, 0.8, 0.9] * 5
    fit = fit_two_gaussians(low + high)
    np.testing.assert_allclose(fit['means'], [0.2, 0.8], atol=1e-6)
    np.testing.assert_allclose(fit['weights'], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(fit['stds'], [np.sqrt(2 / 300)] * 2,
                               atol=1e-6)
    # Equal weights and spreads: the components cross half-way.
    assert mixture_tau(low + high)['tau'] == pytest.approx(0.5, abs=2e-4)
    # Twice as many good proxies: the crossing moves towards the bad ones.
    assert mixture_tau(low + high * 2)['tau'] < 0.5
    with pytest.raises(ValueError, match='all equal'):
        mixture_tau([0.5] * 10)


def test_val_proxy_tau_maximises_youden_j():
    # good (quality >= 0.8): scores 0.9 and 0.6; bad: 0.8 and 0.4.
    # tau 0.9: TPR 1/2, FPR 0 -> J 1/2; 0.8: 1/2 - 1/2 = 0;
    # 0.6: 1 - 1/2 = 1/2; 0.4: 1 - 1 = 0. Tie: the lower tau keeps more.
    result = val_proxy_tau([0.9, 0.8, 0.6, 0.4], [0.95, 0.7, 0.85, 0.3])
    assert result['tau'] == 0.6
    assert result['youden_j'] == 0.5
    assert (result['num_good'], result['num_bad']) == (2, 2)
    assert result['table'] == [[0.4, 0.0], [0.6, 0.5], [0.8, 0.0],
                               [0.9, 0.5]]
    with pytest.raises(ValueError, match='2 good and 0 bad'):
        val_proxy_tau([0.9, 0.8], [0.95, 0.9])
