"""Two KFP components for the pipeline's wiring (issue #26, item 4); the logic is in components/, kfp only here.

* :func:`build_vertex_model_component`: reads the register step's ``registry_record`` and emits the registered
  version as a ``google.VertexModel`` artifact (:class:`VertexModel`; fields from
  :mod:`components.registry.vertex_lineage`), so Vertex AI links the run to the Model Registry version. On a
  registry that is not Vertex AI's (MLflow on KFP) it emits nothing useful and says so in its log; wire it on
  Vertex AI only.
* :func:`build_notice_component`: the exit task of a ``dsl.ExitHandler`` around the pipeline's tasks: it gets the
  final status (``dsl.PipelineTaskFinalStatus``), writes a status record (:mod:`components.reporting.notice`) as
  its output and POSTs it to ``hook_url`` when one is given (only failures unless ``notify_success``).

Both take the image they run in, like :func:`components.kfp_components.build_components`.
"""

from kfp import dsl
from kfp.dsl import Artifact, Input, Output


class VertexModel(dsl.Artifact):
    """Vertex AI's model artifact type (google-cloud-pipeline-components' ``VertexModel``, same schema)."""

    schema_title = "google.VertexModel"
    schema_version = "0.0.1"


def emit_vertex_model(registry_record: Input[Artifact], vertex_model: Output[VertexModel]):
    """Emits the registered Vertex AI Model Registry version as a google.VertexModel artifact (lineage)."""
    import json

    from components.registry.vertex_lineage import vertex_model_fields

    with open(registry_record.path, encoding="utf-8") as handle:
        record = json.load(handle)
    uri, metadata = vertex_model_fields(record)
    vertex_model.uri = uri
    vertex_model.metadata.update(metadata)
    print(f"google.VertexModel: {metadata['resourceName']}")


def run_notice(status: dsl.PipelineTaskFinalStatus, hook_url: str, notify_success: bool, notice: Output[Artifact]):
    """Writes the run's final status as a record and POSTs it to hook_url (failures only unless notify_success)."""
    import json

    from components.reporting.notice import post_notice, status_record

    record = status_record(status)
    with open(notice.path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    notice.metadata.update({"state": record["state"], "failed": record["failed"]})
    print(f"run {record['state']}; notice: {post_notice(hook_url, record, only_failures=not notify_success)}")


def build_vertex_model_component(image: str) -> dsl.base_component.BaseComponent:
    """The ``emit_vertex_model`` component in ``image`` (which holds this package)."""
    return dsl.component(emit_vertex_model, base_image=image, install_kfp_package=False)


def build_notice_component(image: str) -> dsl.base_component.BaseComponent:
    """The ``run_notice`` exit component in ``image``."""
    return dsl.component(run_notice, base_image=image, install_kfp_package=False)
