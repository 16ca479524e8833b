"""The GPU check script in its dry mode: every stage runs on the CPU at toy size and leaves its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_dry_mode_runs_every_stage(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/gpu.py", "--dry", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "gpu-dry.json").read_text())
    failed = {s["stage"]: s["output_tail"] for s in report["stages"] if s["returncode"] != 0}
    assert done.returncode == 0 and not failed, failed or done.stderr
    assert [s["stage"] for s in report["stages"]] == ["tests", "top5", "products", "compile", "notebook07"]
    stages = {s["stage"]: s for s in report["stages"]}
    top5 = stages["top5"]["result"]["top_eigen"]
    assert {r["method"] for r in top5 if r["reached"]} >= {"sgdlab", "sgdlab (warm)"}
    blocks = stages["products"]["result"]["blocks"][0]["rows"]
    assert [r["operator"].split(":")[0].split(" (")[0] for r in blocks] == ["full Hessian", "block", "block",
                                                                              "Gauss-Newton"]
    assert stages["compile"]["result"]["rows"][0]["graph_reuse"] > 0
    assert (tmp_path / "gpu-dry-07.ipynb").exists()
