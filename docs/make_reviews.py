"""Write a small example table to try `modalyze analyze TABLE --target COL` without data of your own.

    python docs/make_reviews.py reviews/      # writes reviews/reviews.csv, reviews/new_rows.csv, reviews/img/*.png

300 product reviews: a photo (a coloured square, PNG), a title and a body (free text), colour and size
(categorical), price and weight (numeric), an id, and the label `recommended` (yes/no). The title
gives the label away ("great ..." / "poor ..."): the study should find that shortcut. ``new_rows.csv``
holds 20 more reviews without the label, to predict; two have no photo and one has no title.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def main(root: Path, rows: int = 300, new_rows: int = 20) -> Path:
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(rows + new_rows):
        good = i % 2 == 1
        image = Image.new("RGB", (16, 16), (240, 240, 240))
        image.paste((220, 30, 30) if good else (30, 30, 220), (4, 4, 12, 12))
        image.save(root / "img" / f"{i}.png")
        records.append({"id": i, "photo": f"img/{i}.png",
                        "title": f"great item number {i}" if good else f"poor item {i} really",
                        "body": " ".join(rng.choice(["good", "bad", "fine", "meh", "ok", "nice"], 6)),
                        "color": rng.choice(["red", "blue"]), "size": rng.choice(["S", "M", "L"]),
                        "price": round(float(rng.normal(10 + good, 2)), 2), "weight": round(float(rng.normal()), 3),
                        "recommended": "yes" if good else "no"})
    table = pd.DataFrame(records)
    table.iloc[:rows].to_csv(root / "reviews.csv", index=False)
    new = table.iloc[rows:].drop(columns=["recommended"])
    new.loc[new.index[:2], "photo"] = None  # rows a model must predict without a photo, ...
    new.loc[new.index[2], "title"] = None  # ... and without a title
    new.to_csv(root / "new_rows.csv", index=False)
    return root / "reviews.csv"


if __name__ == "__main__":
    table = main(Path(sys.argv[1] if len(sys.argv) > 1 else "reviews"))
    print(f"wrote {table} and {table.with_name('new_rows.csv')}")
