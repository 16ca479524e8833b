"""The GPU check: on one GPU, in at most 8 minutes, everything that needs CUDA, with JSON results.

    python benchmarks/gpu.py          # one GPU: writes benchmarks/results/gpu.json (and each stage's own JSON)
    python benchmarks/gpu.py --dry    # any CPU, in seconds: every stage at toy size, to prove the path runs

Stages, each a subprocess with its own time limit (the limits add up to 8 minutes); one that fails or
runs out of time is recorded with the tail of its output, and the others still run:

1. ``tests``: the tests that need CUDA (``pytest -k cuda``; the dry mode collects the engine's, which
   skip without a GPU);
2. ``top5``: the benchmark's top-5 table, cold and warm, against PyHessian, hessian-eigenthings and
   curvlinops (``benchmarks/curvature.py --sections top_eigen``; a peer not installed, from the ``bench``
   extra, is reported as such);
3. ``products``: product ÷ gradient per backend, block and Gauss–Newton products, host synchronisations
   per Lanczos step (``--sections hvp_cost blocks``; the synchronisation count runs on CUDA only);
4. ``compile``: product ÷ gradient with and without ``torch.compile`` (``benchmarks/hvp_compile.py``);
5. ``notebook07``: notebook 07 at ``profile="paper"`` for a shortened budget of steps (it needs CIFAR-10
   in the data folder; the dry mode only injects the parameters, ``papermill --prepare-only``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DRY_LIMIT_S = 600  # a dry stage's limit: the path is what counts, on however busy a CPU
CUDA_TESTS = ("tests/curvature/test_cuda.py", "tests/task/test_data.py", "tests/training/test_loop.py",
              "tests/test_devices.py")


@dataclass(frozen=True)
class Stage:
    """One step of the check: its command, time limit in seconds, and the JSON file it writes (if any)."""

    name: str
    command: list[str]
    limit_s: int
    result: Path | None = None


def stages(dry: bool, out: Path, steps: int) -> list[Stage]:
    """The stages on a GPU, or (``dry``) at toy size on the CPU."""
    py, device = sys.executable, "cpu" if dry else "cuda"
    tag = "gpu-dry" if dry else "gpu"
    tests = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not notebooks and not smoke", "-k", "cuda",
             *(CUDA_TESTS[:1] if dry else CUDA_TESTS)]
    bench = [py, "benchmarks/curvature.py", "--device", device]
    top5 = bench + ["--sections", "top_eigen", "--out", str(out / f"{tag}-top5.json")]
    products = bench + ["--sections", "hvp_cost", "blocks", "--out", str(out / f"{tag}-products.json")]
    compile_ = [py, "benchmarks/hvp_compile.py", "--device", device, "--json", str(out / f"{tag}-compile.json")]
    notebook = [py, "-m", "papermill", "notebooks/07_edge_of_stability.ipynb", str(out / f"{tag}-07.ipynb"),
                "-p", "profile", "paper", "-p", "steps", str(steps), "-p", "device", device, "--no-progress-bar"]
    if dry:
        top5 += ["--cases", "mlp", "--repeats", "1", "--threads", "1"]
        products += ["--cases", "mlp", "--repeats", "1", "--threads", "1"]
        compile_ += ["--models", "mlp", "--repeats", "1", "--no-compile"]
        notebook += ["--prepare-only"]
    else:
        top5 += ["--cases", "mlp", "cnn", "simplecnn", "resnet32-bn", "--repeats", "3"]
        products += ["--cases", "mlp", "cnn", "simplecnn", "resnet32-bn", "--repeats", "3"]
    limits = [DRY_LIMIT_S] * 5 if dry else [60, 200, 60, 70, 90]  # on the GPU: 8 minutes in all
    return [Stage("tests", tests, limits[0]), Stage("top5", top5, limits[1], out / f"{tag}-top5.json"),
            Stage("products", products, limits[2], out / f"{tag}-products.json"),
            Stage("compile", compile_, limits[3], out / f"{tag}-compile.json"),
            Stage("notebook07", notebook, limits[4])]


def run_stage(stage: Stage) -> dict[str, Any]:
    """Run one stage; its return code, seconds, output tail and JSON result."""
    start = time.perf_counter()
    try:
        done = subprocess.run(stage.command, cwd=ROOT, capture_output=True, text=True, timeout=stage.limit_s)
        rc, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        rc, output = "timeout", _text(expired.stdout) + _text(expired.stderr)
    record: dict[str, Any] = {"stage": stage.name, "command": " ".join(stage.command), "limit_s": stage.limit_s,
                              "returncode": rc, "seconds": round(time.perf_counter() - start, 1),
                              "output_tail": output[-3000:]}
    if stage.result is not None and stage.result.exists() and rc == 0:
        record["result"] = json.loads(stage.result.read_text())
    return record


def _text(value: bytes | str | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="every stage at toy size on the CPU, in seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON results")
    parser.add_argument("--steps", type=int, default=400, help="notebook 07's shortened budget of steps")
    args = parser.parse_args()
    import torch  # after parsing: --help answers at once

    if not args.dry and not torch.cuda.is_available():
        sys.exit("gpu.py: no CUDA device is visible; run with --dry on a CPU")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"dry": args.dry, "gpu": None if args.dry else torch.cuda.get_device_name(0),
              "torch": torch.__version__, "stages": []}
    for stage in stages(args.dry, args.out.resolve(), args.steps):
        print(f"{stage.name}: {' '.join(stage.command)}", flush=True)
        report["stages"].append(run_stage(stage))
        print(f"  -> {report['stages'][-1]['returncode']} in {report['stages'][-1]['seconds']} s", flush=True)
    path = args.out / ("gpu-dry.json" if args.dry else "gpu.json")
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"written {path}")
    sys.exit(0 if all(s["returncode"] == 0 for s in report["stages"]) else 1)


if __name__ == "__main__":
    main()
