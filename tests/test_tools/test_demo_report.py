"""The demo's report: LP-SAM vs ground-truth agreement and the files."""
import json
import os

import cv2
import numpy as np

from anaus_mm.utils.demo_report import mask_agreement, write_report


def _layout(root):
    (root / 'masks').mkdir(parents=True)
    (root / 'images').mkdir()
    (root / 'pred').mkdir()
    gt = np.zeros((8, 8), np.uint8)
    gt[:, 4:] = 1            # 32 px of id 1
    gt[:2, :2] = 2           # 4 px of id 2
    pred = np.zeros((8, 8), np.uint8)
    pred[:, 6:] = 1          # 16 px, all inside the truth
    cv2.imwrite(str(root / 'masks' / 'a.png'), gt)
    cv2.imwrite(str(root / 'pred' / 'a.png'), pred)
    cv2.imwrite(str(root / 'images' / 'a.png'), np.full((8, 8), 90,
                                                        np.uint8))
    return gt, pred


def test_mask_agreement_by_hand(tmp_path):
    _layout(tmp_path)
    dice, count = mask_agreement(str(tmp_path), str(tmp_path / 'pred'), 3)
    assert count == 1
    # id 1: 2 * 16 / (32 + 16); id 2: nothing predicted -> 0
    assert abs(dice[1] - 2 * 16 / 48) < 1e-9
    assert dice[2] == 0.0


def test_write_report_files(tmp_path):
    _layout(tmp_path)
    meta = dict(classes=['background', 'a', 'b'],
                palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]], num=1,
                settings=dict(size=8, probe='convex', seed=0))
    (tmp_path / 'meta.json').write_text(json.dumps(meta))
    bench = tmp_path / 'bench'
    bench.mkdir()
    summary = dict(mean={'fgDice': 50.0}, std={'fgDice': 1.0},
                   folds_done=[0, 1])
    (bench / 'results.json').write_text(json.dumps(dict(
        downstream=dict(seg=dict(main_metric='fgDice')),
        results=dict(anaus=dict(seg=summary), byol=dict(seg=summary)))))
    (bench / 'results.md').write_text('| method | fgDice |\n')
    path = write_report(str(tmp_path), str(tmp_path), str(bench),
                        str(tmp_path / 'pred'), elapsed_min=1.0,
                        num_examples=1, skipped=2)
    text = open(path).read()
    assert '| a | 66.7 |' in text and '| b | 0.0 |' in text
    assert '2 steps done earlier were skipped' in text
    png = cv2.imread(str(tmp_path / 'report.png'))
    assert png is not None and png.shape[0] > 100
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp.png')]


def test_demo_refuses_a_work_dir_of_other_settings(tmp_path, run_tool):
    """Finished demo steps are skipped on a rerun, so a work dir made with
    another input size (or architecture, SAM checkpoint...) is refused."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'demo_settings.json').write_text(json.dumps(dict(size=256)))
    res = run_tool(['tools/demo.py', '--work-dir', str(work), '--data-dir',
                    str(tmp_path / 'data')])
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert 'other settings' in last and 'size' in last and 'clean-demo' in last
    assert not (tmp_path / 'data').exists()  # nothing was simulated
