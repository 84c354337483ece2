"""Calibration by simulation (issue 36): fed synthetic numbers whose truth is known, every
claim's rule concludes what those numbers allow and no more. Numbers only, no models.

- paper: ours drawn from the paper's printed means and stds over its run count: where the
  paper's own numbers replicate the claim, at least half the draws replicate it and at most 5%
  read "not replicated";
- original: every method scores as the original model: no forgetting claim replicates;
- oracle: the paper's method scores as the oracle: every "close to the oracle" claim replicates;
- noise: the method scores as its rival in expectation: a "better than" claim replicates in at
  most 5% of draws.

The draws are seeded, so each share is a fixed number; 8 draws per claim and kind keep the suite
fast (``unlearnbook verdicts --simulate all --draws 200`` prints the full table)."""
from pathlib import Path

import pytest

import unlearnbook as ub
from unlearnbook import cli
from unlearnbook.report import verdicts

ROOT = Path(__file__).resolve().parents[1]
BOOK = str(ROOT / "book")
DRAWS = 8
CLAIMS = [item.id for name in ub.report.papers() for item in ub.report.paper_report(name).items
          if item.claim is not None
          and not ub.report.reported(name, BOOK).query("item in @item.printed_ids").empty]


def _shares(item_id: str, kind: str) -> dict[str, float]:
    return verdicts.simulate(item_id, kind, DRAWS, book_dir=BOOK)


def _own(item_id: str) -> str:
    report, item = ub.report.find_item(item_id)
    data = ub.report.BookData(ub.report.aggregate(ub.report.collect(ROOT / "nothing", "x")),
                              {}, Path(BOOK))
    return verdicts.status_of(verdicts.paper_side(data, report, item))


def test_the_simulated_claims_are_every_claim_with_printed_numbers():
    assert {"DAU-T1a", "LFSSD-T7", "SURE-T1", "ADA-T2", "ADA-T5"} <= set(CLAIMS)
    assert "SURE-F2" not in CLAIMS  # the paper prints only a figure there


@pytest.mark.parametrize("item_id", CLAIMS)
def test_the_papers_own_numbers_give_the_papers_own_verdict(item_id):
    if _own(item_id) != "replicated":
        pytest.skip("the paper's own numbers do not replicate the claim: nothing to hold")
    shares = _shares(item_id, "paper")
    assert shares.get("replicated", 0) >= 0.5, shares
    assert shares.get("not replicated", 0) <= 0.05, shares


@pytest.mark.parametrize("item_id", CLAIMS)
def test_a_method_that_is_the_original_never_replicates_a_forgetting_claim(item_id):
    _, item = ub.report.find_item(item_id)
    if not item.claim.forgetting:
        pytest.skip("not a forgetting claim")
    shares = _shares(item_id, "original")  # empty where the paper prints no original model
    assert shares.get("replicated", 0) == 0, shares


@pytest.mark.parametrize("item_id", [i for i in CLAIMS
                                     if ub.report.find_item(i)[1].claim.kind == "close"])
def test_a_method_that_is_the_oracle_replicates_every_close_to_the_oracle_claim(item_id):
    shares = _shares(item_id, "oracle")
    assert shares.get("replicated", 0) >= 0.5, shares


@pytest.mark.parametrize("item_id", [i for i in CLAIMS
                                     if ub.report.find_item(i)[1].claim.kind == "better"])
def test_two_equal_methods_rarely_replicate_a_better_than_claim(item_id):
    shares = _shares(item_id, "noise")
    assert shares.get("replicated", 0) <= 0.05, shares


def test_the_interval_widens_with_fewer_runs_and_is_not_zero_for_one_run():
    assert verdicts.margin_noise(1.0, 3) > verdicts.margin_noise(1.0, 10) > 0
    assert verdicts.margin_noise(1.0, 3) == pytest.approx(2.920 * (2 / 3) ** 0.5, rel=1e-3)
    assert verdicts.margin_noise(0.0, 1, binomial=1.0) == pytest.approx(1.645 * 2 ** 0.5,
                                                                        rel=1e-3)
    assert verdicts.margin_noise(0.0, 5) == 0.0


def test_the_cli_prints_one_tsv_line_per_claim_and_kind(capsys):
    assert cli.main(["verdicts", "--simulate", "paper,noise", "--draws", "2", "--items",
                        "DAU-T2", "--format", "tsv", "--book", BOOK]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["DAU-T2", "paper"], ["DAU-T2", "noise"]]
    assert all("=" in line.split("\t")[2] for line in lines)
    assert cli.main(["verdicts", "--simulate", "guess"]) == 2


def test_draws_keep_percentages_in_range_and_negative_quantities_negative():
    import numpy as np
    import pandas as pd

    expected = pd.DataFrame({"mean": [99.5, 0.2, 250.0, -3.0], "std": [5.0, 5.0, 5.0, 1.0]})
    drawn = verdicts.draw(expected, 400, np.random.default_rng(0))
    assert drawn["mean"].iloc[0] <= 100 and drawn["mean"].iloc[1] >= 0
    assert drawn["mean"].iloc[2] == pytest.approx(250.0, abs=1.0)
    assert drawn["mean"].iloc[3] == pytest.approx(-3.0, abs=0.3)
    assert (drawn["n"] == 400).all() and drawn["std"].iloc[3] == pytest.approx(1.0, abs=0.15)
