"""Slices of a 3-D volume with its lesion mask and class activation map overlaid (CovidNet3D's CAM slices,
SEEDS_2 §6.5; the maps come from :mod:`workbench.analysis.cam`).

* :func:`slice_arrays` -- the 2-D cut of a (D, H, W) array along an axis: ``"axial"`` (fixed depth D: an
  H x W image), ``"coronal"`` (fixed H: D x W) or ``"sagittal"`` (fixed W: D x H);
* :func:`slice_figure` -- one cut: the volume in greys, the CAM as a translucent heat map on top, the lesion
  mask's outline as a contour line. Trace layout (the live slice viewer updates it in place), by ``name``:
  :data:`VOLUME`, :data:`CAM` (no values without a CAM), :data:`LESION` (no values without a mask);
* :func:`orthogonal_slices` -- the three cuts through one voxel (default: the CAM's peak, else the centre)
  side by side, the voxel marked by a cross in each: the static form of the slice viewer
  (:class:`widgets.views.volume.VolumeSliceViewer`).

Arrays are numpy or torch, (D, H, W); the CAM is expected normalised to [0, 1] (the colour scale is fixed).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from widgets.figures.style import base_layout

__all__ = ["AXES", "CAM", "LESION", "VOLUME", "cam_peak", "orthogonal_slices", "slice_arrays", "slice_figure"]

#: cut name -> (axis index in (D, H, W), the image's (row, column) axis titles)
AXES = {"axial": (0, ("H", "W")), "coronal": (1, ("D", "W")), "sagittal": (2, ("D", "H"))}
VOLUME, CAM, LESION = "volume", "CAM", "lesion"
_CAM_SCALE = [[0.0, "rgba(255,255,178,0)"], [0.35, "rgba(254,204,92,0.35)"], [0.7, "rgba(253,141,60,0.7)"],
              [1.0, "rgba(189,0,38,0.95)"]]


def _np(a: Any) -> np.ndarray | None:
    if a is None:
        return None
    a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
    a = np.asarray(a, dtype=float)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"a volume is a (D, H, W) array (or (1, D, H, W)), got shape {a.shape}")
    return a


def _check(volume: np.ndarray, other: np.ndarray | None, what: str) -> None:
    if other is not None and other.shape != volume.shape:
        raise ValueError(f"the {what} has shape {other.shape}, the volume {volume.shape}; upsample it to the volume "
                         "first (workbench.analysis.cam.volume_cams does)")


def _axis(axis: str) -> int:
    if axis not in AXES:
        raise ValueError(f"unknown cut {axis!r}; accepted: {', '.join(AXES)}")
    return AXES[axis][0]


def slice_arrays(axis: str, index: int, *arrays: Any) -> list[np.ndarray | None]:
    """The ``index``-th cut along ``axis`` of each (D, H, W) array (None stays None)."""
    k = _axis(axis)
    out = []
    for a in arrays:
        a = _np(a)
        if a is not None:
            if not 0 <= index < a.shape[k]:
                raise ValueError(f"{axis} slice {index} is out of range: the volume has {a.shape[k]} along that axis")
            a = np.take(a, index, axis=k)
        out.append(a)
    return out


def cam_peak(cam: Any) -> tuple[int, int, int]:
    """The (d, h, w) voxel of the largest CAM value."""
    c = _np(cam)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(c)), c.shape))  # type: ignore[return-value]


def _traces(vol2d: np.ndarray, mask2d: np.ndarray | None, cam2d: np.ndarray | None, vrange: tuple[float, float],
            cam_opacity: float, showscale: bool) -> list[go.BaseTraceType]:
    traces: list[go.BaseTraceType] = [go.Heatmap(
        z=vol2d, name=VOLUME, colorscale=[[0.0, "black"], [1.0, "white"]], zmin=vrange[0], zmax=vrange[1], showscale=False,
        hovertemplate="row %{y}, col %{x}<br>intensity %{z:.2f}<extra></extra>")]
    traces.append(go.Heatmap(
        z=cam2d, name=CAM, colorscale=_CAM_SCALE, zmin=0.0, zmax=1.0, opacity=cam_opacity, showscale=showscale,
        visible=cam2d is not None, colorbar=dict(title="CAM", thickness=10, len=0.8),
        hovertemplate="row %{y}, col %{x}<br>CAM %{z:.2f}<extra></extra>"))
    traces.append(go.Contour(
        z=None if mask2d is None else mask2d.astype(float), name=LESION, showscale=False, hoverinfo="skip",
        contours=dict(start=0.5, end=0.5, size=1, coloring="none"), line=dict(color="#00a0ff", width=2),
        visible=mask2d is not None and bool(mask2d.any())))
    return traces


def slice_figure(volume: Any, mask: Any = None, cam: Any = None, *, axis: str = "axial", index: int | None = None,
                 title: str | None = None, cam_opacity: float = 0.6, height: int = 360, width: int | None = 380
                 ) -> go.Figure:
    """One cut of ``volume`` with the ``mask`` outline and the ``cam`` overlaid (module docstring)."""
    vol, m, c = _np(volume), _np(mask), _np(cam)
    _check(vol, m, "mask")
    _check(vol, c, "CAM")
    k = _axis(axis)
    index = vol.shape[k] // 2 if index is None else int(index)
    v2, m2, c2 = slice_arrays(axis, index, vol, m, c)
    fig = go.Figure(_traces(v2, None if m2 is None else m2 > 0.5, c2, (float(vol.min()), float(vol.max())),
                            cam_opacity, showscale=True))
    rows, cols = AXES[axis][1]
    fig.update_xaxes(title_text=cols, constrain="domain", showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=rows, scaleanchor="x", autorange="reversed", showgrid=False, zeroline=False)
    base_layout(fig, title if title is not None else f"{axis} slice {index} of {vol.shape[k]}", height, width)
    fig.update_layout(showlegend=False, margin=dict(l=45, r=10, b=40))
    return fig


def orthogonal_slices(volume: Any, mask: Any = None, cam: Any = None, *, point: tuple[int, int, int] | None = None,
                      title: str | None = None, cam_opacity: float = 0.6, height: int = 330, width: int = 960
                      ) -> go.Figure:
    """Axial, coronal and sagittal cuts through ``point`` (default: the CAM's peak, else the centre), marked."""
    vol, m, c = _np(volume), _np(mask), _np(cam)
    _check(vol, m, "mask")
    _check(vol, c, "CAM")
    if point is None:
        point = cam_peak(c) if c is not None else tuple(s // 2 for s in vol.shape)
    if len(point) != 3 or any(not 0 <= p < s for p, s in zip(point, vol.shape, strict=True)):
        raise ValueError(f"point must be a voxel (d, h, w) inside the volume {vol.shape}, got {point}")
    D, H, W = vol.shape
    fig = make_subplots(1, 3, column_widths=[W, W, H], horizontal_spacing=0.06,
                        subplot_titles=[f"{name} {point[AXES[name][0]]}" for name in AXES])
    vrange = (float(vol.min()), float(vol.max()))
    for j, name in enumerate(AXES, 1):
        k, (rows, cols) = AXES[name]
        v2, m2, c2 = slice_arrays(name, point[k], vol, m, c)
        for t in _traces(v2, None if m2 is None else m2 > 0.5, c2, vrange, cam_opacity, showscale=j == 3):
            fig.add_trace(t, 1, j)
        rest = [p for i, p in enumerate(point) if i != k]  # the marked voxel in this cut: (row, column)
        fig.add_trace(go.Scatter(x=[rest[1]], y=[rest[0]], mode="markers", name="point", hoverinfo="skip",
                                 marker=dict(symbol="cross-thin", size=14, line=dict(width=2, color="#2ca02c"))), 1, j)
        fig.update_xaxes(title_text=cols, showgrid=False, zeroline=False, constrain="domain", row=1, col=j)
        fig.update_yaxes(title_text=rows, showgrid=False, zeroline=False, autorange="reversed",
                         scaleanchor=f"x{'' if j == 1 else j}", row=1, col=j)
    base_layout(fig, title, height, width, top=70)
    fig.update_layout(showlegend=False)
    return fig
