"""The project's promises about its own set-up: one environment, three commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    return {
        m.group(1).lower(): m.group(2)
        for line in lines
        if (m := re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==(\S+)\s*$", line))
    }


def test_environment_yml_pins_equal_requirements():
    requirements = pins((ROOT / "requirements.txt").read_text().splitlines())
    environment = pins((ROOT / "environment.yml").read_text().splitlines())
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"
    assert environment == requirements


def test_pyproject_pins_torch_exactly():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.14.1"' in text and '"torchvision==0.29.1"' in text


def test_readme_opens_with_the_three_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    lines = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    commands = [line.split("#")[0].strip() for line in lines]
    assert commands == ["bash scripts/main.sh", "bash scripts/test.sh", "bash scripts/lab.sh"]
    assert all(line.split("#", 1)[1].strip() for line in lines)  # each says what it is for
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci == ["exec " + commands[1]]


def test_readme_commands_use_the_projects_interpreter():
    # a bare `python` outside the virtualenv lacks histlib and its pins
    readme = (ROOT / "README.md").read_text() + (ROOT / "data" / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    bare = [line for block in blocks for line in block.splitlines() if re.match(r"\s*python3?\s", line)]
    assert not bare


def test_readme_verdicts_are_the_committed_verdicts_table():
    """The README's verdicts are `python -m histlib.verdicts --markdown`, nothing typed by hand."""
    from histlib.verdicts import read_verdicts, render_markdown

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- verdicts:begin -->\n(.*?)\n<!-- verdicts:end -->", readme, re.S)
    assert block, "the README has no verdicts block"
    assert block.group(1) == render_markdown(read_verdicts(ROOT / "results" / "verdicts.csv"))


def test_readme_exploratory_rows_are_rendered_from_the_committed_tables():
    from histlib.verdicts import render_exploratory

    readme = (ROOT / "README.md").read_text()
    missing = [line for line in render_exploratory(ROOT / "results").splitlines() if line not in readme]
    assert not missing


def test_readme_frozen_regime_table_follows_from_the_committed_tables():
    """Each cell of the README's frozen-trunk table is the mean +/- std of its committed runs, and its last
    column the paired differences from HIST with their 95 % intervals."""
    from histlib.analysis import summarize
    from histlib.statistics import paired_comparison
    from histlib.sweep import read_table

    readme = (ROOT / "README.md").read_text()
    points = ("loss=hist", "loss=hist lambda_s=0.0", "loss=proxy_anchor", "loss=multi_similarity images_per_class=4")
    for stand_in in ("glyphs", "kanji", "typefaces"):
        rows = read_table(ROOT / "results" / f"frozen_{stand_in}.csv")
        summary = {s["point"]: s for s in summarize(rows, "point", "test_map@r")}
        cells = " | ".join(f"{100 * summary[p]['mean']:.1f} +/- {100 * summary[p]['std']:.1f}" for p in points)
        scores = {p: {r["seed"]: r["test_map@r"] for r in rows if r["point"] == p} for p in points}
        versus = [paired_comparison(scores[p], scores["loss=hist"]) for p in points[1:]]
        differences = "; ".join(f"{name} {100 * c.difference:+.1f} [{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}]"
                                for name, c in zip(("L_D alone", "Proxy-Anchor", "Multi-Similarity"), versus))
        seeds = {s["n"] for s in summary.values()}
        assert len(seeds) == 1 and f"| `{stand_in}` ({seeds.pop()}) | {cells} | {differences} |" in readme, stand_in


# -- docs/hist.md: the project's own account of the loss, the recipes and the evaluation ---------------

DOCS = ROOT / "docs" / "hist.md"


def markdown_tables(text):
    """Every Markdown table of ``text`` as a list of rows, each a list of stripped cells (header first,
    the |---| line dropped)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def table_value(cell):
    """A recipe table's cell as a Python value: yes / no, none, "1, 2, 4, 8", numbers, `names`."""
    text = cell.strip().strip("`")
    if text in ("yes", "no"):
        return text == "yes"
    if text == "none":
        return None
    if "," in text:
        return tuple(int(k) for k in text.split(","))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def github_anchors(text):
    """The anchors GitHub gives the headings of a Markdown text (fenced code blocks left out)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    headings = re.findall(r"^#{1,6} (.+?)\s*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_docs_hist_recipe_tables_equal_the_code():
    """docs/hist.md's recipe tables are histlib.training.RECIPES, cell for cell: a recipe changed in the
    code and not in the docs (or the reverse) fails here."""
    from dataclasses import fields

    from histlib.training import RECIPES, TrainConfig
    from histlib.training.config import FROM_BENCHMARK, STAND_INS

    names = {field.name for field in fields(TrainConfig)}
    checked = {}
    for table in markdown_tables(DOCS.read_text()):
        header = table[0]
        recipes = [cell.strip("`") for cell in header[1:]]
        if header[0] != "setting" or not all(recipe in RECIPES for recipe in recipes):
            continue
        for row in table[1:]:
            field = re.match(r"`(\w+)`", row[0]).group(1)
            assert field in names, f"docs/hist.md: {field!r} is not a TrainConfig field"
            assert len(row) == len(header), row
            for recipe, cell in zip(recipes, row[1:]):
                expected, value = getattr(RECIPES[recipe], field), table_value(cell)
                if isinstance(expected, tuple) and isinstance(value, int):
                    value = (value,)
                if isinstance(expected, float):
                    assert isinstance(value, (int, float)) and not isinstance(value, bool) and value == expected, \
                        (recipe, field, cell, expected)
                else:
                    assert type(value) is type(expected) and value == expected, (recipe, field, cell, expected)
                checked.setdefault(recipe, set()).add(field)
    published = {"tau", "alpha", "epochs", "batch_size", "lr", "lr_ds", "hgnn_lr_factor", "weight_decay", "lr_step",
                 "warmup_epochs", "freeze_bn", "eval_ks"}
    for benchmark, stand_in in STAND_INS.items():
        assert published <= checked.get(benchmark, set()), benchmark
        assert set(FROM_BENCHMARK) <= checked.get(stand_in, set()), stand_in


def test_docs_hist_published_numbers_equal_the_workbook():
    from histlib.workbook import PUBLISHED

    tables = [t for t in markdown_tables(DOCS.read_text()) if t[0][:2] == ["benchmark", "R@1"]]
    assert len(tables) == 1
    header, *rows = tables[0]
    found = {}
    for row in rows:
        for column, cell in zip(header[1:], row[1:]):
            if cell != "-":
                mean, std = (float(v) for v in cell.split("+/-"))
                found.setdefault(row[0].strip("`"), {})[f"recall@{column[2:]}"] = (mean, std)
    assert found == PUBLISHED


def test_readme_and_histlib_point_to_docs_hist_not_to_shared():
    """The project refers to its own docs/hist.md, never to a file outside the repository; every section
    it names there, and every anchor between the README and docs/hist.md, exists."""
    readme, docs = (ROOT / "README.md").read_text(), DOCS.read_text()
    assert "](docs/hist.md" in readme
    for text in (readme, docs):
        assert "../shared" not in text and "HIST_SPEC" not in text
    docs_anchors, readme_anchors = github_anchors(docs), github_anchors(readme)
    for anchor in re.findall(r"\]\(docs/hist\.md#([\w-]+)\)", readme) + re.findall(r"\]\(#([\w-]+)\)", docs):
        assert anchor in docs_anchors, anchor
    for anchor in re.findall(r"\]\(\.\./README\.md#([\w-]+)\)", docs):
        assert anchor in readme_anchors, anchor
    headings = set(re.findall(r"^#{1,6} (.+?)\s*$", docs, re.M))
    for path in sorted((ROOT / "histlib").rglob("*.py")):
        source = path.read_text()
        assert "HIST_SPEC" not in source and "../shared" not in source, path
        assert not re.search(r"specification,? section|specification \(section", source, re.I), path
        for section in re.findall(r'docs/hist\.md, section "([^"]+)"', source):
            assert section in headings, (path, section)
