# Copyright (c) mmattn contributors. All rights reserved.
"""PASCAL VOC test-set submission files (docs/leaderboards.md):
VOCSubmissionMetric on its own, then tools/test.py on a generated test split
without ground truth."""
import os
import os.path as osp
import shutil
import tarfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from PIL import Image

# Imported explicitly: registers VOCSubmissionMetric whether or not
# mmattn.segmentation imports it.
from mmattn.segmentation.evaluation import VOCSubmissionMetric
from mmattn.synthetic import voc_palette
from mmseg.datasets import PascalVOCDataset
from mmseg.structures import SegDataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                       'salnet_r18_tiny_synthetic.py')
TEST_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                       'salnet-p5_r101-d8_voc12-test.py')
RESULTS = osp.join('results', 'VOC2012', 'Segmentation', 'comp6_test_cls')
VOC_META = dict(PascalVOCDataset.METAINFO)
# Size of the image rewritten to a non-square shape: the PNG must come back
# at this size, not at the network's input size.
ODD_SIZE = (120, 72)  # (w, h)


def _sample(image_id, mask):
    sample = SegDataSample(metainfo=dict(img_path=f'/x/{image_id}.jpg'))
    sample.pred_sem_seg = PixelData(data=torch.as_tensor(mask)[None])
    return sample.to_dict()


def _metric(output_dir, **kwargs):
    metric = VOCSubmissionMetric(output_dir=str(output_dir), **kwargs)
    metric.dataset_meta = VOC_META
    return metric


def test_metric_writes_palette_pngs_in_the_server_layout(tmp_path):
    masks = {
        '2008_000001': np.array([[0, 1, 2], [20, 15, 0]], np.int64),
        '2008_000002': np.full((4, 2), 7, np.int64),
    }
    metric = _metric(tmp_path, archive='results.tgz')
    metric.process({}, [_sample(i, m) for i, m in masks.items()])
    assert metric.evaluate(len(masks)) == {'voc_submission/num_images': 2}

    folder = tmp_path / RESULTS
    assert sorted(os.listdir(folder)) == ['2008_000001.png', '2008_000002.png']
    palette = voc_palette()
    for image_id, mask in masks.items():
        image = Image.open(folder / f'{image_id}.png')
        assert image.mode == 'P'
        np.testing.assert_array_equal(np.asarray(image), mask)
        # the VOC colour map: 1 = aeroplane = (128, 0, 0), 15 = person
        colours = np.array(image.getpalette()).reshape(-1, 3)
        np.testing.assert_array_equal(colours[:256], palette)
        assert tuple(colours[1]) == (128, 0, 0)
        assert tuple(colours[15]) == (192, 128, 128)

    with tarfile.open(tmp_path / 'results.tgz') as tar:
        names = tar.getnames()
        assert names[:4] == [
            'results', 'results/VOC2012', 'results/VOC2012/Segmentation',
            'results/VOC2012/Segmentation/comp6_test_cls'
        ]
        assert sorted(names[4:]) == [
            f'{RESULTS}/2008_000001.png', f'{RESULTS}/2008_000002.png'
        ]
        packed = tar.extractfile(f'{RESULTS}/2008_000001.png').read()
    assert packed == (folder / '2008_000001.png').read_bytes()


def test_metric_refuses_to_overwrite_unless_asked(tmp_path):
    first = _metric(tmp_path / 'run', archive='results.tar')
    first.process({}, [_sample('a', np.zeros((2, 2), np.int64))])
    first.evaluate(1)
    with pytest.raises(FileExistsError, match='comp6_test_cls'):
        _metric(tmp_path / 'run')

    second = _metric(tmp_path / 'run', archive='results.tar', overwrite=True)
    second.process({}, [_sample('b', np.ones((2, 2), np.int64))])
    second.evaluate(1)
    # the archive holds this run's images only, not a.png left from before
    with tarfile.open(tmp_path / 'run' / 'results.tar') as tar:
        assert [n for n in tar.getnames()
                if n.endswith('.png')] == [f'{RESULTS}/b.png']
    assert not (tmp_path / 'run' / 'results.tar.partial').exists()

    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'results.tgz').write_bytes(b'')
    with pytest.raises(FileExistsError, match='results.tgz'):
        _metric(tmp_path / 'other', archive='results.tgz')

    # comp5 goes to its own folder, so it does not collide with comp6
    comp5 = _metric(tmp_path / 'run', competition='comp5')
    comp5.process({}, [_sample('a', np.zeros((2, 2), np.int64))])
    assert os.listdir(tmp_path / 'run' / 'results' / 'VOC2012' /
                      'Segmentation' / 'comp5_test_cls') == ['a.png']


@pytest.mark.parametrize('kwargs, message', [
    (dict(competition='comp4'), "competition must be one of .*'comp4'"),
    (dict(archive='results.zip'), "archive must be .*'results.zip'"),
    (dict(archive='sub/results.tgz'), 'archive must be a file name'),
    (dict(output_dir=''), 'output_dir must be a non-empty path'),
])
def test_metric_bad_arguments_name_the_value(tmp_path, kwargs, message):
    kwargs = dict(dict(output_dir=str(tmp_path)), **kwargs)
    with pytest.raises(ValueError, match=message):
        VOCSubmissionMetric(**kwargs)


def test_metric_rejects_indices_outside_the_classes(tmp_path):
    metric = _metric(tmp_path)
    with pytest.raises(ValueError, match='bad_one.*0..20'):
        metric.process({}, [_sample('bad_one', np.array([[0, 21]]))])


def test_voc_test_config_writes_a_comp6_submission():
    cfg = Config.fromfile(TEST_CONFIG)
    dataset = cfg.test_dataloader.dataset
    assert dataset.type == 'PascalVOCDataset'
    assert dataset.ann_file == 'ImageSets/Segmentation/test.txt'
    assert [step['type'] for step in dataset.pipeline
            ] == ['LoadImageFromFile', 'PackSegInputs']
    from mmengine.registry import DefaultScope
    from mmseg.registry import METRICS

    # overwrite=True: a real submission in work_dirs must not fail the test
    with DefaultScope.overwrite_default_scope('mmseg'):
        metric = METRICS.build(dict(cfg.test_evaluator, overwrite=True))
    assert isinstance(metric, VOCSubmissionMetric)
    assert metric.results_dir == osp.join(
        'work_dirs/salnet-p5_r101-d8_voc12-test', RESULTS)
    assert metric.archive_path == osp.join(
        'work_dirs/salnet-p5_r101-d8_voc12-test', 'results.tgz')
    train = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'sal',
                 'salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py'))
    assert cfg.model == train.model


@pytest.fixture(scope='module')
def voc_test_run(synthetic_seg_root, tmp_path_factory, run_tool):
    """A test split without ground truth (one image made non-square), a
    random-init tiny SAL-Net, and one tools/test.py run."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    tmp = tmp_path_factory.mktemp('voc_test')
    data_root = tmp / 'VOC2012'
    (data_root / 'JPEGImages').mkdir(parents=True)
    (data_root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    with open(
            osp.join(synthetic_seg_root, 'ImageSets', 'Segmentation',
                     'val.txt')) as f:
        image_ids = f.read().split()
    for image_id in image_ids:
        shutil.copy(
            osp.join(synthetic_seg_root, 'JPEGImages', f'{image_id}.jpg'),
            data_root / 'JPEGImages')
    odd = data_root / 'JPEGImages' / f'{image_ids[0]}.jpg'
    Image.open(odd).resize(ODD_SIZE).save(odd)
    (data_root / 'ImageSets' / 'Segmentation' /
     'test.txt').write_text('\n'.join(image_ids) + '\n')

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    model.init_weights()
    checkpoint = str(tmp / 'random_init.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'dataset_meta': VOC_META
            }
        }, checkpoint)

    # What the VOC test config adds to a model config; custom_imports and
    # the pipeline cannot be given through --cfg-options. The Resize makes
    # the network see another size than the original.
    config = tmp / 'tiny_voc_test.py'
    config.write_text(f"""
_base_ = [{TINY_CONFIG!r}]
custom_imports = dict(
    imports=['mmattn'],
    allow_failed_imports=False)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackSegInputs')
]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True, type='VOCSubmissionMetric', output_dir='unset')
""")
    output_dir = tmp / 'submission'
    options = [
        f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.dataset.ann_file=ImageSets/Segmentation/test.txt',
        'test_dataloader.batch_size=1',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'test_evaluator.output_dir={output_dir}',
        'test_evaluator.archive=results.tgz',
    ]
    result = run_tool([
        'tools/test.py',
        str(config), checkpoint, '--work-dir',
        str(tmp / 'work'), '--cfg-options'
    ] + options)
    log = result.stdout + result.stderr
    return dict(
        data_root=data_root,
        image_ids=image_ids,
        config=str(config),
        checkpoint=checkpoint,
        output_dir=output_dir,
        log=log)


def test_tools_test_writes_one_palette_png_per_test_image(voc_test_run):
    assert not osp.exists(voc_test_run['data_root'] / 'SegmentationClass')
    folder = voc_test_run['output_dir'] / RESULTS
    image_ids = voc_test_run['image_ids']
    assert sorted(os.listdir(folder)) == sorted(f'{i}.png' for i in image_ids)
    assert 'voc_submission/num_images: ' + str(len(image_ids)) in \
        voc_test_run['log']
    # IoUMetric would print aAcc (and need ground truth)
    assert 'aAcc' not in voc_test_run['log']
    classes = set()
    for image_id in image_ids:
        png = Image.open(folder / f'{image_id}.png')
        jpg = Image.open(voc_test_run['data_root'] / 'JPEGImages' /
                         f'{image_id}.jpg')
        assert png.mode == 'P'
        assert png.size == jpg.size
        np.testing.assert_array_equal(
            np.array(png.getpalette()).reshape(-1, 3)[:256], voc_palette())
        values = np.unique(np.asarray(png))
        assert values.min() >= 0 and values.max() <= 20
        classes.update(values.tolist())
    assert Image.open(folder / f'{image_ids[0]}.png').size == ODD_SIZE
    # an untrained model still spreads its argmax over several classes, so
    # comparing with inference below is not comparing two blank maps
    assert len(classes) >= 2
    with tarfile.open(voc_test_run['output_dir'] / 'results.tgz') as tar:
        assert sorted(n for n in tar.getnames() if n.endswith('.png')) == \
            sorted(f'{RESULTS}/{i}.png' for i in image_ids)


def test_written_pngs_are_mmseg_inference(voc_test_run):
    from mmengine.registry import DefaultScope
    from mmseg.apis import inference_model, init_model

    folder = voc_test_run['output_dir'] / RESULTS
    # init_model sets the default scope; keep it from leaking out
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(
            voc_test_run['config'], voc_test_run['checkpoint'], device='cpu')
        for image_id in voc_test_run['image_ids']:
            result = inference_model(
                model,
                str(voc_test_run['data_root'] / 'JPEGImages' /
                    f'{image_id}.jpg'))
            expected = result.pred_sem_seg.data[0].numpy()
            written = np.asarray(Image.open(folder / f'{image_id}.png'))
            np.testing.assert_array_equal(written, expected)
