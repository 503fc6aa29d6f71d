# Copyright (c) mmattn contributors. All rights reserved.
"""``make demo`` (tools/demo.py) end to end in its --quick form, its data
reuse, its configs, and the easy preset of the detection data it uses."""
import hashlib
import importlib.util
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmattn.segmentation.score_file import load_mask_scores
from mmattn.synthetic import make_det_dataset

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO_ROOT, 'tools', 'demo.py')
VIS_TOOL = osp.join(REPO_ROOT, 'tools', 'visualize_attention.py')


def _config(*parts):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', *parts))


def _load_demo_module():
    spec = importlib.util.spec_from_file_location('mmattn_tool_demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table_rows(stdout, label):
    """Cells of the table row that starts with ``| label``."""
    rows = [
        line for line in stdout.splitlines()
        if line.startswith(f'| {label} ')
    ]
    assert len(rows) == 1, f'no single table row for {label!r}:\n{stdout}'
    return [c.strip() for c in rows[0].strip('|').split('|')]


def _number(cell):
    return float(cell) if re.fullmatch(r'-?\d+(\.\d+)?', cell) else None


def test_quick_demo_trains_evaluates_and_reports(tmp_path, run_tool):
    work_dir = tmp_path / 'work'
    data_dir = tmp_path / 'data'
    args = [
        DEMO, '--quick', '--work-dir',
        str(work_dir), '--data-dir',
        str(data_dir), '--threads', '1'
    ]
    out = run_tool(args, timeout=600).stdout
    assert 'mmattn install OK' in out

    # Both tables, with numbers where numbers belong.
    assert 'Detection: COCO bbox AP' in out
    for label in ('RetinaNet', 'HAR-Net'):
        cells = _table_rows(out, label)
        assert len(cells) == 8  # model, 6 AP columns, train seconds
        assert all(_number(c) is not None for c in cells[1:3])  # mAP, AP50
        assert all(_number(c) is not None or c == 'n/a' for c in cells[1:7])
    assert 'Segmentation: val mIoU' in out
    seg = None
    with open(work_dir / 'demo_metrics.json') as f:
        record = json.load(f)
    assert record['mode'] == 'quick'
    seg = record['segmentation']
    num_train = seg['data']['num_train']
    for label, key, used in (
            ('plain CE, all proxies', 'plain_ce', num_train),
            ('SAL (pipeline: selection on SF', 'sal',
             seg['selection']['kept'])):
        cells = _table_rows(out, label)
        assert cells[1] == f'{used}/{num_train}'
        values = [run['mIoU'] for run in seg[key]]
        assert [run['seed'] for run in seg[key]] == seg['seeds'] == [0, 1]
        assert cells[3] == ', '.join(f'{v:.1f}' for v in values)
        for run in seg[key]:
            assert osp.isfile(run['checkpoint']) and osp.isfile(run['config'])
    # The gain is shown with its spread over the paired seeds.
    gains = [s['mIoU'] - c['mIoU'] for s, c in zip(seg['sal'], seg['plain_ce'])]
    assert seg['gain']['per_seed'] == pytest.approx(gains)
    assert 'SAL - plain CE: ' in out and 'standard error over 2' in out

    # SAL read the pipeline's fine scores (SF from the scorer it trained on
    # these proxies) with the pipeline's tau.
    assert osp.isfile(seg['pipeline']['report'])
    sal_cfg = Config.fromfile(seg['sal'][1]['config'])
    head = sal_cfg.model.decode_head.loss_decode
    assert head.score_key == 'SF' and head.tau == seg['selection']['tau']
    scores = load_mask_scores(sal_cfg.train_dataloader.dataset.score_file)
    assert len(scores) == num_train
    assert all(0 <= s['SF'] <= 1 and s['P'] is not None
               for s in scores.values())
    assert seg['selection']['kept'] == sum(
        s['SF'] >= seg['selection']['tau'] for s in scores.values())
    assert seg['scorer']['training_samples'] > 0
    for png in ('histogram', 'examples'):
        assert cv2.imread(seg['pipeline'][png]) is not None

    # The metrics file holds what the detection table shows.
    det_runs = record['detection']['runs']
    assert set(det_runs) == {'retinanet', 'harnet'}
    for key, label in (('retinanet', 'RetinaNet'), ('harnet', 'HAR-Net')):
        run = det_runs[key]
        assert 'coco/bbox_mAP' in run['metrics']
        assert _table_rows(out, label)[1] == f'{run["ap"]["mAP"]:.1f}'
        # Checkpoints and re-runnable configs in one folder per model.
        assert osp.dirname(run['checkpoint']) == str(work_dir / key)
        assert osp.isfile(run['checkpoint'])
        assert osp.isfile(run['config'])
    assert record['detection']['data']['difficulty'] == 'easy'

    # The data went to --data-dir, not to the repository's data/.
    assert osp.isfile(data_dir / 'quick' / 'demo_det' / 'meta.json')
    assert osp.isfile(data_dir / 'quick' / 'demo_seg' / 'meta.json')

    pngs = record['attention']['pngs']
    if osp.isfile(VIS_TOOL):
        assert not record['attention'].get('failures'), record['attention']
        names = sorted(osp.basename(p) for p in pngs)
        assert sum(n.endswith('_spatial_attention.png') for n in names) == 2
        assert sum(n.endswith('_class_attention.png') for n in names) == 2
        for path in pngs:
            assert osp.dirname(path) == str(work_dir / 'attention')
            assert cv2.imread(path) is not None
            assert path in out
    else:
        assert 'attention pictures skipped' in out


def test_demo_reuses_only_its_own_data(tmp_path):
    demo = _load_demo_module()
    root = str(tmp_path / 'det')
    kwargs = dict(num_images=4, seed=0, img_size=(64, 64), difficulty='easy')
    assert demo.prepare_dataset(make_det_dataset, root, **kwargs) == \
        'generated'
    stamp = os.stat(osp.join(root, 'meta.json')).st_mtime_ns
    assert demo.prepare_dataset(make_det_dataset, root, **kwargs) == 'reused'
    assert os.stat(osp.join(root, 'meta.json')).st_mtime_ns == stamp
    # Other arguments: regenerated in place.
    kwargs['difficulty'] = 'standard'
    assert demo.prepare_dataset(make_det_dataset, root, **kwargs) == \
        'generated'
    with open(osp.join(root, 'meta.json')) as f:
        assert json.load(f)['difficulty'] == 'standard'
    # A folder mmattn did not write is never touched.
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='not generated by mmattn'):
        demo.prepare_dataset(make_det_dataset, str(foreign), **kwargs)
    assert (foreign / 'notes.txt').read_text() == 'keep'


def test_demo_detection_configs_are_the_tiny_twins():
    retina = _config('demo', 'retinanet_r18_demo.py')
    harnet = _config('demo', 'harnet_r18_demo.py')

    def without_voting(cfg):
        model = cfg.model.to_dict()
        voting = model['test_cfg'].pop('box_voting')
        return model, voting

    # The models are exactly the tiny configs' (but for the box voting
    # variant, the authors' for both) ...
    for demo, tiny in ((retina, 'retinanet_r18_tiny_synthetic.py'),
                       (harnet, 'harnet_r18_tiny_synthetic.py')):
        model, voting = without_voting(demo)
        assert model == without_voting(_config('harnet', tiny))[0]
        assert voting == dict(
            iou_thr=0.6, score_mode='mean_fixed', top_k=4, exclusive=True)
    assert harnet.model.neck.aligned_attention.deform_impl == 'torch'
    # ... and everything else (data, schedule, evaluation) is shared, but
    # for the named attention parts the HAR-Net config's model takes.
    parts = _config('harnet', '_base_', 'hybrid_attention.py')
    skip = {'model', 'filename', *parts.keys()}
    assert {k: v for k, v in retina.to_dict().items() if k not in skip} == \
        {k: v for k, v in harnet.to_dict().items() if k not in skip}
    assert retina.demo_data['difficulty'] == 'easy'
    size = tuple(retina.demo_data['img_size'])
    assert retina.train_dataloader.dataset.pipeline[2].scale == size
    assert retina.val_evaluator.type == 'CocoMetric'


def test_demo_segmentation_configs_differ_only_in_head_and_dataset():
    sal = _config('demo', 'salnet_r18_demo.py')
    plain = _config('demo', 'salnet_r18_demo_plain_ce.py')
    tiny_plain = _config('sal', 'salnet_r18_tiny_synthetic_plain_ce.py')
    assert sal.model.backbone == plain.model.backbone
    assert sal.model.decode_head.type == 'SALHead'
    assert sal.model.decode_head.loss_decode.score_key == 'SF'
    assert sal.train_dataloader.dataset.required_scores == ('SF', )
    assert sal.model.decode_head.loss_attention is not None
    # The plain head is the tiny plain-CE head at the demo's width.
    head = plain.model.decode_head.to_dict()
    tiny_head = tiny_plain.model.decode_head.to_dict()
    assert head.pop('in_channels') == 256
    tiny_head.pop('in_channels')
    assert head == tiny_head
    assert plain.train_dataloader.dataset.type == 'PascalVOCDataset'
    assert plain.train_dataloader.dataset.data_prefix.seg_map_path == \
        'SegmentationClassProxy'
    crop = tuple(sal.demo_data['img_size'])
    for cfg in (sal, plain):
        pipeline = cfg.train_dataloader.dataset.pipeline
        assert pipeline[3].crop_size == crop
    assert sal.model.data_preprocessor.size == crop
    skip = {'model', 'filename', 'train_dataloader', 'norm_cfg'}
    assert {k: v for k, v in sal.to_dict().items() if k not in skip} == \
        {k: v for k, v in plain.to_dict().items() if k not in skip}


# ----------------------------------------------- the easy det preset --


def _annotations(root):
    out = []
    for split in ('train', 'val'):
        with open(osp.join(root, 'annotations',
                           f'instances_{split}.json')) as f:
            out.append(json.load(f))
    return out


def test_easy_preset_has_fewer_larger_objects(tmp_path):
    common = dict(num_images=40, seed=1, img_size=(128, 128),
                  show_progress=False)
    make_det_dataset(str(tmp_path / 'std'), **common)
    make_det_dataset(str(tmp_path / 'easy'), difficulty='easy', **common)
    stats = {}
    for name in ('std', 'easy'):
        anns = [a for coco in _annotations(tmp_path / name)
                for a in coco['annotations']]
        per_image = np.bincount([a['image_id'] for a in anns])[1:]
        sides = np.array([max(a['bbox'][2:]) for a in anns])
        stats[name] = dict(
            boxes=len(anns), max_per_image=per_image.max(),
            median_side=np.median(sides), min_side=sides.min(),
            min_area=min(a['area'] for a in anns))
        with open(tmp_path / name / 'meta.json') as f:
            stats[name]['meta'] = json.load(f)
    std, easy = stats['std'], stats['easy']
    assert easy['boxes'] < std['boxes']
    assert easy['max_per_image'] <= 3 < std['max_per_image']
    assert easy['median_side'] > 1.5 * std['median_side']
    # Extent >= 30% of 128 px: the shortest bbox long side is well above
    # the standard preset's smallest objects.
    assert easy['min_side'] >= 25 > std['min_side']
    assert easy['min_area'] > std['min_area']
    assert easy['meta']['difficulty'] == 'easy'
    assert easy['meta']['max_objects'] == 3
    assert std['meta']['difficulty'] == 'standard'
    assert std['meta']['max_objects'] == 6


def test_easy_preset_is_deterministic_and_checked(tmp_path):
    for name in ('a', 'b'):
        make_det_dataset(str(tmp_path / name), num_images=6, seed=2,
                         img_size=(96, 96), difficulty='easy',
                         show_progress=False)
    for split in ('train', 'val'):
        path = osp.join('annotations', f'instances_{split}.json')
        assert (tmp_path / 'a' / path).read_bytes() == \
            (tmp_path / 'b' / path).read_bytes()
    with pytest.raises(ValueError, match="'hard'"):
        make_det_dataset(str(tmp_path / 'c'), num_images=4,
                         difficulty='hard', show_progress=False)
    assert not osp.exists(tmp_path / 'c')


# Checksums of make_det_dataset(num_images=6, seed=3, img_size=(96, 128))
# computed BEFORE the difficulty presets existed: the default must not
# change by a byte (annotations) or a pixel (images; JPEG bytes depend on
# the OpenCV build, decoded pixels of the same build do not change).
_STANDARD_SHA256 = {
    'annotations/instances_train.json':
    '7afa93f7ef28e1b9297b9690cdb77c1a509cc3c42ecad4f50c0ec7c6bddad92f',
    'annotations/instances_val.json':
    '611a386a50e5743148db594d87a05fc6fa6b7555bdd7046fbb8fefda0a2e9844',
    # meta.json without the new "difficulty" key, as the old code wrote it
    'meta.json':
    '5e20e9c80465c75bf9df7451172e2d6813a763d2da3b11f263b4b7d25b8e2987',
    'pixels':
    '53f66e19880a0f1d235858acd4b2607fb9702e74b9252e5c13f078ef9edbfd94',
}


def test_standard_default_is_unchanged(tmp_path):
    root = tmp_path / 'std'
    make_det_dataset(str(root), num_images=6, seed=3, img_size=(96, 128),
                     show_progress=False)
    for rel in ('annotations/instances_train.json',
                'annotations/instances_val.json'):
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        assert digest == _STANDARD_SHA256[rel], rel
    with open(root / 'meta.json') as f:
        meta = json.load(f)
    assert meta.pop('difficulty') == 'standard'
    old_meta = (json.dumps(meta, indent=1) + '\n').encode()
    assert hashlib.sha256(old_meta).hexdigest() == \
        _STANDARD_SHA256['meta.json']
    pixels = hashlib.sha256()
    for split in ('train', 'val'):
        for name in sorted(os.listdir(root / split)):
            img = cv2.imread(str(root / split / name))
            pixels.update(f'{split}/{name}'.encode())
            pixels.update(img.tobytes())
    assert pixels.hexdigest() == _STANDARD_SHA256['pixels']


# /proc/stat as Linux writes it (user nice system idle iowait irq softirq
# steal guest guest_nice), two CPUs; the all-CPU line and the rest are not
# read.
STAT_BEFORE = '''cpu  300 0 100 1500 100 0 0 0 0 0
cpu0 100 0 50 1000 50 0 0 0 0 0
cpu1 200 0 50 500 50 0 0 0 0 0
intr 12345 0 0
ctxt 6789
btime 1700000000
'''
# 100 ticks later: cpu0 idle throughout (90 idle + 10 iowait); cpu1 busy
# with another job (user 75, system 25), plus 40 guest ticks that are
# already counted in user.
STAT_AFTER = '''cpu  375 0 125 1590 110 0 0 0 40 0
cpu0 100 0 50 1090 60 0 0 0 0 0
cpu1 275 0 75 500 50 0 0 0 40 0
intr 23456 0 0
ctxt 7890
btime 1700000000
'''


def test_idle_cpus_from_proc_stat(load_tool):
    demo = load_tool('demo')
    assert demo.idle_cpus(STAT_BEFORE, STAT_AFTER) == pytest.approx(1.0)
    # only the CPUs this process may run on
    assert demo.idle_cpus(STAT_BEFORE, STAT_AFTER, [0]) == pytest.approx(1.0)
    assert demo.idle_cpus(STAT_BEFORE, STAT_AFTER, [1]) == pytest.approx(0.0)
    # half busy: user 50 of 100 ticks
    half = STAT_AFTER.replace('cpu1 275 0 75 500 50', 'cpu1 250 0 50 550 50')
    assert demo.idle_cpus(STAT_BEFORE, half) == pytest.approx(1.5)
    # Old kernels write only user nice system idle.
    short_before = 'cpu0 100 0 50 1000\ncpu1 200 0 50 500\n'
    short_after = 'cpu0 110 0 50 1090\ncpu1 290 0 60 500\n'
    assert demo.idle_cpus(short_before, short_after) == pytest.approx(0.9)
    # A CPU that did not tick, went offline or was reset is left out;
    # nothing left to judge by gives None.
    assert demo.idle_cpus(STAT_BEFORE, STAT_BEFORE) is None
    offline = '\n'.join(line for line in STAT_AFTER.splitlines()
                        if not line.startswith('cpu1'))
    assert demo.idle_cpus(STAT_BEFORE, offline) == pytest.approx(1.0)
    assert demo.idle_cpus(STAT_BEFORE, STAT_AFTER, [7]) is None
    reset = STAT_AFTER.replace('cpu0 100 0 50 1090', 'cpu0 1 0 1 10')
    assert demo.idle_cpus(STAT_BEFORE, reset) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"'cpu0 1 2': expected at least 4"):
        demo.idle_cpus('cpu0 1 2\n', STAT_AFTER)


def test_free_cores_measures_now_and_falls_back(tmp_path, load_tool):
    demo = load_tool('demo')
    cpus = len(os.sched_getaffinity(0))
    assert 1 <= demo.free_cores(interval=0.05) <= cpus
    # No /proc/stat (or a frozen one: nothing ticks): the load average.
    frozen = tmp_path / 'stat'
    frozen.write_text(STAT_BEFORE)
    for path in (frozen, tmp_path / 'missing'):
        # the load average may move while we look: read it on both sides
        expected = {_cores_by_load(cpus)}
        chosen = demo.free_cores(interval=0, stat_path=str(path))
        expected.add(_cores_by_load(cpus))
        assert chosen in expected


def _cores_by_load(cpus):
    return max(1, min(cpus, int(cpus - os.getloadavg()[0] + 0.5)))
