"The library's layering, as bench/structure.py measures it: the method apart from its measurement."
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def structure():
    spec = importlib.util.spec_from_file_location('structure', ROOT / 'bench' / 'structure.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_benchmark_code_in_the_library():
    m = structure().measures()
    assert m['bench_defs'] == [], m['bench_defs']
    assert m['bench_users'] == [], m['bench_users']


def test_no_private_imports_between_library_modules():
    m = structure().measures()
    assert m['private_imports'] == [], m['private_imports']


def test_bench_package_uses_only_public_names_of_the_library():
    s = structure()
    bench = sorted((ROOT / 'genie_nb' / 'bench').glob('*.py'))
    assert bench, 'genie_nb/bench/ is missing'
    leaks = [
        f'{p.name}: {n.module}.{a.name}'
        for p in bench
        for n in s.imports_of(p)
        if n.level == 2  # from ..module: the library, not a sibling in the bench package
        for a in n.names
        if a.name.startswith('_')
    ]
    assert leaks == [], leaks


def test_measures_see_a_private_import(tmp_path):
    "The private-import measure is not vacuous: it finds one in a module written for the purpose."
    s = structure()
    p = tmp_path / 'm.py'
    p.write_text('from .synth import _prepare, synthesize\n')
    assert s.private_imports([p]) == ['m.py: synth._prepare']
