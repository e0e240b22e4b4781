"""DistributedDataParallel for CPU processes (gloo), e.g. CI or a laptop."""
from typing import Any

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for modules that live on the CPU.

    PyTorch's ``SyncBatchNorm`` only runs on GPUs, so SyncBN layers are
    reverted to plain BatchNorm (statistics are then per process, as on a
    single machine) and ``device_ids`` is left unset. ``tools/train.py``
    selects this wrapper when it runs under a launcher without CUDA.

    Args:
        module (nn.Module): The model to wrap.
        **kwargs: see :class:`mmengine.model.MMDistributedDataParallel`
            (``device_ids`` and ``output_device`` are ignored).
    """

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        kwargs['device_ids'] = None
        kwargs.pop('output_device', None)
        module = revert_sync_batchnorm(module)
        print_log('CPU distributed run: SyncBN layers (if any) reverted to '
                  'BatchNorm.', logger='current')
        super().__init__(module=module, **kwargs)
