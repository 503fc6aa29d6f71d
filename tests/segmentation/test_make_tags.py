# Copyright (c) mmattn contributors. All rights reserved.
"""tools/make_tags.py and mmattn.segmentation.wsss.tags: cls_labels.npy from
a CSV, a JSON, a folder of tag files or a COCO instances json; every error
names its item (file and line, image, class)."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmattn.segmentation.mask_scoring import read_tags
from mmattn.segmentation.wsss import (VOC_CLASSES, TagSourceError,
                                      image_id_from_name, make_cls_labels,
                                      read_class_list, split_tag_text)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'make_tags.py')


def _tool_main():
    spec = importlib.util.spec_from_file_location('make_tags_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _write(path, text):
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def _vector(*names, classes=VOC_CLASSES):
    v = np.zeros(len(classes), np.float32)
    for name in names:
        v[classes.index(name)] = 1
    return v


def _assert_tags(path, expected):
    tags = read_tags(str(path))  # the package's reader of cls_labels.npy
    assert list(tags) == list(expected)
    for image_id, vector in expected.items():
        np.testing.assert_array_equal(tags[image_id], vector, err_msg=image_id)
    raw = np.load(str(path), allow_pickle=True).item()
    assert all(v.dtype == np.float32 and v.shape == (len(VOC_CLASSES), )
               for v in raw.values()) or expected == {}


# ---------------------------------------------------------------- sources


def test_csv_source(tmp_path):
    src = _write(
        tmp_path / 'tags.csv', 'image_id,tags\n'
        '2007_000032,aeroplane person\n'
        '\n'
        '# a comment\n'
        'train/2007_000039.jpg,tvmonitor\n'
        '2007_000063,dog;cat,chair\n'
        '2007_000068,bird|bird\n')
    out = tmp_path / 'cls_labels.npy'
    summary = make_cls_labels(src, str(out))
    _assert_tags(
        out, {
            '2007_000032': _vector('aeroplane', 'person'),
            '2007_000039': _vector('tvmonitor'),
            '2007_000063': _vector('dog', 'cat', 'chair'),
            '2007_000068': _vector('bird'),
        })
    assert summary['format'] == 'csv' and summary['num_images'] == 4
    assert summary['class_counts']['person'] == 1
    assert summary['class_counts']['bird'] == 1
    assert 'sheep' in summary['untagged_classes']


def test_csv_without_header_and_tsv(tmp_path):
    src = _write(tmp_path / 'tags.tsv', 'a.png\tcat\tdog\nb\tsheep\n')
    out = tmp_path / 'cls_labels.npy'
    make_cls_labels(src, str(out))
    _assert_tags(out, {'a': _vector('cat', 'dog'), 'b': _vector('sheep')})


def test_json_sources(tmp_path):
    mapping = _write(tmp_path / 'map.json',
                     json.dumps({
                         'x1.jpg': ['cat', 'dog'],
                         'x2': 'bus car'
                     }))
    records = _write(
        tmp_path / 'records.json',
        json.dumps([{
            'image_id': 'y1',
            'tags': ['horse']
        }, {
            'file_name': 'imgs/y2.jpg',
            'labels': 'sofa'
        }]))
    make_cls_labels(mapping, str(tmp_path / 'a.npy'))
    make_cls_labels(records, str(tmp_path / 'b.npy'))
    _assert_tags(tmp_path / 'a.npy', {
        'x1': _vector('cat', 'dog'),
        'x2': _vector('bus', 'car')
    })
    _assert_tags(tmp_path / 'b.npy', {
        'y1': _vector('horse'),
        'y2': _vector('sofa')
    })


def test_folder_source_with_class_file(tmp_path):
    classes = _write(tmp_path / 'classes.txt',
                     'background\ntraffic light\nstop sign\ncar\n')
    assert read_class_list(classes) == ('traffic light', 'stop sign', 'car')
    folder = tmp_path / 'tags'
    _write(folder / 'a.txt', 'traffic light\ncar\n')
    _write(folder / 'b.jpg.txt', '# comment\nstop sign, car\n')
    _write(folder / 'notes.md', 'not a tag file')
    out = tmp_path / 'cls_labels.npy'
    summary = make_cls_labels(str(folder), str(out), class_file=classes)
    assert summary['format'] == 'folder'
    tags = read_tags(str(out))
    assert sorted(tags) == ['a', 'b']
    np.testing.assert_array_equal(tags['a'], [1, 0, 1])
    np.testing.assert_array_equal(tags['b'], [0, 1, 1])


def test_coco_source_matches_annotations(tmp_path, synthetic_det_root):
    from mmattn.synthetic import SYNTHETIC_DET_CLASSES
    ann = osp.join(synthetic_det_root, 'annotations', 'instances_train.json')
    classes = _write(tmp_path / 'classes.txt',
                     '\n'.join(SYNTHETIC_DET_CLASSES) + '\n')
    out = tmp_path / 'cls_labels.npy'
    summary = make_cls_labels(ann, str(out), class_file=classes)
    assert summary['format'] == 'coco'
    with open(ann) as f:
        coco = json.load(f)
    names = {c['id']: c['name'] for c in coco['categories']}
    expected = {}
    for img in coco['images']:
        present = {
            names[a['category_id']]
            for a in coco['annotations'] if a['image_id'] == img['id']
        }
        expected[osp.splitext(img['file_name'])[0]] = _vector(
            *present, classes=SYNTHETIC_DET_CLASSES)
    tags = read_tags(str(out))
    assert list(tags) == list(expected)
    for key, vector in expected.items():
        np.testing.assert_array_equal(tags[key], vector, err_msg=key)
    # --coco-classes: the file's categories in id order, same vectors here.
    make_cls_labels(ann, str(tmp_path / 'b.npy'), coco_classes=True)
    again = read_tags(str(tmp_path / 'b.npy'))
    for key in expected:
        np.testing.assert_array_equal(again[key], tags[key])


def _coco(images, annotations, categories=((1, 'cat'), (2, 'dog'))):
    return json.dumps(
        dict(
            images=[dict(id=i, file_name=f) for i, f in images],
            annotations=[
                dict(id=k, image_id=i, category_id=c)
                for k, (i, c) in enumerate(annotations)
            ],
            categories=[dict(id=i, name=n) for i, n in categories]))


def test_generated_csv_round_trip_reads_in_weak_voc_dataset(
        tmp_path, synthetic_seg_root):
    """The generator's tags written as a user's CSV come back identical,
    and WeakVOCDataset reads the file."""
    from mmattn.segmentation.datasets import WeakVOCDataset
    truth = read_tags(osp.join(synthetic_seg_root, 'cls_labels.npy'))
    lines = ['image_id,tags']
    for image_id, vector in truth.items():
        names = [VOC_CLASSES[k] for k in np.flatnonzero(vector)]
        lines.append(f'{image_id}.jpg,{" ".join(names)}')
    src = _write(tmp_path / 'tags.csv', '\n'.join(lines) + '\n')
    out = tmp_path / 'cls_labels.npy'
    make_cls_labels(
        src,
        str(out),
        img_dir=osp.join(synthetic_seg_root, 'JPEGImages'),
        split=osp.join(synthetic_seg_root, 'ImageSets', 'Segmentation',
                       'train.txt'))
    _assert_tags(out, truth)
    dataset = WeakVOCDataset(
        data_root=synthetic_seg_root,
        ann_file='ImageSets/Segmentation/train.txt',
        tag_file=str(out),
        score_file=None,
        pipeline=[])
    for info in dataset.data_list:
        np.testing.assert_array_equal(info['img_tags'], truth[info['img_id']])


# ----------------------------------------------------------------- errors


def _problems(excinfo):
    return excinfo.value.problems


def test_unknown_class_names_the_line_and_suggests(tmp_path):
    src = _write(tmp_path / 'tags.csv',
                 'image_id,tags\na,cat\nb,aeroplan\nc,Dog person\n')
    out = tmp_path / 'cls_labels.npy'
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(src, str(out))
    problems = _problems(excinfo)
    assert len(problems) == 2
    assert problems[0].startswith(f'{src}:3: image ')
    assert "'b'" in problems[0] and "unknown class 'aeroplan'" in problems[0]
    assert "did you mean 'aeroplane'?" in problems[0]
    assert problems[1].startswith(f'{src}:4: ')
    assert "unknown class 'Dog'" in problems[1]
    assert "did you mean 'dog'? names are case-sensitive" in problems[1]
    assert "VOC's 20 classes" in problems[1]
    assert not out.exists()


def test_duplicate_ids_name_both_places(tmp_path):
    src = _write(tmp_path / 'tags.csv', 'a,cat\nb,dog\na.jpg,cat\n')
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(src, str(tmp_path / 'x.npy'))
    assert _problems(excinfo) == [
        f"{src}:3: image 'a' is tagged twice (first at {src}:1)"
    ]
    # A key repeated in a JSON object, which json.load would hide.
    js = _write(tmp_path / 'tags.json', '{"a": ["cat"], "a": ["dog"]}')
    with pytest.raises(TagSourceError, match="image 'a' is tagged twice"):
        make_cls_labels(js, str(tmp_path / 'y.npy'))
    # Two COCO images with the same file stem.
    coco = _write(
        tmp_path / 'coco.json',
        _coco([(1, 'train/a.jpg'), (2, 'val/a.jpg')], [(1, 1), (2, 2)]))
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(coco, str(tmp_path / 'z.npy'), coco_classes=True)
    assert _problems(excinfo) == [
        f"{coco}: image val/a.jpg (id 2): image 'a' is tagged twice (first "
        f'at {coco}: image train/a.jpg (id 1))'
    ]


def test_images_without_tags(tmp_path):
    src = _write(tmp_path / 'tags.csv', 'a,cat\nb,\nc\n')
    out = tmp_path / 'cls_labels.npy'
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(src, str(out))
    assert [p.split(': ')[0]
            for p in _problems(excinfo)] == [f'{src}:2', f'{src}:3']
    assert "image 'b' has no tags" in _problems(excinfo)[0]
    # --empty zeros / skip
    make_cls_labels(src, str(out), empty='zeros')
    _assert_tags(out, {'a': _vector('cat'), 'b': _vector(), 'c': _vector()})
    summary = make_cls_labels(src, str(out), empty='skip', overwrite=True)
    _assert_tags(out, {'a': _vector('cat')})
    assert summary['empty'] == ['b', 'c']
    # An image of the image folder (or split) that the source does not tag.
    img_dir = tmp_path / 'JPEGImages'
    for name in ('a.jpg', 'b.jpg', 'c.jpg', 'd.png'):
        _write(img_dir / name, '')
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(
            src, str(out), empty='zeros', img_dir=str(img_dir), overwrite=True)
    assert _problems(excinfo) == [
        f"image 'd' has no tags in {src} (images of {img_dir})"
    ]
    # COCO images without annotations.
    coco = _write(tmp_path / 'coco.json',
                  _coco([(1, 'a.jpg'), (7, 'b.jpg')], [(1, 2)]))
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(coco, str(out), coco_classes=True, overwrite=True)
    assert _problems(excinfo)[0].startswith(
        f"{coco}: image b.jpg (id 7): image 'b' has no tags")


def test_coco_structure_errors_name_the_entry(tmp_path):
    coco = _write(tmp_path / 'coco.json',
                  _coco([(1, 'a.jpg')], [(1, 1), (5, 1), (1, 9)]))
    with pytest.raises(TagSourceError) as excinfo:
        make_cls_labels(coco, str(tmp_path / 'x.npy'), coco_classes=True)
    assert _problems(excinfo) == [
        f'{coco}: annotations[1] (id 1): unknown image id 5',
        f'{coco}: annotations[2] (id 2): unknown category id 9',
    ]
    # A category outside the class list (VOC by default).
    coco = _write(tmp_path / 'coco2.json',
                  _coco([(1, 'a.jpg')], [(1, 1)], ((1, 'traffic light'), )))
    with pytest.raises(
            TagSourceError,
            match=r"image a.jpg \(id 1\): image "
            r"'a': unknown class 'traffic light'"):
        make_cls_labels(coco, str(tmp_path / 'y.npy'))


def test_class_list_errors(tmp_path):
    classes = _write(tmp_path / 'classes.txt', 'cat\ndog\n\ncat\n')
    with pytest.raises(TagSourceError) as excinfo:
        read_class_list(classes)
    assert _problems(excinfo) == [f"{classes}:4: class 'cat' repeats line 1"]
    empty = _write(tmp_path / 'empty.txt', 'background\n')
    with pytest.raises(TagSourceError, match='lists no foreground class'):
        read_class_list(empty)


def test_never_overwrites_without_flag(tmp_path):
    src = _write(tmp_path / 'tags.csv', 'a,cat\n')
    out = _write(tmp_path / 'cls_labels.npy', 'precious')
    with pytest.raises(
            FileExistsError, match='cls_labels.npy exists; pass '
            '--overwrite'):
        make_cls_labels(src, out)
    with open(out) as f:
        assert f.read() == 'precious'
    make_cls_labels(src, out, overwrite=True)
    _assert_tags(out, {'a': _vector('cat')})
    with pytest.raises(ValueError, match='must end with .npy'):
        make_cls_labels(src, str(tmp_path / 'tags_out'))


def test_helpers():
    assert image_id_from_name('a/b/2007_000032.JPG') == '2007_000032'
    assert image_id_from_name('2007_000032') == '2007_000032'
    assert image_id_from_name('v1.2') == 'v1.2'
    assert split_tag_text('traffic light; car bus', ('traffic light', )) == [
        'traffic light', 'car', 'bus'
    ]


# ------------------------------------------------------------------- tool


def test_tool_exit_codes_and_messages(tmp_path, capsys):
    main = _tool_main()
    src = _write(tmp_path / 'tags.csv', 'a,cat\nb,kat\n')
    out = str(tmp_path / 'cls_labels.npy')
    assert main([src, '--out', out]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'make_tags.py: error: {src}: 1 problem(s), '
                          'nothing written:')
    assert f"{src}:2: image 'b': unknown class 'kat' (did you mean 'cat'?)" \
        in err
    assert not osp.exists(out)
    _write(tmp_path / 'tags.csv', 'a,cat\nb,dog\n')
    ids = str(tmp_path / 'train.txt')
    assert main([src, '--out', out, '--ids-out', ids]) == 0
    stdout = capsys.readouterr().out
    assert f'wrote {out}: 2 images, 20 classes (csv source' in stdout
    with open(ids) as f:
        assert f.read() == 'a\nb\n'
    assert main([src, '--out', out]) == 2
    assert 'exists; pass --overwrite' in capsys.readouterr().err


def test_tool_runs_as_a_user_runs_it(tmp_path, run_tool):
    folder = tmp_path / 'tags'
    _write(folder / 'img1.txt', 'cat\nperson\n')
    _write(folder / 'img2.txt', 'sofa\n')
    out = tmp_path / 'cls_labels.npy'
    result = run_tool(['tools/make_tags.py', folder, '--out', out])
    assert 'wrote' in result.stdout
    _assert_tags(out, {
        'img1': _vector('cat', 'person'),
        'img2': _vector('sofa')
    })
    again = run_tool(['tools/make_tags.py', folder, '--out', out], check=False)
    assert again.returncode == 2
    assert 'exists; pass --overwrite' in again.stderr
