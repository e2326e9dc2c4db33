import os
import pickle
from pathlib import Path

import pytest
import torch

from charlstm import checkpoint as ck
from charlstm.errors import CheckpointError
from charlstm.train import train
from tests.conftest import TINY_MODEL, TINY_TRAIN


@pytest.fixture
def run(tmp_path, corpus):
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 10})
    return tmp_path / "run"


def test_round_trip_gives_identical_logits(run, corpus):
    model, vocab, payload, path = ck.load_model(run)
    assert path.name == ck.BEST and vocab == corpus.vocab
    ids = torch.randint(0, len(vocab), (2, 30))
    logits, _ = model(ids)
    ck.save_checkpoint({k: v for k, v in payload.items() if k not in ("format", "version")}, run / "copy.pt")
    again, _, _, _ = ck.load_model(run / "copy.pt")
    assert torch.equal(logits, again(ids)[0])


def test_checkpoint_is_self_contained_plain_data(run):
    payload = torch.load(run / ck.LAST, weights_only=True)
    for key in ("model_config", "vocab", "model", "train_config", "optimizer", "progress", "state", "rng",
                "corpus", "format", "version"):
        assert key in payload
    assert all(t.device.type == "cpu" for t in payload["model"].values())


def test_failed_write_keeps_the_old_checkpoint(run, monkeypatch):
    before = (run / ck.LAST).read_bytes()

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="No space left.*previous checkpoint there is intact"):
        ck.save_checkpoint({"model": {}}, run / ck.LAST)
    assert (run / ck.LAST).read_bytes() == before
    assert not list(run.glob(".*.tmp"))  # no temp file left behind


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half")
    assert len(ck.remove_stale_temporaries(tmp_path)) == 1
    assert not list(tmp_path.iterdir())


def test_truncated_checkpoint(run, tmp_path):
    data = (run / ck.LAST).read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ck.load_checkpoint(bad)


def test_text_file_as_checkpoint(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("just some notes\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        ck.load_checkpoint(bad)


def test_foreign_and_future_checkpoints(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a charlstm checkpoint"):
        ck.load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"format": ck.FORMAT, "version": ck.VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="newer charlstm"):
        ck.load_checkpoint(tmp_path / "future.pt")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/charlstm-pwned-marker")


def test_malicious_pickle_runs_nothing(tmp_path):
    MARKER.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "version": 1, "model": _Payload()}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        ck.load_checkpoint(evil)
    assert not MARKER.exists()
    plain_pickle = tmp_path / "evil.pkl"
    plain_pickle.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(plain_pickle)
    assert not MARKER.exists()


def test_resolve_run_directory_and_newest(run, tmp_path):
    assert ck.resolve_checkpoint(run) == run / ck.BEST
    (run / ck.BEST).unlink()
    assert ck.resolve_checkpoint(run) == run / ck.LAST
    assert ck.resolve_checkpoint(None, root=tmp_path) == run / ck.LAST
    with pytest.raises(CheckpointError, match="none found"):
        ck.resolve_checkpoint(None, root=tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="no such"):
        ck.resolve_checkpoint(tmp_path / "missing.pt")


def test_duplicate_is_a_link_and_survives_replacing_the_source(run):
    """When an evaluation is the best, last.pt is best.pt's twin: linked, not written twice."""
    ck.duplicate_checkpoint(run / ck.BEST, run / "twin.pt")
    assert os.stat(run / "twin.pt").st_ino == os.stat(run / ck.BEST).st_ino
    before = (run / "twin.pt").read_bytes()
    ck.save_checkpoint({"model": {}}, run / ck.BEST)  # atomic replace: the twin keeps the old bytes
    assert (run / "twin.pt").read_bytes() == before
    assert not list(run.glob(".*.tmp"))


def test_a_model_only_export_samples_the_same_and_is_smaller(run, tmp_path):
    exported = ck.export_model(run, tmp_path / "model.pt")
    model, vocab, payload, _ = ck.load_model(exported)
    original, _, _, _ = ck.load_model(run)
    assert "optimizer" not in payload and "state" not in payload and payload["vocab"] == list(vocab.chars)
    ids = torch.randint(0, len(vocab), (2, 20))
    assert torch.equal(model(ids)[0], original(ids)[0])
    assert exported.stat().st_size < (run / ck.BEST).stat().st_size / 2


def test_pretrained_names_resolve_to_shipped_models():
    shipped = ck.pretrained_models()
    assert {"memory-lstm", "memory-rnn"} <= set(shipped)
    assert ck.resolve_checkpoint("pretrained:memory-lstm") == shipped["memory-lstm"]
    assert ck.resolve_checkpoint(Path("pretrained:memory-rnn")) == shipped["memory-rnn"]
    with pytest.raises(CheckpointError, match="no pretrained model 'nope'.*memory-lstm"):
        ck.resolve_checkpoint("pretrained:nope")
    for path in shipped.values():
        assert path.stat().st_size < 2_000_000          # small enough to ship in the package
        assert "optimizer" not in ck.load_checkpoint(path)
