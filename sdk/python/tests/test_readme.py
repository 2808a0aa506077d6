"""The README's tour runs as written (in a fresh interpreter, from a
directory where its `target/wasm32-wasip2/release/` paths hold the built
guests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import GUESTS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "no python block in the README"
    release = tmp_path / "target" / "wasm32-wasip2" / "release"
    release.mkdir(parents=True)
    for stem in ("example_pi", "example_counter"):
        (release / f"{stem}.wasm").symlink_to(GUESTS / f"{stem}.wasm")
    env = {k: v for k, v in os.environ.items() if k != "WEFT_ADDRESS"}
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(blocks)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert 3.0 < float(lines[0]) < 3.3
    assert "parameter `samples` (u64): expected an int, got str" in out.stdout
    assert "memoryview 1000000" in out.stdout
    assert "[1, 2, 3, 4, 5]" in out.stdout
    assert "b'hello'" in out.stdout
