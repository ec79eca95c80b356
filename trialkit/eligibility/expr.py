"""A small, safe expression language for eligibility rules, evaluated three-valued and vectorized.

A rule in a protocol's ``<id>.criteria.yaml`` is a Python-like expression that is parsed with
:mod:`ast` and checked against a whitelist before anything runs. Allowed:

- names of input columns (``marrow_blasts_pct``), derived inputs (``renal_function_ml_min``, see
  :mod:`trialkit.eligibility.derive`) and the criterion's parameters (``blasts_min_pct``);
- numeric, string and boolean literals;
- comparisons (``<, <=, >, >=, ==, !=``, chained as in ``1 <= age < 18``), ``and``, ``or``, ``not``;
- arithmetic ``+ - * /`` and unary minus;
- ``x in [...]`` / ``x not in [...]`` with a list or tuple of literals;
- calls of the whitelisted functions in :data:`FUNCTIONS` (``known(x)``, ``missing(x)``,
  ``coalesce(a, b)``, ``days_between(a, b)``, ``months_between(a, b)``,
  ``business_days_between(a, b)``, ``ratio_to_uln(x, uln)``, ``schwartz_bedside_egfr(h, cr)``).

Everything else (attributes, subscripts, lambdas, comprehensions, keyword arguments, ``**``,
dunder names such as ``__import__``, f-strings, walrus, ...) is refused with
:class:`~trialkit.errors.UnsafeExpressionError` naming the criterion and the construct. Nothing is
ever passed to :func:`eval`: the checked tree is compiled into plain Python closures over numpy.

Three-valued logic
------------------
Every sub-expression yields a value array and a *known* mask. A comparison is known only where its
operands are known. ``and``/``or``/``not`` follow Kleene's strong logic: ``False and unknown`` is
False, ``True or unknown`` is True, anything else involving unknown is unknown. So an unknown input
is never silently counted as met or as not met.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProtocolError, UnsafeExpressionError

__all__ = ["Val", "CompiledRule", "compile_rule", "FUNCTIONS", "MAX_RULE_LENGTH"]

MAX_RULE_LENGTH = 4000

# value kinds
NUM, BOOL, STR, DATE = "num", "bool", "str", "date"


@dataclass(frozen=True)
class Val:
    """A vectorized three-valued value: ``v`` values, ``k`` known mask, ``t`` kind.

    ``v`` and ``k`` are numpy arrays of one length or scalars (literals). For booleans, ``v`` is
    False wherever ``k`` is False, so ``v`` is the "known true" mask.
    """

    v: Any
    k: Any
    t: str
    cats: Any = None  # strings stored as int codes into ``cats`` (-1 = missing), else None


def _decode(x: Val):
    """Object array (or scalar) of the strings of a STR value."""
    if x.cats is None:
        return x.v
    lookup = np.append(np.asarray(x.cats, dtype=object), "")
    return lookup[x.v]  # code -1 picks the trailing ""


def _str_eq(a: Val, b: Val):
    """Vectorized string equality, fast on coded columns compared with a literal."""
    for col, lit in ((a, b), (b, a)):
        if col.cats is not None and lit.cats is None and np.ndim(lit.v) == 0:
            hit = np.flatnonzero(np.asarray(col.cats, dtype=object) == lit.v)
            return col.v == (hit[0] if len(hit) else -2)
    return np.asarray(_decode(a) == _decode(b), dtype=bool)


def _str_isin(a: Val, lits):
    if a.cats is not None:
        cats = np.asarray(a.cats, dtype=object)
        codes = [i for i, c in enumerate(cats) if c in set(lits)]
        return np.isin(a.v, codes)
    if np.ndim(a.v) == 0:
        return a.v in lits
    return np.isin(np.asarray(a.v, dtype=object), np.asarray(lits, dtype=object))


def _bool(v, k) -> Val:
    return Val(np.logical_and(v, k), k, BOOL)


_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_CMP_SYM = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


# --- whitelisted functions ------------------------------------------------------------------------
def _f_known(x: Val) -> Val:
    k = np.asarray(x.k)
    return Val(k, True, BOOL)


def _f_missing(x: Val) -> Val:
    k = np.asarray(x.k)
    return Val(~k, True, BOOL)


def _f_coalesce(a: Val, b: Val) -> Val:
    if a.t != b.t:
        raise ProtocolError(f"coalesce() needs two values of one kind, got {a.t} and {b.t}")
    return Val(np.where(a.k, _decode(a), _decode(b)), np.logical_or(a.k, b.k), a.t)


def _dates(*xs: Val, fn: str):
    for x in xs:
        if x.t != DATE:
            raise ProtocolError(f"{fn}() takes date columns, got a {x.t} value")


def _f_days_between(a: Val, b: Val) -> Val:
    from .derive import days_between

    _dates(a, b, fn="days_between")
    return Val(days_between(a.v, b.v), np.logical_and(a.k, b.k), NUM)


def _f_months_between(a: Val, b: Val) -> Val:
    from .derive import months_between

    _dates(a, b, fn="months_between")
    return Val(months_between(a.v, b.v), np.logical_and(a.k, b.k), NUM)


def _f_business_days_between(a: Val, b: Val) -> Val:
    from .derive import business_days_between

    _dates(a, b, fn="business_days_between")
    return Val(business_days_between(a.v, b.v), np.logical_and(a.k, b.k), NUM)


def _f_ratio_to_uln(x: Val, uln: Val) -> Val:
    from .derive import ratio_to_uln

    out = ratio_to_uln(x.v, uln.v)
    return Val(out, np.logical_and(np.logical_and(x.k, uln.k), ~np.isnan(out)), NUM)


def _f_schwartz(h: Val, cr: Val) -> Val:
    from .derive import schwartz_bedside_egfr

    out = schwartz_bedside_egfr(h.v, cr.v)
    return Val(out, np.logical_and(np.logical_and(h.k, cr.k), ~np.isnan(out)), NUM)


#: name -> (implementation over :class:`Val`, number of positional arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Val], int]] = {
    "known": (_f_known, 1),
    "missing": (_f_missing, 1),
    "coalesce": (_f_coalesce, 2),
    "days_between": (_f_days_between, 2),
    "months_between": (_f_months_between, 2),
    "business_days_between": (_f_business_days_between, 2),
    "ratio_to_uln": (_f_ratio_to_uln, 2),
    "schwartz_bedside_egfr": (_f_schwartz, 2),
}


# --- compilation ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompiledRule:
    """A checked rule: ``names`` it reads (inputs and parameters) and ``fn(env) -> Val``."""

    source: str
    names: frozenset[str]
    fn: Callable[[Any], Val]

    def __call__(self, env) -> Val:
        return self.fn(env)


_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "list comprehension", ast.SetComp: "set comprehension", ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression", ast.NamedExpr: "assignment expression (:=)",
    ast.JoinedStr: "f-string", ast.FormattedValue: "f-string", ast.Starred: "starred argument",
    ast.Dict: "dict literal", ast.Set: "set literal", ast.IfExp: "conditional expression (x if c else y)",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}

_ALLOWED_HELP = ("Rules may use input and parameter names, numbers, strings, True/False, comparisons, "
                 "and/or/not, + - * /, `x in [literals]` and the functions "
                 + ", ".join(sorted(FUNCTIONS)) + ". For anything else write a Python Criterion "
                 "(trialkit.Criterion(id=..., rule=<callable>)).")


class _Compiler:
    def __init__(self, criterion_id: str, source: str, resolve: Callable[[str], str]):
        self.cid = criterion_id
        self.source = source
        self.resolve = resolve  # name -> "param" | "input"; raises ProtocolError for unknown names
        self.names: set[str] = set()

    def refuse(self, node: ast.AST, what: str):
        seg = ast.get_source_segment(self.source, node) or ""
        raise UnsafeExpressionError(
            f"criterion {self.cid}: rule uses {what} (`{seg}`), which protocol rules may not use. "
            + _ALLOWED_HELP)

    def compile(self, node: ast.AST) -> Callable:
        for cls, what in _REFUSED.items():
            if isinstance(node, cls):
                self.refuse(node, what)
        method = getattr(self, "c_" + type(node).__name__, None)
        if method is None:
            self.refuse(node, f"a {type(node).__name__} expression")
        return method(node)

    # leaves
    def c_Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool):
            val = Val(value, True, BOOL)
        elif isinstance(value, (int, float)):
            val = Val(float(value), True, NUM)
        elif isinstance(value, str):
            val = Val(value, True, STR)
        else:
            self.refuse(node, f"a {type(value).__name__} literal")
        return lambda env: val

    def c_Name(self, node: ast.Name):
        name = node.id
        if name.startswith("__") or name in {"eval", "exec", "open", "compile", "globals", "locals",
                                               "getattr", "setattr", "vars", "input", "breakpoint"}:
            self.refuse(node, f"the name `{name}`")
        if name in {"True", "False"}:  # pragma: no cover - parsed as Constant in Python 3.8+
            val = Val(name == "True", True, BOOL)
            return lambda env: val
        kind = self.resolve(name)
        self.names.add(name)
        if kind == "param":
            return lambda env: env.param(name)
        return lambda env: env.get(name)

    # logic
    def c_BoolOp(self, node: ast.BoolOp):
        parts = [self.compile(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)

        def run(env):
            vals = [p(env) for p in parts]
            for x in vals:
                _need_bool(x, self.cid, "and" if is_and else "or")
            true = vals[0].v
            false = np.logical_and(~np.asarray(vals[0].v), vals[0].k)
            for x in vals[1:]:
                xf = np.logical_and(~np.asarray(x.v), x.k)
                if is_and:
                    true = np.logical_and(true, x.v)
                    false = np.logical_or(false, xf)
                else:
                    true = np.logical_or(true, x.v)
                    false = np.logical_and(false, xf)
            return Val(true, np.logical_or(true, false), BOOL)

        return run

    def c_UnaryOp(self, node: ast.UnaryOp):
        inner = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            def run_not(env):
                x = inner(env)
                _need_bool(x, self.cid, "not")
                return Val(np.logical_and(~np.asarray(x.v), x.k), x.k, BOOL)
            return run_not
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0

            def run_neg(env):
                x = inner(env)
                _need(x, NUM, self.cid, "unary minus")
                return Val(sign * x.v, x.k, NUM)
            return run_neg
        self.refuse(node, f"the operator {type(node.op).__name__}")

    def c_BinOp(self, node: ast.BinOp):
        op_t = type(node.op)
        if op_t not in _ARITH:
            self.refuse(node, f"the operator {op_t.__name__}")
        left, right = self.compile(node.left), self.compile(node.right)
        fn = _ARITH[op_t]

        def run(env):
            a, b = left(env), right(env)
            if op_t is ast.Sub and a.t == DATE and b.t == DATE:
                from .derive import days_between
                return Val(days_between(b.v, a.v), np.logical_and(a.k, b.k), NUM)
            _need(a, NUM, self.cid, "arithmetic")
            _need(b, NUM, self.cid, "arithmetic")
            with np.errstate(divide="ignore", invalid="ignore"):
                v = fn(a.v, b.v)
            k = np.logical_and(a.k, b.k)
            if op_t is ast.Div:
                k = np.logical_and(k, np.asarray(b.v) != 0)
            return Val(v, k, NUM)

        return run

    def c_Compare(self, node: ast.Compare):
        operands = [self.compile(node.left)] + [
            None if isinstance(op, (ast.In, ast.NotIn)) else self.compile(c)
            for op, c in zip(node.ops, node.comparators)]
        steps = []
        for i, (op, comp) in enumerate(zip(node.ops, node.comparators)):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(comp, (ast.List, ast.Tuple)):
                    self.refuse(comp, "`in` with something other than a list of literals")
                lits = []
                for elt in comp.elts:
                    if not isinstance(elt, ast.Constant) or not isinstance(elt.value, (str, int, float, bool)):
                        self.refuse(elt, "a non-literal inside an `in [...]` list")
                    lits.append(elt.value)
                steps.append(("in", i, lits, isinstance(op, ast.NotIn)))
            elif type(op) in _CMP:
                steps.append(("cmp", i, _CMP[type(op)], _CMP_SYM[type(op)]))
            else:
                self.refuse(node, f"the comparison {type(op).__name__}")

        def run(env):
            vals = [None if o is None else o(env) for o in operands]
            result = None
            for step in steps:
                a = vals[step[1]]
                if step[0] == "in":
                    _, _, lits, negate = step
                    if a.t == STR:
                        hit = _str_isin(a, lits)
                    else:
                        lv = [float(x) for x in lits] if a.t == NUM else lits
                        hit = np.isin(a.v, lv) if np.ndim(a.v) else (a.v in lv)
                    r = _bool(~hit if negate else hit, a.k)
                else:
                    _, _, fn, sym = step
                    b = vals[step[1] + 1]
                    _comparable(a, b, self.cid, sym)
                    if a.t == STR and sym in ("==", "!="):
                        eq = _str_eq(a, b)
                        r = _bool(eq if sym == "==" else ~eq, np.logical_and(a.k, b.k))
                    else:
                        av, bv = (_decode(a), _decode(b)) if a.t == STR else (a.v, b.v)
                        with np.errstate(invalid="ignore"):
                            r = _bool(fn(av, bv), np.logical_and(a.k, b.k))
                if result is None:
                    result = r
                else:  # chained comparison: Kleene and
                    true = np.logical_and(result.v, r.v)
                    false = np.logical_or(np.logical_and(~np.asarray(result.v), result.k),
                                          np.logical_and(~np.asarray(r.v), r.k))
                    result = Val(true, np.logical_or(true, false), BOOL)
            return result

        return run

    def c_Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name):
            self.refuse(node.func, "attribute access" if isinstance(node.func, ast.Attribute)
                        else "a call of a computed function")
        fname = node.func.id
        if fname not in FUNCTIONS:
            self.refuse(node, f"a call of `{fname}` (not a whitelisted function)")
        if node.keywords:
            self.refuse(node, "keyword arguments")
        impl, arity = FUNCTIONS[fname]
        if len(node.args) != arity:
            raise ProtocolError(f"criterion {self.cid}: {fname}() takes {arity} argument(s), "
                                f"got {len(node.args)}. Fix the rule.")
        args = [self.compile(a) for a in node.args]
        return lambda env: impl(*(a(env) for a in args))

    def c_List(self, node):
        self.refuse(node, "a list outside `in [...]`")

    c_Tuple = c_List


def _need(x: Val, kind: str, cid: str, what: str):
    if x.t != kind:
        raise ProtocolError(f"criterion {cid}: {what} needs {kind} values, got a {x.t} value. "
                            "Check the rule against the input's type in trialkit/model.py.")


def _need_bool(x: Val, cid: str, what: str):
    if x.t != BOOL:
        raise ProtocolError(f"criterion {cid}: `{what}` needs true/false operands, got a {x.t} value; "
                            "compare it (e.g. `x >= 5`) first.")


def _comparable(a: Val, b: Val, cid: str, sym: str):
    ok = a.t == b.t or {a.t, b.t} <= {NUM, BOOL}
    if not ok:
        raise ProtocolError(f"criterion {cid}: cannot compare a {a.t} value with a {b.t} value "
                            f"using {sym}. Check the rule's literal against the input's type.")


def compile_rule(source: str, *, criterion_id: str, resolve: Callable[[str], str]) -> CompiledRule:
    """Parse and check a rule; return a :class:`CompiledRule`.

    Parameters
    ----------
    source : str
        The rule text.
    criterion_id : str
        Named in every error message.
    resolve : callable
        ``resolve(name)`` returns ``"param"`` or ``"input"`` and raises
        :class:`~trialkit.errors.ProtocolError` for a name that is neither.

    Raises
    ------
    UnsafeExpressionError
        The rule uses a construct outside the whitelist.
    ProtocolError
        The rule is not valid syntax, is too long, or names an unknown input.
    """
    if not isinstance(source, str) or not source.strip():
        raise ProtocolError(f"criterion {criterion_id}: `rule` must be a non-empty expression string.")
    if len(source) > MAX_RULE_LENGTH:
        raise ProtocolError(f"criterion {criterion_id}: rule is {len(source)} characters long (limit "
                            f"{MAX_RULE_LENGTH}); split it into several criteria.")
    text = " ".join(source.split())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ProtocolError(f"criterion {criterion_id}: rule is not a valid expression ({exc.msg} at "
                            f"column {exc.offset}): {text!r}. Fix its syntax.") from None
    comp = _Compiler(criterion_id, text, resolve)
    fn = comp.compile(tree.body)
    return CompiledRule(source=text, names=frozenset(comp.names), fn=fn)
