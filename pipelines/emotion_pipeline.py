"""The emotion pipeline: ingest → clean → vectorise → train_scratch ∥ train_automl → evaluate → register
→ profile, and promote behind ``dsl.If(register.promoted)``; and the batch-prediction pipeline.

Wiring only: every step's work lives in ``components``, and every default in the step's options dataclass
(``components/steps``), which the pipeline's signature reads below.
"""

from kfp import dsl
from kfp.dsl import Artifact

from components.kfp_components import DEFAULT_IMAGE, StepComponents, build_components
from components.steps.clean import CleaningOptions
from components.steps.evaluate import EvaluateOptions
from components.steps.ingest import IngestOptions
from components.steps.register import RegisterOptions
from components.steps.train_automl import AutomlOptions
from components.steps.train_scratch import ScratchOptions
from components.steps.vectorise import VectoriseOptions
from pipelines.env_config import PipelineSettings, RetryBackoff, StepSettings

PIPELINE_NAME = "emotion-pipeline"
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

    @dsl.pipeline(name=PIPELINE_NAME, description="Compares a from-scratch and an AutoML text-emotion classifier.")
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
    ) -> Artifact:
        ingest = steps.ingest(
            train_uris=train_uris,
            test_uri=test_uri,
            text_column=text_column,
            label_column=label_column,
            encoding=encoding,
            test_size=test_size,
            seed=seed,
            keep_extra_columns=keep_extra_columns,
            max_line_chars=max_line_chars,
        )
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
            train_dense=vectorise.outputs["train_dense"],
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
        tasks = {"ingest": ingest, "clean": clean, "vectorise": vectorise, "train_scratch": train_scratch,
                 "train_automl": train_automl, "evaluate": evaluate}  # fmt: skip
        registry = {name: value for name, value in locals().items() if name in REGISTER_INPUTS}  # same names
        return _register_and_profile(steps, tasks, task, images, registry, settings)

    return emotion_pipeline


def _register_and_profile(
    steps: StepComponents, tasks: dict[str, dsl.PipelineTask], task: str, images: dict[str, str],
    registry: dict[str, object], settings: PipelineSettings | None,
) -> Artifact:  # fmt: skip
    """register after evaluate, promote behind dsl.If(promoted) (the gate shows in the graph), then profile.

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
    _apply_settings(tasks, settings)
    return tasks["profile"].outputs["summary"]


def _profile(steps: StepComponents, task: str, tasks: dict[str, dsl.PipelineTask]) -> dsl.PipelineTask:
    """The profile step: every step's profile, the evaluation, the data statistics, the AutoML leaderboard and
    the registry decision."""
    measured = [name for name in tasks if name != "promote"]
    return steps.profile(
        task=task,
        **{f"{name}_profile": tasks[name].outputs["step_profile"] for name in measured},
        evaluation=tasks["evaluate"].outputs["evaluation"],
        data_stats=tasks["clean"].outputs["data_stats"],
        automl_leaderboard=tasks["train_automl"].outputs["automl_leaderboard"],
        registry_record=tasks["register"].outputs["registry_record"],
    )


def _apply_settings(tasks: dict[str, dsl.PipelineTask], settings: PipelineSettings | None) -> None:
    """Applies the environment's per-step settings; ingest, register and promote are never cached whatever they say.

    The files behind a URI can change while the URI stays the same, so a cached ingest could serve stale data.
    Later steps then rerun too: their inputs are new artifacts. register and promote read and change the
    registry, whose champion changes between runs.
    """
    if settings is not None:
        for name, task in tasks.items():
            apply_step_settings(task, settings.steps[name], settings.retry_backoff, settings.image_pull_policy)
    for name in ("ingest", "register", "promote"):
        if name in tasks:
            tasks[name].set_caching_options(enable_caching=False)
