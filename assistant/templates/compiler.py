"""How prompt and chat templates are compiled: every piece of work the sandbox must see becomes a call.

Jinja compiles much of a template to bare Python (``a ~ b``, ``a == b``, ``a in b``, ``text[1:]``,
the body of a ``for`` loop), which :class:`~jinja2.sandbox.SandboxedEnvironment` never sees. This
code generator routes those through methods of the environment
(:class:`~assistant.templates.sandbox.PromptSandbox`: ``step``, ``read_operand``, ``slice_bounded``,
``join_bounded``), which charge the render's step budget or refuse what would allocate too much.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, operators, optimizeconst
from jinja2.nodes import Concat


class BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a call that measures the pieces before joining them, and makes
    every loop iteration a step of the render's budget (:meth:`PromptSandbox.step`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._step_markers: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # In the body, not around the iterable: a recursive loop's inner levels iterate
        # over what ``loop(...)`` was given, which never passes through ``node.iter``.
        # Jinja allows no node types of our own, so the step is an ExprStmt this
        # generator recognises by identity (visit_ExprStmt).
        marker = nodes.ExprStmt(nodes.EnvironmentAttribute("step", lineno=node.lineno), lineno=node.lineno)
        self._step_markers.add(id(marker))
        body = node.body
        node.body = [marker, *body]
        try:
            super().visit_For(node, frame)
        finally:
            node.body = body
            self._step_markers.discard(id(marker))

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if id(node) in self._step_markers:
            self.writeline("environment.step()", node)
        else:
            super().visit_ExprStmt(node, frame)

    @optimizeconst
    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # ``a == b``, ``a in b``, ``a < b``: compiled to bare Python operators, which scan both
        # sides. Each operand passes through ``environment.read_operand`` once (chains keep their
        # meaning: ``a < b < c`` still evaluates ``b`` once), so a loop testing ``"y" in text``
        # on a megabyte is charged for the megabyte it reads each time.
        self.write("(environment.read_operand(")
        self.visit(node.expr, frame)
        self.write(")")
        for operand in node.ops:
            self.write(f" {operators[operand.op]} environment.read_operand(")
            self.visit(operand.expr, frame)
            self.write(")")
        self.write(")")

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        # Jinja compiles a slice to a bare Python subscript, bypassing ``environment.getitem``:
        # ``text[::-1]`` copied a megabyte per loop iteration, uncharged (minutes of work).
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.slice_bounded(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.join_bounded((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")
