"""The README's "Your own data" section, run as written: its fenced commands and Python code
are read from README.md here, so that the README cannot drift from what gdlab does."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_your_own_data_section_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    text = section("Your own data")
    commands = [line.split("#")[0].strip() for block in fenced(text, "bash")
                for line in block.splitlines() if line.strip()]
    assert [c.split()[:2] for c in commands] == [["gdlab", "train"], ["gdlab", "predict"],
                                                 ["gdlab", "export"], ["gdlab", "lr-find"]]
    for command in commands:
        argv = shlex.split(command)
        proc = subprocess.run([sys.executable, "-m", "gdlab", *argv[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stderr)
    assert 'target "price": regression' in " ".join(text.split())
    report = (tmp_path / "runs" / "houses" / "report.html").read_text(encoding="utf-8")
    assert "Stopped because:" in report
    assert report.count('src="data:image/png;base64,') == 2   # the curve, predicted vs actual
    assert (tmp_path / "runs" / "houses-lr" / "lr_find.png").is_file()
    found = np.genfromtxt(tmp_path / "runs" / "houses-lr" / "lr_find.csv", delimiter=",",
                          names=True)
    assert len(found) >= 10 and np.all(np.diff(found["lr"]) > 0)
    new = pd.read_csv(tmp_path / "examples" / "new_houses.csv")
    out = pd.read_csv(tmp_path / "runs" / "houses" / "predictions.csv")
    assert len(out) == len(new) and out["id"].tolist() == new["id"].tolist()
    assert out["prediction"].between(20_000, 2_000_000).all()  # prices, in their own units
    (code,) = fenced(text, "python")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "GDRegressor" in proc.stdout
    printed = [float(v) for v in re.findall(r"\d+\.?\d*", proc.stdout.split("GDRegressor")[0])]
    assert len(printed) == len(new)
    assert all(abs(a - b) <= 50 for a, b in zip(printed, out["prediction"]))  # rounded to 100
    check_the_onnx_export(tmp_path, out)


def check_the_onnx_export(tmp_path, out):
    """The README's export: onnxruntime on the file, fed as the README describes its inputs
    (a missing text cell is an empty string, or "?" as the file writes one), gives gdlab
    predict's prices."""
    import onnxruntime as ort

    new = pd.read_csv(tmp_path / "examples" / "new_houses.csv")
    assert (new == "?").any().any()
    session = ort.InferenceSession(str(tmp_path / "runs" / "houses" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    feed = {}
    for var in session.get_inputs():
        column = new[var.name]
        if var.type == "tensor(float)":
            feed[var.name] = column.to_numpy(dtype="float32").reshape(-1, 1)
        else:
            feed[var.name] = column.map(lambda v: "" if pd.isna(v) else str(v)).to_numpy(
                dtype=object).reshape(-1, 1)
    (value,) = session.run(["variable"], feed)
    np.testing.assert_allclose(value[:, 0], out["prediction"].to_numpy(), rtol=1e-4)


def test_the_example_tables_are_what_their_script_writes(tmp_path):
    shutil.copy(ROOT / "examples" / "make_houses.py", tmp_path)
    subprocess.run([sys.executable, "make_houses.py"], cwd=tmp_path, check=True, timeout=120)
    for name in ("houses.csv", "new_houses.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "examples" / name).read_bytes()
