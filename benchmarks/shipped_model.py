"""Every figure the documentation quotes about the shipped LSTM, measured again on the model as it is now.

Run it after ``benchmarks/make_pretrained.py`` re-creates the shipped models, and put what it prints where
the docs quote it (README "What the shipped memory model remembers" and the playground's unit,
``charlstm/docs/sampling.md`` on ``--clamp`` and bf16, ``charlstm/docs/probes.md`` on saliency):

* memory on unseen filler (``charlstm.probes.memory_goal``): cue-swap at 0-800 characters and the switch;
* the memory unit: the units suite's best unit (as ``charlstm probe --suite units`` and the playground
  choose it);
* ``--clamp``: 200 samples after a German context, unclamped, with the best unit clamped at its value in
  the France twin of the context, and with the eight units whose cell state differs most between the two
  (values after the filler, before the question);
* saliency: the cue-swap suite's gradient shares on cue, filler and query at 100 characters of unseen filler;
* bf16 (where the CPU runs it): 64 seeds x 1,000 characters at temperature 0.8 against fp32, the loss on
  200,000 characters of fresh stories (a corpus seed the model never trained on), and the memory goal;
* with ``--screenshot PNG``: the playground page's size, and the README's picture of it with a prompt typed
  (headless Chromium).

    python benchmarks/shipped_model.py [--model pretrained:memory-lstm] [--threads 1] \
        [--screenshot benchmarks/playground-memory-lstm.png]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
from collections import Counter
from pathlib import Path

import torch

from charlstm.checkpoint import load_model
from charlstm.corpora import parse_builtin
from charlstm.corpora.memory import generate_corpus
from charlstm.evaluate import evaluate_text
from charlstm.playground import playground_unit
from charlstm.probes.memory_goal import judge_memory
from charlstm.probes.suites import SuiteOptions, run_suites
from charlstm.probes.trace import traces
from charlstm.runtime import cast_for_inference, cpu_runs_bf16
from charlstm.sample import Clamp, SamplingOptions, sample_texts

GERMAN = ("Nothing much happened.\nI grew up in Germany. The old bridge was painted again. The market closed "
          "early. I speak fluent ")
FRANCE = GERMAN.replace("Germany", "France")
GERMAN_PLAYGROUND = ("Nothing much happened.\nI grew up in Germany. Two dusty kettles wobbled behind the barn. Look at "
                     "the shiny lanterns. I speak fluent ")
FRESH_SEED = 20261207   # the fresh stories' corpus seed: the training corpus uses charlstm.corpora.memory.TRAINING_SEED


def memory(model, vocab) -> str:
    goal = judge_memory(model, vocab)
    cue = " ".join(f"{d}: {a:.0%}" for d, a in goal.accuracy.items())
    switch = " ".join(f"{d}: {a:.0%}" for d, a in goal.switch_after.items())
    verdict = "PASS" if goal.passed else "fail"
    return f"cue-swap on unseen filler {cue} (span {goal.span}); switch, after: {switch}; goal {verdict}"


def first_words(model, vocab, clamps: tuple[Clamp, ...] = ()) -> Counter:
    texts = sample_texts(model, vocab, 12, GERMAN, SamplingOptions(clamps=clamps), seeds=range(200))
    return Counter(text.split(".")[0].split(" ")[0] for text in texts)


def suite(model, vocab, payload, name: str, **options):
    """The report of one suite of ``charlstm probe`` (``--suite NAME``), with its options."""
    return next(run_suites(model, vocab, payload, SuiteOptions(suites=(name,), **options))).report


def clamping(model, vocab, payload) -> list[str]:
    # What the cells hold after the filler, before "I speak fluent " is read (as the units suite reads them).
    german, france = (result.cell[result.text.rindex("I speak fluent") - 1]
                      for result in traces(model, vocab, [GERMAN, FRANCE]))
    best = suite(model, vocab, payload, "units").units[0]
    playground = playground_unit(model, vocab, payload, None)
    lines = [f"memory unit: units suite {best.layer}:{best.unit} (selectivity {best.selectivity:.2f}), "
             f"playground {playground[0]}:{playground[1]}",
             f"200 samples after the German context, unclamped: {first_words(model, vocab).most_common(6)}"]
    one = (Clamp(best.layer, best.unit, round(float(france[best.layer, best.unit]), 2)),)
    lines.append(f"  --clamp {best.layer}:{best.unit}={one[0].value} (its France value): "
                 f"{first_words(model, vocab, one).most_common(6)}")
    size = france.shape[1]
    units = [divmod(i, size) for i in torch.argsort((france - german).abs().flatten(), descending=True)[:8].tolist()]
    eight = tuple(Clamp(layer, unit, round(float(france[layer, unit]), 2)) for layer, unit in units)
    counts = first_words(model, vocab, eight)
    lines.append("  " + " ".join(f"--clamp {c.layer}:{c.unit}={c.value}" for c in eight))
    lines.append(f"  the eight units at their France values: {counts.most_common(8)} ({len(counts)} different)")
    return lines


def saliency(model, vocab, payload) -> str:
    report = suite(model, vocab, payload, "cue-swap", filler="unseen")
    mean = report.saliency.mean
    parts = [f"{span} {mean[span]['share']:.0%} ({mean[span]['per_char']:.2g}/char)"
             for span in ("cue", "filler", "query")]
    return (f"saliency at {report.saliency.distance} characters of unseen filler: " + ", ".join(parts)
            + f"; cue/filler per character {mean['cue']['per_char'] / mean['filler']['per_char']:.1f}x")


def bf16(model, vocab, payload) -> list[str]:
    if not cpu_runs_bf16(model.config.cell):
        return ["bf16: this CPU does not run it (charlstm.runtime.cpu_runs_bf16)"]
    half = copy.deepcopy(model)
    cast_for_inference(half, "bf16")
    seeds = range(64)
    full_texts = sample_texts(model, vocab, 1000, options=SamplingOptions(temperature=0.8), seeds=seeds)
    half_texts = sample_texts(half, vocab, 1000, options=SamplingOptions(temperature=0.8), seeds=seeds)
    firsts = [next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), None) for x, y in zip(full_texts, half_texts)]
    differ = [i for i in firsts if i is not None]
    options = dict(parse_builtin(payload["corpus"]["inputs"][0]).options)
    stories = generate_corpus(**{**options, "size": 200_000, "seed": FRESH_SEED})
    losses = [evaluate_text(net, vocab, stories).nats_per_char for net in (model, half)]
    return [f"bf16, 64 seeds x 1,000 characters at temperature 0.8: {64 - len(differ)} identical to fp32, the others "
            f"first differ after a median of {statistics.median(differ) if differ else '-'} characters "
            f"({sum(1 for i in differ if i == 0)} at the first)",
            f"loss on 200,000 characters of fresh stories: fp32 {losses[0]:.4f}, bf16 {losses[1]:.4f} nats/char",
            f"bf16 {memory(half, vocab)}"]


def screenshot(name: str, png: Path) -> str:
    """``charlstm playground NAME`` with the German context typed in, as the README shows it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return "screenshot: no chromium on this machine (Debian: apt-get install -y chromium)"
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "playground.html"
        subprocess.run([sys.executable, "-m", "charlstm", "playground", name, "--out", str(page)], check=True)
        url = f"{page.as_uri()}#text={urllib.parse.quote(GERMAN_PLAYGROUND)}"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1100,1000", "--virtual-time-budget=5000", f"--screenshot={png.resolve()}", url],
                       check=True, capture_output=True)
        return f"playground page {page.stat().st_size / 1e6:.1f} MB; screenshot {png}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pretrained:memory-lstm")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--screenshot", type=Path, help="also write the README's picture of the playground here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, vocab, payload, _ = load_model(args.model, device="cpu")
    model.eval()
    print(f"{args.model}: step {payload['progress']['step']}, seed {payload['train_config']['seed']}", flush=True)
    print(memory(model, vocab), flush=True)
    for line in clamping(model, vocab, payload):
        print(line, flush=True)
    print(saliency(model, vocab, payload), flush=True)
    for line in bf16(model, vocab, payload):
        print(line, flush=True)
    if args.screenshot:
        print(screenshot(args.model, args.screenshot))


if __name__ == "__main__":
    main()
