"""Renders a terminal transcript (what `script` captured on a pty) as an HTML page, for a screenshot
of the CLI as a person sees it (scripts/screenshots.sh). It understands what `stackgate` writes: SGR
colours (bold, dim, red, green, yellow, reset) and a progress line rewritten in place (CR, then
erase-line); any other control sequence (CSI) is dropped.

    python3 scripts/ansi-html.py TRANSCRIPT TITLE > page.html
"""

import html
import re
import sys

COLOURS = {"31": "#ff6b6b", "32": "#69db7c", "33": "#ffd43b"}
ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def render(text: str) -> str:
    lines, line, style = [], [], set()
    at = 0
    while at < len(text):
        match = ESCAPE.match(text, at)
        if match:
            params, command = match.groups()
            if command == "m":
                for code in (params or "0").split(";"):
                    if code in ("0", ""):
                        style = set()
                    else:
                        style.add(code)
            elif command == "K":
                line = []
            at = match.end()
            continue
        char = text[at]
        at += 1
        if char == "\r":
            if not text.startswith("\n", at):
                line = []
            continue
        if char == "\n":
            lines.append(line)
            line = []
            continue
        if char == "\x1b" or ord(char) < 0x20:
            continue
        line.append((char, frozenset(style)))
    if line:
        lines.append(line)
    return "\n".join(spans(line) for line in lines)


def spans(line) -> str:
    out, run, current = [], [], None
    for char, style in line + [("", None)]:
        if style != current and run:
            out.append(span("".join(run), current))
            run = []
        current = style
        run.append(char)
    return "".join(out)


def span(text: str, style) -> str:
    css = []
    for code in sorted(style or ()):
        if code in COLOURS:
            css.append(f"color:{COLOURS[code]}")
        elif code == "1":
            css.append("font-weight:bold")
        elif code == "2":
            css.append("opacity:0.6")
    text = html.escape(text)
    return f'<span style="{";".join(css)}">{text}</span>' if css else text


def main() -> None:
    transcript, title = sys.argv[1], sys.argv[2]
    # newline="": a carriage return is the terminal's, not a line end to translate.
    with open(transcript, encoding="utf-8", errors="replace", newline="") as f:
        body = render(f.read())
    print(
        "<!doctype html><meta charset=utf-8><title>" + html.escape(title) + "</title>"
        "<style>body{margin:0;background:#1e1e1e}pre{margin:0;padding:16px;color:#e9ecef;"
        "font:14px/1.45 'DejaVu Sans Mono',monospace;white-space:pre-wrap}</style>"
        "<pre>" + body + "</pre>"
    )


if __name__ == "__main__":
    main()
