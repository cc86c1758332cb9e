"""Check the docs offline: build the preview (`tools/docs_preview.py`), then load every page in headless Chromium.

Fails when nbdev's processing fails (as `nbdev-docs` would: a `show_doc` cell, or a cell mixing imports with other
code, that raises), and when any page of the preview
- is not linked from the preview's list of pages,
- logs an error to the browser console,
- has an image that did not load (natural size 0), or markdown link syntax shown as text,
- has an internal link to a missing page or to an anchor missing from its page (links to the hosted docs count
  as internal: they are checked against the preview's pages),
- documents a callable that takes parameters without a table of them (`show_doc` renders the docments as a table),
- is an API page (a numbered notebook) that shows no output of an example: the notebooks are committed with their
  outputs, as fastcore's and fastai's are, so that the docs show what each function gives.

Screenshots of the front page and of any other pages named with `--shot` go to `--shot-dir`.

    python tools/check_docs.py                             # build, check, screenshot the front page and Session 9
    python tools/check_docs.py --no-build --shot data      # check the last build, screenshot data.html too
"""
import argparse, os, re, shutil, sys, time
from pathlib import Path
from urllib.parse import urlsplit, unquote

sys.path.insert(0, str(Path(__file__).parent))
from docs_preview import build, find_pages, INDEX, PREVIEW

DEFAULT_SHOTS = ['index', 'session9']  # a name that matches no page yet is skipped

def _find_exe(names, env):
    "First of `names` on PATH, or the path in the environment variable `env`"
    if os.environ.get(env): return os.environ[env]
    for n in names:
        if p := shutil.which(n): return p

def browser(width=1280, height=900):
    "Headless Chromium through Selenium, with Debian's chromium and chromium-driver (nothing is downloaded)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    exe = _find_exe(['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'], 'CHROME_BIN')
    if not exe: sys.exit('No Chromium found: install it (Debian: apt-get install -y chromium chromium-driver) or set CHROME_BIN.')
    o.binary_location = exe
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
              f'--window-size={width},{height}', '--allow-file-access-from-files'): o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    drv = _find_exe(['chromedriver'], 'CHROMEDRIVER')
    return webdriver.Chrome(service=Service(drv) if drv else Service(), options=o)

_JS_PAGE = """
const ids = new Set([...document.querySelectorAll('[id]')].map(e => e.id));
document.querySelectorAll('a[name]').forEach(a => ids.add(a.name));
return {
  ids: [...ids],
  links: [...document.querySelectorAll('a[href]')].map(a => [a.dataset.href || a.getAttribute('href'), a.href]),
  images: [...document.images].map(i => ({src: (i.getAttribute('src') || '').slice(0, 60), ok: i.complete && i.naturalWidth > 0,
                                          w: i.naturalWidth, h: i.naturalHeight})),
  showdocs: [...document.querySelectorAll('.celltag_showdoc')].map(c => ({
    name: (c.querySelector('h1,h2,h3,h4,h5,h6') || {textContent: '?'}).textContent.trim(),
    sig: (c.querySelector('pre') || {textContent: ''}).textContent,
    tables: c.querySelectorAll('table').length})),
  tables: document.querySelectorAll('main table').length,
  outputs: [...document.querySelectorAll('.jp-OutputArea-output, .output_area')].filter(o => !o.closest('.celltag_showdoc')).length,
  unrendered: (() => {  // markdown link syntax left as text: usually a link inside a link
    const w = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT), res = [];
    for (let n = w.nextNode(); n; n = w.nextNode())
      if (!n.parentElement.closest('pre,code') && /\]\([^)\s]*\)/.test(n.textContent)) res.push(n.textContent.trim().slice(0, 70));
    return res;
  })(),
};
"""

def _external_load(msg:str):
    "A console message about an http(s) resource that failed to load"
    return re.match(r'^https?://\S+ - Failed to load resource', msg) is not None

def _params(sig:str):
    "Parameters a rendered signature lists, other than self, bare `*`/`/`, *args and **kwargs"
    sig = re.sub(r'#.*', '', sig)  # nbdev 3's default renderer puts docments in the signature as comments
    m = re.search(r'\((.*)\)', sig, flags=re.DOTALL)
    if not m: return []
    parts,depth,cur = [],0,''
    for ch in m.group(1):
        depth += ch in '([{'
        depth -= ch in ')]}'
        if ch == ',' and depth == 0: parts,cur = parts+[cur],''
        else: cur += ch
    parts = [p.strip() for p in parts+[cur] if p.strip()]
    return [p for p in parts if p not in ('self', '*', '/') and not p.startswith('*')]

def _page_of(url:str, root:Path):
    "The file under `root` that a file:// URL points at, or None for anything else"
    u = urlsplit(url)
    if u.scheme != 'file': return None
    return Path(unquote(u.path))

def check(root:Path, pages, shots=(), shot_dir:Path=None):
    "Load every page under `root` in Chromium; return (problems, counts, screenshots written)"
    problems,counts,written = [],dict(pages=0, images=0, links=0, anchors=0, external=0, showdocs=0, tables=0, outputs=0),[]
    drv = browser()
    try:
        index = (root/INDEX).resolve()
        drv.get(index.as_uri())
        listed = {_page_of(full, root).resolve() for _,full in drv.execute_script(_JS_PAGE)['links'] if _page_of(full, root)}
        seen = {}
        for p in pages:
            f = (root/p.out).resolve()
            if f not in listed: problems.append(f'{p.out}: not linked from {INDEX}')
            drv.get(f.as_uri())
            info = drv.execute_script(_JS_PAGE)
            seen[f] = set(info['ids'])
            counts['pages'] += 1
            for e in drv.get_log('browser'):
                # an external resource (the Colab badge) cannot load offline; it is not followed, like external links
                if e['level'] == 'SEVERE' and not _external_load(e['message']): problems.append(f"{p.out}: console error: {e['message']}")
            for i in info['images']:
                if i['src'].startswith(('http://', 'https://')): counts['external'] += 1; continue
                counts['images'] += 1
                if not i['ok']: problems.append(f"{p.out}: image did not load (natural size {i['w']}x{i['h']}): {i['src']}")
            p.links = info['links']
            if p.rel.name[:1].isdigit() and info['outputs'] == 0:  # an API page: its examples show what they give
                problems.append(f"{p.out}: no example output shown: commit {p.rel} with its outputs "
                                f"(python tools/run_notebooks.py nbs/{p.rel} --save --flags '', then nbdev-clean)")
            counts['outputs'] += info['outputs']
            for t in info['unrendered']:
                problems.append(f"{p.out}: markdown link shown as text ({t!r}): a link inside a link? nbdev links `names` by itself")
            for sd in info['showdocs']:
                counts['showdocs'] += 1
                counts['tables'] += sd['tables'] > 0
                if sd['tables'] == 0 and (ps := _params(sd['sig'])):
                    why = ("its docments are shown as comments in the signature: nbdev 3's default show_doc renderer makes "
                           "no tables; set `renderer` in pyproject's [tool.nbdev] to one that does") if '#' in sd['sig'] \
                          else 'give each parameter a docment (a comment after it)'
                    names = ', '.join(re.split(r'[:=]', o)[0].strip() for o in ps)
                    problems.append(f"{p.out}: `{sd['name']}` takes {names} but shows no table of them: {why}")
        for p in pages:
            for raw,full in p.links:
                target = _page_of(full, root)
                if target is None:
                    counts['external'] += 1
                    continue
                counts['links'] += 1
                t = target.resolve()
                if root.resolve() not in t.parents and t != root.resolve():
                    problems.append(f'{p.out}: link {raw!r} leaves the site')
                elif not t.exists(): problems.append(f'{p.out}: link {raw!r}: {t.relative_to(root.resolve())} does not exist')
                elif frag := unquote(urlsplit(full).fragment):
                    counts['anchors'] += 1
                    if t.suffix == '.html' and frag not in seen.get(t, set()):
                        if t not in seen:
                            drv.get(t.as_uri())
                            seen[t] = set(drv.execute_script(_JS_PAGE)['ids'])
                        if frag not in seen[t]: problems.append(f'{p.out}: link {raw!r}: no #{frag} in {t.name}')
        for name in shots:
            hits = [p for p in pages if name in p.out.as_posix() or name in p.rel.as_posix()]
            if not hits: print(f'screenshot: no page matches {name!r} yet, skipped')
            for p in hits[:1]: written.append(screenshot(drv, (root/p.out).resolve(), shot_dir/f"{p.out.with_suffix('').as_posix().replace('/', '_')}.png"))
    finally: drv.quit()
    return problems, counts, written

def screenshot(drv, page:Path, dest:Path, width=1280, max_height=6000):
    "Whole-page screenshot of `page` (up to `max_height` pixels) into `dest`"
    drv.get(page.as_uri())
    h = min(drv.execute_script('return document.documentElement.scrollHeight'), max_height)
    drv.set_window_size(width, max(h, 600))
    dest.parent.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(dest))
    drv.set_window_size(width, 900)
    return dest

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--no-build', action='store_true', help='check the preview already in _proc/_preview')
    ap.add_argument('--workers', type=int, default=2, help="processes for nbdev's notebook processing")
    ap.add_argument('--shot', action='append', default=[], metavar='PAGE',
                    help=f'also screenshot the first page whose path contains PAGE (always: {", ".join(DEFAULT_SHOTS)})')
    ap.add_argument('--shot-dir', type=Path, default=Path('_proc/_shots'), help='where screenshots go (default: %(default)s)')
    a = ap.parse_args()
    start,problems = time.time(),[]
    if a.no_build:
        from nbdev.config import get_config
        cache = get_config().config_path/'_proc'
        root,pages = cache/PREVIEW,find_pages(cache)
    else:
        try: root,pages,changed = build(a.workers)
        except Exception as e:
            sys.exit(f"nbdev's docs processing failed (the same error would stop nbdev-docs):\n{type(e).__name__}: {e}")
        # nbdev-docs regenerates these on every build (the deployed site is right either way): a reminder, not a failure
        for p in changed: print(f'note: nbdev regenerated {p.relative_to(Path.cwd())}; commit the new version')
    built = time.time()
    more,counts,shots = check(root, pages, DEFAULT_SHOTS + a.shot, a.shot_dir.resolve())
    problems += more
    for s in shots: print(f'screenshot: {s}')
    print(f"docs check: {counts['pages']} pages, {counts['images']} images, {counts['links']} internal links "
          f"({counts['anchors']} to anchors), {counts['outputs']} example outputs, {counts['tables']} of {counts['showdocs']} show_doc blocks with a parameter table, "
          f"{counts['external']} external links and images not followed; build {built-start:.0f} s, browser {time.time()-built:.0f} s")
    if problems:
        print(f'{len(problems)} problems:', *problems, sep='\n  ', file=sys.stderr)
        sys.exit(1)

if __name__ == '__main__': main()
