"""Tests for lapenna_labs.examples.errata: the errata list itself and the page built from it.

The numbers each erratum claims are checked in test_examples.py (one ``test_erratum_<id>`` per
entry, against PyTorch and published values). Here: every entry is complete, names a proof
function that exists, recomputes its right value by calling that function, and the book's
errata page renders the list by looping over it, with no entry restated by hand.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from lapenna_labs import examples as ex
from lapenna_labs.examples import SLIDE_ERRATA, SLIDE_TYPOS
from lapenna_labs.grading import ReferenceBlockedError, reference_blocked

ERRATA_PAGE = Path(__file__).resolve().parents[1] / "book" / "errata.md"

pytestmark = pytest.mark.lab4


def proof_function(entry):
    """The function an entry's ``proof`` names, imported from its dotted name."""
    module, _, name = entry.proof.rpartition(".")
    return getattr(importlib.import_module(module), name)


def framework_needed(entry) -> str | None:
    """The framework the entry's proof imports (keras or tensorflow), if any."""
    source = inspect.getsource(proof_function(entry))
    return next((f for f in ("keras", "tensorflow") if f"import {f}" in source), None)


def test_errata_entries_are_complete():
    ids = [e.id for e in SLIDE_ERRATA]
    assert len(ids) == len(set(ids))
    for e in SLIDE_ERRATA:
        assert e.location and e.slides_say and e.correct and e.proof
        assert e.kind in {"value", "formula", "code", "definition"}
        assert isinstance(e.recorded, bool)
    assert len({t.id for t in SLIDE_TYPOS}) == len(SLIDE_TYPOS)
    for entry in SLIDE_ERRATA + SLIDE_TYPOS:
        assert entry.source_checked and isinstance(entry.transcription_doubt, str)


def test_the_errata_that_may_be_the_transcriptions_say_so():
    # The loop's indentation, the misaligned loss tables and the softmax exercise's minus
    # signs may come from the transcription of the slides, not from the slides.
    doubted = {e.id for e in SLIDE_ERRATA + SLIDE_TYPOS if e.transcription_doubt}
    assert {"two_layer_numpy_loop", "cce_batch_table", "softmax_exercise_signs"} <= doubted
    assert "transcription" in ex.SLIDES_TRANSCRIPTION


@pytest.mark.parametrize("entry", SLIDE_ERRATA, ids=lambda e: e.id)
def test_every_proof_names_a_function_of_the_package(entry):
    fn = proof_function(entry)
    assert callable(fn), entry.proof
    assert entry.proof.startswith("lapenna_labs.")
    # the same object under its public name and in the module that defines it
    assert fn is getattr(importlib.import_module(fn.__module__), fn.__name__)


@pytest.mark.parametrize("entry", SLIDE_ERRATA, ids=lambda e: e.id)
def test_every_erratum_recomputes_by_calling_its_proof(entry):
    # With the proof function blocked, recompute must run into it: the value it prints comes
    # from the function the entry names, not from a number typed in beside it.
    with reference_blocked(proof_function(entry)) as attempts:
        with pytest.raises(ReferenceBlockedError):
            entry.recompute()
    assert attempts


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, id=e.id, marks=pytest.mark.slow if framework_needed(e) else ())
        for e in SLIDE_ERRATA
    ],
)
def test_every_erratum_recomputes_to_one_line_of_text(entry):
    if framework := framework_needed(entry):
        pytest.importorskip(framework)
    text = entry.recompute()
    assert isinstance(text, str) and text.strip() and "\n" not in text


def test_erratum_looks_up_by_id():
    assert ex.erratum("code_grad_w2") is next(e for e in SLIDE_ERRATA if e.id == "code_grad_w2")
    with pytest.raises(
        ValueError, match="erratum: unknown id 'nope'; valid ids are forward_graph_z"
    ):
        ex.erratum("nope")


def test_the_errata_page_loops_over_the_list_and_restates_no_entry():
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(ERRATA_PAGE)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "ex.SLIDE_ERRATA" in code and ".recompute()" in code and "ex.SLIDE_TYPOS" in code
    restated = [
        e.id for e in SLIDE_ERRATA + SLIDE_TYPOS if f'"{e.id}"' in code or f"'{e.id}'" in code
    ]
    assert restated == []


def test_the_errata_page_says_per_entry_where_its_value_and_its_check_come_from():
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(ERRATA_PAGE)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    # computed now or read from a recorded run, by the entry's own flag, not one claim for all
    assert "entry.recorded" in code and "From a recorded run" in code
    assert "entry.transcription_doubt" in code and "ex.SLIDES_TRANSCRIPTION" in code
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "recorded run" in prose and "transcription" in prose


BOOK = ERRATA_PAGE.parent
BOX_LABEL = re.compile(r"^\((erratum-[^)]*)\)=\s*$", re.MULTILINE)

# Chapter boxes that deliberately match no entry of SLIDE_ERRATA; the errata page lists them under
# "Also flagged in the chapters". label -> why it is not an entry.
ALSO_FLAGGED_BOXES: dict[str, str] = {
    "erratum-flops-vs-macs": (
        "week 7: torchvision's and the ResNet paper's 'FLOPs' are multiply-adds; not a slide error"
    ),
    "erratum-week08-deconvolution": (
        "week 8: the transposed convolution is no inverse of the convolution ('deconvolution'); "
        "a term of FCN and Caffe, not a slide error"
    ),
    "erratum-week08-upconv": (
        "week 8: U-Net's 'upsampling followed by a 2x2 convolution' matches the paper's Fig. 1 "
        "only as a transposed convolution; the paper's wording, not a slide error"
    ),
}


def test_every_erratum_box_in_the_chapters_names_a_current_erratum():
    # The errata page links to each entry's box by its label; a box left behind by a removed or
    # renamed entry (erratum-adam-beta2-default) would instead be listed as "also flagged".
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location(
        "lapenna_colab", BOOK / "_ext" / "lapenna_colab.py"
    )
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    current = {extension.erratum_label(e.id) for e in SLIDE_ERRATA}
    labels = {
        label: chapter.name
        for chapter in sorted(BOOK.glob("*.md"))
        for label in BOX_LABEL.findall(chapter.read_text(encoding="utf-8"))
    }
    assert labels, "no (erratum-...)= labels found in book/*.md"
    stale = {label: page for label, page in labels.items() if label not in current}
    assert stale.keys() == ALSO_FLAGGED_BOXES.keys(), stale
