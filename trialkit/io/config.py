"""``study.yaml``: its schema, read with the line of every key so each problem can name it.

The keys, their types and allowed values are listed in :data:`trialkit.conventions.KEYS` (and on
the data-model page). :func:`read_config` checks the whole file and raises one
:class:`~trialkit.errors.ConfigError` listing every problem: unknown keys (with the closest known
key), wrong types, invalid formats (``%Q``), impossible dates (``2026-06-31``), unknown tables or
canonical columns, an unknown protocol.

The YAML is read with YAML 1.2 scalars: only ``true``/``false`` are booleans (``yes``, ``no``,
``on``, ``off`` stay text, so ``values: {sex: {no: ...}}`` means the text ``no``) and dates stay
text until checked here (``2026-06-31`` is a problem, not a crash).
"""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from ..conventions import DATE_DIRECTIVES, KEY_NAMES, KEYS, key
from ..errors import ConfigError, ProtocolError
from ..model import TABLES, column_names

__all__ = ["StudyConfig", "read_config", "parse_yaml", "CONFIG_FILE"]

CONFIG_FILE = "study.yaml"

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


# --------------------------------------------------------------------------------------------
# YAML with line numbers and YAML 1.2 scalars
# --------------------------------------------------------------------------------------------
def _scalar(node: yaml.ScalarNode):
    text = node.value
    if node.style in ("'", '"', "|", ">"):
        return text
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


class _Reader:
    def __init__(self, file: str):
        self.file = file
        self.lines: dict[tuple, int] = {}
        self.problems: list[dict] = []

    def build(self, node, path: tuple):
        if isinstance(node, yaml.MappingNode):
            out = {}
            for knode, vnode in node.value:
                line = knode.start_mark.line + 1
                if not isinstance(knode, yaml.ScalarNode):
                    self.problems.append(_row(self.file, line, ".".join(map(str, path)), "",
                                              "a key must be plain text", "write the key as text"))
                    continue
                k = _scalar(knode)
                k = "" if k is None else k
                if k in out:
                    self.problems.append(_row(self.file, line, _dotted(path + (k,)), "",
                                              f"key `{k}` appears twice in the same mapping (the second would "
                                              f"silently replace the first, line {self.lines[path + (k,)]})",
                                              "keep one entry"))
                    continue
                self.lines[path + (k,)] = line
                out[k] = self.build(vnode, path + (k,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,)) for i, v in enumerate(node.value)]
        return _scalar(node)


def parse_yaml(text: str, file: str = CONFIG_FILE) -> tuple[object, dict[tuple, int], list[dict]]:
    """Parse YAML text into plain Python values with YAML 1.2 scalars.

    Returns ``(data, lines, problems)``: ``lines`` maps each key path (a tuple) to its line
    (1-based); ``problems`` lists duplicated keys. Raises :class:`ConfigError` on a syntax error.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(pd.DataFrame([_row(file, line, "", "", f"not valid YAML: {what}",
                                             "fix the syntax (indentation, a missing ':' or an unclosed quote)")]),
                          source=file) from None
    reader = _Reader(file)
    data = reader.build(node, ()) if node is not None else None
    return data, reader.lines, reader.problems


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _row(file, line, column, value, problem, fix, table="") -> dict:
    return {"table": table, "file": file, "row": line, "column": column, "value": "" if value is None else str(value),
            "problem": problem, "fix": fix}


def closest(word: str, choices, n: int = 1) -> list[str]:
    """The closest of ``choices`` to ``word`` (difflib), case-insensitively; [] when none is close."""
    choices = [str(c) for c in choices]
    lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(str(word).lower(), list(lower), n=n, cutoff=0.6)
    return [lower[h] for h in hits]


def did_you_mean(word: str, choices, what: str) -> str:
    hit = closest(word, choices)
    if hit:
        return f"did you mean `{hit[0]}`?"
    shown = ", ".join(map(str, list(choices)[:12])) + (", …" if len(list(choices)) > 12 else "")
    return f"use one of the {what}: {shown}"


# --------------------------------------------------------------------------------------------
# the configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyConfig:
    """A checked ``study.yaml``: its values, the line of each key, and the resolved protocol."""

    data: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict, repr=False)
    protocol: object = field(default=None, repr=False)
    file: str = CONFIG_FILE

    def line(self, *path) -> int | None:
        """Line of a key (the deepest of ``path`` that exists), or None."""
        for k in range(len(path), 0, -1):
            if tuple(path[:k]) in self.lines:
                return self.lines[tuple(path[:k])]
        return None

    def setting(self, name: str, table: str | None = None, column: str | None = None):
        """The value of key ``name`` for ``table`` and ``column`` (the most specific one given), or None."""
        v = self.data.get(name)
        if not isinstance(v, dict) or name in ("tables", "columns", "values"):
            return v
        v = v.get(table)
        return v.get(column) if isinstance(v, dict) else v

    def date_order(self, table: str, column: str) -> str | None:
        """``date_order`` for a column, with ``dayfirst`` as its older spelling."""
        order = self.setting("date_order", table, column)
        if order is None:
            dayfirst = self.setting("dayfirst", table, column)
            order = None if dayfirst is None else ("dmy" if dayfirst else "mdy")
        return order

    def where(self, name: str, table: str | None = None, column: str | None = None) -> str:
        """Where a setting of a column was declared, for messages (e.g. ``study.yaml line 4``)."""
        ln = self.line(name, table, column) if table else self.line(name)
        return f"{self.file} line {ln}" if ln else self.file

    def columns_map(self, table: str) -> dict[str, str]:
        return dict((self.data.get("columns") or {}).get(table) or {})

    def values_map(self, table: str) -> dict[str, dict]:
        return dict((self.data.get("values") or {}).get(table) or {})

    def table_file(self, table: str) -> str | None:
        return (self.data.get("tables") or {}).get(table)


class _Checker:
    """Checks the parsed file key by key, gathering every problem."""

    def __init__(self, data: dict, lines: dict, folder: Path | None, file: str):
        self.data, self.lines, self.folder, self.file = data, lines, folder, file
        self.problems: list[dict] = []
        self.protocol = None

    def add(self, path: tuple, value, problem: str, fix: str, table: str = "") -> None:
        line = None
        for k in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:k]))
            if line is not None:
                break
        shown = value if isinstance(value, str | int | float | bool) or value is None else _short(value)
        self.problems.append(_row(self.file, line, _dotted(path), shown, problem, fix, table))

    # ---- leaves ------------------------------------------------------------------------------
    def leaf(self, name: str, path: tuple, v):
        """Check one value of key ``name``; return it normalized, or None after a problem."""
        spec = key(name)
        example = f"e.g. `{spec.example}`"
        if name == "date_format":
            return self.date_format(path, v)
        if name in ("date_order", "decimal", "partial_dates"):
            if not isinstance(v, str) or v not in spec.allowed:
                self.add(path, v, f"`{name}` must be one of: {', '.join(repr(a) for a in spec.allowed)}",
                         f"write {example}")
                return None
            return v
        if name == "dayfirst":
            if not isinstance(v, bool):
                self.add(path, v, "`dayfirst` must be true or false", "write `date_order: dmy` (or mdy) instead")
                return None
            return v
        if name == "encoding":
            return self.encoding(path, v)
        if name == "na_values":
            if not isinstance(v, list) or any(isinstance(t, dict | list) for t in v):
                self.add(path, v, "`na_values` must be a list of text", f"write {example}")
                return None
            return ["" if t is None else (str(t).lower() if isinstance(t, bool) else str(t)) for t in v]
        if name == "sheet":
            if isinstance(v, bool) or not isinstance(v, str | int) or (isinstance(v, int) and v < 1):
                self.add(path, v, "`sheet` must be a sheet name or its position counting from 1",
                         f"write {example}")
                return None
            return v
        raise AssertionError(name)  # pragma: no cover - every scoped key is handled above

    def date_format(self, path: tuple, v):
        if not isinstance(v, str) or not v.strip():
            self.add(path, v, "`date_format` must be a strftime format such as '%d.%m.%Y'",
                     "quote the format: date_format: '%d.%m.%Y'")
            return None
        bad = [d for d in re.findall(r"%(.)", v.replace("%%", "")) if d not in DATE_DIRECTIVES]
        if "%" in v.replace("%%", "")[-1:]:
            bad.append("(end)")
        if bad:
            self.add(path, v, f"`date_format` uses unknown directive(s) {', '.join('%' + b for b in bad)}",
                     "use %d (day), %m or %b (month), %Y or %y (year), e.g. '%d.%m.%Y'")
            return None
        has = set(re.findall(r"%(.)", v.replace("%%", "")))
        if not (has & set("dj") and has & set("mbBj") and has & set("Yy")):
            self.add(path, v, "`date_format` must name a day (%d), a month (%m or %b) and a year (%Y or %y)",
                     "dates of month or year precision are read from ISO text (2023-05, 2023) without a format")
            return None
        return v

    def encoding(self, path: tuple, v):
        if not isinstance(v, str):
            self.add(path, v, "`encoding` must be the name of a text encoding", "e.g. `encoding: cp1252`")
            return None
        try:
            codecs.lookup(v)
        except LookupError:
            self.add(path, v, f"unknown encoding {v!r}",
                     did_you_mean(v, ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252",
                                      "latin-1", "iso-8859-15", "mac-roman"], "encodings"))
            return None
        return v

    # ---- scopes ------------------------------------------------------------------------------
    def table_name(self, path: tuple, t) -> bool:
        if t in TABLES:
            return True
        self.add(path, t, f"`{t}` is not a canonical table", did_you_mean(str(t), TABLES, "tables"))
        return False

    def column_name(self, path: tuple, table: str, c, allow: set[str]) -> bool:
        if c in allow:
            return True
        self.add(path, c, f"`{c}` is not a column of the {table} table",
                 did_you_mean(str(c), sorted(allow), f"{table} columns"), table=table)
        return False

    def scoped(self, name: str):
        v = self.data[name]
        scope = key(name).scope
        if not isinstance(v, dict):
            return self.leaf(name, (name,), v)
        out = {}
        for t, tv in v.items():
            if not self.table_name((name, t), t):
                continue
            if isinstance(tv, dict) and scope == "column":
                cols = {}
                for c, cv in tv.items():
                    if self.column_name((name, t, c), t, c, self.targets(t)):
                        cols[c] = self.leaf(name, (name, t, c), cv)
                out[t] = cols
            elif isinstance(tv, dict):
                self.add((name, t), tv, f"`{name}` is set per table, not per column",
                         f"write `{name}: {{{t}: VALUE}}`", table=t)
            else:
                out[t] = self.leaf(name, (name, t), tv)
        return out

    def targets(self, table: str) -> set[str]:
        names = set(column_names(table))
        if table == "randomization" and self.protocol is not None:
            names |= {f.name for f in self.protocol.stratification}
        return names

    # ---- keys --------------------------------------------------------------------------------
    def mapping_of_tables(self, name: str):
        v = self.data[name]
        if not isinstance(v, dict):
            self.add((name,), v, f"`{name}` must be a mapping by table", f"write e.g. `{key(name).example}`")
            return {}
        return {t: tv for t, tv in v.items() if self.table_name((name, t), t)}

    def tables(self):
        out = {}
        for t, f in self.mapping_of_tables("tables").items():
            if not isinstance(f, str) or not f:
                self.add(("tables", t), f, "the file name must be text", "e.g. `tables: {screening: log.xlsx}`",
                         table=t)
            elif self.folder is not None and not (self.folder / f).is_file():
                present = sorted(p.name for p in self.folder.iterdir() if p.is_file())
                self.add(("tables", t), f, f"file {f!r} is not in the study folder",
                         did_you_mean(f, present, "files in the folder"), table=t)
            else:
                out[t] = f
        return out

    def columns(self):
        out = {}
        for t, m in self.mapping_of_tables("columns").items():
            if not isinstance(m, dict):
                self.add(("columns", t), m, "expected a mapping {source column: canonical column}",
                         f"e.g. `columns: {{{t}: {{PATIENT_NO: subject_id}}}}`", table=t)
                continue
            allow, seen, cols = self.targets(t), {}, {}
            for src, tgt in m.items():
                path = ("columns", t, src)
                if not isinstance(tgt, str):
                    self.add(path, tgt, "the target must be a canonical column name",
                             did_you_mean(str(tgt), sorted(allow), f"{t} columns"), table=t)
                elif tgt not in allow:
                    self.add(path, tgt, f"`{tgt}` is not a canonical column of {t}; its values would be left "
                             "unused", did_you_mean(tgt, sorted(allow), f"{t} columns"), table=t)
                elif tgt in seen:
                    self.add(path, tgt, f"`{tgt}` is already the target of `{seen[tgt]}`",
                             "map one source column to each canonical column", table=t)
                else:
                    seen[tgt] = src
                    cols[str(src)] = tgt
            out[t] = cols
        return out

    def values(self):
        out = {}
        for t, m in self.mapping_of_tables("values").items():
            if not isinstance(m, dict):
                self.add(("values", t), m, "expected a mapping {column: {source value: canonical value}}",
                         f"e.g. `values: {{{t}: {{arm: {{'ALL R3': ALLR3}}}}}}`", table=t)
                continue
            cols = {}
            for c, recode in m.items():
                path = ("values", t, c)
                if not self.column_name(path, t, c, self.targets(t)):
                    continue
                if not isinstance(recode, dict) or any(isinstance(x, dict | list) for x in recode.values()):
                    self.add(path, recode, "expected a mapping {source value: canonical value}",
                             "e.g. `{'ALL R3': ALLR3}`", table=t)
                    continue
                cols[c] = {_text(k): (None if x is None else _text(x)) for k, x in recode.items()}
            out[t] = cols
        return out

    def data_cut_date(self):
        v = self.data["data_cut_date"]
        m = _ISO_DATE.match(str(v)) if isinstance(v, str) else None
        if m is None:
            self.add(("data_cut_date",), v, "`data_cut_date` must be a date written YYYY-MM-DD",
                     "e.g. `data_cut_date: 2026-10-01`")
            return None
        try:
            date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as exc:
            self.add(("data_cut_date",), v, f"`data_cut_date` is not a real date ({exc})",
                     "give a day that exists, e.g. 2026-06-30")
            return None
        return v

    def resolve_protocol(self, override):
        from ..protocols import get_protocol, load_protocol, protocols

        if override is not None:  # an argument: its errors are the caller's (ProtocolError, exit code 2)
            if isinstance(override, str) and override.endswith((".yaml", ".yml")):
                base = self.folder if self.folder is not None else Path(".")
                return load_protocol(base / override if not Path(override).is_absolute() else override)
            return get_protocol(override)
        pid = self.data.get("protocol")
        if pid is None:
            self.add(("protocol",), "", "no protocol given",
                     f"add `protocol: <id>` to {self.file} (known: {', '.join(protocols())}) or pass protocol=…")
            return None
        if not isinstance(pid, str):
            self.add(("protocol",), pid, "`protocol` must be a protocol id or the path of a protocol YAML file",
                     f"known: {', '.join(protocols())}")
            return None
        try:
            if pid.endswith((".yaml", ".yml")):
                p = (self.folder or Path(".")) / pid
                if not p.is_file():
                    self.add(("protocol",), pid, f"protocol file {pid!r} is not in the study folder",
                             "give the path of the protocol YAML file relative to the study folder")
                    return None
                return load_protocol(p)
            return get_protocol(pid)
        except ProtocolError as exc:
            known = protocols()
            fix = did_you_mean(pid, known, "known protocols") if not pid.endswith((".yaml", ".yml")) else \
                "fix the protocol file"
            self.add(("protocol",), pid, f"unknown or invalid protocol: {_first_line(exc).split(';')[0]}", fix)
            return None

    def run(self, override) -> dict:
        out = {}
        for k in self.data:
            if k not in KEY_NAMES:
                self.add((k,), "", f"unknown key `{k}`", did_you_mean(str(k), KEY_NAMES, "keys of study.yaml"))
        self.protocol = self.resolve_protocol(override)
        if self.protocol is not None:
            out["protocol"] = self.protocol.id
        for name, fn in (("tables", self.tables), ("columns", self.columns), ("values", self.values),
                         ("data_cut_date", self.data_cut_date)):
            if name in self.data:
                out[name] = fn()
        for spec in KEYS:
            if spec.scope in ("table", "column") and spec.name not in ("tables", "columns", "values") \
                    and spec.name in self.data:
                out[spec.name] = self.scoped(spec.name)
        return out


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return repr(v)
    return str(v)


def _short(v) -> str:
    text = str(v)
    return text if len(text) <= 60 else text[:59] + "…"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_config(folder: str | Path | None, *, protocol=None, text: str | None = None,
                file: str = CONFIG_FILE) -> StudyConfig:
    """Read and check ``study.yaml`` of a study folder (or ``text``); raise one :class:`ConfigError`.

    Parameters
    ----------
    folder : path-like or None
        The study folder; its ``study.yaml`` is read when present (no file: an empty configuration).
    protocol : str or Protocol, optional
        Overrides the file's ``protocol:``.
    text : str, optional
        YAML text to check instead of the folder's file.

    Raises
    ------
    ConfigError
        Listing every problem with its line and key (exit code 2 on the command line).
    ProtocolError
        When the ``protocol`` argument names no known protocol.

    Examples
    --------
    >>> from trialkit.io.config import read_config
    >>> cfg = read_config("data/demo/b1931036")
    >>> cfg.protocol.id, cfg.setting("decimal", "screening", "age_years")
    ('b1931036', None)
    """
    folder = Path(folder) if folder is not None else None
    if text is None and folder is not None and (folder / file).is_file():
        raw = (folder / file).read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError(pd.DataFrame([_row(file, line, "", "", "not UTF-8 text",
                                                 f"save {file} as UTF-8")]), source=file) from None
    data, lines, problems = parse_yaml(text or "", file) if text else ({}, {}, [])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(_row(file, 1, "", _short(data), "expected a mapping of keys (key: value lines) at the top",
                             "write one `key: value` per line, e.g. `protocol: b1931036`"))
        data = {}
    checker = _Checker(data, lines, folder, file)
    checker.problems = problems
    out = checker.run(protocol)
    if checker.problems:
        problems = pd.DataFrame(checker.problems).sort_values("row", kind="stable", na_position="first")
        raise ConfigError(problems, source=file)
    return StudyConfig(data=out, lines=lines, protocol=checker.protocol, file=file)
