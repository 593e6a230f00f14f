# airlock's start-up hook for Python in sandboxes (docs/files.md, "Artifacts"). It must cost
# nothing: it imports neither matplotlib nor PIL, it only
#  - makes matplotlib's default backend airlock's (plt.show() saves PNG artifacts), unless
#    the code or its environment chose one, and
#  - registers a PIL viewer (Image.show() saves a PNG artifact) the moment PIL.ImageShow is
#    first imported, through an import hook.
import os
import sys

if os.environ.get("AIRLOCK_OUTPUTS_DIR"):
    os.environ.setdefault("MPLBACKEND", "module://airlock_mpl")

    class _AirlockPILHook:
        """Wraps the loading of PIL.ImageShow to register airlock's viewer first."""

        def find_spec(self, name, path=None, target=None):
            if name != "PIL.ImageShow":
                return None
            import importlib.util

            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return None
            exec_module = spec.loader.exec_module

            def exec_and_register(module):
                exec_module(module)
                try:
                    import airlock_outputs

                    airlock_outputs.register_pil_viewer(module)
                except Exception:  # never break the code's import
                    pass

            spec.loader.exec_module = exec_and_register
            return spec

    sys.meta_path.insert(0, _AirlockPILHook())
