"""The canonical trial data model: the tables a study is made of.

A study is six tables (seven with the optional ``adverse_events``) with snake_case columns and
explicit dtypes. Every loader (flat files, CDISC SDTM/ADaM, the synthetic generator) produces exactly
these tables, and every analysis reads them. The column lists below are the single source of truth:
the pandera schemas in :mod:`trialkit.schemas` and the data-model page in ``docs/data-model.md`` are built from them.

Tables
------
``sites``
    One row per site: ``site_id, site_name, city, region, country, activation_date, status``.
``screening``
    One row per screening episode (``subject_id`` is unique): who was screened where and when,
    every input a protocol's eligibility criteria read, and the site's recorded screening
    outcome when the data carry it. Columns a protocol does not use may be absent or empty.
``randomization``
    One row per randomized subject: ``subject_id, site_id, randomization_date, arm`` plus one
    column per stratification factor named in the protocol (``stratification:``).
``disposition``
    One row per randomized subject: milestones after randomization (treatment start, end of
    induction, discontinuation with reason, lost to follow-up, death, last contact).
``response``
    One row per randomized subject assessed at end of induction: best response (CR, CRi, PR, NR,
    NE) and MRD status.
``outcomes``
    Time-to-event endpoints in long form, one row per subject and endpoint, compatible with ADaM
    ADTTE: ``event = 1 - CNSR`` and ``time_days = end_date - start_date + 1`` (the ADaM
    convention ``AVAL = ADT - STARTDT + 1``: the start day is day 1).
``adverse_events``
    Optional. One row per adverse event (key ``subject_id, ae_seq``), compatible with SDTM AE /
    ADaM ADAE: the term as reported, MedDRA preferred term and system organ class, dates, CTCAE
    grade, seriousness, relatedness, action taken, outcome, the treatment-emergent flag and the
    adverse-event-of-special-interest category. Where ``treatment_emergent`` is empty it is
    derived (start on or after the first dose, ``disposition.treatment_start_date``); where
    ``aesi_category`` is empty it comes from the protocol's ``aesi:`` lists of preferred terms
    (see ``docs/safety.md``).

Dtypes use pandas' nullable types: ``string``, ``boolean``, ``Int64``, ``Float64`` and
``datetime64[ns]`` (missing = ``NaT``), so a missing value is always ``<NA>``/``NaT`` and never a
silently coerced ``False`` or ``0``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

TABLES = ("sites", "screening", "randomization", "disposition", "response", "outcomes", "adverse_events")


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``dtype`` is one of ``string, boolean, Int64, Float64, datetime``. ``required`` columns must be
    present in the input file; optional columns are added empty when absent. ``allowed`` lists the
    permitted values of a categorical column, ``min``/``max`` bound a numeric one.
    """

    name: str
    dtype: str
    description: str
    required: bool = False
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None


def _c(name, dtype, description, **kw) -> Column:
    return Column(name=name, dtype=dtype, description=description, **kw)


SITE_STATUS = ("planned", "not yet recruiting", "recruiting", "active, not recruiting", "closed", "withdrawn")
SEX = ("F", "M", "U")
SCREENING_OUTCOMES = ("eligible", "screen failure", "declined", "other")
RELAPSE_SITES = ("bone marrow", "bone marrow + CNS", "bone marrow + testis", "bone marrow + other EM",
                 "isolated extramedullary")
ORCHIECTOMY = ("done", "planned", "not planned")
DIAGNOSES = ("B-ALL", "MPAL", "B-LLy")
CNS_STATUS = ("CNS1", "CNS2", "CNS3")
RESPONSES = ("CR", "CRi", "PR", "NR", "NE")

SITES = (
    _c("site_id", "string", "Site identifier, unique", required=True, nullable=False),
    _c("site_name", "string", "Institution name as registered"),
    _c("city", "string", "City"),
    _c("region", "string", "State, province or region as registered (may be empty)"),
    _c("country", "string", "Country (English short name)", required=True, nullable=False),
    _c("activation_date", "datetime", "Date the site opened to accrual (empty if not yet active)"),
    _c("status", "string", "Recruitment status", allowed=SITE_STATUS),
)

SCREENING = (
    # who, where, when
    _c("subject_id", "string", "Subject identifier, unique within the study", required=True, nullable=False),
    _c("site_id", "string", "Screening site (must be in `sites`)", required=True, nullable=False),
    _c("screening_date", "datetime", "Date of the screening episode (consent / first screening visit)",
       required=True, nullable=False),
    _c("birth_date", "datetime", "Date of birth (partial dates allowed; used when age_years is empty)"),
    _c("age_years", "Float64", "Age at screening in years (derived from birth_date when empty)", min=0, max=120,
       unit="years"),
    _c("sex", "string", "Sex", allowed=SEX),
    _c("country", "string", "Country of the screening site (filled from `sites` when empty)"),
    # disease history (B1931036: first relapse; AALL1732: new diagnosis)
    _c("diagnosis", "string", "Diagnosis at screening", allowed=DIAGNOSES),
    _c("diagnosis_date", "datetime", "Date of original diagnosis of ALL"),
    _c("relapse_date", "datetime", "Date of the (first) relapse"),
    _c("relapse_number", "Int64", "Number of the current relapse (1 = first)", min=0, max=10),
    _c("relapse_morphology_confirmed", "boolean", "Relapse confirmed morphologically"),
    _c("relapse_site", "string", "Site of relapse", allowed=RELAPSE_SITES),
    _c("primary_therapy_end_date", "datetime", "Date primary (frontline) therapy was completed"),
    _c("marrow_blasts_pct", "Float64", "Bone-marrow leukemic blasts", min=0, max=100, unit="%"),
    _c("cd22_positive", "boolean", "CD22-positive as defined by the local institution"),
    _c("cd22_pct", "Float64", "Share of blasts expressing CD22 (flow cytometry), when reported", min=0, max=100,
       unit="%"),
    # genetics
    _c("kmt2a_aff1", "boolean", "KMT2A::AFF1 fusion, t(4;11)(q21;q23)"),
    _c("tcf3_hlf", "boolean", "TCF3-HLF fusion, t(17;19)(q22;p13)"),
    _c("tcf3_pbx1", "boolean", "TCF3-PBX1 fusion, t(1;19)(q23;p13.3)"),
    _c("modal_chromosomes", "Int64", "Modal chromosome number of the leukemic clone", min=20, max=100),
    _c("masked_low_hypodiploidy", "boolean", "Masked low hypodiploidy (doubled hypodiploid clone)"),
    _c("tp53_alteration", "boolean", "TP53 alteration"),
    _c("ph_positive", "boolean", "Philadelphia chromosome positive (BCR::ABL1 / t(9;22))"),
    _c("down_syndrome", "boolean", "Down syndrome (constitutional trisomy 21)"),
    # labs and organ function
    _c("height_cm", "Float64", "Height", min=30, max=230, unit="cm"),
    _c("weight_kg", "Float64", "Weight", min=2, max=250, unit="kg"),
    _c("creatinine_mg_dl", "Float64", "Serum creatinine", min=0, max=30, unit="mg/dL"),
    _c("egfr_ml_min", "Float64", "Renal function as reported by the site (eGFR/eCrCl, mL/min/1.73 m²); "
       "derived from creatinine and height when empty", min=0, max=400, unit="mL/min/1.73m2"),
    _c("ast_u_l", "Float64", "AST", min=0, unit="U/L"),
    _c("ast_uln_u_l", "Float64", "AST institutional upper limit of normal", min=0, unit="U/L"),
    _c("alt_u_l", "Float64", "ALT", min=0, unit="U/L"),
    _c("alt_uln_u_l", "Float64", "ALT institutional upper limit of normal", min=0, unit="U/L"),
    _c("bilirubin_mg_dl", "Float64", "Total bilirubin", min=0, unit="mg/dL"),
    _c("bilirubin_uln_mg_dl", "Float64", "Total bilirubin institutional upper limit of normal", min=0,
       unit="mg/dL"),
    _c("gilbert_syndrome", "boolean", "Documented Gilbert's syndrome"),
    _c("wbc_per_ul", "Float64", "White blood cell count at diagnosis", min=0, unit="/µL"),
    _c("wbc_date", "datetime", "Date of the WBC measurement"),
    _c("peripheral_blasts_per_ul", "Float64", "Circulating leukemia cells in peripheral blood", min=0,
       unit="/µL"),
    _c("diagnostic_marrow_sufficient", "boolean", "Sufficient diagnostic bone marrow submitted (APEC14B1)"),
    # cardiac
    _c("shortening_fraction_pct", "Float64", "Cardiac shortening fraction by echocardiogram", min=0, max=100,
       unit="%"),
    _c("ejection_fraction_pct", "Float64", "Ejection fraction by MUGA", min=0, max=100, unit="%"),
    # history and therapy
    _c("prior_thrombosis", "boolean", "Prior thrombosis during corticosteroid and/or asparaginase use"),
    _c("anticoagulant_prophylaxis", "boolean", "Receives anticoagulant prophylaxis per institutional guidelines"),
    _c("testicular_involvement", "boolean", "Testicular leukemia (at relapse for B1931036, at diagnosis for "
       "AALL1732)"),
    _c("orchiectomy", "string", "Orchiectomy status for testicular relapse", allowed=ORCHIECTOMY),
    _c("cns_status", "string", "CNS status at diagnosis", allowed=CNS_STATUS),
    _c("steroid_pretreatment", "boolean", "Steroid pretreatment before protocol therapy"),
    _c("intrathecal_cytarabine", "boolean", "Intrathecal cytarabine given before protocol therapy"),
    _c("prior_cytotoxic_chemo", "boolean", "Prior cytotoxic chemotherapy other than steroid pretreatment or "
       "intrathecal cytarabine"),
    _c("hepatic_sos_history", "boolean", "Prior or ongoing hepatic sinusoidal obstruction syndrome"),
    _c("liver_failure_history", "boolean", "Prior liver failure (severe acute liver injury, encephalopathy, "
       "INR ≥ 1.5)"),
    _c("prior_allo_hsct", "boolean", "Prior allogeneic haematopoietic stem-cell transplant"),
    _c("prior_car_t", "boolean", "Prior CAR T-cell therapy"),
    _c("prior_calicheamicin", "boolean", "Prior calicheamicin-conjugated antibody (InO, gemtuzumab ozogamicin)"),
    _c("active_uncontrolled_infection", "boolean", "Active, uncontrolled bacterial, fungal or viral infection"),
    _c("peg_asp_hypersensitivity", "boolean", "Hypersensitivity/allergy to PEG-asparaginase"),
    _c("erwinia_asp_hypersensitivity", "boolean", "Hypersensitivity/allergy to Erwinia-asparaginase"),
    _c("apec14b1_enrolled", "boolean", "Enrolled on APEC14B1 with eligibility-studies consent (Part A)"),
    _c("therapy_start_date", "datetime", "Start of protocol-directed systemic therapy (planned or actual)"),
    _c("mpal_confirmation_date", "datetime", "Date of central confirmation of MPAL (post-enrollment)"),
    # the site's own verdict
    _c("screening_outcome", "string", "Site-recorded outcome of screening", allowed=SCREENING_OUTCOMES),
    _c("screen_failure_reason", "string", "Site-recorded reason (free text or criterion id)"),
    # enrollment (kept last: the generator draws per column in this order, so adding columns at the end
    # leaves existing synthetic data unchanged)
    _c("enrollment_date", "datetime", "Date of enrollment on study (on-study date); post-enrollment windows "
       "count from it, or from screening_date when it is empty"),
)

RANDOMIZATION = (
    _c("subject_id", "string", "Subject identifier (must be in `screening`)", required=True, nullable=False),
    _c("site_id", "string", "Randomizing site (must be in `sites`)", required=True, nullable=False),
    _c("randomization_date", "datetime", "Date of randomization", required=True, nullable=False),
    _c("arm", "string", "Randomized (planned) arm code, one of the protocol's arms", required=True,
       nullable=False),
    _c("actual_arm", "string", "Arm actually received (empty if not treated or same as planned unknown)"),
    _c("stratum", "string", "Stratum label (the stratification factors joined with ' / ')"),
)

DISPOSITION = (
    _c("subject_id", "string", "Randomized subject", required=True, nullable=False),
    _c("treated", "boolean", "Received at least one dose of the allocated intervention"),
    _c("treatment_start_date", "datetime", "First dose of study intervention"),
    _c("end_of_induction_date", "datetime", "End of induction (end of treatment) assessment"),
    _c("completed_induction", "boolean", "Completed the induction cycle"),
    _c("discontinued", "boolean", "Discontinued study intervention or went off protocol early"),
    _c("discontinuation_date", "datetime", "Date of discontinuation / off protocol"),
    _c("discontinuation_reason", "string", "Reason for discontinuation / off protocol"),
    _c("lost_to_follow_up", "boolean", "Lost to follow-up"),
    _c("lost_to_follow_up_date", "datetime", "Date last known before loss to follow-up"),
    _c("death_date", "datetime", "Date of death"),
    _c("last_contact_date", "datetime", "Last date known alive (or date of death)"),
    _c("analysed", "boolean", "Included in the primary analysis population"),
    _c("safety", "boolean", "In the safety population (ADaM SAFFL); where empty, `treated` defines it"),
    _c("efficacy", "boolean", "In the efficacy population (ADaM EFFFL)"),
    _c("per_protocol", "boolean", "In the per-protocol population (ADaM PPROTFL)"),
)

RESPONSE = (
    _c("subject_id", "string", "Randomized subject", required=True, nullable=False),
    _c("assessment_date", "datetime", "Date of the end-of-induction response assessment"),
    _c("response", "string", "Best response at end of induction", allowed=RESPONSES),
    _c("mrd_negative", "boolean", "MRD negative at end of induction (e.g. < 0.01 %)"),
    _c("mrd_pct", "Float64", "MRD level", min=0, max=100, unit="%"),
)

OUTCOMES = (
    _c("subject_id", "string", "Randomized subject", required=True, nullable=False),
    _c("endpoint", "string", "Endpoint code, e.g. EFS, OS (ADaM PARAMCD)", required=True, nullable=False),
    _c("start_date", "datetime", "Time origin (usually randomization) (ADaM STARTDT)"),
    _c("end_date", "datetime", "Event or censoring date (ADaM ADT)"),
    _c("event", "Int64", "1 = event, 0 = censored (ADaM: 1 - CNSR)", required=True, nullable=False, min=0,
       max=1),
    _c("time_days", "Float64", "end_date - start_date + 1 (ADaM AVAL in days)", required=True, nullable=False,
       min=0, unit="days"),
    _c("event_description", "string", "What the event or censoring was (ADaM EVNTDESC)"),
)

# ---- adverse events (issue 11) ------------------------------------------------------------------
#: CTCAE grades; 5 = death related to the adverse event
AE_GRADES = (1, 5)
#: severity as SDTM AESEV records it (mapped to grades 1-3 when a CTCAE grade is absent)
AE_SEVERITY = ("mild", "moderate", "severe")
#: CDISC controlled terminology for AEACN (codelist C66767), lower case
AE_ACTIONS = ("dose not changed", "dose reduced", "dose rate reduced", "dose increased", "drug interrupted",
              "drug withdrawn", "not applicable", "unknown")
#: CDISC controlled terminology for AEOUT (codelist C66768), lower case
AE_OUTCOMES = ("recovered/resolved", "recovering/resolving", "not recovered/not resolved",
               "recovered/resolved with sequelae", "fatal", "unknown")

ADVERSE_EVENTS = (
    _c("subject_id", "string", "Subject with the event (must be in `randomization`) (SDTM USUBJID)", required=True,
       nullable=False),
    _c("ae_seq", "Int64", "Sequence number of the event within the subject (SDTM AESEQ)", required=True,
       nullable=False, min=0),
    _c("term", "string", "Adverse event term as reported by the site (SDTM AETERM)"),
    _c("preferred_term", "string", "MedDRA preferred term (SDTM AEDECOD); empty while not yet coded"),
    _c("soc", "string", "MedDRA primary system organ class (SDTM AEBODSYS)"),
    _c("start_date", "datetime", "Start date of the event (SDTM AESTDTC, ADaM ASTDT)"),
    _c("end_date", "datetime", "End date of the event; empty while ongoing (SDTM AEENDTC, ADaM AENDT)"),
    _c("grade", "Int64", "CTCAE grade, 1-5 (SDTM AETOXGR); from `severity` (mild 1, moderate 2, severe 3) "
       "when a loader finds no grade", min=AE_GRADES[0], max=AE_GRADES[1]),
    _c("severity", "string", "Severity as recorded (SDTM AESEV)", allowed=AE_SEVERITY),
    _c("serious", "boolean", "Serious adverse event (SDTM AESER)"),
    _c("related", "boolean", "Related to study treatment in the investigator's judgement (from SDTM AEREL)"),
    _c("causality", "string", "Relationship to study treatment as recorded (SDTM AEREL, e.g. PROBABLE, REMOTE)"),
    _c("action_taken", "string", "Action taken with study treatment (SDTM AEACN)", allowed=AE_ACTIONS),
    _c("outcome", "string", "Outcome of the event (SDTM AEOUT; 'fatal' also when AESDTH = Y)", allowed=AE_OUTCOMES),
    _c("treatment_emergent", "boolean", "Treatment-emergent (ADaM TRTEMFL); derived when empty: started on or after "
       "the first dose"),
    _c("aesi_category", "string", "Adverse event of special interest category (e.g. hepatic_vod_sos); from the "
       "protocol's `aesi:` lists when empty"),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "sites": SITES,
    "screening": SCREENING,
    "randomization": RANDOMIZATION,
    "disposition": DISPOSITION,
    "response": RESPONSE,
    "outcomes": OUTCOMES,
    "adverse_events": ADVERSE_EVENTS,
}

#: Tables a study must have; the others may be absent (an ongoing screening-only study).
REQUIRED_TABLES = ("sites", "screening")

#: The key of each table (unique per row).
KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("site_id",),
    "screening": ("subject_id",),
    "randomization": ("subject_id",),
    "disposition": ("subject_id",),
    "response": ("subject_id",),
    "outcomes": ("subject_id", "endpoint"),
    "adverse_events": ("subject_id", "ae_seq"),
}


def columns(table: str) -> tuple[Column, ...]:
    """Return the column specification of a canonical table."""
    from .errors import UsageError

    try:
        return COLUMNS[table]
    except KeyError:
        raise UsageError(f"unknown table {table!r}; the canonical tables are {', '.join(TABLES)}") from None


def column_names(table: str) -> list[str]:
    """Return the canonical column names of ``table`` in order."""
    return [c.name for c in columns(table)]


_PANDAS_DTYPE = {"string": "string", "boolean": "boolean", "Int64": "Int64", "Float64": "Float64",
                 "datetime": "datetime64[ns]"}


def pandas_dtype(col: Column) -> str:
    """The pandas dtype string a canonical column is stored with."""
    return _PANDAS_DTYPE[col.dtype]


def empty_table(table: str, extra: dict[str, str] | None = None) -> pd.DataFrame:  # noqa: F821
    """An empty frame with the canonical columns and dtypes of ``table`` (a new frame each call)."""
    import pandas as pd

    out = _empty_template(table).copy()
    for name, dtype in (extra or {}).items():
        out[name] = pd.Series(dtype=dtype)
    return out


@functools.cache
def _empty_template(table: str) -> pd.DataFrame:  # noqa: F821
    """Built once per table (about 20 ms: one typed Series per column); :func:`empty_table` copies it."""
    import pandas as pd

    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c)) for c in columns(table)})


@dataclass(frozen=True)
class TableDoc:
    name: str
    columns: tuple[Column, ...] = field(default_factory=tuple)


def data_model_markdown() -> str:
    """Render the data model as a Markdown page (``docs/data-model.md`` is this text)."""
    out = ["# The canonical data model", "", "Generated from `trialkit/model.py` "
           "(`python -m trialkit.model > docs/data-model.md`); a test keeps the two equal.", ""]
    out += [line.strip() for line in (__doc__ or "").split("Tables\n------")[1].split("Dtypes")[0].splitlines()]
    for table in TABLES:
        out += ["", f"## `{table}`", "", f"Key: `{', '.join(KEYS[table])}`", "",
                "| column | dtype | required | unit | allowed / range | description |",
                "|---|---|---|---|---|---|"]
        for c in columns(table):
            rng = ", ".join(c.allowed) if c.allowed else ""
            if c.min is not None or c.max is not None:
                rng = f"{'' if c.min is None else c.min} – {'' if c.max is None else c.max}"
            req = "yes" if c.required else ""
            out.append(f"| `{c.name}` | {c.dtype} | {req} | {c.unit or ''} | {rng} | {c.description} |")
    from .conventions import reading_markdown  # study.yaml, missing tokens, decimal and date inference

    out += ["", reading_markdown().rstrip("\n")]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(data_model_markdown(), end="")
