"""The README and docs/ as written: their runnable examples run, their links resolve.

Every ```bash and ```python block in README.md and docs/*.md carries a marker on the line above:
`<!-- test -->` (run here, offline, on the CPU) or `<!-- no test: REASON -->` (downloads, GPUs,
days of training, files of the user's own). Bash blocks run in a fresh directory with the
repository's scripts linked in, one bash process per block (`set -e`); `pip install` lines are
skipped (this environment is that install). Python blocks run in one fresh process, each in its own
namespace and directory. The commands are read from the Markdown, never copied here.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(REPO, "docs"))
                              if n.endswith(".md"))
FENCE = re.compile(r"^( *)```(\w*)\s*$")
MARKER = re.compile(r"^ *<!-- (test|no test: \S.*) -->$")
RUNNABLE = ("bash", "python")


def code_blocks(path):
    """[(line number, language, marker or None, code)] of the fenced blocks of a Markdown file."""
    with open(os.path.join(REPO, path)) as f:
        lines = f.read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, language, start = m.group(1), m.group(2), i
        i += 1
        body = []
        while not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        marker = MARKER.match(lines[start - 1]) if start else None
        blocks.append((start + 1, language, marker.group(1) if marker else None, "\n".join(body) + "\n"))
        i += 1
    return blocks


def marked_for_test(language):
    return [pytest.param(code, id="%s:%d" % (path, line)) for path in DOCS
            for line, lang, marker, code in code_blocks(path) if lang == language and marker == "test"]


def test_every_runnable_block_says_whether_it_is_tested():
    unmarked = ["%s:%d" % (path, line) for path in DOCS for line, lang, marker, _ in code_blocks(path)
                if lang in RUNNABLE and marker is None]
    assert not unmarked, "blocks without <!-- test --> or <!-- no test: REASON -->: %s" % unmarked
    assert len(marked_for_test("bash")) >= 3 and len(marked_for_test("python")) >= 3


def workdir(tmp_path):
    """Make `tmp_path` a directory where `python run_generator.py ...` and `python scripts/...` work;
    returns the environment to run in (nothing from a user's network cache)."""
    for name in os.listdir(REPO):
        if name.endswith(".py") and name != "setup.py" or name == "scripts":
            os.symlink(os.path.join(REPO, name), tmp_path / name)
    return dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", TF_STYLEGAN2_CACHE=str(tmp_path / "cache"))


@pytest.mark.parametrize("code", marked_for_test("bash"))
def test_bash_example_runs_as_written(code, tmp_path):
    script = "\n".join(line for line in code.split("\n") if not line.startswith("pip install"))
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=str(tmp_path), env=workdir(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def test_python_examples_run_as_written(tmp_path):
    blocks = [p.values[0] for p in marked_for_test("python")]
    ids = [p.id for p in marked_for_test("python")]
    driver = textwrap.dedent("""\
        import os, sys, traceback
        blocks, ids, root = %r, %r, sys.argv[1]
        for i, (code, name) in enumerate(zip(blocks, ids)):
            os.makedirs(os.path.join(root, str(i)))
            os.chdir(os.path.join(root, str(i)))
            try:
                exec(compile(code, name, "exec"), {"__name__": "__main__"})
            except Exception:
                sys.exit("%%s failed:\\n%%s" %% (name, traceback.format_exc()))
        """) % (blocks, ids)
    proc = subprocess.run([sys.executable, "-c", driver, str(tmp_path)], cwd=str(tmp_path), env=workdir(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


# ---------------------------------------------------------------------------------------------
# Links

def slug(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of a Markdown file's headings (outside code blocks), with GitHub's -1, -2 for repeats."""
    with open(path) as f:
        text = re.sub(r"(?ms)^ *```.*?^ *```", "", f.read())
    seen, out = {}, set()
    for heading in re.findall(r"(?m)^#{1,6} +(.+?) *$", text):
        base = slug(heading)
        out.add(base if base not in seen else "%s-%d" % (base, seen[base]))
        seen[base] = seen.get(base, 0) + 1
    return out


def broken_links(path):
    """The relative links and anchors of a Markdown file that do not resolve."""
    with open(path) as f:
        text = re.sub(r"(?ms)^ *```.*?^ *```", "", f.read())
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(resolved):
            broken.append(target)
        elif anchor and (not resolved.endswith(".md") or anchor not in anchors(resolved)):
            broken.append(target)
    return broken


def test_links_and_anchors_resolve():
    broken = {path: broken_links(os.path.join(REPO, path)) for path in DOCS}
    assert not {p: b for p, b in broken.items() if b}


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "a.md").write_text("# Top: `x.py` and more\n\n## Top: `x.py` and more\n\n[ok](#top-xpy-and-more) "
                                   "[ok](#top-xpy-and-more-1) [bad](#nothing) [ok](b.md) [bad](c.md) "
                                   "[bad](b.md#gone) [ok](b.md#its-heading) [web](https://example.com)\n")
    (tmp_path / "b.md").write_text("# Its heading\n")
    assert broken_links(str(tmp_path / "a.md")) == ["#nothing", "c.md", "b.md#gone"]
    assert slug("Generating images: `run_generator.py`") == "generating-images-run_generatorpy"


def test_readme_is_short_and_its_test_command_is_what_ci_runs():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert len(readme.split("\n")) <= 250
    commands = [code for _, lang, _, code in code_blocks("README.md") if lang == "bash"][:2]
    assert commands[1].strip().split("\n")[-1] == "python -m pytest -q tests"
    with open(os.path.join(REPO, ".ci", "run")) as f:
        assert f.read().strip().split("\n")[-1] == "python -m pytest -q tests"
