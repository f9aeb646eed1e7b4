"""Every code block and shell command in the README runs as written.

Each ```python block runs as a script of its own in a fresh interpreter (so a block that uses
``np`` must import it, and one that starts a Dask cluster must guard it with ``if __name__ ==
"__main__":``); each shell block (no language, ``console`` or ``bash``) runs line by line in
bash, ``$ `` prompts removed. Blocks run in a scratch folder laid out like a clone (the
project's files linked in, ``../shared`` beside it), so what they write stays out of the
repository. A block that cannot run here says why in a comment just above it:
``<!-- readme-test: skip (reason) -->`` (``make demo``/``make test``, which run this test;
a cluster address; a file that only exists on the reader's machine). ``toml`` and ``text``
blocks are data, not commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"

_BLOCK = re.compile(r"(?:<!-- readme-test: (?P<directive>[^>]*?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```",
                    re.S | re.M)
_DATA = {"toml", "json", "text", "csv"}
_SHELL = {"", "console", "bash", "sh", "shell"}


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.lang or 'shell'}"


def blocks(text: str) -> list[Block]:
    out = []
    for m in _BLOCK.finditer(text):
        directive = m.group("directive")
        skip = directive[len("skip"):].strip(" :()") if directive and directive.startswith("skip") else None
        out.append(Block(text.count("\n", 0, m.start("body")), m.group("lang"), m.group("body"), skip))
    return out


BLOCKS = [b for b in blocks(README.read_text(encoding="utf-8")) if b.lang not in _DATA]


def test_the_readme_has_blocks_and_every_language_is_known() -> None:
    assert len(BLOCKS) >= 15
    unknown = {b.lang for b in BLOCKS} - _SHELL - {"python"}
    assert not unknown, f"README blocks in unknown languages {unknown}: mark them as data or add a runner"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED.exists():
        pytest.skip("the shared folder is not beside the project")
    top = tmp_path_factory.mktemp("readme")
    project = top / "project"
    project.mkdir()
    for item in ROOT.iterdir():
        if item.name not in (".git", "demo-output", "lab-output"):
            (project / item.name).symlink_to(item)
    (top / "shared").symlink_to(SHARED.resolve())
    return project


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(MPLBACKEND="Agg", SDFLOW_QUIET="1", PYTHONWARNINGS="ignore")
    return env


def _shell_script(body: str) -> str:
    lines = ["set -euo pipefail"]
    for line in body.splitlines():
        line = line[2:] if line.startswith("$ ") else line
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_the_block_runs_as_written(block: Block, workspace: Path) -> None:
    if block.skip is not None:
        pytest.skip(f"README line {block.line}: {block.skip}")
    if block.lang == "python":
        command = [sys.executable, "-c", block.body]
    else:
        command = ["bash", "-c", _shell_script(block.body)]
    result = subprocess.run(command, cwd=workspace, env=_environment(), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (f"README block at line {block.line} failed (exit {result.returncode}):\n"
                                    f"{block.body}\n--- stderr ---\n{result.stderr[-3000:]}")
