"""The shared JSONL reader names the file and line of a bad row, and reads gzip like plain text."""

import gzip

import pytest

from verifiers.jsonl import JSONLError, load_jsonl, read_jsonl


def test_reads_objects_with_line_numbers_and_skips_blank_lines(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert list(read_jsonl(p)) == [(1, {"a": 1}), (3, {"a": 2})]


def test_gzip(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write('{"a": 1}\n')
    assert load_jsonl(p) == [{"a": 1}]


@pytest.mark.parametrize(
    ("text", "what"), [('{"a": 1}\n{"a": \n', "not valid JSON"), ("{}\n[1]\n", "got list")]
)
def test_bad_line_is_named_with_the_fix(tmp_path, text, what):
    p = tmp_path / "bad.jsonl"
    p.write_text(text)
    with pytest.raises(JSONLError, match=rf"bad.jsonl:2: .*{what}.*; drop it"):
        load_jsonl(p, fix="drop it")


def test_caller_error_class_and_missing_file(tmp_path):
    class MyError(ValueError):
        pass

    with pytest.raises(MyError, match="no such file"):
        list(read_jsonl(tmp_path / "nope.jsonl", error=MyError))


def test_skipped_lines_are_listed_and_reading_goes_on(tmp_path):
    p = tmp_path / "some.jsonl"
    p.write_text('{"a": 1}\n{oops\n[2]\n{"a": 3}\n')
    skipped: list[str] = []
    assert list(read_jsonl(p, skipped=skipped)) == [(1, {"a": 1}), (4, {"a": 3})]
    assert [s.split(": ", 1)[0].rsplit("/", 1)[-1] for s in skipped] == [
        "some.jsonl:2",
        "some.jsonl:3",
    ]
