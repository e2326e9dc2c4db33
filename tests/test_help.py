"""``charlstm help [TOPIC]``: the reference pages shipped in the package, readable offline."""

from __future__ import annotations

from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.docs import TOPICS, topic_text


def test_every_topic_has_a_page_with_its_heading():
    for topic in TOPICS:
        text = topic_text(topic)
        assert text.startswith("# ") and len(text.splitlines()) > 10, topic


def test_help_lists_the_topics_and_renders_one_on_stdout():
    result = CliRunner().invoke(app, ["help"])
    assert result.exit_code == 0 and all(topic in result.stdout for topic in TOPICS)
    result = CliRunner().invoke(app, ["help", "cells"])
    assert result.exit_code == 0
    assert "Cells" in result.stdout and "clockwork" in result.stdout and "```" not in result.stdout  # rendered


def test_an_unknown_topic_is_one_error_line():
    result = CliRunner().invoke(app, ["help", "nonsense"])
    assert result.exit_code == 1 and result.stderr.count("charlstm: error:") == 1
    assert "no help topic 'nonsense'" in result.stderr and "probes" in result.stderr
