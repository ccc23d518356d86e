"""The emotion pipeline: fingerprint → ingest → clean → vectorise → train_scratch ∥ train_automl → evaluate →
register → profile → log_experiment, and promote behind ``dsl.If(register.promoted)``; and the batch-prediction
pipeline.

Wiring only: every step's work lives in ``components``, and every default in the step's options dataclass
(``components/steps``), which the pipeline's signature reads below. The parameters' descriptions (shown by
Vertex AI and KFP next to each parameter) are read from the same dataclasses' ``Attributes:`` docstrings
(:func:`pipeline_docstring`), so no text is written twice.
"""

import dataclasses
import inspect
import re
from collections.abc import Callable

import docstring_parser
from kfp import dsl
from kfp.dsl import Artifact

from components.arms.automl.train import AutomlOptions
from components.arms.automl.vectorise import VectoriseOptions
from components.arms.scratch.train import ScratchOptions
from components.kfp_components import DEFAULT_IMAGE, StepComponents, build_components
from components.steps.clean import CleaningOptions
from components.steps.evaluate import EvaluateOptions
from components.steps.ingest import IngestOptions
from components.steps.register import RegisterOptions
from pipelines.env_config import PipelineSettings, RetryBackoff, StepSettings

PIPELINE_NAME = "emotion-pipeline"
PIPELINE_DISPLAY_NAME = "Emotion classifier: from scratch vs AutoML"
PIPELINE_DESCRIPTION = (
    "Compares a text-emotion classifier built from scratch (scikit-learn) with AutoML (PyCaret) on the same data: "
    "accuracy and macro-F1 with bootstrap intervals, training time, CPU and memory of every step."
)
INGEST, CLEAN, VECTORISE = IngestOptions(), CleaningOptions(), VectoriseOptions()
SCRATCH, AUTOML, EVALUATE = ScratchOptions(), AutomlOptions(), EvaluateOptions()
REGISTER = RegisterOptions()
#: Pipeline parameters register takes under the same name.
REGISTER_INPUTS = (
    "registry_uri",
    "registry_artifact_uri",
    "model_name",
    "on_champion_error",
    "bootstrap_resamples",
    "seed",
)

#: The name of each task in the Vertex AI and KFP UIs (``task.set_display_name``).
DISPLAY_NAMES = {
    "fingerprint": "Fingerprint input files",
    "ingest": "Ingest and split data",
    "clean": "Clean texts",
    "vectorise": "Vectorise for AutoML (TF-IDF, chi²)",
    "train_scratch": "Train from scratch (scikit-learn)",
    "train_automl": "Train AutoML (PyCaret)",
    "evaluate": "Evaluate both models",
    "register": "Register the winner (model registry)",
    "promote": "Promote to champion",
    "profile": "Profile and report",
    "log_experiment": "Log to Vertex AI Experiments",
}
#: The steps that profile themselves (each has a ``step_profile`` output the profile step reads).
PROFILED_STEPS = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate", "register")
#: Never cached: fingerprint asks the storage for the files' versions (it is what lets ingest be cached);
#: register and promote read and change the model registry; log_experiment files this very run in the experiment.
UNCACHED_STEPS = ("fingerprint", "register", "promote", "log_experiment")

#: Descriptions of the pipeline parameters that are no single step option.
OWN_PARAMETERS = {
    "train_uris": "Training files (local paths, gs://, https://): text;label lines or CSV with a header; several are "
    "unified and concatenated.",
    "test_uri": "Held-out file; empty to hold out a stratified, seeded split of the training rows (test_size).",
    "task": "Task name recorded in the summary and the reports (demo, emotion6, emotion14 or your own).",
    "seed": "Seed of the split, the from-scratch search, the AutoML session and the bootstrap.",
    "experiment": "Vertex AI experiment in which the last step logs this run (parameters and metrics of both models); "
    "empty: none. submit and schedule create set it on Vertex AI.",
}
SUMMARY_DESCRIPTION = "The run summary (summary.json): both models' scores and costs, every step's time and memory."
_OPTIONS = (
    IngestOptions, CleaningOptions, VectoriseOptions, ScratchOptions, AutomlOptions, EvaluateOptions, RegisterOptions,
)  # fmt: skip
_PREFIXES = {"scratch_": ScratchOptions, "automl_": AutomlOptions}  # scratch_budget_seconds → budget_seconds


def option_source(parameter: str) -> tuple[type, str] | None:
    """The options dataclass and field a pipeline parameter is named after (``scratch_workers`` →
    ``(ScratchOptions, "workers")``); None for a parameter that is no option.

    The pipeline's wiring is the authority on which option a parameter feeds (``pipelines/parameters.py`` reads
    it from the built pipeline); a test checks that this naming rule agrees with it.
    """
    for prefix, options in _PREFIXES.items():
        field = parameter.removeprefix(prefix)
        if parameter.startswith(prefix) and field in {f.name for f in dataclasses.fields(options)}:
            return options, field
    return next(((o, parameter) for o in _OPTIONS if parameter in {f.name for f in dataclasses.fields(o)}), None)


def _plain_text(text: str) -> str:
    """A docstring phrase as the UIs show it: reST roles and literals unwrapped, one line."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return " ".join(text.split())


def parameter_description(parameter: str) -> str:
    """The description of one pipeline parameter: its option's ``Attributes:`` entry, or :data:`OWN_PARAMETERS`.

    Raises:
        ValueError: Neither describes it (a new parameter needs an option field or an entry there).
    """
    if parameter in OWN_PARAMETERS:
        return OWN_PARAMETERS[parameter]
    source = option_source(parameter)
    if source is not None:
        attributes = {a.arg_name: a.description for a in docstring_parser.parse(source[0].__doc__ or "").params}
        if attributes.get(source[1]):
            return _plain_text(attributes[source[1]])
    raise ValueError(f"pipeline parameter {parameter!r}: no description (no option field documents it)")


def pipeline_docstring(func: Callable) -> str:
    """The pipeline function's docstring, built from the options' texts: KFP reads the description of every
    parameter (``Args:``) and of the output (``Returns:``) from it into the compiled pipeline."""
    lines = [PIPELINE_DESCRIPTION, "", "Args:"]
    lines += [f"    {name}: {parameter_description(name)}" for name in inspect.signature(func).parameters]
    return "\n".join([*lines, "", "Returns:", f"    Output: {SUMMARY_DESCRIPTION}", ""])


def apply_step_settings(
    task: dsl.PipelineTask, step: StepSettings, backoff: RetryBackoff, image_pull_policy: str = ""
) -> None:
    """Sets one task's CPU/memory requests and limits, retries, caching and (KFP on Kubernetes) pull policy."""
    task.set_cpu_request(step.cpu_request).set_cpu_limit(step.cpu_limit)
    task.set_memory_request(step.memory_request).set_memory_limit(step.memory_limit)
    task.set_caching_options(enable_caching=step.caching)
    if step.retries:
        task.set_retry(step.retries, backoff.duration, backoff.factor, backoff.max_duration)
    if image_pull_policy:
        from kfp import kubernetes

        kubernetes.set_image_pull_policy(task, image_pull_policy)


def build_pipeline(
    image: str = DEFAULT_IMAGE,
    automl_image: str = "",
    settings: PipelineSettings | None = None,
    step_images: dict | None = None,
) -> dsl.graph_component.GraphComponent:
    """Builds the pipeline with its components on the given image(s).

    Args:
        image: Image for every step.
        automl_image: Image for train_automl and evaluate; ``image`` when empty.
        settings: Per-step resources, retries, caching and pull policy (``emotion-pipeline compile`` passes the
            environment's, see ``pipelines/config/env``); None for none of them, as in local runs, where
            kfp.local would ignore resources and retry a bad input for minutes.
        step_images: Per-step image overrides by step name.

    Returns:
        The pipeline, ready to compile or to run with ``kfp.local``.
    """
    steps = build_components(image, automl_image, step_images)
    overrides = step_images or {}
    images = {"scratch": overrides.get("train_scratch", image),
              "automl": overrides.get("train_automl", automl_image or image)}  # fmt: skip

    def emotion_pipeline(
        train_uris: list,
        test_uri: str = "",
        task: str = "custom",
        text_column: str = INGEST.text_column,
        label_column: str = INGEST.label_column,
        encoding: str = INGEST.encoding,
        test_size: float = INGEST.test_size,
        seed: int = INGEST.seed,
        dense_features: int = VECTORISE.dense_features,
        scratch_search_space: list = list(SCRATCH.search_space),  # noqa: B006 - empty: the default space
        scratch_budget_seconds: float = SCRATCH.budget_seconds,
        scratch_max_candidates: int = SCRATCH.max_candidates,
        scratch_ensemble_size: int = SCRATCH.ensemble_size,
        scratch_workers: int = SCRATCH.workers,
        automl_models: list = list(AUTOML.models),  # noqa: B006 - KFP reads the default from the signature
        automl_budget_minutes: float = AUTOML.budget_minutes,
        automl_folds: int = AUTOML.folds,
        automl_tune_iterations: int = AUTOML.tune_iterations,
        winner_metric: str = EVALUATE.winner_metric,
        keep_extra_columns: bool = INGEST.keep_extra_columns,
        max_line_chars: int = INGEST.max_line_chars,
        network_timeout_seconds: float = INGEST.network_timeout_seconds,
        network_retries: int = INGEST.network_retries,
        data_format: str = INGEST.data_format,
        separator: str = INGEST.separator,
        header: str = INGEST.header,
        multi_label: str = INGEST.multi_label,
        lowercase: bool = CLEAN.lowercase,
        drop_duplicates: bool = CLEAN.drop_duplicates,
        unescape_html: bool = CLEAN.unescape_html,
        fix_mojibake: bool = CLEAN.fix_mojibake,
        url_token: str = CLEAN.url_token,
        mention_token: str = CLEAN.mention_token,
        label_map: dict = dict(CLEAN.label_map),  # noqa: B006 - empty: labels unchanged
        conflict_policy: str = CLEAN.conflict_policy,
        min_class_count: int = CLEAN.min_class_count,
        small_classes: str = CLEAN.small_classes,
        unseen_test_labels: str = CLEAN.unseen_test_labels,
        leakage: str = CLEAN.leakage,
        bootstrap_resamples: int = EVALUATE.bootstrap_resamples,
        registry_uri: str = REGISTER.registry_uri,
        registry_artifact_uri: str = REGISTER.registry_artifact_uri,
        model_name: str = REGISTER.model_name,
        on_champion_error: str = REGISTER.on_champion_error,
        experiment: str = "",
    ) -> Artifact:
        fingerprint = steps.fingerprint(  # never cached
            train_uris=train_uris, test_uri=test_uri, network_timeout_seconds=network_timeout_seconds,
            network_retries=network_retries,
        )  # fmt: skip
        ingest = steps.ingest(  # cached while the fingerprint (every file's version) is unchanged
            train_uris=train_uris, test_uri=test_uri, data_fingerprint=fingerprint.output, text_column=text_column,
            label_column=label_column, encoding=encoding, test_size=test_size, seed=seed,
            keep_extra_columns=keep_extra_columns, max_line_chars=max_line_chars,
            network_timeout_seconds=network_timeout_seconds, network_retries=network_retries,
            data_format=data_format, separator=separator, header=header, multi_label=multi_label,
        )  # fmt: skip
        clean = steps.clean(
            train=ingest.outputs["train"],
            test=ingest.outputs["test"],
            lowercase=lowercase,
            drop_duplicates=drop_duplicates,
            unescape_html=unescape_html,
            fix_mojibake=fix_mojibake,
            url_token=url_token,
            mention_token=mention_token,
            label_map=label_map,
            conflict_policy=conflict_policy,
            min_class_count=min_class_count,
            small_classes=small_classes,
            unseen_test_labels=unseen_test_labels,
            leakage=leakage,
        )
        vectorise = steps.vectorise(train=clean.outputs["clean_train"], dense_features=dense_features)
        train_scratch = steps.train_scratch(  # searches its own features on the texts: no edge to vectorise
            train=clean.outputs["clean_train"],
            search_space=scratch_search_space,
            budget_seconds=scratch_budget_seconds,
            max_candidates=scratch_max_candidates,
            ensemble_size=scratch_ensemble_size,
            seed=seed,
            workers=scratch_workers,
        )
        train_automl = steps.train_automl(
            train=clean.outputs["clean_train"],
            train_features=vectorise.outputs["train_features"],
            dense_vectoriser=vectorise.outputs["dense_vectoriser"],
            models=automl_models,
            budget_minutes=automl_budget_minutes,
            folds=automl_folds,
            tune_iterations=automl_tune_iterations,
            seed=seed,
        )
        evaluate = steps.evaluate(
            test=clean.outputs["clean_test"],
            scratch_model=train_scratch.outputs["model"],
            automl_model=train_automl.outputs["model"],
            winner_metric=winner_metric,
            seed=seed,
            bootstrap_resamples=bootstrap_resamples,
        )
        tasks = {"fingerprint": fingerprint, "ingest": ingest, "clean": clean, "vectorise": vectorise,
                 "train_scratch": train_scratch, "train_automl": train_automl, "evaluate": evaluate}  # fmt: skip
        registry = {name: value for name, value in locals().items() if name in REGISTER_INPUTS}  # same names
        return _register_and_profile(steps, tasks, task, images, registry, settings, experiment)

    emotion_pipeline.__doc__ = pipeline_docstring(emotion_pipeline)
    return dsl.pipeline(name=PIPELINE_NAME, display_name=PIPELINE_DISPLAY_NAME, description=PIPELINE_DESCRIPTION)(
        emotion_pipeline
    )


def _register_and_profile(
    steps: StepComponents, tasks: dict[str, dsl.PipelineTask], task: str, images: dict[str, str],
    registry: dict[str, object], settings: PipelineSettings | None, experiment: str = "",
) -> Artifact:  # fmt: skip
    """register after evaluate, promote behind dsl.If(promoted) (the gate shows in the graph), then profile, then
    log_experiment (the run in the Vertex AI experiment).

    Returns:
        The profile step's summary, the pipeline's output.
    """
    clean = tasks["clean"]
    tasks["register"] = register = steps.register(
        task=task,
        evaluation=tasks["evaluate"].outputs["evaluation"],
        data_stats=clean.outputs["data_stats"],
        clean_train=clean.outputs["clean_train"],
        clean_test=clean.outputs["clean_test"],
        scratch_model=tasks["train_scratch"].outputs["model"],
        automl_model=tasks["train_automl"].outputs["model"],
        run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
        images=images,
        **registry,
    )
    where = {key: registry[key] for key in ("registry_uri", "registry_artifact_uri")}
    # register's one output parameter is "promoted" (kfp.local resolves a condition on a task's "Output" only)
    with dsl.If(register.outputs["Output"] == True, name="challenger-beats-champion"):  # noqa: E712 - a KFP condition
        tasks["promote"] = steps.promote(registry_record=register.outputs["registry_record"], **where)
    tasks["profile"] = _profile(steps, task, tasks)
    tasks["log_experiment"] = _log_experiment(steps, tasks["profile"], experiment)
    _apply_settings(tasks, settings)
    return tasks["profile"].outputs["summary"]


def _profile(steps: StepComponents, task: str, tasks: dict[str, dsl.PipelineTask]) -> dsl.PipelineTask:
    """The profile step: every step's profile, the evaluation, the data statistics, the AutoML leaderboard and
    the registry decision."""
    return steps.profile(
        task=task,
        **{f"{name}_profile": tasks[name].outputs["step_profile"] for name in PROFILED_STEPS},
        evaluation=tasks["evaluate"].outputs["evaluation"],
        data_stats=tasks["clean"].outputs["data_stats"],
        automl_leaderboard=tasks["train_automl"].outputs["automl_leaderboard"],
        registry_record=tasks["register"].outputs["registry_record"],
    )


def _log_experiment(steps: StepComponents, profile: dsl.PipelineTask, experiment: str) -> dsl.PipelineTask:
    """The last step: the run's summary into the experiment, as a run named after the pipeline job."""
    return steps.log_experiment(
        summary=profile.outputs["summary"],
        experiment=experiment,
        pipeline_job=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,  # the job's id: Vertex AI, KFP and kfp.local resolve it
    )


def _apply_settings(tasks: dict[str, dsl.PipelineTask], settings: PipelineSettings | None) -> None:
    """Names every task for the UIs and applies the environment's per-step settings; the steps of
    :data:`UNCACHED_STEPS` are never cached whatever they say (locally too).

    Ingest may be cached: it takes the fingerprint of its files as an input, so a file that changed behind the same
    URI changes ingest's cache key, and every later step reruns on the new artifacts (docs/cloud.md, "Caching").
    register and promote read and change the registry, whose champion changes between runs: never cached.
    """
    for name, task in tasks.items():
        task.set_display_name(DISPLAY_NAMES[name])
        if settings is not None:
            apply_step_settings(task, settings.steps[name], settings.retry_backoff, settings.image_pull_policy)
    for name in UNCACHED_STEPS:
        if name in tasks:
            tasks[name].set_caching_options(enable_caching=False)
