"""The monitoring pipeline ``emotion-monitor``: one ``monitor`` task that compares a batch of texts with a registered
model's reference profile (``NAME@champion`` by default) and writes monitor.json, its reports and Metrics.

``emotion-pipeline compile|submit|schedule --pipeline monitor`` build it; its parameters are set with ``--set``
(``model=emotion-emotion6@champion``, ``input_uri=gs://…``, thresholds such as ``psi_threshold=0.25``) and
``--registry``. Its ``Output`` is the verdict (drift true/false). It reports only: retraining on drift is
``emotion-pipeline monitor --on-drift retrain`` (README, "The MLOps loop"). It runs on the AutoML image (a champion
may be a PyCaret model) with the environment's ``evaluate`` resources, never cached.
"""

from typing import Any

from kfp import dsl

from components.kfp_components import DEFAULT_IMAGE, build_monitor_component
from components.steps.monitor import MonitorOptions
from pipelines.env_config import PipelineSettings
from pipelines.one_step import configure, one_step_pipeline, parameters_of

MONITOR_PIPELINE_NAME = "emotion-monitor"
MONITOR_DISPLAY_NAME = "Emotion classifier: drift and accuracy monitoring"
MONITOR_DESCRIPTION = "Compares a batch of texts with a registered model's reference profile: drift and accuracy."
MONITOR = MonitorOptions()
#: Parameters that must be given (they have no useful default).
REQUIRED = ("registry_uri", "model", "input_uri")


def build_monitor_pipeline(
    image: str = DEFAULT_IMAGE, automl_image: str = "", settings: PipelineSettings | None = None
) -> dsl.graph_component.GraphComponent:
    """Builds ``emotion-monitor`` on the AutoML image (``image`` when empty).

    Args:
        image: Image of every step.
        automl_image: Image that can load PyCaret models; the monitor step runs on it when given.
        settings: The environment's per-step settings; the monitor step takes ``evaluate``'s.

    Returns:
        The pipeline, ready to compile.
    """
    component = build_monitor_component(automl_image or image)

    def emotion_monitor(
        registry_uri: str,
        model: str,
        input_uri: str,
        registry_artifact_uri: str = "",
        text_column: str = MONITOR.text_column,
        label_column: str = MONITOR.label_column,
        use_labels: bool = MONITOR.use_labels,
        chunk_rows: int = MONITOR.chunk_rows,
        encoding: str = MONITOR.encoding,
        psi_threshold: float = MONITOR.psi_threshold,
        chi2_alpha: float = MONITOR.chi2_alpha,
        chi2_min_psi: float = MONITOR.chi2_min_psi,
        max_oov_increase: float = MONITOR.max_oov_increase,
        max_metric_drop: float = MONITOR.max_metric_drop,
        max_unseen_label_rate: float = MONITOR.max_unseen_label_rate,
        min_rows: int = MONITOR.min_rows,
        bootstrap_resamples: int = MONITOR.bootstrap_resamples,
        confidence: float = MONITOR.confidence,
        seed: int = MONITOR.seed,
    ) -> bool:
        given = locals()  # the pipeline's parameters, passed under the component's input names
        task = component(**{name: given[name] for name in component.component_spec.inputs})
        configure(task, "Monitor a batch against the champion's reference", settings)
        return task.outputs["Output"]

    return one_step_pipeline(
        emotion_monitor,
        component,
        name=MONITOR_PIPELINE_NAME,
        display_name=MONITOR_DISPLAY_NAME,
        description=MONITOR_DESCRIPTION,
    )


def monitor_parameters() -> dict[str, Any]:
    """Name → default (None: required) of the monitoring pipeline's parameters, read from its spec."""
    return parameters_of(build_monitor_pipeline())
