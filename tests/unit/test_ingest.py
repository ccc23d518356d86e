"""Ingest logic: file shapes, column guessing, unification of sources, the split, and every bad input refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.checks.errors import DataError, ParameterError
from components.steps.ingest import IngestOptions, ingest_sources, read_labelled_texts


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    path.write_bytes(text.encode(encoding))
    return str(path)


def labelled_csv(path: Path, rows: int = 20, labels: tuple[str, ...] = ("joy", "fear")) -> str:
    lines = ["text,label", *(f"sentence number {i},{labels[i % len(labels)]}" for i in range(rows))]
    return write(path, "\n".join(lines) + "\n")


# --- shapes and columns ---------------------------------------------------------------------------------------


def test_semicolon_lines_without_header(tmp_path):
    uri = write(tmp_path / "train.txt", "i feel good;joy\n\ni am scared of the dark; a lot;fear\n")
    frame = read_labelled_texts(uri)
    assert frame.columns.tolist() == ["text", "label", "source"]
    assert frame["text"].tolist() == ["i feel good", "i am scared of the dark; a lot"]
    assert frame["label"].tolist() == ["joy", "fear"]
    assert set(frame["source"]) == {uri}


def test_semicolon_lines_with_a_header_row(tmp_path):
    uri = write(tmp_path / "train.txt", "Text;Emotion\ni feel good;joy\ntext about a label;sadness\n")
    frame = read_labelled_texts(uri)
    assert frame["text"].tolist() == ["i feel good", "text about a label"]
    assert frame["label"].tolist() == ["joy", "sadness"]


def test_semicolon_header_only(tmp_path):
    uri = write(tmp_path / "h.txt", "text;label\n")
    with pytest.raises(DataError, match=r"h\.txt: header only, no rows"):
        read_labelled_texts(uri)


def test_csv_header_guessed_case_insensitively(tmp_path):
    uri = write(tmp_path / "e.csv", 'Text,Emotion\n"hello, world",joy\nbye,sadness\n')
    frame = read_labelled_texts(uri)
    assert frame[["text", "label"]].values.tolist() == [["hello, world", "joy"], ["bye", "sadness"]]


def test_tweet_file_shape_extra_columns_dropped_or_kept(tmp_path):
    uri = write(tmp_path / "t.csv", "tweet_id,sentiment,author,content\n1,worry,ann,oh no\n2,fun,bob,yay\n")
    assert read_labelled_texts(uri).columns.tolist() == ["text", "label", "source"]
    kept = read_labelled_texts(uri, keep_extra_columns=True)
    assert kept.columns.tolist() == ["text", "label", "source", "tweet_id", "author"]
    assert kept["author"].tolist() == ["ann", "bob"]


def test_explicit_columns_and_comma_separated_candidates(tmp_path):
    uri = write(tmp_path / "x.csv", "id,body,tag\n1,some words,joy\n2,more words,fear\n")
    frame = read_labelled_texts(uri, text_column="Text,body", label_column="tag")
    assert frame["text"].tolist() == ["some words", "more words"]
    assert frame["label"].tolist() == ["joy", "fear"]


def test_bom_and_label_whitespace_are_stripped(tmp_path):
    uri = write(tmp_path / "b.csv", "\ufefftext,label\nhi, joy \n")
    assert read_labelled_texts(uri)["label"].tolist() == ["joy"]


def test_latin1_file_reads_with_encoding_parameter(tmp_path):
    uri = write(tmp_path / "l.csv", "text,label\ncafé crème,joy\n", encoding="latin-1")
    assert read_labelled_texts(uri, encoding="latin-1")["text"].tolist() == ["café crème"]


def test_sources_with_different_headers_are_unified(tmp_path):
    a = write(tmp_path / "a.csv", "Text,Emotion\n" + "".join(f"a{i},{'joy' if i % 2 else 'fear'}\n" for i in range(4)))
    b = write(tmp_path / "b.csv", "tweet_id,sentiment,author,content\n1,worry,ann,oh no\n2,fun,bob,yay\n")
    train, test = ingest_sources([a, b], a, options=IngestOptions(keep_extra_columns=True))
    assert train.columns.tolist() == ["text", "label", "source", "tweet_id", "author"]
    assert len(train) == 6 and train["source"].tolist().count(b) == 2
    assert train.loc[train["source"] == a, "author"].eq("").all()  # missing extra columns are empty, not NaN
    assert sorted(set(train["label"])) == ["fear", "fun", "joy", "worry"]
    assert len(test) == 4


def test_split_is_stratified_seeded_and_keeps_unlabelled_rows_in_training(tmp_path):
    rows = [f"text {i},{('joy', 'fear', 'love')[i % 3]}" for i in range(60)] + ["no label here,", "nor here,"]
    uri = write(tmp_path / "s.csv", "text,label\n" + "\n".join(rows) + "\n")
    train, test = ingest_sources([uri], options=IngestOptions(test_size=0.25, seed=7))
    again_train, _ = ingest_sources([uri], options=IngestOptions(test_size=0.25, seed=7))
    assert train["text"].tolist() == again_train["text"].tolist()
    assert len(test) == 15 and test["label"].value_counts().tolist() == [5, 5, 5]
    assert (train["label"] == "").sum() == 2 and (test["label"] == "").sum() == 0


# --- bad input: every case refused with a message naming the file, column or parameter ----------------------


def test_missing_file(tmp_path):
    uri = str(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_labelled_texts(uri)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataError, match=r"is a directory, expected a file"):
        read_labelled_texts(str(tmp_path))


def test_empty_file(tmp_path):
    uri = write(tmp_path / "empty.csv", "\n  \n")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        read_labelled_texts(uri)


def test_header_only(tmp_path):
    uri = write(tmp_path / "h.csv", "text,label\n")
    with pytest.raises(DataError, match=r"h\.csv: header only, no rows"):
        read_labelled_texts(uri)


def test_no_text_like_column(tmp_path):
    uri = write(tmp_path / "n.csv", "id,body,label\n1,hello,joy\n")
    with pytest.raises(DataError, match=r"n\.csv: no text column found among \['id', 'body', 'label'\].*text_column"):
        read_labelled_texts(uri)


def test_label_column_missing(tmp_path):
    uri = write(tmp_path / "m.csv", "text,author\nhello,ann\n")
    with pytest.raises(DataError, match=r"m\.csv: no label column found.*label_column parameter"):
        read_labelled_texts(uri)


def test_named_column_not_in_file(tmp_path):
    uri = write(tmp_path / "c.csv", "text,label\nhello,joy\n")
    with pytest.raises(DataError, match=r"c\.csv: label column 'Emotion' not found; columns are \['text', 'label'\]"):
        read_labelled_texts(uri, label_column="Emotion")


def test_same_column_for_text_and_label(tmp_path):
    uri = write(tmp_path / "c.csv", "text,label\nhello,joy\n")
    with pytest.raises(DataError, match="cannot be both the text and the label column"):
        read_labelled_texts(uri, text_column="text", label_column="text")


def test_latin1_file_names_file_and_suggests_encoding(tmp_path):
    uri = write(tmp_path / "latin.csv", "text,label\nfirst,joy\ncafé crème,joy\n", encoding="latin-1")
    with pytest.raises(DataError) as err:
        read_labelled_texts(uri)
    message = str(err.value)
    assert "latin.csv: cannot decode as utf-8" in message and "line 3" in message
    assert "encoding='latin-1'" in message and "--encoding latin-1" in message


def test_unknown_encoding_is_named(tmp_path):
    uri = labelled_csv(tmp_path / "ok.csv")
    with pytest.raises(DataError, match="encoding='klingon' is not a known text encoding"):
        read_labelled_texts(uri, encoding="klingon")


def test_all_texts_blank(tmp_path):
    uri = write(tmp_path / "blank.csv", 'text,label\n"  ",joy\n,fear\n')
    with pytest.raises(DataError, match=r"blank\.csv: column 'text' is blank in all 2 rows"):
        read_labelled_texts(uri)


def test_some_blank_texts_are_kept_for_cleaning_to_count(tmp_path):
    uri = write(tmp_path / "some.csv", "text,label\nhello,joy\n,fear\nNaN,joy\n")
    frame = read_labelled_texts(uri)
    assert frame["text"].tolist() == ["hello", "", "NaN"]  # "NaN" is a word here, not a missing value


def test_all_labels_blank(tmp_path):
    uri = write(tmp_path / "nolabel.csv", "text,label\nhello,\nbye, \n")
    with pytest.raises(DataError, match=r"nolabel\.csv: column 'label' is blank in all 2 rows"):
        read_labelled_texts(uri)


def test_one_class_only(tmp_path):
    uri = labelled_csv(tmp_path / "one.csv", labels=("joy",))
    with pytest.raises(DataError, match=r"one\.csv: one class only \('joy', 20 rows\)"):
        ingest_sources([uri], "")


def test_single_one_megabyte_line(tmp_path):
    uri = write(tmp_path / "long.txt", "x" * 2**20 + ";joy\n")
    with pytest.raises(DataError, match=r"long\.txt: line 1 is 1,048,580 characters long, over max_line_chars"):
        read_labelled_texts(uri)


def test_one_megabyte_field_in_a_csv(tmp_path):
    uri = write(tmp_path / "long.csv", "text,label\nshort,joy\n" + "y" * 2**20 + ",fear\n")
    with pytest.raises(DataError, match=r"long\.csv: line 3 is .* characters long"):
        read_labelled_texts(uri)
    frame = read_labelled_texts(uri, max_line_chars=2**21)  # the parameter the message names lets it through
    assert frame["text"].str.len().max() == 2**20


def test_semicolon_file_with_a_line_without_separator(tmp_path):
    uri = write(tmp_path / "bad.txt", "i feel good;joy\nno separator here\n")
    with pytest.raises(DataError, match=r"bad\.txt: expected 'text;label' lines.*line 2 has no ';'"):
        read_labelled_texts(uri)


def test_malformed_csv(tmp_path):
    uri = write(tmp_path / "mal.csv", 'text,label\n"unterminated,joy\n')
    with pytest.raises(DataError, match=r"mal\.csv: not a valid CSV file"):
        read_labelled_texts(uri)


def test_class_too_small_to_split(tmp_path):
    uri = write(tmp_path / "small.csv", "text,label\n" + "".join(f"t{i},joy\n" for i in range(5)) + "lonely,fear\n")
    with pytest.raises(DataError, match=r"small\.csv: classes \['fear'\] have fewer than 2 rows.*--test"):
        ingest_sources([uri])


@pytest.mark.parametrize("test_size", [0, 1, 1.5])
def test_test_size_out_of_range(test_size):
    with pytest.raises(ParameterError, match=r"test_size must be in \(0, 1\)"):
        IngestOptions(test_size=test_size)


def test_no_training_file():
    with pytest.raises(DataError, match="train_uris: give at least one training file"):
        ingest_sources([])


def test_bad_test_file_is_refused_like_a_training_file(tmp_path):
    train = labelled_csv(tmp_path / "train.csv")
    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        ingest_sources([train], str(tmp_path / "missing.csv"))


def test_returned_frames_are_plain_strings(tmp_path):
    train, test = ingest_sources([labelled_csv(tmp_path / "t.csv", rows=40)])
    for frame in (train, test):
        assert all(pd.api.types.is_object_dtype(frame[c]) for c in frame.columns)
