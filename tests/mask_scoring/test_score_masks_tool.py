# Copyright (c) mmattn contributors. All rights reserved.
"""tools/score_masks.py: writes a score file WeakVOCDataset can read."""
import importlib.util
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import save_checkpoint
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmattn  # noqa: F401
from mmattn.segmentation.mask_scoring import (binary_foreground,
                                              coarse_scores, read_image,
                                              read_label_map, read_reference,
                                              read_tags)
from mmattn.segmentation.score_file import (MaskScoreFileError,
                                            load_mask_scores)
from mmattn.synthetic import make_seg_dataset


@pytest.fixture(autouse=True)
def _mmseg_scope():
    # Other test files build detectors in this process, which leaves
    # mmdet the default scope; these tests build from mmseg's registry.
    init_default_scope('mmseg')


ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'configs', 'mask_scoring',
                    'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py')


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'score_masks_tool', osp.join(ROOT, 'tools', 'score_masks.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('seg'))
    make_seg_dataset(root, num_images=10, seed=1, img_size=(48, 48),
                     val_fraction=0.3, show_progress=False)
    return root


def base_args(root, out, *extra):
    return [
        '--proxy-dir', osp.join(root, 'SegmentationClassProxy'),
        '--ref-dir', osp.join(root, 'SaliencyRef'),
        '--img-dir', osp.join(root, 'JPEGImages'),
        '--ann-file', osp.join(root, 'ImageSets/Segmentation/train.txt'),
        '--out', out, '--no-progress', *extra
    ]


def train_ids(root):
    return open(osp.join(root,
                         'ImageSets/Segmentation/train.txt')).read().split()


def test_coarse_scoring_writes_a_readable_file(seg_root, tmp_path):
    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    summary = tool.main(base_args(seg_root, out, '--gt-dir',
                                  osp.join(seg_root, 'SegmentationClass'),
                                  '--tau', '0.5'))
    scores = load_mask_scores(out)
    ids = train_ids(seg_root)
    assert sorted(scores) == sorted(ids)
    # The file holds exactly what the library computes for an image.
    i = ids[0]
    proxy = read_label_map(
        osp.join(seg_root, 'SegmentationClassProxy', i + '.png'))
    expected = coarse_scores(
        proxy, read_reference(osp.join(seg_root, 'SaliencyRef', i + '.png')),
        read_tags(osp.join(seg_root, 'cls_labels.npy'))[i],
        read_image(osp.join(seg_root, 'JPEGImages', i + '.jpg')))
    for k in ('AC', 'CD', 'SC'):
        assert scores[i][k] == pytest.approx(float(expected[k]), abs=1e-9)
    assert scores[i]['P'] is None and scores[i]['SF'] is None
    # Summary: pass count, correlation with the true quality, plots.
    assert summary['pass_SC'] == sum(s['SC'] >= 0.5 for s in scores.values())
    assert summary['pass_SF'] is None
    assert -1 <= summary['correlation']['SC']['pearson'] <= 1
    assert osp.isfile(summary['hist']) and osp.isfile(summary['scatter'])
    assert osp.isfile(str(tmp_path / 'scores_summary.json'))


def test_refuses_to_overwrite(seg_root, tmp_path):
    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    tool.main(base_args(seg_root, out))
    before = open(out).read()
    with pytest.raises(FileExistsError, match='scores.json'):
        tool.main(base_args(seg_root, out, '--b', '0'))
    assert open(out).read() == before
    tool.main(base_args(seg_root, out, '--b', '0', '--overwrite'))
    assert open(out).read() != before  # b = 0: AC is the F-measure alone


def test_with_a_trained_scorer_writes_p_and_sf(seg_root, tmp_path):
    tool = load_tool()
    cfg = Config.fromfile(TINY_CFG)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'scorer.pth')
    save_checkpoint(model.state_dict(), ckpt)
    out = str(tmp_path / 'fine.json')
    summary = tool.main(
        base_args(seg_root, out, '--config', TINY_CFG, '--checkpoint', ckpt,
                  '--gt-dir', osp.join(seg_root, 'SegmentationClass'),
                  '--batch-size', '3'))
    scores = load_mask_scores(out)
    for row in scores.values():
        assert 0 <= row['P'] <= 1
        assert row['SF'] == pytest.approx(row['P'] * row['CD'])  # Eq. 7
    assert summary['pass_SF'] is not None
    assert 'SF' in summary['correlation']


def test_loads_into_weak_voc_dataset(seg_root, tmp_path):
    datasets = pytest.importorskip('mmattn.segmentation.datasets')
    weak_voc = getattr(datasets, 'WeakVOCDataset', None)
    if weak_voc is None:
        pytest.skip('WeakVOCDataset not available yet')
    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    tool.main(base_args(seg_root, out))
    ds = weak_voc(
        data_root=seg_root, ann_file='ImageSets/Segmentation/train.txt',
        score_file=out, required_scores=('SC', ), pipeline=[])
    scores = load_mask_scores(out)
    assert len(ds) == len(scores)
    info = ds.get_data_info(0)
    img_id = osp.splitext(osp.basename(info['img_path']))[0]
    assert info['mask_scores']['SC'] == pytest.approx(scores[img_id]['SC'])


def test_bad_inputs_name_the_file(seg_root, tmp_path):
    tool = load_tool()
    root = str(tmp_path / 'bad')
    shutil.copytree(seg_root, root)
    i = train_ids(root)[0]
    proxy = osp.join(root, 'SegmentationClassProxy', i + '.png')
    ref = osp.join(root, 'SaliencyRef', i + '.png')
    original = read_label_map(proxy)

    mmcv.imwrite(np.zeros((40, 48), np.uint8), proxy)  # size != image
    with pytest.raises(ValueError, match=f'{i}.png: size'):
        tool.main(base_args(root, str(tmp_path / 'a.json')))
    mmcv.imwrite(np.full((48, 48), 77, np.uint8), proxy)  # not a class
    with pytest.raises(ValueError, match=f'{i}.png.*outside the class set'):
        tool.main(base_args(root, str(tmp_path / 'b.json')))
    mmcv.imwrite(original.astype(np.uint8), proxy)
    shutil.move(ref, ref + '.bak')  # missing reference
    with pytest.raises(FileNotFoundError, match=f'reference mask.*{i}'):
        tool.main(base_args(root, str(tmp_path / 'c.json')))
    shutil.move(ref + '.bak', ref)
    # No file was left behind by the failed runs.
    assert not osp.exists(str(tmp_path / 'a.json'))

    out = str(tmp_path / 'ok.json')
    tool.main(base_args(root, out))
    text = open(out).read()
    with open(out, 'w') as f:  # a partial (truncated) file
        f.write(text[:len(text) // 2])
    with pytest.raises(MaskScoreFileError, match='ok.json'):
        load_mask_scores(out)
    assert binary_foreground(original).any()  # the fixture had objects


def test_two_true_qualities(seg_root, tmp_path):
    """The summary reports SC/SF against the paper's class-agnostic truth
    and the class-aware one; a proxy with every class swapped keeps its
    class-agnostic truth but has class-aware truth 0."""
    from mmattn.segmentation.mask_scoring import (class_aware_accuracy_score,
                                                  score_proxy_masks)
    root = str(tmp_path / 'swapped')
    shutil.copytree(seg_root, root)
    ids = train_ids(root)
    gt_dir = osp.join(root, 'SegmentationClass')
    i = ids[0]
    gt = read_label_map(osp.join(gt_dir, i + '.png'))
    assert binary_foreground(gt).any()
    # The ground truth itself as the proxy, with classes 1..4 rotated.
    swapped = np.where(binary_foreground(gt), gt % 4 + 1, 0).astype(np.uint8)
    from mmattn.synthetic.seg import write_label_png
    write_label_png(osp.join(root, 'SegmentationClassProxy', i + '.png'),
                    swapped)
    dirs = dict(proxy_dir=osp.join(root, 'SegmentationClassProxy'),
                ref_dir=osp.join(root, 'SaliencyRef'),
                img_dir=osp.join(root, 'JPEGImages'), gt_dir=gt_dir)
    tags = read_tags(osp.join(root, 'cls_labels.npy'))
    results = score_proxy_masks(ids, tags=tags, show_progress=False, **dirs)
    assert results[i]['AC_gt'] > 0.9  # the binary mask is the GT's
    assert results[i]['AC_gt_cls'] == 0.0
    for j in ids:
        proxy = read_label_map(
            osp.join(root, 'SegmentationClassProxy', j + '.png'))
        expected = class_aware_accuracy_score(
            proxy, read_label_map(osp.join(gt_dir, j + '.png')),
            read_image(osp.join(root, 'JPEGImages', j + '.jpg')))
        assert results[j]['AC_gt_cls'] == pytest.approx(float(expected))
        assert results[j]['AC_gt_cls'] <= results[j]['AC_gt'] + 1e-12

    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    summary = tool.main([
        '--proxy-dir', dirs['proxy_dir'], '--ref-dir', dirs['ref_dir'],
        '--img-dir', dirs['img_dir'], '--gt-dir', gt_dir, '--ann-file',
        osp.join(root, 'ImageSets/Segmentation/train.txt'), '--out', out,
        '--no-progress'
    ])
    for key, truth in (('correlation', 'AC_gt'),
                       ('correlation_class_aware', 'AC_gt_cls')):
        sc = np.array([results[j]['SC'] for j in ids])
        t = np.array([results[j][truth] for j in ids])
        assert summary[key]['SC']['pearson'] == pytest.approx(
            float(np.corrcoef(sc, t)[0, 1]), abs=1e-9)
    # The two truths differ here (image i), so do the correlations.
    assert summary['correlation']['SC']['pearson'] != pytest.approx(
        summary['correlation_class_aware']['SC']['pearson'])
    # Eq. 7's ceiling: SF with P = AC_gt against the paper's truth.
    cd = np.array([results[j]['CD'] for j in ids])
    ac_gt = np.array([results[j]['AC_gt'] for j in ids])
    assert summary['oracle_SF']['AC_gt'] == pytest.approx(
        float(np.corrcoef(ac_gt * cd, ac_gt)[0, 1]), abs=1e-9)


FULL_CFG = osp.join(ROOT, 'configs', 'mask_scoring',
                    'mask-scorer_1xb8-50e_voc12aug-432x432.py')


@pytest.fixture(scope='module')
def tiny_scorer_checkpoint(tmp_path_factory):
    model = MODELS.build(Config.fromfile(TINY_CFG).model)
    ckpt = str(tmp_path_factory.mktemp('scorer') / 'tiny_scorer.pth')
    save_checkpoint({'state_dict': model.state_dict()}, ckpt)
    return ckpt


def test_refuses_a_checkpoint_of_another_scorer_config(
        seg_root, tmp_path, tiny_scorer_checkpoint, run_tool):
    """The tiny scorer's checkpoint with the full scorer config used to load
    nothing (33 size mismatches printed), exit 0 and write SF ~0.5 for every
    image. Now: one paragraph naming both files and the keys, exit 1, no
    score file."""
    from mmattn.utils import CheckpointMismatchError
    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    args = base_args(seg_root, out, '--config', FULL_CFG, '--checkpoint',
                     tiny_scorer_checkpoint)
    with pytest.raises(CheckpointMismatchError) as info:
        tool.main(args)
    message = str(info.value)
    assert message.startswith(
        f'checkpoint {tiny_scorer_checkpoint} does not load strictly into '
        f'the model of {FULL_CFG}: ')
    assert ' shape mismatches (' in message and 'more)' in message
    assert message.endswith('Score with the scorer config the checkpoint '
                            'was trained with.')
    assert not osp.exists(out)

    # as a user runs it: one error paragraph, exit 1, no traceback
    result = run_tool(['tools/score_masks.py'] + args, check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f'error: {message}'
    assert not osp.exists(out)


@pytest.mark.parametrize('existing', ['scores_summary.json', 'scores_hist.png',
                                      'scores_scatter.png'])
def test_refuses_to_overwrite_summary_and_plots(seg_root, tmp_path,
                                                existing):
    """The summary and plots next to the score file are the user's files
    too: an existing one stops the run before any scoring."""
    tool = load_tool()
    out = str(tmp_path / 'scores.json')
    kept = tmp_path / existing
    kept.write_text('keep me')
    args = base_args(seg_root, out, '--gt-dir',
                     osp.join(seg_root, 'SegmentationClass'))
    with pytest.raises(FileExistsError, match=f'{existing}.*--overwrite'):
        tool.main(args)
    assert kept.read_text() == 'keep me'
    assert not osp.exists(out)  # refused before the score file was written

    tool.main(args + ['--overwrite'])
    assert kept.read_bytes() != b'keep me'
    assert osp.isfile(out)


def test_plot_dir_outputs_are_checked_there(seg_root, tmp_path):
    tool = load_tool()
    plots = tmp_path / 'plots'
    plots.mkdir()
    (plots / 'scores_hist.png').write_text('keep me')
    out = str(tmp_path / 'scores.json')
    with pytest.raises(FileExistsError, match='plots/scores_hist.png'):
        tool.main(base_args(seg_root, out, '--plot-dir', str(plots)))
    # without --plot-dir the plots go next to --out, where none exists
    tool.main(base_args(seg_root, out))
    assert (plots / 'scores_hist.png').read_text() == 'keep me'
