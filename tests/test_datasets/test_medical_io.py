"""NIfTI / MetaImage reading (anaus_mm.datasets.medical_io): nibabel and
SimpleITK (the ``[medical]`` extra) and the built-in fallback read the same
files identically; broken files give one-line errors naming the file."""
import glob
import os
import os.path as osp
import sys
import warnings

import numpy as np
import pytest
from fixtures import fake_layouts as F
from mmengine.registry import DefaultScope

from anaus_mm.datasets import medical_io
from anaus_mm.datasets.medical_io import (MedicalImageError, medical_backend,
                                          read_medical, read_medical_header)
from anaus_mm.datasets.utils import DatasetLayoutError
from anaus_mm.utils.errors import AnausError

nibabel = pytest.importorskip('nibabel')
sitk = pytest.importorskip('SimpleITK')

PIPELINE = [dict(type='LoadUSImageFromFile'),
            dict(type='LoadMergedAnnotations')]


def _camus(root, **kwargs):
    from mmseg.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='CAMUSDataset', data_root=root,
                                   pipeline=PIPELINE, **kwargs))


def _files(root):
    return sorted(glob.glob(osp.join(root, '**', '*.nii.gz'),
                            recursive=True) +
                  glob.glob(osp.join(root, '**', '*.mhd'), recursive=True))


@pytest.fixture
def no_packages(monkeypatch):
    """nibabel and SimpleITK made unimportable; the warning re-armed."""
    monkeypatch.setitem(sys.modules, 'nibabel', None)
    monkeypatch.setitem(sys.modules, 'SimpleITK', None)
    monkeypatch.setattr(medical_io, '_warned', set())


@pytest.mark.parametrize('fmt', ['nifti', 'mhd'])
def test_packages_and_fallback_read_camus_identically(tmp_path, fmt,
                                                      no_packages,
                                                      monkeypatch):
    root = F.make_camus(str(tmp_path), n_patients=2, fmt=fmt)
    files = _files(root)
    assert len(files) == (16 if fmt == 'nifti' else 12)
    # without the packages: the built-in parser, with one warning per package
    with pytest.warns(UserWarning, match=r'pip install -e \.\[medical\]') \
            as record:
        builtin = [read_medical(f) for f in files]
        builtin_ds = _camus(root)
        builtin_samples = [builtin_ds[i] for i in range(len(builtin_ds))]
    assert len([w for w in record if 'medical' in str(w.message)]) == 1
    assert medical_backend(files[0]) == 'builtin'
    monkeypatch.undo()  # the packages are back

    package = 'nibabel' if fmt == 'nifti' else 'SimpleITK'
    assert medical_backend(files[0]) == package
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no fallback warning now
        for path, ref in zip(files, builtin):
            arr = read_medical(path)
            assert arr.dtype == ref.dtype == np.uint8
            assert arr.shape == ref.shape == (32, 32)
            np.testing.assert_array_equal(arr, ref)
            np.testing.assert_array_equal(
                arr, read_medical(path, backend='builtin'))
            head = read_medical_header(path)
            assert head['backend'] == package and head['size'] == (32, 32)
            assert head['shape'][:2] == read_medical_header(
                path, backend='builtin')['shape'][:2]
        ds = _camus(root)
        assert len(ds) == len(builtin_ds) == (8 if fmt == 'nifti' else 4)
        for i, ref in enumerate(builtin_samples):
            sample = ds[i]
            np.testing.assert_array_equal(sample['img'], ref['img'])
            np.testing.assert_array_equal(sample['gt_seg_map'],
                                          ref['gt_seg_map'])
    assert set(np.unique(ds[0]['gt_seg_map'])) == {0, 1, 2, 3}


def test_files_written_by_the_packages(tmp_path):
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (12, 7)).astype(np.uint8)  # (rows, cols)
    # SimpleITK writes a compressed MetaImage and a NIfTI in LPS (affine
    # diag(-1, -1, 1)): both read as the array, nothing reoriented
    sitk.WriteImage(sitk.GetImageFromArray(img), str(tmp_path / 'c.mhd'),
                    True)
    sitk.WriteImage(sitk.GetImageFromArray(img), str(tmp_path / 'c.nii.gz'))
    assert nibabel.load(str(tmp_path / 'c.nii.gz')).affine[0, 0] == -1
    for name in ('c.mhd', 'c.nii.gz'):
        for backend in ('auto', 'builtin'):
            np.testing.assert_array_equal(
                read_medical(str(tmp_path / name), backend), img)

    # a sequence (x, y, t) -> (frames, rows, cols)
    seq = rng.randint(0, 9, (3, 12, 7)).astype(np.int16)
    nibabel.save(nibabel.Nifti1Image(seq.T.copy(), np.eye(4)),
                 str(tmp_path / 's.nii'))
    for backend in ('auto', 'builtin'):
        np.testing.assert_array_equal(
            read_medical(str(tmp_path / 's.nii'), backend), seq)

    # big-endian int16 with scl_slope / scl_inter: same values, native order
    nii = nibabel.Nifti1Image(img.T.astype('>i2'), np.eye(4))
    nii.header.set_slope_inter(2.0, 1.0)
    nibabel.save(nii, str(tmp_path / 'scaled.nii.gz'))
    arrs = [read_medical(str(tmp_path / 'scaled.nii.gz'), b)
            for b in ('auto', 'builtin')]
    for arr in arrs:
        assert arr.dtype.isnative and arr.dtype.kind == 'f'
        np.testing.assert_allclose(arr, img * 2.0 + 1.0)

    # NIfTI-2: nibabel reads it; the fallback names the extra
    nibabel.save(nibabel.Nifti2Image(img.T.copy(), np.eye(4)),
                 str(tmp_path / 'n2.nii.gz'))
    np.testing.assert_array_equal(read_medical(str(tmp_path / 'n2.nii.gz')),
                                  img)
    assert read_medical_header(str(tmp_path / 'n2.nii.gz'))['size'] == \
        (7, 12)
    with pytest.raises(MedicalImageError,
                       match=r'n2.nii.gz: a NIfTI-2 file.*\[medical\]'):
        read_medical(str(tmp_path / 'n2.nii.gz'), backend='builtin')


def _one_line_error(func, *args, match):
    with pytest.raises(MedicalImageError, match=match) as err:
        func(*args)
    assert isinstance(err.value, AnausError)
    assert '\n' not in str(err.value), str(err.value)
    return str(err.value)


def test_broken_files_one_line_errors(tmp_path):
    root = F.make_camus(str(tmp_path), n_patients=1, fmt='mhd')
    folder = osp.join(root, 'training', 'patient0001')
    image = osp.join(folder, 'patient0001_2CH_ED.mhd')
    with open(image[:-4] + '.raw', 'r+b') as f:
        f.truncate(100)
    for backend in ('auto', 'builtin'):
        msg = _one_line_error(read_medical, image, backend,
                              match='truncated file: 100 bytes, expected '
                              '1024')
        assert msg.startswith(image + ': ')
    # the header check passes; a 'full' check lists the file, one line
    assert len(_camus(root)) == 4
    with pytest.raises(DatasetLayoutError) as err:
        _camus(root, check_files='full')
    lines = str(err.value).splitlines()
    assert len(lines) == 2, lines
    assert f'unreadable image {image}: ' in lines[1]
    assert 'expected 1024' in lines[1]

    # a missing data file, a broken header, a truncated gzip, no file
    label = osp.join(folder, 'patient0001_4CH_ES_gt.mhd')
    os.remove(label[:-4] + '.raw')
    for backend in ('auto', 'builtin'):
        _one_line_error(read_medical, label, backend,
                        match='_gt.mhd: .*data file not found: .*_gt.raw')
    with pytest.raises(MedicalImageError, match='_gt.mhd: .*data file'):
        _camus(root)  # the label check reads it: an AnausError, one line
    with open(label, 'w') as f:
        f.write('NDims = 2\n')
    for backend in ('auto', 'builtin'):
        _one_line_error(read_medical_header, label, backend,
                        match='lacks or has bad')
    nii = str(tmp_path / 'x.nii.gz')
    medical_io.write_nifti(nii, np.zeros((32, 32), np.uint8))
    with open(nii, 'rb') as f:
        data = f.read()
    with open(nii, 'wb') as f:
        f.write(data[:len(data) // 2])
    for backend in ('auto', 'builtin'):
        _one_line_error(read_medical, nii, backend,
                        match='x.nii.gz: .*truncated or corrupt')
    with pytest.raises(FileNotFoundError):
        read_medical(str(tmp_path / 'none.nii.gz'))
    with pytest.raises(FileNotFoundError):
        read_medical_header(str(tmp_path / 'none.mhd'))
