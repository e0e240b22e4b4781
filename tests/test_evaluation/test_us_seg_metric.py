"""USSegMetric on a hand-made prediction / label pair: Dice, PPV and
sensitivity per class and over the foreground, counted by hand."""
import math

import pytest
import torch

from anaus_mm.evaluation import USSegMetric

CLASSES = ('background', 'lesion', 'organ', 'cyst')
IGNORE = 255

# image A (4 x 4)
LABEL_A = [[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 2, 2],
           [0, 0, 2, 2]]
PRED_A = [[1, 1, 1, 0],
          [1, 0, 0, 0],
          [0, 0, 2, 2],
          [0, 0, 0, 2]]
# image B: a cyst that is never predicted; two ignored pixels (predicted as
# lesion, which must not count)
LABEL_B = [[3, 3, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0],
           [IGNORE, IGNORE, 0, 0]]
PRED_B = [[0, 0, 0, 0],
          [0, 1, 1, 1],
          [0, 0, 0, 0],
          [1, 1, 0, 0]]

# Counted by hand, pixel by pixel, over both images (TP, FP, FN):
#   background  A: TP 7, FP 2 ((1,1), (3,2)), FN 1 ((0,2))
#               B: TP 7, FP 4 ((0,0), (0,1), (2,1), (2,2)), FN 1 ((1,3))
#   lesion      A: TP 3, FP 1 ((0,2)), FN 1 ((1,1))
#               B: TP 2, FP 1 ((1,3)), FN 2 ((2,1), (2,2))
#   organ       A: TP 3, FP 0, FN 1 ((3,2));  B: absent
#   cyst        A: absent;  B: TP 0, FP 0, FN 2
COUNTS = {'background': (14, 6, 2), 'lesion': (5, 2, 3), 'organ': (3, 0, 1),
          'cyst': (0, 0, 2)}
VALID_PIXELS = 16 + 14


def _div(a, b):
    return 100.0 * a / b if b else float('nan')


def expected():
    """Dice = 2TP / (2TP + FP + FN), PPV = TP / (TP + FP),
    sensitivity = TP / (TP + FN), in percent."""
    out = {}
    for cls, (tp, fp, fn) in COUNTS.items():
        out[f'Dice.{cls}'] = _div(2 * tp, 2 * tp + fp + fn)
        out[f'PPV.{cls}'] = _div(tp, tp + fp)
        out[f'Sensitivity.{cls}'] = _div(tp, tp + fn)
    return out


def test_hand_counts_give_known_values():
    exp = expected()
    # the hand formulas on the hand counts, written out once more
    assert exp['Dice.lesion'] == pytest.approx(100 * 10 / 15)
    assert exp['PPV.lesion'] == pytest.approx(100 * 5 / 7)
    assert exp['Sensitivity.lesion'] == pytest.approx(100 * 5 / 8)
    assert exp['Dice.organ'] == pytest.approx(100 * 6 / 7)
    assert exp['PPV.organ'] == 100 and exp['Sensitivity.organ'] == 75
    assert exp['Dice.cyst'] == 0 and math.isnan(exp['PPV.cyst'])


def _sample(pred, label):
    return dict(pred_sem_seg=dict(data=torch.tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.tensor(label)[None]))


def test_us_seg_metric_matches_hand_counts():
    metric = USSegMetric(ignore_index=IGNORE)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [_sample(PRED_A, LABEL_A)])
    metric.process({}, [_sample(PRED_B, LABEL_B)])
    out = metric.evaluate(2)
    exp = expected()
    for key, value in exp.items():
        if math.isnan(value):
            assert math.isnan(out[key]), key  # cyst never predicted
        else:
            assert out[key] == pytest.approx(value, abs=0.006), key
    fg = [c for c in CLASSES if c != 'background']
    for name in ('Dice', 'PPV', 'Sensitivity'):
        values = [exp[f'{name}.{c}'] for c in fg]
        values = [v for v in values if not math.isnan(v)]
        assert out[f'fg{name}'] == pytest.approx(
            sum(values) / len(values), abs=0.006), name
    # hand values of the foreground means
    assert out['fgDice'] == pytest.approx((100 * 10 / 15 + 100 * 6 / 7 + 0)
                                          / 3, abs=0.006)
    assert out['fgPPV'] == pytest.approx((100 * 5 / 7 + 100) / 2, abs=0.006)
    assert out['fgSensitivity'] == pytest.approx((62.5 + 75 + 0) / 3,
                                                 abs=0.006)
    # mmseg's own keys: mDice averages the background in, aAcc counts the
    # non-ignored pixels only
    assert out['mDice'] == pytest.approx(
        sum(exp[f'Dice.{c}'] for c in CLASSES) / 4, abs=0.006)
    tp_total = sum(tp for tp, _, _ in COUNTS.values())
    assert out['aAcc'] == pytest.approx(100 * tp_total / VALID_PIXELS,
                                        abs=0.006)
