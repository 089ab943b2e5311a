"""core.io.shared_files: the one reader of the files pages and processes share (size cap, schema, cache)."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest

from core.io.shared_files import SharedFileError, finite, mapping, read_json, read_json_or, write_json_atomically


def _counting_check():
    calls = []

    def check(raw):
        calls.append(raw)
        data = mapping(raw)
        return {"n": finite(data.get("n"), "n", low=0, high=10, integer=True)}

    return check, calls


def test_an_unchanged_file_is_parsed_once_and_a_changed_one_again(tmp_path):
    path = tmp_path / "f.json"
    write_json_atomically(path, {"n": 3})
    check, calls = _counting_check()
    assert [read_json(path, check, max_bytes=100) for _ in range(5)] == [{"n": 3}] * 5
    assert len(calls) == 1
    write_json_atomically(path, {"n": 4})  # (a new inode, even within the same mtime tick)
    assert read_json(path, check, max_bytes=100) == {"n": 4} and len(calls) == 2


@pytest.mark.parametrize(
    "content, why",
    [
        ('{"n": NaN}', "NaN is not a number"),
        ('{"n": -Infinity}', "-Infinity is not a number"),
        ('{"n": 1e999}', '"n" is inf, not a whole number'),
        ('{"n": 2.5}', '"n" is 2.5, not a whole number'),
        ('{"n": true}', '"n" is true, not a whole number'),
        ('{"n": 11}', '"n" is 11, outside 0..10'),
        ('{"n": "3"}', "\"n\" is a string ('3'), not a whole number"),
        ("{}", '"n" is missing'),
        ("[3]", "the file is an array, not an object"),
        ('{"n": ' + "9" * 5000 + "}", "not JSON"),
        ("[" * 3000 + "]" * 3000, "not JSON: nested too deep"),
        ("x" * 10_001, "10001 bytes, over the 10000 allowed"),
    ],
)
def test_bad_content_is_refused_with_the_field_and_the_reason(tmp_path, content, why):
    path = tmp_path / "f.json"
    path.write_text(content)
    check, _ = _counting_check()
    with pytest.raises(SharedFileError) as refused:
        read_json(path, check, max_bytes=10_000)
    assert why in str(refused.value)


def test_a_bad_file_is_said_once_per_change_by_all_its_readers(tmp_path, caplog):
    path = tmp_path / "f.json"
    path.write_text('{"n": NaN}')
    check, calls = _counting_check()
    with caplog.at_level(logging.INFO):
        for _ in range(20):  # twenty polls, from two "pages" sharing this process
            assert read_json_or(path, check, "fallback", max_bytes=100, what="test file") == "fallback"
        path.write_text('{"n": 99}')
        os.utime(path, ns=(1, 1))  # another content, another stamp
        assert read_json_or(path, check, "fallback", max_bytes=100, what="test file") == "fallback"
        assert read_json_or(path, check, "fallback", max_bytes=100, what="test file") == "fallback"
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"test file {path} ignored: NaN is not a number (only finite numbers are allowed)",
        f'test file {path} ignored: "n" is 99, outside 0..10',
    ]
    assert read_json_or(tmp_path / "absent.json", check, None, max_bytes=100, what="x") is None


def test_the_writer_refuses_nan_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "f.json"
    write_json_atomically(path, {"n": 1})
    with pytest.raises(ValueError):
        write_json_atomically(path, {"n": float("nan")})
    assert json.loads(path.read_text()) == {"n": 1}  # the last good content is kept
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_two_pages_reading_a_bad_file_at_the_same_moment_say_it_once(tmp_path, caplog):
    path = tmp_path / "f.json"
    path.write_text("{}")
    both_parsing = threading.Barrier(2, timeout=10)

    def check(raw):
        both_parsing.wait()  # each thread has read the file before either keeps its outcome
        raise ValueError("bad content")

    def poll():
        read_json_or(path, check, None, max_bytes=100, what="test file")

    with caplog.at_level(logging.INFO):
        pages = [threading.Thread(target=poll) for _ in range(2)]
        for page in pages:
            page.start()
        for page in pages:
            page.join()
        poll()
    assert [r.getMessage() for r in caplog.records] == [f"test file {path} ignored: bad content"]
