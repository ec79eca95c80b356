"""Load CDISC SDTM and ADaM datasets (SAS transport ``.xpt`` files) onto the canonical tables.

:func:`load_cdisc` reads the domains from two folders and hands the frames to :func:`map_cdisc`,
which runs one mapper per domain on plain DataFrames (so each can be tested with a small inline
frame, and data read by other means, e.g. ``pyreadstat`` or Dataset-JSON, can use them too). Every
mapper returns a :class:`~trialkit.io.mapped.Mapped`: its frame, its problems and its notes.

=======================  ====================================================================
mapper                   domain → what
=======================  ====================================================================
:func:`map_sites`        DM → ``sites``
:func:`map_screening`    DM (+ SV dates, IE/SUPPDS reasons, ADSL covariates) → ``screening``
:func:`map_randomization`  DM (+ ADSL/DS/SV dates, ADSL TRT01A) → ``randomization``
:func:`map_disposition`  DM + DS + ADSL → ``disposition``
:func:`map_sv`           SV → screening, first and baseline visit dates per subject
:func:`map_ds`           DS → disposition event, randomization and death dates per subject
:func:`map_ie`           IE → criteria not met per subject
:func:`map_suppds`       SUPPDS ``ENTCRIT`` → criteria not met per subject
:func:`map_adsl`         ADSL → dates, population flags and baseline covariates per subject
:func:`read_adtte`       ADTTE → ``outcomes`` (the one ADTTE reader, :mod:`trialkit.io.adtte`)
:func:`protocol_from_sdtm`  TA, TI, TS (+ DM, ADSL, ADTTE) → the protocol
:func:`~trialkit.io.adae.map_adverse_events`  ADaM ADAE, else SDTM AE → ``adverse_events``
=======================  ====================================================================

A new domain is one more mapper returning a ``Mapped`` and one line in
:func:`map_cdisc`'s orchestration.

What maps to what
-----------------
=================  ===========================================================================
canonical table    source
=================  ===========================================================================
``sites``          DM ``SITEID`` (one row per site), ``COUNTRY``. SDTM carries no site names or
                   cities: ``site_name``/``city`` stay empty, never invented.
``screening``      every DM subject, screen failures included (they are in SDTM DM, not in
                   ADaM): ``USUBJID``, ``SITEID``, ``AGE``/``AGEU``, ``SEX``, ``COUNTRY``,
                   ``BRTHDTC``; ``screening_outcome`` from ``ARMCD``/``ARMNRS``;
                   ``screen_failure_reason`` from IE (else SUPPDS ``ENTCRIT``), empty when the
                   data do not record one; ``height_cm``/``weight_kg`` from ADSL ``HEIGHTBL``/
                   ``WEIGHTBL``; extra ``bmi`` (ADSL ``BMIBL``), ``race``, ``ethnicity`` and
                   ``entry_criterion_not_met``.
``randomization``  DM subjects with an arm: ``ARMCD`` (planned) and ``ACTARMCD`` (actual) kept
                   apart; extra ``arm_label``, ``actual_arm_label``, ``actual_arm_adsl``
                   (ADSL ``TRT01A``), ``site_group`` (ADSL ``SITEGR1``).
``disposition``    DS ``DSCAT = "DISPOSITION EVENT"`` (``DSDECOD``, ``DSTERM``, ``DSSTDTC``),
                   ADSL (``TRTSDT``, ``TRTEDT``, ``DCDECOD``, ``DTHFL``; ``ITTFL`` →
                   ``analysed``, ``SAFFL`` → ``safety``, ``EFFFL`` → ``efficacy``, ``PPROTFL`` →
                   ``per_protocol``), DM (``DTHDTC``, ``RFPENDTC``, ``RFXSTDTC``).
``outcomes``       ADTTE through :func:`~trialkit.io.adtte.read_adtte`: ``PARAMCD`` →
                   ``endpoint``, ``STARTDT`` → ``start_date``, ``ADT`` → ``end_date``, ``CNSR`` →
                   ``event``, ``AVAL`` → ``time_days``, ``EVNTDESC`` → ``event_description``;
                   extra ``endpoint_label`` (``PARAM``), ``cnsr`` and the flags (``saffl`` …).
``response``       not mapped (no end-of-induction response in these domains): left empty.
``Study.adam``     ``{"adsl": ..., "adtte": ...}``: the ADaM datasets as read (decoded, IBM zeros
                   repaired), every variable kept, ``subject_id`` (from ``USUBJID``) first.
protocol           built at load time from TA (arms), TI (criteria wording, in
                   ``protocol.raw["ti_criteria"]``), TS (title, phase, planned subjects, when
                   present), DM (sites) and ADTTE (endpoints), unless ``protocol=`` is given.
=================  ===========================================================================

Choices (each is also recorded in ``Study.notes`` with its counts)
-------------------------------------------------------------------
* **Screening date**: the first SV visit whose ``VISIT`` starts with "SCREEN" (lowest
  ``VISITNUM``); else DM ``RFICDTC`` (informed consent); else the subject's earliest SV visit;
  else DM ``DMDTC``. In the CDISC pilot, SV "SCREENING 1" equals DS's SCREEN FAILURE date and DM
  ``DMDTC`` for every subject.
* **Randomization date**: SDTM has no randomization date variable and the pilot's DS has no
  RANDOMIZED record. In order of preference: ADSL ``RANDDT``; DS ``DSDECOD = "RANDOMIZED"``
  ``DSSTDTC``; the first SV visit whose ``VISIT`` starts with "BASELINE"; DM ``RFSTDTC``. In the
  pilot the baseline visit date is used and equals ``RFSTDTC`` (first dose) for all 254
  randomized subjects.
* **Screening outcome**: ``ARMCD = "SCRNFAIL"`` (any case) or a blank ``ARMCD`` with
  ``ARMNRS = "SCREEN FAILURE"`` → "screen failure"; ``ARMCD = "NOTASSGN"`` or another blank
  ``ARMCD`` → "other" (reason: IE criteria, else ``ARMNRS``); a subject with an arm →
  "eligible" (the site judged them eligible; later-found violations are in
  ``entry_criterion_not_met``).
* **Screen-failure reason**: the IE criteria not met (``IETESTCD``, joined by "; ") when an IE
  domain is present; else SUPPDS ``ENTCRIT``; else empty ("not recorded"). The pilot has no IE and
  no reason for its 52 screen failures, so the reason stays empty.
* **Entry criteria not met by randomized subjects**: IE records and SUPPDS ``QNAM = "ENTCRIT"``
  of randomized subjects go to the extra screening column ``entry_criterion_not_met``. The
  criterion number in ``QVAL`` is resolved to the TI ``IETESTCD`` with that number when exactly
  one exists (the pilot numbers INCL01–08 and EXCL09–31 consecutively: ``16`` → ``EXCL16``),
  otherwise it is kept as recorded.
* **Baseline covariates**: ADSL ``HEIGHTBL`` → ``height_cm``, ``WEIGHTBL`` → ``weight_kg``,
  ``BMIBL`` → the extra ``bmi`` (the pilot labels them "Baseline Height (cm)", "Baseline Weight
  (kg)", "Baseline BMI (kg/m^2)"; a label naming another unit is a problem). Screen failures have
  no ADSL record, so no values. Every other ADSL variable (``MMSETOT``, ``AGEGR1``/``AGEGR1N`` …)
  stays reachable in ``Study.adam["adsl"]``.
* **Arm order** (``Protocol.arm_codes``): by dose — ADSL ``TRT01PN`` of each planned arm, else a
  number in the arm label ("54 mg"), placebo/control 0 — then by a dose word in the label
  (low < medium < high), then by TA order; never by alphabet. The pilot gives Pbo (0),
  Xan_Lo (54), Xan_Hi (81); without ADSL the labels "Low Dose"/"High Dose" give the same order.
* **Allocation ratio**: TA does not carry it. The built protocol assumes equal allocation (the
  pilot randomized 1:1:1) with the lowest-dose arm (placebo) as reference; pass ``protocol=`` for
  another design.
* **Actual arm**: DM ``ACTARMCD`` (collected) is ``actual_arm``; ADSL ``TRT01A`` mapped to arm
  codes is kept as ``actual_arm_adsl``. They differ in the pilot for 12 subjects planned to high
  dose who received only the 54 mg starting dose (DM says Xan_Lo; ADSL ``TRT01A`` repeats the
  planned arm). ``ACTARMCD`` values that are not arms (NOTTRT, UNPLAN, …) leave it empty.
* **Disposition**: one DS disposition event per subject (when a subject has several, the latest
  is used and the count noted). ``discontinued`` = its ``DSDECOD`` is not COMPLETED;
  ``discontinuation_reason`` = ``DSDECOD``; extra ``end_of_study_status``/``end_of_study_date``
  hold the event for every subject. ``treated`` = a treatment start date exists (ADSL ``TRTSDT``,
  else DM ``RFXSTDTC``, else ``RFSTDTC``), False for ``ACTARMCD = "NOTTRT"``. ``death_date`` =
  DM ``DTHDTC`` (else DS DEATH date); ``last_contact_date`` = death date, else DM ``RFPENDTC``.
  Populations from ADSL flags (Y = True, N = False, blank = missing; another value is a problem):
  ``analysed`` = ``ITTFL``, ``safety`` = ``SAFFL``, ``efficacy`` = ``EFFFL``, ``per_protocol`` =
  ``PPROTFL``; empty when ADSL lacks the flag. Induction columns stay empty (the pilot has no
  induction phase). DS records outside DSCAT "DISPOSITION EVENT" are not mapped (counted in the
  notes), nor are the disposition events of subjects without an arm (their outcome is in
  ``screening``).
* **Time to event**: :func:`~trialkit.io.adtte.read_adtte`'s one policy — ``CNSR = 0`` is an
  event; any positive integer is a censoring (ADaM allows reason-coded censoring values, noted);
  a negative, fractional or missing ``CNSR`` is a problem. ``AVAL`` is in days and must equal
  ``ADT - STARTDT + 1``; when ``AVALU`` names another unit, ``time_days`` is computed from the dates.

Reading ``.xpt`` files
----------------------
See :mod:`trialkit.io.sas`: bytes decoded (UTF-8, else cp1252), IBM-float zeros read as
``5.397605e-79`` (pandas issue #50670; the pilot's ``CNSR`` and ``TRT01PN``) set to 0, ADaM
numeric dates as days since 1960-01-01, variable labels kept in ``frame.attrs["labels"]``.

Every mapping problem (a missing required variable, an unreadable date, a bad ``CNSR``) is
reported with its file, 1-based record number and variable in one
:class:`~trialkit.errors.DataValidationError`, together with the canonical-model checks of
:func:`trialkit.schemas.validate_study`.
"""

from __future__ import annotations

from ..adtte import AdtteResult, read_adtte
from ..mapped import Mapped
from ..sas import clean_frame, read_xpt
from .adsl import map_adsl
from .criteria import criteria_not_met, map_ie, map_suppds
from .design import protocol_from_sdtm
from .disposition import map_disposition
from .dm import map_randomization, map_screening, map_sites, subject_status
from .ds import map_ds
from .load import load_cdisc
from .mapping import ADAM_DATASETS, REQUIRED_VARIABLES, SDTM_DOMAINS, map_cdisc
from .visits import map_sv

__all__ = ["load_cdisc", "map_cdisc", "read_xpt", "clean_frame", "protocol_from_sdtm", "read_adtte", "AdtteResult",
           "Mapped", "map_sites", "map_screening", "map_randomization", "map_disposition", "map_sv", "map_ds",
           "map_ie", "map_suppds", "criteria_not_met", "map_adsl", "subject_status", "SDTM_DOMAINS",
           "ADAM_DATASETS", "REQUIRED_VARIABLES"]
