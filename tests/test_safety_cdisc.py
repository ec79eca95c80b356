"""Safety tables on the real CDISC SDTM/ADaM Pilot 01 data against the published tables made from it.

The study is the one ``tk.load_cdisc(sdtm, adam)`` reads (its ``adverse_events`` come from ADaM ADAE through
trialkit.io.adae.map_adverse_events); SDTM AE, which the pilot does not ship, is built from the ADAE's SDTM
variables to check the fallback. The files stay in ../shared and the tests skip when they are absent.

References
----------
[T14-5.01], [T14-5.02]  Atorus Research, CDISC_pilot_replication, outputs/14-5.01.rtf and 14-5.02.rtf at
    commit 73c178104647c4689d6de6198e3e7137f046e6c2: "Incidence of Treatment Emergent (Serious) Adverse
    Events by Treatment Group", safety population; every row kept in tests/fixtures/published/.
[R4CSR-SPEC], [R4CSR-SUM]  Zhang, Xiao, Anderson, Zhu, "R for Clinical Study Reports and Submission"
    (r4csr.org), github.com/elong0527/r4csr at commit 2482f9da6525a7bcc54219846ab857c90b676fbc:
    tlf/tlf_spec_ae.rtf ("Analysis of Participants With Specific Adverse Events", every ADAE record, not
    only treatment-emergent ones) and tlf/tlf_ae_summary.rtf ("Analysis of Adverse Event Summary").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.io.adae import map_adverse_events
from trialkit.safety import safety_data

pytestmark = pytest.mark.cdisc

PUBLISHED = Path(__file__).resolve().parent / "fixtures" / "published"
ARMS = {"Placebo": "Pbo", "Low": "Xan_Lo", "High": "Xan_Hi"}


@pytest.fixture(scope="module")
def adae(cdisc_dir):
    return pd.read_sas(cdisc_dir / "adam" / "adae.xpt", format="xport")


@pytest.fixture(scope="module")
def pilot(cdisc_study):
    """The pilot as load_cdisc reads it: every published comparison below goes through load_cdisc's ADAE."""
    return cdisc_study


def test_load_cdisc_reads_the_pilot_adae_into_adverse_events(cdisc_study, adae):
    mapping = map_adverse_events(adae, file="adae.xpt")
    assert len(mapping.problems) == 0
    pd.testing.assert_frame_equal(cdisc_study.adverse_events.reset_index(drop=True), mapping.frame)
    # the pilot's ADAE: 1191 records of 225 subjects (tests/test_safety_adae.py counts them variable by variable)
    assert len(cdisc_study.adverse_events) == 1191
    assert "adae.xpt: 1191 adverse event record(s) of 225 subject(s) mapped from ADAE" in cdisc_study.notes
    assert not any("SDTM AE" in n for n in cdisc_study.notes)


def _wide(result) -> pd.DataFrame:
    """One row per table row: key, n_<arm>, events_<arm>, p_<arm> (Fisher vs placebo)."""
    s = result.summary
    w = s.pivot_table(index=["order", "kind", "soc", "term"], columns="group", values=["n", "events"], observed=True)
    w.columns = [f"{a}_{b}" for a, b in w.columns]
    w = w.reset_index()
    p = result.differences.pivot_table(index="order", columns="comparison", values="p_value").reset_index()
    w = w.merge(p, on="order")
    w["key"] = np.where(w["kind"] == "any", "ANY", np.where(w["kind"] == "soc", w["soc"].str.upper(),
                                                            w["soc"].str.upper() + "|" + w["term"].str.upper()))
    return w


def _published(name: str) -> pd.DataFrame:
    ref = pd.read_csv(PUBLISHED / name, keep_default_na=False, dtype=str)
    ref["key"] = np.where(ref["term"] == "ANY BODY SYSTEM", "ANY", np.where(ref["term"] == "", ref["soc"],
                                                                           ref["soc"] + "|" + ref["term"]))
    return ref


def _p_matches(printed: str, value: float) -> bool:
    printed = printed.strip().rstrip("*").strip()
    if printed == "":  # printed blank: neither arm has the event, Fisher's p is 1
        return value == pytest.approx(1.0)
    if printed == ">.99":
        return value > 0.99
    return round(value, 3) == float(printed)


@pytest.mark.parametrize("name, kwargs", [("cdiscpilot01_t14-5.01_teae_by_soc_pt.csv", {}),
                                          ("cdiscpilot01_t14-5.02_serious_teae_by_soc_pt.csv", {"serious": True})])
def test_every_row_of_the_published_teae_tables(pilot, name, kwargs):
    # [T14-5.01] / [T14-5.02]: participants, events and Fisher's exact p for ANY BODY SYSTEM, every SOC and PT
    ours = _wide(tk.ae_table(pilot, **kwargs))
    ref = _published(name)
    merged = ref.merge(ours, on="key", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", "key"].tolist()
    assert len(merged) == {"cdiscpilot01_t14-5.01_teae_by_soc_pt.csv": 254}.get(name, 4)
    for arm, code in ARMS.items():
        np.testing.assert_array_equal(merged[f"n_{arm}"].astype(int), merged[f"n_{code}"], err_msg=arm)
        np.testing.assert_array_equal(merged[f"events_{arm}"].astype(int), merged[f"events_{code}"], err_msg=arm)
    for printed, comp in (("p_fisher_low", "Xan_Lo - Pbo"), ("p_fisher_high", "Xan_Hi - Pbo")):
        bad = [(k, t, v) for k, t, v in zip(merged["key"], merged[printed], merged[comp]) if not _p_matches(t, v)]
        assert not bad, bad[:5]


def test_teae_headline_counts_cited(pilot):
    t = tk.ae_table(pilot, rows="soc")
    n = t.summary.query("kind == 'any'").set_index("group")
    # [T14-5.01] header: Placebo (N=86), Xanomeline Low Dose (N=84), Xanomeline High Dose (N=84);
    # ANY BODY SYSTEM 65 (75.6%) [281], 77 (91.7%) [412], 76 (90.5%) [433]
    assert n["N"].to_dict() == {"Pbo": 86, "Xan_Lo": 84, "Xan_Hi": 84}
    assert n["n"].to_dict() == {"Pbo": 65, "Xan_Lo": 77, "Xan_Hi": 76}
    assert n["events"].to_dict() == {"Pbo": 281, "Xan_Lo": 412, "Xan_Hi": 433}
    assert n["pct"].round(1).to_dict() == {"Pbo": 75.6, "Xan_Lo": 91.7, "Xan_Hi": 90.5}
    # [T14-5.01] GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS 21 (24.4%), 47 (56.0%), 40 (47.6%)
    gen = t.summary[t.summary["soc"] == "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"].set_index("group")
    assert gen["n"].to_dict() == {"Pbo": 21, "Xan_Lo": 47, "Xan_Hi": 40}


# [R4CSR-SPEC]: participants per SOC, every ADAE record (the book does not filter on TRTEMFL)
R4CSR_SOC = {
    "Cardiac Disorders": (13, 13, 18), "Congenital, Familial and Genetic Disorders": (0, 1, 2),
    "Ear and Labyrinth Disorders": (1, 2, 1), "Eye Disorders": (4, 2, 1), "Gastrointestinal Disorders": (17, 15, 21),
    "General Disorders and Administration Site Conditions": (21, 47, 40), "Hepatobiliary Disorders": (1, 0, 0),
    "Immune System Disorders": (0, 1, 1), "Infections and Infestations": (16, 10, 13),
    "Injury, Poisoning and Procedural Complications": (4, 5, 5), "Investigations": (10, 7, 6),
    "Metabolism and Nutrition Disorders": (6, 1, 3), "Musculoskeletal and Connective Tissue Disorders": (5, 7, 8),
    "Neoplasms Benign, Malignant and Unspecified (Incl Cysts and Polyps)": (0, 2, 1),
    "Nervous System Disorders": (12, 20, 27), "Psychiatric Disorders": (10, 10, 9),
    "Renal and Urinary Disorders": (4, 4, 3), "Reproductive System and Breast Disorders": (2, 0, 1),
    "Respiratory, Thoracic and Mediastinal Disorders": (10, 10, 10),
    "Skin and Subcutaneous Tissue Disorders": (21, 42, 42), "Social Circumstances": (0, 0, 1),
    "Surgical and Medical Procedures": (2, 1, 2), "Vascular Disorders": (3, 3, 2),
}
# [R4CSR-SPEC]: participants per PT (a selection; the test above compares every treatment-emergent row)
R4CSR_PT = {
    "Application Site Pruritus": (6, 22, 22), "Application Site Erythema": (3, 12, 15), "Pruritus": (8, 23, 26),
    "Erythema": (9, 15, 14), "Rash": (5, 13, 11), "Dizziness": (2, 8, 12), "Sinus Bradycardia": (2, 7, 8),
    "Diarrhoea": (9, 5, 4), "Nasopharyngitis": (2, 4, 6), "Sudden Death": (0, 1, 0),
}


def test_all_events_by_soc_and_pt_match_r4csr(pilot):
    t = tk.ae_table(pilot, treatment_emergent=False)
    w = t.summary.pivot_table(index=["kind", "soc", "term"], columns="group", values="n", observed=True).reset_index()
    w["SOC"], w["TERM"] = w["soc"].str.title(), w["term"].str.title()

    def counts(row):
        return tuple(int(row[c]) for c in ("Pbo", "Xan_Lo", "Xan_Hi"))

    socs = {r.soc: counts(r._asdict()) for r in w[w["kind"] == "soc"].itertuples()}
    assert len(socs) == len(R4CSR_SOC) == 23
    for soc, expected in R4CSR_SOC.items():
        assert socs[soc.upper()] == expected, soc
    pts = w[w["kind"] == "pt"]
    assert len(pts) == 242  # [R4CSR-SPEC] lists 242 preferred terms under its 23 SOCs
    for term, expected in R4CSR_PT.items():
        row = pts[pts["term"].str.upper() == term.upper()]
        assert len(row) == 1 and counts(row.iloc[0]) == expected, term
    # [R4CSR-SPEC] "Participants in population" 86, 84, 84
    assert t.summary.query("kind == 'any'")["N"].tolist() == [86, 84, 84]


def test_ae_summary_matches_r4csr(pilot):
    # [R4CSR-SUM] (every ADAE record): with one or more AEs 69 (80.2), 77 (91.7), 79 (94.0); drug-related
    # (AEREL POSSIBLE/PROBABLE) 44 (51.2), 73 (86.9), 70 (83.3); serious 0, 1 (1.2), 2 (2.4); serious
    # drug-related 0, 1 (1.2), 1 (1.2); who died (AEOUT FATAL) 2 (2.3), 1 (1.2), 0
    res = tk.ae_summary(pilot, treatment_emergent=False)
    got = res.summary.pivot_table(index="category", columns="group", values="n", observed=True)
    expected = {"any": [69, 77, 79], "related": [44, 73, 70], "serious": [0, 1, 2], "serious_related": [0, 1, 1],
                "fatal": [2, 1, 0]}
    for cat, values in expected.items():
        assert got.loc[cat, ["Pbo", "Xan_Lo", "Xan_Hi"]].tolist() == values, cat
    # the pilot's ADAE leaves AEACN blank on every record: its discontinuation count of 0 is flagged as unknown
    assert any(n.startswith("action_taken not recorded for 1191 of 1191 event(s)") and "not none" in n
               for n in res.notes)
    pct = res.summary.pivot_table(index="category", columns="group", values="pct", observed=True).round(1)
    assert pct.loc["any"].tolist() == [80.2, 91.7, 94.0] and pct.loc["related"].tolist() == [51.2, 86.9, 83.3]


def test_derived_treatment_emergent_flag_equals_trtemfl_where_the_start_is_known(pilot):
    """Our rule (start on or after the first dose, ADSL TRTSDT) gives ADAE's TRTEMFL for all 1180 dated records.
    The 11 records without a start date (and without an end date) are TRTEMFL = N in the pilot; trialkit's
    rule counts an undated event as treatment-emergent (the conservative convention, docs/safety.md), so they
    are the only disagreements. Data that carry TRTEMFL are used as they are."""
    derived = pilot.replace(adverse_events=pilot.adverse_events.assign(
        treatment_emergent=pd.array([pd.NA] * len(pilot.adverse_events), dtype="boolean")))
    sd = safety_data(derived, treatment_emergent=False)
    key = ["subject_id", "ae_seq"]
    flags = pilot.adverse_events.set_index(key)
    ours = sd.events.set_index(key)["treatment_emergent"].reindex(flags.index)
    dated = flags["start_date"].notna()
    assert int(dated.sum()) == 1180 and (ours[dated] == flags.loc[dated, "treatment_emergent"]).all()
    assert int(flags.loc[dated, "treatment_emergent"].sum()) == 1126  # TRTEMFL = Y: 1126 records
    assert (~flags.loc[~dated, "treatment_emergent"]).all() and ours[~dated].all() and int((~dated).sum()) == 11
    assert any("derived for 1191 event(s)" in n for n in sd.notes)
    assert any("11 event(s) without a start date or first-dose date counted as treatment-emergent" in n
               for n in sd.notes)


def test_dermatologic_events_agree_with_adtte(pilot):
    """ADAE CQ01NAM "DERMATOLOGIC EVENTS" as the AESI category: participants with a treatment-emergent one are
    the TTDE events of ADTTE (152: 29 / 62 / 61), and the Aalen-Johansen curve ends at n/N when nobody was
    censored or died before their event."""
    res = tk.aesi(pilot, category="dermatologic events")
    assert res.category == "DERMATOLOGIC EVENTS"
    n = res.summary.set_index("group")["n"]
    events = pilot.outcomes.merge(pilot.randomization[["subject_id", "arm"]]).groupby("arm")["event"].sum()
    assert n.to_dict() == {k: int(v) for k, v in events.items()} == {"Pbo": 29, "Xan_Lo": 62, "Xan_Hi": 61}
    inc = res.incidence
    assert set(inc["group"].astype(str)) == {"Pbo", "Xan_Lo", "Xan_Hi"}
    assert (inc.groupby("group", observed=True)["cif"].apply(lambda c: c.is_monotonic_increasing)).all()
    assert len(res.listing) == int(res.summary["events"].sum())


SDTM_AE_VARIABLES = ["STUDYID", "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AEBODSYS", "AESEV", "AESER", "AEREL",
                     "AEACN", "AEOUT", "AESDTH"]


def test_load_cdisc_falls_back_to_sdtm_ae_without_adae(cdisc_dir, adae):
    """SDTM AE (built from the ADAE's SDTM variables, start dates as ISO 8601 AESTDTC) in place of ADAE: the same
    1191 records, treatment-emergence derived from the first dose instead of TRTEMFL. Every-record counts are
    those of [R4CSR-SUM]; treatment-emergent counts are [T14-5.01]'s plus the 11 undated records (ADAE ASTDT
    empty: 7 Placebo, 4 High Dose, counted from the file), which the documented rule counts as emergent."""
    from trialkit.io.cdisc.mapping import ADAM_DATASETS, SDTM_DOMAINS, map_cdisc
    from trialkit.io.sas import read_xpt

    domains = {p.stem.lower(): read_xpt(p) for kind in ("sdtm", "adam") for p in sorted((cdisc_dir / kind).glob("*.xpt"))
               if p.stem.lower() in SDTM_DOMAINS + ADAM_DATASETS and p.stem.lower() != "adae"}
    src = read_xpt(cdisc_dir / "adam" / "adae.xpt")
    ae = src[SDTM_AE_VARIABLES].copy()
    ae["AESTDTC"] = (pd.Timestamp("1960-01-01") + pd.to_timedelta(src["ASTDT"], unit="D")).dt.strftime("%Y-%m-%d")
    study = map_cdisc({**domains, "ae": ae})
    assert "adverse events from SDTM AE (no ADAE given)" in study.notes
    ev = study.adverse_events
    assert len(ev) == 1191 and ev["treatment_emergent"].isna().all()
    assert int(ev["start_date"].isna().sum()) == 11
    every = tk.ae_summary(study, treatment_emergent=False).summary.pivot_table(
        index="category", columns="group", values="n", observed=True)
    for cat, values in {"any": [69, 77, 79], "related": [44, 73, 70], "serious": [0, 1, 2], "fatal": [2, 1, 0]}.items():
        assert every.loc[cat, ["Pbo", "Xan_Lo", "Xan_Hi"]].tolist() == values, cat  # [R4CSR-SUM]
    undated = pd.Series(adae.loc[adae["ASTDT"].isna(), "TRTA"].str.decode("utf-8")).value_counts().to_dict()
    assert undated == {"Placebo": 7, "Xanomeline High Dose": 4}
    te = tk.ae_table(study, rows="soc").summary.query("kind == 'any'").set_index("group")["events"]
    assert te.to_dict() == {"Pbo": 281 + 7, "Xan_Lo": 412, "Xan_Hi": 433 + 4}  # [T14-5.01] ANY BODY SYSTEM events


def test_load_cdisc_prefers_adae_when_sdtm_ae_is_given_too(cdisc_dir, adae):
    from trialkit.io.cdisc.mapping import ADAM_DATASETS, SDTM_DOMAINS, map_cdisc
    from trialkit.io.sas import read_xpt

    domains = {p.stem.lower(): read_xpt(p) for kind in ("sdtm", "adam") for p in sorted((cdisc_dir / kind).glob("*.xpt"))
               if p.stem.lower() in SDTM_DOMAINS + ADAM_DATASETS}
    ae = domains["adae"][SDTM_AE_VARIABLES].head(5)
    study = map_cdisc({**domains, "ae": ae})
    assert "AE given as well as ADAE: adverse events come from ADAE" in study.notes
    assert len(study.adverse_events) == 1191 and study.adverse_events["treatment_emergent"].notna().all()


def test_risk_difference_intervals_on_the_pilot_by_hand(pilot):
    """The Newcombe hybrid score interval (Newcombe 1998, method 10) of ae_table's rows, group minus placebo,
    computed by hand from Wilson's score limits (z = 1.959964): l, u = (2np + z^2 -/+ z sqrt(z^2 + 4np(1-p))) /
    (2(n + z^2)); RD - sqrt((p1 - l1)^2 + (u2 - p2)^2), RD + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    ANY TEAE [T14-5.01] High 76/84, Low 77/84, Placebo 65/86: Wilson High 0.82317-0.95095, Placebo
    0.65537-0.83438, so High - Placebo = 0.14895 (0.03568 to 0.25950); Low - Placebo 0.16085 (0.04956 to
    0.26987); APPLICATION SITE PRURITUS High 22/84 vs Placebo 6/86: 0.19214 (0.08150 to 0.30167)."""
    d = tk.ae_table(pilot).differences
    got = {(t.upper(), c): [round(x, 4) for x in v]
           for t, c, *v in d[["term", "comparison", "rd", "lower", "upper"]].itertuples(index=False)}
    assert got[("ANY ADVERSE EVENT", "Xan_Hi - Pbo")] == [0.1489, 0.0357, 0.2595]
    assert got[("ANY ADVERSE EVENT", "Xan_Lo - Pbo")] == [0.1609, 0.0496, 0.2699]
    assert got[("APPLICATION SITE PRURITUS", "Xan_Hi - Pbo")] == [0.1921, 0.0815, 0.3017]
