"""A wheel with a native extension, built here for the sandbox's Python (3.11, x86_64): the
package a `pip install` test fetches from the suite's own package index."""
import base64
import hashlib
import subprocess
import sysconfig
import zipfile
from pathlib import Path

NAME = "airlock_native"
VERSION = "1.0"
C_SOURCE = r'''
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, "42"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "airlock_native", NULL, -1, methods};
PyMODINIT_FUNC PyInit_airlock_native(void) { return PyModule_Create(&mod); }
'''


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def native_wheel(dir):
    """Build the wheel in dir; returns its path."""
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    src = dir / "airlock_native.c"
    so = dir / "airlock_native.cpython-311-x86_64-linux-gnu.so"
    src.write_text(C_SOURCE)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}",
                    "-o", str(so), str(src)], check=True)
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        so.name: so.read_bytes(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: false\n"
                         b"Tag: cp311-cp311-linux_x86_64\n",
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = dir / f"{NAME}-{VERSION}-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return wheel
