// The widget's entry point: finds its own origin from the <script src> that loaded it, and starts
// one widget in every element marked `data-sportello` (now, and on `sportello.scan()` for
// elements added later). The only global is `window.sportello`.
import { Widget } from './widget.js';

const script = document.currentScript || document.querySelector('script[src$="/widget.js"]');
const origin = new URL(script && script.src ? script.src : location.href).origin;
const started = new WeakSet();

function scan(root) {
  for (const el of (root || document).querySelectorAll('[data-sportello]')) {
    if (started.has(el)) continue;
    started.add(el);
    new Widget(el, origin).start();
  }
}

if (!window.sportello) {
  window.sportello = { scan, origin };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => scan());
  else scan();
}
