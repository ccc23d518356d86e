"""Thin KFP wrappers: map artifacts to paths, call the step's logic, log metadata and the step's profile.

Each function below is turned into a lightweight component by :func:`build_components`, so the container
image is chosen when the pipeline is compiled, not when this module is imported. KFP ships each function's
source to the container and runs it there, so every import is inside the function body; the image must have
this package installed (see ``docker/``). No package is pip-installed at run time.

Defaults: each step's options and their defaults live in its logic module (``IngestOptions``, ``CleaningOptions``
… in ``components/steps``). KFP ships a wrapper's *source* to the container, where names of this package are not
in scope, so a wrapper's signature repeats its options' defaults as literals;
``tests/components/test_defaults.py`` fails when one of them drifts from the options, the pipeline or the CLI.
Wrappers call the logic with keywords only.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

DEFAULT_IMAGE = "emotion-pipeline:latest"


def ingest(
    train_uris: list,
    train: Output[Dataset],
    test: Output[Dataset],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    test_uri: str = "",
    text_column: str = "",
    label_column: str = "",
    encoding: str = "utf-8",
    test_size: float = 0.2,
    seed: int = 42,
    keep_extra_columns: bool = False,
    max_line_chars: int = 20000,
    network_timeout_seconds: float = 30.0,
    network_retries: int = 2,
    data_format: str = "auto",
    separator: str = "",
    header: str = "auto",
    multi_label: str = "refuse",
    data_fingerprint: str = "",
):
    """Reads labelled texts from URIs (local, gs://, https://) into text,label Parquet datasets.

    Every file is read and checked before any output is written: a bad file leaves no dataset behind.

    Args:
        train_uris: Training files (text;label lines, or CSV with a header); several are unified and concatenated.
        test_uri: Held-out file; empty to split one off the training rows.
        text_column: Text column of CSV files (several names: comma separated, first present wins); guessed when empty.
        label_column: Label column of CSV files, like text_column; guessed when empty.
        encoding: Text encoding of the files.
        test_size: Fraction held out when test_uri is empty.
        seed: Seed of the split.
        keep_extra_columns: Keep the sources' other columns (e.g. tweet_id, author).
        max_line_chars: Longest line accepted in a file.
        network_timeout_seconds: Longest wait to connect to a remote file's server, and between two reads.
        network_retries: Further attempts after a transient network failure (timeout, dropped connection, 5xx).
        data_format: auto, csv, tsv, semicolon (text;label lines), jsonl or parquet; files may be gzip/bz2/xz/zstd.
        separator: Separator of delimited text; empty: by the format, else sniffed (tab, else comma).
        header: auto, yes or no (then columns are chosen by number from 0: text_column=0).
        multi_label: Labels listing several (2,27): refuse, first, explode (a row per label) or drop.
        data_fingerprint: The version of every input file (the fingerprint step's output); only recorded here,
            it makes ingest's cache key change whenever a file changes.

    Returns:
        train: Training rows (Parquet: text, label, source and, when asked, the sources' other columns).
        test: Held-out rows (Parquet), from test_uri or a stratified split of the training rows.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.steps.ingest import IngestOptions, ingest_sources

    with profiled_step("ingest", step_profile.path, metrics=step_metrics) as profile:
        options = IngestOptions(
            text_column=text_column, label_column=label_column, encoding=encoding, test_size=test_size, seed=seed,
            keep_extra_columns=keep_extra_columns, max_line_chars=max_line_chars,
            network_timeout_seconds=network_timeout_seconds, network_retries=network_retries,
            data_format=data_format, separator=separator, header=header, multi_label=multi_label,
        )  # fmt: skip
        train_df, test_df = ingest_sources(train_uris, test_uri, options=options)
        atomic.write_parquet(train.path, train_df)
        atomic.write_parquet(test.path, test_df)
        profile.extra.update(train_rows=len(train_df), test_rows=len(test_df))
    train.metadata.update(
        rows=len(train_df), sources=list(train_uris), columns=list(train_df.columns), data_fingerprint=data_fingerprint
    )
    test.metadata.update(rows=len(test_df), source=test_uri or f"split of training rows ({test_size})")


def clean(
    train: Input[Dataset],
    test: Input[Dataset],
    clean_train: Output[Dataset],
    clean_test: Output[Dataset],
    data_stats: Output[Artifact],
    data_report: Output[Markdown],
    data_metrics: Output[Metrics],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
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
):
    """Repairs and normalises texts, drops unusable rows and leakage, and reports what every rule did.

    Nothing is written unless both splits pass every check (see components.steps.clean for the rules).

    Args:
        train: Training rows from ingest.
        test: Held-out rows from ingest.
        lowercase: Lower-case texts.
        drop_duplicates: Drop rows repeating an earlier text and label.
        unescape_html: Unescape HTML entities.
        fix_mojibake: Repair mojibake with ftfy.
        url_token: Placeholder replacing URLs; empty to keep URLs.
        mention_token: Placeholder replacing @mentions; empty to keep them.
        label_map: Old label to new label (e.g. {"happy": "joy"}); empty: labels unchanged.
        conflict_policy: Same text with different labels: drop, keep or majority.
        min_class_count: Smallest training class accepted after cleaning.
        small_classes: Classes under min_class_count: refuse or drop.
        unseen_test_labels: Test labels absent from training: refuse or drop.
        leakage: Texts in both splits: drop_train, drop_test, keep or refuse.

    Returns:
        clean_train: Cleaned training rows (Parquet).
        clean_test: Cleaned held-out rows (Parquet).
        data_stats: Rows in/out per rule, label counts, duplicates, conflicts, leakage, lengths (JSON).
        data_report: The same as Markdown for the UI.
        data_metrics: Key counts (rows in/out, rows dropped per rule, leakage).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """

    import pandas as pd

    from components.io import atomic
    from components.runtime.outputs import log_metrics
    from components.runtime.profiler import profiled_step
    from components.steps.clean import CleaningOptions, clean_splits, render_data_report
    from components.steps.clean import data_metrics as key_counts

    options = CleaningOptions(
        unescape_html=unescape_html, fix_mojibake=fix_mojibake, url_token=url_token, mention_token=mention_token,
        lowercase=lowercase, label_map=dict(label_map), conflict_policy=conflict_policy,
        drop_duplicates=drop_duplicates, min_class_count=min_class_count, small_classes=small_classes,
        unseen_test_labels=unseen_test_labels, leakage=leakage,
    )  # fmt: skip
    with profiled_step("clean", step_profile.path, metrics=step_metrics) as profile:
        result = clean_splits(pd.read_parquet(train.path), pd.read_parquet(test.path), options)
        for frame, target in ((result.train, clean_train), (result.test, clean_test)):
            atomic.write_parquet(target.path, frame)
            target.metadata.update(rows=len(frame))
        atomic.write_json(data_stats.path, result.stats)
        atomic.write_text(data_report.path, render_data_report(result.stats))
        profile.extra.update(train_rows=len(result.train), test_rows=len(result.test))
    log_metrics(data_metrics, key_counts(result.stats))


def vectorise(
    train: Input[Dataset],
    dense_vectoriser: Output[Model],
    train_features: Output[Dataset],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    max_ngram: int = 2,
    min_df: int = 1,
    dense_features: int = 2000,
):
    """Fits TF-IDF on the training texts only; selects the chi² top features that AutoML densifies.

    train_scratch searches its own text features on the texts, so only AutoML consumes these outputs.

    Args:
        train: Cleaned training rows.
        max_ngram: Largest word n-gram.
        min_df: Minimum document frequency of a term.
        dense_features: Number of chi² columns given to AutoML.

    Returns:
        dense_vectoriser: Fitted text to dense float32 features pipeline: TF-IDF, chi² selection (joblib).
        train_features: chi² features of the training texts, sparse float32 (SciPy .npz; train_automl densifies
            the rows it uses).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import pandas as pd

    from components.arms.automl.vectorise import VectoriseOptions, fit_vectorisers
    from components.io import atomic
    from components.runtime.profiler import profiled_step

    with profiled_step("vectorise", step_profile.path, metrics=step_metrics):
        options = VectoriseOptions(max_ngram=max_ngram, min_df=min_df, dense_features=dense_features)
        rows = pd.read_parquet(train.path)
        fitted = fit_vectorisers(rows["text"], rows["label"], options=options)
        atomic.dump_joblib(dense_vectoriser.path, fitted.dense_vectoriser)
        atomic.write_sparse(train_features.path, fitted.train_features)
    dense_vectoriser.metadata.update(
        vocabulary=fitted.vocabulary_size, max_ngram=max_ngram, min_df=min_df, dense_features=dense_features
    )
    rows_count, columns = fitted.train_features.shape
    train_features.metadata.update(rows=rows_count, columns=columns, nonzeros=fitted.train_features.nnz)


def train_scratch(
    train: Input[Dataset],
    model: Output[Model],
    search_report: Output[Markdown],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    search_space: list = [],  # noqa: B006 - KFP reads the default from the signature
    budget_seconds: float = 45.0,
    max_candidates: int = 8,
    ensemble_size: int = 3,
    validation_size: float = 0.2,
    metric: str = "macro_f1",
    seed: int = 42,
    workers: int = 2,
):
    """Searches text features and linear models on a validation split of the training rows; refits the best.

    Args:
        train: Cleaned training rows (text, label).
        search_space: List of dicts of value lists (see components.arms.scratch.train); empty for the default space.
        budget_seconds: Wall-clock budget of search and refit.
        max_candidates: Most candidates drawn from the space.
        ensemble_size: Most members of the vote (the best candidate of each classifier); 1 = the best one.
        validation_size: Fraction of the training rows held out to score candidates.
        metric: macro_f1 or accuracy, to rank candidates.
        seed: Seed of the split, the candidate order and the models.
        workers: Candidates fitted at once, one process each (the CPUs the step has).

    Returns:
        model: Fitted scikit-learn pipeline, predict(list of texts) (joblib); chosen parameters in its metadata.
        search_report: Every candidate with its validation scores, and the choice (Markdown).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import os

    import pandas as pd

    from components.arms.scratch.train import ScratchOptions, render_search_report, train_scratch_model
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.runtime.progress import Progress

    with profiled_step("train_scratch", step_profile.path, metrics=step_metrics) as profile:
        options = ScratchOptions(
            search_space=search_space, budget_seconds=budget_seconds, max_candidates=max_candidates,
            ensemble_size=ensemble_size, validation_size=validation_size, metric=metric, seed=seed, workers=workers,
        )  # fmt: skip
        rows = pd.read_parquet(train.path, columns=["text", "label"])
        trained = train_scratch_model(
            rows["text"].tolist(), rows["label"].tolist(), options=options, progress=Progress("train_scratch")
        )
        atomic.dump_joblib(model.path, trained.model)
        atomic.write_text(search_report.path, render_search_report(trained))
        profile.extra.update(fit_seconds=trained.fit_seconds, model_mb=round(os.path.getsize(model.path) / 2**20, 3))
    model.metadata.update(framework="scikit-learn", fit_seconds=trained.fit_seconds, **trained.params, **trained.scores)


def train_automl(
    train: Input[Dataset],
    train_features: Input[Dataset],
    dense_vectoriser: Input[Model],
    model: Output[Model],
    leaderboard: Output[Markdown],
    automl_leaderboard: Output[Artifact],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    models: list = ["default"],  # noqa: B006 - KFP reads the default from the signature
    budget_minutes: float = 5.0,
    folds: int = 3,
    seed: int = 42,
    sort: str = "macro_f1",
    tune_iterations: int = 10,
):
    """Trains the AutoML model: PyCaret candidates on the dense features, each killed at its share of a hard budget.

    Args:
        train: Cleaned training rows (labels).
        train_features: chi² features of the training texts (sparse; only the rows PyCaret uses are densified).
        dense_vectoriser: Fitted text to dense features pipeline.
        models: PyCaret model ids, tried in order.
        budget_minutes: Hard budget of the step's training (candidates, tuning, finalising).
        folds: Cross-validation folds.
        seed: PyCaret session id.
        sort: macro_f1 or accuracy (on PyCaret's hold-out split), to choose the best candidate.
        tune_iterations: tune_model iterations on the best candidate within the budget; 0 = off.

    Returns:
        model: Best model, finalised on all rows, as one text to label pipeline (joblib).
        leaderboard: Every candidate: hold-out accuracy, macro-F1, fit seconds, status (Markdown).
        automl_leaderboard: The same rows as a JSON list of dicts.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        winner: scratch, automl or tie (by winner_metric; tie when the 95 % interval of the difference has 0).
        score_difference: Scratch minus AutoML on winner_metric (positive: the from-scratch model scored higher).
    """
    import json
    import os

    import joblib
    import pandas as pd
    from scipy import sparse

    from components.arms.automl.train import AutomlOptions, memory_cap_mb, render_leaderboard, train_automl_model
    from components.io import atomic
    from components.runtime.profiler import profiled_step, step_memory_mb
    from components.runtime.progress import Progress

    with profiled_step("train_automl", step_profile.path, metrics=step_metrics) as profile:
        options = AutomlOptions(
            models=models, budget_minutes=budget_minutes, folds=folds, seed=seed, sort=sort,
            tune_iterations=tune_iterations, memory_limit_mb=memory_cap_mb(step_memory_mb()),
        )  # fmt: skip
        labels = pd.read_parquet(train.path, columns=["label"])["label"].tolist()
        features, vectoriser = sparse.load_npz(train_features.path), joblib.load(dense_vectoriser.path)
        trained, table = train_automl_model(
            features, labels, vectoriser, options=options, progress=Progress("train_automl")
        )
        atomic.dump_joblib(model.path, trained.model)
        atomic.write_text(leaderboard.path, render_leaderboard(table, budget_minutes))
        atomic.write_json(automl_leaderboard.path, json.loads(table.to_json(orient="records")))
        profile.extra.update(fit_seconds=trained.fit_seconds, model_mb=round(os.path.getsize(model.path) / 2**20, 3))
    model.metadata.update(framework="pycaret", fit_seconds=trained.fit_seconds, **trained.params, **trained.scores)


def evaluate(
    test: Input[Dataset],
    scratch_model: Input[Model],
    automl_model: Input[Model],
    scratch_metrics: Output[Metrics],
    automl_metrics: Output[Metrics],
    scratch_confusion: Output[ClassificationMetrics],
    automl_confusion: Output[ClassificationMetrics],
    evaluation: Output[Artifact],
    evaluation_report: Output[Markdown],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    winner_metric: str = "macro_f1",
    seed: int = 42,
    bootstrap_resamples: int = 1000,
    latency_calls: int = 100,
) -> NamedTuple("EvaluateOutputs", [("winner", str), ("score_difference", float)]):
    """Scores both models on the same held-out texts: metrics with bootstrap intervals, latency, size, winner.

    Args:
        test: Cleaned held-out rows.
        scratch_model: The from-scratch model.
        automl_model: The AutoML model.
        winner_metric: accuracy, macro_f1 or weighted_f1: ranks the models and decides between the two best;
            "tie" when the 95 % interval of that metric's difference contains 0.
        seed: Seed of the bootstrap.
        bootstrap_resamples: Bootstrap resamples of the test rows.
        latency_calls: One-text predictions timed per model and round (5 warm rounds, interleaved between the
            models, timed after the step's profiling); 0 skips latency.

    Returns:
        scratch_metrics: Accuracy and F1 of the from-scratch model.
        automl_metrics: Accuracy and F1 of the AutoML model.
        scratch_confusion: Confusion matrix of the from-scratch model.
        automl_confusion: Confusion matrix of the AutoML model.
        evaluation: All results, intervals, latencies and the winner (JSON); its metadata: winner,
            winner_metric, score_difference.
        evaluation_report: The same as Markdown.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        winner: scratch, automl or tie (by winner_metric; tie when the 95 % interval of the difference has 0).
        score_difference: Scratch minus AutoML on winner_metric (positive: the from-scratch model scored higher).
    """
    from components.arms.automl.train import quiet_pycaret_logs
    from components.runtime.outputs import log_scores, record_verdict
    from components.runtime.profiler import profiled_step
    from components.steps.evaluate import EvaluateOptions, add_latency, evaluate_saved_models, write_evaluation

    quiet_pycaret_logs()  # unpickling the AutoML model imports PyCaret, which would write logs.log
    artifacts = {"scratch": scratch_model, "automl": automl_model}
    with profiled_step("evaluate", step_profile.path, metrics=step_metrics):
        options = EvaluateOptions(
            winner_metric=winner_metric, seed=seed, bootstrap_resamples=bootstrap_resamples,
            latency_calls=latency_calls,
        )  # fmt: skip
        result, models, texts = evaluate_saved_models(
            test.path, {name: a.path for name, a in artifacts.items()},
            training={name: dict(a.metadata) for name, a in artifacts.items()}, options=options,
        )  # fmt: skip
    # Timed after the profiled block: the profiler's sampler process would compete with the timed predictions.
    write_evaluation(add_latency(result, models, texts, options), evaluation.path, evaluation_report.path)
    log_scores(result, scratch=(scratch_metrics, scratch_confusion), automl=(automl_metrics, automl_confusion))
    return record_verdict(result, evaluation.metadata)  # the winner as output parameters and artifact metadata


def profile(
    task: str,
    ingest_profile: Input[Artifact],
    clean_profile: Input[Artifact],
    vectorise_profile: Input[Artifact],
    train_scratch_profile: Input[Artifact],
    train_automl_profile: Input[Artifact],
    evaluate_profile: Input[Artifact],
    evaluation: Input[Artifact],
    data_stats: Input[Artifact],
    summary: Output[Artifact],
    report: Output[Markdown],
    html_report: Output[HTML],
    metrics: Output[Metrics],
    automl_leaderboard: Input[Artifact] = None,
    register_profile: Input[Artifact] = None,
    registry_record: Input[Artifact] = None,
):
    """Gathers every step's time and resources with the evaluation into summary.json and the reports.

    Args:
        task: Task name recorded in the summary.
        ingest_profile: Profile of the ingest step.
        clean_profile: Profile of the clean step.
        vectorise_profile: Profile of the vectorise step.
        train_scratch_profile: Profile of the from-scratch training step.
        train_automl_profile: Profile of the AutoML training step.
        evaluate_profile: Profile of the evaluate step.
        evaluation: Evaluation results.
        data_stats: Cleaning statistics.
        automl_leaderboard: The AutoML candidates (JSON list; optional), copied to summary["automl_leaderboard"].
        register_profile: Profile of the register step (optional).
        registry_record: The register step's decision (JSON; optional), copied to summary["registry"].

    Returns:
        summary: The run summary (summary.json).
        report: Steps and models as Markdown tables.
        html_report: The full report: one self-contained HTML page with inline SVG charts.
        metrics: Headline figures per model and AutoML vs scratch ratios (e.g. automl_vs_scratch_train_time).
    """
    import json
    from pathlib import Path

    from components.io import atomic
    from components.runtime.outputs import log_metrics
    from components.runtime.profiler import read_profile
    from components.steps.profile import build_reports

    profiles = {
        "ingest": ingest_profile, "clean": clean_profile, "vectorise": vectorise_profile,
        "train_scratch": train_scratch_profile, "train_automl": train_automl_profile, "evaluate": evaluate_profile,
    }  # fmt: skip
    if register_profile is not None:
        profiles["register"] = register_profile
    artifacts = (evaluation, data_stats, automl_leaderboard, registry_record)
    inputs = [json.loads(Path(a.path).read_text("utf-8")) if a is not None else None for a in artifacts]
    built = build_reports(task, {k: read_profile(v.path) for k, v in profiles.items()}, *inputs)
    for artifact, text in (
        (summary, json.dumps(built.summary, indent=2)),
        (report, built.markdown),
        (html_report, built.html),
    ):
        atomic.write_text(artifact.path, text)
    models = built.summary["models"].items()
    figures = {f"{name}_{key}": m[key] for name, m in models for key in ("accuracy", "macro_f1", "train_seconds",
               "peak_memory_mb")}  # fmt: skip
    log_metrics(metrics, {**figures, **built.summary["headline"]})


def fingerprint(
    train_uris: list, test_uri: str = "", network_timeout_seconds: float = 30.0, network_retries: int = 2
) -> str:
    """Asks the storage for the version of every input file (no data read); never cached, so ingest can be.

    Ingest takes this fingerprint as an input: it is served from the cache exactly when no file changed (see
    components.steps.fingerprint; a file whose version cannot be told gets a random fingerprint: no cache hit).

    Args:
        train_uris: Training files (local, gs://, s3://, https://).
        test_uri: Held-out file; empty when the test rows are split off the training rows.
        network_timeout_seconds: Longest wait to connect to a remote file's server, and between two reads.
        network_retries: Further attempts after a transient network failure.

    Returns:
        Output: JSON, every URI with its version: GCS generation and MD5, or size, mtime and inode of a local file.
    """
    from components.io.remote import NetworkOptions
    from components.runtime.processes import end_with_parent
    from components.steps.fingerprint import fingerprint_uris, is_cacheable

    end_with_parent()  # not profiled: it watches its parent itself (it ends when the command is killed)
    network = NetworkOptions(network_timeout_seconds, network_retries)
    found = fingerprint_uris([*train_uris, test_uri], network=network)
    print(f"data fingerprint ({'cacheable' if is_cacheable(found) else 'unversioned file: no cache hit'}): {found}")
    return found


def log_experiment(summary: Input[Artifact], experiment: str = "", pipeline_job: str = ""):
    """Logs both models' parameters and metrics in Vertex AI Experiments, in a run named after the pipeline job.

    Does nothing (and says why) without an experiment or outside Vertex AI (KFP, local runs).

    Args:
        summary: The run summary (summary.json) of the profile step.
        experiment: Vertex AI experiment to log the run in; empty: nothing is logged.
        pipeline_job: The pipeline job's name, which names the experiment run (the pipeline passes
            {{$.pipeline_job_name}}); project and region come from Vertex AI's CLOUD_ML_PROJECT_ID/CLOUD_ML_REGION.
    """
    import json
    from pathlib import Path

    from components.steps.experiment import log_to_experiment

    print(log_to_experiment(json.loads(Path(summary.path).read_text("utf-8")), experiment, pipeline_job))


def register(
    task: str,
    evaluation: Input[Artifact],
    data_stats: Input[Artifact],
    clean_train: Input[Dataset],
    clean_test: Input[Dataset],
    scratch_model: Input[Model],
    automl_model: Input[Model],
    registered_model: Output[Model],
    registry_record: Output[Artifact],
    registry_report: Output[Markdown],
    registry_metrics: Output[Metrics],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    registry_uri: str = "",
    registry_artifact_uri: str = "",
    model_name: str = "",
    bootstrap_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
    on_champion_error: str = "keep",
    run_name: str = "",
    images: dict = {},  # noqa: B006 - KFP reads the default from the signature
) -> bool:
    """Registers the winner as a new version; decides whether it replaces the champion (see components.steps.register).

    Args:
        task: Task name; the default model name is emotion-<task>.
        evaluation: evaluate's results (winner, metric, scores).
        data_stats: Cleaning statistics (their options are the text rules packaged with the model).
        clean_train: Cleaned training rows (fingerprinted).
        clean_test: Cleaned held-out rows, on which the champion is re-scored.
        scratch_model: The from-scratch model.
        automl_model: The AutoML model.
        registry_uri: Folder, MLflow tracking URI or vertex://PROJECT/REGION; empty: a registry inside this run.
        registry_artifact_uri: Where version files go (MLflow artifact location / Vertex staging bucket).
        model_name: Registered model name; empty: emotion-<task>.
        bootstrap_resamples: Paired bootstrap resamples against the champion.
        confidence: Coverage of the interval.
        seed: Seed of the resampling.
        on_champion_error: A champion that cannot be loaded: keep it or promote the new version.
        run_name: The pipeline run, recorded with the version.
        images: Model (scratch, automl) to the image it was trained in and is served from.

    Returns:
        registered_model: The registered version's MLflow model folder (what a registry version points at).
        registry_record: The decision: model_name, version, promoted, reason, champion_version, scores (JSON).
        registry_report: The same as Markdown.
        registry_metrics: promoted (0/1), version, the new and champion scores, the difference and its interval.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        Output: Whether the new version is promoted: the promote task, behind dsl.If on this output, moves the alias.
    """
    import os

    from components.arms.automl.train import quiet_pycaret_logs
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.steps.register import RegisterOptions, record_metrics, register_step, render_registry_report

    quiet_pycaret_logs()  # unpickling the AutoML model imports PyCaret, which would write logs.log
    options = RegisterOptions(
        registry_uri=registry_uri or os.path.join(os.path.dirname(registry_record.path), "registry"),
        registry_artifact_uri=registry_artifact_uri, model_name=model_name, bootstrap_resamples=bootstrap_resamples,
        confidence=confidence, seed=seed, on_champion_error=on_champion_error,
    )  # fmt: skip
    with profiled_step("register", step_profile.path, metrics=step_metrics):
        record = register_step(
            task=task, evaluation_path=evaluation.path, data_stats_path=data_stats.path, train_path=clean_train.path,
            test_path=clean_test.path, model_paths={"scratch": scratch_model.path, "automl": automl_model.path},
            target=registered_model.path, target_uri=registered_model.uri, images=images, run_name=run_name,
            options=options,
        )  # fmt: skip
        atomic.write_json(registry_record.path, record)
        atomic.write_text(registry_report.path, render_registry_report(record))
    for key, value in record_metrics(record).items():
        registry_metrics.log_metric(key, value)
    registered_model.metadata.update(model_name=record["model_name"], version=record["version"], model=record["model"])
    return bool(record["promoted"])


def promote(registry_record: Input[Artifact], registry_uri: str = "", registry_artifact_uri: str = "") -> str:
    """Moves the champion alias to the version register promoted (runs only inside dsl.If(register.Output)).

    Args:
        registry_record: register's decision (model_name, version).
        registry_uri: As given to register (empty: the registry folder beside register's outputs).
        registry_artifact_uri: As given to register.

    Returns:
        Output: What was done, e.g. "emotion-demo@champion -> version 2 (…)".
    """
    import json
    import os

    from components.steps.register import promote_version

    with open(registry_record.path, encoding="utf-8") as handle:
        record = json.load(handle)
    done = promote_version(
        registry_uri=registry_uri or os.path.join(os.path.dirname(registry_record.path), "registry"),
        registry_artifact_uri=registry_artifact_uri, model_name=record["model_name"], version=str(record["version"]),
    )  # fmt: skip
    print(done)
    return done


def batch_predict(
    registry_uri: str,
    model: str,
    input_uri: str,
    output_uri: str,
    prediction_metrics: Output[Metrics],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    registry_artifact_uri: str = "",
    text_column: str = "",
    label_column: str = "",
    chunk_rows: int = 10000,
    encoding: str = "utf-8",
) -> str:
    """Predicts a file of texts with a registered model, streamed in chunks (see components.steps.batch_predict).

    Args:
        registry_uri: Folder, MLflow tracking URI or vertex://PROJECT/REGION.
        model: NAME@ALIAS (emotion-demo@champion) or NAME/VERSION.
        input_uri: CSV with a header, text;label lines or JSON lines (local, gs://, https://).
        output_uri: Where the predictions go: .csv or .jsonl (local or gs://).
        registry_artifact_uri: As given to register.
        text_column: Text column (CSV/JSONL); guessed when empty.
        label_column: Label column, kept as true_label (gives the accuracy); guessed when empty.
        chunk_rows: Rows read, predicted and written at a time.
        encoding: Text encoding of the input.

    Returns:
        prediction_metrics: Rows, seconds, rows per second, label counts and accuracy when labels were given.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        Output: The model version that predicted, e.g. "emotion-demo/3".
    """
    from components.arms.automl.train import quiet_pycaret_logs
    from components.registry.store import ModelRef, load_version, open_registry
    from components.runtime.profiler import profiled_step
    from components.steps.batch_predict import BatchPredictOptions, predict_file

    quiet_pycaret_logs()
    options = BatchPredictOptions(
        text_column=text_column, label_column=label_column, chunk_rows=chunk_rows, encoding=encoding
    )
    with profiled_step("batch_predict", step_profile.path, metrics=step_metrics):
        loaded, version, metadata = load_version(
            open_registry(registry_uri, registry_artifact_uri), ModelRef.parse(model)
        )
        result = predict_file(loaded, input_uri, output_uri, options=options, classes=metadata.get("labels", []))
    for key, value in result.metrics().items():
        prediction_metrics.log_metric(key, value)
    return f"{version.name}/{version.version}"


def monitor(
    registry_uri: str,
    model: str,
    input_uri: str,
    monitor_record: Output[Artifact],
    monitor_report: Output[Markdown],
    monitor_html: Output[HTML],
    monitor_metrics: Output[Metrics],
    registry_artifact_uri: str = "",
    text_column: str = "",
    label_column: str = "",
    use_labels: bool = True,
    chunk_rows: int = 10000,
    encoding: str = "utf-8",
    psi_threshold: float = 0.2,
    chi2_alpha: float = 0.01,
    chi2_min_psi: float = 0.1,
    max_oov_increase: float = 0.05,
    max_metric_drop: float = 0.02,
    max_unseen_label_rate: float = 0.01,
    min_rows: int = 200,
    bootstrap_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
) -> bool:
    """Compares a batch of texts with a registered model's reference profile (see components.steps.monitor).

    Args:
        registry_uri: Folder, MLflow tracking URI or vertex://PROJECT/REGION.
        model: NAME@ALIAS (emotion-demo@champion) or NAME/VERSION.
        input_uri: The batch: CSV with a header, text;label lines or JSON lines (local, gs://, https://).
        registry_artifact_uri: As given to register.
        text_column: Text column (CSV/JSONL); guessed when empty.
        label_column: Label column; guessed when empty.
        use_labels: Use the batch's labels (accuracy and macro-F1 against the registered figures).
        chunk_rows: Rows read and predicted at a time.
        encoding: Text encoding of the input.
        psi_threshold: PSI at or above which lengths, predicted labels or confidence have drifted.
        chi2_alpha: Significance level of the chi-squared test of the predicted labels.
        chi2_min_psi: Smallest PSI for a significant chi-squared test to count as drift.
        max_oov_increase: Largest allowed rise of the out-of-vocabulary rate over the held-out rows'.
        max_metric_drop: Largest allowed drop of accuracy or macro-F1 below the registered figure.
        max_unseen_label_rate: Largest allowed share of labelled rows with a label the model cannot predict.
        min_rows: Fewest rows a batch must have to be judged.
        bootstrap_resamples: Resamples of the metrics' intervals.
        confidence: Coverage of the intervals.
        seed: Seed of the resampling.

    Returns:
        monitor_record: monitor.json: drift, reason, every check with its value, threshold, verdict and reason.
        monitor_report: The same as Markdown.
        monitor_html: The report with charts (reference against batch).
        monitor_metrics: drift (0/1), rows, labelled, each check's value and drift (0/1).
        Output: Whether the batch drifted (or the champion's scores dropped).
    """
    import json
    from pathlib import Path

    from components.arms.automl.train import quiet_pycaret_logs
    from components.reporting.monitor import render_monitor_html, render_monitor_markdown
    from components.steps.monitor import MonitorOptions, monitor_registered
    from components.steps.monitor import monitor_metrics as metrics_of

    quiet_pycaret_logs()
    options = MonitorOptions(
        text_column=text_column, label_column=label_column, use_labels=use_labels, chunk_rows=chunk_rows,
        encoding=encoding, psi_threshold=psi_threshold, chi2_alpha=chi2_alpha, chi2_min_psi=chi2_min_psi,
        max_oov_increase=max_oov_increase, max_metric_drop=max_metric_drop,
        max_unseen_label_rate=max_unseen_label_rate, min_rows=min_rows, bootstrap_resamples=bootstrap_resamples,
        confidence=confidence, seed=seed,
    )  # fmt: skip
    result = monitor_registered(registry_uri=registry_uri, registry_artifact_uri=registry_artifact_uri, model=model,
                                input_uri=input_uri, options=options)  # fmt: skip
    Path(monitor_record.path).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    Path(monitor_report.path).write_text(render_monitor_markdown(result), encoding="utf-8")
    Path(monitor_html.path).write_text(render_monitor_html(result), encoding="utf-8")
    for key, value in metrics_of(result).items():
        monitor_metrics.log_metric(key, value)
    print(("DRIFT: " if result["drift"] else "") + result["reason"])
    return bool(result["drift"])


@dataclass(frozen=True)
class StepComponents:
    """The pipeline's steps as KFP components built for one set of images (promote runs behind dsl.If)."""

    fingerprint: dsl.base_component.BaseComponent
    ingest: dsl.base_component.BaseComponent
    clean: dsl.base_component.BaseComponent
    vectorise: dsl.base_component.BaseComponent
    train_scratch: dsl.base_component.BaseComponent
    train_automl: dsl.base_component.BaseComponent
    evaluate: dsl.base_component.BaseComponent
    profile: dsl.base_component.BaseComponent
    register: dsl.base_component.BaseComponent
    promote: dsl.base_component.BaseComponent
    log_experiment: dsl.base_component.BaseComponent


def build_components(
    image: str = DEFAULT_IMAGE, automl_image: str = "", step_images: Mapping[str, str] | None = None
) -> StepComponents:
    """Builds the pipeline's components on the given image(s).

    Args:
        image: Image with this package installed, for every step.
        automl_image: Image for the steps that load PyCaret models (train_automl, evaluate, register); ``image`` when
            empty.
        step_images: Per-step image overrides by step name (e.g. ``{"profile": "registry/emotion:tag"}``).

    Raises:
        ValueError: A step name in ``step_images`` is not one of the steps.
    """

    def make(func, base_image: str) -> dsl.base_component.BaseComponent:
        return dsl.component(func, base_image=base_image, install_kfp_package=False)

    automl_image = automl_image or image
    images = {name: image for name in StepComponents.__dataclass_fields__}
    images.update(train_automl=automl_image, evaluate=automl_image, register=automl_image)
    unknown = set(step_images or {}) - set(images)
    if unknown:
        raise ValueError(f"step_images: unknown step(s) {sorted(unknown)}; steps are {list(images)}")
    images.update(step_images or {})
    funcs = {"fingerprint": fingerprint, "ingest": ingest, "clean": clean, "vectorise": vectorise,
             "train_scratch": train_scratch, "train_automl": train_automl, "evaluate": evaluate, "profile": profile,
             "register": register, "promote": promote, "log_experiment": log_experiment}  # fmt: skip
    return StepComponents(**{name: make(funcs[name], images[name]) for name in images})


def build_batch_predict_component(image: str = DEFAULT_IMAGE) -> dsl.base_component.BaseComponent:
    """The batch_predict component on an image that can load every registered model (the AutoML image)."""
    return dsl.component(batch_predict, base_image=image, install_kfp_package=False)


def build_monitor_component(image: str = DEFAULT_IMAGE) -> dsl.base_component.BaseComponent:
    """The monitor component on an image that can load every registered model (the AutoML image)."""
    return dsl.component(monitor, base_image=image, install_kfp_package=False)
