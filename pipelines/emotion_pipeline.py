"""The emotion pipeline: ingest → clean → vectorise → train_scratch ∥ train_automl → evaluate → profile.

Wiring only: every step's work lives in ``components``.
"""

from kfp import dsl
from kfp.dsl import Artifact

from components.kfp_components import DEFAULT_IMAGE, build_components
from pipelines.env_config import PipelineSettings, RetryBackoff, StepSettings

PIPELINE_NAME = "emotion-pipeline"


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
    """
    steps = build_components(image, automl_image, step_images)

    @dsl.pipeline(name=PIPELINE_NAME, description="Compares a from-scratch and an AutoML text-emotion classifier.")
    def emotion_pipeline(
        train_uris: list,
        test_uri: str = "",
        task: str = "custom",
        text_column: str = "",
        label_column: str = "",
        encoding: str = "utf-8",
        test_size: float = 0.2,
        seed: int = 42,
        dense_features: int = 2000,
        scratch_search_space: list = [],  # noqa: B006 - empty: the default space of components.steps.train_scratch
        scratch_budget_seconds: float = 45.0,
        scratch_max_candidates: int = 12,
        scratch_ensemble_size: int = 3,
        scratch_workers: int = 2,
        automl_models: list = ["ridge", "nb", "svm", "lr"],  # noqa: B006 - KFP reads the default from the signature
        automl_budget_minutes: float = 5.0,
        automl_folds: int = 3,
        automl_tune_iterations: int = 0,
        winner_metric: str = "macro_f1",
        keep_extra_columns: bool = False,
        max_line_chars: int = 20000,
        lowercase: bool = True,
        drop_duplicates: bool = True,
        unescape_html: bool = True,
        fix_mojibake: bool = True,
        url_token: str = "xxurl",
        mention_token: str = "xxuser",
        label_map: dict = {},  # noqa: B006 - KFP reads the default from the signature
        conflict_policy: str = "drop",
        min_class_count: int = 10,
        small_classes: str = "refuse",
        unseen_test_labels: str = "refuse",
        leakage: str = "drop_train",
        bootstrap_resamples: int = 1000,
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
        train_scratch = steps.train_scratch(
            train=clean.outputs["clean_train"],
            search_space=scratch_search_space,
            budget_seconds=scratch_budget_seconds,
            max_candidates=scratch_max_candidates,
            ensemble_size=scratch_ensemble_size,
            seed=seed,
            workers=scratch_workers,
        ).after(vectorise)  # searches its own features on the texts; keeps the step order of the DAG
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
        profile = steps.profile(
            task=task,
            ingest_profile=ingest.outputs["step_profile"],
            clean_profile=clean.outputs["step_profile"],
            vectorise_profile=vectorise.outputs["step_profile"],
            train_scratch_profile=train_scratch.outputs["step_profile"],
            train_automl_profile=train_automl.outputs["step_profile"],
            evaluate_profile=evaluate.outputs["step_profile"],
            evaluation=evaluate.outputs["evaluation"],
            data_stats=clean.outputs["data_stats"],
            automl_leaderboard=train_automl.outputs["automl_leaderboard"],
        )
        # Whatever the settings: the files behind a URI can change while the URI stays the same, so a cached
        # ingest could serve stale data. Later steps then rerun too: their inputs are new artifacts.
        ingest.set_caching_options(enable_caching=False)
        tasks = {"ingest": ingest, "clean": clean, "vectorise": vectorise, "train_scratch": train_scratch,
                 "train_automl": train_automl, "evaluate": evaluate, "profile": profile}  # fmt: skip
        if settings is not None:
            for name, task in tasks.items():
                apply_step_settings(task, settings.steps[name], settings.retry_backoff, settings.image_pull_policy)
        return profile.outputs["summary"]

    return emotion_pipeline
