"""Per-anatomy Dice of LP-SAM models (``tools/analysis_tools/eval_lpsam.py``,
:mod:`anaus_mm.evaluation.lpsam_eval`)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.structures import PixelData

STAGE1 = 'configs/lpsam/lpsam-stage1_tiny_1xb2-20it_sim-demo.py'
NAMES = ['subcutaneous', 'fascia', 'parenchyma', 'muscle', 'vessel',
         'lesion']


def _data(root, n=3, size=64):
    """Simulator layout; ids 1, 2, 3 and 6 present, 4 and 5 absent."""
    for sub in ('images', 'masks'):
        os.makedirs(osp.join(root, sub))
    rng = np.random.default_rng(0)
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        m[8:20] = 1
        m[20:22] = 2
        m[22:] = 3
        cv2.circle(m, (30 + i, 40), 6, 6, -1)
        img = (rng.random((size, size)) * 60 + m * 25).astype(np.uint8)
        cv2.imwrite(osp.join(root, 'images', f'{i:03d}.png'), img)
        cv2.imwrite(osp.join(root, 'masks', f'{i:03d}.png'), m)
    return str(root)


@pytest.mark.parametrize('predict', ['truth', 'background'])
def test_pooled_dice_of_a_perfect_and_an_empty_prediction(
        tmp_path, repo_root, monkeypatch, predict):
    from anaus_mm.evaluation.lpsam_eval import per_class_dice
    from anaus_mm.models.lpsam import LPSAM

    def fake_predict(self, inputs, data_samples=None):
        for ds in data_samples:
            gt = ds.gt_sem_seg.data
            pred = gt.clone() if predict == 'truth' else gt * 0
            ds.set_data(dict(pred_sem_seg=PixelData(data=pred)))
        return data_samples

    monkeypatch.setattr(LPSAM, 'predict', fake_predict)
    root = _data(tmp_path / 'd')
    res = per_class_dice(osp.join(repo_root, STAGE1), data_root=root)
    assert res['images'] == 3 and list(res['dice']) == NAMES
    dice = res['dice']
    # ids 4 and 5 are in neither map: NaN, not 0 or 100
    assert np.isnan(dice['muscle']) and np.isnan(dice['vessel'])
    expected = 100.0 if predict == 'truth' else 0.0
    for name in ('subcutaneous', 'fascia', 'parenchyma', 'lesion'):
        assert dice[name] == pytest.approx(expected), name


def test_tool_writes_json_and_table(tmp_path, repo_root, run_tool):
    root = _data(tmp_path / 'd', n=2)
    out = tmp_path / 'o' / 'story.json'
    res = run_tool(['tools/analysis_tools/eval_lpsam.py', root, '--run',
                    'zero-shot', STAGE1, '--out', str(out)], cwd=repo_root)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data['runs']['zero-shot']['images'] == 2
    assert set(data['shares']) == set(NAMES)
    table = (tmp_path / 'o' / 'story.md').read_text()
    assert table.startswith('| model | subcutaneous (')
    assert '| zero-shot |' in table


def test_a_folder_without_images_is_a_one_line_error(tmp_path, repo_root):
    from anaus_mm.evaluation.lpsam_eval import per_class_dice
    from anaus_mm.utils.errors import AnausError
    os.makedirs(tmp_path / 'empty' / 'masks')
    with pytest.raises(AnausError, match='no images/ folder'):
        per_class_dice(osp.join(repo_root, STAGE1),
                       data_root=str(tmp_path / 'empty'))
