"""Render the README's generated tables from the committed results files, or check that it is rendered.

    .venv/bin/python scripts/render_readme.py --check    # exit 1 and print a diff when they differ
    .venv/bin/python scripts/render_readme.py --write    # rewrite the generated blocks in place

Blocks and their sources: benchmark/report/readme.py (BLOCKS). ``--file`` renders another Markdown
file (default README.md) against the same project folder.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.report.readme import render

ROOT = Path(__file__).resolve().parent.parent  # the project folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 with a diff when the file is not rendered")
    action.add_argument("--write", action="store_true", help="rewrite the generated blocks in place")
    parser.add_argument("--file", type=Path, default=ROOT / "README.md", help="the Markdown file (default README.md)")
    args = parser.parse_args(argv)
    text = args.file.read_text()
    try:
        rendered = render(text, ROOT, args.file)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.write:
        if rendered != text:
            args.file.write_text(rendered)
        print(f"{args.file}: {'rewritten' if rendered != text else 'already rendered'}")
        return 0
    if rendered == text:
        return 0
    diff = difflib.unified_diff(
        text.splitlines(True), rendered.splitlines(True), f"{args.file} (now)", f"{args.file} (rendered)"
    )
    sys.stdout.writelines(diff)
    print(f"{args.file} differs from its committed results: run scripts/render_readme.py --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
