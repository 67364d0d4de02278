"""The slice viewer: volumes with their lesion masks and class activation maps, one cut at a time (CovidNet3D's CAM
slices, SEEDS_2 §6.5).

:class:`VolumeSliceViewer` shows one or several (D, H, W) volumes; buttons pick the cut (axial, coronal,
sagittal), a slider the slice, a drop-down the volume (when there are several), check boxes the overlays (the
lesion outline, the CAM) and a slider the CAM's opacity. The figure is built once by
:func:`widgets.figures.volume.slice_figure` and its traces (``volume``, ``CAM``, ``lesion``) are updated in place.
``show(volume=, axis=, index=)`` drives it from code; "peak" jumps to the CAM's largest voxel.

:class:`SupernetCamView` is the ``volume_cam`` panel of the dashboard (``mbconv3d`` spaces, live searches only):
the slice viewer over a few lesion volumes of the search's architecture half, with a button that computes the
CAM of the supernet's current mode path (argmax alpha, eval-mode BatchNorm) between two steps. Read it with
care: the supernet's BatchNorm statistics are shared by every path, so mid-search maps are rough; the derived
network's CAM after fine-tuning is the one to trust. A recorded History holds no network: no static form.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch

from widgets.figures.volume import AXES, CAM, LESION, VOLUME, cam_peak, slice_arrays, slice_figure
from widgets.views.base import Feed, error_html, figure_widget, require_session, status_html
from workbench.analysis.cam import volume_cams
from workbench.tasks.data import search_split

__all__ = ["SupernetCamView", "VolumeSliceViewer", "is_volume_space", "volume_panels"]


def _stack(a: Any, what: str) -> np.ndarray | None:
    if a is None:
        return None
    a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
    if a.ndim == 5 and a.shape[1] == 1:  # (N, 1, D, H, W) volumes
        a = a[:, 0]
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{what} must be (D, H, W) or (N, D, H, W) (volumes may be (N, 1, D, H, W)); got {a.shape}")
    return a.astype(float)


class VolumeSliceViewer:
    """Volumes (N, D, H, W), optional masks and CAMs of the same shape, and optional ``names`` per volume."""

    def __init__(self, volumes: Any, masks: Any = None, cams: Any = None, *, names: Sequence[str] | None = None,
                 axis: str = "axial", height: int = 380, width: int = 420) -> None:
        self.volumes = _stack(volumes, "volumes")
        self.masks, self.cams = _stack(masks, "masks"), _stack(cams, "CAMs")
        for what, a in (("masks", self.masks), ("CAMs", self.cams)):
            if a is not None and a.shape != self.volumes.shape:
                raise ValueError(f"{what} have shape {a.shape}; the volumes {self.volumes.shape}")
        n = len(self.volumes)
        self.names = [f"volume {i}" for i in range(n)] if names is None else [str(s) for s in names]
        if len(self.names) != n:
            raise ValueError(f"{len(self.names)} names for {n} volumes")
        if axis not in AXES:
            raise ValueError(f"unknown cut {axis!r}; accepted: {', '.join(AXES)}")
        self.i, self.axis = 0, axis
        self.index = self.volumes.shape[1 + AXES[axis][0]] // 2
        self.fig = figure_widget(slice_figure(self.volumes[0], self._mask(0), self._cam(0), axis=axis,
                                              index=self.index, height=height, width=width), "dnas-volume")
        self.picker = W.Dropdown(options=[(s, i) for i, s in enumerate(self.names)], value=0, description="volume",
                                 layout=W.Layout(width="340px", display="" if n > 1 else "none"))
        self.cut = W.ToggleButtons(options=list(AXES), value=axis, style={"button_width": "80px"})
        self.slider = W.IntSlider(value=self.index, min=0, max=self._depth() - 1, description="slice",
                                  continuous_update=True, layout=W.Layout(width="340px"))
        self.show_mask = W.Checkbox(value=self.masks is not None, description="lesion outline", indent=False,
                                    disabled=self.masks is None, layout=W.Layout(width="130px"))
        self.show_cam = W.Checkbox(value=self.cams is not None, description="CAM", indent=False,
                                   disabled=self.cams is None, layout=W.Layout(width="70px"))
        self.opacity = W.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="opacity",
                                     disabled=self.cams is None, layout=W.Layout(width="240px"))
        self.peak = W.Button(description="CAM peak", disabled=self.cams is None, layout=W.Layout(width="90px"))
        self.picker.observe(lambda ch: self.show(volume=ch["new"]), "value")
        self.cut.observe(lambda ch: self.show(axis=ch["new"]), "value")
        self.slider.observe(lambda ch: self.show(index=ch["new"]), "value")
        for box in (self.show_mask, self.show_cam, self.opacity):
            box.observe(lambda ch: self._redraw(), "value")
        self.peak.on_click(lambda _: self.to_peak())
        self.widget = W.VBox([W.HBox([self.picker, self.cut]), W.HBox([self.slider, self.peak]),
                              W.HBox([self.show_mask, self.show_cam, self.opacity]), self.fig])
        self.widget.add_class("dnas-volume-viewer")

    def set_cams(self, cams: Any) -> None:
        """Replace the CAMs (same shape as the volumes) and redraw; the overlay controls are enabled."""
        cams = _stack(cams, "CAMs")
        if cams.shape != self.volumes.shape:
            raise ValueError(f"CAMs have shape {cams.shape}; the volumes {self.volumes.shape}")
        self.cams = cams
        for w in (self.show_cam, self.opacity, self.peak):
            w.disabled = False
        self.show_cam.value = True
        self._redraw()

    def _mask(self, i: int) -> np.ndarray | None:
        return None if self.masks is None else self.masks[i]

    def _cam(self, i: int) -> np.ndarray | None:
        return None if self.cams is None else self.cams[i]

    def _depth(self) -> int:
        return int(self.volumes.shape[1 + AXES[self.axis][0]])

    def show(self, volume: int | None = None, axis: str | None = None, index: int | None = None) -> None:
        """Show volume ``volume``'s cut ``axis`` at slice ``index`` (unchanged where None; a new cut starts in the
        middle); the controls follow."""
        if volume is not None:
            if not 0 <= int(volume) < len(self.volumes):
                raise ValueError(f"volume {volume} is out of range: there are {len(self.volumes)}")
            self.i = int(volume)
        if axis is not None and axis != self.axis:
            if axis not in AXES:
                raise ValueError(f"unknown cut {axis!r}; accepted: {', '.join(AXES)}")
            self.axis = axis
            self.index = self._depth() // 2 if index is None else int(index)
        elif index is not None:
            self.index = int(index)
        self.index = min(max(self.index, 0), self._depth() - 1)
        for w, v in ((self.picker, self.i), (self.cut, self.axis)):
            if w.value != v:
                w.value = v
        self.slider.max = self._depth() - 1
        if self.slider.value != self.index:
            self.slider.value = self.index
        self._redraw()

    def to_peak(self) -> tuple[int, int, int]:
        """Jump to the slice holding the current volume's CAM peak (on the current cut); returns the voxel."""
        if self.cams is None:
            raise ValueError("no CAMs were given to the viewer")
        point = cam_peak(self.cams[self.i])
        self.show(index=point[AXES[self.axis][0]])
        return point

    def _redraw(self) -> None:
        v2, m2, c2 = slice_arrays(self.axis, self.index, self.volumes[self.i], self._mask(self.i), self._cam(self.i))
        rows, cols = AXES[self.axis][1]
        traces = {t.name: t for t in self.fig.data}
        with self.fig.batch_update():
            traces[VOLUME].z = v2
            cam_on = c2 is not None and self.show_cam.value
            traces[CAM].z = c2 if cam_on else None
            traces[CAM].visible = cam_on
            traces[CAM].opacity = float(self.opacity.value)
            mask_on = m2 is not None and self.show_mask.value and bool((m2 > 0.5).any())
            traces[LESION].z = (m2 > 0.5).astype(float) if mask_on else None
            traces[LESION].visible = mask_on
            self.fig.layout.xaxis.title.text, self.fig.layout.yaxis.title.text = cols, rows
            self.fig.layout.title.text = f"{self.names[self.i]} · {self.axis} slice {self.index} of {self._depth()}"

    def close(self) -> None:
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def is_volume_space(space: Any) -> bool:
    """Spaces whose networks expose ``features`` and a linear ``classifier`` over volumes (``mbconv3d``)."""
    from workbench.spaces.volume import Mbconv3dSpace
    return isinstance(space, Mbconv3dSpace)


class SupernetCamView:
    """The ``volume_cam`` panel: lesion volumes of the architecture half, and the supernet's CAM on demand."""

    def __init__(self, feed: Any, n: int = 6, width: int = 420) -> None:
        self.feed = Feed(feed)
        session = require_session(self.feed, "the supernet CAM")
        s = session.searcher
        ds = s.dataset
        (xw, _), _ = search_split(ds, s.config.train_portion)
        offset = 0 if s.config.train_portion == 1.0 else len(xw)  # the architecture half: the rest
        masks = getattr(ds, "mask_train", None)
        lesion = ds.y_train[offset:] > 0 if masks is not None else torch.ones(len(ds.y_train) - offset, dtype=bool)
        self.index = (torch.nonzero(lesion).flatten()[:n] + offset).tolist()
        self.x = ds.x_train[self.index]
        self.viewer = VolumeSliceViewer(self.x, None if masks is None else masks[self.index],
                                        names=[f"training volume {i} (architecture half)" for i in self.index],
                                        width=width)
        self.button = W.Button(description="CAM of the current path", icon="fire", layout=W.Layout(width="220px"))
        self.status = W.HTML(status_html("the mode path (argmax α) in eval mode; BatchNorm statistics are shared "
                                         "by all paths, so treat mid-search maps as rough"))
        self.button.on_click(lambda _: self.compute())
        self.widget = W.VBox([W.HBox([self.button, self.status]), self.viewer.widget])

    def compute(self) -> None:
        """The supernet's CAM for class 1 (lesion) on the shown volumes, taken between two steps."""
        try:
            session = require_session(self.feed, "the supernet CAM")
            with session.lock:
                s = session.searcher
                w, a = s.mixing_weights(training=False)
                w = {g: t.detach() for g, t in w.items()}
                res = volume_cams(s.model, self.x.to(s.device), 1,
                                  features=lambda xb: s.model.features(xb, w, a))
                step = s.step_count
            self.viewer.set_cams(res.cams.cpu())
            self.status.value = status_html(f"CAM of {s.space.label(s.genotype())} at step {step}")
        except Exception as exc:  # shown in the panel, never fatal to the dashboard
            self.status.value = error_html(exc)

    def set_visible(self, visible: bool) -> None:
        """The dashboard's tab switch: nothing to do (this view draws only when asked)."""

    def close(self) -> None:
        self.viewer.close()
        self.widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def volume_panels() -> list[Any]:
    """The panels to register (imports :mod:`widgets.panels` lazily: it registers them at its end)."""
    from widgets.panels import Panel
    return [Panel("volume_cam", "Volumes & CAM", applies=is_volume_space, needs_session=True,
                  live=lambda ctx: SupernetCamView(ctx.feed, width=min(ctx.width, 460)))]
