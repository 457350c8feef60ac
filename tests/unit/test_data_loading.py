"""Loading files: formats, column mapping, and every bad-row case (error or skip + report)."""

import json

import pytest

from genlab.data import load_file, load_hub, parse_hub_spec
from genlab.errors import DataError


def write(path, data: bytes):
    path.write_bytes(data)
    return path


GOOD = b'{"dialogue": "A: hi", "summary": "A says hi."}\n'


@pytest.mark.parametrize("line, problem", [
    (b'{"dialogue": "A: hi", "summary": \n', "malformed JSON"),
    (b'["not", "an", "object"]\n', "expected a JSON object"),
    (b'{"dialogue": "A: hi"}\n', 'missing column "summary"'),
    (b'{"dialogue": "A: hi", "summary": "  "}\n', 'empty field "summary"'),
    (b'{"dialogue": "A: hi", "summary": null}\n', 'empty field "summary"'),
    (b'{"dialogue": "caf\xe9", "summary": "x"}\n', "not valid UTF-8 (byte 0xe9"),
])
def test_bad_jsonl_row_names_file_line_and_problem(tmp_path, line, problem):
    path = write(tmp_path / "train.jsonl", GOOD + GOOD + line + GOOD)
    with pytest.raises(DataError) as e:
        load_file(path, required=["dialogue", "summary"])
    assert str(e.value).startswith(f"{path}:3: {problem}")


def test_skip_bad_rows_counts_reports_and_never_touches_the_file(tmp_path):
    data = GOOD + b"{oops\n" + GOOD + b'{"dialogue": "x"}\n' + b'{"dialogue": "\xff", "summary": "s"}\n'
    path = write(tmp_path / "train.jsonl", data)
    loaded = load_file(path, required=["dialogue", "summary"], skip_bad_rows=True)
    assert len(loaded.rows) == 2 and len(loaded.bad) == 3
    assert [b.where for b in loaded.bad] == [f"{path}:2", f"{path}:4", f"{path}:5"]
    assert loaded.report == tmp_path / "train.jsonl.bad-rows.txt"
    report = loaded.report.read_text()
    assert "3 bad row(s)" in report and f"{path}:4: missing column \"summary\"" in report
    assert path.read_bytes() == data  # the user's file is untouched


def test_rows_remember_their_line(tmp_path):
    path = write(tmp_path / "d.jsonl", GOOD + b"\n" + GOOD)
    rows = load_file(path).rows
    assert [r.where for r in rows] == [f"{path}:1", f"{path}:3"]
    assert rows[0]["summary"] == "A says hi."


def test_column_mapping(tmp_path):
    path = write(tmp_path / "d.jsonl", b'{"conversation": "A: hi", "abstract": "hi"}\n')
    rows = load_file(path, columns={"dialogue": "conversation", "summary": "abstract"},
                     required=["dialogue", "summary"]).rows
    assert rows[0]["dialogue"] == "A: hi" and rows[0]["summary"] == "hi"
    with pytest.raises(DataError, match='missing column "talk" \\(mapped to field "dialogue"\\)'):
        load_file(path, columns={"dialogue": "talk"})


def test_csv_with_quoted_newlines_and_bad_rows(tmp_path):
    data = (b'dialogue,summary\n"A: hi\nB: hello",greeting\n'
            b'only-one-column\n'
            b'"caf\xe9",x\n'
            b'"A: bye",\n'
            b'"C: ok",fine\n')
    path = write(tmp_path / "d.csv", data)
    loaded = load_file(path, required=["dialogue", "summary"], skip_bad_rows=True)
    assert [r["summary"] for r in loaded.rows] == ["greeting", "fine"]
    assert loaded.rows[0]["dialogue"] == "A: hi\nB: hello"
    assert [(b.where, b.problem.split(" (")[0]) for b in loaded.bad] == [
        (f"{path}:4", "expected 2 columns"), (f"{path}:5", "not valid UTF-8"), (f"{path}:6", 'empty field "summary"')]
    assert loaded.rows[1].where == f"{path}:7"


def test_parquet_streams_batches(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"dialogue": [f"d{i}" for i in range(3000)], "summary": ["s"] * 2999 + [""]}), path,
                   row_group_size=500)
    with pytest.raises(DataError, match=r"d.parquet:row 3000: empty field \"summary\""):
        load_file(path, required=["summary"])
    assert len(load_file(path, required=["summary"], skip_bad_rows=True).rows) == 2999


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_file(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_file(write(tmp_path / "d.txt", b"x"))


def test_hub_spec_and_offline_error(monkeypatch):
    assert parse_hub_spec("hf:knkarthick/dialogsum") == ("knkarthick/dialogsum", None)
    assert parse_hub_spec("hf:glue:sst2") == ("glue", "sst2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="offline"):
        load_hub("hf:knkarthick/dialogsum")


def test_csv_byte_order_mark_and_malformed_record(tmp_path):
    import csv

    path = write(tmp_path / "excel.csv", b"\xef\xbb\xbfdialogue,summary\nA: hi,greets\n" + b"B: " + b"x" * 50
                 + b",long\nC: ok,fine\n")
    old = csv.field_size_limit(40)  # makes line 3 a csv.Error, as a runaway field would be
    try:
        loaded = load_file(path, required=["dialogue", "summary"], skip_bad_rows=True)
    finally:
        csv.field_size_limit(old)
    assert [r["summary"] for r in loaded.rows] == ["greets", "fine"]  # header read without the BOM
    assert loaded.bad[0].where == f"{path}:3" and "malformed CSV" in loaded.bad[0].problem


def test_json_array_files_and_their_bad_items(tmp_path):
    rows = [{"dialogue": "A: hi", "summary": "greets"}, {"dialogue": "B: yo", "summary": "waves"}]
    path = write(tmp_path / "alpaca.json", b"\xef\xbb\xbf" + json.dumps(rows, indent=2).encode())
    assert [r["summary"] for r in load_file(path).rows] == ["greets", "waves"]
    loaded = load_file(write(tmp_path / "b.json", json.dumps(rows + [["x"]]).encode()), skip_bad_rows=True)
    assert len(loaded.rows) == 2 and loaded.bad[0].where.endswith("b.json: item 2")
    with pytest.raises(DataError, match="malformed JSON"):
        load_file(write(tmp_path / "c.json", b'[{"dialogue": "A"},\n{"dialogue": }]'))


@pytest.mark.parametrize("name, data", [
    ("semicolons.csv", b"dialogue;summary\nA: hi, there;greets, warmly\n"),
    ("tabs.tsv", b"dialogue\tsummary\nA: hi, there\tgreets, warmly\n"),
    ("pipes.csv", b"dialogue|summary\nA: hi, there|greets, warmly\n"),
])
def test_csv_delimiter_is_told_from_the_header(tmp_path, name, data):
    (row,) = load_file(write(tmp_path / name, data), required=["dialogue", "summary"]).rows
    assert (row["dialogue"], row["summary"]) == ("A: hi, there", "greets, warmly")
