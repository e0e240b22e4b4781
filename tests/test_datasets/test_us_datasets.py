"""Ultrasound datasets on tiny fixtures built in each release's layout."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS as CLS
from mmseg.registry import DATASETS as SEG
from PIL import Image

from anaus_mm.datasets import DatasetLayoutError, DatasetNotFoundError
from anaus_mm.datasets.medical_io import read_medical, write_mhd, write_nifti

from fixtures import fake_layouts as F

LOAD = [dict(type='LoadMergedAnnotations')]


def build(registry, **cfg):
    scope = 'mmseg' if registry is SEG else 'mmpretrain'
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg)


def test_busi_layout_merging_and_rgba(tmp_path):
    root = F.make_busi(str(tmp_path), n=3)
    ds = build(SEG, type='BUSIDataset', data_root=root, pipeline=LOAD)
    assert len(ds) == 6  # normal/ skipped by default
    assert ds.metainfo['classes'] == ('background', 'lesion')
    names = [osp.basename(ds.get_data_info(i)['img_path'])
             for i in range(len(ds))]
    assert names[:3] == ['benign (1).png', 'benign (2).png', 'benign (3).png']
    info = ds.get_data_info(1)  # benign (2): three masks
    assert [osp.basename(p) for p in info['seg_map_path']] == [
        'benign (2)_mask.png', 'benign (2)_mask_1.png',
        'benign (2)_mask_2.png']
    merged = ds[1]['gt_seg_map']
    main = np.asarray(Image.open(info['seg_map_path'][0])) > 127
    assert merged[1:4, 1:4].all() and merged[2:5, 2:5].all()  # extras
    assert merged.sum() == (main | _extra_union(main.shape)).sum()
    assert set(np.unique(merged)) <= {0, 1}
    # malignant (1) has an RGBA mask: binarised on its colour channels
    rgba = np.asarray(Image.open(ds.get_data_info(3)['seg_map_path'][0]))
    assert rgba.ndim == 3 and rgba.shape[-1] == 4
    assert ds[3]['gt_seg_map'].sum() == (rgba[..., 0] > 127).sum() > 0
    assert ds.get_stratum(0) == 1 and ds.get_stratum(3) == 2
    ds_all = build(SEG, type='BUSIDataset', data_root=root,
                   include_normal=True)
    assert len(ds_all) == 9


def _extra_union(shape):
    m = np.zeros(shape, bool)
    m[1:4, 1:4] = m[2:5, 2:5] = True
    return m


def test_busi_cls_and_orphan_mask(tmp_path):
    root = F.make_busi(str(tmp_path), n=2)
    ds = build(CLS, type='BUSIClsDataset', data_root=root)
    assert len(ds) == 6
    assert sorted(ds.get_gt_labels().tolist()) == [0, 0, 1, 1, 2, 2]
    # classification does not need the masks
    os.remove(osp.join(root, 'Dataset_BUSI_with_GT', 'normal',
                       'normal (1)_mask.png'))
    assert len(build(CLS, type='BUSIClsDataset', data_root=root)) == 6
    os.remove(osp.join(root, 'Dataset_BUSI_with_GT', 'benign',
                       'benign (1).png'))
    with pytest.raises(DatasetLayoutError, match=r'mask without image.*'
                       r'benign \(1\)_mask.png'):
        build(SEG, type='BUSIDataset', data_root=root)


def test_udiat_tn3k_ddti_tg3k(tmp_path):
    udiat = build(SEG, type='UDIATDataset',
                  data_root=F.make_udiat(str(tmp_path / 'u'), n=5),
                  pipeline=LOAD)
    assert len(udiat) == 5 and udiat.get_group(0) == '000001'
    assert set(np.unique(udiat[0]['gt_seg_map'])) == {0, 1}
    root = F.make_tn3k(str(tmp_path / 't'), n_trainval=7, n_test=3)
    tn3k = build(SEG, type='TN3KDataset', data_root=root, pipeline=LOAD)
    assert len(tn3k) == 10
    # JPEG masks carry compression noise; still binary after loading
    assert set(np.unique(tn3k[0]['gt_seg_map'])) == {0, 1}
    assert len(build(SEG, type='TN3KDataset', data_root=root,
                     split='test')) == 3
    val = build(SEG, type='TN3KDataset', data_root=root, fold=1,
                fold_subset='val')
    assert [osp.basename(val.get_data_info(i)['img_path'])
            for i in range(len(val))] == ['0001.jpg', '0006.jpg']
    ddti = build(SEG, type='DDTIDataset',
                 data_root=F.make_ddti(str(tmp_path / 'd'), n_cases=3))
    assert len(ddti) == 6
    assert [ddti.get_group(i) for i in range(6)] == ['1', '1', '2', '2',
                                                      '3', '3']
    tg3k = build(SEG, type='TG3KDataset',
                 data_root=F.make_tg3k(str(tmp_path / 'g'), n=4))
    assert len(tg3k) == 4 and tg3k.metainfo['classes'][1] == 'thyroid'


@pytest.mark.parametrize('fmt', ['nifti', 'mhd'])
def test_camus_both_releases(tmp_path, fmt):
    root = F.make_camus(str(tmp_path), n_patients=3, fmt=fmt)
    ds = build(SEG, type='CAMUSDataset', data_root=root,
               pipeline=[dict(type='LoadUSImageFromFile'),
                         dict(type='LoadMergedAnnotations')])
    # the mhd fixture's last patient has no ground truth (skipped)
    assert len(ds) == (12 if fmt == 'nifti' else 8)
    assert len(ds.metainfo['classes']) == 4
    sample = ds[0]
    assert sample['img'].shape == (32, 32, 3)
    assert sample['img'].dtype == np.uint8
    assert set(np.unique(sample['gt_seg_map'])) == {0, 1, 2, 3}
    assert ds.get_group(0) == 'patient0001' and ds.get_group(4) == \
        'patient0002'
    two_ch = build(SEG, type='CAMUSDataset', data_root=root, views=('2CH', ),
                   phases=('ED', ))
    assert len(two_ch) == (3 if fmt == 'nifti' else 2)


def test_medical_io_roundtrip(tmp_path):
    arr = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7)
    write_nifti(str(tmp_path / 'a.nii.gz'), arr)
    write_mhd(str(tmp_path / 'a.mhd'), arr)
    np.testing.assert_array_equal(read_medical(str(tmp_path / 'a.nii.gz')),
                                  arr)
    np.testing.assert_array_equal(read_medical(str(tmp_path / 'a.mhd')), arr)


def test_hmcqu_frames_cached_and_grouped(tmp_path):
    root = F.make_hmcqu(str(tmp_path), n_videos=2, frames=6, n_masks=3)
    ds = build(SEG, type='HMCQUDataset', data_root=root, ann_file='A4C.csv',
               pipeline=[dict(type='LoadImageFromFile')] + LOAD)
    assert len(ds) == 6
    assert ds.get_group(0) == 'ES0001' and ds.get_group(3) == 'ES0002'
    sample = ds[0]
    assert sample['img'].shape[:2] == sample['gt_seg_map'].shape == (32, 32)
    first = ds.get_data_info(0)['img_path']
    mtime = os.path.getmtime(first)
    again = build(SEG, type='HMCQUDataset', data_root=root,
                  ann_file='A4C.csv')
    assert len(again) == 6 and os.path.getmtime(first) == mtime  # reused


def test_simulated_tasks(tmp_path):
    root = F.make_simulated(str(tmp_path), n=4)
    anat = build(SEG, type='SimulatedUSDataset', data_root=root,
                 pipeline=LOAD)
    assert len(anat) == 4 and len(anat.metainfo['classes']) == 7
    assert 6 in np.unique(anat[0]['gt_seg_map'])
    lesion = build(SEG, type='SimulatedUSDataset', data_root=root,
                   task='lesion', pipeline=LOAD)
    assert lesion.metainfo['classes'] == ('background', 'lesion')
    seg = lesion[0]['gt_seg_map']
    raw = np.asarray(Image.open(lesion.get_data_info(0)['seg_map_path']))
    np.testing.assert_array_equal(seg, (raw == 6).astype(np.uint8))
    cls = build(CLS, type='SimulatedUSClsDataset', data_root=root)
    assert cls.get_gt_labels().tolist() == [0, 1, 0, 1]


def test_pocus_groups_by_video(tmp_path):
    root = F.make_pocus(str(tmp_path), n_videos=2, frames=3)
    ds = build(CLS, type='POCUSDataset', data_root=root)
    assert len(ds) == 18  # 'uninformative' ignored
    assert ds.CLASSES == ('covid', 'pneumonia', 'regular')
    groups = {ds.get_group(i) for i in range(len(ds))}
    assert groups == {f'{p}-video{v}.mp4' for p in ('Cov', 'Pneu', 'Reg')
                      for v in range(2)}


def test_butterfly_and_unknown_class(tmp_path):
    root = F.make_butterfly(str(tmp_path), n_patients=2, per_patient=2)
    ds = build(CLS, type='ButterflyDataset', data_root=root)
    assert len(ds) == 3 * (2 + 1) * 2
    assert len(ds.CLASSES) == 9
    assert build(CLS, type='ButterflyDataset', data_root=root,
                 split='test').get_group(0) == '100'
    os.makedirs(osp.join(root, 'training', 'kidney'))
    with pytest.raises(DatasetLayoutError, match='"kidney"'):
        build(CLS, type='ButterflyDataset', data_root=root)


def test_us_anatomy_with_and_without_masks(tmp_path):
    root = F.make_image_folder(str(tmp_path), n=4)
    plain = build(CLS, type='USAnatomyDataset', data_root=root,
                  img_dir='images')
    assert len(plain) == 4
    assert set(plain.get_data_info(0)) == {'img_path', 'sample_idx'}
    paired = build(CLS, type='USAnatomyDataset', data_root=root,
                   img_dir='images', mask_dir='masks')
    # natural order of relative paths: site0/scan_0, site0/scan_2, site1/..
    info = paired.get_data_info(2)
    assert info['img_path'].endswith(osp.join('site1', 'scan_1.jpg'))
    assert info['mask_path'].endswith(osp.join('site1', 'scan_1.png'))
    os.remove(info['mask_path'])
    with pytest.raises(DatasetLayoutError, match='scan_1.png'):
        build(CLS, type='USAnatomyDataset', data_root=root,
              img_dir='images', mask_dir='masks')


# ---------------------------------------------------------------- bad input
def test_image_without_mask_and_size_mismatch(tmp_path):
    root = F.make_udiat(str(tmp_path), n=4)
    base = osp.join(root, 'DatasetB')
    os.remove(osp.join(base, 'GT', '000002.png'))
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(
        osp.join(base, 'GT', '000003.png'))
    with pytest.raises(DatasetLayoutError) as err:
        build(SEG, type='UDIATDataset', data_root=root)
    msg = str(err.value)
    assert 'no mask for image' in msg and '000002.png' in msg
    # pairing problems are reported first; fix them and see the size error
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(
        osp.join(base, 'GT', '000002.png'))
    with pytest.raises(DatasetLayoutError, match=r'000003.png is 20x16 but'):
        build(SEG, type='UDIATDataset', data_root=root)


def test_truncated_file_and_many_problems(tmp_path):
    root = F.make_udiat(str(tmp_path), n=13)
    base = osp.join(root, 'DatasetB')
    path = osp.join(base, 'original', '000005.png')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(DatasetLayoutError, match='unreadable image.*000005'):
        build(SEG, type='UDIATDataset', data_root=root)
    for i in range(1, 13):
        os.remove(osp.join(base, 'GT', f'{i:06d}.png'))
    with pytest.raises(DatasetLayoutError) as err:
        build(SEG, type='UDIATDataset', data_root=root)
    msg = str(err.value)
    assert '12 problem(s)' in msg and '... and 2 more' in msg
    assert msg.count('no mask for image') == 10


def test_label_values_outside_metainfo(tmp_path):
    root = F.make_camus(str(tmp_path), n_patients=1)
    gt = osp.join(root, 'database_nifti', 'patient0001',
                  'patient0001_4CH_ES_gt.nii.gz')
    label = read_medical(gt).copy()
    label[0, 0] = 7
    write_nifti(gt, label)
    with pytest.raises(DatasetLayoutError,
                       match=r'4CH_ES_gt.nii.gz: label values \[7\]'):
        build(SEG, type='CAMUSDataset', data_root=root)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        build(SEG, type='TG3KDataset', data_root=str(tmp_path / 'nope'))
    assert isinstance(err.value, FileNotFoundError)
    os.makedirs(tmp_path / 'tg3k' / 'thyroid-image')
    os.makedirs(tmp_path / 'tg3k' / 'thyroid-mask')
    with pytest.raises(DatasetNotFoundError, match='no samples'):
        build(SEG, type='TG3KDataset', data_root=str(tmp_path / 'tg3k'))
    os.makedirs(tmp_path / 'pocus')
    with pytest.raises(FileNotFoundError, match='no images'):
        build(CLS, type='POCUSDataset', data_root=str(tmp_path / 'pocus'))


def test_truncated_jpeg_needs_full_check(tmp_path):
    root = F.make_tn3k(str(tmp_path), n_trainval=3, n_test=1)
    path = osp.join(root, 'trainval-image', '0001.jpg')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    # the default header check cannot see a truncated JPEG; 'full' decodes
    assert len(build(SEG, type='TN3KDataset', data_root=root)) == 4
    with pytest.raises(DatasetLayoutError, match='unreadable image.*0001.jpg'):
        build(SEG, type='TN3KDataset', data_root=root, check_files='full')


def test_hmcqu_reads_a4c_xlsx(tmp_path):
    import zipfile
    from anaus_mm.datasets.hmcqu import read_start_frames
    ns = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'
    strings = ['ECHO', 'One cardiac-cycle frames', 'ES0001 _4CH_1']
    shared = (f'<sst xmlns="{ns}">' + ''.join(
        f'<si><t>{s}</t></si>' for s in strings) + '</sst>')
    sheet = (f'<worksheet xmlns="{ns}"><sheetData>'
             '<row r="1"><c r="A1" t="s"><v>0</v></c>'
             '<c r="C1" t="s"><v>1</v></c></row>'
             '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="C2"><v>17</v></c>'
             '</row></sheetData></worksheet>')
    path = str(tmp_path / 'A4C.xlsx')
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('xl/sharedStrings.xml', shared)
        z.writestr('xl/worksheets/sheet1.xml', sheet)
    assert read_start_frames(path) == {'ES0001 _4CH_1': 17}


def test_binarize_mask_rules():
    from anaus_mm.datasets.transforms.seg_loading import binarize_mask
    jpeg_noise = np.array([[0, 3, 250], [255, 127, 128]], np.uint8)
    assert binarize_mask(jpeg_noise).tolist() == [[0, 0, 1], [1, 0, 1]]
    zero_one = np.array([[0, 1], [1, 0]], np.uint8)
    assert binarize_mask(zero_one).tolist() == [[0, 1], [1, 0]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 2] = 255  # blue only
    assert binarize_mask(rgb).tolist() == [[0, 1]]
    alpha_only = np.zeros((1, 2, 4), np.uint8)
    alpha_only[0, 0, 3] = 255
    assert binarize_mask(alpha_only).tolist() == [[1, 0]]
