"""Preparing big corpora: time, MB/s and peak anonymous memory of ``charlstm prepare``, against an earlier
checkout of charlstm in the same run, and the share of a training interval one evaluation takes.

It builds the corpora itself under --workdir: one file of each size (tiny-shakespeare repeated, with a line
of rare characters every few MB, as a user's big corpus would have), and a folder of many files of the
first size. Each prepare runs in a fresh process; its peak anonymous memory (RssAnon: what the process
itself allocated, not the memory-mapped cache pages, which the kernel can drop) is sampled from /proc.

    git worktree add /tmp/charlstm-before <commit>     # the code to compare with
    python benchmarks/prepare.py --sizes 1G,4G --baseline /tmp/charlstm-before
    python benchmarks/prepare.py --sizes 200M           # this checkout alone

Evaluation: for a 2 x 512 model at the default settings it times one training step and one evaluation of
the bounded validation split (``--eval-chars`` default), and prints the share of a training interval
(``--eval-every`` steps) the evaluation takes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
RARE_LINE = "Rare: \u00e6\u00f8\u00e5 \u03bb\u03bc \u2014 \u2603 \U0001F642 \u4e2d\u6587\n"
RARE_EVERY = 4 << 20       # a rare line every 4 MB

PREPARE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from charlstm.corpus import prepare_corpus
started = time.perf_counter()
corpus = prepare_corpus([sys.argv[2]], data_dir=sys.argv[3])
print(time.perf_counter() - started, len(corpus.train) + len(corpus.val), len(corpus.vocab))
"""


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def build_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size >= size:
        return
    base = SHAKESPEARE.read_text(encoding="utf-8") if SHAKESPEARE.exists() else "The quick brown fox. " * 50_000
    block = base.encode("utf-8")
    written, next_rare = 0, RARE_EVERY
    with open(path, "wb") as out:
        while written < size:
            out.write(block)
            written += len(block)
            if written >= next_rare:
                out.write(RARE_LINE.encode("utf-8"))
                next_rare += RARE_EVERY


def build_folder(folder: Path, size: int, files: int) -> None:
    if folder.exists() and len(list(folder.iterdir())) == files:
        return
    folder.mkdir(parents=True, exist_ok=True)
    single = folder.parent / "one-file-for-folder.txt"
    build_file(single, size)
    data = single.read_bytes()
    step = len(data) // files
    for index in range(files):   # cut at line breaks so no file starts mid-character
        start = 0 if index == 0 else data.index(b"\n", index * step) + 1
        end = len(data) if index == files - 1 else data.index(b"\n", (index + 1) * step) + 1
        (folder / f"part-{index:05d}.txt").write_bytes(data[start:end])


def peak_anonymous_mb(pid: int, stop: threading.Event, result: list) -> None:
    peak = 0
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.02)
    result.append(peak / 1024)


def prepare(code: Path, corpus: Path, data_dir: Path) -> dict:
    shutil.rmtree(data_dir, ignore_errors=True)
    process = subprocess.Popen([sys.executable, "-c", PREPARE, str(code), str(corpus), str(data_dir)],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    stop, peak = threading.Event(), []
    watcher = threading.Thread(target=peak_anonymous_mb, args=(process.pid, stop, peak))
    watcher.start()
    out, _ = process.communicate()
    stop.set()
    watcher.join()
    if process.returncode:
        raise SystemExit(f"prepare failed with {code}")
    seconds, chars, vocab = out.split()
    size = sum(p.stat().st_size for p in ([corpus] if corpus.is_file() else corpus.iterdir()))
    shutil.rmtree(data_dir, ignore_errors=True)
    return {"seconds": float(seconds), "mb_per_s": size / 1e6 / float(seconds), "peak_anon_mb": peak[0],
            "chars": int(chars), "vocab": int(vocab)}


def evaluation_share() -> str:
    """One evaluation of the bounded split against ``eval_every`` training steps, 2 x 512 defaults."""
    import torch

    sys.path.insert(0, str(ROOT))
    from charlstm.config import ModelConfig, TrainConfig
    from charlstm.evaluate import mean_loss
    from charlstm.model import CharRNN

    config = TrainConfig()
    model = CharRNN(ModelConfig(vocab_size=100))
    optimizer = torch.optim.AdamW(model.parameters(), config.lr)
    ids = torch.randint(0, 100, (config.batch_size, config.seq_len))
    state = None
    started = time.perf_counter()
    for _ in range(5):
        logits, state = model(ids, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 100), ids.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    step = (time.perf_counter() - started) / 5
    val = torch.randint(0, 100, (50_000_000,), dtype=torch.uint8)   # a 1 GB corpus's 5%
    started = time.perf_counter()
    mean_loss(model, val, config.batch_size, chars=config.evaluated_chars)
    evaluation = time.perf_counter() - started
    interval = step * config.eval_every
    return (f"evaluation of {config.evaluated_chars:,} of 50,000,000 validation characters: {evaluation:.1f} s; "
            f"{config.eval_every} training steps: {interval:.1f} s; evaluation share {evaluation / (evaluation + interval):.0%}"
            f" (the whole split would take about {evaluation * 50_000_000 / config.evaluated_chars / 60:.0f} min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1G,4G")
    parser.add_argument("--files", type=int, default=2000, help="files in the folder corpus")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout of charlstm to compare with")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/charlstm-prepare-bench"))
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    corpora = [(f"{s >> 20} MB, one file", args.workdir / f"corpus-{s >> 20}M.txt", s) for s in sizes]
    corpora.append((f"{sizes[0] >> 20} MB, {args.files} files", args.workdir / f"folder-{sizes[0] >> 20}M", sizes[0]))
    codes = [("this checkout", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    print(f"{'corpus':<24}{'code':<15}{'seconds':>9}{'MB/s':>8}{'peak anon MB':>14}")
    rows = []
    for label, path, size in corpora:
        if path.suffix == ".txt":
            build_file(path, size)
        else:
            build_folder(path, size, args.files)
        results = {name: prepare(code, path, args.workdir / "data") for name, code in codes}
        for name, r in results.items():
            print(f"{label:<24}{name:<15}{r['seconds']:>9.1f}{r['mb_per_s']:>8.1f}{r['peak_anon_mb']:>14.0f}", flush=True)
        if args.baseline:
            ratio = results["baseline"]["seconds"] / results["this checkout"]["seconds"]
            print(f"{'':<24}{'speed-up':<15}{ratio:>9.2f}x")
        rows.append({"corpus": label, **results})
    if not args.no_eval:
        print(evaluation_share())
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
