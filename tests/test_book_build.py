"""The book builds, executes cleanly, links to real notebooks and renders its math.

One real ``jupyter-book build`` per test session (module-scoped fixture), into the repository's
own ``_build/`` so that it shares the execution cache with ``make book``: from a fresh clone the
first run executes every chapter (a few minutes on 2 cores); after that only changed chapters
run again. ``--all`` makes Sphinx re-read every page, so warnings of unchanged pages are reported
again instead of hiding in the incremental build.

The browser checks need Chromium (``apt-get install chromium``); without it they skip.
Screenshots are kept in ``_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from lapenna_labs import course

pytestmark = [pytest.mark.book, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
PACKAGE_STAMP = BUILD / ".package-executed"  # the Makefile's PACKAGE_STAMP
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
BUILD_LOG = BUILD / "book-build.log"

# The written weeks' chapters (from course.yml): each must show a figure and a Colab badge.
CHAPTERS = course.load().chapters

# What TensorFlow / absl / XLA print when their logging is not silenced.
TF_LOG_PATTERNS = [
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", re.MULTILINE),  # glog/absl line prefix
    re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ", re.MULTILINE),  # TF C++ logger
    re.compile(r"tensorflow/(core|compiler|tsl)/"),
    re.compile(r"oneDNN custom operations are on"),
    re.compile(r"This TensorFlow binary is optimized"),
    re.compile(r"Could not find cuda drivers|Unable to register cu(DNN|FFT|BLAS) factory"),
    re.compile(r"WARNING: All log messages before absl::InitializeLog"),
]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def load_extension():
    """Import book/_ext/lapenna_colab.py (the book's local Sphinx extension) as a module."""
    spec = importlib.util.spec_from_file_location(
        "lapenna_colab", ROOT / "book" / "_ext" / "lapenna_colab.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_colab_url_derives_from_the_repository_setting():
    ext = load_extension()
    assert (
        ext.colab_url("https://github.com/someone/fork.git", "dev", "lab03")
        == "https://colab.research.google.com/github/someone/fork/blob/dev/labs/lab03.ipynb"
    )
    with pytest.raises(ValueError, match="not https://github.com"):
        ext.colab_url("https://gitlab.com/someone", "main", "lab03")
    assert ext.erratum_label("code_grad_w2") == "erratum-code-grad-w2"


def read_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def toc_files() -> list[str]:
    """Every document named in ``_toc.yml`` (root included), without extension."""
    toc = read_yaml(ROOT / "_toc.yml")
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def html_page(doc: str) -> Path:
    return HTML / f"{doc}.html"


def soup_of(path: Path):
    bs4 = pytest.importorskip("bs4")
    return bs4.BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.fixture(scope="module")
def book_build() -> subprocess.CompletedProcess:
    """Build the book once (executing with the cache) and return the finished process."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        found = shutil.which("jupyter-book")
        if found is None:
            pytest.fail("jupyter-book is not installed: run `make install` first")
        jupyter_book = Path(found)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    # The cache keys on a chapter's own cells: outputs cached before a change to lapenna_labs
    # would pass here without running the changed code.
    subprocess.run(["make", "-s", "book-cache"], cwd=ROOT, check=True)
    command = [str(jupyter_book), "build", str(ROOT), "-W", "--keep-going", "--all"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    BUILD.mkdir(exist_ok=True)
    if result.returncode == 0:
        PACKAGE_STAMP.touch()  # what `make book` touches after a build: the cache is current
    BUILD_LOG.write_text(result.stdout + "\n--- stderr ---\n" + result.stderr, encoding="utf-8")
    return result


def test_build_succeeds_without_warnings(book_build):
    log = book_build.stdout + book_build.stderr
    problems = [
        # Sphinx's "path:line: WARNING: ..." lines; not the kernel's "[IPKernelApp] WARNING | ..."
        line
        for line in log.splitlines()
        if re.search(r"\b(WARNING|ERROR|CRITICAL|SEVERE):", line)
    ]
    assert book_build.returncode == 0, (
        f"jupyter-book build failed (exit {book_build.returncode}); full log in {BUILD_LOG}:\n"
        + "\n".join(problems[:40] or log.splitlines()[-40:])
    )
    assert problems == [], f"the build printed warnings (log in {BUILD_LOG}):\n" + "\n".join(
        problems
    )
    assert (HTML / "index.html").exists()


def test_every_toc_page_exists(book_build):
    missing = [doc for doc in toc_files() if not html_page(doc).exists()]
    assert missing == [], f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_has_figures_that_exist(book_build, doc):
    page = html_page(doc)
    assert page.exists(), f"{page} was not built"
    soup = soup_of(page)
    images = soup.select("article img, main img, div.cell_output img")
    assert images, f"{doc} shows no figure"
    for image in images:
        source = image.get("src", "")
        if source.startswith("data:"):
            continue
        assert not urlparse(source).scheme, f"{doc} loads an image from the network: {source}"
        target = (page.parent / source.split("#")[0]).resolve()
        assert target.is_file(), f"{doc}: image {source} does not exist at {target}"


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_has_code_outputs_and_exercises(book_build, doc):
    soup = soup_of(html_page(doc))
    assert soup.select("div.cell"), f"{doc} has no executed code cells"
    assert soup.select("div.cell_output"), f"{doc} has no code output"
    dropdowns = soup.select("div.admonition.dropdown, details")
    assert dropdowns, f"{doc} has no exercise solution in a dropdown"
    assert soup.select("a.lapenna-colab-badge"), f"{doc} has no Colab badge for its lab"


def all_html_pages() -> list[Path]:
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts)


def test_no_traceback_or_tensorflow_log_in_outputs(book_build):
    offenders = []
    for page in all_html_pages():
        soup = soup_of(page)
        for output in soup.select("div.cell_output, div.output"):
            text = output.get_text("\n")
            if "Traceback" in text:
                offenders.append(f"{page.relative_to(HTML)}: Traceback in output")
            offenders += [
                f"{page.relative_to(HTML)}: TensorFlow log line {pattern.pattern!r}"
                for pattern in TF_LOG_PATTERNS
                if pattern.search(text)
            ]
        if soup.select("div.output.stderr, div.output.traceback, div.output.error"):
            offenders.append(f"{page.relative_to(HTML)}: stderr or error output block")
    assert offenders == [], "\n".join(offenders)


def colab_links() -> list[tuple[Path, str]]:
    links = []
    for page in all_html_pages():
        for anchor in soup_of(page).select("a[href]"):
            if "colab.research.google.com" in anchor["href"]:
                links.append((page, anchor["href"]))
    return links


def test_every_colab_link_opens_a_notebook_in_the_repository(book_build):
    repository = read_yaml(ROOT / "_config.yml")["repository"]
    owner_repo = "/".join(urlparse(repository["url"]).path.strip("/").split("/")[:2])
    prefix = f"/github/{owner_repo.removesuffix('.git')}/blob/{repository['branch']}/"
    links = colab_links()
    assert links, "the book has no Colab link at all"
    problems = []
    for page, href in links:
        url = urlparse(href)
        where = f"{page.relative_to(HTML)} -> {href}"
        if not url.path.startswith(prefix):
            problems.append(f"{where}: does not derive from _config.yml repository ({prefix})")
            continue
        path = url.path[len(prefix) :]
        if not path.endswith(".ipynb"):
            problems.append(f"{where}: Colab can only open .ipynb files")
        elif not (ROOT / path).is_file():
            problems.append(f"{where}: {path} does not exist in the repository")
    assert problems == [], "\n".join(problems)


def test_no_builtin_launch_button_for_markdown_pages(book_build):
    for doc in CHAPTERS:
        soup = soup_of(html_page(doc))
        launch = [a["href"] for a in soup.select("a[href]") if "colab" in a["href"].lower()]
        assert all(href.endswith(".ipynb") for href in launch), f"{doc}: {launch}"


def test_mathjax_is_served_from_the_build(book_build):
    soup = soup_of(html_page(CHAPTERS[0]))
    sources = [tag.get("src", "") for tag in soup.select("script[src]")]
    mathjax = [src for src in sources if "mathjax" in src.lower()]
    assert mathjax, "no MathJax script on the page"
    assert all(not urlparse(src).scheme for src in mathjax), f"MathJax from the network: {mathjax}"
    sources += [tag.get("href", "") for tag in soup.select("link[rel~=stylesheet]")]
    remote = [src for src in sources if urlparse(src).scheme in {"http", "https"}]
    assert remote == [], f"scripts or styles loaded from the network: {remote}"


# ---- browser checks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "Chromium is not installed, so the screenshot and math-rendering checks are skipped. "
        "Install it with `apt-get install chromium` (Debian/Ubuntu)."
    )


def run_browser(browser: str, *arguments: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="lapenna-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            *arguments,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=180)


MATH_PAGES = CHAPTERS + ["book/errata"]


@pytest.mark.parametrize("doc", MATH_PAGES)
def test_screenshot_and_rendered_math(book_build, browser, doc):
    page = html_page(doc)
    assert page.exists(), f"{page} was not built"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / f"{Path(doc).name}.png"
    png.unlink(missing_ok=True)
    shot = run_browser(browser, "--virtual-time-budget=15000", f"--screenshot={png}", page.as_uri())
    assert png.is_file() and png.stat().st_size > 10_000, f"no screenshot: {shot.stderr[-2000:]}"

    dom = run_browser(browser, "--virtual-time-budget=15000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    bs4 = pytest.importorskip("bs4")
    soup = bs4.BeautifulSoup(dom.stdout, "html.parser")
    source = soup_of(page)
    math_in_source = source.select(".math")
    if not math_in_source:
        pytest.skip(f"{doc} has no math")
    assert soup.select("mjx-container"), f"{doc}: MathJax rendered nothing"
    assert not soup.select("mjx-merror"), f"{doc}: MathJax reported a TeX error"
    for tag in soup.select("script, style, pre, code, .highlight, .cell_input"):
        tag.decompose()
    text = soup.get_text(" ")
    leftovers = [token for token in ("$$", "\\[", "\\(", "\\begin{") if token in text]
    assert leftovers == [], f"{doc}: raw TeX left in the rendered page: {leftovers}"
