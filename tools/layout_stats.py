"""The library's layout in figures: each module's lines, its imports of the package, exported cells followed by an
example or test, and lines over 120 characters. Used for the reshape issues' done-when; prints a markdown table.

    python tools/layout_stats.py [--root .] [--list]
"""
import argparse, ast, json, re
from pathlib import Path

def _exported(nb):
    "For each `#| export` cell of `nb` but those of imports alone: is the next code cell an example or test (not exported, not hidden)?"
    cells = [c for c in json.loads(nb.read_text())['cells'] if c['cell_type']=='code']
    flags = lambda c: re.findall(r'^#\|\s*(\w+)', ''.join(c['source']), re.M)
    out = []
    for i,c in enumerate(cells):
        if 'export' not in flags(c) and 'exports' not in flags(c): continue
        body = [l for l in ''.join(c['source']).splitlines() if l.strip() and not l.startswith('#')]
        if all(re.match(r'(from \S+ )?import ', l) for l in body): continue  # the imports: nothing to show
        nxt = cells[i+1] if i+1 < len(cells) else None
        ok = nxt is not None and not {'export','exports','hide'} & set(flags(nxt))
        out.append(ok)
        if not ok and LIST: print(f"  {nb.name}: no example after {c.get('id')}: {body[0][:70]}")
    return out

def _imports(py, pkg):
    "The package's modules that `py` imports"
    t = ast.parse(py.read_text())
    return sorted({n.module.split('.')[-1] for n in ast.walk(t) if isinstance(n, ast.ImportFrom) and n.level==1 and n.module}
                  | {n.module.split('.')[-1] for n in ast.walk(t) if isinstance(n, ast.ImportFrom) and n.module
                     and n.module.startswith(pkg+'.')})

LIST = False

def main(root='.'):
    root = Path(root); pkg = 'resnet_eva'
    nbs = {}
    for nb in sorted((root/'nbs').glob('*.ipynb')):
        m = re.search(r'default_exp\s+([\w.]+)', nb.read_text())
        if m: nbs[m.group(1)] = nb
    print('| module | notebook | lines | imports of the package | exported cells | followed by example/test |')
    print('|---|---|---|---|---|---|')
    tot_l = long = cells = shown = 0
    for mod,nb in nbs.items():
        py = root/pkg/f'{mod}.py'
        lines = py.read_text().splitlines()
        ex = _exported(nb)
        tot_l += len(lines); long += sum(len(l) > 120 for l in lines); cells += len(ex); shown += sum(ex)
        print(f"| {mod} | {nb.name} | {len(lines)} | {', '.join(_imports(py, pkg)) or '-'} | {len(ex)} | {sum(ex)} |")
    print(f"\nExported cells followed by an example or test: {shown}/{cells} ({100*shown/max(cells,1):.1f}%)")
    print(f"Library lines over 120 characters: {long}/{tot_l} ({100*long/max(tot_l,1):.2f}%)")

if __name__=='__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0]); p.add_argument('--root', default='.')
    p.add_argument('--list', action='store_true', help='name the exported cells with no example after them')
    a = p.parse_args(); LIST = a.list
    main(a.root)
