"""``charlstm prepare``: read, split, encode and cache a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlstm.cli import app
from charlstm.cli.render import console, human_count, print_json, warn

Encoding = Annotated[str, typer.Option(help="Text encoding of the input files (e.g. latin-1, utf-16).")]
ValFraction = Annotated[float, typer.Option(help="Last fraction of each file held out for validation.")]
DataDir = Annotated[Path, typer.Option("--data-dir", help="Where prepared corpora are cached.")]


def prepare_or_fail(inputs: list[str], data_dir: Path, val_fraction: float, encoding: str):
    """Prepare (or reuse) a corpus, with a spinner for the slow first pass; shared by train and demo."""
    from charlstm.corpus import prepare_corpus

    with console.status("preparing corpus...", spinner="dots"):
        corpus = prepare_corpus(inputs, out_dir=data_dir, val_fraction=val_fraction, encoding=encoding)
    if corpus.skipped:
        shown = ", ".join(corpus.skipped[:5]) + (f" and {len(corpus.skipped) - 5} more" if len(corpus.skipped) > 5 else "")
        warn(f"skipped {len(corpus.skipped)} file(s) that are binary, empty or only whitespace: {shown}")
    return corpus


def corpus_summary(corpus) -> dict:
    return {"name": corpus.name, "sources": len(corpus.sources), "skipped": corpus.skipped,
            "train_chars": len(corpus.train), "val_chars": len(corpus.val), "vocab_size": len(corpus.vocab),
            "vocab": "".join(corpus.vocab.chars), "cache_dir": str(corpus.cache_dir),
            "reused_cache": corpus.reused_cache}


@app.command()
def prepare(
    paths: Annotated[list[str], typer.Argument(help="Text files, folders (recursive) or builtin:memory.",
                                               show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Where prepared corpora are cached.")] = Path("data"),
    val_fraction: ValFraction = 0.05,
    encoding: Encoding = "utf-8",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Prepare a corpus: vocabulary, train/validation split, encoded cache.

    Training does this implicitly; run it alone to check a corpus or to cache it ahead of time.

    **Examples**

        charlstm prepare corpus.txt
        charlstm prepare books/ --val-fraction 0.1
        charlstm prepare old.txt --encoding latin-1
        charlstm prepare builtin:memory:size=2M
    """
    corpus = prepare_or_fail(paths, out, val_fraction, encoding)
    summary = corpus_summary(corpus)
    if as_json:
        print_json(summary)
        return
    state = "reused cache" if corpus.reused_cache else "encoded"
    console.print(f"[bold]{corpus.name}[/]: {summary['sources']} source(s), {state} in {corpus.cache_dir}")
    console.print(f"  train {human_count(summary['train_chars'])} chars, validation "
                  f"{human_count(summary['val_chars'])} chars, vocabulary {summary['vocab_size']} characters")
    console.print(f"  vocabulary: {summary['vocab']!r}", soft_wrap=True)
