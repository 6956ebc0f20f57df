"""The documentation is tested: code in README.md and docs/*.md, and docstring examples.

- Every ```python block in a page runs, in order, in one namespace per page, so a
  block can use the names defined by the blocks above it. A block written as a
  ``>>>`` session is run as a doctest, so its printed output (jaxprs, numbers) is
  checked; any other block is executed and may check itself with ``assert``.
- A block whose info string is ``python excerpt=<path>`` quotes fungrad's own code:
  it is not run, but each of its chunks (separated by a line ``...``) must appear
  verbatim, in order, in that file, so a quotation cannot drift from the source.
- A page that needs an optional package says so in a comment of its own line,
  ``<!-- requires: sklearn (the examples extra) -->``, and is skipped, with the
  command that installs the extra, where the package is missing.
- Every module of the fungrad package has its docstring examples run.
- Links between pages point at files and headings that exist.
- The README's commands are the ones CI runs, and its main example does what the
  README says it does.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import os
import pkgutil
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import fungrad

ROOT = Path(__file__).resolve().parent.parent
DOC_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCTEST_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@dataclass
class Block:
    info: str  # the fence's info string, e.g. "python" or "python excerpt=fungrad/api.py"
    code: str
    lineno: int  # line of the first code line in the page, 1-based


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")


def fenced_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, with their indentation removed."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            j += 1
        blocks.append(Block(opening["info"].strip(), "\n".join(body) + "\n", i + 2))
        i = j + 1
    return blocks


def _is_python(block: Block) -> bool:
    words = block.info.split()
    return bool(words) and words[0] == "python"


def _excerpt_source(block: Block) -> str | None:
    for word in block.info.split()[1:]:
        if word.startswith("excerpt="):
            return word.removeprefix("excerpt=")
    return None


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _run_doctest(block: Block, namespace: dict, page: str) -> str:
    """Run a ``>>>`` block; returns doctest's report of its failures ("" if none)."""
    name = f"{page}:{block.lineno}"
    test = doctest.DocTestParser().get_doctest(block.code, namespace, name, page, block.lineno - 1)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)
    return report.getvalue() if result.failed else ""


def _run_script(block: Block, namespace: dict, page: str) -> None:
    # Pad with blank lines so tracebacks point at the line in the page.
    source = "\n" * (block.lineno - 1) + block.code
    exec(compile(source, page, "exec"), namespace)


def _check_excerpt(block: Block, source_path: str, page: str) -> str:
    """Check a quotation of fungrad's source; returns what is wrong ("" if nothing)."""
    source = (ROOT / source_path).read_text().splitlines()
    source = [line.rstrip() for line in source]
    chunks: list[list[str]] = [[]]
    for line in block.code.rstrip("\n").splitlines():
        if line.strip() == "...":
            chunks.append([])
        else:
            chunks[-1].append(line.rstrip())
    position = 0
    for chunk in filter(None, chunks):
        for start in range(position, len(source) - len(chunk) + 1):
            if source[start : start + len(chunk)] == chunk:
                position = start + len(chunk)
                break
        else:
            return (
                f"{page}:{block.lineno} quotes {source_path}, but this part is not in it "
                "(in this order):\n" + "\n".join(chunk) + "\n"
            )
    return ""


_REQUIRES = re.compile(
    r"^<!-- requires: (?P<modules>[\w.]+(?: [\w.]+)*) \(the (?P<extra>[\w-]+) extra\) -->$",
    re.MULTILINE,
)


def required_modules(text: str) -> list[tuple[str, str]]:
    """The ``(module, extra)`` pairs that a page's ``<!-- requires: ... -->`` lines name."""
    return [
        (module, match["extra"])
        for match in _REQUIRES.finditer(text)
        for module in match["modules"].split()
    ]


def skip_unless_importable(text: str, page: str) -> None:
    """Skip the test of a page whose required optional packages are not installed."""
    for module, extra in required_modules(text):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(
                f"{page} needs {module}, from the {extra} extra: "
                f'python -m pip install "fungrad[{extra}]"'
            )


@pytest.mark.parametrize("page", [pytest.param(p, id=_page_id(p)) for p in DOC_PAGES])
def test_code_blocks_in_page_run(page: Path) -> None:
    name = _page_id(page)
    text = page.read_text()
    skip_unless_importable(text, name)
    blocks = [b for b in fenced_blocks(text) if _is_python(b)]
    assert blocks, f"{name} has no python code blocks"
    namespace: dict = {"__name__": f"docs:{name}"}
    failures = []  # every block runs, so one run shows everything that drifted
    for block in blocks:
        excerpt = _excerpt_source(block)
        if excerpt is not None:
            failures.append(_check_excerpt(block, excerpt, name))
        elif any(line.lstrip().startswith(">>>") for line in block.code.splitlines()):
            failures.append(_run_doctest(block, namespace, name))
        else:
            _run_script(block, namespace, name)
    if any(failures):
        pytest.fail(f"code blocks in {name} do not do what they show:\n" + "".join(failures))


def test_requires_comment_names_modules_and_their_extra() -> None:
    text = "# Page\n<!-- requires: sklearn matplotlib.pyplot (the examples extra) -->\n"
    assert required_modules(text) == [("sklearn", "examples"), ("matplotlib.pyplot", "examples")]
    assert required_modules("<!-- a comment -->\n") == []


def test_page_needing_a_missing_module_is_skipped_with_the_install_command() -> None:
    text = "<!-- requires: numpy no_such_module_of_fungrad (the examples extra) -->\n"
    with pytest.raises(
        pytest.skip.Exception,
        match=r"page\.md needs no_such_module_of_fungrad, from the examples extra: "
        r'python -m pip install "fungrad\[examples\]"',
    ):
        skip_unless_importable(text, "page.md")
    skip_unless_importable("<!-- requires: numpy (the examples extra) -->\n", "page.md")


def _declared_extras() -> set[str]:
    """The names of the optional-dependency groups in pyproject.toml."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+) = \[", section, re.MULTILINE))


def test_requires_comments_in_pages_are_well_formed_and_name_declared_extras() -> None:
    extras = _declared_extras()
    assert "examples" in extras, extras
    wrong = []
    for page in DOC_PAGES:
        text = page.read_text()
        for line in re.findall(r"^<!-- *requires\b.*$", text, re.MULTILINE):
            if not _REQUIRES.fullmatch(line):
                wrong.append(
                    f"{_page_id(page)}: {line!r} is not '<!-- requires: "
                    "MODULE ... (the EXTRA extra) -->'"
                )
        for module, extra in required_modules(text):
            if extra not in extras:
                wrong.append(
                    f"{_page_id(page)}: {module} from an extra {extra!r} that "
                    f"pyproject.toml does not declare ({sorted(extras)})"
                )
    assert not wrong, "\n".join(wrong)


def _github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lowercase, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text()
    for block in fenced_blocks(text):  # a '#' line inside a code block is not a heading
        text = text.replace(block.code, "")
    return {_github_anchor(m[1]) for m in re.finditer(r"^#{1,6} +(.+)$", text, re.MULTILINE)}


_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", [pytest.param(p, id=_page_id(p)) for p in DOC_PAGES])
def test_links_in_page_resolve(page: Path) -> None:
    broken = []
    for match in _LINK.finditer(page.read_text()):
        target = match["target"]
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, f"broken links in {_page_id(page)}:\n" + "\n".join(broken)


def _fungrad_modules() -> list[str]:
    names = [fungrad.__name__]
    names += [m.name for m in pkgutil.walk_packages(fungrad.__path__, fungrad.__name__ + ".")]
    return sorted(names)


@pytest.mark.parametrize("module_name", _fungrad_modules())
def test_docstring_examples_in_module(module_name: str) -> None:
    module = importlib.import_module(module_name)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    for test in doctest.DocTestFinder().find(module, module_name):
        runner.run(test, out=report.write)
    if runner.failures:
        pytest.fail(f"docstring examples in {module_name} fail:\n{report.getvalue()}")


def test_readme_commands_are_the_ones_ci_runs() -> None:
    ci_script = (ROOT / ".ci" / "run").read_text().splitlines()
    readme = (ROOT / "README.md").read_text()
    commands = [
        line.strip()
        for previous, line in zip(ci_script, ci_script[1:])
        if previous.lstrip().startswith("#") and "(README)" in previous
    ]
    assert len(commands) == 2, commands
    for command in commands:
        assert command in readme, f"README.md does not show the CI command {command!r}"


def test_main_example_trains_to_the_accuracy_the_readme_promises() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    check = (
        "import runpy, sys; "
        "runpy.run_path('examples/train_mlp.py', run_name='__main__'); "
        "assert 'matplotlib' not in sys.modules, 'the example imported matplotlib'"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    losses = [float(m) for m in re.findall(r"loss (\d+\.\d+)", done.stdout)]
    assert len(losses) > 2 and losses[-1] < losses[0] / 10, done.stdout
    accuracy = re.search(r"final train accuracy (\d+\.\d+)%", done.stdout)
    assert accuracy and float(accuracy[1]) > 90.0, done.stdout
