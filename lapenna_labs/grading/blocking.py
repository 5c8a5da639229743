"""Blocking what a lab part forbids while the student's answer runs (:func:`call_blocked`).

A hidden test runs the student's function with everything the part forbids *blocked*:
``lapenna_labs``' own implementation of what is graded, and other libraries' versions of it
(``torch.nn.functional.conv2d``, ``tf.nn.conv2d``, ``scipy.signal.correlate2d``...). A call of
a blocked thing raises :class:`ReferenceBlockedError` and is recorded, so the part scores zero
even when the answer caught the error and computed something else.

What can be blocked
-------------------
``block`` takes objects and dotted names:

* a Python function, method, ``functools.partial``, class (every function defined in it and in
  its bases from the same package) or decorated function (its whole ``__wrapped__`` chain);
* a C function (``torch.conv2d``), a NumPy function or ufunc, any other callable;
* the dotted name of one of these (``"torch.nn.functional.conv2d"``), imported on first use;
* the dotted name of a module or package (``"scipy.signal"``, ``"torch"``): everything whose
  code comes from it, whether it is imported yet or not.

A library that is not installed is skipped: an answer cannot call it either.

A ``lapenna_labs`` function, method or class also blocks its *kernels*: the private functions
that do its computation once it has checked the input. Those are every private function of its
module (``layers.dense_forward`` brings ``layers._dense_forward``), and every private function
its code reaches by name, followed from kernel to kernel into other ``lapenna_labs`` modules
(``layers.activation_forward`` -> ``layers._activation_forward`` -> ``activations._KERNELS``
-> ``activations._relu``; ``mlp.MLP`` -> ``self._forward`` -> ``layers._dense_forward``).
Public functions on the way are not followed: each is a reference of its own. What ``allow``
names keeps its kernels: a kernel in an allowed module is not blocked, and one that an allowed
function calls runs for it (but not for the answer directly). A public function that is
neither blocked nor allowed cannot run when it calls a blocked kernel: with
``layers.activation_forward`` blocked, ``activations.relu`` needs ``allow``. A kernel is
matched by identity only, not by content: it is a line or two (``a * (1 - a)``), which an
answer may well write the same way.

How it blocks
-------------
A student can reach a blocked function under many names: ``from torch.nn.functional import
conv2d as c`` at the top of the cell, a reference kept in a list, a dict or a default argument,
a ``functools.partial``, a fresh copy of the reference's module, a code object saved before the
test. Four mechanisms, active only while the answer runs and undone in ``finally`` blocks, so
the block is lifted even when the answer raised, caught the error itself or was interrupted
(``KeyboardInterrupt``, which is how nbgrader stops a cell):

1. **Code swap.** Every blocked Python function object gets a stub as its ``__code__``. Every
   alias of the object (names, lists, dicts, default arguments, partials) runs the stub.
2. **Module attributes and the student's aliases.** Every attribute of a module in
   :data:`GUARDED_MODULES` that holds a blocked object (not a class) is rebound to a stand-in
   that reports the call. A blocked object that the hook cannot see called and that is not a
   Python function (a C function, a NumPy ufunc, a Cython function such as
   ``pycocotools.mask.iou``: named, or of a blocked library, guarded or not) is rebound
   wherever it lies: in every module, and in the student's code (the names of the notebook's
   and the answer's globals, the answer's closure cells and default arguments, and those of
   the functions they reach). A blocked library's re-export of another library's function
   (NumPy's ``array`` in a SciPy module) is rebound in the blocked library only.
3. **A call hook**: ``sys.setprofile`` in the calling thread and ``threading.setprofile`` for
   the threads it starts. It sees every call of a Python function, with its code object, and
   every call of a C function from Python code, with the function. A Python frame is blocked
   when its code is a blocked function's code, by identity (a code object saved before the
   test and wrapped again with ``types.FunctionType``) or by content (the same bytecode,
   constants and names: a copy of the module loaded with ``importlib`` or by ``exec`` of its
   file, with or without the real file name), or when its file lies inside a blocked module.
   A C function is blocked by identity or by its home module (``__module__``). Calling
   ``sys.setprofile``, ``sys.settrace``, ``threading.setprofile`` or ``threading.settrace``
   during the answer counts as a blocked call, and so does a hook that is gone or replaced when
   the answer returns (unless the hook itself refused a call, which unsets it).
4. **PyTorch's function mode** (``torch.overrides.TorchFunctionMode``), pushed when something
   of torch is blocked and torch is imported: torch reports every call of its functions, also
   those the hook cannot see (through ``map``, ``functools.partial`` or ``torch.ops.aten``).

What a blocked call costs
-------------------------
A blocked call is charged to the student function that made it: the innermost frame of student
code on the call stack (frames of the standard library, of installed packages, of
``lapenna_labs`` and of blocked code are passed over). ``graded_elsewhere`` names the answers
that other parts grade (the earlier functions the answer is meant to reuse): when the call was
made by one of them, that part already scores zero for it, so this part is not charged and the
call runs normally. One ``dense_forward`` that wraps the reference therefore costs the
``dense_forward`` part only, while an ``mlp_forward`` that calls the reference itself costs the
``mlp_forward`` part.

What it cannot catch
--------------------
Tests run in the student's interpreter, so nothing here is airtight against code written to
defeat it. Known gaps: a blocked C function (other than torch's) called from C code on an
alias made before the test and kept where the rebinding does not reach (``map(c, ...)`` on
a list or dict item, ``functools.partial(c)``, an object's attribute), since the hook only sees
calls made by Python code; the same in a thread that existed before the test
(Python 3.11 cannot hook running threads); a NumPy ufunc or Cython function through such an
alias;
a trace function installed before the test (it runs unprofiled and could switch the hook off);
a subprocess; ``ctypes``; an *edited* copy of the reference's source (a verbatim copy is caught
by content), and a copy of a whole blocked module ``exec``-uted under another file name (only
functions blocked by name are matched by content; kernels are not); a kernel in another module
that the reference finds by a name computed at run time (``getattr(module, "_" + name)``), or,
when one method is blocked and not its class, through a subclass's override. The sandbox's
tamper fingerprint catches answers that replace these functions or the toolkit's own
(``autograder/sandbox``).

Examples
--------
>>> def reference(x):
...     return 2 * x
>>> alias = reference
>>> with reference_blocked(reference):
...     try:
...         alias(1.0)
...     except ReferenceBlockedError:
...         print("blocked")
blocked
>>> reference(1.0)
2.0
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "GUARDED_MODULES",
    "OTHER_LIBRARIES",
    "ReferenceBlockedError",
    "call_blocked",
    "reference_blocked",
]

#: The modules whose attributes the toolkit may rebind while an answer runs: these names and
#: their submodules (``"torch"`` covers ``torch.nn.functional``). The grader's tamper
#: fingerprint (``autograder/sandbox``) watches the attributes of the same modules.
GUARDED_MODULES: tuple[str, ...] = (
    "lapenna_labs",
    "numpy",
    "scipy",
    "torch",
    "tensorflow",
    "keras",
    "jax",
)

#: The libraries besides NumPy that a NumPy-only part forbids (``block=(..., *OTHER_LIBRARIES)``).
OTHER_LIBRARIES: tuple[str, ...] = ("scipy", "torch", "tensorflow", "keras", "jax")


class ReferenceBlockedError(AssertionError):
    """Raised when graded code calls something the test has blocked (the part scores zero)."""


# The label of a call that switched the call hook off.
_HOOK_LABEL = "<the grader's call hook>"
# Code the toolkit compiles itself (stubs) has a file name starting with this.
_OWN_FILENAME = "<lapenna_labs.grading"


def _blocked_message(label: str) -> str:
    if label == _HOOK_LABEL:
        return (
            "your answer switched off or replaced the grader's call hook (sys.setprofile, "
            "sys.settrace or threading.setprofile): this part scores zero."
        )
    return (
        f"your answer called {label}, which this part does not allow (see the part's "
        "'Library calls' line); while the tests run it is blocked, and this part scores zero. "
        "Write the computation yourself."
    )


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"


# ---------------------------------------------------------------------------------------------
# Where code comes from


def _library_roots() -> tuple[str, ...]:
    """Path prefixes of code that is not the student's: Python, installed packages, us."""
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # lapenna_labs
    roots |= {os.path.realpath(root) for root in roots}
    return (*sorted(root.rstrip(os.sep) + os.sep for root in roots), "<frozen ", _OWN_FILENAME)


_LIBRARY_ROOTS = _library_roots()
# The toolkit's own code, never blocked by location.
_OWN_CODE = (os.path.dirname(os.path.abspath(__file__)) + os.sep, _OWN_FILENAME)

# id(code) -> (code, content key); a code object's content never changes.
_CONTENT_KEYS: dict[int, tuple[types.CodeType, tuple[Any, ...]]] = {}


def _content_key(code: types.CodeType) -> tuple[Any, ...]:
    """What a copy of ``code`` shares with it: bytecode, constants, names, signature.

    File name, line numbers and the function's own name are left out, so a copy compiled from
    the same text under another file name, shifted by a few lines or renamed, has the same
    key. Nested code objects (inner functions, lambdas) enter through their own keys.
    """
    cached = _CONTENT_KEYS.get(id(code))
    if cached is not None and cached[0] is code:
        return cached[1]
    consts = tuple(
        _content_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, c)
        for c in code.co_consts
    )
    key = (
        code.co_code,
        consts,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
    )
    _CONTENT_KEYS[id(code)] = (code, key)
    return key


@functools.cache
def _module_location(name: str) -> tuple[str, ...] | None:
    """Path prefixes of the source of module ``name``, found without importing it; None if
    ``name`` is not a module (or not installed)."""
    module = sys.modules.get(name)
    if module is not None:
        places = list(getattr(module, "__path__", None) or [])
        file = getattr(module, "__file__", None)
        if not places and file:
            return (os.path.abspath(file),)
        return tuple(os.path.abspath(p).rstrip(os.sep) + os.sep for p in places) or None
    top, *rest = name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    dirs = list(spec.submodule_search_locations or [])
    file = spec.origin if not dirs else None
    for part in rest:
        if not dirs:
            return None
        found_dirs = [os.path.join(d, part) for d in dirs if os.path.isdir(os.path.join(d, part))]
        files = [
            os.path.join(d, entry)
            for d in dirs
            for entry in (os.listdir(d) if os.path.isdir(d) else [])
            if entry.split(".")[0] == part and entry.endswith((".py", ".so", ".pyd"))
        ]
        if found_dirs:
            dirs, file = found_dirs, None
        elif files:
            dirs, file = [], files[0]
        else:
            return None
    if file:
        return (os.path.abspath(file),)
    return tuple(os.path.abspath(d).rstrip(os.sep) + os.sep for d in dirs)


def _import_target(name: str) -> Any:
    """The object a dotted name refers to, importing its module; None if not installed."""
    parts = name.split(".")
    if importlib.util.find_spec(parts[0]) is None:
        return None
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue  # tensorflow.nn is an attribute, not an importable module
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f"reference_blocked: {name!r} names no module, function or object")


# ---------------------------------------------------------------------------------------------
# The private kernels of a lapenna_labs reference

# The package whose references bring their kernels along: lapenna_labs (the toolkit aside).
_PACKAGE = __package__.rpartition(".")[0]


def _in_package(module_name: str) -> bool:
    """Whether module ``module_name`` is lapenna_labs' own code (not this toolkit)."""
    ours = module_name == _PACKAGE or module_name.startswith(_PACKAGE + ".")
    return ours and not (module_name == __package__ or module_name.startswith(__package__ + "."))


def _is_kernel(obj: Any) -> bool:
    """Whether ``obj`` is a private function of lapenna_labs (``_dense_forward``, ``_relu``)."""
    name = getattr(obj, "__name__", "")
    return (
        isinstance(obj, types.FunctionType)
        and name.startswith("_")
        and not name.startswith("__")
        and _in_package(obj.__module__ or "")
    )


def _original_code(fn: types.FunctionType) -> types.CodeType:
    """``fn.__code__``, or the code it had before a block swapped in a stub."""
    entry = _SWAPPED.get(id(fn))
    return entry.saved[0] if entry is not None and entry.fn is fn else fn.__code__


def _unwrapped(obj: Any) -> Any:
    """The innermost function of a ``__wrapped__`` chain (a stand-in wraps its original)."""
    while isinstance(getattr(obj, "__wrapped__", None), types.FunctionType):
        obj = obj.__wrapped__
    return obj


def _owner_classes(fn: types.FunctionType) -> list[type]:
    """The class that defines method ``fn`` and its bases in lapenna_labs ([] for a function)."""
    owner: Any = sys.modules.get(fn.__module__ or "")
    for part in fn.__qualname__.split(".")[:-1]:
        owner = getattr(owner, part, None)  # None past a "<locals>"
    if not isinstance(owner, type):
        return []
    return [base for base in owner.__mro__ if _in_package(base.__module__)]


def _named_by(fn: types.FunctionType) -> list[Any]:
    """The objects that ``fn``'s code can reach by name: its globals and closure cells, the
    attributes of lapenna_labs modules among them, the attributes of its class if it is a
    method (``self._forward``), and what dicts, tuples and lists among them hold
    (``_KERNELS["relu"][0]``)."""
    names: set[str] = set()
    codes = [_original_code(fn)]
    while codes:  # the function's code and the code of its inner functions and lambdas
        code = codes.pop()
        names.update(code.co_names)
        codes += [const for const in code.co_consts if isinstance(const, types.CodeType)]
    found = [fn.__globals__[name] for name in names if name in fn.__globals__]
    for cell in fn.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            found.append(cell.cell_contents)
    namespaces = [
        vars(m) for m in found if isinstance(m, types.ModuleType) and _in_package(m.__name__)
    ]
    namespaces += [vars(klass) for klass in _owner_classes(fn)]
    found += [namespace[name] for namespace in namespaces for name in names if name in namespace]
    reached, seen = [], set()
    while found:
        obj = found.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            found += obj.values()
        elif isinstance(obj, (tuple, list)):
            found += obj
        elif isinstance(obj, (staticmethod, classmethod)):
            found.append(obj.__func__)
        elif isinstance(obj, property):
            found += [accessor for accessor in (obj.fget, obj.fset, obj.fdel) if accessor]
        else:
            reached.append(_unwrapped(obj))
    return reached


# id(reference) -> (reference, its kernels); a module's functions do not change.
_KERNELS_OF: dict[int, tuple[types.FunctionType, tuple[types.FunctionType, ...]]] = {}


def _kernels_of(reference: types.FunctionType) -> tuple[types.FunctionType, ...]:
    """The private functions of lapenna_labs that a lapenna_labs reference computes with.

    Those are every private function defined in the reference's module, and every private
    function its code reaches by name, in any lapenna_labs module, followed from kernel to
    kernel (``dense_forward`` -> ``_dense_forward``; ``activation_forward`` ->
    ``_activation_forward`` -> ``_KERNELS`` -> ``activations._relu``...). Public functions
    and classes on the way are not followed: they are references of their own, which a part
    names when it forbids them.
    """
    cached = _KERNELS_OF.get(id(reference))
    if cached is not None and cached[0] is reference:
        return cached[1]
    module = sys.modules.get(reference.__module__ or "")
    kernels = {
        id(obj): obj
        for obj in (vars(module).values() if module is not None else ())
        if _is_kernel(obj) and obj.__module__ == reference.__module__
    }
    todo, followed = [reference], {id(reference)}
    while todo:
        for obj in _named_by(todo.pop()):
            if _is_kernel(obj) and id(obj) not in followed:
                followed.add(id(obj))
                kernels[id(obj)] = obj
                todo.append(obj)
    kernels.pop(id(reference), None)
    _KERNELS_OF[id(reference)] = (reference, tuple(kernels.values()))
    return _KERNELS_OF[id(reference)][1]


# ---------------------------------------------------------------------------------------------
# What one block forbids


class _Rules:
    """What a block forbids, in tables that the call hook queries in constant time."""

    def __init__(self) -> None:
        # id(object) -> (object, label): named objects, every function of a __wrapped__ chain,
        # C functions; for the stubs, the stand-ins, the hook's C calls and torch's mode.
        self.objects: dict[int, tuple[Any, str]] = {}
        # id(code) -> (code, label) and content key -> label: the code of blocked functions.
        self.codes: dict[int, tuple[types.CodeType, str]] = {}
        self.contents: dict[tuple[Any, ...], str] = {}
        # blocked modules: (name, source path prefixes)
        self.modules: list[tuple[str, tuple[str, ...]]] = []
        self.functions: list[types.FunctionType] = []  # whose code is swapped
        self.rebound: list[Any] = []  # whose module attributes are rebound
        # lapenna_labs functions among them, whose private kernels are blocked too
        self.references: list[types.FunctionType] = []
        self.uses_torch = False
        # id(object) -> (object, label) of what ``allow`` lets through (C functions, say)
        self.allowed: dict[int, tuple[Any, str]] = {}

    # -- building -------------------------------------------------------------------------
    def add(self, target: Any, label: str | None = None) -> None:
        """Add one target (an object or a dotted name); raise TypeError if it cannot be."""
        if isinstance(target, str):
            location = _module_location(target)
            if location is not None:
                self.modules.append((target, location))
                self.uses_torch |= target.split(".")[0] == "torch"
                return
            resolved = _import_target(target)
            if resolved is not None:
                self.add(resolved, target)
            return
        if isinstance(target, types.ModuleType):
            self.add(target.__name__)
            return
        label = label or _qualified_name(target)
        if isinstance(target, functools.partial):
            self.add(target.func, label)
        elif isinstance(target, (staticmethod, classmethod, types.MethodType)):
            self.add(target.__func__, label)
        elif isinstance(target, property):
            for accessor in (target.fget, target.fset, target.fdel):
                if accessor is not None:
                    self.add(accessor, label)
        elif isinstance(target, type):
            self._add_class(target, label)
        elif isinstance(target, types.FunctionType):
            self._add_function(target, label)
            self.rebound.append(target)
            if _in_package(target.__module__ or ""):
                self.references.append(target)
        elif callable(target):
            self.objects[id(target)] = (target, label)
            self.rebound.append(target)
            implementation = getattr(target, "_implementation", None)  # NumPy's dispatchers
            if isinstance(implementation, types.FunctionType):
                self._add_function(implementation, label)
            self._add_torch_op(target, label)
        else:
            raise TypeError(
                "reference_blocked: can only block functions, methods, classes, other "
                f"callables and dotted names of them or of modules, got "
                f"{type(target).__name__} {target!r}"
            )

    def _add_function(self, fn: types.FunctionType, label: str, by_content: bool = True) -> None:
        """Swap the code of every function of the ``__wrapped__`` chain; match the innermost.

        A decorator's wrapper shares its code with every function it decorates (TensorFlow's
        dispatch wrapper wraps every op), so only the innermost, undecorated code is matched
        by identity and (unless ``by_content`` is false) by content; the wrappers are caught
        as objects.
        """
        chain = [fn]
        while isinstance(getattr(chain[-1], "__wrapped__", None), types.FunctionType):
            chain.append(chain[-1].__wrapped__)
        for link in chain:
            if id(link) not in self.objects:
                self.objects[id(link)] = (link, label)
                self.functions.append(link)
        code = chain[-1].__code__
        self.codes[id(code)] = (code, label)
        # generated code (dataclasses) is not unique
        if by_content and not code.co_filename.startswith("<"):
            self.contents[_content_key(code)] = label
        self.uses_torch |= (fn.__module__ or "").split(".")[0] == "torch"

    def _add_class(self, klass: type, label: str) -> None:
        package = (klass.__module__ or "").split(".")[0]
        for base in klass.__mro__:
            if (base.__module__ or "").split(".")[0] != package:
                continue  # e.g. object, tuple, torch.nn.Module under a student's subclass
            for attr in vars(base).values():
                if isinstance(attr, (types.FunctionType, staticmethod, classmethod, property)):
                    self.add(attr, label)

    def _add_torch_op(self, fn: Any, label: str) -> None:
        """A torch C function is also reachable as ``torch.ops.aten.<name>``: block that too."""
        if (getattr(fn, "__module__", None) or "").split(".")[0] != "torch":
            return
        self.uses_torch = True
        torch = sys.modules.get("torch")
        name = getattr(fn, "__name__", "")
        try:
            packet = getattr(torch.ops.aten, name) if torch is not None and name else None
        except (AttributeError, RuntimeError):
            packet = None
        if packet is not None:
            self.objects[id(packet)] = (packet, label)

    def add_kernels(self, exempt: _Rules) -> None:
        """Block the private kernels of the lapenna_labs references, but those ``exempt``
        allows (see :func:`_kernels_of`).

        The public function only checks its input and calls the kernel, so a block of the
        function alone would let an answer call the kernel. A kernel is matched by identity
        only, not by content: it is a line or two (``a * (1 - a)``), which an answer may well
        write the same way.
        """
        for reference in self.references:
            computes_with = f"which {self.objects[id(reference)][1]} computes with"
            for kernel in _kernels_of(reference):
                if not exempt.covers(kernel):
                    label = f"{_qualified_name(kernel)} ({computes_with})"
                    self._add_function(kernel, label, by_content=False)

    def covers(self, fn: types.FunctionType) -> bool:
        """Whether these rules name ``fn`` or a module that holds it."""
        named = self.objects.get(id(fn))
        filename = _original_code(fn).co_filename
        return (named is not None and named[0] is fn) or any(
            filename.startswith(places) for _, places in self.modules
        )

    def guard_the_hook(self) -> None:
        """Switching the call hook off during the answer is a blocked call."""
        for fn in (sys.setprofile, sys.settrace):
            self.objects[id(fn)] = (fn, _HOOK_LABEL)
        for fn in (threading.setprofile, threading.settrace):
            self.codes[id(fn.__code__)] = (fn.__code__, _HOOK_LABEL)

    # -- matching (None: not blocked) -------------------------------------------------------
    def code_label(self, code: types.CodeType) -> str | None:
        """Why a Python frame running ``code`` is blocked."""
        hit = self.codes.get(id(code))
        if hit is not None and hit[0] is code:
            return hit[1]
        if self.contents:
            label = self.contents.get(_content_key(code))
            if label is not None:
                return label
        if code.co_filename.startswith(_OWN_CODE):
            return None  # the toolkit's stand-ins and torch mode, blocking "lapenna_labs"
        for name, places in self.modules:
            if code.co_filename.startswith(places):
                where = getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+
                return f"{name} ({where} in {os.path.basename(code.co_filename)})"
        return None

    def object_label(self, obj: Any) -> str | None:
        """Why calling ``obj`` (a C function, a torch function, a blocked object) is blocked."""
        allowed = self.allowed.get(id(obj))
        if allowed is not None and allowed[0] is obj:
            return None
        hit = self.objects.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if self.modules:
            home = getattr(obj, "__module__", None)
            library = self.library_of(home) if isinstance(home, str) else None
            if library is not None:
                return f"{library} ({home}.{getattr(obj, '__name__', '?')})"
        return None

    def library_of(self, home: str) -> str | None:
        """The blocked module that module ``home`` belongs to, if any."""
        for name, _ in self.modules:
            if home == name or home.startswith(name + "."):
                return name
        return None

    def torch_label(self, func: Any) -> str | None:
        """Why torch's function mode must refuse ``func`` (an OpOverload by its packet)."""
        allowed = self.allowed.get(id(func))
        if allowed is not None and allowed[0] is func:
            return None
        label = self.object_label(func) or self.object_label(getattr(func, "overloadpacket", None))
        if label is None and any(name == "torch" for name, _ in self.modules):
            label = f"torch ({getattr(func, '__name__', func)})"
        return label


class _View(_Rules):
    """The union of the active blocks' rules, with the hook's verdict per code object."""

    def __init__(self, parts: Sequence[_Rules]) -> None:
        super().__init__()
        for part in parts:
            self.allowed.update(part.allowed)
            self.objects.update(part.objects)
            self.codes.update(part.codes)
            self.contents.update(part.contents)
            self.modules.extend(part.modules)
        self.has_modules = bool(self.modules)
        # the hook's caches: id(code) -> (code, label or None), home module -> blocked library
        self.verdicts: dict[int, tuple[types.CodeType, str | None]] = {}
        self.libraries: dict[str, str | None] = {}

    def verdict(self, code: types.CodeType) -> str | None:
        hit = self.verdicts.get(id(code))
        if hit is None or hit[0] is not code:
            hit = self.verdicts[id(code)] = (code, self.code_label(code))
        return hit[1]

    def library_of(self, home: str) -> str | None:
        if home not in self.libraries:
            self.libraries[home] = super().library_of(home)
        return self.libraries[home]


class _Block:
    """One active ``reference_blocked``: its rules, exemptions and recorded attempts."""

    def __init__(self, rules: _Rules, exempt: _Rules) -> None:
        self.rules = rules
        # Calls made by these are not charged here: answers graded elsewhere, allowed code.
        self.exempt_codes = {id(fn.__code__): fn.__code__ for fn in exempt.functions}
        self.exempt_places = tuple(p for _, places in exempt.modules for p in places)
        self.attempts: list[str] = []
        self.rebound: list[tuple[types.ModuleType, str, Any]] = []
        self.torch_mode: Any = None
        self.torch_depth = 0


_ACTIVE: list[_Block] = []
_VIEW: _View | None = None
# The profile hooks in place before the outermost block: (sys's, threading's).
_SAVED_HOOKS: list[Any] = []


def _refresh_view() -> None:
    global _VIEW
    _VIEW = _View([block.rules for block in _ACTIVE]) if _ACTIVE else None


# ---------------------------------------------------------------------------------------------
# Charging a blocked call


def _charged_here(frame: types.FrameType | None, block: _Block) -> bool:
    """Whether the call seen at ``frame`` costs this part (see the module docstring).

    Walks outwards to the innermost frame of student code: library frames and blocked code
    are passed over; a frame of an answer graded elsewhere, or of allowed code, means the call
    is not this part's.
    """
    view = _VIEW
    exempt_codes, exempt_places = block.exempt_codes, block.exempt_places
    while frame is not None:
        code = frame.f_code
        if exempt_codes.get(id(code)) is code or (
            exempt_places and code.co_filename.startswith(exempt_places)
        ):
            return False
        library = code.co_filename.startswith(_LIBRARY_ROOTS)
        if not library and (view is None or view.verdict(code) is None):
            return True
        frame = frame.f_back
    return True


def _refuse(frame: types.FrameType | None, match: Callable[[_Rules], str | None]) -> None:
    """Record the call in every block that forbids it and charges it here, then raise."""
    refused = None
    for block in list(_ACTIVE):
        label = match(block.rules)
        if label is None:
            continue
        if label == _HOOK_LABEL or _charged_here(frame, block):
            block.attempts.append(label)
            refused = refused or label
    if refused is not None:
        raise ReferenceBlockedError(_blocked_message(refused))


def _profile_hook(frame: types.FrameType, event: str, arg: Any) -> None:
    """The call hook (``sys.setprofile``): refuse calls of blocked code and C functions."""
    view = _VIEW
    if view is None:  # a thread that outlived its block
        sys.setprofile(None)
        return
    # The fast paths, inlined: the hook runs at every call and return of the answer.
    if event == "call":
        code = frame.f_code
        hit = view.verdicts.get(id(code))
        if hit is None or hit[0] is not code:
            view.verdict(code)
            hit = view.verdicts[id(code)]
        if hit[1] is not None:
            _refuse_in_hook(frame, lambda rules: rules.code_label(code))
    elif event == "c_call":
        hit = view.objects.get(id(arg))
        if hit is not None and hit[0] is arg:
            _refuse_in_hook(frame, lambda rules: rules.object_label(arg))
        elif view.has_modules:
            home = getattr(arg, "__module__", None)
            if home is not None and view.library_of(home) is not None:
                _refuse_in_hook(frame, lambda rules: rules.object_label(arg))


# Threads whose hook was unset by CPython because the hook itself raised (a refusal).
_UNSET_BY_REFUSAL: set[int] = set()


def _refuse_in_hook(frame: types.FrameType, match: Callable[[_Rules], str | None]) -> None:
    """:func:`_refuse` from inside the hook, which CPython unsets when it raises: note that."""
    try:
        _refuse(frame, match)
    except ReferenceBlockedError:
        _UNSET_BY_REFUSAL.add(threading.get_ident())
        raise


# -- 1. code swap -------------------------------------------------------------------------------


class _Swapped:
    """A function whose code is swapped: what to put back, and a twin that runs the original."""

    def __init__(self, fn: types.FunctionType) -> None:
        self.fn = fn
        self.saved = (fn.__code__, fn.__defaults__, fn.__kwdefaults__)
        self.twin = types.FunctionType(
            fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
        )
        self.twin.__kwdefaults__ = fn.__kwdefaults__
        self.twin.__qualname__ = fn.__qualname__
        self.depth = 0


# id(function) -> its _Swapped entry, while any block swaps it
_SWAPPED: dict[int, _Swapped] = {}


# id(function) -> (function, its stub): compiling a stub takes some 40 us, and a block of a
# class or of a reference with many kernels swaps dozens of functions at every call.
_STUBS: dict[int, tuple[types.FunctionType, types.CodeType]] = {}


def _stub_code(fn: types.FunctionType) -> types.CodeType:
    """A code object that, run as ``fn``, hands the call to :func:`_swapped_call`.

    The stub runs with ``fn.__globals__`` (the reference's module), where this module's names
    are unknown, so it reaches this module through ``sys.modules``. Its free variables must
    match ``fn.__closure__`` for the swap to be allowed, so it names them, unreachably, after
    its ``return``, inside an outer function that defines them.
    """
    freevars = fn.__code__.co_freevars
    cached = _STUBS.get(id(fn))
    if cached is not None and cached[0] is fn and cached[1].co_freevars == freevars:
        return cached[1]
    body = (
        "def _lapenna_blocked(*args, **kwargs):\n"
        "    import sys as _lapenna_sys\n"
        f"    return _lapenna_sys.modules[{__name__!r}]._swapped_call({id(fn)}, args, kwargs)\n"
        + "".join(f"    {name}\n" for name in freevars)
    )
    outer = "def _outer():\n" + "".join(f"    {name} = None\n" for name in freevars)
    outer += "".join("    " + line + "\n" for line in body.splitlines())
    outer += "    return _lapenna_blocked\n"
    namespace: dict[str, Any] = {}
    filename = f"{_OWN_FILENAME} stub for {_qualified_name(fn)}>"
    exec(compile(outer, filename, "exec"), namespace)
    code = namespace["_outer"]().__code__
    code = code.replace(co_freevars=freevars) if code.co_freevars != freevars else code
    _STUBS[id(fn)] = (fn, code)
    return code


def _swapped_call(key: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Called by a stub: refuse, or (charged to another part) run the original code."""
    entry = _SWAPPED[key]
    _refuse(sys._getframe(2), lambda rules: rules.object_label(entry.fn))
    return entry.twin(*args, **kwargs)


def _swap_in(fn: types.FunctionType) -> None:
    entry = _SWAPPED.get(id(fn))
    if entry is None:
        entry = _SWAPPED[id(fn)] = _Swapped(fn)
        fn.__code__ = _stub_code(fn)
        fn.__defaults__ = None
        fn.__kwdefaults__ = None
    entry.depth += 1


def _swap_out(fn: types.FunctionType) -> None:
    entry = _SWAPPED[id(fn)]
    entry.depth -= 1
    if entry.depth == 0:
        fn.__code__, fn.__defaults__, fn.__kwdefaults__ = entry.saved
        del _SWAPPED[id(fn)]


# -- 2. module attributes, and the student's aliases ------------------------------------------


def _guarded(module_name: str) -> bool:
    if module_name.startswith(__package__):  # never the toolkit's own state
        return False
    return any(module_name == g or module_name.startswith(g + ".") for g in GUARDED_MODULES)


def _is_student_module(name: str, module: types.ModuleType) -> bool:
    """Whether ``module`` is student code: the notebook's ``__main__``, or a file outside
    Python, the installed packages and lapenna_labs."""
    if name == "__main__":
        return True
    file = module.__dict__.get("__file__")
    return isinstance(file, str) and not os.path.abspath(file).startswith(_LIBRARY_ROOTS)


# (frozenset of object ids, number of modules then) -> [(module, attribute, object, guarded)]
_LOCATIONS: dict[tuple[frozenset[int], int], list[tuple[types.ModuleType, str, Any, bool]]] = {}
# (number of modules then, the student's modules then)
_STUDENT_MODULES: list[Any] = [-1, []]


def _student_modules() -> list[types.ModuleType]:
    """The imported modules of student code (see :func:`_is_student_module`)."""
    if _STUDENT_MODULES[0] != len(sys.modules):
        _STUDENT_MODULES[:] = [
            len(sys.modules),
            [
                module
                for name, module in list(sys.modules.items())
                if isinstance(module, types.ModuleType) and _is_student_module(name, module)
            ],
        ]
    return _STUDENT_MODULES[1]


def _attribute_locations(
    wanted: dict[int, Any],
) -> list[tuple[types.ModuleType, str, Any, bool]]:
    """Every ``(module, name, object, guarded)`` of an imported library module (not student
    code, not the toolkit) whose attribute holds one of the ``wanted`` objects (id -> object).

    Scanning all of TensorFlow's modules takes some 30 ms, so the answer is kept until more
    modules are imported; entries are checked against the module before use.
    """
    key = (frozenset(wanted), len(sys.modules))
    cached = _LOCATIONS.get(key)
    if cached is not None:
        return cached
    students = {id(module) for module in _student_modules()}
    found = []
    for module_name, module in list(sys.modules.items()):
        if (
            not isinstance(module, types.ModuleType)
            or id(module) in students
            or module_name.startswith(__package__)
        ):
            continue
        guarded = _guarded(module_name)
        for attr, value in list(module.__dict__.items()):
            if wanted.get(id(value), _ABSENT) is value:
                found.append((module, attr, value, guarded))
    if len(_LOCATIONS) > 64:  # blocks of many different targets: keep the latest only
        _LOCATIONS.clear()
    _LOCATIONS[key] = found
    return found


# Not a value any namespace holds: what a lookup of an object's id in a table misses with.
_ABSENT = object()


def _stand_in(original: Any, label: str, rules: _Rules) -> Callable[..., Any]:
    """What a module attribute holds while ``original`` is blocked (known to ``rules``)."""

    def blocked(*args: Any, **kwargs: Any) -> Any:
        _refuse(sys._getframe(1), lambda rules: rules.object_label(blocked))
        return original(*args, **kwargs)

    for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:  # a try costs less than contextlib.suppress: a block of torch makes thousands
            setattr(blocked, attr, getattr(original, attr))
        except (AttributeError, TypeError):
            pass
    blocked.__wrapped__ = original  # so that _kernels_of, walking a module, finds the original
    rules.objects[id(blocked)] = (blocked, label)
    return blocked


# Callables that neither the hook nor the code swap can see called: C functions, NumPy's ufuncs
# and dispatchers, Cython functions. In a blocked library they are rebound by name.
_OPAQUE_TYPES = frozenset(
    {
        "builtin_function_or_method",
        "ufunc",
        "_ArrayFunctionDispatcher",
        "MultiUFunc",
        "cython_function_or_method",
        "fused_cython_function",
    }
)
# (library, number of modules then) -> [(module, attribute, object)]
_OPAQUE: dict[tuple[str, int], list[tuple[types.ModuleType, str, Any]]] = {}


def _opaque_attributes(library: str) -> list[tuple[types.ModuleType, str, Any]]:
    """The opaque callables in the imported modules of a blocked library, guarded or not."""
    key = (library, len(sys.modules))
    if key not in _OPAQUE:
        _OPAQUE[key] = [
            (module, attr, value)
            for module_name, module in list(sys.modules.items())
            if module is not None
            and (module_name == library or module_name.startswith(library + "."))
            and not module_name.startswith(__package__)
            for attr, value in list(getattr(module, "__dict__", {}).items())
            if type(value).__name__ in _OPAQUE_TYPES
        ]
    return _OPAQUE[key]


def _student_functions(answer: Any) -> tuple[list[dict[str, Any]], list[types.FunctionType]]:
    """The student's namespaces and functions: the answer, what the student's modules hold
    (functions, and those of their classes), and what their globals, closures and defaults
    reach, library code excluded."""
    namespaces = {id(vars(m)): vars(m) for m in _student_modules()}
    todo: list[Any] = [answer]
    for namespace in list(namespaces.values()):
        for value in list(namespace.values()):
            if isinstance(value, types.FunctionType):
                todo.append(value)
            elif issubclass(type(value), type) and value.__module__ == namespace.get("__name__"):
                todo += list(vars(value).values())
    functions: dict[int, types.FunctionType] = {}
    while todo:
        obj = todo.pop()
        if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            obj = obj.__func__
        elif isinstance(obj, functools.partial):
            obj = obj.func
        if not isinstance(obj, types.FunctionType) or id(obj) in functions:
            continue
        code = _original_code(obj)
        if code.co_filename.startswith(_LIBRARY_ROOTS):
            continue
        functions[id(obj)] = obj
        if id(obj.__globals__) not in namespaces:
            namespaces[id(obj.__globals__)] = obj.__globals__
            todo += [v for v in list(obj.__globals__.values()) if isinstance(v, types.FunctionType)]
        for cell in obj.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                todo.append(cell.cell_contents)
        todo += [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
        if isinstance(getattr(obj, "__wrapped__", None), types.FunctionType):
            todo.append(obj.__wrapped__)
    return list(namespaces.values()), list(functions.values())


def _rebind(block: _Block, answer: Any = None) -> None:
    """Rebind what holds an object the block forbids and the hook cannot see called.

    Guarded modules' attributes that hold a blocked object (Python functions too), and, for
    an object that is not a Python function (a C, NumPy or Cython function, named or of a
    blocked library), every module's attributes and the student's aliases: the names of
    their modules and globals, their default arguments and closure cells.
    """
    rules = block.rules
    wanted: dict[int, tuple[Any, str]] = {}
    # (holder, key, object): holder is a module or a cell (setattr), or a dict (item)
    places: list[tuple[Any, str, Any]] = []
    opaque: dict[int, Any] = {}  # what is rebound wherever it lies
    for value in rules.rebound:
        if not isinstance(value, type):
            wanted[id(value)] = (value, rules.objects[id(value)][1])
            if not isinstance(value, types.FunctionType):
                opaque[id(value)] = value
    for library, _ in rules.modules:
        for module, attr, value in _opaque_attributes(library):
            if id(value) in rules.allowed:
                continue
            if id(value) not in wanted:
                wanted[id(value)] = (value, f"{library} ({module.__name__}.{attr})")
                if _belongs_to(value, library):
                    opaque[id(value)] = value
            if id(value) not in opaque:  # what is in opaque is found below, wherever it lies
                places.append((module, attr, value))
    if not wanted:
        return
    named = {id(value) for value in rules.rebound}
    chased = {key: value for key, (value, _) in wanted.items() if key in opaque or key in named}
    places += [
        (module, attr, value)
        for module, attr, value, guarded in _attribute_locations(chased)
        if guarded or id(value) in opaque  # a Python function: in guarded modules only
    ]
    defaults: list[types.FunctionType] = []
    if opaque:
        namespaces, functions = _student_functions(answer)
        for namespace in namespaces:
            places += [
                (namespace, k, v)
                for k, v in list(namespace.items())
                if opaque.get(id(v), _ABSENT) is v
            ]
        for fn in functions:
            places += [
                (fn.__kwdefaults__, k, v)
                for k, v in (fn.__kwdefaults__ or {}).items()
                if opaque.get(id(v), _ABSENT) is v
            ]
            for cell in fn.__closure__ or ():
                with contextlib.suppress(ValueError):  # an empty cell
                    if opaque.get(id(cell.cell_contents), _ABSENT) is cell.cell_contents:
                        places.append((cell, "cell_contents", cell.cell_contents))
            if any(opaque.get(id(v), _ABSENT) is v for v in fn.__defaults__ or ()):
                defaults.append(fn)
    stand_ins: dict[int, Callable[..., Any]] = {}

    def stand_in_for(value: Any) -> Callable[..., Any]:
        if id(value) not in stand_ins:
            stand_ins[id(value)] = _stand_in(value, wanted[id(value)][1], rules)
        return stand_ins[id(value)]

    done: set[tuple[int, str]] = set()
    for holder, attr, value in places:
        if (id(holder), attr) in done or _held(holder, attr) is not value:
            continue  # found twice, or an enclosing block rebound it already
        done.add((id(holder), attr))
        with contextlib.suppress(Exception):  # a module that refuses new attributes
            _put(holder, attr, stand_in_for(value))
            block.rebound.append((holder, attr, value))
    for fn in defaults:
        saved = fn.__defaults__ or ()
        fn.__defaults__ = tuple(
            stand_in_for(v) if opaque.get(id(v), _ABSENT) is v else v for v in saved
        )
        block.rebound.append((fn, "__defaults__", saved))


def _belongs_to(value: Any, library: str) -> bool:
    """Whether an opaque callable found in ``library`` is its own, not a re-export (NumPy's
    ``array`` in a SciPy module): its ``__module__`` lies in the library's package, or the
    module it names does not hold it (SciPy's ufuncs say ``numpy``)."""
    home = getattr(value, "__module__", None)
    if not isinstance(home, str):
        return True
    if home.split(".")[0] == library.split(".")[0]:
        return True  # pycocotools.mask's iou, from pycocotools._mask
    name = getattr(value, "__name__", None)
    holders = (sys.modules.get(home), sys.modules.get(home.split(".")[0]))
    return not any(
        holder is not None and vars(holder).get(name) is value for holder in holders if name
    )


def _held(holder: Any, key: str) -> Any:
    if isinstance(holder, dict):
        return holder.get(key)
    if isinstance(holder, types.ModuleType):
        return vars(holder).get(key)
    return getattr(holder, key, None)


def _put(holder: Any, key: str, value: Any) -> None:
    if isinstance(holder, dict):
        holder[key] = value
    else:
        setattr(holder, key, value)


def _unbind(block: _Block) -> None:
    while block.rebound:
        holder, key, value = block.rebound.pop()
        _put(holder, key, value)


# -- 3. the call hook --------------------------------------------------------------------------


def _install_hook() -> None:
    _SAVED_HOOKS[:] = [sys.getprofile(), threading.getprofile()]
    threading.setprofile(_profile_hook)
    sys.setprofile(_profile_hook)


def _hook_intact() -> bool:
    """Whether the hook is still in place in this thread (put back if a refusal unset it)."""
    ident = threading.get_ident()
    if ident in _UNSET_BY_REFUSAL:
        _UNSET_BY_REFUSAL.discard(ident)
        if sys.getprofile() is None:
            sys.setprofile(_profile_hook)  # for the blocks still active
    return sys.getprofile() is _profile_hook and threading.getprofile() is _profile_hook


def _remove_hook() -> None:
    previous_sys, previous_threading = _SAVED_HOOKS or [None, None]
    sys.setprofile(previous_sys)
    threading.setprofile(previous_threading)


# -- 4. torch's function mode --------------------------------------------------------------------

# The TorchFunctionMode subclass, made on first use (torch may not be installed). It is kept in a
# dict: the grader's tamper fingerprint watches this module's classes, so none may appear later.
_TORCH_GUARD: dict[str, type] = {}


def _torch_guard() -> Any:
    """A ``TorchFunctionMode`` that refuses blocked torch functions (torch is imported)."""
    if "class" not in _TORCH_GUARD:
        from torch.overrides import TorchFunctionMode

        class TorchGuard(TorchFunctionMode):
            def __torch_function__(
                self, func: Any, types: Any, args: Any = (), kwargs: Any = None
            ) -> Any:
                view = _VIEW
                if view is not None and view.torch_label(func) is not None:
                    _refuse(sys._getframe(1), lambda rules: rules.torch_label(func))
                return func(*args, **(kwargs or {}))

        _TORCH_GUARD["class"] = TorchGuard
    return _TORCH_GUARD["class"]()


def _push_torch_guard(block: _Block) -> None:
    torch = sys.modules.get("torch")
    if not block.rules.uses_torch or torch is None or not hasattr(torch, "overrides"):
        return
    block.torch_depth = torch._C._len_torch_function_stack()
    block.torch_mode = _torch_guard()
    block.torch_mode.__enter__()


def _pop_torch_guard(block: _Block) -> None:
    """Pop the mode; taking it off torch's stack during the answer is a blocked call."""
    if block.torch_mode is None:
        return
    torch_c = sys.modules["torch"]._C
    intact = (
        torch_c._len_torch_function_stack() == block.torch_depth + 1
        and torch_c._get_function_stack_at(block.torch_depth) is block.torch_mode
    )
    if intact:
        block.torch_mode.__exit__(None, None, None)
    else:
        while torch_c._len_torch_function_stack() > block.torch_depth:
            torch_c._pop_torch_function_stack()
        if not block.attempts:
            block.attempts.append(_HOOK_LABEL)
    block.torch_mode = None


# ---------------------------------------------------------------------------------------------
# The public API


def _as_tuple(things: Any) -> tuple[Any, ...]:
    return tuple(things) if isinstance(things, (list, tuple, set, frozenset)) else (things,)


def _run_all(steps: Sequence[Callable[[], Any]]) -> None:
    """Run every step even if one raises (a KeyboardInterrupt, say); then re-raise the first."""
    first: BaseException | None = None
    for step in steps:
        try:
            step()
        except BaseException as exc:  # re-raised below, after the other steps
            first = first or exc
    if first is not None:
        raise first


@contextlib.contextmanager
def reference_blocked(
    *targets: Any, graded_elsewhere: Any = (), allow: Any = ()
) -> Iterator[list[str]]:
    """Block functions, libraries or modules, under every alias, for a ``with`` block.

    Parameters
    ----------
    *targets : callable, class, module or str
        What the answer must not call: objects, or dotted names of objects or modules
        (``"torch.nn.functional.conv2d"``, ``"scipy.signal"``); a ``lapenna_labs`` function,
        method or class brings its private kernels along. See the module docstring.
    graded_elsewhere : callable or sequence of callables, default ()
        Answers that other parts grade: a blocked call that one of them makes is charged to
        its part, and runs normally here.
    allow : target or sequence of targets, default ()
        Functions or modules the answer may call although a target covers them
        (``allow="lapenna_labs.activations"`` with ``"lapenna_labs"`` blocked): they run
        normally, and so does whatever they call, blocked kernels included.

    Yields
    ------
    list of str
        A live list of the names of blocked things that were called (and charged here) inside
        the block, whether or not the caller caught the :class:`ReferenceBlockedError`.

    Raises
    ------
    TypeError
        If a target cannot be blocked (it is not callable).
    ValueError
        If a dotted name names nothing.

    Notes
    -----
    Four mechanisms (code swap, module attributes, a call hook, torch's function mode), all
    undone on exit even when the body raises or is interrupted. Blocks nest: the inner one
    adds to what the outer one forbids.

    Examples
    --------
    >>> def ref(x):
    ...     return x + 1
    >>> with reference_blocked(ref) as attempts:
    ...     try:
    ...         ref(0)
    ...     except ReferenceBlockedError:
    ...         pass
    >>> attempts[0].endswith("ref"), ref(0)
    (True, 1)
    """
    with _blocking(targets, graded_elsewhere, allow, answer=None) as attempts:
        yield attempts


@contextlib.contextmanager
def _blocking(
    targets: Sequence[Any], graded_elsewhere: Any, allow: Any, answer: Any
) -> Iterator[list[str]]:
    """:func:`reference_blocked`; ``answer`` (or None) is the student function about to run,
    whose closures and defaults are searched for aliases with the student's modules."""
    rules = _Rules()
    for target in targets:
        rules.add(target)
    rules.guard_the_hook()
    exempt = _Rules()
    for answer in (*_as_tuple(graded_elsewhere), *_as_tuple(allow)):
        exempt.add(answer)
    rules.add_kernels(exempt)
    rules.allowed = exempt.objects
    block = _Block(rules, exempt)
    undo: list[Callable[[], Any]] = []  # what was done, to undo in reverse order
    hooked = False
    try:
        for fn in rules.functions:
            _swap_in(fn)
            undo.append(functools.partial(_swap_out, fn))
        # torch's mode goes on before the attributes are rebound: pushing it calls torch._C
        _push_torch_guard(block)
        undo.append(functools.partial(_pop_torch_guard, block))
        _rebind(block, answer)
        undo.append(functools.partial(_unbind, block))
        _ACTIVE.append(block)
        _refresh_view()
        if len(_ACTIVE) == 1:
            _install_hook()
            undo.append(_remove_hook)
        hooked = True
        yield block.attempts
    finally:
        steps = list(reversed(undo))
        if hooked:
            steps.insert(0, functools.partial(_check_the_hook, block))
        if block in _ACTIVE:
            # first: with the block gone from the view, the undoing is not refused
            steps.insert(1 if hooked else 0, functools.partial(_deactivate, block))
        _run_all(steps)


def _check_the_hook(block: _Block) -> None:
    if not _hook_intact() and not block.attempts:
        block.attempts.append(_HOOK_LABEL)


def _deactivate(block: _Block) -> None:
    _ACTIVE.remove(block)
    _refresh_view()


def call_blocked(
    student_fn: Callable[..., Any],
    *args: Any,
    block: Sequence[Any] | Any = (),
    graded_elsewhere: Sequence[Any] | Any = (),
    allow: Sequence[Any] | Any = (),
    **kwargs: Any,
) -> Any:
    """Call ``student_fn(*args, **kwargs)`` with what the part forbids blocked.

    Parameters
    ----------
    student_fn : callable
        The student's answer.
    *args, **kwargs
        Passed to ``student_fn``.
    block : target or sequence of targets
        What the answer must not call: ``lapenna_labs`` references, other libraries'
        functions, modules or dotted names (see :func:`reference_blocked`).
    graded_elsewhere : callable or sequence of callables
        The student's answers that other parts grade and that this one may reuse: a blocked
        call made by one of them costs that part, not this one.
    allow : target or sequence of targets
        What the answer may call although ``block`` covers it (see :func:`reference_blocked`).

    Returns
    -------
    object
        Whatever ``student_fn`` returns.

    Raises
    ------
    ReferenceBlockedError
        If the answer called a blocked thing (charged to this part), even if it caught the
        error itself, or switched the call hook off.

    Examples
    --------
    >>> def ref(x):
    ...     return x * 2
    >>> call_blocked(lambda x: x * 2, 3, block=ref)
    6
    """
    if not callable(student_fn):
        raise TypeError(f"call_blocked: the answer must be a function, got {type(student_fn)}")
    attempts: list[str] = []
    try:
        with _blocking(_as_tuple(block), graded_elsewhere, allow, answer=student_fn) as attempts:
            result = student_fn(*args, **kwargs)
    except ReferenceBlockedError:
        raise
    except Exception as exc:
        if attempts:  # the answer caught a refusal, or switched the hook off, then failed
            raise ReferenceBlockedError(_blocked_message(attempts[0])) from exc
        raise
    if attempts:
        raise ReferenceBlockedError(_blocked_message(attempts[0]))
    return result
