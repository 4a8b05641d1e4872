"""check() turns any damage to the files into problems, never into an exception."""

import random
import shutil

from lessons.loader import check

from .conftest import FIXTURE

MUTATIONS = [
    lambda text, r: text[: r.randrange(len(text) + 1)],
    lambda text, r: text.replace(":", " ", 1 + r.randrange(3)),
    lambda text, r: text.replace("  ", "", 1 + r.randrange(3)),
    lambda text, r: text.replace("\n", "\n- [x\n", 1),
    lambda text, r: "{" + text,
    lambda text, r: text.replace("[", "", 1),
    lambda text, r: "---\n- a list\n---\n" if text.startswith("---") else "- a list\n",
    lambda text, r: "",
    lambda text, r: text.replace("slug: ", "slug: 12", 1),
    lambda text, r: text + "\n[[check: ]]\n[x](#)\n![](../../../etc/passwd)\n",
]


def test_damaged_files_become_problems(tmp_path):
    r = random.Random(7)
    files = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*") if p.is_file())
    for i in range(60):
        target = tmp_path / f"s{i}"
        shutil.copytree(FIXTURE, target)
        rel = files[i % len(files)]
        path = target / rel
        mutate = MUTATIONS[r.randrange(len(MUTATIONS))]
        path.write_text(mutate(path.read_text(), r))
        courses, problems = check(target)  # must not raise
        for p in problems:
            assert p.line >= 1 and p.message, p
