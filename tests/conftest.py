from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # before any fixture builds a model: deterministic and fair on the 2-core CI machine

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NB201_CSV = SHARED_DATA / "nb201" / "nb201_merged.csv.gz"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)  # deterministic and fair on the 2-core CI machine
    yield


@pytest.fixture
def nb201_csv() -> Path:
    if not NB201_CSV.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {NB201_CSV} (../shared/data is absent)")
    return NB201_CSV


def tiny_config(**kw):
    from workbench import SearchConfig, SupernetConfig
    base = dict(space="toy", dataset="digits", epochs=2, batch_size=16, data_limit=160,
                supernet=SupernetConfig(C=4), seed=0, eval_each_epoch=True)
    base.update(kw)
    return SearchConfig(**base)
