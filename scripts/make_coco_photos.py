"""Write the handful of COCO photographs shipped in ``yolo_lib/data/photos``.

    python scripts/make_coco_photos.py SOURCE OUT --ids 536 544 ...

SOURCE is a COCO-format folder (``annotations/instances_*.json`` and ``images/``, e.g. a COCO128
sample of train2017). For each image id the JPEG is copied byte for byte (some licences forbid
derivatives), and ``OUT/instances.json`` keeps COCO's own records: the image entries (``license``,
``coco_url``, ``flickr_url``, size, date) with the licence's name and URL added beside them, the
licences used, the person and cell-phone categories and their annotations (crowd boxes
included). ``OUT/README.md`` lists every photograph with its licence.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

CATEGORIES = ("person", "cell phone")

NOTE = """# COCO photographs for the notebooks

{count} photographs from COCO train2017 with their COCO annotations of the two workshop
classes (person, cell phone), so that a fresh clone draws statistics, assignments and detections
on real images (notebooks 07, 08, 11 and 12). Written by `scripts/make_coco_photos.py`.

**These images are not covered by this project's MIT licence.** Each photograph is under its
own licence, chosen by its author on Flickr, given below and in `instances.json` (the image's
`license` id, `license_name` and `license_url`, beside `coco_url` and `flickr_url`; the first
number of the Flickr file name is the photo id, and https://www.flickr.com/photo.gne?id=ID is
the photograph's page, which names its author). The images are unmodified copies of the COCO
files. Images under a NonCommercial licence may be used for non-commercial purposes only; keep
the attribution (the Flickr page) with any copy. The annotations are COCO's, (c) COCO Consortium, CC BY 4.0
(https://cocodataset.org/#termsofuse).

| file | persons | cell phones | licence | flickr_url | coco_url |
|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--ids", type=int, nargs="+", required=True)
    args = ap.parse_args()
    (annotation_file,) = sorted((args.source / "annotations").glob("instances_*.json"))
    coco = json.loads(annotation_file.read_text())
    licences = {lic["id"]: lic for lic in coco["licenses"]}
    categories = [c for c in coco["categories"] if c["name"] in CATEGORIES]
    wanted = {c["id"] for c in categories}
    images = {im["id"]: im for im in coco["images"]}
    missing = [i for i in args.ids if i not in images]
    if missing:
        raise SystemExit(f"image ids not in {annotation_file}: {missing}")
    chosen = [dict(images[i], license_name=licences[images[i]["license"]]["name"],
                   license_url=licences[images[i]["license"]]["url"]) for i in args.ids]
    annotations = [a for a in coco["annotations"] if a["image_id"] in set(args.ids) and a["category_id"] in wanted]
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for im in chosen:
        shutil.copyfile(args.source / "images" / im["file_name"], args.out / "images" / im["file_name"])
        counts = [sum(a["image_id"] == im["id"] and a["category_id"] == c["id"] and not a["iscrowd"]
                      for a in annotations) for c in categories]
        rows.append(f"| {im['file_name']} | {counts[0]} | {counts[1]} | [{im['license_name']}]({im['license_url']}) "
                    f"| {im['flickr_url']} | {im['coco_url']} |")
    subset = {"info": dict(coco["info"], description=f"{len(chosen)} images of {coco['info']['description']}"),
              "licenses": [licences[k] for k in sorted({im["license"] for im in chosen})],
              "categories": categories, "images": chosen, "annotations": annotations}
    (args.out / "instances.json").write_text(json.dumps(subset, indent=1) + "\n")
    (args.out / "README.md").write_text(NOTE.format(count=len(chosen), rows="\n".join(rows)))
    print(f"wrote {len(chosen)} images, {len(annotations)} annotations to {args.out}")


if __name__ == "__main__":
    main()
