"""The LFSSD notebook under papermill, the grid runner's resume, the report and the book build."""
import base64
import html as html_lib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import browser
import unlearnbook as ub
from unlearnbook.report import BookData, prepare_book, table_frame, verdict

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = {"epochs": 1, "lr": 0.05, "batch_size": 128}


def _tiny_profile(tmp_path: Path, runs: list[dict], name: str = "tiny",
                  seeds: tuple[int, ...] = (0,)) -> Path:
    profile = {"name": name, "description": "test profile", "papers": {"lfssd": {
        "seeds": list(seeds),
        "architectures": {"rn": {"name": "smallcnn", "kwargs": {"width": 8, "hidden": 16},
                                 "recipe": TINY_RECIPE}},
        "defaults": {"archs": ["rn"], "val_fraction": 0.0,
                     "methods": ["original", "lfssd"], "method_hp": {"lfssd": {"alpha": 3.0}}},
        "runs": runs}}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "UNLEARNBOOK_NOTEBOOKS": str(ROOT / "notebooks"),
            "UNLEARNBOOK_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT / "src")}


def _cli(*args: str, tmp_path: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unlearnbook.cli", *args], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


@pytest.mark.parametrize("paper", ub.report.papers())
def test_notebook_runs_under_papermill(paper, tmp_path, fast_hp):
    """Every paper's notebook runs its smoke tutorial run, shrunk to a one-epoch tiny model and
    the tests' short method settings."""
    import papermill

    spec = ub.profiles.load("smoke")
    run = next(r for r in ub.profiles.expand(spec, paper)
               if r.run_id == ub.profiles.tutorial_run(spec, paper))
    specs = ub.pipeline.method_specs(run.parameters["methods"] if "methods" in run.parameters
                                     else None)
    profile_hp = run.parameters.get("method_hp") or {}
    method_hp = {s.name: {**profile_hp.get(s.name, {}), **fast_hp(s.name)} for s in specs}
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{paper}.ipynb"), str(tmp_path / "executed.ipynb"),
        parameters={**run.parameters, "recipe": TINY_RECIPE, "method_hp": method_hp,
                    "arch_kwargs": {"width": 8, "hidden": 16}, "output_dir": str(out),
                    **({"rewind_epoch": 1} if "rewind_epoch" in run.parameters else {})},
        kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    results = pd.read_csv(out / "results.csv")
    assert set(results["label"]) == {s.label for s in specs}
    report = ub.report.paper_report(paper)
    assert set(report.headline) <= set(results["metric"])
    for column in ("train_seed", "split_seed", "unlearn_seed", "seconds", "hp", "suite",
                   "data_source", "hardware", "train_precision", "train_channels_last"):
        assert column in results.columns
    keys = ["label", "suite", "metric"] + [k for k in ("sparsity", "epoch") if k in results]
    assert len(results) == results[keys].drop_duplicates().shape[0]
    assert json.loads((out / "forget_set.json").read_text())["dataset"] == "digits"
    outputs = [json.dumps(o) for c in json.loads((tmp_path / "executed.ipynb").read_text())[
        "cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if "it/s]" in o or "%|" in o]  # no progress bars


def _running(text: str) -> bool:
    """Whether a process of this machine has ``text`` on its command line."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if text in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                return True
        except OSError:
            continue
    return False


def test_grid_resumes_after_kill_and_reports_failures(tmp_path):
    """The grid through Snakemake: two runs share one original (trained once, by its own
    job); a run added to the profile meanwhile with a bad input is refused at planning, naming
    it; the killed grid resumes without redoing the finished run and redoes the killed one."""
    runs = [{"id": f"class-{c}", "group": "class", "target": f"digit{c}", "dataset": "digits",
             "scenario": "class", "forget_class": c} for c in (1, 2)]
    profile = _tiny_profile(tmp_path, runs)
    results = tmp_path / "results"
    proc = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path,
                start_new_session=True)
    folder = results / "tiny" / "lfssd"
    deadline = time.time() + 180
    while not list(folder.glob("*/run.json")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # let Snakemake see the job end (a job killed before that is redone)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime for p in folder.glob("*/run.json")}
    # the orphaned Snakemake stops starting jobs (it gets a SIGINT when its grid dies) and ends
    # the job in flight (which it marks incomplete, so it is redone), holding the grid lock
    # meanwhile; wait for it to end
    deadline = time.time() + 180
    while _running(str(results)) and time.time() < deadline:
        time.sleep(0.5)
    assert len(done_before) == 1
    originals = list((results / "tiny" / ".originals").glob("*.json"))
    assert len(originals) == 1  # one original model for the two runs
    assert len(json.loads(originals[0].read_text())["shared_by"]) == 2
    # the report reads finished runs only, whatever the killed run left behind
    collected = ub.report.collect(results, "tiny", "lfssd")
    assert set(collected["run_id"]) == {p.parent.name for p in folder.glob("*/run.json")}

    bad = {"id": "bad", "group": "class", "target": "x", "dataset": "digits",
           "scenario": "class", "forget_class": 99}
    profile = _tiny_profile(tmp_path, runs + [bad])
    rerun = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 2, output  # refused at planning: nothing starts
    assert "forget_class of a 'digits' run 99 is out of range; allowed: an integer in 0..9" \
        in output
    assert not (folder / "bad-rn-s0").exists()
    profile = _tiny_profile(tmp_path, runs)  # the same grid again: it resumes
    rerun = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    for name, mtime in done_before.items():
        assert (folder / name / "run.json").stat().st_mtime == mtime  # not redone
    assert len(list(folder.glob("class-*/run.json"))) == 2
    saved = tmp_path / "cache" / "partial" / "runs" / "tiny" / "lfssd"
    assert saved.is_dir() and not any(saved.iterdir())  # a finished run drops its saved methods
    collected = ub.report.collect(results, "tiny", "lfssd")
    assert len(collected["run_id"].unique()) == 2
    labels = collected[["profile", "paper", "group", "target", "arch_key"]].drop_duplicates()
    assert labels.values.tolist() == [["tiny", "lfssd", "class", f"digit{c}", "rn"]
                                      for c in (1, 2)]  # every label the report reads
    provenance = json.loads((folder / "provenance.json").read_text())  # the grid's own record
    assert provenance["grid_wall_seconds"] > 0 and provenance["grid_papers"] == ["lfssd"]
    assert provenance["commit"] and len(provenance["run_seconds"]) == 2

    # issue 37.4: a grid killed after a job's last write but before Snakemake saw it end leaves
    # the job marked incomplete; the next grid trusts the finished run instead of redoing it
    finished_at = {p.parent.name: p.stat().st_mtime for p in folder.glob("class-*/run.json")}
    for run_folder in folder.glob("class-*"):
        for name in ("results.csv", "lfssd.ipynb", "run.json"):
            _mark_incomplete(tmp_path, run_folder / name)
    rerun = _cli("run", "--profile", str(profile), "--results", str(results), tmp_path=tmp_path)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "0 run(s) done, 2 already done" in output, output
    assert {p.parent.name: p.stat().st_mtime for p in folder.glob("class-*/run.json")} == \
        finished_at
    assert not any((tmp_path / ".snakemake" / "incomplete").rglob("*=*"))


def _mark_incomplete(workdir: Path, path: Path) -> None:
    """The record Snakemake 9 keeps for a job whose end it did not see: a file under
    ``.snakemake/incomplete`` named by the urlsafe base64 of the output's path (in parts of at
    most 254 characters, all but the last prefixed with @)."""
    key = base64.urlsafe_b64encode(str(path).encode()).decode()
    parts = [key[i:i + 254] for i in range(0, len(key), 254)]
    record = workdir / ".snakemake" / "incomplete" / Path(*(["@" + p for p in parts[:-1]]
                                                          + parts[-1:]))
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"external_jobid": None}))


def _fixture_results(tmp_path: Path) -> tuple[Path, Path]:
    """Synthetic finished runs: two seeds of lamp (class) and of random, three methods; the
    superclass runs and the class runs of rocket are planned but have not run."""
    profile = _tiny_profile(tmp_path, [
        {"id": run_id, "group": group, "target": target, "dataset": "digits",
         "scenario": scenario, "forget_class": 3} for run_id, group, target, scenario in (
             ("class", "class", "lamp", "class"), ("random", "random", "random", "random"),
             ("superclass", "superclass", "vehicles", "class"),
             ("rocket", "class", "rocket", "class"))],
        name="fixture", seeds=(0, 1))
    results = tmp_path / "results"
    records = {run.run_id: ub.runner.run_record(run) for run in ub.runner.plan(profile)}
    values = {"original": (99.0, 98.0, 90.0), "retrain": (98.0, 0.0, 5.0),
              "lfssd": (97.0, 1.0, 2.0), "ssd": (90.0, 30.0, 2.0)}
    for group, target in (("class", "lamp"), ("random", "random")):
        for seed in (0, 1):
            run_id = f"{group}-rn-s{seed}"
            rows = [{"method": m, "label": m, "suite": "lfssd", "metric": metric,
                     "value": v + seed, "seconds": 0.1, "hp": "{}", "profile": "fixture",
                     "paper": "lfssd", "run_id": run_id, "group": group, "target": target,
                     "dataset": "digits", "scenario": group, "arch_key": "rn", "arch": "smallcnn",
                     "train_seed": seed, "split_seed": seed, "unlearn_seed": 0,
                     "data_source": "fixture", "hardware": "test",
                     **({"forget_class": 3} if group == "class" else {"forget_size": 20})}
                    for m, triple in values.items() for metric, v in zip(("Dr", "Df", "MIA"), triple)]
            folder = results / "fixture" / "lfssd" / run_id
            folder.mkdir(parents=True)
            pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
            (folder / "run.json").write_text(json.dumps(
                {"seconds": 1, **records[run_id]}))
    (results / "fixture" / "lfssd" / "half-written").mkdir()  # a killed run: no marker
    return profile, results


def test_report_renders_lfssd_tables_from_fixture(tmp_path):
    profile, results = _fixture_results(tmp_path)
    out = tmp_path / "book" / "generated"
    shutil.copytree(ROOT / "book" / "reported", tmp_path / "book" / "reported")
    print(prepare_book(profile, results, out))
    data = BookData.load(out)
    table = table_frame(data, "LFSSD-T1")
    lamp = ("class", "rn", "lamp · ran: digits, class 3, small CNN", "lfssd")  # a stand-in row
    assert table.loc[lamp, ("Dr", "ours")] == "97.50 ± 0.71"
    assert table.loc[lamp, ("Dr", "paper")] == "76.36"  # no ± 0.00
    assert table.loc[("subclass", "vit", "lamp", "lfssd"), ("Df", "ours")] == "–"
    t7 = table_frame(data, "LFSSD-T7")
    random = ("rn", "random · ran: digits, random 20, small CNN", "retrain")
    assert t7.loc[random, ("MIA", "ours")] == "5.50 ± 0.71"
    assert list(t7.columns.get_level_values(0)[:2]) == ["Dr", "Dr"]  # ours beside the paper's
    assert data.meta["papers"]["lfssd"]["runs"] == 4
    assert data.meta["papers"]["lfssd"]["seeds"] == {"train": 2, "split": 2, "unlearn": 1}
    # what a chapter says of its runs comes from the record the verdicts read
    planned = len(data.meta["planned"]["lfssd"])
    assert ub.report.scale_note(data, "lfssd").endswith(
        f"Of the {planned} run(s) the `fixture` profile plans for this paper, 4 have finished in "
        "this build.")
    caption = data.caption("lfssd", ub.report.find_item("LFSSD-T4")[1])
    assert "profile `fixture`" in caption and "train seed (2)" in caption
    assert data.caption("lfssd", ub.report.find_item("LFSSD-T5")[1]) == (
        "LFSSD-T5. Ours: profile `fixture`, no finished run for this item. Paper: as printed "
        "(± where it printed one).")
    # verdicts: digits originals (D_r 99) are far from the paper's CIFAR-100 ones (76.4): the
    # regime gate makes T4 not testable, saying what the rule would have given; the T2 sweep
    # did not run (not testable)
    t4 = verdict(data, "LFSSD-T4")
    assert t4.status == "not testable at this scale"
    # two runs: the D_r margin (3 points) lies inside t(1) x 0.71 = 4.5, so uncertain
    assert "our outcome would have been: uncertain" in t4.detail
    assert "trained on 1,430 images" in t4.regime and "50,000" in t4.regime
    assert t4.detail.endswith("plans 4 run(s) for this item; 2 have not finished in this build "
                              "yet (rocket-rn-s0, rocket-rn-s1).")  # the verdict says what it lacks
    assert "paper's own printed numbers" in t4.paper_check
    assert verdict(data, "LFSSD-T2").status == "not run"  # never run, not outside the regime
    assert "does not run the settings" in verdict(data, "LFSSD-T2").detail
    pending = verdict(data, "LFSSD-T5")  # planned, not finished: says so, and names the runs
    assert pending.status == "not run"
    assert ("plans 2 run(s) for this item; 2 have not finished in this build yet "
            "(superclass-rn-s0, superclass-rn-s1)") in pending.detail
    summary = ub.report.verdict_summary(data)
    assert '<a href="lfssd.html#lfssd-t4">LFSSD-T4</a>' in set(summary["item"])
    counts = ub.report.verdict_counts(data)  # the intro's first line
    assert counts.startswith("0 of ") and " outside the regime; " in counts
    assert int(counts.split(" outside the regime")[0].rsplit(" ", 1)[1]) >= 1  # T4
    # the tutorial is the profile's first run here, with its parameter cells collapsed
    assert (out / "lfssd_tutorial.ipynb").exists()
    # a paper without a finished run: its page says so, with this profile's commands
    placeholder = (out / "dau_tutorial.ipynb").read_text()
    assert "has no finished DAU run" in placeholder
    assert "unlearnbook run --profile fixture --paper dau" in placeholder
    assert "`unlearnbook run --profile fixture --paper dau`" in data.provenance("dau")


def test_verdict_names_failing_settings_and_flags_spread():
    from unlearnbook.report.lfssd import forgets_like_retrain

    def frame(df_lfssd, std):
        rows = [("lfssd", "Df", df_lfssd, std), ("retrain", "Df", 0.0, 0.0),
                ("lfssd", "Dr", 95.0, 0.0), ("original", "Dr", 96.0, 0.0)]
        return pd.DataFrame([{"group": "class", "arch_key": "rn", "target": t, "label": l,
                              "metric": m, "mean": v, "std": s}
                             for t in ("baby", "lamp") for l, m, v, s in rows
                             ]).assign(mean=lambda f: f["mean"].where(
                                 ~((f.target == "lamp") & (f.label == "lfssd") & (f.metric == "Df")),
                                 df_lfssd + 40))
    checks = forgets_like_retrain(frame(2.0, 0.5))
    assert [c.holds for c in checks] == [True, True, False, True]  # D_f and D_r per target
    status, detail = ub.report.verdicts._summary(checks)
    assert status == "partly replicated" and "Fails at class · rn · lamp · Df" in detail
    shaky = forgets_like_retrain(frame(9.0, 5.0))  # effect 1 point, spread 5 points
    assert shaky[0].holds and shaky[0].uncertain
    assert "Inside the noise at class · rn · baby · Df" in ub.report.verdicts._summary(shaky)[1]


@pytest.fixture(scope="session")
def fixture_book(session_folder) -> Path:
    """The book built once per test session on the fixture results, shared by the tests that read
    it across xdist workers (a file lock); its built site's folder."""
    from filelock import FileLock

    folder = session_folder("fixture-book")
    with FileLock(str(folder.with_suffix(".lock"))):
        site = folder / "site"
        if not (folder / "built").exists():
            shutil.rmtree(site, ignore_errors=True)
            profile, results = _fixture_results(folder)
            site.mkdir()
            for name in ("_config.yml", "_toc.yml"):
                shutil.copy(ROOT / name, site / name)
            shutil.copytree(ROOT / "book", site / "book",
                            ignore=shutil.ignore_patterns("generated"))
            shutil.copytree(ROOT / "_static", site / "_static")  # the book's CSS and JS
            prepare_book(profile, results, site / "book" / "generated")  # every tutorial page
            jb = Path(sys.executable).with_name("jupyter-book")
            proc = subprocess.run([str(jb), "build", str(site)], capture_output=True, text=True,
                                  env=_env(folder), timeout=600)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            (folder / "built").write_text("")
    return site


def test_jupyter_book_builds_on_fixture_results(fixture_book):
    html = fixture_book / "_build" / "html"
    tmp_path = fixture_book.parent
    for report in map(ub.report.paper_report, ub.report.papers()):
        page = (html / "book" / f"{report.name}.html").read_text()
        assert "Traceback" not in page
        for item in report.items:
            assert item.id in (html / "book" / f"{item.page or report.name}.html").read_text()
    page = (html / "book" / "lfssd.html").read_text()
    assert "97.50 ± 0.71" in page and "not testable at this scale" in page
    intro = (html / "book" / "intro.html").read_text()
    assert "lfssd.html#lfssd-t4" in intro and "replicated" in intro
    assert "cdn.jsdelivr" not in page and (html / "_static" / "mathjax" / "tex-chtml.js").exists()
    _check_built_pages(html, tmp_path)


def test_figures_carry_their_smallest_text_and_the_verdict_table_its_card_labels():
    """What the browser test reads without a browser: a chapter figure's smallest text in pixels
    at its own size, and every cell of the verdict table under its column's name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("title", fontsize=12)
    ax.tick_params(labelsize=7.2)
    fig.canvas.draw()
    assert ub.report.core.smallest_text_px(fig) == pytest.approx(7.2 * 100 / 72)
    assert 'data-text-px="10.0"' in ub.report.core.figure_html(fig, "F1")  # saving draws it
    plt.close(fig)
    frame = pd.DataFrame({"item": ['<a href="x.html">X-T1</a>'], "why": ["because"]})
    html = ub.report.html_table(frame, cards=True).data
    assert 'class="ub-cards"' in html and 'data-label="item" ><a href="x.html">' in html
    assert 'data-label="why" >because</td>' in html


@pytest.mark.skipif(browser.chromium() is None, reason="no Chromium on this machine (Debian: "
                    "apt install chromium): the pages are not read in a browser")
def test_chapters_read_in_a_browser_at_desktop_and_phone_widths(fixture_book):
    """Every chapter of the fixture build, in headless Chromium at 1400 and 390 px: nothing past
    the content area, no JavaScript error, no chapter-figure text under 9 px as displayed, the
    verdict table one card per claim on the phone, no page scrolling sideways."""
    html = fixture_book / "_build" / "html"
    pages = sorted((html / "book").glob("*.html"))
    assert {"intro.html", "lfssd.html", "dau.html"} <= {p.name for p in pages}
    found = browser.problems(html, pages, browser.chromium())
    assert not found, "\n".join(found)
    # the probe sees what it must fail on: a figure's text shown at half its size, a page error,
    # and, without the book's script, a phone table's caption scrolling inside its box uncued
    page = html / "book" / "lfssd.html"
    text = page.read_text()
    try:
        page.write_text(re.sub(r'<script src="../_static/unlearnbook.js[^"]*"></script>', "",
                               re.sub(r'data-text-px="[\d.]+"', 'data-text-px="1.0"', text))
                        .replace("</body>", "<script>null.fails</script></body>"))
        broken = browser.problems(html, [page], browser.chromium())
    finally:
        page.write_text(text)
    assert any("figure text too small" in line for line in broken), broken
    assert any("TypeError" in line for line in broken), broken
    assert any("390 px: caption inside a scrolling box" in line for line in broken), broken
    assert any("390 px: a table scrolls sideways without a cue" in line for line in broken)


def _visible_text(page: str) -> str:
    """A built page's text as a reader sees it: no scripts, styles, code or math sources."""
    for tag in ("script", "style", "pre", "code"):
        page = re.sub(rf"<{tag}\b.*?</{tag}>", " ", page, flags=re.S)
    page = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', " ", page, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def _check_built_pages(html: Path, tmp_path: Path) -> None:
    """What must be true of every built page (issue 29): math renders (no raw TeX or $ in the
    text), no machine path or internal wording leaks, every launch link opens a tracked file,
    and profile-dependent text appears only in its profile's build (this one is not smoke)."""
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.split())
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) >= 10
    for path in pages:
        page = path.read_text()
        text = _visible_text(page)
        for raw in ("$", "\\hat", "\\alpha", "\\mathcal", "\\frac", "[]_{"):
            assert raw not in text, (path.name, raw, text[max(0, text.find(raw) - 80):][:160])
        for leak in (str(tmp_path), str(ROOT), "/home/", "/root/", "as the brief",
                     "GPU session"):
            assert leak not in page, (path.name, leak)
        for url in re.findall(r'href="(https://(?:mybinder\.org|colab\.research[^"]*))"', page):
            target = re.search(r"(?:filepath|blob/[^/]+)/(?:=)?([^&\"]+)", url)
            assert target and target.group(1) in tracked, (path.name, url)
    chapter = (html / "book" / "lfssd.html").read_text()
    lfssd = _visible_text(chapter)
    assert "one digit of ten" not in lfssd and "8x8" not in lfssd
    # settings we did not run fold away; figures say what they show, not where their file is
    assert "<details class='numbers'>" in chapter and "Show the paper's numbers for the" in lfssd
    assert 'alt="../_images' not in chapter and 'alt="LFSSD-F1' in chapter
    legend = re.sub(r"\s+", " ", lfssd)  # (method names sit in <code>, which the text drops)
    assert "Methods: the model before unlearning" in legend
    assert "selective synaptic dampening (SSD)" in legend
    assert "Exercises" in (html / "book" / "generated" / "lfssd_tutorial.html").read_text()


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_builtin_profiles_expand_to_valid_runs(name):
    from unlearnbook import profiles

    spec = profiles.load(name)
    runs = [run for paper in profiles.papers_in(spec) for run in profiles.expand(spec, paper)]
    assert {run.paper for run in runs} == set(spec["papers"])  # expand() validated every run
    for run in runs:
        assert {"train_seed", "split_seed", "unlearn_seed"} <= set(run.parameters)


def test_paper_profile_varies_the_seed_each_paper_varies():
    """LFSSD holds its original fixed (its tables print the original with +-0.00) and varies
    the oracle's seed (its Retrain has a spread); DAU, like the Unlearn-Sparse code (one
    checkpoint, --seed per unlearning run), does the same with five seeds."""
    spec = ub.profiles.load("paper")
    for paper, seeds in (("lfssd", 10), ("dau", 5)):
        runs = ub.profiles.expand(spec, paper)
        assert len({r.parameters["oracle_seed"] for r in runs}) == seeds
        assert {r.parameters["train_seed"] for r in runs} == {0}


def test_by_arch_overrides_one_architecture():
    """The cpu AdaProb protocol: ALL-CNN runs get the ALL-CNN SCRUB values, merged key by key
    over the entry's method_hp; the ResNet runs keep the entry's."""
    runs = {r.run_id: r.parameters["method_hp"]
            for r in ub.profiles.expand(ub.profiles.load("cpu"), "adaprob")}
    assert runs["small-ac-s1"]["scrub"]["lr"] == 0.02 and runs["small-rn-s1"]["scrub"]["lr"] == 0.05
    assert runs["small-ac-s1"]["scrub"]["epochs"] == runs["small-rn-s1"]["scrub"]["epochs"] == 10
    assert runs["class-ac-s2"]["scrub"]["epochs"] == 4 and runs["class-rn-s2"]["scrub"]["epochs"] == 3


def test_bad_profile_inputs(tmp_path):
    from unlearnbook import UnlearnbookError, profiles
    with pytest.raises(UnlearnbookError, match="unknown profile 'huge'"):
        profiles.load("huge")
    with pytest.raises(UnlearnbookError, match="unknown paper 'gpt'"):
        profiles.expand(profiles.load("smoke"), "gpt")
    bad = _tiny_profile(tmp_path, [{"id": "x", "group": "class", "target": "x",
                                    "dataset": "mnist", "scenario": "class", "forget_class": 1}])
    with pytest.raises(UnlearnbookError, match="unknown dataset 'mnist'.*run 'x-rn-s0'"):
        profiles.expand(profiles.load(bad), "lfssd")
    typo = _tiny_profile(tmp_path, [{"id": "x", "group": "class", "target": "x",
                                     "dataset": "digits", "scenario": "class",
                                     "forget_clas": 1}], name="typo")
    with pytest.raises(UnlearnbookError, match=r"unknown key\(s\) \['forget_clas'\] in a run "
                                               r"entry.*forget_class"):
        profiles.expand(profiles.load(typo), "lfssd")
    needs_val = _tiny_profile(tmp_path, [{"id": "x", "group": "class", "target": "x",
                                          "dataset": "digits", "scenario": "class",
                                          "forget_class": 1, "methods": ["dau"]}], name="val")
    with pytest.raises(UnlearnbookError, match="method 'dau' needs a validation set"):
        profiles.expand(profiles.load(needs_val), "lfssd")
    axes = _tiny_profile(tmp_path, [{"id": "x", "group": "class", "target": "x",
                                     "dataset": "digits", "scenario": "class",
                                     "forget_class": 1}], name="axes")
    spec = profiles.load(axes)
    spec["papers"]["lfssd"]["seed_axes"] = ["train", "data"]
    with pytest.raises(UnlearnbookError, match="unknown seed axis 'data'"):
        profiles.expand(spec, "lfssd")
    spec = profiles.load(axes)
    spec["papers"]["lfssd"]["runs"][0]["by_arch"] = {"ac": {"forget_class": 2}}
    with pytest.raises(UnlearnbookError, match="unknown by_arch architecture.*'ac'.*allowed: 'rn'"):
        profiles.expand(spec, "lfssd")


def test_a_toy_paper_needs_only_its_own_files(tmp_path, monkeypatch):
    """A new paper = its notebook, its profile section and its report module (registered
    here at run time); the runner, the report core and the book find it with no other edit."""
    import nbformat

    from unlearnbook.report import core

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for paper in ub.report.papers():
        shutil.copy(ROOT / "notebooks" / f"{paper}.ipynb", notebooks)
    params = nbformat.v4.new_code_cell(
        'dataset = "digits"\nscenario = "class"\nforget_class = 1\nmethods = ["original"]\n'
        'output_dir = "out"\nprogress = True\narch = "smallcnn"\narch_kwargs = {}\n'
        'recipe = {}\ntrain_seed = 0\nsplit_seed = 0\nunlearn_seed = 0')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import unlearnbook as ub\n"
        "task = ub.data.make_task(dataset, scenario, forget_class=forget_class, seed=split_seed)\n"
        "model = ub.train.fit(ub.models.build(arch, task.num_classes, task.in_channels, seed=0, "
        "**arch_kwargs), task.train, ub.train.Recipe(**recipe), seed=train_seed)\n"
        "results, _ = ub.pipeline.run_methods(model, task, ub.pipeline.method_specs(methods), "
        "'lfssd', unlearn_seed)\n"
        "ub.pipeline.save_results(results, output_dir, task)")
    metadata = nbformat.read(ROOT / "notebooks" / "lfssd.ipynb", as_version=4).metadata
    nbformat.write(nbformat.v4.new_notebook(cells=[params, body], metadata=metadata),
                   notebooks / "toy.ipynb")
    monkeypatch.setenv("UNLEARNBOOK_NOTEBOOKS", str(notebooks))
    toy = ub.report.PaperReport(
        name="toy", title="Toy", method="original", competitor="", suite="lfssd",
        labels=("original",), headline=("Df",),
        items=(ub.report.Item("TOY-T1", "a toy table", {"group": ["g"]}, ("Df",),
                              claim=ub.report.Claim("Df stays high.", lambda f: [
                                  ub.report.SettingCheck("all", bool((f["mean"] > 50).all()),
                                                         50.0)])),))
    monkeypatch.setitem(core._PAPERS, "toy", toy)
    monkeypatch.setattr(ub.papers, "_ADDED", ["toy"])
    profile = tmp_path / "toy.yaml"
    profile.write_text(yaml.safe_dump({"name": "toyprofile", "papers": {"toy": {
        "seeds": [0], "architectures": {"rn": {"name": "smallcnn", "kwargs": {"width": 4,
                                                                               "hidden": 8},
                                               "recipe": TINY_RECIPE}},
        "defaults": {}, "runs": [{"id": "one", "group": "g", "target": "t",
                                  "dataset": "digits", "scenario": "class",
                                  "forget_class": 2}]}}}))
    monkeypatch.chdir(tmp_path)
    from unlearnbook.runner import run_grid

    status, summary = run_grid(profile, results=tmp_path / "results")
    assert status == 0 and summary.startswith("1 run(s) done"), summary
    (tmp_path / "book" / "reported").mkdir(parents=True)
    prepare_book(profile, tmp_path / "results", tmp_path / "book" / "generated")
    data = BookData.load(tmp_path / "book" / "generated")
    assert table_frame(data, "TOY-T1").loc[("t", "original"), ("Df", "ours")] != "–"
    assert verdict(data, "TOY-T1").status == "replicated"
    assert (tmp_path / "book" / "generated" / "toy_tutorial.ipynb").exists()


def test_plan_selects_run_ids_and_rejects_unknown_ones():
    from unlearnbook.runner import plan
    runs = plan("cpu", ["lfssd"], only=["class-lamp-rn-s0"])
    assert [run.run_id for run in runs] == ["class-lamp-rn-s0"]
    assert "retrain_head" in json.dumps(runs[0].parameters["methods"])
    with pytest.raises(ub.UnlearnbookError, match=r"unknown run id\(s\) \['nope'\]; allowed: "
                                                  "class-lamp-rn-s0"):
        plan("cpu", ["lfssd"], only=["nope"])


def test_a_runs_reading_says_whether_the_method_moved_towards_the_oracle():
    def results(method_values: tuple[float, float]) -> pd.DataFrame:
        values = {"original": (99.0, 98.0), "retrain": (98.0, 0.0), "lfssd": method_values}
        return pd.DataFrame([{"label": label, "metric": metric, "value": v, "seconds": 1.0}
                             for label, pair in values.items()
                             for metric, v in zip(("Dr", "Df"), pair)])
    unchanged = ub.pipeline.outcome(results((99.0, 98.0)), "lfssd", ["Dr", "Df"])
    assert "changed nothing" in unchanged
    moved = ub.pipeline.outcome(results((96.0, 1.0)), "lfssd", ["Dr", "Df"])
    assert "closer to the oracle than the original model on 1 of 2 metrics (Df)" in moved
    assert "away from it on Dr" in moved
    # issue 38.10: with its sample counts every number carries its binomial error, and a tie
    # with the oracle within two of them is said (8 forget images: steps of 12.5 points)
    small = ub.pipeline.outcome(results((96.0, 12.5)), "lfssd", ["Dr", "Df"],
                                samples={"Dr": 1000, "Df": 8})
    assert "`lfssd` 12.5 ± 11.8 (original 98.0 ± 7.1, retrain 0.0 ± 5.6), on 8 images" in small
    assert "On Df it lies within two binomial errors of the oracle" in small
    assert "On Dr" not in small  # 96.0 against 98.0 on 1,000 images: apart
    task = ub.data.make_task("digits", "class", forget_class=3, seed=0)
    counts = ub.pipeline.sample_counts(task)
    assert counts["Df"] == counts["CTA"] == int(task.test_forget_mask.sum())
    assert counts["UA"] == len(task.forget) and counts["Dr"] == len(task.test) - counts["Df"]


def test_figures_highlight_the_papers_method_and_order_forget_sizes():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    frame = pd.DataFrame([{"label": label, "metric": "dUA", "mean": v, "target": f"size {size}"}
                          for size in (500, 10, 100)
                          for label, v in (("sure", 1.0), ("scrub", 2.0))])
    grid = ub.plots.gap_bars(frame, ["dUA"], row="target", order=["sure", "scrub"],
                             highlight="sure")
    titles = [ax.get_title() for ax in grid.axes.flat]
    assert titles == ["size 10 · dUA", "size 100 · dUA", "size 500 · dUA"]
    # issue 38.5: at most two panels side by side
    assert len({round(ax.get_position().x0, 3) for ax in grid.axes.flat}) == 2
    bars = grid.axes.flat[0].patches
    assert to_hex(bars[0].get_facecolor()) == ub.plots.HIGHLIGHT
    assert to_hex(bars[1].get_facecolor()) == ub.plots.BASE
    assert all(ax.get_xticklabels()[0].get_text() == "sure" for ax in grid.axes.flat)
    versus = pd.DataFrame([{"label": l, "metric": "MIA", "mean": v, "source": s, "target": t}
                           for t in ("a", "b") for s in ("ours", "paper")
                           for l, v in (("retrain", 50.0), ("adaprob", 55.0))])
    fig = ub.plots.ours_vs_paper(versus, "MIA", ["target"], "adaprob", 50.0)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2


def test_tutorial_pages_print_no_machine_path(tmp_path):
    """A committed run's notebook printed its data folder as an absolute path; the book's copy
    keeps the folder's last two parts, as the provenance lines do."""
    import nbformat

    from unlearnbook.report.core import _tutorial

    printed = "data from image folder /work/x/data/cifar10 (decoded once)\n"
    run = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "print(task.describe())",
        outputs=[nbformat.v4.new_output("stream", name="stdout", text=printed)])])
    source = tmp_path / "run.ipynb"
    nbformat.write(run, source)
    _tutorial(source, tmp_path / "page.ipynb", "sure", "smoke")
    text = (tmp_path / "page.ipynb").read_text()
    assert "image folder data/cifar10 (decoded once)" in text and "/work/x" not in text


def test_a_profiles_description_reaches_the_book_as_text(tmp_path):
    """Issue 37.6: a description holding markup is shown, never run, by the book."""
    profile, results = _fixture_results(tmp_path)
    spec = yaml.safe_load(profile.read_text())
    spec["description"] = "<script>alert(42)</script> & more"
    profile.write_text(yaml.safe_dump(spec))
    out = tmp_path / "book" / "generated"
    shutil.copytree(ROOT / "book" / "reported", tmp_path / "book" / "reported")
    prepare_book(profile, results, out)
    data = BookData.load(out)
    assert data.meta["description"] == "&lt;script&gt;alert(42)&lt;/script&gt; &amp; more"
    assert "<script>" not in data.caption("lfssd", ub.report.find_item("LFSSD-T4")[1])


def test_the_list_of_papers_lies_below_the_profiles_the_runner_and_the_report():
    """Issue 36.1: the profiles and the runner know the papers without importing the report
    layer (which imports the runner), and the report registers the same papers."""
    import subprocess
    import sys
    code = ("import sys, unlearnbook.runner, unlearnbook.profiles as p; "
            "print(','.join(p.papers()), 'unlearnbook.report' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [",".join(sorted(ub.report.papers())), "False"]
