"""A full disk (a real one: a small tmpfs) costs the build only: one short line, the live
generation unchanged and verified, and no staging generation left behind, however often."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from nyx.builder import build_index
from nyx.cli.index import main
from nyx.retriever import Retriever
from tests.security.conftest import options

WORDS = ["ships", "harbour", "tide", "anchor", "lighthouse", "coast", "sail", "wind", "storm",
         "pier", "rope", "keel", "mast", "deck", "gull", "wave", "reef", "buoy", "chart"]


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def test_a_full_disk_leaves_the_live_generation_and_no_staging(lite, tmp_path, small_disk,
                                                                capsys):
    corpus, index = tmp_path / "corpus", small_disk / "idx"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Ships sail at dawn.")
    build_index(corpus, index, options(lite))
    live = (index / "CURRENT").read_text().strip()
    rng = random.Random(0)
    (corpus / "big.txt").write_text("\n\n".join(" ".join(rng.choice(WORDS) for _ in range(120))
                                                for _ in range(300)))
    failures, while_writing = 0, 0
    for leave in range(200_000, 6_000_000, 400_000):  # fails in the cache, the store, ...
        _fill(small_disk, leave)
        code = main(["build", str(corpus), "-o", str(index)])
        err = capsys.readouterr().err.strip().splitlines()
        if code == 0:
            break
        failures += 1
        while_writing += any("writing the index" in line for line in err)
        assert code == 2 and "no space left" in err[-1] and len(err[-1]) < 400, err[-1]
        gens = sorted(p.name for p in index.iterdir() if p.name.startswith("gen-"))
        assert gens == [live], gens  # no staging generation is left behind
        assert (index / "CURRENT").read_text().strip() == live
        assert main(["verify", str(index)]) == 0
        capsys.readouterr()
    assert failures >= 2 and while_writing >= 1, (failures, while_writing)
    assert (index / "CURRENT").read_text().strip() != live  # with room, the build completed
    assert main(["verify", str(index)]) == 0
    with Retriever.load(index, encoder=lite) as retriever:
        assert retriever.count() == 301
