# Where an exec's artifacts go: files under $AIRLOCK_OUTPUTS_DIR are returned with the
# exec's result (docs/files.md, "Artifacts").
import os
import shutil

_count = {"figure": 0, "image": 0}


def outputs_dir():
    d = os.environ.get("AIRLOCK_OUTPUTS_DIR")
    if d:
        os.makedirs(d, exist_ok=True)
    return d


def new_path(kind, ext="png"):
    d = outputs_dir()
    if not d:
        return None
    while True:
        _count[kind] += 1
        p = os.path.join(d, "%s-%d.%s" % (kind, _count[kind], ext))
        if not os.path.exists(p):
            return p


def keep_copy(path):
    """A copy of a file the code saved elsewhere (an unnamed savefig), as an artifact."""
    d = outputs_dir()
    if not d:
        return
    src = os.path.abspath(os.fspath(path))
    if os.path.dirname(src).startswith(os.path.abspath(d)):
        return
    base = os.path.basename(src)
    dst = os.path.join(d, base)
    n = 1
    while os.path.exists(dst):
        stem, ext = os.path.splitext(base)
        n += 1
        dst = os.path.join(d, "%s-%d%s" % (stem, n, ext))
    shutil.copyfile(src, dst)


def register_pil_viewer(ImageShow):
    class AirlockViewer(ImageShow.Viewer):
        format = "PNG"

        def show_image(self, image, **options):
            p = new_path("image")
            if not p:
                return 0
            image.save(p, format="PNG")
            return 1

    ImageShow.register(AirlockViewer, 0)
