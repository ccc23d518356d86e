"""The emotion pipeline: ingest → clean → vectorise → train_scratch ∥ train_automl → evaluate → profile.

Wiring only: every step's work lives in ``components``.
"""

from kfp import dsl
from kfp.dsl import Artifact

from components.kfp_components import DEFAULT_IMAGE, build_components

PIPELINE_NAME = "emotion-pipeline"


def build_pipeline(image: str = DEFAULT_IMAGE, automl_image: str = "") -> dsl.graph_component.GraphComponent:
    """Builds the pipeline with its components on the given image(s)."""
    steps = build_components(image, automl_image)

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
        scratch_search_space: list = [],  # noqa: B006 - empty: the default space of components.train_scratch
        scratch_budget_seconds: float = 45.0,
        scratch_max_candidates: int = 12,
        scratch_ensemble_size: int = 3,
        automl_models: list = ["lr", "ridge", "nb"],  # noqa: B006 - KFP reads the default from the signature
        automl_budget_minutes: float = 5.0,
        automl_folds: int = 3,
        automl_tune_iterations: int = 0,
        winner_metric: str = "macro_f1",
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
        )
        clean = steps.clean(train=ingest.outputs["train"], test=ingest.outputs["test"])
        vectorise = steps.vectorise(train=clean.outputs["clean_train"], dense_features=dense_features)
        train_scratch = steps.train_scratch(
            train=clean.outputs["clean_train"],
            search_space=scratch_search_space,
            budget_seconds=scratch_budget_seconds,
            max_candidates=scratch_max_candidates,
            ensemble_size=scratch_ensemble_size,
            seed=seed,
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
        return profile.outputs["summary"]

    return emotion_pipeline
