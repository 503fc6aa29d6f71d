# Copyright (c) mmattn contributors. All rights reserved.
"""Install mmattn. torch and mmcv (with compiled ops) are installed first,
as for every OpenMMLab package: see README.md or run ``make setup``."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


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
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs',
                                    'benchmarks')),
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
    zip_safe=False)
