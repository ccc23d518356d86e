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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output

from components.arms.spec import Arm

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
            text_column=text_column,
            label_column=label_column,
            encoding=encoding,
            test_size=test_size,
            seed=seed,
            keep_extra_columns=keep_extra_columns,
            max_line_chars=max_line_chars,
            network_timeout_seconds=network_timeout_seconds,
            network_retries=network_retries,
            data_format=data_format,
            separator=separator,
            header=header,
            multi_label=multi_label,
        )
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
    label_case: str = "merge",
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
        label_case: Labels differing only in case (Joy, joy): merge them (counted in the data report) or keep.

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

    from components.checks.options import from_parameters
    from components.io import atomic
    from components.runtime.outputs import log_metrics
    from components.runtime.profiler import profiled_step
    from components.steps.clean import CleaningOptions, clean_splits, render_data_report
    from components.steps.clean import data_metrics as key_counts

    options = from_parameters(CleaningOptions, locals(), label_map=dict(label_map))
    with profiled_step("clean", step_profile.path, metrics=step_metrics) as profile:
        result = clean_splits(pd.read_parquet(train.path), pd.read_parquet(test.path), options)
        for frame, target in ((result.train, clean_train), (result.test, clean_test)):
            atomic.write_parquet(target.path, frame)
            target.metadata.update(rows=len(frame))
        atomic.write_json(data_stats.path, result.stats)
        atomic.write_text(data_report.path, render_data_report(result.stats))
        profile.extra.update(train_rows=len(result.train), test_rows=len(result.test))
    log_metrics(data_metrics, key_counts(result.stats))


def predict(
    arm: str,
    test: Input[Dataset],
    model: Input[Model],
    train_profile: Input[Artifact],
    arms: Output[Artifact],
    heldout_metrics: Output[Metrics],
    confusion: Output[ClassificationMetrics],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    previous: Input[Artifact] = None,
    prep_profile: Input[Artifact] = None,
    extras: Input[Artifact] = None,
    display_name: str = "",
    image: str = "",
    requirements: list = [],  # noqa: B006 - KFP reads the default from the signature
    task: str = "custom",
    registry_uri: str = "",
    registry_artifact_uri: str = "",
    model_name: str = "",
    latency_calls: int = 100,
):
    """Predicts the held-out rows with one arm's model, in that arm's image, and hands the arms on to evaluate.

    Only the arm's image can load its model (PyCaret for AutoML, torch for the transformer), so each arm predicts
    here, times its predictions, and scores the registry's champion too when the champion was built by this arm.
    The steps chain: each adds its arm to the previous arm's bundle (components/models/bundle.py).

    Args:
        arm: The arm (scratch, automl, transformer …).
        test: Cleaned held-out rows.
        model: The arm's fitted model.
        train_profile: Profile of the arm's training step.
        previous: The previous arm's bundle; none for the first arm.
        prep_profile: Profile of the arm's step before training, if it has one (e.g. vectorise).
        extras: Arm-specific results for the reports (JSON; e.g. AutoML's leaderboard).
        display_name: How reports name the arm.
        image: The image the arm's model is served from (its serving image), registered with the model.
        requirements: pip requirements of the arm's packaged model.
        task: Task name; the default model name is emotion-<task>.
        registry_uri: Registry whose champion is scored when this arm built it; empty: none.
        registry_artifact_uri: As given to register.
        model_name: Registered model name; empty: emotion-<task>.
        latency_calls: One-text predictions timed per round (5 warm rounds); 0 skips latency.

    Returns:
        arms: The bundle: the previous arms and this one (model, held-out predictions, scores, profiles).
        heldout_metrics: This arm's accuracy, F1, latency and model size on the held-out rows.
        confusion: This arm's confusion matrix on the held-out rows.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    from components.arms.automl.train import quiet_pycaret_logs
    from components.models.bundle import read_order
    from components.runtime.outputs import log_metrics, write_metadata_file
    from components.steps.predict import ChampionQuery, PredictOptions, PredictPaths, run_predict_step

    quiet_pycaret_logs()  # unpickling an AutoML model imports PyCaret, which would write logs.log
    described = {"arm": arm, "display_name": display_name or arm, "image": image, "requirements": list(requirements)}
    paths = PredictPaths(
        model=model.path,
        test=test.path,
        step_profile=step_profile.path,
        bundle=arms.path,
        previous=previous.path if previous is not None else None,
        extras=extras.path if extras is not None else None,
        profiles=tuple(a.path for a in (prep_profile, train_profile) if a is not None),
    )
    query = ChampionQuery.for_task(task, registry_uri, registry_artifact_uri, model_name) if registry_uri else None
    options = PredictOptions(latency_calls=latency_calls)
    scores = run_predict_step({**described, "training": dict(model.metadata)}, paths, query, options, step_metrics)
    log_metrics(heldout_metrics, {k: v for k, v in scores.items() if isinstance(v, int | float)})
    confusion.log_confusion_matrix(scores["labels"], scores["confusion_matrix"])
    write_metadata_file(confusion)
    arms.metadata.update(arms=read_order(arms.path))  # the UIs show which arms the bundle holds


def evaluate(
    test: Input[Dataset],
    arms: Input[Artifact],
    evaluation: Output[Artifact],
    evaluation_report: Output[Markdown],
    comparison_metrics: Output[Metrics],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    winner_metric: str = "macro_f1",
    seed: int = 42,
    bootstrap_resamples: int = 1000,
) -> NamedTuple("EvaluateOutputs", [("winner", str), ("score_difference", float)]):
    """Compares every arm's held-out predictions: metrics with paired bootstrap intervals, the winner or a tie.

    Args:
        test: Cleaned held-out rows.
        arms: Every arm's predictions (the last predict step's bundle).
        winner_metric: accuracy, macro_f1 or weighted_f1: ranks the arms; the best wins only when its 95 %
            interval of the difference lies above 0 against every other arm, else the tied arms are named.
        seed: Seed of the bootstrap.
        bootstrap_resamples: Bootstrap resamples of the test rows.

    Returns:
        evaluation: All results, intervals, latencies and the winner (JSON); its metadata: winner, winner_metric,
            score_difference.
        evaluation_report: The same as Markdown.
        comparison_metrics: The best arm's lead on each metric over the runner-up, and its interval.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        winner: The winning arm, or tie (by winner_metric).
        score_difference: The best arm minus the runner-up on winner_metric (0.0 with one arm).
    """
    from components.runtime.outputs import comparison_figures, log_metrics, record_verdict
    from components.runtime.profiler import profiled_step
    from components.steps.evaluate import EvaluateOptions, evaluate_bundle, write_evaluation

    with profiled_step("evaluate", step_profile.path, metrics=step_metrics):
        options = EvaluateOptions(winner_metric=winner_metric, seed=seed, bootstrap_resamples=bootstrap_resamples)
        result = evaluate_bundle(test.path, arms.path, options)
        write_evaluation(result, evaluation.path, evaluation_report.path)
    log_metrics(comparison_metrics, comparison_figures(result))
    return record_verdict(result, evaluation.metadata)  # the winner as output parameters and artifact metadata


def profile(
    task: str,
    ingest_profile: Input[Artifact],
    clean_profile: Input[Artifact],
    evaluate_profile: Input[Artifact],
    arms: Input[Artifact],
    evaluation: Input[Artifact],
    data_stats: Input[Artifact],
    summary: Output[Artifact],
    report: Output[Markdown],
    html_report: Output[HTML],
    metrics: Output[Metrics],
    register_profile: Input[Artifact] = None,
    registry_record: Input[Artifact] = None,
):
    """Gathers every step's time and resources with the evaluation into summary.json and the reports.

    Args:
        task: Task name recorded in the summary.
        ingest_profile: Profile of the ingest step.
        clean_profile: Profile of the clean step.
        evaluate_profile: Profile of the evaluate step.
        arms: Every arm's results and its steps' profiles (the last predict step's bundle).
        evaluation: Evaluation results.
        data_stats: Cleaning statistics.
        register_profile: Profile of the register step (optional).
        registry_record: The register step's decision (JSON; optional), copied to summary["registry"].

    Returns:
        summary: The run summary (summary.json).
        report: Steps and models as Markdown tables.
        html_report: The full report: one self-contained HTML page with inline SVG charts.
        metrics: Headline figures per arm and each arm against the first (e.g. automl_vs_scratch_train_time).
    """
    import json
    from pathlib import Path

    from components.io import atomic
    from components.models.bundle import read_bundle
    from components.runtime.outputs import log_metrics
    from components.runtime.profiler import read_profile
    from components.steps.profile import build_reports

    profiles = {"ingest": ingest_profile, "clean": clean_profile, "evaluate": evaluate_profile}
    if register_profile is not None:
        profiles["register"] = register_profile
    inputs = [
        json.loads(Path(a.path).read_text("utf-8")) if a is not None else None
        for a in (evaluation, data_stats, registry_record)
    ]
    built = build_reports(task, {k: read_profile(v.path) for k, v in profiles.items()}, *inputs, read_bundle(arms.path))
    for artifact, text in (
        (summary, json.dumps(built.summary, indent=2)),
        (report, built.markdown),
        (html_report, built.html),
    ):
        atomic.write_text(artifact.path, text)
    log_metrics(metrics, built.ui_metrics())


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
    arms: Input[Artifact],
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
) -> bool:
    """Registers the winner as a new version; decides whether it replaces the champion (see components.steps.register).

    Args:
        task: Task name; the default model name is emotion-<task>.
        evaluation: evaluate's results (winner, metric, scores).
        data_stats: Cleaning statistics (their options are the text rules packaged with the model).
        clean_train: Cleaned training rows (fingerprinted).
        clean_test: Cleaned held-out rows, on which the champion is re-scored.
        arms: Every arm's model, held-out predictions, image and champion scores (the last predict step's bundle).
        registry_uri: Folder, MLflow tracking URI or vertex://PROJECT/REGION; empty: a registry inside this run.
        registry_artifact_uri: Where version files go (MLflow artifact location / Vertex staging bucket).
        model_name: Registered model name; empty: emotion-<task>.
        bootstrap_resamples: Paired bootstrap resamples against the champion.
        confidence: Coverage of the interval.
        seed: Seed of the resampling.
        on_champion_error: A champion that cannot be loaded: keep it or promote the new version.
        run_name: The pipeline run, recorded with the version.

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
    from components.checks.options import from_parameters
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.steps.register import RegisterOptions, record_metrics, register_step, render_registry_report

    quiet_pycaret_logs()  # unpickling the AutoML model imports PyCaret, which would write logs.log
    default_registry = os.path.join(os.path.dirname(registry_record.path), "registry")
    options = from_parameters(RegisterOptions, locals(), registry_uri=registry_uri or default_registry)
    with profiled_step("register", step_profile.path, metrics=step_metrics):
        record = register_step(
            task=task,
            evaluation_path=evaluation.path,
            data_stats_path=data_stats.path,
            train_path=clean_train.path,
            test_path=clean_test.path,
            bundle_path=arms.path,
            target=registered_model.path,
            target_uri=registered_model.uri,
            run_name=run_name,
            options=options,
        )
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
        registry_artifact_uri=registry_artifact_uri,
        model_name=record["model_name"],
        version=str(record["version"]),
        reason=str(record.get("reason", "")),
        run_name=str(record.get("tags", {}).get("pipeline_run", "")),
    )
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
    explain: bool = False,
    explain_top: int = 5,
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
        explain: Add each row's explanation: the words that pushed it most toward its label, with their weights.
        explain_top: Most words in an explanation.

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
        text_column=text_column,
        label_column=label_column,
        chunk_rows=chunk_rows,
        encoding=encoding,
        explain=explain,
        explain_top=explain_top,
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
        text_column=text_column,
        label_column=label_column,
        use_labels=use_labels,
        chunk_rows=chunk_rows,
        encoding=encoding,
        psi_threshold=psi_threshold,
        chi2_alpha=chi2_alpha,
        chi2_min_psi=chi2_min_psi,
        max_oov_increase=max_oov_increase,
        max_metric_drop=max_metric_drop,
        max_unseen_label_rate=max_unseen_label_rate,
        min_rows=min_rows,
        bootstrap_resamples=bootstrap_resamples,
        confidence=confidence,
        seed=seed,
    )
    result = monitor_registered(
        registry_uri=registry_uri,
        registry_artifact_uri=registry_artifact_uri,
        model=model,
        input_uri=input_uri,
        options=options,
    )
    Path(monitor_record.path).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    Path(monitor_report.path).write_text(render_monitor_markdown(result), encoding="utf-8")
    Path(monitor_html.path).write_text(render_monitor_html(result), encoding="utf-8")
    for key, value in metrics_of(result).items():
        monitor_metrics.log_metric(key, value)
    print(("DRIFT: " if result["drift"] else "") + result["reason"])
    return bool(result["drift"])


# --- the end of a cluster run: lineage on Vertex AI, a notice whatever happened ----------------------------


class VertexModel(dsl.Artifact):
    """Vertex AI's model artifact type (google-cloud-pipeline-components' ``VertexModel``, same schema)."""

    schema_title = "google.VertexModel"
    schema_version = "0.0.1"


def emit_vertex_model(registry_record: Input[Artifact], vertex_model: Output[VertexModel]):
    """Emits the registered Vertex AI Model Registry version as a google.VertexModel artifact (lineage).

    Vertex AI then links this run to the Model Registry version (and the version's page to the run). With a
    registry that is not Vertex AI's, it says so and emits nothing to link.

    Args:
        registry_record: The register step's decision (registry, model_name, version).

    Returns:
        vertex_model: The registered version (resourceName projects/P/locations/L/models/M@VERSION).
    """
    import json

    from components.registry.store import RegistryError
    from components.registry.vertex_lineage import vertex_model_fields

    with open(registry_record.path, encoding="utf-8") as handle:
        record = json.load(handle)
    try:
        uri, metadata = vertex_model_fields(record)
    except RegistryError as err:  # an MLflow registry on Vertex AI: no Model Registry version to link
        print(f"no google.VertexModel: {err}")
        return
    vertex_model.uri = uri
    vertex_model.metadata.update(metadata)
    print(f"google.VertexModel: {metadata['resourceName']}")


def deploy(registry_record: Input[Artifact], endpoint: str, traffic_percent: int = 100) -> str:
    """Deploys the champion register promoted to a Vertex AI endpoint (components/registry/endpoints.py).

    Runs only when register promoted the new version and deploy_endpoint is set (two dsl.If gates), after promote.
    The endpoint is created when no endpoint has its display name; the version gets traffic_percent % of its
    traffic and the deployed versions share the rest in proportion; 100 replaces them.

    Args:
        registry_record: register's decision (registry vertex://P/L, model_name, version).
        endpoint: The endpoint's display name.
        traffic_percent: The new version's share of the endpoint's traffic (1-100; 100 replaces).

    Returns:
        Output: What was done, e.g. "emotion-demo/3 -> endpoint emotion (100 %)".
    """
    import json

    from components.registry.endpoints import DeployOptions, deploy_record

    with open(registry_record.path, encoding="utf-8") as handle:
        record = json.load(handle)
    outcome = deploy_record(record, endpoint, DeployOptions(traffic_percent=traffic_percent))
    for line in outcome.lines():
        print(line)
    done = f"{record['model_name']}/{record['version']} -> endpoint {endpoint} ({traffic_percent} %)"
    print(done)
    return done


def run_notice(status: dsl.PipelineTaskFinalStatus, hook_url: str, notify_success: bool, notice: Output[Artifact]):
    """Writes the run's final status as a record and POSTs it to hook_url (failures only unless notify_success).

    The exit task of the dsl.ExitHandler around every other task: it runs whatever happened to them.

    Args:
        status: The run's final state and error (KFP fills it in).
        hook_url: A webhook to POST the record to (JSON); empty: none.
        notify_success: POST finished runs too, not only failed ones.

    Returns:
        notice: The status record (state, failed, error, the run and its tasks).
    """
    import json

    from components.reporting.notice import post_notice, status_record

    record = status_record(status)
    with open(notice.path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    notice.metadata.update({"state": record["state"], "failed": record["failed"]})
    print(f"run {record['state']}; notice: {post_notice(hook_url, record, only_failures=not notify_success)}")


#: The steps every run has, whatever its arms, by name (promote runs behind dsl.If).
SHARED_STEPS = {
    "fingerprint": fingerprint,
    "ingest": ingest,
    "clean": clean,
    "evaluate": evaluate,
    "register": register,
    "promote": promote,
    "profile": profile,
    "log_experiment": log_experiment,
    "vertex_model": emit_vertex_model,  # wired on Vertex AI only
    "deploy": deploy,  # Vertex AI only, behind promote's gate and deploy_endpoint's
    "notice": run_notice,  # the exit task on a cluster (local runs print the outcome themselves)
}


@dataclass(frozen=True)
class StepComponents:
    """The pipeline's steps as KFP components built for one set of images.

    Attributes:
        shared: The steps every run has (:data:`SHARED_STEPS`), by name.
        arms: Arm name → its own steps by name (``train_<arm>``, …) and ``predict_<arm>``, on the arm's image.
    """

    shared: Mapping[str, dsl.base_component.BaseComponent]
    arms: Mapping[str, Mapping[str, dsl.base_component.BaseComponent]]

    def __getattr__(self, name: str) -> dsl.base_component.BaseComponent:
        try:
            return self.shared[name]
        except KeyError:
            raise AttributeError(name) from None


def build_components(
    arms: Sequence[Arm],
    image: str = DEFAULT_IMAGE,
    arm_images: Mapping[str, str] | None = None,
    step_images: Mapping[str, str] | None = None,
) -> StepComponents:
    """Builds the pipeline's components: the shared steps on ``image``, each arm's steps on its image.

    Args:
        arms: The run's arms, in order.
        image: Image with this package installed (no PyCaret, no torch): every shared step and every arm whose
            image key is ``default``.
        arm_images: Image key (``automl``, ``transformer`` …: :attr:`Arm.image`) → image; a missing or empty one
            falls back on ``image``.
        step_images: Per-step image overrides by step name (e.g. ``{"profile": "registry/emotion:tag"}``).

    Raises:
        ValueError: A step name in ``step_images`` is not one of this pipeline's steps.
    """
    import importlib

    step_images = dict(step_images or {})
    known = [*SHARED_STEPS, *(step for arm in arms for step in arm.all_steps)]
    unknown = sorted(set(step_images) - set(known))
    if unknown:
        raise ValueError(f"step_images: unknown step(s) {unknown}; steps are {known}")

    def make(func, step: str, base: str) -> dsl.base_component.BaseComponent:
        return dsl.component(func, base_image=step_images.get(step, base), install_kfp_package=False)

    shared = {name: make(func, name, image) for name, func in SHARED_STEPS.items()}
    for name, component in shared.items():  # tasks named after their step (emit_vertex_model → vertex-model)
        component.component_spec.name = component.name = name.replace("_", "-")
    own: dict[str, dict[str, dsl.base_component.BaseComponent]] = {}
    for arm in arms:
        arm_image = (arm_images or {}).get(arm.image) or image
        module = importlib.import_module(arm.component_module)  # its wrappers are named after its steps
        steps = {name: make(getattr(module, name), name, arm_image) for name in arm.steps}
        steps[arm.predict_step] = make(predict, arm.predict_step, arm_image)
        # One predict function, one component per arm: named after the arm, so its task is predict-<arm>.
        steps[arm.predict_step].component_spec.name = steps[arm.predict_step].name = arm.predict_step.replace("_", "-")
        own[arm.name] = steps
    return StepComponents(shared=shared, arms=own)


def build_batch_predict_component(image: str = DEFAULT_IMAGE) -> dsl.base_component.BaseComponent:
    """The batch_predict component on an image that can load every registered model (the AutoML image)."""
    return dsl.component(batch_predict, base_image=image, install_kfp_package=False)


def build_monitor_component(image: str = DEFAULT_IMAGE) -> dsl.base_component.BaseComponent:
    """The monitor component on an image that can load every registered model (the AutoML image)."""
    return dsl.component(monitor, base_image=image, install_kfp_package=False)
