"""Attention over the recurrent core's own past (one head, as in SHA-RNN: Merity 2019, "Single Headed
Attention RNN"): the next step after the LSTM that Olah's post ends on, with where it looked kept visible.

At every character t the top layer's output h_t looks back over the last M outputs (itself included):

    q_t = W_q h_t     k_s = W_k h_s     v_s = W_v h_s     z_ts = q_t·k_s / √d   for s in (t-M, t]
    α_ts = softmax_s(z_ts)                                   (kind "softmax", as SHA-RNN)
      or  β_ts Π_{s<r≤t} (1 − β_tr),  β = σ(z)               (kind "stick-breaking")
    out_t = h_t + W_o Σ_s α_ts v_s                          (then dropout and the head)

Softmax weighs every match in the memory alike, wherever it is: with several stories in the memory, each
with its own cue, it cannot tell the latest from the others. Stick-breaking (Tan et al. 2024, "Scaling
Stick-Breaking Attention") reads the memory from the newest output back and gives each the share of
attention the newer ones left over, so the latest match wins and a match far back behind filler that
does not match still gets it all: recency without a penalty on distance.

The M past outputs, kept as their keys and values (d wide each), are the attention's **memory**: part of
the carried state, detached at window borders with the rest of it (as Transformer-XL keeps its cache), so
a character at the start of a window sees the end of the previous one exactly as a character read one
step at a time does (the window path and the step path compute the same thing). The memory adds three
tensors to the state, after the core's: ``keys`` and ``values`` (M, B, d), oldest slot first, and
``seen`` (1, B, 1), how many slots hold an output (a fresh state has none; empty slots are masked).

Cost per character, beside an LSTM layer's 4·H·(H + input) multiply-adds: 4·H·d to project it and, in a
window of T, 2·(M + T)·d to score and mix; a sampled step reads its M slots, 2·M·d.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# The query, key and value width d: wide enough for one head to find a cue, small beside H so that the
# M + T slots a window reads stay cheap.
KEY_SIZE = 64

Memory = tuple[torch.Tensor, torch.Tensor, torch.Tensor]   # keys, values (M, B, d); seen (1, B, 1)


def stick_breaking(scores: torch.Tensor) -> torch.Tensor:
    """Weights from scores ordered oldest to newest along the last dimension (-inf: not looked at): each
    position's β = σ(score) times the stick the newer ones left, Π (1 − β); in log space."""
    keep = F.logsigmoid(-scores)                                   # log(1 − β); 0 where not looked at
    newer = keep.sum(dim=-1, keepdim=True) - keep.cumsum(dim=-1)   # Σ over the newer positions
    return torch.exp(F.logsigmoid(scores) + newer)


WEIGHINGS = {"softmax": lambda scores: torch.softmax(scores, dim=-1), "stick-breaking": stick_breaking}


class PastAttention(nn.Module):
    def __init__(self, hidden_size: int, memory: int, kind: str = "softmax"):
        super().__init__()
        self.memory, self.key_size = memory, min(KEY_SIZE, hidden_size)
        self.weigh = WEIGHINGS[kind]
        self.query = nn.Linear(hidden_size, self.key_size, bias=False)
        self.key = nn.Linear(hidden_size, self.key_size, bias=False)
        self.value = nn.Linear(hidden_size, self.key_size, bias=False)
        self.out = nn.Linear(self.key_size, hidden_size, bias=False)

    def initial_state(self, batch_size: int, device, dtype=torch.float32) -> Memory:
        slots = torch.zeros(self.memory, batch_size, self.key_size, device=device, dtype=dtype)
        return slots, slots.clone(), torch.zeros(1, batch_size, 1, device=device, dtype=dtype)

    def forward(self, output: torch.Tensor, past: Memory, lengths: torch.Tensor | None = None,
                keep_weights: bool = False) -> tuple[torch.Tensor, Memory, torch.Tensor | None]:
        """output (B, T, H) of the core -> (B, T, H) with the attention mixed in, the memory after the
        window (after each row's own last character, with ``lengths``) and, with ``keep_weights``, the
        weights (B, T, M + T) over [memory slots; the window's characters]."""
        keys, values, seen = past
        steps, slots = output.size(1), self.memory
        keys = torch.cat([keys.transpose(0, 1).to(output.dtype), self.key(output)], dim=1)        # (B, M + T, d)
        values = torch.cat([values.transpose(0, 1).to(output.dtype), self.value(output)], dim=1)
        query = self.query(output) / math.sqrt(self.key_size)
        # Scored and masked in one call: the mask is an additive bias, 0 where a character may look.
        scores = torch.baddbmm(self._mask(steps, seen).to(query.dtype), query, keys.transpose(1, 2))  # (B, T, M + T)
        weights = self.weigh(scores)
        mixed = output + self.out(weights @ values)
        if lengths is None:   # every row's memory after the window: its last M slots
            kept = tuple(part[:, steps:].transpose(0, 1).to(seen.dtype) for part in (keys, values))
            new_seen = (seen + steps).clamp(max=slots)
        else:   # after row b's own last character t = lengths[b] - 1: positions t+1 .. t+M
            ends = lengths.to(output.device)
            index = ends[:, None] + torch.arange(slots, device=output.device)[None, :]
            index = index.clamp(max=slots + steps - 1)[:, :, None].expand(-1, -1, self.key_size)
            kept = tuple(part.gather(1, index).transpose(0, 1).to(seen.dtype) for part in (keys, values))
            new_seen = (seen + ends.to(seen.dtype)[None, :, None]).clamp(max=slots)
        return mixed, (*kept, new_seen), weights if keep_weights else None

    def _mask(self, steps: int, seen: torch.Tensor) -> torch.Tensor:
        """Additive: 0 where character t may look, -inf elsewhere; it sees positions t+1 .. t+M of
        [memory; window] (the last M outputs up to its own) that hold an output. (T, M + T) once every
        row's memory is full, as it is after the first window; else (B, T, M + T)."""
        slots = self.memory
        position = torch.arange(slots + steps, device=seen.device)
        t = torch.arange(steps, device=seen.device)[:, None]
        allowed = (position[None, :] > t) & (position[None, :] <= t + slots)           # (T, M + T)
        if bool((seen < slots).any()):
            allowed = allowed[None, :, :] & (position[None, :] >= slots - seen[0].long())[:, None, :]
        return torch.zeros(allowed.shape, device=seen.device).masked_fill_(~allowed, float("-inf"))


class RingMemory:
    """The memory as one stepped character at a time keeps it: rings of M slots (B, M, d) written in
    place, so a step moves no memory; each slot's age says where it stands (which slots are filled, and
    stick-breaking's order), and ``to_memory`` puts them back oldest first."""

    def __init__(self, past: Memory, dtype: torch.dtype):
        keys, values, seen = past
        # Keys and values in the weights' dtype (bf16 weights sample in bf16); the count stays a float32.
        self.keys = keys.transpose(0, 1).to(dtype).contiguous()    # (B, M, d)
        self.values = values.transpose(0, 1).to(dtype).contiguous()
        self.seen = seen[0, :, 0].clone()                          # (B,)
        self.next = 0                                              # the slot the next output goes to
        self.least = int(self.seen.min()) if len(self.seen) else 0  # the fewest filled slots of any row

    def expand(self, rows: int) -> "RingMemory":
        ring = RingMemory.__new__(RingMemory)
        ring.keys = self.keys.expand(rows, -1, -1).contiguous()
        ring.values = self.values.expand(rows, -1, -1).contiguous()
        ring.seen, ring.next, ring.least = self.seen.expand(rows).clone(), self.next, self.least
        return ring

    def to_memory(self) -> Memory:
        ordered = (torch.roll(part, shifts=-self.next, dims=1).transpose(0, 1).to(self.seen.dtype).contiguous()
                   for part in (self.keys, self.values))
        return (*ordered, self.seen[None, :, None].clone())

    def ages(self) -> torch.Tensor:
        """(M,) how many characters before the last one each slot was written."""
        size = self.keys.size(1)
        return (self.next - 1 - torch.arange(size, device=self.keys.device)) % size


class AttentionStep:
    """The attention of one stepped character, on weights arranged once."""

    @torch.no_grad()
    def __init__(self, attention: PastAttention):
        scale = 1 / math.sqrt(attention.key_size)
        # One (H, 3d) matrix gives the query (scaled), the key and the value of a character at once.
        self.project = torch.cat([attention.query.weight * scale, attention.key.weight, attention.value.weight]).t().contiguous()
        self.out = attention.out.weight.t().contiguous()                                   # (d, H)
        self.weigh = attention.weigh

    def __call__(self, x: torch.Tensor, ring: RingMemory) -> torch.Tensor:
        """x (B, H), the top layer's output -> (B, H) with the attention mixed in; ``ring`` takes x."""
        size = ring.keys.size(1)
        query, key, value = (x @ self.project).chunk(3, dim=1)
        ring.keys[:, ring.next], ring.values[:, ring.next] = key, value
        ring.next = (ring.next + 1) % size
        ring.seen = (ring.seen + 1).clamp(max=size)
        ring.least = min(ring.least + 1, size)
        scores = torch.bmm(ring.keys, query.unsqueeze(2)).squeeze(2)                       # (B, M)
        if ring.least < size:   # some row has empty slots still
            scores = scores.masked_fill(ring.ages()[None, :] >= ring.seen[:, None], float("-inf"))
        # By age, newest first: stick-breaking reads the memory in that order (softmax in any).
        order = torch.argsort(ring.ages(), descending=True)
        weights = torch.empty_like(scores)
        weights[:, order] = self.weigh(scores[:, order])
        return x + torch.bmm(weights.unsqueeze(1), ring.values).squeeze(1) @ self.out
