"""Group copies: a grouped pass's groups past the first two, each the first group's compiled
SQL with its own key, not an aggregate tree of its own (``measures.pending_by_group``).

Django builds, resolves and compiles one aggregate tree per group and measure; for eight
programs that costs far more than the statement itself. A copy compiles the template
group's aggregate once and swaps the key parameters (and flag column, and shared sets
named by their key) for its own, checked against a second group built in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from django.db.models import Expression, Q

from abm_site.db import SHARED_NAME, share, shared_set

if TYPE_CHECKING:
    from .context import Context


class CopyMismatch(Exception):
    """A group's SQL is not the template group's with its key swapped (computed in full)."""


@dataclass(frozen=True)
class _Copy:
    """How member ``i`` copies the template members ``template = (t0, t1)``: their keys
    and its own, and the flag columns (fenced sources) standing for each group."""

    template: tuple[int, int]
    keys: tuple[int, int, int]
    flags: tuple[str, str, str] | None

    def of(self, name: str) -> GroupCopy:
        t0, t1 = self.template
        return GroupCopy(f"{t0}__{name}", f"{t1}__{name}", self.keys, self.flags)


def _copied_members(
    members: list[tuple[Context, Q | None]], flags: dict[str, Any]
) -> dict[int, _Copy]:
    """Member index -> its copy of the first two split members of its kind, for the members
    past them whose filters differ from those only by a one-id key (a program, a tier):
    the tiers copy the first two tiers, the programs beside them the first two programs."""
    split = [i for i, (_, group_q) in enumerate(members) if group_q is not None]
    kinds: list[list[int]] = []  # each kind's members, in order
    names: list[str | None] = []  # each kind's key, the field its members differ by
    for i in split:  # the groups: a bounded list, not data rows
        own = members[i][0].filters
        for k, kind in enumerate(kinds):
            first = members[kind[0]][0].filters
            differ = [f.name for f in fields(own) if getattr(first, f.name) != getattr(own, f.name)]
            if (
                len(differ) == 1
                and names[k] in (None, differ[0])
                and _keyed(first, differ[0])
                and _keyed(own, differ[0])
            ):
                names[k] = differ[0]
                kind.append(i)
                break
        else:
            kinds.append([i])
            names.append(None)
    copied = {}
    for name, kind in zip(names, kinds, strict=True):
        if name is None or len(kind) < 3:
            continue
        t0, t1 = kind[0], kind[1]
        keys = {i: getattr(members[i][0].filters, name)[0] for i in kind}
        for i in kind[2:]:
            flag = (f"group_{t0}", f"group_{t1}", f"group_{i}") if flags else None
            copied[i] = _Copy((t0, t1), (keys[t0], keys[t1], keys[i]), flag)
    return copied


def _keyed(filters: Any, name: str) -> bool:
    """``filters``' ``name`` is one id (a copy's key)."""
    value = getattr(filters, name)
    return (
        isinstance(value, tuple)
        and len(value) == 1
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
    )


class GroupCopy(Expression):
    """One group's aggregate written as the template group's compiled SQL, with the
    template's key parameters (and flag column) replaced by the group's own.

    ``template`` and ``reference`` are the aliases of the same measure for two other
    groups of the statement, built in full; the reference proves at compile time that
    the two differ only where their keys (and flags) do, else ``CopyMismatch``: the
    caller builds every group in full. It saves building, resolving and compiling one
    aggregate tree per group, which costs far more than the statement itself.
    """

    contains_aggregate = True
    contains_over_clause = False
    contains_column_references = False

    def __init__(
        self,
        template: str,
        reference: str,
        keys: tuple[int, int, int],
        flags: tuple[str, str, str] | None,
    ):
        super().__init__()
        self.template = template
        self.reference = reference
        self.keys = keys
        self.flags = flags
        self.resolved: Any = None

    def __repr__(self) -> str:
        return f"GroupCopy({self.template!r}, key={self.keys[2]})"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):  # noqa: ANN001, ANN201, E501
        copy = self.copy()
        # The template is resolved already (aggregates resolve in order, the earlier ones
        # kept on the query meanwhile): its output field and converters are this one's.
        copy.resolved = query.annotations[self.template]
        return copy

    def get_refs(self) -> set[str]:
        return {self.flags[2]} if self.flags else set()

    @property
    def output_field(self):  # noqa: ANN201
        return self.resolved.output_field

    @property
    def empty_result_set_value(self):  # noqa: ANN201
        return self.resolved.empty_result_set_value

    def get_db_converters(self, connection):  # noqa: ANN001, ANN201
        return self.resolved.get_db_converters(connection)

    def as_sql(self, compiler, connection, **extra):  # noqa: ANN001, ANN201
        compiled = compiler.__dict__.setdefault("_group_copies", {})
        for alias in (self.template, self.reference):
            if alias not in compiled:
                compiled[alias] = compiler.compile(compiler.query.annotations[alias])
        (sql, params), (reference_sql, reference_params) = (
            compiled[self.template],
            compiled[self.reference],
        )
        own_sql = sql
        if self.flags:
            quoted = [connection.ops.quote_name(flag) for flag in self.flags]
            if quoted[0] not in sql:
                raise CopyMismatch(f"{self.template}: no flag column {quoted[0]}")
            own_sql = sql.replace(quoted[0], quoted[2])
            sql = sql.replace(quoted[0], quoted[1])
        # Shared sets (``InShared``) of the key (a program's touches) are named by their
        # SQL and parameters: the template's names stand for the reference's and its own.
        names = self._shared_names(SHARED_NAME.findall(sql), SHARED_NAME.findall(reference_sql))
        if names:
            sql = SHARED_NAME.sub(lambda m: names.get(m[0], (m[0], m[0]))[0], sql)
            own_sql = SHARED_NAME.sub(lambda m: names.get(m[0], (m[0], m[0]))[1], own_sql)
        if sql != reference_sql:
            raise CopyMismatch(f"{self.template}: its SQL is not {self.reference}'s")
        return own_sql, self._own_params(params, reference_params)

    def _own_params(self, params: Sequence[Any], reference_params: Sequence[Any]) -> list[Any]:
        """The template's parameters with its key replaced by this group's: those equal to
        the reference's, or its key where the reference has its own key."""
        if len(params) != len(reference_params):
            raise CopyMismatch(f"{self.template}: not as many parameters as {self.reference}")
        k0, k1, own_key = self.keys
        own = []
        for a, b in zip(params, reference_params, strict=True):
            if a == b:
                own.append(a)
            elif a == k0 and b == k1 and type(a) is int and type(b) is int:
                own.append(own_key)
            else:
                raise CopyMismatch(f"{self.template}: parameter {a!r} is {b!r} in the reference")
        return own

    def _shared_names(self, template: list[str], reference: list[str]) -> dict[str, tuple]:
        """Template shared set -> (the reference's set, this group's own, registered):
        for each pair of sets at the same place that are one SQL with the keys swapped."""
        if len(template) != len(reference):
            raise CopyMismatch(f"{self.template}: not as many shared sets as {self.reference}")
        names: dict[str, tuple[str, str]] = {}
        for t, r in zip(template, reference, strict=True):  # a statement's few sets
            if t in names:
                if names[t][0] != r:
                    raise CopyMismatch(f"{self.template}: shared set {t} read as two")
                continue
            if t == r:
                continue
            mine, theirs = shared_set(t), shared_set(r)
            if mine is None or theirs is None or mine[0] != theirs[0]:
                raise CopyMismatch(f"{self.template}: shared set {t} is not {r} with its key")
            names[t] = (r, share(mine[0], tuple(self._own_params(mine[1], theirs[1]))))
        return names
