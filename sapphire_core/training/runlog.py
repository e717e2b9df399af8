"""Training logs: ``metrics.jsonl`` (one JSON object per line), optional MLflow, and ``curves.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flat(f"{prefix}.{i}", v, out)
    else:
        out[prefix] = str(value)[:250]  # MLflow caps parameter values


class MetricsLogger:
    """Append records to ``RUN/metrics.jsonl`` and, when a tracking URI is given, to MLflow.

    Parameters
    ----------
    out_dir : path
        The run folder.
    enabled : bool
        False on non-main ranks (they log nothing).
    mlflow_uri : str, optional
        E.g. ``sqlite:///mlruns.db``; MLflow is imported only then.
    keep_lines : int, optional
        On resume: keep only the first ``keep_lines`` lines (those written before the checkpoint),
        so the log has no duplicate steps.
    """

    def __init__(self, out_dir: str | Path, *, enabled: bool = True, mlflow_uri: str | None = None,
                 keep_lines: int | None = None, params: dict[str, Any] | None = None, run_name: str = "sapphire") -> None:
        self.path = Path(out_dir) / METRICS_FILE
        self.enabled = enabled
        self.lines = 0
        self._mlflow = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if keep_lines is None:
            self.path.write_text("")
        else:
            kept = self.path.read_text(encoding="utf-8").splitlines(keepends=True)[:keep_lines] \
                if self.path.is_file() else []
            self.path.write_text("".join(kept))
            self.lines = len(kept)
        if mlflow_uri:
            import mlflow

            mlflow.set_tracking_uri(mlflow_uri)
            mlflow.set_experiment("sapphire")
            mlflow.start_run(run_name=run_name)
            flat: dict[str, str] = {}
            _flat("", params or {}, flat)
            for start in range(0, len(flat), 100):  # MLflow batches at most 100 params per call
                mlflow.log_params(dict(list(flat.items())[start:start + 100]))
            self._mlflow = mlflow

    def log(self, record: dict[str, Any]) -> None:
        """Write one record (``type``: ``train`` or ``val``; ``step`` = global step)."""
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        self.lines += 1
        if self._mlflow is not None:
            prefix = record.get("type", "train")
            metrics = {f"{prefix}/{k}".replace("@", "_at_"): float(v) for k, v in record.items()
                       if isinstance(v, (int, float)) and k not in ("type", "step") and math.isfinite(float(v))}
            self._mlflow.log_metrics(metrics, step=int(record.get("step", 0)))

    def close(self) -> None:
        if self._mlflow is not None:
            self._mlflow.end_run()
            self._mlflow = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a run folder or the file)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> Path:
    """Loss per step (total and each loss) and validation R@1 / MRR per epoch, as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("type") == "train"]
    val = [r for r in records if r.get("type") == "val"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        steps = [r["step"] for r in train]
        ax1.plot(steps, [r["loss"] for r in train], label="total", lw=1.5)
        for key in sorted({k for r in train for k in r if k.startswith("loss/")}):
            ax1.plot(steps, [r.get(key, float("nan")) for r in train], label=key[5:], lw=0.8, alpha=0.8)
    ax1.set(xlabel="step", ylabel="loss", title="training loss")
    ax1.legend(fontsize=7)
    if val:
        epochs = [r["epoch"] for r in val]
        for key in ("top1", "MRR", "mAP"):
            if key in val[0]:
                ax2.plot(epochs, [r[key] for r in val], marker="o", label=key)
    ax2.set(xlabel="epoch (0 = untrained)", ylabel="score", title="validation audio->audio retrieval", ylim=(0, 1.02))
    ax2.legend(fontsize=7)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
