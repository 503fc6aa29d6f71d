# Copyright (c) mmattn contributors. All rights reserved.
"""Install mmattn. torch and mmcv (with compiled ops) are installed first,
as for every OpenMMLab package: see README.md or run ``make setup``."""
import os
import os.path as osp
import platform
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

try:  # deprecated by setuptools; gone from some future release
    from setuptools.command.develop import develop
except ImportError:  # pragma: no cover
    develop = None

HERE = osp.dirname(osp.abspath(__file__))

# What `mim` (openmim) looks for in an installed OpenMMLab package:
# <package>/.mim/{configs,tools,model-index.yml}. See docs/mim.md.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.py[cod]')


def get_version() -> str:
    with open(osp.join(HERE, 'mmattn', 'version.py')) as f:
        match = re.search(r"^__version__ = '([^']+)'", f.read(), re.M)
    return match.group(1)


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``fname``, skipping comments, includes and
    torch, which the user installs first for their CUDA/CPU build."""
    requirements = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line or line.startswith('-'):
                continue
            if re.match(r'^torch\b', line):
                continue
            requirements.append(line)
    return requirements


def _remove(path: str) -> None:
    # A symlink to a folder is unlinked, never followed: rmtree through it
    # would delete the checkout's own configs/ or tools/.
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def populate_mim_dir(mim_dir: str, mode: str) -> None:
    """Fill ``mim_dir`` with the items of ``MIM_ITEMS`` found in the source
    tree: relative symlinks (``mode='symlink'``, editable installs, so edits
    to configs show through) or copies (``mode='copy'``, wheels).

    An item missing from the source tree is left as it is, so a tree that
    already carries a ``.mim`` folder is never emptied.
    """
    if mode not in ('symlink', 'copy'):
        raise ValueError(f"mode must be 'symlink' or 'copy', got {mode!r}")
    if mode == 'symlink' and platform.system() == 'Windows':
        mode = 'copy'  # symlinks need extra privileges there
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        source = osp.join(HERE, item)
        if not osp.exists(source):
            continue
        target = osp.join(mim_dir, item)
        _remove(target)
        if mode == 'symlink':
            os.symlink(osp.relpath(source, mim_dir), target)
        elif osp.isdir(source):
            shutil.copytree(source, target, ignore=MIM_IGNORE)
        else:
            shutil.copyfile(source, target)


class BuildPyWithMim(build_py):
    """Copies configs/, tools/ and model-index.yml into mmattn/.mim of the
    build tree, so that every wheel (and so every sdist-built wheel)
    carries them."""

    def run(self):
        super().run()
        if self.editable_mode or self.dry_run:
            return
        populate_mim_dir(
            osp.join(self.build_lib, 'mmattn', '.mim'), mode='copy')


class EditableWheelWithMim(editable_wheel):
    """``pip install -e .`` (PEP 660): symlinks in the checkout's
    mmattn/.mim."""

    def run(self):
        populate_mim_dir(osp.join(HERE, 'mmattn', '.mim'), mode='symlink')
        super().run()


CMDCLASS = {
    'build_py': BuildPyWithMim,
    'editable_wheel': EditableWheelWithMim,
}

if develop is not None:

    class DevelopWithMim(develop):
        """``python setup.py develop`` (legacy editable installs; recent
        setuptools hands it to ``pip install -e``, i.e. editable_wheel)."""

        def run(self):
            populate_mim_dir(osp.join(HERE, 'mmattn', '.mim'), mode='symlink')
            super().run()

    CMDCLASS['develop'] = DevelopWithMim

with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='mmattn',
    version=get_version(),
    description='HAR-Net hybrid attention detection and SAL-Net weakly '
    'supervised segmentation with mask scoring, for OpenMMLab',
    long_description=long_description,
    long_description_content_type='text/markdown',
    author='mmattn contributors',
    keywords='computer vision, object detection, semantic segmentation, '
    'attention, weakly supervised, openmmlab',
    packages=find_packages(
        exclude=('configs', 'tools', 'tests', 'docs', 'benchmarks')),
    include_package_data=True,
    python_requires='>=3.8',
    classifiers=[
        'Development Status :: 3 - Alpha',
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.11',
    ],
    license='Apache License 2.0',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'mim': parse_requirements('requirements/optional.txt'),
        'mmcv': parse_requirements('requirements/mminstall.txt'),
    },
    cmdclass=CMDCLASS,
    zip_safe=False)
