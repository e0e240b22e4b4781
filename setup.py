"""Install anaus_mm: ``pip install -e .`` (make test / make demo do it).

Optional extras: ``[cam]`` (Grad-CAM with the grad-cam package,
requirements/cam.txt), ``[medical]`` (nibabel / SimpleITK for NIfTI and
MetaImage, requirements/medical.txt), ``[tests]``.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """The requirement lines of ``requirements/<name>`` (comments and blank
    lines dropped)."""
    with open(osp.join(HERE, 'requirements', name)) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line]


def read_version() -> str:
    """``anaus_mm.version.__version__``, read without importing it."""
    namespace = {}
    with open(osp.join(HERE, 'anaus_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='anaus_mm',
    version=read_version(),
    description='Anatomy-anchored self-supervised pre-training (ANAUS) for '
    'ultrasound, as an OpenMMLab (mmpretrain / mmsegmentation) plugin',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.10',
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'cam': read_requirements('cam.txt'),
        'medical': read_requirements('medical.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
