"""Extract the online backbone of a pre-training checkpoint.

Writes ``{'state_dict': <backbone weights without the 'backbone.' prefix>,
'meta': {...}}`` that downstream configs load with
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``. (The raw checkpoint
also works with ``prefix='backbone.'``.) The EMA target (``target_net.*``),
neck, projectors and head are dropped.

Example::

    python tools/model_converters/extract_backbone.py \
        work_dirs/anaus/epoch_300.pth work_dirs/anaus/backbone.pth
"""
import argparse
import os
import os.path as osp

import anaus_mm  # noqa: F401  (compatibility fixes first)
from anaus_mm.compat import UnsafeCheckpointError, load_checkpoint_file
from anaus_mm.utils.cli import CLIError, run_cli
from anaus_mm.utils.io import atomic_torch_save


def extract_backbone(state_dict, prefix='backbone.'):
    """Keys of ``state_dict`` under ``prefix``, with the prefix removed."""
    out = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='pre-training checkpoint (.pth)')
    parser.add_argument('out', help='output backbone checkpoint (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help="prefix of the online backbone's keys")
    args = parser.parse_args(argv)

    if not osp.isfile(args.checkpoint):
        raise CLIError(f'checkpoint not found: {args.checkpoint}')
    try:
        # weights_only, with mmengine's message-hub types allow-listed
        ckpt = load_checkpoint_file(args.checkpoint, map_location='cpu')
    except UnsafeCheckpointError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CLIError(f'cannot read checkpoint {args.checkpoint}: '
                       f'{type(e).__name__}: {e}'.splitlines()[0]) from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise CLIError(f'{args.checkpoint} holds no state dict')
    backbone = extract_backbone(state, args.prefix)
    if not backbone:
        some = ', '.join(list(state)[:3])
        raise CLIError(f'no key starts with "{args.prefix}" in '
                       f'{args.checkpoint} (keys look like: {some})')
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    meta = dict(source=osp.abspath(args.checkpoint),
                num_tensors=len(backbone))
    if isinstance(ckpt.get('meta'), dict):
        for key in ('epoch', 'iter', 'seed', 'mmengine_version'):
            if key in ckpt['meta']:
                meta[key] = ckpt['meta'][key]
    atomic_torch_save(dict(state_dict=backbone, meta=meta), args.out)
    print(f'wrote {len(backbone)} backbone tensors to {args.out}')


if __name__ == '__main__':
    run_cli(main)
