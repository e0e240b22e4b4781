"""``tools/analysis_tools/benchmark_lpsam.py`` and
:mod:`anaus_mm.benchmark.lpsam_speed` at toy sizes (tiny SAM, 64 px, a 4×4
point grid): the generator's kept masks from a hand-built SAM checkpoint on
real (simulated) images, the profile, the ratios, the JSON, LP-SAM's
stage-2 checkpoint and random weights stated as such."""
import json
import os.path as osp
import re

import pytest
import torch

TOOL = 'tools/analysis_tools/benchmark_lpsam.py'
SIZE = 64


def official_state(img_size=SIZE, seed=0):
    """A random tiny SAM state dict in the official layout."""
    from anaus_mm.models.lpsam.sam_builder import build_sam_parts
    torch.manual_seed(seed)
    parts = build_sam_parts('tiny', img_size)[:3]
    state = {}
    for prefix, part in zip(('image_encoder.', 'prompt_encoder.',
                             'mask_decoder.'), parts):
        for k, v in part.state_dict().items():
            state[prefix + k] = v.clone()
    return state


def confident_full_masks(state):
    """Make the decoder answer every prompt with a full-image mask (logits
    +12 everywhere, far from SAM's 0 ± 1 stability offsets) and a predicted
    IoU of 1: the generator keeps, after its NMS, exactly one mask per
    image, so it runs its whole post-processing (filters, RLE encoding)."""
    state = dict(state)
    up = 'mask_decoder.output_upscaling.3.'  # last ConvTranspose2d (+GELU)
    state[up + 'weight'] = torch.zeros_like(state[up + 'weight'])
    state[up + 'bias'] = torch.full_like(state[up + 'bias'], 3.0)
    for key in [k for k in state if k.startswith(
            'mask_decoder.output_hypernetworks_mlps.') and '.layers.2.' in k]:
        state[key] = (torch.zeros_like(state[key]) if key.endswith('weight')
                      else torch.ones_like(state[key]))
    iou = 'mask_decoder.iou_prediction_head.layers.2.'
    state[iou + 'weight'] = torch.zeros_like(state[iou + 'weight'])
    state[iou + 'bias'] = torch.ones_like(state[iou + 'bias'])
    return state


def small_settings(**kwargs):
    from anaus_mm.benchmark.lpsam_speed import SpeedSettings
    opts = dict(arch='tiny', img_size=SIZE, num_classes=6, num_images=2,
                amg_images=2, warmup=0, batch_size=2, points_per_side=4,
                points_per_batch=8, threads=1)
    opts.update(kwargs)
    return SpeedSettings(**opts)


def test_generator_masks_profile_and_ratios(tmp_path, sim_data_dir):
    from anaus_mm.benchmark.lpsam_speed import (SECTIONS, format_report,
                                                run)
    sam = str(tmp_path / 'sam_confident.pth')
    torch.save(confident_full_masks(official_state()), sam)
    img_dir = osp.join(sim_data_dir, 'images')
    summary = run(small_settings(sam_checkpoint=sam, img_dir=img_dir),
                  device='cpu', isolated=False)
    res = summary['results']
    amg, box, lp = res['sam_amg'], res['sam_box'], res['lpsam']
    # the generator decodes the 4x4 grid and keeps one (full) mask per image
    assert amg['prompts_per_image'] == 16
    assert amg['masks_per_image'] == [1, 1]
    assert amg['mean_masks_per_image'] == 1.0
    assert box['prompts_per_image'] == 1 and lp['prompts_per_image'] == 6
    assert len(lp['classes_present_per_image']) == 2
    assert amg['images_source'] == {'source': img_dir, 'distinct_images': 2}
    # the profile splits each method's time (ms per image)
    for r in res.values():
        prof = r['profile_ms_per_image']
        assert set(prof) == set(SECTIONS)
        assert prof['encoder'] > 0 and prof['decoder'] > 0
        assert sum(prof.values()) == pytest.approx(r['ms_per_image'],
                                                   rel=1e-6)
        assert r['ms_per_image'] == pytest.approx(
            1000 * r['seconds'] / r['images'])
    # ratios are quotients of the measured times
    assert summary['ratios']['lpsam_vs_amg'] == pytest.approx(
        (amg['seconds'] / amg['images']) / (lp['seconds'] / lp['images']))
    assert summary['ratios']['lpsam_vs_box'] == pytest.approx(
        lp['images_per_s'] / box['images_per_s'])
    assert summary['lpsam_time_vs_box_sam'] == pytest.approx(
        box['images_per_s'] / lp['images_per_s'])
    # the profile explains the ratio: the sections' differences add up
    gap = summary['time_gap_by_section']['sam_amg']
    assert gap['ms_per_image'] == pytest.approx(amg['ms_per_image'] -
                                                lp['ms_per_image'])
    assert sum(gap['by_section'].values()) == pytest.approx(
        gap['ms_per_image'], rel=1e-6)
    assert gap['by_section']['decoder'] == pytest.approx(
        amg['profile_ms_per_image']['decoder'] -
        lp['profile_ms_per_image']['decoder'])
    assert summary['random_weights'] == {'sam': False, 'lpsam': True}
    assert summary['weights']['sam'] == sam
    assert 'untrained adapters' in summary['weights']['lpsam']
    text = format_report(summary)
    assert 'RANDOM SAM WEIGHTS' not in text and 'UNTRAINED LP-SAM' in text
    assert 'LP-SAM / generator' in text
    # which way the gap goes depends on the machine's load; the sentence
    # follows the measured sign (both wordings: test_gap_sentence_follows_sign)
    word = 'more' if gap['ms_per_image'] > 0 else 'less'
    assert f'ms/image {word} than LP-SAM' in text

    # the same images with random weights: the generator keeps nothing
    summary = run(small_settings(img_dir=img_dir), ['sam_amg'],
                  device='cpu', isolated=False)
    assert summary['results']['sam_amg']['masks_per_image'] == [0, 0]
    assert summary['random_weights'] == {'sam': True, 'lpsam': True}
    assert summary['weights']['sam'].startswith('random')
    assert 'RANDOM SAM WEIGHTS' in format_report(summary)
    assert summary['ratios'] == {}


def test_gap_sentence_follows_sign():
    """The report splits a positive gap by section and states a negative one
    as such (hand-written profiles, no timing)."""
    from anaus_mm.benchmark.lpsam_speed import SECTIONS, time_gap

    def res(ms: float, **prof: float) -> dict:
        p = {k: prof.get(k, 0.0) for k in SECTIONS}
        return dict(ms_per_image=ms, profile_ms_per_image=p)

    lp = res(10.0, encoder=6.0, decoder=4.0)
    slow = res(30.0, encoder=6.0, decoder=19.0, postprocess=5.0)
    gap = time_gap(slow, lp)
    assert gap['ms_per_image'] == 20.0
    assert gap['by_section'] == dict(preprocess=0.0, encoder=0.0,
                                     decoder=15.0, postprocess=5.0)
    assert gap['share']['decoder'] == pytest.approx(0.75)
    fast = res(8.0, encoder=6.0, decoder=2.0)
    assert time_gap(fast, lp)['ms_per_image'] == -2.0
    from anaus_mm.benchmark import lpsam_speed
    base = dict(arch='tiny', img_size=64, device='cpu', threads=1,
                images=dict(source='x', distinct_images=1),
                weights=dict(sam='s', lpsam='l'),
                random_weights=dict(sam=False, lpsam=False),
                peak_memory_per_method=False, ratios={})
    for other, want in ((slow, ['generator takes 20.0 ms/image more',
                                'decoder +15.0 ms (75 %)']),
                        (fast, ['generator takes 2.0 ms/image less'])):
        results = {}
        for name, r in (('sam_amg', other), ('lpsam', lp)):
            results[name] = dict(r, images_per_s=1000 / r['ms_per_image'],
                                 prompts_per_image=1)
        text = lpsam_speed.format_report(dict(
            base, results=results,
            time_gap_by_section=dict(sam_amg=time_gap(other, lp))))
        for w in want:
            assert w in text, (w, text)


def test_tool_with_stage2_checkpoint_writes_json(tmp_path, run_tool):
    """The LP-SAM checkpoint gives the arch, size and classes (its saved
    config); SAM's weights stay random and the output says so."""
    from mmengine.config import Config

    from anaus_mm.models.lpsam import LPSAM
    model_cfg = dict(type='LPSAM', stage=2, num_classes=3, arch='tiny',
                     img_size=SIZE, prompt_engine_cfg=dict(depth=1))
    kwargs = {k: v for k, v in model_cfg.items() if k != 'type'}
    torch.manual_seed(0)
    state = LPSAM(**kwargs).state_dict()
    ckpt = str(tmp_path / 'stage2.pth')
    torch.save({'state_dict': state, 'meta': {
        'cfg': Config(dict(model=model_cfg)).pretty_text}}, ckpt)
    out = str(tmp_path / 'bench.json')
    res = run_tool([TOOL, '--lpsam-checkpoint', ckpt, '--num-images', '2',
                    '--amg-images', '1', '--warmup', '0',
                    '--batch-size', '2', '--points-per-side', '2',
                    '--threads', '1', '--same-process', '--out', out])
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert 'SAM random' in text and 'LP-SAM / generator' in text
    assert 'RANDOM SAM WEIGHTS' in text and 'UNTRAINED LP-SAM' not in text
    with open(out) as f:
        summary = json.load(f)
    assert (summary['arch'], summary['img_size']) == ('tiny', SIZE)
    assert summary['weights'] == {'sam': 'random (no SAM checkpoint)',
                                  'lpsam': ckpt}
    assert summary['random_weights'] == {'sam': True, 'lpsam': False}
    assert summary['settings']['lpsam_model'] == {
        'prompt_engine_cfg': {'depth': 1}}
    lp = summary['results']['lpsam']
    assert lp['num_classes'] == 3 and lp['prompts_per_image'] == 3
    assert summary['results']['sam_amg']['prompts_per_image'] == 4
    assert summary['peak_memory_per_method'] is False
    for key in ('lpsam_vs_amg', 'lpsam_vs_box'):
        assert summary['ratios'][key] > 0
    for key in ('images_per_s', 'ms_per_image', 'profile_ms_per_image',
                'prompts_per_image', 'peak_mem_mb'):
        assert all(key in r for r in summary['results'].values())
    assert 'masks_per_image' in summary['results']['sam_amg']

    # bad input: one-line errors, exit code 2
    sam = str(tmp_path / 'sam.pth')
    torch.save(official_state(), sam)
    for args, match in [
            (['--lpsam-checkpoint', ckpt, '--num-classes', '6'],
             r'--num-classes 6.* has 3 classes'),
            (['--lpsam-checkpoint', sam], 'is a SAM checkpoint'),
            (['--arch', 'tiny', '--img-size', str(SIZE), '--sam-checkpoint',
              ckpt, '--methods', 'sam_box', '--same-process'],
             'LP-SAM stage-2 checkpoint')]:
        res = run_tool([TOOL] + args)
        err = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(err) == 1, res.stderr
        assert re.search(match, err[0]), err[0]


def test_each_method_in_its_own_process():
    """The default: a spawned process per method (its own peak memory)."""
    from anaus_mm.benchmark.lpsam_speed import run
    summary = run(small_settings(num_images=1), ['sam_box'], device='cpu')
    r = summary['results']['sam_box']
    assert summary['peak_memory_per_method'] is True
    assert r['images'] == 1 and r['peak_mem_mb'] > 0
    assert r['images_source']['source'] == 'synthetic'


def test_saved_config_is_parsed_not_executed(tmp_path, monkeypatch):
    """The config text in a checkpoint's meta gives the model's literal
    settings; its code never runs (a checkpoint is data)."""
    from anaus_mm.benchmark.lpsam_speed import lpsam_checkpoint_info
    monkeypatch.chdir(tmp_path)
    state = {'prompt_engine.prompt_tokens': torch.zeros(4, 2, 32),
             'adapters.x': torch.zeros(1)}
    text = ("import os\nos.makedirs('pwned')\n"
            "model = dict(type='LPSAM', arch=open('x').read(), img_size=64,"
            " prompt_engine_cfg=dict(depth=2, dims=(1, -2)), "
            "score_thr=os.sep)\n")
    torch.save({'state_dict': state, 'meta': {'cfg': text}}, 'ckpt.pth')
    info = lpsam_checkpoint_info('ckpt.pth')
    assert not (tmp_path / 'pwned').exists()
    assert info == dict(file='ckpt.pth', num_classes=4, img_size=64,
                        model={'prompt_engine_cfg': {'depth': 2,
                                                     'dims': (1, -2)}})
