"""The shape of the package keeps to its limits (tools/check_layout.py, run as a script): few
top-level modules, no module over 400 lines, no function over 60, no writes into another
object's private attributes, few commented reads of them, and no import circles."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_layout_limit_holds():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_layout.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "result: every limit holds" in proc.stdout


def test_the_checker_can_fail(tmp_path):
    """The checker finds each kind of breach in a package made to break every limit."""
    pkg = tmp_path / "src" / "gdlab"
    (pkg / "sub").mkdir(parents=True)
    for i in range(9):
        (pkg / f"m{i}.py").write_text("x = 1\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    long_body = "\n".join(f"    a{i} = {i}" for i in range(61))
    (pkg / "sub" / "a.py").write_text(
        "from gdlab.sub import b\n\n\ndef f(o):\n" + long_body + "\n    o._x = 1\n"
        "    return o._y\n" + "\n" * 400)
    (pkg / "sub" / "b.py").write_text("from gdlab.sub import a\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "check_layout.py").write_text((ROOT / "tools" / "check_layout.py").read_text())
    proc = subprocess.run([sys.executable, str(tools / "check_layout.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    for breach in ("too many top-level modules", "modules too long", "functions too long",
                   "private writes", "private reads", "import circles"):
        assert breach in proc.stdout, proc.stdout
    assert "gdlab.sub.a <-> gdlab.sub.b" in proc.stdout
