"""Scheduling and buffer liveness for code generation, independent of any backend.

The equations run in the jaxpr's order (a topological order, which simplification
keeps). What a backend needs to know on the way is about memory: when each value
dies, and which dead array a result may be written into instead of a new one.
:class:`Schedule` answers that, one equation at a time, told by the backend what
each equation's code turned out to produce; it knows nothing of the code itself.

It tracks *ownership*: the arrays that are fresh (made by the generated code and
seen by nothing else) are owned, and each variable records the owned arrays it is,
or may be a view of (its ``bases``). Each owned array counts the live variables on
it; at zero it joins a free pool keyed by shape and dtype. Arguments and constants
are never owned, so they are never written into, and outputs live to the end.
"""

from __future__ import annotations

from fungrad.core import Atom, Jaxpr, Var


class Schedule:
    """The buffer plan of one jaxpr, built while the backend writes its equations::

    schedule = Schedule(jaxpr)
    for i, eqn in enumerate(jaxpr.eqns):
        buffer = schedule.buffer_for(i)  # a dead array the result may be written into
        ...  # the backend writes eqn, perhaps into buffer
        schedule.record(i, fresh, used_buffer)
    schedule.returned()  # the outputs, and which of them must be copied
    """

    def __init__(self, jaxpr: Jaxpr):
        self.jaxpr = jaxpr
        end = len(jaxpr.eqns)
        self.last_use: dict[Var, int] = {}
        for i, eqn in enumerate(jaxpr.eqns):
            for a in eqn.inputs:
                if type(a) is Var:
                    self.last_use[a] = i
        for v in jaxpr.outvars:
            if type(v) is Var:
                self.last_use[v] = end
        # bases[v]: the owned fresh arrays that v is, or may be a view of.
        self.bases: dict[Var, tuple[Var, ...]] = {}
        self.live_aliases: dict[Var, int] = {}  # owned base -> number of live vars on it
        self.free: dict[tuple, list[Var]] = {}  # (shape, dtype) -> dead owned bases
        self._dying: list[Var] = []
        self._buffer: Var | None = None

    def buffer_for(self, i: int) -> Var | None:
        """A dead owned array of exactly the shape and dtype of equation ``i``'s result,
        that its code may write into (None if there is none). It is either an array that
        died earlier, which suits any code, or an operand of the equation that dies with
        it, which only code that may overwrite its own operands (elementwise) can use."""
        eqn = self.jaxpr.eqns[i]
        last_use = self.last_use
        self._dying = [a for a in dict.fromkeys(eqn.inputs) if type(a) is Var and last_use[a] == i]
        self._buffer = None
        out = eqn.outputs[0]
        if not eqn.primitive.multiple_results and out.aval.ndim > 0:
            key = (out.aval.shape, out.aval.dtype)
            if self.free.get(key):
                self._buffer = self.free[key][-1]
            else:
                self._buffer = self._dying_base(key)
        return self._buffer

    def record(self, i: int, fresh: bool, used_buffer: bool) -> None:
        """What equation ``i``'s code produced: a ``fresh`` array that nothing else refers
        to, or not (then it may be a view of any operand); and whether it wrote into the
        buffer that :meth:`buffer_for` offered."""
        eqn = self.jaxpr.eqns[i]
        out = eqn.outputs[0]
        bases, live_aliases, dying = self.bases, self.live_aliases, self._dying
        if used_buffer:
            # out is now the same array as the buffer, which was dead.
            buffer = self._buffer
            assert buffer is not None
            bucket = self.free.get((out.aval.shape, out.aval.dtype), [])
            if buffer in bucket:
                bucket.remove(buffer)
            else:
                live_aliases[buffer] = 0  # a dying operand: its last use was this equation
                dying = [a for a in dying if bases.get(a) != (buffer,)]
            bases[out] = (out,)
            live_aliases[out] = 1
        elif fresh and not eqn.primitive.multiple_results:
            if out.aval.ndim > 0:
                bases[out] = (out,)
                live_aliases[out] = 1
            else:
                bases[out] = ()  # a scalar is never written into
        else:
            # Possibly a view of any operand: it keeps their bases alive.
            shared = tuple(
                dict.fromkeys(b for a in eqn.inputs if type(a) is Var for b in bases.get(a, ()))
            )
            for v in eqn.outputs:
                bases[v] = shared
                for b in shared:
                    live_aliases[b] += 1
        for v in eqn.outputs:
            if v not in self.last_use:  # never used (dead code is rare after simplification)
                self.last_use[v] = i
                dying.append(v)
        for a in dying:
            for b in bases.get(a, ()):
                self._release(b)

    def returned(self) -> list[tuple[Atom, bool]]:
        """The outputs, each with whether it must be copied: an output that is a constant
        or an argument is, as eager code would give a new array (the caller may modify
        what it gets back), and so is an output listed twice (two results merged by CSE)."""
        jaxpr = self.jaxpr
        shared = set(jaxpr.constvars) | set(jaxpr.invars)
        seen: set[Var] = set()
        returned = []
        for v in jaxpr.outvars:
            returned.append((v, type(v) is Var and (v in shared or v in seen)))
            if type(v) is Var:
                seen.add(v)
        return returned

    def _release(self, base: Var) -> None:
        self.live_aliases[base] -= 1
        if self.live_aliases[base] == 0:
            self.free.setdefault((base.aval.shape, base.aval.dtype), []).append(base)

    def _dying_base(self, key: tuple) -> Var | None:
        """An operand dying here that is the only live reference to an owned array of ``key``."""
        for a in self._dying:
            own = self.bases.get(a, ())
            if (
                own == (a,)
                and self.live_aliases.get(a) == 1
                and (a.aval.shape, a.aval.dtype) == key
            ):
                return a
        return None
