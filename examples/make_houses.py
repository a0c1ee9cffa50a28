"""Write the example tables of the README's "Your own data": ``houses.csv`` (a messy table to
train on: text, boolean and whole-number columns, missing cells written as empty, ``NA``,
``nan`` and ``?``, and the target ``price`` in the middle) and ``new_houses.csv`` (rows to
predict for: a district the training never saw, missing cells, an extra column, no price).

    python examples/make_houses.py            # rewrites both files next to this script

The numbers come from a fixed seed, so the files are the same on every run.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

DISTRICTS = {"centre": 60_000, "north": 25_000, "riverside": 40_000, "south": -15_000,
             "west": 0}
ENERGY = {"A": 20_000, "B": 12_000, "C": 5_000, "D": 0, "E": -8_000}
MISSING = ["", "NA", "nan", "?"]


def houses(n, rng):
    area = rng.uniform(28, 190, n)
    rooms = np.clip(np.round(area / 28 + rng.normal(0, 0.7, n)), 1, 8).astype(int)
    district = rng.choice(list(DISTRICTS), n, p=[0.15, 0.25, 0.15, 0.25, 0.2])
    garden = rng.random(n) < 0.4
    built = rng.integers(1950, 2024, n)
    energy = rng.choice(list(ENERGY), n)
    price = (2_100 * area + 9_000 * rooms + np.array([DISTRICTS[d] for d in district])
             + 30_000 * garden + 600 * (built - 1950) + np.array([ENERGY[e] for e in energy])
             + rng.normal(0, 12_000, n))
    return {"id": np.arange(1, n + 1), "area": np.round(area, 1), "rooms": rooms,
            "district": district, "garden": garden, "price": np.round(price, -2).astype(int),
            "built": built, "energy": energy}


def write(path, columns, rows, rng, *, holes):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for row in rows:
            cells = [str(v) for v in row]
            for j, name in enumerate(columns):
                if name in holes and rng.random() < 0.06:
                    cells[j] = MISSING[rng.integers(len(MISSING))]
            w.writerow(cells)


def main(folder=Path(__file__).parent):
    rng = np.random.default_rng(2024)
    data = houses(400, rng)
    columns = list(data)
    write(folder / "houses.csv", columns, zip(*data.values()), rng,
          holes={"area", "rooms", "district", "garden", "built", "energy"})
    new = houses(6, rng)
    new["district"][1] = "harbour"  # a district the training never saw
    new["id"] = np.arange(1001, 1007)
    columns = ["id", "area", "rooms", "district", "garden", "built", "energy"]
    rows = [[new[c][i] for c in columns] + [f"L-{i}"] for i in range(6)]
    rows[2][1] = ""     # missing cells
    rows[4][6] = "?"
    write(folder / "new_houses.csv", columns + ["listing"], rows, rng, holes=set())


if __name__ == "__main__":
    main()
