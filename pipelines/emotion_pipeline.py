"""The emotion pipeline: fingerprint → ingest → clean → each arm's steps (in parallel) → its predict step (a chain)
→ evaluate → register → profile → log_experiment, and promote behind ``dsl.If(register.promoted)``.

Wiring only. Every step's work lives in ``components``; every default in an options dataclass; everything about an
arm in its package (``components/arms/<arm>/``: its declaration, its wrappers and its own wiring). The pipeline's
parameters are *generated* from those dataclasses for the run's arms (:func:`pipeline_signature`): flat, typed,
with their defaults and descriptions (read from the dataclasses' ``Attributes:``), so the Vertex AI and KFP run
forms show one field per option, and no parameter is written twice.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import docstring_parser
from kfp import dsl
from kfp.dsl import Artifact

from components.arms import Arm, select_arms
from components.kfp_components import DEFAULT_IMAGE, StepComponents, build_components
from components.registry.endpoints import DeployOptions
from components.steps.clean import CleaningOptions
from components.steps.evaluate import EvaluateOptions
from components.steps.ingest import IngestOptions
from components.steps.predict import PredictOptions
from components.steps.register import RegisterOptions
from pipelines.env_config import PipelineSettings, RetryBackoff, StepSettings

PIPELINE_NAME = "emotion-pipeline"
PIPELINE_DISPLAY_NAME = "Emotion classifier: which way of building it wins"
PIPELINE_DESCRIPTION = (
    "Compares ways of building a text-emotion classifier (from scratch with scikit-learn, AutoML with PyCaret, a "
    "fine-tuned transformer) on the same data: accuracy and macro-F1 with paired bootstrap intervals, training "
    "time, CPU and memory of every step."
)
#: The parameters every run has, before the arms' (name → the options dataclass it comes from; None: its own).
LEADING_PARAMETERS: dict[str, type | None] = {
    "train_uris": None,
    "test_uri": None,
    "task": None,
    "text_column": IngestOptions,
    "label_column": IngestOptions,
    "encoding": IngestOptions,
    "test_size": IngestOptions,
    "seed": IngestOptions,
}
#: The parameters every run has, after the arms'.
TRAILING_PARAMETERS: dict[str, type | None] = {
    "winner_metric": EvaluateOptions,
    "keep_extra_columns": IngestOptions,
    "max_line_chars": IngestOptions,
    "network_timeout_seconds": IngestOptions,
    "network_retries": IngestOptions,
    "data_format": IngestOptions,
    "separator": IngestOptions,
    "header": IngestOptions,
    "multi_label": IngestOptions,
    **{f.name: CleaningOptions for f in dataclasses.fields(CleaningOptions)},
    "bootstrap_resamples": EvaluateOptions,
    "latency_calls": PredictOptions,
    "registry_uri": RegisterOptions,
    "registry_artifact_uri": RegisterOptions,
    "model_name": RegisterOptions,
    "on_champion_error": RegisterOptions,
    "experiment": None,
    "hook_url": None,
    "notify_success": None,
}
#: The parameters only a Vertex AI build has, after the others: the optional deploy step after promote.
VERTEX_PARAMETERS: dict[str, tuple[type | None, str]] = {
    "deploy_endpoint": (None, "deploy_endpoint"),
    "deploy_traffic_percent": (DeployOptions, "traffic_percent"),
}
#: Defaults and descriptions of the parameters that are no option field.
OWN_PARAMETERS: dict[str, tuple[type, Any, str]] = {
    "train_uris": (
        list,
        inspect.Parameter.empty,
        "Training files (local paths, gs://, https://): text;label lines "
        "or CSV with a header; several are unified and concatenated.",
    ),
    "test_uri": (
        str,
        "",
        "Held-out file; empty to hold out a stratified, seeded split of the training rows (test_size).",
    ),
    "task": (
        str,
        "custom",
        "Task name recorded in the summary and the reports (demo, emotion6, emotion14 or your own).",
    ),
    "experiment": (
        str,
        "",
        "Vertex AI experiment in which the last step logs this run (parameters and metrics of "
        "every arm); empty: none. submit and schedule create set it on Vertex AI.",
    ),
    "hook_url": (
        str,
        "",
        "Cluster runs: a webhook the run's final status is POSTed to as JSON by the exit task "
        "(failures only unless notify_success); empty: the status record only.",
    ),
    "notify_success": (
        bool,
        False,
        "Cluster runs: POST the final status of finished runs too, not only of failed ones.",
    ),
    "deploy_endpoint": (
        str,
        "",
        "Vertex AI: display name of the endpoint a promoted champion is deployed to (created when missing), "
        "with deploy_traffic_percent of its traffic; empty: no deployment.",
    ),
}
#: Pipeline parameters register takes under the same name.
REGISTER_INPUTS = ("registry_uri", "registry_artifact_uri", "model_name", "on_champion_error", "bootstrap_resamples")
SUMMARY_DESCRIPTION = "The run summary (summary.json): every arm's scores and costs, every step's time and memory."
#: UI names of the steps every run has (an arm's steps are named by its declaration).
SHARED_TITLES = {
    "fingerprint": "Fingerprint input files",
    "ingest": "Ingest and split data",
    "clean": "Clean texts",
    "evaluate": "Compare the arms",
    "register": "Register the winner (model registry)",
    "promote": "Promote to champion",
    "profile": "Profile and report",
    "log_experiment": "Log to Vertex AI Experiments",
    "vertex_model": "Link the Model Registry version",
    "deploy": "Deploy the champion to the Vertex AI endpoint",
    "notice": "Notify the run's end",
}
#: Never cached: fingerprint asks the storage for the files' versions (it is what lets ingest be cached); the
#: predict steps score the registry's champion, register and promote read and change the registry;
#: log_experiment files this very run in the experiment; deploy changes an endpoint.
UNCACHED_SHARED_STEPS = ("fingerprint", "register", "promote", "log_experiment", "vertex_model", "deploy", "notice")
#: Where a pipeline is built for: a laptop (kfp.local: the summary is the pipeline's output), KFP or Vertex AI (an
#: exit handler's notice ends every run, whatever happened; on Vertex AI the registered version is linked too).
TARGETS = ("local", "kfp", "vertex")


def display_names(arms: Sequence[Arm]) -> dict[str, str]:
    """Every step's name in the Vertex AI and KFP UIs (``task.set_display_name``)."""
    names = dict(SHARED_TITLES)
    for arm in arms:
        names |= dict(arm.step_titles) | {arm.train_step: arm.train_title}
        names[arm.predict_step] = f"Predict held-out rows: {arm.display_name}"
    return names


def uncached_steps(arms: Sequence[Arm]) -> tuple[str, ...]:
    """The steps never cached, whatever the environment says."""
    return (*UNCACHED_SHARED_STEPS, *(arm.predict_step for arm in arms))


def _plain_text(text: str) -> str:
    """A docstring phrase as the UIs show it: reST roles and literals unwrapped, one line."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return " ".join(text.split())


def _field_description(options: type, field: str) -> str:
    attributes = {a.arg_name: a.description for a in docstring_parser.parse(options.__doc__ or "").params}
    if not attributes.get(field):
        raise ValueError(f"{options.__name__}.{field}: no description in its Attributes: (the UIs show it)")
    return _plain_text(attributes[field])


def _kind(default: Any) -> type:
    """The pipeline parameter type of an option, from its default (tuples and sequences: list, mappings: dict)."""
    if isinstance(default, Mapping):
        return dict
    if isinstance(default, tuple | list):
        return list
    return type(default)


def _parameter(name: str, kind: type, default: Any) -> inspect.Parameter:
    if isinstance(default, tuple):
        default = list(default)
    elif isinstance(default, Mapping):
        default = dict(default)
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind)


def parameter_sources(arms: Sequence[Arm], target: str = "local") -> dict[str, tuple[str, type | None, str]]:
    """Every pipeline parameter → ``(step, options class, field)`` it feeds (``("", None, name)`` for its own),
    in the signature's order (a Vertex AI build ends with :data:`VERTEX_PARAMETERS`)."""
    shared_steps = {
        IngestOptions: "ingest",
        CleaningOptions: "clean",
        EvaluateOptions: "evaluate",
        PredictOptions: "predict",
        RegisterOptions: "register",
    }
    sources: dict[str, tuple[str, type | None, str]] = {}
    for name, options in LEADING_PARAMETERS.items():
        sources[name] = (shared_steps.get(options, ""), options, name)
    for arm in arms:
        sources |= arm.sources()
    for name, options in TRAILING_PARAMETERS.items():
        sources[name] = (shared_steps.get(options, ""), options, name)
    if target == "vertex":
        sources |= {name: ("deploy" if cls else "", cls, field) for name, (cls, field) in VERTEX_PARAMETERS.items()}
    return sources


def pipeline_signature(
    arms: Sequence[Arm], output: bool = True, target: str = "local"
) -> tuple[inspect.Signature, dict[str, str]]:
    """The pipeline function's signature for these arms (returning the summary, or nothing under an exit handler,
    which KFP requires), and every parameter's description (a Vertex AI build has :data:`VERTEX_PARAMETERS` too).

    Raises:
        ValueError: A parameter without a description (a new option field needs an ``Attributes:`` entry).
    """
    parameters, descriptions = [], {}
    for name, (_, options, field) in parameter_sources(arms, target).items():
        if options is None:
            kind, default, descriptions[name] = OWN_PARAMETERS[name]
        else:
            default = getattr(options(), field)
            kind, descriptions[name] = _kind(default), _field_description(options, field)
        parameters.append(_parameter(name, kind, default))
    return inspect.Signature(parameters, return_annotation=Artifact if output else None), descriptions


def pipeline_docstring(descriptions: Mapping[str, str], output: bool = True) -> str:
    """The pipeline function's docstring: KFP reads every parameter's description (``Args:``) and the output's
    (``Returns:``) from it into the compiled pipeline."""
    lines = [PIPELINE_DESCRIPTION, "", "Args:", *(f"    {name}: {text}" for name, text in descriptions.items())]
    returns = ["", "Returns:", f"    Output: {SUMMARY_DESCRIPTION}"] if output else []
    return "\n".join([*lines, *returns, ""])


def apply_step_settings(
    task: dsl.PipelineTask, step: StepSettings, backoff: RetryBackoff, image_pull_policy: str = ""
) -> None:
    """Sets one task's CPU/memory requests and limits, accelerator, retries, caching and (KFP on Kubernetes) pull
    policy."""
    task.set_cpu_request(step.cpu_request).set_cpu_limit(step.cpu_limit)
    task.set_memory_request(step.memory_request).set_memory_limit(step.memory_limit)
    if step.accelerator_type and step.accelerator_count:
        task.set_accelerator_type(step.accelerator_type).set_accelerator_limit(step.accelerator_count)
    task.set_caching_options(enable_caching=step.caching)
    if step.retries:
        task.set_retry(step.retries, backoff.duration, backoff.factor, backoff.max_duration)
    if image_pull_policy:
        from kfp import kubernetes

        kubernetes.set_image_pull_policy(task, image_pull_policy)


def build_pipeline(
    arms: Iterable[str] | str | None = None,
    image: str = DEFAULT_IMAGE,
    arm_images: Mapping[str, str] | None = None,
    settings: PipelineSettings | None = None,
    step_images: Mapping[str, str] | None = None,
    target: str = "local",
) -> dsl.graph_component.GraphComponent:
    """Builds the pipeline for the given arms, with its components on the given images.

    Args:
        arms: Arm names in order (``"scratch,automl"`` or a list); None: the default arms.
        image: Image of the shared steps and of every arm without an image of its own.
        arm_images: Image key (``automl``, ``transformer``) → image; missing or empty: ``image``.
        settings: Per-step resources, accelerators, retries, caching and pull policy (``emotion-pipeline compile``
            passes the environment's, see ``pipelines/config/env``); None for none of them, as in local runs,
            where kfp.local would ignore resources and retry a bad input for minutes.
        step_images: Per-step image overrides by step name.
        target: ``local`` (the summary is the pipeline's output), ``kfp`` or ``vertex`` (every task inside a
            ``dsl.ExitHandler`` whose exit task reports the final status; on Vertex AI the registered version is
            also emitted as a ``google.VertexModel`` artifact: the run's lineage; and a promoted champion is
            deployed to the endpoint ``deploy_endpoint`` names, when it is set).

    Returns:
        The pipeline, ready to compile or to run with ``kfp.local``.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {target!r}")
    chosen = select_arms(arms)
    steps = build_components(chosen, image, arm_images, step_images)
    images = serving_images(chosen, steps, arm_images)
    signature, descriptions = pipeline_signature(chosen, output=target == "local", target=target)

    def emotion_pipeline(*values: Any) -> Artifact | None:
        params = dict(zip(signature.parameters, values, strict=True))
        if target == "local":
            return _all_steps(steps, chosen, params, images, settings)
        notice = steps.notice(hook_url=params["hook_url"], notify_success=params["notify_success"])
        _apply_settings({"notice": notice}, chosen, settings)
        with dsl.ExitHandler(notice, name="emotion-pipeline-run"):
            _all_steps(steps, chosen, params, images, settings, vertex=target == "vertex")
        return None

    emotion_pipeline.__signature__ = signature
    emotion_pipeline.__doc__ = pipeline_docstring(descriptions, output=target == "local")
    return dsl.pipeline(name=PIPELINE_NAME, display_name=PIPELINE_DISPLAY_NAME, description=PIPELINE_DESCRIPTION)(
        emotion_pipeline
    )


def serving_images(
    arms: Sequence[Arm], steps: StepComponents, arm_images: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Arm name → the image its versions are registered with and served from: the image of its serving key
    (:attr:`Arm.serving_key`: ``serving`` for the scratch arm), else the image its predict step runs in."""
    found = {}
    for arm in arms:
        own = steps.arms[arm.name][arm.predict_step].component_spec.implementation.container.image
        found[arm.name] = own if arm.serving_key == arm.image else (arm_images or {}).get(arm.serving_key) or own
    return found


def _all_steps(
    steps: StepComponents,
    arms: Sequence[Arm],
    params: Mapping[str, Any],
    images: Mapping[str, str],
    settings: PipelineSettings | None,
    vertex: bool = False,
) -> Any:
    """Every task of a run, named and set up; returns the profile step's summary. On Vertex AI: the registered
    version's lineage, and the deploy step behind promote's gate."""
    tasks = _data_steps(steps, params)
    bundle = _arm_steps(steps, arms, tasks, params, images)
    tasks["evaluate"] = steps.evaluate(
        test=tasks["clean"].outputs["clean_test"],
        arms=bundle,
        winner_metric=params["winner_metric"],
        seed=params["seed"],
        bootstrap_resamples=params["bootstrap_resamples"],
    )
    summary = _register_and_profile(steps, tasks, bundle, params, deploy=vertex)
    if vertex:
        tasks["vertex_model"] = steps.vertex_model(registry_record=tasks["register"].outputs["registry_record"])
    _apply_settings(tasks, arms, settings)
    return summary


def _data_steps(steps: StepComponents, params: Mapping[str, Any]) -> dict[str, dsl.PipelineTask]:
    """fingerprint (never cached) → ingest (cached while every file's version is unchanged) → clean."""

    def given(options: type) -> dict[str, Any]:
        return {f.name: params[f.name] for f in dataclasses.fields(options) if f.name in params}

    network = {k: params[k] for k in ("network_timeout_seconds", "network_retries")}
    files = {"train_uris": params["train_uris"], "test_uri": params["test_uri"]}
    fingerprint = steps.fingerprint(**files, **network)
    ingest = steps.ingest(**files, data_fingerprint=fingerprint.output, **given(IngestOptions))
    clean = steps.clean(train=ingest.outputs["train"], test=ingest.outputs["test"], **given(CleaningOptions))
    return {"fingerprint": fingerprint, "ingest": ingest, "clean": clean}


def _arm_steps(
    steps: StepComponents,
    arms: Sequence[Arm],
    tasks: dict[str, dsl.PipelineTask],
    params: Mapping[str, Any],
    images: Mapping[str, str],
) -> Any:
    """Each arm's own steps (they run in parallel), then its predict step, chained: each adds its arm to the
    previous one's bundle. Adds the tasks to ``tasks``; returns the last bundle, every arm's results."""

    clean = tasks["clean"]
    bundle = None
    for arm in arms:
        own = steps.arms[arm.name]
        wired = _wire(arm, own, clean.outputs["clean_train"], params)
        tasks.update(wired["tasks"])
        chained = {"previous": bundle} if bundle is not None else {}
        predicted = own[arm.predict_step](
            arm=arm.name,
            display_name=arm.display_name,
            test=clean.outputs["clean_test"],
            image=images[arm.name],
            requirements=list(arm.serving_requirements),
            task=params["task"],
            registry_uri=params["registry_uri"],
            registry_artifact_uri=params["registry_artifact_uri"],
            model_name=params["model_name"],
            latency_calls=params["latency_calls"],
            **chained,
            **wired["handoff"],
        )
        tasks[arm.predict_step] = predicted
        bundle = predicted.outputs["arms"]
    return bundle


def _wire(arm: Arm, own: Mapping[str, Any], clean_train: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """An arm's steps in the pipeline: its ``component.py``'s ``wire`` when it has steps of its own before training
    (AutoML's vectorise); otherwise its training step on the cleaned rows, fed its ``<arm>_*`` parameters and the
    seed, handing its model and profile to its predict step.

    Returns:
        ``tasks`` (step name → task) and ``handoff``, the inputs of its predict step.
    """
    import importlib

    module = importlib.import_module(arm.component_module)
    if hasattr(module, "wire"):
        return module.wire(own, clean_train, params)
    fed = {field: params[name] for name, (step, _, field) in arm.sources().items() if step == arm.train_step}
    train = own[arm.train_step](train=clean_train, seed=params["seed"], **fed)
    handoff = {"model": train.outputs["model"], "train_profile": train.outputs["step_profile"]}
    return {"tasks": {arm.train_step: train}, "handoff": handoff}


def _register_and_profile(
    steps: StepComponents,
    tasks: dict[str, dsl.PipelineTask],
    bundle: Any,
    params: Mapping[str, Any],
    deploy: bool = False,
) -> Artifact:
    """register after evaluate, promote behind dsl.If(promoted) (the gate shows in the graph), then profile, then
    log_experiment (the run in the Vertex AI experiment). With ``deploy`` (Vertex AI), the deploy step after
    promote, behind a second gate: deploy_endpoint is set.

    Returns:
        The profile step's summary, the pipeline's output.
    """
    clean = tasks["clean"]
    tasks["register"] = register = steps.register(
        task=params["task"],
        evaluation=tasks["evaluate"].outputs["evaluation"],
        data_stats=clean.outputs["data_stats"],
        clean_train=clean.outputs["clean_train"],
        clean_test=clean.outputs["clean_test"],
        arms=bundle,
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        seed=params["seed"],
        **{k: params[k] for k in REGISTER_INPUTS},
    )
    where = {key: params[key] for key in ("registry_uri", "registry_artifact_uri")}
    # register's one output parameter is "promoted" (kfp.local resolves a condition on a task's "Output" only)
    with dsl.If(register.outputs["Output"] == True, name="challenger-beats-champion"):  # noqa: E712 - a KFP condition
        tasks["promote"] = steps.promote(registry_record=register.outputs["registry_record"], **where)
        if deploy:
            _deploy_step(steps, tasks, params)
    tasks["profile"] = steps.profile(
        task=params["task"],
        **{f"{name}_profile": tasks[name].outputs["step_profile"] for name in ("ingest", "clean", "evaluate")},
        register_profile=register.outputs["step_profile"],
        arms=bundle,
        evaluation=tasks["evaluate"].outputs["evaluation"],
        data_stats=clean.outputs["data_stats"],
        registry_record=register.outputs["registry_record"],
    )
    tasks["log_experiment"] = steps.log_experiment(
        summary=tasks["profile"].outputs["summary"],
        experiment=params["experiment"],
        pipeline_job=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,  # the job's id: Vertex AI, KFP and kfp.local resolve it
    )
    return tasks["profile"].outputs["summary"]


def _deploy_step(steps: StepComponents, tasks: dict[str, dsl.PipelineTask], params: Mapping[str, Any]) -> None:
    """The deploy step, after promote (the alias has moved), when deploy_endpoint is set: the champion this run
    promoted is deployed with deploy_traffic_percent of the endpoint's traffic."""
    with dsl.If(params["deploy_endpoint"] != "", name="deploy-endpoint-set"):
        tasks["deploy"] = steps.deploy(
            registry_record=tasks["register"].outputs["registry_record"],
            endpoint=params["deploy_endpoint"],
            traffic_percent=params["deploy_traffic_percent"],
        ).after(tasks["promote"])


def _apply_settings(tasks: dict[str, dsl.PipelineTask], arms: Sequence[Arm], settings: PipelineSettings | None) -> None:
    """Names every task for the UIs and applies the environment's per-step settings; the steps of
    :func:`uncached_steps` are never cached whatever they say (locally too).

    Ingest may be cached: it takes the fingerprint of its files as an input, so a file that changed behind the same
    URI changes ingest's cache key, and every later step reruns on the new artifacts (docs/cloud.md, "Caching").
    """
    names = display_names(arms)
    for name, task in tasks.items():
        task.set_display_name(names[name])
        if settings is not None:
            apply_step_settings(task, settings.step(name), settings.retry_backoff, settings.image_pull_policy)
    for name in uncached_steps(arms):
        if name in tasks:
            tasks[name].set_caching_options(enable_caching=False)
