"""Making a loaded cross-encoder score right, then fast, on the machine it runs on.

Checkpoints are often stored in bfloat16 (the default model's is). On CPU, dynamic int8
quantisation expects float32 input, and bfloat16 matrix products are slow without AMX
(``bench/bench_reranker.py`` measures fp32, bf16 and int8), so on CPU a model is loaded in
float32 and then quantised. Quantisation replaces every ``nn.Linear`` big enough to gain from it,
subclasses included (the jina code's fused query/key/value projection, ``LinearResidual``, returns
its input beside the product; ``quantize_dynamic`` matches exact types and left it in float32),
and is proven on probe pairs right after: if the probe fails or its scores drift from float32's
by more than ``PROBE_TOLERANCE``, the original layers are put back and the scorer says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from affiliation_curator.errors import ScoringError

log = logging.getLogger(__name__)

# (affiliation, document) pairs every loaded model scores once: right after loading, after quantising.
PROBE_PAIRS = [
    ("Dept. of Physics, Technical University of Munich, Garching, Germany", "Technical University of Munich, Munich, Germany"),
    ("Dept. of Physics, TU Munich", "University of Oxford, Oxford, United Kingdom"),
    ("東京大学大学院理学系研究科", "The University of Tokyo (東京大学), Tokyo, Japan"),
    ("Institut für Makromolekulare Chemie, Universität Freiburg, D-79104 Freiburg", "University of Fribourg, Fribourg, Switzerland"),
]
PROBE_TOLERANCE = 0.02  # largest score change (0-1 scale) int8 may cause on a probe pair
MIN_QUANT_FEATURES = 16  # layers with fewer inputs or outputs (a 1-output head) stay float: no gain, only error


def cpu_dtype() -> str:
    """The dtype models are loaded in on CPU: ``AFFILIATION_CURATOR_DTYPE`` (float32, bfloat16), else float32."""
    value = os.environ.get("AFFILIATION_CURATOR_DTYPE", "").strip().lower()
    return value if value in {"float32", "bfloat16"} else "float32"


LARGE_VOCABULARY = 50_000  # embedding tables above this many rows stay in their stored 16-bit dtype on CPU


def to_dtype(module: object, device: str, keep_large_embeddings: bool = True) -> str:
    """Cast floating parameters to the CPU dtype (float32 unless set); returns the dtype name.

    A large vocabulary's embedding table (XLM-R's: 250,002 x 768, a third of the model) stays in
    the checkpoint's bfloat16 when ``keep_large_embeddings``: a lookup reads a few rows, so its
    output is cast instead (exactly the stored values), which keeps 0.4 GB out of memory. Training
    casts everything.
    """
    import torch

    if not device.startswith("cpu"):
        return str(next(module.parameters()).dtype).replace("torch.", "")  # type: ignore[attr-defined]
    wanted = getattr(torch, cpu_dtype())
    kept = []
    if keep_large_embeddings and wanted == torch.float32:
        kept = [m for m in module.modules()  # type: ignore[attr-defined]
                if isinstance(m, torch.nn.Embedding) and m.num_embeddings > LARGE_VOCABULARY
                and m.weight.dtype in (torch.bfloat16, torch.float16)]
    keep = {id(p) for m in kept for p in m.parameters()}
    for name, param in module.named_parameters():  # type: ignore[attr-defined]
        if param.is_floating_point() and param.dtype != wanted and id(param) not in keep:
            param.data = param.data.to(wanted)
    for buffer_owner in module.modules():  # type: ignore[attr-defined]
        for key, buf in list(buffer_owner._buffers.items()):
            if buf is not None and buf.is_floating_point() and buf.dtype != wanted:
                buffer_owner._buffers[key] = buf.to(wanted)
    for emb in kept:
        emb.register_forward_hook(lambda _m, _i, out, dtype=wanted: out.to(dtype))
    return cpu_dtype()


def checked_scores(scores: object, what: str) -> np.ndarray:
    """Scores as a float array; ScoringError if any is NaN or infinite."""
    array = np.asarray(scores, dtype=np.float32).reshape(-1)
    if array.size and not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ScoringError(f"{what} gave {bad} NaN or infinite score(s) of {array.size}")
    return array


@dataclass
class QuantReport:
    """What int8 quantisation did to a model."""

    applied: bool = False
    layers: int = 0  # linear layers now int8
    kept_float: int = 0  # linear layers left in float (too small, or an unknown subclass)
    drift: float | None = None  # largest probe score change against float32
    reason: str = ""  # why it was not applied

    def describe(self) -> str:
        if self.applied:
            return f"int8 on CPU ({self.layers} linear layers, probe drift {self.drift:.4f})"
        return f"float32 on CPU (int8 not used: {self.reason})" if self.reason else "float32 on CPU"


def _residual_wrapper(quantized: object) -> object:
    """Stands in for a Linear subclass that returns ``(x @ W.T + b, x)`` (jina's ``LinearResidual``)."""
    import torch

    class ResidualInt8Linear(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.in_features = inner.in_features
            self.out_features = inner.out_features

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.inner(x), x

    return ResidualInt8Linear(quantized)


def _kind(layer: object) -> str:
    """'plain' (behaves as nn.Linear), 'residual' (returns product and input), or 'unknown'."""
    import torch

    if type(layer).forward is torch.nn.Linear.forward:
        return "plain"
    x = torch.randn(2, layer.in_features, dtype=layer.weight.dtype)  # type: ignore[attr-defined]
    with torch.no_grad():
        try:
            out = layer(x)  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - a layer we do not understand stays as it is
            return "unknown"
        expected = torch.nn.functional.linear(x, layer.weight, layer.bias)  # type: ignore[attr-defined]
    if isinstance(out, tuple) and len(out) == 2 and out[1] is x and torch.allclose(out[0], expected, atol=1e-5):
        return "residual"
    if isinstance(out, torch.Tensor) and torch.allclose(out, expected, atol=1e-5):
        return "plain"
    return "unknown"


def _int8(layer: object) -> object:
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    plain = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)  # type: ignore[attr-defined]
    plain.weight = layer.weight  # type: ignore[attr-defined]
    plain.bias = layer.bias  # type: ignore[attr-defined]
    plain.qconfig = torch.ao.quantization.default_dynamic_qconfig
    return DynamicLinear.from_float(plain)


def quantize_linear_layers(module: object, probe: Callable[[], np.ndarray], reference: np.ndarray) -> QuantReport:
    """Int8 dynamic quantisation of every worthwhile Linear in ``module``, kept only if the probe agrees.

    ``probe`` scores PROBE_PAIRS with the module as it is at call time; ``reference`` is what it
    gave in float32. On failure or drift the original layers are put back (nothing else changes).
    """
    import torch

    report = QuantReport()
    if "fbgemm" not in torch.backends.quantized.supported_engines and "x86" not in torch.backends.quantized.supported_engines:
        report.reason = "this torch build has no int8 CPU kernels"
        return report
    replaced: list[tuple[object, str, object]] = []
    try:
        for name, layer in list(module.named_modules()):  # type: ignore[attr-defined]
            if not isinstance(layer, torch.nn.Linear):
                continue
            if min(layer.in_features, layer.out_features) < MIN_QUANT_FEATURES or layer.weight.dtype != torch.float32:
                report.kept_float += 1
                continue
            kind = _kind(layer)
            if kind == "unknown":
                report.kept_float += 1
                continue
            int8 = _int8(layer)
            new = _residual_wrapper(int8) if kind == "residual" else int8
            parent_name, _, child = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module  # type: ignore[attr-defined]
            setattr(parent, child, new)
            replaced.append((parent, child, layer))
        report.layers = len(replaced)
        if not replaced:
            report.reason = "no linear layer to quantise"
            return report
        scores = probe()
        report.drift = float(np.max(np.abs(scores - reference))) if reference.size else 0.0
        if report.drift > PROBE_TOLERANCE:
            raise ScoringError(f"probe scores drift {report.drift:.3f} from float32 (tolerance {PROBE_TOLERANCE})")
    except Exception as err:  # noqa: BLE001 - any failure: back to the float layers
        for parent, child, layer in reversed(replaced):
            setattr(parent, child, layer)
        report.applied, report.layers = False, 0
        report.reason = str(err)[:200] if isinstance(err, ScoringError) else f"{type(err).__name__}: {str(err)[:160]}"
        log.warning("int8 quantisation not used: %s", report.reason)
        return report
    report.applied = True
    return report
