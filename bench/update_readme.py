"""Copy the Kodak BD-rate table from bench/results/kodak/report.md into README.md.

The README holds it between `<!-- kodak-table -->` markers; run after `bench/run_kodak.sh`
whenever a model changes: .venv/bin/python bench/update_readme.py
"""

import re
from pathlib import Path

root = Path(__file__).resolve().parents[1]
report = (root / "bench/results/kodak/report.md").read_text()
table = re.search(r"\| method \| BD-rate MS-SSIM.*?\n\n", report, re.S).group(0).strip()
readme = (root / "README.md").read_text()
start, end = "<!-- kodak-table -->", "<!-- /kodak-table -->"
if start not in readme:
    raise SystemExit("README.md has no <!-- kodak-table --> markers")
head, rest = readme.split(start, 1)
tail = rest.split(end, 1)[1]
(root / "README.md").write_text(f"{head}{start}\n{table}\n{end}{tail}")
print("README.md updated")
