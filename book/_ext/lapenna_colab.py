"""Small Sphinx additions for the LAPENNA book: Colab badges and links to erratum boxes.

``{lab}`` role: an "Open in Colab" badge for a week's lab.

Usage in a MyST page::

    {lab}`lab03`                      -> badge "Open lab03 in Colab"
    {lab}`Week 3 lab <lab03>`         -> badge with your own text

The link is ``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/labs/lab03.ipynb``.
Owner, repository and branch are read from ``repository: url:`` and ``repository: branch:`` in
``_config.yml`` (Jupyter Book passes them to Sphinx as ``html_theme_options['repository_url']`` and
``['repository_branch']``), so moving the repository is a one-line edit there. Colab can only open
notebooks, which is why the badge points at the lab's ``.ipynb`` and never at the chapter's ``.md``.

``{erratum}`` role and ``erratum-boxes`` directive: links from the errata page to the erratum boxes
in the chapters, resolved when the pages are written (not when the errata page is executed, whose
output is cached). ``{erratum}`code_grad_w2``` links to the label ``(erratum-code-grad-w2)=`` if a
chapter has it and renders "no box in a chapter" otherwise, so a renamed box never breaks the
build. ``erratum-boxes`` with ``:known: id1, id2`` lists every ``erratum-*`` label of the book that
matches none of the known ids.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective, SphinxRole
from sphinx.util.nodes import split_explicit_title

COLAB_GITHUB = "https://colab.research.google.com/github"
LAB_NAME = re.compile(r"^lab\d\d$")
__version__ = "1.0"


def github_owner_repo(repository_url: str) -> str:
    """Return ``owner/repo`` from a GitHub URL such as ``https://github.com/owner/repo(.git)``.

    Raises
    ------
    ValueError
        If the URL is not a github.com repository URL (Colab's ``/github/`` route needs one).
    """
    parsed = urlparse(repository_url)
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.netloc.lower() not in {"github.com", "www.github.com"} or len(parts) < 2:
        raise ValueError(
            f"lapenna_colab: repository url {repository_url!r} is not https://github.com/<owner>/<repo>"
        )
    repo = parts[1][:-4] if parts[1].endswith(".git") else parts[1]
    return f"{parts[0]}/{repo}"


def colab_url(repository_url: str, branch: str, lab: str, labs_dir: str = "labs") -> str:
    """Colab URL of ``<labs_dir>/<lab>.ipynb`` in the repository at ``branch``."""
    return (
        f"{COLAB_GITHUB}/{github_owner_repo(repository_url)}/blob/{branch}/{labs_dir}/{lab}.ipynb"
    )


class LabRole(SphinxRole):
    """``{lab}`labNN``` -> an "Open in Colab" badge linking to the lab notebook."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        has_title, title, lab = split_explicit_title(self.text)
        lab = lab.strip()
        if not LAB_NAME.match(lab):
            msg = self.inliner.reporter.error(
                f"lab role: {lab!r} is not a lab name like 'lab03'", line=self.lineno
            )
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        options = self.config.html_theme_options or {}
        repository_url = options.get("repository_url", "")
        branch = options.get("repository_branch", "") or "main"
        try:
            url = colab_url(repository_url, branch, lab, self.config.lapenna_labs_dir)
        except ValueError as error:
            msg = self.inliner.reporter.error(str(error), line=self.lineno)
            return [self.inliner.problematic(self.rawtext, self.rawtext, msg)], [msg]
        text = title if has_title else f"Open {lab} in Colab"
        link = nodes.reference(
            self.rawtext, "", refuri=url, classes=["lapenna-colab-badge"], internal=False
        )
        link += nodes.inline("", "Colab", classes=["lapenna-colab-badge-logo"])
        link += nodes.inline("", text, classes=["lapenna-colab-badge-text"])
        return [link], []


def erratum_label(erratum_id: str) -> str:
    """``'code_grad_w2'`` -> ``'erratum-code-grad-w2'`` (labels use hyphens, ids underscores)."""
    name = re.sub(r"[\s_]+", "-", erratum_id.strip().lower())
    return name if name.startswith("erratum-") else f"erratum-{name}"


class erratum_link(nodes.Inline, nodes.TextElement):
    """Placeholder for a link to an erratum box, resolved in :func:`resolve_erratum_nodes`."""


class erratum_boxes(nodes.General, nodes.Element):
    """Placeholder for the list of erratum boxes that match no known id."""


class ErratumRole(SphinxRole):
    """``{erratum}`id``` or ``{erratum}`text <id>``` -> link to the chapter box of that erratum."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        has_title, title, target = split_explicit_title(self.text)
        node = erratum_link(self.rawtext, title if has_title else "", label=erratum_label(target))
        _remember_erratum_page(self.env)
        return [node], []


class ErratumBoxesDirective(SphinxDirective):
    """List the book's erratum boxes whose label matches none of ``:known:`` (comma-separated)."""

    option_spec = {"known": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        known = [k for k in self.options.get("known", "").replace(",", " ").split() if k]
        _remember_erratum_page(self.env)
        return [erratum_boxes("", known=[erratum_label(k) for k in known])]


def _remember_erratum_page(env) -> None:
    """Note that the page being read links to erratum boxes (see :func:`reread_erratum_pages`)."""
    if not hasattr(env, "lapenna_erratum_pages"):
        env.lapenna_erratum_pages = set()
    env.lapenna_erratum_pages.add(env.docname)


def reread_erratum_pages(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Re-read pages with erratum links on every build: the boxes they link to live in other
    pages, which may have changed. Cheap: their executed outputs come from the cache."""
    return sorted(getattr(env, "lapenna_erratum_pages", set()) & env.found_docs)


def _box_reference(app: Sphinx, fromdocname: str, label: str, text: str) -> nodes.Node:
    docname, labelid = app.env.domaindata["std"]["anonlabels"][label]
    uri = app.builder.get_relative_uri(fromdocname, docname) + "#" + labelid
    reference = nodes.reference("", "", internal=True, refuri=uri)
    reference += nodes.inline("", text)
    return reference


def _chapter_title(app: Sphinx, docname: str) -> str:
    title = app.env.titles.get(docname)
    return title.astext() if title is not None else docname


def resolve_erratum_nodes(app: Sphinx, doctree: nodes.document, fromdocname: str) -> None:
    labels = app.env.domaindata["std"]["anonlabels"]
    for node in list(doctree.findall(erratum_link)):
        label = node["label"]
        if label in labels:
            text = node.astext() or f"box in {_chapter_title(app, labels[label][0])}"
            node.replace_self(_box_reference(app, fromdocname, label, text))
        else:
            node.replace_self(nodes.emphasis("", "no box in a chapter"))
    for node in list(doctree.findall(erratum_boxes)):
        extra = sorted(
            label for label in labels if label.startswith("erratum-") and label not in node["known"]
        )
        if not extra:
            node.replace_self(nodes.paragraph("", "None: every box matches an entry."))
            continue
        items = nodes.bullet_list()
        for label in extra:
            docname = labels[label][0]
            name = label.removeprefix("erratum-").replace("-", " ")
            text = f"{name} ({_chapter_title(app, docname)})"
            items += nodes.list_item(
                "", nodes.paragraph("", "", _box_reference(app, fromdocname, label, text))
            )
        node.replace_self(items)


def setup(app: Sphinx) -> dict:
    app.add_config_value("lapenna_labs_dir", "labs", "env")
    app.add_role("lab", LabRole())
    app.add_role("erratum", ErratumRole())
    app.add_directive("erratum-boxes", ErratumBoxesDirective)
    app.add_node(erratum_link)
    app.add_node(erratum_boxes)
    app.connect("doctree-resolved", resolve_erratum_nodes)
    app.connect("env-get-outdated", reread_erratum_pages)
    css = Path(__file__).resolve().parent.parent / "_static" / "lapenna.css"
    if css.exists():
        app.add_css_file("lapenna.css")
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
