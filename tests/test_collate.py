import numpy as np
import pytest
import torch

from sapphire_core.collate import collate_features, length_key, time_mask


def test_pads_last_axis_and_records_lengths():
    batch = collate_features([{"a": np.ones((3, 4)), "b": np.ones(2)}, {"a": np.ones((3, 6)), "b": np.zeros(2)}])
    assert batch["a"].shape == (2, 3, 6)
    assert batch[length_key("a")].tolist() == [4, 6]
    assert batch["a"][0, :, 4:].abs().sum() == 0
    assert length_key("b") not in batch
    mask = time_mask(batch, "a")
    assert mask.tolist() == [[True] * 4 + [False] * 2, [True] * 6]
    assert time_mask(batch, "b").all()


def test_rejects_mismatched_non_time_axis():
    with pytest.raises(ValueError, match="only the last"):
        collate_features([{"a": np.ones((3, 4))}, {"a": np.ones((2, 4))}])


def test_missing_key_is_named():
    with pytest.raises(ValueError, match="'a'"):
        collate_features([{"a": np.ones(2)}, {"b": np.ones(2)}])


def test_dtype_is_float32():
    assert collate_features([{"a": np.ones(2, np.float64)}])["a"].dtype == torch.float32
