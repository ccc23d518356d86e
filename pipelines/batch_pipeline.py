"""The batch-prediction pipeline ``emotion-batch-predict``: one ``batch_predict`` task that predicts a file of
texts with a registered model (``NAME@champion`` by default) and writes one prediction per row.

``emotion-pipeline compile|submit|schedule --pipeline batch-predict`` build it; its parameters are set with
``--set`` (``model=emotion-emotion6@champion``, ``input_uri=gs://…``, ``output_uri=gs://…/predictions.jsonl``)
and ``--registry``. It runs on the AutoML image (a champion may be a PyCaret model) with the environment's
``evaluate`` resources (the step that loads the same models).
"""

import inspect
from typing import Any

from kfp import dsl

from components.kfp_components import DEFAULT_IMAGE, build_batch_predict_component
from components.steps.batch_predict import BatchPredictOptions
from pipelines.env_config import PipelineSettings

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
    ) -> str:
        task = component(
            registry_uri=registry_uri, model=model, input_uri=input_uri, output_uri=output_uri,
            registry_artifact_uri=registry_artifact_uri, text_column=text_column, label_column=label_column,
            chunk_rows=chunk_rows, encoding=encoding,
        )  # fmt: skip
        task.set_display_name("Predict a file with a registered model")
        task.set_caching_options(enable_caching=False)  # the champion and the input file change under their names
        if settings is not None:
            step = settings.steps["evaluate"]
            task.set_cpu_request(step.cpu_request).set_cpu_limit(step.cpu_limit)
            task.set_memory_request(step.memory_request).set_memory_limit(step.memory_limit)
        return task.outputs["Output"]

    # The parameters are the component's inputs under the same names: their descriptions are the component's.
    described = {name: spec.description for name, spec in component.component_spec.inputs.items()}
    lines = [f"    {name}: {described[name]}" for name in inspect.signature(emotion_batch_predict).parameters]
    returned = component.component_spec.outputs["Output"].description
    emotion_batch_predict.__doc__ = "\n".join([BATCH_DESCRIPTION, "", "Args:", *lines, "", "Returns:",
                                               f"    Output: {returned}", ""])  # fmt: skip
    return dsl.pipeline(name=BATCH_PIPELINE_NAME, display_name=BATCH_DISPLAY_NAME, description=BATCH_DESCRIPTION)(
        emotion_batch_predict
    )


def batch_parameters() -> dict[str, Any]:
    """Name → default (None: required) of the batch pipeline's parameters, read from its spec."""
    pipeline = build_batch_pipeline()
    return {
        name: (spec.default if spec.default is not None else None)
        for name, spec in pipeline.component_spec.inputs.items()
    }
