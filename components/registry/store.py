"""Model registries: MLflow Model Registry (local runs, KFP standalone) and Vertex AI Model Registry (Vertex AI).

A registry URI chooses the backend (:func:`open_registry`):

* a folder path (or ``file://``): MLflow with ``<folder>/mlflow.db`` (SQLite) and ``<folder>/artifacts``;
* ``sqlite:///…``, ``postgresql://…``, ``mysql://…``, ``http(s)://…`` (an MLflow tracking server) or
  ``databricks``: that MLflow tracking and registry store; ``artifact_uri`` (e.g. ``gs://bucket/mlflow``) sets
  where new versions' files go (default: beside the SQLite file, or the server's own default);
* ``vertex://PROJECT/LOCATION``: Vertex AI Model Registry, one parent model per model name with a version per
  run (``Model.upload(parent_model=…)``), the ``champion`` version alias, the evaluation imported, labels that
  link the pipeline run.

Every backend stores versions of the folder :func:`components.registry.packaging.package_model` writes, and moves
the ``champion`` alias only through :meth:`Registry.set_champion` (the pipeline's ``promote`` task).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

CHAMPION = "champion"
#: Version tag (Vertex AI: label) holding the SHA-256 of the registered folder's files.
DIGEST_TAG = "model_sha256"
MLFLOW_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
_VERTEX = re.compile(r"^vertex://(?P<project>[^/]+)/(?P<location>[^/]+)/?$")


class RegistryError(ValueError):
    """A registry URI or model reference that cannot work, or a version that does not exist (named)."""


@dataclass(frozen=True)
class ModelRef:
    """``NAME@ALIAS`` (``emotion-demo@champion``) or ``NAME/VERSION`` (``emotion-demo/3``)."""

    name: str
    alias: str = CHAMPION
    version: str = ""

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parses ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME`` (the champion).

        Raises:
            RegistryError: An empty name, alias or version.
        """
        name, at, alias = text.partition("@")
        if not at and "/" in text:
            name, _, number = text.rpartition("/")
            if not name or not number.isdigit():
                raise RegistryError(f"model {text!r}: expected NAME@ALIAS or NAME/VERSION (e.g. emotion-demo/3)")
            return cls(name, "", number)
        if not name or (at and not alias):
            raise RegistryError(f"model {text!r}: expected NAME@ALIAS (e.g. emotion-demo@champion) or NAME/VERSION")
        return cls(name, alias or CHAMPION)

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version else f"{self.name}@{self.alias}"


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model: its number (or Vertex version id), where its files are, its tags."""

    name: str
    version: str
    source: str
    tags: Mapping[str, str] = field(default_factory=dict)


class Registry(Protocol):
    """What the register, promote and batch-predict steps and ``serve`` need from a model registry."""

    kind: str
    uri: str

    def champion(self, name: str) -> RegisteredVersion | None: ...

    def resolve(self, ref: ModelRef) -> RegisteredVersion: ...

    def register(
        self,
        name: str,
        model_dir: Path,
        model_uri: str,
        *,
        tags: Mapping[str, str],
        metrics: Mapping[str, float],
        description: str,
        image: str,
        evaluation: Mapping[str, Any],
    ) -> RegisteredVersion: ...

    def set_champion(self, name: str, version: str) -> None: ...

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str], note: str = "") -> None: ...

    def download(self, version: RegisteredVersion, target: Path) -> Path: ...


def redact(uri: str) -> str:
    """The URI without a password (``postgresql://user:***@host/db``), for logs, tags and summaries."""
    parts = urlsplit(uri)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@\s:]*):(?P<password>[^/@\s]+)@", re.I)


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password as ``***`` (messages, logs, artifacts)."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def is_folder(uri: str) -> bool:
    """A local folder path (or ``file://`` URI): the embedded SQLite registry."""
    scheme = urlsplit(uri).scheme
    return uri.startswith("file://") or not scheme or len(scheme) == 1  # C:\… on Windows


def open_registry(uri: str, artifact_uri: str = "", read_only: bool = False, **sdk: Any) -> Registry:
    """The registry a URI names (see the module docstring).

    Args:
        uri: Folder path, MLflow tracking URI or ``vertex://PROJECT/LOCATION``.
        artifact_uri: Where new versions' files go (MLflow: experiment artifact location; Vertex AI: staging
            bucket for a model folder that is not on GCS yet); empty for the default.
        read_only: Only read (``predict``, ``serve``): a folder registry is not created, migrated or locked, and
            one whose ``mlflow.db`` has no MLflow tables is refused (no registered model) instead of being filled.
        sdk: Test seams passed to :class:`VertexRegistry` (the aiplatform classes).

    Raises:
        RegistryError: Empty or unknown kind of URI.
    """
    if not uri.strip():
        raise RegistryError("registry_uri is empty: give a folder, an MLflow tracking URI or vertex://PROJECT/REGION")
    match = _VERTEX.match(uri)
    if match:
        return VertexRegistry(match["project"], match["location"], staging_bucket=artifact_uri, **sdk)
    if uri.startswith("vertex:"):
        raise RegistryError(
            f"registry {uri!r}: expected vertex://PROJECT/LOCATION (e.g. vertex://my-project/europe-west4)"
        )
    if is_folder(uri) or urlsplit(uri).scheme.split("+")[0] in MLFLOW_SCHEMES:  # postgresql+psycopg2 too
        return MlflowRegistry(uri, artifact_uri, read_only=read_only)
    raise RegistryError(
        f"registry {redact(uri)!r}: expected a folder, an MLflow tracking URI ({', '.join(MLFLOW_SCHEMES)}) "
        "or vertex://PROJECT/LOCATION"
    )


def check_registry(uri: str, artifact_uri: str = "", timeout: float = 30.0) -> None:
    """Checks, before a run's first step, that its registry will take a registration: reachable, writable, migrated.

    Args:
        uri: The registry URI (see :func:`open_registry`).
        artifact_uri: Where new versions' files go (a local folder is checked for writing).
        timeout: Seconds to wait for a tracking server's answer (the run's ``network_timeout_seconds``).

    Raises:
        RegistryError: One line naming the registry (its password redacted) and what is wrong.
    """
    scheme = urlsplit(uri).scheme.lower()
    if not uri.strip() or uri.startswith("vertex:"):
        open_registry(uri, artifact_uri)  # the URI's form only: Vertex AI is reached by the steps
        return
    if scheme == "databricks":
        return
    if is_folder(uri):
        folder = Path(uri.removeprefix("file://")).expanduser()
        _check_writable(folder, uri)
        _check_sqlite(folder / "mlflow.db", uri)
    elif scheme == "sqlite":
        database = Path(urlsplit(uri).path[1:] if uri.startswith("sqlite:////") else uri.removeprefix("sqlite:///"))
        _check_writable(database.parent, uri)
        _check_sqlite(database, uri)
    elif scheme in ("http", "https"):
        _check_server(uri, timeout)
    elif scheme.split("+")[0] in MLFLOW_SCHEMES:
        _check_driver(uri)
    if artifact_uri and is_folder(artifact_uri):
        _check_writable(Path(artifact_uri.removeprefix("file://")).expanduser(), uri, "registry_artifact_uri")
    try:
        with _quiet_migrations():
            open_registry(uri, artifact_uri)  # a fresh registry's tables are made now, one process at a time
    except Exception as err:  # any failure of the store, said in one line
        raise RegistryError(f"registry {redact(uri)}: cannot be opened ({_one_line(err)})") from None


@contextlib.contextmanager
def _quiet_migrations() -> Iterator[None]:
    """MLflow's and alembic's INFO lines about making tables are not shown while the block runs."""
    import logging

    loggers = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _one_line(err: BaseException) -> str:
    text = redact_text(str(err)).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _check_writable(folder: Path, uri: str, what: str = "registry") -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as err:
        raise RegistryError(f"{what} {redact(uri)}: {folder} is not writable ({err.strerror})") from None


def _check_sqlite(database: Path, uri: str) -> None:
    """A database file that exists must take a write (an immutable or read-only file refuses it)."""
    if not database.exists():
        return
    try:
        connection = sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            connection.execute(f"PRAGMA user_version = {int(version)}")  # a write, undone: refused when read-only
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as err:
        raise RegistryError(f"registry {redact(uri)}: {database} cannot be written ({err})") from None


def _check_server(uri: str, timeout: float) -> None:
    """An MLflow tracking server must answer ``/health`` within ``timeout`` seconds (once, no retries)."""
    import base64
    import urllib.error
    import urllib.request

    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    netloc = f"[{netloc}]" if ":" in netloc else netloc
    netloc += f":{parts.port}" if parts.port else ""
    request = urllib.request.Request(
        urlunsplit(parts._replace(netloc=netloc, query="", fragment="")).rstrip("/") + "/health"
    )
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # http(s) only: checked by the caller
            return
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise RegistryError(f"registry {redact(uri)}: refused the credentials (HTTP {err.code})") from None
        if err.code < 500:  # a server answering (an older one without /health): reachable
            return
        raise RegistryError(f"registry {redact(uri)}: server error HTTP {err.code}") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise RegistryError(f"registry {redact(uri)}: not reachable within {timeout:g} s ({reason})") from None


def _local_path(uri: str) -> Path | None:
    """The local path a ``file://`` URI or an absolute path names; None for any other URI."""
    if uri.startswith("file://"):
        return Path(urlsplit(uri).path)
    return Path(uri) if uri.startswith("/") else None


def _check_registered(folder: Path, uri: str) -> None:
    """A registry to read must hold MLflow's tables: one line, and nothing written, when it does not."""
    database = folder / "mlflow.db"
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.Error as err:
        raise RegistryError(f"registry {uri}: {database} cannot be read as a registry ({err})") from None
    if "model_versions" not in tables:
        raise RegistryError(f"registry {uri}: no registered model ({database} has no MLflow tables)")


def _check_driver(uri: str) -> None:
    """A database registry needs its SQLAlchemy driver installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(uri).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ImportError) as err:
        raise RegistryError(
            f"registry {redact(uri)}: its database driver is not installed ({_one_line(err)}); install it "
            "(e.g. pip install psycopg2-binary for postgresql://, pymysql with mysql+pymysql://)"
        ) from None


class MlflowRegistry:
    """MLflow Model Registry: a version per registration, logged in a run of experiment ``emotion-pipeline/NAME``.

    Args:
        uri: Folder (SQLite + artifacts in it) or MLflow tracking URI.
        artifact_uri: Artifact location of new experiments (``gs://…``, ``s3://…`` or a folder); empty: default.
    """

    kind = "mlflow"

    def __init__(self, uri: str, artifact_uri: str = "", read_only: bool = False) -> None:
        from mlflow import MlflowClient

        self.uri = redact(uri)
        self.folder: Path | None = None
        if is_folder(uri):
            self.folder = Path(uri.removeprefix("file://")).expanduser().resolve()
            self.tracking_uri = f"sqlite:///{self.folder / 'mlflow.db'}"
            self.artifact_uri = artifact_uri or (self.folder / "artifacts").as_uri()
            if read_only:  # nothing made, migrated or locked: a database without MLflow's tables is refused
                _check_registered(self.folder, self.uri)
                self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
                return
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            self.tracking_uri, self.artifact_uri = uri, artifact_uri
        with self.locked():  # a folder's tables are made (or migrated) by one process at a time: alembic races
            self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            if self.folder is not None:
                self.client.search_experiments(max_results=1)
                self.client.search_registered_models(max_results=1)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the folder registry's lock (``<folder>/.registry.lock``); a no-op for a tracking server."""
        if self.folder is None:
            yield
            return
        import filelock

        with filelock.FileLock(self.folder / ".registry.lock", timeout=300):
            yield

    def _version(self, found: Any) -> RegisteredVersion:
        return RegisteredVersion(found.name, str(found.version), found.source, dict(found.tags or {}))

    def champion(self, name: str) -> RegisteredVersion | None:
        """The version the ``champion`` alias points at; None when the model or the alias does not exist yet."""
        from mlflow.exceptions import MlflowException

        try:
            return self._version(self.client.get_model_version_by_alias(name, CHAMPION))
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise

    def resolve(self, ref: ModelRef) -> RegisteredVersion:
        """The version a reference names.

        Raises:
            RegistryError: No such model, alias or version.
        """
        from mlflow.exceptions import MlflowException

        try:
            found = (
                self.client.get_model_version(ref.name, ref.version)
                if ref.version
                else self.client.get_model_version_by_alias(ref.name, ref.alias)
            )
        except MlflowException as err:
            raise RegistryError(f"{ref}: not in the registry at {self.uri} ({err.message})") from err
        return self._version(found)

    def _experiment(self, name: str) -> str:
        title = f"emotion-pipeline/{name}"
        found = self.client.get_experiment_by_name(title)
        if found is not None:
            origin = self._foreign_origin(found.artifact_location)
            if origin is not None:  # its new runs' files would go into the registry it was copied from
                raise RegistryError(
                    f"registry {self.uri}: copied or moved from {origin}, whose artifacts folder its experiment "
                    f"{title} writes into; register into {origin} or into a new folder"
                )
            return found.experiment_id
        return self.client.create_experiment(title, artifact_location=self.artifact_uri or None)

    def register(
        self,
        name: str,
        model_dir: Path,
        model_uri: str,
        *,
        tags: Mapping[str, str],
        metrics: Mapping[str, float],
        description: str,
        image: str,
        evaluation: Mapping[str, Any],
    ) -> RegisteredVersion:
        """Logs the model folder in a new run (metrics, tags, evaluation) and registers it as a new version."""
        with self.locked():  # concurrent registrations into one folder get distinct versions
            return self._register(
                name, model_dir, tags=tags, metrics=metrics, description=description, image=image, evaluation=evaluation
            )

    def _register(
        self,
        name: str,
        model_dir: Path,
        *,
        tags: Mapping[str, str],
        metrics: Mapping[str, float],
        description: str,
        image: str,
        evaluation: Mapping[str, Any],
    ) -> RegisteredVersion:
        from mlflow.entities import Metric, RunTag
        from mlflow.exceptions import MlflowException

        from components.registry.packaging import folder_digest

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            try:
                self.client.create_registered_model(name, description="Text-emotion classifier (emotion-pipeline)")
            except MlflowException as err:  # another run made it in between (a tracking server)
                if err.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        run = self.client.create_run(self._experiment(name), run_name=tags.get("pipeline_run") or None)
        run_id = run.info.run_id
        stamp = run.info.start_time
        self.client.log_batch(
            run_id,
            metrics=[Metric(key, float(value), stamp, 0) for key, value in metrics.items()],
            tags=[RunTag(key, str(value)) for key, value in {**tags, "image": image}.items()],
        )
        self.client.log_dict(run_id, dict(evaluation), "evaluation.json")
        self.client.log_artifacts(run_id, str(model_dir), "model")
        self.client.set_terminated(run_id)
        created = self.client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            description=description,
            tags={
                **tags,
                "image": image,
                **{k: str(v) for k, v in metrics.items()},
                DIGEST_TAG: folder_digest(model_dir),
            },  # checked before any of its files is unpickled
        )
        return self._version(created)

    def set_champion(self, name: str, version: str) -> None:
        """Points the ``champion`` alias at ``version``."""
        self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str], note: str = "") -> None:
        """Sets tags on a version (others kept) and appends ``note`` to its description (a promotion's record)."""
        with self.locked():
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, str(value))
            if note:
                before = self.client.get_model_version(name, str(version)).description or ""
                described = f"{before}\n{note}" if before else note
                self.client.update_model_version(name, str(version), description=described[-5000:])

    def download(self, version: RegisteredVersion, target: Path) -> Path:
        """Copies the version's model folder to ``target`` (created) and returns the folder."""
        import mlflow.artifacts

        from components.registry.packaging import quiet_downloads

        source = self._own_source(version)
        target.mkdir(parents=True, exist_ok=True)
        with quiet_downloads():
            found = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(target), tracking_uri=self.tracking_uri
            )
        return Path(found)

    def _foreign_origin(self, location: str) -> Path | None:
        """The other registry folder whose ``artifacts`` folder ``location`` is (this one a copy or a move of it);
        None for a registry server, a location in this folder, or a chosen artifact folder of no registry."""
        path = _local_path(location)
        if self.folder is None or path is None or path.name != "artifacts" or path.parent == self.folder:
            return None
        origin = path.parent
        return origin if (origin / "mlflow.db").exists() or not path.exists() else None

    def _own_source(self, version: RegisteredVersion) -> str:
        """Where to read a version's files: a folder registry reads its own. A version recorded under the registry
        it was copied or moved from is read at the same place in this folder, or refused in one line.

        Raises:
            RegistryError: This folder lacks the version's files (a copy of the database without the artifacts).
        """
        path = _local_path(version.source)
        if self.folder is None or path is None or path.is_relative_to(self.folder):
            return version.source
        run = self.client.get_run(self.client.get_model_version(version.name, version.version).run_id)
        location = self.client.get_experiment(run.info.experiment_id).artifact_location
        origin = self._foreign_origin(location)
        if origin is None or not path.is_relative_to(origin / "artifacts"):
            return version.source  # a chosen artifact folder outside the registry: read where it was written
        own = self.folder / "artifacts" / path.relative_to(origin / "artifacts")
        if not own.exists():
            raise RegistryError(
                f"{version.name}/{version.version}: its files are not in {self.folder / 'artifacts'} (this registry "
                f"was copied or moved from {origin}); copy the whole folder"
            )
        return own.as_uri()


def vertex_model_id(name: str) -> str:
    """A Vertex AI model id for a model name: lower-case letters, digits, ``-`` and ``_``, at most 63 characters."""
    model_id = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:63]
    if not model_id or not model_id[0].isalpha():
        model_id = ("m-" + model_id)[:63]
    return model_id


def vertex_label(value: str) -> str:
    """A Vertex AI label value: lower-case letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]+", "-", str(value).lower())[:63]


CLASSIFICATION_METRICS_SCHEMA = "gs://google-cloud-aiplatform/schema/modelevaluation/classification_metrics_1.0.0.yaml"


class VertexRegistry:
    """Vertex AI Model Registry. The aiplatform classes are parameters so tests can replace the network boundary.

    Args:
        project: Google Cloud project.
        location: Region.
        staging_bucket: ``gs://`` bucket for a model folder that is not on GCS already.
        model_cls: ``aiplatform.Model`` (``upload``; the class also reads a version).
        registry_cls: ``aiplatform.models.ModelRegistry`` (aliases).
        evaluation_client: A ``ModelServiceClient`` (``import_model_evaluation``, ``update_model``); built for the
            region when None.
    """

    kind = "vertex"

    def __init__(
        self,
        project: str,
        location: str,
        staging_bucket: str = "",
        model_cls: Any = None,
        registry_cls: Any = None,
        evaluation_client: Any = None,
    ) -> None:
        from google.cloud import aiplatform
        from google.cloud.aiplatform.models import ModelRegistry

        self.project, self.location, self.staging_bucket = project, location, staging_bucket
        self.uri = f"vertex://{project}/{location}"
        self.model_cls = model_cls or aiplatform.Model
        self.registry_cls = registry_cls or ModelRegistry
        self._evaluation_client = evaluation_client

    def _registry(self, name: str) -> Any:
        return self.registry_cls(vertex_model_id(name), location=self.location, project=self.project)

    def _version(self, name: str, model: Any) -> RegisteredVersion:
        return RegisteredVersion(name, str(model.version_id), str(model.uri), dict(model.labels or {}))

    def champion(self, name: str) -> RegisteredVersion | None:
        """The version with the ``champion`` alias; None when the model or the alias does not exist."""
        from google.api_core import exceptions

        try:
            return self._version(name, self._registry(name).get_model(version=CHAMPION))
        except exceptions.NotFound:
            return None

    def resolve(self, ref: ModelRef) -> RegisteredVersion:
        from google.api_core import exceptions

        try:
            return self._version(ref.name, self._registry(ref.name).get_model(version=ref.version or ref.alias))
        except exceptions.NotFound as err:
            raise RegistryError(f"{ref}: not in Vertex AI Model Registry ({self.uri})") from err

    def _parent(self, name: str) -> str | None:
        from google.api_core import exceptions

        try:
            self._registry(name).list_versions()
        except exceptions.NotFound:
            return None
        return vertex_model_id(name)

    def register(
        self,
        name: str,
        model_dir: Path,
        model_uri: str,
        *,
        tags: Mapping[str, str],
        metrics: Mapping[str, float],
        description: str,
        image: str,
        evaluation: Mapping[str, Any],
    ) -> RegisteredVersion:
        """Uploads the folder as a new version (the first creates the model), then imports its evaluation."""
        from components.registry.packaging import folder_digest

        parent = self._parent(name)
        uploaded = self.model_cls.upload(
            display_name=name,
            model_id=None if parent else vertex_model_id(name),
            parent_model=parent,
            is_default_version=parent is None,
            version_description=description[:1000],
            artifact_uri=model_uri if model_uri.startswith("gs://") else str(model_dir),
            staging_bucket=self.staging_bucket or None,
            serving_container_image_uri=image,
            serving_container_command=["emotion-pipeline", "serve"],
            serving_container_predict_route="/predict",
            serving_container_health_route="/health",
            serving_container_ports=[8080],
            labels={
                **{vertex_label(k): vertex_label(v) for k, v in tags.items()},
                DIGEST_TAG: folder_digest(model_dir)[:63],
            },  # a label holds 63 characters
            project=self.project,
            location=self.location,
        )
        self._import_evaluation(uploaded, metrics, evaluation)
        return self._version(name, uploaded)

    def _client(self) -> Any:
        """The regional ``ModelServiceClient`` (the one given to the constructor, for tests)."""
        from google.cloud.aiplatform_v1 import ModelServiceClient

        return self._evaluation_client or ModelServiceClient(
            client_options={"api_endpoint": f"{self.location}-aiplatform.googleapis.com"}
        )

    def _import_evaluation(self, model: Any, metrics: Mapping[str, float], evaluation: Mapping[str, Any]) -> None:
        from google.cloud.aiplatform_v1.types import ModelEvaluation
        from google.protobuf import json_format, struct_pb2

        client = self._client()
        labels, matrix = evaluation.get("labels", []), evaluation.get("confusion_matrix", [])
        scores = {"confusionMatrix": {"annotationSpecs": [{"displayName": label} for label in labels], "rows": matrix}}
        record = ModelEvaluation(
            display_name="emotion-pipeline evaluate (held-out rows)",
            metrics_schema_uri=CLASSIFICATION_METRICS_SCHEMA,
            metrics=json_format.ParseDict(scores, struct_pb2.Value()),
            metadata=json_format.ParseDict(dict(metrics), struct_pb2.Value()),
        )
        client.import_model_evaluation(parent=model.versioned_resource_name, model_evaluation=record)

    def set_champion(self, name: str, version: str) -> None:
        """Adds the ``champion`` alias to ``version`` (Vertex AI moves it off the version that had it)."""
        self._registry(name).add_version_aliases([CHAMPION], str(version))

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str], note: str = "") -> None:
        """Merges ``tags`` into the version's labels (as label values: lower-case, at most 63 characters) and appends
        ``note`` to its version description, in one ``UpdateModel`` of the version (``models/ID@VERSION``)."""
        from google.cloud.aiplatform_v1.types import Model
        from google.protobuf import field_mask_pb2

        found = self._registry(name).get_model(version=str(version))
        labels = {**dict(found.labels or {}), **{vertex_label(k): vertex_label(v) for k, v in tags.items()}}
        before = str(getattr(found, "version_description", "") or "")
        described = (f"{before}\n{note}" if before else note) if note else before
        paths = ["labels", "version_description"] if note else ["labels"]
        self._client().update_model(
            model=Model(name=found.versioned_resource_name, labels=labels, version_description=described[-1000:]),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )

    def download(self, version: RegisteredVersion, target: Path) -> Path:
        """Copies the version's model folder (``gs://``) to ``target`` and returns the folder."""
        import fsspec

        target.mkdir(parents=True, exist_ok=True)
        fs, path = fsspec.core.url_to_fs(version.source)
        fs.get(path.rstrip("/") + "/", str(target), recursive=True)
        return target


def load_version(
    registry: Registry, ref: ModelRef | RegisteredVersion, workdir: Path | None = None
) -> tuple[Any, RegisteredVersion, dict[str, Any]]:
    """Downloads and loads a registered version.

    Args:
        registry: The registry.
        ref: A reference (resolved first) or a version.
        workdir: Folder for the download (a temporary folder, kept for the process's life, when None).

    Returns:
        The :class:`~components.registry.packaging.EmotionModel`, the version and its recorded metadata.
    """
    from components.registry.packaging import ModelIntegrityError, load_packaged_model, verify_folder

    folder, version = download_version(registry, ref, workdir)
    try:
        verify_folder(folder, version.tags.get(DIGEST_TAG, ""), f"{version.name}/{version.version}")
    except ModelIntegrityError as err:
        raise RegistryError(str(err)) from None
    model, metadata = load_packaged_model(folder)
    return model, version, metadata


def download_version(
    registry: Registry, ref: ModelRef | RegisteredVersion, workdir: Path | None = None
) -> tuple[Path, RegisteredVersion]:
    """Downloads a registered version's model folder (the one holding ``MLmodel``, and its reference profile).

    Returns:
        The folder and the version.
    """
    version = registry.resolve(ref) if isinstance(ref, ModelRef) else ref
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="emotion-model-"))
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)  # removed when the process ends
    folder = registry.download(version, workdir / f"v{version.version}")
    return _model_root(folder), version


def _model_root(folder: Path) -> Path:
    """The folder holding ``MLmodel``: the download itself or its one sub-folder (``…/model``)."""
    if (folder / "MLmodel").is_file():
        return folder
    found = sorted(p.parent for p in folder.rglob("MLmodel"))
    if not found:
        raise RegistryError(f"{folder}: no MLmodel file in the downloaded version")
    return found[0]
