"""Build the docs site offline: nbdev's own processing of the notebooks, then a static HTML preview of every page.

`nbdev-docs` is nbdev's processing of the notebooks (`nbdev.quarto._pre_docs`: refresh `nbs/nbdev.yml`, rebuild
`_modidx.py`, regenerate `nbs/sidebar.yml`, then `proc_nbs` into `_proc/`, which adds and executes the `show_doc`
cells) followed by Quarto. Quarto cannot be installed on our machines, so this runs the first half exactly as
`nbdev-docs` does and replaces Quarto with nbconvert's HTML exporter: `_proc/_preview/` gets one page per
notebook, at the path the real site uses (`00a_data.ipynb` -> `data.html`), and `_pages.html` links them all.

    python tools/docs_preview.py        # build _proc/_preview/ and print where it is

`tools/check_docs.py` builds this preview and checks it in headless Chromium.
"""
import argparse, os, re, time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from nbdev.config import get_config, nbpath2html

PREVIEW = '_preview'  # inside nbdev's `_proc/`: git-ignored, and Quarto skips folders starting with `_`
INDEX = '_pages.html'  # the preview's list of every page

def generated_files(cfg=None):
    "Files in `nbs/` that nbdev regenerates on every docs build, so they must be committed as it writes them"
    cfg = cfg or get_config()
    return [cfg.nbs_path/'nbdev.yml', cfg.nbs_path/'sidebar.yml']

def _read(p): return p.read_text() if p.exists() else None

def process(n_workers:int=2):
    "Run everything `nbdev-docs` does before Quarto; return (`_proc` folder, config, generated files that changed)"
    import nbdev.quarto as nq
    cfg = get_config()
    before = {p:_read(p) for p in generated_files(cfg)}
    nq._ensure_quarto = lambda: None  # the one step that needs Quarto: it would try to download and install it
    cache,cfg,_ = nq._pre_docs(n_workers=n_workers)
    return Path(cache), cfg, [p for p,txt in before.items() if _read(p) != txt]

# ---------------------------------------------------------------- pages

@dataclass
class Page:
    src: Path       # processed notebook in `_proc/`
    rel: Path       # notebook path relative to `_proc/` (and to `nbs/`)
    out: Path       # page path relative to the site root, as Quarto writes it
    title: str
    description: str
    nb: dict

def _frontmatter(nb):
    "Front matter of a processed notebook (nbdev puts it in a raw first cell), and the notebook without that cell"
    cells = nb.cells
    if cells and cells[0].cell_type == 'raw':
        m = re.match(r'^---\s*\n(.*?)\n---\s*$', cells[0].source.strip(), flags=re.DOTALL)
        if m: return (yaml.safe_load(m.group(1)) or {}), cells[1:]
    return {}, cells

def find_pages(cache:Path):
    "Every processed notebook under `cache` (folders starting with `_` or `.` skipped, as nbdev does), front page first"
    import nbformat
    res = []
    for src in sorted(cache.rglob('*.ipynb')):
        rel = src.relative_to(cache)
        if any(p[0] in '_.' for p in rel.parts): continue
        nb = nbformat.read(src, as_version=4)
        fm,nb.cells = _frontmatter(nb)
        out = rel.parent/(fm.get('output-file') or nbpath2html(rel).name)
        res.append(Page(src, rel, out, str(fm.get('title') or rel.stem), str(fm.get('description') or ''), nb))
    return sorted(res, key=lambda p: (p.out != Path('index.html'), _sidebar_rank(cache, p.rel), str(p.rel)))

def _sidebar_entries(contents, section=''):
    for o in contents or []:
        if isinstance(o, str): yield section, o
        elif isinstance(o, dict):
            if 'href' in o: yield o.get('section', section), o['href']
            yield from _sidebar_entries(o.get('contents'), o.get('section', section))

def _sidebar(cache:Path):
    "(section, notebook path) in the order of the site's sidebar (`sidebar.yml`, which nbdev regenerates)"
    p = cache/'sidebar.yml'
    d = yaml.safe_load(p.read_text()) if p.exists() else {}
    return list(_sidebar_entries(((d or {}).get('website') or {}).get('sidebar', {}).get('contents')))

def _sidebar_rank(cache, rel):
    order = [Path(f) for _,f in _sidebar(cache)]
    return order.index(rel) if rel in order else len(order)

# ---------------------------------------------------------------- notebook -> HTML

_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_attr_link = re.compile(r'\[([^\]\n]+)\]\(([^)\s]+)\)\{([^}\n]*)\}')  # pandoc's [text](url){attrs}
_re_fence_div = re.compile(r'^\s*:::.*$', flags=re.MULTILINE)  # pandoc fenced divs: keep the content

def _quarto_md(md:str):
    "The bits of Quarto markdown nbdev emits that plain markdown renderers show literally"
    md = _re_attr_link.sub(lambda m: f'<a href="{m[2]}" {m[3]}>{m[1]}</a>', md)
    return _re_fence_div.sub('', md)

def _directives(src:str):
    "Quarto cell options (`#| key: value`) at the top of a cell, and the source without them"
    lines,d = src.splitlines(),{}
    while lines and (m := _re_directive.match(lines[0])):
        d[m[1]] = m[2].lower()
        lines = lines[1:]
    return d, '\n'.join(lines)

def _is_showdoc(src): return bool(re.search(r'^\s*show_doc\(', src, flags=re.MULTILINE))

_cell_keys = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}

def _prep(nb):
    "Apply the Quarto cell options nbdev leaves in processed notebooks, as Quarto would, and tag show_doc cells"
    cells = []
    for c in nb.cells:
        for k in set(c) - _cell_keys: del c[k]  # nbdev's processing leaves its own keys (`has_sd`) ...
        c.metadata.pop('execution', None)      # ... and execnb timings that nbformat's schema rejects
        if c.cell_type == 'markdown': c.source = _quarto_md(c.source)
        if c.cell_type != 'code':
            cells.append(c)
            continue
        d,src = _directives(c.source)
        if d.get('include') == 'false': continue
        tags = set(c.metadata.get('tags', []))
        if _is_showdoc(src): tags.add('showdoc')
        if d.get('echo') == 'false': tags.add('remove_input')
        if d.get('output') == 'false': tags.add('remove_output')
        c.source,c.metadata['tags'] = src,sorted(tags)
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md is not None: o['data']['text/markdown'] = _quarto_md(''.join(md) if isinstance(md, list) else md)
        cells.append(c)
    nb.cells = cells
    return nb

def pandoc_id(text:str):
    "The identifier pandoc (so Quarto) gives a heading, which nbdev's doc links point at"
    s = re.sub(r'[^\w\s.-]', '', text.strip().lower())
    s = re.sub(r'\s+', '-', s)
    s = re.sub(r'^[^a-z]+', '', s)
    return s or 'section'

def _exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    c = Config()
    c.HTMLExporter.exclude_input_prompt = c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.exclude_anchor_links = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = ('remove_input',)
    c.TagRemovePreprocessor.remove_all_outputs_tags = ('remove_output',)
    return HTMLExporter(config=c, template_name='basic')

def _local_href(href, page, pages_by_nb, doc_url):
    "Where `href` leads in the preview: links to the hosted docs and to notebooks become relative links to pages"
    u = urlsplit(href)
    frag = f'#{u.fragment}' if u.fragment else ''
    if doc_url and href.startswith(doc_url):
        target = href[len(doc_url):].split('#')[0] or 'index.html'
        return os.path.relpath(target, page.out.parent.as_posix() or '.') + frag
    if u.scheme or u.netloc or not u.path: return href
    if u.path.endswith(('.ipynb', '.qmd')):
        nb = Path(os.path.normpath(page.rel.parent/u.path))
        out = pages_by_nb[nb].out if nb in pages_by_nb else nb.parent/nbpath2html(nb).name
        return os.path.relpath(out.as_posix(), page.out.parent.as_posix() or '.') + frag
    return href

def _fix_html(body, page, pages_by_nb, doc_url):
    "Headings get pandoc's ids (doc links target those); links to notebooks and to the hosted docs become local"
    from bs4 import BeautifulSoup
    soup,seen = BeautifulSoup(body, 'html.parser'),{}
    for h in soup.find_all(re.compile(r'^h[1-6]$')):
        if 'title' in h.get('class', []): continue  # Quarto's title block gives the page title no anchor
        base = pandoc_id(h.get_text())
        n = seen.get(base, 0)
        seen[base] = n+1
        h['id'] = base if n == 0 else f'{base}-{n}'
    for a in soup.find_all('a', href=True):
        new = _local_href(a['href'], page, pages_by_nb, doc_url)
        if new != a['href']: a['data-href'],a['href'] = a['href'],new  # the link as written, for error messages
    return str(soup)

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.55 "DejaVu Sans",Helvetica,Arial,sans-serif;color:#212529;background:#fff}
a{color:#2780e3;text-decoration:none} a:hover{text-decoration:underline}
nav.site{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;padding:1.2rem 1rem;background:#f8f9fa;border-right:1px solid #dee2e6;font-size:.92rem}
nav.site .site-title{display:block;font-size:1.15rem;font-weight:600;color:#212529;margin-bottom:1rem}
nav.site .section{margin:.9rem 0 .2rem;font-weight:600;color:#6c757d;text-transform:capitalize}
nav.site ul{list-style:none;margin:0;padding:0} nav.site li{margin:.15rem 0}
nav.site a.active{font-weight:600;color:#212529}
main{margin-left:230px;padding:1.5rem 2.5rem 4rem;max-width:1000px}
header.title-block h1{font-size:2.3rem;margin:.2rem 0 .4rem}
header.title-block .description{font-style:italic;font-size:1.2rem;opacity:.7;margin:0 0 1.2rem}
h2{border-bottom:1px solid #dee2e6;padding-bottom:.25rem;margin-top:2rem}
code{font-family:"DejaVu Sans Mono",Menlo,monospace;font-size:.88em;color:#7d12ba}
pre{font-family:"DejaVu Sans Mono",Menlo,monospace;font-size:.85rem;line-height:1.4;overflow-x:auto;margin:0}
pre code,a code{color:inherit}
.cell{margin:0 0 1rem}
.prompt{display:none}
.input_area .highlight,.rendered_html pre{background:#f6f8fa;border-radius:4px;padding:.6rem .8rem}
.output_wrapper{margin:.4rem 0 0 .8rem}
.output_text pre,.output_stream pre{border-left:2px solid lightsalmon;padding-left:.8rem;background:none}
.output_subarea img{max-width:100%;height:auto}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #dee2e6;padding:.3rem .7rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #adb5bd}
table.dataframe,.dataframe th,.dataframe td{border:0;border-bottom:1px solid #dee2e6}
.dataframe thead th{border-bottom:2px solid #adb5bd}
.celltag_showdoc .output_wrapper{margin-left:0}
.celltag_showdoc hr{border:0;border-top:1px solid #dee2e6;margin:1.5rem 0 .5rem}
.celltag_showdoc h3,.celltag_showdoc h4{font-family:"DejaVu Sans Mono",Menlo,monospace;margin:.4rem 0 .6rem}
.pagelist dt{margin-top:.6rem} .pagelist dd{margin:0 0 0 1rem;color:#6c757d}
"""

def _css():
    from pygments.formatters import HtmlFormatter
    return _CSS + HtmlFormatter(style='default').get_style_defs('.highlight')

def _esc(s):
    import html
    return html.escape(str(s))

def _inline_md(s):
    "Escaped text with `code` spans, as Quarto renders a page's description"
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', _esc(s))

def _nav(pages, cache, cur_dir:Path, active=None, title=''):
    "The sidebar: every page, grouped as in the site's sidebar"
    sections = {Path(f):s for s,f in _sidebar(cache)}
    rel = lambda p: os.path.relpath(p.as_posix(), cur_dir.as_posix() or '.')
    res,last = [f'<nav class="site"><a class="site-title" href="{rel(Path("index.html"))}">{_esc(title)}</a>'],None
    res.append(f'<ul><li><a href="{rel(Path(INDEX))}">All pages</a></li></ul>')
    for p in pages:
        sec = sections.get(p.rel, p.rel.parent.as_posix() if p.rel.parent != Path('.') else '')
        if sec != last:
            if last is not None: res.append('</ul>')
            res.append((f'<div class="section">{_esc(sec)}</div>' if sec else '') + '<ul>')
            last = sec
        cls = ' class="active"' if p is active else ''
        res.append(f'<li><a{cls} href="{rel(p.out)}">{_esc(p.title)}</a></li>')
    return '\n'.join(res + ['</ul>', '</nav>'])

def _shell(title, nav, body, site_title):
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_esc(title)} – {_esc(site_title)}</title><style>{_css()}</style></head>\n'
            f'<body>\n{nav}\n<main>\n{body}\n</main>\n</body></html>\n')

def export(cache:Path, cfg):
    "Write the preview of every processed notebook in `cache` to `cache/_preview`; return (preview folder, pages)"
    import shutil
    dest = cache/PREVIEW
    shutil.rmtree(dest, ignore_errors=True)
    # files the pages refer to (images, data) keep their place relative to the notebooks
    for f in cache.rglob('*'):
        rel = f.relative_to(cache)
        if f.is_file() and not any(p[0] in '_.' for p in rel.parts) and f.suffix not in ('.ipynb', '.yml', '.qmd'):
            (dest/rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest/rel)
    pages = find_pages(cache)
    by_nb = {p.rel:p for p in pages}
    doc_url = (cfg.doc_url or '').rstrip('/') + '/' if cfg.doc_url else ''
    exp,site_title = _exporter(),cfg.title
    for p in pages:
        body,_ = exp.from_notebook_node(_prep(p.nb))
        head = f'<header class="title-block"><h1 class="title">{_esc(p.title)}</h1>'
        if p.description: head += f'<p class="description">{_inline_md(p.description)}</p>'
        html = _fix_html(head + '</header>\n' + body, p, by_nb, doc_url)
        (dest/p.out).parent.mkdir(parents=True, exist_ok=True)
        (dest/p.out).write_text(_shell(p.title, _nav(pages, cache, p.out.parent, p, site_title), html, site_title))
    items = '\n'.join(f'<dt><a href="{p.out.as_posix()}">{_esc(p.title)}</a> <code>{_esc(p.rel)}</code></dt>'
                      f'<dd>{_inline_md(p.description)}</dd>' for p in pages)
    body = (f'<header class="title-block"><h1 class="title">All pages</h1><p class="description">'
            f'{len(pages)} pages, built from the notebooks in {_esc(cfg.nbs_path.name)}/</p></header>\n'
            f'<dl class="pagelist">\n{items}\n</dl>')
    (dest/INDEX).write_text(_shell('All pages', _nav(pages, cache, Path('.'), None, site_title), body, site_title))
    return dest, pages

def build(n_workers:int=2):
    "Process the notebooks as `nbdev-docs` does and export the preview; return (preview folder, pages, changed generated files)"
    cache,cfg,changed = process(n_workers)
    dest,pages = export(cache, cfg)
    return dest, pages, changed

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--workers', type=int, default=2, help="processes for nbdev's notebook processing")
    a = ap.parse_args()
    start = time.time()
    dest,pages,changed = build(a.workers)
    for p in changed: print(f'{p} was regenerated by nbdev: commit it.')
    print(f'{len(pages)} pages in {dest} ({time.time()-start:.0f} s); open {dest/INDEX}')

if __name__ == '__main__': main()
