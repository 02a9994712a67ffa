"""The plan comment of a pull (or merge) request, for the pipelines `orgc init` writes.

`python -m orgc.ci_comment body PLAN` prints the comment for a plan saved by `orgc plan --out`:
a hidden marker, the plan as `orgc plan --format markdown` shows it, and where the saved plan
is. `python -m orgc.ci_comment find COMMENTS` prints the id of the comment that carries the
marker among a JSON list of comments (GitHub's and GitLab's APIs both give `id` and `body`), so
that a pipeline updates its comment instead of adding one on every push.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from orgc.pipeline import StalePlan, load_saved_plan
from orgc.show import render_markdown

MARKER = "<!-- orgc-plan -->"
# GitHub refuses comments over 65,536 characters; GitLab's notes allow a million. A body over
# the limit is cut at a line and points to the saved plan.
DEFAULT_MAX_CHARACTERS = 65_000


def marker(key: str | None = None) -> str:
    """The hidden marker; `key` tells the comments of several organizations in one repository
    apart."""
    return MARKER if not key else f"<!-- orgc-plan:{key} -->"


def comment_body(
    markdown: str,
    *,
    key: str | None = None,
    details_url: str | None = None,
    max_characters: int = DEFAULT_MAX_CHARACTERS,
) -> str:
    """The comment: marker, plan, and a footer saying where the whole saved plan is."""
    where = f"[the pipeline run]({details_url})" if details_url else "the pipeline run"
    footer = (
        f"\n---\nThe saved plan is an artefact of {where}; merging applies exactly this plan, "
        "and orgc refuses it if the files or the organization changed since.\n"
    )
    head = marker(key) + "\n"
    body = markdown if markdown.endswith("\n") else markdown + "\n"
    if len(head) + len(body) + len(footer) > max_characters:
        cut = (
            "\n… the plan is too long for a comment; the whole plan is in the saved plan of "
            f"{where}.\n"
        )
        room = max(0, max_characters - len(head) - len(footer) - len(cut))
        kept = body[:room]
        kept = kept[: kept.rfind("\n") + 1] if "\n" in kept else ""
        body = kept + cut
    return head + body + footer


def _documents(text: str) -> Iterator[Any]:
    """Every JSON value in `text`, one after the other (paginated API output is several
    arrays back to back)."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def find_comment(comments_json: str, *, key: str | None = None) -> str | None:
    """The id of the first comment whose body starts with the marker, or None."""
    wanted = marker(key)
    for document in _documents(comments_json):
        pages = document if isinstance(document, list) else [document]
        for page in pages:
            for comment in page if isinstance(page, list) else [page]:
                if not isinstance(comment, dict):
                    continue
                body = comment.get("body")
                if isinstance(body, str) and body.startswith(wanted):
                    return str(comment.get("id"))
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orgc.ci_comment", description="the plan comment of a pull request"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    body = commands.add_parser("body", help="the comment for a plan saved by orgc plan --out")
    body.add_argument("plan", type=Path)
    body.add_argument("--details-url", help="the pipeline run that holds the saved plan")
    body.add_argument("--key", help="tells apart the comments of several organizations")
    body.add_argument("--max-characters", type=int, default=DEFAULT_MAX_CHARACTERS)
    find = commands.add_parser("find", help="the id of the plan comment among COMMENTS (JSON)")
    find.add_argument("comments", type=Path)
    find.add_argument("--key")
    args = parser.parse_args(argv)
    if args.command == "body":
        try:
            plan = load_saved_plan(args.plan)
        except StalePlan as error:
            print(error, file=sys.stderr)  # its diagnostic, one a line
            return 1
        sys.stdout.write(
            comment_body(
                render_markdown(plan),
                key=args.key,
                details_url=args.details_url,
                max_characters=args.max_characters,
            )
        )
        return 0
    try:
        text = args.comments.read_text(encoding="utf-8")
        found = find_comment(text, key=args.key)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(
            f"orgc: error[E100]: cannot read the comments in {args.comments}: {error}",
            file=sys.stderr,
        )
        return 1
    if found is not None:
        print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
