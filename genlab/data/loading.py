"""Load user data: JSONL, CSV, Parquet files and hub datasets (``hf:owner/name[:config]``).

Files are read as a stream of rows (line by line, or Parquet batch by batch),
each row tagged with ``file:line`` so every later error can point at it. A bad
row (malformed JSON, missing column, non-UTF-8 byte, empty field) is an error
naming file:line and the problem; with ``skip_bad_rows`` it is counted and
listed in a report written beside the file. The user's file is only ever read.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from genlab.errors import DataError
from genlab.io import atomic_write_text
from genlab.data.rows import Row

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}
COMPRESSED = (".gz", ".bz2", ".xz")  # qa.jsonl.gz, reviews.csv.xz: read as the format before it, decompressed
DELIMITERS = ",;\t|"  # a CSV header with no comma but one of these uses it (Excel in many locales writes ";")


@dataclass
class BadRow:
    where: str
    problem: str


@dataclass
class Loaded:
    rows: list[Row]
    bad: list[BadRow] = field(default_factory=list)
    report: Path | None = None
    class_names: dict[str, list[str]] = field(default_factory=dict)  # a hub ClassLabel column's names


class _Bad(Exception):
    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem


def data_suffix(path: Path) -> str:
    """``.jsonl`` for ``qa.jsonl`` and for ``qa.jsonl.gz``."""
    suffixes = [x.lower() for x in path.suffixes]
    return suffixes[-2] if len(suffixes) > 1 and suffixes[-1] in COMPRESSED else path.suffix.lower()


def data_stem(path: Path) -> str:
    """``qa`` for ``qa.jsonl`` and for ``qa.jsonl.gz``."""
    name = path.name[:-len(path.suffix)] if path.suffix.lower() in COMPRESSED else path.name
    return Path(name).stem


def open_bytes(path: Path):
    """``path`` for reading bytes, decompressed on the fly when it ends in .gz, .bz2 or .xz."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    return opener(path, "rb")


@contextlib.contextmanager
def archive_errors(path: Path):
    """A truncated or mislabelled archive as a DataError naming the file, not a decompressor's traceback."""
    import lzma

    try:
        yield
    except (EOFError, lzma.LZMAError, OSError) as e:
        if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)) or \
                path.suffix.lower() not in COMPRESSED:  # not the archive's fault
            raise
        raise DataError(f"cannot decompress: {e}", where=str(path),
                        hint="check that the file is complete and that its suffix names its compression") from None


def _decoded_lines(f: io.BufferedReader, path: Path) -> Iterator[tuple[int, str, _Bad | None]]:
    """Decode line by line, so a bad byte is reported with its own line number.

    A bad line still comes through (with U+FFFD replacements) beside its problem,
    so line counting downstream stays true.
    """
    for lineno, raw in enumerate(f, start=1):
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark (Excel writes one)
        try:
            yield lineno, raw.decode("utf-8"), None
        except UnicodeDecodeError as e:
            problem = f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
            yield lineno, raw.decode("utf-8", errors="replace"), _Bad(f"{path}:{lineno}", problem)


def _iter_jsonl(path: Path) -> Iterator[Row | _Bad]:
    """One JSON object per line; a ``.json`` file holding one JSON array of objects (Alpaca's) is read whole."""
    with open_bytes(path) as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        yield from _iter_json_array(path)
        return
    with open_bytes(path) as f:
        for lineno, text, bad in _decoded_lines(f, path):
            where = f"{path}:{lineno}"
            if bad is not None:
                yield bad
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield _Bad(where, f"malformed JSON ({e.msg} at column {e.colno})")
                continue
            yield Row.at(obj, where) if isinstance(obj, dict) else _Bad(where, f"expected a JSON object, got {type(obj).__name__}")


def _iter_json_array(path: Path) -> Iterator[Row | _Bad]:
    try:
        with open_bytes(path) as f:
            raw = f.read()
        items = json.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not valid UTF-8 (byte {e.start})", where=str(path)) from None
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON ({e.msg})", where=f"{path}:{e.lineno}",
                        hint="a .json file is one array of objects, or one object per line") from None
    if not isinstance(items, list):
        raise DataError(f"expected an array of objects, got {type(items).__name__}", where=str(path))
    for i, obj in enumerate(items):
        where = f"{path}: item {i}"
        yield Row.at(obj, where) if isinstance(obj, dict) else _Bad(where, "expected a JSON object, "
                                                                           f"got {type(obj).__name__}")


def _delimiter(header: str | None, path: Path) -> str:
    if data_suffix(path) == ".tsv":
        return "\t"
    if not header or "," in header:
        return ","
    counts = {d: header.count(d) for d in DELIMITERS[1:]}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _iter_csv(path: Path) -> Iterator[Row | _Bad]:
    bad: dict[int, _Bad] = {}

    def lines(f):
        # The record spanning an undecodable line is reported instead of parsed.
        for lineno, text, problem in _decoded_lines(f, path):
            if problem is not None:
                bad[lineno] = problem
            yield text

    with open_bytes(path) as f:
        texts = lines(f)
        first = next(texts, None)
        reader = csv.reader(itertools.chain([first] if first is not None else [], texts),
                            delimiter=_delimiter(first, path))
        header = next(reader, None)
        if header is None:
            return
        last = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a NUL byte: report the record, carry on with the next line
                yield _Bad(f"{path}:{reader.line_num}", f"malformed CSV ({e})")
                last = reader.line_num
                continue
            span = range(last + 1, reader.line_num + 1)
            last = reader.line_num
            where = f"{path}:{span.start}"
            hit = next((bad[i] for i in span if i in bad), None)
            if hit is not None:
                yield hit
            elif len(values) != len(header):
                yield _Bad(where, f"expected {len(header)} columns ({', '.join(header)}), found {len(values)}")
            else:
                yield Row.at(dict(zip(header, values)), where)


def _iter_parquet(path: Path) -> Iterator[Row | _Bad]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for obj in batch.to_pylist():
            n += 1
            yield Row.at(obj, f"{path}:row {n}")


def iter_file(path: str | Path, fmt: str | None = None) -> Iterator[Row | _Bad]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} not found")
    fmt = fmt or FORMATS.get(data_suffix(path))
    readers = {"jsonl": _iter_jsonl, "csv": _iter_csv, "parquet": _iter_parquet}
    if fmt not in readers:
        raise DataError(f"cannot tell the format of {path}",
                        hint="use .jsonl, .json, .csv, .tsv or .parquet (the text ones may be .gz, .bz2 or .xz), "
                             "or pass fmt=")
    return _archive_checked(readers[fmt](path), path)


def _archive_checked(rows: Iterator[Row | _Bad], path: Path) -> Iterator[Row | _Bad]:
    with archive_errors(path):
        yield from rows


def check_row(row: Row, mapping: dict[str, str], required: Iterable[str] | dict[str, str]) -> Row | _Bad:
    """Apply the column mapping (task field -> source column) and check required fields are present and non-empty.

    ``required`` may map each field to who needs it (e.g. "template 'samsum-1' (task.yaml)") for the message.
    """
    out = Row.at({k: v for k, v in row.items()}, row.where)
    for name, column in mapping.items():
        if column not in row:
            return _Bad(row.where, f'missing column "{column}" (mapped to field "{name}")')
        out[name] = row[column]
    for name in required:
        if name not in out:
            used = f" used by {required[name]}" if isinstance(required, dict) else ""
            return _Bad(row.where, f'missing column "{name}"{used}')
        value = out[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            return _Bad(row.where, f'empty field "{name}"')
    return out


def load_file(path: str | Path, *, columns: dict[str, str] | None = None,
              required: Iterable[str] | dict[str, str] = (),
              skip_bad_rows: bool = False, fmt: str | None = None) -> Loaded:
    """All good rows of a file; raise on the first bad one unless ``skip_bad_rows``."""
    rows, bad = [], []
    required = required if isinstance(required, dict) else tuple(required)
    for item in iter_file(path, fmt):
        if not isinstance(item, _Bad):
            item = check_row(item, columns or {}, required)
        if isinstance(item, _Bad):
            if not skip_bad_rows:
                raise DataError(item.problem, where=item.where,
                                hint="fix the row, or pass --skip-bad-rows to skip bad rows and get a report")
            bad.append(BadRow(item.where, item.problem))
            continue
        rows.append(item)
    report = write_bad_report(Path(path), bad) if bad else None
    return Loaded(rows, bad, report)


def write_bad_report(path: Path, bad: list[BadRow]) -> Path:
    """``<file>.bad-rows.txt`` beside the data: one ``file:line: problem`` per skipped row."""
    report = path.with_name(path.name + ".bad-rows.txt")
    lines = [f"# {len(bad)} bad row(s) skipped while reading {path}\n"] + [f"{b.where}: {b.problem}\n" for b in bad]
    atomic_write_text(report, "".join(lines))
    return report


def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """``hf:owner/name[:config]`` -> (``owner/name``, config)."""
    body = spec.removeprefix("hf:")
    name, _, config = body.partition(":")
    if not name.strip():
        raise DataError(f"bad hub dataset spec {spec!r}", hint="write hf:owner/name or hf:owner/name:config")
    return name, config or None


def _hub_dataset(name: str, config: str | None):
    """``datasets.load_dataset``, once per process for a name and config: telling a ``--task hf:...``'s shape and
    then loading its splits read the same (immutable, Arrow-backed) dataset, and ask the hub once. A local folder
    is read again when its files changed."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        files = sorted(p for p in folder.resolve().rglob("*") if p.is_file())
        stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        return _load_dataset(str(folder.resolve()), config, stamp)
    return _load_dataset(name, config, None)


@functools.lru_cache(maxsize=4)
def _load_dataset(name: str, config: str | None, stamp):
    import datasets

    return datasets.load_dataset(name, config)


def load_hub(spec: str, *, columns: dict[str, str] | None = None, required: Iterable[str] = (),
             skip_bad_rows: bool = False) -> dict[str, Loaded]:
    """A hub dataset's own splits, each checked like a file (``where`` is ``hf:name[split]:row``)."""
    from genlab.models.registry import is_offline

    name, config = parse_hub_spec(spec)
    if is_offline() and not Path(name).expanduser().is_dir():  # a local dataset folder needs no network
        raise DataError(f"cannot download {spec}: offline (HF_HUB_OFFLINE is set)",
                        hint="go online, or export the data to a local .jsonl/.csv/.parquet file")
    import datasets

    try:
        dsd = _hub_dataset(name, config)
    except Exception as e:  # network, missing dataset, gated dataset: all need the user's action
        if Path(name).expanduser().is_dir():
            raise DataError(f"could not read the dataset folder {name}: {type(e).__name__}: {e}", hint=(
                "a folder of .jsonl/.json/.csv/.parquet files named by split (train.jsonl, test.jsonl, ...)"
                )) from e
        raise DataError(f"could not load {spec} from the hub: {type(e).__name__}: {e}",
                        hint="check the name and config, your network, and `huggingface-cli login` for gated data") from e
    out = {}
    for split, ds in dsd.items():
        rows, bad = [], []
        for i, obj in enumerate(ds, start=1):
            item = check_row(Row.at(obj, f"{spec}[{split}]:row {i}"), columns or {}, required)
            if isinstance(item, _Bad):
                if not skip_bad_rows:
                    raise DataError(item.problem, where=item.where)
                bad.append(BadRow(item.where, item.problem))
            else:
                rows.append(item)
        names = {c: list(f.names) for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)}
        out[split] = Loaded(rows, bad, class_names=names)
    return out
