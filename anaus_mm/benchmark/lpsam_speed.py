"""LP-SAM mask generation speed against SAM's own ways of prompting.

Three methods, the same SAM encoder architecture and the same square input
size (every image is resized to ``img_size`` × ``img_size`` first):

* ``lpsam``: LP-SAM stage 2 (latent prompts, every anatomy class in one
  batched decoder call, merged label map), batches of ``batch_size``;
* ``sam_amg``: segment-anything's ``SamAutomaticMaskGenerator`` with a
  ``points_per_side``² point grid (one image at a time, as it works);
* ``sam_box``: ``SamPredictor`` with one box prompt per image
  (``set_image`` + ``predict``).

Weights: SAM's (``sam_amg``, ``sam_box``, and LP-SAM's SAM parts) come from
an official-layout SAM state dict (``sam_checkpoint``: Meta's files or the
simulator-trained stand-in, read with ``weights_only=True`` by
:func:`anaus_mm.models.lpsam.checkpoint.load_sam_checkpoint`); LP-SAM's may
come from a stage-2 checkpoint (``lpsam_checkpoint``: a ``.pth`` or a work
dir). Without them the weights are random, and the results say so: the
generator's post-processing scales with the masks it keeps, and random
weights keep none, so random-weight figures flatter the generator.

Images: a folder of real images (``img_dir``, e.g. a simulated set's
``images/``), read as LP-SAM's mask generation reads them (8/16-bit, grey,
RGB), or synthetic speckled layers when none is given.

Every method reports images/s and ms/image over its timed images, and a
profile that explains the ratios (ms/image, CPU/GPU synchronised at each
boundary):

* ``preprocess``: resizing / normalising the input;
* ``encoder``: the image encoder (LP-SAM: SAM + adapters);
* ``decoder``: prompt encoding, mask decoding and upsampling of the masks
  (LP-SAM: prompt engine + decoder, ``C`` masks per image; generator:
  ``points_per_side``² prompts × 3 masks per image; box: 1 prompt);
* ``postprocess``: what is left: LP-SAM's label-map merge, the generator's
  IoU / stability filtering, box NMS and RLE encoding of the masks it keeps.

and its counts: prompts decoded per image, masks kept per image by the
generator, classes present per image in LP-SAM's label maps.

``tools/analysis_tools/benchmark_lpsam.py`` is the command line.
"""
import os.path as osp
import resource
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List,
                    Optional, Sequence, Tuple)

if TYPE_CHECKING:
    from torch import nn

from ..utils.errors import ConfigValueError

__all__ = [
    'METHODS', 'SpeedSettings', 'Profiler', 'load_images', 'synthetic_images',
    'lpsam_checkpoint_info', 'build_sam', 'build_lpsam', 'run_method',
    'run_isolated', 'time_gap', 'summarize', 'format_report', 'run'
]

METHODS = ('lpsam', 'sam_amg', 'sam_box')
#: SAM's pixel normalisation (RGB), as ``segment_anything.build_sam`` uses it
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]
SECTIONS = ('preprocess', 'encoder', 'decoder', 'postprocess')


@dataclass
class SpeedSettings:
    """What one benchmark run measures.

    Args:
        arch (str): SAM architecture preset (``vit_b``, ``tiny``, ...).
        img_size (int): square input size of every method.
        num_classes (int): LP-SAM anatomy classes.
        num_images (int): timed images of ``lpsam`` and ``sam_box``.
        amg_images (int): timed images of the (slow) generator.
        warmup (int): untimed images first (batches for ``lpsam``).
        batch_size (int): LP-SAM batch size.
        points_per_side (int): the generator's point grid side.
        points_per_batch (int): points the generator decodes per call.
        sam_checkpoint (str, optional): official-layout SAM state dict.
        lpsam_checkpoint (str, optional): stage-2 LP-SAM ``.pth`` / work dir.
        img_dir (str, optional): folder of real images.
        threads (int, optional): torch CPU threads.
        lpsam_model (dict): LP-SAM model kwargs taken from the stage-2
            checkpoint's config (adapter / prompt engine settings, score
            threshold); filled by :func:`lpsam_checkpoint_info`.
    """
    arch: str = 'vit_b'
    img_size: int = 256
    num_classes: int = 6
    num_images: int = 8
    amg_images: int = 2
    warmup: int = 1
    batch_size: int = 4
    points_per_side: int = 32
    points_per_batch: int = 64
    sam_checkpoint: Optional[str] = None
    lpsam_checkpoint: Optional[str] = None
    img_dir: Optional[str] = None
    threads: Optional[int] = None
    lpsam_model: Dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`ConfigValueError` on impossible values."""
        for name in ('img_size', 'num_classes', 'num_images', 'amg_images',
                     'batch_size', 'points_per_side', 'points_per_batch'):
            if getattr(self, name) < 1:
                raise ConfigValueError(f'{name} must be >= 1, got '
                                       f'{getattr(self, name)}')
        if self.warmup < 0:
            raise ConfigValueError(f'warmup must be >= 0, got {self.warmup}')
        if self.img_size % 16:
            raise ConfigValueError(
                f'img_size must be a multiple of 16, got {self.img_size}')
        if self.img_dir is not None and not osp.isdir(self.img_dir):
            raise ConfigValueError(f'image folder not found: {self.img_dir}')

    def weights(self) -> Dict[str, str]:
        """Where each method's weights come from, in words."""
        sam = self.sam_checkpoint or 'random (no SAM checkpoint)'
        if self.lpsam_checkpoint:
            lp = self.lpsam_checkpoint
        elif self.sam_checkpoint:
            lp = (f'SAM weights of {self.sam_checkpoint}, untrained adapters'
                  ' and prompt engine (no LP-SAM checkpoint)')
        else:
            lp = 'random (no SAM or LP-SAM checkpoint)'
        return dict(sam=sam, lpsam=lp)


# ------------------------------------------------------------------ images
def synthetic_images(n: int, size: int, seed: int = 0) -> list:
    """``n`` RGB uint8 ``(size, size, 3)`` images: speckled layers and a
    dark blob."""
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        img = (60 + 120 * (yy > size * rng.uniform(0.2, 0.5)) +
               rng.normal(0, 25, (size, size)))
        cy, cx = rng.uniform(0.4, 0.8, 2) * size
        img[(yy - cy)**2 + (xx - cx)**2 < (size / 8)**2] = 20
        img = np.clip(img, 0, 255).astype(np.uint8)
        out.append(np.repeat(img[..., None], 3, -1))
    return out


def load_images(img_dir: Optional[str], n: int,
                size: int) -> Tuple[list, Dict[str, Any]]:
    """``n`` RGB uint8 ``(size, size, 3)`` images and where they came from.

    Args:
        img_dir (str, optional): a folder of images (searched recursively,
            natural order; read as LP-SAM's mask generation reads them,
            then resized, bilinear). ``None``: :func:`synthetic_images`.
        n (int): images wanted; a folder with fewer is cycled.
        size (int): the side of the square images.

    Returns:
        tuple[list, dict]: the images and ``source``, ``distinct_images``.

    Raises:
        ConfigValueError: a folder without a readable image.
    """
    if img_dir is None:
        return synthetic_images(n, size), dict(source='synthetic',
                                               distinct_images=n)
    import cv2

    from ..apis.lpsam_inferencer import read_image
    from ..datasets.utils import IMG_EXTENSIONS, list_files
    rels = list_files(img_dir, IMG_EXTENSIONS, recursive=True)
    images = []
    for rel in rels:
        if len(images) == n:
            break
        try:
            bgr = read_image(osp.join(img_dir, rel))
        except ValueError:
            continue  # an unreadable file is no benchmark image
        small = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
        images.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    if not images:
        raise ConfigValueError(f'no readable image in {img_dir}')
    distinct = len(images)
    images = [images[i % distinct] for i in range(n)]
    return images, dict(source=img_dir, distinct_images=distinct)


# ---------------------------------------------------------------- profile
class Profiler:
    """Wall time per named section (device synchronised at each boundary).

    Sections may nest; an inner section's time is *also* in the outer one
    (the caller subtracts). ``counts`` holds whatever the wrapped calls
    count (e.g. prompts decoded).

    Args:
        device (str): ``'cpu'`` or ``'cuda...'`` (synchronised).
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.seconds: Dict[str, float] = {}
        self.counts: Dict[str, int] = {}
        self.enabled = True

    def sync(self) -> None:
        if self.device.startswith('cuda'):
            import torch
            torch.cuda.synchronize()

    def reset(self) -> None:
        self.seconds.clear()
        self.counts.clear()

    def count(self, name: str, n: int) -> None:
        if self.enabled:
            self.counts[name] = self.counts.get(name, 0) + int(n)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the ``with`` body into ``name``."""
        self.sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            if self.enabled:
                self.seconds[name] = self.seconds.get(name, 0.0) + (
                    time.perf_counter() - t0)

    def wrap(self, obj: Any, attr: str, name: str,
             on_call: Optional[Callable[..., None]] = None) -> None:
        """Time every call of ``obj.attr`` into ``name`` (the instance
        attribute shadows the method; ``on_call(*args, **kwargs)`` may
        count)."""
        fn = getattr(obj, attr)

        def timed(*args, **kwargs):
            if on_call is not None:
                on_call(*args, **kwargs)
            with self.section(name):
                return fn(*args, **kwargs)

        setattr(obj, attr, timed)


# ----------------------------------------------------------------- models
def _literal(node):
    """A config value from its syntax tree: constants, lists, tuples,
    ``{...}`` and ``dict(k=v)`` only (nothing is executed)."""
    import ast
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys,
                                                         node.values)}
    return ast.literal_eval(node)  # constants, -1, ...; raises otherwise


def _saved_model_cfg(text: str) -> Dict[str, Any]:
    """The literal entries of ``model = dict(...)`` in a config text saved
    in a checkpoint's ``meta`` (parsed, never executed: a checkpoint is
    data)."""
    import ast
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'model'
                for t in stmt.targets) and isinstance(stmt.value, ast.Call):
            out = {}
            for kw in stmt.value.keywords:
                try:
                    out[kw.arg] = _literal(kw.value)
                except (ValueError, TypeError, SyntaxError):
                    pass  # not a literal: not needed here
            return out
    return {}


def lpsam_checkpoint_info(path: str) -> Dict[str, Any]:
    """What a stage-2 LP-SAM checkpoint says about its model.

    Args:
        path (str): a stage-2 ``.pth`` or its work dir (best, else last).

    Returns:
        dict: ``file`` (the resolved file), ``num_classes`` (from the prompt
        tokens), and from the config saved in the checkpoint's ``meta`` (as
        mmengine's Runner writes it; parsed, not executed), when there:
        ``arch``, ``img_size`` and ``model`` (adapter / prompt-engine
        settings, score threshold).

    Raises:
        FileNotFoundError: no checkpoint there.
        ValueError: unreadable, or not a stage-2 LP-SAM checkpoint (the
            message says what it is).
    """
    from ..utils.checkpoint import (CheckpointError, read_checkpoint,
                                    resolve_checkpoint)
    what = 'stage-2 LP-SAM checkpoint'
    file = resolve_checkpoint(path, what=what)
    state, ckpt = read_checkpoint(file, what=what)
    tokens = state.get('prompt_engine.prompt_tokens')
    if tokens is None:
        kind = ('a stage-1 LP-SAM checkpoint (adapters, no prompt engine)'
                if any(k.startswith('adapters.') for k in state) else
                'a SAM checkpoint (no adapters, no prompt engine): pass it '
                'as the SAM checkpoint')
        raise CheckpointError(f'{file} is {kind}, not a {what}')
    info: Dict[str, Any] = dict(file=file, num_classes=int(tokens.shape[0]),
                                model={})
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    text = meta.get('cfg') if isinstance(meta, dict) else None
    model = _saved_model_cfg(text) if isinstance(text, str) else {}
    if model.get('type') == 'LPSAM':
        if isinstance(model.get('arch'), str):
            info['arch'] = model['arch']
        if isinstance(model.get('img_size'), int):
            info['img_size'] = model['img_size']
        for key in ('adapter_cfg', 'prompt_engine_cfg', 'score_thr'):
            if key in model:
                info['model'][key] = model[key]
    return info


def build_sam(settings: SpeedSettings, device: str) -> 'nn.Module':
    """SAM (``segment_anything.modeling.Sam``) of ``settings.arch`` at
    ``settings.img_size``, with ``settings.sam_checkpoint`` loaded as LP-SAM
    loads it (position tables resized; another architecture is an error
    naming the key and shapes)."""
    from segment_anything.modeling import Sam

    from ..models.lpsam.checkpoint import (load_sam_checkpoint,
                                           register_resize_hook)
    from ..models.lpsam.sam_builder import PATCH_SIZE, build_sam_parts
    enc, prompt, dec, arch = build_sam_parts(settings.arch, settings.img_size)
    register_resize_hook(enc, arch['global_attn_indexes'])
    sam = Sam(enc, prompt, dec, pixel_mean=PIXEL_MEAN, pixel_std=PIXEL_STD)
    if settings.sam_checkpoint:
        load_sam_checkpoint(sam, settings.sam_checkpoint,
                            settings.img_size // PATCH_SIZE,
                            arch['global_attn_indexes'])
    return sam.to(device).eval()


def build_lpsam(settings: SpeedSettings, device: str) -> 'nn.Module':
    """The stage-2 LP-SAM: ``settings.lpsam_checkpoint`` loaded in full
    (position tables resized to ``img_size`` when it was trained at another
    size), else SAM weights from ``settings.sam_checkpoint`` (or random)
    and untrained LP-SAM parts. Inputs are RGB."""
    from ..models.lpsam import LPSAM
    from ..models.lpsam.checkpoint import resize_sam_encoder_state
    from ..utils.checkpoint import (CheckpointError, check_shapes,
                                    missing_keys, read_checkpoint,
                                    resolve_checkpoint)
    size = settings.img_size
    model = LPSAM(
        stage=2, arch=settings.arch, img_size=size,
        num_classes=settings.num_classes,
        sam_checkpoint=(None if settings.lpsam_checkpoint else
                        settings.sam_checkpoint),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=PIXEL_MEAN,
                               std=PIXEL_STD, bgr_to_rgb=False,
                               size=(size, size)),
        **settings.lpsam_model)
    if settings.lpsam_checkpoint:
        what = 'stage-2 LP-SAM checkpoint'
        path = resolve_checkpoint(settings.lpsam_checkpoint, what=what)
        state, _ = read_checkpoint(path, what=what)
        state = dict(state)
        resize_sam_encoder_state(state, 'image_encoder.', model.grid,
                                 model.arch['global_attn_indexes'])
        check_shapes(model, state, path, what=what)
        missing = missing_keys(model, state)
        if missing:
            raise CheckpointError(
                f'{what} {path} lacks {len(missing)} keys of the model, e.g. '
                f'{missing[:3]}')
        model.load_state_dict(state, strict=False)
    return model.to(device).eval()


# ---------------------------------------------------------------- methods
def _peak_mem_mb(device: str) -> float:
    if device.startswith('cuda'):
        import torch
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lpsam_runner(settings, device, prof):
    import torch
    model = build_lpsam(settings, device)
    present: List[int] = []
    outputs: list = []
    prof.wrap(model, 'extract_feat', 'encoder')
    prof.wrap(model.decode_head, 'predict', 'decoder',
              lambda *a, **k: prof.count('prompts', settings.num_classes *
                                         a[1].shape[0]))

    def step(batch):
        with prof.section('preprocess'):
            x = [torch.from_numpy(i).permute(2, 0, 1) for i in batch]
            data = model.data_preprocessor(dict(inputs=x), False)
            inputs = data['inputs'].to(device)
        probs, _ = model.predict_probs(inputs)
        with prof.section('postprocess'):
            labels = model.merge_label_map(probs).cpu()
        if prof.enabled:
            outputs.extend(labels)  # counted after the timing

    def finish():
        for lab in outputs:
            present.append(int((torch.bincount(
                lab.flatten().long(),
                minlength=settings.num_classes + 1)[1:] > 0).sum()))

    extra = dict(batch_size=settings.batch_size,
                 num_classes=settings.num_classes,
                 classes_present_per_image=present,
                 weights=settings.weights()['lpsam'])
    return step, settings.batch_size, extra, finish


def _sam_runner(name, settings, device, prof):
    import numpy as np
    sam = build_sam(settings, device)
    prof.wrap(sam.image_encoder, 'forward', 'encoder')
    if name == 'sam_amg':
        from segment_anything import SamAutomaticMaskGenerator
        gen = SamAutomaticMaskGenerator(
            sam, points_per_side=settings.points_per_side,
            points_per_batch=settings.points_per_batch)
        pred = gen.predictor
        kept: List[int] = []

        def step(batch):
            for img in batch:
                masks = gen.generate(img)
                if prof.enabled:
                    kept.append(len(masks))

        extra = dict(points_per_side=settings.points_per_side,
                     points_per_batch=settings.points_per_batch,
                     masks_per_image=kept)
    else:
        from segment_anything import SamPredictor
        pred = SamPredictor(sam)
        s = settings.img_size
        box = np.array([s * 0.25, s * 0.25, s * 0.75, s * 0.75])

        def step(batch):
            for img in batch:
                pred.set_image(img)
                pred.predict(box=box, multimask_output=False)

        extra = {}
    prof.wrap(pred, 'set_image', 'set_image')

    def count_prompts(point_coords=None, point_labels=None, boxes=None,
                      *args, **kwargs):
        prompts = point_coords if point_coords is not None else boxes
        prof.count('prompts', 1 if prompts is None else len(prompts))

    prof.wrap(pred, 'predict_torch', 'decoder', count_prompts)
    extra['weights'] = settings.weights()['sam']
    return step, 1, extra, lambda: None


def run_method(name: str, settings: SpeedSettings,
               device: str = 'cpu') -> Dict[str, Any]:
    """Time one method in this process.

    Returns:
        dict: ``method``, ``images``, ``seconds``, ``images_per_s``,
        ``ms_per_image``, ``profile_ms_per_image`` (:data:`SECTIONS`),
        ``prompts_per_image``, ``peak_mem_mb`` and the method's counts
        (``masks_per_image`` / ``mean_masks_per_image`` of the generator,
        ``classes_present_per_image`` of LP-SAM).
    """
    import torch
    if name not in METHODS:
        raise ConfigValueError(f'unknown method {name!r}; one of {METHODS}')
    settings.check()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    prof = Profiler(device)
    with torch.no_grad():
        if name == 'lpsam':
            step, per_step, extra, finish = _lpsam_runner(
                settings, device, prof)
        else:
            step, per_step, extra, finish = _sam_runner(
                name, settings, device, prof)
        n = settings.amg_images if name == 'sam_amg' else settings.num_images
        warm = settings.warmup * per_step
        images, source = load_images(settings.img_dir, warm + n,
                                     settings.img_size)
        prof.enabled = False
        for i in range(0, warm, per_step):
            step(images[i:i + per_step])
        prof.enabled = True
        prof.reset()
        prof.sync()
        t0 = time.perf_counter()
        for i in range(warm, warm + n, per_step):
            step(images[i:i + per_step])
        prof.sync()
        elapsed = time.perf_counter() - t0
        finish()
    sec = dict(prof.seconds)
    if name != 'lpsam':  # set_image = resize + normalise + encoder
        sec['preprocess'] = sec.pop('set_image', 0.0) - sec.get('encoder', 0)
    sec['postprocess'] = sec.get('postprocess', 0.0) + max(
        0.0, elapsed - sum(sec.get(k, 0.0) for k in SECTIONS))
    profile = {k: 1000 * sec.get(k, 0.0) / n for k in SECTIONS}
    if 'masks_per_image' in extra:
        kept = extra['masks_per_image']
        extra['mean_masks_per_image'] = sum(kept) / len(kept)
    return dict(method=name, images=n, seconds=elapsed,
                images_per_s=n / elapsed, ms_per_image=1000 * elapsed / n,
                profile_ms_per_image=profile,
                prompts_per_image=prof.counts.get('prompts', 0) / n,
                peak_mem_mb=round(_peak_mem_mb(device), 1),
                threads=torch.get_num_threads(), images_source=source,
                **extra)


def _child(name, settings, device, queue):
    try:
        queue.put(run_method(name, settings, device))
    except Exception as e:  # noqa: BLE001  reported by the parent
        queue.put(dict(method=name,
                       error=f'{type(e).__name__}: {e}'.splitlines()[0]))


def run_isolated(name: str, settings: SpeedSettings,
                 device: str = 'cpu') -> Dict[str, Any]:
    """:func:`run_method` in a fresh (spawned) process, so that the peak
    memory is the method's own.

    Raises:
        ConfigValueError: the method failed (its one-line error).
    """
    import multiprocessing as mp
    ctx = mp.get_context('spawn')
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, settings, device, q))
    proc.start()
    try:
        res = q.get()
    finally:
        proc.join()
    if 'error' in res:
        raise ConfigValueError(f'{name} failed: {res["error"]}')
    return res


# ---------------------------------------------------------------- summary
def time_gap(other: Dict[str, Any], lpsam: Dict[str, Any]) -> Dict[str, Any]:
    """Where the time difference between ``other`` and LP-SAM goes.

    Returns:
        dict: ``ms_per_image`` (other's ms/image minus LP-SAM's) and
        ``by_section``: each section's difference (ms/image; they add up to
        ``ms_per_image``) and ``share`` (its fraction of the difference).
    """
    a, b = other['profile_ms_per_image'], lpsam['profile_ms_per_image']
    gap = other['ms_per_image'] - lpsam['ms_per_image']
    by = {k: a[k] - b[k] for k in SECTIONS}
    return dict(ms_per_image=gap, by_section=by,
                share={k: (v / gap if gap else None) for k, v in by.items()})


def summarize(results: Dict[str, Dict[str, Any]], settings: SpeedSettings,
              device: str, isolated: bool = True) -> Dict[str, Any]:
    """The benchmark's JSON: settings, weights, per-method results and the
    ratios.

    ``ratios.lpsam_vs_amg`` and ``ratios.lpsam_vs_box`` are LP-SAM's
    throughput over the other method's (= the other's ms/image over
    LP-SAM's); > 1: LP-SAM is faster. ``time_gap_by_section`` splits each
    difference by profile section (:func:`time_gap`). ``random_weights``:
    ``sam`` without a SAM checkpoint, ``lpsam`` without a stage-2 one.
    """
    weights = settings.weights()
    out: Dict[str, Any] = dict(
        arch=settings.arch, img_size=settings.img_size, device=device,
        threads=(next(iter(results.values()))['threads'] if results else
                 settings.threads),
        weights=weights,
        random_weights=dict(sam=not settings.sam_checkpoint,
                            lpsam=not settings.lpsam_checkpoint),
        images=(next(iter(results.values()))['images_source']
                if results else None),
        settings={k: v for k, v in asdict(settings).items()},
        peak_memory_per_method=isolated,
        results=results, ratios={})
    lp = results.get('lpsam')
    out['time_gap_by_section'] = {
        other: time_gap(results[other], lp)
        for other in ('sam_amg', 'sam_box') if lp and other in results
    }
    if lp:
        if 'sam_amg' in results:
            r = results['sam_amg']['ms_per_image'] / lp['ms_per_image']
            out['ratios']['lpsam_vs_amg'] = r
            out['lpsam_vs_amg_speedup'] = r
            out['target_amg_10x_met'] = r >= 10
            out['aim_amg_30x_met'] = r >= 30
        if 'sam_box' in results:
            r = results['sam_box']['ms_per_image'] / lp['ms_per_image']
            out['ratios']['lpsam_vs_box'] = r
            out['lpsam_time_vs_box_sam'] = 1 / r
            out['target_box_1.3x_met'] = 1 / r <= 1.3
    return out


def format_report(summary: Dict[str, Any]) -> str:
    """The summary as text: weights, a table per method with the profile,
    the counts and the ratios."""
    w = summary['weights']
    lines = [
        f'{summary["arch"]} at {summary["img_size"]}px on '
        f'{summary["device"]} ({summary["threads"]} threads); images: '
        f'{summary["images"]["source"]} '
        f'({summary["images"]["distinct_images"]} distinct)',
        f'weights: SAM {w["sam"]}; LP-SAM {w["lpsam"]}'
    ]
    rand, methods = summary['random_weights'], summary['results']
    if rand['sam'] and ('sam_amg' in methods or 'sam_box' in methods):
        lines.append('RANDOM SAM WEIGHTS: the generator keeps few or no '
                     'masks, so its post-processing (and its time) is '
                     'understated')
    if rand['lpsam'] and 'lpsam' in methods:
        lines.append('UNTRAINED LP-SAM (no LP-SAM checkpoint): random '
                     'adapters and prompt engine; its speed does not depend '
                     'on them')
    head = (f'{"method":8s} {"img/s":>8s} {"ms/img":>9s} | '
            + ' '.join(f'{s:>11s}' for s in SECTIONS)
            + f' | {"prompts":>7s} {"kept":>6s} {"mem MiB":>8s}')
    lines += [head, '-' * len(head)]
    for name, r in summary['results'].items():
        prof = r['profile_ms_per_image']
        kept = (f'{r["mean_masks_per_image"]:6.1f}'
                if 'mean_masks_per_image' in r else f'{"-":>6s}')
        mem = (f'{r["peak_mem_mb"]:8.0f}' if summary['peak_memory_per_method']
               else f'{"-":>8s}')
        lines.append(
            f'{name:8s} {r["images_per_s"]:8.3f} {r["ms_per_image"]:9.1f} | '
            + ' '.join(f'{prof[s]:11.1f}' for s in SECTIONS)
            + f' | {r["prompts_per_image"]:7.0f} {kept} {mem}')
    lines.append('(profile columns: ms per image; prompts: decoded per image;'
                 ' kept: masks the generator keeps per image)')
    names = dict(sam_amg='generator', sam_box='single-box SAM')
    for other, gap in summary.get('time_gap_by_section', {}).items():
        if gap['ms_per_image'] > 0:
            parts = ', '.join(
                f'{k} {gap["by_section"][k]:+.1f} ms '
                f'({100 * gap["share"][k]:.0f} %)' for k in SECTIONS)
            lines.append(f'{names[other]} takes {gap["ms_per_image"]:.1f} ms'
                         f'/image more than LP-SAM: {parts}')
        else:
            lines.append(f'{names[other]} takes '
                         f'{-gap["ms_per_image"]:.1f} ms/image less than '
                         f'LP-SAM')
    ratios = summary['ratios']
    if 'lpsam_vs_amg' in ratios:
        lines.append(f'LP-SAM / generator throughput: '
                     f'{ratios["lpsam_vs_amg"]:.1f}x (target >= 10x, aim '
                     f'>= 30x)')
    if 'lpsam_vs_box' in ratios:
        lines.append(f'LP-SAM / single-box SAM throughput: '
                     f'{ratios["lpsam_vs_box"]:.2f}x (LP-SAM time / box '
                     f'time {1 / ratios["lpsam_vs_box"]:.2f}x, target <= '
                     f'1.3x)')
    return '\n'.join(lines)


def run(settings: SpeedSettings, methods: Sequence[str] = METHODS,
        device: str = 'cpu', isolated: bool = True,
        log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Run ``methods`` (each in its own process when ``isolated``) and
    return :func:`summarize`'s dict."""
    settings.check()
    results = {}
    for name in methods:
        res = (run_isolated if isolated else run_method)(name, settings,
                                                         device)
        results[name] = res
        if log:
            log(f'{name}: {res["images_per_s"]:.3f} images/s '
                f'({res["images"]} images in {res["seconds"]:.2f} s)')
    return summarize(results, settings, device, isolated)
