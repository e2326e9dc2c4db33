import torch

from charlstm.batching import StreamBatcher, fit_batch_size


def test_streams_are_contiguous_and_windows_continue():
    ids = torch.arange(25)
    batcher = StreamBatcher(ids, batch_size=3, seq_len=3)
    assert batcher.stream_len == 8
    windows = list(batcher)
    assert len(windows) == batcher.windows_per_epoch == 3
    rows = torch.cat([w.inputs for w in windows], dim=1)
    assert rows.tolist() == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    for w in windows:
        assert torch.equal(w.targets, w.inputs + 1)  # targets are the inputs shifted by one
    # row b of window k+1 starts where row b of window k ended
    assert torch.equal(windows[1].inputs[:, 0], windows[0].inputs[:, -1] + 1)
    assert windows[-1].inputs.shape == (3, 2)  # the last window is shorter, nothing is dropped mid-stream


def test_windows_are_int64_and_remapped():
    ids = torch.tensor([0, 1, 0, 1, 0, 1, 0], dtype=torch.uint8)
    batcher = StreamBatcher(ids, batch_size=2, seq_len=2, id_map=torch.tensor([5, 9]))
    window = batcher.window(0)
    assert window.inputs.dtype == torch.int64
    assert window.inputs.tolist() == [[5, 9], [9, 5]]


def test_fit_batch_size_shrinks_for_short_corpora():
    assert fit_batch_size(10_000, 32, 100) == 32
    assert fit_batch_size(501, 32, 100) == 5
    assert fit_batch_size(50, 32, 100) == 1
