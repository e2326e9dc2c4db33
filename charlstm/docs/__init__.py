"""Reference pages shipped with the package, one Markdown file a topic, read offline by ``charlstm help
TOPIC`` (and on GitHub beside the code). The README links them instead of holding them."""

from __future__ import annotations

from importlib import resources

from charlstm.errors import ConfigError

# topic -> what it covers, in the order ``charlstm help`` lists them
TOPICS = {
    "corpora": "preparing text: files, folders, encodings, the built-in memory corpus, big corpora",
    "training": "options, config files, recipes, schedules, precision, truncated BPTT, the run directory",
    "gpu": "one GPU, several GPUs, several machines (torchrun)",
    "checkpoints": "what a checkpoint holds, exact resume, reliability (locks, crashes, full disks)",
    "sampling": "temperature, top-k/top-p, prompts, batches, interactive mode, clamping a unit",
    "probes": "memory probes: cue-swap, forgetting, units, context usage, probe files, the warm-up, the watch",
    "report": "the HTML report, interpretable units, gate statistics, saliency",
    "cells": "every cell of Olah's post, in his notation, and charlstm compare",
    "python": "using charlstm as a library",
    "development": "tests, benchmarks, CI and the layout of the code",
}


def topic_text(topic: str) -> str:
    """The Markdown of one topic; an unknown topic is refused with the list."""
    if topic not in TOPICS:
        raise ConfigError(f"no help topic {topic!r} (topics: {', '.join(TOPICS)})")
    return resources.files(__package__).joinpath(f"{topic}.md").read_text(encoding="utf-8")
