"""The expressions of ``rules: if`` and ``only/except: variables``, as GitLab reads them.

    expression := or
    or         := and ('||' and)*
    and        := operand ('&&' operand)*
    operand    := '(' expression ')' | value [('==' | '!=') value | ('=~' | '!~') pattern]
    value      := $VAR | "text" | 'text' | null
    pattern    := /regex/flags | $VAR (whose value is /regex/flags)

As in GitLab, ``${VAR}`` is not a variable here (only ``$VAR``). A variable that is not
defined is ``null``; a lone value is true when it is defined
and not empty. ``=~`` searches (it is not anchored); flags are ``i``, ``m`` and ``s``.
:func:`parse` raises :class:`ExpressionError` for text that is not an expression;
evaluating a parsed one never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Expression", "ExpressionError", "parse"]

Variables = Mapping[str, str]
_Value = Callable[[Variables], "str | re.Pattern[str] | None"]
_Test = Callable[[Variables], bool]

_TOKENS = re.compile(
    r"""\s*(?:
      (?P<var>\$[A-Za-z0-9_]+)
    | (?P<dq>"[^"]*")
    | (?P<sq>'[^']*')
    | (?P<regex>/(?:\\.|[^/\\])*/[a-z]*)
    | (?P<null>null\b)
    | (?P<op>==|!=|=~|!~|&&|\|\||\(|\))
    )""",
    re.VERBOSE,
)
_FLAGS = {"i": re.IGNORECASE, "m": re.DOTALL, "s": re.DOTALL, "x": re.VERBOSE}


class ExpressionError(ValueError):
    """Text that is not a rules expression; the message says what is wrong."""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``evaluate(variables)`` is its truth."""

    text: str
    _test: _Test

    def evaluate(self, variables: Variables) -> bool:
        return self._test(variables)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def parse(text: str) -> Expression:
    """Parse ``text``; :class:`ExpressionError` if it is not a valid expression."""
    tokens = _tokenize(text)
    if not tokens:
        raise ExpressionError("the expression is empty")
    parser = _Parser(tokens)
    test = parser.expression()
    if parser.position < len(tokens):
        raise ExpressionError(f"unexpected {tokens[parser.position].text!r}")
    return Expression(text, test)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            rest = text[position:].strip()
            if rest.startswith("${"):
                raise ExpressionError(f"write $VAR, not {rest.split('}')[0][:20]}}}")
            raise ExpressionError(f"cannot read {rest[:20]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise ExpressionError("the expression ends too early")
        self.position += 1
        return token

    def expression(self) -> _Test:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self.position += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda v: any(p(v) for p in parts)

    def _and(self) -> _Test:
        parts = [self._operand()]
        while (token := self._peek()) is not None and token.text == "&&":
            self.position += 1
            parts.append(self._operand())
        return parts[0] if len(parts) == 1 else lambda v: all(p(v) for p in parts)

    def _operand(self) -> _Test:
        token = self._take()
        if token.text == "(":
            inner = self.expression()
            closing = self._take()
            if closing.text != ")":
                raise ExpressionError(f"expected ')', found {closing.text!r}")
            return inner
        left = self._value(token)
        following = self._peek()
        if following is None or following.text not in ("==", "!=", "=~", "!~"):
            return lambda v: _truthy(left(v))
        self.position += 1
        if following.text in ("==", "!="):
            right = self._value(self._take())
            negate = following.text == "!="
            return lambda v: (left(v) == right(v)) != negate
        pattern = self._pattern(self._take())
        negate = following.text == "!~"
        return lambda v: _matches(left(v), pattern(v)) != negate

    def _value(self, token: _Token) -> _Value:
        if token.kind == "var":
            name = token.text[1:]
            return lambda v: v.get(name)
        if token.kind in ("dq", "sq"):
            literal = token.text[1:-1]
            return lambda v: literal
        if token.kind == "null":
            return lambda v: None
        if token.kind == "regex":
            raise ExpressionError(f"a pattern ({token.text}) may only follow =~ or !~")
        raise ExpressionError(f"expected a variable, a string or null, found {token.text!r}")

    def _pattern(self, token: _Token) -> _Value:
        if token.kind == "regex":
            compiled = compile_pattern(token.text)
            return lambda v: compiled
        if token.kind == "var":
            name = token.text[1:]
            return lambda v: _pattern_of(v.get(name))
        if token.kind in ("dq", "sq"):
            # GitLab accepts a quoted pattern too: "/x/" behaves as /x/.
            compiled = compile_pattern(token.text[1:-1])
            return lambda v: compiled
        raise ExpressionError(f"expected a /pattern/ after =~ or !~, found {token.text!r}")


def compile_pattern(text: str) -> re.Pattern[str]:
    """``/regex/flags`` as a compiled pattern; :class:`ExpressionError` if it is not one."""
    match = re.fullmatch(r"/(.*)/([a-z]*)", text, re.DOTALL)
    if match is None:
        raise ExpressionError(f"{text!r} is not a /pattern/")
    flags = 0
    for flag in match.group(2):
        if flag not in _FLAGS:
            raise ExpressionError(f"unknown pattern flag {flag!r} in {text}")
        flags |= _FLAGS[flag]
    try:
        return re.compile(match.group(1), flags)
    except re.error as error:
        raise ExpressionError(f"invalid pattern {text}: {error}") from error


def _pattern_of(value: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if not isinstance(value, str):
        return None
    try:
        return compile_pattern(value)
    except ExpressionError:
        try:
            return re.compile(value)
        except re.error:
            return None


def _matches(value: str | re.Pattern[str] | None, pattern: object) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, re.Pattern):
        return False
    return pattern.search(value) is not None


def _truthy(value: str | re.Pattern[str] | None) -> bool:
    return isinstance(value, str) and value != ""
