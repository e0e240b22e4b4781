"""Reading the two volume formats the CAMUS releases use.

* **NIfTI** (``.nii`` / ``.nii.gz``, the 2023 CAMUS release) is read with
  `nibabel <https://nipy.org/nibabel/>`_ (NIfTI-1 and NIfTI-2, any byte
  order, ``scl_slope`` / ``scl_inter`` scaling);
* **MetaImage** (``.mhd`` + ``.raw``, the 2019 challenge release) with
  `SimpleITK <https://simpleitk.org/>`_.

Both are optional extras: ``pip install -e .[medical]``. When one is not
installed, a minimal built-in parser reads the common cases (NIfTI-1;
MetaImage with one data file, optionally zlib-compressed) and warns once.
It is kept as a tested fallback, and it explains the files the packages
refuse (a truncated ``.raw`` is reported with its byte counts).

Arrays are returned in the files' voxel order, reversed to C order: a 2-D
image is ``(rows, cols)`` = ``(dim[2], dim[1])`` (x is the column axis),
singleton axes are dropped and a sequence keeps ``(frames, rows, cols)``.
This is SimpleITK's ``GetArrayFromImage`` convention, the one the CAMUS
reference code uses, so both releases (and the images and their label maps)
read the same. Nothing is reoriented from the affine / direction: a
reorientation to RAS would flip images whose header says LPS (what ITK
writes) or that have no orientation (nibabel's Analyze default flips x).

Specs: https://nifti.nimh.nih.gov/nifti-1,
https://itk.org/Wiki/ITK/MetaIO/Documentation
"""
import gzip
import os.path as osp
import struct
import warnings
import zlib
from typing import Any, Dict

import numpy as np

from ..utils.errors import AnausError

__all__ = [
    'MedicalImageError', 'is_medical', 'medical_backend', 'read_any',
    'read_medical', 'read_medical_header', 'write_mhd', 'write_nifti'
]

#: the optional extra that installs nibabel and SimpleITK
MEDICAL_EXTRA = 'pip install -e .[medical]'
BACKENDS = ('auto', 'builtin')
_PACKAGES = {'nifti': 'nibabel', 'mhd': 'SimpleITK'}
_warned = set()

_NIFTI_DTYPES = {2: 'u1', 4: 'i2', 8: 'i4', 16: 'f4', 64: 'f8', 256: 'i1',
                 512: 'u2', 768: 'u4', 1024: 'i8', 1280: 'u8'}
_MET_DTYPES = {'MET_UCHAR': 'u1', 'MET_CHAR': 'i1', 'MET_USHORT': 'u2',
               'MET_SHORT': 'i2', 'MET_UINT': 'u4', 'MET_INT': 'i4',
               'MET_FLOAT': 'f4', 'MET_DOUBLE': 'f8', 'MET_ULONG': 'u8',
               'MET_LONG': 'i8'}


class MedicalImageError(AnausError, ValueError):
    """A NIfTI / MetaImage file that cannot be read: one line, starting with
    the file's path."""


def is_medical(path: str) -> bool:
    """Whether ``path`` is a NIfTI or MetaImage file.

    Args:
        path (str): a file name.

    Returns:
        bool: it ends with ``.nii``, ``.nii.gz`` or ``.mhd``.
    """
    return path.lower().endswith(('.nii', '.nii.gz', '.mhd'))


def _format(path: str) -> str:
    return 'mhd' if path.lower().endswith('.mhd') else 'nifti'


def medical_backend(path: str, backend: str = 'auto') -> str:
    """The reader used for ``path``: ``'nibabel'``, ``'SimpleITK'`` or
    ``'builtin'``.

    Args:
        path (str): a NIfTI or MetaImage file name.
        backend (str): ``'auto'`` (the package when importable, else the
            built-in parser, with a one-time warning) or ``'builtin'``.

    Returns:
        str: the reader's name.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if backend == 'builtin':
        return 'builtin'
    package = _PACKAGES[_format(path)]
    try:
        __import__(package)
    except ImportError:
        if package not in _warned:
            _warned.add(package)
            warnings.warn(
                f'{package} is not installed: {_format(path)} files are read '
                "with anaus_mm's minimal built-in parser (no NIfTI-2, one "
                f'MetaImage data file); {MEDICAL_EXTRA} installs it',
                stacklevel=3)
        return 'builtin'
    return package


# ------------------------------------------------------- the built-in parser
def _open(path: str):
    return gzip.open(path, 'rb') if path.lower().endswith('.gz') \
        else open(path, 'rb')


def _nifti_header(raw: bytes) -> Dict[str, Any]:
    if len(raw) < 348:
        raise MedicalImageError('truncated NIfTI header')
    for endian in '<>':
        size = struct.unpack(endian + 'i', raw[:4])[0]
        if size == 540:
            raise MedicalImageError(
                f'a NIfTI-2 file: the built-in parser reads NIfTI-1 only; '
                f'{MEDICAL_EXTRA} installs nibabel')
        if size == 348:
            break
    else:
        raise MedicalImageError('not a NIfTI-1 file (sizeof_hdr != 348)')
    dim = struct.unpack(endian + '8h', raw[40:56])
    datatype = struct.unpack(endian + 'h', raw[70:72])[0]
    vox_offset = int(struct.unpack(endian + 'f', raw[108:112])[0])
    slope, inter = struct.unpack(endian + '2f', raw[112:120])
    if datatype not in _NIFTI_DTYPES:
        raise MedicalImageError(f'unsupported NIfTI datatype {datatype}')
    ndim = dim[0]
    shape = tuple(int(d) for d in dim[1:1 + ndim])
    return dict(shape=shape, dtype=np.dtype(endian + _NIFTI_DTYPES[datatype]),
                offset=max(vox_offset, 352), slope=slope, inter=inter)


def _mhd_header(path: str) -> Dict[str, Any]:
    header = {}
    with open(path, 'r', errors='replace') as f:
        for line in f:
            if '=' in line:
                key, value = line.split('=', 1)
                header[key.strip()] = value.strip()
    try:
        shape = tuple(int(v) for v in header['DimSize'].split())
        dtype = _MET_DTYPES[header['ElementType']]
        data_file = header['ElementDataFile']
    except (KeyError, ValueError) as e:
        raise MedicalImageError(
            f'MetaImage header lacks or has bad {e}') from None
    msb = header.get('ElementByteOrderMSB',
                     header.get('BinaryDataByteOrderMSB', 'False'))
    dtype = np.dtype(('>' if msb.lower() == 'true' else '<') + dtype)
    return dict(shape=shape, dtype=dtype, data_file=data_file,
                compressed=header.get('CompressedData', 'False').lower()
                == 'true')


def _builtin_header(path: str) -> Dict[str, Any]:
    if _format(path) == 'mhd':
        return _mhd_header(path)
    with _open(path) as f:
        try:
            return _nifti_header(f.read(352))
        except (EOFError, OSError, zlib.error) as e:
            raise MedicalImageError(f'truncated or corrupt file: {e}') from e


def _builtin_read(path: str) -> np.ndarray:
    if _format(path) == 'mhd':
        info = _mhd_header(path)
        data_path = osp.join(osp.dirname(path), info['data_file'])
        if not osp.isfile(data_path):
            raise MedicalImageError(
                f'MetaImage data file not found: {data_path}')
        with open(data_path, 'rb') as f:
            raw = f.read()
        if info['compressed']:
            try:
                raw = zlib.decompress(raw)
            except zlib.error as e:
                raise MedicalImageError(f'corrupt compressed data: {e}') \
                    from e
        offset = 0
    else:
        with _open(path) as f:
            try:
                raw = f.read()
            except (EOFError, OSError, zlib.error) as e:
                raise MedicalImageError(
                    f'truncated or corrupt file: {e}') from e
        info = _nifti_header(raw)
        offset = info['offset']
    count = int(np.prod(info['shape']))
    need = offset + count * info['dtype'].itemsize
    if len(raw) < need:
        raise MedicalImageError(
            f'truncated file: {len(raw)} bytes, expected {need}')
    flat = np.frombuffer(raw, info['dtype'], count, offset)
    if info.get('slope') not in (None, 0.0, 1.0) or info.get('inter'):
        flat = flat * info['slope'] + info['inter']
    return flat.reshape(info['shape'][::-1])  # C order with x fastest


# ------------------------------------------------------------- the packages
def _package_header(path: str, package: str) -> Dict[str, Any]:
    if package == 'nibabel':
        import nibabel
        img = nibabel.load(path)
        return dict(shape=tuple(int(d) for d in img.shape),
                    dtype=img.get_data_dtype())
    import SimpleITK as sitk
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    return dict(shape=tuple(int(d) for d in reader.GetSize()), dtype=None)


def _package_read(path: str, package: str) -> np.ndarray:
    if package == 'nibabel':
        import nibabel
        img = nibabel.load(path, mmap=False)
        return np.asarray(img.dataobj).T  # (x, y, ...) -> (..., y, x)
    import SimpleITK as sitk
    return sitk.GetArrayFromImage(sitk.ReadImage(path))  # (.., y, x)


def _one_line(path: str, package: str, error: Exception) -> str:
    """A one-line reason: the built-in parser's diagnosis when it also fails
    (the packages' messages can mislead: ITK says 'No such file' for a
    truncated .raw), else the package's first line."""
    try:
        _builtin_read(path)
    except MedicalImageError as e:
        return f'{package} cannot read it: {e}'
    except Exception:  # noqa: BLE001  (no better diagnosis)
        pass
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    reason = next((ln for ln in lines if 'ERROR' in ln), lines[0] if lines
                  else type(error).__name__)
    return f'{package} cannot read it: {reason}'


def _native(arr: np.ndarray) -> np.ndarray:
    """Drop singleton axes, native byte order, contiguous."""
    arr = arr.reshape(tuple(d for d in arr.shape if d != 1) or (1, ))
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder('='))
    return np.ascontiguousarray(arr)


def read_medical_header(path: str, backend: str = 'auto') -> Dict[str, Any]:
    """Header facts of a NIfTI / MetaImage file, without reading the voxels.

    Args:
        path (str): the ``.nii``, ``.nii.gz`` or ``.mhd`` file.
        backend (str): ``'auto'`` or ``'builtin'`` (see
            :func:`medical_backend`).

    Returns:
        dict: ``shape`` (x first, as in the file), ``size`` =
        ``(width, height)`` and ``backend`` (the reader's name).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MedicalImageError: an unreadable header (one line naming the
            file; an :class:`~anaus_mm.utils.errors.AnausError`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such file: {path}')
    reader = medical_backend(path, backend)
    try:
        info = _builtin_header(path) if reader == 'builtin' else \
            _package_header(path, reader)
    except MedicalImageError as e:
        raise MedicalImageError(f'{path}: {e}') from None
    except Exception as e:  # noqa: BLE001  (any reader error)
        raise MedicalImageError(
            f'{path}: {_one_line(path, reader, e)}') from e
    shape = info['shape']
    return dict(shape=shape, size=(shape[0], shape[1] if len(shape) > 1
                                   else 1), backend=reader)


def read_medical(path: str, backend: str = 'auto') -> np.ndarray:
    """Voxels of a NIfTI / MetaImage file (see the module doc for the axes).

    Args:
        path (str): the ``.nii``, ``.nii.gz`` or ``.mhd`` file.
        backend (str): ``'auto'`` (nibabel / SimpleITK when installed, else
            the built-in parser) or ``'builtin'``.

    Returns:
        np.ndarray: ``(rows, cols)`` or ``(frames, rows, cols)``, native byte
        order; scaled (``scl_slope``) NIfTI data is float.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MedicalImageError: a truncated or malformed file (one line naming
            the file; an :class:`~anaus_mm.utils.errors.AnausError`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such file: {path}')
    reader = medical_backend(path, backend)
    try:
        arr = _builtin_read(path) if reader == 'builtin' else \
            _package_read(path, reader)
    except MedicalImageError as e:
        raise MedicalImageError(f'{path}: {e}') from None
    except Exception as e:  # noqa: BLE001  (any reader error)
        raise MedicalImageError(
            f'{path}: {_one_line(path, reader, e)}') from e
    return _native(arr)


# ------------------------------------------------- writers (tests, demos)
def write_nifti(path: str, array: np.ndarray) -> None:
    """Write a 2-D ``(rows, cols)`` uint8 array as NIfTI-1 (no orientation:
    qform / sform codes 0), gzipped when ``path`` ends with ``.gz``.

    Args:
        path (str): the ``.nii`` or ``.nii.gz`` file to write.
        array (np.ndarray): the image.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    rows, cols = array.shape
    hdr = bytearray(352)
    struct.pack_into('<i', hdr, 0, 348)
    struct.pack_into('<8h', hdr, 40, 2, cols, rows, 1, 1, 1, 1, 1)
    struct.pack_into('<hh', hdr, 70, 2, 8)
    struct.pack_into('<8f', hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into('<f', hdr, 108, 352.0)
    struct.pack_into('<f', hdr, 112, 1.0)
    hdr[344:348] = b'n+1\0'
    data = bytes(hdr) + array.tobytes()  # row-major == x fastest
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(data)


def write_mhd(path: str, array: np.ndarray) -> None:
    """Write a 2-D ``(rows, cols)`` uint8 array as ``.mhd`` + ``.raw``
    (``DimSize = cols rows 1``, as the CAMUS 2019 release).

    Args:
        path (str): the ``.mhd`` file; the ``.raw`` goes next to it.
        array (np.ndarray): the image.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    rows, cols = array.shape
    raw_name = osp.splitext(osp.basename(path))[0] + '.raw'
    with open(path, 'w') as f:
        f.write('ObjectType = Image\nNDims = 3\nBinaryData = True\n'
                'BinaryDataByteOrderMSB = False\nCompressedData = False\n'
                f'DimSize = {cols} {rows} 1\nElementType = MET_UCHAR\n'
                f'ElementDataFile = {raw_name}\n')
    with open(osp.join(osp.dirname(path), raw_name), 'wb') as f:
        f.write(array.tobytes())


def read_any(path: str) -> np.ndarray:
    """Read an image or label file: NIfTI / MetaImage with
    :func:`read_medical`, others with PIL (palette PNGs keep their indices).

    Args:
        path (str): the file.

    Returns:
        np.ndarray: its pixels.
    """
    if is_medical(path):
        return read_medical(path)
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im)
