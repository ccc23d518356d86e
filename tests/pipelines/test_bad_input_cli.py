"""Every bad input of issue 3 through the real CLI: a clear error, the right exit status, no result left behind.

Cases the CLI can see before starting the pipeline (missing file, directory, unknown task, bad parameter) are
usage errors, refused at once with exit status 2; the others run the local pipeline until its ingest or clean
step refuses (about 5-10 s each), exit status 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli.main import main

# Files that only a step that went further than the refusing one would write.
RESULTS = {"summary.json", "summary", "report", "clean_train", "clean_test", "data_stats", "model", "evaluation"}
INGEST_OUTPUTS = {"train", "test"}


def lines(path: Path, *rows: str, encoding: str = "utf-8") -> str:
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return str(path)


def good_train(folder: Path) -> str:
    return lines(folder / "good.csv", "text,label", *(f"sentence {i},{('joy', 'fear')[i % 2]}" for i in range(40)))


def run_cli(tmp_path: Path, capsys, *args: str) -> tuple[int, str, Path]:
    output = tmp_path / "out"
    output.mkdir()
    (output / "summary.json").write_text('{"stale": "result of an earlier run"}', encoding="utf-8")
    # The AutoML budget is a ceiling: a run that gets that far (small_classes=drop) needs room for PyCaret's setup.
    status = main(["run", "--output", str(output), "--automl-models", "nb", "--automl-budget-minutes", "1", *args])
    return status, capsys.readouterr().err, output


def left_behind(output: Path) -> set[str]:
    return {p.name for p in output.rglob("*") if p.is_file()}


def assert_refused(
    status: int, err: str, output: Path, *expected: str, ingest_failed: bool = True, usage: bool = False
) -> None:
    assert status == (2 if usage else 1)
    assert "emotion-pipeline run: error:" in err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    produced = left_behind(output)
    assert not produced & RESULTS, produced
    if ingest_failed:
        assert not produced & INGEST_OUTPUTS, produced


# --- refused before the pipeline starts -------------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    missing = tmp_path / "absent.csv"
    status, err, output = run_cli(tmp_path, capsys, "--train", str(missing))
    assert_refused(status, err, output, f"{missing}: no such file", usage=True)
    # Refused before starting: an output folder that did not exist is not even created.
    fresh = tmp_path / "fresh"
    assert main(["run", "--train", str(missing), "--output", str(fresh)]) == 2
    assert f"{missing}: no such file" in capsys.readouterr().err
    assert not fresh.exists()


def test_directory_instead_of_a_file(tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    status, err, output = run_cli(tmp_path, capsys, "--train", good_train(tmp_path), "--test", str(folder))
    assert_refused(status, err, output, f"{folder}: is a directory, expected a file", usage=True)


def test_unknown_task(tmp_path, capsys):
    status, err, output = run_cli(tmp_path, capsys, "--task", "emotion7")
    assert_refused(status, err, output, "unknown task 'emotion7'", "emotion14", usage=True)


def test_bad_cleaning_parameter(tmp_path, capsys):
    status, err, output = run_cli(tmp_path, capsys, "--set", "conflict_policy=vote")
    assert_refused(
        status, err, output, "conflict_policy must be one of ['drop', 'keep', 'majority'], got 'vote'", usage=True
    )


def test_task_files_missing_under_the_data_root(tmp_path, capsys):
    status, err, output = run_cli(tmp_path, capsys, "--task", "emotion6", "--data-root", str(tmp_path / "nowhere"))
    assert_refused(status, err, output, "dair_ai_emotion/train.txt: no such file", "--data-root", usage=True)


# --- refused by the ingest step -----------------------------------------------------------------------------------


def test_empty_file(tmp_path, capsys):
    status, err, output = run_cli(tmp_path, capsys, "--train", lines(tmp_path / "empty.csv", ""))
    assert_refused(status, err, output, "Inner task failed: 'ingest'", "DataError", "empty.csv: file is empty")


def test_header_only(tmp_path, capsys):
    status, err, output = run_cli(tmp_path, capsys, "--train", lines(tmp_path / "header.csv", "text,label"))
    assert_refused(status, err, output, "DataError", "header.csv: header only, no rows")


def test_no_text_like_column(tmp_path, capsys):
    path = lines(tmp_path / "notext.csv", "id,body,label", "1,hello,joy", "2,bye,fear")
    status, err, output = run_cli(tmp_path, capsys, "--train", path)
    assert_refused(status, err, output, "DataError", "notext.csv: no text column found", "--text-column")


def test_label_column_missing(tmp_path, capsys):
    path = lines(tmp_path / "nolabel.csv", "text,author", "hello,ann", "bye,bob")
    status, err, output = run_cli(tmp_path, capsys, "--train", path)
    assert_refused(status, err, output, "DataError", "nolabel.csv: no label column found", "--label-column")


def test_latin1_file(tmp_path, capsys):
    path = lines(tmp_path / "latin.csv", "text,label", "café crème,joy", "thé noir,fear", encoding="latin-1")
    status, err, output = run_cli(tmp_path, capsys, "--train", path)
    assert_refused(status, err, output, "DataError", "latin.csv: cannot decode as utf-8", "--encoding latin-1")


def test_nan_and_blank_texts(tmp_path, capsys):
    path = lines(tmp_path / "blank.csv", "text,label", ",joy", '"   ",fear', ",joy", ",fear")
    status, err, output = run_cli(tmp_path, capsys, "--train", path)
    assert_refused(status, err, output, "DataError", "blank.csv: column 'text' is blank in all 4 rows")


def test_one_class_only(tmp_path, capsys):
    path = lines(tmp_path / "one.csv", "text,label", *(f"sentence {i},joy" for i in range(10)))
    status, err, output = run_cli(tmp_path, capsys, "--train", path)
    assert_refused(
        status, err, output, "Inner task failed: 'ingest'", "DataError", "one.csv: one class only ('joy', 10 rows)"
    )


def test_a_single_one_megabyte_line(tmp_path, capsys):
    path = tmp_path / "long.txt"
    path.write_text("w" * 2**20 + ";joy\n", encoding="utf-8")
    status, err, output = run_cli(tmp_path, capsys, "--train", str(path))
    assert_refused(status, err, output, "DataError", "long.txt: line 1 is 1,048,580 characters long", "max_line_chars")


# --- refused by the clean step ------------------------------------------------------------------------------------


def test_test_labels_not_in_training(tmp_path, capsys):
    test = lines(tmp_path / "held.csv", "text,label", "what a surprise,surprise", "so happy,joy")
    status, err, output = run_cli(tmp_path, capsys, "--train", good_train(tmp_path), "--test", test)
    assert_refused(
        status,
        err,
        output,
        "Inner task failed: 'clean'",
        "held.csv",
        "{'surprise': 1}",
        "unseen_test_labels=drop",
        ingest_failed=False,
    )


def test_blank_texts_in_the_test_file_after_cleaning(tmp_path, capsys):
    test = lines(tmp_path / "mentions.csv", "text,label", "@someone,joy", "@other http://x.co,fear")
    status, err, output = run_cli(tmp_path, capsys, "--train", good_train(tmp_path), "--test", test)
    assert_refused(
        status,
        err,
        output,
        "DataError",
        "mentions.csv",
        "no rows left after cleaning",
        "'empty_text': 2",
        ingest_failed=False,
    )


@pytest.mark.parametrize("extra", [[], pytest.param(["--set", "small_classes=drop"], marks=pytest.mark.slow)])
def test_class_under_min_class_count(tmp_path, capsys, extra):
    train = lines(
        tmp_path / "rare.csv",
        "text,label",
        *(f"sentence {i:02d},{('joy', 'fear')[i % 2]}" for i in range(40)),
        *(f"bored {i:02d},boredom" for i in range(3)),
    )
    test = lines(tmp_path / "held.csv", "text,label", "a new joy,joy", "a new fear,fear", "bored again,boredom")
    status, err, output = run_cli(tmp_path, capsys, "--train", train, "--test", test, *extra)
    if extra:  # dropped from both splits: the run goes on and reports it
        assert status == 0 and (output / "summary.json").is_file()
        assert "stale" not in (output / "summary.json").read_text(encoding="utf-8")
    else:
        assert_refused(status, err, output, "rare.csv", "{'boredom': 3}", "small_classes=drop", ingest_failed=False)
