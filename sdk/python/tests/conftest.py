"""Fixtures: a local cluster started by ``weft.init()``, and a 3-controller,
2-host cluster of real processes (``cluster.py``). Both need the ``weft``
binary (``$WEFT_BIN``, else the workspace's debug build) and the guest
components the Rust tests build (``$WEFT_GUESTS``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import weft

ROOT = Path(__file__).resolve().parents[3]
# Absolute, so processes started from other directories find it too.
os.environ["WEFT_BIN"] = str(
    Path(os.environ.get("WEFT_BIN", ROOT / "target" / "debug" / "weft")).resolve()
)
GUESTS = Path(
    os.environ.get("WEFT_GUESTS", ROOT / "target" / "guests" / "wasm32-wasip2" / "release")
)


def guest(stem: str) -> str:
    path = GUESTS / f"{stem}.wasm"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the Rust tests build the guests (cargo nextest run -p weft-tests)"
        )
    return str(path)


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    """``weft.init()`` with no address: a local cluster, with the test
    guests deployed by name."""
    weft.shutdown()
    address = weft.init(num_cpus=4)
    for stem, name in [
        ("example_pi", "pi"),
        ("weft_testkit", "testkit"),
        ("example_counter", "counter"),
        ("example_hello", "hello"),
    ]:
        weft.deploy(guest(stem), name=name)
    yield address
    weft.shutdown()
