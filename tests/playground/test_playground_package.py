"""The page's files are package data: in the wheel that ``pip`` builds, not only in this tree."""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from gdlab.playground.server import STATIC

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_server_serves_is_a_resource_of_the_package():
    static = resources.files("gdlab.playground").joinpath("static")
    on_disk = sorted(p.name for p in static.iterdir() if not p.name.startswith("."))
    assert on_disk == sorted(STATIC)
    for name in STATIC:
        assert static.joinpath(name).read_bytes()


@pytest.mark.slow
def test_the_wheel_holds_the_page(tmp_path):
    if not (ROOT / "setup.py").exists():
        pytest.skip("needs the project's source tree")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs setuptools to build without network")
    tree = tmp_path / "project"
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    # CC=/bin/false: the optional C kernels fail to compile and the build goes on without them
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "wheels"), str(tree)], capture_output=True,
                         text=True, env={**os.environ, "CC": "/bin/false"},
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("gdlab-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    for name in STATIC:
        path = f"gdlab/playground/static/{name}"
        assert path in names, sorted(n for n in names if "playground" in n)
        assert archive.read(path) == (ROOT / "src" / path).read_bytes()
    metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Provides-Extra: playground" in metadata
    assert "starlette" in metadata and "uvicorn" in metadata
