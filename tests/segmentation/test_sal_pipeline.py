# Copyright (c) mmattn contributors. All rights reserved.
"""tools/sal_pipeline.py end to end on a generated folder (16 images at
64 px, 2-4 iterations per training stage): every stage runs, a second run
skips them all, a deleted output or a killed training resumes from there,
and bad input, a scorer checkpoint of another config or a work dir with
foreign files stop it before any compute."""
import glob
import importlib.util
import json
import math
import os
import os.path as osp
import re
import shutil
import socket

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import IterBasedTrainLoop, save_checkpoint
from PIL import Image

import mmattn  # noqa: F401
from mmattn.segmentation.pipeline import STAGES, mixture_tau, val_proxy_tau
from mmattn.segmentation.score_file import load_mask_score_file
from mmattn.synthetic import make_seg_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_SAL = osp.join(ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')
TINY_SCORER = osp.join(ROOT, 'configs', 'mask_scoring',
                       'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py')
FULL_SCORER = osp.join(ROOT, 'configs', 'mask_scoring',
                       'mask-scorer_1xb8-50e_voc12aug-432x432.py')
FAST_SCORER = [
    '--scorer-cfg-options', 'train_cfg.max_epochs=1',
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0'
]
_LINE = re.compile(r'^\[sal_pipeline\] stage (\d+)/9 (\w+): (.*)$', re.M)


class SimulatedKill(BaseException):
    """Stands for the process being killed (not an Exception: nothing in
    the tools catches it)."""


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'sal_pipeline_tool', osp.join(ROOT, 'tools', 'sal_pipeline.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_lines(output: str) -> dict:
    """stage -> what its progress lines said, in order."""
    lines = {}
    for index, name, text in _LINE.findall(output):
        assert STAGES[int(index) - 1] == name
        lines.setdefault(name, []).append(text)
    return lines


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('pipeline_data'))
    make_seg_dataset(root, num_images=16, seed=0, img_size=(64, 64),
                     show_progress=False)
    return root


@pytest.fixture(scope='module')
def sal_config(tmp_path_factory):
    """The tiny R-18 SAL-Net at 48 px crops, 2 iterations, one checkpoint
    every 2."""
    path = tmp_path_factory.mktemp('pipeline_cfg') / 'sal_tiny.py'
    path.write_text(f"""_base_ = [{TINY_SAL!r}]
crop_size = (48, 48)
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomCrop', crop_size=crop_size),
        dict(type='PackWeakSegInputs')]))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=1000)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
""")
    return str(path)


def base_args(data_root, work_dir, sal_config, *extra):
    return [
        data_root, '--work-dir', str(work_dir), '--sal-config', sal_config,
        '--no-progress', *FAST_SCORER, *extra
    ]


def ids_of(data_root, split):
    return open(osp.join(data_root, 'ImageSets', 'Segmentation',
                         f'{split}.txt')).read().split()


def test_every_stage_runs_then_all_are_skipped_and_a_deleted_output_reruns(
        data_root, sal_config, tmp_path, run_tool):
    work = tmp_path / 'work'
    args = ['tools/sal_pipeline.py'] + base_args(data_root, work, sal_config)
    result = run_tool(args)
    lines = stage_lines(result.stdout)
    assert list(lines) == list(STAGES)
    for name in STAGES:
        assert lines[name][0].startswith('started'), (name, lines[name])
        assert re.fullmatch(r'done in [\d.]+ s', lines[name][-1]), name

    # Fine scores from the trained scorer: P and SF = P * CD for every
    # training image, fingerprints of the proxies scored.
    train = ids_of(data_root, 'train')
    scores = load_mask_score_file(str(work / 'fine_scores' /
                                      'mask_scores.json'))
    assert sorted(scores.scores) == sorted(train)
    for s in scores.scores.values():
        assert s['SF'] == pytest.approx(s['P'] * s['CD'])
    assert sorted(scores.fingerprints) == sorted(train)
    scorer_record = json.loads((work / 'scorer' / 'stage.json').read_text())
    assert scores.meta['checkpoint'] == str(
        work / 'scorer' / scorer_record['result']['checkpoint'])

    # tau: keep-fraction 0.5 = the ceil(0.5 N)-th highest SF.
    tau = json.loads((work / 'tau' / 'tau.json').read_text())
    sf = sorted((s['SF'] for s in scores.scores.values()), reverse=True)
    assert tau['tau'] == sf[math.ceil(0.5 * len(sf)) - 1]
    assert tau['kept'] == sum(v >= tau['tau'] for v in sf)

    # The retraining config reads that score file with that tau.
    cfg = Config.fromfile(str(work / 'sal' / 'sal_config.py'))
    loss = cfg.model.decode_head.loss_decode
    assert (loss.score_key, loss.tau, loss.weighting) == ('SF', tau['tau'],
                                                          'hard')
    dataset = cfg.train_dataloader.dataset
    assert dataset.score_file == str(work / 'fine_scores' /
                                     'mask_scores.json')
    assert dataset.data_root == data_root
    # Our config, not the Runner's copy with its resume settings.
    assert not cfg.get('resume', False) and cfg.get('load_from') is None
    assert cfg.val_dataloader.dataset.data_prefix.seg_map_path == osp.join(
        data_root, 'SegmentationClass')
    assert osp.isfile(work / 'sal' / 'train' / 'iter_2.pth')

    # Evaluation and report.
    metrics = json.loads((work / 'eval' / 'metrics.json').read_text())
    assert 0 <= metrics['mIoU'] <= 100
    report = (work / 'report' / 'report.md').read_text()
    assert f'tau = {tau["tau"]:.4f}: keeps {tau["kept"]}/{len(train)}' in \
        report
    assert f'| mIoU | {metrics["mIoU"]:.2f} |' in report
    for png in ('score_histogram.png', 'examples.png'):
        with Image.open(work / 'report' / png) as im:
            assert im.size[0] > 100
    summary = json.loads((work / 'report' / 'report.json').read_text())
    examples = summary['selection']['examples']
    assert all(scores.scores[i]['SF'] >= tau['tau']
               for i in examples['kept'])
    assert all(scores.scores[i]['SF'] < tau['tau']
               for i in examples['dropped'])

    # Second run: every stage up to date, nothing rewritten.
    mtimes = {
        p: os.stat(p).st_mtime_ns
        for p in glob.glob(str(work / '**' / '*'), recursive=True)
    }
    lines = stage_lines(run_tool(args).stdout)
    for name in STAGES:
        assert lines[name] == [lines[name][0]] and \
            lines[name][0].startswith('skipped, up to date'), (name, lines)
    assert {
        p: os.stat(p).st_mtime_ns
        for p in glob.glob(str(work / '**' / '*'), recursive=True)
    } == mtimes

    # The retrained checkpoint deleted: the run resumes from the SAL stage.
    os.remove(work / 'sal' / 'train' / 'iter_2.pth')
    lines = stage_lines(run_tool(args).stdout)
    for name in STAGES[:STAGES.index('sal')]:
        assert lines[name][0].startswith('skipped'), (name, lines[name])
    assert lines['sal'][0].startswith(
        'started (an output was deleted or changed)')
    assert lines['eval'][0] == 'started (new output of sal): 3 val ' \
        'images, IoUMetric'
    assert lines['report'][0].startswith('started (new output of')
    assert osp.isfile(work / 'sal' / 'train' / 'iter_2.pth')


def test_a_killed_training_resumes_from_its_checkpoint(
        data_root, sal_config, tmp_path, monkeypatch, capsys):
    """Coarse selection (SC, no scorer) and the val-proxy tau rule; the
    SAL training is killed after its iteration-2 checkpoint and the next
    run continues from it."""
    tool = load_tool()
    work = tmp_path / 'work'
    args = base_args(data_root, work, sal_config, '--score-key', 'SC',
                     '--tau-rule', 'val-proxy', '--sal-cfg-options',
                     'train_cfg.max_iters=4')
    run_iter = IterBasedTrainLoop.run_iter

    def killed_at_iter_2(loop, data_batch):
        if loop.iter == 2:
            raise SimulatedKill()
        return run_iter(loop, data_batch)

    monkeypatch.setattr(IterBasedTrainLoop, 'run_iter', killed_at_iter_2)
    with pytest.raises(SimulatedKill):
        tool.main(args)
    lines = stage_lines(capsys.readouterr().out)
    assert lines['sal'] == ['started: SAL-Net from ' + sal_config]
    record = json.loads((work / 'sal' / 'stage.json').read_text())
    assert record['status'] == 'running'
    assert osp.isfile(work / 'sal' / 'train' / 'iter_2.pth')
    assert not osp.exists(work / 'sal' / 'train' / 'iter_4.pth')
    monkeypatch.undo()

    assert tool.main(args) == 0
    lines = stage_lines(capsys.readouterr().out)
    for name in ('check', 'coarse_scores', 'tau'):
        assert lines[name][0].startswith('skipped, up to date'), name
    for name in ('scoring_set', 'scorer', 'fine_scores'):
        assert lines[name] == ['not needed (--score-key SC)']
    assert lines['sal'][0].startswith(
        'resuming (the previous run stopped mid-stage)')
    assert osp.isfile(work / 'sal' / 'train' / 'iter_4.pth')
    logs = sorted(glob.glob(str(work / 'sal' / 'train' / '*' / '*.log')))
    assert len(logs) == 2
    assert 'resumed epoch: 0, iter: 2' in open(logs[-1]).read()

    # tau by the val split's proxies: Youden's J over their SC against
    # their class-aware quality.
    val = json.loads((work / 'coarse_scores' /
                      'val_scores_coarse_results.json').read_text())
    assert sorted(val) == sorted(ids_of(data_root, 'val'))
    ids = sorted(val)
    expected = val_proxy_tau([val[i]['SC'] for i in ids],
                             [val[i]['AC_gt_cls'] for i in ids], 0.8)
    tau = json.loads((work / 'tau' / 'tau.json').read_text())
    assert tau['tau'] == expected['tau'] and tau['score_key'] == 'SC'
    good = [val[i]['AC_gt_cls'] >= 0.8 for i in ids]
    assert 0 < sum(good) < len(good)  # the rule had something to separate


def test_without_a_val_split_the_mixture_rule_selects_and_eval_is_skipped(
        data_root, sal_config, tmp_path, capsys):
    tool = load_tool()
    work = tmp_path / 'work'
    assert tool.main(
        base_args(data_root, work, sal_config, '--score-key', 'SC',
                  '--tau-rule', 'mixture', '--val-split', 'none.txt')) == 0
    lines = stage_lines(capsys.readouterr().out)
    assert lines['check'][0] == 'started: 13 training and 0 val images'
    assert lines['eval'] == ['not needed (no val split with ground truth)']
    scores = load_mask_score_file(
        str(work / 'coarse_scores' / 'mask_scores_coarse.json')).scores
    tau = json.loads((work / 'tau' / 'tau.json').read_text())
    assert tau['tau'] == mixture_tau([s['SC'] for s in scores.values()
                                      ])['tau']
    means = tau['details']['mixture']['means']
    assert means[0] < tau['tau'] < means[1]
    cfg = Config.fromfile(str(work / 'sal' / 'sal_config.py'))
    assert cfg.val_dataloader is None and cfg.test_dataloader is None
    assert cfg.model.decode_head.loss_decode.score_key == 'SC'
    assert 'Not evaluated: no val split with ground truth.' in (
        work / 'report' / 'report.md').read_text()


def test_scorer_checkpoint_of_another_config_is_an_error(
        data_root, sal_config, tmp_path, run_tool):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    checkpoint = str(tmp_path / 'tiny_scorer.pth')
    save_checkpoint(
        {'state_dict': MODELS.build(Config.fromfile(TINY_SCORER).model)
         .state_dict()}, checkpoint)
    work = tmp_path / 'work'
    result = run_tool(
        ['tools/sal_pipeline.py'] +
        base_args(data_root, work, sal_config, '--scorer-config',
                  FULL_SCORER, '--scorer-checkpoint', checkpoint),
        check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(
        f'sal_pipeline.py: error: checkpoint {checkpoint} does not load '
        f'strictly into the model of {FULL_SCORER}: ')
    assert ' shape mismatches (' in message
    assert message.endswith('Pass the --scorer-config the checkpoint was '
                            'trained with.')
    # Stopped in the check, before any scoring.
    assert sorted(os.listdir(work)) == ['check', 'mmattn_pipeline.json']
    assert stage_lines(result.stdout) == {'check': [
        'started: 13 training and 3 val images']}


def test_bad_input_fails_before_compute(data_root, sal_config, tmp_path,
                                        capsys):
    root = str(tmp_path / 'data')
    shutil.copytree(data_root, root)
    train = ids_of(root, 'train')
    # Tags keyed by file names instead of ids, for one image.
    tags = np.load(osp.join(root, 'cls_labels.npy'), allow_pickle=True).item()
    tags[train[0] + '.jpg'] = tags.pop(train[0])
    np.save(osp.join(root, 'cls_labels.npy'), tags)
    # A proxy mask of another size.
    proxy = osp.join(root, 'SegmentationClassProxy', train[1] + '.png')
    with Image.open(proxy) as im:
        im.resize((32, 32), Image.NEAREST).save(proxy)
    # An RGB reference mask.
    ref = osp.join(root, 'SaliencyRef', train[2] + '.png')
    with Image.open(ref) as im:
        im.convert('RGB').save(ref)
    work = tmp_path / 'work'
    tool = load_tool()
    assert tool.main(base_args(root, work, sal_config)) == 1
    captured = capsys.readouterr()
    error = captured.err
    assert error.startswith('sal_pipeline.py: error: 3 problem(s) in the '
                            f'input folder {root}, found before any compute')
    assert f"cls_labels.npy: image '{train[0]}' has no tags" in error
    assert f'{proxy}: label mask' in error and 'size' in error
    assert f"{ref}: a reference mask must be a single-channel (grey) PNG, " \
        "got mode 'RGB'" in error
    assert sorted(os.listdir(work)) == ['check', 'mmattn_pipeline.json']


def test_work_dir_with_foreign_files_is_refused(data_root, sal_config,
                                                tmp_path, capsys):
    work = tmp_path / 'results'
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    tool = load_tool()
    assert tool.main(base_args(data_root, work, sal_config)) == 1
    error = capsys.readouterr().err
    assert error.startswith(f'sal_pipeline.py: error: --work-dir {work} '
                            'holds files the pipeline did not write '
                            '(notes.txt)')
    assert sorted(os.listdir(work)) == ['notes.txt']
    assert (work / 'notes.txt').read_text() == 'mine'


def test_runs_under_torchrun_with_two_processes(data_root, sal_config,
                                                tmp_path, run_tool):
    """As tools/dist_train.sh starts tools/train.py: rank 0 runs the
    scoring stages while rank 1 waits, both train (gloo on CPUs), and only
    rank 0 prints and writes; nothing lands outside the work dir (not even
    mmengine's .dist_test collection folder)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    work = tmp_path / 'work'
    result = run_tool(
        ['-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_addr', '127.0.0.1', '--master_port', str(port),
         osp.join(ROOT, 'tools', 'sal_pipeline.py')] +
        base_args(data_root, work, sal_config, '--launcher', 'pytorch'),
        cwd=str(tmp_path), env={'CUDA_VISIBLE_DEVICES': ''})
    lines = stage_lines(result.stdout)
    for name in STAGES:  # once each: rank 1 prints no progress line
        assert len(lines[name]) == 2 and lines[name][0].startswith(
            'started'), (name, lines[name])
    assert sorted(os.listdir(tmp_path)) == ['work']
    for stage in ('scorer', 'sal'):
        logs = glob.glob(str(work / stage / 'train' / '*' / '*.log'))
        assert len(logs) == 1
        text = open(logs[0]).read()
        assert 'Distributed training: True' in text
        assert "type='CPUDistributedDataParallel'" in text
    assert osp.isfile(work / 'sal' / 'train' / 'iter_2.pth')
    metrics = json.loads((work / 'eval' / 'metrics.json').read_text())
    assert 0 <= metrics['mIoU'] <= 100


def test_stop_after_tau_then_resume_runs_only_the_rest(data_root, sal_config,
                                                      tmp_path, capsys):
    """``--stop-after tau`` scores and selects without retraining (what
    benchmarks/sal_selection_benchmark.py runs); the next run skips it all
    and goes on."""
    tool = load_tool()
    work = tmp_path / 'work'
    args = base_args(data_root, work, sal_config, '--score-key', 'SC')
    assert tool.main(args + ['--stop-after', 'tau']) == 0
    out = capsys.readouterr().out
    assert 'stopped after tau (--stop-after)' in out
    lines = stage_lines(out)
    assert set(lines) == {'check', 'coarse_scores', 'scoring_set', 'scorer',
                          'fine_scores', 'tau'}
    assert (work / 'tau' / 'tau.json').is_file()
    assert not (work / 'sal').exists()
    assert tool.main(args) == 0
    lines = stage_lines(capsys.readouterr().out)
    assert lines['tau'][0].startswith('skipped, up to date')
    assert lines['sal'][0].startswith('started')
    assert (work / 'report' / 'report.md').is_file()


def test_synthesis_options_reach_the_scorer_set_and_bad_ones_are_named(
        data_root, sal_config, tmp_path, capsys):
    tool = load_tool()
    work = tmp_path / 'work'
    assert tool.main(
        base_args(data_root, work, sal_config, '--stop-after', 'scoring_set',
                  '--synthesis-options', 'intermediate_ratio=2',
                  'ops=[erode,dilate]', 'all_proxies=True')) == 0
    summary = json.loads((work / 'scoring_set' / 'summary.json').read_text())
    assert summary['config']['ops'] == ['erode', 'dilate']
    assert summary['config']['intermediate_ratio'] == 2
    assert summary['config']['all_proxies'] is True
    # Every source proxy is a sample (its kind says which threshold it met).
    real = sum(summary['kinds'].get(k, 0)
               for k in ('positive', 'negative', 'proxy'))
    assert real == summary['num_sources']
    capsys.readouterr()
    for option, message in (('colour=red', "unknown ['colour']"),
                            ('intermediate_ratio=-1', 'must be >= 0'),
                            ('val_fraction=0.5', "unknown ['val_fraction']")):
        with pytest.raises(SystemExit) as exit_info:
            tool.main(base_args(data_root, tmp_path / 'bad', sal_config,
                                '--synthesis-options', option))
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'bad').exists()


CLS_SCORER = osp.join(ROOT, 'configs', 'mask_scoring',
                      'mask-scorer-tiny-cls_1xb16-20e_synthetic-48x48.py')


def test_a_class_aware_scorer_gets_a_class_aware_training_set(
        data_root, sal_config, tmp_path):
    tool = load_tool()
    work = tmp_path / 'work'
    assert tool.main(
        base_args(data_root, work, sal_config, '--stop-after', 'fine_scores',
                  '--scorer-config', CLS_SCORER, '--synthesis-options',
                  'relabel_ratio=1')) == 0
    summary = json.loads((work / 'scoring_set' / 'summary.json').read_text())
    assert summary['config']['class_aware'] is True
    assert summary['kinds']['relabel'] == summary['num_positive_sources']
    scorer_cfg = Config.fromfile(str(work / 'scorer' / 'scorer_config.py'))
    assert scorer_cfg.model.data_preprocessor.num_classes == 21
    assert scorer_cfg.train_dataloader.dataset.pipeline[1]['type'] == \
        'LoadLabelMask'
    scores = load_mask_score_file(
        str(work / 'fine_scores' / 'mask_scores.json')).scores
    assert sorted(scores) == sorted(ids_of(data_root, 'train'))
    assert all(0 <= row['P'] <= 1 for row in scores.values())


@pytest.mark.parametrize('extra, message', [
    (['--scorer-config', CLS_SCORER, '--scorer-cfg-options',
      'model.data_preprocessor.num_classes=5', 'model.in_channels=8'],
     'is a class-aware scorer for 5 classes (model.data_preprocessor.'
     'num_classes) but the proxy masks have 21'),
    (['--synthesis-options', 'relabel_ratio=1'],
     'relabel_ratio > 0 needs class_aware=True'),
    (['--scorer-config', CLS_SCORER, '--synthesis-options',
      'class_aware=False'],
     'leave class_aware out: the scorer config decides it'),
])
def test_a_scorer_and_synthesis_that_disagree_stop_in_the_check(
        data_root, sal_config, tmp_path, capsys, extra, message):
    tool = load_tool()
    work = tmp_path / 'work'
    assert tool.main(base_args(data_root, work, sal_config, *extra)) == 1
    error = capsys.readouterr().err
    assert error.startswith('sal_pipeline.py: error: ')
    assert message in error
    assert sorted(os.listdir(work)) == ['check', 'mmattn_pipeline.json']
