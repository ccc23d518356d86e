"""The batch-prediction pipeline ``emotion-batch-predict``: one ``batch_predict`` task that predicts a file of
texts with a registered model (``NAME@champion`` by default) and writes one prediction per row.

``emotion-pipeline compile|submit|schedule --pipeline batch-predict`` build it; its parameters are set with
``--set`` (``model=emotion-emotion6@champion``, ``input_uri=gs://…``, ``output_uri=gs://…/predictions.jsonl``)
and ``--registry``. It runs on the AutoML image (a champion may be a PyCaret model) with the environment's
``evaluate`` resources (the step that loads the same models).
"""

from typing import Any

from kfp import dsl

from components.kfp_components import DEFAULT_IMAGE, build_batch_predict_component
from components.steps.batch_predict import BatchPredictOptions
from pipelines.env_config import PipelineSettings
from pipelines.one_step import configure, one_step_pipeline, parameters_of

BATCH_PIPELINE_NAME = "emotion-batch-predict"
BATCH_DISPLAY_NAME = "Emotion classifier: batch prediction"
BATCH_DESCRIPTION = "Predicts a file of texts with a registered model."
BATCH = BatchPredictOptions()
#: Parameters that must be given (they have no useful default).
REQUIRED = ("registry_uri", "model", "input_uri", "output_uri")


def build_batch_pipeline(
    image: str = DEFAULT_IMAGE, automl_image: str = "", settings: PipelineSettings | None = None
) -> dsl.graph_component.GraphComponent:
    """Builds ``emotion-batch-predict`` on the AutoML image (``image`` when empty).

    Args:
        image: Image of every step.
        automl_image: Image that can load PyCaret models; the batch step runs on it when given.
        settings: The environment's per-step settings; the batch step takes ``evaluate``'s.

    Returns:
        The pipeline, ready to compile.
    """
    component = build_batch_predict_component(automl_image or image)

    def emotion_batch_predict(
        registry_uri: str,
        model: str,
        input_uri: str,
        output_uri: str,
        registry_artifact_uri: str = "",
        text_column: str = BATCH.text_column,
        label_column: str = BATCH.label_column,
        chunk_rows: int = BATCH.chunk_rows,
        encoding: str = BATCH.encoding,
        explain: bool = BATCH.explain,
        explain_top: int = BATCH.explain_top,
    ) -> str:
        task = component(
            registry_uri=registry_uri,
            model=model,
            input_uri=input_uri,
            output_uri=output_uri,
            registry_artifact_uri=registry_artifact_uri,
            text_column=text_column,
            label_column=label_column,
            chunk_rows=chunk_rows,
            encoding=encoding,
            explain=explain,
            explain_top=explain_top,
        )
        configure(task, "Predict a file with a registered model", settings)
        return task.outputs["Output"]

    return one_step_pipeline(
        emotion_batch_predict,
        component,
        name=BATCH_PIPELINE_NAME,
        display_name=BATCH_DISPLAY_NAME,
        description=BATCH_DESCRIPTION,
    )


def batch_parameters() -> dict[str, Any]:
    """Name → default (None: required) of the batch pipeline's parameters, read from its spec."""
    return parameters_of(build_batch_pipeline())
