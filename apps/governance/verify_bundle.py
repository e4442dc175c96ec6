"""Check an audit bundle offline: ``python -m apps.governance.verify_bundle DIR``.

No Django, no database: standard library plus ``apps.governance.chain`` (the one statement of the
hashing rule, itself standard library only). ``DIR`` holds ``entries.jsonl`` and ``head.json`` as
written by ``manage.py audit_export``.

Exit status: 0 the chain is intact and matches its head (a summary is printed); 1 the bundle was
tampered with (the first bad entry is named: edited, deleted, inserted or reordered lines, or a head
that does not match); 2 the bundle cannot be read (missing files, not UTF-8, a malformed head.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from apps.governance import chain

EXIT_OK, EXIT_TAMPERED, EXIT_UNREADABLE = 0, 1, 2


class BundleUnreadable(Exception):
    """The bundle's files are missing or cannot be parsed at all."""


@dataclass(frozen=True, slots=True)
class BundleHead:
    schema: str
    count: int
    head_hash: str
    exported_at: str


def read_head(directory: Path) -> BundleHead:
    path = directory / "head.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleUnreadable(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleUnreadable(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BundleUnreadable(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleUnreadable(f"{path} must hold a JSON object")
    if data.get("format") != chain.BUNDLE_FORMAT:
        raise BundleUnreadable(
            f"{path}: unknown format {data.get('format')!r}, expected {chain.BUNDLE_FORMAT!r}"
        )
    count, head_hash = data.get("count"), data.get("head_hash")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise BundleUnreadable(f"{path}: count must be a non-negative integer")
    if not isinstance(head_hash, str) or len(head_hash) != 64:
        raise BundleUnreadable(f"{path}: head_hash must be 64 hex digits")
    return BundleHead(str(data.get("schema", "")), count, head_hash, str(data.get("exported_at", "")))


def _records(handle: TextIO) -> Iterator[Any]:
    for number, line in enumerate(handle, start=1):
        text = line.rstrip("\n")
        try:
            yield chain.parse_record_line(text)
        except ValueError as exc:  # json.JSONDecodeError and duplicate keys
            yield chain.Unparsable(f"is not valid JSON (line {number}: {exc})")


def verify_bundle(directory: Path) -> tuple[chain.ChainVerdict, BundleHead]:
    """The verdict for the bundle in ``directory``; raises ``BundleUnreadable``."""
    if not directory.is_dir():
        raise BundleUnreadable(f"{directory} is not a directory")
    head = read_head(directory)
    path = directory / "entries.jsonl"
    try:
        with path.open(encoding="utf-8", newline="\n") as handle:
            verdict = chain.verify_chain(
                _records(handle), pinned=chain.Head(head.count, head.head_hash), exact=True
            )
    except FileNotFoundError as exc:
        raise BundleUnreadable(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleUnreadable(f"cannot read {path}: {exc}") from exc
    return verdict, head


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="python -m apps.governance.verify_bundle",
        description="Verify an audit bundle (entries.jsonl + head.json) offline.",
    )
    parser.add_argument("directory", type=Path, help="the directory written by manage.py audit_export")
    args = parser.parse_args(argv)
    try:
        verdict, head = verify_bundle(args.directory)
    except BundleUnreadable as exc:
        print(f"unreadable bundle: {exc}", file=err)
        return EXIT_UNREADABLE
    where = f"schema {head.schema!r}, exported {head.exported_at}"
    if verdict.ok:
        print(f"OK: {verdict.entries} entries, head {verdict.head_hash} ({where})", file=out)
        return EXIT_OK
    print(
        f"TAMPERED: first bad entry {verdict.first_bad_sequence}: {verdict.reason} "
        f"({verdict.entries} entries verified before it; {where})",
        file=out,
    )
    return EXIT_TAMPERED


if __name__ == "__main__":
    sys.exit(main())
