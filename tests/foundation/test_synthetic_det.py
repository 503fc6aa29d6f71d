# Copyright (c) mmattn contributors. All rights reserved.
"""The generated COCO-format detection dataset: deterministic by seed,
loaded unchanged by mmdet's CocoDataset, evaluable by pycocotools, and
safe with existing folders."""
import contextlib
import io
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmattn.synthetic import (MANIFEST_NAME, SYNTHETIC_DET_CLASSES,
                              draw_det_image, make_det_dataset, read_manifest)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(num_images=8, img_size=(96, 96), show_progress=False)


def _load(root, split):
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


def _decode_rle(segm):
    """Uncompressed COCO RLE -> boolean mask (runs alternate 0/1 over
    column-major pixels, starting with 0)."""
    h, w = segm['size']
    values = np.arange(len(segm['counts'])) % 2
    flat = np.repeat(values, segm['counts']).astype(bool)
    assert flat.size == h * w
    return flat.reshape((h, w), order='F')


def _read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def test_same_seed_same_files_other_seed_differs(tmp_path):
    make_det_dataset(str(tmp_path / 'a'), seed=3, **SMALL)
    make_det_dataset(str(tmp_path / 'b'), seed=3, **SMALL)
    make_det_dataset(str(tmp_path / 'c'), seed=4, **SMALL)
    for split in ('train', 'val'):
        ann = osp.join('annotations', f'instances_{split}.json')
        assert _read_bytes(tmp_path / 'a' / ann) == _read_bytes(tmp_path /
                                                                'b' / ann)
        assert _read_bytes(tmp_path / 'a' / ann) != _read_bytes(tmp_path /
                                                                'c' / ann)
        names = sorted(os.listdir(tmp_path / 'a' / split))
        assert names == sorted(os.listdir(tmp_path / 'b' / split))
        for name in names:
            img_a = cv2.imread(str(tmp_path / 'a' / split / name))
            img_b = cv2.imread(str(tmp_path / 'b' / split / name))
            np.testing.assert_array_equal(img_a, img_b)
    img_a = cv2.imread(str(tmp_path / 'a' / 'train' / '000000.jpg'))
    img_c = cv2.imread(str(tmp_path / 'c' / 'train' / '000000.jpg'))
    assert not np.array_equal(img_a, img_c)


def test_coco_json_is_consistent(synthetic_det_root):
    image_ids = set()
    for split in ('train', 'val'):
        coco = _load(synthetic_det_root, split)
        assert [c['name']
                for c in coco['categories']] == list(SYNTHETIC_DET_CLASSES)
        assert [c['id'] for c in coco['categories']
                ] == list(range(1,
                                len(SYNTHETIC_DET_CLASSES) + 1))
        images = {im['id']: im for im in coco['images']}
        assert images and not image_ids & set(images)  # ids unique overall
        image_ids |= set(images)
        for im in images.values():
            assert osp.isfile(
                osp.join(synthetic_det_root, split, im['file_name']))
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(ann_ids) == len(set(ann_ids))
        annotated = set()
        for ann in coco['annotations']:
            im = images[ann['image_id']]
            annotated.add(ann['image_id'])
            x, y, w, h = ann['bbox']
            assert 0 <= x and 0 <= y and w >= 1 and h >= 1
            assert x + w <= im['width'] and y + h <= im['height']
            assert ann['iscrowd'] == 0
            assert 1 <= ann['category_id'] <= len(SYNTHETIC_DET_CLASSES)
            # The area counts visible pixels, all inside the box.
            assert 0 < ann['area'] <= w * h
            segm = ann['segmentation']
            if isinstance(segm, dict):  # RLE: exactly the visible pixels
                mask = _decode_rle(segm)
                assert mask.shape == (im['height'], im['width'])
                assert mask.sum() == ann['area']
                ys, xs = np.nonzero(mask)
                pts = np.stack([xs, ys], axis=1)
            else:  # polygons through the boundary pixels
                assert all(len(p) >= 6 for p in segm)
                pts = np.concatenate([np.reshape(p, (-1, 2)) for p in segm])
            # The box is the extent of the visible part.
            np.testing.assert_allclose(pts.min(0), [x, y])
            np.testing.assert_allclose(pts.max(0) + 1, [x + w, y + h])
        assert annotated == set(images), 'every image has an object'


def test_occluded_object_with_a_hole_is_stored_as_rle():
    from pycocotools import mask as mask_utils

    from mmattn.synthetic.det import _segmentation

    ring = np.zeros((9, 12), bool)
    ring[1:8, 2:10] = True
    ring[3:6, 4:7] = False  # an object on top, inside this one
    segm = _segmentation(ring)
    assert isinstance(segm, dict) and segm['size'] == [9, 12]
    np.testing.assert_array_equal(_decode_rle(segm), ring)
    rle = mask_utils.frPyObjects(segm, 9, 12)
    np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), ring)
    # Without the hole, polygons (one per part) are kept.
    two_parts = np.zeros((9, 12), bool)
    two_parts[1:4, 1:4] = two_parts[5:8, 6:11] = True
    segm = _segmentation(two_parts)
    assert isinstance(segm, list) and len(segm) == 2


def test_objects_vary_in_size_and_occlude(tmp_path):
    """Across images the generator places small and large objects of every
    class and annotates partly occluded ones, never mostly hidden ones."""
    anns = []
    for index in range(30):
        _, image_anns = draw_det_image(
            np.random.default_rng([7, index]), 128, 128)
        anns += image_anns
    labels = {a['label'] for a in anns}
    assert labels == set(range(len(SYNTHETIC_DET_CLASSES)))
    sides = np.array([max(a['bbox'][2:]) for a in anns])
    assert sides.min() < 20 and sides.max() > 40
    visible = np.array([a['visible_fraction'] for a in anns])
    assert visible.min() >= 0.4
    assert (visible < 0.95).any()


def test_mmdet_coco_dataset_loads_every_image(synthetic_det_root):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    register_all_modules(init_default_scope=False)
    coco = _load(synthetic_det_root, 'train')
    counts = {}
    for ann in coco['annotations']:
        counts[ann['image_id']] = counts.get(ann['image_id'], 0) + 1
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(
            dict(
                type='CocoDataset',
                data_root=synthetic_det_root,
                metainfo=dict(classes=SYNTHETIC_DET_CLASSES),
                ann_file='annotations/instances_train.json',
                data_prefix=dict(img='train/'),
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='PackDetInputs')
                ]))
        assert len(dataset) == len(coco['images'])
        for index in range(len(dataset)):
            sample = dataset[index]
            inputs, data_sample = sample['inputs'], sample['data_samples']
            h, w = data_sample.img_shape
            assert (h, w) == (128, 128)
            assert tuple(inputs.shape) == (3, h, w)
            boxes = data_sample.gt_instances.bboxes.tensor.numpy()
            labels = data_sample.gt_instances.labels.numpy()
            assert len(boxes) == counts[data_sample.img_id] > 0
            assert (boxes[:, :2] >= 0).all()
            assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
            assert (boxes[:, 2:] > boxes[:, :2]).all()
            assert ((labels >= 0) &
                    (labels < len(SYNTHETIC_DET_CLASSES))).all()


def test_pycocotools_scores_ground_truth_as_perfect(synthetic_det_root):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ann_file = osp.join(synthetic_det_root, 'annotations',
                        'instances_train.json')
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        detections = [
            dict(
                image_id=a['image_id'],
                category_id=a['category_id'],
                bbox=a['bbox'],
                score=1.0) for a in gt.dataset['annotations']
        ]
        evaluator = COCOeval(gt, gt.loadRes(detections), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    for ann in gt.dataset['annotations']:  # pycocotools reads every mask
        mask = gt.annToMask(ann)
        if isinstance(ann['segmentation'], dict):
            np.testing.assert_array_equal(mask,
                                          _decode_rle(ann['segmentation']))
        else:
            assert mask.any()
    assert evaluator.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]
    assert evaluator.stats[1] == pytest.approx(1.0)  # AP50

    # A shifted copy must score lower: the evaluation is not vacuous.
    shifted = [
        dict(d, bbox=[d['bbox'][0] + d['bbox'][2] / 2] + d['bbox'][1:])
        for d in detections
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(shifted), 'bbox')
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] < 0.5


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_images=1), 'num_images'),
    (dict(num_images=2.5), 'num_images'),
    (dict(seed=-1), 'seed'),
    (dict(img_size=(16, 96)), 'img_size'),
    (dict(val_fraction=0.0), 'val_fraction'),
    (dict(val_fraction=1.0), 'val_fraction'),
    (dict(max_objects=0), 'max_objects'),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_det_dataset(str(tmp_path / 'out'), **args)
    assert not (tmp_path / 'out').exists(), 'checked before writing'


def test_img_size_must_be_a_pair(tmp_path):
    with pytest.raises(TypeError, match='img_size'):
        make_det_dataset(str(tmp_path), **dict(SMALL, img_size=(96, )))


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / 'data'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='overwrite'):
        make_det_dataset(str(out), **SMALL)
    # No manifest: it is not known what is generated, so nothing is touched.
    with pytest.raises(FileExistsError, match=MANIFEST_NAME):
        make_det_dataset(str(out), overwrite=True, **SMALL)
    assert sorted(os.listdir(out)) == ['notes.txt']


def test_overwrite_deletes_only_generated_files(tmp_path, load_tool):
    out = tmp_path / 'data'
    make_det_dataset(str(out), **dict(SMALL, num_images=10))
    assert len(os.listdir(out / 'train')) == 8
    (out / 'notes.txt').write_text('mine')
    (out / 'train' / 'my_photo.jpg').write_bytes(b'a photo')
    # Overwriting a larger dataset with a smaller one leaves no stale
    # images, and files the generator does not own stay.
    make_data = load_tool('make_data')
    assert make_data.main([
        'det', '--out', str(out), '--num-images', '4', '--img-size', '64',
        '64', '--seed', '3', '--overwrite', '--no-progress'
    ]) == 0
    assert sorted(os.listdir(out / 'train')) == [
        f'{i:06d}.jpg' for i in range(3)
    ] + ['my_photo.jpg']
    assert sorted(os.listdir(out / 'val')) == ['000003.jpg']
    assert (out / 'notes.txt').read_text() == 'mine'
    assert (out / 'train' / 'my_photo.jpg').read_bytes() == b'a photo'
    assert sorted(read_manifest(str(out))) == sorted(
        [f'train/{i:06d}.jpg' for i in range(3)] + [
            'val/000003.jpg', 'annotations/instances_train.json',
            'annotations/instances_val.json', 'meta.json'
        ])

    # A dataset from before manifests: its meta.json tells what it holds.
    os.remove(out / MANIFEST_NAME)
    make_det_dataset(str(out), overwrite=True, **dict(SMALL, num_images=2))
    assert sorted(os.listdir(out / 'train')) == ['000000.jpg', 'my_photo.jpg']
    assert sorted(os.listdir(out / 'val')) == ['000001.jpg']


def test_cli_matches_function(tmp_path, capsys, run_tool, load_tool):
    cmd = [
        osp.join(REPO_ROOT, 'tools', 'make_data.py'), 'det', '--out',
        str(tmp_path / 'cli'), '--num-images', '5', '--seed', '2',
        '--img-size', '64', '80', '--no-progress'
    ]
    result = run_tool(cmd, timeout=300)
    lines = result.stdout.splitlines()
    summary = json.loads('\n'.join(lines[lines.index('{'):]))
    assert summary['num_train'] == 4 and summary['img_size'] == [64, 80]
    make_det_dataset(
        str(tmp_path / 'api'),
        num_images=5,
        seed=2,
        img_size=(64, 80),
        show_progress=False)
    for split in ('train', 'val'):
        ann = osp.join('annotations', f'instances_{split}.json')
        assert _read_bytes(tmp_path / 'cli' / ann) == _read_bytes(tmp_path /
                                                                  'api' / ann)
    img = cv2.imread(str(tmp_path / 'cli' / 'train' / '000000.jpg'))
    assert img.shape == (64, 80, 3)

    # Error paths in-process (a second interpreter start costs seconds).
    make_data = load_tool('make_data')
    assert make_data.main(cmd[1:]) == 2
    assert 'not empty' in capsys.readouterr().err


def test_cli_difficulty_flag(tmp_path, load_tool):
    make_data = load_tool('make_data')
    out = tmp_path / 'easy'
    assert make_data.main([
        'det', '--out',
        str(out), '--num-images', '4', '--img-size', '64', '64',
        '--difficulty', 'easy', '--no-progress'
    ]) == 0
    with open(out / 'meta.json') as f:
        assert json.load(f)['difficulty'] == 'easy'
    with pytest.raises(SystemExit):  # argparse names the allowed choices
        make_data.main(['det', '--out', str(tmp_path / 'x'), '--difficulty',
                        'hard'])
