"""Training on several processes (GPUs, or machines) through PyTorch's own launcher and
DistributedDataParallel: ``torchrun --nproc-per-node N -m charlstm train CORPUS ...``.

torchrun starts one process per GPU and tells each, in its environment, its RANK (0 .. WORLD_SIZE-1) and
LOCAL_RANK (its GPU on this machine). The ``--batch-size`` B streams are split into WORLD_SIZE contiguous
groups: rank r reads streams [r*B/W, (r+1)*B/W) and carries their hidden state, so each stream's truncated
BPTT is exactly what one process would do. DDP averages the gradients over ranks during backward; every
rank's loss is the mean over the same number of characters, so the average is the one-process loss's
gradient, and all ranks take the same optimizer step.

Rank 0 alone evaluates (on the whole validation split), samples, prints and writes checkpoints and
metrics; the others wait for it at the next step. A checkpoint holds the state of all B streams in their
global order (gathered from every rank), so a run resumes exactly with any number of processes that
divides B; only dropout masks, drawn per rank, then differ from an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from charlstm.errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives (each a no-op in a world of one) ----------------------------------------------------

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def max(self, values: list[float], device: torch.device) -> list[float]:
        """Each value's maximum over ranks (what every rank must agree on: elapsed time, stop requests)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor.tolist()

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over ranks (the logged loss equals one process's)."""
        if not self.distributed:
            return value.item()
        value = value.detach().float().clone()
        dist.all_reduce(value)
        return value.item() / self.size

    def gather_rows(self, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Every rank's (L, B/W, H) state tensors -> the (L, B, H) tensors of all streams in rank order."""
        if not self.distributed:
            return tensors
        gathered = []
        for tensor in tensors:
            parts = [torch.empty_like(tensor) for _ in range(self.size)]
            dist.all_gather(parts, tensor.contiguous())
            gathered.append(torch.cat(parts, dim=1))
        return tuple(gathered)

    def gather_rng(self, state: dict) -> list[dict]:
        """Every rank's RNG states (``runtime.rng_state``: CPU byte tensors, so gloo carries them whatever
        device training runs on), in rank order."""
        if not self.distributed:
            return [state]
        tensors = [state["torch"], *state.get("cuda", [])]
        gathered = []
        for tensor in tensors:
            parts = [torch.empty_like(tensor) for _ in range(self.size)]
            dist.all_gather(parts, tensor)
            gathered.append(parts)
        states = [{"torch": gathered[0][rank]} for rank in range(self.size)]
        if "cuda" in state:
            for rank, rank_state in enumerate(states):
                rank_state["cuda"] = [parts[rank] for parts in gathered[1:]]
        return states

    def rows(self, batch_size: int) -> slice:
        """The streams this rank reads."""
        per_rank = batch_size // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ConfigError(f"--batch-size {batch_size} must be a multiple of the {self.size} processes "
                              f"(each reads an equal share of the streams)")


def lost_peer(error: BaseException) -> bool:
    """Whether an error raised in a collective says a peer process is gone: gloo's "Connection reset by
    peer" or "Connection closed", NCCL's errors, torch.distributed's own error types (a plain bug keeps its
    traceback)."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(mark in text for mark in ("gloo", "NCCL", "Connection reset",
                                                                              "Connection closed", "Broken pipe"))


def world_from_env() -> World:
    """The world torchrun describes in the environment (one process when it did not start us)."""
    try:
        return World(rank=int(os.environ.get("RANK", 0)), size=int(os.environ.get("WORLD_SIZE", 1)),
                     local_rank=int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (as torchrun sets them)") from None


def rank_device(device: torch.device, world: World) -> torch.device:
    """This rank's GPU on its machine (one process per GPU); other devices are shared as they are."""
    if device.type == "cuda" and world.distributed:
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {world.local_rank} has no GPU ({torch.cuda.device_count()} here): start "
                              f"at most one process per GPU (--nproc-per-node)")
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def join(world: World) -> None:
    """Join the process group, once per process: gloo for CPU tensors and, where there are GPUs, NCCL for
    theirs (each collective picks by its tensors' device, so ``--device cpu`` works on a GPU machine too)."""
    if world.distributed and not dist.is_initialized():
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")


def leave(world: World, wait: bool = True) -> None:
    """Leave the process group; with ``wait``, only once every rank is done with it (a gloo rank that tore
    it down while its peer was still closing aborted the process: "terminate called without an active
    exception", about one run in four)."""
    if world.distributed and dist.is_initialized():
        if wait:
            world.barrier()
        dist.destroy_process_group()


@contextmanager
def process_group(agreed: tuple[type[BaseException], ...] = ()) -> Iterator[World]:
    """The world torchrun started this process in, joined for the duration (a world of one otherwise).
    On the way out the ranks wait for each other when the body ended the same way on all of them: it
    returned, or raised one of the ``agreed`` exceptions (a stop every rank decided together). After any
    other error a peer may never arrive, so the group is left at once (torchrun stops the others)."""
    world = world_from_env()
    join(world)
    together = False
    try:
        yield world
        together = True
    except agreed:
        together = True
        raise
    finally:
        leave(world, wait=together)


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 does the work first (preparing the corpus cache), the others after it, finding it done."""
    if not world.is_main:
        world.barrier()
    yield
    if world.is_main:
        world.barrier()
