"""Hooks, registered into the mmpretrain / mmseg HOOKS registries."""
from .nonfinite_loss_hook import NonFiniteLossHook  # noqa: F401
