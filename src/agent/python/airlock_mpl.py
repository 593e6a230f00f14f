# airlock's matplotlib backend (MPLBACKEND=module://airlock_mpl, set by sitecustomize): Agg
# rendering; plt.show() saves each open figure as a PNG artifact and closes it, and a savefig
# to a file outside the outputs directory also leaves a copy there.
import os

import matplotlib.figure
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

import airlock_outputs

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase

_savefig = matplotlib.figure.Figure.savefig
_in_show = [False]


def _savefig_and_keep(self, fname, *args, **kwargs):
    result = _savefig(self, fname, *args, **kwargs)
    if not _in_show[0] and isinstance(fname, (str, os.PathLike)):
        try:
            airlock_outputs.keep_copy(fname)
        except OSError:
            pass
    return result


matplotlib.figure.Figure.savefig = _savefig_and_keep


def show(*args, **kwargs):
    from matplotlib._pylab_helpers import Gcf

    _in_show[0] = True
    try:
        for manager in Gcf.get_all_fig_managers():
            path = airlock_outputs.new_path("figure")
            if path:
                manager.canvas.figure.savefig(path, format="png")
    finally:
        _in_show[0] = False
    Gcf.destroy_all()
