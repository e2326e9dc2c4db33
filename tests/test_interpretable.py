"""Text features are what they claim; units are chosen on one half of the text and measured on the other;
``charlstm units`` (and its alias ``cells``) runs end to end."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import ProbeError
from charlstm.probes import features
from charlstm.probes.interpretable import correlations, rank_units
from charlstm.probes.trace import Trace
from charlstm.train import train
from tests.conftest import TINY_MODEL, TINY_TRAIN

PLAY = ("ROMEO:\nBut soft (what light) through yonder window breaks?\n\n"
        "First Citizen:\nHe said \"well-spoken, o'er\" and [went] home.\n\n")


def test_features_of_a_small_play():
    text = 'ROMEO:\nSay "hi (now)" o\'er.\n'
    assert features.line_position(text)[:8] == [1, 2, 3, 4, 5, 6, 0, 1]
    assert features.after_newline(text)[6] == 1.0 and sum(features.after_newline(text)) == 2
    assert features.speaker_line(text) == [1.0] * 6 + [0.0] * (len(text) - 6)
    quotes = features.in_quotes(text)
    assert quotes[text.index('"')] == 1.0 and quotes[text.rindex('"')] == 0.0 and quotes[text.index("h")] == 1.0
    brackets = features.in_brackets(text)
    assert brackets[text.index("(")] == 1.0 and brackets[text.index(")")] == 0.0 and brackets[text.index("n")] == 1.0
    word = features.in_word(text)
    assert word[text.index("'")] == 1.0 and word[text.index(" ")] == 0.0 and word[text.index("S")] == 1.0
    assert set(features.text_features(text)) == set(features.FEATURES)
    assert all(len(v) == len(text) for v in features.text_features(text).values())


def test_speaker_lines_are_names_alone_on_their_line():
    assert features.speaker_line("First Citizen:\n")[:14] == [1.0] * 14
    for line in ("Speak, speak:", "this is a line:", "ROMEO: hello"):
        assert sum(features.speaker_line(line)) == 0, line


def test_correlations_are_pearsons():
    torch.manual_seed(0)
    values, feature = torch.randn(500, 3), torch.randn(500, 1)
    values[:, 1] = 2 * feature[:, 0] + 1
    values[:, 2] = -feature[:, 0]
    r = correlations(values, feature)[:, 0]
    assert r[1] == pytest.approx(1.0) and r[2] == pytest.approx(-1.0) and abs(float(r[0])) < 0.15


def test_rank_units_chooses_on_the_first_half_and_reports_the_second():
    """Unit 5 tracks the line position throughout; unit 2 tracks it in the first half only, better than
    unit 5 does there, so it is chosen, and the second half shows it does not hold."""
    text = PLAY * 12
    position = torch.tensor(features.line_position(text))
    torch.manual_seed(0)
    cell = torch.randn(len(text), 1, 8) * 0.1
    cell[:, 0, 5] += position / 10 + torch.randn(len(text)) * 0.3
    half = len(text) // 2
    cell[:half, 0, 2] = position[:half] / 10
    trace = Trace(text=text, hidden=torch.randn(len(text), 1, 8), cell=cell)
    report = rank_units(trace, top=3)
    best = {u.feature: u for u in report.best}["line position"]
    assert (best.layer, best.unit, best.kind) == (0, 2, "cell")
    assert best.r_chosen == pytest.approx(1.0) and abs(best.r) < 0.2       # chosen by luck, seen through
    assert any(u.unit == 5 and u.r > 0.7 for u in report.top)
    assert report.absent == [] and len(report.values[best.key]) == len(report.passage)
    with pytest.raises(ProbeError, match="at least"):
        rank_units(Trace(text=text[:50], hidden=torch.zeros(50, 1, 8), cell=None))


@pytest.fixture
def play_run(tmp_path):
    from charlstm.corpus import corpus_from_text

    corpus = corpus_from_text(PLAY * 40, name="play", val_fraction=0.3)
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 5})
    (tmp_path / "held_out.txt").write_text(PLAY * 6, encoding="utf-8")
    return tmp_path


def test_units_command_end_to_end(play_run):
    runner = CliRunner()
    result = runner.invoke(app, ["units", str(play_run / "run" / "last.pt"), "--text", str(play_run / "held_out.txt"),
                                 "--chars", "600", "--top", "4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["top"]) == 4 and data["positions"] == 540        # 600 minus the 60-character lead-in
    assert {u["feature"] for u in data["best"]} == set(features.FEATURES)   # the play has every feature
    result = runner.invoke(app, ["cells", str(play_run / "run" / "last.pt"), "--text",
                                 str(play_run / "held_out.txt"), "--chars", "600", "--show", "1"])
    assert result.exit_code == 0, result.output
    assert "line position" in result.stderr and "r (choosing half)" in result.stderr
    result = runner.invoke(app, ["units", str(play_run / "run" / "last.pt"), "--text", str(play_run / "nope.txt")])
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1].startswith("charlstm: error:")
