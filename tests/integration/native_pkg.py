"""Builders of tiny packages for install tests, made on the host without any index:

- build_wheel(): a wheel holding a C extension compiled against the host's Python 3.11
  (python3-dev), which matches the Debian 12 Python of airlock/python:3.11. Importing it runs
  native code, which loads only from a file system that allows executing (the install home).
- build_npm_tarball(): an npm package tarball (what `npm pack` makes).
"""
import base64
import hashlib
import io
import json
import subprocess
import sysconfig
import tarfile
import zipfile
from pathlib import Path

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *answer(PyObject *self, PyObject *args)
{
        return PyLong_FromLong(%(answer)d);
}

static PyMethodDef methods[] = {
        {"answer", answer, METH_NOARGS, "The answer, computed natively."},
        {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};

PyMODINIT_FUNC PyInit_%(name)s(void)
{
        return PyModule_Create(&module);
}
"""


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(workdir, name="airlock_native", version="1.0", answer=42):
    """Compile the extension and zip it as a wheel; returns the wheel's path."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / f"{name}.c"
    src.write_text(C_SOURCE % {"name": name, "answer": answer})
    suffix = sysconfig.get_config_var("EXT_SUFFIX")  # .cpython-311-x86_64-linux-gnu.so
    so = workdir / f"{name}{suffix}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}",
                    str(src), "-o", str(so)], check=True)
    tag = "cp311-cp311-linux_x86_64"
    dist = f"{name}-{version}.dist-info"
    files = {
        so.name: so.read_bytes(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: false\n"
                          f"Tag: {tag}\n").encode(),
    }
    record = [_record_line(p, d) for p, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = workdir / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(p, d)
    return wheel


def build_npm_tarball(name="airlock-npm-demo", version="1.0.0", answer=42):
    """The bytes of an npm package tarball (package/package.json and package/index.js)."""
    files = {
        "package/package.json": json.dumps({"name": name, "version": version,
                                            "main": "index.js", "license": "MIT"}).encode(),
        "package/index.js": f"module.exports = {{ answer: () => {answer} }};\n".encode(),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for p, d in files.items():
            info = tarfile.TarInfo(p)
            info.size = len(d)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(d))
    return out.getvalue()
