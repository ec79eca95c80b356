"""The README's Python example runs as written on the demo data (and on the CDISC pilot)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_python_example_runs(cdisc_dir, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    code = code.replace('sdtm="path/to/sdtm", adam="path/to/adam"',
                        f'sdtm={str(cdisc_dir / "sdtm")!r}, adam={str(cdisc_dir / "adam")!r}')
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    assert namespace["study"].protocol.ratio == {"ALLR3": 1, "InO": 2}
    assert len(namespace["cdisc"].screening) == 306
    assert os.getcwd() == str(ROOT)
