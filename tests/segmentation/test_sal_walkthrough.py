# Copyright (c) mmattn contributors. All rights reserved.
"""docs/sal_walkthrough.md, executed as written on generated data.

The walk-through's code blocks are read from the page itself (each one is
preceded by ``<!-- walkthrough: NAME -->``); only the paths are replaced
(``data/my_data`` by a copy of the generated folder, ``work_dirs/my_data``
by a temporary work dir) and, for speed, the R-101 model is swapped for the
tiny R-18 of ``configs/sal/salnet_r18_tiny_synthetic.py``, and the
scorer and SAL-Net train for one epoch / two iterations. The generated
data uses VOC label ids 1..4 for four shapes, so the run takes the page's
"your own classes" route with the shape names: five classes, four tags.
The page's steps run in order, then its first command, the pipeline, with
the config of step 4. A renamed flag, a changed default, a variable the
page tells you to edit that the template lacks, or a step that stops
working fails here.
"""
import ast
import contextlib
import csv
import io
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmattn.segmentation.score_file import (load_mask_score_file,
                                            load_mask_scores)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO_ROOT, 'docs', 'sal_walkthrough.md')
TEMPLATE = osp.join(REPO_ROOT, 'configs', 'sal',
                    'salnet-p5_r101-d8_custom-folder.py')
# The template's parent: copies outside configs/sal/ need its full path.
P5_CONFIG = osp.join(REPO_ROOT, 'configs', 'sal',
                     'salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py')
TINY = osp.join(REPO_ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')

_BLOCK = re.compile(r'<!-- walkthrough: ([\w-]+) -->\n```(\w+)\n(.*?)\n```',
                    re.DOTALL)


def doc_blocks(doc: str = DOC) -> Dict[str, str]:
    with open(doc) as f:
        text = f.read()
    return {name: body for name, _, body in _BLOCK.findall(text)}


def doc_section(name: str) -> str:
    with open(DOC) as f:
        text = f.read()
    match = re.search(
        f'<!-- walkthrough: {name} -->(.*?)<!-- /walkthrough: {name} -->',
        text, re.DOTALL)
    assert match, f'section {name} not found in {DOC}'
    return match.group(1)


def top_level_assignments(source: str) -> Dict[str, ast.Assign]:
    """Module-level ``name = value`` statements (value: the AST node)."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, node)
    return found


def set_assignments(source: str, edits: str) -> str:
    """Replace, in ``source``, the statement assigning each name that
    ``edits`` assigns (what "edit the block" means), keeping the rest."""
    lines = source.split('\n')
    targets = top_level_assignments(source)
    replacements = []
    for name, node in top_level_assignments(edits).items():
        assert name in targets, (
            f'the walk-through edits {name!r}, which is not assigned in the '
            'file it edits')
        old = targets[name]
        new_text = ast.get_source_segment(edits, node)
        replacements.append((old.lineno, old.end_lineno, new_text))
    for start, end, new_text in sorted(replacements, reverse=True):
        lines[start - 1:end] = new_text.split('\n')
    return '\n'.join(lines)


def substitute(text: str, mapping: Dict[str, str]) -> str:
    for old in sorted(mapping, key=len, reverse=True):
        assert old in text, f'{old!r} no longer appears in:\n{text}'
        text = text.replace(old, mapping[old])
    return text


def run_shell(command: str, cwd: str = REPO_ROOT) -> str:
    env = dict(
        os.environ,
        # `python` in the page must be the environment's interpreter.
        PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONWARNINGS='ignore')
    result = subprocess.run(['bash', '-c', command],
                            cwd=cwd,
                            capture_output=True,
                            text=True,
                            timeout=600,
                            env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f'{command}\n{output[-4000:]}'
    return output


def run_python(snippet: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, DOC, 'exec'), {'__name__': '__walkthrough__'})
    return out.getvalue()


def shape_classes(data_root: str) -> tuple:
    """The generated data's class set: VOC ids 1..4 drawn as shapes."""
    with open(osp.join(data_root, 'meta.json')) as f:
        meta = json.load(f)
    appearance = meta['class_appearance']
    names = [appearance[str(k)]['shape'] for k in meta['classes']]
    assert meta['classes'] == list(range(1, len(names) + 1))
    return ('background', *names)


def scorer_variables(blocks: Dict[str, str]) -> Dict[str, str]:
    """The shell variables step 2 sets (``NAME=value`` lines)."""
    found = dict(
        re.findall(r'^(\w+)=(\S+)$', blocks['train-scorer'], re.MULTILINE))
    assert 'SCORER_CONFIG' in found
    return found


def shell_argv(block: str, variables: Dict[str, str]) -> list:
    """The command of a block (assignment lines dropped) as the shell
    passes it, with ``$NAME`` expanded and ``$(ls PATTERN)`` kept as the
    pattern."""
    command = '\n'.join(line for line in block.split('\n')
                        if not re.match(r'^\w+=', line))
    command = re.sub(r'\$\(ls (\S+)\)', r'\1', command)
    for name, value in variables.items():
        command = command.replace(f'${name}', value)
    return shlex.split(command.replace('\\\n', ' '))


def test_walkthrough_page_matches_template_and_tools():
    blocks = doc_blocks()
    for name in ('pipeline', 'tags-from-csv', 'tags-from-proxies',
                 'score-coarse', 'synthesize', 'train-scorer', 'score-fine',
                 'choose-tau', 'copy-template', 'config-edits',
                 'config-edits-coarse', 'train', 'test'):
        assert name in blocks, f'block {name} missing from {DOC}'
    with open(TEMPLATE) as f:
        template = f.read()
    assigned = top_level_assignments(template)

    # Every row of the variable table is in the template's edit block with
    # the default the table states.
    rows = re.findall(r'^\| `(\w+)` \| `?(.*?)`? \|',
                      doc_section('template-variables'), re.MULTILINE)
    assert len(rows) >= 10
    for name, default in rows:
        assert name in assigned, f'{name} is documented but not in {TEMPLATE}'
        assert ast.literal_eval(assigned[name].value) == \
            ast.literal_eval(default), name
    for block in ('config-edits', 'config-edits-coarse'):
        for name in top_level_assignments(blocks[block]):
            assert name in assigned, (block, name)

    # Step 2's flags and keys exist, and the scorer is scored with the
    # config it was trained with (a checkpoint fits only that one).
    variables = scorer_variables(blocks)
    tool_globals = {'__name__': 'score_masks_tool'}
    with open(osp.join(REPO_ROOT, 'tools', 'score_masks.py')) as f:
        exec(compile(f.read(), 'tools/score_masks.py', 'exec'), tool_globals)
    argv = shell_argv(blocks['score-fine'], variables)
    assert argv[:2] == ['python', 'tools/score_masks.py']
    args = tool_globals['parse_args'](argv[2:])
    assert args.config and args.checkpoint and args.num_classes == 21
    assert osp.isfile(osp.join(REPO_ROOT, args.config))

    argv = shell_argv(blocks['train-scorer'], variables)
    assert argv[:2] == ['python', 'tools/train.py']
    assert argv[2] == args.config
    scorer_cfg = Config.fromfile(osp.join(REPO_ROOT, argv[2]))
    options = argv[argv.index('--cfg-options') + 1:]
    for option in options:
        key, _ = option.split('=', 1)
        node = scorer_cfg
        for part in key.split('.'):
            assert part in node, f'{key} is not a key of {argv[2]}'
            node = node[part]
    assert scorer_cfg.default_hooks.checkpoint.save_best == \
        'mask_score/pearson'  # the page names the best_*.pth file after it

    # The pipeline's flags exist; its default scorer is step 2's.
    from mmattn.segmentation.pipeline import parse_args as pipeline_args
    argv = shell_argv(blocks['pipeline'], {})
    assert argv[:2] == ['python', 'tools/sal_pipeline.py']
    args = pipeline_args(argv[2:])
    assert args.data_root == 'data/my_data'
    assert args.sal_config == 'configs/sal/my_data.py'
    assert osp.relpath(pipeline_args(['d', '--work-dir', 'w']).scorer_config,
                       REPO_ROOT) == variables['SCORER_CONFIG']


def test_walkthrough_end_to_end(synthetic_seg_root, tmp_path, load_tool):
    blocks = doc_blocks()
    data_root = str(tmp_path / 'my_data')
    shutil.copytree(synthetic_seg_root, data_root)
    classes = shape_classes(data_root)
    num_fg = len(classes) - 1
    paths = {'data/my_data': data_root}

    # Tags: the user's CSV, turned into cls_labels.npy by the page's code.
    original = np.load(
        osp.join(data_root, 'cls_labels.npy'), allow_pickle=True).item()
    os.remove(osp.join(data_root, 'cls_labels.npy'))
    with open(osp.join(data_root, 'tags.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['image_id', 'tags'])
        for image_id, vector in original.items():
            writer.writerow([
                image_id,
                ' '.join(classes[k + 1] for k in np.flatnonzero(vector))
            ])
    snippet = set_assignments(
        substitute(blocks['tags-from-csv'], paths), f'classes = {classes!r}')
    assert f'{len(original)} images tagged' in run_python(snippet)
    tags = np.load(
        osp.join(data_root, 'cls_labels.npy'), allow_pickle=True).item()
    assert sorted(tags) == sorted(original)
    for image_id, vector in tags.items():
        assert vector.dtype == np.float32 and vector.shape == (num_fg, )
        np.testing.assert_array_equal(vector, original[image_id][:num_fg])

    # The proxy-derived tags cover exactly the classes in each proxy mask.
    run_python(
        set_assignments(
            substitute(blocks['tags-from-proxies'], paths),
            f'num_classes = {len(classes)}'))
    from_proxies = np.load(
        osp.join(data_root, 'cls_labels_from_proxies.npy'),
        allow_pickle=True).item()
    from PIL import Image
    for image_id, vector in from_proxies.items():
        mask = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassProxy',
                         image_id + '.png')))
        present = {int(v) for v in np.unique(mask) if 1 <= v < len(classes)}
        assert set((np.flatnonzero(vector) + 1).tolist()) == present

    # Step 1: coarse scores, the page's command.
    command = substitute(
        blocks['score-coarse'], {
            **paths, '--num-classes 21': f'--num-classes {len(classes)}'
        })
    output = run_shell(command)
    coarse_file = osp.join(data_root, 'mask_scores_coarse.json')
    scores = load_mask_scores(coarse_file)
    train_ids = open(osp.join(
        data_root, 'ImageSets/Segmentation/train.txt')).read().split()
    assert sorted(scores) == sorted(train_ids)
    assert all(s['SF'] is None for s in scores.values())
    passed = sum(s['SC'] >= 0.8 for s in scores.values())
    assert f'pass tau=0.8: SC {passed}/{len(train_ids)}' in output
    assert osp.isfile(osp.join(data_root, 'mask_scores_coarse_hist.png'))
    with open(osp.join(data_root, 'mask_scores_coarse_summary.json')) as f:
        assert json.load(f)['pass_SC'] == passed

    # Step 2: the scoring set (half the images held out, so that the
    # scorer's validation has targets to correlate with), the tiny scorer
    # for one epoch, fine scores with it.
    synthesize_main = load_tool('synthesize_scoring_set').main
    argv = shlex.split(
        substitute(blocks['synthesize'], {
            **paths, '--val-fraction 0.1': '--val-fraction 0.5'
        }).replace('\\\n', ' '))
    assert argv[:2] == ['python', 'tools/synthesize_scoring_set.py']
    with contextlib.redirect_stdout(io.StringIO()):
        summary = synthesize_main(argv[2:])
    assert summary['num_sources'] == len(train_ids)
    assert osp.isfile(osp.join(data_root, 'mask_scoring', 'train.json'))
    last_option = 'test_dataloader.dataset.data_root=data/my_data/mask_scoring'
    scorer_dir = str(tmp_path / 'my_scorer')
    step2 = substitute(
        blocks['train-scorer'] + '\n' + blocks['score-fine'], {
            last_option: last_option + ' train_cfg.max_epochs=1 '
            'randomness.seed=0',
        })
    step2 = substitute(step2, {
        **paths, 'work_dirs/my_scorer': scorer_dir,
        '--num-classes 21': f'--num-classes {len(classes)}'
    })
    run_shell(step2)
    fine = load_mask_score_file(osp.join(data_root, 'mask_scores.json'))
    assert sorted(fine.scores) == sorted(train_ids)
    assert all(s['SF'] == pytest.approx(s['P'] * s['CD'])
               for s in fine.scores.values())
    assert fine.meta['config'] == scorer_variables(blocks)['SCORER_CONFIG']
    assert re.fullmatch(r'best_mask_score_pearson_epoch_1\.pth',
                        osp.basename(fine.meta['checkpoint']))

    # Step 3: counts per tau, on the coarse file.
    snippet = substitute(
        blocks['choose-tau'], {
            'data/my_data/mask_scores.json': coarse_file,
            "score_key = 'SF'": "score_key = 'SC'"
        })
    output = run_python(snippet)
    assert (f'tau=0.8: {passed}/{len(train_ids)} images selected'
            in output), output

    # Step 4: copy the template and edit it as the page says. The copy lives
    # in tmp_path, so its relative _base_ is made absolute.
    config = str(tmp_path / 'my_data.py')
    run_shell(
        substitute(blocks['copy-template'],
                   {'configs/sal/my_data.py': config}))
    with open(config) as f:
        text = f.read()
    text = set_assignments(text, f'_base_ = [{P5_CONFIG!r}]')
    text = set_assignments(text, substitute(blocks['config-edits'], paths))
    text = set_assignments(text, blocks['config-edits-coarse'])
    # The shapes instead of the page's example classes; a tau that selects
    # every image, so that the selection loss is not zero.
    tau = min(s['SC'] for s in scores.values())
    text = set_assignments(text, f'classes = {classes!r}\ntau = {tau!r}')
    with open(config, 'w') as f:
        f.write(text)

    # The tiny model and a 2-iteration schedule on top of it.
    tiny = Config.fromfile(TINY)
    backbone = {'_delete_': True, **tiny.model.backbone.to_dict()}
    tiny_config = str(tmp_path / 'my_data_tiny.py')
    with open(tiny_config, 'w') as f:
        f.write(f"""_base_ = [{config!r}]
crop_size = (64, 64)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone={backbone!r},
    decode_head=dict(
        in_channels=512, channels=64, dropout_ratio=0.1,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        cls_branch=dict(channels=64, dropout_ratio=0.1)))
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

    # The config reads the score file and the tags (own class set).
    cfg = Config.fromfile(tiny_config, import_custom_modules=False)
    assert cfg.model.decode_head.num_classes == len(classes)
    assert cfg.model.decode_head.loss_decode.score_key == 'SC'
    dataset_cfg = cfg.train_dataloader.dataset
    assert dataset_cfg.type == 'WeakSegDataset'
    assert dataset_cfg.required_scores == ('SC', )
    assert dataset_cfg.metainfo == dict(classes=classes)
    assert cfg.val_dataloader.dataset.type == 'BaseSegDataset'

    # Step 5: train with the page's command, then test.
    work_dir = str(tmp_path / 'work')
    paths_run = {
        'configs/sal/my_data.py': tiny_config,
        'work_dirs/my_data': work_dir,
    }
    log = run_shell(substitute(blocks['train'], paths_run))
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth')), log[-3000:]
    losses = [float(v) for v in re.findall(r'decode\.loss_sel: ([\d.]+)', log)]
    assert len(losses) == 2 and all(v > 0 for v in losses), log[-3000:]
    assert 'decode.loss_att' in log and 'decode.acc_seg' in log
    # tau selects every image: the logged share is 1.
    assert re.findall(r'decode\.sel_frac: ([\d.]+)', log) == ['1.0000'] * 2

    log = run_shell(substitute(blocks['test'], paths_run))
    assert re.search(r'mIoU: [\d.]+', log), log[-3000:]
    # IoUMetric's per-class table uses the own class names.
    for name in classes:
        assert re.search(rf'\|\s*{name}\s*\|', log), (name, log[-3000:])

    # The page's first command: everything above in one run, with the
    # config of step 4 (the tiny scorer for one epoch).
    pipeline_dir = str(tmp_path / 'my_sal')
    log = run_shell(
        substitute(
            blocks['pipeline'], {
                **paths, 'configs/sal/my_data.py': tiny_config,
                'work_dirs/my_sal': pipeline_dir
            }) + ' --no-progress --scorer-cfg-options train_cfg.max_epochs=1')
    done = re.findall(r'\[sal_pipeline\] stage \d/9 (\w+): done in', log)
    assert done == [
        'check', 'coarse_scores', 'scoring_set', 'scorer', 'fine_scores',
        'tau', 'sal', 'eval', 'report'
    ], log[-3000:]
    report = open(osp.join(pipeline_dir, 'report', 'report.md')).read()
    assert '| mIoU |' in report
    sal_cfg = Config.fromfile(osp.join(pipeline_dir, 'sal', 'sal_config.py'))
    assert sal_cfg.train_dataloader.dataset.metainfo == dict(classes=classes)
    assert sal_cfg.model.decode_head.num_classes == len(classes)


def test_template_with_voc_classes_loads_the_generated_folder(
        synthetic_seg_root, tmp_path):
    """The template unedited but for the folder and a coarse score file:
    WeakVOCDataset with VOC's 21 classes and 20-d tags."""
    from mmattn.segmentation.mask_scoring.scoring import score_proxy_masks
    from mmattn.segmentation.mask_scoring import read_tags
    from mmattn.segmentation.score_file import dump_mask_scores
    from mmseg.registry import DATASETS
    root = synthetic_seg_root
    ids = open(osp.join(root,
                        'ImageSets/Segmentation/train.txt')).read().split()
    results = score_proxy_masks(
        ids,
        osp.join(root, 'SegmentationClassProxy'),
        osp.join(root, 'SaliencyRef'),
        read_tags(osp.join(root, 'cls_labels.npy')),
        img_dir=osp.join(root, 'JPEGImages'),
        show_progress=False)
    score_path = str(tmp_path / 'coarse.json')
    dump_mask_scores(
        {
            i: {
                k: r[k]
                for k in ('AC', 'CD', 'SC', 'P', 'SF')
            }
            for i, r in results.items()
        }, score_path)

    with open(TEMPLATE) as f:
        text = f.read()
    text = set_assignments(
        text, f'_base_ = [{P5_CONFIG!r}]\n'
        f'data_root = {root!r}\nscore_file = {score_path!r}\n'
        "score_key = 'SC'\ntau = 0.8")
    config = tmp_path / 'voc.py'
    config.write_text(text)
    cfg = Config.fromfile(str(config))
    assert cfg.model.decode_head.num_classes == 21
    assert cfg.model.decode_head.loss_decode.tau == 0.8
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        val = DATASETS.build(cfg.val_dataloader.dataset)
    assert type(dataset).__name__ == 'WeakVOCDataset'
    assert len(dataset) == len(ids)
    assert len(dataset.metainfo['classes']) == 21
    info = dataset.get_data_info(0)
    assert info['img_tags'].shape == (20, )
    assert info['mask_scores']['SC'] == pytest.approx(
        results[info['img_id']]['SC'])
    assert info['mask_scores']['SF'] is None
    assert type(val).__name__ == 'PascalVOCDataset'
    assert len(val) == len(
        open(osp.join(root, 'ImageSets/Segmentation/val.txt')).read().split())

    # No ground truth: no validation or test loop at all.
    config.write_text(set_assignments(text, 'gt_dir = None'))
    cfg = Config.fromfile(str(config))
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        assert cfg[key] is None, key
