"""Prediction latency of text → label models: one text at a time and one batch, warm, in repeated rounds.

Each model first predicts one untimed batch (warm-up). Then, ``rounds`` times, every model in turn (the first one
rotated each round, so none is always first) predicts ``single_calls`` texts one at a time and one batch; the
figures are the median over rounds with their range (min, max). With one model (each arm's predict step times its
own model in its own image) the rounds still repeat, so a burst of load on the machine shows as a wide range
instead of the figure. Latencies are measurements and vary with the machine's load: measure them outside any
profiler's sampling window.

A slow model (a transformer on a CPU predicts tens of texts a second, a linear model tens of thousands) is timed
within ``latency_seconds``: a probe of a few texts sizes the batch and the one-text calls to the time there is,
and rounds stop once the next would not fit (one round at least). The figures record what was timed
(``batch_size``, ``single_calls``, ``latency_rounds``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import cycle, islice
from typing import Any, Protocol

import numpy as np

from components.checks.options import check_number

LATENCY_KEYS = ("latency_p50_ms", "latency_p95_ms", "throughput_per_second")


class TextClassifier(Protocol):
    """Anything with ``predict(list of texts) -> labels``."""

    def predict(self, texts: Sequence[str]) -> Sequence[str]: ...


@dataclass(frozen=True)
class LatencySettings:
    """How prediction latency is measured.

    Attributes:
        latency_calls: One-text calls timed per model and round; 0 skips the latency measurement.
        latency_rounds: Timed rounds per model (interleaved between models when several are timed together).
        batch_size: Texts in the timed batch (fewer for a model too slow to predict them within the time).
        latency_seconds: About the most seconds one model's timing may take; a slow model is timed on fewer
            texts and rounds (at least one text alone, one batch of 8, one round).
    """

    latency_calls: int = 100
    latency_rounds: int = 5
    batch_size: int = 1000
    latency_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_number("latency_calls", self.latency_calls, low=0, integer=True)
        check_number("latency_rounds", self.latency_rounds, low=1, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_number("latency_seconds", self.latency_seconds, low=0, low_open=True)


def _time_round(model: TextClassifier, singles: Sequence[str], batch: Sequence[str]) -> dict[str, float]:
    """One timed round: ``predict`` on each text of ``singles`` alone, then on ``batch`` at once."""
    timings = []
    for text in singles:
        began = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - began) * 1000)
    began = time.perf_counter()
    model.predict(list(batch))
    batch_seconds = time.perf_counter() - began
    return {
        "latency_p50_ms": round(float(np.percentile(timings, 50)), 3),
        "latency_p95_ms": round(float(np.percentile(timings, 95)), 3),
        "batch_seconds": round(batch_seconds, 4),
        "throughput_per_second": round(len(batch) / max(batch_seconds, 1e-9), 1),  # finite: JSON has no inf
    }


def _summarise_rounds(rounds: Sequence[Mapping[str, float]], batch_size: int) -> dict[str, Any]:
    """Median and ``[min, max]`` over rounds of each figure of :func:`_time_round`."""
    out: dict[str, Any] = {}
    for key in (*LATENCY_KEYS, "batch_seconds"):
        values = [r[key] for r in rounds]
        out[key] = round(float(np.median(values)), 4 if key == "batch_seconds" else 3)
        if key in LATENCY_KEYS:
            out[f"{key}_range"] = [min(values), max(values)]
    return {**out, "batch_size": batch_size, "latency_rounds": len(rounds)}


def measure_latencies(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    *,
    rounds: int = 5,
    single_calls: int = 100,
    batch_size: int = 1000,
) -> dict[str, dict[str, Any]]:
    """Times every model's ``predict`` warm, in rounds interleaved between the models (see the module docstring).

    Args:
        models: Model name → model.
        texts: Texts to predict (cycled when fewer than needed).
        rounds: Timed rounds per model.
        single_calls: Timed one-text calls per round.
        batch_size: Texts in each timed batch.

    Returns:
        Model name → the median over rounds of ``latency_p50_ms``, ``latency_p95_ms`` (one text),
        ``throughput_per_second`` and ``batch_seconds``; their ``<key>_range`` (``[min, max]`` over rounds);
        ``latency_rounds`` and ``batch_size``.

    Raises:
        ValueError: No texts, or a count below 1.
    """
    if not texts or single_calls < 1 or batch_size < 1 or rounds < 1:
        raise ValueError("measure_latencies: need texts, rounds >= 1, single_calls >= 1 and batch_size >= 1")
    texts = [str(t) for t in texts]
    singles, batch = list(islice(cycle(texts), single_calls)), list(islice(cycle(texts), batch_size))
    for model in models.values():
        model.predict(batch)
    names = list(models)
    timed: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for i in range(rounds):
        start = i % len(names)
        for name in names[start:] + names[:start]:
            timed[name].append(_time_round(models[name], singles, batch))
    return {name: _summarise_rounds(timed[name], batch_size) for name in names}


#: Texts of the probe that sizes a slow model's timing.
PROBE_TEXTS = 8


def sized_for_time(model: TextClassifier, texts: Sequence[str], settings: LatencySettings) -> LatencySettings:
    """The settings scaled down to ``settings.latency_seconds`` for this model, from a probe of a few texts (which
    also warms the model up): a quarter of the time per round for the one-text calls and a quarter for the batch.
    """
    probe = list(islice(cycle([str(t) for t in texts]), PROBE_TEXTS))
    began = time.perf_counter()
    model.predict(probe)
    per_text = max((time.perf_counter() - began) / PROBE_TEXTS, 1e-6)
    began = time.perf_counter()
    model.predict(probe[:1])
    per_call = max(time.perf_counter() - began, per_text)
    share = settings.latency_seconds / settings.latency_rounds / 4
    return replace(
        settings,
        latency_calls=max(1, min(settings.latency_calls, int(share / per_call))),
        batch_size=max(PROBE_TEXTS, min(settings.batch_size, int(share / per_text))),
    )


def measure_latency(model: TextClassifier, texts: Sequence[str], settings: LatencySettings) -> dict[str, Any]:
    """One model's latency figures (:func:`measure_latencies` of that model alone, sized by
    :func:`sized_for_time`); ``{}`` when ``settings.latency_calls`` is 0."""
    if not settings.latency_calls:
        return {}
    sized = sized_for_time(model, texts, settings)
    calls, rounds, batch = sized.latency_calls, sized.latency_rounds, sized.batch_size
    figures = measure_latencies({"model": model}, texts, rounds=rounds, single_calls=calls, batch_size=batch)
    return {**figures["model"], "single_calls": calls}
