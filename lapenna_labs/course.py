"""The course manifest, ``course.yml``: the one list of weeks, and what follows from it.

Every place that needs to know which weeks exist asks this module instead of keeping its own
list: the table of contents (``_toc.yml``, written by :func:`sync`), the schedule page (which
renders :func:`schedule_markdown` when the book is built), the pytest markers ``lab1`` to
``lab12`` (``tests/conftest.py``), the chapters the book tests walk, the README's week table
(written by :func:`sync`) and the labs that ``make labs`` and ``make grade`` know about.
:func:`check` compares the manifest with the files on disk, so a week that is declared but
missing, or present but undeclared, fails the test suite.

The manifest belongs to the repository, not to the installed package: in Colab nothing here is
needed. Reading it needs PyYAML, which the repository's pinned stack has.

Command line (``make sync`` runs the first)::

    python -m lapenna_labs.course sync    # rewrite _toc.yml and the README's week table
    python -m lapenna_labs.course check   # list every disagreement between manifest and files

Examples
--------
>>> course = load()
>>> [week.number for week in course.weeks] == list(range(1, 13))
True
>>> course.week(3).lab, course.week(3).marker
('lab03', 'lab3')
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "STATUSES",
    "Part",
    "Week",
    "Course",
    "CourseError",
    "REPOSITORY",
    "load",
    "toc",
    "toc_yaml",
    "readme_week_table",
    "schedule_markdown",
    "check",
    "sync",
]

REPOSITORY = Path(__file__).resolve().parents[1]
MANIFEST = "course.yml"
STATUSES = ("planned", "written")
NOT_WRITTEN = "not yet written"

# The README's generated week table sits between these two lines.
README_BEGIN = "<!-- BEGIN course weeks: generated from course.yml by `make sync`; do not edit -->"
README_END = "<!-- END course weeks -->"

_LAB = re.compile(r"^lab(\d\d)$")
_CHAPTER = re.compile(r"^book/week(\d\d)_[a-z0-9_]+\.md$")
_MODULE = re.compile(r"^[a-z][a-z0-9_]*$")


class CourseError(ValueError):
    """The manifest is malformed, or disagrees with the files on disk."""


@dataclass(frozen=True)
class Part:
    """A part of the book: a caption in the table of contents (``Part III. Convolutional ...``)."""

    id: str
    title: str

    @property
    def caption(self) -> str:
        return f"Part {self.id}. {self.title}"


@dataclass(frozen=True)
class Week:
    """One week of the course, as the manifest declares it.

    Attributes
    ----------
    number : int
        1 to 12.
    title : str
        Short title (the lecture unit).
    part : str
        The id of its :class:`Part`.
    topics : str
        One sentence for the schedule page.
    chapter : str
        The chapter's path from the repository root, ``book/weekNN_<name>.md``.
    lab : str
        The lab's id, ``labNN``: its source is ``autograder/notebooks/labNN.py``, its student
        version ``labs/labNN.ipynb``.
    modules : tuple of str
        The ``lapenna_labs`` modules (or subpackages) the week teaches.
    status : str
        ``"planned"`` or ``"written"``.
    lab_summary : str
        What students write in the lab (written weeks; the README's week table shows it).
    """

    number: int
    title: str
    part: str
    topics: str
    chapter: str
    lab: str
    modules: tuple[str, ...]
    status: str
    lab_summary: str = ""

    @property
    def written(self) -> bool:
        return self.status == "written"

    @property
    def marker(self) -> str:
        """The pytest marker of this week's tests: ``lab3`` for week 3."""
        return f"lab{self.number}"

    @property
    def docname(self) -> str:
        """The chapter as Sphinx names it, from the repository root: ``book/week03_mlp_forward``."""
        return self.chapter.removesuffix(".md")

    @property
    def lab_source(self) -> str:
        return f"autograder/notebooks/{self.lab}.py"

    @property
    def student_notebook(self) -> str:
        return f"labs/{self.lab}.ipynb"


@dataclass(frozen=True)
class Course:
    """The whole manifest: parts, weeks and the pages and modules that belong to no week."""

    parts: tuple[Part, ...]
    weeks: tuple[Week, ...]
    support_modules: tuple[str, ...]
    template_lab: str
    root: str
    front_matter: tuple[str, ...]
    back_matter: tuple[str, ...]

    def week(self, number: int) -> Week:
        """The week with this number; a :class:`CourseError` if there is none."""
        for week in self.weeks:
            if week.number == number:
                return week
        raise CourseError(f"course: no week {number} in {MANIFEST} (weeks 1-{len(self.weeks)})")

    @property
    def written(self) -> tuple[Week, ...]:
        """The weeks whose chapter and lab exist, in order."""
        return tuple(week for week in self.weeks if week.written)

    @property
    def chapters(self) -> list[str]:
        """Docnames of the written weeks' chapters (``book/week01_hpc_blas``, ...)."""
        return [week.docname for week in self.written]

    @property
    def labs(self) -> list[str]:
        """Ids of the written weeks' labs (``lab01``, ...), without the template lab."""
        return [week.lab for week in self.written]

    @property
    def modules(self) -> list[str]:
        """Every package module the manifest names: the written weeks' and the support modules."""
        names = [m for week in self.written for m in week.modules] + list(self.support_modules)
        return list(dict.fromkeys(names))

    def part(self, part_id: str) -> Part:
        for part in self.parts:
            if part.id == part_id:
                return part
        raise CourseError(f"course: no part {part_id!r}")


# ------------------------------------------------------------------------------- reading


def _require(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise CourseError(f"{MANIFEST}: {where} has no {key!r}")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise CourseError(f"{MANIFEST}: {where}: {key!r} must be {names}, got {value!r}")
    return value


def _week(entry: Any, index: int, part_ids: set[str]) -> Week:
    where = f"weeks[{index}]"
    if not isinstance(entry, dict):
        raise CourseError(f"{MANIFEST}: {where} must be a mapping, got {entry!r}")
    number = _require(entry, "number", int, where)
    where = f"week {number}"
    unknown = set(entry) - {f for f in Week.__dataclass_fields__}
    if unknown:
        raise CourseError(f"{MANIFEST}: {where} has unknown keys {sorted(unknown)}")
    week = Week(
        number=number,
        title=_require(entry, "title", str, where),
        part=str(_require(entry, "part", str, where)),
        topics=_require(entry, "topics", str, where).strip(),
        chapter=_require(entry, "chapter", str, where),
        lab=_require(entry, "lab", str, where),
        modules=tuple(_require(entry, "modules", list, where)),
        status=_require(entry, "status", str, where),
        lab_summary=str(entry.get("lab_summary") or "").strip(),
    )
    chapter = _CHAPTER.match(week.chapter)
    if chapter is None or int(chapter.group(1)) != number:
        raise CourseError(
            f"{MANIFEST}: {where}: chapter must be book/week{number:02d}_<name>.md "
            f"(lower case, digits, _), got {week.chapter!r}"
        )
    lab = _LAB.match(week.lab)
    if lab is None or int(lab.group(1)) != number:
        raise CourseError(f"{MANIFEST}: {where}: lab must be lab{number:02d}, got {week.lab!r}")
    if week.part not in part_ids:
        raise CourseError(
            f"{MANIFEST}: {where}: part {week.part!r} is not one of {sorted(part_ids)}"
        )
    if week.status not in STATUSES:
        raise CourseError(
            f"{MANIFEST}: {where}: status must be one of {STATUSES}, got {week.status!r}"
        )
    for module in week.modules:
        if not isinstance(module, str) or not _MODULE.match(module):
            raise CourseError(f"{MANIFEST}: {where}: {module!r} is not a module name")
    if week.written and not week.lab_summary:
        raise CourseError(f"{MANIFEST}: {where} is written but has no lab_summary")
    return week


def load(path: str | Path | None = None) -> Course:
    """Read and validate the manifest.

    Parameters
    ----------
    path : str or Path, optional
        The manifest file; by default ``course.yml`` at the repository root.

    Returns
    -------
    Course

    Raises
    ------
    CourseError
        If the file is missing or malformed: a key is missing or of the wrong type, the weeks
        are not numbered 1, 2, 3... in order, a chapter or lab name does not match its week's
        number, a part or status is unknown.
    """
    path = Path(path) if path is not None else REPOSITORY / MANIFEST
    if not path.is_file():
        raise CourseError(
            f"course: no manifest at {path}: course.yml ships with the LAPENNA repository, not "
            "with the installed package"
        )
    try:
        import yaml
    except ImportError:  # pragma: no cover - the pinned stack has it
        raise CourseError("course: reading course.yml needs PyYAML (pip install pyyaml)") from None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CourseError(f"{MANIFEST}: expected a mapping at the top level")
    parts = tuple(
        Part(id=str(_require(p, "id", str, f"parts[{i}]")), title=_require(p, "title", str, "part"))
        for i, p in enumerate(_require(data, "parts", list, "the manifest"))
    )
    part_ids = {part.id for part in parts}
    weeks = tuple(
        _week(entry, i, part_ids)
        for i, entry in enumerate(_require(data, "weeks", list, "the manifest"))
    )
    numbers = [week.number for week in weeks]
    if numbers != list(range(1, len(weeks) + 1)):
        raise CourseError(f"{MANIFEST}: weeks must be numbered 1, 2, 3... in order, got {numbers}")
    template = _require(data, "template_lab", str, "the manifest")
    if not _LAB.match(template) or template in {week.lab for week in weeks}:
        raise CourseError(f"{MANIFEST}: template_lab must be a labNN of no week, got {template!r}")
    return Course(
        parts=parts,
        weeks=weeks,
        support_modules=tuple(_require(data, "support_modules", list, "the manifest")),
        template_lab=template,
        root=_require(data, "root", str, "the manifest"),
        front_matter=tuple(_require(data, "front_matter", list, "the manifest")),
        back_matter=tuple(_require(data, "back_matter", list, "the manifest")),
    )


# ------------------------------------------------------------------------------- derived views


def _docname(path: str) -> str:
    return path.removesuffix(".md")


def toc(course: Course) -> dict[str, Any]:
    """The table of contents (Jupyter Book's ``jb-book`` format) of the written weeks.

    Front matter, then one part per book part that has a written week (planned weeks have no
    page yet; the schedule page lists them), then the back matter.
    """
    parts: list[dict[str, Any]] = [
        {"caption": "The course", "chapters": [{"file": _docname(p)} for p in course.front_matter]}
    ]
    for part in course.parts:
        chapters = [{"file": w.docname} for w in course.written if w.part == part.id]
        if chapters:
            parts.append({"caption": part.caption, "chapters": chapters})
    parts.append(
        {"caption": "Back matter", "chapters": [{"file": _docname(p)} for p in course.back_matter]}
    )
    return {"format": "jb-book", "root": _docname(course.root), "parts": parts}


def toc_yaml(course: Course) -> str:
    """``_toc.yml``'s text, with a header saying where it comes from."""
    import yaml

    header = (
        "# Table of contents of the LAPENNA book (Jupyter Book 1, jb-book format).\n"
        "# Generated from course.yml by `make sync`: edit course.yml, not this file.\n"
    )
    return header + yaml.safe_dump(toc(course), sort_keys=False, width=100)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table: the first column right-aligned (week numbers), the others left."""
    rule = "|---:|" + "---|" * (len(header) - 1)
    return [f"| {' | '.join(header)} |", rule, *(f"| {' | '.join(row)} |" for row in rows)]


def _written_or_not(week: Week, chapter: str, lab: str) -> tuple[str, str]:
    """The chapter and lab cells of a week's row: links if written, else "not yet written"."""
    return (chapter, lab) if week.written else (NOT_WRITTEN, NOT_WRITTEN)


def readme_week_table(course: Course) -> str:
    """The README's table of weeks: unit, chapter, lab and the package modules it teaches."""
    rows = []
    for week in course.weeks:
        chapter, lab = _written_or_not(
            week,
            f"[`{week.chapter}`]({week.chapter})",
            f"[`{week.lab}`]({week.student_notebook}): {_cell(week.lab_summary)}",
        )
        modules = ", ".join(f"`{m}`" for m in week.modules) or "(all)"
        rows.append((str(week.number), _cell(week.title), chapter, lab, modules))
    header = ("week", "unit", "chapter", "lab: what students write", "modules")
    return "\n".join(_markdown_table(header, rows)) + "\n"


def schedule_markdown(course: Course) -> str:
    """The schedule page's table, in MyST (``{doc}`` links and ``{lab}`` Colab badges).

    Docnames are relative to ``book/``, where the schedule page lives.
    """
    rows = []
    for week in course.weeks:
        chapter, lab = _written_or_not(
            week, f"{{doc}}`{week.docname.removeprefix('book/')}`", f"{{lab}}`{week.lab}`"
        )
        rows.append((str(week.number), _cell(week.topics), chapter, lab))
    intro = (
        f"This book currently covers {len(course.written)} of the {len(course.weeks)} weeks; "
        "each covered week has a chapter to read and a lab to do in Colab."
    )
    table = _markdown_table(("Week", "Topics", "Chapter", "Lab"), rows)
    return "\n".join([intro, "", *table]) + "\n"


def _replace_between(text: str, begin: str, end: str, body: str, name: str) -> str:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise CourseError(f"course: {name} has no {begin!r} ... {end!r} block")
    return text[: start + len(begin)] + "\n" + body + text[stop:]


# ------------------------------------------------------------------------------- the files


def generated_files(course: Course, root: Path) -> dict[Path, str]:
    """Each file that :func:`sync` writes, with the text it must have."""
    readme = root / "README.md"
    return {
        root / "_toc.yml": toc_yaml(course),
        readme: _replace_between(
            readme.read_text(encoding="utf-8"),
            README_BEGIN,
            README_END,
            readme_week_table(course),
            "README.md",
        ),
    }


def sync(root: str | Path = REPOSITORY, course: Course | None = None) -> list[Path]:
    """Rewrite the files derived from the manifest; return those that changed."""
    root = Path(root)
    course = course or load(root / MANIFEST)
    changed = []
    for path, text in generated_files(course, root).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def _package_modules(package: Path) -> set[str]:
    """Public modules and subpackages of ``lapenna_labs`` (no ``__init__``, no ``_private``)."""
    names = {p.stem for p in package.glob("*.py")}
    names |= {p.parent.name for p in package.glob("*/__init__.py")}
    return {n for n in names if not n.startswith("_")}


def _has_tests(tests: Path, module: str) -> bool:
    return (tests / f"test_{module}.py").is_file() or any(tests.glob(f"test_{module}_*.py"))


def check(root: str | Path = REPOSITORY, course: Course | None = None) -> list[str]:
    """Every disagreement between the manifest and the files under ``root``, in words.

    A written week must have its chapter, its lab source and generated student notebook, and
    each of its modules with a test file (``tests/test_<module>.py`` or ``test_<module>_*.py``).
    A planned week must have none of its chapter or lab yet. Every chapter
    (``book/week*.md``) and lab source (``autograder/notebooks/lab*.py``) on disk must be
    declared, every public package module must be claimed by a week or listed as a support
    module (a planned week's modules may exist before its chapter, with their tests), and the
    generated files must be up to date (``make sync``).

    Returns
    -------
    list of str
        Empty when everything agrees.
    """
    root = Path(root)
    course = course or load(root / MANIFEST)
    problems: list[str] = []
    package, tests = root / "lapenna_labs", root / "tests"
    on_disk = _package_modules(package)
    for week in course.weeks:
        own = [week.chapter, week.lab_source, week.student_notebook]
        if week.written:
            problems += [
                f"week {week.number} is written but {p} is missing"
                for p in own
                if not (root / p).is_file()
            ]
            for module in week.modules:
                if module not in on_disk:
                    problems.append(f"week {week.number}: module lapenna_labs.{module} is missing")
                elif not _has_tests(tests, module):
                    problems.append(
                        f"week {week.number}: module {module} has no tests/test_{module}.py"
                    )
        else:
            problems += [
                f"week {week.number} is planned but {p} exists: mark it written"
                for p in own
                if (root / p).exists()
            ]
            # A planned week's modules may land before its chapter, but never without tests.
            problems += [
                f"week {week.number}: module {module} has no tests/test_{module}.py"
                for module in week.modules
                if module in on_disk and not _has_tests(tests, module)
            ]
    declared_chapters = {w.chapter for w in course.weeks}
    for path in sorted((root / "book").glob("week*.md")):
        rel = path.relative_to(root).as_posix()
        if rel not in declared_chapters:
            problems.append(f"{rel} is not a chapter of any week in {MANIFEST}")
    declared_labs = {w.lab for w in course.weeks} | {course.template_lab}
    for path in sorted((root / "autograder" / "notebooks").glob("lab*.py")):
        if path.stem not in declared_labs:
            problems.append(
                f"autograder/notebooks/{path.name} is not the lab of any week in {MANIFEST}"
            )
    if not (root / "autograder" / "notebooks" / f"{course.template_lab}.py").is_file():
        problems.append(
            f"the template lab autograder/notebooks/{course.template_lab}.py is missing"
        )
    claimed = set(course.modules) | {m for week in course.weeks for m in week.modules}
    for module in sorted(on_disk - claimed):
        problems.append(f"lapenna_labs.{module} belongs to no week and is no support module")
    for module in course.support_modules:
        if module not in on_disk:
            problems.append(f"support module lapenna_labs.{module} is missing")
    for page in (course.root, *course.front_matter, *course.back_matter):
        if not (root / page).is_file():
            problems.append(f"{page} (in {MANIFEST}) is missing")
    try:
        generated = generated_files(course, root)
    except (CourseError, OSError) as exc:
        return [*problems, str(exc)]
    for path, text in generated.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(root)} is out of date: run `make sync`")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lapenna_labs.course", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("sync", "check"))
    parser.add_argument("--root", type=Path, default=REPOSITORY, help="the repository")
    args = parser.parse_args(argv)
    if args.command == "sync":
        for path in sync(args.root):
            print(f"wrote {path.relative_to(args.root)}")
        return 0
    problems = check(args.root)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
