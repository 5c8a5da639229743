"""The integrity fingerprint: what the tests rely on, listed by identity, *inside* the kernel.

The guard (``guard.py``) runs :func:`fingerprint` in the student's kernel before the first cell
and again before each test cell, and compares the listings outside the kernel. A listing maps
a name to the identity of what it names now, so a replaced ``np.allclose``, a swapped
``__code__`` or a silenced ``showtraceback`` changes an entry. It covers

* every function and class of the watched modules (:data:`WATCHED_MODULES` and every
  ``lapenna_labs`` module, in subpackages too), a function's code and defaults too, and the
  functions of the classes they define;
* the attributes of each **guarded module** (``lapenna_labs.grading.GUARDED_MODULES``: the
  libraries, e.g. ``torch``, whose functions the hidden tests rebind while a student's function
  runs) and of its submodules that the kernel has already imported, as one digest per module
  (TensorFlow alone has thousands of modules) plus the names of the callables in it that a
  notebook cell defined (:func:`foreign`), which name the usual tampering exactly. Nothing is
  imported for this (that would cost seconds per notebook): a guarded module first shows up
  when the notebook imports it, and the guard then adopts it, if none of its callables is
  foreign;
* the IPython and ipykernel machinery that runs cells and reports errors, ``sys`` hooks, import
  hooks and event callbacks.

How it runs: the kernel cannot import ``autograder`` (the sandbox binds only Python, its
packages and ``lapenna_labs``), so the guard sends this file's source text and a call
(``guard.kernel_call``); it runs in a fresh module namespace, so the student's variables are
neither read nor changed. The module imports the standard library only, and works outside
IPython too (the IPython part is then left out), so tests import it and call it in-process.

Examples
--------
>>> import math
>>> _ = fingerprint(guarded=())  # the first call imports the watched modules
>>> before = fingerprint(guarded=())
>>> saved, math.sqrt = math.sqrt, lambda x: 0.0
>>> after = fingerprint(guarded=())
>>> math.sqrt = saved
>>> [name for name in before if after[name] != before[name]]
['math.sqrt']
>>> fingerprint(guarded=()) == before
True
"""

from __future__ import annotations

import array
import builtins
import hashlib
import importlib
import operator
import pkgutil
import sys
import types
import warnings
from collections.abc import Iterable
from typing import Any

WATCHED_MODULES = (
    "builtins",
    "math",
    "array",  # these three compute the digests: replacing them must show
    "hashlib",
    "operator",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "numpy.testing",
    "lapenna_labs",
)
# Entries whose value is the repr of a sorted list of names; the guard names what was added
# or removed instead of reporting the whole entry.
INSTANCE_CALLABLES = "<instance callables>"
FOREIGN_CALLABLES = "<foreign callables>"
ATTRIBUTES = "<attributes>"  # a guarded module's digest of its attributes
# A guarded module's quick digest: every name and the identity of every value, and the code and
# defaults of each function. Not evidence (a legitimately changed constant changes it) but a
# cache key: when it is the one the guard knew (``known``), nothing ``<attributes>`` and
# ``<foreign callables>`` cover can have changed, and they are not computed again.
QUICK = "<quick>"
# Builtins that change by themselves: IPython's last results, and the input() that ipykernel
# installs at every request.
_VOLATILE_BUILTINS = ("_", "__", "___", "input")


def foreign(obj: Any) -> bool:
    """True if ``obj`` was defined by the student: in a notebook cell (``__main__``) or in code
    compiled from a string (``<...>``)."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return module in (None, "__main__") or str(module).startswith("<")


def _function_key(fn: types.FunctionType) -> str:
    return f"{id(fn)}:{id(fn.__code__)}:{id(fn.__defaults__)}:{id(fn.__kwdefaults__)}"


def _ident(value: Any) -> str:
    # A bound method is a new object at every attribute access: use what it binds.
    if isinstance(value, types.MethodType):
        return f"{id(value.__func__)}.{id(value.__self__)}"
    return str(id(value))


def _add(
    out: dict[str, str],
    prefix: str,
    namespace: dict[str, Any],
    owner: str | None,
    modules: bool = True,
) -> None:
    """List the callables (and, with ``modules``, the submodules) of ``namespace``; recurse
    once into the classes that ``owner`` defines."""
    for name, value in list(namespace.items()):
        if prefix == "builtins." and name in _VOLATILE_BUILTINS:
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, types.FunctionType):
            out[prefix + name] = _function_key(value)
        elif isinstance(value, types.ModuleType):
            if modules:
                out[prefix + name] = str(id(value))
        elif isinstance(value, type):
            out[prefix + name] = str(id(value))
            if owner and getattr(value, "__module__", None) == owner:
                _add(out, prefix + name + ".", dict(vars(value)), None, modules)
        elif callable(value):
            out[prefix + name] = str(id(value))
            impl = getattr(value, "_implementation", None)  # NumPy's array-function wrappers
            if isinstance(impl, types.FunctionType):
                out[prefix + name + "._implementation"] = _function_key(impl)


def watched_modules() -> list[str]:
    """:data:`WATCHED_MODULES` and every module of the ``lapenna_labs`` package, subpackages'
    modules included (``lapenna_labs.blas.tiling``)."""
    names = list(WATCHED_MODULES)
    try:
        import lapenna_labs

        found = pkgutil.walk_packages(lapenna_labs.__path__, "lapenna_labs.", onerror=_ignore)
        names += [info.name for info in found]
    except Exception:  # lapenna_labs missing or broken: its entries are simply absent
        pass
    return names


def _ignore(name: str) -> None:
    """A subpackage that fails to import is left out (its entries are simply absent)."""


def guarded_modules() -> tuple[str, ...]:
    """The names in ``lapenna_labs.grading.GUARDED_MODULES`` (empty if it has none)."""
    names = getattr(sys.modules.get("lapenna_labs.grading"), "GUARDED_MODULES", ())
    return tuple(name for name in names if isinstance(name, str))


def loaded_module(name: str) -> types.ModuleType | None:
    """Module ``name`` if the kernel has imported it, else None; never imports anything.

    A submodule that is not in ``sys.modules`` is looked up as an attribute of its loaded
    parent (TensorFlow's ``tensorflow.nn`` is ``tensorflow._api.v2.nn``), read from the
    parent's ``__dict__`` so that no lazy loader fires.
    """
    module = sys.modules.get(name)
    if isinstance(module, types.ModuleType):
        return module
    parent_name, _, attribute = name.rpartition(".")
    parent = loaded_module(parent_name) if parent_name else None
    value = vars(parent).get(attribute) if parent is not None else None
    return value if isinstance(value, types.ModuleType) else None


def loaded_guarded_modules(names: Iterable[str]) -> dict[str, types.ModuleType]:
    """Each guarded module the kernel has imported, and its imported submodules (``"torch"``
    covers ``torch.nn.functional``, as in ``lapenna_labs.grading``), by name."""
    found: dict[str, types.ModuleType] = {}
    loaded = list(sys.modules.items())
    for name in names:
        module = loaded_module(name)
        if module is not None:
            found[name] = module
        prefix = name + "."
        for other, submodule in loaded:
            if other.startswith(prefix) and isinstance(submodule, types.ModuleType):
                found.setdefault(other, submodule)
    return found


_WRAPPERS = (staticmethod, classmethod)


def _quick_digest(module: types.ModuleType, dispatcher: type | None) -> str:
    """Every name of ``module``, the identity of every value, and the code and defaults of
    each function (and of NumPy's ``_implementation`` behind its dispatchers, ``dispatcher``):
    C-level maps over the namespace, a few milliseconds for all of torch."""
    namespace = vars(module)
    values = list(namespace.values())
    function = types.FunctionType
    functions = [v for v in values if type(v) is function]
    functions += [v.__func__ for v in values if type(v) in _WRAPPERS]
    if dispatcher is not None:
        functions += [getattr(v, "_implementation", None) for v in values if type(v) is dispatcher]
        functions = [f for f in functions if type(f) is function]
    ids = list(map(id, values))
    for attribute in ("__code__", "__defaults__", "__kwdefaults__"):
        ids += map(id, map(operator.attrgetter(attribute), functions))
    names = "\0".join(map(str, namespace)).encode(errors="replace")
    digest = hashlib.sha1(names, usedforsecurity=False)
    digest.update(array.array("Q", ids).tobytes())
    return digest.hexdigest()


def _add_guarded(out: dict[str, str], name: str, module: types.ModuleType) -> None:
    # Module-valued attributes are left out: lazy loaders (TensorFlow's) replace themselves in
    # their parent when first used, and a guarded submodule is listed in its own right. Classes
    # count by identity only (their methods would triple the cost: the hidden tests rebind
    # module attributes). A watched module keeps its own entry for its sys.modules identity.
    # The digest covers what ``_add`` lists (every callable by identity, a function's code
    # and defaults too, NumPy's ``_implementation``), built with comprehensions rather than one
    # branchy loop: with torch's ~900 submodules (~37,000 names) this runs before every test
    # cell. Modules are not callable, so the filter drops them.
    out.setdefault(f"sys.modules[{name}]", "loaded")
    function = types.FunctionType
    pairs = [(k, v.__func__ if type(v) in _WRAPPERS else v) for k, v in vars(module).items()]
    pairs = [(k, v) for k, v in pairs if callable(v)]
    entries = [(k, id(v)) for k, v in pairs]
    entries += [
        (k, id(v.__code__), id(v.__defaults__), id(v.__kwdefaults__))
        for k, v in pairs
        if type(v) is function
    ]
    impls = [(k, getattr(v, "_implementation", None)) for k, v in pairs if type(v) is not function]
    entries += [
        (k, id(i), id(i.__code__), id(i.__defaults__)) for k, i in impls if type(i) is function
    ]
    entries.sort()
    digest = hashlib.sha1(repr(entries).encode(), usedforsecurity=False)
    out[f"{name}.{ATTRIBUTES}"] = digest.hexdigest()
    planted = sorted(k for k, v in pairs if foreign(v))
    out[f"{name}.{FOREIGN_CALLABLES}"] = repr(planted)


def _add_ipython(out: dict[str, str], shell: Any) -> None:
    kernel = getattr(shell, "kernel", None)
    objects = {
        "shell": shell,
        "kernel": kernel,
        "session": getattr(kernel, "session", None),
        "displayhook": shell.displayhook,
        "display_pub": shell.display_pub,
        "InteractiveTB": shell.InteractiveTB,
        "stdout": sys.stdout,
        "stderr": sys.stderr,
    }
    for label, obj in objects.items():
        if obj is None:
            continue
        out[f"ipython.{label}"] = str(id(obj))
        out[f"ipython.{label}.{INSTANCE_CALLABLES}"] = repr(
            sorted(
                key
                for key, value in vars(obj).items()
                if callable(value) and not isinstance(value, type) and key != "write"
            )
        )
        for key, value in list(vars(obj).items()):
            if label in ("stdout", "stderr") and key == "write":
                continue  # IPython's _tee installs a fresh write() for every cell
            if callable(value) and not isinstance(value, type):
                out[f"ipython.{label}.{key}"] = _ident(value)
        for klass in type(obj).__mro__[:-1]:
            for key, value in list(vars(klass).items()):
                if isinstance(value, types.FunctionType):
                    out[f"ipython.{label}.<{klass.__name__}>.{key}"] = _function_key(value)
    out["ipython.custom_exceptions"] = repr(shell.custom_exceptions)
    for label in ("ast_transformers", "input_transformers_cleanup", "input_transformers_post"):
        out["ipython." + label] = repr([id(x) for x in getattr(shell, label, [])])
    for event, callbacks in shell.events.callbacks.items():
        out["ipython.events." + event] = repr(sorted(repr(c) for c in callbacks if foreign(c)))


def fingerprint(
    guarded: Iterable[str] | None = None, known: dict[str, str] | None = None
) -> dict[str, str]:
    """Name -> identity of everything the tests rely on (see the module docstring).

    Parameters
    ----------
    guarded : iterable of str, optional
        The guarded modules; default :func:`guarded_modules`. Only those already imported are
        listed, with their imported submodules.
    known : dict of str to str, optional
        Guarded module -> the ``<quick>`` digest the caller already holds the listing of. A
        module whose quick digest is still that gets only its ``<quick>`` entry (and
        ``sys.modules[...]``), not its ``<attributes>`` and ``<foreign callables>``: the caller
        fills those in (``guard.GradingGuardMixin``). With torch loaded that is most of the cost.

    Returns
    -------
    dict of str to str
        Entries such as ``"numpy.allclose"``, ``"sys.modules[numpy]"``,
        ``"torch.nn.functional.<attributes>"`` or ``"ipython.shell.showtraceback"``. Equal
        listings mean nothing listed was replaced in between.
    """
    with warnings.catch_warnings():  # deprecated aliases warn when looked at
        warnings.simplefilter("ignore")
        names = guarded_modules() if guarded is None else tuple(guarded)
        return _fingerprint(names, known or {})


def _fingerprint(guarded: tuple[str, ...], known: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in watched_modules():
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed here: nothing to watch
            continue
        out[f"sys.modules[{name}]"] = str(id(sys.modules.get(name)))
        _add(out, name + ".", dict(vars(module)), name)
    numpy = sys.modules.get("numpy")
    dispatcher = type(getattr(numpy, "sum", None)) if numpy is not None else None
    for name, module in loaded_guarded_modules(guarded).items():
        quick = _quick_digest(module, dispatcher)
        out[f"{name}.{QUICK}"] = quick
        if known.get(name) == quick:
            out.setdefault(f"sys.modules[{name}]", "loaded")
        else:
            _add_guarded(out, name, module)
    get_ipython = getattr(builtins, "get_ipython", None)  # IPython puts it there in a kernel
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None:
        _add_ipython(out, shell)
    out["sys.meta_path"] = repr([repr(f) for f in sys.meta_path if foreign(f)])
    out["sys.path_hooks"] = repr([repr(f) for f in sys.path_hooks if foreign(f)])
    for hook in ("excepthook", "displayhook", "gettrace", "getprofile"):
        value = getattr(sys, hook)
        out["sys." + hook] = _ident(value() if hook.startswith("get") else value)
    return out
