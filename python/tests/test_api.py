"""The public API: everything documented, the type stub in step with the extension, the
training options' defaults those of the CLI."""

import ast
import inspect
import pathlib
import re
import subprocess

import mgr

STUB = pathlib.Path(mgr.__file__).with_name("__init__.pyi")


def stub_functions():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = item
    return out


def stub_names():
    tree = ast.parse(STUB.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and node.module == "_errors":
            names.update(a.asname for a in node.names)
    return names


def test_everything_public_is_documented_and_in_the_stub():
    assert set(mgr.__all__) <= stub_names() | {"__version__"}
    for name in mgr.__all__:
        obj = getattr(mgr, name)
        if callable(obj):
            assert inspect.getdoc(obj), f"mgr.{name} has no docstring"
    for attr in ("labels", "provenance", "predict", "embed", "name", "architecture"):
        assert inspect.getdoc(getattr(mgr.Model, attr)), f"Model.{attr} has no docstring"


def params(sig):
    return [
        (p.name, None if p.default is inspect.Parameter.empty else repr(p.default))
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"
    ]


def stub_params(fn):
    a = fn.args
    names = [x.arg for x in a.args if x.arg != "self"]
    defaults = [None] * (len(names) - len(a.defaults)) + [repr(ast.literal_eval(d)) for d in a.defaults]
    return list(zip(names, defaults))


def test_stub_signatures_are_the_extensions():
    fns = stub_functions()
    for name in ["load", "resample", "logmel", "frames", "classify", "finetune", "evaluate"]:
        got = params(inspect.signature(getattr(mgr, name)))
        want = stub_params(fns[name])
        # The extension renders some defaults its own way (a Model name as a path).
        assert [n for n, _ in got] == [n for n, _ in want], name
    for name in ["predict", "embed"]:
        got = params(inspect.signature(getattr(mgr.Model, name)))
        assert [n for n, _ in got] == [n for n, _ in stub_params(fns[f"Model.{name}"])], name


def help_defaults(help_text):
    """``--flag`` → the ``[default: …]`` shown for it (the description may be on the next line)."""
    out, flag = {}, None
    for line in help_text.splitlines():
        m = re.match(r"\s+(?:-\w, )?(--[\w-]+)", line)
        if m:
            flag = m.group(1)
        if flag and "[default: " in line:
            out.setdefault(flag, line.split("[default: ")[1].split("]")[0])
    return out


def test_training_defaults_are_the_clis(cli):
    help_text = subprocess.run([str(cli), "finetune", "--help"], capture_output=True, text=True, check=True).stdout
    shown = help_defaults(help_text)
    checked = 0
    for name, value in mgr.train_defaults().items():
        flag = "--" + name.replace("_", "-")
        if flag not in shown or value is None:
            continue
        cli_value = shown[flag]
        if cli_value != str(value):
            assert isinstance(value, float) and float(cli_value) == value, f"{name}: CLI {cli_value}, Python {value}"
        checked += 1
    assert checked >= 15, f"only {checked} defaults compared: {sorted(shown)}"
