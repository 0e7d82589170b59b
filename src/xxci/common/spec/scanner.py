"""ruamel.yaml's round-trip scanner, reading comments in time linear in their length.

ruamel builds comments by appending to strings, and each append may copy all that
came before: it reads a comment one character at a time (``comment += ch``), and it
joins the lines of a comment block that follows a value one line at a time
(``c.value = c.value + ...``). A 1 MB comment, on one line after a value or as a block
of lines, then costs from seconds to minutes, growing with the square of its length.
This scanner finds the end of a comment line with one search and takes it as one
slice (moving the reader in one step), and joins a block's lines once; tokens, marks
and the comments kept for round trips are the same as ruamel's.

It also refuses flow collections (``[[[[...``) nested deeper than the loader's
``max_depth`` as soon as it meets the first one too many: ruamel's own depth check is
made when nodes are composed, after the scanner has read every bracket ahead.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import tokens
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.scanner import RoundTripScanner, ScannerError

__all__ = ["LinearScanner"]

_LINE_END = re.compile("[\0\r\n\x85\u2028\u2029]")
"""What ends a comment (ruamel's ``_THE_END``)."""


_POST_COMMENT_HOLDERS = (
    tokens.ScalarToken,
    tokens.ValueToken,
    tokens.FlowSequenceEndToken,
    tokens.FlowMappingEndToken,
)
"""Tokens a comment on their own line is attached to (ruamel's choice)."""


class LinearScanner(RoundTripScanner):
    """A :class:`RoundTripScanner` whose comments cost time linear in their length."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        limit = getattr(self.loader, "max_depth", 0)
        if limit and self.flow_level >= limit:
            raise MaxDepthExceededError(
                None, None, f"flow collections nested deeper than {limit}", self.reader.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass, to_push)

    def _rest_of_line(self) -> str:
        """From the reader's position to the end of the line (not included), consumed.

        A comment holds no line break, so the reader's line stays and its column moves
        by the characters passed (a byte order mark takes no column, as in ruamel).
        """
        reader = self.reader
        if reader.raw_buffer is not None or reader.stream is not None:
            text = ""  # a stream read in pieces: ruamel's own pace
            while reader.peek() not in "\0\r\n\x85\u2028\u2029":
                text += reader.peek()
                reader.forward()
            return text
        buffer: str = reader.buffer
        start = reader.pointer
        found = _LINE_END.search(buffer, start)
        end = found.start() if found else len(buffer)
        text = buffer[start:end]
        reader.pointer = end
        reader.index += end - start
        reader.column += (end - start) - text.count("\ufeff")
        return text

    def scan_to_next_token(self) -> Any:
        # ruamel's RoundTripScanner.scan_to_next_token, with the comment read by
        # _rest_of_line instead of character by character.
        srp = self.reader.peek
        srf = self.reader.forward
        if self.reader.index == 0 and srp() == "\ufeff":
            srf()
        white_space = " \t" if self.flow_level > 0 else " "
        while True:
            while srp() in white_space:
                srf()
            ch = srp()
            if ch == "#":
                start_mark = self.reader.get_mark()
                comment = self._rest_of_line()
                if srp() == "\0":
                    # YAML processors should end the stream with a line break.
                    comment += "\n"
                else:  # the line break itself, as written (ruamel keeps it so)
                    comment += srp()
                    srf()
                ch = self.scan_line_break()
                while len(ch) > 0:
                    comment += ch
                    ch = self.scan_line_break()
                end_mark = self.reader.get_mark()
                if not self.flow_level:
                    self.allow_simple_key = True
                return comment, start_mark, end_mark
            if self.scan_line_break() != "":
                start_mark = self.reader.get_mark()
                if not self.flow_level:
                    self.allow_simple_key = True
                ch = srp()
                if ch == "\n":  # empty top-level lines
                    start_mark = self.reader.get_mark()
                    comment = ""
                    while ch:
                        ch = self.scan_line_break(empty_line=True)
                        comment += ch
                    if srp() == "#":
                        # an empty line followed by an indented comment
                        comment = comment.rsplit("\n", 1)[0] + "\n"
                    end_mark = self.reader.get_mark()
                    return comment, start_mark, end_mark
            else:
                return None

    def get_token(self) -> Any:
        # ruamel's RoundTripScanner.get_token, joining a comment block's lines once.
        while self.need_more_tokens():
            self.fetch_more_tokens()
        self._gather_comments()
        if not self.tokens:
            return None
        first = self.tokens[0]
        if len(self.tokens) > 1 and isinstance(self.tokens[1], tokens.CommentToken):
            same_line = first.end_mark.line == self.tokens[1].start_mark.line
            if same_line and isinstance(first, _POST_COMMENT_HOLDERS):
                self.tokens_taken += 1
                comment = self.tokens.pop(1)
                self.fetch_more_tokens()
                self._join_following(comment, [comment.value])
                first.add_post_comment(comment)
            elif not same_line and isinstance(first, tokens.ScalarToken):
                self.tokens_taken += 1
                comment = self.tokens.pop(1)
                gap = comment.start_mark.line - first.end_mark.line
                head = "\n" * gap + " " * comment.start_mark.column + comment.value
                first.add_post_comment(comment)
                self.fetch_more_tokens()
                self._join_following(comment, [head])
        self.tokens_taken += 1
        return self.tokens.pop(0)

    def _join_following(self, comment: Any, parts: list[str]) -> None:
        """Append the comment tokens that follow ``comment`` to it, as ruamel does
        (each indented by its column), joining the text once."""
        while len(self.tokens) > 1 and isinstance(self.tokens[1], tokens.CommentToken):
            self.tokens_taken += 1
            following = self.tokens.pop(1)
            parts.append(" " * following.start_mark.column)
            parts.append(following.value)
            self.fetch_more_tokens()
        comment.value = "".join(parts)

    def scan_block_scalar_ignored_line(self, start_mark: Any) -> Any:
        # ruamel's, with the spaces and the comment each read in one slice.
        reader = self.reader
        spaces = 0
        while reader.peek(spaces) == " ":
            spaces += 1
        prefix = reader.prefix(spaces)
        reader.forward(spaces)
        comment = None
        if reader.peek() == "#":
            comment = prefix + self._rest_of_line()
        return self._end_ignored_line(start_mark, comment)

    def _end_ignored_line(self, start_mark: Any, comment: Any) -> Any:
        ch = self.reader.peek()
        if ch not in "\0\r\n\x85\u2028\u2029":
            raise ScannerError(
                "while scanning a block scalar",
                start_mark,
                f"expected a comment or a line break, but found {ch!r}",
                self.reader.get_mark(),
            )
        self.scan_line_break()
        return comment
