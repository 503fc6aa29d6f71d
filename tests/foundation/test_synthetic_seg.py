# Copyright (c) mmattn contributors. All rights reserved.
"""The generated VOC-style segmentation dataset: deterministic by seed,
loaded unchanged by mmseg's PascalVOCDataset, tags that match the ground
truth, proxy masks whose recorded noise and quality are true, saliency
references with the recorded imperfections."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from mmattn.synthetic import (DEFAULT_PROXY_NOISE_MIXTURE, MANIFEST_NAME,
                              PROXY_NOISE_TYPES, SALIENCY_THRESHOLD,
                              draw_seg_image, fmeasure, make_proxy_mask,
                              make_saliency_reference, make_seg_dataset,
                              mask_quality, read_label_png, read_manifest,
                              voc_palette)
from mmattn.synthetic.noise import (allocate_severities, dilate_foreground,
                                    erode_foreground)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_images=8, img_size=(64, 64), show_progress=False)


def _ids(root, split):
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       f'{split}.txt')) as f:
        return f.read().split()


def _all_ids(root):
    return _ids(root, 'train') + _ids(root, 'val')


def _json(root, name):
    with open(osp.join(root, name)) as f:
        return json.load(f)


def _png(root, folder, img_id):
    return read_label_png(osp.join(root, folder, f'{img_id}.png'))


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def test_same_seed_same_files_other_seed_differs(tmp_path):
    make_seg_dataset(str(tmp_path / 'a'), seed=5, **SMALL)
    make_seg_dataset(str(tmp_path / 'b'), seed=5, **SMALL)
    make_seg_dataset(str(tmp_path / 'c'), seed=6, **SMALL)
    a, b, c = (_files(tmp_path / k) for k in 'abc')
    assert sorted(a) == sorted(b) == sorted(c)
    for name in a:
        if name.endswith('.jpg'):
            np.testing.assert_array_equal(
                cv2.imread(str(tmp_path / 'a' / name)),
                cv2.imread(str(tmp_path / 'b' / name)))
        else:  # annotations: byte-identical
            assert a[name] == b[name], name
    for name in ('proxy_quality.json', 'saliency_ref.json',
                 'SegmentationClass/syn_000000.png',
                 'SegmentationClassProxy/syn_000001.png'):
        assert a[name] != c[name], name


def test_layout_and_meta(synthetic_seg_root):
    root = synthetic_seg_root
    train, val = _ids(root, 'train'), _ids(root, 'val')
    assert len(train) == 10 and len(val) == 2 and not set(train) & set(val)
    for img_id in train + val:
        img = cv2.imread(osp.join(root, 'JPEGImages', f'{img_id}.jpg'))
        assert img.shape == (96, 96, 3)
        for folder in ('SegmentationClass', 'SegmentationClassProxy',
                       'SaliencyRef'):
            assert osp.isfile(osp.join(root, folder, f'{img_id}.png'))
    meta = _json(root, 'meta.json')
    assert meta['seed'] == 0 and meta['img_size'] == [96, 96]
    assert meta['classes'] == [1, 2, 3, 4]
    assert meta['class_names'] == ['aeroplane', 'bicycle', 'bird', 'boat']


def test_mmseg_voc_dataset_loads_ground_truth_and_proxies(synthetic_seg_root):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    root = synthetic_seg_root
    for folder in ('SegmentationClass', 'SegmentationClassProxy'):
        with DefaultScope.overwrite_default_scope('mmseg'):
            dataset = DATASETS.build(
                dict(
                    type='PascalVOCDataset',
                    data_root=root,
                    data_prefix=dict(
                        img_path='JPEGImages', seg_map_path=folder),
                    ann_file='ImageSets/Segmentation/train.txt',
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations'),
                        dict(type='PackSegInputs')
                    ]))
            assert len(dataset) == len(_ids(root, 'train'))
            assert len(dataset.metainfo['classes']) == 21
            # The PNGs carry the VOC colours mmseg uses for visualisation.
            np.testing.assert_array_equal(voc_palette()[:21],
                                          dataset.metainfo['palette'])
            with Image.open(osp.join(root, folder, 'syn_000000.png')) as png:
                assert png.mode == 'P'
                np.testing.assert_array_equal(
                    np.reshape(png.getpalette()[:63], (21, 3)),
                    dataset.metainfo['palette'])
            for index in range(len(dataset)):
                sample = dataset[index]
                assert tuple(sample['inputs'].shape) == (3, 96, 96)
                data_sample = sample['data_samples']
                seg = data_sample.gt_sem_seg.data.numpy()[0]
                assert set(np.unique(seg)) <= set(range(21)) | {255}
                img_id = osp.splitext(osp.basename(data_sample.img_path))[0]
                np.testing.assert_array_equal(seg, _png(root, folder, img_id))


def test_ground_truth_has_foreground_and_void_band(synthetic_seg_root):
    for img_id in _all_ids(synthetic_seg_root):
        gt = _png(synthetic_seg_root, 'SegmentationClass', img_id)
        values = set(np.unique(gt).tolist())
        assert values <= {0, 1, 2, 3, 4, 255}
        assert values & {1, 2, 3, 4}, 'every image has an object'
        assert 255 in values  # VOC-like void outline


def test_tags_equal_classes_in_ground_truth(synthetic_seg_root):
    tags = np.load(
        osp.join(synthetic_seg_root, 'cls_labels.npy'),
        allow_pickle=True).item()
    assert sorted(tags) == sorted(_all_ids(synthetic_seg_root))
    for img_id, vector in tags.items():
        assert vector.dtype == np.float32 and vector.shape == (20, )
        gt = _png(synthetic_seg_root, 'SegmentationClass', img_id)
        present = {int(v) for v in np.unique(gt) if 0 < v < 255}
        assert {k + 1 for k in np.flatnonzero(vector)} == present
        assert set(np.unique(vector)) <= {0.0, 1.0}


def _quality_by_hand(gt, proxy, beta2=0.3):
    valid = gt != 255
    ious = []
    for cls in set(gt[valid].tolist()) | set(proxy[valid].tolist()):
        g, p = (gt == cls) & valid, (proxy == cls) & valid
        ious.append((g & p).sum() / (g | p).sum())
    g_fg, p_fg = (gt > 0) & valid, (proxy > 0) & valid
    inter = (g_fg & p_fg).sum()
    fg_iou = inter / (g_fg | p_fg).sum()
    if inter == 0:
        f = 0.0
    else:
        prec, rec = inter / p_fg.sum(), inter / g_fg.sum()
        f = (1 + beta2) * prec * rec / (beta2 * prec + rec)
    return dict(miou=np.mean(ious), fg_iou=fg_iou, fg_fmeasure=f)


def test_recorded_proxy_quality_matches_the_pngs(synthetic_seg_root):
    quality = _json(synthetic_seg_root, 'proxy_quality.json')
    assert sorted(quality) == sorted(_all_ids(synthetic_seg_root))
    for img_id, record in quality.items():
        gt = _png(synthetic_seg_root, 'SegmentationClass', img_id)
        proxy = _png(synthetic_seg_root, 'SegmentationClassProxy', img_id)
        assert 255 not in proxy
        for key, value in _quality_by_hand(gt, proxy).items():
            assert record[key] == pytest.approx(value, abs=1e-6), key
        for op in record['noise']:
            assert op['type'] in PROXY_NOISE_TYPES
        if record['severity'] == 'clean':
            assert record['noise'] == []
            valid = gt != 255
            np.testing.assert_array_equal(proxy[valid], gt[valid])


def test_noise_mixture_gives_clean_and_bad_proxies(synthetic_seg_root):
    quality = _json(synthetic_seg_root, 'proxy_quality.json')
    train = [quality[i] for i in _ids(synthetic_seg_root, 'train')]
    tiers = [r['severity'] for r in train]
    # 10 train images, weights .3/.3/.25/.15: largest remainder gives
    # 3/3/2.5/1.5 -> 3/3/3/1 (the tie at .5 goes to the milder tier).
    assert {
        t: tiers.count(t)
        for t in DEFAULT_PROXY_NOISE_MIXTURE
    } == dict(
        clean=3, mild=3, moderate=3, severe=1)
    clean = [r for r in train if r['severity'] == 'clean']
    assert all(r['miou'] == 1.0 and r['fg_iou'] == 1.0 for r in clean)
    severe = [r for r in train if r['severity'] == 'severe']
    assert all(r['miou'] < 0.8 for r in severe)
    assert any(op['type'] in ('missed_object', 'wrong_class')
               for op in severe[0]['noise'])
    mild = [r for r in train if r['severity'] == 'mild']
    assert all(
        len(r['noise']) == 1 and r['noise'][0]['type'] in ('erode', 'dilate')
        for r in mild)
    assert all(0.6 < r['miou'] < 1.0 for r in mild)


def test_allocate_severities_is_exact():
    mixture = DEFAULT_PROXY_NOISE_MIXTURE
    rng = np.random.default_rng(0)
    tiers = allocate_severities(rng, 20, mixture)
    assert [tiers.count(t) for t in mixture] == [6, 6, 5, 3]
    tiers = allocate_severities(rng, 4, mixture)
    # quotas 1.2/1.2/1.0/0.6: the remaining one goes to severe (.6)
    assert [tiers.count(t) for t in mixture] == [1, 1, 1, 1]


def test_fmeasure_and_quality_hand_worked():
    # precision 1/2, recall 1: 1.3 * .5 / (.3 * .5 + 1) = .65 / 1.15
    assert fmeasure(np.array([1, 1, 0, 0]),
                    np.array([1, 0, 0, 0])) == pytest.approx(0.65 / 1.15)
    assert fmeasure(np.zeros(4), np.zeros(4)) == 1.0
    assert fmeasure(np.zeros(4), np.ones(4)) == 0.0
    gt = np.array([[0, 1, 1, 255], [0, 2, 2, 0]], np.uint8)
    pred = np.array([[0, 1, 2, 2], [1, 2, 2, 0]], np.uint8)
    q = mask_quality(gt, pred)
    # IoU: background 2/3, class 1 1/3, class 2 2/3 (the void pixel is out)
    assert q['miou'] == pytest.approx(5 / 9)
    # fg: 4 gt pixels inside 5 predicted ones
    assert q['fg_iou'] == pytest.approx(0.8)
    assert q['fg_fmeasure'] == pytest.approx(1.3 * 0.8 / (0.3 * 0.8 + 1))
    assert q['pixel_acc'] == pytest.approx(5 / 7)


def test_boundary_noise_hand_worked():
    square = np.zeros((7, 7), np.uint8)
    square[1:6, 1:6] = 1
    eroded = erode_foreground(square, 1)
    expected = np.zeros_like(square)
    expected[2:5, 2:5] = 1
    np.testing.assert_array_equal(eroded, expected)
    np.testing.assert_array_equal(
        dilate_foreground(expected, 1),
        square - np.isin(np.arange(49).reshape(7, 7), [8, 12, 36, 40]))
    # A boundary between two classes does not move.
    halves = np.zeros((5, 8), np.uint8)
    halves[:, :4], halves[:, 4:] = 1, 2
    np.testing.assert_array_equal(erode_foreground(halves, 1), halves)
    # Two classes competing for a background pixel: the smaller index wins.
    row = np.array([[2, 0, 1]], np.uint8)
    np.testing.assert_array_equal(dilate_foreground(row, 1), [[2, 1, 1]])


def _scene(index, size=96):
    return draw_seg_image(
        np.random.default_rng([11, index]), size, size, [1, 2, 3, 4])


def test_proxy_records_describe_the_corruption():
    seen = set()
    for index in range(12):
        _, clean, _, objects = _scene(index)
        tags = {int(c) for c in np.unique(clean) if c}
        for severity in ('mild', 'moderate', 'severe'):
            proxy, record = make_proxy_mask(
                np.random.default_rng([index, len(severity)]), clean, objects,
                [1, 2, 3, 4], severity)
            assert record and not np.array_equal(proxy, clean)
            for op in record:
                seen.add(op['type'])
                if op['type'] == 'wrong_class':
                    assert op['to_class'] != op['from_class']
                    assert op['to_class_in_tags'] == (op['to_class'] in tags)
                    assert 0 < op['fraction'] <= 1
                elif op['type'] == 'spurious_blob':
                    assert op['class_in_tags'] == (op['class'] in tags)
                elif op['type'] == 'missed_object':
                    assert op['class'] == objects[op['object']]['label']
            if severity == 'mild':
                op, = record
                noisy = (erode_foreground if op['type'] == 'erode' else
                         dilate_foreground)(clean, op['radius'])
                np.testing.assert_array_equal(proxy, noisy)
        proxy, record = make_proxy_mask(
            np.random.default_rng(0), clean, objects, [1, 2, 3, 4], 'clean')
        assert record == [] and np.array_equal(proxy, clean)
    assert seen == set(PROXY_NOISE_TYPES)


def test_saliency_reference_has_the_recorded_imperfections():
    blobs = missing = plain = deep_pixels = 0
    for index in range(40):
        _, clean, _, objects = _scene(index)
        sal, record = make_saliency_reference(
            np.random.default_rng([index]), clean, objects)
        assert sal.dtype == np.uint8 and sal.shape == clean.shape
        for blob in record['false_blobs']:
            x, y = blob['center']
            assert clean[y, x] == 0
            assert sal[y, x] >= 0.3 * 255  # a salient spot on background
            blobs += 1
        for j in record['missing_objects']:
            core = cv2.erode(objects[j]['mask'].astype(np.uint8),
                             np.ones((9, 9), np.uint8)).astype(bool)
            assert (sal[core] < SALIENCY_THRESHOLD).all()
            missing += 1
        if not (record['false_blobs'] or record['missing_objects']
                or record['missing_parts']):
            # Only the boundary shift and the blur: deep inside the
            # (shifted) foreground the map is salient, far outside it is
            # not.
            plain += 1
            fg = (clean > 0).astype(np.uint8)
            shift = record['boundary_shift']
            reach = 3 * record['blur_sigma'] + 1
            inside = cv2.distanceTransform(fg, cv2.DIST_L2, 5)
            outside = cv2.distanceTransform(1 - fg, cv2.DIST_L2, 5)
            deep = inside > max(0, -shift) + reach
            far = outside > max(0, shift) + reach
            assert (sal[deep] >= SALIENCY_THRESHOLD).all()
            assert (sal[far] < SALIENCY_THRESHOLD).all()
            deep_pixels += int(deep.sum())
    assert blobs and missing and plain and deep_pixels


def test_recorded_saliency_quality_matches_the_pngs(synthetic_seg_root):
    records = _json(synthetic_seg_root, 'saliency_ref.json')
    for img_id, record in records.items():
        gt = _png(synthetic_seg_root, 'SegmentationClass', img_id)
        sal = cv2.imread(
            osp.join(synthetic_seg_root, 'SaliencyRef', f'{img_id}.png'),
            cv2.IMREAD_UNCHANGED)
        assert sal.dtype == np.uint8 and sal.shape == gt.shape
        hand = _quality_by_hand(gt, (sal >= 128).astype(np.uint8))
        assert record['fg_iou'] == pytest.approx(hand['fg_iou'], abs=1e-6)
        assert record['fg_fmeasure'] == pytest.approx(
            hand['fg_fmeasure'], abs=1e-6)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_images=1), 'num_images'),
    (dict(img_size=(64, 8)), 'img_size'),
    (dict(val_fraction=-0.1), 'val_fraction'),
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=21), 'num_classes'),
    (dict(class_ids=[]), 'class_ids'),
    (dict(class_ids=[1, 1]), 'class_ids'),
    (dict(class_ids=[0, 3]), 'class_ids'),
    (dict(class_ids=[2, 21]), 'class_ids'),
    (dict(class_ids='17'), 'class_ids'),
    (dict(class_ids=[1, 7], num_classes=3), 'contradicts'),
    (dict(proxy_noise_mixture=dict(awful=1.0)), 'awful'),
    (dict(proxy_noise_mixture=dict(clean=-1.0, mild=2.0)), 'weights'),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_seg_dataset(str(tmp_path / 'out'), **dict(SMALL, **kwargs))
    assert not (tmp_path / 'out').exists()


def test_many_classes_and_custom_mixture(tmp_path):
    summary = make_seg_dataset(
        str(tmp_path),
        num_classes=20,
        proxy_noise_mixture=dict(clean=1.0),
        **dict(SMALL, num_images=6))
    assert summary['classes'] == list(range(1, 21))
    quality = _json(str(tmp_path), 'proxy_quality.json')
    assert all(r['severity'] == 'clean' and r['miou'] == 1.0
               for r in quality.values())


def test_chosen_class_ids(tmp_path):
    """class_ids picks the VOC indices, so classes can differ in texture
    (7: striped ellipse) and not only in outline (1: plain rectangle)."""
    summary = make_seg_dataset(
        str(tmp_path / 'ids'), class_ids=(7, 1), **dict(SMALL, num_images=8))
    assert summary['classes'] == [1, 7]
    assert summary['num_classes'] == 2
    assert summary['class_appearance'] == {
        '1': dict(shape='rectangle', pattern='plain'),
        '7': dict(shape='ellipse', pattern='stripes')
    }
    seen = set()
    for name in sorted(os.listdir(tmp_path / 'ids' / 'SegmentationClass')):
        for folder in ('SegmentationClass', 'SegmentationClassProxy'):
            labels = read_label_png(str(tmp_path / 'ids' / folder / name))
            seen |= set(np.unique(labels).tolist())
    assert seen <= {0, 1, 7, 255} and {1, 7} <= seen
    # The default class list is unchanged: class_ids=(1, 2) is num_classes=2.
    make_seg_dataset(
        str(tmp_path / 'a'), class_ids=[1, 2], **dict(SMALL, num_images=4))
    make_seg_dataset(
        str(tmp_path / 'b'), num_classes=2, **dict(SMALL, num_images=4))
    assert _files(tmp_path / 'a') == _files(tmp_path / 'b')


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    (tmp_path / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='overwrite'):
        make_seg_dataset(str(tmp_path), **SMALL)
    # Without a manifest, not even --overwrite touches the folder: it cannot
    # know which files are generated.
    with pytest.raises(FileExistsError, match=MANIFEST_NAME):
        make_seg_dataset(str(tmp_path), overwrite=True, **SMALL)
    assert os.listdir(tmp_path) == ['keep.txt']


def _user_files(root):
    """A user's photo among the generated images, a note, a score file and
    a folder of their own: what --overwrite must leave alone."""
    files = {
        'JPEGImages/holiday_photo.jpg': b'\xff\xd8 my photo',
        'SegmentationClassProxy/README.txt': b'my notes on the proxies',
        'notes.txt': b'mine',
        'mask_scores.json': b'{}',
        'my_runs/log.txt': b'a log',
    }
    for rel, data in files.items():
        path = osp.join(root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
    return files


def _assert_intact(root, files):
    for rel, data in files.items():
        with open(osp.join(root, rel), 'rb') as f:
            assert f.read() == data, rel


def test_overwrite_deletes_only_the_manifest_files(tmp_path, capsys):
    """``make_data.py --overwrite`` with a new seed and size: the user's
    files stay, nothing of the larger old dataset is left."""
    out = str(tmp_path / 'data')
    make_seg_dataset(out, **SMALL)
    generated = read_manifest(out)
    assert sorted(generated) == sorted(
        rel for rel in _files(out) if rel != MANIFEST_NAME)
    mine = _user_files(out)

    make_data = _load_make_data()
    assert make_data.main([
        'seg', '--out', out, '--num-images', '3', '--seed', '1',
        '--img-size', '48', '48', '--overwrite', '--no-progress'
    ]) == 0, capsys.readouterr().err
    _assert_intact(out, mine)
    assert sorted(os.listdir(osp.join(out, 'JPEGImages'))) == [
        'holiday_photo.jpg', 'syn_000000.jpg', 'syn_000001.jpg',
        'syn_000002.jpg'
    ]
    assert sorted(os.listdir(osp.join(out, 'SegmentationClass'))) == [
        f'syn_00000{i}.png' for i in range(3)
    ]
    assert read_manifest(out) == sorted(
        rel for rel in _files(out)
        if rel != MANIFEST_NAME and rel not in mine)
    assert _png(out, 'SegmentationClassProxy', 'syn_000000').shape == (48, 48)


def test_overwrite_of_a_dataset_from_before_manifests(tmp_path):
    """A folder generated by an mmattn without manifests is recognised by
    its meta.json: only that dataset's files go."""
    out = str(tmp_path / 'old')
    make_seg_dataset(out, **SMALL)
    os.remove(osp.join(out, MANIFEST_NAME))
    mine = _user_files(out)
    make_seg_dataset(out, overwrite=True, **dict(SMALL, num_images=3))
    _assert_intact(out, mine)
    assert len(os.listdir(osp.join(out, 'SaliencyRef'))) == 3
    assert len(os.listdir(osp.join(out, 'JPEGImages'))) == 4


def test_overwrite_never_replaces_a_file_it_did_not_generate(tmp_path):
    out = str(tmp_path / 'data')
    make_seg_dataset(out, **dict(SMALL, num_images=3))
    # The user's own image happens to have the name image 5 would get.
    clash = osp.join(out, 'JPEGImages', 'syn_000005.jpg')
    with open(clash, 'wb') as f:
        f.write(b'mine')
    before = _files(out)
    with pytest.raises(FileExistsError, match='syn_000005.jpg'):
        make_seg_dataset(out, overwrite=True, **SMALL)
    assert _files(out) == before  # refused before deleting anything


@pytest.mark.parametrize('manifest, match', [
    ('not json', 'unreadable manifest'),
    ('{"format": "other", "files": []}', 'not an mmattn manifest'),
    ('{"format": "mmattn.synthetic.manifest", "files": ["../../etc/x"]}',
     'not a relative path'),
    ('{"format": "mmattn.synthetic.manifest", "files": ["/etc/passwd"]}',
     'not a relative path'),
])
def test_corrupt_manifest_deletes_nothing(tmp_path, manifest, match):
    out = str(tmp_path / 'data')
    make_seg_dataset(out, **dict(SMALL, num_images=3))
    with open(osp.join(out, MANIFEST_NAME), 'w') as f:
        f.write(manifest)
    before = _files(out)
    with pytest.raises(ValueError, match=match):
        make_seg_dataset(out, overwrite=True, **dict(SMALL, num_images=3))
    assert _files(out) == before


def _load_make_data():
    spec = importlib.util.spec_from_file_location(
        'mmattn_tool_make_data', osp.join(REPO_ROOT, 'tools', 'make_data.py'))
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    return make_data


def test_cli_matches_function(tmp_path, capsys, run_tool):
    cmd = [
        osp.join(REPO_ROOT, 'tools', 'make_data.py'), 'seg', '--out',
        str(tmp_path / 'cli'), '--num-images', '4', '--seed', '9',
        '--img-size', '64', '64', '--num-classes', '3', '--val-fraction',
        '0.5', '--no-progress'
    ]
    run_tool(cmd, timeout=300)
    make_seg_dataset(
        str(tmp_path / 'api'),
        num_images=4,
        seed=9,
        img_size=(64, 64),
        num_classes=3,
        val_fraction=0.5,
        show_progress=False)
    cli, api = _files(tmp_path / 'cli'), _files(tmp_path / 'api')
    assert sorted(cli) == sorted(api)
    for name in ('proxy_quality.json', 'ImageSets/Segmentation/val.txt',
                 'SegmentationClass/syn_000003.png'):
        assert cli[name] == api[name]

    # Error paths in-process (a second interpreter start costs seconds).
    make_data = _load_make_data()
    assert make_data.main(
        ['seg', '--out',
         str(tmp_path / 'bad'), '--num-images', '1']) == 2
    assert 'num_images' in capsys.readouterr().err
    assert not (tmp_path / 'bad').exists()
    with pytest.raises(SystemExit):  # argparse: unknown option
        make_data.main(['seg', '--out', str(tmp_path), '--max-objects', '3'])
