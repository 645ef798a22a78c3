"""The README's Python example, run as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_python_example_runs(capsys):
    text = README.read_text()
    section = text[text.index("## Python") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    # It prints the class counts before and after: the nines raised to the majority's count.
    before, after = out.strip().split("->")
    assert before.split()[-1].rstrip("]") == "18"
    counts = [int(v) for v in after.strip(" []\n").split()]
    assert len(set(counts)) == 1, out
