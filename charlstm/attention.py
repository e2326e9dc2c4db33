"""Attention over the recurrent core's own past (one head, as in SHA-RNN: Merity 2019, "Single Headed
Attention RNN"): the next step after the LSTM that Olah's post ends on, with where it looked kept visible.

At every character t the top layer's output h_t looks back over the last M outputs (itself included):

    q_t = W_q h_t        k_s = W_k h_s        α_ts = softmax over s in (t-M, t] of  q_t·k_s / √d
    a_t = Σ_s α_ts h_s                        out_t = h_t + W_o a_t      (then dropout and the head)

The M past outputs are the attention's **memory**: part of the carried state, detached at window borders
with the rest of it, so a character at the start of a window sees the end of the previous one exactly as a
character read one step at a time does (the window path and the step path compute the same thing). The
memory adds two tensors to the state, after the core's: ``memory`` (M, B, H), oldest slot first, and
``seen`` (1, B, 1), how many of its slots hold an output (a fresh state has none; empty slots are masked).

Cost per character: a window of T reads T x (M + T) scores; a sampled step reads its M memory slots twice
(scores and the weighted sum), 2·M·H multiply-adds, against an LSTM layer's 4·H·(H + input).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The query and key width d: wide enough for one head to find a cue, small beside H so that scoring a
# window's M + T keys stays cheap.
KEY_SIZE = 64

Memory = tuple[torch.Tensor, torch.Tensor]   # (memory (M, B, H), seen (1, B, 1))


class PastAttention(nn.Module):
    def __init__(self, hidden_size: int, memory: int):
        super().__init__()
        self.memory, self.key_size = memory, min(KEY_SIZE, hidden_size)
        self.query = nn.Linear(hidden_size, self.key_size, bias=False)
        self.key = nn.Linear(hidden_size, self.key_size, bias=False)
        self.out = nn.Linear(hidden_size, hidden_size, bias=False)

    def initial_state(self, batch_size: int, device, dtype=torch.float32) -> Memory:
        hidden = self.out.in_features
        return (torch.zeros(self.memory, batch_size, hidden, device=device, dtype=dtype),
                torch.zeros(1, batch_size, 1, device=device, dtype=dtype))

    def forward(self, output: torch.Tensor, past: Memory, lengths: torch.Tensor | None = None,
                keep_weights: bool = False) -> tuple[torch.Tensor, Memory, torch.Tensor | None]:
        """output (B, T, H) of the core -> (B, T, H) with the attention mixed in, the memory after the
        window (after each row's own last character, with ``lengths``) and, with ``keep_weights``, the
        weights (B, T, M + T) over [memory slots; the window's characters]."""
        memory, seen = past
        steps, slots = output.size(1), self.memory
        values = torch.cat([memory.transpose(0, 1).to(output.dtype), output], dim=1)   # (B, M + T, H)
        scores = self.query(output) @ self.key(values).transpose(1, 2) / math.sqrt(self.key_size)
        scores = scores.masked_fill(~self._allowed(steps, seen), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        mixed = output + self.out(weights @ values)
        ends = lengths.to(output.device) if lengths is not None else torch.full_like(seen[0, :, 0], steps).long()
        # A row's memory after its last character t: positions t+1 .. t+M of [memory; window].
        index = (ends[:, None] + torch.arange(slots, device=output.device)[None, :]).clamp(max=slots + steps - 1)
        kept = values.gather(1, index[:, :, None].expand(-1, -1, values.size(2)))
        new_seen = (seen + ends.to(seen.dtype)[None, :, None]).clamp(max=slots)
        return mixed, (kept.transpose(0, 1).to(memory.dtype), new_seen), weights if keep_weights else None

    def _allowed(self, steps: int, seen: torch.Tensor) -> torch.Tensor:
        """(B, T, M + T): character t sees positions t+1 .. t+M of [memory; window] (the last M outputs up
        to its own), of which the memory slots that hold an output."""
        slots = self.memory
        position = torch.arange(slots + steps, device=seen.device)
        t = torch.arange(steps, device=seen.device)[:, None]
        band = (position[None, :] > t) & (position[None, :] <= t + slots)          # (T, M + T)
        filled = position[None, :] >= slots - seen[0].long()                       # (B, M + T)
        return band[None, :, :] & filled[:, None, :]


class RingMemory:
    """The memory as one stepped character at a time keeps it: a ring of M slots (B, M, H) written in
    place, so a step moves no memory. Attention has no positions, so the order of the slots matters only
    for which are filled; ``to_memory`` puts them back oldest first."""

    def __init__(self, past: Memory):
        memory, seen = past
        self.slots = memory.transpose(0, 1).contiguous()          # (B, M, H)
        self.seen = seen[0, :, 0].clone()                          # (B,)
        self.next = 0                                              # the slot the next output goes to
        self.least = int(self.seen.min()) if len(self.seen) else 0  # the fewest filled slots of any row
        self.weights: torch.Tensor | None = None                   # (B, M) of the last step, by slot

    def expand(self, rows: int) -> "RingMemory":
        ring = RingMemory.__new__(RingMemory)
        ring.slots = self.slots.expand(rows, -1, -1).contiguous()
        ring.seen, ring.next, ring.least, ring.weights = self.seen.expand(rows).clone(), self.next, self.least, None
        return ring

    def to_memory(self) -> Memory:
        ordered = torch.roll(self.slots, shifts=-self.next, dims=1)
        return ordered.transpose(0, 1).contiguous(), self.seen[None, :, None].clone()

    def ages(self) -> torch.Tensor:
        """(M,) how many characters before the last one each slot was written."""
        size = self.slots.size(1)
        return (self.next - 1 - torch.arange(size, device=self.slots.device)) % size

    def weights_by_distance(self) -> torch.Tensor:
        """The last step's weights (B, M), index k = the output k characters back (0: the character just
        read)."""
        order = torch.argsort(self.ages())
        return self.weights[:, order]


class AttentionStep:
    """The attention of one stepped character on weights arranged once: the query folds into the key
    matrix (q·W_k h_s = (W_kᵀ q)·h_s), so scoring the M slots costs M·H, not M·H·d."""

    @torch.no_grad()
    def __init__(self, attention: PastAttention):
        scale = 1 / math.sqrt(attention.key_size)
        self.query_keys = (attention.query.weight.t() @ attention.key.weight * scale).contiguous()  # (H, H)
        self.out = attention.out.weight.t().contiguous()                                              # (H, H)

    def __call__(self, x: torch.Tensor, ring: RingMemory) -> torch.Tensor:
        """x (B, H), the top layer's output -> (B, H) with the attention mixed in; ``ring`` takes x."""
        size = ring.slots.size(1)
        ring.slots[:, ring.next] = x
        ring.next = (ring.next + 1) % size
        ring.seen = (ring.seen + 1).clamp(max=size)
        ring.least = min(ring.least + 1, size)
        scores = torch.bmm(ring.slots, (x @ self.query_keys).unsqueeze(2)).squeeze(2)       # (B, M)
        if ring.least < size:   # some row has empty slots still
            scores = scores.masked_fill(ring.ages()[None, :] >= ring.seen[:, None], float("-inf"))
        ring.weights = torch.softmax(scores, dim=1)
        return x + torch.bmm(ring.weights.unsqueeze(1), ring.slots).squeeze(1) @ self.out
