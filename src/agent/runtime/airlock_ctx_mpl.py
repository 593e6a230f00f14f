"""A matplotlib backend for airlock contexts (MPLBACKEND=module://airlock_ctx_mpl): Agg
rendering, and plt.show() sends every open figure back as a PNG display result. matplotlib
loads it only when the code imports matplotlib itself."""
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs):
    import airlock_ctx

    airlock_ctx.show_figures()
