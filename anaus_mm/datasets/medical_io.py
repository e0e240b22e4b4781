"""Minimal readers of the two formats the CAMUS releases use.

* **NIfTI-1** (``.nii`` / ``.nii.gz``, the 2023 CAMUS release): a 348-byte
  header (``dim`` at byte 40, ``datatype`` at 70, ``vox_offset`` at 108,
  ``scl_slope``/``scl_inter`` at 112/116) followed by the voxels in Fortran
  order (x fastest). Spec: https://nifti.nimh.nih.gov/nifti-1
* **MetaImage** (``.mhd`` + ``.raw``, the 2019 challenge release): a small
  ``Key = Value`` text header (``NDims``, ``DimSize``, ``ElementType``,
  ``ElementDataFile``, optional ``ElementByteOrderMSB`` and zlib
  ``CompressedData``) next to a raw voxel file, x fastest. Spec:
  https://itk.org/Wiki/ITK/MetaIO/Documentation

Both are parsed here (no nibabel / SimpleITK dependency). 2-D images come back
as ``(rows, cols)`` = ``(dim[2], dim[1])``: x is the column axis. Singleton
trailing axes are dropped; a 3-D volume (a sequence) keeps ``(frames, rows,
cols)``.
"""
import gzip
import os.path as osp
import struct
import zlib

import numpy as np

_NIFTI_DTYPES = {2: 'u1', 4: 'i2', 8: 'i4', 16: 'f4', 64: 'f8', 256: 'i1',
                 512: 'u2', 768: 'u4', 1024: 'i8', 1280: 'u8'}
_MET_DTYPES = {'MET_UCHAR': 'u1', 'MET_CHAR': 'i1', 'MET_USHORT': 'u2',
               'MET_SHORT': 'i2', 'MET_UINT': 'u4', 'MET_INT': 'i4',
               'MET_FLOAT': 'f4', 'MET_DOUBLE': 'f8', 'MET_ULONG': 'u8',
               'MET_LONG': 'i8'}


def is_medical(path):
    """Whether ``path`` is a NIfTI or MetaImage file."""
    p = path.lower()
    return p.endswith(('.nii', '.nii.gz', '.mhd'))


def _open(path):
    return gzip.open(path, 'rb') if path.lower().endswith('.gz') \
        else open(path, 'rb')


def _nifti_header(raw):
    if len(raw) < 348:
        raise ValueError('truncated NIfTI header')
    for endian in '<>':
        if struct.unpack(endian + 'i', raw[:4])[0] == 348:
            break
    else:
        raise ValueError('not a NIfTI-1 file (sizeof_hdr != 348)')
    dim = struct.unpack(endian + '8h', raw[40:56])
    datatype = struct.unpack(endian + 'h', raw[70:72])[0]
    vox_offset = int(struct.unpack(endian + 'f', raw[108:112])[0])
    slope, inter = struct.unpack(endian + '2f', raw[112:120])
    if datatype not in _NIFTI_DTYPES:
        raise ValueError(f'unsupported NIfTI datatype {datatype}')
    ndim = dim[0]
    shape = tuple(int(d) for d in dim[1:1 + ndim])
    return dict(shape=shape, dtype=np.dtype(endian + _NIFTI_DTYPES[datatype]),
                offset=max(vox_offset, 352), slope=slope, inter=inter)


def _mhd_header(path):
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
    except KeyError as e:
        raise ValueError(f'MetaImage header lacks or has bad {e}') from None
    msb = header.get('ElementByteOrderMSB',
                     header.get('BinaryDataByteOrderMSB', 'False'))
    dtype = np.dtype(('>' if msb.lower() == 'true' else '<') + dtype)
    return dict(shape=shape, dtype=dtype, data_file=data_file,
                compressed=header.get('CompressedData', 'False').lower()
                == 'true')


def read_medical_header(path):
    """Header facts of a NIfTI / MetaImage file: ``shape`` (x first) and
    ``size`` = ``(width, height)``."""
    if path.lower().endswith('.mhd'):
        info = _mhd_header(path)
    else:
        with _open(path) as f:
            info = _nifti_header(f.read(352))
    shape = info['shape']
    info['size'] = (shape[0], shape[1] if len(shape) > 1 else 1)
    return info


def _to_rows_cols(flat, shape):
    arr = flat.reshape(shape[::-1])  # C order with x fastest == reversed
    arr = arr.reshape(tuple(d for d in arr.shape if d != 1) or (1, ))
    return arr


def read_medical(path):
    """Voxels of a NIfTI / MetaImage file as a numpy array (see module doc).

    Raises ``ValueError`` for truncated or malformed files.
    """
    if path.lower().endswith('.mhd'):
        info = _mhd_header(path)
        data_path = osp.join(osp.dirname(path), info['data_file'])
        with open(data_path, 'rb') as f:
            raw = f.read()
        if info['compressed']:
            raw = zlib.decompress(raw)
        offset = 0
    else:
        with _open(path) as f:
            try:
                raw = f.read()
            except (EOFError, OSError) as e:
                raise ValueError(f'truncated or corrupt file: {e}') from e
        info = _nifti_header(raw)
        offset = info['offset']
    count = int(np.prod(info['shape']))
    need = offset + count * info['dtype'].itemsize
    if len(raw) < need:
        raise ValueError(f'truncated file: {len(raw)} bytes, expected {need}')
    flat = np.frombuffer(raw, info['dtype'], count, offset)
    if info.get('slope') not in (None, 0.0, 1.0) or info.get('inter'):
        flat = flat * info['slope'] + info['inter']
    return _to_rows_cols(flat, info['shape'])


def write_nifti(path, array):
    """Write a 2-D ``(rows, cols)`` uint8 array as NIfTI-1 (tests, demos)."""
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


def write_mhd(path, array):
    """Write a 2-D uint8 array as ``.mhd`` + ``.raw`` (tests, demos)."""
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


def read_any(path):
    """Read an image or label file: NIfTI/MetaImage here, others with PIL
    (palette PNGs keep their indices)."""
    if is_medical(path):
        return read_medical(path)
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im)
