"""The course manifest (course.yml) against the files on disk, and what is derived from it.

The first tests check this repository: every week the manifest declares is where it says, and
nothing on disk is undeclared. The rest build small fake repositories in a temporary folder and
check that each kind of disagreement is reported, so the repository check cannot pass vacuously.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from lapenna_labs import course

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest() -> course.Course:
    return course.load()


# ------------------------------------------------------------------------------- this repository


def test_the_repository_agrees_with_its_manifest(manifest):
    assert course.check(ROOT, manifest) == []


def test_twelve_weeks_in_six_parts(manifest):
    assert [w.number for w in manifest.weeks] == list(range(1, 13))
    assert [p.id for p in manifest.parts] == ["I", "II", "III", "IV", "V", "VI"]
    assert [w.number for w in manifest.written] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_every_week_has_a_registered_marker(manifest, pytestconfig):
    registered = {line.split(":", 1)[0] for line in pytestconfig.getini("markers")}
    assert {w.marker for w in manifest.weeks} <= registered


def test_every_written_week_has_marked_tests(manifest):
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    for week in manifest.written:
        assert re.search(rf"mark\.{week.marker}\b", text), f"no test is marked {week.marker}"


def test_the_readme_module_table_lists_exactly_the_package_modules(manifest):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The package: `lapenna_labs`", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    on_disk = course._package_modules(ROOT / "lapenna_labs")
    assert listed == on_disk, (
        f"README lists {sorted(listed - on_disk)}, lacks {sorted(on_disk - listed)}"
    )
    assert set(manifest.modules) <= listed


def test_the_package_docstring_names_every_module():
    import lapenna_labs

    doc = lapenna_labs.__doc__
    for module in course._package_modules(ROOT / "lapenna_labs"):
        assert re.search(rf"^{module}\b", doc, flags=re.MULTILINE), f"{module} not in the docstring"
    assert not re.search(r"weeks? \d", doc), "the package docstring should not list weeks"


def test_the_toc_has_the_written_chapters_in_order(manifest):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert [f for f in files if "/week" in f] == manifest.chapters
    assert files[0] == "book/schedule" and files[-2:] == ["book/errata", "book/references"]


def test_the_schedule_shows_planned_weeks_as_not_yet_written(manifest):
    lines = course.schedule_markdown(manifest).splitlines()
    rows = [line for line in lines if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 12
    for week, row in zip(manifest.weeks, rows, strict=True):
        if week.written:
            assert f"{{lab}}`{week.lab}`" in row and "{doc}`week" in row
        else:
            assert row.count(course.NOT_WRITTEN) == 2


# ------------------------------------------------------------------------------- fake repositories

WEEK_1 = {
    "number": 1,
    "title": "One",
    "part": "I",
    "topics": "the first week",
    "chapter": "book/week01_one.md",
    "lab": "lab01",
    "lab_summary": "a function",
    "modules": ["alpha"],
    "status": "written",
}
WEEK_2 = {
    "number": 2,
    "title": "Two",
    "part": "II",
    "topics": "the second week",
    "chapter": "book/week02_two.md",
    "lab": "lab02",
    "modules": ["beta"],
    "status": "planned",
}


def write_manifest(root: Path, weeks: list[dict], **overrides) -> Path:
    data = {
        "parts": [{"id": "I", "title": "First"}, {"id": "II", "title": "Second"}],
        "weeks": weeks,
        "support_modules": ["course"],
        "template_lab": "lab00",
        "front_matter": ["book/schedule.md"],
        "back_matter": ["book/errata.md"],
        "root": "book/intro.md",
        **overrides,
    }
    path = root / "course.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A repository in which week 1 is written, week 2 planned, and everything agrees."""
    for rel in (
        "book/intro.md",
        "book/schedule.md",
        "book/errata.md",
        "book/week01_one.md",
        "autograder/notebooks/lab00.py",
        "autograder/notebooks/lab01.py",
        "labs/lab01.ipynb",
        "lapenna_labs/__init__.py",
        "lapenna_labs/_private.py",
        "lapenna_labs/alpha.py",
        "lapenna_labs/course.py",
        "tests/test_alpha.py",
        "tests/test_course.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        f"# Fake\n\n{course.README_BEGIN}\n{course.README_END}\n\nmore\n", encoding="utf-8"
    )
    write_manifest(tmp_path, [WEEK_1, WEEK_2])
    course.sync(tmp_path)
    return tmp_path


def test_a_consistent_fake_repository_has_no_problems(fake_repo):
    assert course.check(fake_repo) == []
    assert course.sync(fake_repo) == []  # nothing left to rewrite


def test_a_planned_weeks_module_may_land_before_its_chapter_with_its_tests(fake_repo):
    (fake_repo / "lapenna_labs/beta.py").write_text("\n", encoding="utf-8")
    (fake_repo / "tests/test_beta.py").write_text("\n", encoding="utf-8")
    assert course.check(fake_repo) == []


def test_sync_writes_the_toc_and_the_readme_table(fake_repo):
    toc = yaml.safe_load((fake_repo / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["parts"][1] == {
        "caption": "Part I. First",
        "chapters": [{"file": "book/week01_one"}],
    }
    assert "Part II. Second" not in str(toc)  # a part with no written week has no caption yet
    readme = (fake_repo / "README.md").read_text(encoding="utf-8")
    assert "| 1 | One | [`book/week01_one.md`]" in readme
    assert "| 2 | Two | not yet written | not yet written | `beta` |" in readme
    assert readme.endswith("more\n")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: (r / "book/week01_one.md").unlink(), "week 1 is written but book/week01_one.md"),
        (lambda r: (r / "labs/lab01.ipynb").unlink(), "labs/lab01.ipynb is missing"),
        (lambda r: (r / "lapenna_labs/alpha.py").unlink(), "module lapenna_labs.alpha is missing"),
        (lambda r: (r / "tests/test_alpha.py").unlink(), "module alpha has no tests/test_alpha.py"),
        (lambda r: (r / "book/week02_two.md").write_text(""), "week 2 is planned but book/week02"),
        (lambda r: (r / "book/week03_extra.md").write_text(""), "week03_extra.md is not a chapter"),
        (lambda r: (r / "autograder/notebooks/lab07.py").write_text(""), "lab07.py is not the lab"),
        (
            lambda r: (r / "lapenna_labs/gamma.py").write_text(""),
            "lapenna_labs.gamma belongs to no",
        ),
        (lambda r: (r / "lapenna_labs/beta.py").write_text(""), "module beta has no tests"),
        (lambda r: (r / "autograder/notebooks/lab00.py").unlink(), "the template lab"),
        (lambda r: (r / "book/errata.md").unlink(), "book/errata.md (in course.yml) is missing"),
        (lambda r: (r / "_toc.yml").write_text("format: jb-book\n"), "_toc.yml is out of date"),
        (
            lambda r: (r / "README.md").write_text(
                (r / "README.md").read_text().replace("| One |", "| Uno |")
            ),
            "README.md is out of date",
        ),
        (lambda r: (r / "README.md").write_text("# no table\n"), "README.md has no"),
    ],
)
def test_check_reports_each_disagreement(fake_repo, change, expected):
    change(fake_repo)
    problems = course.check(fake_repo)
    assert any(expected in p for p in problems), problems


def test_a_test_file_per_module_may_be_split(fake_repo):
    (fake_repo / "tests/test_alpha.py").unlink()
    (fake_repo / "tests/test_alpha_part.py").write_text("\n")
    assert course.check(fake_repo) == []


def test_a_subpackage_counts_as_a_module(fake_repo):
    (fake_repo / "lapenna_labs/alpha.py").unlink()
    (fake_repo / "lapenna_labs/alpha").mkdir()
    (fake_repo / "lapenna_labs/alpha/__init__.py").write_text("\n")
    assert course.check(fake_repo) == []


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [
        ([WEEK_2, WEEK_1], "numbered 1, 2, 3"),
        ([{**WEEK_1, "chapter": "book/week02_one.md"}], "chapter must be book/week01_<name>.md"),
        ([{**WEEK_1, "chapter": "book/Week01 One.md"}], "chapter must be"),
        ([{**WEEK_1, "lab": "lab1"}], "lab must be lab01"),
        ([{**WEEK_1, "part": "IX"}], "part 'IX' is not one of"),
        ([{**WEEK_1, "status": "done"}], "status must be one of"),
        ([{**WEEK_1, "lab_summary": ""}], "written but has no lab_summary"),
        ([{**WEEK_1, "colour": "red"}], "unknown keys ['colour']"),
        ([{k: v for k, v in WEEK_1.items() if k != "title"}], "week 1 has no 'title'"),
        ([{**WEEK_1, "number": "1"}], "'number' must be int"),
        ([{**WEEK_1, "modules": ["Not A Module"]}], "is not a module name"),
        (["week one"], "weeks[0] must be a mapping"),
    ],
)
def test_load_rejects_a_malformed_manifest(tmp_path, weeks, expected):
    path = write_manifest(tmp_path, weeks)
    with pytest.raises(course.CourseError) as info:
        course.load(path)
    assert expected in str(info.value)


def test_load_rejects_a_template_lab_that_is_a_week(tmp_path):
    path = write_manifest(tmp_path, [WEEK_1], template_lab="lab01")
    with pytest.raises(course.CourseError, match="template_lab"):
        course.load(path)


def test_load_says_where_the_manifest_lives(tmp_path):
    with pytest.raises(course.CourseError, match="ships with the LAPENNA repository"):
        course.load(tmp_path / "course.yml")


def test_week_lookup(manifest):
    assert manifest.week(4).docname == "book/week04_backprop_optimizers"
    with pytest.raises(course.CourseError, match="no week 13"):
        manifest.week(13)


def test_the_command_line_check_exits_nonzero_on_a_problem(fake_repo, capsys):
    assert course.main(["check", "--root", str(fake_repo)]) == 0
    shutil.rmtree(fake_repo / "labs")
    assert course.main(["check", "--root", str(fake_repo)]) == 1
    assert "labs/lab01.ipynb is missing" in capsys.readouterr().out
