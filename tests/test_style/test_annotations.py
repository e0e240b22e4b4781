"""House style (issue 12 §5): every public function and method of the
package has type hints; the simulator's also have Google docstrings."""
import ast
import os.path as osp
from pathlib import Path
from typing import Iterator, List, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = Path(REPO) / 'anaus_mm'
SIMULATOR = ('geometry', 'imaging', 'phantom', 'writer', 'difficulty')

Def = Tuple[str, ast.FunctionDef, bool]  # (qualified name, node, method)


def public_defs(path: Path) -> Iterator[Def]:
    """Public functions and methods of a module (``__init__`` included;
    nested functions, private names and private classes left out)."""

    def visit(node: ast.AST, prefix: str, in_class: bool) -> Iterator[Def]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                if not child.name.startswith('_'):
                    yield from visit(child, f'{prefix}{child.name}.', True)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name == '__init__' or not child.name.startswith(
                        '_'):
                    yield f'{prefix}{child.name}', child, in_class

    yield from visit(ast.parse(path.read_text()), '', False)


def missing_annotations(node: ast.FunctionDef, method: bool) -> List[str]:
    """Names of the parameters (and ``return``) without annotations."""
    a = node.args
    params = a.posonlyargs + a.args + a.kwonlyargs
    static = any(isinstance(d, ast.Name) and d.id == 'staticmethod'
                 for d in node.decorator_list)
    if method and not static and params:
        params = params[1:]  # self / cls
    params += [p for p in (a.vararg, a.kwarg) if p is not None]
    missing = [p.arg for p in params if p.annotation is None]
    if node.returns is None and node.name != '__init__':
        missing.append('return')
    return missing


def test_every_public_def_of_the_package_is_annotated():
    problems = []
    for path in sorted(PACKAGE.rglob('*.py')):
        for name, node, method in public_defs(path):
            missing = missing_annotations(node, method)
            if missing:
                problems.append(f'{path.relative_to(REPO)}:{node.lineno} '
                                f'{name}: {", ".join(missing)}')
    assert not problems, '\n'.join(problems)


def test_simulator_has_google_docstrings():
    problems = []
    for module in SIMULATOR:
        path = PACKAGE / 'datasets' / 'simulation' / f'{module}.py'
        for name, node, method in public_defs(path):
            if node.name == '__init__':
                continue  # documented in the class docstring
            doc = ast.get_docstring(node) or ''
            prop = any(isinstance(d, ast.Name) and d.id == 'property'
                       for d in node.decorator_list)
            n_params = len(node.args.args) - int(method) + len(
                node.args.kwonlyargs) + int(node.args.kwarg is not None)
            returns = not (isinstance(node.returns, ast.Constant) and
                           node.returns.value is None)
            if not doc:
                problems.append(f'{module}.{name}: no docstring')
            elif prop:  # Google style: "type: description"
                if ':' not in doc.splitlines()[0]:
                    problems.append(f'{module}.{name}: "type: ..." line')
            else:
                if n_params and 'Args:' not in doc:
                    problems.append(f'{module}.{name}: no Args section')
                if returns and 'Returns:' not in doc:
                    problems.append(f'{module}.{name}: no Returns section')
    assert not problems, '\n'.join(problems)
