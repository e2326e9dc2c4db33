"""``charlstm prepare``: read, split, encode and cache a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlstm.cli import app
from charlstm.cli.common import prepare_or_fail
from charlstm.cli.options import DataDir, Encoding, ValFraction, json_option
from charlstm.cli.render import console, human_count, print_json
from charlstm.config import ENCODING, VAL_FRACTION

def corpus_summary(corpus) -> dict:
    return {"name": corpus.name, "sources": len(corpus.sources), "skipped": corpus.skipped,
            "train_chars": len(corpus.train), "val_chars": len(corpus.val), "vocab_size": len(corpus.vocab),
            "vocab": "".join(corpus.vocab.chars), "cache_dir": str(corpus.cache_dir),
            "reused_cache": corpus.reused_cache}


@app.command()
def prepare(
    paths: Annotated[list[str], typer.Argument(help="Text files, folders (recursive) or builtin:memory.",
                                               show_default=False)],
    data_dir: DataDir = Path("data"),
    val_fraction: ValFraction = VAL_FRACTION,
    encoding: Encoding = ENCODING,
    as_json: Annotated[bool, json_option("The summary")] = False,
) -> None:
    """Prepare a corpus: vocabulary, train/validation split, encoded cache.

    Training does this implicitly; run it alone to check a corpus or to cache it ahead of time.

    **Examples**

        charlstm prepare corpus.txt
        charlstm prepare books/ --val-fraction 0.1
        charlstm prepare old.txt --encoding latin-1
        charlstm prepare builtin:memory:size=2M
    """
    corpus = prepare_or_fail(paths, data_dir, val_fraction, encoding)
    summary = corpus_summary(corpus)
    if as_json:
        print_json(summary)
        return
    state = "reused cache" if corpus.reused_cache else "encoded"
    console.print(f"[bold]{corpus.name}[/]: {summary['sources']} source(s), {state} in {corpus.cache_dir}")
    console.print(f"  train {human_count(summary['train_chars'])} chars, validation "
                  f"{human_count(summary['val_chars'])} chars, vocabulary {summary['vocab_size']} characters")
    console.print(f"  vocabulary: {summary['vocab']!r}", soft_wrap=True)
