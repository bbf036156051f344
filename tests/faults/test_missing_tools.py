"""clang missing: the BPF objects cannot be built, and make and the set-up
script say what to install (the product's own message for objects that are
not built is in test_faults.py and test_console_faults.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.faults_support import ROOT, path_with_only

BPF = ROOT / "bpf"
ADVICE = "install it with 'apt-get install clang llvm'"
# What the set-up script runs before it reaches make, and make itself (its
# $(shell gcc ...) too); everything but clang.
SETUP_TOOLS = ("bash", "dirname", "id", "dpkg-query", "grep", "sha256sum", "cut", "cat")


def bpf_tree(dest: Path, built: bool) -> Path:
    """A copy of bpf/'s sources; with `built`, objects newer than them."""
    dest.mkdir(parents=True)
    for src in BPF.iterdir():
        if src.suffix in {".c", ".h"} or src.name == "Makefile":
            shutil.copy2(src, dest)
    if built:
        later = time.time() + 60
        names = {"l4lb_xdp_offload.o"} | {c.with_suffix(".o").name for c in BPF.glob("*.c")}
        for name in names:
            (dest / name).touch()
            os.utime(dest / name, (later, later))
    return dest


def make(tree: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [shutil.which("make") or "/usr/bin/make", "-s", "-C", str(tree)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)  # noqa: S603


def test_make_without_clang_says_what_to_install(tmp_path: Path) -> None:
    tree = bpf_tree(tmp_path / "bpf", built=False)
    res = make(tree, path_with_only(tmp_path / "bin", "gcc"))
    assert res.returncode == 2
    # The last line: the one the lab and the benchmarks quote.
    last = res.stderr.strip().splitlines()[-1]
    assert "clang not found, so bpf/l4lb_xdp.o cannot be built" in last and ADVICE in last, last
    assert not list(tree.glob("*.o"))


def test_make_without_clang_keeps_objects_already_built(tmp_path: Path) -> None:
    tree = bpf_tree(tmp_path / "bpf", built=True)
    res = make(tree, path_with_only(tmp_path / "bin", "gcc"))
    assert res.returncode == 0, res.stderr


@pytest.mark.kernel  # the set-up script runs as root only
def test_setup_without_clang_stops_with_advice(tmp_path: Path) -> None:
    """scripts/setup.sh in a copy of the tree, packages and venv in place
    (a stand-in venv, so pip never runs), clang not on PATH."""
    tree = tmp_path / "tree"
    bpf_tree(tree / "bpf", built=False)
    (tree / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts/setup.sh", tree / "scripts")
    shutil.copy2(ROOT / "pyproject.toml", tree)
    (tree / ".venv/bin").mkdir(parents=True)
    (tree / ".venv/bin/python").symlink_to(sys.executable)
    stamp = hashlib.sha256((tree / "pyproject.toml").read_bytes()).hexdigest()
    (tree / ".venv/.l4lb-installed").write_text(stamp + "\n")
    env = path_with_only(tmp_path / "bin", *SETUP_TOOLS, "make", "gcc")
    env["PYTHON"] = sys.executable  # python3 on PATH may be a pyenv shim
    res = subprocess.run(  # noqa: S603
        [str(tree / "scripts/setup.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "setup: installing" not in res.stdout, "packages or pip were touched"
    assert ADVICE in res.stderr and "setup: the BPF objects are not built" in res.stderr
    assert not list((tree / "bpf").glob("*.o"))
