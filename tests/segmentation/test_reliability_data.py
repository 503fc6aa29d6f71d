# Copyright (c) mmattn contributors. All rights reserved.
"""Bad SAL training data is named before or while it is loaded
(docs/reliability.md): a score file of masks that were regenerated since,
a mask of the wrong size, a label beyond the class list, a colour PNG as a
mask; ``tools/check_dataset.py`` lists them all before training."""
import functools
import hashlib
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import mmattn  # noqa: F401  (registers the modules)
from mmattn.segmentation.datasets import (SegSampleError,
                                          check_weak_seg_folder,
                                          label_mask_problems)
from mmattn.segmentation.datasets import weak_voc
from mmattn.segmentation.score_file import (MaskScoreFileError,
                                            StaleMaskScoresError,
                                            dump_mask_scores,
                                            load_mask_score_file)
from mmattn.synthetic import make_seg_dataset, read_label_png, write_label_png
from mmseg.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = 'ImageSets/Segmentation/train.txt'
PROXY = 'SegmentationClassProxy'
GEN = dict(
    num_images=6,
    seed=3,
    img_size=(40, 40),
    val_fraction=1 / 3,
    num_classes=3,
    show_progress=False)
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=(32, 32)),
    dict(type='PackWeakSegInputs')
]


def _train_ids(root):
    with open(osp.join(root, TRAIN)) as f:
        return f.read().split()


@pytest.fixture
def root(tmp_path):
    init_default_scope('mmseg')
    out = str(tmp_path / 'data')
    make_seg_dataset(out, **GEN)
    return out


@pytest.fixture
def score_with_tool(load_tool):
    """Coarse scores, written by tools/score_masks.py as a user runs it."""
    return functools.partial(_score_with_tool, load_tool('score_masks'))


def _score_with_tool(score_masks, root, out='mask_scores.json', extra=()):
    path = osp.join(root, out)
    score_masks.main([
        '--proxy-dir', osp.join(root, PROXY), '--ref-dir',
        osp.join(root, 'SaliencyRef'), '--img-dir',
        osp.join(root, 'JPEGImages'), '--ann-file',
        osp.join(root, TRAIN), '--out', path, '--no-progress', *extra
    ])
    return path


def _dataset(root, **kwargs):
    cfg = dict(
        type='WeakVOCDataset',
        data_root=root,
        ann_file=TRAIN,
        required_scores=('SC', ),
        pipeline=PIPELINE)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


@pytest.fixture
def warnings_logged(monkeypatch):
    logged = []
    real = weak_voc.print_log

    def spy(msg, *args, **kwargs):
        logged.append(msg)
        return real(msg, *args, **kwargs)

    monkeypatch.setattr(weak_voc, 'print_log', spy)
    return logged


# ------------------------------------------------------ stale score file --


def test_score_tool_records_what_it_scored(root, capsys, score_with_tool):
    path = score_with_tool(root)
    capsys.readouterr()
    loaded = load_mask_score_file(path)
    ids = _train_ids(root)
    assert sorted(loaded.fingerprints) == sorted(ids)
    assert loaded.proxy_dir == osp.join(root, PROXY)
    # The settings it scored with are recorded beside the fingerprints.
    assert loaded.meta['tool'] == 'tools/score_masks.py'
    assert loaded.meta['b'] == 0.1
    with open(osp.join(root, PROXY, f'{ids[0]}.png'), 'rb') as f:
        assert loaded.fingerprints[ids[0]] == hashlib.sha1(
            f.read()).hexdigest()



def test_regenerated_folder_makes_the_score_file_stale(
        root, capsys, warnings_logged, score_with_tool):
    path = score_with_tool(root)
    capsys.readouterr()
    assert len(_dataset(root, score_file=path)) == 4

    # Same arguments: byte-identical masks, the scores still hold.
    make_seg_dataset(root, overwrite=True, **GEN)
    assert len(_dataset(root, score_file=path)) == 4
    assert not warnings_logged

    # The case: new seed and size; the score file stays behind.
    make_seg_dataset(
        root, overwrite=True, **dict(GEN, seed=7, img_size=(48, 48)))
    with pytest.raises(StaleMaskScoresError) as err:
        _dataset(root, score_file=path)
    message = str(err.value)
    assert message.startswith(f'{path}: stale mask scores: 4 of 4 proxy')
    assert osp.join(root, PROXY, 'syn_000000.png') in message
    assert 'tools/score_masks.py' in message
    assert "on_stale_scores='warn'" in message

    # As configured: a warning, then the old scores are used.
    dataset = _dataset(root, score_file=path, on_stale_scores='warn')
    assert len(dataset) == 4
    assert [m for m in warnings_logged if 'stale mask scores' in m]

    # Re-scoring fixes it.
    score_with_tool(root, extra=['--overwrite'])
    capsys.readouterr()
    assert len(_dataset(root, score_file=path)) == 4




def test_one_edited_mask_is_named(root, capsys, score_with_tool):
    path = score_with_tool(root)
    capsys.readouterr()
    edited = osp.join(root, PROXY, 'syn_000002.png')
    mask = read_label_png(edited)
    mask[:5] = (mask[:5] + 1) % 4  # a hand edit: other classes on top
    write_label_png(edited, mask)
    with pytest.raises(StaleMaskScoresError, match=r'1 of 4 proxy masks.*'
                       r'syn_000002\.png'):
        _dataset(root, score_file=path)



def test_old_score_file_without_fingerprints_loads_with_one_warning(
        root, warnings_logged):
    ids = _train_ids(root)
    path = osp.join(root, 'old_scores.json')
    # What an older mmattn (or any writer without proxy_dir) wrote.
    dump_mask_scores({i: dict(AC=0.9, CD=0.9, SC=0.8) for i in ids}, path)
    with open(path) as f:
        assert 'proxies' not in json.load(f)
    assert load_mask_score_file(path).fingerprints is None
    make_seg_dataset(root, overwrite=True, **dict(GEN, seed=9))
    dataset = _dataset(root, score_file=path)
    assert len(dataset) == 4
    assert dataset.get_data_info(0)['mask_scores']['SC'] == 0.8
    matching = [m for m in warnings_logged if 'records no fingerprints' in m]
    assert len(matching) == 1 and '\n' not in matching[0]
    assert path in matching[0]


@pytest.mark.parametrize('proxies, match', [
    (dict(hash='md5', fingerprints={}), '"hash": "sha1"'),
    (dict(hash='sha1', fingerprints={'syn_000000': 'xyz'}), 'sha1 hex'),
    (dict(hash='sha1', fingerprints={}), 'do not cover'),
])
def test_corrupt_fingerprint_section_names_the_file(root, capsys, proxies,
                                                    match, score_with_tool):
    path = score_with_tool(root)
    capsys.readouterr()
    with open(path) as f:
        payload = json.load(f)
    payload['proxies'] = proxies
    with open(path, 'w') as f:
        json.dump(payload, f)
    with pytest.raises(MaskScoreFileError, match=match) as err:
        _dataset(root, score_file=path)
    assert str(err.value).startswith(path)



def test_bad_stale_policy_is_named(root):
    with pytest.raises(ValueError, match="on_stale_scores must be 'error' "
                       "or 'warn', got 'ignore'"):
        _dataset(root, score_file=None, on_stale_scores='ignore')


# ------------------------------------------------------- bad samples --


def _break_masks(root):
    """Three train masks broken as in the issue; returns their paths."""
    proxy = osp.join(root, PROXY)
    wrong_size = osp.join(proxy, 'syn_000000.png')
    write_label_png(wrong_size,
                    np.array(Image.fromarray(read_label_png(wrong_size))
                             .resize((30, 36), Image.NEAREST)))
    label_50 = osp.join(proxy, 'syn_000001.png')
    mask = read_label_png(label_50)
    mask[3:6, 3:6] = 50
    mask[10:12, 10:12] = 255  # the ignore index is allowed
    write_label_png(label_50, mask)
    rgb = osp.join(proxy, 'syn_000002.png')
    with Image.open(rgb) as im:
        im.convert('RGB').save(rgb)
    return wrong_size, label_50, rgb


def test_each_bad_mask_is_named_when_loaded(root):
    wrong_size, label_50, rgb = _break_masks(root)
    dataset = _dataset(root, score_file=None)
    with pytest.raises(SegSampleError) as err:
        dataset[0]
    assert str(err.value) == (
        f'{wrong_size}: label mask is 36x30 (HxW) but its image is 40x40; '
        'a mask must have the size of its image (image '
        f'{osp.join(root, "JPEGImages", "syn_000000.jpg")})')
    with pytest.raises(SegSampleError) as err:
        dataset[1]
    assert str(err.value).startswith(
        f'{label_50}: label mask holds label(s) 50 in 9 pixel(s): with 21 '
        'classes a label must lie in 0..20, or be 255 (ignored)')
    with pytest.raises(SegSampleError) as err:
        dataset[2]
    assert str(err.value).startswith(f'{rgb}: label mask has 3 channels')
    assert 'not a label mask' in str(err.value)
    # The good image passes, 255 pixels and all.
    sample = dataset[3]
    assert tuple(sample['data_samples'].gt_sem_seg.data.shape) == (1, 32, 32)


def test_sample_check_can_be_switched_off(root):
    _break_masks(root)
    dataset = _dataset(root, score_file=None, check_samples=False)
    dataset[1]  # label 50 goes through unchecked, as before
    with pytest.raises(TypeError, match='check_samples must be a bool'):
        _dataset(root, score_file=None, check_samples='yes')


def test_own_class_list_bounds_the_labels(root):
    """WeakSegDataset with 4 classes: label 4 is beyond them."""
    path = osp.join(root, PROXY, 'syn_000003.png')
    mask = read_label_png(path)
    mask[0, 0] = 4
    write_label_png(path, mask)
    dataset = _dataset(
        root,
        type='WeakSegDataset',
        metainfo=dict(classes=('background', 'a', 'b', 'c')),
        tags_from_masks=True,
        tag_file=None,
        score_file=None)
    with pytest.raises(SegSampleError,
                       match=r'label\(s\) 4 in 1 pixel\(s\): with 4 classes '
                       r'a label must lie in 0\.\.3'):
        dataset[3]


def test_label_mask_problems_hand_worked():
    ok = np.array([[0, 1], [20, 255]], np.uint8)
    assert label_mask_problems(ok, (2, 2, 3), 21) == []
    assert label_mask_problems(ok, (2, 3), 21) == [
        'is 2x2 (HxW) but its image is 2x3; a mask must have the size of '
        'its image'
    ]
    assert label_mask_problems(ok, None, 20) == [
        'holds label(s) 20 in 1 pixel(s): with 20 classes a label must lie '
        'in 0..19, or be 255 (ignored)'
    ]
    negative = np.array([[-1, 0]], np.int64)
    assert 'holds label(s) -1' in label_mask_problems(negative, None, 21)[0]
    many = np.arange(30, 42, dtype=np.uint8).reshape(3, 4)
    assert '30, 31, 32, 33, 34, 35, 36, 37, 38, 39 and 2 more' in \
        label_mask_problems(many, None, 21)[0]


# ------------------------------------------------- tools/check_dataset.py --


def test_check_dataset_tool_lists_every_problem(root, run_tool, capsys,
                                                score_with_tool, load_tool):
    path = score_with_tool(root)
    capsys.readouterr()
    check = load_tool('check_dataset')
    assert check.main([root, '--score-file', path,
                       '--required-scores', 'SC']) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        f'OK: {root}: 4 image(s) checked, 0 problem(s)')

    wrong_size, label_50, rgb = _break_masks(root)
    tags = np.load(osp.join(root, 'cls_labels.npy'), allow_pickle=True).item()
    del tags['syn_000003']
    np.save(osp.join(root, 'cls_labels.npy'), tags)
    result = run_tool([
        'tools/check_dataset.py', root, '--score-file', 'mask_scores.json'
    ], check=False, timeout=300)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    for line in (
            f'ERROR {wrong_size}: label mask is 36x30 (HxW) but its image '
            'is 40x40',
            f'ERROR {label_50}: label mask holds label(s) 50 in 9 pixel(s)',
            f'ERROR {rgb}: label mask has 3 channels',
            f"ERROR {osp.join(root, 'cls_labels.npy')}: image "
            "'syn_000003' has no tags",
            # the three broken masks are no longer the ones scored
            f'ERROR {path}: stale scores: 3 of 4 masks differ',
            # the coarse file has no SF, the dataset's default requirement
            f"ERROR {path}: 4 image(s) have no 'SF' score"):
        assert line in out, out
    assert out.strip().splitlines()[-1].startswith(f'FAILED: {root}: 4 image')




def test_check_dataset_on_missing_files(tmp_path, root):
    other = str(tmp_path / 'copy')
    shutil.copytree(root, other)
    os.remove(osp.join(other, 'JPEGImages', 'syn_000001.jpg'))
    os.remove(osp.join(other, PROXY, 'syn_000002.png'))
    report = check_weak_seg_folder(other)
    assert report.num_images == 4 and not report.ok
    assert report.problems == [
        'image not found: ' + osp.join(other, 'JPEGImages', 'syn_000001.jpg'),
        osp.join(other, PROXY, 'syn_000002.png') +
        ": label mask not found (image 'syn_000002')"
    ]
    report = check_weak_seg_folder(str(tmp_path / 'nowhere'))
    assert report.problems == [f'{tmp_path / "nowhere"}: folder not found']
