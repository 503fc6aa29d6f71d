# Copyright (c) mmattn contributors. All rights reserved.
"""mmattn through OpenMMLab's `mim` (openmim 0.3.9, docs/mim.md): the
model-index metadata, the mmattn/.mim folder setup.py makes, and `mim
search/train/test` run as a user runs them on the tiny configs and
generated data (1-2 iterations each)."""
import filecmp
import fnmatch
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import yaml
from mmengine.config import Config

import mmattn
from mmattn.segmentation.score_file import dump_mask_scores

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIM = osp.join(osp.dirname(sys.executable), 'mim')
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
# Listed by the metafiles of these folders.
METAFILE_DIRS = ('harnet', 'sal', 'mask_scoring')
# Not model-zoo rows, so not in the model index: normalisation variants of
# a listed row (SyncBN/BN), test-server runs of a listed row (COCO test-dev,
# VOC test) and templates for your own data.
UNLISTED_PATTERNS = ('*_syncbn*', '*_bn_*', '*test-dev*', '*voc12-test*',
                     '*custom*')
# What tools/test.py-style runs need from a clean process.
SUBPROCESS_ENV = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')

needs_mim = pytest.mark.skipif(
    not osp.isfile(MIM),
    reason='openmim is not installed in this environment: '
    'pip install --no-deps -r requirements/mim.txt (tools/setup_env.sh '
    'does it)')


def _load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _metafiles():
    index = _load_yaml(osp.join(REPO_ROOT, 'model-index.yml'))
    return [osp.join(REPO_ROOT, p) for p in index['Import']]


def _models():
    return [
        model for path in _metafiles()
        for model in (_load_yaml(path).get('Models') or [])
    ]


MODELS = _models()


def test_model_index_imports_exactly_the_metafiles():
    imported = sorted(osp.relpath(p, REPO_ROOT) for p in _metafiles())
    expected = sorted(
        osp.join('configs', d, 'metafile.yml') for d in METAFILE_DIRS)
    assert imported == expected
    for path in _metafiles():
        assert osp.isfile(path), path


def test_metafiles_pass_the_modelindex_checker():
    """openmim reads the index with the `modelindex` package; its checker
    reports missing mandatory fields and README paths that do not exist."""
    load = pytest.importorskip('modelindex.load_model_index').load
    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    assert index.check(silent=True) == []
    assert sorted(m.name for m in index.models) == sorted(m['Name']
                                                          for m in MODELS)


def test_every_model_names_a_collection_of_its_metafile():
    for path in _metafiles():
        meta = _load_yaml(path)
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in collections, (path, model['Name'])
        for collection in meta['Collections']:
            assert collection['Paper']['Title'] and \
                collection['Paper']['URL'].startswith('https://')
            for key in ('Training Data', 'Training Techniques',
                        'Architecture'):
                assert collection['Metadata'].get(key), (collection['Name'],
                                                         key)


def test_model_names_are_the_config_names_and_unique():
    names = [m['Name'] for m in MODELS]
    assert len(names) == len(set(names))
    for model in MODELS:
        assert osp.splitext(osp.basename(model['Config']))[0] == \
            model['Name']


def test_paper_numbers_only_and_no_weights():
    """We publish no checkpoints: no `Weights`, so `mim download` has
    nothing to fetch. Every listed COCO/VOC config carries the paper's
    numbers; the synthetic stand-ins carry none."""
    for model in MODELS:
        assert 'Weights' not in model, model['Name']
        paper_row = model['Metadata']['Paper Row']
        has_results = bool(model.get('Results'))
        no_number = ('synthetic' in model['Name'] or 'no number' in paper_row
                     or paper_row.startswith('none'))
        assert has_results != no_number, model['Name']


def test_a_few_results_are_the_papers():
    by_name = {m['Name']: m for m in MODELS}

    def metrics(name, index=0):
        return by_name[name]['Results'][index]['Metrics']

    # HAR-Net Table I, SA(1-2-5-2-1); Table IV, R-101, HA w ms
    assert metrics('harnet_sa-1-2-5-2-1_r50_fpn_600_1x_coco')['box AP'] == \
        36.6
    assert metrics('harnet_r101_fpn_1x_coco_mstest')['box AP'] == 43.1
    # SAL Table VI, ResNet101 P5: 66.1 with MS + CRF, 65.5 without;
    # Table III (VOC test) 66.6
    p5 = 'salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321'
    assert metrics(p5) == {'mIoU': 65.5, 'mIoU(ms+crf)': 66.1}
    assert metrics(p5, 1) == {'mIoU(ms+crf)': 66.6}
    # SAL Table IX, S5
    assert metrics('salnet-s5_vgg16-asppl_1xb7-27k_voc12semi-321x321') == \
        {'mIoU': 66.2}


def test_every_config_of_the_metafile_folders_is_listed():
    listed = {osp.normpath(m['Config']) for m in MODELS}
    on_disk = set()
    for folder in METAFILE_DIRS:
        for path in glob.glob(osp.join(REPO_ROOT, 'configs', folder, '*.py')):
            name = osp.basename(path)
            if any(fnmatch.fnmatch(name, p) for p in UNLISTED_PATTERNS):
                continue
            on_disk.add(osp.join('configs', folder, name))
    assert on_disk - listed == set(), 'add these to the metafile'
    assert listed - on_disk == set(), 'listed but missing'


@pytest.mark.parametrize('model', MODELS, ids=[m['Name'] for m in MODELS])
def test_listed_config_loads(model):
    path = osp.join(REPO_ROOT, model['Config'])
    assert mmattn.__version__  # registered before the config is read
    try:
        cfg = Config.fromfile(path)
    except ImportError as error:
        # The SE-backbone configs need mmpretrain, an optional extra.
        if 'mmpretrain' not in str(error):
            raise
        cfg = Config.fromfile(path, import_custom_modules=False)
        assert 'mmpretrain.models' in cfg.custom_imports['imports']
    assert 'mmattn' in cfg.custom_imports['imports']
    assert cfg.model.type


def test_editable_install_links_the_mim_folder():
    """`pip install -e .` (setup.py's editable_wheel) links
    mmattn/.mim/{configs,tools,model-index.yml} to the checkout."""
    package_dir = osp.dirname(osp.realpath(mmattn.__file__))
    if package_dir != osp.join(REPO_ROOT, 'mmattn'):
        pytest.skip('mmattn is not installed from this checkout')
    mim_dir = osp.join(package_dir, '.mim')
    assert osp.isdir(mim_dir), (
        'mmattn/.mim is missing: reinstall with `pip install --no-deps '
        '--no-build-isolation -e .` or `bash tools/setup_env.sh`')
    for item in MIM_ITEMS:
        link = osp.join(mim_dir, item)
        assert osp.islink(link), link
        assert osp.realpath(link) == osp.join(REPO_ROOT, item)
    assert osp.isfile(
        osp.join(mim_dir, 'configs', 'harnet', 'harnet_r18_tiny_synthetic.py'))


@pytest.fixture(scope='module')
def mim_site(tmp_path_factory):
    """mmattn installed as a wheel (the copy path of setup.py) into a fresh
    folder, built from a copy of the source tree so the checkout is left as
    it is. Prepend it to PYTHONPATH to make mim see this installation.

    Why not the editable install: mim 0.3.9 finds a package's files at
    `<pkg_resources location>/<module>`; for a PEP 660 editable install that
    is site-packages/mmattn, which does not exist (docs/mim.md)."""
    src = tmp_path_factory.mktemp('mmattn_src')
    ignore = shutil.ignore_patterns('__pycache__', '*.py[cod]', '.mim')
    for name in ('setup.py', 'pyproject.toml', 'README.md', 'LICENSE',
                 'MANIFEST.in', 'requirements.txt') + MIM_ITEMS[2:]:
        shutil.copy(osp.join(REPO_ROOT, name), src / name)
    for name in ('mmattn', 'requirements') + MIM_ITEMS[:2]:
        shutil.copytree(osp.join(REPO_ROOT, name), src / name, ignore=ignore)
    target = str(tmp_path_factory.mktemp('mmattn_site'))
    result = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps',
        '--no-build-isolation', '--no-index', '--no-compile',
        '--disable-pip-version-check', '--target', target,
        str(src)
    ],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + \
        result.stderr[-2000:]
    return target


def test_wheel_carries_copies_in_mim_folder(mim_site):
    mim_dir = osp.join(mim_site, 'mmattn', '.mim')
    for item in MIM_ITEMS:
        path = osp.join(mim_dir, item)
        assert osp.exists(path) and not osp.islink(path), path
    assert filecmp.cmp(
        osp.join(mim_dir, 'model-index.yml'),
        osp.join(REPO_ROOT, 'model-index.yml'),
        shallow=False)
    for model in MODELS:
        assert osp.isfile(osp.join(mim_dir, model['Config'])), model['Name']
    assert osp.isfile(osp.join(mim_dir, 'tools', 'train.py'))
    assert not glob.glob(
        osp.join(mim_dir, '**', '__pycache__'), recursive=True)


def _mim(args, cwd=REPO_ROOT, site=None, timeout=600):
    env = dict(SUBPROCESS_ENV)
    if site is not None:
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (site, env.get('PYTHONPATH')) if p)
    result = subprocess.run(
        [MIM] + args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@needs_mim
def test_mim_search_lists_our_models(mim_site, tmp_path):
    """`mim search` is offline: it reads the installed
    mmattn/.mim/model-index.yml."""
    output = _mim(['search', 'mmattn', '--valid-config'],
                  cwd=str(tmp_path),
                  site=mim_site)
    for model in MODELS:
        assert f"'{model['Name']}'" in output, model['Name']
    output = _mim([
        'search', 'mmattn', '--config', 'harnet_r50_fpn_1x_coco',
        '--display-width', '200'
    ],
                  cwd=str(tmp_path),
                  site=mim_site)
    assert 'coco/box_ap' in output and '38.9' in output


def _det_options(data_root, max_iters):
    root = data_root + '/'
    options = [
        f'train_cfg.max_iters={max_iters}',
        'train_cfg.val_begin=100000',  # no validation: train/test are tested
        'default_hooks.checkpoint.interval=100000',  # save_last saves it
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        'model.test_cfg.score_thr=0.0',  # untrained: let the metric see boxes
        'model.test_cfg.nms_pre=50',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={root}', f'{loader}.batch_size=2',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return options


@needs_mim
def test_mim_train_and_test_mmdet_with_our_config(synthetic_det_root,
                                                  tmp_path):
    config = 'configs/harnet/harnet_r18_tiny_synthetic.py'
    work_dir = str(tmp_path / 'work')
    options = _det_options(synthetic_det_root, 2)
    output = _mim(
        ['train', 'mmdet', config, '--work-dir', work_dir, '--cfg-options'] +
        options)
    assert 'mmdet/.mim/tools/train.py' in output
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint), output[-3000:]

    output = _mim([
        'test', 'mmdet', config, '--checkpoint', checkpoint, '--work-dir',
        work_dir, '--cfg-options'
    ] + options)
    assert 'mmdet/.mim/tools/test.py' in output
    assert 'coco/bbox_mAP' in output


@needs_mim
def test_mim_train_mmattn_finds_the_config_by_name(mim_site,
                                                   synthetic_det_root,
                                                   tmp_path):
    work_dir = str(tmp_path / 'work')
    output = _mim(
        [
            'train', 'mmattn', 'harnet_r18_tiny_synthetic.py', '--work-dir',
            work_dir, '--cfg-options'
        ] + _det_options(synthetic_det_root, 1),
        cwd=str(tmp_path),
        site=mim_site)
    installed = osp.join(mim_site, 'mmattn', '.mim')
    assert osp.join(installed, 'configs', 'harnet',
                    'harnet_r18_tiny_synthetic.py') in output
    assert osp.join(installed, 'tools', 'train.py') in output
    assert osp.isfile(osp.join(work_dir, 'iter_1.pth')), output[-3000:]


def _seg_options(data_root, score_file, max_iters, size=64):
    options = [
        f'train_cfg.max_iters={max_iters}',
        'train_cfg.val_begin=100000',
        'default_hooks.checkpoint.interval=100000',
        f'train_dataloader.dataset.score_file={score_file}',
        # train at 64 px: indices 2 and 3 of the train pipeline are
        # RandomResize and RandomCrop
        f'model.data_preprocessor.size=({size},{size})',
        f'train_dataloader.dataset.pipeline.2.scale=({size},{size})',
        f'train_dataloader.dataset.pipeline.3.crop_size=({size},{size})',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={data_root}',
            f'{loader}.batch_size=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    return options


@needs_mim
def test_mim_train_and_test_mmseg_with_our_config(synthetic_seg_root,
                                                  tmp_path):
    config = 'configs/sal/salnet_r18_tiny_synthetic.py'
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    pipeline = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline[2:4] == ['RandomResize', 'RandomCrop']
    # every proxy passes the config's tau: the selection loss sees them all
    with open(
            osp.join(synthetic_seg_root, 'ImageSets', 'Segmentation',
                     'train.txt')) as f:
        ids = f.read().split()
    score_file = str(tmp_path / 'mask_scores.json')
    dump_mask_scores(
        {i: dict(AC=0.9, CD=1.0, SC=0.9, P=0.9, SF=0.9)
         for i in ids}, score_file)

    work_dir = str(tmp_path / 'work')
    options = _seg_options(synthetic_seg_root, score_file, 2)
    output = _mim(
        ['train', 'mmseg', config, '--work-dir', work_dir, '--cfg-options'] +
        options)
    assert 'mmseg/.mim/tools/train.py' in output
    checkpoint = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(checkpoint), output[-3000:]

    output = _mim([
        'test', 'mmseg', config, '--checkpoint', checkpoint, '--work-dir',
        work_dir, '--cfg-options'
    ] + options)
    assert 'mmseg/.mim/tools/test.py' in output
    assert 'mIoU' in output
