"""Leave-one-source-out transfer of nyx-lite's image bridge.

For each image–caption source (:mod:`nyx.training.image_sources`) the bridge is trained on the
*train* split of every other source and tested on the held-out source's *eval* split: text->image
and image->text R@1/R@10 for

* ``conse``: plain ConSE (nyx-lite before the bridge; OCR off everywhere here);
* ``proj-oc``: a Linear 1280 -> 384 projection trained on OpenClipart only (the ``nyx-lite:PROJ``
  recipe: 300 steps of 256, temperature 0.05), so in-domain on the OpenClipart row;
* ``bridge``: the bridge trained without the held-out source (the transfer number);
* ``shipped``: the shipped bridge (trained on every source's train split), for reference.

``--tower lite1`` / ``--tower lite2`` swap EfficientNet-Lite0 for a larger Lite (an experiment;
nyx-lite ships Lite0): every row then uses that tower, except ``conse-lite0``, the shipped Lite0
ConSE baseline, and ``shipped`` is left out (it was trained on Lite0 features). Results go to
``image_bridge-<tower>.json``.

    python -m nyx.benchmarks.image_bridge                 # prints the table, writes JSON
    python -m nyx.benchmarks.image_bridge --sources openclipart tango --steps 300
    python -m nyx.benchmarks.image_bridge --tower lite2

Image features and caption vectors are cached under ``~/.cache/nyx/training/bridge``; the first
run featurises about 10,000 images (about 10 CPU-minutes for Lite0, one folder per tower),
later runs take about a minute.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).parent / "results" / "image_bridge.json"
METHODS = ("conse-lite0", "conse", "proj-oc", "bridge", "shipped")


def default_out(tower: str = "lite0") -> Path:
    return DEFAULT_OUT if tower == "lite0" else DEFAULT_OUT.with_name(
        f"{DEFAULT_OUT.stem}-{tower}.json")


def run(sources: list[str] | None, steps: int, seed: int,
        tower: str = "lite0") -> dict[str, object]:
    import torch

    from nyx.encoders.bridge import SHIPPED_BRIDGE, ImageBridge
    from nyx.training.bridge import BridgeTrainConfig, evaluate_source, image_vectors, train_head
    from nyx.training.bridge_data import load_source_arrays

    torch.set_num_threads(min(2, torch.get_num_threads()))
    started = time.time()
    arrays, lite = load_source_arrays(sources, show_progress=False, tower=tower)
    conse = lite.conse  # type: ignore[attr-defined]
    by_name = {a.name: a for a in arrays}
    # Another tower: Lite0's cached arrays give the shipped ConSE baseline on the same split.
    lite0 = {} if tower == "lite0" else {
        a.name: a for a in load_source_arrays(sources, show_progress=False)[0]}
    projection = None
    if "openclipart" in by_name:
        projection = train_head([by_name["openclipart"]], conse, BridgeTrainConfig(
            head="linear", steps=300, dropout=0.0, same_source_share=0.0, distill=0.0,
            conse_boost=1.0, seed=seed))
    shipped = ImageBridge.load(SHIPPED_BRIDGE) \
        if tower == "lite0" and SHIPPED_BRIDGE.is_file() else None
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for held_out in arrays:
        test = held_out.take("eval")
        if not len(test):
            continue
        others = [a for a in arrays if a.name != held_out.name]
        bridge = train_head(others, conse, BridgeTrainConfig(steps=steps, seed=seed))
        models = {"conse": None, "proj-oc": projection, "bridge": bridge, "shipped": shipped}
        rows[held_out.name] = {}
        if held_out.name in lite0:
            test0 = lite0[held_out.name].take("eval")
            if test0.captions != test.captions:
                logger.warning("%s: Lite0 and %s evaluate different images", held_out.name,
                               tower)
            rows[held_out.name]["conse-lite0"] = evaluate_source(
                image_vectors(None, test0, conse), test0)
        rows[held_out.name].update({
            method: evaluate_source(image_vectors(model, test, conse), test)
            for method, model in models.items()
            if model is not None or method == "conse"})
        logger.info("%s: %s", held_out.name, {m: round(r["t2i_recall@10"], 3)
                                              for m, r in rows[held_out.name].items()})
    return {"rows": rows, "tower": tower, "steps": steps, "seed": seed,
            "seconds": round(time.time() - started),
            "train_images": {a.name: int((a.split == "train").sum()) for a in arrays}}


def averages(rows: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for method in METHODS:
        values = [r[method] for r in rows.values() if method in r]
        if values:
            out[method] = {k: float(np.mean([v[k] for v in values]))
                           for k in values[0] if k.startswith(("t2i", "i2t"))}
    return out


def table(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, dict)
    lines = ["| held-out source | images / captions | method | t→i R@1 | t→i R@10 | i→t R@1 | "
             "i→t R@10 |", "|---|---|---|---|---|---|---|"]
    all_rows = dict(rows)
    all_rows["**average**"] = averages(rows)
    for name, methods in all_rows.items():
        for method, m in methods.items():
            size = f"{m['images']:.0f} / {m['captions']:.0f}" if "images" in m else ""
            lines.append(f"| {name} | {size} | {method} | {m['t2i_recall@1']:.3f} | "
                         f"{m['t2i_recall@10']:.3f} | {m['i2t_recall@1']:.3f} | "
                         f"{m['i2t_recall@10']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="*", help="source names (default: all available)")
    parser.add_argument("--steps", type=int, default=500, help="bridge training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tower", default="lite0", choices=("lite0", "lite1", "lite2"),
                        help="image tower (nyx-lite ships lite0)")
    parser.add_argument("--out", type=Path,
                        help="JSON file (default: results/image_bridge[-<tower>].json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.out = args.out or default_out(args.tower)
    result = run(args.sources, args.steps, args.seed, args.tower)
    result["average"] = averages(result["rows"])  # type: ignore[arg-type]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
