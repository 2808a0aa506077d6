"""Fixtures: a local cluster started by ``weft.init()``, and a 3-controller,
2-host cluster of real processes (``cluster.py``). Both need the ``weft``
binary (``$WEFT_BIN``, else the workspace's debug build) and the guest
components the Rust tests build (``$WEFT_GUESTS``)."""

from __future__ import annotations

import hashlib
import os
import subprocess
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


BUILT = ROOT / "target" / "guest-builds"
TOOLS = ROOT / "target" / "weft-tools"


def weft_build(source: Path) -> Path:
    """`weft build` of an app, kept by the hash of its sources, the guest
    SDKs and the runtime's WIT (a component of either language takes some
    seconds to build)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in (".py", ".js", ".wit")):
        digest.update(path.relative_to(source).as_posix().encode())
        digest.update(path.read_bytes())
    # What `weft build` adds: the guest SDKs and the runtime's WIT.
    extras = [
        *sorted((ROOT / "sdk" / "python-guest").rglob("*.py")),
        *sorted((ROOT / "sdk" / "js-guest").rglob("*.js")),
        *sorted((ROOT / "wit").glob("*.wit")),
    ]
    for extra in extras:
        digest.update(extra.read_bytes())
    out = BUILT / f"{source.name}-{digest.hexdigest()[:16]}.wasm"
    if not out.exists():
        BUILT.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [os.environ["WEFT_BIN"], "build", str(source), "-o", str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, "WEFT_TOOLS": str(TOOLS)},
            timeout=900,
        )
        assert done.returncode == 0, done.stderr
    return out


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
