"""Render README.md from the front page notebook (nbs/index.ipynb), as `nbdev-readme` does, and check that they agree.

`nbdev-readme` runs nbdev's docs processing on index.ipynb (front matter, links to the API docs, hidden and exported
cells dropped) and has Quarto convert the result to GitHub markdown. Quarto cannot be installed here, so this runs
the same processing and writes the markdown in the same shape: title, warning comment, markdown cells as they are,
code cells as fenced `python` blocks, text outputs indented, figures saved under `index_files/figure-commonmark/`,
links to notebooks pointing at the hosted docs.

    python tools/readme.py            # write README.md (and index_files/ for the front page's figures)
    python tools/readme.py --check    # exit 1 if README.md is not what index.ipynb renders to
"""
import argparse, base64, difflib, os, re, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from docs_preview import _directives, _re_attr_link

FIG_DIR = Path('index_files/figure-commonmark')  # where Quarto puts a README's figures

def processed_index(cfg):
    "index.ipynb through the processors `nbdev-readme` applies (via `proc_nbs`), without touching `_proc/`"
    from fastcore.nbio import read_nb
    from nbdev.processors import FilterDefaults
    nb = read_nb(cfg.nbs_path/cfg.readme_nb)
    os.environ['IN_TEST'] = '1'  # as nbdev's processing worker does: cells calling nbdev_export() do nothing
    try: FilterDefaults()(nb)
    finally: del os.environ['IN_TEST']
    return nb

def _frontmatter(cell):
    import yaml
    m = re.match(r'^---\s*\n(.*?)\n---\s*$', cell.source.strip(), flags=re.DOTALL)
    return (yaml.safe_load(m.group(1)) or {}) if m else {}

_re_link = re.compile(r'(!?)\[([^\]\n]*)\]\(([^)\s]+)\)')

def _md(src, cfg):
    "Markdown as GitHub should see it: links to notebooks go to the hosted docs, relative images to nbs/"
    from nbdev.readme_filter import doc_link
    nbdir = Path(cfg.readme_nb).parent.as_posix()
    src = _re_attr_link.sub(r'[\1](\2)', src)  # pandoc's {target=...} link attributes mean nothing to GitHub
    def fix(m):
        bang,txt,url = m.groups()
        if bang:
            if re.match(r'^([a-z]+:|/|#)', url): return m[0]
            return f'![{txt}]({(Path(cfg.nbs_path.name)/nbdir/url).as_posix()})'
        return f'[{txt}]({doc_link(url, cfg.doc_url, nbdir) if cfg.doc_url else url})'
    return _re_link.sub(fix, src).strip()

def _indent(txt): return '\n'.join(('    '+l).rstrip() for l in txt.rstrip('\n').splitlines())

def _html(h):
    "HTML output (a DataFrame) without its <style> block, which GitHub does not apply"
    return re.sub(r'<style[^>]*>.*?</style>\s*', '', h, flags=re.DOTALL).strip()

def _output(o, name, figs, cfg):
    "Markdown for one output; figures are added to `figs` under `name`"
    if o.output_type == 'stream': return _indent(''.join(o.text) if isinstance(o.text, list) else o.text)
    if o.output_type not in ('execute_result', 'display_data'): return None
    d = o.get('data', {})
    get = lambda k: ''.join(d[k]) if isinstance(d[k], list) else d[k]
    if 'text/markdown' in d: return _md(get('text/markdown'), cfg)
    for mime,ext in (('image/png', 'png'), ('image/jpeg', 'jpg')):
        if mime in d:
            fn = FIG_DIR/f'{name}.{ext}'
            figs[fn] = base64.b64decode(get(mime))
            return f'![]({fn.as_posix()})'
    if 'text/html' in d: return _html(get('text/html'))
    if 'text/plain' in d: return _indent(get('text/plain'))

def render(cfg=None):
    "README.md's text for index.ipynb, and the figures it refers to as {path: png bytes}"
    from nbdev.config import get_config
    cfg = cfg or get_config()
    nb = processed_index(cfg)
    cells,figs,blocks = list(nb.cells),{},[]
    fm = _frontmatter(cells.pop(0)) if cells and cells[0].cell_type == 'raw' else {}
    if fm.get('title'): blocks.append(f"# {fm['title']}\n")
    if fm.get('description'): blocks.append(f"> {fm['description']}")
    for i,c in enumerate(cells, 1):
        if c.cell_type == 'markdown': blocks.append(_md(c.source, cfg))
        if c.cell_type != 'code': continue
        d,src = _directives(c.source)
        if d.get('include') == 'false': continue
        if src.strip() and d.get('echo') != 'false': blocks.append(f'``` python\n{src.strip()}\n```')
        if d.get('output') == 'false': continue
        for j,o in enumerate(c.get('outputs', []), 1):
            md = _output(o, f'cell-{i}-output-{j}', figs, cfg)
            if md: blocks.append(md)
    return '\n\n'.join(b for b in blocks if b.strip()) + '\n', figs

def main():
    from nbdev.config import get_config
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', action='store_true', help='only check; exit 1 if README.md is out of date')
    a = ap.parse_args()
    cfg = get_config()
    os.chdir(cfg.config_path)
    text,figs = render(cfg)
    readme,old_figs = Path('README.md'),set(FIG_DIR.glob('*')) if FIG_DIR.exists() else set()
    if a.check:
        cur = readme.read_text() if readme.exists() else ''
        stale = [f for f,b in figs.items() if not f.exists() or f.read_bytes() != b] + sorted(old_figs - set(figs))
        if cur == text and not stale: return print(f'README.md is in sync with {cfg.nbs_path.name}/{cfg.readme_nb}')
        diff = list(difflib.unified_diff(cur.splitlines(), text.splitlines(), 'README.md', f'from {cfg.readme_nb}', lineterm='', n=1))
        if diff: print(*diff[:40], '...' if len(diff) > 40 else '', sep='\n', file=sys.stderr)
        for f in stale: print(f'{f}: out of date', file=sys.stderr)
        sys.exit(f'README.md is out of date with {cfg.nbs_path.name}/{cfg.readme_nb}: run `python tools/readme.py` and commit the result.')
    readme.write_text(text)
    for f in old_figs - set(figs): f.unlink()
    for f,b in figs.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b)
    print('wrote README.md' + (f' and {len(figs)} figures in {FIG_DIR}' if figs else ''))

if __name__ == '__main__': main()
