"""The CONSORT participant flow: assessed → excluded → randomized → allocated → follow-up → analysed.

Box counts are computed per subject (every subject lands in exactly one leaf of each level), so
they reconcile by construction; :meth:`ConsortResult.check` re-verifies every sum from the frame and
raises :class:`~trialkit.errors.ReconciliationError` when one does not hold.

Reasons for exclusion before randomization come from, in order: the site's "declined" outcome; the
protocol's rules (the first criterion, in protocol order, that excludes the subject) when the
protocol's criteria are executable; the site's recorded reason (mapped to a criterion when it names
a criterion id); otherwise "reason not recorded". Nothing is invented: data without criterion-level
reasons (the CDISC pilot has no IE domain) show "reason not recorded".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import is_study
from ..errors import ProtocolError, ReconciliationError
from ..results import Result

__all__ = ["consort", "ConsortResult", "FlowInputs", "flow_inputs", "EXCLUSION_GROUPS"]

NOT_MEETING_INCLUSION = "Not meeting inclusion criteria"
MEETING_EXCLUSION = "Meeting exclusion criteria"
NOT_ELIGIBLE_UNSPECIFIED = "Screen failure, criterion not identified"
DECLINED = "Declined to participate"
OTHER = "Other reasons"
EXCLUSION_GROUPS = (NOT_MEETING_INCLUSION, MEETING_EXCLUSION, NOT_ELIGIBLE_UNSPECIFIED, DECLINED, OTHER)
NOT_RECORDED = "reason not recorded"
#: the one column of a flow pooled over arms (:meth:`ConsortResult.pooled`)
POOLED_ARMS = "all arms"

_BOX_COLUMNS = ["box", "arm", "group", "reason", "n"]
_OUTCOME_CODES = ("eligible", "screen failure", "declined", "other")


@dataclass(frozen=True)
class ConsortResult(Result):
    """The CONSORT flow as counts.

    Attributes
    ----------
    summary : pandas.DataFrame
        Tidy counts ``box, arm, group, reason, n``. ``box`` is one of ``assessed, excluded,
        randomized, allocated, received, not_received, lost_to_follow_up, discontinued,
        off_protocol_post_enrollment, analysed, excluded_from_analysis``. A row with empty
        ``group`` and ``reason`` is the box total; rows with a ``reason`` are its breakdown (and rows
        with a ``group`` but no reason are sub-totals, e.g. "Not meeting inclusion criteria").
        ``arm`` is empty before allocation.
    subjects : pandas.DataFrame (property, built on demand from ``subject_columns``)
        One row per screened subject: ``subject_id, randomized, arm, excluded_group,
        excluded_reason, received, not_received_reason, lost_to_follow_up, follow_up,
        off_protocol_reason, discontinued_reason, analysed`` — the leaf each subject was counted in
        (``follow_up``: ``off_protocol_post_enrollment``, ``lost_to_follow_up``, ``discontinued`` or
        empty; ``discontinued_reason`` is the site's record).
    arms : tuple of str
        Arm codes in protocol (dose) order.
    arm_labels : dict
    ratio : dict
    notes : tuple of str
        What the flow could not know (e.g. "52 screen failures have no recorded reason").
    params, changed, disabled
        The thresholds in force, the ones a what-if moved (``{parameter: protocol value}``) and the
        criteria it switched off (empty for the protocol as written or site-recorded reasons).
    """

    summary: pd.DataFrame
    subject_columns: dict = field(repr=False, default_factory=dict)
    arms: tuple[str, ...] = ()
    arm_labels: dict = field(default_factory=dict)
    ratio: dict = field(default_factory=dict)
    protocol_id: str | None = None
    notes: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)
    disabled: tuple[str, ...] = ()

    analysis: ClassVar[str] = "consort"
    part_keys: ClassVar[dict] = {"summary": ("box", "arm", "group", "reason")}

    def settings(self) -> dict:
        return {"protocol": self.protocol_id, "arms": self.arms,
                "ratio": ", ".join(f"{k}: {v}" for k, v in self.ratio.items()), "disabled": self.disabled,
                **{f"threshold {k}": v for k, v in self.params.items()}}

    @property
    def what_if(self) -> bool:
        """True when the flow's exclusion reasons come from rules with criteria off or thresholds moved."""
        return bool(self.disabled or self.changed)

    def title(self) -> str:
        k = self.n
        arms = ", ".join(f"{a}: {k('allocated', arm=a)}" for a in self.arms)
        return (f"CONSORT flow — assessed {k('assessed')}, excluded {k('excluded')}, randomized "
                f"{k('randomized')} ({arms})")

    @cached_property
    def subjects(self) -> pd.DataFrame:
        """One row per screened subject and the leaf of each level it was counted in (built on demand)."""
        cols = {k: (v() if callable(v) else v) for k, v in self.subject_columns.items()}
        return pd.DataFrame({k: pd.Series(v, dtype=object if np.asarray(v).dtype == object else None)
                             for k, v in cols.items()})

    @cached_property
    def _index(self) -> dict:
        out: dict = {}
        for box, arm, group, reason, n in _records(self.summary):
            out.setdefault((box, arm, group, reason), int(n))
        return out

    def n(self, box: str, arm: str | None = None, group: str | None = None, reason: str | None = None) -> int:
        """One count: ``n("allocated", arm="InO")``; 0 when the box has no such row."""
        return self._index.get((box, arm, group, reason), 0)

    def check(self) -> ConsortResult:
        """Verify every box sum; raise :class:`~trialkit.errors.ReconciliationError` if one fails."""
        problems = check_boxes(self.summary, self.arms)
        if problems:
            raise ReconciliationError("CONSORT counts do not reconcile:\n  - " + "\n  - ".join(problems)
                                      + "\nRebuild the flow with trialkit.consort(study) from consistent tables.")
        return self

    def figure(self, **kw):
        """The CONSORT 2010/2025-style flow diagram (:func:`trialkit.plots.eligibility.plot_consort`)."""
        from ..plots.eligibility import plot_consort

        return plot_consort(self, **kw)

    def pooled(self, label: str = POOLED_ARMS) -> ConsortResult:
        """The same flow with every box after randomization pooled over the arms (one column ``label``).

        For the audiences of a running trial that may not see results by arm (sites, the blinded
        study team): discontinuations by arm with their reasons (progressive disease, death) are a
        comparison by arm. Screening and randomization boxes are unchanged; each pooled box is the
        sum of the arms' boxes, so the flow still reconciles (:meth:`check`).
        """
        b = self.summary
        after = b["arm"].notna()
        post = b.loc[after].assign(arm=label)
        keys = ["box", "arm", "group", "reason"]
        post = post.groupby(keys, sort=False, dropna=False, observed=True)["n"].sum().reset_index()
        summary = pd.concat([b.loc[~after], post[b.columns]], ignore_index=True).astype(b.dtypes.to_dict())
        cols = dict(self.subject_columns)
        if "arm" in cols:
            arm = self.subjects["arm"]
            cols["arm"] = np.where(arm.notna(), label, None).astype(object)
        return ConsortResult(summary=summary, subject_columns=cols, arms=(label,),
                             arm_labels={label: "pooled over arms: follow-up by arm is for the DMC only"},
                             ratio={}, protocol_id=self.protocol_id, notes=self.notes, params=self.params,
                             changed=self.changed, disabled=self.disabled)



def _records(b: pd.DataFrame) -> list[tuple]:
    """(box, arm, group, reason, n) tuples with None for missing labels (fast to scan repeatedly)."""
    cols = [b[c].to_numpy(dtype=object, na_value=None).tolist() for c in ("box", "arm", "group", "reason")]
    return list(zip(*cols, pd.to_numeric(b["n"], errors="coerce").tolist()))


def _box_index(recs) -> tuple[dict, dict, dict]:
    """(box totals by (box, arm), group sub-totals by (box, arm, group), reasons by (box, arm))."""
    totals: dict = {}
    groups: dict = {}
    reasons: dict = {}
    for box, arm, group, reason, n in recs:
        if group is None and reason is None:
            totals[(box, arm)] = totals.get((box, arm), 0) + n
        elif reason is None:
            groups[(box, arm, group)] = groups.get((box, arm, group), 0) + n
        else:
            reasons.setdefault((box, arm), []).append((group, n))
    return totals, groups, reasons


def _check_arm(a: str, na: int, tot, reasons: dict, present: set) -> list[str]:
    """The sums within one arm: received + not received, analysed + excluded, reasons of each box."""
    problems = []
    rec, notrec = tot("received", a), tot("not_received", a)
    if rec + notrec != na:
        problems.append(f"{a}: allocated ({na}) != received ({rec}) + not received ({notrec})")
    an, exa = tot("analysed", a), tot("excluded_from_analysis", a)
    if an + exa != na:
        problems.append(f"{a}: allocated ({na}) != analysed ({an}) + excluded from analysis ({exa})")
    for box in ("not_received", "lost_to_follow_up", "discontinued", "off_protocol_post_enrollment",
                "excluded_from_analysis"):
        if box == "off_protocol_post_enrollment" and (box, a) not in present:
            continue  # a protocol without post-enrollment criteria has no such box
        t = tot(box, a)
        r = sum(n for _, n in reasons.get((box, a), []))
        if t and r != t:
            problems.append(f"{a}: {box} ({t}) != sum of its reasons ({int(r)})")
    off = tot("off_protocol_post_enrollment", a) if ("off_protocol_post_enrollment", a) in present else 0
    if tot("lost_to_follow_up", a) + tot("discontinued", a) + off > na:
        problems.append(f"{a}: lost to follow-up + discontinued + off protocol exceed allocated ({na}); "
                        "a subject is counted in more than one follow-up box")
    return problems


def check_boxes(b: pd.DataFrame, arms) -> list[str]:
    """Every reconciliation failure of a CONSORT box frame, as messages (empty when all hold)."""
    missing = [c for c in _BOX_COLUMNS if c not in b.columns]
    if missing:
        return [f"box frame lacks column(s) {missing}"]
    recs = _records(b)
    problems = []
    if any(not (n >= 0) for *_, n in recs):
        problems.append("a count is negative or missing")
    totals, groups, reasons = _box_index(recs)

    def tot(box, arm=None):
        if (box, arm) not in totals:
            problems.append(f"box `{box}`{'' if arm is None else f' ({arm})'} has no total row")
            return 0
        return int(totals[(box, arm)])

    assessed, excluded, randomized = tot("assessed"), tot("excluded"), tot("randomized")
    if assessed != excluded + randomized:
        problems.append(f"assessed ({assessed}) != excluded ({excluded}) + randomized ({randomized})")
    gsum = sum(n for (box, arm, g), n in groups.items() if box == "excluded")
    if gsum != excluded:
        problems.append(f"excluded ({excluded}) != sum of its groups ({int(gsum)})")
    for (box, _arm, g), gt in groups.items():
        r = [n for grp, n in reasons.get(("excluded", None), []) if grp == g] if box == "excluded" else []
        if r and sum(r) != gt:
            problems.append(f"excluded / {g}: {int(gt)} != sum of its reasons ({int(sum(r))})")
    alloc = [tot("allocated", a) for a in arms]
    if sum(alloc) != randomized:
        problems.append(f"randomized ({randomized}) != sum allocated per arm ({sum(alloc)})")
    for a, na in zip(arms, alloc):
        problems += _check_arm(a, na, tot, reasons, set(totals))
    return problems


def _str_col(df: pd.DataFrame, col: str, n: int) -> pd.Series:
    if col not in df.columns:
        return pd.Series(pd.array([pd.NA] * n, dtype="string"))
    return df[col].astype("string").reset_index(drop=True)


def _values(df: pd.DataFrame, col: str, n: int, dtype: type[pd.api.extensions.ExtensionDtype]) -> np.ndarray:
    """``col`` read as ``dtype`` (``pd.BooleanDtype`` or ``pd.StringDtype``) in an object array of Python
    values, None where missing or when the column is absent; a column already of that dtype is read as it is."""
    if col not in df.columns:
        return np.full(n, None, dtype=object)
    s = df[col]
    if not isinstance(s.dtype, dtype):
        s = s.astype("boolean" if dtype is pd.BooleanDtype else "string")
    return s.to_numpy(dtype=object, na_value=None)


@dataclass(frozen=True)
class FlowInputs:
    """Everything the CONSORT flow needs that does not depend on the eligibility rules, one entry per
    screening row (post-randomization fields are empty for subjects not randomized). Build it once with
    :func:`flow_inputs` to recompute the flow quickly for many filters or rule changes."""

    subject_id: np.ndarray
    randomized: np.ndarray
    arm: np.ndarray
    outcome_code: np.ndarray  # int8: 0 empty, 1 eligible, 2 screen failure, 3 declined, 4 other
    site_reason_code: np.ndarray  # int32 index into site_reason_values, -1 = none recorded
    site_reason_values: np.ndarray  # distinct recorded reasons
    site_value_group: np.ndarray  # int8 per distinct reason: group index it maps to (-1: not a criterion id)
    site_value_label: np.ndarray  # per distinct reason: "ID: label" when it is a criterion id
    site_value_ids: tuple  # per distinct reason: the criterion ids it names
    site_value_group_of: dict  # criterion id -> its exclusion group index
    site_value_label_of: dict  # criterion id -> "ID: label"
    received: np.ndarray
    not_received_reason: np.ndarray
    lost: np.ndarray
    discontinued_only: np.ndarray
    discontinuation_reason: np.ndarray
    analysed: np.ndarray
    analysis_exclusion_reason: np.ndarray
    has_disposition: np.ndarray
    arms: tuple
    arm_labels: dict
    ratio: dict
    protocol_id: str
    executable: bool
    criterion_order: tuple


def flow_inputs(data) -> FlowInputs:
    """Per-subject inputs of :func:`consort` (checks the tables reconcile: no orphans, no duplicates).

    Raises
    ------
    ReconciliationError
        Subjects screened or randomized twice, randomized subjects missing from screening, or arm
        codes the protocol does not define.
    """
    if not is_study(data):
        raise ProtocolError(f"consort needs a Study (screening + randomization + disposition), got {type(data).__name__}; "
                        "build one with trialkit.load_study / load_cdisc / synthesize.")
    scr, rnd, dsp, proto = data.screening, data.randomization, data.disposition, data.protocol
    sid = scr["subject_id"].astype("string").reset_index(drop=True)
    if sid.duplicated().any():
        raise ReconciliationError(f"subject(s) {sorted(sid[sid.duplicated()].unique())[:10]} are screened twice; "
                                  "keep one screening row per subject.")
    rid = rnd["subject_id"].astype("string") if len(rnd) else pd.Series([], dtype="string")
    if rid.duplicated().any():
        raise ReconciliationError(f"subject(s) {sorted(rid[rid.duplicated()].unique())[:10]} are randomized twice; "
                                  "keep one randomization row per subject.")
    pos = pd.Index(sid).get_indexer(rid)
    if (pos < 0).any():
        orphans = sorted(rid[pos < 0].astype(str))
        raise ReconciliationError(f"{len(orphans)} randomized subject(s) are not in the screening table "
                                  f"(e.g. {orphans[:5]}); the flow would not add up. Add their screening rows.")
    n = len(sid)
    arms = tuple(proto.arm_codes)
    extra_arms = sorted(set(rnd["arm"].dropna().astype(str)) - set(arms)) if len(rnd) else []
    if extra_arms:
        raise ReconciliationError(f"randomization uses arm code(s) {extra_arms} that the protocol does not "
                                  f"define ({list(arms)}); fix the arm codes or the protocol.")
    randomized = np.zeros(n, bool)
    randomized[pos] = True

    def scatter(values, fill=None):
        out = np.full(n, fill, dtype=object)
        out[pos] = values
        return out

    arm = scatter(_values(rnd, "arm", len(rnd), pd.StringDtype))
    actual = scatter(_values(rnd, "actual_arm", len(rnd), pd.StringDtype))
    d = dsp.assign(subject_id=dsp["subject_id"].astype("string")).drop_duplicates("subject_id") if len(dsp) else None
    dpos = pd.Index(sid).get_indexer(d["subject_id"]) if d is not None else np.array([], dtype=np.intp)
    keep = dpos >= 0

    def dcol(col, kind):
        out = np.full(n, None, dtype=object)
        if d is not None:
            vals = _values(d, col, len(d), pd.BooleanDtype if kind == "bool" else pd.StringDtype)
            out[dpos[keep]] = vals[keep]
        return out

    has_disp = np.zeros(n, bool)
    has_disp[dpos[keep]] = True
    treated = dcol("treated", "bool")
    t_true = np.array([t is True for t in treated], dtype=bool) & randomized
    t_false = np.array([t is False for t in treated], dtype=bool) & randomized
    same = np.array([a is None or a == p for a, p in zip(actual, arm)], dtype=bool)
    received = t_true & same
    nr_reason = np.where(t_true, np.array([f"received {a} instead" for a in actual], dtype=object),
                         np.where(t_false, "not treated (" + NOT_RECORDED + ")", "treatment status not recorded"))
    nr_reason = np.where(received | ~randomized, None, nr_reason)
    ltfu = np.array([x is True for x in dcol("lost_to_follow_up", "bool")], dtype=bool) & randomized
    disc = np.array([x is True for x in dcol("discontinued", "bool")], dtype=bool) & randomized
    dreason = dcol("discontinuation_reason", "str")
    dr = np.where(np.array([x is None for x in dreason], dtype=bool), NOT_RECORDED, dreason)
    analysed_raw = dcol("analysed", "bool")
    an = np.array([a is True for a in analysed_raw], dtype=bool) & randomized
    exa_reason = np.where(np.array([a is False for a in analysed_raw], dtype=bool),
                          "excluded from analysis (" + NOT_RECORDED + ")", "analysis population not recorded")

    o = _values(scr, "screening_outcome", n, pd.StringDtype)
    sr = _str_col(scr, "screen_failure_reason", n).str.strip().to_numpy(dtype=object, na_value=None)
    sr = np.where(sr == "", None, sr)
    crit_by_id = {str(c.get("id")): c for c in (proto.criteria or ()) if isinstance(c, dict)}
    executable = bool(proto.criteria) and all(isinstance(c, dict) and "rule" in c for c in proto.criteria)
    sr_code, sr_values = pd.factorize(pd.Series(sr, dtype=object), use_na_sentinel=True)
    sr_values = np.asarray(sr_values, dtype=object)
    value_group = np.full(len(sr_values), -1, dtype=np.int8)
    value_label = np.full(len(sr_values), None, dtype=object)
    group_of = {i: np.int8(EXCLUSION_GROUPS.index(
        MEETING_EXCLUSION if str(c.get("category", c.get("kind", ""))).startswith("excl") else NOT_MEETING_INCLUSION))
        for i, c in crit_by_id.items()}
    label_of = {i: _crit_reason(i, _short_label(c)) for i, c in crit_by_id.items()}
    value_ids = []
    for k, v in enumerate(sr_values):
        # a recorded reason naming criterion ids ("B_IN02_BLASTS", or "INCL01; EXCL09" from CDISC IE) is
        # filed under the first named criterion's group; free text stays as recorded
        ids = tuple(t for t in (x.strip() for x in re.split(r"[;,]", str(v))) if t in crit_by_id)
        value_ids.append(ids)
        if ids:
            value_group[k] = group_of[ids[0]]
            value_label[k] = "; ".join(label_of[i] for i in ids)
    return FlowInputs(
        site_reason_code=sr_code.astype(np.int32), site_reason_values=sr_values, site_value_group=value_group,
        site_value_label=value_label, site_value_ids=tuple(value_ids), site_value_group_of=group_of,
        site_value_label_of=label_of,
        subject_id=sid.to_numpy(dtype=object), randomized=randomized, arm=arm,
        outcome_code=np.select([o == v for v in _OUTCOME_CODES], list(range(1, len(_OUTCOME_CODES) + 1)),
                               0).astype(np.int8),
        received=received, not_received_reason=nr_reason,
        lost=ltfu, discontinued_only=disc & ~ltfu, discontinuation_reason=dr, analysed=an,
        analysis_exclusion_reason=exa_reason, has_disposition=has_disp, arms=arms,
        arm_labels={a.code: a.label for a in proto.arms}, ratio=dict(proto.ratio), protocol_id=proto.id,
        executable=executable, criterion_order=tuple(crit_by_id))


def consort(data, *, eligibility=None, reasons: str = "auto", thresholds=None, disabled=(),
            rows: np.ndarray | None = None, inputs: FlowInputs | None = None) -> ConsortResult:
    """Build the CONSORT participant flow of a study.

    Every screened subject is counted in exactly one leaf of each level: one exclusion reason or
    randomized; one arm; received or not (with a reason); at follow-up one of off protocol after
    enrollment (a post-enrollment criterion of the rules fails), lost to follow-up, discontinued
    (with the site's reason), or none of these; analysed or excluded from analysis.

    Parameters
    ----------
    data : Study
        Screening, randomization and disposition tables (randomization/disposition may be empty for
        a trial still screening).
    eligibility : EligibilityResult, optional
        A precomputed evaluation of the screening rows in the flow (else evaluated here when the
        protocol's criteria are executable). A what-if evaluation (criteria switched off, thresholds
        moved) makes a what-if flow: a site-recorded reason that names only switched-off criteria
        is listed as such, never under the criterion.
    reasons : {"auto", "rules", "site"}
        Where criterion-level exclusion reasons come from. ``"rules"``: the protocol's rules (first
        excluding criterion); ``"site"``: only the site's recorded reason; ``"auto"``: rules when the
        protocol's criteria are executable, else the site's record.
    thresholds, disabled
        What-if options passed to :func:`evaluate_eligibility`.
    rows : numpy.ndarray of bool, optional
        Restrict the flow to these screening rows (e.g. one country); ``eligibility`` must then be
        the evaluation of those rows only.
    inputs : FlowInputs, optional
        ``flow_inputs(data)`` computed once, to rebuild the flow quickly for many filters.

    Returns
    -------
    ConsortResult
        Checked: its counts reconcile at every box.

    Raises
    ------
    ReconciliationError
        Randomized subjects missing from screening (the flow could not include them), subjects
        randomized twice, or arm codes the protocol does not define.

    Examples
    --------
    >>> import trialkit as tk
    >>> flow = tk.consort(tk.load_study("data/demo/b1931036"))
    >>> flow.n("allocated", arm="InO")
    61
    >>> flow.n("randomized") == flow.n("allocated", arm="ALLR3") + flow.n("allocated", arm="InO")
    True
    """
    if reasons not in ("auto", "rules", "site"):
        raise ProtocolError(f"reasons={reasons!r}; use 'auto', 'rules' or 'site'.")
    fi = inputs if inputs is not None else flow_inputs(data)
    sel = np.ones(len(fi.subject_id), bool) if rows is None else np.asarray(rows, dtype=bool)
    if len(sel) != len(fi.subject_id):
        raise ReconciliationError(f"`rows` has {len(sel)} entries, the screening table {len(fi.subject_id)}.")
    res, use_rules = _rules_result(data, fi, eligibility, reasons, thresholds, disabled, sel, rows is not None)
    n = int(sel.sum())
    if res is not None and len(res) != n:
        raise ReconciliationError(f"the eligibility result has {len(res)} rows, the flow {n} screened subjects.")
    everyone = bool(sel.all())

    def take(a):
        return a if everyone else a[sel]

    randomized = take(fi.randomized)
    verdict = _rules_verdict(res, fi, n, use_rules)
    excl = _classify_excluded(fi, take, randomized, verdict, res, use_rules)
    notes = excl.notes
    no_disp = int((randomized & ~take(fi.has_disposition)).sum())
    if no_disp:
        notes.append(f"{no_disp} randomized subject(s) have no disposition record; their treatment "
                     "and analysis status show as 'not recorded'.")
    post = _post_enrollment(fi, take, randomized, res, use_rules)
    if post.conflicts:
        notes.append(f"{post.conflicts} subject(s) fail a post-enrollment criterion of the rules but their "
                     "disposition records no discontinuation; they are counted as off protocol after enrollment.")
    boxes = _box_frame(fi, n, randomized, excl, post, take)
    params, changed = _what_if(res)
    off = tuple(c for c in fi.criterion_order if res is not None and c not in {x.id for x in res.criteria})
    out = ConsortResult(summary=boxes, subject_columns=_subject_columns(fi, take, randomized, excl, post),
                        arms=fi.arms, arm_labels=fi.arm_labels, ratio=fi.ratio, protocol_id=fi.protocol_id,
                        notes=tuple(notes), params=params, changed=changed, disabled=off)
    return out.check()


def _rules_result(data, fi, eligibility, reasons, thresholds, disabled, sel, restricted):
    """(the eligibility result the reasons come from or None, whether the rules give the reasons)."""
    from .evaluate import evaluate_eligibility

    res = eligibility
    use_rules = reasons == "rules" or (reasons == "auto" and (fi.executable or res is not None))
    if use_rules and res is None:
        if not fi.executable:
            raise ProtocolError(f"protocol {fi.protocol_id} has no executable criteria (rules); use reasons='site'.")
        res = evaluate_eligibility(data, thresholds=thresholds, disabled=tuple(disabled or ()))
        if restricted:
            res = res.select(sel)
    return res, use_rules


@dataclass
class _Verdict:
    first_fail: np.ndarray  # index into res.criteria of the first failed screening criterion, -1 none
    undetermined: np.ndarray
    crit_order: list


def _rules_verdict(res, fi: FlowInputs, n: int, use_rules: bool) -> _Verdict:
    crit_order = list(fi.criterion_order)
    first_fail = np.full(n, -1)
    undetermined = np.zeros(n, bool)
    if use_rules and res is not None:
        crit_order = [c.id for c in res.criteria] + [c for c in crit_order if c not in {x.id for x in res.criteria}]
        screen = [j for j, c in enumerate(res.criteria) if c.stage == "screening"]
        P = res.pass_codes[:, screen]
        fails = P == 0
        anyfail = fails.any(axis=1)
        ff = np.where(anyfail, fails.argmax(axis=1), -1)
        first_fail = np.where(ff >= 0, np.array(screen + [0])[np.maximum(ff, 0)], -1)
        undetermined = ~anyfail & (P < 0).any(axis=1)
    return _Verdict(first_fail, undetermined, crit_order)


@dataclass
class _Excluded:
    gcode: np.ndarray  # index into EXCLUSION_GROUPS per subject, -1 randomized
    rcode: np.ndarray  # index into table per subject, -1 randomized
    table: np.ndarray  # reason strings
    crit_order: list
    notes: list


_FIXED_REASONS = ["declined", NOT_RECORDED, "eligibility undetermined (criterion inputs missing)",
                  "eligible, not randomized", "eligible by the rules, not randomized", "screening outcome not recorded"]


def _site_mapping(fi: FlowInputs, res) -> tuple[np.ndarray, np.ndarray]:
    """Group and label of each distinct site-recorded reason, given the criteria evaluated.

    A reason naming criterion ids files under its first *evaluated* criterion; one naming only
    criteria a what-if switched off goes to "Other reasons", saying so.
    """
    if res is None:
        return fi.site_value_group, fi.site_value_label
    active = {c.id for c in res.criteria}
    group, label = fi.site_value_group.copy(), fi.site_value_label.copy()
    for k, ids in enumerate(fi.site_value_ids):
        if not ids or all(i in active for i in ids):
            continue
        on = [i for i in ids if i in active]
        if on:
            group[k] = fi.site_value_group_of[on[0]]
            label[k] = "; ".join(fi.site_value_label_of[i] for i in on)
        else:
            group[k] = EXCLUSION_GROUPS.index(OTHER)
            label[k] = f"site recorded {'; '.join(ids)} — switched off in this what-if"
    return group, label


def _classify_excluded(fi: FlowInputs, take, randomized, v: _Verdict, res, use_rules: bool) -> _Excluded:
    """Each subject not randomized gets one group and one reason, as integer codes (fast on large tables)."""
    n = len(randomized)
    oc, src = take(fi.outcome_code), take(fi.site_reason_code)
    has_sr = src >= 0
    U = len(fi.site_reason_values)
    value_group, value_label = _site_mapping(fi, res)
    crits = list(res.criteria) if res is not None else []
    off_crit = len(_FIXED_REASONS)
    off_site = off_crit + len(crits)  # the recorded text as is
    off_label = off_site + U  # "ID: label" of a recorded criterion id
    off_recorded = off_label + U  # "as recorded: <text>"
    table = np.array(_FIXED_REASONS + [_crit_reason(c.id, c.label) for c in crits] + list(fi.site_reason_values)
                     + [x if x is not None else "" for x in value_label]
                     + [f"as recorded: {x}" for x in fi.site_reason_values], dtype=object)
    G = {g: np.int8(i) for i, g in enumerate(EXCLUSION_GROUPS)}
    gcode = np.full(n, -1, dtype=np.int8)
    rcode = np.full(n, -1, dtype=np.int32)
    todo = ~randomized

    def assign(mask, g, r):
        nonlocal todo
        m = todo & mask
        np.copyto(gcode, g, where=m, casting="unsafe")
        np.copyto(rcode, r, where=m, casting="unsafe")
        todo &= ~m

    assign(oc == 3, G[DECLINED], np.where(has_sr, off_site + src, 0))
    if crits and (v.first_fail >= 0).any():
        crit_group = np.array([G[MEETING_EXCLUSION] if c.is_exclusion else G[NOT_MEETING_INCLUSION] for c in crits]
                              + [0], dtype=np.int8)
        ffi = np.where(v.first_fail >= 0, v.first_fail, len(crits))
        assign(v.first_fail >= 0, crit_group[ffi], off_crit + ffi)
    assign(oc == 4, G[OTHER], np.where(has_sr, off_site + src, 1))
    if (value_group >= 0).any():
        vg = np.append(value_group, np.int8(-1))[src]  # src -1 picks the appended -1
        assign(vg >= 0, vg, off_label + src)
    assign(oc == 2, G[NOT_ELIGIBLE_UNSPECIFIED], np.where(has_sr, off_recorded + src, 1))
    assign(v.undetermined, G[OTHER], 2)
    assign(oc == 1, G[OTHER], 3)
    assign(np.ones(n, bool), G[OTHER], 4 if use_rules else 5)
    notes = []
    n_norsn = int(np.count_nonzero((rcode == 1) & ~randomized))
    if n_norsn:
        notes.append(f"{n_norsn} excluded subject(s) have no recorded reason (shown as '{NOT_RECORDED}'; "
                     "none is inferred).")
    if not use_rules:
        notes.append("Exclusion reasons are the site's records (the protocol's criteria are not executable "
                     "rules or reasons='site').")
    return _Excluded(gcode, rcode, table, v.crit_order, notes)


@dataclass
class _FollowUp:
    leaf: np.ndarray  # 0 none, 1 off protocol after enrollment, 2 lost to follow-up, 3 discontinued
    off_reason: np.ndarray
    has_post: bool
    conflicts: int


_FOLLOW_UP = (None, "off_protocol_post_enrollment", "lost_to_follow_up", "discontinued")


def _post_enrollment(fi: FlowInputs, take, randomized, res, use_rules: bool) -> _FollowUp:
    """The one follow-up leaf of each randomized subject: off protocol (rules) before lost before discontinued."""
    n = len(randomized)
    post_fail = np.zeros(n, bool)
    off_reason = np.full(n, None, dtype=object)
    has_post = use_rules and res is not None and any(c.stage != "screening" for c in res.criteria)
    if has_post:
        post = [j for j, c in enumerate(res.criteria) if c.stage != "screening"]
        bad = res.pass_codes[:, post] == 0
        post_fail = bad.any(axis=1) & randomized
        ids = np.array([_crit_reason(res.criteria[j].id, res.criteria[j].label) for j in post], dtype=object)
        off_reason = np.where(post_fail, ids[bad.argmax(axis=1)], None)
    lost, disc = take(fi.lost), take(fi.discontinued_only)
    leaf = np.select([post_fail, lost, disc], [1, 2, 3], 0).astype(np.int8)
    return _FollowUp(leaf, off_reason, has_post, int(np.count_nonzero(post_fail & ~lost & ~disc)))


def _box_frame(fi: FlowInputs, n: int, randomized, ex: _Excluded, fu: _FollowUp, take) -> pd.DataFrame:
    out_rows = [("assessed", None, None, None, n), ("excluded", None, None, None, int((~randomized).sum()))]
    key = ex.gcode[~randomized].astype(np.int64) * len(ex.table) + ex.rcode[~randomized]
    vals, cnt = np.unique(key, return_counts=True)
    pair_counts: dict = {}
    for v, c in zip(vals.tolist(), cnt.tolist()):
        g, r = divmod(v, len(ex.table))
        rs = pair_counts.setdefault(EXCLUSION_GROUPS[g], {})
        rs[ex.table[r]] = rs.get(ex.table[r], 0) + c
    for g in EXCLUSION_GROUPS:
        rs = pair_counts.get(g, {})
        k = sum(rs.values())
        if g in (NOT_MEETING_INCLUSION, MEETING_EXCLUSION, DECLINED, OTHER) or k:
            out_rows.append(("excluded", None, g, None, k))
        for rsn in _reason_order(rs, ex.crit_order):
            out_rows.append(("excluded", None, g, rsn, rs[rsn]))
    out_rows.append(("randomized", None, None, None, int(randomized.sum())))
    arm, received, nr_reason = take(fi.arm), take(fi.received), take(fi.not_received_reason)
    dr, an, exa_reason = take(fi.discontinuation_reason), take(fi.analysed), take(fi.analysis_exclusion_reason)
    for a in fi.arms:
        s_a = arm == a
        out_rows.append(("allocated", a, None, None, int(s_a.sum())))
        out_rows.append(("received", a, None, None, int((s_a & received).sum())))
        out_rows += _box_with_reasons("not_received", a, s_a & ~received, nr_reason)
        out_rows += _box_with_reasons("lost_to_follow_up", a, s_a & (fu.leaf == 2), dr)
        out_rows += _box_with_reasons("discontinued", a, s_a & (fu.leaf == 3), dr)
        if fu.has_post:
            out_rows += _box_with_reasons("off_protocol_post_enrollment", a, s_a & (fu.leaf == 1), fu.off_reason)
        out_rows.append(("analysed", a, None, None, int((s_a & an).sum())))
        out_rows += _box_with_reasons("excluded_from_analysis", a, s_a & ~an, exa_reason)
    boxes = pd.DataFrame(out_rows, columns=_BOX_COLUMNS)
    boxes["n"] = boxes["n"].astype("int64")
    for c in ("arm", "group", "reason"):
        boxes[c] = boxes[c].astype("string")
    return boxes


def _subject_columns(fi: FlowInputs, take, randomized, ex: _Excluded, fu: _FollowUp) -> dict:
    groups_tab = np.array(list(EXCLUSION_GROUPS) + [None], dtype=object)
    reasons_tab = np.append(ex.table, None)
    leaf_tab = np.array(_FOLLOW_UP, dtype=object)
    return {"subject_id": lambda: take(fi.subject_id), "randomized": lambda: randomized, "arm": lambda: take(fi.arm),
            "excluded_group": lambda: groups_tab[ex.gcode], "excluded_reason": lambda: reasons_tab[ex.rcode],
            "received": lambda: np.where(randomized, take(fi.received), None),
            "not_received_reason": lambda: take(fi.not_received_reason),
            "lost_to_follow_up": lambda: np.where(randomized, take(fi.lost), None),
            "follow_up": lambda: np.where(randomized, leaf_tab[fu.leaf], None),
            "off_protocol_reason": lambda: fu.off_reason,
            "discontinued_reason": lambda: np.where(take(fi.lost) | take(fi.discontinued_only),
                                                    take(fi.discontinuation_reason), None),
            "analysed": lambda: np.where(randomized, take(fi.analysed), None)}


def _what_if(res) -> tuple[dict, dict]:
    if res is None:
        return {}, {}
    from .funnel import _what_if_params

    return _what_if_params(res)


def _short_label(c: dict) -> str:
    """A criterion's label, else the start of its wording (CDISC TI criteria have text only)."""
    label = str(c.get("label") or "")
    if label:
        return label
    text = " ".join(str(c.get("text") or "").split())
    return text if len(text) <= 60 else text[:57] + "..."


def _crit_reason(cid: str, label: str | None) -> str:
    return cid if not label or label == cid else f"{cid}: {label}"


def _box_with_reasons(box: str, arm: str, sel: np.ndarray, reasons: np.ndarray) -> list[tuple]:
    rows = [(box, arm, None, None, int(sel.sum()))]
    counts = Counter(str(r) for r in reasons[sel])  # the reasons are text or None ("None")
    for rsn in sorted(counts, key=lambda x: (-counts[x], x)):
        rows.append((box, arm, None, rsn, counts[rsn]))
    return rows


def _reason_order(counts: dict, crit_order: list) -> list[str]:
    """Reasons that name a criterion in protocol order first, then the rest by decreasing count."""
    def key(rsn):
        cid = str(rsn).split(":")[0]
        return (crit_order.index(cid) if cid in crit_order else len(crit_order), -counts[rsn], str(rsn))

    return sorted(counts, key=key)
