"""Run notebooks top to bottom in a fresh Jupyter kernel, as a reader would, with nbclient.

`nbdev-test` runs a notebook's cells in its own shell; this runs them in a real kernel (ipykernel, inline plots,
the notebook's folder as the working directory), one notebook after another, each in a new kernel. It stops at the
first cell that raises, naming the notebook and the cell.

    python tools/run_notebooks.py                          # nbs/experiments/*.ipynb
    python tools/run_notebooks.py nbs/experiments/session9_custom_resnet.ipynb --timeout 1200
    python tools/run_notebooks.py --save                   # also write the outputs back into the notebooks
    python tools/run_notebooks.py nbs/02_learner.ipynb --flags cuda  # as `nbdev-test --flags cuda` runs it

With `--flags`, a library notebook runs as `nbdev-test` runs it: cells flagged with one of the project's test flags
(`tst_flags` in pyproject.toml) run only if the flag is given, and `#| eval: false` cells never.

With `--save`, stderr streams (warnings, progress noise) and progress bars are dropped, and the home folder is written
as `~`.
"""
import argparse, sys, time, tomllib
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = sorted((ROOT/'nbs'/'experiments').glob('*.ipynb'))
TST_FLAGS = set(tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']['tst_flags'].split())

def _first_line(cell): return next((l for l in cell.source.splitlines() if l.strip()), '')[:80]

def _tidy(nb):
    "Drop stderr streams and progress bars, and write the home folder as `~` in what is left"
    home = str(Path.home())
    for cell in nb.cells:
        if cell.cell_type != 'code': continue
        cell.outputs = [o for o in cell.outputs if not (o.output_type == 'stream' and o.name == 'stderr')
                        and '<progress' not in str(o.get('data', {}).get('text/html', ''))]  # fastprogress's bars
        for o in cell.outputs:
            if o.output_type == 'stream': o.text = o.text.replace(home, '~')
            elif 'text/plain' in o.get('data', {}): o.data['text/plain'] = o.data['text/plain'].replace(home, '~')

def _directives(cell):
    "The names of the `#|` directives that open `cell`, e.g. {'export', 'cuda', 'eval: false'}"
    ds = set()
    for l in cell.source.splitlines():
        if not l.startswith('#|'): break
        d = ' '.join(l[2:].split())
        ds |= {d} | set(d.split()) if ':' in d else set(d.split())
    return ds

def _skipped(cell, flags:set|None)->bool:
    "Whether `nbdev-test --flags FLAGS` would skip `cell` (never, without `flags`)"
    if flags is None: return False
    ds = _directives(cell)
    return 'eval: false' in ds or bool((ds & TST_FLAGS) - flags)

def run(fn:Path, timeout:int, save:bool, flags:set|None=None)->float:
    "Execute `fn` in a new kernel; raise `SystemExit` naming the cell that failed; return the seconds it took"
    nb = nbformat.read(fn, as_version=4)
    kernel = nb.metadata.get('kernelspec', {}).get('name', 'python3')
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={'metadata': {'path': str(fn.parent)}})
    t = time.perf_counter()
    with client.setup_kernel():
        for i,cell in enumerate(nb.cells):
            if cell.cell_type != 'code' or _skipped(cell, flags): continue
            try: client.execute_cell(cell, i)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                sys.exit(f"{fn}: cell {i} ({_first_line(cell)!r}) failed:\n{e}")
    if save:
        _tidy(nb)
        nbformat.write(nb, fn)
    return time.perf_counter()-t

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='notebooks to run (default: nbs/experiments/*.ipynb)')
    p.add_argument('--timeout', type=int, default=600, help='seconds one cell may take (default: 600)')
    p.add_argument('--save', action='store_true', help='write the executed notebooks back, with their outputs')
    p.add_argument('--flags', default=None, help="run as `nbdev-test --flags FLAGS` does, e.g. 'cuda' or 'slow cuda'")
    a = p.parse_args()
    flags = None if a.flags is None else set(a.flags.split())
    fns = a.notebooks or DEFAULT
    if not fns: sys.exit(f"No notebooks to run: none given and none in {ROOT/'nbs'/'experiments'}.")
    for fn in fns:
        if not fn.is_file(): sys.exit(f"{fn} is not a notebook file: pass paths to .ipynb files.")
    total = time.perf_counter()
    for fn in fns:
        print(f"{fn}: ran in {run(fn.resolve(), a.timeout, a.save, flags):.0f} s" + (" (outputs saved)" if a.save else ""), flush=True)
    print(f"{len(fns)} notebooks ran in a fresh kernel in {time.perf_counter()-total:.0f} s")

if __name__ == '__main__': main()
