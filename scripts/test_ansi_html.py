"""Unit tests of scripts/ansi-html.py (run by scripts/test.sh)."""

import importlib.util
import pathlib
import unittest

spec = importlib.util.spec_from_file_location(
    "ansi_html", pathlib.Path(__file__).with_name("ansi-html.py")
)
ansi_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ansi_html)


class Render(unittest.TestCase):
    def test_colours_become_styles_and_reset_ends_them(self):
        out = ansi_html.render("\x1b[31m- Topic\x1b[0m kept\n")
        self.assertEqual(out, '<span style="color:#ff6b6b">- Topic</span> kept')

    def test_a_progress_line_rewritten_in_place_shows_its_last_state(self):
        out = ansi_html.render("  [#...] 1/4\r\x1b[K  [####] 4/4\r\x1b[K    Queue done\r\n")
        self.assertEqual(out, "    Queue done")

    def test_text_cannot_become_markup_and_other_escapes_are_dropped(self):
        out = ansi_html.render("<script>x</script>\x1b]0;title\x07\x1b[?25l ok\n")
        self.assertNotIn("<script>", out)
        self.assertIn("&lt;script&gt;", out)
        self.assertTrue(out.endswith(" ok"), out)

    def test_a_transcript_file_keeps_its_carriage_returns(self):
        import contextlib
        import io
        import os
        import sys
        import tempfile

        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"a\r\n\r\x1b[K  [..] 0/2\r\x1b[K    Data\r\n")
        out = io.StringIO()
        try:
            sys.argv = ["ansi-html.py", f.name, "t"]
            with contextlib.redirect_stdout(out):
                ansi_html.main()
        finally:
            os.unlink(f.name)
        self.assertIn("<pre>a\n    Data</pre>", out.getvalue())


if __name__ == "__main__":
    unittest.main()
