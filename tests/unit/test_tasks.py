"""Task presets and the run options that select data: files, data root, precedence, validation."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from pipelines.cli import local, parameters
from pipelines.cli.errors import UsageError
from pipelines.cli.main import build_parser
from pipelines.tasks import (
    DATA_PARAMETERS,
    DEFAULT_DATA_ROOT,
    TASKS_DIR,
    Task,
    TaskError,
    coerce_parameters,
    load_task,
    load_task_file,
    parse_assignment,
    parse_label_map,
    resolve_uri,
    select_task,
    shipped_tasks,
)

REPO = Path(__file__).resolve().parents[2]


def test_shipped_presets():
    assert {"demo", "emotion6", "emotion14"} <= set(shipped_tasks())
    emotion6 = load_task("emotion6").pipeline_parameters("/data")
    assert emotion6["task"] == "emotion6"
    assert emotion6["train_uris"] == ["/data/dair_ai_emotion/train.txt"]
    assert emotion6["test_uri"] == "/data/dair_ai_emotion/val.txt"
    emotion14 = load_task("emotion14").pipeline_parameters("gs://bucket/data/")
    assert emotion14["train_uris"] == [
        "gs://bucket/data/ml_in_the_clouds/emotions_train.csv",
        "gs://bucket/data/ml_in_the_clouds/emotions_test.csv",
    ]
    assert emotion14["test_uri"] == "" and emotion14["test_size"] == 0.2
    assert "label_map" not in emotion14  # a label map is applied only when given


@pytest.mark.parametrize("name", ["demo", "emotion6", "emotion14"])
def test_presets_hard_code_no_machine_path(name):
    content = yaml.safe_load((TASKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    for uri in [*content["train"], content["test"]]:
        assert not Path(uri).is_absolute() and "://" not in uri and "/work/" not in uri


def test_demo_preset_points_at_the_shipped_data():
    parameters = select_task()
    assert parameters["task"] == "demo"
    assert Path(parameters["train_uris"][0]).resolve() == (REPO / "pipelines" / "data" / "demo_emotions.csv").resolve()
    assert Path(parameters["train_uris"][0]).is_file()


def test_default_data_root_is_relative_to_the_current_folder():
    parameters = select_task("emotion6")
    assert parameters["train_uris"] == [str(Path(DEFAULT_DATA_ROOT) / "dair_ai_emotion" / "train.txt")]


def test_resolve_uri_keeps_absolute_paths_and_uris():
    assert resolve_uri("/abs/file.csv", "root") == "/abs/file.csv"
    assert resolve_uri("gs://b/f.csv", "root") == "gs://b/f.csv"
    assert resolve_uri("f.csv", "root") == str(Path("root") / "f.csv")


def test_command_line_overrides_the_preset():
    parameters = select_task(
        "emotion14",
        train=["mine.csv"],
        test="held.csv",
        data_root="/data",
        overrides={"test_size": 0.3, "label_map": {"happy": "joy"}, "keep_extra_columns": True},
    )
    assert parameters["task"] == "emotion14"
    assert parameters["train_uris"] == ["mine.csv"] and parameters["test_uri"] == "held.csv"
    assert parameters["test_size"] == 0.3 and parameters["keep_extra_columns"] is True
    assert parameters["label_map"] == {"happy": "joy"}


def test_custom_data_without_a_preset():
    assert select_task(train=["a.csv"])["task"] == "custom"
    assert select_task("my-task", train=["a.csv"])["task"] == "my-task"


def test_config_file(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text(
        "task: tweets\ndata_root: data\ntrain: [a.csv, b.csv]\ntest: ''\n"
        "parameters: {label_map: {happiness: joy}, min_class_count: 3}\n",
        encoding="utf-8",
    )
    parameters = select_task(config=config)
    assert parameters["task"] == "tweets"
    assert parameters["train_uris"] == [str(tmp_path / "data" / "a.csv"), str(tmp_path / "data" / "b.csv")]
    assert parameters["min_class_count"] == 3 and parameters["label_map"] == {"happiness": "joy"}
    assert select_task(config=config, data_root="/elsewhere")["train_uris"][0] == "/elsewhere/a.csv"


def test_unknown_task_lists_the_presets():
    with pytest.raises(TaskError, match=r"unknown task 'emotion7'; shipped tasks are \[.*'emotion14'.*--config"):
        select_task("emotion7")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a list", "a task file is a mapping"),
        ("train: [a.csv]\ncolumns: x\n", r"bad\.yaml: unknown key 'columns'; known keys here: \['task'"),
        ("test: b.csv\n", "train: must name one or more files, got None"),
        ("train: ['a.csv', '  ']\n", "train: must name one or more files"),
        ("train: a.csv\ntest: [b.csv]\n", "test: must be one file name or empty"),
        ("train: a.csv\ndata_root: 5\n", "data_root: expected text, got 5"),
        ("train: a.csv\nparameters: [leakage]\n", "parameters: expected a mapping"),
        ("train: [a.csv]\nparameters: {leakge: keep}\n", "unknown data parameter 'leakge'"),
        ("train: [a.csv]\nparameters: {test_size: big}\n", "parameter test_size must be float"),
        ("train: [a.csv]\nparameters: {keep_extra_columns: 1}\n", "parameter keep_extra_columns must be bool"),
        ("train: [a.csv]\nparameters: {min_class_count: 2.5}\n", "parameter min_class_count must be int"),
        ("train: [a.csv]\nparameters: {label_map: [happy, joy]}\n", "parameter label_map must be a mapping"),
        ("train: [a.csv\n", "not a valid YAML task file"),
    ],
)
def test_invalid_task_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaskError, match=message) as err:
        load_task_file(path)
    assert "bad.yaml" in str(err.value)


def test_several_problems_are_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [a.csv]\nparameters: {leakge: keep, test_size: big, label_map: {a: [b]}}\n")
    with pytest.raises(TaskError) as err:
        load_task_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and len(message.splitlines()) == 1
    for part in (
        "unknown data parameter 'leakge'",
        "parameter test_size must be float, got 'big'",
        "parameter label_map must be a mapping like {happy: joy}, got {'a': ['b']}",
    ):
        assert part in message


def test_parameters_keep_their_types():
    parameters = coerce_parameters(
        {"test_size": 1, "url_token": 5, "mention_token": None, "label_map": {1: 2}, "lowercase": False}, "here"
    )
    assert parameters == {
        "test_size": 1.0,
        "url_token": "5",
        "mention_token": "",
        "label_map": {"1": "2"},
        "lowercase": False,
    }
    assert type(parameters["test_size"]) is float
    assert coerce_parameters({}, "here") == {}


def test_data_parameters_are_read_generically(monkeypatch):
    """A parameter added to DATA_PARAMETERS is accepted with its type, with no other change."""
    monkeypatch.setitem(DATA_PARAMETERS, "max_rows", int)
    assert coerce_parameters({"max_rows": 10}, "here") == {"max_rows": 10}
    with pytest.raises(TaskError, match="here: parameter max_rows must be int, got '10'"):
        coerce_parameters({"max_rows": "10"}, "here")
    monkeypatch.delitem(DATA_PARAMETERS, "max_rows")
    with pytest.raises(TaskError, match="unknown data parameter 'max_rows'"):
        coerce_parameters({"max_rows": 10}, "here")


def test_task_is_immutable_and_refuses_unknown_keys():
    task = load_task("demo")
    with pytest.raises(ValidationError):
        task.name = "other"
    with pytest.raises(ValidationError):
        Task(name="x", train=("a.csv",), columns="y")


def test_missing_task_file(tmp_path):
    with pytest.raises(TaskError, match="task file not found"):
        load_task_file(tmp_path / "none.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conflict_policy": "vote"}, "conflict_policy must be one of"),
        ({"leakage": "maybe"}, "leakage must be one of"),
        ({"test_size": 1.5}, r"test_size must be in \(0, 1\)"),
        ({"max_line_chars": 0}, "max_line_chars must be >= 1"),
        ({"nonsense": 1}, "command line: unknown data parameter 'nonsense'"),
    ],
)
def test_bad_values_refused_before_a_run(overrides, message):
    with pytest.raises(TaskError, match=message):
        select_task("demo", overrides=overrides)


def test_parse_assignment_reads_yaml_values():
    assert parse_assignment("keep_extra_columns=true") == ("keep_extra_columns", True)
    assert parse_assignment("test_size=0.25") == ("test_size", 0.25)
    assert parse_assignment("label_map={happy: joy}") == ("label_map", {"happy": "joy"})
    assert parse_assignment("mention_token=") == ("mention_token", "")
    with pytest.raises(TaskError, match="expected KEY=VALUE"):
        parse_assignment("leakage")


def test_parse_label_map():
    assert parse_label_map("happy=joy, happiness=joy") == {"happy": "joy", "happiness": "joy"}
    with pytest.raises(TaskError, match="expected OLD=NEW pairs"):
        parse_label_map("happy")


def test_data_parameters_are_pipeline_parameters_of_the_same_type():
    from components.arms import ARMS, DEFAULT_ARMS
    from pipelines.emotion_pipeline import build_pipeline

    signature = inspect.signature(build_pipeline(tuple(ARMS)).pipeline_func)  # every arm: every arm's budget
    for name, kind in DATA_PARAMETERS.items():
        assert name in signature.parameters, name
        assert signature.parameters[name].annotation is kind, name
    # a run without an arm has none of its parameters (a task's budget for it does not apply)
    default = inspect.signature(build_pipeline().pipeline_func).parameters
    absent = {name for name in DATA_PARAMETERS if name not in default}
    assert all(
        any(name.startswith(arm.prefix) for arm in ARMS.values() if arm.name not in DEFAULT_ARMS) for name in absent
    ), absent


def test_cli_run_parameters(tmp_path):
    args = build_parser().parse_args(
        ["run", "--task", "emotion6", "--data-root", str(tmp_path), "--label-map", "happy=joy", "--set", "leakage=keep"]
    )
    for name in ("train.txt", "val.txt"):
        (tmp_path / "dair_ai_emotion").mkdir(exist_ok=True)
        (tmp_path / "dair_ai_emotion" / name).write_text("a;joy\n", encoding="utf-8")
    result = parameters.build_run_parameters(args, cluster=False)
    assert result["train_uris"] == [str(tmp_path / "dair_ai_emotion" / "train.txt")]
    assert result["label_map"] == {"happy": "joy"} and result["leakage"] == "keep"
    assert "seed" not in result and "encoding" not in result  # the pipeline's defaults unless given


def test_cli_refuses_a_missing_task_file_with_a_data_root_hint(tmp_path):
    args = build_parser().parse_args(["run", "--task", "emotion14", "--data-root", str(tmp_path)])
    with pytest.raises(UsageError, match=r"emotions_train\.csv: no such file \(.*--data-root"):
        parameters.build_run_parameters(args, cluster=False)


def test_package_data_ships_the_presets():
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert '"config/tasks/*.yaml"' in setup


def test_cli_prints_rows_dropped_per_rule_and_leakage():
    summary = {
        "data": {
            "train": {"rows_in": 10, "rows_out": 7, "dropped": {"empty_text": 1, "leakage": 2, "exact_duplicates": 0}},
            "test": {"rows_in": 5, "rows_out": 5, "dropped": {}},
            "leakage": {"texts": 2, "policy": "drop_train"},
        }
    }
    assert local.format_data(summary).splitlines() == [
        "data train: 10 -> 7 rows (empty_text 1, leakage 2)",
        "data test: 5 -> 5 rows (none dropped)",
        "leakage: 2 texts in both splits (drop_train)",
    ]
