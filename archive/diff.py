"""Character-level diffs for Japanese text, which has no spaces to diff words by.

A raw character diff of a rewritten phrase is confetti: it keeps stray particles such as
「の」 or 「を」 "in common" between two unrelated phrases. A one-character equal run
between two changes is therefore folded into the change, so a reader sees whole phrases
replaced; two-character runs are kept, as they are often words (強化, 北極).
"""

from __future__ import annotations

from difflib import SequenceMatcher

Op = tuple[str, str]  # ("equal" | "delete" | "insert", text)

SHORT_EQUAL = 1


def char_diff(old: str, new: str) -> list[Op]:
    """The edit from ``old`` to ``new`` as equal/delete/insert runs, tidied for reading."""
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("equal", old[i1:i2]))
            continue
        if i2 > i1:
            ops.append(("delete", old[i1:i2]))
        if j2 > j1:
            ops.append(("insert", new[j1:j2]))
    return _merge_changes(_absorb_short_equals(ops))


def _absorb_short_equals(ops: list[Op]) -> list[Op]:
    """Turn an equal run of <= SHORT_EQUAL characters between two changes into a change."""
    result: list[Op] = []
    for index, (tag, text) in enumerate(ops):
        inner = 0 < index < len(ops) - 1
        if tag == "equal" and inner and len(text) <= SHORT_EQUAL:
            result += [("delete", text), ("insert", text)]
        else:
            result.append((tag, text))
    return result


def _merge_changes(ops: list[Op]) -> list[Op]:
    """Merge each run of deletes and inserts into one delete followed by one insert."""
    result: list[Op] = []
    deleted, inserted = "", ""
    for tag, text in [*ops, ("equal", "")]:
        if tag == "delete":
            deleted += text
        elif tag == "insert":
            inserted += text
        else:
            result += [op for op in (("delete", deleted), ("insert", inserted)) if op[1]]
            deleted, inserted = "", ""
            if text:
                result.append((tag, text))
    return result


def render(ops: list[Op]) -> str:
    """Plain-text form: ``[-deleted-]{+inserted+}``, as ``git diff --word-diff`` prints."""
    marks = {"equal": "{}", "delete": "[-{}-]", "insert": "{{+{}+}}"}
    return "".join(marks[tag].format(text) for tag, text in ops)


def changed(ops: list[Op]) -> bool:
    """Whether the diff holds any change."""
    return any(tag != "equal" for tag, _ in ops)


def excerpt(ops: list[Op], context: int = 10) -> list[Op]:
    """The diff with long unchanged runs cut to ``context`` characters around each change."""
    result: list[Op] = []
    for index, (tag, text) in enumerate(ops):
        if tag != "equal" or len(text) <= 2 * context + 1:
            result.append((tag, text))
            continue
        head = text[:context] if index > 0 else ""
        tail = text[-context:] if index < len(ops) - 1 else ""
        result.append((tag, f"{head}…{tail}"))
    return result
