"""Block diagrams for the notebooks, drawn with matplotlib (boxes and arrows, works offline).

Each ``*_diagram()`` returns a matplotlib Figure; coordinates are in arbitrary units, one box
per step, arrows clipped at the box edges. The diagrams describe :mod:`yolo_lib.nn` exactly
(channel counts in the labels are those of YOLO11n where a layer is named).
"""

from __future__ import annotations

import matplotlib.pyplot as plt

#: colour per notebook, so the YOLO11 map shows where each block is taught
NOTEBOOK_COLOURS = {"03": "#cfe2ff", "04": "#ffe0b2", "05": "#d1f2d1", "06": "#e8e8e8", "07": "#f8d7da"}


def draw(nodes: dict, edges: list, title: str, figsize=(10, 4), ax=None, fontsize: int = 9):
    """Draw ``nodes`` {key: (x, y, label[, colour])} and ``edges`` [(a, b[, label])] on ``ax``.

    Returns the figure. Arrows go from box ``a`` to box ``b``; an edge label sits at its middle.
    """
    fig, ax = (plt.subplots(figsize=figsize) if ax is None else (ax.figure, ax))
    boxes = {}
    for key, (x, y, label, *colour) in nodes.items():
        boxes[key] = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, zorder=3,
                             bbox=dict(boxstyle="round,pad=0.4", fc=colour[0] if colour else "white", ec="0.3"))
    for a, b, *label in edges:
        ax.annotate("", xy=nodes[b][:2], xytext=nodes[a][:2], zorder=4,
                    arrowprops=dict(arrowstyle="-|>", color="0.25", lw=1.2, shrinkA=0, shrinkB=0,
                                    patchA=boxes[a].get_bbox_patch(), patchB=boxes[b].get_bbox_patch(),
                                    connectionstyle="arc3,rad=0.0"))
        if label:
            ax.text((nodes[a][0] + nodes[b][0]) / 2, (nodes[a][1] + nodes[b][1]) / 2, label[0],
                    fontsize=fontsize - 1, color="0.3", ha="center", va="bottom", zorder=4)
    xs = [n[0] for n in nodes.values()]
    ys = [n[1] for n in nodes.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_title(title)
    ax.axis("off")
    return fig


def c3k2_diagram():
    """C3k2(c1, c2, n): cv1 splits into y0 | y1, each block extends the last piece, cv2 mixes."""
    nodes = {
        "x": (0, 1, "x\n(B, c1, H, W)"),
        "cv1": (2, 1, "cv1: Conv 1x1\nc1 → 2c"),
        "y0": (4, 2.2, "y0 (c)"),
        "y1": (4, 1, "y1 (c)"),
        "m0": (6, 0, "m.0: Bottleneck (or C3k)\n→ y2 (c)"),
        "m1": (8, -1, "m.n-1 (same)\n→ y(n+1) (c)"),
        "cat": (10, 1.6, "concat\n(2+n)·c"),
        "cv2": (12, 1.6, "cv2: Conv 1x1\n→ c2"),
        "b_in": (2, -2.6, "Bottleneck:  x"),
        "b1": (4.5, -2.6, "Conv 3x3"),
        "b2": (6.5, -2.6, "Conv 3x3"),
        "b_add": (8.5, -2.6, "+ x\n(if c1 == c2)"),
    }
    edges = [("x", "cv1"), ("cv1", "y0", "split"), ("cv1", "y1"), ("y1", "m0"), ("m0", "m1"),
             ("y0", "cat"), ("y1", "cat"), ("m0", "cat"), ("m1", "cat"), ("cat", "cv2"),
             ("b_in", "b1"), ("b1", "b2"), ("b2", "b_add")]
    return draw(nodes, edges, "C3k2: split, chain n blocks on the last piece, concatenate every piece",
                figsize=(13, 5))


def sppf_diagram():
    """SPPF: cv1, three chained 5x5 max-pools, concatenation of all four, cv2."""
    nodes = {
        "x": (0, 1, "x (B, 256, H, W)"),
        "cv1": (2.3, 1, "cv1: Conv 1x1\n256 → 128"),
        "p1": (4.6, 1, "maxpool 5x5\n(sees 5x5)"),
        "p2": (6.9, 1, "maxpool 5x5\n(sees 9x9)"),
        "p3": (9.2, 1, "maxpool 5x5\n(sees 13x13)"),
        "cat": (6.9, -0.6, "concat 4 x 128"),
        "cv2": (9.2, -0.6, "cv2: Conv 1x1\n512 → 256"),
    }
    edges = [("x", "cv1"), ("cv1", "p1"), ("p1", "p2"), ("p2", "p3"), ("cv1", "cat"), ("p1", "cat"),
             ("p2", "cat"), ("p3", "cat"), ("cat", "cv2")]
    return draw(nodes, edges, "SPPF (layer 9): one 1x1 Conv sees four neighbourhood sizes", figsize=(12, 3.4))


def c2psa_diagram():
    """C2PSA with its PSABlock and the Attention inside, for YOLO11n's layer 10 (c = 128)."""
    nodes = {
        "x": (0, 2, "x (B, 256, H, W)"),
        "cv1": (2.2, 2, "cv1: Conv 1x1\n256 → 256"),
        "a": (4.4, 3, "a (128)"),
        "b": (4.4, 2, "b (128)"),
        "attn": (6.6, 2, "b + Attention(b)"),
        "ffn": (8.8, 2, "+ FFN: Conv 1x1 128→256\nConv 1x1 256→128"),
        "cat": (11, 2.5, "concat\n256"),
        "cv2": (13, 2.5, "cv2: Conv 1x1\n256 → 256"),
        "ax": (0, 0, "b (B, 128, H, W)"),
        "qkv": (2.2, 0, "qkv: Conv 1x1\n128 → 256"),
        "qk": (4.4, 0.6, "q, k: 2 heads x 32"),
        "v": (4.4, -0.6, "v: 2 heads x 64"),
        "soft": (6.6, 0.6, "softmax(qᵀk / √32)\n(B, 2, N, N)"),
        "mix": (8.8, 0, "v · attnᵀ\n(B, 128, H, W)"),
        "pe": (6.6, -0.9, "pe: depthwise\nConv 3x3 on v"),
        "plus": (10.8, 0, "+"),
        "proj": (12.6, 0, "proj: Conv 1x1"),
    }
    edges = [("x", "cv1"), ("cv1", "a", "split"), ("cv1", "b"), ("b", "attn"), ("attn", "ffn"),
             ("a", "cat"), ("ffn", "cat"), ("cat", "cv2"),
             ("ax", "qkv"), ("qkv", "qk"), ("qkv", "v"), ("qk", "soft"), ("soft", "mix"), ("v", "mix"),
             ("v", "pe"), ("mix", "plus"), ("pe", "plus"), ("plus", "proj")]
    return draw(nodes, edges, "C2PSA (layer 10), and below it the Attention of its PSABlock (N = H·W)",
                figsize=(14, 5))


def detect_diagram(nc: int = 2):
    """The Detect head on one level: box branch → DFL → box, class branch → sigmoid."""
    nodes = {
        "p": (0, 1, "P3 / P4 / P5\n(64 / 128 / 256 ch)"),
        "b1": (2.5, 2, "Conv 3x3 → 64"),
        "b2": (4.7, 2, "Conv 3x3 → 64"),
        "b3": (6.9, 2, "Conv2d 1x1 + bias\n→ 64 = 4 sides x 16"),
        "dfl": (9.4, 2, "DFL: softmax over 16 bins,\nexpectation → l, t, r, b"),
        "box": (12, 2, "box cx, cy, w, h\n(x stride: pixels)"),
        "c1": (2.5, 0, "DWConv 3x3\nConv 1x1 → c3"),
        "c2": (4.7, 0, "DWConv 3x3\nConv 1x1 → c3"),
        "c3": (6.9, 0, f"Conv2d 1x1 + bias\n→ nc = {nc}"),
        "sig": (9.4, 0, "sigmoid\n(independent per class)"),
        "out": (12, 0.0, f"scores (nc = {nc})"),
    }
    edges = [("p", "b1"), ("b1", "b2"), ("b2", "b3"), ("b3", "dfl"), ("dfl", "box"),
             ("p", "c1"), ("c1", "c2"), ("c2", "c3"), ("c3", "sig"), ("sig", "out")]
    return draw(nodes, edges, "Detect (layer 23), per level: box branch (top), class branch (bottom); c3 = max(64, min(nc, 100))",
                figsize=(14, 3.8))


#: (index, label, notebook, x, y) of the YOLO11 layers for the map; P3/P4/P5 are layers 16, 19, 22
_MAP = [
    (0, "Conv s2", "03", 0, 9), (1, "Conv s2", "03", 0, 8), (2, "C3k2", "03", 0, 7), (3, "Conv s2", "03", 0, 6),
    (4, "C3k2", "03", 0, 5), (5, "Conv s2", "03", 0, 4), (6, "C3k2", "03", 0, 3), (7, "Conv s2", "03", 0, 2),
    (8, "C3k2", "03", 0, 1), (9, "SPPF", "04", 0, 0), (10, "C2PSA", "04", 0, -1),
    (11, "Upsample", "06", 3, -1), (12, "Concat", "06", 3, 3), (13, "C3k2", "03", 3, 2.2),
    (14, "Upsample", "06", 5.8, 2.2), (15, "Concat", "06", 5.8, 5), (16, "C3k2 → P3", "03", 5.8, 6),
    (17, "Conv s2", "03", 8.4, 6), (18, "Concat", "06", 8.4, 2.2), (19, "C3k2 → P4", "03", 8.4, 1.2),
    (20, "Conv s2", "03", 11, 1.2), (21, "Concat", "06", 11, -1), (22, "C3k2 → P5", "03", 11, -2),
    (23, "Detect + DFL", "05", 14, 2.2),
]
_MAP_SOURCES = {12: (11, 6), 15: (14, 4), 18: (17, 13), 21: (20, 10), 23: (16, 19, 22)}


def yolo11_map(figsize=(14, 8)):
    """YOLO11's 24 layers, wired as in yolo11.yaml, each coloured by the notebook that teaches it."""
    nodes = {i: (x, y, f"{i}: {label}  [{nb}]", NOTEBOOK_COLOURS[nb]) for i, label, nb, x, y in _MAP}
    nodes["img"] = (0, 10.2, "image (B, 3, 320, 320)")
    nodes["loss"] = (14, -1, "loss: assigner, CIoU,\nDFL, BCE  [07]", NOTEBOOK_COLOURS["07"])
    edges = [("img", 0)] + [(i - 1, i) for i in range(1, 23) if i not in _MAP_SOURCES]
    for i, srcs in _MAP_SOURCES.items():
        edges += [(s, i) for s in srcs]
    edges += [(23, "loss")]
    return draw(nodes, edges, "YOLO11n: backbone (left column), neck (FPN down, PAN up), head.\n"
                             "[NN] = notebook; every Conv block is conv → BatchNorm [01] → SiLU, on the Ops of [02]",
               figsize=figsize, fontsize=8)
