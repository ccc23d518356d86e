"""The registered model as Vertex AI's ``google.VertexModel`` artifact: what links a pipeline run to the Model
Registry version it made (the run's lineage graph shows the model; the model's page shows the run).

Vertex AI recognises an output artifact of schema ``google.VertexModel`` whose metadata holds ``resourceName``
(``projects/P/locations/L/models/M@VERSION``) and whose URI is that resource's REST address
(``https://L-aiplatform.googleapis.com/v1/projects/P/locations/L/models/M@VERSION``): the form of
google-cloud-pipeline-components' ``VertexModel.create`` (its ``types/artifact_types.py``), which does not install
with this stack's pins (every release needs google-cloud-aiplatform<2 or kfp<2.11), so the fields are made here.
No kfp import: the KFP wrapper that emits the artifact is ``emit_vertex_model`` in :mod:`components.kfp_components`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.registry.store import RegistryError, vertex_model_id

SCHEMA_TITLE = "google.VertexModel"
SCHEMA_VERSION = "0.0.1"
_VERTEX_URI = re.compile(r"^vertex://(?P<project>[^/]+)/(?P<location>[^/]+)/?$")


def vertex_model_resource_name(record: Mapping[str, Any]) -> str:
    """``projects/P/locations/L/models/M@VERSION`` of the version a register step's record names.

    Args:
        record: The register step's ``registry_record`` (``registry`` ``vertex://P/L``, ``model_name``, ``version``).

    Raises:
        RegistryError: The record is not of Vertex AI Model Registry, or lacks the version.
    """
    match = _VERTEX_URI.match(str(record.get("registry", "")))
    if match is None or not record.get("model_name"):
        raise RegistryError(
            f"registry record of {record.get('registry', '?')!r}: not a Vertex AI Model Registry version "
            "(vertex://PROJECT/LOCATION): no google.VertexModel to emit"
        )
    name = f"projects/{match['project']}/locations/{match['location']}/models/{vertex_model_id(record['model_name'])}"
    version = str(record.get("version", ""))
    return f"{name}@{version}" if version else name


def vertex_model_fields(record: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The ``google.VertexModel`` artifact's URI and metadata for a register step's record.

    Returns:
        ``(uri, {"resourceName": …})`` as google-cloud-pipeline-components' ``VertexModel.create`` sets them.
    """
    resource_name = vertex_model_resource_name(record)
    location = resource_name.split("/")[3]
    return f"https://{location}-aiplatform.googleapis.com/v1/{resource_name}", {"resourceName": resource_name}
