"""Check the app (`resnet_eva.app`) in headless Chromium, and time its requests.

Trains a tiny run (one epoch on 50 images, width 0.25), serves its app on a free port of this machine, and in headless
Chromium (Debian's chromium and chromium-driver, through `check_docs.browser`):
- loads the page and shows the run's misclassified validation images,
- uploads a test image and reads the top class from the page: it must be the one `RunDemo.predict` gives,
- with `--shot PATH`, saves a screenshot of the whole page (the app's docs page shows nbs/images/app.png),
- uploads a file that is not an image, then one over the size limit: each must get its one-line message in the page,
- fails on any error in the browser's console before those two uploads.

`--run RUN` shows a run folder of yours instead: the docs' screenshot shows a better trained run than the tiny one.

With `--bench`, it also times requests at full width (a width-1 custom ResNet after one training step: untrained
weights, which take as long as trained ones) on this CPU, median of 20, and writes results/bench/app-cpu.txt.

    python tools/app_check.py                                              # check (CI)
    python tools/app_check.py --run runs/RUN --shot nbs/images/app.png     # with your run, and the docs' screenshot
    python tools/app_check.py --bench                                      # also time the requests
"""
import argparse, os, platform, socket, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from check_docs import browser

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT/'results'/'bench'/'app-cpu.txt'

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def tiny_run(out, width=0.25, n_per_class=5):
    "A run of one epoch on `n_per_class` images a class, quietly"
    from resnet_eva.runs import train
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        train(out, epochs=1, width=width, n_per_class=n_per_class, bs=10, lr_max=0.01, num_workers=0, progress=False)
    return out

def wait_for(what, f, timeout=60):
    "The first truthy value of `f()`, tried every 0.2 s for `timeout` seconds"
    end = time.time()+timeout
    while time.time() < end:
        try:
            if v := f(): return v
        except Exception: pass
        time.sleep(0.2)
    sys.exit(f'app_check: timed out waiting for {what}')

def toasts(d):
    from selenium.webdriver.common.by import By
    return ' | '.join(e.text for e in d.find_elements(By.CSS_SELECTOR, '[data-testid=toast-body]'))

def check(tmp, run=None, shot=None):
    "Drive the app of `run` (`None`: a tiny run) in Chromium, screenshot it to `shot`; return the problems found"
    from selenium.webdriver.common.by import By
    from resnet_eva.app import RunDemo, launch_app
    from resnet_eva.data import load_cifar_image
    run = run or tiny_run(tmp/'run')
    demo = RunDemo(run)
    fn = tmp/'test-image.png'
    load_cifar_image(demo.examples()[3]).save(fn)
    expected = next(iter(demo.predict(fn)[0]))
    n_wrong = len(demo.misclassified(10))
    port,problems = free_port(),[]
    page = launch_app(run, port=port, block=False)
    d = browser(1280, 900)
    try:
        d.get(f'http://127.0.0.1:{port}/')
        css = lambda sel: d.find_elements(By.CSS_SELECTOR, sel)
        upload = lambda f: wait_for('the upload field', lambda: css('input[type=file]'))[0].send_keys(str(f))
        wait_for('the button', lambda: d.find_element(By.XPATH, "//button[text()='Show them']")).click()
        wait_for(f'{n_wrong} misclassified images', lambda: len(css('.grid-container img')) >= n_wrong)
        upload(fn)
        top = wait_for('the top class', lambda: css('[data-testid=label-output-value]')[0].text)
        wait_for('the Grad-CAM picture', lambda: css('.pixels img')[1].get_attribute('src'))
        if top != expected: problems.append(f'the page gives {top!r} as the top class, RunDemo.predict {expected!r}')
        for e in d.get_log('browser'):
            if e['level'] == 'SEVERE': problems.append(f"console error: {e['message']}")
        if shot:
            for _ in range(2):  # the whole page: the window as tall as the page, then measured again
                d.set_window_size(1280, d.execute_script('return document.documentElement.scrollHeight') + 140)
                time.sleep(0.5)
            d.execute_script('window.scrollTo(0, 0)')
            Path(shot).parent.mkdir(parents=True, exist_ok=True)
            d.save_screenshot(str(shot))
        (tmp/'notes.png').write_text('not an image')
        upload(tmp/'notes.png')
        msg = wait_for('the message about a file that is not an image',
                       lambda: 'cannot be read as an image' in (t := toasts(d)) and t)
        if 'notes.png' not in msg or 'Traceback' in msg: problems.append(f'unclear message for a non-image: {msg!r}')
        (tmp/'big.png').write_bytes(b'0'*(page.max_file_size+1))
        upload(tmp/'big.png')
        msg = wait_for('the message about a file over the size limit',
                       lambda: 'maximum allowed size' in (t := toasts(d)) and t)
        print(f'app_check: top class {top!r} (as RunDemo.predict), {n_wrong} misclassified images shown'
              + (f', screenshot {shot}' if shot else ''))
        print(f"app_check: messages in the page: {msg!r}")
    finally:
        d.quit()
        page.close()
    return problems

def _medians_ms(fs:dict, n=20):
    "{name: median ms of `n` calls} of the functions `fs`, called in turn so that a change of load falls on all alike"
    for f in fs.values(): f()  # the first call sets things up
    ts = {k: [] for k in fs}
    for _ in range(n):
        for k,f in fs.items():
            t = time.perf_counter(); f(); ts[k].append(time.perf_counter()-t)
    return {k: 1000*statistics.median(v) for k,v in ts.items()}

def bench(tmp):
    "Lines of ms per request at full width: in the process, and through the server with gradio_client"
    import torch, fastai, gradio, gradio_client, resnet_eva
    from gradio_client import Client, handle_file
    from resnet_eva.app import RunDemo, launch_app
    from resnet_eva.data import load_cifar_image
    load = os.getloadavg()[0]
    run = tiny_run(tmp/'full', width=1, n_per_class=1)  # one training step: untrained weights
    demo = RunDemo(run)
    fn = tmp/'bench-image.png'
    load_cifar_image(demo.examples()[3]).save(fn)
    port = free_port()
    page = launch_app(run, port=port, block=False)
    try:
        c = Client(f'http://127.0.0.1:{port}/', verbose=False)
        ask = lambda cam: c.predict(handle_file(fn), 3, cam, 'layer2', 0.5, api_name='/predict')
        ms = _medians_ms({('in the process (RunDemo.predict)', 'prediction'): lambda: demo.predict(fn, cam=False),
                          ('in the process (RunDemo.predict)', 'with Grad-CAM'): lambda: demo.predict(fn),
                          ('through the server (gradio_client)', 'prediction'): lambda: ask(False),
                          ('through the server (gradio_client)', 'with Grad-CAM'): lambda: ask(True)})
    finally: page.close()
    git = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
    cpu = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines()
                if l.startswith('model name')), platform.processor())
    lines = [f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {git.stdout.strip()}, "
             f"python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, "
             f"gradio {gradio.__version__}, gradio_client {gradio_client.__version__}, "
             f"resnet_eva {resnet_eva.__version__}, {torch.get_num_threads()} torch threads: {cpu} "
             f"(load average {load:.1f} at the start)",
             "$ python tools/app_check.py --bench",
             "custom ResNet at full width (width 1) after one training step: untrained weights, which take as long;",
             "a 32×32 CIFAR-10 test image, top 3 classes, Grad-CAM at layer2; ms per request, median of 20 (the four",
             "kinds of request in turn, after one warm-up each)"]
    lines += [f"{where:36} {what:14} {v:7.1f} ms" for (where,what),v in ms.items()]
    return lines

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--run', type=Path, help='a complete run folder to show; default: a tiny run trained here')
    p.add_argument('--shot', type=Path, help='save a screenshot of the whole page there')
    p.add_argument('--bench', action='store_true',
                   help=f'also time requests at full width into {BENCH.relative_to(ROOT)}')
    a = p.parse_args()
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    with tempfile.TemporaryDirectory() as tmp:
        problems = check(Path(tmp), a.run, a.shot)
        for m in problems: print(f'app_check: {m}', file=sys.stderr)
        if problems: sys.exit(1)
        if a.bench:
            lines = bench(Path(tmp))
            BENCH.write_text('\n'.join(lines)+'\n')
            print('\n'.join(lines))
    print('app_check: ok')

if __name__ == '__main__': main()
