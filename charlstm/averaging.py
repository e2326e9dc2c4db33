"""Averaged weights: what ``--average-evals K`` evaluates and keeps.

The memory of a model on the memory corpus came and went from one evaluation to the next (500 steps
apart) while the loss kept falling, and the mean of the weights at three consecutive evaluations held it
far more often than any one of them (``benchmarks/memory_recipes.md``). With K > 1 every evaluation
therefore reads, and every checkpoint keeps as its ``model``, the mean of the weights at this evaluation
and the K - 1 before it. Training itself never sees the mean: it goes on from its own weights (kept in
the checkpoint as ``train_model``, with the earlier evaluations' weights as ``snapshots``, so a resumed run
averages exactly as an uninterrupted one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

Weights = dict[str, torch.Tensor]


def snapshot(model: torch.nn.Module) -> Weights:
    """A copy of the model's weights and buffers, unaffected by later training."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def mean_weights(states: list[Weights]) -> Weights:
    """The element-wise mean of ``states`` (summed in float64, so the order of the sum cannot matter);
    tensors that are not floating point (counters, masks) are taken from the last."""
    last = states[-1]
    return {name: (torch.stack([s[name].double() for s in states]).mean(0).to(tensor.dtype)
                   if tensor.is_floating_point() else tensor.clone())
            for name, tensor in last.items()}


@contextmanager
def weights_of(model: torch.nn.Module, weights: Weights | None, own: Weights | None) -> Iterator[None]:
    """Run the block with ``weights`` loaded into ``model`` (nothing changes when None), then put back
    ``own``, a snapshot of the model's own weights taken before."""
    if weights is None:
        yield
        return
    model.load_state_dict(weights)
    try:
        yield
    finally:
        model.load_state_dict(own)


def checked_snapshots(saved: object, model: torch.nn.Module, keep: int) -> list[Weights]:
    """The last ``keep`` of a checkpoint's ``snapshots``, on the model's device; ValueError where one does
    not fit the model."""
    if saved is None:
        return []
    reference = model.state_dict()
    if not isinstance(saved, (list, tuple)) or not all(
            isinstance(s, dict) and s.keys() == reference.keys()
            and all(isinstance(s[k], torch.Tensor) and s[k].shape == v.shape and s[k].dtype == v.dtype
                    for k, v in reference.items()) for s in saved):
        raise ValueError("the averaged weights' snapshots do not fit the model")
    device = next(model.parameters()).device
    kept = list(saved)[-keep:] if keep else []
    return [{k: v.to(device) for k, v in s.items()} for s in kept]
